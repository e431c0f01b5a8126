/* SPDX-License-Identifier: BSD-3-Clause */
/* The backup sshd's parser of the agent's adopt message: header, body and
 * the checkpoint list inside the material. */
#include <stdint.h>
#include <stdlib.h>

#include "revenant-adopt-msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rv_adopt_ckpt ckpts[RV_ADOPT_MSG_CHECKPOINTS_MAX];
	struct rv_adopt_msg msg;
	uint32_t body_len;
	uint8_t family;
	size_t count, i;

	if (size < RV_ADOPT_MSG_HEADER_LEN)
		return 0;
	if (rv_adopt_msg_header_decode(data, RV_ADOPT_MSG_HEADER_LEN, &family,
	    &body_len) != 0)
		family = (uint8_t)(data[0] & 1 ? 4 : 6);
	data += RV_ADOPT_MSG_HEADER_LEN;
	size -= RV_ADOPT_MSG_HEADER_LEN;
	if (rv_adopt_msg_body_decode(data, size, family, &msg) != 0)
		return 0;
	/* Every pointer handed out must lie inside the input. */
	if (msg.c2s.len > size || msg.s2c.len > size ||
	    msg.material_len > size)
		abort();
	if (rv_adopt_msg_checkpoints(&msg, ckpts, RV_ADOPT_MSG_CHECKPOINTS_MAX,
	    &count) != 0)
		return 0;
	for (i = 0; i < count; i++)
		if (ckpts[i].data < data || ckpts[i].data + ckpts[i].len >
		    data + size)
			abort();
	return 0;
}
