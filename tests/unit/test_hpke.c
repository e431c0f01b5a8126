/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of HPKE base mode against the RFC 9180 test vectors in
 * data/hpke-base-vectors.txt, and of the recovery key file formats.
 * Runs with tests/unit as its working directory.
 */

#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "revenant-hpke.h"
#include "revenant-keyfile.h"

#define VECTOR_FILE		"data/hpke-base-vectors.txt"
#define MAX_VECTORS		8
#define MAX_ENCRYPTIONS		16
#define MAX_EXPORTS		8
#define MAX_FIELD		256

struct bytes {
	uint8_t	data[MAX_FIELD];
	size_t	len;
	int	present;
};

struct vector_encryption {
	uint64_t	seq;
	struct bytes	pt, aad, nonce, ct;
};

struct vector_export {
	struct bytes	context, value;
	size_t		length;
};

struct vector {
	unsigned	mode, kem_id, kdf_id, aead_id;
	struct bytes	info, ikm_e, pk_em, sk_em, ikm_r, pk_rm, sk_rm;
	struct bytes	enc, shared_secret, key, base_nonce, exporter_secret;
	struct vector_encryption enc_list[MAX_ENCRYPTIONS];
	size_t		nenc;
	struct vector_export exp_list[MAX_EXPORTS];
	size_t		nexp;
};

static struct vector vectors[MAX_VECTORS];
static size_t nvectors;

/* Vector file parsing: "name: value" lines, long hex wrapped onto more. */

static int
hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
is_hex_line(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		if (hex_digit((unsigned char)*s) < 0)
			return 0;
	}
	return 1;
}

static void
append_hex(struct bytes *b, const char *s)
{
	size_t n = strlen(s);

	assert_int_equal(n % 2, 0);
	assert_true(b->len + n / 2 <= sizeof(b->data));
	for (; *s != '\0'; s += 2)
		b->data[b->len++] = (uint8_t)(hex_digit(s[0]) << 4 |
		    hex_digit(s[1]));
	b->present = 1;
}

/* Returns the field a name refers to in the current vector, or NULL. */
static struct bytes *
field_for(struct vector *v, const char *name)
{
	struct vector_encryption *e = v->nenc > 0 ?
	    &v->enc_list[v->nenc - 1] : NULL;
	struct vector_export *x = v->nexp > 0 ?
	    &v->exp_list[v->nexp - 1] : NULL;
	struct {
		const char *name;
		struct bytes *field;
	} map[] = {
		{ "info", &v->info }, { "ikmE", &v->ikm_e },
		{ "pkEm", &v->pk_em }, { "skEm", &v->sk_em },
		{ "ikmR", &v->ikm_r }, { "pkRm", &v->pk_rm },
		{ "skRm", &v->sk_rm }, { "enc", &v->enc },
		{ "shared_secret", &v->shared_secret }, { "key", &v->key },
		{ "base_nonce", &v->base_nonce },
		{ "exporter_secret", &v->exporter_secret },
		{ "pt", e ? &e->pt : NULL }, { "aad", e ? &e->aad : NULL },
		{ "nonce", e ? &e->nonce : NULL }, { "ct", e ? &e->ct : NULL },
		{ "exporter_context", x ? &x->context : NULL },
		{ "exported_value", x ? &x->value : NULL },
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcmp(map[i].name, name) == 0)
			return map[i].field;
	}
	return NULL;
}

/* Handles "name: value"; returns the field that later hex lines extend. */
static struct bytes *
start_field(const char *name, const char *value)
{
	struct vector *v = nvectors > 0 ? &vectors[nvectors - 1] : NULL;
	unsigned long number = strtoul(value, NULL, 10);
	struct bytes *b;

	if (strcmp(name, "mode") == 0) {
		assert_true(nvectors < MAX_VECTORS);
		v = &vectors[nvectors++];
		memset(v, 0, sizeof(*v));
		v->mode = (unsigned)number;
		return NULL;
	}
	assert_non_null(v);
	if (strcmp(name, "kem_id") == 0) {
		v->kem_id = (unsigned)number;
	} else if (strcmp(name, "kdf_id") == 0) {
		v->kdf_id = (unsigned)number;
	} else if (strcmp(name, "aead_id") == 0) {
		v->aead_id = (unsigned)number;
	} else if (strcmp(name, "sequence number") == 0) {
		assert_true(v->nenc < MAX_ENCRYPTIONS);
		v->enc_list[v->nenc++].seq = number;
	} else if (strcmp(name, "L") == 0) {
		assert_true(v->nexp > 0);
		v->exp_list[v->nexp - 1].length = number;
	} else {
		if (strcmp(name, "exporter_context") == 0) {
			assert_true(v->nexp < MAX_EXPORTS);
			v->nexp++;
		}
		/* Fields the tests do not check, such as "secret". */
		if ((b = field_for(v, name)) == NULL)
			return NULL;
		b->present = 1;
		if (*value != '\0')
			append_hex(b, value);
		return b;
	}
	return NULL;
}

static void
load_vectors(void)
{
	char line[512], *colon, *value, *end;
	struct bytes *current = NULL;
	FILE *f;

	nvectors = 0;
	f = fopen(VECTOR_FILE, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		end = line + strlen(line);
		while (end > line && (end[-1] == '\n' || end[-1] == '\r' ||
		    end[-1] == ' '))
			*--end = '\0';
		if (current != NULL && is_hex_line(line)) {
			append_hex(current, line);
			continue;
		}
		current = NULL;
		if (line[0] == '#' || line[0] == '~' || line[0] == '\0' ||
		    (colon = strchr(line, ':')) == NULL)
			continue;
		*colon = '\0';
		value = colon + 1;
		while (*value == ' ')
			value++;
		current = start_field(line, value);
	}
	fclose(f);
}

