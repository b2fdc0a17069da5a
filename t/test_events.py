"""Signed inventory webhooks (microshop_events) and the admin stock API.

docs/inventory.md "microshop_events" and "Admin stock API", and the
401 invalid-signature answer of docs/http.md "Admin and webhooks".  What an
event does to the inventory cache is in the inventory tests.

One instance serves every request test:

  /events        secret in conf/webhook.secret (relative path, CR LF
                 stripped), default tolerance 5m
  /events-10s    the same secret, tolerance=10s
  /events-big    client_max_body_size 4m: the 1 MB cap is the module's
  /admin/        microshop_admin
  /v1/sellers/<seller>/inventory/<sku>   the inventory cache
"""

import hashlib
import http.client
import json
import os
import time
import uuid

import pytest

from microshop import assert_conf_refused, mint, problem, sign_webhook

SECRET = b"whsec_" + b"0123456789abcdef" * 2          # 38 bytes
OTHER_SECRET = b"whsec_" + b"fedcba9876543210" * 2
ADMIN_SCOPE = "microshop:admin"

CONF = """
microshop_jwt_key %(ec_pub)s kid=k1;

server {
    listen 127.0.0.1:%(port)d;
    client_body_buffer_size 8k;

    location = /events {
        microshop_events secret=webhook.secret;
    }

    location = /events-10s {
        microshop_events secret=webhook.secret tolerance=10s;
    }

    location = /events-big {
        client_max_body_size 4m;
        microshop_events secret=%(secret_path)s;
    }

    location /admin/ {
        microshop_admin;
    }

    location ~ ^/v1/sellers/(?<seller>[^/]+)/inventory/(?<sku>[^/]+)$ {
        microshop_auth on;
        microshop_seller $seller;
        microshop_require_scope GET,HEAD inventory:read;
        microshop_inventory_cache sku=$sku ttl=60s;
        proxy_pass http://127.0.0.1:%(backend)d;
    }
}
"""


@pytest.fixture(scope="module")
def shop(nginx, keys, backend):
    n = nginx.new()
    n.secret_path = n.write_file("conf/webhook.secret", SECRET + b"\r\n")
    n.start(CONF % {"port": n.port, "ec_pub": keys.ec256_public_pem,
                    "secret_path": n.secret_path, "backend": backend.port})
    yield n
    # nothing secret ever reaches the log
    log = n.error_log()
    assert SECRET.decode() not in log
    assert OTHER_SECRET.decode() not in log


# ------------------------------------------------------------ helpers

def new_sku():
    return "SKU-" + uuid.uuid4().hex[:12]


def event(sku, version=1, seller="s1", **fields):
    """An event; a field given as None is left out."""
    doc = {"id": "evt_" + uuid.uuid4().hex, "type": "inventory.updated",
           "seller": seller, "sku": sku, "version": version}
    doc.update(fields)
    return {k: v for k, v in doc.items() if v is not None}


def encode(doc):
    return json.dumps(doc, separators=(",", ":")).encode()


def post_event(n, doc=None, path="/events", secret=SECRET, t=None,
               signature=None, body=None, **kw):
    """POST an event signed with secret at time t (default now).
    signature: a header value sent as is ("" sends none); body: bytes or
    str sent instead of doc."""
    data = encode(doc) if body is None else body
    if isinstance(data, str):
        data = data.encode()
    headers = {"Content-Type": "application/json"}
    if signature is None:
        t = int(time.time()) if t is None else t
        signature = sign_webhook(secret, data, t)
    if signature:
        headers["Microshop-Signature"] = signature
    headers.update(kw.pop("headers", {}))
    return n.request("POST", path, data=data, headers=headers, **kw)


def accepted(resp, status="accepted"):
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.json() == {"status": status}


def admin_token(keys, **kw):
    return mint(keys, kid="k1", scope=ADMIN_SCOPE, sub="ops", seller=None,
                **kw)


def stock(n, keys, sku, seller="s1"):
    """The stock as the admin API shows it, or None (404)."""
    resp = n.get("/admin/stock/%s/%s" % (seller, sku),
                 token=admin_token(keys))
    if resp.status_code == 404:
        problem(resp, "not-found")
        return None
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"] == "application/json"
    return resp.json()


