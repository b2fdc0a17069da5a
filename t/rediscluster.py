"""A Redis Cluster of real redis-server processes, for the Cluster tests.

RedisCluster starts one redis-server per node on free loopback ports, each
in a directory of its own (its nodes-<port>.conf and log), joins them with
`redis-cli --cluster create` and waits until every node says
cluster_state:ok and all of them agree on who owns every slot.  A test can
then kill a primary (SIGKILL) and wait for its replica to take over, move a
slot to another primary with the resharding protocol of Redis Cluster
(CLUSTER SETSLOT ... IMPORTING / MIGRATING, MIGRATE, SETSLOT ... NODE) and
stop halfway to send traffic while the slot is half-moved (that is when
ASK answers happen), and read a key straight from the primary that owns
it.

The module's keys (docs/redis.md "Keys") are `ms:{<seller>}:...`: the
seller, percent-encoded, is the hash tag, so all of a seller's keys are in
one slot; sellers_by_owner() finds seller names whose slot is on each
primary.  Slots are computed by Redis (CLUSTER KEYSLOT), not here, so the
module's CRC16 is checked against Redis' own.

The nodes run with cluster-require-full-coverage no: with the default
(yes) every node answers CLUSTERDOWN for every slot from the moment a dead
primary is flagged FAIL until its replica took over, and the sellers of
the other primaries would fail too.

Gateway side: wait_cluster_ready(n) and the per-node metrics of /status
(node_metric), the Cluster parts of the contract in docs/redis.md.
"""

import logging
import os
import signal
import subprocess
import time
import urllib.parse

import redis
import redis.cluster

import microshop
from microshop import SLOW, free_port, wait_for
from redisnodes import metrics, wait_redis_up, wait_status

SLOTS = 16384

# redis-py's cluster client logs every MOVED and ASK it follows with a
# traceback (log.exception): the tests expect them
logging.getLogger("redis.cluster").setLevel(logging.CRITICAL)

# bytes that stay as they are in a key's seller or name (docs/redis.md
# "Keys"): every other one, and { } : % themselves, become %XX
KEY_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-"


def key_part(text):
    """A seller or a name as the module writes it into a key."""
    return urllib.parse.quote(text, safe=KEY_SAFE)


def seller_key(seller, kind, name=None):
    """ms:{<seller>}:<kind>[:<name>], the key of a seller's state."""
    key = "ms:{%s}:%s" % (key_part(seller), kind)
    if name is not None:
        key += ":" + key_part(name)
    return key


