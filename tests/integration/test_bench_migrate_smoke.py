# SPDX-License-Identifier: BSD-3-Clause
"""Smoke run of tools/bench migrate --quick, so the benchmark keeps working.

The quick run migrates 20 live line-service connections with one
`revenantctl migrate` and then one connection 3 times, each on a fresh lab.
tools/bench exits non-zero when a measurement is impossible (a connection
not moved or not resumed, ticks lost, no gratuitous ARP seen), which is
what this test checks, not the speed.
"""

import os
import re
import subprocess

import pytest

from lab import REPO_ROOT

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="tools/bench needs root (namespaces, hugepages)")

ROWS_MANY = ("| connections migrated (moved / not recoverable / failed) | 20 / 0 / 0 |",
             "| command to last connection resumed |",
             "| agent: TCP_REPAIR restore per connection, median / p99 |")
ROWS_STALL = ("| gratuitous ARP to first byte from the backup",
              "| client silence: last primary byte to first backup byte |")


def test_bench_migrate_quick(build_path):
    benchmarks = REPO_ROOT / "BENCHMARKS.md"
    before = benchmarks.read_text() if benchmarks.exists() else None
    env = dict(os.environ, REVENANT_BUILD_DIR=str(build_path))

    proc = subprocess.run([str(REPO_ROOT / "tools" / "bench"), "migrate", "--quick"],
                          capture_output=True, text=True, timeout=90, env=env,
                          stdin=subprocess.DEVNULL)

    assert proc.returncode == 0, f"tools/bench migrate --quick failed:\n{proc.stderr[-3000:]}"
    out = proc.stdout
    assert "### 20 connections in one migration" in out
    assert "### Stall of one client, 3 runs" in out
    for row in ROWS_MANY + ROWS_STALL:
        assert row in out, f"{row!r} missing from the output:\n{out}"
    last = re.search(r"\| command to last connection resumed \| ([\d,.]+) ms \|", out)
    assert last and float(last.group(1).replace(",", "")) > 0, out
    after = benchmarks.read_text() if benchmarks.exists() else None
    assert after == before, "--quick must not write BENCHMARKS.md"
