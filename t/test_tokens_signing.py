"""The gateway's own signing keys (microshop_jwt_signing_key) and their
JWKS (microshop_jwks): docs/tokens.md "The gateway's signing key and its
JWKS", docs/directives.md.

One instance, reloaded for the rotation: its keys are an ES256 key (PKCS#8,
the one that signs, alg= left to its default), a retired ES384 key
(traditional "EC PRIVATE KEY") and a retired RS256 key, next to a
microshop_jwt_key of an identity provider.  Tokens are signed here with
PyJWT and the private PEM, as the gateway's mint would sign them, and must
pass a protected location (proxy_pass to the reference backend); a backend
verifies them with the JWKS (PyJWT's JWK support).  What `nginx -t`
refuses is at the end.
"""

import os
import re

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from microshop import (assert_conf_refused, mint, problem,
                       world_readable_dir)

JWKS_PATH = "/.well-known/jwks.json"
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

CONF = """
%(signing)s
microshop_jwt_key %(idp_pub)s kid=idp;

server {
    listen 127.0.0.1:%(port)d;

    location = %(jwks)s {
        microshop_jwks;
    }

    location = /jwks-90s {
        microshop_jwks max_age=90s;
    }

    location = /policy {
        microshop_policy;
    }

    location /v1/echo/ {
        microshop_auth on;
        proxy_pass http://127.0.0.1:%(backend)d;
    }
}
"""


class GatewayKeys:
    """The gateway's keys, as files of mode 0600 in dir."""

    def __init__(self, dir):
        self.dir = dir
        pkcs8 = serialization.PrivateFormat.PKCS8
        traditional = serialization.PrivateFormat.TraditionalOpenSSL
        self.private = {
            "gw-es256": ec.generate_private_key(ec.SECP256R1()),
            "gw-es384": ec.generate_private_key(ec.SECP384R1()),
            "gw-rsa": rsa.generate_private_key(65537, 2048),
            "gw-new": ec.generate_private_key(ec.SECP256R1()),
            "rsa-1024": rsa.generate_private_key(65537, 1024),
        }
        self.alg = {"gw-es256": "ES256", "gw-es384": "ES384",
                    "gw-rsa": "RS256", "gw-new": "ES256"}
        self.file = {}
        for kid, key in self.private.items():
            form = traditional if kid == "gw-es384" else pkcs8
            self.file[kid] = self.write(kid + ".key", key.private_bytes(
                serialization.Encoding.PEM, form,
                serialization.NoEncryption()))
        self.file["encrypted"] = self.write(
            "encrypted.key", self.private["gw-es256"].private_bytes(
                serialization.Encoding.PEM, pkcs8,
                serialization.BestAvailableEncryption(b"passphrase")))
        self.file["public"] = self.write(
            "public.pem", self.private["gw-es256"].public_key().public_bytes(
                serialization.Encoding.PEM,
                serialization.PublicFormat.SubjectPublicKeyInfo))

    def write(self, name, data, mode=0o600):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
        return path

    def directives(self, *kids):
        """microshop_jwt_signing_key lines, the first kid signs; alg= is
        left out for ES256 (the default)."""
        lines = []
        for kid in kids:
            alg = "" if self.alg[kid] == "ES256" else " alg=" + self.alg[kid]
            lines.append("microshop_jwt_signing_key %s kid=%s%s;"
                         % (self.file[kid], kid, alg))
        return "\n".join(lines)

    def token(self, keys, kid, signed_by=None, **claims):
        """A token of the gateway's kind (typ at+jwt) signed with the
        private key of signed_by (default: kid's own) and carrying kid."""
        signer = signed_by or kid
        return mint(keys, alg=self.alg[signer], kid=kid,
                    key=self.private[signer], headers={"typ": "at+jwt"},
                    **claims)


@pytest.fixture(scope="module")
def gw_keys():
    path = world_readable_dir("microshop-signing-")
    yield GatewayKeys(path)
    for name in os.listdir(path):
        os.unlink(os.path.join(path, name))
    os.rmdir(path)


@pytest.fixture(scope="module")
def conf(gw_keys, keys, backend):
    def render(n, *kids):
        return CONF % {"signing": gw_keys.directives(*kids),
                       "idp_pub": keys.ec256_public_pem, "port": n.port,
                       "jwks": JWKS_PATH, "backend": backend.port}
    return render


