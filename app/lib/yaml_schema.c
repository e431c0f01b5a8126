/* SPDX-License-Identifier: BSD-3-Clause */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "addr.h"
#include "yaml_schema.h"

/* Errors kept before sorting; past this only the count grows. */
#define DOC_ERRORS_KEPT		10000
/* Deeper nesting than any schema of ours is certainly a mistake. */
#define DOC_MAX_DEPTH		64
/* Maximum length of a key path, and of an input excerpt quoted in a message. */
#define KEY_MAX			256
#define EXCERPT_MAX		64
/* Default upper bound of a STRING without an explicit max. */
#define STRING_MAX_DEFAULT	4096

struct doc_error {
	size_t line;		/* 1-based; 0 for errors about the whole input */
	size_t column;
	size_t seq;		/* keeps the order of errors at one position */
	char *text;
};

/* Position and key path of a stored value, for checks across several keys. */
struct doc_value {
	const void *dst;
	size_t line;
	size_t column;
	char *key;
};

struct rv_yaml_doc {
	char *name;
	const char *buf;
	size_t len;
	yaml_document_t document;
	int loaded;
	struct doc_error *errors;
	size_t error_count;	/* kept in errors[] */
	size_t error_cap;
	size_t error_total;	/* found, kept or not */
	struct doc_value *values;
	size_t value_count;
	size_t value_cap;
};

static int walk_value(struct rv_yaml_doc *, const struct rv_yaml_field *,
    yaml_node_t *, void *, const char *);

static void
verror(struct rv_yaml_doc *doc, size_t line, size_t column, const char *key,
    const char *fmt, va_list ap)
{
	struct doc_error *e, *grown;
	char msg[512];
	size_t cap;
	int n;

	doc->error_total++;
	if (doc->error_count >= DOC_ERRORS_KEPT)
		return;
	if (doc->error_count == doc->error_cap) {
		cap = doc->error_cap == 0 ? 16 : doc->error_cap * 2;
		grown = realloc(doc->errors, cap * sizeof(*grown));
		if (grown == NULL)
			return;
		doc->errors = grown;
		doc->error_cap = cap;
	}
	vsnprintf(msg, sizeof(msg), fmt, ap);
	e = &doc->errors[doc->error_count];
	e->line = line;
	e->column = column;
	e->seq = doc->error_total;
	if (line == 0)
		n = asprintf(&e->text, "%s: %s", doc->name, msg);
	else if (key == NULL || key[0] == '\0')
		n = asprintf(&e->text, "%s:%zu:%zu: %s", doc->name, line,
		    column, msg);
	else
		n = asprintf(&e->text, "%s:%zu:%zu: %s: %s", doc->name, line,
		    column, key, msg);
	if (n < 0)
		return;
	doc->error_count++;
}

static void __attribute__((format(printf, 5, 6)))
error_line(struct rv_yaml_doc *doc, size_t line, size_t column,
    const char *key, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror(doc, line, column, key, fmt, ap);
	va_end(ap);
}

/* libyaml marks count from 0; messages count from 1. */
static void __attribute__((format(printf, 4, 5)))
error_node(struct rv_yaml_doc *doc, const yaml_node_t *node, const char *key,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror(doc, node->start_mark.line + 1, node->start_mark.column + 1, key,
	    fmt, ap);
	va_end(ap);
}

/* Copies at most EXCERPT_MAX bytes of untrusted text, control bytes as '?'. */
static char *
excerpt(const char *in, size_t inlen, char *out, size_t outlen)
{
	size_t i, n;

	n = inlen < EXCERPT_MAX ? inlen : EXCERPT_MAX;
	if (n > outlen - 4)
		n = outlen - 4;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];

		out[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	if (n < inlen) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
	return out;
}

static void
child_key(char *out, size_t outlen, const char *parent, const char *name,
    size_t namelen)
{
	char part[EXCERPT_MAX + 4];

	excerpt(name, namelen, part, sizeof(part));
	if (parent[0] == '\0')
		snprintf(out, outlen, "%s", part);
	else
		snprintf(out, outlen, "%s.%s", parent, part);
}

