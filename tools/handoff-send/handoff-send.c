/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * handoff-send: the appliance's side of a handoff, for tests.
 *
 *   handoff-send pubkey KEY.pem [COMMENT]
 *	Prints the OpenSSH public key line of an Ed25519 PKCS#8 PEM key
 *	(made with: openssl genpkey -algorithm ed25519 -out KEY.pem).
 *   handoff-send send -k KEY.pem -a ADDR:PORT [options] DESCRIPTION.yaml
 *	Connects to the agent, signs the handoff described in the file for
 *	the agent's challenge, sends it and prints the reply:
 *	"result N restored" / "result N failed: REASON" or "rejected: REASON".
 *	Options that break the handoff on purpose, for tests:
 *	  -n NAME        claim another appliance name than the file's
 *	  -s FILE        also save the signed payload to FILE
 *	  -r FILE        send FILE's payload instead (a replay)
 *	  -T BYTES       send only the first BYTES of the payload, then close
 *	  -B             flip one bit of the signature
 *	  -L             announce a payload of 4 GiB - 1 bytes
 *	  -w MS          wait at most MS per read or write (default 10000)
 *   handoff-send dump FD PREFIX
 *	Dumps the TCP socket FD with TCP_REPAIR (it stays frozen) into
 *	PREFIX.yaml (the state) and PREFIX.send and PREFIX.recv (its queues).
 *
 * Exit status of send: 0 all restored, 1 some failed, 3 rejected, 4 no
 * reply, 2 any other error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/pem.h>

#include "addr.h"
#include "handoff.h"
#include "log.h"
#include "tcp_repair.h"
#include "yaml_schema.h"

#define FILE_MAX	(64u << 20)
#define FIELD_WIDTH(type, member)	sizeof(((type *)0)->member)

/* One connection as the description file gives it. */
struct desc_conn {
	struct rv_endpoint server, client;
	uint16_t mss;
	uint8_t client_wscale, server_wscale;
	bool wscale_ok, sack_ok, ts_ok;
	uint32_t snd_una, snd_nxt, rcv_nxt, snd_wnd, rcv_wnd;
	uint32_t client_ts_val, server_ts_val, server_ts_age_ms;
	uint64_t c2s_offset, s2c_offset;
	char *c2s_file, *s2c_file, *recv_queue_file, *unacked_file;
	char *material_file;
};

struct desc {
	char *appliance;
	uint64_t id;
	struct rv_addr server;
	struct desc_conn *conns;
	size_t conn_count;
};

#define U(name, w, lo, hi, dflt)					\
	{ .key = #name, .type = RV_YAML_UINT,				\
	  .offset = offsetof(struct desc_conn, name), .width = (w),	\
	  .min = (lo), .max = (hi), .def = (dflt) }
#define B(name, dflt)							\
	{ .key = #name, .type = RV_YAML_BOOL,				\
	  .offset = offsetof(struct desc_conn, name), .def = (dflt) }
#define F(name)								\
	{ .key = #name, .type = RV_YAML_STRING,				\
	  .offset = offsetof(struct desc_conn, name), .min = 1, .max = 4096 }

static const struct rv_yaml_field conn_fields[] = {
	{ .key = "server", .type = RV_YAML_ENDPOINT, .flags = RV_YAML_REQUIRED,
	  .offset = offsetof(struct desc_conn, server) },
	{ .key = "client", .type = RV_YAML_ENDPOINT, .flags = RV_YAML_REQUIRED,
	  .offset = offsetof(struct desc_conn, client) },
	U(mss, 2, 0, 65535, 1460),
	U(client_wscale, 1, 0, 255, 7),
	U(server_wscale, 1, 0, 255, 7),
	B(wscale_ok, 1), B(sack_ok, 1), B(ts_ok, 1),
	U(snd_una, 4, 0, UINT32_MAX, 0),
	U(snd_nxt, 4, 0, UINT32_MAX, 0),
	U(rcv_nxt, 4, 0, UINT32_MAX, 0),
	U(snd_wnd, 4, 0, UINT32_MAX, 65535),
	U(rcv_wnd, 4, 0, UINT32_MAX, 65535),
	U(client_ts_val, 4, 0, UINT32_MAX, 0),
	U(server_ts_val, 4, 0, UINT32_MAX, 0),
	U(server_ts_age_ms, 4, 0, UINT32_MAX, 0),
	U(c2s_offset, 8, 0, UINT64_MAX, 0),
	U(s2c_offset, 8, 0, UINT64_MAX, 0),
	F(c2s_file), F(s2c_file), F(recv_queue_file), F(unacked_file),
	F(material_file),
	{ 0 },
};

