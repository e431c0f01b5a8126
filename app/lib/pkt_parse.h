/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef RV_PKT_PARSE_H
#define RV_PKT_PARSE_H

/*
 * Header parser for the frames that the capture path reads from the mirror
 * port. It decodes Ethernet II with up to two VLAN tags, ARP for IPv4 over
 * Ethernet, IPv4, IPv6 with its extension header chain, TCP with its
 * options, and UDP. It never reads outside [frame, frame + frame_len),
 * allocates nothing, logs nothing and keeps no state, so any thread or lcore
 * may call it at the same time on different frames.
 *
 * The parser does not verify checksums: the mirror copies what the wire
 * carried, and a bad checksum only means the receiver will drop the
 * segment. rv_pkt_ipv4_csum_ok() checks the IPv4 header checksum for
 * callers that want to count bad ones.
 */

#include <stdbool.h>
#include <stdint.h>

/* Result of rv_pkt_parse() for a frame that parsed cleanly. */
enum rv_pkt_kind {
	RV_PKT_TCP = 1,
	RV_PKT_UDP,
	RV_PKT_ARP,
	/* Valid but not tracked: another ethertype, IP protocol or ARP type. */
	RV_PKT_OTHER,
};

/*
 * Reasons to reject a frame. rv_pkt_parse() returns them negated, so
 * "counters[-ret]" counts them in an array of RV_PKT_ERR__COUNT entries
 * (entry 0 unused). A *_TRUNCATED code means that the capture cut a header
 * short, so the frame was incomplete rather than malformed.
 */
enum rv_pkt_err {
	RV_PKT_ERR_ETH_TRUNCATED = 1,
	RV_PKT_ERR_VLAN_TRUNCATED,
	RV_PKT_ERR_TOO_MANY_VLANS,
	RV_PKT_ERR_ARP_TRUNCATED,
	RV_PKT_ERR_ARP_BAD_ADDR_LEN,
	RV_PKT_ERR_IPV4_TRUNCATED,
	RV_PKT_ERR_IPV4_BAD_VERSION,
	RV_PKT_ERR_IPV4_BAD_IHL,
	RV_PKT_ERR_IPV4_BAD_TOTAL_LEN,
	RV_PKT_ERR_IPV4_FRAGMENT,
	RV_PKT_ERR_IPV6_TRUNCATED,
	RV_PKT_ERR_IPV6_BAD_VERSION,
	RV_PKT_ERR_IPV6_BAD_EXT_LEN,
	RV_PKT_ERR_IPV6_HOP_BY_HOP_NOT_FIRST,
	RV_PKT_ERR_IPV6_EXT_CHAIN_TOO_LONG,
	RV_PKT_ERR_IPV6_FRAGMENT,
	RV_PKT_ERR_TCP_TRUNCATED,
	RV_PKT_ERR_TCP_SHORT_SEGMENT,
	RV_PKT_ERR_TCP_BAD_DATA_OFFSET,
	/*
	 * Never returned by rv_pkt_parse(). It names the counter for a TCP
	 * segment returned as RV_PKT_TCP with opts.malformed set, so that one
	 * counter array covers every problem the parser reports.
	 */
	RV_PKT_ERR_TCP_BAD_OPTION,
	RV_PKT_ERR_UDP_TRUNCATED,
	RV_PKT_ERR_UDP_SHORT_DATAGRAM,
	RV_PKT_ERR_UDP_BAD_LENGTH,
	RV_PKT_ERR__COUNT
};

/* Maximum number of IPv6 extension headers walked before giving up. */
#define RV_PKT_IPV6_MAX_EXT	8

/* Maximum number of SACK blocks one option can hold in 40 option bytes. */
#define RV_TCP_MAX_SACK		4

/* Largest window scale shift allowed by RFC 7323 section 2.3. */
#define RV_TCP_MAX_WSCALE	14

/* TCP header flags, as in byte 13 of the header (RFC 9293 section 3.1). */
#define RV_TCP_FIN	0x01
#define RV_TCP_SYN	0x02
#define RV_TCP_RST	0x04
#define RV_TCP_PSH	0x08
#define RV_TCP_ACK	0x10
#define RV_TCP_URG	0x20
#define RV_TCP_ECE	0x40
#define RV_TCP_CWR	0x80

/*
 * TCP options found in one segment. Every has_* flag, sack_permitted,
 * malformed, wscale_clamped and n_sack is set on each RV_PKT_TCP result;
 * a value field is valid only when its flag is set.
 */
