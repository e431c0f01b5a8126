/* SPDX-License-Identifier: BSD-3-Clause */
/* Checkpoint datagrams: encoding, signatures, HPKE binding to the header,
 * reassembly with its caps and timeout, filing and heartbeats. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "ckpt_store.h"
#include "revenant-ckpt-wire.h"

#define MS		1000000ull
#define CONTENT_LEN	1300	/* with two recipients: three fragments */

struct keys {
	uint8_t host_seed[32];
	uint8_t host_pk[32];
	uint8_t other_seed[32];
	uint8_t rk_sk[2][32];
	uint8_t rk_pk[2][32];
};

static struct keys K;
static uint8_t content[CONTENT_LEN];

static int
group_setup(void **state)
{
	size_t i;

	for (i = 0; i < 32; i++) {
		K.host_seed[i] = (uint8_t)(i + 1);
		K.other_seed[i] = (uint8_t)(i + 101);
	}
	if (rv_ckpt_ed25519_public(K.host_seed, K.host_pk) != 0)
		return -1;
	for (i = 0; i < 2; i++)
		if (rv_hpke_generate_keypair(K.rk_sk[i], K.rk_pk[i]) != 0)
			return -1;
	for (i = 0; i < sizeof(content); i++)
		content[i] = (uint8_t)(i * 7 + 3);
	return 0;
}

static void
make_header(struct rv_ckpt_header *h, uint64_t number, uint64_t c2s,
    uint64_t s2c)
{
	memset(h, 0, sizeof(*h));
	h->conn.family = 4;
	memcpy(h->conn.server, "\xc6\x33\x64\x02", 4);
	h->conn.server_port = 22;
	memcpy(h->conn.client, "\xc6\x33\x64\x01", 4);
	h->conn.client_port = 40000;
	memset(h->session_hash, 0xab, sizeof(h->session_hash));
	h->number = number;
	h->c2s_offset = c2s;
	h->s2c_offset = s2c;
	h->flags = RV_CKPT_FLAG_AFTER_NEWKEYS;
}

static uint8_t *
build(uint64_t number, const uint8_t *seed, size_t content_len, size_t *len)
{
	struct rv_ckpt_header h;
	uint8_t *msg = NULL;

	make_header(&h, number, 100 * number, 200 * number);
	assert_int_equal(rv_ckpt_msg_build(&h,
	    (const uint8_t (*)[32])K.rk_pk, 2, content, content_len,
	    rv_ckpt_ed25519_sign, (void *)seed, &msg, len), 0);
	return msg;
}

/* Fragments msg and feeds fragment order[i] for each i; returns the last
 * result. */
static int
feed(struct rv_ckpt_store *st, int server, const uint8_t *msg, size_t len,
    uint64_t id, const int *order, size_t n, uint64_t now_ns,
    struct rv_ckpt **out)
{
	struct rv_ckpt_header h;
	uint8_t dg[RV_CKPT_DATAGRAM_MAX];
	size_t dlen, i;
	int rc = 0;

	make_header(&h, id, 0, 0);
	for (i = 0; i < n; i++) {
		assert_int_equal(rv_ckpt_frag_encode(&h.conn, id, msg, len,
		    (uint16_t)order[i], dg, sizeof(dg), &dlen), 0);
		rc = rv_ckpt_store_input(st, server, dg, dlen, now_ns, out);
	}
	return rc;
}

static const int in_order[] = { 0, 1, 2 };

static void
store_setup(struct rv_ckpt_store *st, uint64_t cap)
{
	assert_int_equal(rv_ckpt_store_init(st, 2, cap, 2000 * MS), 0);
	assert_int_equal(rv_ckpt_store_set_host_key(st, 0, K.host_pk), 0);
}

