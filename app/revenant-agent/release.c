/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The release of a handoff's restored sockets to their adopting service:
 * the adopt message with the socket, sent ahead of the replies so the
 * service can adopt several connections at once.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

void
rv_agent_log_result(const struct rv_handoff *h,
    const struct rv_handoff_conn *c, const struct rv_handoff_result *res,
    int64_t started_ms)
{
	char client[RV_ENDPOINT_STRLEN], server[RV_ENDPOINT_STRLEN];

	rv_endpoint_format(&c->client, client, sizeof(client));
	rv_endpoint_format(&c->server, server, sizeof(server));
	if (res->status == RV_HANDOFF_RESTORED)
		rv_info("flow %s > %s: restored and adopted in %lld ms "
		    "(handoff %llu; %zu client bytes queued, %zu server bytes "
		    "sent again)", client, server,
		    (long long)(rv_agent_now_ms() - started_ms),
		    (unsigned long long)h->id, c->recv_queue_len,
		    c->unacked_len);
	else
		rv_err("flow %s > %s: not restored: %s (handoff %llu)",
		    client, server, res->reason, (unsigned long long)h->id);
}

/* The adopt message of docs/handoff-protocol.md ("Adopt message"). */
#define ADOPT_MAGIC		"RVAD"
#define ADOPT_VERSION		1
#define ADOPT_HEADER_LEN	16
#define ADOPT_FIXED_LEN		(16 + 2 + 16 + 2 + 8 + 4 + 8 + 4 + 4)

/* An adopt message sent to a service and awaiting its reply byte. */
struct adopt_slot {
	size_t conn;			/* index in the handoff */
	int usock;			/* the service's Unix socket */
	int64_t started_us;		/* when the pass began */
	int64_t deadline_ms;		/* CLOCK_MONOTONIC */
};

/* The state of one release: the handoff and the sockets in flight. */
struct release {
	const struct rv_agent *agent;
	const struct rv_agent_identity *id;
	const struct rv_handoff *h;
	int64_t received_ms;
	int *fds;
	const int64_t *restore_us;
	struct rv_handoff_result *results;
	struct adopt_slot *slots;
	struct pollfd *pfds;
	size_t busy;			/* slots in use, at the front */
	size_t adopted;
};

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

const struct rv_agent_service *
rv_agent_find_service(const struct rv_agent_identity *id, uint16_t port)
{
	size_t i;

	for (i = 0; i < id->service_count; i++) {
		if (id->services[i].port == port)
			return &id->services[i];
	}
	return NULL;
}

static void
put_be(uint8_t *p, uint64_t v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

/* The fixed part of the adopt body: the 4-tuple and the log lengths. */
static void
adopt_fixed(const struct rv_handoff_conn *c, uint8_t out[ADOPT_FIXED_LEN])
{
	uint8_t *p = out;

	memcpy(p, c->server.addr.bytes, 16);
	put_be(p + 16, c->server.port, 2);
	memcpy(p + 18, c->client.addr.bytes, 16);
	put_be(p + 34, c->client.port, 2);
	p += 36;
	put_be(p, c->c2s.offset, 8);
	put_be(p + 8, c->c2s.len, 4);
	put_be(p + 12, c->s2c.offset, 8);
	put_be(p + 20, c->s2c.len, 4);
	put_be(p + 24, c->material_len, 4);
}

static int
service_connect(const char *path, int timeout_ms)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	int fd, err;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	/* The send timeout bounds connect() and every send. The reply is
	 * awaited with poll() and a deadline of its own. */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		err = errno;
		close(fd);
		return err == EAGAIN || err == EINPROGRESS ? -ETIMEDOUT : -err;
	}
	return fd;
}

