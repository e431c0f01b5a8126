/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "revenant-ckpt-wire.h"

#define SSH_ED25519_NAME	"ssh-ed25519"
#define ED25519_SIG_LEN		64

/* Bounded reader: every get checks the bytes left before reading. */
struct reader {
	const uint8_t *p;
	size_t left;
};

/* Bounded writer. */
struct writer {
	uint8_t *p;
	size_t left;
	int overflow;
};

static int
get_bytes(struct reader *r, void *out, size_t n)
{
	if (r->left < n)
		return RV_CKPT_ERR_INCOMPLETE;
	memcpy(out, r->p, n);
	r->p += n;
	r->left -= n;
	return 0;
}

static int
get_u8(struct reader *r, uint8_t *v)
{
	return get_bytes(r, v, 1);
}

static int
get_u16(struct reader *r, uint16_t *v)
{
	uint8_t b[2];

	if (get_bytes(r, b, 2) != 0)
		return RV_CKPT_ERR_INCOMPLETE;
	*v = (uint16_t)(b[0] << 8 | b[1]);
	return 0;
}

static int
get_u32(struct reader *r, uint32_t *v)
{
	uint8_t b[4];

	if (get_bytes(r, b, 4) != 0)
		return RV_CKPT_ERR_INCOMPLETE;
	*v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	    (uint32_t)b[2] << 8 | b[3];
	return 0;
}

static int
get_u64(struct reader *r, uint64_t *v)
{
	uint32_t hi, lo;

	if (get_u32(r, &hi) != 0 || get_u32(r, &lo) != 0)
		return RV_CKPT_ERR_INCOMPLETE;
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

/* An SSH string (RFC 4251 section 5): a view, not a copy. */
static int
get_string(struct reader *r, const uint8_t **s, uint32_t *len)
{
	if (get_u32(r, len) != 0 || r->left < *len)
		return RV_CKPT_ERR_INCOMPLETE;
	*s = r->p;
	r->p += *len;
	r->left -= *len;
	return 0;
}

static void
put_bytes(struct writer *w, const void *in, size_t n)
{
	if (w->overflow || w->left < n) {
		w->overflow = 1;
		return;
	}
	memcpy(w->p, in, n);
	w->p += n;
	w->left -= n;
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

	put_bytes(w, b, 2);
}

static void
put_u32(struct writer *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
	    (uint8_t)(v >> 8), (uint8_t)v };

	put_bytes(w, b, 4);
}

static void
put_u64(struct writer *w, uint64_t v)
{
	put_u32(w, (uint32_t)(v >> 32));
	put_u32(w, (uint32_t)v);
}

static void
put_string(struct writer *w, const void *s, uint32_t len)
{
	put_u32(w, len);
	put_bytes(w, s, len);
}

const char *
rv_ckpt_strerror(int code)
{
	switch (code) {
	case RV_CKPT_OK:
		return "success";
	case RV_CKPT_ERR_INVALID_ARGUMENT:
		return "invalid argument";
	case RV_CKPT_ERR_INCOMPLETE:
		return "datagram ends inside a field";
	case RV_CKPT_ERR_MAGIC:
		return "bad magic";
	case RV_CKPT_ERR_VERSION:
		return "unsupported version";
	case RV_CKPT_ERR_TYPE:
		return "unknown datagram type";
	case RV_CKPT_ERR_MALFORMED:
		return "field out of range";
	case RV_CKPT_ERR_TRAILING:
		return "bytes after the last field";
	case RV_CKPT_ERR_SIGNATURE:
		return "signature invalid";
	case RV_CKPT_ERR_CRYPTO:
		return "libcrypto failure";
	case RV_CKPT_ERR_BUFFER_TOO_SMALL:
		return "output buffer too small";
	case RV_CKPT_ERR_NO_RECIPIENT:
		return "no recipient for this recovery key";
	case RV_CKPT_ERR_OPEN:
		return "decryption failed";
	case RV_CKPT_ERR_KEY_FORMAT:
		return "invalid ssh-ed25519 public key";
	default:
		return "unknown error";
	}
}

