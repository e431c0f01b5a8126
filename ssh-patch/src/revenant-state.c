/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Encoding and decoding of checkpoint content (docs/checkpoint-content.md).
 * Integers are big-endian; a string is a u32 length and its bytes, as in
 * SSH (RFC 4251, section 5).
 */

#include <stdlib.h>
#include <string.h>

#include "revenant-state.h"

struct writer {
	uint8_t	*buf;
	size_t	 len;
	size_t	 size;
	int	 err;
};

struct reader {
	const uint8_t	*p;
	size_t		 left;
};

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

/* Writer: the first failure sticks in w->err, so callers check once. */

static void
w_reserve(struct writer *w, size_t n)
{
	uint8_t *nbuf;
	size_t nsize;

	if (w->err != 0)
		return;
	if (n > RV_STATE_CONTENT_MAX || w->len + n > RV_STATE_CONTENT_MAX) {
		w->err = RV_STATE_ERR_TOO_LARGE;
		return;
	}
	if (w->len + n <= w->size)
		return;
	nsize = w->size == 0 ? 1024 : w->size;
	while (nsize < w->len + n)
		nsize *= 2;
	/* Copy by hand instead of realloc() so no key bytes stay behind. */
	if ((nbuf = malloc(nsize)) == NULL) {
		w->err = RV_STATE_ERR_NO_MEMORY;
		return;
	}
	if (w->buf != NULL) {
		memcpy(nbuf, w->buf, w->len);
		memset(w->buf, 0, w->size);
		free(w->buf);
	}
	w->buf = nbuf;
	w->size = nsize;
}

static void
w_bytes(struct writer *w, const void *p, size_t n)
{
	w_reserve(w, n);
	if (w->err == 0 && n > 0) {
		memcpy(w->buf + w->len, p, n);
		w->len += n;
	}
}

static void
w_u8(struct writer *w, uint8_t v)
{
	w_bytes(w, &v, 1);
}

static void
w_u32(struct writer *w, uint32_t v)
{
	uint8_t b[4];

	b[0] = v >> 24;
	b[1] = v >> 16;
	b[2] = v >> 8;
	b[3] = v;
	w_bytes(w, b, sizeof(b));
}

static void
w_u64(struct writer *w, uint64_t v)
{
	w_u32(w, (uint32_t)(v >> 32));
	w_u32(w, (uint32_t)v);
}

static void
w_string(struct writer *w, const void *p, size_t n)
{
	if (n > UINT32_MAX) {
		w->err = RV_STATE_ERR_TOO_LARGE;
		return;
	}
	w_u32(w, (uint32_t)n);
	w_bytes(w, p, n);
}

static void
w_cstring(struct writer *w, const char *s)
{
	w_string(w, s == NULL ? "" : s, s == NULL ? 0 : strlen(s));
}

static void
w_discard(struct writer *w)
{
	if (w->buf != NULL) {
		memset(w->buf, 0, w->size);
		free(w->buf);
	}
	w->buf = NULL;
	w->len = w->size = 0;
}

static int
w_finish(struct writer *w, uint8_t **out, size_t *out_len)
{
	if (w->err != 0) {
		w_discard(w);
		return w->err;
	}
	*out = w->buf;
	*out_len = w->len;
	return 0;
}

/* Reader: each function returns 0 or a negative code. */

static int
r_bytes(struct reader *r, void *p, size_t n)
{
	if (r->left < n)
		return RV_STATE_ERR_INCOMPLETE;
	memcpy(p, r->p, n);
	r->p += n;
	r->left -= n;
	return 0;
}

static int
r_u8(struct reader *r, uint8_t *v)
{
	return r_bytes(r, v, 1);
}

static int
r_u32(struct reader *r, uint32_t *v)
{
	uint8_t b[4];
	int ret;

	if ((ret = r_bytes(r, b, sizeof(b))) != 0)
		return ret;
	*v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	    (uint32_t)b[2] << 8 | b[3];
	return 0;
}

