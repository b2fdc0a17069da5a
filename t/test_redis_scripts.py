"""The Lua scripts of the redis back end (ngx_microshop_store_redis_lua.c),
run on a redis-server directly: each state change of the store contract,
op by op, as the shm back end makes it (ngx_microshop_store_shm*.c); the
GCRA numbers as microshop_gcra_apply() computes them.  The conformance
suite (t/test_store_contract_redis.py) runs them through nginx."""

import os
import re
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "..", "ngx_microshop_module",
                      "ngx_microshop_store_redis_lua.c")

FP_A = b"a" * 32
FP_B = b"b" * 32
MINUTE = 60000000

# the global keys' scripts take their key: a name of this test's own
REVOKED = "ms:{test}:revoked"
WATERMARKS = "ms:{test}:watermarks"
KEEP = 60000


def c_string(text):
    """The value of adjacent C string literals (the escapes the file uses)."""
    out = []
    for lit in re.findall(r'"((?:[^"\\]|\\.)*)"', text):
        out.append(lit.replace("\\n", "\n").replace('\\"', '"')
                   .replace("\\\\", "\\"))
    return "".join(out)


def load_scripts():
    text = open(SOURCE).read()
    macros = {}
    for name, body in re.findall(r"#define (NGX_MICROSHOP_LUA_\w+) \\\n"
                                 r"((?:.*\\\n)*.*\n)", text):
        macros[name] = c_string(body)
    scripts = {}
    for name, body in re.findall(r"static const char  "
                                 r"ngx_microshop_redis_lua_(\w+)\[\] =\n"
                                 r"(.*?);\n", text, re.S):
        for macro, value in macros.items():
            body = body.replace(macro, '"%s"' % value.replace(
                "\\", "\\\\").replace('"', '\\"').replace("\n", "\\n"))
        scripts[name] = c_string(body)
    return scripts


@pytest.fixture(scope="module")
def lua(redis_server):
    r = redis_server.client()
    scripts = {name: r.register_script(src)
               for name, src in load_scripts().items()}
    assert len(scripts) == 25, sorted(scripts)
    return r, scripts


def test_gcra_matches_the_c_gcra(lua):
    r, s = lua
    k = "ms:{g1}:rate"
    assert s["gcra"](keys=[k], args=[MINUTE, 1, 1])[:3] == [1, 0, 0]
    allowed, remaining, retry, reset = s["gcra"](keys=[k],
                                                 args=[MINUTE, 1, 1])
    assert (allowed, remaining) == (0, 0)
    assert 0 < retry <= MINUTE and 0 < reset <= MINUTE
    # a burst of 5 at one a second: 4 left, the bucket full again in 1 s
    assert s["gcra"](keys=["ms:{g2}:rate"],
                     args=[1000000, 5, 1]) == [1, 4, 0, 1000000]
    # the state is the TAT in us, gone once the bucket is full again
    tat = int(r.get(k))
    assert 0 < r.pttl(k) <= 60000 and tat > time.time() * 1e6
    # a clock that went back: never more than a full bucket ahead
    r.set(k, int(time.time() * 1e6) + 10 * MINUTE)
    allowed, remaining, retry, reset = s["gcra"](keys=[k],
                                                 args=[MINUTE, 1, 1])
    assert allowed == 0 and reset <= MINUTE
    assert int(r.get(k)) <= time.time() * 1e6 + MINUTE


def test_revocations(lua):
    r, s = lua
    now = int(time.time())
    assert s["revoke"](keys=[REVOKED], args=["j 1", now + 600, 3600]) \
        == 1
    # a later exp wins, an earlier one does not lower it
    s["revoke"](keys=[REVOKED], args=["j 1", now + 900, 3600])
    s["revoke"](keys=[REVOKED], args=["j 1", now + 100, 3600])
    assert r.zscore(REVOKED, "j 1") == now + 900
    # past exp + margin: forgotten at the next revoke, never loaded
    r.zadd(REVOKED, {"old": now - 7200})
    s["revoke"](keys=[REVOKED], args=["j 2", now + 600, 3600])
    assert r.zscore(REVOKED, "old") is None
    loaded = s["revoked_load"](keys=[REVOKED], args=[3600])
    assert dict(zip(loaded[::2], loaded[1::2])) == {
        b"j 1": str(now + 900).encode(), b"j 2": str(now + 600).encode()}


