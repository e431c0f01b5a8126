/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Control channel tests: a real server polled in its own thread on a socket
 * in a temporary directory, real clients (the library, raw sockets, and the
 * revenantctl binary when REVENANTCTL names it), plus the JSON writer and
 * the text tables.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ctl_client.h"
#include "ctl_proto.h"
#include "ctl_server.h"
#include "json_writer.h"
#include "log.h"
#include "text_table.h"

#define TIMEOUT_MS	5000
#define BIG_REPLY	(8u << 20)

struct fixture {
	char dir[64];
	char sub[96];
	char path[128];
	struct rv_ctl_server *srv;
	pthread_t thread;
	atomic_bool stop;
	atomic_int handled;
};

/* ---- handlers ---- */

static int
cmd_echo(const struct rv_ctl_request *req, struct rv_ctl_reply *reply,
    void *arg)
{
	int i;

	for (i = 1; i < req->argc; i++)
		rv_ctl_reply_printf(reply, "%s%s", i > 1 ? " " : "",
		    req->argv[i]);
	rv_ctl_reply_printf(reply, "\n");
	return 0;
}

static int
cmd_stats(const struct rv_ctl_request *req, struct rv_ctl_reply *reply,
    void *arg)
{
	struct rv_json w;
	int r;

	if (!req->json)
		return rv_ctl_reply_printf(reply, "flows 3\n");
	rv_json_init(&w);
	rv_json_object_begin(&w);
	rv_json_kv_uint(&w, "flows", 3);
	rv_json_object_end(&w);
	rv_json_finish(&w);
	r = rv_ctl_reply_json(reply, &w);
	rv_json_free(&w);
	return r;
}

static int
cmd_dump(const struct rv_ctl_request *req, struct rv_ctl_reply *reply,
    void *arg)
{
	static const char data[] = "pcapng bytes";

	if (req->argc != 2)
		return rv_ctl_reply_error(reply, RV_CTL_EXIT_USAGE,
		    "usage: dump ID -o FILE");
	if (strcmp(req->argv[1], "404") == 0)
		return rv_ctl_reply_error(reply, RV_CTL_EXIT_FAILURE,
		    "flow 404 not found");
	if (req->fd < 0)
		return rv_ctl_reply_error(reply, RV_CTL_EXIT_FAILURE,
		    "no output file");
	if (write(req->fd, data, sizeof(data) - 1) !=
	    (ssize_t)(sizeof(data) - 1))
		return -errno;
	return rv_ctl_reply_printf(reply, "wrote %zu bytes\n",
	    sizeof(data) - 1);
}

static int
cmd_fail(const struct rv_ctl_request *req, struct rv_ctl_reply *reply,
    void *arg)
{
	rv_ctl_reply_printf(reply, "partial output that must not appear\n");
	return -ENOENT;
}

static int
cmd_big(const struct rv_ctl_request *req, struct rv_ctl_reply *reply,
    void *arg)
{
	char block[4096];
	size_t i;
	int r;

	memset(block, 'x', sizeof(block));
	for (i = 0; i < BIG_REPLY / sizeof(block); i++) {
		if ((r = rv_ctl_reply_write(reply, block, sizeof(block))) != 0)
			return r;
	}
	return 0;
}

static int
cmd_huge(const struct rv_ctl_request *req, struct rv_ctl_reply *reply,
    void *arg)
{
	static char block[1 << 20];
	int i;

	for (i = 0; i <= (int)(RV_CTL_MAX_REPLY >> 20); i++)
		rv_ctl_reply_write(reply, block, sizeof(block));
	return 0;
}

/* ---- fixture ---- */

