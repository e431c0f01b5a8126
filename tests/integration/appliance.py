# SPDX-License-Identifier: BSD-3-Clause
"""Run revenantd in a lab's appliance namespace and talk to it with revenantctl.

An Appliance writes a configuration from the lab profile
drivers-conf/revenantd-lab.yaml, starts revenantd on the lab's mirror and
inject interfaces, waits until `revenantctl stats` returns, and stops it by
PID with SIGTERM. A test fails with revenantd's log when the daemon dies.

The `appliance` fixture gives a test a running revenantd on a fresh lab.
Binaries come from lab.build_dir(): REVENANT_BUILD_DIR or RV_BUILD_DIR, default build.
"""

import glob
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from lab import REPO_ROOT, build_dir

BUILD_DIR = build_dir()
REVENANTD = BUILD_DIR / "app" / "revenantd" / "revenantd"
REVENANTCTL = BUILD_DIR / "app" / "revenantctl" / "revenantctl"
LAB_PROFILE = REPO_ROOT / "drivers-conf" / "revenantd-lab.yaml"
HUGEPAGE_DIR = Path("/dev/hugepages")

# The machine's 2 GiB of hugepages are shared by every test that runs at
# the same time, so a lab appliance keeps its stream logs to 256 MiB. Closed
# connections stay listed for 10 minutes (the profile has 30 s), so a test
# can inspect and dump them after its traffic is over.
LAB_SETTINGS = {"log_total_max": "256MiB", "closed_linger_s": "600"}


def probe_address():
    """Return detection.probe_address of the lab profile (SYN probes leave from it)."""
    found = re.search(r"(?m)^  probe_address: (\S+)$", LAB_PROFILE.read_text())
    assert found, f"{LAB_PROFILE} has no detection.probe_address"
    return found.group(1)


def probe_address6():
    """Return detection.probe_address6 of the lab profile (IPv6 SYN probes leave from it)."""
    found = re.search(r'(?m)^  probe_address6: "?([0-9a-f:]+)"?$', LAB_PROFILE.read_text())
    assert found, f"{LAB_PROFILE} has no detection.probe_address6"
    return found.group(1)


def without_probes(display_filter):
    """Return DISPLAY_FILTER restricted to frames that are not revenantd's probes.

    A switch floods probes for a MAC that has left its table (a fenced
    primary's) to every port, so a client's capture can contain them.
    """
    return (f"({display_filter}) && !(ip.addr == {probe_address()}) "
            f"&& !(ipv6.addr == {probe_address6()})")


class ApplianceError(RuntimeError):
    """revenantd failed to start, stop or reply."""


def render_config(profile_text, mirror_if, inject_if, file_prefix, control_socket,
                  settings=None):
    """Return the lab profile with the lab's names filled in.

    MIRROR_IF and INJECT_IF become the interfaces, --file-prefix=revenant
    becomes FILE_PREFIX and control_socket becomes CONTROL_SOCKET. SETTINGS
    maps a scalar key of the profile (log_total_max, closed_linger_s ...) to
    its new value. Raises ApplianceError when the profile lacks a line to
    replace, so a changed profile cannot pass silently.
    """
    replacements = [
        (r"iface=MIRROR_IF\b", f"iface={mirror_if}"),
        (r"iface=INJECT_IF\b", f"iface={inject_if}"),
        (r"--file-prefix=revenant\b", f"--file-prefix={file_prefix}"),
        (r"(?m)^control_socket: .*$", f"control_socket: {control_socket}"),
    ]
    for key, value in (settings or {}).items():
        replacements.append((rf"(?m)^(\s*){re.escape(key)}: .*$", rf"\g<1>{key}: {value}"))
    text = profile_text
    for pattern, replacement in replacements:
        text, count = re.subn(pattern, replacement, text)
        if count != 1:
            raise ApplianceError(f"{LAB_PROFILE}: expected one match of {pattern!r}, "
                                 f"found {count}")
    return text


def hugepage_files(file_prefix):
    """Return the hugepage files that DPDK made for FILE_PREFIX."""
    return sorted(glob.glob(str(HUGEPAGE_DIR / f"{file_prefix}map_*")))


