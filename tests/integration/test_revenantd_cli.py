# SPDX-License-Identifier: BSD-3-Clause
"""Lab tests of the revenantd and revenantctl command lines.

Covers configuration errors, a capture interface that does not exist,
revenantctl's errors, DPDK telemetry and the capture counters after a
short SSH session.

Run as root from the repository root after building:
    RV_BUILD_DIR=build-x /usr/bin/python3 -m pytest tests/integration/test_revenantd_cli.py
"""

import json
import re
import subprocess

import pytest

from appliance import (LAB_PROFILE, LAB_SETTINGS, REVENANTCTL, REVENANTD, Appliance,
                       hugepage_files, render_config)
from sshd_lab import Sshd

TELEMETRY = "/usr/bin/dpdk-telemetry.py"


def run(argv, timeout=30, **kwargs):
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, **kwargs)


def line_of(text, needle):
    """Return the 1-based number of the only line of TEXT that contains NEEDLE."""
    numbers = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(numbers) == 1, f"{needle!r} is on lines {numbers}"
    return numbers[0]


@pytest.fixture
def bad_config(tmp_path):
    """A lab configuration with an out-of-range value and an unknown key."""
    text = render_config(LAB_PROFILE.read_text(), "mir0", "inj0", "rvcheck",
                         tmp_path / "revenantd.sock", LAB_SETTINGS)
    text = text.replace("  burst_size: 32\n", "  burst_size: 9999\n")
    text = text.replace("  gap_timeout_ms: 500\n", "  gap_timeout_ms: 500\n  colour: blue\n")
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return path


def test_check_config_valid(tmp_path):
    path = tmp_path / "good.yaml"
    path.write_text(render_config(LAB_PROFILE.read_text(), "mir0", "inj0", "rvcheck",
                                  tmp_path / "revenantd.sock", LAB_SETTINGS))
    proc = run([REVENANTD, "--check-config", path])
    assert proc.returncode == 0, proc.stderr
    assert f"{path}: configuration is valid" in proc.stdout
    # The lab profile leaves the handoff key, the host key and the fence
    # to the tests, so --check-config warns about what that switches off.
    assert "no handoff section, so no connection can be migrated" in proc.stderr
    assert "server primary: no host_key" in proc.stderr
    assert "server primary: no fence configured" in proc.stderr


def test_check_config_invalid(bad_config):
    text = bad_config.read_text()
    proc = run([REVENANTD, "--check-config", bad_config])

    assert proc.returncode == 2, proc.stderr
    burst = re.search(rf"^{re.escape(str(bad_config))}:(\d+):(\d+): ports\.burst_size: (.+)$",
                      proc.stderr, re.M)
    assert burst, f"no FILE:LINE:COLUMN: key: message for burst_size in {proc.stderr!r}"
    assert int(burst.group(1)) == line_of(text, "burst_size: 9999")
    assert int(burst.group(2)) == len("  burst_size: ") + 1
    assert "9999" in burst.group(3)
    unknown = re.search(rf"^{re.escape(str(bad_config))}:(\d+):(\d+): memory\.colour: (.+)$",
                        proc.stderr, re.M)
    assert unknown, f"no FILE:LINE:COLUMN: key: message for colour in {proc.stderr!r}"
    assert int(unknown.group(1)) == line_of(text, "colour: blue")
    assert int(unknown.group(2)) == 3
    assert "unknown key" in unknown.group(3)


def test_missing_capture_interface(lab):
    app = Appliance(lab, mirror_if="does-not-exist")
    try:
        app.spawn()
        status = app.wait_exit(timeout=60)
        log = app.log_text()
    finally:
        left = app.cleanup()

    assert status != 0, f"revenantd exited 0 without its capture interface; log:\n{log}"
    assert "did not come up" in log, log
    assert "does-not-exist" in log, log
    assert not app.socket.exists()
    assert left == [], f"revenantd left hugepage files behind: {left}"


def test_ctl_flow_not_found(appliance):
    proc = appliance.ctl("flow", "999999", check=False)
    assert proc.returncode == 1, proc.stderr
    assert "not found" in proc.stderr
    assert proc.stdout == ""


