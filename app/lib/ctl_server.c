/* SPDX-License-Identifier: BSD-3-Clause */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl_proto.h"
#include "ctl_server.h"
#include "json_writer.h"
#include "log.h"
#include "text_table.h"

#define MAX_ACCEPTS_PER_POLL	(2 * RV_CTL_MAX_CLIENTS)

struct rv_ctl_reply {
	char *buf;		/* RV_CTL_HEADER_LEN bytes of header, then body */
	size_t len;
	size_t cap;
	bool error;
	bool overflow;		/* the body hit RV_CTL_MAX_REPLY */
	int exit_code;
};

struct ctl_command {
	char name[RV_CTL_MAX_COMMAND_NAME + 1];
	char *usage;
	rv_ctl_handler fn;
	void *arg;
};

enum ctl_conn_state {
	CONN_FREE = 0,
	CONN_READING,
	CONN_WRITING,
};

struct ctl_conn {
	enum ctl_conn_state state;
	int fd;
	uint64_t last_progress_ms;
	unsigned int uid;
	int pid;
	struct rv_ctl_reply out;
	size_t out_off;
};

struct rv_ctl_server {
	int listen_fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev;		/* identify our socket file at unlink time */
	ino_t ino;
	struct ctl_command *commands;
	size_t ncommands;
	struct ctl_conn conns[RV_CTL_MAX_CLIENTS];
};

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- replies ---- */

static int
reply_init(struct rv_ctl_reply *reply)
{
	memset(reply, 0, sizeof(*reply));
	reply->cap = 4096;
	if ((reply->buf = malloc(reply->cap)) == NULL)
		return -ENOMEM;
	reply->len = RV_CTL_HEADER_LEN;
	return 0;
}

static void
reply_free(struct rv_ctl_reply *reply)
{
	free(reply->buf);
	memset(reply, 0, sizeof(*reply));
}

int
rv_ctl_reply_write(struct rv_ctl_reply *reply, const void *buf, size_t len)
{
	size_t body = reply->len - RV_CTL_HEADER_LEN, cap;
	char *p;

	if (reply->overflow)
		return -EMSGSIZE;
	if (len > RV_CTL_MAX_REPLY - body) {
		reply->overflow = true;
		return -EMSGSIZE;
	}
	if (reply->len + len > reply->cap) {
		cap = reply->cap;
		while (cap < reply->len + len)
			cap *= 2;
		if ((p = realloc(reply->buf, cap)) == NULL)
			return -ENOMEM;
		reply->buf = p;
		reply->cap = cap;
	}
	memcpy(reply->buf + reply->len, buf, len);
	reply->len += len;
	return 0;
}

static int
reply_vprintf(struct rv_ctl_reply *reply, const char *fmt, va_list ap)
{
	char small[512], *big;
	va_list copy;
	int n, r;

	va_copy(copy, ap);
	n = vsnprintf(small, sizeof(small), fmt, copy);
	va_end(copy);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n < sizeof(small))
		return rv_ctl_reply_write(reply, small, (size_t)n);
	if (vasprintf(&big, fmt, ap) < 0)
		return -ENOMEM;
	r = rv_ctl_reply_write(reply, big, (size_t)n);
	free(big);
	return r;
}

int
rv_ctl_reply_printf(struct rv_ctl_reply *reply, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = reply_vprintf(reply, fmt, ap);
	va_end(ap);
	return r;
}

static int
reply_verror(struct rv_ctl_reply *reply, int exit_code, const char *fmt,
    va_list ap)
{
	int r;

	reply->len = RV_CTL_HEADER_LEN;
	reply->overflow = false;
	reply->error = true;
	if (exit_code < 1 || exit_code > RV_CTL_MAX_EXIT_CODE)
		exit_code = RV_CTL_EXIT_FAILURE;
	reply->exit_code = exit_code;
	if ((r = reply_vprintf(reply, fmt, ap)) != 0)
		return r;
	return rv_ctl_reply_write(reply, "\n", 1);
}

int
rv_ctl_reply_error(struct rv_ctl_reply *reply, int exit_code,
    const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = reply_verror(reply, exit_code, fmt, ap);
	va_end(ap);
	return r;
}