static const char *
node_kind(const yaml_node_t *node)
{
	switch (node->type) {
	case YAML_MAPPING_NODE:
		return "a map";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_SCALAR_NODE:
		if (node->data.scalar.length == 0 &&
		    node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
			return "an empty value";
		return "a scalar";
	default:
		return "nothing";
	}
}

static const char *
field_kind(const struct rv_yaml_field *f)
{
	switch (f->type) {
	case RV_YAML_MAP:
		return "a map";
	case RV_YAML_LIST:
		return "a list";
	case RV_YAML_STRING:
		return f->what != NULL ? f->what : "a string";
	case RV_YAML_BOOL:
		return "true or false";
	case RV_YAML_UINT:
		return "an integer";
	case RV_YAML_SIZE:
		return "a size";
	case RV_YAML_ENUM:
		return "a name";
	case RV_YAML_ADDR:
		return "an IP address";
	case RV_YAML_ENDPOINT:
		return "an address:port endpoint";
	case RV_YAML_CUSTOM:
		return f->what != NULL ? f->what : "a scalar";
	}
	return "a value";
}

static void
record_value(struct rv_yaml_doc *doc, const void *dst, const yaml_node_t *node,
    const char *key)
{
	struct doc_value *grown, *v;
	size_t cap;

	if (doc->value_count == doc->value_cap) {
		cap = doc->value_cap == 0 ? 64 : doc->value_cap * 2;
		grown = realloc(doc->values, cap * sizeof(*grown));
		if (grown == NULL)
			return;
		doc->values = grown;
		doc->value_cap = cap;
	}
	v = &doc->values[doc->value_count];
	v->key = strdup(key);
	if (v->key == NULL)
		return;
	v->dst = dst;
	v->line = node->start_mark.line + 1;
	v->column = node->start_mark.column + 1;
	doc->value_count++;
}

static const struct doc_value *
find_value(const struct rv_yaml_doc *doc, const void *dst)
{
	size_t i;

	for (i = 0; i < doc->value_count; i++) {
		if (doc->values[i].dst == dst)
			return &doc->values[i];
	}
	return NULL;
}

/* Parses decimal digits with no sign and no leading zero into *value. */
static int
parse_decimal(const char *text, size_t len, uint64_t *value)
{
	uint64_t v = 0, digit;
	size_t i;

	if (len == 0 || (text[0] == '0' && len > 1))
		return -EINVAL;
	for (i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return -EINVAL;
		digit = (uint64_t)(text[i] - '0');
		if (v > (UINT64_MAX - digit) / 10)
			return -ERANGE;
		v = v * 10 + digit;
	}
	*value = v;
	return 0;
}

int
rv_yaml_parse_size(const char *text, uint64_t *bytes)
{
	static const struct {
		const char *suffix;
		unsigned shift;
	} units[] = {
		{ "", 0 },
		{ "K", 10 }, { "KiB", 10 },
		{ "M", 20 }, { "MiB", 20 },
		{ "G", 30 }, { "GiB", 30 },
		{ "T", 40 }, { "TiB", 40 },
	};
	uint64_t value = 0;
	size_t digits, i;
	int rc;

	for (digits = 0; text[digits] >= '0' && text[digits] <= '9'; digits++)
		;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(text + digits, units[i].suffix) == 0)
			break;
	}
	if (i == sizeof(units) / sizeof(units[0]))
		return -EINVAL;
	rc = parse_decimal(text, digits, &value);
	if (rc != 0)
		return rc;
	if (value > (UINT64_MAX >> units[i].shift))
		return -ERANGE;
	*bytes = value << units[i].shift;
	return 0;
}

char *
rv_yaml_format_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const names[] = { "TiB", "GiB", "MiB", "KiB" };
	static const unsigned shifts[] = { 40, 30, 20, 10 };
	size_t i;

	for (i = 0; i < 4 && bytes != 0; i++) {
		if ((bytes & ((UINT64_C(1) << shifts[i]) - 1)) == 0) {
			snprintf(buf, len, "%llu%s",
			    (unsigned long long)(bytes >> shifts[i]), names[i]);
			return buf;
		}
	}
	snprintf(buf, len, "%llu", (unsigned long long)bytes);
	return buf;
}

static void
store_uint(void *dst, size_t width, uint64_t value)
{
	switch (width) {
	case 1:
		*(uint8_t *)dst = (uint8_t)value;
		break;
	case 2:
		*(uint16_t *)dst = (uint16_t)value;
		break;
	case 4:
		*(uint32_t *)dst = (uint32_t)value;
		break;
	default:
		*(uint64_t *)dst = value;
		break;
	}
}