static void
message_round_trip(void **state)
{
	struct rv_ckpt_msg m;
	uint8_t pt[CONTENT_LEN];
	size_t len, pt_len, i;
	uint8_t *msg = build(7, K.host_seed, CONTENT_LEN, &len);

	assert_int_equal(rv_ckpt_msg_decode(msg, len, &m), 0);
	assert_int_equal(m.hdr.number, 7);
	assert_int_equal(m.hdr.c2s_offset, 700);
	assert_int_equal(m.hdr.s2c_offset, 1400);
	assert_int_equal(m.hdr.total_len, len);
	assert_int_equal(m.hdr.conn.client_port, 40000);
	assert_int_equal(m.n_recipients, 2);
	assert_int_equal(rv_ckpt_msg_verify(&m, msg, K.host_pk), 0);
	for (i = 0; i < 2; i++) {
		memset(pt, 0, sizeof(pt));
		assert_int_equal(rv_ckpt_msg_open(&m, K.rk_sk[i], pt,
		    sizeof(pt), &pt_len), 0);
		assert_int_equal(pt_len, CONTENT_LEN);
		assert_memory_equal(pt, content, CONTENT_LEN);
	}
	assert_int_equal(rv_ckpt_frag_count(len), 3);
	free(msg);
}

static void
message_trailing_and_short(void **state)
{
	struct rv_ckpt_msg m;
	size_t len;
	uint8_t *msg = build(1, K.host_seed, 10, &len);
	uint8_t *longer = calloc(1, len + 1);

	assert_int_equal(rv_ckpt_msg_decode(msg, len - 1, &m),
	    RV_CKPT_ERR_MALFORMED);	/* total length no longer matches */
	memcpy(longer, msg, len);
	assert_int_equal(rv_ckpt_msg_decode(longer, len + 1, &m),
	    RV_CKPT_ERR_MALFORMED);
	assert_int_equal(rv_ckpt_msg_decode(msg, 50, &m),
	    RV_CKPT_ERR_INCOMPLETE);
	free(longer);
	free(msg);
}

static void
header_byte_flips_rejected(void **state)
{
	struct rv_ckpt_msg m;
	size_t len, i;
	int bit;
	uint8_t *msg = build(3, K.host_seed, 64, &len);

	for (i = 0; i < RV_CKPT_HEADER_LEN; i++) {
		for (bit = 0; bit < 8; bit += 7) {
			msg[i] ^= (uint8_t)(1u << bit);
			if (rv_ckpt_msg_decode(msg, len, &m) == 0)
				assert_int_equal(rv_ckpt_msg_verify(&m, msg,
				    K.host_pk), RV_CKPT_ERR_SIGNATURE);
			msg[i] ^= (uint8_t)(1u << bit);
		}
	}
	free(msg);
}

static void
ciphertext_flips_rejected(void **state)
{
	struct rv_ckpt_msg m;
	uint8_t pt[64];
	size_t len, pt_len, i, start;
	uint8_t *msg = build(3, K.host_seed, 64, &len);

	assert_int_equal(rv_ckpt_msg_decode(msg, len, &m), 0);
	start = (size_t)(m.recipients[0].ct - msg);
	for (i = start; i < start + m.recipients[0].ct_len; i++) {
		msg[i] ^= 0x01;
		assert_int_equal(rv_ckpt_msg_decode(msg, len, &m), 0);
		/* The appliance stops it at the signature ... */
		assert_int_equal(rv_ckpt_msg_verify(&m, msg, K.host_pk),
		    RV_CKPT_ERR_SIGNATURE);
		/* ... and the backup's AEAD would too. */
		assert_int_equal(rv_ckpt_msg_open(&m, K.rk_sk[0], pt,
		    sizeof(pt), &pt_len), RV_CKPT_ERR_OPEN);
		msg[i] ^= 0x01;
	}
	free(msg);
}

/* Re-signs a message whose header was changed: the signature is valid,
 * but the ciphertext was sealed with the old header as aad. */
