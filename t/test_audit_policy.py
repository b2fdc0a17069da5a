"""microshop_audit_log (JSON lines of every decision) and microshop_policy
(the JSON report of the effective policy)."""

import base64
import datetime
import json
import os
import re
import signal
import time

import pytest

from microshop import mint, problem, raw_http, wait_for

AUDIT_FIELDS = ["time", "request_id", "client", "method", "uri", "location",
                "decision", "reason", "status", "seller", "subject", "jti",
                "class", "kid", "alg", "scopes_granted", "scopes_required",
                "rate_remaining", "idempotency", "cache"]

SELLERS_LOCATION = "^/v1/sellers/(?<seller>[^/]+)/"

HTTP_CONF = """
    microshop_jwt_key %(ec256)s kid=ec;
    microshop_jwt_key %(hs256)s kid=hs alg=HS256;
    microshop_jwt_key %(rsa)s kid=rsa alg=RS256;
    microshop_token_class default max_ttl=1h;
    microshop_token_class staff max_ttl=15m scopes=inventory:read;
    microshop_rate_tier default rate=100r/s burst=1000;
    microshop_audit_log %(audit)s;

    server {
        listen 127.0.0.1:%(port)d;
        server_name shop.example ~^api\\.;

        add_header X-Request-Id $request_id always;

        location ~ ^/v1/sellers/(?<seller>[^/]+)/ {
            microshop_auth on;
            microshop_require_scope GET,HEAD inventory:read;
            microshop_require_scope POST orders:write;
            microshop_seller $seller;
            microshop_rate_limit on;
            microshop_idempotency on;
            proxy_pass http://127.0.0.1:%(backend)d;
        }

        location /v1/partner/ {
            microshop_auth on;
            microshop_jwt_issuer https://issuer.example;
            microshop_jwt_audience shop-api partner-api;
            microshop_require_scope * partner:read;
            microshop_rate_limit on cost=2 key=$remote_addr dry_run;
            microshop_idempotency required methods=POST ttl=90s lock=1500ms;
            proxy_pass http://127.0.0.1:%(backend)d;

            location /v1/partner/reports/ {
                microshop_require_scope GET reports:read;
                proxy_pass http://127.0.0.1:%(backend)d;
            }
        }

        location /v1/ {
            proxy_pass http://127.0.0.1:%(backend)d;
        }

        location = /policy {
            microshop_policy;
        }

        location /admin/ {
            microshop_admin;
        }
    }
"""


def http_conf(n, keys, backend, audit="logs/audit.log"):
    return HTTP_CONF % {"ec256": keys.ec256_public_pem,
                        "hs256": keys.hs256_file,
                        "rsa": keys.rsa_public_pem,
                        "audit": audit, "port": n.port,
                        "backend": backend.port}


def audit_path(n, name="audit.log"):
    return os.path.join(n.prefix, "logs", name)


def read_lines(path):
    """The audit lines of a file, each parsed strictly (UTF-8, JSON)."""
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        data = f.read()
    assert data == b"" or data.endswith(b"\n"), data[-200:]
    return [json.loads(line.decode("utf-8"))
            for line in data.split(b"\n") if line]


def line_for(n, request_id, path=None, timeout=10):
    """The audit line of the request with this $request_id (the log phase
    runs after the answer was sent: poll)."""
    path = path or audit_path(n)

    def find():
        for doc in read_lines(path):
            if doc["request_id"] == request_id:
                return doc
        return None

    return wait_for(find, timeout=timeout, what="audit line " + request_id)


def raw_request(n, request_line, headers=b""):
    """Send bytes as they are; returns the response head."""
    data = raw_http(n, request_line + b"\r\nHost: x\r\n" + headers
                    + b"Connection: close\r\n\r\n")
    return data.split(b"\r\n\r\n")[0].decode("latin-1")


@pytest.fixture(scope="module")
def gateway(nginx, keys, backend):
    n = nginx.new()
    n.start(http_conf(n, keys, backend), workers=2)
    return n


# ------------------------------------------------------------ audit log