static int
get_common(struct reader *r, uint8_t *type)
{
	uint8_t magic[4], version, reserved[2];

	if (get_bytes(r, magic, 4) != 0 || get_u8(r, &version) != 0 ||
	    get_u8(r, type) != 0 || get_bytes(r, reserved, 2) != 0)
		return RV_CKPT_ERR_INCOMPLETE;
	if (memcmp(magic, RV_CKPT_MAGIC, 4) != 0)
		return RV_CKPT_ERR_MAGIC;
	if (version != RV_CKPT_VERSION)
		return RV_CKPT_ERR_VERSION;
	if (*type != RV_CKPT_TYPE_FRAGMENT && *type != RV_CKPT_TYPE_HEARTBEAT)
		return RV_CKPT_ERR_TYPE;
	if (reserved[0] != 0 || reserved[1] != 0)
		return RV_CKPT_ERR_MALFORMED;
	return 0;
}

static void
put_common(struct writer *w, uint8_t type)
{
	put_bytes(w, RV_CKPT_MAGIC, 4);
	put_u8(w, RV_CKPT_VERSION);
	put_u8(w, type);
	put_u16(w, 0);
}

int
rv_ckpt_datagram_type(const uint8_t *buf, size_t len)
{
	struct reader r = { buf, len };
	uint8_t type;
	int rc;

	if (buf == NULL)
		return RV_CKPT_ERR_INVALID_ARGUMENT;
	if ((rc = get_common(&r, &type)) != 0)
		return rc;
	return type;
}

/* An IPv4 address uses the first 4 bytes; the rest must be zero so that
 * one connection has one encoding. */
static int
check_addr(uint8_t family, const uint8_t addr[16])
{
	size_t i;

	if (family == 6)
		return 0;
	if (family != 4)
		return RV_CKPT_ERR_MALFORMED;
	for (i = 4; i < 16; i++)
		if (addr[i] != 0)
			return RV_CKPT_ERR_MALFORMED;
	return 0;
}

/* Reads family, one reserved byte, then both endpoints: the 38-byte form
 * of fragments. The header has two reserved bytes and the version first,
 * so it reads its own prefix and calls get_endpoints(). */
static int
get_endpoints(struct reader *r, struct rv_ckpt_conn *c)
{
	if (get_bytes(r, c->server, 16) != 0 ||
	    get_u16(r, &c->server_port) != 0 ||
	    get_bytes(r, c->client, 16) != 0 ||
	    get_u16(r, &c->client_port) != 0)
		return RV_CKPT_ERR_INCOMPLETE;
	if (check_addr(c->family, c->server) != 0 ||
	    check_addr(c->family, c->client) != 0)
		return RV_CKPT_ERR_MALFORMED;
	return 0;
}

static void
put_endpoints(struct writer *w, const struct rv_ckpt_conn *c)
{
	put_bytes(w, c->server, 16);
	put_u16(w, c->server_port);
	put_bytes(w, c->client, 16);
	put_u16(w, c->client_port);
}

uint16_t
rv_ckpt_frag_count(size_t msg_len)
{
	return (uint16_t)((msg_len + RV_CKPT_FRAG_DATA_MAX - 1) /
	    RV_CKPT_FRAG_DATA_MAX);
}

int
rv_ckpt_frag_decode(const uint8_t *buf, size_t len, struct rv_ckpt_frag *f)
{
	struct reader r = { buf, len };
	uint8_t type, reserved;
	size_t piece;
	int rc;

	if (buf == NULL || f == NULL)
		return RV_CKPT_ERR_INVALID_ARGUMENT;
	memset(f, 0, sizeof(*f));
	if ((rc = get_common(&r, &type)) != 0)
		return rc;
	if (type != RV_CKPT_TYPE_FRAGMENT)
		return RV_CKPT_ERR_TYPE;
	if (get_u64(&r, &f->msg_id) != 0 || get_u32(&r, &f->total_len) != 0 ||
	    get_u16(&r, &f->index) != 0 || get_u16(&r, &f->count) != 0 ||
	    get_u8(&r, &f->conn.family) != 0 || get_u8(&r, &reserved) != 0)
		return RV_CKPT_ERR_INCOMPLETE;
	if ((rc = get_endpoints(&r, &f->conn)) != 0)
		return rc;
	if (reserved != 0 || f->msg_id == 0 || f->total_len == 0 ||
	    f->total_len > RV_CKPT_MSG_MAX ||
	    f->count != rv_ckpt_frag_count(f->total_len) ||
	    f->index >= f->count)
		return RV_CKPT_ERR_MALFORMED;
	/* Every piece but the last is full, so the data has one valid
	 * length and a short one means the datagram was cut. */
	piece = f->total_len - (size_t)f->index * RV_CKPT_FRAG_DATA_MAX;
	if (piece > RV_CKPT_FRAG_DATA_MAX)
		piece = RV_CKPT_FRAG_DATA_MAX;
	if (r.left < piece)
		return RV_CKPT_ERR_INCOMPLETE;
	if (r.left > piece)
		return RV_CKPT_ERR_TRAILING;
	f->data = r.p;
	f->data_len = (uint32_t)piece;
	return 0;
}

