"""Bearer tokens through the real nginx: verification (RFC 8725, RFC 9068),
token classes, scopes and sellers, identity towards the upstream, the
variables, revocation and the verified-token cache.

docs/http.md "Tokens (401)" and "Scopes and sellers (403, 405)", and the
token directives of docs/directives.md.  Key and directive errors caught by `nginx -t` are in
test_tokens_config.py.

Every instance is started once per module; the settings that are http-level
only (keys, token classes, claim names) need their own instance:

  main     PEM keys (RS256, ES256, HS256) with kids, workers=2: validation,
           scopes, sellers, identity, variables, admin, cache
  jwks     one JWKS file (RSA, EC and oct keys)
  classes  token classes with a "default" class
  strict   token classes without "default", custom claim names
"""

import json
import re
import threading
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from microshop import (b64url, http_session, mint, problem, raw_http,
                       raw_token)

REALM = 'Bearer realm="microshop"'
WWW_INVALID = re.compile(r'^Bearer realm="microshop", error="invalid_token", '
                         r'error_description="[^"\\]+"$')
ADMIN_SCOPE = "microshop:admin"

# every token sent to any instance: none may show up in an error log
SENT_TOKENS = set()


# ------------------------------------------------------------ instances

MAIN_CONF = """
microshop_jwt_key %(rsa_pub)s kid=rsa-pem;
microshop_jwt_key %(ec_pub)s kid=ec-pem;
microshop_jwt_key %(hs_file)s kid=hs-pem alg=HS256;
microshop_jwt_leeway 30s;

server {
    listen 127.0.0.1:%(port)d;
    default_type text/plain;
    large_client_header_buffers 4 32k;

    location = /status {
        microshop_status;
    }

    location /admin/ {
        microshop_admin;
    }

    location /v1/echo/ {
        microshop_auth on;
        proxy_set_header X-Var-Seller $microshop_seller;
        proxy_set_header X-Var-Subject $microshop_subject;
        proxy_set_header X-Var-Scopes $microshop_scopes;
        proxy_set_header X-Var-Class $microshop_token_class;
        proxy_set_header X-Var-Jti $microshop_jti;
        add_header X-Decision $microshop_decision always;
        add_header X-Seller $microshop_seller always;
        add_header X-Jti $microshop_jti always;
        proxy_pass http://127.0.0.1:%(backend)d;
    }

    location /aud/ {
        microshop_auth on;
        microshop_jwt_audience shop-api partner-api;
        proxy_pass http://127.0.0.1:%(backend)d/v1/echo/aud/;
    }

    location /iss/ {
        microshop_auth on;
        microshop_jwt_issuer https://issuer.example https://other.example;
        proxy_pass http://127.0.0.1:%(backend)d/v1/echo/iss/;
    }

    location /scoped/ {
        microshop_auth on;
        microshop_require_scope GET inventory:read;
        microshop_require_scope POST inventory:write orders:write;
        proxy_pass http://127.0.0.1:%(backend)d/v1/echo/scoped/;
    }

    location ~ ^/v1/sellers/(?<seller>[^/]+)/ {
        microshop_auth on;
        microshop_seller $seller;
        microshop_require_scope GET,HEAD inventory:read;
        microshop_require_scope PUT,PATCH inventory:write;
        proxy_pass http://127.0.0.1:%(backend)d;
    }

    location /open/ {
        proxy_pass http://127.0.0.1:%(backend)d/v1/echo/open/;
    }

    location /static/ {
        microshop_auth on;
        root %(prefix)s/html;
    }
}
"""

ECHO_CONF = """
server {
    listen 127.0.0.1:%(port)d;
    default_type text/plain;

    location = /status {
        microshop_status;
    }

    location /v1/echo/ {
        microshop_auth on;
        proxy_set_header X-Var-Class $microshop_token_class;
        proxy_pass http://127.0.0.1:%(backend)d;
    }
}
"""


def _params(n, keys, backend):
    return {"port": n.port, "prefix": n.prefix, "backend": backend.port,
            "rsa_pub": keys.rsa_public_pem, "ec_pub": keys.ec256_public_pem,
            "hs_file": keys.hs256_file, "jwks": keys.jwks_file}


@pytest.fixture(scope="module")
def main(nginx, keys, backend):
    n = nginx.new()
    n.write_file("html/static/hello.txt", "hello\n")
    n.start(MAIN_CONF % _params(n, keys, backend), workers=2)
    return n


@pytest.fixture(scope="module")
def jwks(nginx, keys, backend):
    n = nginx.new()
    n.start(("microshop_jwt_jwks %(jwks)s;\n" + ECHO_CONF)
            % _params(n, keys, backend))
    return n


@pytest.fixture(scope="module")
def classes(nginx, keys, backend):
    n = nginx.new()
    n.start(("microshop_jwt_key %(ec_pub)s;\n"
             "microshop_token_class default max_ttl=10m "
             "scopes=inventory:read,inventory:write,orders:write;\n"
             "microshop_token_class staff max_ttl=15m "
             "scopes=inventory:read,inventory:write;\n"
             "microshop_token_class integration max_ttl=30d;\n"
             + ECHO_CONF) % _params(n, keys, backend))
    return n


@pytest.fixture(scope="module")
def strict(nginx, keys, backend):
    """Classes but no "default"; claim names seller=shop scope=scp
    class=cls."""
    n = nginx.new()
    n.start(("microshop_jwt_key %(ec_pub)s;\n"
             "microshop_jwt_claims seller=shop scope=scp class=cls;\n"
             "microshop_token_class staff max_ttl=15m;\n"
             + ECHO_CONF) % _params(n, keys, backend))
    return n


# ------------------------------------------------------------ helpers

def claims(ttl=300, **kw):
    """The claims mint() would make, for raw_token()."""
    now = int(time.time())
    doc = {"sub": "user-1", "seller": "s1", "scope": "inventory:read",
           "iat": now, "exp": now + ttl, "jti": uuid.uuid4().hex}
    doc.update(kw)
    return {k: v for k, v in doc.items() if v is not None}


