/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * HPKE base mode (RFC 9180): DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and
 * the AEADs AES-128-GCM, AES-256-GCM and ChaCha20-Poly1305. Only mode_base
 * with the default (empty) PSK is implemented, because checkpoints are
 * authenticated by the primary's host key signature, not by the KEM.
 */

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "revenant-hpke.h"

#define HPKE_MODE_BASE		0x00
#define HPKE_VERSION_LABEL	"HPKE-v1"
#define HPKE_VERSION_LABEL_LEN	7
#define HPKE_KEM_SUITE_ID_LEN	5	/* "KEM" || kem_id */
#define HPKE_SUITE_ID_LEN	10	/* "HPKE" || kem_id || kdf_id || aead_id */
#define HPKE_SUITE_ID_MAX_LEN	HPKE_SUITE_ID_LEN
#define HPKE_LABEL_MAX_LEN	16	/* longest label used: "shared_secret" */
/* mode || psk_id_hash || info_hash (RFC 9180 section 5.1). */
#define HPKE_KS_CONTEXT_LEN	(1 + 2 * RV_HPKE_SECRET_LEN)

/* Largest ikm given to LabeledExtract: info, or the DH output. */
#define HPKE_EXTRACT_IKM_MAX_LEN	RV_HPKE_MAX_INFO_LEN
/* Largest info given to LabeledExpand: an exporter_context. */
#define HPKE_EXPAND_INFO_MAX_LEN	RV_HPKE_MAX_EXPORT_CONTEXT_LEN

const char *
rv_hpke_strerror(int code)
{
	switch (code) {
	case RV_HPKE_OK:
		return "success";
	case RV_HPKE_ERR_INVALID_ARGUMENT:
		return "invalid argument";
	case RV_HPKE_ERR_UNSUPPORTED_AEAD:
		return "unsupported HPKE AEAD identifier";
	case RV_HPKE_ERR_CRYPTO:
		return "libcrypto operation failed";
	case RV_HPKE_ERR_DH:
		return "X25519 failed: peer public key is a low-order point";
	case RV_HPKE_ERR_BUFFER_TOO_SMALL:
		return "output buffer too small";
	case RV_HPKE_ERR_TRUNCATED:
		return "ciphertext shorter than the authentication tag";
	case RV_HPKE_ERR_OPEN:
		return "message authentication failed";
	case RV_HPKE_ERR_MESSAGE_LIMIT:
		return "HPKE sequence number exhausted";
	case RV_HPKE_ERR_EXPORT_LENGTH:
		return "requested export length too large";
	case RV_HPKE_ERR_WRONG_ROLE:
		return "operation not allowed on this side of the context";
	default:
		return "unknown HPKE error";
	}
}

/*
 * Algorithm implementations, fetched once per process and never freed.
 * OpenSSL 3.0 searches its providers on every EVP_KDF_fetch() and on every
 * cipher initialisation with a built-in EVP_CIPHER, which cost more than
 * the HKDF computation itself.
 */
static struct {
	EVP_KDF		*hkdf;
	EVP_CIPHER	*aes128gcm;
	EVP_CIPHER	*aes256gcm;
	EVP_CIPHER	*chacha20poly1305;
	int		 ready;
} algs;
static CRYPTO_ONCE algs_once = CRYPTO_ONCE_STATIC_INIT;

static void
fetch_algorithms(void)
{
	algs.hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	algs.aes128gcm = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
	algs.aes256gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	algs.chacha20poly1305 = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305",
	    NULL);
	algs.ready = algs.hkdf != NULL && algs.aes128gcm != NULL &&
	    algs.aes256gcm != NULL && algs.chacha20poly1305 != NULL;
}

/* Returns 1 once the implementations are fetched, 0 if that failed. */
static int
algorithms_ready(void)
{
	return CRYPTO_THREAD_run_once(&algs_once, fetch_algorithms) == 1 &&
	    algs.ready;
}

/* Returns Nk of aead_id (RFC 9180 section 7.3), or 0 if unsupported. */
static size_t
aead_key_len(uint16_t aead_id)
{
	switch (aead_id) {
	case RV_HPKE_AEAD_AES128GCM:
		return 16;
	case RV_HPKE_AEAD_AES256GCM:
	case RV_HPKE_AEAD_CHACHA20POLY1305:
		return 32;
	default:
		return 0;
	}
}

/* Returns the fetched cipher of aead_id, or NULL. */
static const EVP_CIPHER *
aead_cipher(uint16_t aead_id)
{
	if (!algorithms_ready())
		return NULL;
	switch (aead_id) {
	case RV_HPKE_AEAD_AES128GCM:
		return algs.aes128gcm;
	case RV_HPKE_AEAD_AES256GCM:
		return algs.aes256gcm;
	case RV_HPKE_AEAD_CHACHA20POLY1305:
		return algs.chacha20poly1305;
	default:
		return NULL;
	}
}