def put_stock(n, keys, sku, available, seller="s1"):
    return n.request("PUT", "/admin/stock/%s/%s" % (seller, sku),
                     token=admin_token(keys), json={"available": available})


def refused(resp, word):
    assert resp.status_code == 401, resp.text
    doc = problem(resp, "invalid-signature")
    assert word in doc["detail"], doc
    assert resp.headers["WWW-Authenticate"].startswith(
        "Microshop-Signature"), resp.headers
    assert SECRET.decode() not in resp.text
    return doc


# ------------------------------------------------------------ events

def test_signed_event_from_backend_sets_stock(shop, keys, backend):
    sku = new_sku()
    result = backend.send_webhook(shop.url("/events"), shop.secret_path,
                                  event(sku, version=7, available=12))
    assert result["status"] == 200, result
    assert json.loads(result["body"]) == {"status": "accepted"}
    assert stock(shop, keys, sku) == {"available": 12, "held": 0}


def test_event_answer(shop, keys):
    sku = new_sku()
    resp = post_event(shop, event(sku, available=3))
    accepted(resp)
    assert stock(shop, keys, sku) == {"available": 3, "held": 0}
    # another seller's SKU of the same name is another stock
    assert stock(shop, keys, sku, seller="s2") is None


def test_event_without_available_sets_no_stock(shop, keys):
    sku = new_sku()
    accepted(post_event(shop, event(sku, item={"name": "x"})))
    assert stock(shop, keys, sku) is None
    # and does not reset a stock that is known
    accepted(post_event(shop, event(sku, version=2, available=4)))
    accepted(post_event(shop, event(sku, version=3)))
    assert stock(shop, keys, sku) == {"available": 4, "held": 0}


def test_repeated_id_is_a_duplicate(shop, keys):
    sku = new_sku()
    first = event(sku, version=1, available=5)
    accepted(post_event(shop, first))
    # the same id, even newer and with other contents, changes nothing
    again = dict(first, version=9, available=50)
    accepted(post_event(shop, again), "duplicate")
    accepted(post_event(shop, first), "duplicate")
    assert stock(shop, keys, sku) == {"available": 5, "held": 0}


def test_older_or_equal_version_is_stale(shop, keys):
    sku = new_sku()
    accepted(post_event(shop, event(sku, version=5, available=5)))
    accepted(post_event(shop, event(sku, version=5, available=6)), "stale")
    accepted(post_event(shop, event(sku, version=4, available=7)), "stale")
    accepted(post_event(shop, event(sku, version=0, available=8)), "stale")
    assert stock(shop, keys, sku) == {"available": 5, "held": 0}
    accepted(post_event(shop, event(sku, version=6, available=9)))
    assert stock(shop, keys, sku) == {"available": 9, "held": 0}


def test_event_after_admin_stock(shop, keys):
    sku = new_sku()
    assert put_stock(shop, keys, sku, 100).status_code == 204
    accepted(post_event(shop, event(sku, version=2, available=40)))
    assert stock(shop, keys, sku) == {"available": 40, "held": 0}
    # the admin API may always correct the number
    assert put_stock(shop, keys, sku, 41).status_code == 204
    assert stock(shop, keys, sku) == {"available": 41, "held": 0}
    accepted(post_event(shop, event(sku, version=2, available=1)), "stale")
    assert stock(shop, keys, sku) == {"available": 41, "held": 0}


def test_event_item_is_served_with_its_etag(shop, keys, backend):
    sku = new_sku()
    item = {"sku": sku, "name": "Caf\u00e9 tee", "available": 5,
            "tags": ["a", "b"], "dims": {"w": 1.5, "h": None}}
    accepted(post_event(shop, event(sku, version=3, available=5, item=item)))
    backend.reset()
    token = mint(keys, kid="k1", seller="s1", scope="inventory:read")
    resp = shop.get("/v1/sellers/s1/inventory/" + sku, token=token)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Cache-Status"] == "microshop; hit"
    # the item as compact JSON, and a strong ETag of exactly those bytes
    assert resp.content == json.dumps(item, separators=(",", ":"),
                                      ensure_ascii=False).encode()
    digest = hashlib.sha256(resp.content).hexdigest()[:16]
    assert resp.headers["ETag"] == '"ms-%s"' % digest
    assert backend.stats()["requests_total"] == 0


