/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef RV_INJECT_H
#define RV_INJECT_H

/*
 * Frames the appliance sends through its inject port. During a takeover:
 * gratuitous ARP and unsolicited IPv6 neighbour advertisements that move a
 * server's address to the backup's MAC, and the in-window ACK that ends a
 * waiting client's retransmission backoff. For failure detection: ARP
 * probes and requests, and ARP replies for the appliance's IPv4 probe
 * address. Their IPv6 counterparts are neighbour solicitations and
 * solicited advertisements for the IPv6 probe address. Last, the TCP SYN
 * and RST of a SYN probe over either family. Pure C: each builder writes one
 * complete Ethernet frame, checksums included, into a caller buffer.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

/* Largest frame any builder writes, in bytes. */
#define RV_INJECT_FRAME_MAX	128

/*
 * Writes a gratuitous ARP (RFC 5227 section 3: an ARP request whose sender
 * and target IP are both ip) announcing ip at mac, to the broadcast
 * address. eth_src is the frame's Ethernet source: the port that sends it,
 * which need not be mac, so a switch keeps learning mac on mac's own port.
 * Returns the frame length, or -EINVAL if ip is not IPv4 or len is short.
 */
int rv_inject_garp(uint8_t *buf, size_t len, const uint8_t eth_src[6],
    const uint8_t mac[6], const struct rv_addr *ip);

/*
 * Writes an ARP probe (RFC 5227 section 2.1.1: sender IP 0.0.0.0) asking
 * who has ip, from mac, broadcast. A live host answers it to mac whatever
 * its services do. Returns the frame length, or -EINVAL.
 */
int rv_inject_arp_probe(uint8_t *buf, size_t len, const uint8_t mac[6],
    const struct rv_addr *ip);

/*
 * Writes an ARP request (RFC 826) from mac and sender_ip asking who has
 * target_ip, broadcast. Unlike a probe it names the sender, so the target's
 * kernel learns sender_ip at mac (Linux does on a request addressed to it)
 * and can send its SYN-ACK to a SYN probe from sender_ip at once. Returns the frame
 * length, or -EINVAL if either address is not IPv4 or len is short.
 */
int rv_inject_arp_request(uint8_t *buf, size_t len, const uint8_t mac[6],
    const struct rv_addr *sender_ip, const struct rv_addr *target_ip);

/*
 * Writes an ARP reply (RFC 826) saying that ip is at mac, sent from mac to
 * the requester at target_mac and target_ip. Returns the frame length, or
 * -EINVAL if either address is not IPv4 or len is short.
 */
int rv_inject_arp_reply(uint8_t *buf, size_t len, const uint8_t mac[6],
    const struct rv_addr *ip, const uint8_t target_mac[6],
    const struct rv_addr *target_ip);

/*
 * Writes an unsolicited neighbour advertisement (RFC 4861 section 7.2.6)
 * for ip with mac as its target link-layer address, Override flag set, to
 * the all-nodes multicast address, from Ethernet source eth_src. Returns
 * the frame length or -EINVAL.
 */
int rv_inject_unsolicited_na(uint8_t *buf, size_t len,
    const uint8_t eth_src[6], const uint8_t mac[6], const struct rv_addr *ip);

/*
 * Writes a neighbour solicitation (RFC 4861 section 4.3) asking for
 * target's link-layer address: the IPv6 counterpart of an ARP request. It
 * goes to target's solicited-node multicast address (RFC 4291 section
 * 2.7.1) with hop limit 255 (RFC 4861 section 7.1.1), from Ethernet source
 * mac. src is the sender's IPv6 address, and the source link-layer address
 * option carries mac so the target learns src at mac (section 7.2.3). With
 * src of family 0 the source is the unspecified address and the frame
 * carries no option, as in duplicate address detection (section 7.2.2),
 * and the target sends its advertisement to the all-nodes address. Returns the frame
 * length, or -EINVAL if target is not IPv6, src is neither IPv6 nor family
 * 0, or len is short.
 */
int rv_inject_ns(uint8_t *buf, size_t len, const uint8_t mac[6],
    const struct rv_addr *src, const struct rv_addr *target);

/*
 * Writes a solicited neighbour advertisement (RFC 4861 section 7.2.4) in
 * reply to a solicitation for ip. It has the Solicited and Override flags
 * set and ip at mac in the target link-layer address option. It goes from
 * mac and ip to the soliciting node at target_mac and target_ip. Returns the frame length,
 * or -EINVAL if either address is not IPv6 or len is short.
 */
int rv_inject_solicited_na(uint8_t *buf, size_t len, const uint8_t mac[6],
    const struct rv_addr *ip, const uint8_t target_mac[6],
    const struct rv_addr *target_ip);

/* What the injected ACK says; numbers in host byte order. */
struct rv_inject_ack {
	uint8_t src_mac[6];		/* the sending port's own MAC */
	uint8_t dst_mac[6];		/* the client's MAC, as the mirror saw it */
	struct rv_endpoint server;
	struct rv_endpoint client;
	uint32_t seq;			/* the server's next sequence number */
	uint32_t ack;			/* the client's newest byte + 1 */
	uint16_t window;		/* raw field, already scaled down */
	bool timestamps;
	uint32_t tsval;			/* continuing the server's TSval */
	uint32_t tsecr;			/* the client's last TSval */
};

/*
 * Writes a TCP ACK segment from the server to the client. Returns the frame
 * length, or -EINVAL if the families differ or len is short.
 */
int rv_inject_ack(uint8_t *buf, size_t len, const struct rv_inject_ack *a);

/* Fields of a SYN probe segment; numbers in host byte order. */
struct rv_inject_tcp {
	uint8_t src_mac[6];		/* the inject port's own MAC */
	uint8_t dst_mac[6];		/* the server's MAC */
	struct rv_endpoint src;		/* the probe address, a random port */
	struct rv_endpoint dst;		/* the server's service */
	uint32_t seq;
};

/*
 * Writes a TCP SYN from src to dst with sequence number seq (the probe's
 * ISN) and a window of 1024 bytes. Its MSS option is the smallest that every
 * host accepts, so the server's SYN-ACK stays small: 536 bytes over IPv4
 * (RFC 9293 section 3.7.1), 1220 over IPv6 (the minimum MTU of RFC 8200
 * section 5 less the IPv6 and TCP headers).
 * Returns the frame length, or -EINVAL if the families differ or len is
 * short.
 */
int rv_inject_syn(uint8_t *buf, size_t len, const struct rv_inject_tcp *t);

/*
 * Writes a TCP RST from src to dst with sequence number seq and no ACK.
 * With seq the probe's ISN + 1 it resets the connection that the server's
 * SYN-ACK opened (RFC 9293 section 3.10.7.4: a RST in the receive window is
 * accepted in SYN-RECEIVED). Returns the frame length, or -EINVAL.
 */
int rv_inject_rst(uint8_t *buf, size_t len, const struct rv_inject_tcp *t);

#endif
