#!/usr/bin/python3
"""The feed-fanout scenario of bench/run (issue 16): many Server-Sent
Events readers of the sellers' feeds on one nginx worker, one event a
second written for each seller, and what that costs the worker.

bench/run starts it as a child process (pinned to CPU 1, wrk's, when it
pins), a job as JSON on stdin, and reads its result as JSON on stdout.
Python 3 stdlib only.  In one process, with non-blocking sockets and a
selector:

  1. `subscribers` readers connect (in batches), each GET <path of its
     seller>?after=$ with Accept: text/event-stream and its seller's
     events:read token, and must get 200 and the stream's first comment;
     the node's microshop_feed_subscribers must then count them all;
  2. once a second for `seconds` seconds, for each seller, a
     PUT <admin>stock/<seller>/<sku> {"available":BASE+i} on one
     keep-alive connection of its own: one stock.changed event of that
     seller, which every reader of that seller must receive once;
  3. the worker's CPU (utime + stime of /proc/<pid>/stat) over those
     seconds (and over IDLE seconds before them, the readers connected
     and no event written), its RSS (VmRSS) before the readers connect, with them
     connected and at the end, and the delivery latency of every event at
     every reader: from the moment its PUT was sent (an upper bound of the
     time from its write) to the recv() that completed it here.

Receipt times are taken right after recv(), every ready socket read
before any is parsed, so the readers' own work adds little; what this
process used of its CPU is in the result too ("client_cpu"): near 100 %
would make the latencies partly this process's.
"""

import json
import os
import re
import resource
import selectors
import socket
import sys
import time

