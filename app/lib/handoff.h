/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef RV_HANDOFF_H
#define RV_HANDOFF_H

/*
 * The handoff protocol between the appliance (revenantd) and the
 * revenant-agent of a backup host, over TCP on the management network.
 * docs/handoff-protocol.md describes the wire format; in short:
 *
 *   agent -> appliance   CHALLENGE: 32 fresh random bytes
 *   appliance -> agent   HANDOFF: the connections, the challenge, an
 *                        Ed25519 signature with the appliance's key
 *   agent -> appliance   RESULT: restored or failed, per connection,
 *                        or REJECT with a reason for the whole handoff
 *
 * Every message is a frame: a 4-byte big-endian payload length, then the
 * payload, which starts with a version byte and a type byte.
 *
 * Pure C and libcrypto, no DPDK. Decoded structs point into the buffer they
 * were decoded from, so that buffer must outlive them. Every function is
 * reentrant; nothing here logs.
 *
 * Errors are negative errno values:
 *   -EAGAIN           incomplete: more bytes are needed (frame reader only)
 *   -EBADMSG          malformed: a length overruns the message, a value is
 *                     out of range, or bytes trail the last field
 *   -E2BIG            a frame, a field or a count is over its cap
 *   -EPROTONOSUPPORT  unknown version, or a message of another type
 *   -ENOKEY           the handoff names an appliance without a key here
 *   -EKEYREJECTED     the signature does not verify
 *   -ESTALE           the signed challenge is not the one this connection
 *                     sent: a replayed or misdirected handoff
 *   -ENOMEM, -EINVAL  out of memory, invalid argument
 * rv_handoff_strerror() turns each into a short phrase for log lines.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "addr.h"

#define RV_HANDOFF_VERSION		1

#define RV_HANDOFF_TYPE_CHALLENGE	1
#define RV_HANDOFF_TYPE_HANDOFF		2
#define RV_HANDOFF_TYPE_RESULT		3
#define RV_HANDOFF_TYPE_REJECT		4

/* Bytes of the frame's length prefix. */
#define RV_HANDOFF_FRAME_HEADER		4
#define RV_HANDOFF_CHALLENGE_LEN	32
#define RV_HANDOFF_SIGNATURE_LEN	64	/* Ed25519, RFC 8032 section 5.1.6 */
#define RV_HANDOFF_PUBLIC_KEY_LEN	32

/* Hard caps of the format; an agent configures lower ones. */
#define RV_HANDOFF_MAX_MESSAGE		(256u << 20)	/* bytes of one payload */
#define RV_HANDOFF_MAX_CONNECTIONS	4096		/* per handoff */
#define RV_HANDOFF_NAME_MAX		64	/* bytes of a name, no NUL */
#define RV_HANDOFF_REASON_MAX		200	/* bytes of a reason, no NUL */
/* Bytes of a CHALLENGE payload: version, type, challenge. */
#define RV_HANDOFF_CHALLENGE_MSG_LEN	(2 + RV_HANDOFF_CHALLENGE_LEN)

/* Bytes of one direction's log, with their offset in that stream. */
struct rv_handoff_log {
	/*
	 * Offset of data[0] in its byte stream, counted from the stream's
	 * first byte (for SSH, the identification string) from 0.
	 */
	uint64_t offset;
	const uint8_t *data;
	size_t len;
};

/*
 * One connection to continue, seen from the server. Sequence numbers are
 * host byte order; RFC 9293 section 3.3.1 names: "send" is server to
 * client, "receive" is client to server.
 */
struct rv_handoff_conn {
	struct rv_endpoint server;	/* the address that moves */
	struct rv_endpoint client;

	/* Handshake options (RFC 7323, RFC 2018). */
	uint16_t mss;			/* the client's, 536 when it sent none */
	uint8_t client_wscale;		/* shift the client announced */
	uint8_t server_wscale;		/* shift the server announced */
	bool wscale_ok;			/* both SYNs carried window scale */
	bool sack_ok;
	bool ts_ok;

	uint32_t snd_una;		/* oldest server byte not acknowledged */
	uint32_t snd_nxt;		/* after the last server byte sent */
	uint32_t rcv_nxt;		/* next client byte the server reads */
	uint32_t snd_wnd;		/* client's window, bytes (scaled) */
	uint32_t rcv_wnd;		/* server's window, bytes (scaled) */

