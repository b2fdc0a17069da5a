"""The sellers' event feed (issue 16): microshop_events_out and
microshop_feed, read as JSON pages, long polls and Server-Sent Events.

Every event is written by a real flow (a checkout through the reference
backend, the admin API, a signed webhook, a revocation) and read the way a
client reads it.  Each test uses sellers of its own, so that the feeds of
one instance never mix.

  gw        2 workers, listen with reuseport (so that keep-alive
            connections can be pinned to either worker) and a second
            port with a small send buffer (the stalled reader)
  ring      1 worker, microshop_events_out keep=5
  (own)     1 worker, size=64k (the full zone), and one reloaded
"""

import http.client
import json
import re
import socket
import threading
import time
import uuid

import pytest

from microshop import (admin, assert_conf_refused, free_port, http_session,
                       mint, problem,
                       set_stock, sign_webhook, stock, wait_for)

SECRET = b"whsec_feed_" + b"0123456789abcdef" * 2

CONF = """
microshop_zone name=shop size=8m;
microshop_jwt_key %(ec_pub)s kid=k1;
microshop_events_out %(events_out)s;

server {
    listen 127.0.0.1:%(port)d%(reuseport)s;
    listen 127.0.0.1:%(port2)d sndbuf=16k;
    add_header X-Worker $pid always;

    location = /status { microshop_status; }

    location /admin/ { microshop_admin; }

    location = /events { microshop_events secret=%(secret)s; }

    location ~ ^/v1/sellers/(?<seller>[^/]+)/feed$ {
        microshop_seller $seller;
        microshop_feed heartbeat=1s buffer=16k;
    }

    location ~ ^/v1/sellers/(?<seller>[^/]+)/checkout$ {
        microshop_auth on;
        microshop_seller $seller;
        microshop_require_scope POST orders:write;
        microshop_idempotency on;
        microshop_reserve on hold=30s;
        proxy_pass http://127.0.0.1:%(backend)d;
        proxy_read_timeout 1s;
    }

    location ~ ^/down/sellers/(?<seller>[^/]+)/checkout$ {
        microshop_auth on;
        microshop_seller $seller;
        microshop_require_scope POST orders:write;
        microshop_reserve on hold=30s;
        proxy_pass http://127.0.0.1:%(dead)d;
    }
}
"""

ID = re.compile(r"^(0|[1-9][0-9]*)-(0|[1-9][0-9]*)$")
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

# every token the tests used and every body a feed answered: no feed may
# ever hold a token or the webhook's secret (test_no_token_or_secret...)
TOKENS = set()
BODIES = []


def start(nginx, keys, backend, secret_path, events_out="", workers=1,
          reuseport=False):
    n = nginx.new()
    n.port2 = free_port()
    n.secret = secret_path
    n.conf_args = {"port": n.port, "port2": n.port2,
                   "reuseport": " reuseport" if reuseport else "",
                   "ec_pub": keys.ec256_public_pem,
                   "events_out": events_out, "secret": secret_path,
                   "backend": backend.port, "dead": free_port()}
    n.start(CONF % n.conf_args, workers=workers)
    return n


@pytest.fixture(scope="module")
def secret_path(nginx):
    d = nginx.new()         # only its prefix: a directory nginx can read
    return d.write_file("conf/webhook.secret", SECRET + b"\n")


@pytest.fixture(scope="module")
def gw(nginx, keys, backend, secret_path):
    return start(nginx, keys, backend, secret_path, workers=2,
                 reuseport=True)


@pytest.fixture(scope="module")
def ring(nginx, keys, backend, secret_path):
    return start(nginx, keys, backend, secret_path, events_out="keep=5")


# ------------------------------------------------------------ helpers

def new_seller(prefix="feed-"):
    return prefix + uuid.uuid4().hex[:10]


def tok(keys, seller, scope="events:read", **claims):
    t = mint(keys, kid="k1", seller=seller, scope=scope, **claims)
    TOKENS.add(t)
    return t


def admin_tok(keys):
    t = admin(keys)
    TOKENS.add(t)
    return t


def idkey(event_id):
    """An id as the two numbers it is compared as."""
    m = ID.match(event_id)
    assert m, event_id
    return int(m.group(1)), int(m.group(2))


