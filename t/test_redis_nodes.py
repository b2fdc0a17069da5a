"""Many gateway nodes on one Redis behave as one (issue 12, "Tests").

Two nginx instances (A and B: their own masters, workers and zones) share
one redis-server through `microshop_redis` and nothing else, as two
machines behind a load balancer.  Every test sends its requests to both
and checks what a client sees (status, headers, body), what the backend
received (its counters) and what Redis holds (docs/redis.md "Keys").
"""

import concurrent.futures
import hashlib
import json
import time
import uuid

import pytest

import microshop
import redisnodes
from microshop import (SLOW, admin, http_session, mint, problem, set_stock,
                       sign_webhook, stock)
from redisnodes import metric, metrics, wait_redis_up
from test_store_contract import DEFERRED_ONLY, switch

pytestmark = redisnodes.skip_under_deferred()

SECRET = b"whsec_" + b"nodes-secret-0123" * 2
BURST = 6

CONF = """
microshop_zone name=shop size=8m;
microshop_jwt_key %(ec_pub)s kid=k1;
%(redis)s
microshop_rate_tier default rate=1r/m burst=%(burst)d;
client_body_buffer_size 16k;

server {
    listen 127.0.0.1:%(port)d;
    proxy_connect_timeout 5s;
    proxy_read_timeout 20s;

    location = /status { microshop_status; }

    location /admin/ { microshop_admin; }

    location = /events { microshop_events secret=webhook.secret; }

    location /limited/ {
        microshop_auth on;
        microshop_rate_limit on;
        add_header X-Remaining $microshop_rate_remaining always;
        alias %(prefix)s/html/;
    }

    location /auth/ {
        microshop_auth on;
        alias %(prefix)s/html/;
    }

    location /big/ {
        microshop_auth on;
        microshop_idempotency on methods=GET max_body=1m;
        add_header X-Idempotency $microshop_idempotency always;
        proxy_pass http://127.0.0.1:%(backend)d/v1/big;
    }

    location ~ ^/v1/sellers/(?<seller>[^/]+)/inventory/(?<sku>[^/]+)$ {
        microshop_auth on;
        microshop_seller $seller;
        microshop_require_scope GET,HEAD inventory:read;
        microshop_inventory_cache sku=$sku ttl=60s;
        add_header X-Cache $microshop_cache always;
        proxy_pass http://127.0.0.1:%(backend)d;
    }

    location ~ ^/v1/sellers/(?<seller>drop[^/]*)/checkout$ {
        microshop_auth on;
        microshop_seller $seller;
        microshop_require_scope POST orders:write;
        microshop_reserve on hold=30s;
        proxy_pass http://127.0.0.1:%(backend)d;
    }

    location ~ ^/v1/sellers/(?<seller>[^/]+)/ {
        microshop_auth on;
        microshop_seller $seller;
        microshop_idempotency on;
        add_header X-Idempotency $microshop_idempotency always;
        proxy_pass http://127.0.0.1:%(backend)d;
    }
}
"""

SELFTEST_CONF = """
%(redis)s

server {
    listen 127.0.0.1:%(port)d;

    location = /status { microshop_status; }
    location = /selftest { microshop_store_selftest; }
}
"""

ORDER = {"items": [{"sku": "A1", "quantity": 1}]}


# ------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def render(keys, backend, module_redis):
    def render(n):
        n.write_file("html/a.txt", "a\n")
        n.write_file("conf/webhook.secret", SECRET)
        return CONF % {"port": n.port, "prefix": n.prefix,
                       "backend": backend.port, "burst": BURST,
                       "ec_pub": keys.ec256_public_pem,
                       "redis": redisnodes.directive(module_redis.url)}
    return render


@pytest.fixture(scope="module")
def nodes(nginx, render):
    """Nodes A and B, two workers each, both connected to Redis."""
    return redisnodes.start_nodes(nginx, 2, render, workers=2)


@pytest.fixture
def r(module_redis):
    return module_redis.client(decode_responses=True)


def uid(prefix):
    return prefix + uuid.uuid4().hex[:10]


def tok(keys, seller="s1", **kw):
    return mint(keys, kid="k1", seller=seller, **kw)


