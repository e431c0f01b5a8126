/* SPDX-License-Identifier: BSD-3-Clause */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <rte_errno.h>
#include <rte_hash.h>
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

#define HKEY_WORDS	(sizeof(struct flow_hkey) / sizeof(uint32_t))
_Static_assert(sizeof(struct flow_hkey) == 40,
    "flow_hash() and hkey_cmp() read the key as 40 bytes");

/*
 * Secret key of flow_hash(), drawn once per process by the first table
 * created, so that every table of the process hashes alike.
 */
static uint32_t hash_secret[HKEY_WORDS];
static bool hash_secret_ready;

/* True if the 16-byte address a sorts after b, byte by byte as memcmp()
 * orders them. */
static inline bool
addr_after(const uint8_t *a, const uint8_t *b)
{
	uint64_t a_hi, a_lo, b_hi, b_lo;

	memcpy(&a_hi, a, 8);
	memcpy(&b_hi, b, 8);
	a_hi = be64toh(a_hi);
	b_hi = be64toh(b_hi);
	if (a_hi != b_hi)
		return a_hi > b_hi;
	memcpy(&a_lo, a + 8, 8);
	memcpy(&b_lo, b + 8, 8);
	return be64toh(a_lo) > be64toh(b_lo);
}

static inline bool
addr_equal(const uint8_t *a, const uint8_t *b)
{
	return memcmp(a, b, 16) == 0;
}

/*
 * Hashes a flow key, given as its first two 32-bit words and its two
 * addresses, with the secret. Each 32-bit word is added to its secret word
 * modulo 2^32, and the 64-bit products of the pairs are summed modulo 2^64:
 * the NH construction of universal hashing. For a random secret, two
 * distinct keys give the same sum with probability at most 2^-32, so a
 * sender who cannot learn the secret cannot make its connections collide.
 * The final xorshift and multiply by an odd constant are bijective. They
 * spread the sum into the low bits, which pick the bucket, and into bits
 * 16 to 31, the signature. The hash costs five multiplies where
 * rte_jhash() mixes the 40 bytes in four rounds.
 * NOTE: the 2^-32 bound covers whole sums, not the few bits that pick a
 * bucket. As with the seeded rte_jhash() used before, the spread of chosen
 * keys over buckets rests on the secret and the final mix, not on a proof.
 */
static inline uint32_t
flow_hash_parts(uint32_t w0, uint32_t w1, const uint8_t *addr0,
    const uint8_t *addr1)
{
	const uint32_t *k = hash_secret;
	uint32_t a[8];
	uint64_t sum;
	unsigned int i;

	memcpy(a, addr0, 16);
	memcpy(a + 4, addr1, 16);
	sum = (uint64_t)(w0 + k[0]) * (w1 + k[1]);
	for (i = 0; i < 8; i += 2)
		sum += (uint64_t)(a[i] + k[i + 2]) * (a[i + 1] + k[i + 3]);
	sum ^= sum >> 32;
	return (uint32_t)((sum * 0x9e3779b97f4a7c15ull) >> 32);
}

static inline uint32_t
flow_hash(const struct flow_hkey *h)
{
	uint32_t head[2];

	memcpy(head, h, sizeof(head));
	return flow_hash_parts(head[0], head[1], h->addr[0], h->addr[1]);
}

/*
 * Writes the key of the connection between a:a_port and b:b_port and
 * returns its flow_hash(). The hash is computed from the inputs, not read
 * back from *h, because loading a key just stored in pieces of other
 * sizes stalls until the stores complete.
 */
static inline uint32_t
hkey_make(struct flow_hkey *h, uint8_t family, const uint8_t *a,
    uint16_t a_port, const uint8_t *b, uint16_t b_port)
{
	bool swap = addr_after(a, b) || (addr_equal(a, b) && a_port > b_port);
	const uint8_t *lo = swap ? b : a, *hi = swap ? a : b;
	const uint8_t head[4] = { family, 0, 0, 0 };
	const uint16_t ports[2] = { swap ? b_port : a_port,
	    swap ? a_port : b_port };
	uint32_t w0, w1;

	memcpy(&w0, head, sizeof(w0));
	memcpy(&w1, ports, sizeof(w1));
	memcpy((uint8_t *)h, &w0, sizeof(w0));	/* family and pad */
	memcpy(h->port, &w1, sizeof(w1));
	memcpy(h->addr[0], lo, 16);
	memcpy(h->addr[1], hi, 16);
	return flow_hash_parts(w0, w1, lo, hi);
}

static inline uint32_t
hkey_of(struct flow_hkey *h, const struct rv_flow_key *key)
{
	return hkey_make(h, key->family, key->server, key->server_port,
	    key->client, key->client_port);
}

