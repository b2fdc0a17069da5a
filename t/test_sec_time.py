"""Time values from tokens and clients, long jti values and canonical ECDSA
signatures (issue 10, items 4 and 6).

docs/http.md "Tokens (401)" and "Revocation", docs/directives.md
(microshop_admin, "Times").

- exp, nbf and iat are NumericDates from 0 to 253402300799 (9999-12-31):
  anything else is invalid-token, so no arithmetic on them overflows.
- a revocation's exp is bounded the same way: out of range is a clear 400,
  and a 204 always means that the token is refused from then on.
- every jti a token may carry (1 to 1024 bytes) is revocable, and a token
  with a longer one is invalid.
- ES256/384/512 signatures are taken in their canonical form only: r and s
  in [1, n - 1] and s <= n / 2.
- every TIME parameter of a directive is at most 36500d, 100 years
  (nginx -t).
"""

import json
import time
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from microshop import (EC_ORDERS, assert_conf_refused, b64url, b64url_decode,
                       ec_token, mint, problem, raw_token)

TIME_MAX = 253402300799          # 9999-12-31T23:59:59Z
ADMIN_SCOPE = "microshop:admin"
SCOPE = "inventory:read"

CONF = """
microshop_jwt_key %(rsa_pub)s kid=rsa;
microshop_jwt_key %(ec256_pub)s kid=ec256;
microshop_jwt_key %(ec384_pub)s kid=ec384;
microshop_jwt_key %(ec521_pub)s kid=ec521;
microshop_jwt_leeway 30s;

server {
    listen 127.0.0.1:%(port)d;

    location /admin/ {
        microshop_admin;
    }

    location /v1/echo/ {
        microshop_auth on;
        add_header X-Jti $microshop_jti always;
        proxy_pass http://127.0.0.1:%(backend)d;
    }
}
"""

KIDS = {"ES256": "ec256", "ES384": "ec384", "ES512": "ec521", "RS256": "rsa"}


@pytest.fixture(scope="module")
def ec521():
    return ec.generate_private_key(ec.SECP521R1())


@pytest.fixture(scope="module")
def gw(nginx, keys, backend, ec521):
    n = nginx.new()
    n.write_file("conf/ec521.pub", ec521.public_key().public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo).decode())
    n.start(CONF % {"port": n.port, "backend": backend.port,
                    "rsa_pub": keys.rsa_public_pem,
                    "ec256_pub": keys.ec256_public_pem,
                    "ec384_pub": keys.ec384_public_pem,
                    "ec521_pub": n.prefix + "/conf/ec521.pub"},
            workers=2)
    return n


def signing_key(keys, ec521, alg):
    return ec521 if alg == "ES512" else keys.signing_key(alg)


# ------------------------------------------------------------ helpers

def echo_path():
    return "/v1/echo/time/" + uuid.uuid4().hex[:12]


def get(n, token, path=None):
    return n.request("GET", path or echo_path(),
                     headers={"Authorization": "Bearer " + token})


def passes(n, backend, token):
    path = echo_path()
    resp = get(n, token, path)
    assert resp.status_code == 200, (resp.status_code, resp.text[:300])
    assert backend.count("GET " + path) == 1
    return resp


def refused(n, backend, token, detail):
    """401 invalid-token with that detail (and error_description), and the
    backend never saw the request."""
    path = echo_path()
    resp = get(n, token, path)
    assert resp.status_code == 401, (resp.status_code, resp.text[:300])
    doc = problem(resp, "invalid-token")
    assert doc["detail"] == detail, doc
    assert ('error_description="%s"' % detail
            in resp.headers["WWW-Authenticate"]), resp.headers
    assert backend.count("GET " + path) == 0
    return doc


