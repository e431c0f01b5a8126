# SPDX-License-Identifier: BSD-3-Clause
"""Checkpoint filing in the lab: revenantd reads checkpoint and heartbeat
datagrams from the mirror, verifies them with the primary's host key and
files each checkpoint with its TCP connection.

tools/ckpt-send builds the datagrams as the patched sshd would, and sends
them from the primary's namespace to an export address that no host has: a
static neighbour entry spares ARP, and the switch mirrors the frames anyway.
"""

import re
import subprocess
import time

import pytest

from appliance import Appliance
from lab import REPO_ROOT, build_dir

CKPT_SEND = REPO_ROOT / "tools" / "ckpt-send"
KEYGEN = build_dir() / "tools" / "keygen" / "revenant-keygen"
PYTHON = "/usr/bin/python3"
EXPORT_IP = "198.51.100.250"
EXPORT_PORT = 7022
EXPORT_MAC = "02:00:5e:00:00:fa"
SERVER_PORT = 22
CLIENT_PORT = 40022
PAYLOAD = 1000          # bytes each way before the checkpoint

# Listener in the primary: echoes what it reads, for at most 60 s.
ECHO_SERVER = """
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1); s.settimeout(30)
c, _ = s.accept(); c.settimeout(1)
end = time.monotonic() + 60
while time.monotonic() < end:
    try:
        data = c.recv(65536)
    except socket.timeout:
        continue
    if not data:
        break
    c.sendall(data)
"""

# Client: sends PAYLOAD bytes, reads the echo, then keeps the connection
# open until its stdin closes or 60 s pass.
ECHO_CLIENT = """
import socket, sys, select
c = socket.socket(); c.bind((sys.argv[1], int(sys.argv[2])))
c.connect((sys.argv[3], int(sys.argv[4])))
n = int(sys.argv[5]); c.sendall(b"x" * n); got = 0
while got < n:
    got += len(c.recv(65536))
print("ready", flush=True)
select.select([sys.stdin], [], [], 60)
c.close()
"""


class CkptAppliance(Appliance):
    """An Appliance whose primary has a host_key line."""

    def __init__(self, lab, host_key_line):
        super().__init__(lab)
        self.host_key_line = host_key_line

    def write_config(self):
        path = super().write_config()
        text = path.read_text()
        text, count = re.subn(r"(?m)^(    backup: backup\n)",
                              rf'\g<1>    host_key: "{self.host_key_line}"\n', text)
        assert count == 1, "the lab profile has no primary server entry to extend"
        path.write_text(text)
        return path


@pytest.fixture
def keys(tmp_path):
    """An Ed25519 host key and a recovery key pair in tmp_path."""
    host = tmp_path / "ssh_host_ed25519_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "root@primary",
                    "-f", str(host)], check=True)
    other = tmp_path / "other_ed25519_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)],
                   check=True)
    if not KEYGEN.exists():
        pytest.fail(f"{KEYGEN} not built")
    recovery = tmp_path / "recovery"
    subprocess.run([str(KEYGEN), "-f", str(recovery)], check=True, capture_output=True)
    return {"host": host, "host_pub": (host.with_suffix(".pub")).read_text().strip(),
            "other": other, "recovery_pub": tmp_path / "recovery.pub"}


@pytest.fixture
def ckpt_appliance(lab, keys):
    app = CkptAppliance(lab, keys["host_pub"])
    try:
        app.start()
        yield app
        app.stop()
    finally:
        left = app.cleanup()
    if left:
        pytest.fail(f"revenantd left hugepage files behind: {', '.join(left)}")


def export_route(lab, host):
    """Let HOST send to the export address without ARP."""
    dev = lab.PRIMARY_IF if host == "primary" else lab.CLIENT_IF
    lab.exec(host, ["ip", "neigh", "replace", EXPORT_IP, "lladdr", EXPORT_MAC, "dev", dev,
                    "nud", "permanent"])


def ckpt_send(lab, host, kind, keys, *args, host_key=None):
    argv = [PYTHON, str(CKPT_SEND), kind, "--host-key", str(host_key or keys["host"]),
            "--server", f"{lab.PRIMARY_IP}:{SERVER_PORT}",
            "--to", f"{EXPORT_IP}:{EXPORT_PORT}", *[str(a) for a in args]]
    if kind == "checkpoint":
        argv += ["--recovery-key", str(keys["recovery_pub"]),
                 "--client", f"{lab.CLIENT_IP}:{CLIENT_PORT}"]
    out = lab.exec(host, argv).stdout
    return float(out.rsplit("monotonic", 1)[1])


