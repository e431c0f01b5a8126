# SPDX-License-Identifier: BSD-3-Clause
"""tools/bench migrate: how fast `revenantctl migrate` moves live connections.

Two measurements in one run, each on fresh labs (tools/lab) with the whole
chain of tests/integration/test_migrate.py. revenantd logs the line
service's connections from the mirror. `revenantctl migrate primary`
fences the primary and hands the connections to the backup's
revenant-agent, which restores them with TCP_REPAIR and passes them to a
second line service. revenantd then announces the address with gratuitous
ARP and injects one ACK per connection.

  many   N connections (1,000) of one client process, migrated with one
         command: from the command to the last connection resumed, and the
         agent's time per connection (TCP_REPAIR restore, pass to the
         service). Target: all 1,000 resumed within 1 s.
  stall  One connection, RUNS times (30), a fresh lab each time: from the
         gratuitous ARP at the client to the client's first byte from the
         backup. Target: under 50 ms.

A connection has resumed when the first frame with payload from the
backup's MAC address reaches the client's interface (tcpdump there, kernel
time stamps, CLOCK_REALTIME). The command's start is time.time() just
before revenantctl starts, on the same host and clock.
"""

import argparse
import json
import os
import re
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (REPO_ROOT, BenchError, add_note, add_quick, build_dir,  # noqa: E402
                     command_line, fail_exception, log, log_time, median, ms1,
                     not_root, percentile, publish, sections_body, table,
                     wait_file, wait_stdout)

PYTHON = "/usr/bin/python3"
LINE_SERVICE = REPO_ROOT / "tests" / "integration" / "line_service.py"
PORT = 5000
AGENT_PORT = 7700
# Descriptors for the line services and the client: a thousand sockets and
# a few more, above the usual soft limit of 1,024.
NOFILE = 8192

# The client: opens COUNT connections to HOST:PORT, reads "tick N" lines on
# all of them, checks that each connection's ticks follow on one another,
# and keeps each connection's longest silence between two reads. Prints
# "connected", then "ticking" once every connection has had 2 ticks; on
# "finish" (stdin) prints one JSON result and exits. Bounded by LIMIT s.
CLIENT = r"""
import json, selectors, socket, sys, time
host, port, count, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
sel = selectors.DefaultSelector()
conns = {}
for _ in range(count):
    s = socket.create_connection((host, port), timeout=5)
    s.setblocking(False)
    conns[s.fileno()] = c = {"sock": s, "port": s.getsockname()[1], "buf": b"",
                             "last": 0, "ticks": 0, "errors": 0, "eof": False,
                             "rx": None, "gap": 0.0}
    sel.register(s, selectors.EVENT_READ, c)
sel.register(sys.stdin, selectors.EVENT_READ, None)
print("connected", count, flush=True)
ticking, deadline = False, time.monotonic() + limit
while time.monotonic() < deadline:
    stop = False
    for key, _ in sel.select(timeout=0.1):
        c = key.data
        if c is None:
            stop = sys.stdin.readline().strip() in ("finish", "")
            continue
        try:
            data = c["sock"].recv(65536)
        except BlockingIOError:
            continue
        except OSError as err:
            c["errors"] += 1
            c["eof"] = repr(err)
            sel.unregister(c["sock"])
            continue
        now = time.time()
        if not data:
            c["eof"] = True
            sel.unregister(c["sock"])
            continue
        if c["rx"] is not None:
            c["gap"] = max(c["gap"], now - c["rx"])
        c["rx"] = now
        *lines, c["buf"] = (c["buf"] + data).split(b"\n")
        for line in lines:
            if not line.startswith(b"tick "):
                c["errors"] += 1
                continue
            n = int(line[5:])
            if n != c["last"] + 1:
                c["errors"] += 1
            c["last"] = n
            c["ticks"] += 1
    if not ticking and all(c["ticks"] >= 2 for c in conns.values()):
        ticking = True
        print("ticking", flush=True)
    if stop:
        break
print(json.dumps({str(c["port"]): {"ticks": c["ticks"], "errors": c["errors"],
                                   "eof": c["eof"], "max_gap_ms": c["gap"] * 1000}
                  for c in conns.values()}), flush=True)
"""


def lab_modules():
    """Import the lab helpers of tests/integration (they need pytest)."""
    import pytest  # noqa: F401  (the helpers fail tests with pytest.fail)

    from lab import Lab
    from test_migrate import MigratingAppliance
    from test_agent import Takeover
    return Lab, MigratingAppliance, Takeover