static int
setup_vectors(void **state)
{
	load_vectors();
	return 0;
}

static void
assert_bytes(const uint8_t *got, size_t got_len, const struct bytes *want)
{
	assert_true(want->present);
	assert_int_equal(got_len, want->len);
	assert_memory_equal(got, want->data, want->len);
}

static int
vector_supported(const struct vector *v)
{
	return v->mode == 0 && v->kem_id == RV_HPKE_KEM_X25519_SHA256 &&
	    v->kdf_id == RV_HPKE_KDF_HKDF_SHA256 &&
	    rv_hpke_aead_supported((uint16_t)v->aead_id);
}

static void
test_vectors_loaded(void **state)
{
	size_t i, aes = 0, chacha = 0;

	assert_true(nvectors >= 2);
	for (i = 0; i < nvectors; i++) {
		assert_true(vector_supported(&vectors[i]));
		assert_int_equal(vectors[i].nenc, 6);
		assert_int_equal(vectors[i].nexp, 3);
		aes += vectors[i].aead_id == RV_HPKE_AEAD_AES128GCM;
		chacha += vectors[i].aead_id == RV_HPKE_AEAD_CHACHA20POLY1305;
	}
	assert_int_equal(aes, 1);
	assert_int_equal(chacha, 1);
}

static void
test_vector_derive_keypair(void **state)
{
	uint8_t sk[32], pk[32];
	size_t i;

	for (i = 0; i < nvectors; i++) {
		const struct vector *v = &vectors[i];

		assert_int_equal(rv_hpke_derive_keypair(v->ikm_e.data,
		    v->ikm_e.len, sk, pk), 0);
		assert_bytes(sk, sizeof(sk), &v->sk_em);
		assert_bytes(pk, sizeof(pk), &v->pk_em);
		assert_int_equal(rv_hpke_derive_keypair(v->ikm_r.data,
		    v->ikm_r.len, sk, pk), 0);
		assert_bytes(sk, sizeof(sk), &v->sk_rm);
		assert_bytes(pk, sizeof(pk), &v->pk_rm);
		assert_int_equal(rv_hpke_public_key(v->sk_rm.data, pk), 0);
		assert_bytes(pk, sizeof(pk), &v->pk_rm);
	}
}

static void
test_vector_encap_decap(void **state)
{
	uint8_t enc[32], ss[32];
	size_t i;

	for (i = 0; i < nvectors; i++) {
		const struct vector *v = &vectors[i];

		assert_int_equal(rv_hpke_encap_derand(v->pk_rm.data,
		    v->ikm_e.data, v->ikm_e.len, enc, ss), 0);
		assert_bytes(enc, sizeof(enc), &v->enc);
		assert_bytes(ss, sizeof(ss), &v->shared_secret);
		memset(ss, 0, sizeof(ss));
		assert_int_equal(rv_hpke_decap(v->enc.data, v->sk_rm.data,
		    ss), 0);
		assert_bytes(ss, sizeof(ss), &v->shared_secret);
	}
}

static void
setup_pair(const struct vector *v, struct rv_hpke_ctx *sender,
    struct rv_hpke_ctx *recipient)
{
	uint8_t enc[32];

	assert_int_equal(rv_hpke_setup_s_derand(sender, (uint16_t)v->aead_id,
	    v->pk_rm.data, v->info.data, v->info.len, v->ikm_e.data,
	    v->ikm_e.len, enc), 0);
	assert_bytes(enc, sizeof(enc), &v->enc);
	assert_int_equal(rv_hpke_setup_r(recipient, (uint16_t)v->aead_id,
	    enc, v->sk_rm.data, v->info.data, v->info.len), 0);
}

static void
test_vector_key_schedule(void **state)
{
	struct rv_hpke_ctx s, r;
	size_t i;

	for (i = 0; i < nvectors; i++) {
		const struct vector *v = &vectors[i];

		setup_pair(v, &s, &r);
		assert_bytes(s.key, s.key_len, &v->key);
		assert_bytes(s.base_nonce, sizeof(s.base_nonce),
		    &v->base_nonce);
		assert_bytes(s.exporter_secret, sizeof(s.exporter_secret),
		    &v->exporter_secret);
		assert_bytes(r.key, r.key_len, &v->key);
		assert_bytes(r.base_nonce, sizeof(r.base_nonce),
		    &v->base_nonce);
		assert_bytes(r.exporter_secret, sizeof(r.exporter_secret),
		    &v->exporter_secret);
		rv_hpke_ctx_clear(&s);
		rv_hpke_ctx_clear(&r);
	}
}

/* The vector's nonce must be base_nonce XOR I2OSP(seq, 12). */
static void
check_vector_nonce(const struct vector *v, const struct vector_encryption *e)
{
	uint8_t nonce[RV_HPKE_NONCE_LEN];
	size_t k;

	memcpy(nonce, v->base_nonce.data, sizeof(nonce));
	for (k = 0; k < 8; k++)
		nonce[11 - k] ^= (uint8_t)(e->seq >> (8 * k));
	assert_bytes(nonce, sizeof(nonce), &e->nonce);
}

static void
test_vector_encryptions(void **state)
{
	static const uint8_t filler[] = "filler";
	uint8_t ct[MAX_FIELD], pt[MAX_FIELD];
	struct rv_hpke_ctx s, r;
	size_t i, j, ct_len, pt_len;

	for (i = 0; i < nvectors; i++) {
		const struct vector *v = &vectors[i];

		setup_pair(v, &s, &r);
		for (j = 0; j < v->nenc; j++) {
			const struct vector_encryption *e = &v->enc_list[j];

			check_vector_nonce(v, e);
			/* Advance the sender to e->seq as a real one would. */
			while (s.seq < e->seq) {
				assert_int_equal(rv_hpke_ctx_seal(&s, NULL, 0,
				    filler, sizeof(filler), ct, sizeof(ct),
				    &ct_len), 0);
			}
			assert_int_equal(rv_hpke_ctx_seal(&s, e->aad.data,
			    e->aad.len, e->pt.data, e->pt.len, ct,
			    sizeof(ct), &ct_len), 0);
			assert_bytes(ct, ct_len, &e->ct);

			assert_int_equal(rv_hpke_ctx_open_seq(&r, e->seq,
			    e->aad.data, e->aad.len, e->ct.data, e->ct.len,
			    pt, sizeof(pt), &pt_len), 0);
			assert_bytes(pt, pt_len, &e->pt);
		}
		assert_int_equal(r.seq, 0);
		rv_hpke_ctx_clear(&s);
		rv_hpke_ctx_clear(&r);
	}
}

