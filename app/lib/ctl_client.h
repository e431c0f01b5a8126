/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef RV_CTL_CLIENT_H
#define RV_CTL_CLIENT_H

/*
 * Client side of the control socket (wire format in ctl_proto.h), used by
 * revenantctl and the tests.  Blocking calls bounded by a deadline; no
 * global state, so any thread may use its own connection.  Every failure
 * writes a message for the operator into err: what failed, on which path,
 * and what to do.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct rv_ctl_status {
	bool ok;
	int exit_code;		/* 0 when ok, else 1..RV_CTL_MAX_EXIT_CODE */
	uint64_t body_len;	/* bytes announced by the header */
};

/*
 * Receives one piece of the reply body; st is already filled in.  Returns
 * 0 to go on, or a negative errno value to stop (rv_ctl_client_call then
 * returns it).
 */
typedef int (*rv_ctl_body_fn)(const struct rv_ctl_status *st,
    const void *buf, size_t len, void *arg);

/*
 * Connects to the daemon at path within timeout_ms.  Returns the socket, or
 * a negative errno value with the reason in err: -ENOENT and -ECONNREFUSED
 * mean no daemon listens there, -EACCES that the caller is not root,
 * -ETIMEDOUT that the daemon did not accept in time.
 */
int rv_ctl_client_connect(const char *path, int timeout_ms, char *err,
    size_t errlen);

/*
 * Sends the request words argv[0..argc-1] and, if pass_fd >= 0, a copy of
 * that descriptor.  Checks the limits of ctl_proto.h first.  Returns 0 or a
 * negative errno value (-EINVAL for an invalid request, -EMSGSIZE if too
 * long) with err filled in.
 */
int rv_ctl_client_send(int fd, int argc, const char *const *argv,
    int pass_fd, char *err, size_t errlen);

/*
 * Receives the reply: the status into *st, then the body to fn in pieces,
 * until the server closes the connection.  Returns 0 when a complete and
 * well-formed reply arrived (whatever its status), -ETIMEDOUT when
 * timeout_ms passed first, -EBADMSG if the reply is malformed or shorter
 * than announced, or the error that fn returned.
 */
int rv_ctl_client_recv(int fd, int timeout_ms, struct rv_ctl_status *st,
    rv_ctl_body_fn fn, void *arg, char *err, size_t errlen);

/*
 * Connects, sends, receives and closes, all within timeout_ms.  Returns as
 * rv_ctl_client_recv() does, or a connect or send error.
 */
int rv_ctl_client_call(const char *path, int argc, const char *const *argv,
    int pass_fd, int timeout_ms, struct rv_ctl_status *st,
    rv_ctl_body_fn fn, void *arg, char *err, size_t errlen);

/*
 * A body callback that writes every piece to the FILE * given as arg.
 * Returns -EIO if the write fails.
 */
int rv_ctl_client_write_file(const struct rv_ctl_status *st,
    const void *buf, size_t len, void *arg);

/* The socket path to use: the environment variable RV_CTL_SOCKET_ENV if
 * set and not empty, else RV_CTL_DEFAULT_SOCKET. */
const char *rv_ctl_client_default_path(void);

#endif
