# SPDX-License-Identifier: BSD-3-Clause
"""tools/bench capture: the cost and limits of revenantd's capture path.

Three measurements in one run:
  pipeline  Frames per second of revenantd and of dpdk-testpmd (rxonly) on
            the same net_pcap replay (infinite_rx), on one worker lcore,
            and, if perf is installed, where revenantd's capture lcore
            spends its time: the PMD that testpmd also runs, or the rest.
  lossless  The highest tcpreplay rate through the lab switch at which the
            mirror capture drops nothing. Measured for revenantd with
            af_packet, with af_xdp if that port starts, and for tcpdump.
  memory    Log memory per idle SSH connection, from real ssh sessions.
"""

import argparse
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (BenchError, Revenantd, build_dir,  # noqa: E402
                     command_line, gen_pcap, log, make_tmpdir, median, not_root,
                     publish, remove_tree, revenantd_rate, sections_body, stop_process,
                     table, testpmd_rate)

# Lossless search: frames go to the primary's MAC but to an unassigned lab
# address. The primary drops them because forwarding is off in its
# namespace, so no host replies and the mirror carries the TCP frames that
# tcpreplay sent plus at most a rate-limited ICMP error and ARP.
UNOWNED_IP = "198.51.100.20"
FULL_RATES = (2000, 5000, 10000, 20000, 50000, 100000, 200000, 400000)
QUICK_RATES = (1000, 5000)
# tcpdump and revenantd's af_packet ring get the same kernel buffer: 32 MiB.
TCPDUMP_BUFFER_KIB = 32768
AF_PACKET_CAPTURE = ("net_af_packet0,iface={iface},framecnt=16384,blocksz=4096,"
                     "framesz=2048,qpairs=1")
AF_XDP_CAPTURE = "net_af_xdp0,iface={iface},start_queue=0,queue_count=1"


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="tools/bench capture",
                                     description="Measure revenantd's capture path "
                                     "(see BENCHMARKS.md).")
    parser.add_argument("--quick", action="store_true",
                        help="a few seconds per step, small inputs; BENCHMARKS.md is "
                        "not written")
    parser.add_argument("--repeat", type=int, default=3,
                        help="pipeline runs per tool and input (default 3)")
    parser.add_argument("--duration", type=float, default=10.0,
                        help="pipeline: seconds measured per run (default 10)")
    parser.add_argument("--ssh-connections", type=int, default=50,
                        help="memory: idle ssh connections (default 50)")
    parser.add_argument("--skip", action="append", default=[],
                        choices=("pipeline", "lossless", "memory"),
                        help="skip a measurement (repeatable)")
    return parser.parse_args(argv)


# ---------------------------------------------------------------- pipeline

def pipeline_inputs(workdir, quick):
    """Generate the replay inputs; return [(name, path, frames, description)]."""
    if quick:
        specs = [("tcp64", ["--connections", 200], "200 connections"),
                 ("ssh-mix", ["--connections", 8, "--keystrokes", 4,
                              "--bulk-segments", 8], "8 connections")]
    else:
        specs = [("tcp64", ["--connections", 10000, "--rounds", 2],
                  "10,000 connections: handshakes, then 2 rounds of 6-byte segments"),
                 ("ssh-mix", ["--connections", 200],
                  "200 SSH-like connections: key exchange, 20 keystrokes, "
                  "1 in 4 with 40 x 1448-byte bulk segments")]
    inputs = []
    for profile, args, description in specs:
        path = workdir / f"{profile}.pcap"
        frames = gen_pcap(profile, path, *args)
        log(f"pipeline: {path.name}: {frames} frames")
        inputs.append((profile, path, frames, description))
    return inputs


