# SPDX-License-Identifier: BSD-3-Clause
"""Checkpoint and heartbeat export of the patched sshd (build/ssh/sshd).

Each test makes two namespaces joined by a veth pair: the server
(198.51.100.10, the patched sshd) and the client (198.51.100.1, Debian's
unmodified /usr/bin/ssh, plus 198.51.100.2 where a UDP collector receives
the exported datagrams). tcpdump on the server's veth records the SSH
connection. The tests decrypt the checkpoints with a recovery private key
(build/ssh/ckpt-open, from tools/ckpt-open) and verify their signatures with the host key. They check
every checkpoint's stream offsets and keys by decrypting and authenticating
the SSH packet that starts at each offset in the captured stream, with
Python's cryptography package.

Needs root. Run with
    /usr/bin/python3 -m pytest tests/integration/test_ssh_export.py
"""

import hashlib
import hmac
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lab import build_dir  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SSH_DIR = REPO / "build" / "ssh"
SSHD = SSH_DIR / "sshd"
SSH_KEYGEN = SSH_DIR / "ssh-keygen"
DEBIAN_SSH = "/usr/bin/ssh"

SERVER_IP = "198.51.100.10"
CLIENT_IP = "198.51.100.1"
EXPORT_IP = "198.51.100.2"
EXPORT_PORT = 7000
PORT = 2222
TEST_USER = "rvexuser"
MIB = 1024 * 1024

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root: network namespaces, a user, tcpdump")

# Receives datagrams on ADDRESS:PORT and appends each to FILE behind its
# length as a 4-byte big-endian integer, the input format of ckpt-open.
COLLECTOR = r"""
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
s.bind((sys.argv[1], int(sys.argv[2])))
out = open(sys.argv[3], "ab", buffering=0)
open(sys.argv[3] + ".ready", "w").close()
while True:
    d = s.recv(65535)
    out.write(struct.pack(">I", len(d)) + d)
"""


def run(argv, **kw):
    kw.setdefault("check", True)
    kw.setdefault("capture_output", True)
    kw.setdefault("timeout", 120)
    return subprocess.run(argv, **kw)


def stop(proc, sig=signal.SIGTERM):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


# --- Tools -----------------------------------------------------------------

def find_ckpt_open():
    """Return ckpt-open, which ssh-patch/build builds into build/ssh.

    It decodes checkpoint content with OpenSSH's sshbuf, so it is linked
    in the OpenSSH tree and not built by meson.
    """
    built = SSH_DIR / "ckpt-open"
    assert os.access(built, os.X_OK), (
        f"{built} missing although ssh-patch/build succeeded")
    return built


@pytest.fixture(scope="module")
def tools():
    result = run([str(REPO / "ssh-patch" / "build")], check=False, timeout=1200)
    assert result.returncode == 0, (
        f"ssh-patch/build failed:\n{result.stdout.decode()}\n{result.stderr.decode()}")
    keygen = build_dir() / "tools" / "keygen" / "revenant-keygen"
    if not os.access(keygen, os.X_OK):
        pytest.skip(f"{keygen} missing: build the meson target revenant-keygen")
    return {"keygen": keygen, "ckpt_open": find_ckpt_open()}


@pytest.fixture(scope="module")
def test_user():
    """A login user, so the monitor and an unprivileged session process run."""
    if subprocess.run(["id", "sshd"], capture_output=True).returncode != 0:
        run(["useradd", "-r", "-s", "/usr/sbin/nologin", "-d", "/run/sshd", "sshd"])
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    created = False
    try:
        pwd.getpwnam(TEST_USER)
    except KeyError:
        run(["useradd", "-r", "-M", "-d", "/tmp", "-s", "/bin/sh", TEST_USER])
        created = True
    # "*" instead of useradd's "!": sshd without PAM refuses locked accounts
    # even for key logins.
    run(["usermod", "-p", "*", TEST_USER])
    try:
        yield TEST_USER
    finally:
        if created:
            run(["userdel", TEST_USER], check=False)


