/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef RV_STREAM_LOG_H
#define RV_STREAM_LOG_H

/*
 * The log of one direction of a TCP connection: the byte stream put back in
 * sequence order, whatever order the mirror delivered the segments in.
 *
 * Positions are 64-bit stream offsets: offset 0 is the first byte after the
 * SYN, so a log never sees the 2^32 wrap of sequence numbers. The caller
 * turns sequence numbers into offsets with rv_stream_log_offset().
 *
 * Bytes live in fixed-size chunks taken from a chunk allocator (hugepage
 * memory in revenantd, the heap in tests). A log holds:
 *   [base, contig_end)    every byte present, in order;
 *   [contig_end, ...)     filled ranges above the first hole, at most
 *                         RV_STREAM_LOG_MAX_RANGES of them.
 * Overlapping copies are compared: equal bytes count as duplicates, and
 * different bytes count as a conflict while the first copy is kept.
 *
 * A log belongs to the one lcore that owns its flow; nothing here locks.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes per chunk. A power of two, so offsets split with shifts. */
#define RV_STREAM_LOG_CHUNK_SHIFT	11
#define RV_STREAM_LOG_CHUNK_SIZE	(1u << RV_STREAM_LOG_CHUNK_SHIFT)

/* Filled ranges kept above the first hole before new ones are refused. */
#define RV_STREAM_LOG_MAX_RANGES	16

/* Holes given up that the log still remembers for readers. */
#define RV_STREAM_LOG_MAX_GAPS		4

/* Source of chunks; get() returns NULL when its memory cap is reached. */
struct rv_chunk_alloc {
	void *(*get)(void *ctx);
	void (*put)(void *ctx, void *chunk);
	void *ctx;
};

struct rv_stream_range {
	uint64_t start;
	uint64_t end;
};

/*
 * The fields that every segment reads come first, in the first 72 bytes,
 * so that the capture lcore touches two cache lines of a log per segment;
 * the range and gap arrays are read only when the stream has holes.
 */
struct rv_stream_log {
	uint32_t isn;			/* sequence number of the SYN */
	uint8_t n_ranges;		/* entries used in ranges[] */
	uint8_t n_gap_slots;		/* entries used in gaps[] */
	uint64_t base;			/* first offset still kept */
	uint64_t contig_end;		/* end of the in-order bytes */
	uint64_t high_end;		/* end of the highest byte seen */
	uint64_t max_span;		/* no byte at or above base + max_span
					 * is stored */

	/* Ring of chunk pointers: slot (head + i) % n_slots covers offsets
	 * chunk_base + i * CHUNK_SIZE. A NULL slot holds no bytes yet. */
	uint64_t chunk_base;
	void **slots;
	uint32_t n_slots;		/* capacity, a power of two or 0 */
	uint32_t head;
	uint32_t n_used;		/* slots in use from head */
	uint32_t n_chunks;		/* chunks allocated */

	struct rv_stream_range ranges[RV_STREAM_LOG_MAX_RANGES];

	/* Holes given up by rv_stream_log_skip(), oldest first. When more
	 * than RV_STREAM_LOG_MAX_GAPS are recorded the two oldest merge, so a
	 * few readable bytes between them become unreadable: never the
	 * reverse. */
	struct rv_stream_range gaps[RV_STREAM_LOG_MAX_GAPS];
	uint32_t n_gaps;		/* holes given up in all */
};

/* Outcome of one rv_stream_log_add(), in bytes. */
struct rv_stream_add_result {
	uint32_t new_bytes;		/* stored for the first time */
	uint32_t dup_bytes;		/* already held, identical */
	uint32_t conflict_bytes;	/* already held, different: first kept */
	uint32_t old_bytes;		/* below base: trimmed already */
	uint32_t refused_bytes;		/* not stored: cap, ranges or memory */
};

/* Errors of rv_stream_log_add(); the result still counts what was done. */
#define RV_STREAM_ERR_NOMEM	(-1)	/* the chunk allocator is empty */
#define RV_STREAM_ERR_CAP	(-2)	/* at or above base + max_span */
#define RV_STREAM_ERR_RANGES	(-3)	/* too many ranges above a hole */

/*
 * Starts an empty log for a stream whose SYN carried sequence number isn.
 * max_bytes caps how far above base bytes are accepted (0: no cap).
 */
void rv_stream_log_init(struct rv_stream_log *log, uint32_t isn,
    uint64_t max_bytes);

/* Frees every chunk and the slot ring; the log is empty afterwards. */
void rv_stream_log_free(struct rv_stream_log *log,
    const struct rv_chunk_alloc *alloc);

/* Returns the sequence number of stream offset off. */
static inline uint32_t
rv_stream_log_seq(const struct rv_stream_log *log, uint64_t off)
{
	return log->isn + 1 + (uint32_t)off;
}

/*
 * Returns the stream offset of sequence number seq. The offset is taken
 * within 2^31 of ref (usually contig_end), as TCP's own wrap-safe
 * comparison does (RFC 9293, section 3.4); results below 0 clamp to 0.
 * Inline, because the capture calls it for every segment.
 */
static inline uint64_t
rv_stream_log_offset(const struct rv_stream_log *log, uint32_t seq,
    uint64_t ref)
{
	uint32_t ref_seq = rv_stream_log_seq(log, ref);
	int32_t delta = (int32_t)(seq - ref_seq);

	if (delta < 0 && (uint64_t)(-(int64_t)delta) > ref)
		return 0;
	return ref + (int64_t)delta;
}

