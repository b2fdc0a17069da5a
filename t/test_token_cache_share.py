"""The token cache's share (issue 14, the cold token path): a flood of new
tokens in a small zone.

docs/operations.md "The token cache's share", docs/directives.md
"microshop_zone" (token_cache=).  Every instance has a 256k zone of its
own with token_cache=10%, configured as in t/test_zone_tenancy.py:

  - thousands of distinct new tokens evict only tokens, within their
    share: stored idempotency answers still replay, webhook event ids are
    still duplicates, inventory entries still hit, an exhausted bucket is
    still refused; the oldest tokens are verified again, the newest are
    cached;
  - the inventory cache never takes the tokens' share: a flood of SKUs
    evicts inventory entries, not tokens;
  - rate-limit state that needs the room takes it from the tokens.
"""

import base64
import hashlib
import hmac
import json
import time
import uuid

import test_zone_tenancy as tenancy
from microshop import problem
from test_zone_tenancy import (event, idem_post, metrics, pipeline,
                               post_event, tok)

B = "drop1"          # a seller the reference backend takes writes for
INV = "inv1"         # a seller of its own bucket for the inventory reads


def start(nginx, keys, backend):
    return tenancy.start(nginx, keys, backend, size="256k",
                         zone_params="token_cache=10%")


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def hs256_tokens(keys, count):
    """count distinct valid HS256 tokens, signed here (PyJWT is slower)."""
    head = b64(b'{"alg":"HS256","typ":"JWT","kid":"hs"}')
    now = int(time.time())
    out = []
    for i in range(count):
        body = b64(json.dumps({"sub": "flood-%d" % i, "seller": "s1",
                               "scope": "inventory:read", "iat": now,
                               "exp": now + 600,
                               "jti": uuid.uuid4().hex}).encode())
        signed = head + b"." + body
        sig = hmac.new(keys.hs256_secret, signed, hashlib.sha256).digest()
        out.append((signed + b"." + b64(sig)).decode())
    return out


def flood(n, tokens):
    """Each token once, through the protected static location."""
    reqs = [("GET /static/a.txt HTTP/1.1\r\nHost: x\r\n"
             "Authorization: Bearer %s\r\n\r\n" % t).encode() for t in tokens]
    assert {a[0] for a in pipeline(n, reqs, per_batch=500)} == {200}


def static_get(n, token):
    r = n.get("/static/a.txt", token=token)
    assert r.status_code == 200, r.text


def token_gauges_hold(m):
    assert m["microshop_token_cache_bound_bytes"] > 0
    assert m["microshop_token_cache_bytes"] \
        == m['microshop_zone_bytes{kind="token"}']
    assert m["microshop_token_cache_bytes"] \
        <= m["microshop_token_cache_bound_bytes"]


def test_a_token_flood_evicts_only_tokens(nginx, keys, backend, clean):
    n = start(nginx, keys, backend)
    m = metrics(n)
    room = m["microshop_zone_room_bytes"]
    assert m["microshop_token_cache_bound_bytes"] == room // 100 * 10

    # (a) what the flood must not push out
    tb = tok(keys, B)
    for i in range(20):
        r = idem_post(n, tb, B, "keep-%d" % i)
        assert r.status_code == 201, r.text
    posts = backend.count("POST /v1/sellers/%s/fulfilments" % B)
    assert posts == 20

    fast = tok(keys, INV, tier="fast")
    for i in range(40):
        r = n.get("/v1/sellers/%s/inventory/K%d" % (INV, i), token=fast)
        assert r.status_code == 200, r.text

    first = event(B, "EV1", version=1, available=5)
    assert post_event(n, first).json() == {"status": "accepted"}

    slow = tok(keys, "sx", tier="slow")
    codes = [n.get("/v1/sellers/sx/inventory/Z1", token=slow).status_code
             for _ in range(3)]
    assert codes == [200, 200, 429]

    before = metrics(n)

    # (b) thousands of tokens the gateway has never seen
    tokens = hs256_tokens(keys, 3000)
    flood(n, tokens)

    m = metrics(n)
    token_gauges_hold(m)
    verified = m["microshop_token_verifications_total"] \
        - before["microshop_token_verifications_total"]
    assert verified == 3000
    cached = m['microshop_zone_records{kind="token"}']
    assert 20 < cached < 1000
    # every token past the share evicted one, and nothing else went
    assert m["microshop_token_cache_evictions_total"] \
        - before["microshop_token_cache_evictions_total"] > 3000 - cached - 10
    assert m["microshop_zone_evictions_total"] \
        == before["microshop_zone_evictions_total"] == 0
    assert m["microshop_zone_full_total"] == 0
    for kind in ("rate", "inventory", "event", "idempotency", "stock"):
        line = 'microshop_zone_records{kind="%s"}' % kind
        assert m[line] == before[line], kind

    # (c) the stored answers replay: the backend saw each POST once
    for i in range(20):
        r = idem_post(n, tb, B, "keep-%d" % i)
        assert r.status_code == 201, r.text
        assert r.headers["Idempotent-Replayed"] == "true"
    assert backend.count("POST /v1/sellers/%s/fulfilments" % B) == posts

    # the event id is still known: a duplicate, its stock unchanged
    again = dict(first, version=9, available=50)
    assert post_event(n, again).json() == {"status": "duplicate"}

    # the inventory entries are still there: hits, no miss
    hits = 'microshop_inventory_cache_total{result="hit"}'
    misses = 'microshop_inventory_cache_total{result="miss"}'
    m0 = metrics(n)
    for i in range(40):
        r = n.get("/v1/sellers/%s/inventory/K%d" % (INV, i), token=fast)
        assert r.status_code == 200, r.text
    m1 = metrics(n)
    assert m1[hits] - m0[hits] == 40
    assert m1[misses] == m0[misses]

    # the exhausted bucket is still refused
    r = n.get("/v1/sellers/sx/inventory/Z1", token=slow)
    assert r.status_code == 429
    problem(r, "rate-limited")

    # the newest tokens are cached, the oldest are verified again
    m0 = metrics(n)
    static_get(n, tokens[-1])
    m1 = metrics(n)
    assert m1["microshop_token_cache_hits_total"] \
        - m0["microshop_token_cache_hits_total"] == 1
    assert m1["microshop_token_verifications_total"] \
        == m0["microshop_token_verifications_total"]
    static_get(n, tokens[0])
    m2 = metrics(n)
    assert m2["microshop_token_verifications_total"] \
        - m1["microshop_token_verifications_total"] == 1
    token_gauges_hold(m2)


