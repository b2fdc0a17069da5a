"""What becomes of the idempotency lock and the stock hold of a request,
row by row of the outcomes table of docs/http.md "Outcomes": a request that
provably never left (refused connect, no live upstream, a client gone
before the upstream was reached, a 5xx the backend answered) releases
both at once; once bytes of it reached the backend (read timeout, reset
after send, a send error after part of it went out, a client gone after
it was sent) its outcome is unknown: the key answers 409
idempotency-response-unavailable, never a second execution, and the hold
stays, listed as pending reconciliation once hold= runs out, until the
admin API (POST /admin/orders/<id>/commit|release) or an inventory event
with a newer version settles it (docs/inventory.md).

Every row is tested for the idempotency key (a POST to .../idem/...) and
for the reservation (a checkout to .../v1/sellers/<seller>/checkout), and
the two scenarios of the issue as they were reported.
"""

import concurrent.futures
import json
import re
import socket
import struct
import threading
import time
import uuid

import pytest

from microshop import (Blackhole, admin, free_port, http_session, mint,
                       problem, set_stock, sign_webhook, stock, wait_for)

SECRET = b"whsec_outcomes_0123456789abcdef"
HOLD = "2s"

# one pair of locations per upstream: .../idem/... (an idempotency key)
# and .../v1/sellers/<seller>/checkout (a hold and a key); the prefix is
# cut before the request goes upstream
PAIR = """
    location /%(name)s/idem/ {
        microshop_auth on;
        microshop_idempotency on;
        add_header X-Sent $upstream_bytes_sent always;
        rewrite ^/[a-z]+/idem(/.*)$ $1 break;
        proxy_pass %(to)s;
        %(extra)s
    }

    location ~ ^/%(name)s/v1/sellers/(?<seller>[^/]+)/checkout$ {
        microshop_auth on;
        microshop_seller $seller;
        microshop_idempotency on;
        microshop_reserve on hold=%(hold)s;
        add_header X-Sent $upstream_bytes_sent always;
        rewrite ^/[a-z]+(/.*)$ $1 break;
        proxy_pass %(to)s;
        %(extra)s
    }
"""

CONF = """
microshop_zone name=outcomes size=8m;
microshop_jwt_key %(ec_pub)s kid=k1;

upstream nolive {
    server 127.0.0.1:%(dead)d down;
}

# a PUT that timed out on the first server is tried on the backup, which
# refuses it: the last try sent nothing, the first one did
upstream twice {
    server 127.0.0.1:%(backend)d;
    server 127.0.0.1:%(dead)d backup;
}

server {
    listen 127.0.0.1:%(port)d;

    location = /status { microshop_status; }
    location /admin/ { microshop_admin; }
    location = /events { microshop_events secret=%(secret)s; }
    location = /oops.html { root %(html)s; }

    %(pairs)s
}
"""

UPSTREAMS = [
    # name, proxy_pass, more directives
    ("refused", "http://127.0.0.1:%(dead)d", ""),
    ("nolive", "http://nolive", ""),
    ("slow", "http://127.0.0.1:%(backend)d", "proxy_read_timeout 1s;"),
    ("main", "http://127.0.0.1:%(backend)d", "proxy_read_timeout 10s;"),
    ("reset", "http://127.0.0.1:%(reset)d", ""),
    ("rstnow", "http://127.0.0.1:%(rstnow)d", ""),
    ("midbody", "http://127.0.0.1:%(midbody)d",
     "client_max_body_size 4m; proxy_send_timeout 5s;"),
    ("hole", "http://127.0.0.1:%(hole)d", "proxy_connect_timeout 1s;"),
    ("twice", "http://twice",
     "proxy_read_timeout 1s; proxy_next_upstream error timeout;"),
    # the operator's page instead of the problem
    ("errref", "http://127.0.0.1:%(dead)d", "error_page 502 504 /oops.html;"),
    ("errslow", "http://127.0.0.1:%(backend)d",
     "proxy_read_timeout 1s; error_page 502 504 /oops.html;"),
]

OOPS = "<p>the operator's page</p>\n"


# --------------------------------------------------------------- backends

class Raw:
    """A TCP backend that misbehaves in one way:

    reset    reads the whole request, then resets the connection (RST)
    rstnow   resets every connection at once, reading nothing
    midbody  reads the request head only, then resets while the body is
             still coming (a small receive buffer keeps nginx sending)

    It counts the requests whose head it read and keeps their heads."""

    def __init__(self, mode):
        self.mode = mode
        self.heads = []
        self.lock = threading.Lock()
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if mode == "midbody":
            self.server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(64)
        self.port = self.server.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(conn,),
                             daemon=True).start()

    def handle(self, conn):
        try:
            if self.mode != "rstnow":
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    data += chunk
                head, body = data.split(b"\r\n\r\n", 1)
                with self.lock:
                    self.heads.append(head.decode("latin-1"))
                if self.mode == "reset":
                    m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
                    want = int(m.group(1)) if m else 0
                    while len(body) < want:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        body += chunk
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            struct.pack("ii", 1, 0))
        finally:
            conn.close()

    def count(self):
        with self.lock:
            return len(self.heads)

    def close(self):
        # a thread blocked in accept() would go on accepting on the
        # number the next socket of this process gets: wake it first
        try:
            self.server.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(5)
        self.server.close()


