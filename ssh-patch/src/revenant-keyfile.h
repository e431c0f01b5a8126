/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef REVENANT_KEYFILE_H
#define REVENANT_KEYFILE_H

/*
 * Recovery key files: the X25519 key pairs that checkpoints are sealed to
 * with HPKE (revenant-hpke.h). docs/recovery-keys.md describes both
 * formats.
 *
 * Public key line, one per line in a list file, where blank lines and lines
 * starting with '#' are skipped:
 *	revenant-x25519 <base64 of the 32-byte public key> [comment]
 *
 * Private key file, three lines:
 *	-----BEGIN REVENANT RECOVERY KEY-----
 *	<base64 of the 72-byte blob, 96 characters>
 *	-----END REVENANT RECOVERY KEY-----
 * Blob: "RVRK" || version 0x01 || 0x00 || kem_id (0x0020, big endian) ||
 * private key (32) || public key (32).
 *
 * Plain C99 plus POSIX and libcrypto; nothing here logs. Functions return 0
 * or a negative RV_KEYFILE_ERR_* code; those that take a struct
 * rv_keyfile_error also fill it with the code, the line number and a full
 * message that names the file, for the caller to log. All functions are
 * reentrant.
 */

#include <stddef.h>
#include <stdint.h>

#include "revenant-hpke.h"

#define RV_KEYFILE_PUBLIC_TYPE		"revenant-x25519"
#define RV_KEYFILE_PRIVATE_BEGIN	"-----BEGIN REVENANT RECOVERY KEY-----"
#define RV_KEYFILE_PRIVATE_END		"-----END REVENANT RECOVERY KEY-----"
#define RV_KEYFILE_PRIVATE_VERSION	1

/* Maximum comment length in bytes, without the terminating NUL. */
#define RV_KEYFILE_COMMENT_MAX		255
/* Maximum public key line, in bytes without the newline. */
#define RV_KEYFILE_LINE_MAX		1024
/* Buffer size that fits any formatted public key line and its NUL. */
#define RV_KEYFILE_PUBLIC_LINE_SIZE	\
	(sizeof(RV_KEYFILE_PUBLIC_TYPE) + 1 + 44 + 1 + RV_KEYFILE_COMMENT_MAX + 1)
/* Maximum size of a public key list file and of a private key file. */
#define RV_KEYFILE_LIST_MAX_SIZE	(1024 * 1024)
#define RV_KEYFILE_PRIVATE_MAX_SIZE	4096
/* Buffer size that fits a formatted private key file and its NUL. */
#define RV_KEYFILE_PRIVATE_TEXT_SIZE	\
	(sizeof(RV_KEYFILE_PRIVATE_BEGIN) + 97 + sizeof(RV_KEYFILE_PRIVATE_END) + 1)

#define RV_KEYFILE_MESSAGE_MAX		512

/* Error codes. */
#define RV_KEYFILE_OK			0
#define RV_KEYFILE_ERR_INVALID_ARGUMENT	-1	/* NULL pointer, bad size */
#define RV_KEYFILE_ERR_SYSTEM		-2	/* open, read or write failed */
#define RV_KEYFILE_ERR_EXISTS		-3	/* refusing to overwrite */
#define RV_KEYFILE_ERR_PERMISSIONS	-4	/* private key file too open */
#define RV_KEYFILE_ERR_TOO_LARGE	-5	/* file or line over the cap */
#define RV_KEYFILE_ERR_KEY_TYPE		-6	/* not "revenant-x25519" */
#define RV_KEYFILE_ERR_BASE64		-7	/* invalid base64 */
#define RV_KEYFILE_ERR_KEY_LENGTH	-8	/* decoded to the wrong length */
#define RV_KEYFILE_ERR_TRAILING		-9	/* bytes after the key data */
#define RV_KEYFILE_ERR_INCOMPLETE	-10	/* a field or line is missing */
#define RV_KEYFILE_ERR_ARMOR		-11	/* BEGIN or END line invalid */
#define RV_KEYFILE_ERR_FORMAT		-12	/* blob magic, version, kem_id */
#define RV_KEYFILE_ERR_KEY_MISMATCH	-13	/* public key does not match */
#define RV_KEYFILE_ERR_COMMENT		-14	/* comment too long, bad byte */
#define RV_KEYFILE_ERR_TOO_MANY_KEYS	-15	/* list longer than max_keys */
#define RV_KEYFILE_ERR_CRYPTO		-16	/* libcrypto failed */
#define RV_KEYFILE_ERR_BUFFER_TOO_SMALL	-17	/* output buffer too short */

