"""Stale inventory answered at once while one request per key refreshes it
in the background (microshop_inventory_cache stale_while_revalidate=), and
no new refresh for refresh_retry after one failed (issue 11, item 4).

A hung backend (the reference backend's delay knob, or the process itself
stopped with SIGSTOP) must not make cached reads wait proxy_read_timeout.
"""

import concurrent.futures
import os
import re
import signal
import time

import pytest

import microshop
from microshop import SLOW, assert_conf_refused, mint, raw_http, wait_for

CONF = """
microshop_zone name=shop size=8m;
microshop_jwt_key %(ec_pub)s kid=k1;
microshop_rate_tier default rate=1r/m burst=20;

server {
    listen 127.0.0.1:%(port)d;

    location = /status { microshop_status; }

    location ~ ^/v1/sellers/(?<seller>[^/]+)/inventory/(?<sku>[^/]+)$ {
        microshop_auth on;
        microshop_seller $seller;
        microshop_require_scope GET,HEAD inventory:read;
        microshop_require_scope PUT,PATCH inventory:write;
        microshop_inventory_cache sku=$sku %(cache)s;
        %(extra)s
        add_header X-Cache $microshop_cache always;
        proxy_pass http://127.0.0.1:%(backend)d;
        proxy_read_timeout 3s;
    }
%(server)s
}
"""

TTL = 1.0                      # s, the ttl= of the configurations below
CACHE = ("ttl=1s stale_while_revalidate=1m stale_if_error=2m "
         "refresh_retry=%s")
STALE = "microshop; hit; detail=stale"
AT_ONCE = 1.0 * SLOW           # s; a wait on the backend takes 3 s


def render(n, keys, backend_port, retry="3s", extra="", cache=None,
           server=""):
    return CONF % {"port": n.port, "backend": backend_port,
                   "ec_pub": keys.ec256_public_pem,
                   "cache": cache or CACHE % retry, "extra": extra,
                   "server": server}


@pytest.fixture(scope="module")
def gw(nginx, keys, backend):
    n = nginx.new()
    # the refresh that waited for a hung backend times out
    n.start(render(n, keys, backend.port), workers=2,
            allow_log=[r"upstream timed out"])
    return n


def reader(keys, seller="s1"):
    return mint(keys, kid="k1", seller=seller, sub="user-1",
                scope="inventory:read inventory:write")


def url(seller, sku):
    return "/v1/sellers/%s/inventory/%s" % (seller, sku)


def counter(n, result):
    text = n.get("/status").text
    m = re.search(r'^microshop_inventory_cache_total\{result="%s"\} (\d+)$'
                  % result, text, re.M)
    assert m, text
    return int(m.group(1))


def timed(n, path, **kw):
    start = time.monotonic()
    r = n.get(path, **kw)
    return r, time.monotonic() - start


def fill_and_age(n, keys, backend, seller, sku, **item):
    """The entry of (seller, sku) filled from the backend, then past ttl."""
    backend.set_item(seller, sku, name="first", available=5, **item)
    first = n.get(url(seller, sku), token=reader(keys, seller))
    assert first.status_code == 200, first.text
    assert first.headers["Cache-Status"] == "microshop; fwd=miss"
    time.sleep(TTL + 0.2)
    return first


def backend_gets(backend, seller, sku):
    return backend.count("GET " + url(seller, sku))


def wait_refreshed(n, keys, seller, sku, name):
    """Wait until a read of (seller, sku) is a hit of the item named name:
    the refresh in the background stored the backend's new answer."""
    def refreshed():
        r = n.get(url(seller, sku), token=reader(keys, seller))
        return (r.headers["Cache-Status"] == "microshop; hit"
                and r.json()["name"] == name)

    wait_for(refreshed, 5, what="the refreshed entry")


def assert_stale(r, first):
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Status"] == STALE
    assert r.headers["X-Cache"] == "stale"
    assert r.headers["ETag"] == first.headers["ETag"]
    assert r.json() == first.json()


