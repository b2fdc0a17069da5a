"""When Redis is down, slow or reloaded under the nodes (issue 12, "When
Redis is down or slow").

Nodes (nginx instances with `microshop_redis ... timeout=300ms`):
  local   on_error=local, straight to redis-server
  open_   on_error=open, straight to redis-server
  closed  on_error=closed, straight to redis-server
  slow    on_error=local, through t/tcpstall.py (replies delayed or stalled)
  late    on_error=local timeout=2s, through the same proxy, with the
          store's self test (whose request dies when its client goes)
The outage tests stop and start this module's own redis-server on its port
(RedisServer.stop()/start()); nothing is reloaded unless a test says so.
"""

import concurrent.futures
import re
import socket
import threading
import time
import uuid

import pytest

import harness
import microshop
import redisnodes
from microshop import (SLOW, admin, assert_conf_refused, mint, problem,
                       wait_for)
from redisnodes import metric, metrics, timed, wait_redis_down, wait_redis_up
from test_store_contract import switch

pytestmark = redisnodes.skip_under_deferred()

TIMEOUT = 0.3                  # timeout= of the nodes
MARGIN = 0.7 * SLOW            # what a request may take beyond it here
BACKOFF = 6.0                  # reconnects back off up to 5 s, with jitter

CONF = """
microshop_zone name=shop size=8m;
microshop_jwt_key %(ec_pub)s kid=k1;
%(redis)s
microshop_rate_tier default rate=1r/m burst=1000;
microshop_rate_tier load rate=1000r/s burst=100000;
microshop_rate_tier tight rate=1r/m burst=2;

server {
    listen 127.0.0.1:%(port)d;
    proxy_connect_timeout 5s;
    proxy_read_timeout 20s;

    location = /status { microshop_status; }

    location /admin/ { microshop_admin; }

    location /static/ { alias %(prefix)s/html/; }

    location /auth/ {
        microshop_auth on;
        alias %(prefix)s/html/;
    }

    location /plain/ { proxy_pass http://127.0.0.1:%(backend)d/v1/echo/; }

    location /limited/ {
        microshop_auth on;
        microshop_rate_limit on;
        alias %(prefix)s/html/;
    }

    location ~ ^/v1/sellers/(?<seller>[^/]+)/inventory/(?<sku>[^/]+)$ {
        microshop_auth on;
        microshop_seller $seller;
        microshop_inventory_cache sku=$sku ttl=60s;
        add_header X-Cache $microshop_cache always;
        proxy_pass http://127.0.0.1:%(backend)d;
    }

    location ~ ^/v1/sellers/(?<seller>drop[^/]*)/checkout$ {
        microshop_auth on;
        microshop_seller $seller;
        microshop_reserve on hold=30s;
        proxy_pass http://127.0.0.1:%(backend)d;
    }

    location ~ ^/v1/sellers/(?<seller>[^/]+)/checkout$ {
        microshop_auth on;
        microshop_seller $seller;
        microshop_idempotency on;
        add_header X-Idempotency $microshop_idempotency always;
        proxy_pass http://127.0.0.1:%(backend)d;
    }
%(extra)s
}
"""

# the locations that opt in to this node's zone when Redis fails
OPT_IN = """
    location ~ ^/local/sellers/(?<seller>drop[^/]*)/checkout$ {
        microshop_auth on;
        microshop_seller $seller;
        microshop_reserve on hold=30s on_store_error=local;
        rewrite ^/local(/.*)$ /v1$1 break;
        proxy_pass http://127.0.0.1:%(backend)d;
    }

    location ~ ^/local/sellers/(?<seller>[^/]+)/checkout$ {
        microshop_auth on;
        microshop_seller $seller;
        microshop_idempotency on on_store_error=local;
        add_header X-Idempotency $microshop_idempotency always;
        rewrite ^/local(/.*)$ /v1$1 break;
        proxy_pass http://127.0.0.1:%(backend)d;
    }
"""

SELFTEST = """
    location = /selftest { microshop_store_selftest; }
"""

ORDER = {"items": [{"sku": "A1", "quantity": 1}]}


# ------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def proxy(module_redis, tmp_path_factory):
    p = redisnodes.TcpStall(module_redis.port, str(
        tmp_path_factory.mktemp("tcpstall") / "tcpstall.log"))
    yield p
    p.stop()


