/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Signing, sealing and sending of checkpoints and heartbeats, in sshd's
 * privileged processes (see revenant-monitor.h).
 */

#include "includes.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "xmalloc.h"
#include "log.h"
#include "misc.h"
#include "sshbuf.h"
#include "ssherr.h"
#include "sshkey.h"
#include "digest.h"
#include "packet.h"
#include "servconf.h"
#include "monitor.h"
#include "monitor_wrap.h"

#include "revenant-adopt.h"
#include "revenant-ckpt-wire.h"
#include "revenant-keyfile.h"
#include "revenant-monitor.h"
#include "revenant-state.h"

/* Fragment datagrams per sendmmsg(): 16 x 1262 bytes on the stack. */
#define RV_EXPORT_BATCH	16

extern ServerOptions options;
extern struct monitor *pmonitor;
struct sshkey *get_hostkey_private_by_type(int, int, struct ssh *);

static struct {
	int		sock;		/* UDP socket towards the export address */
	int		keys_loaded;
	size_t		n_keys;
	uint8_t		keys[RV_CKPT_RECIPIENTS_MAX][RV_HPKE_X25519_LEN];
	uint64_t	number;		/* last checkpoint number used */
} mon = { -1, 0, 0, { { 0 } }, 0 };

static struct {
	int		sock;
	int		disabled;
	uint64_t	boot_id;
	uint64_t	sequence;
	double		next;		/* monotonic seconds of the next one */
	struct timespec	timeout;
	volatile sig_atomic_t children;
} hb = { -1, 0, 0, 0, 0, { 0, 0 }, 0 };

void
rv_monitor_request_checkpoint(const uint8_t *session, size_t len,
    uint32_t flags, int wait)
{
	struct sshbuf *m;
	int r;

	if ((m = sshbuf_new()) == NULL)
		fatal_f("sshbuf_new failed");
	if ((r = sshbuf_put_u8(m, wait ? 1 : 0)) != 0 ||
	    (r = sshbuf_put_u32(m, flags)) != 0 ||
	    (r = sshbuf_put_string(m, session, len)) != 0)
		fatal_fr(r, "assemble");
	mm_request_send(pmonitor->m_recvfd, MONITOR_REQ_REVENANT_CKPT, m);
	if (wait) {
		mm_request_receive_expect(pmonitor->m_recvfd,
		    MONITOR_ANS_REVENANT_CKPT, m);
	}
	/* sshbuf_free() zeroes the buffer, which held keys. */
	sshbuf_free(m);
}

int
rv_monitor_answer_checkpoint(struct ssh *ssh, struct sshbuf *m,
    const char *user, const uint8_t *sid, size_t sid_len)
{
	const u_char *session;
	size_t len;
	uint32_t flags;
	u_char wait = 1;
	int r;

	/* Without a readable wait byte, answer: a session process that
	 * waits would otherwise hang. */
	if ((r = sshbuf_get_u8(m, &wait)) != 0 ||
	    (r = sshbuf_get_u32(m, &flags)) != 0 ||
	    (r = sshbuf_get_string_direct(m, &session, &len)) != 0) {
		error_r(r, "revenant: malformed checkpoint request from the "
		    "session process");
		goto out;
	}
	if (sshbuf_len(m) != 0) {
		error("revenant: checkpoint request from the session process "
		    "has %zu trailing bytes", sshbuf_len(m));
		goto out;
	}
	if ((flags & ~RV_CKPT_FLAGS_KNOWN) != 0) {
		error("revenant: checkpoint request with unknown flags 0x%x",
		    flags);
		goto out;
	}
	if (user == NULL || sid == NULL || sid_len == 0) {
		error("revenant: checkpoint requested before authentication");
		goto out;
	}
	(void)rv_monitor_emit(ssh, user, sid, sid_len, session, len, flags);
 out:
	sshbuf_reset(m);
	return wait != 0;
}

