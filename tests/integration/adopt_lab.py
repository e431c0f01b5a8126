# SPDX-License-Identifier: BSD-3-Clause
"""Shared parts of the SSH adoption lab tests beyond test_ssh_adopt.py.

test_ssh_adopt.py has the base lab (AdoptLab: the patched sshd on primary
and backup, revenant-agent, revenantd) and its helpers; this module adds:

- fresh_adopt_lab(): a whole new lab and AdoptLab as a context manager, so
  one test can run several migrations, each on clean namespaces;
- MultiAdoptLab: an AdoptLab whose primary runs further sshd instances on
  other ports (with their own host key or recovery key), and whose agent
  may pass every connection through a TamperProxy;
- TamperProxy: a Unix socket between revenant-agent and the backup sshd's
  RevenantAdoptSocket. It alters the adopt message of chosen connections
  (by client port) and passes it on with the TCP socket, so the sshd's
  checks of bad material run on live connections;
- TailLog: a pexpect log that keeps only the end of a session's output and
  remembers every client error string it saw, for sessions that print
  megabytes.
"""

import contextlib
import os
import re
import socket
import struct
import subprocess
import threading
import time
import shutil
from pathlib import Path

import pytest

from lab import Lab
from test_ssh_adopt import (AGENT_PORT, CIPHERS, CLIENT_ERRORS, EXPORT_IP,  # noqa: F401
                            EXPORT_MAC, EXPORT_PORT, KEYGEN, NEWKEYS_IN,
                            SSH_KEYGEN, SSHD, AdoptAppliance, AdoptLab, Keys,
                            appliance_key, backup_lines, expect_resumed,
                            export_neighbour, migrate, new_keys, primary_lines,
                            require_adopt_lab, run_marked, sshd_config,
                            start_agent, start_sshd, test_user, wait_count)

# The notice the backup's sshd prints before the new shell of an adopted
# pty session.
NOTICE = re.compile(rb"revenant: session resumed on backup after the primary "
                    rb"failed; the previous shell ended")
SUMMARY = re.compile(r"summary: (\d+) moved, (\d+) not recoverable, "
                     r"(\d+) failed")

# Adopt message layout (docs/handoff-protocol.md, "Adopt message"): the
# 16-byte header, then the body whose fixed part is 64 bytes.
ADOPT_HEADER = struct.Struct(">4sBBHII")
ADOPT_FIXED = struct.Struct(">16sH16sHQIQII")
# Checkpoint message (docs/checkpoint-format.md): the c2s and s2c offsets
# are at bytes 80 and 88 of the 104-byte header. The message ends with the
# 83-byte Ed25519 signature blob after its u32 length.
CKPT_HEADER_LEN = 104
CKPT_C2S_AT = 80
CKPT_S2C_AT = 88
SIG_LABEL = b"revenant-checkpoint-v1\0"
SIG_TRAILER = (struct.pack(">I", 83) + struct.pack(">I", 11) + b"ssh-ed25519"
               + struct.pack(">I", 64))


def cipher_options(cipher, mac):
    """Return the ssh -o options that choose CIPHER and MAC (None: AEAD)."""
    options = ["-o", f"Ciphers={cipher}"]
    if mac is not None:
        options += ["-o", f"MACs={mac}"]
    return options


def cipher_name(cipher, mac):
    return cipher if mac is None else f"{cipher}+{mac}"


def parse_summary(text):
    """Return (moved, not recoverable, failed) from revenantctl migrate."""
    match = SUMMARY.search(text)
    if match is None:
        return None
    return tuple(int(n) for n in match.groups())


class TailLog:
    """A pexpect logfile_read that keeps the last LIMIT bytes in memory.

    Every client error string of CLIENT_ERRORS that ever went through it is
    remembered, also when it was split across two writes.
    """

    def __init__(self, limit=65536):
        self.limit = limit
        self.data = b""
        self.errors = set()
        self.total = 0

    def write(self, chunk):
        overlap = max(len(e) for e in CLIENT_ERRORS)
        window = self.data[-overlap:] + chunk
        for bad in CLIENT_ERRORS:
            if bad in window:
                self.errors.add(bad.decode())
        self.total += len(chunk)
        self.data = (self.data + chunk)[-self.limit:]

    def flush(self):
        pass

    def has_notice(self):
        return NOTICE.search(self.data) is not None