@pytest.fixture(scope="module")
def raws():
    r = {mode: Raw(mode) for mode in ("reset", "rstnow", "midbody")}
    r["hole"] = Blackhole()
    yield r
    for server in r.values():
        server.close()


@pytest.fixture(scope="module")
def gw(nginx, keys, backend, raws, tmp_path_factory):
    n = nginx.new()
    secret = n.write_file("conf/webhook.secret", SECRET)
    n.write_file("html/oops.html", OOPS)
    ports = {"dead": free_port(), "backend": backend.port,
             "reset": raws["reset"].port, "rstnow": raws["rstnow"].port,
             "midbody": raws["midbody"].port, "hole": raws["hole"].port}
    pairs = "".join(PAIR % {"name": name, "to": to % ports,
                            "extra": extra, "hold": HOLD}
                    for name, to, extra in UPSTREAMS)
    n.start(CONF % dict(ports, port=n.port, ec_pub=keys.ec256_public_pem,
                        secret=secret, pairs=pairs, html=n.prefix + "/html"),
            workers=2)
    n.secret = secret
    return n


# ---------------------------------------------------------------- helpers

def tok(keys, seller="s1"):
    return mint(keys, kid="k1", seller=seller)


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def metric(gw, line):
    m = re.search(r"^%s (\d+)$" % re.escape(line), gw.get("/status").text,
                  re.M)
    return int(m.group(1)) if m else 0


PENDING = "microshop_reservations_pending"
SETTLED_COMMIT = ('microshop_reservations_settled_total{by="admin",'
                  'result="committed"}')
SETTLED_RELEASE = ('microshop_reservations_settled_total{by="admin",'
                   'result="released"}')
SETTLED_EVENT = ('microshop_reservations_settled_total{by="event",'
                 'result="reconciled"}')
UNKNOWN_HOLDS = 'microshop_reservations_total{result="unknown"}'
UNKNOWN_KEYS = 'microshop_idempotency_total{result="unknown"}'


def orders(gw, keys, query=""):
    r = gw.get("/admin/orders" + query, token=admin(keys))
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["Cache-Control"] == "no-store"
    return r.json()


def pending(gw, keys, seller):
    return orders(gw, keys, "?seller=" + seller)["orders"]


def wait_pending(gw, keys, seller, n=1):
    """The pending orders of seller once there are n (hold= ran out)."""
    return wait_for(lambda: (lambda o: o if len(o) == n else None)(
                        pending(gw, keys, seller)),
                    timeout=8, what="%d pending orders of %s" % (n, seller))


def settle(gw, keys, rid, action):
    return gw.post("/admin/orders/%s/%s" % (rid, action), token=admin(keys))


def event(gw, seller, sku, available, version):
    body = json.dumps({"id": unique("evt"), "type": "inventory.updated",
                       "seller": seller, "sku": sku, "available": available,
                       "version": version}).encode()
    with http_session() as s:
        r = s.post(gw.url("/events"), data=body, timeout=10,
                   headers={"Content-Type": "application/json",
                            "Microshop-Signature":
                            sign_webhook(SECRET, body, int(time.time()))})
    assert r.status_code in (200, 202, 204), r.text
    return r


def checkout(gw, keys, upstream, seller, key, quantity=1, sku="A1",
             body=None):
    return gw.post("/%s/v1/sellers/%s/checkout" % (upstream, seller),
                   token=tok(keys, seller),
                   headers={"Idempotency-Key": key,
                            "Content-Type": "application/json"},
                   data=body or json.dumps({"items": [{"sku": sku,
                                                       "quantity": quantity}]}))


def idem(gw, keys, upstream, key, path="order"):
    return gw.post("/%s/idem/v1/echo/%s" % (upstream, path), token=tok(keys),
                   headers={"Idempotency-Key": key}, data='{"n":1}')


def shop(backend, gw, keys, seller, n, sku="A1"):
    """n units of (seller, sku) at the edge and at the backend."""
    backend.set_item(seller, sku, available=n)
    set_stock(gw, keys, seller, sku, n)


def upstream_unavailable(r, status, sent):
    assert r.status_code == status, (r.status_code, r.text[:300])
    doc = problem(r, "upstream-unavailable")
    if sent:
        assert "Retry-After" not in r.headers
        assert "may have been executed" in doc["detail"]
    else:
        assert r.headers["Retry-After"] == "1"


def raw_request(gw, path, token, key, body, content_length=None):
    """The bytes of a POST with a JSON body (Content-Length may lie)."""
    return (("POST %s HTTP/1.1\r\nHost: localhost\r\n"
             "Authorization: Bearer %s\r\nIdempotency-Key: %s\r\n"
             "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
             % (path, token, key, len(body) if content_length is None
                else content_length)).encode() + body)


