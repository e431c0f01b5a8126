/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Drives one stream log with operations decoded from the input and checks
 * its invariants: contig_end never moves back, every readable byte was
 * written at that offset, and all chunks come back on free. Segments carry
 * a fixed function of their offset, except "conflict" segments of 0x5a.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stream_log.h"

#define MODEL_LEN	(1u << 16)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct model {
	uint8_t written[MODEL_LEN];
};

static uint8_t
stream_byte(uint64_t off)
{
	return (uint8_t)(off * 31);
}

static uint32_t
take(const uint8_t **data, size_t *size, unsigned n)
{
	uint32_t v = 0;

	while (n-- > 0 && *size > 0) {
		v = (v << 8) | **data;
		(*data)++;
		(*size)--;
	}
	return v;
}

static void
check_log(const struct rv_stream_log *log, const struct model *m)
{
	static uint8_t buf[MODEL_LEN];
	uint64_t off, end = log->contig_end < MODEL_LEN ? log->contig_end :
	    MODEL_LEN;

	if (log->base >= end)
		return;
	for (off = log->base; off < end; off++) {
		if (rv_stream_log_has_hole(log, off, off + 1))
			continue;
		if (rv_stream_log_read(log, off, buf, 1) != 0)
			abort();
		if (!m->written[off])
			abort();
		if (buf[0] != stream_byte(off) && buf[0] != 0x5a)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct model m;
	struct rv_heap_chunks heap = { .cap_bytes = 64 * 1024 };
	struct rv_chunk_alloc alloc = { rv_heap_chunk_get, rv_heap_chunk_put,
	    &heap };
	struct rv_stream_log log;
	struct rv_stream_add_result res;
	uint8_t seg[4096];
	uint64_t prev_contig = 0, off, i;
	uint32_t len, op;

	memset(&m, 0, sizeof(m));
	rv_stream_log_init(&log, take(&data, &size, 4), MODEL_LEN);
	while (size > 0) {
		op = take(&data, &size, 1) % 8;
		off = take(&data, &size, 2);
		len = take(&data, &size, 2) % sizeof(seg);
		if (op < 6) {
			for (i = 0; i < len; i++)
				seg[i] = op == 0 ? 0x5a : stream_byte(off + i);
			if (off + len > MODEL_LEN)
				len = (uint32_t)(MODEL_LEN - off);
			if (rv_stream_log_add(&log, &alloc, off, seg, len,
			    &res) == 0 && res.refused_bytes != 0)
				abort();
			if (res.new_bytes + res.dup_bytes +
			    res.conflict_bytes + res.old_bytes +
			    res.refused_bytes < len)
				abort();
			for (i = 0; i < len; i++)
				m.written[off + i] = 1;
		} else if (op == 6) {
			rv_stream_log_skip(&log, off);
		} else {
			rv_stream_log_trim(&log, &alloc, off);
		}
		if (log.contig_end < prev_contig || log.base > log.contig_end)
			abort();
		prev_contig = log.contig_end;
	}
	check_log(&log, &m);
	rv_stream_log_free(&log, &alloc);
	if (heap.used_bytes != 0)
		abort();
	return 0;
}
