"""A Sentinel-managed primary and replica of real redis-server processes,
for the Sentinel tests (docs/redis.md).

SentinelSet starts one primary and one replica (`--replicaof`), each on a
free loopback port in a directory of its own, and three sentinels
(`redis-server sentinel-N.conf --sentinel`, the configuration written
here: `sentinel monitor mymaster 127.0.0.1 <port> 2`, a small
down-after-milliseconds and failover-timeout), then waits until every
sentinel knows the replica and the two other sentinels: before that a
`SENTINEL failover` may find no replica to promote, and a sentinel that
knows no peer cannot agree on anything.

failover() asks one sentinel for `SENTINEL failover mymaster` and waits
until every sentinel names the other node in get-master-addr-by-name and
ROLE says master there.  After a failover Sentinel leaves the old primary
a master for several seconds (it converts a master that came back to a
replica only after seeing it report the wrong role for a while): settle()
waits until it is a replica of the new primary again, which a second
failover needs.

url() is what a gateway is given:
"redis+sentinel://[:pw@]127.0.0.1:S1,127.0.0.1:S2,127.0.0.1:S3/mymaster".
With a password the data nodes run with requirepass and masterauth, the
sentinels are told with `sentinel auth-pass`; the sentinels themselves
take no password (the module asks them without AUTH).

The set also stands in for microshop.RedisServer where a test only needs
"the Redis of the gateway" (as_redis_server()): url, client() (the current
primary), stop() and start() (both data nodes, so no failover happens
meanwhile).

Gateway side: wait_ready(n) (connected, revocations loaded) and the label
of microshop_redis_node_up for a data node (node_label), the Sentinel parts
of the contract in docs/redis.md.
"""

import os
import subprocess
import time

import redis

import microshop
from microshop import SLOW, free_port, wait_for
from redisnodes import metric, wait_redis_up

MASTER = "mymaster"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 3000


def _ports(count, taken=()):
    """count distinct free ports, none of them in taken."""
    ports = []
    while len(ports) < count:
        port = free_port()
        if port not in ports and port not in taken:
            ports.append(port)
    return ports


class RedisProcess(microshop.RedisServer):
    """One redis-server (a data node or, with a config file and
    --sentinel, a sentinel) on a fixed port in its own directory, started
    on self.args; stop() and start() again keep the port."""

    def __init__(self, base, port, kind, password=None):
        self.port = port
        self.addr = "127.0.0.1:%d" % port
        self.kind = kind                        # "data" or "sentinel"
        self.password = password
        self.dir = os.path.join(base, "%s-%d" % (kind, port))
        os.makedirs(self.dir, exist_ok=True)
        self.log_path = os.path.join(self.dir, "redis.log")
        self.args = []
        self.proc = None
        self._client = None

    def start(self):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                ["redis-server", *self.args], cwd=self.dir,
                stdout=log, stderr=subprocess.STDOUT)
        wait_for(self._ping, what="%s redis-server on port %d"
                 % (self.kind, self.port))

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def client(self, **kw):
        """A client of this process (str replies unless kw says otherwise;
        the data nodes' password)."""
        if kw:
            return redis.Redis(host="127.0.0.1", port=self.port,
                               password=self.password, **kw)
        if self._client is None:
            self._client = redis.Redis(host="127.0.0.1", port=self.port,
                                       password=self.password,
                                       decode_responses=True,
                                       socket_timeout=5 * SLOW)
        return self._client

    def call(self, *args):
        return self.client().execute_command(*args)

    def info(self, section):
        return self.client().info(section)

    def role(self):
        """"master" or "slave" (ROLE's first word)."""
        return self.call("ROLE")[0]

    def stop(self):
        super().stop()
        if self._client is not None:
            self._client.close()
            self._client = None


