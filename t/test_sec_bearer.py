"""The Authorization header of a protected request, byte for byte
(docs/http.md "Tokens (401)", RFC 6750 2.1 and 3.1, RFC 7235 2.1).

Three answers, one table each, every row sent as raw bytes:

  malformed  "Bearer" and then anything but one token68: 400
             invalid-request, WWW-Authenticate: Bearer realm="microshop",
             error="invalid_request"
  no token   another scheme (or none): 401 invalid-token without an error
  passes     one token68 that is a valid token: the backend sees it

A valid token is part of most malformed spellings (a second word, a
list, quotes, an auth-param around it), so a row fails for the header's
form and never for the token.  The parser itself is
microshop_token_bearer.c (t/unit/test_token_bearer.c).
"""

import json
import re
import uuid

import pytest

from microshop import mint, raw_http

CONF = """
microshop_jwt_key %(ec_pub)s;

server {
    listen 127.0.0.1:%(port)d;
    large_client_header_buffers 4 32k;

    location = /status {
        microshop_status;
    }

    location /v1/echo/ {
        microshop_auth on;
        add_header X-Decision $microshop_decision always;
        proxy_pass http://127.0.0.1:%(backend)d;
    }
}
"""

REALM = 'Bearer realm="microshop"'
INVALID_REQUEST = REALM + ', error="invalid_request"'


@pytest.fixture(scope="module")
def gw(nginx, keys, backend):
    n = nginx.new()
    n.start(CONF % {"port": n.port, "backend": backend.port,
                    "ec_pub": keys.ec256_public_pem})
    return n


@pytest.fixture(scope="module")
def token(keys):
    return mint(keys).encode()


def get(n, authorization):
    """GET a fresh echo path with the Authorization header bytes as given
    (None: no header); returns (status, headers dict, body, path)."""
    path = "/v1/echo/bearer/%s" % uuid.uuid4().hex[:12]
    head = b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
    if authorization is not None:
        head += b"Authorization: " + authorization + b"\r\n"
    data = raw_http(n, head + b"Connection: close\r\n\r\n")
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split(" ")[1]), headers, body, path


def refusal(n, backend, authorization, status, name, www):
    code, headers, body, path = get(n, authorization)
    assert code == status, (code, body[:300])
    assert headers["content-type"] == "application/problem+json"
    doc = json.loads(body)
    assert doc["type"] == "urn:problem:microshop:" + name, doc
    assert doc["status"] == status
    assert headers.get("www-authenticate") == www
    assert headers.get("x-decision") == "deny"
    assert backend.count("GET " + path) == 0
    return doc, body


def metric(n, reason):
    page = raw_http(n, b"GET /status HTTP/1.1\r\nHost: x\r\n"
                       b"Connection: close\r\n\r\n").decode()
    m = re.search(r'^microshop_requests_total\{decision="deny",'
                  r'reason="%s"\} (\d+)$' % reason, page, re.M)
    return int(m.group(1)) if m else 0


# ------------------------------------------------------------ the tables

def case(case_id, make):
    """make(token) -> the Authorization header bytes."""
    return pytest.param(make, id=case_id)


