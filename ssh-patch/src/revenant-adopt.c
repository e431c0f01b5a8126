/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Adoption of a live SSH connection on the backup host: checkpoint choice,
 * packet state rebuilt without a key exchange, the walk over the logged
 * packets, and the channels recreated in the session process.
 */

#include "includes.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "xmalloc.h"
#include "sshbuf.h"
#include "ssherr.h"
#include "log.h"
#include "misc.h"
#include "match.h"
#include "ssh.h"
#include "ssh2.h"
#include "packet.h"
#include "cipher.h"
#include "mac.h"
#include "kex.h"
#include "compat.h"
#include "myproposal.h"
#include "sshkey.h"
#include "hostfile.h"
#include "auth.h"
#include "auth-options.h"
#include "servconf.h"
#include "canohost.h"
#include "channels.h"
#include "session.h"
#include "sshpty.h"
#include "monitor.h"
#include "monitor_wrap.h"
#include "sftp.h"
#include "sftp-common.h"

#include "revenant-adopt.h"
#include "revenant-adopt-msg.h"
#include "revenant-ckpt-wire.h"
#include "revenant-keyfile.h"
#include "revenant-state.h"

extern ServerOptions options;
extern struct sshauthopt *auth_opts;

/* Monitor hook of the adoption patch (monitor.c). */
void	monitor_adopt_state(struct monitor *, struct Authctxt *, struct sshbuf *,
	    const u_char *, u_int);
/* Session hooks of the adoption patch (session.c). */
Session	*session_adopt_lookup(int);
int	session_adopt_shell(struct ssh *, Session *);
int	session_adopt_subsystem(struct ssh *, Session *, const char *);

/* What rv_adopt_resume() does with a channel of the checkpoint. */
#define ADOPT_CHANNEL_SHELL	1	/* pty shell: new login shell */
#define ADOPT_CHANNEL_END	2	/* session: exit status 255 */
#define ADOPT_CHANNEL_CLOSE	3	/* anything else: close */
#define ADOPT_CHANNEL_SUBSYSTEM	4	/* subsystem: new server, no new init */
#define ADOPT_CHANNEL_LISTEN	5	/* remote forward: listen again */
#define ADOPT_CHANNEL_FORGET	6	/* unknown to the client: drop */

#define ADOPT_EXIT_STATUS	255
#define ADOPT_PACKET_MAX	(256 * 1024)	/* packet.c's limit, bytes */

/* State of the adopting child; it adopts exactly one connection. */
static int adopt_fd = -1;		/* agent connection, -1 elsewhere */
static uint8_t *adopt_body;		/* the adopt message body */
static struct rv_adopt_msg adopt_msg;
static struct rv_state_content adopt_content;	/* the chosen checkpoint */
static int *adopt_plan;			/* ADOPT_CHANNEL_* per channel */
static int adopt_keep_window = -1;	/* channel being activated */
/* Connection name that starts every log line of the adoption: "<client>
 * port <p> -> <server> port <p>", or "agent message" before decoding. */
static char adopt_conn[2 * INET6_ADDRSTRLEN + 32] = "agent message";

/*
 * Position of the client's byte stream of an sftp channel in SFTP's
 * framing (a u32 length, then that many bytes). The primary consumed the
 * client's data up to the failure, so the new sftp-server must start at
 * the next packet, never inside one.
 */
struct adopt_sftp_frame {
	u_char		hdr[5];		/* length and type bytes seen so far */
	u_int		hdr_len;
	u_int32_t	body_left;	/* bytes after the type still to come */
	int		broken;		/* a packet start was not a request */
};
static struct adopt_sftp_frame *adopt_frames;	/* per checkpoint channel */
/* Highest number among the primary's checkpoints in the material. */
static uint64_t adopt_last_number;

void
rv_adopt_servconf_init(struct rv_adopt_options *ao)
{
	ao->socket_path = NULL;
	ao->recovery_key_file = NULL;
}

int
rv_adopt_servconf_parse(struct rv_adopt_options *ao, const char *keyword,
    int *acp, char ***avp, const char *filename, int linenum, int active)
{
	char *arg, **field;

	if (strcasecmp(keyword, "RevenantAdoptSocket") == 0)
		field = &ao->socket_path;
	else
		field = &ao->recovery_key_file;
	arg = argv_next(acp, avp);
	if (arg == NULL || *arg == '\0') {
		error("%s line %d: %s: missing path", filename, linenum,
		    keyword);
		return -1;
	}
	if (*arg != '/') {
		error("%s line %d: %s: \"%.200s\" is not an absolute path",
		    filename, linenum, keyword, arg);
		return -1;
	}
	if (active && *field == NULL)
		*field = xstrdup(arg);
	return 0;
}

void
rv_adopt_servconf_check(const struct rv_adopt_options *ao)
{
	if ((ao->socket_path == NULL) != (ao->recovery_key_file == NULL))
		fatal("RevenantAdoptSocket and RevenantRecoveryKey must be "
		    "set together");
}

void
rv_adopt_servconf_dump(const struct rv_adopt_options *ao)
{
	printf("revenantadoptsocket %s\n",
	    ao->socket_path == NULL ? "none" : ao->socket_path);
	printf("revenantrecoverykey %s\n",
	    ao->recovery_key_file == NULL ? "none" : ao->recovery_key_file);
}

int
rv_adopt_listen(void)
{
	const char *path = options.revenant_adopt.socket_path;
	struct sockaddr_un sun;
	int fd;

	if (path == NULL)
		return -1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path))
		fatal("RevenantAdoptSocket %s: path too long", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		fatal("RevenantAdoptSocket: socket: %s", strerror(errno));
	if (unlink(path) == -1 && errno != ENOENT)
		fatal("RevenantAdoptSocket %s: unlink: %s", path,
		    strerror(errno));
	/* Only root, which runs the agent, may hand connections over. */
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    chmod(path, 0600) == -1 || listen(fd, 64) == -1)
		fatal("RevenantAdoptSocket %s: %s", path, strerror(errno));
	logit("revenant: adopting connections on %s", path);
	return fd;
}

void
rv_adopt_child_start(int fd)
{
	adopt_fd = fd;
}

int
rv_adopt_active(void)
{
	return adopt_fd != -1;
}

/* Logs at `level` with the adopted connection named first, so that an
 * operator can match each line of concurrent adoptions to its connection. */
static void __attribute__((format(printf, 2, 3)))
adopt_log(LogLevel level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (level > log_level_get())
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	do_log2(level, "revenant adopt: %s: %s", adopt_conn, msg);
}

#define adopt_error(...)	adopt_log(SYSLOG_LEVEL_ERROR, __VA_ARGS__)
#define adopt_logit(...)	adopt_log(SYSLOG_LEVEL_INFO, __VA_ARGS__)
#define adopt_verbose(...)	adopt_log(SYSLOG_LEVEL_VERBOSE, __VA_ARGS__)
#define adopt_debug(...)	adopt_log(SYSLOG_LEVEL_DEBUG1, __VA_ARGS__)

/* Sets adopt_conn from the decoded adopt message. */
static void
adopt_name_conn(void)
{
	char client[INET6_ADDRSTRLEN], server[INET6_ADDRSTRLEN];
	int af = adopt_msg.family == 4 ? AF_INET : AF_INET6;

	if (inet_ntop(af, adopt_msg.client, client, sizeof(client)) == NULL)
		strlcpy(client, "?", sizeof(client));
	if (inet_ntop(af, adopt_msg.server, server, sizeof(server)) == NULL)
		strlcpy(server, "?", sizeof(server));
	snprintf(adopt_conn, sizeof(adopt_conn), "%s port %u -> %s port %u",
	    client, adopt_msg.client_port, server, adopt_msg.server_port);
}

/* Sets adopt_conn from the restored socket, for a message that did not
 * decode. */
static void
adopt_name_sock(int sock)
{
	char *client = get_peer_ipaddr(sock), *server = get_local_ipaddr(sock);

	snprintf(adopt_conn, sizeof(adopt_conn), "%s port %d -> %s port %d",
	    client, get_peer_port(sock), server, get_local_port(sock));
	free(client);
	free(server);
}

/* Answers the agent (0: taken) and forgets the agent connection. */
static void
adopt_answer(int status)
{
	u_char c = status;

	if (adopt_fd == -1)
		return;
	if (write(adopt_fd, &c, 1) != 1)
		adopt_error("answering the agent failed: %s",
		    strerror(errno));
	close(adopt_fd);
	adopt_fd = -2;	/* still adopting, nothing left to answer */
}

/* Answers the agent with a failure and ends the adopting child. */
static void __attribute__((noreturn)) __attribute__((format(printf, 1, 2)))
adopt_fail(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	adopt_error("%s", msg);
	adopt_answer(1);
	cleanup_exit(255);
}

int
rv_adopt_receive(void)
{
	uint8_t family;
	size_t len;
	int sock, r;

	if ((r = rv_adopt_msg_recv(adopt_fd, &sock, &family, &adopt_body,
	    &len)) != 0)
		adopt_fail("reading the adopt message: %s",
		    rv_adopt_msg_strerror(r));
	if ((r = rv_adopt_msg_body_decode(adopt_body, len, family,
	    &adopt_msg)) != 0) {
		adopt_name_sock(sock);
		close(sock);
		adopt_fail("invalid adopt message: %s",
		    rv_adopt_msg_strerror(r));
	}
	adopt_name_conn();
	adopt_debug("c2s log %u bytes at %llu, s2c log %u bytes "
	    "at %llu, material %u bytes", adopt_msg.c2s.len,
	    (unsigned long long)adopt_msg.c2s.offset, adopt_msg.s2c.len,
	    (unsigned long long)adopt_msg.s2c.offset, adopt_msg.material_len);
	return sock;
}

