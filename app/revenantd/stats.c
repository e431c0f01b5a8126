/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Counters of the running daemon: "revenantctl stats", "revenantctl
 * servers", the periodic counter log line and DPDK telemetry all read the
 * same snapshot.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_telemetry.h>

#include "daemon.h"
#include "detect.h"
#include "migrate.h"
#include "json_writer.h"
#include "log.h"
#include "text_table.h"

struct port_snapshot {
	const char *role;
	const char *name;
	const char *iface;
	struct rte_eth_stats eth;
	uint64_t kernel_packets;
	uint64_t kernel_drops;
};

struct stats_snapshot {
	struct port_snapshot ports[2];
	struct rv_capture_stats capture;
	struct rv_flow_counters tracking;
	uint32_t flows;
	uint32_t max_flows;
	uint64_t table_full;
	uint64_t removed_idle;
	uint64_t removed_closed;
	uint64_t log_used;
	uint64_t log_cap;
	uint64_t flow_log_max;
	uint64_t uptime_ns;
	struct rv_ckpt_counters ckpt;
	uint64_t ckpt_used;
	uint64_t ckpt_cap;
	uint64_t ckpt_cap_hits;
	uint64_t ckpt_superseded;
};

static void
snapshot_port(struct port_snapshot *ps, const struct rv_port *port)
{
	ps->role = port->role;
	ps->name = port->name;
	ps->iface = port->iface;
	memset(&ps->eth, 0, sizeof(ps->eth));
	(void)rte_eth_stats_get(port->id, &ps->eth);
	ps->kernel_packets = port->kernel_packets;
	ps->kernel_drops = port->kernel_drops;
}

static void
take_snapshot(struct rv_daemon *d, struct stats_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	snapshot_port(&s->ports[0], &d->capture_port);
	snapshot_port(&s->ports[1], &d->inject_port);
	/* Counters are read without the lock: each is one aligned word. */
	s->capture = d->capture.stats;
	s->tracking = d->table->counters;
	s->flows = d->table->count;
	s->max_flows = d->table->capacity;
	s->table_full = d->table->table_full;
	s->removed_idle = d->table->removed_idle;
	s->removed_closed = d->table->removed_closed;
	s->log_used = rv_flow_table_mem_used(d->table);
	s->log_cap = rv_flow_table_mem_cap(d->table);
	s->flow_log_max = d->config->memory.flow_log_max;
	s->uptime_ns = rv_capture_now_ns() - d->started_ns;
	s->ckpt = d->capture.ckpt.counters;
	s->ckpt_used = d->capture.ckpt.pool.used_bytes;
	s->ckpt_cap = d->capture.ckpt.pool.cap_bytes;
	s->ckpt_cap_hits = d->capture.ckpt.pool.cap_hits;
	s->ckpt_superseded = s->tracking.ckpt_superseded;
}

static void
ckpt_json(const struct stats_snapshot *s, struct rv_json *w)
{
	int i;

	rv_json_key(w, "checkpoints");
	rv_json_object_begin(w);
	rv_json_kv_uint(w, "udp_to_export_port", s->capture.udp_export);
	rv_json_kv_uint(w, "datagrams", s->ckpt.datagrams);
	rv_json_kv_uint(w, "fragments", s->ckpt.fragments);
	rv_json_kv_uint(w, "received", s->ckpt.messages);
	rv_json_kv_uint(w, "filed", s->ckpt.filed);
	rv_json_kv_uint(w, "heartbeats", s->ckpt.heartbeats);
	rv_json_kv_uint(w, "reassembly_timeouts",
	    s->ckpt.reassembly_timeouts);
	rv_json_kv_uint(w, "superseded", s->ckpt_superseded);
	rv_json_kv_uint(w, "evicted", s->ckpt.evicted);
	rv_json_kv_uint(w, "memory_used", s->ckpt_used);
	rv_json_kv_uint(w, "memory_cap", s->ckpt_cap);
	rv_json_kv_uint(w, "memory_cap_hits", s->ckpt_cap_hits);
	rv_json_key(w, "rejected");
	rv_json_object_begin(w);
	for (i = 1; i < RV_CKPT_REJ__COUNT; i++)
		rv_json_kv_uint(w, rv_ckpt_reject_name(i), s->ckpt.rejected[i]);
	rv_json_object_end(w);
	rv_json_object_end(w);
}