static void
test_vector_sequential_open(void **state)
{
	uint8_t pt[MAX_FIELD];
	struct rv_hpke_ctx s, r;
	size_t i, pt_len;

	for (i = 0; i < nvectors; i++) {
		const struct vector *v = &vectors[i];

		setup_pair(v, &s, &r);
		/* Vectors 0, 1 and 2 have consecutive sequence numbers. */
		assert_int_equal(v->enc_list[2].seq, 2);
		for (size_t j = 0; j < 3; j++) {
			const struct vector_encryption *e = &v->enc_list[j];

			assert_int_equal(rv_hpke_ctx_open(&r, e->aad.data,
			    e->aad.len, e->ct.data, e->ct.len, pt, sizeof(pt),
			    &pt_len), 0);
			assert_bytes(pt, pt_len, &e->pt);
		}
		assert_int_equal(r.seq, 3);
		rv_hpke_ctx_clear(&s);
		rv_hpke_ctx_clear(&r);
	}
}

static void
test_vector_exports(void **state)
{
	uint8_t out[MAX_FIELD];
	struct rv_hpke_ctx s, r;
	size_t i, j;

	for (i = 0; i < nvectors; i++) {
		const struct vector *v = &vectors[i];

		setup_pair(v, &s, &r);
		for (j = 0; j < v->nexp; j++) {
			const struct vector_export *x = &v->exp_list[j];

			assert_true(x->length <= sizeof(out));
			assert_int_equal(rv_hpke_ctx_export(&s,
			    x->context.data, x->context.len, out,
			    x->length), 0);
			assert_bytes(out, x->length, &x->value);
			assert_int_equal(rv_hpke_ctx_export(&r,
			    x->context.data, x->context.len, out,
			    x->length), 0);
			assert_bytes(out, x->length, &x->value);
		}
		rv_hpke_ctx_clear(&s);
		rv_hpke_ctx_clear(&r);
	}
}

static void
test_open_wrong_key_fails(void **state)
{
	const struct vector *v = &vectors[0];
	const struct vector_encryption *e = &v->enc_list[0];
	uint8_t pt[MAX_FIELD];
	size_t pt_len = 99;

	/* skEm is a valid X25519 key, but not the recipient's. */
	assert_int_equal(rv_hpke_open((uint16_t)v->aead_id, v->enc.data,
	    v->sk_em.data, v->info.data, v->info.len, e->aad.data, e->aad.len,
	    e->ct.data, e->ct.len, pt, sizeof(pt), &pt_len), RV_HPKE_ERR_OPEN);
	assert_int_equal(pt_len, 0);
}

static void
test_open_wrong_info_fails(void **state)
{
	const struct vector *v = &vectors[0];
	const struct vector_encryption *e = &v->enc_list[0];
	uint8_t pt[MAX_FIELD];
	size_t pt_len;

	assert_int_equal(rv_hpke_open((uint16_t)v->aead_id, v->enc.data,
	    v->sk_rm.data, v->info.data, v->info.len - 1, e->aad.data,
	    e->aad.len, e->ct.data, e->ct.len, pt, sizeof(pt), &pt_len),
	    RV_HPKE_ERR_OPEN);
}

static void
test_open_tampered_fails(void **state)
{
	uint8_t ct[MAX_FIELD], aad[MAX_FIELD], pt[MAX_FIELD], zero[MAX_FIELD];
	struct rv_hpke_ctx s, r;
	size_t i, k, pt_len;

	memset(zero, 0, sizeof(zero));
	for (i = 0; i < nvectors; i++) {
		const struct vector *v = &vectors[i];
		const struct vector_encryption *e = &v->enc_list[0];

		setup_pair(v, &s, &r);
		for (k = 0; k < e->ct.len; k++) {
			memcpy(ct, e->ct.data, e->ct.len);
			ct[k] ^= 0x01;
			memset(pt, 0xa5, sizeof(pt));
			assert_int_equal(rv_hpke_ctx_open(&r, e->aad.data,
			    e->aad.len, ct, e->ct.len, pt, sizeof(pt),
			    &pt_len), RV_HPKE_ERR_OPEN);
			assert_memory_equal(pt, zero, sizeof(pt));
		}
		memcpy(aad, e->aad.data, e->aad.len);
		aad[e->aad.len - 1] ^= 0x80;
		assert_int_equal(rv_hpke_ctx_open(&r, aad, e->aad.len,
		    e->ct.data, e->ct.len, pt, sizeof(pt), &pt_len),
		    RV_HPKE_ERR_OPEN);
		assert_int_equal(rv_hpke_ctx_open(&r, e->aad.data,
		    e->aad.len - 1, e->ct.data, e->ct.len, pt, sizeof(pt),
		    &pt_len), RV_HPKE_ERR_OPEN);
		/* Wrong sequence number: the message of seq 0 opened at 1. */
		assert_int_equal(rv_hpke_ctx_open_seq(&r, 1, e->aad.data,
		    e->aad.len, e->ct.data, e->ct.len, pt, sizeof(pt),
		    &pt_len), RV_HPKE_ERR_OPEN);

		for (k = 0; k < e->ct.len; k++) {
			int want = k < RV_HPKE_TAG_LEN ?
			    RV_HPKE_ERR_TRUNCATED : RV_HPKE_ERR_OPEN;

			assert_int_equal(rv_hpke_ctx_open(&r, e->aad.data,
			    e->aad.len, e->ct.data, k, pt, sizeof(pt),
			    &pt_len), want);
		}
		/* Failures never advance the sequence number. */
		assert_int_equal(r.seq, 0);
		assert_int_equal(rv_hpke_ctx_open(&r, e->aad.data, e->aad.len,
		    e->ct.data, e->ct.len, pt, sizeof(pt), &pt_len), 0);
		assert_int_equal(r.seq, 1);
		rv_hpke_ctx_clear(&s);
		rv_hpke_ctx_clear(&r);
	}
}

