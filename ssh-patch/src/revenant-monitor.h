/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef REVENANT_MONITOR_H
#define REVENANT_MONITOR_H

/*
 * The privileged half of checkpoint export: the monitor (or the listener
 * for heartbeats) adds what it alone may vouch for, the authenticated user
 * and the SSH session identifier, builds the cleartext header from the
 * socket addresses it holds, signs with the Ed25519 host key, seals the
 * content for each recovery key and sends the datagrams from a UDP socket
 * of its own (docs/checkpoint-format.md). The session process only hands
 * over its serialized transport and channel state, so a user who controls
 * that process cannot make a checkpoint that resumes as somebody else.
 *
 * All of it runs on sshd's single thread. Failures are logged and the
 * checkpoint is dropped: export never ends a connection.
 */

#include <sys/types.h>

#include <stdint.h>
#include <time.h>

struct ssh;
struct sshbuf;

/*
 * Session process side: requests that the monitor export the session part
 * (session, len bytes) with the header flags. With wait non-zero it blocks
 * until the monitor has sent the datagrams or given up. With wait zero the
 * monitor sends no answer, so the session process goes on while the
 * monitor signs and encrypts; requests are still handled in order.
 */
void	rv_monitor_request_checkpoint(const uint8_t *session, size_t len,
	    uint32_t flags, int wait);

/*
 * Monitor side of MONITOR_REQ_REVENANT_CKPT: parses the request in m and
 * exports it for user and the session identifier sid (sid_len bytes),
 * which the monitor keeps itself. Leaves m empty. Returns 1 if the session
 * process waits for MONITOR_ANS_REVENANT_CKPT, 0 if it does not.
 */
int	rv_monitor_answer_checkpoint(struct ssh *ssh, struct sshbuf *m,
	    const char *user, const uint8_t *sid, size_t sid_len);

/*
 * Checks the session part, then builds, signs, encrypts and sends one
 * checkpoint. Must run in a process that holds the host private key (the
 * monitor, or the session process when privilege separation is off).
 * Returns 0 or -1 after logging why.
 */
int	rv_monitor_emit(struct ssh *ssh, const char *user, const uint8_t *sid,
	    size_t sid_len, const uint8_t *session, size_t len, uint32_t flags);

/*
 * Listener: returns the ppoll() timeout until the next heartbeat, or NULL
 * when heartbeats are off. The pointer stays valid until the next call.
 */
struct timespec *rv_heartbeat_timeout(void);

/*
 * Listener: sends a heartbeat if one is due. listen_sock names the
 * address and port that the heartbeat reports as the server's.
 */
void	rv_heartbeat_tick(int listen_sock);

/* Listener: counts a connection process forked. */
void	rv_heartbeat_child_started(void);

/* Listener, from the SIGCHLD handler: counts a process reaped. Async
 * signal safe. */
void	rv_heartbeat_child_exited(pid_t pid);

#endif /* REVENANT_MONITOR_H */