def hang_up(gw, data, after=0.05):
    """Send data, hang up `after` seconds later without reading."""
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    s.sendall(data)
    time.sleep(after)
    s.close()


# the outcome of a key: released (a retry runs again) or kept (409)

def in_progress(r):
    return (r.status_code == 409 and r.json()["type"]
            == "urn:problem:microshop:idempotency-in-progress")


def assert_key_kept(r):
    assert r.status_code == 409, (r.status_code, r.text[:300])
    problem(r, "idempotency-response-unavailable")


# ====================================================== rows: never left

NEVER_LEFT = [
    ("refused", 502),                # connect refused
    ("nolive", 502),                 # no live upstream
]


@pytest.mark.parametrize("upstream,status", NEVER_LEFT,
                         ids=[n for n, _ in NEVER_LEFT])
def test_never_left_releases_the_key(gw, keys, upstream, status):
    key = unique("k")
    r = idem(gw, keys, upstream, key)
    upstream_unavailable(r, status, sent=False)
    # released at once: the retry is tried again, not refused
    r = idem(gw, keys, upstream, key)
    upstream_unavailable(r, status, sent=False)


@pytest.mark.parametrize("upstream,status", NEVER_LEFT,
                         ids=[n for n, _ in NEVER_LEFT])
def test_never_left_releases_the_hold(gw, keys, backend, clean, upstream,
                                      status):
    seller = unique("nl")
    shop(backend, gw, keys, seller, 1)
    r = checkout(gw, keys, upstream, seller, unique("k"))
    upstream_unavailable(r, status, sent=False)
    assert stock(gw, keys, seller, "A1") == {"available": 1, "held": 0}
    assert orders(gw, keys, "?state=all&seller=" + seller)["orders"] == []
    # the unit is there for the next buyer
    r = checkout(gw, keys, upstream, seller, unique("k"))
    upstream_unavailable(r, status, sent=False)


# ============================================== rows: a 5xx was answered

@pytest.mark.parametrize("status", [500, 502, 503])
def test_answered_5xx_releases_the_key(gw, keys, backend, clean, status):
    key = unique("k")
    backend.mode(status=status, path_prefix="/v1/echo/")
    r = idem(gw, keys, "main", key, "x5")
    assert r.status_code == status
    assert r.json() == {"error": "injected", "status": status}
    backend.mode()
    # the backend refused it: the retry runs, and is kept this time
    r = idem(gw, keys, "main", key, "x5")
    assert r.status_code == 200, r.text
    r = idem(gw, keys, "main", key, "x5")
    assert r.headers["Idempotent-Replayed"] == "true"
    assert backend.count("POST /v1/echo/x5") == 2


@pytest.mark.parametrize("status", [500, 503])
def test_answered_5xx_releases_the_hold(gw, keys, backend, clean, status):
    seller = unique("fx")
    shop(backend, gw, keys, seller, 1)
    backend.mode(status=status, path_prefix="/v1/sellers/%s/" % seller)
    r = checkout(gw, keys, "main", seller, unique("k"))
    assert r.status_code == status
    assert stock(gw, keys, seller, "A1") == {"available": 1, "held": 0}
    backend.mode()
    r = checkout(gw, keys, "main", seller, unique("k"))
    assert r.status_code == 201, r.text
    assert stock(gw, keys, seller, "A1") == {"available": 0, "held": 0}
    assert backend.item(seller, "A1")["available"] == 0


# ======================================== rows: the outcome is unknown

def assert_unknown_hold(gw, keys, seller, why, held=1):
    """The hold stays, past hold= it is pending with why; returns it."""
    assert stock(gw, keys, seller, "A1")["held"] == held
    [order] = wait_pending(gw, keys, seller)
    assert order["state"] == "pending" and order["why"] == why, order
    assert order["seller"] == seller
    assert order["lines"] == [{"sku": "A1", "quantity": held}]
    assert order["created"] < order["deadline"]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$",
                    order["created"]), order
    assert stock(gw, keys, seller, "A1")["held"] == held
    return order


def test_read_timeout_keeps_the_key(gw, keys, backend, clean):
    key = unique("k")
    backend.mode(delay=1.5, path_prefix="/v1/echo/slow")
    before = metric(gw, UNKNOWN_KEYS)
    r = idem(gw, keys, "slow", key, "slow")
    upstream_unavailable(r, 504, sent=True)
    wait_for(lambda: metric(gw, UNKNOWN_KEYS) == before + 1, 5,
             what="the unknown key to be counted")
    backend.mode()
    assert_key_kept(idem(gw, keys, "slow", key, "slow"))
    time.sleep(1)
    assert backend.count("POST /v1/echo/slow") == 1


