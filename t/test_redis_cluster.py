"""Two gateway nodes on a 3-primary Redis Cluster behave as one (issue 13,
"Tests").

The exactness tests of t/test_redis_nodes.py over `microshop_redis
redis+cluster://...` (docs/redis.md): rate limits, idempotency, revocations
and stock agree across the nodes A and B for sellers whose slots are on
each of the three primaries (t/rediscluster.py sellers_by_owner), and every
seller's keys are on the primary that owns its slot, read straight from
that primary.  Node A has two primaries as seeds, node B the third only:
seeds may be any subset of the nodes.  Then a seller's slot is moved to
another primary under load (the resharding protocol, with traffic while
the slot is open and while it is half-moved: ASK, TRYAGAIN, then MOVED):
no client sees an error, nothing runs twice and no key is lost.  Last, a
primary without a replica is killed: only its sellers get the outage
answer, and they are served again once it is back.
"""

import concurrent.futures
import threading
import time

import pytest

import microshop
import rediscluster
import redisnodes
import test_redis_nodes
from microshop import SLOW, admin, problem, set_stock, stock
from rediscluster import node_metric, seller_key, wait_cluster_ready
from redisnodes import metrics
from test_redis_nodes import (ORDER, checkout, once_stored, redis_key_state,
                              tok, uid)

pytestmark = redisnodes.skip_under_deferred()

BURST = 6
LOAD_BURST = 100000

# the node of t/test_redis_nodes.py, with a tier for the load (a burst no
# test spends)
CONF = test_redis_nodes.CONF + """
microshop_rate_tier load rate=1r/m burst=%(load_burst)d;
"""

MOVED = 'microshop_redis_redirects_total{kind="moved"}'
ASK = 'microshop_redis_redirects_total{kind="ask"}'
TRYAGAIN = 'microshop_redis_redirects_total{kind="tryagain"}'


# ------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = rediscluster.RedisCluster(tmp_path_factory.mktemp("cluster"),
                                  primaries=3)
    yield c
    c.stop()


@pytest.fixture(scope="module")
def nodes(nginx, keys, backend, cluster):
    """Nodes A (seeds: the first two primaries) and B (seed: the third),
    two workers each, both ready on the cluster."""
    primaries = cluster.primaries()
    seeds = [cluster.seeds_url(ports=primaries[:2]),
             cluster.seeds_url(ports=primaries[2:])]
    started = []
    for url in seeds:
        n = nginx.new()
        n.write_file("html/a.txt", "a\n")
        n.write_file("conf/webhook.secret", test_redis_nodes.SECRET)
        n.start(CONF % {"port": n.port, "prefix": n.prefix,
                        "backend": backend.port, "burst": BURST,
                        "load_burst": LOAD_BURST,
                        "ec_pub": keys.ec256_public_pem,
                        "redis": redisnodes.directive(url)}, workers=2)
        started.append(n)
    for n in started:
        wait_cluster_ready(n)
    return started


def remaining(resp):
    rl = resp.headers["RateLimit"]
    return int(rl.split(";r=")[1].split(";")[0])


def owner_holds(cluster, key):
    """(type, value) of key as its owning primary holds it, read from that
    primary with a plain client (no redirect followed)."""
    return redis_key_state(cluster.on_owner(key), key)


def assert_on_owner(cluster, key, kind):
    """key is on the primary that owns its slot, of type kind; returns its
    value there."""
    got, value = owner_holds(cluster, key)
    slot = cluster.slot_of(key)
    assert got == kind, "%s (slot %d) on its owner %d: %s %r" % (
        key, slot, cluster.owner(slot), got, value)
    return value


# ------------------------------------------------------------ connected

