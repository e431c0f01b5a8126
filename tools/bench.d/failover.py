# SPDX-License-Identifier: BSD-3-Clause
"""tools/bench failover: how fast the backup takes over when the primary crashes.

Two measurements in one run, each on fresh labs (tools/lab). A crash is
the same in both: the primary's switch port is cut (`ip link set down` on
the switch's side), then every process that the benchmark started on the
primary is killed with SIGKILL. The crash time is time.monotonic() in this
process just before the cut. CLOCK_MONOTONIC is shared by all network
namespaces, so the client's time stamps compare with it directly.

  revenant    RUNS runs (20) with revenantd's default detection settings
              (a probe round of ARP and TCP SYN every 100 ms, failed after
              3 rounds in a row without a sign of life). revenantd detects
              the crash by itself, fences the primary and moves the
              connection to the backup, as tests/integration/
              test_failover_ssh.py does. Measured: crash to the client's
              first byte from the backup. Targets: median at most 500 ms,
              p99 at most 1 s. revenantd's log gives the detection and
              migration phases.
  keepalived  KEEPALIVED_RUNS runs (5) of Debian's keepalived moving the
              same address with its default VRRP settings, with Debian's
              sshd on both hosts and an ssh session from the client.
              Measured: crash to the address on the backup, and what
              happens to the ssh session.

A workload class (WORKLOADS) starts the servers, revenantd and the client,
and reads the client's result. `--workload ssh` (the default) is a live
session of Debian's /usr/bin/ssh to the patched sshd, adopted by the
backup's patched sshd; `--workload line` is the line service
(tests/integration/line_service.py), which continues a connection from the
logged byte streams: the TCP-level takeover without SSH.
"""

import argparse
import calendar
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (REPO_ROOT, BenchError, add_note, add_quick, build_dir,  # noqa: E402
                     command_line, fail_exception, kill_tree, log, median, ms,
                     not_root, percentile, publish, sections_body, table, wait_file,
                     wait_stdout)

PYTHON = "/usr/bin/python3"
LINE_SERVICE = REPO_ROOT / "tests" / "integration" / "line_service.py"
PORT = 5000
KEEPALIVED = "/usr/sbin/keepalived"
# Chunks the client reads later than this after the cut count as the
# backup's. The primary's last bytes cross the lab's veths in microseconds,
# and EARLIEST_TAKEOVER_S rejects a run that counted a late read anyway.
CUT_GRACE_S = 0.005
# Default detection needs 3 unanswered probes 100 ms apart, so no takeover
# shows sooner than about 200 ms after the crash. A "first byte from the
# backup" sooner than this is a late read of the primary's bytes, and the
# run is rejected.
EARLIEST_TAKEOVER_S = 0.2
# The primary's own address in the keepalived runs, so that the service
# address is keepalived's alone.
KEEPALIVED_PRIMARY_OWN_IP = "198.51.100.4"
VRID = 51


def lab_modules():
    """Import the lab helpers of tests/integration (they need pytest)."""
    import pytest  # noqa: F401  (the helpers fail tests with pytest.fail)

    from lab import Lab
    from test_agent import Takeover
    from test_migrate import MigratingAppliance, start_agent
    return Lab, Takeover, MigratingAppliance, start_agent


def cut_port(lab, host):
    """Set HOST's switch port down, as tools/lab port-down does, but in one ip command."""
    port = lab.env[f"SW_{host.upper()}_PORT"]
    subprocess.run(["ip", "-n", lab.NS_SWITCH, "link", "set", "dev", port, "down"],
                   check=True, capture_output=True, timeout=10)


class Crash:
    """The moment of a crash on both clocks, and how long the cut took."""

    def __init__(self, lab, victims):
        self.wall = time.time()
        self.start = time.monotonic()
        cut_port(lab, "primary")
        self.cut_done = time.monotonic()
        for pid in victims:
            kill_tree(pid)
        self.killed = time.monotonic()

    def from_wall(self, wall):
        """Convert a CLOCK_REALTIME time stamp to seconds after the crash."""
        return None if wall is None else wall - self.wall


class LineReader:
    """Time-stamp each line a child process writes, in a thread of its own."""

    def __init__(self, stream):
        self.lines = []
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream):
        for line in iter(stream.readline, ""):
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def wait_for(self, predicate, timeout):
        """Return the first (time, line) matching PREDICATE, or None after TIMEOUT s."""
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            for when, line in self.lines[seen:]:
                if predicate(line):
                    return when, line
            seen = len(self.lines)
            time.sleep(0.005)
        return None


# ------------------------------------------------------------ revenant

