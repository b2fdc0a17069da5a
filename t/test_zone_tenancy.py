"""Zone tenancy (issue 11 items 3 and 5): a hostile seller in a small zone.

docs/operations.md "The zone" and "Sizing", docs/directives.md
"microshop_zone" (seller_quota=, reserve=), docs/http.md (429
quota-exceeded).  Every instance has a 512k zone of its own:

  - seller "sa" floods idempotency keys: it gets 429 quota-exceeded past
    its seller_quota=, and nothing of it reaches the backend; seller B's
    idempotent writes, rate limits, checkouts and revocations go on;
  - 4 000 version-only webhook events of "sa" are refused past its quota
    and never fill the zone;
  - an exhausted bucket survives any amount of cache traffic (caches are
    evicted, live rate state never is);
  - when live rate state fills the zone, the rate limit fails closed (503
    store-unavailable), while revocations and stock (the reserve) still
    work;
  - a rate-limit record takes one 64-byte slot, however long its key.
"""

import json
import re
import socket
import time
import uuid

import pytest

from microshop import free_port, mint, problem, sign_webhook

SECRET = b"whsec_" + b"tenancy0123456789" * 2

CONF = """
microshop_zone name=tenancy size=%(size)s %(zone_params)s;
microshop_jwt_key %(ec_pub)s kid=k1;
microshop_jwt_key %(hs_file)s kid=hs alg=HS256;

# a request keeps its bucket's state for a minute: every key is live
microshop_rate_tier default rate=1r/m burst=1000;
microshop_rate_tier slow    rate=1r/m burst=2;
microshop_rate_tier fast    rate=100000r/s burst=100000;

server {
    listen 127.0.0.1:%(origin)d;
    keepalive_requests 1000000;
    location / {
        default_type application/json;
        return 200 '{"available":1}';
    }
}

server {
    listen 127.0.0.1:%(port)d;
    keepalive_requests 1000000;

    location = /status { microshop_status; }

    location /admin/ { microshop_admin; }

    location = /events { microshop_events secret=webhook.secret; }

    # a file served to any valid token (t/test_token_cache_share.py)
    location /static/ {
        microshop_auth on;
        alias %(prefix)s/html/;
    }

    location /by-key/ {
        microshop_rate_limit on key=$http_x_key;
        alias %(prefix)s/html/;
    }

    location /anon/ {
        microshop_idempotency on;
        proxy_pass http://127.0.0.1:%(backend)d/v1/echo/;
    }

    location ~ ^/v1/sellers/(?<seller>[^/]+)/fulfilments$ {
        microshop_auth on;
        microshop_seller $seller;
        microshop_rate_limit on;
        microshop_idempotency on;
        proxy_pass http://127.0.0.1:%(backend)d;
    }

    location ~ ^/v1/sellers/(?<seller>[^/]+)/checkout$ {
        microshop_auth on;
        microshop_seller $seller;
        microshop_rate_limit on;
        microshop_idempotency on;
        microshop_reserve on hold=30s;
        proxy_pass http://127.0.0.1:%(backend)d;
    }

    location ~ ^/v1/sellers/(?<seller>[^/]+)/inventory/(?<sku>[^/]+)$ {
        microshop_auth on;
        microshop_seller $seller;
        microshop_rate_limit on;
        microshop_inventory_cache sku=$sku ttl=60s;
        proxy_pass http://127.0.0.1:%(origin)d;
    }
}
"""

HOSTILE = "sa"
B = "drop1"          # a seller the reference backend has stock for


def start(nginx, keys, backend, size="512k", zone_params="", workers=1):
    n = nginx.new()
    n.write_file("html/a.txt", "a\n")
    n.write_file("conf/webhook.secret", SECRET)
    n.http_conf = CONF % {"port": n.port, "origin": free_port(),
                          "prefix": n.prefix, "backend": backend.port,
                          "ec_pub": keys.ec256_public_pem,
                          "hs_file": keys.hs256_file, "size": size,
                          "zone_params": zone_params}
    n.start(n.http_conf, workers=workers,
            allow_log=[r"microshop_zone \"tenancy\" is full"])
    return n


