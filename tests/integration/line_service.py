#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""A line-based TCP service that can adopt connections from revenant-agent.

Per connection it echoes each client line back numbered ("echo N: LINE")
and, independently, streams "tick N" lines at a fixed rate. Its state
follows from its two byte streams alone, so an instance on the backup host
that adopts a connection recomputes its counters from the logged bytes and
continues where the primary's instance stopped.

    line_service.py [--listen ADDR:PORT] [--adopt PATH] [--control PATH]
                    [--dump-tool PATH] [--tick-ms MS] [--run-limit S]
                    [--tick-on-adopt]

--listen   serve new connections (the primary)
--adopt    accept connections from revenant-agent on this Unix socket
           (docs/handoff-protocol.md, "Adopt message")
--control  a Unix socket for tests: the command "freeze DIR" dumps every
           connection with `DUMP_TOOL dump FD DIR/conn-K` (TCP_REPAIR, so
           the socket stays silent), writes the bytes the service consumed
           and wrote to DIR/conn-K.c2s and DIR/conn-K.s2c, replies
           "frozen COUNT" and exits, as a host that died would stop.
--tick-on-adopt
           an adopted connection sends its next tick at once instead of
           one interval later, so a benchmark sees the moment the backup
           can send rather than the tick phase.

One loop serves every socket; only the connections with a tick due or
bytes to send are visited, so a thousand connections stay cheap.

It prints "ready" on stdout once its sockets listen. Run with
/usr/bin/python3 (3.9 or later for socket.recv_fds).
"""

import argparse
import heapq
import json
import os
import selectors
import socket
import struct
import subprocess
import sys
import time

ADOPT_MAGIC = b"RVAD"
ADOPT_HEADER = struct.Struct(">4sBBHII")
ADOPT_FIXED = struct.Struct(">16sH16sHQIQII")
# Larger adopt bodies are rejected: the test logs are far smaller.
ADOPT_BODY_MAX = 64 << 20
# Bytes kept of each stream for "freeze": the test's stand-in for the
# appliance's log.
LOG_MAX = 16 << 20


def log(msg):
    print(f"line_service: {msg}", file=sys.stderr, flush=True)


class AdoptError(Exception):
    """An adopt message that cannot be continued from."""


class Conn:
    """One client connection and the counters its streams imply."""

    def __init__(self, sock, tick_s, peer):
        self.sock = sock
        self.peer = peer
        self.tick_s = tick_s
        self.inbuf = b""
        self.client_lines = []   # complete client lines not yet echoed
        self.lines_seen = 0      # complete client lines consumed
        self.echoes = 0          # echo lines generated
        self.ticks = 0           # tick lines generated
        self.out = b""           # generated, not yet accepted by send()
        self.c2s_log = bytearray()
        self.s2c_log = bytearray()
        self.next_tick = time.monotonic() + tick_s
        self.eof = False
        self.closed = False
        sock.setblocking(False)

    def consume(self, data):
        """Take client bytes: echo every complete line."""
        self.c2s_log += data[:max(0, LOG_MAX - len(self.c2s_log))]
        self.inbuf += data
        *lines, self.inbuf = self.inbuf.split(b"\n")
        for line in lines:
            self.lines_seen += 1
            self.echoes += 1
            self.out += b"echo %d: %s\n" % (self.echoes, line)

    def tick(self, now):
        while now >= self.next_tick and not self.eof:
            self.ticks += 1
            self.out += b"tick %d\n" % self.ticks
            self.next_tick += self.tick_s

    def flush(self):
        while self.out:
            try:
                n = self.sock.send(self.out)
            except BlockingIOError:
                return
            self.s2c_log += self.out[:n][:max(0, LOG_MAX - len(self.s2c_log))]
            self.out = self.out[n:]


def parse_s2c(data, counters):
    """Count the complete lines of the logged server stream.

    Returns the partial last line (bytes, possibly empty). counters holds
    "ticks" and "echoes" at the start of the log and is updated.
    """
    *lines, partial = data.split(b"\n")
    for line in lines:
        if line.startswith(b"tick "):
            counters["ticks"] = int(line[5:])
        elif line.startswith(b"echo "):
            counters["echoes"] = int(line[5:line.index(b":")])
        else:
            raise AdoptError(f"unexpected server line {line[:40]!r}")
    return partial


def complete_partial(partial, counters, client_lines):
    """Return the rest of the line that the primary cut off, and count it."""
    if not partial:
        return b""
    if partial.startswith(b"t"):
        full = b"tick %d\n" % (counters["ticks"] + 1)
        counters["ticks"] += 1
    elif partial.startswith(b"e"):
        index = counters["echoes"] - counters["c2s_lines"]
        if index >= len(client_lines):
            raise AdoptError("the cut echo line's client line is not logged")
        full = b"echo %d: %s\n" % (counters["echoes"] + 1, client_lines[index])
        counters["echoes"] += 1
    else:
        raise AdoptError(f"unexpected partial server line {partial[:40]!r}")
    if not full.startswith(partial):
        raise AdoptError(f"partial line {partial!r} does not match {full!r}")
    return full[len(partial):]


def adopt_state(conn, c2s, s2c, c2s_offset, s2c_offset, material):
    """Set conn's counters from the logged streams, as the primary had them."""
    counters = {"ticks": 0, "echoes": 0, "c2s_lines": 0}
    if material:
        # Counters at the logs' first bytes, when the logs do not start at 0.
        counters.update({k: int(v) for k, v in json.loads(material).items()
                         if k in counters})
    elif c2s_offset or s2c_offset:
        raise AdoptError("logs start after byte 0 and no counters given")
    *client_lines, inbuf = c2s.split(b"\n")
    partial = parse_s2c(s2c, counters)
    rest = complete_partial(partial, counters, client_lines)
    conn.ticks = counters["ticks"]
    conn.lines_seen = counters["c2s_lines"] + len(client_lines)
    conn.echoes = counters["echoes"]
    conn.inbuf = inbuf
    conn.c2s_log = bytearray(c2s)
    conn.s2c_log = bytearray(s2c)
    conn.out = rest
    # Client lines the primary consumed but had not echoed yet.
    for line in client_lines[conn.echoes - counters["c2s_lines"]:]:
        conn.echoes += 1
        conn.out += b"echo %d: %s\n" % (conn.echoes, line)
    return counters


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise AdoptError(f"adopt message cut after {len(data)} of {n} bytes")
        data += chunk
    return data