static void
test_roundtrip_each_aead(void **state)
{
	static const uint16_t aeads[] = { RV_HPKE_AEAD_AES128GCM,
	    RV_HPKE_AEAD_AES256GCM, RV_HPKE_AEAD_CHACHA20POLY1305 };
	static const uint8_t info[] = "revenant checkpoint";
	static const uint8_t aad[] = "header";
	uint8_t sk[32], pk[32], enc[32], ct[1100], pt[1100], msg[1024];
	uint8_t out_s[42], out_r[42];
	struct rv_hpke_ctx s, r;
	size_t i, n, ct_len, pt_len;

	for (n = 0; n < sizeof(msg); n++)
		msg[n] = (uint8_t)n;
	assert_int_equal(rv_hpke_generate_keypair(sk, pk), 0);
	for (i = 0; i < sizeof(aeads) / sizeof(aeads[0]); i++) {
		assert_int_equal(rv_hpke_setup_s(&s, aeads[i], pk, info,
		    sizeof(info), enc), 0);
		assert_int_equal(rv_hpke_setup_r(&r, aeads[i], enc, sk, info,
		    sizeof(info)), 0);
		assert_int_equal(s.key_len,
		    aeads[i] == RV_HPKE_AEAD_AES128GCM ? 16 : 32);
		/* Several datagrams in one context, sizes 0 to 1024. */
		for (n = 0; n <= sizeof(msg); n += 256) {
			assert_int_equal(rv_hpke_ctx_seal(&s, aad, sizeof(aad),
			    msg, n, ct, sizeof(ct), &ct_len), 0);
			assert_int_equal(ct_len, n + RV_HPKE_TAG_LEN);
			assert_int_equal(rv_hpke_ctx_open(&r, aad, sizeof(aad),
			    ct, ct_len, pt, sizeof(pt), &pt_len), 0);
			assert_int_equal(pt_len, n);
			assert_memory_equal(pt, msg, n);
		}
		assert_int_equal(s.seq, 5);
		assert_int_equal(rv_hpke_ctx_export(&s, NULL, 0, out_s,
		    sizeof(out_s)), 0);
		assert_int_equal(rv_hpke_ctx_export(&r, NULL, 0, out_r,
		    sizeof(out_r)), 0);
		assert_memory_equal(out_s, out_r, sizeof(out_s));

		assert_int_equal(rv_hpke_seal(aeads[i], pk, NULL, 0, NULL, 0,
		    msg, 100, enc, ct, sizeof(ct), &ct_len), 0);
		assert_int_equal(rv_hpke_open(aeads[i], enc, sk, NULL, 0, NULL,
		    0, ct, ct_len, pt, sizeof(pt), &pt_len), 0);
		assert_int_equal(pt_len, 100);
		assert_memory_equal(pt, msg, 100);
		rv_hpke_ctx_clear(&s);
		rv_hpke_ctx_clear(&r);
	}
}

/* Each AEAD keeps its own cipher implementation across calls: a message
 * sealed under one never opens under another. */
static void
test_aeads_interleaved(void **state)
{
	static const uint16_t aeads[] = { RV_HPKE_AEAD_AES128GCM,
	    RV_HPKE_AEAD_AES256GCM, RV_HPKE_AEAD_CHACHA20POLY1305 };
	static const uint8_t msg[] = "interleaved";
	uint8_t sk[32], pk[32], enc[32], ct[64], pt[64];
	size_t round, i, j, ct_len, pt_len;
	int expected;

	assert_int_equal(rv_hpke_generate_keypair(sk, pk), 0);
	for (round = 0; round < 3; round++) {
		for (i = 0; i < 3; i++) {
			assert_int_equal(rv_hpke_seal(aeads[i], pk, NULL, 0,
			    NULL, 0, msg, sizeof(msg), enc, ct, sizeof(ct),
			    &ct_len), 0);
			for (j = 0; j < 3; j++) {
				expected = i == j ? 0 : RV_HPKE_ERR_OPEN;
				assert_int_equal(rv_hpke_open(aeads[j], enc, sk,
				    NULL, 0, NULL, 0, ct, ct_len, pt,
				    sizeof(pt), &pt_len), expected);
				if (expected == 0)
					assert_memory_equal(pt, msg,
					    sizeof(msg));
			}
		}
	}
}

static void
test_fresh_ephemeral_each_setup(void **state)
{
	uint8_t sk[32], pk[32], enc1[32], enc2[32];
	struct rv_hpke_ctx s1, s2;

	assert_int_equal(rv_hpke_generate_keypair(sk, pk), 0);
	assert_int_equal(rv_hpke_setup_s(&s1, RV_HPKE_AEAD_CHACHA20POLY1305,
	    pk, NULL, 0, enc1), 0);
	assert_int_equal(rv_hpke_setup_s(&s2, RV_HPKE_AEAD_CHACHA20POLY1305,
	    pk, NULL, 0, enc2), 0);
	assert_memory_not_equal(enc1, enc2, sizeof(enc1));
	assert_memory_not_equal(s1.key, s2.key, s1.key_len);
	rv_hpke_ctx_clear(&s1);
	rv_hpke_ctx_clear(&s2);
}

