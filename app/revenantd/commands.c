/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control commands of revenantd: stats, flows, flow ID, dump ID and
 * servers. Each copies what it needs out of the flow table under its lock,
 * then formats outside it, so the capture lcore waits as little as
 * possible.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_ethdev.h>

#include "daemon.h"
#include "flow_dump.h"
#include "migrate.h"
#include "json_writer.h"
#include "log.h"
#include "text_table.h"

/* One line of "flows", copied under the lock. */
struct flow_row {
	uint64_t id;
	struct rv_flow_key key;
	uint16_t server;
	uint8_t state;
	uint32_t unrec;
	bool recoverable;		/* rv_flow_recoverable() */
	char why[160];
	uint64_t ckpt_number;		/* newest filed checkpoint; 0: none */
	uint64_t ckpt_age_ns;
	uint8_t ckpt_count;
	uint64_t bytes[2];		/* payload bytes seen, retransmissions in */
	uint64_t logged[2];		/* bytes in [base, contig_end) */
	uint64_t mem;
	uint64_t age_ns;
};

struct row_list {
	struct flow_row *rows;
	size_t n;
	size_t cap;
	uint64_t now_ns;
};

static void
key_endpoints(const struct rv_flow_key *key, char *client, char *server,
    size_t len)
{
	struct rv_endpoint ep;

	memset(&ep, 0, sizeof(ep));
	ep.addr.family = key->family;
	memcpy(ep.addr.bytes, key->client, 16);
	ep.port = key->client_port;
	rv_endpoint_format(&ep, client, len);
	memcpy(ep.addr.bytes, key->server, 16);
	ep.port = key->server_port;
	rv_endpoint_format(&ep, server, len);
}

static int
collect_row(struct rv_flow *flow, void *arg)
{
	struct row_list *list = arg;
	const struct rv_ckpt *newest;
	struct flow_row *r;
	int dir;

	if (list->n == list->cap)
		return 1;
	r = &list->rows[list->n++];
	r->id = flow->id;
	r->key = flow->key;
	r->server = flow->server;
	r->state = flow->state;
	r->unrec = flow->unrec;
	r->recoverable = rv_flow_recoverable(flow, r->why, sizeof(r->why));
	newest = rv_ckpt_list_newest(&flow->ckpts);
	if (newest != NULL) {
		r->ckpt_number = newest->number;
		r->ckpt_age_ns = list->now_ns - newest->filed_ns;
	}
	r->ckpt_count = flow->ckpts.count;
	for (dir = 0; dir < 2; dir++) {
		r->bytes[dir] = flow->dir[dir].payload_bytes;
		r->logged[dir] = rv_stream_log_len(&flow->dir[dir].log);
	}
	r->mem = rv_flow_log_mem(flow);
	r->age_ns = list->now_ns - flow->first_ns;
	return 0;
}

