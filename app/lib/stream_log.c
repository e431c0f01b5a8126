/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdlib.h>
#include <string.h>

#include "stream_log.h"

#define CHUNK_MASK	((uint64_t)RV_STREAM_LOG_CHUNK_SIZE - 1)

static inline uint64_t
min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static inline uint64_t
max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

void
rv_stream_log_init(struct rv_stream_log *log, uint32_t isn,
    uint64_t max_bytes)
{
	memset(log, 0, sizeof(*log));
	log->isn = isn;
	log->max_span = max_bytes == 0 ? UINT64_MAX / 2 : max_bytes;
}

void
rv_stream_log_free(struct rv_stream_log *log,
    const struct rv_chunk_alloc *alloc)
{
	uint32_t i;

	for (i = 0; i < log->n_used; i++) {
		void *chunk = log->slots[(log->head + i) & (log->n_slots - 1)];

		if (chunk != NULL)
			alloc->put(alloc->ctx, chunk);
	}
	free(log->slots);
	log->slots = NULL;
	log->n_slots = log->n_used = log->head = 0;
	log->n_chunks = 0;
	log->n_ranges = 0;
	log->base = log->contig_end;
	log->chunk_base = log->base & ~CHUNK_MASK;
}

/* Returns the slot pointer for the chunk holding offset off, growing the
 * ring if needed, or NULL if the ring cannot grow. */
static void **
slot_for(struct rv_stream_log *log, uint64_t off)
{
	uint64_t index = (off - log->chunk_base) >> RV_STREAM_LOG_CHUNK_SHIFT;
	uint32_t need, cap, i;
	void **grown;

	if (index >= UINT32_MAX / 2)
		return NULL;
	need = (uint32_t)index + 1;
	if (need > log->n_slots) {
		cap = log->n_slots == 0 ? 8 : log->n_slots;
		while (cap < need)
			cap *= 2;
		grown = calloc(cap, sizeof(*grown));
		if (grown == NULL)
			return NULL;
		for (i = 0; i < log->n_used; i++)
			grown[i] = log->slots[(log->head + i) &
			    (log->n_slots - 1)];
		free(log->slots);
		log->slots = grown;
		log->n_slots = cap;
		log->head = 0;
	}
	while (log->n_used < need)
		log->slots[(log->head + log->n_used++) & (log->n_slots - 1)] =
		    NULL;
	return &log->slots[(log->head + (uint32_t)index) & (log->n_slots - 1)];
}

/* Returns the chunk holding off, or NULL if none is allocated there. */
static uint8_t *
chunk_at(const struct rv_stream_log *log, uint64_t off)
{
	uint64_t index;

	if (off < log->chunk_base)
		return NULL;
	index = (off - log->chunk_base) >> RV_STREAM_LOG_CHUNK_SHIFT;
	if (index >= log->n_used)
		return NULL;
	return log->slots[(log->head + (uint32_t)index) & (log->n_slots - 1)];
}

/* Copies [off, off + len) into chunks that may not exist yet. Returns the
 * number of bytes stored, which is less than len when memory ran out. */
static uint64_t
store_bytes(struct rv_stream_log *log, const struct rv_chunk_alloc *alloc,
    uint64_t off, const uint8_t *data, uint64_t len)
{
	uint64_t n, stored = 0;
	void **slot;

	while (len > 0) {
		slot = slot_for(log, off);
		if (slot == NULL)
			break;
		if (*slot == NULL) {
			*slot = alloc->get(alloc->ctx);
			if (*slot == NULL)
				break;
			log->n_chunks++;
		}
		n = min_u64(len, RV_STREAM_LOG_CHUNK_SIZE - (off & CHUNK_MASK));
		memcpy((uint8_t *)*slot + (off & CHUNK_MASK), data, n);
		off += n;
		data += n;
		len -= n;
		stored += n;
	}
	return stored;
}

/*
 * Tells whether n bytes at a and b are equal. Runs of up to 16 bytes are
 * compared in two overlapping words, because at that length the call to
 * memcmp() costs more than the compare.
 */
static inline bool
bytes_equal(const uint8_t *a, const uint8_t *b, uint64_t n)
{
	uint64_t a8[2], b8[2];
	uint32_t a4[2], b4[2];
	uint64_t i;

	if (n >= 8 && n <= 16) {
		memcpy(&a8[0], a, 8);
		memcpy(&a8[1], a + n - 8, 8);
		memcpy(&b8[0], b, 8);
		memcpy(&b8[1], b + n - 8, 8);
		return ((a8[0] ^ b8[0]) | (a8[1] ^ b8[1])) == 0;
	}
	if (n >= 4 && n < 8) {
		memcpy(&a4[0], a, 4);
		memcpy(&a4[1], a + n - 4, 4);
		memcpy(&b4[0], b, 4);
		memcpy(&b4[1], b + n - 4, 4);
		return ((a4[0] ^ b4[0]) | (a4[1] ^ b4[1])) == 0;
	}
	if (n < 4) {
		for (i = 0; i < n; i++)
			if (a[i] != b[i])
				return false;
		return true;
	}
	return memcmp(a, b, n) == 0;
}