@pytest.fixture(scope="module")
def conf(keys, backend):
    def render(n, url, on_error, timeout="300ms", extra=""):
        n.write_file("html/a.txt", "a\n")
        return CONF % {"port": n.port, "prefix": n.prefix,
                       "backend": backend.port,
                       "ec_pub": keys.ec256_public_pem,
                       "redis": redisnodes.directive(url, timeout, on_error),
                       "extra": extra % {"backend": backend.port}}
    return render


def node(nginx, conf, url, on_error, workers=2, selftest=False, **kw):
    n = nginx.new()
    if selftest:
        with switch("shm"):
            n.start(conf(n, url, on_error, **kw), workers=workers)
    else:
        n.start(conf(n, url, on_error, **kw), workers=workers)
    return n


@pytest.fixture(scope="module")
def local(nginx, conf, module_redis):
    return node(nginx, conf, module_redis.url, "local")


@pytest.fixture(scope="module")
def closed(nginx, conf, module_redis):
    return node(nginx, conf, module_redis.url, "closed")


@pytest.fixture(scope="module")
def open_(nginx, conf, module_redis):
    return node(nginx, conf, module_redis.url, "open", workers=1)


@pytest.fixture(scope="module")
def slow(nginx, conf, proxy):
    return node(nginx, conf, proxy.url, "local", workers=1)


@pytest.fixture(scope="module")
def late(nginx, conf, proxy):
    return node(nginx, conf, proxy.url, "local", workers=1, selftest=True,
                timeout="2s", extra=SELFTEST)


@pytest.fixture
def up(local, closed, module_redis):
    """Redis running and both direct nodes connected, before and after."""
    if module_redis.proc is None:
        module_redis.start()
    for n in (local, closed):
        wait_redis_up(n, BACKOFF)
    yield
    if module_redis.proc is None:
        module_redis.start()
    for n in (local, closed):
        wait_redis_up(n, BACKOFF)


@pytest.fixture
def passing(proxy, slow):
    """The proxy passes replies, before and after, and S is connected."""
    proxy.pass_()
    wait_redis_up(slow, BACKOFF)
    yield
    proxy.pass_()


def uid(prefix):
    return prefix + uuid.uuid4().hex[:10]


def tok(keys, seller="s1", **kw):
    return mint(keys, kid="k1", seller=seller, **kw)


def checkout(n, token, key, seller="s1", prefix="/v1", body=ORDER, **kw):
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return n.post("%s/sellers/%s/checkout" % (prefix, seller), token=token,
                  json=body, headers=headers, **kw)


def unavailable(resp):
    """503 store-unavailable with Retry-After."""
    assert resp.status_code == 503, (resp.status_code, resp.text[:300])
    problem(resp, "store-unavailable")
    assert int(resp.headers["Retry-After"]) >= 1, resp.headers


def no_crash(n, pids):
    """The same workers still run (none died and was replaced) and the log
    holds no crash."""
    assert n.worker_pids() == pids, (pids, n.worker_pids())
    assert "exited on signal" not in n.error_log()
    assert microshop.bad_log_lines(n.error_log(), n.allow_log) == []


def remaining(resp):
    rl = resp.headers["RateLimit"]
    return int(re.search(r";r=(\d+)", rl).group(1))


def counter(n, name, **labels):
    key = name
    if labels:
        key += "{%s}" % ",".join('%s="%s"' % kv for kv in labels.items())
    return metric(n, key)


# ------------------------------------------------------------ Redis in use

def test_nodes_keep_their_state_in_redis(local, closed, keys, up,
                                         module_redis):
    seller = uid("use-")
    t = tok(keys, seller)
    before = counter(local, "microshop_redis_commands_total")
    seen = [remaining(n.get("/limited/a.txt", token=t))
            for n in (local, closed, local)]
    # one bucket for both nodes: it is in Redis
    assert seen == [999, 998, 997], seen
    assert counter(local, "microshop_redis_commands_total") > before
    assert module_redis.client().exists("ms:{%s}:rate" % seller)


# ------------------------------------------------------------ outage

