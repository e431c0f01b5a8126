/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <string.h>

#include "inject.h"
#include "pkt_parse.h"

#define ETH_LEN		14
#define IPV4_LEN	20
#define IPV6_LEN	40
#define TCP_LEN		20
#define TS_OPT_LEN	12	/* NOP, NOP, timestamps (RFC 7323 appendix A) */
#define MSS_OPT_LEN	4	/* kind 2, length 4, value (RFC 9293 3.2) */

static const uint8_t broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t zero_mac[6];

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Adds bytes to a ones' complement sum (RFC 1071). */
static uint32_t
csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t
csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Checksum of an upper-layer packet with the IPv4 or IPv6 pseudo-header
 * (RFC 9293 section 3.1, RFC 8200 section 8.1). */
static uint16_t
l4_csum(const struct rv_addr *src, const struct rv_addr *dst, uint8_t proto,
    const uint8_t *l4, size_t len)
{
	size_t alen = src->family == 4 ? 4 : 16;
	uint8_t tail[8] = { 0 };
	uint32_t sum = 0;

	sum = csum_add(sum, src->bytes, alen);
	sum = csum_add(sum, dst->bytes, alen);
	put32(tail, (uint32_t)len);
	tail[7] = proto;
	sum = csum_add(sum, tail, 8);
	return csum_fold(csum_add(sum, l4, len));
}

static void
put_eth(uint8_t *p, const uint8_t dst[6], const uint8_t src[6],
    uint16_t type)
{
	memcpy(p, dst, 6);
	memcpy(p + 6, src, 6);
	put16(p + 12, type);
}

static void
put_ipv4(uint8_t *p, const struct rv_addr *src, const struct rv_addr *dst,
    uint8_t proto, size_t payload)
{
	memset(p, 0, IPV4_LEN);
	p[0] = 0x45;
	put16(p + 2, (uint16_t)(IPV4_LEN + payload));
	p[6] = 0x40;			/* don't fragment */
	p[8] = 64;
	p[9] = proto;
	memcpy(p + 12, src->bytes, 4);
	memcpy(p + 16, dst->bytes, 4);
	put16(p + 10, csum_fold(csum_add(0, p, IPV4_LEN)));
}

static void
put_ipv6(uint8_t *p, const struct rv_addr *src, const struct rv_addr *dst,
    uint8_t proto, size_t payload, uint8_t hop_limit)
{
	memset(p, 0, IPV6_LEN);
	p[0] = 0x60;
	put16(p + 4, (uint16_t)payload);
	p[6] = proto;
	p[7] = hop_limit;
	memcpy(p + 8, src->bytes, 16);
	memcpy(p + 24, dst->bytes, 16);
}

/* Writes an Ethernet ARP packet for IPv4, padded to the Ethernet minimum
 * of 60 bytes. The caller checked that len is at least 60 bytes. */
static int
put_arp(uint8_t *buf, const uint8_t eth_dst[6], const uint8_t eth_src[6],
    uint16_t op, const uint8_t sha[6], const uint8_t spa[4],
    const uint8_t tha[6], const uint8_t tpa[4])
{
	uint8_t *arp = buf + ETH_LEN;

	memset(buf, 0, 60);
	put_eth(buf, eth_dst, eth_src, 0x0806);
	put16(arp, 1);			/* Ethernet */
	put16(arp + 2, 0x0800);		/* IPv4 */
	arp[4] = 6;
	arp[5] = 4;
	put16(arp + 6, op);
	memcpy(arp + 8, sha, 6);
	memcpy(arp + 14, spa, 4);
	memcpy(arp + 18, tha, 6);
	memcpy(arp + 24, tpa, 4);
	return 60;
}

int
rv_inject_garp(uint8_t *buf, size_t len, const uint8_t eth_src[6],
    const uint8_t mac[6], const struct rv_addr *ip)
{
	if (ip->family != 4 || len < 60)
		return -EINVAL;
	/* The target MAC stays zero in a request. */
	return put_arp(buf, broadcast, eth_src, 1, mac, ip->bytes, zero_mac,
	    ip->bytes);
}

int
rv_inject_arp_probe(uint8_t *buf, size_t len, const uint8_t mac[6],
    const struct rv_addr *ip)
{
	static const uint8_t no_ip[4] = { 0 };

	if (ip->family != 4 || len < 60)
		return -EINVAL;
	/* The sender's own IPv4 address is zero, so no neighbour cache
	 * learns from it. */
	return put_arp(buf, broadcast, mac, 1, mac, no_ip, zero_mac, ip->bytes);
}

int
rv_inject_arp_request(uint8_t *buf, size_t len, const uint8_t mac[6],
    const struct rv_addr *sender_ip, const struct rv_addr *target_ip)
{
	if (sender_ip->family != 4 || target_ip->family != 4 || len < 60)
		return -EINVAL;
	return put_arp(buf, broadcast, mac, 1, mac, sender_ip->bytes, zero_mac,
	    target_ip->bytes);
}