static void
test_low_order_enc_rejected(void **state)
{
	static const uint8_t zero_point[32];
	uint8_t ss[32];
	struct rv_hpke_ctx r;
	const struct vector *v = &vectors[0];

	/* u = 0 is a point of small order: X25519 with it yields zero. */
	assert_int_equal(rv_hpke_decap(zero_point, v->sk_rm.data, ss),
	    RV_HPKE_ERR_DH);
	assert_int_equal(rv_hpke_setup_r(&r, RV_HPKE_AEAD_AES256GCM,
	    zero_point, v->sk_rm.data, NULL, 0), RV_HPKE_ERR_DH);
	assert_int_equal(rv_hpke_setup_s_derand(&r, RV_HPKE_AEAD_AES256GCM,
	    zero_point, NULL, 0, v->ikm_e.data, v->ikm_e.len, ss),
	    RV_HPKE_ERR_DH);
}

static void
test_max_lengths_accepted(void **state)
{
	static uint8_t info[RV_HPKE_MAX_INFO_LEN + 1];
	static uint8_t context[RV_HPKE_MAX_EXPORT_CONTEXT_LEN];
	static uint8_t out_s[RV_HPKE_MAX_EXPORT_LEN], out_r[sizeof(out_s)];
	const struct vector *v = &vectors[0];
	uint8_t enc[32], ct[RV_HPKE_TAG_LEN];
	struct rv_hpke_ctx s, r;
	size_t len;

	assert_int_equal(rv_hpke_setup_s(&s, RV_HPKE_AEAD_AES256GCM,
	    v->pk_rm.data, info, sizeof(info), enc),
	    RV_HPKE_ERR_INVALID_ARGUMENT);
	assert_int_equal(rv_hpke_setup_s(&s, RV_HPKE_AEAD_AES256GCM,
	    v->pk_rm.data, info, RV_HPKE_MAX_INFO_LEN, enc), 0);
	assert_int_equal(rv_hpke_setup_r(&r, RV_HPKE_AEAD_AES256GCM, enc,
	    v->sk_rm.data, info, RV_HPKE_MAX_INFO_LEN), 0);
	assert_int_equal(rv_hpke_ctx_export(&s, context, sizeof(context),
	    out_s, sizeof(out_s)), 0);
	assert_int_equal(rv_hpke_ctx_export(&r, context, sizeof(context),
	    out_r, sizeof(out_r)), 0);
	assert_memory_equal(out_s, out_r, sizeof(out_s));

	/* An empty plaintext needs no output buffer. */
	assert_int_equal(rv_hpke_ctx_seal(&s, NULL, 0, NULL, 0, ct,
	    sizeof(ct), &len), 0);
	assert_int_equal(len, RV_HPKE_TAG_LEN);
	assert_int_equal(rv_hpke_ctx_open(&r, NULL, 0, ct, len, NULL, 0,
	    &len), 0);
	assert_int_equal(len, 0);
	rv_hpke_ctx_clear(&s);
	rv_hpke_ctx_clear(&r);
}

static void
test_invalid_calls_rejected(void **state)
{
	const struct vector *v = &vectors[0];
	uint8_t enc[32], ct[64], pt[64], out[16], sk[32], pk[32];
	uint8_t big_context[RV_HPKE_MAX_EXPORT_CONTEXT_LEN + 1];
	struct rv_hpke_ctx s, r;
	size_t len;

	assert_int_equal(rv_hpke_setup_s(&s, 0x0004, v->pk_rm.data, NULL, 0,
	    enc), RV_HPKE_ERR_UNSUPPORTED_AEAD);
	assert_int_equal(rv_hpke_setup_s(&s, RV_HPKE_AEAD_AES256GCM,
	    v->pk_rm.data, NULL, 5, enc), RV_HPKE_ERR_INVALID_ARGUMENT);
	assert_int_equal(rv_hpke_derive_keypair(v->ikm_e.data, 31, sk, pk),
	    RV_HPKE_ERR_INVALID_ARGUMENT);

	setup_pair(v, &s, &r);
	assert_int_equal(rv_hpke_ctx_seal(&r, NULL, 0, pt, 1, ct, sizeof(ct),
	    &len), RV_HPKE_ERR_WRONG_ROLE);
	assert_int_equal(rv_hpke_ctx_seal(&s, NULL, 0, pt, 49, ct, sizeof(ct),
	    &len), RV_HPKE_ERR_BUFFER_TOO_SMALL);
	assert_int_equal(s.seq, 0);
	assert_int_equal(rv_hpke_ctx_seal(&s, NULL, 0, pt, 20, ct, sizeof(ct),
	    &len), 0);
	assert_int_equal(rv_hpke_ctx_open(&r, NULL, 0, ct, len, pt, 19, &len),
	    RV_HPKE_ERR_BUFFER_TOO_SMALL);
	assert_int_equal(rv_hpke_ctx_export(&s, NULL, 0, out,
	    RV_HPKE_MAX_EXPORT_LEN + 1), RV_HPKE_ERR_EXPORT_LENGTH);
	memset(big_context, 0, sizeof(big_context));
	assert_int_equal(rv_hpke_ctx_export(&s, big_context,
	    sizeof(big_context), out, sizeof(out)),
	    RV_HPKE_ERR_INVALID_ARGUMENT);

	s.seq = UINT64_MAX;
	assert_int_equal(rv_hpke_ctx_seal(&s, NULL, 0, pt, 1, ct, sizeof(ct),
	    &len), RV_HPKE_ERR_MESSAGE_LIMIT);
	rv_hpke_ctx_clear(&s);
	rv_hpke_ctx_clear(&r);
	assert_int_equal(s.key_len, 0);
	assert_string_equal(rv_hpke_strerror(RV_HPKE_ERR_OPEN),
	    "message authentication failed");
}