int
rv_ctl_reply_json(struct rv_ctl_reply *reply, const struct rv_json *w)
{
	if (rv_json_error(w) != 0 || rv_json_len(w) == 0) {
		rv_ctl_reply_error(reply, RV_CTL_EXIT_FAILURE,
		    "internal error: the JSON output of this command is "
		    "invalid (%s)", strerror(-rv_json_error(w)));
		return -EINVAL;
	}
	return rv_ctl_reply_write(reply, rv_json_data(w), rv_json_len(w));
}

int
rv_ctl_reply_table(struct rv_ctl_reply *reply, const struct rv_table *t)
{
	char *text;
	size_t len;
	int r;

	if ((r = rv_table_render(t, &text, &len)) != 0)
		return r;
	r = rv_ctl_reply_write(reply, text, len);
	free(text);
	return r;
}

/* Fills in the header before the first send. */
static void
reply_seal(struct rv_ctl_reply *reply)
{
	uint64_t body = reply->len - RV_CTL_HEADER_LEN;
	unsigned char *h = (unsigned char *)reply->buf;
	int i;

	memcpy(h, RV_CTL_MAGIC, 4);
	h[4] = RV_CTL_VERSION;
	h[5] = reply->error ? RV_CTL_STATUS_ERROR : RV_CTL_STATUS_OK;
	h[6] = reply->error ? (unsigned char)reply->exit_code : 0;
	h[7] = 0;
	for (i = 0; i < 8; i++)
		h[8 + i] = (unsigned char)(body >> (56 - 8 * i));
}

/* ---- socket set-up ---- */

static int
make_parent_dir(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) == 0) {
		rv_info("control socket %s: created directory %s", path, dir);
		return 0;
	}
	if (errno == EEXIST)
		return 0;
	rv_err("control socket %s: cannot create directory %s: %s", path,
	    dir, strerror(errno));
	return -errno;
}

/*
 * Removes a socket file left by a process that died.  Returns 0 when the
 * path is free, -EADDRINUSE if a server accepts on it, -EEXIST if it is not
 * a socket.
 */
static int
remove_stale_socket(const char *path, const struct sockaddr_un *sun)
{
	struct stat st;
	int fd, r;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		rv_err("control socket %s: the path exists and is not a "
		    "socket; remove it or configure another path", path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	if (r == 0 || errno == EAGAIN) {
		close(fd);
		rv_err("control socket %s: another revenantd is listening on "
		    "%s; stop it first", path, path);
		return -EADDRINUSE;
	}
	close(fd);
	if (errno != ECONNREFUSED && errno != ENOENT) {
		rv_err("control socket %s: cannot tell whether another "
		    "process listens on it: %s", path, strerror(errno));
		return -EADDRINUSE;
	}
	if (unlink(path) != 0 && errno != ENOENT)
		return -errno;
	rv_info("control socket %s: replaced a stale socket file", path);
	return 0;
}

static int
server_listen(struct rv_ctl_server *srv, const struct sockaddr_un *sun)
{
	struct stat st;
	int fd;

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (const struct sockaddr *)sun, sizeof(*sun)) != 0)
		goto fail;
	/* Until listen(2) every connect fails, so no client gets in while
	 * the file still has the mode that the umask gave it. */
	if (chmod(srv->path, 0600) != 0 || stat(srv->path, &st) != 0)
		goto fail_unlink;
	if (listen(fd, RV_CTL_MAX_CLIENTS) != 0)
		goto fail_unlink;
	srv->listen_fd = fd;
	srv->dev = st.st_dev;
	srv->ino = st.st_ino;
	return 0;

fail_unlink:
	unlink(srv->path);
fail:
	close(fd);
	return -errno;
}

