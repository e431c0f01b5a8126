/* SPDX-License-Identifier: BSD-3-Clause */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "revenant-ckpt-wire.h"

/* The ENUM loader stores an int. */
_Static_assert(sizeof(enum rv_log_level) == sizeof(int),
    "enum rv_log_level must be int-sized");

/* Maximum length of a device string. DPDK devargs are short, and this bounds
 * the log line. */
#define DEVICE_MAX	255


static int
is_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	}
	return 1;
}

/* Accepts BB:DD.F or DDDD:BB:DD.F in hex, device 0..1f, function 0..7. */
static int
is_pci_address(const char *s)
{
	size_t len = strlen(s);

	if (len == 12) {
		if (!is_hex(s, 4) || s[4] != ':')
			return 0;
		s += 5;
		len -= 5;
	}
	if (len != 7 || !is_hex(s, 2) || s[2] != ':' || !is_hex(s + 3, 2) ||
	    s[5] != '.' || s[6] < '0' || s[6] > '7')
		return 0;
	return strtoul(s + 3, NULL, 16) <= 0x1f;
}

/* A vdev is "net_<driver><n>" optionally followed by ",key=value,...". */
static int
is_vdev(const char *s)
{
	size_t i;

	if (strncmp(s, "net_", 4) != 0 || !isalnum((unsigned char)s[4]))
		return 0;
	for (i = 4; s[i] != '\0' && s[i] != ','; i++) {
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return 0;
	}
	for (; s[i] != '\0'; i++) {
		if (!isgraph((unsigned char)s[i]))
			return 0;
	}
	return 1;
}

static int
check_device(const char *value, char *why, size_t whylen)
{
	if (is_vdev(value) || is_pci_address(value))
		return 0;
	snprintf(why, whylen, "expected a DPDK vdev string (net_<driver><n>"
	    "[,key=value...], no spaces) or a PCI address (DDDD:BB:DD.F or "
	    "BB:DD.F)");
	return -1;
}

static int
check_host_key(const char *value, char *why, size_t whylen)
{
	uint8_t pk[RV_CKPT_ED25519_PK_LEN];

	if (rv_ckpt_parse_ssh_ed25519(value, strlen(value), pk) == 0)
		return 0;
	snprintf(why, whylen, "expected an OpenSSH Ed25519 public key line, "
	    "\"ssh-ed25519 AAAA... comment\", as in "
	    "/etc/ssh/ssh_host_ed25519_key.pub");
	return -1;
}

/* Decodes each server's host key line, already checked, for the store. */
static void
decode_host_keys(struct rv_config *cfg)
{
	struct rv_server *s;
	size_t i;

	for (i = 0; i < cfg->server_count; i++) {
		s = &cfg->servers[i];
		s->has_host_key = s->host_key != NULL &&
		    rv_ckpt_parse_ssh_ed25519(s->host_key,
		    strlen(s->host_key), s->host_key_raw) == 0;
	}
}

static const char *const log_level_names[] = {
	"error", "warning", "info", "debug", NULL,
};

static const struct rv_yaml_field eal_arg = {
	.type = RV_YAML_STRING, .min = 1, .max = 1024,
};

static const struct rv_yaml_field eal_fields[] = {
	{ .key = "args", .type = RV_YAML_LIST,
	  .offset = offsetof(struct rv_eal_config, args),
	  .count_offset = offsetof(struct rv_eal_config, arg_count),
	  .min = 0, .max = RV_CONFIG_EAL_ARGS_MAX,
	  .elem = &eal_arg, .elem_size = sizeof(char *) },
	{ 0 },
};

#define PORTS_UINT(name, lo, hi, dflt, fl)				\
	{ .key = #name, .type = RV_YAML_UINT, .flags = (fl),		\
	  .offset = offsetof(struct rv_ports_config, name),		\
	  .width = RV_YAML_FIELD_WIDTH(struct rv_ports_config, name),		\
	  .min = (lo), .max = (hi), .def = (dflt) }

static const struct rv_yaml_field ports_fields[] = {
	{ .key = "capture", .type = RV_YAML_STRING, .flags = RV_YAML_REQUIRED,
	  .offset = offsetof(struct rv_ports_config, capture),
	  .min = 1, .max = DEVICE_MAX, .check = check_device },
	{ .key = "inject", .type = RV_YAML_STRING, .flags = RV_YAML_REQUIRED,
	  .offset = offsetof(struct rv_ports_config, inject),
	  .min = 1, .max = DEVICE_MAX, .check = check_device },
	PORTS_UINT(rx_ring_size, 64, 32768, 4096, RV_YAML_POW2),
	PORTS_UINT(burst_size, 1, 512, 32, 0),
	PORTS_UINT(mbufs, 1024, 1048576, 32768, 0),
	{ 0 },
};