# The client of the line workload: sends "c<number>" lines every 10 ms,
# reads "tick N" and "echo N: ..." lines and stamps every chunk it reads
# with time.monotonic(). On "finish" (stdin) it stops sending, waits for
# the last echoes, prints one JSON result and exits. Bounded by LIMIT s.
LINE_CLIENT = r"""
import json, select, socket, sys, time
host, port, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.create_connection((host, port), timeout=5)
print("connected", s.getsockname()[1], flush=True)
s.setblocking(False)
res = {"error": None, "ticks": [], "echoes": [], "sent": 0, "eof": False, "rx": []}
sending, finishing, pending, inbuf = True, None, b"", b""
next_send, deadline = time.monotonic(), time.monotonic() + limit
try:
    while time.monotonic() < deadline:
        r, _, _ = select.select([s, sys.stdin], [], [], 0.005)
        now = time.monotonic()
        if sys.stdin in r and sys.stdin.readline().strip() in ("finish", ""):
            sending, finishing = False, now + 5
        if sending and now >= next_send:
            res["sent"] += 1
            pending += b"c%06d\n" % res["sent"]
            next_send = now + 0.010
        if pending:
            try:
                pending = pending[s.send(pending):]
            except BlockingIOError:
                pass
        if s in r:
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            res["rx"].append(round(time.monotonic(), 6))
            if not data:
                res["eof"] = True
                break
            inbuf += data
            *lines, inbuf = inbuf.split(b"\n")
            for line in lines:
                if line.startswith(b"tick "):
                    res["ticks"].append(int(line[5:]))
                else:
                    res["echoes"].append(line.decode())
        if finishing and (len(res["echoes"]) >= res["sent"] or now > finishing):
            break
except OSError as err:
    res["error"] = repr(err)
print(json.dumps(res), flush=True)
"""


