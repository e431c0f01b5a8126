/* SPDX-License-Identifier: BSD-3-Clause */
/* Connection tracking: handshake, both streams, acknowledgements that pass
 * the captured data, holes, closing, and the memory caps. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "flow.h"

#define MS	1000000ull
#define CLIENT_ISN	0x10000000u
#define SERVER_ISN	0xfffffff0u	/* the server's stream wraps 2^32 */

struct fixture {
	struct rv_heap_chunks heap;
	struct rv_chunk_alloc alloc;
	struct rv_flow_limits limits;
	struct rv_flow_counters counters;
	struct rv_flow_ctx ctx;
	struct rv_flow_key key;
	struct rv_flow flow;
	uint8_t data[65536];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	size_t i;

	assert_non_null(f);
	f->heap.cap_bytes = 8u << 20;
	f->alloc = (struct rv_chunk_alloc){ rv_heap_chunk_get,
	    rv_heap_chunk_put, &f->heap };
	f->limits.log_max = 4u << 20;
	f->limits.gap_timeout_ns = 500 * MS;
	f->ctx.alloc = &f->alloc;
	f->ctx.limits = &f->limits;
	f->ctx.counters = &f->counters;
	f->ctx.now_ns = 1000 * MS;
	f->key.family = 4;
	f->key.server_port = 22;
	f->key.client_port = 40000;
	for (i = 0; i < sizeof(f->data); i++)
		f->data[i] = (uint8_t)(i * 13 + 1);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	rv_flow_free(&f->flow, &f->alloc);
	assert_int_equal(f->heap.used_bytes, 0);
	free(f);
	return 0;
}

static struct rv_pkt
segment(uint8_t flags, uint32_t seq, uint32_t ack, const uint8_t *payload,
    uint32_t len)
{
	struct rv_pkt pkt;

	memset(&pkt, 0, sizeof(pkt));
	pkt.ip_version = 4;
	pkt.ip_proto = 6;
	pkt.tcp_flags = flags;
	pkt.seq = seq;
	pkt.ack = ack;
	pkt.window = 1000;
	pkt.payload = payload;
	pkt.payload_len = len;
	pkt.wire_payload_len = len;
	return pkt;
}

static bool
send_pkt(struct fixture *f, int dir, struct rv_pkt *pkt)
{
	f->ctx.now_ns += MS;
	return rv_flow_track(&f->flow, &f->ctx, pkt, dir);
}

static void
handshake(struct fixture *f)
{
	struct rv_pkt syn = segment(RV_TCP_SYN, CLIENT_ISN, 0, NULL, 0);
	struct rv_pkt syn_ack = segment(RV_TCP_SYN | RV_TCP_ACK, SERVER_ISN,
	    CLIENT_ISN + 1, NULL, 0);
	struct rv_pkt ack = segment(RV_TCP_ACK, CLIENT_ISN + 1,
	    SERVER_ISN + 1, NULL, 0);

	syn.opts.has_mss = true;
	syn.opts.mss = 1460;
	syn.opts.has_wscale = true;
	syn.opts.wscale = 7;
	syn.opts.sack_permitted = true;
	syn.opts.has_ts = true;
	syn.opts.tsval = 100;
	syn_ack.opts = syn.opts;
	syn_ack.opts.mss = 1400;
	syn_ack.opts.wscale = 9;
	syn_ack.opts.tsval = 5000;
	syn_ack.opts.tsecr = 100;
	rv_flow_init(&f->flow, &f->key, 1, 0, &syn, RV_DIR_C2S,
	    f->ctx.now_ns);
	assert_false(send_pkt(f, RV_DIR_C2S, &syn));
	assert_int_equal(f->flow.state, RV_FLOW_SYN);
	assert_false(send_pkt(f, RV_DIR_S2C, &syn_ack));
	assert_int_equal(f->flow.state, RV_FLOW_SYN_ACK);
	assert_false(send_pkt(f, RV_DIR_C2S, &ack));
	assert_int_equal(f->flow.state, RV_FLOW_ESTABLISHED);
}

/* Sends len bytes of direction dir from stream offset off, acknowledging
 * everything the peer sent so far. */
static void
send_data(struct fixture *f, int dir, uint64_t off, uint32_t len)
{
	struct rv_flow_dir *d = &f->flow.dir[dir];
	struct rv_flow_dir *peer = &f->flow.dir[dir ^ 1];
	struct rv_pkt pkt = segment(RV_TCP_ACK | RV_TCP_PSH,
	    d->isn + 1 + (uint32_t)off, peer->snd_nxt, f->data + off, len);

	assert_false(send_pkt(f, dir, &pkt));
}