def tok(keys, seller, **claims):
    return mint(keys, kid="k1", seller=seller, **claims)


def admin(keys):
    return mint(keys, kid="k1", scope="microshop:admin", seller=None)


def metrics(n):
    """{line name with labels: value} of the status page."""
    out = {}
    for line in n.get("/status").text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            # a histogram's _sum is a float
            out[name] = float(value) if "." in value else int(value)
    return out


def pipeline(n, requests, per_batch=200):
    """Sends raw requests pipelined on one connection; returns
    [(status, body)] of every answer (each has a Content-Length)."""
    answers = []
    s = socket.create_connection(("127.0.0.1", n.port))
    s.settimeout(30)
    buf = b""
    for i in range(0, len(requests), per_batch):
        chunk = requests[i:i + per_batch]
        s.sendall(b"".join(chunk))
        want = len(answers) + len(chunk)
        while len(answers) < want:
            m = re.match(rb"HTTP/1\.1 (\d{3})[^\r]*\r\n(.*?)\r\n\r\n", buf,
                         re.S)
            if m:
                cl = re.search(rb"^content-length: *(\d+)", m.group(2),
                               re.M | re.I)
                assert cl, m.group(0)
                end = m.end() + int(cl.group(1))
                if len(buf) >= end:
                    answers.append((int(m.group(1)), buf[m.end():end]))
                    buf = buf[end:]
                    continue
            data = s.recv(1 << 20)
            assert data, "connection closed after %d answers" % len(answers)
            buf += data
    s.close()
    return answers


def raw_post(path, body, headers):
    head = "".join("%s: %s\r\n" % h for h in headers.items())
    return (("POST %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n"
             % (path, head, len(body))).encode() + body)


def idem_post(n, token, seller, key, body=None, path="fulfilments"):
    return n.post("/v1/sellers/%s/%s" % (seller, path), token=token,
                  json=body if body is not None else {"n": key},
                  headers={"Idempotency-Key": key})


def signed_event(doc):
    body = json.dumps(doc, separators=(",", ":")).encode()
    return body, {"Content-Type": "application/json",
                  "Microshop-Signature": sign_webhook(SECRET, body,
                                                      int(time.time()))}


def post_event(n, doc):
    body, headers = signed_event(doc)
    return n.post("/events", data=body, headers=headers)


def event(seller, sku, version=1, **fields):
    doc = {"id": "evt_" + uuid.uuid4().hex, "type": "inventory.updated",
           "seller": seller, "sku": sku, "version": version}
    doc.update(fields)
    return doc


def revoke_works(n, keys, seller):
    """A token of seller passes, is revoked, and is refused from then on."""
    jti = "jti-" + uuid.uuid4().hex
    t = tok(keys, seller, jti=jti)
    assert n.get("/v1/sellers/%s/inventory/R1" % seller,
                 token=t).status_code == 200
    r = n.post("/admin/revocations", token=admin(keys),
               json={"jti": jti, "exp": int(time.time()) + 300})
    assert r.status_code == 204, r.text
    r = n.get("/v1/sellers/%s/inventory/R1" % seller, token=t)
    assert r.status_code == 401
    problem(r, "invalid-token")


def stock_and_checkout_work(n, keys, backend, seller=B, sku="X1"):
    """The edge's stock of seller is set, a checkout holds and commits."""
    r = n.request("PUT", "/admin/stock/%s/%s" % (seller, sku),
                  token=admin(keys), json={"available": 3})
    assert r.status_code == 204, r.text
    r = idem_post(n, tok(keys, seller), seller, "co-" + uuid.uuid4().hex,
                  body={"items": [{"sku": sku, "quantity": 1}]},
                  path="checkout")
    assert r.status_code == 201, r.text
    r = n.get("/admin/stock/%s/%s" % (seller, sku), token=admin(keys))
    assert r.json() == {"available": 2, "held": 0}


# ------------------------------------------------------ idempotency quota

