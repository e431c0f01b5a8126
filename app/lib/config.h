/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef RV_CONFIG_H
#define RV_CONFIG_H

/*
 * The YAML configuration of revenantd: its struct, its loader and lookups.
 * The whole file is validated before anything starts. Each problem is
 * reported as "FILE:LINE:COLUMN: KEY: message", with LINE and COLUMN 1-based
 * and KEY a dotted path such as servers[1].ports[0]. Errors come in file
 * order, at most RV_YAML_MAX_ERRORS of them, then a "too many errors" line.
 * drivers-conf/revenantd-lab.yaml documents every key.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "addr.h"
#include "log.h"
#include "yaml_schema.h"

#define RV_CONFIG_NAME_MAX		32	/* bytes of a server or backup name */
#define RV_CONFIG_SOCKET_PATH_MAX	107	/* bytes of sun_path without NUL */
#define RV_CONFIG_EAL_ARGS_MAX		64
#define RV_CONFIG_BACKUPS_MAX		64
#define RV_CONFIG_SERVERS_MAX		256
#define RV_CONFIG_ADDRESSES_MAX		8	/* per server */
#define RV_CONFIG_PORTS_MAX		16	/* per server */

/* The revenant-agent of one backup host, on the management network. */
/* An Ethernet MAC address read from the file. */
struct rv_mac {
	bool set;
	uint8_t bytes[6];
};

struct rv_backup {
	char *name;
	struct rv_endpoint agent;
	/* MAC of the backup's interface on the served segment: gratuitous
	 * ARP announces the taken-over addresses for it. */
	struct rv_mac mac;
};

/* One monitored server: its addresses, its TCP service ports, its backup. */
struct rv_server {
	char *name;
	struct rv_addr *addresses;
	size_t address_count;
	uint16_t *ports;		/* host byte order */
	size_t port_count;
	char *backup_name;		/* as written in the file */
	uint32_t backup;		/* index into rv_config.backups */
	/* OpenSSH public key line of the Ed25519 host key that signs the
	 * server's checkpoints; NULL: not configured, nothing is filed. */
	char *host_key;
	bool has_host_key;
	uint8_t host_key_raw[32];	/* the key itself, when has_host_key */
	/* Shell command, run with /bin/sh -c, that powers off or isolates
	 * the server before its connections move. "none" skips fencing, and
	 * NULL (absent) refuses every migration of this server. */
	char *fence;
	uint32_t fence_timeout_ms;
	/* Resume style of the backup's service (enum rv_resume). */
	int resume;
};

/*
 * Resume styles of a backup's service. SSH resumes from the primary's
 * latest checkpoint and the bytes logged after it. A service written to
 * replay its streams ("stream") needs both streams from the first byte and
 * no checkpoint.
 */
enum rv_resume {
	RV_RESUME_CHECKPOINT = 0,
	RV_RESUME_STREAM,
};

/* Failure detection settings. */
struct rv_detection_config {
	bool enabled;			/* take over on its own */
	uint32_t probe_interval_ms;	/* ARP, NS and SYN probes of a server */
	uint32_t probe_misses;		/* unanswered probe rounds in a row */
	uint32_t passive_window_ms;	/* clients waiting this long */
	/* IPv4 address on the served segment that the appliance owns: the
	 * source of SYN probes. Family 0: none, so only ARP probes. */
	struct rv_addr probe_address;
	/* Its IPv6 counterpart: the source of neighbour solicitations and
	 * IPv6 SYN probes. Family 0: none, so servers get solicitations from
	 * the unspecified address and no IPv6 SYN probes. */
	struct rv_addr probe_address6;
};

/* Signing and sending of handoffs to the agents. */
struct rv_handoff_config {
	char *name;			/* the agents know our key by it */
	char *key_file;			/* Ed25519 private key, PEM, 0600 */
	uint32_t timeout_ms;		/* per connect, read and write */
};