def test_read_timeout_keeps_the_hold(gw, keys, backend, clean):
    seller = unique("rt")
    shop(backend, gw, keys, seller, 3)
    backend.mode(delay=1.5, path_prefix="/v1/sellers/%s/" % seller)
    before = metric(gw, UNKNOWN_HOLDS)
    r = checkout(gw, keys, "slow", seller, unique("k"))
    upstream_unavailable(r, 504, sent=True)
    assert metric(gw, UNKNOWN_HOLDS) >= before + 1
    order = assert_unknown_hold(gw, keys, seller, "timeout")
    # the backend sold it after all: it says so
    wait_for(lambda: backend.item(seller, "A1")["available"] == 2, 5,
             what="the backend to sell")
    r = settle(gw, keys, order["id"], "commit")
    assert r.status_code == 204, r.text
    assert stock(gw, keys, seller, "A1") == {"available": 2, "held": 0}
    assert pending(gw, keys, seller) == []


def test_reset_after_send_keeps_the_key(gw, keys, raws):
    key = unique("k")
    before = raws["reset"].count()
    r = idem(gw, keys, "reset", key)
    upstream_unavailable(r, 502, sent=True)
    assert_key_kept(idem(gw, keys, "reset", key))
    assert raws["reset"].count() == before + 1


def test_reset_after_send_keeps_the_hold(gw, keys, backend, raws):
    seller = unique("rs")
    set_stock(gw, keys, seller, "A1", 1)
    r = checkout(gw, keys, "reset", seller, unique("k"))
    upstream_unavailable(r, 502, sent=True)
    order = assert_unknown_hold(gw, keys, seller, "upstream_error")
    # the backend never sold it: it says so
    r = settle(gw, keys, order["id"], "release")
    assert r.status_code == 204, r.text
    assert stock(gw, keys, seller, "A1") == {"available": 1, "held": 0}


def test_reset_at_accept_follows_what_nginx_sent(gw, keys, raws):
    """A backend that resets each connection at once: whether nginx's
    write went out before the reset came is a race.  Whatever nginx
    counted as sent ($upstream_bytes_sent) decides."""
    seller = unique("ra")
    set_stock(gw, keys, seller, "A1", 1)
    key = unique("k")
    r = checkout(gw, keys, "rstnow", seller, key)
    sent = any(int(n) > 0 for n in re.findall(r"\d+", r.headers["X-Sent"]))
    upstream_unavailable(r, 502, sent=sent)
    if sent:
        assert_key_kept(checkout(gw, keys, "rstnow", seller, key))
        assert_unknown_hold(gw, keys, seller, "upstream_error")
    else:
        assert stock(gw, keys, seller, "A1")["held"] == 0
        # released: the retry is tried again
        r = checkout(gw, keys, "rstnow", seller, key)
        assert r.status_code == 502, r.text


def big_checkout(n=1):
    """A checkout of n units padded to 1000 KB (the most a checkout may
    be is 1 MB): nginx is still sending it when the backend resets."""
    doc = json.dumps({"items": [{"sku": "A1", "quantity": n}]})
    return doc[:-1] + " " * (1000 * 1024) + "}"


def test_send_error_after_part_was_sent_keeps_the_key(gw, keys, raws):
    key = unique("k")
    body = '{"n":"' + "x" * (2 * 1024 * 1024) + '"}'
    r = gw.post("/midbody/idem/v1/echo/big", token=tok(keys), data=body,
                headers={"Idempotency-Key": key})
    upstream_unavailable(r, 502, sent=True)
    r = gw.post("/midbody/idem/v1/echo/big", token=tok(keys), data=body,
                headers={"Idempotency-Key": key})
    assert_key_kept(r)


def test_send_error_after_part_was_sent_keeps_the_hold(gw, keys, raws):
    seller = unique("se")
    set_stock(gw, keys, seller, "A1", 1)
    r = checkout(gw, keys, "midbody", seller, unique("k"),
                 body=big_checkout())
    upstream_unavailable(r, 502, sent=True)
    assert_unknown_hold(gw, keys, seller, "upstream_error")


def test_tries_that_sent_count_though_the_last_did_not(gw, keys, backend,
                                                       clean):
    """nginx tries a PUT on the next server even after it was sent: the
    first try timed out, the backup refused the connect.  One try sent."""
    key = unique("k")
    backend.mode(delay=1.5, path_prefix="/v1/echo/put")
    r = gw.request("PUT", "/twice/idem/v1/echo/put", token=tok(keys),
                   headers={"Idempotency-Key": key}, data='{"n":1}')
    upstream_unavailable(r, 502, sent=True)
    assert re.match(r"^\d+, 0$", r.headers["X-Sent"]), r.headers["X-Sent"]
    backend.mode()
    r = gw.request("PUT", "/twice/idem/v1/echo/put", token=tok(keys),
                   headers={"Idempotency-Key": key}, data='{"n":1}')
    assert_key_kept(r)
    time.sleep(1)
    assert backend.count("PUT /v1/echo/put") == 1


# ------------------------------------------------------ the client aborts

