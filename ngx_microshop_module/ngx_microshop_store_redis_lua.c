/*
 * ngx_microshop: the Lua scripts of the Redis back end, one per state
 * change (docs/redis.md "Keys"), each the Redis twin of the shm back
 * end's operation (ngx_microshop_store_shm*.c).
 *
 * Every script reads the time of Redis (TIME: one clock for every node)
 * and touches the keys of one seller only (one hash tag, one Cluster
 * slot), or one global key.  The hold keys of a seller that EVENT, SETTLE,
 * HOLD_UNKNOWN, SWEEP and HOLD_LIST reach from the seller's index are
 * built from the prefix ms:{<seller>}: passed in ARGV: the same slot as
 * their KEYS.
 *
 * While a Cluster slot migrates, Redis refuses, inside a script, any
 * command on a key of that slot that is not on this node (moved already,
 * or not there at all), and what the script wrote before stays written.
 * So every script reads each key it writes before its first write (a
 * refusal then comes before anything was written: the call fails as a
 * whole and is tried again), reads each hold's stock keys before it
 * changes the hold, and never deletes a key it writes again (HDEL the
 * fields instead): a key gone counts as not there (docs/redis.md
 * "Keys").  Numbers cross as decimal strings, fingerprints and bodies
 * as bytes.  The constants the scripts share with ngx_microshop_store.h
 * (states, whys, results) are checked at compile time below.
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_microshop_store.h"
#include "ngx_microshop_store_redis_lua.h"


/* the values the scripts write as numbers */
typedef char  ngx_microshop_redis_lua_consts[
    (NGX_MICROSHOP_HOLD_LIVE == 0 && NGX_MICROSHOP_HOLD_UNKNOWN == 1
     && NGX_MICROSHOP_HOLD_PENDING == 2 && NGX_MICROSHOP_WHY_NO_ANSWER == 4
     && NGX_MICROSHOP_WHY_OFFLINE == 5
     && NGX_MICROSHOP_IDEM_NEW == 0 && NGX_MICROSHOP_IDEM_IN_PROGRESS == 1
     && NGX_MICROSHOP_IDEM_MISMATCH == 2 && NGX_MICROSHOP_IDEM_DONE == 3
     && NGX_MICROSHOP_IDEM_UNAVAILABLE == 4
     && NGX_MICROSHOP_EVENT_ACCEPTED == 0
     && NGX_MICROSHOP_EVENT_DUPLICATE == 1
     && NGX_MICROSHOP_EVENT_STALE == 2) ? 1 : -1];

/* now: Redis TIME in unix ms */
#define NGX_MICROSHOP_LUA_NOW \
    "local t = redis.call('TIME')\n" \
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

/*
 * what a hold's open lines do to their stock, as
 * ngx_microshop_hold_units() (how: 0 release, 1 commit, 2 outcome
 * unknown)
 */
#define NGX_MICROSHOP_LUA_UNITS \
    "local function less(n, q)\n" \
    "  n = n - q\n" \
    "  if n < 0 then return 0 end\n" \
    "  return n\n" \
    "end\n" \
    "local function units(prefix, lines, how, state)\n" \
    "  local keys, vals = {}, {}\n" \
    "  for _, l in ipairs(lines) do\n" \
    "    local sk = prefix .. 'stock:' .. l[2]\n" \
    "    if l[4] == 0 and vals[sk] == nil then\n" \
    "      local st = redis.call('HMGET', sk, 'a', 'h', 'n')\n" \
    "      vals[sk] = false\n" \
    "      if st[2] then\n" \
    "        vals[sk] = {tonumber(st[1]), tonumber(st[2]),\n" \
    "                    tonumber(st[3] or 0)}\n" \
    "        keys[#keys + 1] = sk\n" \
    "      end\n" \
    "    end\n" \
    "  end\n" \
    "  for _, l in ipairs(lines) do\n" \
    "    local v = vals[prefix .. 'stock:' .. l[2]]\n" \
    "    if l[4] == 0 and v then\n" \
    "      if how == 2 then\n" \
    "        v[3] = v[3] + l[3]\n" \
    "      else\n" \
    "        v[2] = less(v[2], l[3])\n" \
    "        if state ~= 0 then v[3] = less(v[3], l[3]) end\n" \
    "        if how == 1 and v[1] >= 0 then v[1] = less(v[1], l[3]) end\n" \
    "      end\n" \
    "    end\n" \
    "  end\n" \
    "  for _, sk in ipairs(keys) do\n" \
    "    local v = vals[sk]\n" \
    "    redis.call('HSET', sk, 'a', v[1], 'h', v[2], 'n', v[3])\n" \
    "  end\n" \
    "end\n"

/* an inventory entry, unless the stored one is newer */
#define NGX_MICROSHOP_LUA_INV_STORE \
    "local function inv_store(key, body, etag, version, keep)\n" \
    "  local v = redis.call('HGET', key, 'v')\n" \
    "  if v and tonumber(v) > version then return 0 end\n" \
    "  redis.call('HSET', key, 'b', body, 'e', etag, 't', now,\n" \
    "             'v', version, 'u', 0, 'y', 0)\n" \
    "  redis.call('PEXPIRE', key, math.max(1, keep))\n" \
    "  return 1\n" \
    "end\n"