def drain(child):
    """Read whatever CHILD printed so far without waiting; False on EOF."""
    import pexpect
    try:
        while True:
            child.read_nonblocking(65536, timeout=0)
    except pexpect.TIMEOUT:
        return True
    except pexpect.EOF:
        return False


def wait_notice(child, log, timeout):
    """Wait until LOG (CHILD's TailLog) contains the resume notice."""
    import pexpect
    deadline = time.monotonic() + timeout
    while not log.has_notice():
        if time.monotonic() >= deadline:
            return False
        try:
            child.read_nonblocking(65536, timeout=0.5)
        except pexpect.TIMEOUT:
            pass
        except pexpect.EOF:
            return log.has_notice()
    return True


@pytest.fixture
def adopt_ready():
    """Skip without root; fail when a binary of the lab is not built."""
    require_adopt_lab()


@contextlib.contextmanager
def fresh_adopt_lab(user, lab_class=None, **kwargs):
    """A new namespace lab with an AdoptLab (or LAB_CLASS) started on it.

    KWARGS go to the class. Everything is removed on exit, also on error.
    """
    lab_class = lab_class or MultiAdoptLab
    with Lab() as lab:
        setup = lab_class(lab, user, **kwargs)
        try:
            setup.start()
            yield setup
        finally:
            setup.close()


class PortAppliance(AdoptAppliance):
    """revenantd monitoring the primary's SSH ports PORTS."""

    def __init__(self, lab, key, host_pub, ports):
        super().__init__(lab, key, host_pub)
        self.ports = ports

    def write_config(self):
        path = super().write_config()
        text = path.read_text()
        listed = ", ".join(str(p) for p in self.ports)
        text, n = re.subn(r"(?m)^    ports: \[22\]$", f"    ports: [{listed}]",
                          text)
        assert n == 1, text
        path.write_text(text)
        return path


class Primary:
    """One more sshd on the primary, on PORT.

    HOST_KEY (a path) replaces the shared host key; RECOVERY_PUB (a path)
    replaces the backup's recovery public key the checkpoints are sealed
    for.
    """

    def __init__(self, port, host_key=None, recovery_pub=None, extra=()):
        self.port = port
        self.host_key = host_key
        self.recovery_pub = recovery_pub
        self.extra = list(extra)


