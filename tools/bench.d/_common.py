# SPDX-License-Identifier: BSD-3-Clause
"""Helpers shared by the benchmark cases of tools/bench.

A case module imports this one for: the machine description, running
revenantd with a generated configuration and reading its counters, running
dpdk-testpmd, and appending a dated section to BENCHMARKS.md.
"""

import calendar
import json
import os
import platform
import re
import selectors
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS_MD = REPO_ROOT / "BENCHMARKS.md"
PYTHON = "/usr/bin/python3"

sys.path.insert(0, str(REPO_ROOT / "tests" / "integration"))


class BenchError(RuntimeError):
    """A benchmark step failed; the message names the step and the cause."""


def log(message):
    """Print a progress line to stderr, so stdout carries only results."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


def build_dir():
    """Return the meson build directory holding revenantd (REVENANT_BUILD_DIR, default build/)."""
    path = Path(os.environ.get("REVENANT_BUILD_DIR", REPO_ROOT / "build")).resolve()
    if not (path / "app" / "revenantd" / "revenantd").exists():
        raise BenchError(f"{path}/app/revenantd/revenantd not found: build it "
                         "(meson setup DIR && ninja -C DIR) and set REVENANT_BUILD_DIR=DIR")
    return path


def median(values):
    return statistics.median(values) if values else float("nan")


def dpdk_version():
    proc = subprocess.run(["pkg-config", "--modversion", "libdpdk"],
                          capture_output=True, text=True)
    return proc.stdout.strip() or "unknown"


def machine():
    """Return a dict describing the machine: cores, CPU model, kernel, DPDK."""
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "dpdk": dpdk_version(),
    }


def make_tmpdir(name):
    return Path(tempfile.mkdtemp(prefix=f"revenant-bench-{name}-"))


def remove_tree(path):
    if path is None or not Path(path).exists():
        return
    for child in sorted(Path(path).rglob("*"), reverse=True):
        if child.is_dir() and not child.is_symlink():
            child.rmdir()
        else:
            child.unlink()
    Path(path).rmdir()


def gen_pcap(profile, path, *args):
    """Run tools/gen-pcap PROFILE -o PATH ARGS...; return the frame count."""
    cmd = [PYTHON, str(REPO_ROOT / "tools" / "gen-pcap"), profile, "-o", str(path),
           *[str(a) for a in args]]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise BenchError(f"{shlex.join(cmd)} failed: {proc.stderr.strip()}")
    return int(proc.stdout.strip())


def stop_process(proc, timeout=10):
    """Stop PROC (a Popen we started) with SIGTERM, then SIGKILL after TIMEOUT seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


REVENANTD_CONFIG = """\
# Written by tools/bench for one run.
log_level: {log_level}
control_socket: {socket}
eal:
  args:
    - --no-pci
    - --huge-unlink
    - --file-prefix={file_prefix}
    - -l
    - "0-1"
ports:
  capture: "{capture}"
  inject: "{inject}"
  rx_ring_size: {rx_ring}
  burst_size: {burst}
  mbufs: {mbufs}
checkpoints:
  export_port: 7022
memory:
  max_flows: {max_flows}
  flow_log_max: 1MiB
  log_total_max: {log_total_max}
  gap_timeout_ms: 500
  idle_timeout_s: 7200
  closed_linger_s: 30
stats_interval_s: 0
backups:
  - name: backup
    agent: 203.0.113.3:7700
servers:
  - name: primary
    addresses: [{addresses}]
    ports: [22]
    backup: backup
"""


def remove_dpdk_runtime(prefix):
    """Remove the runtime directory that a DPDK process of PREFIX leaves behind."""
    shutil.rmtree(f"/var/run/dpdk/{prefix}", ignore_errors=True)