/* GCRA on Redis TIME, as microshop_gcra_apply() computes it.
 * KEYS: rate.  ARGV: interval (us), burst, cost.
 * {allowed, remaining, retry_after (us), reset_after (us)} */

static const char  ngx_microshop_redis_lua_gcra[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local interval = tonumber(ARGV[1])\n"
    "local burst = tonumber(ARGV[2])\n"
    "local cost = tonumber(ARGV[3])\n"
    "if interval < 1 then interval = 1 end\n"
    "local tau = burst * interval\n"
    "local tat = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
    "local clamped = false\n"
    "if tat > now + tau then\n"
    "  tat = now + tau\n"
    "  clamped = true\n"
    "end\n"
    "local t0 = tat\n"
    "if t0 < now then t0 = now end\n"
    "local new = t0 + cost * interval\n"
    "if new - now <= tau then\n"
    "  redis.call('SET', KEYS[1], string.format('%d', new), 'PX',\n"
    "             math.max(1, math.ceil((new - now) / 1000)))\n"
    "  return {1, math.floor((tau - (new - now)) / interval), 0, new - now}\n"
    "end\n"
    "if clamped then\n"
    "  redis.call('SET', KEYS[1], string.format('%d', tat), 'PX',\n"
    "             math.max(1, math.ceil((tat - now) / 1000)))\n"
    "end\n"
    "return {0, math.floor((tau - (t0 - now)) / interval), new - now - tau,\n"
    "        t0 - now}\n";


/* KEYS: ms:revoked (zset jti -> exp).  ARGV: jti, exp (unix s),
 * margin (s).  Keeps the later exp, forgets those past exp + margin,
 * publishes "<exp> <jti>" on ms:revoke.  1 */

static const char  ngx_microshop_redis_lua_revoke[] =
    "local t = redis.call('TIME')\n"
    "local old = redis.call('ZSCORE', KEYS[1], ARGV[1])\n"
    "if not old or tonumber(old) < tonumber(ARGV[2]) then\n"
    "  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])\n"
    "end\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf',\n"
    "           '(' .. (tonumber(t[1]) - tonumber(ARGV[3]) - 1))\n"
    "redis.call('PUBLISH', 'ms:revoke', ARGV[2] .. ' ' .. ARGV[1])\n"
    "return 1\n";


/* KEYS: ms:revoked.  ARGV: margin.  [jti, exp, ...] of those that
 * still matter */

static const char  ngx_microshop_redis_lua_revoked_load[] =
    "local t = redis.call('TIME')\n"
    "return redis.call('ZRANGEBYSCORE', KEYS[1],\n"
    "                  tonumber(t[1]) - tonumber(ARGV[1]) - 1, '+inf',\n"
    "                  'WITHSCORES')\n";


/* KEYS: ms:watermarks (hash "<seller>\n<class>" -> "<before> <until>",
 * unix s, until 0: kept).  ARGV: the field, before, until.  Only moves a
 * watermark forward (the later before, the later until); forgets those
 * past their until; publishes "<before> <until> <field>" on ms:watermark.
 * 1 */

static const char  ngx_microshop_redis_lua_revoke_before[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1])\n"
    "local b, u = ARGV[2], ARGV[3]\n"
    "local old = redis.call('HGET', KEYS[1], ARGV[1])\n"
    "local all = redis.call('HGETALL', KEYS[1])\n"
    "if old then\n"
    "  local ob, ou = string.match(old, '^(%d+) (%d+)$')\n"
    "  if ob then\n"
    "    if tonumber(ob) > tonumber(b) then b = ob end\n"
    "    if tonumber(ou) == 0 or (tonumber(u) ~= 0\n"
    "                             and tonumber(ou) > tonumber(u)) then\n"
    "      u = ou\n"
    "    end\n"
    "  end\n"
    "end\n"
    "for i = 1, #all, 2 do\n"
    "  local x = tonumber(string.match(all[i + 1], ' (%d+)$') or '0')\n"
    "  if x ~= 0 and x < now and all[i] ~= ARGV[1] then\n"
    "    redis.call('HDEL', KEYS[1], all[i])\n"
    "  end\n"
    "end\n"
    "if tonumber(u) ~= 0 and tonumber(u) < now then\n"
    "  if old then redis.call('HDEL', KEYS[1], ARGV[1]) end\n"
    "  return 1\n"
    "end\n"
    "redis.call('HSET', KEYS[1], ARGV[1], b .. ' ' .. u)\n"
    "redis.call('PUBLISH', 'ms:watermark', b .. ' ' .. u .. ' ' .. ARGV[1])\n"
    "return 1\n";


/* KEYS: ms:watermarks.  ARGV: margin (s).  [field, "<before> <until>",
 * ...] of those that still matter */

