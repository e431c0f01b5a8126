/* SPDX-License-Identifier: BSD-3-Clause */
/* The failure detection rule: which evidence makes a server healthy,
 * suspect or failed, and which never accuses it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "daemon.h"
#include "detect.h"
#include "migrate.h"

/*
 * Link-time seams: the decision is pure, but detect.c also sends frames
 * and starts migrations, which this test never reaches.
 */
int
rv_port_inject(struct rv_daemon *d, const uint8_t *frame, int len)
{
	(void)d;
	(void)frame;
	(void)len;
	fail_msg("rv_port_inject called");
	return -1;
}

struct rv_migration *
rv_migrate_start(struct rv_daemon *d, size_t server, size_t backup,
    char *why, size_t why_len)
{
	(void)d;
	(void)server;
	(void)backup;
	(void)why;
	(void)why_len;
	fail_msg("rv_migrate_start called");
	return NULL;
}

int
rv_migrate_announce(struct rv_daemon *d, size_t server, size_t backup)
{
	(void)d;
	(void)server;
	(void)backup;
	fail_msg("rv_migrate_announce called");
	return -1;
}

const char *
rv_migrate_state_name(enum rv_migrate_state state)
{
	(void)state;
	return "stub";
}

uint64_t
rv_capture_now_ns(void)
{
	fail_msg("rv_capture_now_ns called");
	return 0;
}

/* A healthy server with the lab's default of 3 misses, and no news. */
static struct rv_detect_evidence
silent_round(void)
{
	struct rv_detect_evidence e = {
		.state = RV_SERVER_HEALTHY,
		.probe_misses = 3,
		.mirror_works = true,
	};

	return e;
}

static void
answers_keep_it_healthy(void **state)
{
	struct rv_detect_evidence e = silent_round();
	struct rv_detect_verdict v;

	(void)state;
	e.arp_answered = true;
	rv_detect_decide(&e, &v);
	assert_int_equal(v.state, RV_SERVER_HEALTHY);
	assert_int_equal(v.misses, 0);

	e = silent_round();
	e.syn_answered = true;
	e.state = RV_SERVER_SUSPECT;
	e.misses = 2;
	rv_detect_decide(&e, &v);
	assert_int_equal(v.state, RV_SERVER_HEALTHY);
	assert_int_equal(v.misses, 0);
}

static void
lost_single_probe_suspect(void **state)
{
	struct rv_detect_evidence e = silent_round();
	struct rv_detect_verdict v;

	(void)state;
	rv_detect_decide(&e, &v);
	assert_int_equal(v.state, RV_SERVER_SUSPECT);
	assert_int_equal(v.misses, 1);
	assert_string_equal(v.reason, "probe round unanswered");

	/* A reply in the next round makes it healthy again and clears the count. */
	e.state = v.state;
	e.misses = v.misses;
	e.arp_answered = true;
	rv_detect_decide(&e, &v);
	assert_int_equal(v.state, RV_SERVER_HEALTHY);
	assert_int_equal(v.misses, 0);
}

static void
heartbeat_vetoes_failure(void **state)
{
	struct rv_detect_evidence e = silent_round();
	struct rv_detect_verdict v;

	(void)state;
	/* ARP and SYN unanswered for the third time, but sshd's heartbeat
	 * arrived: the host lives. */
	e.state = RV_SERVER_SUSPECT;
	e.misses = 2;
	e.heartbeat_seen = true;
	rv_detect_decide(&e, &v);
	assert_int_equal(v.state, RV_SERVER_HEALTHY);
	assert_int_equal(v.misses, 0);
}

static void
segment_vetoes_failure(void **state)
{
	struct rv_detect_evidence e = silent_round();
	struct rv_detect_verdict v;

	(void)state;
	e.state = RV_SERVER_SUSPECT;
	e.misses = 2;
	e.frame_seen = true;
	rv_detect_decide(&e, &v);
	assert_int_equal(v.state, RV_SERVER_HEALTHY);
}

static void
overdue_heartbeat_suspect(void **state)
{
	struct rv_detect_evidence e = silent_round();
	struct rv_detect_verdict v;

	(void)state;
	e.arp_answered = true;
	e.heartbeat_overdue = true;
	rv_detect_decide(&e, &v);
	assert_int_equal(v.state, RV_SERVER_SUSPECT);
	assert_int_equal(v.misses, 0);
	assert_string_equal(v.reason,
	    "answered, but its heartbeats are overdue");
}

