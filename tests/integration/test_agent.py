# SPDX-License-Identifier: BSD-3-Clause
"""Lab test of revenant-agent: a takeover driven by handoff-send.

The line service (line_service.py) runs on the primary, a client in the
client namespace talks to it, and revenant-agent runs on the backup with a
second line service behind its adopt socket. The test plays the appliance:
it fences the primary (its switch port goes down), freezes the primary's
socket with TCP_REPAIR, and sends the handoff with tools/handoff-send over
the management network. The client must continue: every line once, in
order, on the same 4-tuple, with no RST on its interface. Broken handoffs
(bad signature, unknown key, wrong key, replay, truncated, absurd length)
must be rejected with a logged reason while the agent keeps serving.

The client's neighbour entry is updated with `ip neigh replace`; in
production the appliance sends gratuitous ARP.

Run as root after building:
    REVENANT_BUILD_DIR=build-agent /usr/bin/python3 -m pytest \
        tests/integration/test_agent.py
"""

import json
import os
import socket
import subprocess
import sys
import time

import pytest
import yaml

from lab import REPO_ROOT, build_dir

PYTHON = "/usr/bin/python3"
LINE_SERVICE = REPO_ROOT / "tests" / "integration" / "line_service.py"
PORT = 5000
AGENT_PORT = 7700

# Sends "c<number>" lines every 10 ms and reads "tick N" and "echo N: ..."
# lines; takes "finish" on stdin. Prints one JSON result.
CLIENT = r"""
import json, select, socket, sys, time
host, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection((host, port), timeout=5)
print("connected", s.getsockname()[1], flush=True)
s.setblocking(False)
res = {"error": None, "ticks": [], "echoes": [], "sent": 0, "eof": False}
sending, shut, pending, inbuf = True, False, b"", b""
next_send, deadline = time.monotonic(), time.monotonic() + 40
try:
    while time.monotonic() < deadline:
        r, _, _ = select.select([s, sys.stdin], [], [], 0.005)
        if sys.stdin in r and sys.stdin.readline().strip() == "finish":
            sending = False
        now = time.monotonic()
        if sending and now >= next_send:
            res["sent"] += 1
            pending += b"c%06d\n" % res["sent"]
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
                if line.startswith(b"tick "):
                    res["ticks"].append(int(line[5:]))
                else:
                    res["echoes"].append(line.decode())
        if (not sending and not shut and not pending
                and len(res["echoes"]) >= res["sent"]):
            s.shutdown(socket.SHUT_WR)
            shut = True
except OSError as err:
    res["error"] = repr(err)
print(json.dumps(res), flush=True)
"""

# CLIENT's protocol on COUNT connections at once, a line on each every
# 50 ms. Prints "connected PORT..." and, at the end, a JSON list of results.
MULTI_CLIENT = r"""
import json, select, socket, sys, time
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
socks = [socket.create_connection((host, port), timeout=5)
         for _ in range(count)]
print("connected", *[s.getsockname()[1] for s in socks], flush=True)
state = {}
for s in socks:
    s.setblocking(False)
    state[s] = {"error": None, "ticks": [], "echoes": [], "sent": 0,
                "eof": False, "port": s.getsockname()[1]}
pending = {s: b"" for s in socks}
inbuf = {s: b"" for s in socks}
shut, live = set(), set(socks)
sending, next_send = True, time.monotonic()
deadline = time.monotonic() + 60
while live and time.monotonic() < deadline:
    r, _, _ = select.select(list(live) + [sys.stdin], [], [], 0.01)
    if sys.stdin in r and sys.stdin.readline().strip() == "finish":
        sending = False
    now = time.monotonic()
    send_line = sending and now >= next_send
    if send_line:
        next_send = now + 0.050
    for s in list(live):
        res = state[s]
        try:
            if send_line:
                res["sent"] += 1
                pending[s] += b"c%06d\n" % res["sent"]
            if pending[s]:
                try:
                    pending[s] = pending[s][s.send(pending[s]):]
                except BlockingIOError:
                    pass
            if s in r:
                data = s.recv(65536)
                if not data:
                    res["eof"] = True
                    live.discard(s)
                    continue
                inbuf[s] += data
                *lines, inbuf[s] = inbuf[s].split(b"\n")
                for line in lines:
                    if line.startswith(b"tick "):
                        res["ticks"].append(int(line[5:]))
                    else:
                        res["echoes"].append(line.decode())
            if (not sending and s not in shut and not pending[s]
                    and len(res["echoes"]) >= res["sent"]):
                s.shutdown(socket.SHUT_WR)
                shut.add(s)
        except OSError as err:
            res["error"] = repr(err)
            live.discard(s)
print(json.dumps([state[s] for s in socks]), flush=True)
"""