def checkout(n, token, key, body=ORDER, seller="s1"):
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return n.post("/v1/sellers/%s/checkout" % seller, token=token, data=data,
                  headers=headers)


def once_stored(send, within=1.0):
    """send() until its answer is not 409 idempotency-in-progress: the
    first node posts the answer to Redis as it goes out, so a retry on
    another node at once may still find the key in progress
    (docs/directives.md, Retry-After: 1).  Returns (answer, seconds)."""
    start = time.monotonic()
    while True:
        resp = send()
        waited = time.monotonic() - start
        if resp.status_code != 409 or waited > within * SLOW:
            return resp, waited
        problem(resp, "idempotency-in-progress")
        time.sleep(0.05)


def buy(n, buyer, seller, sku):
    """A checkout of one unit of sku."""
    return n.post("/v1/sellers/%s/checkout" % seller, token=buyer,
                  json={"items": [{"sku": sku, "quantity": 1}]})


def redis_key_state(r, key):
    """What Redis holds under key, for messages and checks: (type, value)."""
    kind = r.type(key)
    if kind == "hash":
        return kind, r.hgetall(key)
    if kind == "string":
        return kind, r.get(key)
    if kind == "zset":
        return kind, r.zrange(key, 0, -1, withscores=True)
    return kind, None


# ------------------------------------------------------------ rate limits

def test_nodes_are_connected(nodes, r):
    for n in nodes:
        m = metrics(n)
        assert m["microshop_redis_up"] == 1, m
        if SLOW == 1:
            # (under valgrind a first connect may outlast connect_timeout=)
            assert m['microshop_redis_errors_total{kind="connect"}'] == 0, m
    # one command connection and one subscriber per worker and node
    clients = r.client_list()
    assert len(clients) >= 2 * 2 * 2, clients


def test_burst_is_spent_across_nodes(nodes, keys, r):
    a, b = nodes
    seller = uid("rl-")
    t = tok(keys, seller)
    answers = [(n, n.get("/limited/a.txt", token=t))
               for n in [a, b] * 5]
    codes = [resp.status_code for _, resp in answers]
    # one burst for the seller, not one per node (12) nor none (10)
    assert codes == [200] * BURST + [429] * (10 - BURST), codes

    policy = '"default";q=%d;w=%d' % (BURST, BURST * 60)
    remaining = []
    for n, resp in answers:
        assert resp.headers["RateLimit-Policy"] == policy, resp.headers
        rl = resp.headers["RateLimit"]
        assert rl.startswith('"default";r='), rl
        remaining.append(int(rl.split(";")[1][2:]))
        assert resp.headers["X-Remaining"] == str(remaining[-1])
        if resp.status_code == 429:
            problem(resp, "rate-limited")
            # one unit back after a minute (1r/m): Retry-After rounds up
            assert 1 <= int(resp.headers["Retry-After"]) <= 60, resp.headers
        else:
            assert resp.text == "a\n"
    # the count goes down by one on each node in turn: the nodes agree
    assert remaining == [5, 4, 3, 2, 1, 0, 0, 0, 0, 0], remaining

    key = "ms:{%s}:rate" % seller
    assert r.exists(key), (key, r.keys("ms:{%s}*" % seller))


# ------------------------------------------------------------ idempotency

def test_retry_on_the_other_node_replays(nodes, keys, backend, clean, r):
    a, b = nodes
    t = tok(keys)
    key = uid("xnode-")
    first = checkout(a, t, key)
    assert first.status_code == 201, first.text
    assert first.headers["X-Idempotency"] == "new"
    assert "Idempotent-Replayed" not in first.headers

    again, waited = once_stored(lambda: checkout(b, t, key))
    assert again.status_code == 201, (again.status_code, again.text, waited)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["X-Idempotency"] == "replay"
    assert again.content == first.content
    for h in ("Content-Type", "Location", "Content-Length"):
        assert again.headers[h] == first.headers[h], h
    # and on A too
    back = checkout(a, t, key)
    assert back.headers["Idempotent-Replayed"] == "true"
    assert back.content == first.content
    assert backend.count("POST /v1/sellers/s1/checkout") == 1
    assert backend.item("s1", "A1")["available"] == 9

    rkey = "ms:{s1}:idem:" + key
    assert r.exists(rkey), (rkey, r.keys("ms:{s1}:idem:*"))

    # the same key with another body, on B: refused, not executed
    other = {"items": [{"sku": "A1", "quantity": 2}]}
    resp = checkout(b, t, key, body=other)
    assert resp.status_code == 422, resp.text
    problem(resp, "idempotency-key-reused")
    assert backend.count("POST /v1/sellers/s1/checkout") == 1


