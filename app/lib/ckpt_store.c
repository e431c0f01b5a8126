/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt_store.h"

static const char *const reject_names[RV_CKPT_REJ__COUNT] = {
	[RV_CKPT_REJ_TRUNCATED] = "truncated",
	[RV_CKPT_REJ_MALFORMED] = "malformed",
	[RV_CKPT_REJ_UNKNOWN_SERVER] = "unknown_server",
	[RV_CKPT_REJ_NO_HOST_KEY] = "no_host_key",
	[RV_CKPT_REJ_FRAGMENT_MISMATCH] = "fragment_mismatch",
	[RV_CKPT_REJ_DUPLICATE_FRAGMENT] = "duplicate_fragment",
	[RV_CKPT_REJ_REASSEMBLY_FULL] = "reassembly_full",
	[RV_CKPT_REJ_MEMORY_CAP] = "memory_cap",
	[RV_CKPT_REJ_CONNECTION_MISMATCH] = "connection_mismatch",
	[RV_CKPT_REJ_BAD_SIGNATURE] = "bad_signature",
	[RV_CKPT_REJ_REPLAYED] = "replayed_or_older",
	[RV_CKPT_REJ_UNKNOWN_CONNECTION] = "unknown_connection",
};

const char *
rv_ckpt_reject_name(int reason)
{
	if (reason <= 0 || reason >= RV_CKPT_REJ__COUNT)
		return "unknown";
	return reject_names[reason];
}

static struct rv_ckpt *
pool_get(struct rv_ckpt_pool *pool, uint32_t len)
{
	size_t size = sizeof(struct rv_ckpt) + len;
	struct rv_ckpt *c;

	if (pool->used_bytes + size > pool->cap_bytes) {
		pool->cap_hits++;
		return NULL;
	}
	if ((c = calloc(1, size)) == NULL) {
		pool->cap_hits++;
		return NULL;
	}
	pool->used_bytes += size;
	c->pool = pool;
	c->len = len;
	return c;
}

static void
ckpt_free(struct rv_ckpt *c)
{
	if (c == NULL)
		return;
	c->pool->used_bytes -= sizeof(*c) + c->len;
	free(c);
}

int
rv_ckpt_store_init(struct rv_ckpt_store *store, size_t n_servers,
    uint64_t max_bytes, uint64_t reasm_timeout_ns)
{
	memset(store, 0, sizeof(*store));
	store->pool.cap_bytes = max_bytes;
	store->reasm_timeout_ns = reasm_timeout_ns;
	store->n_servers = n_servers;
	if (n_servers == 0)
		return 0;
	store->servers = calloc(n_servers, sizeof(*store->servers));
	return store->servers == NULL ? -ENOMEM : 0;
}

static void
slot_free(struct rv_ckpt_reasm *slot)
{
	ckpt_free(slot->ckpt);
	memset(slot, 0, sizeof(*slot));
}

void
rv_ckpt_store_fini(struct rv_ckpt_store *store)
{
	size_t i;

	for (i = 0; i < RV_CKPT_REASM_SLOTS; i++)
		slot_free(&store->slots[i]);
	free(store->servers);
	store->servers = NULL;
	store->n_servers = 0;
}

int
rv_ckpt_store_set_host_key(struct rv_ckpt_store *store, size_t server,
    const uint8_t pk[RV_CKPT_ED25519_PK_LEN])
{
	if (server >= store->n_servers)
		return -EINVAL;
	memcpy(store->servers[server].host_key, pk, RV_CKPT_ED25519_PK_LEN);
	store->servers[server].has_key = true;
	return 0;
}

/* Counts reason and returns it negated, for the input paths. */
static int
reject(struct rv_ckpt_store *store, int reason)
{
	store->counters.rejected[reason]++;
	return -reason;
}

void
rv_ckpt_store_reject(struct rv_ckpt_store *store, struct rv_ckpt *ckpt,
    int reason)
{
	if (reason > 0 && reason < RV_CKPT_REJ__COUNT)
		store->counters.rejected[reason]++;
	ckpt_free(ckpt);
}

/* Maps a wire decoding error to its rejection reason. */
static int
wire_reason(int rc)
{
	return rc == RV_CKPT_ERR_INCOMPLETE ? RV_CKPT_REJ_TRUNCATED :
	    RV_CKPT_REJ_MALFORMED;
}

static bool
same_conn(const struct rv_ckpt_conn *a, const struct rv_ckpt_conn *b)
{
	return a->family == b->family && a->server_port == b->server_port &&
	    a->client_port == b->client_port &&
	    memcmp(a->server, b->server, 16) == 0 &&
	    memcmp(a->client, b->client, 16) == 0;
}