def test_watermarks(lua):
    r, s = lua
    now = int(time.time())
    before = s["revoke_before"]
    p = r.pubsub()
    p.subscribe("ms:watermark")
    assert p.get_message(timeout=1)["type"] == "subscribe"
    assert before(keys=[WATERMARKS], args=["s 1\nstaff", now, now + 900]) \
        == 1
    msg = p.get_message(timeout=1)
    assert msg["data"] == b"%d %d s 1\nstaff" % (now, now + 900), msg
    # forward only: the later before and the later until stay
    before(keys=[WATERMARKS], args=["s 1\nstaff", now - 50, now + 10])
    assert r.hget(WATERMARKS, "s 1\nstaff") == b"%d %d" % (now, now + 900)
    before(keys=[WATERMARKS], args=["s 1\nstaff", now + 5, now + 1000])
    assert r.hget(WATERMARKS, "s 1\nstaff") == b"%d %d" % (now + 5,
                                                           now + 1000)
    # until 0 (no class declared): kept for ever, and it stays so
    before(keys=[WATERMARKS], args=["s2\n", 100, 0])
    before(keys=[WATERMARKS], args=["s2\n", 50, now + 10])
    assert r.hget(WATERMARKS, "s2\n") == b"100 0"
    # past its until: forgotten at the next write, never loaded; one that
    # is past already is not kept
    r.hset(WATERMARKS, "old\n", "1 %d" % (now - 7200))
    before(keys=[WATERMARKS], args=["gone\n", 1, now - 10])
    assert r.hget(WATERMARKS, "old\n") is None
    assert r.hget(WATERMARKS, "gone\n") is None
    r.hset(WATERMARKS, "late\n", "1 %d" % (now - 7200))
    loaded = s["watermarks_load"](keys=[WATERMARKS], args=[0])
    assert dict(zip(loaded[::2], loaded[1::2])) == {
        b"s 1\nstaff": b"%d %d" % (now + 5, now + 1000),
        b"s2\n": b"100 0"}
    p.close()


def test_idempotency(lua):
    r, s = lua
    k = "ms:{i1}:idem:k"
    begin = s["idem_begin"]
    assert begin(keys=[k], args=[FP_A, 1, KEEP, KEEP]) == [0]        # new
    assert begin(keys=[k], args=[FP_A, 2, KEEP, KEEP]) == [1]  # in progress
    assert begin(keys=[k], args=[FP_B, 2, KEEP, KEEP]) == [2]     # mismatch
    assert 0 < r.pttl(k) <= 2 * KEEP
    # only the lock's owner completes it
    assert s["idem_complete"](keys=[k], args=[FP_A, 2, 3, KEEP, "x"]) == 0
    answer = b"HTTP/1.1 201 Created\r\n\r\n\x00" + os.urandom(64)
    assert s["idem_complete"](keys=[k], args=[FP_A, 1, 3, KEEP, answer]) \
        == 1
    assert begin(keys=[k], args=[FP_A, 3, KEEP, KEEP]) == [3, answer]
    assert 0 < r.pttl(k) <= KEEP

    # a lock that ran out: unavailable, never new; released by its owner
    k = "ms:{i1}:idem:k2"
    assert begin(keys=[k], args=[FP_A, 1, 0, KEEP]) == [0]
    assert begin(keys=[k], args=[FP_A, 2, KEEP, KEEP]) == [4]
    assert s["idem_release"](keys=[k], args=[FP_A, 2]) == 0
    assert s["idem_release"](keys=[k], args=[FP_B, 1]) == 0
    assert s["idem_release"](keys=[k], args=[FP_A, 1]) == 1
    assert begin(keys=[k], args=[FP_A, 3, KEEP, KEEP]) == [0]
    # executed, the answer not kept
    assert s["idem_complete"](keys=[k], args=[FP_A, 3, 4, KEEP, ""]) == 1
    assert begin(keys=[k], args=[FP_A, 4, KEEP, KEEP]) == [4]
    assert s["idem_release"](keys=[k], args=[FP_A, 3]) == 0