#define KIB	UINT64_C(1024)
#define MIB	(KIB * 1024)
#define GIB	(MIB * 1024)
#define TIB	(GIB * 1024)

static const struct rv_yaml_field checkpoints_fields[] = {
	{ .key = "export_port", .type = RV_YAML_UINT,
	  .offset = offsetof(struct rv_checkpoints_config, export_port),
	  .width = RV_YAML_FIELD_WIDTH(struct rv_checkpoints_config, export_port),
	  .min = 1, .max = 65535, .def = 7022 },
	{ .key = "max_bytes", .type = RV_YAML_SIZE,
	  .offset = offsetof(struct rv_checkpoints_config, max_bytes),
	  .min = MIB, .max = 64 * GIB, .def = 64 * MIB },
	{ .key = "heartbeat_timeout_ms", .type = RV_YAML_UINT,
	  .offset = offsetof(struct rv_checkpoints_config,
	  heartbeat_timeout_ms),
	  .width = RV_YAML_FIELD_WIDTH(struct rv_checkpoints_config,
	  heartbeat_timeout_ms),
	  .min = 100, .max = 600000, .def = 3000 },
	{ 0 },
};

#define MEMORY_UINT(name, lo, hi, dflt)					\
	{ .key = #name, .type = RV_YAML_UINT,				\
	  .offset = offsetof(struct rv_memory_config, name),		\
	  .width = RV_YAML_FIELD_WIDTH(struct rv_memory_config, name),		\
	  .min = (lo), .max = (hi), .def = (dflt) }
#define MEMORY_SIZE(name, lo, hi, dflt)					\
	{ .key = #name, .type = RV_YAML_SIZE,				\
	  .offset = offsetof(struct rv_memory_config, name),		\
	  .min = (lo), .max = (hi), .def = (dflt) }

static const struct rv_yaml_field memory_fields[] = {
	MEMORY_UINT(max_flows, 16, 16777216, 65536),
	MEMORY_SIZE(flow_log_max, 64 * KIB, 4 * GIB, 64 * MIB),
	MEMORY_SIZE(log_total_max, MIB, TIB, GIB),
	MEMORY_UINT(gap_timeout_ms, 10, 60000, 500),
	MEMORY_UINT(idle_timeout_s, 10, 604800, 7200),
	MEMORY_UINT(closed_linger_s, 0, 3600, 30),
	{ 0 },
};

/* Reads "02:00:5e:10:00:01": six hex pairs split by ':'. */
static int
parse_mac(const char *value, void *dst, char *why, size_t whylen)
{
	struct rv_mac *mac = dst;
	int i;

	if (strlen(value) != 17)
		goto bad;
	for (i = 0; i < 6; i++) {
		const char *pair = value + 3 * i;

		if (!is_hex(pair, 2) || (i < 5 && pair[2] != ':'))
			goto bad;
		mac->bytes[i] = (uint8_t)strtoul(pair, NULL, 16);
	}
	mac->set = true;
	return 0;
bad:
	(void)value;
	snprintf(why, whylen, "not a MAC address; expected six hex pairs "
	    "split by ':', such as 02:00:5e:10:00:01");
	return -1;
}

static const char *const resume_names[] = {
	[RV_RESUME_CHECKPOINT] = "checkpoint",
	[RV_RESUME_STREAM] = "stream",
	NULL,
};

static const struct rv_yaml_field backup_fields[] = {
	{ .key = "name", .type = RV_YAML_STRING, .flags = RV_YAML_REQUIRED,
	  .offset = offsetof(struct rv_backup, name),
	  .min = 1, .max = RV_CONFIG_NAME_MAX, .check = rv_yaml_check_name },
	{ .key = "agent", .type = RV_YAML_ENDPOINT, .flags = RV_YAML_REQUIRED,
	  .offset = offsetof(struct rv_backup, agent) },
	{ .key = "mac", .type = RV_YAML_CUSTOM,
	  .offset = offsetof(struct rv_backup, mac), .parse = parse_mac,
	  .what = "a MAC address" },
	{ 0 },
};

