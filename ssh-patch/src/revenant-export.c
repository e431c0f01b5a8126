/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Checkpoint triggers and the session part of the content, in the process
 * that runs a connection (see revenant-export.h).
 */

#include "includes.h"

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <linux/sockios.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>

#include "xmalloc.h"
#include "log.h"
#include "misc.h"
#include "sshbuf.h"
#include "ssherr.h"
#include "packet.h"
#include "cipher.h"
#include "mac.h"
#include "digest.h"
#include "kex.h"
#include "channels.h"
#include "hostfile.h"
#include "auth.h"
#include "session.h"
#include "servconf.h"

#include "revenant-ckpt-wire.h"
#include "revenant-export.h"
#include "revenant-monitor.h"
#include "revenant-state.h"

extern ServerOptions options;

/* How long the server loop sleeps before retrying a deferred checkpoint. */
#define RV_EXPORT_RETRY_MS	10
/* Session channels whose command we remember; more are exported without. */
#define RV_EXPORT_EXEC_MAX	64

struct exec_note {
	int	 chanid;
	int	 run;		/* RV_STATE_RUN_* */
	char	*command;
};

static struct {
	int		active;
	int		have_monitor;
	char		*user;		/* used only without a monitor */
	int		changed;
	int		deferred;	/* periodic checkpoint waits for the wire */
	uint64_t	bytes_at_last;	/* stream bytes both ways then */
	uint64_t	channels_at_last;	/* channels_fingerprint() then */
	time_t		time_at_last;	/* monotonic seconds */
	struct exec_note execs[RV_EXPORT_EXEC_MAX];
} rv;

static void
copy_name(char *dst, const char *src)
{
	strlcpy(dst, src == NULL ? "" : src, RV_STATE_NAME_MAX + 1);
}

/* Adds n to the big-endian integer in p[0 .. len - 1], wrapping. */
static void
add_be(uint8_t *p, size_t len, uint64_t n)
{
	size_t i;
	unsigned int sum;

	for (i = len; i > 0 && n != 0; i--) {
		sum = p[i - 1] + (unsigned int)(n & 0xff);
		p[i - 1] = sum & 0xff;
		n = (n >> 8) + (sum >> 8);
	}
}

/*
 * Computes the next IV or counter block from the IV the cipher context
 * started from and the packets or blocks since, instead of asking the
 * cipher context: reading an AES-GCM context's IV (EVP_CTRL_GCM_IV_GEN)
 * advances its invocation counter and would break the connection.
 */
static void
fill_cipher_state(struct rv_state_dir *d, const struct sshenc *enc)
{
	const char *name = enc->name;

	d->cipher_state_len = 0;
	if (strcmp(name, "chacha20-poly1305@openssh.com") == 0) {
		/* The nonce is the packet sequence number. */
		d->cipher_state_kind = RV_STATE_CIPHER_NONCE_SEQNR;
	} else if (strstr(name, "-gcm@openssh.com") != NULL &&
	    enc->iv_len == 12) {
		/* RFC 5647 section 7.1: the last 8 bytes count packets. */
		d->cipher_state_kind = RV_STATE_CIPHER_GCM_IV;
		memcpy(d->cipher_state, enc->iv, 12);
		add_be(d->cipher_state + 4, 8, d->packets);
		d->cipher_state_len = 12;
	} else if (strstr(name, "-ctr") != NULL && enc->iv_len == 16) {
		/* RFC 4344 section 4: the counter advances once per block. */
		d->cipher_state_kind = RV_STATE_CIPHER_CTR_BLOCK;
		memcpy(d->cipher_state, enc->iv, 16);
		add_be(d->cipher_state, 16, d->blocks);
		d->cipher_state_len = 16;
	} else
		d->cipher_state_kind = RV_STATE_CIPHER_UNSUPPORTED;
}

