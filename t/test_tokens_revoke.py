"""Revocation of minted tokens and bulk revocation (docs/tokens.md
"Revocation", docs/http.md "Revocation"): a revoked jti refuses every
token whose jti or parent_jti it is; a watermark of a seller (and of one
of its token classes, or of all) refuses every token of it issued before
a time, and one without an iat; GET <admin>/revocations lists what is in
force; with Redis every node refuses within a second, and a node that
starts later loads the watermarks.

Tokens are minted here with PyJWT, carrying parent_jti, iat, token_class
and seller as the gateway's own tokens do.  Two gateways: gw declares no
token class (tokens need no iat there, watermarks are kept for ever),
classy declares staff (15m), integration (30d) and default (1h)."""

import time
import uuid

import pytest

import redisnodes
from microshop import SLOW, RedisServer, admin, mint, problem, wait_for
from redisnodes import metric, wait_redis_up

CLASSES = """
microshop_token_class staff       max_ttl=15m;
microshop_token_class integration max_ttl=30d;
microshop_token_class default     max_ttl=1h;
"""

CONF = """
microshop_zone name=rv size=8m;
microshop_jwt_key %(ec_pub)s kid=k1;
%(classes)s
%(redis)s

server {
    listen 127.0.0.1:%(port)d;

    location = /status { microshop_status; }

    location /admin/ { microshop_admin; }

    location /auth/ {
        microshop_auth on;
        alias %(prefix)s/html/;
    }

    location /api/ {
        microshop_auth on;
        proxy_pass http://127.0.0.1:%(backend)d/v1/;
    }
}
"""

REVOKED = "token revoked"
DEFAULT_LEEWAY = 30
MARGIN = 3600


def render(keys, backend, classes="", redis=""):
    def render(n):
        n.write_file("html/a.txt", "a\n")
        return CONF % {"port": n.port, "prefix": n.prefix,
                       "backend": backend.port, "classes": classes,
                       "redis": redis, "ec_pub": keys.ec256_public_pem}
    return render


@pytest.fixture(scope="module")
def gw(nginx, keys, backend):
    """No token class declared."""
    n = nginx.new()
    n.start(render(keys, backend)(n), workers=2)
    return n


@pytest.fixture(scope="module")
def classy(nginx, keys, backend):
    """staff, integration and default declared."""
    n = nginx.new()
    n.start(render(keys, backend, CLASSES)(n), workers=2)
    return n


def uid(prefix):
    return prefix + uuid.uuid4().hex[:10]


def tok(keys, seller, **claims):
    return mint(keys, kid="k1", seller=seller, **claims)


def passes(n, token, path="/auth/a.txt"):
    r = n.get(path, token=token)
    assert r.status_code == 200, (r.status_code, r.text[:300])
    return r


def refused(n, token, path="/auth/a.txt"):
    r = n.get(path, token=token)
    assert r.status_code == 401, (r.status_code, r.text[:300])
    doc = problem(r, "invalid-token")
    assert doc["detail"] == REVOKED, doc
    assert 'error_description="token revoked"' in \
        r.headers["WWW-Authenticate"]
    return r


def revoke(n, keys, body, status=204):
    r = n.post("/admin/revocations", token=admin(keys), json=body)
    assert r.status_code == status, (body, r.status_code, r.text)
    return r


def listing(n, keys, query=""):
    r = n.get("/admin/revocations" + query, token=admin(keys))
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["Cache-Control"] == "no-store"
    return r.json()


def watermark_of(doc, seller, cls=None):
    found = [w for w in doc["watermarks"]
             if w["seller"] == seller and w["class"] == cls]
    assert len(found) <= 1, doc
    return found[0] if found else None


def twice(n, token, check):
    """Both workers (whichever answers): a few requests."""
    for _ in range(4):
        check(n, token)


# ------------------------------------------------------------ cascade

