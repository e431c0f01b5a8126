/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef RV_CKPT_STORE_H
#define RV_CKPT_STORE_H

/*
 * The appliance side of checkpoints (docs/checkpoint-format.md): fragment
 * reassembly, signature checks with each server's Ed25519 host key, the
 * per-connection list of filed checkpoints, and each server's heartbeat
 * state. The appliance never decrypts a checkpoint: it keeps the signed
 * message whole for the backup.
 *
 * Pure C and libcrypto, no DPDK, so the unit tests and the fuzz target
 * drive it directly. Every byte of checkpoint memory (reassembly buffers
 * and filed checkpoints) comes from one pool with a byte cap.
 *
 * Threads: the capture lcore owns the store and the lists and calls every
 * function here while it holds the flow table lock. The main lcore reads
 * lists, heartbeat state and counters under the same lock.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "revenant-ckpt-wire.h"

/* Checkpoints kept per connection; filing one more drops the oldest. */
#define RV_CKPT_PER_FLOW_MAX		4
/* Messages reassembled at once, all servers together. */
#define RV_CKPT_REASM_SLOTS		64
/* Superseded boot ids of a server whose heartbeats are rejected. */
#define RV_CKPT_OLD_BOOTS		4

/* Reason a datagram or a checkpoint was rejected; indexes the counters. */
enum rv_ckpt_reject {
	RV_CKPT_REJ_TRUNCATED = 1,	/* ends inside a field */
	RV_CKPT_REJ_MALFORMED,		/* magic, version, type, range, trailing */
	RV_CKPT_REJ_UNKNOWN_SERVER,	/* source is no monitored server */
	RV_CKPT_REJ_NO_HOST_KEY,	/* server has no host_key configured */
	RV_CKPT_REJ_FRAGMENT_MISMATCH,	/* disagrees with earlier fragments */
	RV_CKPT_REJ_DUPLICATE_FRAGMENT,	/* that piece was already received */
	RV_CKPT_REJ_REASSEMBLY_FULL,	/* every reassembly slot in use */
	RV_CKPT_REJ_MEMORY_CAP,		/* checkpoints.max_bytes reached */
	RV_CKPT_REJ_CONNECTION_MISMATCH, /* header names another connection */
	RV_CKPT_REJ_BAD_SIGNATURE,
	RV_CKPT_REJ_REPLAYED,		/* replayed or older number/sequence */
	RV_CKPT_REJ_UNKNOWN_CONNECTION,	/* no such connection in the table */
	RV_CKPT_REJ__COUNT
};

/* Results of rv_ckpt_store_input() other than a rejection. */
#define RV_CKPT_IN_PENDING		0	/* fragment kept, more to come */
#define RV_CKPT_IN_CHECKPOINT		1	/* *out holds a verified one */
#define RV_CKPT_IN_HEARTBEAT		2	/* heartbeat accepted */

struct rv_ckpt_pool {
	uint64_t cap_bytes;
	uint64_t used_bytes;		/* headers and message bytes */
	uint64_t cap_hits;
};

/* A checkpoint message with what the appliance reads of its header. */
struct rv_ckpt {
	struct rv_ckpt_pool *pool;
	uint16_t server;		/* index of the server that sent it */
	struct rv_ckpt_conn conn;
	uint64_t number;
	uint64_t c2s_offset;
	uint64_t s2c_offset;
	uint32_t flags;
	uint32_t len;			/* bytes of data */
	uint64_t filed_ns;		/* capture time it completed */
	uint8_t data[];			/* the signed message, as received */
};

/* The checkpoints of one connection, oldest first. */
struct rv_ckpt_list {
	struct rv_ckpt *items[RV_CKPT_PER_FLOW_MAX];
	uint8_t count;
	uint64_t last_number;		/* highest number ever filed */
};

/* One message being reassembled. */
struct rv_ckpt_reasm {
	struct rv_ckpt *ckpt;		/* NULL: slot free */
	uint64_t first_ns;
	uint16_t count;
	uint16_t received;
	uint8_t have[RV_CKPT_FRAG_COUNT_MAX / 8];
};