def page(gw, keys, seller, token=None, **params):
    """GET the seller's feed as JSON; the answer, checked, as a dict."""
    r = gw.get("/v1/sellers/%s/feed" % seller, params=params,
               token=token or tok(keys, seller))
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/json", r.headers
    BODIES.append(r.text)
    doc = r.json()
    assert list(doc)[:2] == ["events", "next"], doc
    assert set(doc) <= {"events", "next", "missed"}, doc
    if "missed" in doc:
        assert doc["missed"] is True, doc
    assert ID.match(doc["next"]), doc
    for ev in doc["events"]:
        check_event(ev, seller)
    ids = [idkey(ev["id"]) for ev in doc["events"]]
    assert ids == sorted(set(ids)), ids
    if doc["events"]:
        assert doc["next"] == doc["events"][-1]["id"], doc
    return doc


def check_event(ev, seller):
    assert list(ev) == ["id", "time", "type", "seller", "data"], ev
    ms, _ = idkey(ev["id"])
    assert TIME.match(ev["time"]), ev
    assert ev["time"] == time.strftime(
        "%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) \
        + ".%03dZ" % (ms % 1000), ev
    assert ev["seller"] == seller, ev
    assert isinstance(ev["data"], dict), ev
    assert abs(ms / 1000 - time.time()) < 120, ev


def all_events(gw, keys, seller):
    return page(gw, keys, seller, limit=1000)["events"]


def kinds(events):
    return [(ev["type"], ev["data"].get("by")) for ev in events]


def put_stock(gw, keys, seller, sku, n):
    set_stock(gw, keys, seller, sku, n)


def checkout(gw, keys, seller, items, path=None, **headers):
    t = tok(keys, seller, scope="orders:write")
    return gw.post(path or "/v1/sellers/%s/checkout" % seller, token=t,
                   json={"items": items}, headers=headers)


# what a checkout that took a hold writes first
HELD = [("stock.changed", "admin"), ("order.reserved", None),
        ("stock.changed", "reserve")]


def buy(gw, keys, backend, sku, edge, quantity, path=None, mode=None,
        **headers):
    """A new seller with edge units of sku at the edge (and 10 at the
    backend) buys quantity of it, the backend in mode for its checkout;
    (seller, the answer, the feed's events)."""
    seller = new_seller()
    backend.set_item(seller, sku, available=10)
    put_stock(gw, keys, seller, sku, edge)
    if mode:
        backend.mode(path_prefix="/v1/sellers/%s/checkout" % seller, **mode)
    r = checkout(gw, keys, seller, [{"sku": sku, "quantity": quantity}],
                 path=path and path % seller, **headers)
    return seller, r, all_events(gw, keys, seller)


def metric(gw, name):
    text = gw.get("/status").text
    m = re.search(r"^%s (\d+)$" % re.escape(name), text, re.M)
    assert m, (name, text)
    return int(m.group(1))


class Stream:
    """A Server-Sent Events reader on a raw socket (HTTP/1.1, chunked)."""

    def __init__(self, gw, seller, token, query="", headers=None,
                 port=None, rcvbuf=None, read_head=True):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(5)
        self.sock.connect(("127.0.0.1", port or gw.port))
        lines = ["GET /v1/sellers/%s/feed%s HTTP/1.1" % (seller, query),
                 "Host: localhost", "Accept: text/event-stream",
                 "Authorization: Bearer " + token]
        lines += ["%s: %s" % kv for kv in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.raw = b""
        self.body = b""
        self.ended = False          # the last chunk came
        self.closed = False         # the connection closed
        self.status = None
        if read_head:
            self.head()

    def _recv(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("deadline")
        self.sock.settimeout(left)
        data = self.sock.recv(65536)
        if not data:
            self.closed = True
        self.raw += data
        return data

    def head(self, timeout=5):
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.raw:
            if not self._recv(deadline):
                raise AssertionError("closed before the head: %r" % self.raw)
        head, self.raw = self.raw.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            self.headers[k.strip().lower()] = v.strip()
        self.chunked = self.headers.get("transfer-encoding") == "chunked"
        self._decode()

    def _decode(self):
        if not self.chunked:
            self.body += self.raw
            self.raw = b""
            return
        while not self.ended and b"\r\n" in self.raw:
            size_line, rest = self.raw.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            if len(rest) < size + 2:
                return
            assert rest[size:size + 2] == b"\r\n", self.raw[:100]
            self.body += rest[:size]
            self.raw = rest[size + 2:]
            if size == 0:
                self.ended = True

    def block(self, timeout=3):
        """The next block ("id: ...\\nevent: ...\\ndata: ...\\n\\n" or a
        comment) as text; None once the stream has ended."""
        deadline = time.monotonic() + timeout
        while b"\n\n" not in self.body:
            if self.ended or self.closed:
                assert self.body == b"", self.body
                return None
            self._recv(deadline)
            self._decode()
        text, self.body = self.body.split(b"\n\n", 1)
        return text.decode() + "\n\n"

    def event(self, timeout=3):
        """The next event, heartbeats skipped: (id, type, event dict)."""
        while True:
            text = self.block(timeout)
            if text is None:
                return None
            if text.startswith(": heartbeat"):
                continue
            return parse_block(text)

    def rest(self, timeout=5):
        """Everything until the stream ends; (body text, whether it
        ended with the last chunk)."""
        deadline = time.monotonic() + timeout
        while not (self.ended or self.closed):
            self._recv(deadline)
            self._decode()
        return self.body.decode(), self.ended

    def close(self):
        self.sock.close()


def parse_block(text):
    m = re.match(r"^id: (\S+)\nevent: (\S+)\ndata: (.*)\n\n$", text, re.S)
    assert m, text
    doc = json.loads(m.group(3))
    assert "\n" not in m.group(3), text
    assert doc["id"] == m.group(1) and doc["type"] == m.group(2), text
    BODIES.append(text)
    return m.group(1), m.group(2), doc


def open_stream(gw, keys, seller, **kw):
    s = Stream(gw, seller, tok(keys, seller), **kw)
    assert s.status == 200, (s.status, s.raw, s.body)
    assert s.headers["content-type"] == "text/event-stream", s.headers
    assert s.headers["cache-control"] == "no-store", s.headers
    assert s.headers["x-accel-buffering"] == "no", s.headers
    assert s.block() == ": microshop feed\n\n"
    return s


# ------------------------------------------------------ event types

def test_checkout_committed(gw, keys, backend, clean):
    seller, r, events = buy(gw, keys, backend, "A1", 3, 2,
                            **{"Idempotency-Key": "feed-idem-1"})
    assert r.status_code == 201, r.text
    location = r.headers["Location"]
    assert location.startswith("/v1/sellers/%s/orders/" % seller)
    assert kinds(events) == HELD + [("order.committed", None)], events
    assert events[0]["data"] == {"sku": "A1", "available": 3, "held": 0,
                                 "by": "admin"}
    reserved = events[1]["data"]
    order = reserved["order"]
    assert reserved == {"order": order,
                        "lines": [{"sku": "A1", "quantity": 2}],
                        "idempotency_key": "feed-idem-1"}
    # the backend was told the same reservation id
    sent = [q for q in backend.requests()
            if q["path"] == "/v1/sellers/%s/checkout" % seller]
    assert sent[-1]["headers"]["x-microshop-reservation"] == order
    assert events[2]["data"] == {"sku": "A1", "available": 3, "held": 2,
                                 "by": "reserve", "order": order}
    assert events[3]["data"] == {"order": order, "status": 201,
                                 "location": location,
                                 "lines": [{"sku": "A1", "quantity": 2}],
                                 "idempotency_key": "feed-idem-1"}
    assert stock(gw, keys, seller, "A1") == {"available": 1, "held": 0}


def test_checkout_released_on_backend_5xx(gw, keys, backend, clean):
    seller, r, events = buy(gw, keys, backend, "A1", 5, 1,
                            mode={"status": 503})
    assert r.status_code == 503, r.text
    assert kinds(events) == HELD + [("order.released", None)], events
    order = events[1]["data"]["order"]
    assert "idempotency_key" not in events[1]["data"]
    assert events[3]["data"] == {"order": order, "status": 503,
                                 "reason": "backend-status",
                                 "lines": [{"sku": "A1", "quantity": 1}]}
    assert stock(gw, keys, seller, "A1") == {"available": 5, "held": 0}


def test_checkout_released_when_upstream_unreachable(gw, keys, backend,
                                                     clean):
    seller, r, events = buy(gw, keys, backend, "A1", 5, 1,
                            path="/down/sellers/%s/checkout")
    assert r.status_code == 502, r.text
    assert kinds(events) == HELD + [("order.released", None)], events
    order = events[1]["data"]["order"]
    released = dict(events[3]["data"])
    # the status, when given, is nginx's own 502
    assert released.pop("status", 502) == 502, events[3]
    assert released == {"order": order, "reason": "upstream-unavailable",
                        "lines": [{"sku": "A1", "quantity": 1}]}
    assert stock(gw, keys, seller, "A1") == {"available": 5, "held": 0}


def test_admin_stock_and_sold_out(gw, keys):
    seller = new_seller()
    put_stock(gw, keys, seller, "S1", 2)
    put_stock(gw, keys, seller, "S1", 0)
    events = all_events(gw, keys, seller)
    assert [(e["type"], e["data"]) for e in events] == [
        ("stock.changed", {"sku": "S1", "available": 2, "held": 0,
                           "by": "admin"}),
        ("stock.changed", {"sku": "S1", "available": 0, "held": 0,
                           "by": "admin"}),
        ("stock.sold_out", {"sku": "S1", "by": "admin"})]


def test_checkout_of_the_last_unit_is_sold_out(gw, keys, backend, clean):
    seller, r, events = buy(gw, keys, backend, "L1", 1, 1)
    assert r.status_code == 201, r.text
    assert kinds(events) == HELD + [("stock.sold_out", "reserve"),
                                    ("order.committed", None)], events
    assert events[2]["data"]["available"] == 1
    assert events[2]["data"]["held"] == 1
    assert events[3]["data"] == {"sku": "L1", "by": "reserve"}
    # the next buyer finds none: 409, and no event
    r = checkout(gw, keys, seller, [{"sku": "L1", "quantity": 1}])
    assert r.status_code == 409
    assert len(all_events(gw, keys, seller)) == 5


def test_admin_settles_a_hold_of_unknown_outcome(gw, keys, backend, clean):
    # the backend had the request but answers after proxy_read_timeout
    seller, r, events = buy(gw, keys, backend, "U1", 4, 3,
                            mode={"delay": 1.5})
    assert r.status_code == 504, r.text
    # no outcome: the hold is kept, and nothing says committed or released
    assert kinds(events) == HELD, events
    order = events[1]["data"]["order"]
    assert stock(gw, keys, seller, "U1") == {"available": 4, "held": 3}

    r = gw.post("/admin/orders/%s/release" % order, token=admin_tok(keys))
    assert r.status_code == 204, r.text
    events = all_events(gw, keys, seller)
    assert len(events) == 4, events
    assert events[3]["type"] == "order.released"
    assert events[3]["data"] == {"order": order, "by": "admin",
                                 "reason": "admin"}
    assert stock(gw, keys, seller, "U1") == {"available": 4, "held": 0}
    # settled once: a second release is 404, and writes nothing
    r = gw.post("/admin/orders/%s/release" % order, token=admin_tok(keys))
    assert r.status_code == 404
    assert len(all_events(gw, keys, seller)) == 4


def test_signed_webhook(gw, keys):
    seller = new_seller()
    evt = {"id": "evt_" + uuid.uuid4().hex, "type": "inventory.updated",
           "seller": seller, "sku": "W1", "version": 3, "available": 7}
    body = json.dumps(evt, separators=(",", ":")).encode()
    r = gw.post("/events", data=body, headers={
        "Content-Type": "application/json",
        "Microshop-Signature": sign_webhook(SECRET, body, int(time.time()))})
    assert r.status_code == 200, r.text
    events = all_events(gw, keys, seller)
    assert [(e["type"], e["data"]) for e in events] == [
        ("inventory.updated", {"sku": "W1", "event": evt["id"],
                               "version": 3, "cached": False}),
        ("stock.changed", {"sku": "W1", "available": 7,
                           "by": "inventory"})]
    # a duplicate, and a stale version, are no new events
    r = gw.post("/events", data=body, headers={
        "Content-Type": "application/json",
        "Microshop-Signature": sign_webhook(SECRET, body, int(time.time()))})
    assert r.json() == {"status": "duplicate"}
    assert len(all_events(gw, keys, seller)) == 2


def test_revocation(gw, keys):
    seller = new_seller()
    before = int(time.time()) - 100
    for doc in ({"seller": seller, "issued_before": before},
                {"seller": seller, "class": "staff",
                 "issued_before": before + 1}):
        r = gw.post("/admin/revocations", token=admin_tok(keys), json=doc)
        assert r.status_code == 204, r.text
    events = all_events(gw, keys, seller)
    assert [(e["type"], e["data"]) for e in events] == [
        ("token.revoked", {"issued_before": before}),
        ("token.revoked", {"class": "staff", "issued_before": before + 1})]


# ------------------------------------------------------ reading pages

def test_paging_after_and_limit(gw, keys):
    seller = new_seller()
    for n in range(1, 6):
        put_stock(gw, keys, seller, "P1", n)
    every = all_events(gw, keys, seller)
    assert [e["data"]["available"] for e in every] == [1, 2, 3, 4, 5]
    ids = [e["id"] for e in every]
    assert len(set(ids)) == 5
    assert [idkey(i) for i in ids] == sorted(idkey(i) for i in ids)

    got, after = [], None
    for expect in (ids[0:2], ids[2:4], ids[4:5], []):
        params = {"limit": 2}
        if after is not None:
            params["after"] = after
        doc = page(gw, keys, seller, **params)
        assert [e["id"] for e in doc["events"]] == expect, doc
        assert "missed" not in doc
        got += doc["events"]
        if expect:
            after = doc["next"]
        else:
            assert doc["next"] == after     # an empty page keeps its place
    assert got == every

    # the default limit is 100; after=0 is the start
    assert page(gw, keys, seller, after="0")["events"] == every
    # <ms> alone is <ms>-0
    ms, seq = idkey(ids[2])
    doc = page(gw, keys, seller, after=str(ms))
    assert [e["id"] for e in doc["events"]] == \
        [i for i in ids if idkey(i) > (ms, 0)]
    # $: nothing now, next is the newest
    doc = page(gw, keys, seller, after="$")          # sent as %24
    assert doc == {"events": [], "next": ids[-1]}
    r = gw.get("/v1/sellers/%s/feed?after=$" % seller,
               token=tok(keys, seller))
    assert r.status_code == 200 and r.json() == doc, r.text
    # a seller without events
    assert page(gw, keys, new_seller()) == {"events": [], "next": "0-0"}


def test_another_seller_cannot_read_the_feed(gw, keys):
    seller, other = new_seller(), new_seller()
    put_stock(gw, keys, seller, "X1", 1)
    r = gw.get("/v1/sellers/%s/feed" % seller, token=tok(keys, other))
    assert r.status_code == 403
    problem(r, "seller-mismatch")
    assert "X1" not in r.text and "stock.changed" not in r.text
    # as a stream too
    s = Stream(gw, seller, tok(keys, other))
    assert s.status == 403
    s.close()
    # and the other seller's own feed is empty
    assert page(gw, keys, other)["events"] == []


def test_token_and_scope(gw, keys):
    seller = new_seller()
    url = "/v1/sellers/%s/feed" % seller
    r = gw.get(url)
    assert r.status_code == 401
    problem(r)
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = gw.get(url, token=tok(keys, seller,
                              scope="inventory:read orders:write"))
    assert r.status_code == 403
    assert problem(r, "insufficient-scope")
    assert "events:read" in r.headers["WWW-Authenticate"]
    assert gw.get(url, token=tok(keys, seller,
                                 scope="orders:write events:read")) \
        .status_code == 200


def test_post_is_405(gw, keys):
    seller = new_seller()
    for method in ("POST", "PUT", "DELETE"):
        r = gw.request(method, "/v1/sellers/%s/feed" % seller,
                       token=tok(keys, seller), json={})
        assert r.status_code == 405, (method, r.text)
        problem(r)
        assert r.headers["Allow"] == "GET, HEAD"
    r = gw.request("HEAD", "/v1/sellers/%s/feed" % seller,
                   token=tok(keys, seller))
    assert r.status_code == 200 and r.content == b""


@pytest.mark.parametrize("query", [
    "after=abc", "after=-1", "after=01", "after=1-", "after=1-2-3",
    "after=", "after=18446744073709551616", "after=%24%24",
    "limit=0", "limit=1001", "limit=abc", "limit=", "limit=-5",
    "wait=abc", "wait=61s", "wait=2h", "wait=",
])
def test_bad_arguments_are_400(gw, keys, query):
    seller = new_seller()
    put_stock(gw, keys, seller, "B1", 1)
    r = gw.get("/v1/sellers/%s/feed?%s" % (seller, query),
               token=tok(keys, seller))
    assert r.status_code == 400, (query, r.status_code, r.text)
    problem(r, "invalid-request")
    # the 400 is the whole answer: the connection goes on with the next
    # request (a feed page sent after it would break it)
    c = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=5)
    auth = {"Authorization": "Bearer " + tok(keys, seller)}
    for path in ("/v1/sellers/%s/feed?%s" % (seller, query),
                 "/v1/sellers/%s/feed" % seller):
        c.request("GET", path, headers=auth)
        r = c.getresponse()
        body = r.read()
    assert r.status == 200, body
    assert json.loads(body)["events"][0]["data"]["sku"] == "B1"
    c.close()


def test_bad_last_event_id_is_400(gw, keys):
    seller = new_seller()
    s = Stream(gw, seller, tok(keys, seller),
               headers={"Last-Event-ID": "nope"})
    assert s.status == 400
    s.close()


# ------------------------------------------------------ long poll

def pinned(gw):
    """Two keep-alive connections served by two different workers."""
    conns = {}
    for _ in range(60):
        c = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
        c.request("GET", "/status")
        r = c.getresponse()
        r.read()
        pid = r.getheader("X-Worker")
        if pid in conns:
            c.close()
        else:
            conns[pid] = c
        if len(conns) == 2:
            return list(conns.values())
    raise AssertionError("every connection went to one worker: %s" % conns)


def test_long_poll_is_woken_from_another_worker(gw, keys):
    seller = new_seller()
    poller, writer = pinned(gw)
    token = tok(keys, seller)
    put_stock(gw, keys, seller, "LP", 1)
    nxt = page(gw, keys, seller)["next"]
    result = {}

    def poll():
        poller.request("GET", "/v1/sellers/%s/feed?after=%s&wait=5s"
                       % (seller, nxt),
                       headers={"Authorization": "Bearer " + token})
        r = poller.getresponse()
        result["body"] = r.read()
        result["status"] = r.status
        result["at"] = time.monotonic()

    subscribers = metric(gw, "microshop_feed_subscribers")
    t = threading.Thread(target=poll)
    t.start()
    wait_for(lambda: metric(gw, "microshop_feed_subscribers")
             > subscribers, 3, what="the poll to wait")
    assert "status" not in result
    writer.request("PUT", "/admin/stock/%s/LP" % seller,
                   body=json.dumps({"available": 9}),
                   headers={"Authorization": "Bearer " + admin_tok(keys),
                            "Content-Type": "application/json"})
    w = writer.getresponse()
    w.read()
    written = time.monotonic()
    assert w.status == 204
    t.join(5)
    assert result["status"] == 200, result
    took = result["at"] - written
    assert took < 0.5, took
    doc = json.loads(result["body"])
    assert [(e["type"], e["data"]["available"]) for e in doc["events"]] \
        == [("stock.changed", 9)]
    poller.close()
    writer.close()

    # nothing comes: an empty page with the same next when wait= runs out
    t0 = time.monotonic()
    doc = page(gw, keys, seller, after=doc["next"], wait="1s")
    took = time.monotonic() - t0
    assert doc["events"] == [] and doc["next"] == \
        json.loads(result["body"])["next"], doc
    assert 0.9 < took < 1.8, took


def test_long_poll_answers_at_once_when_events_are_there(gw, keys):
    seller = new_seller()
    put_stock(gw, keys, seller, "LQ", 1)
    t0 = time.monotonic()
    doc = page(gw, keys, seller, wait="5s")
    assert time.monotonic() - t0 < 0.5
    assert len(doc["events"]) == 1


# ------------------------------------------------------ Server-Sent Events

def test_stream_resume_with_last_event_id(gw, keys):
    seller = new_seller()
    for n in (1, 2, 3):
        put_stock(gw, keys, seller, "E1", n)
    s = open_stream(gw, keys, seller)
    got = [s.event() for _ in range(3)]
    assert [(t, d["data"]["available"]) for _, t, d in got] == \
        [("stock.changed", 1), ("stock.changed", 2), ("stock.changed", 3)]
    assert got == [(e["id"], e["type"], e)
                   for e in all_events(gw, keys, seller)]
    assert s.chunked
    s.close()

    # the client comes back with the last id it had seen but one
    s = open_stream(gw, keys, seller, headers={"Last-Event-ID": got[1][0]})
    assert s.event() == got[2]
    put_stock(gw, keys, seller, "E1", 4)
    i, t, d = s.event(timeout=1)
    assert t == "stock.changed" and d["data"]["available"] == 4
    assert idkey(i) > idkey(got[2][0])
    s.close()

    # after= works for a stream too; $ is from now on
    s = open_stream(gw, keys, seller, query="?after=" + got[0][0])
    assert [s.event()[0] for _ in range(3)] == [got[1][0], got[2][0], i]
    s.close()
    s = open_stream(gw, keys, seller, query="?after=%24")
    put_stock(gw, keys, seller, "E1", 5)
    assert s.event(timeout=1)[2]["data"]["available"] == 5
    s.close()


def test_stream_of_a_long_backlog_pages_through_it(gw, keys):
    # 250 events: three reads of a page of 100, each after the one before
    seller = new_seller()
    for n in range(1, 251):
        put_stock(gw, keys, seller, "B1", n)
    s = open_stream(gw, keys, seller)
    got = [s.event(timeout=2) for _ in range(250)]
    assert [d["data"]["available"] for _, _, d in got] == list(range(1, 251))
    assert [idkey(i) for i, _, _ in got] == sorted(idkey(i) for i, _, _ in got)
    # and then it waits for the next one
    put_stock(gw, keys, seller, "B1", 1000)
    assert s.event(timeout=1)[2]["data"]["available"] == 1000
    s.close()


def test_stream_heartbeat(gw, keys):
    seller = new_seller()
    s = open_stream(gw, keys, seller)
    t0 = time.monotonic()
    assert s.block(timeout=2.5) == ": heartbeat\n\n"
    assert 0.8 < time.monotonic() - t0 < 2.0
    assert s.block(timeout=2.5) == ": heartbeat\n\n"
    # an event between heartbeats comes at once
    put_stock(gw, keys, seller, "H1", 1)
    assert s.event(timeout=1)[1] == "stock.changed"
    s.close()


def test_hundred_subscribers_get_one_event(gw, keys):
    seller = new_seller()
    before = metric(gw, "microshop_feed_subscribers")
    streams = [open_stream(gw, keys, seller) for _ in range(100)]
    wait_for(lambda: metric(gw, "microshop_feed_subscribers")
             >= before + 100, 3, what="100 subscribers")
    t0 = time.monotonic()
    put_stock(gw, keys, seller, "C1", 42)
    got = [s.event(timeout=2) for s in streams]
    took = time.monotonic() - t0
    assert took < 1.0, took
    assert len({g[0] for g in got}) == 1
    assert all(g[2]["data"] == {"sku": "C1", "available": 42, "held": 0,
                                "by": "admin"} for g in got)
    for s in streams:
        s.close()
    wait_for(lambda: metric(gw, "microshop_feed_subscribers") <= before, 3,
             what="the subscribers to go")


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M)
                   .group(1))


