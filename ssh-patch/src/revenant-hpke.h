/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef REVENANT_HPKE_H
#define REVENANT_HPKE_H

/*
 * HPKE base mode (RFC 9180) with DHKEM(X25519, HKDF-SHA256) and
 * HKDF-SHA256, on the OpenSSL 3.0 EVP interface. The primary's sshd seals
 * checkpoints for a backup's recovery key with it; the backup opens them.
 *
 * Plain C99 plus libcrypto, so that it builds inside OpenSSH as well as in
 * revenant. Nothing here logs: every function returns 0 or a negative
 * RV_HPKE_ERR_* code, and rv_hpke_strerror() names the code for the caller's
 * log line. Every function may be called from any thread; a context must not
 * be used by two threads at once.
 */

#include <stddef.h>
#include <stdint.h>

/* Algorithm identifiers (RFC 9180 section 7). */
#define RV_HPKE_KEM_X25519_SHA256	0x0020
#define RV_HPKE_KDF_HKDF_SHA256		0x0001
#define RV_HPKE_AEAD_AES128GCM		0x0001
#define RV_HPKE_AEAD_AES256GCM		0x0002
#define RV_HPKE_AEAD_CHACHA20POLY1305	0x0003

/* Sizes in bytes: Nsk = Npk = Nenc for X25519, Nsecret = Nh for SHA-256. */
#define RV_HPKE_X25519_LEN		32
#define RV_HPKE_ENC_LEN			RV_HPKE_X25519_LEN
#define RV_HPKE_SECRET_LEN		32
#define RV_HPKE_MAX_KEY_LEN		32
#define RV_HPKE_NONCE_LEN		12
#define RV_HPKE_TAG_LEN			16

/* Minimum input keying material for rv_hpke_derive_keypair(), in bytes. */
#define RV_HPKE_MIN_IKM_LEN		32
/* Maximum info of the setup functions, in bytes. */
#define RV_HPKE_MAX_INFO_LEN		1024
/* Maximum exporter_context of rv_hpke_ctx_export(), in bytes. */
#define RV_HPKE_MAX_EXPORT_CONTEXT_LEN	256
/* Maximum exported length L: 255 * Nh (RFC 9180 section 5.3). */
#define RV_HPKE_MAX_EXPORT_LEN		(255 * RV_HPKE_SECRET_LEN)

/* Error codes. */
#define RV_HPKE_OK			0
#define RV_HPKE_ERR_INVALID_ARGUMENT	-1	/* NULL pointer, bad length */
#define RV_HPKE_ERR_UNSUPPORTED_AEAD	-2	/* aead_id not one of the above */
#define RV_HPKE_ERR_CRYPTO		-3	/* a libcrypto call failed */
#define RV_HPKE_ERR_DH			-4	/* X25519 output was all zero */
#define RV_HPKE_ERR_BUFFER_TOO_SMALL	-5	/* output buffer too short */
#define RV_HPKE_ERR_TRUNCATED		-6	/* ciphertext shorter than tag */
#define RV_HPKE_ERR_OPEN		-7	/* authentication failed */
#define RV_HPKE_ERR_MESSAGE_LIMIT	-8	/* sequence number exhausted */
#define RV_HPKE_ERR_EXPORT_LENGTH	-9	/* L above the maximum */
#define RV_HPKE_ERR_WRONG_ROLE		-10	/* seal on a recipient context */

/*
 * Encryption context of RFC 9180 section 5.2, set up by rv_hpke_setup_s()
 * (sender) or rv_hpke_setup_r() (recipient). The fields are readable so
 * that tests can compare them with the RFC's vectors; only this module
 * writes them. Clear it with rv_hpke_ctx_clear().
 */
struct rv_hpke_ctx {
	uint16_t	aead_id;
	int		is_sender;
	size_t		key_len;			/* Nk */
	uint8_t		key[RV_HPKE_MAX_KEY_LEN];
	uint8_t		base_nonce[RV_HPKE_NONCE_LEN];
	uint8_t		exporter_secret[RV_HPKE_SECRET_LEN];
	uint64_t	seq;				/* next sequence number */
};