struct rv_ctl_server *
rv_ctl_server_open(const char *path, int *err)
{
	struct rv_ctl_server *srv = NULL;
	struct sockaddr_un sun;
	int r, i;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (path == NULL || path[0] == '\0' ||
	    strlen(path) >= sizeof(sun.sun_path)) {
		rv_err("control socket %.120s: invalid path (empty, or longer "
		    "than %zu bytes)", path != NULL ? path : "",
		    sizeof(sun.sun_path) - 1);
		r = -EINVAL;
		goto out;
	}
	memcpy(sun.sun_path, path, strlen(path));
	if ((srv = calloc(1, sizeof(*srv))) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	srv->listen_fd = -1;
	for (i = 0; i < RV_CTL_MAX_CLIENTS; i++)
		srv->conns[i].fd = -1;
	snprintf(srv->path, sizeof(srv->path), "%s", path);
	if ((r = make_parent_dir(path)) != 0 ||
	    (r = remove_stale_socket(path, &sun)) != 0)
		goto out;
	if ((r = server_listen(srv, &sun)) != 0) {
		rv_err("control socket %s: cannot listen: %s", path,
		    strerror(-r));
		goto out;
	}
	rv_info("control socket %s: listening", path);
out:
	if (r != 0) {
		free(srv);
		srv = NULL;
	}
	if (err != NULL)
		*err = r;
	return srv;
}

static void
conn_close(struct ctl_conn *conn)
{
	if (conn->fd >= 0)
		close(conn->fd);
	reply_free(&conn->out);
	memset(conn, 0, sizeof(*conn));
	conn->fd = -1;
}

void
rv_ctl_server_close(struct rv_ctl_server *srv)
{
	struct stat st;
	size_t i;

	if (srv == NULL)
		return;
	for (i = 0; i < RV_CTL_MAX_CLIENTS; i++)
		conn_close(&srv->conns[i]);
	if (srv->listen_fd >= 0) {
		close(srv->listen_fd);
		/* Leave a socket that a newer daemon put there alone. */
		if (lstat(srv->path, &st) == 0 && st.st_dev == srv->dev &&
		    st.st_ino == srv->ino)
			unlink(srv->path);
	}
	for (i = 0; i < srv->ncommands; i++)
		free(srv->commands[i].usage);
	free(srv->commands);
	free(srv);
}

int
rv_ctl_server_fd(const struct rv_ctl_server *srv)
{
	return srv->listen_fd;
}

static bool
valid_command_name(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > RV_CTL_MAX_COMMAND_NAME)
		return false;
	for (i = 0; i < n; i++) {
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= '0' && name[i] <= '9') || name[i] == '-'))
			return false;
	}
	return true;
}

static struct ctl_command *
find_command(struct rv_ctl_server *srv, const char *name)
{
	size_t i;

	for (i = 0; i < srv->ncommands; i++) {
		if (strcmp(srv->commands[i].name, name) == 0)
			return &srv->commands[i];
	}
	return NULL;
}

int
rv_ctl_server_register(struct rv_ctl_server *srv, const char *command,
    const char *usage, rv_ctl_handler fn, void *arg)
{
	struct ctl_command *cmds, *c;

	if (command == NULL || fn == NULL || !valid_command_name(command))
		return -EINVAL;
	if (strcmp(command, "help") == 0 || find_command(srv, command) != NULL)
		return -EEXIST;
	cmds = realloc(srv->commands, (srv->ncommands + 1) * sizeof(*cmds));
	if (cmds == NULL)
		return -ENOMEM;
	srv->commands = cmds;
	c = &cmds[srv->ncommands];
	memset(c, 0, sizeof(*c));
	if ((c->usage = strdup(usage != NULL ? usage : command)) == NULL)
		return -ENOMEM;
	snprintf(c->name, sizeof(c->name), "%s", command);
	c->fn = fn;
	c->arg = arg;
	srv->ncommands++;
	return 0;
}

/* ---- requests ---- */

static int
help_handler(struct rv_ctl_server *srv, const struct rv_ctl_request *req,
    struct rv_ctl_reply *reply)
{
	struct rv_json w;
	size_t i;
	int r;