class LineWorkload:
    """The line service on both hosts and a client that stamps what it reads.

    start_servers() and start_client() start the processes, primary_pids()
    lists what a crash kills on the primary, and finish() returns the
    client's result with the reasons it cannot be used.
    """

    name = "line"
    port = PORT

    def __init__(self, lab, tick_ms):
        _, Takeover, self.appliance_cls, self.start_agent = lab_modules()
        self.lab = lab
        self.t = Takeover(lab)
        os.chmod(self.t.key, 0o600)
        self.tick_ms = tick_ms
        self.primary = None
        self.client = None

    def service(self, host, name, *args):
        tmp = self.lab.tmpdir
        out = tmp / f"{name}.out"
        proc = self.lab.popen(host, [PYTHON, LINE_SERVICE, "--dump-tool", self.t.send_tool,
                                     "--tick-ms", self.tick_ms, "--run-limit", 60, *args],
                              stdout=open(out, "w"), stderr=open(tmp / f"{name}.err", "w"))
        wait_file(out, "ready", 15, proc)
        return proc

    def start(self):
        """Start both services, the agent and revenantd; return revenantd."""
        lab = self.lab
        # --tick-on-adopt: the backup sends at once, so the client's first
        # byte from it marks when the backup could send, not the tick phase.
        self.service("backup", "backup", "--adopt", self.t.tmp / "adopt.sock",
                     "--tick-on-adopt")
        self.start_agent(self.t, lab)
        self.primary = self.service("primary", "primary", "--listen",
                                    f"{lab.SERVICE_IP}:{PORT}")
        app = self.appliance_cls(lab, self.t.key)
        app.start()
        return app

    def start_client(self):
        self.client = self.lab.popen("client", [PYTHON, "-c", LINE_CLIENT,
                                                self.lab.SERVICE_IP, PORT, 40],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        wait_stdout(self.client, "connected", 15, "the line client")

    def primary_pids(self):
        return [self.primary.pid]

    def finish(self):
        """Stop the client; return (result dict, problems)."""
        self.client.stdin.write("finish\n")
        self.client.stdin.flush()
        out, _ = self.client.communicate(timeout=30)
        lines = out.strip().splitlines()
        if not lines:
            return None, ["the client printed no result"]
        result = json.loads(lines[-1])
        problems = []
        if result["error"]:
            problems.append(f"the client's connection failed: {result['error']}")
        if result["eof"]:
            problems.append("the connection was closed")
        ticks = result["ticks"]
        if ticks != list(range(1, len(ticks) + 1)):
            problems.append("tick lines lost, repeated or out of order")
        expected = [f"echo {i}: c{i:06d}" for i in range(1, result["sent"] + 1)]
        if result["echoes"] != expected:
            problems.append(f"client lines not echoed exactly once in order "
                            f"({len(result['echoes'])} echoes of {result['sent']} lines)")
        return result, problems

    def close(self):
        pass


# The client of the SSH workload, run in the client's namespace: Debian's
# ssh (argv[1], a JSON list) in a pty, with a login shell that prints a
# tick line every 20 ms. It prints "connected" once ticks flow and stamps
# every chunk it reads with time.monotonic(). On "finish" (stdin) it types
# a command into the session, whose output must come back (the session
# survived),
# exits the shell and prints one JSON result. Bounded by LIMIT s.
SSH_CLIENT = r"""
import json, os, select, sys, time
import pexpect
argv, limit = json.loads(sys.argv[1]), float(sys.argv[2])
res = {"error": None, "rx": [], "eof": False, "notice": False, "survived": False}
child = pexpect.spawn(argv[0], argv[1:], timeout=20)
try:
    child.sendline("PS1='$ '")
    child.sendline("while :; do echo tick-$(date +%s); sleep 0.02; done")
    child.expect(r"tick-\d+")
    print("connected", flush=True)
    deadline, tail = time.monotonic() + limit, b""
    while time.monotonic() < deadline:
        r, _, _ = select.select([child.child_fd, sys.stdin], [], [], 0.005)
        if child.child_fd in r:
            try:
                data = os.read(child.child_fd, 65536)
            except OSError:
                data = b""
            res["rx"].append(round(time.monotonic(), 6))
            if not data:
                res["eof"] = True
                break
            tail = (tail + data)[-8192:]
            res["notice"] = res["notice"] or b"session resumed on backup" in tail
        if sys.stdin in r:
            sys.stdin.readline()
            break
    child.sendline("echo alive-$((6*7))")
    child.expect("alive-42", timeout=15)
    res["survived"] = True
    child.sendline("exit")
    child.expect(pexpect.EOF, timeout=15)
except Exception as err:
    res["error"] = repr(err)
print(json.dumps(res), flush=True)
"""


class SshWorkload:
    """A live SSH session of Debian's ssh through the patched sshd.

    The set-up of tests/integration/test_ssh_adopt.py (AdoptLab): the
    patched sshd exporting checkpoints on the primary, the patched sshd
    adopting on the backup, revenant-agent and revenantd. The session runs
    a shell that prints a tick line every 20 ms. Same methods as
    LineWorkload.
    """

    name = "ssh"
    port = 22

    def __init__(self, lab, tick_ms):
        import pytest  # noqa: F401  (the helpers fail tests with pytest.fail)

        from test_ssh_adopt import KEYGEN, SSHD, AdoptLab, USER
        for path in (SSHD, KEYGEN):
            if not path.exists():
                raise BenchError(f"{path} missing: run ssh-patch/build and build "
                                 "the meson target revenant-keygen")
        self.lab = lab
        self.setup = AdoptLab(lab, USER)
        self.client = None

    def start(self):
        """Start both sshd, the agent and revenantd; return revenantd."""
        self.setup.start()
        return self.setup.app

    def start_client(self):
        # ssh_argv() starts with "netns exec NS": lab.popen enters it.
        argv = self.setup.ssh_argv(tty=True)[3:]
        self.client = self.lab.popen("client", [PYTHON, "-c", SSH_CLIENT,
                                                json.dumps(argv), 40],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        wait_stdout(self.client, "connected", 30, "the ssh client")

    def primary_pids(self):
        """Return every process in the primary's namespace: sshd and the session."""
        proc = subprocess.run(["ip", "netns", "pids", self.lab.NS_PRIMARY],
                              capture_output=True, text=True, check=True, timeout=10)
        return [int(pid) for pid in proc.stdout.split()]

    def finish(self):
        """Type a command into the session; return (result dict, problems)."""
        self.client.stdin.write("finish\n")
        self.client.stdin.flush()
        out, _ = self.client.communicate(timeout=60)
        lines = out.strip().splitlines()
        if not lines:
            return None, ["the ssh client printed no result"]
        result = json.loads(lines[-1])
        problems = []
        if result["error"]:
            problems.append(f"the ssh session failed: {result['error']}")
        if result["eof"]:
            problems.append("the ssh session ended")
        if not result["notice"]:
            problems.append("no \"session resumed on backup\" notice from the backup")
        if not result["survived"]:
            problems.append("the session did not answer a command after the takeover")
        return result, problems

    def close(self):
        if self.setup.keys is not None:
            shutil.rmtree(self.setup.keys.dir, ignore_errors=True)


WORKLOADS = {"line": LineWorkload, "ssh": SshWorkload}


def ensure_ssh_user():
    """Create the login user of the SSH workload, as test_ssh_adopt's test_user.

    Returns the user's name if this call created it (the caller deletes it),
    else None.
    """
    import pwd

    from test_ssh_adopt import USER
    if subprocess.run(["id", "sshd"], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "-r", "-s", "/usr/sbin/nologin", "-d", "/run/sshd",
                        "sshd"], check=True)
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    created = None
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "-r", "-M", "-d", "/tmp", "-s", "/bin/sh", USER],
                       check=True)
        created = USER
    # "*" instead of useradd's "!": sshd without PAM rejects locked accounts
    # even for key logins.
    subprocess.run(["usermod", "-p", "*", USER], check=True)
    return created

LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3})Z (.*)$")
SUMMARY = re.compile(r"summary: (\d+) moved, (\d+) not recoverable, (\d+) failed, "
                     r"in (\d+) ms")
# Phases of a takeover in revenantd's log, by the text of their line.
PHASES = (
    ("suspect", "server primary: healthy -> suspect"),
    ("failed", "server primary: suspect -> failed"),
    ("fence_start", ": fence: running"),
    ("fence_done", ": fence: done"),
    ("handoff", ": handoff: "),
    ("announce", ": announce: "),
    ("summary", ": summary: "),
)


