# SPDX-License-Identifier: BSD-3-Clause
"""The shared run of the test_bench_*_smoke tests: one tools/bench case with --quick.

Each smoke test checks that its benchmark still runs to the end and prints
its sections, not how fast anything is.
"""

import os
import subprocess

import pytest

from lab import REPO_ROOT

# The mark of every smoke test module: tools/bench runs as root only.
needs_root = pytest.mark.skipif(os.geteuid() != 0,
                                reason="tools/bench needs root (namespaces, hugepages)")


def run_quick(case, build_path, timeout):
    """Run tools/bench CASE --quick against BUILD_PATH; return its stdout.

    Fails the test when the case exits non-zero (with the end of its
    stderr) or when it changed BENCHMARKS.md, which --quick must not write.
    TIMEOUT is in seconds.
    """
    benchmarks = REPO_ROOT / "BENCHMARKS.md"
    before = benchmarks.read_text() if benchmarks.exists() else None
    env = dict(os.environ, REVENANT_BUILD_DIR=str(build_path))

    proc = subprocess.run([str(REPO_ROOT / "tools" / "bench"), case, "--quick"],
                          capture_output=True, text=True, timeout=timeout, env=env,
                          stdin=subprocess.DEVNULL)

    assert proc.returncode == 0, f"tools/bench {case} --quick failed:\n{proc.stderr[-3000:]}"
    after = benchmarks.read_text() if benchmarks.exists() else None
    assert after == before, "--quick must not write BENCHMARKS.md"
    return proc.stdout


def assert_rows(out, rows):
    """Fail unless each of ROWS (table rows or their start) appears in OUT."""
    for row in rows:
        assert row in out, f"{row!r} missing from the output:\n{out}"