static int
send_header(int usock, int tcp_fd, const uint8_t *hdr)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { (void *)hdr, ADOPT_HEADER_LEN };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	ssize_t n;

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &tcp_fd, sizeof(int));
	do {
		n = sendmsg(usock, &msg, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? -ETIMEDOUT : -errno;
	return n == ADOPT_HEADER_LEN ? 0 : -EIO;
}

static int
send_all(int fd, const uint8_t *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Connects to the service at path and sends the TCP socket and the adopt
 * message of c, without waiting for the reply. Returns the Unix socket,
 * or a negative errno value.
 */
static int
adopt_send(const char *path, int timeout_ms, int tcp_fd,
    const struct rv_handoff_conn *c)
{
	uint8_t hdr[ADOPT_HEADER_LEN] = ADOPT_MAGIC, fixed[ADOPT_FIXED_LEN];
	uint64_t body = ADOPT_FIXED_LEN + (uint64_t)c->c2s.len + c->s2c.len +
	    c->material_len;
	int usock, rc;

	if (body > UINT32_MAX)
		return -E2BIG;
	hdr[4] = ADOPT_VERSION;
	hdr[5] = c->server.addr.family;
	put_be(hdr + 8, body, 4);
	adopt_fixed(c, fixed);
	if ((usock = service_connect(path, timeout_ms)) < 0)
		return usock;
	if ((rc = send_header(usock, tcp_fd, hdr)) != 0 ||
	    (rc = send_all(usock, fixed, sizeof(fixed))) != 0 ||
	    (rc = send_all(usock, c->c2s.data, c->c2s.len)) != 0 ||
	    (rc = send_all(usock, c->s2c.data, c->s2c.len)) != 0 ||
	    (rc = send_all(usock, c->material, c->material_len)) != 0) {
		close(usock);
		return rc;
	}
	return usock;
}

/* Reads the service's reply byte without blocking. Returns 0 when it took
 * the connection, -EAGAIN while no reply has come, or another negative
 * errno value. */
static int
adopt_read_reply(int usock)
{
	uint8_t reply;
	ssize_t n;

	do {
		n = recv(usock, &reply, 1, MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if (n == 0)
		return -ECONNRESET;
	return reply == 0 ? 0 : -EREMOTEIO;
}

/* Records the outcome rc of passing connection i and consumes its socket. */
static void
finish_adopt(struct release *r, size_t i, int rc, int64_t started_us)
{
	const struct rv_handoff_conn *c = &r->h->conns[i];
	struct rv_handoff_result *res = &r->results[i];
	const char *path = rv_agent_find_service(r->id, c->server.port)->socket;
	char client[RV_ENDPOINT_STRLEN], server[RV_ENDPOINT_STRLEN];

	/* Read by tools/bench migrate and adopt. The second time runs from
	 * the send until the reply was seen, so the times of adopts in
	 * flight together overlap. */
	rv_debug("flow %s > %s: socket restored in %lld us, passed to the "
	    "service in %lld us", rv_endpoint_format(&c->client, client,
	    sizeof(client)), rv_endpoint_format(&c->server, server,
	    sizeof(server)), (long long)r->restore_us[i],
	    (long long)(now_us() - started_us));
	if (rc == 0) {
		/* The service has its own descriptor of the socket now. */
		close(r->fds[i]);
		res->status = RV_HANDOFF_RESTORED;
		res->reason[0] = '\0';
		r->adopted++;
	} else {
		/* In repair mode close() sends no FIN or RST, so the client
		 * sees silence rather than a reset. */
		rv_agent_drop_conn(r->fds[i]);
		res->status = RV_HANDOFF_FAILED;
		snprintf(res->reason, sizeof(res->reason), "service %s: %s",
		    path, rc == -EREMOTEIO ? "rejected the connection (its "
		    "log has the reason)" : strerror(-rc));
	}
	r->fds[i] = -1;
	rv_agent_log_result(r->h, c, res, r->received_ms);
}

/* Sends connection i's adopt message and, unless that failed, puts it in
 * a free slot to await the reply. */
static void
start_adopt(struct release *r, size_t i)
{
	const struct rv_handoff_conn *c = &r->h->conns[i];
	int timeout_ms = (int)r->agent->cfg->limits.service_timeout_ms;
	struct adopt_slot *slot;
	int64_t started_us = now_us();
	int usock;

	usock = adopt_send(rv_agent_find_service(r->id, c->server.port)->socket,
	    timeout_ms, r->fds[i], c);
	if (usock < 0) {
		finish_adopt(r, i, usock, started_us);
		return;
	}
	slot = &r->slots[r->busy++];
	slot->conn = i;
	slot->usock = usock;
	slot->started_us = started_us;
	slot->deadline_ms = rv_agent_now_ms() + timeout_ms;
}

/*
 * Waits until at least one slot has a reply or has passed its deadline,
 * and finishes those slots. A slot that ends takes the last slot's entry,
 * so the scan runs from the back. A reply that came after the deadline
 * still counts: a long send to another service may have delayed the scan.
 */
static void
collect_replies(struct release *r)
{
	struct adopt_slot *slot;
	int64_t now, wait_ms = INT64_MAX;
	size_t j;
	int rc, n, poll_err = 0;

	now = rv_agent_now_ms();
	for (j = 0; j < r->busy; j++) {
		r->pfds[j].fd = r->slots[j].usock;
		r->pfds[j].events = POLLIN;
		r->pfds[j].revents = 0;
		if (r->slots[j].deadline_ms - now < wait_ms)
			wait_ms = r->slots[j].deadline_ms - now;
	}
	if (wait_ms < 0)
		wait_ms = 0;
	n = poll(r->pfds, r->busy, (int)wait_ms);
	if (n < 0 && errno != EINTR) {
		/* Retrying would spin, so the slots without a reply end. */
		poll_err = -errno;
		rv_err("handoff %llu: poll on %zu service sockets failed: %s",
		    (unsigned long long)r->h->id, r->busy, strerror(errno));
	}
	now = rv_agent_now_ms();
	for (j = r->busy; j-- > 0;) {
		slot = &r->slots[j];
		rc = adopt_read_reply(slot->usock);
		if (rc == -EAGAIN && poll_err == 0 && now < slot->deadline_ms)
			continue;
		if (rc == -EAGAIN)
			rc = poll_err != 0 ? poll_err : -ETIMEDOUT;
		close(slot->usock);
		finish_adopt(r, slot->conn, rc, slot->started_us);
		*slot = r->slots[--r->busy];
	}
}

/*
 * Passes every restored socket in fds to its service. Sending the adopt
 * messages ahead of the replies lets the service adopt several
 * connections at once, up to limits.max_adopts_in_flight. Each reply
 * still has limits.service_timeout_ms. Returns the number adopted.
 */
size_t
rv_agent_release_all(const struct rv_agent *agent,
    const struct rv_agent_identity *id, const struct rv_handoff *h,
    int64_t received_ms, int *fds, const int64_t *restore_us,
    struct rv_handoff_result *results)
{
	struct release r = {
		.agent = agent, .id = id, .h = h, .received_ms = received_ms,
		.fds = fds, .restore_us = restore_us, .results = results,
	};
	size_t window = agent->cfg->limits.max_adopts_in_flight, i;
	struct adopt_slot one_slot;
	struct pollfd one_pfd;

	r.slots = calloc(window, sizeof(*r.slots));
	r.pfds = calloc(window, sizeof(*r.pfds));
	if (r.slots == NULL || r.pfds == NULL) {
		rv_warn("handoff %llu: out of memory for %zu adopts in "
		    "flight; passing one at a time",
		    (unsigned long long)h->id, window);
		free(r.slots);
		free(r.pfds);
		r.slots = &one_slot;
		r.pfds = &one_pfd;
		window = 1;
	}
	for (i = 0; i < h->conn_count; i++) {
		if (fds[i] < 0)
			continue;
		while (r.busy == window)
			collect_replies(&r);
		start_adopt(&r, i);
	}
	while (r.busy > 0)
		collect_replies(&r);
	if (r.slots != &one_slot) {
		free(r.slots);
		free(r.pfds);
	}
	return r.adopted;
}