class SentinelSet:
    """One primary, one replica and three sentinels (quorum 2) watching
    them as MASTER; see the module docstring."""

    def __init__(self, tmpdir, password=None, master=MASTER,
                 down_after_ms=DOWN_AFTER_MS,
                 failover_timeout_ms=FAILOVER_TIMEOUT_MS):
        self.base = str(tmpdir)
        self.password = password
        self.master = master
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        ports = _ports(5)
        self.data = [RedisProcess(self.base, p, "data", password)
                     for p in ports[:2]]
        self.sentinels = [RedisProcess(self.base, p, "sentinel")
                          for p in ports[2:]]
        try:
            self.start()
        except BaseException:
            self.stop()
            raise

    # ----------------------------------------------------------- setting up

    def _data_args(self, node, primary):
        args = ["--port", str(node.port), "--bind", "127.0.0.1",
                "--dir", node.dir, "--save", "", "--appendonly", "no",
                "--daemonize", "no",
                # a replica syncs at once (the default waits 5 s for more
                # replicas to share the transfer)
                "--repl-diskless-sync-delay", "0",
                "--enable-debug-command", "local"]
        if self.password is not None:
            args += ["--requirepass", self.password,
                     "--masterauth", self.password]
        if node is not primary:
            args += ["--replicaof", "127.0.0.1", str(primary.port)]
        return args

    def _sentinel_conf(self, sentinel, primary):
        lines = ["port %d" % sentinel.port,
                 "bind 127.0.0.1",
                 "daemonize no",
                 "dir %s" % sentinel.dir,
                 "sentinel resolve-hostnames no",
                 "sentinel monitor %s 127.0.0.1 %d 2"
                 % (self.master, primary.port),
                 "sentinel down-after-milliseconds %s %d"
                 % (self.master, self.down_after_ms),
                 "sentinel failover-timeout %s %d"
                 % (self.master, self.failover_timeout_ms),
                 "sentinel parallel-syncs %s 1" % self.master]
        if self.password is not None:
            lines.append("sentinel auth-pass %s %s"
                         % (self.master, self.password))
        # Sentinel rewrites its config file (it must be writable)
        path = os.path.join(sentinel.dir, "sentinel.conf")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def start(self, first=None):
        """Start the data nodes (first, by default the initial primary, as
        the primary) and, the first time, the sentinels; returns when the
        replica is in sync and every sentinel knows the whole set."""
        primary = first or self._last_primary()
        for node in [primary] + [n for n in self.data if n is not primary]:
            if node.running:
                continue
            node.args = self._data_args(node, primary)
            node.start()
        for sentinel in self.sentinels:
            if sentinel.running:
                continue
            if not sentinel.args:
                sentinel.args = [self._sentinel_conf(sentinel, primary),
                                 "--sentinel"]
            sentinel.start()
        self.wait_known()

    def _last_primary(self):
        """The data node the sentinels name (they go on naming it while
        the data nodes are stopped), else the initial primary."""
        if any(s.running for s in self.sentinels):
            port = self.master_port()
            if port is not None:
                return self.node(port)
        return self.data[0]

    def _replica_synced(self, node):
        repl = node.info("replication")
        return (repl.get("role") == "slave"
                and repl.get("master_link_status") == "up")

    def _known(self):
        """Every sentinel names the same running primary, lists the other
        data node as a replica (not down, not disconnected), which is in
        sync, and knows both other sentinels."""
        primary = self.primary()
        if primary is None:
            return False
        for node in self.data:
            if node is not primary and not self._replica_synced(node):
                return False
        for s in self.sentinels:
            try:
                if self._named(s) != primary.port:
                    return False
                replicas = s.call("SENTINEL", "REPLICAS", self.master)
                peers = s.call("SENTINEL", "SENTINELS", self.master)
            except redis.RedisError:
                return False
            # (a sentinel refreshes a replica's INFO, its link status,
            # every 10 s: the replica's own word on its link is taken)
            good = [r for r in map(_pairs, replicas)
                    if r["flags"] == "slave"
                    and int(r["port"]) != primary.port]
            if len(good) != len(self.data) - 1:
                return False
            if len([p for p in map(_pairs, peers)
                    if p["flags"] == "sentinel"]) != len(self.sentinels) - 1:
                return False
        return True

    def wait_known(self, timeout=20.0):
        try:
            wait_for(self._known, timeout=timeout, interval=0.05,
                     what="the sentinels to know the replica and each other")
        except TimeoutError as e:
            raise TimeoutError("%s:\n%s" % (e, self.describe()))

    # ----------------------------------------------------------- looking up

    def url(self, db=None, master=None, password=None):
        """The gateway's URL of this set: the three sentinels, the master
        name (another one with master=), the data nodes' password."""
        password = self.password if password is None else password
        auth = ":%s@" % password if password else ""
        url = "redis+sentinel://%s%s/%s" % (
            auth, ",".join(s.addr for s in self.sentinels),
            master or self.master)
        return url if db is None else "%s/%d" % (url, db)

    def _named(self, sentinel):
        """The primary's port per SENTINEL get-master-addr-by-name on one
        sentinel (None when it names none)."""
        addr = sentinel.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME",
                             self.master)
        return int(addr[1]) if addr else None

    def master_port(self):
        """The primary's port as the first sentinel that answers names it."""
        for s in self.sentinels:
            try:
                return self._named(s)
            except redis.RedisError:
                continue
        return None

    def node(self, port):
        for node in self.data:
            if node.port == port:
                return node
        raise KeyError(port)

    def primary(self):
        """The data node the sentinels name, if it runs and ROLE says
        master there; else None."""
        port = self.master_port()
        if port is None:
            return None
        node = self.node(port)
        try:
            return node if node.running and node.role() == "master" \
                else None
        except redis.RedisError:
            return None

    def replica(self):
        """The data node that is not the primary."""
        primary = self.primary()
        return [n for n in self.data if n is not primary][0]

    def client(self, decode_responses=False, **kw):
        """A new client of the current primary, bytes replies unless told
        otherwise, as microshop.RedisServer.client() (RuntimeError when
        there is no primary)."""
        primary = self.primary()
        if primary is None:
            raise RuntimeError("no primary:\n" + self.describe())
        return primary.client(decode_responses=decode_responses, **kw)

    def describe(self):
        """What every process says, for a message."""
        lines = []
        for node in self.data:
            try:
                repl = node.info("replication")
                lines.append("data %s: role %s, link %s" % (
                    node.addr, repl.get("role"),
                    repl.get("master_link_status", "-")))
            except redis.RedisError as e:
                lines.append("data %s: %s" % (node.addr, e))
        for s in self.sentinels:
            try:
                lines.append("sentinel %s: master %s, replicas %s, peers %d"
                             % (s.addr, s.call("SENTINEL",
                                               "GET-MASTER-ADDR-BY-NAME",
                                               self.master),
                                [(r["port"], r["flags"]) for r in
                                 map(_pairs, s.call("SENTINEL", "REPLICAS",
                                                    self.master))],
                                len(s.call("SENTINEL", "SENTINELS",
                                           self.master))))
            except redis.RedisError as e:
                lines.append("sentinel %s: %s" % (s.addr, e))
        return "\n".join(lines)

    def sentinel_stats(self):
        """{"connections": N, "commands": M}: connections received and
        commands processed, summed over the sentinels (INFO stats)."""
        total = {"connections": 0, "commands": 0}
        for s in self.sentinels:
            stats = s.info("stats")
            total["connections"] += stats["total_connections_received"]
            total["commands"] += stats["total_commands_processed"]
        return total

    # ----------------------------------------------------------- failures

    def failover(self, timeout=15.0):
        """SENTINEL failover on one sentinel; waits until every sentinel
        names the other data node and ROLE says master there.  Returns
        (old port, new port, time.monotonic() of the command, seconds it
        took)."""
        old = self.primary()
        assert old is not None, self.describe()
        deadline = time.monotonic() + timeout * SLOW
        while True:
            # refused while the replica is not known good yet (NOGOODSLAVE)
            # or the previous failover is not over (INPROG)
            try:
                sent = time.monotonic()
                self.sentinels[0].call("SENTINEL", "FAILOVER", self.master)
                break
            except redis.ResponseError as e:
                if time.monotonic() > deadline:
                    raise RuntimeError("SENTINEL failover: %s\n%s"
                                       % (e, self.describe()))
                time.sleep(0.1)

        def switched():
            try:
                ports = {self._named(s) for s in self.sentinels}
            except redis.RedisError:
                return False
            if len(ports) != 1 or old.port in ports:
                return False
            node = self.node(ports.pop())
            try:
                return node.role() == "master" and node
            except redis.RedisError:
                return False

        try:
            new = wait_for(switched, timeout=timeout, interval=0.01,
                           what="the sentinels to name the new primary")
        except TimeoutError as e:
            raise TimeoutError("%s:\n%s" % (e, self.describe()))
        return old.port, new.port, sent, time.monotonic() - sent

    def settle(self, timeout=20.0):
        """Wait until the old primary of a failover replicates from the
        new one and every sentinel knows it as a good replica (Sentinel
        converts it by itself, some seconds after the failover)."""
        self.wait_known(timeout)

    def stop(self):
        """Stop the data nodes (the sentinels go on: the set is down, no
        failover can happen, since no replica runs)."""
        for node in self.data:
            node.stop()

    def as_redis_server(self):
        return RedisServerView(self)

    def stop_all(self):
        """Stop every process (the directories stay for their logs)."""
        for process in self.sentinels + self.data:
            process.stop()


