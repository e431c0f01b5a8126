# SPDX-License-Identifier: BSD-3-Clause
"""Smoke run of tools/bench capture --quick, so the benchmark keeps working.

The quick run replays small generated captures through revenantd and
dpdk-testpmd, opens a few ssh sessions in a lab and steps tcpreplay at two
low rates. tools/bench exits non-zero when a measurement is impossible
(revenantd counted no frames, sessions went untracked, no rate was
lossless), which is what this test checks, not the speed.
"""

import os
import subprocess

import pytest

from lab import REPO_ROOT

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="tools/bench needs root (namespaces, hugepages)")

SECTIONS = ("### Pipeline cost on one core",
            "### Lossless capture rate on the lab mirror",
            "### Memory per idle SSH connection")


def test_bench_capture_quick(build_path):
    benchmarks = REPO_ROOT / "BENCHMARKS.md"
    before = benchmarks.read_text() if benchmarks.exists() else None
    env = dict(os.environ, REVENANT_BUILD_DIR=str(build_path))

    proc = subprocess.run([str(REPO_ROOT / "tools" / "bench"), "capture", "--quick"],
                          capture_output=True, text=True, timeout=120, env=env,
                          stdin=subprocess.DEVNULL)

    assert proc.returncode == 0, f"tools/bench capture --quick failed:\n{proc.stderr[-3000:]}"
    for section in SECTIONS:
        assert section in proc.stdout, f"{section!r} missing from the output"
    assert "| tcp64 |" in proc.stdout
    assert "| ssh-mix |" in proc.stdout
    after = benchmarks.read_text() if benchmarks.exists() else None
    assert after == before, "--quick must not write BENCHMARKS.md"
