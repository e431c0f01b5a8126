/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the revenantd configuration loader and its schema engine.
 * Run from tests/unit (meson sets the workdir) so that ../../drivers-conf
 * resolves.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "addr.h"
#include "config.h"

#define MINIMAL \
	"ports:\n" \
	"  capture: net_af_packet0,iface=m\n" \
	"  inject: net_af_packet1,iface=i\n" \
	"backups:\n" \
	"  - name: backup\n" \
	"    agent: 203.0.113.3:7700\n" \
	"servers:\n" \
	"  - name: primary\n" \
	"    addresses: [198.51.100.2]\n" \
	"    ports: [22]\n" \
	"    backup: backup\n"

static struct rv_config *
load_text(const char *text, struct rv_config_errors *errs)
{
	memset(errs, 0, sizeof(*errs));
	return rv_config_load_buffer("t.yaml", text, strlen(text), errs);
}

/* Loads text and checks that exactly the expected lines come out, in order. */
static void
expect_errors(const char *text, const char *const *expected)
{
	struct rv_config_errors errs;
	struct rv_config *cfg;
	size_t n, i;

	cfg = load_text(text, &errs);
	for (n = 0; expected[n] != NULL; n++)
		;
	if (errs.list.count != n)
		rv_config_errors_print(&errs, stderr);
	assert_null(cfg);
	assert_int_equal(errs.list.count, n);
	for (i = 0; i < n; i++)
		assert_string_equal(errs.list.lines[i], expected[i]);
	rv_config_errors_clear(&errs);
}

static void
expect_error(const char *text, const char *expected)
{
	const char *const list[] = { expected, NULL };

	expect_errors(text, list);
}

static void
test_minimal_defaults(void **state)
{
	struct rv_config_errors errs;
	struct rv_config *cfg;

	cfg = load_text(MINIMAL, &errs);
	assert_non_null(cfg);
	assert_int_equal(errs.list.count, 0);
	assert_int_equal(cfg->log_level, RV_LOG_INFO);
	assert_string_equal(cfg->control_socket,
	    "/run/revenant/revenantd.sock");
	assert_null(cfg->eal.args);
	assert_int_equal(cfg->eal.arg_count, 0);
	assert_string_equal(cfg->ports.capture, "net_af_packet0,iface=m");
	assert_string_equal(cfg->ports.inject, "net_af_packet1,iface=i");
	assert_int_equal(cfg->ports.rx_ring_size, 4096);
	assert_int_equal(cfg->ports.burst_size, 32);
	assert_int_equal(cfg->ports.mbufs, 32768);
	assert_int_equal(cfg->checkpoints.export_port, 7022);
	assert_int_equal(cfg->memory.max_flows, 65536);
	assert_true(cfg->memory.flow_log_max == 64ULL << 20);
	assert_true(cfg->memory.log_total_max == 1ULL << 30);
	assert_int_equal(cfg->memory.gap_timeout_ms, 500);
	assert_int_equal(cfg->memory.idle_timeout_s, 7200);
	assert_int_equal(cfg->memory.closed_linger_s, 30);
	assert_int_equal(cfg->stats_interval_s, 10);
	assert_int_equal(cfg->backup_count, 1);
	assert_int_equal(cfg->server_count, 1);
	assert_int_equal(cfg->servers[0].backup, 0);
	rv_config_free(cfg);
}

static const char full_text[] =
	"log_level: debug\n"
	"control_socket: /tmp/rv.sock\n"
	"eal:\n"
	"  args: [--no-pci, --file-prefix=revenant, --huge-unlink, -l, \"0-1\"]\n"
	"ports:\n"
	"  capture: \"0000:3b:00.0\"\n"
	"  inject: 3b:00.1\n"
	"  rx_ring_size: 64\n"
	"  burst_size: 512\n"
	"  mbufs: 1048576\n"
	"checkpoints:\n"
	"  export_port: 65535\n"
	"memory:\n"
	"  max_flows: 16\n"
	"  flow_log_max: 65536\n"
	"  log_total_max: 1TiB\n"
	"  gap_timeout_ms: 60000\n"
	"  idle_timeout_s: 10\n"
	"  closed_linger_s: 0\n"
	"stats_interval_s: 0\n"
	"backups:\n"
	"  - name: b1\n"
	"    agent: 203.0.113.3:7700\n"
	"  - name: B-2.x_y\n"
	"    agent: \"[2001:db8::3]:1\"\n"
	"servers:\n"
	"  - name: primary\n"
	"    addresses: [198.51.100.2, \"2001:db8:1::2\"]\n"
	"    ports: [22, 2222]\n"
	"    backup: B-2.x_y\n"
	"  - name: other\n"
	"    addresses:\n"
	"      - 198.51.100.7\n"
	"    ports: [65535]\n"
	"    backup: b1\n";