def test_every_primary_is_used_and_redirects_none(nodes, keys, cluster):
    """Before anything moves: a seller on each primary is served by every
    node, each worker's connection to that primary is up, and no command
    was ever redirected (the module's slot of every key is Redis' own)."""
    sellers = cluster.sellers_by_owner(2)
    for port, names in sellers.items():
        for seller in names:
            t = tok(keys, seller)
            for n in nodes * 2:
                assert n.get("/limited/a.txt", token=t).status_code == 200
            assert_on_owner(cluster, seller_key(seller, "rate"), "string")
    for n in nodes:
        m = metrics(n)
        assert m["microshop_redis_up"] == 1, m
        assert m["microshop_redis_slot_refreshes_total"] >= 1, m
        assert m["microshop_redis_revocations_loaded"] == 1, m
        for port in cluster.primaries():
            assert node_metric(m, "microshop_redis_node_up", port) == 1
            # lazily opened, one per worker that needed it
            assert 1 <= node_metric(m, "microshop_redis_node_connections",
                                    port) <= n.workers
            assert node_metric(m, "microshop_redis_node_errors_total",
                               port) == 0
        # at least one command connection per worker, at most one per
        # worker and primary
        assert n.workers <= m["microshop_redis_connections"] <= 3 * n.workers
        for kind in ("moved", "ask", "tryagain", "clusterdown"):
            key = 'microshop_redis_redirects_total{kind="%s"}' % kind
            assert m[key] == 0, (n.url(), key, m[key])


# ------------------------------------------------------------ rate limits

def test_burst_is_spent_across_nodes_on_every_primary(nodes, keys, cluster):
    a, b = nodes
    for port, (seller,) in cluster.sellers_by_owner(1).items():
        t = tok(keys, seller)
        answers = [n.get("/limited/a.txt", token=t) for n in [a, b] * 5]
        codes = [resp.status_code for resp in answers]
        # one burst for the seller, not one per node nor per worker
        assert codes == [200] * BURST + [429] * (10 - BURST), (port, codes)
        for resp in answers[BURST:]:
            problem(resp, "rate-limited")
        assert [remaining(x) for x in answers] == \
            [5, 4, 3, 2, 1, 0, 0, 0, 0, 0], port
        tat = assert_on_owner(cluster, seller_key(seller, "rate"), "string")
        assert int(tat) > 0, tat


# ------------------------------------------------------------ idempotency

def test_retry_on_the_other_node_replays(nodes, keys, backend, clean,
                                         cluster):
    a, b = nodes
    for port, (seller,) in cluster.sellers_by_owner(1, "idem").items():
        backend.set_item(seller, "A1", available=100, version=1)
        t = tok(keys, seller)
        key = uid("xnode-")
        first = checkout(a, t, key, seller=seller)
        assert first.status_code == 201, (port, first.text)
        assert first.headers["X-Idempotency"] == "new"

        again, waited = once_stored(
            lambda: checkout(b, t, key, seller=seller))
        assert again.status_code == 201, (port, again.text, waited)
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.headers["X-Idempotency"] == "replay"
        assert again.content == first.content
        route = "POST /v1/sellers/%s/checkout" % seller
        assert backend.count(route) == 1
        assert backend.item(seller, "A1")["available"] == 99

        record = assert_on_owner(cluster, seller_key(seller, "idem", key),
                                 "hash")
        assert record.get("r"), record        # the stored answer

        # the same key with another body, on B: refused, not executed
        other = {"items": [{"sku": "A1", "quantity": 2}]}
        resp = checkout(b, t, key, body=other, seller=seller)
        assert resp.status_code == 422, resp.text
        problem(resp, "idempotency-key-reused")
        assert backend.count(route) == 1


