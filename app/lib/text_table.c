/* SPDX-License-Identifier: BSD-3-Clause */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text_table.h"

#define TABLE_GAP	2	/* spaces between columns */

struct rv_table {
	int ncolumns;
	char *headers[RV_TABLE_MAX_COLUMNS];
	enum rv_table_align align[RV_TABLE_MAX_COLUMNS];
	char **cells;		/* row-major, ncolumns per row */
	size_t ncells;
	size_t cap;
	int error;
};

struct rv_table *
rv_table_new(void)
{
	return calloc(1, sizeof(struct rv_table));
}

void
rv_table_free(struct rv_table *t)
{
	size_t i;
	int c;

	if (t == NULL)
		return;
	for (c = 0; c < t->ncolumns; c++)
		free(t->headers[c]);
	for (i = 0; i < t->ncells; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

static int
table_fail(struct rv_table *t, int err)
{
	if (t->error == 0)
		t->error = err;
	return err;
}

/* Copies s, cut to RV_TABLE_MAX_CELL bytes, with control characters as '?'. */
static char *
table_clean_copy(const char *s)
{
	size_t n, i;
	char *copy;

	n = strnlen(s, RV_TABLE_MAX_CELL);
	if ((copy = malloc(n + 1)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		copy[i] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
	}
	copy[n] = '\0';
	return copy;
}

int
rv_table_add_column(struct rv_table *t, const char *header,
    enum rv_table_align align)
{
	char *copy;

	if (t->error != 0)
		return t->error;
	if (t->ncolumns == RV_TABLE_MAX_COLUMNS || t->ncells != 0 ||
	    header == NULL)
		return table_fail(t, -EINVAL);
	if ((copy = table_clean_copy(header)) == NULL)
		return table_fail(t, -ENOMEM);
	t->headers[t->ncolumns] = copy;
	t->align[t->ncolumns] = align;
	t->ncolumns++;
	return 0;
}

int
rv_table_cell(struct rv_table *t, const char *fmt, ...)
{
	char text[RV_TABLE_MAX_CELL + 1], **cells;
	va_list ap;
	size_t cap;

	if (t->error != 0)
		return t->error;
	if (t->ncolumns == 0 ||
	    t->ncells / (size_t)t->ncolumns >= RV_TABLE_MAX_ROWS)
		return table_fail(t, -EINVAL);
	if (t->ncells == t->cap) {
		cap = t->cap != 0 ? t->cap * 2 : 64;
		if ((cells = realloc(t->cells, cap * sizeof(*cells))) == NULL)
			return table_fail(t, -ENOMEM);
		t->cells = cells;
		t->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if ((t->cells[t->ncells] = table_clean_copy(text)) == NULL)
		return table_fail(t, -ENOMEM);
	t->ncells++;
	return 0;
}

/* Counts characters: every byte that is not a UTF-8 continuation byte. */
static size_t
display_width(const char *s)
{
	size_t w = 0;

	for (; *s != '\0'; s++) {
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	}
	return w;
}

/*
 * A number for alignment: an optional sign, digits with at most one '.',
 * then optionally '%' or one space and a unit word ("1.5 MiB", "120 ms").
 */
static bool
is_numeric(const char *s)
{
	bool digits = false, dot = false;

	if (*s == '-' || *s == '+')
		s++;
	for (; *s != '\0'; s++) {
		if (isdigit((unsigned char)*s))
			digits = true;
		else if (*s == '.' && !dot)
			dot = true;
		else
			break;
	}
	if (!digits)
		return false;
	if (*s == '%')
		return s[1] == '\0';
	if (*s == ' ') {
		s++;
		if (*s == '\0')
			return false;
		while (isalpha((unsigned char)*s) || *s == ' ')
			s++;
	}
	return *s == '\0';
}

static bool
column_right_aligned(const struct rv_table *t, int c)
{
	size_t i;
	bool any = false;

	if (t->align[c] != RV_TABLE_AUTO)
		return t->align[c] == RV_TABLE_RIGHT;
	for (i = (size_t)c; i < t->ncells; i += (size_t)t->ncolumns) {
		const char *s = t->cells[i];

		/* Empty and "-" cells mean "no value" and do not decide. */
		if (s[0] == '\0' || strcmp(s, "-") == 0)
			continue;
		if (!is_numeric(s))
			return false;
		any = true;
	}
	return any;
}

static void
render_line(FILE *f, const struct rv_table *t, char *const *cells,
    size_t ncells, const size_t *width, const bool *right)
{
	size_t pad, i;
	int c, last;
	const char *s;

	/* The last column with text ends the line: no trailing blanks. */
	for (last = t->ncolumns - 1; last > 0; last--) {
		if ((size_t)last < ncells && cells[last][0] != '\0')
			break;
	}
	for (c = 0; c <= last; c++) {
		s = (size_t)c < ncells ? cells[c] : "";
		pad = width[c] - display_width(s);
		if (c > 0)
			fprintf(f, "%*s", TABLE_GAP, "");
		if (right[c])
			for (i = 0; i < pad; i++)
				fputc(' ', f);
		fputs(s, f);
		if (!right[c] && c < last)
			for (i = 0; i < pad; i++)
				fputc(' ', f);
	}
	fputc('\n', f);
}

int
rv_table_render(const struct rv_table *t, char **out, size_t *len)
{
	size_t width[RV_TABLE_MAX_COLUMNS], i, n, row, left;
	bool right[RV_TABLE_MAX_COLUMNS];
	FILE *f;
	int c;

	*out = NULL;
	*len = 0;
	if (t->error != 0)
		return t->error;
	for (c = 0; c < t->ncolumns; c++) {
		width[c] = display_width(t->headers[c]);
		right[c] = column_right_aligned(t, c);
	}
	for (i = 0; i < t->ncells; i++) {
		c = (int)(i % (size_t)t->ncolumns);
		n = display_width(t->cells[i]);
		if (n > width[c])
			width[c] = n;
	}
	if ((f = open_memstream(out, len)) == NULL)
		return -ENOMEM;
	if (t->ncolumns > 0)
		render_line(f, t, t->headers, (size_t)t->ncolumns, width,
		    right);
	for (row = 0; row * (size_t)t->ncolumns < t->ncells; row++) {
		i = row * (size_t)t->ncolumns;
		left = t->ncells - i;
		render_line(f, t, t->cells + i,
		    left < (size_t)t->ncolumns ? left : (size_t)t->ncolumns,
		    width, right);
	}
	if (ferror(f) != 0) {
		fclose(f);
		free(*out);
		*out = NULL;
		*len = 0;
		return -ENOMEM;
	}
	if (fclose(f) != 0) {
		free(*out);
		*out = NULL;
		*len = 0;
		return -ENOMEM;
	}
	return 0;
}

/*
 * Prints value (in base units) in the largest unit factor[u] that it
 * reaches, moving up one unit when rounding would reach the next one.
 * One decimal below 10 of a unit, none above, none for base units.
 */
static void
fmt_scaled(char *buf, size_t len, uint64_t value, const uint64_t *factor,
    const char *const *name, int nunits)
{
	double x;
	int u;

	for (u = nunits - 1; u > 0; u--) {
		if (value >= factor[u])
			break;
	}
	for (;;) {
		x = (double)value / (double)factor[u];
		/* 9.96 rounds to "10", and 1023.7 KiB to "1.0 MiB". */
		if (u + 1 < nunits &&
		    x + 0.5 >= (double)factor[u + 1] / (double)factor[u]) {
			u++;
			continue;
		}
		break;
	}
	if (u == 0 || x >= 9.95)
		snprintf(buf, len, "%.0f %s", x, name[u]);
	else
		snprintf(buf, len, "%.1f %s", x, name[u]);
}

char *
rv_table_fmt_bytes(uint64_t bytes, char *buf, size_t len)
{
	static const uint64_t factor[] = {
		1, 1ull << 10, 1ull << 20, 1ull << 30, 1ull << 40, 1ull << 50,
		1ull << 60,
	};
	static const char *const name[] = {
		"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB",
	};

	fmt_scaled(buf, len, bytes, factor, name, 7);
	return buf;
}

char *
rv_table_fmt_duration(uint64_t ns, char *buf, size_t len)
{
	static const uint64_t factor[] = {
		1, 1000, 1000000, 1000000000,
	};
	static const char *const name[] = { "ns", "us", "ms", "s" };
	const uint64_t sec = 1000000000ull;
	uint64_t s;

	if (ns < 59 * sec + sec / 2) {
		fmt_scaled(buf, len, ns, factor, name, 4);
		return buf;
	}
	s = (ns + sec / 2) / sec;
	if (s < 3600)
		snprintf(buf, len, "%" PRIu64 " min %" PRIu64 " s",
		    s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%" PRIu64 " h %" PRIu64 " min",
		    s / 3600, s % 3600 / 60);
	else
		snprintf(buf, len, "%" PRIu64 " d %" PRIu64 " h",
		    s / 86400, s % 86400 / 3600);
	return buf;
}
