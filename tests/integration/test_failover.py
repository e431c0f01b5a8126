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

from appliance import REVENANTCTL, probe_address
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


def primary_detection(lab, app):
    """Return the "detection" object of the primary in revenantctl servers --json."""
    return servers(lab, app)["primary"]["detection"]


def wait_state(lab, app, state, timeout, detection=primary_detection):
    """Wait up to TIMEOUT s for the primary's detection state STATE; return the object.

    DETECTION(lab, app) reads that object.
    """
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        last = detection(lab, app)
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
        assert "probe rounds unanswered in a row while the mirror worked" in log
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


# Asks on interface argv[1] who has address argv[2], up to 3 times, and
# prints the MAC of the reply; exits 1 without one.
ARP_ASK = """
import sys
from scapy.all import ARP, Ether, conf, srp1
conf.verb = 0
for _ in range(3):
    answer = srp1(Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(pdst=sys.argv[2]),
                  iface=sys.argv[1], timeout=1)
    if answer is not None:
        print(answer[ARP].hwsrc)
        sys.exit(0)
sys.exit(1)
"""


def app_inject_mac(lab, app):
    """Return the MAC of revenantd's inject port."""
    out = lab.exec("appliance", ["cat", f"/sys/class/net/{lab.INJECT_IF}/address"])
    return out.stdout.strip()


def syn_recv_from(lab, address):
    """Return the primary's half-open connections from ADDRESS (IPv4 or IPv6)."""
    # ss writes an IPv6 address in brackets before the port.
    needle = f"[{address}]:" if ":" in address else f" {address}:"
    out = lab.exec("primary", ["ss", "-tanH", "state", "syn-recv"]).stdout
    return [line for line in out.splitlines() if needle in line]


def half_open_samples(lab, probe, rounds=20):
    """Count the primary's half-open connections from PROBE every 100 ms, ROUNDS times."""
    counts = []
    for _ in range(rounds):
        counts.append(len(syn_recv_from(lab, probe)))
        time.sleep(0.1)
    return counts


def started_appliance(lab, appliance_class=MigratingAppliance):
    """Start revenantd (APPLIANCE_CLASS) with a new key, for detection tests; return it."""
    t = Takeover(lab)
    os.chmod(t.key, 0o600)
    app = appliance_class(lab, t.key)
    app.start()
    return app


def test_syn_probes_answered_and_reset(root_lab):
    """sshd sends a SYN-ACK to each SYN probe, and revenantd resets it."""
    lab = root_lab
    probe = probe_address()
    app = started_appliance(lab)
    try:
        with Sshd(lab, addresses=[lab.SERVICE_IP]):
            wait_state(lab, app, "healthy", 10)
            before = servers(lab, app)["primary"]["detection"]["syn_probes"]
            capture = lab.capture(host="primary", interface=lab.PRIMARY_IF,
                                  name="probes")
            half_open = half_open_samples(lab, probe)
            pcap = capture.stop()
            # The primary requests the probe address's MAC, and revenantd
            # replies through its inject port.
            arping = lab.exec("primary", ["/usr/bin/python3", "-c", ARP_ASK,
                                          lab.PRIMARY_IF, probe], check=False,
                              timeout=60)
            after = servers(lab, app)["primary"]["detection"]
        syn = after["syn_probes"]
        sent = syn["sent"] - before["sent"]
        # 20 rounds of 100 ms at least; a loaded machine sends fewer.
        assert sent >= 10, after
        assert syn["answered"] - before["answered"] >= sent - 2, after
        assert syn["resets"] - before["resets"] >= sent - 2, after
        assert arping.returncode == 0, arping.stdout + arping.stderr
        assert arping.stdout.split() == [app_inject_mac(lab, app)], arping.stdout
        assert syn["arp_replies"] >= 1, after
        assert after["syn_answer_age_ns"] is not None
        assert after["syn_answer_age_ns"] < 2_000_000_000, after
        # The RST follows the SYN-ACK within a poll of the main lcore, so
        # sampling rarely catches a half-open connection and none stays.
        assert max(half_open) <= 2, half_open
        assert len(syn_recv_from(lab, probe)) <= 2
        # On the primary's wire: our SYNs, sshd's SYN-ACKs, our RSTs with
        # the sequence number the SYN-ACK acknowledged.
        synacks = capture.fields(
            f"ip.src=={lab.SERVICE_IP} && ip.dst=={probe} && "
            "tcp.flags.syn==1 && tcp.flags.ack==1",
            "tcp.dstport", "tcp.ack_raw")
        resets = capture.fields(
            f"ip.src=={probe} && ip.dst=={lab.SERVICE_IP} && "
            "tcp.flags.reset==1", "tcp.srcport", "tcp.seq_raw")
        assert len(synacks) >= 10, pcap
        answered = {(port, ack) for port, ack in synacks}
        reset = {(port, seq) for port, seq in resets}
        assert len(answered - reset) <= 1, (answered - reset)
        log = app.log_text()
        assert "SYN probes from " + probe in log
        assert "taking over" not in log
    finally:
        app.stop()


def test_closed_port_rst_counts_as_answer(root_lab):
    """A RST from a closed port proves the TCP stack, and needs no reset."""
    lab = root_lab
    app = started_appliance(lab)
    try:
        wait_state(lab, app, "healthy", 10)
        time.sleep(1.0)
        detection = servers(lab, app)["primary"]["detection"]
        syn = detection["syn_probes"]
        assert syn["sent"] >= 5, detection
        assert syn["answered"] >= syn["sent"] - 2, detection
        assert syn["resets"] == 0, detection
        assert detection["state"] == "healthy", detection
    finally:
        app.stop()


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
    app = started_appliance(lab)
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
