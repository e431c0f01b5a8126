/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef RV_CTL_SERVER_H
#define RV_CTL_SERVER_H

/*
 * Daemon side of the control socket (wire format in ctl_proto.h).
 *
 * Every function here must be called from one thread, the daemon's main
 * thread, never from a packet-processing lcore.  Nothing blocks: sockets
 * are non-blocking, a reply that the client does not read yet waits in a
 * per-connection buffer, and a connection without progress for
 * RV_CTL_IDLE_TIMEOUT_MS is closed.  Handlers run synchronously inside
 * rv_ctl_server_poll(), so they must be quick: a long job (a migration)
 * starts in the handler and reports its progress through later commands.
 *
 * Typical use in the main loop:
 *
 *	srv = rv_ctl_server_open(path, &err);
 *	rv_ctl_server_register(srv, "stats", "stats", cmd_stats, ctx);
 *	while (running)
 *		rv_ctl_server_poll(srv, 100);
 *	rv_ctl_server_close(srv);
 */

#include <stdbool.h>
#include <stddef.h>

struct rv_json;
struct rv_table;

struct rv_ctl_server;
struct rv_ctl_reply;

/* One request, valid only during the handler call. */
struct rv_ctl_request {
	int argc;		/* >= 1 */
	char **argv;		/* argv[0] is the command, argv[argc] NULL */
	bool json;		/* the client passed --json */
	/*
	 * The file descriptor that came with the request, or -1.  The server
	 * closes it after the handler returns, so a handler that writes to
	 * it later (a dump spread over several loop turns) keeps a dup(2).
	 */
	int fd;
	unsigned int peer_uid;	/* from SO_PEERCRED */
	int peer_pid;
};

/*
 * Handles one request and fills reply.  Returns 0, or a negative errno
 * value: if the handler did not call rv_ctl_reply_error(), the client then
 * gets "command 'X' failed: <strerror>" with exit code 1.
 */
typedef int (*rv_ctl_handler)(const struct rv_ctl_request *req,
    struct rv_ctl_reply *reply, void *arg);

/*
 * Creates the control socket at path and starts listening.  Creates the
 * parent directory (mode 0755) if it is missing; the socket file gets mode
 * 0600, and only peers with uid 0 or the daemon's own uid are served.  A
 * socket file that nothing answers on (left by a crash) is replaced; if a
 * process accepts on it, fails with -EADDRINUSE and logs "another
 * revenantd is listening on PATH".  Returns the server, or NULL with *err
 * set to a negative errno value (the cause is logged).
 */
struct rv_ctl_server *rv_ctl_server_open(const char *path, int *err);

/*
 * Closes every connection and the socket, and unlinks the socket file if
 * it is still ours.  Accepts NULL.
 */
void rv_ctl_server_close(struct rv_ctl_server *srv);

/* The listening socket, for callers that add it to their own poll set. */
int rv_ctl_server_fd(const struct rv_ctl_server *srv);

/*
 * Waits up to timeout_ms (0: do not wait; negative: until something
 * happens, but never past the next idle deadline) for activity, then
 * accepts new connections, reads and validates requests, runs their
 * handlers and sends pending replies.  Returns the number of requests
 * handled (rejected ones included), or a negative errno value if poll(2)
 * failed.  EINTR returns 0.
 */
int rv_ctl_server_poll(struct rv_ctl_server *srv, int timeout_ms);

/*
 * Registers a command.  name: lower-case letters, digits and '-', at most
 * RV_CTL_MAX_COMMAND_NAME bytes, not "help" (built in).  usage: one line
 * for "revenantctl help", such as "flow ID  show one flow" (copied).
 * Returns 0, -EEXIST if the name is taken, -EINVAL or -ENOMEM.
 */
int rv_ctl_server_register(struct rv_ctl_server *srv, const char *command,
    const char *usage, rv_ctl_handler fn, void *arg);

/*
 * Reply builders, for use inside a handler.  The body is capped at
 * RV_CTL_MAX_REPLY bytes: past it these return -EMSGSIZE and the client
 * gets an error instead of a cut body.  Return 0 or a negative errno value.
 */
int rv_ctl_reply_printf(struct rv_ctl_reply *reply, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int rv_ctl_reply_write(struct rv_ctl_reply *reply, const void *buf,
    size_t len);

/*
 * Appends a finished JSON document (see json_writer.h).  Returns -EINVAL,
 * and sets an error reply, if the writer recorded an error.
 */
int rv_ctl_reply_json(struct rv_ctl_reply *reply, const struct rv_json *w);

/* Renders a table (see text_table.h) into the body. */
int rv_ctl_reply_table(struct rv_ctl_reply *reply, const struct rv_table *t);

/*
 * Makes the reply an error: discards the body so far and sets the message
 * (a newline is added) and exit_code (RV_CTL_EXIT_FAILURE,
 * RV_CTL_EXIT_USAGE, or up to RV_CTL_MAX_EXIT_CODE; others become 1).
 * Returns 0 or -ENOMEM.
 */
int rv_ctl_reply_error(struct rv_ctl_reply *reply, int exit_code,
    const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Splits a request message (len bytes, from a client) into NUL-terminated
 * words in place.  words must hold RV_CTL_MAX_WORDS + 1 pointers; the list
 * ends with NULL.  Returns NULL on success, or a static string naming why
 * the request is malformed.  Pure: exposed for the fuzz target.
 */
const char *rv_ctl_parse_request(char *msg, size_t len, char **words,
    int *nwords);

#endif
