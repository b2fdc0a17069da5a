"""A Redis Cluster primary killed under load (issue 13, "Tests" and
"Measured").

3 primaries with a replica each, cluster-node-timeout 1000 ms
(t/rediscluster.py); two gateway nodes A and B (`microshop_redis
redis+cluster://... timeout=300ms`, on_error=local, the default
on_store_error).  A thread pool sends steady load to both nodes for a
seller on every primary: idempotent checkouts (a fresh key each: they need
Redis, and fail as 503 store-unavailable when it is away) and rate-limited
GETs (on_error=local: this node's zone answers when Redis does not).  Then
the primary of one seller is killed with SIGKILL.  What the test checks,
from docs/redis.md ("When Redis is down", the Cluster client):

- its replica is promoted, and the gateway follows: the first checkout of
  that seller that succeeds after the kill comes within a few seconds of
  the promotion; the figures (kill to promotion, kill to the first
  success, failed requests) are printed for the note;
- failures only for that seller, only in that window, each a 503
  problem+json store-unavailable; the rate-limited GETs never fail (the
  fallback answers them);
- no request waits longer than timeout= plus a margin;
- the sellers of the other primaries never see a failure;
- no worker crashed (same pids; the nginx fixture fails the module on a
  crash in an error log), and microshop_redis_failovers_total >= 1.
"""

import threading
import time

import pytest

import microshop
import rediscluster
import redisnodes
from microshop import SLOW
from rediscluster import node_metric, seller_key, wait_cluster_ready
from redisnodes import metrics, timed
from test_redis_nodes import ORDER, tok, uid
# the nodes of the single-Redis outage tests, their checks of an answer
from test_redis_outage import CONF, no_crash, unavailable

pytestmark = redisnodes.skip_under_deferred()

TIMEOUT = 0.3                  # timeout= of the nodes
MARGIN = 0.7 * SLOW            # what a request may take beyond it here
NODE_TIMEOUT_MS = 1000         # cluster-node-timeout
FOLLOW = 2.0 * SLOW            # promotion to the gateway's first success
AFTER = 1.0                    # load after the gateway followed

FALLBACK = 'microshop_redis_fallbacks_total{answer="local"}'

# what the kill left for the next test: the dead and the promoted port,
# the victim seller
KILLED = {}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = rediscluster.RedisCluster(tmp_path_factory.mktemp("cluster"),
                                  primaries=3, replicas=1,
                                  node_timeout_ms=NODE_TIMEOUT_MS)
    yield c
    c.stop()


@pytest.fixture(scope="module")
def nodes(nginx, keys, backend, cluster):
    """A and B, two workers each, the first two primaries as seeds."""
    started = []
    for _ in range(2):
        n = nginx.new()
        n.write_file("html/a.txt", "a\n")
        n.start(CONF % {"port": n.port, "prefix": n.prefix,
                        "backend": backend.port,
                        "ec_pub": keys.ec256_public_pem,
                        "redis": redisnodes.directive(
                            cluster.seeds_url(), on_error="local"),
                        "extra": ""}, workers=2)
        started.append(n)
    for n in started:
        wait_cluster_ready(n)
    return started


def victim_primary(cluster):
    """A primary to kill: one that owns no global key (ms:revoked,
    ms:watermarks, ms:sellers:holds), so what fails is one seller's state
    only; of those,
    one the gateway's workers listen on (their pub/sub connections) when
    there is one, so the kill moves the listening too."""
    globals_ = {cluster.owner_of(k) for k in ("ms:revoked", "ms:watermarks",
                                              "ms:sellers:holds")}
    candidates = [p for p in cluster.primaries() if p not in globals_]
    listened = [p for p in candidates if any(
        int(c.get("sub", 0)) > 0
        for c in cluster.node(p).client().client_list())]
    return (listened or candidates)[0]


class Load:
    """For every (node, seller, kind) a thread that sends requests one
    after another until stop(): kind "idem" an idempotent checkout with a
    fresh key, "rate" a rate-limited GET.  results: (node, seller, kind,
    start, seconds, answer, key)."""

    def __init__(self, nodes, keys, sellers):
        # the load tier: a burst no test spends
        self.tokens = {s: tok(keys, s, tier="load") for s in sellers}
        self.results = []
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self.run,
                                         args=(n, s, kind))
                        for n in nodes for s in sellers
                        for kind in ("idem", "rate")]
        for th in self.threads:
            th.start()

    def run(self, n, seller, kind):
        auth = {"Authorization": "Bearer " + self.tokens[seller]}
        with microshop.http_session() as s:
            while not self.done.is_set():
                key = uid("fo-") if kind == "idem" else None
                # start is taken before the request, start + seconds after
                # its answer: with a dozen threads on the GIL, a thread may
                # wait milliseconds between any two lines, and an end read
                # as start + (its own timing) could fall before the kill
                start = time.monotonic()
                if kind == "idem":
                    _, resp = timed(
                        s.post, n.url("/v1/sellers/%s/checkout" % seller),
                        json=ORDER, timeout=10,
                        headers=dict(auth, **{"Idempotency-Key": key}))
                else:
                    _, resp = timed(s.get, n.url("/limited/a.txt"),
                                    headers=auth, timeout=10)
                seconds = time.monotonic() - start
                self.results.append((n, seller, kind, start, seconds, resp,
                                     key))
                if isinstance(resp, Exception):
                    time.sleep(0.05)

    def stop(self):
        self.done.set()
        for th in self.threads:
            th.join()