class Run:
    """One lab with the processes of one migration."""

    def __init__(self, lab, appliance_cls, takeover_cls, tick_ms, conns,
                 handoff_timeout_ms):
        self.lab = lab
        self.tick_ms = tick_ms
        self.conns = conns
        self.t = takeover_cls(lab)
        os.chmod(self.t.key, 0o600)
        self.tmp = lab.tmpdir
        self.agent_log = self.tmp / "agent.log"
        self.timeout_ms = handoff_timeout_ms
        run = self

        class Appliance(appliance_cls):
            def write_config(self):
                path = super().write_config()
                # revenantd waits this long for the agent's reply, which
                # comes once every connection is restored.
                path.write_text(path.read_text() +
                                f"  timeout_ms: {run.timeout_ms}\n")
                return path

        self.app = Appliance(lab, self.t.key)
        self.capture = None
        self.client = None

    def service(self, host, name, *args):
        out = self.tmp / f"{name}.out"
        proc = self.lab.popen(host, ["prlimit", f"--nofile={NOFILE}:{NOFILE}", "--",
                                     PYTHON, LINE_SERVICE, "--tick-ms", self.tick_ms,
                                     "--run-limit", 300, *args],
                              stdout=open(out, "w"),
                              stderr=open(self.tmp / f"{name}.err", "w"))
        wait_file(out, "ready", 15, proc)
        return proc

    def start_agent(self):
        lab = self.lab
        # The limits a thousand-connection handoff needs, written out even
        # where they are the defaults.
        config = {
            "listen": f"{lab.MGMT_BACKUP_IP}:{AGENT_PORT}",
            "log_level": "debug",
            "appliances": [{"name": "lab", "public_key": self.t.public_key(self.t.key)}],
            "identities": [
                {"address": addr, "interface": lab.BACKUP_IF, "prefix_len": plen,
                 "services": [{"port": PORT, "socket": str(self.tmp / "adopt.sock")}]}
                for addr, plen in ((lab.SERVICE_IP, 24), (lab.SERVICE_IP6, 64))],
            "limits": {"max_message": "256MiB", "max_connections": 4096,
                       "io_timeout_ms": 30000, "service_timeout_ms": 5000},
        }
        path = self.tmp / "agent.yaml"
        path.write_text(json.dumps(config))   # JSON is YAML
        self.lab.popen("backup", [self.t.send_tool.parent / "revenant-agent", "-f", path],
                       stdout=subprocess.DEVNULL, stderr=open(self.agent_log, "w"))
        wait_file(self.agent_log, "waiting for handoffs", 10)

    def start(self):
        lab = self.lab
        self.service("backup", "backup", "--adopt", self.tmp / "adopt.sock",
                     "--tick-on-adopt")
        self.start_agent()
        self.service("primary", "primary", "--listen", f"{lab.SERVICE_IP}:{PORT}")
        self.app.start()

    def connect(self, limit):
        lab = self.lab
        self.client = lab.popen("client", ["prlimit", f"--nofile={NOFILE}:{NOFILE}", "--",
                                           PYTHON, "-c", CLIENT, lab.SERVICE_IP, PORT,
                                           self.conns, limit],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True)
        wait_stdout(self.client, "connected", 30 + self.conns / 50, "the client")
        wait_stdout(self.client, "ticking", 20, "the client")
        # revenantd must track every connection, recoverable, before the
        # command: it logs them from the mirror, a little behind.
        deadline = time.monotonic() + 20
        while True:
            flows = [f for f in self.app.flows() if f["server"].endswith(f":{PORT}")]
            ready = sum(1 for f in flows if f["recoverable"])
            if ready >= self.conns or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if ready < self.conns:
            raise BenchError(f"revenantd tracks {ready} recoverable connections of "
                             f"{self.conns} ({len(flows)} listed)")

    def start_capture(self):
        lab = self.lab
        path = self.tmp / "client.pcap"
        # Everything but the client's own frames: the server's segments
        # from either host, and the announcements.
        cmd = ["tcpdump", "-n", "-U", "--immediate-mode", "-Z", "root", "-B", "16384",
               "-s", "128", "-i", lab.CLIENT_IF, "-w", path,
               f"not ether src {lab.CLIENT_MAC}"]
        proc = lab.popen("client", cmd, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if "listening on" in line:
                self.capture = (proc, path)
                return
            if not line and proc.poll() is not None:
                break
        raise BenchError("tcpdump on the client's interface did not start")

    def stop_capture(self):
        proc, path = self.capture
        time.sleep(0.3)
        proc.send_signal(2)
        proc.wait(timeout=10)
        drops = 0
        for line in proc.stderr.read().splitlines():
            if "dropped by kernel" in line:
                drops = int(line.split()[0])
        return path, drops

    def migrate(self):
        lab = self.lab
        cmd = ["ip", "netns", "exec", lab.NS_APPLIANCE, str(revenantctl()), "-s",
               str(self.app.socket), "migrate", "primary"]
        t0 = time.time()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)
        t1 = time.time()
        if proc.returncode != 0:
            raise BenchError(f"revenantctl migrate failed ({proc.returncode}):\n"
                             f"{proc.stdout}{proc.stderr}\nrevenantd log:\n"
                             f"{self.app.log_text()[-3000:]}")
        found = re.search(r"summary: (\d+) moved, (\d+) not recoverable, (\d+) failed, "
                          r"in (\d+) ms", proc.stdout)
        if not found:
            raise BenchError(f"no summary line from revenantctl migrate:\n{proc.stdout}")
        moved, unrecoverable, failed, ms = map(int, found.groups())
        return {"t_cmd": t0, "t_ctl_exit": t1, "moved": moved,
                "not_recoverable": unrecoverable, "failed": failed, "summary_ms": ms,
                "output": proc.stdout}

    def finish_client(self):
        self.client.stdin.write("finish\n")
        self.client.stdin.flush()
        out, _ = self.client.communicate(timeout=60)
        lines = out.strip().splitlines()
        if not lines:
            raise BenchError("the client printed no result")
        return json.loads(lines[-1])


