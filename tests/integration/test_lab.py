# SPDX-License-Identifier: BSD-3-Clause
"""Tests of the namespace lab itself (tools/lab), which every other lab test uses."""

import collections
import signal
import subprocess
import time

import pytest

from lab import LAB_RUN_DIR, LAB_TOOL, Lab, lab_namespaces, run_lab_tool

PING_COUNT = 5
TCP_PORT = 5001
TRANSFER_BYTES = 64 * 1024

# Receives one connection and prints the number of bytes read after each
# recv, so a test can follow the transfer.
TCP_SERVER = r"""
import socket, sys
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
srv = socket.socket(family, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], int(sys.argv[2])))
srv.listen(1)
print("listening", flush=True)
conn, _ = srv.accept()
total = 0
while True:
    data = conn.recv(65536)
    if not data:
        break
    total += len(data)
    print(total, flush=True)
conn.close()
"""

# Sends argv[3] bytes, then, for each line on stdin, 100 more bytes.
TCP_CLIENT = r"""
import socket, sys
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
conn = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
conn.sendall(b"a" * int(sys.argv[3]))
print("sent", flush=True)
for line in sys.stdin:
    conn.sendall(b"b" * 100)
    print("sent", flush=True)
conn.shutdown(socket.SHUT_WR)
conn.settimeout(10)
conn.recv(1)
conn.close()
"""


def start_server(lab, host, address):
    server = lab.popen(host, ["/usr/bin/python3", "-c", TCP_SERVER, address, TCP_PORT],
                       stdout=subprocess.PIPE, text=True)
    assert server.stdout.readline().strip() == "listening"
    return server


def wait_for_total(server, expected, timeout=10):
    """Read the server's running byte count until it reaches EXPECTED."""
    deadline = time.monotonic() + timeout
    total = 0
    while total < expected and time.monotonic() < deadline:
        line = server.stdout.readline()
        if not line:
            break
        total = int(line)
    return total


def icmp_filter(src, dst, v6=False):
    if v6:
        return f"icmpv6.type == {{}} && ipv6.src == {src} && ipv6.dst == {dst}"
    return f"icmp.type == {{}} && ip.src == {src} && ip.dst == {dst}"


def assert_pings_mirrored_once(capture, src, dst, count, v6=False):
    request, reply = (128, 129) if v6 else (8, 0)
    flt = icmp_filter(src, dst, v6)
    back = icmp_filter(dst, src, v6)
    assert capture.count(flt.format(request)) == count
    assert capture.count(back.format(reply)) == count


def test_ping_client_primary(lab):
    assert "0% packet loss" in lab.ping("client", lab.PRIMARY_IP, count=3).stdout
    assert "0% packet loss" in lab.ping("client", lab.PRIMARY_IP6, count=3).stdout


def test_mirror_ping_once(lab):
    capture = lab.capture()
    lab.ping("client", lab.PRIMARY_IP, count=PING_COUNT)
    lab.ping("client", lab.PRIMARY_IP6, count=PING_COUNT)
    capture.stop()

    assert_pings_mirrored_once(capture, lab.CLIENT_IP, lab.PRIMARY_IP, PING_COUNT)
    assert_pings_mirrored_once(capture, lab.CLIENT_IP6, lab.PRIMARY_IP6, PING_COUNT,
                               v6=True)
    # The first ping needed ARP: one request from the client, one reply.
    assert capture.count(f"arp.opcode == 1 && arp.src.proto_ipv4 == {lab.CLIENT_IP}"
                         f" && arp.dst.proto_ipv4 == {lab.PRIMARY_IP}") == 1
    assert capture.count(f"arp.opcode == 2 && arp.src.proto_ipv4 == {lab.PRIMARY_IP}") == 1


