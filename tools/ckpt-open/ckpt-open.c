/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ckpt-open: reassembles captured checkpoint datagrams, verifies their
 * signatures with the primary's host key, decrypts them with a recovery
 * private key and prints each checkpoint's content as one JSON object per
 * line. Heartbeats are printed too. For tests and for operators checking
 * what a primary exports.
 *
 * Input: a file of datagrams, each preceded by its length as a 4-byte
 * big-endian integer (the UDP payloads in capture order).
 */

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "revenant-ckpt-wire.h"
#include "revenant-keyfile.h"
#include "revenant-state.h"

#define PROGRAM		"ckpt-open"
/* Messages being reassembled at once; older ones are dropped. */
#define PENDING_MAX	64
#define INPUT_MAX	(256 * 1024 * 1024)

struct pending {
	int		used;
	struct rv_ckpt_conn conn;
	uint64_t	id;
	uint32_t	total_len;
	uint16_t	count;
	uint16_t	have;
	uint8_t		*seen;		/* one flag per fragment */
	uint8_t		*buf;
};

struct options {
	int		have_sk;
	uint8_t		sk[RV_HPKE_X25519_LEN];
	int		have_pk;
	uint8_t		host_pk[RV_CKPT_ED25519_PK_LEN];
	int		secrets;	/* print keys and IVs */
};

static struct pending pending[PENDING_MAX];

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: " PROGRAM " [-k RECOVERY_KEY] [-H HOST_KEY.pub] [-s] FILE\n"
	    "\n"
	    "Reads datagrams from FILE (each preceded by a 4-byte big-endian\n"
	    "length), reassembles checkpoints and prints one JSON object per\n"
	    "checkpoint or heartbeat.\n"
	    "\n"
	    "  -k FILE  recovery private key (revenant-keygen) to decrypt with\n"
	    "  -H FILE  host public key (ssh-ed25519 line) to verify with\n"
	    "  -s       print keys, IVs and cipher state (secret) too\n"
	    "  -h       show this help\n");
}

static void
print_hex(const char *name, const uint8_t *p, size_t len)
{
	size_t i;

	printf("\"%s\":\"", name);
	for (i = 0; i < len; i++)
		printf("%02x", p[i]);
	printf("\"");
}

/* Prints s as a JSON string, escaping what JSON requires. */
static void
print_string(const char *s)
{
	const unsigned char *p;

	if (s == NULL) {
		printf("null");
		return;
	}
	putchar('"');
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static void
print_addr(const char *name, uint8_t family, const uint8_t *a)
{
	char buf[64];
	size_t i, n = 0;

	if (family == 4)
		snprintf(buf, sizeof(buf), "%u.%u.%u.%u", a[0], a[1], a[2],
		    a[3]);
	else {
		/* Full form without zero compression: enough for tests. */
		for (i = 0; i < 16; i += 2)
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%x",
			    i == 0 ? "" : ":", (unsigned)(a[i] << 8 | a[i + 1]));
	}
	printf("\"%s\":\"%s\"", name, buf);
}

static void
print_conn(const struct rv_ckpt_conn *c)
{
	printf("\"conn\":{\"family\":%u,", c->family);
	print_addr("server", c->family, c->server);
	printf(",\"server_port\":%u,", c->server_port);
	print_addr("client", c->family, c->client);
	printf(",\"client_port\":%u}", c->client_port);
}

static void
print_dir(const char *name, const struct rv_state_dir *d, int secrets)
{
	printf("\"%s\":{\"cipher\":", name);
	print_string(d->cipher);
	printf(",\"mac\":");
	print_string(d->mac);
	printf(",\"etm\":%u,\"seqnr\":%u,\"packets\":%llu,\"blocks\":%llu,"
	    "\"bytes\":%llu,\"max_blocks\":%llu,\"cipher_state_kind\":%u,"
	    "\"key_len\":%u,\"iv_len\":%u,\"mac_key_len\":%u",
	    d->etm, d->seqnr, (unsigned long long)d->packets,
	    (unsigned long long)d->blocks, (unsigned long long)d->bytes,
	    (unsigned long long)d->max_blocks, d->cipher_state_kind,
	    d->key_len, d->iv_len, d->mac_key_len);
	if (secrets) {
		putchar(',');
		print_hex("key", d->key, d->key_len);
		putchar(',');
		print_hex("iv", d->iv, d->iv_len);
		putchar(',');
		print_hex("mac_key", d->mac_key, d->mac_key_len);
		putchar(',');
		print_hex("cipher_state", d->cipher_state,
		    d->cipher_state_len);
	}
	putchar('}');
}