static void
test_full_config(void **state)
{
	struct rv_config_errors errs;
	struct rv_config *cfg;
	char text[RV_ENDPOINT_STRLEN];

	cfg = load_text(full_text, &errs);
	rv_config_errors_print(&errs, stderr);
	assert_non_null(cfg);
	assert_int_equal(cfg->log_level, RV_LOG_DEBUG);
	assert_string_equal(cfg->control_socket, "/tmp/rv.sock");
	assert_int_equal(cfg->eal.arg_count, 5);
	assert_string_equal(cfg->eal.args[1], "--file-prefix=revenant");
	assert_string_equal(cfg->eal.args[4], "0-1");
	assert_null(cfg->eal.args[5]);
	assert_string_equal(cfg->ports.capture, "0000:3b:00.0");
	assert_string_equal(cfg->ports.inject, "3b:00.1");
	assert_int_equal(cfg->ports.rx_ring_size, 64);
	assert_int_equal(cfg->ports.burst_size, 512);
	assert_int_equal(cfg->ports.mbufs, 1048576);
	assert_int_equal(cfg->checkpoints.export_port, 65535);
	assert_int_equal(cfg->memory.max_flows, 16);
	assert_true(cfg->memory.flow_log_max == 65536);
	assert_true(cfg->memory.log_total_max == 1ULL << 40);
	assert_int_equal(cfg->memory.gap_timeout_ms, 60000);
	assert_int_equal(cfg->memory.idle_timeout_s, 10);
	assert_int_equal(cfg->memory.closed_linger_s, 0);
	assert_int_equal(cfg->stats_interval_s, 0);
	assert_int_equal(cfg->backup_count, 2);
	assert_string_equal(cfg->backups[1].name, "B-2.x_y");
	assert_string_equal(rv_endpoint_format(&cfg->backups[1].agent, text,
	    sizeof(text)), "[2001:db8::3]:1");
	assert_string_equal(rv_endpoint_format(&cfg->backups[0].agent, text,
	    sizeof(text)), "203.0.113.3:7700");
	assert_int_equal(cfg->server_count, 2);
	assert_int_equal(cfg->servers[0].address_count, 2);
	assert_int_equal(cfg->servers[0].addresses[0].family, 4);
	assert_int_equal(cfg->servers[0].addresses[1].family, 6);
	assert_int_equal(cfg->servers[0].port_count, 2);
	assert_int_equal(cfg->servers[0].ports[1], 2222);
	assert_int_equal(cfg->servers[0].backup, 1);
	assert_int_equal(cfg->servers[1].backup, 0);
	assert_int_equal(cfg->servers[1].ports[0], 65535);
	rv_config_log(cfg);
	rv_config_free(cfg);
}

static void
test_find_server(void **state)
{
	struct rv_config_errors errs;
	struct rv_config *cfg;
	struct rv_addr a;

	cfg = load_text(full_text, &errs);
	assert_non_null(cfg);
	assert_int_equal(rv_addr_parse("2001:db8:1::2", &a), 0);
	assert_int_equal(rv_config_find_server(cfg, &a, 2222), 0);
	assert_int_equal(rv_config_find_server(cfg, &a, 23), -1);
	assert_int_equal(rv_addr_parse("198.51.100.7", &a), 0);
	assert_int_equal(rv_config_find_server(cfg, &a, 65535), 1);
	assert_int_equal(rv_config_find_server(cfg, &a, 22), -1);
	assert_int_equal(rv_addr_parse("198.51.100.8", &a), 0);
	assert_int_equal(rv_config_find_server(cfg, &a, 22), -1);
	rv_config_free(cfg);
}

static void
test_drivers_conf_profiles(void **state)
{
	static const char *const paths[] = {
		"../../drivers-conf/revenantd-lab.yaml",
		"../../drivers-conf/revenantd-nic.yaml",
	};
	struct rv_config_errors errs;
	struct rv_config *cfg;
	size_t i;

	for (i = 0; i < 2; i++) {
		memset(&errs, 0, sizeof(errs));
		cfg = rv_config_load_file(paths[i], &errs);
		rv_config_errors_print(&errs, stderr);
		assert_non_null(cfg);
		assert_int_equal(errs.list.count, 0);
		assert_int_equal(cfg->server_count, 1);
		assert_string_equal(cfg->backups[0].name, "backup");
		/* Both profiles send SYN probes from an address of the lab. */
		assert_int_equal(cfg->detection.probe_address.family, 4);
		assert_memory_equal(cfg->detection.probe_address.bytes,
		    "\xc6\x33\x64\xfb", 4);
		/* ... and IPv6 ones from the lab's 2001:db8::/32. */
		assert_int_equal(cfg->detection.probe_address6.family, 6);
		assert_memory_equal(cfg->detection.probe_address6.bytes,
		    "\x20\x01\x0d\xb8", 4);
		rv_config_free(cfg);
	}
}

static void
test_lab_profile_values(void **state)
{
	struct rv_config_errors errs = { 0 };
	struct rv_config *cfg;

	cfg = rv_config_load_file("../../drivers-conf/revenantd-lab.yaml",
	    &errs);
	assert_non_null(cfg);
	assert_non_null(strstr(cfg->ports.capture, "framecnt=16384"));
	assert_non_null(strstr(cfg->ports.capture, "iface=MIRROR_IF"));
	assert_int_equal(cfg->eal.arg_count, 5);
	assert_string_equal(cfg->eal.args[0], "--no-pci");
	rv_config_free(cfg);
}

static void
test_unreadable_file(void **state)
{
	struct rv_config_errors errs = { 0 };

	assert_null(rv_config_load_file("config/does-not-exist.yaml", &errs));
	assert_int_equal(errs.list.count, 1);
	assert_string_equal(errs.list.lines[0], "config/does-not-exist.yaml: "
	    "cannot open: No such file or directory");
	rv_config_errors_clear(&errs);
	assert_null(rv_config_load_file(".", &errs));
	assert_string_equal(errs.list.lines[0], ".: not a regular file");
	rv_config_errors_clear(&errs);
}

