# SPDX-License-Identifier: BSD-3-Clause
"""Build the patched OpenSSH with ssh-patch/build and check its Revenant* options.

Runs as root: the build installs packages, and the compression test creates
a network namespace. Run with
    /usr/bin/python3 -m pytest tests/integration/test_ssh_patch_build.py
The first run builds OpenSSH (about a minute on 2 cores); later runs reuse it.
"""

import base64
import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "ssh-patch" / "build"
SSH_DIR = REPO / "build" / "ssh"
SSHD = SSH_DIR / "sshd"
SSH_KEYGEN = SSH_DIR / "ssh-keygen"
DEBIAN_SSH = "/usr/bin/ssh"

SERVER_ADDR = "198.51.100.10"
SERVER_PORT = 2222

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root: builds OpenSSH and creates a network namespace")


@pytest.fixture(scope="module")
def built():
    result = subprocess.run([str(BUILD_SCRIPT)], capture_output=True, text=True,
                            timeout=1200)
    assert result.returncode == 0, (
        f"ssh-patch/build failed:\n{result.stdout}\n{result.stderr}")
    for name in ("sshd", "ssh", "ssh-keygen", "sftp-server"):
        assert os.access(SSH_DIR / name, os.X_OK), f"build/ssh/{name} missing"
    return result


def keygen(path):
    subprocess.run([str(SSH_KEYGEN), "-q", "-t", "ed25519", "-N", "", "-C", "test",
                    "-f", str(path)], check=True, capture_output=True)
    return path


def recovery_key_line(comment="backup1"):
    return f"revenant-x25519 {base64.b64encode(secrets.token_bytes(32)).decode()} {comment}\n"


@pytest.fixture
def lab(built, tmp_path):
    """A host key, a valid recovery key file and a config writer."""
    host_key = keygen(tmp_path / "host_ed25519")
    keys = tmp_path / "recovery_keys"
    keys.write_text("# backups allowed to adopt\n" + recovery_key_line() + "\n"
                    + recovery_key_line("backup2"))
    keys.chmod(0o644)

    def write_config(lines, name="sshd_config"):
        path = tmp_path / name
        path.write_text("\n".join([f"HostKey {host_key}", "PidFile none",
                                   "UsePAM no", *lines]) + "\n")
        return path

    return {"dir": tmp_path, "keys": keys, "config": write_config}


def sshd_test(config, mode="-T"):
    return subprocess.run([str(SSHD), mode, "-f", str(config)], capture_output=True,
                          text=True, timeout=30)


def dump_values(stdout):
    values = {}
    for line in stdout.splitlines():
        key, _, value = line.partition(" ")
        values[key] = value
    return values


def test_build_records_debian_version(built):
    version = (SSH_DIR / "VERSION").read_text()
    assert version.startswith("openssh 1:9.2p1-2+deb12u"), version
    assert "0001-add-revenant-options.patch" in version


def test_build_rerun_is_noop(built):
    # Other work may change ssh-patch/src since the fixture built, so bring
    # the build up to date first; the second run must then do nothing.
    first = subprocess.run([str(BUILD_SCRIPT)], capture_output=True, text=True,
                           timeout=1200)
    assert first.returncode == 0, first.stderr
    start = time.monotonic()
    second = subprocess.run([str(BUILD_SCRIPT)], capture_output=True, text=True,
                            timeout=120)
    assert second.returncode == 0, second.stderr
    assert "up to date" in second.stdout
    assert time.monotonic() - start < 30


