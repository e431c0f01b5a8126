/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * repair_probe: the server side of the TCP_REPAIR lab test.
 *
 *   repair_probe serve ADDR PORT STATE_FILE
 *   repair_probe resume STATE_FILE [--advance-ts] [--ts-delta MS]
 *
 * Both modes run the same line server on one connection: every 5 ms it
 * sends a numbered 64-byte line "s<number> xxx...\n", and it echoes each
 * complete client line back as "e<line>\n". It exits when the client closes
 * its side, or after RUN_LIMIT_MS.
 *
 * In serve mode SIGUSR2 stops reading the socket, so client bytes pile up
 * in the kernel's receive queue. SIGUSR1 dumps the socket and the line
 * server's state to STATE_FILE, then closes the socket in repair mode, which
 * sends no FIN or RST. Resume mode restores the socket from STATE_FILE, prints
 * "restore_us <microseconds>" on stdout and carries on.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "log.h"
#include "tcp_repair.h"

#define LINE_LEN	64
#define TICK_MS		5
#define RUN_LIMIT_MS	30000
#define BUF_CAP		(1u << 20)

struct line_server {
	int fd;
	uint32_t next_line;
	bool reading;
	uint8_t in[BUF_CAP];	/* client bytes after the last complete line */
	size_t in_len;
	uint8_t out[BUF_CAP];	/* bytes not yet accepted by send() */
	size_t out_len;
};

static volatile sig_atomic_t dump_requested;
static volatile sig_atomic_t hold_requested;
static struct line_server server;

static void
on_signal(int sig)
{
	if (sig == SIGUSR1)
		dump_requested = 1;
	else
		hold_requested = 1;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
out_append(struct line_server *s, const void *p, size_t len)
{
	if (len > sizeof(s->out) - s->out_len)
		return -1;
	memcpy(s->out + s->out_len, p, len);
	s->out_len += len;
	return 0;
}

static int
send_numbered_line(struct line_server *s)
{
	char line[LINE_LEN + 1];
	int n;

	n = snprintf(line, sizeof(line), "s%06u ", s->next_line++);
	memset(line + n, 'x', LINE_LEN - 1 - (size_t)n);
	line[LINE_LEN - 1] = '\n';
	return out_append(s, line, LINE_LEN);
}

/* Echoes every complete line of s->in and keeps the partial tail. */
static int
echo_lines(struct line_server *s)
{
	uint8_t *start = s->in, *nl, *end = s->in + s->in_len;

	while ((nl = memchr(start, '\n', (size_t)(end - start))) != NULL) {
		if (out_append(s, "e", 1) != 0 ||
		    out_append(s, start, (size_t)(nl - start) + 1) != 0)
			return -1;
		start = nl + 1;
	}
	s->in_len = (size_t)(end - start);
	memmove(s->in, start, s->in_len);
	return 0;
}

static int
flush_out(struct line_server *s)
{
	ssize_t n;

	while (s->out_len > 0) {
		n = send(s->fd, s->out, s->out_len, MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		memmove(s->out, s->out + n, s->out_len - (size_t)n);
		s->out_len -= (size_t)n;
	}
	return 0;
}

/* Returns 1 on end of stream, 0 to go on, -1 on error. */
static int
read_client(struct line_server *s)
{
	ssize_t n;

	n = recv(s->fd, s->in + s->in_len, sizeof(s->in) - s->in_len, 0);
	if (n == 0)
		return 1;
	if (n < 0)
		return errno == EAGAIN ? 0 : -1;
	s->in_len += (size_t)n;
	return echo_lines(s);
}

static void
hex_put(FILE *f, const char *key, const uint8_t *p, size_t len)
{
	size_t i;

	fprintf(f, "%s ", key);
	for (i = 0; i < len; i++)
		fprintf(f, "%02x", p[i]);
	fprintf(f, "-\n");
}

static void
addr_put(FILE *f, const char *key, const struct sockaddr_storage *ss)
{
	char host[INET6_ADDRSTRLEN];
	const void *a;
	uint16_t port;

	if (ss->ss_family == AF_INET) {
		a = &((const struct sockaddr_in *)ss)->sin_addr;
		port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
	} else {
		a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
		port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	}
	inet_ntop(ss->ss_family, a, host, sizeof(host));
	fprintf(f, "%s %s %u\n", key, host, port);
}

/* Writes the state as "key value" lines, renamed into place at the end so
 * a reader never sees half a file. */
static int
write_state(const char *path, const struct rv_tcp_dump *d,
    const struct line_server *s)
{
	const struct rv_tcp_restore *r = &d->state;
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL)
		return -1;
	addr_put(f, "local", &r->local);
	addr_put(f, "remote", &r->remote);
	fprintf(f, "snd_seq %u\nsnd_una %u\nrcv_nxt %u\nmss %u\n",
	    r->snd_seq, r->snd_una, r->rcv_nxt, r->mss);
	fprintf(f, "wscale_ok %d\nsnd_wscale %u\nrcv_wscale %u\n",
	    r->wscale_ok, r->snd_wscale, r->rcv_wscale);
	fprintf(f, "sack_ok %d\nts_ok %d\nts_val %u\n", r->sack_ok, r->ts_ok,
	    r->ts_val);
	fprintf(f, "snd_wnd %u\nrcv_wnd %u\n", r->snd_wnd, r->rcv_wnd);
	fprintf(f, "dump_ms %lld\nnext_line %u\n", (long long)now_ms(),
	    s->next_line);
	hex_put(f, "send", r->unacked_send, r->unacked_send_len);
	hex_put(f, "recv", r->recv_queue, r->recv_queue_len);
	hex_put(f, "app_in", s->in, s->in_len);
	hex_put(f, "app_out", s->out, s->out_len);
	if (fclose(f) != 0)
		return -1;
	return rename(tmp, path);
}

static int
dump_and_freeze(struct line_server *s, const char *path)
{
	struct rv_tcp_dump d;
	char why[256];
	int rc;

	if ((rc = rv_tcp_repair_dump(s->fd, &d, why, sizeof(why))) != 0) {
		rv_err("dump: %s", why);
		return -1;
	}
	rc = write_state(path, &d, s);
	rv_tcp_dump_free(&d);
	if (rc != 0) {
		rv_err("state file %s: %s", path, strerror(errno));
		return -1;
	}
	/* Still in repair mode: close() sends neither FIN nor RST. */
	close(s->fd);
	s->fd = -1;
	return 0;
}

static int
run(struct line_server *s, const char *state_path)
{
	struct pollfd pfd;
	int64_t start = now_ms(), next_tick = start;
	int rc;

	while (now_ms() - start < RUN_LIMIT_MS) {
		if (dump_requested)
			return dump_and_freeze(s, state_path);
		if (hold_requested)
			s->reading = false;
		if (now_ms() >= next_tick) {
			if (send_numbered_line(s) != 0)
				return -1;
			next_tick += TICK_MS;
		}
		if (flush_out(s) != 0)
			return -1;
		pfd.fd = s->fd;
		pfd.events = s->reading ? POLLIN : 0;
		if (poll(&pfd, 1, 1) < 0 && errno != EINTR)
			return -1;
		if (s->reading && (pfd.revents & (POLLIN | POLLHUP))) {
			rc = read_client(s);
			if (rc < 0)
				return -1;
			if (rc == 1)
				return 0;
		}
		if (pfd.revents & POLLERR)
			return -1;
	}
	rv_err("line server: run limit of %d ms reached", RUN_LIMIT_MS);
	return -1;
}

static int
parse_addr(const char *host, const char *port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)atoi(port));
		return 0;
	}
	if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)atoi(port));
		return 0;
	}
	return -1;
}