static void
test_empty_file(void **state)
{
	expect_error("", "t.yaml:1:1: the file is empty; expected a map of "
	    "settings");
	expect_error("# only a comment\n", "t.yaml:1:1: the file is empty; "
	    "expected a map of settings");
	expect_error("---\n", "t.yaml:2:1: expected a map of settings at the "
	    "top level, got an empty value");
}

static void
test_input_limits(void **state)
{
	struct rv_config_errors errs = { 0 };
	char text[512];
	size_t len = RV_YAML_MAX_INPUT + 1, i;
	char *big;

	big = malloc(len);
	assert_non_null(big);
	memset(big, '#', len);
	assert_null(rv_config_load_buffer("big.yaml", big, len, &errs));
	free(big);
	assert_int_equal(errs.list.count, 1);
	assert_string_equal(errs.list.lines[0], "big.yaml: the input is "
	    "1048577 bytes; at most 1048576 are accepted");
	rv_config_errors_clear(&errs);

	for (i = 0; i < 65; i++)
		text[i] = '[';
	text[65] = '\0';
	expect_error(text, "t.yaml:1:65: nesting deeper than 64 levels");
}

static void
test_syntax_error(void **state)
{
	expect_error("ports: [1\n", "t.yaml:2:1: invalid YAML: did not find "
	    "expected ',' or ']' (while parsing a flow sequence at line 1, "
	    "column 8)");
	expect_error("a: b: c\n", "t.yaml:1:5: invalid YAML: mapping values "
	    "are not allowed in this context");
	expect_error("a: \"\xff\"\n", "t.yaml:1:5: invalid YAML: invalid "
	    "leading UTF-8 octet (byte 0xFF)");
	expect_error("a: &x 1\nb: *x\n", "t.yaml:2:4: aliases (*name) are not "
	    "supported; write the value out");
	expect_error("a: 1\n---\nb: 2\n", "t.yaml:2:1: a second YAML "
	    "document; the file must hold exactly one");
}

#define MIGRATION \
	"ports:\n" \
	"  capture: net_af_packet0,iface=m\n" \
	"  inject: net_af_packet1,iface=i\n" \
	"handoff:\n" \
	"  name: appliance\n" \
	"  key_file: /etc/revenant/appliance.key\n" \
	"backups:\n" \
	"  - name: backup\n" \
	"    agent: 203.0.113.3:7700\n" \
	"    mac: 02:00:5e:10:00:0A\n" \
	"servers:\n" \
	"  - name: primary\n" \
	"    addresses: [198.51.100.2]\n" \
	"    ports: [22]\n" \
	"    backup: backup\n" \
	"    fence: ip link set sw-primary down\n"

static void
test_migration_settings(void **state)
{
	static const uint8_t mac[6] = { 0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a };
	struct rv_config_errors errs;
	struct rv_config *cfg;

	(void)state;
	cfg = load_text(MIGRATION, &errs);
	assert_non_null(cfg);
	assert_string_equal(cfg->handoff.name, "appliance");
	assert_string_equal(cfg->handoff.key_file,
	    "/etc/revenant/appliance.key");
	assert_int_equal(cfg->handoff.timeout_ms, 5000);
	assert_true(cfg->backups[0].mac.set);
	assert_memory_equal(cfg->backups[0].mac.bytes, mac, 6);
	assert_string_equal(cfg->servers[0].fence,
	    "ip link set sw-primary down");
	assert_int_equal(cfg->servers[0].fence_timeout_ms, 10000);
	rv_config_free(cfg);

	/* Without them a migration is refused later, not the file. */
	cfg = load_text(MINIMAL, &errs);
	assert_non_null(cfg);
	assert_null(cfg->handoff.name);
	assert_false(cfg->backups[0].mac.set);
	assert_null(cfg->servers[0].fence);
	assert_true(cfg->detection.enabled);
	assert_int_equal(cfg->detection.probe_interval_ms, 100);
	assert_int_equal(cfg->detection.probe_misses, 3);
	assert_int_equal(cfg->detection.passive_window_ms, 1000);
	rv_config_free(cfg);

	cfg = load_text(MINIMAL "detection: {enabled: false, "
	    "probe_interval_ms: 50, probe_misses: 5}\n", &errs);
	assert_non_null(cfg);
	assert_false(cfg->detection.enabled);
	assert_int_equal(cfg->detection.probe_interval_ms, 50);
	assert_int_equal(cfg->detection.probe_misses, 5);
	rv_config_free(cfg);
	expect_error(MINIMAL "detection: {enabled: maybe}\n", "t.yaml:12:22: "
	    "detection.enabled: expected true or false, got 'maybe'");
}

static void
test_probe_address(void **state)
{
	struct rv_config_errors errs;
	struct rv_config *cfg;

	(void)state;
	cfg = load_text(MINIMAL, &errs);
	assert_non_null(cfg);
	assert_int_equal(cfg->detection.probe_address.family, 0);
	rv_config_free(cfg);

	cfg = load_text(MINIMAL "detection:\n  probe_address: 198.51.100.250\n",
	    &errs);
	assert_non_null(cfg);
	assert_int_equal(cfg->detection.probe_address.family, 4);
	assert_memory_equal(cfg->detection.probe_address.bytes,
	    "\xc6\x33\x64\xfa", 4);
	rv_config_free(cfg);
}