@pytest.mark.parametrize("family", ["v4", "v6"])
def test_mirror_tcp_once(lab, family):
    client_ip = lab.CLIENT_IP if family == "v4" else lab.CLIENT_IP6
    primary_ip = lab.PRIMARY_IP if family == "v4" else lab.PRIMARY_IP6
    ip = "ip" if family == "v4" else "ipv6"

    capture = lab.capture()
    server = start_server(lab, "primary", primary_ip)
    lab.exec("client", ["/usr/bin/python3", "-c", TCP_CLIENT, primary_ip, TCP_PORT,
                        TRANSFER_BYTES])
    assert wait_for_total(server, TRANSFER_BYTES) == TRANSFER_BYTES
    server.wait(timeout=10)
    capture.stop()

    to_server = f"tcp && {ip}.src == {client_ip} && {ip}.dst == {primary_ip}"
    frames = capture.fields(to_server, "tcp.seq_raw", "tcp.ack_raw", "tcp.len",
                            "tcp.flags", "tcp.window_size_value")
    payload = sum(int(frame[2]) for frame in frames)
    duplicates = [f for f, n in collections.Counter(frames).items() if n > 1]
    assert payload == TRANSFER_BYTES
    assert duplicates == []
    assert capture.count(f"{to_server} && tcp.flags.syn == 1") == 1
    assert capture.count(f"{to_server} && tcp.flags.fin == 1") == 1
    assert capture.count("tcp.analysis.retransmission") == 0

    from_server = f"tcp && {ip}.src == {primary_ip} && {ip}.dst == {client_ip}"
    assert capture.count(f"{from_server} && tcp.flags.syn == 1") == 1
    assert capture.count(f"{from_server} && tcp.flags.fin == 1") == 1


def test_mirror_backup_frames(lab):
    capture = lab.capture()
    lab.ping("backup", lab.CLIENT_IP, count=PING_COUNT)
    lab.ping("backup", lab.PRIMARY_IP6, count=PING_COUNT)
    capture.stop()

    assert_pings_mirrored_once(capture, lab.BACKUP_IP, lab.CLIENT_IP, PING_COUNT)
    assert_pings_mirrored_once(capture, lab.BACKUP_IP6, lab.PRIMARY_IP6, PING_COUNT,
                               v6=True)
    assert capture.count(f"eth.src == {lab.BACKUP_MAC}") >= 2 * PING_COUNT


def test_mirror_inject_frames(lab):
    """A frame the appliance sends through its inject port reaches the mirror once."""
    capture = lab.capture()
    # The inject port has no address, so send a raw broadcast frame with a
    # known EtherType from the 802 local experimental range.
    frame = bytes.fromhex("ffffffffffff") + bytes.fromhex(lab.INJECT_MAC.replace(":", ""))
    frame += bytes.fromhex("88b5") + b"revenant lab test".ljust(46, b"\0")
    sender = ("import socket, sys; s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW);"
              "s.bind((sys.argv[1], 0)); s.send(bytes.fromhex(sys.argv[2]))")
    lab.exec("appliance", ["/usr/bin/python3", "-c", sender, lab.INJECT_IF, frame.hex()])
    capture.stop()

    assert capture.count(f"eth.type == 0x88b5 && eth.src == {lab.INJECT_MAC}") == 1


def test_management_link(lab):
    capture = lab.capture()
    for address in (lab.MGMT_BACKUP_IP, lab.MGMT_PRIMARY_IP,
                    lab.MGMT_BACKUP_IP6, lab.MGMT_PRIMARY_IP6):
        assert "0% packet loss" in lab.ping("appliance", address, count=2).stdout
    assert "0% packet loss" in lab.ping("backup", lab.MGMT_APPLIANCE_IP, count=2).stdout
    capture.stop()

    management = (f"ip.addr == {lab.MGMT_NET} || ipv6.addr == {lab.MGMT_NET6}"
                  f" || arp.src.proto_ipv4 == {lab.MGMT_NET}"
                  f" || arp.dst.proto_ipv4 == {lab.MGMT_NET}")
    macs = " || ".join(f"eth.addr == {mac}" for mac in
                       (lab.MGMT_APPLIANCE_MAC, lab.MGMT_PRIMARY_MAC, lab.MGMT_BACKUP_MAC))
    assert capture.count(management) == 0
    assert capture.count(macs) == 0


def test_management_not_on_served_segment(lab):
    result = lab.ping("client", lab.MGMT_APPLIANCE_IP, count=1, timeout=2, check=False)
    assert result.returncode != 0


def lab_veths(lab):
    """Yield (host, interface) for every veth end of the lab."""
    for var, value in lab.env.items():
        if var.startswith("SW_") and var.endswith("_PORT"):
            yield "switch", value
    yield "switch", lab.SW_BLACKHOLE_PORT + "p"
    for host, var in (("client", "CLIENT_IF"), ("primary", "PRIMARY_IF"),
                      ("backup", "BACKUP_IF"), ("appliance", "INJECT_IF"),
                      ("appliance", "MIRROR_IF"), ("appliance", "MGMT_APPLIANCE_IF"),
                      ("primary", "MGMT_PRIMARY_IF"), ("backup", "MGMT_BACKUP_IF")):
        yield host, lab.env[var]