def test_redis_killed_under_load(local, closed, keys, backend, clean, up,
                                 module_redis):
    pids = {n: n.worker_pids() for n in (local, closed)}
    before = {n: metrics(n) for n in (local, closed)}
    seller = uid("load-")
    t = tok(keys, seller, tier="load")
    stop = threading.Event()
    results = []                        # (node, start, seconds, answer)
    killed = []

    def load(n):
        with microshop.http_session() as s:
            while not stop.is_set():
                start = time.monotonic()
                seconds, resp = timed(s.get, n.url("/limited/a.txt"),
                                      headers={"Authorization": "Bearer " + t},
                                      timeout=10)
                results.append((n, start, seconds, resp))

    threads = [threading.Thread(target=load, args=(n,))
               for n in (local, closed, local, closed)]
    for th in threads:
        th.start()
    try:
        time.sleep(0.5)
        killed.append(time.monotonic())
        module_redis.stop()
        time.sleep(1.0)
    finally:
        stop.set()
        for th in threads:
            th.join()

    errors = [r for r in results if isinstance(r[3], Exception)]
    assert errors == [], errors[:3]
    slowest = max(seconds for _, _, seconds, _ in results)
    assert slowest <= TIMEOUT + MARGIN, "a request waited %.3f s" % slowest
    settled = killed[0] + 0.2
    for n, start, seconds, resp in results:
        if start + seconds < killed[0]:
            assert resp.status_code == 200, resp.text
        elif start > settled and n is local:
            # this node's own limits: the request is answered
            assert resp.status_code == 200, (resp.status_code, resp.text)
            assert "RateLimit" in resp.headers
        elif start > settled:
            unavailable(resp)
    after_kill = [r for r in results if r[1] > settled]
    assert {r[0] for r in after_kill} == {local, closed}, \
        "no request ran after the kill"

    for n in (local, closed):
        wait_redis_down(n)
    m = {n: metrics(n) for n in (local, closed)}
    assert (m[local]['microshop_redis_fallbacks_total{answer="local"}']
            > before[local]['microshop_redis_fallbacks_total{answer="local"}'])
    assert (m[closed]['microshop_redis_fallbacks_total{answer="closed"}']
            > before[closed][
                'microshop_redis_fallbacks_total{answer="closed"}'])

    # idempotent writes and reservations do not fall back by default
    start = time.monotonic()
    unavailable(checkout(local, tok(keys), uid("down-")))
    unavailable(local.post("/v1/sellers/drop1/checkout",
                           token=tok(keys, "drop1"), json=ORDER))
    assert time.monotonic() - start <= 2 * (TIMEOUT + MARGIN)
    assert backend.stats()["requests_total"] == 0
    # admin writes need Redis too: a revocation that would reach no other
    # node is refused, not kept here alone
    r = local.request("PUT", "/admin/stock/drop1/A1", token=admin(keys),
                      json={"available": 5})
    unavailable(r)
    r = local.post("/admin/revocations", token=admin(keys),
                   json={"jti": uid("down-"), "exp": int(time.time()) + 60})
    unavailable(r)
    # what never needed Redis still works
    assert local.get("/static/a.txt").text == "a\n"
    assert closed.get("/plain/x").status_code == 200

    # Redis back: both recover by themselves, no reload
    module_redis.start()
    took = {n: wait_redis_up(n, BACKOFF) for n in (local, closed)}
    assert max(took.values()) <= BACKOFF, took
    seller = uid("back-")
    t = tok(keys, seller)
    seen = [local.get("/limited/a.txt", token=t),
            closed.get("/limited/a.txt", token=t)]
    assert [x.status_code for x in seen] == [200, 200], \
        [(x.status_code, x.text) for x in seen]
    assert [remaining(x) for x in seen] == [999, 998]
    resp = checkout(local, tok(keys), uid("back-"))
    assert resp.status_code == 201, resp.text
    for n in (local, closed):
        no_crash(n, pids[n])
        assert counter(n, "microshop_redis_reconnects_total") > \
            before[n]["microshop_redis_reconnects_total"]
    print("recovered after %s s" % {n.port: round(s, 2)
                                    for n, s in took.items()})