@pytest.fixture
def net():
    """Server and client namespaces joined by a veth pair."""
    tag = secrets.token_hex(3)
    ns = {"server": f"rvex{tag}-s", "client": f"rvex{tag}-c",
          "server_if": f"rvex{tag}s", "client_if": f"rvex{tag}c"}
    run(["ip", "netns", "add", ns["server"]])
    try:
        run(["ip", "netns", "add", ns["client"]])
        run(["ip", "-n", ns["server"], "link", "add", ns["server_if"], "type", "veth",
             "peer", "name", ns["client_if"], "netns", ns["client"]])
        for side, addrs in (("server", [SERVER_IP]), ("client", [CLIENT_IP, EXPORT_IP])):
            run(["ip", "-n", ns[side], "link", "set", "lo", "up"])
            for a in addrs:
                run(["ip", "-n", ns[side], "addr", "add", f"{a}/24", "dev", ns[side + "_if"]])
            run(["ip", "-n", ns[side], "link", "set", ns[side + "_if"], "up"])
        yield ns
    finally:
        run(["ip", "netns", "del", ns["client"]], check=False)
        run(["ip", "netns", "del", ns["server"]], check=False)


# --- The server under test ---------------------------------------------------

class ExportServer:
    """Patched sshd with checkpoints on, a collector and a capture."""

    def __init__(self, ns, tools, user, extra=(), checkpoints="yes"):
        self.ns = ns
        self.tools = tools
        self.user = user
        self.extra = list(extra)
        self.export_mode = checkpoints
        # World-readable: the session process reads authorized_keys as the user.
        self.dir = Path(tempfile.mkdtemp(prefix="rvex-"))
        self.dir.chmod(0o755)
        self.procs = {}

    def _files(self):
        run([str(SSH_KEYGEN), "-q", "-t", "ed25519", "-N", "", "-f", str(self.dir / "host")])
        run([str(SSH_KEYGEN), "-q", "-t", "ed25519", "-N", "", "-f", str(self.dir / "user")])
        run([str(self.tools["keygen"]), "-f", str(self.dir / "recovery"), "-C", "backup"])
        (self.dir / "recovery.pub").chmod(0o644)
        shutil.copy(self.dir / "user.pub", self.dir / "authorized_keys")
        (self.dir / "authorized_keys").chmod(0o644)
        host_pub = (self.dir / "host.pub").read_text().split()
        (self.dir / "known_hosts").write_text(
            f"[{SERVER_IP}]:{PORT} {host_pub[0]} {host_pub[1]}\n")
        lines = [
            f"ListenAddress {SERVER_IP}:{PORT}",
            f"HostKey {self.dir / 'host'}",
            "PidFile none",
            f"AuthorizedKeysFile {self.dir / 'authorized_keys'}",
            "StrictModes no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "LogLevel DEBUG1",
        ] + self.extra + [
            f"RevenantCheckpoints {self.export_mode}",
            f"RevenantExportAddress {EXPORT_IP}:{EXPORT_PORT}",
            f"RevenantRecoveryKeys {self.dir / 'recovery.pub'}",
        ]
        (self.dir / "sshd_config").write_text("\n".join(lines) + "\n")

    def _wait_file(self, path, text=None, proc=None, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if path.exists() and (text is None or text in path.read_text(errors="replace")):
                return
            if proc is not None and proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{path} not ready: "
                             f"{path.read_text(errors='replace') if path.exists() else ''}")

    def start(self):
        self._files()
        datagrams = self.dir / "datagrams.bin"
        self.procs["collector"] = subprocess.Popen(
            ["ip", "netns", "exec", self.ns["client"], "/usr/bin/python3", "-c", COLLECTOR,
             EXPORT_IP, str(EXPORT_PORT), str(datagrams)])
        self._wait_file(Path(str(datagrams) + ".ready"), proc=self.procs["collector"])
        capture_log = self.dir / "tcpdump.log"
        with open(capture_log, "w") as log:
            self.procs["tcpdump"] = subprocess.Popen(
                ["ip", "netns", "exec", self.ns["server"], "tcpdump", "-i",
                 self.ns["server_if"], "-n", "-s", "0", "-B", "131072", "--immediate-mode", "-U", "-w",
                 str(self.dir / "capture.pcap"),
                 f"tcp port {PORT} or udp port {EXPORT_PORT}"],
                stdout=log, stderr=subprocess.STDOUT)
        self._wait_file(capture_log, "listening on", self.procs["tcpdump"])
        sshd_log = self.dir / "sshd.log"
        self.procs["sshd"] = subprocess.Popen(
            ["ip", "netns", "exec", self.ns["server"], str(SSHD), "-D", "-E", str(sshd_log),
             "-f", str(self.dir / "sshd_config")])
        self._wait_file(sshd_log, "Server listening on", self.procs["sshd"])
        return self

    def ssh_argv(self, *remote, options=()):
        argv = ["ip", "netns", "exec", self.ns["client"], DEBIAN_SSH, "-F", "/dev/null",
                "-p", str(PORT), "-i", str(self.dir / "user"), "-o", "IdentitiesOnly=yes",
                "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={self.dir / 'known_hosts'}",
                "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=10"]
        for opt in options:
            argv += ["-o", opt]
        return argv + [f"{self.user}@{SERVER_IP}"] + list(remote)

    def ssh(self, *remote, options=(), timeout=120, **kw):
        return subprocess.run(self.ssh_argv(*remote, options=options), capture_output=True,
                              timeout=timeout, **kw)

    def finish_capture(self, settle=0.5):
        """Stop tcpdump, after letting the last datagrams arrive."""
        time.sleep(settle)
        stop(self.procs.pop("tcpdump", None), signal.SIGINT)
        # A capture with holes would make the offset checks fail for the
        # wrong reason, so report the drop count instead.
        summary = (self.dir / "tcpdump.log").read_text(errors="replace")
        match = re.search(r"(\d+) packets? dropped by kernel", summary)
        assert match is None or match.group(1) == "0", (
            f"tcpdump dropped {match.group(1)} packets on the server's veth "
            "(machine overloaded?); the capture cannot be compared")

    def stop(self):
        for name in ("tcpdump", "sshd", "collector"):
            stop(self.procs.pop(name, None), signal.SIGINT if name == "tcpdump" else
                 signal.SIGTERM)

    def sshd_log(self):
        return (self.dir / "sshd.log").read_text(errors="replace")

    def opened(self, secrets_too=True):
        """Run ckpt-open over the collected datagrams; return the JSON objects."""
        argv = [str(self.tools["ckpt_open"]), "-k", str(self.dir / "recovery"),
                "-H", str(self.dir / "host.pub")]
        if secrets_too:
            argv.append("-s")
        result = run(argv + [str(self.dir / "datagrams.bin")], check=False)
        objs = [json.loads(line) for line in result.stdout.decode().splitlines()]
        return objs, result

    def checkpoints(self):
        objs, result = self.opened()
        assert result.returncode == 0, (result.stdout.decode(), result.stderr.decode())
        return [o for o in objs if o["type"] == "checkpoint"]


