/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * "revenantctl migrate": starts a migration in revenantd, then follows its
 * progress with "migration ID FROM" until it ends, printing each new line.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl_client.h"
#include "ctl_proto.h"
#include "migrate_client.h"

#define PROG		"revenantctl"
#define POLL_MS		100
/* A migration waits at most for its fence and handoff timeouts; this
 * bounds the wait if the daemon stops answering in between. */
#define FOLLOW_MAX_S	600

struct body {
	char *buf;
	size_t len;
};

static int
collect(const struct rv_ctl_status *st, const void *buf, size_t len,
    void *arg)
{
	struct body *b = arg;
	char *grown;

	(void)st;
	grown = realloc(b->buf, b->len + len + 1);
	if (grown == NULL)
		return -ENOMEM;
	b->buf = grown;
	memcpy(b->buf + b->len, buf, len);
	b->len += len;
	b->buf[b->len] = '\0';
	return 0;
}

/* Runs one command and collects its body. Returns 0 or an exit code,
 * having printed the error. */
static int
call(const char *path, int argc, const char **words, int timeout_ms,
    struct body *b)
{
	struct rv_ctl_status st;
	char err[512];
	int r;

	b->len = 0;
	r = rv_ctl_client_call(path, argc, words, -1, timeout_ms, &st,
	    collect, b, err, sizeof(err));
	if (r != 0) {
		fprintf(stderr, PROG ": %s\n", err);
		return RV_CTL_EXIT_FAILURE;
	}
	if (!st.ok) {
		fprintf(stderr, PROG ": %s", b->buf != NULL ? b->buf : "");
		return st.exit_code;
	}
	return 0;
}

/* Finds "key": in the flat JSON the daemon writes and returns what
 * follows, or NULL. */
static const char *
json_value(const char *json, const char *key)
{
	char pattern[64];
	const char *p;

	snprintf(pattern, sizeof(pattern), "\"%s\":", key);
	p = strstr(json, pattern);
	return p != NULL ? p + strlen(pattern) : NULL;
}

static uint64_t
json_uint(const char *json, const char *key)
{
	const char *p = json_value(json, key);

	return p != NULL ? strtoull(p, NULL, 10) : 0;
}

/* Decodes the JSON string at p (after its opening quote) into out. Returns
 * the position after the closing quote, or NULL if malformed. */
static const char *
json_string(const char *p, char *out, size_t size)
{
	size_t n = 0;

	while (*p != '\0' && *p != '"') {
		char c = *p++;

		if (c == '\\') {
			c = *p++;
			switch (c) {
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'u':
				/* Control characters and replacement marks
				 * print as '?'. */
				if (strlen(p) < 4)
					return NULL;
				p += 4;
				c = '?';
				break;
			case '\0':
				return NULL;
			default:
				break;
			}
		}
		if (n + 1 < size)
			out[n++] = c;
	}
	out[n] = '\0';
	return *p == '"' ? p + 1 : NULL;
}

static void
print_lines(const char *json)
{
	const char *p = json_value(json, "lines");
	char line[1024];

	if (p == NULL || *p++ != '[')
		return;
	while (*p == '"') {
		p = json_string(p + 1, line, sizeof(line));
		if (p == NULL)
			return;
		printf("%s\n", line);
		if (*p == ',')
			p++;
	}
	fflush(stdout);
}

static bool
finished(const char *json)
{
	const char *p = json_value(json, "state");

	return p != NULL && (strncmp(p, "\"done\"", 6) == 0 ||
	    strncmp(p, "\"failed\"", 8) == 0);
}

int
rv_ctl_migrate(const char *path, int argc, const char **words, bool json,
    int timeout_ms)
{
	const char *start[RV_CTL_MAX_WORDS + 2];
	const char *poll_words[4];
	char id_text[32], from_text[32];
	struct body b = { NULL, 0 };
	time_t deadline = time(NULL) + FOLLOW_MAX_S;
	uint64_t id;
	int i, rc;

	for (i = 0; i < argc; i++)
		start[i] = words[i];
	start[argc] = RV_CTL_JSON_WORD;
	start[argc + 1] = NULL;
	rc = call(path, argc + 1, start, timeout_ms, &b);
	if (rc != 0)
		goto out;
	id = json_uint(b.buf, "migration");
	if (id == 0) {
		fprintf(stderr, PROG ": revenantd sent no migration id\n");
		rc = RV_CTL_EXIT_FAILURE;
		goto out;
	}
	if (!json)
		printf("migration %" PRIu64 " started\n", id);
	snprintf(id_text, sizeof(id_text), "%" PRIu64, id);
	snprintf(from_text, sizeof(from_text), "0");
	poll_words[0] = "migration";
	poll_words[1] = id_text;
	poll_words[2] = from_text;
	poll_words[3] = NULL;
	for (;;) {
		rc = call(path, 3, poll_words, timeout_ms, &b);
		if (rc != 0)
			goto out;
		if (!json)
			print_lines(b.buf);
		snprintf(from_text, sizeof(from_text), "%" PRIu64,
		    json_uint(b.buf, "next"));
		if (finished(b.buf))
			break;
		if (time(NULL) > deadline) {
			fprintf(stderr, PROG ": migration %" PRIu64 " still "
			    "running after %d s; follow it with '" PROG
			    " migration %" PRIu64 "'\n", id, FOLLOW_MAX_S, id);
			rc = RV_CTL_EXIT_FAILURE;
			goto out;
		}
		usleep(POLL_MS * 1000);
	}
	if (json)
		printf("%s", b.buf);
	rc = strncmp(json_value(b.buf, "state"), "\"done\"", 6) == 0 &&
	    json_uint(b.buf, "failed") == 0 ? 0 : RV_CTL_EXIT_FAILURE;
out:
	free(b.buf);
	return rc;
}
