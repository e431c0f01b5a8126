/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * revenantd: the appliance. Reads the switch mirror with DPDK, logs every
 * monitored TCP connection, and serves revenantctl on a Unix socket.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_pcapng.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include "daemon.h"
#include "detect.h"
#include "migrate.h"
#include "flow_dump.h"
#include "log.h"

#define EXIT_CONFIG	2	/* the configuration is invalid */

static volatile sig_atomic_t stopping;

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: revenantd -c FILE     run with configuration FILE\n"
	    "       revenantd --check-config FILE\n"
	    "                              validate FILE and exit (status 2 "
	    "if invalid)\n"
	    "       revenantd --help | --version\n");
}

static struct rv_config *
load_config(const char *path)
{
	struct rv_config_errors errs;
	struct rv_config *cfg;

	memset(&errs, 0, sizeof(errs));
	cfg = rv_config_load_file(path, &errs);
	if (cfg == NULL)
		rv_config_errors_print(&errs, stderr);
	rv_config_errors_clear(&errs);
	return cfg;
}

/* EAL arguments: the configured ones, then one per port. */
static int
eal_init(struct rv_config *cfg)
{
	char *argv[RV_CONFIG_EAL_ARGS_MAX + 4];
	char capture[512], inject[512];
	int argc = 0, rc;
	size_t i;

	argv[argc++] = (char *)"revenantd";
	for (i = 0; i < cfg->eal.arg_count; i++)
		argv[argc++] = cfg->eal.args[i];
	if (rv_port_eal_arg(cfg->ports.capture, capture, sizeof(capture)) != 0 ||
	    rv_port_eal_arg(cfg->ports.inject, inject, sizeof(inject)) != 0) {
		rv_err("config: a port string is too long");
		return -1;
	}
	argv[argc++] = capture;
	argv[argc++] = inject;
	argv[argc] = NULL;
	rc = rte_eal_init(argc, argv);
	if (rc < 0) {
		rv_err("EAL: initialisation failed: %s; check eal.args and "
		    "that hugepages are reserved (drivers-conf/hugepages)",
		    rte_strerror(rte_errno));
		return -1;
	}
	return 0;
}