def test_stalled_subscriber_is_cut_off(gw, keys):
    seller = new_seller()
    cut = metric(gw, "microshop_feed_cut_off_total")
    rss = {pid: rss_kb(pid) for pid in gw.worker_pids()}
    # subscribes with a small receive window, then never reads
    stalled = Stream(gw, seller, tok(keys, seller), port=gw.port2,
                     rcvbuf=4096, read_head=False)
    listener = open_stream(gw, keys, seller)
    pad = "P" * 200
    with http_session() as s:
        headers = {"Authorization": "Bearer " + admin_tok(keys)}
        for n in range(3000):
            r = s.put(gw.url("/admin/stock/%s/%s" % (seller, pad)),
                      json={"available": n + 1}, headers=headers)
            assert r.status_code == 204
            if n % 50 == 49 and metric(gw, "microshop_feed_cut_off_total") \
                    > cut:
                break
    assert metric(gw, "microshop_feed_cut_off_total") == cut + 1, n
    written = n + 1
    # the worker serves others all along: the listener has every event
    for k in range(written):
        assert listener.event(timeout=2)[2]["data"]["available"] == k + 1
    listener.close()
    # the stalled reader, once it reads, finds its events, then the
    # cut-off event last, then the end of the stream
    stalled.head()
    assert stalled.status == 200
    text, ended = stalled.rest(timeout=5)
    assert ended, text[-300:]
    assert text.startswith(": microshop feed\n\n")
    blocks = text.split("\n\n")[1:-1]
    assert blocks[-1].startswith("event: microshop.cut_off\ndata: "), \
        blocks[-1]
    cutoff = json.loads(blocks[-1].split("data: ", 1)[1])
    assert cutoff["reason"] == "slow-reader"
    events = [parse_block(b + "\n\n") for b in blocks[:-1]
              if not b.startswith(": heartbeat")]
    assert 10 < len(events) < written
    assert [e[2]["data"]["available"] for e in events] == \
        list(range(1, len(events) + 1))
    stalled.close()
    # no explosion of memory
    for pid, before in rss.items():
        assert rss_kb(pid) - before < 16 * 1024, (pid, before, rss_kb(pid))
    assert page(gw, keys, new_seller())["events"] == []


