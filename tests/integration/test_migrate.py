# SPDX-License-Identifier: BSD-3-Clause
"""Forced migration of live TCP connections: `revenantctl migrate`.

The whole chain runs for real in the lab: revenantd logs the connection from
the mirror, the operator runs `revenantctl migrate primary`, revenantd fences
the primary (its switch port goes down), hands the connection to the
backup's revenant-agent over the management network, announces the address
for the backup's MAC with gratuitous ARP and injects an ACK; the agent
restores the socket with TCP_REPAIR and passes it to the line service on
the backup, which continues the streams from the logged bytes. The client
(a Python socket) must see every line exactly once, in order, on the same
4-tuple, with no reset on its interface.

Run as root after building (RV_BUILD_DIR names the build, default build).
"""

import os
import re
import subprocess
import time

import pytest

import yaml

from appliance import REVENANTCTL, Appliance, without_probes
from lab import REPO_ROOT
from test_agent import (CLIENT, PYTHON, PORT, Takeover, finish_client,
                        tool, wait_line, wait_log)

MIGRATE_TIMEOUT = 60


class MigratingAppliance(Appliance):
    """revenantd with what a migration needs: fence, key, backup MAC."""

    def __init__(self, lab, key, fence=None, **kwargs):
        super().__init__(lab, **kwargs)
        self.key = key
        self.fence = fence or (f"{REPO_ROOT / 'tools' / 'lab'} port-down "
                               f"{lab.prefix} primary")

    def write_config(self):
        path = super().write_config()
        text = path.read_text()
        lab = self.lab
        fence = self.fence
        text, n = re.subn(r"(?m)^    agent: 203\.0\.113\.3:7700$",
                          f"    agent: {lab.MGMT_BACKUP_IP}:7700\n"
                          f"    mac: {lab.BACKUP_MAC}", text)
        assert n == 1
        text, n = re.subn(r"(?m)^    ports: \[22\]$",
                          f"    ports: [22, {PORT}]\n"
                          f"    resume: stream\n"
                          f"    fence: \"{fence}\"", text)
        assert n == 1
        text += ("handoff:\n"
                 "  name: lab\n"
                 f"  key_file: {self.key}\n")
        path.write_text(text)
        return path


@pytest.fixture
def root_lab(lab):
    if os.geteuid() != 0:
        pytest.skip("needs root for namespaces, DPDK and TCP_REPAIR")
    return lab


def start_agent(t, lab):
    """revenant-agent on the backup, serving both addresses of the server."""
    # Written out twice: the agent's YAML loader takes no aliases.
    services = [{"port": PORT, "socket": str(t.tmp / "adopt.sock")}]
    config = {
        "listen": f"{lab.MGMT_BACKUP_IP}:7700",
        "log_level": "debug",
        "appliances": [{"name": "lab", "public_key": t.public_key(t.key)}],
        "identities": [
            {"address": lab.SERVICE_IP, "interface": lab.BACKUP_IF,
             "prefix_len": 24, "services": [dict(services[0])]},
            {"address": lab.SERVICE_IP6, "interface": lab.BACKUP_IF,
             "prefix_len": 64, "services": [dict(services[0])]},
        ],
    }
    path = t.tmp / "agent.yaml"
    path.write_text(yaml.safe_dump(config))
    t.agent = lab.popen("backup", [tool("revenant-agent"), "-f", path],
                        stdout=subprocess.DEVNULL,
                        stderr=open(t.agent_log, "w"))
    wait_log(t.agent_log, "waiting for handoffs")


def start_client(lab, address):
    client = lab.popen("client", [PYTHON, "-c", CLIENT, address, str(PORT)],
                       stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                       text=True)
    port = int(wait_line(client.stdout, "connected")[1])
    return client, port


def migrate(lab, app, *args, timeout=MIGRATE_TIMEOUT):
    return subprocess.run(
        ["ip", "netns", "exec", lab.NS_APPLIANCE, str(REVENANTCTL), "-s",
         str(app.socket), "migrate", *args],
        capture_output=True, text=True, timeout=timeout)