static size_t
edit_distance(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t row[EXCERPT_MAX + 1], i, j, diag, up, best;

	if (alen > EXCERPT_MAX || blen > EXCERPT_MAX)
		return SIZE_MAX;
	for (j = 0; j <= blen; j++)
		row[j] = j;
	for (i = 1; i <= alen; i++) {
		diag = row[0];
		row[0] = i;
		for (j = 1; j <= blen; j++) {
			up = row[j];
			best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[blen];
}

static void
unknown_key(struct rv_yaml_doc *doc, const struct rv_yaml_field *fields,
    const yaml_node_t *keynode, const char *key)
{
	const char *name = (const char *)keynode->data.scalar.value;
	size_t len = keynode->data.scalar.length, d, best = 3, i;
	const char *closest = NULL;
	char shown[EXCERPT_MAX + 4], known[512];
	size_t used = 0;

	for (i = 0; fields[i].key != NULL; i++) {
		d = edit_distance(name, len, fields[i].key,
		    strlen(fields[i].key));
		if (d < best) {
			best = d;
			closest = fields[i].key;
		}
	}
	excerpt(name, len, shown, sizeof(shown));
	if (closest != NULL) {
		error_node(doc, keynode, key, "unknown key '%s'; did you mean "
		    "'%s'?", shown, closest);
		return;
	}
	known[0] = '\0';
	for (i = 0; fields[i].key != NULL && used < sizeof(known); i++) {
		used += (size_t)snprintf(known + used, sizeof(known) - used,
		    "%s%s", i == 0 ? "" : ", ", fields[i].key);
	}
	error_node(doc, keynode, key, "unknown key '%s'; known keys: %s",
	    shown, known);
}

static int
apply_defaults(const struct rv_yaml_field *fields, void *base)
{
	const struct rv_yaml_field *f;
	char *p;

	for (f = fields; f->key != NULL; f++) {
		p = (char *)base + f->offset;
		switch (f->type) {
		case RV_YAML_MAP:
			if (apply_defaults(f->fields, p) != 0)
				return -ENOMEM;
			break;
		case RV_YAML_UINT:
			store_uint(p, f->width, f->def);
			break;
		case RV_YAML_SIZE:
			*(uint64_t *)p = f->def;
			break;
		case RV_YAML_ENUM:
			*(int *)p = (int)f->def;
			break;
		case RV_YAML_BOOL:
			*(bool *)p = f->def != 0;
			break;
		case RV_YAML_STRING:
			if (f->def_string == NULL)
				break;
			*(char **)p = strdup(f->def_string);
			if (*(char **)p == NULL)
				return -ENOMEM;
			break;
		default:
			break;
		}
	}
	return 0;
}

static void
free_value(const struct rv_yaml_field *f, void *dst, void *base)
{
	char *items;
	size_t *count, i;

	switch (f->type) {
	case RV_YAML_MAP:
		rv_yaml_free(f->fields, dst);
		break;
	case RV_YAML_STRING:
		free(*(char **)dst);
		*(char **)dst = NULL;
		break;
	case RV_YAML_LIST:
		items = *(char **)dst;
		count = (size_t *)((char *)base + f->count_offset);
		for (i = 0; items != NULL && i < *count; i++)
			free_value(f->elem, items + i * f->elem_size,
			    items + i * f->elem_size);
		free(items);
		*(char **)dst = NULL;
		*count = 0;
		break;
	default:
		break;
	}
}

void
rv_yaml_free(const struct rv_yaml_field *root, void *base)
{
	const struct rv_yaml_field *f;

	if (base == NULL)
		return;
	for (f = root; f->key != NULL; f++)
		free_value(f, (char *)base + f->offset, base);
}

static int
walk_map(struct rv_yaml_doc *doc, const struct rv_yaml_field *fields,
    yaml_node_t *node, void *base, const char *key)
{
	const yaml_node_t *first[RV_YAML_MAP_KEYS_MAX];
	yaml_node_pair_t *pair;
	yaml_node_t *k, *v;
	char child[KEY_MAX];
	size_t nfields, i, len, before = doc->error_total;
	const char *name;

	if (node->type != YAML_MAPPING_NODE) {
		error_node(doc, node, key, "expected a map, got %s",
		    node_kind(node));
		return -1;
	}
	for (nfields = 0; fields[nfields].key != NULL; nfields++)
		;
	if (nfields > RV_YAML_MAP_KEYS_MAX) {
		error_node(doc, node, key, "the schema of this map has more "
		    "than %d keys", RV_YAML_MAP_KEYS_MAX);
		return -1;
	}
	memset(first, 0, sizeof(first));

	for (pair = node->data.mapping.pairs.start;
	    pair < node->data.mapping.pairs.top; pair++) {
		k = yaml_document_get_node(&doc->document, pair->key);
		v = yaml_document_get_node(&doc->document, pair->value);
		if (k == NULL || v == NULL)
			continue;
		if (k->type != YAML_SCALAR_NODE) {
			error_node(doc, k, key, "expected a key name, got %s",
			    node_kind(k));
			continue;
		}
		name = (const char *)k->data.scalar.value;
		len = k->data.scalar.length;
		child_key(child, sizeof(child), key, name, len);
		for (i = 0; i < nfields; i++) {
			if (strlen(fields[i].key) == len &&
			    memcmp(fields[i].key, name, len) == 0)
				break;
		}
		if (i == nfields) {
			unknown_key(doc, fields, k, child);
			continue;
		}
		if (first[i] != NULL) {
			error_node(doc, k, child, "duplicate key; first given "
			    "at line %zu, column %zu",
			    (size_t)first[i]->start_mark.line + 1,
			    (size_t)first[i]->start_mark.column + 1);
			continue;
		}
		first[i] = k;
		walk_value(doc, &fields[i], v, base, child);
	}

	for (i = 0; i < nfields; i++) {
		if (first[i] != NULL || !(fields[i].flags & RV_YAML_REQUIRED))
			continue;
		child_key(child, sizeof(child), key, fields[i].key,
		    strlen(fields[i].key));
		error_node(doc, node, child, "required key is missing");
	}
	return doc->error_total == before ? 0 : -1;
}

static void
check_unique(struct rv_yaml_doc *doc, const struct rv_yaml_field *f,
    yaml_node_t *list, const char *items, const bool *ok, size_t n,
    const char *key)
{
	char shown[EXCERPT_MAX + 4], child[KEY_MAX];
	yaml_node_t *node;
	size_t i, j;

	for (i = 1; i < n; i++) {
		if (!ok[i])
			continue;
		for (j = 0; j < i; j++) {
			if (!ok[j] || memcmp(items + i * f->elem_size,
			    items + j * f->elem_size, f->elem_size) != 0)
				continue;
			node = yaml_document_get_node(&doc->document,
			    list->data.sequence.items.start[i]);
			excerpt((const char *)node->data.scalar.value,
			    node->data.scalar.length, shown, sizeof(shown));
			snprintf(child, sizeof(child), "%s[%zu]", key, i);
			error_node(doc, node, child, "duplicate value '%s'; "
			    "also given as %s[%zu]", shown, key, j);
			break;
		}
	}
}

static int
walk_list(struct rv_yaml_doc *doc, const struct rv_yaml_field *f,
    yaml_node_t *node, void *base, const char *key)
{
	char **dst = (char **)((char *)base + f->offset);
	size_t *count = (size_t *)((char *)base + f->count_offset);
	size_t n, i, before = doc->error_total;
	char child[KEY_MAX];
	yaml_node_t *item;
	bool *ok = NULL;
	char *items;

	if (node->type != YAML_SEQUENCE_NODE) {
		error_node(doc, node, key, "expected a list, got %s",
		    node_kind(node));
		return -1;
	}
	n = (size_t)(node->data.sequence.items.top -
	    node->data.sequence.items.start);
	if (n < f->min || n > f->max) {
		error_node(doc, node, key, "expected %llu to %llu entries, "
		    "got %zu", (unsigned long long)f->min,
		    (unsigned long long)f->max, n);
		return -1;
	}
	items = calloc(n + 1, f->elem_size);
	ok = calloc(n + 1, sizeof(*ok));
	if (items == NULL || ok == NULL) {
		free(items);
		free(ok);
		error_node(doc, node, key, "out of memory");
		return -1;
	}
	*dst = items;
	*count = n;
	for (i = 0; i < n; i++) {
		item = yaml_document_get_node(&doc->document,
		    node->data.sequence.items.start[i]);
		if (item == NULL)
			continue;
		snprintf(child, sizeof(child), "%s[%zu]", key, i);
		if (f->elem->type == RV_YAML_MAP &&
		    apply_defaults(f->elem->fields, items + i * f->elem_size)) {
			error_node(doc, item, child, "out of memory");
			continue;
		}
		ok[i] = walk_value(doc, f->elem, item, items + i * f->elem_size,
		    child) == 0;
	}
	if (f->flags & RV_YAML_UNIQUE)
		check_unique(doc, f, node, items, ok, n, key);
	free(ok);
	return doc->error_total == before ? 0 : -1;
}

static int
scalar_error(struct rv_yaml_doc *doc, yaml_node_t *node, const char *key,
    const char *fmt, const char *value)
{
	char shown[EXCERPT_MAX + 4];

	excerpt(value, node->data.scalar.length, shown, sizeof(shown));
	error_node(doc, node, key, fmt, shown);
	return -1;
}

static int
load_uint(struct rv_yaml_doc *doc, const struct rv_yaml_field *f,
    yaml_node_t *node, void *dst, const char *key)
{
	const char *value = (const char *)node->data.scalar.value;
	uint64_t v;
	int rc;

	if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return scalar_error(doc, node, key, "expected a plain decimal "
		    "integer, got the quoted string '%s'", value);
	rc = parse_decimal(value, node->data.scalar.length, &v);
	if (rc == -EINVAL)
		return scalar_error(doc, node, key, "expected a decimal "
		    "integer without sign or leading zero, got '%s'", value);
	if (rc != 0 || v < f->min || v > f->max) {
		error_node(doc, node, key, "%s is out of range %llu..%llu",
		    value, (unsigned long long)f->min,
		    (unsigned long long)f->max);
		return -1;
	}
	if ((f->flags & RV_YAML_POW2) && (v & (v - 1)) != 0) {
		error_node(doc, node, key, "%s is not a power of two "
		    "(%llu..%llu)", value, (unsigned long long)f->min,
		    (unsigned long long)f->max);
		return -1;
	}
	store_uint(dst, f->width, v);
	return 0;
}

static int
load_size(struct rv_yaml_doc *doc, const struct rv_yaml_field *f,
    yaml_node_t *node, void *dst, const char *key)
{
	const char *value = (const char *)node->data.scalar.value;
	char lo[32], hi[32], shown[EXCERPT_MAX + 4];
	uint64_t v = 0;
	int rc;

	rc = rv_yaml_parse_size(value, &v);
	if (rc == -EINVAL)
		return scalar_error(doc, node, key, "invalid size '%s'; "
		    "expected bytes as an integer, or an integer with suffix "
		    "K/KiB, M/MiB, G/GiB or T/TiB (binary units: K = 1024)",
		    value);
	if (rc != 0 || v < f->min || v > f->max) {
		excerpt(value, node->data.scalar.length, shown, sizeof(shown));
		error_node(doc, node, key, "size %s is out of range %s..%s",
		    shown, rv_yaml_format_size(f->min, lo, sizeof(lo)),
		    rv_yaml_format_size(f->max, hi, sizeof(hi)));
		return -1;
	}
	*(uint64_t *)dst = v;
	return 0;
}

static int
load_enum(struct rv_yaml_doc *doc, const struct rv_yaml_field *f,
    yaml_node_t *node, void *dst, const char *key)
{
	const char *value = (const char *)node->data.scalar.value;
	char allowed[256], shown[EXCERPT_MAX + 4];
	size_t i, used = 0;

	for (i = 0; f->enum_names[i] != NULL; i++) {
		if (strcmp(value, f->enum_names[i]) == 0) {
			*(int *)dst = (int)i;
			return 0;
		}
	}
	allowed[0] = '\0';
	for (i = 0; f->enum_names[i] != NULL && used < sizeof(allowed); i++)
		used += (size_t)snprintf(allowed + used, sizeof(allowed) - used,
		    "%s%s", i == 0 ? "" : ", ", f->enum_names[i]);
	excerpt(value, node->data.scalar.length, shown, sizeof(shown));
	error_node(doc, node, key, "invalid value '%s'; expected one of: %s",
	    shown, allowed);
	return -1;
}

static int
load_string(struct rv_yaml_doc *doc, const struct rv_yaml_field *f,
    yaml_node_t *node, void *dst, const char *key)
{
	const char *value = (const char *)node->data.scalar.value;
	size_t len = node->data.scalar.length;
	uint64_t max = f->max != 0 ? f->max : STRING_MAX_DEFAULT;
	char why[256], shown[EXCERPT_MAX + 4];
	char *copy;

	if (len < f->min || len > max) {
		error_node(doc, node, key, "expected %llu to %llu bytes, got "
		    "%zu", (unsigned long long)f->min,
		    (unsigned long long)max, len);
		return -1;
	}
	if (f->check != NULL && f->check(value, why, sizeof(why)) != 0) {
		excerpt(value, len, shown, sizeof(shown));
		error_node(doc, node, key, "invalid value '%s': %s", shown,
		    why);
		return -1;
	}
	copy = strdup(value);
	if (copy == NULL) {
		error_node(doc, node, key, "out of memory");
		return -1;
	}
	free(*(char **)dst);
	*(char **)dst = copy;
	return 0;
}

static int
load_scalar(struct rv_yaml_doc *doc, const struct rv_yaml_field *f,
    yaml_node_t *node, void *dst, const char *key)
{
	const char *value = (const char *)node->data.scalar.value;
	char why[256], shown[EXCERPT_MAX + 4];

	if (node->type != YAML_SCALAR_NODE ||
	    (node->data.scalar.length == 0 &&
	    node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)) {
		error_node(doc, node, key, "expected %s, got %s",
		    field_kind(f), node_kind(node));
		return -1;
	}
	/* A double-quoted "\0" puts a NUL inside the scalar. */
	if (strlen(value) != node->data.scalar.length) {
		error_node(doc, node, key, "the value contains a NUL byte");
		return -1;
	}
	switch (f->type) {
	case RV_YAML_STRING:
		return load_string(doc, f, node, dst, key);
	case RV_YAML_UINT:
		return load_uint(doc, f, node, dst, key);
	case RV_YAML_SIZE:
		return load_size(doc, f, node, dst, key);
	case RV_YAML_ENUM:
		return load_enum(doc, f, node, dst, key);
	case RV_YAML_BOOL:
		if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0) {
			*(bool *)dst = value[0] == 't';
			return 0;
		}
		return scalar_error(doc, node, key, "expected true or false, "
		    "got '%s'", value);
	case RV_YAML_ADDR:
		if (rv_addr_parse(value, dst) == 0)
			return 0;
		return scalar_error(doc, node, key, "invalid IP address '%s'; "
		    "expected an IPv4 or IPv6 literal", value);
	case RV_YAML_ENDPOINT:
		if (rv_endpoint_parse(value, dst) == 0)
			return 0;
		return scalar_error(doc, node, key, "invalid endpoint '%s'; "
		    "expected IPv4:port or [IPv6]:port with port 1..65535",
		    value);
	case RV_YAML_CUSTOM:
		if (f->parse(value, dst, why, sizeof(why)) == 0)
			return 0;
		excerpt(value, node->data.scalar.length, shown, sizeof(shown));
		error_node(doc, node, key, "invalid value '%s': %s", shown,
		    why);
		return -1;
	default:
		error_node(doc, node, key, "no loader for this type");
		return -1;
	}
}

/* Loads node into the value that f places in the struct at base. */
static int
walk_value(struct rv_yaml_doc *doc, const struct rv_yaml_field *f,
    yaml_node_t *node, void *base, const char *key)
{
	void *dst = (char *)base + f->offset;

	switch (f->type) {
	case RV_YAML_MAP:
		return walk_map(doc, f->fields, node, dst, key);
	case RV_YAML_LIST:
		return walk_list(doc, f, node, base, key);
	default:
		if (load_scalar(doc, f, node, dst, key) != 0)
			return -1;
		record_value(doc, dst, node, key);
		return 0;
	}
}

/* Reports libyaml's problem text at its mark (reader errors have none). */
static void
parser_error(struct rv_yaml_doc *doc, const yaml_parser_t *parser)
{
	size_t line = 1, column = 1, i;
	char context[128] = "";

	if (parser->error == YAML_MEMORY_ERROR) {
		error_line(doc, 0, 0, NULL, "out of memory while parsing");
		return;
	}
	if (parser->error == YAML_READER_ERROR) {
		/* The column here counts bytes, not characters. */
		for (i = 0; i < parser->problem_offset && i < doc->len; i++) {
			if (doc->buf[i] == '\n') {
				line++;
				column = 1;
			} else {
				column++;
			}
		}
		if (parser->problem_value != -1)
			snprintf(context, sizeof(context), " (byte 0x%02X)",
			    (unsigned)parser->problem_value & 0xff);
		error_line(doc, line, column, NULL, "invalid YAML: %s%s",
		    parser->problem != NULL ? parser->problem : "error",
		    context);
		return;
	}
	if (parser->context != NULL)
		snprintf(context, sizeof(context), " (%s at line %zu, "
		    "column %zu)", parser->context,
		    (size_t)parser->context_mark.line + 1,
		    (size_t)parser->context_mark.column + 1);
	error_line(doc, parser->problem_mark.line + 1,
	    parser->problem_mark.column + 1, NULL, "invalid YAML: %s%s",
	    parser->problem != NULL ? parser->problem : "error", context);
}

/*
 * Checks the event stream before building the document: syntax, a single
 * document, bounded nesting and no aliases. The loader would resolve an
 * alias into a shared node, so one small file could expand exponentially
 * when walked, and an alias to its own ancestor would make a cycle.
 */
static int
scan_events(struct rv_yaml_doc *doc)
{
	yaml_parser_t parser;
	yaml_event_t event;
	size_t documents = 0, depth = 0;
	int rc = 0, done = 0;

	if (!yaml_parser_initialize(&parser)) {
		error_line(doc, 0, 0, NULL, "out of memory while parsing");
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)doc->buf,
	    doc->len);
	while (!done && rc == 0) {
		if (!yaml_parser_parse(&parser, &event)) {
			parser_error(doc, &parser);
			rc = -EINVAL;
			break;
		}
		switch (event.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++documents > 1) {
				error_line(doc, event.start_mark.line + 1,
				    event.start_mark.column + 1, NULL,
				    "a second YAML document; the file must "
				    "hold exactly one");
				rc = -EINVAL;
			}
			break;
		case YAML_ALIAS_EVENT:
			error_line(doc, event.start_mark.line + 1,
			    event.start_mark.column + 1, NULL,
			    "aliases (*name) are not supported; write the "
			    "value out");
			rc = -EINVAL;
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (++depth > DOC_MAX_DEPTH) {
				error_line(doc, event.start_mark.line + 1,
				    event.start_mark.column + 1, NULL,
				    "nesting deeper than %d levels",
				    DOC_MAX_DEPTH);
				rc = -EINVAL;
			}
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		default:
			break;
		}
		yaml_event_delete(&event);
	}
	yaml_parser_delete(&parser);
	if (rc == 0 && documents == 0) {
		error_line(doc, 1, 1, NULL, "the file is empty; expected a "
		    "map of settings");
		rc = -EINVAL;
	}
	return rc;
}