def open_connection(lab):
    """Open an echo connection client -> primary:22; return the client Popen."""
    lab.popen("primary", [PYTHON, "-c", ECHO_SERVER, lab.PRIMARY_IP, str(SERVER_PORT)])
    time.sleep(0.5)
    client = lab.popen("client", [PYTHON, "-c", ECHO_CLIENT, lab.CLIENT_IP,
                                  str(CLIENT_PORT), lab.PRIMARY_IP, str(SERVER_PORT),
                                  str(PAYLOAD)],
                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = client.stdout.readline()
    assert line.strip() == "ready", f"echo client did not connect: {line!r}"
    return client


def find_flow(app):
    client = f"{app.lab.CLIENT_IP}:{CLIENT_PORT}"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for flow in app.flows():
            if flow["client"] == client and flow["logged_s2c"] >= PAYLOAD:
                return flow
        time.sleep(0.1)
    pytest.fail(f"no flow from {client} with {PAYLOAD} logged bytes: {app.flows()}")


def rejected(app, reason):
    return app.stats()["checkpoints"]["rejected"][reason]


def wait_counter(app, reason, expected, timeout=3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if rejected(app, reason) >= expected:
            return
        time.sleep(0.05)
    pytest.fail(f"checkpoints rejected {reason}: {rejected(app, reason)}, "
                f"expected {expected}; stats {app.stats()['checkpoints']}")


def test_checkpoint_filed_and_rejections(ckpt_appliance, keys):
    app, lab = ckpt_appliance, ckpt_appliance.lab
    export_route(lab, "primary")
    export_route(lab, "client")
    client = open_connection(lab)
    try:
        flow = find_flow(app)
        assert flow["recoverable"] is False
        assert flow["unrecoverable_reason"] == "no checkpoint yet"
        assert flow["checkpoint_number"] == 0

        sent = ckpt_send(lab, "primary", "checkpoint", keys, "--number", 2, "--c2s",
                         PAYLOAD, "--s2c", PAYLOAD, "--reverse")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            detail = app.flow(flow["id"])
            if detail["checkpoints"]:
                break
            time.sleep(0.01)
        answered = time.monotonic()
        assert detail["checkpoints"], f"checkpoint not filed: {app.stats()['checkpoints']}"
        ckpt = detail["checkpoints"][0]
        # revenantd computed age_ns before it replied, so answered - age
        # is no earlier than the filing: an upper bound of the delay.
        delay = (answered - sent) - ckpt["age_ns"] / 1e9
        assert delay < 0.1, f"filed at most {delay:.3f} s after the send"
        assert ckpt["number"] == 2
        assert ckpt["c2s_offset"] == PAYLOAD
        assert ckpt["s2c_offset"] == PAYLOAD
        assert ckpt["size"] > 2000
        assert detail["recoverable"] is True, detail["unrecoverable_reason"]
        row = [f for f in app.flows() if f["id"] == flow["id"]][0]
        assert row["checkpoint_number"] == 2
        assert row["recoverable"] is True

        # Bad signature, then a key that is not the server's.
        ckpt_send(lab, "primary", "checkpoint", keys, "--number", 3, "--c2s", PAYLOAD,
                  "--s2c", PAYLOAD, "--corrupt-signature")
        wait_counter(app, "bad_signature", 1)
        ckpt_send(lab, "primary", "checkpoint", keys, "--number", 3, "--c2s", PAYLOAD,
                  "--s2c", PAYLOAD, host_key=keys["other"])
        wait_counter(app, "bad_signature", 2)
        # From an address that is no monitored server's.
        ckpt_send(lab, "client", "checkpoint", keys, "--number", 3, "--c2s", PAYLOAD,
                  "--s2c", PAYLOAD)
        wait_counter(app, "unknown_server", 1)
        # An older number than the one filed.
        ckpt_send(lab, "primary", "checkpoint", keys, "--number", 1, "--c2s", 0,
                  "--s2c", 0)
        wait_counter(app, "replayed_or_older", 1)

        detail = app.flow(flow["id"])
        assert [c["number"] for c in detail["checkpoints"]] == [2]
        stats = app.stats()["checkpoints"]
        assert stats["filed"] == 1
        assert stats["received"] == 2      # number 2, and the older number 1
        assert stats["memory_used"] > 0
    finally:
        client.stdin.close()
        client.wait(timeout=10)


def test_heartbeats_in_servers(ckpt_appliance, keys):
    app, lab = ckpt_appliance, ckpt_appliance.lab
    export_route(lab, "primary")
    server = app.ctl_json("servers")["servers"][0]
    assert server["host_key"] is True
    assert server["heartbeat"]["seen"] is False

    ckpt_send(lab, "primary", "heartbeat", keys, "--boot-id", 77, "--sequence", 5,
              "--connections", 3)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        server = app.ctl_json("servers")["servers"][0]
        if server["heartbeat"]["seen"]:
            break
        time.sleep(0.05)
    hb = server["heartbeat"]
    assert hb["seen"] is True
    assert hb["sequence"] == 5
    assert hb["connections"] == 3
    assert hb["boot_id"] == 77
    assert hb["stale"] is False
    assert hb["age_ns"] < 3e9

    ckpt_send(lab, "primary", "heartbeat", keys, "--boot-id", 77, "--sequence", 5)
    wait_counter(app, "replayed_or_older", 1)
    text = app.ctl("servers").stdout
    assert "HEARTBEAT AGE" in text, text
    assert " ms" in text, text
    assert app.stats()["checkpoints"]["heartbeats"] == 1
