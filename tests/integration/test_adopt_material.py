# SPDX-License-Identifier: BSD-3-Clause
"""Bad checkpoint material is rejected per connection; the others adopt.

Three kinds of bad material, each on a live SSH connection of Debian's
/usr/bin/ssh that one `revenantctl migrate primary` moves together with a
good connection:

- signed by the wrong key. revenantd verifies every checkpoint with the
  server's configured host key, so a primary sshd with another host key
  has no checkpoint filed: the appliance counts bad_signature and reports
  the connection as not recoverable. The backup sshd checks the signature
  too: a TamperProxy in front of its adopt socket signs the checkpoints
  of one connection again with another Ed25519 key.
- sealed for another backup's recovery key: a second sshd on the primary
  (port 2222) exports for a recovery key the backup does not hold. The
  appliance cannot tell (it never decrypts), so the backup sshd rejects it.
- older than the capture start: a revenantd restarted mid-session never
  saw the handshake and reports the connection as not recoverable. The
  backup sshd's own check, a log that starts after every checkpoint's
  offsets, is tested through the proxy, which moves the log starts of one
  connection past the newest checkpoint.

The backup sshd logs each rejection on a line starting with `revenant
adopt: <client> port <p> -> <server> port <p>:` and replies 1 to the agent.
For logs that start after the checkpoints it logs, at error level, each
checkpoint's offsets and the log starts they fall before. The agent logs
"not restored" for that client port, and `revenantctl migrate` reports
"restore failed". The good connection shows the resume notice and runs
commands on the backup.
"""

import re
import time

import pytest

from adopt_lab import (CLIENT_ERRORS, adopt_ready, expect_resumed,  # noqa: F401
                       fresh_adopt_lab, migrate, parse_summary, Primary,
                       resign_with, run_marked, start_logs_after_checkpoints,
                       test_user)

pexpect = pytest.importorskip("pexpect")
ed25519 = pytest.importorskip(
    "cryptography.hazmat.primitives.asymmetric.ed25519")

OTHER_PORT = 2222
REJECTED = "rejected the connection"


def open_session(setup, name, port=22):
    """Log in through Debian's ssh; return (pexpect child, client port)."""
    options = [] if port == 22 else ["-p", str(port)]
    child = setup.shell(options, name=name)
    assert run_marked(child, "hostname", "HOST1") == "primary"
    return child, setup.client_port(child)


def wait_flows(setup, expected, timeout=15):
    """Wait until each client port in EXPECTED has the recoverable state
    EXPECTED[port]; return the flows by client port."""
    deadline = time.monotonic() + timeout
    while True:
        flows = {int(f["client"].rsplit(":", 1)[1]): f
                 for f in setup.app.flows()}
        if all(port in flows and flows[port]["recoverable"] == state
               for port, state in expected.items()):
            return flows
        assert time.monotonic() < deadline, flows
        time.sleep(0.2)


def check_adopted(child):
    expect_resumed(child)
    assert run_marked(child, "hostname", "HOST2") == "backup"
    assert run_marked(child, "echo still-here", "AGAIN") == "still-here"


def migrate_lines(output, port):
    """Return the lines of revenantctl migrate's output about client PORT."""
    return [line for line in output.splitlines()
            if re.search(rf":{port} > |:{port}\b", line)]


def adopt_lines(log, lab, client_port, server_port):
    """Return the backup sshd's `revenant adopt:` lines, whole, about the
    connection from CLIENT_PORT to the service's SERVER_PORT."""
    name = (f"revenant adopt: {lab.CLIENT_IP} port {client_port} -> "
            f"{lab.SERVICE_IP} port {server_port}: ")
    return [line for line in log.splitlines() if name in line]


def check_uncovered(lines, direction):
    """Assert that LINES report, at error level, checkpoint offsets of
    DIRECTION before the log start; return how many checkpoints do."""
    pattern = re.compile(rf"checkpoint (\d+): {direction} offset (\d+) is "
                         rf"before the log start (\d+)$")
    found = [(line, pattern.search(line)) for line in lines]
    found = [(line, m) for line, m in found if m]
    assert found, (direction, lines)
    for line, m in found:
        # sshd prefixes debug lines with "debugN:", errors with nothing.
        assert "debug" not in line.split("revenant adopt:")[0], line
        assert int(m.group(2)) < int(m.group(3)), line
    return len(found)