def ok(kind, resp):
    return not isinstance(resp, Exception) and resp.status_code == (
        201 if kind == "idem" else 200)


def test_primary_killed_under_load(nodes, keys, backend, clean, cluster):
    dead = victim_primary(cluster)
    replicas = cluster.replicas_of(dead)
    assert replicas, cluster.describe()
    by_owner = cluster.sellers_by_owner(1, "fo")
    victim = by_owner[dead][0]
    others = [s for p, (s,) in by_owner.items() if p != dead]
    sellers = [victim] + others
    for s in sellers:
        backend.set_item(s, "A1", available=10 ** 6, version=1)
    pids = {n: n.worker_pids() for n in nodes}
    before = {n: metrics(n) for n in nodes}

    load = Load(nodes, keys, sellers)
    try:
        time.sleep(0.5)
        # killed: just before the signal; dead: the process is gone, what
        # starts after it cannot be served by it
        killed = cluster.kill(dead)
        gone = time.monotonic()
        promoted, promotion = cluster.wait_failover(dead, since=killed)
        # load goes on until the gateway follows, and a while after
        deadline = time.monotonic() + FOLLOW + AFTER

        def followed():
            return any(s == victim and k == "idem" and start > gone
                       and ok(k, r)
                       for _, s, k, start, _, r, _ in list(load.results))

        while not followed() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(AFTER)
    finally:
        load.stop()

    assert promoted in replicas, (promoted, replicas)
    KILLED.update(dead=dead, promoted=promoted, victim=victim)
    results = load.results
    firsts = [start + seconds for _, s, k, start, seconds, r, _ in results
              if s == victim and k == "idem" and start > gone
              and ok(k, r)]
    assert firsts, "no checkout of %s succeeded after the kill (%.1f s " \
        "after the promotion)" % (victim, FOLLOW + AFTER)
    first = min(firsts) - killed
    failed = [r for r in results if not ok(r[2], r[5])]
    print("\nprimary %d killed: replica %d promoted after %.2f s, first "
          "checkout on it after %.2f s; %d of %d requests failed "
          "(%d checkouts of the victim seller)"
          % (dead, promoted, promotion, first, len(failed), len(results),
             sum(1 for r in results if r[1] == victim and r[2] == "idem")))
    assert first <= promotion + FOLLOW, (first, promotion)

    # nobody waited past timeout= (plus the margin of a busy machine)
    slowest = max(r[4] for r in results)
    assert slowest <= TIMEOUT + MARGIN, "a request waited %.3f s" % slowest

    # failures: the victim's checkouts only, between the kill and the
    # gateway's following, each a 503 problem+json
    for n, s, k, start, seconds, resp, key in failed:
        what = (n.url(), s, k, "%+.3f s after the kill" % (start - killed),
                "%.3f s" % seconds, getattr(resp, "status_code", resp),
                getattr(resp, "text", "")[:300])
        assert s == victim and k == "idem", what
        assert not isinstance(resp, Exception), what
        assert start + seconds > killed, \
            "failed before the kill: %r\n%s\nthe node's error log:\n%s" % (
                what[:6], getattr(resp, "text", ""), n.error_log()[-4000:])
        assert start < killed + first + FOLLOW, what
        unavailable(resp)
    # every checkout that succeeded ran once, and its key is on the owner
    # of its slot now (the promoted replica for the victim)
    done = [r for r in results if r[2] == "idem" and ok("idem", r[5])]
    for s in sellers:
        assert backend.count("POST /v1/sellers/%s/checkout" % s) == \
            sum(1 for r in done if r[1] == s), s
    last = max((r for r in done if r[1] == victim), key=lambda r: r[3])
    key = seller_key(victim, "idem", last[6])
    assert cluster.owner_of(key) == promoted
    assert cluster.on_owner(key).exists(key), key

    # no worker died; the module counted the failover and the fallbacks
    for n in nodes:
        no_crash(n, pids[n])
        m = metrics(n)
        assert m["microshop_redis_failovers_total"] >= 1, m
        assert m["microshop_redis_slot_refreshes_total"] > \
            before[n]["microshop_redis_slot_refreshes_total"]
        # per node: the one that lost its slots, counted once over the
        # workers; the maps came from the survivors, never from the dead
        assert node_metric(m, "microshop_redis_node_failovers_total",
                           dead) == 1, m
        assert node_metric(m, "microshop_redis_node_failovers_total",
                           promoted, default=0) == 0
        refreshed = {p: node_metric(m, "microshop_redis_node_slot_"
                                    "refreshes_total", p, default=0)
                     for p in cluster.primaries() + [dead]}
        assert sum(refreshed.values()) == \
            m["microshop_redis_slot_refreshes_total"], refreshed
        assert node_metric(m, "microshop_redis_node_up", promoted) == 1
        assert node_metric(m, "microshop_redis_node_up", dead, default=0) \
            == 0
        assert m["microshop_redis_up"] == 1
    victim_gets = [r for r in results if r[1] == victim and r[2] == "rate"
                   and killed < r[3] < killed + promotion]
    assert victim_gets, "no GET of the victim seller during the outage"
    assert sum(metrics(n)[FALLBACK] - before[n][FALLBACK] for n in nodes) \
        > 0, "the GETs during the outage were not answered by the fallback"