class Revenantd:
    """One revenantd process with a configuration written for the benchmark.

    PREFIX names its DPDK files (--file-prefix, unlinked at once by
    --huge-unlink) and its control socket. NETNS, if set, is the network
    namespace it runs in.
    """

    def __init__(self, workdir, prefix, capture, inject="net_null0", mbufs=8192,
                 rx_ring=1024, burst=32, max_flows=16384, log_total_max="128MiB",
                 addresses=("198.51.100.2",), netns=None):
        self.workdir = Path(workdir)
        self.prefix = prefix
        self.socket = self.workdir / f"{prefix}.sock"
        self.config = self.workdir / f"{prefix}.yaml"
        self.log_path = self.workdir / f"{prefix}.log"
        self.netns = netns
        self.proc = None
        self.config.write_text(REVENANTD_CONFIG.format(
            log_level="info", socket=self.socket, file_prefix=prefix,
            capture=capture, inject=inject, rx_ring=rx_ring, burst=burst,
            mbufs=mbufs, max_flows=max_flows, log_total_max=log_total_max,
            addresses=", ".join(addresses)))
        bins = build_dir()
        self.revenantd = bins / "app" / "revenantd" / "revenantd"
        self.revenantctl = bins / "app" / "revenantctl" / "revenantctl"

    def _wrap(self, cmd):
        return (["ip", "netns", "exec", self.netns] if self.netns else []) + cmd

    def start(self, timeout=30):
        """Start revenantd and return once its control socket responds."""
        self.logfile = open(self.log_path, "w")
        self.proc = subprocess.Popen(self._wrap([str(self.revenantd), "-c", str(self.config)]),
                                     stdin=subprocess.DEVNULL, stdout=self.logfile,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"revenantd exited with status {self.proc.returncode} "
                                 f"during start-up; its log:\n{self.log_tail()}")
            if self.socket.exists():
                try:
                    self.stats()
                    return self
                except BenchError:
                    pass
            time.sleep(0.2)
        self.stop()
        raise BenchError(f"revenantd did not answer on {self.socket} within {timeout} s; "
                         f"its log:\n{self.log_tail()}")

    def log_tail(self, lines=20):
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stats(self):
        """Return revenantctl stats --json as a dict."""
        cmd = [str(self.revenantctl), "-s", str(self.socket), "-t", "5", "stats", "--json"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=15,
                              stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise BenchError(f"{shlex.join(cmd)} failed with exit status "
                             f"{proc.returncode}: {proc.stderr.strip()}")
        try:
            return json.loads(proc.stdout)
        except json.JSONDecodeError as err:
            raise BenchError(f"revenantctl stats --json returned invalid JSON ({err}): "
                             f"{proc.stdout[:200]!r}") from err

    def check_alive(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise BenchError(f"revenantd exited with status {self.proc.returncode}; "
                             f"its log:\n{self.log_tail()}")

    def stop(self):
        stop_process(self.proc)
        if getattr(self, "logfile", None):
            self.logfile.close()
            self.logfile = None
        remove_dpdk_runtime(self.prefix)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


def revenantd_rate(workdir, prefix, vdev, mbufs, warmup, duration):
    """Run revenantd on VDEV; return (frames per second, last stats).

    The rate is capture.frames over DURATION seconds after WARMUP seconds,
    timed by the daemon's own uptime_ns.
    """
    with Revenantd(workdir, prefix, vdev, mbufs=mbufs) as daemon:
        time.sleep(warmup)
        first = daemon.stats()
        time.sleep(duration)
        last = daemon.stats()
        daemon.check_alive()
    frames = last["capture"]["frames"] - first["capture"]["frames"]
    seconds = (last["uptime_ns"] - first["uptime_ns"]) / 1e9
    return frames / seconds, last


TESTPMD_RX = re.compile(r"RX-packets:\s*(\d+)")


def testpmd_rate(prefix, vdev, mbufs, warmup, duration, rx_ring=1024, burst=32):
    """Run dpdk-testpmd in rxonly mode on VDEV; return its RX packets per second.

    testpmd runs interactively on a pseudo-terminal: start, wait WARMUP
    seconds, read the port counters, wait DURATION seconds, read them again.
    The interval is timed here, around the two reads.
    """
    import pexpect

    cmd = ["dpdk-testpmd", "-l", "0-1", "--no-pci", f"--file-prefix={prefix}",
           "--huge-unlink", f"--vdev={vdev}", "--", "-i", "--forward-mode=rxonly",
           f"--total-num-mbufs={mbufs}", f"--rxd={rx_ring}", f"--burst={burst}"]
    child = pexpect.spawn(cmd[0], cmd[1:], encoding="utf-8", timeout=30)
    try:
        child.expect("testpmd> ")
        child.sendline("start")
        child.expect("testpmd> ")
        time.sleep(warmup)

        def rx_packets():
            child.sendline("show port stats 0")
            child.expect("testpmd> ")
            found = TESTPMD_RX.search(child.before)
            if not found:
                raise BenchError(f"testpmd printed no RX-packets: {child.before[-300:]!r}")
            return int(found.group(1)), time.monotonic()

        first, t0 = rx_packets()
        time.sleep(duration)
        last, t1 = rx_packets()
        child.sendline("stop")
        child.expect("testpmd> ")
        child.sendline("quit")
        child.expect(pexpect.EOF, timeout=30)
    except pexpect.ExceptionPexpect as err:
        raise BenchError(f"{shlex.join(cmd)} failed: {err.__class__.__name__}; "
                         f"last output: {str(child.before)[-500:]!r}") from err
    finally:
        if child.isalive():
            child.terminate(force=True)
        remove_dpdk_runtime(prefix)
    return (last - first) / (t1 - t0)


BENCHMARKS_INTRO = """\
# Benchmarks

Measured numbers for revenant, one dated section per run, newest last.
Each section gives the exact command, the machine and the numbers.

Run them as root from the top of the repository, after building
(`meson setup build-bench && ninja -C build-bench`):

    REVENANT_BUILD_DIR=build-bench tools/bench capture

`tools/bench --help` lists the cases. Each case prints its results and
appends a section here; `--quick` runs a few seconds of each step for a
smoke test and writes nothing here.

Unless a section says otherwise, a number is the median of the repeated
measurements of one run, and a ratio is the ratio of two such medians. The
runs so far come from a 2-core virtual machine shared with other jobs, so
expect differences of tens of percent between runs; compare ratios taken in
the same run, not absolute numbers across runs.
"""


def append_section(title, command, body):
    """Append a dated section with the command and the machine to BENCHMARKS.md."""
    info = machine()
    if not BENCHMARKS_MD.exists():
        BENCHMARKS_MD.write_text(BENCHMARKS_INTRO)
    text = BENCHMARKS_MD.read_text()
    if not text.endswith("\n"):
        text += "\n"
    text += (f"\n## {title}, {time.strftime('%Y-%m-%d %H:%M %Z')}\n\n"
             f"Command: `{command}`\n\n"
             f"Machine: {info['nproc']} cores, {info['cpu']}, Linux {info['kernel']}, "
             f"DPDK {info['dpdk']}\n\n{body.rstrip()}\n")
    BENCHMARKS_MD.write_text(text)


def table(header, rows):
    """Format a Markdown table from a header tuple and rows of cells."""
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------ shared by the lab cases

LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3})Z ")


