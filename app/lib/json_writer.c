/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_writer.h"

void
rv_json_init(struct rv_json *w)
{
	memset(w, 0, sizeof(*w));
}

void
rv_json_free(struct rv_json *w)
{
	free(w->buf);
	memset(w, 0, sizeof(*w));
}

static void
json_fail(struct rv_json *w, int err)
{
	if (w->error == 0)
		w->error = err;
}

static void
json_append(struct rv_json *w, const char *s, size_t n)
{
	size_t cap;
	char *p;

	if (w->error != 0)
		return;
	if (n > RV_JSON_MAX_LEN - w->len) {
		json_fail(w, -EMSGSIZE);
		return;
	}
	if (w->len + n + 1 > w->cap) {
		cap = w->cap != 0 ? w->cap : 256;
		while (cap < w->len + n + 1)
			cap *= 2;
		if ((p = realloc(w->buf, cap)) == NULL) {
			json_fail(w, -ENOMEM);
			return;
		}
		w->buf = p;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

static void
json_puts(struct rv_json *w, const char *s)
{
	json_append(w, s, strlen(s));
}

/*
 * Checks that a value may start here and writes the comma before it.
 * Returns false (and sets the error) on misuse.
 */
static bool
json_value_start(struct rv_json *w)
{
	int d = w->depth;

	if (w->error != 0)
		return false;
	if (d == 0) {
		if (w->done) {
			json_fail(w, -EINVAL);
			return false;
		}
		return true;
	}
	if (w->in_object[d - 1]) {
		if (!w->after_key) {
			json_fail(w, -EINVAL);
			return false;
		}
		w->after_key = false;
		return true;
	}
	if (w->has_items[d - 1])
		json_puts(w, ",");
	w->has_items[d - 1] = true;
	return w->error == 0;
}

static void
json_value_end(struct rv_json *w)
{
	if (w->depth == 0)
		w->done = true;
}

static void
json_begin(struct rv_json *w, bool object)
{
	if (!json_value_start(w))
		return;
	if (w->depth == RV_JSON_MAX_DEPTH) {
		json_fail(w, -EINVAL);
		return;
	}
	w->in_object[w->depth] = object;
	w->has_items[w->depth] = false;
	w->depth++;
	json_puts(w, object ? "{" : "[");
}

static void
json_end(struct rv_json *w, bool object)
{
	if (w->error != 0)
		return;
	if (w->depth == 0 || w->in_object[w->depth - 1] != object ||
	    w->after_key) {
		json_fail(w, -EINVAL);
		return;
	}
	w->depth--;
	json_puts(w, object ? "}" : "]");
	json_value_end(w);
}

void
rv_json_object_begin(struct rv_json *w)
{
	json_begin(w, true);
}

void
rv_json_object_end(struct rv_json *w)
{
	json_end(w, true);
}

void
rv_json_array_begin(struct rv_json *w)
{
	json_begin(w, false);
}

void
rv_json_array_end(struct rv_json *w)
{
	json_end(w, false);
}

/*
 * Returns the length of the valid UTF-8 sequence at s (RFC 3629 section 4:
 * no overlong forms, no surrogates, nothing above U+10FFFF), or 0 if the
 * byte at s does not start one.
 */
static size_t
utf8_sequence_len(const unsigned char *s, size_t avail)
{
	size_t n, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else
		return 0;
	if (avail < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static void
json_escape(struct rv_json *w, const unsigned char *s, size_t len)
{
	char esc[8];
	size_t i = 0, start = 0, n;

	while (i < len) {
		if (s[i] >= 0x20 && s[i] != '"' && s[i] != '\\' &&
		    s[i] < 0x80) {
			i++;
			continue;
		}
		if (s[i] >= 0x80 && (n = utf8_sequence_len(s + i, len - i))) {
			i += n;
			continue;
		}
		json_append(w, (const char *)s + start, i - start);
		switch (s[i]) {
		case '"':
			json_puts(w, "\\\"");
			break;
		case '\\':
			json_puts(w, "\\\\");
			break;
		case '\n':
			json_puts(w, "\\n");
			break;
		case '\r':
			json_puts(w, "\\r");
			break;
		case '\t':
			json_puts(w, "\\t");
			break;
		case '\b':
			json_puts(w, "\\b");
			break;
		case '\f':
			json_puts(w, "\\f");
			break;
		default:
			if (s[i] < 0x20) {
				snprintf(esc, sizeof(esc), "\\u%04x", s[i]);
				json_puts(w, esc);
			} else
				json_puts(w, "\\ufffd");
			break;
		}
		i++;
		start = i;
	}
	json_append(w, (const char *)s + start, i - start);
}

void
rv_json_key(struct rv_json *w, const char *key)
{
	int d = w->depth;

	if (w->error != 0)
		return;
	if (d == 0 || !w->in_object[d - 1] || w->after_key || key == NULL) {
		json_fail(w, -EINVAL);
		return;
	}
	if (w->has_items[d - 1])
		json_puts(w, ",");
	w->has_items[d - 1] = true;
	json_puts(w, "\"");
	json_escape(w, (const unsigned char *)key, strlen(key));
	json_puts(w, "\":");
	w->after_key = true;
}

void
rv_json_string_len(struct rv_json *w, const char *s, size_t len)
{
	if (s == NULL) {
		rv_json_null(w);
		return;
	}
	if (!json_value_start(w))
		return;
	json_puts(w, "\"");
	json_escape(w, (const unsigned char *)s, len);
	json_puts(w, "\"");
	json_value_end(w);
}

void
rv_json_string(struct rv_json *w, const char *s)
{
	rv_json_string_len(w, s, s != NULL ? strlen(s) : 0);
}

static void
json_scalar(struct rv_json *w, const char *text)
{
	if (!json_value_start(w))
		return;
	json_puts(w, text);
	json_value_end(w);
}

void
rv_json_int(struct rv_json *w, int64_t v)
{
	char text[32];

	snprintf(text, sizeof(text), "%" PRId64, v);
	json_scalar(w, text);
}

void
rv_json_uint(struct rv_json *w, uint64_t v)
{
	char text[32];

	snprintf(text, sizeof(text), "%" PRIu64, v);
	json_scalar(w, text);
}

void
rv_json_double(struct rv_json *w, double v)
{
	char text[40];

	if (!isfinite(v)) {
		json_scalar(w, "null");
		return;
	}
	/* 15 digits read back exactly for most values, 17 for all. */
	snprintf(text, sizeof(text), "%.15g", v);
	if (strtod(text, NULL) != v)
		snprintf(text, sizeof(text), "%.17g", v);
	json_scalar(w, text);
}

void
rv_json_bool(struct rv_json *w, bool v)
{
	json_scalar(w, v ? "true" : "false");
}

void
rv_json_null(struct rv_json *w)
{
	json_scalar(w, "null");
}

void
rv_json_kv_string(struct rv_json *w, const char *key, const char *s)
{
	rv_json_key(w, key);
	rv_json_string(w, s);
}

void
rv_json_kv_int(struct rv_json *w, const char *key, int64_t v)
{
	rv_json_key(w, key);
	rv_json_int(w, v);
}

void
rv_json_kv_uint(struct rv_json *w, const char *key, uint64_t v)
{
	rv_json_key(w, key);
	rv_json_uint(w, v);
}

void
rv_json_kv_double(struct rv_json *w, const char *key, double v)
{
	rv_json_key(w, key);
	rv_json_double(w, v);
}

void
rv_json_kv_bool(struct rv_json *w, const char *key, bool v)
{
	rv_json_key(w, key);
	rv_json_bool(w, v);
}

int
rv_json_finish(struct rv_json *w)
{
	if (w->error == 0 && (!w->done || w->depth != 0))
		json_fail(w, -EINVAL);
	json_puts(w, "\n");
	return w->error;
}

int
rv_json_error(const struct rv_json *w)
{
	return w->error;
}

const char *
rv_json_data(const struct rv_json *w)
{
	return w->buf != NULL ? w->buf : "";
}

size_t
rv_json_len(const struct rv_json *w)
{
	return w->len;
}
