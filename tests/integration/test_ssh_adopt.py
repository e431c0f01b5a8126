# SPDX-License-Identifier: BSD-3-Clause
"""Adoption of a live SSH session by the backup's patched sshd.

The whole chain runs in the lab: the primary runs the patched sshd with
checkpoints on, exporting to an address that no host has (the mirror
delivers the datagrams to revenantd). Debian's unmodified /usr/bin/ssh logs
in through a pty (pexpect). `revenantctl migrate primary` cuts the primary's
switch port, hands the connection to revenant-agent on the backup, which
restores the socket and passes it to the backup's patched sshd on
RevenantAdoptSocket. That sshd decrypts the checkpoints with its recovery
key, verifies them with the shared host key, and continues the session: the
same ssh process on the same TCP connection sees a notice line, then a new
shell whose hostname is the backup's. The cases: idle sessions for five
ciphers with a client and a server rekey afterwards, sessions streaming
output (a server packet the failure cut is completed), a running command
(exit status 255) and a new connection after the takeover.

Each sshd runs in a UTS namespace of its own (unshare --uts), so `hostname`
tells the primary from the backup.

Run as root after building (RV_BUILD_DIR names the meson build, default
build; ssh-patch/build builds build/ssh/sshd).
"""

import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from appliance import REVENANTCTL, Appliance
from lab import REPO_ROOT, build_dir
from test_agent import tool, wait_log

import yaml

pexpect = pytest.importorskip("pexpect")

SSHD = REPO_ROOT / "build" / "ssh" / "sshd"
SSH_KEYGEN = REPO_ROOT / "build" / "ssh" / "ssh-keygen"
KEYGEN = build_dir() / "tools" / "keygen" / "revenant-keygen"
DEBIAN_SSH = "/usr/bin/ssh"
USER = "rvadoptuser"
EXPORT_IP = "198.51.100.250"
EXPORT_PORT = 7022
EXPORT_MAC = "02:00:5e:00:00:fa"
AGENT_PORT = 7700
MIGRATE_TIMEOUT = 60
# Busy sessions per cipher in test_ssh_adopt_busy_sessions.
BUSY_PER_CIPHER = 2
# sshd's LogLevel DEBUG1 line for each completed key exchange.
NEWKEYS_IN = "SSH2_MSG_NEWKEYS received"


def require_adopt_lab():
    """Skip the test without root; fail it when a binary of the lab is not built."""
    if os.geteuid() != 0:
        pytest.skip("needs root for namespaces, DPDK and TCP_REPAIR")
    if not SSHD.exists():
        pytest.fail(f"{SSHD} missing: run ssh-patch/build")
    if not KEYGEN.exists():
        pytest.fail(f"{KEYGEN} missing: build the meson target revenant-keygen")


@pytest.fixture
def root_lab(lab):
    require_adopt_lab()
    return lab


@pytest.fixture
def test_user():
    """A login user, so the monitor and an unprivileged session process run."""
    if subprocess.run(["id", "sshd"], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "-r", "-s", "/usr/sbin/nologin", "-d",
                        "/run/sshd", "sshd"], check=True)
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    created = False
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "-r", "-M", "-d", "/tmp", "-s", "/bin/sh",
                        USER], check=True)
        created = True
    # "*" instead of useradd's "!": sshd without PAM rejects locked
    # accounts even for key logins.
    subprocess.run(["usermod", "-p", "*", USER], check=True)
    try:
        yield USER
    finally:
        if created:
            subprocess.run(["userdel", USER], check=False)