	if (req->argc != 1)
		return rv_ctl_reply_error(reply, RV_CTL_EXIT_USAGE,
		    "usage: help (takes no arguments)");
	if (!req->json) {
		rv_ctl_reply_printf(reply, "usage: revenantctl [-s SOCKET] "
		    "[--json] [-t TIMEOUT_S] COMMAND [ARGS...]\n"
		    "commands:\n  help\n");
		for (i = 0; i < srv->ncommands; i++)
			rv_ctl_reply_printf(reply, "  %s\n",
			    srv->commands[i].usage);
		return 0;
	}
	rv_json_init(&w);
	rv_json_object_begin(&w);
	rv_json_key(&w, "commands");
	rv_json_array_begin(&w);
	for (i = 0; i < srv->ncommands; i++) {
		rv_json_object_begin(&w);
		rv_json_kv_string(&w, "command", srv->commands[i].name);
		rv_json_kv_string(&w, "usage", srv->commands[i].usage);
		rv_json_object_end(&w);
	}
	rv_json_array_end(&w);
	rv_json_object_end(&w);
	rv_json_finish(&w);
	r = rv_ctl_reply_json(reply, &w);
	rv_json_free(&w);
	return r;
}

const char *
rv_ctl_parse_request(char *msg, size_t len, char **words, int *nwords)
{
	size_t i, start = 0;
	int n = 0;

	*nwords = 0;
	if (len == 0)
		return "empty request";
	if (msg[len - 1] != '\0')
		return "the last word is not NUL-terminated";
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)msg[i];

		if (ch != '\0') {
			if (ch < 0x20 || ch == 0x7f)
				return "a word contains a control character";
			continue;
		}
		if (i == start)
			return "empty word";
		if (n == RV_CTL_MAX_WORDS)
			return "too many words";
		words[n++] = msg + start;
		start = i + 1;
	}
	words[n] = NULL;
	*nwords = n;
	return NULL;
}

static void
run_handler(struct rv_ctl_server *srv, struct rv_ctl_request *req,
    struct rv_ctl_reply *reply)
{
	struct ctl_command *cmd;
	int r;

	if (strcmp(req->argv[0], "help") == 0) {
		help_handler(srv, req, reply);
		return;
	}
	if ((cmd = find_command(srv, req->argv[0])) == NULL) {
		rv_ctl_reply_error(reply, RV_CTL_EXIT_USAGE,
		    "unknown command '%.64s'; run 'revenantctl help'",
		    req->argv[0]);
		return;
	}
	r = cmd->fn(req, reply, cmd->arg);
	if (r < 0 && !reply->error)
		rv_ctl_reply_error(reply, RV_CTL_EXIT_FAILURE,
		    "command '%s' failed: %s", cmd->name, strerror(-r));
	if (reply->overflow && !reply->error)
		rv_ctl_reply_error(reply, RV_CTL_EXIT_FAILURE,
		    "the reply to '%s' exceeds %u MiB; narrow the request",
		    cmd->name, RV_CTL_MAX_REPLY >> 20);
}

/* Removes every --json word; returns whether there was one. */
static bool
strip_json_words(char **words, int *nwords)
{
	bool json = false;
	int i, j = 0;

	for (i = 0; i < *nwords; i++) {
		if (strcmp(words[i], RV_CTL_JSON_WORD) == 0)
			json = true;
		else
			words[j++] = words[i];
	}
	words[j] = NULL;
	*nwords = j;
	return json;
}

static void
dispatch(struct rv_ctl_server *srv, struct ctl_conn *conn, char *msg,
    size_t len, int fd)
{
	char *words[RV_CTL_MAX_WORDS + 1];
	struct rv_ctl_request req;
	const char *reason;
	int nwords;

	memset(&req, 0, sizeof(req));
	if ((reason = rv_ctl_parse_request(msg, len, words, &nwords)) == NULL) {
		req.json = strip_json_words(words, &nwords);
		if (nwords == 0)
			reason = "no command";
	}
	if (reason != NULL) {
		rv_warn("control client pid %d uid %u: invalid request: %s",
		    conn->pid, conn->uid, reason);
		rv_ctl_reply_error(&conn->out, RV_CTL_EXIT_USAGE,
		    "invalid request: %s", reason);
		return;
	}
	req.argc = nwords;
	req.argv = words;
	req.fd = fd;
	req.peer_uid = conn->uid;
	req.peer_pid = conn->pid;
	rv_debug("control client pid %d uid %u: command %.64s", conn->pid,
	    conn->uid, words[0]);
	run_handler(srv, &req, &conn->out);
}

