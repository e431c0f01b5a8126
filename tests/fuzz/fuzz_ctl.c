/* SPDX-License-Identifier: BSD-3-Clause */
/* The control socket's request parser on arbitrary client bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_proto.h"
#include "ctl_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *words[RV_CTL_MAX_WORDS + 1];
	char *msg;
	int n, i;

	msg = malloc(size + 1);
	if (msg == NULL)
		return 0;
	memcpy(msg, data, size);
	if (rv_ctl_parse_request(msg, size, words, &n) == NULL) {
		if (n < 1 || n > RV_CTL_MAX_WORDS || words[n] != NULL)
			abort();
		for (i = 0; i < n; i++)
			if (words[i] < msg || words[i] >= msg + size ||
			    strlen(words[i]) == 0)
				abort();
	}
	free(msg);
	return 0;
}