def test_concurrent_duplicates_over_two_nodes_execute_once(nodes, keys,
                                                           backend, clean,
                                                           cluster):
    sellers = cluster.sellers_by_owner(1, "dup")
    backend.mode(delay=1.0, path_prefix="/v1/sellers/dup")
    plan = []                                    # (seller, key, token)
    for port, (seller,) in sellers.items():
        backend.set_item(seller, "A1", available=100, version=1)
        plan.append((seller, uid("burst-"), tok(keys, seller)))

    def one(i):
        seller, key, t = plan[i % len(plan)]
        return seller, checkout(nodes[i // len(plan) % 2], t, key,
                              seller=seller)

    with concurrent.futures.ThreadPoolExecutor(30) as pool:
        answers = list(pool.map(one, range(60)))
    backend.mode()
    for seller, key, t in plan:
        seen = {}                  # X-Idempotency (or in-progress): answers
        for s, x in answers:
            if s != seller:
                continue
            if x.status_code == 409:
                problem(x, "idempotency-in-progress")
                assert x.headers["Retry-After"] == "1"
                seen.setdefault("in-progress", []).append(x)
            else:
                assert x.status_code == 201, (x.status_code, x.text)
                seen.setdefault(x.headers["X-Idempotency"], []).append(x)
        counts = {k: len(v) for k, v in seen.items()}
        # one ran, the others found it running or replayed its answer
        assert counts.get("new") == 1, (seller, counts)
        assert counts.get("in-progress"), (seller, counts)
        assert set(counts) <= {"new", "in-progress", "replay"}, counts
        new = seen["new"][0]
        for x in seen.get("replay", []):
            assert x.headers["Idempotent-Replayed"] == "true"
            assert x.content == new.content
        assert backend.count("POST /v1/sellers/%s/checkout" % seller) == 1
        for n in nodes:
            resp, waited = once_stored(
                lambda: checkout(n, t, key, seller=seller))
            assert resp.status_code == 201, (resp.text, waited)
            assert resp.content == new.content
        assert backend.count("POST /v1/sellers/%s/checkout" % seller) == 1


# ------------------------------------------------------------ revocations

def test_revocation_on_one_node_is_refused_on_the_other(nodes, keys,
                                                        cluster):
    a, b = nodes
    jti = uid("rev-")
    seller = cluster.sellers_by_owner(1)[cluster.primaries()[0]][0]
    t = tok(keys, seller, jti=jti)
    exp = int(time.time()) + 300
    for n in (a, b, a, b):
        assert n.get("/auth/a.txt", token=t).status_code == 200

    resp = a.post("/admin/revocations", token=admin(keys),
                  json={"jti": jti, "exp": exp})
    assert resp.status_code == 204, resp.text
    revoked = time.monotonic()
    refused = microshop.wait_for(
        lambda: b.get("/auth/a.txt", token=t).status_code == 401
        and time.monotonic() - revoked, timeout=1.0, interval=0.05,
        what="B to refuse the token revoked on A")
    print("B refused the token revoked on A after %.3f s" % refused)
    problem(b.get("/auth/a.txt", token=t), "invalid-token")
    for n in (a, b, a, b, a, b):
        assert n.get("/auth/a.txt", token=t).status_code == 401
    assert b.get("/auth/a.txt", token=tok(keys, seller)).status_code == 200
    # the global set, on the primary that owns its slot
    assert cluster.on_owner("ms:revoked").zscore("ms:revoked", jti) == exp


def test_a_watermark_on_one_node_is_refused_on_the_other(nodes, keys,
                                                         cluster):
    """A watermark (docs/tokens.md "Revocation") goes to ms:watermarks,
    a global key on the primary that owns its slot, and to every node
    through ms:watermark; a child of a revoked parent too."""
    a, b = nodes
    seller = cluster.sellers_by_owner(1, "wm")[cluster.primaries()[-1]][0]
    now = int(time.time())
    old = tok(keys, seller, iat=now - 100)
    parent = uid("par-")
    child = tok(keys, seller, parent_jti=parent)
    for n in (a, b):
        assert n.get("/auth/a.txt", token=old).status_code == 200
        assert n.get("/auth/a.txt", token=child).status_code == 200

    for body in ({"seller": seller, "issued_before": now - 50},
                 {"jti": parent, "exp": now + 300}):
        resp = a.post("/admin/revocations", token=admin(keys), json=body)
        assert resp.status_code == 204, resp.text
    microshop.wait_for(
        lambda: b.get("/auth/a.txt", token=old).status_code == 401
        and b.get("/auth/a.txt", token=child).status_code == 401,
        timeout=1.0, interval=0.05, what="B to refuse both")
    assert b.get("/auth/a.txt", token=tok(keys, seller, iat=now)) \
        .status_code == 200
    # no token class in this gateway: kept for ever (until 0)
    field = cluster.on_owner("ms:watermarks").hget("ms:watermarks",
                                                   seller + "\n")
    assert field == "%d 0" % (now - 50), field


# ------------------------------------------------------------ stock

def test_stock_is_shared_and_never_oversold(nodes, keys, backend, clean,
                                            cluster):
    a, b = nodes
    sellers = [s for (s,) in cluster.sellers_by_owner(1, "drop").values()]
    sku = uid("X")
    for seller in sellers:
        backend.set_item(seller, sku, available=1000, version=1)
        set_stock(a, keys, seller, sku, 10)
        assert stock(b, keys, seller, sku) == {"available": 10, "held": 0}
    backend.mode(delay=0.05, path_prefix="/v1/sellers/drop")
    buyers = {s: tok(keys, s, scope="orders:write") for s in sellers}

    def one(i):
        seller = sellers[i % len(sellers)]
        return seller, nodes[i // len(sellers) % 2].post(
            "/v1/sellers/%s/checkout" % seller, token=buyers[seller],
            json={"items": [{"sku": sku, "quantity": 1}]})

    with concurrent.futures.ThreadPoolExecutor(30) as pool:
        answers = list(pool.map(one, range(40 * len(sellers))))
    backend.mode()
    for seller in sellers:
        codes = sorted(x.status_code for s, x in answers if s == seller)
        assert codes.count(201) == 10, (seller, codes)
        assert codes.count(409) == 30, (seller, codes)
        for s, x in answers:
            if s == seller and x.status_code == 409:
                assert problem(x, "out-of-stock")["skus"] == [sku]
        route = "POST /v1/sellers/%s/checkout" % seller
        assert backend.count(route) == 10
        for n in nodes:
            assert stock(n, keys, seller, sku) == {"available": 0,
                                                   "held": 0}
        value = assert_on_owner(cluster, seller_key(seller, "stock", sku),
                                "hash")
        assert (int(value["a"]), int(value["h"])) == (0, 0), value
        holds = seller_key(seller, "holds")
        assert cluster.on_owner(holds).zcard(holds) == 0, \
            owner_holds(cluster, holds)


# ------------------------------------------------------------ no redirect

def test_a_stable_cluster_never_redirects(nodes):
    """Everything above ran on an unchanged cluster: no MOVED, no ASK (a
    slot computed differently from Redis would have been MOVED)."""
    for n in nodes:
        m = metrics(n)
        for kind in ("moved", "ask", "tryagain", "clusterdown"):
            key = 'microshop_redis_redirects_total{kind="%s"}' % kind
            assert m[key] == 0, (n.url(), key, m[key])


# ------------------------------------------------------------ resharding

class Load:
    """Threads that send rate-limited GETs and idempotent checkouts (a
    fresh Idempotency-Key each) of one seller to both nodes until stop().
    phase names the step of the move a request started in."""

    def __init__(self, nodes, keys, seller, threads=4):
        self.nodes, self.seller = nodes, seller
        self.rate = tok(keys, seller, tier="load")
        self.order = tok(keys, seller)
        self.results = []        # (phase, kind, seconds, answer, key)
        self.phase = "before"
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(i,))
                        for i in range(threads)]
        for th in self.threads:
            th.start()

    def run(self, i):
        n = self.nodes[i % 2]
        with microshop.http_session() as s:
            while not self.done.is_set():
                phase, key = self.phase, None
                if i % 4 < 2:
                    kind = "rate"
                    seconds, resp = redisnodes.timed(
                        s.get, n.url("/limited/a.txt"), timeout=10,
                        headers={"Authorization": "Bearer " + self.rate})
                else:
                    kind, key = "idem", uid("mv-")
                    seconds, resp = redisnodes.timed(
                        s.post, n.url("/v1/sellers/%s/checkout"
                                      % self.seller),
                        timeout=10, json=ORDER,
                        headers={"Authorization": "Bearer " + self.order,
                                 "Idempotency-Key": key})
                self.results.append((phase, kind, seconds, resp, key))

    def enter(self, phase, count, timeout=5.0):
        """Start phase and return once count requests ran in it."""
        self.phase = phase
        microshop.wait_for(
            lambda: sum(1 for r in self.results if r[0] == phase) >= count,
            timeout=timeout, interval=0.01,
            what="%d answers %s" % (count, phase))

    def stop(self):
        self.done.set()
        for th in self.threads:
            th.join()