/* Frames the kernel or the NIC dropped before revenantd saw them. */
static uint64_t
port_drops(const struct port_snapshot *ps)
{
	return ps->eth.imissed + ps->eth.rx_nombuf + ps->kernel_drops;
}

static void
stats_json(const struct stats_snapshot *s, struct rv_json *w)
{
	int i;

	rv_json_object_begin(w);
	rv_json_kv_uint(w, "uptime_ns", s->uptime_ns);
	rv_json_key(w, "ports");
	rv_json_array_begin(w);
	for (i = 0; i < 2; i++) {
		const struct port_snapshot *ps = &s->ports[i];

		rv_json_object_begin(w);
		rv_json_kv_string(w, "role", ps->role);
		rv_json_kv_string(w, "device", ps->name);
		rv_json_kv_string(w, "interface", ps->iface);
		rv_json_kv_uint(w, "rx_packets", ps->eth.ipackets);
		rv_json_kv_uint(w, "rx_bytes", ps->eth.ibytes);
		rv_json_kv_uint(w, "tx_packets", ps->eth.opackets);
		rv_json_kv_uint(w, "rx_dropped", port_drops(ps));
		rv_json_kv_uint(w, "rx_missed", ps->eth.imissed);
		rv_json_kv_uint(w, "rx_no_mbuf", ps->eth.rx_nombuf);
		rv_json_kv_uint(w, "rx_errors", ps->eth.ierrors);
		rv_json_kv_uint(w, "kernel_ring_drops", ps->kernel_drops);
		rv_json_object_end(w);
	}
	rv_json_array_end(w);

	rv_json_key(w, "capture");
	rv_json_object_begin(w);
	rv_json_kv_uint(w, "frames", s->capture.frames);
	rv_json_kv_uint(w, "bytes", s->capture.bytes);
	rv_json_kv_uint(w, "tcp_monitored", s->capture.tcp_monitored);
	rv_json_kv_uint(w, "tcp_not_monitored", s->capture.tcp_other);
	rv_json_kv_uint(w, "udp", s->capture.udp);
	rv_json_kv_uint(w, "arp", s->capture.arp);
	rv_json_kv_uint(w, "other", s->capture.other);
	rv_json_kv_uint(w, "tcp_bad_options", s->capture.bad_options);
	rv_json_kv_uint(w, "truncated_frames", s->tracking.truncated_frames);
	rv_json_kv_uint(w, "oversized_frames", s->capture.oversized);
	rv_json_key(w, "malformed");
	rv_json_object_begin(w);
	for (i = 1; i < RV_PKT_ERR__COUNT; i++)
		rv_json_kv_uint(w, rv_pkt_err_name(-i),
		    s->capture.parse_errors[i]);
	rv_json_object_end(w);
	rv_json_object_end(w);

	rv_json_key(w, "flows");
	rv_json_object_begin(w);
	rv_json_kv_uint(w, "active", s->flows);
	rv_json_kv_uint(w, "max", s->max_flows);
	rv_json_kv_uint(w, "table_full", s->table_full);
	rv_json_kv_uint(w, "removed_idle", s->removed_idle);
	rv_json_kv_uint(w, "removed_closed", s->removed_closed);
	rv_json_kv_uint(w, "reused_ports", s->tracking.reused_ports);
	rv_json_kv_uint(w, "conflicts", s->tracking.conflicts);
	rv_json_kv_uint(w, "capture_gaps", s->tracking.gaps);
	rv_json_object_end(w);

	rv_json_key(w, "memory");
	rv_json_object_begin(w);
	rv_json_kv_uint(w, "bytes_logged", s->tracking.bytes_logged);
	rv_json_kv_uint(w, "log_used", s->log_used);
	rv_json_kv_uint(w, "log_cap", s->log_cap);
	rv_json_kv_uint(w, "flow_log_max", s->flow_log_max);
	rv_json_kv_uint(w, "flow_log_cap_hits", s->tracking.log_cap_hits);
	rv_json_kv_uint(w, "log_memory_cap_hits",
	    s->tracking.memory_cap_hits);
	rv_json_kv_uint(w, "range_cap_hits", s->tracking.range_cap_hits);
	rv_json_object_end(w);
	ckpt_json(s, w);
	rv_json_object_end(w);
}

