/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef REVENANT_STATE_H
#define REVENANT_STATE_H

/*
 * The content of a checkpoint: the plaintext that the HPKE ciphertext of a
 * checkpoint message carries (docs/checkpoint-content.md). It has two
 * parts. The session part (transport keys and counters, stream offsets,
 * channels) is written by the process that runs the connection. The
 * privileged monitor prefixes it with the authenticated user and the SSH
 * session identifier, which it never takes from the session process.
 *
 * Written on OpenSSH's sshbuf, so it builds inside an OpenSSH tree only
 * (sshd, ckpt-open and the fuzz target; see docs/checkpoint-content.md);
 * this header itself needs only C99. Nothing here logs or keeps state.
 * Functions return 0 or a negative RV_STATE_ERR_* code. Decoders check
 * every length against the bytes left, cap every count and reject
 * trailing bytes.
 */

#include <stddef.h>
#include <stdint.h>

#define RV_STATE_MAGIC			"RVST"
#define RV_STATE_VERSION		1

/* Limits in bytes unless stated. */
#define RV_STATE_NAME_MAX		64	/* algorithm and type names */
#define RV_STATE_KEY_MAX		64	/* cipher and MAC keys */
#define RV_STATE_IV_MAX			32
#define RV_STATE_USER_MAX		256
#define RV_STATE_SESSION_ID_MAX		64	/* SHA-512 exchange hash */
#define RV_STATE_VERSION_STRING_MAX	255	/* RFC 4253, section 4.2 */
#define RV_STATE_TEXT_MAX		4096	/* command, host, env value */
#define RV_STATE_TERMIOS_CC_MAX		64	/* bytes of c_cc */
#define RV_STATE_CHANNELS_MAX		1024	/* channels per checkpoint */
#define RV_STATE_ENV_MAX		256	/* variables per channel */
#define RV_STATE_CONTENT_MAX		(512 * 1024)

/* Directions, in the order the session part stores them. */
#define RV_STATE_C2S			0
#define RV_STATE_S2C			1

/* What the cipher_state bytes of a direction mean. */
#define RV_STATE_CIPHER_NONCE_SEQNR	1	/* chacha20-poly1305: seqnr */
#define RV_STATE_CIPHER_GCM_IV		2	/* AES-GCM: next 12-byte IV */
#define RV_STATE_CIPHER_CTR_BLOCK	3	/* AES-CTR: next counter block */
#define RV_STATE_CIPHER_UNSUPPORTED	4	/* state not exportable (CBC) */

/* Transport flags. */
#define RV_STATE_TRANSPORT_STRICT_KEX	0x1u

/* What a session channel runs. */
#define RV_STATE_RUN_NONE		0
#define RV_STATE_RUN_SHELL		1
#define RV_STATE_RUN_COMMAND		2
#define RV_STATE_RUN_SUBSYSTEM		3

/* Error codes. */
#define RV_STATE_OK			0
#define RV_STATE_ERR_INVALID_ARGUMENT	-1
#define RV_STATE_ERR_INCOMPLETE		-2	/* input ends inside a field */
#define RV_STATE_ERR_MALFORMED		-3	/* a value out of its range */
#define RV_STATE_ERR_TRAILING		-4	/* bytes after the last field */
#define RV_STATE_ERR_TOO_LARGE		-5	/* a count or length over cap */
#define RV_STATE_ERR_NO_MEMORY		-6
#define RV_STATE_ERR_MAGIC		-7	/* not "RVST" */
#define RV_STATE_ERR_VERSION		-8	/* version not 1 */

/* Keys, counters and cipher state of one direction. */
struct rv_state_dir {
	char		cipher[RV_STATE_NAME_MAX + 1];
	char		mac[RV_STATE_NAME_MAX + 1];	/* "" for AEAD */
	uint8_t		etm;		/* MAC over the ciphertext */
	uint8_t		key[RV_STATE_KEY_MAX];
	uint32_t	key_len;
	uint8_t		iv[RV_STATE_IV_MAX];	/* IV the cipher started from */
	uint32_t	iv_len;
	uint8_t		mac_key[RV_STATE_KEY_MAX];
	uint32_t	mac_key_len;
	uint32_t	seqnr;		/* sequence number of the next packet */
	uint64_t	packets;	/* packets since iv was set */
	uint64_t	blocks;		/* cipher blocks since iv was set */
	uint64_t	bytes;		/* packet bytes since the connection began */
	uint64_t	max_blocks;	/* rekey after this many blocks */
	uint8_t		cipher_state_kind;	/* RV_STATE_CIPHER_* */
	uint8_t		cipher_state[RV_STATE_IV_MAX];	/* next IV or counter */
	uint32_t	cipher_state_len;
};

