"""Upstream failures in a microshop location: nginx's own 502/503/504 are
answered as the problem upstream-unavailable, like every other answer of
the gateway; the backend's own 5xx, locations without the module and an
operator's error_page are left alone.  The idempotency lock and the stock
hold follow what the failure says about the request: one that never left
releases both at once, one that may have reached the backend keeps them.
"""

import http.client
import http.server
import json
import re
import threading
import time

import pytest

from microshop import (Blackhole, admin, free_port, mint, problem, set_stock,
                       stock, wait_for)

CONF = """
microshop_zone name=up size=8m;
microshop_jwt_key %(ec_pub)s kid=k1;

upstream nolive {
    server 127.0.0.1:%(dead)d down;
}

server {
    listen 127.0.0.1:%(port)d;

    location = /status { microshop_status; }
    location /admin/ { microshop_admin; }

    # nothing listens on %(dead)d: every connect is refused
    location /down/ {
        microshop_auth on;
        add_header X-Decision $microshop_decision always;
        proxy_pass http://127.0.0.1:%(dead)d;
    }

    # a listener that never accepts: the connect times out
    location /syn/ {
        microshop_auth on;
        proxy_connect_timeout 300ms;
        proxy_pass http://127.0.0.1:%(blackhole)d;
    }

    location /nolive/ {
        microshop_auth on;
        proxy_pass http://nolive;
    }

    # another feature, no token: still a microshop location
    location /limited/ {
        microshop_idempotency on;
        proxy_pass http://127.0.0.1:%(dead)d;
    }

    # the backend comes up on %(flip)d later (retry with the same key)
    location /flip/ {
        microshop_auth on;
        microshop_idempotency on;
        proxy_pass http://127.0.0.1:%(flip)d;
    }

    location ~ ^/dead/v1/sellers/(?<seller>[^/]+)/checkout$ {
        microshop_auth on;
        microshop_seller $seller;
        microshop_reserve on hold=30s;
        microshop_idempotency on;
        proxy_pass http://127.0.0.1:%(dead)d;
    }

    location ~ ^/v1/sellers/(?<seller>[^/]+)/checkout$ {
        microshop_auth on;
        microshop_seller $seller;
        microshop_reserve on hold=%(hold)s;
        microshop_idempotency on;
        proxy_pass http://127.0.0.1:%(backend)d;
        proxy_read_timeout 1s;
    }

    location ~ ^/v1/sellers/(?<seller>[^/]+)/ {
        microshop_auth on;
        microshop_seller $seller;
        microshop_idempotency on;
        proxy_pass http://127.0.0.1:%(backend)d;
        proxy_read_timeout 1s;
    }

    # no microshop directive: nginx's own page stays
    location /plain/ {
        proxy_pass http://127.0.0.1:%(dead)d;
    }

    location /small/ {
        microshop_auth on;
        client_max_body_size 10;
        proxy_pass http://127.0.0.1:%(backend)d;
    }

    # the operator's error pages, in a location with and without checks
    location /custom/ {
        microshop_auth on;
        error_page 502 /oops.html;
        proxy_pass http://127.0.0.1:%(dead)d;
    }

    location /custom-guarded/ {
        microshop_auth on;
        error_page 502 /guarded/oops.html;
        proxy_pass http://127.0.0.1:%(dead)d;
    }

    location /custom-named/ {
        microshop_auth on;
        error_page 502 504 =503 @fallback;
        proxy_pass http://127.0.0.1:%(dead)d;
    }

    location /custom-again/ {
        microshop_auth on;
        error_page 502 /down/again;
        proxy_pass http://127.0.0.1:%(dead)d;
    }

    location = /oops.html {
        root %(html)s;
    }

    location /guarded/ {
        microshop_auth on;
        alias %(html)s/;
    }

    location @fallback {
        default_type text/plain;
        return 503 "fallback page\\n";
    }
}
"""