static int
serve(const char *host, const char *port, const char *state_path)
{
	struct sockaddr_storage ss;
	int lfd, one = 1;

	if (parse_addr(host, port, &ss) != 0) {
		rv_err("serve: invalid address %s", host);
		return 1;
	}
	lfd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (lfd < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&ss, ss.ss_family == AF_INET ?
	    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)) ||
	    listen(lfd, 1)) {
		rv_err("serve %s:%s: %s", host, port, strerror(errno));
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	if ((server.fd = accept(lfd, NULL, NULL)) < 0) {
		rv_err("serve: accept: %s", strerror(errno));
		return 1;
	}
	close(lfd);
	fcntl(server.fd, F_SETFL, O_NONBLOCK);
	server.reading = true;
	return run(&server, state_path) == 0 ? 0 : 1;
}

/* State file reader: the file is ours, but every field is still checked. */
static int
hex_get(const char *hex, uint8_t *buf, size_t cap, size_t *len)
{
	size_t i, n = strcspn(hex, "-");
	unsigned int byte;

	if (n % 2 != 0 || n / 2 > cap || hex[n] != '-')
		return -1;
	for (i = 0; i < n / 2; i++) {
		if (sscanf(hex + 2 * i, "%2x", &byte) != 1)
			return -1;
		buf[i] = (uint8_t)byte;
	}
	*len = n / 2;
	return 0;
}

static uint8_t send_copy[BUF_CAP], recv_copy[BUF_CAP];

