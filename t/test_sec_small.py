"""Security findings of issue 10 item 6 (four small ones), each written as
a table of the spellings of one attack:

- two Idempotency-Key headers (or a folded list in one) are refused, never
  one of them used (docs/directives.md, microshop_idempotency);
- every byte of a seller counts for its rate bucket and its idempotency
  keys; a client without a token shares nothing with a seller named like
  its address (docs/directives.md, microshop_rate_limit);
- a second webhook event with version 0 is stale (docs/inventory.md);
- the policy report names keys by kid and thumbprint, never by the path of
  a key or secret file (docs/audit-and-policy.md).
"""

import base64
import hashlib
import json
import os
import time
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from microshop import b64url, mint, problem, raw_http, sign_webhook

SECRET = b"whsec_" + b"0123456789abcdef" * 2
ADMIN_SCOPE = "microshop:admin"

CONF = """
microshop_zone name=small size=4m;
microshop_jwt_key %(ec_pub)s kid=k1;
microshop_jwt_key %(rsa_pub)s kid=rsa-pem;
microshop_jwt_key %(hs_file)s kid=hs-file alg=HS256;
microshop_jwt_jwks %(jwks)s;
microshop_audit_log logs/audit.log;

# no refill during a test: the burst is all a bucket has
microshop_rate_tier default rate=1r/m burst=2;

server {
    listen 127.0.0.1:%(port)d;

    location /idem/ {
        microshop_auth on;
        microshop_idempotency on;
        add_header X-Idempotency $microshop_idempotency always;
        proxy_pass http://127.0.0.1:%(backend)d/v1/echo/;
    }

    location /idem-required/ {
        microshop_auth on;
        microshop_idempotency required;
        proxy_pass http://127.0.0.1:%(backend)d/v1/echo/;
    }

    location /idem-header/ {
        microshop_auth on;
        microshop_idempotency on header=X-Request-Key;
        proxy_pass http://127.0.0.1:%(backend)d/v1/echo/;
    }

    location /idem-anon/ {
        microshop_idempotency on;
        add_header X-Idempotency $microshop_idempotency always;
        proxy_pass http://127.0.0.1:%(backend)d/v1/echo/;
    }

    location /rate/ {
        microshop_auth on;
        microshop_rate_limit on;
        alias %(prefix)s/html/;
    }

    location /rate-anon/ {
        microshop_rate_limit on;
        alias %(prefix)s/html/;
    }

    location /rate-key/ {
        microshop_rate_limit on key=$http_x_key;
        alias %(prefix)s/html/;
    }

    location = /events {
        microshop_events secret=%(secret)s;
    }

    location /admin/ {
        microshop_admin;
    }

    location ~ ^/v1/sellers/(?<seller>[^/]+)/inventory/(?<sku>[^/]+)$ {
        microshop_auth on;
        microshop_seller $seller;
        microshop_require_scope GET,HEAD inventory:read;
        microshop_inventory_cache sku=$sku ttl=60s;
        proxy_pass http://127.0.0.1:%(backend)d;
    }

    location = /policy {
        microshop_policy;
    }
}

# a public inventory (no token): the seller is whatever the path says
server {
    listen 127.0.0.1:%(port)d;
    server_name open.test;

    location ~ ^/v1/sellers/(?<seller>[^/]+)/inventory/(?<sku>[^/]+)$ {
        microshop_seller $seller;
        microshop_inventory_cache sku=$sku ttl=60s;
        add_header X-Cache $microshop_cache always;
        proxy_pass http://127.0.0.1:%(backend)d;
    }
}
"""


@pytest.fixture(scope="module")
def gw(nginx, keys, backend):
    n = nginx.new()
    n.secret_path = n.write_file("conf/webhook.secret", SECRET + b"\n")
    n.write_file("html/a.txt", "a\n")
    n.start(CONF % {"port": n.port, "backend": backend.port,
                    "prefix": n.prefix,
                    "ec_pub": keys.ec256_public_pem,
                    "rsa_pub": keys.rsa_public_pem,
                    "hs_file": keys.hs256_file, "jwks": keys.jwks_file,
                    "secret": n.secret_path},
            workers=2)
    return n


def tok(keys, seller="s1", **claims):
    return mint(keys, kid="k1", seller=seller, **claims)


# ------------------------------------------------- (a) Idempotency-Key

