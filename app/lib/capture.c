/* SPDX-License-Identifier: BSD-3-Clause */
#include <string.h>

#include <errno.h>
#include <sys/random.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_hash.h>
#include <rte_jhash.h>
#include <rte_mbuf.h>

#include "capture.h"
#include "log.h"

/*
 * Key of the monitored-service table. The same table maps each server
 * address alone to its server, with SERVICE_ADDR_ONLY set in family and
 * port 0, for the source check of checkpoint datagrams.
 */
#define SERVICE_ADDR_ONLY	0x80
struct service_key {
	uint8_t family;
	uint8_t pad;
	uint16_t port;
	uint8_t addr[16];
};

/* Largest frame linearised from a chained mbuf: a 9000-byte jumbo frame
 * with its Ethernet and VLAN headers. */
#define CAPTURE_LINEAR_MAX	9216

/* How often the capture lcore sweeps the flow table. */
#define CAPTURE_SWEEP_NS	(100ull * 1000 * 1000)

uint64_t
rv_capture_now_ns(void)
{
	static uint64_t hz;
	uint64_t tsc = rte_get_tsc_cycles();

	if (hz == 0)
		hz = rte_get_tsc_hz();
	/* Split the product so that it does not overflow 64 bits. */
	return (tsc / hz) * 1000000000ull + (tsc % hz) * 1000000000ull / hz;
}

static int
init_ckpt_store(struct rv_capture *cap)
{
	const struct rv_config *cfg = cap->config;
	size_t i;

	/* Fragments of one message leave sshd together, so a message still
	 * incomplete after 2 s lost a fragment for good. */
	if (rv_ckpt_store_init(&cap->ckpt, cfg->server_count,
	    cfg->checkpoints.max_bytes, 2000ull * 1000 * 1000) != 0) {
		rv_err("capture: cannot allocate the checkpoint store");
		return -ENOMEM;
	}
	for (i = 0; i < cfg->server_count; i++)
		if (cfg->servers[i].has_host_key)
			(void)rv_ckpt_store_set_host_key(&cap->ckpt, i,
			    cfg->servers[i].host_key_raw);
	return 0;
}

int
rv_capture_init(struct rv_capture *cap, int socket_id)
{
	const struct rv_config *cfg = cap->config;
	struct rte_hash_parameters params = {
		.name = "revenant_services",
		.key_len = sizeof(struct service_key),
		.hash_func = rte_jhash,
		.socket_id = socket_id,
	};
	struct service_key key;
	uint32_t entries = 0, seed;
	size_t i, a, p;

	for (i = 0; i < cfg->server_count; i++)
		entries += (uint32_t)(cfg->servers[i].address_count *
		    (cfg->servers[i].port_count + 1));
	params.entries = entries < 8 ? 8 : entries;
	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = (uint32_t)rte_rdtsc();
	params.hash_func_init_val = seed;
	cap->services = rte_hash_create(&params);
	if (cap->services == NULL) {
		rv_err("capture: cannot create the service table: %s",
		    rte_strerror(rte_errno));
		return -ENOMEM;
	}
	for (i = 0; i < cfg->server_count; i++) {
		const struct rv_server *srv = &cfg->servers[i];

		for (a = 0; a < srv->address_count; a++) {
			memset(&key, 0, sizeof(key));
			key.family = srv->addresses[a].family |
			    SERVICE_ADDR_ONLY;
			memcpy(key.addr, srv->addresses[a].bytes, 16);
			if (rte_hash_add_key_data(cap->services, &key,
			    (void *)(uintptr_t)i) < 0)
				return -ENOMEM;
			for (p = 0; p < srv->port_count; p++) {
				memset(&key, 0, sizeof(key));
				key.family = srv->addresses[a].family;
				key.port = srv->ports[p];
				cap->port_bits[key.port >> 6] |=
				    1ull << (key.port & 63);
				memcpy(key.addr, srv->addresses[a].bytes, 16);
				if (rte_hash_add_key_data(cap->services, &key,
				    (void *)(uintptr_t)i) < 0)
					return -ENOMEM;
			}
		}
	}
	return init_ckpt_store(cap);
}

void
rv_capture_fini(struct rv_capture *cap)
{
	rte_hash_free(cap->services);
	cap->services = NULL;
	rv_ckpt_store_fini(&cap->ckpt);
}