def log_phases(text, crash):
    """Return the seconds after CRASH of each phase's first log line after it.

    The log's time stamps are CLOCK_REALTIME with millisecond resolution,
    cut to the millisecond, so a phase may show up to 1 ms early.
    """
    phases, summary_ms = {}, None
    for line in text.splitlines():
        found = LOG_LINE.match(line)
        if not found:
            continue
        whole, millis, rest = found.groups()
        wall = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) + int(millis) / 1000
        after = crash.from_wall(wall)
        if after < -0.001:
            continue
        for key, needle in PHASES:
            if needle in rest and key not in phases:
                phases[key] = after
        summary = SUMMARY.search(rest)
        if summary and summary_ms is None:
            summary_ms = int(summary.group(4))
    return phases, summary_ms


TAKEOVER_LINE = re.compile(r"server primary: (\w+ -> \w+|taking over|address conflict)"
                           r"| migration \d+: ")


def takeover_lines(text, limit=20):
    """Return revenantd's log lines about the primary's detection and the migration."""
    lines = [line for line in text.splitlines() if TAKEOVER_LINE.search(line)]
    return lines[-limit:]


def servers_state(app):
    """Return the primary's detection state from `revenantctl servers --json`."""
    servers = app.ctl_json("servers")["servers"]
    return {s["name"]: s for s in servers}["primary"]["detection"]


def wait_detection(app, states, timeout, interval):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = servers_state(app)
        if last["state"] in states:
            return last
        time.sleep(interval)
    return last


def revenant_run(workload_cls, tick_ms):
    """Crash the primary once on a fresh lab with revenant; return the run's numbers."""
    Lab = lab_modules()[0]
    with Lab() as lab:
        work = workload_cls(lab, tick_ms)
        app = None
        try:
            app = work.start()
            state = wait_detection(app, ("healthy",), 10, 0.1)
            if state["state"] != "healthy":
                raise BenchError(f"primary not healthy 10 s after revenantd started: "
                                 f"{state}")
            work.start_client()
            # revenantd must log the connection, recoverable, before the crash.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                flows = [f for f in app.flows()
                         if f["server"].endswith(f":{work.port}")]
                if flows and all(f["recoverable"] for f in flows):
                    break
                time.sleep(0.1)
            else:
                raise BenchError(f"revenantd has no recoverable connection: {flows}")
            time.sleep(0.5)
            before = servers_state(app)

            load = os.getloadavg()[0]
            crash = Crash(lab, work.primary_pids())
            # Reading revenantd's log file, not running revenantctl, starts
            # no processes while the takeover runs.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and "summary: " not in app.log_text():
                time.sleep(0.05)
            time.sleep(1.0)
            after = servers_state(app)
            result, problems = work.finish()
            app_log = app.log_text()
        finally:
            if app is not None:
                if app.is_running():
                    app.stop()
                app.cleanup()
            work.close()
    phases, summary_ms = log_phases(app_log, crash)
    run = {"phases": phases, "summary_ms": summary_ms, "state": after,
           "cut_s": crash.cut_done - crash.start, "first_s": None, "gap_s": None,
           "load": load, "log": takeover_lines(app_log)}
    if before["state"] != "healthy" or before.get("migration", 0):
        problems.append(f"primary was not healthy right before the crash: {before}")
    if after["state"] != "migrated" or "1 moved" not in after.get("evidence", ""):
        problems.append(f"no takeover within 10 s of the crash: detection state "
                        f"{after['state']!r}, evidence {after.get('evidence')!r}")
    if result is not None:
        rx = result["rx"]
        first = next((w for w in rx if w > crash.cut_done + CUT_GRACE_S), None)
        last_before = max((w for w in rx if w <= crash.cut_done + CUT_GRACE_S),
                          default=None)
        if first is None:
            problems.append("the client read nothing after the crash")
        else:
            run["first_s"] = first - crash.start
            if last_before is not None:
                run["gap_s"] = first - last_before
            if run["first_s"] < EARLIEST_TAKEOVER_S:
                problems.append(f"first byte after the crash at {ms(run['first_s'])} ms, "
                                "sooner than detection allows: a late read of the "
                                "primary's bytes")
    if problems:
        problems.append("revenantd log after the crash:\n" + "\n".join(run["log"]))
    run["problems"] = problems
    return run


