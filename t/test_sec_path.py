"""The path a seller is read from (docs/http.md): nginx reads $seller from
the normalized URI, proxy_pass without a URI forwards the raw one.  In a
location with microshop_seller a raw path whose segments differ from the
normalized ones is 400 invalid-request and never reaches the backend;
every other path is forwarded as it came.  `nginx -t` warns when
microshop_seller reads what a client sets freely.

Requests go out with raw_http, byte for byte, so that no client library
normalizes the attack first."""

import json
import os
import re

import pytest

from microshop import mint, problem, raw_http

CONF = """
microshop_jwt_key %(ec_pub)s kid=k1;

server {
    listen 127.0.0.1:%(port)d;

    location = /status { microshop_status; }

    location ~ ^/v1/sellers/(?<seller>[^/]+)/ {
        microshop_auth on;
        microshop_seller $seller;
        proxy_pass http://127.0.0.1:%(backend)d;
    }

    # no token here, but the cache keys its entries by the seller
    location ~ ^/v1/public/(?<seller>[^/]+)/inventory/(?<sku>[^/]+)$ {
        microshop_seller $seller;
        microshop_inventory_cache sku=$sku ttl=60s;
        proxy_pass http://127.0.0.1:%(backend)d;
    }

    # no microshop_seller: nothing is read from the path, it goes as it came
    location /v1/echo/ {
        microshop_auth on;
        proxy_pass http://127.0.0.1:%(backend)d;
    }

    # the seller location after a rewrite
    location /v1/legacy/ {
        rewrite ^/v1/legacy/(.*)$ /v1/sellers/$1 last;
    }
}
"""


@pytest.fixture(scope="module")
def gw(nginx, keys, backend):
    n = nginx.new()
    n.start(CONF % {"ec_pub": keys.ec256_public_pem, "port": n.port,
                    "backend": backend.port})
    return n


def send(gw, target, token=None, method="GET"):
    """(status, headers, body bytes) of a raw request for target."""
    lines = ["%s %s HTTP/1.1" % (method, target),
             "Host: 127.0.0.1:%d" % gw.port, "Connection: close"]
    if token:
        lines.append("Authorization: Bearer " + token)
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    answer = raw_http(gw, data)
    head, _, body = answer.partition(b"\r\n\r\n")
    head = head.decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def token_of(keys, seller):
    return mint(keys, kid="k1", seller=seller)


def assert_invalid_request(status, headers, body):
    assert status == 400, (status, body)
    assert headers["content-type"] == "application/problem+json", headers
    doc = json.loads(body)
    assert doc["type"] == "urn:problem:microshop:invalid-request", doc
    assert doc["status"] == 400 and doc["title"] == "Invalid request path"
    return doc


# (target, the seller nginx reads from the normalized path, detail word):
# with a token of that seller each of these passed before, and the backend
# read another path than the one checked
ATTACKS = [
    # the path: the backend reads s2
    ("/v1/sellers/s2/inventory/A1/../../../s1/inventory/A1", "s1", "dot"),
    ("/v1/sellers/s2/inventory/A1/%2e%2e/%2e%2e/%2e%2e/s1/inventory/A1",
     "s1", "encoded"),
    ("/v1/sellers/s2/inventory/A1/%2E%2E/%2E%2E/%2E%2E/s1/inventory/A1",
     "s1", "encoded"),
    ("/v1/sellers/s2/inventory/A1/.%2e/%2E./.%2E/s1/inventory/A1", "s1",
     "encoded"),
    ("/v1/sellers/s2/inventory/A1%2F..%2F..%2F..%2Fs1/inventory/A1", "s1",
     "encoded"),
    ("/v1/sellers/s2/inventory/A1%2f..%2f..%2f..%2fs1/inventory/A1", "s1",
     "encoded"),
    ("/v1/sellers/s1%2F..%2Fs2/inventory/A1", "s2", "encoded"),
    ("/v1/sellers/s1/./inventory/A1", "s1", "dot"),
    ("/v1/sellers/s1/inventory/A1/.", "s1", "dot"),
    ("/v1/sellers/s1/inventory/x/..", "s1", "dot"),
    # any encoded dot, and double encodings a backend may decode twice
    ("/v1/sellers/s1/inventory/A%2e1", "s1", "encoded"),
    ("/v1/sellers/s1/inventory/A1/%252e%252e/%252e%252e/%252e%252e/s2/"
     "inventory/A1", "s1", "encoded"),
    ("/v1/sellers/s1/inventory/A1%252F..%252F..%252F..%252Fs2/inventory/A1",
     "s1", "encoded"),
    ("/v1/sellers/s1/inventory/A1/%25%32%65%25%32%65/x", "s1", "encoded"),
    # backslashes, raw and encoded
    ("/v1/sellers/s1/inventory/A1\\..\\..\\..\\s2\\inventory\\A1", "s1",
     "backslash"),
    ("/v1/sellers/s1/inventory/A1%5C..%5C..%5C..%5Cs2%5Cinventory%5CA1",
     "s1", "encoded"),
    ("/v1/sellers/s1/inventory/A1%5c..%5c..%5c..%5cs2%5cinventory%5cA1",
     "s1", "encoded"),
    # path parameters: a backend that drops them resolves "..;"
    ("/v1/sellers/s2/inventory/A1/..;/..;/..;/s1/inventory/A1", "s2", "dot"),
    ("/v1/sellers/s2/inventory/A1/..;x=1/..;/..;/s1/inventory/A1", "s2",
     "dot"),
    ("/v1/sellers/s2/..%3B/s1/inventory/A1", "s2", "dot"),
    # empty segments, which nginx merges
    ("/v1/sellers/s1//inventory/A1", "s1", "empty"),
    ("/v1/sellers//s1/inventory/A1", "s1", "empty"),
    ("/v1//sellers/s1/inventory/A1", "s1", "empty"),
    # nginx ends the path at '#', proxy_pass sends what follows too
    ("/v1/sellers/s1/inventory/A1#/../../../s2/inventory/A1", "s1",
     "fragment"),
    # the request target in absolute form
    ("http://127.0.0.1/v1/sellers/s2/inventory/A1/../../../s1/inventory/A1",
     "s1", "dot"),
    ("http://127.0.0.1/v1/sellers/s2/inventory/A1/%2e%2e/%2e%2e/%2e%2e/s1/"
     "inventory/A1", "s1", "encoded"),
    # through a rewrite: proxy_pass would send the new URI, but
    # $request_uri (FastCGI's REQUEST_URI) still holds this one
    ("/v1/legacy/s2/inventory/A1/../../../s1/inventory/A1", "s1", "dot"),
]


