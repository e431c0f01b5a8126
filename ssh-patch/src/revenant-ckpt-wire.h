/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef REVENANT_CKPT_WIRE_H
#define REVENANT_CKPT_WIRE_H

/*
 * Checkpoint and heartbeat datagrams (docs/checkpoint-format.md): encoding
 * for the patched sshd and the test tools, decoding for revenantd and the
 * backup, Ed25519 signatures in SSH form (RFC 8709) and HPKE sealing of
 * the checkpoint content for each recovery key (revenant-hpke.h).
 *
 * Plain C99 plus libcrypto, so that OpenSSH compiles the same file. Nothing
 * here logs or keeps state: every function returns 0 or a negative
 * RV_CKPT_ERR_* code, and rv_ckpt_strerror() names it. All functions are
 * reentrant. Decoders return views into the caller's buffer, so the buffer
 * must outlive the decoded struct.
 */

#include <stddef.h>
#include <stdint.h>

#include "revenant-hpke.h"

#define RV_CKPT_MAGIC			"RVCP"
#define RV_CKPT_VERSION			1
#define RV_CKPT_TYPE_FRAGMENT		1
#define RV_CKPT_TYPE_HEARTBEAT		2

/* Sizes in bytes. */
#define RV_CKPT_COMMON_LEN		8	/* magic, version, type, reserved */
#define RV_CKPT_CONN_LEN		38	/* family, reserved, 2 x (addr, port) */
#define RV_CKPT_FRAG_HDR_LEN		(RV_CKPT_COMMON_LEN + 16 + RV_CKPT_CONN_LEN)
#define RV_CKPT_FRAG_DATA_MAX		1200	/* message bytes per fragment */
#define RV_CKPT_FRAG_COUNT_MAX		1024
#define RV_CKPT_MSG_MAX			(1024 * 1024)
#define RV_CKPT_HEADER_LEN		104
#define RV_CKPT_SESSION_HASH_LEN	32
#define RV_CKPT_KEY_ID_LEN		32	/* SHA-256 of the X25519 key */
#define RV_CKPT_RECIPIENTS_MAX		16
#define RV_CKPT_ED25519_PK_LEN		32
#define RV_CKPT_ED25519_SEED_LEN	32
/* Seed, then public key: OpenSSH's in-memory Ed25519 private key. */
#define RV_CKPT_ED25519_KEYPAIR_LEN \
	(RV_CKPT_ED25519_SEED_LEN + RV_CKPT_ED25519_PK_LEN)
/* SSH signature blob of Ed25519: string "ssh-ed25519", string sig[64]. */
#define RV_CKPT_SIG_BLOB_LEN		(4 + 11 + 4 + 64)
/* A datagram never exceeds this: header plus a full fragment. */
#define RV_CKPT_DATAGRAM_MAX		(RV_CKPT_FRAG_HDR_LEN + RV_CKPT_FRAG_DATA_MAX)
/* Heartbeat bytes before the signature, and the whole heartbeat. */
#define RV_CKPT_HB_SIGNED_LEN		(RV_CKPT_COMMON_LEN + 4 + 16 + 2 + 8 + 8 + 4)
#define RV_CKPT_HB_LEN			(RV_CKPT_HB_SIGNED_LEN + 4 + RV_CKPT_SIG_BLOB_LEN)

/* Header flags. */
#define RV_CKPT_FLAG_AFTER_NEWKEYS	0x1u
#define RV_CKPT_FLAGS_KNOWN		RV_CKPT_FLAG_AFTER_NEWKEYS

/* Signature labels; a NUL byte follows each in the signed data. */
#define RV_CKPT_SIG_LABEL		"revenant-checkpoint-v1"
#define RV_CKPT_HB_SIG_LABEL		"revenant-heartbeat-v1"
/* HPKE info of the checkpoint content. */
#define RV_CKPT_HPKE_INFO		"revenant checkpoint v1"

/* Error codes. */
#define RV_CKPT_OK			0
#define RV_CKPT_ERR_INVALID_ARGUMENT	-1	/* NULL pointer, bad size */
#define RV_CKPT_ERR_INCOMPLETE		-2	/* input ends inside a field */
#define RV_CKPT_ERR_MAGIC		-3	/* not "RVCP" */
#define RV_CKPT_ERR_VERSION		-4	/* version not 1 */
#define RV_CKPT_ERR_TYPE		-5	/* unknown datagram type */
#define RV_CKPT_ERR_MALFORMED		-6	/* a field out of its range */
#define RV_CKPT_ERR_TRAILING		-7	/* bytes after the last field */
#define RV_CKPT_ERR_SIGNATURE		-8	/* signature invalid */
#define RV_CKPT_ERR_CRYPTO		-9	/* a libcrypto call failed */
#define RV_CKPT_ERR_BUFFER_TOO_SMALL	-10	/* output buffer too short */
#define RV_CKPT_ERR_NO_RECIPIENT	-11	/* no recipient has our key */
#define RV_CKPT_ERR_OPEN		-12	/* HPKE authentication failed */
#define RV_CKPT_ERR_KEY_FORMAT		-13	/* public key line invalid */