static int
compare_rows(const void *a, const void *b)
{
	const struct flow_row *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static int
collect_rows(struct rv_daemon *d, struct row_list *list)
{
	memset(list, 0, sizeof(*list));
	rte_spinlock_lock(&d->table->lock);
	list->cap = d->table->count;
	list->rows = calloc(list->cap + 1, sizeof(*list->rows));
	if (list->rows == NULL) {
		rte_spinlock_unlock(&d->table->lock);
		return -ENOMEM;
	}
	list->now_ns = rv_capture_now_ns();
	rv_flow_table_walk(d->table, collect_row, list);
	rte_spinlock_unlock(&d->table->lock);
	qsort(list->rows, list->n, sizeof(*list->rows), compare_rows);
	return 0;
}

/* "yes", or "no: <reason>" when no checkpoint and log can resume the
 * connection. */
static const char *
recoverable_text(const struct flow_row *r, char *buf, size_t len)
{
	if (r->state == RV_FLOW_CLOSED || r->state == RV_FLOW_RST)
		snprintf(buf, len, "no: connection %s",
		    rv_flow_state_name(r->state));
	else if (!r->recoverable)
		snprintf(buf, len, "no: %s", r->why);
	else
		snprintf(buf, len, "yes");
	return buf;
}

static void
flows_json(struct rv_daemon *d, const struct row_list *list,
    struct rv_json *w)
{
	char client[RV_ENDPOINT_STRLEN], server[RV_ENDPOINT_STRLEN];
	char why[192];
	size_t i;

	rv_json_object_begin(w);
	rv_json_key(w, "flows");
	rv_json_array_begin(w);
	for (i = 0; i < list->n; i++) {
		const struct flow_row *r = &list->rows[i];

		key_endpoints(&r->key, client, server, sizeof(client));
		rv_json_object_begin(w);
		rv_json_kv_uint(w, "id", r->id);
		rv_json_kv_string(w, "client", client);
		rv_json_kv_string(w, "server", server);
		rv_json_kv_string(w, "server_name",
		    d->config->servers[r->server].name);
		rv_json_kv_string(w, "state", rv_flow_state_name(r->state));
		rv_json_kv_uint(w, "bytes_c2s", r->bytes[RV_DIR_C2S]);
		rv_json_kv_uint(w, "bytes_s2c", r->bytes[RV_DIR_S2C]);
		rv_json_kv_uint(w, "logged_c2s", r->logged[RV_DIR_C2S]);
		rv_json_kv_uint(w, "logged_s2c", r->logged[RV_DIR_S2C]);
		rv_json_kv_uint(w, "log_memory", r->mem);
		rv_json_kv_uint(w, "age_ns", r->age_ns);
		rv_json_kv_uint(w, "checkpoints", r->ckpt_count);
		rv_json_kv_uint(w, "checkpoint_number", r->ckpt_number);
		rv_json_kv_uint(w, "checkpoint_age_ns", r->ckpt_age_ns);
		recoverable_text(r, why, sizeof(why));
		rv_json_kv_bool(w, "recoverable", strcmp(why, "yes") == 0);
		rv_json_kv_string(w, "unrecoverable_reason",
		    strcmp(why, "yes") == 0 ? "" : why + 4);
		rv_json_object_end(w);
	}
	rv_json_array_end(w);
	rv_json_object_end(w);
}

static int
flows_table(const struct row_list *list, struct rv_ctl_reply *reply)
{
	char client[RV_ENDPOINT_STRLEN], server[RV_ENDPOINT_STRLEN];
	char a[32], b[32], c[32], why[192];
	struct rv_table *t = rv_table_new();
	size_t i;
	int rc;

	if (t == NULL)
		return -ENOMEM;
	rv_table_add_column(t, "ID", RV_TABLE_RIGHT);
	rv_table_add_column(t, "CLIENT", RV_TABLE_LEFT);
	rv_table_add_column(t, "SERVER", RV_TABLE_LEFT);
	rv_table_add_column(t, "STATE", RV_TABLE_LEFT);
	rv_table_add_column(t, "C>S", RV_TABLE_RIGHT);
	rv_table_add_column(t, "S>C", RV_TABLE_RIGHT);
	rv_table_add_column(t, "LOGGED", RV_TABLE_RIGHT);
	rv_table_add_column(t, "CKPT", RV_TABLE_RIGHT);
	rv_table_add_column(t, "CKPT AGE", RV_TABLE_RIGHT);
	rv_table_add_column(t, "RECOVERABLE", RV_TABLE_LEFT);
	for (i = 0; i < list->n; i++) {
		const struct flow_row *r = &list->rows[i];

		key_endpoints(&r->key, client, server, sizeof(client));
		rv_table_cell(t, "%" PRIu64, r->id);
		rv_table_cell(t, "%s", client);
		rv_table_cell(t, "%s", server);
		rv_table_cell(t, "%s", rv_flow_state_name(r->state));
		rv_table_cell(t, "%s", rv_table_fmt_bytes(r->bytes[0], a,
		    sizeof(a)));
		rv_table_cell(t, "%s", rv_table_fmt_bytes(r->bytes[1], b,
		    sizeof(b)));
		rv_table_cell(t, "%s", rv_table_fmt_bytes(r->logged[0] +
		    r->logged[1], c, sizeof(c)));
		if (r->ckpt_number == 0) {
			rv_table_cell(t, "-");
			rv_table_cell(t, "-");
		} else {
			rv_table_cell(t, "%" PRIu64, r->ckpt_number);
			rv_table_cell(t, "%" PRIu64 " ms",
			    r->ckpt_age_ns / 1000000);
		}
		rv_table_cell(t, "%s", recoverable_text(r, why, sizeof(why)));
	}
	rc = rv_ctl_reply_table(reply, t);
	rv_table_free(t);
	return rc;
}

static int
cmd_flows(const struct rv_ctl_request *req, struct rv_ctl_reply *reply,
    void *arg)
{
	struct rv_daemon *d = arg;
	struct row_list list;
	struct rv_json w;
	int rc;

	if (req->argc != 1)
		return rv_ctl_reply_error(reply, 2, "usage: flows [--json]");
	rc = collect_rows(d, &list);
	if (rc != 0)
		return rc;
	if (req->json) {
		rv_json_init(&w);
		flows_json(d, &list, &w);
		rc = rv_ctl_reply_json(reply, &w);
		rv_json_free(&w);
	} else if (list.n == 0) {
		rc = rv_ctl_reply_printf(reply, "no connections tracked\n");
	} else {
		rc = flows_table(&list, reply);
	}
	free(list.rows);
	return rc;
}

static int
parse_id(const char *text, uint64_t *id)
{
	char *end;

	errno = 0;
	*id = strtoull(text, &end, 10);
	return errno != 0 || end == text || *end != '\0' || *id == 0 ? -1 : 0;
}

static void
flow_dir_json(struct rv_json *w, const char *name,
    const struct rv_flow_dir *fd, uint64_t now_ns)
{
	const struct rv_stream_log *log = &fd->log;

	rv_json_key(w, name);
	rv_json_object_begin(w);
	rv_json_kv_bool(w, "syn_seen", fd->syn.seen);
	if (fd->syn.seen) {
		rv_json_kv_int(w, "mss", fd->syn.has_mss ? fd->syn.mss : -1);
		rv_json_kv_int(w, "window_scale", fd->syn.has_wscale ?
		    fd->syn.wscale : -1);
		rv_json_kv_bool(w, "sack_permitted", fd->syn.sack_ok);
		rv_json_kv_bool(w, "timestamps", fd->syn.ts_ok);
	}
	rv_json_kv_bool(w, "isn_known", fd->isn_known);
	rv_json_kv_uint(w, "isn", fd->isn);
	rv_json_kv_uint(w, "next_seq", fd->snd_nxt);
	rv_json_kv_bool(w, "ack_seen", fd->ack_seen);
	rv_json_kv_uint(w, "ack", fd->ack);
	rv_json_kv_uint(w, "window", fd->window);
	rv_json_kv_uint(w, "window_raw", fd->window_raw);
	rv_json_kv_bool(w, "ts_seen", fd->ts_seen);
	rv_json_kv_uint(w, "tsval", fd->tsval);
	rv_json_kv_uint(w, "tsecr", fd->tsecr);
	rv_json_kv_uint(w, "tsval_age_ns", fd->ts_seen ? now_ns - fd->ts_ns :
	    0);
	rv_json_kv_bool(w, "fin_seen", fd->fin_seen);
	rv_json_kv_uint(w, "packets", fd->pkts);
	rv_json_kv_uint(w, "payload_bytes", fd->payload_bytes);
	rv_json_kv_uint(w, "duplicate_bytes", fd->dup_bytes);
	rv_json_kv_uint(w, "conflict_bytes", fd->conflict_bytes);
	rv_json_kv_uint(w, "log_base", log->base);
	rv_json_kv_uint(w, "log_end", log->contig_end);
	rv_json_kv_uint(w, "log_high_end", log->high_end);
	rv_json_kv_uint(w, "log_ranges_above_hole", log->n_ranges);
	rv_json_kv_uint(w, "log_gaps", log->n_gaps);
	rv_json_kv_uint(w, "log_memory", rv_stream_log_mem(log));
	rv_json_kv_uint(w, "keep_from", fd->keep_from);
	rv_json_kv_uint(w, "damage_end", fd->damage_end);
	rv_json_object_end(w);
}

/* The filed checkpoints of a flow, oldest first. */
static void
flow_ckpts_json(struct rv_json *w, const struct rv_flow *flow,
    uint64_t now_ns)
{
	const struct rv_ckpt *c;
	int base = rv_flow_ckpt_base(flow);
	unsigned int i;

	rv_json_key(w, "checkpoints");
	rv_json_array_begin(w);
	for (i = 0; i < flow->ckpts.count; i++) {
		c = flow->ckpts.items[i];
		rv_json_object_begin(w);
		rv_json_kv_uint(w, "number", c->number);
		rv_json_kv_uint(w, "c2s_offset", c->c2s_offset);
		rv_json_kv_uint(w, "s2c_offset", c->s2c_offset);
		rv_json_kv_bool(w, "after_newkeys",
		    (c->flags & RV_CKPT_FLAG_AFTER_NEWKEYS) != 0);
		rv_json_kv_bool(w, "resume_base", (int)i == base);
		rv_json_kv_uint(w, "age_ns", now_ns - c->filed_ns);
		rv_json_kv_uint(w, "size", c->len);
		rv_json_object_end(w);
	}
	rv_json_array_end(w);
}

static void
flow_json(struct rv_daemon *d, const struct rv_flow *flow,
    struct rv_json *w)
{
	char client[RV_ENDPOINT_STRLEN], server[RV_ENDPOINT_STRLEN];
	char why[192];
	uint64_t now_ns = rv_capture_now_ns();
	uint32_t bit;
	bool ok;

	key_endpoints(&flow->key, client, server, sizeof(client));
	rv_json_object_begin(w);
	rv_json_kv_uint(w, "id", flow->id);
	rv_json_kv_string(w, "client", client);
	rv_json_kv_string(w, "server", server);
	rv_json_kv_string(w, "server_name", d->config->servers[flow->server].name);
	rv_json_kv_string(w, "state", rv_flow_state_name(flow->state));
	rv_json_kv_uint(w, "age_ns", now_ns - flow->first_ns);
	rv_json_kv_uint(w, "idle_ns", now_ns - flow->last_ns);
	ok = rv_flow_recoverable(flow, why, sizeof(why));
	if (flow->state == RV_FLOW_CLOSED || flow->state == RV_FLOW_RST) {
		ok = false;
		snprintf(why, sizeof(why), "connection %s",
		    rv_flow_state_name(flow->state));
	}
	rv_json_kv_bool(w, "recoverable", ok);
	rv_json_kv_string(w, "unrecoverable_reason", ok ? "" : why);
	rv_json_key(w, "unrecoverable");
	rv_json_array_begin(w);
	for (bit = 0; bit < RV_UNREC_COUNT; bit++)
		if (flow->unrec & (1u << bit))
			rv_json_string(w, rv_flow_unrec_name(bit));
	rv_json_array_end(w);
	rv_flow_unrec_describe(flow, why, sizeof(why));
	rv_json_kv_string(w, "unrecoverable_detail", why);
	rv_json_kv_uint(w, "truncated_frames", flow->truncated_frames);
	flow_dir_json(w, "client_to_server", &flow->dir[RV_DIR_C2S], now_ns);
	flow_dir_json(w, "server_to_client", &flow->dir[RV_DIR_S2C], now_ns);
	flow_ckpts_json(w, flow, now_ns);
	rv_json_object_end(w);
}

/* Returns the end of the JSON scalar or array that starts at p. */
static const char *
json_skip_value(const char *p)
{
	int depth = 0, in_string = 0;

	for (; *p != '\0'; p++) {
		if (in_string) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == '"')
				in_string = 0;
		} else if (*p == '"') {
			in_string = 1;
		} else if (*p == '[' || *p == '{') {
			depth++;
		} else if (*p == ']' || *p == '}') {
			if (depth == 0)
				break;
			depth--;
		} else if (*p == ',' && depth == 0) {
			break;
		}
	}
	return p;
}