static void
test_probe_address_errors(void **state)
{
	(void)state;
	expect_error(MINIMAL "detection:\n  probe_address: 198.51.100\n",
	    "t.yaml:13:18: detection.probe_address: invalid IP address "
	    "'198.51.100'; expected an IPv4 or IPv6 literal");
	expect_error(MINIMAL "detection:\n  probe_address: \"2001:db8:1::fa\"\n",
	    "t.yaml:13:18: detection.probe_address: 2001:db8:1::fa is an IPv6 "
	    "address; detection.probe_address takes IPv4, and "
	    "detection.probe_address6 IPv6");
	expect_error(MINIMAL "detection:\n  probe_address: 224.0.0.1\n",
	    "t.yaml:13:18: detection.probe_address: 224.0.0.1 is not a "
	    "unicast address; give an unused IPv4 address of the served "
	    "segment");
	expect_error(MINIMAL "detection:\n  probe_address: 0.0.0.0\n",
	    "t.yaml:13:18: detection.probe_address: 0.0.0.0 is not a "
	    "unicast address; give an unused IPv4 address of the served "
	    "segment");
	expect_error(MINIMAL "detection:\n  probe_address: 198.51.100.2\n",
	    "t.yaml:13:18: detection.probe_address: 198.51.100.2 belongs to "
	    "server primary; the probe address must be one that no server "
	    "uses");
}

/* A server with an IPv6 address only, and a dual-stack one. */
#define MINIMAL_V6 \
	"ports:\n" \
	"  capture: net_af_packet0,iface=m\n" \
	"  inject: net_af_packet1,iface=i\n" \
	"backups:\n" \
	"  - name: backup\n" \
	"    agent: 203.0.113.3:7700\n" \
	"servers:\n" \
	"  - name: primary\n" \
	"    addresses: [\"2001:db8:1::2\"]\n" \
	"    ports: [22]\n" \
	"    backup: backup\n" \
	"  - name: second\n" \
	"    addresses: [198.51.100.3, \"2001:db8:1::3\"]\n" \
	"    ports: [22]\n" \
	"    backup: backup\n"

static void
test_probe_address6(void **state)
{
	struct rv_config_errors errs;
	struct rv_config *cfg;

	(void)state;
	cfg = load_text(MINIMAL_V6, &errs);
	assert_non_null(cfg);
	assert_int_equal(cfg->detection.probe_address6.family, 0);
	rv_config_free(cfg);

	cfg = load_text(MINIMAL_V6 "detection:\n"
	    "  probe_address: 198.51.100.250\n"
	    "  probe_address6: \"2001:db8:1::fa\"\n", &errs);
	assert_non_null(cfg);
	assert_int_equal(cfg->detection.probe_address.family, 4);
	assert_int_equal(cfg->detection.probe_address6.family, 6);
	assert_memory_equal(cfg->detection.probe_address6.bytes,
	    "\x20\x01\x0d\xb8\x00\x01\0\0\0\0\0\0\0\0\0\xfa", 16);
	rv_config_free(cfg);
}

static void
test_probe_address6_errors(void **state)
{
	(void)state;
	expect_error(MINIMAL_V6 "detection:\n  probe_address6: 198.51.100.250\n",
	    "t.yaml:17:19: detection.probe_address6: 198.51.100.250 is an "
	    "IPv4 address; detection.probe_address6 takes IPv6, and "
	    "detection.probe_address IPv4");
	expect_error(MINIMAL_V6 "detection:\n  probe_address6: \"2001:db8::g\"\n",
	    "t.yaml:17:19: detection.probe_address6: invalid IP address "
	    "'2001:db8::g'; expected an IPv4 or IPv6 literal");
	expect_error(MINIMAL_V6 "detection:\n  probe_address6: \"ff02::1\"\n",
	    "t.yaml:17:19: detection.probe_address6: ff02::1 is not a "
	    "unicast address of global scope; give an unused IPv6 address of "
	    "the served segment");
	expect_error(MINIMAL_V6 "detection:\n  probe_address6: \"fe80::fa\"\n",
	    "t.yaml:17:19: detection.probe_address6: fe80::fa is not a "
	    "unicast address of global scope; give an unused IPv6 address of "
	    "the served segment");
	expect_error(MINIMAL_V6 "detection:\n  probe_address6: \"::\"\n",
	    "t.yaml:17:19: detection.probe_address6: :: is not a "
	    "unicast address of global scope; give an unused IPv6 address of "
	    "the served segment");
	expect_error(MINIMAL_V6 "detection:\n  probe_address6: \"::1\"\n",
	    "t.yaml:17:19: detection.probe_address6: ::1 is not a "
	    "unicast address of global scope; give an unused IPv6 address of "
	    "the served segment");
	expect_error(MINIMAL_V6 "detection:\n"
	    "  probe_address6: \"::ffff:198.51.100.250\"\n",
	    "t.yaml:17:19: detection.probe_address6: ::ffff:198.51.100.250 is "
	    "not a unicast address of global scope; give an unused IPv6 "
	    "address of the served segment");
	expect_error(MINIMAL_V6 "detection:\n  probe_address6: \"2001:db8:1::3\"\n",
	    "t.yaml:17:19: detection.probe_address6: 2001:db8:1::3 belongs to "
	    "server second; the probe address must be one that no server "
	    "uses");
}

static void
test_migration_errors(void **state)
{
	(void)state;
	expect_error(MINIMAL "handoff: {name: appliance}\n", "t.yaml:12:10: "
	    "handoff.key_file: required key is missing");
	expect_error(MINIMAL "handoff: {name: a, key_file: k.pem}\n",
	    "t.yaml:12:30: handoff.key_file: invalid value 'k.pem': expected an "
	    "absolute path");
	expect_error(MINIMAL "handoff: {name: a, key_file: /k, "
	    "timeout_ms: 5}\n", "t.yaml:12:46: handoff.timeout_ms: 5 is out "
	    "of range 100..600000");
}

