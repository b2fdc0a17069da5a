"""Gateway nodes on a Sentinel-managed primary (issue 13, "Sentinel").

t/redissentinel.py's SentinelSet: one primary, one replica, three
sentinels.  Two nginx instances (A and B, two workers each) are given
`microshop_redis redis+sentinel://S1,S2,S3/mymaster`: they ask a sentinel
for the primary, keep their state there, and follow a `SENTINEL failover`
to the new primary without a reload (docs/redis.md).  The nodes run with
on_error=closed, so a Redis operation that fails is a 503 a client sees
(with the default, rate limits would quietly fall back to the zone).

What a client sees is checked (status, headers, body), with what the
backend received and what the primary (asked straight, not through the
gateway) holds.  The failover test prints its figures (seconds to the first
success on the new primary, failed requests) for the issue's note.
"""

import concurrent.futures
import os
import threading
import time

import pytest

import microshop
import redisnodes
import redissentinel
from microshop import SLOW, http_session, mint, problem
from redisnodes import metrics, timed
from test_redis_nodes import checkout, once_stored, uid

pytestmark = redisnodes.skip_under_deferred()

BURST = 6
TIMEOUT = 0.3                  # timeout= of the nodes
MARGIN = 0.7 * SLOW            # what a request may take beyond it here
FOLLOW = 2.0 * SLOW            # the nodes move within this after a switch

CONF = """
microshop_zone name=shop size=8m;
microshop_jwt_key %(ec_pub)s kid=k1;
%(redis)s
microshop_rate_tier default rate=1r/m burst=%(burst)d;
microshop_rate_tier load rate=100000r/s burst=100000;

server {
    listen 127.0.0.1:%(port)d;
    proxy_connect_timeout 5s;
    proxy_read_timeout 20s;

    location = /status { microshop_status; }

    location /static/ { alias %(prefix)s/html/; }

    location /limited/ {
        microshop_auth on;
        microshop_rate_limit on;
        add_header X-Remaining $microshop_rate_remaining always;
        alias %(prefix)s/html/;
    }

    # the load of the failover test: an idempotent write whose upstream is
    # this nginx (the Python backend would be the bottleneck)
    location = /load {
        microshop_auth on;
        microshop_idempotency on;
        add_header X-Idempotency $microshop_idempotency always;
        proxy_pass http://127.0.0.1:%(up_port)d/created;
    }

    location ~ ^/v1/sellers/(?<seller>[^/]+)/ {
        microshop_auth on;
        microshop_seller $seller;
        microshop_idempotency on;
        add_header X-Idempotency $microshop_idempotency always;
        proxy_pass http://127.0.0.1:%(backend)d;
    }
}

server {
    listen 127.0.0.1:%(up_port)d;
    location = /created {
        default_type application/json;
        return 201 '{"status":"created"}';
    }
}
"""


# ------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def sentinel(tmp_path_factory):
    s = redissentinel.SentinelSet(tmp_path_factory.mktemp("sentinel"))
    yield s
    s.stop_all()


@pytest.fixture(scope="module")
def render(keys, backend):
    def render(n, url, on_error="closed"):
        n.write_file("html/a.txt", "a\n")
        return CONF % {"port": n.port, "prefix": n.prefix,
                       "up_port": microshop.free_port(),
                       "backend": backend.port, "burst": BURST,
                       "ec_pub": keys.ec256_public_pem,
                       "redis": redisnodes.directive(url, on_error=on_error)}
    return render


@pytest.fixture(scope="module")
def nodes(nginx, render, sentinel):
    """Nodes A and B, two workers each, connected to the primary."""
    found = redisnodes.start_nodes(nginx, 2,
                                   lambda n: render(n, sentinel.url()),
                                   workers=2, wait_up=False)
    for n in found:
        redissentinel.wait_ready(n)
    return found


def tok(keys, seller="s1", **kw):
    return mint(keys, kid="k1", seller=seller, **kw)


def idem_key(seller, key):
    return "ms:{%s}:idem:%s" % (seller, key)


# ------------------------------------------------------------ shared state

def test_nodes_find_the_primary_through_the_sentinels(nodes, sentinel):
    primary = sentinel.primary()
    for n in nodes:
        m = metrics(n)
        assert m["microshop_redis_up"] == 1, m
        assert m["microshop_redis_revocations_loaded"] == 1, m
        # the data node it connected to is the primary the sentinels name
        assert m.get(redissentinel.node_label(primary.port)) == 1, {
            k: v for k, v in m.items() if "node_up" in k}
        assert m.get(redissentinel.node_label(sentinel.replica().port),
                     0) == 0, m
        assert m.get("microshop_redis_failovers_total") == 0, m