def test_dump_prints_every_option(lab):
    config = lab["config"]([
        "RevenantCheckpoints yes",
        "RevenantExportAddress 198.51.100.2:7000",
        f"RevenantRecoveryKeys {lab['keys']}",
        "RevenantCheckpointInterval 5",
        "RevenantCheckpointBytes 2M",
        "RevenantHeartbeatInterval 0",
        "Compression yes",
    ])
    result = sshd_test(config)
    assert result.returncode == 0, result.stderr
    values = dump_values(result.stdout)
    assert values["revenantcheckpoints"] == "yes"
    assert values["revenantexportaddress"] == "198.51.100.2:7000"
    assert values["revenantrecoverykeys"] == str(lab["keys"])
    assert values["revenantcheckpointinterval"] == "5"
    assert values["revenantcheckpointbytes"] == str(2 * 1024 * 1024)
    assert values["revenantheartbeatinterval"] == "0"
    # Checkpoints force compression off even with "Compression yes".
    assert values["compression"] == "no"
    assert "compression disabled because zlib state" in result.stderr


def test_dump_prints_defaults(lab):
    result = sshd_test(lab["config"]([]))
    assert result.returncode == 0, result.stderr
    values = dump_values(result.stdout)
    assert values["revenantcheckpoints"] == "no"
    assert values["revenantexportaddress"] == "none"
    assert values["revenantrecoverykeys"] == "none"
    assert values["revenantcheckpointinterval"] == "1"
    assert values["revenantcheckpointbytes"] == str(4 * 1024 * 1024)
    assert values["revenantheartbeatinterval"] == "1"
    # "sshd -T" prints the default (delayed) compression as "yes".
    assert values["compression"] == "yes"


def test_ipv6_export_address_accepted(lab):
    config = lab["config"]([
        "RevenantCheckpoints yes",
        "RevenantExportAddress [2001:db8::2]:7000",
        f"RevenantRecoveryKeys {lab['keys']}",
    ])
    result = sshd_test(config)
    assert result.returncode == 0, result.stderr
    assert dump_values(result.stdout)["revenantexportaddress"] == "[2001:db8::2]:7000"


@pytest.mark.parametrize("address", [
    "198.51.100.2", "198.51.100.2:0", "198.51.100.2:65536", "2001:db8::2:7000",
    "[2001:db8::2]7000", "example.org:7000", "0.0.0.0:7000",
])
def test_invalid_export_address_rejected(lab, address):
    config = lab["config"]([f"RevenantExportAddress {address}"])
    result = sshd_test(config, "-t")
    assert result.returncode != 0
    assert "invalid RevenantExportAddress value" in result.stderr
    assert f'"{address}"' in result.stderr


def test_invalid_byte_count_rejected(lab):
    result = sshd_test(lab["config"](["RevenantCheckpointBytes lots"]), "-t")
    assert result.returncode != 0
    assert "invalid RevenantCheckpointBytes value" in result.stderr


def test_missing_export_address_fails(lab):
    config = lab["config"]([
        "RevenantCheckpoints yes",
        f"RevenantRecoveryKeys {lab['keys']}",
    ])
    result = sshd_test(config, "-t")
    assert result.returncode != 0
    assert "RevenantCheckpoints yes requires RevenantExportAddress" in result.stderr


def test_missing_recovery_keys_fails(lab):
    config = lab["config"]([
        "RevenantCheckpoints yes",
        "RevenantExportAddress 198.51.100.2:7000",
    ])
    result = sshd_test(config, "-t")
    assert result.returncode != 0
    assert "RevenantCheckpoints yes requires RevenantRecoveryKeys" in result.stderr


@pytest.mark.parametrize("bad_line, reason", [
    ("ssh-ed25519 AAAA backup3\n", "unknown key type"),
    ("revenant-x25519\n", "missing base64 key"),
    ("revenant-x25519 !!!notbase64!!! backup3\n", "not valid base64"),
    (f"revenant-x25519 {base64.b64encode(bytes(31)).decode()} short\n",
     "does not decode to 32 bytes"),
])
def test_malformed_recovery_key_names_line(lab, bad_line, reason):
    keys = lab["dir"] / "bad_keys"
    keys.write_text(recovery_key_line() + "# comment\n\n" + bad_line)
    config = lab["config"]([
        "RevenantCheckpoints yes",
        "RevenantExportAddress 198.51.100.2:7000",
        f"RevenantRecoveryKeys {keys}",
    ])
    result = sshd_test(config, "-t")
    assert result.returncode != 0
    assert f"{keys}:4: invalid recovery key" in result.stderr
    assert reason in result.stderr