static int
build_document(struct rv_yaml_doc *doc)
{
	yaml_parser_t parser;
	int rc = 0;

	if (!yaml_parser_initialize(&parser)) {
		error_line(doc, 0, 0, NULL, "out of memory while parsing");
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)doc->buf,
	    doc->len);
	if (!yaml_parser_load(&parser, &doc->document)) {
		parser_error(doc, &parser);
		rc = -EINVAL;
	} else {
		doc->loaded = 1;
	}
	yaml_parser_delete(&parser);
	return rc;
}

int
rv_yaml_doc_load(struct rv_yaml_doc **docp, const char *name,
    const void *buf, size_t len, const struct rv_yaml_field *root,
    void *base)
{
	struct rv_yaml_doc *doc;
	yaml_node_t *top;
	int rc;

	*docp = NULL;
	doc = calloc(1, sizeof(*doc));
	if (doc == NULL)
		return -ENOMEM;
	doc->name = strdup(name);
	if (doc->name == NULL) {
		free(doc);
		return -ENOMEM;
	}
	*docp = doc;
	doc->buf = buf;
	doc->len = len;

	if (apply_defaults(root, base) != 0) {
		error_line(doc, 0, 0, NULL, "out of memory");
		return -ENOMEM;
	}
	if (len > RV_YAML_MAX_INPUT) {
		error_line(doc, 0, 0, NULL, "the input is %zu bytes; at most "
		    "%d are accepted", len, RV_YAML_MAX_INPUT);
		return -EINVAL;
	}
	if ((rc = scan_events(doc)) != 0 || (rc = build_document(doc)) != 0)
		return rc;
	top = yaml_document_get_root_node(&doc->document);
	if (top == NULL) {
		error_line(doc, 1, 1, NULL, "the file is empty; expected a "
		    "map of settings");
		return -EINVAL;
	}
	if (top->type != YAML_MAPPING_NODE) {
		error_node(doc, top, NULL, "expected a map of settings at the "
		    "top level, got %s", node_kind(top));
		return 0;
	}
	walk_map(doc, root, top, base, "");
	return 0;
}

