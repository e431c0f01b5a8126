/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static volatile enum rv_log_level log_level = RV_LOG_INFO;
static const char *log_ident = "revenant";

static const char *const level_names[] = {
	[RV_LOG_ERROR] = "error",
	[RV_LOG_WARNING] = "warning",
	[RV_LOG_INFO] = "info",
	[RV_LOG_DEBUG] = "debug",
};

void
rv_log_set_level(enum rv_log_level level)
{
	log_level = level;
}

enum rv_log_level
rv_log_get_level(void)
{
	return log_level;
}

int
rv_log_level_parse(const char *name, enum rv_log_level *level)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*level = (enum rv_log_level)i;
			return 0;
		}
	}
	return -1;
}

const char *
rv_log_level_name(enum rv_log_level level)
{
	if ((size_t)level >= sizeof(level_names) / sizeof(level_names[0]))
		return "unknown";
	return level_names[level];
}

void
rv_log_set_ident(const char *ident)
{
	log_ident = ident;
}

void
rv_vlog(enum rv_log_level level, const char *fmt, va_list ap)
{
	char line[1024];
	struct timespec now;
	struct tm tm;
	int n, m;

	if (level > log_level)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
	    "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000, log_ident,
	    level_names[level]);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* One write per line so lines of concurrent threads never interleave. */
	(void)write(STDERR_FILENO, line, (size_t)n);
}

void
rv_log(enum rv_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rv_vlog(level, fmt, ap);
	va_end(ap);
}