/* Recovery key files. */

static const char *const good_b64 =
    "OUjP4K0d22ldeA5ZB3GV2mxWUGsCcyl5SrAryoCBXE0=";

static void
test_public_line_roundtrip(void **state)
{
	struct rv_recovery_pubkey key;
	uint8_t sk[32], pk[32];
	char line[RV_KEYFILE_PUBLIC_LINE_SIZE];

	assert_int_equal(rv_hpke_generate_keypair(sk, pk), 0);
	assert_int_equal(rv_keyfile_format_public_line(pk, "backup b1 key",
	    line, sizeof(line)), 0);
	assert_int_equal(strncmp(line, "revenant-x25519 ", 16), 0);
	assert_int_equal(rv_keyfile_parse_public_line(line, strlen(line),
	    &key), 0);
	assert_memory_equal(key.key, pk, 32);
	assert_string_equal(key.comment, "backup b1 key");

	assert_int_equal(rv_keyfile_format_public_line(pk, NULL, line,
	    sizeof(line)), 0);
	assert_int_equal(strlen(line), 15 + 1 + 44);
	assert_int_equal(rv_keyfile_parse_public_line(line, strlen(line),
	    &key), 0);
	assert_string_equal(key.comment, "");
	assert_int_equal(rv_keyfile_format_public_line(pk, "x", line, 60),
	    RV_KEYFILE_ERR_BUFFER_TOO_SMALL);
	assert_int_equal(rv_keyfile_format_public_line(pk, "a\nb", line,
	    sizeof(line)), RV_KEYFILE_ERR_COMMENT);
}

static void
test_public_line_known_key(void **state)
{
	struct rv_recovery_pubkey key;
	char line[200];

	/* pkRm of the first RFC 9180 vector. */
	snprintf(line, sizeof(line), "\trevenant-x25519  %s   b1 \t",
	    good_b64);
	assert_int_equal(rv_keyfile_parse_public_line(line, strlen(line),
	    &key), 0);
	assert_memory_equal(key.key, vectors[0].pk_rm.data, 32);
	assert_string_equal(key.comment, "b1");
}

static void
test_public_line_errors(void **state)
{
	static const struct {
		const char *line;
		int code;
	} cases[] = {
		{ "", RV_KEYFILE_ERR_INCOMPLETE },
		{ "revenant-x25519", RV_KEYFILE_ERR_INCOMPLETE },
		{ "revenant-x25519   ", RV_KEYFILE_ERR_INCOMPLETE },
		{ "ssh-ed25519 OUjP4K0d22ldeA5ZB3GV2mxWUGsCcyl5SrAryoCBXE0=",
		    RV_KEYFILE_ERR_KEY_TYPE },
		{ "revenant-x25519X OUjP4K0d22ldeA5ZB3GV2mxWUGsCcyl5SrAryoCBXE0=",
		    RV_KEYFILE_ERR_KEY_TYPE },
		/* One character short, one extra, invalid characters. */
		{ "revenant-x25519 OUjP4K0d22ldeA5ZB3GV2mxWUGsCcyl5SrAryoCBXE0",
		    RV_KEYFILE_ERR_BASE64 },
		{ "revenant-x25519 OUjP4K0d22ldeA5ZB3GV2mxWUGsCcyl5SrAryoCBXE0=x",
		    RV_KEYFILE_ERR_BASE64 },
		{ "revenant-x25519 OUjP4K0d22ldeA5ZB3GV2mxWUGsCcyl5SrAryoCBX!0=",
		    RV_KEYFILE_ERR_BASE64 },
		{ "revenant-x25519 OUjP4K0d=2lNeA5ZB3GV2mxWUGsCcyl5SrAryoCBXE0=",
		    RV_KEYFILE_ERR_BASE64 },
		/* Last character not canonical: the unused bits are set. */
		{ "revenant-x25519 OUjP4K0d22ldeA5ZB3GV2mxWUGsCcyl5SrAryoCBXE1=",
		    RV_KEYFILE_ERR_BASE64 },
		/* Valid base64 of 33 and 30 bytes. */
		{ "revenant-x25519 OUjP4K0d22ldeA5ZB3GV2mxWUGsCcyl5SrAryoCBXE0A",
		    RV_KEYFILE_ERR_KEY_LENGTH },
		{ "revenant-x25519 OUjP4K0d22ldeA5ZB3GV2mxWUGsCcyl5SrAryoCB",
		    RV_KEYFILE_ERR_KEY_LENGTH },
		{ "revenant-x25519 OUjP4K0d22ldeA5ZB3GV2mxWUGsCcyl5SrAryoCBXE0= a\x01",
		    RV_KEYFILE_ERR_COMMENT },
		{ "revenant-x25519 OUjP4K0d22ldeA5ZB3GV2mxWUGsCcyl5SrAryoCBXE0= a\r",
		    RV_KEYFILE_ERR_COMMENT },
	};
	struct rv_recovery_pubkey key;
	char long_line[RV_KEYFILE_LINE_MAX + 2];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = rv_keyfile_parse_public_line(cases[i].line,
		    strlen(cases[i].line), &key);

		if (r != cases[i].code)
			fail_msg("case %zu \"%s\": got %d, expected %d", i,
			    cases[i].line, r, cases[i].code);
	}
	snprintf(long_line, sizeof(long_line), "revenant-x25519 %s ",
	    good_b64);
	memset(long_line + strlen(long_line), 'c',
	    sizeof(long_line) - 1 - strlen(long_line));
	long_line[sizeof(long_line) - 1] = '\0';
	assert_int_equal(rv_keyfile_parse_public_line(long_line,
	    strlen(long_line), &key), RV_KEYFILE_ERR_TOO_LARGE);
	assert_int_equal(rv_keyfile_parse_public_line(long_line, 16 + 44 + 1 +
	    RV_KEYFILE_COMMENT_MAX + 1, &key), RV_KEYFILE_ERR_COMMENT);
	assert_int_equal(rv_keyfile_parse_public_line(long_line, 16 + 44 + 1 +
	    RV_KEYFILE_COMMENT_MAX, &key), 0);
}