int
rv_ckpt_frag_encode(const struct rv_ckpt_conn *conn, uint64_t msg_id,
    const uint8_t *msg, size_t msg_len, uint16_t index, uint8_t *out,
    size_t size, size_t *out_len)
{
	struct writer w = { out, size, 0 };
	uint16_t count = rv_ckpt_frag_count(msg_len);
	size_t off, piece;

	if (conn == NULL || msg == NULL || out == NULL || out_len == NULL ||
	    msg_len == 0 || msg_len > RV_CKPT_MSG_MAX || index >= count ||
	    msg_id == 0)
		return RV_CKPT_ERR_INVALID_ARGUMENT;
	off = (size_t)index * RV_CKPT_FRAG_DATA_MAX;
	piece = msg_len - off;
	if (piece > RV_CKPT_FRAG_DATA_MAX)
		piece = RV_CKPT_FRAG_DATA_MAX;
	put_common(&w, RV_CKPT_TYPE_FRAGMENT);
	put_u64(&w, msg_id);
	put_u32(&w, (uint32_t)msg_len);
	put_u16(&w, index);
	put_u16(&w, count);
	put_u8(&w, conn->family);
	put_u8(&w, 0);
	put_endpoints(&w, conn);
	put_bytes(&w, msg + off, piece);
	if (w.overflow)
		return RV_CKPT_ERR_BUFFER_TOO_SMALL;
	*out_len = size - w.left;
	return 0;
}

static int
get_header(struct reader *r, struct rv_ckpt_header *h)
{
	uint8_t version, reserved[2];
	int rc;

	if (get_u8(r, &version) != 0 || get_u8(r, &h->conn.family) != 0 ||
	    get_bytes(r, reserved, 2) != 0)
		return RV_CKPT_ERR_INCOMPLETE;
	if ((rc = get_endpoints(r, &h->conn)) != 0)
		return rc;
	if (get_bytes(r, h->session_hash, sizeof(h->session_hash)) != 0 ||
	    get_u64(r, &h->number) != 0 || get_u64(r, &h->c2s_offset) != 0 ||
	    get_u64(r, &h->s2c_offset) != 0 ||
	    get_u32(r, &h->total_len) != 0 || get_u32(r, &h->flags) != 0)
		return RV_CKPT_ERR_INCOMPLETE;
	if (version != RV_CKPT_VERSION)
		return RV_CKPT_ERR_VERSION;
	if (reserved[0] != 0 || reserved[1] != 0 || h->number == 0 ||
	    (h->flags & ~RV_CKPT_FLAGS_KNOWN) != 0)
		return RV_CKPT_ERR_MALFORMED;
	return 0;
}

static void
put_header(struct writer *w, const struct rv_ckpt_header *h)
{
	put_u8(w, RV_CKPT_VERSION);
	put_u8(w, h->conn.family);
	put_u16(w, 0);
	put_endpoints(w, &h->conn);
	put_bytes(w, h->session_hash, sizeof(h->session_hash));
	put_u64(w, h->number);
	put_u64(w, h->c2s_offset);
	put_u64(w, h->s2c_offset);
	put_u32(w, h->total_len);
	put_u32(w, h->flags);
}