/*
 * Prints the JSON object at *p as one "key value" line per scalar or
 * array, nested keys joined with dots under prefix. The input is what
 * json_writer.c produced: no whitespace, keys without escapes.
 */
static int
json_print_object(const char **p, const char *prefix,
    struct rv_ctl_reply *reply)
{
	char key[256];
	const char *q = *p + 1, *end;
	int rc = 0;

	while (rc == 0 && *q == '"') {
		end = strchr(q + 1, '"');
		if (end == NULL || end[1] != ':')
			return -EINVAL;
		snprintf(key, sizeof(key), "%s%s%.*s", prefix,
		    prefix[0] != '\0' ? "." : "", (int)(end - q - 1), q + 1);
		q = end + 2;
		if (*q == '{') {
			rc = json_print_object(&q, key, reply);
		} else {
			end = json_skip_value(q);
			rc = rv_ctl_reply_printf(reply, "%-40s %.*s\n", key,
			    (int)(end - q), q);
			q = end;
		}
		if (*q == ',')
			q++;
	}
	if (rc == 0 && *q != '}')
		return -EINVAL;
	*p = q + 1;
	return rc;
}

static int
json_to_lines(const char *json, struct rv_ctl_reply *reply)
{
	if (*json != '{')
		return -EINVAL;
	return json_print_object(&json, "", reply);
}