def echo_path(name):
    """A fresh path under /v1/echo/, so backend counts are per test."""
    return "/v1/echo/%s/%s" % (name, uuid.uuid4().hex[:12])


def send(n, path, token=None, method="GET", authorization=None, **kw):
    """One request; token is sent as "Bearer <token>" unless authorization
    gives the whole header."""
    headers = dict(kw.pop("headers", None) or {})
    if authorization is not None:
        headers["Authorization"] = authorization
    elif token is not None:
        headers["Authorization"] = "Bearer " + token
    if token:
        SENT_TOKENS.add(token)
    return n.request(method, path, headers=headers, **kw)


def assert_no_token(resp, token):
    """The gateway's own answer never echoes the token (or its parts)."""
    if not token:
        return
    parts = [token] + [p for p in token.split(".") if len(p) >= 16]
    text = resp.text + "\n" + "\n".join("%s: %s" % kv
                                        for kv in resp.headers.items())
    for part in parts:
        assert part not in text, "the response echoes the token"


def assert_refused(resp, token=None, status=401, name="invalid-token",
                   www=WWW_INVALID):
    """A problem+json refusal with the given WWW-Authenticate (a compiled
    regex, an exact string, or None for "no header")."""
    assert resp.status_code == status, (resp.status_code, resp.text[:300])
    doc = problem(resp, name)
    got = resp.headers.get("WWW-Authenticate")
    if www is None:
        assert got is None, got
    elif isinstance(www, str):
        assert got == www, got
    else:
        assert got is not None and www.match(got), got
    assert_no_token(resp, token)
    return doc


def refused(n, backend, token, path_name="refused", **kw):
    """GET a fresh echo path with token: 401 invalid-token, and the backend
    never saw it."""
    path = echo_path(path_name)
    resp = send(n, path, token)
    doc = assert_refused(resp, token, **kw)
    assert backend.count("GET " + path) == 0
    return doc


def passes(n, backend, token, path_name="passes", method="GET",
           backend_prefix="", **kw):
    """A request that must reach the backend; returns the echo."""
    path = echo_path(path_name)
    resp = send(n, path, token, method=method, **kw)
    assert resp.status_code == 200, (resp.status_code, resp.text[:300],
                                     resp.headers.get("WWW-Authenticate"))
    echo = resp.json()
    assert echo["path"] == backend_prefix + path
    assert backend.count(method + " " + backend_prefix + path) == 1
    return echo


def metric(n, name):
    text = n.get("/status").text
    m = re.search(r"^%s (\d+)$" % re.escape(name), text, re.M)
    assert m, "%s missing from the status page" % name
    return int(m.group(1))


def with_sig(token, signature):
    return token.rsplit(".", 1)[0] + "." + b64url(signature)


def es256(keys, header, payload):
    """raw_token() signed with the suite's ES256 key."""
    return raw_token(header, payload, keys.ec256_private, "ES256")


def es256_at(keys, payload, *offsets, header='{"alg":"ES256"}'):
    """es256() of payload % (now + offset, ...), one now for all."""
    now = int(time.time())
    return es256(keys, header, payload % tuple(now + o for o in offsets))


def mint_at(keys, **offsets):
    """mint() with the given time claims relative to one now."""
    now = int(time.time())
    return mint(keys, **{name: now + o for name, o in offsets.items()})


def tampered(token, **changes):
    """The token with claims changed and its signature kept."""
    head, _, sig = token.split(".")
    doc = jwt.decode(token, options={"verify_signature": False})
    doc.update(changes)
    return ".".join([head, b64url(json.dumps(doc)), sig])


def pem(path):
    with open(path, "rb") as f:
        return f.read()


# ------------------------------------------------------------ valid tokens

@pytest.mark.parametrize("alg,kid", [("RS256", "rsa-pem"), ("RS256", None),
                                     ("ES256", "ec-pem"), ("ES256", None),
                                     ("HS256", "hs-pem"), ("HS256", None)])
def test_valid_pem_and_secret_keys_pass(main, backend, keys, alg, kid):
    token = mint(keys, alg=alg, kid=kid)
    echo = passes(main, backend, token)
    assert echo["headers"]["x-microshop-seller"] == "s1"


@pytest.mark.parametrize("alg,kid,key_attr", [
    ("RS256", "rsa-jwks", "rsa_private"),
    ("ES256", "ec-jwks", "ec256_private"),
    ("HS256", "oct-jwks", "jwks_oct_secret")])
def test_valid_jwks_keys_pass(jwks, backend, keys, alg, kid, key_attr):
    token = mint(keys, alg=alg, kid=kid, key=getattr(keys, key_attr))
    echo = passes(jwks, backend, token)
    assert echo["headers"]["x-microshop-subject"] == "user-1"


@pytest.mark.parametrize("typ", ["JWT", "at+jwt", "application/at+jwt",
                                 None])
def test_typ_values_pass(main, backend, keys, typ):
    token = mint(keys, headers={"typ": typ} if typ else {"typ": None})
    if typ is None:
        assert "typ" not in jwt.get_unverified_header(token)
    passes(main, backend, token)


def test_lower_case_bearer_scheme_passes(main, backend, keys):
    token = mint(keys)
    passes(main, backend, token, authorization="bearer " + token)
    passes(main, backend, token, authorization="BEARER " + token)


def test_static_file_behind_auth(main, keys):
    resp = send(main, "/static/hello.txt", mint(keys))
    assert resp.status_code == 200 and resp.text == "hello\n"
    resp = send(main, "/static/hello.txt")
    assert_refused(resp, www=REALM)


# ------------------------------------------------------------ no token, bad header

def test_no_token_has_no_error_code(main, backend):
    path = echo_path("none")
    resp = send(main, path)
    doc = assert_refused(resp, www=REALM)
    assert doc["status"] == 401
    assert resp.headers.get("X-Decision") == "deny"
    assert backend.count("GET " + path) == 0