int
rv_hpke_aead_supported(uint16_t aead_id)
{
	return aead_key_len(aead_id) != 0;
}

static void
put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
kem_suite_id(uint8_t id[HPKE_KEM_SUITE_ID_LEN])
{
	memcpy(id, "KEM", 3);
	put_u16(id + 3, RV_HPKE_KEM_X25519_SHA256);
}

static void
hpke_suite_id(uint16_t aead_id, uint8_t id[HPKE_SUITE_ID_LEN])
{
	memcpy(id, "HPKE", 4);
	put_u16(id + 4, RV_HPKE_KEM_X25519_SHA256);
	put_u16(id + 6, RV_HPKE_KDF_HKDF_SHA256);
	put_u16(id + 8, aead_id);
}

/*
 * Runs OpenSSL's HKDF in one mode. An empty salt is replaced by Nh zero
 * bytes, which RFC 5869 section 2.2 defines as equivalent, so OpenSSL is
 * never given a zero-length salt.
 */
static int
hkdf_run(int mode, const uint8_t *salt, size_t salt_len,
    const uint8_t *key, size_t key_len, const uint8_t *info, size_t info_len,
    uint8_t *out, size_t out_len)
{
	static const uint8_t zero_salt[RV_HPKE_SECRET_LEN];
	char digest[] = "SHA256";
	OSSL_PARAM params[5], *p = params;
	EVP_KDF_CTX *kctx = NULL;
	int r = RV_HPKE_ERR_CRYPTO;

	if (salt_len == 0) {
		salt = zero_salt;
		salt_len = sizeof(zero_salt);
	}
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
	    digest, 0);
	*p++ = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
	    (void *)key, key_len);
	if (mode == EVP_KDF_HKDF_MODE_EXTRACT_ONLY)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
		    (void *)salt, salt_len);
	else
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
		    (void *)info, info_len);
	*p = OSSL_PARAM_construct_end();

	if (!algorithms_ready() || (kctx = EVP_KDF_CTX_new(algs.hkdf)) == NULL)
		goto out;
	if (EVP_KDF_derive(kctx, out, out_len, params) != 1)
		goto out;
	r = 0;
 out:
	EVP_KDF_CTX_free(kctx);	/* zeroes the key copy */
	if (r != 0)
		OPENSSL_cleanse(out, out_len);
	return r;
}

/*
 * LabeledExtract(salt, label, ikm) of RFC 9180 section 4: HKDF-Extract over
 * "HPKE-v1" || suite_id || label || ikm. Writes Nh bytes to prk.
 */
static int
labeled_extract(const uint8_t *suite_id, size_t suite_id_len,
    const uint8_t *salt, size_t salt_len, const char *label,
    const uint8_t *ikm, size_t ikm_len, uint8_t prk[RV_HPKE_SECRET_LEN])
{
	uint8_t buf[HPKE_VERSION_LABEL_LEN + HPKE_SUITE_ID_MAX_LEN +
	    HPKE_LABEL_MAX_LEN + HPKE_EXTRACT_IKM_MAX_LEN];
	size_t label_len = strlen(label), n = 0;
	int r;

	if (suite_id_len > HPKE_SUITE_ID_MAX_LEN ||
	    label_len > HPKE_LABEL_MAX_LEN ||
	    ikm_len > HPKE_EXTRACT_IKM_MAX_LEN)
		return RV_HPKE_ERR_INVALID_ARGUMENT;
	memcpy(buf + n, HPKE_VERSION_LABEL, HPKE_VERSION_LABEL_LEN);
	n += HPKE_VERSION_LABEL_LEN;
	memcpy(buf + n, suite_id, suite_id_len);
	n += suite_id_len;
	memcpy(buf + n, label, label_len);
	n += label_len;
	if (ikm_len > 0)
		memcpy(buf + n, ikm, ikm_len);
	n += ikm_len;

	r = hkdf_run(EVP_KDF_HKDF_MODE_EXTRACT_ONLY, salt, salt_len, buf, n,
	    NULL, 0, prk, RV_HPKE_SECRET_LEN);
	OPENSSL_cleanse(buf, n);
	return r;
}

/*
 * LabeledExpand(prk, label, info, L) of RFC 9180 section 4: HKDF-Expand
 * with info I2OSP(L, 2) || "HPKE-v1" || suite_id || label || info.
 */