static int
get_recipient(struct reader *r, struct rv_ckpt_recipient *rc)
{
	if (get_bytes(r, rc->key_id, sizeof(rc->key_id)) != 0 ||
	    get_bytes(r, rc->enc, sizeof(rc->enc)) != 0 ||
	    get_string(r, &rc->ct, &rc->ct_len) != 0)
		return RV_CKPT_ERR_INCOMPLETE;
	if (rc->ct_len < RV_HPKE_TAG_LEN)
		return RV_CKPT_ERR_MALFORMED;
	return 0;
}

int
rv_ckpt_msg_decode(const uint8_t *buf, size_t len, struct rv_ckpt_msg *m)
{
	struct reader r = { buf, len };
	uint32_t i;
	int rc;

	if (buf == NULL || m == NULL)
		return RV_CKPT_ERR_INVALID_ARGUMENT;
	memset(m, 0, sizeof(*m));
	m->header_bytes = buf;
	if ((rc = get_header(&r, &m->hdr)) != 0)
		return rc;
	if (m->hdr.total_len != len)
		return RV_CKPT_ERR_MALFORMED;
	if (get_u32(&r, &m->n_recipients) != 0)
		return RV_CKPT_ERR_INCOMPLETE;
	if (m->n_recipients == 0 || m->n_recipients > RV_CKPT_RECIPIENTS_MAX)
		return RV_CKPT_ERR_MALFORMED;
	for (i = 0; i < m->n_recipients; i++)
		if ((rc = get_recipient(&r, &m->recipients[i])) != 0)
			return rc;
	m->signed_len = len - r.left;
	if (get_string(&r, &m->sig, &m->sig_len) != 0)
		return RV_CKPT_ERR_INCOMPLETE;
	if (r.left != 0)
		return RV_CKPT_ERR_TRAILING;
	return 0;
}

/* Splits an SSH Ed25519 signature blob (RFC 8709 section 6) into its raw
 * 64 bytes. */
static int
parse_sig_blob(const uint8_t *blob, uint32_t blob_len,
    const uint8_t **raw)
{
	struct reader r = { blob, blob_len };
	const uint8_t *name;
	uint32_t name_len, raw_len;

	if (get_string(&r, &name, &name_len) != 0 ||
	    get_string(&r, raw, &raw_len) != 0 || r.left != 0 ||
	    name_len != strlen(SSH_ED25519_NAME) ||
	    memcmp(name, SSH_ED25519_NAME, name_len) != 0 ||
	    raw_len != ED25519_SIG_LEN)
		return RV_CKPT_ERR_SIGNATURE;
	return 0;
}

/* Verifies blob over label || 0x00 || data. */
static int
verify_labeled(const uint8_t pk[RV_CKPT_ED25519_PK_LEN], const char *label,
    const uint8_t *data, size_t len, const uint8_t *blob, uint32_t blob_len)
{
	EVP_PKEY *key = NULL;
	EVP_MD_CTX *md = NULL;
	const uint8_t *raw;
	uint8_t *tbs = NULL;
	size_t label_len = strlen(label) + 1, tbs_len = label_len + len;
	int rc = RV_CKPT_ERR_CRYPTO;

	if (parse_sig_blob(blob, blob_len, &raw) != 0)
		return RV_CKPT_ERR_SIGNATURE;
	/* Ed25519 is one-shot (RFC 8032), so the signed bytes are joined. */
	if ((tbs = malloc(tbs_len)) == NULL)
		goto out;
	memcpy(tbs, label, label_len);
	memcpy(tbs + label_len, data, len);
	key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk,
	    RV_CKPT_ED25519_PK_LEN);
	if (key == NULL || (md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(md, NULL, NULL, NULL, key) != 1)
		goto out;
	rc = EVP_DigestVerify(md, raw, ED25519_SIG_LEN, tbs, tbs_len) == 1 ?
	    0 : RV_CKPT_ERR_SIGNATURE;
out:
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);
	free(tbs);
	return rc;
}

int
rv_ckpt_msg_verify(const struct rv_ckpt_msg *msg, const uint8_t *buf,
    const uint8_t pk[RV_CKPT_ED25519_PK_LEN])
{
	if (msg == NULL || buf == NULL || pk == NULL)
		return RV_CKPT_ERR_INVALID_ARGUMENT;
	return verify_labeled(pk, RV_CKPT_SIG_LABEL, buf, msg->signed_len,
	    msg->sig, msg->sig_len);
}