def test_writable_recovery_keys_rejected(lab):
    lab["keys"].chmod(0o666)
    config = lab["config"]([
        "RevenantCheckpoints yes",
        "RevenantExportAddress 198.51.100.2:7000",
        f"RevenantRecoveryKeys {lab['keys']}",
    ])
    result = sshd_test(config, "-t")
    assert result.returncode != 0
    assert "not writable by group or others" in result.stderr


def test_option_rejected_in_match_block(lab):
    config = lab["config"](["Match User nobody", "RevenantCheckpoints yes"])
    result = sshd_test(config, "-t")
    assert result.returncode != 0
    assert "not allowed within a Match block" in result.stderr


def ensure_privsep():
    if subprocess.run(["id", "sshd"], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "-r", "-s", "/usr/sbin/nologin", "-d", "/run/sshd",
                        "sshd"], check=True)
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)


@pytest.fixture
def netns():
    """One namespace with loopback up and SERVER_ADDR on it."""
    name = f"rvsb{secrets.token_hex(3)}-s"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        subprocess.run(["ip", "-n", name, "addr", "add", f"{SERVER_ADDR}/32", "dev", "lo"],
                       check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def start_sshd(ns, config, log_path):
    log = open(log_path, "w")
    proc = subprocess.Popen(["ip", "netns", "exec", ns, str(SSHD), "-D", "-e",
                             "-p", str(SERVER_PORT), "-f", str(config)],
                            stdout=log, stderr=subprocess.STDOUT)
    log.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if "Server listening on" in log_path.read_text():
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    stop_sshd(proc)
    pytest.fail(f"sshd did not start:\n{log_path.read_text()}")


def stop_sshd(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def connect_with_compression(ns, client_key):
    """Run `true` over Debian's unmodified client, asking for compression."""
    return subprocess.run(
        ["ip", "netns", "exec", ns, DEBIAN_SSH, "-v", "-F", "/dev/null",
         "-o", "Compression=yes", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "ConnectTimeout=10", "-i", str(client_key), "-p", str(SERVER_PORT),
         f"root@{SERVER_ADDR}", "true"],
        capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("checkpoints", ["yes", "no"])
def test_compression_negotiation(lab, netns, checkpoints):
    ensure_privsep()
    client_key = keygen(lab["dir"] / "client_ed25519")
    authorized = lab["dir"] / "authorized_keys"
    shutil.copy(f"{client_key}.pub", authorized)
    config = lab["config"]([
        f"ListenAddress {SERVER_ADDR}",
        f"AuthorizedKeysFile {authorized}",
        "StrictModes no",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "Compression yes",
        f"RevenantCheckpoints {checkpoints}",
        "RevenantExportAddress 198.51.100.2:7000",
        f"RevenantRecoveryKeys {lab['keys']}",
    ])
    log_path = lab["dir"] / "sshd.log"
    proc = start_sshd(netns, config, log_path)
    try:
        result = connect_with_compression(netns, client_key)
    finally:
        stop_sshd(proc)
    server_log = log_path.read_text()

    assert result.returncode == 0, f"ssh failed:\n{result.stderr}\nsshd:\n{server_log}"
    kex_lines = [line for line in result.stderr.splitlines()
                 if "debug1: kex: " in line and " compression: " in line]
    assert len(kex_lines) == 2, result.stderr
    if checkpoints == "yes":
        assert all(line.endswith("compression: none") for line in kex_lines), kex_lines
        assert "Enabling compression" not in result.stderr
        # Logged once by the listener, not again by the connection's process.
        assert server_log.count("compression disabled because zlib state") == 1, server_log
    else:
        assert all(line.endswith("compression: zlib@openssh.com") for line in kex_lines), \
            kex_lines
        assert "Enabling compression at level" in result.stderr
        assert "compression disabled" not in server_log