class Keys:
    """The shared host key, the user's key and the backup's recovery key."""

    def __init__(self, directory):
        self.dir = directory
        self.dir.mkdir(mode=0o755)
        self.host = directory / "host"
        self.user = directory / "user"
        self.recovery = directory / "recovery"
        for path in (self.host, self.user):
            subprocess.run([str(SSH_KEYGEN), "-q", "-t", "ed25519", "-N", "",
                            "-C", "root@primary", "-f", str(path)], check=True)
        subprocess.run([str(KEYGEN), "-f", str(self.recovery), "-C", "backup"],
                       check=True, capture_output=True)
        (directory / "recovery.pub").chmod(0o644)
        shutil.copy(str(self.user) + ".pub", directory / "authorized_keys")
        (directory / "authorized_keys").chmod(0o644)
        self.host_pub = (directory / "host.pub").read_text().strip()

    def known_hosts(self, address):
        path = self.dir / "known_hosts"
        path.write_text(f"{address} {self.host_pub}\n")
        return path


def sshd_config(keys, name, lines, log_level="DEBUG1"):
    """Write sshd_config.NAME for a key-only test sshd with LINES added; return its path.

    LOG_LEVEL is sshd's LogLevel: DEBUG1 has a line per key exchange.
    """
    path = keys.dir / f"sshd_config.{name}"
    path.write_text("\n".join([
        f"HostKey {keys.host}",
        "PidFile none",
        f"AuthorizedKeysFile {keys.dir / 'authorized_keys'}",
        "StrictModes no",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PrintMotd no",
        "PrintLastLog no",
        "UseDNS no",
        f"LogLevel {log_level}",
    ] + lines) + "\n")
    return path


def export_lines(keys, recovery_pub=None):
    """Return the sshd_config lines that export checkpoints to EXPORT_IP.

    RECOVERY_PUB is the backup's recovery key the checkpoints are sealed
    to, by default the one of KEYS.
    """
    recovery_pub = recovery_pub or keys.dir / "recovery.pub"
    return ["RevenantCheckpoints yes",
            f"RevenantExportAddress {EXPORT_IP}:{EXPORT_PORT}",
            f"RevenantRecoveryKeys {recovery_pub}"]


def primary_lines(keys, listen, recovery_pub=None):
    """Return the sshd_config lines of a primary that listens on LISTEN and exports."""
    return [f"ListenAddress {listen}"] + export_lines(keys, recovery_pub)


def backup_lines(keys, adopt_socket):
    """Return the sshd_config lines of a backup that adopts on ADOPT_SOCKET.

    It listens on every address, so that new connections to the service
    address reach it once revenant-agent has added that address.
    """
    return ["ListenAddress 0.0.0.0:22",
            f"RevenantAdoptSocket {adopt_socket}",
            f"RevenantRecoveryKey {keys.recovery}"]


def new_keys(prefix="rv-adopt-keys-"):
    """Return new Keys in a directory whose name starts with PREFIX."""
    keys_dir = Path(tempfile.mkdtemp(prefix=prefix))
    # Keys creates the directory itself.
    shutil.rmtree(keys_dir)
    return Keys(keys_dir)


def appliance_key(tmp):
    """Write the appliance's Ed25519 signing key to TMP/appliance.pem; return its path."""
    key = tmp / "appliance.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519",
                    "-out", str(key)], check=True, capture_output=True)
    os.chmod(key, 0o600)
    return key


def export_neighbour(lab, host="primary", iface=None):
    """Give HOST a permanent neighbour entry for EXPORT_IP, which no host has.

    The checkpoints sent there cross the switch, which mirrors them to
    revenantd. IFACE is HOST's lab interface, by default the primary's.
    """
    lab.exec(host, ["ip", "neigh", "replace", EXPORT_IP, "lladdr",
                    EXPORT_MAC, "dev", iface or lab.PRIMARY_IF, "nud",
                    "permanent"])


def start_sshd(lab, host, config, log, sshd=None):
    """The patched sshd in HOST's namespace, in a UTS namespace named HOST.

    SSHD is the binary, by default SSHD of build/ssh.
    """
    script = f'hostname {host} && exec "$0" -D -E "$1" -f "$2"'
    proc = lab.popen(host, ["unshare", "--uts", "/bin/sh", "-c", script,
                            sshd or SSHD, log, config])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if log.exists() and "Server listening on" in log.read_text():
            return proc
        assert proc.poll() is None, f"sshd on {host} exited: {log.read_text()}"
        time.sleep(0.1)
    pytest.fail(f"sshd on {host} did not listen: {log.read_text()}")