def test_rotation_several_v1(shop, keys):
    sku = new_sku()
    body = encode(event(sku, available=2))
    t = int(time.time())
    old = sign_webhook(OTHER_SECRET, body, t)
    new = sign_webhook(SECRET, body, t)
    header = "%s,%s,v0=ignored" % (old, new.split(",", 1)[1])
    accepted(post_event(shop, body=body, signature=header))
    assert stock(shop, keys, sku) == {"available": 2, "held": 0}


def test_body_in_a_temp_file(shop, keys):
    # larger than client_body_buffer_size: nginx spills it to a file
    sku = new_sku()
    doc = event(sku, available=11, item={"blob": "x" * 200000})
    accepted(post_event(shop, doc))
    assert stock(shop, keys, sku) == {"available": 11, "held": 0}


def test_body_over_one_megabyte(shop, keys):
    sku = new_sku()
    doc = event(sku, available=1, item={"blob": "x" * (1024 * 1024)})
    resp = post_event(shop, doc, path="/events-big")
    assert resp.status_code == 413, resp.text
    problem(resp)
    assert stock(shop, keys, sku) is None
    # nginx's own limit still applies where it is lower
    resp = post_event(shop, doc)
    assert resp.status_code == 413


def test_only_post(shop):
    for method in ("GET", "PUT", "DELETE"):
        resp = shop.request(method, "/events")
        assert resp.status_code == 405, (method, resp.text)
        problem(resp, "method-not-allowed")
        assert resp.headers["Allow"] == "POST"


# ------------------------------------------------------------ signatures

def test_missing_signature(shop, keys):
    sku = new_sku()
    refused(post_event(shop, event(sku, available=1), signature=""),
            "no Microshop-Signature")
    assert stock(shop, keys, sku) is None


def test_wrong_secret(shop, keys, backend):
    sku = new_sku()
    refused(post_event(shop, event(sku, available=1), secret=OTHER_SECRET),
            "does not match")
    # the backend with the wrong secret file
    other = shop.write_file("other.secret", OTHER_SECRET + b"\n")
    result = backend.send_webhook(shop.url("/events"), other,
                                  event(sku, available=1))
    assert result["status"] == 401
    assert stock(shop, keys, sku) is None


def test_tampered_body(shop, keys):
    sku = new_sku()
    signed = encode(event(sku, available=1))
    t = int(time.time())
    tampered = signed.replace(b'"available":1', b'"available":9')
    refused(post_event(shop, body=tampered,
                       signature=sign_webhook(SECRET, signed, t)),
            "does not match")
    # a timestamp moved forward is not signed either
    header = sign_webhook(SECRET, signed, t).replace(
        "t=%d," % t, "t=%d," % (t + 1))
    refused(post_event(shop, body=signed, signature=header), "does not match")
    assert stock(shop, keys, sku) is None


@pytest.mark.parametrize("path, age", [("/events", 301), ("/events", 3600),
                                       ("/events-10s", 30)])
def test_stale_timestamp(shop, keys, backend, path, age):
    sku = new_sku()
    refused(post_event(shop, event(sku, available=1), path=path,
                       t=int(time.time()) - age), "stale")
    result = backend.send_webhook(shop.url(path), shop.secret_path,
                                  event(sku, available=1),
                                  timestamp=int(time.time()) - age)
    assert result["status"] == 401
    assert stock(shop, keys, sku) is None


@pytest.mark.parametrize("path, ahead", [("/events", 301),
                                         ("/events-10s", 30)])
def test_future_timestamp(shop, keys, path, ahead):
    sku = new_sku()
    refused(post_event(shop, event(sku, available=1), path=path,
                       t=int(time.time()) + ahead), "future")
    assert stock(shop, keys, sku) is None


def test_inside_the_tolerance(shop, keys):
    sku = new_sku()
    accepted(post_event(shop, event(sku, available=1), path="/events-10s",
                        t=int(time.time()) - 3))
    accepted(post_event(shop, event(sku, version=2, available=2),
                        t=int(time.time()) + 200))
    assert stock(shop, keys, sku) == {"available": 2, "held": 0}