static void
print_session_fields(const struct rv_state_channel *c)
{
	uint32_t i;

	printf(",\"session\":{\"term\":");
	print_string(c->term);
	printf(",\"cols\":%u,\"rows\":%u,\"xpixels\":%u,\"ypixels\":%u",
	    c->cols, c->rows, c->xpixels, c->ypixels);
	if (c->has_termios)
		printf(",\"termios\":{\"iflag\":%u,\"oflag\":%u,\"cflag\":%u,"
		    "\"lflag\":%u,\"ispeed\":%u,\"ospeed\":%u}",
		    c->termios_iflag, c->termios_oflag, c->termios_cflag,
		    c->termios_lflag, c->termios_ispeed, c->termios_ospeed);
	printf(",\"run\":%u,\"command\":", c->run);
	print_string(c->command);
	printf(",\"env\":{");
	for (i = 0; i < c->n_env; i++) {
		if (i > 0)
			putchar(',');
		print_string(c->env[i].name);
		putchar(':');
		print_string(c->env[i].value);
	}
	printf("}}");
}

static void
print_channel(const struct rv_state_channel *c)
{
	printf("{\"self\":%u,\"remote_id\":%u,\"type\":%u,\"ctype\":",
	    c->self, c->remote_id, c->type);
	print_string(c->ctype);
	printf(",\"istate\":%u,\"ostate\":%u,\"flags\":%u,"
	    "\"local_window\":%u,\"local_window_max\":%u,"
	    "\"local_consumed\":%u,\"local_maxpacket\":%u,"
	    "\"remote_window\":%u,\"remote_maxpacket\":%u,\"listen_host\":",
	    c->istate, c->ostate, c->flags, c->local_window,
	    c->local_window_max, c->local_consumed, c->local_maxpacket,
	    c->remote_window, c->remote_maxpacket);
	print_string(c->listen_host);
	printf(",\"listen_port\":%u,\"connect_host\":", c->listen_port);
	print_string(c->connect_host);
	printf(",\"connect_port\":%u", c->connect_port);
	if (c->has_session)
		print_session_fields(c);
	putchar('}');
}

static void
print_content(const struct rv_state_content *c, int secrets)
{
	const struct rv_state_session *s = &c->session;
	uint32_t i;

	printf(",\"content\":{\"user\":");
	print_string(c->user);
	putchar(',');
	print_hex("session_id", c->session_id, c->session_id_len);
	printf(",\"c2s_offset\":%llu,\"s2c_offset\":%llu,\"kex\":",
	    (unsigned long long)s->c2s_offset,
	    (unsigned long long)s->s2c_offset);
	print_string(s->kex);
	printf(",\"hostkey_alg\":");
	print_string(s->hostkey_alg);
	printf(",\"client_version\":");
	print_string(s->client_version);
	printf(",\"server_version\":");
	print_string(s->server_version);
	printf(",\"strict_kex\":%s,\"rekey_limit\":%llu,"
	    "\"rekey_interval\":%u,",
	    (s->transport_flags & RV_STATE_TRANSPORT_STRICT_KEX) ?
	    "true" : "false", (unsigned long long)s->rekey_limit,
	    s->rekey_interval);
	print_dir("c2s", &s->dir[RV_STATE_C2S], secrets);
	putchar(',');
	print_dir("s2c", &s->dir[RV_STATE_S2C], secrets);
	printf(",\"channels\":[");
	for (i = 0; i < s->n_channels; i++) {
		if (i > 0)
			putchar(',');
		print_channel(&s->channels[i]);
	}
	printf("]}");
}