def measure_pipeline(args, workdir):
    warmup = 1.0 if args.quick else 2.0
    duration = 1.0 if args.quick else args.duration
    repeat = 1 if args.quick else args.repeat
    results = []
    for name, path, frames, description in pipeline_inputs(workdir, args.quick):
        vdev = f"net_pcap0,rx_pcap={path},infinite_rx=1"
        # infinite_rx keeps every frame of the file in an mbuf, plus the ring.
        mbufs = frames + 4096
        rv_rates, pmd_rates, last = [], [], None
        for i in range(repeat):
            prefix = f"bench{os.getpid()}"
            rate, last = revenantd_rate(workdir, prefix, vdev, mbufs, warmup, duration)
            rv_rates.append(rate)
            log(f"pipeline: {name} run {i + 1}: revenantd {rate:,.0f} frames/s")
            rate = testpmd_rate(prefix, vdev, mbufs, warmup, duration)
            pmd_rates.append(rate)
            log(f"pipeline: {name} run {i + 1}: testpmd {rate:,.0f} packets/s")
        profile = None
        if shutil.which("perf"):
            profile = profile_pipeline(workdir, name, vdev, mbufs, warmup, duration)
        else:
            log("pipeline: perf not found, no profile of the capture lcore")
        results.append({"input": name, "description": description, "frames": frames,
                        "revenantd": median(rv_rates), "testpmd": median(pmd_rates),
                        "revenantd_runs": rv_rates, "testpmd_runs": pmd_rates,
                        "stats": last, "profile": profile})
    return results


# Shared objects whose time testpmd in rxonly mode pays as well: the pcap
# PMD (receive, mbuf allocation and the copy of each frame) and the mbuf
# library (freeing the burst).
DPDK_RX_DSOS = ("librte_net_pcap", "librte_mbuf", "librte_mempool")
# Symbols of the overlap compare, which the design requires: every
# retransmitted byte is compared with the logged copy.
COMPARE_SYMBOLS = ("memcmp", "compare_bytes")
PERF_LINE = re.compile(r"^\s+([0-9.]+)%\s+(\S.*?)\s*$")


def capture_thread(pid):
    """Return (tid, CPU ns) of the busiest thread of PID: the capture lcore."""
    best = None
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            ns = int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if best is None or ns > best[1]:
            best = (tid, ns)
    if best is None:
        raise BenchError(f"revenantd (pid {pid}) has no readable threads")
    return best


def thread_cpu_ns(pid, tid):
    return int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])


def perf_shares(data, sort):
    """Return {name: percent} from perf report --sort SORT of DATA."""
    proc = subprocess.run(["perf", "report", "-i", str(data), "--no-children",
                           "--sort", sort, "--stdio"], capture_output=True, text=True,
                          timeout=120)
    if proc.returncode != 0:
        raise BenchError(f"perf report failed: {proc.stderr.strip()[-300:]}")
    shares = {}
    for line in proc.stdout.splitlines():
        found = PERF_LINE.match(line)
        if found:
            name = found.group(2).split()[-1]
            shares[name] = shares.get(name, 0.0) + float(found.group(1))
    return shares


def profile_pipeline(workdir, name, vdev, mbufs, warmup, duration):
    """Sample revenantd's capture lcore with perf during one replay.

    Returns the CPU time per frame of the capture thread and the shares of
    its samples: DPDK receive and free (what testpmd also runs), the
    overlap compare, and the rest of revenantd.
    """
    data = workdir / f"perf-{name}.data"
    prefix = f"benchprof{os.getpid()}"
    with Revenantd(workdir, prefix, vdev, mbufs=mbufs) as daemon:
        time.sleep(warmup)
        tid, cpu0 = capture_thread(daemon.proc.pid)
        first = daemon.stats()
        proc = subprocess.run(["perf", "record", "-q", "-t", tid, "-o", str(data),
                               "--", "sleep", str(duration)],
                              capture_output=True, text=True, timeout=duration + 60)
        last = daemon.stats()
        cpu1 = thread_cpu_ns(daemon.proc.pid, tid)
        daemon.check_alive()
    if proc.returncode != 0:
        raise BenchError(f"perf record failed: {proc.stderr.strip()[-300:]}")
    frames = last["capture"]["frames"] - first["capture"]["frames"]
    if frames <= 0:
        raise BenchError(f"profile {name}: revenantd counted no frames")
    dsos = perf_shares(data, "dso")
    syms = perf_shares(data, "sym")
    total = sum(dsos.values()) or 1.0
    dpdk_rx = sum(v for k, v in dsos.items() if k.startswith(DPDK_RX_DSOS))
    compare = sum(v for k, v in syms.items()
                  if any(c in k for c in COMPARE_SYMBOLS))
    return {"cpu_ns_per_frame": (cpu1 - cpu0) / frames,
            "dpdk_rx": dpdk_rx / total, "compare": compare / total,
            "kernel": dsos.get("[kernel.kallsyms]", 0.0) / total}