/* Collects the SCM_RIGHTS descriptors of a message; returns how many. */
static int
take_fds(struct msghdr *mh, int *fds, int max)
{
	struct cmsghdr *cm;
	size_t k, nfd;
	int n = 0;

	for (cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (k = 0; k < nfd; k++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + k * sizeof(int), sizeof(fd));
			if (n < max)
				fds[n] = fd;
			else
				close(fd);
			n++;
		}
	}
	return n;
}

static void conn_flush(struct ctl_conn *conn);

/* Reads the request, runs it and starts sending the reply. */
static void
conn_read(struct rv_ctl_server *srv, struct ctl_conn *conn, bool hangup)
{
	char msg[RV_CTL_MAX_REQUEST];
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(4 * sizeof(int))];
	} control;
	struct iovec iov = { .iov_base = msg, .iov_len = sizeof(msg) };
	struct msghdr mh;
	int fds[4], nfds, i;
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = control.buf;
	mh.msg_controllen = sizeof(control.buf);
	n = recvmsg(conn->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			conn_close(conn);
		return;
	}
	nfds = take_fds(&mh, fds, 4);
	if (n == 0 && nfds == 0 && hangup) {
		/* The client closed without a request. */
		conn_close(conn);
		return;
	}
	conn->state = CONN_WRITING;
	conn->last_progress_ms = now_ms();
	if ((mh.msg_flags & MSG_TRUNC) != 0) {
		rv_warn("control client pid %d uid %u: invalid request: "
		    "longer than %d bytes", conn->pid, conn->uid,
		    RV_CTL_MAX_REQUEST);
		rv_ctl_reply_error(&conn->out, RV_CTL_EXIT_USAGE,
		    "invalid request: longer than %d bytes",
		    RV_CTL_MAX_REQUEST);
	} else if ((mh.msg_flags & MSG_CTRUNC) != 0 || nfds > 1) {
		rv_warn("control client pid %d uid %u: invalid request: more "
		    "than one file descriptor", conn->pid, conn->uid);
		rv_ctl_reply_error(&conn->out, RV_CTL_EXIT_USAGE,
		    "invalid request: more than one file descriptor");
	} else
		dispatch(srv, conn, msg, (size_t)n, nfds == 1 ? fds[0] : -1);
	for (i = 0; i < nfds && i < 4; i++)
		close(fds[i]);
	reply_seal(&conn->out);
	conn_flush(conn);
}

/* Sends what the socket takes now; closes the connection when done. */
static void
conn_flush(struct ctl_conn *conn)
{
	struct rv_ctl_reply *out = &conn->out;
	size_t chunk;
	ssize_t n;

	while (conn->out_off < out->len) {
		if (conn->out_off == 0)
			chunk = RV_CTL_HEADER_LEN;
		else if (out->len - conn->out_off > RV_CTL_MAX_CHUNK)
			chunk = RV_CTL_MAX_CHUNK;
		else
			chunk = out->len - conn->out_off;
		n = send(conn->fd, out->buf + conn->out_off, chunk,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR)
				return;
			rv_debug("control client pid %d: reply not sent: %s",
			    conn->pid, strerror(errno));
			conn_close(conn);
			return;
		}
		/* A SOCK_SEQPACKET send is all or nothing. */
		conn->out_off += (size_t)n;
		conn->last_progress_ms = now_ms();
	}
	conn_close(conn);
}

