/* SPDX-License-Identifier: BSD-3-Clause */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl_client.h"
#include "ctl_proto.h"

#define CONNECT_RETRY_MS	10	/* while the listen backlog is full */

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left until deadline, at least 0. */
static int
ms_left(int64_t deadline)
{
	int64_t left = deadline - now_ms();

	if (left < 0)
		return 0;
	return left > INT32_MAX ? INT32_MAX : (int)left;
}

const char *
rv_ctl_client_default_path(void)
{
	const char *env = getenv(RV_CTL_SOCKET_ENV);

	return env != NULL && env[0] != '\0' ? env : RV_CTL_DEFAULT_SOCKET;
}

static void
connect_error(const char *path, int e, char *err, size_t errlen)
{
	if (e == ENOENT || e == ECONNREFUSED)
		set_err(err, errlen, "cannot connect to revenantd at %s: %s; "
		    "is revenantd running? (start it, or pass -s PATH)",
		    path, strerror(e));
	else if (e == EACCES || e == EPERM)
		set_err(err, errlen, "cannot connect to revenantd at %s: %s; "
		    "run revenantctl as root", path, strerror(e));
	else if (e == ETIMEDOUT)
		set_err(err, errlen, "cannot connect to revenantd at %s: "
		    "timed out; revenantd may be stuck (raise -t, or check "
		    "its log)", path);
	else
		set_err(err, errlen, "cannot connect to revenantd at %s: %s",
		    path, strerror(e));
}

int
rv_ctl_client_connect(const char *path, int timeout_ms, char *err,
    size_t errlen)
{
	int64_t deadline = now_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
	struct sockaddr_un sun;
	int fd, e;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (path == NULL || path[0] == '\0' ||
	    strlen(path) >= sizeof(sun.sun_path)) {
		set_err(err, errlen, "invalid socket path '%.120s': empty or "
		    "longer than %zu bytes", path != NULL ? path : "",
		    sizeof(sun.sun_path) - 1);
		return -EINVAL;
	}
	memcpy(sun.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		e = errno;
		set_err(err, errlen, "cannot create a socket: %s",
		    strerror(e));
		return -e;
	}
	/* A Unix socket connects at once, or EAGAIN while the backlog of a
	 * busy server is full, which poll(2) does not signal: retry. */
	while (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		e = errno;
		if (e == EINTR)
			continue;
		if (e != EAGAIN || ms_left(deadline) == 0) {
			close(fd);
			connect_error(path, e == EAGAIN ? ETIMEDOUT : e, err,
			    errlen);
			return e == EAGAIN ? -ETIMEDOUT : -e;
		}
		poll(NULL, 0, CONNECT_RETRY_MS);
	}
	return fd;
}

static int
check_words(int argc, const char *const *argv, size_t *total, char *err,
    size_t errlen)
{
	const unsigned char *p;
	int i;

	*total = 0;
	if (argc < 1 || argc > RV_CTL_MAX_WORDS) {
		set_err(err, errlen, "invalid request: %d words (1 to %d "
		    "allowed)", argc, RV_CTL_MAX_WORDS);
		return -EINVAL;
	}
	for (i = 0; i < argc; i++) {
		if (argv[i][0] == '\0') {
			set_err(err, errlen, "invalid request: argument %d "
			    "is empty", i);
			return -EINVAL;
		}
		for (p = (const unsigned char *)argv[i]; *p != '\0'; p++) {
			if (*p < 0x20 || *p == 0x7f) {
				set_err(err, errlen, "invalid request: "
				    "argument %d contains a control "
				    "character", i);
				return -EINVAL;
			}
		}
		*total += strlen(argv[i]) + 1;
	}
	if (*total > RV_CTL_MAX_REQUEST) {
		set_err(err, errlen, "invalid request: %zu bytes (at most %d "
		    "allowed)", *total, RV_CTL_MAX_REQUEST);
		return -EMSGSIZE;
	}
	return 0;
}

