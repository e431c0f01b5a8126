/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * revenant-keygen: creates a backup's recovery key pair (X25519), to which
 * the primary's sshd seals checkpoints with HPKE. The private key stays on
 * the backup; the public key line goes into the primary's
 * RevenantRecoveryKeys file.
 */

#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "revenant-hpke.h"
#include "revenant-keyfile.h"

#define PROGRAM	"revenant-keygen"

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: " PROGRAM " -f FILE [-C COMMENT] [-y]\n"
	    "       " PROGRAM " -e -f FILE\n"
	    "\n"
	    "Creates a recovery key pair: the private key in FILE (mode 0600)\n"
	    "and the public key line in FILE.pub (mode 0644), and prints the\n"
	    "public key line.\n"
	    "\n"
	    "  -f FILE     private key file; the public key goes to FILE.pub\n"
	    "  -C COMMENT  comment of the public key line (default: host name)\n"
	    "  -y          overwrite FILE and FILE.pub if they exist\n"
	    "  -e          print the public key line of the existing FILE\n"
	    "  -h          show this help\n");
}

/* Fails early, before any key is written, if either file exists. */
static int
check_absent(const char *path)
{
	struct stat st;

	if (lstat(path, &st) == 0) {
		fprintf(stderr, PROGRAM ": %s already exists; pass -y to "
		    "overwrite it or choose another path with -f\n", path);
		return -1;
	}
	if (errno != ENOENT) {
		fprintf(stderr, PROGRAM ": %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static void
report(const struct rv_keyfile_error *err)
{
	if (err->code == RV_KEYFILE_ERR_EXISTS)
		fprintf(stderr, PROGRAM ": %s; pass -y to overwrite it\n",
		    err->message);
	else
		fprintf(stderr, PROGRAM ": %s\n", err->message);
}

static int
print_public(const char *path)
{
	uint8_t sk[RV_HPKE_X25519_LEN], pk[RV_HPKE_X25519_LEN];
	char line[RV_KEYFILE_PUBLIC_LINE_SIZE];
	struct rv_keyfile_error err;
	int r;

	if (rv_keyfile_load_private(path, sk, pk, &err) != 0) {
		report(&err);
		return 1;
	}
	OPENSSL_cleanse(sk, sizeof(sk));
	if ((r = rv_keyfile_format_public_line(pk, NULL, line,
	    sizeof(line))) != 0) {
		fprintf(stderr, PROGRAM ": %s: %s\n", path,
		    rv_keyfile_strerror(r));
		return 1;
	}
	printf("%s\n", line);
	return 0;
}

static int
generate(const char *path, const char *comment, int overwrite)
{
	uint8_t sk[RV_HPKE_X25519_LEN], pk[RV_HPKE_X25519_LEN];
	char pub_path[PATH_MAX], line[RV_KEYFILE_PUBLIC_LINE_SIZE];
	struct rv_keyfile_error err;
	int n, r, status = 1;

	n = snprintf(pub_path, sizeof(pub_path), "%s.pub", path);
	if (n < 0 || (size_t)n >= sizeof(pub_path)) {
		fprintf(stderr, PROGRAM ": %s: path too long\n", path);
		return 1;
	}
	/* Check the comment before a key exists, so nothing is left behind. */
	memset(pk, 0, sizeof(pk));
	if ((r = rv_keyfile_format_public_line(pk, comment, line,
	    sizeof(line))) == RV_KEYFILE_ERR_COMMENT) {
		fprintf(stderr, PROGRAM ": invalid comment: it must be at most "
		    "%d bytes without control characters or leading and "
		    "trailing blanks\n", RV_KEYFILE_COMMENT_MAX);
		return 1;
	}
	if (!overwrite && (check_absent(path) != 0 ||
	    check_absent(pub_path) != 0))
		return 1;

	if ((r = rv_hpke_generate_keypair(sk, pk)) != 0) {
		fprintf(stderr, PROGRAM ": key generation failed: %s\n",
		    rv_hpke_strerror(r));
		goto out;
	}
	if (rv_keyfile_write_private(path, sk, overwrite, &err) != 0) {
		report(&err);
		goto out;
	}
	if (rv_keyfile_write_public(pub_path, pk, comment, overwrite,
	    &err) != 0) {
		report(&err);
		/* A private key without its public half is of no use. */
		unlink(path);
		goto out;
	}
	if ((r = rv_keyfile_format_public_line(pk, comment, line,
	    sizeof(line))) != 0) {
		fprintf(stderr, PROGRAM ": %s\n", rv_keyfile_strerror(r));
		goto out;
	}
	fprintf(stderr, "Private key written to %s (mode 0600)\n"
	    "Public key written to %s\n", path, pub_path);
	printf("%s\n", line);
	status = 0;
 out:
	OPENSSL_cleanse(sk, sizeof(sk));
	return status;
}

int
main(int argc, char **argv)
{
	char host[256], *path = NULL, *comment = NULL;
	int ch, overwrite = 0, print = 0;

	while ((ch = getopt(argc, argv, "C:ef:hy")) != -1) {
		switch (ch) {
		case 'C':
			comment = optarg;
			break;
		case 'e':
			print = 1;
			break;
		case 'f':
			path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'y':
			overwrite = 1;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, PROGRAM ": unexpected argument \"%s\"\n",
		    argv[optind]);
		usage(stderr);
		return 2;
	}
	if (path == NULL || *path == '\0') {
		fprintf(stderr, PROGRAM ": missing -f FILE\n");
		usage(stderr);
		return 2;
	}
	if (print)
		return print_public(path);
	if (comment == NULL) {
		if (gethostname(host, sizeof(host)) != 0)
			host[0] = '\0';
		host[sizeof(host) - 1] = '\0';
		comment = host;
	}
	return generate(path, comment, overwrite);
}
