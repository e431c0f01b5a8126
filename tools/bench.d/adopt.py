# SPDX-License-Identifier: BSD-3-Clause
"""tools/bench adopt: how fast the backup's sshd adopts live SSH sessions.

Two measurements in one run, on the lab of tests/integration/test_ssh_adopt.py:
the patched sshd on the primary exports checkpoints, revenantd logs the
connections from the mirror, and `revenantctl migrate primary` fences the
primary and hands the connections to revenant-agent on the backup. The
agent restores each TCP socket with TCP_REPAIR and passes it to the
backup's patched sshd, which continues the session. The clients are
Debian's unmodified /usr/bin/ssh.

  notice    RUNS runs (30), a fresh lab each: one interactive session on a
            pty (pexpect). Measured: from the command to the client reading
            the notice line "revenant: session resumed on backup ...", with
            the phases that the logs give (fence, handoff, agent restore,
            sshd adopt, first byte at the client).
  sessions  SESSIONS idle login shells (200), each its own ssh process and
            TCP connection, migrated with one command. Measured: from the
            command until every client has read its notice line, and the
            counts of sessions adopted, refused and lost. A session counts
            as adopted when its client read the notice and then the reply
            "backup" to `hostname`.

Every time is time.time() in this process (CLOCK_REALTIME), which the
namespaces share: the command starts just after t0, and the client's bytes
are stamped when this process reads them. revenantd and revenant-agent
stamp their log lines with CLOCK_REALTIME in milliseconds. sshd writes no
time stamps with -E, so a thread here stamps each new line of the backup
sshd's log when it reads it (a poll every 2 ms).
"""

import argparse
import json
import os
import pwd
import re
import resource
import selectors
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (BenchError, add_note, add_quick, build_dir,  # noqa: E402
                     command_line, fail_exception, kill_tree, log, log_time, median,
                     ms, ms1, ms2, not_root, percentile, publish, sections_body, table)

# A login user of the benchmark's own, so that no test that removes its
# user at teardown can take it away during a run.
USER = "rvbenchadopt"
DEBIAN_SSH = "/usr/bin/ssh"
AGENT_PORT = 7700
NOTICE = re.compile(rb"revenant: session resumed on (\S+) after the primary "
                    rb"failed; the previous shell ended")
# Transport errors that a client must never print after a migration.
CLIENT_ERRORS = (b"Corrupted MAC", b"Bad packet length",
                 b"message authentication code incorrect",
                 b"incorrect signature", b"Connection reset",
                 b"Broken pipe", b"Connection closed")
SUMMARY = re.compile(r"summary: (\d+) moved, (\d+) not recoverable, (\d+) failed, "
                     r"in (\d+) ms")
# revenant-agent's debug line per connection: the TCP_REPAIR restore, and
# the pass to sshd, which lasts until sshd has adopted the connection and
# replied.
AGENT_STEPS = re.compile(r"socket restored in (\d+) us, passed to the service in (\d+) us")
# Logins at a time in the sessions case. sshd's MaxStartups is raised
# above this, so that no login is dropped while others authenticate.
LOGIN_BATCH = 20
MAX_STARTUPS = "60:30:120"
# Upper bound for one session's file descriptors in this process (stdin
# and stdout pipes), plus room for the rest.
FD_PER_SESSION = 2


def lab_modules():
    """Import the lab helpers of tests/integration (they need pytest)."""
    import pytest  # noqa: F401  (the helpers fail tests with pytest.fail)

    import test_ssh_adopt
    from lab import Lab
    return Lab, test_ssh_adopt


def us(seconds):
    return "-" if seconds is None else f"{seconds * 1e6:,.0f}"


class BenchUser:
    """The login user of the sessions and sshd's privilege separation user.

    remove() deletes the login user again if this object created it.
    """

    def __init__(self):
        self.created = False
        if subprocess.run(["id", "sshd"], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "-r", "-s", "/usr/sbin/nologin", "-d",
                            "/run/sshd", "sshd"], check=True)
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        try:
            pwd.getpwnam(USER)
        except KeyError:
            subprocess.run(["useradd", "-r", "-M", "-d", "/tmp", "-s", "/bin/sh", USER],
                           check=True)
            self.created = True
        # "*" instead of useradd's "!": sshd without PAM rejects locked
        # accounts even for key logins.
        subprocess.run(["usermod", "-p", "*", USER], check=True)
        self.name = USER

    def remove(self):
        if self.created:
            subprocess.run(["userdel", USER], check=False, capture_output=True)
            self.created = False