/* Returns 1 when the checkpoint header names the adopted connection. */
static int
adopt_conn_matches(const struct rv_ckpt_conn *conn)
{
	size_t alen = adopt_msg.family == 4 ? 4 : 16;

	return conn->family == adopt_msg.family &&
	    conn->server_port == adopt_msg.server_port &&
	    conn->client_port == adopt_msg.client_port &&
	    memcmp(conn->server, adopt_msg.server, alen) == 0 &&
	    memcmp(conn->client, adopt_msg.client, alen) == 0;
}

/* Returns 1 when offset lies within the log, its end included. */
static int
adopt_log_covers(const struct rv_adopt_log *log, uint64_t offset)
{
	return offset >= log->offset && offset - log->offset <= log->len;
}

/* Stream offsets, in bytes, of a checkpoint that the logs do not cover. */
struct adopt_uncovered {
	uint64_t	number;
	uint64_t	c2s_offset;
	uint64_t	s2c_offset;
};

/* Logs where offset lies outside the log of direction dir, if it does. */
static void
adopt_log_outside(LogLevel level, uint64_t number, const char *dir,
    const struct rv_adopt_log *log, uint64_t offset)
{
	if (offset < log->offset)
		adopt_log(level, "checkpoint %llu: %s offset %llu is before "
		    "the log start %llu", (unsigned long long)number, dir,
		    (unsigned long long)offset,
		    (unsigned long long)log->offset);
	else if (offset - log->offset > log->len)
		adopt_log(level, "checkpoint %llu: %s offset %llu is after "
		    "the log end %llu", (unsigned long long)number, dir,
		    (unsigned long long)offset,
		    (unsigned long long)(log->offset + log->len));
}

/*
 * Logs each checkpoint that the logs do not cover: at error level when no
 * checkpoint was usable, because these numbers then explain the failure,
 * and at debug level when a newer one was chosen anyway.
 */
static void
adopt_log_uncovered(const struct adopt_uncovered *u, size_t n, int found)
{
	LogLevel level = found ? SYSLOG_LEVEL_DEBUG1 : SYSLOG_LEVEL_ERROR;
	size_t i;

	for (i = 0; i < n; i++) {
		adopt_log_outside(level, u[i].number, "c2s", &adopt_msg.c2s,
		    u[i].c2s_offset);
		adopt_log_outside(level, u[i].number, "s2c", &adopt_msg.s2c,
		    u[i].s2c_offset);
	}
}

/*
 * Opens checkpoint i of the material into *content. Returns 0, or -1 after
 * logging why it cannot be used.
 */
static int
adopt_open_checkpoint(const struct rv_adopt_ckpt *ck, size_t i,
    const uint8_t sk[RV_HPKE_X25519_LEN], const uint8_t *host_pk,
    struct rv_state_content *content, uint64_t *number)
{
	struct rv_ckpt_msg m;
	uint8_t *pt = NULL;
	size_t pt_len;
	int r, ret = -1;

	if ((r = rv_ckpt_msg_decode(ck->data, ck->len, &m)) != 0) {
		adopt_error("checkpoint %zu: %s", i,
		    rv_ckpt_strerror(r));
		return -1;
	}
	if ((r = rv_ckpt_msg_verify(&m, ck->data, host_pk)) != 0) {
		adopt_error("checkpoint %llu: signature: %s",
		    (unsigned long long)m.hdr.number, rv_ckpt_strerror(r));
		return -1;
	}
	if (!adopt_conn_matches(&m.hdr.conn)) {
		adopt_error("checkpoint %llu names another "
		    "connection", (unsigned long long)m.hdr.number);
		return -1;
	}
	pt = xmalloc(RV_STATE_CONTENT_MAX);
	if ((r = rv_ckpt_msg_open(&m, sk, pt, RV_STATE_CONTENT_MAX,
	    &pt_len)) != 0) {
		adopt_error("checkpoint %llu: %s",
		    (unsigned long long)m.hdr.number, rv_ckpt_strerror(r));
		goto out;
	}
	if ((r = rv_state_content_decode(pt, pt_len, content)) != 0) {
		adopt_error("checkpoint %llu: content: %s",
		    (unsigned long long)m.hdr.number, rv_state_strerror(r));
		goto out;
	}
	*number = m.hdr.number;
	ret = 0;
 out:
	freezero(pt, RV_STATE_CONTENT_MAX);
	return ret;
}

/*
 * Chooses the newest checkpoint whose offsets both logs cover, so that
 * the logged packets lead from it to the moment of the failure.
 */
static void
adopt_choose_checkpoint(struct ssh *ssh)
{
	struct rv_adopt_ckpt ckpts[RV_ADOPT_MSG_CHECKPOINTS_MAX];
	struct adopt_uncovered uncovered[RV_ADOPT_MSG_CHECKPOINTS_MAX];
	struct rv_state_content c;
	struct rv_keyfile_error kerr;
	uint8_t sk[RV_HPKE_X25519_LEN], pk[RV_HPKE_X25519_LEN];
	struct sshkey *hostkey;
	uint64_t number, best = 0;
	size_t n, i, n_uncovered = 0;
	int r, found = 0;

	if ((r = rv_adopt_msg_checkpoints(&adopt_msg, ckpts,
	    RV_ADOPT_MSG_CHECKPOINTS_MAX, &n)) != 0)
		adopt_fail("invalid SSH material: %s",
		    rv_adopt_msg_strerror(r));
	hostkey = get_hostkey_public_by_type(KEY_ED25519, -1, ssh);
	if (hostkey == NULL || hostkey->ed25519_pk == NULL)
		adopt_fail("no Ed25519 host key to verify checkpoints with");
	if (rv_keyfile_load_private(options.revenant_adopt.recovery_key_file,
	    sk, pk, &kerr) != 0)
		adopt_fail("%s", kerr.message);
	for (i = 0; i < n; i++) {
		memset(&c, 0, sizeof(c));
		if (adopt_open_checkpoint(&ckpts[i], i, sk,
		    hostkey->ed25519_pk, &c, &number) != 0)
			continue;
		adopt_last_number = MAXIMUM(adopt_last_number, number);
		if (!adopt_log_covers(&adopt_msg.c2s, c.session.c2s_offset) ||
		    !adopt_log_covers(&adopt_msg.s2c, c.session.s2c_offset)) {
			uncovered[n_uncovered].number = number;
			uncovered[n_uncovered].c2s_offset =
			    c.session.c2s_offset;
			uncovered[n_uncovered].s2c_offset =
			    c.session.s2c_offset;
			n_uncovered++;
			rv_state_content_clear(&c);
			continue;
		}
		if (found && number <= best) {
			adopt_debug("checkpoint %llu not used: checkpoint %llu "
			    "is as new or newer", (unsigned long long)number,
			    (unsigned long long)best);
			rv_state_content_clear(&c);
			continue;
		}
		if (found)
			rv_state_content_clear(&adopt_content);
		adopt_content = c;
		best = number;
		found = 1;
	}
	explicit_bzero(sk, sizeof(sk));
	adopt_log_uncovered(uncovered, n_uncovered, found);
	if (!found)
		adopt_fail("none of %zu checkpoints is valid and covered by "
		    "the logs", n);
	adopt_verbose("resuming from checkpoint %llu (c2s %llu, "
	    "s2c %llu)", (unsigned long long)best,
	    (unsigned long long)adopt_content.session.c2s_offset,
	    (unsigned long long)adopt_content.session.s2c_offset);
}

