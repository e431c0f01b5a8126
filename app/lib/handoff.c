/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "handoff.h"
#include "tcp_repair.h"

/* OpenSSH's key type name and public key blob (RFC 8709 section 4). */
#define SSH_ED25519_NAME	"ssh-ed25519"
#define SSH_ED25519_BLOB_LEN	(4 + 11 + 4 + 32)

/* Bytes of one connection without its five variable byte fields. */
#define CONN_FIXED_LEN	(1 + 16 + 2 + 16 + 2 + 1 + 2 + 1 + 1 + 5 * 4 + \
	3 * 4 + (8 + 4) + (8 + 4) + 4 + 4 + 4)

#define FLAG_WSCALE	0x01
#define FLAG_SACK	0x02
#define FLAG_TS		0x04
#define FLAGS_KNOWN	(FLAG_WSCALE | FLAG_SACK | FLAG_TS)

const char *
rv_handoff_strerror(int rc)
{
	switch (rc) {
	case 0:
		return "success";
	case -EAGAIN:
		return "incomplete message";
	case -EBADMSG:
		return "malformed message";
	case -E2BIG:
		return "over a size or count limit";
	case -EPROTONOSUPPORT:
		return "unsupported version or message type";
	case -ENOKEY:
		return "unknown appliance key";
	case -EKEYREJECTED:
		return "invalid signature";
	case -ESTALE:
		return "challenge mismatch (replayed handoff)";
	case -ENOMEM:
		return "out of memory";
	case -ETIMEDOUT:
		return "timed out";
	case -ECONNRESET:
		return "connection closed by peer";
	default:
		return rc < 0 ? strerror(-rc) : "unknown error";
	}
}

/* A bounded reader over untrusted bytes. */
struct reader {
	const uint8_t *p;
	size_t left;
};

static int
get_bytes(struct reader *r, size_t n, const uint8_t **out)
{
	if (n > r->left)
		return -EBADMSG;
	*out = r->p;
	r->p += n;
	r->left -= n;
	return 0;
}

static int
get_u8(struct reader *r, uint8_t *v)
{
	const uint8_t *b;

	if (get_bytes(r, 1, &b) != 0)
		return -EBADMSG;
	*v = b[0];
	return 0;
}

static int
get_u16(struct reader *r, uint16_t *v)
{
	const uint8_t *b;

	if (get_bytes(r, 2, &b) != 0)
		return -EBADMSG;
	*v = (uint16_t)(b[0] << 8 | b[1]);
	return 0;
}

static int
get_u32(struct reader *r, uint32_t *v)
{
	const uint8_t *b;

	if (get_bytes(r, 4, &b) != 0)
		return -EBADMSG;
	*v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	    (uint32_t)b[2] << 8 | b[3];
	return 0;
}