class LogWatcher:
    """Stamp each new line of some log files with time.time() when it is read.

    A thread polls the files every 2 ms until stop(). lines(NAME) returns
    the (time, line) pairs of the file named NAME.
    """

    def __init__(self, paths):
        self.paths = dict(paths)
        self.offsets = {name: (p.stat().st_size if p.exists() else 0)
                        for name, p in self.paths.items()}
        self.partial = {name: b"" for name in self.paths}
        self.found = {name: [] for name in self.paths}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _poll(self):
        for name, path in self.paths.items():
            try:
                with open(path, "rb") as f:
                    f.seek(self.offsets[name])
                    data = f.read()
            except OSError:
                continue
            if not data:
                continue
            now = time.time()
            self.offsets[name] += len(data)
            *lines, self.partial[name] = (self.partial[name] + data).split(b"\n")
            self.found[name] += [(now, line.decode(errors="replace")) for line in lines]

    def _run(self):
        while not self.stopping.wait(0.002):
            self._poll()
        self._poll()

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=10)

    def lines(self, name):
        return list(self.found[name])


class Stamper:
    """A pexpect logfile_read that keeps every chunk with the time it was read."""

    def __init__(self, path):
        self.file = open(path, "wb")
        self.chunks = []

    def write(self, data):
        self.chunks.append((time.time(), data))
        self.file.write(data)

    def flush(self):
        self.file.flush()

    def close(self):
        self.file.close()

    def text(self):
        return b"".join(data for _, data in self.chunks)