static void
send_ack(struct fixture *f, int dir, uint32_t ack)
{
	struct rv_pkt pkt = segment(RV_TCP_ACK, f->flow.dir[dir].snd_nxt, ack,
	    NULL, 0);

	assert_false(send_pkt(f, dir, &pkt));
}

static void
handshake_records_options(void **state)
{
	struct fixture *f = *state;
	struct rv_flow_dir *c = &f->flow.dir[RV_DIR_C2S];
	struct rv_flow_dir *s = &f->flow.dir[RV_DIR_S2C];

	handshake(f);
	assert_int_equal(c->isn, CLIENT_ISN);
	assert_int_equal(s->isn, SERVER_ISN);
	assert_true(c->syn.seen);
	assert_int_equal(c->syn.mss, 1460);
	assert_int_equal(s->syn.mss, 1400);
	assert_int_equal(c->syn.wscale, 7);
	assert_int_equal(s->syn.wscale, 9);
	assert_true(c->syn.sack_ok);
	assert_true(s->syn.ts_ok);
	assert_int_equal(s->tsval, 5000);
	assert_int_equal(s->tsecr, 100);
	assert_int_equal(f->flow.unrec, 0);
}

static void
window_scaled_after_handshake(void **state)
{
	struct fixture *f = *state;

	handshake(f);
	/* The SYN's window is never scaled (RFC 7323 section 2.2). */
	send_data(f, RV_DIR_C2S, 0, 10);
	assert_int_equal(f->flow.dir[RV_DIR_C2S].window_raw, 1000);
	assert_int_equal(f->flow.dir[RV_DIR_C2S].window, 1000u << 7);
	send_data(f, RV_DIR_S2C, 0, 10);
	assert_int_equal(f->flow.dir[RV_DIR_S2C].window, 1000u << 9);
}

static void
streams_logged_both_ways(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[20000];
	uint64_t off;

	handshake(f);
	for (off = 0; off < 20000; off += 1000) {
		send_data(f, RV_DIR_C2S, off, 1000);
		send_data(f, RV_DIR_S2C, off, 1000);
	}
	assert_int_equal(f->flow.dir[RV_DIR_C2S].log.contig_end, 20000);
	assert_int_equal(f->flow.dir[RV_DIR_S2C].log.contig_end, 20000);
	assert_int_equal(f->flow.dir[RV_DIR_S2C].snd_nxt,
	    SERVER_ISN + 1 + 20000);
	assert_int_equal(f->counters.bytes_logged, 40000);
	assert_int_equal(rv_stream_log_read(&f->flow.dir[RV_DIR_S2C].log, 0,
	    buf, sizeof(buf)), 0);
	assert_memory_equal(buf, f->data, sizeof(buf));
	assert_int_equal(f->flow.unrec, 0);
}

static void
ack_before_data_accepted(void **state)
{
	struct fixture *f = *state;

	handshake(f);
	/* The mirror shows the client's ACK of 2000 bytes first. */
	send_ack(f, RV_DIR_C2S, SERVER_ISN + 1 + 2000);
	assert_int_not_equal(f->flow.dir[RV_DIR_S2C].ack_ahead_ns, 0);
	f->ctx.now_ns += 100 * MS;
	send_data(f, RV_DIR_S2C, 0, 2000);
	assert_int_equal(f->flow.dir[RV_DIR_S2C].ack_ahead_ns, 0);
	f->ctx.now_ns += 1000 * MS;
	rv_flow_check_gaps(&f->flow, &f->ctx);
	assert_int_equal(f->flow.unrec, 0);
	assert_int_equal(f->counters.gaps, 0);
}

