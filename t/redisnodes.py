"""Several gateway nodes on one Redis, and a way to make Redis slow.

A node is an nginx instance of its own (its own prefix, master, workers and
zone) whose http block holds `microshop_redis ...;`: the nodes of a test
module share one RedisServer (microshop.RedisServer) and nothing else, as
two machines behind a load balancer would.  TcpStall runs t/tcpstall.py, a
TCP proxy between the nodes and redis-server that passes, delays, stalls or
drops Redis' replies on demand.
"""

import json
import os
import re
import socket
import subprocess
import time

import pytest

import microshop
from microshop import PYTHON, SLOW, T_DIR, wait_for

TCPSTALL_PY = os.path.join(T_DIR, "tcpstall.py")

# the test switch of the store (test_store_contract.py): make test runs the
# suite a second time with "deferred", and Redis is its own back end
STORE_ENV = "NGX_MICROSHOP_TEST_STORE"


def skip_under_deferred():
    """pytestmark of a Redis test module: skipped in the deferred run."""
    return pytest.mark.skipif(os.environ.get(STORE_ENV) == "deferred",
                              reason="the deferred run: Redis is its own "
                                     "back end")


def directive(url, timeout="300ms", on_error=None, connect_timeout=None):
    """The microshop_redis line of a node's http block."""
    words = ["microshop_redis", url, "timeout=" + timeout]
    if connect_timeout is not None:
        words.append("connect_timeout=" + connect_timeout)
    if on_error is not None:
        words.append("on_error=" + on_error)
    return " ".join(words) + ";"


# ------------------------------------------------------------ /status

METRIC_LINE = re.compile(r"^([a-z_]+(?:\{[^}]*\})?) (\S+)$", re.M)


def metrics(n):
    """Every sample of n's /status: {'name{labels}': float}."""
    r = n.get("/status", timeout=5 * SLOW)
    assert r.status_code == 200, (r.status_code, r.text[:300])
    return {name: float(value)
            for name, value in METRIC_LINE.findall(r.text)}


def metric(n, name, default=None):
    """One sample of n's /status; AssertionError when it is missing (unless
    a default is given)."""
    found = metrics(n).get(name, default)
    assert found is not None, "metric %s missing on %s" % (name, n.url())
    return found


def redis_up(n):
    """n says its Redis is up: microshop_redis_up 1 and, where the gauge is
    shown, a command connection of every worker."""
    m = metrics(n)
    if m.get("microshop_redis_up") != 1:
        return False
    connections = m.get("microshop_redis_connections")
    return connections is None or connections >= n.workers


def wait_status(n, predicate, what, timeout=6.0):
    """Poll until predicate(n) (which reads n's /status); returns the
    seconds it took.  The TimeoutError names the last microshop_redis_*
    samples seen."""
    start = time.monotonic()
    try:
        wait_for(lambda: predicate(n), timeout=timeout, interval=0.05,
                 what="%s on %s" % (what, n.url()))
    except TimeoutError as e:
        m = metrics(n)
        raise TimeoutError("%s; last samples: %s" % (e, {
            k: v for k, v in m.items() if k.startswith("microshop_redis")
            and "latency" not in k}))
    return time.monotonic() - start


def wait_redis_up(n, timeout=6.0):
    """Poll n's /status until redis_up(n); returns the seconds it took."""
    return wait_status(n, redis_up, "microshop_redis_up 1", timeout)


def wait_redis_down(n, timeout=3.0):
    wait_for(lambda: metrics(n).get("microshop_redis_up") == 0,
             timeout=timeout, interval=0.05,
             what="microshop_redis_up 0 on %s" % n.url())


def start_nodes(factory, count, render, workers=1, wait_up=True, **kw):
    """count new nginx instances from factory (the nginx fixture), each
    started on render(n) (its http block: the same text for every node but
    its own port and prefix); with wait_up, returns once every node says
    microshop_redis_up 1.  kw goes to Nginx.start (allow_log, ...)."""
    nodes = []
    for _ in range(count):
        n = factory.new()
        n.start(render(n), workers=workers, **kw)
        nodes.append(n)
    if wait_up:
        for n in nodes:
            wait_redis_up(n)
    return nodes


# ------------------------------------------------------------ the proxy

class TcpStall:
    """t/tcpstall.py in front of a TCP server (redis-server): nodes connect
    to self.port; pass(), delay(ms), stall(), drop(), refuse() change what
    happens to the replies (see the script's docstring)."""

    def __init__(self, target_port, log_path=None):
        self.log = open(log_path or os.devnull, "ab")
        self.proc = subprocess.Popen(
            [PYTHON, TCPSTALL_PY, "--target-port", str(target_port)],
            stdout=subprocess.PIPE, stderr=self.log)
        line = self.proc.stdout.readline().decode().split()
        if len(line) != 3 or line[0] != "ready":
            self.stop()
            raise RuntimeError("tcpstall did not start: %r" % line)
        self.port, self.control_port = int(line[1]), int(line[2])
        self.url = "redis://127.0.0.1:%d" % self.port
        self.control = socket.create_connection(
            ("127.0.0.1", self.control_port), timeout=10)
        self.control_file = self.control.makefile("rwb")

    def command(self, text):
        self.control_file.write(text.encode() + b"\n")
        self.control_file.flush()
        answer = self.control_file.readline().decode().strip()
        if answer.startswith("error"):
            raise RuntimeError("tcpstall %r: %s" % (text, answer))
        return answer

    def pass_(self):
        self.command("pass")

    def delay(self, ms):
        self.command("delay %d" % ms)

    def stall(self):
        self.command("stall")

    def drop(self):
        self.command("drop")

    def refuse(self):
        self.command("refuse")

    def stall_sub(self):
        """Hold for good the replies of the pub/sub connections open now."""
        self.command("stall-sub")

    def stats(self):
        return json.loads(self.command("stats"))

    def stop(self):
        if getattr(self, "control", None) is not None:
            self.control_file.close()
            self.control.close()
            self.control = None
        if self.proc.poll() is None:
            microshop.stop_process(self.proc)
        self.proc.stdout.close()
        self.log.close()


# ------------------------------------------------------------ timing

def timed(fn, *args, **kw):
    """(seconds, fn(*args, **kw)); an exception is returned, not raised,
    so a pool of timed calls always yields every one."""
    start = time.monotonic()
    try:
        result = fn(*args, **kw)
    except Exception as e:                 # noqa: BLE001 (reported)
        result = e
    return time.monotonic() - start, result