static void *
server_thread(void *arg)
{
	struct fixture *fx = arg;
	int n;

	while (!atomic_load(&fx->stop)) {
		n = rv_ctl_server_poll(fx->srv, 20);
		if (n > 0)
			atomic_fetch_add(&fx->handled, n);
	}
	return NULL;
}

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	int err;

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/rv-test-ctl.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	/* The server creates the missing parent directory. */
	snprintf(fx->sub, sizeof(fx->sub), "%s/run", fx->dir);
	snprintf(fx->path, sizeof(fx->path), "%s/ctl.sock", fx->sub);
	fx->srv = rv_ctl_server_open(fx->path, &err);
	assert_non_null(fx->srv);
	assert_int_equal(err, 0);
	assert_int_equal(rv_ctl_server_register(fx->srv, "echo", "echo WORDS",
	    cmd_echo, NULL), 0);
	assert_int_equal(rv_ctl_server_register(fx->srv, "stats", "stats",
	    cmd_stats, NULL), 0);
	assert_int_equal(rv_ctl_server_register(fx->srv, "dump",
	    "dump ID -o FILE", cmd_dump, NULL), 0);
	assert_int_equal(rv_ctl_server_register(fx->srv, "fail", "fail",
	    cmd_fail, NULL), 0);
	assert_int_equal(rv_ctl_server_register(fx->srv, "big", "big",
	    cmd_big, NULL), 0);
	assert_int_equal(rv_ctl_server_register(fx->srv, "huge", "huge",
	    cmd_huge, NULL), 0);
	assert_int_equal(pthread_create(&fx->thread, NULL, server_thread, fx),
	    0);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;
	struct stat st;

	atomic_store(&fx->stop, true);
	pthread_join(fx->thread, NULL);
	rv_ctl_server_close(fx->srv);
	/* Closing unlinks the socket. */
	assert_int_equal(lstat(fx->path, &st), -1);
	rmdir(fx->sub);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

/* ---- client helpers ---- */

struct body {
	char buf[65536];
	size_t len;
	size_t total;
};

static int
collect(const struct rv_ctl_status *st, const void *buf, size_t len,
    void *arg)
{
	struct body *b = arg;
	size_t n = len;

	if (n > sizeof(b->buf) - 1 - b->len)
		n = sizeof(b->buf) - 1 - b->len;
	memcpy(b->buf + b->len, buf, n);
	b->len += n;
	b->buf[b->len] = '\0';
	b->total += len;
	return 0;
}

static int
call(struct fixture *fx, struct rv_ctl_status *st, struct body *b, int fd,
    int argc, ...)
{
	const char *argv[RV_CTL_MAX_WORDS + 1];
	char err[512];
	va_list ap;
	int i, r;

	va_start(ap, argc);
	for (i = 0; i < argc; i++)
		argv[i] = va_arg(ap, const char *);
	va_end(ap);
	memset(b, 0, sizeof(*b));
	r = rv_ctl_client_call(fx->path, argc, argv, fd, TIMEOUT_MS, st,
	    collect, b, err, sizeof(err));
	if (r != 0)
		print_error("client call failed: %s\n", err);
	return r;
}

static void
fill_sun(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	assert_true(strlen(path) < sizeof(sun->sun_path));
	memcpy(sun->sun_path, path, strlen(path) + 1);
}

static int
raw_connect(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	fill_sun(&sun, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)),
	    0);
	return fd;
}

/* Sends raw bytes as a request and returns the reply's status. */
static void
raw_request(struct fixture *fx, const void *msg, size_t len, int nfds,
    struct rv_ctl_status *st, struct body *b)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(2 * sizeof(int))];
	} control;
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = len };
	struct msghdr mh;
	struct cmsghdr *cm;
	char err[512];
	int fd, fds[2], r;

	fd = raw_connect(fx->path);
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfds > 0) {
		fds[0] = open("/dev/null", O_WRONLY | O_CLOEXEC);
		fds[1] = open("/dev/null", O_WRONLY | O_CLOEXEC);
		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	}
	assert_int_equal(sendmsg(fd, &mh, MSG_NOSIGNAL), (ssize_t)len);
	if (nfds > 0) {
		close(fds[0]);
		close(fds[1]);
	}
	memset(b, 0, sizeof(*b));
	r = rv_ctl_client_recv(fd, TIMEOUT_MS, st, collect, b, err,
	    sizeof(err));
	if (r != 0)
		print_error("raw request: %s\n", err);
	assert_int_equal(r, 0);
	close(fd);
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- server and client ---- */

static void
ctl_round_trip(void **state)
{
	struct fixture *fx = *state;
	struct rv_ctl_status st;
	struct body b;
	struct stat sst, dst;

	assert_int_equal(call(fx, &st, &b, -1, 3, "echo", "hello", "world"),
	    0);
	assert_true(st.ok);
	assert_int_equal(st.exit_code, 0);
	assert_string_equal(b.buf, "hello world\n");
	assert_int_equal(st.body_len, strlen("hello world\n"));

	assert_int_equal(lstat(fx->path, &sst), 0);
	assert_true(S_ISSOCK(sst.st_mode));
	assert_int_equal(sst.st_mode & 0777, 0600);
	assert_int_equal(stat(fx->sub, &dst), 0);
	assert_int_equal(dst.st_mode & 0777, 0755);
}

