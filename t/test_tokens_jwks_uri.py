"""Keys from the identity provider: microshop_jwt_jwks_uri (docs/tokens.md,
"Keys from the identity provider").

The test identity provider (t/idp.py) publishes a JWKS; nginx fetches it
through a subrequest to an internal location that proxies to it.  Three
gateways: A (one worker, refresh=1h, unknown_kid=2s: fetches for unknown
kids), B (one worker, refresh=1s, unknown_kid=1h: the periodic refresh and
broken documents) and C (two workers).  Every answer is a real one: the
protected location proxies to the reference backend.
"""

import json
import re
import socket
import threading
import time
import uuid

import jwt
import pytest

from microshop import (Idp, ec_token, http_session, mint, problem,
                       raw_token, wait_for)

GAP_A = 2.0             # unknown_kid= of gateway A
REFRESH_B = 1.0         # refresh= of gateway B

def gateway_conf(http, idp_location, listen=""):
    """A gateway: http-level lines, the internal location that proxies to
    the provider (its extra lines), a protected location that proxies to
    the backend, the status page."""
    return http + """
server {
    listen 127.0.0.1:%(port)d""" + listen + """;

    location = /_idp_jwks {
        internal;
        proxy_pass http://127.0.0.1:%(idp)d/.well-known/jwks.json;
""" + idp_location + """
    }

    location = /status {
        microshop_status;
    }

    location /v1/echo/ {
        microshop_auth on;
        add_header X-Worker $pid always;
        proxy_pass http://127.0.0.1:%(backend)d;
    }
}
"""


CONF_A = gateway_conf("""
microshop_jwt_key %(ec_pub)s kid=shared;
microshop_jwt_jwks_uri /_idp_jwks refresh=1h unknown_kid=2s;
microshop_audit_log %(prefix)s/logs/audit.log;
""", "        proxy_read_timeout 5s;")

CONF_B = gateway_conf("""
microshop_jwt_jwks_uri /_idp_jwks?tenant=t1 refresh=1s unknown_kid=1h;
""", "        proxy_read_timeout 1s;")

CONF_C = gateway_conf("""
microshop_jwt_jwks_uri /_idp_jwks;
proxy_cache_path %(prefix)s/tmp/idp_cache levels=1 keys_zone=idp:1m;
""", """        proxy_cache idp;
        proxy_cache_valid 200 1m;
        proxy_cache_lock on;""", listen=" reuseport")


def start(nginx, conf, idp, backend, keys, workers=1):
    n = nginx.new()
    n.start(conf % {"port": n.port, "idp": idp.port,
                    "backend": backend.port, "prefix": n.prefix,
                    "ec_pub": keys.ec256_public_pem},
            workers=workers)
    return n


def new_idp(tmp_path_factory, name):
    return Idp(str(tmp_path_factory.mktemp(name) / "idp.log"))


@pytest.fixture(scope="module")
def idp_a(tmp_path_factory):
    idp = new_idp(tmp_path_factory, "idp-a")
    yield idp
    idp.stop()


@pytest.fixture(scope="module")
def idp_b(tmp_path_factory):
    idp = new_idp(tmp_path_factory, "idp-b")
    yield idp
    idp.stop()


@pytest.fixture(scope="module")
def gw_a(nginx, idp_a, backend, keys):
    idp_a.reset()
    idp_a.add_key("k1")
    return start(nginx, CONF_A, idp_a, backend, keys)


@pytest.fixture(scope="module")
def gw_b(nginx, idp_b, backend, keys):
    idp_b.reset()
    idp_b.add_key("k1")
    return start(nginx, CONF_B, idp_b, backend, keys)


def get(gw, token, path="/v1/echo/jwks", **kw):
    kw.setdefault("timeout", 30)
    with http_session() as s:
        return s.get(gw.url(path),
                     headers={"Authorization": "Bearer " + token,
                              **kw.pop("headers", {})}, **kw)