static const struct rv_yaml_field conn_elem = {
	.type = RV_YAML_MAP, .fields = conn_fields,
};

static const struct rv_yaml_field desc_fields[] = {
	{ .key = "appliance", .type = RV_YAML_STRING,
	  .flags = RV_YAML_REQUIRED, .offset = offsetof(struct desc, appliance),
	  .min = 1, .max = RV_HANDOFF_NAME_MAX },
	{ .key = "id", .type = RV_YAML_UINT,
	  .offset = offsetof(struct desc, id), .width = 8,
	  .min = 0, .max = UINT64_MAX, .def = 1 },
	{ .key = "server", .type = RV_YAML_ADDR, .flags = RV_YAML_REQUIRED,
	  .offset = offsetof(struct desc, server) },
	{ .key = "connections", .type = RV_YAML_LIST,
	  .offset = offsetof(struct desc, conns),
	  .count_offset = offsetof(struct desc, conn_count),
	  .min = 0, .max = RV_HANDOFF_MAX_CONNECTIONS,
	  .elem = &conn_elem, .elem_size = sizeof(struct desc_conn) },
	{ 0 },
};

static int
read_file(const char *path, uint8_t **data, size_t *len)
{
	struct stat st;
	ssize_t n;
	size_t got = 0;
	int fd;

	*data = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0) {
		fprintf(stderr, "handoff-send: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (st.st_size > FILE_MAX) {
		fprintf(stderr, "handoff-send: %s: over %u bytes\n", path,
		    FILE_MAX);
		close(fd);
		return -1;
	}
	if ((*data = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		return -1;
	}
	while (got < (size_t)st.st_size &&
	    (n = read(fd, *data + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)n;
	close(fd);
	*len = got;
	return 0;
}

static int
load_desc(const char *path, struct desc *d)
{
	struct rv_yaml_errors errs = { 0 };
	struct rv_yaml_doc *doc = NULL;
	uint8_t *buf;
	size_t len;

	if (read_file(path, &buf, &len) != 0)
		return -1;
	(void)rv_yaml_doc_load(&doc, path, buf, len, desc_fields, d);
	free(buf);
	if (rv_yaml_doc_finish(doc, &errs) != 0 || doc == NULL) {
		rv_yaml_errors_print(&errs, stderr);
		rv_yaml_errors_clear(&errs);
		return -1;
	}
	return 0;
}

/* Loads an optional file into *data; an absent key is an empty field. */
static int
load_bytes(const char *path, const uint8_t **data, size_t *len,
    uint8_t **owned)
{
	if (path == NULL) {
		*data = NULL;
		*len = 0;
		return 0;
	}
	if (read_file(path, owned, len) != 0)
		return -1;
	*data = *owned;
	return 0;
}

/* Every buffer a handoff's connections point to, freed together. */
struct buffers {
	uint8_t **list;
	size_t count;
};

static int
build_conn(const struct desc_conn *d, struct rv_handoff_conn *c,
    struct buffers *bufs)
{
	uint8_t **b = bufs->list + bufs->count;

	c->server = d->server;
	c->client = d->client;
	c->mss = d->mss;
	c->client_wscale = d->client_wscale;
	c->server_wscale = d->server_wscale;
	c->wscale_ok = d->wscale_ok;
	c->sack_ok = d->sack_ok;
	c->ts_ok = d->ts_ok;
	c->snd_una = d->snd_una;
	c->snd_nxt = d->snd_nxt;
	c->rcv_nxt = d->rcv_nxt;
	c->snd_wnd = d->snd_wnd;
	c->rcv_wnd = d->rcv_wnd;
	c->client_ts_val = d->client_ts_val;
	c->server_ts_val = d->server_ts_val;
	c->server_ts_age_ms = d->server_ts_age_ms;
	c->c2s.offset = d->c2s_offset;
	c->s2c.offset = d->s2c_offset;
	bufs->count += 5;
	if (load_bytes(d->c2s_file, &c->c2s.data, &c->c2s.len, &b[0]) != 0 ||
	    load_bytes(d->s2c_file, &c->s2c.data, &c->s2c.len, &b[1]) != 0 ||
	    load_bytes(d->recv_queue_file, &c->recv_queue, &c->recv_queue_len,
	    &b[2]) != 0 ||
	    load_bytes(d->unacked_file, &c->unacked, &c->unacked_len,
	    &b[3]) != 0 ||
	    load_bytes(d->material_file, &c->material, &c->material_len,
	    &b[4]) != 0)
		return -1;
	return 0;
}

static EVP_PKEY *
load_private_key(const char *path)
{
	EVP_PKEY *key;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "handoff-send: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (key == NULL || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
		fprintf(stderr, "handoff-send: %s: not an Ed25519 PKCS#8 PEM "
		    "private key\n", path);
		EVP_PKEY_free(key);
		return NULL;
	}
	return key;
}

static int
cmd_pubkey(int argc, char **argv)
{
	char line[256];
	EVP_PKEY *key;
	int rc;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: handoff-send pubkey KEY.pem [COMMENT]\n");
		return 2;
	}
	if ((key = load_private_key(argv[1])) == NULL)
		return 2;
	rc = rv_handoff_format_public_key(key, argc == 3 ? argv[2] : NULL,
	    line, sizeof(line));
	EVP_PKEY_free(key);
	if (rc != 0)
		return 2;
	printf("%s\n", line);
	return 0;
}

struct send_opts {
	const char *key_path, *agent, *save, *raw, *name;
	long truncate;
	bool bad_signature, absurd_length;
	int timeout_ms;
};

static int
connect_agent(const char *text)
{
	struct rv_endpoint ep;
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	int fd;

	if (rv_endpoint_parse(text, &ep) != 0) {
		fprintf(stderr, "handoff-send: invalid agent address '%s': "
		    "expected ADDR:PORT\n", text);
		return -1;
	}
	if (ep.addr.family == 4) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(ep.port);
		memcpy(&v4->sin_addr, ep.addr.bytes, 4);
		len = sizeof(*v4);
	} else {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(ep.port);
		memcpy(&v6->sin6_addr, ep.addr.bytes, 16);
		len = sizeof(*v6);
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&ss, len) != 0) {
		fprintf(stderr, "handoff-send: connect %s: %s\n", text,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int
build_payload(const struct send_opts *o, const char *desc_path,
    const uint8_t *challenge, uint8_t **msg, size_t *len)
{
	struct desc d = { 0 };
	struct rv_handoff h = { 0 };
	struct buffers bufs = { 0 };
	EVP_PKEY *key = NULL;
	size_t i;
	int rc = -1;

	if (load_desc(desc_path, &d) != 0)
		goto out;
	if ((key = load_private_key(o->key_path)) == NULL)
		goto out;
	snprintf(h.appliance, sizeof(h.appliance), "%s",
	    o->name != NULL ? o->name : d.appliance);
	h.id = d.id;
	h.server = d.server;
	h.conn_count = d.conn_count;
	h.conns = calloc(d.conn_count + 1, sizeof(*h.conns));
	bufs.list = calloc(5 * d.conn_count + 1, sizeof(*bufs.list));
	if (h.conns == NULL || bufs.list == NULL)
		goto out;
	for (i = 0; i < d.conn_count; i++) {
		if (build_conn(&d.conns[i], &h.conns[i], &bufs) != 0)
			goto out;
	}
	if ((rc = rv_handoff_encode(&h, challenge, key, msg, len)) != 0)
		fprintf(stderr, "handoff-send: %s: cannot encode: %s\n",
		    desc_path, rv_handoff_strerror(rc));
 out:
	for (i = 0; i < bufs.count; i++)
		free(bufs.list[i]);
	free(bufs.list);
	free(h.conns);
	EVP_PKEY_free(key);
	rv_yaml_free(desc_fields, &d);
	return rc;
}

static int
save_file(const char *path, const uint8_t *p, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL || fwrite(p, 1, len, f) != len) {
		fprintf(stderr, "handoff-send: %s: %s\n", path, strerror(errno));
		if (f != NULL)
			fclose(f);
		return -1;
	}
	return fclose(f) == 0 ? 0 : -1;
}

/* Sends the payload as the options say: whole, cut, or with a bad length. */
static int
send_payload(const struct send_opts *o, int fd, uint8_t *msg, size_t len)
{
	uint8_t absurd[4] = { 0xff, 0xff, 0xff, 0xff }, hdr[4];

	if (o->bad_signature)
		msg[len - 1] ^= 0x01;
	if (o->absurd_length)
		return send(fd, absurd, sizeof(absurd), MSG_NOSIGNAL) == 4 ? 0 : -1;
	if (o->truncate >= 0) {
		hdr[0] = (uint8_t)(len >> 24);
		hdr[1] = (uint8_t)(len >> 16);
		hdr[2] = (uint8_t)(len >> 8);
		hdr[3] = (uint8_t)len;
		if ((size_t)o->truncate > len ||
		    send(fd, hdr, 4, MSG_NOSIGNAL) != 4 ||
		    send(fd, msg, (size_t)o->truncate, MSG_NOSIGNAL) !=
		    o->truncate)
			return -1;
		shutdown(fd, SHUT_WR);
		return 0;
	}
	return rv_handoff_send_frame(fd, msg, len, o->timeout_ms);
}

static int
print_reply(int fd, const struct send_opts *o)
{
	struct rv_handoff_reply reply;
	uint8_t *in;
	size_t len, i;
	int rc, status = 0;

	rc = rv_handoff_recv_frame(fd, 1u << 20, o->timeout_ms, &in, &len);
	if (rc != 0) {
		printf("no reply: %s\n", rv_handoff_strerror(rc));
		return 4;
	}
	rc = rv_handoff_reply_decode(in, len, RV_HANDOFF_MAX_CONNECTIONS,
	    &reply);
	free(in);
	if (rc != 0) {
		printf("invalid reply: %s\n", rv_handoff_strerror(rc));
		return 4;
	}
	if (reply.rejected) {
		printf("rejected: %s\n", reply.reason);
		status = 3;
	}
	for (i = 0; i < reply.result_count; i++) {
		if (reply.results[i].status == RV_HANDOFF_RESTORED) {
			printf("result %zu restored\n", i);
		} else {
			printf("result %zu failed: %s\n", i,
			    reply.results[i].reason);
			status = 1;
		}
	}
	rv_handoff_reply_clear(&reply);
	return status;
}

static int
run_send(const struct send_opts *o, const char *desc_path)
{
	uint8_t challenge[RV_HANDOFF_CHALLENGE_LEN], *in = NULL, *msg = NULL;
	size_t in_len, len;
	int fd, rc, status = 2;

	if ((fd = connect_agent(o->agent)) < 0)
		return 2;
	rc = rv_handoff_recv_frame(fd, RV_HANDOFF_CHALLENGE_MSG_LEN,
	    o->timeout_ms, &in, &in_len);
	if (rc != 0 || rv_handoff_challenge_decode(in, in_len, challenge) != 0) {
		fprintf(stderr, "handoff-send: %s: no valid challenge\n",
		    o->agent);
		goto out;
	}
	if (o->raw != NULL)
		rc = read_file(o->raw, &msg, &len);
	else
		rc = build_payload(o, desc_path, challenge, &msg, &len);
	if (rc != 0 || len < RV_HANDOFF_SIGNATURE_LEN)
		goto out;
	if (o->save != NULL && save_file(o->save, msg, len) != 0)
		goto out;
	if (send_payload(o, fd, msg, len) != 0) {
		fprintf(stderr, "handoff-send: %s: send failed\n", o->agent);
		goto out;
	}
	status = print_reply(fd, o);
 out:
	free(in);
	free(msg);
	close(fd);
	return status;
}

static int
cmd_send(int argc, char **argv)
{
	struct send_opts o = { .truncate = -1, .timeout_ms = 10000 };
	int ch;

	optind = 1;
	while ((ch = getopt(argc, argv, "k:a:s:r:n:T:BLw:")) != -1) {
		switch (ch) {
		case 'k': o.key_path = optarg; break;
		case 'a': o.agent = optarg; break;
		case 's': o.save = optarg; break;
		case 'r': o.raw = optarg; break;
		case 'n': o.name = optarg; break;
		case 'T': o.truncate = strtol(optarg, NULL, 10); break;
		case 'B': o.bad_signature = true; break;
		case 'L': o.absurd_length = true; break;
		case 'w': o.timeout_ms = atoi(optarg); break;
		default: return 2;
		}
	}
	if (o.agent == NULL || optind != argc - 1 ||
	    (o.raw == NULL && o.key_path == NULL)) {
		fprintf(stderr, "usage: handoff-send send -k KEY.pem -a "
		    "ADDR:PORT [-n NAME] [-s FILE] [-r FILE] [-T BYTES] [-B] "
		    "[-L] [-w MS] DESCRIPTION.yaml\n");
		return 2;
	}
	return run_send(&o, argv[optind]);
}

static void
put_endpoint(FILE *f, const char *key, const struct sockaddr_storage *ss)
{
	char host[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *v4 = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &v4->sin_addr, host, sizeof(host));
		fprintf(f, "%s: \"%s:%u\"\n", key, host, ntohs(v4->sin_port));
	} else {
		const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof(host));
		fprintf(f, "%s: \"[%s]:%u\"\n", key, host, ntohs(v6->sin6_port));
	}
}