static void
unfilled_hole_marks_gap(void **state)
{
	struct fixture *f = *state;
	struct rv_flow_dir *s = &f->flow.dir[RV_DIR_S2C];

	handshake(f);
	send_data(f, RV_DIR_S2C, 0, 1000);
	/* Bytes 1000..2000 never reach the mirror. */
	send_data(f, RV_DIR_S2C, 2000, 1000);
	send_ack(f, RV_DIR_C2S, SERVER_ISN + 1 + 3000);
	f->ctx.now_ns += 100 * MS;
	rv_flow_check_gaps(&f->flow, &f->ctx);
	assert_int_equal(f->flow.unrec, 0);
	f->ctx.now_ns += 500 * MS;
	rv_flow_check_gaps(&f->flow, &f->ctx);
	assert_true(f->flow.unrec & RV_UNREC_GAP);
	assert_int_equal(f->flow.unrec_dir, RV_DIR_S2C);
	assert_int_equal(f->flow.unrec_offset, 1000);
	assert_int_equal(f->counters.gaps, 1);
	/* Logging goes on after the hole. */
	assert_int_equal(s->log.contig_end, 3000);
	send_data(f, RV_DIR_S2C, 3000, 500);
	assert_int_equal(s->log.contig_end, 3500);
	assert_true(rv_stream_log_has_hole(&s->log, 1000, 2000));
}

static void
hole_filled_by_retransmission(void **state)
{
	struct fixture *f = *state;

	handshake(f);
	send_data(f, RV_DIR_C2S, 1000, 1000);
	send_ack(f, RV_DIR_S2C, CLIENT_ISN + 1 + 2000);
	f->ctx.now_ns += 200 * MS;
	send_data(f, RV_DIR_C2S, 0, 1000);
	f->ctx.now_ns += 1000 * MS;
	rv_flow_check_gaps(&f->flow, &f->ctx);
	assert_int_equal(f->flow.unrec, 0);
	assert_int_equal(f->flow.dir[RV_DIR_C2S].log.contig_end, 2000);
}

static void
truncated_frame_marks_flow(void **state)
{
	struct fixture *f = *state;
	struct rv_pkt pkt;

	handshake(f);
	pkt = segment(RV_TCP_ACK, CLIENT_ISN + 1, SERVER_ISN + 1, f->data,
	    600);
	pkt.wire_payload_len = 1400;
	pkt.truncated = true;
	assert_false(send_pkt(f, RV_DIR_C2S, &pkt));
	assert_true(f->flow.unrec & RV_UNREC_TRUNCATED);
	assert_int_equal(f->flow.truncated_frames, 1);
	assert_int_equal(f->counters.truncated_frames, 1);
	/* The sequence space still advances by what the wire carried. */
	assert_int_equal(f->flow.dir[RV_DIR_C2S].snd_nxt, CLIENT_ISN + 1 +
	    1400);
}

static void
conflicting_copy_marks_flow(void **state)
{
	struct fixture *f = *state;
	uint8_t other[100];
	struct rv_pkt pkt;

	handshake(f);
	send_data(f, RV_DIR_C2S, 0, 100);
	memset(other, 0xab, sizeof(other));
	pkt = segment(RV_TCP_ACK, CLIENT_ISN + 1, SERVER_ISN + 1, other,
	    sizeof(other));
	assert_false(send_pkt(f, RV_DIR_C2S, &pkt));
	assert_true(f->flow.unrec & RV_UNREC_CONFLICT);
	assert_int_equal(f->flow.dir[RV_DIR_C2S].conflict_bytes, 100);
	assert_int_equal(f->counters.conflicts, 1);
}

static void
fin_both_ways_closes(void **state)
{
	struct fixture *f = *state;
	struct rv_pkt fin;

	handshake(f);
	send_data(f, RV_DIR_C2S, 0, 10);
	fin = segment(RV_TCP_FIN | RV_TCP_ACK, CLIENT_ISN + 11,
	    SERVER_ISN + 1, NULL, 0);
	assert_false(send_pkt(f, RV_DIR_C2S, &fin));
	assert_int_equal(f->flow.state, RV_FLOW_FIN);
	fin = segment(RV_TCP_FIN | RV_TCP_ACK, SERVER_ISN + 1,
	    CLIENT_ISN + 12, NULL, 0);
	assert_false(send_pkt(f, RV_DIR_S2C, &fin));
	assert_int_equal(f->flow.state, RV_FLOW_FIN);
	send_ack(f, RV_DIR_C2S, SERVER_ISN + 2);
	assert_int_equal(f->flow.state, RV_FLOW_CLOSED);
	assert_int_not_equal(f->flow.closed_ns, 0);
	/* The FIN is not a byte of the stream. */
	assert_int_equal(f->flow.dir[RV_DIR_C2S].log.contig_end, 10);
}