def revoke(n, keys, body):
    """POST /admin/revocations with body: a dict (sent as JSON, non-ASCII
    escaped as \\uXXXX) or bytes sent as they are."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    token = mint(keys, scope=ADMIN_SCOPE, sub="ops", seller=None)
    return n.request("POST", "/admin/revocations", data=data,
                     headers={"Authorization": "Bearer " + token,
                              "Content-Type": "application/json"})


def revoked_is_refused(n, keys, backend, token, jti, exp):
    """Revoke jti with exp: 204, then the token is refused as revoked on
    every worker (from the cache too)."""
    resp = revoke(n, keys, {"jti": jti, "exp": exp})
    assert resp.status_code == 204, (resp.status_code, resp.text)
    for _ in range(4):
        refused(n, backend, token, "token revoked")


def claims_token(keys, text):
    """An ES256 token whose claims are the text % (now, now + 300, a jti),
    as it is (numbers JSON can write but Python would change)."""
    now = int(time.time())
    return raw_token({"alg": "ES256", "kid": "ec256"},
                     text % {"now": now, "later": now + 300,
                             "jti": uuid.uuid4().hex},
                     keys.ec256_private, "ES256")


BASE = '"sub":"u","seller":"s1","scope":"%s","jti":"%%(jti)s"' % SCOPE


# ------------------------------------------------------ time claims bounds

def time_case(claim, value, detail=None):
    if claim == "exp":
        text = "{" + BASE + ',"exp":' + value + "}"
    else:
        text = "{" + BASE + ',"exp":%(later)d,"' + claim + '":' + value + "}"
    return pytest.param(text, detail or "invalid " + claim,
                        id="%s=%s" % (claim, value))


OUT_OF_RANGE = [
    *[time_case(claim, value)
      for claim in ("exp", "nbf", "iat")
      for value in ("-1", "-0.5", "-9223372036854775808", "253402300800",
                    "253402300800.0", "4611686018427387904",
                    "9223372036854775807", "1e300", "-1e300")],
    # beyond what jansson reads as an integer: claims it does not parse
    *[time_case(claim, value, "invalid token claims")
      for claim in ("exp", "nbf", "iat")
      for value in ("9223372036854775808", "-9223372036854775809",
                    "18446744073709551616")],
]


@pytest.mark.parametrize("text,detail", OUT_OF_RANGE)
def test_time_claim_out_of_range_refused(gw, keys, backend, text, detail):
    token = claims_token(keys, text)
    refused(gw, backend, token, detail)
    refused(gw, backend, token, detail)   # never cached


@pytest.mark.parametrize("text", [
    "{" + BASE + ',"exp":253402300799}',
    "{" + BASE + ',"exp":253402300799.5}',
    "{" + BASE + ',"exp":253402300799,"nbf":0,"iat":0}',
    "{" + BASE + ',"exp":253402300799,"nbf":0.5,"iat":%(now)d}',
], ids=["exp-max", "exp-max-real", "nbf-iat-zero", "nbf-real"])
def test_time_claims_at_the_bounds_pass(gw, keys, backend, text):
    token = claims_token(keys, text)
    passes(gw, backend, token)
    passes(gw, backend, token)            # from the cache


def test_token_expiring_in_year_9999_is_revocable(gw, keys, backend):
    jti = "far-" + uuid.uuid4().hex
    token = mint(keys, kid="ec256", jti=jti, exp=TIME_MAX, scope=SCOPE)
    passes(gw, backend, token)
    revoked_is_refused(gw, keys, backend, token, jti, TIME_MAX)


# ------------------------------------------------------ revocation bounds

@pytest.mark.parametrize("exp", [
    b"9223372036854775807", b"4611686018427387904", b"9223372036854775808",
    b"18446744073709551615", b"253402300800", b"253402300800.5", b"1e300",
    b"-1", b"-0.5", b"0", b"0.5", b"-9223372036854775808",
    b'"1700000000"', b"true", b"null", b"[1]", b"{}",
], ids=lambda v: v.decode())
def test_revocation_with_exp_out_of_range_is_400(gw, keys, backend, exp):
    jti = "bad-exp-" + uuid.uuid4().hex
    token = mint(keys, kid="ec256", jti=jti, scope=SCOPE)
    resp = revoke(gw, keys, b'{"jti":"%s","exp":%s}' % (jti.encode(), exp))
    assert resp.status_code == 400, (exp, resp.status_code, resp.text)
    doc = problem(resp, "invalid-request")
    assert "253402300799" in doc["detail"], doc
    # nothing was revoked: the answer says what happened
    passes(gw, backend, token)


@pytest.mark.parametrize("form", ["int", "real", "max", "later"])
def test_revocation_exp_forms_refuse_the_token(gw, keys, backend, form):
    """The original bug: a 204 that did nothing (the expiry overflowed)."""
    jti = "exp-%s-%s" % (form, uuid.uuid4().hex)
    token = mint(keys, kid="ec256", jti=jti, scope=SCOPE)
    exp = json.loads(b64url_decode(token.split(".")[1]))["exp"]
    value = {"int": exp, "real": exp + 0.5, "max": TIME_MAX,
             "later": exp + 86400}[form]
    passes(gw, backend, token)
    revoked_is_refused(gw, keys, backend, token, jti, value)


# ------------------------------------------------------ jti lengths

def jti_of(size, char="j"):
    """A unique jti of size bytes of UTF-8 (char: 1 or 2 bytes)."""
    head = uuid.uuid4().hex
    count = (size - len(head)) // len(char.encode())
    jti = head + char * count
    assert len(jti.encode()) == size, (size, len(jti.encode()))
    return jti


@pytest.mark.parametrize("jti", [
    pytest.param(jti_of(257), id="257-bytes"),
    pytest.param(jti_of(300), id="300-bytes"),
    pytest.param(jti_of(1024), id="1024-bytes"),
    # 1024 bytes of 2-byte UTF-8, sent as \u00e9 escapes (3 KB of body)
    pytest.param(jti_of(1024, "\u00e9"), id="1024-bytes-escaped"),
    pytest.param(uuid.uuid4().hex + '"\\/ <>{}' * 100, id="json-escapes"),
])
def test_every_jti_a_token_carries_is_revocable(gw, keys, backend, jti):
    token = mint(keys, kid="ec256", jti=jti, scope=SCOPE)
    exp = json.loads(b64url_decode(token.split(".")[1]))["exp"]
    passes(gw, backend, token)
    revoked_is_refused(gw, keys, backend, token, jti, exp)


def test_jti_over_1024_bytes_is_invalid_and_not_revocable(gw, keys,
                                                          backend):
    jti = jti_of(1025)
    token = mint(keys, kid="ec256", jti=jti, scope=SCOPE)
    refused(gw, backend, token, "a claim has the wrong type")
    resp = revoke(gw, keys, {"jti": jti, "exp": int(time.time()) + 300})
    assert resp.status_code == 400, resp.text
    problem(resp, "invalid-request")


@pytest.mark.parametrize("jti", ["a\nb", "a\rb", "a\u0000b", "\u007f",
                                 "tab\there", ""])
def test_revocation_of_a_jti_no_token_carries_is_400(gw, keys, jti):
    resp = revoke(gw, keys, {"jti": jti, "exp": int(time.time()) + 300})
    assert resp.status_code == 400, (jti, resp.text)
    problem(resp, "invalid-request")


# ------------------------------------------------------ canonical ECDSA

def signature(token):
    return b64url_decode(token.rsplit(".", 1)[1])


def with_raw(token, sig):
    return token.rsplit(".", 1)[0] + "." + b64url(sig)


def es_token(keys, ec521, alg):
    token = mint(keys, alg=alg, kid=KIDS[alg], scope=SCOPE,
                 key=signing_key(keys, ec521, alg))
    n, size = EC_ORDERS[alg]
    assert int.from_bytes(signature(token)[size:], "big") <= n // 2
    return token


ES_ALGS = ["ES256", "ES384", "ES512"]


@pytest.mark.parametrize("alg", ES_ALGS)
def test_high_s_refused_low_s_passes(gw, keys, backend, ec521, alg):
    for _ in range(3):
        low = es_token(keys, ec521, alg)
        high = ec_token(low, high=True)
        assert high != low
        # refused first: the refusal is not cached, the low form passes
        refused(gw, backend, high, "non-canonical ECDSA signature (high S)")
        passes(gw, backend, low)
        passes(gw, backend, low)
        # and a cached low form does not let the high form in
        refused(gw, backend, high, "non-canonical ECDSA signature (high S)")


def forged(n, size, sig, part, value):
    """sig with r (part 0) or s (part 1) set to value(n)."""
    raw = bytearray(sig)
    number = value(n)
    raw[part * size:(part + 1) * size] = number.to_bytes(size, "big")
    return bytes(raw)


BAD_RS = [
    ("r-zero", 0, lambda n: 0, "invalid signature"),
    ("s-zero", 1, lambda n: 0, "invalid signature"),
    ("r-n", 0, lambda n: n, "invalid signature"),
    ("s-n", 1, lambda n: n, "invalid signature"),
    ("r-n-plus-1", 0, lambda n: n + 1, "invalid signature"),
    ("s-n-plus-1", 1, lambda n: n + 1, "invalid signature"),
    ("s-n-minus-1", 1, lambda n: n - 1,
     "non-canonical ECDSA signature (high S)"),
    ("s-half-plus-1", 1, lambda n: n // 2 + 1,
     "non-canonical ECDSA signature (high S)"),
    # in range and low, but not the signature
    ("s-half", 1, lambda n: n // 2, "invalid signature"),
    ("s-one", 1, lambda n: 1, "invalid signature"),
]


@pytest.mark.parametrize("alg", ES_ALGS)
@pytest.mark.parametrize("case,part,value,detail", BAD_RS,
                         ids=[c[0] for c in BAD_RS])
def test_ecdsa_r_and_s_out_of_range_refused(gw, keys, backend, ec521, alg,
                                            case, part, value, detail):
    token = es_token(keys, ec521, alg)
    n, size = EC_ORDERS[alg]
    if value(n).bit_length() > 8 * size:
        pytest.skip("does not fit in %d bytes" % size)
    refused(gw, backend,
            with_raw(token, forged(n, size, signature(token), part, value)),
            detail)


# An issuer that does not normalize S (OpenSSL, PyJWT, libjwt leave a high S
# in about half of their signatures): ecdsa_s=any on its keys.

ANY_CONF = """
microshop_jwt_key %(ec256_pub)s kid=ec256 ecdsa_s=any;
microshop_jwt_key %(ec384_pub)s kid=ec384 ecdsa_s=low;
microshop_jwt_jwks %(jwks)s ecdsa_s=any;

