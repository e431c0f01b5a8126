/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * TCP_REPAIR restore and dump. docs/tcp-repair.md explains the order of the
 * restore steps; each step below names the reason it sits where it does.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>

#include "log.h"
#include "tcp_repair.h"

/* Option kinds of TCP_REPAIR_OPTIONS (RFC 9293 section 3.1, RFC 7323). */
#define REPAIR_OPT_MSS		2
#define REPAIR_OPT_WINDOW	3
#define REPAIR_OPT_SACK_PERM	4
#define REPAIR_OPT_TIMESTAMP	8

/* Largest write into the receive queue at once; the kernel builds one skb
 * per write. */
#define RECV_QUEUE_CHUNK	(32u << 10)

static int
fail(char *why, size_t why_len, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Fills `why` with "<step>: <strerror(err)>" and returns -err. */
static int
fail(char *why, size_t why_len, int err, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (why != NULL && why_len > 0) {
		va_start(ap, fmt);
		n = vsnprintf(why, why_len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < why_len)
			snprintf(why + n, why_len - (size_t)n, ": %s",
			    strerror(err));
	}
	return -err;
}

static int
set_int(int fd, int level, int name, int val)
{
	return setsockopt(fd, level, name, &val, sizeof(val)) == 0 ? 0 :
	    -errno;
}

static socklen_t
sockaddr_len(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return sizeof(struct sockaddr_in);
	if (ss->ss_family == AF_INET6)
		return sizeof(struct sockaddr_in6);
	return 0;
}

static uint16_t
sockaddr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

/* Formats "198.51.100.2:22" or "[2001:db8::2]:22" for messages. */
static const char *
sockaddr_text(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	const void *addr;

	if (ss->ss_family == AF_INET)
		addr = &((const struct sockaddr_in *)ss)->sin_addr;
	else
		addr = &((const struct sockaddr_in6 *)ss)->sin6_addr;
	if (inet_ntop(ss->ss_family, addr, host, sizeof(host)) == NULL)
		snprintf(host, sizeof(host), "?");
	snprintf(buf, len, ss->ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u",
	    host, sockaddr_port(ss));
	return buf;
}

static int
restore_check(const struct rv_tcp_restore *r, char *why, size_t why_len)
{
	if (sockaddr_len(&r->local) == 0 ||
	    r->local.ss_family != r->remote.ss_family)
		return fail(why, why_len, EINVAL,
		    "check addresses: families %u and %u",
		    r->local.ss_family, r->remote.ss_family);
	if (sockaddr_port(&r->local) == 0 || sockaddr_port(&r->remote) == 0)
		return fail(why, why_len, EINVAL, "check addresses: port 0");
	if (r->mss < RV_TCP_REPAIR_MIN_MSS)
		return fail(why, why_len, EINVAL, "check mss %u", r->mss);
	if (r->wscale_ok && (r->snd_wscale > RV_TCP_REPAIR_MAX_WSCALE ||
	    r->rcv_wscale > RV_TCP_REPAIR_MAX_WSCALE))
		return fail(why, why_len, EINVAL, "check window shifts %u/%u",
		    r->snd_wscale, r->rcv_wscale);
	if (r->unacked_send_len > RV_TCP_REPAIR_MAX_QUEUE ||
	    r->recv_queue_len > RV_TCP_REPAIR_MAX_QUEUE)
		return fail(why, why_len, EINVAL,
		    "check queues: %zu and %zu bytes, maximum %u",
		    r->unacked_send_len, r->recv_queue_len,
		    RV_TCP_REPAIR_MAX_QUEUE);
	if ((uint32_t)(r->snd_seq - r->snd_una) != r->unacked_send_len)
		return fail(why, why_len, EINVAL,
		    "check send queue: snd_seq %u - snd_una %u != %zu bytes",
		    r->snd_seq, r->snd_una, r->unacked_send_len);
	if ((r->unacked_send_len > 0 && r->unacked_send == NULL) ||
	    (r->recv_queue_len > 0 && r->recv_queue == NULL))
		return fail(why, why_len, EINVAL, "check queues: NULL buffer");
	return 0;
}

/* Binds before the address exists on any interface (the agent adds it
 * after the restore), and next to a listening socket on the same port. */
static int
restore_bind(int fd, const struct rv_tcp_restore *r, char *why,
    size_t why_len)
{
	char addr[64];
	int rc;

	if (r->local.ss_family == AF_INET)
		rc = set_int(fd, IPPROTO_IP, IP_FREEBIND, 1);
	else
		rc = set_int(fd, IPPROTO_IPV6, IPV6_FREEBIND, 1);
	if (rc != 0)
		return fail(why, why_len, -rc, "set FREEBIND");
	/* FREEBIND lets bind() take an address that is not local yet, but
	 * connect() from it also needs the transparent flag, or Linux
	 * answers ENETUNREACH; the address is added only after the restore. */
	if (r->local.ss_family == AF_INET)
		rc = set_int(fd, IPPROTO_IP, IP_TRANSPARENT, 1);
	else
		rc = set_int(fd, IPPROTO_IPV6, IPV6_TRANSPARENT, 1);
	if (rc != 0)
		return fail(why, why_len, -rc, "set TRANSPARENT");
	if (bind(fd, (const struct sockaddr *)&r->local,
	    sockaddr_len(&r->local)) != 0)
		return fail(why, why_len, errno, "bind %s",
		    sockaddr_text(&r->local, addr, sizeof(addr)));
	return 0;
}

static int
restore_queue_seq(int fd, int queue, uint32_t seq, char *why,
    size_t why_len)
{
	int rc;

	if ((rc = set_int(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, queue)) != 0)
		return fail(why, why_len, -rc, "select queue %d", queue);
	if ((rc = set_int(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, (int)seq)) != 0)
		return fail(why, why_len, -rc, "set queue %d seq %u", queue,
		    seq);
	return 0;
}

/*
 * Sets both queues' starting sequence numbers. The send queue starts at
 * snd_una; queue_unacked() fills it up to snd_seq.
 */
static int
restore_sequences(int fd, const struct rv_tcp_restore *r, char *why,
    size_t why_len)
{
	uint32_t recv_seq;
	int rc;

	recv_seq = r->rcv_nxt - (uint32_t)r->recv_queue_len;
	if ((rc = restore_queue_seq(fd, TCP_RECV_QUEUE, recv_seq, why,
	    why_len)) != 0)
		return rc;
	return restore_queue_seq(fd, TCP_SEND_QUEUE, r->snd_una, why,
	    why_len);
}

static int
restore_options(int fd, const struct rv_tcp_restore *r, char *why,
    size_t why_len)
{
	struct tcp_repair_opt opts[4];
	socklen_t n = 0;

	opts[n].opt_code = REPAIR_OPT_MSS;
	opts[n++].opt_val = r->mss;
	if (r->wscale_ok) {
		opts[n].opt_code = REPAIR_OPT_WINDOW;
		opts[n++].opt_val = r->snd_wscale |
		    ((uint32_t)r->rcv_wscale << 16);
	}
	if (r->sack_ok) {
		opts[n].opt_code = REPAIR_OPT_SACK_PERM;
		opts[n++].opt_val = 0;
	}
	if (r->ts_ok) {
		opts[n].opt_code = REPAIR_OPT_TIMESTAMP;
		opts[n++].opt_val = 0;
	}
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_OPTIONS, opts,
	    n * sizeof(opts[0])) != 0)
		return fail(why, why_len, errno, "set TCP_REPAIR_OPTIONS");

	/* The kernel stores TSval - now as the socket's offset, so the next
	 * segment carries ts_val plus the ms since this call. Since Linux
	 * 6.7 the lowest bit of the value selects microsecond timestamps, so
	 * it is rounded up to an even number: millisecond clock, and still
	 * at or above what the client has seen. */
	if (r->ts_ok && set_int(fd, IPPROTO_TCP, TCP_TIMESTAMP,
	    (int)((r->ts_val + 1) & ~1u)) != 0)
		return fail(why, why_len, errno, "set TCP_TIMESTAMP %u",
		    r->ts_val);
	return 0;
}