/* Compares [off, off + len) with what the log holds; counts the result. */
static void
compare_bytes(const struct rv_stream_log *log, uint64_t off,
    const uint8_t *data, uint64_t len, struct rv_stream_add_result *res)
{
	const uint8_t *chunk;
	uint64_t n;

	while (len > 0) {
		n = min_u64(len, RV_STREAM_LOG_CHUNK_SIZE - (off & CHUNK_MASK));
		chunk = chunk_at(log, off);
		if (chunk != NULL &&
		    bytes_equal(chunk + (off & CHUNK_MASK), data, n))
			res->dup_bytes += (uint32_t)n;
		else
			res->conflict_bytes += (uint32_t)n;
		off += n;
		data += n;
		len -= n;
	}
}

/* Records [start, end) as filled above the hole, merging neighbours. */
static int
add_range(struct rv_stream_log *log, uint64_t start, uint64_t end)
{
	struct rv_stream_range *r = log->ranges;
	uint8_t i = 0, j;

	while (i < log->n_ranges && r[i].end < start)
		i++;
	if (i < log->n_ranges && r[i].start <= end) {
		r[i].start = min_u64(r[i].start, start);
		r[i].end = max_u64(r[i].end, end);
		/* Absorb the ranges that the grown one now reaches. */
		j = i + 1;
		while (j < log->n_ranges && r[j].start <= r[i].end) {
			r[i].end = max_u64(r[i].end, r[j].end);
			j++;
		}
		memmove(&r[i + 1], &r[j], (log->n_ranges - j) * sizeof(*r));
		log->n_ranges -= (uint8_t)(j - i - 1);
		return 0;
	}
	if (log->n_ranges == RV_STREAM_LOG_MAX_RANGES)
		return RV_STREAM_ERR_RANGES;
	memmove(&r[i + 1], &r[i], (log->n_ranges - i) * sizeof(*r));
	r[i].start = start;
	r[i].end = end;
	log->n_ranges++;
	return 0;
}

/* Moves contig_end through the first range if it now starts there. */
static void
advance_contig(struct rv_stream_log *log)
{
	while (log->n_ranges > 0 && log->ranges[0].start <= log->contig_end) {
		log->contig_end = max_u64(log->contig_end, log->ranges[0].end);
		memmove(&log->ranges[0], &log->ranges[1],
		    (log->n_ranges - 1) * sizeof(log->ranges[0]));
		log->n_ranges--;
	}
}

/* Stores the part of a segment that lies at or above contig_end. */
static int
add_above_hole(struct rv_stream_log *log, const struct rv_chunk_alloc *alloc,
    uint64_t off, const uint8_t *data, uint64_t len,
    struct rv_stream_add_result *res)
{
	uint64_t end = off + len, pos = off, stop, held_end, stored;
	uint8_t i;
	int rc;

	/* Walk the filled ranges: compare inside them, store between them. */
	for (i = 0; i <= log->n_ranges && pos < end; i++) {
		stop = i < log->n_ranges ? min_u64(log->ranges[i].start, end) :
		    end;
		if (pos < stop) {
			stored = store_bytes(log, alloc, pos,
			    data + (pos - off), stop - pos);
			res->new_bytes += (uint32_t)stored;
			pos += stored;
			if (pos < stop) {
				res->refused_bytes += (uint32_t)(end - pos);
				end = pos;
				break;
			}
		}
		if (i < log->n_ranges && pos < end &&
		    pos < log->ranges[i].end) {
			held_end = min_u64(log->ranges[i].end, end);
			compare_bytes(log, pos, data + (pos - off),
			    held_end - pos, res);
			pos = held_end;
		}
	}
	if (end <= off)
		return RV_STREAM_ERR_NOMEM;
	rc = add_range(log, off, end);
	if (rc != 0) {
		/* The bytes sit in chunks but no range names them: count them
		 * as refused so the caller knows a retransmission is needed. */
		res->refused_bytes += res->new_bytes;
		res->new_bytes = 0;
		return rc;
	}
	advance_contig(log);
	return end < off + len ? RV_STREAM_ERR_NOMEM : 0;
}

int
rv_stream_log_add(struct rv_stream_log *log,
    const struct rv_chunk_alloc *alloc, uint64_t off, const uint8_t *data,
    uint32_t len, struct rv_stream_add_result *res)
{
	uint64_t end = off + len, limit = log->base + log->max_span;
	uint64_t skip, held_end;
	int rc = 0;

	memset(res, 0, sizeof(*res));
	if (len == 0)
		return 0;
	if (off < log->base) {
		skip = min_u64(log->base - off, len);
		res->old_bytes = (uint32_t)skip;
		off += skip;
		data += skip;
		if (off >= end)
			return 0;
	}
	if (end > limit) {
		res->refused_bytes = (uint32_t)(end - max_u64(off, limit));
		end = max_u64(off, limit);
		rc = RV_STREAM_ERR_CAP;
		if (end == off)
			return rc;
	}
	if (off < log->contig_end) {
		held_end = min_u64(log->contig_end, end);
		compare_bytes(log, off, data, held_end - off, res);
		data += held_end - off;
		off = held_end;
	}
	if (off < end) {
		int rc2 = add_above_hole(log, alloc, off, data, end - off,
		    res);

		if (rc2 != 0)
			rc = rc2;
	}
	log->high_end = max_u64(log->high_end, log->contig_end);
	if (log->n_ranges > 0)
		log->high_end = max_u64(log->high_end,
		    log->ranges[log->n_ranges - 1].end);
	return rc;
}