class AdoptAppliance(Appliance):
    """revenantd set up to migrate the primary's SSH connections."""

    def __init__(self, lab, key, host_pub):
        super().__init__(lab)
        self.key = key
        self.host_pub = host_pub

    def write_config(self):
        path = super().write_config()
        text = path.read_text()
        lab = self.lab
        fence = f"{REPO_ROOT / 'tools' / 'lab'} port-down {lab.prefix} primary"
        text, n = re.subn(r"(?m)^    agent: 203\.0\.113\.3:7700$",
                          f"    agent: {lab.MGMT_BACKUP_IP}:{AGENT_PORT}\n"
                          f"    mac: {lab.BACKUP_MAC}", text)
        assert n == 1
        text, n = re.subn(r"(?m)^    ports: \[22\]$",
                          f"    ports: [22]\n"
                          f"    host_key: \"{self.host_pub}\"\n"
                          f"    fence: \"{fence}\"", text)
        assert n == 1
        text += ("handoff:\n"
                 "  name: lab\n"
                 f"  key_file: {self.key}\n")
        path.write_text(text)
        return path


def start_agent(lab, tmp, key, adopt_socket, ports=(22,)):
    """Start revenant-agent on the backup with a service for each of PORTS.

    Each service passes its connections to ADOPT_SOCKET. Returns the path
    of the agent's log.
    """
    send_tool = tool("handoff-send")
    public = subprocess.run([str(send_tool), "pubkey", str(key), "lab"],
                            check=True, capture_output=True,
                            text=True).stdout.strip()

    def services():
        # A new list each time: yaml would write a shared one as an alias,
        # which the agent's parser rejects.
        return [{"port": port, "socket": str(adopt_socket)} for port in ports]

    config = {
        "listen": f"{lab.MGMT_BACKUP_IP}:{AGENT_PORT}",
        "log_level": "debug",
        "appliances": [{"name": "lab", "public_key": public}],
        "identities": [
            {"address": lab.SERVICE_IP, "interface": lab.BACKUP_IF,
             "prefix_len": 24, "services": services()},
            {"address": lab.SERVICE_IP6, "interface": lab.BACKUP_IF,
             "prefix_len": 64, "services": services()},
        ],
    }
    path = tmp / "agent.yaml"
    path.write_text(yaml.safe_dump(config))
    log = tmp / "agent.log"
    with open(log, "w") as stream:
        lab.popen("backup", [tool("revenant-agent"), "-f", path],
                  stdout=subprocess.DEVNULL, stderr=stream)
    wait_log(log, "waiting for handoffs")
    return log


def migrate(lab, app):
    return subprocess.run(
        ["ip", "netns", "exec", lab.NS_APPLIANCE, str(REVENANTCTL), "-s",
         str(app.socket), "migrate", "primary"],
        capture_output=True, text=True, timeout=MIGRATE_TIMEOUT)