static void
aead_bound_to_header(void **state)
{
	struct rv_ckpt_msg m;
	uint8_t pt[64];
	size_t len, pt_len, sig_len, label = sizeof(RV_CKPT_SIG_LABEL);
	uint8_t *msg = build(3, K.host_seed, 64, &len);
	uint8_t *tbs;

	assert_int_equal(rv_ckpt_msg_decode(msg, len, &m), 0);
	msg[RV_CKPT_HEADER_LEN - 9] ^= 0x10;	/* c2s offset */
	tbs = malloc(label + m.signed_len);
	memcpy(tbs, RV_CKPT_SIG_LABEL, label);
	memcpy(tbs + label, msg, m.signed_len);
	assert_int_equal(rv_ckpt_ed25519_sign(K.host_seed, tbs,
	    label + m.signed_len, msg + m.signed_len + 4, RV_CKPT_SIG_BLOB_LEN,
	    &sig_len), 0);
	assert_int_equal(rv_ckpt_msg_decode(msg, len, &m), 0);
	assert_int_equal(rv_ckpt_msg_verify(&m, msg, K.host_pk), 0);
	assert_int_equal(rv_ckpt_msg_open(&m, K.rk_sk[1], pt, sizeof(pt),
	    &pt_len), RV_CKPT_ERR_OPEN);
	free(tbs);
	free(msg);
}

/* Ed25519 is deterministic, so seed || public key must sign exactly as
 * the seed alone does. */
static void
keypair_signature_matches_seed(void **state)
{
	uint8_t keypair[RV_CKPT_ED25519_KEYPAIR_LEN];
	uint8_t sig_seed[RV_CKPT_SIG_BLOB_LEN], sig_pair[RV_CKPT_SIG_BLOB_LEN];
	struct rv_ckpt_header h;
	struct rv_ckpt_msg m;
	size_t sig_len, len;
	uint8_t *msg = NULL;

	memcpy(keypair, K.host_seed, 32);
	memcpy(keypair + 32, K.host_pk, 32);
	assert_int_equal(rv_ckpt_ed25519_sign(K.host_seed, content,
	    sizeof(content), sig_seed, sizeof(sig_seed), &sig_len), 0);
	assert_int_equal(sig_len, RV_CKPT_SIG_BLOB_LEN);
	assert_int_equal(rv_ckpt_ed25519_sign_keypair(keypair, content,
	    sizeof(content), sig_pair, sizeof(sig_pair), &sig_len), 0);
	assert_int_equal(sig_len, RV_CKPT_SIG_BLOB_LEN);
	assert_memory_equal(sig_seed, sig_pair, RV_CKPT_SIG_BLOB_LEN);
	assert_int_equal(rv_ckpt_ed25519_sign_keypair(keypair, content,
	    sizeof(content), sig_pair, RV_CKPT_SIG_BLOB_LEN - 1, &sig_len),
	    RV_CKPT_ERR_BUFFER_TOO_SMALL);

	make_header(&h, 5, 1, 2);
	assert_int_equal(rv_ckpt_msg_build(&h,
	    (const uint8_t (*)[32])K.rk_pk, 2, content, sizeof(content),
	    rv_ckpt_ed25519_sign_keypair, keypair, &msg, &len), 0);
	assert_int_equal(rv_ckpt_msg_decode(msg, len, &m), 0);
	assert_int_equal(rv_ckpt_msg_verify(&m, msg, K.host_pk), 0);
	free(msg);

	/* A public key of another seed makes a signature that fails. */
	assert_int_equal(rv_ckpt_ed25519_public(K.other_seed, keypair + 32), 0);
	assert_int_equal(rv_ckpt_msg_build(&h,
	    (const uint8_t (*)[32])K.rk_pk, 2, content, sizeof(content),
	    rv_ckpt_ed25519_sign_keypair, keypair, &msg, &len), 0);
	assert_int_equal(rv_ckpt_msg_decode(msg, len, &m), 0);
	assert_int_equal(rv_ckpt_msg_verify(&m, msg, K.host_pk),
	    RV_CKPT_ERR_SIGNATURE);
	free(msg);
}

/* Every message encapsulates afresh for every recipient (HPKE base mode
 * gives one key per encapsulation), and each still opens. */