static const struct rv_yaml_field backup_elem = {
	.type = RV_YAML_MAP, .fields = backup_fields,
};

static const struct rv_yaml_field address_elem = {
	.type = RV_YAML_ADDR,
};

static const struct rv_yaml_field port_elem = {
	.type = RV_YAML_UINT, .width = sizeof(uint16_t), .min = 1,
	.max = 65535,
};

static const struct rv_yaml_field server_fields[] = {
	{ .key = "name", .type = RV_YAML_STRING, .flags = RV_YAML_REQUIRED,
	  .offset = offsetof(struct rv_server, name),
	  .min = 1, .max = RV_CONFIG_NAME_MAX, .check = rv_yaml_check_name },
	{ .key = "addresses", .type = RV_YAML_LIST, .flags = RV_YAML_REQUIRED,
	  .offset = offsetof(struct rv_server, addresses),
	  .count_offset = offsetof(struct rv_server, address_count),
	  .min = 1, .max = RV_CONFIG_ADDRESSES_MAX,
	  .elem = &address_elem, .elem_size = sizeof(struct rv_addr) },
	{ .key = "ports", .type = RV_YAML_LIST,
	  .flags = RV_YAML_REQUIRED | RV_YAML_UNIQUE,
	  .offset = offsetof(struct rv_server, ports),
	  .count_offset = offsetof(struct rv_server, port_count),
	  .min = 1, .max = RV_CONFIG_PORTS_MAX,
	  .elem = &port_elem, .elem_size = sizeof(uint16_t) },
	{ .key = "backup", .type = RV_YAML_STRING, .flags = RV_YAML_REQUIRED,
	  .offset = offsetof(struct rv_server, backup_name),
	  .min = 1, .max = RV_CONFIG_NAME_MAX, .check = rv_yaml_check_name },
	{ .key = "host_key", .type = RV_YAML_STRING,
	  .offset = offsetof(struct rv_server, host_key),
	  .min = 1, .max = 1024, .check = check_host_key },
	{ .key = "fence", .type = RV_YAML_STRING,
	  .offset = offsetof(struct rv_server, fence), .min = 1, .max = 4096 },
	{ .key = "fence_timeout_ms", .type = RV_YAML_UINT,
	  .offset = offsetof(struct rv_server, fence_timeout_ms),
	  .width = RV_YAML_FIELD_WIDTH(struct rv_server, fence_timeout_ms),
	  .min = 100, .max = 600000, .def = 10000 },
	{ .key = "resume", .type = RV_YAML_ENUM,
	  .offset = offsetof(struct rv_server, resume),
	  .enum_names = resume_names, .def = RV_RESUME_CHECKPOINT },
	{ 0 },
};

#define DETECTION_UINT(name, lo, hi, dflt)				\
	{ .key = #name, .type = RV_YAML_UINT,				\
	  .offset = offsetof(struct rv_detection_config, name),		\
	  .width = RV_YAML_FIELD_WIDTH(struct rv_detection_config, name),		\
	  .min = (lo), .max = (hi), .def = (dflt) }

static const struct rv_yaml_field detection_fields[] = {
	{ .key = "enabled", .type = RV_YAML_BOOL,
	  .offset = offsetof(struct rv_detection_config, enabled), .def = 1 },
	DETECTION_UINT(probe_interval_ms, 10, 10000, 100),
	DETECTION_UINT(probe_misses, 1, 100, 3),
	DETECTION_UINT(passive_window_ms, 100, 600000, 1000),
	{ .key = "probe_address", .type = RV_YAML_ADDR,
	  .offset = offsetof(struct rv_detection_config, probe_address) },
	{ .key = "probe_address6", .type = RV_YAML_ADDR,
	  .offset = offsetof(struct rv_detection_config, probe_address6) },
	{ 0 },
};

static const struct rv_yaml_field handoff_fields[] = {
	{ .key = "name", .type = RV_YAML_STRING, .flags = RV_YAML_REQUIRED,
	  .offset = offsetof(struct rv_handoff_config, name),
	  .min = 1, .max = RV_CONFIG_NAME_MAX, .check = rv_yaml_check_name },
	{ .key = "key_file", .type = RV_YAML_STRING, .flags = RV_YAML_REQUIRED,
	  .offset = offsetof(struct rv_handoff_config, key_file),
	  .min = 2, .max = 4096, .check = rv_yaml_check_absolute_path },
	{ .key = "timeout_ms", .type = RV_YAML_UINT,
	  .offset = offsetof(struct rv_handoff_config, timeout_ms),
	  .width = RV_YAML_FIELD_WIDTH(struct rv_handoff_config, timeout_ms),
	  .min = 100, .max = 600000, .def = 5000 },
	{ 0 },
};

