/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Recovery key files: parsing and formatting of public key lines and of the
 * private key file, and their loading and writing with safe permissions.
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "revenant-hpke.h"
#include "revenant-keyfile.h"

#define PRIVATE_MAGIC		"RVRK"
#define PRIVATE_MAGIC_LEN	4
/* magic || version || reserved || kem_id || sk || pk */
#define PRIVATE_BLOB_LEN	(PRIVATE_MAGIC_LEN + 1 + 1 + 2 + \
	2 * RV_HPKE_X25519_LEN)
#define PRIVATE_BASE64_LEN	(4 * ((PRIVATE_BLOB_LEN + 2) / 3))
#define PUBLIC_BASE64_LEN	(4 * ((RV_HPKE_X25519_LEN + 2) / 3))

static const char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

const char *
rv_keyfile_strerror(int code)
{
	switch (code) {
	case RV_KEYFILE_OK:
		return "success";
	case RV_KEYFILE_ERR_INVALID_ARGUMENT:
		return "invalid argument";
	case RV_KEYFILE_ERR_SYSTEM:
		return "system call failed";
	case RV_KEYFILE_ERR_EXISTS:
		return "file already exists";
	case RV_KEYFILE_ERR_PERMISSIONS:
		return "private key file permissions too open";
	case RV_KEYFILE_ERR_TOO_LARGE:
		return "file or line too large";
	case RV_KEYFILE_ERR_KEY_TYPE:
		return "unknown key type";
	case RV_KEYFILE_ERR_BASE64:
		return "invalid base64";
	case RV_KEYFILE_ERR_KEY_LENGTH:
		return "key data has the wrong length";
	case RV_KEYFILE_ERR_TRAILING:
		return "trailing data after the key";
	case RV_KEYFILE_ERR_INCOMPLETE:
		return "key incomplete";
	case RV_KEYFILE_ERR_ARMOR:
		return "invalid BEGIN or END line";
	case RV_KEYFILE_ERR_FORMAT:
		return "invalid private key blob";
	case RV_KEYFILE_ERR_KEY_MISMATCH:
		return "public key does not match the private key";
	case RV_KEYFILE_ERR_COMMENT:
		return "invalid comment";
	case RV_KEYFILE_ERR_TOO_MANY_KEYS:
		return "too many keys";
	case RV_KEYFILE_ERR_CRYPTO:
		return "libcrypto operation failed";
	case RV_KEYFILE_ERR_BUFFER_TOO_SMALL:
		return "output buffer too small";
	default:
		return "unknown key file error";
	}
}

static int
set_error(struct rv_keyfile_error *err, int code, unsigned long line,
    const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	err->code = code;
	err->line = line;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return code;
}

static void
clear_error(struct rv_keyfile_error *err)
{
	if (err == NULL)
		return;
	err->code = 0;
	err->line = 0;
	err->message[0] = '\0';
}

static int
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Writes NUL-terminated base64 of in; out needs 4 * ceil(len / 3) + 1. */
static int
base64_encode(const uint8_t *in, size_t len, char *out, size_t size)
{
	size_t i, n = 0;
	uint32_t v;

	if (size < 4 * ((len + 2) / 3) + 1)
		return RV_KEYFILE_ERR_BUFFER_TOO_SMALL;
	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[n++] = base64_alphabet[(v >> 18) & 0x3f];
		out[n++] = base64_alphabet[(v >> 12) & 0x3f];
		out[n++] = base64_alphabet[(v >> 6) & 0x3f];
		out[n++] = base64_alphabet[v & 0x3f];
	}
	if (i < len) {
		v = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		out[n++] = base64_alphabet[(v >> 18) & 0x3f];
		out[n++] = base64_alphabet[(v >> 12) & 0x3f];
		out[n++] = i + 1 < len ? base64_alphabet[(v >> 6) & 0x3f] : '=';
		out[n++] = '=';
	}
	out[n] = '\0';
	return 0;
}

static int
base64_value(char c)
{
	const char *p;

	if (c == '\0' || (p = strchr(base64_alphabet, c)) == NULL)
		return -1;
	return (int)(p - base64_alphabet);
}

