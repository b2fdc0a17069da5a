"""A crowd of tokens the gateway has never seen, through the real nginx
(issue 14, docs/operations.md "The cold token path").

Each key's verifier is set up once and kept across verifications (the
HMAC context, the public key's verification context, the ES256 table of
the key's multiples), and the header and claims are read by the one-pass
JSON reader.  One worker, so that every token goes through the same
contexts: valid, damaged, high-S and foreign-key tokens of every algorithm,
interleaved, must each get their own right answer, as must claims with
escapes; every valid token reaches the backend with its own identity.
"""

import json
import re
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from microshop import (b64url_decode, ec_token, http_session, mint, problem,
                       raw_token)

CONF = """
microshop_jwt_key %(rsa_pub)s kid=rs;
microshop_jwt_key %(ec_pub)s kid=es;
microshop_jwt_key %(ec384_pub)s kid=es384;
microshop_jwt_key %(hs_file)s kid=hs alg=HS256;

server {
    listen 127.0.0.1:%(port)d;
    large_client_header_buffers 4 32k;

    location = /status {
        microshop_status;
    }

    location /v1/echo/ {
        microshop_auth on;
        proxy_set_header X-Var-Seller $microshop_seller;
        proxy_set_header X-Var-Subject $microshop_subject;
        proxy_set_header X-Var-Jti $microshop_jti;
        proxy_pass http://127.0.0.1:%(backend)d;
    }
}
"""

KIDS = {"RS256": "rs", "ES256": "es", "ES384": "es384", "HS256": "hs"}


@pytest.fixture(scope="module")
def gw(nginx, keys, backend):
    n = nginx.new()
    n.start(CONF % {"port": n.port, "backend": backend.port,
                    "rsa_pub": keys.rsa_public_pem,
                    "ec_pub": keys.ec256_public_pem,
                    "ec384_pub": keys.ec384_public_pem,
                    "hs_file": keys.hs256_file}, workers=1)
    return n


@pytest.fixture(scope="module")
def session():
    s = http_session()
    yield s
    s.close()


def counter(gw, session, name):
    text = session.get(gw.url("/status"), timeout=10).text
    m = re.search(r"^%s (\d+)$" % re.escape(name), text, re.M)
    assert m, "%s missing" % name
    return int(m.group(1))


def get(gw, session, path, token):
    return session.get(gw.url(path), timeout=10,
                       headers={"Authorization": "Bearer " + token})


def damaged(token):
    """One character of the signature changed (still base64url)."""
    head, sig = token.rsplit(".", 1)
    i = len(sig) // 2
    return head + "." + sig[:i] + ("A" if sig[i] != "A" else "B") + sig[i + 1:]


def foreign(keys, alg, **claims):
    """Signed by another key than the gateway's, with the gateway's kid."""
    other = {"RS256": None, "HS256": b"another-secret-another-secret-32",
             "ES256": ec.generate_private_key(ec.SECP256R1()),
             "ES384": ec.generate_private_key(ec.SECP384R1())}[alg]
    if other is None:
        other = rsa.generate_private_key(65537, 2048)
    return mint(keys, alg, kid=KIDS[alg], key=other, **claims)


@pytest.mark.parametrize("alg", ["ES256", "ES384", "RS256", "HS256"])
def test_crowd_of_new_tokens(gw, session, keys, backend, alg):
    n = 40
    before = counter(gw, session, "microshop_token_verifications_total")
    others = [foreign(keys, alg) for _ in range(3)]
    sent = 0

    for i in range(n):
        sub = "user-%s-%d" % (alg, i)
        token = mint(keys, alg, kid=KIDS[alg], sub=sub)
        path = "/v1/echo/cold/%s/%d" % (alg, i)

        resp = get(gw, session, path, token)
        assert resp.status_code == 200, resp.text
        echoed = resp.json()["headers"]
        assert echoed["x-var-subject"] == sub
        assert echoed["x-var-seller"] == "s1"

        # a new token with its signature damaged, each time a new one
        bad = damaged(mint(keys, alg, kid=KIDS[alg], sub=sub + "-bad"))
        resp = get(gw, session, path, bad)
        problem(resp, "invalid-token")
        assert resp.status_code == 401
        assert 'error_description="invalid signature"' in \
            resp.headers["WWW-Authenticate"]

        # a token another key signed, under the gateway's kid
        resp = get(gw, session, path, others[i % 3])
        assert resp.status_code == 401
        sent += 3

        if alg.startswith("ES"):
            # the same token with its S in the high form: refused
            high = ec_token(mint(keys, alg, kid=KIDS[alg], sub=sub + "-h"),
                            high=True)
            resp = get(gw, session, path, high)
            assert resp.status_code == 401
            assert "high S" in resp.headers["WWW-Authenticate"]
            sent += 1

        # and the first token again: from the cache now
        resp = get(gw, session, path, token)
        assert resp.status_code == 200
        assert resp.json()["headers"]["x-var-subject"] == sub

    # every new token was verified (the foreign ones after their first
    # refusal too: a refused token is never cached)
    after = counter(gw, session, "microshop_token_verifications_total")
    assert after - before == sent