static void
ctl_json_flag(void **state)
{
	struct fixture *fx = *state;
	struct rv_ctl_status st;
	struct body b;

	assert_int_equal(call(fx, &st, &b, -1, 1, "stats"), 0);
	assert_string_equal(b.buf, "flows 3\n");
	assert_int_equal(call(fx, &st, &b, -1, 2, "--json", "stats"), 0);
	assert_true(st.ok);
	assert_string_equal(b.buf, "{\"flows\":3}\n");
	/* After the command too; the server removes the word. */
	assert_int_equal(call(fx, &st, &b, -1, 3, "echo", "a", "--json"), 0);
	assert_string_equal(b.buf, "a\n");
}

static void
ctl_fd_passing(void **state)
{
	struct fixture *fx = *state;
	struct rv_ctl_status st;
	struct body b;
	char file[160], got[64];
	ssize_t n;
	int fd;

	snprintf(file, sizeof(file), "%s/out.pcapng", fx->dir);
	fd = open(file, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(call(fx, &st, &b, fd, 2, "dump", "7"), 0);
	assert_true(st.ok);
	assert_string_equal(b.buf, "wrote 12 bytes\n");
	n = pread(fd, got, sizeof(got) - 1, 0);
	assert_int_equal(n, 12);
	got[n] = '\0';
	assert_string_equal(got, "pcapng bytes");
	close(fd);
	unlink(file);
}

static void
ctl_error_status(void **state)
{
	struct fixture *fx = *state;
	struct rv_ctl_status st;
	struct body b;

	assert_int_equal(call(fx, &st, &b, -1, 2, "dump", "404"), 0);
	assert_false(st.ok);
	assert_int_equal(st.exit_code, 1);
	assert_string_equal(b.buf, "flow 404 not found\n");

	assert_int_equal(call(fx, &st, &b, -1, 1, "dump"), 0);
	assert_false(st.ok);
	assert_int_equal(st.exit_code, 2);

	/* A negative return without an error message gets a generic one,
	 * and the partial body is dropped. */
	assert_int_equal(call(fx, &st, &b, -1, 1, "fail"), 0);
	assert_false(st.ok);
	assert_int_equal(st.exit_code, 1);
	assert_string_equal(b.buf,
	    "command 'fail' failed: No such file or directory\n");
}

static void
ctl_unknown_command(void **state)
{
	struct fixture *fx = *state;
	struct rv_ctl_status st;
	struct body b;

	assert_int_equal(call(fx, &st, &b, -1, 1, "frobnicate"), 0);
	assert_false(st.ok);
	assert_int_equal(st.exit_code, 2);
	assert_string_equal(b.buf,
	    "unknown command 'frobnicate'; run 'revenantctl help'\n");
}

static void
ctl_help_lists_commands(void **state)
{
	struct fixture *fx = *state;
	struct rv_ctl_status st;
	struct body b;

	assert_int_equal(call(fx, &st, &b, -1, 1, "help"), 0);
	assert_true(st.ok);
	assert_non_null(strstr(b.buf, "\n  echo WORDS\n"));
	assert_non_null(strstr(b.buf, "\n  dump ID -o FILE\n"));
	assert_int_equal(call(fx, &st, &b, -1, 2, "help", "--json"), 0);
	assert_non_null(strstr(b.buf, "{\"command\":\"stats\",\"usage\":"
	    "\"stats\"}"));
	assert_int_equal(call(fx, &st, &b, -1, 2, "help", "x"), 0);
	assert_false(st.ok);
	assert_int_equal(st.exit_code, 2);
}

static void
ctl_register_rejects_bad_names(void **state)
{
	struct fixture *fx = *state;
	struct rv_ctl_server *srv;
	char path[160];
	int err;

	snprintf(path, sizeof(path), "%s/reg.sock", fx->dir);
	srv = rv_ctl_server_open(path, &err);
	assert_non_null(srv);
	assert_int_equal(rv_ctl_server_register(srv, "help", "help",
	    cmd_echo, NULL), -EEXIST);
	assert_int_equal(rv_ctl_server_register(srv, "Echo", "x", cmd_echo,
	    NULL), -EINVAL);
	assert_int_equal(rv_ctl_server_register(srv, "", "x", cmd_echo,
	    NULL), -EINVAL);
	assert_int_equal(rv_ctl_server_register(srv, "a b", "x", cmd_echo,
	    NULL), -EINVAL);
	assert_int_equal(rv_ctl_server_register(srv, "echo", "x", cmd_echo,
	    NULL), 0);
	assert_int_equal(rv_ctl_server_register(srv, "echo", "x", cmd_echo,
	    NULL), -EEXIST);
	rv_ctl_server_close(srv);
}

static void
expect_rejected(struct fixture *fx, const void *msg, size_t len, int nfds,
    const char *why)
{
	struct rv_ctl_status st;
	struct body b;

	raw_request(fx, msg, len, nfds, &st, &b);
	assert_false(st.ok);
	assert_int_equal(st.exit_code, 2);
	if (strstr(b.buf, why) == NULL)
		fail_msg("expected '%s' in '%s'", why, b.buf);

	/* The next client is served normally. */
	assert_int_equal(call(fx, &st, &b, -1, 2, "echo", "next"), 0);
	assert_true(st.ok);
	assert_string_equal(b.buf, "next\n");
}

static void
ctl_malformed_requests(void **state)
{
	struct fixture *fx = *state;
	char msg[RV_CTL_MAX_REQUEST + 100];
	size_t i;

	expect_rejected(fx, "", 0, 0, "empty request");
	expect_rejected(fx, "echo\0abc", 8, 0, "not NUL-terminated");
	expect_rejected(fx, "echo\0\0x\0", 8, 0, "empty word");
	expect_rejected(fx, "echo\0a\nb\0", 9, 0, "control character");
	expect_rejected(fx, "--json\0", 7, 0, "no command");
	expect_rejected(fx, "echo\0x\0", 7, 2, "more than one file");

	for (i = 0; i < RV_CTL_MAX_WORDS + 1; i++) {
		msg[2 * i] = 'w';
		msg[2 * i + 1] = '\0';
	}
	expect_rejected(fx, msg, 2 * (RV_CTL_MAX_WORDS + 1), 0,
	    "too many words");

	memset(msg, 'a', sizeof(msg));
	msg[sizeof(msg) - 1] = '\0';
	expect_rejected(fx, msg, sizeof(msg), 0, "longer than 4096 bytes");
}

static void
ctl_max_words_accepted(void **state)
{
	struct fixture *fx = *state;
	const char *argv[RV_CTL_MAX_WORDS];
	struct rv_ctl_status st;
	struct body b;
	char err[256];
	int i;

	argv[0] = "echo";
	for (i = 1; i < RV_CTL_MAX_WORDS; i++)
		argv[i] = "w";
	memset(&b, 0, sizeof(b));
	assert_int_equal(rv_ctl_client_call(fx->path, RV_CTL_MAX_WORDS, argv,
	    -1, TIMEOUT_MS, &st, collect, &b, err, sizeof(err)), 0);
	assert_true(st.ok);
	assert_int_equal(b.len, 2 * (RV_CTL_MAX_WORDS - 1));

	/* The client library checks the same limits before sending. */
	assert_int_equal(rv_ctl_client_call(fx->path, RV_CTL_MAX_WORDS + 1,
	    argv, -1, TIMEOUT_MS, &st, collect, &b, err, sizeof(err)),
	    -EINVAL);
}

static void
ctl_stuck_client_blocks_nobody(void **state)
{
	struct fixture *fx = *state;
	struct rv_ctl_status st;
	struct body b;
	int64_t start;
	int stuck, i;

	/* Asks for 8 MiB and never reads it. */
	stuck = raw_connect(fx->path);
	assert_int_equal(send(stuck, "big", 4, MSG_NOSIGNAL), 4);
	usleep(200 * 1000);

	start = mono_ms();
	for (i = 0; i < 5; i++) {
		assert_int_equal(call(fx, &st, &b, -1, 2, "echo", "alive"), 0);
		assert_string_equal(b.buf, "alive\n");
	}
	assert_true(mono_ms() - start < 2000);

	/* A reader gets all of a big reply, in chunks. */
	assert_int_equal(call(fx, &st, &b, -1, 1, "big"), 0);
	assert_true(st.ok);
	assert_int_equal(b.total, BIG_REPLY);
	assert_int_equal(st.body_len, BIG_REPLY);
	close(stuck);
}

static void
ctl_idle_connection_closed(void **state)
{
	struct fixture *fx = *state;
	struct pollfd pfd;
	char buf[64];
	int64_t start;
	int fd;

	/* Connects and sends nothing: closed after the idle timeout. */
	fd = raw_connect(fx->path);
	start = mono_ms();
	pfd.fd = fd;
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, RV_CTL_IDLE_TIMEOUT_MS + 3000), 1);
	assert_int_equal(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), 0);
	assert_true(mono_ms() - start >= RV_CTL_IDLE_TIMEOUT_MS - 100);
	assert_true(mono_ms() - start < RV_CTL_IDLE_TIMEOUT_MS + 2000);
	close(fd);
}