def test_a_revoked_parent_refuses_every_token_minted_from_it(gw, keys,
                                                              backend):
    seller = uid("cas-")
    parent = uid("par-")
    cached = tok(keys, seller, jti=uid("ch-"), parent_jti=parent)
    unknown = tok(keys, seller, jti=uid("ch-"), parent_jti=parent)
    nojti = tok(keys, seller, jti=None, parent_jti=parent)
    other = tok(keys, seller, jti=uid("ch-"), parent_jti=uid("par-"))
    parent_token = tok(keys, seller, jti=parent)
    for t in (cached, other, parent_token):
        twice(gw, t, passes)         # verified and cached on both workers

    revoke(gw, keys, {"jti": parent, "exp": int(time.time()) + 600})

    # the child that was cached, one never seen (its own jti unknown),
    # one without a jti of its own, and the parent itself
    for t in (cached, unknown, nojti, parent_token):
        twice(gw, t, refused)
    # a child of another parent is not touched
    twice(gw, other, passes)
    # through proxy_pass too: the backend never sees a refused one
    backend.reset()
    refused(gw, unknown, "/api/rv-cascade")
    assert backend.count("GET /v1/rv-cascade") == 0
    r = gw.get("/api/rv-cascade", token=other)
    assert r.status_code != 401 and backend.count("GET /v1/rv-cascade") == 1


# ------------------------------------------------------------ watermarks

def test_a_watermark_by_class_and_time(classy, keys):
    now = int(time.time())
    seller = uid("wm-")
    old = tok(keys, seller, token_class="staff", iat=now - 100)
    new = tok(keys, seller, token_class="staff", iat=now)
    integration = tok(keys, seller, token_class="integration",
                      iat=now - 100)
    elsewhere = tok(keys, uid("wm-"), token_class="staff", iat=now - 100)
    for t in (old, new, integration, elsewhere):
        twice(classy, t, passes)

    revoke(classy, keys, {"seller": seller, "class": "staff",
                          "issued_before": now - 50})

    twice(classy, old, refused)            # cached, issued before
    twice(classy, new, passes)             # issued after
    twice(classy, integration, passes)     # another class
    twice(classy, elsewhere, passes)       # another seller
    # a staff token issued at the very second is not before it
    passes(classy, tok(keys, seller, token_class="staff", iat=now - 50))
    refused(classy, tok(keys, seller, token_class="staff", iat=now - 51))

    assert metric(classy, 'microshop_requests_total{decision="deny",'
                          'reason="revoked"}') >= 5


@pytest.mark.parametrize("cls", ["omitted", "null"])
def test_a_watermark_without_class_covers_every_class(classy, keys, cls):
    now = int(time.time())
    seller = uid("all-")
    tokens = [tok(keys, seller, token_class=c, iat=now - 100)
              for c in ("staff", "integration", None)]   # None: default
    fresh = [tok(keys, seller, token_class=c, iat=now)
             for c in ("staff", "integration", None)]
    for t in tokens + fresh:
        passes(classy, t)

    body = {"seller": seller, "issued_before": now - 10}
    if cls == "null":
        body["class"] = None
    revoke(classy, keys, body)

    for t in tokens:
        twice(classy, t, refused)
    for t in fresh:
        twice(classy, t, passes)


def test_a_token_without_iat_is_refused_while_a_watermark_is_in_force(
        gw, keys):
    seller = uid("noiat-")
    no_iat = tok(keys, seller, iat=None)
    other = tok(keys, uid("noiat-"), iat=None)
    twice(gw, no_iat, passes)

    revoke(gw, keys, {"seller": seller, "issued_before": 1})

    # it cannot show it is newer than the watermark
    twice(gw, no_iat, refused)
    # ... a token with an iat can, and another seller's has no watermark
    passes(gw, tok(keys, seller, iat=int(time.time())))
    twice(gw, other, passes)