def test_hung_backend_stale_at_once_one_refresh(gw, keys, backend, clean):
    first = fill_and_age(gw, keys, backend, "s1", "H1")
    refreshes, failed = counter(gw, "refresh"), counter(gw, "refresh_failed")
    backend.mode(delay=6, path_prefix=url("s1", "H1"))

    # the request that starts the refresh: conditional, with a forged
    # identity; answered at once, 304 for its tag
    r, took = timed(gw, url("s1", "H1"), token=reader(keys),
                    headers={"If-None-Match": first.headers["ETag"],
                             "X-Microshop-Seller": "s2"})
    assert took < AT_ONCE, took
    assert r.status_code == 304
    assert r.headers["Cache-Status"] == STALE
    assert r.headers["Connection"] == "close"

    # every other read meanwhile, on both workers, at once too
    def one(_):
        return timed(gw, url("s1", "H1"), token=reader(keys))

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(24)))
    for r, took in answers:
        assert took < AT_ONCE, took
        assert_stale(r, first)
        assert r.headers.get("Connection") != "close"

    # exactly one refresh reached the backend, while it hangs
    wait_for(lambda: backend_gets(backend, "s1", "H1") == 2, 5,
             what="the refresh at the backend")
    time.sleep(0.5)
    assert backend_gets(backend, "s1", "H1") == 2
    assert counter(gw, "refresh") == refreshes + 1

    # with the verified identity, nothing of the client's conditionals
    refresh = [q for q in backend.requests()
               if q["path"] == url("s1", "H1")][-1]
    assert refresh["method"] == "GET"
    assert refresh["headers"]["x-microshop-seller"] == "s1"
    assert refresh["headers"]["x-microshop-subject"] == "user-1"
    assert "if-none-match" not in refresh["headers"]
    assert refresh["headers"]["authorization"].startswith("Bearer ")

    # proxy_read_timeout 3s: the refresh fails, the entry stays
    wait_for(lambda: counter(gw, "refresh_failed") == failed + 1, 10,
             what="the refresh to time out")
    assert_stale(gw.get(url("s1", "H1"), token=reader(keys)), first)
    assert backend_gets(backend, "s1", "H1") == 2


def test_failed_refresh_backs_off_then_refreshes(gw, keys, backend, clean):
    first = fill_and_age(gw, keys, backend, "s1", "F1")
    failed = counter(gw, "refresh_failed")

    backend.mode(status=503, path_prefix=url("s1", "F1"))
    assert_stale(gw.get(url("s1", "F1"), token=reader(keys)), first)
    wait_for(lambda: counter(gw, "refresh_failed") == failed + 1, 5,
             what="the failed refresh")
    failed_at = time.monotonic()
    assert backend_gets(backend, "s1", "F1") == 2

    # refresh_retry=3s: stale at once, and no new refresh meanwhile
    backend.mode()
    backend.set_item("s1", "F1", name="second")
    while time.monotonic() - failed_at < 1.5:
        r, took = timed(gw, url("s1", "F1"), token=reader(keys))
        assert took < AT_ONCE
        assert_stale(r, first)
        time.sleep(0.1)
    assert backend_gets(backend, "s1", "F1") == 2

    # after it, the next read starts one, and the entry is the new one
    time.sleep(max(0, failed_at + 3.2 - time.monotonic()))
    assert_stale(gw.get(url("s1", "F1"), token=reader(keys)), first)

    wait_refreshed(gw, keys, "s1", "F1", "second")
    assert backend_gets(backend, "s1", "F1") == 3
    assert counter(gw, "refresh_failed") == failed + 1


def test_stopped_backend_then_resumed(nginx, keys, tmp_path):
    """The issue's case: the backend process stopped (SIGSTOP)."""
    own = microshop.Backend(str(tmp_path / "backend.log"))
    n = nginx.new()
    n.start(render(n, keys, own.port), workers=2)
    try:
        first = fill_and_age(n, keys, own, "s1", "A1")
        own.set_item("s1", "A1", name="while stopped")
        os.kill(own.proc.pid, signal.SIGSTOP)
        try:
            start = time.monotonic()
            while time.monotonic() - start < 0.5:
                r, took = timed(n, url("s1", "A1"), token=reader(keys))
                assert took < AT_ONCE, took
                assert_stale(r, first)
        finally:
            os.kill(own.proc.pid, signal.SIGCONT)

        # the refresh waited in the backend's queue: it gets its answer
        wait_refreshed(n, keys, "s1", "A1", "while stopped")
        assert backend_gets(own, "s1", "A1") == 2
    finally:
        n.stop()
        own.stop()