/* Prepends label || 0x00 to data and calls sign. */
static int
sign_labeled(rv_ckpt_sign_fn sign, void *arg, const char *label,
    const uint8_t *data, size_t len, uint8_t *sig, size_t size,
    size_t *sig_len)
{
	size_t label_len = strlen(label) + 1;
	uint8_t *tbs;
	int rc;

	if ((tbs = malloc(label_len + len)) == NULL)
		return RV_CKPT_ERR_CRYPTO;
	memcpy(tbs, label, label_len);
	memcpy(tbs + label_len, data, len);
	rc = sign(arg, tbs, label_len + len, sig, size, sig_len);
	free(tbs);
	return rc;
}

int
rv_ckpt_key_id(const uint8_t pk[RV_HPKE_X25519_LEN],
    uint8_t id[RV_CKPT_KEY_ID_LEN])
{
	unsigned int n = 0;

	if (EVP_Digest(pk, RV_HPKE_X25519_LEN, id, &n, EVP_sha256(), NULL) !=
	    1 || n != RV_CKPT_KEY_ID_LEN)
		return RV_CKPT_ERR_CRYPTO;
	return 0;
}

/* Seals content for one key: key id, enc, then the ciphertext string. */
static int
put_recipient(struct writer *w, const uint8_t pk[RV_HPKE_X25519_LEN],
    const uint8_t *aad, const uint8_t *content, size_t content_len)
{
	uint8_t id[RV_CKPT_KEY_ID_LEN], enc[RV_HPKE_ENC_LEN];
	size_t ct_len = content_len + RV_HPKE_TAG_LEN, written;

	if (rv_ckpt_key_id(pk, id) != 0)
		return RV_CKPT_ERR_CRYPTO;
	put_bytes(w, id, sizeof(id));
	if (w->overflow || w->left < sizeof(enc) + 4 + ct_len)
		return RV_CKPT_ERR_BUFFER_TOO_SMALL;
	if (rv_hpke_seal(RV_HPKE_AEAD_CHACHA20POLY1305, pk,
	    (const uint8_t *)RV_CKPT_HPKE_INFO, strlen(RV_CKPT_HPKE_INFO),
	    aad, RV_CKPT_HEADER_LEN, content, content_len, w->p,
	    w->p + sizeof(enc) + 4, ct_len, &written) != 0 ||
	    written != ct_len)
		return RV_CKPT_ERR_CRYPTO;
	memcpy(enc, w->p, sizeof(enc));
	put_bytes(w, enc, sizeof(enc));
	put_u32(w, (uint32_t)ct_len);
	w->p += ct_len;
	w->left -= ct_len;
	return 0;
}

int
rv_ckpt_msg_build(const struct rv_ckpt_header *hdr,
    const uint8_t (*keys)[RV_HPKE_X25519_LEN], size_t n_keys,
    const uint8_t *content, size_t content_len, rv_ckpt_sign_fn sign,
    void *sign_arg, uint8_t **out, size_t *out_len)
{
	struct rv_ckpt_header h;
	struct writer w;
	uint8_t *buf = NULL;
	size_t total, each, i, sig_len;
	int rc = RV_CKPT_ERR_INVALID_ARGUMENT;

	if (hdr == NULL || keys == NULL || n_keys == 0 ||
	    n_keys > RV_CKPT_RECIPIENTS_MAX || (content == NULL &&
	    content_len != 0) || sign == NULL || out == NULL ||
	    out_len == NULL || hdr->number == 0)
		return rc;
	each = RV_CKPT_KEY_ID_LEN + RV_HPKE_ENC_LEN + 4 + content_len +
	    RV_HPKE_TAG_LEN;
	/* The signature blob of Ed25519 has a fixed size, so the total is
	 * known before signing and the header can carry it. */
	total = RV_CKPT_HEADER_LEN + 4 + n_keys * each + 4 +
	    RV_CKPT_SIG_BLOB_LEN;
	if (content_len > RV_CKPT_MSG_MAX || total > RV_CKPT_MSG_MAX)
		return rc;
	if ((buf = malloc(total)) == NULL)
		return RV_CKPT_ERR_CRYPTO;
	h = *hdr;
	h.total_len = (uint32_t)total;
	w = (struct writer){ buf, total, 0 };
	put_header(&w, &h);
	put_u32(&w, (uint32_t)n_keys);
	for (i = 0; i < n_keys; i++)
		if ((rc = put_recipient(&w, keys[i], buf, content,
		    content_len)) != 0)
			goto out;
	put_u32(&w, RV_CKPT_SIG_BLOB_LEN);
	if (w.overflow) {
		rc = RV_CKPT_ERR_BUFFER_TOO_SMALL;
		goto out;
	}
	rc = sign_labeled(sign, sign_arg, RV_CKPT_SIG_LABEL, buf,
	    total - 4 - RV_CKPT_SIG_BLOB_LEN, w.p, w.left, &sig_len);
	if (rc == 0 && sig_len != RV_CKPT_SIG_BLOB_LEN)
		rc = RV_CKPT_ERR_SIGNATURE;
	if (rc != 0)
		goto out;
	*out = buf;
	*out_len = total;
	buf = NULL;
out:
	free(buf);
	return rc;
}

