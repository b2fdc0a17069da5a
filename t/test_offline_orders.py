"""Offline orders (issue 16): microshop_reserve on offline=accept.

A checkout whose stock was held at the edge, and whose hold took one of
its seller's offline slots, is answered 202 {"status":"pending",...} when
nginx itself ends the upstream with 502/504 (a refused connect, a read
timeout); its hold stays as an offline order until the admin API settles
it, and an order.pending event in the seller's feed carries it to the
backend.  Every test uses sellers of its own.

  gw        2 workers: offline locations to a dead port (/down/, hold=1s,
            offline_max=2; /many/, the default offline_max) and to the
            reference backend made slow (/slow/; /slowhold/, hold= shorter
            than proxy_read_timeout), the same without offline= (/plain/,
            /plainslow/)
  (own)     1 worker, microshop_events_out state=FILE: stop and start,
            kill -9, reload
"""

import concurrent.futures
import json
import os
import re
import signal
import time
import uuid

import pytest

from microshop import (admin, assert_conf_refused, free_port, http_session,
                       mint,
                       problem, set_stock, sign_webhook, stock, wait_for)
import harness

SECRET = b"whsec_offline_" + b"0123456789abcdef" * 2

LOCATION = """
    location ~ ^/%(name)s/v1/sellers/(?<seller>[^/]+)/checkout$ {
        microshop_auth on;
        microshop_seller $seller;
        microshop_require_scope POST orders:write;
        microshop_idempotency on;
        microshop_reserve on %(reserve)s;
        rewrite ^/[a-z]+(/.*)$ $1 break;
        proxy_pass http://127.0.0.1:%(to)d;
        proxy_read_timeout %(read)s;
    }
"""

CONF = """
microshop_zone name=shop size=8m;
microshop_jwt_key %(ec_pub)s kid=k1;
microshop_events_out%(events_out)s;

server {
    listen 127.0.0.1:%(port)d;

    location = /status { microshop_status; }

    location /admin/ { microshop_admin; }

    location = /events { microshop_events secret=%(secret)s; }

    location ~ ^/v1/sellers/(?<seller>[^/]+)/feed$ {
        microshop_seller $seller;
        microshop_feed heartbeat=1s;
    }
%(locations)s
}
"""

# name, microshop_reserve's parameters, upstream ("dead" or "backend"),
# proxy_read_timeout
LOCATIONS = [
    ("down", "hold=1s offline=accept offline_max=2", "dead", "1s"),
    ("slow", "hold=30s offline=accept", "backend", "1s"),
    ("plain", "hold=30s", "dead", "1s"),
    ("plainslow", "hold=30s", "backend", "1s"),
    ("many", "hold=30s offline=accept", "dead", "1s"),  # offline_max: 100
    # hold= runs out while the backend is still waited for
    ("slowhold", "hold=1s offline=accept offline_max=1", "backend", "2s"),
]

PENDING_BODY = re.compile(r'^\{"status":"pending","order":"([0-9a-f]{16}-'
                          r'[0-9]+)"\}\n?$')


def start(nginx, keys, backend, events_out="", workers=2, n=None):
    """The config in a new instance (or n's prefix) with events_out."""
    n = n or nginx.new()
    n.secret = n.write_file("conf/webhook.secret", SECRET + b"\n")
    ports = {"dead": free_port(), "backend": backend.port}
    locations = "".join(LOCATION % {"name": name, "reserve": reserve,
                                    "to": ports[to], "read": read}
                        for name, reserve, to, read in LOCATIONS)
    n.conf_args = {"port": n.port, "ec_pub": keys.ec256_public_pem,
                   "events_out": events_out and " " + events_out,
                   "secret": n.secret, "locations": locations}
    n.start(CONF % n.conf_args, workers=workers)
    return n


@pytest.fixture(scope="module")
def gw(nginx, keys, backend):
    return start(nginx, keys, backend)


# ------------------------------------------------------------ helpers

def new_seller(prefix="off-"):
    return prefix + uuid.uuid4().hex[:10]


def checkout(gw, keys, seller, items, where="down", body=None, **headers):
    t = mint(keys, kid="k1", seller=seller, scope="orders:write")
    doc = body if body is not None else {"items": items}
    return gw.post("/%s/v1/sellers/%s/checkout" % (where, seller), token=t,
                   json=doc, headers=headers)


