/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "daemon.h"
#include "ckpt_store.h"
#include "handoff.h"
#include "inject.h"
#include "log.h"
#include "migrate.h"
#include "seq.h"

extern char **environ;

/* Gratuitous ARP as keepalived sends it by default: a burst of 5 at once
 * and 5 more after 5 s (garp_master_repeat, garp_master_delay). */
#define GARP_BURST		5
#define GARP_SECOND_BURST_MS	5000

/*
 * After the fence, frames mirrored before it reach the capture port
 * within microseconds on an idle host; 10 ms covers a busy one (an
 * estimate, not a kernel bound). Past the timeout the handoff goes on.
 */
#define DRAIN_SETTLE_MS		10
#define DRAIN_TIMEOUT_MS	1000

/* Copies of one connection's state and logs, taken under the table lock. */
struct conn_copy {
	struct rv_handoff_conn hc;
	uint64_t flow_id;
	uint8_t client_mac[6];
	uint16_t server_window_raw;
	uint8_t *c2s;
	uint8_t *s2c;
	uint8_t *material;		/* checkpoints, for SSH */
	bool recoverable;
	char reason[RV_HANDOFF_REASON_MAX + 1];
	char tuple[2 * RV_ENDPOINT_STRLEN + 4];
};

struct conn_list {
	struct conn_copy *conns;
	size_t n;
	size_t cap;
	size_t server;
	uint64_t now_ns;
};

static uint64_t next_migration_id = 1;

const char *
rv_migrate_state_name(enum rv_migrate_state state)
{
	static const char *const names[] = {
		[RV_MIGRATE_FENCING] = "fencing",
		[RV_MIGRATE_HANDING_OFF] = "handing off",
		[RV_MIGRATE_ANNOUNCING] = "announcing",
		[RV_MIGRATE_DONE] = "done",
		[RV_MIGRATE_FAILED] = "failed",
	};

	return (unsigned int)state < sizeof(names) / sizeof(names[0]) ?
	    names[state] : "unknown";
}