/* DPDK EAL arguments. */
struct rv_eal_config {
	char **args;			/* NULL-terminated, without argv[0] */
	size_t arg_count;
};

/* The two DPDK ports and their rx settings. */
struct rv_ports_config {
	char *capture;			/* DPDK vdev string or PCI address */
	char *inject;
	uint32_t rx_ring_size;		/* descriptors, a power of two */
	uint32_t burst_size;		/* packets per rx burst */
	uint32_t mbufs;			/* mbufs in the packet pool */
};

struct rv_checkpoints_config {
	uint16_t export_port;		/* UDP port of checkpoint datagrams */
	uint64_t max_bytes;		/* all stored checkpoints together */
	uint32_t heartbeat_timeout_ms;	/* silence before a server is stale */
};

/* Caps of the flow table and the stream logs, and their timeouts. */
struct rv_memory_config {
	uint32_t max_flows;
	uint64_t flow_log_max;		/* bytes per connection, both ways */
	uint64_t log_total_max;		/* bytes of all logs together */
	uint32_t gap_timeout_ms;	/* hole open after the peer's ACK */
	uint32_t idle_timeout_s;	/* silent connection dropped */
	uint32_t closed_linger_s;	/* closed connection still listed */
};

struct rv_config {
	enum rv_log_level log_level;
	char *control_socket;		/* absolute path */
	struct rv_eal_config eal;
	struct rv_ports_config ports;
	struct rv_checkpoints_config checkpoints;
	struct rv_memory_config memory;
	uint32_t stats_interval_s;	/* 0 disables the counter log */
	struct rv_handoff_config handoff;	/* name NULL: not configured */
	struct rv_detection_config detection;
	struct rv_backup *backups;
	size_t backup_count;
	struct rv_server *servers;
	size_t server_count;
};

/* The error lines of one load; list.count is 0 after a valid load. */
struct rv_config_errors {
	struct rv_yaml_errors list;
};

/*
 * Reads and validates the file at path. Returns a configuration with every
 * default filled in, to be released with rv_config_free(). Returns NULL
 * when the file is unreadable or invalid, and then errs contains the
 * reasons. errs must be zeroed by the caller or cleared with
 * rv_config_errors_clear() beforehand. Reads the file whole
 * (at most RV_YAML_MAX_INPUT bytes). Any thread; no shared state.
 */
struct rv_config *rv_config_load_file(const char *path,
    struct rv_config_errors *errs);

/*
 * Same as rv_config_load_file() on len bytes at buf; name stands for the
 * file in error lines. buf need not be NUL-terminated and is not kept.
 */
struct rv_config *rv_config_load_buffer(const char *name, const void *buf,
    size_t len, struct rv_config_errors *errs);

/* Frees cfg and everything it owns. cfg may be NULL. */
void rv_config_free(struct rv_config *cfg);

/*
 * Logs the effective configuration at info level, one line per section,
 * each starting with "config:". Call once at start-up.
 */
void rv_config_log(const struct rv_config *cfg);

/*
 * Logs a warning for each setting that leaves part of revenant off without
 * being an error: no handoff section, a server without host_key or fence,
 * 'fence: none', detection without probe addresses. revenantd calls it at
 * start-up and for --check-config.
 */
void rv_config_warn(const struct rv_config *cfg);

/*
 * Returns the index of the server that owns addr and serves TCP port (host
 * byte order), or -1 when addr:port is not monitored. A linear scan of at
 * most RV_CONFIG_SERVERS_MAX * 8 addresses: call it when a flow is created,
 * not per packet.
 */
int rv_config_find_server(const struct rv_config *cfg,
    const struct rv_addr *addr, uint16_t port);

/* Prints each error line of errs with a newline to out. */
void rv_config_errors_print(const struct rv_config_errors *errs, FILE *out);

/* Frees the lines of errs so it can be used for another load. */
void rv_config_errors_clear(struct rv_config_errors *errs);

#endif