static void
messages_use_fresh_encapsulation(void **state)
{
	uint8_t enc[8][2][RV_HPKE_ENC_LEN], pt[CONTENT_LEN];
	struct rv_ckpt_msg m;
	size_t len, pt_len, i, j;
	uint8_t *msg;

	for (i = 0; i < 8; i++) {
		msg = build(i + 1, K.host_seed, CONTENT_LEN, &len);
		assert_int_equal(rv_ckpt_msg_decode(msg, len, &m), 0);
		assert_int_equal(rv_ckpt_msg_verify(&m, msg, K.host_pk), 0);
		for (j = 0; j < 2; j++) {
			memcpy(enc[i][j], m.recipients[j].enc, RV_HPKE_ENC_LEN);
			assert_int_equal(rv_ckpt_msg_open(&m, K.rk_sk[j], pt,
			    sizeof(pt), &pt_len), 0);
			assert_int_equal(pt_len, CONTENT_LEN);
			assert_memory_equal(pt, content, CONTENT_LEN);
		}
		assert_memory_not_equal(enc[i][0], enc[i][1], RV_HPKE_ENC_LEN);
		for (j = 0; j < i; j++)
			assert_memory_not_equal(enc[i][0], enc[j][0],
			    RV_HPKE_ENC_LEN);
		free(msg);
	}
}

static void
open_without_recipient(void **state)
{
	struct rv_ckpt_msg m;
	uint8_t sk[32], pk[32], pt[64];
	size_t len, pt_len;
	uint8_t *msg = build(3, K.host_seed, 64, &len);

	assert_int_equal(rv_hpke_generate_keypair(sk, pk), 0);
	assert_int_equal(rv_ckpt_msg_decode(msg, len, &m), 0);
	assert_int_equal(rv_ckpt_msg_open(&m, sk, pt, sizeof(pt), &pt_len),
	    RV_CKPT_ERR_NO_RECIPIENT);
	free(msg);
}

static void
heartbeat_round_trip(void **state)
{
	struct rv_ckpt_heartbeat hb, out;
	uint8_t dg[RV_CKPT_HB_LEN];
	size_t len, i;

	memset(&hb, 0, sizeof(hb));
	hb.family = 4;
	memcpy(hb.server, "\xc6\x33\x64\x02", 4);
	hb.server_port = 22;
	hb.boot_id = 0x1122334455667788ull;
	hb.sequence = 9;
	hb.connections = 3;
	assert_int_equal(rv_ckpt_heartbeat_build(&hb, rv_ckpt_ed25519_sign,
	    K.host_seed, dg, sizeof(dg), &len), 0);
	assert_int_equal(len, RV_CKPT_HB_LEN);
	assert_int_equal(rv_ckpt_heartbeat_decode(dg, len, &out), 0);
	assert_int_equal(out.boot_id, hb.boot_id);
	assert_int_equal(out.sequence, 9);
	assert_int_equal(out.connections, 3);
	assert_int_equal(rv_ckpt_heartbeat_verify(&out, dg, len, K.host_pk),
	    0);
	for (i = 0; i < RV_CKPT_HB_SIGNED_LEN; i++) {
		dg[i] ^= 0x04;
		if (rv_ckpt_heartbeat_decode(dg, len, &out) == 0)
			assert_int_equal(rv_ckpt_heartbeat_verify(&out, dg, len,
			    K.host_pk), RV_CKPT_ERR_SIGNATURE);
		dg[i] ^= 0x04;
	}
	assert_int_equal(rv_ckpt_heartbeat_decode(dg, len - 1, &out),
	    RV_CKPT_ERR_INCOMPLETE);
}

static void
fragment_checks(void **state)
{
	struct rv_ckpt_header h;
	struct rv_ckpt_frag f;
	uint8_t dg[RV_CKPT_DATAGRAM_MAX + 1];
	size_t len, dlen;
	uint8_t *msg = build(5, K.host_seed, CONTENT_LEN, &len);

	make_header(&h, 5, 0, 0);
	assert_int_equal(rv_ckpt_frag_encode(&h.conn, 5, msg, len, 1, dg,
	    sizeof(dg), &dlen), 0);
	assert_int_equal(rv_ckpt_frag_decode(dg, dlen, &f), 0);
	assert_int_equal(f.index, 1);
	assert_int_equal(f.count, 3);
	assert_int_equal(f.data_len, RV_CKPT_FRAG_DATA_MAX);
	assert_int_equal(rv_ckpt_frag_decode(dg, dlen - 1, &f),
	    RV_CKPT_ERR_INCOMPLETE);
	assert_int_equal(rv_ckpt_frag_decode(dg, 20, &f),
	    RV_CKPT_ERR_INCOMPLETE);
	dg[dlen] = 0;
	assert_int_equal(rv_ckpt_frag_decode(dg, dlen + 1, &f),
	    RV_CKPT_ERR_TRAILING);
	dg[0] = 'X';
	assert_int_equal(rv_ckpt_frag_decode(dg, dlen, &f), RV_CKPT_ERR_MAGIC);
	dg[0] = 'R';
	dg[4] = 2;
	assert_int_equal(rv_ckpt_frag_decode(dg, dlen, &f),
	    RV_CKPT_ERR_VERSION);
	dg[4] = 1;
	dg[RV_CKPT_COMMON_LEN + 12 + 3] = 4;	/* count 3 -> 4 */
	assert_int_equal(rv_ckpt_frag_decode(dg, dlen, &f),
	    RV_CKPT_ERR_MALFORMED);
	free(msg);
}

