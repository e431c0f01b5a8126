/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_pcapng.h>
#include <rte_tcp.h>

#include "flow_dump.h"
#include "log.h"

/* Payload bytes per dumped segment: fits a 1500-byte MTU with IPv6. */
#define DUMP_SEGMENT	1400
#define DUMP_BATCH	32

/* What the dump needs of one direction, copied under the table lock. */
struct dump_dir {
	struct rv_syn_opts syn;
	uint32_t isn;
	bool isn_known;
	uint64_t base;
	uint64_t end;
	struct rv_stream_range gaps[RV_STREAM_LOG_MAX_GAPS];
	uint8_t n_gaps;
	uint8_t *bytes;			/* [base, end), gaps zeroed */
};

struct dump {
	struct rv_flow_key key;
	struct dump_dir dir[2];
	rte_pcapng_t *out;
	struct rte_mempool *mp;
	uint16_t port;
	struct rte_mbuf *batch[DUMP_BATCH];
	unsigned int n_batch;
	int segments;
	int error;
};

static int
copy_dir(struct dump_dir *dd, const struct rv_flow_dir *d)
{
	const struct rv_stream_log *log = &d->log;
	uint64_t pos, stop;
	uint8_t i;

	dd->syn = d->syn;
	dd->isn = d->isn;
	dd->isn_known = d->isn_known;
	dd->base = log->base;
	dd->end = log->contig_end;
	dd->n_gaps = log->n_gap_slots;
	memcpy(dd->gaps, log->gaps, sizeof(dd->gaps));
	if (dd->end == dd->base)
		return 0;
	dd->bytes = calloc(1, dd->end - dd->base);
	if (dd->bytes == NULL)
		return -ENOMEM;
	/* Read around the gaps: their bytes were never captured. */
	pos = dd->base;
	for (i = 0; i <= dd->n_gaps && pos < dd->end; i++) {
		stop = i < dd->n_gaps ? dd->gaps[i].start : dd->end;
		if (stop > dd->end)
			stop = dd->end;
		if (stop > pos && rv_stream_log_read(log, pos,
		    dd->bytes + (pos - dd->base), stop - pos) != 0)
			return -EIO;
		if (i < dd->n_gaps && dd->gaps[i].end > pos)
			pos = dd->gaps[i].end;
	}
	return 0;
}

static void
flush_batch(struct dump *dump)
{
	if (dump->n_batch == 0)
		return;
	if (rte_pcapng_write_packets(dump->out, dump->batch,
	    (uint16_t)dump->n_batch) < 0)
		dump->error = -EIO;
	/* The 22.11 header says the mbufs are always freed, but DPDK
	 * 22.11.11 as Debian ships it leaves them to the caller. */
	rte_pktmbuf_free_bulk(dump->batch, dump->n_batch);
	dump->n_batch = 0;
}

static size_t
put_options(uint8_t *p, const struct rv_syn_opts *syn)
{
	size_t n = 0;

	if (syn->has_mss) {
		p[n++] = 2;
		p[n++] = 4;
		p[n++] = (uint8_t)(syn->mss >> 8);
		p[n++] = (uint8_t)syn->mss;
	}
	if (syn->sack_ok) {
		p[n++] = 4;
		p[n++] = 2;
	}
	if (syn->has_wscale) {
		p[n++] = 1;
		p[n++] = 3;
		p[n++] = 3;
		p[n++] = syn->wscale;
	}
	while (n % 4 != 0)
		p[n++] = 1;
	return n;
}