/* Returns a short English description of an RV_HPKE_* code. */
const char *rv_hpke_strerror(int code);

/* Returns 1 if aead_id is supported, 0 if not. */
int rv_hpke_aead_supported(uint16_t aead_id);

/*
 * Generates a fresh X25519 key pair from the libcrypto random generator.
 * sk and pk receive 32 bytes each. Returns 0 or RV_HPKE_ERR_CRYPTO; sk is
 * zeroed on error.
 */
int rv_hpke_generate_keypair(uint8_t sk[RV_HPKE_X25519_LEN],
    uint8_t pk[RV_HPKE_X25519_LEN]);

/*
 * DeriveKeyPair of RFC 9180 section 7.1.3: derives an X25519 key pair from
 * ikm (at least RV_HPKE_MIN_IKM_LEN bytes). Returns 0 or a negative code;
 * sk is zeroed on error.
 */
int rv_hpke_derive_keypair(const uint8_t *ikm, size_t ikm_len,
    uint8_t sk[RV_HPKE_X25519_LEN], uint8_t pk[RV_HPKE_X25519_LEN]);

/* Computes the X25519 public key of sk. Returns 0 or RV_HPKE_ERR_CRYPTO. */
int rv_hpke_public_key(const uint8_t sk[RV_HPKE_X25519_LEN],
    uint8_t pk[RV_HPKE_X25519_LEN]);

/*
 * Encap of RFC 9180 section 4.1 with the ephemeral key pair derived from
 * ikm_e, so the result is deterministic. For test vectors only: production
 * code calls rv_hpke_setup_s(), which draws a random ephemeral key.
 * Writes enc (32 bytes) and shared_secret (32 bytes). Returns 0 or a
 * negative code; shared_secret is zeroed on error.
 */
int rv_hpke_encap_derand(const uint8_t pk_r[RV_HPKE_X25519_LEN],
    const uint8_t *ikm_e, size_t ikm_e_len, uint8_t enc[RV_HPKE_ENC_LEN],
    uint8_t shared_secret[RV_HPKE_SECRET_LEN]);

/*
 * Decap of RFC 9180 section 4.1: recovers shared_secret from the sender's
 * enc and the recipient's private key sk_r. Returns 0, RV_HPKE_ERR_DH when
 * enc is a low-order point, or another negative code; shared_secret is
 * zeroed on error.
 */
int rv_hpke_decap(const uint8_t enc[RV_HPKE_ENC_LEN],
    const uint8_t sk_r[RV_HPKE_X25519_LEN],
    uint8_t shared_secret[RV_HPKE_SECRET_LEN]);

/*
 * SetupBaseS of RFC 9180 section 5.1.1: encapsulates to the recipient's
 * public key pk_r with a fresh random ephemeral key, writes enc (32 bytes,
 * to be sent with the ciphertexts) and sets ctx up for rv_hpke_ctx_seal().
 * info binds the context to the application. It may be empty (NULL, 0)
 * and is at most RV_HPKE_MAX_INFO_LEN bytes long.
 * Returns 0 or a negative code; ctx is cleared on error.
 */
int rv_hpke_setup_s(struct rv_hpke_ctx *ctx, uint16_t aead_id,
    const uint8_t pk_r[RV_HPKE_X25519_LEN], const uint8_t *info,
    size_t info_len, uint8_t enc[RV_HPKE_ENC_LEN]);

/*
 * rv_hpke_setup_s() with the ephemeral key derived from ikm_e, for test
 * vectors only: reusing ikm_e across messages reuses the AEAD key.
 */
int rv_hpke_setup_s_derand(struct rv_hpke_ctx *ctx, uint16_t aead_id,
    const uint8_t pk_r[RV_HPKE_X25519_LEN], const uint8_t *info,
    size_t info_len, const uint8_t *ikm_e, size_t ikm_e_len,
    uint8_t enc[RV_HPKE_ENC_LEN]);

/*
 * SetupBaseR of RFC 9180 section 5.1.1: decapsulates enc with the
 * recipient's private key sk_r and sets ctx up for rv_hpke_ctx_open().
 * info must equal the sender's. Returns 0 or a negative code; ctx is
 * cleared on error.
 */
