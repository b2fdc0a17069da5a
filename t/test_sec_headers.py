"""Every value the gateway writes into a header, towards the upstream or the
client, is a field value as it is (issue 10, items 2 and 6).

docs/http.md "Identity towards the upstream" and "Problem answers".  The
attacks come as tables, several spellings each:

- control characters in the seller of the path (a decoded %0a is a raw LF
  in $seller) never reach the upstream, nor a store key;
- forwarded claims with white space at their ends are refused, inner
  spaces and UTF-8 reach the upstream byte for byte;
- rate tier names with '"', ';', ',' and '\\' are sf-strings in the
  RateLimit headers, a tier claim never breaks them, and nginx -t refuses
  names that cannot be one;
- an upstream's header with a control character is never replayed from
  an idempotency record, nor served from the inventory cache;
- client headers that a backend reads as X-Microshop-* (X-Microshop_Seller
  under underscores_in_headers on, odd bytes under ignore_invalid_headers
  off) never reach it.

The upstream here is a raw socket server (RawUpstream) that records the
exact bytes nginx sent and answers with exact bytes, including header
values nginx's own parser lets through (it refuses only CR, LF and NUL).
Every answer the client gets is read from the raw bytes and checked for
well-formed header lines.
"""

import json
import re
import socketserver
import threading
import time
import uuid

import pytest

from microshop import free_port, mint, raw_http

IDENTITY = ("x-microshop-seller", "x-microshop-subject", "x-microshop-scopes")

# token = 1*tchar (RFC 9110 5.6.2); field value = VCHAR / obs-text, with SP
# or HTAB only inside
HEADER_LINE = re.compile(rb"^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ ]?"
                         rb"((?:[\x21-\x7e\x80-\xff](?:[ \t]*"
                         rb"[\x21-\x7e\x80-\xff])*)?)$")


# ------------------------------------------------------------ raw upstream