static uint64_t
monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Adds one line of progress, and logs it with the migration's id. */
static void
say(struct rv_migration *m, const char *fmt, ...)
{
	char line[RV_MIGRATE_LINE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	rv_info("migration %" PRIu64 ": %s", m->id, line);
	pthread_mutex_lock(&m->lock);
	if (m->n_lines < RV_MIGRATE_MAX_LINES)
		memcpy(m->lines[m->n_lines++], line, sizeof(line));
	pthread_mutex_unlock(&m->lock);
}

static void
set_state(struct rv_migration *m, enum rv_migrate_state state)
{
	pthread_mutex_lock(&m->lock);
	m->state = state;
	if (state == RV_MIGRATE_DONE || state == RV_MIGRATE_FAILED)
		m->finished_ns = monotonic_ns();
	pthread_mutex_unlock(&m->lock);
}

/* Runs the fencing command; returns 0 when it exited 0 within its time. */
static int
run_fence(struct rv_migration *m, const struct rv_server *srv)
{
	char *argv[] = { (char *)"/bin/sh", (char *)"-c", srv->fence, NULL };
	uint64_t deadline;
	pid_t pid;
	int status, rc;

	if (strcmp(srv->fence, "none") == 0) {
		say(m, "fence: 'none' configured for server %s; not fencing",
		    srv->name);
		return 0;
	}
	say(m, "fence: running '%.120s' (timeout %u ms)", srv->fence,
	    srv->fence_timeout_ms);
	rc = posix_spawn(&pid, argv[0], NULL, NULL, argv, environ);
	if (rc != 0) {
		say(m, "fence: cannot run /bin/sh: %s", strerror(rc));
		return -rc;
	}
	deadline = monotonic_ns() + (uint64_t)srv->fence_timeout_ms *
	    1000000ull;
	for (;;) {
		rc = waitpid(pid, &status, WNOHANG);
		if (rc == pid)
			break;
		if (rc < 0 && errno != EINTR) {
			say(m, "fence: waiting for the command failed: %s",
			    strerror(errno));
			return -ECHILD;
		}
		if (monotonic_ns() >= deadline) {
			kill(pid, SIGKILL);
			(void)waitpid(pid, &status, 0);
			say(m, "fence: timed out after %u ms; nothing moves",
			    srv->fence_timeout_ms);
			return -ETIMEDOUT;
		}
		usleep(5000);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		say(m, "fence: failed (%s %d); nothing moves",
		    WIFEXITED(status) ? "exit status" : "signal",
		    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		return -EIO;
	}
	say(m, "fence: done");
	return 0;
}

static void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void
endpoint_of(struct rv_endpoint *ep, uint8_t family, const uint8_t *addr,
    uint16_t port)
{
	memset(ep, 0, sizeof(*ep));
	ep->addr.family = family;
	memcpy(ep->addr.bytes, addr, 16);
	ep->port = port;
}

/* Why a flow cannot be handed over, or NULL if it can. */
static const char *
unrecoverable_reason(const struct rv_flow *flow, char *buf, size_t len)
{
	const struct rv_flow_dir *c = &flow->dir[RV_DIR_C2S];
	const struct rv_flow_dir *s = &flow->dir[RV_DIR_S2C];

	if (flow->state != RV_FLOW_ESTABLISHED)
		return rv_flow_state_name(flow->state);
	if (!rv_flow_recoverable(flow, buf, len))
		return buf;
	if (!c->syn.seen || !s->syn.seen)
		return "handshake not seen";
	if (rv_stream_log_seq(&s->log, s->log.contig_end) != s->snd_nxt)
		return "server bytes missing from the capture";
	return NULL;
}

/*
 * Copies the checkpoints a backup needs, from the resume base to the
 * newest, as the opaque material: a u32 count, then each signed message as
 * a u32 length and its bytes (big-endian lengths).
 */
static int
copy_checkpoints(struct conn_copy *cc, const struct rv_flow *flow)
{
	int base = rv_flow_ckpt_base(flow), i;
	size_t len = 4, off = 4;
	uint8_t *p;

	if (flow->stream_resume || base < 0)
		return 0;
	for (i = base; i < flow->ckpts.count; i++)
		len += 4 + flow->ckpts.items[i]->len;
	p = malloc(len);
	if (p == NULL)
		return -ENOMEM;
	put_be32(p, (uint32_t)(flow->ckpts.count - base));
	for (i = base; i < flow->ckpts.count; i++) {
		const struct rv_ckpt *ck = flow->ckpts.items[i];

		put_be32(p + off, ck->len);
		memcpy(p + off + 4, ck->data, ck->len);
		off += 4 + ck->len;
	}
	cc->material = p;
	cc->hc.material = p;
	cc->hc.material_len = len;
	return 0;
}

/* Copies what the handoff needs of one flow. Table lock held. */
static int
copy_flow(struct conn_copy *cc, const struct rv_flow *flow, uint64_t now_ns)
{
	const struct rv_flow_dir *c = &flow->dir[RV_DIR_C2S];
	const struct rv_flow_dir *s = &flow->dir[RV_DIR_S2C];
	struct rv_handoff_conn *hc = &cc->hc;
	uint64_t c2s_len = rv_stream_log_len(&c->log);
	uint64_t s2c_len = rv_stream_log_len(&s->log);
	uint64_t acked, unacked_off, queue_off;
	const char *why;

	cc->flow_id = flow->id;
	endpoint_of(&hc->server, flow->key.family, flow->key.server,
	    flow->key.server_port);
	endpoint_of(&hc->client, flow->key.family, flow->key.client,
	    flow->key.client_port);
	memcpy(cc->client_mac, flow->mac[RV_DIR_C2S], 6);
	why = unrecoverable_reason(flow, cc->reason, sizeof(cc->reason));
	if (why != NULL) {
		if (why != cc->reason)
			snprintf(cc->reason, sizeof(cc->reason), "%s", why);
		return 0;
	}
	cc->c2s = malloc(c2s_len + 1);
	cc->s2c = malloc(s2c_len + 1);
	if (cc->c2s == NULL || cc->s2c == NULL ||
	    rv_stream_log_read(&c->log, c->log.base, cc->c2s, c2s_len) != 0 ||
	    rv_stream_log_read(&s->log, s->log.base, cc->s2c, s2c_len) != 0) {
		snprintf(cc->reason, sizeof(cc->reason), "cannot copy the "
		    "logs");
		return -ENOMEM;
	}
	hc->mss = c->syn.has_mss ? c->syn.mss : 536;
	hc->wscale_ok = c->syn.has_wscale && s->syn.has_wscale;
	hc->client_wscale = hc->wscale_ok ? c->syn.wscale : 0;
	hc->server_wscale = hc->wscale_ok ? s->syn.wscale : 0;
	hc->sack_ok = c->syn.sack_ok && s->syn.sack_ok;
	hc->ts_ok = c->syn.ts_ok && s->syn.ts_ok;

	/* The server's send side: what the client acknowledged, what the
	 * server sent. The receive side ends at the client's in-order data. */
	hc->snd_nxt = s->snd_nxt;
	hc->snd_una = c->ack_seen ? c->ack : s->isn + 1;
	if (rv_seq_gt(hc->snd_una, hc->snd_nxt))
		hc->snd_una = hc->snd_nxt;
	hc->rcv_nxt = rv_stream_log_seq(&c->log, c->log.contig_end);
	hc->snd_wnd = c->window;
	hc->rcv_wnd = s->window;
	hc->client_ts_val = c->tsval;
	hc->server_ts_val = s->tsval;
	hc->server_ts_age_ms = s->ts_seen ?
	    (uint32_t)((now_ns - s->ts_ns) / 1000000ull) : 0;

	hc->c2s.offset = c->log.base;
	hc->c2s.data = cc->c2s;
	hc->c2s.len = c2s_len;
	hc->s2c.offset = s->log.base;
	hc->s2c.data = cc->s2c;
	hc->s2c.len = s2c_len;

	/* Server bytes the client has not acknowledged are sent again. */
	unacked_off = rv_stream_log_offset(&s->log, hc->snd_una,
	    s->log.contig_end);
	hc->unacked = cc->s2c + (unacked_off - s->log.base);
	hc->unacked_len = (size_t)(s->log.contig_end - unacked_off);
	/* Client bytes the primary never acknowledged go to the restored
	 * receive queue, because no other host has them. */
	acked = s->ack_seen ? rv_stream_log_offset(&c->log, s->ack,
	    c->log.contig_end) : 0;
	queue_off = acked < c->log.base ? c->log.base : acked;
	if (queue_off > c->log.contig_end)
		queue_off = c->log.contig_end;
	hc->recv_queue = cc->c2s + (queue_off - c->log.base);
	hc->recv_queue_len = (size_t)(c->log.contig_end - queue_off);
	/* The service replays the log and reads the queue from the socket,
	 * so the log stops where the queue starts: no byte is seen twice. */
	hc->c2s.len = (size_t)(queue_off - c->log.base);
	cc->server_window_raw = s->window_raw;
	if (copy_checkpoints(cc, flow) != 0) {
		snprintf(cc->reason, sizeof(cc->reason), "cannot copy the "
		    "checkpoints");
		return -ENOMEM;
	}
	cc->recoverable = true;
	return 0;
}

static int
collect_flow(struct rv_flow *flow, void *arg)
{
	struct conn_list *list = arg;
	struct conn_copy *cc;
	char client[RV_ENDPOINT_STRLEN], server[RV_ENDPOINT_STRLEN];

	if (flow->server != list->server || flow->state == RV_FLOW_CLOSED ||
	    flow->state == RV_FLOW_RST)
		return 0;
	if (list->n == list->cap)
		return 1;
	cc = &list->conns[list->n++];
	(void)copy_flow(cc, flow, list->now_ns);
	rv_endpoint_format(&cc->hc.client, client, sizeof(client));
	rv_endpoint_format(&cc->hc.server, server, sizeof(server));
	snprintf(cc->tuple, sizeof(cc->tuple), "%s > %s", client, server);
	return 0;
}

static void
free_conns(struct conn_list *list)
{
	size_t i;

	for (i = 0; i < list->n; i++) {
		free(list->conns[i].c2s);
		free(list->conns[i].s2c);
		free(list->conns[i].material);
	}
	free(list->conns);
	list->conns = NULL;
	list->n = 0;
}

static int
collect(struct rv_daemon *d, struct conn_list *list, size_t server)
{
	memset(list, 0, sizeof(*list));
	list->server = server;
	rte_spinlock_lock(&d->table->lock);
	list->cap = d->table->count;
	list->conns = calloc(list->cap + 1, sizeof(*list->conns));
	if (list->conns == NULL) {
		rte_spinlock_unlock(&d->table->lock);
		return -ENOMEM;
	}
	list->now_ns = rv_capture_now_ns();
	rv_flow_table_walk(d->table, collect_flow, list);
	rte_spinlock_unlock(&d->table->lock);
	return 0;
}

static int
connect_agent(const struct rv_endpoint *agent, int timeout_ms)
{
	struct sockaddr_storage ss;
	struct pollfd pfd;
	socklen_t len;
	int fd, err = 0;

	memset(&ss, 0, sizeof(ss));
	if (agent->addr.family == 4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(agent->port);
		memcpy(&sin->sin_addr, agent->addr.bytes, 4);
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(agent->port);
		memcpy(&sin6->sin6_addr, agent->addr.bytes, 16);
		len = sizeof(*sin6);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss, len) != 0 &&
	    errno != EINPROGRESS) {
		err = -errno;
		goto fail;
	}
	pfd.fd = fd;
	pfd.events = POLLOUT;
	if (poll(&pfd, 1, timeout_ms) != 1) {
		err = -ETIMEDOUT;
		goto fail;
	}
	len = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
		err = err != 0 ? -err : -errno;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return err;
}

/* True if cc goes in the handoff of server address addr. */
static bool
in_handoff(const struct conn_copy *cc, const struct rv_addr *addr)
{
	return cc->recoverable && rv_addr_equal(&cc->hc.server.addr, addr);
}

/* Marks the connections of one handoff failed, with reason. */
static void
fail_handoff(struct rv_migration *m, struct conn_list *list,
    const struct rv_addr *addr, const char *reason)
{
	size_t i;

	for (i = 0; i < list->n; i++) {
		struct conn_copy *cc = &list->conns[i];

		if (!in_handoff(cc, addr))
			continue;
		cc->recoverable = false;
		snprintf(cc->reason, sizeof(cc->reason), "%.200s", reason);
		m->failed++;
		say(m, "flow %" PRIu64 " %s: not moved: %s", cc->flow_id,
		    cc->tuple, reason);
	}
}

/* Counts the agent's result for each connection sent, in sending order. */
static void
count_results(struct rv_migration *m, struct conn_list *list,
    const struct rv_addr *addr, const struct rv_handoff_reply *reply)
{
	size_t i, j = 0;

	for (i = 0; i < list->n; i++) {
		struct conn_copy *cc = &list->conns[i];

		if (!in_handoff(cc, addr))
			continue;
		if (j >= reply->result_count ||
		    reply->results[j].status != RV_HANDOFF_RESTORED) {
			cc->recoverable = false;
			snprintf(cc->reason, sizeof(cc->reason), "%s",
			    j < reply->result_count ? reply->results[j].reason :
			    "no result from the agent");
			m->failed++;
			say(m, "flow %" PRIu64 " %s: restore failed: %s",
			    cc->flow_id, cc->tuple, cc->reason);
		} else {
			m->moved++;
		}
		j++;
	}
}

/*
 * Hands server address addr and its recoverable connections to the
 * backup's agent, which restores them and then takes the address (also
 * with no connection: the backup serves the address from now on). Returns
 * 0 when the agent restored what it could.
 */
static int
hand_off(struct rv_migration *m, struct conn_list *list,
    const struct rv_addr *addr)
{
	struct rv_daemon *d = m->daemon;
	const struct rv_backup *backup = &d->config->backups[m->backup];
	char agent[RV_ENDPOINT_STRLEN], text[RV_ADDR_STRLEN], why[256];
	struct rv_handoff_reply reply;
	struct rv_handoff h;
	size_t i, n = 0;
	int fd, rc;

	memset(&h, 0, sizeof(h));
	snprintf(h.appliance, sizeof(h.appliance), "%s",
	    d->config->handoff.name);
	h.id = m->id;
	h.server = *addr;
	h.conns = calloc(list->n + 1, sizeof(*h.conns));
	if (h.conns == NULL)
		return -ENOMEM;
	for (i = 0; i < list->n; i++)
		if (in_handoff(&list->conns[i], addr))
			h.conns[n++] = list->conns[i].hc;
	h.conn_count = n;
	rv_endpoint_format(&backup->agent, agent, sizeof(agent));
	rv_addr_format(addr, text, sizeof(text));
	say(m, "handoff: %s with %zu connections to backup %s (agent %s)",
	    text, n, backup->name, agent);
	fd = connect_agent(&backup->agent, (int)d->config->handoff.timeout_ms);
	if (fd < 0) {
		rc = fd;
		snprintf(why, sizeof(why), "cannot connect to agent %s: %s",
		    agent, strerror(-fd));
		goto fail;
	}
	rc = rv_handoff_exchange(fd, &h, d->handoff_key,
	    (int)d->config->handoff.timeout_ms, &reply);
	close(fd);
	if (rc != 0) {
		snprintf(why, sizeof(why), "agent %s: %s", agent,
		    rv_handoff_strerror(rc));
		goto fail;
	}
	if (reply.rejected) {
		snprintf(why, sizeof(why), "agent %s rejected the handoff: "
		    "%.100s", agent, reply.reason);
		rv_handoff_reply_clear(&reply);
		rc = -EPERM;
		goto fail;
	}
	count_results(m, list, addr, &reply);
	rv_handoff_reply_clear(&reply);
	free(h.conns);
	return 0;
fail:
	say(m, "handoff: %s", why);
	fail_handoff(m, list, addr, why);
	free(h.conns);
	return rc;
}

int
rv_migrate_announce(struct rv_daemon *d, size_t server, size_t backup)
{
	const struct rv_server *srv = &d->config->servers[server];
	const uint8_t *mac = d->config->backups[backup].mac.bytes;
	uint8_t frame[RV_INJECT_FRAME_MAX];
	int i, len, errors = 0;
	size_t a;

	for (i = 0; i < GARP_BURST; i++) {
		for (a = 0; a < srv->address_count; a++) {
			const struct rv_addr *ip = &srv->addresses[a];

			/* The frames leave through our inject port with its
			 * own source MAC: with the backup's, the switch would
			 * learn the backup behind the inject port and send the
			 * clients' segments here instead of to the backup. */
			len = ip->family == 4 ?
			    rv_inject_garp(frame, sizeof(frame),
			    d->inject_port.mac, mac, ip) :
			    rv_inject_unsolicited_na(frame, sizeof(frame),
			    d->inject_port.mac, mac, ip);
			if (rv_port_inject(d, frame, len) != 0)
				errors++;
		}
		usleep(1000);
	}
	return errors;
}

static int
announce(struct rv_migration *m)
{
	return rv_migrate_announce(m->daemon, m->server, m->backup);
}

/* Sends each moved connection's client an ACK of its newest data. */
static void
nudge_clients(struct rv_migration *m, struct conn_list *list)
{
	struct rv_daemon *d = m->daemon;
	uint8_t frame[RV_INJECT_FRAME_MAX];
	struct rv_inject_ack a;
	size_t i;
	int len, errors = 0;

	for (i = 0; i < list->n; i++) {
		const struct conn_copy *cc = &list->conns[i];

		if (!cc->recoverable)
			continue;
		memset(&a, 0, sizeof(a));
		memcpy(a.src_mac, d->inject_port.mac, 6);
		memcpy(a.dst_mac, cc->client_mac, 6);
		a.server = cc->hc.server;
		a.client = cc->hc.client;
		a.seq = cc->hc.snd_nxt;
		a.ack = cc->hc.rcv_nxt;
		a.window = cc->server_window_raw;
		a.timestamps = cc->hc.ts_ok;
		/* The server's last TSval, not a later one: the restored socket
		 * continues at or above it, and a higher value here would make
		 * the client's PAWS check drop the socket's next segments. */
		a.tsval = cc->hc.server_ts_val;
		a.tsecr = cc->hc.client_ts_val;
		len = rv_inject_ack(frame, sizeof(frame), &a);
		if (rv_port_inject(d, frame, len) != 0)
			errors++;
	}
	if (errors != 0)
		say(m, "inject: %d ACKs could not be sent", errors);
}

static void
report_unrecoverable(struct rv_migration *m, struct conn_list *list)
{
	size_t i;

	for (i = 0; i < list->n; i++) {
		const struct conn_copy *cc = &list->conns[i];

		if (cc->recoverable)
			continue;
		m->not_recoverable++;
		say(m, "flow %" PRIu64 " %s: not recoverable: %s", cc->flow_id,
		    cc->tuple, cc->reason);
	}
}

static void *
migrate_thread(void *arg)
{
	struct rv_migration *m = arg;
	struct rv_daemon *d = m->daemon;
	const struct rv_server *srv = &d->config->servers[m->server];
	struct conn_list list;
	size_t a, handed = 0;
	uint64_t ms;
	int errors;

	if (run_fence(m, srv) != 0) {
		set_state(m, RV_MIGRATE_FAILED);
		goto out;
	}
	/* The server's last frames may still be on their way through the
	 * mirror port. A handoff without them would restart the backup
	 * behind what the client already acknowledged. */
	if (rv_capture_wait_drained(&d->capture, DRAIN_SETTLE_MS,
	    DRAIN_TIMEOUT_MS) != 0)
		say(m, "handoff: the capture did not catch up with the mirror "
		    "within %u ms; handing off the state captured so far",
		    DRAIN_TIMEOUT_MS);
	set_state(m, RV_MIGRATE_HANDING_OFF);
	if (collect(d, &list, m->server) != 0) {
		say(m, "handoff: out of memory copying the connections");
		set_state(m, RV_MIGRATE_FAILED);
		goto out;
	}
	say(m, "handoff: %zu connections of server %s", list.n, srv->name);
	report_unrecoverable(m, &list);
	for (a = 0; a < srv->address_count; a++)
		if (hand_off(m, &list, &srv->addresses[a]) == 0)
			handed++;
	if (handed == 0) {
		/* No agent took any address, so announcing the backup now
		 * would send every client to a host without the address. */
		say(m, "summary: nothing moved; %u not recoverable, %u failed",
		    m->not_recoverable, m->failed);
		set_state(m, RV_MIGRATE_FAILED);
		free_conns(&list);
		goto out;
	}
	set_state(m, RV_MIGRATE_ANNOUNCING);
	errors = announce(m);
	nudge_clients(m, &list);
	say(m, "announce: %s now at %02x:%02x:%02x:%02x:%02x:%02x%s",
	    srv->name, d->config->backups[m->backup].mac.bytes[0],
	    d->config->backups[m->backup].mac.bytes[1],
	    d->config->backups[m->backup].mac.bytes[2],
	    d->config->backups[m->backup].mac.bytes[3],
	    d->config->backups[m->backup].mac.bytes[4],
	    d->config->backups[m->backup].mac.bytes[5],
	    errors != 0 ? " (some announcements were not sent)" : "");
	free_conns(&list);
	ms = (monotonic_ns() - m->started_ns) / 1000000ull;
	say(m, "summary: %u moved, %u not recoverable, %u failed, in %"
	    PRIu64 " ms", m->moved, m->not_recoverable, m->failed, ms);
	set_state(m, RV_MIGRATE_DONE);
	/* The second burst, after the operator already has the summary;
	 * a daemon that is stopping skips it. */
	for (ms = 0; ms < GARP_SECOND_BURST_MS && !d->capture.stop; ms += 100)
		usleep(100 * 1000);
	if (!d->capture.stop)
		(void)announce(m);
out:
	pthread_mutex_lock(&m->lock);
	m->running = false;
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

static int
check_ready(struct rv_daemon *d, size_t server, size_t backup, char *why,
    size_t why_len)
{
	const struct rv_config *cfg = d->config;

	if (cfg->servers[server].fence == NULL) {
		snprintf(why, why_len, "server %s has no fence; add 'fence: "
		    "COMMAND' or 'fence: none' to its entry",
		    cfg->servers[server].name);
		return -EINVAL;
	}
	if (d->handoff_key == NULL) {
		snprintf(why, why_len, "no handoff key; set handoff.key_file "
		    "to an Ed25519 private key (tools/keygen)");
		return -EINVAL;
	}
	if (!cfg->backups[backup].mac.set) {
		snprintf(why, why_len, "backup %s has no mac; add 'mac: "
		    "XX:XX:XX:XX:XX:XX' (its served interface) to its entry",
		    cfg->backups[backup].name);
		return -EINVAL;
	}
	return 0;
}

struct rv_migration *
rv_migrate_start(struct rv_daemon *d, size_t server, size_t backup,
    char *why, size_t why_len)
{
	struct rv_migration *m;

	if (check_ready(d, server, backup, why, why_len) != 0)
		return NULL;
	m = calloc(1, sizeof(*m));
	if (m != NULL)
		m->lines = calloc(RV_MIGRATE_MAX_LINES, sizeof(*m->lines));
	if (m == NULL || m->lines == NULL) {
		free(m);
		snprintf(why, why_len, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&m->lock, NULL);
	m->id = next_migration_id++;
	m->server = server;
	m->backup = backup;
	m->daemon = d;
	m->state = RV_MIGRATE_FENCING;
	m->started_ns = monotonic_ns();
	m->running = true;
	if (pthread_create(&m->thread, NULL, migrate_thread, m) != 0) {
		snprintf(why, why_len, "cannot start a thread");
		free(m->lines);
		free(m);
		return NULL;
	}
	return m;
}

enum rv_migrate_state
rv_migrate_progress(struct rv_migration *m, size_t from,
    void (*fn)(const char *line, void *arg), void *arg, size_t *next)
{
	enum rv_migrate_state state;
	size_t i;

	pthread_mutex_lock(&m->lock);
	for (i = from; i < m->n_lines; i++)
		fn(m->lines[i], arg);
	*next = m->n_lines > from ? m->n_lines : from;
	state = m->state;
	pthread_mutex_unlock(&m->lock);
	return state;
}

void
rv_migrate_free(struct rv_migration *m)
{
	if (m == NULL)
		return;
	pthread_join(m->thread, NULL);
	pthread_mutex_destroy(&m->lock);
	free(m->lines);
	free(m);
}
