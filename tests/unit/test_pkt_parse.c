/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the packet header parser and the sequence number helpers.
 * Frames are built byte by byte with the small writer below, so each test
 * shows the exact field it breaks.
 */

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pkt_parse.h"
#include "seq.h"

#define FRAME_MAX	4096

/* A frame under construction, with the offsets that finish() patches. */
struct frame {
	uint8_t b[FRAME_MAX];
	uint32_t len;
	uint32_t l3;		/* IP header offset */
	uint32_t l4;		/* TCP or UDP header offset */
	int ip_version;
	int is_udp;
};

static void
put8(struct frame *f, uint8_t v)
{
	assert_true(f->len < FRAME_MAX);
	f->b[f->len++] = v;
}

static void
put16(struct frame *f, uint16_t v)
{
	put8(f, (uint8_t)(v >> 8));
	put8(f, (uint8_t)v);
}

static void
put32(struct frame *f, uint32_t v)
{
	put16(f, (uint16_t)(v >> 16));
	put16(f, (uint16_t)v);
}

static void
put_bytes(struct frame *f, const uint8_t *p, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		put8(f, p[i]);
}

static void
put_fill(struct frame *f, uint8_t v, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		put8(f, v);
}

static void
set16(struct frame *f, uint32_t off, uint16_t v)
{
	f->b[off] = (uint8_t)(v >> 8);
	f->b[off + 1] = (uint8_t)v;
}