def wait_count(log, text, count, timeout=10):
    """Wait until TEXT occurs at least COUNT times in LOG."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.read_text(errors="replace").count(text) >= count:
            return True
        time.sleep(0.1)
    return False


def run_marked(child, command, tag, timeout=15):
    """Run COMMAND in the remote shell; return what it printed after TAG=."""
    child.sendline(f"echo {tag}=$({command})")
    # The pty echoes the command line too, which contains "$(" after TAG=.
    child.expect(rf"{tag}=([A-Za-z0-9_.-]+)\r\n", timeout=timeout)
    return child.match.group(1).decode()


class AdoptLab:
    """Primary and backup sshd, revenant-agent and revenantd in the lab.

    The primary exports to an address that no host has; the switch mirrors
    the frames to revenantd anyway. The backup's sshd listens on every
    address (ListenAddress 0.0.0.0), so that new connections to the
    service address reach it once revenant-agent has added that address.
    """

    def __init__(self, lab, user, primary_extra=()):
        self.lab = lab
        self.user = user
        self.tmp = lab.tmpdir
        self.primary_extra = list(primary_extra)
        self.primary_log = self.tmp / "sshd-primary.log"
        self.backup_log = self.tmp / "sshd-backup.log"
        self.agent_log = None
        self.app = None
        self.children = []
        self.keys = None

    def start(self):
        lab = self.lab
        tmp = self.tmp
        self.keys = keys = new_keys()
        # Written once: a client reading it while it is rewritten would
        # find no key.
        self.known_hosts = keys.known_hosts(lab.SERVICE_IP)
        key = appliance_key(tmp)
        export_neighbour(lab)
        start_sshd(lab, "primary", sshd_config(
            keys, "primary", primary_lines(keys, f"{lab.SERVICE_IP}:22")
            + self.primary_extra), self.primary_log)
        adopt_socket = tmp / "adopt.sock"
        start_sshd(lab, "backup", sshd_config(keys, "backup",
                                              backup_lines(keys, adopt_socket)),
                   self.backup_log)
        self.agent_log = start_agent(lab, tmp, key, adopt_socket)
        self.app = AdoptAppliance(lab, key, keys.host_pub)
        self.app.start()

    def ssh_argv(self, options=(), tty=True):
        lab = self.lab
        keys = self.keys
        return (["netns", "exec", lab.NS_CLIENT, DEBIAN_SSH,
                 "-tt" if tty else "-T", "-F", "/dev/null", "-i",
                 str(keys.user), "-o", "IdentitiesOnly=yes", "-o",
                 f"UserKnownHostsFile={self.known_hosts}",
                 "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"]
                + list(options) + [f"{self.user}@{lab.SERVICE_IP}"])

    def shell(self, options=(), name="client"):
        """A pty login shell through Debian's ssh, prompt set to "$ "."""
        child = pexpect.spawn("ip", self.ssh_argv(options), timeout=20)
        child.logfile_read = open(self.tmp / f"{name}.log", "wb")
        self.children.append(child)
        child.sendline("PS1='$ '")
        return child

    def wait_recoverable(self, count):
        """Wait for COUNT port-22 flows that revenantd can recover."""
        deadline = time.monotonic() + 10
        while True:
            flows = [f for f in self.app.flows()
                     if f["server"].endswith(":22")]
            if (len(flows) == count and
                    all(f["recoverable"] for f in flows)):
                return
            assert time.monotonic() < deadline, flows
            time.sleep(0.2)

    def migrate(self, moved):
        proc = migrate(self.lab, self.app)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert (f"summary: {moved} moved, 0 not recoverable, 0 failed"
                in proc.stdout), proc.stdout

    def close(self):
        for child in self.children:
            if child.isalive():
                child.terminate(force=True)
        if self.app is not None:
            self.app.stop()
        for path in (self.primary_log, self.backup_log, self.agent_log):
            if path is not None and path.exists():
                print(f"--- {path.name}\n"
                      f"{path.read_text(errors='replace')[-6000:]}")
        if self.keys is not None:
            shutil.rmtree(self.keys.dir, ignore_errors=True)


@pytest.fixture
def adopt_lab(root_lab, test_user):
    """Returns a function that starts an AdoptLab; closed after the test."""
    made = []

    def start(primary_extra=()):
        made.append(AdoptLab(root_lab, test_user, primary_extra))
        made[-1].start()
        return made[-1]

    try:
        yield start
    finally:
        for setup in made:
            setup.close()


def expect_resumed(child):
    child.expect(r"revenant: session resumed on backup after the primary "
                 r"failed; the previous shell ended", timeout=30)
    child.sendline("PS1='$ '")