/*
 * Decodes canonical padded base64 (RFC 4648 section 4): the length is a
 * multiple of 4, '=' appears only as the final one or two characters, and
 * the bits that padding leaves over are zero. Returns
 * RV_KEYFILE_ERR_BASE64 for anything else, or RV_KEYFILE_ERR_KEY_LENGTH
 * when the decoded length is not exactly out_len.
 */
static int
base64_decode_exact(const char *in, size_t len, uint8_t *out, size_t out_len)
{
	size_t i, n = 0, pad = 0;
	int v[4], j;

	if (len == 0 || len % 4 != 0)
		return RV_KEYFILE_ERR_BASE64;
	if (in[len - 1] == '=')
		pad = in[len - 2] == '=' ? 2 : 1;
	for (i = 0; i < len - pad; i++) {
		if (base64_value(in[i]) < 0)
			return RV_KEYFILE_ERR_BASE64;
	}
	if (len / 4 * 3 - pad != out_len)
		return RV_KEYFILE_ERR_KEY_LENGTH;

	for (i = 0; i < len; i += 4) {
		for (j = 0; j < 4; j++) {
			if (i + (size_t)j >= len - pad) {
				v[j] = 0;
				continue;
			}
			if ((v[j] = base64_value(in[i + j])) < 0)
				goto bad;
		}
		out[n++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
		if (n < out_len)
			out[n++] = (uint8_t)((v[1] & 0x0f) << 4 | v[2] >> 2);
		else if ((v[1] & 0x0f) != 0)
			goto bad;	/* not canonical */
		if (n < out_len)
			out[n++] = (uint8_t)((v[2] & 0x03) << 6 | v[3]);
		else if (pad == 1 && (v[2] & 0x03) != 0)
			goto bad;	/* not canonical */
	}
	return 0;
 bad:
	OPENSSL_cleanse(out, out_len);
	return RV_KEYFILE_ERR_BASE64;
}

/*
 * Parses one public key line. On failure, *reason points to static text
 * that explains it, for the error message.
 */
static int
parse_public_line(const char *line, size_t len,
    struct rv_recovery_pubkey *key, const char **reason)
{
	static const char type[] = RV_KEYFILE_PUBLIC_TYPE;
	size_t pos = 0, start, i;
	int r;

	memset(key, 0, sizeof(*key));
	if (len > RV_KEYFILE_LINE_MAX) {
		*reason = "line longer than 1024 bytes";
		return RV_KEYFILE_ERR_TOO_LARGE;
	}
	while (len > 0 && is_blank(line[len - 1]))
		len--;
	while (pos < len && is_blank(line[pos]))
		pos++;
	if (pos == len) {
		*reason = "missing key type";
		return RV_KEYFILE_ERR_INCOMPLETE;
	}

	start = pos;
	while (pos < len && !is_blank(line[pos]))
		pos++;
	if (pos - start != sizeof(type) - 1 ||
	    memcmp(line + start, type, sizeof(type) - 1) != 0) {
		*reason = "unknown key type, expected " RV_KEYFILE_PUBLIC_TYPE;
		return RV_KEYFILE_ERR_KEY_TYPE;
	}
	while (pos < len && is_blank(line[pos]))
		pos++;
	if (pos == len) {
		*reason = "missing base64 public key after the key type";
		return RV_KEYFILE_ERR_INCOMPLETE;
	}

	start = pos;
	while (pos < len && !is_blank(line[pos]))
		pos++;
	r = base64_decode_exact(line + start, pos - start, key->key,
	    sizeof(key->key));
	if (r == RV_KEYFILE_ERR_KEY_LENGTH) {
		*reason = "public key is not 32 bytes (44 base64 characters)";
		return r;
	} else if (r != 0) {
		*reason = "invalid base64 in the public key";
		return r;
	}
	while (pos < len && is_blank(line[pos]))
		pos++;

	if (len - pos > RV_KEYFILE_COMMENT_MAX) {
		*reason = "comment longer than 255 bytes";
		return RV_KEYFILE_ERR_COMMENT;
	}
	for (i = pos; i < len; i++) {
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f) {
			*reason = "control character in the comment";
			return RV_KEYFILE_ERR_COMMENT;
		}
	}
	memcpy(key->comment, line + pos, len - pos);
	key->comment[len - pos] = '\0';
	return 0;
}