@pytest.mark.parametrize("header", [
    "garbage",
    "t=%(t)d",
    "v1=%(v1)s",
    "t=,v1=%(v1)s",
    "t=abc,v1=%(v1)s",
    "t=%(t)d,t=%(t)d,v1=%(v1)s",
    "t=%(t)d,v1=%(v1)s,",
    "t=%(t)d,v1=%(short)s",
    "t=%(t)d;v1=%(v1)s",
    "T=%(t)d,V1=%(v1)s",
])
def test_malformed_signature(shop, keys, header):
    sku = new_sku()
    body = encode(event(sku, available=1))
    t = int(time.time())
    v1 = sign_webhook(SECRET, body, t).split("v1=")[1]
    value = header % {"t": t, "v1": v1, "short": v1[:-2]}
    refused(post_event(shop, body=body, signature=value), "malformed")
    assert stock(shop, keys, sku) is None


def test_two_signature_headers(shop, keys):
    sku = new_sku()
    body = encode(event(sku, available=1))
    good = sign_webhook(SECRET, body, int(time.time()))
    conn = http.client.HTTPConnection("127.0.0.1", shop.port, timeout=30)
    try:
        conn.putrequest("POST", "/events")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(len(body)))
        conn.putheader("Microshop-Signature", good)
        conn.putheader("microshop-signature", good)
        conn.endheaders(body)
        resp = conn.getresponse()
        status, text = resp.status, resp.read().decode()
        www = resp.getheader("WWW-Authenticate")
    finally:
        conn.close()
    assert status == 401, text
    doc = json.loads(text)
    assert doc["type"] == "urn:problem:microshop:invalid-signature"
    assert "more than one" in doc["detail"]
    assert www.startswith("Microshop-Signature")
    assert stock(shop, keys, sku) is None


# ------------------------------------------------------------ bad events

LONG = "x" * 257


@pytest.mark.parametrize("body", [
    b"",
    b"not json",
    b"[]",
    b'"event"',
    b'{"id":"a","id":"b","seller":"s1","sku":"A","version":1}',
    b'{"id":"e","seller":"s1","sku":"A","version":1}x',
    b'{"seller":"s1","sku":"A","version":1}',
    b'{"id":"","seller":"s1","sku":"A","version":1}',
    b'{"id":5,"seller":"s1","sku":"A","version":1}',
    ('{"id":"%s","seller":"s1","sku":"A","version":1}' % LONG).encode(),
    b'{"id":"e","sku":"A","version":1}',
    b'{"id":"e","seller":7,"sku":"A","version":1}',
    b'{"id":"e","seller":"","sku":"A","version":1}',
    b'{"id":"e","seller":"s1","version":1}',
    b'{"id":"e","seller":"s1","sku":["A"],"version":1}',
    ('{"id":"e","seller":"s1","sku":"%s","version":1}' % LONG).encode(),
    b'{"id":"e","seller":"s1","sku":"A\\nB","version":1}',
    b'{"id":"e","seller":"s\\u0000","sku":"A","version":1}',
    b'{"id":"e","seller":"s1","sku":"A"}',
    b'{"id":"e","seller":"s1","sku":"A","version":"1"}',
    b'{"id":"e","seller":"s1","sku":"A","version":-1}',
    b'{"id":"e","seller":"s1","sku":"A","version":1.5}',
    b'{"id":"e","seller":"s1","sku":"A","version":null}',
    b'{"id":"e","seller":"s1","sku":"A","version":1,"available":-1}',
    b'{"id":"e","seller":"s1","sku":"A","version":1,"available":"3"}',
    b'{"id":"e","seller":"s1","sku":"A","version":1,"available":2.0}',
    b'{"id":"e","seller":"s1","sku":"A","version":1,"item":[1]}',
    b'{"id":"e","seller":"s1","sku":"A","version":1,"item":"x"}',
    b'{"id":"e","seller":"s1","sku":"A","version":1,"type":1}',
    b'{"id":"e","seller":"s1","sku":"A","version":1,"sku":"B"}',
])
def test_invalid_event(shop, keys, body):
    resp = post_event(shop, body=body)
    assert resp.status_code == 400, (body, resp.status_code, resp.text)
    problem(resp, "invalid-event")


def test_invalid_event_has_no_effect(shop, keys):
    sku = new_sku()
    doc = event(sku, available=3)
    bad = dict(doc, version="2")
    assert post_event(shop, bad).status_code == 400
    assert stock(shop, keys, sku) is None
    # nor does it burn the id: the corrected event is accepted
    accepted(post_event(shop, doc))
    assert stock(shop, keys, sku) == {"available": 3, "held": 0}


