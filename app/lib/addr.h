/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef RV_ADDR_H
#define RV_ADDR_H

/*
 * IPv4 and IPv6 addresses and address:port endpoints as the configuration
 * and the control socket carry them. Pure C, no DPDK, callable from any
 * thread.
 */

#include <stddef.h>
#include <stdint.h>

/* An IPv4 or IPv6 address; IPv4 uses bytes[0..3] and leaves the rest zero. */
struct rv_addr {
	uint8_t family;		/* 4 or 6; 0 means no address */
	uint8_t bytes[16];	/* network byte order */
};

/* An address and a TCP or UDP port (host byte order). */
struct rv_endpoint {
	struct rv_addr addr;
	uint16_t port;
};

/* Maximum length of what rv_addr_format() and rv_endpoint_format() write,
 * including the NUL. */
#define RV_ADDR_STRLEN		46
#define RV_ENDPOINT_STRLEN	(RV_ADDR_STRLEN + 8)

/*
 * Parses an IPv4 dotted quad or an IPv6 literal (no brackets, no zone) into
 * *addr, which is fully overwritten. Returns 0, or -EINVAL when text is not
 * a literal of either family (*addr is then zeroed).
 */
int rv_addr_parse(const char *text, struct rv_addr *addr);

/*
 * Writes addr as text ("198.51.100.2", "2001:db8::2") into buf of len bytes,
 * always NUL-terminated when len > 0. Returns buf, so it can be used as a
 * printf argument; an address of family 0 or unknown family is "-".
 */
char *rv_addr_format(const struct rv_addr *addr, char *buf, size_t len);

/* Returns 1 when a and b are the same address of the same family, else 0. */
int rv_addr_equal(const struct rv_addr *a, const struct rv_addr *b);

/*
 * Parses "IPv4:port" or "[IPv6]:port" with a decimal port 1..65535 into *ep.
 * Returns 0, or -EINVAL for any other form (*ep is then zeroed).
 */
int rv_endpoint_parse(const char *text, struct rv_endpoint *ep);

/*
 * Writes ep as "198.51.100.2:22" or "[2001:db8::2]:22" into buf of len
 * bytes, always NUL-terminated when len > 0. Returns buf.
 */
char *rv_endpoint_format(const struct rv_endpoint *ep, char *buf, size_t len);

#endif