/* Appends upstream's key exchange blob (packet.c, kex_from_blob()). */
static int
adopt_put_kex(struct ssh *ssh, struct sshbuf *m, char *hostkey_types)
{
	const struct rv_state_session *s = &adopt_content.session;
	char *proposal[PROPOSAL_MAX] = { KEX_SERVER };
	struct sshbuf *my = NULL;
	char *kex_names = NULL, *prop_kex = NULL, *prop_enc = NULL;
	char *prop_hostkey = NULL;
	int r;

	if ((my = sshbuf_new()) == NULL) {
		r = SSH_ERR_ALLOC_FAIL;
		goto out;
	}
	/* The proposal that the next KEXINIT of this server sends. */
	if ((kex_names = kex_names_cat(options.kex_algorithms,
	    "kex-strict-s-v00@openssh.com")) == NULL) {
		r = SSH_ERR_ALLOC_FAIL;
		goto out;
	}
	proposal[PROPOSAL_KEX_ALGS] = prop_kex =
	    compat_kex_proposal(ssh, kex_names);
	proposal[PROPOSAL_ENC_ALGS_CTOS] = proposal[PROPOSAL_ENC_ALGS_STOC] =
	    prop_enc = compat_cipher_proposal(ssh, options.ciphers);
	proposal[PROPOSAL_MAC_ALGS_CTOS] = proposal[PROPOSAL_MAC_ALGS_STOC] =
	    options.macs;
	proposal[PROPOSAL_COMP_ALGS_CTOS] = proposal[PROPOSAL_COMP_ALGS_STOC] =
	    "none";
	proposal[PROPOSAL_SERVER_HOST_KEY_ALGS] = prop_hostkey =
	    compat_pkalg_proposal(ssh, hostkey_types);
	if ((r = kex_prop2buf(my, proposal)) != 0)
		goto out;
	/*
	 * Both identification strings enter every later exchange hash
	 * (RFC 4253, section 8), so a rekey needs the ones the primary saw.
	 */
	if ((r = sshbuf_put_u32(m, 0)) != 0 ||		/* we_need */
	    (r = sshbuf_put_cstring(m, s->hostkey_alg)) != 0 ||
	    (r = sshbuf_put_u32(m, sshkey_type_from_name(s->hostkey_alg))) != 0 ||
	    (r = sshbuf_put_u32(m, sshkey_ecdsa_nid_from_name(
	    s->hostkey_alg))) != 0 ||
	    (r = sshbuf_put_u32(m, 0)) != 0 ||		/* kex_type */
	    (r = sshbuf_put_u32(m, (s->transport_flags &
	    RV_STATE_TRANSPORT_STRICT_KEX) ? 1 : 0)) != 0 ||
	    (r = sshbuf_put_stringb(m, my)) != 0 ||
	    (r = sshbuf_put_string(m, NULL, 0)) != 0 ||	/* peer */
	    (r = sshbuf_put_cstring(m, s->client_version)) != 0 ||
	    (r = sshbuf_put_cstring(m, s->server_version)) != 0 ||
	    (r = sshbuf_put_string(m, adopt_content.session_id,
	    adopt_content.session_id_len)) != 0 ||
	    (r = sshbuf_put_u32(m, 0)) != 0)		/* flags */
		goto out;
	r = 0;
 out:
	free(kex_names);
	free(prop_kex);
	free(prop_enc);
	free(prop_hostkey);
	sshbuf_free(my);
	return r;
}

/* Appends upstream's new-keys blob of one direction of the checkpoint. */
static int
adopt_put_newkeys(struct sshbuf *m, const struct rv_state_dir *d)
{
	const struct sshcipher *cipher;
	struct sshbuf *b;
	int r;

	if ((cipher = cipher_by_name(d->cipher)) == NULL)
		return SSH_ERR_INVALID_FORMAT;
	/* The next IV or counter block, so the cipher starts where it was. */
	if (d->cipher_state_kind == RV_STATE_CIPHER_UNSUPPORTED ||
	    (d->cipher_state_kind != RV_STATE_CIPHER_NONCE_SEQNR &&
	    d->cipher_state_len != cipher_ivlen(cipher)))
		return SSH_ERR_FEATURE_UNSUPPORTED;
	if ((b = sshbuf_new()) == NULL)
		return SSH_ERR_ALLOC_FAIL;
	if ((r = sshbuf_put_cstring(b, d->cipher)) != 0 ||
	    (r = sshbuf_put_u32(b, 1)) != 0 ||
	    (r = sshbuf_put_u32(b, cipher_blocksize(cipher))) != 0 ||
	    (r = sshbuf_put_string(b, d->key, d->key_len)) != 0 ||
	    (r = sshbuf_put_string(b, d->cipher_state,
	    d->cipher_state_len)) != 0)
		goto out;
	if (cipher_authlen(cipher) == 0 &&
	    ((r = sshbuf_put_cstring(b, d->mac)) != 0 ||
	    (r = sshbuf_put_u32(b, 1)) != 0 ||
	    (r = sshbuf_put_string(b, d->mac_key, d->mac_key_len)) != 0))
		goto out;
	if ((r = sshbuf_put_u32(b, COMP_NONE)) != 0 ||
	    (r = sshbuf_put_cstring(b, "none")) != 0)
		goto out;
	r = sshbuf_put_stringb(m, b);
 out:
	sshbuf_free(b);
	return r;
}

/* Appends seqnr, blocks, packets and bytes of one direction. */
static int
adopt_put_counters(struct sshbuf *m, uint32_t seqnr, uint64_t bytes)
{
	int r;

	if ((r = sshbuf_put_u32(m, seqnr)) != 0 ||
	    (r = sshbuf_put_u64(m, 0)) != 0 ||
	    (r = sshbuf_put_u32(m, 0)) != 0 ||
	    (r = sshbuf_put_u64(m, bytes)) != 0)
		return r;
	return 0;
}

/*
 * Builds the state of a walker that reads direction dir as its input:
 * the checkpoint's keys of dir on the receiving side.
 */
static struct sshbuf *
adopt_walker_blob(struct ssh *ssh, char *hostkey_types, int dir)
{
	const struct rv_state_session *s = &adopt_content.session;
	const struct rv_state_dir *in = &s->dir[dir], *out = &s->dir[!dir];
	struct sshbuf *m;
	int r;

	if ((m = sshbuf_new()) == NULL)
		fatal_f("sshbuf_new");
	if ((r = adopt_put_kex(ssh, m, hostkey_types)) != 0 ||
	    (r = adopt_put_newkeys(m, out)) != 0 ||
	    (r = adopt_put_newkeys(m, in)) != 0 ||
	    (r = sshbuf_put_u64(m, s->rekey_limit)) != 0 ||
	    (r = sshbuf_put_u32(m, s->rekey_interval)) != 0 ||
	    (r = adopt_put_counters(m, out->seqnr, out->bytes)) != 0 ||
	    (r = adopt_put_counters(m, in->seqnr, in->bytes)) != 0 ||
	    (r = sshbuf_put_u64(m, 0)) != 0 ||		/* stream_in */
	    (r = sshbuf_put_u64(m, 0)) != 0 ||		/* stream_out */
	    (r = sshbuf_put_string(m, NULL, 0)) != 0 ||
	    (r = sshbuf_put_string(m, NULL, 0)) != 0) {
		sshbuf_free(m);
		adopt_fail("%s keys of the checkpoint: %s",
		    dir == RV_STATE_C2S ? "c2s" : "s2c", ssh_err(r));
	}
	return m;
}

/* Returns the checkpoint channel with the given id, or NULL. */
static struct rv_state_channel *
adopt_channel(uint32_t id, int by_remote)
{
	struct rv_state_session *s = &adopt_content.session;
	uint32_t i;

	for (i = 0; i < s->n_channels; i++) {
		if ((by_remote ? s->channels[i].remote_id :
		    s->channels[i].self) == id)
			return &s->channels[i];
	}
	return NULL;
}

/*
 * Returns 1 when hdr, the length and type of an sftp packet, can start a
 * client request (draft-ietf-secsh-filexfer-02, section 3). The length
 * must count at least the type and a request id and stay within
 * sftp-server's limit, and the type must be a request.
 */
static int
adopt_sftp_request_start(const u_char hdr[5])
{
	u_int32_t len = PEEK_U32(hdr);

	if (len < 1 + 4 || len > SFTP_MAX_MSG_LENGTH)
		return 0;
	return (hdr[4] >= SSH2_FXP_OPEN && hdr[4] <= SSH2_FXP_SYMLINK) ||
	    hdr[4] == SSH2_FXP_EXTENDED;
}

/*
 * Moves frame f over the client's sftp bytes p[0 .. len), checking each
 * packet start. With to_boundary set it stops where the next packet
 * would start. Returns the bytes it moved over; it stops early when a
 * packet start is not a request, and marks f broken.
 */
static size_t
adopt_sftp_frame_move(struct adopt_sftp_frame *f, const u_char *p,
    size_t len, int to_boundary)
{
	size_t used = 0, n;

	while (used < len) {
		if (f->body_left > 0) {
			n = MINIMUM(f->body_left, len - used);
			f->body_left -= n;
			used += n;
			continue;
		}
		if (to_boundary && f->hdr_len == 0)
			break;
		f->hdr[f->hdr_len++] = p[used++];
		if (f->hdr_len < sizeof(f->hdr))
			continue;
		f->hdr_len = 0;
		if (!adopt_sftp_request_start(f->hdr)) {
			f->broken = 1;
			return used;
		}
		/* The length counts the type byte, already taken. */
		f->body_left = PEEK_U32(f->hdr) - 1;
	}
	return used;
}

/* Moves frame f over logged client data; returns -1 once it is broken. */
static int
adopt_sftp_walk(struct adopt_sftp_frame *f, const u_char *data, size_t len)
{
	adopt_sftp_frame_move(f, data, len, 0);
	return f->broken ? -1 : 0;
}

/*
 * Applies one logged packet to the channel windows. Client data that the
 * primary acknowledged is counted as consumed and discarded, never given
 * to the new shell.
 */