/* State the store keeps for one monitored server. */
struct rv_ckpt_server {
	bool has_key;
	uint8_t host_key[RV_CKPT_ED25519_PK_LEN];
	bool hb_seen;
	uint64_t hb_last_ns;		/* capture time of the last heartbeat */
	uint64_t boot_id;
	uint64_t sequence;
	uint32_t connections;
	uint64_t heartbeats;		/* accepted */
	uint64_t old_boots[RV_CKPT_OLD_BOOTS];
	uint8_t n_old_boots;
	uint64_t filed;			/* checkpoints filed */
};

struct rv_ckpt_counters {
	uint64_t datagrams;		/* given to rv_ckpt_store_input() */
	uint64_t fragments;		/* fragments accepted */
	uint64_t messages;		/* reassembled and verified */
	uint64_t filed;
	uint64_t heartbeats;
	uint64_t rejected[RV_CKPT_REJ__COUNT];
	uint64_t reassembly_timeouts;
	uint64_t evicted;		/* freed because the list was full */
};

struct rv_ckpt_store {
	struct rv_ckpt_pool pool;
	struct rv_ckpt_server *servers;
	size_t n_servers;
	uint64_t reasm_timeout_ns;
	struct rv_ckpt_reasm slots[RV_CKPT_REASM_SLOTS];
	struct rv_ckpt_counters counters;
};

/*
 * Sets store up for n_servers servers (none with a host key yet), a memory
 * cap of max_bytes and a reassembly timeout in nanoseconds. Returns 0 or
 * -ENOMEM. The caller owns store and releases it with rv_ckpt_store_fini().
 */
int rv_ckpt_store_init(struct rv_ckpt_store *store, size_t n_servers,
    uint64_t max_bytes, uint64_t reasm_timeout_ns);

/* Frees pending reassemblies and the server table. Filed checkpoints are
 * released by their lists. */
void rv_ckpt_store_fini(struct rv_ckpt_store *store);

/* Sets the Ed25519 host public key of server. Returns 0 or -EINVAL. */
int rv_ckpt_store_set_host_key(struct rv_ckpt_store *store, size_t server,
    const uint8_t pk[RV_CKPT_ED25519_PK_LEN]);

/*
 * Takes the payload of one UDP datagram sent to the export port by server
 * (an index, or -1 when the source address is no monitored server's).
 * Reassembles fragments and verifies each complete message. Returns
 * RV_CKPT_IN_PENDING, RV_CKPT_IN_HEARTBEAT, RV_CKPT_IN_CHECKPOINT with a
 * verified checkpoint in *out that the caller now owns (it files it with
 * rv_ckpt_store_file() or frees it with rv_ckpt_store_reject()), or the
 * negative of an enum rv_ckpt_reject, already counted.
 */
int rv_ckpt_store_input(struct rv_ckpt_store *store, int server,
    const uint8_t *buf, size_t len, uint64_t now_ns, struct rv_ckpt **out);

/*
 * Files ckpt in list, the connection of server flow_server. Takes
 * ownership. Returns 0, or the negative rejection (counted, ckpt freed):
 * RV_CKPT_REJ_CONNECTION_MISMATCH when another server sent it,
 * RV_CKPT_REJ_REPLAYED when its number is not above every one filed. A
 * full list drops its oldest checkpoint (counted as evicted).
 */
int rv_ckpt_store_file(struct rv_ckpt_store *store, struct rv_ckpt_list *list,
    uint16_t flow_server, struct rv_ckpt *ckpt);

/* Counts reason (an enum rv_ckpt_reject) and frees ckpt, which may be
 * NULL. */
void rv_ckpt_store_reject(struct rv_ckpt_store *store, struct rv_ckpt *ckpt,
    int reason);

/* Drops reassemblies older than the timeout, counting each. */
void rv_ckpt_store_expire(struct rv_ckpt_store *store, uint64_t now_ns);

/* Frees the first n checkpoints of list, the oldest ones. */
void rv_ckpt_list_drop_oldest(struct rv_ckpt_list *list, unsigned int n);

/* Frees every checkpoint of list; the list is empty and reusable after. */
void rv_ckpt_list_release(struct rv_ckpt_list *list);

/* Returns the newest checkpoint of list, or NULL. */
static inline const struct rv_ckpt *
rv_ckpt_list_newest(const struct rv_ckpt_list *list)
{
	return list->count > 0 ? list->items[list->count - 1] : NULL;
}

/* Short name of a rejection for counters: "bad_signature", ... */
const char *rv_ckpt_reject_name(int reason);

#endif
