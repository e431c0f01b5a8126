/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdio.h>
#include <string.h>

#include "flow.h"
#include "seq.h"

static const char *const state_names[RV_FLOW_STATE_COUNT] = {
	[RV_FLOW_SYN] = "syn",
	[RV_FLOW_SYN_ACK] = "syn_ack",
	[RV_FLOW_ESTABLISHED] = "established",
	[RV_FLOW_FIN] = "fin",
	[RV_FLOW_RST] = "rst",
	[RV_FLOW_CLOSED] = "closed",
};

static const char *const unrec_names[RV_UNREC_COUNT] = {
	"no_handshake",
	"capture_gap",
	"truncated_frame",
	"conflicting_copies",
	"log_cap",
	"memory_cap",
	"too_many_ranges",
};

static const char *const unrec_sentences[RV_UNREC_COUNT] = {
	"joined after the handshake",
	"capture gap",
	"frame truncated by the capture",
	"retransmitted bytes differ from the first copy",
	"per-connection log cap dropped bytes",
	"log memory exhausted",
	"too many out-of-order ranges",
};

const char *
rv_flow_state_name(uint8_t state)
{
	return state < RV_FLOW_STATE_COUNT ? state_names[state] : "unknown";
}

const char *
rv_flow_unrec_name(uint32_t reason_bit)
{
	return reason_bit < RV_UNREC_COUNT ? unrec_names[reason_bit] :
	    "unknown";
}

void
rv_flow_unrec_describe(const struct rv_flow *flow, char *buf, size_t len)
{
	if (flow->unrec == 0) {
		snprintf(buf, len, "-");
		return;
	}
	snprintf(buf, len, "%s at %s offset %llu",
	    flow->unrec_first < RV_UNREC_COUNT ?
	    unrec_sentences[flow->unrec_first] : "unknown",
	    flow->unrec_dir == RV_DIR_C2S ? "client" : "server",
	    (unsigned long long)flow->unrec_offset);
}

void
rv_flow_mark_range(struct rv_flow *flow, uint32_t reason, int dir,
    uint64_t offset, uint64_t end)
{
	if (flow->unrec == 0) {
		flow->unrec_first = (uint8_t)__builtin_ctz(reason);
		flow->unrec_dir = (uint8_t)dir;
		flow->unrec_offset = offset;
	}
	flow->unrec |= reason;
	if (end > flow->dir[dir].damage_end)
		flow->dir[dir].damage_end = end;
}

void
rv_flow_mark(struct rv_flow *flow, uint32_t reason, int dir,
    uint64_t offset)
{
	/* Damage at offset loses that byte at least. */
	rv_flow_mark_range(flow, reason, dir, offset, offset + 1);
}

static void
record_syn(struct rv_flow_dir *d, const struct rv_pkt *pkt)
{
	d->isn = pkt->seq;
	d->isn_known = true;
	d->snd_nxt = pkt->seq + 1;
	d->syn.seen = true;
	d->syn.has_mss = pkt->opts.has_mss;
	d->syn.mss = pkt->opts.mss;
	d->syn.has_wscale = pkt->opts.has_wscale;
	d->syn.wscale = pkt->opts.wscale;
	d->syn.sack_ok = pkt->opts.sack_permitted;
	d->syn.ts_ok = pkt->opts.has_ts;
}

/* Starts direction d's log as if its SYN had carried isn, dropping what
 * an earlier guess of the ISN logged. */
static void
start_log(struct rv_flow_dir *d, const struct rv_flow_ctx *ctx, uint32_t isn)
{
	rv_stream_log_free(&d->log, ctx->alloc);
	rv_stream_log_init(&d->log, isn, ctx->limits->log_max);
}

void
rv_flow_init(struct rv_flow *flow, const struct rv_flow_key *key,
    uint64_t id, uint16_t server, const struct rv_pkt *pkt, int dir,
    uint64_t now_ns)
{
	memset(flow, 0, sizeof(*flow));
	flow->key = *key;
	flow->id = id;
	flow->server = server;
	flow->first_ns = flow->last_ns = now_ns;
	if (dir == RV_DIR_C2S && (pkt->tcp_flags & (RV_TCP_SYN |
	    RV_TCP_ACK)) == RV_TCP_SYN) {
		flow->state = RV_FLOW_SYN;
		return;
	}
	/* Joined mid-stream: the options of the handshake are unknown, so
	 * the connection can be followed but never restored. */
	flow->state = RV_FLOW_ESTABLISHED;
	rv_flow_mark(flow, RV_UNREC_NO_HANDSHAKE, dir, 0);
}