int
rv_ckpt_msg_open(const struct rv_ckpt_msg *msg,
    const uint8_t sk[RV_HPKE_X25519_LEN], uint8_t *pt, size_t pt_size,
    size_t *pt_len)
{
	uint8_t pk[RV_HPKE_X25519_LEN], id[RV_CKPT_KEY_ID_LEN];
	const struct rv_ckpt_recipient *rc;
	uint32_t i;

	if (msg == NULL || sk == NULL || pt == NULL || pt_len == NULL)
		return RV_CKPT_ERR_INVALID_ARGUMENT;
	if (rv_hpke_public_key(sk, pk) != 0 || rv_ckpt_key_id(pk, id) != 0)
		return RV_CKPT_ERR_CRYPTO;
	for (i = 0; i < msg->n_recipients; i++) {
		rc = &msg->recipients[i];
		if (memcmp(rc->key_id, id, sizeof(id)) != 0)
			continue;
		if (rv_hpke_open(RV_HPKE_AEAD_CHACHA20POLY1305, rc->enc, sk,
		    (const uint8_t *)RV_CKPT_HPKE_INFO,
		    strlen(RV_CKPT_HPKE_INFO), msg->header_bytes,
		    RV_CKPT_HEADER_LEN, rc->ct, rc->ct_len, pt, pt_size,
		    pt_len) != 0)
			return RV_CKPT_ERR_OPEN;
		return 0;
	}
	return RV_CKPT_ERR_NO_RECIPIENT;
}

int
rv_ckpt_heartbeat_decode(const uint8_t *buf, size_t len,
    struct rv_ckpt_heartbeat *hb)
{
	struct reader r = { buf, len };
	uint8_t type, reserved[3];
	int rc;

	if (buf == NULL || hb == NULL)
		return RV_CKPT_ERR_INVALID_ARGUMENT;
	memset(hb, 0, sizeof(*hb));
	if ((rc = get_common(&r, &type)) != 0)
		return rc;
	if (type != RV_CKPT_TYPE_HEARTBEAT)
		return RV_CKPT_ERR_TYPE;
	if (get_u8(&r, &hb->family) != 0 || get_bytes(&r, reserved, 3) != 0 ||
	    get_bytes(&r, hb->server, 16) != 0 ||
	    get_u16(&r, &hb->server_port) != 0 ||
	    get_u64(&r, &hb->boot_id) != 0 ||
	    get_u64(&r, &hb->sequence) != 0 ||
	    get_u32(&r, &hb->connections) != 0 ||
	    get_string(&r, &hb->sig, &hb->sig_len) != 0)
		return RV_CKPT_ERR_INCOMPLETE;
	if (reserved[0] != 0 || reserved[1] != 0 || reserved[2] != 0 ||
	    check_addr(hb->family, hb->server) != 0 || hb->sequence == 0)
		return RV_CKPT_ERR_MALFORMED;
	if (r.left != 0)
		return RV_CKPT_ERR_TRAILING;
	return 0;
}