@pytest.mark.parametrize("target,seller,word", ATTACKS)
def test_attack_is_refused_and_never_forwarded(gw, keys, backend, clean,
                                               target, seller, word):
    status, headers, body = send(gw, target, token_of(keys, seller))
    doc = assert_invalid_request(status, headers, body)
    assert word in doc["detail"], doc
    assert backend.stats()["requests_total"] == 0


@pytest.mark.parametrize("method", ["HEAD", "PUT", "DELETE"])
def test_every_method_is_refused(gw, keys, backend, clean, method):
    status, headers, _ = send(
        gw, "/v1/sellers/s2/inventory/A1/../../../s1/inventory/A1",
        token_of(keys, "s1"), method=method)
    assert status == 400
    assert headers["content-type"] == "application/problem+json"
    assert backend.stats()["requests_total"] == 0


# paths nginx itself refuses with its own 400, before any module runs
NGINX_REFUSES = [
    "/v1/sellers/s1/inventory/A%001",
    "/v1/sellers/s1/inventory/A%zz",
    "/../v1/sellers/s1/inventory/A1",
]


@pytest.mark.parametrize("target", NGINX_REFUSES)
def test_nginx_refuses_these_itself(gw, keys, backend, clean, target):
    status, _, _ = send(gw, target, token_of(keys, "s1"))
    assert status == 400
    assert backend.stats()["requests_total"] == 0


def test_no_token_is_still_401(gw, backend, clean):
    # the token is checked first: the path is looked at after it
    status, headers, _ = send(
        gw, "/v1/sellers/s2/inventory/A1/../../../s1/inventory/A1")
    assert status == 401
    assert backend.stats()["requests_total"] == 0


@pytest.mark.parametrize("target", [
    "/v1/public/s2/inventory/A1/../../../s1/inventory/A1",
    "/v1/public/s1/inventory/A1%2F..%2FB1",
    "/v1/public/s1/inventory/A%2e1",
])
def test_without_a_token_too(gw, backend, clean, target):
    # a cache entry keyed (s1, A1) must not hold what the backend has
    # under another path
    status, headers, body = send(gw, target)
    assert_invalid_request(status, headers, body)
    assert backend.stats()["requests_total"] == 0