/* A connection as datagrams name it: the server side is the sshd. */
struct rv_ckpt_conn {
	uint8_t family;			/* 4 or 6 */
	uint8_t server[16];		/* IPv4 in the first 4 bytes */
	uint16_t server_port;		/* host byte order */
	uint8_t client[16];
	uint16_t client_port;
};

/* The cleartext header of a checkpoint message. */
struct rv_ckpt_header {
	struct rv_ckpt_conn conn;
	uint8_t session_hash[RV_CKPT_SESSION_HASH_LEN];
	uint64_t number;		/* 1, 2, ... per connection */
	uint64_t c2s_offset;		/* bytes of the client stream consumed */
	uint64_t s2c_offset;		/* bytes of the server stream written */
	uint32_t total_len;		/* bytes of the whole message */
	uint32_t flags;			/* RV_CKPT_FLAG_* */
};

/* One recipient of a decoded message; ct points into the message. */
struct rv_ckpt_recipient {
	uint8_t key_id[RV_CKPT_KEY_ID_LEN];
	uint8_t enc[RV_HPKE_ENC_LEN];
	const uint8_t *ct;
	uint32_t ct_len;
};

/* A decoded checkpoint message; the pointers point into its bytes. */
struct rv_ckpt_msg {
	struct rv_ckpt_header hdr;
	uint32_t n_recipients;
	struct rv_ckpt_recipient recipients[RV_CKPT_RECIPIENTS_MAX];
	const uint8_t *header_bytes;	/* RV_CKPT_HEADER_LEN bytes: the aad */
	size_t signed_len;		/* header and recipients, label excluded */
	const uint8_t *sig;		/* SSH signature blob */
	uint32_t sig_len;
};

/* A decoded fragment datagram; data points into the datagram. */
struct rv_ckpt_frag {
	uint64_t msg_id;		/* the checkpoint number */
	uint32_t total_len;
	uint16_t index;
	uint16_t count;
	struct rv_ckpt_conn conn;
	const uint8_t *data;
	uint32_t data_len;
};

/* A heartbeat; sig points into the datagram once decoded. */
struct rv_ckpt_heartbeat {
	uint8_t family;
	uint8_t server[16];
	uint16_t server_port;
	uint64_t boot_id;
	uint64_t sequence;		/* 1, 2, ... since sshd started */
	uint32_t connections;		/* connections with checkpoints on */
	const uint8_t *sig;
	uint32_t sig_len;
};

/*
 * Produces the SSH signature blob of data (label, NUL, then the bytes
 * signed) into sig (size bytes) and its length into *sig_len. Returns 0
 * or a negative code. sshd signs in its privileged monitor with the host
 * key; tests and tools use rv_ckpt_ed25519_sign() through this type.
 */
typedef int (*rv_ckpt_sign_fn)(void *arg, const uint8_t *data, size_t len,
    uint8_t *sig, size_t size, size_t *sig_len);

/* Returns a short English description of an RV_CKPT_* code. */
const char *rv_ckpt_strerror(int code);

/*
 * Checks the common 8 bytes of a datagram of len bytes. Returns its type
 * (RV_CKPT_TYPE_FRAGMENT or RV_CKPT_TYPE_HEARTBEAT) or a negative code.
 */
int rv_ckpt_datagram_type(const uint8_t *buf, size_t len);

/*
 * Decodes a fragment datagram. Checks the common bytes, total length (1 to
 * RV_CKPT_MSG_MAX), count (the number of RV_CKPT_FRAG_DATA_MAX pieces that
 * total length needs), index below count, family, reserved bytes, and
 * that the data is exactly the piece at index. Returns 0 or a negative
 * code; RV_CKPT_ERR_INCOMPLETE when buf ends before the fixed fields.
 */
int rv_ckpt_frag_decode(const uint8_t *buf, size_t len,
    struct rv_ckpt_frag *frag);

/*
 * Encodes fragment index of the message msg (msg_len bytes) into out
 * (size bytes, RV_CKPT_DATAGRAM_MAX is always enough), naming connection
 * conn and message id msg_id. *out_len receives the datagram length.
 * Returns 0 or a negative code.
 */
int rv_ckpt_frag_encode(const struct rv_ckpt_conn *conn, uint64_t msg_id,
    const uint8_t *msg, size_t msg_len, uint16_t index, uint8_t *out,
    size_t size, size_t *out_len);

/* Returns the number of fragments a message of msg_len bytes needs. */
uint16_t rv_ckpt_frag_count(size_t msg_len);

/*
 * Decodes a whole checkpoint message of len bytes: the header (version,
 * family, reserved bytes, flags, total length equal to len), 1 to
 * RV_CKPT_RECIPIENTS_MAX recipients, the signature string, no trailing
 * bytes. Does not verify the signature. Returns 0 or a negative code.
 */