class Appliance:
    """One revenantd in LAB's appliance namespace.

    mirror_if overrides the capture interface (a test of a missing one) and
    settings overrides scalar keys of the profile on top of LAB_SETTINGS.
    """

    def __init__(self, lab, mirror_if=None, settings=None):
        self.lab = lab
        self.mirror_if = mirror_if or lab.MIRROR_IF
        self.settings = dict(LAB_SETTINGS)
        self.settings.update(settings or {})
        # sun_path has room for 107 bytes and a NUL, so the socket lives in a short directory.
        self.dir = Path(tempfile.mkdtemp(prefix=f"rv-{lab.prefix}-"))
        self.socket = self.dir / "revenantd.sock"
        self.config = self.dir / "revenantd.yaml"
        self.log = self.dir / "revenantd.log"
        self.proc = None
        self.file_prefix = lab.DPDK_FILE_PREFIX

    def write_config(self):
        """Write the configuration file and return its path."""
        text = render_config(LAB_PROFILE.read_text(), self.mirror_if, self.lab.INJECT_IF,
                             self.file_prefix, self.socket, self.settings)
        self.config.write_text(text)
        return self.config

    def spawn(self):
        """Start revenantd and return its Popen without waiting for it."""
        if not REVENANTD.exists():
            pytest.fail(f"{REVENANTD} not built: run ninja -C {BUILD_DIR} or set RV_BUILD_DIR")
        self.write_config()
        with open(self.log, "wb") as log:
            # ip netns exec replaces itself with revenantd, so the Popen's
            # PID is the daemon's.
            self.proc = self.lab.popen("appliance", [REVENANTD, "-c", self.config],
                                       stdout=log, stderr=subprocess.STDOUT)
        return self.proc

    def start(self, timeout=30):
        """Start revenantd and return self once `revenantctl stats` succeeds."""
        self.spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_running()
            proc = self._ctl_run(["-t", "2", "stats", "--json"], timeout=5)
            if proc.returncode == 0:
                return self
            time.sleep(0.2)
        pytest.fail(f"revenantd did not answer on {self.socket} within {timeout} s; "
                    f"log:\n{self.log_text()}")

    def wait_exit(self, timeout=30):
        """Wait for revenantd to exit on its own; return its exit status."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"revenantd still running after {timeout} s; log:\n"
                        f"{self.log_text()}")

    def log_text(self):
        """Return everything revenantd wrote to stdout and stderr so far."""
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def is_running(self):
        return self.proc is not None and self.proc.poll() is None

    def check_running(self):
        """Fail the test with revenantd's log if the daemon has exited."""
        if self.proc is not None and self.proc.poll() is not None:
            pytest.fail(f"revenantd exited with status {self.proc.returncode}; log:\n"
                        f"{self.log_text()}")

    def _ctl_run(self, args, timeout=30):
        cmd = [str(REVENANTCTL), "-s", str(self.socket), *[str(a) for a in args]]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def ctl(self, *args, check=True, timeout=30):
        """Run revenantctl ARGS against this daemon; return the CompletedProcess.

        With CHECK, a non-zero exit fails the test with revenantctl's stderr,
        and with revenantd's log when the daemon has died.
        """
        proc = self._ctl_run(args, timeout=timeout)
        if check and proc.returncode != 0:
            self.check_running()
            pytest.fail(f"revenantctl {' '.join(map(str, args))} failed with exit status "
                        f"{proc.returncode}: {proc.stderr.strip()}")
        return proc

    def ctl_json(self, *args, timeout=30):
        """Run revenantctl ARGS --json and return the parsed reply."""
        proc = self.ctl(*args, "--json", timeout=timeout)
        try:
            return json.loads(proc.stdout)
        except json.JSONDecodeError as err:
            pytest.fail(f"revenantctl {' '.join(map(str, args))} --json printed invalid "
                        f"JSON ({err}): {proc.stdout[:500]!r}")

    def stats(self):
        """Return `revenantctl stats --json`."""
        return self.ctl_json("stats")

    def flows(self):
        """Return the list of `revenantctl flows --json`."""
        return self.ctl_json("flows")["flows"]

    def flow(self, flow_id):
        """Return `revenantctl flow ID --json`."""
        return self.ctl_json("flow", flow_id)

    def dump(self, flow_id, path):
        """Write flow FLOW_ID as pcapng to PATH and return PATH."""
        self.ctl("dump", flow_id, "-o", path, timeout=60)
        return Path(path)

    def stop(self, timeout=15):
        """Stop revenantd by PID with SIGTERM and return its exit status.

        Fails the test when revenantd had already died, ignores SIGTERM for
        TIMEOUT seconds (it is then killed) or exits non-zero.
        """
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            self.check_running()
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            status = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            pytest.fail(f"revenantd ignored SIGTERM for {timeout} s and was killed; "
                        f"log:\n{self.log_text()}")
        if status != 0:
            pytest.fail(f"revenantd exited with status {status} after SIGTERM; log:\n"
                        f"{self.log_text()}")
        return status

    def cleanup(self):
        """Kill revenantd if still running, remove its files and hugepage files.

        Returns the hugepage files that were left behind (and are now
        removed), so the caller can fail on them.
        """
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        left = hugepage_files(self.file_prefix)
        for path in left:
            os.unlink(path)
        shutil.rmtree(self.dir, ignore_errors=True)
        return left


@pytest.fixture
def appliance(lab):
    """A running revenantd on the test's lab (the `lab` fixture, also appliance.lab).

    Teardown stops revenantd with SIGTERM and fails the test if it had
    died, exited non-zero or left hugepage files behind.
    """
    app = Appliance(lab)
    try:
        app.start()
        yield app
        app.stop()
    finally:
        left = app.cleanup()
    if left:
        pytest.fail(f"revenantd left hugepage files behind: {', '.join(left)}")