@pytest.fixture(scope="module")
def gateway(nginx, conf):
    n = nginx.new()
    n.start(conf(n, "gw-es256", "gw-es384", "gw-rsa"))
    return n


def jwks_of(n):
    r = n.get(JWKS_PATH)
    assert r.status_code == 200, r.text
    return r


def passes(n, token):
    """The token reaches the backend as its own subject; returns what the
    backend received."""
    r = n.get("/v1/echo/signed", token=token)
    assert r.status_code == 200, r.text
    echo = r.json()
    assert echo["headers"]["x-microshop-subject"] == "user-1"
    return echo


def refused(n, token):
    r = n.get("/v1/echo/signed", token=token)
    assert r.status_code == 401, r.text
    problem(r, "invalid-token")
    return r


# ------------------------------------------------------------------ JWKS

def test_jwks_publishes_every_signing_key(gateway, gw_keys):
    r = jwks_of(gateway)
    assert r.headers["Content-Type"] == "application/jwk-set+json"
    assert r.headers["Cache-Control"] == "max-age=300"
    assert re.fullmatch(r'"[A-Za-z0-9_-]{22}"', r.headers["ETag"])
    doc = r.json()
    assert [k["kid"] for k in doc["keys"]] == ["gw-es256", "gw-es384",
                                               "gw-rsa"]
    for jwk in doc["keys"]:
        assert not PRIVATE_MEMBERS & set(jwk), jwk
        assert jwk["use"] == "sig"
        assert jwk["alg"] == gw_keys.alg[jwk["kid"]]
    assert doc["keys"][0]["crv"] == "P-256"
    assert doc["keys"][1]["crv"] == "P-384"
    assert doc["keys"][2]["kty"] == "RSA"

    # a backend's JOSE library reads it; the keys are the PEMs' public keys
    jwk_set = jwt.PyJWKSet.from_dict(doc)
    assert len(jwk_set.keys) == 3
    for jwk in jwk_set.keys:
        want = gw_keys.private[jwk.key_id].public_key().public_numbers()
        assert jwk.key.public_numbers() == want
        assert jwk.public_key_use == "sig"
    # one JWK at a time too (jwt.algorithms ... from_jwk)
    for jwk, family in zip(doc["keys"], (jwt.algorithms.ECAlgorithm,
                                         jwt.algorithms.ECAlgorithm,
                                         jwt.algorithms.RSAAlgorithm)):
        want = gw_keys.private[jwk["kid"]].public_key().public_numbers()
        assert family.from_jwk(jwk).public_numbers() == want
    # and the identity provider's key, a verification key only, is not there
    assert "idp" not in [k.key_id for k in jwk_set.keys]


def test_jwks_etag_304_head_405_max_age(gateway):
    r = jwks_of(gateway)
    etag, body = r.headers["ETag"], r.content

    for inm in (etag, "W/" + etag, '"other", ' + etag, "*"):
        r = gateway.get(JWKS_PATH, headers={"If-None-Match": inm})
        assert r.status_code == 304, inm
        assert r.content == b""
        assert r.headers["ETag"] == etag
        assert r.headers["Cache-Control"] == "max-age=300"

    r = gateway.get(JWKS_PATH, headers={"If-None-Match": '"other"'})
    assert r.status_code == 200 and r.content == body

    r = gateway.request("HEAD", JWKS_PATH)
    assert r.status_code == 200 and r.content == b""
    assert r.headers["Content-Length"] == str(len(body))
    assert r.headers["ETag"] == etag

    for method in ("POST", "PUT", "DELETE"):
        r = gateway.request(method, JWKS_PATH, data=b"{}")
        assert r.status_code == 405, method
        assert r.headers["Allow"] == "GET, HEAD"
        problem(r, "method-not-allowed")

    r = gateway.get("/jwks-90s")
    assert r.status_code == 200 and r.content == body
    assert r.headers["Cache-Control"] == "max-age=90"


# ------------------------------------------------- tokens of the gateway

@pytest.mark.parametrize("kid", ["gw-es256", "gw-es384", "gw-rsa"])
def test_gateway_tokens_pass_and_backends_verify_them(gateway, gw_keys,
                                                      keys, kid, clean):
    token = gw_keys.token(keys, kid)
    passes(gateway, token)

    # what a backend does: the key of the token's kid in the JWKS
    jwk_set = jwt.PyJWKSet.from_dict(jwks_of(gateway).json())
    claims = jwt.decode(token, key=jwk_set[kid].key,
                        algorithms=[gw_keys.alg[kid]])
    assert claims["sub"] == "user-1"