int
rv_inject_arp_reply(uint8_t *buf, size_t len, const uint8_t mac[6],
    const struct rv_addr *ip, const uint8_t target_mac[6],
    const struct rv_addr *target_ip)
{
	if (ip->family != 4 || target_ip->family != 4 || len < 60)
		return -EINVAL;
	return put_arp(buf, target_mac, mac, 2, mac, ip->bytes, target_mac,
	    target_ip->bytes);
}

int
rv_inject_unsolicited_na(uint8_t *buf, size_t len, const uint8_t eth_src[6],
    const uint8_t mac[6], const struct rv_addr *ip)
{
	static const uint8_t all_nodes_mac[6] = { 0x33, 0x33, 0, 0, 0, 1 };
	struct rv_addr all_nodes = { .family = 6, .bytes = { 0xff, 0x02,
	    [15] = 1 } };
	size_t icmp_len = 32;		/* header, target, one option */
	uint8_t *icmp = buf + ETH_LEN + IPV6_LEN;

	if (ip->family != 6 || len < ETH_LEN + IPV6_LEN + icmp_len)
		return -EINVAL;
	put_eth(buf, all_nodes_mac, eth_src, 0x86dd);
	/* Hop limit 255 is required on neighbour discovery (RFC 4861 7.1.2). */
	put_ipv6(buf + ETH_LEN, ip, &all_nodes, 58, icmp_len, 255);
	memset(icmp, 0, icmp_len);
	icmp[0] = 136;			/* neighbour advertisement */
	icmp[4] = 0x20;			/* Override */
	memcpy(icmp + 8, ip->bytes, 16);
	icmp[24] = 2;			/* target link-layer address */
	icmp[25] = 1;			/* length in units of 8 bytes */
	memcpy(icmp + 26, mac, 6);
	put16(icmp + 2, l4_csum(ip, &all_nodes, 58, icmp, icmp_len));
	return (int)(ETH_LEN + IPV6_LEN + icmp_len);
}

/* Writes the headers of an ICMPv6 neighbour discovery message of icmp_len
 * bytes; the caller fills the message and then calls nd_finish(). */
static uint8_t *
nd_start(uint8_t *buf, const uint8_t eth_dst[6], const uint8_t eth_src[6],
    const struct rv_addr *src, const struct rv_addr *dst, size_t icmp_len)
{
	uint8_t *icmp = buf + ETH_LEN + IPV6_LEN;

	put_eth(buf, eth_dst, eth_src, 0x86dd);
	/* A receiver drops neighbour discovery with any other hop limit, so
	 * it cannot come from beyond the link (RFC 4861 section 7.1.1). */
	put_ipv6(buf + ETH_LEN, src, dst, 58, icmp_len, 255);
	memset(icmp, 0, icmp_len);
	return icmp;
}

/* Sets the ICMPv6 checksum (RFC 4443 section 2.3) and returns the frame
 * length. */
static int
nd_finish(uint8_t *icmp, const struct rv_addr *src, const struct rv_addr *dst,
    size_t icmp_len)
{
	put16(icmp + 2, l4_csum(src, dst, 58, icmp, icmp_len));
	return (int)(ETH_LEN + IPV6_LEN + icmp_len);
}

int
rv_inject_ns(uint8_t *buf, size_t len, const uint8_t mac[6],
    const struct rv_addr *src, const struct rv_addr *target)
{
	struct rv_addr unspecified = { .family = 6 };
	struct rv_addr group = { .family = 6, .bytes = { 0xff, 0x02,
	    [11] = 1, [12] = 0xff } };
	uint8_t group_mac[6] = { 0x33, 0x33, 0xff };
	bool named = src->family == 6;
	/* Header and target; the source link-layer option only when the
	 * source is named (RFC 4861 section 4.3). */
	size_t icmp_len = named ? 32 : 24;
	uint8_t *icmp;

	if (target->family != 6 || (src->family != 0 && !named) ||
	    len < ETH_LEN + IPV6_LEN + icmp_len)
		return -EINVAL;
	/* ff02::1:ffXX:XXXX from the target's low 24 bits (RFC 4291 section
	 * 2.7.1), and its MAC 33:33 followed by the group's low 32 bits
	 * (RFC 2464 section 7). */
	memcpy(group.bytes + 13, target->bytes + 13, 3);
	memcpy(group_mac + 3, target->bytes + 13, 3);
	if (!named)
		src = &unspecified;
	icmp = nd_start(buf, group_mac, mac, src, &group, icmp_len);
	icmp[0] = 135;			/* neighbour solicitation */
	memcpy(icmp + 8, target->bytes, 16);
	if (named) {
		icmp[24] = 1;		/* source link-layer address */
		icmp[25] = 1;		/* length in units of 8 bytes */
		memcpy(icmp + 26, mac, 6);
	}
	return nd_finish(icmp, src, &group, icmp_len);
}