static void
ctl_reply_cap(void **state)
{
	struct fixture *fx = *state;
	struct rv_ctl_status st;
	struct body b;

	assert_int_equal(call(fx, &st, &b, -1, 1, "huge"), 0);
	assert_false(st.ok);
	assert_int_equal(st.exit_code, 1);
	assert_non_null(strstr(b.buf, "exceeds 16 MiB"));
}

static void
ctl_too_many_connections(void **state)
{
	struct fixture *fx = *state;
	int idle[RV_CTL_MAX_CLIENTS], i;
	struct rv_ctl_status st;
	struct body b;

	for (i = 0; i < RV_CTL_MAX_CLIENTS; i++)
		idle[i] = raw_connect(fx->path);
	usleep(200 * 1000);
	assert_int_equal(call(fx, &st, &b, -1, 2, "echo", "x"), 0);
	assert_false(st.ok);
	assert_non_null(strstr(b.buf, "revenantd is busy"));
	for (i = 0; i < RV_CTL_MAX_CLIENTS; i++)
		close(idle[i]);
	usleep(200 * 1000);
	assert_int_equal(call(fx, &st, &b, -1, 2, "echo", "x"), 0);
	assert_true(st.ok);
}

static void
ctl_second_server_refused(void **state)
{
	struct fixture *fx = *state;
	struct rv_ctl_status st;
	struct body b;
	int err = 0;

	assert_null(rv_ctl_server_open(fx->path, &err));
	assert_int_equal(err, -EADDRINUSE);
	/* The first one is untouched. */
	assert_int_equal(call(fx, &st, &b, -1, 2, "echo", "still"), 0);
	assert_string_equal(b.buf, "still\n");
}