def raw_post(n, path, header_lines, token=None, body=b"{}"):
    """POST with the header lines exactly as given; (status, headers
    (lower-case names), body)."""
    lines = [b"POST %s HTTP/1.1" % path.encode(), b"Host: localhost",
             b"Connection: close", b"Content-Type: application/json",
             b"Content-Length: %d" % len(body)]
    if token:
        lines.append(b"Authorization: Bearer " + token.encode())
    lines += [h.encode() if isinstance(h, str) else h for h in header_lines]
    answer = raw_http(n, b"\r\n".join(lines) + b"\r\n\r\n" + body)
    head, _, payload = answer.partition(b"\r\n\r\n")
    status_line, *fields = head.decode("latin-1").split("\r\n")
    headers = {}
    for field in fields:
        name, _, value = field.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split(" ")[1]), headers, payload


def assert_key_invalid(status, headers, payload):
    assert status == 400, (status, payload)
    assert headers["content-type"] == "application/problem+json", headers
    doc = json.loads(payload)
    assert doc["type"] == "urn:problem:microshop:idempotency-key-invalid", doc
    assert doc["status"] == 400
    return doc


# every spelling of "more than one key": two headers, in any case of the
# name, same or other values, one empty; a list folded into one header
TWO_KEYS = {
    "same-value-twice": ["Idempotency-Key: k1", "Idempotency-Key: k1"],
    "two-values": ["Idempotency-Key: k1", "Idempotency-Key: k2"],
    "lower-and-canonical": ["idempotency-key: k1", "Idempotency-Key: k2"],
    "upper-and-canonical": ["IDEMPOTENCY-KEY: k1", "Idempotency-Key: k1"],
    "mixed-case-same-value": ["Idempotency-Key: k1", "iDeMpOtEnCy-KeY: k1"],
    "empty-then-valid": ["Idempotency-Key:", "Idempotency-Key: k1"],
    "valid-then-empty": ["Idempotency-Key: k1", "Idempotency-Key:"],
    "spaces-then-valid": ["Idempotency-Key:    ", "Idempotency-Key: k1"],
    "quoted-and-bare": ['Idempotency-Key: "k1"', "Idempotency-Key: k1"],
    "three": ["Idempotency-Key: k1", "Idempotency-Key: k2",
              "Idempotency-Key: k3"],
    "bare-list": ["Idempotency-Key: a, b"],
    "bare-list-no-space": ["Idempotency-Key: a,b"],
    "trailing-comma": ["Idempotency-Key: a,"],
    "leading-comma": ["Idempotency-Key: ,a"],
    "list-of-strings": ['Idempotency-Key: "a", "b"'],
    "string-then-token": ['Idempotency-Key: "a", b'],
    "token-then-string": ['Idempotency-Key: a, "b"'],
}


@pytest.mark.parametrize("case", sorted(TWO_KEYS))
@pytest.mark.parametrize("location", ["/idem/", "/idem-required/"])
def test_two_keys_are_refused(gw, keys, backend, case, location):
    path = location + "two-keys-" + case
    before = backend.count("POST /v1/echo/two-keys-" + case)
    status, headers, payload = raw_post(gw, path, TWO_KEYS[case],
                                        token=tok(keys))
    assert_key_invalid(status, headers, payload)
    assert backend.count("POST /v1/echo/two-keys-" + case) == before


@pytest.mark.parametrize("lines", [
    ["X-Request-Key: k1", "X-Request-Key: k2"],
    ["x-request-key: k1", "X-REQUEST-KEY: k1"],
    ["X-Request-Key:", "X-Request-Key: k1"],
    ["X-Request-Key: a, b"],
], ids=["two", "case", "empty", "list"])
def test_two_keys_of_a_custom_header_are_refused(gw, keys, backend, lines):
    before = backend.count("POST /v1/echo/custom")
    assert_key_invalid(*raw_post(gw, "/idem-header/custom", lines,
                                 token=tok(keys)))
    assert backend.count("POST /v1/echo/custom") == before


def test_two_keys_without_a_token_are_refused(gw, backend):
    before = backend.count("POST /v1/echo/anon-two")
    assert_key_invalid(*raw_post(gw, "/idem-anon/anon-two",
                                 ["Idempotency-Key: k1",
                                  "Idempotency-Key: k2"]))
    assert backend.count("POST /v1/echo/anon-two") == before


