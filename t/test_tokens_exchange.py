"""The tokens the gateway mints: the token exchange for staff (RFC 8693,
microshop_token_exchange), seller onboarding (POST <admin>/sellers/<seller>/
tokens) and `microshop-token exchange`.

docs/tokens.md "Token exchange for staff", "Seller onboarding", "The token
tool"; docs/http.md "The token endpoint".  Every minted token's signature is
checked here with PyJWT against the public half of the gateway's signing key.

One nginx for the module, two servers:
  main   the exchange locations (class ceiling, scopes= ceiling, admin
         listed, rate limited, a small body buffer, require_scope=), the
         protected seller routes towards the reference backend, the admin
         API, the status page; claim names changed by microshop_jwt_claims,
         so that the minted tokens are read back under those names
  bare   no microshop_jwt_issuer (the minted token has no iss), and
         microshop_auth on at server level, which the exchange location
         does not take up
"""

import json
import os
import re
import subprocess
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import harness
from microshop import (assert_conf_refused, b64url, free_port,
                       http_session, mint, problem, wait_for)

GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
ADMIN = "microshop:admin"
LEAD_SCOPE = "staff:issue orders:write inventory:read inventory:write"
IDP = "https://idp.example"
GW = "https://gw.example"
TOOL = os.path.join(harness.REPO, "tools", "microshop-token")

# RFC 6749 5.2: error_description is %x20-21 / %x23-5B / %x5D-7E
DESCRIPTION = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]+")

CONF = """
microshop_jwt_key %(idp_pub)s kid=idp;
microshop_jwt_signing_key %(gw_key)s kid=gw alg=ES256;
microshop_jwt_claims seller=shop scope=scp class=cls tier=lvl;
microshop_jwt_leeway 30s;

microshop_token_class lead max_ttl=8h
    scopes=staff:issue,orders:write,inventory:read,inventory:write,reports:read,microshop:admin;
microshop_token_class staff max_ttl=15m
    scopes=orders:write,inventory:read,inventory:write,microshop:admin;
microshop_token_class integration max_ttl=30d
    scopes=inventory:read,inventory:write;
microshop_token_class default max_ttl=1d;

microshop_rate_tier default rate=6000r/m burst=1000;
microshop_rate_tier tiny rate=1r/m burst=2;

microshop_audit_log %(prefix)s/logs/audit.log;

server {
    listen 127.0.0.1:%(port)d;
    microshop_jwt_issuer %(gw)s %(idp)s;

    location = /status {
        microshop_status;
    }

    location = /policy {
        microshop_policy;
    }

    location /admin/ {
        microshop_admin;
    }

    location = /token {
        microshop_token_exchange class=staff;
    }

    location = /token/ceiling {
        microshop_token_exchange class=staff ttl=5m
                                 scopes=inventory:read,orders:write;
    }

    location = /token/admin {
        microshop_token_exchange class=staff
                                 scopes=inventory:read,microshop:admin;
    }

    location = /token/limited {
        microshop_rate_limit on;
        microshop_token_exchange class=staff;
    }

    location = /token/small {
        client_body_buffer_size 128;
        microshop_token_exchange class=staff;
    }

    location = /token/reports {
        microshop_token_exchange class=lead ttl=1h
                                 require_scope=reports:read;
    }

    location ~ ^/v1/sellers/(?<seller>[^/]+)/ {
        microshop_auth on;
        microshop_seller $seller;
        microshop_require_scope GET,HEAD inventory:read;
        microshop_require_scope POST orders:write;
        proxy_pass http://127.0.0.1:%(backend)d;
    }
}

server {
    listen 127.0.0.1:%(bare)d;
    microshop_auth on;

    location = /token {
        microshop_token_exchange class=staff;
    }
}
"""


# ------------------------------------------------------------ instance

@pytest.fixture(scope="module")
def gw_key(keys):
    """The gateway's signing key (P-256): (private PEM path, public PEM)."""
    private = ec.generate_private_key(ec.SECP256R1())
    path = os.path.join(keys.dir, "gateway-signing.key")
    with open(path, "wb") as f:
        f.write(private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
    # read by the master as it reads the configuration: nobody else
    os.chmod(path, 0o600)
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo)
    return path, public


def params(n, keys, backend, gw_key, **kw):
    p = {"port": n.port, "bare": n.bare, "prefix": n.prefix,
         "idp_pub": keys.ec256_public_pem, "gw_key": gw_key[0],
         "backend": backend.port, "gw": GW, "idp": IDP}
    p.update(kw)
    return p


