/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef RV_YAML_SCHEMA_H
#define RV_YAML_SCHEMA_H

/*
 * A table-driven YAML loader on libyaml. A program describes its file as
 * tables of struct rv_yaml_field (key, type, limits, default, offset into a
 * C struct) and gets the struct filled in, or a list of errors in file order,
 * each "FILE:LINE:COLUMN: KEY: message" with 1-based positions from libyaml.
 *
 * Storage per type, at base + offset of the enclosing map's struct:
 *   MAP       a nested struct; its fields' offsets are relative to it
 *   LIST      a pointer to a calloc'ed array of count + 1 zeroed elements of
 *             elem_size bytes (so a list of strings is NULL-terminated), and
 *             a size_t count at count_offset; elem describes one element
 *   STRING    char *, malloc'ed
 *   BOOL      bool
 *   UINT      an unsigned integer of width bytes (1, 2, 4 or 8)
 *   SIZE      uint64_t bytes
 *   ENUM      int, the index into enum_names
 *   ADDR      struct rv_addr
 *   ENDPOINT  struct rv_endpoint
 *   CUSTOM    whatever parse() writes
 * rv_yaml_free() releases every string and list of a filled struct.
 *
 * Not thread-safe per document; separate documents may load concurrently.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <yaml.h>

/* Maximum error lines returned; one more line reports that there were more. */
#define RV_YAML_MAX_ERRORS	20

/* Maximum keys in one map table. */
#define RV_YAML_MAP_KEYS_MAX	64

/* Largest input accepted, in bytes: configuration files are small. */
#define RV_YAML_MAX_INPUT	(1024 * 1024)

enum rv_yaml_type {
	RV_YAML_MAP = 1,
	RV_YAML_LIST,
	RV_YAML_STRING,
	RV_YAML_BOOL,
	RV_YAML_UINT,
	RV_YAML_SIZE,
	RV_YAML_ENUM,
	RV_YAML_ADDR,
	RV_YAML_ENDPOINT,
	RV_YAML_CUSTOM,
};

/* Field flags. */
#define RV_YAML_REQUIRED	0x1	/* the key must be present */
#define RV_YAML_POW2		0x2	/* UINT: a power of two */
#define RV_YAML_UNIQUE		0x4	/* LIST of scalars: no two equal elements */

/*
 * Validates or converts one scalar. value is NUL-terminated and contains no
 * NUL byte. Returns 0, or -1 after writing a short reason (no key, no
 * position) into why of whylen bytes.
 */
typedef int rv_yaml_check_fn(const char *value, char *why, size_t whylen);
typedef int rv_yaml_parse_fn(const char *value, void *dst, char *why,
    size_t whylen);

/*
 * One key of a map, or with key NULL the description of a list's elements.
 * A table of fields ends with an entry whose key is NULL.
 */
struct rv_yaml_field {
	const char *key;
	enum rv_yaml_type type;
	unsigned flags;
	size_t offset;		/* of the value in the enclosing struct */
	size_t width;		/* UINT: bytes of the integer */
	/* UINT, SIZE: value range; STRING: length range in bytes; LIST: count */
	uint64_t min, max;
	uint64_t def;		/* UINT, SIZE, ENUM, BOOL: value when absent */
	const char *def_string;	/* STRING: value when absent, or NULL */
	const char *const *enum_names;	/* ENUM: NULL-terminated */
	const struct rv_yaml_field *fields;	/* MAP: its keys */
	const struct rv_yaml_field *elem;	/* LIST: one element */
	size_t elem_size;	/* LIST: bytes of one element */
	size_t count_offset;	/* LIST: offset of the size_t count */
	rv_yaml_check_fn *check;	/* STRING: extra validation, or NULL */
	rv_yaml_parse_fn *parse;	/* CUSTOM: converts into dst */
	const char *what;	/* CUSTOM, STRING with check: noun for type errors */
};

/* Bytes of a struct member, for the width of a UINT field. */
#define RV_YAML_FIELD_WIDTH(type, member)	sizeof(((type *)0)->member)