def tool(name):
    path = build_dir() / "app" / "revenant-agent" / name
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} not built: run ninja -C {build_dir()}")
    return path


def wait_line(stream, prefix, timeout=10.0):
    """Read lines of a text stream until one starts with prefix."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        line = stream.readline()
        if line.startswith(prefix):
            return line.split()
        if not line:
            time.sleep(0.05)
    raise AssertionError(f"no line starting with {prefix!r} within {timeout} s")


def wait_log(path, text, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if text in path.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"{path.name}: no {text!r} within {timeout} s:\n"
                         f"{path.read_text()}")


class Takeover:
    """The processes and files of one test, in the lab's namespaces."""

    def __init__(self, lab):
        self.lab = lab
        self.tmp = lab.tmpdir
        self.send_tool = tool("handoff-send")
        self.key = self.make_key("appliance")
        self.stranger = self.make_key("stranger")
        self.agent_log = self.tmp / "agent.log"
        self.agent = None

    def make_key(self, name):
        path = self.tmp / f"{name}.pem"
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519",
                        "-out", str(path)], check=True, capture_output=True)
        return path

    def public_key(self, key):
        return subprocess.run([str(self.send_tool), "pubkey", str(key), "lab"],
                              check=True, capture_output=True,
                              text=True).stdout.strip()

    def start_agent(self, max_adopts_in_flight=None):
        config = {
            "listen": f"{self.lab.MGMT_BACKUP_IP}:{AGENT_PORT}",
            "log_level": "debug",
            "appliances": [{"name": "lab",
                            "public_key": self.public_key(self.key)}],
            "identities": [{
                "address": self.lab.SERVICE_IP,
                "interface": self.lab.BACKUP_IF,
                "prefix_len": 24,
                "services": [{"port": PORT,
                              "socket": str(self.tmp / "adopt.sock")}],
            }],
            "limits": {"max_message": "16MiB", "max_connections": 64,
                       "io_timeout_ms": 2000},
        }
        if max_adopts_in_flight is not None:
            config["limits"]["max_adopts_in_flight"] = max_adopts_in_flight
        path = self.tmp / "agent.yaml"
        path.write_text(yaml.safe_dump(config))
        self.agent = self.lab.popen("backup", [tool("revenant-agent"), "-f",
                                               path],
                                    stdout=subprocess.DEVNULL,
                                    stderr=open(self.agent_log, "w"))
        wait_log(self.agent_log, "waiting for handoffs")

    def start_service(self, host, *args):
        proc = self.lab.popen(host, [PYTHON, LINE_SERVICE, "--dump-tool",
                                     self.send_tool, *args],
                              stdout=subprocess.PIPE, text=True)
        wait_line(proc.stdout, "ready")
        return proc

    def send(self, description, *args, key=None):
        """Run handoff-send from the appliance; return (status, stdout)."""
        cmd = [self.send_tool, "send", "-k", key or self.key, "-a",
               f"{self.lab.MGMT_BACKUP_IP}:{AGENT_PORT}", "-w", "5000",
               *args, description]
        proc = self.lab.exec("appliance", cmd, check=False, timeout=30)
        return proc.returncode, proc.stdout

    def freeze(self, control):
        """Dump the primary's one connection and return its entry."""
        return self.freeze_all(control, 1)[0]

    def freeze_all(self, control, count):
        """Dump the primary's count connections and return their entries."""
        out = self.tmp
        with socket.socket(socket.AF_UNIX) as ctl:
            ctl.settimeout(10)
            ctl.connect(str(control))
            ctl.sendall(f"freeze {out}".encode())
            assert ctl.recv(100).decode().split() == ["frozen", str(count)]
        conns = []
        for k in range(count):
            conn = yaml.safe_load((out / f"conn-{k}.yaml").read_text())
            dumped_at_ms = conn.pop("dumped_at_ms")
            conn["server_ts_age_ms"] = max(
                0, int(time.time() * 1000) - dumped_at_ms)
            conn["c2s_file"] = str(out / f"conn-{k}.c2s")
            conn["s2c_file"] = str(out / f"conn-{k}.s2c")
            conns.append(conn)
        return conns

    def description(self, name, conns, handoff_id=1):
        path = self.tmp / f"{name}.yaml"
        path.write_text(yaml.safe_dump({
            "appliance": "lab", "id": handoff_id,
            "server": self.lab.SERVICE_IP, "connections": conns}))
        return path


def dummy_connection(lab):
    """A connection that no rejected handoff may ever restore."""
    return {"server": f"{lab.SERVICE_IP}:{PORT}",
            "client": f"{lab.CLIENT_IP}:1", "snd_una": 1000,
            "snd_nxt": 1000, "rcv_nxt": 2000}


