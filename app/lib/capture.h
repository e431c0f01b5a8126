/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef RV_CAPTURE_H
#define RV_CAPTURE_H

/*
 * The capture lcore: receives bursts on the mirror port, parses each frame,
 * files TCP segments of monitored services into the flow table, and counts
 * everything else. UDP datagrams to checkpoints.export_port go to the
 * checkpoint store, and each verified checkpoint is filed with its
 * connection. Nothing here logs per packet.
 */

#include <stdbool.h>
#include <stdint.h>

#include "ckpt_store.h"
#include "config.h"
#include "flow_table.h"
#include "pkt_parse.h"

/* Frame counters of the capture lcore. Written only by it; other threads
 * read them without locks (aligned 64-bit loads are atomic on x86-64 and
 * arm64, and a counter one burst old is fine). */
struct rv_capture_stats {
	uint64_t frames;
	uint64_t bytes;
	uint64_t bursts;
	uint64_t parse_errors[RV_PKT_ERR__COUNT];
	uint64_t bad_options;		/* TCP options malformed, segment kept */
	uint64_t tcp_monitored;
	uint64_t tcp_other;		/* TCP to services not monitored */
	uint64_t udp;
	uint64_t udp_export;		/* UDP to checkpoints.export_port */
	uint64_t arp;
	uint64_t other;			/* neither TCP, UDP nor ARP */
	uint64_t multi_segment;		/* frames linearised from chained mbufs */
	uint64_t oversized;		/* frames longer than the linear buffer */
};

struct rte_hash;

/*
 * What the mirror last showed of one server, for failure detection: the
 * capture lcore writes it, the main lcore reads it without a lock (each
 * field is one aligned word, and a value one burst old is fine).
 */
struct rv_server_seen {
	uint64_t arp_ns;		/* last ARP sent from its IPv4 address */
	uint64_t arp_mac;		/* sender MAC of that ARP, in the low
					 * 48 bits */
	uint64_t frame_ns;		/* last TCP segment it sent */
	uint64_t own_probe_ns;		/* our own last ARP request or neighbour
					 * solicitation for it, mirrored */
	/* SYN probes and the probe address (detection.probe_address). The
	 * main lcore writes syn_probe before the SYN leaves; the capture
	 * lcore writes the rest, the *_ns field last with release order. */
	uint64_t probe_arp_ns;		/* its last ARP request for the probe
					 * address */
	uint64_t probe_arp_spa;		/* sender IPv4 of that request, network
					 * byte order in the low 32 bits */
	uint64_t syn_probe;		/* current probe: source port << 32 |
					 * ISN; 0: none */
	uint64_t syn_answer_ns;		/* SYN-ACK or RST that answered it */
	uint64_t syn_answer;		/* its flags << 48 | destination port
					 * << 32 | acknowledgement number */
	uint64_t syn_answer_mac;	/* its Ethernet source, low 48 bits */
	/* IPv6: neighbour discovery (RFC 4861) and SYN probes from
	 * detection.probe_address6, written the same way. syn_probe is
	 * shared: a round's SYNs of both families carry the same port and
	 * ISN. */
	uint64_t nd_ns;			/* last advertisement for one of its
					 * IPv6 addresses, or solicitation
					 * from one */
	uint64_t nd_mac;		/* Ethernet source of that message */
	uint64_t probe_ns_ns;		/* its last solicitation for the IPv6
					 * probe address */
	uint64_t probe_ns_src[2];	/* source IPv6 of that solicitation,
					 * the 16 bytes as they came */
	uint64_t probe_ns_mac;		/* its link-layer address */
	uint64_t syn6_answer_ns;	/* SYN-ACK or RST to the IPv6 probe */
	uint64_t syn6_answer;		/* as syn_answer */
	uint64_t syn6_answer_mac;
};

struct rv_capture {
	const struct rv_config *config;
	struct rv_server_seen *seen;	/* one per configured server */
	uint64_t inject_mac;		/* our probes' source MAC, low 48 bits */
	struct rte_hash *services;	/* monitored address:port -> server */
	uint64_t port_bits[65536 / 64];	/* ports some server listens on */
	struct rv_flow_table *table;
	uint16_t port;			/* mirror port id */
	uint16_t burst_size;
	/* Sleep between polls once the port is idle, in microseconds; 0:
	 * busy-poll. Set by rv_capture_init() from the port's driver. */
	uint32_t idle_sleep_us;
	volatile bool stop;
	/* A capture time (rv_capture_now_ns()) before which every frame the
	 * port had received is processed: the loop stores it, with release
	 * order, whenever a burst comes back short of full. */
	uint64_t drained_ns;
	struct rv_capture_stats stats;
	/* Checkpoints and heartbeats; the capture lcore writes it with the
	 * table lock held, and readers take that lock. */
	struct rv_ckpt_store ckpt;
};

/*
 * Builds the table of monitored address:port pairs from cap->config, and
 * the checkpoint store with each server's host key. Returns 0, or -ENOMEM
 * (logged). Main lcore, before the capture starts.
 */
int rv_capture_init(struct rv_capture *cap, int socket_id);
void rv_capture_fini(struct rv_capture *cap);

/*
 * Runs the capture loop until cap->stop becomes true. arg is a struct
 * rv_capture. Meant for rte_eal_remote_launch() on a worker lcore.
 * Returns 0.
 */
int rv_capture_lcore(void *arg);

/*
 * Processes one frame as the loop does, at capture time now_ns. Exposed so
 * that benchmarks and tests can feed frames without a port. Lock held.
 */
void rv_capture_frame(struct rv_capture *cap, const uint8_t *frame,
    uint32_t len, uint64_t now_ns);

/* Nanoseconds from the TSC, the software timestamp of captured frames. */
uint64_t rv_capture_now_ns(void);

/*
 * Waits until the capture lcore has processed every frame its port received
 * before now plus settle_ms (frames still crossing the kernel on their way
 * to the port), or until timeout_ms passed. Returns 0, or -ETIMEDOUT.
 * Any thread but the capture lcore.
 */
int rv_capture_wait_drained(struct rv_capture *cap, unsigned int settle_ms,
    unsigned int timeout_ms);

#endif