static int
cmd_flow(const struct rv_ctl_request *req, struct rv_ctl_reply *reply,
    void *arg)
{
	struct rv_daemon *d = arg;
	struct rv_flow *flow;
	struct rv_json w;
	uint64_t id;
	int rc;

	if (req->argc != 2 || parse_id(req->argv[1], &id) != 0)
		return rv_ctl_reply_error(reply, 2,
		    "usage: flow ID (a flow id from 'revenantctl flows')");
	rv_json_init(&w);
	rte_spinlock_lock(&d->table->lock);
	flow = rv_flow_table_find_id(d->table, id);
	if (flow != NULL)
		flow_json(d, flow, &w);
	rte_spinlock_unlock(&d->table->lock);
	if (flow == NULL) {
		rv_json_free(&w);
		return rv_ctl_reply_error(reply, 1, "flow %" PRIu64 " not "
		    "found; run 'revenantctl flows' for the current ids", id);
	}
	if (req->json) {
		rc = rv_ctl_reply_json(reply, &w);
	} else {
		rc = rv_json_finish(&w);
		if (rc == 0)
			rc = json_to_lines(rv_json_data(&w), reply);
	}
	rv_json_free(&w);
	return rc;
}

static int
cmd_dump(const struct rv_ctl_request *req, struct rv_ctl_reply *reply,
    void *arg)
{
	struct rv_daemon *d = arg;
	uint64_t id;
	int fd, rc;

	if (req->argc != 2 || parse_id(req->argv[1], &id) != 0)
		return rv_ctl_reply_error(reply, 2, "usage: dump ID -o "
		    "FILE.pcapng");
	if (req->fd < 0)
		return rv_ctl_reply_error(reply, 2, "dump: no output file "
		    "came with the request; use 'revenantctl dump ID -o "
		    "FILE.pcapng'");
	/* rte_pcapng_close() closes the descriptor it writes to, and the
	 * control server closes the request's own after this handler. */
	fd = dup(req->fd);
	if (fd < 0)
		return -errno;
	rc = rv_flow_dump_pcapng(d->table, id, fd, d->capture_port.id,
	    d->dump_mbufs);
	if (rc == -ENOENT || rc == -ENOMEM)
		close(fd);
	if (rc == -ENOENT)
		return rv_ctl_reply_error(reply, 1, "flow %" PRIu64 " not "
		    "found; run 'revenantctl flows' for the current ids", id);
	if (rc < 0) {
		rv_err("flow %" PRIu64 ": dump failed: %s", id,
		    strerror(-rc));
		return rv_ctl_reply_error(reply, 1, "dump of flow %" PRIu64
		    " failed: %s", id, strerror(-rc));
	}
	if (req->json)
		return rv_ctl_reply_printf(reply, "{\"flow\":%" PRIu64
		    ",\"segments\":%d}\n", id, rc);
	return rv_ctl_reply_printf(reply, "flow %" PRIu64 ": wrote %d "
	    "segments\n", id, rc);
}

