/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_ethdev.h>

#include "daemon.h"
#include "detect.h"
#include "inject.h"
#include "log.h"
#include "migrate.h"

#define MS	((uint64_t)1000000)

/* A conflict after a takeover is logged at most this often. */
#define CONFLICT_LOG_NS		(10000 * MS)

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

static bool
has_ipv4(const struct rv_server *srv)
{
	size_t a;

	for (a = 0; a < srv->address_count; a++)
		if (srv->addresses[a].family == 4)
			return true;
	return false;
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
		if (!cfg->detection.enabled)
			continue;
		if (srv->fence == NULL)
			rv_warn("server %s: no fence configured, so a failure "
			    "is reported but never taken over; add 'fence: "
			    "COMMAND' (or 'fence: none')", srv->name);
		else if (strcmp(srv->fence, "none") == 0)
			rv_warn("server %s: 'fence: none': a takeover will not "
			    "wait for the server to be powered off or isolated",
			    srv->name);
		if (!has_ipv4(srv))
			rv_warn("server %s: no IPv4 address to probe with ARP; "
			    "its failure is not detected", srv->name);
	}
	if (!cfg->detection.enabled)
		rv_info("detection: disabled; servers move only with "
		    "'revenantctl migrate'");
	return 0;
}

void
rv_detect_fini(struct rv_daemon *d)
{
	free(d->health);
	d->health = NULL;
}

static void
send_probes(struct rv_daemon *d, size_t i, uint64_t now_ns)
{
	const struct rv_server *srv = &d->config->servers[i];
	uint8_t frame[RV_INJECT_FRAME_MAX];
	size_t a;
	int len;

	for (a = 0; a < srv->address_count; a++) {
		if (srv->addresses[a].family != 4)
			continue;
		len = rv_inject_arp_probe(frame, sizeof(frame),
		    d->inject_port.mac, &srv->addresses[a]);
		(void)rv_port_inject(d, frame, len);
	}
	d->health[i].probe_ns = now_ns;
}

/* True if the server showed life since the previous probe left. */
static bool
answered(struct rv_daemon *d, size_t i, uint64_t since_ns)
{
	const struct rv_server_seen *seen = &d->capture.seen[i];

	return seen->arp_ns >= since_ns || seen->frame_ns >= since_ns;
}

/* True if the mirror carried our own previous probe back to us. */
static bool
mirror_works(struct rv_daemon *d, size_t i, uint64_t since_ns)
{
	return d->capture.seen[i].own_probe_ns >= since_ns &&
	    d->capture_port.kernel_drops == d->drops_at_last_probe;
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
 * a primary that comes back and replies for the address is reported, and
 * the backup is announced again. */
static void
watch_conflict(struct rv_daemon *d, size_t i, uint64_t now_ns)
{
	struct rv_server_health *h = &d->health[i];
	const struct rv_server_seen *seen = &d->capture.seen[i];
	const uint8_t *mac = d->config->backups[h->migration->backup].mac.bytes;
	uint64_t backup = 0;
	int k;

	for (k = 0; k < 6; k++)
		backup = backup << 8 | mac[k];
	if (seen->arp_ns < h->since_ns || seen->arp_ns <= h->answered_ns ||
	    seen->arp_mac == backup)
		return;
	h->answered_ns = seen->arp_ns;
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
	    d->config->servers[i].name, seen->arp_mac, h->conflicts);
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

static void
judge(struct rv_daemon *d, size_t i, uint64_t now_ns)
{
	const struct rv_detection_config *dc = &d->config->detection;
	struct rv_server_health *h = &d->health[i];
	uint64_t since = h->probe_ns;

	if (since == 0)
		return;
	if (answered(d, i, since)) {
		h->misses = 0;
		h->answered_ns = now_ns;
		transition(d, i, RV_SERVER_HEALTHY, now_ns, "answered");
		return;
	}
	if (!mirror_works(d, i, since)) {
		/* Our own probe did not come back, or the capture dropped
		 * frames, so the silence is no evidence against the server. */
		h->misses = 0;
		snprintf(h->evidence, sizeof(h->evidence), "mirror silent or "
		    "lossy; not judging");
		return;
	}
	h->misses++;
	if (h->misses < dc->probe_misses) {
		transition(d, i, RV_SERVER_SUSPECT, now_ns, "%u of %u probes "
		    "unanswered, last answer %" PRIu64 " ms ago", h->misses,
		    dc->probe_misses, h->answered_ns != 0 ?
		    (now_ns - h->answered_ns) / MS : 0);
		return;
	}
	transition(d, i, RV_SERVER_FAILED, now_ns, "%u probes unanswered in "
	    "a row while the mirror worked, last answer %" PRIu64 " ms ago, "
	    "%u clients waiting over %u ms", h->misses, h->answered_ns != 0 ?
	    (now_ns - h->answered_ns) / MS : 0, clients_waiting(d, i, now_ns),
	    dc->passive_window_ms);
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
