# SPDX-License-Identifier: BSD-3-Clause
"""Acceptance test of revenantd's capture path with real OpenSSH sessions.

Debian's unmodified ssh client talks to Debian's sshd across the lab while
revenantd reads the switch mirror. tcpdump records the same mirror in the
appliance namespace and the client's own interface in the client namespace.
For every SSH connection the test then checks that:

- revenantd's ISN, final sequence and acknowledgement numbers and payload
  byte counts of each direction equal what tshark reads from the mirror;
- revenantd logged every byte: its log length equals the unique bytes the
  mirror shows (final sequence number - ISN - 1, less the FIN);
- `revenantctl dump` writes a pcapng that tshark opens, and the streams
  reassembled from it are byte-identical to the streams that the client
  sent and received, reassembled from the client's own capture.

Run as root from the repository root after building:
    RV_BUILD_DIR=build-x /usr/bin/python3 -m pytest tests/integration/test_capture.py
"""

import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from dataclasses import dataclass, field

import pexpect
import pytest

from appliance import probe_address, probe_address6
from sshd_lab import Sshd

SSH_PORT = 22
BULK_BYTES = 20_000_000
SMALL_BYTES = 300_000
SEQ_MOD = 1 << 32
TCP_FIN, TCP_SYN, TCP_RST, TCP_ACK = 0x01, 0x02, 0x04, 0x10

# tshark settings: only the TCP fields are read, so SSH dissection and TCP
# analysis are turned off to keep large captures fast.
TSHARK_OPTIONS = ["--disable-protocol", "ssh",
                  "-o", "tcp.desegment_tcp_streams:FALSE",
                  "-o", "tcp.analyze_sequence_numbers:FALSE"]
SEGMENT_FIELDS = ["ip.src", "ipv6.src", "tcp.srcport", "ip.dst", "ipv6.dst", "tcp.dstport",
                  "tcp.seq_raw", "tcp.ack_raw", "tcp.len", "tcp.flags"]