/* The window field of segments other than SYNs is scaled by the shift
 * that the sender announced, if both sides announced one (RFC 7323 2.2). */
static uint32_t
scaled_window(const struct rv_flow *flow, int dir, const struct rv_pkt *pkt)
{
	const struct rv_flow_dir *d = &flow->dir[dir];
	const struct rv_flow_dir *peer = &flow->dir[dir ^ 1];

	if ((pkt->tcp_flags & RV_TCP_SYN) || !d->syn.has_wscale ||
	    !peer->syn.has_wscale)
		return pkt->window;
	return (uint32_t)pkt->window << d->syn.wscale;
}

static void
note_add_error(struct rv_flow *flow, const struct rv_flow_ctx *ctx, int dir,
    int rc, uint64_t off, uint32_t len)
{
	switch (rc) {
	case RV_STREAM_ERR_NOMEM:
		ctx->counters->memory_cap_hits++;
		rv_flow_mark_range(flow, RV_UNREC_MEMORY, dir, off, off + len);
		break;
	case RV_STREAM_ERR_CAP:
		ctx->counters->log_cap_hits++;
		rv_flow_mark_range(flow, RV_UNREC_LOG_CAP, dir, off, off + len);
		break;
	case RV_STREAM_ERR_RANGES:
		ctx->counters->range_cap_hits++;
		rv_flow_mark_range(flow, RV_UNREC_RANGES, dir, off, off + len);
		break;
	}
}

/*
 * Keeps the connection's chunks within the per-connection cap by dropping
 * the oldest bytes of the bigger log, as a ring would. Dropping bytes the
 * log must keep makes the connection unrecoverable.
 */
static void
enforce_log_cap(struct rv_flow *flow, const struct rv_flow_ctx *ctx,
    uint32_t incoming)
{
	uint64_t cap = ctx->limits->log_max;
	struct rv_flow_dir *d;
	uint64_t new_base;
	int dir;

	while (rv_flow_log_mem(flow) + incoming + RV_STREAM_LOG_CHUNK_SIZE >
	    cap) {
		dir = rv_stream_log_mem(&flow->dir[0].log) >=
		    rv_stream_log_mem(&flow->dir[1].log) ? 0 : 1;
		d = &flow->dir[dir];
		if (d->log.n_chunks == 0)
			return;
		new_base = (d->log.chunk_base + RV_STREAM_LOG_CHUNK_SIZE);
		if (new_base > d->log.contig_end)
			return;
		if (new_base > d->keep_from) {
			if (!(flow->unrec & RV_UNREC_LOG_CAP))
				ctx->counters->log_cap_hits++;
			rv_flow_mark_range(flow, RV_UNREC_LOG_CAP, dir,
			    d->log.base, new_base);
		}
		rv_stream_log_trim(&d->log, ctx->alloc, new_base);
	}
}

static void
log_payload(struct rv_flow *flow, const struct rv_flow_ctx *ctx,
    const struct rv_pkt *pkt, int dir)
{
	struct rv_flow_dir *d = &flow->dir[dir];
	struct rv_stream_add_result res;
	uint32_t seq = pkt->seq + ((pkt->tcp_flags & RV_TCP_SYN) ? 1 : 0);
	uint64_t off;
	int rc;

	if (pkt->truncated) {
		flow->truncated_frames++;
		ctx->counters->truncated_frames++;
	}
	if (pkt->payload_len == 0 && !pkt->truncated)
		return;
	off = rv_stream_log_offset(&d->log, seq, d->log.contig_end);
	if (pkt->truncated)
		rv_flow_mark_range(flow, RV_UNREC_TRUNCATED, dir,
		    off + pkt->payload_len, off + pkt->wire_payload_len);
	if (pkt->payload_len == 0)
		return;
	d->payload_bytes += pkt->payload_len;
	d->last_data_ns = ctx->now_ns;
	enforce_log_cap(flow, ctx, pkt->payload_len);
	rc = rv_stream_log_add(&d->log, ctx->alloc, off, pkt->payload,
	    pkt->payload_len, &res);
	d->dup_bytes += res.dup_bytes;
	ctx->counters->bytes_logged += res.new_bytes;
	if (res.conflict_bytes > 0) {
		d->conflict_bytes += res.conflict_bytes;
		ctx->counters->conflicts++;
		rv_flow_mark_range(flow, RV_UNREC_CONFLICT, dir, off,
		    off + pkt->payload_len);
	}
	if (rc != 0)
		note_add_error(flow, ctx, dir, rc, off, pkt->payload_len);
}