# ------------------------------------------------------ the ring

def test_ring_overflow_keep(ring, keys):
    seller, other = new_seller(), new_seller()
    put_stock(ring, keys, other, "O1", 1)
    dropped = metric(ring, "microshop_feed_dropped_total")
    written = metric(ring, "microshop_feed_events_total")
    first = None
    for n in range(1, 9):
        put_stock(ring, keys, seller, "K1", n)
        if n == 2:
            first = page(ring, keys, seller)["events"]
    old = [e["id"] for e in first]
    assert metric(ring, "microshop_feed_dropped_total") == dropped + 3
    assert metric(ring, "microshop_feed_events_total") == written + 8

    doc = page(ring, keys, seller, limit=1000)
    assert [e["data"]["available"] for e in doc["events"]] == [4, 5, 6, 7, 8]
    # after=0: events after it were dropped before being read
    assert doc.get("missed") is True
    ids = [e["id"] for e in doc["events"]]
    # an old cursor missed some; a recent one missed none
    doc = page(ring, keys, seller, after=old[1])
    assert doc.get("missed") is True
    assert [e["id"] for e in doc["events"]] == ids
    doc = page(ring, keys, seller, after=ids[0])
    assert "missed" not in doc
    assert [e["id"] for e in doc["events"]] == ids[1:]
    # the other seller's ring is its own
    doc = page(ring, keys, other)
    assert len(doc["events"]) == 1 and "missed" not in doc