class Tcpdump:
    """tcpdump writing one interface of a lab namespace to a pcap file.

    Unlike lab.Capture, it uses a 64 MiB buffer (-B 65536, in KiB) to keep
    up with a 20 MB transfer, and it reports tcpdump's kernel drop count
    when it stops, so a test can tell a complete capture from one with drops.
    """

    def __init__(self, lab, host, interface, path):
        self.lab = lab
        self.host = host
        self.interface = interface
        self.path = path
        self.proc = None
        self.dropped = None

    def start(self, timeout=10):
        cmd = ["tcpdump", "-n", "-U", "--immediate-mode", "-Z", "root", "-B", "65536",
               "-i", self.interface, "-w", str(self.path)]
        self.proc = self.lab.popen(self.host, cmd, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if "listening on" in line:
                return self
            if not line and self.proc.poll() is not None:
                break
        self.stop()
        pytest.fail(f"tcpdump on {self.host} {self.interface} did not start within {timeout} s")

    def stop(self, settle=0.5):
        """Stop tcpdump by PID with SIGINT; return its kernel drop count."""
        if self.proc is None:
            return self.dropped
        time.sleep(settle)
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            _, err = self.proc.communicate()
        self.proc = None
        match = re.search(r"(\d+) packets? dropped by kernel", err)
        if match is None:
            pytest.fail(f"tcpdump on {self.interface} printed no drop count: {err.strip()}")
        self.dropped = int(match.group(1))
        return self.dropped


@dataclass
class Segment:
    seq: int
    ack: int
    length: int
    flags: int
    payload: bytes = b""


@dataclass
class Connection:
    """The TCP segments of one connection in a capture, split by direction."""
    client: tuple
    server: tuple
    c2s: list = field(default_factory=list)
    s2c: list = field(default_factory=list)

    def direction(self, name):
        return self.c2s if name == "c2s" else self.s2c


def run_tshark(path, fields, display_filter):
    cmd = ["tshark", "-n", "-r", str(path), *TSHARK_OPTIONS, "-Y", display_filter,
           "-T", "fields", "-E", "separator=|", "-E", "occurrence=f"]
    for name in fields:
        cmd += ["-e", name]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        pytest.fail(f"tshark cannot read {path} (exit status {proc.returncode}): "
                    f"{proc.stderr.strip()}")
    return [line.split("|") for line in proc.stdout.splitlines() if line]


def read_connections(path, with_payload):
    """Read the SSH connections of a pcap or pcapng with tshark, keyed by client endpoint."""
    fields = SEGMENT_FIELDS + (["tcp.payload"] if with_payload else [])
    # revenantd's own SYN probes to the SSH port are not connections it logs.
    # tshark 4.0 reads "ip.addr != A" as true only where an ip.addr field
    # exists, so that form would drop every IPv6 frame too.
    rows = run_tshark(path, fields, f"tcp.port == {SSH_PORT} && !icmp && !icmpv6 "
                      f"&& !(ip.addr == {probe_address()}) "
                      f"&& !(ipv6.addr == {probe_address6()})")
    conns = {}
    for row in rows:
        src = (row[0] or row[1], int(row[2]))
        dst = (row[3] or row[4], int(row[5]))
        to_server = dst[1] == SSH_PORT
        client, server = (src, dst) if to_server else (dst, src)
        conn = conns.setdefault(client, Connection(client, server))
        payload = bytes.fromhex(row[10].replace(":", "")) if with_payload else b""
        seg = Segment(int(row[6]), int(row[7]), int(row[8]), int(row[9], 16), payload)
        if with_payload and len(payload) != seg.length:
            pytest.fail(f"{path}: frame of {client} holds {len(payload)} payload bytes, "
                        f"tcp.len says {seg.length}")
        (conn.c2s if to_server else conn.s2c).append(seg)
    return conns


def seq_offset(seq, base):
    return (seq - base) % SEQ_MOD


@dataclass
class DirectionSummary:
    """What the mirror shows of one direction: the numbers revenantd must match."""
    isn: int
    next_seq: int
    ack: int
    payload_bytes: int
    unique_bytes: int
    packets: int
    fin: bool


def summarize(segments, peer_isn):
    """Compute the ISN, final seq and ack and byte counts of one direction."""
    syns = [s for s in segments if s.flags & TCP_SYN]
    assert syns, "the capture holds no SYN of this direction"
    isn = syns[0].seq
    end_offset = 0
    ack_offset = None
    fin = False
    for seg in segments:
        end = seq_offset(seg.seq, isn) + seg.length
        end += 1 if seg.flags & TCP_SYN else 0
        end += 1 if seg.flags & TCP_FIN else 0
        end_offset = max(end_offset, end)
        fin = fin or bool(seg.flags & TCP_FIN)
        if seg.flags & TCP_ACK:
            offset = seq_offset(seg.ack, peer_isn)
            ack_offset = offset if ack_offset is None else max(ack_offset, offset)
    return DirectionSummary(
        isn=isn,
        next_seq=(isn + end_offset) % SEQ_MOD,
        ack=(peer_isn + ack_offset) % SEQ_MOD,
        payload_bytes=sum(s.length for s in segments),
        unique_bytes=end_offset - 1 - (1 if fin else 0),
        packets=len(segments),
        fin=fin)


def reassemble(segments, isn):
    """Reassemble one direction by sequence number from ISN + 1.

    Returns the bytes. Fails on a hole and on retransmitted bytes that
    differ from the first copy.
    """
    base = (isn + 1) % SEQ_MOD
    pieces = sorted((seq_offset(s.seq + (1 if s.flags & TCP_SYN else 0), base), s.payload)
                    for s in segments if s.payload)
    out = bytearray()
    for offset, payload in pieces:
        if offset > len(out):
            pytest.fail(f"hole of {offset - len(out)} bytes at stream offset {len(out)}")
        overlap = out[offset:offset + len(payload)]
        if overlap != payload[:len(overlap)]:
            pytest.fail(f"retransmitted bytes at stream offset {offset} differ")
        out += payload[len(overlap):]
    return bytes(out)


def parse_endpoint(text):
    """Turn "198.51.100.10:40000" or "[2001:db8::1]:40000" into (address, port)."""
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def ssh_flows(appliance):
    return {parse_endpoint(f["client"]): f for f in appliance.flows()
            if parse_endpoint(f["server"])[1] == SSH_PORT}


def wait_closed(appliance, count, timeout=15):
    """Wait until revenantd lists COUNT SSH connections, all closed; return them."""
    deadline = time.monotonic() + timeout
    while True:
        flows = ssh_flows(appliance)
        states = sorted(f["state"] for f in flows.values())
        if len(flows) == count and all(s == "closed" for s in states):
            return flows
        if time.monotonic() > deadline:
            pytest.fail(f"revenantd lists SSH connections in states {states} after "
                        f"{timeout} s, expected {count} closed")
        time.sleep(0.2)


def in_netns(lab, host, argv):
    return ["ip", "netns", "exec", lab.ns(host), *[str(a) for a in argv]]


def interactive_session(lab, sshd, address):
    """Drive a login shell through a pty with /usr/bin/ssh -tt and run a few commands."""
    argv = in_netns(lab, "client", sshd.ssh_argv(address, tty=True))
    child = pexpect.spawn(argv[0], argv[1:], timeout=20, encoding="utf-8",
                          codec_errors="replace")
    try:
        # The quotes split the prompt in the echoed command line, so only
        # the shell's prompt itself matches.
        child.sendline("PS1='rv''prompt> '")
        child.expect_exact("rvprompt> ")
        child.sendline("echo MARK-$((6 * 7))-END")
        child.expect_exact("MARK-42-END")
        child.expect_exact("rvprompt> ")
        child.sendline(f"ls -1 {sshd.dir}")
        child.expect_exact("sshd_config")
        child.expect_exact("rvprompt> ")
        child.sendline("for i in 1 2 3; do echo line-$i; done")
        child.expect_exact("line-3")
        child.expect_exact("rvprompt> ")
        child.sendline("exit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, f"interactive ssh exited with status {child.exitstatus}"


def bulk_transfer(lab, sshd, address, size, workdir):
    """Upload SIZE random bytes and download SIZE bytes on one SSH connection."""
    upload = workdir / "upload.bin"
    download = workdir / "download.bin"
    upload.write_bytes(os.urandom(size))
    remote = sshd.dir / "uploaded.bin"
    argv = sshd.ssh_argv(address, f"cat > {remote} && head -c {size} /dev/urandom")
    with open(upload, "rb") as stdin, open(download, "wb") as stdout:
        proc = subprocess.run(in_netns(lab, "client", argv), stdin=stdin, stdout=stdout,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    assert proc.returncode == 0, f"bulk ssh failed: {proc.stderr.strip()}"
    assert hashlib.sha256(remote.read_bytes()).digest() == \
        hashlib.sha256(upload.read_bytes()).digest(), "the server stored other bytes"
    assert download.stat().st_size == size
    upload.unlink()
    download.unlink()
    remote.unlink()


def check_flow_against_mirror(appliance, flow_id, mirror_conn):
    """Compare revenantd's state of one connection with the mirror capture."""
    flow = appliance.flow(flow_id)
    c2s_syn = [s for s in mirror_conn.c2s if s.flags & TCP_SYN]
    s2c_syn = [s for s in mirror_conn.s2c if s.flags & TCP_SYN]
    assert c2s_syn and s2c_syn, f"flow {flow_id}: the mirror lacks a SYN"
    sides = {
        "c2s": summarize(mirror_conn.c2s, s2c_syn[0].seq),
        "s2c": summarize(mirror_conn.s2c, c2s_syn[0].seq),
    }
    keys = {"c2s": "client_to_server", "s2c": "server_to_client"}
    for name, want in sides.items():
        got = flow[keys[name]]
        where = f"flow {flow_id} {name}"
        assert got["syn_seen"], f"{where}: SYN not seen"
        assert got["isn"] == want.isn, f"{where}: ISN"
        assert got["next_seq"] == want.next_seq, f"{where}: next_seq"
        assert got["ack"] == want.ack, f"{where}: ack"
        assert got["fin_seen"] == want.fin, f"{where}: fin_seen"
        assert got["packets"] == want.packets, f"{where}: packets"
        assert got["payload_bytes"] == want.payload_bytes, f"{where}: payload_bytes"
        assert got["log_base"] == 0, f"{where}: log_base"
        assert got["log_end"] - got["log_base"] == want.unique_bytes, f"{where}: logged bytes"
        assert got["log_gaps"] == 0, f"{where}: log_gaps"
        assert got["conflict_bytes"] == 0, f"{where}: conflict_bytes"
    assert flow["state"] == "closed"
    assert flow["unrecoverable"] == [], f"flow {flow_id}: {flow['unrecoverable_detail']}"
    assert flow["truncated_frames"] == 0
    return flow, sides


def check_dump_against_client(appliance, flow, client_conn, path):
    """Dump one connection and compare its streams with the client's capture."""
    proc = appliance.ctl("dump", flow["id"], "-o", path, check=False, timeout=60)
    if proc.returncode != 0 and "Cannot allocate memory" in proc.stderr:
        # The dump pool contains 256 mbufs and every dumped segment leaks one,
        # so a dump fails once 256 segments were written since start-up.
        pytest.fail(f"revenantd bug: dump of flow {flow['id']} failed with ENOMEM because "
                    f"app/lib/flow_dump.c leaks the mbuf of each written segment: "
                    f"{proc.stderr.strip()}")
    assert proc.returncode == 0, f"dump of flow {flow['id']} failed: {proc.stderr.strip()}"
    dumped = read_connections(path, with_payload=True)
    assert list(dumped) == [client_conn.client], f"{path}: connections {list(dumped)}"
    conn = dumped[client_conn.client]
    for name, key in (("c2s", "client_to_server"), ("s2c", "server_to_client")):
        isn = flow[key]["isn"]
        syns = [s for s in conn.direction(name) if s.flags & TCP_SYN]
        assert [s.seq for s in syns] == [isn], f"dump {name}: SYN"
        client_syns = [s for s in client_conn.direction(name) if s.flags & TCP_SYN]
        want = reassemble(client_conn.direction(name), client_syns[0].seq)
        got = reassemble(conn.direction(name), isn)
        assert len(got) == len(want), f"dump {name}: {len(got)} bytes, client {len(want)}"
        assert got == want, f"dump {name}: bytes differ from the client's capture"
        assert max(s.length for s in conn.direction(name)) <= 1400
    return conn


def check_capture(appliance, captures, expected, workdir):
    """Run every check on the EXPECTED number of SSH connections."""
    flows = wait_closed(appliance, expected)
    for capture in captures:
        assert capture.stop() == 0, f"tcpdump on {capture.interface} dropped frames"
    stats = appliance.stats()
    capture_port = stats["ports"][0]
    assert capture_port["role"] == "capture"
    assert capture_port["rx_dropped"] == 0, f"revenantd dropped frames: {capture_port}"
    assert stats["flows"]["capture_gaps"] == 0
    assert stats["flows"]["conflicts"] == 0

    mirror = read_connections(captures[0].path, with_payload=False)
    client = read_connections(captures[1].path, with_payload=True)
    assert sorted(mirror) == sorted(flows), "revenantd and the mirror list other connections"
    assert sorted(client) == sorted(flows), "the client shows other connections"
    results = {}
    checked = {}
    for endpoint, row in flows.items():
        flow, sides = check_flow_against_mirror(appliance, row["id"], mirror[endpoint])
        assert row["logged_c2s"] == sides["c2s"].unique_bytes
        assert row["logged_s2c"] == sides["s2c"].unique_bytes
        assert row["bytes_c2s"] == sides["c2s"].payload_bytes
        assert row["bytes_s2c"] == sides["s2c"].payload_bytes
        checked[endpoint] = flow
        results[endpoint] = sides
    # The dumps come last, so a failing dump leaves the checks above done.
    for endpoint, flow in checked.items():
        check_dump_against_client(appliance, flow, client[endpoint],
                                  workdir / f"flow-{flow['id']}.pcapng")
    return results


@pytest.fixture
def workdir():
    """A temporary directory for captures and dumps, removed at teardown.

    Not tmp_path: pytest keeps those, and the captures here take about 90 MB.
    """
    path = Path(tempfile.mkdtemp(prefix="rv-captest-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def start_captures(lab, workdir):
    mirror = Tcpdump(lab, "appliance", lab.MIRROR_IF, workdir / "mirror.pcap").start()
    client = Tcpdump(lab, "client", lab.CLIENT_IF, workdir / "client.pcap").start()
    return [mirror, client]


def test_ssh_sessions_ipv4(appliance, workdir):
    lab = appliance.lab
    with Sshd(lab) as sshd:
        captures = start_captures(lab, workdir)
        interactive_session(lab, sshd, lab.PRIMARY_IP)
        bulk_transfer(lab, sshd, lab.PRIMARY_IP, BULK_BYTES, workdir)
        results = check_capture(appliance, captures, 2, workdir)

    bulk = [sides for sides in results.values() if sides["c2s"].unique_bytes > BULK_BYTES]
    assert len(bulk) == 1, "no connection carried the 20 MB upload"
    assert bulk[0]["s2c"].unique_bytes > BULK_BYTES, "the bulk connection lacks the download"


def test_ssh_session_ipv6(appliance, workdir):
    lab = appliance.lab
    with Sshd(lab) as sshd:
        captures = start_captures(lab, workdir)
        bulk_transfer(lab, sshd, lab.PRIMARY_IP6, SMALL_BYTES, workdir)
        results = check_capture(appliance, captures, 1, workdir)

    ((client_ip, _),) = results
    assert client_ip == lab.CLIENT_IP6