class RawUpstream:
    """A raw HTTP/1.x upstream: records every request's bytes, answers each
    path from `answers` (bytes of a whole answer), else 200 {}."""

    def __init__(self):
        self.records = []
        self.answers = {}
        self.lock = threading.Lock()
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                outer._serve(self.request)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer(
            ("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def _serve(self, sock):
        sock.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
        length = int(m.group(1)) if m else 0
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        path = head.split(b" ", 2)[1].decode("latin-1")
        with self.lock:
            self.records.append({"path": path, "head": head, "body": body})
            answer = self.answers.get(path.split("?")[0])
        if answer is None:
            answer = answer_bytes(200, [], b"{}")
        sock.sendall(answer)

    def reset(self):
        with self.lock:
            self.records = []
            self.answers = {}

    def requests(self, path=None):
        with self.lock:
            return [r for r in self.records
                    if path is None or r["path"].startswith(path)]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def answer_bytes(status, headers, body):
    """The raw bytes of an answer; header values are bytes, as they are."""
    lines = [b"HTTP/1.1 %d X" % status,
             b"Content-Type: application/json",
             b"Content-Length: %d" % len(body),
             b"Connection: close"]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def request_headers(record):
    """(lower-case name, value) of the header lines the upstream got, each
    line checked to be a well-formed header line."""
    lines = record["head"].split(b"\r\n")[1:]
    out = []
    for line in lines:
        assert b"\n" not in line and b"\r" not in line, record["head"]
        m = HEADER_LINE.match(line)
        assert m, "a malformed line reached the upstream: %r" % line
        out.append((m.group(1).decode().lower(), m.group(2)))
    return out


# ------------------------------------------------------------ instances

CONF = """
microshop_zone name=shop size=8m;
microshop_jwt_key %(ec_pub)s kid=k1;

microshop_rate_tier default        rate=1000r/s burst=1000;
microshop_rate_tier "quo\\"te"      rate=1000r/s burst=1000;
microshop_rate_tier "semi;colon"   rate=1000r/s burst=1000;
microshop_rate_tier "com,ma"       rate=1000r/s burst=1000;
microshop_rate_tier "back\\\\slash" rate=1000r/s burst=1000;
microshop_rate_tier "sp ace=1"     rate=1000r/s burst=1000;

server {
    listen 127.0.0.1:%(port)d;
    underscores_in_headers on;

    location ~ ^/v1/sellers/(?<seller>[^/]*)/ {
        microshop_auth on;
        microshop_seller $seller;
        proxy_pass http://127.0.0.1:%(up)d;
    }

    location ~ ^/pub/sellers/(?<seller>[^/]*)/inventory/(?<sku>[^/]+)$ {
        microshop_seller $seller;
        microshop_inventory_cache sku=$sku ttl=60s;
        proxy_pass http://127.0.0.1:%(up)d;
    }

    location /id/ {
        microshop_auth on;
        proxy_set_header X-Var-Seller $microshop_seller;
        proxy_set_header X-Var-Subject $microshop_subject;
        proxy_pass http://127.0.0.1:%(up)d;
    }

    location /scoped/ {
        microshop_auth on;
        microshop_require_scope GET inventory:read;
        proxy_pass http://127.0.0.1:%(up)d;
    }

    location /rate/ {
        microshop_auth on;
        microshop_rate_limit on;
        proxy_pass http://127.0.0.1:%(up)d;
    }

    location /idem/ {
        microshop_auth on;
        microshop_idempotency on;
        proxy_pass http://127.0.0.1:%(up)d;
    }

    location ~ ^/cache/(?<sku>[^/]+)$ {
        microshop_auth on;
        microshop_inventory_cache sku=$sku ttl=60s;
        proxy_pass http://127.0.0.1:%(up)d;
    }

    location /open/ {
        proxy_pass http://127.0.0.1:%(up)d;
    }
}

server {
    listen 127.0.0.1:%(odd)d;
    ignore_invalid_headers off;

    location /id/ {
        microshop_auth on;
        proxy_pass http://127.0.0.1:%(up)d;
    }

    location /open/ {
        proxy_pass http://127.0.0.1:%(up)d;
    }
}

server {
    listen 127.0.0.1:%(plain)d;

    location /id/ {
        microshop_auth on;
        proxy_pass http://127.0.0.1:%(up)d;
    }
}
"""

NOT_WRITTEN = (r'microshop: the value of the "[^"]+" header holds a control '
               r'character or leading or trailing white space, not written')


class Port:
    """Another listen port of the same nginx, for raw_http."""

    def __init__(self, port):
        self.port = port


@pytest.fixture(scope="module")
def upstream():
    server = RawUpstream()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gw(nginx, keys, upstream):
    n = nginx.new()
    n.odd = Port(free_port())
    n.plain = Port(free_port())
    n.start(CONF % {"port": n.port, "up": upstream.port, "odd": n.odd.port,
                    "plain": n.plain.port, "ec_pub": keys.ec256_public_pem},
            workers=2)
    return n


@pytest.fixture
def up(upstream):
    upstream.reset()
    return upstream


def tok(keys, **claims):
    return mint(keys, kid="k1", **claims)


def request_bytes(method, path, headers, body):
    lines = [("%s %s HTTP/1.1" % (method, path)).encode(), b"Host: x"]
    lines += [h.encode() for h in headers]
    if body:
        lines.append(b"Content-Length: %d" % len(body))
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def send(n, method, path, headers=(), body=b""):
    """A raw request; returns (status, [(name, value bytes)], body), every
    header line of the answer checked to be well-formed."""
    return parse_answer(raw_http(n, request_bytes(method, path, headers,
                                                  body)))


def parse_answer(raw):
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, raw[:300]
    lines = head.split(b"\r\n")
    assert re.match(rb"^HTTP/1\.1 \d{3} ", lines[0] + b" "), lines[0]
    headers = []
    for line in lines[1:]:
        assert b"\n" not in line and b"\r" not in line, head
        m = HEADER_LINE.match(line)
        assert m, "a malformed header line reached the client: %r" % line
        headers.append((m.group(1).decode().lower(), m.group(2)))
    return int(lines[0].split(b" ")[1]), headers, body


def settled(n, method, path, headers=(), body=b"", until=None):
    """send() again until(answer) holds (at most 2 s): the "deferred" test
    store keeps a cache fill or an idempotency record a moment after the
    answer went out.  Answers before that are not checked: they are the
    upstream's, passed on by nginx."""
    data = request_bytes(method, path, headers, body)
    deadline = time.time() + 2
    while True:
        raw = raw_http(n, data)
        if until(raw) or time.time() > deadline:
            return parse_answer(raw)
        time.sleep(0.01)


def is_hit(raw):
    return b"\r\nCache-Status: microshop; hit\r\n" in raw


def is_replay(raw):
    return b"\r\nIdempotent-Replayed: true\r\n" in raw


def header(headers, name):
    values = [v for k, v in headers if k == name.lower()]
    assert len(values) <= 1, (name, values)
    return values[0].decode("latin-1") if values else None


def problem_name(body):
    return json.loads(body)["type"].rsplit(":", 1)[1]


def bearer(token):
    return "Authorization: Bearer " + token


# ------------------------------------------------------ seller in the path

SELLER_SPELLINGS = [
    ("lf", "s1%0a"),
    ("lf-inside", "s%0a1"),
    ("cr", "s1%0d"),
    ("crlf-header", "s1%0d%0aX-Microshop-Seller:%20s2"),
    ("lf-header", "s1%0aX-Microshop-Seller:%20s2"),
    ("tab", "s1%09"),
    ("del", "s1%7f"),
    ("esc", "s1%1b"),
    ("nul", "s1%00"),
    ("upper-hex", "s1%0A"),
]


@pytest.mark.parametrize("what,seller", SELLER_SPELLINGS,
                         ids=[s[0] for s in SELLER_SPELLINGS])
def test_control_in_route_seller_never_reaches_upstream(gw, up, keys, what,
                                                        seller):
    """A decoded %0a is a raw LF in $seller: it never matches a token's
    seller (which holds no control character), so the request stops at
    403 seller-mismatch; nginx itself refuses a %00 (400)."""
    status, headers, body = send(gw, "GET",
                                 "/v1/sellers/%s/inventory/A1" % seller,
                                 [bearer(tok(keys, seller="s1"))])
    if what == "nul":
        assert status == 400
    else:
        assert status == 403, body
        assert problem_name(body) == "seller-mismatch"
    assert up.requests() == []


@pytest.mark.parametrize("what,seller", SELLER_SPELLINGS[:-2],
                         ids=[s[0] for s in SELLER_SPELLINGS[:-2]])
def test_control_in_route_seller_is_no_seller_for_the_cache(gw, up, what,
                                                            seller):
    """Without a token the route seller keys the inventory cache: one with
    a control character is no seller at all (a LF would end it early in
    the key "seller\\nsku"), so nothing is cached and every read goes up;
    the same route with a clean seller is served from the cache."""
    sku = "K" + uuid.uuid4().hex[:8]
    path = "/pub/sellers/s1/inventory/" + sku
    assert send(gw, "GET", path)[0] == 200
    status, headers, _ = settled(gw, "GET", path, until=is_hit)
    assert status == 200
    assert header(headers, "Cache-Status") == "microshop; hit"

    path = "/pub/sellers/%s/inventory/%s" % (seller, sku)
    for _ in range(2):
        status, headers, _ = send(gw, "GET", path)
        assert status == 200
        assert header(headers, "Cache-Status") is None
    assert len(up.requests(path)) == 2


# ------------------------------------------------------------ identity claims

@pytest.mark.parametrize("claim,value", [
    ("seller", " s1"), ("seller", "s1 "), ("seller", " "),
    ("sub", " user-1"), ("sub", "user-1 "), ("sub", "  root  "),
])
def test_forwarded_claim_with_white_space_at_an_end_is_invalid(gw, up, keys,
                                                              claim, value):
    """A backend strips white space at the ends of a header value: " s1"
    would reach it as seller s1.  Such a token is invalid-token."""
    status, headers, body = send(gw, "GET", "/id/x",
                                 [bearer(tok(keys, **{claim: value}))])
    assert status == 401
    assert problem_name(body) == "invalid-token"
    assert header(headers, "WWW-Authenticate") == (
        'Bearer realm="microshop", error="invalid_token", '
        'error_description="a claim has leading or trailing white space"')
    assert up.requests() == []


@pytest.mark.parametrize("seller,sub", [
    ("s1", "user 1"),
    ("caf\u00e9", "\u7528\u6237"),
    ("a\"b", "x;y,z=\\w"),
])
def test_identity_reaches_upstream_byte_for_byte(gw, up, keys, seller, sub):
    """Inner spaces, quotes, backslashes and UTF-8 (obs-text) are field
    values: the identity headers and the $microshop_* variables carry them
    as they are, once each."""
    token = tok(keys, seller=seller, sub=sub, scope="inventory:read")
    status, _, _ = send(gw, "GET", "/id/x", [bearer(token)])
    assert status == 200
    (record,) = up.requests("/id/x")
    h = request_headers(record)
    got = {k: v for k, v in h}
    for name in IDENTITY + ("x-var-seller", "x-var-subject"):
        assert [k for k, _ in h].count(name) == 1, (name, h)
    assert got["x-microshop-seller"] == seller.encode()
    assert got["x-microshop-subject"] == sub.encode()
    assert got["x-microshop-scopes"] == b"inventory:read"
    assert got["x-var-seller"] == seller.encode()
    assert got["x-var-subject"] == sub.encode()


# ------------------------------------------------------------ WWW-Authenticate

QTEXT = r'[\x20\x21\x23-\x5b\x5d-\x7e]*'


@pytest.mark.parametrize("token_of", [
    lambda k: "not.a.token",
    lambda k: tok(k, exp=int(time.time()) - 3600, iat=int(time.time()) - 7200),
    lambda k: tok(k, sub="a\r\nX-Injected: 1"),
    lambda k: tok(k, seller="s1\t"),
    lambda k: tok(k, sub=" x"),
])
def test_www_authenticate_is_well_formed(gw, up, keys, token_of):
    """error_description holds only what RFC 6750 allows between its
    quotes: no '"', no '\\', no control character."""
    status, headers, _ = send(gw, "GET", "/id/x", [bearer(token_of(keys))])
    assert status == 401
    assert re.match(r'^Bearer realm="microshop", error="invalid_token", '
                    r'error_description="%s"$' % QTEXT,
                    header(headers, "WWW-Authenticate"))
    assert not [k for k, _ in headers if k == "x-injected"]
    assert up.requests() == []


def test_insufficient_scope_is_well_formed(gw, up, keys):
    status, headers, _ = send(gw, "GET", "/scoped/x",
                              [bearer(tok(keys, scope="orders:write"))])
    assert status == 403
    assert header(headers, "WWW-Authenticate") == (
        'Bearer realm="microshop", error="insufficient_scope", '
        'scope="inventory:read"')


# ------------------------------------------------------------ RateLimit

SF_ITEM = re.compile(r'^"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"'
                     r';(q|r)=(\d+);(w|t)=(\d+)$')


def sf_tier(value):
    """The tier name of a RateLimit(-Policy) value, an sf-string parsed as
    RFC 8941 3.3.3 says."""
    m = SF_ITEM.match(value)
    assert m, "not an sf-string item with two parameters: %r" % value
    return re.sub(r'\\(["\\])', r"\1", m.group(1))


@pytest.mark.parametrize("tier,shown", [
    ('quo"te', 'quo"te'),
    ("semi;colon", "semi;colon"),
    ("com,ma", "com,ma"),
    ("back\\slash", "back\\slash"),
    ("sp ace=1", "sp ace=1"),
    # claims that name no tier: the default one
    ('quo"', "default"), ("gold;q=1000", "default"), ("a,b", "default"),
    ("caf\u00e9", "default"), ("\u2603", "default"), ('"', "default"),
    ("default\\", "default"),
])
def test_ratelimit_tier_is_an_sf_string(gw, up, keys, tier, shown):
    """Tier names are written as sf-strings ('"' and '\\' escaped), so no
    name and no tier claim adds a member or a parameter to the field."""
    seller = "rl-" + uuid.uuid4().hex[:8]
    status, headers, _ = send(gw, "GET", "/rate/x",
                              [bearer(tok(keys, seller=seller, tier=tier))])
    assert status == 200
    policy = header(headers, "RateLimit-Policy")
    state = header(headers, "RateLimit")
    assert sf_tier(policy) == shown, policy
    assert sf_tier(state) == shown, state
    assert policy.endswith(";q=1000;w=1")


@pytest.mark.parametrize("name", [
    "caf\u00e9", "tab\\there", "new\\nline", "\u2603", "del\x7f",
])
def test_tier_name_that_is_no_sf_string_is_refused(gw, name):
    conf = ('microshop_rate_tier default rate=1r/s burst=1;\n'
            'microshop_rate_tier "%s" rate=1r/s burst=1;  # the tier\n'
            % name)
    rc, err, line = gw.test_config_at(conf, "# the tier")
    assert rc != 0, err
    assert "[emerg]" in err and "invalid rate tier name" in err, err
    assert re.search(r"nginx\.conf:%d\b" % line, err), err


# ------------------------------------------------------------ replays

REPLAY_BAD = [
    ("soh", b"/o/1\x01x"),
    ("esc", b"/o/1\x1b[31m"),
    ("del", b"/o/1\x7f"),
    ("us", b"\x1f/o/1"),
    ("leading-tab", b"\t/o/1"),
    ("trailing-tab", b"/o/1\t"),
]


@pytest.mark.parametrize("what,value", REPLAY_BAD,
                         ids=[b[0] for b in REPLAY_BAD])
def test_replay_leaves_out_a_stored_header_it_may_not_write(gw, up, keys,
                                                            what, value):
    """nginx's upstream parser keeps header values with any control
    character but CR, LF and NUL.  The first answer passes through as
    nginx passes it; the replay leaves such a header out (logged) and
    keeps the others."""
    path = "/idem/orders-" + what
    up.answers[path] = answer_bytes(201, [
        (b"Location", value),
        (b"Link", b"</a>; rel=\"x\"\x01"),
        (b"ETag", b'"e-1"'),
        (b"Content-Language", b"en,\tde"),
    ], b'{"order":1}')
    key = "Idempotency-Key: k-" + uuid.uuid4().hex
    token = bearer(tok(keys))
    offset = len(gw.error_log())

    # the first answer is nginx's pass-through: not checked
    raw = raw_http(gw, request_bytes("POST", path, [token, key], b"{}"))
    assert raw.startswith(b"HTTP/1.1 201 ")

    status, headers, body = settled(gw, "POST", path, [token, key], b"{}",
                                    until=is_replay)
    assert status == 201
    assert body == b'{"order":1}'
    assert header(headers, "Idempotent-Replayed") == "true"
    assert header(headers, "ETag") == '"e-1"'
    assert header(headers, "Content-Language") == "en,\tde"
    assert header(headers, "Location") is None
    assert header(headers, "Link") is None
    assert len(up.requests(path)) == 1
    log = gw.error_log(offset)
    assert re.search(NOT_WRITTEN.replace('[^"]+', "Location"), log), log
    assert re.search(NOT_WRITTEN.replace('[^"]+', "Link"), log), log


def test_replay_of_clean_headers_is_byte_for_byte(gw, up, keys):
    path = "/idem/orders-clean"
    up.answers[path] = answer_bytes(201, [
        (b"Location", b"/o/caf\xc3\xa9?a=b;c"),
        (b"Link", b'</a>; rel="x"'),
    ], b'{"order":2}')
    key = "Idempotency-Key: k-" + uuid.uuid4().hex
    token = bearer(tok(keys))
    first = send(gw, "POST", path, [token, key], b"{}")
    again = settled(gw, "POST", path, [token, key], b"{}", until=is_replay)
    assert first[0] == again[0] == 201
    assert header(again[1], "Idempotent-Replayed") == "true"
    for name in ("Location", "Link", "Content-Type"):
        assert header(again[1], name) == header(first[1], name)
    assert header(again[1], "Location") == "/o/caf\xc3\xa9?a=b;c"
    assert len(up.requests(path)) == 1


# ------------------------------------------------------------ cache ETag

@pytest.mark.parametrize("etag", [b'"v1\x01"', b'"v1"\x7f', b'\x1b"v1"'],
                         ids=["soh", "del", "esc"])
def test_cache_hit_never_writes_an_upstream_etag_it_may_not(gw, up, keys,
                                                            etag):
    """The entry keeps its own tag ("ms-" and a digest of the body) when
    the upstream's ETag may not be written; a clean one is kept."""
    sku = "E" + uuid.uuid4().hex[:8]
    up.answers["/cache/" + sku] = answer_bytes(200, [(b"ETag", etag)],
                                               b'{"sku":"x","available":1}')
    token = bearer(tok(keys, seller="s-" + sku))
    raw = raw_http(gw, request_bytes("GET", "/cache/" + sku, [token], b""))
    assert raw.startswith(b"HTTP/1.1 200 ")
    status, headers, _ = settled(gw, "GET", "/cache/" + sku, [token],
                                 until=is_hit)
    assert status == 200
    assert header(headers, "Cache-Status") == "microshop; hit"
    assert re.match(r'^"ms-[0-9a-f]{16}"$', header(headers, "ETag"))


def test_cache_hit_keeps_a_clean_upstream_etag(gw, up, keys):
    sku = "C" + uuid.uuid4().hex[:8]
    up.answers["/cache/" + sku] = answer_bytes(200, [(b"ETag", b'W/"v 7"')],
                                               b'{"sku":"x","available":1}')
    token = bearer(tok(keys, seller="s-" + sku))
    send(gw, "GET", "/cache/" + sku, [token])
    status, headers, _ = settled(gw, "GET", "/cache/" + sku, [token],
                                 until=is_hit)
    assert status == 200
    assert header(headers, "Cache-Status") == "microshop; hit"
    assert header(headers, "ETag") == 'W/"v 7"'


# ------------------------------------------------- forged identity names

FORGED_UNDERSCORE = [
    "X-Microshop_Seller", "x_microshop_seller", "X_MICROSHOP-SUB",
    "X_Microshop_Subject", "x-microshop_scopes", "X-MICROSHOP_ROLE",
    "x_Microshop-Seller",
]


def forged(names):
    return ["%s: evil-%d" % (name, i) for i, name in enumerate(names)]


def assert_only_module_identity(record, seller=None):
    """No header a backend reads as X-Microshop-* reached the upstream but
    the module's own, once each."""
    h = request_headers(record)
    folded = [(re.sub(r"[^a-z0-9]", "-", k), k, v) for k, v in h]
    mine = [(k, v) for f, k, v in folded if f.startswith("x-microshop-")]
    assert not [v for _, v in mine if v.startswith(b"evil")], mine
    assert all(k in IDENTITY for k, _ in mine), mine
    assert len(mine) == len({k for k, _ in mine}), mine
    if seller is not None:
        assert dict(mine)["x-microshop-seller"] == seller.encode()
    else:
        assert mine == []
    assert (b"x-other", b"kept") in [(k.encode(), v) for k, v in h]


def test_underscored_identity_names_never_reach_upstream(gw, up, keys):
    """underscores_in_headers on: nginx keeps X-Microshop_Seller, and a
    CGI/FastCGI/WSGI/Rack backend reads it as HTTP_X_MICROSHOP_SELLER."""
    status, _, _ = send(gw, "GET", "/id/u",
                        [bearer(tok(keys, seller="s1"))]
                        + forged(FORGED_UNDERSCORE) + ["X-Other: kept"])
    assert status == 200
    assert_only_module_identity(up.requests("/id/u")[0], "s1")

    # where the module runs no check at all, too
    status, _, _ = send(gw, "GET", "/open/u",
                        forged(FORGED_UNDERSCORE) + ["X-Other: kept"])
    assert status == 200
    assert_only_module_identity(up.requests("/open/u")[0])


FORGED_ODD = [
    "X.Microshop.Seller", "X-Microshop~Seller", "X-Microshop_Seller",
    "X-Microshop.Subject", "X+Microshop+Scopes", "X-Microshop!Seller",
    "X*MICROSHOP*SELLER",
]


def test_odd_identity_names_never_reach_upstream(gw, up, keys):
    """ignore_invalid_headers off: nginx keeps names with any visible
    byte (X-Microshop_Seller too, with underscores_in_headers off), and
    many backends map every such byte to '_'."""
    odd = Port(gw.odd.port)
    status, _, _ = send(odd, "GET", "/id/o",
                        [bearer(tok(keys, seller="s1"))]
                        + forged(FORGED_ODD)
                        + ["X-Other: kept", "X-Other.Name: kept-too"])
    assert status == 200
    record = up.requests("/id/o")[0]
    assert_only_module_identity(record, "s1")
    # nginx does pass odd names here: the witness that they were tried
    assert (b"x-other.name", b"kept-too") in [
        (k.encode(), v) for k, v in request_headers(record)]

    status, _, _ = send(odd, "GET", "/open/o",
                        forged(FORGED_ODD) + ["X-Other: kept"])
    assert status == 200
    assert_only_module_identity(up.requests("/open/o")[0])


def test_default_nginx_drops_underscored_names_itself(gw, up, keys):
    """With nginx's defaults the underscored names never get that far."""
    status, _, _ = send(gw.plain, "GET", "/id/p",
                        [bearer(tok(keys, seller="s1"))]
                        + forged(FORGED_UNDERSCORE) + ["X-Other: kept"])
    assert status == 200
    assert_only_module_identity(up.requests("/id/p")[0], "s1")