static void
adopt_walk_packet(struct ssh *w, u_char type, int dir)
{
	struct rv_state_channel *ch;
	const u_char *data;
	size_t len;
	u_int32_t id, n;
	char *rtype = NULL;
	int r, from_client = dir == RV_STATE_C2S, *plan;

	if (type == SSH2_MSG_KEXINIT || type == SSH2_MSG_NEWKEYS)
		adopt_fail("a key exchange started after the checkpoint");
	if (type == SSH2_MSG_CHANNEL_OPEN)
		adopt_fail("a channel opened after the checkpoint");
	if (type < SSH2_MSG_CHANNEL_OPEN_CONFIRMATION ||
	    type > SSH2_MSG_CHANNEL_FAILURE) {
		adopt_debug("logged %s message %u skipped",
		    from_client ? "client" : "server", type);
		return;
	}
	if ((r = sshpkt_get_u32(w, &id)) != 0)
		adopt_fail("logged message %u: %s", type, ssh_err(r));
	if ((ch = adopt_channel(id, !from_client)) == NULL) {
		adopt_debug("logged message %u for unknown "
		    "channel %u", type, id);
		return;
	}
	plan = &adopt_plan[ch - adopt_content.session.channels];
	switch (type) {
	case SSH2_MSG_CHANNEL_EXTENDED_DATA:
		if ((r = sshpkt_get_u32(w, &n)) != 0)
			adopt_fail("logged message %u: %s", type, ssh_err(r));
		/* FALLTHROUGH */
	case SSH2_MSG_CHANNEL_DATA:
		if ((r = sshpkt_get_string_direct(w, &data, &len)) != 0)
			adopt_fail("logged message %u: %s", type, ssh_err(r));
		if (from_client) {
			ch->local_window -= MINIMUM(len, ch->local_window);
			ch->local_consumed += len;
			if (*plan == ADOPT_CHANNEL_SUBSYSTEM &&
			    adopt_sftp_walk(&adopt_frames[plan - adopt_plan],
			    data, len) != 0) {
				adopt_error("channel %u: logged sftp "
				    "data out of step; ending the channel",
				    ch->self);
				*plan = ADOPT_CHANNEL_END;
			}
		} else
			ch->remote_window -= MINIMUM(len, ch->remote_window);
		break;
	case SSH2_MSG_CHANNEL_WINDOW_ADJUST:
		if ((r = sshpkt_get_u32(w, &n)) != 0)
			adopt_fail("logged message %u: %s", type, ssh_err(r));
		if (from_client)
			ch->remote_window += n;
		else {
			ch->local_window += n;
			ch->local_consumed -= MINIMUM(n, ch->local_consumed);
		}
		break;
	case SSH2_MSG_CHANNEL_REQUEST:
		if ((r = sshpkt_get_cstring(w, &rtype, NULL)) != 0)
			adopt_fail("logged message %u: %s", type, ssh_err(r));
		if (from_client && strcmp(rtype, "window-change") == 0 &&
		    (sshpkt_get_u8(w, NULL) != 0 ||
		    sshpkt_get_u32(w, &ch->cols) != 0 ||
		    sshpkt_get_u32(w, &ch->rows) != 0 ||
		    sshpkt_get_u32(w, &ch->xpixels) != 0 ||
		    sshpkt_get_u32(w, &ch->ypixels) != 0))
			adopt_fail("logged window-change is malformed");
		if (!from_client && strcmp(rtype, "exit-status") == 0)
			*plan = ADOPT_CHANNEL_CLOSE;
		free(rtype);
		break;
	case SSH2_MSG_CHANNEL_EOF:
	case SSH2_MSG_CHANNEL_CLOSE:
		/*
		 * NOTE: a half-closed channel is closed, not carried on. Its
		 * flags tell adopt_end_channel() what was already sent.
		 */
		if (type == SSH2_MSG_CHANNEL_EOF)
			ch->flags |= from_client ? CHAN_EOF_RCVD :
			    CHAN_EOF_SENT;
		else
			ch->flags |= from_client ? CHAN_CLOSE_RCVD :
			    CHAN_CLOSE_SENT;
		if (*plan != ADOPT_CHANNEL_LISTEN &&
		    *plan != ADOPT_CHANNEL_FORGET)
			*plan = ADOPT_CHANNEL_CLOSE;
		break;
	}
}

/*
 * Reads the complete packets of len bytes with walker w, applying them to
 * the channels when apply is set. Returns the bytes of complete packets.
 */
static size_t
adopt_walk_packets(struct ssh *w, const uint8_t *data, size_t len, int dir,
    int apply)
{
	struct sshbuf *input = ssh_packet_get_input(w);
	size_t consumed = 0, packets = 0;
	u_int32_t seqnr;
	u_char type;
	int r;

	if (len > 0 && (r = ssh_packet_process_incoming(w,
	    (const char *)data, len)) != 0)
		adopt_fail("logged bytes: %s", ssh_err(r));
	for (;;) {
		if ((r = ssh_packet_read_poll_seqnr(w, &type, &seqnr)) != 0)
			adopt_fail("logged %s packet %zu at offset %zu: %s",
			    dir == RV_STATE_C2S ? "client" : "server",
			    packets, consumed, ssh_err(r));
		if (type == SSH_MSG_NONE)
			break;
		packets++;
		consumed = len - sshbuf_len(input);
		if (apply)
			adopt_walk_packet(w, type, dir);
	}
	adopt_debug("%s log: %zu packets in %zu of %zu bytes",
	    dir == RV_STATE_C2S ? "client" : "server", packets, consumed, len);
	return consumed;
}

/* A direction after the walk: its keys and counters, in blob form. */
struct adopt_walked {
	struct sshbuf	*newkeys;	/* upstream's new-keys blob */
	u_int32_t	seqnr;
	u_int64_t	bytes;
	size_t		consumed;	/* log bytes of complete packets */
	struct sshbuf	*rest;		/* the unsent rest of a cut packet */
};

/* Skips upstream's key exchange blob at the start of a packet state. */
static int
adopt_skip_kex(struct sshbuf *m)
{
	int i, r;

	for (i = 0; i < 6; i++) {
		/* we_need, hostkey_alg, hostkey_type, nid, kex_type, strict */
		r = i == 1 ? sshbuf_get_string_direct(m, NULL, NULL) :
		    sshbuf_get_u32(m, NULL);
		if (r != 0)
			return r;
	}
	for (i = 0; i < 5; i++) {
		if ((r = sshbuf_get_string_direct(m, NULL, NULL)) != 0)
			return r;
	}
	return sshbuf_get_u32(m, NULL);
}

/* Takes the receiving side of walker w's packet state into *out. */
static void
adopt_take_input_state(struct ssh *w, struct adopt_walked *out)
{
	struct sshbuf *m;
	int r;

	if ((m = sshbuf_new()) == NULL)
		fatal_f("sshbuf_new");
	if ((r = ssh_packet_get_state(w, m)) != 0 ||
	    (r = adopt_skip_kex(m)) != 0 ||
	    (r = sshbuf_get_string_direct(m, NULL, NULL)) != 0 ||
	    (r = sshbuf_froms(m, &out->newkeys)) != 0 ||
	    (r = sshbuf_get_u64(m, NULL)) != 0 ||
	    (r = sshbuf_get_u32(m, NULL)) != 0 ||
	    (r = sshbuf_get_u32(m, NULL)) != 0 ||	/* p_send */
	    (r = sshbuf_get_u64(m, NULL)) != 0 ||
	    (r = sshbuf_get_u32(m, NULL)) != 0 ||
	    (r = sshbuf_get_u64(m, NULL)) != 0 ||
	    (r = sshbuf_get_u32(m, &out->seqnr)) != 0 ||	/* p_read */
	    (r = sshbuf_get_u64(m, NULL)) != 0 ||
	    (r = sshbuf_get_u32(m, NULL)) != 0 ||
	    (r = sshbuf_get_u64(m, &out->bytes)) != 0)
		fatal_fr(r, "walker state");
	sshbuf_free(m);
}

static struct ssh *
adopt_new_walker(struct sshbuf *blob)
{
	struct sshbuf *copy;
	struct ssh *w;
	int r;

	if ((w = ssh_packet_set_connection(NULL, -1, -1)) == NULL)
		fatal_f("ssh_packet_set_connection");
	if ((copy = sshbuf_fromb(blob)) == NULL)
		fatal_f("sshbuf_fromb");
	if ((r = ssh_packet_set_state(w, copy)) != 0)
		adopt_fail("checkpoint keys rejected: %s", ssh_err(r));
	sshbuf_free(copy);
	return w;
}

/* Frees a walker; its descriptors are -1, so closing them does nothing. */
static void
adopt_free_walker(struct ssh *w)
{
	ssh_packet_close(w);
	free(w);
}

/* Reads the IV that a walked new-keys blob continues from (packet.c). */
static int
adopt_blob_iv(struct sshbuf *newkeys, u_char *iv, size_t *iv_len)
{
	struct sshbuf *b;
	const u_char *p;
	size_t len;
	int r;

	if ((b = sshbuf_fromb(newkeys)) == NULL)
		return SSH_ERR_ALLOC_FAIL;
	if ((r = sshbuf_get_string_direct(b, NULL, NULL)) != 0 ||
	    (r = sshbuf_get_u32(b, NULL)) != 0 ||	/* enabled */
	    (r = sshbuf_get_u32(b, NULL)) != 0 ||	/* block size */
	    (r = sshbuf_get_string_direct(b, NULL, NULL)) != 0 ||	/* key */
	    (r = sshbuf_get_string_direct(b, &p, &len)) != 0)
		goto out;
	if (len > RV_STATE_IV_MAX) {
		r = SSH_ERR_INVALID_FORMAT;
		goto out;
	}
	memcpy(iv, p, len);
	*iv_len = len;
 out:
	sshbuf_free(b);
	return r;
}

/*
 * Runs the server's sending cipher over src as it ran for the packet with
 * sequence number seqnr: the keystream goes over the encrypted part and an
 * AEAD cipher appends its tag. A fresh context each time, because GCM and
 * CTR contexts move on with every use. With a keystream cipher, running
 * it over ciphertext gives the plaintext back.
 */
