/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef RV_JSON_WRITER_H
#define RV_JSON_WRITER_H

/*
 * Streaming JSON writer (RFC 8259) into a growable buffer.  The writer
 * places commas and colons itself and tracks nesting.  A misuse (a value
 * where a key is expected, an unbalanced end, a second top-level value) or
 * a failed allocation sets a sticky error: later calls do nothing and
 * rv_json_finish() reports it.  So a handler can write a whole document
 * without checking each call, then check once:
 *
 *	struct rv_json w;
 *	rv_json_init(&w);
 *	rv_json_object_begin(&w);
 *	rv_json_kv_uint(&w, "flows", n);
 *	rv_json_object_end(&w);
 *	if (rv_json_finish(&w) == 0)
 *		rv_ctl_reply_write(reply, rv_json_data(&w), rv_json_len(&w));
 *	rv_json_free(&w);
 *
 * Not thread-safe: one writer belongs to one thread.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RV_JSON_MAX_DEPTH	32
#define RV_JSON_MAX_LEN		(16u << 20)	/* bytes of output */

struct rv_json {
	char *buf;
	size_t len;
	size_t cap;
	int depth;
	int error;		/* 0 or the first negative error code */
	bool done;		/* a complete top-level value was written */
	bool after_key;		/* a key was written, its value is due */
	bool in_object[RV_JSON_MAX_DEPTH];
	bool has_items[RV_JSON_MAX_DEPTH];
};

/* Initializes an empty writer; allocates nothing yet. */
void rv_json_init(struct rv_json *w);
/* Frees the buffer; the writer may be initialized again. */
void rv_json_free(struct rv_json *w);

/*
 * Container and value writers.  Each is valid where a value is expected:
 * at the top level (once), in an array, or after rv_json_key().
 * rv_json_key() is valid only directly inside an object.
 */
void rv_json_object_begin(struct rv_json *w);
void rv_json_object_end(struct rv_json *w);
void rv_json_array_begin(struct rv_json *w);
void rv_json_array_end(struct rv_json *w);
void rv_json_key(struct rv_json *w, const char *key);

/*
 * Writes a string.  Quotes, backslashes and control characters are escaped;
 * each byte that is not part of valid UTF-8 (overlong forms and surrogates
 * included) becomes U+FFFD, so the output is always valid UTF-8.
 * rv_json_string_len() takes bytes that may contain NUL.  A NULL string
 * writes null.
 */
void rv_json_string(struct rv_json *w, const char *s);
void rv_json_string_len(struct rv_json *w, const char *s, size_t len);
void rv_json_int(struct rv_json *w, int64_t v);
void rv_json_uint(struct rv_json *w, uint64_t v);
/* Writes the shortest form that reads back as v; NaN and infinities,
 * which JSON cannot express, become null. */
void rv_json_double(struct rv_json *w, double v);
void rv_json_bool(struct rv_json *w, bool v);
void rv_json_null(struct rv_json *w);

/* Shorthands for rv_json_key() followed by the value. */
void rv_json_kv_string(struct rv_json *w, const char *key, const char *s);
void rv_json_kv_int(struct rv_json *w, const char *key, int64_t v);
void rv_json_kv_uint(struct rv_json *w, const char *key, uint64_t v);
void rv_json_kv_double(struct rv_json *w, const char *key, double v);
void rv_json_kv_bool(struct rv_json *w, const char *key, bool v);

/*
 * Ends the document with a newline.  Returns 0 when exactly one complete
 * top-level value was written, -EINVAL on misuse (including unclosed
 * containers), -ENOMEM if an allocation failed, -EMSGSIZE past
 * RV_JSON_MAX_LEN.  Call it once.
 */
int rv_json_finish(struct rv_json *w);

/* The first error, 0 if none. */
int rv_json_error(const struct rv_json *w);

/* The output so far, NUL-terminated ("" before the first write). */
const char *rv_json_data(const struct rv_json *w);
size_t rv_json_len(const struct rv_json *w);

#endif