class RedisServerView:
    """A SentinelSet where microshop.RedisServer is expected: url is the
    set's URL (an attribute there), client(), stop() and start() the set's
    own."""

    def __init__(self, sentinel_set):
        self.set = sentinel_set
        self.url = sentinel_set.url()
        self.client = sentinel_set.client
        self.stop = sentinel_set.stop
        self.start = sentinel_set.start


def _pairs(flat):
    """A SENTINEL REPLICAS / SENTINELS entry as a dict (redis-py may give
    the flat [name, value, ...] list or a dict already)."""
    if isinstance(flat, dict):
        return flat
    return dict(zip(flat[0::2], flat[1::2]))


# ------------------------------------------------------------ the gateway

def node_label(port):
    return 'microshop_redis_node_up{node="127.0.0.1:%d"}' % port


def wait_ready(n, timeout=6.0):
    """The node found the primary through the sentinels and is connected
    (microshop_redis_up 1, a command connection per worker) and has loaded
    the revocations; returns the seconds it took."""
    start = time.monotonic()
    wait_redis_up(n, timeout)
    wait_for(lambda: metric(n, "microshop_redis_revocations_loaded", 0) == 1,
             timeout=timeout, interval=0.05,
             what="microshop_redis_revocations_loaded 1 on %s" % n.url())
    return time.monotonic() - start