def test_one_key_still_works(gw, keys, backend):
    """The control: one header, and a quoted key that holds a comma (one
    sf-string), run once and replay."""
    t = tok(keys)
    for value in ("one-" + uuid.uuid4().hex, '"a, b %s"' % uuid.uuid4().hex):
        path = "/idem/one-" + uuid.uuid4().hex[:8]
        route = "POST /v1/echo/" + path.rsplit("/", 1)[1]
        first = raw_post(gw, path, ["Idempotency-Key: " + value], token=t)
        again = raw_post(gw, path, ["idempotency-key: " + value], token=t)
        assert first[0] == 200 and first[1]["x-idempotency"] == "new", first
        assert again[0] == 200 and again[1]["x-idempotency"] == "replay"
        assert again[2] == first[2]
        assert backend.count(route) == 1


# ----------------------------------------------------- (b) long sellers

def long_seller(tail, n=600):
    """n bytes; two of them differ only after the first 512"""
    return ("x" * (n - len(tail))) + tail


def codes(n, path, count, **kw):
    return [n.get(path, **kw).status_code for _ in range(count)]


# a token's text claims are at most 1024 bytes
@pytest.mark.parametrize("size", [513, 600, 1024])
def test_long_sellers_have_buckets_of_their_own(gw, keys, size):
    tag = uuid.uuid4().hex[:8]
    a = long_seller(tag + "A", size)
    b = long_seller(tag + "B", size)
    assert a[:512] == b[:512] and a != b
    # the first exhausts its bucket (burst 2) ...
    assert codes(gw, "/rate/a.txt", 3, token=tok(keys, a)) == [200, 200, 429]
    # ... the other has its own, and so does the client address
    assert codes(gw, "/rate/a.txt", 3, token=tok(keys, b)) == [200, 200, 429]


def test_one_long_seller_has_one_bucket(gw, keys):
    seller = long_seller(uuid.uuid4().hex)
    # a fresh token for every request: the seller, not the token, counts
    got = [gw.get("/rate/a.txt", token=tok(keys, seller)).status_code
           for _ in range(4)]
    assert got == [200, 200, 429, 429]
    r = gw.get("/rate/a.txt", token=tok(keys, seller))
    assert r.status_code == 429
    problem(r, "rate-limited")


@pytest.mark.parametrize("size", [513, 600, 4000])
def test_long_custom_keys_have_buckets_of_their_own(gw, size):
    tag = uuid.uuid4().hex[:8]
    a, b = long_seller(tag + "A", size), long_seller(tag + "B", size)
    assert codes(gw, "/rate-key/a.txt", 3, headers={"X-Key": a}) \
        == [200, 200, 429]
    assert codes(gw, "/rate-key/a.txt", 3, headers={"X-Key": b}) \
        == [200, 200, 429]


def test_address_shares_no_bucket_with_a_seller_or_key_named_like_it(
        nginx, keys):
    """A client without a token is limited by its address; a seller or a
    custom key spelled like that address is another bucket."""
    # an instance of its own: the address bucket is the whole client's
    n = nginx.new()
    n.write_file("html/a.txt", "a\n")
    n.start(CONF % {"port": n.port, "backend": 9, "prefix": n.prefix,
                    "ec_pub": keys.ec256_public_pem,
                    "rsa_pub": keys.rsa_public_pem,
                    "hs_file": keys.hs256_file, "jwks": keys.jwks_file,
                    "secret": n.write_file("conf/webhook.secret", SECRET)})
    assert codes(n, "/rate-anon/a.txt", 3) == [200, 200, 429]
    # no key= value: the address as well
    assert n.get("/rate-key/a.txt").status_code == 429
    assert codes(n, "/rate/a.txt", 2, token=tok(keys, "127.0.0.1")) \
        == [200, 200]
    assert codes(n, "/rate-key/a.txt", 2, headers={"X-Key": "127.0.0.1"}) \
        == [200, 200]


def idem_post(n, path, token, key, body=b'{"a":1}'):
    headers = {"Idempotency-Key": key, "Content-Type": "application/json"}
    return n.post(path, token=token, data=body, headers=headers)


def test_long_sellers_have_idempotency_keys_of_their_own(gw, keys, backend):
    tag = uuid.uuid4().hex[:8]
    a, b = long_seller(tag + "A"), long_seller(tag + "B")
    path = "/idem/long-" + tag
    route = "POST /v1/echo/long-" + tag
    first = idem_post(gw, path, tok(keys, a), "order-1")
    assert first.status_code == 200
    assert first.headers["X-Idempotency"] == "new"
    # the same key, URI and body from the other seller: not a replay
    other = idem_post(gw, path, tok(keys, b), "order-1")
    assert other.headers["X-Idempotency"] == "new"
    assert "Idempotent-Replayed" not in other.headers
    again = idem_post(gw, path, tok(keys, a), "order-1")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert backend.count(route) == 2


