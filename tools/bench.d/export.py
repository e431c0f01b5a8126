# SPDX-License-Identifier: BSD-3-Clause
"""tools/bench export: what checkpoint export costs the patched sshd.

Two instances of the same patched sshd (build/ssh/sshd, or sshd in the
directory that REVENANT_SSH_DIR names) run side by side in
a server namespace, one with RevenantCheckpoints yes and one with no, and
Debian's /usr/bin/ssh connects from a client namespace over a veth pair.
Measured in one run, alternating between the two servers:
  setup       connect, authenticate with a key, run `true`, disconnect;
              --connections times per server. Median seconds per connection.
  throughput  one connection moving --megabytes MiB from server to client
              and the same back; median MB/s of --repeat runs per direction.
The ratios (export on / export off) are what the targets apply to: set-up
ratio <= 1.05, throughput ratio >= 0.97.
"""

import argparse
import os
import pwd
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (REPO_ROOT, BenchError, command_line, log, median,  # noqa: E402
                     not_root, publish, stop_process, table)

# The patched OpenSSH programs: ssh-patch/build writes them to build/ssh;
# REVENANT_SSH_DIR names another directory holding sshd and ssh-keygen.
SSH_DIR = Path(os.environ.get("REVENANT_SSH_DIR", REPO_ROOT / "build" / "ssh")).resolve()
SSHD = SSH_DIR / "sshd"
SSH_KEYGEN = SSH_DIR / "ssh-keygen"
DEBIAN_SSH = "/usr/bin/ssh"
SERVER_IP = "198.51.100.10"
CLIENT_IP = "198.51.100.1"
EXPORT_IP = "198.51.100.2"
EXPORT_PORT = 7000
PORTS = {"on": 2222, "off": 2223}
USER = "rvexuser"
SET_UP_TARGET = 1.05
THROUGHPUT_TARGET = 0.97
FULL_DEFAULTS = {"connections": 100, "megabytes": 200, "repeat": 3}
QUICK_DEFAULTS = {"connections": 10, "megabytes": 16, "repeat": 1}

# Drains the export datagrams so that the sender gets no ICMP errors.
DRAIN = ("import socket,sys\n"
         "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
         "s.bind((sys.argv[1],int(sys.argv[2])))\n"
         "while True: s.recv(65535)\n")


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="tools/bench export",
                                     description="Measure the cost of checkpoint export "
                                     "in the patched sshd (see BENCHMARKS.md).")
    parser.add_argument("--quick", action="store_true",
                        help="10 connections and one transfer of 16 MiB per direction "
                        "unless given below; BENCHMARKS.md is not written")
    parser.add_argument("--connections", type=int,
                        help="set-up: connections per server (default 100)")
    parser.add_argument("--megabytes", type=int,
                        help="throughput: MiB per transfer (default 200)")
    parser.add_argument("--repeat", type=int,
                        help="throughput: transfers per server and direction (default 3)")
    args = parser.parse_args(argv)
    defaults = QUICK_DEFAULTS if args.quick else FULL_DEFAULTS
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def run(argv, **kw):
    kw.setdefault("check", True)
    kw.setdefault("capture_output", True)
    kw.setdefault("timeout", 120)
    try:
        return subprocess.run(argv, **kw)
    except subprocess.CalledProcessError as err:
        raise BenchError(f"{shlex.join(argv)} failed: {err.stderr.decode().strip()}") from err