class AdoptBench:
    """Primary and backup sshd, revenant-agent and revenantd in one lab.

    The same chain as tests/integration/test_ssh_adopt.py, with the limits
    that many sessions need raised where an operator would raise them:
    sshd's MaxStartups, revenantd's handoff.timeout_ms and the agent's
    max_connections and time-outs.
    """

    def __init__(self, lab, sa, user, handoff_timeout_ms):
        self.lab = lab
        self.sa = sa
        self.user = user
        self.tmp = lab.tmpdir
        self.handoff_timeout_ms = handoff_timeout_ms
        self.primary_log = self.tmp / "sshd-primary.log"
        self.backup_log = self.tmp / "sshd-backup.log"
        self.agent_log = self.tmp / "agent.log"
        self.sshd = {}
        self.keys = None
        self.app = None

    def sshd_config(self, name, lines):
        # VERBOSE has the adoption's lines without DEBUG1's volume for
        # hundreds of sessions.
        return self.sa.sshd_config(self.keys, name, [f"MaxStartups {MAX_STARTUPS}"] + lines,
                                   log_level="VERBOSE")

    def start_agent(self, key):
        lab = self.lab
        public = subprocess.run([str(self.sa.tool("handoff-send")), "pubkey", str(key), "lab"],
                                check=True, capture_output=True, text=True).stdout.strip()
        socket_path = str(self.tmp / "adopt.sock")
        config = {
            "listen": f"{lab.MGMT_BACKUP_IP}:{AGENT_PORT}",
            "log_level": "debug",
            "appliances": [{"name": "lab", "public_key": public}],
            "identities": [
                {"address": addr, "interface": lab.BACKUP_IF, "prefix_len": plen,
                 "services": [{"port": 22, "socket": socket_path}]}
                for addr, plen in ((lab.SERVICE_IP, 24), (lab.SERVICE_IP6, 64))],
            "limits": {"max_message": "256MiB", "max_connections": 4096,
                       "io_timeout_ms": 60000, "service_timeout_ms": 10000},
        }
        path = self.tmp / "agent.yaml"
        path.write_text(json.dumps(config))   # JSON is YAML
        lab.popen("backup", [self.sa.tool("revenant-agent"), "-f", path],
                  stdout=subprocess.DEVNULL, stderr=open(self.agent_log, "w"))
        self.sa.wait_log(self.agent_log, "waiting for handoffs")

    def start(self):
        lab, sa = self.lab, self.sa
        self.keys = keys = sa.new_keys("rv-benchadopt-keys-")
        self.known_hosts = keys.known_hosts(lab.SERVICE_IP)
        key = sa.appliance_key(self.tmp)
        sa.export_neighbour(lab)
        self.sshd["primary"] = sa.start_sshd(lab, "primary", self.sshd_config(
            "primary", sa.primary_lines(keys, f"{lab.SERVICE_IP}:22")), self.primary_log)
        self.sshd["backup"] = sa.start_sshd(lab, "backup", self.sshd_config(
            "backup", sa.backup_lines(keys, self.tmp / "adopt.sock")), self.backup_log)
        self.start_agent(key)
        timeout_ms = self.handoff_timeout_ms

        class Appliance(sa.AdoptAppliance):
            def write_config(self):
                path = super().write_config()
                # revenantd waits this long for the agent's reply, which
                # comes once the backup's sshd has taken every connection.
                path.write_text(path.read_text() + f"  timeout_ms: {timeout_ms}\n")
                return path

        self.app = Appliance(lab, key, keys.host_pub)
        self.app.start()

    def ssh_argv(self):
        """Return the argv of Debian's ssh for a login shell on a forced pty."""
        return [DEBIAN_SSH, "-tt", "-F", "/dev/null", "-i", str(self.keys.user),
                "-o", "IdentitiesOnly=yes", "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
                "-o", "BatchMode=yes", "-o", "ConnectTimeout=30",
                f"{self.user}@{self.lab.SERVICE_IP}"]

    def wait_recoverable(self, count, timeout):
        """Wait until revenantd can recover COUNT port-22 connections."""
        deadline = time.monotonic() + timeout
        while True:
            flows = [f for f in self.app.flows() if f["server"].endswith(":22")]
            ready = sum(1 for f in flows if f["recoverable"])
            if ready >= count:
                return
            if time.monotonic() > deadline:
                raise BenchError(f"revenantd can recover {ready} of {count} SSH "
                                 f"connections after {timeout} s ({len(flows)} listed)")
            time.sleep(0.5)

    def start_migration(self):
        """Start `revenantctl migrate primary`; return (t0, its Popen)."""
        sa = self.sa
        cmd = ["ip", "netns", "exec", self.lab.NS_APPLIANCE, str(sa.REVENANTCTL), "-s",
               str(self.app.socket), "migrate", "primary"]
        t0 = time.time()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        return t0, proc

    def finish_migration(self, proc, timeout):
        """Wait for revenantctl; return (moved, not recoverable, failed, ms).

        revenantctl exits non-zero when a connection failed; its summary
        line still counts them, so only a missing summary raises.
        """
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise BenchError(f"revenantctl migrate did not finish within {timeout} s")
        found = SUMMARY.search(out)
        if not found:
            raise BenchError(f"revenantctl migrate failed (exit status {proc.returncode}):\n"
                             f"{out}{err}\nrevenantd log:\n{self.app.log_text()[-3000:]}")
        return tuple(int(v) for v in found.groups())

    def revenantd_phases(self, t0):
        """Seconds after T0 of the migration's lines in revenantd's log."""
        needles = (("fence start", ": fence: running"), ("fence done", ": fence: done"),
                   ("handoff sent", f": handoff: {self.lab.SERVICE_IP} with"),
                   ("announce", ": announce: "), ("summary", ": summary: "))
        marks = {}
        for line in self.app.log_text().splitlines():
            when = log_time(line)
            if when is None or " migration " not in line:
                continue
            for key, needle in needles:
                if needle in line and key not in marks:
                    marks[key] = when - t0
        return marks

    def agent_adopted(self, t0):
        """Seconds after T0 of the agent's "restored and adopted" lines, and its refusals."""
        text = self.agent_log.read_text(errors="replace")
        adopted = [log_time(line) - t0 for line in text.splitlines()
                   if "restored and adopted" in line and log_time(line) is not None]
        refused = [line for line in text.splitlines() if ": not restored: " in line]
        return adopted, refused

    def agent_steps(self):
        """Per connection, in seconds: (TCP_REPAIR restores, passes to sshd)."""
        text = self.agent_log.read_text(errors="replace")
        steps = [(int(a) / 1e6, int(b) / 1e6) for a, b in AGENT_STEPS.findall(text)]
        return [a for a, _ in steps], [b for _, b in steps]

    def close(self):
        """Kill both sshd with every session process, stop revenantd, remove the keys."""
        for proc in self.sshd.values():
            kill_tree(proc.pid)
            proc.wait()
        problem = None
        if self.app is not None:
            try:
                if self.app.is_running():
                    self.app.stop()
            except fail_exception() as err:
                problem = str(err)
            left = self.app.cleanup()
            if left:
                problem = f"revenantd left hugepage files: {', '.join(left)}"
        if self.keys is not None:
            shutil.rmtree(self.keys.dir, ignore_errors=True)
        if problem:
            raise BenchError(problem)