static int
adopt_crypt(const struct rv_state_dir *d, const u_char *iv, size_t iv_len,
    u_int32_t seqnr, u_char *dst, const u_char *src, u_int len,
    u_int aadlen, u_int authlen)
{
	const struct sshcipher *cipher = cipher_by_name(d->cipher);
	struct sshcipher_ctx *cc = NULL;
	int r;

	if (cipher == NULL)
		return SSH_ERR_INVALID_ARGUMENT;
	if ((r = cipher_init(&cc, cipher, d->key, d->key_len,
	    iv_len > 0 ? iv : NULL, iv_len, CIPHER_ENCRYPT)) != 0)
		return r;
	r = cipher_crypt(cc, seqnr, dst, src, len, aadlen, authlen);
	cipher_free(cc);
	return r;
}

/*
 * Picks the client's id of the channel that a cut CHANNEL_DATA packet was
 * for, when the log ends inside that field: the only checkpoint channel
 * whose remote id agrees with the logged bytes. Returns 0 or -1.
 */
static int
adopt_guess_recipient(const u_char *field, size_t known, u_int32_t *id)
{
	const struct rv_state_session *s = &adopt_content.session;
	u_char be[4];
	uint32_t i;
	int found = 0;

	for (i = 0; i < s->n_channels; i++) {
		POKE_U32(be, s->channels[i].remote_id);
		if (memcmp(be, field, known) != 0)
			continue;
		if (found++ > 0)
			return -1;
		*id = s->channels[i].remote_id;
	}
	return found == 1 ? 0 : -1;
}

/*
 * Fills the plaintext of a cut server packet after its known bytes. The
 * payload must be a CHANNEL_DATA or CHANNEL_EXTENDED_DATA message, whose
 * lost data becomes NUL bytes: the lost bytes were terminal output, and
 * terminals ignore NUL. Any other message counts only when its payload is
 * whole (only padding or MAC lost). Returns the data bytes lost, or -1.
 */
static ssize_t
adopt_fill_payload(u_char *p, size_t total, size_t known, u_int padlen)
{
	size_t end = total - padlen;	/* end of the payload */
	size_t hdr, field, lost;
	u_int32_t id, datalen;
	u_char be[4];

	if (known >= end)
		return 0;
	if (p[5] != SSH2_MSG_CHANNEL_DATA &&
	    p[5] != SSH2_MSG_CHANNEL_EXTENDED_DATA)
		return -1;
	/*
	 * Offset of the data length: after the packet and padding lengths,
	 * the type, the recipient and, for extended data, the type code.
	 */
	hdr = 5 + 1 + 4 + (p[5] == SSH2_MSG_CHANNEL_EXTENDED_DATA ? 4 : 0);
	if (end < hdr + 4)
		return -1;
	if (known < 10) {
		if (adopt_guess_recipient(p + 6, known - 6, &id) != 0)
			return -1;
		POKE_U32(p + 6, id);
	}
	if (hdr == 14 && known < 14) {
		POKE_U32(be, SSH2_EXTENDED_DATA_STDERR);
		field = known > 10 ? known - 10 : 0;
		memcpy(p + 10 + field, be + field, 4 - field);
	}
	datalen = (u_int32_t)(end - hdr - 4);
	POKE_U32(be, datalen);
	if (known > hdr) {
		field = MINIMUM(known - hdr, 4);
		/* The logged bytes of the length must agree with the packet. */
		if (memcmp(p + hdr, be, field) != 0)
			return -1;
	}
	memcpy(p + hdr, be, 4);
	if (known < hdr + 4)
		known = hdr + 4;
	lost = end - known;
	memset(p + known, 0, lost);
	return (ssize_t)lost;
}

/*
 * Completes the server packet that the failure cut after the logged bytes
 * pre[0 .. prelen): decrypts what was logged with the sending keys at
 * walked (the state at the start of that packet), keeps every logged
 * byte, fills what was lost, and encrypts and authenticates the whole
 * packet again (RFC 4253, section 6), so that the client reads a valid
 * packet. Returns the whole packet, or NULL after logging why not.
 */
static struct sshbuf *
adopt_complete_packet(const struct adopt_walked *walked, const u_char *pre,
    size_t prelen)
{
	const struct rv_state_dir *d = &adopt_content.session.dir[RV_STATE_S2C];
	const struct sshcipher *cipher = cipher_by_name(d->cipher);
	struct sshmac mac;
	struct sshbuf *packet = NULL;
	u_char iv[RV_STATE_IV_MAX], *head = NULL, *plain = NULL, *wire = NULL;
	u_int bs, authlen, aadlen, maclen = 0, padlen;
	size_t iv_len = 0, total, known, headlen = 0, buflen = 0, enclen;
	u_int32_t plen;
	ssize_t lost;
	char *mac_name = NULL;
	int r, mac_ready = 0;

	memset(&mac, 0, sizeof(mac));
	if (cipher == NULL || adopt_blob_iv(walked->newkeys, iv, &iv_len) != 0)
		goto out;
	bs = cipher_blocksize(cipher);
	authlen = cipher_authlen(cipher);
	if (authlen == 0) {
		mac_name = xstrdup(d->mac);
		if (mac_setup(&mac, mac_name) != 0)
			goto out;
		mac.key = (u_char *)d->mac_key;
		mac.key_len = d->mac_key_len;
		if (mac_init(&mac) != 0)
			goto out;
		mac_ready = 1;
		maclen = mac.mac_len;
	}
	aadlen = authlen != 0 || mac.etm ? 4 : 0;
	/* NOTE: a log that ends before the message type is not completed. */
	if (prelen < 6) {
		adopt_error("the server log ends %zu bytes into a "
		    "packet, too early to complete it", prelen);
		goto out;
	}
	/* Decrypt the logged bytes: length, padding length, payload start. */
	enclen = ROUNDUP(prelen - aadlen, bs);
	headlen = aadlen + enclen + authlen;
	head = xcalloc(1, headlen);
	wire = xcalloc(1, headlen);
	memcpy(wire, pre, prelen);
	if ((r = adopt_crypt(d, iv, iv_len, walked->seqnr, head, wire,
	    enclen, aadlen, authlen)) != 0) {
		adopt_error("decrypting the cut packet: %s",
		    ssh_err(r));
		goto out;
	}
	free(wire);
	wire = NULL;
	plen = PEEK_U32(head);
	padlen = head[4];
	total = 4 + (size_t)plen;
	if (plen > ADOPT_PACKET_MAX || padlen < 4 || padlen + 2 > plen ||
	    (total - aadlen) % bs != 0 || prelen >= total + authlen + maclen) {
		adopt_error("the cut server packet has an invalid "
		    "length (%u, padding %u)", plen, padlen);
		goto out;
	}
	known = MINIMUM(prelen, total);
	buflen = total + authlen + maclen;
	plain = xcalloc(1, buflen);
	memcpy(plain, head, known);
	if ((lost = adopt_fill_payload(plain, total, known, padlen)) < 0) {
		adopt_error("the server log ends inside a message "
		    "of type %u that cannot be completed", plain[5]);
		goto out;
	}
	/* The padding is random (RFC 4253, section 6); keep what was logged. */
	if (known < total - padlen)
		arc4random_buf(plain + total - padlen, padlen);
	else if (known < total)
		arc4random_buf(plain + known, total - known);
	wire = xcalloc(1, buflen);
	if (!mac.etm && maclen > 0 && (r = mac_compute(&mac, walked->seqnr,
	    plain, (int)total, wire + total, maclen)) != 0)
		goto crypt_fail;
	if ((r = adopt_crypt(d, iv, iv_len, walked->seqnr, wire, plain,
	    (u_int)(total - aadlen), aadlen, authlen)) != 0)
		goto crypt_fail;
	if (mac.etm && (r = mac_compute(&mac, walked->seqnr, wire,
	    (int)total, wire + total, maclen)) != 0)
		goto crypt_fail;
	if (memcmp(wire, pre, prelen) != 0) {
		adopt_error("the completed server packet does not "
		    "match the logged bytes");
		goto out;
	}
	if ((packet = sshbuf_new()) == NULL ||
	    (r = sshbuf_put(packet, wire, buflen)) != 0)
		fatal_f("sshbuf_put");
	adopt_logit("completed a server packet (message %u, %s) "
	    "cut after %zu of %zu bytes; %zd bytes of channel data lost",
	    plain[5], d->cipher, prelen, buflen, lost);
	goto out;
 crypt_fail:
	adopt_error("encrypting the cut packet: %s", ssh_err(r));
 out:
	if (mac_ready)
		mac_clear(&mac);
	free(mac_name);
	explicit_bzero(iv, sizeof(iv));
	if (head != NULL)
		freezero(head, headlen);
	if (plain != NULL)
		freezero(plain, buflen);
	free(wire);
	return packet;
}

/*
 * Completes a server packet that the failure cut in half and keeps the
 * bytes the client has yet to receive for the session process to send
 * first: the client would take anything else sent in their place as the
 * rest of that packet and fail its MAC check. A fresh walker then reads
 * the complete logged packets and the completed one (its data counts
 * against the channel window). Reading the state of a GCM walker moves
 * its invocation counter, so the walker whose state gave the keys cannot
 * read on. Ends the adoption when the packet cannot be completed.
 */
