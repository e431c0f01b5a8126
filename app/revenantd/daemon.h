/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef RV_DAEMON_H
#define RV_DAEMON_H

/*
 * State of the running revenantd shared by its main-lcore parts: ports,
 * control commands and telemetry. The capture lcore sees only its struct
 * rv_capture and the flow table.
 */

#include <pthread.h>
#include <stdint.h>

#include "capture.h"
#include "config.h"
#include "ctl_server.h"
#include "flow_table.h"

struct rte_mempool;
struct rv_migration;
struct rv_server_health;
typedef struct evp_pkey_st EVP_PKEY;

/* Migrations kept for "revenantctl migration ID" since start-up. */
#define RV_DAEMON_MAX_MIGRATIONS	64

/* One DPDK port revenantd opened, with its kernel-side drop counters. */
struct rv_port {
	const char *role;		/* "capture" or "inject" */
	const char *spec;		/* as configured */
	char name[64];			/* DPDK device name */
	char iface[32];			/* af_packet interface, or "" */
	uint16_t id;
	/* PACKET_STATISTICS of the af_packet sockets, summed: the kernel
	 * resets them on each read. DPDK 22.11's af_packet PMD reports no
	 * imissed, so this is where its ring drops show. */
	uint64_t kernel_packets;
	uint64_t kernel_drops;
	uint8_t mac[6];			/* the port's own MAC */
};

struct rv_daemon {
	const char *config_path;
	struct rv_config *config;
	struct rv_port capture_port;
	struct rv_port inject_port;
	struct rte_mempool *mbufs;
	struct rte_mempool *dump_mbufs;
	struct rv_flow_table *table;
	struct rv_capture capture;
	struct rv_ctl_server *ctl;
	uint64_t started_ns;
	EVP_PKEY *handoff_key;		/* signs handoffs to the agents */
	/* Serialises transmission on the inject port: the main lcore sends
	 * probes, migration threads send announcements and ACKs. */
	pthread_mutex_t inject_lock;
	struct rv_server_health *health;	/* one per configured server */
	uint64_t last_probe_ns;
	uint64_t drops_at_last_probe;
	struct rv_migration *migrations[RV_DAEMON_MAX_MIGRATIONS];
	size_t n_migrations;
};

/* Ports: open, start and check a configured port; read drop counters. */
int rv_port_open(struct rv_port *port, const char *role, const char *spec,
    struct rte_mempool *mbufs, uint16_t ring_size);
void rv_port_close(struct rv_port *port);
void rv_port_poll_drops(struct rv_port *port);
/* Sends one frame through the inject port. Any thread. Returns 0 or a
 * negative errno value. */
int rv_port_inject(struct rv_daemon *d, const uint8_t *frame, int len);
/* Builds the EAL argument that makes a configured port exist. */
int rv_port_eal_arg(const char *spec, char *buf, size_t len);

/* Registers flows, flow ID and dump ID on the control socket. */
int rv_commands_register(struct rv_daemon *d);

/* Registers stats and servers, and /revenant/stats in DPDK telemetry. */
int rv_stats_register(struct rv_daemon *d);

/* Logs one line of the main counters. Main lcore. */
void rv_stats_log(struct rv_daemon *d);

#endif