/* Checks shared by the schemas: a name of [A-Za-z0-9_.-], an absolute
 * path. rv_yaml_check_fn contracts. */
int rv_yaml_check_name(const char *value, char *why, size_t whylen);
int rv_yaml_check_absolute_path(const char *value, char *why,
    size_t whylen);

/* The error lines of one load, in file order, each malloc'ed. */
struct rv_yaml_errors {
	size_t count;
	char *lines[RV_YAML_MAX_ERRORS + 1];
};

/* One load in progress: the parsed document, positions and errors. */
struct rv_yaml_doc;

/*
 * Parses buf (len bytes; name is used in error lines) and fills the struct at
 * base according to the map table root. Defaults are written first, so base
 * must be zeroed and every absent key ends up at its default. Errors are
 * kept inside doc until rv_yaml_doc_finish(). On return, the caller may run
 * further checks on *docp with rv_yaml_error_at() and must then end it with
 * rv_yaml_doc_finish(). *docp is NULL only when memory ran out (-ENOMEM).
 * Returns 0 when the structure was walked (errors may still have been
 * found: see rv_yaml_doc_error_count()), or -EINVAL when the file could not
 * be parsed as YAML at all. base is filled as far as it could be in any case
 * and must be released with rv_yaml_free().
 */
int rv_yaml_doc_load(struct rv_yaml_doc **docp, const char *name,
    const void *buf, size_t len, const struct rv_yaml_field *root,
    void *base);

/* Returns the number of errors found so far in doc. */
size_t rv_yaml_doc_error_count(const struct rv_yaml_doc *doc);

/*
 * Records an error about the value stored at dst, at the position and under
 * the key it was read from. When dst was never read (a default), the error
 * is placed at line 1, column 1 under fallback_key. Used for checks that
 * span several keys.
 */
void rv_yaml_error_at(struct rv_yaml_doc *doc, const void *dst,
    const char *fallback_key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * Finds where the value at dst was read. Returns its 1-based line and sets
 * *key to its key path (owned by doc), or returns 0 when dst was not read.
 */
size_t rv_yaml_where(const struct rv_yaml_doc *doc, const void *dst,
    const char **key);

/*
 * Records an error about the whole input (no position): unreadable file and
 * the like. Also usable without a document through rv_yaml_errors_add().
 */
void rv_yaml_errors_add(struct rv_yaml_errors *errs, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Sorts the errors of doc into file order, moves the first
 * RV_YAML_MAX_ERRORS of them into errs (appending a "too many errors" line
 * when more were found) and frees doc. Returns the number of errors found,
 * 0 when the input is valid. doc may be NULL.
 */
size_t rv_yaml_doc_finish(struct rv_yaml_doc *doc, struct rv_yaml_errors *errs);

/* Releases every string and list that a load stored in base (not base). */
void rv_yaml_free(const struct rv_yaml_field *root, void *base);

/* Prints each line of errs followed by a newline to out. */
void rv_yaml_errors_print(const struct rv_yaml_errors *errs, FILE *out);

/* Frees the lines of errs and sets its count to 0. */
void rv_yaml_errors_clear(struct rv_yaml_errors *errs);

/*
 * Parses a size: decimal bytes, or decimal digits followed by K, KiB, M,
 * MiB, G, GiB, T or TiB (all binary: K = KiB = 1024). Returns 0, or -EINVAL
 * for another form, or -ERANGE on overflow of 64 bits.
 */
int rv_yaml_parse_size(const char *text, uint64_t *bytes);

/* Writes bytes as "64MiB" when a binary unit divides it, else as digits. */
char *rv_yaml_format_size(uint64_t bytes, char *buf, size_t len);

/*
 * Records "duplicate WHAT 'VALUE'; first given as KEY at line N" at dst,
 * naming where the first occurrence, first, was read. For checks across
 * list elements.
 */
void rv_yaml_error_duplicate(struct rv_yaml_doc *doc, const void *dst,
    const void *first, const char *what, const char *value);

#endif