static void
test_bad_mac(void **state)
{
	static const char *const bad[] = {
		"02:00:5e:10:00", "02:00:5e:10:00:0g", "02-00-5e-10-00-0a",
		"+2:00:5e:10:00:0a", "02:00:5e:10:00:0a:", NULL,
	};
	char text[1024], want[256];
	size_t i;

	(void)state;
	for (i = 0; bad[i] != NULL; i++) {
		snprintf(text, sizeof(text), "%.*s    mac: \"%s\"\n%s",
		    (int)(strstr(MINIMAL, "servers:") - MINIMAL), MINIMAL,
		    bad[i], strstr(MINIMAL, "servers:"));
		snprintf(want, sizeof(want), "t.yaml:7:10: backups[0].mac: "
		    "invalid value '%s': not a MAC address; expected six hex "
		    "pairs split by ':', such as 02:00:5e:10:00:01", bad[i]);
		expect_error(text, want);
	}
}

static void
test_unknown_key(void **state)
{
	expect_error(MINIMAL "stats_interval: 5\n", "t.yaml:12:1: "
	    "stats_interval: unknown key 'stats_interval'; did you mean "
	    "'stats_interval_s'?");
	expect_error(MINIMAL "checkpoints: {prot: 1}\n", "t.yaml:12:15: "
	    "checkpoints.prot: unknown key 'prot'; known keys: export_port, "
	    "max_bytes, heartbeat_timeout_ms");
	expect_error(MINIMAL "checkpoints: {export_prot: 1}\n", "t.yaml:12:15: "
	    "checkpoints.export_prot: unknown key 'export_prot'; did you "
	    "mean 'export_port'?");
	expect_error(MINIMAL "memory: {max_flow: 20}\n", "t.yaml:12:10: "
	    "memory.max_flow: unknown key 'max_flow'; did you mean "
	    "'max_flows'?");
}

static void
test_wrong_types(void **state)
{
	expect_error(MINIMAL "memory: [1]\n", "t.yaml:12:9: memory: expected "
	    "a map, got a list");
	expect_error(MINIMAL "eal: {args: --no-pci}\n", "t.yaml:12:13: "
	    "eal.args: expected a list, got a scalar");
	expect_error(MINIMAL "log_level: [info]\n", "t.yaml:12:12: log_level: "
	    "expected a name, got a list");
	expect_error(MINIMAL "stats_interval_s:\n", "t.yaml:12:18: "
	    "stats_interval_s: expected an integer, got an empty value");
	expect_error(MINIMAL "control_socket: {a: 1}\n", "t.yaml:12:17: "
	    "control_socket: expected a string, got a map");
	expect_error(MINIMAL "control_socket: \"/a\\0b\"\n", "t.yaml:12:17: "
	    "control_socket: the value contains a NUL byte");
	expect_error(MINIMAL "{a: 1}: 2\n", "t.yaml:12:1: expected a key "
	    "name, got a map");
}

static void
test_missing_keys(void **state)
{
	static const char *const expected[] = {
		"t.yaml:1:1: ports: required key is missing",
		"t.yaml:1:1: backups: required key is missing",
		"t.yaml:1:1: servers: required key is missing",
		"t.yaml:2:3: eal.x: unknown key 'x'; known keys: args",
		NULL,
	};
	static const char *const in_list[] = {
		"t.yaml:2:5: ports.inject: required key is missing",
		"t.yaml:5:5: servers[0].backup: required key is missing",
		NULL,
	};

	expect_errors("eal:\n  x: 1\n", expected);
	expect_errors(
	    "ports:\n"
	    "    capture: net_a0\n"
	    "backups: [{name: b, agent: \"203.0.113.3:7700\"}]\n"
	    "servers:\n"
	    "  - name: s\n"
	    "    addresses: [198.51.100.2]\n"
	    "    ports: [22]\n", in_list);
}

static void
test_duplicate_key(void **state)
{
	expect_error(MINIMAL "memory:\n  max_flows: 20\n  max_flows: 30\n",
	    "t.yaml:14:3: memory.max_flows: duplicate key; first given at "
	    "line 13, column 3");
	expect_error(MINIMAL "log_level: info\nlog_level: debug\n",
	    "t.yaml:13:1: log_level: duplicate key; first given at line 12, "
	    "column 1");
}

static void
test_numbers(void **state)
{
	expect_error(MINIMAL "stats_interval_s: 3601\n", "t.yaml:12:19: "
	    "stats_interval_s: 3601 is out of range 0..3600");
	expect_error(MINIMAL "stats_interval_s: -1\n", "t.yaml:12:19: "
	    "stats_interval_s: expected a decimal integer without sign or "
	    "leading zero, got '-1'");
	expect_error(MINIMAL "stats_interval_s: 1e3\n", "t.yaml:12:19: "
	    "stats_interval_s: expected a decimal integer without sign or "
	    "leading zero, got '1e3'");
	expect_error(MINIMAL "stats_interval_s: 0x10\n", "t.yaml:12:19: "
	    "stats_interval_s: expected a decimal integer without sign or "
	    "leading zero, got '0x10'");
	expect_error(MINIMAL "stats_interval_s: 010\n", "t.yaml:12:19: "
	    "stats_interval_s: expected a decimal integer without sign or "
	    "leading zero, got '010'");
	expect_error(MINIMAL "stats_interval_s: \"10\"\n", "t.yaml:12:19: "
	    "stats_interval_s: expected a plain decimal integer, got the "
	    "quoted string '10'");
	expect_error(MINIMAL "stats_interval_s: 99999999999999999999999\n",
	    "t.yaml:12:19: stats_interval_s: 99999999999999999999999 is out "
	    "of range 0..3600");
	expect_error(MINIMAL "ports2: 1\n", "t.yaml:12:1: ports2: unknown "
	    "key 'ports2'; did you mean 'ports'?");
	expect_error(MINIMAL "checkpoints: {export_port: 0}\n",
	    "t.yaml:12:28: checkpoints.export_port: 0 is out of range "
	    "1..65535");
	expect_error(MINIMAL "memory: {gap_timeout_ms: 9}\n", "t.yaml:12:26: "
	    "memory.gap_timeout_ms: 9 is out of range 10..60000");
}