static void
store_files_in_any_order(void **state)
{
	static const int reversed[] = { 2, 1, 0 };
	static const int duplicated[] = { 0, 0, 1, 2 };
	struct rv_ckpt_store st;
	struct rv_ckpt_list list = { 0 };
	struct rv_ckpt *c;
	size_t len;
	uint8_t *m1 = build(1, K.host_seed, CONTENT_LEN, &len);
	uint8_t *m2 = build(2, K.host_seed, CONTENT_LEN, &len);

	store_setup(&st, 8u << 20);
	assert_int_equal(feed(&st, 0, m1, len, 1, reversed, 3, 10 * MS, &c),
	    RV_CKPT_IN_CHECKPOINT);
	assert_int_equal(c->number, 1);
	assert_int_equal(c->c2s_offset, 100);
	assert_int_equal(c->s2c_offset, 200);
	assert_int_equal(c->len, len);
	assert_int_equal(rv_ckpt_store_file(&st, &list, 0, c), 0);

	assert_int_equal(feed(&st, 0, m2, len, 2, duplicated, 2, 10 * MS, &c),
	    -RV_CKPT_REJ_DUPLICATE_FRAGMENT);
	assert_int_equal(st.counters.rejected[RV_CKPT_REJ_DUPLICATE_FRAGMENT],
	    1);
	assert_int_equal(feed(&st, 0, m2, len, 2, duplicated + 2, 2, 10 * MS,
	    &c), RV_CKPT_IN_CHECKPOINT);
	assert_int_equal(rv_ckpt_store_file(&st, &list, 0, c), 0);
	assert_int_equal(list.count, 2);
	assert_int_equal(rv_ckpt_list_newest(&list)->number, 2);
	assert_int_equal(st.counters.filed, 2);
	assert_int_equal(st.servers[0].filed, 2);

	rv_ckpt_list_release(&list);
	assert_int_equal(st.pool.used_bytes, 0);
	rv_ckpt_store_fini(&st);
	free(m1);
	free(m2);
}

static void
store_rejects_replay_and_older(void **state)
{
	struct rv_ckpt_store st;
	struct rv_ckpt_list list = { 0 };
	struct rv_ckpt *c;
	size_t len;
	uint8_t *m1 = build(1, K.host_seed, CONTENT_LEN, &len);
	uint8_t *m2 = build(2, K.host_seed, CONTENT_LEN, &len);

	store_setup(&st, 8u << 20);
	assert_int_equal(feed(&st, 0, m2, len, 2, in_order, 3, 0, &c),
	    RV_CKPT_IN_CHECKPOINT);
	assert_int_equal(rv_ckpt_store_file(&st, &list, 0, c), 0);
	/* The same message again, then an older one. */
	assert_int_equal(feed(&st, 0, m2, len, 2, in_order, 3, 0, &c),
	    RV_CKPT_IN_CHECKPOINT);
	assert_int_equal(rv_ckpt_store_file(&st, &list, 0, c),
	    -RV_CKPT_REJ_REPLAYED);
	assert_int_equal(feed(&st, 0, m1, len, 1, in_order, 3, 0, &c),
	    RV_CKPT_IN_CHECKPOINT);
	assert_int_equal(rv_ckpt_store_file(&st, &list, 0, c),
	    -RV_CKPT_REJ_REPLAYED);
	assert_int_equal(st.counters.rejected[RV_CKPT_REJ_REPLAYED], 2);
	assert_int_equal(list.count, 1);
	/* Filed for a connection of another server. */
	assert_int_equal(feed(&st, 0, m1, len, 1, in_order, 3, 0, &c),
	    RV_CKPT_IN_CHECKPOINT);
	assert_int_equal(rv_ckpt_store_file(&st, &list, 1, c),
	    -RV_CKPT_REJ_CONNECTION_MISMATCH);
	rv_ckpt_list_release(&list);
	assert_int_equal(st.pool.used_bytes, 0);
	rv_ckpt_store_fini(&st);
	free(m1);
	free(m2);
}