def revenantctl():
    return build_dir() / "app" / "revenantctl" / "revenantctl"


# ------------------------------------------------------------ pcap reading

def read_pcap(path):
    """Yield (time s, src MAC, kind, detail) for each frame of a pcap file.

    kind "tcp": detail is (src port, dst port, payload bytes); kind "garp":
    detail is the sender's IPv4 address of a gratuitous ARP (sender and
    target address equal). Other frames are skipped.
    """
    data = Path(path).read_bytes()
    if len(data) < 24:
        return
    magic = struct.unpack_from("<I", data)[0]
    if magic == 0xa1b2c3d4:
        endian, scale = "<", 1e-6
    elif magic == 0xa1b23c4d:
        endian, scale = "<", 1e-9
    else:
        raise BenchError(f"{path}: not a little-endian pcap file")
    record = struct.Struct(endian + "IIII")
    off = 24
    while off + record.size <= len(data):
        sec, frac, caplen, _ = record.unpack_from(data, off)
        off += record.size
        frame = data[off:off + caplen]
        off += caplen
        if len(frame) < 14:
            continue
        when = sec + frac * scale
        src = frame[6:12].hex(":")
        ethertype = struct.unpack_from(">H", frame, 12)[0]
        if ethertype == 0x0806 and len(frame) >= 42:
            # The backup's own ARP requests for the client also carry the
            # service address as sender, but never as target.
            if frame[28:32] == frame[38:42]:
                yield when, src, "garp", socket.inet_ntoa(frame[28:32])
        elif ethertype == 0x0800 and len(frame) >= 34 and frame[23] == 6:
            ihl = (frame[14] & 0x0f) * 4
            total = struct.unpack_from(">H", frame, 16)[0]
            tcp = 14 + ihl
            if len(frame) < tcp + 13:
                continue
            sport, dport = struct.unpack_from(">HH", frame, tcp)
            doff = (frame[tcp + 12] >> 4) * 4
            yield when, src, "tcp", (sport, dport, total - ihl - doff)


def client_timeline(path, lab, t_cmd):
    """Read the client's capture: when each connection heard from which host.

    Returns (last payload time from the primary per client port, payload
    times from the backup per client port, time of the first gratuitous
    ARP for the service address from the backup's MAC after T_CMD or None).
    """
    primary, backup = lab.PRIMARY_MAC.lower(), lab.BACKUP_MAC.lower()
    last_primary, from_backup, garp = {}, {}, None
    for when, src, kind, detail in read_pcap(path):
        if kind == "garp":
            if src == backup and detail == lab.SERVICE_IP and when >= t_cmd and garp is None:
                garp = when
            continue
        sport, dport, payload = detail
        if sport != PORT or payload <= 0:
            continue
        if src == primary:
            last_primary[dport] = when
        elif src == backup:
            from_backup.setdefault(dport, []).append(when)
    return last_primary, from_backup, garp


