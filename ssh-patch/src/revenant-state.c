/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Encoding and decoding of checkpoint content (docs/checkpoint-content.md)
 * with OpenSSH's sshbuf: integers are big-endian and a string is a u32
 * length and its bytes, as in SSH (RFC 4251, section 5).
 *
 * sshd compiles this file in its own tree. tools/ckpt-open links it with
 * that tree's libssh.a (ssh-patch/build), and the fuzz build compiles
 * sshbuf from the same tree (tests/fuzz/meson.build).
 */

#include "includes.h"

#include <sys/types.h>
#include <stdlib.h>
#include <string.h>

#include "sshbuf.h"
#include "ssherr.h"

#include "revenant-state.h"

/* The smallest encoding of an environment variable and of a channel. */
#define ENV_MIN_LEN		8
#define CHANNEL_MIN_LEN		70

const char *
rv_state_strerror(int code)
{
	switch (code) {
	case RV_STATE_OK:
		return "success";
	case RV_STATE_ERR_INVALID_ARGUMENT:
		return "invalid argument";
	case RV_STATE_ERR_INCOMPLETE:
		return "content ends inside a field";
	case RV_STATE_ERR_MALFORMED:
		return "content field out of range";
	case RV_STATE_ERR_TRAILING:
		return "bytes after the last content field";
	case RV_STATE_ERR_TOO_LARGE:
		return "content count or length over its limit";
	case RV_STATE_ERR_NO_MEMORY:
		return "out of memory";
	case RV_STATE_ERR_MAGIC:
		return "content magic is not RVST";
	case RV_STATE_ERR_VERSION:
		return "unsupported content version";
	}
	return "unknown error";
}

/* Maps an SSH_ERR_* code of sshbuf to an RV_STATE_ERR_* code. */
static int
map_err(int r)
{
	switch (r) {
	case 0:
		return RV_STATE_OK;
	case SSH_ERR_MESSAGE_INCOMPLETE:
		return RV_STATE_ERR_INCOMPLETE;
	case SSH_ERR_ALLOC_FAIL:
		return RV_STATE_ERR_NO_MEMORY;
	case SSH_ERR_NO_BUFFER_SPACE:	/* over RV_STATE_CONTENT_MAX */
	case SSH_ERR_STRING_TOO_LARGE:
		return RV_STATE_ERR_TOO_LARGE;
	case SSH_ERR_INVALID_ARGUMENT:
		return RV_STATE_ERR_INVALID_ARGUMENT;
	}
	return RV_STATE_ERR_MALFORMED;
}

/*
 * Copies the bytes of b into a malloc()ed buffer, which the API returns to
 * its caller. The caller of copy_out() frees b, and sshbuf_free() zeroes it.
 */
static int
copy_out(const struct sshbuf *b, uint8_t **out, size_t *out_len)
{
	size_t n = sshbuf_len(b);

	if ((*out = malloc(n == 0 ? 1 : n)) == NULL)
		return RV_STATE_ERR_NO_MEMORY;
	if (n > 0)
		memcpy(*out, sshbuf_ptr(b), n);
	*out_len = n;
	return 0;
}

/* Writer helpers: each returns 0 or an SSH_ERR_* code. */

static int
put_name(struct sshbuf *b, const char *s, size_t size)
{
	/* A fixed field that lost its NUL would be read past its end. */
	if (memchr(s, '\0', size) == NULL)
		return SSH_ERR_INVALID_ARGUMENT;
	return sshbuf_put_cstring(b, s);
}

static int
put_fixed(struct sshbuf *b, const uint8_t *p, uint32_t len, size_t size)
{
	if (len > size)
		return SSH_ERR_INVALID_ARGUMENT;
	return sshbuf_put_string(b, p, len);
}

/* Writes NULL as the empty string, which the decoder turns back to NULL. */
static int
put_text(struct sshbuf *b, const char *s)
{
	return sshbuf_put_cstring(b, s == NULL ? "" : s);
}