def test_refresh_is_not_sent_to_the_client(gw, keys, backend, clean):
    first = fill_and_age(gw, keys, backend, "s1", "N1")
    backend.set_item("s1", "N1", name="second")
    request = ("GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
               "\r\n" % (url("s1", "N1"), reader(keys))).encode()

    # the connection stays until the refresh ended, then closes: one
    # answer on it, the stale one
    answer = raw_http(gw, request)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert answer.count(b"HTTP/1.1 ") == 1, answer
    assert head.startswith(b"HTTP/1.1 200 "), head
    assert b"\r\nConnection: close" in head
    assert b"\r\nCache-Status: " + STALE.encode() in head
    assert body == first.content

    r = gw.get(url("s1", "N1"), token=reader(keys))
    assert r.headers["Cache-Status"] == "microshop; hit"
    assert r.json()["name"] == "second"
    assert backend_gets(backend, "s1", "N1") == 2


def test_next_request_on_the_connection_does_not_wait(gw, keys, backend,
                                                      clean):
    first = fill_and_age(gw, keys, backend, "s1", "K1")
    failed = counter(gw, "refresh_failed")
    backend.mode(delay=6, path_prefix=url("s1", "K1"))
    with microshop.http_session() as session:
        headers = {"Authorization": "Bearer " + reader(keys)}
        r = session.get(gw.url(url("s1", "K1")), headers=headers,
                        timeout=30 * SLOW)
        assert_stale(r, first)
        assert r.headers["Connection"] == "close"
        start = time.monotonic()
        r = session.get(gw.url(url("s1", "K1")), headers=headers,
                        timeout=30 * SLOW)
        assert time.monotonic() - start < AT_ONCE
        assert_stale(r, first)

    # the refresh times out before the next test counts failures
    wait_for(lambda: counter(gw, "refresh_failed") == failed + 1, 10,
             what="the refresh to time out")


def test_head_is_refreshed_with_a_get(gw, keys, backend, clean):
    fill_and_age(gw, keys, backend, "s1", "G1")
    backend.set_item("s1", "G1", name="second")
    r = gw.request("HEAD", url("s1", "G1"), token=reader(keys))
    assert r.status_code == 200 and r.content == b""
    assert r.headers["Cache-Status"] == STALE

    wait_refreshed(gw, keys, "s1", "G1", "second")
    refresh = backend.requests()[-1]
    assert (refresh["method"], refresh["path"]) == ("GET", url("s1", "G1"))


# what the backend answers the refresh -> what the next read gets
REFRESH_ANSWERS = [
    ({"status": 500}, "stale"),
    ({"status": 503}, "stale"),
    ({"status": 429}, "stale"),
    ({"down": True}, "stale"),          # connection closed, no answer
    ({"status": 404}, "miss"),          # the backend's word: dropped
    ({"status": 403}, "miss"),
]


@pytest.mark.parametrize("i", range(len(REFRESH_ANSWERS)),
                         ids=[str(m) for m, _ in REFRESH_ANSWERS])
def test_refresh_answers(gw, keys, backend, clean, i):
    mode, then = REFRESH_ANSWERS[i]
    sku = "R%d" % i
    gw.allow_log.append(r"upstream prematurely closed connection")
    first = fill_and_age(gw, keys, backend, "s2", sku)
    failed, stored = counter(gw, "refresh_failed"), counter(gw, "store")
    backend.mode(path_prefix=url("s2", sku), **mode)
    assert_stale(gw.get(url("s2", sku), token=reader(keys, "s2")), first)
    wait_for(lambda: backend_gets(backend, "s2", sku) == 2, 5,
             what="the refresh")
    if then == "stale":
        wait_for(lambda: counter(gw, "refresh_failed") == failed + 1, 5,
                 what="the failed refresh")
        assert_stale(gw.get(url("s2", sku), token=reader(keys, "s2")),
                     first)
        assert backend_gets(backend, "s2", sku) == 2
        assert counter(gw, "store") == stored
    else:
        backend.mode()

        def dropped():
            r = gw.get(url("s2", sku), token=reader(keys, "s2"))
            return r.headers["Cache-Status"] == "microshop; fwd=miss"

        wait_for(dropped, 5, what="the entry to be dropped")
        assert counter(gw, "refresh_failed") == failed