def with_lab(user, handoff_timeout_ms, body):
    """Run BODY(bench) on a fresh lab with the whole chain; always clean up."""
    Lab, sa = lab_modules()
    with Lab() as lab:
        bench = AdoptBench(lab, sa, user.name, handoff_timeout_ms)
        try:
            bench.start()
            return body(bench)
        except fail_exception() as err:
            raise BenchError(str(err)) from err
        finally:
            bench.close()


# ------------------------------------------------------------ notice runs

def notice_run(bench):
    """Migrate one interactive pty session; return its times and problems."""
    import pexpect

    sa = bench.sa
    argv = bench.ssh_argv()
    child = pexpect.spawn("ip", ["netns", "exec", bench.lab.NS_CLIENT] + argv,
                          timeout=30)
    stamper = Stamper(bench.tmp / "client.log")
    child.logfile_read = stamper
    watcher = None
    try:
        child.sendline("PS1='$ '")
        host = sa.run_marked(child, "hostname", "HOST1", timeout=30)
        if host != "primary":
            raise BenchError(f"the session runs on {host!r}, expected the primary")
        # An idle pause, so that the primary's periodic checkpoint describes
        # the session's current state.
        time.sleep(2.5)
        bench.wait_recoverable(1, 20)
        # pexpect reads only inside expect(), so the primary's last prompt
        # may still wait in the pty: read it now, or it would be stamped
        # as the first byte after the command.
        child.expect(pexpect.TIMEOUT, timeout=0.3)
        watcher = LogWatcher({"sshd": bench.backup_log})
        seen = len(stamper.chunks)
        t0, ctl = bench.start_migration()
        deadline = time.monotonic() + 60
        summary = None
        # Bounded waits in steps, so a migration that moved nothing ends
        # the run at once instead of after the whole time-out.
        while child.expect([NOTICE, pexpect.TIMEOUT], timeout=0.2) != 0:
            if summary is None and ctl.poll() is not None:
                summary = bench.finish_migration(ctl, 10)
                if summary[0] == 0:
                    lines = [line for line in bench.app.log_text().splitlines()
                             if " migration " in line]
                    raise BenchError("revenantctl migrate moved no connection:\n" +
                                     "\n".join(lines[-6:]))
            if time.monotonic() > deadline:
                raise BenchError("no notice line at the client within 60 s")
        t_notice = time.time()
        if summary is None:
            summary = bench.finish_migration(ctl, 60)
        child.sendline("PS1='$ '")
        host = sa.run_marked(child, "hostname", "HOST2", timeout=30)
        watcher.stop()
        problems = []
        if host != "backup":
            problems.append(f"hostname after the migration is {host!r}")
        moved, unrecoverable, failed, _ = summary
        if (moved, unrecoverable, failed) != (1, 0, 0):
            problems.append(f"revenantctl: {moved} moved, {unrecoverable} not "
                            f"recoverable, {failed} failed")
        text = stamper.text()
        problems += [f"the client printed {bad.decode()!r}" for bad in CLIENT_ERRORS
                     if bad in text]
        child.sendline("exit")
        child.expect(pexpect.EOF, timeout=15)
        child.close()
        if child.exitstatus != 0:
            problems.append(f"ssh exited with status {child.exitstatus}")
    except pexpect.ExceptionPexpect as err:
        raise BenchError(f"the interactive session failed: {err.__class__.__name__}; "
                         f"last output: {bytes(child.before or b'')[-500:]!r}; "
                         f"backup sshd log:\n"
                         f"{bench.backup_log.read_text(errors='replace')[-2000:]}") from err
    finally:
        if watcher is not None:
            watcher.stop()
        if child.isalive():
            child.terminate(force=True)
        stamper.close()

    phases = bench.revenantd_phases(t0)
    adopted, refused = bench.agent_adopted(t0)
    if adopted:
        phases["agent adopted"] = adopted[0]
    for when, line in watcher.lines("sshd"):
        if re.search(r"revenant adopt: .*: resuming from checkpoint", line):
            phases.setdefault("sshd resuming", when - t0)
        if "revenant: adopted connection of" in line:
            phases.setdefault("sshd adopted", when - t0)
    first = [when for when, _ in stamper.chunks[seen:] if when >= t0]
    if first:
        phases["first byte"] = first[0] - t0
    phases["notice"] = t_notice - t0
    problems += [f"agent: {line}" for line in refused]
    restore, passing = bench.agent_steps()
    return {"notice_s": t_notice - t0, "summary_ms": summary[3], "phases": phases,
            "restore_s": restore, "pass_s": passing, "problems": problems}