/* Reader helpers: each returns 0 or an RV_STATE_ERR_* code. */

static int
get_u8(struct sshbuf *b, uint8_t *v)
{
	return map_err(sshbuf_get_u8(b, v));
}

static int
get_u32(struct sshbuf *b, uint32_t *v)
{
	return map_err(sshbuf_get_u32(b, v));
}

static int
get_u64(struct sshbuf *b, uint64_t *v)
{
	return map_err(sshbuf_get_u64(b, v));
}

/*
 * Takes the next string of at most max bytes. The length is checked
 * against max before against the bytes left, so an oversized length is
 * TOO_LARGE even when the input also ends early.
 */
static int
get_direct(struct sshbuf *b, size_t max, const u_char **pp, size_t *lenp)
{
	uint32_t n;
	int r;

	if ((r = sshbuf_peek_u32(b, 0, &n)) != 0)
		return map_err(r);
	if (n > max)
		return RV_STATE_ERR_TOO_LARGE;
	return map_err(sshbuf_get_string_direct(b, pp, lenp));
}

/* Reads a string of at most max bytes into a fixed buffer. */
static int
get_fixed(struct sshbuf *b, uint8_t *p, size_t max, uint32_t *lenp)
{
	const u_char *v;
	size_t n;
	int ret;

	if ((ret = get_direct(b, max, &v, &n)) != 0)
		return ret;
	if (n > 0)
		memcpy(p, v, n);
	*lenp = (uint32_t)n;
	return 0;
}

/*
 * Reads a string without NUL bytes into a fixed buffer of max + 1. Not
 * sshbuf_get_cstring(): it accepts a NUL as the last byte, which would not
 * encode back to the same bytes.
 */
static int
get_name(struct sshbuf *b, char *s, size_t max)
{
	uint32_t n;
	int ret;

	if ((ret = get_fixed(b, (uint8_t *)s, max, &n)) != 0)
		return ret;
	if (memchr(s, '\0', n) != NULL)
		return RV_STATE_ERR_MALFORMED;
	s[n] = '\0';
	return 0;
}

/*
 * Reads an identification string as sent on the wire without its CR LF
 * (RFC 4253, section 4.2): it starts with "SSH-", holds no NUL, CR or LF,
 * and takes at most 255 bytes.
 */
static int
get_version(struct sshbuf *b, char *s)
{
	uint32_t n;
	int ret;

	if ((ret = get_fixed(b, (uint8_t *)s, RV_STATE_VERSION_STRING_MAX,
	    &n)) != 0)
		return ret;
	if (n < 4 || memcmp(s, "SSH-", 4) != 0 || memchr(s, '\0', n) != NULL ||
	    memchr(s, '\r', n) != NULL || memchr(s, '\n', n) != NULL)
		return RV_STATE_ERR_MALFORMED;
	s[n] = '\0';
	return 0;
}

/* Reads a string into a malloc()ed C string; empty becomes NULL. */
static int
get_text(struct sshbuf *b, char **sp)
{
	const u_char *v;
	size_t n;
	int ret;

	*sp = NULL;
	if ((ret = get_direct(b, RV_STATE_TEXT_MAX, &v, &n)) != 0)
		return ret;
	if (memchr(v, '\0', n) != NULL)
		return RV_STATE_ERR_MALFORMED;
	if (n == 0)
		return 0;
	if ((*sp = malloc(n + 1)) == NULL)
		return RV_STATE_ERR_NO_MEMORY;
	memcpy(*sp, v, n);
	(*sp)[n] = '\0';
	return 0;
}