def test_burst_is_spent_across_nodes(nodes, keys, sentinel):
    a, b = nodes
    seller = uid("rl-")
    t = tok(keys, seller)
    answers = [n.get("/limited/a.txt", token=t) for n in [a, b] * 5]
    codes = [resp.status_code for resp in answers]
    # one burst for the seller, not one per node (12) nor none (10)
    assert codes == [200] * BURST + [429] * (10 - BURST), \
        [(x.status_code, x.text[:100]) for x in answers]
    remaining = [int(x.headers["X-Remaining"]) for x in answers]
    assert remaining == [5, 4, 3, 2, 1, 0, 0, 0, 0, 0], remaining
    for resp in answers[BURST:]:
        problem(resp, "rate-limited")

    # the bucket is on the primary (and replicated to the replica)
    key = "ms:{%s}:rate" % seller
    r = sentinel.client(decode_responses=True)
    assert r.exists(key), r.keys("ms:{rl-*")
    microshop.wait_for(lambda: sentinel.replica().client().exists(key),
                       timeout=2, what="the bucket on the replica")


def test_retry_on_the_other_node_replays(nodes, keys, backend, clean,
                                         sentinel):
    a, b = nodes
    t = tok(keys)
    key = uid("snt-")
    first = checkout(a, t, key)
    assert first.status_code == 201, first.text
    assert first.headers["X-Idempotency"] == "new"

    again, waited = once_stored(lambda: checkout(b, t, key))
    assert again.status_code == 201, (again.status_code, again.text, waited)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["X-Idempotency"] == "replay"
    assert again.content == first.content
    assert again.headers["Location"] == first.headers["Location"]
    assert backend.count("POST /v1/sellers/s1/checkout") == 1

    r = sentinel.client()
    record = r.hgetall(idem_key("s1", key))
    assert record, r.keys("ms:{s1}:idem:*")
    assert b"r" in record, record         # the stored answer


# ------------------------------------------------------------ failover

def test_failover_under_load(nodes, keys, sentinel):
    """SENTINEL failover while 8 clients send writes to both nodes: the
    nodes move to the new primary by themselves (same master, same
    workers), no request waits past timeout=, and the writes after the
    switch are on the new primary."""
    a, b = nodes
    before = {n: (n.master_pid, n.worker_pids(), metrics(n)) for n in nodes}
    seller = uid("fo-")
    t = tok(keys, seller, tier="load")
    auth = {"Authorization": "Bearer " + t}
    stop = threading.Event()
    results = []        # (node, key or None, start, seconds, answer)

    def load(i):
        n = nodes[i % 2]
        with http_session() as s:
            j = 0
            while not stop.is_set():
                j += 1
                start = time.monotonic()
                if j % 2:
                    key = "k%d-%d" % (i, j)
                    seconds, resp = timed(
                        s.post, n.url("/load"), data=b"{}", timeout=10,
                        headers=dict(auth, **{
                            "Idempotency-Key": key,
                            "Content-Type": "application/json"}))
                else:
                    key = None
                    seconds, resp = timed(s.get, n.url("/limited/a.txt"),
                                          headers=auth, timeout=10)
                results.append((n, key, start, seconds, resp))

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        running = [pool.submit(load, i) for i in range(8)]
        try:
            time.sleep(0.5)
            old, new, sent, took = sentinel.failover()
            switched = sent + took
            time.sleep(FOLLOW + 1.0)
        finally:
            stop.set()
        for f in running:
            f.result()

    old_r, new_r = sentinel.node(old).client(), sentinel.node(new).client()
    assert new_r.execute_command("ROLE")[0] == "master"
    errors = [r for r in results if isinstance(r[4], Exception)]
    assert errors == [], errors[:3]
    slowest = max(r[3] for r in results)
    assert slowest <= TIMEOUT + MARGIN, "a request waited %.3f s" % slowest
    failed = [r for r in results if r[4].status_code != (201 if r[1] else 200)]
    for r in failed:
        # a Redis op that failed: the outage answer, nothing else
        assert r[4].status_code == 503, (r[4].status_code, r[4].text[:200])
        problem(r[4], "store-unavailable")

    # every write after the switch (and FOLLOW) is on the new primary;
    # acknowledged writes missing there went to the old primary after the
    # promotion (lost when Sentinel makes it a replica, docs/redis.md)
    writes = [r for r in results if r[1] and r[4].status_code == 201]
    on_new = {r[1]: new_r.exists(idem_key(seller, r[1])) for r in writes}
    lost = [r for r in writes if not on_new[r[1]]]
    late = [r for r in lost if r[2] > switched + FOLLOW]
    assert late == [], "%d writes after the switch were not on the new " \
        "primary, the first started %.3f s after it" % (
            len(late), late[0][2] - switched)
    first = min((r[2] + r[3] for r in writes
                 if r[2] > switched and on_new[r[1]]), default=None)
    assert first is not None, "no write reached the new primary"
    after = [r for r in results if r[2] > switched + FOLLOW]
    assert after and all(r[4].status_code in (200, 201) for r in after), \
        [(r[4].status_code, r[4].text[:100]) for r in after
         if r[4].status_code not in (200, 201)][:3]
    assert {r[0] for r in after} == {a, b}
    # commands to the old primary pause from the promotion on
    # (docs/redis.md "Sentinel"): no acknowledged write is lost there
    assert lost == [], "%d acknowledged writes are not on the new primary, " \
        "the first started %.3f s after the failover was asked" % (
            len(lost), lost[0][2] - sent)

    # a write through each node now: on the new primary, not the old one
    # (while the old one is still a master of its own: Sentinel converts it
    # some seconds after the failover)
    for n in nodes:
        key = uid("after-")
        resp = n.post("/load", token=t, data=b"{}", headers={
            "Idempotency-Key": key, "Content-Type": "application/json"})
        assert resp.status_code == 201, resp.text
        assert new_r.exists(idem_key(seller, key)), key
        if old_r.execute_command("ROLE")[0] == "master":
            assert not old_r.exists(idem_key(seller, key)), key

    for n in nodes:
        master_pid, pids, m0 = before[n]
        # no reload, no worker replaced
        assert n.master_pid == master_pid and n.worker_pids() == pids, \
            (pids, n.worker_pids())
        assert "exited on signal" not in n.error_log()
        m = metrics(n)
        assert m["microshop_redis_up"] == 1, m
        # one move, counted once over the workers
        assert m["microshop_redis_failovers_total"] == \
            m0["microshop_redis_failovers_total"] + 1, m
        # per node: the move to the new primary
        assert m.get('microshop_redis_node_failovers_total'
                     '{node="127.0.0.1:%d"}' % new) == 1, m
        assert m.get(redissentinel.node_label(new)) == 1, {
            k: v for k, v in m.items() if "node_up" in k}
        # every worker says it moved (docs/redis.md "Sentinel")
        moved = [line for line in n.error_log(n.log_offset).splitlines()
                 if "[notice]" in line and "the primary moved from "
                 "127.0.0.1:%d to 127.0.0.1:%d" % (old, new) in line]
        assert len(moved) == n.workers, moved

    print("failover: the sentinels named the new primary %.3f s after "
          "SENTINEL failover; first success on it after %.3f s (%.3f s "
          "after the switch); %d of %d requests failed (503), %d "
          "acknowledged writes went to the old primary after the promotion"
          % (took, first - sent, first - switched, len(failed), len(results),
             len(lost)))