@pytest.fixture
def server_factory(net, tools, test_user):
    servers = []

    def make(extra=(), checkpoints="yes", user=None):
        srv = ExportServer(net, tools, user or test_user, extra, checkpoints).start()
        servers.append(srv)
        return srv
    yield make
    for srv in servers:
        srv.stop()
        if not os.environ.get("RVEX_KEEP"):
            shutil.rmtree(srv.dir, ignore_errors=True)


# --- Capture parsing ---------------------------------------------------------

def read_pcap(path):
    """Yield (time, proto, src, sport, dst, dport, seq, flags, payload)."""
    data = Path(path).read_bytes()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
    nano = magic in (0xa1b23c4d, 0x4d3cb2a1)
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    assert linktype == 1, f"link type {linktype}, expected Ethernet"
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        ts = sec + frac / (1e9 if nano else 1e6)
        if len(frame) < 34 or frame[12:14] != b"\x08\x00":
            continue
        ip = frame[14:]
        ihl = (ip[0] & 0xf) * 4
        total = struct.unpack(">H", ip[2:4])[0]
        proto = ip[9]
        src, dst = ".".join(map(str, ip[12:16])), ".".join(map(str, ip[16:20]))
        l4 = ip[ihl:total]
        if proto == 6:
            sport, dport, seq = struct.unpack(">HHI", l4[:8])
            doff = (l4[12] >> 4) * 4
            yield ts, "tcp", src, sport, dst, dport, seq, l4[13], l4[doff:]
        elif proto == 17:
            sport, dport = struct.unpack(">HH", l4[:4])
            yield ts, "udp", src, sport, dst, dport, 0, 0, l4[8:]