def test_idempotency_flood_is_refused_for_that_seller_only(nginx, keys,
                                                           backend, clean):
    n = start(nginx, keys, backend, zone_params="seller_quota=16k")
    ta, tb = tok(keys, HOSTILE), tok(keys, B)

    codes = [idem_post(n, ta, HOSTILE, "k-%d" % i).status_code
             for i in range(120)]
    passed = codes.count(201)
    # the quota holds a few dozen answers, then every new key is refused
    assert 10 < passed < 100, codes
    assert codes[:passed] == [201] * passed
    assert set(codes[passed:]) == {429}, codes
    assert backend.count("POST /v1/sellers/sa/fulfilments") == passed

    r = idem_post(n, ta, HOSTILE, "k-more")
    assert r.status_code == 429
    doc = problem(r, "quota-exceeded")
    assert "Retry-After" not in r.headers
    assert "RateLimit" in r.headers          # the rate limit still ran
    assert "quota" in doc["detail"]
    # keys it keeps still replay, and the same key is refused the same way
    r = idem_post(n, ta, HOSTILE, "k-0")
    assert r.status_code == 201 and r.headers["Idempotent-Replayed"] == "true"
    assert idem_post(n, ta, HOSTILE, "k-more").status_code == 429
    assert backend.count("POST /v1/sellers/sa/fulfilments") == passed

    # seller B: idempotent writes, their replays, its rate limit, its
    # checkouts with edge stock, and revocations all work as before
    for i in range(40):
        r = idem_post(n, tb, B, "b-%d" % i)
        assert r.status_code == 201, r.text
    r = idem_post(n, tb, B, "b-0")
    assert r.status_code == 201 and r.headers["Idempotent-Replayed"] == "true"
    slow = tok(keys, "sb", tier="slow")      # a bucket of its own
    codes = [n.get("/v1/sellers/sb/inventory/S1",
                   token=slow).status_code for _ in range(4)]
    assert codes == [200, 200, 429, 429]
    stock_and_checkout_work(n, keys, backend)
    revoke_works(n, keys, B)

    m = metrics(n)
    refused = 120 - passed + 2
    assert m['microshop_zone_quota_refused_total{class="idempotency"}'] \
        == refused
    assert m['microshop_zone_quota_refused_total{class="events"}'] == 0
    assert m['microshop_requests_total{decision="deny",'
             'reason="quota_exceeded"}'] == refused
    assert m['microshop_zone_bytes{kind="idempotency"}'] > 16 * 1024
    assert m['microshop_zone_records{kind="tenant"}'] >= 2
    assert m['microshop_zone_seller_quota_bytes'] == 16 * 1024
    assert m["microshop_zone_full_total"] == 0
    assert "microshop_zone \"tenancy\": \"sa\" is over its seller_quota= " \
           "of 16384 bytes of idempotency records" in n.error_log()


def test_a_client_without_token_has_a_quota_of_its_own(nginx, keys,
                                                       backend):
    """Keys of requests without a token are their client address's."""
    n = start(nginx, keys, backend, zone_params="seller_quota=8k")
    codes = [n.post("/anon/x", json={"i": i},
                    headers={"Idempotency-Key": "a-%d" % i}).status_code
             for i in range(60)]
    passed = codes.count(200)
    assert 2 < passed < 60 and set(codes[passed:]) == {429}, codes
    problem(n.post("/anon/x", json={}, headers={"Idempotency-Key": "a-x"}),
            "quota-exceeded")
    assert 'over its seller_quota= of 8192 bytes of idempotency records' \
        in n.error_log()
    assert '"127.0.0.1" is over' in n.error_log()
    # a seller is not that client
    r = idem_post(n, tok(keys, B), B, "b-1")
    assert r.status_code == 201, r.text


# ---------------------------------------------------------- events quota

