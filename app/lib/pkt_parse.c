/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Header parser of the capture path. Every read is preceded by a bounds
 * check against one of two limits: the captured end of the frame, and the
 * end that the IP length fields claim. A header that crosses the first was
 * cut by the capture and gives a *_TRUNCATED result; payload that crosses
 * it only sets the truncated flag. Crossing the second is malformed.
 */

#include <endian.h>
#include <stddef.h>
#include <string.h>

#include "pkt_parse.h"

#define ETH_HDR_LEN		14
#define VLAN_TAG_LEN		4
#define ARP_IPV4_LEN		28
#define IPV4_MIN_HDR_LEN	20
#define IPV6_HDR_LEN		40
#define IPV6_FRAG_HDR_LEN	8
#define TCP_MIN_HDR_LEN		20
#define UDP_HDR_LEN		8

#define ETHERTYPE_IPV4		0x0800
#define ETHERTYPE_ARP		0x0806
#define ETHERTYPE_VLAN		0x8100
#define ETHERTYPE_QINQ		0x88a8
#define ETHERTYPE_IPV6		0x86dd

#define IPPROTO_NUM_HOPOPTS	0
#define IPPROTO_NUM_TCP		6
#define IPPROTO_NUM_UDP		17
#define IPPROTO_NUM_ROUTING	43
#define IPPROTO_NUM_FRAGMENT	44
#define IPPROTO_NUM_AH		51
#define IPPROTO_NUM_DSTOPTS	60

#define TCPOPT_EOL		0
#define TCPOPT_NOP		1
#define TCPOPT_MSS		2
#define TCPOPT_WSCALE		3
#define TCPOPT_SACK_PERMITTED	4
#define TCPOPT_SACK		5
#define TCPOPT_TIMESTAMP	8

/*
 * Bounds of the IP packet being parsed, as offsets from the frame start:
 * cap_end is where the captured bytes stop, ip_end where the IP length
 * fields claim the packet stops. Either may be the smaller one.
 */
struct ip_bounds {
	uint32_t cap_end;
	uint32_t ip_end;
};

static inline uint16_t
load_be16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return be16toh(v);
}

static inline uint32_t
load_be32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return be32toh(v);
}

static inline uint32_t
min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

/* Points the payload at [off, ip_end), cut to what was captured. */
static inline void
set_payload(const uint8_t *frame, uint32_t off, const struct ip_bounds *b,
    struct rv_pkt *pkt)
{
	pkt->payload = frame + off;
	pkt->wire_payload_len = b->ip_end - off;
	pkt->payload_len = min_u32(b->cap_end, b->ip_end) - off;
	pkt->truncated = b->cap_end < b->ip_end;
}

/* Whole frame after the L2 header, for protocols without a length. */
static inline void
set_payload_rest(const uint8_t *frame, uint32_t off, uint32_t frame_len,
    struct rv_pkt *pkt)
{
	pkt->payload = frame + off;
	pkt->payload_len = frame_len - off;
	pkt->wire_payload_len = frame_len - off;
	pkt->truncated = false;
}

/*
 * Stores one option whose length byte is known to be in bounds. Returns
 * false when its length does not match its kind (RFC 9293 section 3.2 for
 * MSS, RFC 7323 sections 2.2 and 3.2, RFC 2018 sections 2 and 3).
 */
static inline bool
store_tcp_option(uint8_t kind, const uint8_t *p, uint32_t len,
    struct rv_tcp_opts *o)
{
	uint32_t i, n;