static void
ctl_stale_socket_replaced(void **state)
{
	struct fixture *fx = *state;
	struct rv_ctl_server *srv;
	struct sockaddr_un sun;
	char path[160];
	int fd, err;

	/* A bound socket whose owner is gone: nothing listens on it. */
	snprintf(path, sizeof(path), "%s/stale.sock", fx->dir);
	fill_sun(&sun, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	assert_int_equal(access(path, F_OK), 0);

	srv = rv_ctl_server_open(path, &err);
	assert_non_null(srv);
	assert_int_equal(err, 0);
	rv_ctl_server_close(srv);
	assert_int_equal(access(path, F_OK), -1);

	/* A regular file at the path is never removed. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_null(rv_ctl_server_open(path, &err));
	assert_int_equal(err, -EEXIST);
	assert_int_equal(access(path, F_OK), 0);
	unlink(path);
}

static void
client_daemon_not_running(void **state)
{
	struct fixture *fx = *state;
	const char *argv[] = { "stats" };
	struct rv_ctl_status st;
	char path[160], err[512], expect[512];

	snprintf(path, sizeof(path), "%s/missing.sock", fx->dir);
	assert_int_equal(rv_ctl_client_call(path, 1, argv, -1, TIMEOUT_MS,
	    &st, NULL, NULL, err, sizeof(err)), -ENOENT);
	snprintf(expect, sizeof(expect), "cannot connect to revenantd at %s: "
	    "No such file or directory; is revenantd running? (start it, or "
	    "pass -s PATH)", path);
	assert_string_equal(err, expect);
}

static void
client_reply_timeout(void **state)
{
	struct fixture *fx = *state;
	struct sockaddr_un sun;
	const char *argv[] = { "stats" };
	struct rv_ctl_status st;
	char path[160], err[512];
	int64_t start;
	int lfd;

	/* A listener that never replies. */
	snprintf(path, sizeof(path), "%s/mute.sock", fx->dir);
	fill_sun(&sun, path);
	lfd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	start = mono_ms();
	assert_int_equal(rv_ctl_client_call(path, 1, argv, -1, 300, &st,
	    NULL, NULL, err, sizeof(err)), -ETIMEDOUT);
	assert_true(mono_ms() - start >= 250);
	assert_non_null(strstr(err, "did not reply in time"));
	close(lfd);
	unlink(path);
}

/* ---- the revenantctl binary ---- */

/* Runs revenantctl through the shell; returns its exit status. */
static int
run_ctl(struct fixture *fx, const char *args, char *out, size_t outlen)
{
	const char *bin = getenv("REVENANTCTL");
	char cmd[1024], outfile[160];
	FILE *f;
	size_t n;
	int status;

	snprintf(outfile, sizeof(outfile), "%s/ctl.out", fx->dir);
	snprintf(cmd, sizeof(cmd), "%s %s >%s 2>&1", bin, args, outfile);
	status = system(cmd);
	assert_true(WIFEXITED(status));
	f = fopen(outfile, "r");
	assert_non_null(f);
	n = fread(out, 1, outlen - 1, f);
	out[n] = '\0';
	fclose(f);
	unlink(outfile);
	return WEXITSTATUS(status);
}

static void
revenantctl_binary(void **state)
{
	struct fixture *fx = *state;
	char args[512], out[4096], file[160], expect[512];
	struct stat st;

	if (getenv("REVENANTCTL") == NULL)
		skip();

	assert_int_equal(run_ctl(fx, "", out, sizeof(out)), 2);
	assert_non_null(strstr(out, "revenantctl: missing COMMAND"));
	assert_int_equal(run_ctl(fx, "--help", out, sizeof(out)), 0);
	assert_non_null(strstr(out, "migrate SERVER [--to BACKUP]"));
	assert_int_equal(run_ctl(fx, "-t 0 stats", out, sizeof(out)), 2);
	assert_int_equal(run_ctl(fx, "dump 1", out, sizeof(out)), 2);

	snprintf(args, sizeof(args), "-s %s/none.sock stats", fx->dir);
	assert_int_equal(run_ctl(fx, args, out, sizeof(out)), 1);
	snprintf(expect, sizeof(expect), "revenantctl: cannot connect to "
	    "revenantd at %s/none.sock: No such file or directory; is "
	    "revenantd running? (start it, or pass -s PATH)\n", fx->dir);
	assert_string_equal(out, expect);

	snprintf(args, sizeof(args), "-s %s echo a b", fx->path);
	assert_int_equal(run_ctl(fx, args, out, sizeof(out)), 0);
	assert_string_equal(out, "a b\n");
	snprintf(args, sizeof(args), "-s %s --json stats", fx->path);
	assert_int_equal(run_ctl(fx, args, out, sizeof(out)), 0);
	assert_string_equal(out, "{\"flows\":3}\n");
	snprintf(args, sizeof(args), "-s %s nope", fx->path);
	assert_int_equal(run_ctl(fx, args, out, sizeof(out)), 2);
	assert_string_equal(out, "revenantctl: unknown command 'nope'; run "
	    "'revenantctl help'\n");

	/* dump: the binary opens the file and passes it. */
	snprintf(file, sizeof(file), "%s/flow.pcapng", fx->dir);
	snprintf(args, sizeof(args), "-s %s dump 5 -o %s", fx->path, file);
	assert_int_equal(run_ctl(fx, args, out, sizeof(out)), 0);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_size, 12);
	unlink(file);
	/* A failed dump leaves no file behind. */
	snprintf(args, sizeof(args), "-s %s dump 404 -o %s", fx->path, file);
	assert_int_equal(run_ctl(fx, args, out, sizeof(out)), 1);
	assert_string_equal(out, "revenantctl: flow 404 not found\n");
	assert_int_equal(stat(file, &st), -1);
}

