/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef RV_AGENT_H
#define RV_AGENT_H

/*
 * revenant-agent: the privileged daemon on a backup host. It accepts signed
 * handoffs from the appliance (app/lib/handoff.h), restores each TCP
 * connection with TCP_REPAIR, passes the socket to the local service over a
 * Unix socket, and then adds the server address to its interface.
 * Single-threaded: every function here runs on the main thread.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "addr.h"
#include "handoff.h"
#include "log.h"
#include "yaml_schema.h"

#define RV_AGENT_NAME_MAX		RV_HANDOFF_NAME_MAX
#define RV_AGENT_APPLIANCES_MAX		16
#define RV_AGENT_IDENTITIES_MAX		64
#define RV_AGENT_SERVICES_MAX		16	/* per identity */
#define RV_AGENT_SOCKET_PATH_MAX	107	/* bytes of sun_path, no NUL */
#define RV_AGENT_IFNAME_MAX		15	/* IFNAMSIZ - 1 */
/* Each adopt in flight uses a Unix socket here and a child in the service. */
#define RV_AGENT_ADOPTS_IN_FLIGHT_MAX	256

/* An appliance whose handoffs are accepted. */
struct rv_agent_appliance {
	char *name;
	uint8_t public_key[RV_HANDOFF_PUBLIC_KEY_LEN];	/* Ed25519, raw */
};

/* A local service that adopts the connections to one port. */
struct rv_agent_service {
	uint16_t port;
	char *socket;			/* absolute path of its adopt socket */
};

/* A server address this host may take over. */
struct rv_agent_identity {
	struct rv_addr address;
	char *interface;
	uint8_t prefix_len;
	struct rv_agent_service *services;
	size_t service_count;
};

struct rv_agent_limits {
	uint64_t max_message;		/* bytes of one handoff payload */
	uint32_t max_connections;	/* per handoff */
	uint32_t io_timeout_ms;		/* per read or write on the network */
	uint32_t service_timeout_ms;	/* per step on a service's socket */
	uint32_t max_adopts_in_flight;	/* adopt messages awaiting an answer */
};

struct rv_agent_config {
	struct rv_endpoint listen;
	enum rv_log_level log_level;
	struct rv_agent_appliance *appliances;
	size_t appliance_count;
	struct rv_agent_identity *identities;
	size_t identity_count;
	struct rv_agent_limits limits;
};

/*
 * Reads and validates the YAML file at path. Returns the configuration, to
 * be released with rv_agent_config_free(), or NULL after filling errs with
 * "FILE:LINE:COLUMN: KEY: message" lines. errs must be zeroed.
 */
struct rv_agent_config *rv_agent_config_load_file(const char *path,
    struct rv_yaml_errors *errs);
struct rv_agent_config *rv_agent_config_load_buffer(const char *name,
    const void *buf, size_t len, struct rv_yaml_errors *errs);
void rv_agent_config_free(struct rv_agent_config *cfg);

/* Logs the effective configuration at info level, "config: ..." lines. */
void rv_agent_config_log(const struct rv_agent_config *cfg);

/* Returns the identity that owns addr, or NULL. */
const struct rv_agent_identity *rv_agent_find_identity(
    const struct rv_agent_config *cfg, const struct rv_addr *addr);

/* The running agent: its configuration and its keys as OpenSSL objects. */
struct rv_agent {
	const struct rv_agent_config *cfg;
	struct rv_handoff_key *keys;
	size_t key_count;
	uint64_t handoffs_accepted;
	uint64_t handoffs_rejected;
};

/*
 * Serves one accepted management connection fd from peer (for log lines)
 * to its end: challenge, handoff, restores, reply. Closes fd. Never fails
 * the process: every problem is logged and answered.
 */
void rv_agent_serve_connection(struct rv_agent *agent, int fd,
    const char *peer);

/*
 * Restores connection c with TCP_REPAIR, bound to the server address that
 * may not be local yet, with its unacknowledged bytes in the send queue
 * as if sent (the retransmission timer sends what the client lacks). Sets
 * *fd_out and *restore_us (time taken). Returns 0, or a negative errno
 * value with res filled in.
 */
int rv_agent_restore_conn(const struct rv_agent_identity *id,
    const struct rv_handoff_conn *c, int64_t received_ms, int *fd_out,
    int64_t *restore_us, struct rv_handoff_result *res);

/* Returns the service of id that adopts connections to port, or NULL. */
const struct rv_agent_service *rv_agent_find_service(
    const struct rv_agent_identity *id, uint16_t port);

/*
 * After the address moved: passes each restored socket fds[i] (-1: none)
 * of handoff h to its service with the adopt message, up to
 * limits.max_adopts_in_flight at a time, each reply awaited for
 * limits.service_timeout_ms. Fills results[i], logs each outcome and
 * consumes every socket. Returns the number adopted.
 */
size_t rv_agent_release_all(const struct rv_agent *agent,
    const struct rv_agent_identity *id, const struct rv_handoff *h,
    int64_t received_ms, int *fds, const int64_t *restore_us,
    struct rv_handoff_result *results);

/* Logs the outcome res of connection c of handoff h, received at
 * received_ms (rv_agent_now_ms()). */
void rv_agent_log_result(const struct rv_handoff *h,
    const struct rv_handoff_conn *c, const struct rv_handoff_result *res,
    int64_t received_ms);

/* Closes a restored socket without sending FIN or RST. */
void rv_agent_drop_conn(int fd);

/*
 * Adds address/prefix_len to the interface named ifname with netlink
 * (RTM_NEWADDR); an address already there counts as success. IPv6 gets
 * IFA_F_NODAD so it is usable at once. Returns 0 or a negative errno, with
 * a reason in why.
 */
int rv_agent_add_address(const char *ifname, const struct rv_addr *address,
    uint8_t prefix_len, char *why, size_t why_len);

/*
 * Announces address for the MAC of ifname: gratuitous ARP for IPv4, an
 * unsolicited neighbour advertisement for IPv6, a few times. Returns 0 or
 * a negative errno, with a reason in why.
 */
int rv_agent_announce(const char *ifname, const struct rv_addr *address,
    char *why, size_t why_len);

/* CLOCK_MONOTONIC in milliseconds. */
int64_t rv_agent_now_ms(void);

#endif
