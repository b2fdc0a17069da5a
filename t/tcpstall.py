#!/usr/bin/python3
"""A small TCP proxy that makes a server slow on demand (stdlib only).

    tcpstall.py --target-port T [--target-host H] [--port P] [--control-port C]

prints "ready <port> <control port>" once it listens.  Requests (client to
server) always pass at once; the replies (server to client) follow the
mode, which a line on the control port changes:

    pass          replies go through at once (what was held is flushed)
    delay <ms>    every reply chunk is held <ms> milliseconds after it came
    stall         replies are held until the next mode
    drop          every open connection is closed (both sides); new ones
                  are accepted again, in the mode that was before
    refuse        new connections are closed at once (pass undoes it)
    stall-sub     the replies of the connections open now that sent a
                  SUBSCRIBE are held for good (a pub/sub flow a NAT dropped
                  without a word); the others and new ones follow the mode
    stats         a JSON line: mode, delay_ms, accepted, open, dropped,
                  held_bytes, chunks

Each command is answered with one line ("ok" or the JSON of stats).  The
tests use it through redisnodes.TcpStall to make Redis slow without
touching redis-server.
"""

import argparse
import json
import socket
import sys
import threading
import time


class State:
    def __init__(self):
        self.cond = threading.Condition()
        self.mode = "pass"
        self.delay = 0.0
        self.refuse = False
        self.conns = set()
        self.accepted = self.dropped = self.chunks = self.held_bytes = 0


STATE = State()


def close_quietly(s):
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass


class Conn:
    """One client connection and its upstream; three threads: requests up,
    replies read, replies written (in order, when the mode lets them)."""

    def __init__(self, client, target):
        self.client = client
        self.upstream = socket.create_connection(target)
        self.queue = []                 # (arrival, bytes), under STATE.cond
        self.closed = False
        self.sub = False                # it sent a SUBSCRIBE
        self.blackholed = False         # stall-sub: replies held for good
        for fn in (self.pump_up, self.read_down, self.write_down):
            threading.Thread(target=fn, daemon=True).start()

    def close(self):
        with STATE.cond:
            if self.closed:
                return
            self.closed = True
            STATE.conns.discard(self)
            STATE.held_bytes -= sum(len(d) for _, d in self.queue)
            self.queue = []
            STATE.cond.notify_all()
        close_quietly(self.client)
        close_quietly(self.upstream)

    def pump_up(self):
        try:
            while True:
                data = self.client.recv(65536)
                if not data:
                    break
                if b"$9\r\nSUBSCRIBE\r\n" in data.upper():
                    with STATE.cond:
                        self.sub = True
                self.upstream.sendall(data)
        except OSError:
            pass
        self.close()

    def read_down(self):
        try:
            while True:
                data = self.upstream.recv(65536)
                if not data:
                    break
                with STATE.cond:
                    self.queue.append((time.monotonic(), data))
                    STATE.held_bytes += len(data)
                    STATE.chunks += 1
                    STATE.cond.notify_all()
        except OSError:
            pass
        # the server closed: deliver what is queued (in its mode), then close
        with STATE.cond:
            self.queue.append((time.monotonic(), None))
            STATE.cond.notify_all()

    def write_down(self):
        while True:
            with STATE.cond:
                while True:
                    if self.closed:
                        return
                    if (not self.queue or STATE.mode == "stall"
                            or self.blackholed):
                        STATE.cond.wait()
                        continue
                    arrival, data = self.queue[0]
                    wait = 0.0
                    if STATE.mode == "delay":
                        wait = arrival + STATE.delay - time.monotonic()
                    if wait > 0:
                        STATE.cond.wait(wait)
                        continue
                    self.queue.pop(0)
                    if data is not None:
                        STATE.held_bytes -= len(data)
                    break
            if data is None:
                break
            try:
                self.client.sendall(data)
            except OSError:
                break
        self.close()


def serve_proxy(listener, target):
    while True:
        client, _ = listener.accept()
        with STATE.cond:
            refuse = STATE.refuse
            STATE.accepted += 1
        if refuse:
            close_quietly(client)
            continue
        try:
            conn = Conn(client, target)
        except OSError:
            close_quietly(client)
            continue
        with STATE.cond:
            STATE.conns.add(conn)


def command(line):
    words = line.split()
    if not words:
        return "error: empty command"
    name = words[0]
    with STATE.cond:
        if name == "stats":
            return json.dumps({
                "mode": "refuse" if STATE.refuse else STATE.mode,
                "delay_ms": int(STATE.delay * 1000),
                "accepted": STATE.accepted, "open": len(STATE.conns),
                "dropped": STATE.dropped, "held_bytes": STATE.held_bytes,
                "blackholed": sum(1 for c in STATE.conns if c.blackholed),
                "chunks": STATE.chunks})
        if name == "pass":
            STATE.mode, STATE.refuse = "pass", False
        elif name == "delay" and len(words) == 2 and words[1].isdigit():
            STATE.mode, STATE.delay = "delay", int(words[1]) / 1000.0
        elif name == "stall":
            STATE.mode = "stall"
        elif name == "refuse":
            STATE.refuse = True
        elif name == "stall-sub":
            for conn in STATE.conns:
                conn.blackholed = conn.blackholed or conn.sub
        elif name == "drop":
            conns = list(STATE.conns)
            STATE.dropped += len(conns)
        else:
            return "error: unknown command %r" % line
        STATE.cond.notify_all()
    if name == "drop":
        for conn in conns:
            conn.close()
    return "ok"


def serve_control(listener):
    while True:
        s, _ = listener.accept()
        threading.Thread(target=control_client, args=(s,), daemon=True) \
            .start()


def control_client(s):
    with s, s.makefile("rwb") as f:
        for raw in f:
            f.write((command(raw.decode().strip()) + "\n").encode())
            f.flush()


def listen(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(128)
    return s


def main(argv):
    p = argparse.ArgumentParser()
    p.add_argument("--target-host", default="127.0.0.1")
    p.add_argument("--target-port", type=int, required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--control-port", type=int, default=0)
    args = p.parse_args(argv)
    proxy, control = listen(args.port), listen(args.control_port)
    threading.Thread(target=serve_proxy, daemon=True,
                     args=(proxy, (args.target_host, args.target_port))) \
        .start()
    threading.Thread(target=serve_control, args=(control,), daemon=True) \
        .start()
    print("ready %d %d" % (proxy.getsockname()[1], control.getsockname()[1]),
          flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