def format_revenant(runs, args):
    good = [r for r in runs if not r["problems"] and r["first_s"] is not None]
    first = [r["first_s"] for r in good]

    def row(label, values):
        if not values:
            return (label, "-", "-", "-", "-")
        return (label, ms(median(values)), ms(percentile(values, 99)), ms(min(values)),
                ms(max(values)))

    def phase(key):
        return [r["phases"][key] for r in good if key in r["phases"]]

    announce_to_first = [r["first_s"] - r["phases"]["announce"] for r in good
                         if "announce" in r["phases"]]
    failed_to_summary = [r["phases"]["summary"] - r["phases"]["failed"] for r in good
                         if "summary" in r["phases"] and "failed" in r["phases"]]
    rows = [
        row("crash to the client's first byte from the backup", first),
        row("crash to \"healthy -> suspect\" (first probe unanswered)", phase("suspect")),
        row("crash to \"suspect -> failed\" (detection)", phase("failed")),
        row("crash to \"fence: done\"", phase("fence_done")),
        row("fence command, \"fence: running\" to \"fence: done\"",
            [r["phases"]["fence_done"] - r["phases"]["fence_start"] for r in good
             if "fence_done" in r["phases"] and "fence_start" in r["phases"]]),
        row("crash to \"announce:\" (gratuitous ARP sent)", phase("announce")),
        row("migration, \"summary: ... in N ms\"",
            [r["summary_ms"] / 1000 for r in good if r["summary_ms"] is not None]),
        row("\"suspect -> failed\" to \"summary:\" in the log", failed_to_summary),
        row("\"announce:\" to the client's first byte from the backup", announce_to_first),
        row("client silence: last byte before the crash to first after it",
            [r["gap_s"] for r in good if r["gap_s"] is not None]),
        row("cutting the port (one `ip link set down`)", [r["cut_s"] for r in runs]),
    ]
    body = table(("quantity (ms)", "median", "p99", "min", "max"), rows)
    if first:
        met = median(first) <= 0.5 and percentile(first, 99) <= 1.0
        body += (f"\nTargets (median at most 500 ms, p99 at most 1 s): "
                 f"{'met' if met else 'NOT met'}; {len(good)} of {len(runs)} runs "
                 "usable.\n")
    workload = WORKLOAD_SETUP[args.workload].format(tick=args.tick_ms)
    body += REVENANT_SETUP.format(runs=len(runs), workload=workload,
                                  grace=CUT_GRACE_S * 1000)
    if first:
        body += format_slowest(good, runs)
    return body


def format_slowest(good, runs):
    """Describe the slowest usable run: its phases, the machine's load and revenantd's log."""
    slowest = max(good, key=lambda r: r["first_s"])
    number = runs.index(slowest) + 1
    phases = ", ".join(f"{key.replace('_', ' ')} {ms(value)}"
                       for key, value in sorted(slowest["phases"].items(),
                                                key=lambda kv: kv[1]))
    loads = [r["load"] for r in runs]
    return (f"\nSlowest run: run {number}, first byte from the backup "
            f"{ms(slowest['first_s'])} ms after the crash. Its phases in ms after the "
            f"crash: {phases}. The 1-minute load average at its crash was "
            f"{slowest['load']:.2f} (median over the runs {median(loads):.2f}, on "
            f"{os.cpu_count()} cores). revenantd's log of the takeover:\n\n"
            + "".join(f"    {line}\n" for line in slowest["log"]))


REVENANT_SETUP = """
Set-up: a fresh lab per run, {runs} runs. revenantd runs the lab profile
drivers-conf/revenantd-lab.yaml with its default detection settings (a
probe round every 100 ms: an ARP request and a TCP SYN from the probe
address to port 22; failed after 3 rounds in a row without a reply, a
heartbeat or a segment while the mirror works); its fence is `tools/lab
port-down`.

{workload}

The crash time is time.monotonic() just before the cut. The first byte from the backup is the first chunk the client read
more than {grace:g} ms after the cut. Log phases come from revenantd's log
(CLOCK_REALTIME, millisecond time stamps), converted with the wall-clock
time taken at the crash; a negative time from "announce:" means the backup
sent before revenantd announced it (the adopted socket sends to the
client's MAC address at once). p99 is the nearest-rank percentile, so with
fewer than 100 runs it is the largest value.
"""

WORKLOAD_SETUP = {
    "ssh": """The workload is the chain of
tests/integration/test_failover_ssh.py: the patched sshd (build/ssh) on
the primary exporting checkpoints and heartbeats, the patched sshd on the
backup adopting through revenant-agent, and Debian's unmodified
/usr/bin/ssh in a pty on the client, whose login shell prints a tick line
every 20 ms; a Python wrapper stamps every chunk ssh writes to the pty.
The backup's first bytes are its notice "session resumed on backup" and a
fresh shell's prompt. After the run the wrapper types a command whose
output must come back, so every usable run is a session that survived. A crash cuts
the primary's switch port and then kills every process in the primary's
namespace (both sshd processes of the session) with SIGKILL.""",
    "line": """The workload is the line service
(tests/integration/line_service.py, a tick every {tick} ms; the backup's
instance runs with --tick-on-adopt, so it sends as soon as it adopts the
connection) and a Python client that sends a line every 10 ms and stamps
every chunk it reads with time.monotonic(): the TCP-level takeover, without
SSH. A crash cuts the primary's switch port and then kills the primary's
line service with SIGKILL.""",
}


# ------------------------------------------------------------ keepalived