static int
labeled_expand(const uint8_t *suite_id, size_t suite_id_len,
    const uint8_t prk[RV_HPKE_SECRET_LEN], const char *label,
    const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len)
{
	uint8_t buf[2 + HPKE_VERSION_LABEL_LEN + HPKE_SUITE_ID_MAX_LEN +
	    HPKE_LABEL_MAX_LEN + HPKE_EXPAND_INFO_MAX_LEN];
	size_t label_len = strlen(label), n = 0;

	if (suite_id_len > HPKE_SUITE_ID_MAX_LEN ||
	    label_len > HPKE_LABEL_MAX_LEN ||
	    info_len > HPKE_EXPAND_INFO_MAX_LEN ||
	    out_len == 0 || out_len > RV_HPKE_MAX_EXPORT_LEN)
		return RV_HPKE_ERR_INVALID_ARGUMENT;
	put_u16(buf, (uint16_t)out_len);
	n += 2;
	memcpy(buf + n, HPKE_VERSION_LABEL, HPKE_VERSION_LABEL_LEN);
	n += HPKE_VERSION_LABEL_LEN;
	memcpy(buf + n, suite_id, suite_id_len);
	n += suite_id_len;
	memcpy(buf + n, label, label_len);
	n += label_len;
	if (info_len > 0)
		memcpy(buf + n, info, info_len);
	n += info_len;

	return hkdf_run(EVP_KDF_HKDF_MODE_EXPAND_ONLY, NULL, 0,
	    prk, RV_HPKE_SECRET_LEN, buf, n, out, out_len);
}

/*
 * Makes an X25519 key object of the private key sk. OpenSSL computes the
 * public key while it does, so callers that need both the public key and
 * a DH with sk build one object and use it for both.
 */
static EVP_PKEY *
x25519_private(const uint8_t sk[RV_HPKE_X25519_LEN])
{
	return EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, sk,
	    RV_HPKE_X25519_LEN);
}

static int
x25519_raw_public(const EVP_PKEY *key, uint8_t pk[RV_HPKE_X25519_LEN])
{
	size_t len = RV_HPKE_X25519_LEN;

	if (EVP_PKEY_get_raw_public_key(key, pk, &len) != 1 ||
	    len != RV_HPKE_X25519_LEN)
		return RV_HPKE_ERR_CRYPTO;
	return 0;
}

int
rv_hpke_public_key(const uint8_t sk[RV_HPKE_X25519_LEN],
    uint8_t pk[RV_HPKE_X25519_LEN])
{
	EVP_PKEY *key;
	int r;

	if (sk == NULL || pk == NULL)
		return RV_HPKE_ERR_INVALID_ARGUMENT;
	if ((key = x25519_private(sk)) == NULL)
		return RV_HPKE_ERR_CRYPTO;
	r = x25519_raw_public(key, pk);
	EVP_PKEY_free(key);	/* frees and zeroes the private key copy */
	return r;
}

int
rv_hpke_generate_keypair(uint8_t sk[RV_HPKE_X25519_LEN],
    uint8_t pk[RV_HPKE_X25519_LEN])
{
	int r;

	if (sk == NULL || pk == NULL)
		return RV_HPKE_ERR_INVALID_ARGUMENT;
	/* X25519 clamps the scalar itself (RFC 7748 section 5). */
	if (RAND_priv_bytes(sk, RV_HPKE_X25519_LEN) != 1) {
		r = RV_HPKE_ERR_CRYPTO;
		goto out;
	}
	r = rv_hpke_public_key(sk, pk);
 out:
	if (r != 0)
		OPENSSL_cleanse(sk, RV_HPKE_X25519_LEN);
	return r;
}

int
rv_hpke_derive_keypair(const uint8_t *ikm, size_t ikm_len,
    uint8_t sk[RV_HPKE_X25519_LEN], uint8_t pk[RV_HPKE_X25519_LEN])
{
	uint8_t suite_id[HPKE_KEM_SUITE_ID_LEN];
	uint8_t dkp_prk[RV_HPKE_SECRET_LEN];
	int r;

	if (ikm == NULL || sk == NULL || pk == NULL ||
	    ikm_len < RV_HPKE_MIN_IKM_LEN || ikm_len > HPKE_EXTRACT_IKM_MAX_LEN)
		return RV_HPKE_ERR_INVALID_ARGUMENT;
	kem_suite_id(suite_id);
	/* RFC 9180 section 7.1.3: X25519 takes the expanded bytes as is. */
	if ((r = labeled_extract(suite_id, sizeof(suite_id), NULL, 0,
	    "dkp_prk", ikm, ikm_len, dkp_prk)) != 0)
		goto out;
	if ((r = labeled_expand(suite_id, sizeof(suite_id), dkp_prk, "sk",
	    NULL, 0, sk, RV_HPKE_X25519_LEN)) != 0)
		goto out;
	r = rv_hpke_public_key(sk, pk);
 out:
	OPENSSL_cleanse(dkp_prk, sizeof(dkp_prk));
	if (r != 0)
		OPENSSL_cleanse(sk, RV_HPKE_X25519_LEN);
	return r;
}

/*
 * DH(sk, pk) of RFC 9180 section 4.1, with priv holding sk. OpenSSL 3.0
 * fails the derivation when the result is all zero, which RFC 9180
 * section 7.1.4 requires for low-order points, so a failed derive with
 * well-formed keys means
 * RV_HPKE_ERR_DH. The result is checked again here in case a provider
 * does not reject it.
 */