struct rv_tcp_opts {
	bool has_mss;
	bool has_wscale;
	bool sack_permitted;
	bool has_ts;
	/*
	 * An option had a length byte below 2, ran past the header, or had
	 * the wrong length for its kind. Options before it are kept, and a
	 * known kind with a wrong but in-bounds length is skipped.
	 */
	bool malformed;
	/* The peer sent a shift above 14, so wscale is 14 (RFC 7323 2.3). */
	bool wscale_clamped;
	uint8_t n_sack;		/* SACK blocks stored in sack[], 0 to 4 */
	uint8_t wscale;		/* window scale shift count, 0 to 14 */
	uint16_t mss;		/* maximum segment size, bytes */
	uint32_t tsval;		/* timestamp value, peer's clock ticks */
	uint32_t tsecr;		/* timestamp echo reply */
	uint32_t sack[RV_TCP_MAX_SACK][2];	/* left and right edge */
};

/* An ARP packet for IPv4 over Ethernet (RFC 826). */
struct rv_arp {
	uint16_t op;		/* 1 request, 2 reply */
	uint8_t sha[6];		/* sender hardware (MAC) address */
	uint8_t spa[4];		/* sender IPv4 address, network byte order */
	uint8_t tha[6];		/* target hardware (MAC) address */
	uint8_t tpa[4];		/* target IPv4 address, network byte order */
};

/*
 * Parsed headers of one frame. Numbers are in host byte order; addresses
 * are byte arrays in network byte order, as on the wire. The parser
 * writes only the fields that the result uses, so fields of other kinds
 * keep stale values from earlier frames:
 *   - every result >= 0: the L2 fields and the payload fields;
 *   - RV_PKT_ARP: arp;
 *   - IP results (TCP, UDP, OTHER with ip_version != 0) and the two
 *     fragment errors: the L3 fields;
 *   - RV_PKT_TCP: sport, dport and the TCP fields; RV_PKT_UDP: sport, dport.
 * After any other negative result the contents are unspecified.
 */
struct rv_pkt {
	/* L2 */
	uint8_t n_vlans;	/* VLAN tags found, 0 to 2 */
	uint16_t vlan[2];	/* VLAN ids (12 bits), outer first; n_vlans set */
	uint16_t ethertype;	/* after the VLAN tags */
	const uint8_t *l3;	/* first byte after the Ethernet header and tags */

	/* L3: ip_version is 0 for a frame that is not IP */
	uint8_t ip_version;	/* 4 or 6 */
	uint8_t ip_proto;	/* upper-layer protocol after IPv6 extensions */
	uint8_t ttl;		/* IPv4 TTL or IPv6 hop limit */
	uint16_t l3_len;	/* IP header bytes, options and extensions included */
	uint8_t src[16];	/* IPv4 uses the first 4 bytes, the rest is zero */
	uint8_t dst[16];
	const uint8_t *l4;	/* first byte after the IP header */

	/* TCP and UDP */
	uint16_t sport;
	uint16_t dport;

	/* TCP */
	uint32_t seq;
	uint32_t ack;
	uint16_t window;	/* raw field, not scaled */
	uint16_t urg_ptr;
	uint8_t tcp_flags;	/* RV_TCP_* bits */
	uint8_t tcp_hdr_len;	/* bytes, options included, 20 to 60 */
	struct rv_tcp_opts opts;

	/*
	 * Payload: the TCP or UDP data. For RV_PKT_OTHER over IP it is the
	 * bytes after the IP header, for ARP the ARP packet, and for another
	 * ethertype the rest of the frame, padding included. IP lengths, not
	 * the frame length, set the end, because Ethernet pads short frames.
	 */
	const uint8_t *payload;
	uint32_t payload_len;	/* bytes present in the frame */
	uint32_t wire_payload_len;	/* bytes the IP or UDP length claims */
	/* The capture cut the payload: payload_len < wire_payload_len. */
	bool truncated;

	struct rv_arp arp;
};

/*
 * Parses the headers of one Ethernet frame into *pkt.
 * frame: the first byte of the destination MAC; readable for frame_len
 * bytes (frame may be NULL when frame_len is 0).
 * pkt: written, never read; pointers in it point into frame.
 * Returns an enum rv_pkt_kind, or a negative enum rv_pkt_err code.
 * A TCP or UDP frame whose headers are whole but whose payload was cut by
 * the capture still returns RV_PKT_TCP or RV_PKT_UDP with truncated set.
 * Thread-safe; no allocation, no logging.
 */
int rv_pkt_parse(const uint8_t *frame, uint32_t frame_len,
    struct rv_pkt *pkt);

/*
 * Checks the IPv4 header checksum (RFC 791 section 3.1) of a frame that
 * rv_pkt_parse() returned with ip_version 4. Returns true when it verifies,
 * false when it does not or the packet is not IPv4.
 */
bool rv_pkt_ipv4_csum_ok(const struct rv_pkt *pkt);

/*
 * Short name of a result for counter names, such as "ipv4_bad_ihl".
 * err: a negative result of rv_pkt_parse(), so -RV_PKT_ERR_* for a
 * counter index. Returns a static string; "unknown" for anything else,
 * positive results included.
 */
const char *rv_pkt_err_name(int err);

/* Full sentence that describes a result; a static string like the above. */
const char *rv_pkt_err_message(int err);

#endif