int rv_ckpt_msg_decode(const uint8_t *buf, size_t len, struct rv_ckpt_msg *msg);

/*
 * Verifies msg's signature with the Ed25519 public key pk. buf is the
 * message msg was decoded from. Returns 0, RV_CKPT_ERR_SIGNATURE, or
 * another negative code.
 */
int rv_ckpt_msg_verify(const struct rv_ckpt_msg *msg, const uint8_t *buf,
    const uint8_t pk[RV_CKPT_ED25519_PK_LEN]);

/*
 * Builds a checkpoint message: the header from hdr (its total_len is
 * computed), content sealed with HPKE for each of the n_keys recovery
 * public keys (aad = the encoded header), and the signature that sign
 * makes. *out is allocated with malloc() and receives *out_len bytes; the
 * caller frees it. Returns 0 or a negative code.
 */
int rv_ckpt_msg_build(const struct rv_ckpt_header *hdr,
    const uint8_t (*keys)[RV_HPKE_X25519_LEN], size_t n_keys,
    const uint8_t *content, size_t content_len, rv_ckpt_sign_fn sign,
    void *sign_arg, uint8_t **out, size_t *out_len);

/*
 * Decrypts the content of msg for the recovery private key sk: finds the
 * recipient whose key id is the SHA-256 of sk's public key and opens its
 * ciphertext. pt receives ct_len - RV_HPKE_TAG_LEN bytes (pt_size must
 * allow that) and *pt_len their count. Returns 0, RV_CKPT_ERR_NO_RECIPIENT,
 * RV_CKPT_ERR_OPEN, or another negative code; pt is zeroed on failure.
 */
int rv_ckpt_msg_open(const struct rv_ckpt_msg *msg,
    const uint8_t sk[RV_HPKE_X25519_LEN], uint8_t *pt, size_t pt_size,
    size_t *pt_len);

/*
 * Decodes a heartbeat datagram: common bytes, family, reserved bytes,
 * signature string, no trailing bytes. Does not verify the signature.
 * Returns 0 or a negative code.
 */
int rv_ckpt_heartbeat_decode(const uint8_t *buf, size_t len,
    struct rv_ckpt_heartbeat *hb);

/*
 * Verifies the signature of the heartbeat datagram buf (len bytes) that hb
 * was decoded from. Returns 0, RV_CKPT_ERR_SIGNATURE, or another negative
 * code.
 */
int rv_ckpt_heartbeat_verify(const struct rv_ckpt_heartbeat *hb,
    const uint8_t *buf, size_t len, const uint8_t pk[RV_CKPT_ED25519_PK_LEN]);

/*
 * Builds and signs a heartbeat datagram from hb (its sig fields are
 * ignored) into out (size bytes, RV_CKPT_HB_LEN is enough). Returns 0 or
 * a negative code.
 */
int rv_ckpt_heartbeat_build(const struct rv_ckpt_heartbeat *hb,
    rv_ckpt_sign_fn sign, void *sign_arg, uint8_t *out, size_t size,
    size_t *out_len);

/*
 * Signs data (len bytes) with the Ed25519 private key whose 32-byte seed
 * is arg, writing an SSH signature blob. Matches rv_ckpt_sign_fn.
 */
int rv_ckpt_ed25519_sign(void *arg, const uint8_t *data, size_t len,
    uint8_t *sig, size_t size, size_t *sig_len);

/*
 * rv_ckpt_ed25519_sign() for arg = the 32-byte seed followed by its
 * 32-byte public key, as OpenSSH keeps an Ed25519 private key. It is
 * faster because it does not derive the public key again. A public key
 * that does not belong to the seed gives a signature that fails to verify.
 */
int rv_ckpt_ed25519_sign_keypair(void *arg, const uint8_t *data, size_t len,
    uint8_t *sig, size_t size, size_t *sig_len);

/* Computes the Ed25519 public key of the 32-byte seed. Returns 0 or a
 * negative code. */
int rv_ckpt_ed25519_public(const uint8_t seed[RV_CKPT_ED25519_SEED_LEN],
    uint8_t pk[RV_CKPT_ED25519_PK_LEN]);

/*
 * Parses an OpenSSH public key line, "ssh-ed25519 BASE64 [comment]", of
 * len bytes into the raw 32-byte key. Returns 0 or RV_CKPT_ERR_KEY_FORMAT.
 */
int rv_ckpt_parse_ssh_ed25519(const char *line, size_t len,
    uint8_t pk[RV_CKPT_ED25519_PK_LEN]);

/* Writes the key id of a recovery public key: its SHA-256. Returns 0 or
 * RV_CKPT_ERR_CRYPTO. */
int rv_ckpt_key_id(const uint8_t pk[RV_HPKE_X25519_LEN],
    uint8_t id[RV_CKPT_KEY_ID_LEN]);

#endif