static int
fill_dir(struct rv_state_dir *d, const struct rv_packet_view *v, int mode)
{
	const struct newkeys *nk = v->newkeys[mode];
	const struct sshenc *enc;
	const struct sshmac *mac;

	if (nk == NULL || nk->enc.name == NULL)
		return -1;
	enc = &nk->enc;
	mac = &nk->mac;
	if (enc->key_len > sizeof(d->key) || enc->iv_len > sizeof(d->iv) ||
	    mac->key_len > sizeof(d->mac_key))
		return -1;
	copy_name(d->cipher, enc->name);
	memcpy(d->key, enc->key, enc->key_len);
	d->key_len = enc->key_len;
	memcpy(d->iv, enc->iv, enc->iv_len);
	d->iv_len = enc->iv_len;
	if (cipher_authlen(enc->cipher) == 0) {
		copy_name(d->mac, mac->name);
		d->etm = mac->etm ? 1 : 0;
		memcpy(d->mac_key, mac->key, mac->key_len);
		d->mac_key_len = mac->key_len;
	}
	d->seqnr = v->seqnr[mode];
	d->packets = v->packets[mode];
	d->blocks = v->blocks[mode];
	d->bytes = v->bytes[mode];
	d->max_blocks = v->max_blocks[mode];
	fill_cipher_state(d, enc);
	return 0;
}

/* Copies an identification string; -1 if it exceeds RFC 4253's limit. */
static int
copy_version(char *dst, const struct sshbuf *b)
{
	size_t len = b == NULL ? 0 : sshbuf_len(b);

	if (len == 0 || len > RV_STATE_VERSION_STRING_MAX)
		return -1;
	memcpy(dst, sshbuf_ptr(b), len);
	dst[len] = '\0';
	return 0;
}

static int
fill_transport(struct ssh *ssh, struct rv_state_session *s,
    const struct rv_packet_view *v)
{
	/* A backup rekeying the connection hashes both strings again. */
	if (copy_version(s->client_version, ssh->kex->client_version) != 0 ||
	    copy_version(s->server_version, ssh->kex->server_version) != 0)
		return -1;
	s->c2s_offset = v->stream_in - v->input_len;
	s->s2c_offset = v->stream_out + v->output_len;
	copy_name(s->kex, ssh->kex->name);
	copy_name(s->hostkey_alg, ssh->kex->hostkey_alg);
	s->transport_flags = ssh->kex->kex_strict ?
	    RV_STATE_TRANSPORT_STRICT_KEX : 0;
	s->rekey_limit = v->rekey_limit;
	s->rekey_interval = v->rekey_interval;
	/* On the server, MODE_IN carries the client's packets. */
	if (fill_dir(&s->dir[RV_STATE_C2S], v, MODE_IN) != 0 ||
	    fill_dir(&s->dir[RV_STATE_S2C], v, MODE_OUT) != 0)
		return -1;
	return 0;
}

static char *
dup_or_null(const char *s)
{
	return s == NULL || *s == '\0' ? NULL : xstrdup(s);
}

static const struct exec_note *
find_exec(int chanid)
{
	int i;

	for (i = 0; i < RV_EXPORT_EXEC_MAX; i++) {
		if (rv.execs[i].run != RV_STATE_RUN_NONE &&
		    rv.execs[i].chanid == chanid)
			return &rv.execs[i];
	}
	return NULL;
}

static void
fill_termios(struct rv_state_channel *c, int fd)
{
	struct termios tio;

	if (fd < 0 || tcgetattr(fd, &tio) != 0)
		return;
	c->has_termios = 1;
	c->termios_iflag = tio.c_iflag;
	c->termios_oflag = tio.c_oflag;
	c->termios_cflag = tio.c_cflag;
	c->termios_lflag = tio.c_lflag;
	c->termios_ispeed = cfgetispeed(&tio);
	c->termios_ospeed = cfgetospeed(&tio);
	c->termios_cc_len = MINIMUM(sizeof(tio.c_cc), RV_STATE_TERMIOS_CC_MAX);
	memcpy(c->termios_cc, tio.c_cc, c->termios_cc_len);
}

static void
fill_session(struct rv_state_channel *c, Session *s)
{
	const struct exec_note *note;
	u_int i;

	c->has_session = 1;
	if (s->ttyfd != -1 || s->ptyfd != -1) {
		c->term = dup_or_null(s->term);
		c->cols = s->col;
		c->rows = s->row;
		c->xpixels = s->xpixel;
		c->ypixels = s->ypixel;
		/* The session process keeps ptymaster once the shell runs. */
		fill_termios(c, s->ptymaster != -1 ? s->ptymaster : s->ptyfd);
	}
	if ((note = find_exec(s->chanid)) != NULL) {
		c->run = note->run;
		c->command = dup_or_null(note->command);
	}
	if (s->is_subsystem && s->subsys != NULL) {
		free(c->command);
		c->command = xstrdup(s->subsys);
	}
	c->n_env = MINIMUM(s->num_env, RV_STATE_ENV_MAX);
	if (c->n_env > 0)
		c->env = xcalloc(c->n_env, sizeof(*c->env));
	for (i = 0; i < c->n_env; i++) {
		c->env[i].name = xstrdup(s->env[i].name);
		c->env[i].value = xstrdup(s->env[i].val);
	}
}

