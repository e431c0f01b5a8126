/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef RV_TCP_REPAIR_H
#define RV_TCP_REPAIR_H

/*
 * Recreating an established TCP connection with the Linux TCP_REPAIR socket
 * options (Linux 3.5 and later, TCP_REPAIR_WINDOW from 4.8, IPV6_FREEBIND
 * from 4.15), so a backup host continues a connection at exactly the
 * sequence numbers that the primary host had. Both calls need
 * CAP_NET_ADMIN in the network namespace of the socket.
 *
 * Terms follow RFC 9293 section 3.3.1, seen from the server (the side being
 * restored): "send" is server to client, "receive" is client to server. All
 * sequence numbers are host byte order and compare modulo 2^32.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Smallest MSS that the kernel accepts (TCP_MIN_MSS). */
#define RV_TCP_REPAIR_MIN_MSS		88
/* Largest window shift, RFC 7323 section 2.3. */
#define RV_TCP_REPAIR_MAX_WSCALE	14
/* Cap on each queue of a restore, 64 MiB: ten times Linux's default
 * maximum receive buffer (tcp_rmem, 6 MiB). */
#define RV_TCP_REPAIR_MAX_QUEUE		(64u << 20)

/* The state of one connection to recreate, as the server side had it. */
struct rv_tcp_restore {
	/* Server address and port (bound) and client address and port. */
	struct sockaddr_storage local;
	struct sockaddr_storage remote;

	/*
	 * snd_seq: sequence number after the last server byte sent (SND.NXT).
	 * snd_una: oldest server byte the client has not acknowledged. The
	 * bytes between them are unacked_send, so unacked_send_len must equal
	 * snd_seq - snd_una.
	 * rcv_nxt: next client byte expected (RCV.NXT), the end of recv_queue.
	 */
	uint32_t snd_seq;
	uint32_t snd_una;
	uint32_t rcv_nxt;

	/* MSS the client announced in its SYN, or 536 when it sent none. */
	uint16_t mss;
	/*
	 * Window shifts (RFC 7323 section 2): snd_wscale is the client's, so
	 * it scales the windows the client advertises; rcv_wscale is the
	 * server's. Used only when wscale_ok (both SYNs carried the option).
	 */
	uint8_t snd_wscale;
	uint8_t rcv_wscale;
	bool wscale_ok;
	bool sack_ok;
	bool ts_ok;

	/*
	 * TSval of the first segment the restored socket sends, in the
	 * primary's timestamp clock (ms). It must be at least the primary's
	 * last TSval, plus the time since then for PAWS (RFC 7323 section 5)
	 * to stay correct, or the client drops every segment. Used only when
	 * ts_ok.
	 */
	uint32_t ts_val;
	/*
	 * Client's last TSval. NOTE: Linux has no way to set it, because the
	 * timestamp repair option only turns timestamps on, so the restore
	 * ignores it. The socket echoes 0 until the first client segment
	 * arrives, and PAWS on both sides accepts that.
	 */
	uint32_t ts_recent;

	/* Client's advertised window and the server's last one, in bytes
	 * (already scaled). */
	uint32_t snd_wnd;
	uint32_t rcv_wnd;

	/* Server bytes [snd_una, snd_seq), queued as already sent. */
	const uint8_t *unacked_send;
	size_t unacked_send_len;
	/*
	 * Client bytes that the server application has not read yet, whether
	 * the primary acknowledged them or not; they end at rcv_nxt and the
	 * restored socket acknowledges them all.
	 */
	const uint8_t *recv_queue;
	size_t recv_queue_len;
};

/* A live socket's state as rv_tcp_repair_dump() read it. */
struct rv_tcp_dump {
	/* The state; its queue pointers point into the buffers below. */
	struct rv_tcp_restore state;
	/* TCP_TIMESTAMP when dumped: the TSval the socket would send now. */
	uint32_t ts_now;
	uint8_t *send_buf;
	uint8_t *recv_buf;
};

/*
 * Creates a socket in state ESTABLISHED that continues the connection `r`
 * describes, bound to r->local (which need not be a local address yet,
 * IP_FREEBIND) and connected to r->remote. No segment leaves the host before
 * the last step, which clears repair mode: the kernel then sends one window
 * probe. The unacknowledged server bytes are queued in repair mode and count
 * as sent, so the retransmission timer (1 s at first) resends whatever the
 * client has not acknowledged by then.
 *
 * r: the state; the caller keeps ownership of it and of its buffers, which
 *    are copied before return.
 * fd_out: set to the new blocking socket on success, owned by the caller.
 * why, why_len: on failure receives "<step>: <strerror>" (may be NULL).
 *
 * Returns 0, -EINVAL when `r` is inconsistent (families differ, a queue
 * length does not match its sequence numbers, an option out of range), or
 * the negative errno of the failing system call (-EPERM without
 * CAP_NET_ADMIN). Thread-safe; it blocks only on socket calls, which do
 * not wait for the peer.
 */
int rv_tcp_repair_restore(const struct rv_tcp_restore *r, int *fd_out,
    char *why, size_t why_len);

/*
 * Puts the established socket `fd` into repair mode and reads its state:
 * addresses, sequence numbers, options, windows, the TSval it would send
 * now, and copies of both queues (send bytes from snd_una on, receive bytes
 * the application has not read). ts_recent is left 0 because the kernel
 * does not expose it. NOTE: the out-of-order queue is not read; the client
 * sends those bytes again.
 *
 * The socket stays in repair mode, so it sends nothing more: close() then
 * drops it with no FIN or RST, and setting TCP_REPAIR to TCP_REPAIR_OFF
 * resumes it.
 *
 * out: filled on success; release it with rv_tcp_dump_free().
 * why, why_len: as for rv_tcp_repair_restore().
 *
 * Returns 0, -ENOTCONN when the socket is not ESTABLISHED, -ENOMEM, or the
 * negative errno of the failing system call. On failure the socket may be
 * in repair mode already.
 */
int rv_tcp_repair_dump(int fd, struct rv_tcp_dump *out, char *why,
    size_t why_len);

/* Releases the buffers of `d` and zeroes it. NULL is accepted. */
void rv_tcp_dump_free(struct rv_tcp_dump *d);

#endif
