/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Parsing and checking of the "Revenant*" sshd_config options.  See
 * revenant-config.h for the contract and ssh-patch/README.md for the
 * meaning of each option.
 */

#include "includes.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xmalloc.h"
#include "log.h"
#include "misc.h"
#include "sshbuf.h"
#include "ssherr.h"
#include "kex.h"
#include "servconf.h"
#include "revenant-config.h"

/* Buffer size for the address text inside "[...]" or before ":port". */
#define EXPORT_HOST_MAX	64

void
rv_servconf_init(struct rv_server_options *ro)
{
	memset(ro, 0, sizeof(*ro));
	ro->checkpoints = -1;
	ro->checkpoint_interval = -1;
	ro->checkpoint_bytes = -1;
	ro->heartbeat_interval = -1;
}

void
rv_servconf_fill_defaults(struct rv_server_options *ro)
{
	if (ro->checkpoints == -1)
		ro->checkpoints = 0;
	if (ro->checkpoint_interval == -1)
		ro->checkpoint_interval = RV_SERVCONF_CHECKPOINT_INTERVAL;
	if (ro->checkpoint_bytes == -1)
		ro->checkpoint_bytes = RV_SERVCONF_CHECKPOINT_BYTES;
	if (ro->heartbeat_interval == -1)
		ro->heartbeat_interval = RV_SERVCONF_HEARTBEAT_INTERVAL;
}

/*
 * Parses "A.B.C.D:PORT" or "[IPv6]:PORT" with numeric addresses only, so
 * that reading the configuration never waits for a resolver.
 */
static int
parse_export_address(const char *arg, struct sockaddr_storage *ss,
    socklen_t *lenp)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	char host[EXPORT_HOST_MAX];
	const char *port_text, *end;
	const char *errstr;
	size_t host_len;
	long long port;
	int ipv6 = (*arg == '[');

	if (ipv6) {
		if ((end = strchr(arg, ']')) == NULL || end[1] != ':')
			return SSH_ERR_INVALID_FORMAT;
		arg++;
		port_text = end + 2;
	} else {
		/* A second colon means an IPv6 address without brackets. */
		if ((end = strchr(arg, ':')) == NULL ||
		    strchr(end + 1, ':') != NULL)
			return SSH_ERR_INVALID_FORMAT;
		port_text = end + 1;
	}
	host_len = (size_t)(end - arg);
	if (host_len == 0 || host_len >= sizeof(host))
		return SSH_ERR_INVALID_FORMAT;
	memcpy(host, arg, host_len);
	host[host_len] = '\0';

	port = strtonum(port_text, 1, 65535, &errstr);
	if (errstr != NULL)
		return SSH_ERR_INVALID_FORMAT;

	memset(ss, 0, sizeof(*ss));
	if (ipv6) {
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1 ||
		    IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr))
			return SSH_ERR_INVALID_FORMAT;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((u_short)port);
		*lenp = sizeof(*sin6);
	} else {
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1 ||
		    sin->sin_addr.s_addr == htonl(INADDR_ANY))
			return SSH_ERR_INVALID_FORMAT;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((u_short)port);
		*lenp = sizeof(*sin);
	}
	return 0;
}

static int
parse_flag(const char *arg, int *valuep)
{
	if (strcasecmp(arg, "yes") == 0)
		*valuep = 1;
	else if (strcasecmp(arg, "no") == 0)
		*valuep = 0;
	else
		return SSH_ERR_INVALID_FORMAT;
	return 0;
}

/* Accepts what ClientAliveInterval accepts: "30", "1m", "1h30m". */
static int
parse_seconds(const char *arg, int *valuep)
{
	int seconds;

	if ((seconds = convtime(arg)) < 0)
		return SSH_ERR_INVALID_FORMAT;
	*valuep = seconds;
	return 0;
}

/* Accepts what RekeyLimit accepts: "65536", "512K", "1M", "2G". */
static int
parse_bytes(char *arg, int64_t *valuep)
{
	long long bytes;

	if (scan_scaled(arg, &bytes) == -1 || bytes < 0)
		return SSH_ERR_INVALID_FORMAT;
	*valuep = bytes;
	return 0;
}