static void
row(struct rv_table *t, const char *name, uint64_t value)
{
	rv_table_cell(t, "%s", name);
	rv_table_cell(t, "%" PRIu64, value);
}

static int
stats_text(const struct stats_snapshot *s, struct rv_ctl_reply *reply)
{
	char a[32], b[32], c[32];
	struct rv_table *t;
	int i, rc;

	t = rv_table_new();
	if (t == NULL)
		return -ENOMEM;
	rv_table_add_column(t, "PORT", RV_TABLE_LEFT);
	rv_table_add_column(t, "DEVICE", RV_TABLE_LEFT);
	rv_table_add_column(t, "RX", RV_TABLE_RIGHT);
	rv_table_add_column(t, "RX BYTES", RV_TABLE_RIGHT);
	rv_table_add_column(t, "TX", RV_TABLE_RIGHT);
	rv_table_add_column(t, "DROPPED", RV_TABLE_RIGHT);
	rv_table_add_column(t, "RING DROPS", RV_TABLE_RIGHT);
	rv_table_add_column(t, "NO MBUF", RV_TABLE_RIGHT);
	rv_table_add_column(t, "ERRORS", RV_TABLE_RIGHT);
	for (i = 0; i < 2; i++) {
		const struct port_snapshot *ps = &s->ports[i];

		rv_table_cell(t, "%s", ps->role);
		rv_table_cell(t, "%s%s%s%s", ps->name, ps->iface[0] ? " (" :
		    "", ps->iface, ps->iface[0] ? ")" : "");
		rv_table_cell(t, "%" PRIu64, ps->eth.ipackets);
		rv_table_cell(t, "%s", rv_table_fmt_bytes(ps->eth.ibytes, a,
		    sizeof(a)));
		rv_table_cell(t, "%" PRIu64, ps->eth.opackets);
		rv_table_cell(t, "%" PRIu64, port_drops(ps));
		rv_table_cell(t, "%" PRIu64, ps->kernel_drops);
		rv_table_cell(t, "%" PRIu64, ps->eth.rx_nombuf);
		rv_table_cell(t, "%" PRIu64, ps->eth.ierrors);
	}
	rc = rv_ctl_reply_table(reply, t);
	rv_table_free(t);
	if (rc != 0)
		return rc;

	t = rv_table_new();
	if (t == NULL)
		return -ENOMEM;
	rv_table_add_column(t, "CAPTURE", RV_TABLE_LEFT);
	rv_table_add_column(t, "COUNT", RV_TABLE_RIGHT);
	row(t, "frames", s->capture.frames);
	row(t, "tcp monitored", s->capture.tcp_monitored);
	row(t, "tcp not monitored", s->capture.tcp_other);
	row(t, "udp", s->capture.udp);
	row(t, "arp", s->capture.arp);
	row(t, "other", s->capture.other);
	row(t, "tcp bad options", s->capture.bad_options);
	row(t, "truncated frames", s->tracking.truncated_frames);
	for (i = 1; i < RV_PKT_ERR__COUNT; i++) {
		char name[64];

		if (s->capture.parse_errors[i] == 0)
			continue;
		snprintf(name, sizeof(name), "malformed %s",
		    rv_pkt_err_name(-i));
		row(t, name, s->capture.parse_errors[i]);
	}
	row(t, "connections", s->flows);
	row(t, "connections max", s->max_flows);
	row(t, "table full", s->table_full);
	row(t, "removed idle", s->removed_idle);
	row(t, "removed closed", s->removed_closed);
	row(t, "conflicting copies", s->tracking.conflicts);
	row(t, "capture gaps", s->tracking.gaps);
	row(t, "per-connection cap hits", s->tracking.log_cap_hits);
	row(t, "log memory cap hits", s->tracking.memory_cap_hits);
	row(t, "out-of-order range cap hits", s->tracking.range_cap_hits);
	row(t, "checkpoint datagrams", s->ckpt.datagrams);
	row(t, "checkpoints received", s->ckpt.messages);
	row(t, "checkpoints filed", s->ckpt.filed);
	row(t, "checkpoints superseded", s->ckpt_superseded);
	row(t, "checkpoints evicted", s->ckpt.evicted);
	row(t, "heartbeats", s->ckpt.heartbeats);
	row(t, "reassembly timeouts", s->ckpt.reassembly_timeouts);
	for (i = 1; i < RV_CKPT_REJ__COUNT; i++) {
		char name[64];

		if (s->ckpt.rejected[i] == 0)
			continue;
		snprintf(name, sizeof(name), "checkpoint rejected %s",
		    rv_ckpt_reject_name(i));
		row(t, name, s->ckpt.rejected[i]);
	}
	rv_ctl_reply_printf(reply, "\n");
	rc = rv_ctl_reply_table(reply, t);
	rv_table_free(t);
	if (rc != 0)
		return rc;
	rc = rv_ctl_reply_printf(reply, "\nlog memory: %s used of %s "
	    "(per connection at most %s); %s logged since start\n",
	    rv_table_fmt_bytes(s->log_used, a, sizeof(a)),
	    rv_table_fmt_bytes(s->log_cap, b, sizeof(b)),
	    rv_table_fmt_bytes(s->flow_log_max, c, sizeof(c)),
	    rv_table_fmt_bytes(s->tracking.bytes_logged, a, sizeof(a)));
	if (rc != 0)
		return rc;
	return rv_ctl_reply_printf(reply, "checkpoint memory: %s used of %s, "
	    "cap hit %" PRIu64 " times\n",
	    rv_table_fmt_bytes(s->ckpt_used, a, sizeof(a)),
	    rv_table_fmt_bytes(s->ckpt_cap, b, sizeof(b)), s->ckpt_cap_hits);
}

