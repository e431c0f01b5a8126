/* SPDX-License-Identifier: BSD-3-Clause */
/* The decoder of a checkpoint's plaintext, which a backup's sshd runs on
 * what it decrypted, and the monitor on what the session process sent. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <signal.h>

#include "revenant-state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * sshbuf calls ssh_signal() of OpenSSH's misc.c before it raises SIGSEGV on
 * a corrupted buffer. misc.c needs most of OpenSSH, so the target gives
 * sshbuf this equivalent instead.
 */
typedef void (*sshsig_t)(int);
sshsig_t ssh_signal(int sig, sshsig_t handler);

sshsig_t
ssh_signal(int sig, sshsig_t handler)
{
	return signal(sig, handler);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rv_state_content content;
	struct rv_state_session session;
	uint8_t *again = NULL;
	size_t again_len = 0;

	if (size > 0 && (data[0] & 1)) {
		memset(&session, 0, sizeof(session));
		if (rv_state_session_decode(data + 1, size - 1, &session) == 0) {
			/* What decodes must encode back to the same bytes. */
			if (rv_state_session_encode(&session, &again,
			    &again_len) != 0 || again_len != size - 1 ||
			    memcmp(again, data + 1, again_len) != 0)
				abort();
			free(again);
		}
		rv_state_session_clear(&session);
		return 0;
	}
	memset(&content, 0, sizeof(content));
	(void)rv_state_content_decode(data, size, &content);
	rv_state_content_clear(&content);
	return 0;
}