static void
fill_channel(struct rv_state_channel *c, Channel *ch)
{
	Session *s;

	c->self = (uint32_t)ch->self;
	c->remote_id = ch->have_remote_id ? ch->remote_id : UINT32_MAX;
	c->type = (uint32_t)ch->type;
	copy_name(c->ctype, ch->ctype);
	c->istate = ch->istate;
	c->ostate = ch->ostate;
	c->flags = (uint32_t)ch->flags;
	c->local_window = ch->local_window;
	c->local_window_max = ch->local_window_max;
	c->local_consumed = ch->local_consumed;
	c->local_maxpacket = ch->local_maxpacket;
	c->remote_window = ch->remote_window;
	c->remote_maxpacket = ch->remote_maxpacket;
	c->listen_host = dup_or_null(ch->listening_addr);
	c->listen_port = ch->listening_port > 0 ? ch->listening_port : 0;
	c->connect_host = dup_or_null(ch->path);
	c->connect_port = ch->host_port > 0 ? ch->host_port : 0;
	if ((s = session_for_checkpoint(ch->self)) != NULL)
		fill_session(c, s);
}

static void
fill_channels(struct ssh *ssh, struct rv_state_session *s)
{
	u_int i, n = channel_slots(ssh);
	Channel *ch;

	s->channels = xcalloc(MAXIMUM(n, 1), sizeof(*s->channels));
	for (i = 0; i < n && s->n_channels < RV_STATE_CHANNELS_MAX; i++) {
		if ((ch = channel_at_slot(ssh, i)) == NULL)
			continue;
		fill_channel(&s->channels[s->n_channels++], ch);
	}
}

/*
 * Hashes what makes a channel open, close or change state, but not its
 * windows, which move with every data packet and are covered by the
 * periodic checkpoints. Detects the closes that no request handler notes.
 */
static uint64_t
channels_fingerprint(struct ssh *ssh)
{
	u_int i, n = channel_slots(ssh);
	uint64_t h = 14695981039346656037ULL;	/* FNV-1a offset basis */
	uint32_t v[6];
	size_t j;
	Channel *ch;

	for (i = 0; i < n; i++) {
		if ((ch = channel_at_slot(ssh, i)) == NULL)
			continue;
		v[0] = ch->self;
		v[1] = ch->type;
		v[2] = ch->have_remote_id ? ch->remote_id : UINT32_MAX;
		v[3] = ch->istate;
		v[4] = ch->ostate;
		v[5] = ch->flags;
		for (j = 0; j < sizeof(v); j++) {
			h ^= ((const uint8_t *)v)[j];
			h *= 1099511628211ULL;	/* FNV-1a prime */
		}
	}
	return h;
}

static void
take_checkpoint(struct ssh *ssh, uint32_t flags)
{
	struct rv_packet_view view;
	struct rv_state_session s;
	uint8_t *blob = NULL;
	size_t len = 0;
	int r;

	memset(&s, 0, sizeof(s));
	ssh_packet_revenant_view(ssh, &view);
	if (fill_transport(ssh, &s, &view) != 0) {
		error("revenant: checkpoint skipped: no keys or no "
		    "identification strings in place");
		goto out;
	}
	fill_channels(ssh, &s);
	if ((r = rv_state_session_encode(&s, &blob, &len)) != 0) {
		error("revenant: checkpoint skipped: %s", rv_state_strerror(r));
		goto out;
	}
	/*
	 * Only a NEWKEYS checkpoint must be sent before sshd goes on, because
	 * the next packets use the new keys. The others let the monitor sign
	 * and encrypt while this process carries on.
	 */
	if (rv.have_monitor) {
		rv_monitor_request_checkpoint(blob, len, flags,
		    (flags & RV_CKPT_FLAG_AFTER_NEWKEYS) != 0);
	}
	else {
		(void)rv_monitor_emit(ssh, rv.user,
		    sshbuf_ptr(ssh->kex->session_id),
		    sshbuf_len(ssh->kex->session_id), blob, len, flags);
	}
	rv.changed = rv.deferred = 0;
	rv.bytes_at_last = view.stream_in + view.stream_out;
	rv.channels_at_last = channels_fingerprint(ssh);
	rv.time_at_last = monotime();
 out:
	if (blob != NULL) {
		freezero(blob, len);
	}
	rv_state_session_clear(&s);
}