int
rv_inject_solicited_na(uint8_t *buf, size_t len, const uint8_t mac[6],
    const struct rv_addr *ip, const uint8_t target_mac[6],
    const struct rv_addr *target_ip)
{
	size_t icmp_len = 32;		/* header, target, one option */
	uint8_t *icmp;

	if (ip->family != 6 || target_ip->family != 6 ||
	    len < ETH_LEN + IPV6_LEN + icmp_len)
		return -EINVAL;
	icmp = nd_start(buf, target_mac, mac, ip, target_ip, icmp_len);
	icmp[0] = 136;			/* neighbour advertisement */
	icmp[4] = 0x60;			/* Solicited, Override */
	memcpy(icmp + 8, ip->bytes, 16);
	icmp[24] = 2;			/* target link-layer address */
	icmp[25] = 1;
	memcpy(icmp + 26, mac, 6);
	return nd_finish(icmp, ip, target_ip, icmp_len);
}

int
rv_inject_ack(uint8_t *buf, size_t len, const struct rv_inject_ack *a)
{
	const struct rv_addr *src = &a->server.addr, *dst = &a->client.addr;
	size_t l3 = src->family == 4 ? IPV4_LEN : IPV6_LEN;
	size_t tcp_len = TCP_LEN + (a->timestamps ? TS_OPT_LEN : 0);
	size_t frame = ETH_LEN + l3 + tcp_len;
	uint8_t *tcp = buf + ETH_LEN + l3;

	if (src->family != dst->family || (src->family != 4 &&
	    src->family != 6) || len < frame || len < 60)
		return -EINVAL;
	put_eth(buf, a->dst_mac, a->src_mac, src->family == 4 ? 0x0800 :
	    0x86dd);
	if (src->family == 4)
		put_ipv4(buf + ETH_LEN, src, dst, 6, tcp_len);
	else
		put_ipv6(buf + ETH_LEN, src, dst, 6, tcp_len, 64);
	memset(tcp, 0, tcp_len);
	put16(tcp, a->server.port);
	put16(tcp + 2, a->client.port);
	put32(tcp + 4, a->seq);
	put32(tcp + 8, a->ack);
	tcp[12] = (uint8_t)((tcp_len / 4) << 4);
	tcp[13] = 0x10;			/* ACK */
	put16(tcp + 14, a->window);
	if (a->timestamps) {
		tcp[20] = 1;
		tcp[21] = 1;
		tcp[22] = 8;
		tcp[23] = 10;
		put32(tcp + 24, a->tsval);
		put32(tcp + 28, a->tsecr);
	}
	put16(tcp + 16, l4_csum(src, dst, 6, tcp, tcp_len));
	if (frame < 60) {
		memset(buf + frame, 0, 60 - frame);
		frame = 60;
	}
	return (int)frame;
}

/* Writes a TCP segment of a SYN probe without payload or ACK. */
static int
put_probe_segment(uint8_t *buf, size_t len, const struct rv_inject_tcp *t,
    uint8_t flags)
{
	const struct rv_addr *src = &t->src.addr, *dst = &t->dst.addr;
	size_t l3 = src->family == 4 ? IPV4_LEN : IPV6_LEN;
	size_t tcp_len = TCP_LEN + (flags == RV_TCP_SYN ? MSS_OPT_LEN : 0);
	size_t frame = ETH_LEN + l3 + tcp_len;
	uint8_t *tcp = buf + ETH_LEN + l3;

	if (src->family != dst->family || (src->family != 4 &&
	    src->family != 6) || len < frame || len < 60)
		return -EINVAL;
	put_eth(buf, t->dst_mac, t->src_mac, src->family == 4 ? 0x0800 :
	    0x86dd);
	if (src->family == 4)
		put_ipv4(buf + ETH_LEN, src, dst, 6, tcp_len);
	else
		put_ipv6(buf + ETH_LEN, src, dst, 6, tcp_len, 64);
	memset(tcp, 0, tcp_len);
	put16(tcp, t->src.port);
	put16(tcp + 2, t->dst.port);
	put32(tcp + 4, t->seq);
	tcp[12] = (uint8_t)((tcp_len / 4) << 4);
	tcp[13] = flags;
	if (flags == RV_TCP_SYN) {
		put16(tcp + 14, 1024);
		tcp[20] = 2;
		tcp[21] = 4;
		put16(tcp + 22, src->family == 4 ? 536 : 1220);
	}
	put16(tcp + 16, l4_csum(src, dst, 6, tcp, tcp_len));
	if (frame < 60) {
		memset(buf + frame, 0, 60 - frame);
		frame = 60;
	}
	return (int)frame;
}

int
rv_inject_syn(uint8_t *buf, size_t len, const struct rv_inject_tcp *t)
{
	return put_probe_segment(buf, len, t, RV_TCP_SYN);
}

int
rv_inject_rst(uint8_t *buf, size_t len, const struct rv_inject_tcp *t)
{
	return put_probe_segment(buf, len, t, RV_TCP_RST);
}