static const struct rv_yaml_field server_elem = {
	.type = RV_YAML_MAP, .fields = server_fields,
};

static const struct rv_yaml_field config_fields[] = {
	{ .key = "log_level", .type = RV_YAML_ENUM,
	  .offset = offsetof(struct rv_config, log_level),
	  .enum_names = log_level_names, .def = RV_LOG_INFO },
	{ .key = "control_socket", .type = RV_YAML_STRING,
	  .offset = offsetof(struct rv_config, control_socket),
	  .min = 1, .max = RV_CONFIG_SOCKET_PATH_MAX,
	  .def_string = "/run/revenant/revenantd.sock",
	  .check = rv_yaml_check_absolute_path },
	{ .key = "eal", .type = RV_YAML_MAP,
	  .offset = offsetof(struct rv_config, eal), .fields = eal_fields },
	{ .key = "ports", .type = RV_YAML_MAP, .flags = RV_YAML_REQUIRED,
	  .offset = offsetof(struct rv_config, ports), .fields = ports_fields },
	{ .key = "checkpoints", .type = RV_YAML_MAP,
	  .offset = offsetof(struct rv_config, checkpoints),
	  .fields = checkpoints_fields },
	{ .key = "memory", .type = RV_YAML_MAP,
	  .offset = offsetof(struct rv_config, memory),
	  .fields = memory_fields },
	{ .key = "stats_interval_s", .type = RV_YAML_UINT,
	  .offset = offsetof(struct rv_config, stats_interval_s),
	  .width = RV_YAML_FIELD_WIDTH(struct rv_config, stats_interval_s),
	  .min = 0, .max = 3600, .def = 10 },
	{ .key = "detection", .type = RV_YAML_MAP,
	  .offset = offsetof(struct rv_config, detection),
	  .fields = detection_fields },
	{ .key = "handoff", .type = RV_YAML_MAP,
	  .offset = offsetof(struct rv_config, handoff),
	  .fields = handoff_fields },
	{ .key = "backups", .type = RV_YAML_LIST, .flags = RV_YAML_REQUIRED,
	  .offset = offsetof(struct rv_config, backups),
	  .count_offset = offsetof(struct rv_config, backup_count),
	  .min = 1, .max = RV_CONFIG_BACKUPS_MAX,
	  .elem = &backup_elem, .elem_size = sizeof(struct rv_backup) },
	{ .key = "servers", .type = RV_YAML_LIST, .flags = RV_YAML_REQUIRED,
	  .offset = offsetof(struct rv_config, servers),
	  .count_offset = offsetof(struct rv_config, server_count),
	  .min = 1, .max = RV_CONFIG_SERVERS_MAX,
	  .elem = &server_elem, .elem_size = sizeof(struct rv_server) },
	{ 0 },
};

static size_t
device_name_length(const char *device)
{
	return strcspn(device, ",");
}

/* Two ports on one device: DPDK would probe it only once. */
static void
check_ports(struct rv_yaml_doc *doc, const struct rv_config *cfg)
{
	const char *c = cfg->ports.capture, *i = cfg->ports.inject;
	size_t n;

	if (c == NULL || i == NULL)
		return;
	n = device_name_length(c);
	if (n == device_name_length(i) && strncmp(c, i, n) == 0)
		rv_yaml_error_at(doc, &cfg->ports.inject, "ports.inject",
		    "the same device as ports.capture; the inject port needs "
		    "its own device");
}

static void
check_memory(struct rv_yaml_doc *doc, const struct rv_config *cfg)
{
	const struct rv_memory_config *m = &cfg->memory;
	char flow[32], total[32];
	const char *key;

	if (m->log_total_max >= m->flow_log_max)
		return;
	rv_yaml_format_size(m->flow_log_max, flow, sizeof(flow));
	rv_yaml_format_size(m->log_total_max, total, sizeof(total));
	if (rv_yaml_where(doc, &m->log_total_max, &key) != 0)
		rv_yaml_error_at(doc, &m->log_total_max, NULL, "%s is less "
		    "than memory.flow_log_max (%s); one connection's log "
		    "must fit", total, flow);
	else
		rv_yaml_error_at(doc, &m->flow_log_max, "memory.flow_log_max",
		    "%s is more than memory.log_total_max (%s); raise "
		    "log_total_max or lower this", flow, total);
}