static const char  ngx_microshop_redis_lua_watermarks_load[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) - tonumber(ARGV[1])\n"
    "local all = redis.call('HGETALL', KEYS[1])\n"
    "local out = {}\n"
    "for i = 1, #all, 2 do\n"
    "  local x = tonumber(string.match(all[i + 1], ' (%d+)$') or '0')\n"
    "  if x == 0 or x >= now then\n"
    "    out[#out + 1] = all[i]\n"
    "    out[#out + 1] = all[i + 1]\n"
    "  end\n"
    "end\n"
    "return out\n";


/* KEYS: idem (hash f fingerprint, s state, o owner, l lock end ms,
 * r answer).  ARGV: fingerprint, owner, lock (ms), ttl (ms).
 * {result} or {DONE, answer}; a lock that ran out is unavailable */

static const char  ngx_microshop_redis_lua_idem_begin[] =
    NGX_MICROSHOP_LUA_NOW
    "local lock = tonumber(ARGV[3])\n"
    "local h = redis.call('HMGET', KEYS[1], 'f', 's', 'o', 'l')\n"
    "if not h[1] then\n"
    "  redis.call('HSET', KEYS[1], 'f', ARGV[1], 's', 1, 'o', ARGV[2],\n"
    "             'l', now + lock)\n"
    "  redis.call('PEXPIRE', KEYS[1],\n"
    "             math.max(1, lock + tonumber(ARGV[4])))\n"
    "  return {0}\n"
    "end\n"
    "if h[1] ~= ARGV[1] then return {2} end\n"
    "local s = tonumber(h[2])\n"
    "if s == 1 and tonumber(h[4]) <= now then return {4} end\n"
    "if s == 3 then return {3, redis.call('HGET', KEYS[1], 'r')} end\n"
    "return {s}\n";


/* KEYS: idem.  ARGV: fingerprint, owner, state (DONE 3 or
 * UNAVAILABLE 4), ttl (ms), answer.  Only the lock's owner completes a
 * key in progress; 0: another request's key */

static const char  ngx_microshop_redis_lua_idem_complete[] =
    "local h = redis.call('HMGET', KEYS[1], 'f', 's', 'o')\n"
    "if h[1] then\n"
    "  if h[1] ~= ARGV[1] then return 0 end\n"
    "  if tonumber(h[2]) == 1 and h[3] ~= ARGV[2] then return 0 end\n"
    "end\n"
    "if h[1] then redis.call('HDEL', KEYS[1], 'o', 'l', 'r') end\n"
    "if ARGV[3] == '3' then\n"
    "  redis.call('HSET', KEYS[1], 'f', ARGV[1], 's', 3, 'r', ARGV[5])\n"
    "else\n"
    "  redis.call('HSET', KEYS[1], 'f', ARGV[1], 's', 4)\n"
    "end\n"
    "redis.call('PEXPIRE', KEYS[1], math.max(1, tonumber(ARGV[4])))\n"
    "return 1\n";


/* KEYS: idem.  ARGV: fingerprint, owner.  1: the owner's lock is gone */

static const char  ngx_microshop_redis_lua_idem_release[] =
    "local h = redis.call('HMGET', KEYS[1], 'f', 's', 'o')\n"
    "if not h[1] or h[1] ~= ARGV[1] or tonumber(h[2]) ~= 1\n"
    "   or h[3] ~= ARGV[2]\n"
    "then\n"
    "  return 0\n"
    "end\n"
    "redis.call('DEL', KEYS[1])\n"
    "return 1\n";


/* KEYS: inv (hash b body, e etag, t stored at, v version, u refresh
 * lock end, y no refresh before).  ARGV: fresh, revalidate, lock (ms).
 * nil, or {body, etag, stored_at, version, failed, refresh} */

static const char  ngx_microshop_redis_lua_inv_get[] =
    NGX_MICROSHOP_LUA_NOW
    "local h = redis.call('HMGET', KEYS[1], 'b', 'e', 't', 'v', 'u', 'y')\n"
    "if not h[3] then return false end\n"
    "local fresh = tonumber(ARGV[1])\n"
    "local revalidate = tonumber(ARGV[2])\n"
    "local lock = tonumber(ARGV[3])\n"
    "local stored, u, y = tonumber(h[3]), tonumber(h[5]), tonumber(h[6])\n"
    "local failed, refresh = 0, 0\n"
    "if now < y then failed = 1 end\n"
    "local age = now - stored\n"
    "if revalidate > 0 and lock > 0 and age >= fresh\n"
    "   and age - fresh < revalidate and now >= u and now >= y\n"
    "then\n"
    "  redis.call('HSET', KEYS[1], 'u', now + lock)\n"
    "  refresh = 1\n"
    "end\n"
    "return {h[1], h[2], stored, tonumber(h[4]), failed, refresh}\n";


/* KEYS: inv.  ARGV: body, etag, version, keep (ms), ms:inv message.
 * 0: the stored entry is newer (its refresh is over all the same) */

static const char  ngx_microshop_redis_lua_inv_put[] =
    NGX_MICROSHOP_LUA_NOW
    NGX_MICROSHOP_LUA_INV_STORE
    "if inv_store(KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3]),\n"
    "             tonumber(ARGV[4])) == 0\n"
    "then\n"
    "  if redis.call('EXISTS', KEYS[1]) == 1 then\n"
    "    redis.call('HSET', KEYS[1], 'u', 0, 'y', 0)\n"
    "  end\n"
    "  return 0\n"
    "end\n"
    "redis.call('PUBLISH', 'ms:inv', ARGV[5])\n"
    "return 1\n";