static int
x25519_dh(EVP_PKEY *priv, const uint8_t pk[RV_HPKE_X25519_LEN],
    uint8_t out[RV_HPKE_X25519_LEN])
{
	static const uint8_t zero[RV_HPKE_X25519_LEN];
	EVP_PKEY *peer = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	size_t len = RV_HPKE_X25519_LEN;
	int r = RV_HPKE_ERR_CRYPTO;

	peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, pk,
	    RV_HPKE_X25519_LEN);
	if (peer == NULL ||
	    (pctx = EVP_PKEY_CTX_new(priv, NULL)) == NULL ||
	    EVP_PKEY_derive_init(pctx) != 1 ||
	    EVP_PKEY_derive_set_peer(pctx, peer) != 1)
		goto out;
	if (EVP_PKEY_derive(pctx, out, &len) != 1) {
		r = RV_HPKE_ERR_DH;
		goto out;
	}
	if (len != RV_HPKE_X25519_LEN) {
		r = RV_HPKE_ERR_CRYPTO;
		goto out;
	}
	if (CRYPTO_memcmp(out, zero, sizeof(zero)) == 0) {
		r = RV_HPKE_ERR_DH;
		goto out;
	}
	r = 0;
 out:
	EVP_PKEY_CTX_free(pctx);
	EVP_PKEY_free(peer);
	if (r != 0)
		OPENSSL_cleanse(out, RV_HPKE_X25519_LEN);
	return r;
}

/*
 * ExtractAndExpand(dh, kem_context) of RFC 9180 section 4.1, with
 * kem_context = enc || pkRm.
 */
static int
extract_and_expand(const uint8_t dh[RV_HPKE_X25519_LEN],
    const uint8_t enc[RV_HPKE_ENC_LEN],
    const uint8_t pk_r[RV_HPKE_X25519_LEN],
    uint8_t shared_secret[RV_HPKE_SECRET_LEN])
{
	uint8_t suite_id[HPKE_KEM_SUITE_ID_LEN];
	uint8_t kem_context[RV_HPKE_ENC_LEN + RV_HPKE_X25519_LEN];
	uint8_t eae_prk[RV_HPKE_SECRET_LEN];
	int r;

	kem_suite_id(suite_id);
	memcpy(kem_context, enc, RV_HPKE_ENC_LEN);
	memcpy(kem_context + RV_HPKE_ENC_LEN, pk_r, RV_HPKE_X25519_LEN);
	if ((r = labeled_extract(suite_id, sizeof(suite_id), NULL, 0,
	    "eae_prk", dh, RV_HPKE_X25519_LEN, eae_prk)) != 0)
		goto out;
	r = labeled_expand(suite_id, sizeof(suite_id), eae_prk,
	    "shared_secret", kem_context, sizeof(kem_context), shared_secret,
	    RV_HPKE_SECRET_LEN);
 out:
	OPENSSL_cleanse(eae_prk, sizeof(eae_prk));
	return r;
}

/* Encap(pkR) of RFC 9180 section 4.1 with the ephemeral private key sk_e. */
static int
encap_with_key(const uint8_t pk_r[RV_HPKE_X25519_LEN],
    const uint8_t sk_e[RV_HPKE_X25519_LEN], uint8_t enc[RV_HPKE_ENC_LEN],
    uint8_t shared_secret[RV_HPKE_SECRET_LEN])
{
	uint8_t dh[RV_HPKE_X25519_LEN];
	EVP_PKEY *priv;
	int r;

	if ((priv = x25519_private(sk_e)) == NULL) {
		r = RV_HPKE_ERR_CRYPTO;
		goto out;
	}
	if ((r = x25519_raw_public(priv, enc)) != 0)
		goto out;
	if ((r = x25519_dh(priv, pk_r, dh)) != 0)
		goto out;
	r = extract_and_expand(dh, enc, pk_r, shared_secret);
 out:
	EVP_PKEY_free(priv);
	OPENSSL_cleanse(dh, sizeof(dh));
	if (r != 0)
		OPENSSL_cleanse(shared_secret, RV_HPKE_SECRET_LEN);
	return r;
}

int
rv_hpke_encap_derand(const uint8_t pk_r[RV_HPKE_X25519_LEN],
    const uint8_t *ikm_e, size_t ikm_e_len, uint8_t enc[RV_HPKE_ENC_LEN],
    uint8_t shared_secret[RV_HPKE_SECRET_LEN])
{
	uint8_t sk_e[RV_HPKE_X25519_LEN], pk_e[RV_HPKE_X25519_LEN];
	int r;

	if (pk_r == NULL || enc == NULL || shared_secret == NULL)
		return RV_HPKE_ERR_INVALID_ARGUMENT;
	if ((r = rv_hpke_derive_keypair(ikm_e, ikm_e_len, sk_e, pk_e)) != 0)
		goto out;
	r = encap_with_key(pk_r, sk_e, enc, shared_secret);
 out:
	OPENSSL_cleanse(sk_e, sizeof(sk_e));
	if (r != 0)
		OPENSSL_cleanse(shared_secret, RV_HPKE_SECRET_LEN);
	return r;
}