static int
get_u64(struct reader *r, uint64_t *v)
{
	uint32_t hi, lo;

	if (get_u32(r, &hi) != 0 || get_u32(r, &lo) != 0)
		return -EBADMSG;
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

/* A u32 length, capped, then that many bytes. */
static int
get_blob(struct reader *r, size_t cap, const uint8_t **data, size_t *len)
{
	uint32_t n;

	/* A length past the end is malformed even when it is also over the
	 * cap; only bytes that are really there can be too many. */
	if (get_u32(r, &n) != 0 || n > r->left)
		return -EBADMSG;
	if (n > cap)
		return -E2BIG;
	(void)get_bytes(r, n, data);
	*len = n;
	return 0;
}

/* A growing output buffer; a failed put leaves err set and later puts do
 * nothing, so encoders check once at the end. */
struct writer {
	uint8_t *buf;
	size_t len;
	size_t cap;
	int err;
};

static void
put_bytes(struct writer *w, const void *p, size_t n)
{
	uint8_t *grown;
	size_t cap;

	if (w->err != 0 || n == 0)
		return;
	if (n > RV_HANDOFF_MAX_MESSAGE || w->len + n > RV_HANDOFF_MAX_MESSAGE) {
		w->err = -E2BIG;
		return;
	}
	if (w->len + n > w->cap) {
		cap = w->cap == 0 ? 4096 : w->cap;
		while (cap < w->len + n)
			cap *= 2;
		if ((grown = realloc(w->buf, cap)) == NULL) {
			w->err = -ENOMEM;
			return;
		}
		w->buf = grown;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void
put_u8(struct writer *w, uint8_t v)
{
	put_bytes(w, &v, 1);
}

static void
put_u16(struct writer *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	put_bytes(w, b, sizeof(b));
}

static void
put_u32(struct writer *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
	    (uint8_t)(v >> 8), (uint8_t)v };

	put_bytes(w, b, sizeof(b));
}

static void
put_u64(struct writer *w, uint64_t v)
{
	put_u32(w, (uint32_t)(v >> 32));
	put_u32(w, (uint32_t)v);
}

static void
put_blob(struct writer *w, const uint8_t *p, size_t n)
{
	if (n > UINT32_MAX) {
		w->err = -E2BIG;
		return;
	}
	put_u32(w, (uint32_t)n);
	put_bytes(w, p, n);
}

static int
writer_finish(struct writer *w, uint8_t **out, size_t *out_len)
{
	if (w->err != 0) {
		free(w->buf);
		return w->err;
	}
	*out = w->buf;
	*out_len = w->len;
	return 0;
}

int
rv_handoff_frame_length(const uint8_t *buf, size_t len, size_t max,
    size_t *payload_len)
{
	struct reader r = { buf, len };
	uint32_t n;

	if (len < RV_HANDOFF_FRAME_HEADER)
		return -EAGAIN;
	(void)get_u32(&r, &n);
	if (n == 0)
		return -EBADMSG;
	if (n > max)
		return -E2BIG;
	*payload_len = n;
	return 0;
}

/* Reads and checks the version and type bytes. */
static int
get_type(struct reader *r, uint8_t expected)
{
	uint8_t version, type;

	if (get_u8(r, &version) != 0 || get_u8(r, &type) != 0)
		return -EBADMSG;
	if (version != RV_HANDOFF_VERSION || type != expected)
		return -EPROTONOSUPPORT;
	return 0;
}

void
rv_handoff_challenge_encode(const uint8_t challenge[RV_HANDOFF_CHALLENGE_LEN],
    uint8_t out[RV_HANDOFF_CHALLENGE_MSG_LEN])
{
	out[0] = RV_HANDOFF_VERSION;
	out[1] = RV_HANDOFF_TYPE_CHALLENGE;
	memcpy(out + 2, challenge, RV_HANDOFF_CHALLENGE_LEN);
}

int
rv_handoff_challenge_decode(const uint8_t *msg, size_t len,
    uint8_t challenge[RV_HANDOFF_CHALLENGE_LEN])
{
	struct reader r = { msg, len };
	const uint8_t *c;
	int rc;

	if ((rc = get_type(&r, RV_HANDOFF_TYPE_CHALLENGE)) != 0)
		return rc;
	if (get_bytes(&r, RV_HANDOFF_CHALLENGE_LEN, &c) != 0 || r.left != 0)
		return -EBADMSG;
	memcpy(challenge, c, RV_HANDOFF_CHALLENGE_LEN);
	return 0;
}

/* A name is 1..RV_HANDOFF_NAME_MAX bytes of [A-Za-z0-9._-]. */
static bool
name_valid(const uint8_t *p, size_t n)
{
	size_t i;

	if (n == 0 || n > RV_HANDOFF_NAME_MAX)
		return false;
	for (i = 0; i < n; i++) {
		if (!((p[i] >= 'a' && p[i] <= 'z') ||
		    (p[i] >= 'A' && p[i] <= 'Z') ||
		    (p[i] >= '0' && p[i] <= '9') ||
		    p[i] == '.' || p[i] == '_' || p[i] == '-'))
			return false;
	}
	return true;
}

static void
put_addr(struct writer *w, const struct rv_addr *a)
{
	put_u8(w, a->family);
	put_bytes(w, a->bytes, sizeof(a->bytes));
}

/* Family 4 or 6; an IPv4 address leaves bytes 4..15 zero. */
static int
get_addr(struct reader *r, struct rv_addr *a)
{
	const uint8_t *b;
	size_t i;

	if (get_u8(r, &a->family) != 0 || get_bytes(r, 16, &b) != 0)
		return -EBADMSG;
	if (a->family != 4 && a->family != 6)
		return -EBADMSG;
	memcpy(a->bytes, b, 16);
	for (i = 4; a->family == 4 && i < 16; i++) {
		if (b[i] != 0)
			return -EBADMSG;
	}
	return 0;
}

/* The rules that both encode and decode enforce on one connection. */
static int
conn_check(const struct rv_handoff_conn *c, const struct rv_addr *server)
{
	if (!rv_addr_equal(&c->server.addr, server) ||
	    c->client.addr.family != server->family)
		return -EBADMSG;
	if (c->server.port == 0 || c->client.port == 0)
		return -EBADMSG;
	if (c->mss < RV_TCP_REPAIR_MIN_MSS)
		return -EBADMSG;
	/* RFC 7323 section 2.3: shifts above 14 are invalid. */
	if (c->client_wscale > RV_TCP_REPAIR_MAX_WSCALE ||
	    c->server_wscale > RV_TCP_REPAIR_MAX_WSCALE)
		return -EBADMSG;
	if ((uint32_t)(c->snd_nxt - c->snd_una) != c->unacked_len)
		return -EBADMSG;
	if (c->recv_queue_len > RV_TCP_REPAIR_MAX_QUEUE ||
	    c->unacked_len > RV_TCP_REPAIR_MAX_QUEUE)
		return -E2BIG;
	if (c->c2s.offset > UINT64_MAX - c->c2s.len ||
	    c->s2c.offset > UINT64_MAX - c->s2c.len)
		return -EBADMSG;
	return 0;
}

static void
put_conn(struct writer *w, const struct rv_handoff_conn *c)
{
	put_u8(w, c->server.addr.family);
	put_bytes(w, c->server.addr.bytes, 16);
	put_u16(w, c->server.port);
	put_bytes(w, c->client.addr.bytes, 16);
	put_u16(w, c->client.port);
	put_u8(w, (uint8_t)((c->wscale_ok ? FLAG_WSCALE : 0) |
	    (c->sack_ok ? FLAG_SACK : 0) | (c->ts_ok ? FLAG_TS : 0)));
	put_u16(w, c->mss);
	put_u8(w, c->client_wscale);
	put_u8(w, c->server_wscale);
	put_u32(w, c->snd_una);
	put_u32(w, c->snd_nxt);
	put_u32(w, c->rcv_nxt);
	put_u32(w, c->snd_wnd);
	put_u32(w, c->rcv_wnd);
	put_u32(w, c->client_ts_val);
	put_u32(w, c->server_ts_val);
	put_u32(w, c->server_ts_age_ms);
	put_u64(w, c->c2s.offset);
	put_blob(w, c->c2s.data, c->c2s.len);
	put_u64(w, c->s2c.offset);
	put_blob(w, c->s2c.data, c->s2c.len);
	put_blob(w, c->recv_queue, c->recv_queue_len);
	put_blob(w, c->unacked, c->unacked_len);
	put_blob(w, c->material, c->material_len);
}

static int
sign(EVP_PKEY *key, const uint8_t *msg, size_t len,
    uint8_t sig[RV_HANDOFF_SIGNATURE_LEN])
{
	EVP_MD_CTX *ctx;
	size_t sig_len = RV_HANDOFF_SIGNATURE_LEN;
	int rc = -EKEYREJECTED;

	if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519)
		return -EKEYREJECTED;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return -ENOMEM;
	/* Ed25519 hashes internally, so no digest is given (RFC 8032). */
	if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1 &&
	    EVP_DigestSign(ctx, sig, &sig_len, msg, len) == 1 &&
	    sig_len == RV_HANDOFF_SIGNATURE_LEN)
		rc = 0;
	EVP_MD_CTX_free(ctx);
	return rc;
}