/* KEYS: inv.  ARGV: ms:inv message.  1: dropped */

static const char  ngx_microshop_redis_lua_inv_drop[] =
    "local n = redis.call('DEL', KEYS[1])\n"
    "if n == 1 then redis.call('PUBLISH', 'ms:inv', ARGV[1]) end\n"
    "return n\n";


/* KEYS: inv.  ARGV: stored_at (-1: any), keep (ms).  1: unlocked */

static const char  ngx_microshop_redis_lua_inv_failed[] =
    NGX_MICROSHOP_LUA_NOW
    "local t = redis.call('HGET', KEYS[1], 't')\n"
    "if not t then return 0 end\n"
    "local stored = tonumber(ARGV[1])\n"
    "if stored ~= -1 and tonumber(t) ~= stored then return 0 end\n"
    "local keep = tonumber(ARGV[2])\n"
    "local y = 0\n"
    "if keep > 0 then y = now + keep end\n"
    "redis.call('HSET', KEYS[1], 'u', 0, 'y', y)\n"
    "return 1\n";


/* KEYS: event id, stock (hash a available, h held, v version,
 * n unknown, p set by the admin API), inv, holds, offline (the
 * seller's offline slots).  ARGV: version, has_available, available,
 * has_item, item, etag, ms:inv message, sku, the seller's key prefix.
 * {result, holds settled, pending ones of them}.  A hold with an offline
 * slot, or an offline order, is never settled by an event
 * (ngx_microshop_store.h "Offline slots") */

static const char  ngx_microshop_redis_lua_event[] =
    NGX_MICROSHOP_LUA_NOW
    NGX_MICROSHOP_LUA_INV_STORE
    "local DAY = 86400000\n"
    "if redis.call('EXISTS', KEYS[1]) == 1 then return {1, 0, 0} end\n"
    "local version = tonumber(ARGV[1])\n"
    "local prefix = ARGV[9]\n"
    "local st = redis.call('HMGET', KEYS[2], 'a', 'h', 'v', 'n', 'p')\n"
    "local a = tonumber(st[1] or -1)\n"
    "local held = tonumber(st[2] or 0)\n"
    "local v = tonumber(st[3] or -1)\n"
    "local unknown = tonumber(st[4] or 0)\n"
    "local result, settled, unpend = 0, 0, 0\n"
    "if version <= v then\n"
    "  result = 2\n"
    "else\n"
    "  v = version\n"
    "  if ARGV[2] == '1' then\n"
    "    a = tonumber(ARGV[3])\n"
    "    if unknown > 0 then\n"
    "      local sku = ARGV[8]\n"
    "      local todo = {}\n"
    "      local slots = {}\n"
    "      for _, m in ipairs(redis.call('SMEMBERS', KEYS[5])) do\n"
    "        slots[m] = true\n"
    "      end\n"
    "      for _, m in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do\n"
    "        if unknown <= 0 then break end\n"
    "        local hk = prefix .. 'hold:' .. m\n"
    "        local h = redis.call('HMGET', hk, 's', 'o', 'L', 'w')\n"
    "        if h[1] and tonumber(h[1]) ~= 0 and not slots[m]\n"
    "           and tonumber(h[4] or 0) ~= 5 then\n"
    "          local lines = cmsgpack.unpack(h[3])\n"
    "          local open = tonumber(h[2])\n"
    "          local changed = false\n"
    "          for _, l in ipairs(lines) do\n"
    "            if l[4] == 0 and l[1] == sku then\n"
    "              l[4] = 1\n"
    "              held = held - l[3]\n"
    "              if held < 0 then held = 0 end\n"
    "              unknown = unknown - l[3]\n"
    "              if unknown < 0 then unknown = 0 end\n"
    "              open = open - 1\n"
    "              changed = true\n"
    "            end\n"
    "          end\n"
    "          if open <= 0 or changed then\n"
    "            todo[#todo + 1] = {hk, m, open, lines, tonumber(h[1])}\n"
    "          end\n"
    "        end\n"
    "      end\n"
    "      for _, t in ipairs(todo) do\n"
    "        if t[3] <= 0 then\n"
    "          redis.call('DEL', t[1])\n"
    "          redis.call('ZREM', KEYS[4], t[2])\n"
    "          settled = settled + 1\n"
    "          if t[5] == 2 then unpend = unpend + 1 end\n"
    "        else\n"
    "          redis.call('HSET', t[1], 'o', t[3],\n"
    "                     'L', cmsgpack.pack(t[4]))\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  if ARGV[4] == '1' then\n"
    "    inv_store(KEYS[3], ARGV[5], ARGV[6], version, DAY)\n"
    "  else\n"
    "    redis.call('DEL', KEYS[3])\n"
    "  end\n"
    "  redis.call('PUBLISH', 'ms:inv', ARGV[7])\n"
    "end\n"
    "redis.call('HSET', KEYS[2], 'a', a, 'h', held, 'v', v, 'n', unknown)\n"
    "if st[5] or a >= 0 or held > 0 then\n"
    "  redis.call('PERSIST', KEYS[2])\n"
    "else\n"
    "  redis.call('PEXPIRE', KEYS[2], DAY)\n"
    "end\n"
    "redis.call('SET', KEYS[1], 1, 'PX', DAY)\n"
    "return {result, settled, unpend}\n";