def test_allow_line_has_every_field(gateway, keys):
    token = mint(keys, alg="ES256", kid="ec", token_class="staff",
                 scope="inventory:read", ttl=600)
    claims = json.loads(base64.urlsafe_b64decode(
        token.split(".")[1] + "=="))
    before = time.time()
    r = gateway.get("/v1/sellers/s1/inventory/A1", token=token)
    assert r.status_code == 200, r.text
    doc = line_for(gateway, r.headers["X-Request-Id"])

    assert list(doc) == AUDIT_FIELDS
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z",
                        doc["time"]), doc["time"]
    when = datetime.datetime.strptime(doc["time"], "%Y-%m-%dT%H:%M:%S.%fZ") \
        .replace(tzinfo=datetime.timezone.utc).timestamp()
    assert before - 2 <= when <= time.time() + 2
    assert re.fullmatch(r"[0-9a-f]{32}", doc["request_id"])
    assert doc["client"] == "127.0.0.1"
    assert doc["method"] == "GET"
    assert doc["uri"] == "/v1/sellers/s1/inventory/A1"
    assert doc["location"] == SELLERS_LOCATION
    assert (doc["decision"], doc["reason"], doc["status"]) \
        == ("allow", "ok", 200)
    assert doc["seller"] == "s1" and doc["subject"] == "user-1"
    assert doc["jti"] == claims["jti"]
    assert doc["class"] == "staff"
    assert (doc["kid"], doc["alg"]) == ("ec", "ES256")
    assert doc["scopes_granted"] == ["inventory:read"]
    assert doc["scopes_required"] == ["inventory:read"]
    assert isinstance(doc["rate_remaining"], int)
    assert 0 <= doc["rate_remaining"] < 1000
    assert doc["idempotency"] is None and doc["cache"] is None


def test_allow_with_hs_key_and_default_class(gateway, keys):
    token = mint(keys, alg="HS256", kid="hs",
                 scope="inventory:read orders:write")
    r = gateway.post("/v1/sellers/s1/checkout", token=token,
                     json={"items": [{"sku": "A1", "quantity": 1}]},
                     headers={"Idempotency-Key": "audit-" + str(time.time())})
    assert r.status_code < 500, r.text
    doc = line_for(gateway, r.headers["X-Request-Id"])
    assert (doc["decision"], doc["reason"]) == ("allow", "ok")
    assert doc["status"] == r.status_code
    assert (doc["kid"], doc["alg"], doc["class"]) == ("hs", "HS256",
                                                       "default")
    assert doc["method"] == "POST"
    assert doc["scopes_granted"] == ["inventory:read", "orders:write"]
    assert doc["scopes_required"] == ["orders:write"]
    assert doc["idempotency"] == "new"
    assert isinstance(doc["rate_remaining"], int)


def deny_cases(keys):
    return {
        "no_token": (None, "GET", 401),
        "invalid_token": ("not.a.token", "GET", 401),
        "invalid_request": ("not a.token", "GET", 400),
        "bad_signature": (mint(keys, alg="ES256", kid="ec")[:-8] + "AAAAAAAA",
                          "GET", 401),
        "token_class": (mint(keys, alg="ES256", kid="ec",
                             token_class="staff", scope="inventory:read",
                             ttl=3600), "GET", 401),
        "insufficient_scope": (mint(keys, alg="ES256", kid="ec",
                                    scope="orders:write"), "GET", 403),
        "seller_mismatch": (mint(keys, alg="ES256", kid="ec", seller="s2"),
                            "GET", 403),
        "method_not_allowed": (mint(keys, alg="ES256", kid="ec"), "DELETE",
                               405),
    }


@pytest.mark.parametrize("case", ["no_token", "invalid_token",
                                  "invalid_request", "bad_signature", "token_class",
                                  "insufficient_scope", "seller_mismatch",
                                  "method_not_allowed"])
def test_deny_lines(gateway, keys, backend, case):
    token, method, status = deny_cases(keys)[case]
    reason = {"bad_signature": "invalid_token"}.get(case, case)

    backend.reset()
    r = gateway.request(method, "/v1/sellers/s1/inventory/A1", token=token)
    assert r.status_code == status, r.text
    problem(r)
    assert backend.stats()["requests_total"] == 0

    doc = line_for(gateway, r.headers["X-Request-Id"])
    assert list(doc) == AUDIT_FIELDS
    assert (doc["decision"], doc["reason"], doc["status"]) \
        == ("deny", reason, status)
    assert doc["method"] == method
    assert doc["location"] == SELLERS_LOCATION

    # denied before the rate limit and idempotency stages
    assert doc["rate_remaining"] is None and doc["idempotency"] is None

    identity = ["seller", "subject", "jti", "class", "kid", "alg",
                "scopes_granted"]
    if status in (400, 401):
        # no token passed: no identity, but what the route needs
        assert all(doc[k] is None for k in identity), doc
        assert doc["scopes_required"] == ["inventory:read"]
    else:
        assert doc["subject"] == "user-1" and doc["kid"] == "ec"
        assert doc["alg"] == "ES256" and doc["class"] == "default"
        assert isinstance(doc["scopes_granted"], list)

    if case == "insufficient_scope":
        assert doc["scopes_granted"] == ["orders:write"]
        assert doc["scopes_required"] == ["inventory:read"]
    if case == "seller_mismatch":
        assert doc["seller"] == "s2"
    if case == "method_not_allowed":
        assert doc["scopes_required"] is None