static int
verify(EVP_PKEY *key, const uint8_t *msg, size_t len, const uint8_t *sig)
{
	EVP_MD_CTX *ctx;
	int rc = -EKEYREJECTED;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return -ENOMEM;
	if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 &&
	    EVP_DigestVerify(ctx, sig, RV_HANDOFF_SIGNATURE_LEN, msg, len) == 1)
		rc = 0;
	EVP_MD_CTX_free(ctx);
	return rc;
}

int
rv_handoff_encode(const struct rv_handoff *h,
    const uint8_t challenge[RV_HANDOFF_CHALLENGE_LEN], EVP_PKEY *key,
    uint8_t **out, size_t *out_len)
{
	struct writer w = { 0 };
	uint8_t sig[RV_HANDOFF_SIGNATURE_LEN];
	size_t name_len = strlen(h->appliance), i;
	int rc;

	if (!name_valid((const uint8_t *)h->appliance, name_len) ||
	    (h->server.family != 4 && h->server.family != 6))
		return -EINVAL;
	if (h->conn_count > RV_HANDOFF_MAX_CONNECTIONS)
		return -E2BIG;
	for (i = 0; i < h->conn_count; i++) {
		if ((rc = conn_check(&h->conns[i], &h->server)) != 0)
			return rc == -E2BIG ? rc : -EINVAL;
	}

	put_u8(&w, RV_HANDOFF_VERSION);
	put_u8(&w, RV_HANDOFF_TYPE_HANDOFF);
	put_u8(&w, (uint8_t)name_len);
	put_bytes(&w, h->appliance, name_len);
	put_bytes(&w, challenge, RV_HANDOFF_CHALLENGE_LEN);
	put_u64(&w, h->id);
	put_addr(&w, &h->server);
	put_u32(&w, (uint32_t)h->conn_count);
	for (i = 0; i < h->conn_count; i++)
		put_conn(&w, &h->conns[i]);
	if (w.err == 0 && (rc = sign(key, w.buf, w.len, sig)) != 0)
		w.err = rc;
	put_bytes(&w, sig, sizeof(sig));
	return writer_finish(&w, out, out_len);
}

