/* SPDX-License-Identifier: BSD-3-Clause */
/* One management connection: challenge, handoff, restores, reply. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "agent.h"

static void
send_reject(const struct rv_agent *agent, int fd, const char *peer,
    const char *reason)
{
	uint8_t *msg;
	size_t len;
	int rc;

	if (rv_handoff_reject_encode(reason, &msg, &len) != 0)
		return;
	rc = rv_handoff_send_frame(fd, msg, len,
	    (int)agent->cfg->limits.io_timeout_ms);
	free(msg);
	if (rc != 0)
		rv_debug("appliance %s: reject not sent: %s", peer,
		    rv_handoff_strerror(rc));
}

/* Adds the address, then announces it: the restored sockets may send at
 * once, and the clients' replies must come here. */
static int
add_identity_address(const struct rv_agent_identity *id,
    const struct rv_handoff *h, char *why, size_t why_len)
{
	char addr[RV_ADDR_STRLEN];
	int rc;

	rc = rv_agent_add_address(id->interface, &h->server, id->prefix_len,
	    why, why_len);
	if (rc != 0)
		return rc;
	if (rv_agent_announce(id->interface, &h->server, why, why_len) != 0)
		rv_warn("identity %s: announcement failed: %s; the "
		    "appliance's announcement follows",
		    rv_addr_format(&h->server, addr, sizeof(addr)), why);
	return 0;
}

/*
 * Restores every connection, then adds and announces the address, then
 * lets the sockets speak: a client segment that reaches this host finds
 * its socket, never a missing one that would reply with a reset, and the
 * client's replies to what the sockets send come here, not to the fenced
 * primary.
 */
static void
run_handoff(const struct rv_agent *agent, const struct rv_handoff *h,
    const struct rv_agent_identity *id, int64_t received_ms,
    struct rv_handoff_result *results)
{
	char addr[RV_ADDR_STRLEN], why[200];
	int64_t *restore_us;
	size_t i, restored = 0;
	int *fds;

	rv_addr_format(&h->server, addr, sizeof(addr));
	fds = calloc(h->conn_count + 1, sizeof(*fds));
	restore_us = calloc(h->conn_count + 1, sizeof(*restore_us));
	if (fds == NULL || restore_us == NULL) {
		for (i = 0; i < h->conn_count; i++) {
			results[i].status = RV_HANDOFF_FAILED;
			snprintf(results[i].reason, sizeof(results[i].reason),
			    "agent out of memory");
		}
		goto out;
	}
	for (i = 0; i < h->conn_count; i++)
		if (rv_agent_restore_conn(id, &h->conns[i], received_ms,
		    &fds[i], &restore_us[i], &results[i]) != 0)
			rv_agent_log_result(h, &h->conns[i], &results[i],
			    received_ms);
	if (add_identity_address(id, h, why, sizeof(why)) != 0) {
		/* Nothing may reply to the clients from here: the sockets go
		 * silently, and the address must be added by hand. */
		rv_err("identity %s: address not added: %s", addr, why);
		for (i = 0; i < h->conn_count; i++) {
			if (fds[i] < 0)
				continue;
			rv_agent_drop_conn(fds[i]);
			results[i].status = RV_HANDOFF_FAILED;
			snprintf(results[i].reason, sizeof(results[i].reason),
			    "address not added: %.150s", why);
		}
		goto out;
	}
	restored = rv_agent_release_all(agent, id, h, received_ms, fds, restore_us,
	    results);
	rv_info("identity %s: added to %s/%u, %zu of %zu connections "
	    "restored", addr, id->interface, id->prefix_len, restored,
	    h->conn_count);
out:
	free(fds);
	free(restore_us);
}

/* Verifies and decodes one handoff; on failure logs and rejects it. */
static int
accept_handoff(struct rv_agent *agent, int fd, const char *peer,
    const uint8_t *challenge, uint8_t *msg, size_t len, struct rv_handoff *h)
{
	const struct rv_handoff_limits lim = {
		.max_message = agent->cfg->limits.max_message,
		.max_connections = agent->cfg->limits.max_connections,
	};
	int rc;

	rc = rv_handoff_accept(msg, len, challenge, agent->keys,
	    agent->key_count, &lim, h);
	if (rc != 0) {
		agent->handoffs_rejected++;
		rv_err("appliance %s: handoff rejected: %s (claimed appliance "
		    "'%.64s', %zu bytes)", peer, rv_handoff_strerror(rc),
		    h->appliance[0] != '\0' ? h->appliance : "-", len);
		send_reject(agent, fd, peer, rv_handoff_strerror(rc));
	}
	return rc;
}