def read_adopt(usock):
    """Read one adopt message; return (tcp socket, fixed fields, body)."""
    data, fds, _, _ = socket.recv_fds(usock, ADOPT_HEADER.size, 1)
    if not fds:
        raise AdoptError("no socket passed with the adopt message")
    tcp = socket.socket(fileno=fds[0])
    data += recv_exact(usock, ADOPT_HEADER.size - len(data))
    magic, version, family, _, body_len, _ = ADOPT_HEADER.unpack(data)
    if magic != ADOPT_MAGIC or version != 1 or family not in (4, 6):
        tcp.close()
        raise AdoptError(f"invalid adopt header {data.hex()}")
    if body_len < ADOPT_FIXED.size or body_len > ADOPT_BODY_MAX:
        tcp.close()
        raise AdoptError(f"adopt body of {body_len} bytes")
    body = recv_exact(usock, body_len)
    fixed = ADOPT_FIXED.unpack(body[:ADOPT_FIXED.size])
    if ADOPT_FIXED.size + fixed[5] + fixed[7] + fixed[8] != body_len:
        tcp.close()
        raise AdoptError("adopt lengths do not add up to the body")
    return tcp, fixed, body[ADOPT_FIXED.size:]


class Service:
    def __init__(self, args):
        self.args = args
        self.tick_s = args.tick_ms / 1000.0
        self.sel = selectors.DefaultSelector()
        self.conns = {}          # file descriptor -> Conn, in arrival order
        self.due = []            # heap of (next_tick, sequence, Conn)
        self.pending = set()     # connections with output or EOF to handle
        self.sequence = 0
        self.stop = False

    def listen(self):
        if self.args.listen:
            host, _, port = self.args.listen.rpartition(":")
            host = host.strip("[]")
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            lsock = socket.socket(family, socket.SOCK_STREAM)
            lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            lsock.bind((host, int(port)))
            # Room for a benchmark's thousand connects in a burst.
            lsock.listen(1024)
            self.sel.register(lsock, selectors.EVENT_READ, self.on_accept)
        for path, handler in ((self.args.adopt, self.on_adopt),
                              (self.args.control, self.on_control)):
            if not path:
                continue
            if os.path.exists(path):
                os.unlink(path)
            usock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            usock.bind(path)
            usock.listen(16)
            self.sel.register(usock, selectors.EVENT_READ, handler)

    def add(self, conn):
        self.conns[conn.sock.fileno()] = conn
        self.sel.register(conn.sock, selectors.EVENT_READ, self.on_data)
        self.schedule(conn)
        self.pending.add(conn)

    def schedule(self, conn):
        self.sequence += 1
        heapq.heappush(self.due, (conn.next_tick, self.sequence, conn))

    def on_accept(self, lsock):
        sock, peer = lsock.accept()
        log(f"connection {peer}: accepted")
        self.add(Conn(sock, self.tick_s, peer))

    def on_adopt(self, usock):
        agent, _ = usock.accept()
        agent.settimeout(5)
        try:
            tcp, fixed, body = read_adopt(agent)
        except (AdoptError, OSError) as err:
            log(f"adopt: rejected: {err}")
            agent.close()
            return
        c2s_offset, c2s_len, s2c_offset, s2c_len, material_len = fixed[4:]
        c2s = body[:c2s_len]
        s2c = body[c2s_len:c2s_len + s2c_len]
        material = body[c2s_len + s2c_len:]
        conn = Conn(tcp, self.tick_s, tcp.getpeername())
        try:
            counters = adopt_state(conn, c2s, s2c, c2s_offset, s2c_offset,
                                   material)
        except (AdoptError, ValueError) as err:
            log(f"connection {conn.peer}: adopt rejected: {err}")
            agent.sendall(b"\x01")
            agent.close()
            tcp.close()
            return
        agent.sendall(b"\x00")
        agent.close()
        log(f"connection {conn.peer}: adopted at tick {counters['ticks']}, "
            f"echo {counters['echoes']}, {len(conn.out)} bytes to finish")
        print(f"adopted {conn.peer[1]} ticks {conn.ticks} echoes "
              f"{conn.echoes}", flush=True)
        if self.args.tick_on_adopt:
            conn.next_tick = time.monotonic()
        self.add(conn)

    def on_control(self, usock):
        ctl, _ = usock.accept()
        ctl.settimeout(5)
        words = ctl.recv(4096).decode().split()
        if len(words) == 2 and words[0] == "freeze":
            count = self.freeze(words[1])
            ctl.sendall(b"frozen %d\n" % count)
            self.stop = True
        else:
            ctl.sendall(b"error: expected 'freeze DIR'\n")
        ctl.close()

    def freeze(self, directory):
        count = 0
        for k, conn in enumerate(list(self.conns.values())):
            prefix = os.path.join(directory, f"conn-{k}")
            fd = conn.sock.fileno()
            subprocess.run([self.args.dump_tool, "dump", str(fd), prefix],
                           pass_fds=(fd,), check=True, timeout=10)
            with open(prefix + ".c2s", "wb") as f:
                f.write(conn.c2s_log)
            with open(prefix + ".s2c", "wb") as f:
                f.write(conn.s2c_log)
            # In repair mode since the dump: close() sends nothing.
            self.drop(conn)
            count += 1
        return count

    def drop(self, conn):
        del self.conns[conn.sock.fileno()]
        self.sel.unregister(conn.sock)
        conn.sock.close()
        conn.closed = True
        self.pending.discard(conn)

    def on_data(self, sock):
        conn = self.conns[sock.fileno()]
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        except OSError as err:
            log(f"connection {conn.peer}: {err}")
            self.drop(conn)
            return
        self.pending.add(conn)
        if not data:
            conn.eof = True
            return
        conn.consume(data)

    def run(self):
        self.listen()
        print("ready", flush=True)
        deadline = time.monotonic() + self.args.run_limit
        while not self.stop and time.monotonic() < deadline:
            wait = self.tick_s / 2
            if self.due:
                wait = min(wait, max(0.0, self.due[0][0] - time.monotonic()))
            for key, _ in self.sel.select(timeout=wait):
                key.data(key.fileobj)
                if self.stop:
                    break
            now = time.monotonic()
            while self.due and self.due[0][0] <= now:
                _, _, conn = heapq.heappop(self.due)
                if conn.closed or conn.eof:
                    continue
                conn.tick(now)
                self.schedule(conn)
                self.pending.add(conn)
            for conn in list(self.pending):
                if conn.closed:
                    continue
                try:
                    conn.flush()
                except OSError as err:
                    log(f"connection {conn.peer}: {err}")
                    self.drop(conn)
                    continue
                if conn.eof and not conn.out:
                    log(f"connection {conn.peer}: closed by the client")
                    conn.sock.shutdown(socket.SHUT_WR)
                    self.drop(conn)
                elif not conn.out:
                    # Still pending when send() would block: retried on
                    # the next pass.
                    self.pending.discard(conn)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", help="ADDR:PORT to serve")
    parser.add_argument("--adopt", help="Unix socket for revenant-agent")
    parser.add_argument("--control", help="Unix socket for the freeze command")
    parser.add_argument("--dump-tool", default="handoff-send",
                        help="the handoff-send binary (for freeze)")
    parser.add_argument("--tick-ms", type=int, default=20,
                        help="interval between tick lines, ms")
    parser.add_argument("--run-limit", type=float, default=60,
                        help="exit after this many seconds")
    parser.add_argument("--tick-on-adopt", action="store_true",
                        help="tick at once on an adopted connection")
    Service(parser.parse_args()).run()


if __name__ == "__main__":
    main()