def test_client_without_token_shares_no_key_with_seller_named_like_it(
        gw, keys, backend):
    """Before the fix, the seller "127.0.0.1" met the keys of the clients of
    127.0.0.1 without a token: another URI gave 422 idempotency-key-reused."""
    key = "k-" + uuid.uuid4().hex
    anon = idem_post(gw, "/idem-anon/anon-" + key, None, key)
    assert anon.status_code == 200 and anon.headers["X-Idempotency"] == "new"
    seller = idem_post(gw, "/idem/seller-" + key, tok(keys, "127.0.0.1"),
                       key)
    assert seller.status_code == 200, seller.text
    assert seller.headers["X-Idempotency"] == "new"


def test_a_seller_holding_a_newline_meets_no_other_cache_key(gw, backend):
    """Cache keys are seller "\\n" sku: a seller "s1\\nx" (a decoded %0A)
    with sku "y" would be the key of seller "s1" with sku "x\\ny".  Such a
    seller is not cached, so its answer never serves the other."""
    backend.reset()
    tag = uuid.uuid4().hex[:8]
    host = {"Host": "open.test"}
    r = gw.request("PUT", "/v1/sellers/s1%%0Ax%s/inventory/y" % tag,
                   headers=host, json={"name": "not s1's"})
    assert r.status_code in (200, 201), r.text
    r = gw.get("/v1/sellers/s1/inventory/x%s%%0Ay" % tag, headers=host)
    assert r.headers.get("Cache-Status") != "microshop; hit", r.headers
    assert "not s1's" not in r.text
    assert backend.count("GET /v1/sellers/s1/inventory/x%s%%0Ay" % tag) == 1


# ------------------------------------------------------ (c) version 0

def event(sku, version, seller="s1", **fields):
    doc = {"id": "evt_" + uuid.uuid4().hex, "type": "inventory.updated",
           "seller": seller, "sku": sku, "version": version}
    doc.update(fields)
    return doc


def post_event(n, doc):
    data = json.dumps(doc, separators=(",", ":")).encode()
    r = n.post("/events", data=data,
               headers={"Content-Type": "application/json",
                        "Microshop-Signature":
                            sign_webhook(SECRET, data, int(time.time()))})
    assert r.status_code == 200, r.text
    return r.json()["status"]


def admin_token(keys):
    return mint(keys, kid="k1", scope=ADMIN_SCOPE, sub="ops", seller=None)


def stock(n, keys, sku):
    r = n.get("/admin/stock/s1/" + sku, token=admin_token(keys))
    return None if r.status_code == 404 else r.json()


def cached_item(n, keys, sku):
    r = n.get("/v1/sellers/s1/inventory/" + sku,
              token=tok(keys, scope="inventory:read"))
    assert r.headers.get("Cache-Status") == "microshop; hit", r.headers
    return r.json()


# (versions in order, what each gets); the stock and the cached item are
# those of the last one accepted
VERSIONS = {
    "zero-twice": ([0, 0], ["accepted", "stale"]),
    "zero-three-times": ([0, 0, 0], ["accepted", "stale", "stale"]),
    "zero-then-one": ([0, 0, 1, 1, 0],
                      ["accepted", "stale", "accepted", "stale", "stale"]),
    "one-then-zero": ([1, 0, 1], ["accepted", "stale", "stale"]),
    "big-then-smaller": ([2 ** 62, 2 ** 62 - 1, 0],
                         ["accepted", "stale", "stale"]),
}


@pytest.mark.parametrize("case", sorted(VERSIONS))
@pytest.mark.parametrize("stock_first", [False, True],
                         ids=["events-only", "after-admin-put"])
def test_version_not_newer_is_stale(gw, keys, backend, case, stock_first):
    sku = "V-" + uuid.uuid4().hex[:12]
    if stock_first:
        # a stock set by hand is not an event: the first one still applies
        r = gw.request("PUT", "/admin/stock/s1/" + sku,
                       token=admin_token(keys), json={"available": 99})
        assert r.status_code == 204
    versions, want = VERSIONS[case]
    got, last = [], None
    for i, v in enumerate(versions):
        doc = event(sku, v, available=10 + i, item={"sku": sku, "n": i})
        got.append(post_event(gw, doc))
        if got[-1] == "accepted":
            last = i
    assert got == want
    assert stock(gw, keys, sku) == {"available": 10 + last, "held": 0}
    backend.reset()
    assert cached_item(gw, keys, sku) == {"sku": sku, "n": last}
    assert backend.count("GET /v1/sellers/s1/inventory/" + sku) == 0


