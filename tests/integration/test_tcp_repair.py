# SPDX-License-Identifier: BSD-3-Clause
"""Lab test of the TCP_REPAIR restore (app/lib/tcp_repair.c).

A real client in namespace C streams numbered lines to repair_probe in
namespace A, which streams its own lines back and echoes the client's. The
test cuts A's link and makes A dump and drop its socket silently. It then
moves the service address to namespace B, where repair_probe restores the
socket from the dump, and updates the client's neighbour entry. The client
must see every line exactly once, in order, with no reset and the same
4-tuple.

C holds the bridge br0 that joins A and B. The neighbour entry is updated
with `ip neigh replace` in C, as arping is not part of the image; in
production the appliance sends gratuitous ARP.

Run as root from the repository root after building:
    RV_BUILD_DIR=build /usr/bin/python3 -m pytest tests/integration/test_tcp_repair.py
"""

import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_DIR = os.path.join(ROOT, os.environ.get("RV_BUILD_DIR", "build"))
PROBE = os.path.join(BUILD_DIR, "tests", "integration", "repair_probe")
PYTHON = "/usr/bin/python3"
PORT = 5000

ADDRS = {
    4: {"client": "198.51.100.1", "service": "198.51.100.2",
        "backup": "198.51.100.3", "prefix": 24},
    6: {"client": "2001:db8::1", "service": "2001:db8::2",
        "backup": "2001:db8::3", "prefix": 64},
}

# The client: sends "c<number>\n" every 10 ms, reads the server's lines and
# takes "pause", "send", "finish" and "quit" on stdin. It prints one JSON result.
CLIENT = r"""
import json, select, socket, sys, time
family, host, port, mss = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_INET if family == 4 else socket.AF_INET6, socket.SOCK_STREAM)
if mss:
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
s.connect((host, port))
print("connected", s.getsockname()[1], flush=True)
s.setblocking(False)
res = {"error": None, "s": [], "e": [], "sent": 0, "eof": False, "s_times": [],
       "e_times": []}
sending, finishing, shut = True, False, False
pending, inbuf = b"", b""
next_send = time.monotonic()
deadline = time.monotonic() + 25
try:
    while time.monotonic() < deadline:
        r, _, _ = select.select([s, sys.stdin], [], [], 0.005)
        if sys.stdin in r:
            cmd = sys.stdin.readline().strip()
            if cmd == "pause":
                sending = False
            elif cmd == "send":
                sending = True
            elif cmd == "finish":
                sending, finishing = False, True
            elif cmd == "quit":
                break
        now = time.monotonic()
        if sending and now >= next_send:
            pending += b"c%06d\n" % res["sent"]
            res["sent"] += 1
            next_send = now + 0.010
        if pending:
            try:
                pending = pending[s.send(pending):]
            except BlockingIOError:
                pass
        if s in r:
            data = s.recv(65536)
            if not data:
                res["eof"] = True
                break
            inbuf += data
            *lines, inbuf = inbuf.split(b"\n")
            for line in lines:
                if line.startswith(b"s"):
                    res["s"].append(int(line[1:7]))
                    res["s_times"].append(now)
                else:
                    res["e"].append(line[1:].decode())
                    res["e_times"].append(now)
        if (finishing and not shut and not pending
                and len(res["e"]) >= res["sent"]):
            s.shutdown(socket.SHUT_WR)
            shut = True
except OSError as err:
    res["error"] = repr(err)
gaps = [b - a for a, b in zip(res["s_times"], res["s_times"][1:])]
res["max_gap_ms"] = round(1000 * max(gaps), 1) if gaps else None
res["last_s_time"] = res["s_times"][-1] if res["s_times"] else None
gaps = [b - a for a, b in zip(res["e_times"], res["e_times"][1:])]
res["max_echo_gap_ms"] = round(1000 * max(gaps), 1) if gaps else None
del res["s_times"], res["e_times"]
print(json.dumps(res), flush=True)
"""


