/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef REVENANT_CONFIG_H
#define REVENANT_CONFIG_H

/*
 * sshd_config options of revenant's checkpoint export.  servconf.c hands
 * every "Revenant*" keyword to rv_servconf_parse(), prints the effective
 * values with rv_servconf_dump() for "sshd -T", and sshd.c calls
 * rv_servconf_check() once the defaults are filled in.  The options are
 * global: upstream rejects them inside a Match block.
 *
 * These functions run in the listener and in the re-executed connection
 * process while they read the configuration, before any other thread
 * exists.  They use upstream's log.h; rv_servconf_check() calls fatal()
 * on a setting that sshd must not start with.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <stdint.h>

/* Default values. */
#define RV_SERVCONF_CHECKPOINT_INTERVAL	1		/* seconds */
/*
 * 4 MiB: a connection moving 200 MB/s sends about 50 checkpoints a second.
 * The appliance keeps about one period of client-to-server bytes behind
 * the newest checkpoint, a sixteenth of its default 64 MiB connection log.
 */
#define RV_SERVCONF_CHECKPOINT_BYTES	(4 * 1024 * 1024)	/* bytes */
#define RV_SERVCONF_HEARTBEAT_INTERVAL	1		/* seconds */

/* Type name of a line in the RevenantRecoveryKeys file. */
#define RV_SERVCONF_RECOVERY_KEY_TYPE	"revenant-x25519"
/* Length in bytes of a decoded X25519 public key (RFC 7748 section 5). */
#define RV_SERVCONF_RECOVERY_KEY_LEN	32

/* An unset integer field holds -1 until rv_servconf_fill_defaults(). */
struct rv_server_options {
	int	  checkpoints;		/* RevenantCheckpoints: 1 or 0 */
	char	 *export_address;	/* RevenantExportAddress as written */
	struct sockaddr_storage export_addr;	/* its parsed form */
	socklen_t export_addrlen;	/* 0 while export_address is NULL */
	char	 *recovery_keys_file;	/* RevenantRecoveryKeys, absolute path */
	u_int	  num_recovery_keys;	/* keys that rv_servconf_check() read */
	int	  checkpoint_interval;	/* seconds, 0: no periodic checkpoint */
	int64_t	  checkpoint_bytes;	/* bytes either way, 0: no byte trigger */
	int	  heartbeat_interval;	/* seconds, 0: no heartbeat */
};

/* Marks every option unset.  Call from initialize_server_options(). */
void	rv_servconf_init(struct rv_server_options *ro);

/* Sets each option still unset to its default. */
void	rv_servconf_fill_defaults(struct rv_server_options *ro);

/*
 * Parses the argument of one "Revenant*" line of filename, consuming it
 * from *acp and *avp with argv_next().  servconf.c maps exactly the six
 * keywords documented in ssh-patch/README.md to this function.  As upstream does, the first value of
 * an option wins, and a value is stored only when active is non-zero.
 * Logs an error naming filename and linenum and returns a negative
 * SSH_ERR_* code on a missing or invalid value; returns 0 otherwise.
 */
int	rv_servconf_parse(struct rv_server_options *ro, const char *keyword,
	    int *acp, char ***avp, const char *filename, int linenum,
	    int active);

/*
 * Checks the options as a whole after the defaults are filled in: with
 * checkpoints on, RevenantExportAddress and RevenantRecoveryKeys must be
 * set and the recovery key file must be valid, else it calls fatal().
 * With checkpoints on it also sets *compression to COMP_NONE, because the
 * zlib stream state cannot be carried to a backup host.  Logs the effective
 * settings when log_on is non-zero: the listener passes 1 and the
 * re-executed per-connection process 0, so they are logged once.
 */
void	rv_servconf_check(struct rv_server_options *ro, int *compression,
	    int log_on);

/* Prints the options in "sshd -T" form, one "keyword value" line each. */
void	rv_servconf_dump(const struct rv_server_options *ro);

#endif /* REVENANT_CONFIG_H */
