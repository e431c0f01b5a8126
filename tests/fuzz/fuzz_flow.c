/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Feeds a sequence of frames through the parser and the connection
 * tracking, as the capture lcore does for one monitored service
 * (198.51.100.2 port 22). Input: frames, each prefixed by a 2-byte length
 * and a 1-byte clock step in milliseconds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flow.h"
#include "pkt_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t server[4] = { 198, 51, 100, 2 };

/* Returns the direction of pkt, or -1 if it is not for the service. */
static int
direction(const struct rv_pkt *pkt)
{
	if (pkt->ip_version != 4)
		return -1;
	if (memcmp(pkt->dst, server, 4) == 0 && pkt->dport == 22)
		return RV_DIR_C2S;
	if (memcmp(pkt->src, server, 4) == 0 && pkt->sport == 22)
		return RV_DIR_S2C;
	return -1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rv_heap_chunks heap = { .cap_bytes = 256 * 1024 };
	struct rv_chunk_alloc alloc = { rv_heap_chunk_get, rv_heap_chunk_put,
	    &heap };
	struct rv_flow_limits limits = { .log_max = 64 * 1024,
	    .gap_timeout_ns = 5000000 };
	struct rv_flow_counters counters;
	struct rv_flow_ctx ctx = { &alloc, &limits, &counters, 1 };
	struct rv_flow_key key;
	struct rv_flow flow;
	struct rv_pkt pkt;
	bool started = false;
	size_t len;
	int dir;

	memset(&counters, 0, sizeof(counters));
	memset(&key, 0, sizeof(key));
	memset(&flow, 0, sizeof(flow));
	while (size >= 3) {
		len = (size_t)data[0] << 8 | data[1];
		ctx.now_ns += (uint64_t)data[2] * 1000000;
		data += 3;
		size -= 3;
		if (len > size)
			len = size;
		if (rv_pkt_parse(data, (uint32_t)len, &pkt) == RV_PKT_TCP &&
		    (dir = direction(&pkt)) >= 0) {
			if (!started) {
				rv_flow_init(&flow, &key, 1, 0, &pkt, dir,
				    ctx.now_ns);
				started = true;
			}
			if (rv_flow_track(&flow, &ctx, &pkt, dir)) {
				rv_flow_free(&flow, &alloc);
				rv_flow_init(&flow, &key, 2, 0, &pkt, dir,
				    ctx.now_ns);
				(void)rv_flow_track(&flow, &ctx, &pkt, dir);
			}
			if (rv_flow_log_mem(&flow) > limits.log_max)
				abort();
		}
		data += len;
		size -= len;
		rv_flow_check_gaps(&flow, &ctx);
	}
	rv_flow_free(&flow, &alloc);
	if (heap.used_bytes != 0)
		abort();
	return 0;
}
