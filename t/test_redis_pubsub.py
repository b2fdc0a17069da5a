"""The heartbeat of the pub/sub connection (docs/redis.md "The client").

Nothing but the heartbeat is sent on a pub/sub connection: every second a
worker PUBLISHes a ping on its own channel ms:hb:<hex> from its command
connection, and the message coming back on the pub/sub connection is the
pong.  A pub/sub flow that stops answering (a NAT or a firewall dropped it
without a word: t/tcpstall.py's stall-sub holds its replies for good, the
command connection goes on) is dropped within a few seconds and made
again, and the revocations published meanwhile are loaded with the set."""

import time

import pytest

import redisnodes
from microshop import SLOW, mint, wait_for
from redisnodes import metric, wait_redis_up

pytestmark = redisnodes.skip_under_deferred()

CONF = """
microshop_jwt_key %(ec_pub)s kid=k1;
%(redis)s

server {
    listen 127.0.0.1:%(port)d;

    location = /status { microshop_status; }

    location = /private {
        microshop_auth on;
        proxy_pass http://127.0.0.1:%(backend)d;
    }
}
"""

PUBSUB_DEAD = 3.0              # NGX_MICROSHOP_REDIS_PUBSUB_DEAD
BOUND = 5.0                    # a revocation is refused within this
MESSAGES = "microshop_redis_messages_total"
COMMANDS = "microshop_redis_commands_total"
RECONNECTS = "microshop_redis_reconnects_total"
TIMEOUTS = 'microshop_redis_errors_total{kind="timeout"}'


@pytest.fixture(scope="module")
def proxy(module_redis, tmp_path_factory):
    p = redisnodes.TcpStall(module_redis.port, str(
        tmp_path_factory.mktemp("tcpstall") / "tcpstall.log"))
    yield p
    p.stop()


@pytest.fixture(scope="module")
def gw(nginx, keys, backend, proxy):
    n = nginx.new()
    n.start(CONF % {"port": n.port, "ec_pub": keys.ec256_public_pem,
                    "backend": backend.port,
                    "redis": redisnodes.directive(proxy.url)})
    wait_redis_up(n)
    return n


@pytest.fixture
def passing(proxy, gw):
    proxy.pass_()
    yield
    proxy.pass_()


def revoke(r, jti):
    """What another node's REVOKE does in Redis."""
    exp = int(time.time()) + 300
    r.zadd("ms:revoked", {jti: exp})
    return r.publish("ms:revoke", "%d %s" % (exp, jti))


def test_each_worker_subscribes_its_heartbeat_channel(gw, module_redis,
                                                      passing):
    r = module_redis.client()
    channels = wait_for(lambda: r.pubsub_channels("ms:hb:*"), timeout=2,
                        what="a heartbeat channel")
    assert len(channels) == gw.workers
    name = channels[0].decode()
    assert len(name) == len("ms:hb:") + 16, name
    int(name[len("ms:hb:"):], 16)
    assert r.pubsub_numsub(name)[0][1] == 1


def test_heartbeats_are_neither_messages_nor_commands(gw, passing):
    """Pings go out every second; nothing else happens on an idle node, so
    the counters stay where they are."""
    before = (metric(gw, MESSAGES), metric(gw, COMMANDS),
              metric(gw, RECONNECTS))
    time.sleep(2.5)
    assert (metric(gw, MESSAGES), metric(gw, COMMANDS),
            metric(gw, RECONNECTS)) == before


def test_a_silently_dropped_pubsub_flow_is_made_again(gw, keys, proxy,
                                                      module_redis, passing):
    r = module_redis.client()
    jti = "hb-%d" % (time.time() * 1000)
    token = mint(keys, kid="k1", jti=jti)
    assert gw.get("/private", token=token).status_code != 401
    reconnects, timeouts = metric(gw, RECONNECTS), metric(gw, TIMEOUTS)
    with open(gw.error_log_path) as f:
        f.seek(0, 2)
        log_offset = f.tell()

    proxy.stall_sub()
    assert proxy.stats()["blackholed"] == gw.workers
    start = time.monotonic()
    # Redis still delivers to the proxy: the message is held there for good
    assert revoke(r, jti) == gw.workers

    wait_for(lambda: gw.get("/private", token=token).status_code == 401,
             timeout=BOUND, interval=0.05,
             what="the revocation refused while the old flow is stalled")
    took = time.monotonic() - start
    assert took >= PUBSUB_DEAD - 0.5, took     # not the message itself
    assert took <= BOUND * SLOW, took

    assert metric(gw, RECONNECTS) > reconnects
    assert metric(gw, TIMEOUTS) > timeouts
    # the command connection was never touched: no outage of the circuit
    assert metric(gw, "microshop_redis_up") == 1
    with open(gw.error_log_path) as f:
        f.seek(log_offset)
        log = f.read()
    assert log.count("pub/sub connection lost: no heartbeat came back "
                     "within 3 s") == gw.workers, log
    # a fresh token still goes through
    assert gw.get("/private", token=mint(keys, kid="k1")).status_code != 401

    # the new pub/sub connection works: the next revocation comes by message
    jti2 = jti + "-2"
    token2 = mint(keys, kid="k1", jti=jti2)
    assert revoke(r, jti2) >= gw.workers
    wait_for(lambda: gw.get("/private", token=token2).status_code == 401,
             timeout=1, interval=0.02, what="the next revocation")
    print("refused after %.2f s" % took)
