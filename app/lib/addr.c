/* SPDX-License-Identifier: BSD-3-Clause */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"

int
rv_addr_parse(const char *text, struct rv_addr *addr)
{
	memset(addr, 0, sizeof(*addr));
	/* glibc's inet_pton takes only the four-part decimal IPv4 form. */
	if (inet_pton(AF_INET, text, addr->bytes) == 1) {
		addr->family = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, text, addr->bytes) == 1) {
		addr->family = 6;
		return 0;
	}
	memset(addr, 0, sizeof(*addr));
	return -EINVAL;
}

char *
rv_addr_format(const struct rv_addr *addr, char *buf, size_t len)
{
	int af;

	if (len == 0)
		return buf;
	if (addr->family == 4)
		af = AF_INET;
	else if (addr->family == 6)
		af = AF_INET6;
	else
		af = 0;
	if (af == 0 || inet_ntop(af, addr->bytes, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "-");
	return buf;
}

int
rv_addr_equal(const struct rv_addr *a, const struct rv_addr *b)
{
	size_t n;

	if (a->family != b->family)
		return 0;
	n = a->family == 4 ? 4 : 16;
	return memcmp(a->bytes, b->bytes, n) == 0;
}

static int
parse_port(const char *text, uint16_t *port)
{
	uint32_t value = 0;
	size_t i;

	if (text[0] == '\0' || text[0] == '0')
		return -EINVAL;
	for (i = 0; text[i] != '\0'; i++) {
		if (text[i] < '0' || text[i] > '9' || i >= 5)
			return -EINVAL;
		value = value * 10 + (uint32_t)(text[i] - '0');
	}
	if (value > 65535)
		return -EINVAL;
	*port = (uint16_t)value;
	return 0;
}

int
rv_endpoint_parse(const char *text, struct rv_endpoint *ep)
{
	char host[RV_ADDR_STRLEN];
	const char *colon, *start, *end;
	size_t n;

	memset(ep, 0, sizeof(*ep));
	if (text[0] == '[') {
		start = text + 1;
		end = strchr(start, ']');
		if (end == NULL || end[1] != ':')
			goto fail;
		colon = end + 1;
	} else {
		start = text;
		colon = strrchr(text, ':');
		if (colon == NULL)
			goto fail;
		end = colon;
	}
	n = (size_t)(end - start);
	if (n == 0 || n >= sizeof(host))
		goto fail;
	memcpy(host, start, n);
	host[n] = '\0';
	if (rv_addr_parse(host, &ep->addr) != 0)
		goto fail;
	/* A bare IPv6 literal would be ambiguous with its port: require brackets. */
	if ((text[0] == '[') != (ep->addr.family == 6))
		goto fail;
	if (parse_port(colon + 1, &ep->port) != 0)
		goto fail;
	return 0;
 fail:
	memset(ep, 0, sizeof(*ep));
	return -EINVAL;
}

char *
rv_endpoint_format(const struct rv_endpoint *ep, char *buf, size_t len)
{
	char host[RV_ADDR_STRLEN];

	rv_addr_format(&ep->addr, host, sizeof(host));
	if (ep->addr.family == 6)
		snprintf(buf, len, "[%s]:%u", host, ep->port);
	else
		snprintf(buf, len, "%s:%u", host, ep->port);
	return buf;
}