static int
put_dir(struct sshbuf *b, const struct rv_state_dir *d)
{
	int r;

	if ((r = put_name(b, d->cipher, sizeof(d->cipher))) != 0 ||
	    (r = put_name(b, d->mac, sizeof(d->mac))) != 0 ||
	    (r = sshbuf_put_u8(b, d->etm)) != 0 ||
	    (r = put_fixed(b, d->key, d->key_len, sizeof(d->key))) != 0 ||
	    (r = put_fixed(b, d->iv, d->iv_len, sizeof(d->iv))) != 0 ||
	    (r = put_fixed(b, d->mac_key, d->mac_key_len,
	    sizeof(d->mac_key))) != 0 ||
	    (r = sshbuf_put_u32(b, d->seqnr)) != 0 ||
	    (r = sshbuf_put_u64(b, d->packets)) != 0 ||
	    (r = sshbuf_put_u64(b, d->blocks)) != 0 ||
	    (r = sshbuf_put_u64(b, d->bytes)) != 0 ||
	    (r = sshbuf_put_u64(b, d->max_blocks)) != 0 ||
	    (r = sshbuf_put_u8(b, d->cipher_state_kind)) != 0 ||
	    (r = put_fixed(b, d->cipher_state, d->cipher_state_len,
	    sizeof(d->cipher_state))) != 0)
		return r;
	return 0;
}

static int
get_dir(struct sshbuf *b, struct rv_state_dir *d)
{
	int ret;

	if ((ret = get_name(b, d->cipher, RV_STATE_NAME_MAX)) != 0 ||
	    (ret = get_name(b, d->mac, RV_STATE_NAME_MAX)) != 0 ||
	    (ret = get_u8(b, &d->etm)) != 0 ||
	    (ret = get_fixed(b, d->key, RV_STATE_KEY_MAX, &d->key_len)) != 0 ||
	    (ret = get_fixed(b, d->iv, RV_STATE_IV_MAX, &d->iv_len)) != 0 ||
	    (ret = get_fixed(b, d->mac_key, RV_STATE_KEY_MAX,
	    &d->mac_key_len)) != 0 ||
	    (ret = get_u32(b, &d->seqnr)) != 0 ||
	    (ret = get_u64(b, &d->packets)) != 0 ||
	    (ret = get_u64(b, &d->blocks)) != 0 ||
	    (ret = get_u64(b, &d->bytes)) != 0 ||
	    (ret = get_u64(b, &d->max_blocks)) != 0 ||
	    (ret = get_u8(b, &d->cipher_state_kind)) != 0 ||
	    (ret = get_fixed(b, d->cipher_state, RV_STATE_IV_MAX,
	    &d->cipher_state_len)) != 0)
		return ret;
	if (d->etm > 1 || d->cipher_state_kind < RV_STATE_CIPHER_NONCE_SEQNR ||
	    d->cipher_state_kind > RV_STATE_CIPHER_UNSUPPORTED)
		return RV_STATE_ERR_MALFORMED;
	return 0;
}

static int
put_termios(struct sshbuf *b, const struct rv_state_channel *c)
{
	int r;

	if ((r = sshbuf_put_u8(b, c->has_termios)) != 0)
		return r;
	if (!c->has_termios)
		return 0;
	if ((r = sshbuf_put_u32(b, c->termios_iflag)) != 0 ||
	    (r = sshbuf_put_u32(b, c->termios_oflag)) != 0 ||
	    (r = sshbuf_put_u32(b, c->termios_cflag)) != 0 ||
	    (r = sshbuf_put_u32(b, c->termios_lflag)) != 0 ||
	    (r = sshbuf_put_u32(b, c->termios_ispeed)) != 0 ||
	    (r = sshbuf_put_u32(b, c->termios_ospeed)) != 0)
		return r;
	return put_fixed(b, c->termios_cc, c->termios_cc_len,
	    sizeof(c->termios_cc));
}

