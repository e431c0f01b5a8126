# SPDX-License-Identifier: BSD-3-Clause
"""Drive the namespace lab of tools/lab from pytest.

A Lab object owns one lab: it brings the lab up, runs commands inside its
namespaces, tracks the background processes it started and removes
everything in down(). The conftest fixtures call down() at teardown, also
when a test fails.
"""

import os
import shlex
import signal
import subprocess
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LAB_TOOL = REPO_ROOT / "tools" / "lab"
LAB_RUN_DIR = Path(os.environ.get("REVENANT_LAB_DIR", "/run/revenant-lab"))

HOSTS = ("switch", "client", "primary", "backup", "appliance")
NS_VARS = {
    "switch": "NS_SWITCH",
    "client": "NS_CLIENT",
    "primary": "NS_PRIMARY",
    "backup": "NS_BACKUP",
    "appliance": "NS_APPLIANCE",
}


class LabError(RuntimeError):
    """A tools/lab command failed."""


def build_dir():
    """Return the meson build directory (REVENANT_BUILD_DIR or RV_BUILD_DIR, default build)."""
    name = os.environ.get("REVENANT_BUILD_DIR") or os.environ.get("RV_BUILD_DIR") or "build"
    return (REPO_ROOT / name).resolve()


def parse_env_file(path):
    """Parse a KEY=value file written by tools/lab up into a dict."""
    env = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise LabError(f"{path}: invalid line {line!r}: expected KEY=value")
        env[key] = value
    return env