struct rv_state_env {
	char		*name;
	char		*value;
};

/* One channel; the session fields are set when has_session is 1. */
struct rv_state_channel {
	uint32_t	self;
	uint32_t	remote_id;
	uint32_t	type;		/* OpenSSH's SSH_CHANNEL_* state */
	char		ctype[RV_STATE_NAME_MAX + 1];
	uint32_t	istate;
	uint32_t	ostate;
	uint32_t	flags;		/* CHAN_CLOSE_SENT etc. */
	uint32_t	local_window;
	uint32_t	local_window_max;
	uint32_t	local_consumed;
	uint32_t	local_maxpacket;
	uint32_t	remote_window;
	uint32_t	remote_maxpacket;
	char		*listen_host;	/* forwards; NULL when none */
	uint32_t	listen_port;
	char		*connect_host;
	uint32_t	connect_port;
	uint8_t		has_session;
	char		*term;		/* NULL without a pty */
	uint32_t	cols, rows, xpixels, ypixels;
	uint8_t		has_termios;
	uint32_t	termios_iflag, termios_oflag, termios_cflag;
	uint32_t	termios_lflag, termios_ispeed, termios_ospeed;
	uint8_t		termios_cc[RV_STATE_TERMIOS_CC_MAX];
	uint32_t	termios_cc_len;
	uint32_t	run;		/* RV_STATE_RUN_* */
	char		*command;	/* command or subsystem name, or NULL */
	uint32_t	n_env;
	struct rv_state_env *env;
};

/* The session part, written by the process that runs the connection. */
struct rv_state_session {
	uint64_t	c2s_offset;	/* client stream bytes consumed */
	uint64_t	s2c_offset;	/* server stream bytes written */
	char		kex[RV_STATE_NAME_MAX + 1];
	char		hostkey_alg[RV_STATE_NAME_MAX + 1];
	/* Identification strings without CR LF; every exchange hash has them. */
	char		client_version[RV_STATE_VERSION_STRING_MAX + 1];
	char		server_version[RV_STATE_VERSION_STRING_MAX + 1];
	uint32_t	transport_flags;	/* RV_STATE_TRANSPORT_* */
	uint64_t	rekey_limit;	/* bytes, 0: the cipher's default */
	uint32_t	rekey_interval;	/* seconds, 0: none */
	struct rv_state_dir dir[2];	/* RV_STATE_C2S, RV_STATE_S2C */
	uint32_t	n_channels;
	struct rv_state_channel *channels;
};

/* The whole content. */
struct rv_state_content {
	char		user[RV_STATE_USER_MAX + 1];
	uint8_t		session_id[RV_STATE_SESSION_ID_MAX];
	uint32_t	session_id_len;
	struct rv_state_session session;
};

/* Returns a short English description of an RV_STATE_* code. */
const char *rv_state_strerror(int code);

/*
 * Encodes the session part s into a malloc()ed buffer *out of *out_len
 * bytes, which the caller must zero and free: it holds keys. Returns 0 or
 * a negative code.
 */
int rv_state_session_encode(const struct rv_state_session *s, uint8_t **out,
    size_t *out_len);

/*
 * Decodes a session part of len bytes into s, which the caller releases
 * with rv_state_session_clear(). Returns 0 or a negative code; on error s
 * holds nothing to release.
 */
int rv_state_session_decode(const uint8_t *buf, size_t len,
    struct rv_state_session *s);

/*
 * Encodes the content: magic, version, user, session id, then the session
 * part bytes (session, session_len), which the caller has already checked
 * with rv_state_session_decode(). *out is malloc()ed; the caller zeroes
 * and frees it. Returns 0 or a negative code.
 */
int rv_state_content_encode(const char *user, const uint8_t *session_id,
    size_t session_id_len, const uint8_t *session, size_t session_len,
    uint8_t **out, size_t *out_len);

/*
 * Decodes content of len bytes into c, which the caller releases with
 * rv_state_content_clear(). Returns 0 or a negative code.
 */
int rv_state_content_decode(const uint8_t *buf, size_t len,
    struct rv_state_content *c);

/* Frees what the channels of s own and zeroes the keys in s. */
void rv_state_session_clear(struct rv_state_session *s);

/* Same for a whole content. */
void rv_state_content_clear(struct rv_state_content *c);

#endif