def test_concurrent_duplicates_over_two_nodes_execute_once(nodes, keys,
                                                           backend, clean):
    backend.mode(delay=1.0, path_prefix="/v1/sellers/s1/checkout")
    t = tok(keys)
    key = uid("burst-")

    def one(i):
        return checkout(nodes[i % 2], t, key)

    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(one, range(50)))
    new = [x for x in answers if x.status_code == 201
           and "Idempotent-Replayed" not in x.headers]
    assert len(new) == 1, [(x.status_code, x.headers.get("X-Idempotency"))
                           for x in answers]
    for x in answers:
        if x is new[0]:
            continue
        if x.status_code == 409:
            problem(x, "idempotency-in-progress")
            assert x.headers["Retry-After"] == "1"
        else:
            assert x.status_code == 201, (x.status_code, x.text)
            assert x.headers["Idempotent-Replayed"] == "true"
            assert x.content == new[0].content
    assert backend.count("POST /v1/sellers/s1/checkout") == 1

    backend.mode()
    for n in nodes:
        resp, waited = once_stored(lambda: checkout(n, t, key))
        assert resp.status_code == 201, (resp.text, waited)
        assert resp.headers["Idempotent-Replayed"] == "true"
        assert resp.content == new[0].content
    assert backend.count("POST /v1/sellers/s1/checkout") == 1


def test_large_answer_replays_intact_on_the_other_node(nodes, keys, backend,
                                                       clean, r):
    a, b = nodes
    t = tok(keys)
    key = uid("big-")
    size = 200 * 1024
    h = {"Idempotency-Key": key}
    first = a.get("/big/?size=%d" % size, token=t, headers=h)
    assert first.status_code == 200 and len(first.content) == size
    assert first.headers["X-Idempotency"] == "new"

    again, waited = once_stored(
        lambda: b.get("/big/?size=%d" % size, token=t, headers=h))
    assert again.status_code == 200, (again.status_code, again.text[:300],
                                      waited)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(again.content) == size
    assert (hashlib.sha256(again.content).hexdigest()
            == hashlib.sha256(first.content).hexdigest())
    assert again.headers["Content-Type"] == first.headers["Content-Type"]
    assert backend.count("GET /v1/big") == 1

    # the answer is in Redis, whole (the token's seller is s1)
    rkey = "ms:{s1}:idem:" + key
    assert r.exists(rkey), (rkey, r.keys("ms:{s1}:idem:*"))
    assert r.memory_usage(rkey) >= size, r.memory_usage(rkey)


# ------------------------------------------------------------ revocations

def test_revocation_reaches_the_other_node_and_a_new_one(nodes, keys, r,
                                                         nginx, render):
    a, b = nodes
    jti = uid("rev-")
    t = tok(keys, jti=jti)
    exp = int(time.time()) + 300
    for n in (a, b, a, b):      # verified and cached on both nodes
        assert n.get("/auth/a.txt", token=t).status_code == 200

    resp = a.post("/admin/revocations", token=admin(keys),
                  json={"jti": jti, "exp": exp})
    assert resp.status_code == 204, resp.text
    revoked = time.monotonic()
    polls = []
    while True:
        resp = b.get("/auth/a.txt", token=t)
        delay = time.monotonic() - revoked
        polls.append((round(delay, 3), resp.status_code))
        if resp.status_code == 401 or delay > 1.0 * SLOW:
            break
        time.sleep(0.05)
    assert resp.status_code == 401, "still accepted on B after %.3f s: %s" \
        % (delay, polls)
    print("B refused the token revoked on A after %.3f s" % delay)
    problem(resp, "invalid-token")
    # every worker of both nodes refuses it from now on
    for n in (a, b, a, b, a, b):
        assert n.get("/auth/a.txt", token=t).status_code == 401
    # another token is not affected
    assert b.get("/auth/a.txt", token=tok(keys)).status_code == 200

    # Redis holds it with its expiry
    assert r.zscore("ms:revoked", jti) == exp, redis_key_state(r, "ms:revoked")

    # a node started after the revocation loads the set when it connects
    c = nginx.new()
    c.start(render(c), workers=1)
    wait_redis_up(c)
    accepted = 0
    start = time.monotonic()
    while c.get("/auth/a.txt", token=t).status_code != 401:
        accepted += 1
        assert time.monotonic() - start < 1.0 * SLOW, \
            "a node started after the revocation accepts the token"
        time.sleep(0.05)
    assert accepted == 0, "the new node accepted the revoked token %d " \
        "times after microshop_redis_up 1" % accepted
    assert c.get("/auth/a.txt", token=tok(keys)).status_code == 200
    c.stop()