	switch (kind) {
	case TCPOPT_MSS:
		if (len != 4)
			return false;
		o->has_mss = true;
		o->mss = load_be16(p + 2);
		return true;
	case TCPOPT_WSCALE:
		if (len != 3)
			return false;
		o->has_wscale = true;
		o->wscale = p[2];
		if (o->wscale > RV_TCP_MAX_WSCALE) {
			o->wscale = RV_TCP_MAX_WSCALE;
			o->wscale_clamped = true;
		}
		return true;
	case TCPOPT_SACK_PERMITTED:
		if (len != 2)
			return false;
		o->sack_permitted = true;
		return true;
	case TCPOPT_SACK:
		if (len < 10 || (len - 2) % 8 != 0)
			return false;
		n = min_u32((len - 2) / 8, RV_TCP_MAX_SACK);
		for (i = 0; i < n; i++) {
			o->sack[i][0] = load_be32(p + 2 + 8 * i);
			o->sack[i][1] = load_be32(p + 6 + 8 * i);
		}
		o->n_sack = (uint8_t)n;
		return true;
	case TCPOPT_TIMESTAMP:
		if (len != 10)
			return false;
		o->has_ts = true;
		o->tsval = load_be32(p + 2);
		o->tsecr = load_be32(p + 6);
		return true;
	default:
		/* Unknown kinds are skipped by their length (RFC 9293 3.2). */
		return true;
	}
}

/*
 * Walks the option bytes p[0..len). A length byte that is missing, below 2
 * or past the header stops the walk, since nothing after it can be framed.
 */
static inline void
parse_tcp_options(const uint8_t *p, uint32_t len, struct rv_tcp_opts *o)
{
	uint32_t i = 0, opt_len;
	uint8_t kind;

	o->has_mss = false;
	o->has_wscale = false;
	o->sack_permitted = false;
	o->has_ts = false;
	o->malformed = false;
	o->wscale_clamped = false;
	o->n_sack = 0;

	/* The layout Linux sends on every segment after the handshake when
	 * timestamps are on: NOP, NOP, timestamps. The walk below decodes it
	 * the same way, one option at a time. */
	if (len == 12 && p[0] == TCPOPT_NOP && p[1] == TCPOPT_NOP &&
	    p[2] == TCPOPT_TIMESTAMP && p[3] == 10) {
		o->has_ts = true;
		o->tsval = load_be32(p + 4);
		o->tsecr = load_be32(p + 8);
		return;
	}
	while (i < len) {
		kind = p[i];
		if (kind == TCPOPT_EOL)
			break;
		if (kind == TCPOPT_NOP) {
			i++;
			continue;
		}
		if (len - i < 2) {
			o->malformed = true;
			break;
		}
		opt_len = p[i + 1];
		if (opt_len < 2 || opt_len > len - i) {
			o->malformed = true;
			break;
		}
		if (!store_tcp_option(kind, p + i, opt_len, o))
			o->malformed = true;
		i += opt_len;
	}
}

/* RFC 9293 section 3.1: data offset in 32-bit words, at least 5. */
static int
parse_tcp(const uint8_t *frame, uint32_t off, const struct ip_bounds *b,
    struct rv_pkt *pkt)
{
	const uint8_t *th = frame + off;
	uint32_t hdr_len;

	if (b->ip_end - off < TCP_MIN_HDR_LEN)
		return -RV_PKT_ERR_TCP_SHORT_SEGMENT;
	if (b->cap_end < off + TCP_MIN_HDR_LEN)
		return -RV_PKT_ERR_TCP_TRUNCATED;
	hdr_len = (uint32_t)(th[12] >> 4) * 4;
	if (hdr_len < TCP_MIN_HDR_LEN || hdr_len > b->ip_end - off)
		return -RV_PKT_ERR_TCP_BAD_DATA_OFFSET;
	if (b->cap_end < off + hdr_len)
		return -RV_PKT_ERR_TCP_TRUNCATED;

	pkt->sport = load_be16(th);
	pkt->dport = load_be16(th + 2);
	pkt->seq = load_be32(th + 4);
	pkt->ack = load_be32(th + 8);
	pkt->tcp_flags = th[13];
	pkt->window = load_be16(th + 14);
	pkt->urg_ptr = load_be16(th + 18);
	pkt->tcp_hdr_len = (uint8_t)hdr_len;
	parse_tcp_options(th + TCP_MIN_HDR_LEN, hdr_len - TCP_MIN_HDR_LEN,
	    &pkt->opts);
	set_payload(frame, off + hdr_len, b, pkt);
	return RV_PKT_TCP;
}