class MultiAdoptLab(AdoptLab):
    """AdoptLab with more primary sshd instances and an optional proxy.

    PRIMARIES lists Primary objects for ports other than 22; revenantd
    monitors them all and the agent passes them to the same backup sshd.
    With PROXY the agent talks to a TamperProxy in front of that sshd.
    """

    def __init__(self, lab, user, primary_extra=(), primaries=(), proxy=False):
        super().__init__(lab, user, primary_extra)
        self.primaries = list(primaries)
        self.proxy = None
        self.use_proxy = proxy
        self.other_key = None
        self.other_recovery = None

    def _extra_keys(self):
        keys = self.keys
        self.other_key = keys.dir / "other-host"
        subprocess.run([str(SSH_KEYGEN), "-q", "-t", "ed25519", "-N", "",
                        "-C", "root@other", "-f", str(self.other_key)],
                       check=True)
        self.other_recovery = keys.dir / "other-recovery"
        subprocess.run([str(KEYGEN), "-f", str(self.other_recovery), "-C",
                        "other-backup"], check=True, capture_output=True)

    def _known_hosts(self):
        lab = self.lab
        keys = self.keys
        lines = [f"{lab.SERVICE_IP} {keys.host_pub}"]
        for extra in self.primaries:
            key = extra.host_key or keys.host
            pub = Path(str(key) + ".pub").read_text().strip()
            lines.append(f"[{lab.SERVICE_IP}]:{extra.port} {pub}")
        path = keys.dir / "known_hosts"
        path.write_text("\n".join(lines) + "\n")
        return path

    def _start_primary(self, extra, index):
        keys = self.keys
        config = sshd_config(keys, f"primary{index}", primary_lines(
            keys, f"{self.lab.SERVICE_IP}:{extra.port}", extra.recovery_pub) + extra.extra)
        if extra.host_key is not None:
            text = config.read_text().replace(f"HostKey {keys.host}\n",
                                              f"HostKey {extra.host_key}\n")
            config.write_text(text)
        log = self.tmp / f"sshd-primary{index}.log"
        start_sshd(self.lab, "primary", config, log)
        return log

    def start(self):
        lab = self.lab
        tmp = self.tmp
        self.keys = keys = new_keys()
        self._extra_keys()
        for extra in self.primaries:
            if extra.host_key == "other":
                extra.host_key = self.other_key
            if extra.recovery_pub == "other":
                extra.recovery_pub = Path(str(self.other_recovery) + ".pub")
        self.known_hosts = self._known_hosts()

        key = appliance_key(tmp)
        export_neighbour(lab)
        start_sshd(lab, "primary", sshd_config(
            keys, "primary", primary_lines(keys, f"{lab.SERVICE_IP}:22")
            + self.primary_extra), self.primary_log)
        self.extra_logs = [self._start_primary(extra, i + 1)
                           for i, extra in enumerate(self.primaries)]

        adopt_socket = tmp / "adopt.sock"
        start_sshd(lab, "backup", sshd_config(keys, "backup",
                                              backup_lines(keys, adopt_socket)),
                   self.backup_log)
        service_socket = adopt_socket
        if self.use_proxy:
            self.proxy = TamperProxy(tmp / "proxy.sock", adopt_socket)
            self.proxy.start()
            service_socket = self.proxy.path

        ports = [22] + [extra.port for extra in self.primaries]
        self.agent_log = start_agent_ports(lab, tmp, key, service_socket, ports)
        self.app = PortAppliance(lab, key, keys.host_pub, ports)
        self.app.start()

    def client_port(self, child, tag="PORT"):
        """Return the client port of CHILD's connection ($SSH_CLIENT)."""
        return int(run_marked(child, "echo $SSH_CLIENT | cut -d' ' -f2", tag))

    def tcp_states(self):
        """Return `ss -tino` of the client and the backup, for failure reports."""
        out = []
        for host in ("client", "backup"):
            proc = self.lab.exec(host, ["ss", "-tino"], check=False)
            out.append(f"--- ss -tino on {host}\n{proc.stdout}")
        return "\n".join(out)

    def keep_logs(self):
        """Copy the lab's logs to RV_ADOPT_LOG_DIR, when that is set."""
        target = os.environ.get("RV_ADOPT_LOG_DIR")
        if not target or self.tmp is None or not self.tmp.exists():
            return
        destination = Path(target) / self.lab.prefix
        destination.mkdir(parents=True, exist_ok=True)
        for path in self.tmp.glob("*.log"):
            shutil.copy(path, destination)
        if self.app is not None and self.app.log.exists():
            shutil.copy(self.app.log, destination)

    def close(self):
        if self.proxy is not None:
            self.proxy.stop()
        self.keep_logs()
        try:
            super().close()
        finally:
            if self.app is not None:
                self.app.cleanup()
            for path in getattr(self, "extra_logs", []):
                if path.exists():
                    print(f"--- {path.name}\n"
                          f"{path.read_text(errors='replace')[-3000:]}")


def start_agent_ports(lab, tmp, key, adopt_socket, ports):
    """Start revenant-agent on the backup with a service for each of PORTS.

    Returns the path of the agent's log.
    """
    return start_agent(lab, tmp, key, adopt_socket, ports)


# Material tampering, one function per kind of bad material. Each takes
# the adopt message body and returns the altered body.

def split_body(body):
    """Split an adopt message body into its fields and byte strings."""
    fields = list(ADOPT_FIXED.unpack_from(body, 0))
    c2s_len, s2c_len, material_len = fields[5], fields[7], fields[8]
    at = ADOPT_FIXED.size
    c2s = body[at:at + c2s_len]
    s2c = body[at + c2s_len:at + c2s_len + s2c_len]
    material = body[at + c2s_len + s2c_len:]
    assert len(material) == material_len, "adopt body length mismatch"
    return fields, c2s, s2c, material


def join_body(fields, c2s, s2c, material):
    fields = list(fields)
    fields[5], fields[7], fields[8] = len(c2s), len(s2c), len(material)
    return ADOPT_FIXED.pack(*fields) + c2s + s2c + material


def split_material(material):
    """Return the list of checkpoint messages in MATERIAL."""
    (count,) = struct.unpack_from(">I", material, 0)
    at = 4
    messages = []
    for _ in range(count):
        (length,) = struct.unpack_from(">I", material, at)
        messages.append(material[at + 4:at + 4 + length])
        at += 4 + length
    assert at == len(material), "trailing bytes in the material"
    return messages