class Capture:
    """The TCP streams of one SSH connection and the export datagrams."""

    def __init__(self, path, client_port=None):
        self.records = list(read_pcap(path))
        syns = [r for r in self.records if r[1] == "tcp" and r[7] & 0x02 and not r[7] & 0x10
                and r[5] == PORT and (client_port is None or r[3] == client_port)]
        assert syns, "no SYN of the SSH connection in the capture"
        self.client_port = syns[-1][3]
        self.c2s, self.c2s_times = self._stream(CLIENT_IP, self.client_port, PORT)
        self.s2c, self.s2c_times = self._stream(SERVER_IP, PORT, self.client_port)
        self.udp = [(r[0], r[8]) for r in self.records if r[1] == "udp"]

    def _stream(self, src, sport, dport):
        isn = None
        buf = bytearray()
        times = []      # (end offset, time) per segment
        for ts, proto, s, sp, _, dp, seq, flags, payload in self.records:
            if proto != "tcp" or s != src or sp != sport or dp != dport:
                continue
            if flags & 0x02:
                isn = seq
                continue
            if isn is None or not payload:
                continue
            start = (seq - isn - 1) % (1 << 32)
            end = start + len(payload)
            if len(buf) < end:
                buf.extend(b"\0" * (end - len(buf)))
            buf[start:end] = payload
            times.append((end, ts))
        return bytes(buf), times

    def sent_time(self, times, offset):
        """Time of the first segment that carried stream byte offset - 1."""
        for end, ts in times:
            if end >= offset:
                return ts
        return None


# --- SSH packet checks with the exported keys ---------------------------------

MAC_LEN = {"hmac-sha2-256": 32, "hmac-sha2-512": 64, "hmac-sha1": 20}
MAC_HASH = {"hmac-sha2-256": hashlib.sha256, "hmac-sha2-512": hashlib.sha512,
            "hmac-sha1": hashlib.sha1}