def test_a_watermark_moves_forward_never_back(gw, keys):
    now = int(time.time())
    seller = uid("fwd-")
    t100 = tok(keys, seller, token_class="staff", iat=now - 100)
    t10 = tok(keys, seller, token_class="staff", iat=now - 10)

    revoke(gw, keys, {"seller": seller, "class": "staff",
                      "issued_before": now - 50})
    refused(gw, t100)
    passes(gw, t10)

    # back: ignored, the 204 says it is in force (the later one is)
    revoke(gw, keys, {"seller": seller, "class": "staff",
                      "issued_before": now - 200})
    twice(gw, t100, refused)
    assert watermark_of(listing(gw, keys), seller, "staff")[
        "issued_before"] == now - 50

    # forward
    revoke(gw, keys, {"seller": seller, "class": "staff",
                      "issued_before": now - 5})
    twice(gw, t10, refused)
    assert watermark_of(listing(gw, keys), seller, "staff")[
        "issued_before"] == now - 5


def test_revocations_survive_a_reload(gw, keys):
    now = int(time.time())
    seller = uid("rl-")
    jti = uid("rl-")
    wm = tok(keys, seller, iat=now - 100)
    by_jti = tok(keys, uid("rl-"), jti=jti)
    revoke(gw, keys, {"seller": seller, "issued_before": now - 50})
    revoke(gw, keys, {"jti": jti, "exp": now + 600})
    refused(gw, wm)

    gw.reload()

    for t in (wm, by_jti):
        twice(gw, t, refused)
    passes(gw, tok(keys, seller, iat=now))


# ------------------------------------------------------------ listing

def test_get_lists_jtis_and_watermarks(gw, classy, keys):
    now = int(time.time())
    jti = uid("ls-")
    seller = uid("ls-")
    revoke(classy, keys, {"jti": jti, "exp": now + 600.7})
    revoke(classy, keys, {"seller": seller, "class": "staff",
                          "issued_before": now})
    revoke(classy, keys, {"seller": seller, "issued_before": now - 60})

    doc = listing(classy, keys)
    assert set(doc) == {"jtis", "watermarks", "truncated"}, doc
    assert doc["truncated"] is False
    assert {"jti": jti, "exp": now + 600} in doc["jtis"], doc
    # kept until no token it covers can be valid: issued_before + the
    # class's max_ttl (or the longest one) + the leeway + the margin
    assert watermark_of(doc, seller, "staff") == {
        "seller": seller, "class": "staff", "issued_before": now,
        "until": now + 15 * 60 + DEFAULT_LEEWAY + MARGIN}, doc
    assert watermark_of(doc, seller) == {
        "seller": seller, "class": None, "issued_before": now - 60,
        "until": now - 60 + 30 * 86400 + DEFAULT_LEEWAY + MARGIN}, doc
    # never a token
    assert "eyJ" not in doc.__repr__()

    # no class declared: a token may live for ever, so may the watermark
    other = uid("ls-")
    revoke(gw, keys, {"seller": other, "class": "x", "issued_before": now})
    assert watermark_of(listing(gw, keys), other, "x")["until"] is None

    # bounded
    short = listing(classy, keys, "?limit=1")
    assert short["truncated"] is True, short
    assert len(short["jtis"]) <= 1 and len(short["watermarks"]) == 1

    head = classy.request("HEAD", "/admin/revocations", token=admin(keys))
    assert head.status_code == 200 and head.content == b""

    for bad in ("0", "1001", "x"):
        r = classy.get("/admin/revocations?limit=" + bad, token=admin(keys))
        assert r.status_code == 400, r.text
        problem(r, "invalid-request")


def test_the_gauge_counts_revocations_by_kind(gw, keys):
    before = metric(gw, 'microshop_revocations{kind="watermark"}')
    jtis = metric(gw, 'microshop_revocations{kind="jti"}')
    revoke(gw, keys, {"seller": uid("g-"), "issued_before": 5})
    revoke(gw, keys, {"jti": uid("g-"), "exp": int(time.time()) + 60})
    assert metric(gw, 'microshop_revocations{kind="watermark"}') \
        == before + 1
    assert metric(gw, 'microshop_revocations{kind="jti"}') == jtis + 1
    assert metric(gw, 'microshop_zone_records{kind="watermark"}') >= 1


# ------------------------------------------------------------ bad bodies