static void
record_gap(struct rv_stream_log *log, uint64_t start, uint64_t end)
{
	struct rv_stream_range *g = log->gaps;

	log->n_gaps++;
	if (log->n_gap_slots == RV_STREAM_LOG_MAX_GAPS) {
		g[1].start = g[0].start;
		memmove(&g[0], &g[1], (RV_STREAM_LOG_MAX_GAPS - 1) *
		    sizeof(*g));
		log->n_gap_slots--;
	}
	g[log->n_gap_slots].start = start;
	g[log->n_gap_slots].end = end;
	log->n_gap_slots++;
}

void
rv_stream_log_skip(struct rv_stream_log *log, uint64_t upto)
{
	uint64_t pos = log->contig_end, hole_end;

	/* Every space between filled ranges below upto becomes a gap. */
	while (pos < upto) {
		if (log->n_ranges > 0 && log->ranges[0].start <= pos) {
			pos = max_u64(pos, log->ranges[0].end);
			memmove(&log->ranges[0], &log->ranges[1],
			    (log->n_ranges - 1) * sizeof(log->ranges[0]));
			log->n_ranges--;
			continue;
		}
		hole_end = upto;
		if (log->n_ranges > 0 && log->ranges[0].start < hole_end)
			hole_end = log->ranges[0].start;
		record_gap(log, pos, hole_end);
		pos = hole_end;
	}
	log->contig_end = max_u64(log->contig_end, pos);
	advance_contig(log);
	log->high_end = max_u64(log->high_end, log->contig_end);
}

void
rv_stream_log_trim(struct rv_stream_log *log,
    const struct rv_chunk_alloc *alloc, uint64_t new_base)
{
	void *chunk;

	new_base = min_u64(new_base, log->contig_end);
	if (new_base <= log->base)
		return;
	log->base = new_base;
	while (log->n_used > 0 &&
	    log->chunk_base + RV_STREAM_LOG_CHUNK_SIZE <= new_base) {
		chunk = log->slots[log->head];
		if (chunk != NULL) {
			alloc->put(alloc->ctx, chunk);
			log->n_chunks--;
		}
		log->slots[log->head] = NULL;
		log->head = (log->head + 1) & (log->n_slots - 1);
		log->n_used--;
		log->chunk_base += RV_STREAM_LOG_CHUNK_SIZE;
	}
	if (log->n_used == 0)
		log->chunk_base = new_base & ~CHUNK_MASK;
	while (log->n_gap_slots > 0 && log->gaps[0].end <= new_base) {
		memmove(&log->gaps[0], &log->gaps[1],
		    (log->n_gap_slots - 1) * sizeof(log->gaps[0]));
		log->n_gap_slots--;
	}
}

bool
rv_stream_log_has_hole(const struct rv_stream_log *log, uint64_t start,
    uint64_t end)
{
	uint8_t i;

	if (start >= end)
		return false;
	if (start < log->base || end > log->contig_end)
		return true;
	for (i = 0; i < log->n_gap_slots; i++)
		if (log->gaps[i].start < end && start < log->gaps[i].end)
			return true;
	return false;
}

int
rv_stream_log_read(const struct rv_stream_log *log, uint64_t off,
    uint8_t *buf, size_t len)
{
	const uint8_t *chunk;
	uint64_t n;

	if (rv_stream_log_has_hole(log, off, off + len))
		return len == 0 ? 0 : -1;
	while (len > 0) {
		chunk = chunk_at(log, off);
		if (chunk == NULL)
			return -1;
		n = min_u64(len, RV_STREAM_LOG_CHUNK_SIZE - (off & CHUNK_MASK));
		memcpy(buf, chunk + (off & CHUNK_MASK), n);
		off += n;
		buf += n;
		len -= n;
	}
	return 0;
}

void *
rv_heap_chunk_get(void *ctx)
{
	struct rv_heap_chunks *heap = ctx;
	void *chunk;

	if (heap->used_bytes + RV_STREAM_LOG_CHUNK_SIZE > heap->cap_bytes)
		return NULL;
	chunk = malloc(RV_STREAM_LOG_CHUNK_SIZE);
	if (chunk != NULL)
		heap->used_bytes += RV_STREAM_LOG_CHUNK_SIZE;
	return chunk;
}

void
rv_heap_chunk_put(void *ctx, void *chunk)
{
	struct rv_heap_chunks *heap = ctx;

	free(chunk);
	heap->used_bytes -= RV_STREAM_LOG_CHUNK_SIZE;
}