BASE = 1000000          # available = BASE + i in the i-th write: never 0
BATCH = 200             # readers connecting at once
IDLE = 2                # seconds with every reader connected, no event
EVENT = re.compile(rb'^id: (\S+)\nevent: (\S+)\ndata: (.*)$', re.S)
AVAILABLE = re.compile(rb'"available":(\d+)')
TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid):
    """utime + stime of a process, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def proc_rss(pid):
    """VmRSS of a process, in kB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def percentile(values, q):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def status(port, path):
    """{metric: value} of the node's microshop_status location."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        sock.sendall(("GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n"
                      % path).encode())
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    found = {}
    for m in re.finditer(rb"^(microshop_\S+)\s+([\d.]+)\s*$", data, re.M):
        found[m.group(1).decode()] = float(m.group(2))
    return found


class Reader:
    """One SSE reader: its socket, the HTTP head, the chunked body, and
    the events it got ({write number: receipt time})."""

    def __init__(self, n, seller, request):
        self.n = n
        self.seller = seller
        self.request = request
        self.sock = socket.socket()
        self.sock.setblocking(False)
        self.raw = b""
        self.body = b""
        self.head = None            # the status line, once read
        self.status = None
        self.chunked = False
        self.ready = False          # the stream's first comment came
        self.closed = False
        self.got = {}               # write number -> receipt time
        self.duplicates = 0
        self.heartbeats = 0
        self.others = []            # other events (a cut_off, ...)

    def feed(self, data, now):
        """Bytes received at now."""
        self.raw += data
        if self.head is None:
            if b"\r\n\r\n" not in self.raw:
                return
            head, self.raw = self.raw.split(b"\r\n\r\n", 1)
            lines = head.decode(errors="replace").split("\r\n")
            self.head = lines[0]
            try:
                self.status = int(lines[0].split()[1])
            except (IndexError, ValueError):
                self.status = 0
            headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            self.chunked = headers.get("transfer-encoding") == "chunked"
        if self.chunked:
            while b"\r\n" in self.raw:
                size_line, rest = self.raw.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0] or b"0", 16)
                if len(rest) < size + 2:
                    break
                self.body += rest[:size]
                self.raw = rest[size + 2:]
        else:
            self.body += self.raw
            self.raw = b""
        while b"\n\n" in self.body:
            block, self.body = self.body.split(b"\n\n", 1)
            self.block(block, now)

    def block(self, block, now):
        if block.startswith(b": microshop feed"):
            self.ready = True
            return
        if block.startswith(b": heartbeat"):
            self.heartbeats += 1
            return
        m = EVENT.match(block)
        a = AVAILABLE.search(block) if m else None
        if not m or m.group(2) != b"stock.changed" or not a:
            self.others.append(block[:200].decode(errors="replace"))
            return
        i = int(a.group(1)) - BASE
        if i in self.got:
            self.duplicates += 1
        else:
            self.got[i] = now


def run(job):
    port = job["port"]
    sellers = sorted(job["tokens"])
    count = job["subscribers"]
    seconds = job["seconds"]
    worker = job["worker_pid"]
    errors = []

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = count + 100
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE,
                           (min(want, hard) if hard != resource.RLIM_INFINITY
                            else want, hard))

    counters0 = status(port, job["status_path"])
    rss_idle = proc_rss(worker)

    sel = selectors.DefaultSelector()
    readers = []
    for n in range(count):
        seller = sellers[n % len(sellers)]
        request = ("GET %s?after=$ HTTP/1.1\r\nHost: localhost\r\n"
                   "Accept: text/event-stream\r\n"
                   "Authorization: Bearer %s\r\n\r\n"
                   % (job["paths"][seller], job["tokens"][seller])).encode()
        readers.append(Reader(n, seller, request))

    def on_event(reader, events):
        if events & selectors.EVENT_WRITE:
            err = reader.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                errors.append("reader %d: connect: %s"
                              % (reader.n, os.strerror(err)))
                reader.closed = True
                sel.unregister(reader.sock)
                return
            reader.sock.send(reader.request)    # a few hundred bytes
            sel.modify(reader.sock, selectors.EVENT_READ, reader)
            return
        try:
            data = reader.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError as e:
            data = b""
            errors.append("reader %d: %s" % (reader.n, e))
        if not data:
            reader.closed = True
            sel.unregister(reader.sock)
            return
        return data

    def pump(timeout):
        """One select(): every ready socket read first (its receipt
        time), then parsed."""
        got = []
        for key, events in sel.select(timeout):
            obj = key.data
            if isinstance(obj, Reader):
                data = on_event(obj, events)
                if data:
                    got.append((obj, data, time.time()))
            else:
                obj(events)
        for reader, data, now in got:
            reader.feed(data, now)

    # 1. the readers connect, BATCH at a time
    t_connect = time.monotonic()
    for first in range(0, count, BATCH):
        batch = readers[first:first + BATCH]
        for reader in batch:
            reader.sock.connect_ex(("127.0.0.1", port))
            sel.register(reader.sock, selectors.EVENT_WRITE, reader)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not all(
                r.ready or r.closed or (r.status and r.status != 200)
                for r in batch):
            pump(0.5)
    connect_seconds = time.monotonic() - t_connect
    bad = [r for r in readers if not r.ready]
    if bad:
        r = bad[0]
        return dict(error="%d of %d readers did not get their stream (the "
                    "first: %s%s)" % (len(bad), count, r.head or "no answer",
                                      ", closed" if r.closed else ""),
                    errors=errors[:5])
    deadline = time.monotonic() + 5
    waiting = None
    while time.monotonic() < deadline:
        waiting = status(port, job["status_path"]).get(
            "microshop_feed_subscribers")
        if waiting is not None and waiting >= count:
            break
        pump(0.1)
    rss_connected = proc_rss(worker)
    # the worker with every reader connected and no event: its tick
    # (every 50 ms while readers wait), for IDLE seconds
    idle0, idle_t0 = proc_cpu(worker), time.monotonic()
    while time.monotonic() < idle_t0 + IDLE:
        pump(max(0.0, idle_t0 + IDLE - time.monotonic()))
    idle1, idle_t1 = proc_cpu(worker), time.monotonic()

    # 2. the writer: one keep-alive connection to the admin API
    admin = socket.create_connection(("127.0.0.1", port), timeout=5)
    admin.setblocking(False)
    answers = {"raw": b"", "204": 0, "other": []}

    def on_admin(events):
        try:
            data = admin.recv(65536)
        except BlockingIOError:
            return
        if not data:
            errors.append("the admin connection closed")
            sel.unregister(admin)
            return
        answers["raw"] += data
        while b"\r\n\r\n" in answers["raw"]:
            head, answers["raw"] = answers["raw"].split(b"\r\n\r\n", 1)
            m = re.search(rb"content-length:\s*(\d+)", head, re.I)
            length = int(m.group(1)) if m else 0
            body, answers["raw"] = (answers["raw"][:length],
                                    answers["raw"][length:])
            if head.startswith(b"HTTP/1.1 204"):
                answers["204"] += 1
            else:
                answers["other"].append((head + b" " + body)[:200].decode(
                    errors="replace"))

    sel.register(admin, selectors.EVENT_READ, on_admin)
    sent = {}                       # (seller, i) -> time the PUT was sent
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    cpu0 = proc_cpu(worker)
    for i in range(seconds):
        while time.monotonic() < t0 + i:
            pump(max(0.0, t0 + i - time.monotonic()))
        for seller in sellers:
            doc = json.dumps({"available": BASE + i}).encode()
            put = ("PUT %sstock/%s/%s HTTP/1.1\r\nHost: localhost\r\n"
                   "Authorization: Bearer %s\r\n"
                   "Content-Type: application/json\r\n"
                   "Content-Length: %d\r\n\r\n"
                   % (job["admin_path"], seller, job["sku"],
                      job["admin_token"], len(doc))).encode() + doc
            sent[(seller, i)] = time.time()
            admin.setblocking(True)
            admin.sendall(put)
            admin.setblocking(False)
    while time.monotonic() < t0 + seconds:
        pump(max(0.0, t0 + seconds - time.monotonic()))
    cpu1, t1 = proc_cpu(worker), time.monotonic()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    rss_end = proc_rss(worker)
    # late events still count (and show in the latencies)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and any(
            len(r.got) < seconds for r in readers if not r.closed):
        pump(0.1)
    counters1 = status(port, job["status_path"])

    # 3. the figures
    latencies = []
    spreads = []                    # per write: last receipt - first
    missing = 0
    incomplete = 0
    for (seller, i), when in sent.items():
        times = [r.got[i] for r in readers
                 if r.seller == seller and i in r.got]
        missing += len([r for r in readers if r.seller == seller]) - \
            len(times)
        latencies += [t - when for t in times]
        if times:
            spreads.append(max(times) - min(times))
    got = [len(r.got) for r in readers]
    incomplete = len([n for n in got if n < seconds])
    for reader in readers:
        reader.sock.close()
    admin.close()

    def ms(v):
        return None if v is None else round(v * 1000, 2)

    def moved(name):
        return counters1.get(name, 0) - counters0.get(name, 0)

    wall = t1 - t0
    client = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    return dict(
        subscribers=count, sellers=len(sellers), seconds=seconds,
        writes=len(sent), writes_answered=answers["204"],
        write_errors=answers["other"][:3],
        connect_seconds=round(connect_seconds, 2),
        waiting=waiting,
        received_min=min(got), received_max=max(got),
        incomplete=incomplete, missing=missing,
        duplicates=sum(r.duplicates for r in readers),
        closed=len([r for r in readers if r.closed]),
        heartbeats=sum(r.heartbeats for r in readers),
        other_events=[o for r in readers for o in r.others][:3],
        latency_p50=ms(percentile(latencies, 0.50)),
        latency_p99=ms(percentile(latencies, 0.99)),
        latency_max=ms(max(latencies) if latencies else None),
        latency_mean=ms(sum(latencies) / len(latencies)
                        if latencies else None),
        spread_p50=ms(percentile(spreads, 0.50)),
        spread_max=ms(max(spreads) if spreads else None),
        worker_cpu=round((cpu1 - cpu0) / wall * 100, 2),
        worker_cpu_idle=round((idle1 - idle0) / (idle_t1 - idle_t0) * 100,
                              2),
        client_cpu=round(client / wall * 100, 1),
        rss_idle=rss_idle, rss_connected=rss_connected, rss_end=rss_end,
        events_written=moved("microshop_feed_events_total"),
        cut_off=moved("microshop_feed_cut_off_total"),
        dropped=moved("microshop_feed_dropped_total"),
        errors=errors[:5])


def main():
    job = json.load(sys.stdin)
    json.dump(run(job), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