def percentile(values, p):
    """Return the nearest-rank P-th percentile of VALUES (NaN when empty)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def ms(seconds):
    """Format SECONDS as whole milliseconds, "-" for None."""
    return "-" if seconds is None else f"{seconds * 1000:,.0f}"


def ms1(seconds):
    """Format SECONDS as milliseconds with one decimal, "-" for None."""
    return "-" if seconds is None else f"{seconds * 1000:,.1f}"


def ms2(seconds):
    """Format SECONDS as milliseconds with two decimals, "-" for None."""
    return "-" if seconds is None else f"{seconds * 1000:,.2f}"


def log_time(line):
    """Return the CLOCK_REALTIME seconds of a revenant log line, or None."""
    found = LOG_TIME.match(line)
    if not found:
        return None
    whole, millis = found.groups()
    return calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) + int(millis) / 1000


def descendants(pid):
    """Return PID and the PIDs of all its descendants, read from /proc."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # The command name in brackets may contain spaces: the state and
        # the parent's PID follow the last closing bracket.
        fields = text[text.rindex(")") + 2:].split()
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def kill_tree(pid):
    """SIGKILL PID (a process the benchmark started) and its descendants."""
    for target in descendants(pid):
        try:
            os.kill(target, signal.SIGKILL)
        except ProcessLookupError:
            pass


def fail_exception():
    """Return the exception the tests/integration helpers raise through pytest.fail."""
    import pytest
    return pytest.fail.Exception


def wait_file(path, text, timeout, proc=None):
    """Wait until the file PATH contains TEXT (at most TIMEOUT s, less if PROC exits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.05)
    content = path.read_text(errors="replace")[-2000:] if path.exists() else "(none)"
    raise BenchError(f"{path.name}: no {text!r} within {timeout} s:\n{content}")


def wait_stdout(proc, word, timeout, name):
    """Read PROC's stdout lines until one starts with WORD (bounded); return it.

    NAME names PROC in the error raised when no such line comes.
    """
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                break
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith(word):
                return line
    finally:
        sel.close()
    raise BenchError(f"{name}: no {word!r} line within {timeout} s")


# ------------------------------------------------------------ the run of a case

def add_quick(parser, help_text):
    """Add the --quick option, described by HELP_TEXT, to an argparse PARSER."""
    parser.add_argument("--quick", action="store_true", help=help_text)


def add_note(parser):
    """Add the --note option (a sentence for the section) to an argparse PARSER."""
    parser.add_argument("--note", default="",
                        help="a sentence added to the section, e.g. about the build")


def not_root(case, needs):
    """Print why CASE must run as root (NEEDS) and return True, unless it runs as root."""
    if os.geteuid() == 0:
        return False
    print(f"tools/bench {case}: must run as root ({needs})", file=sys.stderr)
    return True


def command_line(case, argv):
    """Return the command that ran CASE with ARGV, as BENCHMARKS.md shows it."""
    return f"tools/bench {case}" + (" " + shlex.join(argv) if argv else "")


def sections_body(sections, note="", preamble=""):
    """Return NOTE (if any), PREAMBLE and the (title, text) SECTIONS as Markdown."""
    body = f"{note.strip()}\n\n" if note.strip() else ""
    body += preamble
    for title, text in sections:
        body += f"### {title}\n\n{text}\n"
    return body


def publish(quick, title, command, body, checks_failed=False):
    """Print BODY; append it as section TITLE to BENCHMARKS.md unless QUICK or CHECKS_FAILED."""
    print(body)
    if quick:
        log("--quick: BENCHMARKS.md not written")
    elif not checks_failed:
        append_section(title, command, body)
        log("results appended to BENCHMARKS.md")
    else:
        log("checks failed: BENCHMARKS.md not written")