static void
test_power_of_two(void **state)
{
	const char *text =
	    "ports:\n"
	    "  capture: net_a0\n"
	    "  inject: net_a1\n"
	    "  rx_ring_size: 1000\n"
	    "backups: [{name: b, agent: \"203.0.113.3:7700\"}]\n"
	    "servers: [{name: s, addresses: [198.51.100.2], ports: [22], "
	    "backup: b}]\n";

	expect_error(text, "t.yaml:4:17: ports.rx_ring_size: 1000 is not a "
	    "power of two (64..32768)");
}

static void
test_sizes(void **state)
{
	static const struct {
		const char *text;
		uint64_t bytes;
	} cases[] = {
		{ "0", 0 }, { "65536", 65536 },
		{ "1K", 1024 }, { "1KiB", 1024 },
		{ "3M", 3ULL << 20 }, { "3MiB", 3ULL << 20 },
		{ "2G", 2ULL << 30 }, { "2GiB", 2ULL << 30 },
		{ "5T", 5ULL << 40 }, { "5TiB", 5ULL << 40 },
		{ "16777215TiB", 16777215ULL << 40 },
	};
	static const char *const invalid[] = {
		"", "K", "1KB", "1k", "1 KiB", "-1K", "01K", "1.5G", "0x10",
		"1KiBs",
	};
	char buf[32];
	uint64_t v;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(rv_yaml_parse_size(cases[i].text, &v), 0);
		assert_true(v == cases[i].bytes);
	}
	for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
		assert_int_equal(rv_yaml_parse_size(invalid[i], &v), -EINVAL);
	assert_int_equal(rv_yaml_parse_size("16777216TiB", &v), -ERANGE);
	assert_string_equal(rv_yaml_format_size(64ULL << 20, buf,
	    sizeof(buf)), "64MiB");
	assert_string_equal(rv_yaml_format_size(1536, buf, sizeof(buf)),
	    "1536");
	assert_string_equal(rv_yaml_format_size(0, buf, sizeof(buf)), "0");
}

static void
test_size_keys(void **state)
{
	static const struct {
		const char *text;
		uint64_t bytes;
	} cases[] = {
		{ "1024K", 1ULL << 20 }, { "1024KiB", 1ULL << 20 },
		{ "64M", 64ULL << 20 }, { "64MiB", 64ULL << 20 },
		{ "2G", 2ULL << 30 }, { "4GiB", 4ULL << 30 },
		{ "4294967296", 4ULL << 30 },
	};
	struct rv_config_errors errs;
	struct rv_config *cfg;
	char text[1024];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), MINIMAL "memory:\n"
		    "  flow_log_max: %s\n  log_total_max: %s\n",
		    cases[i].text, i % 2 ? "1T" : "1TiB");
		cfg = load_text(text, &errs);
		rv_config_errors_print(&errs, stderr);
		assert_non_null(cfg);
		assert_true(cfg->memory.flow_log_max == cases[i].bytes);
		assert_true(cfg->memory.log_total_max == 1ULL << 40);
		rv_config_free(cfg);
	}
	expect_error(MINIMAL "memory: {flow_log_max: 64MB}\n", "t.yaml:12:24: "
	    "memory.flow_log_max: invalid size '64MB'; expected bytes as an "
	    "integer, or an integer with suffix K/KiB, M/MiB, G/GiB or T/TiB "
	    "(binary units: K = 1024)");
	expect_error(MINIMAL "memory: {flow_log_max: 32KiB}\n", "t.yaml:12:24: "
	    "memory.flow_log_max: size 32KiB is out of range 64KiB..4GiB");
	expect_error(MINIMAL "memory: {log_total_max: 2T}\n", "t.yaml:12:25: "
	    "memory.log_total_max: size 2T is out of range 1MiB..1TiB");
	expect_error(MINIMAL "memory: {flow_log_max: 99999999999999TiB}\n",
	    "t.yaml:12:24: memory.flow_log_max: size 99999999999999TiB is "
	    "out of range 64KiB..4GiB");
	expect_error(MINIMAL "memory: {flow_log_max: 2G, log_total_max: 1G}\n",
	    "t.yaml:12:43: memory.log_total_max: 1GiB is less than "
	    "memory.flow_log_max (2GiB); one connection's log must fit");
	expect_error(MINIMAL "memory: {flow_log_max: 2G}\n", "t.yaml:12:24: "
	    "memory.flow_log_max: 2GiB is more than memory.log_total_max "
	    "(1GiB); raise log_total_max or lower this");
}

