"""What the redis back end keeps on the node in sync with Redis
(docs/redis.md "What is exact, what is eventually consistent").

Inventory: a cached read of an entry another read brought from Redis is
answered from the node's zone, no round trip; an invalidation on ms:inv (a
put, a drop, an event of any node) drops the copy, so the next read sees
Redis again.

Revocations: what another node publishes on ms:revoke is refused here at
once; a node that starts after a revocation loads the set from Redis."""

import os
import threading
import time

import pytest

from microshop import mint, wait_for
from test_store_contract import ENV, metric
from test_store_contract_redis import connected

CONF = """
microshop_redis %(url)s;
microshop_jwt_key %(ec_pub)s kid=k1;

server {
    listen 127.0.0.1:%(port)d;

    location = /status { microshop_status; }

    location = /private {
        microshop_auth on;
        proxy_pass http://127.0.0.1:%(backend)d;
    }

    location ~ ^/v1/sellers/(?<seller>[^/]+)/inventory/(?<sku>[^/]+)$ {
        microshop_auth on;
        microshop_seller $seller;
        microshop_inventory_cache sku=$sku ttl=60s;
        add_header X-Cache $microshop_cache always;
        proxy_pass http://127.0.0.1:%(backend)d;
    }
}
"""

COMMANDS = "microshop_redis_commands_total"

pytestmark = pytest.mark.skipif(
    os.environ.get(ENV) == "deferred",
    reason="Redis is a back end of its own (the deferred switch is ignored)")


def redis_client(n):
    return n.redis.client()


@pytest.fixture(scope="module")
def gw(nginx, keys, backend, redis_server):
    n = nginx.new()
    n.start(CONF % {"port": n.port, "url": redis_server.url,
                    "ec_pub": keys.ec256_public_pem,
                    "backend": backend.port})
    connected(n)
    n.redis = redis_server
    return n


def test_a_hit_from_the_local_copy_asks_redis_nothing(gw, keys, backend,
                                                       clean):
    backend.set_item("lc1", "A1", available=5)
    t = mint(keys, kid="k1", seller="lc1")
    url = "/v1/sellers/lc1/inventory/A1"
    assert gw.get(url, token=t).headers["X-Cache"] == "miss"
    # a hit reads Redis and keeps a copy on the node (the fill's own
    # ms:inv message may drop the first copy: let it come in first)
    time.sleep(0.05)
    assert gw.get(url, token=t).headers["X-Cache"] == "hit"
    before = metric(gw, COMMANDS)
    for _ in range(5):
        r = gw.get(url, token=t)
        assert r.headers["X-Cache"] == "hit"
    assert metric(gw, COMMANDS) == before
    assert backend.count("GET " + url) == 1


def test_an_invalidation_drops_the_copy(gw, keys, backend, redis_server,
                                        clean):
    backend.set_item("lc2", "B1", available=5)
    t = mint(keys, kid="k1", seller="lc2")
    url = "/v1/sellers/lc2/inventory/B1"
    first = gw.get(url, token=t)
    assert gw.get(url, token=t).headers["X-Cache"] == "hit"

    # another node's event: the entry in Redis changes, ms:inv says so
    r = redis_server.client()
    key = "ms:{lc2}:inv:B1"
    assert r.hget(key, "b") == first.content
    r.hset(key, "b", b'{"sku":"B1","available":42}')
    r.publish("ms:inv", "lc2\nB1")

    # within 100 ms the node serves what Redis holds
    wait_for(lambda: gw.get(url, token=t).json().get("available") == 42,
             timeout=0.5, what="the new item")
    # the message is in; a read copies the new entry, the next one is
    # answered from that copy
    time.sleep(0.05)
    assert gw.get(url, token=t).json()["available"] == 42
    before = metric(gw, COMMANDS)
    r = gw.get(url, token=t)
    assert r.headers["X-Cache"] == "hit" and r.json()["available"] == 42
    assert metric(gw, COMMANDS) == before
    assert backend.count("GET " + url) == 1


def test_a_copy_is_not_used_past_its_second(gw, keys, backend, clean):
    backend.set_item("lc3", "C1", available=5)
    t = mint(keys, kid="k1", seller="lc3")
    url = "/v1/sellers/lc3/inventory/C1"
    gw.get(url, token=t)
    gw.get(url, token=t)
    time.sleep(1.1)
    # the copy is older than a second: Redis is asked again (and a new
    # copy made), however fresh the entry is
    before = metric(gw, COMMANDS)
    assert gw.get(url, token=t).headers["X-Cache"] == "hit"
    assert metric(gw, COMMANDS) == before + 1


def test_a_revocation_published_elsewhere_is_refused_here(gw, keys):
    t0 = time.time()
    jti = "rv-%d" % (t0 * 1000)
    token = mint(keys, kid="k1", jti=jti)
    assert gw.get("/private", token=token).status_code != 401

    # another node's REVOKE: Redis holds it, ms:revoke tells every node
    exp = int(t0) + 300
    assert redis_client(gw).publish("ms:revoke", "%d %s" % (exp, jti)) == 1
    wait_for(lambda: gw.get("/private", token=token).status_code == 401,
             timeout=1, what="the revocation on this node")