static void
adopt_finish_cut_packet(struct sshbuf *blob, const u_char *data,
    size_t len, struct adopt_walked *out)
{
	const u_char *pre = data + out->consumed;
	size_t prelen = len - out->consumed, plen;
	struct sshbuf *packet;
	struct ssh *w;
	int r;

	if ((packet = adopt_complete_packet(out, pre, prelen)) == NULL)
		adopt_fail("the server log ends inside a packet that cannot "
		    "be completed (%zu bytes of it logged)", prelen);
	plen = sshbuf_len(packet);
	w = adopt_new_walker(blob);
	adopt_walk_packets(w, data, out->consumed, RV_STATE_S2C, 0);
	if (adopt_walk_packets(w, sshbuf_ptr(packet), plen, RV_STATE_S2C,
	    1) != plen)
		adopt_fail("the completed server packet does not read back");
	sshbuf_free(out->newkeys);
	out->newkeys = NULL;
	adopt_take_input_state(w, out);
	adopt_free_walker(w);
	if ((out->rest = sshbuf_new()) == NULL ||
	    (r = sshbuf_put(out->rest, sshbuf_ptr(packet) + prelen,
	    plen - prelen)) != 0)
		fatal_f("sshbuf_put");
	out->consumed = len;
	sshbuf_free(packet);
}

/*
 * Follows the logged packets of one direction from the checkpoint offset
 * to the end of the log, as the receiver of that direction would: the
 * client's packets with the server's receiving keys, the server's with a
 * copy whose directions are swapped. Both copies are thrown away, only
 * their counters and cipher state are kept.
 */
static void
adopt_walk(struct ssh *ssh, char *hostkey_types, int dir,
    struct adopt_walked *out)
{
	const struct rv_adopt_log *log = dir == RV_STATE_C2S ?
	    &adopt_msg.c2s : &adopt_msg.s2c;
	uint64_t start = dir == RV_STATE_C2S ?
	    adopt_content.session.c2s_offset : adopt_content.session.s2c_offset;
	const uint8_t *data = log->data + (start - log->offset);
	size_t len = log->len - (start - log->offset);
	struct sshbuf *blob;
	struct ssh *w;

	blob = adopt_walker_blob(ssh, hostkey_types, dir);
	w = adopt_new_walker(blob);
	out->consumed = adopt_walk_packets(w, data, len, dir, 1);
	if (out->consumed != len) {
		/*
		 * The log ends inside a packet, whose first block a walker
		 * has already decrypted: walk a fresh copy over the complete
		 * packets only, so its cipher stops at the packet start.
		 */
		adopt_free_walker(w);
		w = adopt_new_walker(blob);
		adopt_walk_packets(w, data, out->consumed, dir, 0);
	}
	adopt_take_input_state(w, out);
	adopt_free_walker(w);
	if (dir == RV_STATE_S2C && out->consumed != len)
		adopt_finish_cut_packet(blob, data, len, out);
	sshbuf_free(blob);
}

/* Builds the packet state that the session process continues from. */
static struct sshbuf *
adopt_build_state(struct ssh *ssh, char *hostkey_types)
{
	const struct rv_state_session *s = &adopt_content.session;
	struct adopt_walked c2s, s2c;
	uint64_t c2s_end, s2c_end;
	size_t partial;
	struct sshbuf *m;
	int r;

	memset(&c2s, 0, sizeof(c2s));
	memset(&s2c, 0, sizeof(s2c));
	adopt_walk(ssh, hostkey_types, RV_STATE_S2C, &s2c);
	adopt_walk(ssh, hostkey_types, RV_STATE_C2S, &c2s);
	s2c_end = adopt_msg.s2c.offset + adopt_msg.s2c.len;
	c2s_end = adopt_msg.c2s.offset + adopt_msg.c2s.len;
	if (s->s2c_offset + s2c.consumed != s2c_end)
		adopt_fail("the server log ends inside a packet");
	/* The rest of a cut client packet comes from the receive queue. */
	partial = (size_t)(c2s_end - s->c2s_offset - c2s.consumed);
	if ((m = sshbuf_new()) == NULL)
		fatal_f("sshbuf_new");
	if ((r = adopt_put_kex(ssh, m, hostkey_types)) != 0 ||
	    (r = sshbuf_put_stringb(m, s2c.newkeys)) != 0 ||
	    (r = sshbuf_put_stringb(m, c2s.newkeys)) != 0 ||
	    (r = sshbuf_put_u64(m, s->rekey_limit)) != 0 ||
	    (r = sshbuf_put_u32(m, s->rekey_interval)) != 0 ||
	    (r = adopt_put_counters(m, s2c.seqnr, s2c.bytes)) != 0 ||
	    (r = adopt_put_counters(m, c2s.seqnr, c2s.bytes)) != 0 ||
	    (r = sshbuf_put_u64(m, c2s_end)) != 0 ||	/* stream_in */
	    (r = sshbuf_put_u64(m, s2c_end)) != 0 ||	/* stream_out */
	    (r = sshbuf_put_string(m, adopt_msg.c2s.data + adopt_msg.c2s.len -
	    partial, partial)) != 0 ||
	    /* The rest of a cut server packet goes out first. */
	    (r = s2c.rest == NULL ? sshbuf_put_string(m, NULL, 0) :
	    sshbuf_put_stringb(m, s2c.rest)) != 0)
		fatal_fr(r, "packet state");
	sshbuf_free(c2s.newkeys);
	sshbuf_free(s2c.newkeys);
	sshbuf_free(s2c.rest);
	adopt_verbose("client packets continue at seqnr %u, "
	    "server packets at seqnr %u", c2s.seqnr, s2c.seqnr);
	return m;
}

/*
 * Sets the client's quirk flags from its software version, the part after
 * "SSH-protoversion-" (RFC 4253, section 4.2), as the primary did.
 */
static void
adopt_set_compat(struct ssh *ssh)
{
	const char *v = adopt_content.session.client_version;
	const char *soft = strchr(v + 4, '-');	/* v starts with "SSH-" */

	if (soft == NULL || soft[1] == '\0')
		adopt_fail("client identification \"%.100s\" has no software "
		    "version", v);
	compat_banner(ssh, soft + 1);
}

/* Returns the index of subsystem name in sshd_config, or -1. */
static int
adopt_subsystem_index(const char *name)
{
	u_int i;

	for (i = 0; name != NULL && i < options.num_subsystems; i++) {
		if (strcmp(name, options.subsystem_name[i]) == 0)
			return (int)i;
	}
	return -1;
}

/* Decides per channel whether it gets a new shell, an end or a close. */
static void
adopt_plan_channels(void)
{
	const struct rv_state_session *s = &adopt_content.session;
	const struct rv_state_channel *ch;
	uint32_t i;

	adopt_plan = xcalloc(s->n_channels == 0 ? 1 : s->n_channels,
	    sizeof(*adopt_plan));
	adopt_frames = xcalloc(s->n_channels == 0 ? 1 : s->n_channels,
	    sizeof(*adopt_frames));
	for (i = 0; i < s->n_channels; i++) {
		ch = &s->channels[i];
		if (i > 0 && ch->self <= s->channels[i - 1].self)
			adopt_fail("checkpoint channels are not in id order");
		if (ch->type == SSH_CHANNEL_RPORT_LISTENER)
			adopt_plan[i] = ADOPT_CHANNEL_LISTEN;
		else if (ch->remote_id == UINT32_MAX)
			adopt_plan[i] = ADOPT_CHANNEL_FORGET;
		else if (ch->type != SSH_CHANNEL_OPEN ||
		    strcmp(ch->ctype, "session") != 0 || !ch->has_session)
			adopt_plan[i] = ADOPT_CHANNEL_CLOSE;
		else if ((ch->flags & (CHAN_CLOSE_SENT | CHAN_CLOSE_RCVD |
		    CHAN_EOF_SENT | CHAN_EOF_RCVD)) != 0)
			/* Half closed: a new shell or server cannot go on. */
			adopt_plan[i] = ADOPT_CHANNEL_END;
		else if (ch->run == RV_STATE_RUN_SHELL && ch->term != NULL)
			adopt_plan[i] = ADOPT_CHANNEL_SHELL;
		else if (ch->run == RV_STATE_RUN_SUBSYSTEM &&
		    adopt_subsystem_index(ch->command) != -1)
			adopt_plan[i] = ADOPT_CHANNEL_SUBSYSTEM;
		else
			adopt_plan[i] = ADOPT_CHANNEL_END;
	}
}

void
rv_adopt_prepare(struct ssh *ssh, Authctxt *authctxt,
    struct monitor *pmonitor, char *hostkey_types)
{
	struct sshbuf *state;
	struct passwd *pw;

	adopt_choose_checkpoint(ssh);
	adopt_set_compat(ssh);
	/* The user from the verified checkpoint, checked like a login. */
	if ((pw = getpwnamallow(ssh, adopt_content.user)) == NULL)
		adopt_fail("user %.100s of the checkpoint may not log in here",
		    adopt_content.user);
	authctxt->pw = pw;
	authctxt->user = xstrdup(adopt_content.user);
	authctxt->service = xstrdup("ssh-connection");
	authctxt->valid = 1;
	authctxt->success = 1;
	adopt_plan_channels();
	state = adopt_build_state(ssh, hostkey_types);
	monitor_adopt_state(pmonitor, authctxt, state,
	    adopt_content.session_id, adopt_content.session_id_len);
	adopt_answer(0);
	logit("revenant: adopted connection of %.100s from %.200s port %d",
	    authctxt->user, ssh_remote_ipaddr(ssh), ssh_remote_port(ssh));
}