ESCAPED = (',"\\u0073eller":"s\\u0031","sub":"caf\\u00e9-\\ud83d\\ude00",'
           '"x":{"\\u0061":["\\u0062",{"c":"\\u0064"}]},"y":"\\"\\\\"}')


def escaped_token(keys, drop=()):
    """mint()'s claims (less drop) with ESCAPED appended, as JSON text."""
    doc = json.loads(b64url_decode(mint(keys, "HS256", kid="hs")
                                   .split(".")[1]))
    for name in drop:
        del doc[name]
    text = json.dumps(doc, separators=(",", ":"))[:-1] + ESCAPED
    return raw_token({"alg": "HS256", "kid": "hs"}, text,
                     key=keys.hs256_secret, alg="HS256")


def test_claims_with_escapes(gw, session, keys):
    """Escaped member names and values, nested members, one after another:
    the reader's scratch buffer must not mix them up."""
    # "seller" given twice (once escaped) is a duplicate: refused
    resp = get(gw, session, "/v1/echo/esc/1", escaped_token(keys))
    assert resp.status_code == 401
    assert 'error_description="invalid token claims"' in \
        resp.headers["WWW-Authenticate"]

    resp = get(gw, session, "/v1/echo/esc/2",
               escaped_token(keys, drop=("seller", "sub")))
    assert resp.status_code == 200, resp.text
    headers = resp.json()["headers"]
    assert headers["x-var-seller"] == "s1"
    assert headers["x-var-subject"].encode("latin-1").decode("utf-8") == \
        "caf\u00e9-\U0001F600"


@pytest.mark.parametrize("claims_text, why", [
    ('{"sub":"a","exp":99999999999,"x":"\\ud800"}', "invalid token claims"),
    ('{"sub":"a","exp":99999999999,"x":"\\u0000"}', "invalid token claims"),
    ('{"sub":"a","exp":99999999999,"x":01}', "invalid token claims"),
    ('{"sub":"a","exp":99999999999,' + '"x":' + "[" * 70 + "]" * 70 + "}",
     "invalid token claims"),
    ('{"sub":"a","exp":99999999999}x', "invalid token claims"),
    (b'{"sub":"a","exp":99999999999,"x":"\xc0\xaf"}', "invalid token claims"),
])
def test_bad_claims_json(gw, session, keys, claims_text, why):
    token = raw_token({"alg": "HS256", "kid": "hs"}, claims_text,
                      key=keys.hs256_secret, alg="HS256")
    resp = get(gw, session, "/v1/echo/badjson/%s" % uuid.uuid4().hex, token)
    problem(resp, "invalid-token")
    assert 'error_description="%s"' % why in resp.headers["WWW-Authenticate"]


def test_bad_header_json(gw, session, keys):
    for header in ('{"alg":"HS256","kid":"hs","kid":"hs"}',
                   '{"alg":"HS256","kid":"hs"',
                   '{"alg":"HS\\u0032\\u00356","kid":"hs"} x'):
        token = raw_token(header, {"sub": "a", "exp": 99999999999},
                          key=keys.hs256_secret, alg="HS256")
        resp = get(gw, session, "/v1/echo/badhdr/1", token)
        assert resp.status_code == 401
        assert 'error_description="invalid token header"' in \
            resp.headers["WWW-Authenticate"]

    # an escaped alg name is the same name
    token = raw_token('{"alg":"HS\\u0032\\u00356","kid":"hs"}',
                      {"sub": "a", "seller": "s1",
                       "exp": 99999999999, "scope": "inventory:read"},
                      key=keys.hs256_secret, alg="HS256")
    resp = get(gw, session, "/v1/echo/badhdr/2", token)
    assert resp.status_code == 200, resp.text