def test_resharding_a_slot_under_load(nodes, keys, backend, clean,
                                      cluster):
    primaries = cluster.primaries()
    source, target = primaries[0], primaries[1]
    seller = cluster.sellers_by_owner(1, "mv")[source][0]
    slot = cluster.seller_slot(seller)
    backend.set_item(seller, "A1", available=100000, version=1)
    before = {n: metrics(n) for n in nodes}

    load = Load(nodes, keys, seller)
    try:
        load.enter("before", 20)
        moved = cluster.move_slot(
            slot, target,
            # the slot open, its keys still on the source
            migrating=lambda: load.enter("migrating", 20),
            # every key on the target: the source answers ASK for them
            during=lambda: load.enter("half-moved", 40))
        load.enter("after", 40)
    finally:
        load.stop()

    assert moved >= 1, "no key of the seller to move"
    assert cluster.owner(slot) == target
    bad = [(p, k, round(s, 3), getattr(r, "status_code", r),
            getattr(r, "text", "")[:200])
           for p, k, s, r, _ in load.results
           if isinstance(r, Exception)
           or r.status_code != (200 if k == "rate" else 201)]
    assert bad == [], "%d of %d requests failed: %s" % (
        len(bad), len(load.results), bad[:5])
    slowest = max(r[2] for r in load.results)
    assert slowest < 1.0 * SLOW, slowest

    # the bucket moved with its slot: every request spent one unit, none
    # twice, none lost
    rate = [r for r in load.results if r[1] == "rate"]
    last = nodes[0].get("/limited/a.txt", token=tok(keys, seller,
                                                    tier="load"))
    assert remaining(last) == LOAD_BURST - len(rate) - 1, \
        (remaining(last), len(rate))
    # every checkout ran once
    idem = [r for r in load.results if r[1] == "idem"]
    assert backend.count("POST /v1/sellers/%s/checkout" % seller) \
        == len(idem)

    # every key is on the new owner, none left on the old one: the bucket
    # and the record of every checkout, with its answer
    assert cluster.node(source).call("CLUSTER", "COUNTKEYSINSLOT", slot) \
        == 0
    assert_on_owner(cluster, seller_key(seller, "rate"), "string")
    on_target = set(cluster.node(target).call(
        "CLUSTER", "GETKEYSINSLOT", slot, 100000))
    lost = [(phase, key) for phase, _, _, _, key in idem
            if seller_key(seller, "idem", key) not in on_target]
    assert lost == [], "%d of %d idempotency records are gone after the " \
        "move (phase, key): %s" % (len(lost), len(idem), lost)

    # ASK from the source while the slot was open, MOVED after it
    after = {n: metrics(n) for n in nodes}
    for kind, name in (("ask", ASK), ("moved", MOVED)):
        total = sum(after[n][name] - before[n][name] for n in nodes)
        assert total > 0, (kind, [after[n][name] for n in nodes])
        on_source = sum(node_metric(after[n],
                                    "microshop_redis_node_redirects_total",
                                    source, kind) for n in nodes)
        assert on_source > 0, (kind, source)
    print("moved slot %d (%d keys) %d -> %d under %d requests, ASK %d, "
          "MOVED %d" % (slot, moved, source, target, len(load.results),
                        sum(after[n][ASK] for n in nodes),
                        sum(after[n][MOVED] for n in nodes)))