int
rv_ckpt_heartbeat_verify(const struct rv_ckpt_heartbeat *hb,
    const uint8_t *buf, size_t len, const uint8_t pk[RV_CKPT_ED25519_PK_LEN])
{
	if (hb == NULL || buf == NULL || pk == NULL ||
	    len < RV_CKPT_HB_SIGNED_LEN)
		return RV_CKPT_ERR_INVALID_ARGUMENT;
	return verify_labeled(pk, RV_CKPT_HB_SIG_LABEL, buf,
	    RV_CKPT_HB_SIGNED_LEN, hb->sig, hb->sig_len);
}

int
rv_ckpt_heartbeat_build(const struct rv_ckpt_heartbeat *hb,
    rv_ckpt_sign_fn sign, void *sign_arg, uint8_t *out, size_t size,
    size_t *out_len)
{
	struct writer w = { out, size, 0 };
	size_t sig_len;
	int rc;

	if (hb == NULL || sign == NULL || out == NULL || out_len == NULL ||
	    hb->sequence == 0 || check_addr(hb->family, hb->server) != 0)
		return RV_CKPT_ERR_INVALID_ARGUMENT;
	put_common(&w, RV_CKPT_TYPE_HEARTBEAT);
	put_u8(&w, hb->family);
	put_u8(&w, 0);
	put_u16(&w, 0);
	put_bytes(&w, hb->server, 16);
	put_u16(&w, hb->server_port);
	put_u64(&w, hb->boot_id);
	put_u64(&w, hb->sequence);
	put_u32(&w, hb->connections);
	put_u32(&w, RV_CKPT_SIG_BLOB_LEN);
	if (w.overflow || w.left < RV_CKPT_SIG_BLOB_LEN)
		return RV_CKPT_ERR_BUFFER_TOO_SMALL;
	rc = sign_labeled(sign, sign_arg, RV_CKPT_HB_SIG_LABEL, out,
	    RV_CKPT_HB_SIGNED_LEN, w.p, w.left, &sig_len);
	if (rc == 0 && sig_len != RV_CKPT_SIG_BLOB_LEN)
		rc = RV_CKPT_ERR_SIGNATURE;
	if (rc != 0)
		return rc;
	*out_len = RV_CKPT_HB_LEN;
	return 0;
}

/* Signs data with key (Ed25519) and writes the SSH signature blob. */
static int
sign_blob(EVP_PKEY *key, const uint8_t *data, size_t len, uint8_t *sig,
    size_t *sig_len)
{
	struct writer w = { sig, RV_CKPT_SIG_BLOB_LEN, 0 };
	EVP_MD_CTX *md = NULL;
	uint8_t raw[ED25519_SIG_LEN];
	size_t raw_len = sizeof(raw);
	int rc = RV_CKPT_ERR_CRYPTO;

	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(md, NULL, NULL, NULL, key) != 1 ||
	    EVP_DigestSign(md, raw, &raw_len, data, len) != 1 ||
	    raw_len != ED25519_SIG_LEN)
		goto out;
	put_string(&w, SSH_ED25519_NAME, (uint32_t)strlen(SSH_ED25519_NAME));
	put_string(&w, raw, ED25519_SIG_LEN);
	*sig_len = RV_CKPT_SIG_BLOB_LEN;
	rc = 0;
out:
	EVP_MD_CTX_free(md);
	return rc;
}

int
rv_ckpt_ed25519_sign(void *arg, const uint8_t *data, size_t len,
    uint8_t *sig, size_t size, size_t *sig_len)
{
	EVP_PKEY *key;
	int rc;

	if (arg == NULL || data == NULL || sig == NULL || sig_len == NULL)
		return RV_CKPT_ERR_INVALID_ARGUMENT;
	if (size < RV_CKPT_SIG_BLOB_LEN)
		return RV_CKPT_ERR_BUFFER_TOO_SMALL;
	key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, arg,
	    RV_CKPT_ED25519_SEED_LEN);
	if (key == NULL)
		return RV_CKPT_ERR_CRYPTO;
	rc = sign_blob(key, data, len, sig, sig_len);
	EVP_PKEY_free(key);	/* zeroes its copy of the seed */
	return rc;
}

/*
 * Makes an Ed25519 key object of seed and public key both given, so that
 * OpenSSL does not compute the public key again: a scalar multiplication
 * as costly as the signature itself.
 */