def check_packet(stream, off, d):
    """Decrypt and authenticate the SSH packet at stream[off:] with direction d.

    Returns its length on the wire, or None when the capture ends before the
    packet does. Raises AssertionError when the keys, counters or offset are
    wrong, because then the tag or MAC cannot match.
    """
    from cryptography.hazmat.primitives import poly1305
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key = bytes.fromhex(d["key"])
    seq = d["seqnr"]
    cipher = d["cipher"]
    if len(stream) < off + 16:
        return None
    if cipher == "chacha20-poly1305@openssh.com":
        def chacha(k, counter, data):
            nonce = struct.pack("<Q", counter) + struct.pack(">Q", seq)
            return Cipher(algorithms.ChaCha20(k, nonce), None).encryptor().update(data)
        enc_len = stream[off:off + 4]
        plen = int.from_bytes(chacha(key[32:], 0, enc_len), "big")
        assert plen < 256 * 1024, f"packet length {plen} at offset {off}: wrong keys or offset"
        if len(stream) < off + 4 + plen + 16:
            return None
        body = stream[off + 4:off + 4 + plen]
        tag = stream[off + 4 + plen:off + 4 + plen + 16]
        poly_key = chacha(key[:32], 0, b"\0" * 32)
        poly1305.Poly1305.verify_tag(poly_key, enc_len + body, tag)
        return 4 + plen + 16
    if cipher.startswith("aes") and cipher.endswith("-gcm@openssh.com"):
        plen = int.from_bytes(stream[off:off + 4], "big")
        assert plen < 256 * 1024, f"packet length {plen} at offset {off}"
        if len(stream) < off + 4 + plen + 16:
            return None
        iv = bytes.fromhex(d["cipher_state"])
        AESGCM(key).decrypt(iv, stream[off + 4:off + 4 + plen + 16], stream[off:off + 4])
        return 4 + plen + 16
    assert cipher.endswith("-ctr"), f"no check for cipher {cipher}"
    mac_name = d["mac"].replace("-etm@openssh.com", "")
    mac_len = MAC_LEN[mac_name]
    mac_key = bytes.fromhex(d["mac_key"])
    ctr = Cipher(algorithms.AES(key), modes.CTR(bytes.fromhex(d["cipher_state"]))).decryptor()
    if d["etm"]:
        plen = int.from_bytes(stream[off:off + 4], "big")
        assert plen < 256 * 1024, f"packet length {plen} at offset {off}"
        if len(stream) < off + 4 + plen + mac_len:
            return None
        body = stream[off + 4:off + 4 + plen]
        signed = struct.pack(">I", seq) + stream[off:off + 4] + body
        plain = ctr.update(body)
        assert plain[0] < plen, "padding length larger than the packet"
    else:
        first = ctr.update(stream[off:off + 16])
        plen = int.from_bytes(first[:4], "big")
        assert plen < 256 * 1024, f"packet length {plen} at offset {off}"
        if len(stream) < off + 4 + plen + mac_len:
            return None
        plain = first + ctr.update(stream[off + 16:off + 4 + plen])
        signed = struct.pack(">I", seq) + plain
    mac = stream[off + 4 + plen:off + 4 + plen + mac_len]
    expect = hmac.new(mac_key, signed, MAC_HASH[mac_name]).digest()
    assert hmac.compare_digest(mac, expect), f"MAC mismatch at offset {off}"
    return 4 + plen + mac_len


def verify_offsets(cap, ckpts):
    """Check each checkpoint against the captured streams; return checks done."""
    checked = 0
    for ck in ckpts:
        c = ck["content"]
        assert ck["c2s_offset"] == c["c2s_offset"]
        assert ck["s2c_offset"] == c["s2c_offset"]
        for name, stream in (("c2s", cap.c2s), ("s2c", cap.s2c)):
            offset = c[f"{name}_offset"]
            assert offset <= len(stream) or ck["flags"] & 1, (
                f"checkpoint {ck['number']}: {name} offset {offset} past the "
                f"{len(stream)} captured bytes")
            try:
                if check_packet(stream, offset, c[name]) is not None:
                    checked += 1
            except Exception as exc:
                raise AssertionError(
                    f"checkpoint {ck['number']} (flags {ck['flags']}): the {name} packet "
                    f"at offset {offset} does not decrypt with the exported state: "
                    f"{exc!r}") from exc
    return checked


def common_checks(srv, ckpts):
    assert ckpts, f"no checkpoint arrived\n{srv.sshd_log()}"
    for ck in ckpts:
        assert ck["signature"] == "valid", ck
        assert "error" not in ck, ck
        assert ck["content"]["user"] == srv.user
        assert ck["conn"]["server"] == SERVER_IP
        assert ck["conn"]["server_port"] == PORT
        assert ck["conn"]["client"] == CLIENT_IP
    # Numbers count per connection: 1, 2, ... with none repeated.
    for port in {ck["conn"]["client_port"] for ck in ckpts}:
        numbers = [ck["number"] for ck in ckpts if ck["conn"]["client_port"] == port]
        assert numbers == list(range(1, len(numbers) + 1)), (
            f"port {port}: checkpoint numbers not 1..{len(numbers)} in order")