# ------------------------------------------------------------ stock

def test_stock_is_shared_and_never_oversold(nodes, keys, backend, clean, r):
    a, b = nodes
    seller, sku = "drop1", uid("X")
    backend.set_item(seller, sku, available=1000, version=1)
    set_stock(a, keys, seller, sku, 20)
    assert stock(b, keys, seller, sku) == {"available": 20, "held": 0}
    backend.mode(delay=0.05, path_prefix="/v1/sellers/%s/checkout" % seller)
    buyer = tok(keys, seller, scope="orders:write")

    def one(i):
        return buy(nodes[i % 2], buyer, seller, sku)

    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(one, range(200)))
    codes = [x.status_code for x in answers]
    assert codes.count(201) == 20, sorted(codes)
    assert codes.count(409) == 180, sorted(codes)
    for x in answers:
        if x.status_code == 409:
            assert problem(x, "out-of-stock")["skus"] == [sku]
    assert backend.count("POST /v1/sellers/%s/checkout" % seller) == 20
    for n in nodes:
        assert stock(n, keys, seller, sku) == {"available": 0, "held": 0}

    key = "ms:{%s}:stock:%s" % (seller, sku)
    kind, value = redis_key_state(r, key)
    assert kind != "none", (key, r.keys("ms:{%s}:*" % seller))
    assert kind == "hash", (kind, value)
    # every unit sold and none held: available ("a") and held ("h") are 0
    counts = {f: int(value[f]) for f in ("a", "h", "available", "held")
              if f in value}
    assert counts and set(counts.values()) == {0}, value
    # no hold of the seller is left open
    assert r.zcard("ms:{%s}:holds" % seller) == 0, \
        redis_key_state(r, "ms:{%s}:holds" % seller)


def test_held_units_are_seen_by_every_node(nodes, keys, backend, clean, r):
    """Units held by orders in flight on A and B are held for both: the
    admin API of either node and Redis' stock hash say so, then show them
    sold once the backend has answered."""
    a, b = nodes
    seller, sku = "drop1", uid("H")
    backend.set_item(seller, sku, available=1000, version=1)
    set_stock(a, keys, seller, sku, 5)
    backend.mode(delay=1.0, path_prefix="/v1/sellers/%s/checkout" % seller)
    buyer = tok(keys, seller, scope="orders:write")
    key = "ms:{%s}:stock:%s" % (seller, sku)

    def one(i):
        return buy(nodes[i % 2], buyer, seller, sku)

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        pending = [pool.submit(one, i) for i in range(3)]
        microshop.wait_for(
            lambda: stock(a, keys, seller, sku)["held"] == 3, timeout=0.8,
            interval=0.05, what="3 units held")
        assert stock(b, keys, seller, sku) == {"available": 5, "held": 3}
        held = r.hgetall(key)
        answers = [f.result() for f in pending]
    assert int(held["h"]) == 3 and int(held["a"]) == 5, held
    assert [x.status_code for x in answers] == [201] * 3
    for n in nodes:
        assert stock(n, keys, seller, sku) == {"available": 2, "held": 0}
    sold = r.hgetall(key)
    assert (int(sold["a"]), int(sold["h"])) == (2, 0), sold


# ------------------------------------------------------------ webhooks

