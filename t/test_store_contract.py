"""The store contract (ngx_microshop_store.h) against every back end.

microshop_store_selftest runs the conformance suite inside the worker
(ngx_microshop_store_selftest.c); these tests start nginx once per back end
with the test switch NGX_MICROSHOP_TEST_STORE, run it and read what the
store counted on the status page.
"""

import os
import re
import signal
import socket
import time

import pytest

import microshop
from microshop import SLOW, wait_for

ENV = "NGX_MICROSHOP_TEST_STORE"

CONF = """
microshop_events_out;

server {
    listen 127.0.0.1:%(port)d;

    location = /status { microshop_status; }
    location = /selftest { microshop_store_selftest; }
}
"""

# cases that need what only the deferred back end has
DEFERRED_ONLY = {"in_flight_out_of_order", "cancel_before_answer"}

LATE = "microshop_store_late_answers_total"


class switch:
    """The test switch set (or, with None, unset) while nginx reads its
    configuration; the environment is restored afterwards."""

    def __init__(self, value):
        self.value = value

    def __enter__(self):
        self.saved = os.environ.get(ENV)
        if self.value is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = self.value

    def __exit__(self, *exc):
        if self.saved is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = self.saved


def metric(n, name):
    m = re.search(r"^%s (\d+)$" % re.escape(name), n.get("/status").text,
                  re.M)
    assert m, "metric %s missing" % name
    return int(m.group(1))


def selftest(n, query=""):
    r = n.get("/selftest" + query)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/json"
    return r.json()


def send_raw(n, path):
    """A request on a socket of our own, the answer not read yet."""
    s = socket.create_connection(("127.0.0.1", n.port), timeout=30 * SLOW)
    s.sendall(b"GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path.encode())
    return s


def read_all(s):
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk


@pytest.fixture(scope="module", params=["shm", "deferred"])
def store(request, nginx):
    """(back end name, nginx started with the switch naming it)."""
    n = nginx.new()
    with switch(request.param):
        n.start(CONF % {"port": n.port})
    return request.param, n


def test_conformance_suite_passes(store):
    name, n = store
    doc = selftest(n)
    assert doc["backend"] == name
    assert doc["failed"] == [], doc
    skipped = {s["case"] for s in doc["skipped"]}
    if name == "shm":
        # every op is answered at once: nothing to reorder or cancel
        assert skipped == DEFERRED_ONLY, doc
        assert doc["later"] == 0, doc
    else:
        assert skipped == set(), doc
        assert doc["later"] > 0, doc
    assert doc["passed"] > 0
    assert doc["passed"] == doc["cases"] - len(skipped), doc


def test_suite_runs_again_on_the_same_zone(store):
    # every run has keys of its own
    for _ in range(2):
        doc = selftest(store[1])
        assert doc["failed"] == [], doc


def test_late_answers_counted(store):
    name, n = store
    before = metric(n, LATE)
    doc = selftest(n)
    assert doc["failed"] == [], doc
    after = metric(n, LATE)
    if name == "deferred":
        # the suite cancels two ops, whose answers still came
        assert after >= before + 2
    else:
        assert after == before == 0


def test_client_gone_cancels_the_pending_op(store):
    name, n = store
    if name == "shm":
        # nothing ever waits: the hold case is skipped, the answer is there
        doc = selftest(n, "?hold=200")
        assert [s["case"] for s in doc["skipped"]] == ["hold"], doc
        return
    before = metric(n, LATE)
    log_offset = os.path.getsize(n.error_log_path)
    s = send_raw(n, "/selftest?hold=%d" % (1500 * SLOW))
    time.sleep(0.3 * SLOW)
    s.close()
    # the request's cleanup cancelled the op; its answer came late
    wait_for(lambda: metric(n, LATE) == before + 1, timeout=10,
             what="the late answer of the abandoned request")
    with open(n.error_log_path, errors="replace") as f:
        f.seek(log_offset)
        log = f.read()
    assert "1 store operations cancelled, the request is gone" in log, log
    # the worker is fine
    assert selftest(n)["failed"] == []


def test_hold_is_answered_when_the_client_waits(store):
    name, n = store
    doc = selftest(n, "?hold=%d" % (300 * SLOW))
    assert doc["failed"] == [], doc
    if name == "deferred":
        assert doc["passed"] == 1 and doc["later"] == 1, doc


def test_selftest_answers_get_only(store):
    assert store[1].post("/selftest").status_code == 405


def test_graceful_stop_waits_for_the_answer_and_logs_are_clean(store):
    """Last for each back end: stops the instance."""
    name, n = store
    s = send_raw(n, "/selftest?hold=%d" % (1000 * SLOW))
    time.sleep(0.3 * SLOW)
    os.kill(n.master_pid, signal.SIGQUIT)
    # a shutting-down worker still answers the request that waits
    answer = read_all(s)
    s.close()
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    assert b'"failed":[]' in answer, answer
    n.stop()
    assert microshop.bad_log_lines(n.error_log()) == []
    if name == "deferred":
        assert "the test store \"deferred\" is in use" in n.error_log()


def test_fast_shutdown_drops_what_is_queued(nginx):
    n = nginx.new()
    with switch("deferred"):
        n.start(CONF % {"port": n.port})
    s = send_raw(n, "/selftest?hold=%d" % (5000 * SLOW))
    time.sleep(0.3 * SLOW)
    os.kill(n.master_pid, signal.SIGTERM)
    # the connection is closed unanswered, the queued op freed unexecuted
    assert read_all(s) == b""
    s.close()
    wait_for(lambda: "operations dropped on exit" in n.error_log(),
             timeout=10, what="the worker to drop its queue")
    n.stop()
    assert microshop.bad_log_lines(n.error_log()) == []


def test_nginx_t_refuses_selftest_without_the_switch(nginx):
    n = nginx.new()
    with switch(None):
        rc, err = n.test_config(CONF % {"port": n.port})
    assert rc != 0
    assert ('"microshop_store_selftest" directive exists only for tests'
            in err), err
    assert ENV in err, err
    # the message names the file and the line of the directive
    m = re.search(r"in (\S+-t/conf/nginx\.conf):(\d+)", err)
    assert m, err
    with open(m.group(1)) as f:
        lines = f.read().split("\n")
    assert "microshop_store_selftest;" in lines[int(m.group(2)) - 1], err


@pytest.mark.parametrize("value", ["shm", "deferred"])
def test_nginx_t_accepts_selftest_with_the_switch(nginx, value):
    n = nginx.new()
    with switch(value):
        rc, err = n.test_config(CONF % {"port": n.port})
    assert rc == 0, err