def test_unknown_members_are_ignored(shop, keys):
    sku = new_sku()
    accepted(post_event(shop, event(sku, available=4, extra={"a": 1},
                                    note="hello")))
    assert stock(shop, keys, sku) == {"available": 4, "held": 0}


# ------------------------------------------------------------ admin stock

def test_admin_put_and_get_stock(shop, keys):
    sku = new_sku()
    assert stock(shop, keys, sku) is None
    resp = put_stock(shop, keys, sku, 5)
    assert resp.status_code == 204, resp.text
    assert resp.content == b""
    assert stock(shop, keys, sku) == {"available": 5, "held": 0}
    assert put_stock(shop, keys, sku, 0).status_code == 204
    assert stock(shop, keys, sku) == {"available": 0, "held": 0}
    resp = shop.request("HEAD", "/admin/stock/s1/" + sku,
                        token=admin_token(keys))
    assert resp.status_code == 200
    assert resp.content == b""


def test_admin_get_unknown_stock(shop, keys):
    resp = shop.get("/admin/stock/s1/" + new_sku(), token=admin_token(keys))
    assert resp.status_code == 404
    problem(resp, "not-found")


@pytest.mark.parametrize("body", [
    b"", b"x", b"[]", b"5", b"{}", b'{"available":-1}', b'{"available":"5"}',
    b'{"available":1.5}', b'{"available":null}', b'{"available":true}',
    b'{"available":1,"available":2}', b'{"available":5,"held":1}',
    b'{"Available":5}'])
def test_admin_bad_stock_body(shop, keys, body):
    sku = new_sku()
    resp = shop.request("PUT", "/admin/stock/s1/" + sku,
                        token=admin_token(keys), data=body,
                        headers={"Content-Type": "application/json"})
    assert resp.status_code == 400, (body, resp.status_code, resp.text)
    problem(resp)
    assert stock(shop, keys, sku) is None


@pytest.mark.parametrize("path, status", [
    ("/admin/stock/s1", 404),
    ("/admin/stock/s1/", 404),
    ("/admin/stock/s1/A/B", 404),
    ("/admin/stock/s1/A%2FB", 404),
    ("/admin/stock", 404),
    ("/admin/stock/s1/" + LONG, 400),
    ("/admin/stock/" + LONG + "/A", 400),
    ("/admin/stock/s1/A%0AB", 400),
])
def test_admin_bad_stock_path(shop, keys, path, status):
    resp = shop.get(path, token=admin_token(keys))
    assert resp.status_code == status, (path, resp.text)
    problem(resp)
    resp = shop.request("PUT", path, token=admin_token(keys),
                        json={"available": 1})
    assert resp.status_code == status, (path, resp.text)


def test_admin_stock_methods(shop, keys):
    for method in ("POST", "DELETE", "PATCH"):
        resp = shop.request(method, "/admin/stock/s1/A1",
                            token=admin_token(keys), json={"available": 1})
        assert resp.status_code == 405, (method, resp.text)
        problem(resp, "method-not-allowed")
        assert resp.headers["Allow"] == "GET, HEAD, PUT"


def test_admin_revocations_405_has_allow(shop, keys):
    resp = shop.request("PUT", "/admin/revocations", token=admin_token(keys),
                        json={"jti": "x", "exp": 1})
    assert resp.status_code == 405
    problem(resp, "method-not-allowed")
    assert resp.headers["Allow"] == "GET, HEAD, POST"


def test_admin_stock_needs_admin_scope(shop, keys):
    sku = new_sku()
    token = mint(keys, kid="k1", scope="inventory:read inventory:write")
    resp = shop.request("PUT", "/admin/stock/s1/" + sku, token=token,
                        json={"available": 3})
    assert resp.status_code == 403
    problem(resp, "insufficient-scope")
    resp = shop.get("/admin/stock/s1/" + sku, token=token)
    assert resp.status_code == 403
    resp = shop.request("PUT", "/admin/stock/s1/" + sku,
                        json={"available": 3})
    assert resp.status_code == 401
    problem(resp, "invalid-token")
    assert stock(shop, keys, sku) is None


