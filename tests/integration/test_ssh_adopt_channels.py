# SPDX-License-Identifier: BSD-3-Clause
"""What each channel of an adopted SSH connection becomes on the backup.

The lab of test_ssh_adopt.py (patched sshd on primary and backup,
revenant-agent, revenantd), with Debian's unmodified ssh and sftp clients:

- an sftp session open before `revenantctl migrate primary` lists a
  directory afterwards: the backup starts a new sftp-server for the
  channel without a second version exchange;
- a local forward (ssh -L) open at the failure is closed, the session goes
  on and a new connection through the same forward reaches the backup;
- a remote forward (ssh -R) is listened on again on the backup, and a
  connection to it reaches the client's side as before;
- an environment variable the client sent (SendEnv, AcceptEnv) is in the
  new shell;
- the backup's sshd exports checkpoints of the adopted connection, which
  revenantd files with a number above the primary's.

One lab run covers all of it. Run as root after building:

    RV_BUILD_DIR=build-x python3 -m pytest tests/integration/test_ssh_adopt_channels.py

RV_SSH_DIR names the directory of the patched programs (default build/ssh,
what ssh-patch/build makes).
"""

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import test_ssh_adopt as base
from lab import REPO_ROOT

pexpect = pytest.importorskip("pexpect")

SSH_DIR = Path(os.environ.get("RV_SSH_DIR", REPO_ROOT / "build" / "ssh"))
SSHD = SSH_DIR / "sshd"
SFTP_SERVER = SSH_DIR / "sftp-server"
DEBIAN_SFTP = "/usr/bin/sftp"
# Ports on the loopback of the lab hosts.
ECHO_PORT = 7002  # echo service on primary and backup, reached through -L
LOCAL_FWD_PORT = 7101  # -L listener of the client
REMOTE_FWD_PORT = 7003  # -R listener of the server
CLIENT_ECHO_PORT = 7004  # echo service of the client, reached through -R
ENV_NAME = "RV_ADOPT_TEST_VAR"
ENV_VALUE = "carried-over-42"