static void
check_names(struct rv_yaml_doc *doc, const struct rv_config *cfg)
{
	size_t i, j;

	for (i = 0; i < cfg->backup_count; i++) {
		for (j = 0; cfg->backups[i].name != NULL && j < i; j++) {
			if (cfg->backups[j].name == NULL ||
			    strcmp(cfg->backups[i].name,
			    cfg->backups[j].name) != 0)
				continue;
			rv_yaml_error_duplicate(doc, &cfg->backups[i].name,
			    &cfg->backups[j].name, "backup name",
			    cfg->backups[i].name);
			break;
		}
	}
	for (i = 0; i < cfg->server_count; i++) {
		for (j = 0; cfg->servers[i].name != NULL && j < i; j++) {
			if (cfg->servers[j].name == NULL ||
			    strcmp(cfg->servers[i].name,
			    cfg->servers[j].name) != 0)
				continue;
			rv_yaml_error_duplicate(doc, &cfg->servers[i].name,
			    &cfg->servers[j].name, "server name",
			    cfg->servers[i].name);
			break;
		}
	}
}

static void
resolve_backups(struct rv_yaml_doc *doc, struct rv_config *cfg)
{
	struct rv_server *s;
	size_t i, j;

	for (i = 0; i < cfg->server_count; i++) {
		s = &cfg->servers[i];
		if (s->backup_name == NULL)
			continue;
		for (j = 0; j < cfg->backup_count; j++) {
			if (cfg->backups[j].name != NULL &&
			    strcmp(cfg->backups[j].name, s->backup_name) == 0)
				break;
		}
		if (j < cfg->backup_count)
			s->backup = (uint32_t)j;
		else
			rv_yaml_error_at(doc, &s->backup_name, NULL, "no backup "
			    "named '%s' in backups", s->backup_name);
	}
}

/* Reports an address only once even when it is given three times. */
static void
check_addresses(struct rv_yaml_doc *doc, const struct rv_config *cfg)
{
	const struct rv_addr *a, *b;
	char text[RV_ADDR_STRLEN];
	size_t si, ai, sj, aj;

	for (si = 0; si < cfg->server_count; si++) {
		for (ai = 0; ai < cfg->servers[si].address_count; ai++) {
			a = &cfg->servers[si].addresses[ai];
			if (a->family == 0)
				continue;
			for (sj = 0; sj <= si; sj++) {
				for (aj = 0; aj < cfg->servers[sj].address_count;
				    aj++) {
					b = &cfg->servers[sj].addresses[aj];
					if (sj == si && aj == ai)
						goto next;
					if (!rv_addr_equal(a, b))
						continue;
					rv_addr_format(a, text, sizeof(text));
					rv_yaml_error_duplicate(doc, a, b, "address",
					    text);
					goto next;
				}
			}
 next:
			;
		}
	}
}

/* True for an IPv6 address that may be a host's own: not unspecified,
 * loopback, multicast, link-local or IPv4-mapped (RFC 4291 section 2.4). */
static bool
ipv6_unicast(const struct rv_addr *p)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	static const uint8_t zero[15];

	if (p->bytes[0] == 0xff || (p->bytes[0] == 0xfe &&
	    (p->bytes[1] & 0xc0) == 0x80))
		return false;
	if (memcmp(p->bytes, mapped, 12) == 0)
		return false;
	/* :: and ::1 */
	return memcmp(p->bytes, zero, 15) != 0 || p->bytes[15] > 1;
}

/*
 * A probe address receives the servers' SYN-ACKs and their ARP requests
 * or neighbour solicitations for it, so it must be a unicast address of
 * its key's family that no server uses. A link-local IPv6 address cannot
 * be the source of a SYN to a server's global address (RFC 4007 section
 * 9), so it is refused too.
 */