def test_admin_stock_is_per_seller(shop, keys):
    sku = new_sku()
    assert put_stock(shop, keys, sku, 1, seller="s1").status_code == 204
    assert put_stock(shop, keys, sku, 2, seller="s2").status_code == 204
    assert stock(shop, keys, sku, seller="s1")["available"] == 1
    assert stock(shop, keys, sku, seller="s2")["available"] == 2


# ------------------------------------------------------------ nginx -t

@pytest.fixture(scope="module")
def conf_test(nginx):
    """check(location_lines, marker) -> (rc, stderr, line of marker)."""
    n = nginx.new()

    def check(directives, marker):
        return n.test_config_at(
            "server {\n    listen 127.0.0.1:%d;\n"
            "    location = /events {\n        %s\n    }\n}\n"
            % (n.port, directives), marker)

    check.n = n
    return check


def assert_refused(rc, err, line, *needles):
    assert_conf_refused(rc, err, line, '"microshop_events"', *needles)


def test_config_good(conf_test):
    path = conf_test.n.write_file("good.secret", b"s" * 16 + b"\r\n")
    rc, err, _ = conf_test("microshop_events secret=%s tolerance=1h;" % path,
                           "microshop_events")
    assert rc == 0, err
    assert "syntax is ok" in err


def test_config_relative_secret_is_under_conf(conf_test):
    os.makedirs(os.path.join(conf_test.n.prefix + "-t", "conf"),
                exist_ok=True)
    with open(os.path.join(conf_test.n.prefix + "-t", "conf", "rel.secret"),
              "wb") as f:
        f.write(b"r" * 20)
    rc, err, _ = conf_test("microshop_events secret=rel.secret;",
                           "microshop_events")
    assert rc == 0, err


def test_config_needs_secret(conf_test):
    rc, err, line = conf_test("microshop_events tolerance=5m;",
                              "microshop_events")
    assert_refused(rc, err, line, "secret=FILE")
    rc, err, line = conf_test("microshop_events;", "microshop_events")
    assert_refused(rc, err, line)


def test_config_missing_secret_file(conf_test):
    path = os.path.join(conf_test.n.prefix, "no-such.secret")
    rc, err, line = conf_test("microshop_events secret=%s;" % path,
                              "no-such.secret")
    assert_refused(rc, err, line, path)


@pytest.mark.parametrize("data", [b"", b"\r\n", b"s" * 15,
                                  b"s" * 15 + b"\r\n\r\n"])
def test_config_short_secret(conf_test, data):
    path = conf_test.n.write_file("short.secret", data)
    rc, err, line = conf_test("microshop_events secret=%s;" % path,
                              "short.secret")
    assert_refused(rc, err, line, path, "too short")
    assert "sssssssssssssss" not in err


def test_config_secret_is_a_directory(conf_test):
    path = os.path.join(conf_test.n.prefix, "html")
    rc, err, line = conf_test("microshop_events secret=%s;" % path,
                              "secret=")
    assert_refused(rc, err, line, path)


@pytest.mark.parametrize("value", ["abc", "0", "0s", "2h", "-5s", ""])
def test_config_bad_tolerance(conf_test, value):
    path = conf_test.n.write_file("good.secret", b"s" * 16)
    rc, err, line = conf_test(
        "microshop_events secret=%s tolerance=%s;" % (path, value),
        "tolerance=")
    assert_refused(rc, err, line, "tolerance")


@pytest.mark.parametrize("extra", ["bogus=1", "secret=", "secret=%(p)s"])
def test_config_bad_parameter(conf_test, extra):
    path = conf_test.n.write_file("good.secret", b"s" * 16)
    rc, err, line = conf_test(
        "microshop_events secret=%s %s;" % (path, extra % {"p": path}),
        "microshop_events")
    assert_refused(rc, err, line)


def test_config_duplicate(conf_test):
    path = conf_test.n.write_file("good.secret", b"s" * 16)
    rc, err, line = conf_test(
        "microshop_events secret=%s;\n        "
        "microshop_events secret=%s; # second" % (path, path), "# second")
    assert_refused(rc, err, line, "duplicate")


def test_config_not_in_http_or_server(conf_test):
    path = conf_test.n.write_file("good.secret", b"s" * 16)
    n = conf_test.n
    rc, err = n.test_config("microshop_events secret=%s;\n"
                            "server { listen 127.0.0.1:%d; }\n"
                            % (path, n.port))
    assert rc != 0
    assert '"microshop_events" directive is not allowed here' in err