def test_a_node_started_after_a_revocation_refuses_the_token(nginx, keys,
                                                             backend,
                                                             redis_server):
    jti = "rv-late-%d" % (time.time() * 1000)
    token = mint(keys, kid="k1", jti=jti)
    r = redis_server.client()
    r.zadd("ms:revoked", {jti: int(time.time()) + 300})

    n = nginx.new()
    n.start(CONF % {"port": n.port, "url": redis_server.url,
                    "ec_pub": keys.ec256_public_pem,
                    "backend": backend.port})
    connected(n)
    # loaded once connected: refused, and a fresh token is not
    wait_for(lambda: n.get("/private", token=token).status_code == 401,
             timeout=1, what="the revocation loaded")
    assert n.get("/private", token=mint(keys, kid="k1")).status_code != 401
    n.stop()


def test_a_node_that_never_loaded_the_revocations_refuses_tokens(
        nginx, keys, backend, tmp_path):
    """Started while its Redis is down, a node has no copy of the
    revocations: it cannot tell a revoked token, so it answers 503
    store-unavailable, not 200, until it has loaded them once."""
    import microshop

    down = microshop.RedisServer(str(tmp_path / "redis.log"))
    down.stop()
    jti = "rv-unloaded-%d" % (time.time() * 1000)
    exp = int(time.time()) + 300

    n = nginx.new()
    n.start(CONF % {"port": n.port, "url": down.url,
                    "ec_pub": keys.ec256_public_pem,
                    "backend": backend.port})
    try:
        revoked = mint(keys, kid="k1", jti=jti)
        fresh = mint(keys, kid="k1")
        for token in (revoked, fresh):
            r = n.get("/private", token=token)
            assert r.status_code == 503, r.text
            assert r.json()["type"].endswith("store-unavailable")
            assert r.headers.get("Retry-After")
        assert metric(n, "microshop_redis_revocations_loaded") == 0

        down.start()
        # Redis keeps nothing across a restart here: the revocation goes
        # in now; the node loads it once connected, or hears it published
        # if it subscribed first
        down.client().zadd("ms:revoked", {jti: exp})
        down.client().publish("ms:revoke", "%d %s" % (exp, jti))
        connected(n)
        wait_for(lambda: metric(n, "microshop_redis_revocations_loaded") == 1,
                 timeout=3, what="the revocations loaded")
        assert n.get("/private", token=revoked).status_code == 401
        # the backend answers (it has no /private: 404), the gateway passed
        assert n.get("/private", token=fresh).status_code == 404
    finally:
        n.stop()
        down.stop()


SLOW_CONF = """
microshop_redis %(url)s timeout=100ms;
microshop_jwt_key %(ec_pub)s kid=k1;

server {
    listen 127.0.0.1:%(port)d;

    location = /status { microshop_status; }

    location ~ ^/v1/sellers/(?<seller>[^/]+)/ {
        microshop_auth on;
        microshop_seller $seller;
        microshop_idempotency on;
        proxy_pass http://127.0.0.1:%(backend)d;
    }
}
"""


def test_a_lock_whose_answer_was_lost_is_released(nginx, keys, backend,
                                                  redis_server, clean):
    """Redis stalls past timeout= while an IDEM_BEGIN waits: the request is
    refused (503, no on_store_error=local), and the lock that BEGIN may
    have taken is released once Redis answers again: a retry executes."""
    n = nginx.new()
    n.start(SLOW_CONF % {"port": n.port, "url": redis_server.url,
                         "ec_pub": keys.ec256_public_pem,
                         "backend": backend.port})
    connected(n)
    backend.set_item("lk1", "A1", available=5)
    token = mint(keys, kid="k1", seller="lk1")
    key = "lost-%d" % (time.time() * 1000)
    path = "/v1/sellers/lk1/checkout"
    headers = {"Idempotency-Key": key, "Content-Type": "application/json"}
    body = '{"items":[{"sku":"A1","quantity":1}]}'

    stall = threading.Thread(target=lambda: redis_server.client()
                             .execute_command("DEBUG", "SLEEP", "0.5"))
    stall.start()
    time.sleep(0.05)
    t0 = time.monotonic()
    r = n.post(path, token=token, data=body, headers=headers)
    assert r.status_code == 503, (r.status_code, r.text)
    assert time.monotonic() - t0 < 0.4
    stall.join()

    # the BEGIN ran once Redis woke up; its release followed it
    rc = redis_server.client()
    wait_for(lambda: not rc.exists("ms:{lk1}:idem:" + key), timeout=10,
             what="the lost lock released")
    connected(n)
    r = n.post(path, token=token, data=body, headers=headers)
    assert r.status_code == 201, (r.status_code, r.text)
    assert backend.count("POST " + path) == 1
    n.stop()