def send_bad_handoffs(t, dummy):
    """Send each kind of broken handoff; return the expected log reasons."""
    saved = t.tmp / "signed-for-old-challenge.bin"
    status, out = t.send(dummy, "-B")
    assert (status, out.strip()) == (3, "rejected: invalid signature")
    status, out = t.send(dummy, "-n", "stranger", key=t.stranger)
    assert (status, out.strip()) == (3, "rejected: unknown appliance key")
    status, out = t.send(dummy, key=t.stranger)
    assert (status, out.strip()) == (3, "rejected: invalid signature")
    status, out = t.send(dummy, "-T", "100", "-s", saved)
    assert status == 4, out
    status, out = t.send(dummy, "-r", saved)
    assert (status, out.strip()) == (
        3, "rejected: challenge mismatch (replayed handoff)")
    status, out = t.send(dummy, "-L")
    assert (status, out.strip()) == (3, "rejected: over a size or count limit")
    return ["handoff rejected: invalid signature",
            "handoff rejected: unknown appliance key",
            "connection closed before a whole frame (truncated)",
            "handoff rejected: challenge mismatch (replayed handoff)",
            "no handoff read: over a size or count limit"]


def client_to_backup(lab):
    """Point the client's neighbour entry for the service address at the backup."""
    lab.exec("client", ["ip", "neigh", "replace", lab.SERVICE_IP, "lladdr",
                        lab.BACKUP_MAC, "dev", lab.CLIENT_IF, "nud",
                        "reachable"])


def finish_client(client, timeout=30):
    """Tell the CLIENT program to finish; return the JSON result it prints last.

    TIMEOUT is in seconds.
    """
    client.stdin.write("finish\n")
    client.stdin.flush()
    out, _ = client.communicate(timeout=timeout)
    return json.loads(out.strip().splitlines()[-1])


def check_client(result, frozen_ticks):
    assert result["error"] is None
    assert result["eof"], "the service did not close its side cleanly"
    ticks = result["ticks"]
    assert ticks == list(range(1, len(ticks) + 1)), \
        "tick lines lost, repeated or out of order"
    assert len(ticks) > frozen_ticks + 50, "ticks did not continue"
    assert result["echoes"] == [f"echo {i}: c{i:06d}"
                                for i in range(1, result["sent"] + 1)], \
        "client lines not echoed exactly once in order"


def capture_tuples(capture):
    rows = capture.fields("tcp", "ip.src", "tcp.srcport", "ip.dst",
                          "tcp.dstport")
    return {tuple(sorted([(r[0], r[1]), (r[2], r[3])])) for r in rows}


@pytest.fixture
def root_lab(lab):
    if os.geteuid() != 0:
        pytest.skip("needs root for namespaces and TCP_REPAIR")
    return lab


def test_takeover_continues_client(root_lab):
    lab = root_lab
    t = Takeover(lab)
    t.start_service("backup", "--adopt", t.tmp / "adopt.sock")
    t.start_agent()
    control = t.tmp / "primary.ctl"
    t.start_service("primary", "--listen", f"{lab.SERVICE_IP}:{PORT}",
                    "--control", control)
    capture = lab.capture("client", lab.CLIENT_IF, "client")
    client = lab.popen("client", [PYTHON, "-c", CLIENT, lab.SERVICE_IP,
                                  str(PORT)],
                       stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                       text=True)
    client_port = int(wait_line(client.stdout, "connected")[1])
    time.sleep(0.5)

    dummy = t.description("dummy", [dummy_connection(lab)])
    reasons = send_bad_handoffs(t, dummy)
    assert t.agent.poll() is None, "the agent exited on a broken handoff"

    # The primary dies: fenced at the switch, its socket frozen silently.
    lab.port_down("primary")
    time.sleep(0.3)
    conn = t.freeze(control)
    frozen_ticks = open(conn["s2c_file"], "rb").read().count(b"tick ")
    # A second connection that cannot be restored (no service listens on
    # its port) travels in the same handoff: it fails alone.
    broken = dict(dummy_connection(lab), server=f"{lab.SERVICE_IP}:5999")
    good = t.description("takeover", [broken, conn], handoff_id=42)
    status, out = t.send(good, "-s", t.tmp / "good.bin")
    lines = out.strip().splitlines()
    assert lines == ["result 0 failed: no service for port 5999",
                     "result 1 restored"], t.agent_log.read_text()
    client_to_backup(lab)

    # The client carries on until its retransmissions have gone through.
    time.sleep(3.0)
    result = finish_client(client)
    capture.stop()
    check_client(result, frozen_ticks)

    assert capture.count("tcp.flags.reset == 1") == 0
    assert capture_tuples(capture) == {
        tuple(sorted([(lab.CLIENT_IP, str(client_port)),
                      (lab.SERVICE_IP, str(PORT))]))}

    # The good handoff, replayed, is rejected: its challenge is old.
    status, out = t.send(good, "-r", t.tmp / "good.bin")
    assert (status, out.strip()) == (
        3, "rejected: challenge mismatch (replayed handoff)")
    assert t.agent.poll() is None
    log = t.agent_log.read_text()
    peer = f"appliance {lab.MGMT_APPLIANCE_IP}:"
    for reason in reasons:
        logged = [line for line in log.splitlines()
                  if peer in line and reason in line]
        assert logged, f"not logged: {reason}\n{log}"
    assert "restored and adopted" in log
    assert (f"flow {lab.CLIENT_IP}:1 > {lab.SERVICE_IP}:5999: not restored: "
            "no service for port 5999") in log
    print(f"client: {len(result['ticks'])} ticks ({frozen_ticks} before the "
          f"freeze), {result['sent']} lines echoed", file=sys.stderr)
    assert f"identity {lab.SERVICE_IP}: added to {lab.BACKUP_IF}/24" in log