def check_pipeline_stats(result):
    """Return problems seen in revenantd's counters after a replay."""
    problems = []
    stats = result["stats"]
    cap = stats["capture"]
    malformed = sum(cap["malformed"].values())
    if malformed:
        problems.append(f"{malformed} frames counted as malformed: {cap['malformed']}")
    if cap["tcp_not_monitored"]:
        problems.append(f"{cap['tcp_not_monitored']} TCP frames not monitored")
    if stats["ports"][0]["rx_dropped"]:
        problems.append(f"capture port rx_dropped {stats['ports'][0]['rx_dropped']}")
    return problems


def format_pipeline(results, args):
    rows = []
    for r in results:
        ratio = r["revenantd"] / r["testpmd"] if r["testpmd"] else float("nan")
        rows.append((r["input"], f"{r['frames']:,}", f"{r['revenantd'] / 1e6:.2f}",
                     f"{r['testpmd'] / 1e6:.2f}", f"{ratio:.2f}"))
    body = table(("input", "frames in file", "revenantd Mframes/s",
                  "testpmd rxonly Mpkts/s", "ratio (target >= 0.8)"), rows)
    body += "\nInputs:\n\n"
    for r in results:
        flows = r["stats"]["flows"]["active"]
        body += (f"- {r['input']}: {r['description']}; revenantd tracked {flows} "
                 f"connections. Runs (revenantd / testpmd, frames/s): "
                 + ", ".join(f"{a:,.0f} / {b:,.0f}" for a, b in
                             zip(r["revenantd_runs"], r["testpmd_runs"])) + "\n")
        for problem in check_pipeline_stats(r):
            body += f"  - revenantd counters: {problem}\n"
    body += format_profile(results)
    body += (f"\nBoth tools read `net_pcap0,rx_pcap=FILE,infinite_rx=1` on one worker "
             f"lcore (`-l 0-1`), 1024 receive descriptors, bursts of 32, "
             f"{args.repeat} alternating runs of {args.duration:g} s each after a "
             "warm-up. revenantd's rate is the change of `capture.frames` over its "
             "`uptime_ns`; testpmd's is the change of RX-packets between two "
             "`show port stats 0` commands.\n\n"
             "With infinite_rx the PMD copies each frame of the file into a new "
             "mbuf and replays the file in a loop. After the first pass revenantd "
             "sees only retransmissions of segments it already logged, so this "
             "measures parsing, the flow lookup and the overlap compare, not "
             "copying new bytes into the log. testpmd in rxonly mode frees each "
             "mbuf without reading it.\n")
    return body


def format_profile(results):
    """Format where the capture lcore's time went, and what 0.8 would leave."""
    rows = []
    for r in results:
        p = r["profile"]
        if p is None or not r["testpmd"]:
            continue
        per_frame = p["cpu_ns_per_frame"]
        rx_ns = p["dpdk_rx"] * per_frame
        testpmd_ns = 1e9 / r["testpmd"]
        budget = 1e9 / (0.8 * r["testpmd"]) - rx_ns
        rows.append((r["input"], f"{per_frame:.0f}", f"{p['dpdk_rx']:.0%} ({rx_ns:.0f})",
                     f"{testpmd_ns:.0f}", f"{p['compare']:.0%}",
                     f"{(1 - p['dpdk_rx'] - p['kernel']) * per_frame:.0f}",
                     f"{budget:.0f}"))
    if not rows:
        return ""
    return ("\nWhere the capture lcore's time goes (perf record on that thread, one "
            "more run of the same length; ns per frame of its CPU time):\n\n"
            + table(("input", "revenantd ns/frame", "pcap PMD and mbuf free: share (ns)",
                     "testpmd ns/packet", "overlap compare share",
                     "revenantd's own work ns/frame",
                     "ns/frame left for that work at 0.8"), rows)
            + "\nThe PMD and mbuf free share is the time in librte_net_pcap, "
            "librte_mbuf and librte_mempool, the code testpmd rxonly runs too. testpmd's "
            "ns/packet is its wall-clock rate inverted. The last column is what 0.8 of "
            "testpmd's rate allows per frame minus what the PMD took inside revenantd: "
            "the budget for parsing, the flow lookup, tracking and the compare. A "
            "negative value means 0.8 cannot be reached even if revenantd's own work "
            "cost nothing.\n")