# Each case: the client's address family and TCP settings, and what the
# fence does besides cutting the primary's port.
#   client-unacked: the client keeps sending for 0.3 s after the cut, so
#     the mirror logs client bytes the primary never acknowledged;
#   server-unacked: the client's frames are dropped for 0.3 s before the
#     cut, so the mirror logs server bytes the client never acknowledged.
CASES = {
    "ipv4": dict(family=4),
    "ipv6": dict(family=6),
    "no-timestamps": dict(family=4, sysctl={"net.ipv4.tcp_timestamps": 0}),
    "no-window-scaling": dict(family=4,
                              sysctl={"net.ipv4.tcp_window_scaling": 0}),
    # Linux picks the smallest shift that covers its largest receive
    # buffer: 6 MiB gives 7.
    "window-scale-7": dict(family=4, wscale=7,
                           sysctl={"net.ipv4.tcp_rmem": "4096 131072 6291456"}),
    "mss-536": dict(family=4, advmss=536),
    "mss-536-ipv6": dict(family=6, advmss=536),
    "client-unacked": dict(family=4, fence="client-unacked"),
    "server-unacked": dict(family=4, fence="server-unacked"),
}


def fence_command(lab, kind):
    tool_path = REPO_ROOT / "tools" / "lab"
    cut = f"{tool_path} port-down {lab.prefix} primary"
    if kind == "client-unacked":
        return f"{cut} && sleep 0.3"
    if kind == "server-unacked":
        return (f"{tool_path} drop {lab.prefix} client && sleep 0.3 && {cut}"
                f" && {tool_path} undrop {lab.prefix} client")
    return cut


def configure_client(lab, case):
    for key, value in case.get("sysctl", {}).items():
        lab.exec("client", ["sysctl", "-qw", f"{key}={value}"])
    if "advmss" in case:
        # The client announces this MSS on a host route to the service, so
        # the server's segments shrink too.
        for address, family in ((lab.SERVICE_IP, "-4"), (lab.SERVICE_IP6, "-6")):
            lab.exec("client", ["ip", family, "route", "replace", address,
                                "dev", lab.CLIENT_IF, "advmss",
                                str(case["advmss"])])


@pytest.mark.parametrize("name", list(CASES))
def test_migrate_moves_live_connection(root_lab, name):
    lab = root_lab
    case = CASES[name]
    address = lab.SERVICE_IP if case["family"] == 4 else lab.SERVICE_IP6
    listen = address if case["family"] == 4 else f"[{address}]"
    t = Takeover(lab)
    os.chmod(t.key, 0o600)
    configure_client(lab, case)
    t.start_service("backup", "--adopt", t.tmp / "adopt.sock")
    start_agent(t, lab)
    t.start_service("primary", "--listen", f"{listen}:{PORT}")
    app = MigratingAppliance(lab, t.key,
                             fence=fence_command(lab, case.get("fence")))
    app.start()
    try:
        capture = lab.capture("client", lab.CLIENT_IF, "client")
        client, client_port = start_client(lab, address)
        time.sleep(1.0)
        flows = [f for f in app.flows() if f["server"].endswith(f":{PORT}")]
        assert len(flows) == 1, flows
        assert flows[0]["recoverable"], flows[0]
        flow = app.flow(flows[0]["id"])

        # One case names the backup explicitly; the others take the
        # server's configured one.
        target = ("--to", "backup") if name == "ipv6" else ()
        proc = migrate(lab, app, "primary", *target)
        print(proc.stdout, proc.stderr)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "fence: done" in proc.stdout
        assert "summary: 1 moved, 0 not recoverable, 0 failed" in proc.stdout

        # The client carries on over the backup.
        time.sleep(3.0)
        result = finish_client(client)
        capture.stop()
    finally:
        app.stop()

    c2s = flow["client_to_server"]
    if "advmss" in case:
        assert c2s["mss"] == case["advmss"]
    if "no-timestamps" == name:
        assert not c2s["timestamps"]
    if "no-window-scaling" == name:
        assert c2s["window_scale"] == -1
    if "wscale" in case:
        assert c2s["window_scale"] == case["wscale"]
    assert result["error"] is None
    ticks = result["ticks"]
    assert ticks == list(range(1, len(ticks) + 1)), \
        "tick lines lost, repeated or out of order"
    assert len(ticks) > 100, "ticks did not continue after the migration"
    assert result["echoes"] == [f"echo {i}: c{i:06d}"
                                for i in range(1, result["sent"] + 1)], \
        "client lines not echoed exactly once in order"
    assert capture.count(without_probes("tcp.flags.reset == 1")) == 0, \
        "a reset reached the client"
    rows = capture.fields(without_probes("tcp"), "ip.src", "ipv6.src", "tcp.srcport",
                          "ip.dst", "ipv6.dst", "tcp.dstport")
    tuples = {tuple(sorted([(r[0] or r[1], r[2]), (r[3] or r[4], r[5])]))
              for r in rows}
    assert tuples == {tuple(sorted([(client_address(lab, case), str(client_port)),
                                    (address, str(PORT))]))}
    # The case put bytes where it meant to: in the restored receive queue,
    # or among the server bytes sent again.
    restored = re.search(r"restored and adopted in \d+ ms \(handoff \d+; "
                         r"(\d+) client bytes queued, (\d+) server bytes",
                         t.agent_log.read_text())
    assert restored, t.agent_log.read_text()
    if case.get("fence") == "client-unacked":
        assert int(restored.group(1)) > 0
    if case.get("fence") == "server-unacked":
        assert int(restored.group(2)) > 0
    # The appliance's frames carry its own source MAC, so the switch still
    # learns the backup's MAC on the backup's port: otherwise the clients'
    # segments would go to the appliance.
    fdb = lab.exec("switch", ["bridge", "fdb", "show", "br", lab.BRIDGE]).stdout
    backup_ports = {line.split()[2] for line in fdb.splitlines()
                    if line.lower().startswith(lab.BACKUP_MAC.lower())
                    and "master" in line}
    assert backup_ports == {lab.SW_BACKUP_PORT}, fdb
    # The announcement moved the address: the client's neighbour entry
    # names the backup's MAC without anyone touching it.
    neigh = lab.exec("client", ["ip", "neigh", "show", address]).stdout
    assert lab.BACKUP_MAC.lower() in neigh.lower(), neigh