def test_event_on_one_node_is_served_by_the_other(nodes, keys, backend,
                                                  clean, r):
    a, b = nodes
    sku = uid("W")
    backend.set_item("s1", sku, name="old", available=5, version=1)
    reader = tok(keys, scope="inventory:read")
    url = "/v1/sellers/s1/inventory/" + sku
    # B's reads on one connection (one worker): a worker that read the item
    # once holds a copy of it
    s = http_session()
    auth = {"Authorization": "Bearer " + reader}
    assert s.get(b.url(url), headers=auth).headers["X-Cache"] == "miss"
    hit = s.get(b.url(url), headers=auth)
    assert hit.headers["X-Cache"] == "hit" and hit.json()["name"] == "old"

    item = {"sku": sku, "name": "new", "available": 12, "version": 2}
    event = {"id": uid("evt-"), "type": "inventory.updated", "seller": "s1",
             "sku": sku, "available": 12, "version": 2, "item": item}
    body = json.dumps(event, separators=(",", ":")).encode()
    resp = a.post("/events", data=body, headers={
        "Content-Type": "application/json",
        "Microshop-Signature": sign_webhook(SECRET, body, int(time.time()))})
    assert resp.status_code == 200 and resp.json() == {"status": "accepted"}
    sent = time.monotonic()

    polls = []
    with s:
        while True:
            got = s.get(b.url(url), headers=auth)
            delay = time.monotonic() - sent
            polls.append((round(delay, 3), got.headers.get("X-Cache"),
                          got.json().get("name")))
            if got.json() == item or delay > 1.0 * SLOW:
                break
            time.sleep(0.02)
    assert got.json() == item, "B still serves the old item %.3f s after " \
        "the event on A: %s" % (delay, polls)
    assert got.headers["Cache-Status"] == "microshop; hit", polls
    # served from the shared cache, never fetched again
    assert backend.count("GET " + url) == 1, polls
    # the event set the stock for both nodes
    assert stock(b, keys, "s1", sku) == {"available": 12, "held": 0}
    # the same event on B is a duplicate: event ids are shared
    resp = b.post("/events", data=body, headers={
        "Content-Type": "application/json",
        "Microshop-Signature": sign_webhook(SECRET, body, int(time.time()))})
    assert resp.json() == {"status": "duplicate"}, (resp.text, polls)
    # the entry and the event id are in Redis
    for key in ("ms:{s1}:inv:" + sku, "ms:{s1}:event:" + event["id"]):
        assert r.exists(key), (key, r.keys("ms:{s1}:*%s*" % sku[1:]),
                               r.keys("ms:{s1}:event:*"))
    print("B served the event posted on A after %.3f s" % delay)


# ------------------------------------------------------------ conformance

@pytest.fixture(scope="module")
def selftest_node(nginx, module_redis):
    n = nginx.new()
    # the directive is refused without the switch; with microshop_redis the
    # back end is "redis" whatever the switch says
    with switch("shm"):
        n.start(SELFTEST_CONF % {"port": n.port, "redis":
                                 redisnodes.directive(module_redis.url)})
    wait_redis_up(n)
    return n


def selftest(n):
    resp = n.get("/selftest")
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_store_conformance_suite_on_redis(selftest_node):
    n = selftest_node
    late = metric(n, "microshop_store_late_answers_total")
    commands = metric(n, "microshop_redis_commands_total")
    doc = selftest(n)
    assert doc["backend"] == "redis", doc
    assert doc["failed"] == [], doc
    skipped = {s["case"] for s in doc["skipped"]}
    # Redis answers later, so the cancel case runs; the deferred back end's
    # knobs (answers out of order) are its own
    assert skipped == DEFERRED_ONLY - {"cancel_before_answer"}, doc
    assert doc["later"] > 0, doc
    assert doc["passed"] == doc["cases"] - len(skipped), doc
    assert metric(n, "microshop_redis_commands_total") > commands
    # the cancelled ops' answers still came, and were dropped
    microshop.wait_for(
        lambda: metric(n, "microshop_store_late_answers_total") > late,
        timeout=3, what="the late answers of the cancelled ops")

    # again, on keys of its own
    assert selftest(n)["failed"] == []
