/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "stream_log.h"

#define STREAM_LEN	(64 * 1024)

struct fixture {
	struct rv_heap_chunks heap;
	struct rv_chunk_alloc alloc;
	struct rv_stream_log log;
	uint8_t stream[STREAM_LEN];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	size_t i;

	assert_non_null(f);
	f->heap.cap_bytes = 1u << 20;
	f->alloc.get = rv_heap_chunk_get;
	f->alloc.put = rv_heap_chunk_put;
	f->alloc.ctx = &f->heap;
	for (i = 0; i < STREAM_LEN; i++)
		f->stream[i] = (uint8_t)(i * 7 + (i >> 8));
	rv_stream_log_init(&f->log, 1000, 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	rv_stream_log_free(&f->log, &f->alloc);
	assert_int_equal(f->heap.used_bytes, 0);
	free(f);
	return 0;
}

static int
add(struct fixture *f, uint64_t off, uint32_t len,
    struct rv_stream_add_result *res)
{
	return rv_stream_log_add(&f->log, &f->alloc, off, f->stream + off, len,
	    res);
}

static void
assert_stream_equal(struct fixture *f, uint64_t off, size_t len)
{
	uint8_t *buf = malloc(len);

	assert_non_null(buf);
	assert_int_equal(rv_stream_log_read(&f->log, off, buf, len), 0);
	assert_memory_equal(buf, f->stream + off, len);
	free(buf);
}

static void
in_order_segments(void **state)
{
	struct fixture *f = *state;
	struct rv_stream_add_result res;
	uint64_t off;

	for (off = 0; off < 10000; off += 1000) {
		assert_int_equal(add(f, off, 1000, &res), 0);
		assert_int_equal(res.new_bytes, 1000);
	}
	assert_int_equal(f->log.contig_end, 10000);
	assert_int_equal(f->log.n_ranges, 0);
	assert_stream_equal(f, 0, 10000);
}

static void
out_of_order_heals(void **state)
{
	struct fixture *f = *state;
	struct rv_stream_add_result res;

	assert_int_equal(add(f, 3000, 1000, &res), 0);
	assert_int_equal(add(f, 1000, 1000, &res), 0);
	assert_int_equal(f->log.contig_end, 0);
	assert_int_equal(f->log.n_ranges, 2);
	assert_true(rv_stream_log_has_hole(&f->log, 0, 4000));
	assert_int_equal(add(f, 0, 1000, &res), 0);
	assert_int_equal(f->log.contig_end, 2000);
	assert_int_equal(add(f, 2000, 1000, &res), 0);
	assert_int_equal(f->log.contig_end, 4000);
	assert_int_equal(f->log.n_ranges, 0);
	assert_false(rv_stream_log_has_hole(&f->log, 0, 4000));
	assert_stream_equal(f, 0, 4000);
}

static void
reverse_order_segments(void **state)
{
	struct fixture *f = *state;
	struct rv_stream_add_result res;
	int i;

	for (i = 9; i >= 0; i--)
		assert_int_equal(add(f, (uint64_t)i * 500, 500, &res), 0);
	assert_int_equal(f->log.contig_end, 5000);
	assert_stream_equal(f, 0, 5000);
}

static void
overlap_equal_bytes(void **state)
{
	struct fixture *f = *state;
	struct rv_stream_add_result res;

	assert_int_equal(add(f, 0, 3000, &res), 0);
	assert_int_equal(add(f, 1000, 4000, &res), 0);
	assert_int_equal(res.dup_bytes, 2000);
	assert_int_equal(res.new_bytes, 2000);
	assert_int_equal(res.conflict_bytes, 0);
	assert_int_equal(f->log.contig_end, 5000);
	assert_stream_equal(f, 0, 5000);
}

static void
overlap_different_bytes(void **state)
{
	struct fixture *f = *state;
	struct rv_stream_add_result res;
	uint8_t other[1000];

	memset(other, 0xee, sizeof(other));
	assert_int_equal(add(f, 0, 2000, &res), 0);
	assert_int_equal(rv_stream_log_add(&f->log, &f->alloc, 500, other,
	    sizeof(other), &res), 0);
	assert_int_equal(res.conflict_bytes, 1000);
	assert_int_equal(res.dup_bytes, 0);
	/* The first copy stays. */
	assert_stream_equal(f, 0, 2000);
}

static void
overlap_above_hole(void **state)
{
	struct fixture *f = *state;
	struct rv_stream_add_result res;
	uint8_t other[600];

	memset(other, 0x11, sizeof(other));
	assert_int_equal(add(f, 2000, 1000, &res), 0);
	assert_int_equal(add(f, 1500, 2000, &res), 0);
	assert_int_equal(res.new_bytes, 1000);
	assert_int_equal(res.dup_bytes, 1000);
	assert_int_equal(rv_stream_log_add(&f->log, &f->alloc, 2900, other,
	    sizeof(other), &res), 0);
	assert_int_equal(res.conflict_bytes, 600);
	assert_int_equal(add(f, 0, 1500, &res), 0);
	assert_int_equal(f->log.contig_end, 3500);
	assert_stream_equal(f, 0, 3500);
}

static void
segment_spans_ranges(void **state)
{
	struct fixture *f = *state;
	struct rv_stream_add_result res;

	assert_int_equal(add(f, 1000, 100, &res), 0);
	assert_int_equal(add(f, 2000, 100, &res), 0);
	assert_int_equal(add(f, 3000, 100, &res), 0);
	assert_int_equal(f->log.n_ranges, 3);
	assert_int_equal(add(f, 500, 3000, &res), 0);
	assert_int_equal(res.dup_bytes, 300);
	assert_int_equal(res.new_bytes, 2700);
	assert_int_equal(f->log.n_ranges, 1);
	assert_int_equal(add(f, 0, 500, &res), 0);
	assert_int_equal(f->log.contig_end, 3500);
	assert_stream_equal(f, 0, 3500);
}

static void
sequence_wraparound(void **state)
{
	struct fixture *f = *state;
	struct rv_stream_add_result res;
	uint32_t isn = 0xfffff000u;
	uint64_t off;

	rv_stream_log_free(&f->log, &f->alloc);
	rv_stream_log_init(&f->log, isn, 0);
	/* Offset 4095 is the last sequence number below 2^32. */
	assert_int_equal(rv_stream_log_offset(&f->log, isn + 1, 0), 0);
	assert_int_equal(rv_stream_log_offset(&f->log, 0xffffffffu, 0), 4094);
	assert_int_equal(rv_stream_log_offset(&f->log, 0x00000010u, 0), 4111);
	for (off = 0; off < 8192; off += 1024) {
		uint32_t seq = rv_stream_log_seq(&f->log, off);

		assert_int_equal(rv_stream_log_offset(&f->log, seq,
		    f->log.contig_end), off);
		assert_int_equal(add(f, off, 1024, &res), 0);
	}
	assert_int_equal(f->log.contig_end, 8192);
	assert_stream_equal(f, 0, 8192);
}

static void
offset_beyond_four_gib(void **state)
{
	struct fixture *f = *state;
	uint64_t ref = (5ull << 32) + 100;
	uint32_t seq = rv_stream_log_seq(&f->log, ref);

	assert_int_equal(rv_stream_log_offset(&f->log, seq, ref), ref);
	assert_int_equal(rv_stream_log_offset(&f->log, seq + 10, ref),
	    ref + 10);
	assert_int_equal(rv_stream_log_offset(&f->log, seq - 10, ref),
	    ref - 10);
	/* A sequence number behind offset 0 clamps to 0. */
	assert_int_equal(rv_stream_log_offset(&f->log, f->log.isn - 5, 0), 0);
}

static void
gap_skipped_stays_unreadable(void **state)
{
	struct fixture *f = *state;
	struct rv_stream_add_result res;
	uint8_t buf[100];

	assert_int_equal(add(f, 0, 1000, &res), 0);
	assert_int_equal(add(f, 2000, 1000, &res), 0);
	rv_stream_log_skip(&f->log, 1500);
	assert_int_equal(f->log.contig_end, 1500);
	assert_int_equal(f->log.n_gaps, 1);
	assert_int_equal(add(f, 1500, 500, &res), 0);
	assert_int_equal(f->log.contig_end, 3000);
	assert_int_equal(rv_stream_log_read(&f->log, 900, buf, 200), -1);
	assert_stream_equal(f, 0, 1000);
	assert_stream_equal(f, 1500, 1500);
	assert_true(rv_stream_log_has_hole(&f->log, 999, 1001));
	assert_false(rv_stream_log_has_hole(&f->log, 1500, 3000));
}

static void
skip_joins_ranges(void **state)
{
	struct fixture *f = *state;
	struct rv_stream_add_result res;

	assert_int_equal(add(f, 1000, 1000, &res), 0);
	rv_stream_log_skip(&f->log, 1200);
	assert_int_equal(f->log.contig_end, 2000);
	assert_int_equal(f->log.n_ranges, 0);
	assert_int_equal(f->log.gaps[0].start, 0);
	assert_int_equal(f->log.gaps[0].end, 1000);
}

/* Found by fuzz_stream_log: a skip past a range used to leave the space
 * above that range counted as present. */
static void
skip_records_every_hole(void **state)
{
	struct fixture *f = *state;
	struct rv_stream_add_result res;

	assert_int_equal(add(f, 16, 8, &res), 0);
	rv_stream_log_skip(&f->log, 254);
	assert_int_equal(f->log.contig_end, 254);
	assert_int_equal(f->log.n_gaps, 2);
	assert_true(rv_stream_log_has_hole(&f->log, 0, 16));
	assert_false(rv_stream_log_has_hole(&f->log, 16, 24));
	assert_true(rv_stream_log_has_hole(&f->log, 24, 254));
	assert_stream_equal(f, 16, 8);
}

static void
trim_frees_chunks(void **state)
{
	struct fixture *f = *state;
	struct rv_stream_add_result res;
	uint8_t buf[10];

	assert_int_equal(add(f, 0, 20000, &res), 0);
	assert_int_equal(f->log.n_chunks, (20000 + RV_STREAM_LOG_CHUNK_SIZE -
	    1) / RV_STREAM_LOG_CHUNK_SIZE);
	rv_stream_log_trim(&f->log, &f->alloc, 10000);
	assert_int_equal(f->log.base, 10000);
	assert_int_equal(f->log.chunk_base,
	    10000 & ~(RV_STREAM_LOG_CHUNK_SIZE - 1));
	assert_int_equal(rv_stream_log_read(&f->log, 9990, buf, 10), -1);
	assert_stream_equal(f, 10000, 10000);
	/* Retransmitted bytes below base count as old. */
	assert_int_equal(add(f, 9000, 2000, &res), 0);
	assert_int_equal(res.old_bytes, 1000);
	assert_int_equal(res.dup_bytes, 1000);
	/* Trimming past contig_end stops at contig_end. */
	rv_stream_log_trim(&f->log, &f->alloc, 50000);
	assert_int_equal(f->log.base, 20000);
	assert_int_equal(add(f, 20000, 5000, &res), 0);
	assert_stream_equal(f, 20000, 5000);
}

static void
memory_cap_refuses(void **state)
{
	struct fixture *f = *state;
	struct rv_stream_add_result res;

	f->heap.cap_bytes = 2 * RV_STREAM_LOG_CHUNK_SIZE;
	assert_int_equal(add(f, 0, 3 * RV_STREAM_LOG_CHUNK_SIZE, &res),
	    RV_STREAM_ERR_NOMEM);
	assert_int_equal(res.refused_bytes, RV_STREAM_LOG_CHUNK_SIZE);
	assert_int_equal(f->log.contig_end, 2 * RV_STREAM_LOG_CHUNK_SIZE);
	assert_stream_equal(f, 0, 2 * RV_STREAM_LOG_CHUNK_SIZE);
}

static void
span_cap_refuses(void **state)
{
	struct fixture *f = *state;
	struct rv_stream_add_result res;

	rv_stream_log_free(&f->log, &f->alloc);
	rv_stream_log_init(&f->log, 7, 5000);
	assert_int_equal(add(f, 4000, 2000, &res), RV_STREAM_ERR_CAP);
	assert_int_equal(res.refused_bytes, 1000);
	assert_int_equal(res.new_bytes, 1000);
	assert_int_equal(add(f, 6000, 100, &res), RV_STREAM_ERR_CAP);
	assert_int_equal(res.refused_bytes, 100);
}

static void
too_many_ranges(void **state)
{
	struct fixture *f = *state;
	struct rv_stream_add_result res;
	int i;

	for (i = 0; i < RV_STREAM_LOG_MAX_RANGES; i++)
		assert_int_equal(add(f, 100 + (uint64_t)i * 200, 100, &res),
		    0);
	assert_int_equal(add(f, 100 + (uint64_t)i * 200, 100, &res),
	    RV_STREAM_ERR_RANGES);
	assert_int_equal(res.refused_bytes, 100);
	/* A segment that fills the holes still joins everything. */
	assert_int_equal(add(f, 0, 5000, &res), 0);
	assert_int_equal(f->log.contig_end, 5000);
	assert_stream_equal(f, 0, 5000);
}

static void
random_order_matches_stream(void **state)
{
	struct fixture *f = *state;
	struct rv_stream_add_result res;
	uint64_t off, len;
	int i;

	srand(7);
	/* Random segments, with overlaps and repeats, then one full pass so
	 * no hole is left. */
	for (i = 0; i < 3000; i++) {
		off = (uint64_t)rand() % (STREAM_LEN - 1);
		len = 1 + (uint64_t)rand() % 1500;
		if (off + len > STREAM_LEN)
			len = STREAM_LEN - off;
		(void)add(f, off, (uint32_t)len, &res);
		assert_int_equal(res.conflict_bytes, 0);
	}
	for (off = 0; off < STREAM_LEN; off += 1000) {
		len = STREAM_LEN - off < 1000 ? STREAM_LEN - off : 1000;
		assert_int_equal(add(f, off, (uint32_t)len, &res), 0);
	}
	assert_int_equal(f->log.contig_end, STREAM_LEN);
	assert_int_equal(f->log.n_ranges, 0);
	assert_stream_equal(f, 0, STREAM_LEN);
}

/*
 * Retransmissions of every length up to 40 bytes, once equal and once with
 * one byte changed at each position: the compare of short overlaps, done
 * in words rather than with memcmp(), must see every difference.
 */
static void
short_overlap_every_difference(void **state)
{
	struct fixture *f = *state;
	struct rv_stream_add_result res;
	uint8_t copy[40];
	uint32_t len, pos;
	uint64_t off = 100;

	assert_int_equal(add(f, 0, 200, &res), 0);
	for (len = 1; len <= sizeof(copy); len++) {
		assert_int_equal(add(f, off, len, &res), 0);
		assert_int_equal(res.dup_bytes, len);
		assert_int_equal(res.conflict_bytes, 0);
		for (pos = 0; pos < len; pos++) {
			memcpy(copy, f->stream + off, len);
			copy[pos] ^= 0x01;
			assert_int_equal(rv_stream_log_add(&f->log, &f->alloc,
			    off, copy, len, &res), 0);
			assert_int_equal(res.conflict_bytes, len);
			assert_int_equal(res.dup_bytes, 0);
		}
	}
	assert_stream_equal(f, 0, 200);
}

/* A short retransmission across a chunk boundary is compared in two
 * pieces, each of which may differ on its own. */
static void
short_overlap_across_chunks(void **state)
{
	struct fixture *f = *state;
	struct rv_stream_add_result res;
	uint64_t off = RV_STREAM_LOG_CHUNK_SIZE - 5;
	uint8_t copy[12];

	assert_int_equal(add(f, 0, 2 * RV_STREAM_LOG_CHUNK_SIZE, &res), 0);
	memcpy(copy, f->stream + off, sizeof(copy));
	copy[sizeof(copy) - 1] ^= 0x80;
	assert_int_equal(rv_stream_log_add(&f->log, &f->alloc, off, copy,
	    sizeof(copy), &res), 0);
	assert_int_equal(res.dup_bytes, 5);
	assert_int_equal(res.conflict_bytes, 7);
	assert_stream_equal(f, 0, 2 * RV_STREAM_LOG_CHUNK_SIZE);
}

/* The prefetch helpers accept any offset, held or not, and change
 * nothing. */
static void
prefetch_changes_nothing(void **state)
{
	struct fixture *f = *state;
	struct rv_stream_add_result res;
	struct rv_stream_log before;
	uint64_t offs[] = { 0, 100, 2047, 2048, 4999, 5000, 1u << 20 };
	size_t i;

	rv_stream_log_prefetch_slot(&f->log, 0);
	rv_stream_log_prefetch(&f->log, 0, 100);
	assert_int_equal(add(f, 0, 5000, &res), 0);
	memcpy(&before, &f->log, sizeof(before));
	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		rv_stream_log_prefetch_slot(&f->log, offs[i]);
		rv_stream_log_prefetch(&f->log, offs[i], 1448);
		rv_stream_log_prefetch(&f->log, offs[i], 0);
	}
	assert_memory_equal(&before, &f->log, sizeof(before));
	assert_stream_equal(f, 0, 5000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(in_order_segments, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(out_of_order_heals, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(reverse_order_segments, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(overlap_equal_bytes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(overlap_different_bytes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(overlap_above_hole, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(segment_spans_ranges, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(sequence_wraparound, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(offset_beyond_four_gib, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(gap_skipped_stays_unreadable,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(skip_joins_ranges, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(skip_records_every_hole, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(trim_frees_chunks, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(memory_cap_refuses, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(span_cap_refuses, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(too_many_ranges, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(random_order_matches_stream,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(short_overlap_every_difference,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(short_overlap_across_chunks,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(prefetch_changes_nothing,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