static int
cmd_stats(const struct rv_ctl_request *req, struct rv_ctl_reply *reply,
    void *arg)
{
	struct stats_snapshot s;
	struct rv_json w;
	int rc;

	if (req->argc != 1)
		return rv_ctl_reply_error(reply, 2, "usage: stats [--json]");
	take_snapshot(arg, &s);
	if (!req->json)
		return stats_text(&s, reply);
	rv_json_init(&w);
	stats_json(&s, &w);
	rc = rv_ctl_reply_json(reply, &w);
	rv_json_free(&w);
	return rc;
}

struct server_count {
	uint32_t *flows;
	size_t n;
};

static int
count_flow(struct rv_flow *flow, void *arg)
{
	struct server_count *sc = arg;

	if (flow->server < sc->n)
		sc->flows[flow->server]++;
	return 0;
}

/* The detection state of server i; read without a lock from the main
 * lcore, which is the only writer. */
/* Writes key: nanoseconds since t_ns, or null if it never happened. */
static void
age_json(struct rv_json *w, const char *key, uint64_t t_ns, uint64_t now_ns)
{
	rv_json_key(w, key);
	if (t_ns == 0)
		rv_json_null(w);
	else
		rv_json_uint(w, now_ns > t_ns ? now_ns - t_ns : 0);
}

/* The inputs of the latest detection decision and the probe counters. */
static void
health_evidence_json(struct rv_daemon *d, size_t i, uint64_t now_ns,
    struct rv_json *w)
{
	const struct rv_server_health *h = &d->health[i];
	const struct rv_server_seen *seen = &d->capture.seen[i];
	const struct rv_detect_evidence *e = &h->last;

