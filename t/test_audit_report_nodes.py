"""microshop_audit_report across nodes: with microshop_redis every node
puts its scope usage into Redis (ms:usage) and a report on any node merges
the others' into its own (docs/audit-playbook.md "Several nodes").  Issue
18, "With Redis, the counts are merged across nodes".

Two nginx instances (A and B: their own masters, workers and usage zones)
share one redis-server and nothing else.  The tests send tokens to both
and check that the report of either names what both saw: requests summed,
a scope exercised on one node not called unused on the other, denials
added; and what Redis holds.
"""

import time

import pytest

import redisnodes
from microshop import SLOW, mint, problem, wait_for

pytestmark = redisnodes.skip_under_deferred()

CONF = """
    microshop_jwt_key %(ec)s kid=k1;
    %(redis)s
    microshop_token_class default max_ttl=1h;
    microshop_token_class staff max_ttl=15m
        scopes=inventory:read,inventory:write,refunds:issue;

    server {
        listen 127.0.0.1:%(port)d;

        location = /status { microshop_status; }

        location ~ ^/v1/sellers/(?<seller>[^/]+)/inventory/ {
            microshop_auth on;
            microshop_require_scope GET,HEAD inventory:read;
            microshop_require_scope PUT inventory:write;
            microshop_seller $seller;
            proxy_pass http://127.0.0.1:%(backend)d;
        }

        location = /audit {
            microshop_audit_report window=1h;
        }
    }
"""

# the first put comes 1 s after a worker starts, then one every 5 s
SHARE = 5


def render(keys, backend, url):
    def conf(n):
        return CONF % {"ec": keys.ec256_public_pem, "port": n.port,
                       "backend": backend.port,
                       "redis": redisnodes.directive(url, timeout="2s")}
    return conf


def staff(keys, sub="staff-1", scope="inventory:read inventory:write"):
    return mint(keys, kid="k1", sub=sub, seller="s1", token_class="staff",
                scope=scope, ttl=600)


def admin_token(keys):
    return mint(keys, kid="k1", sub="auditor", seller=None,
                scope="microshop:admin", ttl=600)


def report(n, keys):
    r = n.get("/audit", token=admin_token(keys))
    assert r.status_code == 200, r.text
    return r.json()


def entry(doc, sub):
    found = [s for s in doc["subjects"] if s["sub"] == sub]
    assert len(found) == 1, doc["subjects"]
    return found[0]


def klass(doc, name):
    found = [c for c in doc["classes"] if c["class"] == name]
    assert len(found) == 1, doc["classes"]
    return found[0]


def settled(n, keys, check, timeout=4 * SHARE):
    """The report of n once check(doc) holds: the other node's usage
    arrives with its next put."""
    last = {}

    def ready():
        last["doc"] = report(n, keys)
        return check(last["doc"])

    try:
        wait_for(ready, timeout=timeout * SLOW, interval=0.25,
                 what="the merged audit report")
    except TimeoutError as e:
        raise TimeoutError("%s; last report: %s" % (e, last.get("doc")))
    return last["doc"]


def node_fields(redis_server):
    return sorted(k.decode() for k in
                  redis_server.client().hkeys("ms:usage"))


@pytest.fixture(scope="module")
def nodes(nginx, keys, backend, module_redis):
    module_redis.client().flushall()
    a, b = redisnodes.start_nodes(nginx, 2,
                                  render(keys, backend, module_redis.url),
                                  workers=2)
    tok = staff(keys)
    # A: staff-1 reads three times; B: it writes once and is refused once
    for _ in range(3):
        r = a.get("/v1/sellers/s1/inventory/A1", token=tok)
        assert r.status_code == 200, r.text
    r = b.request("PUT", "/v1/sellers/s1/inventory/A1", token=tok,
                  json={"available": 3})
    assert r.status_code < 400, r.text
    reader = staff(keys, sub="reader-b", scope="inventory:read")
    problem(b.request("PUT", "/v1/sellers/s1/inventory/A1", token=reader,
                      json={"available": 1}), "insufficient-scope")
    return a, b


def both_seen(doc):
    subs = {s["sub"]: s for s in doc["subjects"]}
    return (doc["nodes"]["merged"] == 2
            and subs.get("staff-1", {}).get("requests") == 4
            and "reader-b" in subs)


def test_each_node_reports_what_both_saw(nodes, keys):
    a, b = nodes
    for n in (a, b):
        doc = settled(n, keys, both_seen)
        assert doc["nodes"] == {"merged": 2, "skipped": 0, "shared": True}

        s = entry(doc, "staff-1")
        assert s["requests"] == 4
        # read on A, written on B: both exercised, neither unused
        assert set(s["granted"]) == {"inventory:read", "inventory:write"}
        assert set(s["exercised"]) == {"inventory:read", "inventory:write"}
        assert s["unused"] == []

        r = entry(doc, "reader-b")
        assert r["requests"] == 1
        assert r["exercised"] == [] and r["unused"] == ["inventory:read"]

        c = klass(doc, "staff")
        assert set(c["exercised"]) == {"inventory:read", "inventory:write"}
        assert c["denials"] == {"insufficient_scope": 1}

        # the least-privilege list: reader-b alone, and the ceiling's
        # refunds:issue that no route requires
        lp = doc["least_privilege"]
        assert {"sub": "reader-b", "seller": "s1", "class": "staff",
                "unused": ["inventory:read"]} in [
            {k: v for k, v in e.items() if k != "why"} for e in lp], lp
        assert not any(e.get("sub") == "staff-1" for e in lp), lp