int
rv_keyfile_parse_public_line(const char *line, size_t len,
    struct rv_recovery_pubkey *key)
{
	const char *reason;
	int r;

	if (line == NULL || key == NULL)
		return RV_KEYFILE_ERR_INVALID_ARGUMENT;
	if ((r = parse_public_line(line, len, key, &reason)) != 0)
		memset(key, 0, sizeof(*key));
	return r;
}

int
rv_keyfile_format_public_line(const uint8_t pk[RV_HPKE_X25519_LEN],
    const char *comment, char *buf, size_t size)
{
	char b64[PUBLIC_BASE64_LEN + 1];
	size_t i, comment_len;
	int n;

	if (pk == NULL || buf == NULL)
		return RV_KEYFILE_ERR_INVALID_ARGUMENT;
	if (comment == NULL)
		comment = "";
	if ((comment_len = strlen(comment)) > RV_KEYFILE_COMMENT_MAX)
		return RV_KEYFILE_ERR_COMMENT;
	for (i = 0; i < comment_len; i++) {
		if ((unsigned char)comment[i] < 0x20 || comment[i] == 0x7f)
			return RV_KEYFILE_ERR_COMMENT;
	}
	/*
	 * The parser drops blanks around the comment, so reject them here:
	 * a formatted line must parse back to the same comment.
	 */
	if (comment_len > 0 && (is_blank(comment[0]) ||
	    is_blank(comment[comment_len - 1])))
		return RV_KEYFILE_ERR_COMMENT;
	base64_encode(pk, RV_HPKE_X25519_LEN, b64, sizeof(b64));
	n = snprintf(buf, size, "%s %s%s%s", RV_KEYFILE_PUBLIC_TYPE, b64,
	    comment_len > 0 ? " " : "", comment);
	if (n < 0 || (size_t)n >= size)
		return RV_KEYFILE_ERR_BUFFER_TOO_SMALL;
	return 0;
}

/*
 * Sets *line to the next line of text[*pos .. len - 1], without its
 * newline, and returns 1. Returns 0 at the end of the text.
 */
static int
next_line(const char *text, size_t len, size_t *pos, const char **line,
    size_t *line_len)
{
	const char *nl;

	if (*pos >= len)
		return 0;
	*line = text + *pos;
	nl = memchr(*line, '\n', len - *pos);
	if (nl == NULL) {
		*line_len = len - *pos;
		*pos = len;
	} else {
		*line_len = (size_t)(nl - *line);
		*pos += *line_len + 1;
	}
	return 1;
}

int
rv_keyfile_parse_public_list(const char *name, const char *text,
    size_t len, struct rv_recovery_pubkey *keys, size_t max_keys,
    size_t *nkeys, struct rv_keyfile_error *err)
{
	const char *line, *reason;
	size_t pos = 0, line_len, i;
	unsigned long lineno = 0;
	int r;

	clear_error(err);
	if (name == NULL || (text == NULL && len != 0) || nkeys == NULL ||
	    (keys == NULL && max_keys != 0))
		return set_error(err, RV_KEYFILE_ERR_INVALID_ARGUMENT, 0,
		    "public key list: invalid argument");
	*nkeys = 0;
	if (len > RV_KEYFILE_LIST_MAX_SIZE)
		return set_error(err, RV_KEYFILE_ERR_TOO_LARGE, 0,
		    "%s: public key list larger than %u bytes", name,
		    (unsigned)RV_KEYFILE_LIST_MAX_SIZE);

	while (next_line(text, len, &pos, &line, &line_len)) {
		lineno++;
		for (i = 0; i < line_len && is_blank(line[i]); i++)
			;
		if (i == line_len || line[i] == '#')
			continue;
		if (*nkeys == max_keys)
			return set_error(err, RV_KEYFILE_ERR_TOO_MANY_KEYS,
			    lineno, "%s line %lu: more than %lu keys in the "
			    "list", name, lineno, (unsigned long)max_keys);
		if ((r = parse_public_line(line, line_len, &keys[*nkeys],
		    &reason)) != 0)
			return set_error(err, r, lineno, "%s line %lu: %s",
			    name, lineno, reason);
		(*nkeys)++;
	}
	return 0;
}

