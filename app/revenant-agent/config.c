/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

_Static_assert(sizeof(enum rv_log_level) == sizeof(int),
    "enum rv_log_level must be int-sized");

#define MIB				(UINT64_C(1) << 20)

/* Linux interface names: no '/', ':' or white space (dev_valid_name()). */
static int
check_ifname(const char *value, char *why, size_t whylen)
{
	size_t i;

	if (strcmp(value, ".") == 0 || strcmp(value, "..") == 0) {
		snprintf(why, whylen, "not a valid interface name");
		return -1;
	}
	for (i = 0; value[i] != '\0'; i++) {
		if (value[i] == '/' || value[i] == ':' ||
		    value[i] <= ' ' || value[i] == 0x7f) {
			snprintf(why, whylen, "an interface name may not "
			    "contain '/', ':', spaces or control characters");
			return -1;
		}
	}
	return 0;
}

static int
parse_public_key(const char *value, void *dst, char *why, size_t whylen)
{
	EVP_PKEY *key;
	size_t len = RV_HANDOFF_PUBLIC_KEY_LEN;
	int ok;

	if (rv_handoff_parse_public_key(value, &key, why, whylen) != 0)
		return -1;
	ok = EVP_PKEY_get_raw_public_key(key, dst, &len) == 1 &&
	    len == RV_HANDOFF_PUBLIC_KEY_LEN;
	EVP_PKEY_free(key);
	if (!ok) {
		snprintf(why, whylen, "cannot read the raw key");
		return -1;
	}
	return 0;
}

static const char *const log_level_names[] = {
	"error", "warning", "info", "debug", NULL,
};

static const struct rv_yaml_field appliance_fields[] = {
	{ .key = "name", .type = RV_YAML_STRING, .flags = RV_YAML_REQUIRED,
	  .offset = offsetof(struct rv_agent_appliance, name),
	  .min = 1, .max = RV_AGENT_NAME_MAX, .check = rv_yaml_check_name },
	{ .key = "public_key", .type = RV_YAML_CUSTOM,
	  .flags = RV_YAML_REQUIRED,
	  .offset = offsetof(struct rv_agent_appliance, public_key),
	  .parse = parse_public_key,
	  .what = "an OpenSSH Ed25519 public key line" },
	{ 0 },
};

static const struct rv_yaml_field appliance_elem = {
	.type = RV_YAML_MAP, .fields = appliance_fields,
};

static const struct rv_yaml_field service_fields[] = {
	{ .key = "port", .type = RV_YAML_UINT, .flags = RV_YAML_REQUIRED,
	  .offset = offsetof(struct rv_agent_service, port),
	  .width = RV_YAML_FIELD_WIDTH(struct rv_agent_service, port),
	  .min = 1, .max = 65535 },
	{ .key = "socket", .type = RV_YAML_STRING, .flags = RV_YAML_REQUIRED,
	  .offset = offsetof(struct rv_agent_service, socket),
	  .min = 1, .max = RV_AGENT_SOCKET_PATH_MAX,
	  .check = rv_yaml_check_absolute_path, .what = "an absolute path" },
	{ 0 },
};

static const struct rv_yaml_field service_elem = {
	.type = RV_YAML_MAP, .fields = service_fields,
};

static const struct rv_yaml_field identity_fields[] = {
	{ .key = "address", .type = RV_YAML_ADDR, .flags = RV_YAML_REQUIRED,
	  .offset = offsetof(struct rv_agent_identity, address) },
	{ .key = "interface", .type = RV_YAML_STRING,
	  .flags = RV_YAML_REQUIRED,
	  .offset = offsetof(struct rv_agent_identity, interface),
	  .min = 1, .max = RV_AGENT_IFNAME_MAX, .check = check_ifname,
	  .what = "an interface name" },
	{ .key = "prefix_len", .type = RV_YAML_UINT, .flags = RV_YAML_REQUIRED,
	  .offset = offsetof(struct rv_agent_identity, prefix_len),
	  .width = RV_YAML_FIELD_WIDTH(struct rv_agent_identity, prefix_len),
	  .min = 1, .max = 128 },
	{ .key = "services", .type = RV_YAML_LIST, .flags = RV_YAML_REQUIRED,
	  .offset = offsetof(struct rv_agent_identity, services),
	  .count_offset = offsetof(struct rv_agent_identity, service_count),
	  .min = 1, .max = RV_AGENT_SERVICES_MAX,
	  .elem = &service_elem, .elem_size = sizeof(struct rv_agent_service) },
	{ 0 },
};