def test_offloads_off(lab):
    features = ("tx-checksumming", "tcp-segmentation-offload",
                "generic-segmentation-offload", "generic-receive-offload",
                "large-receive-offload")
    veths = list(lab_veths(lab))
    assert len(veths) == 18
    for host, interface in veths:
        out = lab.exec(host, ["ethtool", "-k", interface]).stdout
        state = dict(line.split(":", 1) for line in out.splitlines()[1:] if ":" in line)
        for feature in features:
            assert state[feature].split()[0] == "off", f"{interface} {feature}"


def test_dpdk_ports_silent(lab):
    for interface in (lab.INJECT_IF, lab.MIRROR_IF):
        out = lab.exec("appliance", ["ip", "-o", "addr", "show", "dev", interface]).stdout
        assert out == ""
        assert "UP" in lab.exec("appliance", ["ip", "-br", "link", "show", "dev",
                                              interface]).stdout


def test_two_labs_coexist(lab):
    with Lab() as other:
        assert other.prefix != lab.prefix
        assert "0% packet loss" in lab.ping("client", lab.PRIMARY_IP).stdout
        assert "0% packet loss" in other.ping("client", other.PRIMARY_IP).stdout

        other.port_down("primary")
        assert other.ping("client", other.PRIMARY_IP, timeout=2, check=False).returncode != 0
        assert "0% packet loss" in lab.ping("client", lab.PRIMARY_IP).stdout

        listed = run_lab_tool("list").stdout
        assert lab.prefix in listed
        assert other.prefix in listed
    assert lab_namespaces(other.prefix) == []
    assert len(lab_namespaces(lab.prefix)) == 5


def test_down_removes_everything():
    new_lab = Lab().up()
    prefix = new_lab.prefix
    sleeper = None
    try:
        assert sorted(lab_namespaces(prefix)) == sorted(
            f"{prefix}-{t}" for t in ("sw", "cli", "pri", "bak", "app"))
        # Started outside Lab.popen, so only tools/lab down can stop it.
        sleeper = subprocess.Popen(["ip", "netns", "exec", new_lab.NS_PRIMARY,
                                    "sleep", "60"])
        time.sleep(0.2)
        run_lab_tool("down", prefix)
        assert lab_namespaces(prefix) == []
        assert not (LAB_RUN_DIR / f"{prefix}.env").exists()
        assert sleeper.wait(timeout=10) != 0
        # A second down of the same prefix succeeds and changes nothing.
        run_lab_tool("down", prefix)
    finally:
        if sleeper and sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait()
        new_lab.down()


def test_down_invalid_prefix():
    result = run_lab_tool("down", "Bad_Prefix", check=False)
    assert result.returncode != 0
    assert "invalid prefix" in result.stderr


