"""The sellers' feeds in Redis (docs/redis.md "The feeds").

With microshop_redis a seller's events are the stream ms:{<seller>}:events
(XADD MAXLEN ~ keep=, the ids Redis makes), and every write publishes the
seller on ms:events, so that a reader waiting on any node (a long poll, an
event stream) is woken within a tick.  The feed reads the stream (XRANGE
after an id); Redis down, it answers 503."""

import json
import threading
import time

import pytest
import requests

import redisnodes
from microshop import SLOW, mint, problem, set_stock, wait_for
from redisnodes import wait_redis_down, wait_redis_up

pytestmark = redisnodes.skip_under_deferred()

KEEP = 50
NODE_ENTRIES = 100          # Redis' stream-node-max-entries: what ~ trims

CONF = """
microshop_jwt_key %(ec_pub)s kid=k1;
%(redis)s
microshop_events_out keep=%(keep)d;

server {
    listen 127.0.0.1:%(port)d;

    location = /status { microshop_status; }

    location /admin/ { microshop_admin; }

    location ~ ^/v1/sellers/(?<seller>[^/]+)/checkout$ {
        proxy_pass http://127.0.0.1:%(backend)d;
        microshop_reserve on hold=30s;
        microshop_auth on;
        microshop_require_scope POST orders:write;
        microshop_seller $seller;
    }

    location ~ ^/v1/sellers/(?<seller>[^/]+)/feed$ {
        microshop_seller $seller;
        microshop_feed heartbeat=1s;
    }
}
"""


@pytest.fixture(scope="module")
def nodes(nginx, keys, backend, module_redis):
    def render(n):
        return CONF % {"port": n.port, "ec_pub": keys.ec256_public_pem,
                       "keep": KEEP, "backend": backend.port,
                       "redis": redisnodes.directive(module_redis.url)}
    return redisnodes.start_nodes(nginx, 2, render,
                                  allow_log=[r"microshop redis: "])


def reader(keys, seller):
    return mint(keys, kid="k1", seller=seller, scope="events:read")


def feed(n, keys, seller, query="", **kw):
    return n.get("/v1/sellers/%s/feed%s" % (seller, query),
                 token=reader(keys, seller), **kw)


def page(n, keys, seller, query=""):
    resp = feed(n, keys, seller, query)
    assert resp.status_code == 200, resp.text
    return resp.json()


def id_key(text):
    ms, seq = text.split("-")
    return int(ms), int(seq)


def stream(module_redis, seller):
    r = module_redis.client()
    return [(i.decode(), {k.decode(): v.decode() for k, v in f.items()})
            for i, f in r.xrange("ms:{%s}:events" % seller)]


def test_a_stock_put_is_in_the_feed_and_in_the_stream(nodes, keys,
                                                      module_redis):
    a = nodes[0]
    seller = "f1"
    assert page(a, keys, seller, "?after=0") == {"events": [],
                                                "next": "0-0"}

    set_stock(a, keys, seller, "sku-1", 7)
    set_stock(a, keys, seller, "sku-2", 3)

    body = wait_for(lambda: (lambda p: p if len(p["events"]) == 2
                             else None)(page(a, keys, seller, "?after=0")),
                    timeout=2, what="two events in the feed")
    events = body["events"]
    assert [e["type"] for e in events] == ["stock.changed"] * 2
    assert all(e["seller"] == seller for e in events)
    assert id_key(events[0]["id"]) < id_key(events[1]["id"])
    assert body["next"] == events[1]["id"]
    assert "missed" not in body

    entries = stream(module_redis, seller)
    assert [i for i, _ in entries] == [e["id"] for e in events]
    assert [f["type"] for _, f in entries] == ["stock.changed"] * 2
    assert json.loads(entries[0][1]["data"]) == events[0]["data"]

    # after= is exclusive; the other node reads the same feed
    later = page(nodes[1], keys, seller, "?after=" + events[0]["id"])
    assert [e["id"] for e in later["events"]] == [events[1]["id"]]
    assert page(a, keys, seller, "?after=" + body["next"])["events"] == []
    assert page(a, keys, seller, "?limit=1&after=0")["events"] == events[:1]

    # nothing comes after the largest id: an empty page, not a 503
    top = "18446744073709551615-18446744073709551615"
    assert page(a, keys, seller, "?after=" + top) == {"events": [],
                                                      "next": top}