# ------------------------------------------------------------ log reading

RESTORE_LINE = re.compile(r"socket restored in (\d+) us, passed to the service in (\d+) us")


def revenantd_phases(text):
    """Wall-clock times (s) of the migration's log lines, by phase."""
    marks = {}
    for line in text.splitlines():
        if "migration " not in line:
            continue
        when = log_time(line)
        for key, needle in (("fence_start", "fence: running"), ("fence_done", "fence: done"),
                            ("handoff", "handoff: " + "198.51.100."),
                            ("announced", "announce: "), ("summary", "summary: ")):
            if needle in line and key not in marks:
                marks[key] = when
    return marks


def agent_times(text):
    """Per-connection microseconds: (restores, passes to the service)."""
    restore, passing = [], []
    for found in RESTORE_LINE.finditer(text):
        restore.append(int(found.group(1)))
        passing.append(int(found.group(2)))
    return restore, passing


# ------------------------------------------------------------ one migration

def one_migration(conns, tick_ms, settle, handoff_timeout_ms):
    """Run one migration of CONNS connections on a fresh lab; return its numbers."""
    Lab, MigratingAppliance, Takeover = lab_modules()
    with Lab() as lab:
        run = Run(lab, MigratingAppliance, Takeover, tick_ms, conns, handoff_timeout_ms)
        try:
            run.start()
            run.connect(limit=120)
            run.start_capture()
            time.sleep(max(0.3, 3 * tick_ms / 1000))
            result = run.migrate()
            time.sleep(settle)
            client = run.finish_client()
            pcap, drops = run.stop_capture()
            last_primary, from_backup, garp = client_timeline(pcap, lab,
                                                              result["t_cmd"])
            agent_log = run.agent_log.read_text(errors="replace")
            app_log = run.app.log_text()
        finally:
            if run.app.is_running():
                run.app.stop()
            run.app.cleanup()
    restore_us, pass_us = agent_times(agent_log)
    t_cmd = result["t_cmd"]
    ports = [int(p) for p in client]
    first_backup = {p: times[0] for p, times in from_backup.items()}
    after_garp = [min((w for w in from_backup.get(p, []) if w >= garp), default=None)
                  for p in ports] if garp is not None else []
    resumed = [first_backup[p] - t_cmd for p in ports if p in first_backup]
    silences = [first_backup[p] - last_primary[p] for p in ports
                if p in first_backup and p in last_primary]
    result.update({
        "conns": conns, "client": client, "capture_drops": drops,
        "resumed_s": resumed, "silence_s": silences,
        "garp_s": None if garp is None else garp - t_cmd,
        "garp_to_first_s": [first_backup[p] - garp for p in ports
                            if garp is not None and p in first_backup],
        "after_garp_s": [w - garp for w in after_garp if w is not None],
        "second_s": [from_backup[p][1] - t_cmd for p in ports
                     if len(from_backup.get(p, [])) > 1],
        "restore_us": restore_us, "pass_us": pass_us,
        "adopted": agent_log.count("restored and adopted"),
        "phases": {k: v - t_cmd for k, v in revenantd_phases(app_log).items()
                   if v is not None},
    })
    return result


def problems_of(r):
    """List the reasons a migration's numbers cannot be used."""
    problems = []
    if r["moved"] != r["conns"] or r["failed"] or r["not_recoverable"]:
        problems.append(f"revenantctl: {r['moved']} moved, {r['not_recoverable']} not "
                        f"recoverable, {r['failed']} failed of {r['conns']}")
    if r["adopted"] != r["conns"]:
        problems.append(f"agent adopted {r['adopted']} of {r['conns']} connections")
    if len(r["resumed_s"]) != r["conns"]:
        problems.append(f"{len(r['resumed_s'])} of {r['conns']} connections received "
                        "bytes from the backup")
    bad = {p: c for p, c in r["client"].items() if c["errors"] or c["eof"]}
    if bad:
        port, c = next(iter(bad.items()))
        problems.append(f"{len(bad)} connections lost, repeated or reordered ticks or "
                        f"ended (e.g. port {port}: {c})")
    if r["garp_s"] is None:
        problems.append("no gratuitous ARP from the backup's MAC seen at the client")
    if r["capture_drops"]:
        problems.append(f"tcpdump on the client dropped {r['capture_drops']} frames")
    return problems