def test_outage_answers_per_on_error(local, open_, closed, keys, backend,
                                     clean, up, module_redis):
    """on_error= for rate limits and the inventory cache, Redis down:
    local: this node's zone (its limits are kept, per node), open: allowed
    and a miss, closed: 503 store-unavailable."""
    wait_redis_up(open_, BACKOFF)
    module_redis.stop()
    for n in (local, open_, closed):
        wait_redis_down(n)
    seller = uid("pol-")
    t = tok(keys, seller, tier="tight")
    codes = {n: [n.get("/limited/a.txt", token=t).status_code
                 for _ in range(3)] for n in (local, open_, closed)}
    # the tight tier's burst of 2, kept by the node itself
    assert codes[local] == [200, 200, 429], codes[local]
    assert codes[open_] == [200, 200, 200], codes[open_]
    assert codes[closed] == [503, 503, 503], codes[closed]
    unavailable(closed.get("/limited/a.txt", token=t))

    reader = tok(keys, "s1")
    url = "/v1/sellers/s1/inventory/B2"
    for n in (local, open_):
        for _ in range(2):
            resp = n.get(url, token=reader)
            assert resp.status_code == 200, (n.port, resp.text)
    # local: a miss, then a hit from the node's zone; open: always a miss
    assert backend.count("GET " + url) == 3, backend.stats()
    resp = closed.get(url, token=reader)
    unavailable(resp)
    assert backend.count("GET " + url) == 3
    for n, answer in ((local, "local"), (open_, "open"), (closed, "closed")):
        assert counter(n, "microshop_redis_fallbacks_total",
                       answer=answer) > 0, answer
    module_redis.start()
    wait_redis_up(open_, BACKOFF)


def test_locations_that_opt_in_run_on_the_zone(nginx, conf, keys, backend,
                                               clean, up, module_redis):
    n = node(nginx, conf, module_redis.url, "closed", workers=1, extra=OPT_IN)
    wait_redis_up(n)
    module_redis.stop()
    wait_redis_down(n)
    fallbacks = counter(n, "microshop_redis_fallbacks_total", answer="local")
    t = tok(keys)
    key = uid("opt-")
    first = checkout(n, t, key, prefix="/local")
    assert first.status_code == 201, first.text
    assert first.headers["X-Idempotency"] == "new"
    # the record is in this node's zone: a retry here replays
    again = checkout(n, t, key, prefix="/local")
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert backend.count("POST /v1/sellers/s1/checkout") == 1
    # the reservation runs on the zone, which knows no stock for it: the
    # order goes to the backend, as without microshop_redis
    resp = n.post("/local/sellers/drop1/checkout", token=tok(keys, "drop1"),
                  json={"items": [{"sku": "X1", "quantity": 1}]})
    assert resp.status_code == 201, resp.text
    assert backend.count("POST /v1/sellers/drop1/checkout") == 1
    # the locations without the opt-in still refuse
    unavailable(checkout(n, t, uid("no-opt-")))
    assert counter(n, "microshop_redis_fallbacks_total",
                   answer="local") >= fallbacks + 2
    module_redis.start()
    wait_redis_up(n, BACKOFF)
    n.stop()


def test_scripts_reloaded_after_restart_and_flush(local, closed, keys,
                                                  backend, clean, up,
                                                  module_redis):
    def works():
        seller = uid("scr-")
        t = tok(keys, seller)
        seen = [n.get("/limited/a.txt", token=t)
                for n in (local, closed, local, closed)]
        assert [x.status_code for x in seen] == [200] * 4, \
            [(x.status_code, x.text[:200]) for x in seen]
        assert [remaining(x) for x in seen] == [999, 998, 997, 996]
        key = uid("scr-")
        first = checkout(local, tok(keys), key)
        assert first.status_code == 201, first.text
        for _ in range(10):
            again = checkout(closed, tok(keys), key)
            if again.status_code != 409:
                break
            time.sleep(0.05)
        assert again.headers.get("Idempotent-Replayed") == "true", \
            (again.status_code, again.text)

    # a restarted Redis knows no script
    module_redis.stop()
    for n in (local, closed):
        wait_redis_down(n)
    module_redis.start()
    for n in (local, closed):
        wait_redis_up(n, BACKOFF)
    works()

    # SCRIPT FLUSH under connected nodes: NOSCRIPT, then EVAL and reload
    assert module_redis.client().script_flush()
    works()
    works()


