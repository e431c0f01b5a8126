/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One connection of a handoff: the TCP_REPAIR restore and the pass to the
 * adopting service. The adopt message is described in
 * docs/handoff-protocol.md ("Adopt message").
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "tcp_repair.h"

#define ADOPT_MAGIC		"RVAD"
#define ADOPT_VERSION		1
#define ADOPT_HEADER_LEN	16
#define ADOPT_FIXED_LEN		(16 + 2 + 16 + 2 + 8 + 4 + 8 + 4 + 4)

int64_t
rv_agent_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* CLOCK_MONOTONIC in microseconds, for the per-connection timings. */
static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
to_sockaddr(const struct rv_endpoint *ep, struct sockaddr_storage *ss)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (ep->addr.family == 4) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(ep->port);
		memcpy(&v4->sin_addr, ep->addr.bytes, 4);
	} else {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(ep->port);
		memcpy(&v6->sin6_addr, ep->addr.bytes, 16);
	}
}

/*
 * The TSval to continue from: the primary's last one plus the time since
 * the appliance saw it, so that the client's PAWS check (RFC 7323 section
 * 5) accepts it. Linux's timestamp clock ticks in milliseconds.
 */
static uint32_t
continue_ts_val(const struct rv_handoff_conn *c, int64_t received_ms)
{
	int64_t here = rv_agent_now_ms() - received_ms;

	if (here < 0)
		here = 0;
	return c->server_ts_val + c->server_ts_age_ms + (uint32_t)here;
}

static void
fill_restore(const struct rv_handoff_conn *c, int64_t received_ms,
    struct rv_tcp_restore *r)
{
	memset(r, 0, sizeof(*r));
	to_sockaddr(&c->server, &r->local);
	to_sockaddr(&c->client, &r->remote);
	r->snd_seq = c->snd_nxt;
	r->snd_una = c->snd_una;
	r->rcv_nxt = c->rcv_nxt;
	r->mss = c->mss;
	r->snd_wscale = c->client_wscale;
	r->rcv_wscale = c->server_wscale;
	r->wscale_ok = c->wscale_ok;
	r->sack_ok = c->sack_ok;
	r->ts_ok = c->ts_ok;
	r->ts_val = continue_ts_val(c, received_ms);
	r->ts_recent = c->client_ts_val;
	r->snd_wnd = c->snd_wnd;
	r->rcv_wnd = c->rcv_wnd;
	r->unacked_send = c->unacked;
	r->unacked_send_len = c->unacked_len;
	r->recv_queue = c->recv_queue;
	r->recv_queue_len = c->recv_queue_len;
}

static const struct rv_agent_service *
find_service(const struct rv_agent_identity *id, uint16_t port)
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
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	/* The timeouts bound every later send and recv on this socket. */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		int err = errno;

		close(fd);
		return -err;
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
		return -errno;
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
 * Sends the socket and the adopt message, then waits for the service's
 * one-byte answer: 0 when it took the connection.
 */
static int
pass_to_service(const char *path, int timeout_ms, int tcp_fd,
    const struct rv_handoff_conn *c)
{
	uint8_t hdr[ADOPT_HEADER_LEN] = ADOPT_MAGIC, fixed[ADOPT_FIXED_LEN];
	uint8_t answer;
	uint64_t body = ADOPT_FIXED_LEN + (uint64_t)c->c2s.len + c->s2c.len +
	    c->material_len;
	ssize_t n;
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
	    (rc = send_all(usock, c->material, c->material_len)) != 0)
		goto out;
	do {
		n = recv(usock, &answer, 1, 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		rc = errno == EAGAIN ? -ETIMEDOUT : -errno;
	else if (n == 0)
		rc = -ECONNRESET;
	else
		rc = answer == 0 ? 0 : -EREMOTEIO;
 out:
	close(usock);
	return rc;
}

/* Drops a restored socket without a FIN or RST: in repair mode close()
 * sends nothing, so the client sees silence rather than a reset. */
static void
drop_silently(int fd)
{
	int on = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on));
	close(fd);
}

int
rv_agent_restore_conn(const struct rv_agent_identity *id,
    const struct rv_handoff_conn *c, int64_t received_ms, int *fd_out,
    int64_t *restore_us, struct rv_handoff_result *res)
{
	struct rv_tcp_restore r;
	char why[160];
	int64_t t0;
	int rc;

	*fd_out = -1;
	res->status = RV_HANDOFF_FAILED;
	if (find_service(id, c->server.port) == NULL) {
		snprintf(res->reason, sizeof(res->reason), "no service for "
		    "port %u", c->server.port);
		return -ENOENT;
	}
	fill_restore(c, received_ms, &r);
	/* The unacknowledged bytes go into the send queue now, in repair
	 * mode, so the socket's snd_nxt covers every byte the client may
	 * already acknowledge once the address moves here. */
	t0 = now_us();
	if ((rc = rv_tcp_repair_restore(&r, fd_out, why, sizeof(why))) != 0) {
		snprintf(res->reason, sizeof(res->reason), "restore failed: "
		    "%s", why);
		return rc;
	}
	*restore_us = now_us() - t0;
	res->status = RV_HANDOFF_RESTORED;
	res->reason[0] = '\0';
	return 0;
}

int
rv_agent_release_conn(const struct rv_agent *agent,
    const struct rv_agent_identity *id, const struct rv_handoff_conn *c,
    int fd, int64_t restore_us, struct rv_handoff_result *res)
{
	const struct rv_agent_service *svc = find_service(id, c->server.port);
	char client[RV_ENDPOINT_STRLEN], server[RV_ENDPOINT_STRLEN];
	int64_t t1;
	int rc;

	res->status = RV_HANDOFF_FAILED;
	t1 = now_us();
	rc = pass_to_service(svc->socket,
	    (int)agent->cfg->limits.service_timeout_ms, fd, c);
	/* Read by tools/bench migrate: the two steps of one connection. */
	rv_debug("flow %s > %s: socket restored in %lld us, passed to the "
	    "service in %lld us", rv_endpoint_format(&c->client, client,
	    sizeof(client)), rv_endpoint_format(&c->server, server,
	    sizeof(server)), (long long)restore_us,
	    (long long)(now_us() - t1));
	if (rc != 0) {
		snprintf(res->reason, sizeof(res->reason), "service %s: %s",
		    svc->socket, rc == -EREMOTEIO ?
		    "rejected the connection (its log has the reason)" :
		    strerror(-rc));
		drop_silently(fd);
		return rc;
	}
	/* The service has its own descriptor of the socket now. */
	close(fd);
	res->status = RV_HANDOFF_RESTORED;
	res->reason[0] = '\0';
	return 0;
}

void
rv_agent_drop_conn(int fd)
{
	drop_silently(fd);
}