@pytest.fixture(scope="module")
def gw(nginx, keys, backend, gw_key):
    n = nginx.new()
    n.bare = free_port()
    while n.bare == n.port:
        n.bare = free_port()
    n.start(CONF % params(n, keys, backend, gw_key))
    n.gw_public = gw_key[1]
    return n


# ------------------------------------------------------------- helpers

def lead(keys, scope=LEAD_SCOPE, seller="s1", cls="lead", ttl=3600,
         tier=None, **claims):
    """A staff lead's token from the identity provider (kid idp), under
    the claim names of CONF (shop, scp, cls, lvl)."""
    base = {"iss": IDP, "sub": "lead-1", "seller": None, "scope": None,
            "shop": seller, "scp": scope, "cls": cls, "lvl": tier}
    base.update(claims)
    return mint(keys, alg="ES256", kid="idp", ttl=ttl, **base)


def exchange(n, subject, path="/token", scope=None, actor=None, port=None,
             **extra):
    form = {"grant_type": GRANT, "subject_token": subject,
            "subject_token_type": ACCESS}
    if scope is not None:
        form["scope"] = scope
    if actor is not None:
        form["actor"] = actor
    form.update(extra)
    form = {k: v for k, v in form.items() if v is not None}
    if port is None:
        return n.post(path, data=form)
    with http_session() as s:
        return s.post("http://127.0.0.1:%d%s" % (port, path), data=form,
                      timeout=30)


def issued(resp, gw, audience=None):
    """The 200 answer of RFC 8693 2.2.1: (answer, claims verified with
    the gateway's public key)."""
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["Pragma"] == "no-cache"
    doc = resp.json()
    assert set(doc) == {"access_token", "issued_token_type", "token_type",
                        "expires_in", "scope"}, doc
    assert doc["issued_token_type"] == ACCESS
    assert doc["token_type"] == "Bearer"
    head = jwt.get_unverified_header(doc["access_token"])
    assert head == {"alg": "ES256", "kid": "gw", "typ": "at+jwt"}, head
    claims = jwt.decode(doc["access_token"], gw.gw_public,
                        algorithms=["ES256"], audience=audience,
                        options={"verify_aud": audience is not None})
    assert claims["exp"] - claims["iat"] == doc["expires_in"]
    assert claims["scp"] == doc["scope"]
    return doc, claims


def oauth_error(resp, status, error):
    """An RFC 6749 5.2 error answer; its dict."""
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"] == "application/json", resp.text
    assert resp.headers["Cache-Control"] == "no-store"
    doc = resp.json()
    assert set(doc) == {"error", "error_description"}, doc
    assert doc["error"] == error, doc
    assert DESCRIPTION.fullmatch(doc["error_description"]), doc
    if status == 401:
        assert resp.headers["WWW-Authenticate"] == \
            'Bearer realm="microshop", error="invalid_token"'
    return doc


def metrics(n):
    text = n.get("/status").text
    return {m.group(1): int(m.group(2)) for m in
            re.finditer(r"^(microshop_\S+) (\d+)$", text, re.M)}


def admin_token(keys):
    return mint(keys, alg="ES256", kid="idp", iss=IDP, sub="admin-ann",
                scope=None, scp=ADMIN, seller=None, cls="lead")


def revoke(n, keys, jti, exp=None):
    r = n.post("/admin/revocations", token=admin_token(keys),
               json={"jti": jti, "exp": exp or int(time.time()) + 3600})
    assert r.status_code == 204, r.text


def inventory(n, token, seller="s1"):
    return n.get("/v1/sellers/%s/inventory/A1" % seller, token=token)


def audit_lines(n):
    path = os.path.join(n.prefix, "logs", "audit.log")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


# --------------------------------------------------------------- rules