void
rv_ckpt_store_expire(struct rv_ckpt_store *store, uint64_t now_ns)
{
	struct rv_ckpt_reasm *slot;
	size_t i;

	for (i = 0; i < RV_CKPT_REASM_SLOTS; i++) {
		slot = &store->slots[i];
		if (slot->ckpt == NULL ||
		    now_ns - slot->first_ns < store->reasm_timeout_ns)
			continue;
		store->counters.reassembly_timeouts++;
		slot_free(slot);
	}
}

/*
 * Finds the slot of the fragment's message, or starts one. Fragments are
 * keyed by (server, connection, message id) before anything is verified,
 * so a forged fragment can only spoil its own key's reassembly.
 */
static int
find_slot(struct rv_ckpt_store *store, uint16_t server,
    const struct rv_ckpt_frag *f, uint64_t now_ns,
    struct rv_ckpt_reasm **out)
{
	struct rv_ckpt_reasm *slot, *free_slot = NULL;
	struct rv_ckpt *c;
	size_t i;

	for (i = 0; i < RV_CKPT_REASM_SLOTS; i++) {
		slot = &store->slots[i];
		c = slot->ckpt;
		if (c == NULL) {
			if (free_slot == NULL)
				free_slot = slot;
			continue;
		}
		if (c->server != server || c->number != f->msg_id ||
		    !same_conn(&c->conn, &f->conn))
			continue;
		if (c->len != f->total_len || slot->count != f->count)
			return RV_CKPT_REJ_FRAGMENT_MISMATCH;
		*out = slot;
		return 0;
	}
	if (free_slot == NULL)
		return RV_CKPT_REJ_REASSEMBLY_FULL;
	if ((c = pool_get(&store->pool, f->total_len)) == NULL)
		return RV_CKPT_REJ_MEMORY_CAP;
	c->server = server;
	c->conn = f->conn;
	c->number = f->msg_id;
	free_slot->ckpt = c;
	free_slot->first_ns = now_ns;
	free_slot->count = f->count;
	*out = free_slot;
	return 0;
}

/* Checks a reassembled message against its fragments and the server's
 * host key, and copies what the appliance needs from its header. */
static int
verify_message(struct rv_ckpt_store *store, struct rv_ckpt *c)
{
	const struct rv_ckpt_server *srv = &store->servers[c->server];
	struct rv_ckpt_msg msg;
	int rc;

	if ((rc = rv_ckpt_msg_decode(c->data, c->len, &msg)) != 0)
		return wire_reason(rc);
	if (!same_conn(&msg.hdr.conn, &c->conn) || msg.hdr.number != c->number)
		return RV_CKPT_REJ_CONNECTION_MISMATCH;
	if (rv_ckpt_msg_verify(&msg, c->data, srv->host_key) != 0)
		return RV_CKPT_REJ_BAD_SIGNATURE;
	c->c2s_offset = msg.hdr.c2s_offset;
	c->s2c_offset = msg.hdr.s2c_offset;
	c->flags = msg.hdr.flags;
	return 0;
}

static int
input_fragment(struct rv_ckpt_store *store, uint16_t server,
    const uint8_t *buf, size_t len, uint64_t now_ns, struct rv_ckpt **out)
{
	struct rv_ckpt_reasm *slot;
	struct rv_ckpt_frag f;
	struct rv_ckpt *c;
	int rc;

	if ((rc = rv_ckpt_frag_decode(buf, len, &f)) != 0)
		return reject(store, wire_reason(rc));
	if ((rc = find_slot(store, server, &f, now_ns, &slot)) != 0)
		return reject(store, rc);
	if (slot->have[f.index / 8] & (1u << (f.index % 8)))
		return reject(store, RV_CKPT_REJ_DUPLICATE_FRAGMENT);
	c = slot->ckpt;
	memcpy(c->data + (size_t)f.index * RV_CKPT_FRAG_DATA_MAX, f.data,
	    f.data_len);
	slot->have[f.index / 8] |= (uint8_t)(1u << (f.index % 8));
	slot->received++;
	store->counters.fragments++;
	if (slot->received < slot->count)
		return RV_CKPT_IN_PENDING;
	/* Complete: the slot gives the buffer up whatever the outcome. */
	slot->ckpt = NULL;
	slot_free(slot);
	if ((rc = verify_message(store, c)) != 0) {
		ckpt_free(c);
		return reject(store, rc);
	}
	c->filed_ns = now_ns;
	store->counters.messages++;
	*out = c;
	return RV_CKPT_IN_CHECKPOINT;
}

/*
 * Accepts a heartbeat whose sequence is above the last one of the same
 * boot. A new boot id starts over, unless it is one that an earlier boot
 * change left behind: a replayed heartbeat of a past boot must not make a
 * dead server look alive.
 */