# ------------------------------------------------------------ slow Redis

def test_slow_redis_delays_only_requests_that_wait_on_it(slow, proxy, keys,
                                                         backend, clean,
                                                         passing,
                                                         module_redis):
    pids = slow.worker_pids()
    timeouts = counter(slow, "microshop_redis_errors_total", kind="timeout")
    # an unhurried baseline of the location with no store op
    base = max(timed(slow.get, "/static/a.txt")[0] for _ in range(5))

    # past the deadline (300 ms), before the client gives the connection up
    # (another timeout= later): the replies come to a live connection
    proxy.delay(450)
    seller = uid("slow-")
    t = tok(keys, seller)
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        waiting = [pool.submit(timed, slow.get, "/limited/a.txt", token=t)
                   for _ in range(4)]
        waiting.append(pool.submit(timed, checkout, slow, tok(keys),
                                   uid("slow-")))
        time.sleep(0.05)
        static = [timed(slow.get, "/static/a.txt") for _ in range(5)]
        plain = [timed(slow.get, "/plain/x") for _ in range(3)]
        answers = [f.result() for f in waiting]

    for seconds, resp in static + plain:
        assert resp.status_code == 200
        # unaffected: nowhere near the 300 ms the others wait
        assert seconds < max(0.25 * SLOW, 3 * base), (seconds, base)
    for seconds, resp in answers[:4]:
        assert not isinstance(resp, Exception), resp
        assert seconds <= TIMEOUT + MARGIN, seconds
        # on_error=local: the node's own limit answers
        assert resp.status_code == 200, (resp.status_code, resp.text)
    seconds, resp = answers[4]
    assert seconds <= TIMEOUT + MARGIN, seconds
    unavailable(resp)
    assert backend.count("POST /v1/sellers/s1/checkout") == 0
    # at least the first of them waited for its deadline
    assert max(s for s, _ in answers) >= TIMEOUT * 0.8, answers
    assert counter(slow, "microshop_redis_errors_total",
                   kind="timeout") > timeouts

    # the delayed replies come after their requests were answered: dropped
    protocol = counter(slow, "microshop_redis_errors_total", kind="protocol")
    time.sleep(0.5)
    proxy.pass_()
    wait_redis_up(slow, BACKOFF)
    seller = uid("after-")
    t = tok(keys, seller)
    seen = [slow.get("/limited/a.txt", token=t) for _ in range(3)]
    # each answer matches its own command: the counts go down by one, in
    # Redis (not this node's zone)
    assert [remaining(x) for x in seen] == [999, 998, 997]
    assert module_redis.client().exists("ms:{%s}:rate" % seller)
    assert counter(slow, "microshop_redis_errors_total",
                   kind="protocol") == protocol
    no_crash(slow, pids)


def test_stalled_redis_answers_at_the_deadline(slow, proxy, keys, backend,
                                               clean, passing):
    pids = slow.worker_pids()
    proxy.stall()
    t = tok(keys, uid("stall-"))
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: timed(slow.get, "/limited/a.txt",
                                                token=t), range(4)))
    for seconds, resp in answers:
        assert not isinstance(resp, Exception), resp
        assert resp.status_code == 200, resp.text
        assert seconds <= TIMEOUT + MARGIN, seconds
    seconds, resp = timed(checkout, slow, tok(keys), uid("stall-"))
    unavailable(resp)
    assert seconds <= TIMEOUT + MARGIN
    proxy.pass_()
    wait_redis_up(slow, BACKOFF)
    key = uid("stall-")
    assert checkout(slow, tok(keys), key).status_code == 201
    assert checkout(slow, tok(keys), key).headers.get(
        "Idempotent-Replayed") == "true"
    no_crash(slow, pids)