/* Returns the stream offset that an acknowledgement number covers in the
 * peer's log, not counting the peer's FIN. */
static uint64_t
ack_offset(const struct rv_flow_dir *peer, uint32_t ack)
{
	uint64_t off;

	if (peer->fin_seen && rv_seq_gt(ack, peer->fin_seq))
		ack = peer->fin_seq;
	off = rv_stream_log_offset(&peer->log, ack - 1, peer->log.contig_end);
	/* ack - 1 names the last byte acknowledged; ack itself the next. */
	return rv_seq_le(ack, peer->isn + 1) ? 0 : off + 1;
}

static void
track_ack(struct rv_flow *flow, const struct rv_flow_ctx *ctx,
    const struct rv_pkt *pkt, int dir)
{
	struct rv_flow_dir *d = &flow->dir[dir];
	struct rv_flow_dir *peer = &flow->dir[dir ^ 1];
	uint64_t acked;

	if (!d->ack_seen || rv_seq_gt(pkt->ack, d->ack)) {
		d->ack = pkt->ack;
		d->ack_seen = true;
	}
	if (!peer->isn_known)
		return;
	if (peer->fin_seen && rv_seq_gt(pkt->ack, peer->fin_seq))
		peer->fin_acked = true;
	acked = ack_offset(peer, d->ack);
	if (acked > peer->log.contig_end) {
		/* The mirror may show the ACK before the data it covers, so
		 * the hole only counts once gap_timeout_ns has passed. */
		if (peer->ack_ahead_ns == 0)
			peer->ack_ahead_ns = ctx->now_ns;
	} else {
		peer->ack_ahead_ns = 0;
	}
}

static void
track_timestamps(struct rv_flow_dir *d, const struct rv_pkt *pkt,
    uint64_t now_ns)
{
	if (!pkt->opts.has_ts)
		return;
	if (!d->ts_seen || rv_seq_ge(pkt->opts.tsval, d->tsval)) {
		d->tsval = pkt->opts.tsval;
		d->ts_ns = now_ns;
	}
	d->tsecr = pkt->opts.tsecr;
	d->ts_seen = true;
}

/* Handles a SYN. Returns true if it starts a new connection. */
static bool
track_syn(struct rv_flow *flow, const struct rv_flow_ctx *ctx,
    const struct rv_pkt *pkt, int dir)
{
	struct rv_flow_dir *d = &flow->dir[dir];

	if (d->isn_known && d->syn.seen) {
		if (pkt->seq == d->isn)
			return false;	/* a retransmitted SYN */
		if (dir == RV_DIR_C2S && !(pkt->tcp_flags & RV_TCP_ACK)) {
			ctx->counters->reused_ports++;
			return true;
		}
		return false;
	}
	record_syn(d, pkt);
	start_log(d, ctx, pkt->seq);
	if (dir == RV_DIR_S2C && flow->state == RV_FLOW_SYN)
		flow->state = RV_FLOW_SYN_ACK;
	return false;
}

/* Learns the ISN of a side whose SYN was not captured. */
static void
adopt_midstream(struct rv_flow_dir *d, const struct rv_flow_ctx *ctx,
    const struct rv_pkt *pkt)
{
	d->isn = pkt->seq - 1;
	d->isn_known = true;
	d->snd_nxt = pkt->seq;
	start_log(d, ctx, d->isn);
}