def test_open_location_is_not_audited(gateway):
    r = gateway.get("/v1/echo/open")
    assert r.status_code == 200
    rid = r.headers["X-Request-Id"]
    # a decided request after it: once its line is there, all are
    r2 = gateway.get("/v1/sellers/s1/inventory/A1")
    line_for(gateway, r2.headers["X-Request-Id"])
    assert all(doc["request_id"] != rid
               for doc in read_lines(audit_path(gateway)))


def test_token_is_never_logged(gateway, keys):
    token = mint(keys, alg="ES256", kid="ec")
    bad_scope = mint(keys, alg="ES256", kid="ec", scope="orders:write")
    ids = []
    for t, path in [(token, "/v1/sellers/s1/inventory/A1"),
                    (bad_scope, "/v1/sellers/s1/inventory/A1"),
                    (token, "/v1/sellers/s1/inventory/A1?access_token="
                     + token),
                    (token + "x", "/v1/sellers/s1/inventory/A1")]:
        r = gateway.get(path, token=t)
        ids.append(r.headers["X-Request-Id"])
    for rid in ids:
        line_for(gateway, rid)
    with open(audit_path(gateway), "rb") as f:
        data = f.read()
    for t in (token, bad_scope):
        for part in t.split("."):
            assert part.encode() not in data
    assert b"Bearer" not in data and b"access_token" not in data


def test_uri_with_quote_backslash_and_bad_utf8_is_valid_json(gateway):
    raw = (b'/v1/sellers/s1/inventory/a"b\\c\xff\xc3\xa9\xed\xa0\x80'
           b'%22%5C<x>')
    head = raw_request(gateway, b"GET " + raw + b"?q=\"1\" HTTP/1.1")
    assert head.startswith("HTTP/1.1 401"), head
    rid = re.search(r"X-Request-Id: (\w+)", head).group(1)

    # read_lines() parses every line strictly: the whole file is valid
    doc = line_for(gateway, rid)
    # valid UTF-8 stays, other bytes are \u00XX, the query is left out
    assert doc["uri"] == ('/v1/sellers/s1/inventory/a"b\\c\u00ff\u00e9'
                          '\u00ed\u00a0\u0080%22%5C<x>')
    with open(audit_path(gateway), "rb") as f:
        text = f.read().decode("utf-8")
    assert '\\"b\\\\c\\u00ff\u00e9\\u00ed\\u00a0\\u0080' in text


def test_buffered_log_flushes_on_timer_and_exit(nginx, keys, backend):
    n = nginx.new()
    n.start(http_conf(n, keys, backend,
                      "logs/audit.log buffer=64k flush=2s"))
    r = n.get("/v1/sellers/s1/inventory/A1")
    assert r.status_code == 401
    rid = r.headers["X-Request-Id"]
    time.sleep(0.3)
    assert read_lines(audit_path(n)) == []          # still in the buffer
    started = time.monotonic()
    line_for(n, rid, timeout=6)
    assert time.monotonic() - started > 0.5         # written by the timer

    # whatever is still buffered is written when the worker exits
    ids = [n.get("/v1/sellers/s1/inventory/A1").headers["X-Request-Id"]
           for _ in range(3)]
    n.stop()
    logged = [doc["request_id"] for doc in read_lines(audit_path(n))]
    assert logged == [rid] + ids


def test_buffered_lines_survive_reload(nginx, keys, backend):
    """The old workers write their buffers when they exit after a reload,
    long before the flush timer would."""
    n = nginx.new()
    conf = http_conf(n, keys, backend, "logs/audit.log buffer=64k flush=1h")
    n.start(conf, workers=2)
    ids = [n.get("/v1/sellers/s1/inventory/A1").headers["X-Request-Id"]
           for _ in range(4)]
    time.sleep(0.3)
    assert read_lines(audit_path(n)) == []
    n.reload(conf)
    for rid in ids:
        line_for(n, rid, timeout=10)