static int
state_line(char *line, struct rv_tcp_restore *r, long long *dump_ms)
{
	char key[32], host[INET6_ADDRSTRLEN], port[8], *val;
	unsigned long v;
	int n;

	if (sscanf(line, "%31s %n", key, &n) != 1)
		return -1;
	val = line + n;
	if (strcmp(key, "local") == 0 || strcmp(key, "remote") == 0) {
		if (sscanf(val, "%45s %7s", host, port) != 2)
			return -1;
		return parse_addr(host, port, key[0] == 'l' ? &r->local :
		    &r->remote);
	}
	if (strcmp(key, "send") == 0)
		return hex_get(val, send_copy, sizeof(send_copy),
		    &r->unacked_send_len);
	if (strcmp(key, "recv") == 0)
		return hex_get(val, recv_copy, sizeof(recv_copy),
		    &r->recv_queue_len);
	if (strcmp(key, "app_in") == 0)
		return hex_get(val, server.in, sizeof(server.in),
		    &server.in_len);
	if (strcmp(key, "app_out") == 0)
		return hex_get(val, server.out, sizeof(server.out),
		    &server.out_len);
	if (strcmp(key, "dump_ms") == 0)
		return sscanf(val, "%lld", dump_ms) == 1 ? 0 : -1;
	if (sscanf(val, "%lu", &v) != 1)
		return -1;
	if (strcmp(key, "snd_seq") == 0) r->snd_seq = (uint32_t)v;
	else if (strcmp(key, "snd_una") == 0) r->snd_una = (uint32_t)v;
	else if (strcmp(key, "rcv_nxt") == 0) r->rcv_nxt = (uint32_t)v;
	else if (strcmp(key, "mss") == 0) r->mss = (uint16_t)v;
	else if (strcmp(key, "wscale_ok") == 0) r->wscale_ok = v != 0;
	else if (strcmp(key, "snd_wscale") == 0) r->snd_wscale = (uint8_t)v;
	else if (strcmp(key, "rcv_wscale") == 0) r->rcv_wscale = (uint8_t)v;
	else if (strcmp(key, "sack_ok") == 0) r->sack_ok = v != 0;
	else if (strcmp(key, "ts_ok") == 0) r->ts_ok = v != 0;
	else if (strcmp(key, "ts_val") == 0) r->ts_val = (uint32_t)v;
	else if (strcmp(key, "snd_wnd") == 0) r->snd_wnd = (uint32_t)v;
	else if (strcmp(key, "rcv_wnd") == 0) r->rcv_wnd = (uint32_t)v;
	else if (strcmp(key, "next_line") == 0) server.next_line = (uint32_t)v;
	else return -1;
	return 0;
}

static int
read_state(const char *path, struct rv_tcp_restore *r, long long *dump_ms)
{
	static char line[2 * BUF_CAP + 64];
	FILE *f;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (rc == 0 && fgets(line, sizeof(line), f) != NULL)
		rc = state_line(line, r, dump_ms);
	fclose(f);
	r->unacked_send = send_copy;
	r->recv_queue = recv_copy;
	return rc;
}

static int
resume(int argc, char **argv)
{
	struct rv_tcp_restore r;
	struct timespec t0, t1;
	long long dump_ms = 0, delta = 0;
	bool advance = false;
	char why[256];
	int i, rc;

	for (i = 3; i < argc; i++) {
		if (strcmp(argv[i], "--advance-ts") == 0)
			advance = true;
		else if (strcmp(argv[i], "--ts-delta") == 0 && i + 1 < argc)
			delta = atoll(argv[++i]);
		else {
			rv_err("resume: unknown option %s", argv[i]);
			return 2;
		}
	}
	if (read_state(argv[2], &r, &dump_ms) != 0) {
		rv_err("state file %s: invalid or unreadable", argv[2]);
		return 1;
	}
	if (advance)
		r.ts_val += (uint32_t)(now_ms() - dump_ms);
	r.ts_val += (uint32_t)delta;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = rv_tcp_repair_restore(&r, &server.fd, why, sizeof(why));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rc != 0) {
		rv_err("restore: %s", why);
		return 1;
	}
	printf("restore_us %ld\n", (long)((t1.tv_sec - t0.tv_sec) * 1000000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000));
	fflush(stdout);
	fcntl(server.fd, F_SETFL, O_NONBLOCK);
	server.reading = true;
	return run(&server, NULL) == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	struct sigaction sa;

	rv_log_set_ident("repair_probe");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	if (argc == 5 && strcmp(argv[1], "serve") == 0)
		return serve(argv[2], argv[3], argv[4]);
	if (argc >= 3 && strcmp(argv[1], "resume") == 0)
		return resume(argc, argv);
	fprintf(stderr, "usage: repair_probe serve ADDR PORT STATE_FILE\n"
	    "       repair_probe resume STATE_FILE [--advance-ts] "
	    "[--ts-delta MS]\n");
	return 2;
}