def test_answers_stored_while_the_slot_is_migrating_replay(nodes, keys,
                                                           backend, clean,
                                                           cluster):
    """Idempotent writes that took their key before the slot was opened and
    whose answer is stored while it is open (the keys still on the
    source): the records survive the move, a retry replays and the backend
    sees every write once."""
    primaries = cluster.primaries()
    source, target = primaries[1], primaries[2]
    seller = cluster.sellers_by_owner(1, "slow")[source][0]
    slot = cluster.seller_slot(seller)
    route = "/v1/sellers/%s/fulfilments" % seller
    t = tok(keys, seller)
    backend.mode(delay=0.5, path_prefix=route)
    ids = [uid("f-") for _ in range(6)]

    def send(i, n=None):
        return (n or nodes[i % 2]).post(
            route, token=t, json={"n": i},
            headers={"Idempotency-Key": ids[i]})

    with concurrent.futures.ThreadPoolExecutor(len(ids)) as pool:
        pending = [pool.submit(send, i) for i in range(len(ids))]
        # every lock taken and the writes at the backend
        microshop.wait_for(lambda: backend.count("POST " + route)
                           == len(ids), timeout=2, what="the writes")

        def open_slot():
            # the answers come back and are stored while the slot is open
            for f in pending:
                f.result()

        cluster.move_slot(slot, target, migrating=open_slot)
        first = [f.result() for f in pending]
    backend.mode()
    assert [x.status_code for x in first] == [201] * len(ids), \
        [(x.status_code, x.text[:200]) for x in first]

    on_target = set(cluster.node(target).call(
        "CLUSTER", "GETKEYSINSLOT", slot, 100000))
    gone = [key for key in ids
            if seller_key(seller, "idem", key) not in on_target]
    for i in range(len(ids)):
        again = send(i, nodes[(i + 1) % 2])
        assert again.status_code == 201, (again.status_code, again.text)
        assert again.headers.get("Idempotent-Replayed") == "true", \
            "key %s ran again after the move (records gone: %s)" % (
                ids[i], gone)
        assert again.content == first[i].content
    assert backend.count("POST " + route) == len(ids)
    assert gone == []


