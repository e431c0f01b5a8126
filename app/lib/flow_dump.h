/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef RV_FLOW_DUMP_H
#define RV_FLOW_DUMP_H

/*
 * Writes the logged streams of one connection as a pcapng file (through
 * DPDK's rte_pcapng) that tshark and Wireshark open: the handshake with its
 * recorded options when it was seen, then each direction's logged bytes as
 * TCP segments at their original sequence numbers. Holes given up by the
 * capture are left out, so the sequence numbers show them.
 */

#include <stdint.h>

#include "flow_table.h"

struct rte_mempool;

/*
 * Copies flow id's state and logs out of the table (taking its lock
 * briefly), then writes them to fd as pcapng. port names the interface
 * recorded in the file. mp: a pool for building frames, with data rooms of
 * at least rte_pcapng_mbuf_size(RV_FLOW_DUMP_FRAME_MAX). Main thread only.
 * Returns the number of segments written, -ENOENT for an unknown id,
 * -ENOMEM, or -EIO when the file cannot be written.
 */
int rv_flow_dump_pcapng(struct rv_flow_table *table, uint64_t id, int fd,
    uint16_t port, struct rte_mempool *mp);

/* Largest frame the dump builds, in bytes. */
#define RV_FLOW_DUMP_FRAME_MAX	1600

#endif
