"""Idempotency keys: a retried write executes at most once.  The reference
backend's counters are the witness."""

import concurrent.futures
import hashlib
import json
import re
import time

import pytest

from microshop import http_session, mint, problem

CONF = """
microshop_zone name=shop size=8m;
microshop_jwt_key %(ec_pub)s kid=k1;
client_body_buffer_size 16k;

server {
    listen 127.0.0.1:%(port)d;

    location = /status { microshop_status; }

    location ~ ^/v1/sellers/(?<seller>[^/]+)/ {
        microshop_auth on;
        microshop_seller $seller;
        microshop_idempotency on;
        add_header X-Idempotency $microshop_idempotency always;
        proxy_pass http://127.0.0.1:%(backend)d;
    }

    location /required/ {
        microshop_auth on;
        microshop_idempotency required ttl=1s;
        proxy_pass http://127.0.0.1:%(backend)d/v1/echo/;
    }

    location /big/ {
        microshop_auth on;
        microshop_idempotency on methods=GET max_body=1k;
        proxy_pass http://127.0.0.1:%(backend)d/v1/big;
    }

    location /down/ {
        microshop_auth on;
        microshop_idempotency on;
        proxy_pass http://127.0.0.1:%(dead)d;
    }
}
"""

ORDER = {"items": [{"sku": "A1", "quantity": 1}]}


@pytest.fixture(scope="module")
def gw(nginx, keys, backend):
    from microshop import free_port
    n = nginx.new()
    n.start(CONF % {"port": n.port, "backend": backend.port,
                    "ec_pub": keys.ec256_public_pem, "dead": free_port()},
            workers=2)
    n.allow_log.append(r"connect\(\) failed \(111: Connection refused\)")
    return n


def tok(keys, seller="s1"):
    return mint(keys, kid="k1", seller=seller)


def checkout(gw, token, key, body=ORDER, seller="s1", session=None, **kw):
    """session: on that connection (so its worker), else a new one."""
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    path = "/v1/sellers/%s/checkout" % seller
    if session is not None:
        headers["Authorization"] = "Bearer " + token
        return session.post(gw.url(path), data=data, headers=headers, **kw)
    return gw.post(path, token=token, data=data, headers=headers, **kw)


def test_replay_is_identical_and_backend_runs_once(gw, keys, backend, clean):
    t = tok(keys)
    with http_session() as s:
        # one connection: see test_oversize_answer_is_never_executed_twice
        first = checkout(gw, t, "order-1", session=s)
        assert first.status_code == 201
        assert first.headers["X-Idempotency"] == "new"
        assert "Idempotent-Replayed" not in first.headers

        # the sf-string form: same key
        again = checkout(gw, t, '"order-1"', session=s)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["X-Idempotency"] == "replay"
    assert again.content == first.content
    for h in ("Content-Type", "Location", "Content-Length"):
        assert again.headers[h] == first.headers[h], h

    assert backend.count("POST /v1/sellers/s1/checkout") == 1
    assert backend.item("s1", "A1")["available"] == 9


def test_concurrent_duplicates_execute_once(gw, keys, backend, clean):
    backend.mode(delay=1.0, path_prefix="/v1/sellers/s1/checkout")
    t = tok(keys)
    with concurrent.futures.ThreadPoolExecutor(30) as pool:
        answers = list(pool.map(lambda _: checkout(gw, t, "burst-1"),
                                range(30)))
    codes = sorted(r.status_code for r in answers)
    assert codes.count(201) >= 1
    assert set(codes) <= {201, 409}
    for r in answers:
        if r.status_code == 409:
            assert problem(r, "idempotency-in-progress")
            assert r.headers["Retry-After"] == "1"
    assert backend.count("POST /v1/sellers/s1/checkout") == 1

    backend.mode()
    r = checkout(gw, t, "burst-1")
    assert r.status_code == 201 and r.headers["Idempotent-Replayed"] == "true"
    assert backend.count("POST /v1/sellers/s1/checkout") == 1