MALFORMED = [
    # nothing after the scheme
    case("bearer-alone", lambda t: b"Bearer"),
    case("bearer-lower-alone", lambda t: b"bearer"),
    case("bearer-space", lambda t: b"Bearer "),
    case("bearer-spaces", lambda t: b"Bearer      "),
    # two words: which one would the upstream read?
    case("two-tokens", lambda t: b"Bearer " + t + b" " + t),
    case("token-and-word", lambda t: b"Bearer " + t + b" x"),
    case("word-and-token", lambda t: b"Bearer x " + t),
    case("tab-inside", lambda t: b"Bearer " + t + b"\t" + t),
    case("tab-before", lambda t: b"Bearer \t" + t),
    case("trailing-tab-word", lambda t: b"Bearer " + t + b"\tx"),
    # lists and parameters are not one token68
    case("comma-list", lambda t: b"Bearer " + t + b"," + t),
    case("comma-space-list", lambda t: b"Bearer " + t + b", " + t),
    case("semicolon", lambda t: b"Bearer " + t + b";x=1"),
    case("auth-param", lambda t: b"Bearer token=" + t),
    case("auth-param-quoted", lambda t: b'Bearer token="' + t + b'"'),
    case("quoted", lambda t: b'Bearer "' + t + b'"'),
    case("realm-then-token", lambda t: b'Bearer realm="x", ' + t),
    # '=' is padding, at the end only, never alone
    case("equals-inside", lambda t: b"Bearer " + t + b"=x"),
    case("equals-first", lambda t: b"Bearer =" + t),
    case("equals-only", lambda t: b"Bearer ==="),
    # bytes outside token68
    case("percent-encoded", lambda t: b"Bearer " + t.replace(b".", b"%2E")),
    case("bang", lambda t: b"Bearer " + t + b"!"),
    case("star", lambda t: b"Bearer *"),
    case("colon", lambda t: b"Bearer a:" + t),
    case("backslash", lambda t: b"Bearer " + t + b"\\"),
    case("not-ascii-utf8", lambda t: b"Bearer " + t + "é".encode()),
    case("not-ascii-latin1", lambda t: b"Bearer " + t + b"\xe9"),
    case("high-byte", lambda t: b"Bearer \xff" + t),
    case("del", lambda t: b"Bearer " + t + b"\x7f"),
    case("control-byte", lambda t: b"Bearer " + t + b"\x01"),
    case("vertical-tab", lambda t: b"Bearer " + t + b"\x0b"),
    case("garbage-jws", lambda t: b"Bearer !!!.@@@.###"),
]

NO_TOKEN = [
    case("no-header", lambda t: None),
    case("basic", lambda t: b"Basic dXNlcjpwYXNzd29yZA=="),
    case("digest", lambda t: b'Digest username="u", realm="r"'),
    case("dpop", lambda t: b"DPoP " + t),
    case("token-scheme", lambda t: b"Token " + t),
    case("no-scheme", lambda t: t),
    case("bearer-glued", lambda t: b"Bearer" + t),
    case("bearerx", lambda t: b"Bearerx " + t),
    case("bearer-tab", lambda t: b"Bearer\t" + t),
    case("bearer-comma", lambda t: b"Bearer," + t),
    case("bear", lambda t: b"Bear " + t),
    case("empty-value", lambda t: b""),
]

PASSES = [
    case("plain", lambda t: b"Bearer " + t),
    case("lower", lambda t: b"bearer " + t),
    case("upper", lambda t: b"BEARER " + t),
    case("mixed", lambda t: b"bEaReR " + t),
    case("spaces-before", lambda t: b"Bearer    " + t),
    case("spaces-after", lambda t: b"Bearer " + t + b"   "),
    case("tab-after", lambda t: b"Bearer " + t + b"\t"),
    case("spaces-and-tabs-after", lambda t: b"Bearer " + t + b" \t \t"),
]


@pytest.mark.parametrize("make", MALFORMED)
def test_not_one_token68_is_invalid_request(gw, backend, token, make):
    doc, body = refusal(gw, backend, make(token), 400, "invalid-request",
                        INVALID_REQUEST)
    assert doc["title"] and doc["detail"]
    # the answer never echoes the token
    for part in token.split(b"."):
        assert part not in body


@pytest.mark.parametrize("make", NO_TOKEN)
def test_another_scheme_is_no_token(gw, backend, token, make):
    refusal(gw, backend, make(token), 401, "invalid-token", REALM)


@pytest.mark.parametrize("make", PASSES)
def test_one_token68_passes(gw, backend, token, make):
    code, headers, body, path = get(gw, make(token))
    assert code == 200, (code, body[:300])
    echo = json.loads(body)
    # the header reaches the upstream as it came
    assert echo["headers"]["authorization"].split()[-1] == token.decode()
    assert backend.count("GET " + path) == 1


def test_malformed_counts_as_invalid_request(gw, backend, token):
    before = metric(gw, "invalid_request")
    invalid_before = metric(gw, "invalid_token")
    refusal(gw, backend, b"Bearer a b", 400, "invalid-request",
            INVALID_REQUEST)
    assert metric(gw, "invalid_request") == before + 1
    assert metric(gw, "invalid_token") == invalid_before


def test_token_over_8k_is_still_invalid_token(gw, backend):
    """One token68, only too large: the token's fault (401), not the
    header's form."""
    refusal(gw, backend, b"Bearer " + b"a" * 9000, 401, "invalid-token",
            'Bearer realm="microshop", error="invalid_token", '
            'error_description="token too large"')