/* Prints one reassembled message; returns 0 if everything checked out. */
static int
print_message(const uint8_t *buf, size_t len, const struct options *o)
{
	struct rv_ckpt_msg msg;
	struct rv_state_content content;
	uint8_t *pt = NULL;
	size_t pt_len = 0;
	int r, ret = -1;

	if ((r = rv_ckpt_msg_decode(buf, len, &msg)) != 0) {
		printf("{\"type\":\"checkpoint\",\"error\":\"%s\"}\n",
		    rv_ckpt_strerror(r));
		return -1;
	}
	printf("{\"type\":\"checkpoint\",\"number\":%llu,\"flags\":%u,"
	    "\"c2s_offset\":%llu,\"s2c_offset\":%llu,\"recipients\":%u,",
	    (unsigned long long)msg.hdr.number, msg.hdr.flags,
	    (unsigned long long)msg.hdr.c2s_offset,
	    (unsigned long long)msg.hdr.s2c_offset, msg.n_recipients);
	print_hex("session_hash", msg.hdr.session_hash,
	    sizeof(msg.hdr.session_hash));
	putchar(',');
	print_conn(&msg.hdr.conn);
	if (o->have_pk) {
		r = rv_ckpt_msg_verify(&msg, buf, o->host_pk);
		printf(",\"signature\":\"%s\"", r == 0 ? "valid" : "invalid");
		if (r != 0)
			goto out;
	} else
		printf(",\"signature\":\"unchecked\"");
	if (!o->have_sk) {
		ret = 0;
		goto out;
	}
	if ((pt = malloc(len)) == NULL)
		goto out;
	if ((r = rv_ckpt_msg_open(&msg, o->sk, pt, len, &pt_len)) != 0) {
		printf(",\"error\":\"%s\"", rv_ckpt_strerror(r));
		goto out;
	}
	if ((r = rv_state_content_decode(pt, pt_len, &content)) != 0) {
		printf(",\"error\":\"%s\"", rv_state_strerror(r));
		goto out;
	}
	print_content(&content, o->secrets);
	rv_state_content_clear(&content);
	ret = 0;
 out:
	printf("}\n");
	if (pt != NULL) {
		OPENSSL_cleanse(pt, len);
		free(pt);
	}
	return ret;
}

static void
drop_pending(struct pending *p)
{
	free(p->seen);
	free(p->buf);
	memset(p, 0, sizeof(*p));
}

static struct pending *
find_pending(const struct rv_ckpt_frag *f)
{
	struct pending *p, *free_slot = NULL;
	size_t i;

	for (i = 0; i < PENDING_MAX; i++) {
		p = &pending[i];
		if (!p->used) {
			if (free_slot == NULL)
				free_slot = p;
			continue;
		}
		if (p->id == f->msg_id &&
		    memcmp(&p->conn, &f->conn, sizeof(p->conn)) == 0)
			return p->total_len == f->total_len &&
			    p->count == f->count ? p : NULL;
	}
	if (free_slot == NULL) {
		/* NOTE: all slots busy; the oldest incomplete one is lost. */
		free_slot = &pending[0];
		drop_pending(free_slot);
	}
	free_slot->seen = calloc(f->count, 1);
	free_slot->buf = malloc(f->total_len);
	if (free_slot->seen == NULL || free_slot->buf == NULL) {
		drop_pending(free_slot);
		return NULL;
	}
	free_slot->used = 1;
	free_slot->conn = f->conn;
	free_slot->id = f->msg_id;
	free_slot->total_len = f->total_len;
	free_slot->count = f->count;
	return free_slot;
}

static int
handle_fragment(const uint8_t *d, size_t len, const struct options *o)
{
	struct rv_ckpt_frag f;
	struct pending *p;
	int r, ret = 0;

	if ((r = rv_ckpt_frag_decode(d, len, &f)) != 0) {
		printf("{\"type\":\"fragment\",\"error\":\"%s\"}\n",
		    rv_ckpt_strerror(r));
		return -1;
	}
	if ((p = find_pending(&f)) == NULL)
		return -1;
	if (!p->seen[f.index]) {
		memcpy(p->buf + (size_t)f.index * RV_CKPT_FRAG_DATA_MAX,
		    f.data, f.data_len);
		p->seen[f.index] = 1;
		p->have++;
	}
	if (p->have == p->count) {
		ret = print_message(p->buf, p->total_len, o);
		drop_pending(p);
	}
	return ret;
}

static int
handle_heartbeat(const uint8_t *d, size_t len, const struct options *o)
{
	struct rv_ckpt_heartbeat hb;
	int r;

	if ((r = rv_ckpt_heartbeat_decode(d, len, &hb)) != 0) {
		printf("{\"type\":\"heartbeat\",\"error\":\"%s\"}\n",
		    rv_ckpt_strerror(r));
		return -1;
	}
	printf("{\"type\":\"heartbeat\",\"boot_id\":%llu,\"sequence\":%llu,"
	    "\"connections\":%u,\"server_port\":%u,",
	    (unsigned long long)hb.boot_id, (unsigned long long)hb.sequence,
	    hb.connections, hb.server_port);
	print_addr("server", hb.family, hb.server);
	if (o->have_pk) {
		r = rv_ckpt_heartbeat_verify(&hb, d, len, o->host_pk);
		printf(",\"signature\":\"%s\"}\n", r == 0 ? "valid" : "invalid");
		return r == 0 ? 0 : -1;
	}
	printf(",\"signature\":\"unchecked\"}\n");
	return 0;
}