	age_json(w, "alive_age_ns", h->alive_ns, now_ns);
	age_json(w, "arp_answer_age_ns", seen->arp_ns, now_ns);
	age_json(w, "nd_answer_age_ns", seen->nd_ns, now_ns);
	age_json(w, "syn_answer_age_ns", seen->syn_answer_ns, now_ns);
	age_json(w, "syn6_answer_age_ns", seen->syn6_answer_ns, now_ns);
	age_json(w, "segment_age_ns", seen->frame_ns, now_ns);
	rv_json_kv_uint(w, "clients_waiting", e->clients_waiting);
	rv_json_kv_bool(w, "heartbeat_overdue", e->heartbeat_overdue);
	rv_json_kv_bool(w, "mirror_works", e->mirror_works);
	rv_json_key(w, "syn_probes");
	rv_json_object_begin(w);
	rv_json_kv_uint(w, "sent", h->syn_sent);
	rv_json_kv_uint(w, "answered", h->syn_answered);
	rv_json_kv_uint(w, "resets", h->syn_resets);
	rv_json_kv_uint(w, "arp_replies", h->arp_replies);
	rv_json_object_end(w);
	rv_json_key(w, "syn6_probes");
	rv_json_object_begin(w);
	rv_json_kv_uint(w, "sent", h->syn6_sent);
	rv_json_kv_uint(w, "answered", h->syn6_answered);
	rv_json_kv_uint(w, "resets", h->syn6_resets);
	rv_json_kv_uint(w, "na_replies", h->na_replies);
	rv_json_object_end(w);
}

static void
server_health_json(struct rv_daemon *d, size_t i, uint64_t now_ns,
    struct rv_json *w)
{
	const struct rv_server_health *h;

	if (d->health == NULL)
		return;
	h = &d->health[i];
	rv_json_key(w, "detection");
	rv_json_object_begin(w);
	rv_json_kv_string(w, "state", rv_server_state_name(h->state));
	rv_json_kv_uint(w, "state_age_ns", h->since_ns != 0 ?
	    now_ns - h->since_ns : 0);
	rv_json_kv_string(w, "evidence", h->evidence);
	rv_json_kv_uint(w, "probes_unanswered", h->misses);
	rv_json_kv_uint(w, "transitions", h->transitions);
	rv_json_kv_uint(w, "address_conflicts", h->conflicts);
	rv_json_kv_uint(w, "migration", h->migration != NULL ?
	    h->migration->id : 0);
	health_evidence_json(d, i, now_ns, w);
	rv_json_object_end(w);
}