# --- Tests ---------------------------------------------------------------------

def test_checkpoint_after_authentication(server_factory):
    srv = server_factory()
    result = srv.ssh("true")
    assert result.returncode == 0, result.stderr.decode() + srv.sshd_log()
    srv.finish_capture()
    ckpts = srv.checkpoints()
    common_checks(srv, ckpts)
    first = ckpts[0]
    assert first["number"] == 1
    assert first["flags"] == 0
    c = first["content"]
    assert c["hostkey_alg"] == "ssh-ed25519"
    # The key exchange hashes both identification strings, so a backup
    # needs them to rekey; Debian's client names its package.
    assert c["client_version"].startswith("SSH-2.0-OpenSSH_9.2p1 Debian")
    assert c["server_version"].startswith("SSH-2.0-OpenSSH_9.2p1")
    assert c["strict_kex"] is True      # Debian's client offers strict kex
    assert len(bytes.fromhex(c["session_id"])) in (32, 48, 64)  # exchange hash
    assert hashlib.sha256(bytes.fromhex(c["session_id"])).hexdigest() == first["session_hash"]

    cap = Capture(srv.dir / "capture.pcap")
    assert verify_offsets(cap, ckpts) >= 2
    # The after-authentication checkpoint leaves right after the server's
    # last pre-authentication bytes (USERAUTH_SUCCESS) go out.
    auth_done = cap.sent_time(cap.s2c_times, c["s2c_offset"])
    ckpt_time = min(ts for ts, payload in cap.udp if payload[5] == 1)
    assert auth_done is not None
    assert ckpt_time - auth_done < 0.1, f"first checkpoint {ckpt_time - auth_done:.3f} s late"


def test_checkpoint_of_root_login(server_factory):
    # A root login runs without privilege separation after authentication:
    # the connection's process signs and sends the checkpoints itself.
    srv = server_factory(user="root")
    result = srv.ssh("echo root-ok")
    assert result.returncode == 0, result.stderr.decode() + srv.sshd_log()
    assert result.stdout == b"root-ok\n"
    srv.finish_capture()
    ckpts = srv.checkpoints()
    common_checks(srv, ckpts)
    assert ckpts[0]["content"]["user"] == "root"
    cap = Capture(srv.dir / "capture.pcap")
    assert verify_offsets(cap, ckpts) >= 2


