/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef RV_FLOW_TABLE_H
#define RV_FLOW_TABLE_H

/*
 * The table of monitored connections: an rte_hash with a random seed,
 * keyed by struct rv_flow_key, one entry per connection whatever the
 * direction, and the chunk memory of every log (an rte_mempool in
 * hugepages whose size is the global log cap).
 *
 * Threads: the capture lcore adds, updates and removes flows while it holds
 * the lock; the main lcore takes the same lock to read flows for the
 * control socket and telemetry, and holds it only briefly.
 */

#include <stdint.h>
#include <string.h>

#include <rte_spinlock.h>

#include "flow.h"

struct rte_hash;
struct rte_mempool;

struct rv_flow_table {
	rte_spinlock_t lock;
	struct rte_hash *hash;
	struct rv_flow *flows;		/* indexed by hash position */
	uint32_t capacity;
	uint32_t count;
	uint64_t next_id;
	struct rte_mempool *chunks;
	struct rv_chunk_alloc alloc;
	struct rv_flow_limits limits;
	struct rv_flow_counters counters;
	uint64_t idle_timeout_ns;
	uint64_t closed_linger_ns;
	uint64_t table_full;		/* new flows not tracked: table full */
	uint64_t removed_idle;
	uint64_t removed_closed;
};

/*
 * Creates the table in hugepage memory on socket_id. capacity: maximum
 * connections; log_total: bytes of chunk memory for all logs. Returns
 * NULL and logs why on failure (usually too few hugepages).
 */
struct rv_flow_table *rv_flow_table_create(uint32_t capacity,
    uint64_t log_total, const struct rv_flow_limits *limits,
    uint64_t idle_timeout_ns, uint64_t closed_linger_ns, int socket_id);

/* Frees every flow, its logs and the table. */
void rv_flow_table_free(struct rv_flow_table *table);

/*
 * Returns the flow of key, creating it from pkt if it is new: *created is
 * then true and the caller passes pkt to rv_flow_track() next. Returns NULL
 * when the table is full (counted). Capture lcore only, lock held.
 */
struct rv_flow *rv_flow_table_get(struct rv_flow_table *table,
    const struct rv_flow_key *key, uint16_t server, const struct rv_pkt *pkt,
    int dir, uint64_t now_ns, bool *created);

/* Returns the flow of key, or NULL; creates nothing. Lock held. */
struct rv_flow *rv_flow_table_lookup(struct rv_flow_table *table,
    const struct rv_flow_key *key);

/*
 * Returns the flow a TCP segment belongs to, whichever its direction, and
 * sets *dir; NULL if the connection is not tracked. One hash lookup, so
 * the capture lcore calls it before it asks which end is the server.
 * Lock held.
 */
struct rv_flow *rv_flow_table_lookup_pkt(struct rv_flow_table *table,
    const struct rv_pkt *pkt, int *dir);

/* Segments that rv_flow_table_lookup_bulk() takes at once. */
#define RV_FLOW_TABLE_BULK_MAX	32

/*
 * Looks up the connections of n TCP segments together (n at most
 * RV_FLOW_TABLE_BULK_MAX), which lets the hash fetch all their buckets
 * before it compares keys. Sets flows[i] to the flow of pkts[i], or to
 * NULL if that connection is not tracked. Lock held.
 */
void rv_flow_table_lookup_bulk(struct rv_flow_table *table,
    const struct rv_pkt *const *pkts, unsigned int n,
    struct rv_flow **flows);

/* Returns the direction of pkt, a segment of flow: RV_DIR_C2S or
 * RV_DIR_S2C. */
static inline int
rv_flow_pkt_dir(const struct rv_flow *flow, const struct rv_pkt *pkt)
{
	return pkt->sport == flow->key.client_port &&
	    memcmp(pkt->src, flow->key.client, 16) == 0 ? RV_DIR_C2S :
	    RV_DIR_S2C;
}

/* Removes flow from the table and frees its logs and checkpoints. Lock
 * held. */
void rv_flow_table_remove(struct rv_flow_table *table, struct rv_flow *flow);

/*
 * Drops idle and long-closed flows and gives up on stale capture holes.
 * Capture lcore only, lock held.
 */
void rv_flow_table_sweep(struct rv_flow_table *table, uint64_t now_ns);

/*
 * Calls fn for each flow in table order until fn returns non-zero.
 * Lock held by the caller.
 */
void rv_flow_table_walk(struct rv_flow_table *table,
    int (*fn)(struct rv_flow *flow, void *arg), void *arg);

/* Returns the flow with id, or NULL. Lock held by the caller. */
struct rv_flow *rv_flow_table_find_id(struct rv_flow_table *table,
    uint64_t id);

/* Bytes of chunk memory in use and the global cap. Any thread. */
uint64_t rv_flow_table_mem_used(const struct rv_flow_table *table);
uint64_t rv_flow_table_mem_cap(const struct rv_flow_table *table);

#endif