static int
cmd_servers(const struct rv_ctl_request *req, struct rv_ctl_reply *reply,
    void *arg)
{
	struct rv_daemon *d = arg;
	const struct rv_config *cfg = d->config;
	uint32_t flows[RV_CONFIG_SERVERS_MAX] = { 0 };
	struct server_count sc = { flows, cfg->server_count };
	struct rv_ckpt_server hb[RV_CONFIG_SERVERS_MAX];
	uint64_t now_ns, timeout_ns;
	char age[32];
	char addrs[512], ports[128], text[RV_ADDR_STRLEN];
	struct rv_table *t;
	struct rv_json w;
	size_t i, j;
	int rc;

	if (req->argc != 1)
		return rv_ctl_reply_error(reply, 2, "usage: servers [--json]");
	rte_spinlock_lock(&d->table->lock);
	rv_flow_table_walk(d->table, count_flow, &sc);
	memcpy(hb, d->capture.ckpt.servers,
	    cfg->server_count * sizeof(hb[0]));
	rte_spinlock_unlock(&d->table->lock);
	now_ns = rv_capture_now_ns();
	timeout_ns = (uint64_t)cfg->checkpoints.heartbeat_timeout_ms * 1000000;

	rv_json_init(&w);
	t = rv_table_new();
	if (t == NULL)
		return -ENOMEM;
	rv_table_add_column(t, "SERVER", RV_TABLE_LEFT);
	rv_table_add_column(t, "STATE", RV_TABLE_LEFT);
	rv_table_add_column(t, "ADDRESSES", RV_TABLE_LEFT);
	rv_table_add_column(t, "PORTS", RV_TABLE_LEFT);
	rv_table_add_column(t, "BACKUP", RV_TABLE_LEFT);
	rv_table_add_column(t, "CONNECTIONS", RV_TABLE_RIGHT);
	rv_table_add_column(t, "HOST KEY", RV_TABLE_LEFT);
	rv_table_add_column(t, "HEARTBEAT AGE", RV_TABLE_RIGHT);
	rv_table_add_column(t, "SEQ", RV_TABLE_RIGHT);
	rv_table_add_column(t, "SSHD CONNS", RV_TABLE_RIGHT);
	rv_table_add_column(t, "EVIDENCE", RV_TABLE_LEFT);
	rv_json_object_begin(&w);
	rv_json_key(&w, "servers");
	rv_json_array_begin(&w);
	for (i = 0; i < cfg->server_count; i++) {
		const struct rv_server *s = &cfg->servers[i];
		size_t n = 0;

		rv_json_object_begin(&w);
		rv_json_kv_string(&w, "name", s->name);
		rv_json_key(&w, "addresses");
		rv_json_array_begin(&w);
		addrs[0] = '\0';
		for (j = 0; j < s->address_count; j++) {
			rv_addr_format(&s->addresses[j], text, sizeof(text));
			rv_json_string(&w, text);
			n += (size_t)snprintf(addrs + n, sizeof(addrs) - n,
			    "%s%s", j ? "," : "", text);
			if (n >= sizeof(addrs))
				n = sizeof(addrs) - 1;
		}
		rv_json_array_end(&w);
		rv_json_key(&w, "ports");
		rv_json_array_begin(&w);
		n = 0;
		ports[0] = '\0';
		for (j = 0; j < s->port_count; j++) {
			rv_json_uint(&w, s->ports[j]);
			n += (size_t)snprintf(ports + n, sizeof(ports) - n,
			    "%s%u", j ? "," : "", s->ports[j]);
			if (n >= sizeof(ports))
				n = sizeof(ports) - 1;
		}
		rv_json_array_end(&w);
		rv_json_kv_string(&w, "backup", cfg->backups[s->backup].name);
		rv_json_kv_uint(&w, "connections", flows[i]);
		rv_json_kv_bool(&w, "host_key", s->has_host_key);
		rv_json_kv_uint(&w, "checkpoints_filed", hb[i].filed);
		rv_json_key(&w, "heartbeat");
		rv_json_object_begin(&w);
		rv_json_kv_bool(&w, "seen", hb[i].hb_seen);
		rv_json_kv_uint(&w, "age_ns", hb[i].hb_seen ?
		    now_ns - hb[i].hb_last_ns : 0);
		rv_json_kv_bool(&w, "stale", !hb[i].hb_seen ||
		    now_ns - hb[i].hb_last_ns > timeout_ns);
		rv_json_kv_uint(&w, "sequence", hb[i].sequence);
		rv_json_kv_uint(&w, "boot_id", hb[i].boot_id);
		rv_json_kv_uint(&w, "connections", hb[i].connections);
		rv_json_kv_uint(&w, "accepted", hb[i].heartbeats);
		rv_json_object_end(&w);
		server_health_json(d, i, now_ns, &w);
		rv_json_object_end(&w);
		rv_table_cell(t, "%s", s->name);
		rv_table_cell(t, "%s", d->health != NULL ?
		    rv_server_state_name(d->health[i].state) : "-");
		rv_table_cell(t, "%s", addrs);
		rv_table_cell(t, "%s", ports);
		rv_table_cell(t, "%s", cfg->backups[s->backup].name);
		rv_table_cell(t, "%u", flows[i]);
		rv_table_cell(t, "%s", s->has_host_key ? "yes" : "no");
		if (hb[i].hb_seen)
			snprintf(age, sizeof(age), "%" PRIu64 " ms%s",
			    (now_ns - hb[i].hb_last_ns) / 1000000,
			    now_ns - hb[i].hb_last_ns > timeout_ns ?
			    " (stale)" : "");
		else
			snprintf(age, sizeof(age), "never");
		rv_table_cell(t, "%s", age);
		rv_table_cell(t, "%" PRIu64, hb[i].sequence);
		rv_table_cell(t, "%u", hb[i].connections);
		rv_table_cell(t, "%s", d->health != NULL ?
		    d->health[i].evidence : "-");
	}
	rv_json_array_end(&w);
	rv_json_object_end(&w);
	rc = req->json ? rv_ctl_reply_json(reply, &w) :
	    rv_ctl_reply_table(reply, t);
	rv_table_free(t);
	rv_json_free(&w);
	return rc;
}

