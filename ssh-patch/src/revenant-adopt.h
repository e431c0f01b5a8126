/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef REVENANT_ADOPT_H
#define REVENANT_ADOPT_H

/*
 * Adoption of live SSH connections on a backup host (docs/ssh-adoption.md).
 * revenant-agent passes a restored TCP socket and the adopt message over
 * the Unix socket RevenantAdoptSocket. The listener forks a child for it as
 * for a new connection. The child decrypts the checkpoints with the
 * RevenantRecoveryKey, verifies them with this host's Ed25519 host key,
 * rebuilds the packet state without a key exchange, follows the logged
 * packets of both directions to the moment of the failure and then takes
 * upstream's post-authentication path: a monitor and a session process
 * with the user's privileges, which recreates the channels.
 *
 * These run inside sshd and use its log.h; the listener and the adopting
 * child are single-threaded.
 */

#include <sys/types.h>

#include <stdint.h>

struct ssh;
struct Authctxt;
struct monitor;
struct Channel;

/* RevenantAdoptSocket and RevenantRecoveryKey, NULL while unset. */
struct rv_adopt_options {
	char	*socket_path;		/* absolute path of the Unix socket */
	char	*recovery_key_file;	/* absolute path, the private key */
};

void	rv_adopt_servconf_init(struct rv_adopt_options *ao);

/*
 * Parses the argument of a RevenantAdoptSocket or RevenantRecoveryKey
 * line, consuming it from *acp and *avp. The first value wins, and a
 * value is stored only when active is non-zero. Logs an error naming
 * filename and linenum and returns -1 on a missing or relative path;
 * returns 0 otherwise.
 */
int	rv_adopt_servconf_parse(struct rv_adopt_options *ao,
	    const char *keyword, int *acp, char ***avp, const char *filename,
	    int linenum, int active);

/* Checks that both options are set or neither; fatal() otherwise. */
void	rv_adopt_servconf_check(const struct rv_adopt_options *ao);

/* Prints both options in "sshd -T" form. */
void	rv_adopt_servconf_dump(const struct rv_adopt_options *ao);

/*
 * Creates, in the listener, the Unix socket of RevenantAdoptSocket (mode
 * 0600, a stale file is replaced). Returns its descriptor, or -1 when the
 * option is unset; fatal() when the socket cannot be made.
 */
int	rv_adopt_listen(void);

/* Marks this process as the child that adopts the agent connection fd. */
void	rv_adopt_child_start(int fd);

/* Returns 1 in a child that adopts a connection, 0 otherwise. */
int	rv_adopt_active(void);

/*
 * Reads the adopt message from the agent connection and returns the TCP
 * socket it passed. Exits the process when the message is invalid.
 */
int	rv_adopt_receive(void);

/*
 * Rebuilds the connection in the still privileged adopting child: picks
 * and verifies a checkpoint, checks its user like a login, follows the
 * logged packets, hands the packet state to the monitor code and answers
 * the agent. hostkey_types is the server's host key algorithm list.
 * Sets authctxt->pw, user and valid. Exits the process on failure, after
 * answering the agent.
 */
void	rv_adopt_prepare(struct ssh *ssh, struct Authctxt *authctxt,
	    struct monitor *pmonitor, char *hostkey_types);

/*
 * Recreates the channels of the checkpoint in the session process, after
 * the packet state is applied and privileges are dropped: a pty shell
 * gets a fresh login shell behind a notice line, every other channel is
 * closed. fatal() on an internal error.
 */
void	rv_adopt_resume(struct ssh *ssh, struct Authctxt *authctxt);

/*
 * Returns the highest number among the primary's checkpoints of the
 * adopted connection that verified, 0 outside an adopted connection. The
 * checkpoints this host exports for it must be numbered above it:
 * revenantd files only growing numbers per connection.
 */
uint64_t rv_adopt_last_checkpoint_number(void);

/*
 * Returns 1 once for a channel that rv_adopt_resume() is activating, whose
 * windows the client already knows: session_set_fds() then activates it
 * with channel_set_fds_adopted(), which sends no window adjustment.
 * Returns 0 otherwise.
 */
int	rv_adopt_channel_keeps_window(int id);

#endif
