# SPDX-License-Identifier: BSD-3-Clause
"""Checkpoints of the patched sshd, filed by revenantd, end to end.

The primary runs the patched sshd with checkpoints on (the setup of
test_ssh_adopt.py: recovery keys from revenant-keygen, the host key in
revenantd's `host_key:`, revenantd from the lab profile). Debian's
unmodified /usr/bin/ssh logs in from the client namespace. The tests poll
`revenantctl flows --json` and `revenantctl flow ID --json` and check when
and with which offsets revenantd filed each checkpoint that sshd exported.

A checkpoint's filing time is the poll's wall-clock time minus its
checkpoint_age_ns. revenantd computes the age while it builds the reply,
between the start and the end of the revenantctl call. So the end of the
call minus the age bounds the filing time from above, and the start minus
the age from below. Every lab namespace shares
CLOCK_REALTIME, so `date +%s.%N` on the primary compares with the test's
time.time().

Run as root after building (RV_BUILD_DIR names the meson build, default
build). The patched sshd comes from RV_SSH_DIR, default build/ssh, which
ssh-patch/build fills.
"""

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

import test_ssh_adopt as adopt
from lab import REPO_ROOT
from test_ssh_adopt import (NEWKEYS_IN, adopt_lab, root_lab,  # noqa: F401
                            run_marked, test_user, wait_count)

pexpect = pytest.importorskip("pexpect")

SSH_DIR = Path(os.environ.get("RV_SSH_DIR") or REPO_ROOT / "build" / "ssh")
# The latest a checkpoint may be filed after the event it follows, in s.
FILING_DELAY = 0.1
POLL_INTERVAL = 0.01    # s between two revenantctl calls
MIB = 1024 * 1024


@pytest.fixture(autouse=True)
def patched_sshd(monkeypatch):
    """Make test_ssh_adopt run the sshd and ssh-keygen of SSH_DIR."""
    monkeypatch.setattr(adopt, "SSHD", SSH_DIR / "sshd")
    monkeypatch.setattr(adopt, "SSH_KEYGEN", SSH_DIR / "ssh-keygen")


@pytest.fixture
def e2e_lab(adopt_lab):
    """Start AdoptLabs like adopt_lab, and remove revenantd's files at teardown.

    AdoptLab.close() stops revenantd but leaves its configuration, log and
    socket directory behind, so this fixture stops it first and cleans up.
    """
    setups = []

    def start(primary_extra=()):
        setups.append(adopt_lab(primary_extra))
        return setups[-1]

    yield start
    left = []
    for setup in setups:
        app, setup.app = setup.app, None
        if app is None:
            continue
        try:
            app.stop()
        finally:
            left += app.cleanup()
    if left:
        pytest.fail(f"revenantd left hugepage files behind: {', '.join(left)}")


def spawn_ssh(setup, options=(), remote=None):
    """Start Debian's ssh without a pty. The lab stops it at teardown."""
    argv = ["ip"] + setup.ssh_argv(options, tty=False)
    if remote is not None:
        argv.append(remote)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    setup.lab.procs.append(proc)
    return proc


def read_remote_time(proc):
    """Read the `date +%s.%N` line that the remote command printed first."""
    line = proc.stdout.readline()
    assert line, f"ssh printed nothing: {proc.stderr.read1().decode()!r}"
    return float(line)


class Poll:
    """One revenantctl reply with the wall-clock interval of its call."""

    def __init__(self, app, *args):
        self.start = time.time()
        self.reply = app.ctl_json(*args)
        self.end = time.time()

    def filed(self, age_ns):
        """Return (earliest, latest) filing time of a checkpoint AGE_NS old."""
        return self.start - age_ns / 1e9, self.end - age_ns / 1e9


def ssh_flows(app):
    """Return a Poll of `flows` and its port-22 flows."""
    poll = Poll(app, "flows")
    return poll, [f for f in poll.reply["flows"]
                  if f["server"].endswith(":22")]


def wait_one_flow(app, timeout=10):
    """Wait until exactly one port-22 flow exists and return its row."""
    deadline = time.monotonic() + timeout
    while True:
        _, flows = ssh_flows(app)
        if len(flows) == 1:
            return flows[0]
        assert time.monotonic() < deadline, flows
        time.sleep(POLL_INTERVAL)