static int
put_channel(struct sshbuf *b, const struct rv_state_channel *c)
{
	uint32_t i;
	int r;

	if ((r = sshbuf_put_u32(b, c->self)) != 0 ||
	    (r = sshbuf_put_u32(b, c->remote_id)) != 0 ||
	    (r = sshbuf_put_u32(b, c->type)) != 0 ||
	    (r = put_name(b, c->ctype, sizeof(c->ctype))) != 0 ||
	    (r = sshbuf_put_u32(b, c->istate)) != 0 ||
	    (r = sshbuf_put_u32(b, c->ostate)) != 0 ||
	    (r = sshbuf_put_u32(b, c->flags)) != 0 ||
	    (r = sshbuf_put_u32(b, c->local_window)) != 0 ||
	    (r = sshbuf_put_u32(b, c->local_window_max)) != 0 ||
	    (r = sshbuf_put_u32(b, c->local_consumed)) != 0 ||
	    (r = sshbuf_put_u32(b, c->local_maxpacket)) != 0 ||
	    (r = sshbuf_put_u32(b, c->remote_window)) != 0 ||
	    (r = sshbuf_put_u32(b, c->remote_maxpacket)) != 0 ||
	    (r = put_text(b, c->listen_host)) != 0 ||
	    (r = sshbuf_put_u32(b, c->listen_port)) != 0 ||
	    (r = put_text(b, c->connect_host)) != 0 ||
	    (r = sshbuf_put_u32(b, c->connect_port)) != 0 ||
	    (r = sshbuf_put_u8(b, c->has_session)) != 0)
		return r;
	if (!c->has_session)
		return 0;
	if ((r = put_text(b, c->term)) != 0 ||
	    (r = sshbuf_put_u32(b, c->cols)) != 0 ||
	    (r = sshbuf_put_u32(b, c->rows)) != 0 ||
	    (r = sshbuf_put_u32(b, c->xpixels)) != 0 ||
	    (r = sshbuf_put_u32(b, c->ypixels)) != 0 ||
	    (r = put_termios(b, c)) != 0 ||
	    (r = sshbuf_put_u32(b, c->run)) != 0 ||
	    (r = put_text(b, c->command)) != 0 ||
	    (r = sshbuf_put_u32(b, c->n_env)) != 0)
		return r;
	if (c->n_env > 0 && c->env == NULL)
		return SSH_ERR_INVALID_ARGUMENT;
	for (i = 0; i < c->n_env; i++) {
		if ((r = put_text(b, c->env[i].name)) != 0 ||
		    (r = put_text(b, c->env[i].value)) != 0)
			return r;
	}
	return 0;
}

static int
get_termios(struct sshbuf *b, struct rv_state_channel *c)
{
	int ret;

	if ((ret = get_u8(b, &c->has_termios)) != 0)
		return ret;
	if (c->has_termios > 1)
		return RV_STATE_ERR_MALFORMED;
	if (!c->has_termios)
		return 0;
	if ((ret = get_u32(b, &c->termios_iflag)) != 0 ||
	    (ret = get_u32(b, &c->termios_oflag)) != 0 ||
	    (ret = get_u32(b, &c->termios_cflag)) != 0 ||
	    (ret = get_u32(b, &c->termios_lflag)) != 0 ||
	    (ret = get_u32(b, &c->termios_ispeed)) != 0 ||
	    (ret = get_u32(b, &c->termios_ospeed)) != 0)
		return ret;
	return get_fixed(b, c->termios_cc, RV_STATE_TERMIOS_CC_MAX,
	    &c->termios_cc_len);
}

static int
get_session_fields(struct sshbuf *b, struct rv_state_channel *c)
{
	uint32_t i;
	int ret;

	if ((ret = get_text(b, &c->term)) != 0 ||
	    (ret = get_u32(b, &c->cols)) != 0 ||
	    (ret = get_u32(b, &c->rows)) != 0 ||
	    (ret = get_u32(b, &c->xpixels)) != 0 ||
	    (ret = get_u32(b, &c->ypixels)) != 0 ||
	    (ret = get_termios(b, c)) != 0 ||
	    (ret = get_u32(b, &c->run)) != 0 ||
	    (ret = get_text(b, &c->command)) != 0 ||
	    (ret = get_u32(b, &c->n_env)) != 0)
		return ret;
	if (c->run > RV_STATE_RUN_SUBSYSTEM)
		return RV_STATE_ERR_MALFORMED;
	if (c->n_env > RV_STATE_ENV_MAX) {
		c->n_env = 0;
		return RV_STATE_ERR_TOO_LARGE;
	}
	/* A count that cannot fit in the bytes left is incomplete input and
	 * never a large allocation. */
	if (c->n_env > sshbuf_len(b) / ENV_MIN_LEN) {
		c->n_env = 0;
		return RV_STATE_ERR_INCOMPLETE;
	}
	if (c->n_env > 0 &&
	    (c->env = calloc(c->n_env, sizeof(*c->env))) == NULL) {
		c->n_env = 0;
		return RV_STATE_ERR_NO_MEMORY;
	}
	for (i = 0; i < c->n_env; i++) {
		if ((ret = get_text(b, &c->env[i].name)) != 0 ||
		    (ret = get_text(b, &c->env[i].value)) != 0)
			return ret;
		if (c->env[i].name == NULL)
			return RV_STATE_ERR_MALFORMED;
	}
	return 0;
}

