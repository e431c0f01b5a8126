# SPDX-License-Identifier: BSD-3-Clause
"""Smoke run of tools/bench adopt --quick, so the benchmark keeps working.

The quick run migrates 10 idle SSH sessions of Debian's ssh with one
`revenantctl migrate`, then one interactive session 3 times, each on a
fresh lab with the patched sshd on the primary and the backup. tools/bench
exits non-zero when a session is not adopted (no notice line, `hostname`
not answered by the backup, a transport error at the client, a refusal),
which is what this test checks, not the speed. It needs build/ssh from
ssh-patch/build.
"""

import os
import re
import subprocess

import pytest

from lab import REPO_ROOT

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="tools/bench needs root (namespaces, hugepages)")

SESSION_ROWS = ("| sessions adopted / refused / lost | 10 / 0 / 0 |",
                "| revenantctl: moved / not recoverable / failed | 10 / 0 / 0 |",
                "| clients that then answered `hostname` with \"backup\" and exited "
                "with 0 | 10 |")
NOTICE_ROWS = ("| revenantd: fence done (primary's switch port down) |",
               "| backup sshd: connection adopted |",
               "| agent: socket restored and adopted |",
               "| client: first byte read after the command |",
               "| pass to sshd until its answer (sshd's adoption) |")


def test_bench_adopt_quick(build_path):
    if not (REPO_ROOT / "build" / "ssh" / "sshd").exists():
        pytest.fail("build/ssh/sshd missing: run ssh-patch/build")
    benchmarks = REPO_ROOT / "BENCHMARKS.md"
    before = benchmarks.read_text() if benchmarks.exists() else None
    env = dict(os.environ, REVENANT_BUILD_DIR=str(build_path))

    proc = subprocess.run([str(REPO_ROOT / "tools" / "bench"), "adopt", "--quick"],
                          capture_output=True, text=True, timeout=180, env=env,
                          stdin=subprocess.DEVNULL)

    assert proc.returncode == 0, f"tools/bench adopt --quick failed:\n{proc.stderr[-3000:]}"
    out = proc.stdout
    assert "### 10 idle sessions in one migration" in out
    assert "### Command to notice line, one session, 3 runs" in out
    for row in SESSION_ROWS + NOTICE_ROWS:
        assert row in out, f"{row!r} missing from the output:\n{out}"
    notice = re.search(r"\| command to the notice line at the client \| ([\d,]+) \|", out)
    assert notice, out
    assert int(notice.group(1).replace(",", "")) > 0, out
    last = re.search(r"\| command to the last notice line at a client \| ([\d,]+) ms \|",
                     out)
    assert last, out
    assert int(last.group(1).replace(",", "")) > 0, out
    after = benchmarks.read_text() if benchmarks.exists() else None
    assert after == before, "--quick must not write BENCHMARKS.md"
