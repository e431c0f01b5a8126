/* SPDX-License-Identifier: BSD-3-Clause */
/* One connection of a handoff: its TCP_REPAIR restore. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "tcp_repair.h"

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
	if (rv_agent_find_service(id, c->server.port) == NULL) {
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

void
rv_agent_drop_conn(int fd)
{
	drop_silently(fd);
}