static int
encap_random(const uint8_t pk_r[RV_HPKE_X25519_LEN],
    uint8_t enc[RV_HPKE_ENC_LEN], uint8_t shared_secret[RV_HPKE_SECRET_LEN])
{
	uint8_t sk_e[RV_HPKE_X25519_LEN];
	int r;

	/* X25519 clamps the scalar itself (RFC 7748 section 5), and
	 * encap_with_key() computes the public key enc. */
	if (RAND_priv_bytes(sk_e, sizeof(sk_e)) != 1) {
		r = RV_HPKE_ERR_CRYPTO;
		goto out;
	}
	r = encap_with_key(pk_r, sk_e, enc, shared_secret);
 out:
	OPENSSL_cleanse(sk_e, sizeof(sk_e));
	return r;
}

int
rv_hpke_decap(const uint8_t enc[RV_HPKE_ENC_LEN],
    const uint8_t sk_r[RV_HPKE_X25519_LEN],
    uint8_t shared_secret[RV_HPKE_SECRET_LEN])
{
	uint8_t dh[RV_HPKE_X25519_LEN], pk_r[RV_HPKE_X25519_LEN];
	EVP_PKEY *priv;
	int r;

	if (enc == NULL || sk_r == NULL || shared_secret == NULL)
		return RV_HPKE_ERR_INVALID_ARGUMENT;
	if ((priv = x25519_private(sk_r)) == NULL) {
		r = RV_HPKE_ERR_CRYPTO;
		goto out;
	}
	if ((r = x25519_dh(priv, enc, dh)) != 0)
		goto out;
	if ((r = x25519_raw_public(priv, pk_r)) != 0)
		goto out;
	r = extract_and_expand(dh, enc, pk_r, shared_secret);
 out:
	EVP_PKEY_free(priv);
	OPENSSL_cleanse(dh, sizeof(dh));
	if (r != 0)
		OPENSSL_cleanse(shared_secret, RV_HPKE_SECRET_LEN);
	return r;
}

/*
 * KeySchedule of RFC 9180 section 5.1 for mode_base with the default PSK
 * and psk_id (both empty).
 */
static int
key_schedule(struct rv_hpke_ctx *ctx, uint16_t aead_id,
    const uint8_t shared_secret[RV_HPKE_SECRET_LEN], const uint8_t *info,
    size_t info_len)
{
	uint8_t suite_id[HPKE_SUITE_ID_LEN];
	uint8_t ks_context[HPKE_KS_CONTEXT_LEN];
	uint8_t secret[RV_HPKE_SECRET_LEN];
	int r;

	memset(ctx, 0, sizeof(*ctx));
	if ((ctx->key_len = aead_key_len(aead_id)) == 0)
		return RV_HPKE_ERR_UNSUPPORTED_AEAD;
	ctx->aead_id = aead_id;
	hpke_suite_id(aead_id, suite_id);

	ks_context[0] = HPKE_MODE_BASE;
	if ((r = labeled_extract(suite_id, sizeof(suite_id), NULL, 0,
	    "psk_id_hash", NULL, 0, ks_context + 1)) != 0)
		goto out;
	if ((r = labeled_extract(suite_id, sizeof(suite_id), NULL, 0,
	    "info_hash", info, info_len,
	    ks_context + 1 + RV_HPKE_SECRET_LEN)) != 0)
		goto out;
	if ((r = labeled_extract(suite_id, sizeof(suite_id), shared_secret,
	    RV_HPKE_SECRET_LEN, "secret", NULL, 0, secret)) != 0)
		goto out;

	if ((r = labeled_expand(suite_id, sizeof(suite_id), secret, "key",
	    ks_context, sizeof(ks_context), ctx->key, ctx->key_len)) != 0)
		goto out;
	if ((r = labeled_expand(suite_id, sizeof(suite_id), secret,
	    "base_nonce", ks_context, sizeof(ks_context), ctx->base_nonce,
	    RV_HPKE_NONCE_LEN)) != 0)
		goto out;
	r = labeled_expand(suite_id, sizeof(suite_id), secret, "exp",
	    ks_context, sizeof(ks_context), ctx->exporter_secret,
	    RV_HPKE_SECRET_LEN);
 out:
	OPENSSL_cleanse(secret, sizeof(secret));
	if (r != 0)
		rv_hpke_ctx_clear(ctx);
	return r;
}

static int
check_setup_args(const struct rv_hpke_ctx *ctx, uint16_t aead_id,
    const uint8_t *key, const uint8_t *info, size_t info_len,
    const uint8_t *enc)
{
	if (ctx == NULL || key == NULL || enc == NULL ||
	    (info == NULL && info_len != 0) || info_len > RV_HPKE_MAX_INFO_LEN)
		return RV_HPKE_ERR_INVALID_ARGUMENT;
	if (!rv_hpke_aead_supported(aead_id))
		return RV_HPKE_ERR_UNSUPPORTED_AEAD;
	return 0;
}

