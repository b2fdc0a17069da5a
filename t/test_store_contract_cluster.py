"""The store contract (ngx_microshop_store.h) against Redis Cluster: the
cases of t/test_store_contract_redis.py, unchanged, with their Redis a
3-primary cluster (t/rediscluster.py) behind `microshop_redis
redis+cluster://...` (docs/redis.md).

Only the fixture that gives the cases their Redis is replaced: redis_server
is a ClusterServer here, with the url, client(), stop() and start() those
cases use (stop() and start() take the whole cluster down and up again,
on the same ports and nodes.conf files).  What the suite left is read with
redis-py's cluster client, which finds each key on its slot's primary.
"""

import pytest

import rediscluster
import redisnodes
import test_store_contract_redis


def test_the_cases_run_on_the_cluster(gw, redis_server):
    """First: the node under the cases is a Cluster client, ready (the
    slot map loaded), and knows every primary."""
    rediscluster.wait_cluster_ready(gw)
    m = redisnodes.metrics(gw)
    for port in redis_server.cluster.primaries():
        rediscluster.node_metric(m, "microshop_redis_node_up", port)


# every case of the Redis suite (and its gw fixture) runs here as well, in
# the order they are written there (the last one stops the node)
globals().update({name: value for name, value
                  in vars(test_store_contract_redis).items()
                  if name.startswith("test_") or name == "gw"})

pytestmark = redisnodes.skip_under_deferred()


class ClusterServer:
    """A RedisCluster in the shape of microshop.RedisServer."""

    def __init__(self, tmpdir):
        self.cluster = rediscluster.RedisCluster(tmpdir, primaries=3)
        # seeds: two of the three primaries
        self.url = self.cluster.seeds_url()

    def client(self):
        """redis-py's cluster client, bytes replies as RedisServer's."""
        return self.cluster.client(decode_responses=False)

    def stop(self):
        for node in self.cluster.nodes.values():
            node.stop()

    def start(self):
        for node in self.cluster.nodes.values():
            node.start()
        self.cluster.wait_ok()

    def close(self):
        self.cluster.stop()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    server = ClusterServer(tmp_path_factory.mktemp("cluster"))
    yield server
    server.close()