def test_ctl_without_daemon(tmp_path):
    proc = run([REVENANTCTL, "-s", tmp_path / "absent.sock", "flows"])
    assert proc.returncode == 1
    assert "is revenantd running?" in proc.stderr
    assert str(tmp_path / "absent.sock") in proc.stderr


def telemetry_stats(appliance):
    """Read /revenant/stats with dpdk-telemetry.py in the appliance namespace."""
    proc = appliance.lab.exec("appliance", [TELEMETRY, "-f", appliance.file_prefix],
                              input="/revenant/stats\n", timeout=30, check=False)
    assert proc.returncode == 0, f"dpdk-telemetry.py failed: {proc.stderr.strip()}"
    start = proc.stdout.find('{"/revenant/stats"')
    assert start >= 0, f"no /revenant/stats reply in {proc.stdout!r}"
    reply, _ = json.JSONDecoder().raw_decode(proc.stdout[start:])
    return reply["/revenant/stats"]


def test_counters_after_ssh(appliance):
    lab = appliance.lab
    before = telemetry_stats(appliance)
    assert before["connections"] == 0

    with Sshd(lab) as sshd:
        argv = ["ip", "netns", "exec", lab.NS_CLIENT,
                *sshd.ssh_argv(lab.PRIMARY_IP, "echo revenant-cli-marker")]
        proc = run(argv, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "revenant-cli-marker"

    stats = appliance.stats()
    capture_port = stats["ports"][0]
    assert capture_port["role"] == "capture"
    assert capture_port["interface"] == lab.MIRROR_IF
    assert capture_port["rx_packets"] > 0
    assert capture_port["rx_dropped"] == 0
    assert stats["capture"]["frames"] > 0
    assert stats["capture"]["tcp_monitored"] > 0
    assert stats["flows"]["capture_gaps"] == 0
    assert stats["memory"]["bytes_logged"] > 0

    flows = appliance.flows()
    assert len(flows) == 1
    assert flows[0]["server"] == f"{lab.PRIMARY_IP}:22"
    assert flows[0]["client"].startswith(f"{lab.CLIENT_IP}:")

    after = telemetry_stats(appliance)
    assert after["frames"] >= stats["capture"]["frames"]
    assert after["capture_rx_dropped"] == 0
    assert after["connections"] == 1
    assert after["bytes_logged"] >= stats["memory"]["bytes_logged"]
    assert hugepage_files(appliance.file_prefix) == [], "--huge-unlink left hugepage files"

    # The tables for people carry the same facts as the JSON.
    flow_id = flows[0]["id"]
    text = appliance.ctl("flow", str(flow_id)).stdout
    lines = dict(line.split(None, 1) for line in text.splitlines())
    json_flow = appliance.flow(flow_id)
    assert lines["id"] == str(flow_id)
    assert lines["state"] == f'"{json_flow["state"]}"'
    assert lines["client_to_server.isn"] == \
        str(json_flow["client_to_server"]["isn"])
    assert lines["server_to_client.next_seq"] == \
        str(json_flow["server_to_client"]["next_seq"])
    table = appliance.ctl("flows").stdout.splitlines()
    assert table[0].split()[:4] == ["ID", "CLIENT", "SERVER", "STATE"]
    assert flows[0]["client"] in table[1]


def test_truncated_frames_marked(lab):
    """A capture ring with frames too small for the MTU cuts segments: they
    are counted and their connection is marked, never logged as whole."""
    app = Appliance(lab)
    text = app.write_config().read_text().replace("framesz=2048",
                                                  "framesz=1024")
    assert "framesz=1024" in text

    def write_small_frames():
        app.config.write_text(text)
        return app.config

    app.write_config = write_small_frames
    app.start()
    try:
        with Sshd(lab) as sshd:
            argv = ["ip", "netns", "exec", lab.NS_CLIENT,
                    *sshd.ssh_argv(lab.PRIMARY_IP, "head -c 200000 /dev/zero")]
            proc = run(argv, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert app.stats()["capture"]["truncated_frames"] > 0
        detail = app.flow(app.flows()[0]["id"])
        assert "truncated_frame" in detail["unrecoverable"], detail
        assert not detail["recoverable"]
    finally:
        app.stop()