def wait_newer_checkpoint(app, flow_id, number, timeout=10):
    """Poll `flows` until flow FLOW_ID's newest checkpoint is above NUMBER.

    Returns the Poll and the flow's row.
    """
    deadline = time.monotonic() + timeout
    while True:
        poll, flows = ssh_flows(app)
        for flow in flows:
            if flow["id"] == flow_id and flow["checkpoint_number"] > number:
                return poll, flow
        assert time.monotonic() < deadline, \
            f"no checkpoint above {number} on flow {flow_id}: {flows}"
        time.sleep(POLL_INTERVAL)


def wait_checkpoints_settled(app, flow_id, quiet=0.5, timeout=10):
    """Wait until flow FLOW_ID's newest checkpoint stays the same for QUIET s.

    Returns that checkpoint's number.
    """
    deadline = time.monotonic() + timeout
    number, since = None, time.monotonic()
    while time.monotonic() < deadline:
        _, flows = ssh_flows(app)
        now = [f["checkpoint_number"] for f in flows if f["id"] == flow_id]
        assert now, f"flow {flow_id} is gone: {flows}"
        if now[0] != number:
            number, since = now[0], time.monotonic()
        elif number > 0 and time.monotonic() - since >= quiet:
            return number
        time.sleep(POLL_INTERVAL)
    pytest.fail(f"flow {flow_id}: checkpoints still arriving after {timeout} s")


def server_row(app, name="primary"):
    servers = app.ctl_json("servers")["servers"]
    rows = [s for s in servers if s["name"] == name]
    assert len(rows) == 1, servers
    return rows[0]


def rejected_checkpoints(app):
    """Return the nonzero rejection counters of `revenantctl stats`."""
    rejected = app.stats()["checkpoints"]["rejected"]
    return {reason: n for reason, n in rejected.items() if n}


def test_first_checkpoint_before_session(e2e_lab):
    """The checkpoint after authentication is exported before the session
    command starts, so revenantd files it at most FILING_DELAY after the
    remote `date` ran."""
    setup = e2e_lab()
    app = setup.app
    proc = spawn_ssh(setup, remote="date +%s.%N; sleep 3")

    deadline = time.monotonic() + 10
    first = None
    while first is None:
        assert time.monotonic() < deadline, "no checkpoint filed within 10 s"
        poll, flows = ssh_flows(app)
        for flow in flows:
            if flow["checkpoint_number"] > 0:
                first = (poll, flow)
        time.sleep(POLL_INTERVAL)
    remote_start = read_remote_time(proc)
    poll, flow = first
    _, filed_latest = poll.filed(flow["checkpoint_age_ns"])
    print(f"checkpoint {flow['checkpoint_number']} filed at most "
          f"{filed_latest - remote_start:+.4f} s from the session start")

    # The first poll may already show a later checkpoint than number 1,
    # because the channel open and the exec request make more. Number 1
    # was filed no later.
    assert filed_latest <= remote_start + FILING_DELAY, (
        f"checkpoint {flow['checkpoint_number']} filed "
        f"{filed_latest - remote_start:.3f} s after the session started")

    # Numbers go 1, 2, ... and revenantd files a checkpoint only above every
    # one it filed before, so N filed with newest number N means every
    # checkpoint was filed, number 1 included.
    number = wait_checkpoints_settled(app, flow["id"])
    assert server_row(app)["checkpoints_filed"] == number
    assert rejected_checkpoints(app) == {}
    assert proc.wait(timeout=10) == 0, proc.stderr.read().decode()


class FlowWatch(threading.Thread):
    """Polls `flow ID` in the background and keeps every checkpoint seen.

    seen maps a checkpoint number to (checkpoint, earliest and latest
    filing time).
    """

    def __init__(self, app, flow_id):
        super().__init__(daemon=True)
        self.app = app
        self.flow_id = flow_id
        self.seen = {}
        self.halt = threading.Event()
        self.error = None

    def run(self):
        try:
            while not self.halt.is_set():
                poll = Poll(self.app, "flow", self.flow_id)
                for ckpt in poll.reply["checkpoints"]:
                    if ckpt["number"] not in self.seen:
                        self.seen[ckpt["number"]] = (
                            ckpt, *poll.filed(ckpt["age_ns"]))
                time.sleep(POLL_INTERVAL)
        # pytest.fail raises an exception that is no Exception subclass.
        except BaseException as err:
            self.error = err

    def stop(self):
        self.halt.set()
        self.join(timeout=10)
        if self.error is not None:
            raise self.error