def test_same_key_other_body_is_422(gw, keys, backend, clean):
    t = tok(keys)
    assert checkout(gw, t, "reuse-1").status_code == 201
    other = {"items": [{"sku": "A1", "quantity": 2}]}
    r = checkout(gw, t, "reuse-1", body=other)
    assert r.status_code == 422
    problem(r, "idempotency-key-reused")
    assert backend.count("POST /v1/sellers/s1/checkout") == 1


def test_other_seller_same_key_executes_separately(gw, keys, backend, clean):
    assert checkout(gw, tok(keys, "s1"), "shared-key").status_code == 201
    r = checkout(gw, tok(keys, "s2"), "shared-key", seller="s2")
    assert r.status_code == 201 and "Idempotent-Replayed" not in r.headers
    assert backend.count("POST /v1/sellers/s1/checkout") == 1
    assert backend.count("POST /v1/sellers/s2/checkout") == 1


def test_5xx_releases_the_key(gw, keys, backend, clean):
    t = tok(keys)
    backend.mode(status=500, path_prefix="/v1/sellers/s1/checkout")
    r = checkout(gw, t, "flaky-1")
    assert r.status_code == 500
    assert r.headers["X-Idempotency"] == "released"
    backend.mode()
    r = checkout(gw, t, "flaky-1")
    assert r.status_code == 201 and "Idempotent-Replayed" not in r.headers
    assert backend.count("POST /v1/sellers/s1/checkout") == 2


@pytest.mark.parametrize("status", [204, 304])
def test_answer_without_body_is_replayed(gw, keys, backend, clean, status):
    """204 and 304 carry no body, so no last buffer reaches the module's
    body filter: the answer is kept whole all the same and replayed."""
    t = tok(keys)
    key = "nobody-%d" % status
    backend.mode(status=status, path_prefix="/v1/sellers/s1/checkout")
    first = checkout(gw, t, key)
    assert first.status_code == status and first.content == b""
    again = checkout(gw, t, key)
    assert again.status_code == status, (again.status_code, again.text)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.content == b""
    assert backend.count("POST /v1/sellers/s1/checkout") == 1


def test_upstream_failure_releases_the_key(gw, keys):
    t = tok(keys)
    headers = {"Idempotency-Key": "down-1"}
    r = gw.post("/down/x", token=t, data="{}", headers=headers)
    assert r.status_code == 502
    r = gw.post("/down/x", token=t, data="{}", headers=headers)
    assert r.status_code == 502       # executed (tried) again, not 409


def test_large_body_spilled_to_file(gw, keys, backend, clean):
    t = tok(keys)
    blob = bytes(range(256)) * 800          # 200 KB, beyond the 16k buffer
    headers = {"Idempotency-Key": "big-body-1"}
    r = gw.post("/v1/sellers/s1/echo-none", token=t, data=blob,
                headers=headers)
    # the backend saw every byte
    seen = backend.requests(1)[-1]
    assert seen["body_len"] == len(blob)
    assert seen["body_sha256"] == hashlib.sha256(blob).hexdigest()
    first_status = r.status_code

    r = gw.post("/v1/sellers/s1/echo-none", token=t, data=blob,
                headers=headers)
    assert r.status_code == first_status
    assert r.headers["Idempotent-Replayed"] == "true"

    changed = blob[:-1] + b"\x00"
    r = gw.post("/v1/sellers/s1/echo-none", token=t, data=changed,
                headers=headers)
    assert r.status_code == 422
    assert len(backend.requests(10)) == 1


def test_large_body_through_echo(gw, keys, backend, clean):
    t = tok(keys)
    blob = b"x" * 150000 + b"end"
    r = gw.post("/required/a", token=t, data=blob,
                headers={"Idempotency-Key": "echo-big"})
    assert r.status_code == 200
    assert r.json()["body_sha256"] == hashlib.sha256(blob).hexdigest()
    r2 = gw.post("/required/a", token=t, data=blob,
                 headers={"Idempotency-Key": "echo-big"})
    assert r2.headers["Idempotent-Replayed"] == "true"
    assert r2.content == r.content
    assert backend.count("POST /v1/echo/a") == 1