def test_multi_key_script_during_a_migration_is_resent(nodes, keys,
                                                       backend, clean,
                                                       cluster):
    """A checkout's reservation is one script over several keys of the
    seller (stock, hold, holds): while its slot is half-moved the target
    answers TRYAGAIN (some keys are not there yet).  The module resends it
    after a short delay within timeout=; once the move is done it runs."""
    a = nodes[0]
    primaries = cluster.primaries()
    seller = cluster.sellers_by_owner(1, "drop")[primaries[2]][0]
    slot = cluster.seller_slot(seller)
    sku = uid("T")
    backend.set_item(seller, sku, available=1000, version=1)
    set_stock(a, keys, seller, sku, 5)
    buyer = tok(keys, seller, scope="orders:write")
    tried = metrics(a)[TRYAGAIN]
    answers = []
    sender = threading.Thread(target=lambda: answers.append(a.post(
        "/v1/sellers/%s/checkout" % seller, token=buyer,
        json={"items": [{"sku": sku, "quantity": 1}]})))

    def half_moved():
        sender.start()
        # hold the slot half-moved until the module was told TRYAGAIN
        microshop.wait_for(lambda: metrics(a)[TRYAGAIN] > tried,
                           timeout=0.25, interval=0.01,
                           what="a TRYAGAIN while the slot is half-moved")

    cluster.move_slot(slot, primaries[0], during=half_moved)
    sender.join()
    resp = answers[0]
    assert resp.status_code == 201, (resp.status_code, resp.text[:300])
    assert stock(a, keys, seller, sku) == {"available": 4, "held": 0}
    value = assert_on_owner(cluster, seller_key(seller, "stock", sku), "hash")
    assert (int(value["a"]), int(value["h"])) == (4, 0), value
    assert cluster.owner_of(seller_key(seller, "stock", sku)) == primaries[0]