static int
open_ports(struct rv_daemon *d)
{
	const struct rv_config *cfg = d->config;
	uint16_t ring = (uint16_t)cfg->ports.rx_ring_size;

	d->mbufs = rte_pktmbuf_pool_create("revenant_mbufs", cfg->ports.mbufs,
	    256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	d->dump_mbufs = rte_pktmbuf_pool_create("revenant_dump", 256, 0, 0,
	    (uint16_t)rte_pcapng_mbuf_size(RV_FLOW_DUMP_FRAME_MAX),
	    (int)rte_socket_id());
	if (d->mbufs == NULL || d->dump_mbufs == NULL) {
		rv_err("mbuf pool: cannot create %u mbufs: %s; lower "
		    "ports.mbufs or reserve more hugepages", cfg->ports.mbufs,
		    rte_strerror(rte_errno));
		return -1;
	}
	if (rv_port_open(&d->capture_port, "capture", cfg->ports.capture,
	    d->mbufs, ring) != 0)
		return -1;
	if (rv_port_open(&d->inject_port, "inject", cfg->ports.inject,
	    d->mbufs, ring) != 0)
		return -1;
	return 0;
}

static int
create_table(struct rv_daemon *d)
{
	const struct rv_memory_config *mem = &d->config->memory;
	struct rv_flow_limits limits = {
		.log_max = mem->flow_log_max,
		.gap_timeout_ns = (uint64_t)mem->gap_timeout_ms * 1000000ull,
	};

	d->table = rv_flow_table_create(mem->max_flows, mem->log_total_max,
	    &limits, (uint64_t)mem->idle_timeout_s * 1000000000ull,
	    (uint64_t)mem->closed_linger_s * 1000000000ull,
	    (int)rte_socket_id());
	return d->table != NULL ? 0 : -1;
}

/* Loads the Ed25519 key that signs handoffs. A key that group or others
 * can read is refused: with it anyone could hand connections to a backup. */
static int
load_handoff_key(struct rv_daemon *d)
{
	const char *path = d->config->handoff.key_file;
	struct stat st;
	FILE *f;

	if (d->config->handoff.name == NULL)
		return 0;
	f = fopen(path, "r");
	if (f == NULL) {
		rv_err("handoff: cannot open key file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) != 0 || (st.st_mode & 077) != 0) {
		rv_err("handoff: key file %s is readable by group or others; "
		    "run chmod 600 %s", path, path);
		fclose(f);
		return -1;
	}
	d->handoff_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (d->handoff_key == NULL ||
	    EVP_PKEY_id(d->handoff_key) != EVP_PKEY_ED25519) {
		rv_err("handoff: %s is not a PEM Ed25519 private key; create "
		    "one with 'openssl genpkey -algorithm ed25519'", path);
		EVP_PKEY_free(d->handoff_key);
		d->handoff_key = NULL;
		return -1;
	}
	rv_info("handoff: signing as '%s' with key %s",
	    d->config->handoff.name, path);
	return 0;
}

static int
start_capture(struct rv_daemon *d)
{
	unsigned int lcore = rte_get_next_lcore(-1, 1, 0);

	if (lcore >= RTE_MAX_LCORE) {
		rv_err("EAL: capture needs a worker lcore besides the main "
		    "one; give eal.args two cores, such as '-l 0-1'");
		return -1;
	}
	d->capture.config = d->config;
	d->capture.table = d->table;
	d->capture.port = d->capture_port.id;
	d->capture.burst_size = (uint16_t)d->config->ports.burst_size;
	d->capture.inject_mac = (uint64_t)d->inject_port.mac[0] << 40 |
	    (uint64_t)d->inject_port.mac[1] << 32 |
	    (uint64_t)d->inject_port.mac[2] << 24 |
	    (uint64_t)d->inject_port.mac[3] << 16 |
	    (uint64_t)d->inject_port.mac[4] << 8 | d->inject_port.mac[5];
	if (rv_capture_init(&d->capture, (int)rte_socket_id()) != 0)
		return -1;
	if (rte_eal_remote_launch(rv_capture_lcore, &d->capture, lcore) != 0) {
		rv_err("EAL: cannot launch capture on lcore %u", lcore);
		return -1;
	}
	rv_info("capture: running on lcore %u", lcore);
	return 0;
}

static void
main_loop(struct rv_daemon *d)
{
	uint64_t interval = (uint64_t)d->config->stats_interval_s *
	    1000000000ull, next_log, next_drops = 0, now;

	next_log = rv_capture_now_ns() + interval;
	while (!stopping) {
		/* Short waits: probes leave every probe_interval_ms. */
		(void)rv_ctl_server_poll(d->ctl, 5);
		now = rv_capture_now_ns();
		rv_detect_poll(d, now);
		if (now >= next_drops) {
			rv_port_poll_drops(&d->capture_port);
			rv_port_poll_drops(&d->inject_port);
			next_drops = now + 1000000000ull;
		}
		if (interval != 0 && now >= next_log) {
			rv_stats_log(d);
			next_log = now + interval;
		}
	}
}

static int
run(const char *path)
{
	struct rv_daemon d;
	int err, rc = EXIT_FAILURE;

	memset(&d, 0, sizeof(d));
	pthread_mutex_init(&d.inject_lock, NULL);
	d.config_path = path;
	d.config = load_config(path);
	if (d.config == NULL)
		return EXIT_CONFIG;
	rv_log_set_level(d.config->log_level);
	rv_info("starting with configuration %s", path);
	rv_config_log(d.config);
	rv_config_warn(d.config);
	if (load_handoff_key(&d) != 0)
		goto out_config;
	if (eal_init(d.config) != 0)
		goto out_config;
	d.started_ns = rv_capture_now_ns();
	if (open_ports(&d) != 0 || create_table(&d) != 0)
		goto out_eal;
	d.ctl = rv_ctl_server_open(d.config->control_socket, &err);
	if (d.ctl == NULL)
		goto out_eal;
	if (rv_commands_register(&d) != 0 || rv_stats_register(&d) != 0) {
		rv_err("control socket: cannot register the commands");
		goto out_eal;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (rv_detect_init(&d) != 0 || start_capture(&d) != 0)
		goto out_eal;
	rv_info("ready: control socket %s", d.config->control_socket);
	main_loop(&d);
	rv_info("stopping");
	d.capture.stop = true;
	rte_eal_mp_wait_lcore();
	rv_stats_log(&d);
	rc = EXIT_SUCCESS;
out_eal:
	while (d.n_migrations > 0)
		rv_migrate_free(d.migrations[--d.n_migrations]);
	rv_ctl_server_close(d.ctl);
	rv_capture_fini(&d.capture);
	rv_detect_fini(&d);
	rv_flow_table_free(d.table);
	rv_port_close(&d.capture_port);
	rv_port_close(&d.inject_port);
	rte_eal_cleanup();
out_config:
	EVP_PKEY_free(d.handoff_key);
	rv_config_free(d.config);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct rv_config *cfg;
	const char *path = NULL;
	int opt;

	rv_log_set_ident("revenantd");
	while ((opt = getopt_long(argc, argv, "c:hV", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'C':
			cfg = load_config(optarg);
			if (cfg == NULL)
				return EXIT_CONFIG;
			rv_config_warn(cfg);
			rv_config_free(cfg);
			printf("%s: configuration is valid\n", optarg);
			return EXIT_SUCCESS;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		case 'V':
			printf("revenantd %s\n", REVENANT_VERSION);
			return EXIT_SUCCESS;
		default:
			usage(stderr);
			return EXIT_CONFIG;
		}
	}
	if (path == NULL || optind != argc) {
		usage(stderr);
		return EXIT_CONFIG;
	}
	return run(path);
}
