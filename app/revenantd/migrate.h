/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef RV_MIGRATE_H
#define RV_MIGRATE_H

/*
 * Moving every connection of a server to its backup, on an operator's
 * command (planned maintenance) and later on a detected failure:
 *   1. run the server's fencing command and wait for it;
 *   2. hand each recoverable connection to the backup's agent, which
 *      restores the sockets and adds the address;
 *   3. announce the address for the backup's MAC (gratuitous ARP and
 *      unsolicited neighbour advertisements through the inject port);
 *   4. inject one in-window ACK per connection so waiting clients resume
 *      at once instead of after their retransmission backoff.
 * A migration runs in its own thread, because fencing and the handoff
 * wait on other hosts; the control socket reads its progress.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct rv_daemon;

enum rv_migrate_state {
	RV_MIGRATE_FENCING = 0,
	RV_MIGRATE_HANDING_OFF,
	RV_MIGRATE_ANNOUNCING,
	RV_MIGRATE_DONE,
	RV_MIGRATE_FAILED,
};

/* Lines of progress a migration keeps for revenantctl. */
#define RV_MIGRATE_MAX_LINES	4096
#define RV_MIGRATE_LINE_MAX	200

struct rv_migration {
	pthread_mutex_t lock;		/* guards everything below */
	uint64_t id;
	size_t server;			/* index into the configured servers */
	size_t backup;			/* index into the configured backups */
	enum rv_migrate_state state;
	uint64_t started_ns;
	uint64_t finished_ns;
	uint32_t moved;
	uint32_t not_recoverable;
	uint32_t failed;
	char (*lines)[RV_MIGRATE_LINE_MAX];
	size_t n_lines;
	bool running;			/* the thread has not returned yet */
	pthread_t thread;
	struct rv_daemon *daemon;
};

/*
 * Starts migrating server to backup (indexes into the configuration).
 * Returns the migration, or NULL with why filled when one is already
 * running or the configuration lacks what a migration needs.
 * Main thread.
 */
struct rv_migration *rv_migrate_start(struct rv_daemon *d, size_t server,
    size_t backup, char *why, size_t why_len);

/*
 * Copies lines [from, ...) of m's progress into the reply through fn, and
 * returns the state. Any thread.
 */
enum rv_migrate_state rv_migrate_progress(struct rv_migration *m,
    size_t from, void (*fn)(const char *line, void *arg), void *arg,
    size_t *next);

/*
 * Announces every address of server for backup's MAC: a burst of
 * gratuitous ARP and unsolicited neighbour advertisements through the
 * inject port. Returns the number of frames that could not be sent.
 * Any thread.
 */
int rv_migrate_announce(struct rv_daemon *d, size_t server, size_t backup);

/* Short name of a state: "fencing", "done", ... */
const char *rv_migrate_state_name(enum rv_migrate_state state);

/* Waits for a running migration and frees it. Main thread, at exit. */
void rv_migrate_free(struct rv_migration *m);

#endif