size_t
rv_yaml_doc_error_count(const struct rv_yaml_doc *doc)
{
	return doc->error_total;
}

void
rv_yaml_error_at(struct rv_yaml_doc *doc, const void *dst,
    const char *fallback_key, const char *fmt, ...)
{
	const struct doc_value *v = find_value(doc, dst);
	va_list ap;

	va_start(ap, fmt);
	if (v != NULL)
		verror(doc, v->line, v->column, v->key, fmt, ap);
	else
		verror(doc, 1, 1, fallback_key, fmt, ap);
	va_end(ap);
}

size_t
rv_yaml_where(const struct rv_yaml_doc *doc, const void *dst, const char **key)
{
	const struct doc_value *v = find_value(doc, dst);

	if (v == NULL)
		return 0;
	*key = v->key;
	return v->line;
}

static int
compare_errors(const void *a, const void *b)
{
	const struct doc_error *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->column != y->column)
		return x->column < y->column ? -1 : 1;
	return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

static void
append_line(struct rv_yaml_errors *errs, char *line)
{
	if (errs->count < RV_YAML_MAX_ERRORS + 1)
		errs->lines[errs->count++] = line;
	else
		free(line);
}

size_t
rv_yaml_doc_finish(struct rv_yaml_doc *doc, struct rv_yaml_errors *errs)
{
	size_t total, i;
	char *line;

	if (doc == NULL)
		return 0;
	total = doc->error_total;
	if (doc->error_count > 1)
		qsort(doc->errors, doc->error_count, sizeof(doc->errors[0]),
		    compare_errors);
	for (i = 0; i < doc->error_count; i++) {
		if (errs != NULL && i < RV_YAML_MAX_ERRORS)
			append_line(errs, doc->errors[i].text);
		else
			free(doc->errors[i].text);
	}
	if (errs != NULL && total > RV_YAML_MAX_ERRORS &&
	    asprintf(&line, "%s: too many errors (%zu in total); only the "
	    "first %d are shown", doc->name, total, RV_YAML_MAX_ERRORS) >= 0)
		append_line(errs, line);
	for (i = 0; i < doc->value_count; i++)
		free(doc->values[i].key);
	free(doc->values);
	free(doc->errors);
	if (doc->loaded)
		yaml_document_delete(&doc->document);
	free(doc->name);
	free(doc);
	return total;
}