PHASE_ORDER = ("fence start", "fence done", "handoff sent", "sshd resuming",
               "sshd adopted", "agent adopted", "announce", "summary", "first byte",
               "notice")
PHASE_TEXT = {
    "fence start": "revenantd: fence command started",
    "fence done": "revenantd: fence done (primary's switch port down)",
    "handoff sent": "revenantd: handoff sent to the agent",
    "sshd resuming": "backup sshd: checkpoint verified, resuming",
    "sshd adopted": "backup sshd: connection adopted",
    "agent adopted": "agent: socket restored and adopted",
    "announce": "revenantd: gratuitous ARP and ACKs sent",
    "summary": "revenantd: summary line",
    "first byte": "client: first byte read after the command",
    "notice": "client: notice line read",
}


def format_notice(runs):
    notice = [r["notice_s"] for r in runs]
    rows = [("command to the notice line at the client", ms(median(notice)),
             ms(percentile(notice, 99)), ms(min(notice)), ms(max(notice)))]
    for key in PHASE_ORDER:
        values = [r["phases"][key] for r in runs if key in r["phases"]]
        if not values or key == "notice":
            continue
        label = PHASE_TEXT[key] + ("" if len(values) == len(runs)
                                   else f" ({len(values)} runs)")
        rows.append((label, ms(median(values)), ms(percentile(values, 99)),
                     ms(min(values)), ms(max(values))))
    body = table(("ms after `revenantctl migrate primary` starts", "median", "p99",
                  "min", "max"), rows)
    body += ("\nThe phases are the first log line of each step: revenantd and the "
             "agent stamp theirs in milliseconds; the backup sshd's lines are "
             "stamped when this benchmark read them (within about 2 ms); the "
             "client's bytes when pexpect read them. p99 is the nearest rank, so "
             "with fewer than 100 runs it is the largest value.\n\n")
    restore = [v for r in runs for v in r["restore_s"]]
    passing = [v for r in runs for v in r["pass_s"]]
    body += table(("agent, per connection (ms)", "median", "p99", "max"), [
        ("TCP_REPAIR restore", ms2(median(restore)), ms2(percentile(restore, 99)),
         ms2(max(restore, default=None))),
        ("pass to sshd until its answer (sshd's adoption)", ms1(median(passing)),
         ms1(percentile(passing, 99)), ms1(max(passing, default=None))),
    ])
    return body


# ------------------------------------------------------------ many sessions

class Session:
    """One ssh client process with a login shell on a forced pty."""

    def __init__(self, index, proc):
        self.index = index
        self.proc = proc
        self.out = bytearray()
        self.ready_at = None
        self.notice_at = None
        self.notice_host = None
        self.answer_at = None
        self.answer = None
        self.eof_at = None

    def send(self, text):
        try:
            self.proc.stdin.write(text.encode())
            self.proc.stdin.flush()
            return True
        except OSError:
            return False


READY = re.compile(rb"READY-42")
ANSWER = re.compile(rb"HOST=([A-Za-z0-9_.-]+)\r?\n")


class SessionPool:
    """Many ssh clients whose output one thread reads and stamps."""

    def __init__(self):
        self.sessions = []
        self.selector = selectors.DefaultSelector()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def add(self, session):
        os.set_blocking(session.proc.stdout.fileno(), False)
        with self.lock:
            self.sessions.append(session)
            self.selector.register(session.proc.stdout, selectors.EVENT_READ, session)

    def _read(self, session):
        try:
            data = os.read(session.proc.stdout.fileno(), 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        now = time.time()
        if not data:
            session.eof_at = now
            self.selector.unregister(session.proc.stdout)
            return
        start = max(0, len(session.out) - 200)
        session.out += data
        window = bytes(session.out[start:])
        if session.ready_at is None and READY.search(window):
            session.ready_at = now
        if session.notice_at is None:
            found = NOTICE.search(bytes(session.out))
            if found:
                session.notice_at = now
                session.notice_host = found.group(1).decode(errors="replace")
        elif session.answer_at is None:
            found = ANSWER.search(bytes(session.out), session.out.find(b"revenant: session"))
            if found:
                session.answer_at = now
                session.answer = found.group(1).decode(errors="replace")

    def _run(self):
        while not self.stopping.is_set():
            with self.lock:
                if not self.selector.get_map():
                    events = []
                else:
                    events = self.selector.select(timeout=0)
            if not events:
                time.sleep(0.001)
                continue
            with self.lock:
                for key, _ in events:
                    self._read(key.data)

    def wait(self, predicate, count, timeout):
        """Wait until PREDICATE holds for COUNT sessions; return how many it holds for."""
        deadline = time.monotonic() + timeout
        while True:
            done = sum(1 for s in self.sessions if predicate(s))
            if done >= count or time.monotonic() > deadline:
                return done
            time.sleep(0.01)

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=10)
        self.selector.close()