def test_material_rejected_by_backup_sshd(adopt_ready, test_user):
    """Wrong signer, another backup's recovery key and logs that start
    after the checkpoints: three connections rejected, one adopted."""
    with fresh_adopt_lab(test_user, primaries=[
            Primary(OTHER_PORT, recovery_pub="other")],
            proxy=True) as setup:
        good, good_port = open_session(setup, "good")
        signer, signer_port = open_session(setup, "signer")
        old, old_port = open_session(setup, "old")
        other, other_port = open_session(setup, "other", OTHER_PORT)
        proxy = setup.proxy
        proxy.tampers[signer_port] = (
            "wrong signer",
            resign_with(ed25519.Ed25519PrivateKey.generate()))
        proxy.tampers[old_port] = ("logs after the checkpoints",
                                   start_logs_after_checkpoints)
        time.sleep(2.5)
        wait_flows(setup, {p: True for p in (good_port, signer_port,
                                             old_port, other_port)})

        proc = migrate(setup.lab, setup.app)
        output = proc.stdout + proc.stderr
        # revenantctl exits 1 when a connection failed to move.
        assert proc.returncode == 1, output
        assert parse_summary(output) == (1, 0, 3), output
        check_adopted(good)

        answers = {port: (name, answer) for port, name, answer in proxy.seen}
        assert proxy.errors == [], proxy.errors
        assert answers[good_port] == (None, b"\0"), answers
        assert answers[signer_port] == ("wrong signer", b"\1"), answers
        assert answers[old_port] == ("logs after the checkpoints",
                                     b"\1"), answers
        assert answers[other_port] == (None, b"\1"), answers

        agent_log = setup.agent_log.read_text(errors="replace")
        for port in (signer_port, old_port, other_port):
            failed = [line for line in migrate_lines(output, port)
                      if "restore failed" in line]
            assert failed, (port, output)
            assert REJECTED in failed[0], (port, output)
            assert re.search(rf":{port} > \S+: not restored: service "
                             rf"\S+: {REJECTED}", agent_log), agent_log
        assert not re.search(rf":{good_port} > \S+: not restored",
                             agent_log), agent_log

        log = setup.backup_log.read_text(errors="replace")
        lab = setup.lab
        # Every line names its connection, so each check below looks only
        # at the lines of one connection.
        signer_lines = adopt_lines(log, lab, signer_port, 22)
        other_lines = adopt_lines(log, lab, other_port, OTHER_PORT)
        old_lines = adopt_lines(log, lab, old_port, 22)
        good_lines = adopt_lines(log, lab, good_port, 22)
        # Wrong signer: every checkpoint of that connection fails.
        assert any(re.search(r"checkpoint \d+: signature: signature "
                             r"invalid$", line) for line in signer_lines), \
            signer_lines
        # Another backup's recovery key.
        assert any(re.search(r"checkpoint \d+: no recipient for this "
                             r"recovery key$", line)
                   for line in other_lines), other_lines
        # Logs that start after the checkpoints: each checkpoint of both
        # directions is reported with its offset and the log start.
        assert check_uncovered(old_lines, "c2s") == \
            check_uncovered(old_lines, "s2c"), old_lines
        # Each of the three ends the adoption with the same summary line.
        summary = re.compile(r"none of \d+ checkpoints is valid and covered "
                             r"by the logs$")
        for lines in (signer_lines, other_lines, old_lines):
            assert sum(1 for line in lines if summary.search(line)) == 1, \
                lines
        assert not any(summary.search(line) for line in good_lines), \
            good_lines
        assert not any("log start" in line
                       for line in signer_lines + other_lines), \
            signer_lines + other_lines
        assert log.count("revenant: adopted connection of") == 1, log[-4000:]

        # The rejected sockets were dropped in repair mode: their clients
        # saw no reset, so they still wait and print no error.
        for name, child in (("signer", signer), ("old", old),
                            ("other", other)):
            assert child.isalive(), name
            text = (setup.tmp / f"{name}.log").read_bytes()
            for bad in CLIENT_ERRORS:
                assert bad not in text, (name, text[-2000:])
        good.sendline("exit")
        good.expect(pexpect.EOF, timeout=15)


def test_material_wrong_signer_at_appliance(adopt_ready, test_user):
    """A primary sshd with another host key: revenantd files none of its
    checkpoints, and migrate reports that connection not recoverable."""
    with fresh_adopt_lab(test_user, primaries=[
            Primary(OTHER_PORT, host_key="other")]) as setup:
        before = setup.app.stats()["checkpoints"]["rejected"]["bad_signature"]
        good, good_port = open_session(setup, "good")
        bad, bad_port = open_session(setup, "bad", OTHER_PORT)
        time.sleep(2.5)
        flows = wait_flows(setup, {good_port: True, bad_port: False})
        assert flows[bad_port]["unrecoverable_reason"] == \
            "no checkpoint yet", flows[bad_port]
        assert flows[bad_port]["checkpoints"] == 0, flows[bad_port]
        rejected = setup.app.stats()["checkpoints"]["rejected"]
        assert rejected["bad_signature"] > before, rejected

        proc = migrate(setup.lab, setup.app)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, output
        assert parse_summary(output) == (1, 1, 0), output
        assert any("not recoverable: no checkpoint yet" in line
                   for line in migrate_lines(output, bad_port)), output
        check_adopted(good)
        log = setup.backup_log.read_text(errors="replace")
        assert log.count("revenant: adopted connection of") == 1, log[-4000:]
        assert bad.isalive()
        good.sendline("exit")
        good.expect(pexpect.EOF, timeout=15)


def test_material_capture_started_late(adopt_ready, test_user):
    """revenantd restarted mid-session: the connection opened before the
    restart is reported not recoverable; the one opened after adopts."""
    with fresh_adopt_lab(test_user) as setup:
        early, early_port = open_session(setup, "early")
        setup.app.stop()
        setup.app.start()
        # New checkpoints of the early session reach the new revenantd.
        assert run_marked(early, "echo after-restart", "EARLY") == \
            "after-restart"
        late, late_port = open_session(setup, "late")
        time.sleep(2.5)
        flows = wait_flows(setup, {late_port: True, early_port: False})
        assert flows[early_port]["unrecoverable_reason"] == \
            "joined after the handshake", flows[early_port]

        proc = migrate(setup.lab, setup.app)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, output
        assert parse_summary(output) == (1, 1, 0), output
        reported = [line for line in migrate_lines(output, early_port)
                    if "not recoverable: " in line]
        assert reported, output
        assert "handshake" in reported[0], output
        check_adopted(late)
        assert early.isalive()
        late.sendline("exit")
        late.expect(pexpect.EOF, timeout=15)
