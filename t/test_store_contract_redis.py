"""The store contract (ngx_microshop_store.h) against the "redis" back end:
the conformance suite of t/test_store_contract.py run with microshop_redis
pointing at a redis-server of the test's own, and what the suite left in
Redis (docs/redis.md "Keys")."""

import json
import os
import re
import time

import pytest

import microshop
from microshop import SLOW, wait_for
from test_store_contract import ENV, LATE, metric, selftest, switch

CONF = """
microshop_redis %(url)s timeout=2s;
microshop_events_out;

server {
    listen 127.0.0.1:%(port)d;

    location = /status { microshop_status; }
    location = /selftest { microshop_store_selftest; }
}
"""

CLOSED = 'microshop_redis_fallbacks_total{answer="closed"}'

# what needs the deferred back end's knobs
SKIPPED = {"in_flight_out_of_order"}

pytestmark = pytest.mark.skipif(
    os.environ.get(ENV) == "deferred",
    reason="Redis is a back end of its own (the deferred switch is ignored)")


def connected(n):
    """The client connects after the worker started: a test waits for it
    (until then every op gets the outage answer)."""
    wait_for(lambda: metric(n, "microshop_redis_up") >= 1, timeout=10,
             what="the worker's Redis connection")
    return n


@pytest.fixture(scope="module")
def gw(nginx, redis_server):
    n = nginx.new()
    # the switch lets microshop_store_selftest in; microshop_redis chooses
    # the back end whatever it names
    with switch("shm"):
        n.start(CONF % {"port": n.port, "url": redis_server.url})
    return connected(n)


def test_conformance_suite_passes(gw):
    doc = selftest(gw)
    assert doc["backend"] == "redis"
    assert doc["failed"] == [], doc
    assert {s["case"] for s in doc["skipped"]} == SKIPPED, doc
    # every op but IS_REVOKED and the local copies went to Redis
    assert doc["later"] > 0, doc
    assert doc["passed"] == doc["cases"] - len(SKIPPED), doc


def test_redis_holds_what_the_suite_wrote(gw, redis_server):
    r = redis_server.client()
    assert selftest(gw)["failed"] == []

    # REVOKE: the jti with its exp in the global zset
    revoked = r.zrange("ms:revoked", 0, -1, withscores=True)
    assert any(re.match(rb"selftest:st-\d+-", jti) for jti, _ in revoked), \
        revoked

    # reserve_ok_short: stock A of 3, 2 of them held, under the seller's tag
    stocks = [k for k in r.scan_iter(match="ms:{st-*}:stock:A")]
    assert stocks, r.keys("*")
    a = r.hgetall(stocks[0])
    assert a[b"a"] == b"3" and a[b"h"] == b"2", a

    # the seller of a hold is in the set the sweep walks
    seller = re.match(rb"ms:\{(.*)\}:stock:A", stocks[0]).group(1)
    assert r.sismember("ms:sellers:holds", seller)
    assert r.zcard(b"ms:{" + seller + b"}:holds") == 1

    # every key of a seller is hash-tagged with the whole seller
    for k in r.scan_iter(match="ms:{st-*"):
        assert re.match(rb"ms:\{st-[0-9-]+\}:(rate|idem|inv|event|stock|"
                        rb"hold|holds|offline)(:|$)", k) \
            or re.match(rb"ms:\{st-[0-9-]+-f\}:events$", k), k

    # the feed case's stream: its three events, in order
    feed = [k for k in r.scan_iter(match="ms:{st-*-f}:events")]
    assert feed, "no stream of the feed case"
    entries = r.xrange(feed[0])
    assert [json.loads(e[1][b"data"]) for e in entries] \
        == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert {e[1][b"type"] for e in entries} == {b"stock.changed"}


def test_suite_runs_again(gw):
    for _ in range(2):
        doc = selftest(gw)
        assert doc["failed"] == [], doc


def test_late_answers_counted(gw):
    before = metric(gw, LATE)
    assert selftest(gw)["failed"] == []
    # the suite cancels two ops, whose answers still came
    assert metric(gw, LATE) >= before + 2


def test_redis_down_answers_at_once_and_recovers(gw, redis_server):
    redis_server.stop()
    try:
        wait_for(lambda: metric(gw, "microshop_redis_up") == 0, timeout=10,
                 what="the worker to see Redis gone")
        closed = metric(gw, CLOSED)
        t0 = time.monotonic()
        doc = selftest(gw)
        # the circuit is open: every op is answered at once, per the policy
        assert time.monotonic() - t0 < 2 * SLOW
        failed = {f["case"] for f in doc["failed"]}
        # stock, events and the admin ops refuse; rate limits and the
        # cache run on the node's zone (on_error=local)
        assert "stock_set_get" in failed, doc
        assert "gcra_allow_deny" not in failed, doc
        assert "inventory_put_get_drop" not in failed, doc
        assert "revoke" in failed, doc
        assert metric(gw, CLOSED) > closed
    finally:
        redis_server.start()
    # back by itself within the backoff, no reload; scripts loaded again
    connected(gw)
    doc = selftest(gw)
    assert doc["failed"] == [], doc


def test_logs_are_clean(gw):
    gw.stop()
    assert microshop.bad_log_lines(gw.error_log()) == []