def test_client_abort_after_send_keeps_the_key(gw, keys, backend, clean):
    key = unique("k")
    backend.mode(delay=0.5, path_prefix="/v1/echo/gone")
    hang_up(gw, raw_request(gw, "/main/idem/v1/echo/gone", tok(keys), key,
                            b'{"n":1}'))
    wait_for(lambda: backend.count("POST /v1/echo/gone") == 1, 5,
             what="the request at the backend")
    backend.mode()
    # kept as executed once nginx saw the client go (until then: in
    # progress)
    [r] = wait_for(lambda: (lambda r: None if in_progress(r) else [r])(
                       idem(gw, keys, "main", key, "gone")), 5,
                   what="the lock to settle")
    assert_key_kept(r)
    time.sleep(1)
    assert backend.count("POST /v1/echo/gone") == 1


def test_client_abort_after_send_keeps_the_hold(gw, keys, backend, clean):
    seller = unique("ca")
    shop(backend, gw, keys, seller, 1)
    backend.mode(delay=0.5, path_prefix="/v1/sellers/%s/" % seller)
    body = json.dumps({"items": [{"sku": "A1", "quantity": 1}]}).encode()
    hang_up(gw, raw_request(gw, "/main/v1/sellers/%s/checkout" % seller,
                            tok(keys, seller), unique("k"), body))
    assert_unknown_hold(gw, keys, seller, "client_abort")
    # the unit is not sold twice meanwhile
    r = checkout(gw, keys, "main", seller, unique("k"))
    assert r.status_code == 409
    problem(r, "out-of-stock")
    wait_for(lambda: backend.item(seller, "A1")["available"] == 0, 5,
             what="the backend to sell")
    assert backend.count("POST /v1/sellers/%s/checkout" % seller) == 1


def test_client_abort_before_send_releases_the_key(gw, keys):
    """The client goes while nginx still connects: nothing was sent."""
    key = unique("k")
    hang_up(gw, raw_request(gw, "/hole/idem/v1/echo/hole", tok(keys), key,
                            b'{"n":1}'), after=0.3)
    time.sleep(0.3)
    # released: the retry is tried (and times out connecting), not refused
    r = idem(gw, keys, "hole", key, "hole")
    upstream_unavailable(r, 504, sent=False)


def test_client_abort_before_send_releases_the_hold(gw, keys):
    seller = unique("cb")
    set_stock(gw, keys, seller, "A1", 1)
    body = json.dumps({"items": [{"sku": "A1", "quantity": 1}]}).encode()
    hang_up(gw, raw_request(gw, "/hole/v1/sellers/%s/checkout" % seller,
                            tok(keys, seller), unique("k"), body), after=0.3)
    wait_for(lambda: stock(gw, keys, seller, "A1")["held"] == 0, 5,
             what="the hold to be released")
    assert orders(gw, keys, "?state=all&seller=" + seller)["orders"] == []


def test_client_abort_while_the_body_is_read_takes_nothing(gw, keys,
                                                          backend, clean):
    seller = unique("cr")
    shop(backend, gw, keys, seller, 1)
    key = unique("k")
    body = json.dumps({"items": [{"sku": "A1", "quantity": 1}]}).encode()
    hang_up(gw, raw_request(gw, "/main/v1/sellers/%s/checkout" % seller,
                            tok(keys, seller), key, body[:5],
                            content_length=len(body)), after=0.1)
    time.sleep(0.2)
    assert stock(gw, keys, seller, "A1") == {"available": 1, "held": 0}
    # neither the key nor the unit was taken
    r = checkout(gw, keys, "main", seller, key)
    assert r.status_code == 201, r.text
    assert backend.count("POST /v1/sellers/%s/checkout" % seller) == 1


# ------------------------------------------- the operator's error_page

def test_error_page_after_a_refused_connect_releases(gw, keys):
    seller = unique("ep")
    set_stock(gw, keys, seller, "A1", 1)
    key = unique("k")
    for _ in range(2):
        r = checkout(gw, keys, "errref", seller, key)
        assert r.status_code == 502 and r.text == OOPS
        # released as the request ends, after the error page went out: a
        # read that another worker serves at once may come first
        wait_for(lambda: stock(gw, keys, seller, "A1")["held"] == 0, 2,
                 what="the hold to be released")
        assert stock(gw, keys, seller, "A1") == {"available": 1, "held": 0}
    r = idem(gw, keys, "errref", key)
    r = idem(gw, keys, "errref", key)
    assert r.status_code == 502 and r.text == OOPS


def test_error_page_after_a_timeout_keeps(gw, keys, backend, clean):
    seller = unique("es")
    shop(backend, gw, keys, seller, 1)
    backend.mode(delay=1.5, path_prefix="/v1/sellers/%s/" % seller)
    key = unique("k")
    r = checkout(gw, keys, "errslow", seller, key)
    assert r.status_code == 504 and r.text == OOPS
    assert_key_kept(checkout(gw, keys, "errslow", seller, key))
    assert_unknown_hold(gw, keys, seller, "timeout")


# ===================================================== the issue, as said