int
rv_hpke_setup_s(struct rv_hpke_ctx *ctx, uint16_t aead_id,
    const uint8_t pk_r[RV_HPKE_X25519_LEN], const uint8_t *info,
    size_t info_len, uint8_t enc[RV_HPKE_ENC_LEN])
{
	uint8_t shared_secret[RV_HPKE_SECRET_LEN];
	int r;

	if ((r = check_setup_args(ctx, aead_id, pk_r, info, info_len,
	    enc)) != 0)
		return r;
	if ((r = encap_random(pk_r, enc, shared_secret)) != 0)
		goto out;
	r = key_schedule(ctx, aead_id, shared_secret, info, info_len);
	ctx->is_sender = 1;
 out:
	OPENSSL_cleanse(shared_secret, sizeof(shared_secret));
	if (r != 0)
		rv_hpke_ctx_clear(ctx);
	return r;
}

int
rv_hpke_setup_s_derand(struct rv_hpke_ctx *ctx, uint16_t aead_id,
    const uint8_t pk_r[RV_HPKE_X25519_LEN], const uint8_t *info,
    size_t info_len, const uint8_t *ikm_e, size_t ikm_e_len,
    uint8_t enc[RV_HPKE_ENC_LEN])
{
	uint8_t shared_secret[RV_HPKE_SECRET_LEN];
	int r;

	if ((r = check_setup_args(ctx, aead_id, pk_r, info, info_len,
	    enc)) != 0)
		return r;
	if ((r = rv_hpke_encap_derand(pk_r, ikm_e, ikm_e_len, enc,
	    shared_secret)) != 0)
		goto out;
	r = key_schedule(ctx, aead_id, shared_secret, info, info_len);
	ctx->is_sender = 1;
 out:
	OPENSSL_cleanse(shared_secret, sizeof(shared_secret));
	if (r != 0)
		rv_hpke_ctx_clear(ctx);
	return r;
}

int
rv_hpke_setup_r(struct rv_hpke_ctx *ctx, uint16_t aead_id,
    const uint8_t enc[RV_HPKE_ENC_LEN],
    const uint8_t sk_r[RV_HPKE_X25519_LEN], const uint8_t *info,
    size_t info_len)
{
	uint8_t shared_secret[RV_HPKE_SECRET_LEN];
	int r;

	if ((r = check_setup_args(ctx, aead_id, sk_r, info, info_len,
	    enc)) != 0)
		return r;
	if ((r = rv_hpke_decap(enc, sk_r, shared_secret)) != 0)
		goto out;
	r = key_schedule(ctx, aead_id, shared_secret, info, info_len);
	ctx->is_sender = 0;
 out:
	OPENSSL_cleanse(shared_secret, sizeof(shared_secret));
	if (r != 0)
		rv_hpke_ctx_clear(ctx);
	return r;
}

/* ComputeNonce(seq) of RFC 9180 section 5.2: base_nonce XOR I2OSP(seq). */
static void
compute_nonce(const struct rv_hpke_ctx *ctx, uint64_t seq,
    uint8_t nonce[RV_HPKE_NONCE_LEN])
{
	size_t i;

	memcpy(nonce, ctx->base_nonce, RV_HPKE_NONCE_LEN);
	for (i = 0; i < sizeof(seq); i++)
		nonce[RV_HPKE_NONCE_LEN - 1 - i] ^= (uint8_t)(seq >> (8 * i));
}

/* Starts an AEAD operation: cipher, 12-byte nonce, key, then the aad. */
static int
aead_begin(EVP_CIPHER_CTX *cctx, const struct rv_hpke_ctx *ctx, int encrypt,
    const uint8_t nonce[RV_HPKE_NONCE_LEN], const uint8_t *aad,
    size_t aad_len)
{
	const EVP_CIPHER *cipher;
	int outl;

	if (aead_key_len(ctx->aead_id) == 0)
		return RV_HPKE_ERR_UNSUPPORTED_AEAD;
	if (aead_key_len(ctx->aead_id) != ctx->key_len)
		return RV_HPKE_ERR_INVALID_ARGUMENT;
	if ((cipher = aead_cipher(ctx->aead_id)) == NULL)
		return RV_HPKE_ERR_CRYPTO;
	if (EVP_CipherInit_ex(cctx, cipher, NULL, NULL, NULL, encrypt) != 1 ||
	    EVP_CIPHER_CTX_ctrl(cctx, EVP_CTRL_AEAD_SET_IVLEN,
	    RV_HPKE_NONCE_LEN, NULL) != 1 ||
	    EVP_CipherInit_ex(cctx, NULL, NULL, ctx->key, nonce,
	    encrypt) != 1)
		return RV_HPKE_ERR_CRYPTO;
	if (aad_len > 0 &&
	    EVP_CipherUpdate(cctx, NULL, &outl, aad, (int)aad_len) != 1)
		return RV_HPKE_ERR_CRYPTO;
	return 0;
}