def test_old_primary_back_as_a_replica(nodes, keys, backend, clean,
                                       cluster):
    """The killed primary restarts and rejoins as a replica of the one that
    took over: the gateway keeps writing to the new primary and does not
    connect to the old one (a replica refuses writes)."""
    if not KILLED:
        pytest.skip("the kill test did not run")
    dead, promoted, victim = (KILLED[k] for k in ("dead", "promoted",
                                                  "victim"))
    cluster.restart(dead)
    # it rejoins through the cluster bus: known as a replica a moment later
    try:
        microshop.wait_for(lambda: cluster.replicas_of(promoted) == [dead],
                           timeout=10, what="the old primary a replica")
    except TimeoutError:
        raise AssertionError(cluster.describe())
    backend.set_item(victim, "A1", available=100, version=1)
    before = {n: metrics(n) for n in nodes}
    t = tok(keys, victim)
    for n in nodes * 3:
        resp = n.post("/v1/sellers/%s/checkout" % victim, token=t,
                      json=ORDER, headers={"Idempotency-Key": uid("back-")})
        assert resp.status_code == 201, (resp.status_code, resp.text[:300])
    for n in nodes:
        m = metrics(n)
        assert node_metric(m, "microshop_redis_node_up", dead,
                           default=0) == 0, m
        for kind in ("moved", "ask", "tryagain", "clusterdown"):
            key = 'microshop_redis_redirects_total{kind="%s"}' % kind
            assert m[key] == before[n][key], (key, m[key])


def test_failover_back_to_the_old_primary(nodes, keys, backend, clean,
                                          cluster):
    """CLUSTER FAILOVER on the old primary (a replica since it came back)
    makes it the primary again: the gateway, which had stopped
    reconnecting to it (not a primary), follows the MOVED and the map to
    it at once, and its writes land there (docs/redis.md "Redis
    Cluster")."""
    if not KILLED:
        pytest.skip("the kill test did not run")
    dead, promoted, victim = (KILLED[k] for k in ("dead", "promoted",
                                                  "victim"))
    if cluster.replicas_of(promoted) != [dead]:
        pytest.skip("the old primary is not back as a replica")
    assert cluster.node(dead).call("CLUSTER", "FAILOVER") in ("OK", b"OK")
    # the switch is asynchronous: it is a primary first, then settled (the
    # harness' WAIT on a primary being demoted would be unblocked)
    microshop.wait_for(lambda: cluster.node(dead).client()
                       .execute_command("ROLE")[0] in ("master", b"master"),
                       timeout=10, what="the old primary a primary again")
    cluster.wait_ok()
    assert cluster.owner(cluster.seller_slot(victim)) == dead, \
        cluster.describe()
    backend.set_item(victim, "A1", available=100, version=1)
    t = tok(keys, victim)
    written = []
    for n in nodes * 3:
        key = uid("again-")
        resp = n.post("/v1/sellers/%s/checkout" % victim, token=t,
                      json=ORDER, headers={"Idempotency-Key": key})
        # the first command to it waits for the connect: no 503
        assert resp.status_code == 201, (resp.status_code, resp.text[:300])
        written.append(key)
    on_dead = cluster.node(dead).client()
    for key in written:
        assert on_dead.exists(seller_key(victim, "idem", key)), key
    for n in nodes:
        assert node_metric(metrics(n), "microshop_redis_node_up", dead,
                           default=0) == 1