server {
    listen 127.0.0.1:%(port)d;

    location /v1/echo/ {
        microshop_auth on;
        proxy_pass http://127.0.0.1:%(backend)d;
    }
}
"""


@pytest.fixture(scope="module")
def gw_any(nginx, keys, backend):
    n = nginx.new()
    n.start(ANY_CONF % {"port": n.port, "backend": backend.port,
                        "ec256_pub": keys.ec256_public_pem,
                        "ec384_pub": keys.ec384_public_pem,
                        "jwks": keys.jwks_file})
    return n


@pytest.mark.parametrize("kid", ["ec256", "ec-jwks"])
def test_ecdsa_s_any_takes_both_forms(gw_any, keys, backend, kid):
    low = mint(keys, alg="ES256", kid=kid, scope=SCOPE)
    high = ec_token(low, high=True)
    assert ec_token(low) == low and high != low
    passes(gw_any, backend, high)
    passes(gw_any, backend, low)


def test_ecdsa_s_any_still_refuses_r_and_s_out_of_range(gw_any, keys,
                                                        backend):
    token = mint(keys, alg="ES256", kid="ec256", scope=SCOPE)
    n, size = EC_ORDERS["ES256"]
    for part, value in ((1, n), (1, 0), (0, n + 1)):
        refused(gw_any, backend,
                with_raw(token, forged(n, size, signature(token), part,
                                       lambda _n: value)),
                "invalid signature")


def test_ecdsa_s_low_is_the_default_and_can_be_said(gw_any, keys, backend):
    low = es_token(keys, None, "ES384")
    refused(gw_any, backend, ec_token(low, high=True),
            "non-canonical ECDSA signature (high S)")
    passes(gw_any, backend, low)


@pytest.mark.parametrize("line,needles", [
    ("microshop_jwt_key %(ec256)s ecdsa_s=maybe; # marker",
     ['"ecdsa_s=maybe"', '"low" or "any"']),
    ("microshop_jwt_key %(ec256)s ecdsa_s=; # marker",
     ['invalid parameter "ecdsa_s="']),
    ("microshop_jwt_key %(rsa)s kid=r ecdsa_s=any; # marker",
     ["ecdsa_s= is for ES256/ES384/ES512 keys", "holds none"]),
    ("microshop_jwt_key %(hs)s kid=h alg=HS256 ecdsa_s=any; # marker",
     ["ecdsa_s= is for ES256/ES384/ES512 keys"]),
    ("microshop_jwt_jwks %(jwks)s ecdsa_s=ANY; # marker",
     ['"ecdsa_s=ANY"']),
    ("microshop_jwt_jwks %(jwks)s kid=x; # marker", ['"kid=x"']),
], ids=["bad-value", "empty", "rsa-key", "hmac-key", "case", "jwks-param"])
def test_ecdsa_s_refused_by_nginx_t(nginx, keys, line, needles):
    n = nginx.new()
    conf = line % {"ec256": keys.ec256_public_pem,
                   "rsa": keys.rsa_public_pem, "hs": keys.hs256_file,
                   "jwks": keys.jwks_file} + "\n"
    rc, err, number = n.test_config_at(conf, "# marker")
    assert_conf_refused(rc, err, number, *needles)


# ------------------------------------------------------ directive times

SERVER = """
server {
    listen 127.0.0.1:%(port)d;
    location / {
        microshop_auth on;
        %(directive)s
        root html;
    }
}
"""


@pytest.fixture(scope="module")
def conf_test(nginx, keys):
    n = nginx.new()

    def check(http, directive):
        conf = ("microshop_jwt_key %s;\n" % keys.ec256_public_pem + http
                + SERVER % {"port": n.port, "directive": directive})
        return n.test_config_at(conf, "# marker")

    return check


TIMES = [
    ("", "microshop_idempotency on ttl=%s; # marker"),
    ("", "microshop_idempotency on lock=%s; # marker"),
    ("", "microshop_inventory_cache sku=$arg_sku ttl=%s; # marker"),
    ("", "microshop_inventory_cache sku=$arg_sku stale_if_error=%s;"
         " # marker"),
    ("", "microshop_reserve on hold=%s; # marker"),
    ("microshop_token_class staff max_ttl=%s; # marker\n", ""),
    ("microshop_audit_log logs/a.log flush=%s; # marker\n", ""),
]
TIME_IDS = ["idem-ttl", "idem-lock", "cache-ttl", "cache-stale",
            "reserve-hold", "class-max-ttl", "audit-flush"]


@pytest.mark.parametrize("http,directive", TIMES, ids=TIME_IDS)
@pytest.mark.parametrize("value", ["36501d", "5256000000m",
                                   "106751991167d"])
def test_directive_time_over_100y_refused(conf_test, http, directive,
                                          value):
    """106751991167d is the longest time nginx reads in milliseconds:
    now + it overflowed."""
    rc, err, line = conf_test(http.replace("%s", value),
                              directive.replace("%s", value))
    assert_conf_refused(rc, err, line, value,
                        "the longest time is 36500d (100 years)")


@pytest.mark.parametrize("http,directive", TIMES, ids=TIME_IDS)
def test_directive_time_of_100y_accepted(conf_test, http, directive):
    rc, err, _ = conf_test(http.replace("%s", "36500d"),
                           directive.replace("%s", "36500d"))
    assert rc == 0, err