static void
unanswered_syn_suspect(void **state)
{
	struct rv_detect_evidence e = silent_round();
	struct rv_detect_verdict v;

	(void)state;
	/* ARP replied, the SYN of the same round got nothing back. */
	e.arp_answered = true;
	e.syn_sent = true;
	rv_detect_decide(&e, &v);
	assert_int_equal(v.state, RV_SERVER_SUSPECT);
	assert_int_equal(v.misses, 0);
	assert_string_equal(v.reason, "answered, but not its SYN probe");

	/* A round without a SYN (no probe address) does not check TCP. */
	e.syn_sent = false;
	rv_detect_decide(&e, &v);
	assert_int_equal(v.state, RV_SERVER_HEALTHY);

	/* A RST from a closed port is a response too. */
	e.syn_sent = true;
	e.syn_answered = true;
	rv_detect_decide(&e, &v);
	assert_int_equal(v.state, RV_SERVER_HEALTHY);
}

static void
passive_evidence_suspect(void **state)
{
	struct rv_detect_evidence e = silent_round();
	struct rv_detect_verdict v;

	(void)state;
	/* The kernel replies to ARP, but clients wait while it sends nothing. */
	e.arp_answered = true;
	e.clients_waiting = 2;
	rv_detect_decide(&e, &v);
	assert_int_equal(v.state, RV_SERVER_SUSPECT);
	assert_int_equal(v.misses, 0);

	/* Suspect for ever is no failure: a live kernel is never failed. */
	e.state = v.state;
	rv_detect_decide(&e, &v);
	assert_int_equal(v.state, RV_SERVER_SUSPECT);
}

static void
all_silent_failed(void **state)
{
	struct rv_detect_evidence e = silent_round();
	struct rv_detect_verdict v;
	int round;

	(void)state;
	e.clients_waiting = 1;
	for (round = 1; round <= 3; round++) {
		rv_detect_decide(&e, &v);
		assert_int_equal(v.misses, round);
		e.state = v.state;
		e.misses = v.misses;
		if (round < 3)
			assert_int_equal(v.state, RV_SERVER_SUSPECT);
	}
	assert_int_equal(v.state, RV_SERVER_FAILED);
	assert_string_equal(v.reason, "probe rounds unanswered in a row while "
	    "the mirror worked");
}

static void
one_miss_threshold_fails_at_once(void **state)
{
	struct rv_detect_evidence e = silent_round();
	struct rv_detect_verdict v;

	(void)state;
	e.probe_misses = 1;
	rv_detect_decide(&e, &v);
	assert_int_equal(v.state, RV_SERVER_FAILED);
	assert_int_equal(v.misses, 1);
}

static void
mirror_silent_accuses_nobody(void **state)
{
	struct rv_detect_evidence e = silent_round();
	struct rv_detect_verdict v;

	(void)state;
	e.mirror_works = false;
	e.state = RV_SERVER_SUSPECT;
	e.misses = 2;
	rv_detect_decide(&e, &v);
	assert_int_equal(v.state, RV_SERVER_SUSPECT);
	assert_int_equal(v.misses, 0);
	assert_string_equal(v.reason, "mirror silent or lossy; not judging");

	e.state = RV_SERVER_HEALTHY;
	e.misses = 0;
	rv_detect_decide(&e, &v);
	assert_int_equal(v.state, RV_SERVER_HEALTHY);
}

static void
mirror_loss_restarts_count(void **state)
{
	struct rv_detect_evidence e = silent_round();
	struct rv_detect_verdict v;

	(void)state;
	/* Two silent rounds, a burst of mirror loss, then one more silent
	 * round: three misses in all, but not in a row. */
	e.misses = 2;
	e.state = RV_SERVER_SUSPECT;
	e.mirror_works = false;
	rv_detect_decide(&e, &v);
	e.misses = v.misses;
	e.state = v.state;
	e.mirror_works = true;
	rv_detect_decide(&e, &v);
	assert_int_equal(v.state, RV_SERVER_SUSPECT);
	assert_int_equal(v.misses, 1);
}

/* An IPv6-only server: neighbour advertisements and IPv6 SYN answers are
 * its signs of life, exactly as ARP and IPv4 SYN answers are. */
