/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_random.h>

#include "daemon.h"
#include "detect.h"
#include "inject.h"
#include "log.h"
#include "migrate.h"
#include "pkt_parse.h"

#define MS	((uint64_t)1000000)

/* A conflict after a takeover is logged at most this often. */
#define CONFLICT_LOG_NS		(10000 * MS)

/* SYN probes leave from the dynamic port range (RFC 6335 section 6). */
#define PROBE_PORT_FIRST	49152
#define PROBE_PORT_COUNT	16384

const char *
rv_server_state_name(enum rv_server_state state)
{
	static const char *const names[] = {
		[RV_SERVER_HEALTHY] = "healthy",
		[RV_SERVER_SUSPECT] = "suspect",
		[RV_SERVER_FAILED] = "failed",
		[RV_SERVER_FENCED] = "fenced",
		[RV_SERVER_MIGRATING] = "migrating",
		[RV_SERVER_MIGRATED] = "migrated",
	};

	return (unsigned int)state < sizeof(names) / sizeof(names[0]) ?
	    names[state] : "unknown";
}

static void
transition(struct rv_daemon *d, size_t i, enum rv_server_state state,
    uint64_t now_ns, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Moves server i to state and logs the evidence once. */
static void
transition(struct rv_daemon *d, size_t i, enum rv_server_state state,
    uint64_t now_ns, const char *fmt, ...)
{
	struct rv_server_health *h = &d->health[i];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(h->evidence, sizeof(h->evidence), fmt, ap);
	va_end(ap);
	if (h->state == state)
		return;
	rv_log(state == RV_SERVER_HEALTHY || state == RV_SERVER_SUSPECT ?
	    RV_LOG_INFO : RV_LOG_WARNING, "server %s: %s -> %s: %s",
	    d->config->servers[i].name, rv_server_state_name(h->state),
	    rv_server_state_name(state), h->evidence);
	h->state = state;
	h->since_ns = now_ns;
	h->transitions++;
}

/* Returns the server's first address of family, or NULL if it has none. */
static const struct rv_addr *
first_address(const struct rv_server *srv, int family)
{
	size_t a;

	for (a = 0; a < srv->address_count; a++)
		if (srv->addresses[a].family == family)
			return &srv->addresses[a];
	return NULL;
}

/* Returns the probe address of family, or NULL if none is configured. */
static const struct rv_addr *
probe_address(const struct rv_config *cfg, int family)
{
	const struct rv_addr *p = family == 4 ?
	    &cfg->detection.probe_address : &cfg->detection.probe_address6;

	return p->family == family ? p : NULL;
}

static void
log_settings(const struct rv_config *cfg)
{
	const struct rv_detection_config *dc = &cfg->detection;
	char probe[RV_ADDR_STRLEN];

	if (!dc->enabled) {
		rv_info("detection: disabled; servers move only with "
		    "'revenantctl migrate'");
		return;
	}
	rv_info("detection: a probe round every %u ms, failed after %u "
	    "silent rounds, passive window %u ms, heartbeats overdue after "
	    "%u ms", dc->probe_interval_ms, dc->probe_misses,
	    dc->passive_window_ms, cfg->checkpoints.heartbeat_timeout_ms);
	if (dc->probe_address.family != 0)
		rv_info("detection: SYN probes from %s to each server's first "
		    "IPv4 address and first port", rv_addr_format(
		    &dc->probe_address, probe, sizeof(probe)));
	if (dc->probe_address6.family != 0)
		rv_info("detection: neighbour solicitations and SYN probes from "
		    "%s to each server's first IPv6 address and first port",
		    rv_addr_format(&dc->probe_address6, probe, sizeof(probe)));
}

int
rv_detect_init(struct rv_daemon *d)
{
	const struct rv_config *cfg = d->config;
	size_t i;

	d->health = calloc(cfg->server_count, sizeof(*d->health));
	if (d->health == NULL)
		return -ENOMEM;
	for (i = 0; i < cfg->server_count; i++) {
		const struct rv_server *srv = &cfg->servers[i];

		snprintf(d->health[i].evidence, sizeof(d->health[i].evidence),
		    "no probe yet");
		/* Every server starts healthy, so its state age counts from now. */
		d->health[i].since_ns = rv_capture_now_ns();
		/* rv_config_warn() already spoke about fences. */
		if (!cfg->detection.enabled)
			continue;
		if (first_address(srv, 6) != NULL &&
		    cfg->detection.probe_address6.family == 0)
			rv_info("server %s: its IPv6 addresses get neighbour "
			    "solicitations from the unspecified address and no "
			    "SYN probes; set detection.probe_address6 for both",
			    srv->name);
	}
	log_settings(cfg);
	return 0;
}

void
rv_detect_fini(struct rv_daemon *d)
{
	free(d->health);
	d->health = NULL;
}

/* Sends an ARP request for each IPv4 address of server i and a neighbour
 * solicitation for each IPv6 one. */
static void
send_neighbour_probes(struct rv_daemon *d, size_t i)
{
	const struct rv_server *srv = &d->config->servers[i];
	const struct rv_addr *probe = &d->config->detection.probe_address;
	const struct rv_addr *probe6 = &d->config->detection.probe_address6;
	const struct rv_addr *addr;
	uint8_t frame[RV_INJECT_FRAME_MAX];
	size_t a;
	int len;

	for (a = 0; a < srv->address_count; a++) {
		addr = &srv->addresses[a];
		/* Naming the probe address lets the server's kernel learn it,
		 * so its SYN-ACK need not wait for an ARP or neighbour
		 * discovery exchange. Without one the solicitation comes from
		 * the unspecified address, and the server sends its
		 * advertisement to all nodes (RFC 4861 section 7.2.4), which
		 * the mirror shows too. */
		if (addr->family == 4)
			len = probe->family == 4 ? rv_inject_arp_request(frame,
			    sizeof(frame), d->inject_port.mac, probe, addr) :
			    rv_inject_arp_probe(frame, sizeof(frame),
			    d->inject_port.mac, addr);
		else
			len = rv_inject_ns(frame, sizeof(frame),
			    d->inject_port.mac, probe6, addr);
		(void)rv_port_inject(d, frame, len);
	}
}

/* Fills the addresses of server i's SYN probe over family, or returns
 * false if there is no probe address or server address of that family. */
static bool
probe_endpoints(const struct rv_daemon *d, size_t i, int family,
    struct rv_inject_tcp *t)
{
	const struct rv_server *srv = &d->config->servers[i];
	const struct rv_addr *src = probe_address(d->config, family);
	const struct rv_addr *dst = first_address(srv, family);

	if (src == NULL || dst == NULL)
		return false;
	memset(t, 0, sizeof(*t));
	memcpy(t->src_mac, d->inject_port.mac, 6);
	t->src.addr = *src;
	t->dst.addr = *dst;
	t->dst.port = srv->ports[0];
	return true;
}

static void
mac_bytes(uint64_t word, uint8_t mac[6])
{
	int k;

	for (k = 5; k >= 0; k--, word >>= 8)
		mac[k] = (uint8_t)word;
}

/* Sends server i the round's SYN over family, to the MAC learnt from its
 * ARP replies or neighbour advertisements. Returns true if it left. */
static bool
send_syn(struct rv_daemon *d, size_t i, int family)
{
	const struct rv_server_seen *seen = &d->capture.seen[i];
	struct rv_server_health *h = &d->health[i];
	uint64_t mac = family == 4 ? seen->arp_mac : seen->nd_mac;
	uint8_t frame[RV_INJECT_FRAME_MAX];
	struct rv_inject_tcp t;
	int len;

	if (mac == 0 || !probe_endpoints(d, i, family, &t))
		return false;
	mac_bytes(mac, t.dst_mac);
	t.src.port = (uint16_t)h->syn_port;
	t.seq = h->syn_isn;
	len = rv_inject_syn(frame, sizeof(frame), &t);
	return rv_port_inject(d, frame, len) == 0;
}

/*
 * Sends a SYN from each configured probe address to server i's first
 * address of that family and first port, with a fresh random source port
 * and ISN, the same for both families, that the capture matches replies
 * against.
 */
static void
send_syn_probes(struct rv_daemon *d, size_t i)
{
	struct rv_server_health *h = &d->health[i];
	uint64_t r = rte_rand();

	h->syn_port = PROBE_PORT_FIRST + (uint32_t)(r >> 32) % PROBE_PORT_COUNT;
	h->syn_isn = (uint32_t)r;
	__atomic_store_n(&d->capture.seen[i].syn_probe,
	    (uint64_t)h->syn_port << 32 | h->syn_isn, __ATOMIC_RELEASE);
	h->syn_in_round = send_syn(d, i, 4);
	h->syn6_in_round = send_syn(d, i, 6);
	h->syn_sent += h->syn_in_round;
	h->syn6_sent += h->syn6_in_round;
}

static void
send_probes(struct rv_daemon *d, size_t i, uint64_t now_ns)
{
	send_neighbour_probes(d, i);
	send_syn_probes(d, i);
	d->health[i].probe_ns = now_ns;
}

/* Sends server i an ARP reply for the probe address it requested, so that
 * it can send its SYN-ACK. */
static void
answer_arp_request(struct rv_daemon *d, size_t i)
{
	const struct rv_server_seen *seen = &d->capture.seen[i];
	struct rv_server_health *h = &d->health[i];
	uint8_t frame[RV_INJECT_FRAME_MAX], requester[6];
	struct rv_addr target = { .family = 4 };
	uint64_t at = __atomic_load_n(&seen->probe_arp_ns, __ATOMIC_ACQUIRE);
	uint32_t spa = (uint32_t)seen->probe_arp_spa;
	int len;

	if (at == 0 || at == h->arp_request_handled_ns)
		return;
	h->arp_request_handled_ns = at;
	memcpy(target.bytes, &spa, 4);
	mac_bytes(seen->arp_mac, requester);
	len = rv_inject_arp_reply(frame, sizeof(frame), d->inject_port.mac,
	    &d->config->detection.probe_address, requester, &target);
	if (rv_port_inject(d, frame, len) == 0)
		h->arp_replies++;
}

/* Sends server i a neighbour advertisement for the IPv6 probe address it
 * solicited, so that it can send its SYN-ACK. */
static void
answer_solicitation(struct rv_daemon *d, size_t i)
{
	const struct rv_server_seen *seen = &d->capture.seen[i];
	struct rv_server_health *h = &d->health[i];
	uint8_t frame[RV_INJECT_FRAME_MAX], requester[6];
	struct rv_addr target = { .family = 6 };
	uint64_t at = __atomic_load_n(&seen->probe_ns_ns, __ATOMIC_ACQUIRE);
	int len;

	if (at == 0 || at == h->ns_request_handled_ns)
		return;
	h->ns_request_handled_ns = at;
	memcpy(target.bytes, seen->probe_ns_src, 16);
	mac_bytes(seen->probe_ns_mac, requester);
	len = rv_inject_solicited_na(frame, sizeof(frame), d->inject_port.mac,
	    &d->config->detection.probe_address6, requester, &target);
	if (rv_port_inject(d, frame, len) == 0)
		h->na_replies++;
}

/*
 * Resets the connection that a SYN-ACK to our probe over family opened, so
 * no half-open connection stays on the server. The RST takes its port and
 * sequence number from the SYN-ACK itself (our ISN + 1), not from the
 * current probe, which may have moved on meanwhile.
 */
static void
reset_answered_probe(struct rv_daemon *d, size_t i, int family)
{
	const struct rv_server_seen *seen = &d->capture.seen[i];
	struct rv_server_health *h = &d->health[i];
	const uint64_t *answer_ns = family == 4 ? &seen->syn_answer_ns :
	    &seen->syn6_answer_ns;
	uint64_t *handled = family == 4 ? &h->syn_answer_handled_ns :
	    &h->syn6_answer_handled_ns;
	uint8_t frame[RV_INJECT_FRAME_MAX];
	struct rv_inject_tcp t;
	uint64_t at = __atomic_load_n(answer_ns, __ATOMIC_ACQUIRE);
	uint64_t answer = family == 4 ? seen->syn_answer : seen->syn6_answer;
	int len;

	if (at == 0 || at == *handled)
		return;
	*handled = at;
	if (family == 4)
		h->syn_answered++;
	else
		h->syn6_answered++;
	if (!((answer >> 48) & RV_TCP_SYN) ||
	    !probe_endpoints(d, i, family, &t))
		return;
	mac_bytes(family == 4 ? seen->syn_answer_mac : seen->syn6_answer_mac,
	    t.dst_mac);
	t.src.port = (uint16_t)(answer >> 32);
	t.seq = (uint32_t)answer;
	len = rv_inject_rst(frame, sizeof(frame), &t);
	if (rv_port_inject(d, frame, len) == 0) {
		if (family == 4)
			h->syn_resets++;
		else
			h->syn6_resets++;
	}
}

/* Follows a running takeover's state. */
static void
follow_migration(struct rv_daemon *d, size_t i, uint64_t now_ns)
{
	struct rv_server_health *h = &d->health[i];
	struct rv_migration *m = h->migration;
	enum rv_migrate_state st;

	pthread_mutex_lock(&m->lock);
	st = m->state;
	pthread_mutex_unlock(&m->lock);
	if (st == RV_MIGRATE_HANDING_OFF || st == RV_MIGRATE_ANNOUNCING) {
		if (h->state == RV_SERVER_FAILED)
			transition(d, i, RV_SERVER_FENCED, now_ns, "migration %"
			    PRIu64 ": fenced", m->id);
		transition(d, i, RV_SERVER_MIGRATING, now_ns, "migration %"
		    PRIu64 " %s", m->id, rv_migrate_state_name(st));
	}
	else if (st == RV_MIGRATE_DONE)
		transition(d, i, RV_SERVER_MIGRATED, now_ns, "migration %"
		    PRIu64 ": %u moved, %u not recoverable, %u failed",
		    m->id, m->moved, m->not_recoverable, m->failed);
	else if (st == RV_MIGRATE_FAILED && h->state != RV_SERVER_FAILED)
		transition(d, i, RV_SERVER_FAILED, now_ns, "migration %" PRIu64
		    " failed; see 'revenantctl migration %" PRIu64 "'", m->id,
		    m->id);
}

/* After a takeover the backup keeps the address until an operator acts:
 * a primary that comes back and replies for the address, with ARP or
 * neighbour discovery, is reported, and the backup is announced again. */
static void
watch_conflict(struct rv_daemon *d, size_t i, uint64_t now_ns)
{
	struct rv_server_health *h = &d->health[i];
	const struct rv_server_seen *seen = &d->capture.seen[i];
	const uint8_t *mac = d->config->backups[h->migration->backup].mac.bytes;
	uint64_t backup = 0, old_mac;
	int k;

	for (k = 0; k < 6; k++)
		backup = backup << 8 | mac[k];
	if (seen->arp_ns >= h->since_ns && seen->arp_ns > h->conflict_arp_ns &&
	    seen->arp_mac != backup) {
		h->conflict_arp_ns = seen->arp_ns;
		old_mac = seen->arp_mac;
	} else if (seen->nd_ns >= h->since_ns &&
	    seen->nd_ns > h->conflict_nd_ns && seen->nd_mac != backup) {
		h->conflict_nd_ns = seen->nd_ns;
		old_mac = seen->nd_mac;
	} else {
		return;
	}
	h->conflicts++;
	(void)rv_migrate_announce(d, h->migration->server,
	    h->migration->backup);
	if (now_ns - h->conflict_logged_ns < CONFLICT_LOG_NS)
		return;
	h->conflict_logged_ns = now_ns;
	rv_warn("server %s: address conflict: the old primary "
	    "(%012" PRIx64 ") answers for an address the backup took over; "
	    "the backup keeps it and was announced again (%" PRIu64
	    " conflicts so far); isolate the old primary",
	    d->config->servers[i].name, old_mac, h->conflicts);
}

/* Starts the takeover of a failed server if it may be taken over. */
static void
take_over(struct rv_daemon *d, size_t i, uint64_t now_ns)
{
	const struct rv_server *srv = &d->config->servers[i];
	struct rv_server_health *h = &d->health[i];
	char why[256];

	if (h->migration != NULL || srv->fence == NULL)
		return;
	h->migration = rv_migrate_start(d, i, srv->backup, why, sizeof(why));
	if (h->migration == NULL) {
		rv_err("server %s: cannot take over: %s", srv->name, why);
		return;
	}
	if (d->n_migrations < RV_DAEMON_MAX_MIGRATIONS)
		d->migrations[d->n_migrations++] = h->migration;
	rv_warn("server %s: taking over (migration %" PRIu64 ")",
	    d->config->servers[i].name, h->migration->id);
	(void)now_ns;
}

struct waiting {
	size_t server;
	uint64_t since_ns;		/* data older than this is waiting */
	uint32_t clients;
};

static int
count_waiting(struct rv_flow *flow, void *arg)
{
	struct waiting *w = arg;
	const struct rv_flow_dir *c = &flow->dir[RV_DIR_C2S];
	const struct rv_flow_dir *s = &flow->dir[RV_DIR_S2C];

	if (flow->server != w->server || flow->state != RV_FLOW_ESTABLISHED ||
	    !c->isn_known)
		return 0;
	/* Client bytes beyond the server's acknowledgement, sent before the
	 * window began: the client has been waiting at least that long. */
	if (c->last_data_ns != 0 && c->last_data_ns < w->since_ns &&
	    (!s->ack_seen || rv_stream_log_seq(&c->log, c->log.contig_end) !=
	    s->ack))
		w->clients++;
	return 0;
}

/*
 * Passive evidence: how many clients have had data unacknowledged for
 * longer than the passive window while the server sent nothing at all.
 */
static uint32_t
clients_waiting(struct rv_daemon *d, size_t i, uint64_t now_ns)
{
	uint64_t window = (uint64_t)d->config->detection.passive_window_ms *
	    MS;
	struct waiting w = { i, now_ns - window, 0 };

	if (now_ns < window || d->capture.seen[i].frame_ns >= w.since_ns)
		return 0;
	rte_spinlock_lock(&d->table->lock);
	rv_flow_table_walk(d->table, count_waiting, &w);
	rte_spinlock_unlock(&d->table->lock);
	return w.clients;
}

void
rv_detect_decide(const struct rv_detect_evidence *e,
    struct rv_detect_verdict *v)
{
	bool alive = e->arp_answered || e->nd_answered || e->syn_answered ||
	    e->syn6_answered || e->frame_seen || e->heartbeat_seen;

	v->state = e->state;
	v->misses = 0;
	if (alive) {
		v->state = RV_SERVER_HEALTHY;
		v->reason = "answered";
		if (e->heartbeat_overdue) {
			v->state = RV_SERVER_SUSPECT;
			v->reason = "answered, but its heartbeats are overdue";
		} else if (e->clients_waiting > 0) {
			v->state = RV_SERVER_SUSPECT;
			v->reason = "answered, but clients wait while it sends "
			    "nothing";
		} else if ((e->syn_sent && !e->syn_answered) ||
		    (e->syn6_sent && !e->syn6_answered)) {
			/* The kernel lives, but its TCP stack did not respond
			 * in time, or dropped the SYN from a full queue. */
			v->state = RV_SERVER_SUSPECT;
			v->reason = e->syn_sent && !e->syn_answered ?
			    "answered, but not its SYN probe" :
			    "answered, but not its IPv6 SYN probe";
		}
		return;
	}
	if (!e->mirror_works) {
		/* Our own probe did not come back, or the capture dropped
		 * frames, so the silence is no evidence against the server. */
		v->reason = "mirror silent or lossy; not judging";
		return;
	}
	v->misses = e->misses + 1;
	if (v->misses < e->probe_misses) {
		v->state = RV_SERVER_SUSPECT;
		v->reason = "probe round unanswered";
		return;
	}
	v->state = RV_SERVER_FAILED;
	v->reason = "probe rounds unanswered in a row while the mirror worked";
}

/* True if the mirror carried our own previous probe back to us. */
static bool
mirror_works(struct rv_daemon *d, size_t i, uint64_t since_ns)
{
	return d->capture.seen[i].own_probe_ns >= since_ns &&
	    d->capture_port.kernel_drops == d->drops_at_last_probe;
}

/* Gathers what the mirror showed of server i since the round at since_ns
 * left. */
static void
gather_evidence(struct rv_daemon *d, size_t i, uint64_t since_ns,
    uint64_t now_ns, struct rv_detect_evidence *e, uint64_t *hb_ns)
{
	const struct rv_config *cfg = d->config;
	const struct rv_server_seen *seen = &d->capture.seen[i];
	const struct rv_server_health *h = &d->health[i];
	uint64_t hb_timeout = (uint64_t)cfg->checkpoints.heartbeat_timeout_ms *
	    MS;
	bool hb_seen;

	rte_spinlock_lock(&d->table->lock);
	hb_seen = d->capture.ckpt.servers[i].hb_seen;
	*hb_ns = hb_seen ? d->capture.ckpt.servers[i].hb_last_ns : 0;
	rte_spinlock_unlock(&d->table->lock);

	memset(e, 0, sizeof(*e));
	e->state = h->state;
	e->misses = h->misses;
	e->probe_misses = cfg->detection.probe_misses;
	e->arp_answered = seen->arp_ns >= since_ns;
	e->nd_answered = seen->nd_ns >= since_ns;
	e->syn_sent = h->syn_in_round;
	e->syn_answered = __atomic_load_n(&seen->syn_answer_ns,
	    __ATOMIC_ACQUIRE) >= since_ns;
	e->syn6_sent = h->syn6_in_round;
	e->syn6_answered = __atomic_load_n(&seen->syn6_answer_ns,
	    __ATOMIC_ACQUIRE) >= since_ns;
	e->frame_seen = seen->frame_ns >= since_ns;
	e->heartbeat_seen = hb_seen && *hb_ns >= since_ns;
	e->heartbeat_overdue = hb_seen && now_ns - *hb_ns > hb_timeout;
	e->clients_waiting = clients_waiting(d, i, now_ns);
	e->mirror_works = mirror_works(d, i, since_ns);
}

/* Writes the age of an event at t_ns as "12 ms ago", or "never". */
static const char *
age(uint64_t t_ns, uint64_t now_ns, char *buf, size_t len)
{
	if (t_ns == 0 || t_ns > now_ns)
		snprintf(buf, len, t_ns == 0 ? "never" : "now");
	else
		snprintf(buf, len, "%" PRIu64 " ms ago", (now_ns - t_ns) / MS);
	return buf;
}

/* Moves server i to the verdict's state and logs the evidence behind it. */
static void
apply_verdict(struct rv_daemon *d, size_t i, const struct rv_detect_verdict *v,
    uint64_t hb_ns, uint64_t now_ns)
{
	const struct rv_server *srv = &d->config->servers[i];
	const struct rv_server_seen *seen = &d->capture.seen[i];
	struct rv_server_health *h = &d->health[i];
	char arp[24], nd[24], syn[24], syn6[24], frame[24], hb[24];
	bool v4 = first_address(srv, 4) != NULL;
	bool v6 = first_address(srv, 6) != NULL;

	h->misses = v->misses;
	transition(d, i, v->state, now_ns, "%s (%u of %u rounds unanswered); "
	    "ARP answer %s, NA answer %s, SYN answer %s, IPv6 SYN answer %s, "
	    "segment %s, heartbeat %s, clients waiting over %u ms: %u",
	    v->reason, v->misses, d->config->detection.probe_misses,
	    !v4 ? "not probed" : age(seen->arp_ns, now_ns, arp, sizeof(arp)),
	    !v6 ? "not probed" : age(seen->nd_ns, now_ns, nd, sizeof(nd)),
	    !v4 || probe_address(d->config, 4) == NULL ? "not probed" :
	    age(seen->syn_answer_ns, now_ns, syn, sizeof(syn)),
	    !v6 || probe_address(d->config, 6) == NULL ? "not probed" :
	    age(seen->syn6_answer_ns, now_ns, syn6, sizeof(syn6)),
	    age(seen->frame_ns, now_ns, frame, sizeof(frame)),
	    age(hb_ns, now_ns, hb, sizeof(hb)),
	    d->config->detection.passive_window_ms, h->last.clients_waiting);
}

static void
judge(struct rv_daemon *d, size_t i, uint64_t now_ns)
{
	struct rv_server_health *h = &d->health[i];
	struct rv_detect_verdict v;
	uint64_t hb_ns;

	if (h->probe_ns == 0)
		return;
	gather_evidence(d, i, h->probe_ns, now_ns, &h->last, &hb_ns);
	rv_detect_decide(&h->last, &v);
	if (h->last.arp_answered || h->last.nd_answered ||
	    h->last.syn_answered || h->last.syn6_answered ||
	    h->last.frame_seen || h->last.heartbeat_seen)
		h->alive_ns = now_ns;
	apply_verdict(d, i, &v, hb_ns, now_ns);
	if (v.state == RV_SERVER_FAILED)
		take_over(d, i, now_ns);
}

void
rv_detect_poll(struct rv_daemon *d, uint64_t now_ns)
{
	const struct rv_detection_config *dc = &d->config->detection;
	uint64_t interval = (uint64_t)dc->probe_interval_ms * MS;
	size_t i;

	if (!dc->enabled || d->health == NULL)
		return;
	for (i = 0; i < d->config->server_count; i++) {
		if (d->health[i].migration != NULL)
			continue;
		answer_arp_request(d, i);
		answer_solicitation(d, i);
		reset_answered_probe(d, i, 4);
		reset_answered_probe(d, i, 6);
	}
	if (now_ns - d->last_probe_ns < interval)
		return;
	d->last_probe_ns = now_ns;
	for (i = 0; i < d->config->server_count; i++) {
		struct rv_server_health *h = &d->health[i];

		if (h->migration != NULL) {
			follow_migration(d, i, now_ns);
			if (h->state == RV_SERVER_MIGRATED)
				watch_conflict(d, i, now_ns);
			continue;
		}
		judge(d, i, now_ns);
		if (h->state == RV_SERVER_HEALTHY ||
		    h->state == RV_SERVER_SUSPECT)
			send_probes(d, i, now_ns);
	}
	d->drops_at_last_probe = d->capture_port.kernel_drops;
}