static int
load_recovery_keys(void)
{
	struct rv_recovery_pubkey *keys;
	struct rv_keyfile_error err;
	size_t i, n = 0;
	int r;

	if (mon.keys_loaded)
		return mon.n_keys > 0 ? 0 : -1;
	mon.keys_loaded = 1;
	keys = xcalloc(RV_CKPT_RECIPIENTS_MAX, sizeof(*keys));
	r = rv_keyfile_load_public_list(options.revenant.recovery_keys_file,
	    keys, RV_CKPT_RECIPIENTS_MAX, &n, &err);
	if (r != 0 || n == 0) {
		error("revenant: %s: %s", options.revenant.recovery_keys_file,
		    r != 0 ? err.message : "no recovery key");
		free(keys);
		return -1;
	}
	for (i = 0; i < n; i++)
		memcpy(mon.keys[i], keys[i].key, RV_HPKE_X25519_LEN);
	mon.n_keys = n;
	free(keys);
	return 0;
}

/*
 * Signs with an Ed25519 key through libcrypto. sshd keeps its host keys
 * shielded in memory (encrypted under a large random pre-key, against
 * side-channel reads), so the key is unshielded for this one signature
 * and shielded again, as sshkey_sign() does. OpenSSH keeps the private
 * key as seed || public key, which rv_ckpt_ed25519_sign_keypair() takes.
 * Measured on the 2-core development machine, that costs about a quarter
 * of sshkey_sign() with OpenSSH's reference Ed25519 code.
 */
static int
sign_ed25519_unshielded(struct sshkey *key, const uint8_t *data, size_t len,
    uint8_t *sig, size_t size, size_t *sig_len)
{
	int r, rc, was_shielded = sshkey_is_shielded(key);

	if ((r = sshkey_unshield_private(key)) != 0) {
		error_r(r, "revenant: unshielding the host key failed");
		return RV_CKPT_ERR_CRYPTO;
	}
	rc = key->ed25519_sk == NULL ? RV_CKPT_ERR_CRYPTO :
	    rv_ckpt_ed25519_sign_keypair(key->ed25519_sk, data, len, sig,
	    size, sig_len);
	if (was_shielded && (r = sshkey_shield_private(key)) != 0) {
		error_r(r, "revenant: shielding the host key again failed");
		rc = RV_CKPT_ERR_CRYPTO;
	}
	return rc;
}

/* rv_ckpt_sign_fn over the Ed25519 host key that arg points to. */
static int
sign_with_hostkey(void *arg, const uint8_t *data, size_t len, uint8_t *sig,
    size_t size, size_t *sig_len)
{
	struct sshkey *key = arg;
	u_char *blob = NULL;
	size_t blob_len = 0;
	int r;

	if (key->type == KEY_ED25519)
		return sign_ed25519_unshielded(key, data, len, sig, size,
		    sig_len);
	if ((r = sshkey_sign(key, &blob, &blob_len, data, len, "ssh-ed25519",
	    NULL, NULL, 0)) != 0) {
		error_r(r, "revenant: signing with the host key failed");
		return RV_CKPT_ERR_CRYPTO;
	}
	if (blob_len > size) {
		free(blob);
		return RV_CKPT_ERR_BUFFER_TOO_SMALL;
	}
	memcpy(sig, blob, blob_len);
	*sig_len = blob_len;
	free(blob);
	return 0;
}

static struct sshkey *
signing_key(struct ssh *ssh)
{
	struct sshkey *key;

	if ((key = get_hostkey_private_by_type(KEY_ED25519, -1, ssh)) == NULL)
		error("revenant: no Ed25519 host key to sign checkpoints with");
	return key;
}