int
rv_servconf_parse(struct rv_server_options *ro, const char *keyword,
    int *acp, char ***avp, const char *filename, int linenum, int active)
{
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	const char *expected;
	char *arg;
	int value, r = SSH_ERR_INVALID_FORMAT;
	int64_t value64;

	arg = argv_next(acp, avp);
	if (arg == NULL || *arg == '\0') {
		error("%.200s line %d: %s: missing argument",
		    filename, linenum, keyword);
		return SSH_ERR_INVALID_FORMAT;
	}

	if (strcasecmp(keyword, "RevenantCheckpoints") == 0) {
		expected = "yes or no";
		if ((r = parse_flag(arg, &value)) == 0 &&
		    active && ro->checkpoints == -1)
			ro->checkpoints = value;
	} else if (strcasecmp(keyword, "RevenantExportAddress") == 0) {
		expected = "ADDRESS:PORT or [IPV6-ADDRESS]:PORT, "
		    "numeric, port 1-65535";
		if ((r = parse_export_address(arg, &ss, &sslen)) == 0 &&
		    active && ro->export_address == NULL) {
			ro->export_address = xstrdup(arg);
			ro->export_addr = ss;
			ro->export_addrlen = sslen;
		}
	} else if (strcasecmp(keyword, "RevenantRecoveryKeys") == 0) {
		expected = "an absolute path";
		if (*arg == '/') {
			r = 0;
			if (active && ro->recovery_keys_file == NULL)
				ro->recovery_keys_file = xstrdup(arg);
		}
	} else if (strcasecmp(keyword, "RevenantCheckpointInterval") == 0) {
		expected = "a time in seconds (0 disables)";
		if ((r = parse_seconds(arg, &value)) == 0 &&
		    active && ro->checkpoint_interval == -1)
			ro->checkpoint_interval = value;
	} else if (strcasecmp(keyword, "RevenantCheckpointBytes") == 0) {
		expected = "a byte count with optional K, M or G suffix "
		    "(0 disables)";
		if ((r = parse_bytes(arg, &value64)) == 0 &&
		    active && ro->checkpoint_bytes == -1)
			ro->checkpoint_bytes = value64;
	} else if (strcasecmp(keyword, "RevenantHeartbeatInterval") == 0) {
		expected = "a time in seconds (0 disables)";
		if ((r = parse_seconds(arg, &value)) == 0 &&
		    active && ro->heartbeat_interval == -1)
			ro->heartbeat_interval = value;
	} else {
		/* servconf.c maps only the keywords above to this parser. */
		fatal_f("%.200s line %d: unknown keyword %s",
		    filename, linenum, keyword);
	}

	if (r != 0) {
		error("%.200s line %d: invalid %s value \"%.100s\": "
		    "expected %s", filename, linenum, keyword, arg, expected);
	}
	return r;
}

/*
 * Checks one line of the recovery key file: blank, a "#" comment, or
 * "revenant-x25519 BASE64 [COMMENT]" where BASE64 decodes to exactly 32
 * bytes.  Returns 0 for a blank or comment line, 1 for a key, or
 * SSH_ERR_INVALID_FORMAT with *reasonp set.
 */
static int
recovery_key_line_check(char *line, const char **reasonp)
{
	struct sshbuf *key;
	char *cp = line, *type, *b64;
	size_t len;
	int r;

	cp += strspn(cp, " \t");
	cp[strcspn(cp, "\r\n")] = '\0';
	if (*cp == '\0' || *cp == '#')
		return 0;

	type = strsep(&cp, " \t");
	if (strcmp(type, RV_SERVCONF_RECOVERY_KEY_TYPE) != 0) {
		*reasonp = "unknown key type, expected "
		    RV_SERVCONF_RECOVERY_KEY_TYPE;
		return SSH_ERR_INVALID_FORMAT;
	}
	if (cp != NULL)
		cp += strspn(cp, " \t");
	if (cp == NULL || *cp == '\0') {
		*reasonp = "missing base64 key after the key type";
		return SSH_ERR_INVALID_FORMAT;
	}
	/* Whatever follows the key is a free-form comment. */
	b64 = strsep(&cp, " \t");

	if ((key = sshbuf_new()) == NULL)
		fatal_f("sshbuf_new failed");
	if ((r = sshbuf_b64tod(key, b64)) == SSH_ERR_ALLOC_FAIL)
		fatal_fr(r, "decode recovery key");
	len = sshbuf_len(key);
	sshbuf_free(key);
	if (r != 0) {
		*reasonp = "key is not valid base64";
		return SSH_ERR_INVALID_FORMAT;
	}
	if (len != RV_SERVCONF_RECOVERY_KEY_LEN) {
		*reasonp = "key does not decode to 32 bytes";
		return SSH_ERR_INVALID_FORMAT;
	}
	return 1;
}