def test_port_down_keeps_client_retransmissions(lab):
    server = start_server(lab, "primary", lab.PRIMARY_IP)
    client = lab.popen("client", ["/usr/bin/python3", "-c", TCP_CLIENT, lab.PRIMARY_IP,
                                  TCP_PORT, 100],
                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert client.stdout.readline().strip() == "sent"
    assert wait_for_total(server, 100) == 100

    capture = lab.capture()
    lab.port_down("primary")
    cut = time.time()
    client.stdin.write("more\n")
    client.stdin.flush()
    assert client.stdout.readline().strip() == "sent"
    # Linux retransmits after 200 ms at the earliest, then doubles the wait.
    time.sleep(1.5)
    assert lab.ping("client", lab.PRIMARY_IP, timeout=2, check=False).returncode != 0
    capture.stop()

    data = (f"tcp && ip.src == {lab.CLIENT_IP} && ip.dst == {lab.PRIMARY_IP}"
            f" && tcp.dstport == {TCP_PORT} && tcp.len == 100")
    seqs = collections.Counter(seq for (seq,) in capture.fields(data, "tcp.seq_raw"))
    assert len(seqs) == 1
    assert list(seqs.values())[0] >= 3
    assert capture.count(f"eth.src == {lab.PRIMARY_MAC} && frame.time_epoch > {cut}") == 0

    lab.port_up("primary")
    assert "0% packet loss" in lab.ping("client", lab.PRIMARY_IP, timeout=5).stdout


def test_drop_hides_host(lab):
    lab.ping("client", lab.PRIMARY_IP)
    capture = lab.capture()
    lab.drop("primary")
    assert lab.ping("client", lab.PRIMARY_IP, count=3, timeout=3, check=False).returncode != 0
    link = lab.exec("switch", ["ip", "-br", "link", "show", "dev", lab.SW_PRIMARY_PORT])
    assert " UP " in link.stdout
    lab.undrop("primary")
    assert "0% packet loss" in lab.ping("client", lab.PRIMARY_IP, count=2).stdout
    capture.stop()

    requests = f"icmp.type == 8 && ip.dst == {lab.PRIMARY_IP}"
    replies = f"icmp.type == 0 && ip.src == {lab.PRIMARY_IP}"
    # Only the two pings after undrop are answered; the dropped replies
    # never reach the mirror.
    assert capture.count(requests) >= 5
    assert capture.count(replies) == 2


def run_and_wait_up(*cmd):
    """Start tools/lab run CMD and return (process, prefix) once the lab is up."""
    proc = subprocess.Popen([str(LAB_TOOL), "run", "--", *cmd], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    assert " is up" in line, line
    return proc, line.split()[1]


def test_run_true_leaves_nothing():
    proc = subprocess.run([str(LAB_TOOL), "run", "--", "sh", "-c", "echo $LAB_PREFIX"],
                          capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    prefix = proc.stdout.strip()
    assert prefix
    assert lab_namespaces(prefix) == []
    assert not (LAB_RUN_DIR / f"{prefix}.env").exists()

    proc = subprocess.run([str(LAB_TOOL), "run", "--", "true"], capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    prefix = proc.stderr.split()[1]
    assert lab_namespaces(prefix) == []
    assert not (LAB_RUN_DIR / f"{prefix}.env").exists()


def test_run_exit_status():
    proc = subprocess.run([str(LAB_TOOL), "run", "--", "sh", "-c", "exit 7"],
                          capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 7


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_run_interrupted(signum, status):
    proc, prefix = run_and_wait_up("sh", "-c", "ip netns exec $NS_CLIENT sleep 60")
    try:
        assert len(lab_namespaces(prefix)) == 5
        proc.send_signal(signum)
        proc.wait(timeout=30)
        assert proc.returncode == status
        assert lab_namespaces(prefix) == []
        assert not (LAB_RUN_DIR / f"{prefix}.env").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        run_lab_tool("down", prefix)
        proc.stdout.close()
        proc.stderr.close()


@pytest.mark.full
def test_up_down_cycles():
    """Twenty labs made and removed in a row leave no namespace or file."""
    for _ in range(20):
        with Lab() as cycle_lab:
            assert "0% packet loss" in cycle_lab.ping("client", cycle_lab.BACKUP_IP).stdout
        assert lab_namespaces(cycle_lab.prefix) == []
        assert not (LAB_RUN_DIR / f"{cycle_lab.prefix}.env").exists()


@pytest.mark.full
@pytest.mark.parametrize("family", ["v4", "v6"])
def test_mirror_large_transfer(lab, family):
    """An 8 MiB transfer reaches the mirror without one duplicated segment."""
    primary_ip = lab.PRIMARY_IP if family == "v4" else lab.PRIMARY_IP6
    client_ip = lab.CLIENT_IP if family == "v4" else lab.CLIENT_IP6
    ip = "ip" if family == "v4" else "ipv6"
    size = 8 * 1024 * 1024

    capture = lab.capture()
    server = start_server(lab, "primary", primary_ip)
    retransmitted_before = tcp_retransmissions(lab, "client")
    lab.exec("client", ["/usr/bin/python3", "-c", TCP_CLIENT, primary_ip, TCP_PORT, size],
             timeout=60)
    assert wait_for_total(server, size, timeout=60) == size
    retransmitted = tcp_retransmissions(lab, "client") - retransmitted_before
    capture.stop(settle=1)

    # Data segments only: zero window probes repeat the same empty segment.
    to_server = (f"tcp && {ip}.src == {client_ip} && {ip}.dst == {primary_ip}"
                 f" && tcp.len > 0")
    frames = capture.fields(to_server, "tcp.seq_raw", "tcp.len")
    assert capture.kernel_drops == 0
    assert sum(int(length) for _, length in set(frames)) == size
    # A segment may appear twice only because the client really sent it
    # twice; a copy made by the mirror would exceed the client's count.
    assert len(frames) - len(set(frames)) <= retransmitted


def tcp_retransmissions(lab, host):
    """Return the TCP segments that HOST's kernel retransmitted so far."""
    out = lab.exec(host, ["nstat", "-asz", "TcpRetransSegs"]).stdout
    return int(out.split("TcpRetransSegs")[1].split()[0])