static int
get_log(struct reader *r, size_t cap, struct rv_handoff_log *log)
{
	if (get_u64(r, &log->offset) != 0)
		return -EBADMSG;
	return get_blob(r, cap, &log->data, &log->len);
}

static int
get_conn_fields(struct reader *r, struct rv_handoff_conn *c, uint8_t *flags)
{
	const uint8_t *b;

	if (get_addr(r, &c->server.addr) != 0 ||
	    get_u16(r, &c->server.port) != 0 ||
	    get_bytes(r, 16, &b) != 0 ||
	    get_u16(r, &c->client.port) != 0 ||
	    get_u8(r, flags) != 0 ||
	    get_u16(r, &c->mss) != 0 ||
	    get_u8(r, &c->client_wscale) != 0 ||
	    get_u8(r, &c->server_wscale) != 0 ||
	    get_u32(r, &c->snd_una) != 0 ||
	    get_u32(r, &c->snd_nxt) != 0 ||
	    get_u32(r, &c->rcv_nxt) != 0 ||
	    get_u32(r, &c->snd_wnd) != 0 ||
	    get_u32(r, &c->rcv_wnd) != 0 ||
	    get_u32(r, &c->client_ts_val) != 0 ||
	    get_u32(r, &c->server_ts_val) != 0 ||
	    get_u32(r, &c->server_ts_age_ms) != 0)
		return -EBADMSG;
	c->client.addr.family = c->server.addr.family;
	memcpy(c->client.addr.bytes, b, 16);
	return 0;
}

