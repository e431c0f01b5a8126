/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target for the configuration loader: every input is loaded as a
 * whole file, the result and the error lines are freed, and ASan/LSan catch
 * any overrun or leak. A valid configuration is also logged and looked up,
 * so that those paths run on what the loader accepted.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rv_config_errors errs = { 0 };
	struct rv_config *cfg;
	struct rv_addr addr;
	size_t i;

	/* The configuration log is not what is under test here. */
	rv_log_set_level(RV_LOG_ERROR);
	cfg = rv_config_load_buffer("fuzz.yaml", data, size, &errs);
	if (cfg != NULL) {
		if (errs.list.count != 0)
			__builtin_trap();
		rv_config_log(cfg);
		for (i = 0; i < cfg->server_count; i++) {
			addr = cfg->servers[i].addresses[0];
			if (rv_config_find_server(cfg, &addr,
			    cfg->servers[i].ports[0]) < 0)
				__builtin_trap();
		}
	} else if (errs.list.count == 0) {
		/* Every rejected input must come with at least one error line. */
		__builtin_trap();
	}
	rv_config_free(cfg);
	rv_config_errors_clear(&errs);
	return 0;
}