static inline bool
port_monitored(const struct rv_capture *cap, uint16_t port)
{
	return (cap->port_bits[port >> 6] >> (port & 63)) & 1;
}

/* Returns the server index of address:port, or -1 if not monitored. */
static inline int
find_service(const struct rv_capture *cap, uint8_t family,
    const uint8_t *addr, uint16_t port)
{
	struct service_key key;
	void *data;

	memset(&key, 0, sizeof(key));
	key.family = family;
	key.port = port;
	memcpy(key.addr, addr, 16);
	if (rte_hash_lookup_data(cap->services, &key, &data) < 0)
		return -1;
	return (int)(uintptr_t)data;
}

/* Finds which side is the monitored server. Returns the direction, or -1
 * if neither end is a monitored service. */
static int
classify(const struct rv_capture *cap, const struct rv_pkt *pkt,
    struct rv_flow_key *key, int *server)
{
	int idx;

	idx = find_service(cap, pkt->ip_version, pkt->dst, pkt->dport);
	if (idx >= 0) {
		*server = idx;
		memset(key, 0, sizeof(*key));
		key->family = pkt->ip_version;
		key->server_port = pkt->dport;
		key->client_port = pkt->sport;
		memcpy(key->server, pkt->dst, 16);
		memcpy(key->client, pkt->src, 16);
		return RV_DIR_C2S;
	}
	idx = find_service(cap, pkt->ip_version, pkt->src, pkt->sport);
	if (idx >= 0) {
		*server = idx;
		memset(key, 0, sizeof(*key));
		key->family = pkt->ip_version;
		key->server_port = pkt->sport;
		key->client_port = pkt->dport;
		memcpy(key->server, pkt->src, 16);
		memcpy(key->client, pkt->dst, 16);
		return RV_DIR_S2C;
	}
	return -1;
}

static void
capture_tcp(struct rv_capture *cap, const struct rv_pkt *pkt,
    uint64_t now_ns)
{
	struct rv_flow_table *table = cap->table;
	struct rv_flow_ctx ctx = {
		.alloc = &table->alloc,
		.limits = &table->limits,
		.counters = &table->counters,
		.now_ns = now_ns,
	};
	struct rv_flow_key key;
	struct rv_flow *flow;
	bool created;
	int dir, server;

	flow = rv_flow_table_lookup_pkt(table, pkt, &dir);
	if (flow == NULL) {
		/* Most unmonitored traffic stops at the port bitmap. */
		if (!port_monitored(cap, pkt->dport) &&
		    !port_monitored(cap, pkt->sport)) {
			cap->stats.tcp_other++;
			return;
		}
		dir = classify(cap, pkt, &key, &server);
		if (dir < 0) {
			cap->stats.tcp_other++;
			return;
		}
		flow = rv_flow_table_get(table, &key, (uint16_t)server, pkt,
		    dir, now_ns, &created);
		if (flow == NULL) {
			cap->stats.tcp_monitored++;
			return;
		}
		flow->stream_resume =
		    cap->config->servers[server].resume == RV_RESUME_STREAM;
	}
	cap->stats.tcp_monitored++;
	if (pkt->opts.malformed)
		cap->stats.bad_options++;
	if (rv_flow_track(flow, &ctx, pkt, dir)) {
		/* A new connection reuses the ports of an old one. */
		bool stream_resume = flow->stream_resume;

		key = flow->key;
		server = flow->server;
		rv_flow_free(flow, &table->alloc);
		rv_flow_init(flow, &key, table->next_id++, (uint16_t)server,
		    pkt, dir, now_ns);
		flow->stream_resume = stream_resume;
		(void)rv_flow_track(flow, &ctx, pkt, dir);
	}
	/* The Ethernet source is 6 bytes into the frame, before any tag. */
	memcpy(flow->mac[dir], pkt->l3 - 4 * pkt->n_vlans - 8, 6);
}