static int
r_u64(struct reader *r, uint64_t *v)
{
	uint32_t hi, lo;
	int ret;

	if ((ret = r_u32(r, &hi)) != 0 || (ret = r_u32(r, &lo)) != 0)
		return ret;
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

/* Reads a string of at most max bytes into a fixed buffer. */
static int
r_fixed(struct reader *r, uint8_t *p, size_t max, uint32_t *lenp)
{
	uint32_t n;
	int ret;

	if ((ret = r_u32(r, &n)) != 0)
		return ret;
	if (n > max)
		return RV_STATE_ERR_TOO_LARGE;
	if ((ret = r_bytes(r, p, n)) != 0)
		return ret;
	*lenp = n;
	return 0;
}

/* Reads a string without NUL bytes into a fixed buffer of max + 1. */
static int
r_name(struct reader *r, char *s, size_t max)
{
	uint32_t n;
	int ret;

	if ((ret = r_fixed(r, (uint8_t *)s, max, &n)) != 0)
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
r_version(struct reader *r, char *s)
{
	uint32_t n;
	int ret;

	if ((ret = r_fixed(r, (uint8_t *)s, RV_STATE_VERSION_STRING_MAX,
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
r_text(struct reader *r, char **sp)
{
	uint32_t n;
	int ret;

	*sp = NULL;
	if ((ret = r_u32(r, &n)) != 0)
		return ret;
	if (n > RV_STATE_TEXT_MAX)
		return RV_STATE_ERR_TOO_LARGE;
	if (r->left < n)
		return RV_STATE_ERR_INCOMPLETE;
	if (memchr(r->p, '\0', n) != NULL)
		return RV_STATE_ERR_MALFORMED;
	if (n == 0)
		return 0;
	if ((*sp = malloc(n + 1)) == NULL)
		return RV_STATE_ERR_NO_MEMORY;
	memcpy(*sp, r->p, n);
	(*sp)[n] = '\0';
	r->p += n;
	r->left -= n;
	return 0;
}

static void
put_dir(struct writer *w, const struct rv_state_dir *d)
{
	w_cstring(w, d->cipher);
	w_cstring(w, d->mac);
	w_u8(w, d->etm);
	w_string(w, d->key, d->key_len);
	w_string(w, d->iv, d->iv_len);
	w_string(w, d->mac_key, d->mac_key_len);
	w_u32(w, d->seqnr);
	w_u64(w, d->packets);
	w_u64(w, d->blocks);
	w_u64(w, d->bytes);
	w_u64(w, d->max_blocks);
	w_u8(w, d->cipher_state_kind);
	w_string(w, d->cipher_state, d->cipher_state_len);
}

static int
get_dir(struct reader *r, struct rv_state_dir *d)
{
	int ret;

	if ((ret = r_name(r, d->cipher, RV_STATE_NAME_MAX)) != 0 ||
	    (ret = r_name(r, d->mac, RV_STATE_NAME_MAX)) != 0 ||
	    (ret = r_u8(r, &d->etm)) != 0 ||
	    (ret = r_fixed(r, d->key, RV_STATE_KEY_MAX, &d->key_len)) != 0 ||
	    (ret = r_fixed(r, d->iv, RV_STATE_IV_MAX, &d->iv_len)) != 0 ||
	    (ret = r_fixed(r, d->mac_key, RV_STATE_KEY_MAX,
	    &d->mac_key_len)) != 0 ||
	    (ret = r_u32(r, &d->seqnr)) != 0 ||
	    (ret = r_u64(r, &d->packets)) != 0 ||
	    (ret = r_u64(r, &d->blocks)) != 0 ||
	    (ret = r_u64(r, &d->bytes)) != 0 ||
	    (ret = r_u64(r, &d->max_blocks)) != 0 ||
	    (ret = r_u8(r, &d->cipher_state_kind)) != 0 ||
	    (ret = r_fixed(r, d->cipher_state, RV_STATE_IV_MAX,
	    &d->cipher_state_len)) != 0)
		return ret;
	if (d->etm > 1 || d->cipher_state_kind < RV_STATE_CIPHER_NONCE_SEQNR ||
	    d->cipher_state_kind > RV_STATE_CIPHER_UNSUPPORTED)
		return RV_STATE_ERR_MALFORMED;
	return 0;
}

static void
put_channel(struct writer *w, const struct rv_state_channel *c)
{
	uint32_t i;

	w_u32(w, c->self);
	w_u32(w, c->remote_id);
	w_u32(w, c->type);
	w_cstring(w, c->ctype);
	w_u32(w, c->istate);
	w_u32(w, c->ostate);
	w_u32(w, c->flags);
	w_u32(w, c->local_window);
	w_u32(w, c->local_window_max);
	w_u32(w, c->local_consumed);
	w_u32(w, c->local_maxpacket);
	w_u32(w, c->remote_window);
	w_u32(w, c->remote_maxpacket);
	w_cstring(w, c->listen_host);
	w_u32(w, c->listen_port);
	w_cstring(w, c->connect_host);
	w_u32(w, c->connect_port);
	w_u8(w, c->has_session);
	if (!c->has_session)
		return;
	w_cstring(w, c->term);
	w_u32(w, c->cols);
	w_u32(w, c->rows);
	w_u32(w, c->xpixels);
	w_u32(w, c->ypixels);
	w_u8(w, c->has_termios);
	if (c->has_termios) {
		w_u32(w, c->termios_iflag);
		w_u32(w, c->termios_oflag);
		w_u32(w, c->termios_cflag);
		w_u32(w, c->termios_lflag);
		w_u32(w, c->termios_ispeed);
		w_u32(w, c->termios_ospeed);
		w_string(w, c->termios_cc, c->termios_cc_len);
	}
	w_u32(w, c->run);
	w_cstring(w, c->command);
	w_u32(w, c->n_env);
	for (i = 0; i < c->n_env; i++) {
		w_cstring(w, c->env[i].name);
		w_cstring(w, c->env[i].value);
	}
}

static int
get_termios(struct reader *r, struct rv_state_channel *c)
{
	int ret;

	if ((ret = r_u8(r, &c->has_termios)) != 0)
		return ret;
	if (c->has_termios > 1)
		return RV_STATE_ERR_MALFORMED;
	if (!c->has_termios)
		return 0;
	if ((ret = r_u32(r, &c->termios_iflag)) != 0 ||
	    (ret = r_u32(r, &c->termios_oflag)) != 0 ||
	    (ret = r_u32(r, &c->termios_cflag)) != 0 ||
	    (ret = r_u32(r, &c->termios_lflag)) != 0 ||
	    (ret = r_u32(r, &c->termios_ispeed)) != 0 ||
	    (ret = r_u32(r, &c->termios_ospeed)) != 0)
		return ret;
	return r_fixed(r, c->termios_cc, RV_STATE_TERMIOS_CC_MAX,
	    &c->termios_cc_len);
}

static int
get_session_fields(struct reader *r, struct rv_state_channel *c)
{
	uint32_t i;
	int ret;

	if ((ret = r_text(r, &c->term)) != 0 ||
	    (ret = r_u32(r, &c->cols)) != 0 ||
	    (ret = r_u32(r, &c->rows)) != 0 ||
	    (ret = r_u32(r, &c->xpixels)) != 0 ||
	    (ret = r_u32(r, &c->ypixels)) != 0 ||
	    (ret = get_termios(r, c)) != 0 ||
	    (ret = r_u32(r, &c->run)) != 0 ||
	    (ret = r_text(r, &c->command)) != 0 ||
	    (ret = r_u32(r, &c->n_env)) != 0)
		return ret;
	if (c->run > RV_STATE_RUN_SUBSYSTEM)
		return RV_STATE_ERR_MALFORMED;
	if (c->n_env > RV_STATE_ENV_MAX) {
		c->n_env = 0;
		return RV_STATE_ERR_TOO_LARGE;
	}
	/* Each variable takes at least 8 bytes, so a count that cannot fit
	 * is incomplete input and never a large allocation. */
	if (c->n_env > r->left / 8) {
		c->n_env = 0;
		return RV_STATE_ERR_INCOMPLETE;
	}
	if (c->n_env > 0 &&
	    (c->env = calloc(c->n_env, sizeof(*c->env))) == NULL) {
		c->n_env = 0;
		return RV_STATE_ERR_NO_MEMORY;
	}
	for (i = 0; i < c->n_env; i++) {
		if ((ret = r_text(r, &c->env[i].name)) != 0 ||
		    (ret = r_text(r, &c->env[i].value)) != 0)
			return ret;
		if (c->env[i].name == NULL)
			return RV_STATE_ERR_MALFORMED;
	}
	return 0;
}

static int
get_channel(struct reader *r, struct rv_state_channel *c)
{
	int ret;

	if ((ret = r_u32(r, &c->self)) != 0 ||
	    (ret = r_u32(r, &c->remote_id)) != 0 ||
	    (ret = r_u32(r, &c->type)) != 0 ||
	    (ret = r_name(r, c->ctype, RV_STATE_NAME_MAX)) != 0 ||
	    (ret = r_u32(r, &c->istate)) != 0 ||
	    (ret = r_u32(r, &c->ostate)) != 0 ||
	    (ret = r_u32(r, &c->flags)) != 0 ||
	    (ret = r_u32(r, &c->local_window)) != 0 ||
	    (ret = r_u32(r, &c->local_window_max)) != 0 ||
	    (ret = r_u32(r, &c->local_consumed)) != 0 ||
	    (ret = r_u32(r, &c->local_maxpacket)) != 0 ||
	    (ret = r_u32(r, &c->remote_window)) != 0 ||
	    (ret = r_u32(r, &c->remote_maxpacket)) != 0 ||
	    (ret = r_text(r, &c->listen_host)) != 0 ||
	    (ret = r_u32(r, &c->listen_port)) != 0 ||
	    (ret = r_text(r, &c->connect_host)) != 0 ||
	    (ret = r_u32(r, &c->connect_port)) != 0 ||
	    (ret = r_u8(r, &c->has_session)) != 0)
		return ret;
	if (c->has_session > 1)
		return RV_STATE_ERR_MALFORMED;
	return c->has_session ? get_session_fields(r, c) : 0;
}

int
rv_state_session_encode(const struct rv_state_session *s, uint8_t **out,
    size_t *out_len)
{
	struct writer w = { NULL, 0, 0, 0 };
	uint32_t i;

	if (s == NULL || out == NULL || out_len == NULL ||
	    s->n_channels > RV_STATE_CHANNELS_MAX ||
	    (s->n_channels > 0 && s->channels == NULL))
		return RV_STATE_ERR_INVALID_ARGUMENT;
	w_u64(&w, s->c2s_offset);
	w_u64(&w, s->s2c_offset);
	w_cstring(&w, s->kex);
	w_cstring(&w, s->hostkey_alg);
	w_cstring(&w, s->client_version);
	w_cstring(&w, s->server_version);
	w_u32(&w, s->transport_flags);
	w_u64(&w, s->rekey_limit);
	w_u32(&w, s->rekey_interval);
	put_dir(&w, &s->dir[RV_STATE_C2S]);
	put_dir(&w, &s->dir[RV_STATE_S2C]);
	w_u32(&w, s->n_channels);
	for (i = 0; i < s->n_channels; i++)
		put_channel(&w, &s->channels[i]);
	return w_finish(&w, out, out_len);
}

static int
get_session(struct reader *r, struct rv_state_session *s)
{
	uint32_t i;
	int ret;

	if ((ret = r_u64(r, &s->c2s_offset)) != 0 ||
	    (ret = r_u64(r, &s->s2c_offset)) != 0 ||
	    (ret = r_name(r, s->kex, RV_STATE_NAME_MAX)) != 0 ||
	    (ret = r_name(r, s->hostkey_alg, RV_STATE_NAME_MAX)) != 0 ||
	    (ret = r_version(r, s->client_version)) != 0 ||
	    (ret = r_version(r, s->server_version)) != 0 ||
	    (ret = r_u32(r, &s->transport_flags)) != 0 ||
	    (ret = r_u64(r, &s->rekey_limit)) != 0 ||
	    (ret = r_u32(r, &s->rekey_interval)) != 0 ||
	    (ret = get_dir(r, &s->dir[RV_STATE_C2S])) != 0 ||
	    (ret = get_dir(r, &s->dir[RV_STATE_S2C])) != 0 ||
	    (ret = r_u32(r, &s->n_channels)) != 0)
		return ret;
	if ((s->transport_flags & ~RV_STATE_TRANSPORT_STRICT_KEX) != 0)
		return RV_STATE_ERR_MALFORMED;
	if (s->n_channels > RV_STATE_CHANNELS_MAX) {
		s->n_channels = 0;
		return RV_STATE_ERR_TOO_LARGE;
	}
	/* A channel takes at least 70 bytes: refuse counts that cannot fit. */
	if (s->n_channels > r->left / 70) {
		s->n_channels = 0;
		return RV_STATE_ERR_INCOMPLETE;
	}
	if (s->n_channels > 0 && (s->channels = calloc(s->n_channels,
	    sizeof(*s->channels))) == NULL) {
		s->n_channels = 0;
		return RV_STATE_ERR_NO_MEMORY;
	}
	for (i = 0; i < s->n_channels; i++) {
		if ((ret = get_channel(r, &s->channels[i])) != 0)
			return ret;
	}
	return 0;
}

int
rv_state_session_decode(const uint8_t *buf, size_t len,
    struct rv_state_session *s)
{
	struct reader r;
	int ret;

	if (buf == NULL || s == NULL)
		return RV_STATE_ERR_INVALID_ARGUMENT;
	memset(s, 0, sizeof(*s));
	r.p = buf;
	r.left = len;
	if ((ret = get_session(&r, s)) == 0 && r.left != 0)
		ret = RV_STATE_ERR_TRAILING;
	if (ret != 0)
		rv_state_session_clear(s);
	return ret;
}

int
rv_state_content_encode(const char *user, const uint8_t *session_id,
    size_t session_id_len, const uint8_t *session, size_t session_len,
    uint8_t **out, size_t *out_len)
{
	struct writer w = { NULL, 0, 0, 0 };

	if (user == NULL || session_id == NULL || session == NULL ||
	    out == NULL || out_len == NULL ||
	    strlen(user) > RV_STATE_USER_MAX ||
	    session_id_len > RV_STATE_SESSION_ID_MAX)
		return RV_STATE_ERR_INVALID_ARGUMENT;
	w_bytes(&w, RV_STATE_MAGIC, 4);
	w_u32(&w, RV_STATE_VERSION);
	w_cstring(&w, user);
	w_string(&w, session_id, session_id_len);
	w_bytes(&w, session, session_len);
	return w_finish(&w, out, out_len);
}

int
rv_state_content_decode(const uint8_t *buf, size_t len,
    struct rv_state_content *c)
{
	struct reader r;
	uint8_t magic[4];
	uint32_t version;
	int ret;

	if (buf == NULL || c == NULL)
		return RV_STATE_ERR_INVALID_ARGUMENT;
	memset(c, 0, sizeof(*c));
	r.p = buf;
	r.left = len;
	if ((ret = r_bytes(&r, magic, sizeof(magic))) != 0 ||
	    (ret = r_u32(&r, &version)) != 0)
		return ret;
	if (memcmp(magic, RV_STATE_MAGIC, sizeof(magic)) != 0)
		return RV_STATE_ERR_MAGIC;
	if (version != RV_STATE_VERSION)
		return RV_STATE_ERR_VERSION;
	if ((ret = r_name(&r, c->user, RV_STATE_USER_MAX)) != 0 ||
	    (ret = r_fixed(&r, c->session_id, RV_STATE_SESSION_ID_MAX,
	    &c->session_id_len)) != 0)
		goto out;
	if (c->user[0] == '\0' || c->session_id_len == 0) {
		ret = RV_STATE_ERR_MALFORMED;
		goto out;
	}
	ret = rv_state_session_decode(r.p, r.left, &c->session);
 out:
	if (ret != 0)
		rv_state_content_clear(c);
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
	/* A volatile pointer keeps the compiler from dropping the wipe. */
	{
		volatile uint8_t *p = (volatile uint8_t *)s;
		size_t n;

		for (n = 0; n < sizeof(*s); n++)
			p[n] = 0;
	}
}

void
rv_state_content_clear(struct rv_state_content *c)
{
	if (c == NULL)
		return;
	rv_state_session_clear(&c->session);
	memset(c->session_id, 0, sizeof(c->session_id));
	c->session_id_len = 0;
	c->user[0] = '\0';
}