def test_basic_scheme_is_not_a_bearer_token(main, backend):
    """RFC 6750 3.1: a request that "attempted using an unsupported
    authentication method" lacks a bearer token: no error code."""
    path = echo_path("basic")
    resp = send(main, path, authorization="Basic dXNlcjpwYXNzd29yZA==")
    assert_refused(resp, www=REALM)
    assert "dXNlcjpwYXNzd29yZA" not in resp.text
    assert backend.count("GET " + path) == 0


def raw_get(n, path, headers):
    """GET path with the header lines as given (duplicates included);
    returns (status, head, body)."""
    data = raw_http(n, ("GET %s HTTP/1.1\r\nHost: x\r\n" % path).encode()
                    + b"".join(h + b"\r\n" for h in headers)
                    + b"Connection: close\r\n\r\n")
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), head.decode("latin-1"), body


@pytest.mark.parametrize("second", ["same", "other", "basic", "lowercase"])
def test_two_authorization_headers_never_reach_the_backend(main, backend,
                                                           keys, second):
    """RFC 6750 3.1: which token would the upstream read?  nginx 1.22
    itself refuses a second Authorization header (a unique header line)
    with a 400 before any phase runs: the request never reaches the
    backend, whatever the second header holds, and the gateway answers
    that 400 as the problem invalid-request.  (nginx logs that refusal at
    info level with both header values: docs/operations.md warns about
    error_log info.)"""
    token = mint(keys)
    first = b"Authorization: Bearer " + token.encode()
    other = {"same": first,
             "other": b"Authorization: Bearer " + mint(keys, seller="s2")
                      .encode(),
             "basic": b"Authorization: Basic dXNlcjpwYXNzd29yZA==",
             "lowercase": b"authorization: Bearer " + token.encode()}[second]
    path = echo_path("two-auth-" + second)
    status, head, body = raw_get(main, path, [first, other])
    assert status == 400, head
    assert token.encode() not in body
    assert re.search(r"(?im)^content-type: application/problem\+json\r?$",
                     head), head
    assert re.search(r'(?im)^www-authenticate: Bearer realm="microshop", '
                     r'error="invalid_request"\r?$', head), head
    doc = json.loads(body)
    assert doc["type"].endswith("invalid-request"), doc
    assert doc["status"] == 400 and "Authorization" in doc["detail"], doc
    assert int(re.search(r"(?im)^content-length: (\d+)", head).group(1)) \
        == len(body)
    assert backend.count("GET " + path) == 0
    # a token alone passes (another one: nginx's own info line about the
    # duplicate header quotes both, see test_zz_error_logs_hold_no_token)
    passes(main, backend, mint(keys))


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Bearer  "])
def test_bearer_without_token(main, backend, header):
    """Not one token68: 400 invalid-request (RFC 6750 3.1); every spelling
    of a malformed bearer header is in test_sec_bearer.py."""
    path = echo_path("empty")
    resp = send(main, path, authorization=header)
    assert_refused(resp, status=400, name="invalid-request",
                   www=REALM + ', error="invalid_request"')
    assert backend.count("GET " + path) == 0


# token68, but no JWS
@pytest.mark.parametrize("garbage", ["garbage", "a.b.c", "..", "a..c",
                                     "e30.e30.e30", "abc==",
                                     "eyJhbGciOiJFUzI1NiJ9.e30"])
def test_garbage_tokens(main, backend, garbage):
    refused(main, backend, garbage)


def test_oversized_token_refused_before_crypto(main, backend, keys):
    token = mint(keys, pad="x" * 12000)
    assert len(token) > 16000
    before = metric(main, "microshop_token_verifications_total")
    refused(main, backend, token)
    assert metric(main, "microshop_token_verifications_total") == before
    # just over the 8 KB limit too
    token = mint(keys, pad="y" * 6000)
    assert 8192 < len(token) < 9000
    refused(main, backend, token)
    # still serving
    passes(main, backend, mint(keys))


def test_oversized_token_with_default_header_buffers(jwks, backend, keys):
    """Over nginx's 8k header buffers nginx itself says 400; no crash."""
    token = mint(keys, alg="ES256", kid="ec-jwks",
                 key=keys.ec256_private, pad="x" * 12000)
    path = echo_path("huge")
    resp = send(jwks, path, token)
    assert 400 <= resp.status_code < 500
    assert_no_token(resp, token)
    assert backend.count("GET " + path) == 0
    passes(jwks, backend, mint(keys, alg="ES256", kid="ec-jwks"))


# ---------------------------------------------------- refused: one row a token

CLASS = "token-class-violation"


def bad(case_id, make, on="main", name="invalid-token"):
    """A token, make(keys), that the instance `on` refuses: 401 with the
    problem type `name`, the backend never sees the request."""
    return pytest.param(make, on, name, id=case_id)