BAD = [
    (b'{"jti":"a","exp":1700000000,"seller":"s1"}', "not both"),
    (b'{"seller":"s1","issued_before":1,"exp":5}', "not both"),
    (b'{"seller":"s1","issued_before":1,"reason":"leak"}',
     'Unknown member "reason"'),
    (b'{"jti":"a","exp":1,"iat":1}', 'Unknown member "iat"'),
    (b'{"class":"staff","issued_before":1}', '"seller" is missing'),
    (b'{"seller":5,"issued_before":1}', '"seller" must be'),
    (b'{"seller":"","issued_before":1}', '"seller" must be'),
    (b'{"seller":"s\\nx","issued_before":1}', '"seller" must be'),
    (b'{"seller":"s1","class":5,"issued_before":1}', '"class" must be'),
    (b'{"seller":"s1","class":"","issued_before":1}', '"class" must be'),
    (b'{"seller":"s1"}', '"issued_before" must be'),
    (b'{"seller":"s1","issued_before":"1"}', '"issued_before" must be'),
    (b'{"seller":"s1","issued_before":0}', "253402300799"),
    (b'{"seller":"s1","issued_before":-1}', '"issued_before" must be'),
    (b'{"seller":"s1","issued_before":253402300800}',
     '"issued_before" must be'),
    (b'{"seller":"s1","issued_before":null}', '"issued_before" must be'),
    (b'{"seller":"s1","seller":"s2","issued_before":1}', "no member twice"),
    (b'{}', "nothing to revoke"),
    (b'[]', "one JSON object"),
    (b'not json', "one JSON object"),
]


@pytest.mark.parametrize("body,words", BAD,
                         ids=[str(i) for i in range(len(BAD))])