def feed(gw, keys, seller):
    t = mint(keys, kid="k1", seller=seller, scope="events:read")
    r = gw.get("/v1/sellers/%s/feed" % seller, params={"limit": 1000},
               token=t)
    assert r.status_code == 200, r.text
    return r.json()["events"]


def types(events):
    return [e["type"] for e in events]


def orders(gw, keys, seller, state=None):
    params = {"seller": seller}
    if state:
        params["state"] = state
    r = gw.get("/admin/orders", token=admin(keys), params=params)
    assert r.status_code == 200, r.text
    return r.json()["orders"]


def settle(gw, keys, order, action):
    return gw.post("/admin/orders/%s/%s" % (order, action), token=admin(keys))


def metric(gw, name):
    m = re.search(r"^%s (\d+)$" % re.escape(name), gw.get("/status").text,
                  re.M)
    assert m, name
    return int(m.group(1))


OFFLINE_TOTAL = "microshop_offline_orders_total"


def pending_answer(r):
    """The 202 of an order accepted offline: its reservation id."""
    assert r.status_code == 202, (r.status_code, r.text[:300])
    assert r.headers["Content-Type"] == "application/json", r.headers
    assert r.headers["Cache-Control"] == "no-store", r.headers
    m = PENDING_BODY.match(r.text)
    assert m, r.text
    assert r.json() == {"status": "pending", "order": m.group(1)}
    return m.group(1)


def offline_order(gw, keys, seller, sku="A1", quantity=1, edge=5,
                  where="down", **headers):
    """stock edge of (seller, sku) set, a checkout of quantity accepted
    offline; its reservation id."""
    if edge is not None:
        set_stock(gw, keys, seller, sku, edge)
    r = checkout(gw, keys, seller, [{"sku": sku, "quantity": quantity}],
                 where=where, **headers)
    return pending_answer(r)


def webhook(gw, seller, sku, available, version):
    body = json.dumps({"id": "evt_" + uuid.uuid4().hex,
                       "type": "inventory.updated", "seller": seller,
                       "sku": sku, "available": available,
                       "version": version}).encode()
    r = gw.post("/events", data=body, headers={
        "Content-Type": "application/json",
        "Microshop-Signature": sign_webhook(SECRET, body, int(time.time()))})
    assert r.status_code == 200, r.text
    assert r.json() != {"status": "duplicate"}, r.text


# ------------------------------------------------------ accepted offline

def test_refused_connect_is_accepted_offline(gw, keys):
    seller = new_seller()
    set_stock(gw, keys, seller, "A1", 5)
    before = metric(gw, OFFLINE_TOTAL)
    body = {"items": [{"sku": "A1", "quantity": 2}],
            "note": "gift wrap, caf\u00e9", "ship": {"zip": "75001"}}
    r = checkout(gw, keys, seller, None, body=body,
                 **{"Idempotency-Key": "off-key-1"})
    order = pending_answer(r)
    assert metric(gw, OFFLINE_TOTAL) == before + 1
    # the hold stays
    assert stock(gw, keys, seller, "A1") == {"available": 5, "held": 2}
    [listed] = orders(gw, keys, seller, state="all")
    assert listed["id"] == order and listed["seller"] == seller
    assert listed["why"] == "offline"
    assert listed["lines"] == [{"sku": "A1", "quantity": 2}]

    events = feed(gw, keys, seller)
    assert types(events) == ["stock.changed", "order.reserved",
                             "stock.changed", "order.pending"], events
    assert events[1]["data"]["order"] == order
    assert events[2]["data"] == {"sku": "A1", "available": 5, "held": 2,
                                 "by": "reserve", "order": order}
    assert events[3]["data"] == {
        "order": order, "reason": "upstream-unavailable", "status": 502,
        "lines": [{"sku": "A1", "quantity": 2}],
        "idempotency_key": "off-key-1", "body": body}