static void
test_enum(void **state)
{
	expect_error(MINIMAL "log_level: verbose\n", "t.yaml:12:12: "
	    "log_level: invalid value 'verbose'; expected one of: error, "
	    "warning, info, debug");
}

static void
test_addresses(void **state)
{
	static const char *const expected[] = {
		"t.yaml:4:27: servers[0].addresses[1]: invalid IP address "
		"'1.2.3'; expected an IPv4 or IPv6 literal",
		"t.yaml:4:34: servers[0].addresses[2]: invalid IP address "
		"'fe80::1%eth0'; expected an IPv4 or IPv6 literal",
		"t.yaml:4:48: servers[0].addresses[3]: invalid IP address "
		"'198.51.100.02'; expected an IPv4 or IPv6 literal",
		NULL,
	};

	expect_errors(
	    "ports: {capture: net_a0, inject: net_a1}\n"
	    "backups: [{name: b, agent: \"203.0.113.3:7700\"}]\n"
	    "servers:\n"
	    "  - {addresses: [1.1.1.1, 1.2.3, fe80::1%eth0, 198.51.100.02], "
	    "name: s, ports: [22], backup: b}\n", expected);
}

static void
test_endpoints(void **state)
{
	static const char *const bad[] = {
		"203.0.113.3", "203.0.113.3:0", "203.0.113.3:65536",
		"203.0.113.3:+80", "2001:db8::3:7700", "[203.0.113.3]:7700",
		"[2001:db8::3]7700", "[2001:db8::3]:", ":7700", "host:7700",
		"203.0.113.3:07700",
	};
	struct rv_endpoint ep;
	char text[256], line[512];
	size_t i;

	assert_int_equal(rv_endpoint_parse("[::1]:65535", &ep), 0);
	assert_int_equal(ep.port, 65535);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(rv_endpoint_parse(bad[i], &ep), -EINVAL);
		snprintf(text, sizeof(text),
		    "ports: {capture: net_a0, inject: net_a1}\n"
		    "backups: [{name: b, agent: \"%s\"}]\n"
		    "servers: [{name: s, addresses: [198.51.100.2], "
		    "ports: [22], backup: b}]\n", bad[i]);
		snprintf(line, sizeof(line), "t.yaml:2:28: backups[0].agent: "
		    "invalid endpoint '%s'; expected IPv4:port or [IPv6]:port "
		    "with port 1..65535", bad[i]);
		expect_error(text, line);
	}
}

static void
test_devices_and_strings(void **state)
{
	const char *head = "backups: [{name: b, agent: \"203.0.113.3:7700\"}]\n"
	    "servers: [{name: s, addresses: [198.51.100.2], ports: [22], "
	    "backup: b}]\n";
	char text[1024];

	snprintf(text, sizeof(text), "%sports: {capture: eth0, inject: "
	    "\"0000:3b:20.0\"}\n", head);
	{
		static const char *const expected[] = {
			"t.yaml:3:18: ports.capture: invalid value 'eth0': "
			"expected a DPDK vdev string (net_<driver><n>"
			"[,key=value...], no spaces) or a PCI address "
			"(DDDD:BB:DD.F or BB:DD.F)",
			"t.yaml:3:32: ports.inject: invalid value "
			"'0000:3b:20.0': expected a DPDK vdev string "
			"(net_<driver><n>[,key=value...], no spaces) or a PCI "
			"address (DDDD:BB:DD.F or BB:DD.F)",
			NULL,
		};
		expect_errors(text, expected);
	}
	snprintf(text, sizeof(text), "%sports: {capture: \"net_x0,iface=a\", "
	    "inject: \"net_x0,iface=b\"}\n", head);
	expect_error(text, "t.yaml:3:44: ports.inject: the same device as "
	    "ports.capture; the inject port needs its own device");
	expect_error(MINIMAL "control_socket: run/x.sock\n", "t.yaml:12:17: "
	    "control_socket: invalid value 'run/x.sock': expected an "
	    "absolute path");
	snprintf(text, sizeof(text), MINIMAL "control_socket: /%0107d\n", 0);
	expect_error(text, "t.yaml:12:17: control_socket: expected 1 to 107 "
	    "bytes, got 108");
}

static void
test_duplicates_and_references(void **state)
{
	static const char *const expected[] = {
		"t.yaml:5:11: backups[1].name: duplicate backup name 'b'; "
		"first given as backups[0].name at line 3",
		"t.yaml:9:34: servers[0].addresses[1]: duplicate address "
		"'2001:db8:1::2'; first given as servers[0].addresses[0] at "
		"line 9",
		"t.yaml:10:17: servers[0].ports[1]: duplicate value '22'; also "
		"given as servers[0].ports[0]",
		"t.yaml:11:13: servers[0].backup: no backup named 'nope' in "
		"backups",
		"t.yaml:12:11: servers[1].name: duplicate server name 's'; "
		"first given as servers[0].name at line 8",
		"t.yaml:13:17: servers[1].addresses[0]: duplicate address "
		"'2001:db8:1::2'; first given as servers[0].addresses[0] at "
		"line 9",
		NULL,
	};

	expect_errors(
	    "ports: {capture: net_a0, inject: net_a1}\n"
	    "backups:\n"
	    "  - name: b\n"
	    "    agent: 203.0.113.3:7700\n"
	    "  - name: b\n"
	    "    agent: 203.0.113.4:7700\n"
	    "servers:\n"
	    "  - name: s\n"
	    "    addresses: [\"2001:db8:1::2\", 2001:db8:1:0::2]\n"
	    "    ports: [22, 22]\n"
	    "    backup: nope\n"
	    "  - name: s\n"
	    "    addresses: [2001:db8:1::2]\n"
	    "    ports: [22]\n"
	    "    backup: b\n", expected);
}