# (target, what the backend must receive): forwarded as they came
LEGIT = [
    ("/v1/sellers/s1/inventory/A1", "/v1/sellers/s1/inventory/A1"),
    ("/v1/sellers/s1/inventory/%41%31", "/v1/sellers/s1/inventory/%41%31"),
    ("/v1/sellers/s1/inventory/caf%C3%A9",
     "/v1/sellers/s1/inventory/caf%C3%A9"),
    ("/v1/sellers/s1/inventory/A.1", "/v1/sellers/s1/inventory/A.1"),
    ("/v1/sellers/s1/inventory/A..1", "/v1/sellers/s1/inventory/A..1"),
    ("/v1/sellers/s1/inventory/...", "/v1/sellers/s1/inventory/..."),
    ("/v1/sellers/s1/inventory/a%3Fb", "/v1/sellers/s1/inventory/a%3Fb"),
    ("/v1/sellers/s1/inventory/100%25", "/v1/sellers/s1/inventory/100%25"),
    ("/v1/sellers/s1/inventory/a;b", "/v1/sellers/s1/inventory/a;b"),
    ("/v1/sellers/s1/inventory/", "/v1/sellers/s1/inventory/"),
    ("/v1/sellers/s1/inventory/A1?next=/../s2/%2e%2e&x=%2F",
     "/v1/sellers/s1/inventory/A1"),
    ("http://127.0.0.1/v1/sellers/s1/inventory/A1",
     "/v1/sellers/s1/inventory/A1"),
    # a rewrite: proxy_pass sends the rewritten URI
    ("/v1/legacy/s1/inventory/A1", "/v1/sellers/s1/inventory/A1"),
]


@pytest.mark.parametrize("target,received", LEGIT)
def test_legit_path_reaches_the_backend_as_it_came(gw, keys, backend, clean,
                                                   target, received):
    status, _, body = send(gw, target, token_of(keys, "s1"))
    assert status in (200, 404), (status, body)   # the backend's answer
    got = backend.requests()
    assert [r["path"] for r in got] == [received], got


def test_seller_is_still_checked(gw, keys, backend, clean):
    status, _, body = send(gw, "/v1/sellers/s2/inventory/A1",
                           token_of(keys, "s1"))
    assert status == 403 and b"seller-mismatch" in body
    assert backend.stats()["requests_total"] == 0


def test_only_where_microshop_seller_is_set(gw, keys, backend, clean):
    # a location without microshop_seller reads no seller from the path:
    # it keeps nginx's usual behaviour
    status, _, body = send(gw, "/v1/echo/a/../b", token_of(keys, "s1"))
    assert status == 200, body
    assert [r["path"] for r in backend.requests()] == ["/v1/echo/a/../b"]


def test_counted_as_invalid_request(gw, keys, backend, clean):
    send(gw, "/v1/sellers/s1/./inventory/A1", token_of(keys, "s1"))
    text = gw.get("/status").text
    m = re.search(r'^microshop_requests_total\{decision="deny",'
                  r'reason="invalid_request"\} (\d+)$', text, re.M)
    assert m and int(m.group(1)) >= 1, text


def test_info_line_names_the_reason(gw, keys, backend, clean):
    # error_log is at info in the tests: the refusal says why
    offset = os.path.getsize(gw.error_log_path)
    send(gw, "/v1/sellers/s1/inventory//A1", token_of(keys, "s1"))
    log = gw.error_log(offset)
    assert "microshop: path refused" in log, log
    assert "The path holds an empty segment." in log, log


# ---------------------------------------------------------------- nginx -t

SELLER_CONF = """
microshop_jwt_key %(ec_pub)s kid=k1;
map $uri $mapped { default s1; }
server {
    listen 127.0.0.1:%(port)d;
    location /v1/ {
        microshop_auth on;
        microshop_seller %(value)s;
        proxy_pass http://127.0.0.1:9;
    }
}
"""


@pytest.mark.parametrize("value,variable", [
    ("$arg_seller", "$arg_seller"),
    ("$ARG_seller", "$ARG_seller"),
    ("${arg_seller}", "$arg_seller"),
    ("$http_x_seller", "$http_x_seller"),
    ("$cookie_seller", "$cookie_seller"),
    ("$args", "$args"),
    ("$query_string", "$query_string"),
    ("$request_body", "$request_body"),
    ("shop-$uri-$http_x_shop", "$http_x_shop"),
])
def test_nginx_t_warns_about_a_client_set_seller(nginx, keys, value,
                                                 variable):
    n = nginx.new()
    rc, err, line = n.test_config_at(
        SELLER_CONF % {"ec_pub": keys.ec256_public_pem, "port": n.port,
                       "value": value}, marker="microshop_seller ")
    assert rc == 0, err
    warnings = [l for l in err.splitlines() if "[warn]" in l]
    assert len(warnings) == 1, err
    assert '"microshop_seller" reads "%s"' % variable in warnings[0]
    assert "which the client sets as it likes" in warnings[0]
    assert re.search(r"-t/conf/nginx\.conf:%d$" % line, warnings[0]), \
        warnings[0]


@pytest.mark.parametrize("value", ["$mapped", "$uri", "$request_uri", "s1",
                                   "$argument_free", "$1"])
def test_nginx_t_is_quiet_about_other_sellers(nginx, keys, value):
    n = nginx.new()
    conf = SELLER_CONF % {"ec_pub": keys.ec256_public_pem, "port": n.port,
                          "value": value}
    if value == "$argument_free":
        conf = "map $uri $argument_free { default s1; }\n" + conf
    rc, err = n.test_config(conf)
    assert rc == 0, err
    assert "[warn]" not in err, err