/* KEYS: stock.  ARGV: available.  held */

static const char  ngx_microshop_redis_lua_stock_set[] =
    "local st = redis.call('HMGET', KEYS[1], 'h', 'v', 'n')\n"
    "redis.call('HSET', KEYS[1], 'a', ARGV[1], 'p', 1, 'h', st[1] or 0,\n"
    "           'v', st[2] or -1, 'n', st[3] or 0)\n"
    "redis.call('PERSIST', KEYS[1])\n"
    "return tonumber(st[1] or 0)\n";


/* KEYS: stock.  nil (no number), or {available, held} */

static const char  ngx_microshop_redis_lua_stock_get[] =
    "local st = redis.call('HMGET', KEYS[1], 'a', 'h')\n"
    "if not st[1] or tonumber(st[1]) < 0 then return false end\n"
    "return {tonumber(st[1]), tonumber(st[2] or 0)}\n";


/* KEYS: hold (hash i id, c created, d deadline, s state, w why,
 * o open lines, L lines msgpack {sku, encoded sku, quantity, settled}),
 * holds (zset id -> deadline, +inf once pending), offline (set of the
 * encoded ids of the seller's holds with an offline slot), stock of each
 * line.  ARGV: id, encoded id, hold (ms), offline_max (0: no slot), then
 * sku, encoded sku, quantity of each line.  {ok, held, a slot taken,
 * short_of_stock of each line}, and once it held, the available and held
 * units of each line after the hold (-1, -1: a line whose stock is not
 * managed) */

static const char  ngx_microshop_redis_lua_reserve[] =
    NGX_MICROSHOP_LUA_NOW
    "local n = (#ARGV - 4) / 3\n"
    "local flags, managed, short, avail = {}, {}, false, {}\n"
    "local omax = tonumber(ARGV[4])\n"
    "local slots = 0\n"
    "if omax > 0 then slots = redis.call('SCARD', KEYS[3]) end\n"
    "for i = 1, n do\n"
    "  local q = tonumber(ARGV[4 + 3 * i])\n"
    "  local st = redis.call('HMGET', KEYS[3 + i], 'a', 'h')\n"
    "  local a = tonumber(st[1] or -1)\n"
    "  flags[i] = 0\n"
    "  avail[i] = a\n"
    "  if a >= 0 then\n"
    "    if a - tonumber(st[2] or 0) < q then\n"
    "      flags[i] = 1\n"
    "      short = true\n"
    "    end\n"
    "    managed[#managed + 1] = i\n"
    "  end\n"
    "end\n"
    "if short then return {0, 0, 0, unpack(flags)} end\n"
    "if #managed == 0 then return {1, 0, 0, unpack(flags)} end\n"
    "local slot = 0\n"
    "if slots < omax then slot = 1 end\n"
    "local lines, out = {}, {1, 1, slot, unpack(flags)}\n"
    "local stock = {}\n"
    "for _, i in ipairs(managed) do\n"
    "  local q = tonumber(ARGV[4 + 3 * i])\n"
    "  stock[i] = redis.call('HINCRBY', KEYS[3 + i], 'h', q)\n"
    "  lines[#lines + 1] = {ARGV[2 + 3 * i], ARGV[3 + 3 * i], q, 0}\n"
    "end\n"
    "for i = 1, n do\n"
    "  if stock[i] then\n"
    "    out[#out + 1] = avail[i]\n"
    "    out[#out + 1] = stock[i]\n"
    "  else\n"
    "    out[#out + 1] = -1\n"
    "    out[#out + 1] = -1\n"
    "  end\n"
    "end\n"
    "local deadline = now + tonumber(ARGV[3])\n"
    "redis.call('HSET', KEYS[1], 'i', ARGV[1], 'c', now, 'd', deadline,\n"
    "           's', 0, 'w', 0, 'o', #lines, 'L', cmsgpack.pack(lines))\n"
    "redis.call('ZADD', KEYS[2], deadline, ARGV[2])\n"
    "if slot == 1 then redis.call('SADD', KEYS[3], ARGV[2]) end\n"
    "return out\n";


/* KEYS: hold, holds, offline.  ARGV: commit, prefix, encoded id.
 * {found, was pending}; the hold's offline slot, if any, is given back */

static const char  ngx_microshop_redis_lua_settle[] =
    NGX_MICROSHOP_LUA_UNITS
    "local h = redis.call('HMGET', KEYS[1], 's', 'L')\n"
    "local slot = redis.call('SISMEMBER', KEYS[3], ARGV[3])\n"
    "if not h[1] then\n"
    "  if slot == 1 then redis.call('SREM', KEYS[3], ARGV[3]) end\n"
    "  return {0, 0}\n"
    "end\n"
    "local state = tonumber(h[1])\n"
    "local how = 0\n"
    "if ARGV[1] == '1' then how = 1 end\n"
    "units(ARGV[2], cmsgpack.unpack(h[2]), how, state)\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('ZREM', KEYS[2], ARGV[3])\n"
    "if slot == 1 then redis.call('SREM', KEYS[3], ARGV[3]) end\n"
    "if state == 2 then return {1, 1} end\n"
    "return {1, 0}\n";