static int
check_message_args(const struct rv_hpke_ctx *ctx, const uint8_t *aad,
    size_t aad_len, const uint8_t *in, size_t in_len, const size_t *out_len)
{
	if (ctx == NULL || out_len == NULL ||
	    (aad == NULL && aad_len != 0) || (in == NULL && in_len != 0))
		return RV_HPKE_ERR_INVALID_ARGUMENT;
	/* EVP_CipherUpdate() takes int lengths. */
	if (aad_len > INT_MAX || in_len > INT_MAX - RV_HPKE_TAG_LEN)
		return RV_HPKE_ERR_INVALID_ARGUMENT;
	return 0;
}

int
rv_hpke_ctx_seal(struct rv_hpke_ctx *ctx, const uint8_t *aad,
    size_t aad_len, const uint8_t *pt, size_t pt_len, uint8_t *ct,
    size_t ct_size, size_t *ct_len)
{
	EVP_CIPHER_CTX *cctx = NULL;
	uint8_t nonce[RV_HPKE_NONCE_LEN];
	int r, outl, finl;

	if ((r = check_message_args(ctx, aad, aad_len, pt, pt_len,
	    ct_len)) != 0)
		return r;
	if (ct == NULL)
		return RV_HPKE_ERR_INVALID_ARGUMENT;
	*ct_len = 0;
	if (!ctx->is_sender)
		return RV_HPKE_ERR_WRONG_ROLE;
	if (ct_size < pt_len + RV_HPKE_TAG_LEN)
		return RV_HPKE_ERR_BUFFER_TOO_SMALL;
	/*
	 * RFC 9180 section 5.2 stops at 2^(8*Nn) - 1 messages; a 64-bit
	 * counter stops earlier, which is still far beyond any connection.
	 */
	if (ctx->seq == UINT64_MAX)
		return RV_HPKE_ERR_MESSAGE_LIMIT;

	compute_nonce(ctx, ctx->seq, nonce);
	if ((cctx = EVP_CIPHER_CTX_new()) == NULL) {
		r = RV_HPKE_ERR_CRYPTO;
		goto out;
	}
	if ((r = aead_begin(cctx, ctx, 1, nonce, aad, aad_len)) != 0)
		goto out;
	r = RV_HPKE_ERR_CRYPTO;
	outl = 0;
	if (pt_len > 0 &&
	    EVP_EncryptUpdate(cctx, ct, &outl, pt, (int)pt_len) != 1)
		goto out;
	if (EVP_EncryptFinal_ex(cctx, ct + outl, &finl) != 1 ||
	    (size_t)outl + (size_t)finl != pt_len)
		goto out;
	if (EVP_CIPHER_CTX_ctrl(cctx, EVP_CTRL_AEAD_GET_TAG, RV_HPKE_TAG_LEN,
	    ct + pt_len) != 1)
		goto out;
	*ct_len = pt_len + RV_HPKE_TAG_LEN;
	ctx->seq++;
	r = 0;
 out:
	EVP_CIPHER_CTX_free(cctx);
	OPENSSL_cleanse(nonce, sizeof(nonce));
	if (r != 0)
		OPENSSL_cleanse(ct, ct_size);
	return r;
}

static int
open_at(const struct rv_hpke_ctx *ctx, uint64_t seq, const uint8_t *aad,
    size_t aad_len, const uint8_t *ct, size_t ct_len, uint8_t *pt,
    size_t pt_size, size_t *pt_len)
{
	EVP_CIPHER_CTX *cctx = NULL;
	uint8_t nonce[RV_HPKE_NONCE_LEN], tag[RV_HPKE_TAG_LEN];
	uint8_t no_output[EVP_MAX_BLOCK_LENGTH];
	size_t body_len;
	int r, outl, finl;

	if ((r = check_message_args(ctx, aad, aad_len, ct, ct_len,
	    pt_len)) != 0)
		return r;
	*pt_len = 0;
	if (ct_len < RV_HPKE_TAG_LEN)
		return RV_HPKE_ERR_TRUNCATED;
	body_len = ct_len - RV_HPKE_TAG_LEN;
	if (pt_size < body_len || (pt == NULL && body_len != 0))
		return RV_HPKE_ERR_BUFFER_TOO_SMALL;
	if (seq == UINT64_MAX)
		return RV_HPKE_ERR_MESSAGE_LIMIT;

	compute_nonce(ctx, seq, nonce);
	memcpy(tag, ct + body_len, RV_HPKE_TAG_LEN);
	if ((cctx = EVP_CIPHER_CTX_new()) == NULL) {
		r = RV_HPKE_ERR_CRYPTO;
		goto out;
	}
	if ((r = aead_begin(cctx, ctx, 0, nonce, aad, aad_len)) != 0)
		goto out;
	r = RV_HPKE_ERR_CRYPTO;
	outl = 0;
	if (body_len > 0 &&
	    EVP_DecryptUpdate(cctx, pt, &outl, ct, (int)body_len) != 1)
		goto out;
	if (EVP_CIPHER_CTX_ctrl(cctx, EVP_CTRL_AEAD_SET_TAG, RV_HPKE_TAG_LEN,
	    tag) != 1)
		goto out;
	/*
	 * pt may be NULL for an empty plaintext, and NULL + 0 is undefined.
	 * GCM and ChaCha20-Poly1305 write nothing at the final step anyway.
	 */
	if (EVP_DecryptFinal_ex(cctx, pt != NULL ? pt + outl : no_output,
	    &finl) != 1) {
		r = RV_HPKE_ERR_OPEN;
		goto out;
	}
	if ((size_t)outl + (size_t)finl != body_len)
		goto out;
	*pt_len = body_len;
	r = 0;
 out:
	EVP_CIPHER_CTX_free(cctx);
	OPENSSL_cleanse(nonce, sizeof(nonce));
	/* Never hand out plaintext that failed authentication. */
	if (r != 0 && pt != NULL)
		OPENSSL_cleanse(pt, pt_size);
	return r;
}