# ---------------------------------------------------------------- lab setup

def start_sshd(lab, workdir):
    """Start Debian's sshd in the primary namespace; return (Popen, client key)."""
    key = workdir / "client_ed25519"
    host_key = workdir / "host_ed25519"
    for path in (key, host_key):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
                       check=True, capture_output=True)
    (workdir / "authorized_keys").write_text(Path(f"{key}.pub").read_text())
    config = workdir / "sshd_config"
    config.write_text(f"""\
Port 22
ListenAddress {lab.PRIMARY_IP}
HostKey {host_key}
PidFile {workdir}/sshd.pid
AuthorizedKeysFile {workdir}/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxStartups 200
""")
    # sshd refuses to start without its privilege separation directory,
    # which Debian creates only when the ssh service runs.
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    proc = lab.popen("primary", ["/usr/sbin/sshd", "-D", "-e", "-f", str(config)],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        out = lab.exec("primary", ["ss", "-Htln", "sport", "= :22"], check=False).stdout
        if out.strip():
            return proc, key
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    raise BenchError("sshd did not start listening on port 22 in the primary namespace")


def established_ssh(lab):
    out = lab.exec("client", ["ss", "-Htn", "state", "established", "dport", "= :22"],
                   check=False).stdout
    return len([line for line in out.splitlines() if line.strip()])


def measure_memory(lab, daemon, workdir, count):
    """Open COUNT idle ssh sessions through the switch; return the counters."""
    sshd, key = start_sshd(lab, workdir)
    before = daemon.stats()
    clients = []
    cmd = ["/usr/bin/ssh", "-N", "-i", str(key), "-o", "BatchMode=yes",
           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
           "-o", "LogLevel=ERROR", f"root@{lab.PRIMARY_IP}"]
    try:
        for i in range(count):
            clients.append(lab.popen("client", cmd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL))
            # Pace the logins so that sshd's MaxStartups never refuses one.
            time.sleep(0.05)
        deadline = time.monotonic() + 60
        while established_ssh(lab) < count and time.monotonic() < deadline:
            time.sleep(0.5)
        established = established_ssh(lab)
        # Let the last logins finish their exchange, then read the idle state.
        time.sleep(3)
        after = daemon.stats()
    finally:
        for proc in clients:
            stop_process(proc, timeout=5)
        stop_process(sshd, timeout=5)
    flows = after["flows"]["active"] - before["flows"]["active"]
    return {
        "connections": count,
        "established": established,
        "flows": flows,
        "log_used": after["memory"]["log_used"] - before["memory"]["log_used"],
        "bytes_logged": (after["memory"]["bytes_logged"]
                         - before["memory"]["bytes_logged"]),
        "flows_max": after["flows"]["max"],
    }


def flow_struct_size():
    """Return (sizeof(struct rv_flow), sizeof(struct rv_flow_key)) from revenantd's debug information.

    Returns (None, None) when gdb cannot read them, for example from a build
    without -g.
    """
    revenantd = build_dir() / "app" / "revenantd" / "revenantd"
    proc = subprocess.run(["gdb", "-batch", "-ex", "print sizeof(struct rv_flow)",
                           "-ex", "print sizeof(struct rv_flow_key)", str(revenantd)],
                          capture_output=True, text=True, timeout=60)
    sizes = re.findall(r"^\$\d+ = (\d+)$", proc.stdout, re.MULTILINE)
    if len(sizes) != 2:
        log(f"memory: gdb could not read struct sizes from {revenantd}: "
            f"{proc.stderr.strip()[-200:]}")
        return None, None
    return int(sizes[0]), int(sizes[1])


def format_memory(m, sizes):
    n = max(m["flows"], 1)
    flow_size, key_size = sizes
    rows = [("idle ssh sessions opened / established", f"{m['connections']} / "
             f"{m['established']}"),
            ("connections tracked (flows.active)", m["flows"]),
            ("log memory used (memory.log_used)", f"{m['log_used']:,} B"),
            ("log memory per connection", f"{m['log_used'] / n:,.0f} B"),
            ("payload bytes logged per connection", f"{m['bytes_logged'] / n:,.0f} B"),
            ("flow table entry, sizeof(struct rv_flow)", f"{flow_size} B"),
            ("hash key, sizeof(struct rv_flow_key)", f"{key_size} B")]
    if flow_size is None:
        rows = rows[:-2]
    body = table(("quantity", "value"), rows)
    body += ("\nThe sessions are Debian's /usr/bin/ssh -N to /usr/sbin/sshd "
             "(ed25519 keys, root login, UsePAM no) through the lab switch; "
             "revenantd reads the mirror with af_packet. Log memory is counted "
             "in 2 KiB chunks, so a connection uses at least one chunk per "
             "direction that sent payload; an idle session keeps its key exchange "
             "and login bytes until a checkpoint lets the log drop them. The "
             "flow table is allocated at start-up for `memory.max_flows` entries "
             f"({m['flows_max']} here), so its entry of "
             f"{flow_size if flow_size else 'sizeof(struct rv_flow)'} B, plus the "
             "rte_hash slot for the key, is a fixed cost per table slot, not per "
             "connection.\n")
    return body


# ---------------------------------------------------------------- lossless

def replay(lab, pcap, frames, rate, seconds):
    """tcpreplay PCAP from the client at RATE packets/s; return (sent, achieved pps)."""
    loops = max(1, math.ceil(rate * seconds / frames))
    cmd = ["tcpreplay", "-q", "-i", lab.CLIENT_IF, f"--pps={rate}", f"--loop={loops}",
           "--preload-pcap", str(pcap)]
    proc = lab.exec("client", cmd, check=False, timeout=seconds * 4 + 30)
    out = proc.stdout + proc.stderr
    sent = re.search(r"Successful packets:\s*(\d+)", out)
    achieved = re.search(r"Rated:.*?([\d.]+) pps", out)
    if proc.returncode != 0 or not sent or not achieved:
        raise BenchError(f"tcpreplay failed with exit status {proc.returncode}: "
                         f"{out.strip()[-400:]}")
    return int(sent.group(1)), float(achieved.group(1))


def bisect_rates(rates, step):
    """Return (highest rate where STEP passed or None, [(rate, passed, detail)])."""
    low, high, trials = -1, len(rates), []
    while high - low > 1:
        mid = (low + high) // 2
        passed, detail = step(rates[mid])
        trials.append((rates[mid], passed, detail))
        if passed:
            low = mid
        else:
            high = mid
    return (rates[low] if low >= 0 else None), trials


def revenantd_step(lab, daemon, pcap, frames, seconds):
    def step(rate):
        before = daemon.stats()
        sent, achieved = replay(lab, pcap, frames, rate, seconds)
        # The daemon reads the kernel ring's drop counter once a second.
        time.sleep(1.5)
        after = daemon.stats()
        daemon.check_alive()
        port_b, port_a = before["ports"][0], after["ports"][0]
        dropped = port_a["rx_dropped"] - port_b["rx_dropped"]
        ring = port_a["kernel_ring_drops"] - port_b["kernel_ring_drops"]
        seen = (after["capture"]["tcp_monitored"] - before["capture"]["tcp_monitored"])
        passed = dropped == 0 and ring == 0 and seen == sent
        detail = (f"sent {sent} at {achieved:,.0f} pps, monitored TCP frames {seen}, "
                  f"rx_dropped {dropped}, kernel_ring_drops {ring}")
        log(f"lossless: revenantd {rate} pps: {'pass' if passed else 'FAIL'}: {detail}")
        return passed, (detail, achieved)
    return step


TCPDUMP_COUNTS = re.compile(r"(\d+) packets (captured|received by filter|dropped by kernel)")


def tcpdump_step(lab, pcap, frames, seconds):
    def step(rate):
        proc = lab.popen("appliance", ["tcpdump", "-n", "-i", lab.MIRROR_IF,
                                       "-B", str(TCPDUMP_BUFFER_KIB), "-w", "/dev/null",
                                       "tcp"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if "listening on" in line or not line:
                break
        sent, achieved = replay(lab, pcap, frames, rate, seconds)
        # tcpdump reads the kernel ring a block at a time, and a block is
        # handed over when full or after its 1 s timeout: wait for the last.
        time.sleep(2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
        counts = {kind: int(n) for n, kind in TCPDUMP_COUNTS.findall(err)}
        captured = counts.get("captured", -1)
        dropped = counts.get("dropped by kernel", -1)
        passed = dropped == 0 and captured == sent
        detail = (f"sent {sent} at {achieved:,.0f} pps, captured {captured}, "
                  f"dropped by kernel {dropped}")
        log(f"lossless: tcpdump {rate} pps: {'pass' if passed else 'FAIL'}: {detail}")
        return passed, (detail, achieved)
    return step


def try_af_xdp(lab, workdir, pcap, frames, rates, seconds):
    """Run the lossless search with af_xdp; return (result, note)."""
    capture = AF_XDP_CAPTURE.format(iface=lab.MIRROR_IF)
    daemon = Revenantd(workdir, f"{lab.prefix}x", capture, mbufs=8192,
                       rx_ring=1024, log_total_max="64MiB",
                       addresses=(lab.PRIMARY_IP, UNOWNED_IP), netns=lab.NS_APPLIANCE)
    try:
        daemon.start(timeout=20)
    except BenchError as err:
        lines = [line for line in str(err).splitlines()
                 if "xdp" in line.lower() or "port capture" in line]
        return None, ("af_xdp did not start: " + ("; ".join(lines[-3:]) or str(err)[:300]))
    try:
        best, trials = bisect_rates(rates, revenantd_step(lab, daemon, pcap, frames,
                                                          seconds))
    finally:
        daemon.stop()
    return (best, trials), f"af_xdp started with `{capture}`"


def format_lossless(results, xdp_note, seconds, pcap_desc):
    rows = []
    for name, (best, trials) in results.items():
        achieved = ""
        for rate, passed, (detail, pps) in trials:
            if rate == best:
                achieved = f"{pps:,.0f}"
        rows.append((name, f"{best:,}" if best else "none", achieved or "-"))
    body = table(("capture", "highest lossless rate requested (pps)",
                  "rate tcpreplay achieved there (pps)"), rows)
    rv = results.get("revenantd af_packet", (None, []))[0]
    td = results.get("tcpdump", (None, []))[0]
    if rv and td:
        body += f"\nRatio revenantd af_packet / tcpdump: {rv / td:.2f}\n"
    body += "\nSteps (bisection over the rate list):\n\n"
    for name, (best, trials) in results.items():
        for rate, passed, (detail, pps) in trials:
            body += f"- {name}, {rate:,} pps: {'pass' if passed else 'fail'}: {detail}\n"
    body += (f"\nTraffic: {pcap_desc}, replayed with `tcpreplay --pps=N "
             f"--preload-pcap` for about {seconds:g} s per step from the client's "
             "port. The frames go to the primary's MAC address but to an IP "
             f"address that no host has ({UNOWNED_IP}), so the primary drops them and "
             "no reply adds frames to the mirror. The switch copies them to the "
             "mirror port with tc mirred. A step passes when nothing was dropped "
             "and the capture counted every frame sent (revenantd: "
             "`capture.tcp_monitored`, `ports[0].rx_dropped`, "
             "`ports[0].kernel_ring_drops`; tcpdump: packets captured and "
             "\"dropped by kernel\"). A frame lost on the mirror veth before the "
             "capture socket fails the step the same way for both tools. "
             f"tcpdump runs with a {TCPDUMP_BUFFER_KIB // 1024} MiB buffer (-B), "
             "the size of revenantd's af_packet ring (16384 frames of 2 KiB). "
             "The same memory does not hold the same number of frames: DPDK "
             "22.11's af_packet driver uses TPACKET_V2, one 2 KiB slot per "
             "frame, while libpcap uses TPACKET_V3, which packs frames into "
             "blocks, so tcpdump's buffer holds roughly 16 times as many "
             "60-byte frames (an estimate from the header sizes) and rides out "
             "longer scheduling stalls. "
             "Where the achieved rate is well below the requested one, tcpreplay, "
             "not the capture, was the limit.\n\n"
             f"af_xdp: {xdp_note}\n")
    return body


def measure_lab(args, workdir):
    """Memory and lossless measurements in one lab; return their Markdown bodies."""
    from lab import Lab

    rates = QUICK_RATES if args.quick else FULL_RATES
    seconds = 1.0 if args.quick else 3.0
    connections = 100 if args.quick else 1000
    bodies = {}
    with Lab() as lab:
        pcap = workdir / "lossless.pcap"
        frames = gen_pcap("tcp64", pcap, "--connections", connections, "--rounds", 2)
        subprocess.run(["tcprewrite", f"--infile={pcap}", f"--outfile={pcap}.rw",
                        f"--enet-smac={lab.CLIENT_MAC}", f"--enet-dmac={lab.PRIMARY_MAC}",
                        f"--dstipmap={lab.PRIMARY_IP}/32:{UNOWNED_IP}/32",
                        f"--srcipmap={lab.PRIMARY_IP}/32:{UNOWNED_IP}/32",
                        "--fixcsum"], check=True, capture_output=True)
        os.replace(f"{pcap}.rw", pcap)
        pcap_desc = (f"tools/gen-pcap tcp64 with {connections} connections "
                     f"({frames} frames of 60 bytes, both directions sent from the "
                     "client port)")
        capture = AF_PACKET_CAPTURE.format(iface=lab.MIRROR_IF)
        daemon = Revenantd(workdir, lab.prefix, capture, mbufs=8192, rx_ring=4096,
                           log_total_max="64MiB",
                           addresses=(lab.PRIMARY_IP, UNOWNED_IP),
                           netns=lab.NS_APPLIANCE)
        results = {}
        with daemon:
            if "memory" not in args.skip:
                count = 5 if args.quick else args.ssh_connections
                log(f"memory: opening {count} idle ssh sessions")
                memory = measure_memory(lab, daemon, workdir, count)
                log(f"memory: {memory}")
                bodies["memory"] = format_memory(memory, flow_struct_size())
                bodies["memory_raw"] = memory
            if "lossless" not in args.skip:
                results["revenantd af_packet"] = bisect_rates(
                    rates, revenantd_step(lab, daemon, pcap, frames, seconds))
        if "lossless" in args.skip:
            return bodies
        results["tcpdump"] = bisect_rates(rates, tcpdump_step(lab, pcap, frames, seconds))
        xdp, xdp_note = try_af_xdp(lab, workdir, pcap, frames, rates, seconds)
        if xdp is not None:
            results["revenantd af_xdp"] = xdp
        log(f"lossless: {xdp_note}")
        bodies["lossless"] = format_lossless(results, xdp_note, seconds, pcap_desc)
        bodies["lossless_raw"] = results
    return bodies


# ---------------------------------------------------------------- main

def sanity_problems(results):
    """Return the reasons the measurements themselves cannot be right.

    A zero rate or an untracked session means revenantd or the set-up is
    broken, not slow, so the run fails instead of recording the number.
    """
    problems = []
    for r in results.get("pipeline", []):
        if r["revenantd"] <= 0:
            problems.append(f"pipeline {r['input']}: revenantd counted no frames")
        if r["testpmd"] <= 0:
            problems.append(f"pipeline {r['input']}: testpmd counted no packets")
    memory = results.get("memory_raw")
    if memory and memory["flows"] < memory["established"]:
        problems.append(f"memory: {memory['established']} ssh sessions established "
                        f"but revenantd tracks {memory['flows']} connections")
    for name, (best, trials) in results.get("lossless_raw", {}).items():
        if best is None:
            problems.append(f"lossless {name}: no rate passed, not even "
                            f"{trials[0][0] if trials else '?'} pps")
    return problems


def main(argv):
    args = parse_args(argv)
    if not_root("capture", "network namespaces, hugepages"):
        return 1
    build_dir()
    command = command_line("capture", argv)
    workdir = make_tmpdir("capture")
    sections, results = [], {}
    try:
        if "pipeline" not in args.skip:
            pipeline = measure_pipeline(args, workdir)
            results["pipeline"] = pipeline
            sections.append(("Pipeline cost on one core", format_pipeline(pipeline, args)))
        if not {"memory", "lossless"} <= set(args.skip):
            bodies = measure_lab(args, workdir)
            results.update(bodies)
            if "lossless" in bodies:
                sections.append(("Lossless capture rate on the lab mirror",
                                 bodies["lossless"]))
            if "memory" in bodies:
                sections.append(("Memory per idle SSH connection", bodies["memory"]))
    except (BenchError, subprocess.SubprocessError) as err:
        print(f"tools/bench capture: {err}", file=sys.stderr)
        return 1
    finally:
        remove_tree(workdir)

    problems = sanity_problems(results)
    for problem in problems:
        print(f"tools/bench capture: check failed: {problem}", file=sys.stderr)

    publish(args.quick, "Capture path", command, sections_body(sections))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