def test_answer_for_a_gone_request_is_dropped(late, proxy, passing):
    """The self test's request dies when its client goes (the cleanup
    cancels its op); Redis' reply, delayed by the proxy, comes after."""
    wait_redis_up(late, BACKOFF)
    pids = late.worker_pids()
    before = counter(late, "microshop_store_late_answers_total")
    proxy.delay(800)
    s = socket.create_connection(("127.0.0.1", late.port), timeout=10)
    s.sendall(b"GET /selftest HTTP/1.1\r\nHost: localhost\r\n\r\n")
    time.sleep(0.2)
    s.close()
    wait_for(lambda: counter(late, "microshop_store_late_answers_total")
             > before, timeout=3, what="the late answer of the gone request")
    proxy.pass_()
    doc = late.get("/selftest").json()
    assert doc["failed"] == [], doc
    no_crash(late, pids)


def test_dropped_connections_reconnect_and_load_what_was_missed(
        slow, local, proxy, keys, passing, up):
    """The proxy drops S's connections (and refuses new ones): S answers
    per policy at once, misses a revocation made on another node (it keeps
    the last synced set, docs/redis.md), and once it reconnects by itself
    loads the set and refuses the token."""
    pids = slow.worker_pids()
    jti = uid("part-")
    t = tok(keys, jti=jti)
    assert slow.get("/auth/a.txt", token=t).status_code == 200
    reconnects = counter(slow, "microshop_redis_reconnects_total")

    proxy.refuse()
    proxy.drop()
    wait_redis_down(slow)
    seconds, resp = timed(slow.get, "/limited/a.txt", token=tok(keys))
    assert resp.status_code == 200 and seconds <= TIMEOUT + MARGIN, \
        (seconds, resp.status_code)
    seconds, resp = timed(checkout, slow, tok(keys), uid("part-"))
    unavailable(resp)
    # while disconnected, answered at once (the circuit is open)
    assert seconds < TIMEOUT, seconds

    resp = local.post("/admin/revocations", token=admin(keys),
                      json={"jti": jti, "exp": int(time.time()) + 300})
    assert resp.status_code == 204, resp.text
    assert local.get("/auth/a.txt", token=t).status_code == 401
    # the partitioned node never heard of it
    assert slow.get("/auth/a.txt", token=t).status_code == 200

    proxy.pass_()
    took = wait_redis_up(slow, BACKOFF)
    refused = wait_for(
        lambda: slow.get("/auth/a.txt", token=t).status_code == 401,
        timeout=1, interval=0.05, what="the revocation loaded on reconnect")
    assert refused
    assert counter(slow, "microshop_redis_reconnects_total") > reconnects
    no_crash(slow, pids)
    print("reconnected after %.2f s" % took)


def test_reload_with_commands_in_flight(slow, proxy, keys, passing):
    old = slow.worker_pids()
    proxy.stall()
    t = tok(keys, uid("reload-"))
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        waiting = [pool.submit(timed, slow.get, "/limited/a.txt", token=t)
                   for _ in range(4)]
        time.sleep(0.1)
        slow.reload()
        answers = [f.result() for f in waiting]
    for seconds, resp in answers:
        assert not isinstance(resp, Exception), resp
        assert resp.status_code == 200, resp.text
        assert seconds <= TIMEOUT + MARGIN + 1.0, seconds
    # the old workers leave while Redis still holds their replies back
    wait_for(lambda: not any(harness.alive(p) for p in old),
             timeout=5, what="the old workers to exit")
    proxy.pass_()
    wait_redis_up(slow, BACKOFF)
    resp = slow.get("/limited/a.txt", token=t)
    assert resp.status_code == 200
    assert "exited on signal" not in slow.error_log()


# ------------------------------------------------------------ AUTH, SELECT

def test_password_and_database(nginx, conf, keys, tmp_path):
    """redis://:password@host:port/db: AUTH and SELECT on every connect; a
    wrong password keeps the node down (answers per on_error=), and
    neither password ever reaches the error log."""
    server = microshop.RedisServer(str(tmp_path / "redis.log"))
    try:
        assert server.client().config_set("requirepass", PASSWORD)
        url = "redis://:%s@127.0.0.1:%d/2" % (PASSWORD, server.port)
        good = node(nginx, conf, url, "local", workers=1)
        wait_redis_up(good)
        seller = uid("auth-")
        t = tok(keys, seller)
        assert remaining(good.get("/limited/a.txt", token=t)) == 999
        db2 = server.client(password=PASSWORD, db=2)
        assert db2.exists("ms:{%s}:rate" % seller)
        assert not server.client(password=PASSWORD).exists(
            "ms:{%s}:rate" % seller)

        wrong = "wrong-" + PASSWORD
        bad = node(nginx, conf, url.replace(PASSWORD, wrong), "closed",
                   workers=1)
        time.sleep(0.5)
        m = metrics(bad)
        assert m["microshop_redis_up"] == 0, m
        unavailable(bad.get("/limited/a.txt", token=t))
        for n in (good, bad):
            n.stop()
            log = n.error_log()
            assert PASSWORD not in log, "the password is in %s" \
                % n.error_log_path
            assert "exited on signal" not in log
    finally:
        server.stop()