class ClusterNode(microshop.RedisServer):
    """One redis-server with --cluster-enabled yes in the directory path;
    kill() and start() again keep its port and its nodes-<port>.conf, so
    it comes back as the same node of the cluster."""

    def __init__(self, path, node_timeout_ms, full_coverage=False):
        self.dir = path
        os.makedirs(path, exist_ok=True)
        self.node_timeout_ms = node_timeout_ms
        self.full_coverage = full_coverage
        # the cluster bus port (by default port + 10000, which may be taken
        # or above 65535)
        self.bus_port = free_port()
        self._client = None
        # picks the port and starts the server
        super().__init__(os.path.join(path, "redis.log"))
        self.addr = "127.0.0.1:%d" % self.port

    def start(self):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port),
                 "--bind", "127.0.0.1", "--dir", self.dir,
                 "--cluster-enabled", "yes",
                 "--cluster-config-file", "nodes-%d.conf" % self.port,
                 "--cluster-port", str(self.bus_port),
                 "--cluster-node-timeout", str(self.node_timeout_ms),
                 "--cluster-require-full-coverage",
                 "yes" if self.full_coverage else "no",
                 "--save", "", "--appendonly", "no", "--daemonize", "no",
                 # a replica syncs at once (the default waits 5 s for
                 # more replicas to share the transfer)
                 "--repl-diskless-sync-delay", "0",
                 "--enable-debug-command", "local"],
                stdout=log, stderr=subprocess.STDOUT)
        wait_for(self._ping, what="redis-server on port %d" % self.port)

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def client(self):
        """A plain (not cluster-aware) client of this node, str replies
        (a binary value, an idempotency fingerprint, backslash-escaped)."""
        if self._client is None:
            self._client = redis.Redis(host="127.0.0.1", port=self.port,
                                       decode_responses=True,
                                       encoding_errors="backslashreplace",
                                       socket_timeout=5 * SLOW)
        return self._client

    def call(self, *args):
        return self.client().execute_command(*args)

    def kill(self):
        """SIGKILL: no goodbye to the cluster or the clients."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None
        self._drop_client()

    def stop(self):
        """SIGTERM (a clean exit that writes nodes-<port>.conf)."""
        super().stop()
        self._drop_client()

    def _drop_client(self):
        if self._client is not None:
            self._client.close()
            self._client = None

    def info(self, section):
        """INFO <section> (or CLUSTER INFO for "cluster-info") as a dict."""
        if section == "cluster-info":
            text = self.call("CLUSTER", "INFO")
        else:
            text = self.client().execute_command("INFO", section)
            if isinstance(text, dict):
                return text
        return dict(line.split(":", 1) for line in text.splitlines()
                    if ":" in line and not line.startswith("#"))

    def nodes(self):
        """CLUSTER NODES as a list of dicts: id, addr (host:port), flags
        (set), master (id or "-"), slots (list of "a-b", "a" or
        "[slot->-id]" open slots)."""
        rows = []
        for line in self.call("CLUSTER", "NODES").splitlines():
            f = line.split()
            rows.append({"id": f[0], "addr": f[1].split("@")[0],
                         "flags": set(f[2].split(",")), "master": f[3],
                         "link": f[7], "slots": f[8:]})
        return rows

    def myid(self):
        return self.call("CLUSTER", "MYID")


class RedisCluster:
    """primaries primary nodes with replicas replicas each, joined by
    redis-cli --cluster create; the node timeout is node_timeout_ms (small
    for the failover tests: it bounds how fast a dead primary is seen)."""

    def __init__(self, tmpdir, primaries=3, replicas=0,
                 node_timeout_ms=5000, full_coverage=False):
        self.base = str(tmpdir)
        self.node_timeout_ms = node_timeout_ms
        self.replicas = replicas
        self.nodes = {}                       # port -> ClusterNode
        self._clients = {}                    # decode_responses -> client
        try:
            for i in range(primaries * (1 + replicas)):
                node = ClusterNode(os.path.join(self.base, "node%d" % i),
                                   node_timeout_ms, full_coverage)
                self.nodes[node.port] = node
            self._create()
            self.wait_ok()
        except BaseException:
            self.stop()
            raise

    # ----------------------------------------------------------- setting up

    def _create(self):
        # which nodes become primaries is redis-cli's choice: the tests
        # read the map (primaries(), owner(), replicas_of())
        cmd = (["redis-cli", "--cluster", "create"]
               + [n.addr for n in self.nodes.values()]
               + ["--cluster-replicas", str(self.replicas),
                  "--cluster-yes"])
        out = subprocess.run(cmd, capture_output=True, text=True,
                             timeout=60 * SLOW)
        if out.returncode != 0 or "[OK] All 16384 slots covered" \
                not in out.stdout:
            raise RuntimeError("redis-cli --cluster create failed (%d):\n%s"
                               "\n%s" % (out.returncode, out.stdout[-2000:],
                                         out.stderr[-2000:]))

    def running(self):
        return [n for n in self.nodes.values() if n.running]

    def _state(self):
        """The slot map, [(first, last, primary port)] sorted, once every
        running node says cluster_state:ok, sees every other running node
        connected, all name the same running owner for every slot and no
        slot is open (and, with replicas, every replica is linked, known
        as one in every node's view, and has what its primary wrote); None
        until then."""
        maps = []
        for node in self.running():
            try:
                if node.info("cluster-info").get("cluster_state") != "ok":
                    return None
                rows = node.nodes()
            except redis.RedisError:
                return None
            alive = {n.addr for n in self.running()}
            owners = []
            for row in rows:
                if row["addr"] in alive and (
                        row["flags"] & {"fail", "fail?", "handshake",
                                        "noaddr"}
                        or ("myself" not in row["flags"]
                            and row["link"] != "connected")):
                    return None
                if "master" not in row["flags"] or not row["slots"]:
                    continue
                for s in row["slots"]:
                    if s.startswith("["):
                        return None           # a slot being moved
                    first, _, last = s.partition("-")
                    owners.append((int(first), int(last or first),
                                   int(row["addr"].rsplit(":", 1)[1])))
            owners.sort()
            if sum(b - a + 1 for a, b, _ in owners) != SLOTS:
                return None
            # every node's view (gossip) knows each other running node
            # that owns no slot as a replica: replicas_of() reads a view
            owning = {"127.0.0.1:%d" % p for _, _, p in owners}
            if self.replicas and any(
                    row["addr"] in alive and row["addr"] not in owning
                    and ("slave" not in row["flags"]
                         or row["master"] in ("", "-"))
                    for row in rows):
                return None
            if any(port not in self.nodes or not self.nodes[port].running
                   for _, _, port in owners):
                return None
            maps.append(owners)
        if not maps or any(m != maps[0] for m in maps):
            return None
        if self.replicas and not (self._replicas_linked(maps[0])
                                  and self.sync_replicas(maps[0])):
            return None
        return maps[0]

    def _replicas_linked(self, slot_map):
        """Every running node that owns no slot is a replica whose link to
        its primary is up (master_link_status:up), so it can take over."""
        owners = {port for _, _, port in slot_map}
        for node in self.running():
            if node.port in owners:
                continue
            repl = node.info("replication")
            if repl.get("role") != "slave" or \
                    repl.get("master_link_status") != "up":
                return False
        return True

    def sync_replicas(self, slot_map=None, timeout_ms=1000):
        """WAIT on every primary for all of its replicas to have what it
        wrote so far; True when they all did.  (A replica that has just
        synced gets the stream only once it acknowledged, up to a second
        later: what a test wrote meanwhile would be lost by a failover.)"""
        for port in sorted({p for _, _, p in slot_map or self.slot_map}):
            node = self.nodes[port]
            want = int(node.info("replication").get("connected_slaves", 0))
            if want and int(node.call("WAIT", want, timeout_ms)) < want:
                return False
        return True

    def wait_ok(self, timeout=20.0):
        """Wait until the cluster is settled (see _state); returns the slot
        map [(first, last, port)]."""
        try:
            self.slot_map = wait_for(self._state, timeout=timeout,
                                     interval=0.05,
                                     what="the cluster to settle")
        except TimeoutError as e:
            raise TimeoutError("%s:\n%s" % (e, self.describe()))
        return self.slot_map

    def describe(self):
        """CLUSTER NODES and CLUSTER INFO's state of every running node,
        for a message."""
        lines = []
        for node in self.running():
            try:
                state = node.info("cluster-info").get("cluster_state")
                nodes = node.call("CLUSTER", "NODES")
            except redis.RedisError as e:
                state, nodes = "?", str(e)
            lines.append("node %s (state %s):\n%s" % (node.addr, state,
                                                      nodes))
        return "\n".join(lines)

    # ----------------------------------------------------------- looking up

    def seeds_url(self, count=2, ports=None):
        """redis+cluster://127.0.0.1:P1,127.0.0.1:P2 with the first count
        primaries (or the given ports) as seeds."""
        ports = ports or self.primaries()[:count]
        return "redis+cluster://" + ",".join("127.0.0.1:%d" % p
                                             for p in ports)

    def any_node(self):
        for node in self.running():
            return node
        raise RuntimeError("no node of the cluster runs")

    def slot_of(self, key):
        """The slot of a key, as Redis computes it (CLUSTER KEYSLOT)."""
        return int(self.any_node().call("CLUSTER", "KEYSLOT", key))

    def seller_slot(self, seller):
        return self.slot_of(seller_key(seller, "rate"))

    def owner(self, slot):
        """The port of the primary that owns slot in the settled map."""
        for first, last, port in self.slot_map:
            if first <= slot <= last:
                return port
        raise KeyError(slot)

    def owner_of(self, key):
        return self.owner(self.slot_of(key))

    def primaries(self):
        """The ports of the primaries that own slots, sorted."""
        return sorted({port for _, _, port in self.slot_map})

    def replicas_of(self, port):
        """The ports of the running replicas of the primary on port."""
        node_id = self.nodes[port].myid() if self.nodes[port].running \
            else self._id_of(port)
        rows = self.any_node().nodes()
        return sorted(int(r["addr"].rsplit(":", 1)[1]) for r in rows
                      if r["master"] == node_id
                      and self.nodes.get(int(r["addr"].rsplit(":", 1)[1]))
                      and self.nodes[int(r["addr"].rsplit(":", 1)[1])]
                      .running)

    def _id_of(self, port):
        for node in self.running():
            for row in node.nodes():
                if row["addr"] == "127.0.0.1:%d" % port:
                    return row["id"]
        raise KeyError(port)

    def node(self, port):
        return self.nodes[port]

    def on_owner(self, key):
        """A plain client of the primary that owns key: what it holds there
        (a test reads the module's keys straight from their primary)."""
        return self.nodes[self.owner_of(key)].client()

    def client(self, decode_responses=True):
        """redis-py's cluster client (follows MOVED and ASK itself), str
        replies unless decode_responses is False."""
        if decode_responses not in self._clients:
            self._clients[decode_responses] = redis.cluster.RedisCluster(
                host="127.0.0.1", port=self.any_node().port,
                decode_responses=decode_responses)
        return self._clients[decode_responses]

    def sellers_by_owner(self, n, prefix="cs"):
        """{primary port: [n seller names]} whose keys ms:{<seller>}:...
        land on that primary; the names are prefix-<id>-<i> (a fresh id on
        every call, so tests do not share buckets)."""
        found = {port: [] for port in self.primaries()}
        tag = os.urandom(3).hex()
        i = 0
        while any(len(v) < n for v in found.values()):
            seller = "%s-%s-%d" % (prefix, tag, i)
            i += 1
            names = found[self.owner(self.seller_slot(seller))]
            if len(names) < n:
                names.append(seller)
            if i > 1000 * n:
                raise RuntimeError("no spread of sellers: %r" % found)
        return found

    # ----------------------------------------------------------- failures

    def kill(self, port):
        """SIGKILL the node on port; returns time.monotonic() taken just
        before the signal (what happened before it did not see the kill)."""
        start = time.monotonic()
        self.nodes[port].kill()
        return start

    def restart(self, port, wait=True):
        """Start the node on port again (same port, same nodes.conf); with
        wait, until the cluster is settled again."""
        self.nodes[port].start()
        if wait:
            self.wait_ok()

    def wait_failover(self, old_port, timeout=15.0, since=None):
        """Wait until a replica of the (killed) primary on old_port owns its
        slots and the cluster is settled; returns (new port, seconds since
        `since`, by default since this call)."""
        start = since if since is not None else time.monotonic()
        old_slots = [(a, b) for a, b, p in self.slot_map if p == old_port]
        assert old_slots, "%d owned no slot" % old_port

        def moved():
            state = self._state()
            if state is None:
                return None
            owners = {p for a, b, p in state if (a, b) in old_slots
                      or any(a <= x <= b for x, _ in old_slots)}
            if not owners or old_port in owners:
                return None
            return state

        try:
            self.slot_map = wait_for(moved, timeout=timeout, interval=0.05,
                                     what="a replica of %d to take over"
                                     % old_port)
        except TimeoutError as e:
            raise TimeoutError("%s:\n%s" % (e, self.describe()))
        new = self.owner(old_slots[0][0])
        return new, time.monotonic() - start

    # ----------------------------------------------------------- resharding

    def move_slot(self, slot, to_port, migrating=None, during=None,
                  batch=100):
        """Move slot to the primary on to_port with the resharding protocol
        (what `redis-cli --cluster reshard` does, docs of CLUSTER SETSLOT):

          1. target: CLUSTER SETSLOT <slot> IMPORTING <source id>
          2. source: CLUSTER SETSLOT <slot> MIGRATING <target id>
          3. migrating(): the slot is open, its keys still on the source,
             which serves them; a key it does not have is ASKed of the
             target
          4. source: CLUSTER GETKEYSINSLOT + MIGRATE ... KEYS, in batches,
             until the slot is empty there
          5. during(): the slot is half-moved now: its keys are on the
             target, the source answers ASK for them, the target serves
             them after ASKING; then 4 again for what came meanwhile
          6. CLUSTER SETSLOT <slot> NODE <target id> on the target, the
             source, then every other primary

        Returns the number of keys moved."""
        source_port = self.owner(slot)
        assert source_port != to_port, (slot, to_port)
        source, target = self.nodes[source_port], self.nodes[to_port]
        source_id, target_id = source.myid(), target.myid()
        target.call("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
        source.call("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
        if migrating is not None:
            migrating()
        moved = self._migrate_keys(source, target, slot, batch)
        if during is not None:
            during()
        moved += self._migrate_keys(source, target, slot, batch)
        for node in [target, source] + [self.nodes[p]
                                        for p in self.primaries()
                                        if p not in (source_port, to_port)]:
            node.call("CLUSTER", "SETSLOT", slot, "NODE", target_id)
        self.wait_ok()
        assert self.owner(slot) == to_port, self.slot_map
        return moved

    def _migrate_keys(self, source, target, slot, batch):
        moved = 0
        while True:
            keys = source.call("CLUSTER", "GETKEYSINSLOT", slot, batch)
            if not keys:
                return moved
            source.call("MIGRATE", "127.0.0.1", target.port, "", 0,
                        5000 * SLOW, "REPLACE", "KEYS", *keys)
            moved += len(keys)

    # ----------------------------------------------------------- clean up

    def flushall(self):
        """FLUSHALL on every running primary."""
        for port in self.primaries():
            if self.nodes[port].running:
                self.nodes[port].call("FLUSHALL")

    def stop(self):
        """Kill every node (the directories stay for their logs)."""
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        for node in self.nodes.values():
            node.kill()


# ------------------------------------------------------------ the gateway

def node_label(port):
    return '{node="127.0.0.1:%d"}' % port


def node_metric(m, name, port, kind=None, default=None):
    """A per-node sample from metrics(n): name{node="127.0.0.1:<port>"}
    (with kind="..." when given); AssertionError when missing unless a
    default is given."""
    labels = 'node="127.0.0.1:%d"' % port
    if kind is not None:
        labels += ',kind="%s"' % kind
    value = m.get("%s{%s}" % (name, labels), default)
    assert value is not None, "no %s{%s} on /status: %s" % (
        name, labels, sorted(k for k in m if k.startswith(name)))
    return value


def cluster_ready(n):
    m = metrics(n)
    return (m.get("microshop_redis_revocations_loaded") == 1
            and m.get("microshop_redis_slot_refreshes_total", 0) >= 1)


def wait_cluster_ready(n, timeout=6.0):
    """The node is connected to the cluster (microshop_redis_up 1, a
    command connection per worker), has loaded the revocations and the
    slot map at least once; returns the seconds it took."""
    return (wait_redis_up(n, timeout)
            + wait_status(n, cluster_ready, "the slot map and the "
                          "revocations loaded", timeout))