static void
ipv6_answers_keep_it_healthy(void **state)
{
	struct rv_detect_evidence e = silent_round();
	struct rv_detect_verdict v;

	(void)state;
	e.nd_answered = true;
	e.syn6_sent = true;
	e.syn6_answered = true;
	rv_detect_decide(&e, &v);
	assert_int_equal(v.state, RV_SERVER_HEALTHY);
	assert_string_equal(v.reason, "answered");

	/* A SYN-ACK alone, the advertisement lost, still proves life. */
	e = silent_round();
	e.state = RV_SERVER_SUSPECT;
	e.misses = 2;
	e.syn6_sent = true;
	e.syn6_answered = true;
	rv_detect_decide(&e, &v);
	assert_int_equal(v.state, RV_SERVER_HEALTHY);
	assert_int_equal(v.misses, 0);
}

static void
ipv6_unanswered_syn_suspect(void **state)
{
	struct rv_detect_evidence e = silent_round();
	struct rv_detect_verdict v;

	(void)state;
	e.nd_answered = true;
	e.syn6_sent = true;
	rv_detect_decide(&e, &v);
	assert_int_equal(v.state, RV_SERVER_SUSPECT);
	assert_int_equal(v.misses, 0);
	assert_string_equal(v.reason, "answered, but not its IPv6 SYN probe");
}

/* Three silent rounds of an IPv6-only server fail it, one lost round
 * does not. */
static void
ipv6_silent_failed(void **state)
{
	struct rv_detect_evidence e = silent_round();
	struct rv_detect_verdict v;
	int round;

	(void)state;
	e.syn6_sent = true;
	rv_detect_decide(&e, &v);
	assert_int_equal(v.state, RV_SERVER_SUSPECT);
	e.state = v.state;
	e.misses = v.misses;
	e.nd_answered = true;
	e.syn6_answered = true;
	rv_detect_decide(&e, &v);
	assert_int_equal(v.state, RV_SERVER_HEALTHY);
	assert_int_equal(v.misses, 0);

	e = silent_round();
	e.syn6_sent = true;
	for (round = 1; round <= 3; round++) {
		rv_detect_decide(&e, &v);
		e.state = v.state;
		e.misses = v.misses;
	}
	assert_int_equal(v.state, RV_SERVER_FAILED);
	assert_int_equal(v.misses, 3);

	/* With the mirror silent, IPv6 silence does not count as a miss either. */
	e = silent_round();
	e.state = RV_SERVER_SUSPECT;
	e.misses = 2;
	e.syn6_sent = true;
	e.mirror_works = false;
	rv_detect_decide(&e, &v);
	assert_int_equal(v.state, RV_SERVER_SUSPECT);
	assert_int_equal(v.misses, 0);
}

/* A dual-stack server: a reply in either family is a sign of life. */
static void
dual_stack_either_family_alive(void **state)
{
	struct rv_detect_evidence e = silent_round();
	struct rv_detect_verdict v;

	(void)state;
	/* IPv4 is silent while IPv6 replies. */
	e.state = RV_SERVER_SUSPECT;
	e.misses = 2;
	e.nd_answered = true;
	rv_detect_decide(&e, &v);
	assert_int_equal(v.state, RV_SERVER_HEALTHY);

	/* IPv6 silent, IPv4 answers. */
	e = silent_round();
	e.state = RV_SERVER_SUSPECT;
	e.misses = 2;
	e.arp_answered = true;
	rv_detect_decide(&e, &v);
	assert_int_equal(v.state, RV_SERVER_HEALTHY);

	/* Both families' SYNs sent, only the IPv4 one answered: alive, but
	 * its IPv6 TCP is suspect. */
	e = silent_round();
	e.syn_sent = true;
	e.syn_answered = true;
	e.syn6_sent = true;
	rv_detect_decide(&e, &v);
	assert_int_equal(v.state, RV_SERVER_SUSPECT);
	assert_int_equal(v.misses, 0);
	assert_string_equal(v.reason, "answered, but not its IPv6 SYN probe");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(answers_keep_it_healthy),
		cmocka_unit_test(lost_single_probe_suspect),
		cmocka_unit_test(heartbeat_vetoes_failure),
		cmocka_unit_test(segment_vetoes_failure),
		cmocka_unit_test(overdue_heartbeat_suspect),
		cmocka_unit_test(unanswered_syn_suspect),
		cmocka_unit_test(passive_evidence_suspect),
		cmocka_unit_test(all_silent_failed),
		cmocka_unit_test(one_miss_threshold_fails_at_once),
		cmocka_unit_test(mirror_silent_accuses_nobody),
		cmocka_unit_test(mirror_loss_restarts_count),
		cmocka_unit_test(ipv6_answers_keep_it_healthy),
		cmocka_unit_test(ipv6_unanswered_syn_suspect),
		cmocka_unit_test(ipv6_silent_failed),
		cmocka_unit_test(dual_stack_either_family_alive),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