def join_material(messages):
    out = struct.pack(">I", len(messages))
    for message in messages:
        out += struct.pack(">I", len(message)) + message
    return out


def resign_with(private_key):
    """Return a tamper function that signs every checkpoint with PRIVATE_KEY.

    PRIVATE_KEY is a cryptography Ed25519PrivateKey other than the host
    key, so each signature is valid but made by the wrong signer.
    """
    def tamper(body):
        fields, c2s, s2c, material = split_body(body)
        signed = []
        for message in split_material(material):
            assert message[-87:-64] == SIG_TRAILER, "not an Ed25519 signature"
            covered = message[:-87]
            signed.append(covered + SIG_TRAILER +
                          private_key.sign(SIG_LABEL + covered))
        return join_body(fields, c2s, s2c, join_material(signed))
    return tamper


def start_logs_after_checkpoints(body):
    """Make both logs start one byte after the newest checkpoint offsets.

    That is the material of a capture that began after every checkpoint
    of the connection (for example revenantd restarted mid-session): no
    logged byte leads from a checkpoint to the moment of the failure.
    """
    fields, c2s, s2c, material = split_body(body)
    messages = split_material(material)
    newest_c2s = max(struct.unpack_from(">Q", m, CKPT_C2S_AT)[0]
                     for m in messages)
    newest_s2c = max(struct.unpack_from(">Q", m, CKPT_S2C_AT)[0]
                     for m in messages)

    def cut(offset, data, start):
        skip = min(start - offset, len(data))
        return start, data[skip:]

    fields[4], c2s = cut(fields[4], c2s, newest_c2s + 1)
    fields[6], s2c = cut(fields[6], s2c, newest_s2c + 1)
    return join_body(fields, c2s, s2c, material)


class TamperProxy:
    """A Unix socket in front of the backup sshd's RevenantAdoptSocket.

    The agent connects here. The proxy reads the adopt message and the TCP
    socket, applies the tamper function registered for the connection's
    client port (if any), passes both on to TARGET and relays the sshd's
    one-byte reply to the agent. self.seen lists (client port, tamper
    name or None, reply byte or None) for each connection.
    """

    def __init__(self, path, target, timeout=20):
        self.path = Path(path)
        self.target = Path(target)
        self.timeout = timeout
        self.tampers = {}
        self.seen = []
        self.errors = []
        self._listener = None
        self._thread = None
        self._stop = threading.Event()

    def start(self):
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(self.path))
        os.chmod(self.path, 0o600)
        self._listener.listen(16)
        self._listener.settimeout(0.2)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 5)
        if self._listener is not None:
            self._listener.close()

    def _run(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with conn:
                try:
                    self._serve(conn)
                except (OSError, AssertionError, struct.error) as err:
                    self.errors.append(repr(err))

    def _recv_message(self, conn):
        conn.settimeout(self.timeout)
        data, fds, _, _ = socket.recv_fds(conn, 65536, 1)
        if not fds:
            raise OSError("adopt message without a socket")
        while len(data) < ADOPT_HEADER.size:
            more = conn.recv(65536)
            if not more:
                raise OSError("adopt message cut in its header")
            data += more
        body_len = ADOPT_HEADER.unpack_from(data, 0)[4]
        while len(data) < ADOPT_HEADER.size + body_len:
            more = conn.recv(1 << 20)
            if not more:
                raise OSError("adopt message cut in its body")
            data += more
        return data[:ADOPT_HEADER.size], data[ADOPT_HEADER.size:], fds[0]

    def _serve(self, conn):
        header, body, fd = self._recv_message(conn)
        try:
            client_port = ADOPT_FIXED.unpack_from(body, 0)[3]
            name, tamper = self.tampers.get(client_port, (None, None))
            if tamper is not None:
                body = tamper(body)
                fields = list(ADOPT_HEADER.unpack(header))
                fields[4] = len(body)
                header = ADOPT_HEADER.pack(*fields)
            reply = None
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as out:
                out.settimeout(self.timeout)
                out.connect(str(self.target))
                socket.send_fds(out, [header], [fd])
                out.sendall(body)
                reply = out.recv(1)
            self.seen.append((client_port, name, reply))
            if reply:
                conn.sendall(reply)
        finally:
            os.close(fd)
