# SPDX-License-Identifier: BSD-3-Clause
"""Automatic takeover of live SSH sessions when the primary fails.

The set-up is test_ssh_adopt's AdoptLab: the patched sshd on both hosts,
revenant-agent on the backup and revenantd with a fence. No one runs
`revenantctl migrate` here: the primary fails, revenantd's ARP and SYN
probes go unanswered and its sshd's heartbeats stop, and revenantd fences
the primary and moves its connections on its own. Three sessions of Debian's unmodified ssh are open when it fails:
an interactive shell, a shell printing a line every 50 ms and an exec
channel printing the same. The shells must carry on in the same ssh process
on the same TCP connection: no MAC or packet-length error, no reset, the
backup's notice line, `hostname` prints backup, and a command runs
afterwards. The streaming command itself ends with the takeover, since the
backup starts a fresh shell; the exec channel ends with status 255 and the
backup's notice on stderr.

The failures: a crash (the primary's switch port is cut, then every process
in its namespace is killed), a hang (the switch drops what the primary
sends; its processes live on) and a power loss (the primary's interface is
deleted in its namespace, so its switch port disappears with the peer).

Run as root after building (RV_BUILD_DIR names the meson build; ssh-patch/build
builds build/ssh/sshd).
"""

import os
import signal
import subprocess
import time

import pytest

from test_failover import TAKEOVER_WAIT, servers, wait_state
# adopt_lab, root_lab and test_user are fixtures: pytest looks them up by
# name in this module.
from test_ssh_adopt import (CLIENT_ERRORS, adopt_lab, expect_resumed,  # noqa: F401
                            root_lab, run_marked, test_user)

pexpect = pytest.importorskip("pexpect")

# 1200 lines 50 ms apart: the loop ends by itself after a minute or a little
# more.
STREAM_COMMAND = ("for i in $(seq 1200); do date +tick-%s.%N; "
                  "sleep 0.05; done")


def namespace_pids(lab, host):
    """Return the PIDs in HOST's network namespace, all started by this test."""
    ns = getattr(lab, f"NS_{host.upper()}")
    proc = subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                          text=True, check=True, timeout=10)
    return [int(pid) for pid in proc.stdout.split()]


def crash_host(lab):
    """Crash the primary: cut its switch port, then kill its processes."""
    lab.port_down("primary")
    pids = namespace_pids(lab, "primary")
    assert pids, "no process in the primary's namespace"
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def hang_host(lab):
    """Hang the primary: drop what it sends at the switch, keep its processes."""
    lab.drop("primary")


def power_off(lab):
    """Cut the primary's power: delete its interface and so its switch port."""
    lab.exec("primary", ["ip", "link", "del", lab.PRIMARY_IF])


def no_more_ticks(child):
    """Return True when CHILD prints no tick line within a second."""
    return child.expect([r"tick-\d", pexpect.TIMEOUT], timeout=1) == 1


@pytest.mark.parametrize("failure", [crash_host, hang_host, power_off],
                         ids=["crash", "hang", "power-loss"])
def test_ssh_sessions_survive_failure(adopt_lab, failure):  # noqa: F811
    setup = adopt_lab()
    lab = setup.lab
    app = setup.app
    wait_state(lab, app, "healthy", 10)
    interactive = setup.shell(name="interactive")
    assert run_marked(interactive, "hostname", "HOST1") == "primary"
    stream = setup.shell(name="stream")
    assert run_marked(stream, "hostname", "HOST1") == "primary"
    stream.sendline(STREAM_COMMAND)
    stream.expect(r"tick-\d+", timeout=10)
    children = (interactive, stream)
    pids = [child.pid for child in children]
    execp = subprocess.Popen(["ip"] + setup.ssh_argv(tty=False) +
                             [STREAM_COMMAND], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert execp.stdout.readline().startswith(b"tick-")
        # Wait for a checkpoint of each session before the failure.
        time.sleep(2.5)
        setup.wait_recoverable(3)
        stream.expect(r"tick-\d+", timeout=10)
        # Before the failure every kind of evidence shows life: sshd's
        # heartbeats, and its SYN-ACKs to the probes, each reset.
        before = servers(lab, app)["primary"]
        assert before["heartbeat"]["seen"], before
        assert before["detection"]["state"] == "healthy", before
        assert before["detection"]["syn_probes"]["resets"] > 0, before

        failure(lab)
        detected = wait_state(lab, app, "migrated", TAKEOVER_WAIT)
        assert "3 moved" in detected["evidence"], detected
        out, err = execp.communicate(timeout=30)
    finally:
        if execp.poll() is None:
            execp.kill()
            execp.communicate()
    # The exec channel's command ended with the takeover, with status 255
    # and the backup's notice on stderr. Until then its stream ran.
    assert execp.returncode == 255, (out[-500:], err)
    assert b"revenant: the server failed while this command ran; it was " \
        b"not run again" in err, err
    assert out.count(b"tick-") > 10, out
    for bad in CLIENT_ERRORS:
        assert bad not in err, err

    for child, pid in zip(children, pids):
        expect_resumed(child)
        assert child.isalive()
        assert child.pid == pid
        assert run_marked(child, "hostname", "HOST2") == "backup"
        assert run_marked(child, "echo alive", "AGAIN") == "alive"
    # The backup's fresh shell does not run the loop again.
    assert no_more_ticks(stream), stream.before[-500:]
    assert run_marked(stream, "echo after-stream", "LAST") == "after-stream"
    for name in ("interactive", "stream"):
        text = (setup.tmp / f"{name}.log").read_bytes()
        for bad in CLIENT_ERRORS:
            assert bad not in text, (name, text[-2000:])
    log = app.log_text()
    assert "probe rounds unanswered in a row while the mirror worked" in log
    # The verdict's evidence gives the age of the last heartbeat and of the
    # last SYN-ACK, which both arrived before the failure.
    failed = [line for line in log.splitlines()
              if "server primary: suspect -> failed" in line]
    assert failed, log[-3000:]
    assert "heartbeat never" not in failed[0], failed[0]
    assert "SYN answer never" not in failed[0], failed[0]
    assert "taking over (migration" in log
    for child in children:
        child.sendline("exit")
        child.expect(pexpect.EOF, timeout=15)
        child.close()
        assert child.exitstatus == 0, child.before