	uint32_t client_ts_val;		/* client's last TSval */
	uint32_t server_ts_val;		/* server's last TSval seen */
	uint32_t server_ts_age_ms;	/* how long ago it was seen, ms */

	/*
	 * Logged bytes that the adopting service replays: client to server
	 * and server to client. The s2c log ends at snd_nxt.
	 */
	struct rv_handoff_log c2s;
	struct rv_handoff_log s2c;

	/* Client bytes for the restored receive queue; they end at rcv_nxt. */
	const uint8_t *recv_queue;
	size_t recv_queue_len;
	/* Server bytes [snd_una, snd_nxt), sent again after the restore. */
	const uint8_t *unacked;
	size_t unacked_len;
	/* Opaque to the agent and to this module: passed to the service. */
	const uint8_t *material;
	size_t material_len;
};

/* One handoff: one server identity and its connections. */
struct rv_handoff {
	char appliance[RV_HANDOFF_NAME_MAX + 1];  /* the signing key's name */
	uint64_t id;			/* chosen by the appliance, for logs */
	struct rv_addr server;		/* the identity (address) that moves */
	struct rv_handoff_conn *conns;	/* decode: calloc'ed, see _clear() */
	size_t conn_count;
};

/* Caps a decoder applies, each at most the format's hard cap. */
struct rv_handoff_limits {
	size_t max_message;		/* payload bytes */
	size_t max_connections;
};

/* Per-connection outcome in a RESULT. */
enum rv_handoff_status {
	RV_HANDOFF_RESTORED = 0,
	RV_HANDOFF_FAILED = 1,
};

struct rv_handoff_result {
	enum rv_handoff_status status;
	char reason[RV_HANDOFF_REASON_MAX + 1];	/* empty when restored */
};

/* A decoded RESULT or REJECT. */
struct rv_handoff_reply {
	bool rejected;			/* REJECT: nothing was restored */
	char reason[RV_HANDOFF_REASON_MAX + 1];	/* REJECT only */
	uint64_t id;			/* RESULT: the handoff's id */
	struct rv_handoff_result *results;	/* RESULT: calloc'ed */
	size_t result_count;
};

/* An appliance key that the agent accepts. */
struct rv_handoff_key {
	const char *name;
	EVP_PKEY *key;			/* Ed25519 public key */
};

/* Returns a short phrase for a negative code of this module. */
const char *rv_handoff_strerror(int rc);

/*
 * Reads the frame header in buf (len bytes so far). Sets *payload_len.
 * Returns 0, -EAGAIN when fewer than RV_HANDOFF_FRAME_HEADER bytes are
 * there, -E2BIG when the payload would exceed max, or -EBADMSG when the
 * payload length is 0.
 */
int rv_handoff_frame_length(const uint8_t *buf, size_t len, size_t max,
    size_t *payload_len);

/*
 * Writes a CHALLENGE payload (RV_HANDOFF_CHALLENGE_MSG_LEN bytes) into out
 * from challenge. rv_handoff_challenge_decode() checks one and copies the
 * challenge out. Return 0, or -EBADMSG / -EPROTONOSUPPORT.
 */
void rv_handoff_challenge_encode(const uint8_t challenge[RV_HANDOFF_CHALLENGE_LEN],
    uint8_t out[RV_HANDOFF_CHALLENGE_MSG_LEN]);
int rv_handoff_challenge_decode(const uint8_t *msg, size_t len,
    uint8_t challenge[RV_HANDOFF_CHALLENGE_LEN]);

/*
 * Encodes h as a signed HANDOFF payload (without the frame header) that
 * answers challenge, signed with key (an Ed25519 private key).
 * h->appliance is the name the agent looks the key up by. Checks what a
 * decoder would check (caps, ranges, unacked_len == snd_nxt - snd_una).
 *
 * out, out_len: set to a malloc'ed payload on success, owned by the caller.
 * Returns 0, -EINVAL (h breaks a rule), -E2BIG (over a hard cap), -ENOMEM,
 * or -EKEYREJECTED when signing fails (key not Ed25519).
 */
