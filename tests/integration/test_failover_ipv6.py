# SPDX-License-Identifier: BSD-3-Clause
"""Failure detection for a server with IPv6 addresses only.

revenantd's configuration lists the primary by 2001:db8:1::2 alone, so it
gets no ARP: each probe round is a neighbour solicitation from the lab
profile's detection.probe_address6 and a TCP SYN from that address to
[2001:db8:1::2]:22. revenantd replies to the primary's solicitations for
the probe address, resets the connections the SYN-ACKs open, checks the
mirror with its own solicitations, and takes the primary over when it
crashes. One lost reply is no failure.

Run as root after building (RV_BUILD_DIR names the build, default build).
"""

import os
import re
import time

from appliance import probe_address6
from sshd_lab import Sshd
import test_failover as failover
from test_agent import PORT, Takeover
from test_failover import (half_open_samples, lose_one_reply, servers,
                           started_appliance, syn_recv_from)
from test_migrate import (MigratingAppliance, finish_client, start_agent,
                          start_client)

# As in test_failover.py: detection, takeover and the client's
# retransmission on a loaded 2-core machine.
TAKEOVER_WAIT = 10.0

root_lab = failover.root_lab


class Ipv6OnlyAppliance(MigratingAppliance):
    """revenantd configured with the primary's IPv6 address only."""

    def write_config(self):
        path = super().write_config()
        text, n = re.subn(r'(?m)^    addresses: \[198\.51\.100\.2, '
                          r'"2001:db8:1::2"\]$',
                          '    addresses: ["2001:db8:1::2"]',
                          path.read_text())
        assert n == 1
        path.write_text(text)
        return path


def detection(lab, app):
    """Return the primary's detection object, after checking it lists only the IPv6 address."""
    primary = servers(lab, app)["primary"]
    assert primary["addresses"] == [lab.SERVICE_IP6], primary
    return primary["detection"]


def wait_state(lab, app, state, timeout):
    """Wait as test_failover.wait_state does, checking the primary's address on each read."""
    return failover.wait_state(lab, app, state, timeout, detection=detection)


# Sends on interface argv[1] from argv[2] a neighbour solicitation for
# argv[3], up to 3 times. Prints the advertisement's S and O flags, target
# and target link-layer address, or exits 1 without an advertisement.
NS_ASK = """
import sys
from scapy.all import (Ether, ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptDstLLAddr,
                       ICMPv6NDOptSrcLLAddr, IPv6, conf, get_if_hwaddr, srp1)
from scapy.utils6 import in6_getnsma, in6_getnsmac
from socket import AF_INET6, inet_ntop, inet_pton
conf.verb = 0
iface, src, target = sys.argv[1:]
group = inet_ntop(AF_INET6, in6_getnsma(inet_pton(AF_INET6, target)))
mac = get_if_hwaddr(iface)
ns = (Ether(src=mac, dst=in6_getnsmac(inet_pton(AF_INET6, group))) /
      IPv6(src=src, dst=group, hlim=255) / ICMPv6ND_NS(tgt=target) /
      ICMPv6NDOptSrcLLAddr(lladdr=mac))
for _ in range(3):
    answer = srp1(ns, iface=iface, timeout=1)
    if answer is not None and ICMPv6ND_NA in answer:
        na = answer[ICMPv6ND_NA]
        print(na.S, na.O, na.tgt, answer[ICMPv6NDOptDstLLAddr].lladdr)
        sys.exit(0)
sys.exit(1)
"""