/* KEYS: hold, offline.  ARGV: why, prefix, encoded id.  0: no such
 * hold, or why is OFFLINE (5) and the hold has no offline slot; another
 * why gives the hold's slot back, as ngx_microshop_shm_hold_unknown() */

static const char  ngx_microshop_redis_lua_hold_unknown[] =
    NGX_MICROSHOP_LUA_UNITS
    "local h = redis.call('HMGET', KEYS[1], 's', 'L')\n"
    "local slot = redis.call('SISMEMBER', KEYS[2], ARGV[3])\n"
    "local offline = ARGV[1] == '5'\n"
    "if not h[1] or (offline and slot == 0) then return 0 end\n"
    "local live = tonumber(h[1]) == 0\n"
    "if live then units(ARGV[2], cmsgpack.unpack(h[2]), 2, 0) end\n"
    "if not offline and slot == 1 then\n"
    "  redis.call('SREM', KEYS[2], ARGV[3])\n"
    "end\n"
    "if live then\n"
    "  redis.call('HSET', KEYS[1], 's', 1, 'w', ARGV[1])\n"
    "elseif offline then\n"
    "  redis.call('HSET', KEYS[1], 'w', 5)\n"
    "end\n"
    "return 1\n";


/* KEYS: holds.  ARGV: prefix, all, limit.  {total, then of each hold
 * (oldest first, at most limit): id, created, deadline, state, why,
 * nlines, sku, quantity, ...} */

static const char  ngx_microshop_redis_lua_hold_list[] =
    NGX_MICROSHOP_LUA_NOW
    "local all = ARGV[2] == '1'\n"
    "local limit = tonumber(ARGV[3])\n"
    "local found = {}\n"
    "for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do\n"
    "  local h = redis.call('HMGET', ARGV[1] .. 'hold:' .. m,\n"
    "                       'i', 'c', 'd', 's', 'w', 'L')\n"
    "  if h[1] then\n"
    "    local s, w, d = tonumber(h[4]), tonumber(h[5]), tonumber(h[3])\n"
    "    local pending = s == 2 or d <= now\n"
    "    if all or pending then\n"
    "      if pending then\n"
    "        if s == 0 then w = 4 end\n"
    "        s = 2\n"
    "      end\n"
    "      found[#found + 1] = {h[1], tonumber(h[2]), d, s, w, h[6]}\n"
    "    end\n"
    "  end\n"
    "end\n"
    "table.sort(found, function(x, y) return x[2] < y[2] end)\n"
    "local out = {#found}\n"
    "for i = 1, math.min(limit, #found) do\n"
    "  local f = found[i]\n"
    "  local lines = cmsgpack.unpack(f[6])\n"
    "  local open = {}\n"
    "  for _, l in ipairs(lines) do\n"
    "    if l[4] == 0 then\n"
    "      open[#open + 1] = l[1]\n"
    "      open[#open + 1] = l[3]\n"
    "    end\n"
    "  end\n"
    "  out[#out + 1] = f[1]\n"
    "  out[#out + 1] = f[2]\n"
    "  out[#out + 1] = f[3]\n"
    "  out[#out + 1] = f[4]\n"
    "  out[#out + 1] = f[5]\n"
    "  out[#out + 1] = #open / 2\n"
    "  for _, x in ipairs(open) do out[#out + 1] = x end\n"
    "end\n"
    "return out\n";


/*
 * KEYS: holds.  ARGV: prefix, batch.  Holds past their deadline go
 * pending.  {holds that went pending, holds left}.  An entry whose hold
 * is not there is forgotten only an hour past its deadline: while the
 * seller's slot migrates (Redis Cluster resharding) the index may reach
 * the new node before the hold does (docs/redis.md "Keys").
 */

static const char  ngx_microshop_redis_lua_sweep[] =
    NGX_MICROSHOP_LUA_NOW
    NGX_MICROSHOP_LUA_UNITS
    "local done = 0\n"
    "local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now,\n"
    "                       'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))\n"
    "local holds = {}\n"
    "for i = 1, #due, 2 do\n"
    "  holds[i] = redis.call('HMGET', ARGV[1] .. 'hold:' .. due[i],\n"
    "                        's', 'L')\n"
    "end\n"
    "for i = 1, #due, 2 do\n"
    "  local m = due[i]\n"
    "  local hk = ARGV[1] .. 'hold:' .. m\n"
    "  local h = holds[i]\n"
    "  if not h[1] then\n"
    "    if tonumber(due[i + 1]) < now - 3600000 then\n"
    "      redis.call('ZREM', KEYS[1], m)\n"
    "    end\n"
    "  else\n"
    "    local s = tonumber(h[1])\n"
    "    if s == 0 then\n"
    "      units(ARGV[1], cmsgpack.unpack(h[2]), 2, 0)\n"
    "      redis.call('HSET', hk, 's', 2, 'w', 4)\n"
    "      done = done + 1\n"
    "    elseif s == 1 then\n"
    "      redis.call('HSET', hk, 's', 2)\n"
    "      done = done + 1\n"
    "    end\n"
    "    redis.call('ZADD', KEYS[1], '+inf', m)\n"
    "  end\n"
    "end\n"
    "return {done, redis.call('ZCARD', KEYS[1])}\n";