/* Files a verified checkpoint with its connection, which must exist. */
static void
file_checkpoint(struct rv_capture *cap, struct rv_ckpt *ckpt,
    uint64_t now_ns)
{
	struct rv_flow_table *table = cap->table;
	struct rv_flow_ctx ctx = {
		.alloc = &table->alloc,
		.limits = &table->limits,
		.counters = &table->counters,
		.now_ns = now_ns,
	};
	struct rv_flow_key key;
	struct rv_flow *flow;

	memset(&key, 0, sizeof(key));
	key.family = ckpt->conn.family;
	key.server_port = ckpt->conn.server_port;
	key.client_port = ckpt->conn.client_port;
	memcpy(key.server, ckpt->conn.server, 16);
	memcpy(key.client, ckpt->conn.client, 16);
	flow = rv_flow_table_lookup(table, &key);
	if (flow == NULL) {
		rv_ckpt_store_reject(&cap->ckpt, ckpt,
		    RV_CKPT_REJ_UNKNOWN_CONNECTION);
		return;
	}
	if (rv_ckpt_store_file(&cap->ckpt, &flow->ckpts, flow->server,
	    ckpt) == 0)
		rv_flow_ckpt_update(flow, &ctx);
}

static void
capture_udp(struct rv_capture *cap, const struct rv_pkt *pkt,
    uint64_t now_ns)
{
	struct rv_ckpt *ckpt;
	int server;

	cap->stats.udp++;
	if (pkt->dport != cap->config->checkpoints.export_port)
		return;
	cap->stats.udp_export++;
	server = find_service(cap, pkt->ip_version | SERVICE_ADDR_ONLY,
	    pkt->src, 0);
	if (rv_ckpt_store_input(&cap->ckpt, server, pkt->payload,
	    pkt->payload_len, now_ns, &ckpt) == RV_CKPT_IN_CHECKPOINT)
		file_checkpoint(cap, ckpt, now_ns);
}

void
rv_capture_frame(struct rv_capture *cap, const uint8_t *frame, uint32_t len,
    uint64_t now_ns)
{
	struct rv_pkt pkt;
	int kind;

	cap->stats.frames++;
	cap->stats.bytes += len;
	kind = rv_pkt_parse(frame, len, &pkt);
	if (kind < 0) {
		if (-kind < RV_PKT_ERR__COUNT)
			cap->stats.parse_errors[-kind]++;
		return;
	}
	switch (kind) {
	case RV_PKT_TCP:
		capture_tcp(cap, &pkt, now_ns);
		break;
	case RV_PKT_UDP:
		capture_udp(cap, &pkt, now_ns);
		break;
	case RV_PKT_ARP:
		cap->stats.arp++;
		break;
	default:
		cap->stats.other++;
		break;
	}
}

static void
capture_mbuf(struct rv_capture *cap, struct rte_mbuf *m, uint64_t now_ns)
{
	static uint8_t linear[CAPTURE_LINEAR_MAX];
	const uint8_t *frame;
	uint32_t len = rte_pktmbuf_pkt_len(m);

	if (m->nb_segs == 1) {
		rv_capture_frame(cap, rte_pktmbuf_mtod(m, const uint8_t *),
		    rte_pktmbuf_data_len(m), now_ns);
		return;
	}
	cap->stats.multi_segment++;
	if (len > sizeof(linear)) {
		/* Parse the part that fits: a longer frame shows up as
		 * truncated, which marks its connection. */
		cap->stats.oversized++;
		len = sizeof(linear);
	}
	frame = rte_pktmbuf_read(m, 0, len, linear);
	if (frame != NULL)
		rv_capture_frame(cap, frame, len, now_ns);
}

int
rv_capture_lcore(void *arg)
{
	struct rv_capture *cap = arg;
	struct rte_mbuf *burst[512];
	uint64_t now_ns, next_sweep = 0;
	uint16_t n, i, size = cap->burst_size;

	if (size == 0 || size > RTE_DIM(burst))
		size = RTE_DIM(burst);
	while (!cap->stop) {
		n = rte_eth_rx_burst(cap->port, 0, burst, size);
		now_ns = rv_capture_now_ns();
		if (n > 0) {
			cap->stats.bursts++;
			rte_spinlock_lock(&cap->table->lock);
			for (i = 0; i < n; i++)
				capture_mbuf(cap, burst[i], now_ns);
			rte_spinlock_unlock(&cap->table->lock);
			rte_pktmbuf_free_bulk(burst, n);
		}
		if (now_ns >= next_sweep) {
			rte_spinlock_lock(&cap->table->lock);
			rv_flow_table_sweep(cap->table, now_ns);
			rv_ckpt_store_expire(&cap->ckpt, now_ns);
			rte_spinlock_unlock(&cap->table->lock);
			next_sweep = now_ns + CAPTURE_SWEEP_NS;
		}
	}
	return 0;
}