/* Details of the latest failure, for the caller's log line. */
struct rv_keyfile_error {
	int		code;
	unsigned long	line;	/* 1-based; 0 when not about one line */
	char		message[RV_KEYFILE_MESSAGE_MAX];
};

/* A recovery public key with its comment (possibly empty). */
struct rv_recovery_pubkey {
	uint8_t		key[RV_HPKE_X25519_LEN];
	char		comment[RV_KEYFILE_COMMENT_MAX + 1];
};

/* Returns a short English description of an RV_KEYFILE_* code. */
const char *rv_keyfile_strerror(int code);

/*
 * Parses one public key line of len bytes, without its newline. The type
 * and key are separated by spaces or tabs, the comment is the rest of the
 * line after the separating blanks, and trailing blanks are dropped. The
 * comment must not contain control characters. Returns 0 or a negative code.
 */
int rv_keyfile_parse_public_line(const char *line, size_t len,
    struct rv_recovery_pubkey *key);

/*
 * Formats pk and comment (NULL or empty for none) as a public key line
 * without a newline into buf of size bytes (RV_KEYFILE_PUBLIC_LINE_SIZE is
 * always enough). Returns 0 or a negative code.
 */
int rv_keyfile_format_public_line(const uint8_t pk[RV_HPKE_X25519_LEN],
    const char *comment, char *buf, size_t size);

/*
 * Parses a public key list of len bytes read from the file name (used in
 * messages only) into keys[0 .. max_keys - 1] and sets *nkeys. Stops at
 * the first invalid line and reports it in err. An empty list is valid.
 * Returns 0 or a negative code.
 */
int rv_keyfile_parse_public_list(const char *name, const char *text,
    size_t len, struct rv_recovery_pubkey *keys, size_t max_keys,
    size_t *nkeys, struct rv_keyfile_error *err);

/* Reads the file at path and parses it with rv_keyfile_parse_public_list. */
int rv_keyfile_load_public_list(const char *path,
    struct rv_recovery_pubkey *keys, size_t max_keys, size_t *nkeys,
    struct rv_keyfile_error *err);

/*
 * Parses a private key file of len bytes read from the file name (used in
 * messages only). A single newline after the END line is allowed, anything
 * else after it is rejected. Checks that the stored public key belongs to
 * the private key. Writes sk and pk (32 bytes each). Returns 0 or a
 * negative code; sk is zeroed on error.
 */
int rv_keyfile_parse_private(const char *name, const char *text, size_t len,
    uint8_t sk[RV_HPKE_X25519_LEN], uint8_t pk[RV_HPKE_X25519_LEN],
    struct rv_keyfile_error *err);

/*
 * Formats the private key sk as a private key file, newline-terminated,
 * into buf of size bytes (RV_KEYFILE_PRIVATE_TEXT_SIZE is enough) and sets
 * *len to the text length without the NUL. The caller must
 * OPENSSL_cleanse() buf after use. Returns 0 or a negative code.
 */
int rv_keyfile_format_private(const uint8_t sk[RV_HPKE_X25519_LEN],
    char *buf, size_t size, size_t *len);

/*
 * Loads the private key file at path. Rejects a file that is not a regular
 * file, that group or others may access (mode & 077), or that is owned by
 * neither the effective user nor root. Returns 0 or a negative code; sk is
 * zeroed on error.
 */
int rv_keyfile_load_private(const char *path,
    uint8_t sk[RV_HPKE_X25519_LEN], uint8_t pk[RV_HPKE_X25519_LEN],
    struct rv_keyfile_error *err);

/*
 * Writes the private key file for sk to path with mode 0600. The file is
 * created with O_CREAT | O_EXCL, so an existing file fails with
 * RV_KEYFILE_ERR_EXISTS unless overwrite is nonzero, in which case it is
 * unlinked first. A partly written file is removed. Returns 0 or a
 * negative code.
 */
int rv_keyfile_write_private(const char *path,
    const uint8_t sk[RV_HPKE_X25519_LEN], int overwrite,
    struct rv_keyfile_error *err);

/*
 * Writes the public key line of pk and comment, newline-terminated, to
 * path with mode 0644, with the same overwrite rules as
 * rv_keyfile_write_private(). Returns 0 or a negative code.
 */
int rv_keyfile_write_public(const char *path,
    const uint8_t pk[RV_HPKE_X25519_LEN], const char *comment,
    int overwrite, struct rv_keyfile_error *err);

#endif