static void
check_one_probe_address(struct rv_yaml_doc *doc, const struct rv_config *cfg,
    const struct rv_addr *p, int family, const char *key)
{
	char text[RV_ADDR_STRLEN];
	size_t i, a;
	bool unicast;

	if (p->family == 0)
		return;
	rv_addr_format(p, text, sizeof(text));
	if (p->family != family) {
		rv_yaml_error_at(doc, p, key, "%s is an IPv%d address; %s takes "
		    "IPv%d, and detection.%s IPv%d", text, p->family, key,
		    family, family == 4 ? "probe_address6" : "probe_address",
		    p->family);
		return;
	}
	unicast = family == 4 ? p->bytes[0] != 0 && p->bytes[0] != 127 &&
	    p->bytes[0] < 224 : ipv6_unicast(p);
	if (!unicast) {
		rv_yaml_error_at(doc, p, key, "%s is not a unicast address%s; "
		    "give an unused IPv%d address of the served segment", text,
		    family == 6 ? " of global scope" : "", family);
		return;
	}
	for (i = 0; i < cfg->server_count; i++)
		for (a = 0; a < cfg->servers[i].address_count; a++)
			if (rv_addr_equal(p, &cfg->servers[i].addresses[a]))
				rv_yaml_error_at(doc, p, key, "%s belongs to "
				    "server %s; the probe address must be one "
				    "that no server uses", text,
				    cfg->servers[i].name);
}

static void
check_probe_address(struct rv_yaml_doc *doc, const struct rv_config *cfg)
{
	check_one_probe_address(doc, cfg, &cfg->detection.probe_address, 4,
	    "detection.probe_address");
	check_one_probe_address(doc, cfg, &cfg->detection.probe_address6, 6,
	    "detection.probe_address6");
}

struct rv_config *
rv_config_load_buffer(const char *name, const void *buf, size_t len,
    struct rv_config_errors *errs)
{
	struct rv_yaml_doc *doc = NULL;
	struct rv_config *cfg;
	int rc;

	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL) {
		rv_yaml_errors_add(&errs->list, "%s: out of memory", name);
		return NULL;
	}
	rc = rv_yaml_doc_load(&doc, name, buf, len, config_fields, cfg);
	if (doc == NULL) {
		rv_yaml_errors_add(&errs->list, "%s: out of memory", name);
		goto fail;
	}
	if (rc == 0) {
		check_ports(doc, cfg);
		check_memory(doc, cfg);
		check_names(doc, cfg);
		resolve_backups(doc, cfg);
		check_addresses(doc, cfg);
		check_probe_address(doc, cfg);
		decode_host_keys(cfg);
	}
	if (rv_yaml_doc_finish(doc, &errs->list) == 0)
		return cfg;
 fail:
	rv_config_free(cfg);
	return NULL;
}