def us(value):
    return f"{value:,.0f}"


def format_many(r):
    phases = r["phases"]
    rows = [
        ("connections migrated (moved / not recoverable / failed)",
         f"{r['moved']} / {r['not_recoverable']} / {r['failed']}"),
        ("command to last connection resumed", f"{ms1(max(r['resumed_s']))} ms"),
        ("command to first connection resumed", f"{ms1(min(r['resumed_s']))} ms"),
        ("command to resumed, median / p99", f"{ms1(median(r['resumed_s']))} / "
         f"{ms1(percentile(r['resumed_s'], 99))} ms"),
        ("command to second frame with payload from the backup, median / p99 / max",
         f"{ms1(median(r['second_s']))} / {ms1(percentile(r['second_s'], 99))} / "
         f"{ms1(max(r['second_s'], default=float('nan')))} ms"),
        ("revenantctl's summary (\"in N ms\")", f"{r['summary_ms']:,} ms"),
        ("command to revenantctl exit", f"{ms1(r['t_ctl_exit'] - r['t_cmd'])} ms"),
        ("agent: TCP_REPAIR restore per connection, median / p99",
         f"{us(median(r['restore_us']))} / {us(percentile(r['restore_us'], 99))} us"),
        ("agent: pass to the line service per connection, median / p99",
         f"{us(median(r['pass_us']))} / {us(percentile(r['pass_us'], 99))} us"),
        ("client silence per connection (last primary byte to first backup byte), "
         "median / p99", f"{ms1(median(r['silence_s']))} / "
         f"{ms1(percentile(r['silence_s'], 99))} ms"),
        ("target: all resumed within 1 s",
         "met" if max(r["resumed_s"]) <= 1.0 else "NOT met"),
    ]
    body = table(("quantity", "value"), rows)
    if phases:
        body += ("\nPhases in revenantd's log (ms after the command, millisecond "
                 "time stamps): " + ", ".join(f"{k.replace('_', ' ')} {ms1(v)}"
                                              for k, v in sorted(phases.items(),
                                                                 key=lambda kv: kv[1]))
                 + f"; gratuitous ARP at the client {ms1(r['garp_s'])}.\n")
    return body


def format_stall(runs):
    stall = [min(r["garp_to_first_s"]) for r in runs]
    after = [r["after_garp_s"][0] for r in runs if r["after_garp_s"]]
    silence = [r["silence_s"][0] for r in runs if r["silence_s"]]
    resumed = [r["resumed_s"][0] for r in runs]
    rows = [
        ("gratuitous ARP to first byte from the backup (negative: the backup spoke first)",
         f"{ms1(median(stall))}", f"{ms1(percentile(stall, 99))}", f"{ms1(max(stall))}"),
        ("gratuitous ARP to next byte from the backup after it",
         f"{ms1(median(after))}", f"{ms1(percentile(after, 99))}", f"{ms1(max(after))}"),
        ("client silence: last primary byte to first backup byte",
         f"{ms1(median(silence))}", f"{ms1(percentile(silence, 99))}", f"{ms1(max(silence))}"),
        ("command to first byte from the backup",
         f"{ms1(median(resumed))}", f"{ms1(percentile(resumed, 99))}", f"{ms1(max(resumed))}"),
        ("command to second byte from the backup",
         *(f"{ms1(f(v))}" for f, v in ((median, [r['second_s'][0] for r in runs if r['second_s']]),
                                      (lambda x: percentile(x, 99),
                                       [r['second_s'][0] for r in runs if r['second_s']]),
                                      (max, [r['second_s'][0] for r in runs if r['second_s']])))),
        ("command to gratuitous ARP at the client",
         *(f"{ms1(f(v))}" for f, v in ((median, [r['garp_s'] for r in runs]),
                                      (lambda x: percentile(x, 99), [r['garp_s'] for r in runs]),
                                      (max, [r['garp_s'] for r in runs])))),
    ]
    body = table(("quantity (ms)", "median", "p99", "max"), rows)
    worst = percentile(after, 99)
    body += (f"\nTarget: stall under 50 ms: {'met' if worst < 0.050 else 'NOT met'} "
             "(the p99 of the second row: from the gratuitous ARP to the client's "
             "next byte from the backup).\n")
    return body


def measure_stall_run(tick_ms, handoff_timeout_ms):
    r = one_migration(1, tick_ms, settle=0.5, handoff_timeout_ms=handoff_timeout_ms)
    return r