static void
track_state(struct rv_flow *flow, const struct rv_pkt *pkt, int dir,
    uint64_t now_ns)
{
	struct rv_flow_dir *d = &flow->dir[dir];

	if (pkt->tcp_flags & RV_TCP_RST) {
		if (flow->state != RV_FLOW_CLOSED) {
			flow->state = RV_FLOW_RST;
			flow->closed_ns = now_ns;
		}
		return;
	}
	if (pkt->tcp_flags & RV_TCP_FIN) {
		d->fin_seen = true;
		d->fin_seq = pkt->seq + pkt->wire_payload_len +
		    ((pkt->tcp_flags & RV_TCP_SYN) ? 1 : 0);
		if (flow->state < RV_FLOW_FIN)
			flow->state = RV_FLOW_FIN;
	}
	if (flow->state == RV_FLOW_SYN_ACK && dir == RV_DIR_C2S &&
	    (pkt->tcp_flags & RV_TCP_ACK) && flow->dir[RV_DIR_S2C].isn_known &&
	    pkt->ack == flow->dir[RV_DIR_S2C].isn + 1)
		flow->state = RV_FLOW_ESTABLISHED;
	if (flow->state == RV_FLOW_FIN && flow->dir[0].fin_acked &&
	    flow->dir[1].fin_acked) {
		flow->state = RV_FLOW_CLOSED;
		flow->closed_ns = now_ns;
	}
}

bool
rv_flow_track(struct rv_flow *flow, const struct rv_flow_ctx *ctx,
    const struct rv_pkt *pkt, int dir)
{
	struct rv_flow_dir *d = &flow->dir[dir];
	uint32_t end;

	flow->last_ns = ctx->now_ns;
	d->pkts++;
	if (pkt->tcp_flags & RV_TCP_SYN) {
		if (track_syn(flow, ctx, pkt, dir))
			return true;
	} else if (!d->isn_known) {
		adopt_midstream(d, ctx, pkt);
	}
	if (flow->state == RV_FLOW_RST || flow->state == RV_FLOW_CLOSED) {
		/* Late segments of a finished connection change nothing. */
		return false;
	}
	log_payload(flow, ctx, pkt, dir);
	if (d->ack_ahead_ns != 0 && flow->dir[dir ^ 1].ack_seen &&
	    ack_offset(d, flow->dir[dir ^ 1].ack) <= d->log.contig_end)
		d->ack_ahead_ns = 0;	/* the late data filled the hole */
	end = pkt->seq + pkt->wire_payload_len +
	    ((pkt->tcp_flags & RV_TCP_SYN) ? 1 : 0) +
	    ((pkt->tcp_flags & RV_TCP_FIN) ? 1 : 0);
	if (rv_seq_gt(end, d->snd_nxt))
		d->snd_nxt = end;
	d->window_raw = pkt->window;
	d->window = scaled_window(flow, dir, pkt);
	track_timestamps(d, pkt, ctx->now_ns);
	if (pkt->tcp_flags & RV_TCP_ACK)
		track_ack(flow, ctx, pkt, dir);
	track_state(flow, pkt, dir, ctx->now_ns);
	/* Only a direction with a pending hole has anything to check. */
	if (flow->dir[0].ack_ahead_ns != 0 || flow->dir[1].ack_ahead_ns != 0)
		rv_flow_check_gaps(flow, ctx);
	if (flow->ckpts.count > 0)
		rv_flow_ckpt_update(flow, ctx);
	return false;
}

void
rv_flow_check_gaps(struct rv_flow *flow, const struct rv_flow_ctx *ctx)
{
	struct rv_flow_dir *d, *peer;
	uint64_t acked;
	int dir;

	for (dir = 0; dir < 2; dir++) {
		d = &flow->dir[dir];
		peer = &flow->dir[dir ^ 1];
		if (d->ack_ahead_ns == 0 ||
		    ctx->now_ns - d->ack_ahead_ns < ctx->limits->gap_timeout_ns)
			continue;
		acked = ack_offset(d, peer->ack);
		if (acked > d->log.contig_end) {
			rv_flow_mark_range(flow, RV_UNREC_GAP, dir,
			    d->log.contig_end, acked);
			ctx->counters->gaps++;
			rv_stream_log_skip(&d->log, acked);
		}
		d->ack_ahead_ns = 0;
	}
}

void
rv_flow_free(struct rv_flow *flow, const struct rv_chunk_alloc *alloc)
{
	rv_stream_log_free(&flow->dir[0].log, alloc);
	rv_stream_log_free(&flow->dir[1].log, alloc);
	rv_ckpt_list_release(&flow->ckpts);
}

/* Offset of the server's stream that the client has acknowledged. */
static uint64_t
client_acked(const struct rv_flow *flow)
{
	const struct rv_flow_dir *c = &flow->dir[RV_DIR_C2S];
	const struct rv_flow_dir *s = &flow->dir[RV_DIR_S2C];

	if (!c->ack_seen || !s->isn_known)
		return 0;
	return ack_offset(s, c->ack);
}