def test_oversize_answer_is_never_executed_twice(gw, keys, backend, clean):
    """The retries go on the first request's connection, so to its worker:
    the answer is posted to the store as it goes out, and a retry that
    another worker serves at once may still find the key in progress
    (409 idempotency-in-progress, Retry-After: 1; docs/http.md)."""
    t = tok(keys)

    def get(s, size, key):
        return s.get(gw.url("/big/?size=%d" % size),
                     headers={"Authorization": "Bearer " + t,
                              "Idempotency-Key": key})

    with http_session() as s:
        r = get(s, 5000, "o1")
        assert r.status_code == 200 and len(r.content) == 5000
        r = get(s, 5000, "o1")
        assert r.status_code == 409
        problem(r, "idempotency-response-unavailable")
        assert backend.count("GET /v1/big") == 1

        # a small answer within max_body replays
        r = get(s, 100, "o2")
        r2 = get(s, 100, "o2")
    assert r2.headers["Idempotent-Replayed"] == "true"
    assert r2.content == r.content


def test_required_and_invalid_keys(gw, keys, backend, clean):
    t = tok(keys)
    r = gw.post("/required/a", token=t, data="{}")
    assert r.status_code == 400
    problem(r, "idempotency-key-missing")

    for bad in ["", "x" * 256, "caf\u00e9".encode("utf-8"), '"open',
                '"a"b"']:
        r = gw.post("/required/a", token=t, data="{}",
                    headers={"Idempotency-Key": bad})
        assert r.status_code == 400, bad
        problem(r, "idempotency-key-invalid")

    r = gw.post("/required/a", token=t, data="{}",
                headers={"Idempotency-Key": "k" * 255})
    assert r.status_code == 200
    assert backend.count("POST /v1/echo/a") == 1


def test_key_is_free_after_ttl(gw, keys, backend, clean):
    t = tok(keys)
    h = {"Idempotency-Key": "ttl-1"}
    assert gw.post("/required/a", token=t, data="1", headers=h) \
        .status_code == 200
    r = gw.post("/required/a", token=t, data="1", headers=h)
    assert r.headers.get("Idempotent-Replayed") == "true"
    time.sleep(1.2)
    r = gw.post("/required/a", token=t, data="1", headers=h)
    assert "Idempotent-Replayed" not in r.headers
    assert backend.count("POST /v1/echo/a") == 2


def test_writes_without_key_pass_and_reads_are_untouched(gw, keys, backend,
                                                         clean):
    t = tok(keys)
    assert checkout(gw, t, None).status_code == 201
    assert checkout(gw, t, None).status_code == 201
    assert backend.count("POST /v1/sellers/s1/checkout") == 2
    r = gw.get("/v1/sellers/s1/inventory/A1", token=t,
               headers={"Idempotency-Key": "read-1"})
    assert r.status_code == 200 and "X-Idempotency" not in r.headers


def test_counters(gw, keys, backend, clean):
    text = gw.get("/status").text
    for result in ("new", "replay", "conflict", "mismatch", "unavailable",
                   "released"):
        assert re.search(r'^microshop_idempotency_total\{result="%s"\} \d+$'
                         % result, text, re.M), result


@pytest.mark.parametrize("directive, message", [
    ("microshop_idempotency maybe;", r'invalid value "maybe"'),
    ("microshop_idempotency on ttl=0;", r'invalid time "ttl=0"'),
    ("microshop_idempotency on methods=POST,BREW;",
     r'unknown method "BREW"'),
    ("microshop_idempotency on max_body=huge;",
     r'invalid size "max_body=huge"'),
    ("microshop_idempotency on colour=red;", r'invalid parameter'),
    ("microshop_idempotency on on_store_error=open;",
     r'invalid value "on_store_error=open", it must be '
     r'"on_store_error=closed" or "on_store_error=local"'),
    ("microshop_reserve on on_store_error=;",
     r'invalid value "on_store_error=", it must be'),
])
def test_nginx_t_rejects_bad_settings(nginx, directive, message):
    n = nginx.new()
    rc, err = n.test_config("server { listen 127.0.0.1:%d; location / { %s "
                            "root html; } }" % (n.port, directive))
    assert rc != 0 and re.search(message, err), err
    assert re.search(r"nginx\.conf:\d+", err)