void
rv_stats_log(struct rv_daemon *d)
{
	struct stats_snapshot s;

	take_snapshot(d, &s);
	rv_info("stats: capture rx %" PRIu64 " dropped %" PRIu64 ", tcp "
	    "monitored %" PRIu64 ", connections %u, log %" PRIu64 "/%" PRIu64
	    " bytes, gaps %" PRIu64 ", truncated %" PRIu64 ", table full %"
	    PRIu64, s.ports[0].eth.ipackets, port_drops(&s.ports[0]),
	    s.capture.tcp_monitored, s.flows, s.log_used, s.log_cap,
	    s.tracking.gaps, s.tracking.truncated_frames, s.table_full);
}

static struct rv_daemon *telemetry_daemon;

static int
telemetry_stats(const char *cmd, const char *params,
    struct rte_tel_data *data)
{
	struct stats_snapshot s;
	int i;

	take_snapshot(telemetry_daemon, &s);
	rte_tel_data_start_dict(data);
	for (i = 0; i < 2; i++) {
		char key[64];

		snprintf(key, sizeof(key), "%s_rx_packets", s.ports[i].role);
		rte_tel_data_add_dict_u64(data, key, s.ports[i].eth.ipackets);
		snprintf(key, sizeof(key), "%s_rx_dropped", s.ports[i].role);
		rte_tel_data_add_dict_u64(data, key, port_drops(&s.ports[i]));
	}
	rte_tel_data_add_dict_u64(data, "frames", s.capture.frames);
	rte_tel_data_add_dict_u64(data, "tcp_monitored",
	    s.capture.tcp_monitored);
	rte_tel_data_add_dict_u64(data, "tcp_not_monitored",
	    s.capture.tcp_other);
	rte_tel_data_add_dict_u64(data, "truncated_frames",
	    s.tracking.truncated_frames);
	for (i = 1; i < RV_PKT_ERR__COUNT; i++) {
		char key[64];

		snprintf(key, sizeof(key), "malformed_%s",
		    rv_pkt_err_name(-i));
		rte_tel_data_add_dict_u64(data, key,
		    s.capture.parse_errors[i]);
	}
	rte_tel_data_add_dict_u64(data, "connections", s.flows);
	rte_tel_data_add_dict_u64(data, "table_full", s.table_full);
	rte_tel_data_add_dict_u64(data, "capture_gaps", s.tracking.gaps);
	rte_tel_data_add_dict_u64(data, "conflicts", s.tracking.conflicts);
	rte_tel_data_add_dict_u64(data, "bytes_logged",
	    s.tracking.bytes_logged);
	rte_tel_data_add_dict_u64(data, "log_used", s.log_used);
	rte_tel_data_add_dict_u64(data, "log_cap", s.log_cap);
	rte_tel_data_add_dict_u64(data, "checkpoints_received",
	    s.ckpt.messages);
	rte_tel_data_add_dict_u64(data, "checkpoints_filed", s.ckpt.filed);
	rte_tel_data_add_dict_u64(data, "heartbeats", s.ckpt.heartbeats);
	rte_tel_data_add_dict_u64(data, "checkpoint_reassembly_timeouts",
	    s.ckpt.reassembly_timeouts);
	rte_tel_data_add_dict_u64(data, "checkpoint_memory_used",
	    s.ckpt_used);
	for (i = 1; i < RV_CKPT_REJ__COUNT; i++) {
		char key[64];

		snprintf(key, sizeof(key), "checkpoints_rejected_%s",
		    rv_ckpt_reject_name(i));
		rte_tel_data_add_dict_u64(data, key, s.ckpt.rejected[i]);
	}
	return 0;
}

int
rv_stats_register(struct rv_daemon *d)
{
	int rc = 0;

	rc |= rv_ctl_server_register(d->ctl, "stats",
	    "stats            ports, capture counters, connections, memory",
	    cmd_stats, d);
	rc |= rv_ctl_server_register(d->ctl, "servers",
	    "servers          monitored servers and their connections",
	    cmd_servers, d);
	telemetry_daemon = d;
	if (rte_telemetry_register_cmd("/revenant/stats", telemetry_stats,
	    "revenantd counters: ports, capture, connections, memory") != 0)
		rv_warn("telemetry: cannot register /revenant/stats");
	return rc;
}
