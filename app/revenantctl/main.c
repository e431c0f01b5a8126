/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * revenantctl: sends one command to revenantd over its control socket and
 * prints the reply, to stdout on success and to stderr on error.  Exit
 * status: 0 on success, the daemon's exit code for a command error (1, or 2
 * for usage), 1 when revenantd cannot be reached, 2 for a usage error found
 * here.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl_client.h"
#include "ctl_proto.h"
#include "migrate_client.h"

#define PROG	"revenantctl"

struct output {
	bool started;		/* the first byte of the body was printed */
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: " PROG " [-s SOCKET] [--json] [-t TIMEOUT_S] COMMAND "
	    "[ARGS...]\n"
	    "\n"
	    "Sends COMMAND to revenantd and prints its reply.\n"
	    "\n"
	    "options:\n"
	    "  -s, --socket SOCKET  control socket of revenantd (default: $"
	    RV_CTL_SOCKET_ENV ",\n"
	    "                       else " RV_CTL_DEFAULT_SOCKET ")\n"
	    "  -j, --json           print JSON instead of tables\n"
	    "  -t, --timeout SECS   wait at most SECS seconds for the reply "
	    "(default %d)\n"
	    "  -h, --help           print this help\n"
	    "\n"
	    "commands:\n"
	    "  stats                       counters of capture, flows and "
	    "memory\n"
	    "  flows                       monitored connections, one per "
	    "line\n"
	    "  flow ID                     state of one connection\n"
	    "  dump ID -o FILE.pcapng      write one connection's log as "
	    "pcapng\n"
	    "  servers                     monitored servers and their "
	    "health\n"
	    "  migrate SERVER [--to BACKUP]\n"
	    "                              move SERVER's connections to a "
	    "backup now\n"
	    "  migration ID [FROM]         progress of a migration, from "
	    "line FROM on\n"
	    "  help                        commands that this revenantd "
	    "supports\n"
	    "\n"
	    "Exit status: 0 on success, 1 if the command failed or revenantd "
	    "cannot be\nreached, 2 for a usage error.\n",
	    RV_CTL_DEFAULT_TIMEOUT_S);
}

static int
usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nrun '" PROG " --help' for usage\n");
	return RV_CTL_EXIT_USAGE;
}

/* Body sink: stdout when the reply is a success, stderr with our prefix
 * when it is an error message. */
static int
print_body(const struct rv_ctl_status *st, const void *buf, size_t len,
    void *arg)
{
	struct output *out = arg;
	FILE *f = st->ok ? stdout : stderr;

	if (!st->ok && !out->started)
		fputs(PROG ": ", stderr);
	out->started = true;
	if (fwrite(buf, 1, len, f) != len)
		return -EIO;
	return 0;
}

static int
parse_timeout(const char *arg, int *timeout_ms)
{
	char *end;
	long s;

	errno = 0;
	s = strtol(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || s < 1 || s > 3600)
		return -1;
	*timeout_ms = (int)s * 1000;
	return 0;
}

/*
 * Takes "dump ID -o FILE" apart: opens FILE for the daemon and removes
 * "-o FILE" from the words.  Returns 0, or an exit code.
 */
static int
prepare_dump(int *argc, const char **argv, int *fd, const char **file,
    bool *created)
{
	if (*argc != 4 || strcmp(argv[2], "-o") != 0)
		return usage_error("usage: dump ID -o FILE.pcapng");
	*file = argv[3];
	*created = true;
	*fd = open(*file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (*fd < 0 && errno == EEXIST) {
		*created = false;
		*fd = open(*file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0644);
	}
	if (*fd < 0) {
		fprintf(stderr, PROG ": cannot open %s for writing: %s\n",
		    *file, strerror(errno));
		return RV_CTL_EXIT_FAILURE;
	}
	*argc = 2;
	argv[2] = NULL;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = rv_ctl_client_default_path();
	const char *words[RV_CTL_MAX_WORDS + 2], *file = NULL;
	int timeout_ms = RV_CTL_DEFAULT_TIMEOUT_S * 1000;
	int nwords = 0, fd = -1, opt, i, r, rc;
	struct rv_ctl_status st;
	struct output out = { false };
	bool json = false, created = false;
	char err[512];

	/* A closed stdout must not kill us before we clean up. */
	signal(SIGPIPE, SIG_IGN);
	/* '+': stop at COMMAND, so its own options ("--to") stay words. */
	while ((opt = getopt_long(argc, argv, "+s:jt:h", longopts,
	    NULL)) != -1) {
		switch (opt) {
		case 's':
			path = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 't':
			if (parse_timeout(optarg, &timeout_ms) != 0)
				return usage_error("invalid timeout '%s': "
				    "expected whole seconds from 1 to 3600",
				    optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "run '" PROG " --help' for usage\n");
			return RV_CTL_EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return usage_error("missing COMMAND");
	if (argc - optind + (json ? 1 : 0) > RV_CTL_MAX_WORDS)
		return usage_error("too many arguments (at most %d words)",
		    RV_CTL_MAX_WORDS);
	for (i = optind; i < argc; i++)
		words[nwords++] = argv[i];
	if (strcmp(words[0], "dump") == 0 &&
	    (rc = prepare_dump(&nwords, words, &fd, &file, &created)) != 0)
		return rc;
	if (strcmp(words[0], "migrate") == 0)
		return rv_ctl_migrate(path, nwords, words, json, timeout_ms);
	if (json)
		words[nwords++] = RV_CTL_JSON_WORD;
	words[nwords] = NULL;

	r = rv_ctl_client_call(path, nwords, words, fd, timeout_ms, &st,
	    print_body, &out, err, sizeof(err));
	if (r == 0 && st.ok && fflush(stdout) != 0) {
		snprintf(err, sizeof(err), "cannot write to stdout: %s",
		    strerror(errno));
		r = -EIO;
	}
	if (r != 0) {
		if (out.started && !st.ok)
			fputc('\n', stderr);
		fprintf(stderr, PROG ": %s\n", err);
		rc = r == -EINVAL || r == -EMSGSIZE ? RV_CTL_EXIT_USAGE :
		    RV_CTL_EXIT_FAILURE;
	} else
		rc = st.ok ? 0 : st.exit_code;
	if (fd >= 0) {
		if (close(fd) != 0 && rc == 0) {
			fprintf(stderr, PROG ": cannot write %s: %s\n", file,
			    strerror(errno));
			rc = RV_CTL_EXIT_FAILURE;
		}
		/* Leave no empty or partial file behind a failed dump. */
		if (rc != 0 && created)
			unlink(file);
	}
	return rc;
}