/* ---- JSON writer ---- */

static void
json_escapes_strings(void **state)
{
	static const char raw[] = "q\"b\\n\n\t\x01\x1f\x7f"
	    "\xc3\xa9\xff\xc0\xaf\xed\xa0\x80\xf0\x9f\x98\x80\xe2\x82";
	struct rv_json w;

	rv_json_init(&w);
	rv_json_array_begin(&w);
	rv_json_string_len(&w, raw, sizeof(raw) - 1);
	rv_json_string_len(&w, "a\0b", 3);
	rv_json_string(&w, NULL);
	rv_json_array_end(&w);
	assert_int_equal(rv_json_finish(&w), 0);
	/* é and the emoji pass through; 0xff, the overlong C0 AF, the
	 * surrogate ED A0 80 and the cut E2 82 become U+FFFD per byte. */
	assert_string_equal(rv_json_data(&w),
	    "[\"q\\\"b\\\\n\\n\\t\\u0001\\u001f\x7f\xc3\xa9\\ufffd"
	    "\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\xf0\x9f\x98\x80"
	    "\\ufffd\\ufffd\",\"a\\u0000b\",null]\n");
	rv_json_free(&w);
}

static void
json_numbers_and_nesting(void **state)
{
	struct rv_json w;

	rv_json_init(&w);
	rv_json_object_begin(&w);
	rv_json_kv_int(&w, "min", INT64_MIN);
	rv_json_kv_uint(&w, "max", UINT64_MAX);
	rv_json_kv_double(&w, "tenth", 0.1);
	rv_json_kv_double(&w, "nan", 0.0 / 0.0);
	rv_json_kv_bool(&w, "up", true);
	rv_json_key(&w, "list");
	rv_json_array_begin(&w);
	rv_json_object_begin(&w);
	rv_json_object_end(&w);
	rv_json_array_begin(&w);
	rv_json_array_end(&w);
	rv_json_null(&w);
	rv_json_array_end(&w);
	rv_json_kv_string(&w, "k\"ey", "v");
	rv_json_object_end(&w);
	assert_int_equal(rv_json_finish(&w), 0);
	assert_string_equal(rv_json_data(&w),
	    "{\"min\":-9223372036854775808,\"max\":18446744073709551615,"
	    "\"tenth\":0.1,\"nan\":null,\"up\":true,"
	    "\"list\":[{},[],null],\"k\\\"ey\":\"v\"}\n");
	rv_json_free(&w);
}