def test_inventory_and_its_refresh_lock(lua, redis_server):
    r, s = lua
    p = redis_server.client().pubsub()
    p.subscribe("ms:inv")
    assert p.get_message(timeout=1)["type"] == "subscribe"
    k = "ms:{v1}:inv:s"
    assert s["inv_put"](keys=[k], args=["body", "etag", 0, KEEP, "v1\ns"]) \
        == 1
    assert p.get_message(timeout=1)["data"] == b"v1\ns"
    body, etag, stored, version, failed, refresh = \
        s["inv_get"](keys=[k], args=[0, 0, 0])
    assert (body, etag, version, failed, refresh) == (b"body", b"etag", 0,
                                                      0, 0)
    # one refresh at a time, for lock ms
    assert s["inv_get"](keys=[k], args=[0, KEEP, KEEP])[5] == 1
    assert s["inv_get"](keys=[k], args=[0, KEEP, KEEP])[5] == 0
    # a failed refresh of another entry changes nothing; of this one frees
    # the lock and bars a new refresh for keep ms
    assert s["inv_failed"](keys=[k], args=[stored - 1, KEEP]) == 0
    assert s["inv_failed"](keys=[k], args=[stored, KEEP]) == 1
    assert s["inv_get"](keys=[k], args=[0, KEEP, KEEP])[4:] == [1, 0]
    # an older answer than the entry: not stored, the lock is free
    r.hset(k, "v", 9)
    assert s["inv_put"](keys=[k], args=["old", "e", 3, KEEP, "v1\ns"]) == 0
    assert r.hget(k, "b") == b"body" and r.hget(k, "y") == b"0"
    assert s["inv_drop"](keys=[k], args=["v1\ns"]) == 1
    assert p.get_message(timeout=1)["data"] == b"v1\ns"
    assert s["inv_get"](keys=[k], args=[0, 0, 0]) is None
    assert s["inv_drop"](keys=[k], args=["v1\ns"]) == 0
    assert p.get_message(timeout=0.2) is None
    p.close()


P = "ms:{r1}:"


def reserve(s, hold_id, hold, *lines, prefix=P, offline_max=0):
    keys = [prefix + "hold:" + hold_id, prefix + "holds",
            prefix + "offline"] + \
        [prefix + "stock:" + sku for sku, _ in lines]
    args = [hold_id, hold_id, hold, offline_max] + \
        [x for sku, q in lines for x in (sku, sku, q)]
    return s["reserve"](keys=keys, args=args)


def stock(s, sku, prefix=P):
    return s["stock_get"](keys=[prefix + "stock:" + sku], args=[])


def settle(s, hold_id, commit, prefix=P):
    return s["settle"](keys=[prefix + "hold:" + hold_id, prefix + "holds",
                             prefix + "offline"],
                       args=[commit, prefix, hold_id])


def hold_unknown(s, hold_id, why, prefix=P):
    return s["hold_unknown"](keys=[prefix + "hold:" + hold_id,
                                   prefix + "offline"],
                             args=[why, prefix, hold_id])


def test_reserve_settle_sweep_list(lua):
    r, s = lua
    assert stock(s, "A") is None
    assert s["stock_set"](keys=[P + "stock:A"], args=[3]) == 0
    # held: each line's available and held units after the hold follow
    assert reserve(s, "h1", KEEP, ("A", 2)) == [1, 1, 0, 0, 3, 2]
    # all or nothing: A is short, B (no stock known) is the backend's
    assert reserve(s, "h2", KEEP, ("A", 2), ("B", 1)) == [0, 0, 0, 1, 0]
    assert reserve(s, "h3", KEEP, ("B", 1)) == [1, 0, 0, 0]
    assert stock(s, "A") == [3, 2]
    assert settle(s, "h1", 1) == [1, 0]
    assert stock(s, "A") == [1, 0]
    assert settle(s, "h1", 1) == [0, 0]

    # past hold=: the sweep makes it pending, once; time gives nothing back
    assert reserve(s, "h5", 0, ("A", 1)) == [1, 1, 0, 0, 1, 1]
    assert s["sweep"](keys=[P + "holds"], args=[P, 64]) == [1, 1]
    assert s["sweep"](keys=[P + "holds"], args=[P, 64]) == [0, 1]
    assert stock(s, "A") == [1, 1]
    listed = s["hold_list"](keys=[P + "holds"], args=[P, 0, 10])
    assert listed[0] == 1 and listed[1] == b"h5"
    assert listed[4:] == [2, 4, 1, b"A", 1]      # pending, no_answer
    assert settle(s, "h5", 0) == [1, 1]
    assert stock(s, "A") == [1, 0]
    assert s["sweep"](keys=[P + "holds"], args=[P, 64]) == [0, 0]


def test_sweep_keeps_an_entry_whose_hold_is_not_there_yet(lua):
    # a Cluster slot half-migrated: the index arrived, its hold not yet
    r, s = lua
    now_ms = int(time.time() * 1000)
    r.zadd(P + "holds", {"moving": now_ms - 1000, "gone": now_ms - 3700000})
    assert s["sweep"](keys=[P + "holds"], args=[P, 64]) == [0, 1]
    assert r.zscore(P + "holds", "moving") == now_ms - 1000
    assert r.zscore(P + "holds", "gone") is None
    r.delete(P + "holds")