class Bench:
    """The namespaces, the two servers and the client command line."""

    def __init__(self):
        tag = secrets.token_hex(3)
        self.server_ns, self.client_ns = f"rvex{tag}-s", f"rvex{tag}-c"
        self.dir = Path(tempfile.mkdtemp(prefix="revenant-bench-export-"))
        self.dir.chmod(0o755)
        self.procs = []
        self.created_user = False

    def setup(self):
        self._user()
        run(["ip", "netns", "add", self.server_ns])
        run(["ip", "netns", "add", self.client_ns])
        run(["ip", "-n", self.server_ns, "link", "add", "rvexbs", "type", "veth",
             "peer", "name", "rvexbc", "netns", self.client_ns])
        for ns, ifname, addrs in ((self.server_ns, "rvexbs", [SERVER_IP]),
                                  (self.client_ns, "rvexbc", [CLIENT_IP, EXPORT_IP])):
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
            for addr in addrs:
                run(["ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", ifname])
            run(["ip", "-n", ns, "link", "set", ifname, "up"])
        for name in ("host", "user"):
            run([str(SSH_KEYGEN), "-q", "-t", "ed25519", "-N", "", "-f", str(self.dir / name)])
        run([str(recovery_keygen()), "-f", str(self.dir / "recovery"), "-C", "bench"])
        shutil.copy(self.dir / "user.pub", self.dir / "authorized_keys")
        (self.dir / "authorized_keys").chmod(0o644)
        host_pub = (self.dir / "host.pub").read_text().split()
        (self.dir / "known_hosts").write_text("".join(
            f"[{SERVER_IP}]:{port} {host_pub[0]} {host_pub[1]}\n" for port in PORTS.values()))
        self.procs.append(subprocess.Popen(
            ["ip", "netns", "exec", self.client_ns, "/usr/bin/python3", "-c", DRAIN,
             EXPORT_IP, str(EXPORT_PORT)]))
        for mode, port in PORTS.items():
            self._start_sshd(mode, port)

    def _user(self):
        if subprocess.run(["id", "sshd"], capture_output=True).returncode != 0:
            run(["useradd", "-r", "-s", "/usr/sbin/nologin", "-d", "/run/sshd", "sshd"])
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        try:
            pwd.getpwnam(USER)
        except KeyError:
            run(["useradd", "-r", "-M", "-d", "/tmp", "-s", "/bin/sh", USER])
            self.created_user = True
        run(["usermod", "-p", "*", USER])

    def _start_sshd(self, mode, port):
        config = self.dir / f"sshd_config_{mode}"
        config.write_text("\n".join([
            f"ListenAddress {SERVER_IP}:{port}",
            f"HostKey {self.dir / 'host'}",
            "PidFile none",
            f"AuthorizedKeysFile {self.dir / 'authorized_keys'}",
            "StrictModes no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            # The default MaxStartups would drop some of the quick connections.
            "MaxStartups 100",
            f"RevenantCheckpoints {'yes' if mode == 'on' else 'no'}",
            f"RevenantExportAddress {EXPORT_IP}:{EXPORT_PORT}",
            f"RevenantRecoveryKeys {self.dir / 'recovery.pub'}",
        ]) + "\n")
        log_path = self.dir / f"sshd_{mode}.log"
        proc = subprocess.Popen(["ip", "netns", "exec", self.server_ns, str(SSHD), "-D",
                                 "-E", str(log_path), "-f", str(config)])
        self.procs.append(proc)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if log_path.exists() and "Server listening" in log_path.read_text():
                return
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        raise BenchError(f"sshd ({mode}) did not start: "
                         f"{log_path.read_text() if log_path.exists() else ''}")

    def ssh_argv(self, mode, command):
        return ["ip", "netns", "exec", self.client_ns, DEBIAN_SSH, "-F", "/dev/null",
                "-p", str(PORTS[mode]), "-i", str(self.dir / "user"),
                "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                "-o", f"UserKnownHostsFile={self.dir / 'known_hosts'}",
                "-o", "StrictHostKeyChecking=yes", f"{USER}@{SERVER_IP}", command]

    def timed(self, mode, command, **kw):
        start = time.monotonic()
        result = subprocess.run(self.ssh_argv(mode, command), capture_output=True,
                                timeout=600, **kw)
        elapsed = time.monotonic() - start
        if result.returncode != 0:
            raise BenchError(f"ssh to the export-{mode} sshd failed: "
                             f"{result.stderr.decode(errors='replace').strip()}")
        return elapsed, result

    def teardown(self):
        for proc in self.procs:
            stop_process(proc)
        run(["ip", "netns", "del", self.client_ns], check=False)
        run(["ip", "netns", "del", self.server_ns], check=False)
        if self.created_user:
            run(["userdel", USER], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def recovery_keygen():
    name = os.environ.get("REVENANT_BUILD_DIR") or os.environ.get("RV_BUILD_DIR") or "build"
    path = (REPO_ROOT / name / "tools" / "keygen" / "revenant-keygen").resolve()
    if not os.access(path, os.X_OK):
        raise BenchError(f"{path} not found: build the meson target revenant-keygen")
    return path


def shown_path(path):
    """Return path relative to the repository when it lies inside it."""
    return path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path


def pair_order(i):
    """Alternate which server goes first, so neither always meets a warmer cache."""
    return ("off", "on") if i % 2 == 0 else ("on", "off")


def measure_setup(bench, connections):
    """Median seconds per connection per server, and the median ratio of batch pairs.

    The machine may be shared, so each batch of 10 connections to one server
    is paired with the next batch to the other. Both batches of a pair run
    under about the same load, and the median of the pair ratios ignores
    the pairs that did not.
    """
    times = {"on": [], "off": []}
    ratios = []
    batch = 10
    done = 0
    while done < connections:
        n = min(batch, connections - done)
        batch_time = {}
        for mode in pair_order(done // batch):
            batch_time[mode] = 0.0
            for _ in range(n):
                elapsed = bench.timed(mode, "true")[0]
                times[mode].append(elapsed)
                batch_time[mode] += elapsed
        ratios.append(batch_time["on"] / batch_time["off"])
        done += n
    result = {mode: median(values) for mode, values in times.items()}
    result["ratio"] = median(ratios)
    return result


def measure_throughput(bench, megabytes, repeat):
    """Median MB/s per server and direction (1 MB = 10^6 bytes)."""
    size = megabytes * 1024 * 1024
    data = bench.dir / "data"
    with open(data, "wb") as f:
        f.truncate(size)
    data.chmod(0o644)
    rates = {(mode, way): [] for mode in PORTS for way in ("s2c", "c2s")}
    for i in range(repeat):
        for mode in pair_order(i):
            elapsed, result = bench.timed(mode, f"cat {data}")
            if len(result.stdout) != size:
                raise BenchError(f"download from export-{mode}: {len(result.stdout)} "
                                 f"of {size} bytes")
            rates[(mode, "s2c")].append(size / elapsed / 1e6)
            with open(data, "rb") as upload:
                elapsed, result = bench.timed(mode, "wc -c", stdin=upload)
            if int(result.stdout.split()[0]) != size:
                raise BenchError(f"upload to export-{mode}: {result.stdout!r}")
            rates[(mode, "c2s")].append(size / elapsed / 1e6)
    result = {key: median(values) for key, values in rates.items()}
    for way in ("s2c", "c2s"):
        # Run i of each server belongs to the same pair (see measure_setup).
        result[("ratio", way)] = median([on / off for on, off in
                                         zip(rates[("on", way)], rates[("off", way)])])
    return result


def format_results(args, setup, rates):
    rows = [("set-up (connect, key auth, `true`), ms per connection",
             f"{setup['off'] * 1000:.1f}", f"{setup['on'] * 1000:.1f}",
             f"{setup['ratio']:.3f}", f"<= {SET_UP_TARGET}")]
    for way, label in (("s2c", "download"), ("c2s", "upload")):
        off, on = rates[("off", way)], rates[("on", way)]
        rows.append((f"{label} throughput, MB/s", f"{off:.1f}", f"{on:.1f}",
                     f"{rates[('ratio', way)]:.3f}", f">= {THROUGHPUT_TARGET}"))
    body = table(("measurement", "export off", "export on", "median ratio of pairs",
                  "target"), rows)
    body += (f"\nSet-up: {args.connections} connections per server in alternating batches "
             "of 10, each a fresh `/usr/bin/ssh ... true` with an Ed25519 key; the time "
             "includes starting the client. Throughput: one connection per transfer of "
             f"{args.megabytes} MiB (`cat FILE` down, `wc -c` up), {args.repeat} per server "
             "and direction. Each batch or transfer to one server is paired with the next "
             "one to the other, the first server alternating; the ratio column is the "
             "median of the pair ratios, the other columns are medians of all runs. "
             f"Both servers are the same {shown_path(SSHD)} with default Revenant* settings "
             "(a checkpoint per 4 MiB or 1 s of traffic, a heartbeat per second); the "
             "client is Debian's ssh with "
             "its default cipher (chacha20-poly1305@openssh.com), over a veth pair.\n")
    return body


def main(argv):
    args = parse_args(argv)
    if not_root("export", "network namespaces, a user"):
        return 1
    if not os.access(SSHD, os.X_OK):
        print(f"tools/bench export: {SSHD} missing: run ssh-patch/build", file=sys.stderr)
        return 1
    command = command_line("export", argv)
    bench = Bench()
    try:
        bench.setup()
        log(f"set-up: {args.connections} connections per server")
        setup = measure_setup(bench, args.connections)
        log(f"throughput: {args.repeat} x {args.megabytes} MiB per server and direction")
        rates = measure_throughput(bench, args.megabytes, args.repeat)
    except (BenchError, subprocess.SubprocessError) as err:
        print(f"tools/bench export: {err}", file=sys.stderr)
        return 1
    finally:
        bench.teardown()

    publish(args.quick, "Checkpoint export cost", command, format_results(args, setup, rates))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
