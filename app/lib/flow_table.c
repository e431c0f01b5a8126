/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_jhash.h>
#include <rte_malloc.h>
#include <rte_mempool.h>

#include "flow_table.h"
#include "log.h"

/*
 * The hash key: both endpoints in a fixed order (the lower address first,
 * then the lower port), so one lookup finds a connection whichever way the
 * segment goes, before the capture has found which end is the server.
 */
struct flow_hkey {
	uint8_t family;
	uint8_t pad[3];
	uint16_t port[2];
	uint8_t addr[2][16];
};

static inline void
hkey_make(struct flow_hkey *h, uint8_t family, const uint8_t *a,
    uint16_t a_port, const uint8_t *b, uint16_t b_port)
{
	int cmp = memcmp(a, b, 16);
	int swap = cmp > 0 || (cmp == 0 && a_port > b_port);

	h->family = family;
	memset(h->pad, 0, sizeof(h->pad));
	h->port[0] = swap ? b_port : a_port;
	h->port[1] = swap ? a_port : b_port;
	memcpy(h->addr[0], swap ? b : a, 16);
	memcpy(h->addr[1], swap ? a : b, 16);
}

static inline void
hkey_of(struct flow_hkey *h, const struct rv_flow_key *key)
{
	hkey_make(h, key->family, key->server, key->server_port, key->client,
	    key->client_port);
}

static void *
chunk_get(void *ctx)
{
	void *chunk;

	if (rte_mempool_get(ctx, &chunk) != 0)
		return NULL;
	return chunk;
}

static void
chunk_put(void *ctx, void *chunk)
{
	rte_mempool_put(ctx, chunk);
}

static uint32_t
random_seed(void)
{
	uint32_t seed;

	/* The flow key is chosen by whoever sends packets, so an unseeded
	 * hash would let them aim at one bucket. */
	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = (uint32_t)rte_rdtsc();
	return seed;
}

struct rv_flow_table *
rv_flow_table_create(uint32_t capacity, uint64_t log_total,
    const struct rv_flow_limits *limits, uint64_t idle_timeout_ns,
    uint64_t closed_linger_ns, int socket_id)
{
	struct rte_hash_parameters params = {
		.name = "revenant_flows",
		.entries = capacity,
		.key_len = sizeof(struct flow_hkey),
		.hash_func = rte_jhash,
		.hash_func_init_val = random_seed(),
		.socket_id = socket_id,
	};
	struct rv_flow_table *table;
	uint64_t n_chunks = log_total / RV_STREAM_LOG_CHUNK_SIZE;

	table = rte_zmalloc_socket("revenant_flow_table", sizeof(*table), 0,
	    socket_id);
	if (table == NULL) {
		rv_err("flow table: cannot allocate %zu bytes of hugepage "
		    "memory", sizeof(*table));
		return NULL;
	}
	rte_spinlock_init(&table->lock);
	table->capacity = capacity;
	table->limits = *limits;
	table->idle_timeout_ns = idle_timeout_ns;
	table->closed_linger_ns = closed_linger_ns;
	table->next_id = 1;
	table->hash = rte_hash_create(&params);
	if (table->hash == NULL) {
		rv_err("flow table: cannot create a hash of %u entries: %s",
		    capacity, rte_strerror(rte_errno));
		goto fail;
	}
	table->flows = rte_zmalloc_socket("revenant_flows",
	    (size_t)capacity * sizeof(struct rv_flow), 0, socket_id);
	if (table->flows == NULL) {
		rv_err("flow table: cannot allocate %u flows (%zu bytes)",
		    capacity, (size_t)capacity * sizeof(struct rv_flow));
		goto fail;
	}
	if (n_chunks > UINT32_MAX)
		n_chunks = UINT32_MAX;
	table->chunks = rte_mempool_create("revenant_log_chunks",
	    (unsigned int)n_chunks, RV_STREAM_LOG_CHUNK_SIZE, 256, 0, NULL,
	    NULL, NULL, NULL, socket_id, 0);
	if (table->chunks == NULL) {
		rv_err("flow table: cannot reserve %llu bytes of log memory "
		    "(%s); lower memory.log_total_max or reserve more "
		    "hugepages", (unsigned long long)log_total,
		    rte_strerror(rte_errno));
		goto fail;
	}
	table->alloc.get = chunk_get;
	table->alloc.put = chunk_put;
	table->alloc.ctx = table->chunks;
	return table;
fail:
	rv_flow_table_free(table);
	return NULL;
}

void
rv_flow_table_free(struct rv_flow_table *table)
{
	uint32_t iter = 0;
	const void *key;
	void *data;
	int32_t pos;

	if (table == NULL)
		return;
	if (table->hash != NULL && table->flows != NULL) {
		while ((pos = rte_hash_iterate(table->hash, &key, &data,
		    &iter)) >= 0)
			rv_flow_free(&table->flows[pos], &table->alloc);
	}
	rte_hash_free(table->hash);
	rte_free(table->flows);
	rte_mempool_free(table->chunks);
	rte_free(table);
}

struct rv_flow *
rv_flow_table_get(struct rv_flow_table *table, const struct rv_flow_key *key,
    uint16_t server, const struct rv_pkt *pkt, int dir, uint64_t now_ns,
    bool *created)
{
	struct flow_hkey h;
	int32_t pos;

	*created = false;
	hkey_of(&h, key);
	pos = rte_hash_lookup(table->hash, &h);
	if (pos >= 0)
		return &table->flows[pos];
	/* A reset of a connection we never saw needs no entry. */
	if (pkt->tcp_flags & RV_TCP_RST)
		return NULL;
	pos = rte_hash_add_key(table->hash, &h);
	if (pos < 0) {
		table->table_full++;
		return NULL;
	}
	rv_flow_init(&table->flows[pos], key, table->next_id++, server, pkt,
	    dir, now_ns);
	table->count++;
	*created = true;
	return &table->flows[pos];
}