static int
get_conn(struct reader *r, const struct rv_addr *server,
    struct rv_handoff_conn *c)
{
	uint8_t flags;
	int rc;

	if ((rc = get_conn_fields(r, c, &flags)) != 0)
		return rc;
	if ((flags & ~FLAGS_KNOWN) != 0)
		return -EBADMSG;
	c->wscale_ok = (flags & FLAG_WSCALE) != 0;
	c->sack_ok = (flags & FLAG_SACK) != 0;
	c->ts_ok = (flags & FLAG_TS) != 0;
	if ((rc = get_log(r, r->left, &c->c2s)) != 0 ||
	    (rc = get_log(r, r->left, &c->s2c)) != 0 ||
	    (rc = get_blob(r, RV_TCP_REPAIR_MAX_QUEUE, &c->recv_queue,
	    &c->recv_queue_len)) != 0 ||
	    (rc = get_blob(r, RV_TCP_REPAIR_MAX_QUEUE, &c->unacked,
	    &c->unacked_len)) != 0 ||
	    (rc = get_blob(r, r->left, &c->material, &c->material_len)) != 0)
		return rc;
	if (c->client.addr.family == 4 &&
	    memcmp(c->client.addr.bytes + 4, "\0\0\0\0\0\0\0\0\0\0\0\0",
	    12) != 0)
		return -EBADMSG;
	return conn_check(c, server);
}

/* Reads the version, type, name and challenge, the part read before the
 * signature is checked. */
static int
get_head(struct reader *r, struct rv_handoff *out, const uint8_t **challenge)
{
	const uint8_t *name;
	uint8_t name_len;
	int rc;

	if ((rc = get_type(r, RV_HANDOFF_TYPE_HANDOFF)) != 0)
		return rc;
	if (get_u8(r, &name_len) != 0 || get_bytes(r, name_len, &name) != 0)
		return -EBADMSG;
	if (!name_valid(name, name_len))
		return -EBADMSG;
	memcpy(out->appliance, name, name_len);
	out->appliance[name_len] = '\0';
	if (get_bytes(r, RV_HANDOFF_CHALLENGE_LEN, challenge) != 0)
		return -EBADMSG;
	return 0;
}

static int
get_body(struct reader *r, const struct rv_handoff_limits *lim,
    struct rv_handoff *out)
{
	uint32_t count, i;
	int rc;

	if (get_u64(r, &out->id) != 0 || get_addr(r, &out->server) != 0 ||
	    get_u32(r, &count) != 0)
		return -EBADMSG;
	if (count > lim->max_connections || count > RV_HANDOFF_MAX_CONNECTIONS)
		return -E2BIG;
	/* Each connection takes CONN_FIXED_LEN bytes at least, so a count
	 * the message cannot hold is rejected before any allocation. */
	if ((size_t)count > r->left / CONN_FIXED_LEN)
		return -EBADMSG;
	if (count > 0 && (out->conns = calloc(count, sizeof(*out->conns))) == NULL)
		return -ENOMEM;
	out->conn_count = count;
	for (i = 0; i < count; i++) {
		if ((rc = get_conn(r, &out->server, &out->conns[i])) != 0)
			return rc;
	}
	return r->left == 0 ? 0 : -EBADMSG;
}

static EVP_PKEY *
find_key(const struct rv_handoff_key *keys, size_t key_count, const char *name)
{
	size_t i;

	for (i = 0; i < key_count; i++) {
		if (strcmp(keys[i].name, name) == 0)
			return keys[i].key;
	}
	return NULL;
}

