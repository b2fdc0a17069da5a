"""Per-seller rate limits (GCRA): tiers, costs, headers, dry run, reloads,
several workers, and a flood of distinct sellers through a small zone."""

import re
import socket
import time

import pytest

from microshop import mint, problem

CONF = """
microshop_zone name=shop size=%(zone_size)s;
microshop_jwt_key %(ec_pub)s kid=k1;

microshop_rate_tier default rate=1r/s burst=3;
microshop_rate_tier gold    rate=2r/s burst=8;
microshop_rate_tier slow    rate=30r/m burst=2;

server {
    listen 127.0.0.1:%(port)d;
    keepalive_requests 1000000;

    location = /status { microshop_status; }

    location /items/ {
        microshop_auth on;
        microshop_require_scope GET,HEAD inventory:read;
        microshop_rate_limit on;
        alias %(prefix)s/html/;
    }

    location /expensive/ {
        microshop_auth on;
        microshop_rate_limit on cost=2;
        alias %(prefix)s/html/;
    }

    location /dry/ {
        microshop_auth on;
        microshop_rate_limit on dry_run;
        alias %(prefix)s/html/;
    }

    location /by-key/ {
        microshop_rate_limit on key=$http_x_key;
        add_header X-Remaining $microshop_rate_remaining always;
        alias %(prefix)s/html/;
    }

    location /v1/ {
        microshop_auth on;
        microshop_rate_limit on;
        proxy_pass http://127.0.0.1:%(backend)d;
    }
}
"""


def render(n, keys, backend, zone_size="1m"):
    return CONF % {"port": n.port, "prefix": n.prefix, "backend": backend.port,
                   "ec_pub": keys.ec256_public_pem, "zone_size": zone_size}


@pytest.fixture(scope="module")
def gw(nginx, keys, backend):
    n = nginx.new()
    n.write_file("html/a.txt", "a\n")
    n.start(render(n, keys, backend), workers=2)
    return n


def token(keys, seller, **claims):
    claims.setdefault("scope", "inventory:read")
    return mint(keys, kid="k1", seller=seller, **claims)


def metric(n, name):
    m = re.search(r"^%s (\d+)$" % re.escape(name), n.get("/status").text,
                  re.M)
    return int(m.group(1))


def test_burst_then_429_with_headers(gw, keys):
    t = token(keys, "burst-1")
    seen = []
    for _ in range(3):
        r = gw.get("/items/a.txt", token=t)
        assert r.status_code == 200 and r.text == "a\n"
        assert r.headers["RateLimit-Policy"] == '"default";q=3;w=3'
        seen.append(r.headers["RateLimit"])
    # t: seconds until the bucket is full again, one per unit spent
    assert seen == ['"default";r=2;t=1', '"default";r=1;t=2',
                    '"default";r=0;t=3']

    r = gw.get("/items/a.txt", token=t)
    body = problem(r, "rate-limited")
    assert r.status_code == 429 and body["status"] == 429
    assert r.headers["Retry-After"] == "1"
    assert r.headers["RateLimit-Policy"] == '"default";q=3;w=3'
    assert r.headers["RateLimit"] == '"default";r=0;t=3'


def test_refill_at_the_tier_rate(gw, keys):
    t = token(keys, "refill-1")
    for _ in range(3):
        assert gw.get("/items/a.txt", token=t).status_code == 200
    assert gw.get("/items/a.txt", token=t).status_code == 429
    time.sleep(1.05)            # 1r/s: one unit back after a second
    assert gw.get("/items/a.txt", token=t).status_code == 200
    assert gw.get("/items/a.txt", token=t).status_code == 429


def test_sellers_are_isolated(gw, keys):
    a, b = token(keys, "iso-a"), token(keys, "iso-b")
    for _ in range(3):
        gw.get("/items/a.txt", token=a)
    assert gw.get("/items/a.txt", token=a).status_code == 429
    assert gw.get("/items/a.txt", token=b).status_code == 200