static void
test_public_list_parse(void **state)
{
	struct rv_recovery_pubkey keys[4];
	struct rv_keyfile_error err;
	char text[1024];
	size_t n;

	snprintf(text, sizeof(text),
	    "# recovery keys of the backups\n"
	    "\n"
	    "revenant-x25519 %s b1\n"
	    "   \t\n"
	    "  # indented comment\n"
	    "revenant-x25519 %s b2", good_b64, good_b64);
	assert_int_equal(rv_keyfile_parse_public_list("keys.pub", text,
	    strlen(text), keys, 4, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(keys[0].comment, "b1");
	assert_string_equal(keys[1].comment, "b2");

	assert_int_equal(rv_keyfile_parse_public_list("keys.pub", text,
	    strlen(text), keys, 1, &n, &err), RV_KEYFILE_ERR_TOO_MANY_KEYS);
	assert_int_equal(err.line, 6);

	assert_int_equal(rv_keyfile_parse_public_list("keys.pub", "", 0, keys,
	    4, &n, &err), 0);
	assert_int_equal(n, 0);

	snprintf(text, sizeof(text), "revenant-x25519 %s b1\n\n"
	    "revenant-x25519 AAAA b2\n", good_b64);
	assert_int_equal(rv_keyfile_parse_public_list("/etc/keys.pub", text,
	    strlen(text), keys, 4, &n, &err), RV_KEYFILE_ERR_KEY_LENGTH);
	assert_int_equal(err.code, RV_KEYFILE_ERR_KEY_LENGTH);
	assert_int_equal(err.line, 3);
	assert_non_null(strstr(err.message, "/etc/keys.pub line 3: "));
}

static void
test_private_roundtrip(void **state)
{
	uint8_t sk[32], pk[32], sk2[32], pk2[32];
	char text[RV_KEYFILE_PRIVATE_TEXT_SIZE];
	struct rv_keyfile_error err;
	size_t len;

	assert_int_equal(rv_hpke_generate_keypair(sk, pk), 0);
	assert_int_equal(rv_keyfile_format_private(sk, text, sizeof(text),
	    &len), 0);
	assert_int_equal(len, strlen(text));
	assert_int_equal(len, 38 + 97 + 36);
	assert_int_equal(rv_keyfile_parse_private("k", text, len, sk2, pk2,
	    &err), 0);
	assert_memory_equal(sk2, sk, 32);
	assert_memory_equal(pk2, pk, 32);
	/* The final newline is optional. */
	assert_int_equal(rv_keyfile_parse_private("k", text, len - 1, sk2,
	    pk2, &err), 0);
}

/* Formats a private key file around a custom blob. */
static size_t
private_text(char *out, size_t size, const uint8_t *blob, size_t blob_len,
    const char *tail)
{
	unsigned char b64[200];

	EVP_EncodeBlock(b64, blob, (int)blob_len);
	return (size_t)snprintf(out, size, "%s\n%s\n%s\n%s",
	    RV_KEYFILE_PRIVATE_BEGIN, b64, RV_KEYFILE_PRIVATE_END, tail);
}

static void
make_blob(uint8_t blob[72], const struct vector *v)
{
	memcpy(blob, "RVRK\x01\x00\x00\x20", 8);
	memcpy(blob + 8, v->sk_rm.data, 32);
	memcpy(blob + 40, v->pk_rm.data, 32);
}

static void
expect_private_error(const char *text, size_t len, int code,
    unsigned long line)
{
	struct rv_keyfile_error err;
	uint8_t sk[32], pk[32];
	static const uint8_t zero[32];

	memset(sk, 0x5a, sizeof(sk));
	assert_int_equal(rv_keyfile_parse_private("test.key", text, len, sk,
	    pk, &err), code);
	assert_int_equal(err.code, code);
	assert_int_equal(err.line, line);
	assert_non_null(strstr(err.message, "test.key"));
	assert_memory_equal(sk, zero, sizeof(sk));
}

static void
test_private_errors(void **state)
{
	const struct vector *v = &vectors[0];
	uint8_t blob[80], sk[32], pk[32];
	struct rv_keyfile_error err;
	char text[600];
	size_t len;

	make_blob(blob, v);
	len = private_text(text, sizeof(text), blob, 72, "");
	assert_int_equal(rv_keyfile_parse_private("test.key", text, len, sk,
	    pk, &err), 0);
	assert_memory_equal(sk, v->sk_rm.data, 32);

	expect_private_error("", 0, RV_KEYFILE_ERR_INCOMPLETE, 1);
	expect_private_error("-----BEGIN PRIVATE KEY-----\n", 28,
	    RV_KEYFILE_ERR_ARMOR, 1);
	expect_private_error(RV_KEYFILE_PRIVATE_BEGIN "\n", 38,
	    RV_KEYFILE_ERR_INCOMPLETE, 2);

	len = private_text(text, sizeof(text), blob, 72, "");
	expect_private_error(text, len - 37, RV_KEYFILE_ERR_INCOMPLETE, 3);
	expect_private_error(text, len - 2, RV_KEYFILE_ERR_ARMOR, 3);
	len = private_text(text, sizeof(text), blob, 72, "\n");
	expect_private_error(text, len, RV_KEYFILE_ERR_TRAILING, 4);
	len = private_text(text, sizeof(text), blob, 72, "junk");
	expect_private_error(text, len, RV_KEYFILE_ERR_TRAILING, 4);

	len = private_text(text, sizeof(text), blob, 71, "");
	expect_private_error(text, len, RV_KEYFILE_ERR_KEY_LENGTH, 2);
	len = private_text(text, sizeof(text), blob, 75, "");
	expect_private_error(text, len, RV_KEYFILE_ERR_KEY_LENGTH, 2);
	len = private_text(text, sizeof(text), blob, 72, "");
	text[38 + 10] = '*';
	expect_private_error(text, len, RV_KEYFILE_ERR_BASE64, 2);

	blob[0] = 'X';
	len = private_text(text, sizeof(text), blob, 72, "");
	expect_private_error(text, len, RV_KEYFILE_ERR_FORMAT, 2);
	make_blob(blob, v);
	blob[4] = 2;
	len = private_text(text, sizeof(text), blob, 72, "");
	expect_private_error(text, len, RV_KEYFILE_ERR_FORMAT, 2);
	make_blob(blob, v);
	blob[7] = 0x21;
	len = private_text(text, sizeof(text), blob, 72, "");
	expect_private_error(text, len, RV_KEYFILE_ERR_FORMAT, 2);
	make_blob(blob, v);
	blob[71] ^= 1;
	len = private_text(text, sizeof(text), blob, 72, "");
	expect_private_error(text, len, RV_KEYFILE_ERR_KEY_MISMATCH, 2);
}

static void
test_key_files_on_disk(void **state)
{
	char dir[] = "/tmp/test_hpke.XXXXXX", priv[64], pub[64];
	uint8_t sk[32], pk[32], sk2[32], pk2[32];
	struct rv_recovery_pubkey keys[2];
	struct rv_keyfile_error err;
	struct stat st;
	mode_t old_umask;
	size_t n;

	assert_non_null(mkdtemp(dir));
	snprintf(priv, sizeof(priv), "%s/recovery", dir);
	snprintf(pub, sizeof(pub), "%s/recovery.pub", dir);
	assert_int_equal(rv_hpke_generate_keypair(sk, pk), 0);

	/* A strict umask must not change the public key's 0644. */
	old_umask = umask(077);
	assert_int_equal(rv_keyfile_write_private(priv, sk, 0, &err), 0);
	assert_int_equal(rv_keyfile_write_public(pub, pk, "b1", 0, &err), 0);
	umask(old_umask);
	assert_int_equal(stat(priv, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(pub, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);

	assert_int_equal(rv_keyfile_load_private(priv, sk2, pk2, &err), 0);
	assert_memory_equal(sk2, sk, 32);
	assert_memory_equal(pk2, pk, 32);
	assert_int_equal(rv_keyfile_load_public_list(pub, keys, 2, &n, &err),
	    0);
	assert_int_equal(n, 1);
	assert_memory_equal(keys[0].key, pk, 32);

	assert_int_equal(rv_keyfile_write_private(priv, sk, 0, &err),
	    RV_KEYFILE_ERR_EXISTS);
	assert_non_null(strstr(err.message, priv));
	assert_int_equal(rv_keyfile_write_public(pub, pk, "b1", 0, &err),
	    RV_KEYFILE_ERR_EXISTS);

	assert_int_equal(chmod(priv, 0640), 0);
	assert_int_equal(rv_keyfile_load_private(priv, sk2, pk2, &err),
	    RV_KEYFILE_ERR_PERMISSIONS);
	assert_non_null(strstr(err.message, priv));
	assert_non_null(strstr(err.message, "chmod 600"));
	assert_int_equal(chmod(priv, 0604), 0);
	assert_int_equal(rv_keyfile_load_private(priv, sk2, pk2, &err),
	    RV_KEYFILE_ERR_PERMISSIONS);

	/* Overwriting replaces the file and restores mode 0600. */
	assert_int_equal(rv_keyfile_write_private(priv, sk, 1, &err), 0);
	assert_int_equal(stat(priv, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(rv_keyfile_load_private(priv, sk2, pk2, &err), 0);

	assert_int_equal(rv_keyfile_load_private(dir, sk2, pk2, &err),
	    RV_KEYFILE_ERR_PERMISSIONS);
	assert_int_equal(unlink(priv), 0);
	assert_int_equal(rv_keyfile_load_private(priv, sk2, pk2, &err),
	    RV_KEYFILE_ERR_SYSTEM);
	assert_non_null(strstr(err.message, priv));
	assert_int_equal(unlink(pub), 0);
	assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors_loaded),
		cmocka_unit_test(test_vector_derive_keypair),
		cmocka_unit_test(test_vector_encap_decap),
		cmocka_unit_test(test_vector_key_schedule),
		cmocka_unit_test(test_vector_encryptions),
		cmocka_unit_test(test_vector_sequential_open),
		cmocka_unit_test(test_vector_exports),
		cmocka_unit_test(test_open_wrong_key_fails),
		cmocka_unit_test(test_open_wrong_info_fails),
		cmocka_unit_test(test_open_tampered_fails),
		cmocka_unit_test(test_roundtrip_each_aead),
		cmocka_unit_test(test_aeads_interleaved),
		cmocka_unit_test(test_fresh_ephemeral_each_setup),
		cmocka_unit_test(test_low_order_enc_rejected),
		cmocka_unit_test(test_max_lengths_accepted),
		cmocka_unit_test(test_invalid_calls_rejected),
		cmocka_unit_test(test_public_line_roundtrip),
		cmocka_unit_test(test_public_line_known_key),
		cmocka_unit_test(test_public_line_errors),
		cmocka_unit_test(test_public_list_parse),
		cmocka_unit_test(test_private_roundtrip),
		cmocka_unit_test(test_private_errors),
		cmocka_unit_test(test_key_files_on_disk),
	};

	return cmocka_run_group_tests(tests, setup_vectors, NULL);
}
