/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef RV_FLOW_H
#define RV_FLOW_H

/*
 * One monitored TCP connection as the mirror shows it, and the tracking
 * that updates it from each parsed segment. Pure C: the DPDK flow table
 * (flow_table.h) owns the memory, and the unit tests and fuzz target drive
 * the same code without DPDK.
 *
 * A flow belongs to the capture lcore. Other threads read it only while
 * holding the table lock (flow_table.h).
 */

#include <stdbool.h>
#include <stdint.h>

#include "ckpt_store.h"
#include "pkt_parse.h"
#include "stream_log.h"

/* Direction index: what the sender of a segment is. */
#define RV_DIR_C2S	0	/* client to server */
#define RV_DIR_S2C	1	/* server to client */

/*
 * Key of a connection whatever the direction of the segment: the server
 * side is the monitored address and port. 40 bytes, no padding holes.
 */
struct rv_flow_key {
	uint8_t family;			/* 4 or 6 */
	uint8_t pad[3];
	uint16_t server_port;		/* host byte order */
	uint16_t client_port;
	uint8_t server[16];		/* IPv4 in the first 4 bytes */
	uint8_t client[16];
};

enum rv_flow_state {
	RV_FLOW_SYN = 0,	/* client's SYN seen */
	RV_FLOW_SYN_ACK,	/* server's SYN-ACK seen */
	RV_FLOW_ESTABLISHED,	/* handshake complete, or joined mid-stream */
	RV_FLOW_FIN,		/* at least one side sent FIN */
	RV_FLOW_RST,		/* a reset was seen */
	RV_FLOW_CLOSED,		/* both FINs sent and acknowledged */
	RV_FLOW_STATE_COUNT
};

/*
 * Reasons a connection cannot be resumed from the log. The bits are sticky
 * and record what happened; rv_flow_recoverable() decides whether it still
 * matters. Damage that ends at or below the offsets the resume would start
 * from (a checkpoint's, see rv_flow_ckpt_update()) no longer matters,
 * except RV_UNREC_NO_HANDSHAKE: no checkpoint brings back the SYN options.
 */
enum rv_unrecoverable {
	RV_UNREC_NO_HANDSHAKE = 1 << 0,	/* joined after the SYN */
	RV_UNREC_GAP = 1 << 1,		/* capture hole no copy filled */
	RV_UNREC_TRUNCATED = 1 << 2,	/* a frame was cut by the capture */
	RV_UNREC_CONFLICT = 1 << 3,	/* overlapping copies differed */
	RV_UNREC_LOG_CAP = 1 << 4,	/* per-connection log cap dropped bytes */
	RV_UNREC_MEMORY = 1 << 5,	/* global log memory was exhausted */
	RV_UNREC_RANGES = 1 << 6,	/* too many out-of-order ranges */
};
#define RV_UNREC_COUNT	7

/* Options a side put in its SYN (RFC 9293 section 3.2, RFC 7323). */
struct rv_syn_opts {
	bool seen;		/* this side's SYN was captured */
	bool has_mss;
	bool has_wscale;
	bool sack_ok;
	bool ts_ok;
	uint8_t wscale;
	uint16_t mss;
};

/*
 * What one side sent, and what it acknowledged of the other side. The
 * fields that every segment reads or writes, of its own side and of the
 * peer's, come first and are followed by the log's own hot fields, so a
 * segment touches the first three cache lines of each direction.
 */
struct rv_flow_dir {
	uint32_t isn;
	uint32_t snd_nxt;		/* highest seq + len sent, SYN/FIN counted */
	uint32_t ack;			/* highest acknowledgement sent */
	uint32_t window;		/* last window, scaled, in bytes */
	uint32_t tsval;			/* highest TSval sent */
	uint32_t tsecr;
	uint32_t fin_seq;		/* sequence number of the FIN */
	uint16_t window_raw;		/* last window field as sent */
	bool isn_known;
	bool ack_seen;
	bool ts_seen;
	bool fin_seen;
	bool fin_acked;
	struct rv_syn_opts syn;
	uint64_t ts_ns;			/* capture time of that TSval */
	/* When the peer first acknowledged bytes this log lacks; 0: none. */
	uint64_t ack_ahead_ns;
	uint64_t pkts;
	uint64_t payload_bytes;		/* retransmissions included */
	uint64_t dup_bytes;
	uint64_t last_data_ns;
	/* Offset below which the log may drop bytes: the checkpoint to
	 * resume from, and for the server's stream the client's ACK too. */
	uint64_t keep_from;
	/* End of the highest damaged byte range in this direction; 0: none. */
	uint64_t damage_end;
	uint64_t conflict_bytes;
	struct rv_stream_log log;	/* bytes this side sent */
};

/*
 * A monitored connection. The first cache line holds what every segment
 * reads or writes besides the directions, the second the checkpoint count
 * it also reads, and the fields after dir[] are rarely touched. The
 * structure is cache-line aligned so that each entry of the flow table's
 * array starts a line.
 */
struct rv_flow {
	struct rv_flow_key key;
	uint64_t last_ns;
	/* Source MACs of the latest segment of each side, for the frames a
	 * takeover injects: [RV_DIR_C2S] is the client's. */
	uint8_t mac[2][6];
	uint16_t server;		/* index into the configured servers */
	uint8_t state;			/* enum rv_flow_state */
	/* The server's service replays both streams from their first byte
	 * instead of resuming from a checkpoint (enum rv_resume). */
	bool stream_resume;

