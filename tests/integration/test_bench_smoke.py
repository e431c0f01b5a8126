# SPDX-License-Identifier: BSD-3-Clause
"""Smoke run of tools/bench capture --quick, so the benchmark keeps working.

The quick run replays small generated captures through revenantd and
dpdk-testpmd, opens a few ssh sessions in a lab and steps tcpreplay at two
low rates. tools/bench exits non-zero when a measurement is impossible
(revenantd counted no frames, sessions went untracked, no rate was
lossless), which is what this test checks, not the speed.
"""

from bench_smoke import assert_rows, needs_root, run_quick

pytestmark = needs_root

SECTIONS = ("### Pipeline cost on one core",
            "### Lossless capture rate on the lab mirror",
            "### Memory per idle SSH connection")


def test_bench_capture_quick(build_path):
    out = run_quick("capture", build_path, timeout=120)
    assert_rows(out, SECTIONS + ("| tcp64 |", "| ssh-mix |"))
