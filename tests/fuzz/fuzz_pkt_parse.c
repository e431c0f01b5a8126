/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target of the packet header parser. Each input is one
 * Ethernet frame, and the sanitizers check every read. The target also
 * aborts when a result breaks the contract in pkt_parse.h: a pointer
 * outside the input, payload longer than the wire length, a truncated flag
 * that disagrees with the lengths, or a value out of its documented range.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "pkt_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int cond)
{
	if (!cond)
		abort();
}

static int
inside(const uint8_t *p, uint32_t len, const uint8_t *data, size_t size)
{
	return p >= data && (size_t)(p - data) <= size &&
	    len <= size - (size_t)(p - data);
}

static void
check_result(int ret, const struct rv_pkt *pkt, const uint8_t *data,
    size_t size)
{
	check(pkt->n_vlans <= 2);
	check(inside(pkt->l3, 0, data, size));
	check(inside(pkt->payload, pkt->payload_len, data, size));
	check(pkt->payload_len <= pkt->wire_payload_len);
	check(pkt->truncated == (pkt->payload_len < pkt->wire_payload_len));

	if (ret == RV_PKT_ARP)
		check(pkt->payload_len == 28);
	if (ret != RV_PKT_TCP && ret != RV_PKT_UDP &&
	    !(ret == RV_PKT_OTHER && pkt->ip_version != 0))
		return;

	check(pkt->ip_version == 4 || pkt->ip_version == 6);
	check(pkt->l4 == pkt->l3 + pkt->l3_len);
	check(inside(pkt->l4, 0, data, size));
	if (ret == RV_PKT_TCP) {
		check(pkt->tcp_hdr_len >= 20 && pkt->tcp_hdr_len <= 60);
		check(inside(pkt->l4, pkt->tcp_hdr_len, data, size));
		check(pkt->payload == pkt->l4 + pkt->tcp_hdr_len);
		check(pkt->opts.n_sack <= RV_TCP_MAX_SACK);
		check(!pkt->opts.has_wscale ||
		    pkt->opts.wscale <= RV_TCP_MAX_WSCALE);
	}
	if (ret == RV_PKT_UDP)
		check(pkt->payload == pkt->l4 + 8);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rv_pkt pkt;
	int ret;

	if (size > UINT32_MAX)
		return 0;
	ret = rv_pkt_parse(data, (uint32_t)size, &pkt);
	check(ret != 0);
	check(ret > -RV_PKT_ERR__COUNT && ret <= RV_PKT_OTHER);
	check(ret != -RV_PKT_ERR_TCP_BAD_OPTION);
	check(rv_pkt_err_name(ret) != NULL);
	if (ret > 0) {
		check_result(ret, &pkt, data, size);
		if (pkt.ip_version == 4)
			(void)rv_pkt_ipv4_csum_ok(&pkt);
	}
	return 0;
}