/*
 * RFC 768: the length field counts header and data. It must match the IP
 * payload exactly, because bytes after a shorter UDP length belong to no
 * layer, and the checkpoint datagrams this path reads never carry any.
 */
static int
parse_udp(const uint8_t *frame, uint32_t off, const struct ip_bounds *b,
    struct rv_pkt *pkt)
{
	const uint8_t *uh = frame + off;

	if (b->ip_end - off < UDP_HDR_LEN)
		return -RV_PKT_ERR_UDP_SHORT_DATAGRAM;
	if (b->cap_end < off + UDP_HDR_LEN)
		return -RV_PKT_ERR_UDP_TRUNCATED;
	if (load_be16(uh + 4) != b->ip_end - off)
		return -RV_PKT_ERR_UDP_BAD_LENGTH;

	pkt->sport = load_be16(uh);
	pkt->dport = load_be16(uh + 2);
	set_payload(frame, off + UDP_HDR_LEN, b, pkt);
	return RV_PKT_UDP;
}

static inline int
parse_l4(const uint8_t *frame, uint32_t off, const struct ip_bounds *b,
    struct rv_pkt *pkt)
{
	pkt->l4 = frame + off;
	switch (pkt->ip_proto) {
	case IPPROTO_NUM_TCP:
		return parse_tcp(frame, off, b, pkt);
	case IPPROTO_NUM_UDP:
		return parse_udp(frame, off, b, pkt);
	default:
		set_payload(frame, off, b, pkt);
		return RV_PKT_OTHER;
	}
}

/*
 * RFC 791 section 3.1. The header must be whole in the capture; the rest
 * of the packet may be cut, which parse_l4() reports.
 */
static int
parse_ipv4(const uint8_t *frame, uint32_t off, uint32_t frame_len,
    struct rv_pkt *pkt)
{
	const uint8_t *ip = frame + off;
	struct ip_bounds b;
	uint32_t hdr_len, total_len;
	uint16_t frag;

	if (frame_len - off < IPV4_MIN_HDR_LEN)
		return -RV_PKT_ERR_IPV4_TRUNCATED;
	if ((ip[0] >> 4) != 4)
		return -RV_PKT_ERR_IPV4_BAD_VERSION;
	hdr_len = (uint32_t)(ip[0] & 0x0f) * 4;
	if (hdr_len < IPV4_MIN_HDR_LEN)
		return -RV_PKT_ERR_IPV4_BAD_IHL;
	total_len = load_be16(ip + 2);
	if (total_len < hdr_len)
		return -RV_PKT_ERR_IPV4_BAD_TOTAL_LEN;
	if (frame_len - off < hdr_len)
		return -RV_PKT_ERR_IPV4_TRUNCATED;

	pkt->ip_version = 4;
	pkt->ttl = ip[8];
	pkt->ip_proto = ip[9];
	pkt->l3_len = (uint16_t)hdr_len;
	memcpy(pkt->src, ip + 12, 4);
	memset(pkt->src + 4, 0, 12);
	memcpy(pkt->dst, ip + 16, 4);
	memset(pkt->dst + 4, 0, 12);

	/* More-fragments flag or a non-zero offset: a piece of a datagram. */
	frag = load_be16(ip + 6);
	if ((frag & 0x3fff) != 0)
		return -RV_PKT_ERR_IPV4_FRAGMENT;

	b.cap_end = frame_len;
	b.ip_end = off + total_len;
	return parse_l4(frame, off + hdr_len, &b, pkt);
}

/*
 * Walks the IPv6 extension headers from *off with first next-header value
 * *next (RFC 8200 section 4). On success *off is the upper-layer header
 * and *next its protocol. ESP (50), No Next Header (59) and protocols not
 * listed here end the walk as upper layers, so they come out as OTHER.
 */
