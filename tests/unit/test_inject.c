/* SPDX-License-Identifier: BSD-3-Clause */
/* Takeover frames: each one parses back to what was asked, with valid
 * checksums. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "inject.h"
#include "pkt_parse.h"

static const uint8_t backup_mac[6] = { 0x02, 0, 0, 0, 0, 0x03 };
static const uint8_t client_mac[6] = { 0x02, 0, 0, 0, 0, 0x10 };
static const uint8_t inject_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static const uint8_t server_mac[6] = { 0x02, 0, 0, 0, 0, 0x02 };

/* Sums a TCP or ICMPv6 packet with its pseudo-header; 0xffff if valid. */
static uint16_t
l4_sum(const struct rv_pkt *pkt, const uint8_t *l4, size_t len)
{
	size_t alen = pkt->ip_version == 4 ? 4 : 16, i;
	uint32_t sum = 0;

	for (i = 0; i < alen; i += 2) {
		sum += (uint32_t)pkt->src[i] << 8 | pkt->src[i + 1];
		sum += (uint32_t)pkt->dst[i] << 8 | pkt->dst[i + 1];
	}
	sum += pkt->ip_proto + (uint32_t)len;
	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)l4[i] << 8 | l4[i + 1];
	if (len & 1)
		sum += (uint32_t)l4[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static void
garp_parses_back(void **state)
{
	struct rv_addr ip;
	struct rv_pkt pkt;
	uint8_t buf[RV_INJECT_FRAME_MAX];
	int n;

	(void)state;
	assert_int_equal(rv_addr_parse("198.51.100.2", &ip), 0);
	n = rv_inject_garp(buf, sizeof(buf), inject_mac, backup_mac, &ip);
	assert_int_equal(n, 60);
	/* The frame comes from the sending port; the ARP names the backup. */
	assert_memory_equal(buf + 6, inject_mac, 6);
	assert_int_equal(rv_pkt_parse(buf, (uint32_t)n, &pkt), RV_PKT_ARP);
	assert_int_equal(pkt.arp.op, 1);
	assert_memory_equal(pkt.arp.sha, backup_mac, 6);
	assert_memory_equal(pkt.arp.spa, ip.bytes, 4);
	assert_memory_equal(pkt.arp.tpa, ip.bytes, 4);
	assert_memory_equal(buf, "\xff\xff\xff\xff\xff\xff", 6);
}

static void
garp_rejects_ipv6(void **state)
{
	struct rv_addr ip;
	uint8_t buf[RV_INJECT_FRAME_MAX];

	(void)state;
	assert_int_equal(rv_addr_parse("2001:db8:1::2", &ip), 0);
	assert_int_equal(rv_inject_garp(buf, sizeof(buf), inject_mac,
	    backup_mac, &ip), -EINVAL);
	assert_int_equal(rv_inject_unsolicited_na(buf, 20, inject_mac,
	    backup_mac, &ip), -EINVAL);
}

static void
neighbour_advert_parses_back(void **state)
{
	struct rv_addr ip;
	struct rv_pkt pkt;
	uint8_t buf[RV_INJECT_FRAME_MAX];
	int n;

	(void)state;
	assert_int_equal(rv_addr_parse("2001:db8:1::2", &ip), 0);
	n = rv_inject_unsolicited_na(buf, sizeof(buf), inject_mac, backup_mac,
	    &ip);
	assert_memory_equal(buf + 6, inject_mac, 6);
	assert_true(n > 0);
	assert_int_equal(rv_pkt_parse(buf, (uint32_t)n, &pkt), RV_PKT_OTHER);
	assert_int_equal(pkt.ip_version, 6);
	assert_int_equal(pkt.ip_proto, 58);
	assert_int_equal(pkt.ttl, 255);
	assert_int_equal(pkt.payload[0], 136);
	assert_int_equal(pkt.payload[4], 0x20);
	assert_memory_equal(pkt.payload + 8, ip.bytes, 16);
	assert_memory_equal(pkt.payload + 26, backup_mac, 6);
	assert_int_equal(l4_sum(&pkt, pkt.payload, pkt.payload_len), 0xffff);
}

static struct rv_inject_ack
ack_request(const char *server, const char *client, bool timestamps)
{
	struct rv_inject_ack a;

	memset(&a, 0, sizeof(a));
	memcpy(a.src_mac, backup_mac, 6);
	memcpy(a.dst_mac, client_mac, 6);
	assert_int_equal(rv_addr_parse(server, &a.server.addr), 0);
	assert_int_equal(rv_addr_parse(client, &a.client.addr), 0);
	a.server.port = 22;
	a.client.port = 40000;
	a.seq = 0xfffffff0u;
	a.ack = 123456;
	a.window = 501;
	a.timestamps = timestamps;
	a.tsval = 777;
	a.tsecr = 888;
	return a;
}

static void
check_ack(const struct rv_inject_ack *a)
{
	struct rv_pkt pkt;
	uint8_t buf[RV_INJECT_FRAME_MAX];
	int n;

	n = rv_inject_ack(buf, sizeof(buf), a);
	assert_true(n >= 60);
	assert_int_equal(rv_pkt_parse(buf, (uint32_t)n, &pkt), RV_PKT_TCP);
	assert_memory_equal(buf, client_mac, 6);
	assert_memory_equal(buf + 6, backup_mac, 6);
	assert_int_equal(pkt.sport, 22);
	assert_int_equal(pkt.dport, 40000);
	assert_int_equal(pkt.seq, a->seq);
	assert_int_equal(pkt.ack, a->ack);
	assert_int_equal(pkt.tcp_flags, RV_TCP_ACK);
	assert_int_equal(pkt.window, 501);
	assert_int_equal(pkt.payload_len, 0);
	assert_int_equal(pkt.opts.has_ts, a->timestamps);
	if (a->timestamps) {
		assert_int_equal(pkt.opts.tsval, 777);
		assert_int_equal(pkt.opts.tsecr, 888);
	}
	if (pkt.ip_version == 4)
		assert_true(rv_pkt_ipv4_csum_ok(&pkt));
	assert_int_equal(l4_sum(&pkt, pkt.l4, pkt.tcp_hdr_len), 0xffff);
}

static void
ack_ipv4_with_timestamps(void **state)
{
	struct rv_inject_ack a = ack_request("198.51.100.2", "198.51.100.10",
	    true);

	(void)state;
	check_ack(&a);
}

static void
ack_ipv4_padded(void **state)
{
	struct rv_inject_ack a = ack_request("198.51.100.2", "198.51.100.10",
	    false);

	(void)state;
	check_ack(&a);
}

static void
ack_ipv6(void **state)
{
	struct rv_inject_ack a = ack_request("2001:db8:1::2", "2001:db8:1::10",
	    true);

	(void)state;
	check_ack(&a);
}

static void
ack_rejects_mixed_families(void **state)
{
	struct rv_inject_ack a = ack_request("198.51.100.2", "2001:db8:1::10",
	    true);
	uint8_t buf[RV_INJECT_FRAME_MAX];

	(void)state;
	assert_int_equal(rv_inject_ack(buf, sizeof(buf), &a), -EINVAL);
	a = ack_request("198.51.100.2", "198.51.100.10", true);
	assert_int_equal(rv_inject_ack(buf, 40, &a), -EINVAL);
}

static void
arp_probe_names_no_sender(void **state)
{
	struct rv_addr ip;
	struct rv_pkt pkt;
	uint8_t buf[RV_INJECT_FRAME_MAX];
	int n;

	(void)state;
	assert_int_equal(rv_addr_parse("198.51.100.2", &ip), 0);
	n = rv_inject_arp_probe(buf, sizeof(buf), inject_mac, &ip);
	assert_int_equal(n, 60);
	assert_int_equal(rv_pkt_parse(buf, (uint32_t)n, &pkt), RV_PKT_ARP);
	assert_int_equal(pkt.arp.op, 1);
	assert_memory_equal(pkt.arp.sha, inject_mac, 6);
	assert_memory_equal(pkt.arp.spa, "\0\0\0\0", 4);
	assert_memory_equal(pkt.arp.tpa, ip.bytes, 4);
}

static void
arp_request_names_sender(void **state)
{
	struct rv_addr probe, server;
	struct rv_pkt pkt;
	uint8_t buf[RV_INJECT_FRAME_MAX];
	int n;

	(void)state;
	assert_int_equal(rv_addr_parse("198.51.100.250", &probe), 0);
	assert_int_equal(rv_addr_parse("198.51.100.2", &server), 0);
	n = rv_inject_arp_request(buf, sizeof(buf), inject_mac, &probe,
	    &server);
	assert_int_equal(n, 60);
	assert_memory_equal(buf, "\xff\xff\xff\xff\xff\xff", 6);
	assert_memory_equal(buf + 6, inject_mac, 6);
	assert_int_equal(rv_pkt_parse(buf, (uint32_t)n, &pkt), RV_PKT_ARP);
	assert_int_equal(pkt.arp.op, 1);
	assert_memory_equal(pkt.arp.sha, inject_mac, 6);
	assert_memory_equal(pkt.arp.spa, probe.bytes, 4);
	assert_memory_equal(pkt.arp.tha, "\0\0\0\0\0\0", 6);
	assert_memory_equal(pkt.arp.tpa, server.bytes, 4);
	assert_int_equal(rv_inject_arp_request(buf, 59, inject_mac, &probe,
	    &server), -EINVAL);
}

static void
arp_reply_goes_to_requester(void **state)
{
	struct rv_addr probe, server;
	struct rv_pkt pkt;
	uint8_t buf[RV_INJECT_FRAME_MAX];
	int n;

	(void)state;
	assert_int_equal(rv_addr_parse("198.51.100.250", &probe), 0);
	assert_int_equal(rv_addr_parse("198.51.100.2", &server), 0);
	n = rv_inject_arp_reply(buf, sizeof(buf), inject_mac, &probe,
	    server_mac, &server);
	assert_int_equal(n, 60);
	/* Unicast to the requester, from the inject port. */
	assert_memory_equal(buf, server_mac, 6);
	assert_memory_equal(buf + 6, inject_mac, 6);
	assert_int_equal(rv_pkt_parse(buf, (uint32_t)n, &pkt), RV_PKT_ARP);
	assert_int_equal(pkt.arp.op, 2);
	assert_memory_equal(pkt.arp.sha, inject_mac, 6);
	assert_memory_equal(pkt.arp.spa, probe.bytes, 4);
	assert_memory_equal(pkt.arp.tha, server_mac, 6);
	assert_memory_equal(pkt.arp.tpa, server.bytes, 4);
}

static void
arp_builders_reject_ipv6(void **state)
{
	struct rv_addr v4, v6;
	uint8_t buf[RV_INJECT_FRAME_MAX];

	(void)state;
	assert_int_equal(rv_addr_parse("198.51.100.250", &v4), 0);
	assert_int_equal(rv_addr_parse("2001:db8:1::2", &v6), 0);
	assert_int_equal(rv_inject_arp_probe(buf, sizeof(buf), inject_mac,
	    &v6), -EINVAL);
	assert_int_equal(rv_inject_arp_request(buf, sizeof(buf), inject_mac,
	    &v4, &v6), -EINVAL);
	assert_int_equal(rv_inject_arp_reply(buf, sizeof(buf), inject_mac,
	    &v6, server_mac, &v4), -EINVAL);
}

static struct rv_inject_tcp
probe_request(const char *src, const char *dst)
{
	struct rv_inject_tcp t;

	memset(&t, 0, sizeof(t));
	memcpy(t.src_mac, inject_mac, 6);
	memcpy(t.dst_mac, server_mac, 6);
	assert_int_equal(rv_addr_parse(src, &t.src.addr), 0);
	assert_int_equal(rv_addr_parse(dst, &t.dst.addr), 0);
	t.src.port = 51234;
	t.dst.port = 22;
	t.seq = 0xfffffff0u;
	return t;
}

/* Parses a probe segment back and checks its addresses and checksums. */
static void
check_probe_segment(const uint8_t *buf, int n, const struct rv_inject_tcp *t,
    struct rv_pkt *pkt)
{
	assert_true(n >= 60);
	assert_int_equal(rv_pkt_parse(buf, (uint32_t)n, pkt), RV_PKT_TCP);
	assert_memory_equal(buf, server_mac, 6);
	assert_memory_equal(buf + 6, inject_mac, 6);
	assert_memory_equal(pkt->src, t->src.addr.bytes,
	    t->src.addr.family == 4 ? 4 : 16);
	assert_memory_equal(pkt->dst, t->dst.addr.bytes,
	    t->dst.addr.family == 4 ? 4 : 16);
	assert_int_equal(pkt->sport, 51234);
	assert_int_equal(pkt->dport, 22);
	assert_int_equal(pkt->seq, 0xfffffff0u);
	assert_int_equal(pkt->ack, 0);
	assert_int_equal(pkt->payload_len, 0);
	if (pkt->ip_version == 4)
		assert_true(rv_pkt_ipv4_csum_ok(pkt));
	assert_int_equal(l4_sum(pkt, pkt->l4, pkt->tcp_hdr_len), 0xffff);
}

static void
syn_ipv4_parses_back(void **state)
{
	struct rv_inject_tcp t = probe_request("198.51.100.250",
	    "198.51.100.2");
	uint8_t buf[RV_INJECT_FRAME_MAX];
	struct rv_pkt pkt;
	int n;

	(void)state;
	n = rv_inject_syn(buf, sizeof(buf), &t);
	check_probe_segment(buf, n, &t, &pkt);
	assert_int_equal(pkt.tcp_flags, RV_TCP_SYN);
	assert_int_equal(pkt.window, 1024);
	assert_int_equal(pkt.tcp_hdr_len, 24);
	assert_true(pkt.opts.has_mss);
	assert_int_equal(pkt.opts.mss, 536);
}

static void
syn_ipv6_parses_back(void **state)
{
	struct rv_inject_tcp t = probe_request("2001:db8:1::fa",
	    "2001:db8:1::2");
	uint8_t buf[RV_INJECT_FRAME_MAX];
	struct rv_pkt pkt;
	int n;

	(void)state;
	n = rv_inject_syn(buf, sizeof(buf), &t);
	assert_int_equal(n, 14 + 40 + 24);
	check_probe_segment(buf, n, &t, &pkt);
	assert_int_equal(pkt.tcp_flags, RV_TCP_SYN);
	assert_int_equal(pkt.opts.mss, 1220);
}

static void
rst_ipv4_parses_back(void **state)
{
	struct rv_inject_tcp t = probe_request("198.51.100.250",
	    "198.51.100.2");
	uint8_t buf[RV_INJECT_FRAME_MAX];
	struct rv_pkt pkt;
	int n;

	(void)state;
	n = rv_inject_rst(buf, sizeof(buf), &t);
	/* 54 bytes of headers, padded to the Ethernet minimum. */
	assert_int_equal(n, 60);
	check_probe_segment(buf, n, &t, &pkt);
	assert_int_equal(pkt.tcp_flags, RV_TCP_RST);
	assert_int_equal(pkt.tcp_hdr_len, 20);
	assert_int_equal(pkt.window, 0);
}

static void
probe_segments_reject_bad_requests(void **state)
{
	struct rv_inject_tcp t = probe_request("198.51.100.250",
	    "2001:db8:1::2");
	uint8_t buf[RV_INJECT_FRAME_MAX];

	(void)state;
	assert_int_equal(rv_inject_syn(buf, sizeof(buf), &t), -EINVAL);
	assert_int_equal(rv_inject_rst(buf, sizeof(buf), &t), -EINVAL);
	t = probe_request("198.51.100.250", "198.51.100.2");
	assert_int_equal(rv_inject_syn(buf, 57, &t), -EINVAL);
	assert_int_equal(rv_inject_rst(buf, 59, &t), -EINVAL);
}

/*
 * Frames built offline with scapy 2.5 (Debian 12), which computes its own
 * ICMPv6 and TCP checksums over the IPv6 pseudo-header: an independent
 * check of ours (RFC 8200 section 8.1). Probe address 2001:db8:1::fb,
 * server 2001:db8:1::2, inject port 02:00:00:00:00:01, server
 * 02:00:00:00:00:02.
 */
static const uint8_t scapy_ns[] =
    "\x33\x33\xff\x00\x00\x02\x02\x00\x00\x00\x00\x01\x86\xdd\x60\x00"
    "\x00\x00\x00\x20\x3a\xff\x20\x01\x0d\xb8\x00\x01\x00\x00\x00\x00"
    "\x00\x00\x00\x00\x00\xfb\xff\x02\x00\x00\x00\x00\x00\x00\x00\x00"
    "\x00\x01\xff\x00\x00\x02\x87\x00\x1b\x2b\x00\x00\x00\x00\x20\x01"
    "\x0d\xb8\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x01\x01"
    "\x02\x00\x00\x00\x00\x01";
static const uint8_t scapy_ns_unspecified[] =
    "\x33\x33\xff\x00\x00\x02\x02\x00\x00\x00\x00\x01\x86\xdd\x60\x00"
    "\x00\x00\x00\x18\x3a\xff\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    "\x00\x00\x00\x00\x00\x00\xff\x02\x00\x00\x00\x00\x00\x00\x00\x00"
    "\x00\x01\xff\x00\x00\x02\x87\x00\x4c\xea\x00\x00\x00\x00\x20\x01"
    "\x0d\xb8\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02";
/* To the server's link-local address, as Linux often solicits from it. */
static const uint8_t scapy_na[] =
    "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x86\xdd\x60\x00"
    "\x00\x00\x00\x20\x3a\xff\x20\x01\x0d\xb8\x00\x01\x00\x00\x00\x00"
    "\x00\x00\x00\x00\x00\xfb\xfe\x80\x00\x00\x00\x00\x00\x00\x00\x00"
    "\x00\x00\x00\x00\x00\x02\x88\x00\xb7\xb5\x60\x00\x00\x00\x20\x01"
    "\x0d\xb8\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\xfb\x02\x01"
    "\x02\x00\x00\x00\x00\x01";
/* Port 50000 to 22, ISN 0x12345678, window 1024, MSS 1220. */
static const uint8_t scapy_syn6[] =
    "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x86\xdd\x60\x00"
    "\x00\x00\x00\x18\x06\x40\x20\x01\x0d\xb8\x00\x01\x00\x00\x00\x00"
    "\x00\x00\x00\x00\x00\xfb\x20\x01\x0d\xb8\x00\x01\x00\x00\x00\x00"
    "\x00\x00\x00\x00\x00\x02\xc3\x50\x00\x16\x12\x34\x56\x78\x00\x00"
    "\x00\x00\x60\x02\x04\x00\x0c\x93\x00\x00\x02\x04\x04\xc4";

static void
ns_matches_scapy(void **state)
{
	struct rv_addr probe, server;
	struct rv_pkt pkt;
	uint8_t buf[RV_INJECT_FRAME_MAX];
	int n;

	(void)state;
	assert_int_equal(rv_addr_parse("2001:db8:1::fb", &probe), 0);
	assert_int_equal(rv_addr_parse("2001:db8:1::2", &server), 0);
	n = rv_inject_ns(buf, sizeof(buf), inject_mac, &probe, &server);
	assert_int_equal(n, sizeof(scapy_ns) - 1);
	assert_memory_equal(buf, scapy_ns, sizeof(scapy_ns) - 1);
	assert_int_equal(rv_pkt_parse(buf, (uint32_t)n, &pkt), RV_PKT_OTHER);
	assert_int_equal(pkt.ip_proto, 58);
	assert_int_equal(l4_sum(&pkt, pkt.l4, pkt.payload_len), 0xffff);
}

static void
ns_from_unspecified_matches_scapy(void **state)
{
	struct rv_addr none = { 0 }, server;
	uint8_t buf[RV_INJECT_FRAME_MAX];
	int n;

	(void)state;
	assert_int_equal(rv_addr_parse("2001:db8:1::2", &server), 0);
	n = rv_inject_ns(buf, sizeof(buf), inject_mac, &none, &server);
	assert_int_equal(n, sizeof(scapy_ns_unspecified) - 1);
	assert_memory_equal(buf, scapy_ns_unspecified,
	    sizeof(scapy_ns_unspecified) - 1);
}

static void
solicited_na_matches_scapy(void **state)
{
	struct rv_addr probe, requester;
	uint8_t buf[RV_INJECT_FRAME_MAX];
	int n;

	(void)state;
	assert_int_equal(rv_addr_parse("2001:db8:1::fb", &probe), 0);
	assert_int_equal(rv_addr_parse("fe80::2", &requester), 0);
	n = rv_inject_solicited_na(buf, sizeof(buf), inject_mac, &probe,
	    server_mac, &requester);
	assert_int_equal(n, sizeof(scapy_na) - 1);
	assert_memory_equal(buf, scapy_na, sizeof(scapy_na) - 1);
}

static void
syn_ipv6_matches_scapy(void **state)
{
	struct rv_inject_tcp t = probe_request("2001:db8:1::fb",
	    "2001:db8:1::2");
	uint8_t buf[RV_INJECT_FRAME_MAX];
	int n;

	(void)state;
	t.src.port = 50000;
	t.dst.port = 22;
	t.seq = 0x12345678;
	n = rv_inject_syn(buf, sizeof(buf), &t);
	assert_int_equal(n, sizeof(scapy_syn6) - 1);
	assert_memory_equal(buf, scapy_syn6, sizeof(scapy_syn6) - 1);
}

static void
nd_builders_reject_bad_requests(void **state)
{
	struct rv_addr v4, v6;
	uint8_t buf[RV_INJECT_FRAME_MAX];

	(void)state;
	assert_int_equal(rv_addr_parse("198.51.100.2", &v4), 0);
	assert_int_equal(rv_addr_parse("2001:db8:1::2", &v6), 0);
	assert_int_equal(rv_inject_ns(buf, sizeof(buf), inject_mac, &v6,
	    &v4), -EINVAL);
	assert_int_equal(rv_inject_ns(buf, sizeof(buf), inject_mac, &v4,
	    &v6), -EINVAL);
	assert_int_equal(rv_inject_ns(buf, 85, inject_mac, &v6, &v6),
	    -EINVAL);
	assert_int_equal(rv_inject_solicited_na(buf, sizeof(buf), inject_mac,
	    &v4, server_mac, &v6), -EINVAL);
	assert_int_equal(rv_inject_solicited_na(buf, sizeof(buf), inject_mac,
	    &v6, server_mac, &v4), -EINVAL);
	assert_int_equal(rv_inject_solicited_na(buf, 85, inject_mac, &v6,
	    server_mac, &v6), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(garp_parses_back),
		cmocka_unit_test(garp_rejects_ipv6),
		cmocka_unit_test(neighbour_advert_parses_back),
		cmocka_unit_test(ack_ipv4_with_timestamps),
		cmocka_unit_test(ack_ipv4_padded),
		cmocka_unit_test(ack_ipv6),
		cmocka_unit_test(ack_rejects_mixed_families),
		cmocka_unit_test(arp_probe_names_no_sender),
		cmocka_unit_test(arp_request_names_sender),
		cmocka_unit_test(arp_reply_goes_to_requester),
		cmocka_unit_test(arp_builders_reject_ipv6),
		cmocka_unit_test(syn_ipv4_parses_back),
		cmocka_unit_test(syn_ipv6_parses_back),
		cmocka_unit_test(rst_ipv4_parses_back),
		cmocka_unit_test(probe_segments_reject_bad_requests),
		cmocka_unit_test(ns_matches_scapy),
		cmocka_unit_test(ns_from_unspecified_matches_scapy),
		cmocka_unit_test(solicited_na_matches_scapy),
		cmocka_unit_test(syn_ipv6_matches_scapy),
		cmocka_unit_test(nd_builders_reject_bad_requests),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
