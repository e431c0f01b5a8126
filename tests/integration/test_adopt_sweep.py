# SPDX-License-Identifier: BSD-3-Clause
"""Crash-point sweep: SSH sessions migrated at random instants.

Each lab run starts the adoption lab (adopt_lab.py), logs in one pty
session per cipher with Debian's /usr/bin/ssh, starts one workload in all
of them and runs `revenantctl migrate primary` after a delay that
random.Random(seed) chooses, while the workload goes on. Every session is
one run of its (workload, cipher) cell. A run passes when the client
prints none of CLIENT_ERRORS ("Corrupted MAC", "Bad packet length", ...),
the backup's notice line arrives and `hostname` in the new shell prints
"backup".

Workloads:
  idle     the shell waits at its prompt;
  typing   one character every 50 ms into a comment line at the prompt;
  output   about 1.5 MB/s of `seq` output with short pauses, read by the
           client as it arrives;
  upload   `cat > FILE` while the client sends 100-byte lines;
  rekey    the client rekeys (~R); once the primary logged every NEWKEYS,
           the migration follows within 1.5 s.

The CI subset (test_adopt_sweep_ci) is one lab run per workload with a
fixed seed, so every workload and cipher runs at least once. The whole
sweep (test_adopt_sweep_full, marked "full": `tools/test --full`, pytest
--full or RV_FULL=1) makes RV_SWEEP_RUNS lab runs per workload (default
30), seeds RV_SWEEP_BASE_SEED + 0, 1, ... (default: the start time).

Environment:
  RV_SWEEP_SEED      run only this seed (replaying a failure)
  RV_SWEEP_CIPHERS   comma-separated subset of the cipher names
  RV_SWEEP_RUNS      lab runs per workload of the full sweep
  RV_SWEEP_BASE_SEED first seed of the full sweep
  RV_SWEEP_SUMMARY   path of the JSON summary (default
                     /tmp/revenant-adopt-sweep.json; a Markdown table is
                     written next to it with the suffix .md)
"""

import datetime
import json
import os
import random
import subprocess
import threading
import time
from pathlib import Path

import pytest

from adopt_lab import (CIPHERS, NEWKEYS_IN, TailLog, cipher_name,
                       cipher_options, drain, fresh_adopt_lab, migrate,
                       adopt_ready, parse_summary, run_marked, test_user,  # noqa: F401
                       wait_count, wait_notice)

pexpect = pytest.importorskip("pexpect")

WORKLOADS = ("idle", "typing", "output", "upload", "rekey")
# One fixed seed per workload for CI.
CI_SEEDS = {"idle": 5101, "typing": 5202, "output": 5303, "upload": 5404,
            "rekey": 5505}
# Random delay, in seconds, between the workload running steadily and the
# migration (for rekey: between the completed rekey and the migration).
DELAY_RANGE = {"idle": (0.0, 3.0), "typing": (0.0, 3.0),
               "output": (0.0, 3.0), "upload": (0.0, 3.0),
               "rekey": (0.0, 1.5)}
# Seconds a session waits for the notice line after the migration.
NOTICE_TIMEOUT = 45
# Upper bound, in seconds, for each workload's remote command.
WORKLOAD_SECONDS = 90
SUMMARY_PATH = Path(os.environ.get("RV_SWEEP_SUMMARY",
                                   "/tmp/revenant-adopt-sweep.json"))
# The full sweep's first seed, fixed once per pytest process.
BASE_SEED = int(os.environ.get("RV_SWEEP_BASE_SEED", int(time.time())))
UPLOAD_LINE = "#" + "u" * 98 + "\r"


def selected_ciphers():
    names = os.environ.get("RV_SWEEP_CIPHERS")
    if not names:
        return CIPHERS
    requested = set(names.split(","))
    chosen = [c for c in CIPHERS if cipher_name(*c) in requested]
    if len(chosen) != len(requested):
        pytest.fail(f"RV_SWEEP_CIPHERS={names}: expected names from "
                    f"{', '.join(cipher_name(*c) for c in CIPHERS)}")
    return chosen