static EVP_PKEY *
ed25519_keypair(const uint8_t *keypair)
{
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *pctx;
	EVP_PKEY *key = NULL;

	params[0] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PRIV_KEY,
	    (void *)keypair, RV_CKPT_ED25519_SEED_LEN);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
	    (void *)(keypair + RV_CKPT_ED25519_SEED_LEN),
	    RV_CKPT_ED25519_PK_LEN);
	params[2] = OSSL_PARAM_construct_end();
	if ((pctx = EVP_PKEY_CTX_new_from_name(NULL, "ED25519", NULL)) == NULL)
		return NULL;
	if (EVP_PKEY_fromdata_init(pctx) != 1 ||
	    EVP_PKEY_fromdata(pctx, &key, EVP_PKEY_KEYPAIR, params) != 1)
		key = NULL;
	EVP_PKEY_CTX_free(pctx);
	return key;
}

int
rv_ckpt_ed25519_sign_keypair(void *arg, const uint8_t *data, size_t len,
    uint8_t *sig, size_t size, size_t *sig_len)
{
	EVP_PKEY *key;
	int rc;

	if (arg == NULL || data == NULL || sig == NULL || sig_len == NULL)
		return RV_CKPT_ERR_INVALID_ARGUMENT;
	if (size < RV_CKPT_SIG_BLOB_LEN)
		return RV_CKPT_ERR_BUFFER_TOO_SMALL;
	if ((key = ed25519_keypair(arg)) == NULL)
		return RV_CKPT_ERR_CRYPTO;
	rc = sign_blob(key, data, len, sig, sig_len);
	EVP_PKEY_free(key);	/* zeroes its copy of the seed */
	return rc;
}

int
rv_ckpt_ed25519_public(const uint8_t seed[RV_CKPT_ED25519_SEED_LEN],
    uint8_t pk[RV_CKPT_ED25519_PK_LEN])
{
	EVP_PKEY *key;
	size_t len = RV_CKPT_ED25519_PK_LEN;
	int rc = RV_CKPT_ERR_CRYPTO;

	key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed,
	    RV_CKPT_ED25519_SEED_LEN);
	if (key != NULL && EVP_PKEY_get_raw_public_key(key, pk, &len) == 1 &&
	    len == RV_CKPT_ED25519_PK_LEN)
		rc = 0;
	EVP_PKEY_free(key);
	return rc;
}

int
rv_ckpt_parse_ssh_ed25519(const char *line, size_t len,
    uint8_t pk[RV_CKPT_ED25519_PK_LEN])
{
	/* The key blob is string "ssh-ed25519", string key[32]: 51 bytes,
	 * 68 base64 characters. */
	uint8_t blob[72];
	struct reader r;
	const char *p = line, *end = line + len, *b64;
	const uint8_t *name, *key;
	uint32_t name_len, key_len;
	size_t type_len = strlen(SSH_ED25519_NAME), b64_len;

	if (line == NULL || pk == NULL || len < type_len + 1 ||
	    memcmp(p, SSH_ED25519_NAME, type_len) != 0 ||
	    (p[type_len] != ' ' && p[type_len] != '\t'))
		return RV_CKPT_ERR_KEY_FORMAT;
	p += type_len;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	b64 = p;
	while (p < end && *p != ' ' && *p != '\t')
		p++;
	b64_len = (size_t)(p - b64);
	if (b64_len != 68 || EVP_DecodeBlock(blob, (const uint8_t *)b64,
	    (int)b64_len) != 51)
		return RV_CKPT_ERR_KEY_FORMAT;
	/* 51 bytes fill 68 characters exactly, so no '=' padding. */
	r = (struct reader){ blob, 51 };
	if (get_string(&r, &name, &name_len) != 0 ||
	    name_len != type_len || memcmp(name, SSH_ED25519_NAME,
	    type_len) != 0 || get_string(&r, &key, &key_len) != 0 ||
	    key_len != RV_CKPT_ED25519_PK_LEN || r.left != 0)
		return RV_CKPT_ERR_KEY_FORMAT;
	memcpy(pk, key, RV_CKPT_ED25519_PK_LEN);
	return 0;
}