OOPS = "<p>the operator's own page</p>\n"
HOLD = "4s"



@pytest.fixture(scope="module")
def blackhole():
    b = Blackhole()
    yield b
    b.close()


@pytest.fixture(scope="module")
def ports():
    return {"dead": free_port(), "flip": free_port()}


@pytest.fixture(scope="module")
def gw(nginx, keys, backend, blackhole, ports):
    n = nginx.new()
    n.write_file("html/oops.html", OOPS)
    n.start(CONF % {"port": n.port, "backend": backend.port,
                    "ec_pub": keys.ec256_public_pem,
                    "dead": ports["dead"], "flip": ports["flip"],
                    "blackhole": blackhole.port, "hold": HOLD,
                    "html": n.prefix + "/html"},
            workers=2)
    return n


def tok(keys, seller="s1"):
    return mint(keys, kid="k1", seller=seller)


def unavailable(r, status, sent):
    """r is the problem upstream-unavailable of a request that was (not)
    sent to the backend; returns its document."""
    assert r.status_code == status, (r.status_code, r.text[:300])
    doc = problem(r, "upstream-unavailable")
    assert doc["title"] == "Upstream unavailable"
    assert r.headers["Cache-Control"] == "no-store"
    assert int(r.headers["Content-Length"]) == len(r.content)
    assert "<html>" not in r.text
    if sent:
        assert "Retry-After" not in r.headers
        assert "may have been executed" in doc["detail"]
    else:
        assert r.headers["Retry-After"] == "1"
        assert "not sent" in doc["detail"]
    return doc


def metric(gw, line):
    m = re.search(r"^%s (\d+)$" % re.escape(line), gw.get("/status").text,
                  re.M)
    return int(m.group(1)) if m else 0


UNAVAILABLE = ('microshop_requests_total{decision="error",'
               'reason="upstream_unavailable"}')


# --------------------------------------------- every kind of failure

# (path, status, request sent to the backend, backend mode)
FAILURES = [
    ("/down/x", 502, False, None),                 # connect refused
    ("/nolive/x", 502, False, None),               # no live upstreams
    ("/syn/x", 504, False, None),                  # connect timed out
    ("/v1/sellers/s1/echo/slow", 504, True,        # read timed out
     {"delay": 2, "path_prefix": "/v1/sellers/s1/echo/slow"}),
    ("/v1/sellers/s1/echo/closed", 502, True,      # closed, no answer
     {"down": True, "path_prefix": "/v1/sellers/s1/echo/closed"}),
]


@pytest.mark.parametrize("path,status,sent,mode", FAILURES,
                         ids=[f[0] for f in FAILURES])
@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
def test_failure_is_a_problem(gw, keys, backend, clean, path, status, sent,
                              mode, method):
    if mode:
        backend.mode(**mode)
    before = metric(gw, UNAVAILABLE)
    data = None if method in ("GET", "DELETE") else '{"a":1}'
    r = gw.request(method, path, token=tok(keys), data=data)
    doc = unavailable(r, status, sent)
    assert doc["status"] == status
    # counted in the log phase, which may end after the client has read
    wait_for(lambda: metric(gw, UNAVAILABLE) == before + 1, timeout=5,
             what="the decision to be counted")


def test_head_gets_the_headers_only(gw, keys):
    got = gw.get("/down/x", token=tok(keys))
    r = gw.request("HEAD", "/down/x", token=tok(keys))
    assert r.status_code == 502
    assert r.content == b""
    assert r.headers["Content-Type"] == "application/problem+json"
    assert r.headers["Content-Length"] == str(len(got.content))
    assert r.headers["Retry-After"] == "1"


def test_problem_without_a_token_check(gw):
    # microshop_idempotency alone makes it a microshop location
    r = gw.post("/limited/x", data="{}", headers={"Idempotency-Key": "l-1"})
    unavailable(r, 502, sent=False)


def test_decision_is_error(gw, keys):
    r = gw.get("/down/x", token=tok(keys))
    assert r.headers["X-Decision"] == "error"