/* KEYS: ms:sellers:holds.  ARGV: "+" or "-" and a seller: SADD,
 * SREM; "": every member {"0", members}; else a cursor and a count:
 * SSCAN */

static const char  ngx_microshop_redis_lua_sellers[] =
    "if ARGV[1] == '+' then\n"
    "  return redis.call('SADD', KEYS[1], ARGV[2])\n"
    "end\n"
    "if ARGV[1] == '-' then\n"
    "  return redis.call('SREM', KEYS[1], ARGV[2])\n"
    "end\n"
    "if ARGV[1] == '' then\n"
    "  return {'0', redis.call('SMEMBERS', KEYS[1])}\n"
    "end\n"
    "return redis.call('SSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])\n";


/*
 * The feeds (docs/redis.md "The feeds").  KEYS: the seller's stream.
 * ARGV: keep, the type's name, the data, the seller.  XADD, about keep
 * kept (MAXLEN ~), then "<seller>" published on ms:events: every node
 * wakes its waiting readers.  1
 */

static const char  ngx_microshop_redis_lua_feed_append[] =
    "redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*',\n"
    "           'type', ARGV[2], 'data', ARGV[3])\n"
    "redis.call('PUBLISH', 'ms:events', ARGV[4])\n"
    "return 1\n";


/*
 * KEYS: the seller's stream.  ARGV: after (an id), limit.  {last id,
 * missed, then id, type, data of each entry after it, at most limit}.
 * last is 0-0 with no stream.  missed: entries were trimmed (more added
 * than are kept; Redis 7 tells, an older one is taken as trimmed) and
 * after is before the oldest kept, or none is kept: some trimmed one may
 * have come after it (conservative).  Nothing comes after the last id:
 * no XRANGE then (an exclusive start past the largest id is an error).
 */