def run(*cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def netns(ns, *cmd, check=True):
    return run("ip", "netns", "exec", ns, *cmd, check=check)


class Lab:
    """Namespaces C (client and bridge), A (primary) and B (backup)."""

    def __init__(self, family, client_sysctls):
        tag = "rvtr" + secrets.token_hex(3)
        self.family = family
        self.addr = ADDRS[family]
        self.c, self.a, self.b = tag + "-c", tag + "-a", tag + "-b"
        self.created = []
        self.procs = []
        self.tmp = tempfile.mkdtemp(prefix="rvtr")
        for ns in (self.c, self.a, self.b):
            run("ip", "netns", "add", ns)
            self.created.append(ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")
        for key, value in client_sysctls.items():
            netns(self.c, "sysctl", "-qw", f"{key}={value}")
        run("ip", "-n", self.c, "link", "add", "br0", "type", "bridge",
            "stp_state", "0", "forward_delay", "0")
        self.add_host(self.a, "pa", self.addr["service"])
        self.add_host(self.b, "pb", self.addr["backup"])
        self.add_addr(self.c, "br0", self.addr["client"])
        run("ip", "-n", self.c, "link", "set", "br0", "up")
        self.mac_b = json.loads(run("ip", "-j", "-n", self.b, "link", "show",
                                    "eth0").stdout)[0]["address"]

    def add_host(self, ns, port, addr):
        run("ip", "-n", self.c, "link", "add", port, "type", "veth", "peer",
            "name", "eth0", "netns", ns)
        run("ip", "-n", self.c, "link", "set", port, "master", "br0", "up")
        # Segmentation offload would show multi-MSS frames in the capture.
        netns(ns, "ethtool", "-K", "eth0", "tso", "off", "gso", "off")
        self.add_addr(ns, "eth0", addr)
        run("ip", "-n", ns, "link", "set", "eth0", "up")

    def add_addr(self, ns, dev, addr):
        cmd = ["ip", "-n", ns, "addr", "add",
               f"{addr}/{self.addr['prefix']}", "dev", dev]
        if self.family == 6:
            cmd.append("nodad")
        run(*cmd)

    def spawn(self, ns, *cmd, stdin=None):
        proc = subprocess.Popen(["ip", "netns", "exec", ns, *cmd],
                                stdin=stdin, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        self.procs.append(proc)
        return proc

    def close(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        for ns in self.created:
            run("ip", "netns", "del", ns, check=False)
        subprocess.run(["rm", "-rf", self.tmp], check=False)


def read_state(path):
    state = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition(" ")
            state[key] = value
    return state


def capture_summary(pcap, service):
    """Return RST count, the set of 4-tuples and the largest server payload."""
    from scapy.all import IP, IPv6, TCP, rdpcap

    rsts, tuples, max_payload = 0, set(), 0
    for pkt in rdpcap(pcap):
        if TCP not in pkt:
            continue
        ip = pkt[IP] if IP in pkt else pkt[IPv6]
        tcp = pkt[TCP]
        if tcp.flags & 0x04:
            rsts += 1
        ends = sorted([(ip.src, tcp.sport), (ip.dst, tcp.dport)])
        tuples.add(tuple(ends))
        if ip.src == service:
            max_payload = max(max_payload, len(bytes(tcp.payload)))
    return rsts, tuples, max_payload


def wait_line(proc, prefix, timeout=5.0):
    """Read stdout lines of proc until one starts with prefix."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if line.startswith(prefix):
            return line.split()
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"no '{prefix}' line from {proc.args}: "
                         f"{proc.stderr.read() if proc.poll() is not None else ''}")


RESTORE_US = []


def migrate(lab, *, mss=0, in_flight=False, resume_args=(), expect_flow=True):
    """Run one cut-over and return (client result, state, capture summary)."""
    svc = lab.addr["service"]
    state_path = os.path.join(lab.tmp, "state")
    pcap = os.path.join(lab.tmp, "client.pcap")

    server = lab.spawn(lab.a, PROBE, "serve", svc, str(PORT), state_path)
    wait_line(server, "listening")
    dump = lab.spawn(lab.c, "tcpdump", "-i", "br0", "-U", "-n", "-w", pcap,
                     "tcp")
    end = time.monotonic() + 5
    while "listening on" not in dump.stderr.readline():
        assert time.monotonic() < end, "tcpdump did not start"
    client = lab.spawn(lab.c, PYTHON, "-c", CLIENT, str(lab.family), svc,
                       str(PORT), str(mss), stdin=subprocess.PIPE)
    client_port = int(wait_line(client, "connected")[1])
    time.sleep(0.6)

    if in_flight:
        # The server stops reading: the kernel acknowledges and queues the
        # client's lines, so the dump has a receive queue to restore.
        server.send_signal(signal.SIGUSR2)
        time.sleep(0.2)
    else:
        client.stdin.write("pause\n")
        client.stdin.flush()
        time.sleep(0.1)
    # The primary dies: its link goes first, then its socket, silently.
    run("ip", "-n", lab.a, "link", "set", "eth0", "down")
    time.sleep(0.3)
    server.send_signal(signal.SIGUSR1)
    assert server.wait(timeout=5) == 0, server.stderr.read()
    state = read_state(state_path)

    lab.add_addr(lab.b, "eth0", svc)
    backup = lab.spawn(lab.b, PROBE, "resume", state_path, *resume_args)
    RESTORE_US.append(int(wait_line(backup, "restore_us")[1]))
    run("ip", "-n", lab.c, "neigh", "replace", svc, "lladdr", lab.mac_b,
        "dev", "br0", "nud", "reachable")

    restored_at = time.monotonic()
    client.stdin.write("send\n")
    client.stdin.flush()
    time.sleep(1.0 if expect_flow else 2.0)
    client.stdin.write("finish\n" if expect_flow else "quit\n")
    client.stdin.flush()
    out, err = client.communicate(timeout=15)
    assert client.returncode == 0, err
    if expect_flow:
        assert backup.wait(timeout=10) == 0, backup.stderr.read()
    else:
        backup.kill()
        backup.wait()
    time.sleep(0.2)
    dump.send_signal(signal.SIGTERM)
    dump.wait(timeout=5)
    summary = capture_summary(pcap, svc)
    result = json.loads(out.strip().splitlines()[-1])
    result["client_port"] = client_port
    result["restored_at"] = restored_at
    return result, state, summary


def check_stream(result, state, summary, lab):
    svc, cli = lab.addr["service"], lab.addr["client"]
    assert result["error"] is None
    assert result["eof"], "the server did not close its side cleanly"
    assert result["s"] == list(range(len(result["s"]))), \
        "server lines lost, repeated or out of order"
    assert len(result["s"]) > int(state["next_line"]) + 50, \
        "the stream did not continue after the restore"
    assert result["e"] == ["c%06d" % i for i in range(result["sent"])], \
        "client lines not echoed exactly once in order"
    rsts, tuples, _ = summary
    assert rsts == 0
    assert tuples == {tuple(sorted([(cli, result["client_port"]),
                                    (svc, PORT)]))}


@pytest.fixture
def lab_factory():
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces and TCP_REPAIR")
    if not os.access(PROBE, os.X_OK):
        pytest.fail(f"{PROBE} not built: run ninja -C {BUILD_DIR} "
                    "or set RV_BUILD_DIR")
    labs = []

    def make(family=4, client_sysctls=None):
        labs.append(Lab(family, client_sysctls or {}))
        return labs[-1]

    yield make
    for lab in labs:
        lab.close()


@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("resume_args", [(), ("--advance-ts",)],
                         ids=["ts-kept", "ts-advanced"])
def test_restore_continues_stream(lab_factory, family, resume_args):
    lab = lab_factory(family)
    result, state, summary = migrate(lab, resume_args=resume_args)
    check_stream(result, state, summary, lab)
    assert state["ts_ok"] == "1"
    assert state["wscale_ok"] == "1"
    assert state["sack_ok"] == "1"
    assert len(state["send"]) > 1, "no unacknowledged server bytes to resend"


def test_restore_without_timestamps(lab_factory):
    lab = lab_factory(4, {"net.ipv4.tcp_timestamps": 0})
    result, state, summary = migrate(lab)
    check_stream(result, state, summary, lab)
    assert state["ts_ok"] == "0"


def test_restore_without_window_scaling(lab_factory):
    lab = lab_factory(4, {"net.ipv4.tcp_window_scaling": 0})
    result, state, summary = migrate(lab)
    check_stream(result, state, summary, lab)
    assert state["wscale_ok"] == "0"


@pytest.mark.parametrize("mss", [536, 1460])
def test_restore_keeps_mss(lab_factory, mss):
    lab = lab_factory(4)
    result, state, summary = migrate(lab, mss=mss)
    check_stream(result, state, summary, lab)
    assert int(state["mss"]) == mss
    max_payload = summary[2]
    assert max_payload <= mss
    # The backlog resent after the restore fills whole segments: with the
    # 12-byte timestamp option that is mss - 12, never the 524 of a socket
    # that lost its MSS.
    assert max_payload == mss - 12


@pytest.mark.parametrize("family", [4, 6])
def test_restore_with_client_data_in_flight(lab_factory, family):
    lab = lab_factory(family)
    result, state, summary = migrate(lab, in_flight=True,
                                     resume_args=("--advance-ts",))
    check_stream(result, state, summary, lab)
    assert len(state["recv"]) > 1, "no queued client bytes in the dump"
    # The client's lines sent while no server existed come again on its
    # retransmission timer, whose backoff a window probe does not reset.
    print(f"client data in flight: longest gap between server lines "
          f"{result['max_gap_ms']} ms, between echoes "
          f"{result['max_echo_gap_ms']} ms", file=sys.stderr)


def test_stale_timestamp_is_dropped(lab_factory):
    """A TSval far behind the primary's fails PAWS: nothing gets through."""
    lab = lab_factory(4)
    result, state, summary = migrate(lab, resume_args=("--ts-delta",
                                                       "-100000"),
                                     expect_flow=False)
    assert result["error"] is None
    assert result["last_s_time"] < result["restored_at"], \
        "a server line got through although its TSval fails PAWS"
    assert summary[0] == 0


def test_report_restore_time():
    if not RESTORE_US:
        pytest.skip("no restore ran")
    print(f"restore time: median {statistics.median(RESTORE_US)} us over "
          f"{len(RESTORE_US)} runs, max {max(RESTORE_US)} us", file=sys.stderr)