def test_version_only_events_are_bounded_per_seller(nginx, keys, backend,
                                                    clean):
    """4 000 events without "available", each for a new SKU, used to leave
    4 000 stock records that nothing evicts; now they are the seller's
    records, refused past its quota, and the zone keeps room for the
    others."""
    n = start(nginx, keys, backend, zone_params="seller_quota=64k")
    reqs = []
    for i in range(4000):
        body, headers = signed_event(event(HOSTILE, "F%d" % i))
        reqs.append(raw_post("/events", body, headers))
    answers = pipeline(n, reqs)
    codes = [a[0] for a in answers]
    accepted = codes.count(200)
    assert 100 < accepted < 1000, accepted
    assert codes[:accepted] == [200] * accepted
    assert set(codes[accepted:]) == {429}
    doc = json.loads(answers[-1][1])
    assert doc["type"] == "urn:problem:microshop:quota-exceeded"
    assert doc["status"] == 429

    m = metrics(n)
    assert m['microshop_zone_quota_refused_total{class="events"}'] \
        >= 4000 - accepted
    assert m['microshop_zone_bytes{kind="stock"}'] \
        + m['microshop_zone_bytes{kind="event"}'] <= 64 * 1024 + 512
    assert m["microshop_zone_full_total"] == 0

    # an SKU the seller already has still takes its events
    r = post_event(n, event(HOSTILE, "F0", version=2))
    assert r.status_code == 200 and r.json() == {"status": "accepted"}
    # and stock with a number is never the seller's to lose
    r = post_event(n, event(HOSTILE, "F1", version=2, available=4))
    assert r.status_code == 200, r.text

    # another seller's events, stock, checkouts and revocations
    r = post_event(n, event(B, "V1"))
    assert r.status_code == 200 and r.json() == {"status": "accepted"}
    r = post_event(n, event(B, "V2", available=9))
    assert r.status_code == 200
    r = n.get("/admin/stock/%s/V2" % B, token=admin(keys))
    assert r.json() == {"available": 9, "held": 0}
    stock_and_checkout_work(n, keys, backend)
    revoke_works(n, keys, B)

    # the flood's webhook answers are counted as the seller's refusals
    m = metrics(n)
    assert m['microshop_requests_total{decision="deny",'
             'reason="quota_exceeded"}'] == 4000 - accepted


# ------------------------------------------- live rate state is never evicted

def test_exhausted_bucket_survives_cache_traffic(nginx, keys, backend):
    n = start(nginx, keys, backend, size="256k")
    slow = tok(keys, "sx", tier="slow")
    codes = [n.get("/v1/sellers/sx/inventory/Z1", token=slow).status_code
             for _ in range(3)]
    assert codes == [200, 200, 429]

    # another seller reads thousands of SKUs through the inventory cache:
    # the cache fills the zone many times over and is evicted, LRU first
    tb = tok(keys, B, tier="fast")
    reqs = [("GET /v1/sellers/%s/inventory/SKU-%d HTTP/1.1\r\nHost: x\r\n"
             "Authorization: Bearer %s\r\n\r\n" % (B, i, tb)).encode()
            for i in range(4000)]
    assert {a[0] for a in pipeline(n, reqs)} == {200}
    m = metrics(n)
    assert m["microshop_zone_evictions_total"] > 1000
    assert m["microshop_zone_full_total"] == 0

    # the exhausted bucket is still there: still refused, nothing reset
    r = n.get("/v1/sellers/sx/inventory/Z1", token=slow)
    assert r.status_code == 429
    problem(r, "rate-limited")
    assert int(r.headers["Retry-After"]) > 1


# ----------------------------------------------- the rate limit fails closed