def test_buffer_full_writes_whole_lines(nginx, keys, backend):
    n = nginx.new()
    n.start(http_conf(n, keys, backend, "logs/audit.log buffer=2k"))
    ids = []
    for _ in range(12):
        ids.append(n.get("/v1/sellers/s1/inventory/A1")
                   .headers["X-Request-Id"])
    # ~600 bytes a line: some buffers were written, each of whole lines
    written = read_lines(audit_path(n))
    assert 0 < len(written) < 12
    assert [doc["request_id"] for doc in written] == ids[:len(written)]
    n.stop()
    assert [doc["request_id"] for doc in read_lines(audit_path(n))] == ids


def test_buffered_access_log_on_the_same_file_later(nginx, keys, backend):
    """A buffered access_log declared after the audit log takes the file's
    flush callback: the audit log then writes each line at once."""
    n = nginx.new()
    conf = http_conf(n, keys, backend, "logs/shared.log buffer=64k")
    conf += "    access_log logs/shared.log combined buffer=64k;\n"
    n.start(conf)
    r = n.get("/v1/sellers/s1/inventory/A1")
    doc = line_for(n, r.headers["X-Request-Id"],
                   path=audit_path(n, "shared.log"), timeout=1)
    assert doc["reason"] == "no_token"


def reopen(n):
    """nginx -s reopen; returns when the master and every worker did it."""
    def count():
        return n.error_log().count("reopening logs")
    before = count()
    os.kill(n.master_pid, signal.SIGUSR1)
    wait_for(lambda: count() >= before + 1 + n.workers,
             what="workers to reopen their logs")


@pytest.mark.parametrize("params", ["", " buffer=64k flush=1s"])
def test_reopen_writes_a_new_file(nginx, keys, backend, params):
    n = nginx.new()
    n.start(http_conf(n, keys, backend, "logs/audit.log" + params),
            workers=2)
    first = n.get("/v1/sellers/s1/inventory/A1").headers["X-Request-Id"]
    if not params:
        line_for(n, first)
    os.rename(audit_path(n), audit_path(n, "audit.log.1"))
    reopen(n)
    assert os.path.exists(audit_path(n))

    second = n.get("/v1/sellers/s1/inventory/A1").headers["X-Request-Id"]
    line_for(n, second)
    # a buffered line was written to the old file before it was reopened
    assert [d["request_id"] for d in read_lines(
        audit_path(n, "audit.log.1"))] == [first]
    assert [d["request_id"] for d in read_lines(audit_path(n))] == [second]


# --------------------------------------------------------------- policy

def location(server, name):
    found = [loc for loc in server["locations"] if loc["location"] == name]
    assert len(found) == 1, [loc["location"] for loc in server["locations"]]
    return found[0]


def test_policy_reports_locations(gateway):
    r = gateway.get("/policy")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    doc = r.json()

    assert len(doc["servers"]) == 1
    server = doc["servers"][0]
    assert server["server_name"] == "shop.example"

    sellers = location(server, SELLERS_LOCATION)
    assert sellers["match"] == "regex"
    assert sellers["auth"] is True and sellers["admin"] is False
    assert sellers["methods"] == {"GET": ["inventory:read"],
                                  "HEAD": ["inventory:read"],
                                  "POST": ["orders:write"]}
    assert sellers["rules"] == [
        {"methods": "GET,HEAD", "scopes": ["inventory:read"]},
        {"methods": "POST", "scopes": ["orders:write"]}]
    assert sellers["allow"] == "GET,HEAD,POST"
    assert sellers["seller"] == "$seller"
    assert sellers["issuers"] is None and sellers["audiences"] is None
    assert sellers["rate_limit"] == {"cost": 1, "key": None,
                                     "dry_run": False}
    assert sellers["idempotency"] == {
        "mode": "on", "methods": "POST,PUT,PATCH,DELETE", "ttl": 86400,
        "lock": 60, "max_body": 1048576, "header": "Idempotency-Key"}

    partner = location(server, "/v1/partner/")
    assert partner["match"] == "prefix" and partner["auth"] is True
    assert partner["issuers"] == ["https://issuer.example"]
    assert partner["audiences"] == ["shop-api", "partner-api"]
    assert partner["methods"]["*"] == ["partner:read"]
    assert partner["methods"]["DELETE"] == ["partner:read"]
    assert partner["allow"] is None and partner["seller"] is None
    assert partner["rate_limit"] == {"cost": 2, "key": "$remote_addr",
                                     "dry_run": True}
    assert partner["idempotency"]["mode"] == "required"
    assert partner["idempotency"]["methods"] == "POST"
    assert (partner["idempotency"]["ttl"],
            partner["idempotency"]["lock"]) == (90, 1.5)

    # a nested location: its own rules, the rest inherited
    reports = location(server, "/v1/partner/reports/")
    assert reports["parent"] == "/v1/partner/"
    assert reports["auth"] is True
    assert reports["methods"] == {"GET": ["reports:read"],
                                  "HEAD": ["reports:read"]}
    assert reports["audiences"] == ["shop-api", "partner-api"]
    assert reports["rate_limit"] == partner["rate_limit"]

    plain = location(server, "/v1/")
    assert plain["auth"] is False and plain["methods"] is None
    assert plain["rate_limit"] is None and plain["idempotency"] is None

    admin = location(server, "/admin/")
    assert admin["admin"] is True and admin["auth"] is True
    assert admin["methods"]["*"] == ["microshop:admin"]

    policy = location(server, "/policy")
    assert policy["match"] == "exact" and policy["policy"] is True
    assert policy["auth"] is False

    assert location(server, "")["match"] == "server"