static int
walk_ipv6_ext(const uint8_t *frame, uint32_t *off, uint8_t *next,
    const struct ip_bounds *b)
{
	const uint8_t *h;
	uint32_t n, len;
	uint16_t frag;

	for (n = 0;; n++) {
		switch (*next) {
		case IPPROTO_NUM_HOPOPTS:
		case IPPROTO_NUM_ROUTING:
		case IPPROTO_NUM_DSTOPTS:
		case IPPROTO_NUM_AH:
		case IPPROTO_NUM_FRAGMENT:
			break;
		default:
			return 0;
		}
		/* RFC 8200 section 4.1: hop-by-hop only right after the header. */
		if (*next == IPPROTO_NUM_HOPOPTS && n != 0)
			return -RV_PKT_ERR_IPV6_HOP_BY_HOP_NOT_FIRST;
		if (n == RV_PKT_IPV6_MAX_EXT)
			return -RV_PKT_ERR_IPV6_EXT_CHAIN_TOO_LONG;
		if (b->ip_end - *off < 2)
			return -RV_PKT_ERR_IPV6_BAD_EXT_LEN;
		if (b->cap_end - *off < 2)
			return -RV_PKT_ERR_IPV6_TRUNCATED;
		h = frame + *off;

		if (*next == IPPROTO_NUM_FRAGMENT)
			len = IPV6_FRAG_HDR_LEN;
		else if (*next == IPPROTO_NUM_AH)
			len = ((uint32_t)h[1] + 2) * 4;	/* RFC 4302 2.2 */
		else
			len = ((uint32_t)h[1] + 1) * 8;	/* RFC 8200 4.3 */
		if (b->ip_end - *off < len)
			return -RV_PKT_ERR_IPV6_BAD_EXT_LEN;
		if (b->cap_end - *off < len)
			return -RV_PKT_ERR_IPV6_TRUNCATED;

		if (*next == IPPROTO_NUM_FRAGMENT) {
			/*
			 * Offset 0 without the M flag is an atomic fragment,
			 * a whole packet to process as one (RFC 6946 section 4).
			 */
			frag = load_be16(h + 2);
			if ((frag & 0xfff9) != 0) {
				*next = h[0];
				return -RV_PKT_ERR_IPV6_FRAGMENT;
			}
		}
		*next = h[0];
		*off += len;
	}
}

/* RFC 8200 section 3. The fixed header must be whole in the capture. */
static int
parse_ipv6(const uint8_t *frame, uint32_t off, uint32_t frame_len,
    struct rv_pkt *pkt)
{
	const uint8_t *ip = frame + off;
	struct ip_bounds b;
	uint32_t l4_off;
	uint8_t next;
	int ret;

	if (frame_len - off < IPV6_HDR_LEN)
		return -RV_PKT_ERR_IPV6_TRUNCATED;
	if ((ip[0] >> 4) != 6)
		return -RV_PKT_ERR_IPV6_BAD_VERSION;

	pkt->ip_version = 6;
	pkt->ttl = ip[7];
	memcpy(pkt->src, ip + 8, 16);
	memcpy(pkt->dst, ip + 24, 16);

	b.cap_end = frame_len;
	b.ip_end = off + IPV6_HDR_LEN + load_be16(ip + 4);
	l4_off = off + IPV6_HDR_LEN;
	next = ip[6];
	ret = walk_ipv6_ext(frame, &l4_off, &next, &b);
	pkt->ip_proto = next;
	pkt->l3_len = (uint16_t)(l4_off - off);
	if (ret < 0)
		return ret;
	return parse_l4(frame, l4_off, &b, pkt);
}

/*
 * RFC 826. Only Ethernet hardware (1) with IPv4 (0x0800) is decoded, and
 * then the address lengths must be 6 and 4. Other pairs are not ours.
 */
static int
parse_arp(const uint8_t *frame, uint32_t off, uint32_t frame_len,
    struct rv_pkt *pkt)
{
	const uint8_t *a = frame + off;