/* Grows a socket buffer so `len` bytes fit at once; the kernel doubles
 * the value for its bookkeeping. NOTE: a set buffer size turns off the
 * kernel's autotuning for that direction. */
static int
ensure_buffer(int fd, int name, size_t len)
{
	int cur;
	socklen_t cur_len = sizeof(cur);

	if (len == 0)
		return 0;
	if (getsockopt(fd, SOL_SOCKET, name, &cur, &cur_len) != 0)
		return -errno;
	if ((size_t)cur / 2 >= len)
		return 0;
	return set_int(fd, SOL_SOCKET, name, (int)len);
}

/* Writes the client bytes the application has not read; in repair mode a
 * send() on the receive queue appends at rcv_nxt and advances it. */
static int
restore_recv_queue(int fd, const struct rv_tcp_restore *r, char *why,
    size_t why_len)
{
	size_t off = 0, chunk;
	ssize_t n;
	int rc;

	if (r->recv_queue_len == 0)
		return 0;
	if ((rc = ensure_buffer(fd, SO_RCVBUF, r->recv_queue_len)) != 0)
		return fail(why, why_len, -rc, "grow SO_RCVBUF");
	if ((rc = set_int(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE,
	    TCP_RECV_QUEUE)) != 0)
		return fail(why, why_len, -rc, "select receive queue");
	while (off < r->recv_queue_len) {
		chunk = r->recv_queue_len - off;
		if (chunk > RECV_QUEUE_CHUNK)
			chunk = RECV_QUEUE_CHUNK;
		n = send(fd, r->recv_queue + off, chunk, MSG_NOSIGNAL);
		if (n < 0)
			return fail(why, why_len, errno,
			    "fill receive queue at byte %zu", off);
		if (n == 0)
			return fail(why, why_len, EIO,
			    "fill receive queue at byte %zu", off);
		off += (size_t)n;
	}
	return 0;
}