def test_session_state_of_pty_shell(server_factory):
    pexpect = pytest.importorskip("pexpect")
    srv = server_factory(extra=["AcceptEnv LC_RVEX"])
    env = dict(os.environ, TERM="xterm-256color", LC_RVEX="hello")
    argv = srv.ssh_argv(options=["SendEnv=LC_RVEX", "RequestTTY=force"])
    child = pexpect.spawn(argv[0], argv[1:], env=env, timeout=20, dimensions=(33, 101))

    try:
        child.sendline("echo marker-$((40+2))")
        child.expect("marker-42")
        # The ~R escape (at the start of a line) makes the client rekey.
        child.send("\r~R")
        child.sendline("echo rekeyed-$((40+3))")
        child.expect("rekeyed-43")
        child.sendline("exit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    srv.finish_capture()

    ckpts = srv.checkpoints()
    common_checks(srv, ckpts)
    sessions = [ch for ck in ckpts for ch in ck["content"]["channels"]
                if ch.get("session", {}).get("run") == 1 and "termios" in ch["session"]]
    assert sessions, "no checkpoint shows the shell with its pty"
    s = sessions[-1]["session"]
    assert s["term"] == "xterm-256color"
    assert (s["cols"], s["rows"]) == (101, 33)
    assert s["env"].get("LC_RVEX") == "hello"

    newkeys = [ck for ck in ckpts if ck["flags"] & 1]
    # The client's rekey gives one checkpoint per direction's NEWKEYS.
    assert len(newkeys) >= 2, [ck["flags"] for ck in ckpts]
    cap = Capture(srv.dir / "capture.pcap")
    assert verify_offsets(cap, ckpts) >= 4


@pytest.mark.parametrize("side", ["client", "server"])
def test_checkpoint_after_rekey(server_factory, side):
    extra = ["RekeyLimit 1M"] if side == "server" else []
    options = ["RekeyLimit=1M"] if side == "client" else []
    srv = server_factory(extra=extra)
    result = srv.ssh("head -c 4194304 /dev/zero; cat > /dev/null", options=options,
                     input=b"\0" * (4 * MIB))
    assert result.returncode == 0, result.stderr.decode() + srv.sshd_log()
    assert len(result.stdout) == 4 * MIB
    srv.finish_capture()
    ckpts = srv.checkpoints()
    common_checks(srv, ckpts)
    newkeys = [ck for ck in ckpts if ck["flags"] & 1]
    # 4 MiB each way at a 1 MiB limit: several rekeys, two NEWKEYS each.
    assert len(newkeys) >= 6, [ck["flags"] for ck in ckpts]
    cap = Capture(srv.dir / "capture.pcap")
    assert verify_offsets(cap, ckpts) >= len(newkeys)


def test_checkpoint_on_second_channel(server_factory):
    srv = server_factory()
    control = srv.dir / "control.sock"
    master = subprocess.Popen(srv.ssh_argv("sleep 20", options=[
        "ControlMaster=yes", f"ControlPath={control}"]),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not control.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert control.exists(), "ControlMaster did not create its socket"
        before = len(srv.checkpoints())
        result = srv.ssh("echo second", options=["ControlMaster=no",
                                                  f"ControlPath={control}"])
        assert result.returncode == 0, result.stderr.decode()
        assert result.stdout == b"second\n"
        time.sleep(0.3)
        ckpts = srv.checkpoints()
    finally:
        stop(master)
    common_checks(srv, ckpts)
    assert len(ckpts) > before
    both = [ck for ck in ckpts
            if {"sleep 20", "echo second"} <= {ch.get("session", {}).get("command")
                                               for ch in ck["content"]["channels"]}]
    assert both, "no checkpoint lists both session channels"
    ids = [ch["self"] for ch in both[0]["content"]["channels"]]
    assert len(ids) == len(set(ids)) >= 2


CIPHERS = [
    ("chacha20-poly1305@openssh.com", None),
    ("aes128-gcm@openssh.com", None),
    ("aes256-gcm@openssh.com", None),
    ("aes128-ctr", "hmac-sha2-256-etm@openssh.com"),
    ("aes256-ctr", "hmac-sha2-512"),
]


@pytest.mark.parametrize("cipher,mac", CIPHERS)
def test_bulk_transfer_with_frequent_checkpoints(server_factory, cipher, mac):
    srv = server_factory(extra=["RevenantCheckpointBytes 64K",
                                "RevenantCheckpointInterval 1"])
    data = srv.dir / "data"
    data.write_bytes(secrets.token_bytes(50 * MIB))
    data.chmod(0o644)
    digest = hashlib.sha256(data.read_bytes()).hexdigest()
    options = [f"Ciphers={cipher}"] + ([f"MACs={mac}"] if mac else [])

    with open(data, "rb") as upload:
        up = srv.ssh("sha256sum", options=options, stdin=upload)
    assert up.returncode == 0, up.stderr.decode() + srv.sshd_log()
    assert up.stdout.split()[0].decode() == digest
    down = srv.ssh(f"cat {data}", options=options)
    assert down.returncode == 0, down.stderr.decode()
    assert hashlib.sha256(down.stdout).hexdigest() == digest
    srv.finish_capture(settle=1.0)
    log = srv.sshd_log()
    assert "Corrupted" not in log, log
    assert "Bad packet length" not in log, log

    ckpts = srv.checkpoints()
    common_checks(srv, ckpts)
    for ck in ckpts:
        assert ck["content"]["s2c"]["cipher"] == cipher
    ports = sorted({ck["conn"]["client_port"] for ck in ckpts})
    assert len(ports) == 2
    upload_ckpts = [ck for ck in ckpts if ck["conn"]["client_port"] == ports[0]]
    # 50 MiB at one checkpoint per 64 KiB when the socket is idle often
    # enough: an upload leaves the server's send queue empty.
    assert len(upload_ckpts) >= 100, len(upload_ckpts)
    for port in ports:
        cap = Capture(srv.dir / "capture.pcap", client_port=port)
        conn = [ck for ck in ckpts if ck["conn"]["client_port"] == port]
        assert verify_offsets(cap, conn) >= len(conn) // 2


def test_remote_forward_in_checkpoint(server_factory):
    srv = server_factory()
    result = srv.ssh("sleep 0.5", options=["RemoteForward=127.0.0.1:9022 127.0.0.1:22",
                                            "ExitOnForwardFailure=yes"])
    assert result.returncode == 0, result.stderr.decode() + srv.sshd_log()
    srv.finish_capture()
    ckpts = srv.checkpoints()
    common_checks(srv, ckpts)
    listeners = [ch for ck in ckpts for ch in ck["content"]["channels"]
                 if ch["listen_port"] == 9022]
    assert listeners, "no checkpoint lists the remote forward's listener"
    assert listeners[0]["listen_host"] in ("127.0.0.1", "localhost")


def test_heartbeats_at_interval(server_factory):
    srv = server_factory(extra=["RevenantHeartbeatInterval 1"])
    # One connection open during the heartbeats, for their connection count.
    session = subprocess.Popen(srv.ssh_argv("sleep 2"), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    time.sleep(3.5)
    stop(session)
    srv.finish_capture(settle=0)
    objs, result = srv.opened(secrets_too=False)
    assert result.returncode == 0, result.stdout.decode()
    beats = [o for o in objs if o["type"] == "heartbeat"]
    assert len(beats) >= 3, objs
    assert all(b["signature"] == "valid" for b in beats)
    assert [b["sequence"] for b in beats] == list(range(1, len(beats) + 1))
    assert len({b["boot_id"] for b in beats}) == 1
    assert all(b["server"] == SERVER_IP and b["server_port"] == PORT for b in beats)
    assert max(b["connections"] for b in beats) == 1
    assert beats[-1]["connections"] == 0
    times = [r[0] for r in read_pcap(srv.dir / "capture.pcap")
             if r[1] == "udp" and r[8][5] == 2]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps and all(0.8 < g < 1.3 for g in gaps), gaps


def test_no_export_when_off(server_factory):
    srv = server_factory(checkpoints="no")
    result = srv.ssh("true")
    assert result.returncode == 0, result.stderr.decode()
    srv.finish_capture()
    assert (srv.dir / "datagrams.bin").read_bytes() == b""


def test_tampered_checkpoint_rejected(server_factory):
    srv = server_factory()
    result = srv.ssh("true")
    assert result.returncode == 0, result.stderr.decode()
    srv.finish_capture()
    raw = bytearray((srv.dir / "datagrams.bin").read_bytes())
    # Records are a 4-byte length and a datagram; heartbeats (type 2) come
    # first. A fragment has a 62-byte header, then the message, whose
    # cleartext header holds the c2s offset at bytes 80..87. Fragment 0 of
    # checkpoint 1 gets the offset's low byte changed.
    off = 0
    while raw[off + 4 + 5] != 1:
        off += 4 + struct.unpack(">I", raw[off:off + 4])[0]
    raw[off + 4 + 62 + 87] ^= 0x01
    (srv.dir / "datagrams.bin").write_bytes(bytes(raw))
    objs, result = srv.opened(secrets_too=False)
    assert result.returncode != 0
    first = [o for o in objs if o["type"] == "checkpoint"][0]
    assert first["number"] == 1
    assert first["signature"] == "invalid"
    assert "content" not in first