def test_redis_holds_one_export_per_node(nodes, keys, module_redis):
    a, _ = nodes
    settled(a, keys, both_seen)
    fields = node_fields(module_redis)
    # t:<node> and b:<node> of both: "<host>/<32 hex>"
    assert len(fields) == 4, fields
    names = {f[2:] for f in fields}
    assert len(names) == 2
    for name in names:
        host, _, ident = name.rpartition("/")
        assert host and len(ident) == 32, name
        int(ident, 16)
        assert "t:" + name in fields and "b:" + name in fields
    # kept for the window (1h) and two periods, renewed by every put
    ttl = module_redis.client().pttl("ms:usage")
    assert 3600 * 1000 < ttl <= 3600 * 1000 + 2 * SHARE * 1000, ttl
    # no token, secret or claim text beyond the names: the export holds
    # the subjects and scopes only
    for name in names:
        blob = module_redis.client().hget("ms:usage", "b:" + name)
        assert blob.startswith(b"MSUW"), blob[:8]
        assert b"eyJ" not in blob


def test_a_bad_export_is_skipped_not_merged(nodes, keys, module_redis):
    a, _ = nodes
    settled(a, keys, both_seen)
    r = module_redis.client()
    now_ms = int(time.time() * 1000)
    good = [f for f in node_fields(module_redis) if f.startswith("b:")][0]
    blob = r.hget("ms:usage", good)
    try:
        r.hset("ms:usage", mapping={
            "t:junk/1": now_ms, "b:junk/1": b"not an export",
            "t:cut/1": now_ms, "b:cut/1": blob[:len(blob) // 2],
            "t:long/1": now_ms, "b:long/1": blob + b"\0"})
        doc = report(a, keys)
        assert doc["nodes"] == {"merged": 2, "skipped": 3, "shared": True}
        assert entry(doc, "staff-1")["requests"] == 4
    finally:
        r.hdel("ms:usage", "t:junk/1", "b:junk/1", "t:cut/1", "b:cut/1",
               "t:long/1", "b:long/1")
    a.allow_log.append(r"is not an export of this version")


def test_a_node_not_heard_of_for_its_keep_is_left_out(nodes, keys,
                                                      module_redis):
    a, _ = nodes
    settled(a, keys, both_seen)
    r = module_redis.client()
    old = int(time.time() * 1000) - (3600 + 3 * SHARE) * 1000
    good = [f for f in node_fields(module_redis) if f.startswith("b:")][0]
    r.hset("ms:usage", mapping={"t:gone/1": old,
                                "b:gone/1": r.hget("ms:usage", good)})
    doc = report(a, keys)
    assert doc["nodes"]["merged"] == 2
    # the next put of any node forgets it
    wait_for(lambda: "t:gone/1" not in node_fields(module_redis),
             timeout=3 * SHARE * SLOW, what="the stale node forgotten")


def test_a_restarted_node_keeps_what_it_saw_before(nodes, keys,
                                                   module_redis):
    a, b = nodes
    settled(a, keys, both_seen)
    b.stop()
    b.launch()
    redisnodes.wait_redis_up(b)
    # B's new block is empty: its old export still counts, under its old
    # name, until the window is past
    tok = staff(keys, sub="after-restart", scope="inventory:read")
    assert b.get("/v1/sellers/s1/inventory/A1", token=tok).status_code == 200
    doc = settled(a, keys, lambda d: d["nodes"]["merged"] == 3
                  and any(s["sub"] == "after-restart"
                          for s in d["subjects"]))
    assert entry(doc, "staff-1")["requests"] == 4
    assert set(entry(doc, "staff-1")["exercised"]) == {"inventory:read",
                                                        "inventory:write"}
    assert entry(doc, "after-restart")["exercised"] == ["inventory:read"]


def test_no_report_when_redis_cannot_answer(nodes, keys, module_redis):
    """Last in the module: Redis stops.  The report of one node alone
    would call scopes the other node saw used "never exercised"; it
    answers 503 problem+json instead, and again once Redis is back."""
    a, b = nodes
    for n in (a, b):
        n.allow_log.extend([r"microshop redis", r"Connection refused",
                            r"connect\(\) failed"])
    module_redis.stop()
    try:
        redisnodes.wait_redis_down(a, timeout=10 * SLOW)
        r = a.get("/audit", token=admin_token(keys))
        p = problem(r, "store-unavailable")
        assert r.status_code == 503 and "other nodes" in p["detail"], p
        assert r.headers.get("Retry-After"), r.headers
    finally:
        module_redis.start()
    redisnodes.wait_redis_up(a, timeout=15 * SLOW)
    doc = settled(a, keys, lambda d: d["nodes"]["merged"] >= 1)
    assert doc["nodes"]["shared"] is True