static const uint8_t mac_a[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static const uint8_t mac_b[6] = { 0x02, 0, 0, 0, 0, 0x02 };
static const uint8_t ip4_client[4] = { 198, 51, 100, 1 };
static const uint8_t ip4_server[4] = { 198, 51, 100, 2 };
static const uint8_t ip6_client[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
static const uint8_t ip6_server[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };

/* Ethernet header; each entry of tags[] is a TPID and TCI pair. */
static void
eth_tagged(struct frame *f, const uint16_t (*tags)[2], int n_tags,
    uint16_t type)
{
	int i;

	memset(f, 0, sizeof(*f));
	put_bytes(f, mac_b, 6);
	put_bytes(f, mac_a, 6);
	for (i = 0; i < n_tags; i++) {
		put16(f, tags[i][0]);
		put16(f, tags[i][1]);
	}
	put16(f, type);
}

static void
eth(struct frame *f, uint16_t type)
{
	eth_tagged(f, NULL, 0, type);
}

/* IPv4 header with opt_len option bytes; lengths are set by finish(). */
static void
ipv4(struct frame *f, uint8_t proto, uint32_t opt_len)
{
	f->l3 = f->len;
	f->ip_version = 4;
	put8(f, (uint8_t)(0x40 | (5 + opt_len / 4)));
	put8(f, 0);
	put16(f, 0);		/* total length */
	put16(f, 0x1234);	/* identification */
	put16(f, 0x4000);	/* DF */
	put8(f, 64);
	put8(f, proto);
	put16(f, 0);		/* checksum */
	put_bytes(f, ip4_client, 4);
	put_bytes(f, ip4_server, 4);
	put_fill(f, 1, opt_len);	/* NOP options */
}

static void
ipv6(struct frame *f, uint8_t next)
{
	f->l3 = f->len;
	f->ip_version = 6;
	put32(f, 0x60000000);
	put16(f, 0);		/* payload length */
	put8(f, next);
	put8(f, 64);
	put_bytes(f, ip6_client, 16);
	put_bytes(f, ip6_server, 16);
}

/* Generic extension header of len bytes (a multiple of 8). */
static void
ipv6_ext(struct frame *f, uint8_t next, uint32_t len)
{
	put8(f, next);
	put8(f, (uint8_t)(len / 8 - 1));
	put_fill(f, 0, len - 2);
}

/* TCP header with the given option bytes, padded with EOL to 4 bytes. */
static void
tcp(struct frame *f, uint8_t flags, const uint8_t *opts, uint32_t opt_len)
{
	uint32_t padded = (opt_len + 3) / 4 * 4;

	f->l4 = f->len;
	put16(f, 40000);
	put16(f, 22);
	put32(f, 0xfffffff0);
	put32(f, 0x01020304);
	put8(f, (uint8_t)((5 + padded / 4) << 4));
	put8(f, flags);
	put16(f, 65535);
	put16(f, 0);		/* checksum */
	put16(f, 7);		/* urgent pointer */
	put_bytes(f, opts, opt_len);
	put_fill(f, 0, padded - opt_len);
}

static void
udp(struct frame *f)
{
	f->l4 = f->len;
	f->is_udp = 1;
	put16(f, 40001);
	put16(f, 7999);
	put16(f, 0);		/* length */
	put16(f, 0);
}

static uint16_t
ipv4_csum(const uint8_t *p, uint32_t len)
{
	uint32_t sum = 0, i;

	for (i = 0; i < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (sum > 0xffff)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Sets IP and UDP lengths so the packet ends at the current length. */
static void
finish(struct frame *f)
{
	uint32_t hl;

	if (f->is_udp)
		set16(f, f->l4 + 4, (uint16_t)(f->len - f->l4));
	if (f->ip_version == 4) {
		hl = (uint32_t)(f->b[f->l3] & 0x0f) * 4;
		set16(f, f->l3 + 2, (uint16_t)(f->len - f->l3));
		set16(f, f->l3 + 10, 0);
		set16(f, f->l3 + 10, ipv4_csum(f->b + f->l3, hl));
	} else if (f->ip_version == 6) {
		set16(f, f->l3 + 4, (uint16_t)(f->len - f->l3 - 40));
	}
}

/* IPv4 TCP frame with MSS, SACK permitted, timestamps, window scale. */
static const uint8_t syn_opts[] = {
	2, 4, 0x05, 0xb4,			/* MSS 1460 */
	4, 2,					/* SACK permitted */
	8, 10, 0, 0, 0, 1, 0, 0, 0, 2,		/* TSval 1, TSecr 2 */
	1,					/* NOP */
	3, 3, 7,				/* window scale 7 */
};

static void
build_ipv4_tcp(struct frame *f, uint32_t payload_len)
{
	eth(f, 0x0800);
	ipv4(f, 6, 0);
	tcp(f, RV_TCP_SYN | RV_TCP_ACK, syn_opts, sizeof(syn_opts));
	put_fill(f, 0xab, payload_len);
	finish(f);
}

static int
parse(const struct frame *f, struct rv_pkt *pkt)
{
	return rv_pkt_parse(f->b, f->len, pkt);
}

/* Checks the payload invariants that hold for every non-negative result. */
static void
assert_payload_inside(const struct frame *f, const struct rv_pkt *pkt)
{
	assert_true(pkt->payload >= f->b);
	assert_true(pkt->payload + pkt->payload_len <= f->b + f->len);
	assert_true(pkt->payload_len <= pkt->wire_payload_len);
	assert_int_equal(pkt->truncated,
	    pkt->payload_len < pkt->wire_payload_len);
}

static void
test_tcp_ipv4_fields(void **state)
{
	struct frame f;
	struct rv_pkt pkt;

	build_ipv4_tcp(&f, 100);
	assert_int_equal(parse(&f, &pkt), RV_PKT_TCP);
	assert_int_equal(pkt.n_vlans, 0);
	assert_int_equal(pkt.ethertype, 0x0800);
	assert_ptr_equal(pkt.l3, f.b + 14);
	assert_int_equal(pkt.ip_version, 4);
	assert_int_equal(pkt.ip_proto, 6);
	assert_int_equal(pkt.ttl, 64);
	assert_int_equal(pkt.l3_len, 20);
	assert_memory_equal(pkt.src, ip4_client, 4);
	assert_memory_equal(pkt.dst, ip4_server, 4);
	assert_int_equal(pkt.src[4] | pkt.src[15] | pkt.dst[4] | pkt.dst[15],
	    0);
	assert_ptr_equal(pkt.l4, f.b + 34);
	assert_int_equal(pkt.sport, 40000);
	assert_int_equal(pkt.dport, 22);
	assert_int_equal(pkt.seq, 0xfffffff0);
	assert_int_equal(pkt.ack, 0x01020304);
	assert_int_equal(pkt.tcp_flags, RV_TCP_SYN | RV_TCP_ACK);
	assert_int_equal(pkt.window, 65535);
	assert_int_equal(pkt.urg_ptr, 7);
	assert_int_equal(pkt.tcp_hdr_len, 40);
	assert_ptr_equal(pkt.payload, f.b + 74);
	assert_int_equal(pkt.payload_len, 100);
	assert_int_equal(pkt.wire_payload_len, 100);
	assert_false(pkt.truncated);
	assert_true(rv_pkt_ipv4_csum_ok(&pkt));
}

static void
test_tcp_syn_options(void **state)
{
	struct frame f;
	struct rv_pkt pkt;

	build_ipv4_tcp(&f, 0);
	assert_int_equal(parse(&f, &pkt), RV_PKT_TCP);
	assert_true(pkt.opts.has_mss);
	assert_int_equal(pkt.opts.mss, 1460);
	assert_true(pkt.opts.sack_permitted);
	assert_true(pkt.opts.has_ts);
	assert_int_equal(pkt.opts.tsval, 1);
	assert_int_equal(pkt.opts.tsecr, 2);
	assert_true(pkt.opts.has_wscale);
	assert_int_equal(pkt.opts.wscale, 7);
	assert_false(pkt.opts.wscale_clamped);
	assert_int_equal(pkt.opts.n_sack, 0);
	assert_false(pkt.opts.malformed);
}

static void
test_tcp_no_options(void **state)
{
	struct frame f;
	struct rv_pkt pkt;

	/* Parse a frame with options first, so stale flags would show. */
	build_ipv4_tcp(&f, 0);
	assert_int_equal(parse(&f, &pkt), RV_PKT_TCP);
	eth(&f, 0x0800);
	ipv4(&f, 6, 0);
	tcp(&f, RV_TCP_ACK, NULL, 0);
	finish(&f);
	assert_int_equal(parse(&f, &pkt), RV_PKT_TCP);
	assert_int_equal(pkt.tcp_hdr_len, 20);
	assert_false(pkt.opts.has_mss);
	assert_false(pkt.opts.has_wscale);
	assert_false(pkt.opts.sack_permitted);
	assert_false(pkt.opts.has_ts);
	assert_false(pkt.opts.malformed);
	assert_int_equal(pkt.opts.n_sack, 0);
}

/* NOP, NOP, timestamps: the layout of every Linux segment after the
 * handshake, decoded without the option walk. */
static void
test_tcp_nop_nop_timestamps(void **state)
{
	static const uint8_t opts[] = {
		1, 1, 8, 10, 0x80, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe,
	};
	struct frame f;
	struct rv_pkt pkt;

	/* Parse a SYN with every option first, so stale flags would show. */
	build_ipv4_tcp(&f, 0);
	assert_int_equal(parse(&f, &pkt), RV_PKT_TCP);
	eth(&f, 0x0800);
	ipv4(&f, 6, 0);
	tcp(&f, RV_TCP_ACK, opts, sizeof(opts));
	put_fill(&f, 0xcd, 36);
	finish(&f);
	assert_int_equal(parse(&f, &pkt), RV_PKT_TCP);
	assert_int_equal(pkt.tcp_hdr_len, 32);
	assert_true(pkt.opts.has_ts);
	assert_int_equal(pkt.opts.tsval, 0x80000001);
	assert_int_equal(pkt.opts.tsecr, 0xfffffffe);
	assert_false(pkt.opts.has_mss);
	assert_false(pkt.opts.has_wscale);
	assert_false(pkt.opts.sack_permitted);
	assert_false(pkt.opts.malformed);
	assert_false(pkt.opts.wscale_clamped);
	assert_int_equal(pkt.opts.n_sack, 0);
	assert_int_equal(pkt.payload_len, 36);
}

/* The same 12 bytes with a wrong timestamp length are malformed, as the
 * option walk finds. */
static void
test_tcp_nop_nop_bad_timestamp_len(void **state)
{
	static const uint8_t opts[] = {
		1, 1, 8, 9, 0, 0, 0, 1, 0, 0, 0, 2,
	};
	struct frame f;
	struct rv_pkt pkt;

	eth(&f, 0x0800);
	ipv4(&f, 6, 0);
	tcp(&f, RV_TCP_ACK, opts, sizeof(opts));
	finish(&f);
	assert_int_equal(parse(&f, &pkt), RV_PKT_TCP);
	assert_false(pkt.opts.has_ts);
	assert_true(pkt.opts.malformed);
}

static void
test_tcp_sack_blocks(void **state)
{
	uint8_t opts[2 + 8 * 4];
	struct frame f;
	struct rv_pkt pkt;
	uint32_t i;

	opts[0] = 5;
	opts[1] = sizeof(opts);
	for (i = 0; i < 8; i++) {
		/* Edges 0xfffffff0 + 16 * i, crossing 2^32. */
		uint32_t v = 0xfffffff0u + 16 * i;

		opts[2 + 4 * i] = (uint8_t)(v >> 24);
		opts[3 + 4 * i] = (uint8_t)(v >> 16);
		opts[4 + 4 * i] = (uint8_t)(v >> 8);
		opts[5 + 4 * i] = (uint8_t)v;
	}
	eth(&f, 0x0800);
	ipv4(&f, 6, 0);
	tcp(&f, RV_TCP_ACK, opts, sizeof(opts));
	finish(&f);
	assert_int_equal(parse(&f, &pkt), RV_PKT_TCP);
	assert_false(pkt.opts.malformed);
	assert_int_equal(pkt.opts.n_sack, 4);
	for (i = 0; i < 4; i++) {
		assert_int_equal(pkt.opts.sack[i][0],
		    (uint32_t)(0xfffffff0u + 32 * i));
		assert_int_equal(pkt.opts.sack[i][1],
		    (uint32_t)(0xfffffff0u + 32 * i + 16));
	}
}

static void
test_tcp_wscale_clamped(void **state)
{
	const uint8_t opts[] = { 3, 3, 15 };
	struct frame f;
	struct rv_pkt pkt;

	eth(&f, 0x0800);
	ipv4(&f, 6, 0);
	tcp(&f, RV_TCP_SYN, opts, sizeof(opts));
	finish(&f);
	assert_int_equal(parse(&f, &pkt), RV_PKT_TCP);
	assert_true(pkt.opts.has_wscale);
	assert_int_equal(pkt.opts.wscale, 14);
	assert_true(pkt.opts.wscale_clamped);
	assert_false(pkt.opts.malformed);
}

static void
test_tcp_unknown_option_and_eol(void **state)
{
	/* Unknown kind 30 of length 6, then EOL, then bytes that must not
	 * be read as an MSS option. */
	const uint8_t opts[] = { 30, 6, 1, 2, 3, 4, 0, 2, 4, 1, 1 };
	struct frame f;
	struct rv_pkt pkt;

	eth(&f, 0x0800);
	ipv4(&f, 6, 0);
	tcp(&f, RV_TCP_ACK, opts, sizeof(opts));
	finish(&f);
	assert_int_equal(parse(&f, &pkt), RV_PKT_TCP);
	assert_false(pkt.opts.malformed);
	assert_false(pkt.opts.has_mss);
}

struct bad_option_case {
	const char *name;
	uint8_t opts[16];
	uint32_t len;
	bool mss_kept;		/* the MSS after the bad option still parsed */
};

static void
test_tcp_bad_option_lengths(void **state)
{
	/*
	 * Each case puts an MSS of 1000 after the bad option. It is kept when
	 * the bad length still frames the next option, and lost when the walk
	 * has to stop.
	 */
	static const struct bad_option_case cases[] = {
		{ "mss len 3", { 2, 3, 1, 2, 4, 0x03, 0xe8 }, 7, true },
		{ "wscale len 4", { 3, 4, 1, 1, 2, 4, 0x03, 0xe8 }, 8, true },
		{ "sack perm len 3", { 4, 3, 0, 2, 4, 0x03, 0xe8 }, 7, true },
		{ "ts len 8", { 8, 8, 0, 0, 0, 0, 0, 0, 2, 4, 0x03, 0xe8 },
		    12, true },
		{ "sack len 12", { 5, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		    2, 4, 0x03, 0xe8 }, 16, true },
		{ "sack len 2", { 5, 2, 2, 4, 0x03, 0xe8 }, 6, true },
		{ "len 0", { 30, 0, 2, 4, 0x03, 0xe8 }, 6, false },
		{ "len 1", { 30, 1, 2, 4, 0x03, 0xe8 }, 6, false },
		{ "len past header", { 30, 40, 2, 4, 0x03, 0xe8 }, 6, false },
		{ "len byte past header", { 1, 1, 1, 30 }, 4, false },
	};
	struct frame f;
	struct rv_pkt pkt;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		eth(&f, 0x0800);
		ipv4(&f, 6, 0);
		tcp(&f, RV_TCP_SYN, cases[i].opts, cases[i].len);
		finish(&f);
		print_message("case: %s\n", cases[i].name);
		assert_int_equal(parse(&f, &pkt), RV_PKT_TCP);
		assert_true(pkt.opts.malformed);
		assert_int_equal(pkt.opts.has_mss, cases[i].mss_kept);
		if (cases[i].mss_kept)
			assert_int_equal(pkt.opts.mss, 1000);
		/* The header and payload stay usable for sequence tracking. */
		assert_int_equal(pkt.seq, 0xfffffff0);
		assert_int_equal(pkt.payload_len, 0);
	}
}

static void
test_tcp_option_before_bad_kept(void **state)
{
	const uint8_t opts[] = { 2, 4, 0x05, 0xb4, 30, 30 };
	struct frame f;
	struct rv_pkt pkt;

	eth(&f, 0x0800);
	ipv4(&f, 6, 0);
	tcp(&f, RV_TCP_SYN, opts, sizeof(opts));
	finish(&f);
	assert_int_equal(parse(&f, &pkt), RV_PKT_TCP);
	assert_true(pkt.opts.malformed);
	assert_true(pkt.opts.has_mss);
	assert_int_equal(pkt.opts.mss, 1460);
}

static void
test_tcp_bad_data_offset(void **state)
{
	struct frame f;
	struct rv_pkt pkt;

	build_ipv4_tcp(&f, 0);
	f.b[f.l4 + 12] = 4 << 4;
	assert_int_equal(parse(&f, &pkt), -RV_PKT_ERR_TCP_BAD_DATA_OFFSET);

	/* 15 words = 60 bytes, but the segment holds only 40. */
	f.b[f.l4 + 12] = 15 << 4;
	assert_int_equal(parse(&f, &pkt), -RV_PKT_ERR_TCP_BAD_DATA_OFFSET);
}

static void
test_tcp_short_segment(void **state)
{
	struct frame f;
	struct rv_pkt pkt;

	build_ipv4_tcp(&f, 0);
	/* IP total length leaves 19 bytes for TCP; the frame has more. */
	set16(&f, f.l3 + 2, 20 + 19);
	assert_int_equal(parse(&f, &pkt), -RV_PKT_ERR_TCP_SHORT_SEGMENT);
}

static void
test_tcp_truncated_payload(void **state)
{
	struct frame f;
	struct rv_pkt pkt;

	build_ipv4_tcp(&f, 1000);
	/* A capture ring of 128-byte slots keeps 54 payload bytes. */
	assert_int_equal(rv_pkt_parse(f.b, 128, &pkt), RV_PKT_TCP);
	assert_true(pkt.truncated);
	assert_int_equal(pkt.payload_len, 128 - 74);
	assert_int_equal(pkt.wire_payload_len, 1000);
	assert_int_equal(pkt.seq, 0xfffffff0);
}

static void
test_eth_padding_ignored(void **state)
{
	struct frame f;
	struct rv_pkt pkt;

	eth(&f, 0x0800);
	ipv4(&f, 6, 0);
	tcp(&f, RV_TCP_ACK, NULL, 0);
	put_fill(&f, 0x55, 2);
	finish(&f);
	/* Pad to the 60-byte Ethernet minimum with bytes IP does not own. */
	put_fill(&f, 0xee, 60 - f.len);
	assert_int_equal(parse(&f, &pkt), RV_PKT_TCP);
	assert_int_equal(pkt.payload_len, 2);
	assert_int_equal(pkt.wire_payload_len, 2);
	assert_false(pkt.truncated);

	eth(&f, 0x0800);
	ipv4(&f, 17, 0);
	udp(&f);
	put8(&f, 0x42);
	finish(&f);
	put_fill(&f, 0xee, 60 - f.len);
	assert_int_equal(parse(&f, &pkt), RV_PKT_UDP);
	assert_int_equal(pkt.payload_len, 1);
	assert_int_equal(pkt.payload[0], 0x42);
}

/* Every prefix of a valid frame gives the error of the layer it cuts. */
static void
test_prefixes_ipv4_tcp(void **state)
{
	struct frame f;
	struct rv_pkt pkt;
	uint32_t n;
	int ret;

	build_ipv4_tcp(&f, 50);
	for (n = 0; n <= f.len; n++) {
		ret = rv_pkt_parse(f.b, n, &pkt);
		if (n < 14)
			assert_int_equal(ret, -RV_PKT_ERR_ETH_TRUNCATED);
		else if (n < 34)
			assert_int_equal(ret, -RV_PKT_ERR_IPV4_TRUNCATED);
		else if (n < 74)
			assert_int_equal(ret, -RV_PKT_ERR_TCP_TRUNCATED);
		else {
			assert_int_equal(ret, RV_PKT_TCP);
			assert_int_equal(pkt.payload_len, n - 74);
			assert_int_equal(pkt.wire_payload_len, 50);
			assert_int_equal(pkt.truncated, n < f.len);
			assert_true(pkt.opts.has_ts);
		}
	}
}

static void
build_qinq_ipv6_udp(struct frame *f)
{
	const uint16_t tags[2][2] = { { 0x88a8, 0x0064 }, { 0x8100, 0xe0c8 } };

	eth_tagged(f, tags, 2, 0x86dd);
	ipv6(f, 0);
	ipv6_ext(f, 60, 8);
	ipv6_ext(f, 17, 16);
	udp(f);
	put_fill(f, 0x77, 30);
	finish(f);
}

static void
test_prefixes_qinq_ipv6_udp(void **state)
{
	struct frame f;
	struct rv_pkt pkt;
	uint32_t n, l3 = 22, l4 = 22 + 40 + 24;
	int ret;

	build_qinq_ipv6_udp(&f);
	for (n = 0; n <= f.len; n++) {
		ret = rv_pkt_parse(f.b, n, &pkt);
		if (n < 14)
			assert_int_equal(ret, -RV_PKT_ERR_ETH_TRUNCATED);
		else if (n < l3)
			assert_int_equal(ret, -RV_PKT_ERR_VLAN_TRUNCATED);
		else if (n < l4)
			assert_int_equal(ret, -RV_PKT_ERR_IPV6_TRUNCATED);
		else if (n < l4 + 8)
			assert_int_equal(ret, -RV_PKT_ERR_UDP_TRUNCATED);
		else {
			assert_int_equal(ret, RV_PKT_UDP);
			assert_int_equal(pkt.payload_len, n - l4 - 8);
			assert_int_equal(pkt.wire_payload_len, 30);
			assert_int_equal(pkt.truncated, n < f.len);
		}
	}
}

/* Any prefix of several frames parses to an error or a sane result. */
static void
test_prefixes_never_overrun(void **state)
{
	struct frame frames[4];
	struct rv_pkt pkt;
	uint32_t n;
	size_t i;
	int ret;

	build_ipv4_tcp(&frames[0], 10);
	build_qinq_ipv6_udp(&frames[1]);
	eth(&frames[2], 0x0806);
	put16(&frames[2], 1);
	put16(&frames[2], 0x0800);
	put8(&frames[2], 6);
	put8(&frames[2], 4);
	put16(&frames[2], 1);
	put_fill(&frames[2], 0x11, 20);
	eth(&frames[3], 0x86dd);
	ipv6(&frames[3], 51);
	put8(&frames[3], 6);
	put8(&frames[3], 4);	/* AH of (4 + 2) * 4 = 24 bytes */
	put_fill(&frames[3], 0, 22);
	tcp(&frames[3], RV_TCP_ACK, syn_opts, sizeof(syn_opts));
	put_fill(&frames[3], 0, 5);
	finish(&frames[3]);

	for (i = 0; i < 4; i++) {
		for (n = 0; n <= frames[i].len; n++) {
			/*
			 * An exact-size heap copy, so that a sanitizer build
			 * catches any read past the end.
			 */
			uint8_t *copy = malloc(n > 0 ? n : 1);

			assert_non_null(copy);
			memcpy(copy, frames[i].b, n);
			ret = rv_pkt_parse(copy, n, &pkt);
			if (ret < 0) {
				assert_true(ret > -RV_PKT_ERR__COUNT);
			} else {
				assert_true(pkt.payload >= copy);
				assert_true(pkt.payload + pkt.payload_len <=
				    copy + n);
				assert_true(pkt.payload_len <=
				    pkt.wire_payload_len);
			}
			free(copy);
		}
		ret = parse(&frames[i], &pkt);
		assert_true(ret > 0);
		assert_false(pkt.truncated);
		assert_payload_inside(&frames[i], &pkt);
	}
}

static void
test_vlan_single(void **state)
{
	const uint16_t tags[1][2] = { { 0x8100, 0x2123 } };
	struct frame f;
	struct rv_pkt pkt;

	eth_tagged(&f, tags, 1, 0x0800);
	ipv4(&f, 6, 0);
	tcp(&f, RV_TCP_ACK, NULL, 0);
	finish(&f);
	assert_int_equal(parse(&f, &pkt), RV_PKT_TCP);
	assert_int_equal(pkt.n_vlans, 1);
	assert_int_equal(pkt.vlan[0], 0x123);
	assert_ptr_equal(pkt.l3, f.b + 18);
}

static void
test_vlan_qinq(void **state)
{
	struct frame f;
	struct rv_pkt pkt;

	build_qinq_ipv6_udp(&f);
	assert_int_equal(parse(&f, &pkt), RV_PKT_UDP);
	assert_int_equal(pkt.n_vlans, 2);
	assert_int_equal(pkt.vlan[0], 100);
	assert_int_equal(pkt.vlan[1], 200);
	assert_int_equal(pkt.ethertype, 0x86dd);
}

static void
test_vlan_double_8100(void **state)
{
	const uint16_t tags[2][2] = { { 0x8100, 5 }, { 0x8100, 6 } };
	struct frame f;
	struct rv_pkt pkt;

	eth_tagged(&f, tags, 2, 0x0800);
	ipv4(&f, 6, 0);
	tcp(&f, RV_TCP_ACK, NULL, 0);
	finish(&f);
	assert_int_equal(parse(&f, &pkt), RV_PKT_TCP);
	assert_int_equal(pkt.n_vlans, 2);
	assert_int_equal(pkt.vlan[0], 5);
	assert_int_equal(pkt.vlan[1], 6);
}

static void
test_vlan_too_many(void **state)
{
	const uint16_t tags[3][2] = {
		{ 0x88a8, 1 }, { 0x8100, 2 }, { 0x8100, 3 }
	};
	struct frame f;
	struct rv_pkt pkt;

	eth_tagged(&f, tags, 3, 0x0800);
	ipv4(&f, 6, 0);
	tcp(&f, RV_TCP_ACK, NULL, 0);
	finish(&f);
	assert_int_equal(parse(&f, &pkt), -RV_PKT_ERR_TOO_MANY_VLANS);
}

static void
test_ipv4_options_skipped(void **state)
{
	struct frame f;
	struct rv_pkt pkt;

	eth(&f, 0x0800);
	ipv4(&f, 6, 8);
	tcp(&f, RV_TCP_ACK, NULL, 0);
	put_fill(&f, 0x99, 3);
	finish(&f);
	assert_int_equal(parse(&f, &pkt), RV_PKT_TCP);
	assert_int_equal(pkt.l3_len, 28);
	assert_ptr_equal(pkt.l4, f.b + 14 + 28);
	assert_int_equal(pkt.sport, 40000);
	assert_int_equal(pkt.payload_len, 3);
	assert_true(rv_pkt_ipv4_csum_ok(&pkt));
}

static void
test_ipv4_bad_version(void **state)
{
	struct frame f;
	struct rv_pkt pkt;

	build_ipv4_tcp(&f, 0);
	f.b[f.l3] = 0x65;
	assert_int_equal(parse(&f, &pkt), -RV_PKT_ERR_IPV4_BAD_VERSION);
}

static void
test_ipv4_bad_ihl(void **state)
{
	struct frame f;
	struct rv_pkt pkt;

	build_ipv4_tcp(&f, 0);
	f.b[f.l3] = 0x44;
	assert_int_equal(parse(&f, &pkt), -RV_PKT_ERR_IPV4_BAD_IHL);
}

static void
test_ipv4_ihl_past_frame(void **state)
{
	struct frame f;
	struct rv_pkt pkt;

	/* IHL 15 (60 bytes) with only 20 header bytes and nothing after. */
	eth(&f, 0x0800);
	ipv4(&f, 6, 0);
	finish(&f);
	f.b[f.l3] = 0x4f;
	set16(&f, f.l3 + 2, 60);
	assert_int_equal(parse(&f, &pkt), -RV_PKT_ERR_IPV4_TRUNCATED);
}

static void
test_ipv4_bad_total_len(void **state)
{
	struct frame f;
	struct rv_pkt pkt;

	build_ipv4_tcp(&f, 0);
	set16(&f, f.l3 + 2, 19);
	assert_int_equal(parse(&f, &pkt), -RV_PKT_ERR_IPV4_BAD_TOTAL_LEN);
}

static void
test_ipv4_fragments(void **state)
{
	struct frame f;
	struct rv_pkt pkt;

	/* First fragment: MF set, offset 0. */
	build_ipv4_tcp(&f, 8);
	set16(&f, f.l3 + 6, 0x2000);
	assert_int_equal(parse(&f, &pkt), -RV_PKT_ERR_IPV4_FRAGMENT);
	assert_int_equal(pkt.ip_version, 4);
	assert_int_equal(pkt.ip_proto, 6);
	assert_memory_equal(pkt.src, ip4_client, 4);

	/* Later fragment: offset 185 (1480 bytes), MF clear. */
	set16(&f, f.l3 + 6, 185);
	assert_int_equal(parse(&f, &pkt), -RV_PKT_ERR_IPV4_FRAGMENT);

	/* DF alone is a whole datagram. */
	set16(&f, f.l3 + 6, 0x4000);
	assert_int_equal(parse(&f, &pkt), RV_PKT_TCP);
}

static void
test_ipv4_csum_helper(void **state)
{
	struct frame f;
	struct rv_pkt pkt;

	build_ipv4_tcp(&f, 0);
	assert_int_equal(parse(&f, &pkt), RV_PKT_TCP);
	assert_true(rv_pkt_ipv4_csum_ok(&pkt));
	/* A bad checksum is reported but does not stop the parse. */
	f.b[f.l3 + 8] = 63;
	assert_int_equal(parse(&f, &pkt), RV_PKT_TCP);
	assert_false(rv_pkt_ipv4_csum_ok(&pkt));

	build_qinq_ipv6_udp(&f);
	assert_int_equal(parse(&f, &pkt), RV_PKT_UDP);
	assert_false(rv_pkt_ipv4_csum_ok(&pkt));
}

static void
test_ipv4_other_protocol(void **state)
{
	struct frame f;
	struct rv_pkt pkt;

	eth(&f, 0x0800);
	ipv4(&f, 1, 0);
	put_fill(&f, 8, 12);	/* ICMP echo request */
	finish(&f);
	assert_int_equal(parse(&f, &pkt), RV_PKT_OTHER);
	assert_int_equal(pkt.ip_version, 4);
	assert_int_equal(pkt.ip_proto, 1);
	assert_ptr_equal(pkt.payload, f.b + 34);
	assert_int_equal(pkt.payload_len, 12);
}

static void
test_ipv6_tcp_fields(void **state)
{
	struct frame f;
	struct rv_pkt pkt;

	eth(&f, 0x86dd);
	ipv6(&f, 6);
	tcp(&f, RV_TCP_SYN, syn_opts, sizeof(syn_opts));
	put_fill(&f, 0xcd, 9);
	finish(&f);
	assert_int_equal(parse(&f, &pkt), RV_PKT_TCP);
	assert_int_equal(pkt.ip_version, 6);
	assert_int_equal(pkt.ip_proto, 6);
	assert_int_equal(pkt.ttl, 64);
	assert_int_equal(pkt.l3_len, 40);
	assert_memory_equal(pkt.src, ip6_client, 16);
	assert_memory_equal(pkt.dst, ip6_server, 16);
	assert_int_equal(pkt.payload_len, 9);
	assert_int_equal(pkt.opts.mss, 1460);
}

static void
test_ipv6_each_ext_header(void **state)
{
	static const uint8_t kinds[] = { 0, 43, 60, 51 };
	struct frame f;
	struct rv_pkt pkt;
	size_t i;

	for (i = 0; i < sizeof(kinds); i++) {
		eth(&f, 0x86dd);
		ipv6(&f, kinds[i]);
		if (kinds[i] == 51) {
			/* AH counts 4-byte words minus 2 (RFC 4302 2.2). */
			put8(&f, 6);
			put8(&f, 4);
			put_fill(&f, 0, 22);
		} else {
			ipv6_ext(&f, 6, 24);
		}
		tcp(&f, RV_TCP_ACK, NULL, 0);
		put_fill(&f, 0x01, 4);
		finish(&f);
		print_message("extension header %u\n", kinds[i]);
		assert_int_equal(parse(&f, &pkt), RV_PKT_TCP);
		assert_int_equal(pkt.ip_proto, 6);
		assert_int_equal(pkt.l3_len, 40 + 24);
		assert_int_equal(pkt.sport, 40000);
		assert_int_equal(pkt.payload_len, 4);
	}
}

static void
test_ipv6_fragment(void **state)
{
	struct frame f;
	struct rv_pkt pkt;

	eth(&f, 0x86dd);
	ipv6(&f, 44);
	put8(&f, 6);
	put8(&f, 0);
	put16(&f, 0x0001);	/* offset 0, M set */
	put32(&f, 0xabcd);
	tcp(&f, RV_TCP_ACK, NULL, 0);
	finish(&f);
	assert_int_equal(parse(&f, &pkt), -RV_PKT_ERR_IPV6_FRAGMENT);
	assert_int_equal(pkt.ip_version, 6);
	assert_int_equal(pkt.ip_proto, 6);
	assert_memory_equal(pkt.src, ip6_client, 16);

	/* Later fragment: offset 1, M clear. */
	set16(&f, 14 + 40 + 2, 1 << 3);
	assert_int_equal(parse(&f, &pkt), -RV_PKT_ERR_IPV6_FRAGMENT);

	/* Atomic fragment: a whole packet (RFC 6946). */
	set16(&f, 14 + 40 + 2, 0);
	assert_int_equal(parse(&f, &pkt), RV_PKT_TCP);
	assert_int_equal(pkt.l3_len, 48);
}

static void
test_ipv6_esp_and_no_next(void **state)
{
	struct frame f;
	struct rv_pkt pkt;

	eth(&f, 0x86dd);
	ipv6(&f, 50);
	put_fill(&f, 0x33, 24);
	finish(&f);
	assert_int_equal(parse(&f, &pkt), RV_PKT_OTHER);
	assert_int_equal(pkt.ip_proto, 50);
	assert_int_equal(pkt.payload_len, 24);

	eth(&f, 0x86dd);
	ipv6(&f, 60);
	ipv6_ext(&f, 59, 8);
	finish(&f);
	assert_int_equal(parse(&f, &pkt), RV_PKT_OTHER);
	assert_int_equal(pkt.ip_proto, 59);
	assert_int_equal(pkt.payload_len, 0);
}

static void
build_ipv6_chain(struct frame *f, int n_ext)
{
	int i;

	eth(f, 0x86dd);
	ipv6(f, 60);
	for (i = 0; i < n_ext; i++)
		ipv6_ext(f, i + 1 < n_ext ? 60 : 6, 8);
	tcp(f, RV_TCP_ACK, NULL, 0);
	finish(f);
}

static void
test_ipv6_ext_chain_limit(void **state)
{
	struct frame f;
	struct rv_pkt pkt;

	build_ipv6_chain(&f, RV_PKT_IPV6_MAX_EXT);
	assert_int_equal(parse(&f, &pkt), RV_PKT_TCP);
	assert_int_equal(pkt.l3_len, 40 + 8 * RV_PKT_IPV6_MAX_EXT);

	build_ipv6_chain(&f, RV_PKT_IPV6_MAX_EXT + 1);
	assert_int_equal(parse(&f, &pkt),
	    -RV_PKT_ERR_IPV6_EXT_CHAIN_TOO_LONG);
}

static void
test_ipv6_hop_by_hop_not_first(void **state)
{
	struct frame f;
	struct rv_pkt pkt;

	eth(&f, 0x86dd);
	ipv6(&f, 60);
	ipv6_ext(&f, 0, 8);
	ipv6_ext(&f, 6, 8);
	tcp(&f, RV_TCP_ACK, NULL, 0);
	finish(&f);
	assert_int_equal(parse(&f, &pkt),
	    -RV_PKT_ERR_IPV6_HOP_BY_HOP_NOT_FIRST);
}

static void
test_ipv6_ext_past_payload(void **state)
{
	struct frame f;
	struct rv_pkt pkt;

	eth(&f, 0x86dd);
	ipv6(&f, 43);
	ipv6_ext(&f, 6, 24);
	tcp(&f, RV_TCP_ACK, NULL, 0);
	finish(&f);
	/* The routing header claims 256 bytes, but the payload has 44. */
	f.b[14 + 40 + 1] = 31;
	assert_int_equal(parse(&f, &pkt), -RV_PKT_ERR_IPV6_BAD_EXT_LEN);

	/* Payload length 1 cannot hold even the next-header byte pair. */
	f.b[14 + 40 + 1] = 2;
	set16(&f, 14 + 4, 1);
	assert_int_equal(parse(&f, &pkt), -RV_PKT_ERR_IPV6_BAD_EXT_LEN);
}

static void
test_ipv6_bad_version(void **state)
{
	struct frame f;
	struct rv_pkt pkt;

	eth(&f, 0x86dd);
	ipv6(&f, 6);
	tcp(&f, RV_TCP_ACK, NULL, 0);
	finish(&f);
	f.b[14] = 0x40;
	assert_int_equal(parse(&f, &pkt), -RV_PKT_ERR_IPV6_BAD_VERSION);
}

static void
test_ipv6_truncated_payload(void **state)
{
	struct frame f;
	struct rv_pkt pkt;

	eth(&f, 0x86dd);
	ipv6(&f, 6);
	tcp(&f, RV_TCP_ACK, NULL, 0);
	put_fill(&f, 0, 1400);
	finish(&f);
	assert_int_equal(rv_pkt_parse(f.b, 200, &pkt), RV_PKT_TCP);
	assert_true(pkt.truncated);
	assert_int_equal(pkt.payload_len, 200 - 74);
	assert_int_equal(pkt.wire_payload_len, 1400);
}

static void
build_arp(struct frame *f, uint16_t op)
{
	eth(f, 0x0806);
	put16(f, 1);
	put16(f, 0x0800);
	put8(f, 6);
	put8(f, 4);
	put16(f, op);
	put_bytes(f, mac_a, 6);
	put_bytes(f, ip4_server, 4);
	put_fill(f, 0, 6);
	put_bytes(f, ip4_server, 4);
	put_fill(f, 0, 18);	/* Ethernet padding to 60 bytes */
}

static void
test_arp_fields(void **state)
{
	struct frame f;
	struct rv_pkt pkt;

	/* Gratuitous ARP request: sender and target address are equal. */
	build_arp(&f, 1);
	assert_int_equal(parse(&f, &pkt), RV_PKT_ARP);
	assert_int_equal(pkt.ip_version, 0);
	assert_int_equal(pkt.arp.op, 1);
	assert_memory_equal(pkt.arp.sha, mac_a, 6);
	assert_memory_equal(pkt.arp.spa, ip4_server, 4);
	assert_memory_equal(pkt.arp.tpa, ip4_server, 4);
	assert_int_equal(pkt.payload_len, 28);
	assert_ptr_equal(pkt.payload, f.b + 14);

	build_arp(&f, 2);
	assert_int_equal(parse(&f, &pkt), RV_PKT_ARP);
	assert_int_equal(pkt.arp.op, 2);
}

static void
test_arp_malformed(void **state)
{
	struct frame f;
	struct rv_pkt pkt;

	build_arp(&f, 1);
	f.b[14 + 4] = 8;
	assert_int_equal(parse(&f, &pkt), -RV_PKT_ERR_ARP_BAD_ADDR_LEN);

	build_arp(&f, 1);
	assert_int_equal(rv_pkt_parse(f.b, 14 + 27, &pkt),
	    -RV_PKT_ERR_ARP_TRUNCATED);
	assert_int_equal(rv_pkt_parse(f.b, 14 + 7, &pkt),
	    -RV_PKT_ERR_ARP_TRUNCATED);

	/* ARP for another protocol type is valid and not ours. */
	build_arp(&f, 1);
	set16(&f, 14 + 2, 0x86dd);
	assert_int_equal(parse(&f, &pkt), RV_PKT_OTHER);
}

static void
test_udp_fields(void **state)
{
	struct frame f;
	struct rv_pkt pkt;

	eth(&f, 0x0800);
	ipv4(&f, 17, 0);
	udp(&f);
	put_fill(&f, 0x5a, 300);
	finish(&f);
	assert_int_equal(parse(&f, &pkt), RV_PKT_UDP);
	assert_int_equal(pkt.sport, 40001);
	assert_int_equal(pkt.dport, 7999);
	assert_ptr_equal(pkt.payload, f.b + 42);
	assert_int_equal(pkt.payload_len, 300);
	assert_int_equal(pkt.wire_payload_len, 300);
	assert_false(pkt.truncated);
}

static void
test_udp_bad_length(void **state)
{
	struct frame f;
	struct rv_pkt pkt;

	eth(&f, 0x0800);
	ipv4(&f, 17, 0);
	udp(&f);
	put_fill(&f, 0x5a, 30);
	finish(&f);
	set16(&f, f.l4 + 4, 37);
	assert_int_equal(parse(&f, &pkt), -RV_PKT_ERR_UDP_BAD_LENGTH);
	set16(&f, f.l4 + 4, 39);
	assert_int_equal(parse(&f, &pkt), -RV_PKT_ERR_UDP_BAD_LENGTH);
	set16(&f, f.l4 + 4, 0);
	assert_int_equal(parse(&f, &pkt), -RV_PKT_ERR_UDP_BAD_LENGTH);

	/* IP leaves 7 bytes for UDP. */
	set16(&f, f.l3 + 2, 27);
	assert_int_equal(parse(&f, &pkt), -RV_PKT_ERR_UDP_SHORT_DATAGRAM);
}

static void
test_udp_truncated_payload(void **state)
{
	struct frame f;
	struct rv_pkt pkt;

	eth(&f, 0x0800);
	ipv4(&f, 17, 0);
	udp(&f);
	put_fill(&f, 0x5a, 1000);
	finish(&f);
	assert_int_equal(rv_pkt_parse(f.b, 100, &pkt), RV_PKT_UDP);
	assert_true(pkt.truncated);
	assert_int_equal(pkt.payload_len, 58);
	assert_int_equal(pkt.wire_payload_len, 1000);
}

static void
test_other_ethertypes(void **state)
{
	struct frame f;
	struct rv_pkt pkt;

	eth(&f, 0x88cc);	/* LLDP */
	put_fill(&f, 0, 46);
	assert_int_equal(parse(&f, &pkt), RV_PKT_OTHER);
	assert_int_equal(pkt.ip_version, 0);
	assert_int_equal(pkt.ethertype, 0x88cc);
	assert_int_equal(pkt.payload_len, 46);

	eth(&f, 46);		/* 802.3 length field */
	put_fill(&f, 0, 46);
	assert_int_equal(parse(&f, &pkt), RV_PKT_OTHER);

	assert_int_equal(rv_pkt_parse(NULL, 0, &pkt),
	    -RV_PKT_ERR_ETH_TRUNCATED);
}

static void
test_err_names_complete(void **state)
{
	int e;

	for (e = 1; e < RV_PKT_ERR__COUNT; e++) {
		assert_non_null(rv_pkt_err_name(-e));
		assert_string_not_equal(rv_pkt_err_name(-e), "unknown");
		assert_string_not_equal(rv_pkt_err_message(-e),
		    "unknown packet parse result");
	}
	assert_string_equal(rv_pkt_err_name(-RV_PKT_ERR_IPV4_BAD_IHL),
	    "ipv4_bad_ihl");
	assert_string_equal(rv_pkt_err_name(0), "unknown");
	assert_string_equal(rv_pkt_err_name(RV_PKT_TCP), "unknown");
	assert_string_equal(rv_pkt_err_name(-RV_PKT_ERR__COUNT), "unknown");
	assert_string_equal(rv_pkt_err_name(INT_MIN), "unknown");
	assert_string_equal(rv_pkt_err_message(INT_MAX),
	    "unknown packet parse result");
}

static void
test_seq_wraparound(void **state)
{
	assert_true(rv_seq_lt(0xfffffff0u, 0x10));
	assert_true(rv_seq_gt(0x10, 0xfffffff0u));
	assert_false(rv_seq_lt(0x10, 0xfffffff0u));
	assert_true(rv_seq_le(5, 5));
	assert_true(rv_seq_ge(5, 5));
	assert_false(rv_seq_lt(5, 5));
	assert_false(rv_seq_gt(5, 5));
	assert_true(rv_seq_le(0xffffffffu, 0));
	assert_true(rv_seq_ge(0, 0xffffffffu));
	assert_int_equal(rv_seq_diff(0x10, 0xfffffff0u), 0x20);
	assert_int_equal(rv_seq_diff(0xfffffff0u, 0x10), -0x20);
	assert_int_equal(rv_seq_diff(0x80000000u, 0), INT32_MIN);
	/* Just under half the space apart still orders correctly. */
	assert_true(rv_seq_lt(0, 0x7fffffffu));
	assert_true(rv_seq_gt(0x7fffffffu + 100, 100));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp_ipv4_fields),
		cmocka_unit_test(test_tcp_syn_options),
		cmocka_unit_test(test_tcp_no_options),
		cmocka_unit_test(test_tcp_nop_nop_timestamps),
		cmocka_unit_test(test_tcp_nop_nop_bad_timestamp_len),
		cmocka_unit_test(test_tcp_sack_blocks),
		cmocka_unit_test(test_tcp_wscale_clamped),
		cmocka_unit_test(test_tcp_unknown_option_and_eol),
		cmocka_unit_test(test_tcp_bad_option_lengths),
		cmocka_unit_test(test_tcp_option_before_bad_kept),
		cmocka_unit_test(test_tcp_bad_data_offset),
		cmocka_unit_test(test_tcp_short_segment),
		cmocka_unit_test(test_tcp_truncated_payload),
		cmocka_unit_test(test_eth_padding_ignored),
		cmocka_unit_test(test_prefixes_ipv4_tcp),
		cmocka_unit_test(test_prefixes_qinq_ipv6_udp),
		cmocka_unit_test(test_prefixes_never_overrun),
		cmocka_unit_test(test_vlan_single),
		cmocka_unit_test(test_vlan_qinq),
		cmocka_unit_test(test_vlan_double_8100),
		cmocka_unit_test(test_vlan_too_many),
		cmocka_unit_test(test_ipv4_options_skipped),
		cmocka_unit_test(test_ipv4_bad_version),
		cmocka_unit_test(test_ipv4_bad_ihl),
		cmocka_unit_test(test_ipv4_ihl_past_frame),
		cmocka_unit_test(test_ipv4_bad_total_len),
		cmocka_unit_test(test_ipv4_fragments),
		cmocka_unit_test(test_ipv4_csum_helper),
		cmocka_unit_test(test_ipv4_other_protocol),
		cmocka_unit_test(test_ipv6_tcp_fields),
		cmocka_unit_test(test_ipv6_each_ext_header),
		cmocka_unit_test(test_ipv6_fragment),
		cmocka_unit_test(test_ipv6_esp_and_no_next),
		cmocka_unit_test(test_ipv6_ext_chain_limit),
		cmocka_unit_test(test_ipv6_hop_by_hop_not_first),
		cmocka_unit_test(test_ipv6_ext_past_payload),
		cmocka_unit_test(test_ipv6_bad_version),
		cmocka_unit_test(test_ipv6_truncated_payload),
		cmocka_unit_test(test_arp_fields),
		cmocka_unit_test(test_arp_malformed),
		cmocka_unit_test(test_udp_fields),
		cmocka_unit_test(test_udp_bad_length),
		cmocka_unit_test(test_udp_truncated_payload),
		cmocka_unit_test(test_other_ethertypes),
		cmocka_unit_test(test_err_names_complete),
		cmocka_unit_test(test_seq_wraparound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