# ------------------------------------------------------------ a primary down

def test_a_primary_down_without_a_replica(nodes, keys, backend, clean,
                                          cluster):
    """Last (it kills a primary): with no replica to take over, the
    sellers of the dead primary get the outage answer at once (idempotent
    writes 503 store-unavailable, rate limits this node's zone:
    on_error=local), the sellers of the other primaries are served as
    before, and when the primary is back (same port, its nodes.conf) its
    sellers are served again without a reload."""
    globals_ = {cluster.owner_of(k) for k in ("ms:revoked", "ms:watermarks",
                                              "ms:sellers:holds")}
    dead = [p for p in cluster.primaries() if p not in globals_][0]
    by_owner = cluster.sellers_by_owner(1, "down")
    victim = by_owner[dead][0]
    others = [s for p, (s,) in by_owner.items() if p != dead]
    for s in [victim] + others:
        backend.set_item(s, "A1", available=1000, version=1)
    pids = {n: n.worker_pids() for n in nodes}
    rate = {s: tok(keys, s, tier="load") for s in [victim] + others}

    def write(n, seller):
        return redisnodes.timed(checkout, n, tok(keys, seller), uid("dn-"),
                                seller=seller)

    errors = {n: node_metric(metrics(n), "microshop_redis_node_errors_total",
                             dead) for n in nodes}
    cluster.kill(dead)
    try:
        for n in nodes:
            microshop.wait_for(
                lambda: node_metric(metrics(n), "microshop_redis_node_up",
                                    dead) == 0,
                timeout=3, what="node_up 0 for the dead primary")
        for _ in range(3):
            for n in nodes:
                seconds, resp = write(n, victim)
                assert seconds <= 0.3 + 0.7 * SLOW, seconds
                assert resp.status_code == 503, (resp.status_code,
                                                 resp.text[:300])
                problem(resp, "store-unavailable")
                # the rate limit falls back to this node's zone
                got = n.get("/limited/a.txt", token=rate[victim])
                assert got.status_code == 200, got.text
                for s in others:
                    seconds, resp = write(n, s)
                    assert resp.status_code == 201, (s, resp.text[:300])
                    assert n.get("/limited/a.txt",
                                 token=rate[s]).status_code == 200
        # the other sellers' buckets are still exact across the nodes
        for s in others:
            left = [remaining(n.get("/limited/a.txt", token=rate[s]))
                    for n in nodes]
            assert left == [LOAD_BURST - 7, LOAD_BURST - 8], (s, left)
        # the lost connections are counted on the dead primary
        for n in nodes:
            assert node_metric(metrics(n),
                               "microshop_redis_node_errors_total",
                               dead) > errors[n]
    finally:
        cluster.restart(dead)

    # back by itself: the reconnect backs off up to 5 s
    def served(n):
        resp = checkout(n, tok(keys, victim), uid("up-"), seller=victim)
        return resp.status_code == 201

    for n in nodes:
        microshop.wait_for(lambda: served(n), timeout=6.0, interval=0.1,
                           what="the victim's writes back on %s" % n.url())
        assert node_metric(metrics(n), "microshop_redis_node_up", dead) == 1
        assert n.worker_pids() == pids[n]
