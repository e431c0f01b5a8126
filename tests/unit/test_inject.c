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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
