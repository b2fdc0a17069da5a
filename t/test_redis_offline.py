"""Offline orders with microshop_redis (docs/events.md "Offline orders",
docs/redis.md "Keys").

A seller's offline slots are the set ms:{<seller>}:offline of the holds
that took one; the holds, their why (offline) and the feed are in Redis,
so every node counts the same offline_max, reads the same order.pending,
and settles any node's offline order.  The first part runs the embedded
store's tests of t/test_offline_orders.py again on a node of the Redis
store (the same assertions); the second is about two nodes."""

import pytest

import redisnodes
import test_offline_orders as off
from microshop import set_stock, stock, wait_for
from test_offline_orders import (  # noqa: F401  (collected here again)
    test_refused_connect_is_accepted_offline,
    test_read_timeout_is_accepted_offline,
    test_pending_once_hold_runs_out_and_never_released_by_time,
    test_hold_ran_out_before_the_upstream_failed,
    test_an_event_never_settles_a_hold_that_may_go_offline,
    test_webhook_does_not_settle_an_offline_order,
    test_idempotent_retry_replays_the_202,
    test_admin_settles,
    test_offline_max_slots_per_seller,
    test_slot_given_back_when_checkout_fails_otherwise,
    test_without_offline_accept_nothing_changes,
    test_no_stock_at_the_edge_is_not_accepted_offline,
)

pytestmark = redisnodes.skip_under_deferred()


@pytest.fixture(scope="module")
def nodes(nginx, keys, backend, module_redis):
    """Two nodes of one Redis, each off's gateway (its locations, a dead
    port of its own), one worker each."""
    conf = off.CONF.replace("microshop_zone name=shop size=8m;\n",
                            "microshop_zone name=shop size=8m;\n%(redis)s\n")
    started = []
    for _ in range(2):
        n = nginx.new()
        n.secret = n.write_file("conf/webhook.secret", off.SECRET + b"\n")
        ports = {"dead": off.free_port(), "backend": backend.port}
        locations = "".join(off.LOCATION % {"name": name, "reserve": reserve,
                                            "to": ports[to], "read": read}
                            for name, reserve, to, read in off.LOCATIONS)
        n.start(conf % {"port": n.port, "ec_pub": keys.ec256_public_pem,
                        "events_out": "", "secret": n.secret,
                        "locations": locations,
                        "redis": redisnodes.directive(module_redis.url)},
                workers=1, allow_log=[r"microshop redis: "])
        started.append(n)
    for n in started:
        redisnodes.wait_redis_up(n)
    return started


@pytest.fixture(scope="module")
def gw(nodes):
    return nodes[0]


def redis_keys(module_redis, seller):
    r = module_redis.client()
    return r, "ms:{%s}:" % seller


# ------------------------------------------------------ two nodes

def test_the_order_is_in_redis_and_seen_by_every_node(nodes, keys,
                                                      module_redis):
    a, b = nodes
    seller = off.new_seller("roff-")
    order = off.offline_order(a, keys, seller, "R1", 2, edge=5,
                              **{"Idempotency-Key": "k-" + seller})
    r, p = redis_keys(module_redis, seller)
    enc = order   # hex, '-' and digits: the encoded id is the id
    assert r.smembers(p + "offline") == {enc.encode()}
    assert r.hget(p + "hold:" + enc, "w") == b"5"
    assert r.hget(p + "stock:R1", "h") == b"2"

    # the other node lists it, reads its order.pending, counts its stock
    [listed] = off.orders(b, keys, seller, "all")
    assert (listed["id"], listed["why"]) == (order, "offline")
    pending = [e for e in off.feed(b, keys, seller)
               if e["type"] == "order.pending"]
    assert [e["data"]["order"] for e in pending] == [order]
    assert pending[0]["data"]["idempotency_key"] == "k-" + seller
    assert stock(b, keys, seller, "R1") == {"available": 5, "held": 2}

    # a retry on the other node replays the same 202: no second order
    again = off.checkout(b, keys, seller, [{"sku": "R1", "quantity": 2}],
                         **{"Idempotency-Key": "k-" + seller})
    assert off.pending_answer(again) == order
    assert again.headers["Idempotent-Replayed"] == "true"
    assert r.scard(p + "offline") == 1

    # settled on the other node: sold, its slot given back
    assert off.settle(b, keys, order, "commit").status_code == 204
    assert stock(a, keys, seller, "R1") == {"available": 3, "held": 0}
    assert r.scard(p + "offline") == 0
    assert r.exists(p + "hold:" + enc) == 0
    assert off.types(off.feed(a, keys, seller))[-1] == "order.committed"


def test_offline_max_is_counted_over_every_node(nodes, keys, module_redis):
    a, b = nodes
    seller = off.new_seller("rmax-")
    set_stock(a, keys, seller, "M1", 20)
    # /down/: offline_max=2, one order on each node
    first = off.offline_order(a, keys, seller, "M1", 1, edge=None)
    off.offline_order(b, keys, seller, "M1", 1, edge=None)
    for n in (a, b):
        r = off.checkout(n, keys, seller, [{"sku": "M1", "quantity": 1}])
        off.assert_failed_as_without_offline(n, keys, seller, r, "M1")
    assert stock(a, keys, seller, "M1") == {"available": 20, "held": 2}
    assert off.settle(b, keys, first, "release").status_code == 204
    off.offline_order(a, keys, seller, "M1", 1, edge=None)
    r, p = redis_keys(module_redis, seller)
    assert r.scard(p + "offline") == 2


def test_a_new_node_finds_the_offline_orders(nginx, nodes, keys,
                                             module_redis):
    """The orders live in Redis: a node started afterwards (a restart of
    nginx) lists and settles them, without a state file."""
    a = nodes[0]
    seller = off.new_seller("rnew-")
    order = off.offline_order(a, keys, seller, "N1", 1, edge=3)
    n = nginx.new()
    n.start("microshop_jwt_key %s kid=k1;\n%s\nmicroshop_events_out;\n"
            "server {\n    listen 127.0.0.1:%d;\n"
            "    location = /status { microshop_status; }\n"
            "    location /admin/ { microshop_admin; }\n}\n"
            % (keys.ec256_public_pem, redisnodes.directive(module_redis.url),
               n.port), workers=1, allow_log=[r"microshop redis: "])
    try:
        wait_for(lambda: redisnodes.redis_up(n), timeout=6,
                 what="the new node's Redis up")
        [listed] = off.orders(n, keys, seller, "all")
        assert (listed["id"], listed["why"]) == (order, "offline")
        assert off.settle(n, keys, order, "release").status_code == 204
        assert stock(a, keys, seller, "N1") == {"available": 3, "held": 0}
    finally:
        n.stop()
