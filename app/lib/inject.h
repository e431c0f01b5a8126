/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef RV_INJECT_H
#define RV_INJECT_H

/*
 * Frames the appliance sends through its inject port during a takeover:
 * gratuitous ARP and unsolicited IPv6 neighbour advertisements that move a
 * server's address to the backup's MAC, and the in-window ACK that ends a
 * waiting client's retransmission backoff. Pure C: each builder writes
 * one complete Ethernet frame, checksums included, into a caller buffer.
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
 * Writes an unsolicited neighbour advertisement (RFC 4861 section 7.2.6)
 * for ip with mac as its target link-layer address, Override flag set, to
 * the all-nodes multicast address, from Ethernet source eth_src. Returns
 * the frame length or -EINVAL.
 */
int rv_inject_unsolicited_na(uint8_t *buf, size_t len,
    const uint8_t eth_src[6], const uint8_t mac[6], const struct rv_addr *ip);

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

#endif