static const struct rv_yaml_field identity_elem = {
	.type = RV_YAML_MAP, .fields = identity_fields,
};

#define LIMITS_UINT(name, lo, hi, dflt)					\
	{ .key = #name, .type = RV_YAML_UINT,				\
	  .offset = offsetof(struct rv_agent_limits, name),		\
	  .width = RV_YAML_FIELD_WIDTH(struct rv_agent_limits, name),		\
	  .min = (lo), .max = (hi), .def = (dflt) }

static const struct rv_yaml_field limits_fields[] = {
	{ .key = "max_message", .type = RV_YAML_SIZE,
	  .offset = offsetof(struct rv_agent_limits, max_message),
	  .min = 64 * 1024, .max = RV_HANDOFF_MAX_MESSAGE, .def = 64 * MIB },
	LIMITS_UINT(max_connections, 1, RV_HANDOFF_MAX_CONNECTIONS, 1024),
	LIMITS_UINT(io_timeout_ms, 100, 600000, 10000),
	LIMITS_UINT(service_timeout_ms, 10, 60000, 2000),
	LIMITS_UINT(max_adopts_in_flight, 1, RV_AGENT_ADOPTS_IN_FLIGHT_MAX, 32),
	{ 0 },
};

static const struct rv_yaml_field config_fields[] = {
	{ .key = "listen", .type = RV_YAML_ENDPOINT, .flags = RV_YAML_REQUIRED,
	  .offset = offsetof(struct rv_agent_config, listen) },
	{ .key = "log_level", .type = RV_YAML_ENUM,
	  .offset = offsetof(struct rv_agent_config, log_level),
	  .enum_names = log_level_names, .def = RV_LOG_INFO },
	{ .key = "appliances", .type = RV_YAML_LIST, .flags = RV_YAML_REQUIRED,
	  .offset = offsetof(struct rv_agent_config, appliances),
	  .count_offset = offsetof(struct rv_agent_config, appliance_count),
	  .min = 1, .max = RV_AGENT_APPLIANCES_MAX,
	  .elem = &appliance_elem,
	  .elem_size = sizeof(struct rv_agent_appliance) },
	{ .key = "identities", .type = RV_YAML_LIST, .flags = RV_YAML_REQUIRED,
	  .offset = offsetof(struct rv_agent_config, identities),
	  .count_offset = offsetof(struct rv_agent_config, identity_count),
	  .min = 1, .max = RV_AGENT_IDENTITIES_MAX,
	  .elem = &identity_elem,
	  .elem_size = sizeof(struct rv_agent_identity) },
	{ .key = "limits", .type = RV_YAML_MAP,
	  .offset = offsetof(struct rv_agent_config, limits),
	  .fields = limits_fields },
	{ 0 },
};

static void
check_appliances(struct rv_yaml_doc *doc, const struct rv_agent_config *cfg)
{
	const struct rv_agent_appliance *a = cfg->appliances;
	size_t i, j;

	for (i = 0; i < cfg->appliance_count; i++) {
		for (j = 0; a[i].name != NULL && j < i; j++) {
			if (a[j].name != NULL && strcmp(a[i].name, a[j].name) == 0) {
				rv_yaml_error_duplicate(doc, &a[i].name, &a[j].name,
				    "appliance name", a[i].name);
				break;
			}
		}
	}
}

static void
check_identity(struct rv_yaml_doc *doc, const struct rv_agent_config *cfg,
    size_t i)
{
	const struct rv_agent_identity *id = &cfg->identities[i];
	char text[RV_ADDR_STRLEN], port[8];
	size_t j;

	if (id->address.family == 4 && id->prefix_len > 32)
		rv_yaml_error_at(doc, &id->prefix_len, NULL, "%u is over 32, "
		    "the longest IPv4 prefix", id->prefix_len);
	for (j = 0; id->address.family != 0 && j < i; j++) {
		if (rv_addr_equal(&id->address, &cfg->identities[j].address)) {
			rv_addr_format(&id->address, text, sizeof(text));
			rv_yaml_error_duplicate(doc, &id->address,
			    &cfg->identities[j].address, "address", text);
			break;
		}
	}
	for (i = 0; i < id->service_count; i++) {
		for (j = 0; j < i; j++) {
			if (id->services[i].port != id->services[j].port)
				continue;
			snprintf(port, sizeof(port), "%u", id->services[i].port);
			rv_yaml_error_duplicate(doc, &id->services[i].port,
			    &id->services[j].port, "service port", port);
			break;
		}
	}
}