static void
store_rejects_wrong_signer(void **state)
{
	struct rv_ckpt_store st;
	struct rv_ckpt *c;
	size_t len;
	uint8_t *m = build(1, K.other_seed, CONTENT_LEN, &len);

	store_setup(&st, 8u << 20);
	assert_int_equal(feed(&st, 0, m, len, 1, in_order, 3, 0, &c),
	    -RV_CKPT_REJ_BAD_SIGNATURE);
	assert_null(c);
	/* A server without a key and an unknown source keep nothing. */
	assert_int_equal(feed(&st, 1, m, len, 1, in_order, 1, 0, &c),
	    -RV_CKPT_REJ_NO_HOST_KEY);
	assert_int_equal(feed(&st, -1, m, len, 1, in_order, 1, 0, &c),
	    -RV_CKPT_REJ_UNKNOWN_SERVER);
	assert_int_equal(st.counters.rejected[RV_CKPT_REJ_BAD_SIGNATURE], 1);
	assert_int_equal(st.pool.used_bytes, 0);
	rv_ckpt_store_fini(&st);
	free(m);
}

static void
store_rejects_mismatched_fragments(void **state)
{
	struct rv_ckpt_store st;
	struct rv_ckpt_header h;
	struct rv_ckpt *c;
	uint8_t dg[RV_CKPT_DATAGRAM_MAX];
	size_t len, dlen;
	uint8_t *m = build(1, K.host_seed, CONTENT_LEN, &len);

	store_setup(&st, 8u << 20);
	assert_int_equal(feed(&st, 0, m, len, 1, in_order, 1, 0, &c),
	    RV_CKPT_IN_PENDING);
	/* Same key, another total length. */
	make_header(&h, 1, 0, 0);
	assert_int_equal(rv_ckpt_frag_encode(&h.conn, 1, m, len - 1200, 1,
	    dg, sizeof(dg), &dlen), 0);
	assert_int_equal(rv_ckpt_store_input(&st, 0, dg, dlen, 0, &c),
	    -RV_CKPT_REJ_FRAGMENT_MISMATCH);
	/* The header inside names message 1; fragments claiming id 9 carry
	 * it, so the check after reassembly catches the disagreement. */
	assert_int_equal(feed(&st, 0, m, len, 9, in_order, 3, 0, &c),
	    -RV_CKPT_REJ_CONNECTION_MISMATCH);
	assert_int_equal(rv_ckpt_store_input(&st, 0, dg, 7, 0, &c),
	    -RV_CKPT_REJ_TRUNCATED);
	rv_ckpt_store_fini(&st);
	assert_int_equal(st.pool.used_bytes, 0);
	free(m);
}

static void
reassembly_times_out(void **state)
{
	struct rv_ckpt_store st;
	struct rv_ckpt *c;
	size_t len;
	uint8_t *m = build(1, K.host_seed, CONTENT_LEN, &len);

	store_setup(&st, 8u << 20);
	assert_int_equal(feed(&st, 0, m, len, 1, in_order, 2, 0, &c),
	    RV_CKPT_IN_PENDING);
	rv_ckpt_store_expire(&st, 1999 * MS);
	assert_int_equal(st.counters.reassembly_timeouts, 0);
	rv_ckpt_store_expire(&st, 2000 * MS);
	assert_int_equal(st.counters.reassembly_timeouts, 1);
	assert_int_equal(st.pool.used_bytes, 0);
	/* The late last fragment starts over and stays incomplete. */
	assert_int_equal(feed(&st, 0, m, len, 1, in_order + 2, 1, 2001 * MS,
	    &c), RV_CKPT_IN_PENDING);
	rv_ckpt_store_fini(&st);
	free(m);
}