def test_a_bad_body_is_400_naming_what_is_wrong(gw, keys, body, words):
    seller = "s1"
    t = tok(keys, seller, iat=int(time.time()) - 100)
    before = listing(gw, keys)["watermarks"]
    r = gw.request("POST", "/admin/revocations", token=admin(keys),
                   data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, (body, r.status_code, r.text)
    doc = problem(r, "invalid-request")
    assert words in doc["detail"], doc
    # nothing was revoked
    assert listing(gw, keys)["watermarks"] == before
    passes(gw, t)


def test_a_class_no_token_can_carry_is_400(classy, keys):
    seller = uid("uc-")
    r = classy.post("/admin/revocations", token=admin(keys),
                    json={"seller": seller, "class": "nope",
                          "issued_before": 100})
    assert r.status_code == 400, r.text
    assert "not a declared token class" in problem(r, "invalid-request")[
        "detail"]
    assert watermark_of(listing(classy, keys), seller, "nope") is None


def test_revocations_need_the_admin_scope(gw, keys):
    seller = uid("scope-")
    t = tok(keys, seller, iat=int(time.time()) - 100)
    user = tok(keys, seller, scope="inventory:read inventory:write")
    for method, body in (("POST", {"seller": seller, "issued_before": 1e9}),
                         ("GET", None)):
        r = gw.request(method, "/admin/revocations", token=user, json=body)
        assert r.status_code == 403, r.text
        problem(r, "insufficient-scope")
        r = gw.request(method, "/admin/revocations", json=body)
        assert r.status_code == 401, r.text
        problem(r, "invalid-token")
    passes(gw, t)
    assert watermark_of(listing(gw, keys), seller) is None


# ------------------------------------------------------------ with Redis

@pytest.fixture(scope="module")
def rrender(keys, backend, module_redis):
    return render(keys, backend, CLASSES,
                  redisnodes.directive(module_redis.url))


@pytest.fixture(scope="module")
def rnodes(nginx, rrender):
    """Nodes A and B on one Redis, two workers each."""
    return redisnodes.start_nodes(nginx, 2, rrender, workers=2)


@redisnodes.skip_under_deferred()
def test_redis_a_watermark_reaches_the_other_node_within_a_second(
        rnodes, keys, module_redis):
    a, b = rnodes
    now = int(time.time())
    seller = uid("rw-")
    old = tok(keys, seller, token_class="staff", iat=now - 100)
    new = tok(keys, seller, token_class="staff", iat=now)
    for n in (a, b, a, b):
        passes(n, old)              # cached on both nodes

    revoke(a, keys, {"seller": seller, "class": "staff",
                     "issued_before": now - 50})
    start = time.monotonic()
    wait_for(lambda: b.get("/auth/a.txt", token=old).status_code == 401,
             timeout=1.0, interval=0.02, what="B to refuse the watermark")
    print("B refused after %.3f s" % (time.monotonic() - start))
    for n in (a, b, a, b):
        refused(n, old)
        passes(n, new)

    # Redis holds it: ms:watermarks, field seller "\n" class
    r = module_redis.client(decode_responses=True)
    assert r.hget("ms:watermarks", seller + "\nstaff") == "%d %d" % (
        now - 50, now - 50 + 15 * 60 + DEFAULT_LEEWAY + MARGIN)
    # B's list mirrors what Redis holds
    assert watermark_of(listing(b, keys), seller, "staff")[
        "issued_before"] == now - 50


@redisnodes.skip_under_deferred()
def test_redis_a_revoked_parent_is_refused_on_the_other_node(rnodes, keys):
    a, b = rnodes
    seller = uid("rp-")
    parent = uid("par-")
    child = tok(keys, seller, token_class="staff", parent_jti=parent)
    passes(b, child)
    revoke(a, keys, {"jti": parent, "exp": int(time.time()) + 600})
    wait_for(lambda: b.get("/auth/a.txt", token=child).status_code == 401,
             timeout=1.0, interval=0.02, what="B to refuse the child")
    refused(b, child)


@redisnodes.skip_under_deferred()
def test_redis_a_node_started_later_loads_the_watermarks(rnodes, keys,
                                                         nginx, rrender):
    a, _ = rnodes
    now = int(time.time())
    seller = uid("rl-")
    old = tok(keys, seller, token_class="integration", iat=now - 100)
    revoke(a, keys, {"seller": seller, "issued_before": now - 50})

    c = nginx.new()
    c.start(rrender(c), workers=1)
    try:
        wait_redis_up(c)
        wait_for(lambda: metric(c, "microshop_redis_revocations_loaded")
                 == 1, timeout=3 * SLOW, what="C to load the revocations")
        twice(c, old, refused)
        passes(c, tok(keys, seller, token_class="integration", iat=now))
        assert watermark_of(listing(c, keys), seller)["issued_before"] \
            == now - 50
    finally:
        c.stop()


@redisnodes.skip_under_deferred()
def test_redis_a_revocation_redis_refused_is_not_logged_as_made(
        nginx, keys, backend, tmp_path_factory):
    """Redis away: POST <admin>/revocations answers 503 store-unavailable,
    and the error log's notice "... revoked" (written once a revocation is
    in force) is not there; once Redis is back, it is."""
    server = RedisServer(str(tmp_path_factory.mktemp("rv-down")
                                       / "redis.log"))
    n = nginx.new()
    try:
        n.start(render(keys, backend, CLASSES,
                       redisnodes.directive(server.url))(n), workers=1)
        wait_redis_up(n)
        seller = uid("down-")
        server.stop()
        redisnodes.wait_redis_down(n)
        offset = len(n.error_log())
        r = revoke(n, keys, {"seller": seller, "issued_before":
                             int(time.time())}, status=503)
        problem(r, "store-unavailable")
        r = revoke(n, keys, {"jti": uid("j-"), "exp": int(time.time()) + 60},
                   status=503)
        assert " revoked" not in n.error_log(offset), n.error_log(offset)

        server.start()
        wait_redis_up(n)
        revoke(n, keys, {"seller": seller, "class": "staff",
                         "issued_before": 1767225600})
        wait_for(lambda: ('tokens of seller "%s", class "staff", issued '
                          'before 1767225600 revoked' % seller)
                 in n.error_log(offset), what="the notice")
    finally:
        n.stop()
        server.stop()