def test_read_timeout_is_accepted_offline(gw, keys, backend, clean):
    seller = new_seller()
    backend.set_item(seller, "T1", available=10)
    backend.mode(delay=3, path_prefix="/v1/sellers/%s/" % seller)
    before = metric(gw, OFFLINE_TOTAL)
    t0 = time.monotonic()
    order = offline_order(gw, keys, seller, "T1", 3, where="slow")
    # answered at proxy_read_timeout (1s), not after the backend
    assert 0.9 < time.monotonic() - t0 < 2.5
    assert metric(gw, OFFLINE_TOTAL) == before + 1
    # the backend had the request, with the reservation's id
    sent = [q for q in backend.requests()
            if q["path"] == "/v1/sellers/%s/checkout" % seller]
    assert len(sent) == 1
    assert sent[0]["headers"]["x-microshop-reservation"] == order
    events = feed(gw, keys, seller)
    assert types(events) == ["stock.changed", "order.reserved",
                             "stock.changed", "order.pending"], events
    pending = events[3]["data"]
    assert pending["status"] == 504 and pending["order"] == order
    assert pending["reason"] == "upstream-unavailable"
    assert "idempotency_key" not in pending
    assert pending["body"] == {"items": [{"sku": "T1", "quantity": 3}]}
    assert stock(gw, keys, seller, "T1") == {"available": 5, "held": 3}
    assert [o["why"] for o in orders(gw, keys, seller, "all")] == ["offline"]


def test_pending_once_hold_runs_out_and_never_released_by_time(gw, keys):
    seller = new_seller()
    order = offline_order(gw, keys, seller, quantity=2)
    # hold=1s: listed as pending once it ran out, and kept
    got = wait_for(lambda: orders(gw, keys, seller), timeout=4,
                   what="the offline order to be pending")
    assert [(o["id"], o["state"], o["why"]) for o in got] == \
        [(order, "pending", "offline")]
    time.sleep(1.5)
    assert stock(gw, keys, seller, "A1") == {"available": 5, "held": 2}
    assert [o["id"] for o in orders(gw, keys, seller)] == [order]
    assert "order.released" not in types(feed(gw, keys, seller))


def test_hold_ran_out_before_the_upstream_failed(gw, keys, backend,
                                                 clean):
    """hold=1s, proxy_read_timeout 2s: the hold is pending (no answer yet)
    when the timeout makes it an offline order; it is one all the same."""
    seller = new_seller()
    backend.mode(delay=2.6, path_prefix="/v1/sellers/%s/" % seller)
    set_stock(gw, keys, seller, "H1", 5)
    order = offline_order(gw, keys, seller, "H1", 2, edge=None,
                          where="slowhold")
    assert types(feed(gw, keys, seller))[-1] == "order.pending"
    assert [(o["id"], o["state"], o["why"])
            for o in orders(gw, keys, seller)] == \
        [(order, "pending", "offline")]
    # an offline order: an event does not settle it (the stock read
    # sweeps first, as for a hold pending reconciliation)
    assert stock(gw, keys, seller, "H1") == {"available": 5, "held": 2}
    webhook(gw, seller, "H1", 5, 3)
    assert stock(gw, keys, seller, "H1") == {"available": 5, "held": 2}
    assert [o["id"] for o in orders(gw, keys, seller)] == [order]
    # its slot is taken (offline_max=1)
    r = checkout(gw, keys, seller, [{"sku": "H1", "quantity": 1}],
                 where="slowhold")
    assert r.status_code == 504, r.text
    problem(r, "upstream-unavailable")


def test_an_event_never_settles_a_hold_that_may_go_offline(gw, keys,
                                                          backend, clean):
    """A hold with an offline slot whose request is still in flight is
    pending once hold= ran out; the backend's count cannot know whether it
    goes offline, so a newer webhook leaves it held, and the timeout makes
    it an offline order."""
    seller = new_seller()
    backend.mode(delay=2.6, path_prefix="/v1/sellers/%s/" % seller)
    set_stock(gw, keys, seller, "E1", 5)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        slow = pool.submit(checkout, gw, keys, seller,
                           [{"sku": "E1", "quantity": 2}], "slowhold")
        # hold=1s ran out: pending, no answer yet
        wait_for(lambda: orders(gw, keys, seller), timeout=4,
                 what="the hold to be pending")
        assert stock(gw, keys, seller, "E1") == {"available": 5, "held": 2}
        webhook(gw, seller, "E1", 5, 3)
        # the webhook's count is taken, the hold is not settled by it
        assert stock(gw, keys, seller, "E1") == {"available": 5, "held": 2}
        r = slow.result(10)
    order = pending_answer(r)
    assert "order.pending" in types(feed(gw, keys, seller))
    assert [(o["id"], o["why"]) for o in orders(gw, keys, seller)] \
        == [(order, "offline")]