BAD_TOKENS = [
    # -- alg and key
    bad("rs512-for-rs256-kid", lambda k: mint(k, alg="RS512", kid="rsa-pem")),
    bad("es256-for-rsa-kid", lambda k: mint(k, alg="ES256", kid="rsa-pem")),
    bad("es384-without-a-key", lambda k: mint(k, alg="ES384")),
    bad("es256-another-key", lambda k: mint(
        k, alg="ES256", key=ec.generate_private_key(ec.SECP256R1()))),
    bad("hs256-another-secret", lambda k: mint(k, alg="HS256",
                                               key=b"k" * 32)),
    bad("kid-unknown", lambda k: mint(k, alg="ES256", kid="nope")),
    bad("kid-empty", lambda k: mint(k, alg="ES256", kid="")),
    bad("kid-a-number", lambda k: es256(k, {"alg": "ES256", "kid": 7},
                                        claims())),
    bad("crit-header", lambda k: es256(k, {"alg": "ES256", "crit": ["exp"]},
                                       claims())),
    bad("header-not-an-object", lambda k: es256(k, '["ES256"]', claims())),
    bad("typ-jose-json", lambda k: es256(k, {"alg": "ES256",
                                             "typ": "JOSE+JSON"}, claims())),
    # the JWKS enforces each key's alg
    bad("jwks-rs384-for-rs256-key",
        lambda k: mint(k, alg="RS384", kid="rsa-jwks"), on="jwks"),
    bad("jwks-hs256-keyed-with-rsa-pem",     # key confusion
        lambda k: raw_token({"alg": "HS256", "kid": "rsa-jwks"}, claims(),
                            pem(k.rsa_public_pem), "HS256"), on="jwks"),
    bad("jwks-oct-secret-for-ec-kid",
        lambda k: mint(k, alg="HS256", kid="ec-jwks",
                       key=k.jwks_oct_secret), on="jwks"),
    bad("jwks-unknown-kid",
        lambda k: mint(k, alg="ES256", kid="no-such-kid"), on="jwks"),

    # -- signature
    bad("es256-tampered-seller", lambda k: tampered(
        mint(k, alg="ES256", seller="s1"), seller="s2")),
    *[bad(alg.lower() + "-tampered-scope", lambda k, alg=alg: tampered(
        mint(k, alg=alg, scope="inventory:read"),
        scope="inventory:read " + ADMIN_SCOPE)) for alg in ("RS256", "HS256")],
    *[bad(alg.lower() + "-signature-stripped",
          lambda k, alg=alg: with_sig(mint(k, alg=alg), b""))
      for alg in ("ES256", "RS256", "HS256")],
    *[bad(alg.lower() + "-signature-and-dot-stripped",
          lambda k, alg=alg: mint(k, alg=alg).rsplit(".", 1)[0])
      for alg in ("ES256", "RS256", "HS256")],
    bad("es256-zero-signature",
        lambda k: with_sig(mint(k, alg="ES256"), b"\0" * 64)),
    bad("es256-zero-signature-raw",
        lambda k: raw_token({"alg": "ES256", "kid": "ec-pem"}, claims(),
                            signature=b"\0" * 64)),
    # r = s = n would be the next trick; any wrong length is refused too
    bad("es256-signature-63-bytes",
        lambda k: with_sig(mint(k, alg="ES256"), b"\0" * 63)),
    bad("es256-signature-72-bytes",
        lambda k: with_sig(mint(k, alg="ES256"), b"\1" * 72)),

    # -- strict JSON
    *[bad("duplicate-header-" + member, lambda k, h=header: es256(k, h,
                                                                   claims()))
      for member, header in [
          ("alg", '{"alg":"ES256","alg":"ES256"}'),
          ("kid", '{"alg":"ES256","kid":"ec-pem","kid":"ec-pem"}'),
          ("typ", '{"alg":"ES256","typ":"JWT","typ":"JWT"}')]],
    bad("duplicate-claim-seller", lambda k: es256_at(
        k, '{"sub":"u","seller":"s2","seller":"s1","exp":%d}', 300)),
    bad("duplicate-claim-exp", lambda k: es256_at(
        k, '{"sub":"u","seller":"s1","exp":%d,"exp":%d}', -9999, 300)),
    bad("duplicate-claim-scope", lambda k: es256_at(
        k, '{"sub":"u","seller":"s1","scope":"a","scope":"b","exp":%d}',
        300)),
    bad("claims-not-utf8", lambda k: es256_at(
        k, b'{"sub":"\xff\xfe","seller":"s1","exp":%d}', 300)),
    bad("claims-truncated-utf8", lambda k: es256_at(
        k, b'{"sub":"u","seller":"s\xc3","exp":%d}', 300)),
    bad("header-not-utf8", lambda k: es256(
        k, b'{"alg":"ES256","kid":"\xe9c"}', claims())),
    *[bad("claims-" + what, lambda k, p=payload: es256(k, '{"alg":"ES256"}',
                                                       p))
      for what, payload in [("array", "[1,2]"), ("string", '"x"'),
                            ("null", "null"), ("truncated", "{")]],

    # -- control characters in a claim the gateway forwards or logs would
    #    reach the upstream as raw header bytes (a second request smuggled
    #    over keepalive): refused in every claim, in every spelling
    *[bad("control-%s-in-%s" % (what, claim),
          lambda k, c=claim, v=value: mint(k, **{c: v}))
      for claim in ("sub", "seller", "jti", "iss", "tier", "token_class")
      for what, value in [
          ("crlf", "a\r\nX-Microshop-Seller: s2"), ("lf", "a\nb"),
          ("cr", "a\rb"), ("nul", "a\u0000b"), ("tab", "a\tb"),
          ("del", "a\x7fb"), ("esc", "a\x1bb")]],
    bad("control-lf-in-aud", lambda k: mint(k, aud="api\nX: y")),
    bad("control-crlf-in-aud-array",
        lambda k: mint(k, aud=["api", "x\r\nX-Microshop-Seller: s2"])),

    # -- time claims (leeway 30s)
    bad("expired-a-minute-ago", lambda k: mint_at(k, iat=-600, exp=-60)),
    bad("expired-beyond-leeway", lambda k: mint_at(k, iat=-600,
                                                   exp=-31 - 1)),
    *[bad(alg.lower() + "-without-exp",
          lambda k, alg=alg: mint(k, alg=alg, exp=None))
      for alg in ("ES256", "RS256", "HS256")],

    # -- token classes: "classes" has default max_ttl=10m and staff
    #    max_ttl=15m scopes=inventory:read,inventory:write; "strict" has
    #    only staff, and class=cls seller=shop scope=scp claim names
    bad("staff-20m-over-max-ttl", lambda k: mint(
        k, ttl=20 * 60, token_class="staff", scope="inventory:read"),
        on="classes", name=CLASS),
    bad("default-11m-over-max-ttl", lambda k: mint(k, ttl=11 * 60),
        on="classes", name=CLASS),
    bad("staff-scope-above-ceiling", lambda k: mint(
        k, token_class="staff", scope="inventory:read orders:write"),
        on="classes", name=CLASS),
    bad("staff-scope-array-above-ceiling", lambda k: mint(
        k, token_class="staff", scope=["inventory:read", ADMIN_SCOPE]),
        on="classes", name=CLASS),
    # default's ceiling holds for tokens without a class claim
    bad("default-scope-above-ceiling", lambda k: mint(
        k, scope="inventory:read " + ADMIN_SCOPE), on="classes", name=CLASS),
    bad("unknown-class", lambda k: mint(k, token_class="root"),
        on="classes", name=CLASS),
    bad("class-names-are-case-sensitive", lambda k: mint(
        k, token_class="Staff", scope="inventory:read"),
        on="classes", name=CLASS),
    bad("staff-without-iat", lambda k: mint(
        k, iat=None, token_class="staff", scope="inventory:read"),
        on="classes", name=CLASS),
    bad("default-without-iat", lambda k: mint(k, iat=None),
        on="classes", name=CLASS),
    bad("no-default-class-no-class-claim", lambda k: mint(
        k, shop="s1", scp="inventory:read"), on="strict", name=CLASS),
    # the class is read from the configured claim name
    bad("class-in-another-claim", lambda k: mint(
        k, token_class="staff", shop="s1"), on="strict", name=CLASS),
]


