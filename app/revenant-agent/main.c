/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * revenant-agent [-t] -f FILE
 *
 * Loads the configuration, listens on the management address and serves
 * one handoff connection at a time until SIGTERM or SIGINT. -t only checks
 * the configuration.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"

#ifndef REVENANT_VERSION
#define REVENANT_VERSION "unknown"
#endif

static volatile sig_atomic_t stop_requested;

static void
on_stop(int sig)
{
	stop_requested = sig;
}

static void
usage(void)
{
	fprintf(stderr, "usage: revenant-agent [-t] -f FILE\n"
	    "  -f FILE  configuration (YAML)\n"
	    "  -t       check the configuration and exit\n");
}

static int
listen_on(const struct rv_endpoint *ep)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	int fd, one = 1;

	if (ep->addr.family == 4) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(ep->port);
		memcpy(&v4->sin_addr, ep->addr.bytes, 4);
		len = sizeof(*v4);
	} else {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(ep->port);
		memcpy(&v6->sin6_addr, ep->addr.bytes, 16);
		len = sizeof(*v6);
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 16) != 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	return fd;
}

static void
peer_name(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	struct rv_endpoint ep = { 0 };

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *v4 = (const struct sockaddr_in *)ss;

		ep.addr.family = 4;
		memcpy(ep.addr.bytes, &v4->sin_addr, 4);
		ep.port = ntohs(v4->sin_port);
	} else {
		const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)ss;

		ep.addr.family = 6;
		memcpy(ep.addr.bytes, &v6->sin6_addr, 16);
		ep.port = ntohs(v6->sin6_port);
	}
	rv_endpoint_format(&ep, buf, len);
}

static int
load_keys(struct rv_agent *agent)
{
	const struct rv_agent_config *cfg = agent->cfg;
	size_t i;

	agent->keys = calloc(cfg->appliance_count, sizeof(*agent->keys));
	if (agent->keys == NULL)
		return -ENOMEM;
	for (i = 0; i < cfg->appliance_count; i++) {
		agent->keys[i].name = cfg->appliances[i].name;
		agent->keys[i].key = EVP_PKEY_new_raw_public_key(
		    EVP_PKEY_ED25519, NULL, cfg->appliances[i].public_key,
		    RV_HANDOFF_PUBLIC_KEY_LEN);
		if (agent->keys[i].key == NULL)
			return -EINVAL;
		agent->key_count++;
	}
	return 0;
}

static void
free_keys(struct rv_agent *agent)
{
	size_t i;

	for (i = 0; i < agent->key_count; i++)
		EVP_PKEY_free(agent->keys[i].key);
	free(agent->keys);
}

static void
serve(struct rv_agent *agent, int lfd)
{
	struct sockaddr_storage ss;
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };
	socklen_t sslen;
	char peer[RV_ENDPOINT_STRLEN];
	int fd;

	while (!stop_requested) {
		if (poll(&pfd, 1, 1000) <= 0)
			continue;
		sslen = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &sslen, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EINTR && errno != ECONNABORTED)
				rv_warn("listen socket: accept failed: %s",
				    strerror(errno));
			continue;
		}
		peer_name(&ss, peer, sizeof(peer));
		rv_debug("appliance %s: connected", peer);
		/* NOTE: one connection at a time; a stalled peer holds the
		 * others back for at most limits.io_timeout_ms per step. */
		rv_agent_serve_connection(agent, fd, peer);
	}
}

int
main(int argc, char **argv)
{
	struct rv_yaml_errors errs = { 0 };
	struct rv_agent_config *cfg;
	struct rv_agent agent = { 0 };
	struct sigaction sa = { .sa_handler = on_stop };
	const char *path = NULL;
	char ep[RV_ENDPOINT_STRLEN];
	bool check_only = false;
	int ch, lfd, status = 1;

	rv_log_set_ident("revenant-agent");
	while ((ch = getopt(argc, argv, "f:th")) != -1) {
		switch (ch) {
		case 'f':
			path = optarg;
			break;
		case 't':
			check_only = true;
			break;
		default:
			usage();
			return ch == 'h' ? 0 : 2;
		}
	}
	if (path == NULL || optind != argc) {
		usage();
		return 2;
	}
	if ((cfg = rv_agent_config_load_file(path, &errs)) == NULL) {
		rv_yaml_errors_print(&errs, stderr);
		rv_yaml_errors_clear(&errs);
		return 1;
	}
	if (check_only) {
		printf("%s: configuration valid\n", path);
		rv_agent_config_free(cfg);
		return 0;
	}
	rv_log_set_level(cfg->log_level);
	rv_info("revenant-agent %s starting", REVENANT_VERSION);
	rv_agent_config_log(cfg);
	agent.cfg = cfg;
	if (load_keys(&agent) != 0) {
		rv_err("config: appliance keys could not be loaded");
		goto out;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	rv_endpoint_format(&cfg->listen, ep, sizeof(ep));
	if ((lfd = listen_on(&cfg->listen)) < 0) {
		rv_err("listen %s: %s", ep, strerror(-lfd));
		goto out;
	}
	rv_info("listen %s: waiting for handoffs", ep);
	serve(&agent, lfd);
	close(lfd);
	rv_info("stopping on signal %d: %llu handoffs accepted, %llu rejected",
	    (int)stop_requested, (unsigned long long)agent.handoffs_accepted,
	    (unsigned long long)agent.handoffs_rejected);
	status = 0;
 out:
	free_keys(&agent);
	rv_agent_config_free(cfg);
	return status;
}