def test_error_page_answer_is_not_the_refresh(nginx, keys, backend, clean):
    """An error_page that answers for the failed backend answers the
    refresh from another location: that is no new entry."""
    n = nginx.new()
    fallback = """
    location @fallback {
        default_type application/json;
        return 200 '{"name":"fallback"}';
    }"""
    n.start(render(n, keys, backend.port, server=fallback,
                   extra="error_page 502 504 = @fallback;"),
            allow_log=[r"upstream prematurely closed connection"])
    first = fill_and_age(n, keys, backend, "s1", "E1")
    failed = counter(n, "refresh_failed")
    backend.mode(down=True, path_prefix=url("s1", "E1"))
    assert_stale(n.get(url("s1", "E1"), token=reader(keys)), first)
    wait_for(lambda: counter(n, "refresh_failed") == failed + 1, 5,
             what="the failed refresh")
    assert_stale(n.get(url("s1", "E1"), token=reader(keys)), first)
    assert backend_gets(backend, "s1", "E1") == 2
    n.stop()


def test_refresh_counts_no_rate_limit(nginx, keys, backend, clean):
    n = nginx.new()
    n.start(render(n, keys, backend.port, extra="microshop_rate_limit on;"))
    t = reader(keys)
    seen = [fill_and_age(n, keys, backend, "s1", "L1")]
    backend.set_item("s1", "L1", name="second")
    seen.append(n.get(url("s1", "L1"), token=t))      # starts the refresh
    wait_for(lambda: backend_gets(backend, "s1", "L1") == 2, 5,
             what="the refresh")
    time.sleep(0.3)
    seen.append(n.get(url("s1", "L1"), token=t))
    # one unit per client request; none for the refresh
    assert [re.search(r";r=(\d+)", r.headers["RateLimit"]).group(1)
            for r in seen] == ["19", "18", "17"]
    n.stop()


def test_no_window_means_no_background_refresh(nginx, keys, backend,
                                               clean):
    """Without stale_while_revalidate a read past ttl goes to the backend,
    as before, and stale_if_error still covers a failure."""
    n = nginx.new()
    n.start(render(n, keys, backend.port,
                   cache="ttl=1s stale_if_error=1m"))
    fill_and_age(n, keys, backend, "s1", "W1")
    backend.mode(delay=1.5, path_prefix=url("s1", "W1"))
    r, took = timed(n, url("s1", "W1"), token=reader(keys))
    assert took >= 1.4
    assert r.headers["Cache-Status"] == "microshop; fwd=miss"
    first = r
    time.sleep(TTL + 0.2)
    backend.mode(status=503, path_prefix=url("s1", "W1"))
    assert_stale(n.get(url("s1", "W1"), token=reader(keys)), first)
    backend.mode()
    r = n.get(url("s1", "W1"), token=reader(keys))
    assert r.headers["Cache-Status"] == "microshop; fwd=miss"
    n.stop()


def test_past_the_window_a_read_waits_as_before(nginx, keys, backend,
                                                clean):
    n = nginx.new()
    n.start(render(n, keys, backend.port,
                   cache="ttl=500ms stale_while_revalidate=500ms"))
    fill_and_age(n, keys, backend, "s1", "P1")      # 1.2 s old: past both
    backend.set_item("s1", "P1", name="second")
    r = n.get(url("s1", "P1"), token=reader(keys))
    assert r.headers["Cache-Status"] == "microshop; fwd=miss"
    assert r.json()["name"] == "second"
    n.stop()


@pytest.mark.parametrize("param,needle", [
    ("stale_while_revalidate=soon", 'invalid time "stale_while_revalidate='
                                    'soon"'),
    ("stale_while_revalidate=-1s", 'invalid time'),
    ("refresh_retry=1x", 'invalid time "refresh_retry=1x"'),
    ("refresh_retry=36501d", 'the longest time is 36500d'),
    ("stale_while_revalidat=1s", 'stale_while_revalidat=1s'),
])
def test_bad_parameters_refused(nginx, keys, backend, param, needle):
    n = nginx.new()
    conf = render(n, keys, backend.port,
                  cache="ttl=1s %s" % param)
    rc, err, line = n.test_config_at(conf, marker=param)
    assert_conf_refused(rc, err, line, needle)


def test_good_parameters(nginx, keys, backend):
    n = nginx.new()
    rc, err = n.test_config(render(
        n, keys, backend.port,
        cache="ttl=30s stale_while_revalidate=5m stale_if_error=10m "
              "refresh_retry=0"))
    assert rc == 0, err