class Summary:
    """Runs, passes and failing seeds per (workload, cipher) cell."""

    def __init__(self, path):
        self.path = path
        self.started = time.time()
        self.cells = {}

    def record(self, workload, cipher, seed, reason):
        cell = self.cells.setdefault(f"{workload} / {cipher}",
                                     {"runs": 0, "passes": 0, "failures": [],
                                      "seeds": []})
        cell["runs"] += 1
        cell["seeds"].append(seed)
        if reason is None:
            cell["passes"] += 1
        else:
            cell["failures"].append({"seed": seed, "reason": reason})
        self.write()

    def write(self):
        now = time.time()
        data = {
            "date": datetime.datetime.now(datetime.timezone.utc)
            .strftime("%Y-%m-%d %H:%M UTC"),
            "duration_s": round(now - self.started),
            "cells": self.cells,
        }
        self.path.write_text(json.dumps(data, indent=2) + "\n")
        lines = [f"Crash-point sweep, {data['date']}, "
                 f"{data['duration_s']} s",
                 "",
                 "| workload / cipher | runs | passes | seeds | "
                 "failing seeds |",
                 "|---|---|---|---|---|"]
        for name, cell in self.cells.items():
            failing = ", ".join(str(f["seed"]) for f in cell["failures"])
            seeds = f"{min(cell['seeds'])}..{max(cell['seeds'])}"
            lines.append(f"| {name} | {cell['runs']} | {cell['passes']} | "
                         f"{seeds} | {failing or '-'} |")
        self.path.with_suffix(".md").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def summary():
    result = Summary(SUMMARY_PATH)
    yield result
    result.write()
    print(f"sweep summary: {SUMMARY_PATH}")


class Session:
    """One pty session of a lab run, and what became of it."""

    def __init__(self, setup, cipher, mac, index):
        self.cipher = cipher_name(cipher, mac)
        self.log = TailLog()
        self.child = pexpect.spawn("ip", setup.ssh_argv(
            cipher_options(cipher, mac)), timeout=30)
        self.child.logfile_read = self.log
        setup.children.append(self.child)
        self.child.sendline("PS1='$ '")
        self.failure = None
        self.index = index
        self.port = None

    def fail(self, reason):
        if self.failure is None:
            self.failure = reason
        else:
            self.failure += "; " + reason


def start_workload(setup, workload, sessions, upload_dir):
    """Start WORKLOAD in every session and let it run steadily."""
    for s in sessions:
        child = s.child
        if workload == "typing":
            child.send("# ")
        elif workload == "output":
            child.sendline(f"timeout {WORKLOAD_SECONDS} sh -c 'while :; do "
                           f"seq 1 20000; sleep 0.05; done'")
        elif workload == "upload":
            child.sendline(f"timeout {WORKLOAD_SECONDS} cat > "
                           f"{upload_dir}/upload-{s.index}")
    # Periodic checkpoints come once data has flowed for a while.
    time.sleep(2.5)


def drive(workload, sessions):
    """One step of the workload while the migration runs (about 50 ms)."""
    for s in sessions:
        if workload == "typing":
            s.child.send("x")
        elif workload == "upload":
            s.child.send(UPLOAD_LINE * 4)
        if not drain(s.child):
            s.fail("the ssh client exited during the migration")
    time.sleep(0.05)


def rekey(setup, sessions):
    """Rekey every session from the client; wait for the primary's NEWKEYS."""
    before = setup.primary_log.read_text(errors="replace").count(NEWKEYS_IN)
    for s in sessions:
        s.child.send("\r~R")
    expected = before + len(sessions)
    if not wait_count(setup.primary_log, NEWKEYS_IN, expected, timeout=30):
        pytest.fail(f"the primary did not complete {len(sessions)} rekeys")