/*
 * Reads the recovery key file and counts its keys; calls fatal() naming
 * file:line on the first malformed line.
 * NOTE: this checks only the line format.  The shared parser in
 * revenant-keyfile.c replaces it once sshd links that file.
 */
static void
recovery_keys_check(struct rv_server_options *ro)
{
	const char *path = ro->recovery_keys_file, *reason = NULL;
	char *line = NULL;
	size_t linesize = 0;
	u_long linenum = 0;
	u_int count = 0;
	struct stat st;
	FILE *f;
	int r;

	if ((f = fopen(path, "r")) == NULL)
		fatal("RevenantRecoveryKeys %s: cannot open: %s",
		    path, strerror(errno));
	if (fstat(fileno(f), &st) == -1)
		fatal("RevenantRecoveryKeys %s: fstat: %s",
		    path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		fatal("RevenantRecoveryKeys %s: not a regular file", path);
	/* Whoever can add a key here can adopt every exported session. */
	if ((st.st_uid != 0 && st.st_uid != getuid()) ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
		fatal("RevenantRecoveryKeys %s: must be owned by root and "
		    "not writable by group or others", path);

	while (getline(&line, &linesize, f) != -1) {
		linenum++;
		r = recovery_key_line_check(line, &reason);
		if (r < 0)
			fatal("%s:%lu: invalid recovery key: %s", path,
			    linenum, reason);
		if (r == 1)
			count++;
	}
	if (ferror(f))
		fatal("RevenantRecoveryKeys %s: read error after line %lu",
		    path, linenum);
	free(line);
	fclose(f);

	if (count == 0)
		fatal("RevenantRecoveryKeys %s: no " RV_SERVCONF_RECOVERY_KEY_TYPE
		    " key in the file", path);
	ro->num_recovery_keys = count;
}

static const char *
format_seconds(int seconds, char *buf, size_t len)
{
	if (seconds == 0)
		return "off";
	snprintf(buf, len, "%d s", seconds);
	return buf;
}

static void
log_settings(const struct rv_server_options *ro)
{
	char interval[32], heartbeat[32];

	logit("revenant: exporting checkpoints to %s for %u recovery "
	    "key(s) in %s; periodic checkpoint %s, byte trigger %lld, "
	    "heartbeat %s", ro->export_address, ro->num_recovery_keys,
	    ro->recovery_keys_file,
	    format_seconds(ro->checkpoint_interval, interval,
	    sizeof(interval)),
	    (long long)ro->checkpoint_bytes,
	    format_seconds(ro->heartbeat_interval, heartbeat,
	    sizeof(heartbeat)));
	logit("revenant: compression disabled because zlib state cannot "
	    "be carried to a backup host");
}

void
rv_servconf_check(struct rv_server_options *ro, int *compression,
    int log_on)
{
	if (!ro->checkpoints) {
		if (log_on)
			debug("revenant: checkpoint export is off");
		return;
	}
	if (ro->export_address == NULL)
		fatal("RevenantCheckpoints yes requires RevenantExportAddress "
		    "(ADDRESS:PORT that receives the checkpoint datagrams)");
	if (ro->recovery_keys_file == NULL)
		fatal("RevenantCheckpoints yes requires RevenantRecoveryKeys "
		    "(file of the backup hosts' " RV_SERVCONF_RECOVERY_KEY_TYPE
		    " public keys)");
	recovery_keys_check(ro);

	*compression = COMP_NONE;
	if (log_on)
		log_settings(ro);
}

void
rv_servconf_dump(const struct rv_server_options *ro)
{
	printf("revenantcheckpoints %s\n", ro->checkpoints == 1 ? "yes" : "no");
	printf("revenantexportaddress %s\n",
	    ro->export_address != NULL ? ro->export_address : "none");
	printf("revenantrecoverykeys %s\n",
	    ro->recovery_keys_file != NULL ? ro->recovery_keys_file : "none");
	printf("revenantcheckpointinterval %d\n", ro->checkpoint_interval);
	printf("revenantcheckpointbytes %lld\n",
	    (long long)ro->checkpoint_bytes);
	printf("revenantheartbeatinterval %d\n", ro->heartbeat_interval);
}