def test_ipv6_only_server_probed(root_lab):
    """Solicitations and SYN probes over IPv6 are answered and reset, and
    one lost reply causes no takeover."""
    lab = root_lab
    probe = probe_address6()
    app = started_appliance(lab, Ipv6OnlyAppliance)
    try:
        with Sshd(lab, addresses=[lab.PRIMARY_IP6]):
            wait_state(lab, app, "healthy", 10)
            before = detection(lab, app)
            capture = lab.capture(host="primary", interface=lab.PRIMARY_IF,
                                  name="probes6")
            half_open = half_open_samples(lab, probe)
            pcap = capture.stop()
            # The primary solicits the probe address, and revenantd
            # advertises it with its inject port's MAC.
            ask = lab.exec("primary", ["/usr/bin/python3", "-c", NS_ASK,
                                       lab.PRIMARY_IF, lab.PRIMARY_IP6, probe],
                           check=False, timeout=60)
            after = detection(lab, app)
            lose_one_reply(lab)
            time.sleep(1.0)
            last = detection(lab, app)
        inject_mac = lab.exec("appliance", [
            "cat", f"/sys/class/net/{lab.INJECT_IF}/address"]).stdout.strip()
        syn = after["syn6_probes"]
        sent = syn["sent"] - before["syn6_probes"]["sent"]
        # 20 rounds of 100 ms at least; a loaded machine sends fewer.
        assert sent >= 10, after
        assert syn["answered"] - before["syn6_probes"]["answered"] >= sent - 2
        assert syn["resets"] - before["syn6_probes"]["resets"] >= sent - 2
        # No IPv4 address: no ARP, no IPv4 SYN.
        assert after["syn_probes"]["sent"] == 0, after
        assert after["arp_answer_age_ns"] is None, after
        assert after["nd_answer_age_ns"] < 2_000_000_000, after
        assert after["syn6_answer_age_ns"] < 2_000_000_000, after
        # Only solicitations came back, and they prove the mirror works.
        assert after["mirror_works"], after
        assert ask.returncode == 0, ask.stdout + ask.stderr
        assert ask.stdout.split() == ["1", "1", probe, inject_mac], ask.stdout
        assert syn["na_replies"] >= 1, after
        assert max(half_open) <= 2, half_open
        assert len(syn_recv_from(lab, probe)) <= 2
        # On the primary's wire: our solicitations for its address with
        # the source link-layer option, its advertisements, our SYNs,
        # sshd's SYN-ACKs, and our RSTs with the sequence number the
        # SYN-ACK acknowledged.
        solicitations = capture.fields(
            f"ipv6.src=={probe} && icmpv6.type==135 && "
            f"icmpv6.nd.ns.target_address=={lab.PRIMARY_IP6}",
            "icmpv6.opt.linkaddr", "ipv6.hlim")
        assert len(solicitations) >= 10, pcap
        assert {tuple(s) for s in solicitations} == {(inject_mac, "255")}
        adverts = capture.count(
            f"ipv6.src=={lab.PRIMARY_IP6} && icmpv6.type==136 && "
            f"icmpv6.nd.na.target_address=={lab.PRIMARY_IP6}")
        assert adverts >= 10, pcap
        synacks = capture.fields(
            f"ipv6.src=={lab.PRIMARY_IP6} && ipv6.dst=={probe} && "
            "tcp.flags.syn==1 && tcp.flags.ack==1",
            "tcp.dstport", "tcp.ack_raw")
        resets = capture.fields(
            f"ipv6.src=={probe} && ipv6.dst=={lab.PRIMARY_IP6} && "
            "tcp.flags.reset==1",
            "tcp.srcport", "tcp.seq_raw")
        assert len(synacks) >= 10, pcap
        answered = {(port, ack) for port, ack in synacks}
        reset = {(port, seq) for port, seq in resets}
        assert len(answered - reset) <= 1, (answered - reset)
        # The lost reply made it suspect at most.
        assert last["state"] in ("healthy", "suspect"), last
        assert last["migration"] == 0, last
        log = app.log_text()
        assert ("neighbour solicitations and SYN probes from " + probe) in log
        assert "taking over" not in log
        assert "-> failed" not in log
    finally:
        app.stop()


def test_ipv6_only_server_crash_taken_over(root_lab):
    """A crash of the primary leaves the IPv6 probes unanswered while the
    mirror still carries revenantd's solicitations, so the connection moves."""
    lab = root_lab
    t = Takeover(lab)
    os.chmod(t.key, 0o600)
    t.start_service("backup", "--adopt", t.tmp / "adopt.sock")
    start_agent(t, lab)
    primary = t.start_service("primary", "--listen",
                              f"[{lab.SERVICE_IP6}]:{PORT}",
                              "--run-limit", "60")
    app = Ipv6OnlyAppliance(lab, t.key)
    app.start()
    try:
        wait_state(lab, app, "healthy", 10)
        client, _ = start_client(lab, lab.SERVICE_IP6)
        time.sleep(1.0)
        lab.port_down("primary")
        primary.kill()
        detected = wait_state(lab, app, "migrated", TAKEOVER_WAIT)
        assert "1 moved" in detected["evidence"], detected
        time.sleep(2.0)
        result = finish_client(client)
        assert result["error"] is None
        ticks = result["ticks"]
        assert len(ticks) > 100
        assert ticks == list(range(1, len(ticks) + 1)), \
            "tick lines lost, repeated or out of order"
        assert result["echoes"] == [f"echo {i}: c{i:06d}"
                                    for i in range(1, result["sent"] + 1)]
        log = app.log_text()
        failed = re.search(r"server primary: suspect -> failed: (.*)", log)
        assert failed, log[-3000:]
        assert "probe rounds unanswered in a row while the mirror worked" \
            in failed.group(1)
        assert "ARP answer not probed" in failed.group(1)
        assert "taking over (migration" in log
    finally:
        app.stop()