/* The same hash as an rte_hash_function, for any rte_hash call that is
 * not given the hash. Every call in this file passes the hash itself. */
static uint32_t
flow_hash_func(const void *key, uint32_t key_len, uint32_t init_val)
{
	return flow_hash(key);
}

static inline uint64_t
load_u64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/*
 * Compares two flow keys for rte_hash, returning 0 when they are equal as
 * memcmp() does. For 40-byte keys rte_hash would call memcmp() on every
 * candidate entry, and five word compares need no library call.
 */
static int
hkey_cmp(const void *key1, const void *key2, size_t key_len)
{
	const uint8_t *a = key1, *b = key2;

	return ((load_u64(a) ^ load_u64(b)) |
	    (load_u64(a + 8) ^ load_u64(b + 8)) |
	    (load_u64(a + 16) ^ load_u64(b + 16)) |
	    (load_u64(a + 24) ^ load_u64(b + 24)) |
	    (load_u64(a + 32) ^ load_u64(b + 32))) != 0;
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

/*
 * Draws the secret of flow_hash() once. Any sender chooses the flow keys
 * of its packets, so a known hash would let it aim at one bucket. Called
 * at start-up, before any lcore looks flows up.
 */
static void
init_hash_secret(void)
{
	unsigned int i;

	if (hash_secret_ready)
		return;
	if (getrandom(hash_secret, sizeof(hash_secret), 0) !=
	    sizeof(hash_secret)) {
		/* NOTE: without getrandom() the TSC is a guessable secret. */
		rv_warn("flow table: getrandom() failed, seeding the flow "
		    "hash from the TSC");
		for (i = 0; i < HKEY_WORDS; i++)
			hash_secret[i] = (uint32_t)(rte_rdtsc() * (2 * i + 1));
	}
	hash_secret_ready = true;
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
		.hash_func = flow_hash_func,
		.socket_id = socket_id,
	};
	struct rv_flow_table *table;
	uint64_t n_chunks = log_total / RV_STREAM_LOG_CHUNK_SIZE;

	init_hash_secret();
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
	rte_hash_set_cmp_func(table->hash, hkey_cmp);
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
	uint32_t hash;
	int32_t pos;

	*created = false;
	hash = hkey_of(&h, key);
	pos = rte_hash_lookup_with_hash(table->hash, &h, hash);
	if (pos >= 0)
		return &table->flows[pos];
	/* A reset of a connection we never saw needs no entry. */
	if (pkt->tcp_flags & RV_TCP_RST)
		return NULL;
	pos = rte_hash_add_key_with_hash(table->hash, &h, hash);
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
	uint32_t hash;
	int32_t pos;

	hash = hkey_of(&h, key);
	pos = rte_hash_lookup_with_hash(table->hash, &h, hash);
	return pos >= 0 ? &table->flows[pos] : NULL;
}

struct rv_flow *
rv_flow_table_lookup_pkt(struct rv_flow_table *table,
    const struct rv_pkt *pkt, int *dir)
{
	struct rv_flow *flow;
	struct flow_hkey h;
	uint32_t hash;
	int32_t pos;

	hash = hkey_make(&h, pkt->ip_version, pkt->src, pkt->sport, pkt->dst,
	    pkt->dport);
	pos = rte_hash_lookup_with_hash(table->hash, &h, hash);
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
	hash_sig_t hashes[RV_FLOW_TABLE_BULK_MAX];
	int32_t positions[RV_FLOW_TABLE_BULK_MAX];
	unsigned int i;

	if (n > RV_FLOW_TABLE_BULK_MAX) {
		/* Beyond the documented limit: look up the rest separately. */
		rv_flow_table_lookup_bulk(table, pkts + RV_FLOW_TABLE_BULK_MAX,
		    n - RV_FLOW_TABLE_BULK_MAX, flows + RV_FLOW_TABLE_BULK_MAX);
		n = RV_FLOW_TABLE_BULK_MAX;
	}
	for (i = 0; i < n; i++) {
		hashes[i] = hkey_make(&keys[i], pkts[i]->ip_version,
		    pkts[i]->src, pkts[i]->sport, pkts[i]->dst, pkts[i]->dport);
		key_ptrs[i] = &keys[i];
	}
	if (n == 0 || rte_hash_lookup_with_hash_bulk(table->hash, key_ptrs,
	    hashes, n, positions) != 0) {
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
	uint32_t hash;

	rv_flow_free(flow, &table->alloc);
	hash = hkey_of(&h, &flow->key);
	if (rte_hash_del_key_with_hash(table->hash, &h, hash) >= 0)
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