def test_maxlen_keeps_about_keep_events(nodes, keys, module_redis):
    a = nodes[0]
    seller = "f2"
    total = KEEP + NODE_ENTRIES + 10
    for i in range(total):
        set_stock(a, keys, seller, "sku", i + 1)

    r = module_redis.client()
    key = "ms:{%s}:events" % seller
    wait_for(lambda: r.xinfo_stream(key)["entries-added"] == total,
             timeout=5, what="every event in the stream")
    length = r.xlen(key)
    assert KEEP <= length <= KEEP + NODE_ENTRIES, length

    body = page(a, keys, seller, "?after=0&limit=1000")
    assert body.get("missed") is True
    assert len(body["events"]) == length
    assert body["next"] == r.xinfo_stream(key)["last-generated-id"].decode()
    ids = [id_key(e["id"]) for e in body["events"]]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)

    # a reader that kept up misses nothing
    kept = page(a, keys, seller, "?after=" + body["events"][0]["id"])
    assert "missed" not in kept


def test_a_long_poll_on_b_hears_a_write_through_a(nodes, keys):
    a, b = nodes
    seller = "f3"
    set_stock(a, keys, seller, "sku", 1)
    nxt = wait_for(lambda: page(b, keys, seller, "?after=0")["events"]
                   and page(b, keys, seller, "?after=0")["next"],
                   timeout=2, what="the first event on b")

    got = {}

    def poll():
        got["resp"] = feed(b, keys, seller, "?wait=5s&after=" + nxt)
        got["at"] = time.monotonic()

    t = threading.Thread(target=poll)
    t.start()
    time.sleep(0.5)                   # the poll waits on b
    assert "resp" not in got
    written = time.monotonic()
    set_stock(a, keys, seller, "sku", 2)
    t.join(10)

    resp = got["resp"]
    assert resp.status_code == 200, resp.text
    events = resp.json()["events"]
    assert [e["type"] for e in events] == ["stock.changed"]
    assert id_key(events[0]["id"]) > id_key(nxt)
    assert got["at"] - written < 0.5 * SLOW, got["at"] - written


def test_an_event_stream_on_b_hears_a_write_through_a(nodes, keys):
    a, b = nodes
    seller = "f4"
    headers = {"Accept": "text/event-stream",
               "Authorization": "Bearer " + reader(keys, seller)}
    url = b.url("/v1/sellers/%s/feed?after=$" % seller)

    with requests.get(url, headers=headers, stream=True,
                      timeout=10 * SLOW) as resp:
        assert resp.status_code == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        lines = resp.iter_lines(decode_unicode=True)
        time.sleep(0.3)               # the stream waits on b
        written = time.monotonic()
        set_stock(a, keys, seller, "sku", 5)

        event = {}
        for line in lines:
            if line.startswith("id: "):
                event["id"] = line[4:]
            elif line.startswith("event: "):
                event["type"] = line[7:]
            elif line.startswith("data: "):
                event["data"] = json.loads(line[6:])
            elif line == "" and "id" in event:
                break
        took = time.monotonic() - written

    assert event["type"] == "stock.changed", event
    assert event["data"]["seller"] == seller
    assert took < 0.5 * SLOW, took


def test_a_checkout_tells_the_stock_after_its_hold(nodes, keys, backend,
                                                   clean):
    """The RESERVE script answers each managed line's stock once held."""
    a = nodes[0]
    seller = "f6"
    backend.set_item(seller, "sku", available=10)
    backend.set_item(seller, "free", available=10)
    set_stock(a, keys, seller, "sku", 2)
    token = mint(keys, kid="k1", seller=seller, scope="orders:write")
    resp = a.post("/v1/sellers/%s/checkout" % seller, token=token,
                  json={"items": [{"sku": "sku", "quantity": 2},
                                  {"sku": "free", "quantity": 1}]})
    assert resp.status_code == 201, resp.text

    def types():
        events = page(a, keys, seller, "?after=0")["events"]
        return events if any(e["type"] == "order.committed"
                             for e in events) else None

    events = wait_for(types, timeout=2, what="the checkout's events")
    by_reserve = [e["data"] for e in events
                  if e["type"] == "stock.changed"
                  and e["data"].get("by") == "reserve"]
    assert [(d["sku"], d["available"], d["held"]) for d in by_reserve] \
        == [("sku", 2, 2)]
    assert "stock.sold_out" in [e["type"] for e in events]


def test_redis_down_the_feed_answers_503(nodes, keys, module_redis):
    a = nodes[0]
    module_redis.stop()
    try:
        wait_redis_down(a)
        resp = feed(a, keys, "f5", "?after=0")
        assert resp.status_code == 503, resp.text
        problem(resp)
        resp = feed(a, keys, "f5", "?after=$&wait=1s")
        assert resp.status_code == 503, resp.text
    finally:
        module_redis.start()

    wait_redis_up(a)
    assert page(a, keys, "f5", "?after=0")["next"] == "0-0"