static int
get_channel(struct sshbuf *b, struct rv_state_channel *c)
{
	int ret;

	if ((ret = get_u32(b, &c->self)) != 0 ||
	    (ret = get_u32(b, &c->remote_id)) != 0 ||
	    (ret = get_u32(b, &c->type)) != 0 ||
	    (ret = get_name(b, c->ctype, RV_STATE_NAME_MAX)) != 0 ||
	    (ret = get_u32(b, &c->istate)) != 0 ||
	    (ret = get_u32(b, &c->ostate)) != 0 ||
	    (ret = get_u32(b, &c->flags)) != 0 ||
	    (ret = get_u32(b, &c->local_window)) != 0 ||
	    (ret = get_u32(b, &c->local_window_max)) != 0 ||
	    (ret = get_u32(b, &c->local_consumed)) != 0 ||
	    (ret = get_u32(b, &c->local_maxpacket)) != 0 ||
	    (ret = get_u32(b, &c->remote_window)) != 0 ||
	    (ret = get_u32(b, &c->remote_maxpacket)) != 0 ||
	    (ret = get_text(b, &c->listen_host)) != 0 ||
	    (ret = get_u32(b, &c->listen_port)) != 0 ||
	    (ret = get_text(b, &c->connect_host)) != 0 ||
	    (ret = get_u32(b, &c->connect_port)) != 0 ||
	    (ret = get_u8(b, &c->has_session)) != 0)
		return ret;
	if (c->has_session > 1)
		return RV_STATE_ERR_MALFORMED;
	return c->has_session ? get_session_fields(b, c) : 0;
}

static int
put_session(struct sshbuf *b, const struct rv_state_session *s)
{
	uint32_t i;
	int r;

	if ((r = sshbuf_put_u64(b, s->c2s_offset)) != 0 ||
	    (r = sshbuf_put_u64(b, s->s2c_offset)) != 0 ||
	    (r = put_name(b, s->kex, sizeof(s->kex))) != 0 ||
	    (r = put_name(b, s->hostkey_alg, sizeof(s->hostkey_alg))) != 0 ||
	    (r = put_name(b, s->client_version,
	    sizeof(s->client_version))) != 0 ||
	    (r = put_name(b, s->server_version,
	    sizeof(s->server_version))) != 0 ||
	    (r = sshbuf_put_u32(b, s->transport_flags)) != 0 ||
	    (r = sshbuf_put_u64(b, s->rekey_limit)) != 0 ||
	    (r = sshbuf_put_u32(b, s->rekey_interval)) != 0 ||
	    (r = put_dir(b, &s->dir[RV_STATE_C2S])) != 0 ||
	    (r = put_dir(b, &s->dir[RV_STATE_S2C])) != 0 ||
	    (r = sshbuf_put_u32(b, s->n_channels)) != 0)
		return r;
	for (i = 0; i < s->n_channels; i++) {
		if ((r = put_channel(b, &s->channels[i])) != 0)
			return r;
	}
	return 0;
}