static void
json_misuse_detected(void **state)
{
	struct rv_json w;

	/* Unclosed container. */
	rv_json_init(&w);
	rv_json_object_begin(&w);
	assert_int_equal(rv_json_finish(&w), -EINVAL);
	rv_json_free(&w);

	/* Value without a key inside an object. */
	rv_json_init(&w);
	rv_json_object_begin(&w);
	rv_json_uint(&w, 1);
	assert_int_equal(rv_json_error(&w), -EINVAL);
	rv_json_object_end(&w);
	assert_int_equal(rv_json_finish(&w), -EINVAL);
	rv_json_free(&w);

	/* Key in an array, mismatched end, key without value. */
	rv_json_init(&w);
	rv_json_array_begin(&w);
	rv_json_key(&w, "k");
	assert_int_equal(rv_json_error(&w), -EINVAL);
	rv_json_free(&w);
	rv_json_init(&w);
	rv_json_array_begin(&w);
	rv_json_object_end(&w);
	assert_int_equal(rv_json_error(&w), -EINVAL);
	rv_json_free(&w);
	rv_json_init(&w);
	rv_json_object_begin(&w);
	rv_json_key(&w, "k");
	rv_json_object_end(&w);
	assert_int_equal(rv_json_error(&w), -EINVAL);
	rv_json_free(&w);

	/* Two top-level values, an end with nothing open, nothing at all. */
	rv_json_init(&w);
	rv_json_null(&w);
	rv_json_null(&w);
	assert_int_equal(rv_json_finish(&w), -EINVAL);
	rv_json_free(&w);
	rv_json_init(&w);
	rv_json_array_end(&w);
	assert_int_equal(rv_json_error(&w), -EINVAL);
	rv_json_free(&w);
	rv_json_init(&w);
	assert_int_equal(rv_json_finish(&w), -EINVAL);
	rv_json_free(&w);
}

static void
json_depth_limit(void **state)
{
	struct rv_json w;
	int i;

	rv_json_init(&w);
	for (i = 0; i < RV_JSON_MAX_DEPTH; i++)
		rv_json_array_begin(&w);
	assert_int_equal(rv_json_error(&w), 0);
	rv_json_array_begin(&w);
	assert_int_equal(rv_json_error(&w), -EINVAL);
	rv_json_free(&w);
}

