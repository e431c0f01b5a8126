/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the handoff wire format (app/lib/handoff.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "handoff.h"

static const uint8_t challenge_a[RV_HANDOFF_CHALLENGE_LEN] = { 1, 2, 3 };
static const uint8_t challenge_b[RV_HANDOFF_CHALLENGE_LEN] = { 9, 9, 9 };
static const uint8_t unacked[] = "tick 41\ntick 42\n";
static const uint8_t queued[] = "line 7\n";
static const uint8_t c2s_log[] = "line 1\nline 2\n";
static const uint8_t s2c_log[] = "echo 1: line 1\ntick 1\n";
static const uint8_t material[] = { 0xde, 0xad };

static const struct rv_handoff_limits limits = {
	.max_message = RV_HANDOFF_MAX_MESSAGE,
	.max_connections = 16,
};

struct fixture {
	EVP_PKEY *key;		/* the appliance's private key */
	EVP_PKEY *other;	/* another appliance's */
	EVP_PKEY *pub;		/* the public half of key */
	struct rv_handoff_conn conns[2];
	struct rv_handoff h;
	uint8_t *msg;
	size_t len;
};

static EVP_PKEY *
new_key(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
}

static void
fill_conn(struct rv_handoff_conn *c, uint8_t family, uint16_t client_port)
{
	memset(c, 0, sizeof(*c));
	c->server.addr.family = family;
	c->client.addr.family = family;
	if (family == 4) {
		memcpy(c->server.addr.bytes, "\xc6\x33\x64\x02", 4);
		memcpy(c->client.addr.bytes, "\xc6\x33\x64\x0a", 4);
	} else {
		memcpy(c->server.addr.bytes, "\x20\x01\x0d\xb8", 4);
		c->server.addr.bytes[15] = 2;
		memcpy(c->client.addr.bytes, "\x20\x01\x0d\xb8", 4);
		c->client.addr.bytes[15] = 10;
	}
	c->server.port = 5000;
	c->client.port = client_port;
	c->mss = 1460;
	c->client_wscale = 7;
	c->server_wscale = 9;
	c->wscale_ok = c->sack_ok = c->ts_ok = true;
	c->snd_una = 0xfffffff8;	/* wraps: snd_nxt is below snd_una */
	c->snd_nxt = c->snd_una + (uint32_t)(sizeof(unacked) - 1);
	c->rcv_nxt = 12345;
	c->snd_wnd = 64240;
	c->rcv_wnd = 65160;
	c->client_ts_val = 111;
	c->server_ts_val = 222;
	c->server_ts_age_ms = 333;
	c->c2s = (struct rv_handoff_log){ 10, c2s_log, sizeof(c2s_log) - 1 };
	c->s2c = (struct rv_handoff_log){ 1ull << 40, s2c_log,
	    sizeof(s2c_log) - 1 };
	c->recv_queue = queued;
	c->recv_queue_len = sizeof(queued) - 1;
	c->unacked = unacked;
	c->unacked_len = sizeof(unacked) - 1;
	c->material = material;
	c->material_len = sizeof(material);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	uint8_t raw[32];
	size_t raw_len = sizeof(raw);

	assert_non_null(f);
	f->key = new_key();
	f->other = new_key();
	assert_non_null(f->key);
	assert_non_null(f->other);
	assert_int_equal(EVP_PKEY_get_raw_public_key(f->key, raw, &raw_len), 1);
	f->pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw,
	    raw_len);
	assert_non_null(f->pub);
	fill_conn(&f->conns[0], 4, 40000);
	fill_conn(&f->conns[1], 4, 40001);
	f->conns[1].material_len = 0;
	f->conns[1].ts_ok = false;
	strcpy(f->h.appliance, "lab-appliance");
	f->h.id = 77;
	f->h.server = f->conns[0].server.addr;
	f->h.conns = f->conns;
	f->h.conn_count = 2;
	assert_int_equal(rv_handoff_encode(&f->h, challenge_a, f->key, &f->msg,
	    &f->len), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	EVP_PKEY_free(f->key);
	EVP_PKEY_free(f->other);
	EVP_PKEY_free(f->pub);
	free(f->msg);
	free(f);
	return 0;
}

static int
accept_msg(const struct fixture *f, const uint8_t *msg, size_t len,
    const uint8_t *challenge, struct rv_handoff *out)
{
	const struct rv_handoff_key keys[] = {
		{ "other", f->other },
		{ "lab-appliance", f->pub },
	};

	return rv_handoff_accept(msg, len, challenge, keys, 2, &limits, out);
}

static void
assert_conn_equal(const struct rv_handoff_conn *a,
    const struct rv_handoff_conn *b)
{
	assert_true(rv_addr_equal(&a->server.addr, &b->server.addr));
	assert_true(rv_addr_equal(&a->client.addr, &b->client.addr));
	assert_int_equal(a->server.port, b->server.port);
	assert_int_equal(a->client.port, b->client.port);
	assert_int_equal(a->mss, b->mss);
	assert_int_equal(a->client_wscale, b->client_wscale);
	assert_int_equal(a->server_wscale, b->server_wscale);
	assert_int_equal(a->wscale_ok, b->wscale_ok);
	assert_int_equal(a->sack_ok, b->sack_ok);
	assert_int_equal(a->ts_ok, b->ts_ok);
	assert_int_equal(a->snd_una, b->snd_una);
	assert_int_equal(a->snd_nxt, b->snd_nxt);
	assert_int_equal(a->rcv_nxt, b->rcv_nxt);
	assert_int_equal(a->snd_wnd, b->snd_wnd);
	assert_int_equal(a->rcv_wnd, b->rcv_wnd);
	assert_int_equal(a->client_ts_val, b->client_ts_val);
	assert_int_equal(a->server_ts_val, b->server_ts_val);
	assert_int_equal(a->server_ts_age_ms, b->server_ts_age_ms);
	assert_int_equal(a->c2s.offset, b->c2s.offset);
	assert_int_equal(a->s2c.offset, b->s2c.offset);
	assert_int_equal(a->c2s.len, b->c2s.len);
	assert_memory_equal(a->c2s.data, b->c2s.data, a->c2s.len);
	assert_int_equal(a->s2c.len, b->s2c.len);
	assert_memory_equal(a->s2c.data, b->s2c.data, a->s2c.len);
	assert_int_equal(a->recv_queue_len, b->recv_queue_len);
	assert_memory_equal(a->recv_queue, b->recv_queue, a->recv_queue_len);
	assert_int_equal(a->unacked_len, b->unacked_len);
	assert_memory_equal(a->unacked, b->unacked, a->unacked_len);
	assert_int_equal(a->material_len, b->material_len);
	if (a->material_len > 0)
		assert_memory_equal(a->material, b->material, a->material_len);
}

static void
test_round_trip(void **state)
{
	struct fixture *f = *state;
	struct rv_handoff out;

	assert_int_equal(accept_msg(f, f->msg, f->len, challenge_a, &out), 0);
	assert_string_equal(out.appliance, "lab-appliance");
	assert_int_equal(out.id, 77);
	assert_true(rv_addr_equal(&out.server, &f->h.server));
	assert_int_equal(out.conn_count, 2);
	assert_conn_equal(&out.conns[0], &f->conns[0]);
	assert_conn_equal(&out.conns[1], &f->conns[1]);
	rv_handoff_clear(&out);
}

static void
test_round_trip_ipv6(void **state)
{
	struct fixture *f = *state;
	struct rv_handoff h = f->h, out;
	struct rv_handoff_conn c;
	uint8_t *msg;
	size_t len;

	fill_conn(&c, 6, 50000);
	h.server = c.server.addr;
	h.conns = &c;
	h.conn_count = 1;
	assert_int_equal(rv_handoff_encode(&h, challenge_a, f->key, &msg, &len),
	    0);
	assert_int_equal(accept_msg(f, msg, len, challenge_a, &out), 0);
	assert_int_equal(out.conn_count, 1);
	assert_conn_equal(&out.conns[0], &c);
	rv_handoff_clear(&out);
	free(msg);
}

static void
test_bad_signature(void **state)
{
	struct fixture *f = *state;
	struct rv_handoff out;
	size_t i;

	/* One flipped bit anywhere (name excepted) breaks the signature. */
	for (i = 2 + 1 + strlen("lab-appliance"); i < f->len; i += 7) {
		f->msg[i] ^= 0x10;
		assert_int_equal(accept_msg(f, f->msg, f->len, challenge_a,
		    &out), -EKEYREJECTED);
		f->msg[i] ^= 0x10;
	}
}

static void
test_wrong_key(void **state)
{
	struct fixture *f = *state;
	struct rv_handoff out;
	uint8_t *msg;
	size_t len;

	/* Signed by another appliance under this one's name. */
	assert_int_equal(rv_handoff_encode(&f->h, challenge_a, f->other, &msg,
	    &len), 0);
	assert_int_equal(accept_msg(f, msg, len, challenge_a, &out),
	    -EKEYREJECTED);
	free(msg);
}

static void
test_unknown_appliance(void **state)
{
	struct fixture *f = *state;
	struct rv_handoff h = f->h, out;
	uint8_t *msg;
	size_t len;

	strcpy(h.appliance, "stranger");
	assert_int_equal(rv_handoff_encode(&h, challenge_a, f->key, &msg, &len),
	    0);
	assert_int_equal(accept_msg(f, msg, len, challenge_a, &out), -ENOKEY);
	assert_string_equal(out.appliance, "stranger");
	free(msg);
}

static void
test_replayed_challenge(void **state)
{
	struct fixture *f = *state;
	struct rv_handoff out;

	assert_int_equal(accept_msg(f, f->msg, f->len, challenge_b, &out),
	    -ESTALE);
}

static void
test_every_truncation(void **state)
{
	struct fixture *f = *state;
	struct rv_handoff out;
	size_t n;
	int rc;

	for (n = 0; n < f->len; n++) {
		rc = accept_msg(f, f->msg, n, challenge_a, &out);
		assert_true(rc == -EBADMSG || rc == -EKEYREJECTED ||
		    rc == -EPROTONOSUPPORT);
		assert_null(out.conns);
	}
}

static void
test_trailing_bytes(void **state)
{
	struct fixture *f = *state;
	struct rv_handoff out;
	uint8_t *longer = malloc(f->len + 1);

	assert_non_null(longer);
	memcpy(longer, f->msg, f->len);
	longer[f->len] = 0;
	assert_int_not_equal(accept_msg(f, longer, f->len + 1, challenge_a,
	    &out), 0);
	free(longer);
}

/* Re-signs msg after a change so that the decoder, not the signature
 * check, has to catch it. */
static void
resign(const struct fixture *f, uint8_t *msg, size_t len)
{
	size_t sig_len = RV_HANDOFF_SIGNATURE_LEN;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	assert_int_equal(EVP_DigestSignInit(ctx, NULL, NULL, NULL, f->key), 1);
	assert_int_equal(EVP_DigestSign(ctx, msg + len - sig_len, &sig_len, msg,
	    len - sig_len), 1);
	EVP_MD_CTX_free(ctx);
}

static size_t
conns_offset(const struct fixture *f)
{
	/* version, type, name, challenge, id, server, count */
	return 2 + 1 + strlen(f->h.appliance) + 32 + 8 + 17 + 4;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void
test_absurd_lengths(void **state)
{
	struct fixture *f = *state;
	struct rv_handoff out;
	uint8_t *m = malloc(f->len);
	/* c2s log length: after 2 * 19 address bytes, flags, mss, shifts,
	 * 8 u32 and the u64 offset. */
	size_t c2s_len_at = conns_offset(f) + 1 + 16 + 2 + 16 + 2 + 1 + 2 +
	    2 + 8 * 4 + 8;
	uint32_t bad[] = { 0xffffffffu, 0x7fffffffu, (uint32_t)f->len };
	size_t i;

	assert_non_null(m);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(m, f->msg, f->len);
		put32(m + c2s_len_at, bad[i]);
		resign(f, m, f->len);
		assert_int_equal(accept_msg(f, m, f->len, challenge_a, &out),
		    -EBADMSG);
	}
	/* A connection count that the message cannot hold. */
	memcpy(m, f->msg, f->len);
	put32(m + conns_offset(f) - 4, 15);
	resign(f, m, f->len);
	assert_int_equal(accept_msg(f, m, f->len, challenge_a, &out), -EBADMSG);
	/* One over the agent's cap. */
	put32(m + conns_offset(f) - 4, 17);
	resign(f, m, f->len);
	assert_int_equal(accept_msg(f, m, f->len, challenge_a, &out), -E2BIG);
	free(m);
}

static void
test_frame_length(void **state)
{
	uint8_t hdr[4] = { 0, 0, 1, 0 };
	size_t n;

	(void)state;
	assert_int_equal(rv_handoff_frame_length(hdr, 3, 1024, &n), -EAGAIN);
	assert_int_equal(rv_handoff_frame_length(hdr, 4, 1024, &n), 0);
	assert_int_equal(n, 256);
	assert_int_equal(rv_handoff_frame_length(hdr, 4, 255, &n), -E2BIG);
	memset(hdr, 0xff, 4);
	assert_int_equal(rv_handoff_frame_length(hdr, 4, RV_HANDOFF_MAX_MESSAGE,
	    &n), -E2BIG);
	memset(hdr, 0, 4);
	assert_int_equal(rv_handoff_frame_length(hdr, 4, 1024, &n), -EBADMSG);
}

static void
test_encode_checks(void **state)
{
	struct fixture *f = *state;
	struct rv_handoff h = f->h;
	struct rv_handoff_conn c = f->conns[0];
	uint8_t *msg;
	size_t len;

	h.conns = &c;
	h.conn_count = 1;
	c.unacked_len--;
	assert_int_equal(rv_handoff_encode(&h, challenge_a, f->key, &msg,
	    &len), -EINVAL);
	c = f->conns[0];
	c.client_wscale = 15;
	assert_int_equal(rv_handoff_encode(&h, challenge_a, f->key, &msg,
	    &len), -EINVAL);
	c = f->conns[0];
	c.server.addr.bytes[3] = 99;	/* another identity */
	assert_int_equal(rv_handoff_encode(&h, challenge_a, f->key, &msg,
	    &len), -EINVAL);
	c = f->conns[0];
	strcpy(h.appliance, "bad name");
	assert_int_equal(rv_handoff_encode(&h, challenge_a, f->key, &msg,
	    &len), -EINVAL);
}

static void
test_challenge(void **state)
{
	uint8_t msg[RV_HANDOFF_CHALLENGE_MSG_LEN], out[32];

	(void)state;
	rv_handoff_challenge_encode(challenge_b, msg);
	assert_int_equal(rv_handoff_challenge_decode(msg, sizeof(msg), out), 0);
	assert_memory_equal(out, challenge_b, 32);
	assert_int_equal(rv_handoff_challenge_decode(msg, sizeof(msg) - 1,
	    out), -EBADMSG);
	msg[0] = 2;
	assert_int_equal(rv_handoff_challenge_decode(msg, sizeof(msg), out),
	    -EPROTONOSUPPORT);
}

static void
test_result_round_trip(void **state)
{
	struct rv_handoff_result res[2] = {
		{ RV_HANDOFF_RESTORED, "" },
		{ RV_HANDOFF_FAILED, "restore failed: bind: \x01" },
	};
	struct rv_handoff_reply reply;
	uint8_t *msg;
	size_t len, n;

	(void)state;
	assert_int_equal(rv_handoff_result_encode(5, res, 2, &msg, &len), 0);
	assert_int_equal(rv_handoff_reply_decode(msg, len, 2, &reply), 0);
	assert_false(reply.rejected);
	assert_int_equal(reply.id, 5);
	assert_int_equal(reply.result_count, 2);
	assert_int_equal(reply.results[0].status, RV_HANDOFF_RESTORED);
	assert_int_equal(reply.results[1].status, RV_HANDOFF_FAILED);
	assert_string_equal(reply.results[1].reason, "restore failed: bind: ?");
	rv_handoff_reply_clear(&reply);
	assert_int_equal(rv_handoff_reply_decode(msg, len, 1, &reply), -E2BIG);
	for (n = 0; n < len; n++)
		assert_int_not_equal(rv_handoff_reply_decode(msg, n, 2, &reply),
		    0);
	free(msg);

	assert_int_equal(rv_handoff_reject_encode("invalid signature", &msg,
	    &len), 0);
	assert_int_equal(rv_handoff_reply_decode(msg, len, 2, &reply), 0);
	assert_true(reply.rejected);
	assert_string_equal(reply.reason, "invalid signature");
	rv_handoff_reply_clear(&reply);
	free(msg);
}

static void
test_public_key_line(void **state)
{
	struct fixture *f = *state;
	char line[256], why[128];
	EVP_PKEY *parsed;

	assert_int_equal(rv_handoff_format_public_key(f->key, "lab", line,
	    sizeof(line)), 0);
	assert_int_equal(strncmp(line, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", 32),
	    0);
	assert_int_equal(rv_handoff_parse_public_key(line, &parsed, why,
	    sizeof(why)), 0);
	assert_int_equal(EVP_PKEY_eq(parsed, f->pub), 1);
	EVP_PKEY_free(parsed);
	assert_int_equal(rv_handoff_parse_public_key("ssh-rsa AAAA", &parsed,
	    why, sizeof(why)), -EINVAL);
	line[20] = line[20] == 'A' ? 'B' : 'A';
	assert_int_equal(rv_handoff_parse_public_key(line, &parsed, why,
	    sizeof(why)), -EINVAL);
	assert_int_equal(rv_handoff_parse_public_key("ssh-ed25519 AAAA=",
	    &parsed, why, sizeof(why)), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_round_trip_ipv6, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_signature, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_wrong_key, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unknown_appliance, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_replayed_challenge, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_every_truncation, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_trailing_bytes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_absurd_lengths, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_encode_checks, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_public_key_line, setup,
		    teardown),
		cmocka_unit_test(test_frame_length),
		cmocka_unit_test(test_challenge),
		cmocka_unit_test(test_result_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