static uint8_t *
read_file(const char *path, size_t *lenp)
{
	FILE *f;
	uint8_t *buf = NULL, *nbuf;
	size_t len = 0, size = 0, n;

	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, PROGRAM ": %s: %s\n", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (len == size) {
			size = size == 0 ? 65536 : size * 2;
			if (size > INPUT_MAX ||
			    (nbuf = realloc(buf, size)) == NULL) {
				fprintf(stderr, PROGRAM ": %s: too large\n",
				    path);
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nbuf;
		}
		if ((n = fread(buf + len, 1, size - len, f)) == 0)
			break;
		len += n;
	}
	fclose(f);
	*lenp = len;
	return buf;
}

static int
load_host_key(const char *path, uint8_t pk[RV_CKPT_ED25519_PK_LEN])
{
	char line[4096];
	FILE *f;
	int r;

	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, PROGRAM ": %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fgets(line, sizeof(line), f) == NULL) {
		fclose(f);
		fprintf(stderr, PROGRAM ": %s: empty\n", path);
		return -1;
	}
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	if ((r = rv_ckpt_parse_ssh_ed25519(line, strlen(line), pk)) != 0) {
		fprintf(stderr, PROGRAM ": %s: %s\n", path,
		    rv_ckpt_strerror(r));
		return -1;
	}
	return 0;
}

static int
process(const uint8_t *buf, size_t len, const struct options *o)
{
	size_t off = 0, n;
	int type, failures = 0;

	while (off < len) {
		if (len - off < 4) {
			fprintf(stderr, PROGRAM ": input ends inside a "
			    "length prefix at byte %zu\n", off);
			return -1;
		}
		n = (size_t)buf[off] << 24 | (size_t)buf[off + 1] << 16 |
		    (size_t)buf[off + 2] << 8 | buf[off + 3];
		off += 4;
		if (n > len - off) {
			fprintf(stderr, PROGRAM ": datagram at byte %zu claims "
			    "%zu bytes, %zu left\n", off - 4, n, len - off);
			return -1;
		}
		type = rv_ckpt_datagram_type(buf + off, n);
		if (type == RV_CKPT_TYPE_FRAGMENT)
			failures += handle_fragment(buf + off, n, o) != 0;
		else if (type == RV_CKPT_TYPE_HEARTBEAT)
			failures += handle_heartbeat(buf + off, n, o) != 0;
		else {
			printf("{\"type\":\"unknown\",\"error\":\"%s\"}\n",
			    rv_ckpt_strerror(type));
			failures++;
		}
		off += n;
	}
	return failures == 0 ? 0 : -1;
}

int
main(int argc, char **argv)
{
	struct options o;
	struct rv_keyfile_error err;
	uint8_t pk[RV_HPKE_X25519_LEN], *buf;
	size_t i, len;
	int ch, ret;

	memset(&o, 0, sizeof(o));
	while ((ch = getopt(argc, argv, "k:H:sh")) != -1) {
		switch (ch) {
		case 'k':
			if (rv_keyfile_load_private(optarg, o.sk, pk,
			    &err) != 0) {
				fprintf(stderr, PROGRAM ": %s\n", err.message);
				return 1;
			}
			o.have_sk = 1;
			break;
		case 'H':
			if (load_host_key(optarg, o.host_pk) != 0)
				return 1;
			o.have_pk = 1;
			break;
		case 's':
			o.secrets = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	if ((buf = read_file(argv[optind], &len)) == NULL)
		return 1;
	ret = process(buf, len, &o);
	free(buf);
	for (i = 0; i < PENDING_MAX; i++) {
		if (pending[i].used) {
			printf("{\"type\":\"checkpoint\",\"number\":%llu,"
			    "\"error\":\"incomplete: %u of %u fragments\"}\n",
			    (unsigned long long)pending[i].id, pending[i].have,
			    pending[i].count);
			drop_pending(&pending[i]);
			ret = -1;
		}
	}
	OPENSSL_cleanse(o.sk, sizeof(o.sk));
	return ret == 0 ? 0 : 1;
}
