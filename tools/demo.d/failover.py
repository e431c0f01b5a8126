# SPDX-License-Identifier: BSD-3-Clause
"""tools/demo: a live SSH session survives the crash of its server host.

Run by tools/demo after tools/setup, as root, with /usr/bin/python3. It
builds a lab (tools/lab), starts revenantd with failure detection on, the
patched sshd on the primary (checkpoints on) and on the backup (adopting)
and revenant-agent on the backup, each sshd in a UTS namespace named after
its host. Debian's /usr/bin/ssh logs in through a pty and runs a clock that
prints the serving host's name. The primary then crashes: its switch port
is cut, then its sshd and every process below it are killed with SIGKILL.
revenantd notices the missing ARP replies, fences the primary and moves the
connection to the backup, whose sshd prints a notice and starts a new login
shell on the same TCP connection. The demo types the clock command again
and shows the ticks coming from the backup.

The lab helpers of tests/integration do the set-up (the same as
tests/integration/test_ssh_adopt.py). Everything made here is removed on
exit, also on SIGTERM (tools/demo forwards Ctrl-C as SIGTERM).

Argument: a file to write the lab's prefix to once the lab is up, so that
tools/demo can remove the lab if this process dies before its own cleanup.
"""

import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests" / "integration"))

import pexpect  # noqa: E402
import pytest  # noqa: E402

from appliance import REVENANTCTL  # noqa: E402
from lab import Lab, LabError  # noqa: E402
from test_ssh_adopt import KEYGEN, SSHD, AdoptLab  # noqa: E402

# Not the tests' user, so that a test run at the same time cannot remove
# it under the demo, nor the demo under the test.
USER = "rvdemouser"

CLOCK = 'while :; do echo "$(hostname) $(date +%T.%3N)"; sleep 0.2; done'
# A tick may follow the prompt of the line where the command was typed.
TICK = re.compile(r"(?:^|\$ )(primary|backup) \d\d:\d\d:\d\d\.\d{3}$")
NOTICE = ("revenant: session resumed on backup after the primary failed; "
          "the previous shell ended")
# Seconds of ticks from the primary before the crash, and from the backup
# after it.
TICKS_BEFORE_S = 4.0
TICKS_AFTER_S = 2.0
# Detection takes 3 probes of 100 ms. The rest leaves time for the fence,
# the handoff and the adoption on a loaded machine.
TAKEOVER_TIMEOUT_S = 30.0


class DemoError(RuntimeError):
    """A step of the demo failed. The message names the step."""


def section(title):
    print(f"\n== {title}", flush=True)


def on_sigterm(signum, frame):
    print("\ndemo: interrupted", file=sys.stderr, flush=True)
    raise SystemExit(128 + signum)


def ensure_user():
    """Create the login user if missing. Returns True if it was created."""
    if subprocess.run(["id", "sshd"], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "-r", "-s", "/usr/sbin/nologin", "-d",
                        "/run/sshd", "sshd"], check=True)
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    created = False
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "-r", "-M", "-d", "/tmp", "-s", "/bin/sh",
                        USER], check=True)
        created = True
    # sshd without PAM rejects a locked account ("!") even for key logins.
    subprocess.run(["usermod", "-p", "*", USER], check=True)
    return created


def descendants(pid):
    """Return the PIDs below PID in the process tree."""
    children = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name in brackets may contain spaces and ")".
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_tree(pid):
    """Kill PID and every process below it with SIGKILL."""
    for target in [pid] + descendants(pid):
        try:
            os.kill(target, signal.SIGKILL)
        except ProcessLookupError:
            pass