# ------------------------------------------------------------ unknown master

def test_unknown_master_starts_refuses_and_does_not_spin(nginx, render, keys,
                                                         sentinel):
    """A master name the sentinels do not know: the node starts (Redis is
    not needed to start), answers per the outage policy at once, says so
    once in its log, and asks again now and then, not in a loop
    (docs/redis.md "Sentinel": every 5 s)."""
    url = sentinel.url(master="nosuchmaster")
    n = nginx.new()
    n.start(render(n, url, on_error="local"), workers=1)
    t = tok(keys, uid("nm-"))
    time.sleep(0.5)

    m0, stats0 = metrics(n), sentinel.sentinel_stats()
    cpu0 = cpu_seconds(n.worker_pids())
    time.sleep(2.0)
    m1, stats1 = metrics(n), sentinel.sentinel_stats()
    cpu1 = cpu_seconds(n.worker_pids())

    assert m1["microshop_redis_up"] == 0, m1
    # the revocations were never loaded: authenticated requests are refused
    assert m1["microshop_redis_revocations_loaded"] == 0, m1
    for path in ("/limited/a.txt",):
        seconds, resp = timed(n.get, path, token=t)
        assert resp.status_code == 503, (resp.status_code, resp.text[:200])
        problem(resp, "store-unavailable")
        assert seconds < TIMEOUT, seconds
    seconds, resp = timed(n.post, "/load", token=t, data=b"{}", headers={
        "Idempotency-Key": uid("nm-"), "Content-Type": "application/json"})
    assert resp.status_code == 503, (resp.status_code, resp.text[:200])
    assert seconds < TIMEOUT, seconds
    # what needs no Redis is served
    assert n.get("/static/a.txt").text == "a\n"

    # bounded: a few tries in 2 s at most (a reconnect backs off from
    # 100 ms, doubling; the sentinels are asked again every 5 s), each of
    # which may ask the three sentinels
    tries = (m1.get("microshop_redis_reconnects_total", 0)
             - m0.get("microshop_redis_reconnects_total", 0))
    connections = stats1["connections"] - stats0["connections"]
    commands = stats1["commands"] - stats0["commands"]
    print("unknown master, over 2 s: %d reconnects, %d connections and %d "
          "commands on the sentinels, %.3f s of CPU"
          % (tries, connections, commands, cpu1 - cpu0))
    assert tries <= 8, (m0, m1)
    assert connections <= 18, (stats0, stats1)
    assert commands <= 200, (stats0, stats1)
    assert cpu1 - cpu0 <= 0.2 * SLOW, cpu1 - cpu0

    log = [line for line in n.error_log().splitlines()
           if 'does not know master "nosuchmaster"' in line
           and "[error]" in line]
    assert log, n.error_log()[-2000:]
    # once (one worker), not once per try
    assert len(log) == 1, log
    n.stop()


def cpu_seconds(pids):
    """User + system CPU time of these processes, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / tick


def test_logs_are_clean(nodes):
    for n in nodes:
        assert microshop.bad_log_lines(n.error_log(), n.allow_log) == []