int
rv_handoff_accept(const uint8_t *msg, size_t len,
    const uint8_t challenge[RV_HANDOFF_CHALLENGE_LEN],
    const struct rv_handoff_key *keys, size_t key_count,
    const struct rv_handoff_limits *lim, struct rv_handoff *out)
{
	struct reader r = { msg, len };
	const uint8_t *signed_challenge;
	EVP_PKEY *key;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > lim->max_message || len > RV_HANDOFF_MAX_MESSAGE)
		return -E2BIG;
	if (len < RV_HANDOFF_SIGNATURE_LEN)
		return -EBADMSG;
	/* The signature is the last field; everything before it is signed. */
	r.left = len - RV_HANDOFF_SIGNATURE_LEN;
	if ((rc = get_head(&r, out, &signed_challenge)) != 0)
		goto out;
	if ((key = find_key(keys, key_count, out->appliance)) == NULL) {
		rc = -ENOKEY;
		goto out;
	}
	if ((rc = verify(key, msg, len - RV_HANDOFF_SIGNATURE_LEN,
	    msg + len - RV_HANDOFF_SIGNATURE_LEN)) != 0)
		goto out;
	if (CRYPTO_memcmp(signed_challenge, challenge,
	    RV_HANDOFF_CHALLENGE_LEN) != 0) {
		rc = -ESTALE;
		goto out;
	}
	rc = get_body(&r, lim, out);
 out:
	if (rc != 0) {
		free(out->conns);
		out->conns = NULL;
		out->conn_count = 0;
	}
	return rc;
}

void
rv_handoff_clear(struct rv_handoff *h)
{
	if (h == NULL)
		return;
	free(h->conns);
	memset(h, 0, sizeof(*h));
}

static void
put_reason(struct writer *w, const char *reason)
{
	size_t n = strlen(reason);

	if (n > RV_HANDOFF_REASON_MAX)
		n = RV_HANDOFF_REASON_MAX;
	put_u8(w, (uint8_t)n);
	put_bytes(w, reason, n);
}

int
rv_handoff_result_encode(uint64_t id, const struct rv_handoff_result *results,
    size_t count, uint8_t **out, size_t *out_len)
{
	struct writer w = { 0 };
	size_t i;

	if (count > RV_HANDOFF_MAX_CONNECTIONS)
		return -E2BIG;
	put_u8(&w, RV_HANDOFF_VERSION);
	put_u8(&w, RV_HANDOFF_TYPE_RESULT);
	put_u64(&w, id);
	put_u32(&w, (uint32_t)count);
	for (i = 0; i < count; i++) {
		put_u8(&w, (uint8_t)results[i].status);
		put_reason(&w, results[i].status == RV_HANDOFF_RESTORED ? "" :
		    results[i].reason);
	}
	return writer_finish(&w, out, out_len);
}

int
rv_handoff_reject_encode(const char *reason, uint8_t **out, size_t *out_len)
{
	struct writer w = { 0 };

	put_u8(&w, RV_HANDOFF_VERSION);
	put_u8(&w, RV_HANDOFF_TYPE_REJECT);
	put_reason(&w, reason);
	return writer_finish(&w, out, out_len);
}

static int
get_reason(struct reader *r, char out[RV_HANDOFF_REASON_MAX + 1])
{
	const uint8_t *p;
	uint8_t n, i;

	if (get_u8(r, &n) != 0 || n > RV_HANDOFF_REASON_MAX ||
	    get_bytes(r, n, &p) != 0)
		return -EBADMSG;
	for (i = 0; i < n; i++)
		out[i] = p[i] >= 0x20 && p[i] <= 0x7e ? (char)p[i] : '?';
	out[n] = '\0';
	return 0;
}

static int
get_results(struct reader *r, size_t max_results, struct rv_handoff_reply *out)
{
	uint32_t count, i;
	uint8_t status;

	if (get_u64(r, &out->id) != 0 || get_u32(r, &count) != 0)
		return -EBADMSG;
	if (count > max_results || count > RV_HANDOFF_MAX_CONNECTIONS)
		return -E2BIG;
	/* A result takes two bytes at least. */
	if (count > r->left / 2)
		return -EBADMSG;
	if (count > 0 &&
	    (out->results = calloc(count, sizeof(*out->results))) == NULL)
		return -ENOMEM;
	out->result_count = count;
	for (i = 0; i < count; i++) {
		if (get_u8(r, &status) != 0 || status > RV_HANDOFF_FAILED ||
		    get_reason(r, out->results[i].reason) != 0)
			return -EBADMSG;
		out->results[i].status = status;
	}
	return 0;
}