int
rv_ctl_client_send(int fd, int argc, const char *const *argv, int pass_fd,
    char *err, size_t errlen)
{
	char msg[RV_CTL_MAX_REQUEST];
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov;
	struct msghdr mh;
	struct cmsghdr *cm;
	size_t total, off = 0, n;
	int i, r, e;

	if ((r = check_words(argc, argv, &total, err, errlen)) != 0)
		return r;
	for (i = 0; i < argc; i++) {
		n = strlen(argv[i]) + 1;
		memcpy(msg + off, argv[i], n);
		off += n;
	}
	iov.iov_base = msg;
	iov.iov_len = total;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (pass_fd >= 0) {
		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = sizeof(control.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
	}
	/* A new connection's send buffer always has room for one request. */
	while (sendmsg(fd, &mh, MSG_NOSIGNAL) < 0) {
		e = errno;
		if (e == EINTR)
			continue;
		set_err(err, errlen, "cannot send the request to revenantd: "
		    "%s", strerror(e));
		return -e;
	}
	return 0;
}

static int
parse_header(const unsigned char *h, size_t len, struct rv_ctl_status *st)
{
	uint64_t body = 0;
	int i;

	if (len != RV_CTL_HEADER_LEN || memcmp(h, RV_CTL_MAGIC, 4) != 0 ||
	    h[4] != RV_CTL_VERSION || h[7] != 0)
		return -EBADMSG;
	for (i = 0; i < 8; i++)
		body = (body << 8) | h[8 + i];
	if (body > RV_CTL_MAX_REPLY)
		return -EBADMSG;
	if (h[5] == RV_CTL_STATUS_OK && h[6] == 0)
		st->ok = true;
	else if (h[5] == RV_CTL_STATUS_ERROR && h[6] >= 1 &&
	    h[6] <= RV_CTL_MAX_EXIT_CODE)
		st->ok = false;
	else
		return -EBADMSG;
	st->exit_code = h[6];
	st->body_len = body;
	return 0;
}

/*
 * Receives one message within the deadline.  Returns its length (0 at the
 * end of the connection), -ETIMEDOUT, -EBADMSG if it did not fit in buf,
 * or another negative errno value.
 */
static ssize_t
recv_message(int fd, void *buf, size_t size, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	bool reset_seen = false;
	ssize_t n;
	int r;

	for (;;) {
		n = recv(fd, buf, size, MSG_DONTWAIT | MSG_TRUNC);
		if (n >= 0)
			return (size_t)n > size ? -EBADMSG : n;
		if (errno == EINTR)
			continue;
		/*
		 * A server that closes without reading our request (it is
		 * busy) resets the connection, but its reply is still queued:
		 * Linux reports the reset once, then returns the messages.
		 */
		if (errno == ECONNRESET && !reset_seen) {
			reset_seen = true;
			continue;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		r = poll(&pfd, 1, ms_left(deadline));
		if (r == 0)
			return -ETIMEDOUT;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

static void
recv_error(ssize_t r, char *err, size_t errlen)
{
	if (r == -ETIMEDOUT)
		set_err(err, errlen, "revenantd did not reply in time; it may "
		    "be busy or stuck (raise -t, or check its log)");
	else if (r == -EBADMSG)
		set_err(err, errlen, "revenantd sent a malformed or "
		    "incomplete reply; check that revenantctl and revenantd "
		    "are the same version, and check the daemon's log");
	else
		set_err(err, errlen, "cannot read the reply of revenantd: %s",
		    strerror((int)-r));
}

int
rv_ctl_client_recv(int fd, int timeout_ms, struct rv_ctl_status *st,
    rv_ctl_body_fn fn, void *arg, char *err, size_t errlen)
{
	int64_t deadline = now_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
	unsigned char *buf;
	uint64_t got = 0;
	ssize_t n;
	int r;

	memset(st, 0, sizeof(*st));
	if ((buf = malloc(RV_CTL_MAX_CHUNK)) == NULL) {
		set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	n = recv_message(fd, buf, RV_CTL_MAX_CHUNK, deadline);
	if (n == 0)
		n = -EBADMSG;	/* closed before the header */
	if (n < 0 || (n = parse_header(buf, (size_t)n, st)) != 0) {
		r = (int)n;
		goto fail;
	}
	for (;;) {
		n = recv_message(fd, buf, RV_CTL_MAX_CHUNK, deadline);
		if (n < 0) {
			r = (int)n;
			goto fail;
		}
		if (n == 0)
			break;
		got += (uint64_t)n;
		if (got > st->body_len) {
			r = -EBADMSG;
			goto fail;
		}
		if (fn != NULL && (r = fn(st, buf, (size_t)n, arg)) != 0) {
			set_err(err, errlen, "cannot write the reply: %s",
			    strerror(-r));
			goto out;
		}
	}
	/* EOF before the announced length: the daemon died mid-reply. */
	r = got == st->body_len ? 0 : -EBADMSG;
	if (r != 0)
		goto fail;
	goto out;
fail:
	recv_error(r, err, errlen);
out:
	free(buf);
	return r;
}

int
rv_ctl_client_call(const char *path, int argc, const char *const *argv,
    int pass_fd, int timeout_ms, struct rv_ctl_status *st,
    rv_ctl_body_fn fn, void *arg, char *err, size_t errlen)
{
	int64_t deadline = now_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
	int fd, r;

	memset(st, 0, sizeof(*st));
	if ((fd = rv_ctl_client_connect(path, timeout_ms, err, errlen)) < 0)
		return fd;
	r = rv_ctl_client_send(fd, argc, argv, pass_fd, err, errlen);
	if (r == 0)
		r = rv_ctl_client_recv(fd, ms_left(deadline), st, fn, arg,
		    err, errlen);
	else if (r == -EPIPE || r == -ECONNRESET || r == -ECONNREFUSED) {
		/* The server may have sent why it closed (it is busy). */
		if (rv_ctl_client_recv(fd, 0, st, fn, arg, NULL, 0) == 0)
			r = 0;
	}
	close(fd);
	return r;
}

int
rv_ctl_client_write_file(const struct rv_ctl_status *st, const void *buf,
    size_t len, void *arg)
{
	FILE *f = arg;

	if (fwrite(buf, 1, len, f) != len)
		return -EIO;
	return 0;
}