static const char  ngx_microshop_redis_lua_feed_read[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return {'0-0', 0} end\n"
    "local info = redis.call('XINFO', 'STREAM', KEYS[1])\n"
    "local s = {}\n"
    "for i = 1, #info, 2 do s[info[i]] = info[i + 1] end\n"
    "local function older(a, b)\n"
    "  local am, as = string.match(a, '^(%d+)%-(%d+)$')\n"
    "  local bm, bs = string.match(b, '^(%d+)%-(%d+)$')\n"
    "  if #am ~= #bm then return #am < #bm end\n"
    "  if am ~= bm then return am < bm end\n"
    "  if #as ~= #bs then return #as < #bs end\n"
    "  return as < bs\n"
    "end\n"
    "local missed = 0\n"
    "local added = tonumber(s['entries-added'] or -1)\n"
    "if added < 0 or added > tonumber(s['length']) then\n"
    "  local first = s['first-entry']\n"
    "  if not first or older(ARGV[1], first[1]) then missed = 1 end\n"
    "end\n"
    "local out = {s['last-generated-id'], missed}\n"
    "if tonumber(ARGV[2]) == 0\n"
    "   or not older(ARGV[1], s['last-generated-id']) then return out end\n"
    "local es = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+',\n"
    "                      'COUNT', ARGV[2])\n"
    "for _, e in ipairs(es) do\n"
    "  local f, t, d = e[2], false, false\n"
    "  for i = 1, #f, 2 do\n"
    "    if f[i] == 'type' then t = f[i + 1] end\n"
    "    if f[i] == 'data' then d = f[i + 1] end\n"
    "  end\n"
    "  out[#out + 1] = e[1]\n"
    "  out[#out + 1] = t\n"
    "  out[#out + 1] = d\n"
    "end\n"
    "return out\n";


/*
 * Scope usage (docs/redis.md "Keys", docs/audit-playbook.md "Several
 * nodes"): the hash ms:usage holds, per node, t:<node> (when it was last
 * put, Redis time in ms) and b:<node> (its export).  A node not put for
 * keep ms is left out, and forgotten by the next put of any node.
 *
 * USAGE_PUT.  KEYS: ms:usage.  ARGV: the node, its export, keep.  1
 */

static const char  ngx_microshop_redis_lua_usage_put[] =
    NGX_MICROSHOP_LUA_NOW
    "local keep = tonumber(ARGV[3])\n"
    "local gone = {}\n"
    "for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do\n"
    "  if string.sub(f, 1, 2) == 't:' then\n"
    "    local t = tonumber(redis.call('HGET', KEYS[1], f))\n"
    "    if not t or t < now - keep then\n"
    "      gone[#gone + 1] = f\n"
    "      gone[#gone + 1] = 'b:' .. string.sub(f, 3)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if #gone > 0 then redis.call('HDEL', KEYS[1], unpack(gone)) end\n"
    "redis.call('HSET', KEYS[1], 't:' .. ARGV[1], now, 'b:' .. ARGV[1],\n"
    "           ARGV[2])\n"
    "redis.call('PEXPIRE', KEYS[1], keep)\n"
    "return 1\n";


/* USAGE_GET.  KEYS: ms:usage.  ARGV: keep.  {node, export, ...} of every
 * node put less than keep ms ago */

static const char  ngx_microshop_redis_lua_usage_get[] =
    NGX_MICROSHOP_LUA_NOW
    "local keep = tonumber(ARGV[1])\n"
    "local out = {}\n"
    "for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do\n"
    "  if string.sub(f, 1, 2) == 't:' then\n"
    "    local n = string.sub(f, 3)\n"
    "    local v = redis.call('HMGET', KEYS[1], f, 'b:' .. n)\n"
    "    local t = tonumber(v[1])\n"
    "    if t and t >= now - keep and v[2] then\n"
    "      out[#out + 1] = n\n"
    "      out[#out + 1] = v[2]\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return out\n";


static const ngx_str_t  ngx_microshop_redis_lua[] = {
    { sizeof(ngx_microshop_redis_lua_gcra) - 1,
      (u_char *) ngx_microshop_redis_lua_gcra },
    { sizeof(ngx_microshop_redis_lua_revoke) - 1,
      (u_char *) ngx_microshop_redis_lua_revoke },
    { sizeof(ngx_microshop_redis_lua_revoked_load) - 1,
      (u_char *) ngx_microshop_redis_lua_revoked_load },
    { sizeof(ngx_microshop_redis_lua_idem_begin) - 1,
      (u_char *) ngx_microshop_redis_lua_idem_begin },
    { sizeof(ngx_microshop_redis_lua_idem_complete) - 1,
      (u_char *) ngx_microshop_redis_lua_idem_complete },
    { sizeof(ngx_microshop_redis_lua_idem_release) - 1,
      (u_char *) ngx_microshop_redis_lua_idem_release },
    { sizeof(ngx_microshop_redis_lua_inv_get) - 1,
      (u_char *) ngx_microshop_redis_lua_inv_get },
    { sizeof(ngx_microshop_redis_lua_inv_put) - 1,
      (u_char *) ngx_microshop_redis_lua_inv_put },
    { sizeof(ngx_microshop_redis_lua_inv_drop) - 1,
      (u_char *) ngx_microshop_redis_lua_inv_drop },
    { sizeof(ngx_microshop_redis_lua_inv_failed) - 1,
      (u_char *) ngx_microshop_redis_lua_inv_failed },
    { sizeof(ngx_microshop_redis_lua_event) - 1,
      (u_char *) ngx_microshop_redis_lua_event },
    { sizeof(ngx_microshop_redis_lua_stock_set) - 1,
      (u_char *) ngx_microshop_redis_lua_stock_set },
    { sizeof(ngx_microshop_redis_lua_stock_get) - 1,
      (u_char *) ngx_microshop_redis_lua_stock_get },
    { sizeof(ngx_microshop_redis_lua_reserve) - 1,
      (u_char *) ngx_microshop_redis_lua_reserve },
    { sizeof(ngx_microshop_redis_lua_settle) - 1,
      (u_char *) ngx_microshop_redis_lua_settle },
    { sizeof(ngx_microshop_redis_lua_hold_unknown) - 1,
      (u_char *) ngx_microshop_redis_lua_hold_unknown },
    { sizeof(ngx_microshop_redis_lua_hold_list) - 1,
      (u_char *) ngx_microshop_redis_lua_hold_list },
    { sizeof(ngx_microshop_redis_lua_sweep) - 1,
      (u_char *) ngx_microshop_redis_lua_sweep },
    { sizeof(ngx_microshop_redis_lua_sellers) - 1,
      (u_char *) ngx_microshop_redis_lua_sellers },
    { sizeof(ngx_microshop_redis_lua_revoke_before) - 1,
      (u_char *) ngx_microshop_redis_lua_revoke_before },
    { sizeof(ngx_microshop_redis_lua_watermarks_load) - 1,
      (u_char *) ngx_microshop_redis_lua_watermarks_load },
    { sizeof(ngx_microshop_redis_lua_feed_append) - 1,
      (u_char *) ngx_microshop_redis_lua_feed_append },
    { sizeof(ngx_microshop_redis_lua_feed_read) - 1,
      (u_char *) ngx_microshop_redis_lua_feed_read },
    { sizeof(ngx_microshop_redis_lua_usage_put) - 1,
      (u_char *) ngx_microshop_redis_lua_usage_put },
    { sizeof(ngx_microshop_redis_lua_usage_get) - 1,
      (u_char *) ngx_microshop_redis_lua_usage_get },
};

typedef char  ngx_microshop_redis_lua_all[
    (sizeof(ngx_microshop_redis_lua) / sizeof(ngx_str_t)
     == NGX_MICROSHOP_REDIS_LUA_N) ? 1 : -1];


const ngx_str_t *
ngx_microshop_store_redis_lua_source(ngx_uint_t script)
{
    return &ngx_microshop_redis_lua[script];
}