int
rv_handoff_reply_decode(const uint8_t *msg, size_t len, size_t max_results,
    struct rv_handoff_reply *out)
{
	struct reader r = { msg, len };
	uint8_t version, type;
	int rc;

	memset(out, 0, sizeof(*out));
	if (get_u8(&r, &version) != 0 || get_u8(&r, &type) != 0)
		return -EBADMSG;
	if (version != RV_HANDOFF_VERSION)
		return -EPROTONOSUPPORT;
	if (type == RV_HANDOFF_TYPE_REJECT) {
		out->rejected = true;
		rc = get_reason(&r, out->reason);
	} else if (type == RV_HANDOFF_TYPE_RESULT) {
		rc = get_results(&r, max_results, out);
	} else {
		rc = -EPROTONOSUPPORT;
	}
	if (rc == 0 && r.left != 0)
		rc = -EBADMSG;
	if (rc != 0)
		rv_handoff_reply_clear(out);
	return rc;
}

void
rv_handoff_reply_clear(struct rv_handoff_reply *r)
{
	if (r == NULL)
		return;
	free(r->results);
	memset(r, 0, sizeof(*r));
}

int
rv_handoff_parse_public_key(const char *line, EVP_PKEY **key, char *why,
    size_t why_len)
{
	static const char prefix[] = SSH_ED25519_NAME " ";
	uint8_t blob[128];
	const char *b64;
	size_t n, pad = 0;
	int decoded;

	*key = NULL;
	if (strncmp(line, prefix, sizeof(prefix) - 1) != 0) {
		snprintf(why, why_len, "expected an OpenSSH public key line "
		    "starting with 'ssh-ed25519 '");
		return -EINVAL;
	}
	b64 = line + sizeof(prefix) - 1;
	n = strcspn(b64, " \t");
	/* 51 bytes of blob are 68 base64 characters with no padding. */
	if (n == 0 || n % 4 != 0 || n > 4 * sizeof(blob) / 3) {
		snprintf(why, why_len, "invalid base64 key of %zu characters", n);
		return -EINVAL;
	}
	if (b64[n - 1] == '=')
		pad = b64[n - 2] == '=' ? 2 : 1;
	decoded = EVP_DecodeBlock(blob, (const unsigned char *)b64, (int)n);
	if (decoded < 0 || (size_t)decoded - pad != SSH_ED25519_BLOB_LEN ||
	    memcmp(blob, "\0\0\0\x0b" SSH_ED25519_NAME "\0\0\0\x20", 19) != 0) {
		snprintf(why, why_len, "the base64 part is not an Ed25519 "
		    "public key blob");
		return -EINVAL;
	}
	*key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, blob + 19,
	    RV_HANDOFF_PUBLIC_KEY_LEN);
	if (*key == NULL) {
		snprintf(why, why_len, "OpenSSL rejected the key");
		return -EINVAL;
	}
	return 0;
}

int
rv_handoff_format_public_key(EVP_PKEY *key, const char *comment, char *buf,
    size_t len)
{
	uint8_t blob[SSH_ED25519_BLOB_LEN];
	char b64[4 * ((SSH_ED25519_BLOB_LEN + 2) / 3) + 1];
	size_t raw_len = RV_HANDOFF_PUBLIC_KEY_LEN;
	int n;

	if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519)
		return -EINVAL;
	memcpy(blob, "\0\0\0\x0b" SSH_ED25519_NAME "\0\0\0\x20", 19);
	if (EVP_PKEY_get_raw_public_key(key, blob + 19, &raw_len) != 1 ||
	    raw_len != RV_HANDOFF_PUBLIC_KEY_LEN)
		return -EINVAL;
	EVP_EncodeBlock((unsigned char *)b64, blob, sizeof(blob));
	n = snprintf(buf, len, "%s %s%s%s", SSH_ED25519_NAME, b64,
	    comment != NULL ? " " : "", comment != NULL ? comment : "");
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