# ------------------------------------------------------------ nginx -t

PASSWORD = "s3cret-Passw0rd"


@pytest.fixture(scope="module")
def conf_test(nginx):
    n = nginx.new()

    def check(line):
        return n.test_config_at(
            "%s\nserver { listen 127.0.0.1:%d; location / { root html; } }"
            % (line, n.port), "microshop_redis")
    return check


@pytest.mark.parametrize("line", [
    "microshop_redis redis://127.0.0.1:6379;",
    "microshop_redis redis://:%s@127.0.0.1:6379/2 timeout=300ms "
    "connect_timeout=2s on_error=closed;" % PASSWORD,
    "microshop_redis unix:/tmp/redis.sock?db=3 on_error=open;",
    pytest.param("microshop_redis redis://localhost:6379 on_error=local;",
                 marks=microshop.NEEDS_LOCALHOST),
])
def test_config_good(conf_test, line):
    rc, err, _ = conf_test(line)
    assert rc == 0, err
    assert PASSWORD not in err


@pytest.mark.parametrize("line, needle", [
    ("microshop_redis http://127.0.0.1:6379;", None),
    ("microshop_redis redis://;", None),
    ("microshop_redis redis://127.0.0.1:notaport;", None),
    ("microshop_redis redis://127.0.0.1:99999;", None),
    ("microshop_redis redis://127.0.0.1:6379/x;", None),
    ("microshop_redis redis://no-such-host.invalid:6379;", None),
    ("microshop_redis unix:;", None),
    ("microshop_redis redis://127.0.0.1:6379 on_error=maybe;", "on_error"),
    ("microshop_redis redis://127.0.0.1:6379 timeout=soon;", "timeout"),
    ("microshop_redis redis://127.0.0.1:6379 colour=red;", "colour"),
    ("microshop_redis;", None),
    ("microshop_redis redis+cluster://127.0.0.1:7000,127.0.0.1:7001/2;",
     "a cluster has no database number"),
    ("microshop_redis redis+sentinel://127.0.0.1:26379;",
     "missing master name"),
    ("microshop_redis redis://:%s@no-such-host.invalid:6379;" % PASSWORD,
     None),
    ("microshop_redis redis://:%s@127.0.0.1:6379/x;" % PASSWORD, None),
    ("microshop_redis redis://:%s@127.0.0.1:6379 on_error=maybe;" % PASSWORD,
     "on_error"),
    ("microshop_redis redis+cluster://:%s@127.0.0.1:7000 pool=1;" % PASSWORD,
     "pool=1"),
    ("microshop_redis redis://127.0.0.1:6379;\n"
     "microshop_redis redis://127.0.0.1:6380;", "is duplicate"),
])
def test_config_refused(conf_test, line, needle):
    rc, err, number = conf_test(line)
    # refused by the directive itself, not as a directive nginx lacks
    assert "unknown directive" not in err, err
    if "is duplicate" in (needle or ""):
        number += 1             # the second line is the one refused
    assert_conf_refused(rc, err, number, '"microshop_redis"',
                        *([needle] if needle else []))
    assert PASSWORD not in err, err


def test_config_only_in_http(nginx):
    n = nginx.new()
    rc, err = n.test_config("server { listen 127.0.0.1:%d; "
                            "microshop_redis redis://127.0.0.1:6379; "
                            "location / { root html; } }" % n.port)
    assert rc != 0 and "is not allowed here" in err, err


def test_logs_hold_no_password_and_no_crash(local, open_, closed, slow,
                                            late):
    for n in (local, open_, closed, slow, late):
        log = n.error_log()
        assert "exited on signal" not in log
        assert PASSWORD not in log