uint64_t
rv_adopt_last_checkpoint_number(void)
{
	return adopt_last_number;
}

int
rv_adopt_channel_keeps_window(int id)
{
	if (id != adopt_keep_window || id < 0)
		return 0;
	adopt_keep_window = -1;
	return 1;
}

/* Sets the checkpoint's ids and windows on a recreated channel. */
static void
adopt_set_windows(Channel *c, const struct rv_state_channel *ch)
{
	c->remote_id = ch->remote_id;
	c->have_remote_id = 1;
	c->remote_window = ch->remote_window;
	c->remote_maxpacket = ch->remote_maxpacket;
	c->local_window = ch->local_window;
	c->local_window_max = ch->local_window_max;
	c->local_consumed = ch->local_consumed;
	c->local_maxpacket = ch->local_maxpacket;
}

/* Applies the saved pty settings of the checkpoint to the new terminal. */
static void
adopt_set_termios(int fd, const struct rv_state_channel *ch)
{
	struct termios tio;

	if (!ch->has_termios)
		return;
	if (tcgetattr(fd, &tio) == -1) {
		adopt_error("tcgetattr: %s", strerror(errno));
		return;
	}
	tio.c_iflag = ch->termios_iflag;
	tio.c_oflag = ch->termios_oflag;
	tio.c_cflag = ch->termios_cflag;
	tio.c_lflag = ch->termios_lflag;
	memcpy(tio.c_cc, ch->termios_cc, MINIMUM(ch->termios_cc_len,
	    sizeof(tio.c_cc)));
	cfsetispeed(&tio, ch->termios_ispeed);
	cfsetospeed(&tio, ch->termios_ospeed);
	if (tcsetattr(fd, TCSANOW, &tio) == -1)
		adopt_error("tcsetattr: %s", strerror(errno));
}

/*
 * Sets in the new session the environment variables that the client sent
 * to the primary and that this sshd's AcceptEnv accepts too.
 */
static void
adopt_set_env(Session *s, const struct rv_state_channel *ch)
{
	const char *name, *value;
	uint32_t i;
	u_int k;

	for (i = 0; i < ch->n_env; i++) {
		name = ch->env[i].name;
		value = ch->env[i].value == NULL ? "" : ch->env[i].value;
		for (k = 0; k < options.num_accept_env; k++) {
			if (match_pattern(name, options.accept_env[k]))
				break;
		}
		if (k == options.num_accept_env) {
			adopt_debug("channel %u: variable %.100s "
			    "not accepted here", ch->self, name);
			continue;
		}
		s->env = xrecallocarray(s->env, s->num_env, s->num_env + 1,
		    sizeof(*s->env));
		s->env[s->num_env].name = xstrdup(name);
		s->env[s->num_env].val = xstrdup(value);
		s->num_env++;
	}
}

/*
 * Recreates session channel ch at its original id and windows, opens its
 * session with the saved environment and returns it, with the channel in
 * *cp. A channel that cannot get its old id is fatal for the child.
 */
static Session *
adopt_session_channel(struct ssh *ssh, Authctxt *authctxt,
    const struct rv_state_channel *ch, Channel **cp)
{
	Channel *c;
	Session *s;

	c = channel_new(ssh, "session", SSH_CHANNEL_LARVAL, -1, -1, -1,
	    ch->local_window_max, ch->local_maxpacket, 0, "server-session", 1);
	if ((u_int)c->self != ch->self)
		fatal_f("channel %u recreated as %d", ch->self, c->self);
	adopt_set_windows(c, ch);
	if (session_open(authctxt, c->self) != 1 ||
	    (s = session_adopt_lookup(c->self)) == NULL)
		fatal_f("channel %d: no session", c->self);
	channel_register_cleanup(ssh, c->self, session_close_by_channel, 0);
	adopt_set_env(s, ch);
	*cp = c;
	return s;
}

