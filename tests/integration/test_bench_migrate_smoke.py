# SPDX-License-Identifier: BSD-3-Clause
"""Smoke run of tools/bench migrate --quick, so the benchmark keeps working.

The quick run migrates 20 live line-service connections with one
`revenantctl migrate` and then one connection 3 times, each on a fresh lab.
tools/bench exits non-zero when a measurement is impossible (a connection
not moved or not resumed, ticks lost, no gratuitous ARP seen), which is
what this test checks, not the speed.
"""

import re

from bench_smoke import assert_rows, needs_root, run_quick

pytestmark = needs_root

ROWS_MANY = ("| connections migrated (moved / not recoverable / failed) | 20 / 0 / 0 |",
             "| command to last connection resumed |",
             "| agent: TCP_REPAIR restore per connection, median / p99 |")
ROWS_STALL = ("| gratuitous ARP to first byte from the backup",
              "| client silence: last primary byte to first backup byte |")


def test_bench_migrate_quick(build_path):
    out = run_quick("migrate", build_path, timeout=90)
    assert "### 20 connections in one migration" in out
    assert "### Stall of one client, 3 runs" in out
    assert_rows(out, ROWS_MANY + ROWS_STALL)
    last = re.search(r"\| command to last connection resumed \| ([\d,.]+) ms \|", out)
    assert last and float(last.group(1).replace(",", "")) > 0, out