/* Fills an address of the wire format; IPv4-mapped IPv6 becomes IPv4. */
static int
conn_addr(const struct sockaddr_storage *ss, uint8_t *family, uint8_t *addr,
    uint16_t *port)
{
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;

	memset(addr, 0, 16);
	if (ss->ss_family == AF_INET) {
		sin = (const struct sockaddr_in *)ss;
		*family = 4;
		memcpy(addr, &sin->sin_addr, 4);
		*port = ntohs(sin->sin_port);
		return 0;
	}
	if (ss->ss_family != AF_INET6)
		return -1;
	sin6 = (const struct sockaddr_in6 *)ss;
	*port = ntohs(sin6->sin6_port);
	if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		*family = 4;
		memcpy(addr, &sin6->sin6_addr.s6_addr[12], 4);
	} else {
		*family = 6;
		memcpy(addr, &sin6->sin6_addr, 16);
	}
	return 0;
}

static int
fill_conn(int fd, struct rv_ckpt_conn *conn, struct sockaddr_storage *local)
{
	struct sockaddr_storage peer;
	socklen_t len;
	uint8_t family;

	len = sizeof(*local);
	if (getsockname(fd, (struct sockaddr *)local, &len) == -1)
		return -1;
	len = sizeof(peer);
	if (getpeername(fd, (struct sockaddr *)&peer, &len) == -1)
		return -1;
	if (conn_addr(local, &conn->family, conn->server,
	    &conn->server_port) != 0 ||
	    conn_addr(&peer, &family, conn->client, &conn->client_port) != 0 ||
	    family != conn->family)
		return -1;
	return 0;
}

/*
 * Opens the export socket once, bound to the connection's local address
 * when the families match, so the datagrams leave from the server address
 * that the appliance files checkpoints under.
 */