def migrate_in_background(setup):
    result = {}

    def run():
        try:
            result["proc"] = migrate(setup.lab, setup.app)
        except Exception as err:  # reported through result, not lost
            result["error"] = repr(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def check_session(s):
    """Check one session after the migration; record every failure."""
    child = s.child
    if s.failure is None and not wait_notice(child, s.log, NOTICE_TIMEOUT):
        s.fail(f"no resume notice within {NOTICE_TIMEOUT} s")
        if not child.isalive():
            s.fail(f"the ssh client exited with status {child.exitstatus}")
    if s.failure is None:
        # Clear whatever the workload left on the new shell's input line.
        child.send("\x15")
        child.sendline("PS1='$ '")
        try:
            host = run_marked(child, "hostname", "SWEEPHOST", timeout=30)
            if host != "backup":
                s.fail(f"hostname printed {host!r}, expected 'backup'")
        except (pexpect.TIMEOUT, pexpect.EOF) as err:
            s.fail(f"the session did not run hostname: "
                   f"{type(err).__name__}")
    if s.log.errors:
        s.fail("the client printed " + ", ".join(sorted(s.log.errors)))


def start_header_capture(setup):
    """With RV_ADOPT_LOG_DIR set, record the client's TCP headers there.

    Only the first 96 bytes of each frame are kept: the sequence numbers,
    acknowledgements and timestamps of a failing run, not its megabytes.
    """
    target = os.environ.get("RV_ADOPT_LOG_DIR")
    if not target:
        return None
    directory = Path(target) / setup.lab.prefix
    directory.mkdir(parents=True, exist_ok=True)
    return setup.lab.popen("client", [
        "tcpdump", "-n", "-s", "96", "-U", "-Z", "root", "-i",
        setup.lab.CLIENT_IF, "-w", str(directory / "client.pcap"),
        "tcp port 22"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def sweep_run(user, workload, seed, ciphers):
    """Run one lab run; return {cipher: failure reason or None}."""
    rng = random.Random(seed)
    delay = rng.uniform(*DELAY_RANGE[workload])
    upload_dir = Path(f"/tmp/rv-sweep-upload-{os.getpid()}-{seed}")
    results = {}
    capture = None
    with fresh_adopt_lab(user) as setup:
        upload_dir.mkdir(mode=0o777, exist_ok=True)
        upload_dir.chmod(0o777)
        try:
            sessions = [Session(setup, cipher, mac, i)
                        for i, (cipher, mac) in enumerate(ciphers)]
            for s in sessions:
                assert run_marked(s.child, "hostname", "HOST1") == "primary"
                s.port = setup.client_port(s.child)
            capture = start_header_capture(setup)
            start_workload(setup, workload, sessions, upload_dir)
            setup.wait_recoverable(len(sessions))
            if workload == "rekey":
                rekey(setup, sessions)
            thread, result = None, None
            deadline = time.monotonic() + delay
            while thread is None or thread.is_alive():
                if thread is None and time.monotonic() >= deadline:
                    thread, result = migrate_in_background(setup)
                drive(workload, sessions)
            thread.join()
            proc = result.get("proc")
            output = (proc.stdout + proc.stderr) if proc else result["error"]
            counts = parse_summary(output)
            if counts is None or counts[0] != len(sessions):
                for s in sessions:
                    s.fail(f"migrate did not move every session: "
                           f"{output.strip()[-400:]}")
            for s in sessions:
                check_session(s)
                results[s.cipher] = s.failure
            if any(s.failure for s in sessions):
                print(f"--- lab run seed {seed} {workload}: migrate output\n"
                      f"{output}")
                print(setup.tcp_states())
                for s in sessions:
                    print(f"--- {s.cipher} (client port {s.port}): "
                          f"last output\n"
                          f"{s.log.data[-1500:].decode(errors='replace')}")
        finally:
            if capture is not None:
                capture.terminate()
                capture.wait(timeout=10)
            for path in upload_dir.glob("*"):
                path.unlink()
            upload_dir.rmdir()
    return results


def run_seeds(user, summary, workload, seeds):
    ciphers = selected_ciphers()
    failures = []
    for seed in seeds:
        results = sweep_run(user, workload, seed, ciphers)
        for cipher, reason in results.items():
            summary.record(workload, cipher, seed, reason)
            if reason is not None:
                failures.append(
                    f"seed {seed}, workload {workload}, cipher {cipher}: "
                    f"{reason}\n  replay: RV_SWEEP_SEED={seed} "
                    f"RV_SWEEP_CIPHERS={cipher} /usr/bin/python3 -m pytest "
                    f"tests/integration/test_adopt_sweep.py -k "
                    f"'test_adopt_sweep_ci and {workload}'")
    assert not failures, "\n".join(failures)


def env_seed():
    value = os.environ.get("RV_SWEEP_SEED")
    return None if value is None else int(value)


@pytest.mark.parametrize("workload", WORKLOADS)
def test_adopt_sweep_ci(adopt_ready, test_user, summary, workload):
    seed = env_seed()
    run_seeds(test_user, summary, workload,
              [CI_SEEDS[workload] if seed is None else seed])


@pytest.mark.full
@pytest.mark.parametrize("workload", WORKLOADS)
def test_adopt_sweep_full(adopt_ready, test_user, summary, workload):
    runs = int(os.environ.get("RV_SWEEP_RUNS", "30"))
    seed = env_seed()
    seeds = ([seed] if seed is not None
             else [BASE_SEED + i for i in range(runs)])
    print(f"sweep {workload}: seeds {seeds[0]}..{seeds[-1]}")
    run_seeds(test_user, summary, workload, seeds)