static int
find_name(const char *name, size_t count, const void *items, size_t size,
    size_t name_offset)
{
	size_t i;

	for (i = 0; i < count; i++) {
		const char *item = *(char *const *)((const char *)items +
		    i * size + name_offset);

		if (strcmp(item, name) == 0)
			return (int)i;
	}
	return -1;
}

static int
cmd_migrate(const struct rv_ctl_request *req, struct rv_ctl_reply *reply,
    void *arg)
{
	struct rv_daemon *d = arg;
	const struct rv_config *cfg = d->config;
	struct rv_migration *m;
	char why[256];
	int server, backup;
	size_t i;

	if (req->argc != 2 && !(req->argc == 4 &&
	    strcmp(req->argv[2], "--to") == 0))
		return rv_ctl_reply_error(reply, 2, "usage: migrate SERVER "
		    "[--to BACKUP]");
	server = find_name(req->argv[1], cfg->server_count, cfg->servers,
	    sizeof(cfg->servers[0]), offsetof(struct rv_server, name));
	if (server < 0)
		return rv_ctl_reply_error(reply, 1, "server '%.64s' not found; "
		    "run 'revenantctl servers' for the configured names",
		    req->argv[1]);
	backup = (int)cfg->servers[server].backup;
	if (req->argc == 4) {
		backup = find_name(req->argv[3], cfg->backup_count,
		    cfg->backups, sizeof(cfg->backups[0]),
		    offsetof(struct rv_backup, name));
		if (backup < 0)
			return rv_ctl_reply_error(reply, 1, "backup '%.64s' not "
			    "found in the configuration", req->argv[3]);
	}
	for (i = 0; i < d->n_migrations; i++) {
		if (d->migrations[i]->server == (size_t)server &&
		    d->migrations[i]->state < RV_MIGRATE_DONE)
			return rv_ctl_reply_error(reply, 1, "server %s is "
			    "already migrating (migration %" PRIu64 ")",
			    cfg->servers[server].name, d->migrations[i]->id);
	}
	if (d->n_migrations == RV_DAEMON_MAX_MIGRATIONS)
		return rv_ctl_reply_error(reply, 1, "too many migrations since "
		    "start-up (%d); restart revenantd", RV_DAEMON_MAX_MIGRATIONS);
	m = rv_migrate_start(d, (size_t)server, (size_t)backup, why,
	    sizeof(why));
	if (m == NULL)
		return rv_ctl_reply_error(reply, 1, "cannot migrate server %s: "
		    "%s", cfg->servers[server].name, why);
	d->migrations[d->n_migrations++] = m;
	if (req->json)
		return rv_ctl_reply_printf(reply, "{\"migration\":%" PRIu64
		    "}\n", m->id);
	return rv_ctl_reply_printf(reply, "migration %" PRIu64 ": moving "
	    "server %s to backup %s\n", m->id, cfg->servers[server].name,
	    cfg->backups[backup].name);
}