/*
 * Without this the send window stays 0 and nothing is ever sent. snd_wl1
 * (RFC 9293 section 3.10.7.4) is set one before rcv_nxt so the client's
 * next segment may update the window whatever it carries.
 */
static int
restore_window(int fd, const struct rv_tcp_restore *r, char *why,
    size_t why_len)
{
	struct tcp_repair_window w;

	memset(&w, 0, sizeof(w));
	w.snd_wl1 = r->rcv_nxt - 1;
	w.snd_wnd = r->snd_wnd;
	w.max_window = r->snd_wnd;
	w.rcv_wnd = r->rcv_wnd;
	w.rcv_wup = r->rcv_nxt;
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &w,
	    sizeof(w)) != 0)
		return fail(why, why_len, errno,
		    "set TCP_REPAIR_WINDOW snd %u rcv %u", r->snd_wnd,
		    r->rcv_wnd);
	return 0;
}

/*
 * Queues [snd_una, snd_seq) in repair mode, where the kernel counts the
 * bytes as sent: snd_nxt becomes snd_seq and the retransmission timer
 * (1 s at first, no RTT sample yet) sends what the client still lacks.
 * Sent after repair mode instead, only the initial congestion window (10
 * segments) goes out. A client that already has later bytes then
 * acknowledges beyond the socket's snd_nxt, and Linux discards such a
 * segment with its data (RFC 9293 section 3.10.7.4, "If the ACK acks
 * something not yet sent"), so both ends retransmit forever.
 */
static int
queue_unacked(int fd, const struct rv_tcp_restore *r, char *why,
    size_t why_len)
{
	size_t off = 0;
	ssize_t n;
	int rc;

	if (r->unacked_send_len == 0)
		return 0;
	if ((rc = ensure_buffer(fd, SO_SNDBUF, r->unacked_send_len)) != 0)
		return fail(why, why_len, -rc, "grow SO_SNDBUF");
	if ((rc = set_int(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE,
	    TCP_SEND_QUEUE)) != 0)
		return fail(why, why_len, -rc, "select send queue");
	while (off < r->unacked_send_len) {
		n = send(fd, r->unacked_send + off, r->unacked_send_len - off,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0)
			return fail(why, why_len, errno,
			    "queue unacknowledged byte %zu of %zu", off,
			    r->unacked_send_len);
		if (n == 0)
			return fail(why, why_len, EIO,
			    "queue unacknowledged byte %zu of %zu", off,
			    r->unacked_send_len);
		off += (size_t)n;
	}
	return 0;
}

static int
restore_connected(int fd, const struct rv_tcp_restore *r, char *why,
    size_t why_len)
{
	char addr[64];
	int rc;

	/* connect() sizes segments from TCP_MAXSEG, and TCP_REPAIR_OPTIONS
	 * does not resize them: without it an MSS of 1460 gave segments of
	 * at most 585 bytes (Linux 6.18). */
	if ((rc = set_int(fd, IPPROTO_TCP, TCP_MAXSEG, r->mss)) != 0)
		return fail(why, why_len, -rc, "set TCP_MAXSEG %u", r->mss);
	/* In repair mode connect() sends no SYN and enters ESTABLISHED. */
	if (connect(fd, (const struct sockaddr *)&r->remote,
	    sockaddr_len(&r->remote)) != 0)
		return fail(why, why_len, errno, "connect %s",
		    sockaddr_text(&r->remote, addr, sizeof(addr)));
	if ((rc = restore_options(fd, r, why, why_len)) != 0)
		return rc;
	if ((rc = restore_recv_queue(fd, r, why, why_len)) != 0)
		return rc;
	if ((rc = restore_window(fd, r, why, why_len)) != 0)
		return rc;
	if ((rc = queue_unacked(fd, r, why, why_len)) != 0)
		return rc;
	/* Leaving repair mode sends one window probe. */
	if ((rc = set_int(fd, IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_OFF)) != 0)
		return fail(why, why_len, -rc, "clear TCP_REPAIR");
	return 0;
}

