/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef REVENANT_EXPORT_H
#define REVENANT_EXPORT_H

/*
 * Checkpoint export in the process that runs a connection: stream byte
 * counters, the triggers (authentication, NEWKEYS, channel changes, data
 * volume and time) and the serialization of the transport and channel
 * state into the session part of the content (revenant-state.h). Signing,
 * encryption and sending happen in the privileged monitor
 * (revenant-monitor.h), which this side only requests.
 *
 * One connection per process, as sshd has it, so the state is global.
 * Everything runs on sshd's single thread. Functions do nothing unless
 * RevenantCheckpoints is on and rv_export_session_start() has run.
 * packet.c counts the stream bytes, because the packet layer is shared
 * with the client programs, which do not link this file.
 */

#include <sys/types.h>

#include <stdint.h>
#include <time.h>

struct ssh;
struct sshbuf;
struct newkeys;

/* Packet layer facts that packet.c fills for a checkpoint. */
struct rv_packet_view {
	struct newkeys	*newkeys[2];	/* MODE_IN, MODE_OUT */
	uint32_t	 seqnr[2];
	uint64_t	 packets[2];	/* packets since the keys were set */
	uint64_t	 blocks[2];	/* cipher blocks since then */
	uint64_t	 bytes[2];
	uint64_t	 max_blocks[2];
	uint64_t	 rekey_limit;	/* bytes, 0: the cipher's default */
	uint32_t	 rekey_interval;	/* seconds */
	/* Bytes read from and written to the socket since the connection
	 * began, identification strings and MACs included. */
	uint64_t	 stream_in;
	uint64_t	 stream_out;
	size_t		 input_len;	/* received bytes not yet parsed */
	size_t		 output_len;	/* encrypted bytes not yet written */
	int		 mid_packet;	/* part of an incoming packet decrypted */
	int		 rekeying;
};

/*
 * Fills view from the packet state of ssh without touching the cipher
 * contexts, so the live connection is never disturbed. Defined in
 * packet.c, which owns struct session_state.
 */
void	ssh_packet_revenant_view(struct ssh *ssh, struct rv_packet_view *view);

/*
 * Starts export for the authenticated session and sends the first
 * checkpoint. user is the authenticated user; it is only used when no
 * monitor runs (privsep off, e.g. a root login), where this process is
 * privileged itself. Call once the key state is applied, before the first
 * packet of the session is sent.
 */
void	rv_export_session_start(struct ssh *ssh, const char *user,
	    int have_monitor);

/*
 * Called through the packet layer's newkeys hook by ssh_set_newkeys() for mode (MODE_IN or MODE_OUT) once the new
 * keys are installed. Sends a checkpoint synchronously, flagged
 * RV_CKPT_FLAG_AFTER_NEWKEYS, before any packet under the new keys leaves.
 */
void	rv_export_newkeys(struct ssh *ssh, int mode);

/* Notes that channel or session state changed; the server loop then
 * sends a checkpoint at the next packet boundary. */
void	rv_export_mark_changed(void);

/*
 * Records what session channel chanid runs: command is NULL for a shell;
 * is_subsystem is the Session's is_subsystem. Called from do_exec().
 */
void	rv_export_note_exec(int chanid, const char *command, int is_subsystem);

/*
 * Sends the checkpoints that are due: after a change, or periodic ones
 * (RevenantCheckpointInterval, RevenantCheckpointBytes). Only at a packet
 * boundary, and periodic ones only when neither the packet layer nor the
 * socket holds unsent bytes. Called at the top of the server loop.
 */
void	rv_export_poll(struct ssh *ssh);

/* Lowers the ppoll() timeout pt of the server loop to the next time
 * rv_export_poll() may have work. */
void	rv_export_poll_deadline(struct ssh *ssh, struct timespec *pt);

#endif /* REVENANT_EXPORT_H */