	if (frame_len - off < 8)
		return -RV_PKT_ERR_ARP_TRUNCATED;
	if (load_be16(a) != 1 || load_be16(a + 2) != ETHERTYPE_IPV4) {
		set_payload_rest(frame, off, frame_len, pkt);
		return RV_PKT_OTHER;
	}
	if (a[4] != 6 || a[5] != 4)
		return -RV_PKT_ERR_ARP_BAD_ADDR_LEN;
	if (frame_len - off < ARP_IPV4_LEN)
		return -RV_PKT_ERR_ARP_TRUNCATED;

	pkt->arp.op = load_be16(a + 6);
	memcpy(pkt->arp.sha, a + 8, 6);
	memcpy(pkt->arp.spa, a + 14, 4);
	memcpy(pkt->arp.tha, a + 18, 6);
	memcpy(pkt->arp.tpa, a + 24, 4);
	pkt->payload = a;
	pkt->payload_len = ARP_IPV4_LEN;
	pkt->wire_payload_len = ARP_IPV4_LEN;
	pkt->truncated = false;
	return RV_PKT_ARP;
}

/*
 * Ethernet II with up to two 802.1Q or 802.1ad tags in any order of the
 * two TPIDs. Sets the L2 fields and returns the L3 offset, or a negative
 * error.
 */
static inline int
parse_l2(const uint8_t *frame, uint32_t frame_len, struct rv_pkt *pkt)
{
	uint32_t off = ETH_HDR_LEN;
	uint16_t type;

	if (frame_len < ETH_HDR_LEN)
		return -RV_PKT_ERR_ETH_TRUNCATED;
	type = load_be16(frame + 12);
	pkt->n_vlans = 0;
	while (type == ETHERTYPE_VLAN || type == ETHERTYPE_QINQ) {
		if (pkt->n_vlans == 2)
			return -RV_PKT_ERR_TOO_MANY_VLANS;
		if (frame_len - off < VLAN_TAG_LEN)
			return -RV_PKT_ERR_VLAN_TRUNCATED;
		pkt->vlan[pkt->n_vlans++] = load_be16(frame + off) & 0x0fff;
		type = load_be16(frame + off + 2);
		off += VLAN_TAG_LEN;
	}
	pkt->ethertype = type;
	pkt->l3 = frame + off;
	return (int)off;
}

int
rv_pkt_parse(const uint8_t *frame, uint32_t frame_len, struct rv_pkt *pkt)
{
	int off;

	off = parse_l2(frame, frame_len, pkt);
	if (off < 0)
		return off;

	switch (pkt->ethertype) {
	case ETHERTYPE_IPV4:
		return parse_ipv4(frame, (uint32_t)off, frame_len, pkt);
	case ETHERTYPE_IPV6:
		return parse_ipv6(frame, (uint32_t)off, frame_len, pkt);
	case ETHERTYPE_ARP:
		pkt->ip_version = 0;
		return parse_arp(frame, (uint32_t)off, frame_len, pkt);
	default:
		/* Other ethertypes, and 802.3 length fields (below 0x0600). */
		pkt->ip_version = 0;
		set_payload_rest(frame, (uint32_t)off, frame_len, pkt);
		return RV_PKT_OTHER;
	}
}

bool
rv_pkt_ipv4_csum_ok(const struct rv_pkt *pkt)
{
	uint32_t sum = 0, i;

	if (pkt->ip_version != 4)
		return false;
	for (i = 0; i + 1 < pkt->l3_len; i += 2)
		sum += load_be16(pkt->l3 + i);
	while (sum > 0xffff)
		sum = (sum & 0xffff) + (sum >> 16);
	/* A correct header sums to all ones in ones' complement. */
	return sum == 0xffff;
}

struct err_text {
	const char *name;
	const char *message;
};