static void
reset_ends_flow(void **state)
{
	struct fixture *f = *state;
	struct rv_pkt rst;

	handshake(f);
	rst = segment(RV_TCP_RST, SERVER_ISN + 1, 0, NULL, 0);
	assert_false(send_pkt(f, RV_DIR_S2C, &rst));
	assert_int_equal(f->flow.state, RV_FLOW_RST);
	/* Later data changes nothing. */
	send_data(f, RV_DIR_C2S, 0, 10);
	assert_int_equal(f->flow.dir[RV_DIR_C2S].log.contig_end, 0);
}

static void
midstream_join_is_unrecoverable(void **state)
{
	struct fixture *f = *state;
	struct rv_pkt pkt = segment(RV_TCP_ACK, 5000, 9000, f->data, 100);

	rv_flow_init(&f->flow, &f->key, 1, 0, &pkt, RV_DIR_C2S,
	    f->ctx.now_ns);
	assert_false(send_pkt(f, RV_DIR_C2S, &pkt));
	assert_int_equal(f->flow.state, RV_FLOW_ESTABLISHED);
	assert_true(f->flow.unrec & RV_UNREC_NO_HANDSHAKE);
	assert_int_equal(f->flow.dir[RV_DIR_C2S].isn, 4999);
	assert_int_equal(f->flow.dir[RV_DIR_C2S].log.contig_end, 100);
}

/* Found by fuzz_flow: a SYN after a mid-stream start used to leak the
 * chunks logged under the guessed ISN. The teardown checks the heap. */
static void
syn_after_midstream_frees_log(void **state)
{
	struct fixture *f = *state;
	struct rv_pkt pkt = segment(RV_TCP_ACK, 5000, 9000, f->data, 100);
	struct rv_pkt syn = segment(RV_TCP_SYN, 7000, 0, NULL, 0);

	rv_flow_init(&f->flow, &f->key, 1, 0, &pkt, RV_DIR_C2S,
	    f->ctx.now_ns);
	assert_false(send_pkt(f, RV_DIR_C2S, &pkt));
	assert_int_equal(f->flow.dir[RV_DIR_C2S].log.n_chunks, 1);
	assert_false(send_pkt(f, RV_DIR_C2S, &syn));
	assert_int_equal(f->flow.dir[RV_DIR_C2S].isn, 7000);
	assert_int_equal(f->flow.dir[RV_DIR_C2S].log.n_chunks, 0);
}

static void
new_syn_restarts_flow(void **state)
{
	struct fixture *f = *state;
	struct rv_pkt syn = segment(RV_TCP_SYN, CLIENT_ISN + 77777, 0, NULL,
	    0);
	struct rv_pkt again = segment(RV_TCP_SYN, CLIENT_ISN, 0, NULL, 0);

	handshake(f);
	assert_false(send_pkt(f, RV_DIR_C2S, &again));
	assert_true(send_pkt(f, RV_DIR_C2S, &syn));
	assert_int_equal(f->counters.reused_ports, 1);
}

static void
log_cap_drops_oldest(void **state)
{
	struct fixture *f = *state;
	uint64_t off;

	f->limits.log_max = 8 * RV_STREAM_LOG_CHUNK_SIZE;
	handshake(f);
	for (off = 0; off < 20 * RV_STREAM_LOG_CHUNK_SIZE; off += 1024)
		send_data(f, RV_DIR_C2S, off, 1024);
	assert_true(rv_flow_log_mem(&f->flow) <= f->limits.log_max);
	assert_true(f->flow.unrec & RV_UNREC_LOG_CAP);
	assert_int_equal(f->counters.log_cap_hits, 1);
	/* The newest bytes are kept, as a ring keeps them. */
	assert_int_equal(f->flow.dir[RV_DIR_C2S].log.contig_end,
	    20 * RV_STREAM_LOG_CHUNK_SIZE);
	assert_true(f->flow.dir[RV_DIR_C2S].log.base > 0);
}

static void
memory_cap_marks_flow(void **state)
{
	struct fixture *f = *state;

	f->heap.cap_bytes = 2 * RV_STREAM_LOG_CHUNK_SIZE;
	handshake(f);
	send_data(f, RV_DIR_C2S, 0, 3 * RV_STREAM_LOG_CHUNK_SIZE);
	assert_true(f->flow.unrec & RV_UNREC_MEMORY);
	assert_int_equal(f->counters.memory_cap_hits, 1);
}