/* Reads all of fd into buf; more than cap bytes is RV_KEYFILE_ERR_TOO_LARGE. */
static int
read_capped(int fd, char *buf, size_t cap, size_t *len)
{
	ssize_t n;
	char extra;

	*len = 0;
	while (*len < cap) {
		n = read(fd, buf + *len, cap - *len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return RV_KEYFILE_ERR_SYSTEM;
		if (n == 0)
			return 0;
		*len += (size_t)n;
	}
	do {
		n = read(fd, &extra, 1);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return RV_KEYFILE_ERR_SYSTEM;
	return n == 0 ? 0 : RV_KEYFILE_ERR_TOO_LARGE;
}

int
rv_keyfile_load_public_list(const char *path,
    struct rv_recovery_pubkey *keys, size_t max_keys, size_t *nkeys,
    struct rv_keyfile_error *err)
{
	char *buf = NULL;
	size_t len;
	int fd = -1, r;

	clear_error(err);
	if (path == NULL || nkeys == NULL)
		return set_error(err, RV_KEYFILE_ERR_INVALID_ARGUMENT, 0,
		    "public key list: invalid argument");
	*nkeys = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		r = set_error(err, RV_KEYFILE_ERR_SYSTEM, 0,
		    "%s: cannot open public key list: %s", path,
		    strerror(errno));
		goto out;
	}
	if ((buf = malloc(RV_KEYFILE_LIST_MAX_SIZE)) == NULL) {
		r = set_error(err, RV_KEYFILE_ERR_SYSTEM, 0,
		    "%s: out of memory", path);
		goto out;
	}
	r = read_capped(fd, buf, RV_KEYFILE_LIST_MAX_SIZE, &len);
	if (r == RV_KEYFILE_ERR_TOO_LARGE) {
		r = set_error(err, r, 0, "%s: public key list larger than "
		    "%u bytes", path, (unsigned)RV_KEYFILE_LIST_MAX_SIZE);
		goto out;
	} else if (r != 0) {
		r = set_error(err, r, 0, "%s: read failed: %s", path,
		    strerror(errno));
		goto out;
	}
	r = rv_keyfile_parse_public_list(path, buf, len, keys, max_keys,
	    nkeys, err);
 out:
	free(buf);
	if (fd != -1)
		close(fd);
	return r;
}

static void
put_private_blob(uint8_t blob[PRIVATE_BLOB_LEN],
    const uint8_t sk[RV_HPKE_X25519_LEN], const uint8_t pk[RV_HPKE_X25519_LEN])
{
	memcpy(blob, PRIVATE_MAGIC, PRIVATE_MAGIC_LEN);
	blob[4] = RV_KEYFILE_PRIVATE_VERSION;
	blob[5] = 0;
	blob[6] = (uint8_t)(RV_HPKE_KEM_X25519_SHA256 >> 8);
	blob[7] = (uint8_t)RV_HPKE_KEM_X25519_SHA256;
	memcpy(blob + 8, sk, RV_HPKE_X25519_LEN);
	memcpy(blob + 8 + RV_HPKE_X25519_LEN, pk, RV_HPKE_X25519_LEN);
}

/* Checks the fields of a decoded blob and verifies its public key. */
static int
check_private_blob(const char *name, const uint8_t blob[PRIVATE_BLOB_LEN],
    uint8_t sk[RV_HPKE_X25519_LEN], uint8_t pk[RV_HPKE_X25519_LEN],
    struct rv_keyfile_error *err)
{
	unsigned kem_id = (unsigned)blob[6] << 8 | blob[7];

	if (memcmp(blob, PRIVATE_MAGIC, PRIVATE_MAGIC_LEN) != 0)
		return set_error(err, RV_KEYFILE_ERR_FORMAT, 2,
		    "%s line 2: key data does not start with \"RVRK\"", name);
	if (blob[4] != RV_KEYFILE_PRIVATE_VERSION)
		return set_error(err, RV_KEYFILE_ERR_FORMAT, 2,
		    "%s line 2: unsupported key file version %u, expected %u",
		    name, blob[4], RV_KEYFILE_PRIVATE_VERSION);
	if (blob[5] != 0)
		return set_error(err, RV_KEYFILE_ERR_FORMAT, 2,
		    "%s line 2: reserved byte is %u, expected 0", name,
		    blob[5]);
	if (kem_id != RV_HPKE_KEM_X25519_SHA256)
		return set_error(err, RV_KEYFILE_ERR_FORMAT, 2,
		    "%s line 2: unsupported kem_id 0x%04x, expected 0x%04x",
		    name, kem_id, RV_HPKE_KEM_X25519_SHA256);

	memcpy(sk, blob + 8, RV_HPKE_X25519_LEN);
	if (rv_hpke_public_key(sk, pk) != 0)
		return set_error(err, RV_KEYFILE_ERR_CRYPTO, 2,
		    "%s line 2: cannot compute the public key", name);
	if (CRYPTO_memcmp(pk, blob + 8 + RV_HPKE_X25519_LEN,
	    RV_HPKE_X25519_LEN) != 0)
		return set_error(err, RV_KEYFILE_ERR_KEY_MISMATCH, 2,
		    "%s line 2: stored public key does not match the private "
		    "key; the file is corrupt", name);
	return 0;
}

static int
line_equals(const char *line, size_t line_len, const char *expected)
{
	return line_len == strlen(expected) &&
	    memcmp(line, expected, line_len) == 0;
}

int
rv_keyfile_parse_private(const char *name, const char *text, size_t len,
    uint8_t sk[RV_HPKE_X25519_LEN], uint8_t pk[RV_HPKE_X25519_LEN],
    struct rv_keyfile_error *err)
{
	uint8_t blob[PRIVATE_BLOB_LEN];
	const char *line;
	size_t pos = 0, line_len;
	int r;

	clear_error(err);
	if (name == NULL || (text == NULL && len != 0) || sk == NULL ||
	    pk == NULL)
		return set_error(err, RV_KEYFILE_ERR_INVALID_ARGUMENT, 0,
		    "private key: invalid argument");
	if (len > RV_KEYFILE_PRIVATE_MAX_SIZE) {
		r = set_error(err, RV_KEYFILE_ERR_TOO_LARGE, 0,
		    "%s: private key file larger than %u bytes", name,
		    (unsigned)RV_KEYFILE_PRIVATE_MAX_SIZE);
		goto out;
	}

	if (!next_line(text, len, &pos, &line, &line_len)) {
		r = set_error(err, RV_KEYFILE_ERR_INCOMPLETE, 1,
		    "%s: private key file is empty", name);
		goto out;
	}
	if (!line_equals(line, line_len, RV_KEYFILE_PRIVATE_BEGIN)) {
		r = set_error(err, RV_KEYFILE_ERR_ARMOR, 1,
		    "%s line 1: expected \"%s\"", name,
		    RV_KEYFILE_PRIVATE_BEGIN);
		goto out;
	}

	if (!next_line(text, len, &pos, &line, &line_len)) {
		r = set_error(err, RV_KEYFILE_ERR_INCOMPLETE, 2,
		    "%s line 2: missing key data", name);
		goto out;
	}
	r = base64_decode_exact(line, line_len, blob, sizeof(blob));
	if (r == RV_KEYFILE_ERR_KEY_LENGTH) {
		r = set_error(err, r, 2, "%s line 2: key data is not %u bytes "
		    "(%u base64 characters)", name, (unsigned)PRIVATE_BLOB_LEN,
		    (unsigned)PRIVATE_BASE64_LEN);
		goto out;
	} else if (r != 0) {
		r = set_error(err, r, 2, "%s line 2: invalid base64 in the "
		    "key data", name);
		goto out;
	}

	if (!next_line(text, len, &pos, &line, &line_len)) {
		r = set_error(err, RV_KEYFILE_ERR_INCOMPLETE, 3,
		    "%s line 3: missing \"%s\"", name, RV_KEYFILE_PRIVATE_END);
		goto out;
	}
	if (!line_equals(line, line_len, RV_KEYFILE_PRIVATE_END)) {
		r = set_error(err, RV_KEYFILE_ERR_ARMOR, 3,
		    "%s line 3: expected \"%s\"", name,
		    RV_KEYFILE_PRIVATE_END);
		goto out;
	}
	if (pos != len) {
		r = set_error(err, RV_KEYFILE_ERR_TRAILING, 4,
		    "%s line 4: unexpected data after \"%s\"", name,
		    RV_KEYFILE_PRIVATE_END);
		goto out;
	}
	r = check_private_blob(name, blob, sk, pk, err);
 out:
	OPENSSL_cleanse(blob, sizeof(blob));
	if (r != 0 && sk != NULL)
		OPENSSL_cleanse(sk, RV_HPKE_X25519_LEN);
	return r;
}

int
rv_keyfile_format_private(const uint8_t sk[RV_HPKE_X25519_LEN],
    char *buf, size_t size, size_t *len)
{
	uint8_t blob[PRIVATE_BLOB_LEN], pk[RV_HPKE_X25519_LEN];
	char b64[PRIVATE_BASE64_LEN + 1];
	int n, r;

	if (sk == NULL || buf == NULL || len == NULL)
		return RV_KEYFILE_ERR_INVALID_ARGUMENT;
	if (rv_hpke_public_key(sk, pk) != 0)
		return RV_KEYFILE_ERR_CRYPTO;
	put_private_blob(blob, sk, pk);
	base64_encode(blob, sizeof(blob), b64, sizeof(b64));
	n = snprintf(buf, size, "%s\n%s\n%s\n", RV_KEYFILE_PRIVATE_BEGIN, b64,
	    RV_KEYFILE_PRIVATE_END);
	if (n < 0 || (size_t)n >= size) {
		OPENSSL_cleanse(buf, size);
		r = RV_KEYFILE_ERR_BUFFER_TOO_SMALL;
	} else {
		*len = (size_t)n;
		r = 0;
	}
	OPENSSL_cleanse(blob, sizeof(blob));
	OPENSSL_cleanse(b64, sizeof(b64));
	return r;
}

/* Rejects a private key file that others could read or replace. */
static int
check_private_stat(const char *path, const struct stat *st,
    struct rv_keyfile_error *err)
{
	if (!S_ISREG(st->st_mode))
		return set_error(err, RV_KEYFILE_ERR_PERMISSIONS, 0,
		    "%s: private key is not a regular file", path);
	if ((st->st_mode & 077) != 0)
		return set_error(err, RV_KEYFILE_ERR_PERMISSIONS, 0,
		    "%s: permissions %04o are too open, group and others must "
		    "have no access to a private key; run chmod 600 %s", path,
		    (unsigned)(st->st_mode & 07777), path);
	if (st->st_uid != geteuid() && st->st_uid != 0)
		return set_error(err, RV_KEYFILE_ERR_PERMISSIONS, 0,
		    "%s: owned by uid %lu, expected uid %lu or root; run "
		    "chown %lu %s", path, (unsigned long)st->st_uid,
		    (unsigned long)geteuid(), (unsigned long)geteuid(), path);
	return 0;
}

int
rv_keyfile_load_private(const char *path, uint8_t sk[RV_HPKE_X25519_LEN],
    uint8_t pk[RV_HPKE_X25519_LEN], struct rv_keyfile_error *err)
{
	char buf[RV_KEYFILE_PRIVATE_MAX_SIZE];
	struct stat st;
	size_t len = 0;
	int fd = -1, r;

	clear_error(err);
	if (path == NULL || sk == NULL || pk == NULL)
		return set_error(err, RV_KEYFILE_ERR_INVALID_ARGUMENT, 0,
		    "private key: invalid argument");
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		r = set_error(err, RV_KEYFILE_ERR_SYSTEM, 0,
		    "%s: cannot open private key: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) == -1) {
		r = set_error(err, RV_KEYFILE_ERR_SYSTEM, 0,
		    "%s: fstat failed: %s", path, strerror(errno));
		goto out;
	}
	if ((r = check_private_stat(path, &st, err)) != 0)
		goto out;
	r = read_capped(fd, buf, sizeof(buf), &len);
	if (r == RV_KEYFILE_ERR_TOO_LARGE) {
		r = set_error(err, r, 0, "%s: private key file larger than "
		    "%u bytes", path, (unsigned)sizeof(buf));
		goto out;
	} else if (r != 0) {
		r = set_error(err, r, 0, "%s: read failed: %s", path,
		    strerror(errno));
		goto out;
	}
	r = rv_keyfile_parse_private(path, buf, len, sk, pk, err);
 out:
	OPENSSL_cleanse(buf, sizeof(buf));
	if (fd != -1)
		close(fd);
	if (r != 0)
		OPENSSL_cleanse(sk, RV_HPKE_X25519_LEN);
	return r;
}

static int
write_all(int fd, const char *data, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, data, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Creates path with O_EXCL and exactly the given mode (fchmod undoes the
 * umask), writes data and syncs it. On failure the new file is removed.
 */
static int
write_new_file(const char *path, const char *data, size_t len, mode_t mode,
    int overwrite, struct rv_keyfile_error *err)
{
	const char *step;
	int fd, saved_errno;

	if (overwrite && unlink(path) == -1 && errno != ENOENT)
		return set_error(err, RV_KEYFILE_ERR_SYSTEM, 0,
		    "%s: cannot remove the old file: %s", path,
		    strerror(errno));
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    mode);
	if (fd == -1 && errno == EEXIST)
		return set_error(err, RV_KEYFILE_ERR_EXISTS, 0,
		    "%s: file already exists, not overwriting it", path);
	if (fd == -1)
		return set_error(err, RV_KEYFILE_ERR_SYSTEM, 0,
		    "%s: cannot create file: %s", path, strerror(errno));

	if (fchmod(fd, mode) == -1)
		step = "fchmod";
	else if (write_all(fd, data, len) == -1)
		step = "write";
	else if (fsync(fd) == -1)
		step = "fsync";
	else
		step = NULL;
	saved_errno = errno;
	if (close(fd) == -1 && step == NULL) {
		step = "close";
		saved_errno = errno;
	}
	if (step == NULL)
		return 0;
	unlink(path);
	return set_error(err, RV_KEYFILE_ERR_SYSTEM, 0, "%s: %s failed: %s",
	    path, step, strerror(saved_errno));
}

int
rv_keyfile_write_private(const char *path,
    const uint8_t sk[RV_HPKE_X25519_LEN], int overwrite,
    struct rv_keyfile_error *err)
{
	char text[RV_KEYFILE_PRIVATE_TEXT_SIZE];
	size_t len;
	int r;

	clear_error(err);
	if (path == NULL || sk == NULL)
		return set_error(err, RV_KEYFILE_ERR_INVALID_ARGUMENT, 0,
		    "private key: invalid argument");
	if ((r = rv_keyfile_format_private(sk, text, sizeof(text),
	    &len)) != 0) {
		r = set_error(err, r, 0, "%s: cannot format private key: %s",
		    path, rv_keyfile_strerror(r));
		goto out;
	}
	r = write_new_file(path, text, len, 0600, overwrite, err);
 out:
	OPENSSL_cleanse(text, sizeof(text));
	return r;
}

int
rv_keyfile_write_public(const char *path,
    const uint8_t pk[RV_HPKE_X25519_LEN], const char *comment,
    int overwrite, struct rv_keyfile_error *err)
{
	char line[RV_KEYFILE_PUBLIC_LINE_SIZE + 1];
	size_t len;
	int r;

	clear_error(err);
	if (path == NULL || pk == NULL)
		return set_error(err, RV_KEYFILE_ERR_INVALID_ARGUMENT, 0,
		    "public key: invalid argument");
	if ((r = rv_keyfile_format_public_line(pk, comment, line,
	    sizeof(line) - 1)) != 0)
		return set_error(err, r, 0, "%s: cannot format public key: %s",
		    path, rv_keyfile_strerror(r));
	len = strlen(line);
	line[len++] = '\n';
	return write_new_file(path, line, len, 0644, overwrite, err);
}