int
rv_tcp_repair_restore(const struct rv_tcp_restore *r, int *fd_out,
    char *why, size_t why_len)
{
	char local[64], remote[64];
	int fd = -1, rc;

	*fd_out = -1;
	if ((rc = restore_check(r, why, why_len)) != 0)
		goto out;
	fd = socket(r->local.ss_family, SOCK_STREAM | SOCK_CLOEXEC,
	    IPPROTO_TCP);
	if (fd < 0) {
		rc = fail(why, why_len, errno, "socket");
		goto out;
	}
	/* Before TCP_REPAIR: SO_REUSEADDR would lower the forced reuse that
	 * repair mode sets, and the second connection to the same server
	 * port would fail to bind. */
	if ((rc = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1)) != 0) {
		rc = fail(why, why_len, -rc, "set SO_REUSEADDR");
		goto out;
	}
	if ((rc = set_int(fd, IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_ON)) != 0) {
		rc = fail(why, why_len, -rc, "set TCP_REPAIR");
		goto out;
	}
	if ((rc = restore_bind(fd, r, why, why_len)) != 0)
		goto out;
	if ((rc = restore_sequences(fd, r, why, why_len)) != 0)
		goto out;
	if ((rc = restore_connected(fd, r, why, why_len)) != 0)
		goto out;

	rv_debug("flow %s > %s: restored, snd_una %u rcv_nxt %u, %zu bytes "
	    "to resend, %zu bytes to read", sockaddr_text(&r->remote, remote,
	    sizeof(remote)), sockaddr_text(&r->local, local, sizeof(local)),
	    r->snd_una, r->rcv_nxt, r->unacked_send_len, r->recv_queue_len);
	*fd_out = fd;
	fd = -1;
 out:
	if (fd >= 0)
		close(fd);
	return rc;
}

static int
get_int(int fd, int level, int name, int *val)
{
	socklen_t len = sizeof(*val);

	return getsockopt(fd, level, name, val, &len) == 0 ? 0 : -errno;
}

static int
dump_queue_seq(int fd, int queue, uint32_t *seq, char *why, size_t why_len)
{
	int rc, val;

	if ((rc = set_int(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, queue)) != 0)
		return fail(why, why_len, -rc, "select queue %d", queue);
	if ((rc = get_int(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &val)) != 0)
		return fail(why, why_len, -rc, "get queue %d seq", queue);
	*seq = (uint32_t)val;
	return 0;
}

/*
 * Reads the send queue from snd_una on. A peek returns whole skbs, and the
 * first one may start before snd_una when the client acknowledged part of
 * it, so the buffer grows until the peek fits and the head is cut off.
 */
static int
dump_send_queue(int fd, struct rv_tcp_dump *d, char *why, size_t why_len)
{
	struct rv_tcp_restore *s = &d->state;
	size_t outq, cap;
	uint8_t *buf;
	ssize_t n;
	int rc, val;

	if ((rc = dump_queue_seq(fd, TCP_SEND_QUEUE, &s->snd_seq, why,
	    why_len)) != 0)
		return rc;
	if (ioctl(fd, SIOCOUTQ, &val) != 0)
		return fail(why, why_len, errno, "ioctl SIOCOUTQ");
	outq = (size_t)val;
	s->snd_una = s->snd_seq - (uint32_t)outq;
	if (outq == 0)
		return 0;
	for (cap = outq + (64u << 10); cap <= 4 * RV_TCP_REPAIR_MAX_QUEUE;
	    cap *= 2) {
		if ((buf = malloc(cap)) == NULL)
			return fail(why, why_len, ENOMEM, "allocate %zu", cap);
		n = recv(fd, buf, cap, MSG_PEEK | MSG_DONTWAIT);
		if (n >= 0 && (size_t)n < cap && (size_t)n >= outq) {
			memmove(buf, buf + ((size_t)n - outq), outq);
			d->send_buf = buf;
			s->unacked_send = buf;
			s->unacked_send_len = outq;
			return 0;
		}
		free(buf);
		if (n < 0)
			return fail(why, why_len, errno, "peek send queue");
		if ((size_t)n < outq)
			return fail(why, why_len, EIO,
			    "peek send queue: %zd of %zu bytes", n, outq);
	}
	return fail(why, why_len, E2BIG, "peek send queue of %zu bytes", outq);
}

