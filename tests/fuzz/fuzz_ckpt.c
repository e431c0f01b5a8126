/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target for checkpoint datagrams: each input is a sequence of
 * datagrams, each prefixed with a 2-byte big-endian length, fed through
 * the decoders and the store's reassembly, filing and heartbeat paths.
 * The host key is fixed, so forged messages reach the signature check.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ckpt_store.h"
#include "revenant-ckpt-wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
decode_all(const uint8_t *dg, size_t len)
{
	struct rv_ckpt_frag frag;
	struct rv_ckpt_heartbeat hb;
	struct rv_ckpt_msg msg;

	(void)rv_ckpt_frag_decode(dg, len, &frag);
	(void)rv_ckpt_heartbeat_decode(dg, len, &hb);
	/* A datagram is also tried as a whole message. */
	(void)rv_ckpt_msg_decode(dg, len, &msg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t host_key[RV_CKPT_ED25519_PK_LEN] = { 1, 2, 3 };
	struct rv_ckpt_store store;
	struct rv_ckpt_list list = { 0 };
	struct rv_ckpt *ckpt;
	uint64_t now_ns = 0;
	size_t len;

	if (rv_ckpt_store_init(&store, 2, 4u << 20, 2000000000ull) != 0)
		return 0;
	(void)rv_ckpt_store_set_host_key(&store, 0, host_key);
	while (size >= 2) {
		len = (size_t)data[0] << 8 | data[1];
		data += 2;
		size -= 2;
		if (len > size)
			len = size;
		decode_all(data, len);
		/* The low bit of the length picks the server, so the
		 * no-host-key path runs too. */
		if (rv_ckpt_store_input(&store, (int)(len & 1), data, len,
		    now_ns, &ckpt) == RV_CKPT_IN_CHECKPOINT)
			(void)rv_ckpt_store_file(&store, &list, 0, ckpt);
		now_ns += 100000000ull;
		rv_ckpt_store_expire(&store, now_ns);
		data += len;
		size -= len;
	}
	rv_ckpt_list_release(&list);
	rv_ckpt_store_fini(&store);
	return 0;
}