def test_full_zone_drops_its_oldest(nginx, keys, backend, secret_path):
    n = start(nginx, keys, backend, secret_path, events_out="size=64k")
    seller = new_seller()
    sku = "Z" * 240
    with http_session() as s:
        headers = {"Authorization": "Bearer " + admin_tok(keys)}
        for k in range(1, 2001):
            r = s.put(n.url("/admin/stock/%s/%s" % (seller, sku)),
                      json={"available": k}, headers=headers)
            assert r.status_code == 204
            if k % 50 == 0 and metric(n, "microshop_feed_dropped_total"):
                break
    assert k < 2000, "a 64k zone never filled"
    doc = page(n, keys, seller, limit=1000)
    kept = [e["data"]["available"] for e in doc["events"]]
    # the newest are kept, in order, without a hole; the oldest went
    assert kept[-1] == k and kept == list(range(kept[0], k + 1))
    assert kept[0] > 1
    assert doc.get("missed") is True
    dropped = metric(n, "microshop_feed_dropped_total")
    assert dropped == kept[0] - 1
    # a cursor on a kept event missed nothing
    doc = page(n, keys, seller, after=doc["events"][0]["id"])
    assert "missed" not in doc and len(doc["events"]) == len(kept) - 1
    n.stop()


# ------------------------------------------------------ configuration