static void
reply_results(const struct rv_agent *agent, int fd, const char *peer,
    const struct rv_handoff *h, const struct rv_handoff_result *results)
{
	uint8_t *msg;
	size_t len;
	int rc;

	rc = rv_handoff_result_encode(h->id, results, h->conn_count, &msg,
	    &len);
	if (rc == 0) {
		rc = rv_handoff_send_frame(fd, msg, len,
		    (int)agent->cfg->limits.io_timeout_ms);
		free(msg);
	}
	if (rc != 0)
		rv_err("appliance %s: result of handoff %llu not sent: %s",
		    peer, (unsigned long long)h->id, rv_handoff_strerror(rc));
}

static void
handle_handoff(struct rv_agent *agent, int fd, const char *peer,
    const uint8_t *challenge, uint8_t *msg, size_t len, int64_t received_ms)
{
	const struct rv_agent_identity *id;
	struct rv_handoff_result *results = NULL;
	struct rv_handoff h;
	char addr[RV_ADDR_STRLEN], reason[RV_HANDOFF_REASON_MAX + 1];

	if (accept_handoff(agent, fd, peer, challenge, msg, len, &h) != 0)
		return;
	rv_addr_format(&h.server, addr, sizeof(addr));
	if ((id = rv_agent_find_identity(agent->cfg, &h.server)) == NULL) {
		agent->handoffs_rejected++;
		snprintf(reason, sizeof(reason), "server address %s is not "
		    "an identity of this agent", addr);
		rv_err("appliance %s: handoff %llu rejected: %s", peer,
		    (unsigned long long)h.id, reason);
		send_reject(agent, fd, peer, reason);
		goto out;
	}
	agent->handoffs_accepted++;
	rv_info("appliance %s: handoff %llu from appliance %s: identity %s, "
	    "%zu connections", peer, (unsigned long long)h.id, h.appliance,
	    addr, h.conn_count);
	if (h.conn_count > 0 &&
	    (results = calloc(h.conn_count, sizeof(*results))) == NULL) {
		rv_err("appliance %s: handoff %llu: out of memory", peer,
		    (unsigned long long)h.id);
		send_reject(agent, fd, peer, "out of memory");
		goto out;
	}
	run_handoff(agent, &h, id, received_ms, results);
	reply_results(agent, fd, peer, &h, results);
 out:
	free(results);
	rv_handoff_clear(&h);
}

void
rv_agent_serve_connection(struct rv_agent *agent, int fd, const char *peer)
{
	uint8_t challenge[RV_HANDOFF_CHALLENGE_LEN];
	uint8_t hello[RV_HANDOFF_CHALLENGE_MSG_LEN];
	int timeout = (int)agent->cfg->limits.io_timeout_ms;
	uint8_t *msg = NULL;
	size_t len;
	int rc;

	/* A fresh challenge per connection: a handoff signed for an
	 * earlier one carries a different challenge and fails. */
	if (RAND_bytes(challenge, sizeof(challenge)) != 1) {
		rv_err("appliance %s: no random bytes for a challenge", peer);
		goto out;
	}
	rv_handoff_challenge_encode(challenge, hello);
	if ((rc = rv_handoff_send_frame(fd, hello, sizeof(hello),
	    timeout)) != 0) {
		rv_warn("appliance %s: challenge not sent: %s", peer,
		    rv_handoff_strerror(rc));
		goto out;
	}
	rc = rv_handoff_recv_frame(fd, agent->cfg->limits.max_message, timeout,
	    &msg, &len);
	if (rc != 0) {
		agent->handoffs_rejected++;
		rv_err("appliance %s: no handoff read: %s", peer,
		    rc == -ECONNRESET ? "connection closed before a whole "
		    "frame (truncated)" : rv_handoff_strerror(rc));
		if (rc == -E2BIG || rc == -EBADMSG)
			send_reject(agent, fd, peer, rv_handoff_strerror(rc));
		goto out;
	}
	handle_handoff(agent, fd, peer, challenge, msg, len, rv_agent_now_ms());
 out:
	free(msg);
	close(fd);
}
