"""The store contract (ngx_microshop_store.h) against the "redis" back end
on a Sentinel set: every case of t/test_store_contract_redis.py, run with
microshop_redis naming a Sentinel-managed primary (t/redissentinel.py) with
a password, instead of one redis-server.

The cases are imported, not copied; only the fixture that gives them
their Redis is replaced.  That one, redis_server, is a SentinelSet seen as
a microshop.RedisServer: its url is redis+sentinel://:pw@S1,S2,S3/mymaster,
its client() the current primary, and its stop()/start() stop and start
both data nodes (the sentinels go on and, with no replica up, cannot fail
over), which is "Redis down" for a gateway on Sentinel.
"""

import pytest

import redisnodes
import redissentinel
import test_store_contract_redis as redis_suite

pytestmark = redisnodes.skip_under_deferred()

# the cases and the gateway fixture of the single-Redis module, in their
# order there (the last case stops the gateway); gw takes redis_server
# below, since fixtures are looked up from the module of the test
gw = redis_suite.gw
globals().update({name: case for name, case in vars(redis_suite).items()
                  if name.startswith("test_")})


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    """A Sentinel set with a password in place of one redis-server."""
    s = redissentinel.SentinelSet(tmp_path_factory.mktemp("sentinel"),
                                  password="s3cret-sentinel")
    yield s.as_redis_server()
    s.stop_all()
