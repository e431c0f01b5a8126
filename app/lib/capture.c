/* SPDX-License-Identifier: BSD-3-Clause */
#include <string.h>

#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_hash.h>
#include <rte_jhash.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

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

/* Empty polls in a row before an idle kernel-ring port sleeps. */
#define CAPTURE_IDLE_POLLS	16

/*
 * Sleep between polls of an idle kernel-ring port, in microseconds; the
 * timer slack of the thread (50 us by default on Linux) comes on top. At
 * 1 Mpps about 100 frames arrive meanwhile, far fewer than the thousands
 * of slots of an af_packet or af_xdp ring.
 */
#define CAPTURE_IDLE_SLEEP_US	50

/*
 * Nanoseconds per TSC cycle as a 32.32 fixed-point number, set on first
 * use. A multiply and a shift replace the two 64-bit divisions that the
 * capture lcore would otherwise pay on every poll. Every thread computes
 * the same value, so a race on the first use only stores it twice.
 */
static uint64_t tsc_to_ns_mult;

uint64_t
rv_capture_now_ns(void)
{
	uint64_t mult = __atomic_load_n(&tsc_to_ns_mult, __ATOMIC_RELAXED);

	if (mult == 0) {
		mult = (uint64_t)((((unsigned __int128)1000000000u) << 32) /
		    rte_get_tsc_hz());
		__atomic_store_n(&tsc_to_ns_mult, mult, __ATOMIC_RELAXED);
	}
	/* The 128-bit product does not overflow for any 64-bit TSC. */
	return (uint64_t)(((unsigned __int128)rte_get_tsc_cycles() * mult) >>
	    32);
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

/*
 * Lets the capture lcore sleep when idle only on ports that read a kernel
 * ring: af_packet and af_xdp. A NIC's descriptor ring fills within tens of
 * microseconds at line rate, so a hardware port keeps busy polling.
 */
static void
set_idle_sleep(struct rv_capture *cap)
{
	struct rte_eth_dev_info info;

	cap->idle_sleep_us = 0;
	if (rte_eth_dev_info_get(cap->port, &info) != 0 ||
	    info.driver_name == NULL)
		return;
	if (strcmp(info.driver_name, "net_af_packet") == 0 ||
	    strcmp(info.driver_name, "net_af_xdp") == 0)
		cap->idle_sleep_us = CAPTURE_IDLE_SLEEP_US;
	rv_info("capture: port %u (%s) %s when idle", cap->port,
	    info.driver_name, cap->idle_sleep_us != 0 ?
	    "sleeps " RTE_STR(CAPTURE_IDLE_SLEEP_US) " us between polls" :
	    "busy-polls");
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

	cap->seen = calloc(cfg->server_count, sizeof(*cap->seen));
	if (cap->seen == NULL)
		return -ENOMEM;

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
	set_idle_sleep(cap);
	return init_ckpt_store(cap);
}

void
rv_capture_fini(struct rv_capture *cap)
{
	rte_hash_free(cap->services);
	cap->services = NULL;
	rv_ckpt_store_fini(&cap->ckpt);
	free(cap->seen);
	cap->seen = NULL;
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

static uint64_t mac_word(const uint8_t *mac);

/*
 * Keeps the segments of SYN probes (to or from detection.probe_address or
 * probe_address6) out of the flow table, and records a server's SYN-ACK or
 * RST in response to its current probe, matched exactly: our port, ACK =
 * ISN + 1. Returns true if pkt was a probe segment.
 */
static bool
capture_probe_segment(struct rv_capture *cap, const struct rv_pkt *pkt,
    uint64_t now_ns)
{
	const struct rv_detection_config *dc = &cap->config->detection;
	const struct rv_addr *probe = pkt->ip_version == 4 ?
	    &dc->probe_address : &dc->probe_address6;
	size_t alen = pkt->ip_version == 4 ? 4 : 16;
	struct rv_server_seen *seen;
	uint64_t expected, answer;
	int server;

	if (probe->family != pkt->ip_version || cap->seen == NULL)
		return false;
	if (memcmp(pkt->src, probe->bytes, alen) == 0) {
		cap->stats.tcp_other++;		/* our own, mirrored */
		return true;
	}
	if (memcmp(pkt->dst, probe->bytes, alen) != 0)
		return false;
	cap->stats.tcp_other++;
	server = find_service(cap, pkt->ip_version, pkt->src, pkt->sport);
	if (server < 0)
		return true;
	seen = &cap->seen[server];
	expected = __atomic_load_n(&seen->syn_probe, __ATOMIC_ACQUIRE);
	if (expected == 0 || !(pkt->tcp_flags & RV_TCP_ACK) ||
	    !(pkt->tcp_flags & (RV_TCP_SYN | RV_TCP_RST)) ||
	    pkt->dport != (uint16_t)(expected >> 32) ||
	    pkt->ack != (uint32_t)expected + 1)
		return true;
	answer = (uint64_t)pkt->tcp_flags << 48 | (uint64_t)pkt->dport << 32 |
	    pkt->ack;
	if (pkt->ip_version == 4) {
		seen->syn_answer = answer;
		seen->syn_answer_mac = mac_word(pkt->l3 - 4 * pkt->n_vlans - 8);
		__atomic_store_n(&seen->syn_answer_ns, now_ns,
		    __ATOMIC_RELEASE);
	} else {
		seen->syn6_answer = answer;
		seen->syn6_answer_mac = mac_word(pkt->l3 - 4 * pkt->n_vlans -
		    8);
		__atomic_store_n(&seen->syn6_answer_ns, now_ns,
		    __ATOMIC_RELEASE);
	}
	return true;
}

/*
 * Files one TCP segment. flow is the segment's connection if a lookup
 * already found it, else NULL: then the table is searched again only if
 * *table_grew says that an earlier frame of the batch added a connection,
 * which may be this one. Sets *table_grew when this segment adds one.
 */
static void
capture_tcp(struct rv_capture *cap, const struct rv_pkt *pkt,
    struct rv_flow *flow, bool *table_grew, uint64_t now_ns)
{
	struct rv_flow_table *table = cap->table;
	struct rv_flow_ctx ctx = {
		.alloc = &table->alloc,
		.limits = &table->limits,
		.counters = &table->counters,
		.now_ns = now_ns,
	};
	struct rv_flow_key key;
	bool created;
	int dir, server;

	if (flow != NULL)
		dir = rv_flow_pkt_dir(flow, pkt);
	else if (*table_grew)
		flow = rv_flow_table_lookup_pkt(table, pkt, &dir);
	if (flow == NULL) {
		/* Most unmonitored traffic stops at the port bitmap. */
		if (!port_monitored(cap, pkt->dport) &&
		    !port_monitored(cap, pkt->sport)) {
			cap->stats.tcp_other++;
			return;
		}
		if (capture_probe_segment(cap, pkt, now_ns))
			return;
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
		*table_grew = *table_grew || created;
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
	if (dir == RV_DIR_S2C && cap->seen != NULL)
		cap->seen[flow->server].frame_ns = now_ns;
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

static uint64_t
mac_word(const uint8_t *mac)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 6; i++)
		v = v << 8 | mac[i];
	return v;
}

/* A server requests the probe address's MAC before its SYN-ACK to a probe. */
static bool
asks_for_probe_address(const struct rv_capture *cap, const struct rv_pkt *pkt)
{
	const struct rv_addr *probe = &cap->config->detection.probe_address;

	return probe->family == 4 && pkt->arp.op == 1 &&
	    memcmp(pkt->arp.tpa, probe->bytes, 4) == 0;
}

/* The main lcore sends the ARP reply through the inject port. */
static void
record_probe_request(struct rv_server_seen *seen, const struct rv_pkt *pkt,
    uint64_t now_ns)
{
	uint32_t spa;

	memcpy(&spa, pkt->arp.spa, 4);
	seen->probe_arp_spa = spa;
	__atomic_store_n(&seen->probe_arp_ns, now_ns, __ATOMIC_RELEASE);
}

/* Records ARP that a server sends, and our own probes coming back through
 * the mirror, which prove that the mirror works. ARP is rare: a linear
 * search of the servers' addresses costs nothing. */
static void
capture_arp(struct rv_capture *cap, const struct rv_pkt *pkt,
    uint64_t now_ns)
{
	const struct rv_config *cfg = cap->config;
	uint64_t sender = mac_word(pkt->arp.sha);
	const uint8_t *ip = sender == cap->inject_mac ? pkt->arp.tpa :
	    pkt->arp.spa;
	size_t i, a;

	if (cap->seen == NULL)
		return;
	for (i = 0; i < cfg->server_count; i++) {
		const struct rv_server *srv = &cfg->servers[i];

		for (a = 0; a < srv->address_count; a++) {
			if (srv->addresses[a].family != 4 ||
			    memcmp(srv->addresses[a].bytes, ip, 4) != 0)
				continue;
			if (sender == cap->inject_mac) {
				cap->seen[i].own_probe_ns = now_ns;
			} else {
				cap->seen[i].arp_mac = sender;
				cap->seen[i].arp_ns = now_ns;
				if (asks_for_probe_address(cap, pkt))
					record_probe_request(&cap->seen[i],
					    pkt, now_ns);
			}
			return;
		}
	}
}

/* ICMPv6 neighbour discovery (RFC 4861 section 4.3, 4.4). */
#define ND_NS		135
#define ND_NA		136
#define ND_MIN_LEN	24	/* type, code, checksum, 4 bytes, target */
#define ND_OPT_SLLA	1
#define ND_OPT_TLLA	2

/*
 * Finds the link-layer address option of type want among the options of
 * the neighbour discovery message msg of len bytes, and writes its MAC to
 * *mac. Returns 1 if found, 0 if absent, -1 if an option is malformed
 * (length 0 or past the end), because RFC 4861 section 4.6 requires
 * dropping such a message.
 */
static int
nd_lladdr(const uint8_t *msg, uint32_t len, uint8_t want, uint64_t *mac)
{
	uint32_t off = ND_MIN_LEN, olen;
	int found = 0;

	while (off < len) {
		if (len - off < 2)
			return -1;
		olen = (uint32_t)msg[off + 1] * 8;
		if (olen == 0 || olen > len - off)
			return -1;
		/* An Ethernet address fills an option of length 1 (RFC 2464
		 * section 6). */
		if (msg[off] == want && olen == 8 && !found) {
			*mac = mac_word(msg + off + 2);
			found = 1;
		}
		off += olen;
	}
	return found;
}

/* Finds the server that sent an IPv6 packet from src at Ethernet sender:
 * by its address, or by its MAC for a link-local source. Returns -1 if
 * none. */
static int
nd_server(const struct rv_capture *cap, const uint8_t *src, uint64_t sender)
{
	int server = find_service(cap, 6 | SERVICE_ADDR_ONLY, src, 0);
	size_t i;

	if (server >= 0 || src[0] != 0xfe || (src[1] & 0xc0) != 0x80)
		return server;
	for (i = 0; i < cap->config->server_count; i++)
		if (cap->seen[i].nd_mac == sender)
			return (int)i;
	return -1;
}

/* The main lcore sends the advertisement through the inject port. */
static void
record_probe_solicitation(struct rv_server_seen *seen,
    const struct rv_pkt *pkt, uint64_t mac, uint64_t now_ns)
{
	memcpy(seen->probe_ns_src, pkt->src, 16);
	seen->probe_ns_mac = mac;
	__atomic_store_n(&seen->probe_ns_ns, now_ns, __ATOMIC_RELEASE);
}

/*
 * Records neighbour discovery that concerns a server. Its advertisements
 * reply to our solicitations, unicast to the IPv6 probe address, or to all
 * nodes when we solicited from the unspecified address. Its solicitations
 * are a sign of life, and for the probe address a request that the main
 * lcore replies to. Our own solicitations coming back through the mirror
 * prove that the mirror works. Only messages
 * that could not have crossed a router count (hop limit 255, code 0; RFC
 * 4861 sections 7.1.1 and 7.1.2).
 */
static void
capture_nd(struct rv_capture *cap, const struct rv_pkt *pkt, uint64_t now_ns)
{
	const struct rv_addr *probe = &cap->config->detection.probe_address6;
	static const uint8_t unspecified[16];
	const uint8_t *msg = pkt->payload;
	uint64_t sender = mac_word(pkt->l3 - 4 * pkt->n_vlans - 8);
	uint64_t lladdr = sender;
	int server, opt;

	if (cap->seen == NULL || pkt->payload_len < ND_MIN_LEN ||
	    (msg[0] != ND_NS && msg[0] != ND_NA) || msg[1] != 0 ||
	    pkt->ttl != 255)
		return;
	if (sender == cap->inject_mac) {
		server = find_service(cap, 6 | SERVICE_ADDR_ONLY, msg + 8, 0);
		if (msg[0] == ND_NS && server >= 0)
			cap->seen[server].own_probe_ns = now_ns;
		return;
	}
	opt = nd_lladdr(msg, pkt->payload_len, msg[0] == ND_NS ? ND_OPT_SLLA :
	    ND_OPT_TLLA, &lladdr);
	if (opt < 0)
		return;
	if (msg[0] == ND_NA) {
		server = find_service(cap, 6 | SERVICE_ADDR_ONLY, msg + 8, 0);
		if (server < 0)
			return;
		cap->seen[server].nd_mac = sender;
		cap->seen[server].nd_ns = now_ns;
		return;
	}
	/* A solicitation from the unspecified address is duplicate address
	 * detection, which we must not reply to (RFC 4862 section 5.4.3). */
	if (memcmp(pkt->src, unspecified, 16) == 0)
		return;
	server = nd_server(cap, pkt->src, sender);
	if (server < 0)
		return;
	cap->seen[server].nd_mac = sender;
	cap->seen[server].nd_ns = now_ns;
	if (probe->family == 6 && memcmp(msg + 8, probe->bytes, 16) == 0)
		record_probe_solicitation(&cap->seen[server], pkt, lladdr,
		    now_ns);
}

/* Counts and files one parsed frame; kind is what rv_pkt_parse() returned. */
static void
capture_parsed(struct rv_capture *cap, const struct rv_pkt *pkt, int kind,
    uint32_t len, struct rv_flow *flow, bool *table_grew, uint64_t now_ns)
{
	cap->stats.frames++;
	cap->stats.bytes += len;
	if (kind < 0) {
		if (-kind < RV_PKT_ERR__COUNT)
			cap->stats.parse_errors[-kind]++;
		return;
	}
	switch (kind) {
	case RV_PKT_TCP:
		capture_tcp(cap, pkt, flow, table_grew, now_ns);
		break;
	case RV_PKT_UDP:
		capture_udp(cap, pkt, now_ns);
		break;
	case RV_PKT_ARP:
		cap->stats.arp++;
		capture_arp(cap, pkt, now_ns);
		break;
	default:
		cap->stats.other++;
		if (pkt->ip_version == 6 && pkt->ip_proto == 58)
			capture_nd(cap, pkt, now_ns);
		break;
	}
}

void
rv_capture_frame(struct rv_capture *cap, const uint8_t *frame, uint32_t len,
    uint64_t now_ns)
{
	struct rv_flow *flow = NULL;
	bool table_grew = false;
	struct rv_pkt pkt;
	int kind, dir;

	kind = rv_pkt_parse(frame, len, &pkt);
	if (kind == RV_PKT_TCP)
		flow = rv_flow_table_lookup_pkt(cap->table, &pkt, &dir);
	capture_parsed(cap, &pkt, kind, len, flow, &table_grew, now_ns);
}

/* Files a frame of several segments after copying it into one buffer. */
static void
capture_chained(struct rv_capture *cap, struct rte_mbuf *m, uint64_t now_ns)
{
	static uint8_t linear[CAPTURE_LINEAR_MAX];
	const uint8_t *frame;
	uint32_t len = rte_pktmbuf_pkt_len(m);

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

/* Fetches the cache lines of flow that filing a segment touches (struct
 * rv_flow): the first two, and those holding the first 192 bytes of each
 * direction, which takes a fourth line for dir[1] as it starts mid-line. */
static inline void
prefetch_flow(const struct rv_flow *flow)
{
	const char *d0 = (const char *)&flow->dir[0];
	const char *d1 = (const char *)&flow->dir[1];

	rte_prefetch0(flow);
	rte_prefetch0((const char *)flow + RTE_CACHE_LINE_SIZE);
	rte_prefetch0(d0);
	rte_prefetch0(d0 + RTE_CACHE_LINE_SIZE);
	rte_prefetch0(d0 + 2 * RTE_CACHE_LINE_SIZE);
	rte_prefetch0(d1);
	rte_prefetch0(d1 + RTE_CACHE_LINE_SIZE);
	rte_prefetch0(d1 + 2 * RTE_CACHE_LINE_SIZE);
	rte_prefetch0(d1 + 3 * RTE_CACHE_LINE_SIZE);
}

/*
 * How far ahead of the frame being filed each prefetch stage runs, in
 * frames of the batch. Reaching the logged bytes that a retransmission is
 * compared with takes three dependent loads (the flow, the log's slot
 * ring, the chunk), so each stage starts when the previous one has had two
 * frames' filing time to arrive. An estimate: on the tcp64 replay of
 * tools/bench capture (a shared 2-core VM), 6-4-2 measured within noise
 * of 12-8-4.
 */
#define CAPTURE_PREFETCH_AHEAD		6
#define CAPTURE_PREFETCH_SLOT_AHEAD	4
#define CAPTURE_PREFETCH_LOG_AHEAD	2

/*
 * Returns the log that a segment of flow adds payload to and sets *off to
 * the stream offset of its first payload byte, or returns NULL when the
 * segment carries no payload. Reads the flow only.
 */
static inline const struct rv_stream_log *
segment_log(const struct rv_flow *flow, const struct rv_pkt *pkt,
    uint64_t *off)
{
	const struct rv_stream_log *log;
	uint32_t seq;

	if (pkt->payload_len == 0)
		return NULL;
	log = &flow->dir[rv_flow_pkt_dir(flow, pkt)].log;
	seq = pkt->seq + ((pkt->tcp_flags & RV_TCP_SYN) ? 1 : 0);
	*off = rv_stream_log_offset(log, seq, log->contig_end);
	return log;
}

/* Fetches the slot-ring entry of the logged bytes a segment overlaps. */
static inline void
prefetch_log_slot(const struct rv_flow *flow, const struct rv_pkt *pkt)
{
	const struct rv_stream_log *log;
	uint64_t off;

	log = segment_log(flow, pkt, &off);
	if (log != NULL)
		rv_stream_log_prefetch_slot(log, off);
}

/* Fetches the logged bytes that a segment of flow overlaps, if any: a
 * retransmission is compared with them. */
static inline void
prefetch_logged(const struct rv_flow *flow, const struct rv_pkt *pkt)
{
	const struct rv_stream_log *log;
	uint64_t off;

	log = segment_log(flow, pkt, &off);
	if (log != NULL)
		rv_stream_log_prefetch(log, off, pkt->payload_len);
}

/* A frame of several segments: parsed when its turn comes, not ahead. */
#define KIND_CHAINED	INT32_MIN

/*
 * Files up to RV_FLOW_TABLE_BULK_MAX frames in three passes: parse them
 * all, look up the connections of the TCP segments together and prefetch
 * those flows, then file each frame in order. Filing stays in arrival
 * order, so the result equals that of rv_capture_frame() frame by frame.
 * Lock held.
 */
static void
capture_batch(struct rv_capture *cap, struct rte_mbuf **mbufs, uint16_t n,
    uint64_t now_ns)
{
	struct rv_pkt pkts[RV_FLOW_TABLE_BULK_MAX];
	const struct rv_pkt *tcp[RV_FLOW_TABLE_BULK_MAX];
	struct rv_flow *found[RV_FLOW_TABLE_BULK_MAX];
	struct rv_flow *flows[RV_FLOW_TABLE_BULK_MAX];
	uint8_t tcp_index[RV_FLOW_TABLE_BULK_MAX];
	int kinds[RV_FLOW_TABLE_BULK_MAX];
	bool table_grew = false;
	uint16_t i, j, n_tcp = 0;

	for (i = 0; i < n; i++)
		rte_prefetch0(rte_pktmbuf_mtod(mbufs[i], void *));
	for (i = 0; i < n; i++) {
		flows[i] = NULL;
		if (mbufs[i]->nb_segs != 1) {
			kinds[i] = KIND_CHAINED;
			continue;
		}
		kinds[i] = rv_pkt_parse(rte_pktmbuf_mtod(mbufs[i],
		    const uint8_t *), rte_pktmbuf_data_len(mbufs[i]), &pkts[i]);
		if (kinds[i] == RV_PKT_TCP) {
			tcp_index[n_tcp] = (uint8_t)i;
			tcp[n_tcp++] = &pkts[i];
		}
	}
	rv_flow_table_lookup_bulk(cap->table, tcp, n_tcp, found);
	for (i = 0; i < n_tcp; i++)
		flows[tcp_index[i]] = found[i];
	for (i = 0; i < n && i < CAPTURE_PREFETCH_AHEAD; i++)
		if (flows[i] != NULL)
			prefetch_flow(flows[i]);
	for (i = 0; i < n && i < CAPTURE_PREFETCH_SLOT_AHEAD; i++)
		if (flows[i] != NULL)
			prefetch_log_slot(flows[i], &pkts[i]);
	for (i = 0; i < n; i++) {
		j = i + CAPTURE_PREFETCH_AHEAD;
		if (j < n && flows[j] != NULL)
			prefetch_flow(flows[j]);
		j = i + CAPTURE_PREFETCH_SLOT_AHEAD;
		if (j < n && flows[j] != NULL)
			prefetch_log_slot(flows[j], &pkts[j]);
		j = i + CAPTURE_PREFETCH_LOG_AHEAD;
		if (j < n && flows[j] != NULL)
			prefetch_logged(flows[j], &pkts[j]);
		if (kinds[i] == KIND_CHAINED)
			capture_chained(cap, mbufs[i], now_ns);
		else
			capture_parsed(cap, &pkts[i], kinds[i],
			    rte_pktmbuf_data_len(mbufs[i]), flows[i],
			    &table_grew, now_ns);
	}
}

/*
 * Sleeps between polls of an idle port whose frames wait in a kernel ring
 * (see set_idle_sleep()). A busy-polling lcore that shares its core with
 * the kernel's receive work, or with anything else, takes the CPU time
 * that would fill the ring.
 */
static void
idle_wait(const struct rv_capture *cap, unsigned int *empty_polls)
{
	struct timespec ts = { 0, (long)cap->idle_sleep_us * 1000 };

	if (cap->idle_sleep_us == 0 || ++*empty_polls < CAPTURE_IDLE_POLLS)
		return;
	nanosleep(&ts, NULL);
}

int
rv_capture_lcore(void *arg)
{
	struct rv_capture *cap = arg;
	struct rte_mbuf *burst[512];
	uint64_t now_ns, next_sweep = 0, before_ns;
	uint16_t n, i, chunk, size = cap->burst_size;
	unsigned int empty_polls = 0;

	if (size == 0 || size > RTE_DIM(burst))
		size = RTE_DIM(burst);
	before_ns = rv_capture_now_ns();
	while (!cap->stop) {
		n = rte_eth_rx_burst(cap->port, 0, burst, size);
		now_ns = rv_capture_now_ns();
		if (n > 0) {
			empty_polls = 0;
			cap->stats.bursts++;
			rte_spinlock_lock(&cap->table->lock);
			for (i = 0; i < n; i += chunk) {
				chunk = (uint16_t)RTE_MIN(n - i,
				    RV_FLOW_TABLE_BULK_MAX);
				capture_batch(cap, &burst[i], chunk, now_ns);
			}
			rte_spinlock_unlock(&cap->table->lock);
			rte_pktmbuf_free_bulk(burst, n);
		}
		/* A short burst left the ring empty, so every frame that
		 * arrived before before_ns, earlier than this poll, has now
		 * been processed. */
		if (n < size)
			__atomic_store_n(&cap->drained_ns, before_ns,
			    __ATOMIC_RELEASE);
		if (n == 0)
			idle_wait(cap, &empty_polls);
		if (now_ns >= next_sweep) {
			rte_spinlock_lock(&cap->table->lock);
			rv_flow_table_sweep(cap->table, now_ns);
			rv_ckpt_store_expire(&cap->ckpt, now_ns);
			rte_spinlock_unlock(&cap->table->lock);
			next_sweep = now_ns + CAPTURE_SWEEP_NS;
		}
		before_ns = now_ns;
	}
	return 0;
}

int
rv_capture_wait_drained(struct rv_capture *cap, unsigned int settle_ms,
    unsigned int timeout_ms)
{
	const struct timespec tick = { 0, 1000000 };	/* 1 ms */
	uint64_t target, deadline;

	target = rv_capture_now_ns() + (uint64_t)settle_ms * 1000000;
	deadline = rv_capture_now_ns() + (uint64_t)timeout_ms * 1000000;
	while (__atomic_load_n(&cap->drained_ns, __ATOMIC_ACQUIRE) < target) {
		if (rv_capture_now_ns() >= deadline || cap->stop)
			return -ETIMEDOUT;
		nanosleep(&tick, NULL);
	}
	return 0;
}
