/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target for the handoff decoder. The signature check would stop
 * almost every input before the decoder, so each input is first signed
 * with a fixed key for the fixed challenge; the decoder then runs on
 * whatever bytes precede the signature. The same input is also decoded as
 * a RESULT or REJECT reply, and its first bytes as a frame header.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "handoff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t seed[32] = { 7 };
static const uint8_t challenge[RV_HANDOFF_CHALLENGE_LEN];

static EVP_PKEY *
fuzz_key(void)
{
	static EVP_PKEY *key;

	if (key == NULL)
		key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed,
		    sizeof(seed));
	return key;
}

static void
sign_in_place(uint8_t *msg, size_t len)
{
	size_t sig_len = RV_HANDOFF_SIGNATURE_LEN;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (ctx == NULL)
		return;
	if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, fuzz_key()) == 1)
		(void)EVP_DigestSign(ctx, msg + len - sig_len, &sig_len, msg,
		    len - sig_len);
	EVP_MD_CTX_free(ctx);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct rv_handoff_limits lim = { 1u << 20, 64 };
	struct rv_handoff_key key = { NULL, fuzz_key() };
	struct rv_handoff h;
	struct rv_handoff_reply reply;
	uint8_t *msg;
	size_t len = size + RV_HANDOFF_SIGNATURE_LEN, n;

	if (size > (1u << 20) || (msg = malloc(len)) == NULL)
		return 0;
	memcpy(msg, data, size);
	/* Claim whatever name the input carries, so the key is found. */
	if (size >= 3 && (size_t)data[2] + 3 <= size && data[2] <= 64) {
		static char name[65];

		memcpy(name, data + 3, data[2]);
		name[data[2]] = '\0';
		key.name = name;
	} else {
		key.name = "fuzz";
	}
	sign_in_place(msg, len);
	if (rv_handoff_accept(msg, len, challenge, &key, 1, &lim, &h) == 0)
		rv_handoff_clear(&h);
	if (rv_handoff_reply_decode(data, size, 64, &reply) == 0)
		rv_handoff_reply_clear(&reply);
	(void)rv_handoff_frame_length(data, size, lim.max_message, &n);
	free(msg);
	return 0;
}