def test_keep_alive_goes_on_after_a_202(gw, keys):
    seller = new_seller()
    set_stock(gw, keys, seller, "K1", 5)
    t = mint(keys, kid="k1", seller=seller, scope="orders:write")
    url = gw.url("/down/v1/sellers/%s/checkout" % seller)
    with http_session() as s:
        got = []
        for _ in range(2):
            r = s.post(url, json={"items": [{"sku": "K1", "quantity": 1}]},
                       headers={"Authorization": "Bearer " + t})
            got.append(pending_answer(r))
            assert int(r.headers["Content-Length"]) == len(r.content)
        r = s.get(gw.url("/status"))
        assert r.status_code == 200
    assert len(set(got)) == 2
    assert stock(gw, keys, seller, "K1") == {"available": 5, "held": 2}


def test_large_body_in_order_pending(gw, keys):
    """The event carries the body up to 16k; beyond, body_truncated."""
    seller = new_seller()
    set_stock(gw, keys, seller, "B1", 5)
    small = {"items": [{"sku": "B1", "quantity": 1}], "note": "n" * 15000}
    big = {"items": [{"sku": "B1", "quantity": 1}], "note": "n" * 17000}
    for body in (small, big):
        pending_answer(checkout(gw, keys, seller, None, body=body))
    events = [e["data"] for e in feed(gw, keys, seller)
              if e["type"] == "order.pending"]
    assert events[0]["body"] == small and "body_truncated" not in events[0]
    assert "body" not in events[1] and events[1]["body_truncated"] is True


def test_webhook_does_not_settle_an_offline_order(gw, keys, backend, clean):
    seller = new_seller()
    set_stock(gw, keys, seller, "W1", 10)
    offline = offline_order(gw, keys, seller, "W1", 2, edge=None)
    # an unknown outcome without offline=: the webhook settles that one
    backend.mode(delay=1.6, path_prefix="/v1/sellers/%s/" % seller)
    r = checkout(gw, keys, seller, [{"sku": "W1", "quantity": 3}],
                 where="plainslow")
    assert r.status_code == 504, r.text
    problem(r, "upstream-unavailable")
    assert stock(gw, keys, seller, "W1") == {"available": 10, "held": 5}
    assert len(orders(gw, keys, seller, "all")) == 2

    webhook(gw, seller, "W1", 7, 5)
    assert stock(gw, keys, seller, "W1") == {"available": 7, "held": 2}
    assert [(o["id"], o["why"]) for o in orders(gw, keys, seller, "all")] \
        == [(offline, "offline")]
    # a newer one again: still there
    webhook(gw, seller, "W1", 6, 6)
    assert stock(gw, keys, seller, "W1") == {"available": 6, "held": 2}
    assert [o["id"] for o in orders(gw, keys, seller, "all")] == [offline]
    assert settle(gw, keys, offline, "release").status_code == 204
    assert stock(gw, keys, seller, "W1") == {"available": 6, "held": 0}


def test_idempotent_retry_replays_the_202(gw, keys):
    seller = new_seller()
    set_stock(gw, keys, seller, "I1", 5)
    key = {"Idempotency-Key": "off-" + uuid.uuid4().hex}
    first = checkout(gw, keys, seller, [{"sku": "I1", "quantity": 1}], **key)
    order = pending_answer(first)
    assert "Idempotent-Replayed" not in first.headers
    total = metric(gw, OFFLINE_TOTAL)
    events = feed(gw, keys, seller)
    again = checkout(gw, keys, seller, [{"sku": "I1", "quantity": 1}], **key)
    assert pending_answer(again) == order
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    # no second hold, no second order, no new event
    assert stock(gw, keys, seller, "I1") == {"available": 5, "held": 1}
    assert [o["id"] for o in orders(gw, keys, seller, "all")] == [order]
    assert feed(gw, keys, seller) == events
    assert metric(gw, OFFLINE_TOTAL) == total