static int
export_socket(const struct sockaddr_storage *local)
{
	const struct rv_server_options *ro = &options.revenant;
	struct sockaddr_storage bind_addr;

	if (mon.sock != -1)
		return mon.sock;
	if ((mon.sock = socket(ro->export_addr.ss_family,
	    SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		error("revenant: export socket: %s", strerror(errno));
		return -1;
	}
	if (local->ss_family == ro->export_addr.ss_family) {
		bind_addr = *local;
		if (bind_addr.ss_family == AF_INET)
			((struct sockaddr_in *)&bind_addr)->sin_port = 0;
		else
			((struct sockaddr_in6 *)&bind_addr)->sin6_port = 0;
		if (bind(mon.sock, (struct sockaddr *)&bind_addr,
		    bind_addr.ss_family == AF_INET ?
		    sizeof(struct sockaddr_in) :
		    sizeof(struct sockaddr_in6)) == -1)
			debug("revenant: export socket bind: %s",
			    strerror(errno));
	}
	return mon.sock;
}

/* Sends datagrams [0, n) of batch with one sendmmsg(), retrying the rest
 * after a partial send. */
static int
send_batch(int sock, struct mmsghdr *batch, unsigned int n, uint64_t id)
{
	const struct rv_server_options *ro = &options.revenant;
	unsigned int done = 0;
	int sent;

	while (done < n) {
		if ((sent = sendmmsg(sock, batch + done, n - done, 0)) == -1) {
			if (errno == EINTR)
				continue;
			error("revenant: checkpoint %llu to %s: %s",
			    (unsigned long long)id, ro->export_address,
			    strerror(errno));
			return -1;
		}
		if (sent == 0) {
			error("revenant: checkpoint %llu to %s: nothing sent",
			    (unsigned long long)id, ro->export_address);
			return -1;
		}
		done += (unsigned int)sent;
	}
	return 0;
}

/*
 * Splits the message into fragment datagrams and sends them,
 * RV_EXPORT_BATCH at a time: a checkpoint of a few KiB goes out with one
 * system call.
 */
static int
send_fragments(int sock, const struct rv_ckpt_conn *conn, uint64_t id,
    const uint8_t *msg, size_t msg_len)
{
	const struct rv_server_options *ro = &options.revenant;
	uint8_t dgram[RV_EXPORT_BATCH][RV_CKPT_DATAGRAM_MAX];
	struct mmsghdr batch[RV_EXPORT_BATCH];
	struct iovec iov[RV_EXPORT_BATCH];
	uint16_t i, count = rv_ckpt_frag_count(msg_len);
	unsigned int n = 0;
	size_t len;
	int r;

	memset(batch, 0, sizeof(batch));
	for (i = 0; i < count; i++) {
		if ((r = rv_ckpt_frag_encode(conn, id, msg, msg_len, i,
		    dgram[n], sizeof(dgram[n]), &len)) != 0) {
			error("revenant: checkpoint %llu fragment %u: %s",
			    (unsigned long long)id, i, rv_ckpt_strerror(r));
			return -1;
		}
		iov[n].iov_base = dgram[n];
		iov[n].iov_len = len;
		batch[n].msg_hdr.msg_iov = &iov[n];
		batch[n].msg_hdr.msg_iovlen = 1;
		batch[n].msg_hdr.msg_name = (void *)&ro->export_addr;
		batch[n].msg_hdr.msg_namelen = ro->export_addrlen;
		if (++n == RV_EXPORT_BATCH || i + 1 == count) {
			if (send_batch(sock, batch, n, id) != 0)
				return -1;
			n = 0;
		}
	}
	return 0;
}

int
rv_monitor_emit(struct ssh *ssh, const char *user, const uint8_t *sid,
    size_t sid_len, const uint8_t *session, size_t len, uint32_t flags)
{
	struct rv_state_session check;
	struct rv_ckpt_header hdr;
	struct sockaddr_storage local;
	struct sshkey *key;
	uint8_t *content = NULL, *msg = NULL;
	size_t content_len = 0, msg_len = 0;
	int r, sock, ret = -1;

	memset(&hdr, 0, sizeof(hdr));
	/* The monitor decides: it checks what the session process sent and
	 * takes the offsets for the cleartext header from it. */
	if ((r = rv_state_session_decode(session, len, &check)) != 0) {
		error("revenant: invalid session state from the session "
		    "process: %s", rv_state_strerror(r));
		return -1;
	}
	hdr.c2s_offset = check.c2s_offset;
	hdr.s2c_offset = check.s2c_offset;
	rv_state_session_clear(&check);

	if (load_recovery_keys() != 0 || (key = signing_key(ssh)) == NULL)
		return -1;
	if (fill_conn(ssh_packet_get_connection_in(ssh), &hdr.conn,
	    &local) != 0) {
		error("revenant: checkpoint: connection addresses unknown");
		return -1;
	}
	if (ssh_digest_memory(SSH_DIGEST_SHA256, sid, sid_len,
	    hdr.session_hash, sizeof(hdr.session_hash)) != 0)
		return -1;
	/* An adopted connection continues the primary's numbers. */
	if (mon.number == 0)
		mon.number = rv_adopt_last_checkpoint_number();
	hdr.number = ++mon.number;
	hdr.flags = flags;

	if ((r = rv_state_content_encode(user, sid, sid_len, session, len,
	    &content, &content_len)) != 0) {
		error("revenant: checkpoint %llu: %s",
		    (unsigned long long)hdr.number, rv_state_strerror(r));
		goto out;
	}
	if ((r = rv_ckpt_msg_build(&hdr,
	    (const uint8_t (*)[RV_HPKE_X25519_LEN])mon.keys, mon.n_keys,
	    content, content_len, sign_with_hostkey, key, &msg,
	    &msg_len)) != 0) {
		error("revenant: checkpoint %llu: %s",
		    (unsigned long long)hdr.number, rv_ckpt_strerror(r));
		goto out;
	}
	if ((sock = export_socket(&local)) == -1)
		goto out;
	if (send_fragments(sock, &hdr.conn, hdr.number, msg, msg_len) != 0)
		goto out;
	debug3("revenant: checkpoint %llu sent: %zu bytes, c2s %llu s2c %llu",
	    (unsigned long long)hdr.number, msg_len,
	    (unsigned long long)hdr.c2s_offset,
	    (unsigned long long)hdr.s2c_offset);
	ret = 0;
 out:
	if (content != NULL)
		freezero(content, content_len);
	free(msg);
	return ret;
}

/* Heartbeats, sent by the listener. */

static int
heartbeat_socket(void)
{
	const struct rv_server_options *ro = &options.revenant;

	if (hb.sock != -1)
		return hb.sock;
	if ((hb.sock = socket(ro->export_addr.ss_family,
	    SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		error("revenant: heartbeat socket: %s", strerror(errno));
		return -1;
	}
	/* connect() picks the source address that the heartbeat names. */
	if (connect(hb.sock, (const struct sockaddr *)&ro->export_addr,
	    ro->export_addrlen) == -1) {
		error("revenant: heartbeat to %s: %s", ro->export_address,
		    strerror(errno));
		close(hb.sock);
		hb.sock = -1;
	}
	return hb.sock;
}

static int
fill_heartbeat(struct rv_ckpt_heartbeat *h, int sock, int listen_sock)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	uint8_t family, addr[16];
	uint16_t port;

	memset(h, 0, sizeof(*h));
	if (getsockname(sock, (struct sockaddr *)&ss, &len) == -1 ||
	    conn_addr(&ss, &h->family, h->server, &port) != 0)
		return -1;
	len = sizeof(ss);
	if (listen_sock >= 0 &&
	    getsockname(listen_sock, (struct sockaddr *)&ss, &len) == 0 &&
	    conn_addr(&ss, &family, addr, &port) == 0)
		h->server_port = port;
	h->boot_id = hb.boot_id;
	h->sequence = ++hb.sequence;
	h->connections = hb.children > 0 ? (uint32_t)hb.children : 0;
	return 0;
}

static void
send_heartbeat(int listen_sock)
{
	struct rv_ckpt_heartbeat h;
	struct sshkey *key;
	uint8_t buf[RV_CKPT_HB_LEN];
	size_t len;
	int r, sock;

	if (hb.boot_id == 0)
		arc4random_buf(&hb.boot_id, sizeof(hb.boot_id));
	if ((key = signing_key(NULL)) == NULL) {
		hb.disabled = 1;
		return;
	}
	if ((sock = heartbeat_socket()) == -1 ||
	    fill_heartbeat(&h, sock, listen_sock) != 0)
		return;
	if ((r = rv_ckpt_heartbeat_build(&h, sign_with_hostkey, key, buf,
	    sizeof(buf), &len)) != 0) {
		error("revenant: heartbeat %llu: %s",
		    (unsigned long long)h.sequence, rv_ckpt_strerror(r));
		return;
	}
	/* A failed send is retried by the next heartbeat; log it once. */
	if (send(sock, buf, len, 0) == -1 && h.sequence == 1)
		error("revenant: heartbeat to %s: %s",
		    options.revenant.export_address, strerror(errno));
}

static int
heartbeats_on(void)
{
	return options.revenant.checkpoints &&
	    options.revenant.heartbeat_interval > 0 && !hb.disabled;
}

struct timespec *
rv_heartbeat_timeout(void)
{
	double left;

	if (!heartbeats_on())
		return NULL;
	left = hb.next - monotime_double();
	if (left < 0)
		left = 0;
	hb.timeout.tv_sec = (time_t)left;
	hb.timeout.tv_nsec = (long)((left - (double)hb.timeout.tv_sec) * 1e9);
	return &hb.timeout;
}

void
rv_heartbeat_tick(int listen_sock)
{
	double now;

	if (!heartbeats_on())
		return;
	now = monotime_double();
	if (now < hb.next)
		return;
	send_heartbeat(listen_sock);
	hb.next = now + options.revenant.heartbeat_interval;
}

void
rv_heartbeat_child_started(void)
{
	hb.children++;
}

void
rv_heartbeat_child_exited(pid_t pid)
{
	if (pid > 0 && hb.children > 0)
		hb.children--;
}