	struct rv_ckpt_list ckpts;	/* filed checkpoints, oldest first */
	uint64_t id;			/* unique for the daemon's lifetime */
	uint32_t unrec;			/* enum rv_unrecoverable bits */
	uint8_t unrec_first;		/* bit number of the first reason */
	uint8_t unrec_dir;		/* direction it happened in */

	struct rv_flow_dir dir[2];

	uint64_t unrec_offset;		/* stream offset it happened at */
	uint64_t first_ns;
	uint64_t closed_ns;
	uint32_t truncated_frames;
} __attribute__((aligned(64)));

/* Limits the tracking applies, from the configuration. */
struct rv_flow_limits {
	uint64_t log_max;		/* bytes of chunks per connection */
	uint64_t gap_timeout_ns;
};

/* Counters of the tracking; the capture lcore writes them. */
struct rv_flow_counters {
	uint64_t truncated_frames;
	uint64_t conflicts;
	uint64_t log_cap_hits;
	uint64_t memory_cap_hits;
	uint64_t range_cap_hits;
	uint64_t gaps;
	uint64_t reused_ports;		/* a new SYN restarted a flow */
	uint64_t bytes_logged;		/* new bytes stored in logs */
	uint64_t ckpt_superseded;	/* checkpoints dropped for a newer one */
};

/* Context of one tracking call. */
struct rv_flow_ctx {
	const struct rv_chunk_alloc *alloc;
	const struct rv_flow_limits *limits;
	struct rv_flow_counters *counters;
	uint64_t now_ns;
};

/*
 * Starts flow from the first segment seen of it, sent in direction dir.
 * A SYN without ACK from the client starts a normal flow; anything else
 * starts a flow joined mid-stream, marked RV_UNREC_NO_HANDSHAKE. The
 * caller then passes the same segment to rv_flow_track().
 */
void rv_flow_init(struct rv_flow *flow, const struct rv_flow_key *key,
    uint64_t id, uint16_t server, const struct rv_pkt *pkt, int dir,
    uint64_t now_ns);

/*
 * Updates flow with one TCP segment sent in direction dir: state, sequence
 * and acknowledgement numbers, windows, timestamps, and the payload into
 * the log. Returns true if the segment starts a new connection on the
 * same ports (a SYN with another ISN): the caller then frees the flow and
 * starts it again with rv_flow_init().
 */
bool rv_flow_track(struct rv_flow *flow, const struct rv_flow_ctx *ctx,
    const struct rv_pkt *pkt, int dir);

/*
 * Gives up on holes that the peer acknowledged more than gap_timeout_ns
 * ago, marking the flow RV_UNREC_GAP. Called by the capture lcore now and
 * then, and after each segment.
 */
void rv_flow_check_gaps(struct rv_flow *flow, const struct rv_flow_ctx *ctx);

/* Frees the logs' memory and the filed checkpoints. The flow must be
 * initialised again to reuse. */
void rv_flow_free(struct rv_flow *flow, const struct rv_chunk_alloc *alloc);

/* Records reason (one RV_UNREC_* bit) at offset of direction dir. */
void rv_flow_mark(struct rv_flow *flow, uint32_t reason, int dir,
    uint64_t offset);

/* Same, for damage that covers [offset, end) of direction dir. */
void rv_flow_mark_range(struct rv_flow *flow, uint32_t reason, int dir,
    uint64_t offset, uint64_t end);

/*
 * Returns the index in flow->ckpts of the checkpoint a takeover would
 * resume from: the newest one that the capture has passed (both logs'
 * contig_end at or above its offsets), else the oldest one. Returns -1
 * without checkpoints.
 */
int rv_flow_ckpt_base(const struct rv_flow *flow);

/*
 * Drops checkpoints older than the base and trims both logs to each
 * direction's keep_from, which only grows. For the client's stream it is
 * the base's c2s offset. For the server's stream it is the lower of the
 * base's s2c offset and the client's ACK, because the backup must send
 * unacknowledged server bytes again. Counts dropped checkpoints in
 * counters->ckpt_superseded. Called after filing a checkpoint and after
 * each tracked segment.
 */
void rv_flow_ckpt_update(struct rv_flow *flow, const struct rv_flow_ctx *ctx);

/*
 * Tells whether a takeover could resume flow now. If not, writes the
 * reason into why (len bytes): a joined connection, "no checkpoint yet",
 * a base checkpoint ahead of the capture, or damage above the base.
 * Writes "-" when recoverable. The caller checks closed and reset flows.
 */
bool rv_flow_recoverable(const struct rv_flow *flow, char *why, size_t len);

/* Short names for display: "established", "capture_gap", ... */
const char *rv_flow_state_name(uint8_t state);
const char *rv_flow_unrec_name(uint32_t reason_bit);
/* A sentence for the first reason, "capture gap at client offset 1234". */
void rv_flow_unrec_describe(const struct rv_flow *flow, char *buf,
    size_t len);

/* Bytes of log memory held by the flow. */
static inline uint64_t
rv_flow_log_mem(const struct rv_flow *flow)
{
	return rv_stream_log_mem(&flow->dir[0].log) +
	    rv_stream_log_mem(&flow->dir[1].log);
}

#endif