static void
memory_cap_rejects(void **state)
{
	struct rv_ckpt_store st;
	struct rv_ckpt_list list = { 0 };
	struct rv_ckpt *c;
	size_t len;
	uint8_t *m1 = build(1, K.host_seed, CONTENT_LEN, &len);
	uint8_t *m2 = build(2, K.host_seed, CONTENT_LEN, &len);

	/* Room for one message with its bookkeeping, not two. */
	store_setup(&st, len + sizeof(struct rv_ckpt) + 100);
	assert_int_equal(feed(&st, 0, m1, len, 1, in_order, 3, 0, &c),
	    RV_CKPT_IN_CHECKPOINT);
	assert_int_equal(rv_ckpt_store_file(&st, &list, 0, c), 0);
	assert_int_equal(feed(&st, 0, m2, len, 2, in_order, 1, 0, &c),
	    -RV_CKPT_REJ_MEMORY_CAP);
	assert_int_equal(st.pool.cap_hits, 1);
	rv_ckpt_list_release(&list);
	assert_int_equal(feed(&st, 0, m2, len, 2, in_order, 3, 0, &c),
	    RV_CKPT_IN_CHECKPOINT);
	rv_ckpt_store_reject(&st, c, RV_CKPT_REJ_UNKNOWN_CONNECTION);
	assert_int_equal(st.pool.used_bytes, 0);
	rv_ckpt_store_fini(&st);
	free(m1);
	free(m2);
}

static void
reassembly_slots_capped(void **state)
{
	struct rv_ckpt_store st;
	struct rv_ckpt *c;
	size_t len, i;
	uint8_t *m = build(1, K.host_seed, CONTENT_LEN, &len);

	store_setup(&st, 64u << 20);
	for (i = 0; i < RV_CKPT_REASM_SLOTS; i++)
		assert_int_equal(feed(&st, 0, m, len, i + 1, in_order, 1, 0,
		    &c), RV_CKPT_IN_PENDING);
	assert_int_equal(feed(&st, 0, m, len, 1000, in_order, 1, 0, &c),
	    -RV_CKPT_REJ_REASSEMBLY_FULL);
	rv_ckpt_store_fini(&st);
	free(m);
}

static void
list_drops_oldest_when_full(void **state)
{
	struct rv_ckpt_store st;
	struct rv_ckpt_list list = { 0 };
	struct rv_ckpt *c;
	size_t len, i;
	uint8_t *m;

	store_setup(&st, 64u << 20);
	for (i = 1; i <= RV_CKPT_PER_FLOW_MAX + 1; i++) {
		m = build(i, K.host_seed, 10, &len);
		assert_int_equal(feed(&st, 0, m, len, i, in_order, 1, 0, &c),
		    RV_CKPT_IN_CHECKPOINT);
		assert_int_equal(rv_ckpt_store_file(&st, &list, 0, c), 0);
		free(m);
	}
	assert_int_equal(list.count, RV_CKPT_PER_FLOW_MAX);
	assert_int_equal(list.items[0]->number, 2);
	assert_int_equal(st.counters.evicted, 1);
	rv_ckpt_list_release(&list);
	rv_ckpt_store_fini(&st);
}

static int
send_heartbeat(struct rv_ckpt_store *st, const uint8_t *seed, uint64_t boot,
    uint64_t seq, uint64_t now_ns)
{
	struct rv_ckpt_heartbeat hb;
	struct rv_ckpt *c;
	uint8_t dg[RV_CKPT_HB_LEN];
	size_t len;

	memset(&hb, 0, sizeof(hb));
	hb.family = 4;
	hb.server_port = 22;
	hb.boot_id = boot;
	hb.sequence = seq;
	hb.connections = (uint32_t)seq;
	assert_int_equal(rv_ckpt_heartbeat_build(&hb, rv_ckpt_ed25519_sign,
	    (void *)seed, dg, sizeof(dg), &len), 0);
	return rv_ckpt_store_input(st, 0, dg, len, now_ns, &c);
}