int
rv_hpke_ctx_open(struct rv_hpke_ctx *ctx, const uint8_t *aad,
    size_t aad_len, const uint8_t *ct, size_t ct_len, uint8_t *pt,
    size_t pt_size, size_t *pt_len)
{
	int r;

	if (ctx == NULL)
		return RV_HPKE_ERR_INVALID_ARGUMENT;
	if ((r = open_at(ctx, ctx->seq, aad, aad_len, ct, ct_len, pt,
	    pt_size, pt_len)) != 0)
		return r;
	ctx->seq++;
	return 0;
}

int
rv_hpke_ctx_open_seq(const struct rv_hpke_ctx *ctx, uint64_t seq,
    const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t ct_len,
    uint8_t *pt, size_t pt_size, size_t *pt_len)
{
	return open_at(ctx, seq, aad, aad_len, ct, ct_len, pt, pt_size,
	    pt_len);
}

int
rv_hpke_ctx_export(const struct rv_hpke_ctx *ctx,
    const uint8_t *exporter_context, size_t exporter_context_len,
    uint8_t *out, size_t out_len)
{
	uint8_t suite_id[HPKE_SUITE_ID_LEN];

	if (ctx == NULL || out == NULL || out_len == 0 ||
	    (exporter_context == NULL && exporter_context_len != 0) ||
	    exporter_context_len > RV_HPKE_MAX_EXPORT_CONTEXT_LEN)
		return RV_HPKE_ERR_INVALID_ARGUMENT;
	if (out_len > RV_HPKE_MAX_EXPORT_LEN)
		return RV_HPKE_ERR_EXPORT_LENGTH;
	if (!rv_hpke_aead_supported(ctx->aead_id))
		return RV_HPKE_ERR_INVALID_ARGUMENT;
	hpke_suite_id(ctx->aead_id, suite_id);
	return labeled_expand(suite_id, sizeof(suite_id), ctx->exporter_secret,
	    "sec", exporter_context, exporter_context_len, out, out_len);
}

void
rv_hpke_ctx_clear(struct rv_hpke_ctx *ctx)
{
	if (ctx != NULL)
		OPENSSL_cleanse(ctx, sizeof(*ctx));
}

int
rv_hpke_seal(uint16_t aead_id, const uint8_t pk_r[RV_HPKE_X25519_LEN],
    const uint8_t *info, size_t info_len, const uint8_t *aad, size_t aad_len,
    const uint8_t *pt, size_t pt_len, uint8_t enc[RV_HPKE_ENC_LEN],
    uint8_t *ct, size_t ct_size, size_t *ct_len)
{
	struct rv_hpke_ctx ctx;
	int r;

	if ((r = rv_hpke_setup_s(&ctx, aead_id, pk_r, info, info_len,
	    enc)) != 0)
		return r;
	r = rv_hpke_ctx_seal(&ctx, aad, aad_len, pt, pt_len, ct, ct_size,
	    ct_len);
	rv_hpke_ctx_clear(&ctx);
	return r;
}

int
rv_hpke_open(uint16_t aead_id, const uint8_t enc[RV_HPKE_ENC_LEN],
    const uint8_t sk_r[RV_HPKE_X25519_LEN], const uint8_t *info,
    size_t info_len, const uint8_t *aad, size_t aad_len, const uint8_t *ct,
    size_t ct_len, uint8_t *pt, size_t pt_size, size_t *pt_len)
{
	struct rv_hpke_ctx ctx;
	int r;

	if ((r = rv_hpke_setup_r(&ctx, aead_id, enc, sk_r, info,
	    info_len)) != 0)
		return r;
	r = rv_hpke_ctx_open(&ctx, aad, aad_len, ct, ct_len, pt, pt_size,
	    pt_len);
	rv_hpke_ctx_clear(&ctx);
	return r;
}