def test_wrong_or_unknown_kid_is_refused(gateway, gw_keys, keys):
    # signed by one gateway key, naming another of the same alg family or
    # one nobody has
    refused(gateway, gw_keys.token(keys, "gw-es384", signed_by="gw-es256"))
    refused(gateway, gw_keys.token(keys, "gw-es256", signed_by="gw-new"))
    refused(gateway, gw_keys.token(keys, "gw-rsa", signed_by="gw-es256"))
    r = refused(gateway, gw_keys.token(keys, "nobody", signed_by="gw-es256"))
    assert "kid" in r.json()["detail"]
    # a gateway key's kid on a token of the identity provider's key
    refused(gateway, mint(keys, alg="ES256", kid="gw-es256"))
    # the identity provider's own tokens still pass
    passes(gateway, mint(keys, alg="ES256", kid="idp"))


def test_policy_lists_the_signing_keys(gateway):
    r = gateway.get("/policy")
    assert r.status_code == 200, r.text
    doc = r.json()
    signing = doc["signing_keys"]
    assert [(k["kid"], k["alg"], k["signs"]) for k in signing] == [
        ("gw-es256", "ES256", True), ("gw-es384", "ES384", False),
        ("gw-rsa", "RS256", False)]
    # the same thumbprints as their entries among the verification keys
    thumbprints = {k["kid"]: k["thumbprint"] for k in doc["keys"]}
    for k in signing:
        assert k["thumbprint"] == thumbprints[k["kid"]]
    # no key material, nor where it lives
    assert "PRIVATE" not in r.text and ".key" not in r.text


def test_rotation_of_the_gateway_key(gateway, conf, gw_keys, keys):
    """Add the new key first (it signs), keep the old one until its tokens
    expired, then drop it."""
    old_token = gw_keys.token(keys, "gw-es256")
    passes(gateway, old_token)            # verified now, and cached
    etag = jwks_of(gateway).headers["ETag"]

    try:
        gateway.reload(conf(gateway, "gw-new", "gw-es256"))
        r = jwks_of(gateway)
        assert [k["kid"] for k in r.json()["keys"]] == ["gw-new", "gw-es256"]
        assert r.headers["ETag"] != etag
        assert gateway.get(JWKS_PATH, headers={"If-None-Match": etag}) \
            .status_code == 200
        signs = [k["kid"] for k in gateway.get("/policy").json()
                 ["signing_keys"] if k["signs"]]
        assert signs == ["gw-new"]
        passes(gateway, old_token)
        passes(gateway, gw_keys.token(keys, "gw-new"))

        gateway.reload(conf(gateway, "gw-new"))
        assert [k["kid"] for k in jwks_of(gateway).json()["keys"]] == [
            "gw-new"]
        # the cached verification of the old token does not outlive its key
        refused(gateway, old_token)
        passes(gateway, gw_keys.token(keys, "gw-new"))
    finally:
        gateway.reload(conf(gateway, "gw-es256", "gw-es384", "gw-rsa"))


# --------------------------------------------------------------- nginx -t

SERVER = """
server {
    listen 127.0.0.1:%d;
    location = /jwks {
        microshop_jwks%s;
    }
}
"""


@pytest.fixture(scope="module")
def conf_test(nginx):
    n = nginx.new()

    def check(directives, marker, jwks_args=""):
        return n.test_config_at(directives + SERVER % (n.port, jwks_args),
                                marker)
    return check


def signing(path, params):
    return "microshop_jwt_signing_key %s %s; # signing\n" % (path, params)


def refused_case(case_id, directives, *needles, marker="# signing",
                 jwks_args=""):
    return pytest.param(directives, marker, needles, jwks_args, id=case_id)