struct rv_config *
rv_config_load_file(const char *path, struct rv_config_errors *errs)
{
	struct rv_config *cfg = NULL;
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		rv_yaml_errors_add(&errs->list, "%s: cannot open: %s", path,
		    strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rv_yaml_errors_add(&errs->list, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_size > RV_YAML_MAX_INPUT) {
		rv_yaml_errors_add(&errs->list, "%s: the file is %lld bytes; "
		    "at most %d are accepted", path, (long long)st.st_size,
		    RV_YAML_MAX_INPUT);
		goto out;
	}
	/* Reading one byte past the limit detects a file that grew after fstat(). */
	buf = malloc(RV_YAML_MAX_INPUT + 1);
	if (buf == NULL) {
		rv_yaml_errors_add(&errs->list, "%s: out of memory", path);
		goto out;
	}
	while (len <= RV_YAML_MAX_INPUT) {
		n = read(fd, buf + len, RV_YAML_MAX_INPUT + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rv_yaml_errors_add(&errs->list, "%s: cannot read: %s",
			    path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	cfg = rv_config_load_buffer(path, buf, len, errs);
 out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return cfg;
}

void
rv_config_free(struct rv_config *cfg)
{
	if (cfg == NULL)
		return;
	rv_yaml_free(config_fields, cfg);
	free(cfg);
}

static void
log_server(const struct rv_config *cfg, const struct rv_server *s)
{
	char line[768], text[RV_ADDR_STRLEN];
	size_t used = 0, i;

	line[0] = '\0';
	for (i = 0; i < s->address_count && used < sizeof(line); i++)
		used += (size_t)snprintf(line + used, sizeof(line) - used,
		    "%s%s", i == 0 ? "" : " ",
		    rv_addr_format(&s->addresses[i], text, sizeof(text)));
	for (i = 0; i < s->port_count && used < sizeof(line); i++)
		used += (size_t)snprintf(line + used, sizeof(line) - used,
		    "%s%u", i == 0 ? " ports " : ",", s->ports[i]);
	rv_info("config: server %s: %s, backup %s", s->name, line,
	    cfg->backups[s->backup].name);
}

void
rv_config_log(const struct rv_config *cfg)
{
	const struct rv_memory_config *m = &cfg->memory;
	char flow[32], total[32], agent[RV_ENDPOINT_STRLEN];
	size_t i;

	rv_info("config: log_level %s, control_socket %s, stats every %u s",
	    rv_log_level_name(cfg->log_level), cfg->control_socket,
	    cfg->stats_interval_s);
	for (i = 0; i < cfg->eal.arg_count; i++)
		rv_info("config: eal arg %zu: %s", i, cfg->eal.args[i]);
	rv_info("config: port capture %s", cfg->ports.capture);
	rv_info("config: port inject %s", cfg->ports.inject);
	rv_info("config: ports: rx_ring_size %u, burst_size %u, mbufs %u",
	    cfg->ports.rx_ring_size, cfg->ports.burst_size, cfg->ports.mbufs);
	rv_info("config: checkpoints: export_port %u, max_bytes %s, "
	    "heartbeat_timeout %u ms", cfg->checkpoints.export_port,
	    rv_yaml_format_size(cfg->checkpoints.max_bytes, flow,
	    sizeof(flow)), cfg->checkpoints.heartbeat_timeout_ms);
	rv_info("config: memory: max_flows %u, flow_log_max %s, "
	    "log_total_max %s, gap_timeout %u ms, idle_timeout %u s, "
	    "closed_linger %u s", m->max_flows,
	    rv_yaml_format_size(m->flow_log_max, flow, sizeof(flow)),
	    rv_yaml_format_size(m->log_total_max, total, sizeof(total)),
	    m->gap_timeout_ms, m->idle_timeout_s, m->closed_linger_s);
	for (i = 0; i < cfg->backup_count; i++)
		rv_info("config: backup %s: agent %s", cfg->backups[i].name,
		    rv_endpoint_format(&cfg->backups[i].agent, agent,
		    sizeof(agent)));
	for (i = 0; i < cfg->server_count; i++)
		log_server(cfg, &cfg->servers[i]);
}

void
rv_config_warn(const struct rv_config *cfg)
{
	const struct rv_detection_config *dc = &cfg->detection;
	const struct rv_server *s;
	size_t i;

	if (cfg->handoff.name == NULL)
		rv_warn("config: no handoff section, so no connection can be "
		    "migrated; add 'handoff:' with the appliance's name and "
		    "key_file");
	for (i = 0; i < cfg->server_count; i++) {
		s = &cfg->servers[i];
		if (!s->has_host_key)
			rv_warn("config: server %s: no host_key, so its "
			    "checkpoints are rejected and its connections "
			    "cannot be recovered", s->name);
		if (!dc->enabled)
			continue;
		if (s->fence == NULL)
			rv_warn("server %s: no fence configured, so a failure "
			    "is reported but never taken over; add 'fence: "
			    "COMMAND' (or 'fence: none')", s->name);
		else if (strcmp(s->fence, "none") == 0)
			rv_warn("server %s: 'fence: none': a takeover will not "
			    "wait for the server to be powered off or isolated",
			    s->name);
	}
	if (dc->enabled && dc->probe_address.family == 0 &&
	    dc->probe_address6.family == 0)
		rv_warn("detection: no probe_address or probe_address6, so "
		    "servers get ARP and neighbour discovery probes only and "
		    "nothing checks their TCP stack; set them to add SYN "
		    "probes");
}

int
rv_config_find_server(const struct rv_config *cfg, const struct rv_addr *addr,
    uint16_t port)
{
	const struct rv_server *s;
	size_t i, j;

	for (i = 0; i < cfg->server_count; i++) {
		s = &cfg->servers[i];
		for (j = 0; j < s->port_count; j++) {
			if (s->ports[j] == port)
				break;
		}
		if (j == s->port_count)
			continue;
		for (j = 0; j < s->address_count; j++) {
			if (rv_addr_equal(&s->addresses[j], addr))
				return (int)i;
		}
	}
	return -1;
}

void
rv_config_errors_print(const struct rv_config_errors *errs, FILE *out)
{
	rv_yaml_errors_print(&errs->list, out);
}

void
rv_config_errors_clear(struct rv_config_errors *errs)
{
	rv_yaml_errors_clear(&errs->list);
}