# ------------------------------------------------------ (d) policy report

def thumbprint(pub):
    """RFC 7638 SHA-256 thumbprint of a public key (cryptography object)."""
    nums = pub.public_numbers()
    if isinstance(pub, rsa.RSAPublicKey):
        def uint(n):
            return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))
        jwk = {"e": uint(nums.e), "kty": "RSA", "n": uint(nums.n)}
    else:
        size = (pub.curve.key_size + 7) // 8
        jwk = {"crv": {256: "P-256", 384: "P-384", 521: "P-521"}[
                   pub.curve.key_size],
               "kty": "EC", "x": b64url(nums.x.to_bytes(size, "big")),
               "y": b64url(nums.y.to_bytes(size, "big"))}
    doc = json.dumps(jwk, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(doc.encode()).digest())


def pem_public(path):
    with open(path, "rb") as f:
        return serialization.load_pem_public_key(f.read())


def test_rfc7638_example():
    """The helper above against RFC 7638 3.1."""
    n = int.from_bytes(base64.urlsafe_b64decode(
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1R"
        "K7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9"
        "yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZg"
        "nYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6We"
        "Zu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDK"
        "gw=="), "big")
    pub = rsa.RSAPublicNumbers(65537, n).public_key()
    assert thumbprint(pub) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_policy_shows_kid_and_thumbprint_not_paths(gw, keys):
    r = gw.get("/policy")
    assert r.status_code == 200
    body = r.content
    doc = r.json()

    by_kid = {k["kid"]: k for k in doc["keys"]}
    assert set(by_kid) == {"k1", "rsa-pem", "hs-file", "rsa-jwks", "ec-jwks",
                           "oct-jwks"}
    expect = {
        "k1": ("ES256", "EC", thumbprint(pem_public(keys.ec256_public_pem))),
        "rsa-pem": ("RS256", "RSA",
                    thumbprint(pem_public(keys.rsa_public_pem))),
        # the same keys from the JWKS: the same thumbprints
        "rsa-jwks": ("RS256", "RSA",
                     thumbprint(keys.rsa_private.public_key())),
        "ec-jwks": ("ES256", "EC",
                    thumbprint(keys.ec256_private.public_key())),
        # secrets: no thumbprint at all
        "hs-file": ("HS256", "oct", None),
        "oct-jwks": ("HS256", "oct", None),
    }
    assert {kid: (k["alg"], k["type"], k["thumbprint"])
            for kid, k in by_kid.items()} == expect
    assert by_kid["rsa-pem"]["thumbprint"] == by_kid["rsa-jwks"]["thumbprint"]
    assert all(set(k) == {"kid", "alg", "type", "bits", "thumbprint",
                          "ecdsa_s"}
               for k in doc["keys"])
    assert {kid: k["ecdsa_s"] for kid, k in by_kid.items()} == {
        "k1": "low", "ec-jwks": "low", "rsa-pem": None, "rsa-jwks": None,
        "hs-file": None, "oct-jwks": None}
    assert doc["jwks"] == 1

    events = [loc["events"] for s in doc["servers"] for loc in s["locations"]
              if loc["location"] == "/events"]
    assert events == [{"tolerance": 300}]

    # no path of a key, JWKS or secret file, not even its name
    for path in (keys.ec256_public_pem, keys.rsa_public_pem, keys.hs256_file,
                 keys.jwks_file, gw.secret_path):
        for form in (path, os.path.basename(path), os.path.dirname(path)):
            assert form.encode() not in body, form
            assert form.encode() not in json.dumps(doc).encode(), form

    # nothing that lets one test a guess of a secret offline: no hash of
    # a secret, nor its JWK thumbprint, in any encoding
    for secret in (keys.hs256_secret, keys.jwks_oct_secret, SECRET):
        oct_jwk = json.dumps({"k": b64url(secret), "kty": "oct"},
                             separators=(",", ":")).encode()
        for digest in (hashlib.sha256(secret).digest(),
                       hashlib.sha256(oct_jwk).digest(), secret):
            for form in (digest.hex().encode(),
                         base64.b64encode(digest).rstrip(b"="),
                         b64url(digest).encode()):
                assert form not in body