def test_rate_limit_fails_closed_when_live_state_fills_the_zone(nginx, keys,
                                                                backend):
    n = start(nginx, keys, backend)
    # state of its own before the flood: a seller with room, and one whose
    # bucket is exhausted
    tb, slow = tok(keys, B), tok(keys, "sx", tier="slow")
    assert n.get("/v1/sellers/%s/inventory/W1" % B, token=tb).status_code \
        == 200
    assert [n.get("/v1/sellers/sx/inventory/W1", token=slow).status_code
            for _ in range(3)] == [200, 200, 429]

    # distinct keys, each bucket live for a minute, until nothing fits
    reqs = [b"GET /by-key/a.txt HTTP/1.1\r\nHost: x\r\nX-Key: f%d\r\n\r\n" % i
            for i in range(12000)]
    answers = pipeline(n, reqs, per_batch=500)
    codes = [a[0] for a in answers]
    assert set(codes) == {200, 503}
    first = codes.index(503)
    assert first > 3000                # a 512k zone keeps thousands of them
    assert set(codes[first:]) == {503}
    doc = json.loads(answers[-1][1])
    assert doc["type"] == "urn:problem:microshop:store-unavailable"

    # a key without state is refused, never let through unlimited
    r = n.get("/v1/sellers/other/inventory/W1", token=tok(keys, "other"))
    assert r.status_code == 503
    problem(r, "store-unavailable")
    assert r.headers["Retry-After"] == "1"

    # buckets that have state go on as before, refusals too
    assert n.get("/v1/sellers/%s/inventory/W1" % B, token=tb).status_code \
        == 200
    r = n.get("/v1/sellers/sx/inventory/W1", token=slow)
    assert r.status_code == 429
    problem(r, "rate-limited")

    # what tenants never displace: revocations, stock, holds, locks
    r = n.request("PUT", "/admin/stock/%s/X1" % B, token=admin(keys),
                  json={"available": 3})
    assert r.status_code == 204
    jti = "jti-" + uuid.uuid4().hex
    r = n.post("/admin/revocations", token=admin(keys),
               json={"jti": jti, "exp": int(time.time()) + 300})
    assert r.status_code == 204
    r = n.get("/v1/sellers/%s/inventory/W1" % B, token=tok(keys, B, jti=jti))
    assert r.status_code == 401
    # a checkout takes its lock and its hold in the reserve and executes
    # once; its answer finds no room outside it, so the key is kept as
    # executed (never run twice)
    r = idem_post(n, tb, B, "co-full",
                  body={"items": [{"sku": "X1", "quantity": 1}]},
                  path="checkout")
    assert r.status_code == 201, r.text
    r = idem_post(n, tb, B, "co-full",
                  body={"items": [{"sku": "X1", "quantity": 1}]},
                  path="checkout")
    assert r.status_code == 409
    problem(r, "idempotency-response-unavailable")
    r = n.get("/admin/stock/%s/X1" % B, token=admin(keys))
    assert r.json() == {"available": 2, "held": 0}

    m = metrics(n)
    assert m["microshop_zone_full_total"] > 0
    # the live buckets fill what is not the reserve, 64 bytes each
    rate = m['microshop_zone_records{kind="rate"}']
    assert rate >= first
    assert m['microshop_zone_bytes{kind="rate"}'] == 64 * rate
    assert 64 * rate > m["microshop_zone_room_bytes"] \
        - m["microshop_zone_reserve_bytes"] - 4096
    assert m['microshop_requests_total{decision="deny",'
             'reason="store_unavailable"}'] >= len(codes) - first


# ------------------------------------------------------- 64-byte records

def test_a_rate_limit_record_takes_64_bytes(nginx, keys, backend):
    """20 000 buckets in a 2m zone, short keys, keys over 31 bytes (kept
    as their SHA-256) and keys over 512 bytes (hashed by the rate limit,
    then again): each one 64-byte slot, 1M sellers in 64 MB of records."""
    n = start(nginx, keys, backend, size="2m")
    before = metrics(n)
    keys_ = ([b"s%d" % i for i in range(10000)]
             + [b"long-key-%040d" % i for i in range(9000)]
             + [b"huge-%0600d" % i for i in range(1000)])
    reqs = [b"GET /by-key/a.txt HTTP/1.1\r\nHost: x\r\nX-Key: %s\r\n\r\n" % k
            for k in keys_]
    assert {a[0] for a in pipeline(n, reqs, per_batch=500)} == {200}
    m = metrics(n)
    rate = 'microshop_zone_records{kind="rate"}'
    assert m[rate] - before[rate] == len(keys_)
    assert m['microshop_zone_bytes{kind="rate"}'] \
        - before['microshop_zone_bytes{kind="rate"}'] == 64 * len(keys_)