def test_tiers_differ(gw, keys):
    t = token(keys, "tier-gold", tier="gold")
    codes = [gw.get("/items/a.txt", token=t).status_code for _ in range(9)]
    assert codes == [200] * 8 + [429]
    r = gw.get("/items/a.txt", token=t)
    assert r.headers["RateLimit-Policy"] == '"gold";q=8;w=4'

    t = token(keys, "tier-slow", tier="slow")
    codes = [gw.get("/items/a.txt", token=t).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    r = gw.get("/items/a.txt", token=t)
    # 30r/m: a unit every 2 s; the burst of 2 refills in 4 s
    assert r.headers["RateLimit-Policy"] == '"slow";q=2;w=4'
    assert r.headers["Retry-After"] == "2"

    # an unknown tier name falls back to default
    t = token(keys, "tier-unknown", tier="platinum")
    r = gw.get("/items/a.txt", token=t)
    assert r.headers["RateLimit-Policy"] == '"default";q=3;w=3'


def test_cost_spends_that_many_units(gw, keys):
    t = token(keys, "cost-1")
    r = gw.get("/expensive/a.txt", token=t)
    assert r.status_code == 200 and r.headers["RateLimit"].startswith(
        '"default";r=1;')
    assert gw.get("/expensive/a.txt", token=t).status_code == 429
    # the same seller's budget is shared with the cheaper route
    assert gw.get("/items/a.txt", token=t).status_code == 200
    assert gw.get("/items/a.txt", token=t).status_code == 429


def test_dry_run_counts_but_never_rejects(gw, keys):
    t = token(keys, "dry-1")
    before = metric(gw, "microshop_rate_limited_dry_run_total")
    limited = metric(gw, "microshop_rate_limited_total")
    codes = [gw.get("/dry/a.txt", token=t).status_code for _ in range(6)]
    assert codes == [200] * 6
    assert metric(gw, "microshop_rate_limited_dry_run_total") == before + 3
    assert metric(gw, "microshop_rate_limited_total") == limited


def test_refusals_before_the_limit_spend_nothing(gw, keys):
    t = token(keys, "order-1")
    wrong_scope = token(keys, "order-1", scope="orders:write")
    for _ in range(5):
        assert gw.get("/items/a.txt").status_code == 401
        assert gw.get("/items/a.txt", token=wrong_scope).status_code == 403
    codes = [gw.get("/items/a.txt", token=t).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


def test_headers_on_proxied_answers_and_429_never_reaches_backend(gw, keys,
                                                                 backend):
    backend.reset()
    t = token(keys, "s1")
    codes = []
    for _ in range(5):
        r = gw.get("/v1/sellers/s1/inventory/A1", token=t)
        codes.append(r.status_code)
        assert "RateLimit" in r.headers and "RateLimit-Policy" in r.headers
    assert codes == [200, 200, 200, 429, 429]
    assert backend.count("GET /v1/sellers/s1/inventory/A1") == 3


def test_remaining_variable_and_custom_key(gw):
    rs = [gw.get("/by-key/a.txt", headers={"X-Key": "k-1"})
          for _ in range(4)]
    assert [r.headers.get("X-Remaining") for r in rs] == ["2", "1", "0", "0"]
    assert [r.status_code for r in rs] == [200, 200, 200, 429]
    assert gw.get("/by-key/a.txt",
                  headers={"X-Key": "k-2"}).status_code == 200


def test_two_workers_share_the_limit(gw, keys):
    assert len(gw.worker_pids()) == 2
    t = token(keys, "shared-1", tier="gold")
    # fresh connections spread over both workers
    codes = [gw.get("/items/a.txt", token=t).status_code for _ in range(20)]
    assert codes.count(200) == 8 or codes.count(200) == 9, codes
    assert codes[:8] == [200] * 8


def test_state_survives_reload(gw, keys):
    t = token(keys, "reload-1", tier="slow")
    assert gw.get("/items/a.txt", token=t).status_code == 200
    assert gw.get("/items/a.txt", token=t).status_code == 200
    assert gw.get("/items/a.txt", token=t).status_code == 429
    gw.reload()
    assert gw.get("/items/a.txt", token=t).status_code == 429


def _flood(port, keys_iter, per_conn):
    """Pipelines requests with distinct X-Key values; returns the status
    codes of every answer."""
    codes = []
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(20)
    batch = []
    for k in keys_iter:
        batch.append(b"GET /by-key/a.txt HTTP/1.1\r\nHost: x\r\nX-Key: %s"
                     b"\r\n\r\n" % k)
    buf = b""
    sent = 0
    while sent < len(batch):
        chunk = batch[sent:sent + per_conn]
        s.sendall(b"".join(chunk))
        sent += len(chunk)
        want = len(codes) + len(chunk)
        while len(codes) < want:
            data = s.recv(1 << 20)
            assert data, "connection closed after %d answers" % len(codes)
            buf += data
            # every answer carries Content-Length and a small body
            while True:
                m = re.match(rb"HTTP/1\.1 (\d{3}) .*?\r\nContent-Length: "
                             rb"(\d+)\r\n.*?\r\n\r\n", buf, re.S)
                if not m or len(buf) < m.end() + int(m.group(2)):
                    break
                codes.append(int(m.group(1)))
                buf = buf[m.end() + int(m.group(2)):]
    s.close()
    return codes


def test_many_distinct_keys_in_a_small_zone_fail_closed(nginx, keys, backend):
    """Live rate state is never evicted: once it fills the zone, a key
    without state is refused with 503 store-unavailable rather than let
    through unlimited, and passes again once the buckets have refilled
    (docs/operations.md "The zone")."""
    n = nginx.new()
    n.write_file("html/a.txt", "a\n")
    n.start(render(n, keys, backend, zone_size="32k"), workers=2)
    total = 100000
    codes = []
    step = total // 4
    for c in range(4):
        codes += _flood(n.port, (b"flood-%d" % i
                                 for i in range(c * step, (c + 1) * step)),
                        500)
    assert len(codes) == total
    assert set(codes) == {200, 503}
    text = n.get("/status").text
    assert int(re.search(r"^microshop_zone_full_total (\d+)$", text,
                         re.M).group(1)) > 0
    r = n.get("/by-key/a.txt", headers={"X-Key": "flood-again"})
    if r.status_code == 503:
        problem(r, "store-unavailable")
        assert r.headers["Retry-After"] == "1"
    # default tier 1r/s: every bucket is full again a second later
    time.sleep(1.2)
    assert n.get("/by-key/a.txt",
                 headers={"X-Key": "after-refill"}).status_code == 200
    n.stop()


@pytest.mark.parametrize("tiers, loc, message", [
    ("microshop_rate_tier gold rate=10r/s burst=5;", "microshop_rate_limit on;",
     r'"microshop_rate_limit on" needs a rate tier named "default"'),
    ("microshop_rate_tier default rate=0r/s burst=5;", "",
     r'invalid rate "rate=0r/s"'),
    ("microshop_rate_tier default rate=10r/h burst=5;", "",
     r'invalid rate "rate=10r/h"'),
    ("microshop_rate_tier default rate=10r/s;", "",
     r'rate tier "default" needs "rate=" and "burst="'),
    ("microshop_rate_tier default rate=10r/s burst=0;", "",
     r'invalid burst "burst=0"'),
    ("microshop_rate_tier default rate=10r/s burst=2;",
     "microshop_rate_limit on cost=3;",
     r'cost=3 is larger than the burst=2 of rate tier "default"'),
    ("microshop_rate_tier default rate=10r/s burst=2;",
     "microshop_rate_limit maybe;", r'invalid value "maybe"'),
])
def test_nginx_t_rejects_bad_rate_settings(nginx, tiers, loc, message):
    n = nginx.new()
    conf = """
%s
server {
    listen 127.0.0.1:%d;
    location / {
        %s
        root html;
    }
}
""" % (tiers, n.port, loc)
    rc, err = n.test_config(conf)
    assert rc != 0
    assert re.search(message, err), err
    m = re.search(r"in (\S+nginx\.conf):(\d+)", err)
    assert m, err
    with open(m.group(1)) as f:
        line = f.read().split("\n")[int(m.group(2)) - 1]
    assert ("microshop_rate_limit" in line) or ("microshop_rate_tier" in line)