def test_the_inventory_cache_never_takes_the_tokens_share(nginx, keys,
                                                         backend):
    n = start(nginx, keys, backend)
    fast = tok(keys, B, tier="fast")
    r = n.get("/v1/sellers/%s/inventory/X0" % B, token=fast)
    assert r.status_code == 200
    flood(n, hs256_tokens(keys, 1000))
    before = metrics(n)
    tokens = before['microshop_zone_records{kind="token"}']
    assert before["microshop_token_cache_bytes"] \
        > before["microshop_token_cache_bound_bytes"] - 1024

    # thousands of SKUs: the inventory cache fills its room many times
    reqs = [("GET /v1/sellers/%s/inventory/SKU-%d HTTP/1.1\r\nHost: x\r\n"
             "Authorization: Bearer %s\r\n\r\n" % (B, i, fast)).encode()
            for i in range(4000)]
    assert {a[0] for a in pipeline(n, reqs)} == {200}

    m = metrics(n)
    assert m["microshop_zone_evictions_total"] > 1000
    assert m["microshop_zone_full_total"] == 0
    # the tokens stayed (the flood's own token may have taken one's place)
    assert m['microshop_zone_records{kind="token"}'] == tokens
    assert m["microshop_token_cache_evictions_total"] \
        - before["microshop_token_cache_evictions_total"] <= 1
    token_gauges_hold(m)
    # and the inventory cache kept out of the tokens' share
    assert m['microshop_zone_bytes{kind="inventory"}'] \
        + m['microshop_zone_bytes{kind="rate"}'] \
        <= m["microshop_zone_room_bytes"] - m["microshop_zone_reserve_bytes"] \
        - m["microshop_token_cache_bound_bytes"]


def test_rate_limit_state_takes_room_from_the_tokens(nginx, keys, backend):
    """Tokens are the cheapest to rebuild: live rate-limit state that needs
    the room evicts them, and once the zone is full a new token is simply
    not cached (its request still passes)."""
    n = start(nginx, keys, backend)
    flood(n, hs256_tokens(keys, 1000))
    before = metrics(n)
    assert before['microshop_zone_records{kind="token"}'] > 20

    reqs = [b"GET /by-key/a.txt HTTP/1.1\r\nHost: x\r\nX-Key: f%d\r\n\r\n" % i
            for i in range(6000)]
    codes = [a[0] for a in pipeline(n, reqs, per_batch=500)]
    assert 503 in codes

    m = metrics(n)
    assert m['microshop_zone_records{kind="token"}'] == 0
    assert m["microshop_zone_evictions_total"] \
        >= before['microshop_zone_records{kind="token"}']
    # the rate state holds room that was the tokens'
    assert m['microshop_zone_bytes{kind="rate"}'] \
        > m["microshop_zone_room_bytes"] - m["microshop_zone_reserve_bytes"] \
        - m["microshop_token_cache_bound_bytes"]

    # a new token is verified, not cached, and its request passes
    t = hs256_tokens(keys, 1)[0]
    static_get(n, t)
    static_get(n, t)
    m2 = metrics(n)
    assert m2["microshop_token_verifications_total"] \
        - m["microshop_token_verifications_total"] == 2
    assert m2['microshop_zone_records{kind="token"}'] == 0