def test_timeout_and_retry_sell_one_unit_of_one(gw, keys, backend, clean):
    """proxy_read_timeout 1s, a backend that takes 1.5 s, stock 1: the
    POST gets 504, the retry with the same key must not run it again."""
    seller = unique("is1")
    shop(backend, gw, keys, seller, 1)
    backend.mode(delay=1.5, path_prefix="/v1/sellers/%s/" % seller)
    key = unique("k")
    r = checkout(gw, keys, "slow", seller, key)
    upstream_unavailable(r, 504, sent=True)
    r = checkout(gw, keys, "slow", seller, key)
    assert_key_kept(r)
    # another buyer: the unit is held, not sold twice
    r = checkout(gw, keys, "slow", seller, unique("k"))
    assert r.status_code == 409
    problem(r, "out-of-stock")
    backend.mode()
    wait_for(lambda: backend.item(seller, "A1")["available"] == 0, 5,
             what="the backend to sell")
    time.sleep(0.6)
    assert backend.count("POST /v1/sellers/%s/checkout" % seller) == 1
    assert backend.item(seller, "A1")["available"] == 0   # 1 unit, not 2


def test_checkouts_that_hang_up_never_oversell(gw, keys, backend, clean):
    """20 checkouts that hang up 50 ms after sending, stock 5: never more
    than 5 units reach the backend; the backend's count settles them."""
    seller = unique("is2")
    shop(backend, gw, keys, seller, 5)
    backend.mode(delay=0.5, path_prefix="/v1/sellers/%s/" % seller)
    body = json.dumps({"items": [{"sku": "A1", "quantity": 1}]}).encode()
    data = [raw_request(gw, "/main/v1/sellers/%s/checkout" % seller,
                        tok(keys, seller), unique("k"), body)
            for _ in range(20)]
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        list(pool.map(lambda d: hang_up(gw, d), data))
    # what reached the backend has been sold there by now
    time.sleep(1.5)
    sold = backend.count("POST /v1/sellers/%s/checkout" % seller)
    assert 1 <= sold <= 5        # 5 unless a client went before its turn
    assert backend.item(seller, "A1")["available"] == 5 - sold
    held = wait_pending(gw, keys, seller, sold)
    assert {o["why"] for o in held} == {"client_abort"}
    assert stock(gw, keys, seller, "A1") == {"available": 5, "held": sold}
    # every one the backend saw carried its reservation id
    ids = {req["headers"].get("x-microshop-reservation")
           for req in backend.requests(1000)
           if req["path"] == "/v1/sellers/%s/checkout" % seller}
    assert ids == {o["id"] for o in held}
    # the backend's count: sold out, version 2 (newer than the seed)
    before = metric(gw, SETTLED_EVENT)
    event(gw, seller, "A1", 5 - sold, 2)
    assert stock(gw, keys, seller, "A1") == {"available": 5 - sold,
                                             "held": 0}
    assert pending(gw, keys, seller) == []
    assert metric(gw, SETTLED_EVENT) == before + sold


# ======================================================= reconciliation

def unknown_order(gw, keys, seller, key=None, quantity=1):
    """A hold whose request reset after it was sent, pending; returns it."""
    r = checkout(gw, keys, "reset", seller, key or unique("k"),
                 quantity=quantity)
    upstream_unavailable(r, 502, sent=True)
    return assert_unknown_hold(gw, keys, seller, "upstream_error",
                               held=quantity)


def test_admin_commit_and_release(gw, keys):
    seller = unique("ad")
    set_stock(gw, keys, seller, "A1", 5)
    commits = metric(gw, SETTLED_COMMIT)
    releases = metric(gw, SETTLED_RELEASE)
    first = unknown_order(gw, keys, seller, quantity=2)
    assert metric(gw, PENDING) >= 1
    r = settle(gw, keys, first["id"], "commit")
    assert r.status_code == 204 and r.content == b""
    assert stock(gw, keys, seller, "A1") == {"available": 3, "held": 0}
    # settled once: a second settle finds nothing
    r = settle(gw, keys, first["id"], "release")
    assert r.status_code == 404
    problem(r, "not-found")
    second = unknown_order(gw, keys, seller, quantity=3)
    r = settle(gw, keys, second["id"], "release")
    assert r.status_code == 204
    assert stock(gw, keys, seller, "A1") == {"available": 3, "held": 0}
    assert metric(gw, SETTLED_COMMIT) == commits + 1
    assert metric(gw, SETTLED_RELEASE) == releases + 1


def test_event_with_a_newer_version_settles_an_older_does_not(gw, keys,
                                                             backend):
    seller = unique("ev")
    event(gw, seller, "A1", 2, 10)           # stock from the backend
    order = unknown_order(gw, keys, seller)
    event(gw, seller, "A1", 2, 9)            # older: ignored
    assert stock(gw, keys, seller, "A1") == {"available": 2, "held": 1}
    assert [o["id"] for o in pending(gw, keys, seller)] == [order["id"]]
    event(gw, seller, "A1", 1, 11)           # newer: the backend's truth
    assert stock(gw, keys, seller, "A1") == {"available": 1, "held": 0}
    assert pending(gw, keys, seller) == []
    assert settle(gw, keys, order["id"], "commit").status_code == 404


