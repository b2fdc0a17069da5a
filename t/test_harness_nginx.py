"""The harness itself: the nginx fixture on a plain config (module loaded,
no microshop_* directive), keys and tokens, redis-server."""

import hashlib
import json
import shutil

import jwt
import pytest
import redis

from microshop import (MODULE_SO, NginxFactory, b64url, bad_log_lines, mint,
                       raw_token)

CONF = """
server {
    listen 127.0.0.1:%(port)d;
    default_type text/plain;

    location /static/ {
        root %(prefix)s/html;
    }
    location /v1/ {
        proxy_pass http://127.0.0.1:%(backend)d;
    }
%(extra)s
}
"""


def conf(n, backend, extra=""):
    return CONF % {"port": n.port, "prefix": n.prefix,
                   "backend": backend.port, "extra": extra}


@pytest.fixture(scope="module")
def gateway(nginx, backend):
    n = nginx.new()
    n.write_file("html/static/hello.txt", "hello\n")
    n.start(conf(n, backend), workers=2)
    return n


def test_static_file(gateway):
    r = gateway.get("/static/hello.txt")
    assert r.status_code == 200 and r.text == "hello\n"
    assert gateway.get("/static/missing.txt").status_code == 404


def test_proxy_to_backend(gateway, backend):
    backend.reset()
    body = b"payload" * 1000
    r = gateway.post("/v1/echo/x?q=1", data=body, token="abc")
    assert r.status_code == 200
    echo = r.json()
    assert echo["path"] == "/v1/echo/x" and echo["query"] == "q=1"
    assert echo["headers"]["authorization"] == "Bearer abc"
    assert echo["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert backend.count("POST /v1/echo/x") == 1


def test_module_is_loaded(gateway):
    assert len(gateway.worker_pids()) == 2
    for pid in gateway.worker_pids():
        with open("/proc/%d/maps" % pid) as f:
            assert MODULE_SO in f.read()


def test_reload_starts_new_workers(gateway, backend):
    old = set(gateway.worker_pids())
    assert gateway.get("/added").status_code == 404
    gateway.reload(conf(gateway, backend,
                        "    location = /added { return 200 added; }"))
    assert not old & set(gateway.worker_pids())
    assert gateway.get("/added").text == "added"
    assert gateway.get("/static/hello.txt").text == "hello\n"


def test_refused_reload_keeps_serving(gateway, backend):
    gateway.allow_log.append(r'unknown directive "bogus_directive"')
    old = gateway.worker_pids()
    with pytest.raises(RuntimeError, match="bogus_directive"):
        gateway.reload(conf(gateway, backend, "    bogus_directive on;"))
    assert gateway.worker_pids() == old
    assert gateway.get("/static/hello.txt").status_code == 200
    gateway.reload(conf(gateway, backend))


def test_config_test_names_file_and_line(nginx, backend):
    n = nginx.new()
    rc, err = n.test_config(conf(n, backend))
    assert rc == 0 and "syntax is ok" in err
    rc, err = n.test_config(conf(n, backend, "    bogus_directive on;"))
    assert rc != 0
    assert 'unknown directive "bogus_directive"' in err
    assert "-t/conf/nginx.conf:" in err


def test_log_checker():
    crash = "2024/01/01 00:00:00 [alert] 1#1: worker 7 exited on signal 11"
    asan = "==7==ERROR: AddressSanitizer: heap-use-after-free"
    log = "\n".join([
        "2024/01/01 00:00:00 [notice] 1#1: start worker processes",
        crash,
        "2024/01/01 00:00:00 [crit] 7#7: something",
        asan,
        "2024/01/01 00:00:00 [error] 7#7: upstream timed out",
        "2024/01/01 00:00:00 [emerg] 1#1: expected emerg",
    ])
    assert len(bad_log_lines(log)) == 4
    assert bad_log_lines(log, allow=[r"expected emerg", r"\[crit\]"]) == [
        crash, asan]
    assert bad_log_lines("[notice] worker process 7 exited on signal 9") \
        == ["[notice] worker process 7 exited on signal 9"]
    assert bad_log_lines("[warn] fine\n[info] fine") == []


def test_factory_reports_bad_log_lines():
    factory = NginxFactory()
    n = factory.new()
    with open(n.error_log_path, "w") as f:
        f.write("[info] ok\n[alert] 1#1: boom\n")
    assert factory.finish() == {n.error_log_path: ["[alert] 1#1: boom"]}
    shutil.rmtree(factory.base)


def test_keys_and_tokens(keys):
    token = mint(keys, kid="k1", headers={"typ": "at+jwt"}, aud="shop",
                 scope="orders:write", iss=None)
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": "k1",
                                                "typ": "at+jwt"}
    claims = jwt.decode(token, keys.ec256_private.public_key(),
                        algorithms=["ES256"], audience="shop")
    assert claims["seller"] == "s1" and claims["scope"] == "orders:write"
    assert claims["exp"] - claims["iat"] == 300 and "iss" not in claims

    for alg in ("RS256", "ES384", "HS256", "HS512"):
        token = mint(keys, alg=alg, exp=None)
        assert "exp" not in jwt.decode(token, options={
            "verify_signature": False})

    with open(keys.hs256_file, "rb") as f:
        assert f.read() == keys.hs256_secret and len(keys.hs256_secret) >= 32
    with open(keys.jwks_file) as f:
        jwks = jwt.PyJWKSet.from_dict(json.load(f))
    by_kid = {k.key_id: k for k in jwks.keys}
    token = mint(keys, alg="RS256", kid="rsa-jwks")
    jwt.decode(token, by_kid["rsa-jwks"].key, algorithms=["RS256"])
    token = mint(keys, alg="ES256", kid="ec-jwks")
    jwt.decode(token, by_kid["ec-jwks"].key, algorithms=["ES256"])
    token = mint(keys, alg="HS256", kid="oct-jwks", key=keys.jwks_oct_secret)
    jwt.decode(token, by_kid["oct-jwks"].key, algorithms=["HS256"])


def test_raw_tokens(keys):
    payload = {"sub": "x", "exp": 2000000000}
    token = raw_token({"alg": "ES256"}, payload, keys.ec256_private, "ES256")
    assert jwt.decode(token, keys.ec256_private.public_key(),
                      algorithms=["ES256"])["sub"] == "x"

    # key confusion: HS256 keyed with the RSA public key PEM
    with open(keys.rsa_public_pem, "rb") as f:
        pem = f.read()
    token = raw_token({"alg": "HS256"}, payload, pem, "HS256")
    assert token.count(".") == 2 and not token.endswith(".")

    token = raw_token('{"alg":"ES256","alg":"none"}', payload)
    head, _, sig = token.split(".")
    assert head == b64url('{"alg":"ES256","alg":"none"}') and sig == ""


def test_redis_server(redis_server):
    client = redis_server.client()
    client.set("harness", "1")
    assert client.get("harness") == b"1"
    redis_server.stop()
    with pytest.raises(redis.ConnectionError):
        redis_server.client().ping()
    redis_server.start()
    assert redis_server.client().ping()
    assert redis_server.url == "redis://127.0.0.1:%d" % redis_server.port