struct rv_flow *
rv_flow_table_lookup(struct rv_flow_table *table,
    const struct rv_flow_key *key)
{
	struct flow_hkey h;
	int32_t pos;

	hkey_of(&h, key);
	pos = rte_hash_lookup(table->hash, &h);
	return pos >= 0 ? &table->flows[pos] : NULL;
}

struct rv_flow *
rv_flow_table_lookup_pkt(struct rv_flow_table *table,
    const struct rv_pkt *pkt, int *dir)
{
	struct rv_flow *flow;
	struct flow_hkey h;
	int32_t pos;

	hkey_make(&h, pkt->ip_version, pkt->src, pkt->sport, pkt->dst,
	    pkt->dport);
	pos = rte_hash_lookup(table->hash, &h);
	if (pos < 0)
		return NULL;
	flow = &table->flows[pos];
	*dir = rv_flow_pkt_dir(flow, pkt);
	return flow;
}

void
rv_flow_table_lookup_bulk(struct rv_flow_table *table,
    const struct rv_pkt *const *pkts, unsigned int n,
    struct rv_flow **flows)
{
	struct flow_hkey keys[RV_FLOW_TABLE_BULK_MAX];
	const void *key_ptrs[RV_FLOW_TABLE_BULK_MAX];
	int32_t positions[RV_FLOW_TABLE_BULK_MAX];
	unsigned int i;

	if (n > RV_FLOW_TABLE_BULK_MAX) {
		/* Beyond the documented limit: look up the rest separately. */
		rv_flow_table_lookup_bulk(table, pkts + RV_FLOW_TABLE_BULK_MAX,
		    n - RV_FLOW_TABLE_BULK_MAX, flows + RV_FLOW_TABLE_BULK_MAX);
		n = RV_FLOW_TABLE_BULK_MAX;
	}
	for (i = 0; i < n; i++) {
		hkey_make(&keys[i], pkts[i]->ip_version, pkts[i]->src,
		    pkts[i]->sport, pkts[i]->dst, pkts[i]->dport);
		key_ptrs[i] = &keys[i];
	}
	if (n == 0 || rte_hash_lookup_bulk(table->hash, key_ptrs, n,
	    positions) != 0) {
		for (i = 0; i < n; i++)
			flows[i] = NULL;
		return;
	}
	for (i = 0; i < n; i++)
		flows[i] = positions[i] >= 0 ? &table->flows[positions[i]] :
		    NULL;
}

void
rv_flow_table_remove(struct rv_flow_table *table, struct rv_flow *flow)
{
	struct flow_hkey h;

	rv_flow_free(flow, &table->alloc);
	hkey_of(&h, &flow->key);
	if (rte_hash_del_key(table->hash, &h) >= 0)
		table->count--;
	memset(flow, 0, sizeof(*flow));
}

void
rv_flow_table_sweep(struct rv_flow_table *table, uint64_t now_ns)
{
	struct rv_flow_ctx ctx = {
		.alloc = &table->alloc,
		.limits = &table->limits,
		.counters = &table->counters,
		.now_ns = now_ns,
	};
	struct rv_flow *flow;
	uint32_t iter = 0;
	const void *key;
	void *data;
	int32_t pos;

	while ((pos = rte_hash_iterate(table->hash, &key, &data, &iter)) >= 0) {
		flow = &table->flows[pos];
		if (flow->state == RV_FLOW_CLOSED || flow->state == RV_FLOW_RST) {
			if (now_ns - flow->closed_ns >= table->closed_linger_ns) {
				table->removed_closed++;
				rv_flow_table_remove(table, flow);
			}
			continue;
		}
		if (now_ns - flow->last_ns >= table->idle_timeout_ns) {
			table->removed_idle++;
			rv_flow_table_remove(table, flow);
			continue;
		}
		rv_flow_check_gaps(flow, &ctx);
	}
}

void
rv_flow_table_walk(struct rv_flow_table *table,
    int (*fn)(struct rv_flow *flow, void *arg), void *arg)
{
	uint32_t iter = 0;
	const void *key;
	void *data;
	int32_t pos;

	while ((pos = rte_hash_iterate(table->hash, &key, &data, &iter)) >= 0)
		if (fn(&table->flows[pos], arg) != 0)
			return;
}

struct find_id {
	uint64_t id;
	struct rv_flow *found;
};

static int
match_id(struct rv_flow *flow, void *arg)
{
	struct find_id *f = arg;

	if (flow->id != f->id)
		return 0;
	f->found = flow;
	return 1;
}

struct rv_flow *
rv_flow_table_find_id(struct rv_flow_table *table, uint64_t id)
{
	struct find_id f = { .id = id };

	rv_flow_table_walk(table, match_id, &f);
	return f.found;
}

uint64_t
rv_flow_table_mem_used(const struct rv_flow_table *table)
{
	return (uint64_t)rte_mempool_in_use_count(table->chunks) *
	    RV_STREAM_LOG_CHUNK_SIZE;
}

uint64_t
rv_flow_table_mem_cap(const struct rv_flow_table *table)
{
	return (uint64_t)table->chunks->size * RV_STREAM_LOG_CHUNK_SIZE;
}
