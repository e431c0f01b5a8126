# SPDX-License-Identifier: BSD-3-Clause
"""Automatic failure detection and takeover, and the false alarms it must
not raise.

revenantd probes the primary with ARP through its inject port and watches
the mirror; when the primary stops answering while the mirror works, it
fences the primary and moves its connections to the backup as
`revenantctl migrate` does. The connection here belongs to the line service
(a service that continues from the logged streams); the SSH sessions of the
false-alarm cases use Debian's sshd and ssh.

Run as root after building (RV_BUILD_DIR names the build, default build).
"""

import json
import os
import subprocess
import time

import pytest

from appliance import REVENANTCTL
from lab import REPO_ROOT
from sshd_lab import Sshd
from test_agent import PORT, Takeover
from test_migrate import (MigratingAppliance, finish_client, start_agent,
                          start_client)

LAB_TOOL = REPO_ROOT / "tools" / "lab"
# Long enough for detection (3 probes of 100 ms), the takeover and the
# client's retransmission, on a loaded 2-core machine.
TAKEOVER_WAIT = 10.0


@pytest.fixture
def root_lab(lab):
    if os.geteuid() != 0:
        pytest.skip("needs root for namespaces, DPDK and TCP_REPAIR")
    return lab


def servers(lab, app):
    proc = subprocess.run(["ip", "netns", "exec", lab.NS_APPLIANCE,
                           str(REVENANTCTL), "-s", str(app.socket), "servers",
                           "--json"], capture_output=True, text=True,
                          check=True, timeout=30)
    return {s["name"]: s for s in json.loads(proc.stdout)["servers"]}


def wait_state(lab, app, state, timeout):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        last = servers(lab, app)["primary"]["detection"]
        if last["state"] == state:
            return last
        time.sleep(0.05)
    raise AssertionError(f"primary not {state} within {timeout} s: {last}\n"
                         f"{app.log_text()[-3000:]}")


class Failover:
    """The line service on both hosts, the agent, revenantd and a client."""

    def __init__(self, lab):
        self.lab = lab
        self.t = Takeover(lab)
        os.chmod(self.t.key, 0o600)
        self.t.start_service("backup", "--adopt", self.t.tmp / "adopt.sock")
        start_agent(self.t, lab)
        self.primary = self.t.start_service(
            "primary", "--listen", f"{lab.SERVICE_IP}:{PORT}",
            "--run-limit", "60")
        self.app = MigratingAppliance(lab, self.t.key)
        self.app.start()
        wait_state(lab, self.app, "healthy", 10)
        self.client, self.client_port = start_client(lab, lab.SERVICE_IP)
        time.sleep(1.0)

    def check_client_continued(self):
        time.sleep(2.0)
        result = finish_client(self.client)
        assert result["error"] is None
        ticks = result["ticks"]
        assert ticks == list(range(1, len(ticks) + 1)), \
            "tick lines lost, repeated or out of order"
        assert result["echoes"] == [f"echo {i}: c{i:06d}"
                                    for i in range(1, result["sent"] + 1)]
        return result


def crash_host(lab, fo):
    """The primary's port is cut, then its processes are killed."""
    lab.port_down("primary")
    fo.primary.kill()


def hang_host(lab, fo):
    """Everything the primary sends is dropped; its processes live on."""
    lab.drop("primary")


def power_off(lab, fo):
    """The primary's interface disappears with its veth peer."""
    lab.exec("primary", ["ip", "link", "del", lab.PRIMARY_IF])


@pytest.mark.parametrize("failure", [crash_host, hang_host, power_off],
                         ids=["crash", "hang", "power-loss"])
def test_failure_taken_over(root_lab, failure):
    lab = root_lab
    fo = Failover(lab)
    try:
        failure(lab, fo)
        detected = wait_state(lab, fo.app, "migrated", TAKEOVER_WAIT)
        assert "1 moved" in detected["evidence"], detected
        result = fo.check_client_continued()
        assert len(result["ticks"]) > 100
        log = fo.app.log_text()
        assert "primary: healthy -> suspect" in log or \
            "primary: suspect -> failed" in log
        assert "probes unanswered in a row while the mirror worked" in log
        assert "taking over (migration" in log
    finally:
        fo.app.stop()


def test_returning_primary_does_not_reclaim(root_lab):
    lab = root_lab
    fo = Failover(lab)
    try:
        hang_host(lab, fo)
        wait_state(lab, fo.app, "migrated", TAKEOVER_WAIT)
        # The old primary comes back and its kernel announces the address.
        lab.port_up("primary")
        lab.undrop("primary")
        lab.exec("primary", ["ping", "-c", "2", "-W", "1", lab.CLIENT_IP],
                 check=False)
        lab.exec("primary", ["arping", "-c", "2", "-U", "-I", lab.PRIMARY_IF,
                             lab.SERVICE_IP], check=False)
        end = time.monotonic() + 5
        primary = None
        while time.monotonic() < end:
            primary = servers(lab, fo.app)["primary"]["detection"]
            if primary["address_conflicts"] > 0:
                break
            time.sleep(0.1)
        assert primary["state"] == "migrated"
        assert primary["address_conflicts"] > 0, primary
        assert "address conflict" in fo.app.log_text()
        neigh = lab.exec("client", ["ip", "neigh", "show",
                                    lab.SERVICE_IP]).stdout
        assert lab.BACKUP_MAC.lower() in neigh.lower(), neigh
        fo.check_client_continued()
    finally:
        fo.app.stop()


def lose_one_reply(lab):
    lab.drop("primary")
    time.sleep(0.12)
    lab.undrop("primary")


def mirror_loss(lab):
    port = lab.SW_MIRROR_PORT
    lab.exec("switch", ["ip", "link", "set", port, "down"])
    time.sleep(1.5)
    lab.exec("switch", ["ip", "link", "set", port, "up"])


def loaded_primary(lab):
    # Two busy loops for 4 s on a 2-core machine: the primary is slow.
    procs = [lab.popen("primary", ["timeout", "4", "sh", "-c",
                                   "while :; do :; done"])
             for _ in range(2)]
    for proc in procs:
        proc.wait(timeout=10)


@pytest.mark.parametrize("disturb", [lose_one_reply, mirror_loss,
                                     loaded_primary],
                         ids=["one-reply-lost", "mirror-loss", "slow-primary"])
def test_no_false_alarm(root_lab, disturb):
    lab = root_lab
    t = Takeover(lab)
    os.chmod(t.key, 0o600)
    app = MigratingAppliance(lab, t.key)
    app.start()
    try:
        with Sshd(lab, addresses=[lab.SERVICE_IP]) as sshd:
            wait_state(lab, app, "healthy", 10)
            session = lab.popen("client", sshd.ssh_argv(
                lab.SERVICE_IP, "for i in $(seq 60); do echo tick $i; "
                "sleep 0.1; done"), stdout=subprocess.PIPE, text=True)
            time.sleep(0.5)
            disturb(lab)
            time.sleep(1.0)
            out, _ = session.communicate(timeout=30)
            assert session.returncode == 0
            assert out.split("\n")[-2] == "tick 60"
            proc = lab.exec("client", sshd.ssh_argv(lab.SERVICE_IP,
                                                    "echo still here"))
            assert proc.stdout.strip() == "still here"
        detection = servers(lab, app)["primary"]["detection"]
        assert detection["state"] in ("healthy", "suspect"), detection
        assert detection["migration"] == 0
        assert "taking over" not in app.log_text()
    finally:
        app.stop()
