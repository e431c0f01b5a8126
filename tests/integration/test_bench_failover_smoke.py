# SPDX-License-Identifier: BSD-3-Clause
"""Smoke run of tools/bench failover --quick, so the benchmark keeps working.

The quick run crashes the primary 3 times under a live session of Debian's
ssh with revenant taking over by itself, and once with keepalived moving
the address, each on a fresh lab. tools/bench exits non-zero when a run
cannot be measured (no takeover, the session ended or did not answer a
command afterwards, nothing read from the backup, the address never
moved), which is what this test checks, not the speed. It needs the
patched sshd (ssh-patch/build) and /usr/sbin/keepalived (apt-get install
keepalived), which the benchmark installs when missing.
"""

import re

from bench_smoke import assert_rows, needs_root, run_quick

pytestmark = needs_root

REVENANT_ROWS = ("| crash to the client's first byte from the backup |",
                 "| crash to \"suspect -> failed\" (detection) |",
                 "| migration, \"summary: ... in N ms\" |")
KEEPALIVED_ROWS = ("| crash to the address on the backup |",
                   "| connections that survived |")


def test_bench_failover_quick(build_path):
    out = run_quick("failover", build_path, timeout=300)
    assert "### revenant: crash to first byte from the backup, 3 runs" in out
    assert re.search(r"### keepalived \S+ beside it, 1 runs", out), out
    assert_rows(out, REVENANT_ROWS + KEEPALIVED_ROWS)
    first = re.search(r"\| crash to the client's first byte from the backup \| "
                      r"([\d,]+) \|", out)
    assert first and int(first.group(1).replace(",", "")) > 0, out
    moved = re.search(r"\| crash to the address on the backup \| ([\d,]+) \|", out)
    assert moved and int(moved.group(1).replace(",", "")) > 0, out
    assert "The workload is the chain of" in out, out
    assert "Side by side in this run (revenant: ssh workload" in out, out
    assert "- run 1: address moved in" in out