def all_at_once(gw, tokens, **kw):
    """A request per token, all at the same time; their answers."""
    answers = [None] * len(tokens)

    def one(i):
        answers[i] = get(gw, tokens[i], **kw)

    threads = [threading.Thread(target=one, args=(i,))
               for i in range(len(tokens))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def status_text(gw):
    with http_session() as s:
        return s.get(gw.url("/status"), timeout=10).text


def metric(gw, line):
    m = re.search(r"^%s (\d+)$" % re.escape(line), status_text(gw), re.M)
    assert m, "%s missing" % line
    return int(m.group(1))


def fetches(gw, result):
    return metric(gw, 'microshop_jwks_uri_fetches_total{result="%s"}'
                  % result)


def refused(resp, description):
    problem(resp, "invalid-token")
    assert resp.status_code == 401, resp.text
    assert 'error_description="%s"' % description in \
        resp.headers["WWW-Authenticate"], resp.headers


def after_gap(idp, gap, since="time"):
    """Sleep until gap seconds passed since the provider was last asked
    (since="answered": since it answered)."""
    last = idp.stats()["last"].get(since)
    if last is not None:
        time.sleep(max(0.0, last + gap + 0.15 - time.time()))


def fetch_for_unknown_kid(gw, idp):
    """Gateway A takes the provider's document as it is now: a token of a
    kid in no set, once unknown_kid= is over, fetches it (and is refused)."""
    after_gap(idp, GAP_A)
    before = idp.requests()
    resp = get(gw, idp_token_unknown(idp))
    refused(resp, "unknown kid")
    assert idp.requests() == before + 1


def idp_token_unknown(idp):
    """A token of a kid the provider does not publish."""
    kid = "none-" + uuid.uuid4().hex[:8]
    key = idp.private.get("k1") or next(iter(idp.private.values()))
    return mint(None, "ES256", kid=kid, key=key)


def refresh_b(gw, idp, token):
    """Gateway B refreshes in the background: once refresh= is over, a
    request starts it (and is answered at once, with the old set); returns
    that answer once the fetch has ended."""
    after_gap(idp, REFRESH_B, "answered")
    before = idp.requests()
    done = sum(fetches(gw, r) for r in ("ok", "error", "invalid"))
    resp = get(gw, token)
    wait_for(lambda: idp.requests() > before, what="a refresh")
    wait_for(lambda: sum(fetches(gw, r) for r in ("ok", "error", "invalid"))
             > done, what="the refresh's result")
    return resp


def log_lines(gw, pattern, offset=0):
    return [line for line in gw.error_log(offset).splitlines()
            if re.search(pattern, line)]


# ----------------------------------------------------- gateway A: fetching

def test_first_requests_wait_for_one_fetch(gw_a, idp_a, backend, clean):
    """No keys yet: the first requests wait for one fetch, then pass; the
    fetch sends nothing of the client's."""
    idp_a.mode(delay=0.5)
    tokens = [idp_a.token("k1", sub="cold-%d" % i) for i in range(8)]
    answers = all_at_once(gw_a, tokens, headers={"Cookie": "session=secret"})
    idp_a.mode()

    for i, resp in enumerate(answers):
        assert resp.status_code == 200, resp.text
        assert resp.json()["headers"]["x-microshop-subject"] == "cold-%d" % i

    stats = idp_a.stats()
    assert stats["requests"] == 1
    # the subrequest carries no header of the client's, and its arguments
    sent = stats["last"]["headers"]
    assert "authorization" not in sent and "cookie" not in sent, sent
    assert fetches(gw_a, "ok") == 1
    assert metric(gw_a, "microshop_jwks_uri_keys") == 1
    assert abs(metric(gw_a, "microshop_jwks_uri_last_success_timestamp_"
                      "seconds") - time.time()) < 30

    # cached now: no fetch, no verification
    verified = metric(gw_a, "microshop_token_verifications_total")
    assert get(gw_a, tokens[0]).status_code == 200
    assert metric(gw_a, "microshop_token_verifications_total") == verified
    assert idp_a.requests() == 1


def test_audit_log_keeps_the_kid(gw_a, idp_a):
    """The kid of a provider's key reaches the audit log (copied: the set
    may be replaced before the log phase)."""
    token = idp_a.token("k1", sub="audited")
    assert get(gw_a, token).status_code == 200

    def audited():
        with open(gw_a.prefix + "/logs/audit.log") as f:
            return [json.loads(line) for line in f if '"audited"' in line]

    lines = wait_for(audited, what="the audit line")
    assert lines[-1]["kid"] == "k1" and lines[-1]["alg"] == "ES256", lines


def test_new_kid_after_rotation(gw_a, idp_a):
    """A kid the worker has not seen fetches the keys once per
    unknown_kid=, and the request that asked waits for them."""
    idp_a.add_key("k2")
    token = idp_a.token("k2", sub="rotated")

    # within unknown_kid= of the last fetch: refused, nothing fetched
    before = idp_a.requests()
    last = idp_a.stats()["last"]["time"]
    if time.time() - last < GAP_A - 0.5:
        refused(get(gw_a, token), "unknown kid")
        assert idp_a.requests() == before

    after_gap(idp_a, GAP_A)
    resp = get(gw_a, token)
    assert resp.status_code == 200, resp.text
    assert resp.json()["headers"]["x-microshop-subject"] == "rotated"
    assert idp_a.requests() == before + 1
    assert metric(gw_a, "microshop_jwks_uri_keys") == 2


def test_unknown_kid_flood_fetches_once(gw_a, idp_a):
    """Tokens of kids nobody has, all at once and then one after another:
    at most one fetch per unknown_kid= (2s), every token refused."""
    after_gap(idp_a, GAP_A)
    before = idp_a.requests()
    t0 = time.monotonic()
    tokens = [idp_token_unknown(idp_a) for _ in range(30)]
    for resp in all_at_once(gw_a, tokens):
        refused(resp, "unknown kid")
    for _ in range(15):
        refused(get(gw_a, idp_token_unknown(idp_a)), "unknown kid")
        time.sleep(0.1)

    elapsed = time.monotonic() - t0
    fetched = idp_a.requests() - before
    assert 1 <= fetched <= 1 + int(elapsed // GAP_A), (fetched, elapsed)


def test_pinning_as_for_file_keys(gw_a, idp_a):
    """Each provider key is bound to one alg, by the rules of
    microshop_jwt_jwks; a key they refuse (and an oct key) is left out,
    never the document."""
    offset = len(gw_a.error_log())
    idp_a.add_key("rsa-noalg", "RS256", {"alg": None})
    idp_a.add_key("ec-mismatch", "ES256", {"alg": "ES384"})
    idp_a.add_key("ec-noalg", "ES256", {"alg": None})
    idp_a.add_key("rs256", "RS256")
    secret = b"a-shared-secret-of-32-bytes-!!!!"
    idp_a.add_jwk({"kty": "oct", "kid": "oct", "alg": "HS256",
                   "k": "YS1zaGFyZWQtc2VjcmV0LW9mLTMyLWJ5dGVzLSEhISE"})
    fetch_for_unknown_kid(gw_a, idp_a)

    # k1, k2, ec-noalg, rs256 (the 3 left out verify nothing)
    assert metric(gw_a, "microshop_jwks_uri_keys") == 4
    warned = log_lines(gw_a, r"\[warn\].*3 of the provider's keys left "
                       r"out, the first: keys\[2\] \(kid \"rsa-noalg\"\): "
                       r"RSA key without \"alg\"", offset)
    assert warned, gw_a.error_log(offset)

    refused(get(gw_a, idp_a.token("rsa-noalg", "RS256")), "unknown kid")
    refused(get(gw_a, idp_a.token("ec-mismatch", "ES256")), "unknown kid")
    refused(get(gw_a, raw_token({"alg": "HS256", "kid": "oct"},
                                {"exp": int(time.time()) + 60,
                                 "sub": "x", "seller": "s1"},
                                key=secret, alg="HS256")), "unknown kid")
    # EC without alg: ES256 from its curve, and only ES256
    assert get(gw_a, idp_a.token("ec-noalg", "ES256")).status_code == 200
    # RS256 key: RS384 with it is refused
    refused(get(gw_a, idp_a.token("rs256", "RS384")),
            "alg not allowed for this key")
    assert get(gw_a, idp_a.token("rs256", "RS256")).status_code == 200


def test_high_s_refused_by_default(gw_a, idp_a):
    """ecdsa_s=low, the default: a provider's ES token in its high-S form
    is refused, its low-S form passes."""
    token = idp_a.token("k1", sub="low-s")
    refused(get(gw_a, ec_token(token, high=True)),
            "non-canonical ECDSA signature (high S)")
    assert get(gw_a, ec_token(token)).status_code == 200


def test_configured_key_wins_over_provider_kid(gw_a, idp_a, keys):
    """A provider key with the kid of a configured key is not used (logged
    once per document); the configured key keeps verifying."""
    offset = len(gw_a.error_log())
    idp_a.add_key("shared")
    fetch_for_unknown_kid(gw_a, idp_a)

    refused(get(gw_a, idp_a.token("shared")), "invalid signature")
    resp = get(gw_a, mint(keys, "ES256", kid="shared", sub="from-file"))
    assert resp.status_code == 200, resp.text

    # the same document again: nothing logged again
    fetch_for_unknown_kid(gw_a, idp_a)
    lines = log_lines(gw_a, r"\[warn\].*kid \"shared\" is not used: a "
                      r"configured key has that kid", offset)
    assert len(lines) == 1, lines


def test_jku_and_x5u_never_followed(gw_a, idp_a):
    """A token's jku or x5u fetches nothing: an unknown kid fetches the
    configured location's document, nothing else."""
    after_gap(idp_a, GAP_A)
    before = idp_a.stats()
    evil = idp_a.url("/evil.json")
    token = mint(None, "ES256", kid="evil", key=idp_a.private["k1"],
                 headers={"jku": evil, "x5u": evil})
    refused(get(gw_a, token), "unknown kid")
    after = idp_a.stats()
    assert after["others"] == before["others"]
    assert after["requests"] == before["requests"] + 1
    assert after["last"]["path"] == "/.well-known/jwks.json"


def raw_request(gw, token):
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    s.sendall(("GET /v1/echo/raw HTTP/1.1\r\nHost: x\r\n"
               "Authorization: Bearer %s\r\n\r\n" % token).encode())
    return s


def test_clients_that_go_away_while_waiting(gw_a, idp_a):
    """A waiting client that goes away leaves the wait list; when the one
    whose request fetches goes away, the fetch ends with it and a request
    that waited for it fetches again.  No crash, a clean log."""
    workers = gw_a.worker_pids()
    offset = len(gw_a.error_log())

    # a waiter goes away; the fetching request gets its answer
    idp_a.add_key("k5")
    after_gap(idp_a, GAP_A)
    idp_a.mode(delay=1.0)
    before = idp_a.requests()
    answer = {}
    fetcher = threading.Thread(target=lambda: answer.update(
        r=get(gw_a, idp_a.token("k5", sub="fetcher"))))
    fetcher.start()
    wait_for(lambda: idp_a.requests() > before, what="the fetch")
    gone = raw_request(gw_a, idp_a.token("k5", sub="gone"))
    time.sleep(0.2)
    gone.close()
    fetcher.join()
    assert answer["r"].status_code == 200, answer["r"].text
    assert idp_a.requests() == before + 1

    # the fetching request goes away: a waiting one fetches again
    idp_a.add_key("k6")
    after_gap(idp_a, GAP_A)
    before = idp_a.requests()
    gone = raw_request(gw_a, idp_a.token("k6", sub="gone"))
    wait_for(lambda: idp_a.requests() > before, what="the fetch")
    waiter = threading.Thread(target=lambda: answer.update(
        r=get(gw_a, idp_a.token("k6", sub="waiter"))))
    waiter.start()
    time.sleep(0.3)
    gone.close()
    waiter.join()
    idp_a.mode()
    assert answer["r"].status_code == 200, answer["r"].text
    assert answer["r"].json()["headers"]["x-microshop-subject"] == "waiter"
    assert idp_a.requests() == before + 2
    assert log_lines(gw_a, r"the fetch ended with the request that started "
                     r"it", offset)
    assert gw_a.worker_pids() == workers


# ------------------------------------------ gateway B: refresh, bad answers

def test_periodic_refresh_does_not_delay(gw_b, idp_b):
    """A set older than refresh= is fetched again in the background: the
    request that starts it is not delayed, and a key published meanwhile is
    taken without any unknown-kid fetch (unknown_kid=1h here)."""
    token = idp_b.token("k1", sub="b")
    assert get(gw_b, token).status_code == 200
    idp_b.add_key("k3")

    idp_b.mode(delay=0.7)
    try:
        after_gap(idp_b, REFRESH_B, "answered")
        before = idp_b.requests()
        t0 = time.monotonic()
        resp = get(gw_b, token)
        took = time.monotonic() - t0
        assert resp.status_code == 200 and took < 0.5, took
        wait_for(lambda: metric(gw_b, "microshop_jwks_uri_keys") == 2,
                 what="the refreshed set")
    finally:
        idp_b.mode()
    assert idp_b.requests() == before + 1
    # the location's arguments went along
    assert idp_b.stats()["last"]["path"].endswith("?tenant=t1")

    resp = get(gw_b, idp_b.token("k3", sub="refreshed"))
    assert resp.status_code == 200, resp.text


def test_unchanged_refresh_keeps_cached_tokens(gw_b, idp_b):
    token = idp_b.token("k1", sub="kept")
    assert get(gw_b, token).status_code == 200
    refresh_b(gw_b, idp_b, token)
    verified = metric(gw_b, "microshop_token_verifications_total")
    assert get(gw_b, token).status_code == 200
    assert metric(gw_b, "microshop_token_verifications_total") == verified


@pytest.mark.parametrize("case, mode, result, reason", [
    ("500", {"status": 500}, "error", r"the answer is 500, not 200"),
    ("not-json", {"body": "{\"keys\": [}"}, "invalid",
     r"the document is refused: invalid JSON"),
    ("no-keys", {"body": "{\"keys\": []}"}, "invalid",
     r"the document is refused: no signature key"),
    ("not-jwks", {"body": "[]"}, "invalid", r"not a JWKS"),
    ("slow", {"delay": 2.5}, "error", r"the fetch failed"),
    ("too-big", {"body": "{\"keys\": []}" + " " * 300000}, "error",
     r"the answer is larger than 262144 bytes"),
    ("too-big-no-length", {"body": "{\"keys\": []}" + " " * 300000,
                           "no_length": True}, "error",
     r"the answer is larger than 262144 bytes"),
])
def test_broken_document_keeps_the_last_good_set(gw_b, idp_b, case, mode,
                                                 result, reason):
    """A failed fetch changes nothing: the last good set verifies what it
    did, new tokens included; the failure is logged with why and counted."""
    offset = len(gw_b.error_log())
    cached = idp_b.token("k1", sub="cached-" + case)
    assert get(gw_b, cached).status_code == 200
    counts = {r: fetches(gw_b, r) for r in ("ok", "error", "invalid")}
    keys_before = metric(gw_b, "microshop_jwks_uri_keys")

    idp_b.mode(**mode)
    try:
        resp = refresh_b(gw_b, idp_b, cached)
    finally:
        idp_b.mode()
    assert resp.status_code == 200, resp.text

    for r, n in counts.items():
        assert fetches(gw_b, r) == n + (r == result), (r, case)
    assert metric(gw_b, "microshop_jwks_uri_keys") == keys_before
    assert log_lines(gw_b, r"\[warn\].*microshop_jwt_jwks_uri "
                     r"\"/_idp_jwks\": .*%s.*keys fetched \d+ s ago stay "
                     r"in use" % reason, offset), gw_b.error_log(offset)

    # a token not seen before, by the same key: verified on the kept set
    resp = get(gw_b, idp_b.token("k1", sub="fresh-" + case))
    assert resp.status_code == 200, resp.text
    assert get(gw_b, cached).status_code == 200


def test_large_document_without_length(gw_b, idp_b):
    """A document of 200 KB, sent without a length: taken whole."""
    idp_b.add_key("k7")
    doc = json.dumps({"keys": idp_b.stats_keys()})
    idp_b.mode(body=doc + " " * 200000, no_length=True)
    try:
        ok = fetches(gw_b, "ok")
        refresh_b(gw_b, idp_b, idp_b.token("k1"))
    finally:
        idp_b.mode()
    assert fetches(gw_b, "ok") == ok + 1
    resp = get(gw_b, idp_b.token("k7", sub="large"))
    assert resp.status_code == 200, resp.text


def test_removed_key_refused_even_when_cached(gw_b, idp_b):
    """A key the provider removed stops verifying at the next refresh,
    also for its tokens in the verified-token cache."""
    idp_b.add_key("k4")
    token = idp_b.token("k4", sub="soon-removed")
    refresh_b(gw_b, idp_b, idp_b.token("k1"))
    assert get(gw_b, token).status_code == 200
    assert get(gw_b, token).status_code == 200       # cached

    idp_b.remove_key("k4")
    # the request that starts the refresh still has the old set
    assert refresh_b(gw_b, idp_b, token).status_code == 200
    refused(get(gw_b, token), "unknown kid")
    assert get(gw_b, idp_b.token("k1")).status_code == 200


# ------------------------------------------------ gateway C: two workers

def test_two_workers_each_fetch(nginx, tmp_path_factory, backend, keys):
    """Each worker fetches a set of its own; behind proxy_cache the second
    one is answered by the cache (from a file), not by the provider."""
    idp = new_idp(tmp_path_factory, "idp-c")
    try:
        idp.add_key("k1")
        gw = start(nginx, CONF_C, idp, backend, keys, workers=2)
        seen = set()
        for i in range(200):
            resp = get(gw, idp.token("k1", sub="w%d" % i))
            assert resp.status_code == 200, resp.text
            seen.add(resp.headers["X-Worker"])
            if len(seen) == 2:
                break
        assert len(seen) == 2, seen
        # one fetch per worker, the second from the cache
        assert fetches(gw, "ok") == 2
        assert idp.requests() == 1
    finally:
        idp.stop()


# ------------------------------------------------------------ nginx -t

TEST_SERVER = """
server {
    listen 127.0.0.1:%(port)d;
    location = /_idp_jwks {
        internal;
        proxy_pass http://127.0.0.1:9/jwks.json;
    }
    location / {
        microshop_auth on;
        root html;
    }
}
"""


@pytest.mark.parametrize("directives, needle", [
    ("microshop_jwt_jwks_uri _idp_jwks;",
     'invalid LOCATION "_idp_jwks": the URI of an internal location, '
     'starting with "/"'),
    ("microshop_jwt_jwks_uri https://idp.example/jwks.json;",
     'invalid LOCATION "https://idp.example/jwks.json"'),
    ("microshop_jwt_jwks_uri /_idp_jwks refresh=soon;",
     'invalid "refresh=soon": refresh= is a time from 1s to 7d'),
    ("microshop_jwt_jwks_uri /_idp_jwks refresh=0;",
     'invalid "refresh=0"'),
    ("microshop_jwt_jwks_uri /_idp_jwks refresh=8d;",
     'invalid "refresh=8d"'),
    ("microshop_jwt_jwks_uri /_idp_jwks unknown_kid=500ms;",
     'invalid "unknown_kid=500ms": unknown_kid= is a time from 1s to 1d'),
    ("microshop_jwt_jwks_uri /_idp_jwks every=5m;",
     'invalid parameter "every=5m"'),
    ("microshop_jwt_jwks_uri /_idp_jwks ecdsa_s=high;",
     'invalid "ecdsa_s=high": ecdsa_s= is "low" or "any"'),
    ("microshop_jwt_jwks_uri /_idp_jwks;\n"
     "microshop_jwt_jwks_uri /_other;",
     '"microshop_jwt_jwks_uri" directive is duplicate'),
])
def test_conf_refused(nginx, directives, needle):
    n = nginx.new()
    rc, err = n.test_config(directives + TEST_SERVER % {"port": n.port})
    assert rc != 0 and "[emerg]" in err and needle in err, err
    last = directives.splitlines()[-1]
    with open(n.prefix + "-t/conf/nginx.conf") as f:
        line = next(i for i, text in enumerate(f, 1) if last in text)
    assert re.search(r"nginx\.conf:%d\b" % line, err), err


def test_conf_jwks_uri_alone_is_enough(nginx):
    """microshop_auth on with keys from the provider only."""
    n = nginx.new()
    rc, err = n.test_config("microshop_jwt_jwks_uri /_idp_jwks "
                            "refresh=10m unknown_kid=1m;"
                            + TEST_SERVER % {"port": n.port})
    assert rc == 0, err


# ------------------------------------- the token exchange waits for the keys

CONF_E = gateway_conf("""
microshop_jwt_jwks_uri /_idp_jwks refresh=1h unknown_kid=1s ecdsa_s=any;
microshop_jwt_signing_key %(gw_key)s kid=gw;
microshop_token_class staff max_ttl=15m;
microshop_token_class default max_ttl=1h;
""", """        proxy_read_timeout 5s;
    }

    location = /token {
        microshop_token_exchange class=staff;""")


def test_exchange_waits_for_the_providers_keys(nginx, tmp_path_factory,
                                               backend, keys):
    """The subject token of an exchange is the provider's: with no key yet,
    and after a rotation at the provider (an unknown kid), the exchange
    waits for the fetch and mints, as a protected request does."""
    idp = new_idp(tmp_path_factory, "idp-e")
    try:
        idp.add_key("k1")
        # the gateway signs with the suite's P-256 key (no file key here)
        n = nginx.new()
        n.start(CONF_E % {"port": n.port, "idp": idp.port,
                          "backend": backend.port,
                          "gw_key": keys.ec256_private_pem})
        public = keys.ec256_private.public_key()

        def exchange(subject):
            return n.post("/token", data={
                "grant_type": "urn:ietf:params:oauth:grant-type:"
                              "token-exchange",
                "subject_token": subject,
                "subject_token_type": "urn:ietf:params:oauth:token-type:"
                                      "access_token"})

        def minted(resp, sub):
            assert resp.status_code == 200, resp.text
            claims = jwt.decode(resp.json()["access_token"], public,
                                algorithms=["ES256"],
                                options={"verify_aud": False})
            assert claims["act"] == {"sub": sub}, claims
            return claims

        idp.mode(delay=0.5)
        subject = idp.token("k1", sub="lead-1", scope="staff:issue "
                            "inventory:read")
        resp = exchange(subject)
        idp.mode()
        minted(resp, "lead-1")
        assert idp.requests() == 1
        assert fetches(n, "ok") == 1

        # the provider rotates: a subject token of the new kid
        idp.add_key("k2")
        after_gap(idp, 1.0)
        resp = exchange(idp.token("k2", sub="lead-2", scope="staff:issue "
                                  "inventory:read"))
        claims = minted(resp, "lead-2")
        assert claims["scope"] == "staff:issue inventory:read", claims
        assert idp.requests() == 2

        # the minted token passes a protected route of the gateway
        r = get(n, resp.json()["access_token"])
        assert r.status_code == 200, r.text

        # ecdsa_s=any: the provider's signatures in their high-S form too
        r = get(n, ec_token(idp.token("k2", sub="high-s"), high=True))
        assert r.status_code == 200, r.text
        assert r.json()["headers"]["x-microshop-subject"] == "high-s"
    finally:
        idp.stop()


def test_configured_keys_never_wait_for_the_provider(nginx, tmp_path_factory,
                                                     backend, keys):
    """A worker without the provider's keys yet: a token of a configured
    key is answered while the first fetch is still in flight (it starts
    it and goes on); a token of the provider's kid waits for that fetch
    and passes."""
    idp = new_idp(tmp_path_factory, "idp-f")
    try:
        idp.add_key("k1")
        idp.mode(delay=2.0)
        n = start(nginx, CONF_A, idp, backend, keys)

        resp = get(n, mint(keys, kid="shared", sub="file-key"))
        answered = time.time()
        assert resp.status_code == 200, resp.text
        assert resp.json()["headers"]["x-microshop-subject"] == "file-key"
        # the fetch it started had not been answered yet
        wait_for(lambda: idp.requests() == 1, what="the first fetch")
        assert idp.stats()["last"].get("answered", answered + 1) > answered

        resp = get(n, idp.token("k1", sub="provider-key"))
        assert resp.status_code == 200, resp.text
        assert resp.json()["headers"]["x-microshop-subject"] == \
            "provider-key"
        assert idp.requests() == 1
        idp.mode()
    finally:
        idp.stop()