static void
timestamps_keep_highest(void **state)
{
	struct fixture *f = *state;
	struct rv_pkt pkt;

	handshake(f);
	pkt = segment(RV_TCP_ACK, SERVER_ISN + 1, CLIENT_ISN + 1, NULL, 0);
	pkt.opts.has_ts = true;
	pkt.opts.tsval = 6000;
	pkt.opts.tsecr = 150;
	assert_false(send_pkt(f, RV_DIR_S2C, &pkt));
	/* A reordered older segment does not move TSval back. */
	pkt.opts.tsval = 5500;
	assert_false(send_pkt(f, RV_DIR_S2C, &pkt));
	assert_int_equal(f->flow.dir[RV_DIR_S2C].tsval, 6000);
	assert_int_equal(f->flow.dir[RV_DIR_S2C].tsecr, 150);
}

static void
reason_names_and_text(void **state)
{
	struct fixture *f = *state;
	char buf[128];

	assert_string_equal(rv_flow_state_name(RV_FLOW_ESTABLISHED),
	    "established");
	assert_string_equal(rv_flow_state_name(200), "unknown");
	assert_string_equal(rv_flow_unrec_name(1), "capture_gap");
	rv_flow_mark(&f->flow, RV_UNREC_GAP, RV_DIR_S2C, 1234);
	rv_flow_mark(&f->flow, RV_UNREC_TRUNCATED, RV_DIR_C2S, 5);
	rv_flow_unrec_describe(&f->flow, buf, sizeof(buf));
	assert_string_equal(buf, "capture gap at server offset 1234");
}

/* Checkpoints filed as the capture lcore files them, bypassing the
 * signature check that test_ckpt covers. */
static struct rv_ckpt_store ckpt_store;

static void
file_ckpt(struct fixture *f, uint64_t number, uint64_t c2s, uint64_t s2c)
{
	struct rv_ckpt *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	c->pool = &ckpt_store.pool;
	ckpt_store.pool.used_bytes += sizeof(*c);
	c->number = number;
	c->c2s_offset = c2s;
	c->s2c_offset = s2c;
	c->filed_ns = f->ctx.now_ns;
	assert_int_equal(rv_ckpt_store_file(&ckpt_store, &f->flow.ckpts, 0,
	    c), 0);
	rv_flow_ckpt_update(&f->flow, &f->ctx);
}

static void
no_checkpoint_not_recoverable(void **state)
{
	struct fixture *f = *state;
	char why[160];

	handshake(f);
	send_data(f, RV_DIR_C2S, 0, 1000);
	assert_false(rv_flow_recoverable(&f->flow, why, sizeof(why)));
	assert_string_equal(why, "no checkpoint yet");
	assert_int_equal(f->flow.dir[RV_DIR_C2S].log.base, 0);
	file_ckpt(f, 1, 2000, 0);
	assert_false(rv_flow_recoverable(&f->flow, why, sizeof(why)));
	assert_string_equal(why, "checkpoint 1 is ahead of the capture");
	send_data(f, RV_DIR_C2S, 1000, 1000);
	assert_true(rv_flow_recoverable(&f->flow, why, sizeof(why)));
	assert_string_equal(why, "-");
}

static void
checkpoint_trims_both_logs(void **state)
{
	struct fixture *f = *state;
	struct rv_flow_dir *c = &f->flow.dir[RV_DIR_C2S];
	struct rv_flow_dir *s = &f->flow.dir[RV_DIR_S2C];
	char why[160];
	uint64_t off;

	handshake(f);
	for (off = 0; off < 20000; off += 1000) {
		send_data(f, RV_DIR_S2C, off, 1000);
		send_data(f, RV_DIR_C2S, off, 1000);
	}
	file_ckpt(f, 1, 8192, 12288);
	assert_int_equal(c->keep_from, 8192);
	assert_int_equal(s->keep_from, 12288);
	/* Whole chunks below keep_from are freed, nothing above. */
	assert_int_equal(c->log.base, 8192);
	assert_int_equal(s->log.base, 12288);
	assert_int_equal(c->log.contig_end, 20000);
	assert_true(rv_flow_recoverable(&f->flow, why, sizeof(why)));
}

static void
unacked_server_bytes_kept(void **state)
{
	struct fixture *f = *state;
	struct rv_flow_dir *s = &f->flow.dir[RV_DIR_S2C];
	char why[160];

	handshake(f);
	send_data(f, RV_DIR_S2C, 0, 10000);
	send_ack(f, RV_DIR_C2S, SERVER_ISN + 1 + 4096);
	/* sshd wrote 10000 bytes, the client has 4096: the backup must be
	 * able to send the other 5904 again. */
	file_ckpt(f, 1, 0, 10000);
	assert_int_equal(s->keep_from, 4096);
	assert_int_equal(s->log.base, 4096);
	assert_true(rv_flow_recoverable(&f->flow, why, sizeof(why)));
	send_ack(f, RV_DIR_C2S, SERVER_ISN + 1 + 10000);
	assert_int_equal(s->keep_from, 10000);
	assert_int_equal(s->log.base, 10000);
}