def test_feed_needs_events_out(nginx, keys):
    n = nginx.new()
    rc, err, line = n.test_config_at(
        "microshop_jwt_key %s kid=k1;\n"
        "server {\n    listen 127.0.0.1:%d;\n"
        "    location ~ ^/v1/sellers/(?<seller>[^/]+)/feed$ {\n"
        "        microshop_seller $seller;\n"
        "        microshop_feed heartbeat=1s buffer=16k;\n"
        "    }\n}\n" % (keys.ec256_public_pem, n.port), "microshop_feed ")
    assert_conf_refused(rc, err, line, '"microshop_feed"',
                        '"microshop_events_out"')


# ------------------------------------------------------ reload

def test_reload_ends_streams_and_keeps_events(nginx, keys, backend,
                                              secret_path):
    n = start(nginx, keys, backend, secret_path)
    seller = new_seller()
    put_stock(n, keys, seller, "R1", 1)
    before = all_events(n, keys, seller)
    streams = [open_stream(n, keys, seller) for _ in range(3)]
    for s in streams:
        assert s.event()[0] == before[0]["id"]
    t0 = time.monotonic()
    n.reload()
    for s in streams:
        text, ended = s.rest(timeout=5)
        assert text == "" and ended
        s.close()
    assert time.monotonic() - t0 < 5
    # the events are kept, and the feed goes on after them
    assert all_events(n, keys, seller) == before
    put_stock(n, keys, seller, "R1", 2)
    after = all_events(n, keys, seller)
    assert after[:1] == before and len(after) == 2
    assert idkey(after[1]["id"]) > idkey(before[0]["id"])
    n.stop()


# ------------------------------------------------------ secrets

def test_no_token_or_secret_in_any_feed():
    assert len(BODIES) > 20 and len(TOKENS) > 10
    text = "\n".join(BODIES)
    for t in TOKENS:
        assert t not in text
        # nor its signature alone
        assert t.rsplit(".", 1)[1] not in text
    assert SECRET.decode() not in text