static int
input_heartbeat(struct rv_ckpt_store *store, uint16_t server,
    const uint8_t *buf, size_t len, uint64_t now_ns)
{
	struct rv_ckpt_server *srv = &store->servers[server];
	struct rv_ckpt_heartbeat hb;
	unsigned int i;
	int rc;

	if ((rc = rv_ckpt_heartbeat_decode(buf, len, &hb)) != 0)
		return reject(store, wire_reason(rc));
	if (rv_ckpt_heartbeat_verify(&hb, buf, len, srv->host_key) != 0)
		return reject(store, RV_CKPT_REJ_BAD_SIGNATURE);
	for (i = 0; i < srv->n_old_boots; i++)
		if (srv->old_boots[i] == hb.boot_id)
			return reject(store, RV_CKPT_REJ_REPLAYED);
	if (srv->hb_seen && hb.boot_id == srv->boot_id &&
	    hb.sequence <= srv->sequence)
		return reject(store, RV_CKPT_REJ_REPLAYED);
	if (srv->hb_seen && hb.boot_id != srv->boot_id) {
		if (srv->n_old_boots == RV_CKPT_OLD_BOOTS) {
			memmove(srv->old_boots, srv->old_boots + 1,
			    (RV_CKPT_OLD_BOOTS - 1) * sizeof(uint64_t));
			srv->n_old_boots--;
		}
		srv->old_boots[srv->n_old_boots++] = srv->boot_id;
	}
	srv->hb_seen = true;
	srv->hb_last_ns = now_ns;
	srv->boot_id = hb.boot_id;
	srv->sequence = hb.sequence;
	srv->connections = hb.connections;
	srv->heartbeats++;
	store->counters.heartbeats++;
	return RV_CKPT_IN_HEARTBEAT;
}

int
rv_ckpt_store_input(struct rv_ckpt_store *store, int server,
    const uint8_t *buf, size_t len, uint64_t now_ns, struct rv_ckpt **out)
{
	int type;

	*out = NULL;
	store->counters.datagrams++;
	if (server < 0 || (size_t)server >= store->n_servers)
		return reject(store, RV_CKPT_REJ_UNKNOWN_SERVER);
	type = rv_ckpt_datagram_type(buf, len);
	if (type < 0)
		return reject(store, wire_reason(type));
	/* Without the key nothing can be verified, so nothing is kept. */
	if (!store->servers[server].has_key)
		return reject(store, RV_CKPT_REJ_NO_HOST_KEY);
	if (type == RV_CKPT_TYPE_HEARTBEAT)
		return input_heartbeat(store, (uint16_t)server, buf, len,
		    now_ns);
	return input_fragment(store, (uint16_t)server, buf, len, now_ns, out);
}

void
rv_ckpt_list_drop_oldest(struct rv_ckpt_list *list, unsigned int n)
{
	unsigned int i;

	if (n > list->count)
		n = list->count;
	for (i = 0; i < n; i++)
		ckpt_free(list->items[i]);
	memmove(list->items, list->items + n,
	    (list->count - n) * sizeof(list->items[0]));
	list->count = (uint8_t)(list->count - n);
	memset(list->items + list->count, 0,
	    (RV_CKPT_PER_FLOW_MAX - list->count) * sizeof(list->items[0]));
}

void
rv_ckpt_list_release(struct rv_ckpt_list *list)
{
	rv_ckpt_list_drop_oldest(list, list->count);
	list->last_number = 0;
}

int
rv_ckpt_store_file(struct rv_ckpt_store *store, struct rv_ckpt_list *list,
    uint16_t flow_server, struct rv_ckpt *ckpt)
{
	if (ckpt->server != flow_server) {
		rv_ckpt_store_reject(store, ckpt,
		    RV_CKPT_REJ_CONNECTION_MISMATCH);
		return -RV_CKPT_REJ_CONNECTION_MISMATCH;
	}
	/* Numbers only grow within a connection, so an equal or lower one
	 * is a replay or arrived after its successor. */
	if (ckpt->number <= list->last_number) {
		rv_ckpt_store_reject(store, ckpt, RV_CKPT_REJ_REPLAYED);
		return -RV_CKPT_REJ_REPLAYED;
	}
	if (list->count == RV_CKPT_PER_FLOW_MAX) {
		rv_ckpt_list_drop_oldest(list, 1);
		store->counters.evicted++;
	}
	list->items[list->count++] = ckpt;
	list->last_number = ckpt->number;
	store->counters.filed++;
	if (ckpt->server < store->n_servers)
		store->servers[ckpt->server].filed++;
	return 0;
}