void
rv_yaml_errors_add(struct rv_yaml_errors *errs, const char *fmt, ...)
{
	va_list ap;
	char *line;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (n >= 0)
		append_line(errs, line);
}

void
rv_yaml_errors_print(const struct rv_yaml_errors *errs, FILE *out)
{
	size_t i;

	for (i = 0; i < errs->count; i++)
		fprintf(out, "%s\n", errs->lines[i]);
}

void
rv_yaml_errors_clear(struct rv_yaml_errors *errs)
{
	size_t i;

	for (i = 0; i < errs->count; i++) {
		free(errs->lines[i]);
		errs->lines[i] = NULL;
	}
	errs->count = 0;
}

int
rv_yaml_check_name(const char *value, char *why, size_t whylen)
{
	size_t i;

	for (i = 0; value[i] != '\0'; i++) {
		if (!isalnum((unsigned char)value[i]) && value[i] != '_' &&
		    value[i] != '.' && value[i] != '-') {
			snprintf(why, whylen, "a name may contain only "
			    "A-Z, a-z, 0-9, '_', '.' and '-'");
			return -1;
		}
	}
	return 0;
}

int
rv_yaml_check_absolute_path(const char *value, char *why, size_t whylen)
{
	if (value[0] != '/') {
		snprintf(why, whylen, "expected an absolute path");
		return -1;
	}
	return 0;
}

void
rv_yaml_error_duplicate(struct rv_yaml_doc *doc, const void *dst,
    const void *first, const char *what, const char *value)
{
	const char *key = "?";
	size_t line;

	line = rv_yaml_where(doc, first, &key);
	rv_yaml_error_at(doc, dst, NULL, "duplicate %s '%s'; first given as "
	    "%s at line %zu", what, value, key, line);
}