/* Builds one frame of direction dir and queues its pcapng copy. */
static void
emit(struct dump *dump, int dir, uint32_t seq, uint32_t ack, uint8_t flags,
    const uint8_t *payload, uint32_t len, const struct rv_syn_opts *syn)
{
	const struct rv_flow_key *k = &dump->key;
	const uint8_t *src = dir == RV_DIR_C2S ? k->client : k->server;
	const uint8_t *dst = dir == RV_DIR_C2S ? k->server : k->client;
	uint16_t sport = dir == RV_DIR_C2S ? k->client_port : k->server_port;
	uint16_t dport = dir == RV_DIR_C2S ? k->server_port : k->client_port;
	struct rte_ether_hdr *eth;
	struct rte_tcp_hdr *tcp;
	struct rte_mbuf *m, *copy;
	uint8_t opts[40];
	size_t l3_len = k->family == 4 ? sizeof(struct rte_ipv4_hdr) :
	    sizeof(struct rte_ipv6_hdr);
	size_t opt_len = syn != NULL ? put_options(opts, syn) : 0;
	size_t tcp_len = sizeof(*tcp) + opt_len;
	size_t frame_len = sizeof(*eth) + l3_len + tcp_len + len;
	uint8_t *p;

	if (dump->error != 0)
		return;
	m = rte_pktmbuf_alloc(dump->mp);
	if (m == NULL || (p = (uint8_t *)rte_pktmbuf_append(m,
	    (uint16_t)frame_len)) == NULL) {
		rte_pktmbuf_free(m);
		dump->error = -ENOMEM;
		return;
	}
	memset(p, 0, frame_len - len);
	eth = (struct rte_ether_hdr *)p;
	/* Locally administered MACs: the log keeps no MAC addresses. */
	eth->src_addr.addr_bytes[0] = 0x02;
	eth->src_addr.addr_bytes[5] = (uint8_t)(dir + 1);
	eth->dst_addr.addr_bytes[0] = 0x02;
	eth->dst_addr.addr_bytes[5] = (uint8_t)(2 - dir);
	if (k->family == 4) {
		struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);

		eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
		ip->version_ihl = RTE_IPV4_VHL_DEF;
		ip->total_length = rte_cpu_to_be_16((uint16_t)(l3_len +
		    tcp_len + len));
		ip->time_to_live = 64;
		ip->next_proto_id = IPPROTO_TCP;
		memcpy(&ip->src_addr, src, 4);
		memcpy(&ip->dst_addr, dst, 4);
		ip->hdr_checksum = rte_ipv4_cksum(ip);
	} else {
		struct rte_ipv6_hdr *ip = (struct rte_ipv6_hdr *)(eth + 1);

		eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6);
		ip->vtc_flow = rte_cpu_to_be_32(6u << 28);
		ip->payload_len = rte_cpu_to_be_16((uint16_t)(tcp_len + len));
		ip->proto = IPPROTO_TCP;
		ip->hop_limits = 64;
		memcpy(ip->src_addr, src, 16);
		memcpy(ip->dst_addr, dst, 16);
	}
	tcp = (struct rte_tcp_hdr *)(p + sizeof(*eth) + l3_len);
	tcp->src_port = rte_cpu_to_be_16(sport);
	tcp->dst_port = rte_cpu_to_be_16(dport);
	tcp->sent_seq = rte_cpu_to_be_32(seq);
	tcp->recv_ack = rte_cpu_to_be_32(ack);
	tcp->data_off = (uint8_t)((tcp_len / 4) << 4);
	tcp->tcp_flags = flags;
	tcp->rx_win = rte_cpu_to_be_16(65535);
	memcpy(tcp + 1, opts, opt_len);
	memcpy((uint8_t *)(tcp + 1) + opt_len, payload, len);
	if (k->family == 4)
		tcp->cksum = rte_ipv4_udptcp_cksum(
		    (struct rte_ipv4_hdr *)(eth + 1), tcp);
	else
		tcp->cksum = rte_ipv6_udptcp_cksum(
		    (struct rte_ipv6_hdr *)(eth + 1), tcp);
	copy = rte_pcapng_copy(dump->port, 0, m, dump->mp, UINT32_MAX,
	    rte_get_tsc_cycles(), dir == RV_DIR_C2S ?
	    RTE_PCAPNG_DIRECTION_IN : RTE_PCAPNG_DIRECTION_OUT);
	rte_pktmbuf_free(m);
	if (copy == NULL) {
		dump->error = -ENOMEM;
		return;
	}
	dump->batch[dump->n_batch++] = copy;
	dump->segments++;
	if (dump->n_batch == DUMP_BATCH)
		flush_batch(dump);
}

static uint32_t
next_seq(const struct dump_dir *dd)
{
	return dd->isn + 1 + (uint32_t)dd->end;
}

static void
emit_handshake(struct dump *dump)
{
	struct dump_dir *c = &dump->dir[RV_DIR_C2S];
	struct dump_dir *s = &dump->dir[RV_DIR_S2C];

	if (!c->syn.seen || !s->syn.seen)
		return;
	emit(dump, RV_DIR_C2S, c->isn, 0, RTE_TCP_SYN_FLAG, NULL, 0, &c->syn);
	emit(dump, RV_DIR_S2C, s->isn, c->isn + 1,
	    RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, NULL, 0, &s->syn);
}

static void
emit_stream(struct dump *dump, int dir)
{
	struct dump_dir *dd = &dump->dir[dir];
	uint32_t ack = next_seq(&dump->dir[dir ^ 1]);
	uint64_t pos = dd->base, stop;
	uint32_t len;
	uint8_t i = 0;

	if (!dd->isn_known)
		return;
	while (pos < dd->end && dump->error == 0) {
		/* Step over a gap that starts at or before pos. */
		while (i < dd->n_gaps && dd->gaps[i].end <= pos)
			i++;
		if (i < dd->n_gaps && dd->gaps[i].start <= pos) {
			pos = dd->gaps[i].end;
			continue;
		}
		stop = i < dd->n_gaps && dd->gaps[i].start < dd->end ?
		    dd->gaps[i].start : dd->end;
		len = stop - pos > DUMP_SEGMENT ? DUMP_SEGMENT :
		    (uint32_t)(stop - pos);
		emit(dump, dir, dd->isn + 1 + (uint32_t)pos, ack,
		    RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG,
		    dd->bytes + (pos - dd->base), len, NULL);
		pos += len;
	}
}

int
rv_flow_dump_pcapng(struct rv_flow_table *table, uint64_t id, int fd,
    uint16_t port, struct rte_mempool *mp)
{
	struct dump dump;
	struct rv_flow *flow;
	int rc = 0, dir;

	memset(&dump, 0, sizeof(dump));
	rte_spinlock_lock(&table->lock);
	flow = rv_flow_table_find_id(table, id);
	if (flow == NULL) {
		rte_spinlock_unlock(&table->lock);
		return -ENOENT;
	}
	dump.key = flow->key;
	for (dir = 0; dir < 2 && rc == 0; dir++)
		rc = copy_dir(&dump.dir[dir], &flow->dir[dir]);
	rte_spinlock_unlock(&table->lock);
	if (rc != 0)
		goto out;

	dump.out = rte_pcapng_fdopen(fd, NULL, NULL, "revenantd",
	    "logged streams of one connection");
	if (dump.out == NULL) {
		rc = -EIO;
		goto out;
	}
	dump.mp = mp;
	dump.port = port;
	emit_handshake(&dump);
	emit_stream(&dump, RV_DIR_C2S);
	emit_stream(&dump, RV_DIR_S2C);
	flush_batch(&dump);
	rc = dump.error != 0 ? dump.error : dump.segments;
	rte_pcapng_close(dump.out);	/* closes fd as well */
out:
	free(dump.dir[0].bytes);
	free(dump.dir[1].bytes);
	return rc;
}