def test_exchange_mints_a_staff_token(gw, keys):
    parent = lead(keys, sub="lead-7", tier="gold", jti="p-" + uuid.uuid4().hex)
    pclaims = jwt.decode(parent, options={"verify_signature": False})
    before = time.time()
    doc, claims = issued(exchange(gw, parent, actor="Ann Lee"), gw)

    # the class's ceiling: staff:issue is not a staff token's
    assert doc["scope"] == "orders:write inventory:read inventory:write"
    assert doc["expires_in"] == 900                     # staff max_ttl
    assert claims["iss"] == GW                          # the first issuer
    assert claims["sub"] == "Ann Lee"
    assert claims["act"] == {"sub": "lead-7"}
    assert claims["shop"] == "s1" and claims["lvl"] == "gold"
    assert claims["cls"] == "staff"
    assert claims["parent_jti"] == pclaims["jti"]
    assert claims["jti"] != pclaims["jti"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", claims["jti"])
    assert before - 2 <= claims["iat"] <= time.time() + 1
    # the configured claim names, not the default ones
    assert not {"seller", "scope", "token_class", "tier", "aud"} & set(claims)


def test_actor_absent_keeps_the_parents_sub(gw, keys):
    _, claims = issued(exchange(gw, lead(keys, sub="lead-9")), gw)
    assert claims["sub"] == "lead-9"
    assert claims["act"] == {"sub": "lead-9"}


def test_each_exchange_has_its_own_jti(gw, keys):
    parent = lead(keys)
    a = issued(exchange(gw, parent), gw)[1]
    b = issued(exchange(gw, parent), gw)[1]
    assert a["jti"] != b["jti"] and a["parent_jti"] == b["parent_jti"]


def test_audience_of_the_parent_is_kept(gw, keys):
    _, claims = issued(exchange(gw, lead(keys, aud="shop-api")), gw,
                       audience="shop-api")
    assert claims["aud"] == "shop-api"
    _, claims = issued(exchange(gw, lead(keys, aud=["shop-api", "pos"])),
                       gw, audience="pos")
    assert claims["aud"] == ["shop-api", "pos"]


@pytest.mark.parametrize("asked, granted", [
    ("inventory:read", "inventory:read"),
    ("inventory:write  orders:write", "inventory:write orders:write"),
    # what the parent lacks or the class may not carry is left out
    ("inventory:read refunds:write staff:issue", "inventory:read"),
])
def test_down_scoping(gw, keys, asked, granted):
    doc, _ = issued(exchange(gw, lead(keys), scope=asked), gw)
    assert doc["scope"] == granted


def test_class_ceiling_drops_what_the_class_may_not_carry(gw, keys):
    parent = lead(keys, scope="staff:issue reports:read inventory:read")
    doc, _ = issued(exchange(gw, parent), gw)
    assert doc["scope"] == "inventory:read"


def test_directive_ceiling_and_ttl(gw, keys):
    doc, claims = issued(exchange(gw, lead(keys), path="/token/ceiling"), gw)
    assert doc["scope"] == "orders:write inventory:read"
    assert doc["expires_in"] == 300
    assert claims["cls"] == "staff"


def test_admin_scope_never_leaks(gw, keys):
    parent = lead(keys, scope="staff:issue microshop:admin inventory:read")
    # the class lists microshop:admin, scopes= does not: never granted
    doc, _ = issued(exchange(gw, parent), gw)
    assert doc["scope"] == "inventory:read"
    doc, _ = issued(exchange(gw, parent, scope=ADMIN + " inventory:read"),
                    gw)
    assert doc["scope"] == "inventory:read"
    oauth_error(exchange(gw, parent, scope=ADMIN), 400, "invalid_scope")


def test_admin_scope_when_listed_in_scopes(gw, keys):
    parent = lead(keys, scope="staff:issue microshop:admin orders:write")
    doc, claims = issued(exchange(gw, parent, path="/token/admin"), gw)
    assert doc["scope"] == ADMIN
    # and it works as an admin token (revocation needs microshop:admin)
    r = gw.post("/admin/revocations", token=doc["access_token"],
                json={"jti": "never-used-" + uuid.uuid4().hex,
                      "exp": int(time.time()) + 60})
    assert r.status_code == 204, r.text


def test_no_scope_left_is_invalid_scope(gw, keys):
    oauth_error(exchange(gw, lead(keys), scope="refunds:write"), 400,
                "invalid_scope")
    oauth_error(exchange(gw, lead(keys, scope="staff:issue reports:read")),
                400, "invalid_scope")
    # not a list of scope tokens
    oauth_error(exchange(gw, lead(keys), scope='inventory:read "x"'), 400,
                "invalid_scope")


def test_lifetime_capped_by_the_parents_remaining_life(gw, keys):
    doc, claims = issued(exchange(gw, lead(keys, ttl=120)), gw)
    assert 115 <= doc["expires_in"] <= 120
    parent = jwt.decode(lead(keys, ttl=120),
                        options={"verify_signature": False})
    assert claims["exp"] <= parent["exp"] + 1


def test_expired_parent_within_leeway_has_no_life_to_hand_on(gw, keys):
    # accepted as a token (30s leeway) but with nothing left to give
    parent = lead(keys, ttl=-5, iat=int(time.time()) - 60)
    oauth_error(exchange(gw, parent), 400, "invalid_grant")


def test_expired_parent_is_refused(gw, keys):
    doc = oauth_error(exchange(gw, lead(keys, ttl=-120,
                                        iat=int(time.time()) - 300)),
                      401, "invalid_grant")
    assert "expired" in doc["error_description"]


def test_parent_without_the_issue_scope(gw, keys):
    doc = oauth_error(exchange(gw, lead(keys, scope="inventory:read")), 400,
                      "unauthorized_client")
    assert "staff:issue" in doc["error_description"]


def test_require_scope_and_a_class_of_its_own(gw, keys):
    oauth_error(exchange(gw, lead(keys), path="/token/reports"), 400,
                "unauthorized_client")
    parent = lead(keys, scope="reports:read inventory:read staff:issue")
    doc, claims = issued(exchange(gw, parent, path="/token/reports"), gw)
    assert doc["expires_in"] == 3600 and claims["cls"] == "lead"
    assert doc["scope"] == "reports:read inventory:read staff:issue"


def test_a_minted_token_is_not_exchanged_again(gw, keys):
    doc, _ = issued(exchange(gw, lead(keys)), gw)
    oauth_error(exchange(gw, doc["access_token"]), 400, "invalid_grant")


def test_parent_without_jti(gw, keys):
    doc = oauth_error(exchange(gw, lead(keys, jti=None)), 400,
                      "invalid_grant")
    assert "jti" in doc["error_description"]


def test_revoked_parent(gw, keys):
    jti = "rev-" + uuid.uuid4().hex
    parent = lead(keys, jti=jti)
    issued(exchange(gw, parent), gw)
    revoke(gw, keys, jti)
    doc = oauth_error(exchange(gw, parent), 401, "invalid_grant")
    assert "revoked" in doc["error_description"]


def test_bad_subject_tokens(gw, keys):
    token = lead(keys)
    head, payload, sig = token.split(".")
    forged = ".".join([head, payload, b64url(b"\0" * 64)])
    oauth_error(exchange(gw, forged), 401, "invalid_grant")
    oauth_error(exchange(gw, "not-a-jwt"), 401, "invalid_grant")
    # another issuer than the location takes
    oauth_error(exchange(gw, lead(keys, iss="https://evil.example")), 401,
                "invalid_grant")
    # a class violation: a lead token of 9h
    oauth_error(exchange(gw, lead(keys, ttl=9 * 3600)), 401, "invalid_grant")


# ------------------------------------------------------ the request itself

def test_get_is_405(gw):
    r = gw.get("/token")
    oauth_error(r, 405, "invalid_request")
    assert r.headers["Allow"] == "POST"


def test_wrong_content_type(gw, keys):
    r = gw.post("/token", json={"grant_type": GRANT,
                                "subject_token": lead(keys),
                                "subject_token_type": ACCESS})
    oauth_error(r, 400, "invalid_request")


def raw_form(n, body, path="/token"):
    return n.post(path, data=body, headers={
        "Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"})


def test_form_encoding(gw, keys):
    body = ("grant_type=" + GRANT.replace(":", "%3A")
            + "&subject_token=" + lead(keys)
            + "&subject_token_type=" + ACCESS.replace(":", "%3a")
            + "&scope=inventory%3Aread+orders:write&actor=Jos%C3%A9+P."
            + "&unknown=ignored")
    doc, claims = issued(raw_form(gw, body), gw)
    assert doc["scope"] == "inventory:read orders:write"
    assert claims["sub"] == "Jos\u00e9 P."


@pytest.mark.parametrize("tail, error", [
    ("&scope=a&scope=b", "invalid_request"),
    ("&subject_token_type=" + ACCESS, "invalid_request"),
    ("&extra=1&extra=2", "invalid_request"),
    ("&actor=%zz", "invalid_request"),
    ("&actor=a%00b", "invalid_request"),
    ("&=nameless", "invalid_request"),
    ("&actor=%0Aevil", "invalid_request"),
    ("&actor=+padded", "invalid_request"),
    ("&actor=" + "x" * 257, "invalid_request"),
    ("&actor_token=x", "invalid_request"),
    ("&requested_token_type=urn:ietf:params:oauth:token-type:id_token",
     "invalid_request"),
    ("&audience=other", "invalid_target"),
])
def test_bad_forms(gw, keys, tail, error):
    body = ("grant_type=%s&subject_token=%s&subject_token_type=%s"
            % (GRANT, lead(keys), ACCESS)) + tail
    doc = oauth_error(raw_form(gw, body), 400, error)
    if "scope=a&scope=b" in tail:
        assert "scope" in doc["error_description"]


def test_duplicate_grant_type_is_named(gw, keys):
    body = ("grant_type=%s&grant_type=%s&subject_token=%s"
            "&subject_token_type=%s" % (GRANT, GRANT, lead(keys), ACCESS))
    doc = oauth_error(raw_form(gw, body), 400, "invalid_request")
    assert "grant_type" in doc["error_description"]


def test_grant_type(gw, keys):
    oauth_error(exchange(gw, lead(keys), grant_type="client_credentials"),
                400, "unsupported_grant_type")
    oauth_error(exchange(gw, lead(keys), grant_type=None), 400,
                "invalid_request")


def test_missing_subject(gw, keys):
    oauth_error(exchange(gw, None), 400, "invalid_request")
    oauth_error(exchange(gw, ""), 400, "invalid_request")
    oauth_error(exchange(gw, lead(keys), subject_token_type=None), 400,
                "invalid_request")
    oauth_error(exchange(gw, lead(keys),
                         subject_token_type="urn:ietf:params:oauth:"
                                            "token-type:jwt"),
                400, "invalid_request")


def test_body_too_large(gw, keys):
    body = ("grant_type=%s&subject_token=%s&subject_token_type=%s&pad=%s"
            % (GRANT, lead(keys), ACCESS, "x" * 17000))
    oauth_error(raw_form(gw, body), 400, "invalid_request")


def test_body_in_a_temporary_file(gw, keys):
    offset = os.path.getsize(gw.error_log_path)
    # more than the header buffer nginx reads first (1k), so that the rest
    # goes through the 128-byte body buffer into a file
    doc, claims = issued(exchange(gw, lead(keys), path="/token/small",
                                  actor="temp-file", pad="x" * 4000), gw)
    assert claims["sub"] == "temp-file"
    assert "a client request body is buffered to a temporary file" \
        in gw.error_log(offset)


def test_inherited_auth_and_no_issuer(gw, keys):
    # server-level microshop_auth on asks no bearer token here, and
    # without microshop_jwt_issuer the minted token has no iss
    doc, claims = issued(exchange(gw, lead(keys), port=gw.bare), gw)
    assert "iss" not in claims


# ----------------------------------------------------- the minted token

def test_minted_token_on_protected_routes(gw, keys, backend, clean):
    doc, _ = issued(exchange(gw, lead(keys), scope="inventory:read",
                             actor="till-3"), gw)
    token = doc["access_token"]
    r = inventory(gw, token)
    assert r.status_code == 200, r.text
    seen = backend.requests(limit=1)[-1]["headers"]
    assert seen["x-microshop-scopes"] == "inventory:read"
    assert seen["x-microshop-subject"] == "till-3"
    assert seen["x-microshop-seller"] == "s1"

    # outside its scopes, and another seller's routes
    r = gw.post("/v1/sellers/s1/checkout", token=token,
                json={"items": [{"sku": "A1", "quantity": 1}]})
    problem(r, "insufficient-scope")
    assert r.status_code == 403
    r = inventory(gw, token, seller="s2")
    problem(r, "seller-mismatch")
    assert backend.count("POST /v1/sellers/s1/checkout") == 0


def test_revoking_the_minted_token(gw, keys):
    doc, claims = issued(exchange(gw, lead(keys)), gw)
    assert inventory(gw, doc["access_token"]).status_code == 200
    revoke(gw, keys, claims["jti"])
    problem(inventory(gw, doc["access_token"]), "invalid-token")


def test_revoking_the_parent_refuses_the_minted_token(gw, keys):
    jti = "cascade-" + uuid.uuid4().hex
    doc, _ = issued(exchange(gw, lead(keys, jti=jti)), gw)
    assert inventory(gw, doc["access_token"]).status_code == 200
    revoke(gw, keys, jti)
    r = inventory(gw, doc["access_token"])
    assert r.status_code == 401, r.text


# ------------------------------------------ rate limit, audit, metrics

def test_rate_limited_on_the_subjects_seller(gw, keys):
    parent = lead(keys, seller="s-tiny", tier="tiny")
    for _ in range(2):
        r = exchange(gw, parent, path="/token/limited")
        issued(r, gw)
        assert r.headers["RateLimit-Policy"] == '"tiny";q=2;w=120'
        assert r.headers["RateLimit"].startswith('"tiny";r=')
    r = exchange(gw, parent, path="/token/limited")
    oauth_error(r, 429, "slow_down")
    assert int(r.headers["Retry-After"]) >= 1
    assert r.headers["RateLimit"].startswith('"tiny";r=0;')
    # another seller has a bucket of its own; the location without
    # microshop_rate_limit is not limited
    issued(exchange(gw, lead(keys, seller="s-other", tier="tiny"),
                    path="/token/limited"), gw)
    issued(exchange(gw, parent), gw)


def test_audit_line_says_who_minted_what(gw, keys):
    jti = "audit-" + uuid.uuid4().hex
    doc, claims = issued(exchange(gw, lead(keys, jti=jti, sub="lead-a"),
                                  scope="inventory:read", actor="Bo"), gw)

    def line():
        found = [d for d in audit_lines(gw) if d.get("jti") == jti]
        return found and found[-1]

    d = wait_for(line, what="the exchange's audit line")
    assert d["location"] == "/token" and d["status"] == 200
    assert d["decision"] == "allow" and d["reason"] == "ok"
    assert d["subject"] == "lead-a" and d["seller"] == "s1"
    assert d["scopes_required"] == ["staff:issue"]
    assert d["minted"] == {"jti": claims["jti"], "sub": "Bo", "seller": "s1",
                           "class": "staff", "scopes": ["inventory:read"],
                           "exp": claims["exp"]}
    with open(os.path.join(gw.prefix, "logs", "audit.log")) as f:
        assert doc["access_token"] not in f.read()

    # a refusal: its reason, nothing minted
    oauth_error(exchange(gw, lead(keys, jti=jti + "-x",
                                  scope="inventory:read")),
                400, "unauthorized_client")
    d = wait_for(lambda: [x for x in audit_lines(gw)
                          if x.get("jti") == jti + "-x"],
                 what="the refusal's audit line")[-1]
    assert d["decision"] == "deny" and d["reason"] == "insufficient_scope"
    assert "minted" not in d


def test_metrics(gw, keys):
    before = metrics(gw)
    issued(exchange(gw, lead(keys)), gw)
    oauth_error(exchange(gw, lead(keys), scope="refunds:write"), 400,
                "invalid_scope")
    oauth_error(exchange(gw, lead(keys), grant_type="password"), 400,
                "unsupported_grant_type")
    oauth_error(exchange(gw, "x.y.z"), 401, "invalid_grant")
    after = metrics(gw)

    def moved(name):
        return after.get(name, 0) - before.get(name, 0)

    assert moved('microshop_tokens_minted_total{via="exchange"}') == 1
    for error in ("invalid_scope", "unsupported_grant_type",
                  "invalid_grant"):
        assert moved('microshop_token_exchange_refused_total{error="%s"}'
                     % error) == 1, error
    assert moved('microshop_requests_total{decision="deny",'
                 'reason="invalid_scope"}') == 1
    assert moved('microshop_requests_total{decision="deny",'
                 'reason="invalid_token"}') == 1


def test_policy_report(gw):
    doc = gw.get("/policy").json()
    locs = {loc["location"]: loc for server in doc["servers"]
            for loc in server["locations"]}
    assert locs["/token/ceiling"]["token_exchange"] == {
        "class": "staff", "ttl": 300,
        "scopes": ["inventory:read", "orders:write"],
        "require_scope": "staff:issue"}
    assert locs["/token"]["token_exchange"] == {
        "class": "staff", "ttl": 900, "scopes": None,
        "require_scope": "staff:issue"}
    assert locs["/token/reports"]["token_exchange"]["require_scope"] == \
        "reports:read"
    # the subject token in the body is its credential
    assert locs["/token"]["auth"] is False
    assert locs["/admin/"]["token_exchange"] is None


# -------------------------------------------------------- onboarding

def onboard(n, keys, seller="s1", token=None, **body):
    doc = {"class": "integration", "scopes": ["inventory:read"],
           "tier": "tiny", "ttl": "30d", "sub": "sync-job"}
    doc.update(body)
    doc = {k: v for k, v in doc.items() if v is not None}
    return n.post("/admin/sellers/%s/tokens" % seller,
                  token=token or admin_token(keys), json=doc)


def test_onboarding_mints_a_seller_token(gw, keys, backend, clean):
    offset = os.path.getsize(gw.error_log_path)
    before = metrics(gw)
    r = onboard(gw, keys, scopes=["inventory:read", "inventory:write"])
    assert r.status_code == 201, r.text
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["Content-Type"] == "application/json"
    doc = r.json()
    assert set(doc) == {"access_token", "expires_in", "jti"}
    assert doc["expires_in"] == 30 * 86400
    claims = jwt.decode(doc["access_token"], gw.gw_public,
                        algorithms=["ES256"])
    assert claims["jti"] == doc["jti"]
    assert claims["exp"] - claims["iat"] == 30 * 86400
    assert claims["iss"] == GW and claims["sub"] == "sync-job"
    assert claims["shop"] == "s1" and claims["cls"] == "integration"
    assert claims["scp"] == "inventory:read inventory:write"
    assert claims["lvl"] == "tiny"
    assert "parent_jti" not in claims and "act" not in claims

    assert inventory(gw, doc["access_token"]).status_code == 200
    assert backend.requests(limit=1)[-1]["headers"]["x-microshop-scopes"] \
        == "inventory:read inventory:write"
    problem(inventory(gw, doc["access_token"], seller="s2"),
            "seller-mismatch")

    log = wait_for(lambda: "minted by the admin API" in gw.error_log(offset)
                   and gw.error_log(offset), what="the notice")
    assert re.search(r'\[notice\].*token jti "%s" minted by the admin API '
                     r'for seller "s1", class "integration", sub "sync-job"'
                     r'.* by admin subject "admin-ann"' % doc["jti"], log)
    assert doc["access_token"] not in gw.error_log()
    assert metrics(gw)['microshop_tokens_minted_total{via="admin"}'] \
        == before.get('microshop_tokens_minted_total{via="admin"}', 0) + 1

    # the admin's audit line says what was minted for whom
    line = wait_for(lambda: [d for d in audit_lines(gw)
                             if (d.get("minted") or {}).get("jti")
                             == doc["jti"]], what="the audit line")[-1]
    assert line["subject"] == "admin-ann" and line["status"] == 201
    assert line["minted"] == {"jti": doc["jti"], "sub": "sync-job",
                              "seller": "s1", "class": "integration",
                              "scopes": ["inventory:read", "inventory:write"],
                              "exp": claims["exp"]}


def test_onboarding_default_ttl_and_seconds(gw, keys):
    r = onboard(gw, keys, ttl=None)
    assert r.status_code == 201 and r.json()["expires_in"] == 30 * 86400
    r = onboard(gw, keys, ttl=3600, tier=None)
    assert r.status_code == 201 and r.json()["expires_in"] == 3600
    r = onboard(gw, keys, ttl="1h30m", seller="s2")
    assert r.status_code == 201 and r.json()["expires_in"] == 5400


@pytest.mark.parametrize("body, member", [
    ({"ttl": "31d"}, "ttl"),
    ({"ttl": "soon"}, "ttl"),
    ({"ttl": 0}, "ttl"),
    ({"ttl": True}, "ttl"),
    ({"scopes": ["orders:write"]}, "scopes"),
    ({"scopes": [ADMIN]}, "scopes"),
    ({"scopes": []}, "scopes"),
    ({"scopes": "inventory:read"}, "scopes"),
    ({"scopes": ["bad scope"]}, "scopes"),
    ({"class": "nope"}, "class"),
    ({"class": None}, "class"),
    ({"sub": None}, "sub"),
    ({"sub": ""}, "sub"),
    ({"sub": " padded"}, "sub"),
    ({"sub": "a\nb"}, "sub"),
    ({"sub": 7}, "sub"),
    ({"tier": "platinum"}, "tier"),
    ({"extra": 1}, "member other than"),
])
def test_onboarding_bad_bodies(gw, keys, body, member):
    doc = problem(onboard(gw, keys, **body), "invalid-request")
    assert doc["status"] == 400
    assert member in doc["detail"]


def test_onboarding_refusals(gw, keys):
    r = gw.post("/admin/sellers/s1/tokens", token=admin_token(keys),
                data="not json", headers={"Content-Type": "application/json"})
    problem(r, "invalid-request")
    r = gw.get("/admin/sellers/s1/tokens", token=admin_token(keys))
    problem(r, "method-not-allowed")
    assert r.headers["Allow"] == "POST"
    problem(gw.post("/admin/sellers/s1/keys", token=admin_token(keys),
                    json={}), "not-found")
    problem(gw.post("/admin/sellers/%20s1/tokens", token=admin_token(keys),
                    json={}), "invalid-request")
    # without microshop:admin
    r = onboard(gw, keys, token=lead(keys, scope="inventory:read"))
    problem(r, "insufficient-scope")
    assert r.status_code == 403


def test_store_cannot_answer(nginx, keys, gw_key):
    # Redis never reachable, on_error=closed: neither the revocation check
    # nor the rate limit can be answered
    n = nginx.new()
    dead = free_port()
    n.start("""
microshop_jwt_key %(idp_pub)s kid=idp;
microshop_jwt_signing_key %(gw_key)s kid=gw;
microshop_redis redis://127.0.0.1:%(dead)d timeout=200ms
                connect_timeout=200ms on_error=closed;
microshop_token_class staff max_ttl=15m;
microshop_token_class default max_ttl=1d;
microshop_rate_tier default rate=100r/s burst=100;
server {
    listen 127.0.0.1:%(port)d;
    location = /token {
        microshop_rate_limit on;
        microshop_token_exchange class=staff;
    }
}
""" % {"idp_pub": keys.ec256_public_pem, "gw_key": gw_key[0],
       "dead": dead, "port": n.port})
    parent = mint(keys, alg="ES256", kid="idp", scope=LEAD_SCOPE)
    r = exchange(n, parent)
    oauth_error(r, 503, "temporarily_unavailable")
    assert r.headers["Retry-After"] == "1"


# ------------------------------------------------------------ the tool

def test_token_tool_exchange(gw, keys, tmp_path):
    if not os.access(TOOL, os.X_OK):
        pytest.skip("tools/microshop-token is not built (make token-tool)")
    parent = tmp_path / "lead.token"
    parent.write_text(lead(keys, sub="lead-t") + "\n")
    url = gw.url("/token")
    r = subprocess.run([TOOL, "exchange", "--url", url,
                        "--subject-token-file", str(parent),
                        "--scope", "inventory:read orders:write",
                        "--actor", "Kim Ode"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    claims = jwt.decode(token, gw.gw_public, algorithms=["ES256"])
    assert claims["sub"] == "Kim Ode" and claims["act"] == {"sub": "lead-t"}
    assert claims["scp"] == "inventory:read orders:write"
    assert inventory(gw, token).status_code == 200

    # the gateway's error on stderr, exit 1
    r = subprocess.run([TOOL, "exchange", "--url", url, "--subject-token",
                        lead(keys), "--scope", "refunds:write"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and r.stdout == ""
    assert json.loads(r.stderr)["error"] == "invalid_scope"

    # usage
    r = subprocess.run([TOOL, "exchange", "--url", "https://gw.example/t",
                        "--subject-token", "x"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 2 and "curl" in r.stderr


# -------------------------------------------------------------- nginx -t

BASE = """
microshop_jwt_key %(idp_pub)s kid=idp;
%(signing)s
microshop_token_class staff max_ttl=15m scopes=inventory:read,orders:write;
server {
    listen 127.0.0.1:%(port)d;
    location = /t {
        %(directive)s
    }
}
%(after)s
"""


@pytest.mark.parametrize("directive, after, signing, needles", [
    ("microshop_token_exchange class=staff;", "", "",
     ["microshop_jwt_signing_key"]),
    ("microshop_token_exchange class=clerk;", "", None,
     ['token class "clerk" is not declared']),
    ("microshop_token_exchange;", "", None, ["invalid number of arguments"]),
    ("microshop_token_exchange ttl=5m;", "", None, ['needs "class="']),
    ("microshop_token_exchange class=staff ttl=1h;", "", None,
     ["ttl=3600 is longer than the max_ttl=900"]),
    ("microshop_token_exchange class=staff ttl=0;", "", None,
     ['invalid "ttl=0"']),
    ("microshop_token_exchange class=staff ttl=abc;", "", None,
     ['invalid "ttl=abc"']),
    ("microshop_token_exchange class=staff scopes=inventory:write;", "",
     None, ['"inventory:write", which token class "staff" may not carry']),
    ("microshop_token_exchange class=staff scopes=a,,b;", "", None,
     ["invalid scope list"]),
    ("microshop_token_exchange class=staff require_scope=a,b;", "", None,
     ['invalid "require_scope=a,b"']),
    ("microshop_token_exchange class=staff colour=red;", "", None,
     ['invalid parameter "colour=red"']),
    ("microshop_token_exchange class=staff;\n"
     "        microshop_token_exchange class=staff;", "", None,
     ["is duplicate"]),
    ("microshop_auth on;\n        microshop_token_exchange class=staff;",
     "", None, ['"microshop_auth on" cannot be used']),
])
def test_config_errors(gw, keys, gw_key, directive, after, signing,
                       needles):
    if signing is None:
        signing = "microshop_jwt_signing_key %s kid=gw;" % gw_key[0]
    conf = BASE % {"idp_pub": keys.ec256_public_pem, "port": gw.port,
                   "directive": directive, "after": after,
                   "signing": signing}
    rc, err, line = gw.test_config_at(conf, marker="microshop_token_exchange")
    if "is duplicate" in needles:
        line += 1
    assert_conf_refused(rc, err, line, *needles)


def test_config_class_declared_after_the_server(nginx, keys, gw_key):
    # the class is looked for once the whole http block was read (started
    # rather than nginx -t, which never frees its configuration: a leak
    # to ASan)
    n = nginx.new()
    conf = (BASE % {"idp_pub": keys.ec256_public_pem, "port": n.port,
                    "directive": "microshop_token_exchange class=late;",
                    "after": "microshop_token_class late max_ttl=5m;",
                    "signing": "microshop_jwt_signing_key %s kid=gw;"
                               % gw_key[0]})
    n.start(conf)
    r = n.get("/t")
    assert r.status_code == 405 and r.json()["error"] == "invalid_request"