static const struct err_text err_texts[RV_PKT_ERR__COUNT] = {
	[RV_PKT_ERR_ETH_TRUNCATED] = { "eth_truncated",
	    "frame is shorter than the 14-byte Ethernet header" },
	[RV_PKT_ERR_VLAN_TRUNCATED] = { "vlan_truncated",
	    "frame ends inside a VLAN tag" },
	[RV_PKT_ERR_TOO_MANY_VLANS] = { "too_many_vlans",
	    "frame has more than 2 VLAN tags" },
	[RV_PKT_ERR_ARP_TRUNCATED] = { "arp_truncated",
	    "frame ends inside the ARP packet" },
	[RV_PKT_ERR_ARP_BAD_ADDR_LEN] = { "arp_bad_addr_len",
	    "ARP for IPv4 over Ethernet has address lengths other than 6 and 4" },
	[RV_PKT_ERR_IPV4_TRUNCATED] = { "ipv4_truncated",
	    "frame ends inside the IPv4 header" },
	[RV_PKT_ERR_IPV4_BAD_VERSION] = { "ipv4_bad_version",
	    "IPv4 ethertype carries an IP version other than 4" },
	[RV_PKT_ERR_IPV4_BAD_IHL] = { "ipv4_bad_ihl",
	    "IPv4 header length (IHL) is below 5 words" },
	[RV_PKT_ERR_IPV4_BAD_TOTAL_LEN] = { "ipv4_bad_total_len",
	    "IPv4 total length is smaller than the header length" },
	[RV_PKT_ERR_IPV4_FRAGMENT] = { "ipv4_fragment",
	    "IPv4 packet is a fragment and is not tracked" },
	[RV_PKT_ERR_IPV6_TRUNCATED] = { "ipv6_truncated",
	    "frame ends inside the IPv6 header or an extension header" },
	[RV_PKT_ERR_IPV6_BAD_VERSION] = { "ipv6_bad_version",
	    "IPv6 ethertype carries an IP version other than 6" },
	[RV_PKT_ERR_IPV6_BAD_EXT_LEN] = { "ipv6_bad_ext_len",
	    "IPv6 extension header runs past the payload length" },
	[RV_PKT_ERR_IPV6_HOP_BY_HOP_NOT_FIRST] = { "ipv6_hop_by_hop_not_first",
	    "IPv6 hop-by-hop options header is not the first extension" },
	[RV_PKT_ERR_IPV6_EXT_CHAIN_TOO_LONG] = { "ipv6_ext_chain_too_long",
	    "IPv6 packet has more than 8 extension headers" },
	[RV_PKT_ERR_IPV6_FRAGMENT] = { "ipv6_fragment",
	    "IPv6 packet is a fragment and is not tracked" },
	[RV_PKT_ERR_TCP_TRUNCATED] = { "tcp_truncated",
	    "frame ends inside the TCP header" },
	[RV_PKT_ERR_TCP_SHORT_SEGMENT] = { "tcp_short_segment",
	    "IP length leaves fewer than 20 bytes for the TCP header" },
	[RV_PKT_ERR_TCP_BAD_DATA_OFFSET] = { "tcp_bad_data_offset",
	    "TCP data offset is below 5 words or past the segment end" },
	[RV_PKT_ERR_TCP_BAD_OPTION] = { "tcp_bad_option",
	    "TCP option has an invalid length; options after it were ignored" },
	[RV_PKT_ERR_UDP_TRUNCATED] = { "udp_truncated",
	    "frame ends inside the UDP header" },
	[RV_PKT_ERR_UDP_SHORT_DATAGRAM] = { "udp_short_datagram",
	    "IP length leaves fewer than 8 bytes for the UDP header" },
	[RV_PKT_ERR_UDP_BAD_LENGTH] = { "udp_bad_length",
	    "UDP length differs from the IP payload length" },
};

static const struct err_text *
err_text(int err)
{
	/* Positive values are results, not errors. */
	if (err >= 0 || err <= -RV_PKT_ERR__COUNT)
		return NULL;
	return &err_texts[-err];
}

const char *
rv_pkt_err_name(int err)
{
	const struct err_text *t = err_text(err);

	return t != NULL ? t->name : "unknown";
}

const char *
rv_pkt_err_message(int err)
{
	const struct err_text *t = err_text(err);

	return t != NULL ? t->message : "unknown packet parse result";
}
