# SPDX-License-Identifier: BSD-3-Clause
"""Run Debian's unmodified OpenSSH server and client in a lab.

Sshd starts /usr/sbin/sshd in one lab namespace (the primary by default)
with a host key and a user key generated for the test, root login by key
only, and every file in a directory of its own. Its ssh_argv() builds the
/usr/bin/ssh command line that trusts exactly that host key.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

SSHD = "/usr/sbin/sshd"
SSH = "/usr/bin/ssh"
SSH_KEYGEN = "/usr/bin/ssh-keygen"
# sshd does not start without its privilege separation directory.
PRIVSEP_DIR = Path("/run/sshd")


class SshdError(RuntimeError):
    """sshd failed to start or to stop."""


def _keygen(path, comment):
    subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment,
                    "-f", str(path)], check=True, capture_output=True, timeout=30)
    return Path(str(path) + ".pub").read_text().strip()


class Sshd:
    """One sshd in a lab namespace, listening on ADDRESSES port PORT."""

    def __init__(self, lab, host="primary", addresses=None, port=22):
        self.lab = lab
        self.host = host
        self.addresses = list(addresses or (lab.PRIMARY_IP, lab.PRIMARY_IP6))
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix="rv-sshd-"))
        self.proc = None
        self.host_key = self.dir / "ssh_host_ed25519_key"
        self.user_key = self.dir / "id_ed25519"
        self.config = self.dir / "sshd_config"
        self.pid_file = self.dir / "sshd.pid"
        self.log = self.dir / "sshd.log"
        self.known_hosts = self.dir / "known_hosts"

    def _write_files(self):
        host_pub = _keygen(self.host_key, "revenant-lab-host")
        user_pub = _keygen(self.user_key, "revenant-lab-user")
        (self.dir / "authorized_keys").write_text(user_pub + "\n")
        names = ",".join(a if self.port == 22 else f"[{a}]:{self.port}"
                         for a in self.addresses)
        self.known_hosts.write_text(f"{names} {host_pub}\n")
        lines = [f"Port {self.port}"]
        lines += [f"ListenAddress {a}" for a in self.addresses]
        lines += [
            f"HostKey {self.host_key}",
            f"PidFile {self.pid_file}",
            f"AuthorizedKeysFile {self.dir / 'authorized_keys'}",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            # The key files live in a world-readable temporary directory.
            "StrictModes no",
            "PrintMotd no",
            "PrintLastLog no",
            "UseDNS no",
            "LogLevel INFO",
        ]
        self.config.write_text("\n".join(lines) + "\n")

    def start(self, timeout=15):
        """Generate the keys and config, start sshd and wait until it listens."""
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        self._write_files()
        subprocess.run([SSHD, "-t", "-f", str(self.config)], check=True,
                       capture_output=True, text=True, timeout=30)
        with open(self.log, "wb") as log:
            # -D keeps sshd in the foreground, so the Popen's PID is sshd's
            # own (ip netns exec replaces itself with the command).
            self.proc = self.lab.popen(self.host, [SSHD, "-D", "-e", "-f", self.config],
                                       stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SshdError(f"sshd exited with status {self.proc.returncode}: "
                                f"{self.log_text()}")
            if self._listening():
                return self
            time.sleep(0.1)
        raise SshdError(f"sshd did not listen on port {self.port} within {timeout} s: "
                        f"{self.log_text()}")

    def _listening(self):
        out = self.lab.exec(self.host, ["ss", "-Hltn", f"sport = :{self.port}"],
                            check=False).stdout
        return all(f"{a}]:{self.port}" in out or f"{a}:{self.port}" in out
                   for a in self.addresses)

    def log_text(self):
        """Return sshd's log (stderr) so far."""
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def ssh_argv(self, address, *remote, tty=False, user="root"):
        """Return the /usr/bin/ssh argv that runs REMOTE on ADDRESS as USER.

        The client ignores every user and system config, trusts only this
        sshd's host key and authenticates with the generated user key.
        With TTY it forces a terminal (-tt), for a session through a pty.
        """
        argv = [SSH, "-F", "/dev/null", "-i", str(self.user_key),
                "-o", "IdentitiesOnly=yes",
                "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "GlobalKnownHostsFile=/dev/null",
                "-o", "StrictHostKeyChecking=yes",
                "-o", "BatchMode=yes",
                "-o", "ConnectTimeout=10",
                "-o", "LogLevel=ERROR",
                "-p", str(self.port)]
        argv.append("-tt" if tty else "-T")
        argv.append(f"{user}@{address}")
        argv += list(remote)
        return argv

    def stop(self, timeout=5):
        """Stop sshd by its PID (SIGTERM, then SIGKILL) and remove its directory."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False