def test_takeover_many_connections_at_once(root_lab):
    """Twenty connections in one handoff, passed to the service with at
    most eight adopt messages in flight, all continue, and a connection
    that fails in their midst keeps its place in the result."""
    lab = root_lab
    count, broken_index = 20, 7
    t = Takeover(lab)
    t.start_service("backup", "--adopt", t.tmp / "adopt.sock")
    t.start_agent(max_adopts_in_flight=8)
    control = t.tmp / "primary.ctl"
    t.start_service("primary", "--listen", f"{lab.SERVICE_IP}:{PORT}",
                    "--control", control)
    capture = lab.capture("client", lab.CLIENT_IF, "client")
    client = lab.popen("client", [PYTHON, "-c", MULTI_CLIENT, lab.SERVICE_IP,
                                  str(PORT), str(count)],
                       stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                       text=True)
    client_ports = wait_line(client.stdout, "connected")[1:]
    assert len(client_ports) == count
    time.sleep(0.5)

    lab.port_down("primary")
    time.sleep(0.3)
    conns = t.freeze_all(control, count)
    frozen_ticks = {}
    for conn in conns:
        port = conn["client"].rpartition(":")[2]
        frozen_ticks[port] = open(conn["s2c_file"], "rb").read().count(
            b"tick ")
    broken = dict(dummy_connection(lab), server=f"{lab.SERVICE_IP}:5999")
    conns.insert(broken_index, broken)
    handoff = t.description("many", conns, handoff_id=43)
    status, out = t.send(handoff)
    expected = [f"result {i} restored" for i in range(count + 1)]
    expected[broken_index] = (f"result {broken_index} failed: no service "
                              "for port 5999")
    assert out.strip().splitlines() == expected, t.agent_log.read_text()
    assert status == 1, out
    client_to_backup(lab)

    time.sleep(3.0)
    results = finish_client(client, timeout=60)
    capture.stop()
    assert sorted(str(r["port"]) for r in results) == sorted(client_ports)
    for result in results:
        port = str(result["port"])
        assert port in frozen_ticks, f"connection {port} was not frozen"
        check_client(result, frozen_ticks[port])
    assert capture.count("tcp.flags.reset == 1") == 0

    log = t.agent_log.read_text()
    assert log.count("restored and adopted in") == count, log
    assert "max_adopts_in_flight 8" in log
    assert (f"identity {lab.SERVICE_IP}: added to {lab.BACKUP_IF}/24, "
            f"{count} of {count + 1} connections restored") in log
    assert t.agent.poll() is None


def test_agent_rejects_invalid_config(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("listen: 203.0.113.3:7700\n"
                   "appliances:\n"
                   "  - name: lab\n"
                   "    public_key: ssh-rsa AAAA\n"
                   "identities:\n"
                   "  - address: 198.51.100.2\n"
                   "    interface: eth0\n"
                   "    prefix_len: 33\n"
                   "    services: [{port: 5000, socket: relative.sock}]\n"
                   "limits: {max_connections: 0, max_adopts_in_flight: 0,"
                   " colour: blue}\n")
    proc = subprocess.run([tool("revenant-agent"), "-t", "-f", bad],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    err = proc.stderr
    assert f"{bad}:4:17: appliances[0].public_key:" in err, err
    assert f"{bad}:8:17: identities[0].prefix_len:" in err, err
    assert "identities[0].services[0].socket" in err, err
    assert "limits.max_connections" in err, err
    assert "limits.max_adopts_in_flight" in err, err
    assert "limits.colour" in err, err