# Cipher and MAC choices of the idle test; each exports its own kind of
# cipher state (docs/checkpoint-content.md).
CIPHERS = [
    ("chacha20-poly1305@openssh.com", None),
    ("aes128-gcm@openssh.com", None),
    ("aes256-gcm@openssh.com", None),
    ("aes128-ctr", "hmac-sha2-256-etm@openssh.com"),
    ("aes256-ctr", "hmac-sha2-512"),
]


@pytest.mark.parametrize("cipher,mac", CIPHERS,
                         ids=[c if m is None else f"{c}+{m}"
                              for c, m in CIPHERS])
def test_ssh_adopt_idle_session(adopt_lab, cipher, mac):
    setup = adopt_lab(["RekeyLimit 1M"])
    backup_log = setup.backup_log
    options = ["-o", f"Ciphers={cipher}"]
    if mac is not None:
        options += ["-o", f"MACs={mac}"]
    child = setup.shell(options)
    assert run_marked(child, "hostname", "HOST1") == "primary"
    # Idle: the periodic checkpoint describes the session as it stands.
    time.sleep(2.5)
    setup.wait_recoverable(1)

    setup.migrate(1)
    expect_resumed(child)
    assert run_marked(child, "hostname", "HOST2") == "backup"

    # A rekey hashes both identification strings again: the backup must
    # use the ones of the primary's exchange (checkpoint content).
    child.send("\r~R")
    assert run_marked(child, "echo still-here", "AGAIN") == "still-here"
    assert wait_count(backup_log, NEWKEYS_IN, 1), backup_log.read_text()
    # RekeyLimit 1M of the primary carries over: 2 MB of output make the
    # backup start a rekey of its own.
    rekeys = backup_log.read_text().count(NEWKEYS_IN)
    child.sendline("head -c 2000000 /dev/zero | tr '\\0' a | "
                   "fold -w 100; echo BULK-$((40+2))")
    child.expect("BULK-42", timeout=60)
    assert run_marked(child, "echo after-bulk", "BULK") == "after-bulk"
    assert wait_count(backup_log, NEWKEYS_IN, rekeys + 1), \
        backup_log.read_text()[-3000:]
    child.sendline("exit")
    child.expect(pexpect.EOF, timeout=15)
    child.close()
    assert child.exitstatus == 0, child.before
    assert "revenant: adopted connection of" in backup_log.read_text()


