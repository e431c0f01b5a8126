/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef REVENANT_ADOPT_MSG_H
#define REVENANT_ADOPT_MSG_H

/*
 * The adopt message that revenant-agent sends to a local service over a
 * Unix stream socket, with the restored TCP socket as SCM_RIGHTS
 * (docs/handoff-protocol.md, "Adopt message"), and the SSH material it
 * carries: u32 count, then count times (u32 length, a signed checkpoint
 * message), oldest first.
 *
 * Plain C99 plus POSIX, nothing here logs. Functions return 0 or a negative
 * RV_ADOPT_MSG_ERR_* code. Decoders check every length against the bytes
 * left and reject trailing bytes; the decoded struct points into the
 * caller's buffer.
 */

#include <stddef.h>
#include <stdint.h>

#define RV_ADOPT_MSG_MAGIC		"RVAD"
#define RV_ADOPT_MSG_VERSION		1
#define RV_ADOPT_MSG_HEADER_LEN		16
#define RV_ADOPT_MSG_FIXED_LEN		64	/* fixed fields of the body */
#define RV_ADOPT_MSG_BODY_MAX		(64u << 20)	/* bytes */
#define RV_ADOPT_MSG_CHECKPOINTS_MAX	64	/* checkpoints in the material */

#define RV_ADOPT_MSG_OK			0
#define RV_ADOPT_MSG_ERR_INVALID_ARGUMENT -1
#define RV_ADOPT_MSG_ERR_INCOMPLETE	-2	/* input ends inside a field */
#define RV_ADOPT_MSG_ERR_MALFORMED	-3	/* magic, version, family */
#define RV_ADOPT_MSG_ERR_TRAILING	-4	/* bytes after the last field */
#define RV_ADOPT_MSG_ERR_TOO_LARGE	-5	/* a length over its cap */
#define RV_ADOPT_MSG_ERR_SYSTEM		-6	/* recvmsg() failed, see errno */
#define RV_ADOPT_MSG_ERR_NO_SOCKET	-7	/* no descriptor came along */

/* One direction's logged bytes and the stream offset of the first. */
struct rv_adopt_log {
	uint64_t	offset;
	const uint8_t	*data;
	uint32_t	len;
};

/* A decoded adopt message body. */
struct rv_adopt_msg {
	uint8_t		family;		/* 4 or 6 */
	uint8_t		server[16];	/* IPv4 in the first 4 bytes */
	uint16_t	server_port;	/* host byte order */
	uint8_t		client[16];
	uint16_t	client_port;
	struct rv_adopt_log c2s;	/* ends where the receive queue starts */
	struct rv_adopt_log s2c;	/* ends at the server's snd_nxt */
	const uint8_t	*material;
	uint32_t	material_len;
};

/* One signed checkpoint message of the material. */
struct rv_adopt_ckpt {
	const uint8_t	*data;
	uint32_t	len;
};

/* Returns a short English description of an RV_ADOPT_MSG_* code. */
const char *rv_adopt_msg_strerror(int code);

/*
 * Decodes the 16-byte header hdr: magic, version, family, reserved bytes.
 * Sets *family and *body_len (at most RV_ADOPT_MSG_BODY_MAX). Returns 0 or
 * a negative code.
 */
int rv_adopt_msg_header_decode(const uint8_t *hdr, size_t len,
    uint8_t *family, uint32_t *body_len);

/*
 * Decodes a body of len bytes for address family family into msg, whose
 * pointers point into body. Returns 0 or a negative code.
 */
int rv_adopt_msg_body_decode(const uint8_t *body, size_t len, uint8_t family,
    struct rv_adopt_msg *msg);

/*
 * Splits the SSH material of msg into at most max checkpoint messages,
 * oldest first, and sets *count. Returns 0 or a negative code;
 * RV_ADOPT_MSG_ERR_TOO_LARGE when it holds more than max.
 */
int rv_adopt_msg_checkpoints(const struct rv_adopt_msg *msg,
    struct rv_adopt_ckpt *ckpts, size_t max, size_t *count);

/*
 * Reads one adopt message from the Unix stream socket fd, blocking, and
 * the TCP socket passed with its first bytes. On success *sock receives
 * the descriptor and *body a malloc()ed body of *body_len bytes (the
 * caller frees it), *family the header's family. Returns 0 or a negative
 * code; on failure no descriptor stays open.
 */
int rv_adopt_msg_recv(int fd, int *sock, uint8_t *family, uint8_t **body,
    size_t *body_len);

#endif