def test_event_leaves_live_holds_alone(gw, keys, backend, clean):
    seller = unique("lv")
    shop(backend, gw, keys, seller, 3)
    backend.mode(delay=2, path_prefix="/v1/sellers/%s/" % seller)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        slow = pool.submit(checkout, gw, keys, "main", seller, unique("k"))
        wait_for(lambda: stock(gw, keys, seller, "A1")["held"] == 1, 5,
                 what="the hold")
        event(gw, seller, "A1", 3, 5)
        # in flight: its answer settles it, not the count
        assert stock(gw, keys, seller, "A1") == {"available": 3, "held": 1}
        assert slow.result(10).status_code == 201
    assert stock(gw, keys, seller, "A1") == {"available": 2, "held": 0}


def test_a_late_answer_settles_a_pending_hold(gw, keys, backend, clean):
    """A checkout still waiting for its backend when hold= runs out is
    listed as pending; its answer settles it."""
    seller = unique("la")
    shop(backend, gw, keys, seller, 2)
    backend.mode(delay=5, path_prefix="/v1/sellers/%s/" % seller)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        slow = pool.submit(checkout, gw, keys, "main", seller, unique("k"))
        [order] = wait_pending(gw, keys, seller)
        assert order["why"] == "no_answer"
        assert slow.result(10).status_code == 201
    assert stock(gw, keys, seller, "A1") == {"available": 1, "held": 0}
    assert pending(gw, keys, seller) == []


def test_orders_list_filters_and_limits(gw, keys):
    seller = unique("li")
    set_stock(gw, keys, seller, "A1", 9)
    for _ in range(3):
        r = checkout(gw, keys, "reset", seller, unique("k"))
        upstream_unavailable(r, 502, sent=True)
    held = wait_pending(gw, keys, seller, 3)
    assert [o["created"] for o in held] == sorted(o["created"] for o in held)
    doc = orders(gw, keys, "?seller=%s&limit=2" % seller)
    assert doc["total"] == 3
    assert [o["id"] for o in doc["orders"]] == [o["id"] for o in held[:2]]
    everything = orders(gw, keys, "?state=all&limit=1000")
    assert {o["id"] for o in held} <= {o["id"] for o in everything["orders"]}
    assert orders(gw, keys, "?seller=nobody-" + seller) == {"orders": [],
                                                            "total": 0}
    for o in held:
        assert settle(gw, keys, o["id"], "release").status_code == 204


def test_the_backend_sees_the_reservation_id_only_from_the_gateway(
        gw, keys, backend, clean):
    seller = unique("id")
    shop(backend, gw, keys, seller, 1)
    r = gw.post("/main/v1/sellers/%s/checkout" % seller,
                token=tok(keys, seller),
                headers={"X-Microshop-Reservation": "forged",
                         "Idempotency-Key": unique("k"),
                         "Content-Type": "application/json"},
                data=json.dumps({"items": [{"sku": "A1", "quantity": 1}]}))
    assert r.status_code == 201
    [req] = [q for q in backend.requests(50)
             if q["path"] == "/v1/sellers/%s/checkout" % seller]
    rid = req["headers"]["x-microshop-reservation"]
    assert rid != "forged" and re.match(r"^[0-9a-f]{16}-[0-9]+$", rid)


ADMIN_BAD = [
    ("GET", "/admin/orders/x/commit", 405, "method-not-allowed"),
    ("POST", "/admin/orders", 405, "method-not-allowed"),
    ("POST", "/admin/orders/x", 404, "not-found"),
    ("POST", "/admin/orders/x/sell", 404, "not-found"),
    ("POST", "/admin/orders//commit", 404, "not-found"),
    ("POST", "/admin/orders/nonesuch/commit", 404, "not-found"),
    ("GET", "/admin/orders?state=lost", 400, "invalid-request"),
    ("GET", "/admin/orders?limit=0", 400, "invalid-request"),
    ("GET", "/admin/orders?limit=1001", 400, "invalid-request"),
    ("GET", "/admin/orders?limit=x", 400, "invalid-request"),
    ("GET", "/admin/orders?seller=a%01b", 400, "invalid-request"),
]


@pytest.mark.parametrize("method,path,status,name", ADMIN_BAD,
                         ids=["%s %s" % (m, p) for m, p, _, _ in ADMIN_BAD])
def test_admin_orders_refuses(gw, keys, method, path, status, name):
    r = gw.request(method, path, token=admin(keys))
    assert r.status_code == status, r.text
    problem(r, name)


def test_admin_orders_needs_the_admin_scope(gw, keys):
    assert gw.get("/admin/orders", token=tok(keys)).status_code == 403
    assert gw.post("/admin/orders/x/commit").status_code == 401


def test_metrics_lines(gw):
    text = gw.get("/status").text
    assert "# TYPE microshop_reservations_pending gauge\n" in text
    for line in (PENDING, SETTLED_COMMIT, SETTLED_RELEASE, SETTLED_EVENT,
                 UNKNOWN_HOLDS, UNKNOWN_KEYS,
                 'microshop_reservations_total{result="pending"}'):
        assert re.search(r"^%s \d+$" % re.escape(line), text, re.M), line