static void
older_checkpoint_kept_until_passed(void **state)
{
	struct fixture *f = *state;

	handshake(f);
	send_data(f, RV_DIR_C2S, 0, 1000);
	send_data(f, RV_DIR_S2C, 0, 4000);
	send_ack(f, RV_DIR_C2S, SERVER_ISN + 1 + 4000);
	file_ckpt(f, 1, 1000, 1000);
	/* Taken after NEWKEYS: 5000 server bytes written, 4000 on the
	 * wire so far. */
	file_ckpt(f, 2, 1000, 5000);
	assert_int_equal(f->flow.ckpts.count, 2);
	assert_int_equal(rv_flow_ckpt_base(&f->flow), 0);
	assert_int_equal(f->flow.dir[RV_DIR_S2C].keep_from, 1000);
	send_data(f, RV_DIR_S2C, 4000, 1000);
	assert_int_equal(f->flow.ckpts.count, 1);
	assert_int_equal(f->flow.ckpts.items[0]->number, 2);
	assert_int_equal(f->counters.ckpt_superseded, 1);
	assert_int_equal(f->flow.dir[RV_DIR_C2S].keep_from, 1000);
}

static void
damage_below_checkpoint_recoverable(void **state)
{
	struct fixture *f = *state;
	char why[160];

	handshake(f);
	send_data(f, RV_DIR_S2C, 0, 1000);
	send_data(f, RV_DIR_S2C, 2000, 1000);	/* 1000..2000 lost */
	send_ack(f, RV_DIR_C2S, SERVER_ISN + 1 + 3000);
	f->ctx.now_ns += 600 * MS;
	rv_flow_check_gaps(&f->flow, &f->ctx);
	assert_true(f->flow.unrec & RV_UNREC_GAP);
	assert_int_equal(f->flow.dir[RV_DIR_S2C].damage_end, 3000);
	file_ckpt(f, 1, 0, 500);
	assert_false(rv_flow_recoverable(&f->flow, why, sizeof(why)));
	assert_string_equal(why, "damage after checkpoint 1: capture gap "
	    "at server offset 1000");
	/* A checkpoint past the hole makes the lost bytes unneeded. */
	file_ckpt(f, 2, 0, 3000);
	assert_true(rv_flow_recoverable(&f->flow, why, sizeof(why)));
	assert_true(f->flow.unrec & RV_UNREC_GAP);
	assert_int_equal(f->flow.ckpts.count, 1);
}

static void
midstream_never_recoverable(void **state)
{
	struct fixture *f = *state;
	struct rv_pkt pkt = segment(RV_TCP_ACK, CLIENT_ISN, SERVER_ISN,
	    f->data, 100);
	char why[160];

	rv_flow_init(&f->flow, &f->key, 1, 0, &pkt, RV_DIR_C2S,
	    f->ctx.now_ns);
	assert_false(send_pkt(f, RV_DIR_C2S, &pkt));
	file_ckpt(f, 1, 0, 0);
	assert_false(rv_flow_recoverable(&f->flow, why, sizeof(why)));
	assert_string_equal(why, "joined after the handshake");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(handshake_records_options),
		T(window_scaled_after_handshake),
		T(streams_logged_both_ways),
		T(ack_before_data_accepted),
		T(unfilled_hole_marks_gap),
		T(hole_filled_by_retransmission),
		T(truncated_frame_marks_flow),
		T(conflicting_copy_marks_flow),
		T(fin_both_ways_closes),
		T(reset_ends_flow),
		T(midstream_join_is_unrecoverable),
		T(syn_after_midstream_frees_log),
		T(new_syn_restarts_flow),
		T(log_cap_drops_oldest),
		T(memory_cap_marks_flow),
		T(timestamps_keep_highest),
		T(reason_names_and_text),
		T(no_checkpoint_not_recoverable),
		T(checkpoint_trims_both_logs),
		T(unacked_server_bytes_kept),
		T(older_checkpoint_kept_until_passed),
		T(damage_below_checkpoint_recoverable),
		T(midstream_never_recoverable),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