SETUP = """\
Set-up: tools/lab with the chain of tests/integration/test_migrate.py, a
fresh lab per migration. The line service ticks every {tick} ms per
connection (the stall runs: every {stall_tick} ms); the backup's instance
runs with --tick-on-adopt, so an adopted connection sends at once. A
connection has resumed when its first frame with payload from the backup's
MAC reaches the client's interface (tcpdump there); times count from
time.time() just before `revenantctl migrate` starts. The agent's times
come from its debug line per connection ("socket restored in N us, passed
to the service in N us"). Limits raised for the run: the agent's
max_connections 4096, max_message 256MiB, io_timeout_ms 30000,
service_timeout_ms 5000; revenantd's handoff.timeout_ms {timeout}; {nofile}
file descriptors for the line services and the client (prlimit).
"""


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="tools/bench migrate",
                                     description=__doc__.splitlines()[0])
    add_quick(parser, "20 connections and 3 stall runs; BENCHMARKS.md untouched")
    parser.add_argument("--connections", type=int, default=None,
                        help="connections of the many case (default 1000, quick 20)")
    parser.add_argument("--runs", type=int, default=None,
                        help="runs of the stall case (default 30, quick 3)")
    parser.add_argument("--tick-ms", type=int, default=200,
                        help="tick interval of the line service in the many case, ms")
    parser.add_argument("--stall-tick-ms", type=int, default=20,
                        help="tick interval of the line service in the stall case, ms")
    parser.add_argument("--handoff-timeout-ms", type=int, default=30000,
                        help="revenantd's handoff.timeout_ms")
    add_note(parser)
    parser.add_argument("--skip", action="append", default=[], choices=("many", "stall"),
                        help="leave a measurement out (repeatable)")
    args = parser.parse_args(argv)
    if args.connections is None:
        args.connections = 20 if args.quick else 1000
    if args.runs is None:
        args.runs = 3 if args.quick else 30
    if not 1 <= args.connections <= 4000 or not 1 <= args.runs <= 100:
        parser.error("--connections must be 1..4000 and --runs 1..100")
    return args


def main(argv):
    args = parse_args(argv)
    if not_root("migrate", "namespaces, hugepages, TCP_REPAIR"):
        return 1
    build_dir()
    command = command_line("migrate", argv)
    sections, problems = [], []
    started = time.monotonic()
    try:
        if "many" not in args.skip:
            log(f"many: {args.connections} connections, ticks every {args.tick_ms} ms")
            r = one_migration(args.connections, args.tick_ms, settle=2.0,
                              handoff_timeout_ms=args.handoff_timeout_ms)
            problems += [f"many: {p}" for p in problems_of(r)]
            if r["resumed_s"]:
                log(f"many: last resumed {ms1(max(r['resumed_s']))} ms after the command")
                sections.append((f"{args.connections} connections in one migration",
                                 format_many(r)))
        if "stall" not in args.skip:
            runs = []
            for i in range(args.runs):
                r = measure_stall_run(args.stall_tick_ms, args.handoff_timeout_ms)
                problems += [f"stall run {i + 1}: {p}" for p in problems_of(r)]
                if r["garp_to_first_s"]:
                    log(f"stall run {i + 1}/{args.runs}: ARP to first backup byte "
                        f"{ms1(r['garp_to_first_s'][0])} ms, silence "
                        f"{ms1(r['silence_s'][0]) if r['silence_s'] else '?'} ms")
                    runs.append(r)
            if runs:
                sections.append((f"Stall of one client, {len(runs)} runs",
                                 format_stall(runs)))
    except (BenchError, subprocess.SubprocessError, OSError) as err:
        print(f"tools/bench migrate: {err}", file=sys.stderr)
        return 1
    except fail_exception() as err:
        print(f"tools/bench migrate: {err}", file=sys.stderr)
        return 1
    log(f"done in {time.monotonic() - started:.0f} s")
    for problem in problems:
        print(f"tools/bench migrate: check failed: {problem}", file=sys.stderr)

    setup = SETUP.format(tick=args.tick_ms, stall_tick=args.stall_tick_ms,
                         timeout=args.handoff_timeout_ms, nofile=NOFILE) + "\n"
    publish(args.quick, "Forced migration", command,
            sections_body(sections, args.note, setup), checks_failed=bool(problems))
    return 1 if problems or not sections else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