int rv_handoff_encode(const struct rv_handoff *h,
    const uint8_t challenge[RV_HANDOFF_CHALLENGE_LEN], EVP_PKEY *key,
    uint8_t **out, size_t *out_len);

/*
 * Checks the HANDOFF payload msg (len bytes, frame header removed) and
 * decodes it into out: finds the key named in it among keys[0..key_count),
 * verifies the signature, compares the signed challenge with challenge
 * (constant time), then decodes every field under lim. Nothing but the name
 * is trusted before the signature verifies.
 *
 * out: zeroed here; on success its pointers point into msg, and out->conns
 * must be released with rv_handoff_clear(). On failure nothing needs
 * releasing, and out->appliance holds the claimed name when it could be
 * read (for the log line).
 * Returns 0 or a negative code listed at the top of this file.
 */
int rv_handoff_accept(const uint8_t *msg, size_t len,
    const uint8_t challenge[RV_HANDOFF_CHALLENGE_LEN],
    const struct rv_handoff_key *keys, size_t key_count,
    const struct rv_handoff_limits *lim, struct rv_handoff *out);

/* Frees what rv_handoff_accept() allocated in h and zeroes h. */
void rv_handoff_clear(struct rv_handoff *h);

/*
 * Encodes a RESULT for handoff id with count results, or a REJECT with
 * reason (reason cut to RV_HANDOFF_REASON_MAX bytes). out, out_len: a
 * malloc'ed payload owned by the caller. Return 0, -E2BIG or -ENOMEM.
 */
int rv_handoff_result_encode(uint64_t id,
    const struct rv_handoff_result *results, size_t count, uint8_t **out,
    size_t *out_len);
int rv_handoff_reject_encode(const char *reason, uint8_t **out,
    size_t *out_len);

/*
 * Decodes a RESULT or REJECT payload into out (zeroed here). A reason is
 * copied and made printable (bytes outside 0x20..0x7e become '?').
 * Release out with rv_handoff_reply_clear(). Returns 0 or a negative code.
 */
int rv_handoff_reply_decode(const uint8_t *msg, size_t len,
    size_t max_results, struct rv_handoff_reply *out);
void rv_handoff_reply_clear(struct rv_handoff_reply *r);

/*
 * Parses an OpenSSH public key line "ssh-ed25519 BASE64 [comment]" into a
 * new EVP_PKEY. Returns 0 and sets *key (owned by the caller, free with
 * EVP_PKEY_free()), or -EINVAL after writing a reason into why.
 */
int rv_handoff_parse_public_key(const char *line, EVP_PKEY **key, char *why,
    size_t why_len);

/*
 * Formats the public half of an Ed25519 key as an OpenSSH line
 * "ssh-ed25519 BASE64 comment" (comment may be NULL) into buf of len
 * bytes. Returns 0, -EINVAL (not Ed25519) or -ENOSPC.
 */
int rv_handoff_format_public_key(EVP_PKEY *key, const char *comment,
    char *buf, size_t len);

/*
 * Runs the appliance side over the connected socket fd: reads the agent's
 * CHALLENGE, sends h signed with key, reads the RESULT or REJECT into
 * reply (release with rv_handoff_reply_clear()). Blocking; each read and
 * write waits at most timeout_ms. Call it from a control thread, never
 * from a capture lcore. Returns 0 when a reply was read (check
 * reply->rejected and each result), -ETIMEDOUT, -ECONNRESET when the agent
 * closed the connection early, or another negative code.
 */
int rv_handoff_exchange(int fd, const struct rv_handoff *h, EVP_PKEY *key,
    int timeout_ms, struct rv_handoff_reply *reply);

/*
 * Frame I/O for both sides. rv_handoff_send_frame() writes the header and
 * payload; rv_handoff_recv_frame() reads one frame of at most max payload
 * bytes into a malloc'ed *payload (owned by the caller). Each waits at most
 * timeout_ms per poll. Return 0, -ETIMEDOUT, -ECONNRESET (peer closed,
 * possibly mid-frame), -E2BIG, -EBADMSG, -ENOMEM or -errno.
 */
int rv_handoff_send_frame(int fd, const uint8_t *payload, size_t len,
    int timeout_ms);
int rv_handoff_recv_frame(int fd, size_t max, int timeout_ms,
    uint8_t **payload, size_t *len);

#endif