static void
heartbeat_state_and_replays(void **state)
{
	struct rv_ckpt_store st;

	store_setup(&st, 1u << 20);
	assert_int_equal(send_heartbeat(&st, K.host_seed, 1, 1, 5 * MS),
	    RV_CKPT_IN_HEARTBEAT);
	assert_int_equal(send_heartbeat(&st, K.host_seed, 1, 2, 6 * MS),
	    RV_CKPT_IN_HEARTBEAT);
	assert_true(st.servers[0].hb_seen);
	assert_int_equal(st.servers[0].sequence, 2);
	assert_int_equal(st.servers[0].connections, 2);
	assert_int_equal(st.servers[0].hb_last_ns, 6 * MS);
	assert_int_equal(send_heartbeat(&st, K.host_seed, 1, 2, 7 * MS),
	    -RV_CKPT_REJ_REPLAYED);
	assert_int_equal(send_heartbeat(&st, K.other_seed, 1, 3, 7 * MS),
	    -RV_CKPT_REJ_BAD_SIGNATURE);
	/* sshd restarted: a new boot starts over at 1, and the old boot's
	 * heartbeats are replays from then on. */
	assert_int_equal(send_heartbeat(&st, K.host_seed, 2, 1, 8 * MS),
	    RV_CKPT_IN_HEARTBEAT);
	assert_int_equal(send_heartbeat(&st, K.host_seed, 1, 50, 9 * MS),
	    -RV_CKPT_REJ_REPLAYED);
	assert_int_equal(st.servers[0].boot_id, 2);
	assert_int_equal(st.servers[0].hb_last_ns, 8 * MS);
	assert_int_equal(st.counters.heartbeats, 3);
	rv_ckpt_store_fini(&st);
}

static void
parse_openssh_public_key(void **state)
{
	/* The line ssh-keygen would write for the test host key. */
	char line[256];
	uint8_t blob[51], pk[32];
	unsigned char b64[80];

	memcpy(blob, "\0\0\0\x0bssh-ed25519\0\0\0\x20", 19);
	memcpy(blob + 19, K.host_pk, 32);
	EVP_EncodeBlock(b64, blob, sizeof(blob));
	snprintf(line, sizeof(line), "ssh-ed25519 %s root@primary", b64);
	assert_int_equal(rv_ckpt_parse_ssh_ed25519(line, strlen(line), pk),
	    0);
	assert_memory_equal(pk, K.host_pk, 32);
	snprintf(line, sizeof(line), "ssh-ed25519 %s", b64);
	assert_int_equal(rv_ckpt_parse_ssh_ed25519(line, strlen(line), pk),
	    0);
	line[20] = '!';
	assert_int_equal(rv_ckpt_parse_ssh_ed25519(line, strlen(line), pk),
	    RV_CKPT_ERR_KEY_FORMAT);
	snprintf(line, sizeof(line), "ssh-rsa %s", b64);
	assert_int_equal(rv_ckpt_parse_ssh_ed25519(line, strlen(line), pk),
	    RV_CKPT_ERR_KEY_FORMAT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(message_round_trip),
		cmocka_unit_test(message_trailing_and_short),
		cmocka_unit_test(header_byte_flips_rejected),
		cmocka_unit_test(ciphertext_flips_rejected),
		cmocka_unit_test(aead_bound_to_header),
		cmocka_unit_test(open_without_recipient),
		cmocka_unit_test(keypair_signature_matches_seed),
		cmocka_unit_test(messages_use_fresh_encapsulation),
		cmocka_unit_test(heartbeat_round_trip),
		cmocka_unit_test(fragment_checks),
		cmocka_unit_test(store_files_in_any_order),
		cmocka_unit_test(store_rejects_replay_and_older),
		cmocka_unit_test(store_rejects_wrong_signer),
		cmocka_unit_test(store_rejects_mismatched_fragments),
		cmocka_unit_test(reassembly_times_out),
		cmocka_unit_test(memory_cap_rejects),
		cmocka_unit_test(reassembly_slots_capped),
		cmocka_unit_test(list_drops_oldest_when_full),
		cmocka_unit_test(heartbeat_state_and_replays),
		cmocka_unit_test(parse_openssh_public_key),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
