/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef RV_DETECT_H
#define RV_DETECT_H

/*
 * Failure detection: each server's state, from what the mirror shows.
 *
 *   healthy -> suspect     a probe round or its SYN went unanswered,
 *                          heartbeats are overdue, or clients wait while
 *                          it sends nothing
 *   suspect -> healthy     it replied again and nothing else is wrong
 *   suspect -> failed      probe_misses rounds in a row with no sign of
 *                          life at all while the mirror itself worked
 *   failed -> fenced -> migrating -> migrated
 *                          the takeover, as `revenantctl migrate` runs it
 *
 * Each round of probe_interval_ms sends every server, through the inject
 * port, an ARP request for each IPv4 address and a neighbour solicitation
 * (RFC 4861) for each IPv6 address. For each family whose probe address is
 * set (detection.probe_address, probe_address6), the round also sends a
 * TCP SYN from it to the server's first address of that family and first
 * service port. Signs of life, in either family: an ARP reply or neighbour
 * advertisement (the kernel replies whatever its services do), a SYN-ACK
 * or RST in response to a SYN (the TCP stack lives), a heartbeat of its
 * patched sshd, or any segment of a monitored connection. When the mirror
 * goes silent or drops frames, nobody is accused: the appliance's own
 * trouble is no evidence against a server. Main lcore only.
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

/* Evidence of one probe round about a server: the input of the decision. */
struct rv_detect_evidence {
	enum rv_server_state state;	/* current: healthy or suspect */
	uint32_t misses;		/* rounds unanswered before this one */
	uint32_t probe_misses;		/* rounds that make it failed */
	bool arp_answered;		/* since the previous round left */
	bool nd_answered;		/* a neighbour advertisement, or a
					 * solicitation from it */
	bool syn_sent;			/* that round had an IPv4 SYN probe */
	bool syn_answered;
	bool syn6_sent;			/* ... and an IPv6 one */
	bool syn6_answered;
	bool frame_seen;		/* a segment of a monitored connection */
	bool heartbeat_seen;
	bool heartbeat_overdue;		/* seen once, none for the timeout */
	uint32_t clients_waiting;	/* past passive_window_ms, server mute */
	bool mirror_works;		/* own probe came back, no capture drops */
};

/* The decision on one round. */
struct rv_detect_verdict {
	enum rv_server_state state;	/* healthy, suspect or failed */
	uint32_t misses;		/* rounds unanswered in a row, now */
	const char *reason;		/* static text for the log */
};

/* Detection state of one server. */
struct rv_server_health {
	enum rv_server_state state;
	uint64_t since_ns;		/* when it entered the state */
	uint32_t misses;		/* probe rounds unanswered in a row */
	uint64_t probe_ns;		/* when the latest round left */
	uint64_t alive_ns;		/* latest sign of life */
	struct rv_detect_evidence last;	/* input of the latest decision */
	bool syn_in_round;		/* the latest round sent an IPv4 SYN */
	bool syn6_in_round;		/* ... an IPv6 SYN */
	uint32_t syn_port;		/* source port of the current SYNs */
	uint32_t syn_isn;
	uint64_t syn_sent;		/* IPv4 SYN probes sent */
	uint64_t syn_answered;		/* SYN-ACK or RST seen for them */
	uint64_t syn_resets;		/* RSTs sent after a SYN-ACK */
	uint64_t syn_answer_handled_ns;
	uint64_t syn6_sent;		/* the same for IPv6 SYN probes */
	uint64_t syn6_answered;
	uint64_t syn6_resets;
	uint64_t syn6_answer_handled_ns;
	uint64_t arp_replies;		/* for the probe address */
	uint64_t arp_request_handled_ns;
	uint64_t na_replies;		/* for the IPv6 probe address */
	uint64_t ns_request_handled_ns;
	uint64_t transitions;
	uint64_t conflicts;		/* the old primary answered after takeover */
	uint64_t conflict_arp_ns;	/* its latest ARP counted as a conflict */
	uint64_t conflict_nd_ns;	/* ... and neighbour discovery */
	uint64_t conflict_logged_ns;
	char evidence[384];		/* why it is in its state */
	struct rv_migration *migration;	/* the takeover, once started */
};

/*
 * Decides a server's state from one round's evidence, as a pure function.
 * Any sign of life, in either address family, makes it healthy, or suspect
 * while heartbeats are overdue, clients wait or one of the round's SYN
 * probes got no response. Without one, a working mirror makes it suspect,
 * and failed after probe_misses rounds in a row. With the mirror silent or
 * lossy the state stays and the count of misses starts again. Any thread.
 */
void rv_detect_decide(const struct rv_detect_evidence *e,
    struct rv_detect_verdict *v);

/* Allocates the per-server state and logs the detection settings.
 * Returns 0 or -ENOMEM. Main lcore, before the capture starts. */
int rv_detect_init(struct rv_daemon *d);
void rv_detect_fini(struct rv_daemon *d);

/* Sends ARP replies and neighbour advertisements for the probe addresses
 * and a RST after each SYN-ACK to a probe. Each probe_interval_ms it also judges every server and sends the
 * next round. Call every few milliseconds. Main lcore. */
void rv_detect_poll(struct rv_daemon *d, uint64_t now_ns);

/* Short name of a state: "healthy", "suspect", ... */
const char *rv_server_state_name(enum rv_server_state state);

#endif