@pytest.mark.parametrize("make,on,name", BAD_TOKENS)
def test_bad_token_refused(request, backend, keys, make, on, name):
    refused(request.getfixturevalue(on), backend, make(keys), name=name)


# ------------------------------------------------------------ alg and key attacks

@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_refused(main, backend, keys, alg):
    refused(main, backend, raw_token({"alg": alg, "typ": "JWT"}, claims()))
    # with some bytes where the signature goes
    refused(main, backend, raw_token({"alg": alg}, claims(),
                                     signature=b"anything"))
    refused(main, backend, raw_token({"alg": alg, "kid": "ec-pem"}, claims(),
                                     signature=b"anything"))


@pytest.mark.parametrize("kid", [None, "rsa-pem", "ec-pem", "hs-pem"])
def test_hs256_keyed_with_public_pem_refused(main, backend, keys, kid):
    for pem_file in (keys.rsa_public_pem, keys.ec256_public_pem):
        with open(pem_file, "rb") as f:
            pem = f.read()
        header = {"alg": "HS256", "typ": "JWT"}
        if kid:
            header["kid"] = kid
        refused(main, backend, raw_token(header, claims(), pem, "HS256"))


@pytest.mark.parametrize("kid", [None, "hs-pem"])
def test_hs512_against_hs256_key_refused(main, backend, keys, kid):
    header = {"alg": "HS512"}
    if kid:
        header["kid"] = kid
    refused(main, backend, raw_token(header, claims(), keys.hs256_secret,
                                     "HS512"))


def test_jwk_and_jku_headers_never_choose_a_key(main, backend, keys):
    attacker = ec.generate_private_key(ec.SECP256R1())
    nums = attacker.public_key().public_numbers()
    jwk = {"kty": "EC", "crv": "P-256",
           "x": b64url(nums.x.to_bytes(32, "big")),
           "y": b64url(nums.y.to_bytes(32, "big"))}
    payload = claims(scope="inventory:read " + ADMIN_SCOPE)
    refused(main, backend, raw_token({"alg": "ES256", "jwk": jwk}, payload,
                                     attacker, "ES256"))
    refused(main, backend, raw_token({"alg": "ES256", "kid": "ec-pem",
                                      "jwk": jwk}, payload, attacker, "ES256"))
    refused(main, backend, raw_token({"alg": "ES256", "kid": "attacker",
                                      "jwk": dict(jwk, kid="attacker")},
                                     payload, attacker, "ES256"))
    # nothing is fetched because of a token
    jku_path = echo_path("jku")
    jku = backend.url(jku_path)
    for member in ("jku", "x5u"):
        refused(main, backend, raw_token({"alg": "ES256", member: jku},
                                         payload, attacker, "ES256"))
    assert backend.count("GET " + jku_path) == 0


# ------------------------------------------------------------ strict JSON

def test_raw_token_control_passes(main, backend, keys):
    """raw_token() itself makes tokens the gateway accepts."""
    passes(main, backend, raw_token({"alg": "ES256", "typ": "JWT"}, claims(),
                                    keys.ec256_private, "ES256"))
    payload = json.dumps(claims()).encode()
    passes(main, backend, raw_token('{"alg":"ES256"}', payload,
                                    keys.ec256_private, "ES256"))


# ------------------------------------------------------------ time claims

def test_expired_within_leeway_passes(main, backend, keys):
    now = int(time.time())
    passes(main, backend, mint(keys, iat=now - 600, exp=now - 10))


def test_future_nbf_refused(main, backend, keys):
    now = int(time.time())
    refused(main, backend, mint(keys, nbf=now + 120, exp=now + 600))
    # within the leeway: fine
    passes(main, backend, mint(keys, nbf=now + 10, exp=now + 600))


def test_iat_in_the_future_refused(main, backend, keys):
    now = int(time.time())
    refused(main, backend, mint(keys, iat=now + 120, exp=now + 600))
    passes(main, backend, mint(keys, iat=now + 10, exp=now + 600))


@pytest.mark.parametrize("value", ["str", "bool", "null", "obj", "nbf",
                                   "iat"])
def test_time_claims_of_wrong_type_refused(main, backend, keys, value):
    later = int(time.time()) + 600
    bad = {"str": {"exp": str(later)}, "bool": {"exp": True},
           "null": {"exp": json.loads("null")}, "obj": {"exp": {"t": later}},
           "nbf": {"nbf": "0"}, "iat": {"iat": "0"}}[value]
    payload = claims()
    payload.update(bad)
    refused(main, backend, raw_token({"alg": "ES256"},
                                     json.dumps(payload),
                                     keys.ec256_private, "ES256"))


# ------------------------------------------------------------ iss and aud