def test_long_keys_never_share_a_bucket(nginx, keys, backend):
    n = start(nginx, keys, backend)
    base = "k" * 40
    for last in "ab":
        codes = [n.get("/by-key/a.txt",
                       headers={"X-Key": base + last}).status_code
                 for _ in range(3)]
        assert codes == [200, 200, 200]
    # a seller's bucket: the slow tier refuses the third request of each
    for seller in ("seller-with-a-long-name-%s-1" % ("x" * 20),
                   "seller-with-a-long-name-%s-2" % ("x" * 20)):
        t = tok(keys, seller, tier="slow")
        codes = [n.get("/v1/sellers/%s/inventory/L1" % seller,
                       token=t).status_code for _ in range(3)]
        assert codes == [200, 200, 429]


# ------------------------------------------------------------ configuration

@pytest.mark.parametrize("params, message", [
    ("seller_quota=0", r'invalid "seller_quota=0": a seller needs room'),
    ("seller_quota=0%", r'invalid "seller_quota=0%": a seller needs room'),
    ("seller_quota=101%", r'invalid "seller_quota=101%": a percent from 0% '
                          r'to 100% of the zone, or a size'),
    ("seller_quota=lots", r'invalid "seller_quota=lots"'),
    ("seller_quota=2m", r'"seller_quota=" of zone "shop" is larger than its '
                        r'size'),
    ("reserve=91%", r'invalid "reserve=91%": a percent from 0% to 90%'),
    ("reserve=1m", r'"reserve=" of zone "shop" is larger than its size'),
    ("reserve=-1", r'invalid "reserve=-1"'),
    ("token_cache=0%", r'invalid "token_cache=0%": a percent from 1% to '
                       r'90% of the zone, or a size'),
    ("token_cache=91%", r'invalid "token_cache=91%": a percent from 1% to '
                        r'90%'),
    ("token_cache=0", r'invalid "token_cache=0": a percent from 1%'),
    ("token_cache=lots", r'invalid "token_cache=lots"'),
    ("token_cache=2m", r'"token_cache=" of zone "shop" is larger than its '
                       r'size'),
])
def test_nginx_t_refuses_bad_shares(nginx, params, message):
    n = nginx.new()
    rc, err = n.test_config("microshop_zone name=shop size=1m %s;" % params)
    assert rc != 0
    assert re.search(message, err), err
    assert re.search(r"in \S+nginx\.conf:\d+", err), err


def test_shares_change_with_a_reload(nginx, keys, backend):
    n = start(nginx, keys, backend, zone_params="seller_quota=32k")
    m = metrics(n)
    room = m["microshop_zone_room_bytes"]
    assert 400 * 1024 < room < 512 * 1024
    assert m["microshop_zone_seller_quota_bytes"] == 32 * 1024
    assert m["microshop_zone_reserve_bytes"] == room // 100 * 10
    assert m["microshop_token_cache_bound_bytes"] == room // 100 * 25
    t = tok(keys, HOSTILE)
    assert idem_post(n, t, HOSTILE, "kept").status_code == 201
    n.reload(n.http_conf.replace("seller_quota=32k",
                                 "seller_quota=50% reserve=20% "
                                 "token_cache=64k"))
    m = metrics(n)
    assert m["microshop_zone_room_bytes"] == room
    assert m["microshop_zone_seller_quota_bytes"] == room // 100 * 50
    assert m["microshop_zone_reserve_bytes"] == room // 100 * 20
    assert m["microshop_token_cache_bound_bytes"] == 64 * 1024
    # at most what the reserve leaves
    n.reload(n.http_conf.replace("seller_quota=32k",
                                 "reserve=90% token_cache=90%"))
    m = metrics(n)
    assert m["microshop_token_cache_bound_bytes"] \
        == room - m["microshop_zone_reserve_bytes"]
    n.reload(n.http_conf.replace("seller_quota=32k",
                                 "seller_quota=50% reserve=20%"))
    m = metrics(n)
    # the records stayed, charged as before
    r = idem_post(n, t, HOSTILE, "kept")
    assert r.headers.get("Idempotent-Replayed") == "true"
    assert m['microshop_zone_records{kind="tenant"}'] == 1