int rv_hpke_setup_r(struct rv_hpke_ctx *ctx, uint16_t aead_id,
    const uint8_t enc[RV_HPKE_ENC_LEN],
    const uint8_t sk_r[RV_HPKE_X25519_LEN], const uint8_t *info,
    size_t info_len);

/*
 * ContextS.Seal of RFC 9180 section 5.2: encrypts pt with the nonce of the
 * context's next sequence number, then advances it. ct receives
 * pt_len + RV_HPKE_TAG_LEN bytes (ct_size must allow that) and *ct_len their
 * count. ct and pt must not overlap. Returns 0 or a negative code; the
 * sequence number advances only on success.
 */
int rv_hpke_ctx_seal(struct rv_hpke_ctx *ctx, const uint8_t *aad,
    size_t aad_len, const uint8_t *pt, size_t pt_len, uint8_t *ct,
    size_t ct_size, size_t *ct_len);

/*
 * ContextR.Open of RFC 9180 section 5.2: decrypts ct at the context's next
 * sequence number and advances it on success. pt receives ct_len -
 * RV_HPKE_TAG_LEN bytes. Returns 0, RV_HPKE_ERR_OPEN when authentication
 * fails (pt is then zeroed and the sequence number stays), or another
 * negative code.
 */
int rv_hpke_ctx_open(struct rv_hpke_ctx *ctx, const uint8_t *aad,
    size_t aad_len, const uint8_t *ct, size_t ct_len, uint8_t *pt,
    size_t pt_size, size_t *pt_len);

/*
 * Like rv_hpke_ctx_open(), but at the sequence number seq carried by the
 * message, for datagrams that arrive out of order or not at all. It leaves
 * ctx->seq alone. The caller must reject a replayed seq itself.
 */
int rv_hpke_ctx_open_seq(const struct rv_hpke_ctx *ctx, uint64_t seq,
    const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t ct_len,
    uint8_t *pt, size_t pt_size, size_t *pt_len);

/*
 * Context.Export of RFC 9180 section 5.3: derives out_len bytes (at most
 * RV_HPKE_MAX_EXPORT_LEN) bound to exporter_context (at most
 * RV_HPKE_MAX_EXPORT_CONTEXT_LEN bytes, may be empty). Works on sender and
 * recipient contexts alike. Returns 0 or a negative code.
 */
int rv_hpke_ctx_export(const struct rv_hpke_ctx *ctx,
    const uint8_t *exporter_context, size_t exporter_context_len,
    uint8_t *out, size_t out_len);

/* Zeroes every secret in ctx. Safe on a cleared or failed context. */
void rv_hpke_ctx_clear(struct rv_hpke_ctx *ctx);

/*
 * Single-shot base-mode seal (RFC 9180 section 6.1): a fresh context for
 * pk_r, one message at sequence number 0. Writes enc and ct as
 * rv_hpke_setup_s() and rv_hpke_ctx_seal() do. Returns 0 or a negative
 * code.
 */
int rv_hpke_seal(uint16_t aead_id, const uint8_t pk_r[RV_HPKE_X25519_LEN],
    const uint8_t *info, size_t info_len, const uint8_t *aad, size_t aad_len,
    const uint8_t *pt, size_t pt_len, uint8_t enc[RV_HPKE_ENC_LEN],
    uint8_t *ct, size_t ct_size, size_t *ct_len);

/*
 * Single-shot base-mode open (RFC 9180 section 6.1), the inverse of
 * rv_hpke_seal(). Returns 0, RV_HPKE_ERR_OPEN when authentication fails,
 * or another negative code; pt is zeroed on failure.
 */
int rv_hpke_open(uint16_t aead_id, const uint8_t enc[RV_HPKE_ENC_LEN],
    const uint8_t sk_r[RV_HPKE_X25519_LEN], const uint8_t *info,
    size_t info_len, const uint8_t *aad, size_t aad_len, const uint8_t *ct,
    size_t ct_len, uint8_t *pt, size_t pt_size, size_t *pt_len);

#endif