def read_answer(conn, method, path, headers, body=None):
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    return resp, resp.read()


def test_keepalive_connection_stays_usable(gw, keys, backend, clean):
    headers = {"Authorization": "Bearer " + tok(keys)}
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
    try:
        resp, body = read_answer(conn, "GET", "/down/x", headers)
        assert resp.status == 502
        assert resp.getheader("Connection", "").lower() != "close"
        assert json.loads(body)["type"] == \
            "urn:problem:microshop:upstream-unavailable"
        sock = conn.sock

        resp, body = read_answer(conn, "HEAD", "/down/x", headers)
        assert resp.status == 502 and body == b""

        resp, body = read_answer(conn, "POST", "/down/y", headers, b"{}")
        assert resp.status == 502
        assert json.loads(body)["status"] == 502

        resp, body = read_answer(conn, "GET", "/v1/sellers/s1/inventory/A1",
                                 headers)
        assert resp.status == 200
        assert json.loads(body)["sku"] == "A1"
        assert conn.sock is sock            # one connection all along
    finally:
        conn.close()


# ------------------------------------------------- what stays as it is

@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_backend_own_5xx_passes_untouched(gw, keys, backend, clean, status):
    backend.mode(status=status, path_prefix="/v1/sellers/s1/echo/")
    r = gw.post("/v1/sellers/s1/echo/own", token=tok(keys), data="{}")
    assert r.status_code == status
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {"error": "injected", "status": status}
    assert "Retry-After" not in r.headers


def test_location_without_microshop_keeps_nginx_page(gw):
    r = gw.get("/plain/x")
    assert r.status_code == 502
    assert r.headers["Content-Type"] == "text/html"
    assert "<center><h1>502 Bad Gateway</h1></center>" in r.text
    assert "Retry-After" not in r.headers


def test_other_nginx_errors_stay_nginx_pages(gw, keys):
    r = gw.post("/small/x", token=tok(keys), data="x" * 100)
    assert r.status_code == 413
    assert r.headers["Content-Type"] == "text/html"


@pytest.mark.parametrize("path", ["/custom/x", "/custom-guarded/x"])
def test_operator_error_page_is_respected(gw, keys, path):
    # the page is served by a location without checks, and by one with
    # them (which runs its own checks for the page, then serves it)
    r = gw.post(path, token=tok(keys), data="{}")
    assert r.status_code == 502
    assert r.headers["Content-Type"] == "text/html"
    assert r.text == OOPS
    assert "Retry-After" not in r.headers


def test_operator_named_location_is_respected(gw, keys):
    r = gw.get("/custom-named/x", token=tok(keys))
    assert r.status_code == 503
    assert r.text == "fallback page\n"


def test_error_page_that_fails_again_is_a_problem(gw, keys):
    # the page itself is proxied by a microshop location, and fails too
    r = gw.get("/custom-again/x", token=tok(keys))
    unavailable(r, 502, sent=False)


# ------------------------------------------ the idempotency lock and holds

class Flip(http.server.ThreadingHTTPServer):
    """A backend that comes up late, on a port nginx already proxies to."""

    def __init__(self, port):
        self.seen = []
        flip = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                flip.seen.append((self.path, self.rfile.read(length)))
                data = b'{"created":true}'
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.serve_forever,
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.shutdown()
        self.server_close()


def test_refused_connect_releases_the_key(gw, keys, ports):
    t = tok(keys)
    headers = {"Idempotency-Key": "flip-1"}
    r = gw.post("/flip/order", token=t, data='{"n":1}', headers=headers)
    unavailable(r, 502, sent=False)

    flip = Flip(ports["flip"])
    try:
        r = gw.post("/flip/order", token=t, data='{"n":1}', headers=headers)
        assert r.status_code == 201, r.text     # the retry reached it
        assert flip.seen == [("/flip/order", b'{"n":1}')]
        r = gw.post("/flip/order", token=t, data='{"n":1}', headers=headers)
        assert r.status_code == 201
        assert r.headers["Idempotent-Replayed"] == "true"
        assert len(flip.seen) == 1
    finally:
        flip.close()


