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

import re

import pytest

from bench_smoke import assert_rows, needs_root, run_quick
from lab import REPO_ROOT

pytestmark = needs_root

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
    out = run_quick("adopt", build_path, timeout=180)
    assert "### 10 idle sessions in one migration" in out
    assert "### Command to notice line, one session, 3 runs" in out
    assert_rows(out, SESSION_ROWS + NOTICE_ROWS)
    notice = re.search(r"\| command to the notice line at the client \| ([\d,]+) \|", out)
    assert notice, out
    assert int(notice.group(1).replace(",", "")) > 0, out
    last = re.search(r"\| command to the last notice line at a client \| ([\d,]+) ms \|",
                     out)
    assert last, out
    assert int(last.group(1).replace(",", "")) > 0, out