/* Starts a fresh login shell on a pty for a shell channel. */
static void
adopt_resume_shell(struct ssh *ssh, Authctxt *authctxt,
    const struct rv_state_channel *ch)
{
	char host[256];
	Channel *c;
	Session *s;
	int r;

	s = adopt_session_channel(ssh, authctxt, ch, &c);
	s->term = xstrdup(ch->term);
	s->col = ch->cols;
	s->row = ch->rows;
	s->xpixel = ch->xpixels;
	s->ypixel = ch->ypixels;
	if (!PRIVSEP(pty_allocate(&s->ptyfd, &s->ttyfd, s->tty,
	    sizeof(s->tty))))
		fatal_f("channel %d: pty allocation failed", c->self);
	adopt_set_termios(s->ttyfd, ch);
	pty_change_window_size(s->ptyfd, s->row, s->col, s->xpixel,
	    s->ypixel);
	/* The notice goes out before anything that the new shell writes. */
	if (gethostname(host, sizeof(host)) == -1)
		strlcpy(host, "this host", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	if ((r = sshbuf_putf(c->input, "\r\nrevenant: session resumed on "
	    "%.200s after the primary failed; the previous shell ended\r\n",
	    host)) != 0)
		fatal_fr(r, "notice");
	adopt_keep_window = c->self;
	if (session_adopt_shell(ssh, s) != 0)
		fatal_f("channel %d: starting the shell failed", c->self);
	adopt_keep_window = -1;
	adopt_verbose("channel %d: new shell on %s", c->self,
	    s->tty);
}

/*
 * Returns how many leading bytes of client data for channel c to drop
 * (data hook of the channel code, channel_set_data_hook()), because they
 * finish an sftp packet whose start the primary consumed.
 * NOTE: the lab tests do not reach a drop: it needs a failure inside an
 * upload request.
 */
static size_t
adopt_channel_data(struct ssh *ssh, Channel *c, const u_char *data,
    size_t len)
{
	const struct rv_state_session *s = &adopt_content.session;
	struct adopt_sftp_frame *f;
	size_t skip;
	uint32_t i;

	for (i = 0; i < s->n_channels; i++) {
		if (s->channels[i].self == (u_int)c->self &&
		    adopt_plan[i] == ADOPT_CHANNEL_SUBSYSTEM)
			break;
	}
	if (i == s->n_channels)
		return 0;
	f = &adopt_frames[i];
	if (f->broken)
		return len;
	skip = 0;
	if (f->hdr_len != 0 || f->body_left != 0) {
		skip = adopt_sftp_frame_move(f, data, len, 1);
		adopt_debug("channel %d: dropped %zu bytes of an "
		    "sftp packet that began before the failure", c->self, skip);
	}
	/* Every packet start is checked: no torn request reaches the server. */
	adopt_sftp_frame_move(f, data + skip, len - skip, 0);
	if (!f->broken)
		return skip;
	adopt_error("channel %d: client sftp data out of step "
	    "after the adoption; closing the new sftp-server's input",
	    c->self);
	chan_write_failed(ssh, c);
	return len;
}

/*
 * Drops the SSH_FXP_VERSION reply of a new sftp-server to the backup's
 * SSH_FXP_INIT (input filter of the channel). The client negotiated the
 * version with the primary (draft-ietf-secsh-filexfer-02, section 4), so
 * it must not see a second one. Passes the bytes after it on, then
 * removes itself from the channel.
 */
static int
adopt_sftp_swallow(struct ssh *ssh, Channel *c, char *buf, int len)
{
	struct sshbuf *reply = c->filter_ctx;
	u_int32_t plen;
	size_t whole;
	int r;

	if ((r = sshbuf_put(reply, buf, len)) != 0)
		fatal_fr(r, "channel %d: buffering the sftp-server reply",
		    c->self);
	if (sshbuf_len(reply) < 5)
		return 0;
	plen = PEEK_U32(sshbuf_ptr(reply));
	if (plen > SFTP_MAX_MSG_LENGTH) {
		adopt_error("channel %d: the new sftp-server sent "
		    "an invalid packet length %u", c->self, plen);
		return -1;
	}
	whole = 4 + (size_t)plen;
	if (sshbuf_len(reply) < whole)
		return 0;
	if (sshbuf_ptr(reply)[4] != SSH2_FXP_VERSION) {
		adopt_error("channel %d: the new sftp-server "
		    "replied to SSH_FXP_INIT with type %u, not "
		    "SSH_FXP_VERSION", c->self, sshbuf_ptr(reply)[4]);
		return -1;
	}
	if ((r = sshbuf_consume(reply, whole)) != 0 ||
	    (r = sshbuf_putb(c->input, reply)) != 0)
		fatal_fr(r, "channel %d: buffering the sftp-server reply",
		    c->self);
	sshbuf_free(reply);
	c->input_filter = NULL;
	c->filter_ctx = NULL;
	c->filter_cleanup = NULL;
	adopt_debug("channel %d: new sftp-server ready", c->self);
	return 0;
}

static void
adopt_sftp_swallow_cleanup(struct ssh *ssh, int id, void *ctx)
{
	sshbuf_free(ctx);
}

/*
 * Starts a new server for a subsystem channel. For sftp, the backup
 * sends the SSH_FXP_INIT itself and drops the SSH_FXP_VERSION reply: the
 * client's session goes on without a second version exchange, and the
 * handles it held are gone.
 */
static void
adopt_resume_subsystem(struct ssh *ssh, Authctxt *authctxt,
    const struct rv_state_channel *ch)
{
	/* SSH_FXP_INIT, version 3: length 5, type, version. */
	const u_char init[9] = { 0, 0, 0, 5, SSH2_FXP_INIT, 0, 0, 0,
	    SSH2_FILEXFER_VERSION };
	struct sshbuf *reply;
	Channel *c;
	Session *s;
	int is_sftp = strcmp(ch->command, "sftp") == 0;

	s = adopt_session_channel(ssh, authctxt, ch, &c);
	adopt_keep_window = c->self;
	if (session_adopt_subsystem(ssh, s, ch->command) != 0)
		fatal_f("channel %d: starting subsystem %.100s failed",
		    c->self, ch->command);
	adopt_keep_window = -1;
	if ((c = channel_lookup(ssh, ch->self)) == NULL || c->wfd == -1)
		fatal_f("channel %u: subsystem input descriptor missing",
		    ch->self);
	if (is_sftp) {
		/* An empty pipe accepts 9 bytes in one write. */
		if (write(c->wfd, init, sizeof(init)) != (ssize_t)sizeof(init))
			fatal_f("channel %d: writing SSH_FXP_INIT failed: %s",
			    c->self, strerror(errno));
		if ((reply = sshbuf_new()) == NULL)
			fatal_f("sshbuf_new");
		channel_register_filter(ssh, c->self, adopt_sftp_swallow,
		    NULL, adopt_sftp_swallow_cleanup, reply);
	}
	adopt_verbose("channel %d: new %.100s subsystem", c->self,
	    ch->command);
}

/*
 * Listens again on a port that the client had the primary forward
 * (tcpip-forward, RFC 4254, section 7.1), under the same address and
 * port, so connections to it reach the client as before. connect_host is
 * the address of the client's request, listen_port the port it was given.
 */
static void
adopt_listen_again(struct ssh *ssh, Authctxt *authctxt,
    const struct rv_state_channel *ch)
{
	struct Forward fwd;
	int port = -1;

	/* The same checks as for a tcpip-forward request (serverloop.c). */
	if ((options.allow_tcp_forwarding & FORWARD_REMOTE) == 0 ||
	    options.disable_forwarding ||
	    !auth_opts->permit_port_forwarding_flag ||
	    (ch->listen_port < IPPORT_RESERVED &&
	    authctxt->pw->pw_uid != 0)) {
		adopt_logit("remote forward of port %u not "
		    "allowed here", ch->listen_port);
		return;
	}
	/*
	 * do_authenticated() permits remote forwards under these options
	 * once the channels are back; PermitListen applies already.
	 */
	channel_permit_all(ssh, FORWARD_REMOTE);
	memset(&fwd, 0, sizeof(fwd));
	fwd.listen_host = ch->connect_host == NULL ? "" : ch->connect_host;
	fwd.listen_port = (int)ch->listen_port;
	if (!channel_setup_remote_fwd_listener(ssh, &fwd, &port,
	    &options.fwd_opts)) {
		adopt_error("listening again on %.200s port %u "
		    "failed", fwd.listen_host, ch->listen_port);
		return;
	}
	adopt_verbose("listening again on %.200s port %u for the "
	    "client", fwd.listen_host, ch->listen_port);
}

/*
 * Ends a channel: a session that ran a command reports the failure on
 * stderr and exits with status 255, so the command never runs twice. A
 * channel that the primary had half closed stays so: no data after an
 * EOF, no second EOF or CLOSE (RFC 4254, section 5.3), because the client
 * disconnects on data after EOF and on a message for a freed channel.
 */
static void
adopt_end_channel(struct ssh *ssh, const struct rv_state_channel *ch,
    int exit_status)
{
	static const char message[] = "revenant: the server failed while "
	    "this command ran; it was not run again\r\n";
	const u_int closing = CHAN_CLOSE_SENT | CHAN_CLOSE_RCVD |
	    CHAN_EOF_SENT | CHAN_EOF_RCVD;
	u_int flags = ch->flags & closing;
	Channel *c;
	int r;

	if ((flags & CHAN_CLOSE_SENT) && (flags & CHAN_CLOSE_RCVD)) {
		adopt_verbose("channel %u (%s) was closed",
		    ch->self, ch->ctype);
		return;
	}
	c = channel_new(ssh, "session", SSH_CHANNEL_OPEN, -1, -1, -1,
	    ch->local_window_max, ch->local_maxpacket, 0, "adopted", 1);
	if ((u_int)c->self != ch->self)
		fatal_f("channel %u recreated as %d", ch->self, c->self);
	adopt_set_windows(c, ch);
	c->flags |= flags;
	if (exit_status && (flags & (CHAN_EOF_SENT | CHAN_CLOSE_SENT)) == 0 &&
	    ch->remote_window >= sizeof(message) - 1) {
		if ((r = sshpkt_start(ssh,
		    SSH2_MSG_CHANNEL_EXTENDED_DATA)) != 0 ||
		    (r = sshpkt_put_u32(ssh, c->remote_id)) != 0 ||
		    (r = sshpkt_put_u32(ssh,
		    SSH2_EXTENDED_DATA_STDERR)) != 0 ||
		    (r = sshpkt_put_string(ssh, message,
		    sizeof(message) - 1)) != 0 ||
		    (r = sshpkt_send(ssh)) != 0)
			fatal_fr(r, "channel %d: stderr", c->self);
		c->remote_window -= sizeof(message) - 1;
	}
	if (exit_status && (flags & CHAN_CLOSE_SENT) == 0) {
		channel_request_start(ssh, c->self, "exit-status", 0);
		if ((r = sshpkt_put_u32(ssh, ADOPT_EXIT_STATUS)) != 0 ||
		    (r = sshpkt_send(ssh)) != 0)
			fatal_fr(r, "channel %d: exit-status", c->self);
	}
	/*
	 * The channel code sends what is left of EOF and CLOSE once both
	 * sides are done, and frees the channel after the client's CLOSE.
	 */
	if (flags & (CHAN_EOF_SENT | CHAN_CLOSE_SENT | CHAN_CLOSE_RCVD))
		c->istate = CHAN_INPUT_CLOSED;
	else
		chan_read_failed(ssh, c);
	if (flags & (CHAN_CLOSE_SENT | CHAN_CLOSE_RCVD))
		c->ostate = CHAN_OUTPUT_CLOSED;
	else
		chan_write_failed(ssh, c);
	adopt_verbose("channel %d (%s) ended", c->self, ch->ctype);
}

/*
 * Returns 1 when an earlier listener of the checkpoint served the same
 * forward: one request for "localhost" listens on 127.0.0.1 and ::1.
 */
static int
adopt_listened_before(uint32_t k)
{
	const struct rv_state_session *s = &adopt_content.session;
	const struct rv_state_channel *a = &s->channels[k], *b;
	uint32_t i;

	for (i = 0; i < k; i++) {
		b = &s->channels[i];
		if (adopt_plan[i] == ADOPT_CHANNEL_LISTEN &&
		    a->listen_port == b->listen_port &&
		    (a->connect_host == NULL) == (b->connect_host == NULL) &&
		    (a->connect_host == NULL ||
		    strcmp(a->connect_host, b->connect_host) == 0))
			return 1;
	}
	return 0;
}

void
rv_adopt_resume(struct ssh *ssh, Authctxt *authctxt)
{
	const struct rv_state_session *s = &adopt_content.session;
	Channel *gap;
	Channel *gaps[64];
	size_t ngaps = 0, i;
	uint32_t k;

	channel_set_data_hook(adopt_channel_data);
	for (k = 0; k < s->n_channels; k++) {
		/* The client does not know these ids: nothing to keep. */
		if (adopt_plan[k] == ADOPT_CHANNEL_LISTEN ||
		    adopt_plan[k] == ADOPT_CHANNEL_FORGET)
			continue;
		/* Channel ids are slots: fill the holes, then free them. */
		while (ngaps < sizeof(gaps) / sizeof(gaps[0])) {
			gap = channel_new(ssh, "revenant-gap",
			    SSH_CHANNEL_LARVAL, -1, -1, -1, 0, 0, 0, "gap", 1);
			if ((u_int)gap->self == s->channels[k].self) {
				channel_free(ssh, gap);
				break;
			}
			gaps[ngaps++] = gap;
		}
		switch (adopt_plan[k]) {
		case ADOPT_CHANNEL_SHELL:
			adopt_resume_shell(ssh, authctxt, &s->channels[k]);
			break;
		case ADOPT_CHANNEL_SUBSYSTEM:
			adopt_resume_subsystem(ssh, authctxt, &s->channels[k]);
			break;
		case ADOPT_CHANNEL_END:
			adopt_end_channel(ssh, &s->channels[k], 1);
			break;
		default:
			adopt_end_channel(ssh, &s->channels[k], 0);
			break;
		}
	}
	for (i = 0; i < ngaps; i++)
		channel_free(ssh, gaps[i]);
	/* Listeners take any free id; the client never sees theirs. */
	for (k = 0; k < s->n_channels; k++) {
		if (adopt_plan[k] == ADOPT_CHANNEL_LISTEN &&
		    !adopt_listened_before(k))
			adopt_listen_again(ssh, authctxt, &s->channels[k]);
	}
	ssh_packet_set_authenticated(ssh);
}