def raise_nofile(sessions):
    """Raise this process's soft descriptor limit for SESSIONS clients."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = sessions * FD_PER_SESSION + 256
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            raise BenchError(f"{sessions} sessions need {need} file descriptors, the "
                             f"hard limit is {hard}: raise it (ulimit -Hn)")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


def sessions_run(bench, count):
    """Migrate COUNT idle login shells with one command; return the numbers."""
    lab = bench.lab
    pool = SessionPool()
    watcher = None
    started = time.monotonic()
    try:
        for first in range(0, count, LOGIN_BATCH):
            batch = range(first, min(count, first + LOGIN_BATCH))
            for i in batch:
                proc = lab.popen("client", bench.ssh_argv(), stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                session = Session(i, proc)
                pool.add(session)
                # The pty echoes "$((6*7))" and the shell prints "42", so
                # only the shell's output matches READY.
                session.send("PS1='$ '; echo READY-$((6*7))\n")
            ready = pool.wait(lambda s: s.ready_at is not None, batch.stop, 120)
            if ready < batch.stop:
                bad = next(s for s in pool.sessions if s.ready_at is None)
                raise BenchError(f"{ready} of {batch.stop} sessions logged in within "
                                 f"120 s; session {bad.index} printed: "
                                 f"{bytes(bad.out[-500:])!r}")
        log(f"sessions: {count} logged in after {time.monotonic() - started:.0f} s")
        time.sleep(2.5)
        bench.wait_recoverable(count, 60 + count / 5)
        watcher = LogWatcher({"sshd": bench.backup_log})
        t0, ctl = bench.start_migration()
        summary = bench.finish_migration(ctl, 60 + bench.handoff_timeout_ms / 1000)
        t_ctl = time.time()
        # Only moved connections can show a notice: the others get 5 s.
        pool.wait(lambda s: s.notice_at is not None or s.eof_at is not None,
                  summary[0], 60)
        noticed = pool.wait(lambda s: s.notice_at is not None or s.eof_at is not None,
                            count, 5)
        log(f"sessions: {noticed} of {count} resolved {time.time() - t0:.1f} s after "
            "the command")
        for session in pool.sessions:
            if session.notice_at is not None:
                session.send("PS1='$ '; echo HOST=$(hostname)\n")
        pool.wait(lambda s: s.answer_at is not None or s.eof_at is not None
                  or s.notice_at is None, count, 60)
        watcher.stop()
        for session in pool.sessions:
            if session.eof_at is None:
                session.send("exit\n")
        pool.wait(lambda s: s.eof_at is not None, count, 30)
        exits = {}
        deadline = time.monotonic() + 10
        for session in pool.sessions:
            try:
                exits[session.index] = session.proc.wait(
                    timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                exits[session.index] = None
    finally:
        if watcher is not None:
            watcher.stop()
        pool.stop()
        for session in pool.sessions:
            if session.proc.poll() is None:
                session.proc.kill()
                session.proc.wait()

    sessions = pool.sessions
    adopted = [s for s in sessions if s.notice_at is not None and s.answer == "backup"]
    errors = [s for s in sessions if any(bad in s.out for bad in CLIENT_ERRORS)]
    agent_times, refused = bench.agent_adopted(t0)
    restore, passing = bench.agent_steps()
    sshd_adopted = [when - t0 for when, line in watcher.lines("sshd")
                    if "revenant: adopted connection of" in line]
    # sshd -E writes errors without a level prefix, so its lines are kept
    # for a report only; the agent's "not restored" lines count refusals.
    sshd_adopt_lines = [line for _, line in watcher.lines("sshd")
                        if "revenant adopt: " in line]
    return {
        "count": count,
        "summary": summary,
        "t_ctl": t_ctl - t0,
        "notice_s": [s.notice_at - t0 for s in sessions if s.notice_at is not None],
        "adopted": len(adopted),
        "agent_adopted_s": agent_times,
        "agent_refused": refused,
        "restore_s": restore,
        "pass_s": passing,
        "sshd_adopted_s": sshd_adopted,
        "sshd_adopt_lines": sshd_adopt_lines,
        "lost": [s.index for s in sessions if s not in adopted],
        "errors": [s.index for s in errors],
        "clean_exits": sum(1 for s in sessions if exits.get(s.index) == 0),
        "example": {s.index: bytes(s.out[-300:]).decode(errors="replace")
                    for s in sessions if s not in adopted or s in errors},
        "phases": bench.revenantd_phases(t0),
    }


def problems_of_sessions(r):
    problems = []
    moved, unrecoverable, failed, _ = r["summary"]
    if (moved, unrecoverable, failed) != (r["count"], 0, 0):
        problems.append(f"revenantctl: {moved} moved, {unrecoverable} not recoverable, "
                        f"{failed} failed of {r['count']}")
    if r["adopted"] != r["count"]:
        index = r["lost"][0]
        problems.append(f"{r['adopted']} of {r['count']} sessions adopted; e.g. session "
                        f"{index} ended with: {r['example'].get(index)!r}")
    if r["errors"]:
        index = r["errors"][0]
        problems.append(f"{len(r['errors'])} clients printed a transport error, e.g. "
                        f"session {index}: {r['example'].get(index)!r}")
    if r["agent_refused"]:
        problems.append(f"agent refused {len(r['agent_refused'])}: "
                        f"{r['agent_refused'][0]}")
    if problems and r["sshd_adopt_lines"]:
        problems.append("the backup sshd's last adoption lines:\n  " +
                        "\n  ".join(r["sshd_adopt_lines"][-5:]))
    if r["clean_exits"] != r["count"]:
        problems.append(f"{r['clean_exits']} of {r['count']} clients exited with status 0 "
                        "after `exit`")
    return problems


def format_sessions(r):
    moved, unrecoverable, failed, summary_ms = r["summary"]
    notice = r["notice_s"]
    sshd = r["sshd_adopted_s"]
    agent = r["agent_adopted_s"]
    # The agent reports every connection that sshd rejected too.
    refused = len(r["agent_refused"])
    lost = max(0, r["count"] - r["adopted"] - refused)

    def spread(values):
        if not values:
            return "-"
        return (f"{ms(min(values))} / {ms(median(values))} / "
                f"{ms(percentile(values, 99))} / {ms(max(values))} ms")

    rows = [
        ("sessions adopted / refused / lost",
         f"{r['adopted']} / {refused} / {lost}"),
        ("revenantctl: moved / not recoverable / failed",
         f"{moved} / {unrecoverable} / {failed}"),
        ("command to the last notice line at a client",
         f"{ms(max(notice, default=None))} ms"),
        ("command to the notice line, first / median / p99 / last", spread(notice)),
        ("backup sshd: \"adopted connection\" lines, first / median / p99 / last",
         spread(sshd)),
        ("agent: \"restored and adopted\" lines, first / median / p99 / last",
         spread(agent)),
        ("agent: TCP_REPAIR restore per connection, median / p99",
         f"{us(median(r['restore_s']))} / {us(percentile(r['restore_s'], 99))} us"),
        ("agent: pass to sshd until its answer per connection, median / p99 / sum",
         f"{ms1(median(r['pass_s']))} / {ms1(percentile(r['pass_s'], 99))} / "
         f"{ms(sum(r['pass_s']))} ms"),
        ("revenantctl's summary (\"in N ms\")", f"{summary_ms:,} ms"),
        ("command to revenantctl's exit", f"{ms(r['t_ctl'])} ms"),
        ("clients that then answered `hostname` with \"backup\" and exited with 0",
         f"{r['clean_exits']}"),
    ]
    body = table(("quantity", "value"), rows)
    if r["phases"]:
        body += ("\nrevenantd's log (ms after the command): " + ", ".join(
            f"{k} {ms(v)}" for k, v in sorted(r["phases"].items(), key=lambda kv: kv[1]))
            + ".\n")
    return body


SETUP = """\
Set-up: tools/lab with the chain of tests/integration/test_ssh_adopt.py:
the patched sshd (build/ssh) on the primary with checkpoints and on the
backup with RevenantAdoptSocket, both LogLevel VERBOSE and MaxStartups
{max_startups}; revenant-agent with max_connections 4096, io_timeout_ms
60000 and service_timeout_ms 10000; revenantd's handoff.timeout_ms
{timeout}. Clients: Debian's /usr/bin/ssh with a forced pty (-tt),
chacha20-poly1305 (the default), one process and TCP connection each.
Each session is idle for 2.5 s before the command, so that the primary's
checkpoints describe its current state.
"""


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="tools/bench adopt",
                                     description=__doc__.splitlines()[0])
    add_quick(parser, "3 runs and 10 sessions; BENCHMARKS.md untouched")
    parser.add_argument("--runs", type=int, default=None,
                        help="runs of the notice case, a fresh lab each (default 30, quick 3)")
    parser.add_argument("--sessions", type=int, default=None,
                        help="idle sessions migrated with one command (default 200, quick 10)")
    parser.add_argument("--handoff-timeout-ms", type=int, default=30000,
                        help="revenantd's handoff.timeout_ms")
    add_note(parser)
    parser.add_argument("--skip", action="append", default=[],
                        choices=("notice", "sessions"),
                        help="leave a measurement out (repeatable)")
    args = parser.parse_args(argv)
    if args.runs is None:
        args.runs = 3 if args.quick else 30
    if args.sessions is None:
        args.sessions = 10 if args.quick else 200
    if not 1 <= args.runs <= 100 or not 1 <= args.sessions <= 1000:
        parser.error("--runs must be 1..100 and --sessions 1..1000")
    if not 100 <= args.handoff_timeout_ms <= 600000:
        parser.error("--handoff-timeout-ms must be 100..600000")
    return args


def main(argv):
    args = parse_args(argv)
    if not_root("adopt", "namespaces, hugepages, TCP_REPAIR"):
        return 1
    try:
        build_dir()
        lab_modules()
    except BenchError as err:
        print(f"tools/bench adopt: {err}", file=sys.stderr)
        return 1
    command = command_line("adopt", argv)
    sections, problems = [], []
    started = time.monotonic()
    user = BenchUser()
    try:
        if "sessions" not in args.skip:
            raise_nofile(args.sessions)
            log(f"sessions: {args.sessions} idle sessions in one migration")
            r = with_lab(user, args.handoff_timeout_ms,
                         lambda bench: sessions_run(bench, args.sessions))
            problems += [f"sessions: {p}" for p in problems_of_sessions(r)]
            log(f"sessions: {r['adopted']} of {args.sessions} adopted, last notice "
                f"{ms(max(r['notice_s'], default=None))} ms after the command")
            # Printed also when sessions were lost: the counts are the result.
            sections.append((f"{args.sessions} idle sessions in one migration",
                             format_sessions(r)))
        if "notice" not in args.skip:
            runs = []
            for i in range(args.runs):
                try:
                    r = with_lab(user, args.handoff_timeout_ms, notice_run)
                except BenchError as err:
                    # The other runs still show whether the failure repeats.
                    problems.append(f"notice run {i + 1}: {err}")
                    log(f"notice run {i + 1}/{args.runs}: failed")
                    continue
                problems += [f"notice run {i + 1}: {p}" for p in r["problems"]]
                log(f"notice run {i + 1}/{args.runs}: notice {ms(r['notice_s'])} ms "
                    "after the command")
                runs.append(r)
            if runs:
                sections.append((f"Command to notice line, one session, {len(runs)} runs",
                                 format_notice(runs)))
    except (BenchError, subprocess.SubprocessError, OSError) as err:
        print(f"tools/bench adopt: {err}", file=sys.stderr)
        return 1
    finally:
        user.remove()
    log(f"done in {time.monotonic() - started:.0f} s")
    for problem in problems:
        print(f"tools/bench adopt: check failed: {problem}", file=sys.stderr)

    setup = SETUP.format(max_startups=MAX_STARTUPS, timeout=args.handoff_timeout_ms) + "\n"
    publish(args.quick, "SSH adoption", command,
            sections_body(sections, args.note, setup), checks_failed=bool(problems))
    return 1 if problems or not sections else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