REFUSED = [
    refused_case("missing-file", signing("{dir}/no-such.key", "kid=a"),
                 "{dir}/no-such.key", "cannot open"),
    refused_case("public-key", signing("{public}", "kid=a"),
                 "{public}", "no private key"),
    refused_case("secret-file", signing("{hs256}", "kid=a"), "{hs256}",
                 "not a PEM private key"),
    refused_case("encrypted", signing("{encrypted}", "kid=a"),
                 "{encrypted}", "encrypted"),
    refused_case("missing-kid", signing("{es256}", "alg=ES256"),
                 "microshop_jwt_signing_key", "kid="),
    refused_case("empty-kid", signing("{es256}", "kid="), "kid="),
    refused_case("p256-as-es384", signing("{es256}", "kid=a alg=ES384"),
                 "{es256}", "P-384"),
    refused_case("p384-as-default-es256", signing("{es384}", "kid=a"),
                 "{es384}", "P-256"),
    refused_case("rsa-as-es256", signing("{rsa}", "kid=a"), "{rsa}",
                 "RSA key"),
    refused_case("ec-as-rs256", signing("{es256}", "kid=a alg=RS256"),
                 "{es256}", "EC key"),
    refused_case("rsa-1024", signing("{rsa1024}", "kid=a alg=RS256"),
                 "{rsa1024}", "too small"),
    *[refused_case("hmac-" + alg, signing("{es256}", "kid=a alg=" + alg),
                   alg, "HMAC")
      for alg in ("HS256", "HS512")],
    *[refused_case("unknown-alg-" + alg,
                   signing("{es256}", "kid=a alg=" + alg), alg,
                   "ES256, ES384 or RS256")
      for alg in ("none", "PS256", "ES512", "es256")],
    refused_case("unknown-parameter", signing("{es256}", "kid=a use=sig"),
                 "use=sig"),
    refused_case("kid-of-a-jwt-key",
                 "microshop_jwt_key {idp_pub} kid=same;\n"
                 + signing("{es256}", "kid=same"),
                 "microshop_jwt_signing_key", "same", "microshop_jwt_key"),
    refused_case("kid-then-a-jwt-key",
                 signing("{es256}", "kid=same")
                 + "microshop_jwt_key {idp_pub} kid=same; # key\n",
                 "{idp_pub}", "same", marker="# key"),
    refused_case("kid-of-a-jwks-key",
                 "microshop_jwt_jwks {jwks};\n"
                 + signing("{es256}", "kid=ec-jwks"), "ec-jwks"),
    refused_case("kid-twice",
                 "microshop_jwt_signing_key {es256} kid=same;\n"
                 + signing("{es384}", "kid=same alg=ES384"),
                 "same", "signing key of line"),
    refused_case("jwks-without-signing-key",
                 "microshop_jwt_key {idp_pub} kid=idp;\n",
                 "microshop_jwks", "microshop_jwt_signing_key",
                 marker="microshop_jwks"),
    refused_case("jwks-bad-max-age", signing("{es256}", "kid=a"),
                 "max_age=soon", marker="microshop_jwks",
                 jwks_args=" max_age=soon"),
    refused_case("jwks-max-age-over-7d", signing("{es256}", "kid=a"),
                 "max_age=8d", marker="microshop_jwks",
                 jwks_args=" max_age=8d"),
    refused_case("jwks-unknown-parameter", signing("{es256}", "kid=a"),
                 "ttl=1m", marker="microshop_jwks", jwks_args=" ttl=1m"),
]


def placeholders(gw_keys, keys):
    return {"dir": gw_keys.dir, "public": gw_keys.file["public"],
            "encrypted": gw_keys.file["encrypted"],
            "es256": gw_keys.file["gw-es256"],
            "es384": gw_keys.file["gw-es384"], "rsa": gw_keys.file["gw-rsa"],
            "rsa1024": gw_keys.file["rsa-1024"],
            "idp_pub": keys.ec256_public_pem, "jwks": keys.jwks_file,
            "hs256": keys.hs256_file}


@pytest.mark.parametrize("directives,marker,needles,jwks_args", REFUSED)
def test_refused(conf_test, gw_keys, keys, directives, marker, needles,
                 jwks_args):
    values = placeholders(gw_keys, keys)
    rc, err, line = conf_test(directives.format(**values), marker, jwks_args)
    assert_conf_refused(rc, err, line,
                        *[needle.format(**values) for needle in needles])
    # never any key material in a message
    assert "PRIVATE" not in err and "BEGIN" not in err


def test_key_others_can_read_is_warned_about(conf_test, gw_keys):
    data = open(gw_keys.file["gw-es256"], "rb").read()
    path = gw_keys.write("readable.key", data, mode=0o644)
    rc, err, line = conf_test(signing(path, "kid=a"), "# signing")
    assert rc == 0, err
    assert re.search(r"\[warn\].*%s.*chmod 600.*nginx\.conf:%d"
                     % (re.escape(path), line), err), err

    rc, err, _ = conf_test(signing(gw_keys.file["gw-es256"], "kid=a"), None)
    assert rc == 0, err
    assert "[warn]" not in err, err
