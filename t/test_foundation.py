"""Foundation: the shared zone, the status page, problem+json and reloads,
through the real nginx with the built module."""

import re
import time

import pytest

from microshop import mint, problem, wait_for

CONF = """
%(zone)s
microshop_jwt_key %(ec_pub)s kid=k1;

server {
    listen 127.0.0.1:%(port)d;

    location = /status { microshop_status; }

    location /static/ {
        root %(prefix)s/html;
    }

    location /protected/ {
        microshop_auth on;
        alias %(prefix)s/html/static/;
    }

    location /v1/ {
        microshop_auth on;
        proxy_pass http://127.0.0.1:%(backend)d;
    }
}
"""


def render(n, keys, backend, zone="microshop_zone name=shop size=1m;"):
    return CONF % {"zone": zone, "port": n.port, "prefix": n.prefix,
                   "backend": backend.port, "ec_pub": keys.ec256_public_pem}


def metric(text, name):
    m = re.search(r"^%s (\d+)$" % re.escape(name), text, re.M)
    assert m, "metric %s missing in:\n%s" % (name, text)
    return int(m.group(1))


@pytest.fixture(scope="module")
def gateway(nginx, keys, backend):
    n = nginx.new()
    n.write_file("html/static/hello.txt", "hello\n")
    n.start(render(n, keys, backend), workers=2)
    return n


def test_unprotected_location_untouched(gateway):
    r = gateway.get("/static/hello.txt")
    assert r.status_code == 200 and r.text == "hello\n"


def test_problem_json_for_gateway_answers(gateway):
    r = gateway.get("/protected/hello.txt")
    body = problem(r, "invalid-token")
    assert r.status_code == 401 and body["status"] == 401
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="microshop"'
    assert r.headers["Cache-Control"] == "no-store"


def test_request_reaches_backend(gateway, keys, backend):
    backend.reset()
    r = gateway.get("/v1/sellers/s1/inventory/A1", token=mint(keys, kid="k1"))
    assert r.status_code == 200 and r.json()["sku"] == "A1"
    assert backend.count("GET /v1/sellers/s1/inventory/A1") == 1


def test_status_is_prometheus_text(gateway, keys):
    gateway.get("/protected/hello.txt")
    r = gateway.get("/status")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    for name in ("microshop_token_verifications_total",
                 "microshop_token_cache_hits_total",
                 "microshop_rate_limited_total", "microshop_redis_up",
                 'microshop_redis_errors_total{kind="timeout"}',
                 'microshop_redis_errors_total{kind="connect"}',
                 "microshop_redis_commands_total",
                 "microshop_redis_latency_seconds_count"):
        assert re.search(r"^%s \d+$" % re.escape(name), r.text, re.M), name
    assert re.search(r'^microshop_redis_latency_seconds_bucket\{le="\+Inf"\} '
                     r'0$', r.text, re.M)
    assert metric(r.text, 'microshop_requests_total{decision="deny",'
                          'reason="no_token"}') >= 1
    gateway.get("/protected/hello.txt", token=mint(keys, kid="k1"))
    assert metric(gateway.get("/status").text,
                  'microshop_zone_records{kind="token"}') >= 1
    r = gateway.post("/status")
    assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD"
    problem(r, "method-not-allowed")


def test_counters_summed_over_workers_and_kept_across_reload(gateway, keys,
                                                             backend):
    token = mint(keys, kid="k1")
    name = 'microshop_requests_total{decision="allow",reason="ok"}'

    def settled():
        # a request is counted in its log phase, just after its answer
        # went out: read until two reads agree
        a = metric(gateway.get("/status").text, name)
        time.sleep(0.05)
        b = metric(gateway.get("/status").text, name)
        return (b,) if a == b else None

    before, = wait_for(settled, what="settled counters")
    for _ in range(20):     # fresh connections: both workers take some
        assert gateway.get("/protected/hello.txt", token=token) \
            .status_code == 200
    after, = wait_for(settled, what="settled counters")
    assert after == before + 20

    old_workers = set(gateway.worker_pids())
    gateway.reload()
    assert not old_workers & set(gateway.worker_pids())

    text = gateway.get("/status").text
    assert metric(text, 'microshop_requests_total{decision="allow",'
                        'reason="ok"}') == after
    # the verified-token cache survived too: no new signature check
    verifications = metric(text, "microshop_token_verifications_total")
    assert gateway.get("/protected/hello.txt", token=token).status_code == 200
    assert metric(gateway.get("/status").text,
                  "microshop_token_verifications_total") == verifications


def test_implicit_zone_when_none_declared(nginx, keys, backend):
    n = nginx.new()
    n.write_file("html/static/hello.txt", "hello\n")
    n.start(render(n, keys, backend, zone=""))
    assert n.get("/protected/hello.txt",
                 token=mint(keys, kid="k1")).status_code == 200
    assert "microshop_requests_total" in n.get("/status").text
    n.stop()


@pytest.mark.parametrize("zone, message", [
    ("microshop_zone name=shop;",
     r'"microshop_zone" must have "size=" parameter'),
    ("microshop_zone size=1m;",
     r'"microshop_zone" must have "name=" parameter'),
    ("microshop_zone name=shop size=8k;", r'zone "shop" is too small'),
    ("microshop_zone name=shop size=lots;", r'invalid zone size "size=lots"'),
    ("microshop_zone name=shop size=1m colour=blue;",
     r'invalid parameter "colour=blue"'),
    ("microshop_zone name=shop size=1m;\nmicroshop_zone name=other size=1m;",
     r'"microshop_zone" directive is duplicate: one zone holds all '
     r'microshop state'),
    ("limit_req_zone $binary_remote_addr zone=shop:1m rate=1r/s;\n"
     "microshop_zone name=shop size=1m;",
     r'the shared memory zone "shop" is already declared for a different '
     r'use'),
])
def test_nginx_t_rejects_bad_zone(nginx, keys, backend, zone, message):
    n = nginx.new()
    rc, err = n.test_config(render(n, keys, backend, zone=zone))
    assert rc != 0
    assert re.search(message, err), err
    # the message names the file and the line of the offending directive
    m = re.search(r"in (\S+nginx\.conf):(\d+)", err)
    assert m, err
    with open(m.group(1)) as f:
        lines = f.read().split("\n")
    assert lines[int(m.group(2)) - 1].strip() == zone.split("\n")[-1]


def test_nginx_t_warns_about_return_in_a_protected_location(nginx, keys,
                                                           backend):
    n = nginx.new()
    conf = """
microshop_jwt_key %s kid=k1;
server {
    listen 127.0.0.1:%d;
    location /fine/ { microshop_auth on; root html; }
    location /leaky/ { microshop_auth on; return 200 "secret"; }
    location /open/ { return 200 "public"; }
}
""" % (keys.ec256_public_pem, n.port)
    rc, err = n.test_config(conf)
    assert rc == 0, err
    warnings = [l for l in err.splitlines() if "[warn]" in l]
    assert len(warnings) == 1, err
    assert 'location "/leaky/" answers with "return"' in warnings[0]