@pytest.mark.parametrize("mode,status", [
    ({"delay": 2}, 504),
    ({"down": True}, 502),
], ids=["timeout", "closed"])
def test_unknown_outcome_keeps_the_key(gw, keys, backend, clean, mode,
                                       status):
    t = tok(keys)
    key = "unknown-%d" % status
    path = "/v1/sellers/s1/echo/once-%d" % status
    headers = {"Idempotency-Key": key}
    backend.mode(path_prefix=path, **mode)
    r = gw.post(path, token=t, data='{"n":1}', headers=headers)
    unavailable(r, status, sent=True)
    assert backend.count("POST " + path) == 1

    backend.mode()
    r = gw.post(path, token=t, data='{"n":1}', headers=headers)
    assert r.status_code == 409
    problem(r, "idempotency-response-unavailable")
    assert backend.count("POST " + path) == 1     # never executed twice


ORDER = {"items": [{"sku": "A1", "quantity": 2}]}


def test_refused_connect_releases_the_hold(gw, keys, backend, clean):
    set_stock(gw, keys, "up1", "A1", 3)
    r = gw.post("/dead/v1/sellers/up1/checkout", token=tok(keys, "up1"),
                json=ORDER, headers={"Idempotency-Key": "dead-order-1"})
    unavailable(r, 502, sent=False)
    assert stock(gw, keys, "up1", "A1") == {"available": 3, "held": 0}

    # and the key is free again: the retry is tried, not refused
    r = gw.post("/dead/v1/sellers/up1/checkout", token=tok(keys, "up1"),
                json=ORDER, headers={"Idempotency-Key": "dead-order-1"})
    unavailable(r, 502, sent=False)


def test_timeout_keeps_the_hold(gw, keys, backend, clean):
    backend.set_item("up2", "A1", available=10)
    set_stock(gw, keys, "up2", "A1", 3)
    backend.mode(delay=2, path_prefix="/v1/sellers/up2/checkout")
    r = gw.post("/v1/sellers/up2/checkout", token=tok(keys, "up2"),
                json=ORDER, headers={"Idempotency-Key": "slow-order-1"})
    unavailable(r, 504, sent=True)
    # the backend may have sold them: the units stay held ...
    assert stock(gw, keys, "up2", "A1")["held"] == 2
    backend.mode()
    r = gw.post("/v1/sellers/up2/checkout", token=tok(keys, "up2"),
                json=ORDER, headers={"Idempotency-Key": "slow-order-1"})
    assert r.status_code == 409
    problem(r, "idempotency-response-unavailable")
    # ... past hold= too: pending reconciliation, which the backend settles
    orders = wait_for(lambda: gw.get("/admin/orders?seller=up2",
                                     token=admin(keys)).json()["orders"],
                      timeout=8, what="the hold to go pending")
    assert [(o["state"], o["why"]) for o in orders] == [("pending",
                                                         "timeout")]
    assert stock(gw, keys, "up2", "A1")["held"] == 2
    r = gw.post("/admin/orders/%s/release" % orders[0]["id"],
                token=admin(keys))
    assert r.status_code == 204, r.text
    assert stock(gw, keys, "up2", "A1") == {"available": 3, "held": 0}
    assert backend.count("POST /v1/sellers/up2/checkout") == 1


def test_a_slow_answer_within_the_timeout_is_untouched(gw, keys, backend,
                                                       clean):
    path = "/v1/sellers/s1/inventory/A1"
    backend.mode(delay=0.2, path_prefix=path)
    start = time.monotonic()
    r = gw.get(path, token=tok(keys))
    assert time.monotonic() - start >= 0.2
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.json()["sku"] == "A1"