def ctl(setup, *args):
    """Run revenantctl ARGS in the appliance's namespace and return its stdout."""
    proc = subprocess.run(
        ["ip", "netns", "exec", setup.lab.NS_APPLIANCE, str(REVENANTCTL),
         "-s", str(setup.app.socket), *args],
        capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise DemoError(f"revenantctl {' '.join(args)} failed with exit "
                        f"status {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def primary_detection(setup):
    servers = json.loads(ctl(setup, "servers", "--json"))["servers"]
    return {s["name"]: s for s in servers}["primary"]["detection"]


def wait_detection(setup, state, timeout):
    deadline = time.monotonic() + timeout
    while True:
        detection = primary_detection(setup)
        if detection["state"] == state:
            return detection
        if time.monotonic() > deadline:
            raise DemoError(f"the primary is not {state} after {timeout} s: "
                            f"{detection}")
        time.sleep(0.1)


class Terminal:
    """Debian's ssh in a pty, whose lines are printed with the time since the crash."""

    def __init__(self, child):
        self.child = child
        self.crash = None
        # Host name -> time.monotonic() of its last tick.
        self.last_tick = {}

    def stamp(self):
        if self.crash is None:
            return "          "
        return f"[{time.monotonic() - self.crash:+7.3f} s]"

    def read_line(self, deadline):
        """Read and print the next line. Returns it without CR LF, or None at DEADLINE."""
        timeout = max(0.0, deadline - time.monotonic())
        try:
            self.child.expect(r"\r\n", timeout=timeout)
        except pexpect.TIMEOUT:
            return None
        except pexpect.EOF:
            raise DemoError("ssh exited; its last output: "
                            f"{self.child.before[-500:]!r}")
        line = self.child.before.decode(errors="replace")
        print(f"  {self.stamp()} | {line}", flush=True)
        tick = TICK.search(line)
        if tick:
            self.last_tick[tick.group(1)] = time.monotonic()
        return line

    def until(self, match, timeout, description):
        """Read lines until MATCH(line) is true. Returns (line, time.monotonic())."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.read_line(deadline)
            now = time.monotonic()
            if line is None:
                raise DemoError(f"timed out after {timeout} s waiting for the "
                                f"{description}")
            if match(line):
                return line, now

    def ticks_for(self, seconds, host):
        """Show ticks for SECONDS. Returns how many came from HOST."""
        deadline = time.monotonic() + seconds
        count = 0
        while True:
            line = self.read_line(deadline)
            if line is None:
                return count
            tick = TICK.search(line)
            if tick and tick.group(1) == host:
                count += 1


def is_tick_from(host):
    def match(line):
        tick = TICK.search(line)
        return tick is not None and tick.group(1) == host
    return match


def print_log_lines(path, pattern, title):
    lines = [line for line in path.read_text(errors="replace").splitlines()
             if re.search(pattern, line)]
    if lines:
        print(f"{title}:")
        for line in lines:
            print(f"  {line}")


def run(setup, lab):
    section("the lab: client, primary, backup, appliance, and a switch "
            "mirroring to the appliance")
    print(f"lab {lab.prefix}: service address {lab.SERVICE_IP}, client "
          f"{lab.CLIENT_IP}, mirror port {lab.MIRROR_IF}")

    section("starting the patched sshd on the primary (checkpoints on) and "
            "the backup (adopting), revenant-agent on the backup, revenantd "
            "on the mirror")
    setup.start()
    detection = wait_detection(setup, "healthy", 15)
    print(f"revenantd is up; the primary is {detection['state']} "
          "(ARP, neighbour and TCP SYN probes every 100 ms; failed after "
          "3 unanswered rounds)")

    section("opening an SSH session with /usr/bin/ssh (Debian's, "
            "unmodified) and starting a clock")
    child = setup.shell(name="demo")
    ssh_pid = child.pid
    term = Terminal(child)
    child.sendline(CLOCK)
    term.until(is_tick_from("primary"), 15, "tick from the primary")
    ticks = 1 + term.ticks_for(TICKS_BEFORE_S, "primary")
    print(f"ssh (PID {ssh_pid}) received {ticks} ticks from the primary")
    setup.wait_recoverable(1)

    section("revenantctl servers, before the crash")
    print(ctl(setup, "servers"), end="")
    section("revenantctl flows, before the crash")
    print(ctl(setup, "flows"), end="")

    section("crashing the primary: its switch port is cut, then its sshd "
            "and the session's processes are killed")
    last_primary_tick = term.last_tick["primary"]
    term.crash = time.monotonic()
    lab.port_down("primary")
    primary_sshd = setup.children_sshd["primary"]
    kill_tree(primary_sshd.pid)
    primary_sshd.wait()
    print(f"  [{time.monotonic() - term.crash:+7.3f} s] primary is down; "
          "waiting for the backup (the lines below are what ssh prints)")
    _, notice_at = term.until(lambda line: NOTICE in line, TAKEOVER_TIMEOUT_S,
                              "notice from the backup's sshd")

    section("the backup's sshd continues the session with a new login shell; "
            "typing the clock command again")
    child.sendline("PS1='$ '")
    child.sendline(CLOCK)
    _, tick_at = term.until(is_tick_from("backup"), 15,
                            "tick from the backup")
    ticks = 1 + term.ticks_for(TICKS_AFTER_S, "backup")
    if not child.isalive() or child.pid != ssh_pid:
        raise DemoError("the ssh process did not survive the takeover")
    print(f"the same ssh process (PID {ssh_pid}) received {ticks} ticks "
          "from the backup")

    detection = wait_detection(setup, "migrated", 10)
    section("revenantctl servers, after the takeover")
    print(ctl(setup, "servers"), end="")
    section("revenantctl flows, after the takeover")
    print(ctl(setup, "flows"), end="")
    print_log_lines(setup.app.log, r"primary: |taking over|moved",
                    "revenantd's log about the primary")

    section("ending the session")
    child.sendcontrol("c")
    child.sendline("exit 0")
    child.expect(pexpect.EOF, timeout=15)
    child.close()
    if child.exitstatus != 0:
        raise DemoError(f"ssh exited with status {child.exitstatus} after "
                        "the session ended")
    print("ssh exited with status 0")

    section("outage")
    print(f"crash to the backup's notice:           "
          f"{(notice_at - term.crash) * 1000:5.0f} ms")
    print(f"crash to the first tick from the backup: "
          f"{(tick_at - term.crash) * 1000:5.0f} ms "
          "(includes typing the clock command again)")
    print(f"last primary tick to first backup tick:  "
          f"{(tick_at - last_primary_tick) * 1000:5.0f} ms")
    print(f"revenantd's evidence: {detection.get('evidence', '')}")


class DemoSetup(AdoptLab):
    """AdoptLab that remembers each host's sshd, so a crash can kill it."""

    def start(self):
        popen = self.lab.popen
        self.children_sshd = {}

        def recording_popen(host, cmd, **kwargs):
            proc = popen(host, cmd, **kwargs)
            if "unshare" in [str(c) for c in cmd]:
                self.children_sshd[host] = proc
            return proc

        self.lab.popen = recording_popen
        try:
            super().start()
        finally:
            del self.lab.popen


def show_logs(setup):
    for path in (setup.app.log if setup.app else None, setup.primary_log,
                 setup.backup_log, setup.agent_log):
        if path is not None and path.exists():
            text = path.read_text(errors="replace").splitlines()[-15:]
            print(f"demo: last lines of {path.name}:", file=sys.stderr)
            for line in text:
                print(f"  {line}", file=sys.stderr)


def cleanup(setup, lab, user_created):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if setup is not None:
        for child in setup.children:
            if child.isalive():
                child.terminate(force=True)
        # The backup's session processes outlive a stopped listener.
        for proc in getattr(setup, "children_sshd", {}).values():
            if proc.poll() is None:
                kill_tree(proc.pid)
        if setup.app is not None:
            try:
                setup.app.stop()
            except (Exception, pytest.fail.Exception):
                pass
            left = setup.app.cleanup()
            if left:
                print(f"demo: removed hugepage files that revenantd left: "
                      f"{', '.join(left)}", file=sys.stderr)
        if setup.keys is not None:
            shutil.rmtree(setup.keys.dir, ignore_errors=True)
    if lab.is_up or lab.procs:
        lab.down()
    if user_created:
        subprocess.run(["userdel", USER], check=False)


def main():
    signal.signal(signal.SIGTERM, on_sigterm)
    for path in (SSHD, KEYGEN, REVENANTCTL):
        if not path.exists():
            print(f"demo: FAILED: {path} not found: run tools/setup",
                  file=sys.stderr)
            return 1
    lab = Lab()
    setup = None
    user_created = False
    status = 1
    try:
        user_created = ensure_user()
        lab.up()
        if len(sys.argv) > 1:
            Path(sys.argv[1]).write_text(lab.prefix + "\n")
        setup = DemoSetup(lab, USER)
        run(setup, lab)
        status = 0
    except (DemoError, LabError, AssertionError, OSError,
            subprocess.SubprocessError, pexpect.ExceptionPexpect,
            pytest.fail.Exception) as err:
        print(f"\ndemo: FAILED: {err}", file=sys.stderr)
        if setup is not None:
            show_logs(setup)
    finally:
        print("\n== removing the lab, its processes and files", flush=True)
        cleanup(setup, lab, user_created)
    if status == 0:
        print("demo: done: the SSH session survived the crash of its "
              "server host")
    return status


if __name__ == "__main__":
    sys.exit(main())