def test_an_event_settles_unknown_holds(lua):
    r, s = lua
    q = "ms:{e1}:"
    s["stock_set"](keys=[q + "stock:ev"], args=[5])
    s["stock_set"](keys=[q + "stock:X"], args=[4])
    assert reserve(s, "h8", KEEP, ("ev", 2), ("X", 1), prefix=q) \
        == [1, 1, 0, 0, 0, 5, 2, 4, 1]
    assert reserve(s, "h9", KEEP, ("ev", 1), prefix=q) == [1, 1, 0, 0, 5, 3]
    assert hold_unknown(s, "h8", 2, prefix=q) == 1
    assert hold_unknown(s, "none", 2, prefix=q) == 0

    def event(event_id, version):
        return s["event"](keys=[q + "event:" + event_id, q + "stock:ev",
                                q + "inv:ev", q + "holds", q + "offline"],
                          args=[version, 1, 7, 1, "item", "etag", "e1\nev",
                                "ev", q])

    assert event("e1", 5) == [0, 0, 0]                          # accepted
    # h8's ev line is in the backend's count, its X line and h9 stay
    assert stock(s, "ev", prefix=q) == [7, 1]
    assert stock(s, "X", prefix=q) == [4, 1]
    assert event("e1", 6) == [1, 0, 0]                         # duplicate
    assert event("e2", 4) == [2, 0, 0]                             # stale
    assert s["inv_get"](keys=[q + "inv:ev"], args=[0, 0, 0])[3] == 5
    listed = s["hold_list"](keys=[q + "holds"], args=[q, 1, 10])
    assert listed[0] == 2
    # h9 unknown too: the next event settles it, h8 had no ev line left
    assert hold_unknown(s, "h9", 1, prefix=q) == 1
    assert event("e3", 6) == [0, 1, 0]
    assert stock(s, "ev", prefix=q) == [7, 0]
    assert r.zcard(q + "holds") == 1


def test_offline_slots(lua):
    """offline_max slots per seller (docs/events.md "Offline orders"): a
    hold takes one while fewer are taken; only a hold with one becomes an
    offline order (why 5), which no event settles; every other end of the
    hold gives the slot back."""
    r, s = lua
    q = "ms:{o1}:"
    s["stock_set"](keys=[q + "stock:A"], args=[10])
    assert reserve(s, "o1", KEEP, ("A", 1), prefix=q, offline_max=2) \
        == [1, 1, 1, 0, 10, 1]
    assert reserve(s, "o2", KEEP, ("A", 1), prefix=q, offline_max=2) \
        == [1, 1, 1, 0, 10, 2]
    # both slots taken: held, without a slot
    assert reserve(s, "o3", KEEP, ("A", 1), prefix=q, offline_max=2) \
        == [1, 1, 0, 0, 10, 3]
    assert r.smembers(q + "offline") == {b"o1", b"o2"}
    # no slot: not an offline order (0), the hold is still live
    assert hold_unknown(s, "o3", 5, prefix=q) == 0
    assert r.hget(q + "hold:o3", "s") == b"0"
    # o1 goes offline; o2's request ends another way: its slot comes back
    assert hold_unknown(s, "o1", 5, prefix=q) == 1
    assert hold_unknown(s, "o2", 1, prefix=q) == 1
    assert r.smembers(q + "offline") == {b"o1"}
    assert r.hmget(q + "hold:o1", "s", "w") == [b"1", b"5"]
    # an event with the backend's count settles o2, never o1
    assert s["event"](keys=[q + "event:x1", q + "stock:A", q + "inv:A",
                            q + "holds", q + "offline"],
                      args=[1, 1, 9, 0, "", "", "o1\nA", "A", q]) \
        == [0, 1, 0]
    assert r.exists(q + "hold:o1") == 1 and r.exists(q + "hold:o2") == 0
    assert stock(s, "A", prefix=q) == [9, 2]        # o1 and o3 held
    # a slot is free again
    assert reserve(s, "o4", KEEP, ("A", 1), prefix=q, offline_max=2) \
        == [1, 1, 1, 0, 9, 3]
    # pending already (past hold=), then offline: an offline order
    r.hset(q + "hold:o4", "s", 2)
    assert hold_unknown(s, "o4", 5, prefix=q) == 1
    assert r.hmget(q + "hold:o4", "s", "w") == [b"2", b"5"]
    # the admin API settles offline orders: their slots come back
    assert settle(s, "o1", 1) == [0, 0]             # another seller's keys
    assert settle(s, "o1", 1, prefix=q) == [1, 0]
    assert settle(s, "o4", 0, prefix=q) == [1, 1]
    assert r.scard(q + "offline") == 0
    assert stock(s, "A", prefix=q) == [8, 1]        # o1 sold, o3 held
    assert settle(s, "o3", 0, prefix=q) == [1, 0]
    assert stock(s, "A", prefix=q) == [8, 0]