# ------------------------------------------------------ settling

@pytest.mark.parametrize("action, available, event, data", [
    ("commit", 4, "order.committed", {"by": "admin"}),
    ("release", 6, "order.released", {"by": "admin", "reason": "admin"}),
])
def test_admin_settles(gw, keys, action, available, event, data):
    seller = new_seller()
    order = offline_order(gw, keys, seller, "C1", 2, edge=6)
    r = settle(gw, keys, order, action)
    assert r.status_code == 204 and r.content == b""
    assert stock(gw, keys, seller, "C1") == {"available": available,
                                             "held": 0}
    assert orders(gw, keys, seller, "all") == []
    events = feed(gw, keys, seller)
    assert types(events)[-2:] == ["order.pending", event]
    assert events[-1]["data"] == dict(data, order=order)
    # settled once: the second is 404 and changes nothing
    for again in ("commit", "release"):
        r = settle(gw, keys, order, again)
        assert r.status_code == 404, r.text
        problem(r, "not-found")
    assert stock(gw, keys, seller, "C1") == {"available": available,
                                             "held": 0}
    assert len(feed(gw, keys, seller)) == len(events)


# ------------------------------------------------------ offline_max

def assert_failed_as_without_offline(gw, keys, seller, r, sku="A1"):
    assert r.status_code == 502, (r.status_code, r.text[:300])
    problem(r, "upstream-unavailable")
    events = feed(gw, keys, seller)
    assert types(events)[-3:] == ["order.reserved", "stock.changed",
                                  "order.released"], events
    released = events[-1]["data"]
    assert released["order"] == events[-3]["data"]["order"]
    assert released["reason"] == "upstream-unavailable"
    assert "order.pending" not in types(events[-3:])


def test_offline_max_slots_per_seller(gw, keys):
    seller, other = new_seller(), new_seller()
    set_stock(gw, keys, seller, "M1", 20)
    set_stock(gw, keys, other, "M1", 20)
    total = metric(gw, OFFLINE_TOTAL)
    first = offline_order(gw, keys, seller, "M1", 1, edge=None)
    offline_order(gw, keys, seller, "M1", 1, edge=None)
    # offline_max=2: the third fails as without offline=, its hold released
    r = checkout(gw, keys, seller, [{"sku": "M1", "quantity": 4}])
    assert_failed_as_without_offline(gw, keys, seller, r)
    assert stock(gw, keys, seller, "M1") == {"available": 20, "held": 2}
    assert len(orders(gw, keys, seller, "all")) == 2
    assert metric(gw, OFFLINE_TOTAL) == total + 2
    # another seller has slots of its own
    offline_order(gw, keys, other, "M1", 1, edge=None)
    offline_order(gw, keys, other, "M1", 1, edge=None)
    # one settled gives its slot back
    assert settle(gw, keys, first, "commit").status_code == 204
    offline_order(gw, keys, seller, "M1", 1, edge=None)
    r = checkout(gw, keys, seller, [{"sku": "M1", "quantity": 1}])
    assert_failed_as_without_offline(gw, keys, seller, r)
    assert stock(gw, keys, seller, "M1") == {"available": 19, "held": 2}
    assert metric(gw, OFFLINE_TOTAL) == total + 5


def test_offline_max_default_is_100(gw, keys):
    seller = new_seller()
    set_stock(gw, keys, seller, "D1", 1000)
    t = mint(keys, kid="k1", seller=seller, scope="orders:write")
    url = gw.url("/many/v1/sellers/%s/checkout" % seller)
    statuses = []
    with http_session() as s:
        for _ in range(101):
            r = s.post(url, json={"items": [{"sku": "D1", "quantity": 1}]},
                       headers={"Authorization": "Bearer " + t})
            statuses.append(r.status_code)
    assert statuses == [202] * 100 + [502], statuses
    assert stock(gw, keys, seller, "D1") == {"available": 1000, "held": 100}