@pytest.mark.parametrize("side", ["client", "server"])
def test_rekey_files_newkeys_checkpoint(e2e_lab, side):
    """A rekey that SIDE starts at its 1 MiB RekeyLimit is followed by a
    checkpoint with the after-NEWKEYS flag, filed in time.

    The server stops sending channel data during a key exchange, so the
    download ends after the last rekey's NEWKEYS: its checkpoint must be
    filed at most FILING_DELAY after the client read the last byte. With
    2.5 MiB the rekeys come at about 1 and 2 MiB of either side's counted
    bytes, well before the end, so none starts after the last byte.
    """
    size = 5 * MIB // 2
    setup = e2e_lab(["RekeyLimit 1M"] if side == "server" else [])
    options = ["-o", "RekeyLimit=1M"] if side == "client" else []
    app = setup.app
    proc = spawn_ssh(setup, options,
                     f"sleep 1; head -c {size} /dev/zero; sleep 2")
    flow = wait_one_flow(app)
    watch = FlowWatch(app, flow["id"])
    watch.start()
    try:
        got = 0
        while got < size:
            chunk = proc.stdout.read1(65536)
            assert chunk, (f"ssh ended after {got} bytes: "
                           f"{proc.stderr.read().decode()!r}")
            got += len(chunk)
        traffic_end = time.time()
        time.sleep(0.5)
    finally:
        watch.stop()
    assert proc.wait(timeout=10) == 0, proc.stderr.read().decode()

    # The first exchange and at least one rekey completed, and SIDE
    # started the first rekey: sshd logs "SSH2_MSG_KEXINIT sent" first when
    # it starts one, "SSH2_MSG_KEXINIT received" first when the client does.
    assert wait_count(setup.primary_log, NEWKEYS_IN, 2), \
        setup.primary_log.read_text()[-3000:]
    kexinits = [line for line in setup.primary_log.read_text().splitlines()
                if "SSH2_MSG_KEXINIT" in line and "[preauth]" not in line]
    assert kexinits, "sshd logged no rekey"
    first_kexinit = "sent" if side == "server" else "received"
    assert kexinits[0].endswith(f"SSH2_MSG_KEXINIT {first_kexinit}"), kexinits
    numbers = sorted(watch.seen)
    newkeys = [n for n in numbers if watch.seen[n][0]["after_newkeys"]]
    assert newkeys, f"no after-NEWKEYS checkpoint among {numbers}"
    assert newkeys[-1] > 1, newkeys
    _, _, filed_latest = watch.seen[newkeys[-1]]
    print(f"checkpoints seen {numbers}, after NEWKEYS {newkeys}; "
          f"{newkeys[-1]} filed at most {filed_latest - traffic_end:+.4f} s "
          f"from the end of the download")
    assert filed_latest <= traffic_end + FILING_DELAY, (
        f"checkpoint {newkeys[-1]} filed {filed_latest - traffic_end:.3f} s "
        f"after the download ended")
    assert rejected_checkpoints(app) == {}


def test_second_channel_files_checkpoint(e2e_lab):
    """A second session channel over a ControlMaster connection makes sshd
    export a checkpoint, filed at most FILING_DELAY after the second
    command started."""
    setup = e2e_lab()
    app = setup.app
    control = setup.tmp / "control.sock"
    spawn_ssh(setup, ["-o", "ControlMaster=yes", "-o",
                      f"ControlPath={control}"], "sleep 20")
    deadline = time.monotonic() + 10
    while not control.exists():
        assert time.monotonic() < deadline, "ControlMaster setups no socket"
        time.sleep(0.05)
    flow = wait_one_flow(app)
    before = wait_checkpoints_settled(app, flow["id"])

    launched = time.time()
    second = spawn_ssh(setup, ["-S", str(control), "-o", "ControlMaster=no"],
                       "date +%s.%N; sleep 2")
    poll, row = wait_newer_checkpoint(app, flow["id"], before)
    remote_start = read_remote_time(second)
    filed_earliest, filed_latest = poll.filed(row["checkpoint_age_ns"])
    print(f"checkpoint {row['checkpoint_number']} filed "
          f"{filed_earliest - launched:+.4f} s from the launch, at most "
          f"{filed_latest - remote_start:+.4f} s from the command start")

    assert filed_earliest >= launched, "the new checkpoint predates the command"
    assert filed_latest <= remote_start + FILING_DELAY, (
        f"checkpoint {row['checkpoint_number']} filed "
        f"{filed_latest - remote_start:.3f} s after the second command started")
    # Both channels share the one TCP connection.
    _, flows = ssh_flows(app)
    assert [f["id"] for f in flows] == [flow["id"]], flows
    assert second.wait(timeout=10) == 0, second.stderr.read().decode()
    assert rejected_checkpoints(app) == {}


