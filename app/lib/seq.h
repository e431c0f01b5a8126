/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef RV_SEQ_H
#define RV_SEQ_H

/*
 * Wrap-safe comparison of TCP sequence numbers. Sequence space is modulo
 * 2^32 (RFC 9293 section 3.4), so "a before b" means that b - a, taken
 * modulo 2^32, lies in (0, 2^31). The results are meaningful only for
 * numbers less than 2^31 apart, which every valid window guarantees.
 * The uint32_t to int32_t conversion relies on GCC and clang, which define
 * it as modulo 2^32.
 */

#include <stdbool.h>
#include <stdint.h>

/* Signed distance from b to a in bytes: positive when a is after b. */
static inline int32_t
rv_seq_diff(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b);
}

/* True when a comes before b in sequence space. */
static inline bool
rv_seq_lt(uint32_t a, uint32_t b)
{
	return rv_seq_diff(a, b) < 0;
}

/* True when a comes before b or equals it. */
static inline bool
rv_seq_le(uint32_t a, uint32_t b)
{
	return rv_seq_diff(a, b) <= 0;
}

/* True when a comes after b in sequence space. */
static inline bool
rv_seq_gt(uint32_t a, uint32_t b)
{
	return rv_seq_diff(a, b) > 0;
}

/* True when a comes after b or equals it. */
static inline bool
rv_seq_ge(uint32_t a, uint32_t b)
{
	return rv_seq_diff(a, b) >= 0;
}

#endif