/* Sends a busy error to a client that exceeds RV_CTL_MAX_CLIENTS. */
static void
reject_busy(int fd)
{
	struct rv_ctl_reply reply;

	if (reply_init(&reply) != 0)
		return;
	rv_ctl_reply_error(&reply, RV_CTL_EXIT_FAILURE,
	    "revenantd is busy: %d control connections are open; try again",
	    RV_CTL_MAX_CLIENTS);
	reply_seal(&reply);
	/* Best effort: both messages are small, the socket is new. */
	if (send(fd, reply.buf, RV_CTL_HEADER_LEN,
	    MSG_DONTWAIT | MSG_NOSIGNAL) == RV_CTL_HEADER_LEN)
		send(fd, reply.buf + RV_CTL_HEADER_LEN,
		    reply.len - RV_CTL_HEADER_LEN,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
	reply_free(&reply);
}

static struct ctl_conn *
free_conn(struct rv_ctl_server *srv)
{
	int i;

	for (i = 0; i < RV_CTL_MAX_CLIENTS; i++) {
		if (srv->conns[i].state == CONN_FREE)
			return &srv->conns[i];
	}
	return NULL;
}

static void
server_accept(struct rv_ctl_server *srv)
{
	struct ucred cred;
	socklen_t clen;
	struct ctl_conn *conn;
	int fd, i;

	for (i = 0; i < MAX_ACCEPTS_PER_POLL; i++) {
		fd = accept4(srv->listen_fd, NULL, NULL,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				rv_warn("control socket %s: accept failed: %s",
				    srv->path, strerror(errno));
			return;
		}
		clen = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0 ||
		    (cred.uid != 0 && cred.uid != geteuid())) {
			rv_warn("control socket %s: rejected a client of uid "
			    "%d: only root may connect", srv->path,
			    clen == sizeof(cred) ? (int)cred.uid : -1);
			close(fd);
			continue;
		}
		if ((conn = free_conn(srv)) == NULL) {
			rv_warn("control socket %s: rejected client pid %d: "
			    "%d connections open", srv->path, (int)cred.pid,
			    RV_CTL_MAX_CLIENTS);
			reject_busy(fd);
			close(fd);
			continue;
		}
		if (reply_init(&conn->out) != 0) {
			close(fd);
			continue;
		}
		conn->fd = fd;
		conn->state = CONN_READING;
		conn->uid = cred.uid;
		conn->pid = cred.pid;
		conn->out_off = 0;
		conn->last_progress_ms = now_ms();
	}
}

/* Closes connections without progress; returns ms until the next expiry. */
static int
expire_idle(struct rv_ctl_server *srv)
{
	uint64_t now = now_ms(), deadline;
	int i, next = -1;

	for (i = 0; i < RV_CTL_MAX_CLIENTS; i++) {
		struct ctl_conn *conn = &srv->conns[i];

		if (conn->state == CONN_FREE)
			continue;
		deadline = conn->last_progress_ms + RV_CTL_IDLE_TIMEOUT_MS;
		if (now >= deadline) {
			rv_warn("control client pid %d: closed after %d ms "
			    "without progress (%s)", conn->pid,
			    RV_CTL_IDLE_TIMEOUT_MS,
			    conn->state == CONN_READING ? "no request" :
			    "reply not read");
			conn_close(conn);
			continue;
		}
		if (next < 0 || deadline - now < (uint64_t)next)
			next = (int)(deadline - now);
	}
	return next;
}

int
rv_ctl_server_poll(struct rv_ctl_server *srv, int timeout_ms)
{
	struct pollfd pfd[RV_CTL_MAX_CLIENTS + 1];
	int slot[RV_CTL_MAX_CLIENTS + 1];
	int n = 0, i, next, handled = 0;

	next = expire_idle(srv);
	if (next >= 0 && (timeout_ms < 0 || next < timeout_ms))
		timeout_ms = next;
	pfd[n].fd = srv->listen_fd;
	pfd[n].events = POLLIN;
	slot[n++] = -1;
	for (i = 0; i < RV_CTL_MAX_CLIENTS; i++) {
		struct ctl_conn *conn = &srv->conns[i];

		if (conn->state == CONN_FREE)
			continue;
		pfd[n].fd = conn->fd;
		pfd[n].events = conn->state == CONN_READING ? POLLIN : POLLOUT;
		slot[n++] = i;
	}
	if (poll(pfd, (nfds_t)n, timeout_ms) < 0)
		return errno == EINTR ? 0 : -errno;
	for (i = 1; i < n; i++) {
		struct ctl_conn *conn = &srv->conns[slot[i]];

		if (pfd[i].revents == 0)
			continue;
		if (conn->state == CONN_READING) {
			conn_read(srv, conn,
			    (pfd[i].revents & POLLHUP) != 0);
			handled++;
		} else if (conn->state == CONN_WRITING)
			conn_flush(conn);
	}
	if (pfd[0].revents != 0)
		server_accept(srv);
	expire_idle(srv);
	return handled;
}