def client_address(lab, case):
    return lab.CLIENT_IP if case["family"] == 4 else lab.CLIENT_IP6


def test_migrate_refuses_without_fence(root_lab):
    lab = root_lab
    app = Appliance(lab)
    app.start()
    try:
        proc = migrate(lab, app, "primary", timeout=30)
        assert proc.returncode == 1
        assert "server primary has no fence" in proc.stderr
        proc = migrate(lab, app, "nosuch", timeout=30)
        assert proc.returncode == 1
        assert "server 'nosuch' not found" in proc.stderr
        proc = migrate(lab, app, "primary", "--to", "nosuch", timeout=30)
        assert proc.returncode == 1
        assert "backup 'nosuch' not found in the configuration" in \
            proc.stderr
        proc = migrate(lab, app, "primary", "--into", "backup", timeout=30)
        assert proc.returncode == 2
        assert "usage: migrate SERVER [--to BACKUP]" in proc.stderr
    finally:
        app.stop()


def test_migrate_stops_when_fence_fails(root_lab):
    lab = root_lab
    t = Takeover(lab)
    os.chmod(t.key, 0o600)

    app = MigratingAppliance(lab, t.key, fence="exit 3")
    app.start()
    try:
        proc = migrate(lab, app, "primary", timeout=30)
        assert proc.returncode == 1
        assert "fence: failed (exit status 3); nothing moves" in proc.stdout
        assert "handoff" not in proc.stdout
    finally:
        app.stop()
    # Nothing moved: the primary still replies on its address.
    lab.exec("client", ["ping", "-c", "1", "-W", "2", lab.SERVICE_IP])


def test_migrate_reports_unrecoverable(root_lab):
    """A connection that began before revenantd started cannot move."""
    lab = root_lab
    t = Takeover(lab)
    os.chmod(t.key, 0o600)
    t.start_service("backup", "--adopt", t.tmp / "adopt.sock")
    start_agent(t, lab)
    t.start_service("primary", "--listen", f"{lab.SERVICE_IP}:{PORT}")
    client, _ = start_client(lab, lab.SERVICE_IP)
    time.sleep(0.3)
    app = MigratingAppliance(lab, t.key)
    app.start()
    try:
        time.sleep(1.0)
        proc = migrate(lab, app, "primary")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert re.search(r"not recoverable: joined after the handshake",
                         proc.stdout), proc.stdout
        assert "summary: 0 moved, 1 not recoverable, 0 failed" in proc.stdout
    finally:
        app.stop()
        client.kill()
        client.wait(timeout=10)