/* ---- text tables ---- */

static void
table_alignment(void **state)
{
	struct rv_table *t = rv_table_new();
	char *text;
	size_t len;

	assert_non_null(t);
	assert_int_equal(rv_table_add_column(t, "FLOW", RV_TABLE_AUTO), 0);
	assert_int_equal(rv_table_add_column(t, "CLIENT", RV_TABLE_AUTO), 0);
	assert_int_equal(rv_table_add_column(t, "BYTES", RV_TABLE_AUTO), 0);
	assert_int_equal(rv_table_add_column(t, "NOTE", RV_TABLE_LEFT), 0);
	rv_table_cell(t, "%d", 1);
	rv_table_cell(t, "198.51.100.7:40000");
	rv_table_cell(t, "1.5 MiB");
	rv_table_cell(t, "caf\xc3\xa9");
	rv_table_cell(t, "%d", 1234);
	rv_table_cell(t, "203.0.113.9:2");
	rv_table_cell(t, "-");
	rv_table_cell(t, "a\tb");
	rv_table_cell(t, "%d", 7);
	assert_int_equal(rv_table_render(t, &text, &len), 0);
	assert_string_equal(text,
	    "FLOW  CLIENT                BYTES  NOTE\n"
	    "   1  198.51.100.7:40000  1.5 MiB  caf\xc3\xa9\n"
	    "1234  203.0.113.9:2             -  a?b\n"
	    "   7\n");
	assert_int_equal(len, strlen(text));
	free(text);

	/* Columns are fixed once rows exist. */
	assert_int_equal(rv_table_add_column(t, "LATE", RV_TABLE_AUTO),
	    -EINVAL);
	assert_int_equal(rv_table_render(t, &text, &len), -EINVAL);
	rv_table_free(t);
}

static void
table_format_helpers(void **state)
{
	static const struct {
		uint64_t bytes;
		const char *text;
	} sizes[] = {
		{ 0, "0 B" }, { 1023, "1023 B" }, { 1024, "1.0 KiB" },
		{ 1536, "1.5 KiB" }, { 10189, "10 KiB" },
		{ 1048575, "1.0 MiB" }, { 3u << 20, "3.0 MiB" },
		{ 20u << 20, "20 MiB" }, { UINT64_MAX, "16 EiB" },
	};
	static const struct {
		uint64_t ns;
		const char *text;
	} times[] = {
		{ 850, "850 ns" }, { 12000, "12 us" }, { 120000000, "120 ms" },
		{ 3200000000ull, "3.2 s" }, { 999999999, "1.0 s" },
		{ 59000000000ull, "59 s" }, { 303000000000ull, "5 min 3 s" },
		{ 7500000000000ull, "2 h 5 min" },
		{ 273600000000000ull, "3 d 4 h" },
	};
	char buf[32];
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		assert_string_equal(rv_table_fmt_bytes(sizes[i].bytes, buf,
		    sizeof(buf)), sizes[i].text);
	for (i = 0; i < sizeof(times) / sizeof(times[0]); i++)
		assert_string_equal(rv_table_fmt_duration(times[i].ns, buf,
		    sizeof(buf)), times[i].text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(ctl_round_trip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(ctl_json_flag, setup, teardown),
		cmocka_unit_test_setup_teardown(ctl_fd_passing, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(ctl_error_status, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(ctl_unknown_command, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(ctl_help_lists_commands, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(ctl_register_rejects_bad_names,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(ctl_malformed_requests, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(ctl_max_words_accepted, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(ctl_stuck_client_blocks_nobody,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(ctl_reply_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(ctl_idle_connection_closed,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(ctl_too_many_connections, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(ctl_second_server_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(ctl_stale_socket_replaced,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(client_daemon_not_running,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(client_reply_timeout, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(revenantctl_binary, setup,
		    teardown),
		cmocka_unit_test(json_escapes_strings),
		cmocka_unit_test(json_numbers_and_nesting),
		cmocka_unit_test(json_misuse_detected),
		cmocka_unit_test(json_depth_limit),
		cmocka_unit_test(table_alignment),
		cmocka_unit_test(table_format_helpers),
	};

	rv_log_set_ident("test_ctl");
	rv_log_set_level(RV_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