def run_lab_tool(*args, timeout=60, check=True):
    """Run tools/lab with ARGS and return the CompletedProcess (text)."""
    cmd = [str(LAB_TOOL), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise LabError(f"{shlex.join(cmd)} failed with exit status "
                       f"{proc.returncode}: {proc.stderr.strip()}")
    return proc


class Capture:
    """A tcpdump writing one interface of a lab namespace to a pcap file."""

    def __init__(self, lab, host, interface, path):
        self.lab = lab
        self.host = host
        self.interface = interface
        self.path = Path(path)
        self.proc = None
        self.kernel_drops = None

    def start(self, timeout=10):
        """Start tcpdump and return once it is capturing."""
        cmd = ["tcpdump", "-n", "-U", "--immediate-mode", "-Z", "root",
               "-B", "8192", "-i", self.interface,
               "-w", str(self.path)]
        self.proc = self.lab.popen(self.host, cmd, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True)
        # tcpdump prints "listening on IFACE" once its socket is bound.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if "listening on" in line:
                return self
            if not line and self.proc.poll() is not None:
                break
        self.stop()
        raise LabError(f"tcpdump on {self.host} {self.interface} did not start "
                       f"within {timeout} s")

    def stop(self, settle=0.3):
        """Stop tcpdump after SETTLE seconds (frames in flight) and return the pcap path."""
        if self.proc is None:
            return self.path
        if self.proc.poll() is None:
            time.sleep(settle)
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # tcpdump's last lines report "N packets dropped by kernel".
        for line in self.proc.stderr.read().splitlines():
            if "dropped by kernel" in line:
                self.kernel_drops = int(line.split()[0])
        self.proc.stderr.close()
        self.proc = None
        return self.path

    def fields(self, display_filter, *fields):
        """Read the pcap with tshark: one tuple of FIELDS per frame matching DISPLAY_FILTER."""
        cmd = ["tshark", "-n", "-r", str(self.path), "-Y", display_filter,
               "-T", "fields", "-E", "separator=|"]
        for field in fields or ("frame.number",):
            cmd += ["-e", field]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise LabError(f"tshark failed on {self.path} with filter "
                           f"{display_filter!r}: {proc.stderr.strip()}")
        return [tuple(line.split("|")) for line in proc.stdout.splitlines() if line]

    def count(self, display_filter):
        """Return the number of frames matching DISPLAY_FILTER."""
        return len(self.fields(display_filter))


class Lab:
    """One lab made by tools/lab, with the env file's variables as attributes.

    lab.CLIENT_IP, lab.NS_PRIMARY, lab.MIRROR_IF ... are the variables that
    tools/lab up wrote; lab.env contains them all as a dict.
    """

    def __init__(self, prefix=None):
        self.prefix = prefix
        self.env = {}
        self.procs = []
        self.tmpdir = None
        self.is_up = False

    def up(self):
        """Create the lab and load its env file; return self."""
        args = ["up"] + (["--prefix", self.prefix] if self.prefix else [])
        proc = run_lab_tool(*args)
        self.prefix = proc.stdout.strip().splitlines()[-1]
        self.is_up = True
        self.env = parse_env_file(LAB_RUN_DIR / f"{self.prefix}.env")
        self.tmpdir = Path(tempfile.mkdtemp(prefix=f"revenant-lab-{self.prefix}-"))
        return self

    def __getattr__(self, name):
        env = self.__dict__.get("env", {})
        if name in env:
            return env[name]
        raise AttributeError(f"lab has no attribute or env variable {name!r}")

    def ns(self, host):
        """Return the namespace name of HOST (switch, client, primary, backup, appliance)."""
        if host not in NS_VARS:
            raise ValueError(f"invalid host {host!r}: expected one of {', '.join(HOSTS)}")
        return self.env[NS_VARS[host]]

    def _command(self, host, cmd):
        if isinstance(cmd, str):
            cmd = ["/bin/sh", "-c", cmd]
        return ["ip", "netns", "exec", self.ns(host), *[str(c) for c in cmd]]

    def _child_env(self, extra):
        env = dict(os.environ)
        env.update(self.env)
        if extra:
            env.update(extra)
        return env

    def exec(self, host, cmd, check=True, timeout=30, input=None, env=None):
        """Run CMD (a list, or a string for /bin/sh -c) in HOST's namespace.

        Returns the CompletedProcess with text stdout and stderr. Raises
        LabError when CHECK is set and CMD exits non-zero, and
        subprocess.TimeoutExpired after TIMEOUT seconds. The lab's
        variables are in CMD's environment.
        """
        argv = self._command(host, cmd)
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              input=input, env=self._child_env(env),
                              stdin=None if input is not None else subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise LabError(f"{host}: {shlex.join(argv[4:])} failed with exit status "
                           f"{proc.returncode}: {proc.stderr.strip()}")
        return proc

    def popen(self, host, cmd, env=None, **kwargs):
        """Start CMD in HOST's namespace in the background and return the Popen.

        down() stops every process started here (SIGTERM, then SIGKILL
        after 5 s), so a test may leave them running.
        """
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        proc = subprocess.Popen(self._command(host, cmd), env=self._child_env(env),
                                **kwargs)
        self.procs.append(proc)
        return proc

    def capture(self, host="appliance", interface=None, name="mirror"):
        """Start a tcpdump (by default on the appliance's mirror) and return its Capture."""
        interface = interface or self.MIRROR_IF
        path = self.tmpdir / f"{name}-{len(self.procs)}.pcap"
        return Capture(self, host, interface, path).start()

    def ping(self, host, address, count=1, interval=0.2, timeout=10, check=True):
        """Ping ADDRESS from HOST COUNT times; return the CompletedProcess."""
        cmd = ["ping", "-n", "-q", "-c", str(count), "-i", str(interval),
               "-W", "1", "-w", str(timeout), address]
        return self.exec(host, cmd, check=check, timeout=timeout + 5)

    def port_down(self, host):
        """Set HOST's switch port down: the lab's fencing."""
        run_lab_tool("port-down", self.prefix, host)

    def port_up(self, host):
        """Set HOST's switch port up again."""
        run_lab_tool("port-up", self.prefix, host)

    def drop(self, host):
        """Drop every frame HOST sends, at the switch, with the link kept up."""
        run_lab_tool("drop", self.prefix, host)

    def undrop(self, host):
        """Forward HOST's frames again."""
        run_lab_tool("undrop", self.prefix, host)

    def stop_processes(self):
        """Stop every process that popen() started: SIGTERM, then SIGKILL after 5 s."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 5
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream:
                    stream.close()
        self.procs = []

    def down(self):
        """Stop the lab's processes and remove the lab; safe to call twice."""
        self.stop_processes()
        if self.is_up:
            run_lab_tool("down", self.prefix)
            self.is_up = False
        if self.tmpdir and self.tmpdir.exists():
            for path in self.tmpdir.iterdir():
                path.unlink()
            self.tmpdir.rmdir()
        self.tmpdir = None

    def __enter__(self):
        return self.up()

    def __exit__(self, *exc):
        self.down()
        return False


def lab_namespaces(prefix):
    """Return the namespaces that exist for PREFIX, as listed by ip netns."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                         check=True).stdout
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    return [n for n in names if n.startswith(prefix + "-")]
