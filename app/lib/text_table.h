/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef RV_TEXT_TABLE_H
#define RV_TEXT_TABLE_H

/*
 * Column tables for people, as revenantctl prints them:
 *
 *	FLOW  CLIENT                SERVER            BYTES
 *	   1  198.51.100.7:40000    198.51.100.2:22  1.5 MiB
 *
 * Columns are separated by two spaces; widths count UTF-8 characters, not
 * bytes; control characters in cells print as '?'.  Errors are sticky: a
 * failed call makes rv_table_render() fail, so callers may check once.
 * Not thread-safe: one table belongs to one thread.
 */

#include <stddef.h>
#include <stdint.h>

enum rv_table_align {
	RV_TABLE_AUTO = 0,	/* right if every body cell is a number */
	RV_TABLE_LEFT,
	RV_TABLE_RIGHT,
};

#define RV_TABLE_MAX_COLUMNS	32
#define RV_TABLE_MAX_CELL	256	/* bytes; longer cells are cut */
#define RV_TABLE_MAX_ROWS	(1u << 20)

struct rv_table;

/* Allocates an empty table; returns NULL when out of memory. */
struct rv_table *rv_table_new(void);
void rv_table_free(struct rv_table *t);

/*
 * Adds a column with its header.  All columns must be added before the
 * first row.  Returns 0, -EINVAL (too many columns, or rows exist) or
 * -ENOMEM.
 */
int rv_table_add_column(struct rv_table *t, const char *header,
    enum rv_table_align align);

/*
 * Appends the next cell, printf-style.  Cells fill the current row from the
 * left; a cell past the last column starts a new row.  Returns 0, -ENOMEM,
 * or -EINVAL if there are no columns or the row cap is hit.
 */
int rv_table_cell(struct rv_table *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Renders the header and all rows, one line each, into a new NUL-terminated
 * string that the caller frees.  A short last row is padded with empty
 * cells.  Returns 0 and sets *out and *len, or the first negative error of
 * the table.
 */
int rv_table_render(const struct rv_table *t, char **out, size_t *len);

/*
 * Formats a byte count with binary units: "512 B", "1.5 KiB", "20 MiB",
 * "3.0 GiB".  One decimal below 10 of a unit.  Returns buf.
 */
char *rv_table_fmt_bytes(uint64_t bytes, char *buf, size_t len);

/*
 * Formats a duration given in nanoseconds: "850 ns", "12 us", "120 ms",
 * "3.2 s", "5 min 3 s", "2 h 5 min", "3 d 4 h".  Returns buf.
 */
char *rv_table_fmt_duration(uint64_t ns, char *buf, size_t len);

#endif