def test_ssh_adopt_exec_channel_and_new_connection(adopt_lab):
    """A command running at migration ends with status 255 and a message,
    never runs twice; new connections reach the backup with the same key."""
    setup = adopt_lab()
    shell = setup.shell()
    assert run_marked(shell, "hostname", "HOST1") == "primary"
    # Both hosts share the file system: each run of the command leaves a
    # file named after the host it ran on, in a directory of the user's.
    runs = Path(tempfile.mkdtemp(prefix="rv-adopt-runs-"))
    user = pwd.getpwnam(setup.user)
    os.chown(runs, user.pw_uid, user.pw_gid)
    command = f"touch {runs}/ran-on-$(hostname); echo started; sleep 30"
    execp = subprocess.Popen(["ip"] + setup.ssh_argv(tty=False) + [command],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    try:
        assert execp.stdout.readline() == b"started\n"
        time.sleep(2.5)
        setup.wait_recoverable(2)
        setup.migrate(2)
        out, err = execp.communicate(timeout=30)
    finally:
        if execp.poll() is None:
            execp.kill()
            execp.wait()
        ran = sorted(p.name for p in runs.iterdir())
        shutil.rmtree(runs, ignore_errors=True)
    assert ran == ["ran-on-primary"], ran
    assert execp.returncode == 255, (out, err)
    assert b"revenant: the server failed while this command ran; it was " \
        b"not run again" in err, err
    for bad in (b"Corrupted MAC", b"Bad packet length", b"incorrect",
                b"reset", b"Broken pipe"):
        assert bad not in err, err
    expect_resumed(shell)
    assert run_marked(shell, "hostname", "HOST2") == "backup"

    # A new connection to the service address: the backup's sshd listens
    # on every address and presents the primary's host key, which the
    # client checks against its known_hosts (StrictHostKeyChecking=yes).
    proc = subprocess.run(["ip"] + setup.ssh_argv(tty=False) + ["hostname"],
                          stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"backup\n", proc.stdout
    shell.sendline("exit")
    shell.expect(pexpect.EOF, timeout=15)


# What the client must never print after a migration.
CLIENT_ERRORS = (b"Corrupted MAC", b"Bad packet length",
                 b"message authentication code incorrect",
                 b"incorrect signature", b"Connection reset",
                 b"Broken pipe")


def test_ssh_adopt_streaming_session(adopt_lab):
    """A shell printing the date every 50 ms while the primary fails: the
    server log may end anywhere in the stream, the client sees no error."""
    setup = adopt_lab()
    idle = setup.shell(name="idle")
    assert run_marked(idle, "hostname", "HOST1") == "primary"
    stream = setup.shell(name="stream")
    assert run_marked(stream, "hostname", "HOST1") == "primary"
    stream.sendline("while :; do date +tick-%s.%N; sleep 0.05; done")
    stream.expect(r"tick-\d+", timeout=10)
    time.sleep(2.5)
    setup.wait_recoverable(2)
    setup.migrate(2)
    for child in (idle, stream):
        expect_resumed(child)
        assert run_marked(child, "hostname", "HOST2") == "backup"
        assert run_marked(child, "echo alive", "AGAIN") == "alive"
    for name in ("idle", "stream"):
        text = (setup.tmp / f"{name}.log").read_bytes()
        for bad in CLIENT_ERRORS:
            assert bad not in text, (name, text[-2000:])
    for child in (idle, stream):
        child.sendline("exit")
        child.expect(pexpect.EOF, timeout=15)


def test_ssh_adopt_busy_sessions(adopt_lab):
    """Shells writing without pause while the primary fails, two for each
    cipher. Their 16 KiB packets span several TCP segments, so the server
    log of such a connection often ends inside a packet, which the backup
    completes with the server's keys: no client sees an error and every
    session goes on."""
    setup = adopt_lab()
    line = "0123456789" * 9 + "abcdefghi"
    children = []
    names = []
    for cipher, mac in CIPHERS * BUSY_PER_CIPHER:
        options = ["-o", f"Ciphers={cipher}"]
        if mac is not None:
            options += ["-o", f"MACs={mac}"]
        name = f"busy{len(children)}"
        child = setup.shell(options, name=name)
        child.maxread = 65536
        children.append(child)
        names.append(name)
    for child in children:
        assert run_marked(child, "hostname", "HOST1") == "primary"
        # Bounded in time; each line is 100 bytes of output.
        child.sendline(f"timeout 20 yes {line}")
    for child in children:
        child.expect(line + "\r\n" + line, timeout=10)
    # The clients do not read now, so the streams slow down to what the
    # windows let through, and a checkpoint comes when one pauses.
    time.sleep(2.5)
    setup.wait_recoverable(len(children))
    setup.migrate(len(children))
    for child in children:
        child.expect(r"revenant: session resumed on backup after the "
                     r"primary failed; the previous shell ended", timeout=30,
                     searchwindowsize=4096)
        child.sendline("PS1='$ '")
        assert run_marked(child, "hostname", "HOST2") == "backup"
        assert run_marked(child, "echo alive", "AGAIN") == "alive"
    for name in names:
        text = (setup.tmp / f"{name}.log").read_bytes()
        for bad in CLIENT_ERRORS:
            assert bad not in text, (name, text[-2000:])
    log = setup.backup_log.read_text(errors="replace")
    completed = re.findall(r"revenant adopt: [^\n]*?: completed a server packet "
                           r"\(message 9[45], ([a-z0-9@.-]+)\)", log)
    print("cut packets completed:", sorted(completed))
    assert completed, "no server log ended inside a packet"
    for child in children:
        child.sendline("exit")
        child.expect(pexpect.EOF, timeout=15)