static int
dump_recv_queue(int fd, struct rv_tcp_dump *d, char *why, size_t why_len)
{
	struct rv_tcp_restore *s = &d->state;
	size_t inq;
	ssize_t n;
	int rc, val;

	if ((rc = dump_queue_seq(fd, TCP_RECV_QUEUE, &s->rcv_nxt, why,
	    why_len)) != 0)
		return rc;
	if (ioctl(fd, SIOCINQ, &val) != 0)
		return fail(why, why_len, errno, "ioctl SIOCINQ");
	inq = (size_t)val;
	if (inq == 0)
		return 0;
	if ((d->recv_buf = malloc(inq)) == NULL)
		return fail(why, why_len, ENOMEM, "allocate %zu", inq);
	n = recv(fd, d->recv_buf, inq, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0)
		return fail(why, why_len, errno, "peek receive queue");
	if ((size_t)n != inq)
		return fail(why, why_len, EIO,
		    "peek receive queue: %zd of %zu bytes", n, inq);
	s->recv_queue = d->recv_buf;
	s->recv_queue_len = inq;
	return 0;
}

static int
dump_options(int fd, struct rv_tcp_dump *d, char *why, size_t why_len)
{
	struct rv_tcp_restore *s = &d->state;
	struct tcp_repair_window w;
	struct tcp_info ti;
	socklen_t len;
	int rc, val;

	/* In repair mode TCP_MAXSEG reads the MSS the peer announced. */
	if ((rc = get_int(fd, IPPROTO_TCP, TCP_MAXSEG, &val)) != 0)
		return fail(why, why_len, -rc, "get TCP_MAXSEG");
	s->mss = (uint16_t)val;
	len = sizeof(ti);
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
		return fail(why, why_len, errno, "get TCP_INFO");
	s->wscale_ok = (ti.tcpi_options & TCPI_OPT_WSCALE) != 0;
	s->sack_ok = (ti.tcpi_options & TCPI_OPT_SACK) != 0;
	s->ts_ok = (ti.tcpi_options & TCPI_OPT_TIMESTAMPS) != 0;
	s->snd_wscale = ti.tcpi_snd_wscale;
	s->rcv_wscale = ti.tcpi_rcv_wscale;
	if ((rc = get_int(fd, IPPROTO_TCP, TCP_TIMESTAMP, &val)) != 0)
		return fail(why, why_len, -rc, "get TCP_TIMESTAMP");
	d->ts_now = (uint32_t)val;
	s->ts_val = d->ts_now;
	len = sizeof(w);
	if (getsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &w, &len) != 0)
		return fail(why, why_len, errno, "get TCP_REPAIR_WINDOW");
	s->snd_wnd = w.snd_wnd;
	s->rcv_wnd = w.rcv_wnd;
	return 0;
}

int
rv_tcp_repair_dump(int fd, struct rv_tcp_dump *out, char *why,
    size_t why_len)
{
	struct rv_tcp_restore *s = &out->state;
	struct tcp_info ti;
	socklen_t len;
	int rc;

	memset(out, 0, sizeof(*out));
	len = sizeof(ti);
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) {
		rc = fail(why, why_len, errno, "get TCP_INFO");
		goto out;
	}
	if (ti.tcpi_state != TCP_ESTABLISHED) {
		rc = fail(why, why_len, ENOTCONN, "check state %u",
		    ti.tcpi_state);
		goto out;
	}
	if ((rc = set_int(fd, IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_ON)) != 0) {
		rc = fail(why, why_len, -rc, "set TCP_REPAIR");
		goto out;
	}
	len = sizeof(s->local);
	if (getsockname(fd, (struct sockaddr *)&s->local, &len) != 0) {
		rc = fail(why, why_len, errno, "getsockname");
		goto out;
	}
	len = sizeof(s->remote);
	if (getpeername(fd, (struct sockaddr *)&s->remote, &len) != 0) {
		rc = fail(why, why_len, errno, "getpeername");
		goto out;
	}
	if ((rc = dump_send_queue(fd, out, why, why_len)) != 0 ||
	    (rc = dump_recv_queue(fd, out, why, why_len)) != 0 ||
	    (rc = dump_options(fd, out, why, why_len)) != 0)
		goto out;
	if ((rc = set_int(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE,
	    TCP_NO_QUEUE)) != 0)
		rc = fail(why, why_len, -rc, "clear TCP_REPAIR_QUEUE");
 out:
	if (rc != 0)
		rv_tcp_dump_free(out);
	return rc;
}

void
rv_tcp_dump_free(struct rv_tcp_dump *d)
{
	if (d == NULL)
		return;
	free(d->send_buf);
	free(d->recv_buf);
	memset(d, 0, sizeof(*d));
}