static void
add_line(const char *line, void *arg)
{
	struct rv_json *w = arg;

	rv_json_string(w, line);
}

static int
cmd_migration(const struct rv_ctl_request *req, struct rv_ctl_reply *reply,
    void *arg)
{
	struct rv_daemon *d = arg;
	struct rv_migration *m = NULL;
	enum rv_migrate_state state;
	struct rv_json w;
	uint64_t id, from = 0;
	size_t i, next;
	int rc;

	if ((req->argc != 2 && req->argc != 3) ||
	    parse_id(req->argv[1], &id) != 0 ||
	    (req->argc == 3 && strcmp(req->argv[2], "0") != 0 &&
	    parse_id(req->argv[2], &from) != 0))
		return rv_ctl_reply_error(reply, 2, "usage: migration ID "
		    "[FROM_LINE]");
	for (i = 0; i < d->n_migrations; i++)
		if (d->migrations[i]->id == id)
			m = d->migrations[i];
	if (m == NULL)
		return rv_ctl_reply_error(reply, 1, "migration %" PRIu64 " not "
		    "found", id);
	rv_json_init(&w);
	rv_json_object_begin(&w);
	rv_json_kv_uint(&w, "id", m->id);
	rv_json_key(&w, "lines");
	rv_json_array_begin(&w);
	state = rv_migrate_progress(m, (size_t)from, add_line, &w, &next);
	rv_json_array_end(&w);
	rv_json_kv_uint(&w, "next", next);
	rv_json_kv_string(&w, "state", rv_migrate_state_name(state));
	pthread_mutex_lock(&m->lock);
	rv_json_kv_uint(&w, "moved", m->moved);
	rv_json_kv_uint(&w, "not_recoverable", m->not_recoverable);
	rv_json_kv_uint(&w, "failed", m->failed);
	rv_json_kv_uint(&w, "elapsed_ns", (m->finished_ns != 0 ?
	    m->finished_ns : m->started_ns) - m->started_ns);
	pthread_mutex_unlock(&m->lock);
	rv_json_object_end(&w);
	rc = rv_ctl_reply_json(reply, &w);
	rv_json_free(&w);
	return rc;
}

int
rv_commands_register(struct rv_daemon *d)
{
	int rc = 0;

	rc |= rv_ctl_server_register(d->ctl, "flows",
	    "flows            one line per tracked connection", cmd_flows, d);
	rc |= rv_ctl_server_register(d->ctl, "flow",
	    "flow ID          all state of one connection", cmd_flow, d);
	rc |= rv_ctl_server_register(d->ctl, "dump",
	    "dump ID -o FILE  write a connection's logged streams as pcapng",
	    cmd_dump, d);
	rc |= rv_ctl_server_register(d->ctl, "migrate",
	    "migrate SERVER [--to BACKUP]  move a server's connections",
	    cmd_migrate, d);
	rc |= rv_ctl_server_register(d->ctl, "migration",
	    "migration ID     progress of a migration (JSON)", cmd_migration,
	    d);
	return rc;
}