def test_issuer(main, backend, keys):
    ok = mint(keys, iss="https://issuer.example")
    resp = send(main, "/iss/a", ok)
    assert resp.status_code == 200 and resp.json()["path"] == "/v1/echo/iss/a"
    resp = send(main, "/iss/b", mint(keys, iss="https://other.example"))
    assert resp.status_code == 200
    for bad in ("https://evil.example", "https://issuer.example/", None):
        token = mint(keys, iss=bad)
        assert_refused(send(main, "/iss/c", token), token)
    token = raw_token({"alg": "ES256"}, claims(iss=["https://issuer.example"]),
                      keys.ec256_private, "ES256")
    assert_refused(send(main, "/iss/d", token), token)
    assert backend.count("GET /v1/echo/iss/c") == 0
    assert backend.count("GET /v1/echo/iss/d") == 0


def test_wrong_audience_string_refused(main, backend, keys):
    for aud in ("evil-api", "shop-api-2", "", None):
        token = mint(keys, aud=aud)
        assert_refused(send(main, "/aud/x", token), token)
    assert backend.count("GET /v1/echo/aud/x") == 0


def test_wrong_audience_array_refused(main, backend, keys):
    for aud in (["evil-api"], ["evil-api", "other"], [], [7, "evil"]):
        token = mint(keys, aud=aud)
        assert_refused(send(main, "/aud/y", token), token)
    assert backend.count("GET /v1/echo/aud/y") == 0


def test_audience_accepted(main, backend, keys):
    before = backend.count("GET /v1/echo/aud/z")
    for aud in ("shop-api", "partner-api", ["evil-api", "shop-api"],
                ["partner-api"]):
        resp = send(main, "/aud/z", mint(keys, aud=aud))
        assert resp.status_code == 200, (aud, resp.text)
    assert backend.count("GET /v1/echo/aud/z") == before + 4


def test_aud_and_iss_not_checked_where_not_configured(main, backend, keys):
    passes(main, backend, mint(keys, aud="anything", iss="anyone"))


def test_cached_token_still_checked_per_location(main, backend, keys):
    """The cache holds the verified token, not a location's verdict."""
    token = mint(keys, aud="anything", iss="anyone")
    passes(main, backend, token)
    passes(main, backend, token)    # now surely cached
    for path in ("/aud/cached", "/iss/cached"):
        assert_refused(send(main, path, token), token)
    assert backend.count("GET /v1/echo/aud/cached") == 0
    assert backend.count("GET /v1/echo/iss/cached") == 0


# ------------------------------------------------------------ token classes

def test_class_within_limits_passes(classes, backend, keys):
    echo = passes(classes, backend, mint(keys, ttl=15 * 60,
                                         token_class="staff",
                                         scope="inventory:read"))
    assert echo["headers"]["x-var-class"] == "staff"
    echo = passes(classes, backend, mint(keys, ttl=29 * 86400,
                                         token_class="integration",
                                         scope="anything:at-all"))
    assert echo["headers"]["x-var-class"] == "integration"


def test_no_class_claim_uses_default(classes, backend, keys):
    echo = passes(classes, backend, mint(keys, ttl=5 * 60))
    assert echo["headers"]["x-var-class"] == "default"


def test_custom_claim_names(strict, backend, keys):
    token = mint(keys, seller=None, scope=None, cls="staff", shop="s9",
                 scp=["inventory:read", "orders:write"])
    echo = passes(strict, backend, token)
    assert echo["headers"]["x-microshop-seller"] == "s9"
    assert echo["headers"]["x-microshop-scopes"] == \
        "inventory:read orders:write"
    assert echo["headers"]["x-var-class"] == "staff"
    refused(strict, backend, mint(keys, cls="staff", ttl=16 * 60),
            name="token-class-violation")


# ------------------------------------------------------------ scopes and sellers

def test_insufficient_scope(main, backend, keys):
    token = mint(keys, scope="orders:write")
    resp = send(main, "/scoped/a", token)
    doc = assert_refused(resp, token, status=403, name="insufficient-scope",
                         www='Bearer realm="microshop", '
                             'error="insufficient_scope", '
                             'scope="inventory:read"')
    assert "inventory:read" in doc["detail"]
    token = mint(keys, scope="inventory:write")
    resp = send(main, "/scoped/a", token, method="POST", data=b"{}")
    assert_refused(resp, token, status=403, name="insufficient-scope",
                   www='Bearer realm="microshop", error="insufficient_scope",'
                       ' scope="inventory:write orders:write"')
    # no scope claim at all
    token = mint(keys, scope=None)
    assert_refused(send(main, "/scoped/a", token), token, status=403,
                   name="insufficient-scope",
                   www='Bearer realm="microshop", error="insufficient_scope",'
                       ' scope="inventory:read"')
    # a scope is a whole word
    token = mint(keys, scope="inventory:reader inventory")
    assert_refused(send(main, "/scoped/a", token), token, status=403,
                   name="insufficient-scope",
                   www='Bearer realm="microshop", error="insufficient_scope",'
                       ' scope="inventory:read"')
    assert backend.count("GET /v1/echo/scoped/a") == 0
    assert backend.count("POST /v1/echo/scoped/a") == 0


def test_sufficient_scope_passes(main, backend, keys):
    before = backend.count("GET /v1/echo/scoped/b")
    assert send(main, "/scoped/b", mint(keys, scope="inventory:read")) \
        .status_code == 200
    assert send(main, "/scoped/b", mint(keys, scope="  inventory:read  x ")) \
        .status_code == 200
    assert backend.count("GET /v1/echo/scoped/b") == before + 2
    resp = send(main, "/scoped/b", mint(keys, scope="orders:write "
                                        "inventory:write"),
                method="POST", data=b"{}")
    assert resp.status_code == 200
    resp = send(main, "/scoped/b", mint(keys, scope="inventory:read"),
                method="HEAD")
    assert resp.status_code == 200


