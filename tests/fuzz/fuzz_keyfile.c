/* SPDX-License-Identifier: BSD-3-Clause */
/* The recovery key parsers: public key lists and private key files. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "revenant-keyfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rv_recovery_pubkey keys[16];
	struct rv_keyfile_error err;
	uint8_t sk[32], pk[32];
	size_t n = 0;

	if (size == 0)
		return 0;
	/* The first byte picks the parser, so both get the whole corpus. */
	if (data[0] & 1) {
		if (rv_keyfile_parse_public_list("fuzz", (const char *)data + 1,
		    size - 1, keys, 16, &n, &err) == 0 && n > 16)
			abort();
	} else {
		(void)rv_keyfile_parse_private("fuzz", (const char *)data + 1,
		    size - 1, sk, pk, &err);
	}
	return 0;
}