static int
write_dump(const char *prefix, const struct rv_tcp_dump *d)
{
	const struct rv_tcp_restore *r = &d->state;
	char path[4096];
	struct timespec now;
	FILE *f;

	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(path, sizeof(path), "%s.send", prefix);
	if (save_file(path, r->unacked_send, r->unacked_send_len) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s.recv", prefix);
	if (save_file(path, r->recv_queue, r->recv_queue_len) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s.yaml", prefix);
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	put_endpoint(f, "server", &r->local);
	put_endpoint(f, "client", &r->remote);
	fprintf(f, "mss: %u\nclient_wscale: %u\nserver_wscale: %u\n"
	    "wscale_ok: %s\nsack_ok: %s\nts_ok: %s\n", r->mss, r->snd_wscale,
	    r->rcv_wscale, r->wscale_ok ? "true" : "false",
	    r->sack_ok ? "true" : "false", r->ts_ok ? "true" : "false");
	fprintf(f, "snd_una: %u\nsnd_nxt: %u\nrcv_nxt: %u\nsnd_wnd: %u\n"
	    "rcv_wnd: %u\nserver_ts_val: %u\n", r->snd_una, r->snd_seq,
	    r->rcv_nxt, r->snd_wnd, r->rcv_wnd, d->ts_now);
	fprintf(f, "unacked_file: %s.send\nrecv_queue_file: %s.recv\n",
	    prefix, prefix);
	/* Wall-clock time of the dump, for the test's server_ts_age_ms. */
	fprintf(f, "dumped_at_ms: %lld\n",
	    (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
	return fclose(f);
}

static int
cmd_dump(int argc, char **argv)
{
	struct rv_tcp_dump d;
	char why[256];
	int fd, rc;

	if (argc != 3) {
		fprintf(stderr, "usage: handoff-send dump FD PREFIX\n");
		return 2;
	}
	fd = atoi(argv[1]);
	if ((rc = rv_tcp_repair_dump(fd, &d, why, sizeof(why))) != 0) {
		fprintf(stderr, "handoff-send: dump of fd %d: %s\n", fd, why);
		return 2;
	}
	rc = write_dump(argv[2], &d);
	rv_tcp_dump_free(&d);
	if (rc != 0) {
		fprintf(stderr, "handoff-send: %s: %s\n", argv[2],
		    strerror(errno));
		return 2;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	rv_log_set_ident("handoff-send");
	if (argc >= 2 && strcmp(argv[1], "pubkey") == 0)
		return cmd_pubkey(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "send") == 0)
		return cmd_send(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "dump") == 0)
		return cmd_dump(argc - 1, argv + 1);
	fprintf(stderr, "usage: handoff-send pubkey|send|dump ... "
	    "(see the comment at the top of tools/handoff-send/handoff-send.c)\n");
	return 2;
}