def test_scope_as_json_array(main, backend, keys):
    before = backend.count("GET /v1/echo/scoped/c")
    resp = send(main, "/scoped/c", mint(keys, scope=["inventory:read"]))
    assert resp.status_code == 200
    assert resp.json()["headers"]["x-microshop-scopes"] == "inventory:read"
    assert backend.count("GET /v1/echo/scoped/c") == before + 1
    token = mint(keys, scope=["orders:write"])
    assert_refused(send(main, "/scoped/c", token), token, status=403,
                   name="insufficient-scope",
                   www='Bearer realm="microshop", error="insufficient_scope",'
                       ' scope="inventory:read"')
    # a scope claim of the wrong shape is not a token we accept
    for bad in (["inventory:read inventory:write"], [""], [1], 5,
                {"a": 1}):
        token = mint(keys, scope=bad)
        assert_refused(send(main, "/scoped/c", token), token)


def test_method_not_covered_is_405(main, backend, keys):
    token = mint(keys, scope="inventory:read inventory:write orders:write")
    for method in ("DELETE", "PUT", "PATCH", "OPTIONS"):
        resp = send(main, "/scoped/d", token, method=method)
        assert_refused(resp, token, status=405, name="method-not-allowed",
                       www=None)
        allow = {m.strip() for m in resp.headers["Allow"].split(",")}
        assert allow == {"GET", "HEAD", "POST"}
        assert backend.count(method + " /v1/echo/scoped/d") == 0


def test_seller_mismatch(main, backend, keys):
    backend.reset()
    token = mint(keys, seller="s1", scope="inventory:read")
    resp = send(main, "/v1/sellers/s2/inventory/A1", token)
    assert_refused(resp, token, status=403, name="seller-mismatch", www=None)
    assert backend.count("GET /v1/sellers/s2/inventory/A1") == 0
    resp = send(main, "/v1/sellers/s1/inventory/A1", token)
    assert resp.status_code == 200 and resp.json()["sku"] == "A1"
    assert backend.count("GET /v1/sellers/s1/inventory/A1") == 1
    # no seller claim: matches no route
    token = mint(keys, seller=None, scope="inventory:read")
    resp = send(main, "/v1/sellers/s1/inventory/A1", token)
    assert_refused(resp, token, status=403, name="seller-mismatch", www=None)
    # prefix of the seller is not the seller
    token = mint(keys, seller="s", scope="inventory:read")
    resp = send(main, "/v1/sellers/s1/inventory/A1", token)
    assert_refused(resp, token, status=403, name="seller-mismatch", www=None)
    # 405 on a seller route lists its methods
    token = mint(keys, seller="s1", scope="inventory:read")
    resp = send(main, "/v1/sellers/s1/checkout", token, method="POST",
                data=b"{}")
    assert_refused(resp, token, status=405, name="method-not-allowed",
                   www=None)
    allow = {m.strip() for m in resp.headers["Allow"].split(",")}
    assert allow == {"GET", "HEAD", "PUT", "PATCH"}
    assert backend.count("POST /v1/sellers/s1/checkout") == 0


# ------------------------------------------------------------ identity

def test_identity_headers_to_upstream(main, backend, keys):
    token = mint(keys, sub="user-42", seller="s7",
                 scope="inventory:read  orders:write inventory:read")
    echo = passes(main, backend, token)
    h = echo["headers"]
    assert h["x-microshop-seller"] == "s7"
    assert h["x-microshop-subject"] == "user-42"
    assert h["x-microshop-scopes"] == "inventory:read orders:write"


@pytest.mark.parametrize("name", ["X-Microshop-Seller", "x-MICROSHOP-seller",
                                  "x-microshop-seller"])
def test_client_identity_headers_stripped(main, backend, keys, name):
    token = mint(keys, seller="s1")
    echo = passes(main, backend, token,
                  headers={name: "evil", "X-Microshop-Role": "admin",
                           "X-Other": "kept"})
    h = echo["headers"]
    assert h["x-microshop-seller"] == "s1"
    assert "x-microshop-role" not in h
    assert h["x-other"] == "kept"
    # also where microshop_auth is off
    resp = send(main, "/open/x", headers={name: "evil",
                                          "X-Microshop-Subject": "root",
                                          "X-Other": "kept"})
    assert resp.status_code == 200
    h = resp.json()["headers"]
    assert not [k for k in h if k.startswith("x-microshop-")], h
    assert h["x-other"] == "kept"


def test_client_identity_headers_stripped_before_refusal(main, backend):
    """Many X-Microshop-* lines (more than one header list part)."""
    headers = {"X-Microshop-H%d" % i: "v" for i in range(40)}
    headers["X-Microshop-Seller"] = "evil"
    resp = send(main, "/open/many", headers=headers)
    assert resp.status_code == 200
    assert not [k for k in resp.json()["headers"]
                if k.startswith("x-microshop-")]


def test_variables(main, backend, keys):
    jti = "jti-" + uuid.uuid4().hex
    token = mint(keys, sub="user-9", seller="s3", jti=jti,
                 scope="inventory:read orders:write", token_class="staff")
    path = echo_path("vars")
    resp = send(main, path, token)
    assert resp.status_code == 200
    h = resp.json()["headers"]
    assert h["x-var-seller"] == "s3"
    assert h["x-var-subject"] == "user-9"
    assert h["x-var-scopes"] == "inventory:read orders:write"
    assert h["x-var-class"] == "staff"
    assert h["x-var-jti"] == jti
    assert resp.headers["X-Decision"] == "allow"
    assert resp.headers["X-Seller"] == "s3"
    assert resp.headers["X-Jti"] == jti
    # the same from the cache
    resp = send(main, path, token)
    assert resp.status_code == 200 and resp.headers["X-Jti"] == jti
    assert resp.json()["headers"]["x-var-class"] == "staff"
    # refused: decision deny, no identity
    bad = mint(keys, exp=int(time.time()) - 3600)
    resp = send(main, echo_path("vars"), bad)
    assert resp.status_code == 401
    assert resp.headers["X-Decision"] == "deny"
    assert "X-Seller" not in resp.headers and "X-Jti" not in resp.headers


# ------------------------------------------------------------ revocation