int
rv_state_session_encode(const struct rv_state_session *s, uint8_t **out,
    size_t *out_len)
{
	struct sshbuf *b = NULL;
	int r, ret;

	if (s == NULL || out == NULL || out_len == NULL ||
	    s->n_channels > RV_STATE_CHANNELS_MAX ||
	    (s->n_channels > 0 && s->channels == NULL))
		return RV_STATE_ERR_INVALID_ARGUMENT;
	if ((b = sshbuf_new()) == NULL)
		return RV_STATE_ERR_NO_MEMORY;
	if ((r = sshbuf_set_max_size(b, RV_STATE_CONTENT_MAX)) != 0 ||
	    (r = put_session(b, s)) != 0) {
		ret = map_err(r);
		goto out;
	}
	ret = copy_out(b, out, out_len);
 out:
	sshbuf_free(b);		/* zeroes the keys it held */
	return ret;
}

static int
get_session(struct sshbuf *b, struct rv_state_session *s)
{
	uint32_t i;
	int ret;

	if ((ret = get_u64(b, &s->c2s_offset)) != 0 ||
	    (ret = get_u64(b, &s->s2c_offset)) != 0 ||
	    (ret = get_name(b, s->kex, RV_STATE_NAME_MAX)) != 0 ||
	    (ret = get_name(b, s->hostkey_alg, RV_STATE_NAME_MAX)) != 0 ||
	    (ret = get_version(b, s->client_version)) != 0 ||
	    (ret = get_version(b, s->server_version)) != 0 ||
	    (ret = get_u32(b, &s->transport_flags)) != 0 ||
	    (ret = get_u64(b, &s->rekey_limit)) != 0 ||
	    (ret = get_u32(b, &s->rekey_interval)) != 0 ||
	    (ret = get_dir(b, &s->dir[RV_STATE_C2S])) != 0 ||
	    (ret = get_dir(b, &s->dir[RV_STATE_S2C])) != 0 ||
	    (ret = get_u32(b, &s->n_channels)) != 0)
		return ret;
	if ((s->transport_flags & ~RV_STATE_TRANSPORT_STRICT_KEX) != 0)
		return RV_STATE_ERR_MALFORMED;
	if (s->n_channels > RV_STATE_CHANNELS_MAX) {
		s->n_channels = 0;
		return RV_STATE_ERR_TOO_LARGE;
	}
	/* Refuse counts that cannot fit before allocating for them. */
	if (s->n_channels > sshbuf_len(b) / CHANNEL_MIN_LEN) {
		s->n_channels = 0;
		return RV_STATE_ERR_INCOMPLETE;
	}
	if (s->n_channels > 0 && (s->channels = calloc(s->n_channels,
	    sizeof(*s->channels))) == NULL) {
		s->n_channels = 0;
		return RV_STATE_ERR_NO_MEMORY;
	}
	for (i = 0; i < s->n_channels; i++) {
		if ((ret = get_channel(b, &s->channels[i])) != 0)
			return ret;
	}
	if (sshbuf_len(b) != 0)
		return RV_STATE_ERR_TRAILING;
	return 0;
}

/*
 * Wraps len bytes at buf in a read-only sshbuf without copying them. Input
 * over the content limit is refused here, which also keeps it under
 * sshbuf's own maximum.
 */
static int
wrap_input(const uint8_t *buf, size_t len, struct sshbuf **bp)
{
	*bp = NULL;
	if (len > RV_STATE_CONTENT_MAX)
		return RV_STATE_ERR_TOO_LARGE;
	if ((*bp = sshbuf_from(buf, len)) == NULL)
		return RV_STATE_ERR_NO_MEMORY;
	return 0;
}

int
rv_state_session_decode(const uint8_t *buf, size_t len,
    struct rv_state_session *s)
{
	struct sshbuf *b = NULL;
	int ret;

	if (buf == NULL || s == NULL)
		return RV_STATE_ERR_INVALID_ARGUMENT;
	memset(s, 0, sizeof(*s));
	if ((ret = wrap_input(buf, len, &b)) != 0)
		goto out;
	ret = get_session(b, s);
 out:
	if (ret != 0)
		rv_state_session_clear(s);
	sshbuf_free(b);
	return ret;
}