struct rv_agent_config *
rv_agent_config_load_buffer(const char *name, const void *buf, size_t len,
    struct rv_yaml_errors *errs)
{
	struct rv_yaml_doc *doc = NULL;
	struct rv_agent_config *cfg;
	size_t i;
	int rc;

	if ((cfg = calloc(1, sizeof(*cfg))) == NULL) {
		rv_yaml_errors_add(errs, "%s: out of memory", name);
		return NULL;
	}
	rc = rv_yaml_doc_load(&doc, name, buf, len, config_fields, cfg);
	if (doc == NULL) {
		rv_yaml_errors_add(errs, "%s: out of memory", name);
		goto fail;
	}
	if (rc == 0) {
		check_appliances(doc, cfg);
		for (i = 0; i < cfg->identity_count; i++)
			check_identity(doc, cfg, i);
	}
	if (rv_yaml_doc_finish(doc, errs) == 0)
		return cfg;
 fail:
	rv_agent_config_free(cfg);
	return NULL;
}

struct rv_agent_config *
rv_agent_config_load_file(const char *path, struct rv_yaml_errors *errs)
{
	struct rv_agent_config *cfg = NULL;
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		rv_yaml_errors_add(errs, "%s: cannot open: %s", path,
		    strerror(errno));
		return NULL;
	}
	/* One byte past the cap tells a file that is too large. */
	if ((buf = malloc(RV_YAML_MAX_INPUT + 1)) == NULL) {
		rv_yaml_errors_add(errs, "%s: out of memory", path);
		goto out;
	}
	while (len <= RV_YAML_MAX_INPUT) {
		n = read(fd, buf + len, RV_YAML_MAX_INPUT + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rv_yaml_errors_add(errs, "%s: cannot read: %s", path,
			    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > RV_YAML_MAX_INPUT) {
		rv_yaml_errors_add(errs, "%s: over %d bytes", path,
		    RV_YAML_MAX_INPUT);
		goto out;
	}
	cfg = rv_agent_config_load_buffer(path, buf, len, errs);
 out:
	free(buf);
	close(fd);
	return cfg;
}

void
rv_agent_config_free(struct rv_agent_config *cfg)
{
	if (cfg == NULL)
		return;
	rv_yaml_free(config_fields, cfg);
	free(cfg);
}

void
rv_agent_config_log(const struct rv_agent_config *cfg)
{
	const struct rv_agent_identity *id;
	char ep[RV_ENDPOINT_STRLEN], addr[RV_ADDR_STRLEN], size[32];
	size_t i, j;

	rv_info("config: listen %s, log_level %s",
	    rv_endpoint_format(&cfg->listen, ep, sizeof(ep)),
	    rv_log_level_name(cfg->log_level));
	rv_info("config: limits: max_message %s, max_connections %u, "
	    "io_timeout %u ms, service_timeout %u ms, max_adopts_in_flight %u",
	    rv_yaml_format_size(cfg->limits.max_message, size, sizeof(size)),
	    cfg->limits.max_connections, cfg->limits.io_timeout_ms,
	    cfg->limits.service_timeout_ms, cfg->limits.max_adopts_in_flight);
	for (i = 0; i < cfg->appliance_count; i++)
		rv_info("config: appliance %s: key accepted",
		    cfg->appliances[i].name);
	for (i = 0; i < cfg->identity_count; i++) {
		id = &cfg->identities[i];
		rv_info("config: identity %s/%u on %s",
		    rv_addr_format(&id->address, addr, sizeof(addr)),
		    id->prefix_len, id->interface);
		for (j = 0; j < id->service_count; j++)
			rv_info("config: identity %s: port %u -> %s", addr,
			    id->services[j].port, id->services[j].socket);
	}
}

const struct rv_agent_identity *
rv_agent_find_identity(const struct rv_agent_config *cfg,
    const struct rv_addr *addr)
{
	size_t i;

	for (i = 0; i < cfg->identity_count; i++) {
		if (rv_addr_equal(&cfg->identities[i].address, addr))
			return &cfg->identities[i];
	}
	return NULL;
}