def admin_token(keys, **kw):
    return mint(keys, scope=ADMIN_SCOPE, sub="ops", seller=None, **kw)


def test_revocation(main, backend, keys):
    jti = "rev-" + uuid.uuid4().hex
    token = mint(keys, jti=jti)
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    path = echo_path("rev")
    assert send(main, path, token).status_code == 200
    assert send(main, path, token).status_code == 200   # from the cache
    resp = send(main, "/admin/revocations", admin_token(keys), method="POST",
                json={"jti": jti, "exp": exp})
    assert resp.status_code == 204, resp.text
    assert resp.content == b""
    for _ in range(4):   # whichever worker answers
        resp = send(main, path, token)
        assert_refused(resp, token)
    assert backend.count("GET " + path) == 2
    # another token is not affected
    passes(main, backend, mint(keys))


def test_revocation_before_first_use(main, backend, keys):
    jti = "rev-" + uuid.uuid4().hex
    token = mint(keys, jti=jti, alg="RS256")
    resp = send(main, "/admin/revocations", admin_token(keys), method="POST",
                json={"jti": jti, "exp": int(time.time()) + 300})
    assert resp.status_code == 204, resp.text
    refused(main, backend, token)
    # a revoked admin token cannot undo anything either
    admin_jti = "adm-" + uuid.uuid4().hex
    admin = admin_token(keys, jti=admin_jti)
    resp = send(main, "/admin/revocations", admin, method="POST",
                json={"jti": admin_jti, "exp": int(time.time()) + 300})
    assert resp.status_code == 204
    resp = send(main, "/admin/revocations", admin, method="POST",
                json={"jti": "x", "exp": int(time.time()) + 300})
    assert_refused(resp, admin)


def test_admin_unknown_route_and_method(main, keys):
    token = admin_token(keys)
    resp = send(main, "/admin/revocations", token, method="DELETE")
    assert resp.status_code == 405
    problem(resp, "method-not-allowed")
    assert resp.headers["Allow"] == "GET, HEAD, POST"
    resp = send(main, "/admin/nothing-here", token, method="POST", json={})
    assert resp.status_code == 404
    problem(resp)


def test_admin_needs_admin_scope(main, backend, keys):
    token = mint(keys, scope="inventory:read inventory:write orders:write")
    resp = send(main, "/admin/revocations", token, method="POST",
                json={"jti": "x", "exp": int(time.time()) + 60})
    assert_refused(resp, token, status=403, name="insufficient-scope",
                   www='Bearer realm="microshop", error="insufficient_scope",'
                       ' scope="microshop:admin"')
    resp = send(main, "/admin/revocations", method="POST",
                json={"jti": "x", "exp": int(time.time()) + 60})
    assert_refused(resp, www=REALM)


@pytest.mark.parametrize("body", [
    b"not json", b"", b"[]", b'{"jti":""}', b'{"jti":"a"}',
    b'{"jti":5,"exp":1}', b'{"jti":"a","exp":"1"}', b'{"jti":"a","exp":-1}',
    b'{"jti":"a","jti":"b","exp":1}'])
def test_bad_revocation_body(main, keys, body):
    token = admin_token(keys)
    resp = send(main, "/admin/revocations", token, method="POST", data=body,
                headers={"Content-Type": "application/json"})
    assert resp.status_code == 400, (body, resp.status_code, resp.text)
    problem(resp)
    assert_no_token(resp, token)


# ------------------------------------------------------------ cache

def test_cache_checks_signature_once(main, keys):
    token = mint(keys, alg="ES256", ttl=600)
    SENT_TOKENS.add(token)
    verifications = metric(main, "microshop_token_verifications_total")
    hits = metric(main, "microshop_token_cache_hits_total")
    errors = []

    def client(count):
        try:
            with http_session() as s:
                s.headers["Authorization"] = "Bearer " + token
                for _ in range(count):
                    r = s.get(main.url("/static/hello.txt"), timeout=10)
                    if r.status_code != 200:
                        errors.append(r.status_code)
        except Exception as e:  # noqa: BLE001 -- reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(250,))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:5]
    assert metric(main, "microshop_token_verifications_total") \
        - verifications <= 2
    assert metric(main, "microshop_token_cache_hits_total") - hits >= 998


def test_refused_tokens_are_not_cached_as_valid(main, backend, keys):
    token = mint(keys, exp=int(time.time()) - 3600)
    for _ in range(3):
        refused(main, backend, token)


def test_reload_dropping_a_key_drops_its_cached_tokens(nginx, keys,
                                                       backend):
    """Key rotation: once a key is gone (nginx -s reload), tokens it signed
    are refused, also those verified (and cached) before the reload."""
    n = nginx.new()
    params = _params(n, keys, backend)
    both = ("microshop_jwt_key %(ec_pub)s kid=ec;\n"
            "microshop_jwt_key %(rsa_pub)s kid=rsa;\n" + ECHO_CONF) % params
    n.start(both)
    ec_token = mint(keys, alg="ES256", kid="ec", ttl=3600)
    rsa_token = mint(keys, alg="RS256", kid="rsa", ttl=3600)
    fresh_ec_token = mint(keys, alg="ES256", kid="ec", ttl=3600)
    passes(n, backend, ec_token)
    passes(n, backend, rsa_token)
    n.reload(("microshop_jwt_key %(rsa_pub)s kid=rsa;\n" + ECHO_CONF)
             % params)
    passes(n, backend, rsa_token)
    refused(n, backend, fresh_ec_token)   # never cached: refused
    refused(n, backend, ec_token)         # cached before the reload


# ------------------------------------------------------------ last: logs

def test_zz_error_logs_hold_no_token(main, jwks, classes, strict):
    assert SENT_TOKENS
    for n in (main, jwks, classes, strict):
        log = n.error_log()
        for token in SENT_TOKENS:
            # the JOSE header segment is shared by many tokens: not secret
            parts = [p for p in [token] + token.split(".")[1:]
                     if len(p) >= 24]
            for part in parts:
                assert part not in log, "%s holds a token" % n.error_log_path