# ============================================================ nginx -t

WARN_CONF = """
microshop_jwt_key %(ec_pub)s kid=k1;
server {
    listen 127.0.0.1:%(port)d;
    location /a/ {
        microshop_auth on;
        %(directive)s # marker
        proxy_pass http://127.0.0.1:9;
        %(timeouts)s
    }
}
"""


@pytest.mark.parametrize("directive,timeouts,warned", [
    ("microshop_reserve on hold=30s;", "", "hold=30s"),
    ("microshop_reserve on;", "proxy_read_timeout 40s;", "hold=30s"),
    ("microshop_reserve on hold=1500ms;",
     "proxy_connect_timeout 1s; proxy_read_timeout 1s;", "hold=1500ms"),
    ("microshop_idempotency on;", "", "lock=60s"),
    ("microshop_idempotency on lock=10s;",
     "proxy_connect_timeout 5s; proxy_read_timeout 6s;", "lock=10s"),
    ("microshop_reserve on hold=30s;",
     "proxy_connect_timeout 5s; proxy_read_timeout 25s;", None),
    ("microshop_idempotency on lock=2m;", "", None),
    ("microshop_idempotency off;", "proxy_read_timeout 1h;", None),
])
def test_nginx_t_warns_where_hold_or_lock_is_shorter(nginx, keys, directive,
                                                     timeouts, warned):
    n = nginx.new()
    rc, err, line = n.test_config_at(
        WARN_CONF % {"ec_pub": keys.ec256_public_pem, "port": n.port,
                     "directive": directive, "timeouts": timeouts},
        marker="# marker")
    assert rc == 0, err
    warnings = [w for w in err.splitlines() if "[warn]" in w]
    if warned is None:
        assert warnings == [], err
        return
    assert len(warnings) == 1, err
    name = directive.split()[0]
    assert '"%s" %s in location "/a/" is shorter than' % (name, warned) \
        in warnings[0], warnings[0]
    assert "proxy_connect_timeout" in warnings[0]
    assert "proxy_read_timeout" in warnings[0]
    assert re.search(r"nginx\.conf:%d$" % line, warnings[0]), warnings[0]


def test_nginx_t_is_quiet_without_proxy_pass(nginx, keys):
    n = nginx.new()
    conf = WARN_CONF.replace("proxy_pass http://127.0.0.1:9;",
                             "root html;")
    rc, err = n.test_config(conf % {"ec_pub": keys.ec256_public_pem,
                                    "port": n.port, "timeouts": "",
                                    "directive": "microshop_reserve on;"})
    assert rc == 0, err
    assert "[warn]" not in err, err


# ------------------------------------------- the sweep is a round robin

SWEEP_LOCATION = """
    location ~ ^/%(name)s/v1/sellers/(?<seller>[^/]+)/checkout$ {
        microshop_auth on;
        microshop_seller $seller;
        microshop_reserve on hold=%(hold)s;
        rewrite ^/[a-z]+(/.*)$ $1 break;
        proxy_pass http://127.0.0.1:%(reset)d;
    }
"""

SWEEP_CONF = """
microshop_zone name=sweep size=8m;
microshop_jwt_key %(ec_pub)s kid=k1;

server {
    listen 127.0.0.1:%(port)d;

    location = /status { microshop_status; }
    location /admin/ { microshop_admin; }
    %(locations)s
}
"""


def test_sweep_reaches_a_due_hold_behind_many_that_are_not(nginx, keys,
                                                          raws):
    """70 unknown holds with hold=1h are older than one with hold=1s: the
    queue is not in deadline order, and a sweep looks at a batch of 64
    from its tail.  Each hold it looks at goes to the head, so the due
    one goes pending within a few sweeps (once a second)."""
    n = nginx.new()
    reset = raws["reset"].port
    locations = "".join(SWEEP_LOCATION % {"name": name, "hold": hold,
                                          "reset": reset}
                        for name, hold in (("long", "1h"), ("short", "1s")))
    n.start(SWEEP_CONF % {"port": n.port, "ec_pub": keys.ec256_public_pem,
                          "locations": locations}, workers=1)
    seller = unique("sw")
    set_stock(n, keys, seller, "A1", 1000)

    def buy(which):
        r = n.post("/%s/v1/sellers/%s/checkout" % (which, seller),
                   token=tok(keys, seller),
                   headers={"Content-Type": "application/json"},
                   data=json.dumps({"items": [{"sku": "A1",
                                               "quantity": 1}]}))
        upstream_unavailable(r, 502, sent=True)

    for _ in range(70):
        buy("long")
    buy("short")
    assert stock(n, keys, seller, "A1") == {"available": 1000, "held": 71}
    wait_for(lambda: metric(n, PENDING) == 1, timeout=8,
             what="the hold=1s hold pending")
    [order] = pending(n, keys, seller)
    assert order["why"] != "no_answer"
    n.stop()