def test_slot_given_back_when_checkout_fails_otherwise(gw, keys, backend,
                                                       clean):
    """A hold that took a slot but ended otherwise (committed, released)
    gives its slot back: offline_max counts offline orders only."""
    seller = new_seller()
    backend.set_item(seller, "G1", available=50)
    set_stock(gw, keys, seller, "G1", 50)
    for _ in range(3):      # committed by the backend through /slow/
        r = checkout(gw, keys, seller, [{"sku": "G1", "quantity": 1}],
                     where="slow")
        assert r.status_code == 201, r.text
    backend.mode(status=503, path_prefix="/v1/sellers/%s/" % seller)
    for _ in range(3):      # the backend's own 503: released
        r = checkout(gw, keys, seller, [{"sku": "G1", "quantity": 1}],
                     where="slow")
        assert r.status_code == 503, r.text
    # /down/ has offline_max=2, which the six above did not use up
    offline_order(gw, keys, seller, "G1", 1, edge=None)
    offline_order(gw, keys, seller, "G1", 1, edge=None)


# ------------------------------------------------------ not offline

def test_without_offline_accept_nothing_changes(gw, keys):
    seller = new_seller()
    set_stock(gw, keys, seller, "P1", 5)
    total = metric(gw, OFFLINE_TOTAL)
    r = checkout(gw, keys, seller, [{"sku": "P1", "quantity": 2}],
                 where="plain")
    assert_failed_as_without_offline(gw, keys, seller, r)
    assert "Retry-After" in r.headers
    assert stock(gw, keys, seller, "P1") == {"available": 5, "held": 0}
    assert orders(gw, keys, seller, "all") == []
    assert metric(gw, OFFLINE_TOTAL) == total


def test_no_stock_at_the_edge_is_not_accepted_offline(gw, keys):
    seller = new_seller()
    total = metric(gw, OFFLINE_TOTAL)
    r = checkout(gw, keys, seller, [{"sku": "N1", "quantity": 1}])
    assert r.status_code == 502, r.text
    problem(r, "upstream-unavailable")
    assert orders(gw, keys, seller, "all") == []
    assert feed(gw, keys, seller) == []
    assert metric(gw, OFFLINE_TOTAL) == total


# ------------------------------------------------------ configuration

def conf(keys, port, reserve, events_out="microshop_events_out;\n",
         extra=""):
    return ("microshop_jwt_key %s kid=k1;\n%s%s"
            "server {\n    listen 127.0.0.1:%d;\n"
            "    location ~ ^/v1/sellers/(?<seller>[^/]+)/checkout$ {\n"
            "        microshop_seller $seller;\n"
            "        microshop_reserve %s;\n"
            "        proxy_pass http://127.0.0.1:9;\n"
            "    }\n}\n" % (keys.ec256_public_pem, events_out, extra, port,
                            reserve))


def test_conf_accepted(nginx, keys):
    n = nginx.new()
    rc, err = n.test_config(conf(keys, n.port,
                                 "on hold=5s offline=accept offline_max=7"))
    assert rc == 0, err


def test_conf_offline_needs_events_out(nginx, keys):
    n = nginx.new()
    rc, err, line = n.test_config_at(
        conf(keys, n.port, "on offline=accept", events_out=""),
        "offline=accept")
    assert_conf_refused(rc, err, line, "offline=accept",
                        '"microshop_events_out"')


def test_conf_offline_max_needs_offline_accept(nginx, keys):
    n = nginx.new()
    rc, err, line = n.test_config_at(conf(keys, n.port, "on offline_max=5"),
                                     "offline_max=")
    assert_conf_refused(rc, err, line, "offline_max= needs offline=accept")


@pytest.mark.parametrize("value", ["0", "-1", "x", "", "1000001"])
def test_conf_offline_max_invalid(nginx, keys, value):
    n = nginx.new()
    rc, err, line = n.test_config_at(
        conf(keys, n.port, "on offline=accept offline_max=" + value),
        "offline_max=")
    assert_conf_refused(rc, err, line, "offline_max=" + value)


def test_conf_offline_with_redis(nginx, keys):
    # offline orders in Redis: t/test_redis_offline.py
    n = nginx.new()
    rc, err = n.test_config(
        conf(keys, n.port, "on offline=accept offline_max=3",
             extra="microshop_redis redis://127.0.0.1:%d;\n" % free_port()))
    assert rc == 0, err


# ------------------------------------------------------ restart