void
rv_export_session_start(struct ssh *ssh, const char *user, int have_monitor)
{
	if (!options.revenant.checkpoints)
		return;
	rv.active = 1;
	rv.have_monitor = have_monitor;
	free(rv.user);
	rv.user = xstrdup(user);
	ssh_packet_set_newkeys_hook(ssh, rv_export_newkeys);
	debug("revenant: exporting checkpoints of this connection");
	take_checkpoint(ssh, 0);
}

void
rv_export_newkeys(struct ssh *ssh, int mode)
{
	if (!rv.active)
		return;
	debug3("revenant: checkpoint after NEWKEYS %s",
	    mode == MODE_OUT ? "out" : "in");
	take_checkpoint(ssh, RV_CKPT_FLAG_AFTER_NEWKEYS);
}

void
rv_export_mark_changed(void)
{
	rv.changed = 1;
}

void
rv_export_note_exec(int chanid, const char *command, int is_subsystem)
{
	struct exec_note *note = NULL;
	int i;

	rv.changed = 1;
	for (i = 0; i < RV_EXPORT_EXEC_MAX && note == NULL; i++) {
		if (rv.execs[i].run == RV_STATE_RUN_NONE ||
		    rv.execs[i].chanid == chanid)
			note = &rv.execs[i];
	}
	if (note == NULL) {
		/* NOTE: a full table leaves this channel without its command
		 * in checkpoints; the backup then treats it as unknown. */
		debug("revenant: channel %d: command not recorded", chanid);
		return;
	}
	free(note->command);
	note->chanid = chanid;
	note->command = command == NULL ? NULL : xstrdup(command);
	if (is_subsystem)
		note->run = RV_STATE_RUN_SUBSYSTEM;
	else if (command == NULL)
		note->run = RV_STATE_RUN_SHELL;
	else
		note->run = RV_STATE_RUN_COMMAND;
}

/* Returns the bytes the socket has not yet sent, or -1 if unknown. */
static int
socket_unsent(int fd)
{
	int n;

	if (ioctl(fd, SIOCOUTQNSD, &n) == -1)
		return -1;
	return n;
}

static uint64_t
stream_total(struct ssh *ssh)
{
	struct rv_packet_view view;

	ssh_packet_revenant_view(ssh, &view);
	return view.stream_in + view.stream_out;
}

static int
periodic_due(struct ssh *ssh)
{
	uint64_t moved = stream_total(ssh) - rv.bytes_at_last;
	const struct rv_server_options *ro = &options.revenant;

	if (moved == 0)
		return 0;
	if (ro->checkpoint_bytes > 0 &&
	    moved >= (uint64_t)ro->checkpoint_bytes)
		return 1;
	return ro->checkpoint_interval > 0 &&
	    monotime() >= rv.time_at_last + ro->checkpoint_interval;
}

void
rv_export_poll(struct ssh *ssh)
{
	struct rv_packet_view view;

	if (!rv.active)
		return;
	ssh_packet_revenant_view(ssh, &view);
	/* Only whole packets: a half-read one would belong to no offset. */
	if (view.mid_packet || view.rekeying)
		return;
	if (rv.changed || channels_fingerprint(ssh) != rv.channels_at_last) {
		take_checkpoint(ssh, 0);
		return;
	}
	if (!periodic_due(ssh))
		return;
	/* The offsets of a periodic checkpoint must have crossed the wire. */
	if (view.output_len != 0 ||
	    socket_unsent(ssh_packet_get_connection_out(ssh)) != 0) {
		rv.deferred = 1;
		return;
	}
	take_checkpoint(ssh, 0);
}

void
rv_export_poll_deadline(struct ssh *ssh, struct timespec *pt)
{
	const struct rv_server_options *ro = &options.revenant;
	time_t now;

	if (!rv.active)
		return;
	if (rv.changed || rv.deferred) {
		ptimeout_deadline_ms(pt, RV_EXPORT_RETRY_MS);
		return;
	}
	if (ro->checkpoint_interval <= 0 ||
	    stream_total(ssh) == rv.bytes_at_last)
		return;
	now = monotime();
	if (now >= rv.time_at_last + ro->checkpoint_interval)
		ptimeout_deadline_ms(pt, RV_EXPORT_RETRY_MS);
	else
		ptimeout_deadline_sec(pt,
		    rv.time_at_last + ro->checkpoint_interval - now);
}