KEEPALIVED_CONF = """\
# Written by tools/bench failover for one run. Everything not set here is
# keepalived's default: advert_int 1 s, preemption on, no authentication.
global_defs {{
    router_id {router_id}
}}

vrrp_instance lab {{
    state {state}
    interface {interface}
    virtual_router_id {vrid}
    priority {priority}
    virtual_ipaddress {{
        {address}/24 dev {interface}
    }}
}}
"""

# Streams a line every 100 ms for at most 60 s, then reads commands from
# the session's stdin with a shell.
SSH_REMOTE = ("(i=0; while [ $i -lt 600 ]; do i=$((i+1)); echo line $i; sleep 0.1; "
              "done) & exec sh")


def ensure_keepalived():
    """Install Debian's keepalived package when /usr/sbin/keepalived is missing."""
    if os.access(KEEPALIVED, os.X_OK):
        return
    log("keepalived: not installed; running apt-get install -y keepalived")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    proc = subprocess.run(["apt-get", "install", "-y", "-q", "keepalived"],
                          capture_output=True, text=True, timeout=600, env=env,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0 or not os.access(KEEPALIVED, os.X_OK):
        raise BenchError(f"apt-get install keepalived failed with exit status "
                         f"{proc.returncode}: {proc.stderr.strip()[-500:]}; install it "
                         "(apt-get install keepalived) or run with --skip keepalived")


def keepalived_version():
    proc = subprocess.run([KEEPALIVED, "--version"], capture_output=True, text=True,
                          timeout=10)
    found = re.search(r"Keepalived v(\S+)", proc.stdout + proc.stderr)
    return found.group(1) if found else "unknown"


def shared_key_sshd(sshd_cls, lab, host, source):
    """Return an sshd_lab.Sshd on HOST that uses the host and user keys of SOURCE.

    Hosts that serve one address share the host key, so that a client that
    reconnects trusts the backup.
    """
    class SharedKeySshd(sshd_cls):
        def _write_files(self):
            super()._write_files()
            for name in ("ssh_host_ed25519_key", "ssh_host_ed25519_key.pub",
                         "id_ed25519", "id_ed25519.pub", "authorized_keys"):
                shutil.copyfile(source.dir / name, self.dir / name)
            os.chmod(self.host_key, 0o600)

    return SharedKeySshd(lab, host=host, addresses=["0.0.0.0"])


def addresses(lab, host):
    proc = lab.exec(host, ["ip", "-4", "-o", "addr", "show"])
    return re.findall(r"inet (\S+)/", proc.stdout)


def start_keepalived(lab, host, state, priority):
    tmp = lab.tmpdir
    interface = lab.env[f"{host.upper()}_IF"]
    conf = tmp / f"keepalived-{host}.conf"
    conf.write_text(KEEPALIVED_CONF.format(router_id=f"rv-{host}", state=state,
                                           interface=interface, vrid=VRID,
                                           priority=priority, address=lab.SERVICE_IP))
    log_path = tmp / f"keepalived-{host}.log"
    cmd = [KEEPALIVED, "--vrrp", "--dont-fork", "--log-console", "--log-detail",
           "--no-syslog", "-f", conf, "-p", tmp / f"keepalived-{host}.pid",
           "-r", tmp / f"keepalived-{host}-vrrp.pid"]
    proc = lab.popen(host, cmd, stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
    return proc, log_path


def keepalived_run(sshd_cls):
    """Crash the primary once with keepalived moving the address; return the numbers."""
    Lab = lab_modules()[0]
    with Lab() as lab:
        vip = lab.SERVICE_IP
        sshds = []
        try:
            # keepalived owns the service address: the primary keeps a
            # plain address of its own for its VRRP advertisements.
            lab.exec("primary", ["ip", "addr", "del", f"{vip}/24", "dev", lab.PRIMARY_IF])
            lab.exec("primary", ["ip", "addr", "add", f"{KEEPALIVED_PRIMARY_OWN_IP}/24",
                                 "dev", lab.PRIMARY_IF])
            primary_sshd = sshd_cls(lab, host="primary", addresses=["0.0.0.0"])
            sshds.append(primary_sshd)
            primary_sshd.start()
            backup_sshd = shared_key_sshd(sshd_cls, lab, "backup", primary_sshd)
            sshds.append(backup_sshd)
            backup_sshd.start()
            host_pub = (primary_sshd.dir / "ssh_host_ed25519_key.pub").read_text().split()
            primary_sshd.known_hosts.write_text(f"{vip} {host_pub[0]} {host_pub[1]}\n")

            primary_ka, primary_log = start_keepalived(lab, "primary", "MASTER", 150)
            backup_ka, backup_log = start_keepalived(lab, "backup", "BACKUP", 100)
            wait_file(primary_log, "Entering MASTER STATE", 15, primary_ka)
            wait_file(backup_log, "Entering BACKUP STATE", 15, backup_ka)
            if vip not in addresses(lab, "primary"):
                raise BenchError(f"keepalived on the primary is master but {vip} is "
                                 "not on its interface")

            session = lab.popen("client", primary_sshd.ssh_argv(vip, SSH_REMOTE),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
            out = LineReader(session.stdout)
            err = LineReader(session.stderr)
            if out.wait_for(lambda line: line == "line 5", 15) is None:
                raise BenchError(f"the ssh session streamed no lines: "
                                 f"{[x[1] for x in err.lines]}")
            monitor = lab.popen("backup", ["ip", "-4", "monitor", "address"],
                                stdout=subprocess.PIPE, text=True)
            moved = LineReader(monitor.stdout)
            time.sleep(0.3)

            victims = [primary_ka.pid, primary_sshd.proc.pid]
            crash = Crash(lab, victims)
            seen = moved.wait_for(lambda line: f"inet {vip}/" in line, 15)
            took = None if seen is None else seen[0] - crash.start
            log_text = backup_log.read_text(errors="replace")
            on_backup = vip in addresses(lab, "backup")
            lines_after = [line for when, line in out.lines if when > crash.cut_done]

            # The session's next keystroke goes to the backup, which has
            # no socket for it.
            time.sleep(0.5)
            command_at = time.monotonic()
            try:
                session.stdin.write("echo after-takeover\n")
                session.stdin.flush()
            except BrokenPipeError:
                pass
            try:
                status = session.wait(timeout=10)
            except subprocess.TimeoutExpired:
                status = None
            ended = time.monotonic() - command_at if status is not None else None
            time.sleep(0.1)
            answered = any(line == "after-takeover" for _, line in out.lines)
            printed = " / ".join(line.strip() for _, line in err.lines if line.strip())
            if status is None:
                session.kill()
                session.wait()
            # A new session to the same address reaches the backup's sshd.
            fresh = lab.exec("client", primary_sshd.ssh_argv(vip, "echo new-session"),
                             check=False, timeout=30)
        finally:
            for sshd in sshds:
                sshd.stop()
    problems = []
    if took is None:
        problems.append(f"{vip} did not appear on the backup within 15 s of the crash; "
                        f"keepalived's log:\n{log_text[-2000:]}")
    elif not on_backup:
        problems.append(f"{vip} appeared on the backup and left again")
    return {"took_s": took, "cut_s": crash.cut_done - crash.start,
            "master_line": "Entering MASTER STATE" in log_text,
            "lines_after": len(lines_after), "status": status, "ended_s": ended,
            "answered": answered, "printed": printed,
            "fresh": fresh.returncode == 0 and fresh.stdout.strip() == "new-session",
            "problems": problems}


def format_keepalived(runs, revenant_runs, version, workload):
    took = [r["took_s"] for r in runs if not r["problems"]]
    body = ""
    if took:
        body += table(("quantity (ms)", "median", "min", "max"),
                      [("crash to the address on the backup", ms(median(took)),
                        ms(min(took)), ms(max(took)))])
    body += "\nThe ssh session, per run:\n\n"
    for i, r in enumerate(runs, 1):
        status = "still running 10 s later" if r["status"] is None else \
            f"exit status {r['status']} {ms(r['ended_s'])} ms after the command"
        body += (f"- run {i}: address moved in {ms(r['took_s'])} ms; lines received "
                 f"after the crash: {r['lines_after']}; after `echo after-takeover` was "
                 f"typed into the session: {status}, "
                 f"{'its output arrived' if r['answered'] else 'no output of it'}; ssh "
                 f"printed: \"{r['printed'] or '(nothing)'}\"; a new ssh session to the "
                 f"address {'worked' if r['fresh'] else 'failed'}.\n")
    survived = sum(1 for r in runs if r["answered"])
    body += f"\nThe session survived in {survived} of {len(runs)} runs.\n\n"
    body += KEEPALIVED_SETUP.format(version=version, own=KEEPALIVED_PRIMARY_OWN_IP,
                                    vrid=VRID)
    good = [r for r in revenant_runs if not r["problems"] and r["first_s"] is not None]
    announce = [r["phases"]["announce"] for r in good if "announce" in r["phases"]]
    if took and good:
        rows = [("crash to the address announced for the backup (median)",
                 f"{ms(median(announce))} ms" if announce else "-",
                 f"{ms(median(took))} ms"),
                ("crash to the client's first byte from the backup (median)",
                 f"{ms(median([r['first_s'] for r in good]))} ms",
                 "never: the connection is reset"),
                ("connections that survived",
                 f"{len(good)} of {len(revenant_runs)}", f"{survived} of {len(runs)}")]
        body += (f"\nSide by side in this run (revenant: {workload} workload; "
                 "keepalived: ssh):\n\n" + table(("", "revenant", "keepalived"), rows))
    return body


KEEPALIVED_SETUP = """\
Set-up: Debian's keepalived {version} (`keepalived --vrrp --dont-fork
--log-console`, own pid files) in the primary's and the backup's
namespaces of a fresh lab per run, with keepalived's default VRRP settings
(advertisement every 1 s, preemption on): the primary is MASTER with
priority 150, the backup has priority 100, virtual_router_id {vrid}, and
the virtual address is the lab's service address, removed from the
primary first (the primary keeps {own}/24 as its own address). Debian's
sshd listens on all addresses of both hosts with the same host key; the
client's Debian ssh runs a remote command that prints a line every 100 ms
and then reads commands. A crash cuts the primary's switch port, then
kills keepalived and sshd (with the session's processes) on the primary
with SIGKILL. The address counts as moved when `ip -4 monitor address` in
the backup's namespace reports it. Half a second later the benchmark
types `echo after-takeover` into the session. keepalived speaks VRRP
version 2 by default, by which (RFC 3768, section 6.1) a backup waits 3
advertisement intervals plus a skew of (256 - priority) / 256 s before it
takes over: 3.61 s here, counted from the last advertisement before the
crash, so 2.61 to 3.61 s after the crash.
"""


# ------------------------------------------------------------ main

def parse_args(argv):
    parser = argparse.ArgumentParser(prog="tools/bench failover",
                                     description=__doc__.splitlines()[0])
    add_quick(parser, "3 revenant runs and 1 keepalived run; BENCHMARKS.md untouched")
    parser.add_argument("--runs", type=int, default=None,
                        help="revenant runs (default 20, quick 3)")
    parser.add_argument("--keepalived-runs", type=int, default=None,
                        help="keepalived runs (default 5, quick 1)")
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="ssh",
                        help="what the client runs over the revenant takeover")
    parser.add_argument("--tick-ms", type=int, default=20,
                        help="tick interval of the line service, ms")
    add_note(parser)
    parser.add_argument("--skip", action="append", default=[],
                        choices=("revenant", "keepalived"),
                        help="leave a measurement out (repeatable)")
    args = parser.parse_args(argv)
    if args.runs is None:
        args.runs = 3 if args.quick else 20
    if args.keepalived_runs is None:
        args.keepalived_runs = 1 if args.quick else 5
    if not 1 <= args.runs <= 100 or not 1 <= args.keepalived_runs <= 20:
        parser.error("--runs must be 1..100 and --keepalived-runs 1..20")
    return args


def main(argv):
    args = parse_args(argv)
    if not_root("failover", "namespaces, hugepages, TCP_REPAIR"):
        return 1
    build_dir()
    command = command_line("failover", argv)
    sections, problems = [], []
    started = time.monotonic()
    revenant_runs, keepalived_runs = [], []
    created_user = None
    try:
        if "revenant" not in args.skip and args.workload == "ssh":
            created_user = ensure_ssh_user()
        if "revenant" not in args.skip:
            workload = WORKLOADS[args.workload]
            for i in range(args.runs):
                run = revenant_run(workload, args.tick_ms)
                revenant_runs.append(run)
                problems += [f"revenant run {i + 1}: {p}" for p in run["problems"]]
                log(f"revenant run {i + 1}/{args.runs}: first byte from the backup "
                    f"{ms(run['first_s'])} ms after the crash, detected at "
                    f"{ms(run['phases'].get('failed'))} ms"
                    + (" (problems)" if run["problems"] else ""))
            sections.append((f"revenant: crash to first byte from the backup, "
                             f"{len(revenant_runs)} runs",
                             format_revenant(revenant_runs, args)))
        if "keepalived" not in args.skip:
            ensure_keepalived()
            from sshd_lab import Sshd
            for i in range(args.keepalived_runs):
                run = keepalived_run(Sshd)
                keepalived_runs.append(run)
                problems += [f"keepalived run {i + 1}: {p}" for p in run["problems"]]
                log(f"keepalived run {i + 1}/{args.keepalived_runs}: address on the "
                    f"backup {ms(run['took_s'])} ms after the crash; ssh: "
                    f"{run['printed'] or '(nothing)'}")
            sections.append((f"keepalived {keepalived_version()} beside it, "
                             f"{len(keepalived_runs)} runs",
                             format_keepalived(keepalived_runs, revenant_runs,
                                               keepalived_version(), args.workload)))
    except (BenchError, subprocess.SubprocessError, OSError) as err:
        print(f"tools/bench failover: {err}", file=sys.stderr)
        return 1
    except fail_exception() as err:
        print(f"tools/bench failover: {err}", file=sys.stderr)
        return 1
    finally:
        if created_user is not None:
            subprocess.run(["userdel", created_user], check=False)
    log(f"done in {time.monotonic() - started:.0f} s")
    for problem in problems:
        print(f"tools/bench failover: check failed: {problem}", file=sys.stderr)

    body = sections_body(sections, args.note)
    if problems:
        body += ("### Runs with problems\n\nThese runs are left out of the numbers "
                 "above:\n\n" + "".join(f"- {p.splitlines()[0]}\n" for p in problems))
    # Written with problems too: the body lists the runs left out.
    publish(args.quick, "Failover after a primary crash", command, body)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