def test_policy_reports_keys_classes_and_settings(gateway, keys):
    r = gateway.get("/policy")
    doc = r.json()

    # the files' paths are not shown (t/test_sec_small.py: thumbprints)
    assert {k["kid"]: (k["alg"], k["type"]) for k in doc["keys"]} == {
        "ec": ("ES256", "EC"),
        "hs": ("HS256", "oct"),
        "rsa": ("RS256", "RSA")}
    assert {k["kid"]: k["bits"] for k in doc["keys"]} \
        == {"ec": 256, "hs": None, "rsa": 2048}
    assert {k["kid"]: k["thumbprint"] is None for k in doc["keys"]} \
        == {"ec": False, "hs": True, "rsa": False}
    assert doc["jwks"] == 0

    assert doc["token_classes"] == [
        {"name": "default", "max_ttl": 3600, "scopes": None},
        {"name": "staff", "max_ttl": 900, "scopes": ["inventory:read"]}]
    assert doc["leeway"] == 30
    assert doc["rate_tiers"] == [{"name": "default", "rate": "100r/s",
                                  "burst": 1000}]
    assert doc["claims"] == {"seller": "seller", "subject": "sub",
                             "scope": "scope", "class": "token_class",
                             "tier": "tier"}
    assert doc["zone"]["name"] == "microshop" and doc["zone"]["size"] > 0
    assert doc["zone"]["token_cache"] == doc["zone"]["seller_quota"]  # 25%
    assert doc["audit_log"]["file"] == audit_path(gateway)

    # never key material
    body = r.content
    secret = keys.hs256_secret
    for form in (secret, secret.hex().encode(),
                 base64.b64encode(secret).rstrip(b"="),
                 base64.urlsafe_b64encode(secret).rstrip(b"=")):
        assert form not in body
    for pem in (keys.ec256_public_pem, keys.rsa_public_pem):
        with open(pem, "rb") as f:
            lines = f.read().splitlines()
        assert b"BEGIN" not in body
        for line in lines[1:-1]:
            assert line not in body