def kill_hard(n):
    """kill -9 the master and its workers: nothing saved."""
    pids = [n.master_pid, *harness.children(n.master_pid)]
    for pid in pids:
        harness.send_signal(pid, signal.SIGKILL)
    wait_for(lambda: not any(map(harness.alive, pids)), timeout=5,
             what="nginx to die")
    n.master_pid = None
    os.unlink(n.pid_path)


def test_restart_keeps_offline_orders_and_the_feed(nginx, keys, backend):
    n = nginx.new()
    state = os.path.join(n.prefix, "state.json")
    start(nginx, keys, backend, "state=" + state, workers=1, n=n)
    n2 = n
    seller, other = new_seller(), new_seller()
    a = offline_order(n2, keys, seller, "S1", 2, edge=10)
    b = offline_order(n2, keys, seller, "S1", 1, edge=None)
    c = offline_order(n2, keys, other, "S2", 3, edge=4)
    listed = {s: [(o["id"], o["why"]) for o in orders(n2, keys, s, "all")]
              for s in (seller, other)}
    assert listed == {seller: [(a, "offline"), (b, "offline")],
                      other: [(c, "offline")]}
    events = {s: feed(n2, keys, s) for s in (seller, other)}
    assert types(events[seller]).count("order.pending") == 2

    n2.stop()
    assert os.path.exists(state)
    n2.launch()
    assert not os.path.exists(state)
    assert os.path.exists(state + ".loaded")
    # the same orders, the same events (ids kept)
    for s in (seller, other):
        assert [(o["id"], o["why"]) for o in orders(n2, keys, s, "all")] \
            == listed[s]
        assert feed(n2, keys, s) == events[s]
    # the units are held again; the number is unknown (404) until the
    # admin sets it again
    r = n2.get("/admin/stock/%s/S1" % seller, token=admin(keys))
    assert r.status_code == 404, r.text
    set_stock(n2, keys, seller, "S1", 10)
    assert stock(n2, keys, seller, "S1") == {"available": 10, "held": 3}
    # settling works, and new events come after the old ones
    assert settle(n2, keys, a, "commit").status_code == 204
    assert stock(n2, keys, seller, "S1") == {"available": 8, "held": 1}
    after = feed(n2, keys, seller)
    assert after[:len(events[seller])] == events[seller]
    assert types(after)[-2:] == ["stock.changed", "order.committed"]
    # the slots came back with the orders (offline_max=2 on /down/)
    set_stock(n2, keys, other, "S2", 10)
    assert stock(n2, keys, other, "S2") == {"available": 10, "held": 3}
    r = checkout(n2, keys, other, [{"sku": "S2", "quantity": 1}])
    assert r.status_code == 202, r.text
    r = checkout(n2, keys, other, [{"sku": "S2", "quantity": 1}])
    assert r.status_code == 502, r.text

    # a crash saves nothing, and nothing of the last file comes back
    kill_hard(n2)
    n2.launch()
    assert orders(n2, keys, seller, "all") == []
    assert settle(n2, keys, a, "commit").status_code == 404
    n2.stop()


def test_reload_keeps_everything_and_does_not_read_the_file(nginx, keys,
                                                            backend):
    n = nginx.new()
    state = os.path.join(n.prefix, "state.json")
    start(nginx, keys, backend, "state=" + state, workers=1, n=n)
    seller = new_seller()
    order = offline_order(n, keys, seller, "L1", 2, edge=5)
    events = feed(n, keys, seller)
    # a file that a reload must not read
    ghost = new_seller()
    now = int(time.time() * 1000)
    with open(state, "w") as f:
        f.write(json.dumps({"order": {
            "id": "00000000000000aa-1", "seller": ghost, "created": now,
            "deadline": now, "lines": [{"sku": "G1", "quantity": 1}]}}) + "\n")
    n.reload()
    assert os.path.exists(state)
    assert not os.path.exists(state + ".loaded")
    assert orders(n, keys, ghost, "all") == []
    assert [o["id"] for o in orders(n, keys, seller, "all")] == [order]
    assert feed(n, keys, seller) == events
    assert stock(n, keys, seller, "L1") == {"available": 5, "held": 2}
    assert settle(n, keys, order, "release").status_code == 204
    n.stop()