static void
test_list_counts(void **state)
{
	static const char *const no_backups[] = {
		"t.yaml:2:10: backups: expected 1 to 64 entries, got 0",
		"t.yaml:3:69: servers[0].backup: no backup named 'b' in "
		"backups",
		NULL,
	};

	expect_errors("ports: {capture: net_a0, inject: net_a1}\n"
	    "backups: []\n"
	    "servers: [{name: s, addresses: [198.51.100.2], ports: [22], "
	    "backup: b}]\n", no_backups);
	expect_error(MINIMAL "eal: {args: [a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,"
	    "a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,"
	    "a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a]}\n",
	    "t.yaml:12:13: eal.args: expected 0 to 64 entries, got 65");
}

/* Errors come out in file order although checks run in several passes. */
static void
test_errors_in_file_order(void **state)
{
	static const char *const expected[] = {
		"t.yaml:1:1: ports: required key is missing",
		"t.yaml:1:12: log_level: invalid value 'x'; expected one of: "
		"error, warning, info, debug",
		"t.yaml:3:10: backups[1].name: duplicate backup name 'b'; "
		"first given as backups[0].name at line 2",
		NULL,
	};

	expect_errors(
	    "log_level: x\n"
	    "backups: [{name: b, agent: \"203.0.113.3:7700\"},\n"
	    "  {name: b, agent: \"203.0.113.3:7701\"}]\n"
	    "servers: [{name: s, addresses: [198.51.100.2], ports: [22], "
	    "backup: b}]\n", expected);
}

static void
test_too_many_errors(void **state)
{
	struct rv_config_errors errs;
	char text[4096];
	size_t used = 0, i;

	for (i = 0; i < 30; i++)
		used += (size_t)snprintf(text + used, sizeof(text) - used,
		    "bad%zu: 1\n", i);
	assert_null(load_text(text, &errs));
	assert_int_equal(errs.list.count, RV_YAML_MAX_ERRORS + 1);
	/* Errors at one position keep the order in which they were found. */
	assert_string_equal(errs.list.lines[1], "t.yaml:1:1: ports: "
	    "required key is missing");
	assert_string_equal(errs.list.lines[0], "t.yaml:1:1: bad0: unknown "
	    "key 'bad0'; known keys: log_level, control_socket, eal, ports, "
	    "checkpoints, memory, stats_interval_s, detection, handoff, backups, "
	    "servers");
	assert_string_equal(errs.list.lines[19], "t.yaml:17:1: bad16: "
	    "unknown key 'bad16'; known keys: log_level, control_socket, eal, "
	    "ports, checkpoints, memory, stats_interval_s, detection, handoff, backups, "
	    "servers");
	assert_string_equal(errs.list.lines[20], "t.yaml: too many errors "
	    "(33 in total); only the first 20 are shown");
	rv_config_errors_clear(&errs);
}

static void
test_addr_helpers(void **state)
{
	struct rv_addr a, b;
	char text[RV_ADDR_STRLEN];

	assert_int_equal(rv_addr_parse("198.51.100.2", &a), 0);
	assert_int_equal(a.family, 4);
	assert_int_equal(a.bytes[0], 198);
	assert_int_equal(a.bytes[3], 2);
	assert_int_equal(a.bytes[4], 0);
	assert_string_equal(rv_addr_format(&a, text, sizeof(text)),
	    "198.51.100.2");
	assert_int_equal(rv_addr_parse("2001:DB8:0::2", &b), 0);
	assert_int_equal(b.family, 6);
	assert_string_equal(rv_addr_format(&b, text, sizeof(text)),
	    "2001:db8::2");
	assert_false(rv_addr_equal(&a, &b));
	assert_int_equal(rv_addr_parse("::ffff:198.51.100.2", &b), 0);
	assert_false(rv_addr_equal(&a, &b));
	assert_int_equal(rv_addr_parse("198.51.100", &b), -EINVAL);
	assert_int_equal(b.family, 0);
	assert_string_equal(rv_addr_format(&b, text, sizeof(text)), "-");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal_defaults),
		cmocka_unit_test(test_full_config),
		cmocka_unit_test(test_find_server),
		cmocka_unit_test(test_drivers_conf_profiles),
		cmocka_unit_test(test_lab_profile_values),
		cmocka_unit_test(test_unreadable_file),
		cmocka_unit_test(test_empty_file),
		cmocka_unit_test(test_input_limits),
		cmocka_unit_test(test_syntax_error),
		cmocka_unit_test(test_migration_settings),
		cmocka_unit_test(test_migration_errors),
		cmocka_unit_test(test_probe_address),
		cmocka_unit_test(test_probe_address_errors),
		cmocka_unit_test(test_probe_address6),
		cmocka_unit_test(test_probe_address6_errors),
		cmocka_unit_test(test_bad_mac),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_missing_keys),
		cmocka_unit_test(test_duplicate_key),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_power_of_two),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_size_keys),
		cmocka_unit_test(test_enum),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_endpoints),
		cmocka_unit_test(test_devices_and_strings),
		cmocka_unit_test(test_duplicates_and_references),
		cmocka_unit_test(test_list_counts),
		cmocka_unit_test(test_errors_in_file_order),
		cmocka_unit_test(test_too_many_errors),
		cmocka_unit_test(test_addr_helpers),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