def test_the_sellers_set(lua):
    r, s = lua
    k = "ms:{test}:sellers"
    assert s["sellers"](keys=[k], args=["+", "a{b}"]) == 1
    assert s["sellers"](keys=[k], args=["+", "c"]) == 1
    cursor, members = s["sellers"](keys=[k], args=["", 0])
    assert cursor == b"0" and sorted(members) == [b"a{b}", b"c"]
    assert sorted(s["sellers"](keys=[k], args=["0", 16])[1]) == \
        [b"a{b}", b"c"]
    assert s["sellers"](keys=[k], args=["-", "c"]) == 1
    assert r.smembers(k) == {b"a{b}"}


def test_feeds(lua):
    r, s = lua
    k = "ms:{fd1}:events"
    p = r.pubsub()
    p.subscribe("ms:events")
    assert p.get_message(timeout=1)["type"] == "subscribe"

    assert s["feed_read"](keys=[k], args=["0-0", 10]) == [b"0-0", 0]
    for i in range(3):
        assert s["feed_append"](keys=[k], args=[2, "stock.changed",
                                                '{"n":%d}' % i, "fd1"]) == 1
        assert p.get_message(timeout=1)["data"] == b"fd1"
    ids = [e[0] for e in r.xrange(k)]
    assert len(ids) == 3          # MAXLEN ~: whole nodes only

    out = s["feed_read"](keys=[k], args=["0-0", 10])
    assert out[:2] == [ids[-1], 0]
    assert out[2:] == [ids[0], b"stock.changed", b'{"n":0}',
                       ids[1], b"stock.changed", b'{"n":1}',
                       ids[2], b"stock.changed", b'{"n":2}']
    # exclusive, COUNT; limit 0: the last id only
    assert s["feed_read"](keys=[k], args=[ids[0].decode(), 1])[2::3] \
        == [ids[1]]
    assert s["feed_read"](keys=[k], args=["0-0", 0]) == [ids[-1], 0]

    # trimmed: a reader from before the oldest kept may have missed some
    assert r.xtrim(k, maxlen=1, approximate=False) == 2
    assert s["feed_read"](keys=[k], args=["0-0", 0])[1] == 1
    # conservative: ids[1] itself was trimmed, nothing after it was, but
    # the stream does not tell which ids went
    assert s["feed_read"](keys=[k], args=[ids[1].decode(), 0])[1] == 1
    assert s["feed_read"](keys=[k], args=[ids[2].decode(), 5]) \
        == [ids[2], 0]
    p.close()
    r.delete(k)


def test_usage(lua):
    """USAGE_PUT keeps a node's export with its time, forgets the nodes not
    put for keep ms; USAGE_GET lists those kept (docs/redis.md "Keys")."""
    r, s = lua
    k = "ms:usage"
    r.delete(k)
    assert s["usage_put"](keys=[k], args=["h/1", b"\x00MSUW\xff", 60000]) == 1
    assert s["usage_put"](keys=[k], args=["h/2", b"two", 60000]) == 1
    out = s["usage_get"](keys=[k], args=[60000])
    assert sorted(zip(out[::2], out[1::2])) == [(b"h/1", b"\x00MSUW\xff"),
                                                (b"h/2", b"two")]
    assert 59000 < r.pttl(k) <= 60000
    # h/2 last put long ago: left out, then forgotten by the next put
    r.hset(k, "t:h/2", int(r.time()[0]) * 1000 - 120000)
    out = s["usage_get"](keys=[k], args=[60000])
    assert out == [b"h/1", b"\x00MSUW\xff"]
    assert r.hexists(k, "b:h/2")
    assert s["usage_put"](keys=[k], args=["h/1", b"again", 60000]) == 1
    assert sorted(r.hkeys(k)) == [b"b:h/1", b"t:h/1"]
    assert r.hget(k, "b:h/1") == b"again"
    r.delete(k)