# A line echo service: replies to each line with TAG:line. Bounded in time.
ECHO_SCRIPT = r"""
import socket, sys, threading, time
tag, port = sys.argv[1], int(sys.argv[2])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(8)
srv.settimeout(1)
end = time.monotonic() + 300
def serve(c):
    f = c.makefile("rwb", buffering=0)
    for line in f:
        f.write(tag.encode() + b":" + line)
    c.close()
while time.monotonic() < end:
    try:
        c, _ = srv.accept()
    except socket.timeout:
        continue
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""


def start_echo(lab, host, tag, port):
    proc = lab.popen(host, ["/usr/bin/python3", "-c", ECHO_SCRIPT, tag,
                            str(port)])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        out = lab.exec(host, ["ss", "-Hltn", f"sport = :{port}"]).stdout
        if f":{port}" in out:
            return proc
        assert proc.poll() is None, f"echo service on {host} exited"
        time.sleep(0.1)
    pytest.fail(f"echo service on {host} port {port} did not listen")


def echo_roundtrip(lab, host, port, line, timeout=15):
    """Connect from HOST to 127.0.0.1:PORT, send LINE, return the reply."""
    script = ("import socket, sys\n"
              f"s = socket.create_connection(('127.0.0.1', {port}), "
              f"timeout={timeout})\n"
              f"s.sendall(b'{line}\\n')\n"
              "f = s.makefile('rb')\n"
              "sys.stdout.write(f.readline().decode())\n")
    proc = lab.exec(host, ["/usr/bin/python3", "-c", script], check=False,
                    timeout=timeout + 10)
    return proc.stdout.strip()


def start_sshd(lab, host, config, log):
    """The patched sshd of SSH_DIR, as test_ssh_adopt.start_sshd starts it."""
    return base.start_sshd(lab, host, config, log, sshd=SSHD)


class ChannelsLab(base.AdoptLab):
    """AdoptLab with sftp, AcceptEnv, forwarding, and a backup that exports
    checkpoints of what it adopts."""

    def start(self):
        lab = self.lab
        tmp = self.tmp
        self.keys = keys = base.new_keys()
        self.known_hosts = keys.known_hosts(lab.SERVICE_IP)
        key = base.appliance_key(tmp)

        common = [
            f"Subsystem sftp {SFTP_SERVER}",
            f"AcceptEnv {ENV_NAME}",
            "AllowTcpForwarding yes",
        ] + base.export_lines(keys)
        for host, iface in (("primary", lab.PRIMARY_IF),
                            ("backup", lab.BACKUP_IF)):
            base.export_neighbour(lab, host, iface)
            lab.exec(host, ["ip", "link", "set", "lo", "up"])

        start_sshd(lab, "primary", base.sshd_config(keys, "primary", [
            f"ListenAddress {lab.SERVICE_IP}:22"] + common),
            self.primary_log)

        adopt_socket = tmp / "adopt.sock"
        start_sshd(lab, "backup", base.sshd_config(
            keys, "backup", base.backup_lines(keys, adopt_socket) + common),
            self.backup_log)

        self.agent_log = base.start_agent(lab, tmp, key, adopt_socket)
        self.app = base.AdoptAppliance(lab, key, keys.host_pub)
        self.app.start()

    def client_options(self):
        keys = self.keys
        return ["-F", "/dev/null", "-i", str(keys.user),
                "-o", "IdentitiesOnly=yes",
                "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"]

    def sftp(self):
        argv = (["netns", "exec", self.lab.NS_CLIENT, DEBIAN_SFTP]
                + self.client_options()
                + [f"{self.user}@{self.lab.SERVICE_IP}"])
        child = pexpect.spawn("ip", argv, timeout=20)
        child.logfile_read = open(self.tmp / "sftp.log", "wb")
        self.children.append(child)
        child.expect("sftp> ")
        return child


@pytest.fixture
def channels_lab(root_lab, test_user):
    if not SFTP_SERVER.exists():
        pytest.fail(f"{SFTP_SERVER} missing: run ssh-patch/build")
    setup = ChannelsLab(root_lab, test_user)
    try:
        setup.start()
        yield setup
    finally:
        setup.close()


root_lab = base.root_lab
test_user = base.test_user


def sftp_ls(child, directory):
    child.sendline(f"ls -1 {directory}")
    child.expect("sftp> ", timeout=30)
    return child.before.decode(errors="replace")


def test_ssh_adopt_channels(channels_lab):
    setup = channels_lab
    lab = setup.lab
    user = pwd.getpwnam(setup.user)

    # A directory of the user's with files to list through sftp.
    listing = Path(tempfile.mkdtemp(prefix="rv-adopt-sftp-"))
    try:
        for name in ("alpha.txt", "beta.txt"):
            (listing / name).write_text(name)
        os.chown(listing, user.pw_uid, user.pw_gid)
        os.chmod(listing, 0o755)
        run_channels(setup, lab, listing)
    finally:
        shutil.rmtree(listing, ignore_errors=True)


def run_channels(setup, lab, listing):
    for host in ("primary", "backup"):
        start_echo(lab, host, host, ECHO_PORT)
    start_echo(lab, "client", "client", CLIENT_ECHO_PORT)

    # One pty session with an environment variable and both forwards.
    options = ["-o", f"SendEnv={ENV_NAME}", "-o", "ExitOnForwardFailure=yes",
               "-L", f"127.0.0.1:{LOCAL_FWD_PORT}:127.0.0.1:{ECHO_PORT}",
               "-R", f"{REMOTE_FWD_PORT}:127.0.0.1:{CLIENT_ECHO_PORT}"]
    os.environ[ENV_NAME] = ENV_VALUE
    try:
        shell = setup.shell(options, name="shell")
    finally:
        del os.environ[ENV_NAME]
    assert base.run_marked(shell, "hostname", "HOST1") == "primary"
    assert base.run_marked(shell, f"echo ${ENV_NAME}", "ENV1") == ENV_VALUE
    assert echo_roundtrip(lab, "primary", REMOTE_FWD_PORT, "r1") == \
        "client:r1"

    # A connection through -L that stays open across the migration.
    half_closed = None
    forwarded = subprocess.Popen(
        ["ip", "netns", "exec", lab.NS_CLIENT, "/usr/bin/python3", "-c",
         "import socket, sys\n"
         f"s = socket.create_connection(('127.0.0.1', {LOCAL_FWD_PORT}))\n"
         "f = s.makefile('rwb', buffering=0)\n"
         "f.write(b'l1\\n')\n"
         "print(f.readline().decode().strip(), flush=True)\n"
         "s.settimeout(120)\n"
         "rest = f.read()\n"
         "print('closed', len(rest), flush=True)\n"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert forwarded.stdout.readline().strip() == "primary:l1"

        # A command that closed its output: the server has sent EOF.
        half_closed = subprocess.Popen(
            ["ip"] + setup.ssh_argv(tty=False) + ["exec >&- 2>&-; sleep 30"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        assert half_closed.stdout.read() == b""

        sftp = setup.sftp()
        before = sftp_ls(sftp, listing)
        assert "alpha.txt" in before, before
        assert "beta.txt" in before, before

        # Idle, so the periodic checkpoints describe the sessions.
        time.sleep(2.5)
        setup.wait_recoverable(3)
        numbers = {f["client"]: f["checkpoint_number"]
                   for f in setup.app.flows() if f["server"].endswith(":22")}
        assert len(numbers) == 3, numbers
        migrated_at = time.monotonic()
        setup.migrate(3)

        # Local forward: the connection open at the failure is closed.
        assert forwarded.stdout.readline().strip() == "closed 0"
        assert forwarded.wait(timeout=30) == 0

        # The half-closed command channel ends with status 255 and gets
        # no data after its EOF, on which the client would disconnect.
        _, err = half_closed.communicate(timeout=30)
        assert half_closed.returncode == 255, err
        assert b"after EOF" not in err, err
        assert b"Disconnecting" not in err, err
    finally:
        for proc in (forwarded, half_closed):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()

    base.expect_resumed(shell)
    assert base.run_marked(shell, "hostname", "HOST2") == "backup"
    # The variable the client sent is in the new shell.
    assert base.run_marked(shell, f"echo ${ENV_NAME}", "ENV2") == ENV_VALUE
    # A new connection through -L reaches the backup's service.
    assert echo_roundtrip(lab, "client", LOCAL_FWD_PORT, "l2") == "backup:l2"
    # The backup listens on the remote forward again.
    assert echo_roundtrip(lab, "backup", REMOTE_FWD_PORT, "r2") == \
        "client:r2"

    # sftp: the same client lists the directory again.
    after = sftp_ls(sftp, listing)
    assert "alpha.txt" in after, after
    assert "beta.txt" in after, after
    sftp.sendline(f"get {listing}/beta.txt /dev/null")
    sftp.expect("sftp> ", timeout=30)
    assert b"not found" not in sftp.before, sftp.before

    backup_log = setup.backup_log.read_text(errors="replace")
    assert "new sftp subsystem" in backup_log, backup_log[-3000:]
    assert f"listening again on localhost port {REMOTE_FWD_PORT}" in \
        backup_log, backup_log[-3000:]

    # The backup exports checkpoints of the adopted connections, numbered
    # after the primary's, and revenantd files them with the flow.
    deadline = time.monotonic() + 20
    while True:
        since = time.monotonic() - migrated_at
        flows = {f["client"]: f for f in setup.app.flows()
                 if f["server"].endswith(":22")}
        newer = [client for client, f in flows.items()
                 if client in numbers
                 and f["checkpoint_number"] > numbers[client]
                 and f["checkpoint_age_ns"] / 1e9 < since]
        # The connection of the half-closed command ends; the other two
        # go on and must be followed.
        if len(newer) >= 2:
            break
        assert time.monotonic() < deadline, \
            f"no newer checkpoints after the migration: {numbers} {flows}"
        time.sleep(0.5)

    for name in ("shell", "sftp"):
        text = (setup.tmp / f"{name}.log").read_bytes()
        for bad in base.CLIENT_ERRORS:
            assert bad not in text, (name, text[-2000:])
    sftp.sendline("bye")
    sftp.expect(pexpect.EOF, timeout=15)
    shell.sendline("exit")
    shell.expect(pexpect.EOF, timeout=15)
