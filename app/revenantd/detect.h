/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef RV_DETECT_H
#define RV_DETECT_H

/*
 * Failure detection: each server's state, from what the mirror shows.
 *
 *   healthy -> suspect     a probe went unanswered
 *   suspect -> healthy     the server answered again
 *   suspect -> failed      probe_misses probes in a row unanswered while the
 *                          mirror itself worked (our own probes came back)
 *   failed -> fenced -> migrating -> migrated
 *                          the takeover, as `revenantctl migrate` runs it
 *
 * Evidence: ARP probes sent through the inject port (the server's kernel
 * answers them, whatever its services do), any segment the server sends,
 * clients whose data waits unacknowledged, and sshd heartbeats. When the
 * mirror goes silent or drops frames, nobody is accused: the appliance's
 * own trouble is no evidence against a server. Main lcore only.
 */

#include <stdbool.h>
#include <stdint.h>

struct rv_daemon;

enum rv_server_state {
	RV_SERVER_HEALTHY = 0,
	RV_SERVER_SUSPECT,
	RV_SERVER_FAILED,
	RV_SERVER_FENCED,
	RV_SERVER_MIGRATING,
	RV_SERVER_MIGRATED,
};

/* Detection state of one server. */
struct rv_server_health {
	enum rv_server_state state;
	uint64_t since_ns;		/* when it entered the state */
	uint32_t misses;		/* probes unanswered in a row */
	uint64_t probe_ns;		/* when the latest probe left */
	uint64_t answered_ns;		/* latest answer or segment seen */
	uint64_t transitions;
	uint64_t conflicts;		/* the old primary answered after takeover */
	uint64_t conflict_logged_ns;
	char evidence[160];		/* why it is in its state */
	struct rv_migration *migration;	/* the takeover, once started */
};

/* Allocates the per-server state. Returns 0 or -ENOMEM. */
int rv_detect_init(struct rv_daemon *d);
void rv_detect_fini(struct rv_daemon *d);

/* Sends due probes and moves states on; call every few milliseconds. */
void rv_detect_poll(struct rv_daemon *d, uint64_t now_ns);

/* Short name of a state: "healthy", "suspect", ... */
const char *rv_server_state_name(enum rv_server_state state);

#endif
