/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef RV_LOG_H
#define RV_LOG_H

/*
 * Process-wide logging to stderr (and so to the journal under systemd).
 * Every line starts with the object it is about: "flow 198.51.100.1:40000 >
 * 198.51.100.2:22: ...", "port capture: ...", "config: ...".
 * Nothing on the fast path logs per packet: it counts instead.
 */

#include <stdarg.h>

enum rv_log_level {
	RV_LOG_ERROR = 0,
	RV_LOG_WARNING,
	RV_LOG_INFO,
	RV_LOG_DEBUG,
};

/* Sets the most verbose level printed. Callable from any thread. */
void rv_log_set_level(enum rv_log_level level);
enum rv_log_level rv_log_get_level(void);

/* Parses "error", "warning", "info" or "debug"; returns 0 or -1. */
int rv_log_level_parse(const char *name, enum rv_log_level *level);
const char *rv_log_level_name(enum rv_log_level level);

/* Sets the program name that prefixes each line ("revenantd"). */
void rv_log_set_ident(const char *ident);

/* Prints one line, newline added. Thread-safe: one write(2) per line. */
void rv_log(enum rv_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void rv_vlog(enum rv_log_level level, const char *fmt, va_list ap);

#define rv_err(...)	rv_log(RV_LOG_ERROR, __VA_ARGS__)
#define rv_warn(...)	rv_log(RV_LOG_WARNING, __VA_ARGS__)
#define rv_info(...)	rv_log(RV_LOG_INFO, __VA_ARGS__)
#define rv_debug(...)	rv_log(RV_LOG_DEBUG, __VA_ARGS__)

#endif