int
rv_flow_ckpt_base(const struct rv_flow *flow)
{
	const struct rv_ckpt_list *list = &flow->ckpts;
	const struct rv_ckpt *c;
	int i;

	for (i = (int)list->count - 1; i >= 0; i--) {
		c = list->items[i];
		if (flow->dir[RV_DIR_C2S].log.contig_end >= c->c2s_offset &&
		    flow->dir[RV_DIR_S2C].log.contig_end >= c->s2c_offset)
			return i;
	}
	/* None passed yet: the oldest is the best start there is. A
	 * checkpoint taken right after NEWKEYS may describe server bytes
	 * that never reached the wire, so the older ones stay until then. */
	return list->count > 0 ? 0 : -1;
}

/* The offsets below which each log may drop bytes, from checkpoint c. */
static void
needed_from(const struct rv_flow *flow, const struct rv_ckpt *c,
    uint64_t need[2])
{
	uint64_t acked = client_acked(flow);

	need[RV_DIR_C2S] = c->c2s_offset;
	need[RV_DIR_S2C] = acked < c->s2c_offset ? acked : c->s2c_offset;
}

void
rv_flow_ckpt_update(struct rv_flow *flow, const struct rv_flow_ctx *ctx)
{
	uint64_t need[2];
	int base = rv_flow_ckpt_base(flow), dir;

	if (base < 0)
		return;
	if (base > 0) {
		rv_ckpt_list_drop_oldest(&flow->ckpts, (unsigned int)base);
		ctx->counters->ckpt_superseded += (uint64_t)base;
	}
	needed_from(flow, flow->ckpts.items[0], need);
	for (dir = 0; dir < 2; dir++) {
		/* keep_from only grows: a later ACK or checkpoint never
		 * brings back bytes already trimmed. */
		if (need[dir] > flow->dir[dir].keep_from)
			flow->dir[dir].keep_from = need[dir];
		rv_stream_log_trim(&flow->dir[dir].log, ctx->alloc,
		    flow->dir[dir].keep_from);
	}
}

/* A service that replays its streams needs every byte from the first. */
static bool
stream_recoverable(const struct rv_flow *flow, char *why, size_t len)
{
	char detail[160];

	if (flow->unrec != 0) {
		rv_flow_unrec_describe(flow, detail, sizeof(detail));
		snprintf(why, len, "%s", detail);
		return false;
	}
	if (flow->dir[RV_DIR_C2S].log.base > 0 ||
	    flow->dir[RV_DIR_S2C].log.base > 0) {
		snprintf(why, len, "log no longer starts at the first byte");
		return false;
	}
	snprintf(why, len, "-");
	return true;
}

bool
rv_flow_recoverable(const struct rv_flow *flow, char *why, size_t len)
{
	const struct rv_ckpt *c;
	uint64_t need[2];
	char detail[160];
	int base = rv_flow_ckpt_base(flow), dir;

	if (flow->unrec & RV_UNREC_NO_HANDSHAKE) {
		snprintf(why, len, "joined after the handshake");
		return false;
	}
	if (flow->stream_resume)
		return stream_recoverable(flow, why, len);
	if (base < 0) {
		snprintf(why, len, "no checkpoint yet");
		return false;
	}
	c = flow->ckpts.items[base];
	/* The base is unpassed only when no checkpoint is passed: the
	 * backup would then lack bytes between the capture and its offsets. */
	if (flow->dir[RV_DIR_C2S].log.contig_end < c->c2s_offset ||
	    flow->dir[RV_DIR_S2C].log.contig_end < c->s2c_offset) {
		snprintf(why, len, "checkpoint %llu is ahead of the capture",
		    (unsigned long long)c->number);
		return false;
	}
	needed_from(flow, c, need);
	for (dir = 0; dir < 2; dir++) {
		/* Bytes below need[dir] are not needed, so damage that ends
		 * there is harmless; damage above it is a hole in what the
		 * backup must replay. */
		if (flow->dir[dir].damage_end <= need[dir] &&
		    flow->dir[dir].log.base <= need[dir])
			continue;
		rv_flow_unrec_describe(flow, detail, sizeof(detail));
		snprintf(why, len, "damage after checkpoint %llu: %s",
		    (unsigned long long)c->number, detail);
		return false;
	}
	snprintf(why, len, "-");
	return true;
}
