/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef RV_MIGRATE_CLIENT_H
#define RV_MIGRATE_CLIENT_H

#include <stdbool.h>

/*
 * Runs "migrate SERVER [--to BACKUP]" (words, argc of them) against the
 * daemon at path and follows it to the end, printing its progress lines
 * (or, with json, the final state as JSON). Returns the exit status: 0 when
 * the migration finished with no failed connection.
 */
int rv_ctl_migrate(const char *path, int argc, const char **words, bool json,
    int timeout_ms);

#endif