def test_policy_with_jwks_and_claims(nginx, keys):
    n = nginx.new()
    n.start("""
    microshop_jwt_jwks %s;
    microshop_jwt_claims seller=shop scope=scp;
    microshop_jwt_leeway 5s;
    server {
        listen 127.0.0.1:%d;
        server_name ~^api\\.;
        location /p { microshop_policy; }

        location ~ ^/shop/(?<seller>[^/]+)/items/(?<sku>[^/]+)$ {
            microshop_seller $seller;
            microshop_inventory_cache sku=$sku ttl=10s stale_if_error=1500ms;
            proxy_pass http://127.0.0.1:9;
        }
        location /shop/checkout {
            microshop_seller s1;
            microshop_reserve on hold=45s;
            proxy_pass http://127.0.0.1:9;
        }
        location = /events {
            microshop_events secret=%s tolerance=2m;
        }
    }
""" % (keys.jwks_file, n.port, keys.hs512_file))
    doc = n.get("/p").json()
    assert doc["servers"][0]["server_name"] == "~^api\\."
    assert doc["jwks"] == 1
    assert sorted(k["kid"] for k in doc["keys"]) \
        == ["ec-jwks", "oct-jwks", "rsa-jwks"]
    assert all("source" not in k for k in doc["keys"])
    assert doc["leeway"] == 5
    assert doc["claims"]["seller"] == "shop"
    assert doc["claims"]["scope"] == "scp"
    assert doc["claims"]["class"] == "token_class"
    assert doc["token_classes"] == [] and doc["audit_log"] is None
    assert doc["rate_tiers"] == []

    locations = doc["servers"][0]["locations"]
    items = location(doc["servers"][0],
                     "^/shop/(?<seller>[^/]+)/items/(?<sku>[^/]+)$")
    assert items["inventory_cache"] == {"sku": "$sku", "ttl": 10,
                                        "stale_while_revalidate": 0,
                                        "stale_if_error": 1.5,
                                        "refresh_retry": 5}
    assert items["seller"] == "$seller" and items["reserve"] is None
    checkout = location(doc["servers"][0], "/shop/checkout")
    assert checkout["reserve"] == {"hold": 45}
    assert checkout["inventory_cache"] is None
    events = location(doc["servers"][0], "/events")
    assert events["events"] == {"tolerance": 120}
    assert all(loc["events"] is None for loc in locations
               if loc["location"] != "/events")
    body = n.get("/p").content
    with open(keys.hs512_file, "rb") as f:
        assert f.read() not in body
    oct_key = base64.urlsafe_b64encode(keys.jwks_oct_secret).rstrip(b"=")
    assert oct_key not in n.get("/p").content


def test_policy_head_and_other_methods(gateway):
    r = gateway.request("HEAD", "/policy")
    assert r.status_code == 200 and r.content == b""
    assert int(r.headers["Content-Length"]) > 100
    r = gateway.post("/policy", data=b"x")
    assert r.status_code == 405
    assert r.headers["Allow"] == "GET, HEAD"
    problem(r, "method-not-allowed")


# ---------------------------------------------------------------- nginx -t

BAD_AUDIT = [
    ("microshop_audit_log logs/a.log buffer=abc;", "invalid buffer size"),
    ("microshop_audit_log logs/a.log buffer=0;", "invalid buffer size"),
    ("microshop_audit_log logs/a.log flush=soon;", "invalid flush time"),
    ("microshop_audit_log logs/a.log flush=0s;", "invalid flush time"),
    ("microshop_audit_log logs/a.log gzip;", "invalid parameter"),
    ("microshop_audit_log off buffer=4k;", "takes no parameters"),
    ("microshop_audit_log \"\";", "empty file name"),
    ("microshop_audit_log syslog:server=127.0.0.1;", "syslog"),
    ("microshop_audit_log logs/a.log;\n    microshop_audit_log logs/b.log;",
     "is duplicate"),
    ("access_log logs/a.log combined buffer=8k;\n"
     "    microshop_audit_log logs/a.log buffer=8k;",
     "already used by a buffered log"),
    ("microshop_audit_log;", "invalid number of arguments"),
    ("server { microshop_audit_log logs/a.log; }", "is not allowed here"),
    ("server { location /p { microshop_policy on; } }",
     "invalid number of arguments"),
]


@pytest.mark.parametrize("conf,message", BAD_AUDIT)
def test_nginx_t_rejects_bad_settings(nginx, conf, message):
    n = nginx.new()
    text = "\n    # the directive is on the line below\n    " + conf + "\n"
    rc, err = n.test_config(text)
    assert rc != 0
    assert message in err, err
    directive = "microshop_policy" if "policy" in conf \
        else "microshop_audit_log"
    assert directive in err, err
    with open(os.path.join(n.prefix + "-t", "conf", "nginx.conf")) as f:
        lines = f.read().splitlines()
    line = lines.index("    # the directive is on the line below") + 2
    if "\n" in conf:
        line += 1
    assert re.search(r"nginx\.conf:%d\b" % line, err), (line, err)


def test_nginx_t_accepts_good_settings(nginx):
    n = nginx.new()
    for conf in ("microshop_audit_log off;",
                 "microshop_audit_log logs/a.log;",
                 "microshop_audit_log logs/a.log buffer=32k;",
                 "microshop_audit_log logs/a.log flush=5s;",
                 "microshop_audit_log logs/b.log buffer=1m flush=1m;",
                 "access_log logs/a.log;\n"
                 "    microshop_audit_log logs/a.log buffer=8k;"):
        rc, err = n.test_config("    " + conf + "\n")
        assert rc == 0, (conf, err)