int
rv_state_content_encode(const char *user, const uint8_t *session_id,
    size_t session_id_len, const uint8_t *session, size_t session_len,
    uint8_t **out, size_t *out_len)
{
	struct sshbuf *b = NULL;
	int r, ret;

	if (user == NULL || session_id == NULL || session == NULL ||
	    out == NULL || out_len == NULL ||
	    strlen(user) > RV_STATE_USER_MAX ||
	    session_id_len > RV_STATE_SESSION_ID_MAX)
		return RV_STATE_ERR_INVALID_ARGUMENT;
	if ((b = sshbuf_new()) == NULL)
		return RV_STATE_ERR_NO_MEMORY;
	if ((r = sshbuf_set_max_size(b, RV_STATE_CONTENT_MAX)) != 0 ||
	    (r = sshbuf_put(b, RV_STATE_MAGIC, 4)) != 0 ||
	    (r = sshbuf_put_u32(b, RV_STATE_VERSION)) != 0 ||
	    (r = sshbuf_put_cstring(b, user)) != 0 ||
	    (r = sshbuf_put_string(b, session_id, session_id_len)) != 0 ||
	    (r = sshbuf_put(b, session, session_len)) != 0) {
		ret = map_err(r);
		goto out;
	}
	ret = copy_out(b, out, out_len);
 out:
	sshbuf_free(b);
	return ret;
}

int
rv_state_content_decode(const uint8_t *buf, size_t len,
    struct rv_state_content *c)
{
	struct sshbuf *b = NULL;
	uint8_t magic[4];
	uint32_t version;
	int ret;

	if (buf == NULL || c == NULL)
		return RV_STATE_ERR_INVALID_ARGUMENT;
	memset(c, 0, sizeof(*c));
	if ((ret = wrap_input(buf, len, &b)) != 0)
		goto out;
	if ((ret = map_err(sshbuf_get(b, magic, sizeof(magic)))) != 0 ||
	    (ret = get_u32(b, &version)) != 0)
		goto out;
	if (memcmp(magic, RV_STATE_MAGIC, sizeof(magic)) != 0) {
		ret = RV_STATE_ERR_MAGIC;
		goto out;
	}
	if (version != RV_STATE_VERSION) {
		ret = RV_STATE_ERR_VERSION;
		goto out;
	}
	if ((ret = get_name(b, c->user, RV_STATE_USER_MAX)) != 0 ||
	    (ret = get_fixed(b, c->session_id, RV_STATE_SESSION_ID_MAX,
	    &c->session_id_len)) != 0)
		goto out;
	if (c->user[0] == '\0' || c->session_id_len == 0) {
		ret = RV_STATE_ERR_MALFORMED;
		goto out;
	}
	ret = get_session(b, &c->session);
 out:
	if (ret != 0)
		rv_state_content_clear(c);
	sshbuf_free(b);
	return ret;
}

static void
clear_channel(struct rv_state_channel *c)
{
	uint32_t i;

	free(c->listen_host);
	free(c->connect_host);
	free(c->term);
	free(c->command);
	for (i = 0; c->env != NULL && i < c->n_env; i++) {
		free(c->env[i].name);
		free(c->env[i].value);
	}
	free(c->env);
	memset(c, 0, sizeof(*c));
}

void
rv_state_session_clear(struct rv_state_session *s)
{
	uint32_t i;

	if (s == NULL)
		return;
	for (i = 0; s->channels != NULL && i < s->n_channels; i++)
		clear_channel(&s->channels[i]);
	free(s->channels);
	explicit_bzero(s, sizeof(*s));
}

void
rv_state_content_clear(struct rv_state_content *c)
{
	if (c == NULL)
		return;
	rv_state_session_clear(&c->session);
	explicit_bzero(c->session_id, sizeof(c->session_id));
	c->session_id_len = 0;
	c->user[0] = '\0';
}