static int
wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int n;

	do {
		n = poll(&pfd, 1, timeout_ms);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == 0 ? -ETIMEDOUT : 0;
}

static int
write_all(int fd, const uint8_t *p, size_t len, int timeout_ms)
{
	ssize_t n;
	int rc;

	while (len > 0) {
		if ((rc = wait_fd(fd, POLLOUT, timeout_ms)) != 0)
			return rc;
		n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return errno == EPIPE ? -ECONNRESET : -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
read_all(int fd, uint8_t *p, size_t len, int timeout_ms)
{
	ssize_t n;
	int rc;

	while (len > 0) {
		if ((rc = wait_fd(fd, POLLIN, timeout_ms)) != 0)
			return rc;
		n = recv(fd, p, len, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
rv_handoff_send_frame(int fd, const uint8_t *payload, size_t len,
    int timeout_ms)
{
	uint8_t hdr[RV_HANDOFF_FRAME_HEADER];
	int rc;

	if (len == 0 || len > RV_HANDOFF_MAX_MESSAGE)
		return -E2BIG;
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
	if ((rc = write_all(fd, hdr, sizeof(hdr), timeout_ms)) != 0)
		return rc;
	return write_all(fd, payload, len, timeout_ms);
}

int
rv_handoff_recv_frame(int fd, size_t max, int timeout_ms, uint8_t **payload,
    size_t *len)
{
	uint8_t hdr[RV_HANDOFF_FRAME_HEADER], *buf;
	size_t n;
	int rc;

	*payload = NULL;
	*len = 0;
	if ((rc = read_all(fd, hdr, sizeof(hdr), timeout_ms)) != 0)
		return rc;
	if ((rc = rv_handoff_frame_length(hdr, sizeof(hdr), max, &n)) != 0)
		return rc;
	if ((buf = malloc(n)) == NULL)
		return -ENOMEM;
	if ((rc = read_all(fd, buf, n, timeout_ms)) != 0) {
		free(buf);
		return rc;
	}
	*payload = buf;
	*len = n;
	return 0;
}

int
rv_handoff_exchange(int fd, const struct rv_handoff *h, EVP_PKEY *key,
    int timeout_ms, struct rv_handoff_reply *reply)
{
	uint8_t challenge[RV_HANDOFF_CHALLENGE_LEN];
	uint8_t *in = NULL, *msg = NULL;
	size_t in_len, msg_len;
	int rc;

	memset(reply, 0, sizeof(*reply));
	if ((rc = rv_handoff_recv_frame(fd, RV_HANDOFF_CHALLENGE_MSG_LEN,
	    timeout_ms, &in, &in_len)) != 0)
		goto out;
	if ((rc = rv_handoff_challenge_decode(in, in_len, challenge)) != 0)
		goto out;
	free(in);
	in = NULL;
	if ((rc = rv_handoff_encode(h, challenge, key, &msg, &msg_len)) != 0)
		goto out;
	if ((rc = rv_handoff_send_frame(fd, msg, msg_len, timeout_ms)) != 0)
		goto out;
	/* A RESULT holds at most 2 + 200 bytes per connection. */
	if ((rc = rv_handoff_recv_frame(fd, 16 + h->conn_count *
	    (2 + RV_HANDOFF_REASON_MAX) + RV_HANDOFF_REASON_MAX, timeout_ms,
	    &in, &in_len)) != 0)
		goto out;
	rc = rv_handoff_reply_decode(in, in_len, h->conn_count, reply);
 out:
	free(in);
	free(msg);
	return rc;
}