def test_offsets_match_logged_bytes(e2e_lab):
    """The newest checkpoint's stream offsets equal revenantd's logged bytes
    of each direction once the session is idle.

    The last thing on the wire is setups a checkpoint trigger: after the
    shell printed its prompt, the test resizes the client's pty, so ssh
    sends a window-change channel request (RFC 4254, section 6.7) that
    wants no reply. The shell (dash) prints nothing on SIGWINCH, so sshd
    exports a checkpoint at that packet boundary with every byte of both
    streams below its offsets, and no payload flows after it.
    """
    setup = e2e_lab()
    app = setup.app
    child = setup.shell()
    for i in range(3):
        assert run_marked(child, f"echo word{i}", f"CMD{i}") == f"word{i}"
    child.expect_exact("$ ")
    flow = wait_one_flow(app)
    before = wait_checkpoints_settled(app, flow["id"])

    child.setwinsize(40, 120)
    wait_newer_checkpoint(app, flow["id"], before)
    time.sleep(2)
    detail = app.flow(flow["id"])
    time.sleep(0.5)
    again = app.flow(flow["id"])

    c2s_end = detail["client_to_server"]["log_end"]
    s2c_end = detail["server_to_client"]["log_end"]
    # Idle: nothing was logged between the two reads.
    assert again["client_to_server"]["log_end"] == c2s_end
    assert again["server_to_client"]["log_end"] == s2c_end
    ckpts = detail["checkpoints"]
    assert ckpts, detail
    for ckpt in ckpts:
        assert ckpt["c2s_offset"] <= c2s_end, ckpt
        assert ckpt["s2c_offset"] <= s2c_end, ckpt
    newest = max(ckpts, key=lambda c: c["number"])
    print(f"log ends {c2s_end}/{s2c_end}, checkpoints {ckpts}")
    assert newest["number"] > before, ckpts
    assert not newest["after_newkeys"], newest
    assert newest["c2s_offset"] == c2s_end, (newest, c2s_end)
    assert newest["s2c_offset"] == s2c_end, (newest, s2c_end)
    assert newest["resume_base"], ckpts
    assert detail["recoverable"], detail["unrecoverable_reason"]

    child.sendline("exit")
    child.expect(pexpect.EOF, timeout=15)
    assert rejected_checkpoints(app) == {}


def test_primary_heartbeats(e2e_lab):
    """`revenantctl servers` shows the primary's heartbeats: seen, fresh,
    with a rising sequence and the sshd's count of connections."""
    setup = e2e_lab()
    app = setup.app
    proc = spawn_ssh(setup, remote="echo up; sleep 4")
    assert proc.stdout.readline() == b"up\n"
    # RevenantHeartbeatInterval defaults to 1 s.
    time.sleep(1.5)
    first = server_row(app)
    time.sleep(1.5)
    second = server_row(app)

    for row in (first, second):
        hb = row["heartbeat"]
        assert row["host_key"] is True
        assert hb["seen"] is True, hb
        assert hb["stale"] is False, hb
        assert hb["age_ns"] < 2e9, hb
        assert hb["boot_id"] != 0, hb
        assert hb["connections"] == 1, hb
    assert second["heartbeat"]["boot_id"] == first["heartbeat"]["boot_id"]
    assert second["heartbeat"]["sequence"] > first["heartbeat"]["sequence"]
    assert second["heartbeat"]["accepted"] > first["heartbeat"]["accepted"]
    assert proc.wait(timeout=10) == 0, proc.stderr.read().decode()
    assert rejected_checkpoints(app) == {}