/*
 * Adds len bytes found at stream offset off. Bytes below base are counted
 * as old, overlaps compared, and new bytes copied into chunks.
 * Returns 0, or a negative RV_STREAM_ERR_* when some bytes could not be
 * stored (they are counted in res->refused_bytes; the rest was stored).
 */
int rv_stream_log_add(struct rv_stream_log *log,
    const struct rv_chunk_alloc *alloc, uint64_t off, const uint8_t *data,
    uint32_t len, struct rv_stream_add_result *res);

/*
 * Gives up on the holes below upto: contig_end moves to upto (or further,
 * through filled ranges that now join it) and every missing span is
 * recorded as a gap that reads refuse. Does nothing if upto <= contig_end.
 */
void rv_stream_log_skip(struct rv_stream_log *log, uint64_t upto);

/*
 * Frees whole chunks below new_base and moves base up to new_base, which
 * is clamped to contig_end. Bytes below base can no longer be read.
 */
void rv_stream_log_trim(struct rv_stream_log *log,
    const struct rv_chunk_alloc *alloc, uint64_t new_base);

/* Cache line size assumed by the prefetch helpers: 64 bytes on x86-64
 * and on most arm64 cores. */
#define RV_STREAM_LOG_LINE_SIZE		64

/*
 * Cache lines of logged bytes that rv_stream_log_prefetch() fetches at
 * most. The hardware prefetcher follows the rest of a sequential compare:
 * fetching all 23 lines of a 1448-byte retransmission measured within
 * noise of 2 on the ssh-mix replay of tools/bench capture.
 */
#define RV_STREAM_LOG_PREFETCH_LINES	2

/* Returns the slot-ring index that covers offset off, or -1 if no slot
 * covers it yet. The slot may still hold NULL. */
static inline int64_t
rv_stream_log_slot_index(const struct rv_stream_log *log, uint64_t off)
{
	uint64_t index;

	if (off < log->chunk_base)
		return -1;
	index = (off - log->chunk_base) >> RV_STREAM_LOG_CHUNK_SHIFT;
	if (index >= log->n_used)
		return -1;
	return (int64_t)((log->head + (uint32_t)index) & (log->n_slots - 1));
}

/*
 * Prefetches the slot-ring entry that points to the chunk holding offset
 * off, the first of the two dependent loads that reach logged bytes.
 * Changes nothing.
 */
static inline void
rv_stream_log_prefetch_slot(const struct rv_stream_log *log, uint64_t off)
{
	int64_t slot = rv_stream_log_slot_index(log, off);

	if (slot >= 0)
		__builtin_prefetch(&log->slots[slot]);
}

/*
 * Prefetches the first cache lines, at most RV_STREAM_LOG_PREFETCH_LINES,
 * of the logged bytes in [off, off + len) that lie in the chunk holding
 * off and below contig_end. Comparing a retransmitted segment with them
 * later then does not wait for memory. Call rv_stream_log_prefetch_slot()
 * for the same offset some time before. Changes nothing.
 */
static inline void
rv_stream_log_prefetch(const struct rv_stream_log *log, uint64_t off,
    uint32_t len)
{
	int64_t slot;
	const uint8_t *chunk;
	uint64_t first, last, end = off + len;
	unsigned int n = 0;

	if (off < log->base || off >= log->contig_end || len == 0)
		return;
	slot = rv_stream_log_slot_index(log, off);
	if (slot < 0 || (chunk = log->slots[slot]) == NULL)
		return;
	if (end > log->contig_end)
		end = log->contig_end;
	first = off & (RV_STREAM_LOG_CHUNK_SIZE - 1);
	last = first + (end - off) - 1;
	if (last >= RV_STREAM_LOG_CHUNK_SIZE)
		last = RV_STREAM_LOG_CHUNK_SIZE - 1;
	for (first &= ~(uint64_t)(RV_STREAM_LOG_LINE_SIZE - 1); first <= last &&
	    n < RV_STREAM_LOG_PREFETCH_LINES;
	    first += RV_STREAM_LOG_LINE_SIZE, n++)
		__builtin_prefetch(chunk + first);
}

/* True if some byte in [start, end) is missing from the log. */
bool rv_stream_log_has_hole(const struct rv_stream_log *log, uint64_t start,
    uint64_t end);

/*
 * Copies len bytes from offset off into buf. Returns 0, or -1 if any of
 * them is below base, above contig_end or inside a skipped hole.
 */
int rv_stream_log_read(const struct rv_stream_log *log, uint64_t off,
    uint8_t *buf, size_t len);

/* Bytes of chunk memory the log holds. */
static inline uint64_t
rv_stream_log_mem(const struct rv_stream_log *log)
{
	return (uint64_t)log->n_chunks * RV_STREAM_LOG_CHUNK_SIZE;
}

/* Bytes in [base, contig_end): what a reader can take in order. */
static inline uint64_t
rv_stream_log_len(const struct rv_stream_log *log)
{
	return log->contig_end - log->base;
}

/* A heap-backed allocator with a byte cap, for tests and tools. */
struct rv_heap_chunks {
	uint64_t cap_bytes;
	uint64_t used_bytes;
};
void *rv_heap_chunk_get(void *ctx);
void rv_heap_chunk_put(void *ctx, void *chunk);

#endif
