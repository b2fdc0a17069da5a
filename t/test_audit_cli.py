"""tools/microshop-audit, the CLI over the audit log (docs/audit-playbook.md).

Every test runs the CLI as a user does, as a subprocess, and checks what it
prints and its exit status:

- a generated log of 43 lines whose answers were worked out by hand
  (SCENARIO below): summary, who-can, scopes, denied, drop, the table and
  the JSON; the same log gzipped, on standard input, and cut into a
  rotated set given in shuffled order;
- bad input: malformed lines, a truncated gzip file, a missing file, bad
  times and options;
- a real run: the gateway with microshop_audit_log, requests with tokens of
  two classes, and the CLI's answers against the answers the gateway gave;
- a 1 GB log: the CLI's maximum RSS on it is the one on a 50 MB prefix,
  and its counts are exactly 20 times those.

The CLI does not depend on the store, so the deferred pass of make test
skips this module.
"""

import datetime
import gzip
import json
import os
import random
import shutil
import subprocess
import time
import zlib

import pytest

import redisnodes
from microshop import T_DIR, mint, wait_for

pytestmark = redisnodes.skip_under_deferred()

CLI = os.path.join(os.path.dirname(T_DIR), "tools", "microshop-audit")
GNU_TIME = "/usr/bin/time"

INV = "^/v1/sellers/(?<seller>[^/]+)/inventory/(?<sku>[^/]+)$"
CHK = "^/v1/sellers/(?<seller>[^/]+)/checkout$"
GEN = "^/v1/sellers/(?<seller>[^/]+)/"
MINTED_EXP = 1799085810          # 2027-01-04T18:03:30Z: minted at 18:03:30, 30d


def run(*args, stdin=None, check_rc=None):
    """The CLI with args: (exit status, stdout, stderr)."""
    p = subprocess.run([CLI, *args], input=stdin, capture_output=True,
                       timeout=120)
    out, err = p.stdout.decode(), p.stderr.decode()
    if check_rc is not None:
        assert p.returncode == check_rc, (p.returncode, out, err)
    return p.returncode, out, err


def run_json(*args, rc=0, stdin=None):
    _, out, err = run(*args, "--json", stdin=stdin, check_rc=rc)
    return json.loads(out)


# ------------------------------------------------------------ the scenario

def rid(i):
    return "%032x" % i


def at(clock):
    return "2026-12-05T18:%s.000Z" % clock


TOKENS = {
    # name: (subject, seller, class, scopes granted)
    "ann": ("ann", "s1", "staff", ["inventory:read", "orders:write"]),
    "bob": ("bob", "s1", "staff", ["inventory:read", "orders:write"]),
    "eve": ("eve", "s1", "integration", ["inventory:read", "inventory:write"]),
    "sync1": ("sync", "s1", "integration",
              ["inventory:read", "inventory:write"]),
    "sync2": ("sync", "s2", "integration",
              ["inventory:read", "inventory:write"]),
    "pos9": ("pos-9", "s2", "default",
             ["inventory:read", "orders:write", "refunds:issue"]),
    "ops": ("ops", None, "default", ["microshop:admin"]),
    None: (None, None, None, None),
}


def audit_line(i, clock, who, method, uri, location, decision, reason,
               status, required, idempotency=None, minted=None):
    """A line as the gateway writes it (docs/audit-and-policy.md), members
    in its order."""
    sub, seller, klass, granted = TOKENS[who]
    doc = {"time": at(clock), "request_id": rid(i), "client": "203.0.113.7",
           "method": method, "uri": uri, "location": location,
           "decision": decision, "reason": reason, "status": status,
           "seller": seller, "subject": sub,
           "jti": None if who is None else "jti-%d" % i, "class": klass,
           "kid": None if who is None else "shop-2026",
           "alg": None if who is None else "ES256",
           "scopes_granted": granted, "scopes_required": required,
           "rate_remaining": None, "idempotency": idempotency,
           "cache": None}
    if minted is not None:
        doc["minted"] = minted
    return doc


def scenario():
    """43 lines over four minutes of 2026-12-05 (18:00 to 18:03), in time
    order; the answers are in the tests below."""
    R, W = ["inventory:read"], ["inventory:write"]
    O, A = ["orders:write"], ["microshop:admin"]
    inv1, inv2 = "/v1/sellers/s1/inventory/A1", "/v1/sellers/s2/inventory/B1"
    checkout = "/v1/sellers/s1/checkout"
    spec = []
    # 18:00: ann reads 10 times; 4 requests without a token, 2 with a bad one
    spec += [("00:%02d" % s, "ann", "GET", inv1, INV, "allow", "ok", 200, R)
             for s in range(1, 11)]
    spec += [("00:%02d" % s, None, "GET", inv1, INV, "deny", "no_token",
              401, R) for s in range(20, 24)]
    spec += [("00:%02d" % s, None, "GET", inv1, INV, "deny",
              "invalid_token", 401, R) for s in (30, 31)]
    # 18:01: bob's checkouts on the reserve location
    spec += [("01:%02d" % s, "bob", "POST", checkout, CHK, "allow", "ok",
              201, O, "new") for s in range(1, 5)]
    spec += [("01:05", "bob", "POST", checkout, CHK, "allow",
              "idempotent_replay", 201, O, "replay")]
    spec += [("01:%02d" % s, "bob", "POST", checkout, CHK, "deny",
              "out_of_stock", 409, O, "new") for s in (10, 11)]
    spec += [("01:20", "bob", "POST", checkout, CHK, "deny", "rate_limited",
              429, O)]
    spec += [("01:30", "bob", "POST", checkout, CHK, "error",
              "upstream_unavailable", 502, O, "new")]
    # 18:02: ann may not write; eve's token is revoked; sync of s1 reads;
    # bob orders and returns through the generic location
    spec += [("02:%02d" % s, "ann", "PUT", inv1, INV, "deny",
              "insufficient_scope", 403, W) for s in (1, 2, 3)]
    spec += [("02:10", "eve", "GET", inv1, INV, "deny", "revoked", 401, R)]
    spec += [("02:%02d" % s, "sync1", "GET", inv1, INV, "allow", "ok", 200,
              R) for s in (20, 21)]
    spec += [("02:30", "bob", "POST", "/v1/sellers/s1/orders", GEN, "allow",
              "ok", 201, O),
             ("02:31", "bob", "POST", "/v1/sellers/s1/returns", GEN, "allow",
              "ok", 202, O)]
    # 18:03: sync of s2 writes, then tries s1; pos-9 reads; ops onboards
    spec += [("03:%02d" % s, "sync2", "PUT", inv2, INV, "allow", "ok", 200,
              W) for s in range(1, 6)]
    spec += [("03:10", "sync2", "GET", inv1, INV, "deny", "seller_mismatch",
              403, R)]
    spec += [("03:%02d" % s, "pos9", "GET", inv2, INV, "allow", "ok", 200,
              R) for s in (20, 21, 22)]
    minted = {"jti": "m-1", "sub": "sync-new", "seller": "s1",
              "class": "integration",
              "scopes": ["inventory:read", "inventory:write"],
              "exp": MINTED_EXP}
    lines = [audit_line(i, *s) for i, s in enumerate(spec, 1)]
    lines.append(audit_line(len(lines) + 1, "03:30", "ops", "POST",
                            "/admin/sellers/s1/tokens", "/admin/", "allow",
                            "ok", 201, A, minted=minted))
    assert len(lines) == 43
    return lines


def encode(lines, separators=(",", ":")):
    return b"".join(json.dumps(d, separators=separators).encode() + b"\n"
                    for d in lines)


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    """The scenario as one plain file, one gzip file, and a rotated set."""
    d = tmp_path_factory.mktemp("audit-cli")
    lines = scenario()
    data = encode(lines)
    plain = d / "audit.log"
    plain.write_bytes(data)
    # gzip without .gz in its name: the magic bytes tell
    packed = d / "packed-audit.log"
    packed.write_bytes(gzip.compress(data))
    rot = d / "rotated"
    rot.mkdir()
    (rot / "audit.log.2.gz").write_bytes(gzip.compress(encode(lines[:15])))
    (rot / "audit.log.1").write_bytes(encode(lines[15:29]))
    (rot / "audit.log").write_bytes(encode(lines[29:]))
    # shuffled on the command line
    rotated = [str(rot / n) for n in ("audit.log.1", "audit.log",
                                      "audit.log.2.gz")]
    return {"dir": d, "plain": str(plain), "gzip": str(packed),
            "rotated": rotated, "data": data,
            "rotated_order": [str(rot / n) for n in (
                "audit.log.2.gz", "audit.log.1", "audit.log")]}


WINDOW = ["--from", "2026-12-05T18:01:00Z", "--to", "2026-12-05T18:03:00Z"]

SUMMARY_REASONS = [
    {"decision": "allow", "reason": "ok", "count": 27},
    {"decision": "deny", "reason": "no_token", "count": 4},
    {"decision": "deny", "reason": "insufficient_scope", "count": 3},
    {"decision": "deny", "reason": "invalid_token", "count": 2},
    {"decision": "deny", "reason": "out_of_stock", "count": 2},
    {"decision": "allow", "reason": "idempotent_replay", "count": 1},
    {"decision": "deny", "reason": "rate_limited", "count": 1},
    {"decision": "deny", "reason": "revoked", "count": 1},
    {"decision": "deny", "reason": "seller_mismatch", "count": 1},
    {"decision": "error", "reason": "upstream_unavailable", "count": 1},
]


def without_files(doc):
    return {k: v for k, v in doc.items() if k != "files"}


# ----------------------------------------------------------------- summary

def test_summary_counts(logs):
    doc = run_json("summary", logs["plain"])
    assert doc["files"] == [logs["plain"]]
    assert doc["window"] == {"from": None, "to": None}
    assert (doc["lines"], doc["matched"], doc["malformed"]) == (43, 43, 0)
    assert doc["first"] == "2026-12-05T18:00:01.000Z"
    assert doc["last"] == "2026-12-05T18:03:30.000Z"
    assert doc["decisions"] == {"allow": 28, "deny": 14, "error": 1}
    assert doc["reasons"] == SUMMARY_REASONS
    assert doc["sellers"] == [
        {"seller": "s1", "requests": 27, "allow": 19, "deny": 7, "error": 1},
        {"seller": "s2", "requests": 9, "allow": 8, "deny": 1, "error": 0},
        {"seller": None, "requests": 7, "allow": 1, "deny": 6, "error": 0},
    ]
    assert doc["classes"] == [
        {"class": "staff", "requests": 24, "allow": 17, "deny": 6,
         "error": 1},
        {"class": "integration", "requests": 9, "allow": 7, "deny": 2,
         "error": 0},
        {"class": None, "requests": 6, "allow": 0, "deny": 6, "error": 0},
        {"class": "default", "requests": 4, "allow": 4, "deny": 0,
         "error": 0},
    ]


def test_summary_table(logs):
    rc, out, err = run("summary", logs["plain"])
    assert rc == 0 and err == ""
    assert out.startswith(
        "window  (start) .. (end)\n"
        "files   %s\n"
        "lines   43 read, 43 matched, 0 malformed\n"
        "first   2026-12-05T18:00:01.000Z\n"
        "last    2026-12-05T18:03:30.000Z\n" % logs["plain"])
    assert "decisions: 28 allow, 14 deny, 1 error\n" in out
    # columns aligned: names left, numbers right
    assert ("by class:\n"
            "class        requests  allow  deny  error\n"
            "staff              24     17     6      1\n"
            "integration         9      7     2      0\n"
            "-                   6      0     6      0\n"
            "default             4      4     0      0\n") in out
    assert ("by decision and reason:\n"
            "decision  reason                requests\n"
            "allow     ok                          27\n"
            "deny      no_token                     4\n") in out


def test_filters_seller_class_and_window(logs):
    doc = run_json("summary", "--seller", "s2", logs["plain"])
    assert doc["matched"] == 9
    assert doc["decisions"] == {"allow": 8, "deny": 1, "error": 0}
    doc = run_json("summary", "--class", "staff", "--seller", "s1",
                   logs["plain"])
    assert doc["matched"] == 24
    assert [c["class"] for c in doc["classes"]] == ["staff"]
    # --from inclusive, --to exclusive: 18:01:01 .. 18:02:31
    doc = run_json("summary", *WINDOW, logs["plain"])
    assert doc["window"] == {"from": "2026-12-05T18:01:00.000Z",
                             "to": "2026-12-05T18:03:00.000Z"}
    assert (doc["lines"], doc["matched"]) == (43, 17)
    assert (doc["first"], doc["last"]) == ("2026-12-05T18:01:01.000Z",
                                           "2026-12-05T18:02:31.000Z")
    doc = run_json("summary", "--from", "2026-12-05T18:00:10Z", "--to",
                   "2026-12-05T18:00:20Z", logs["plain"])
    assert doc["matched"] == 1 and doc["first"] == at("00:10")
    # an offset, and the same instant in UTC
    a = run_json("summary", "--from", "2026-12-05T19:01:00+01:00",
                 logs["plain"])
    b = run_json("summary", "--from", "2026-12-05T18:01:00Z", logs["plain"])
    assert a == b and a["matched"] == 27
    # a date is its midnight UTC
    assert run_json("summary", "--from", "2026-12-05",
                    logs["plain"])["matched"] == 43
    doc = run_json("summary", "--to", "2026-12-05", logs["plain"], rc=1)
    assert doc["matched"] == 0 and doc["first"] is None


def test_json_members_with_spaces_take_the_slow_path(logs, tmp_path):
    """Lines written with other spacing (not the gateway's) are read and
    windowed the same."""
    path = tmp_path / "spaced.log"
    path.write_bytes(encode(scenario(), separators=(", ", ": ")))
    for args in ([], WINDOW):
        a = run_json("summary", *args, logs["plain"])
        b = run_json("summary", *args, str(path))
        assert without_files(a) == without_files(b)


def test_relative_times(tmp_path):
    now = datetime.datetime.now(datetime.timezone.utc)

    def stamp(delta):
        t = now - delta
        return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (
            t.microsecond // 1000)

    lines = []
    for i, delta in enumerate([datetime.timedelta(days=8)] * 2
                              + [datetime.timedelta(days=1)]
                              + [datetime.timedelta(minutes=90)] * 3, 1):
        d = audit_line(i, "00:00", "ann", "GET", "/v1/sellers/s1/x", INV,
                       "allow", "ok", 200, ["inventory:read"])
        d["time"] = stamp(delta)
        lines.append(d)
    path = tmp_path / "recent.log"
    path.write_bytes(encode(lines))
    assert run_json("summary", "--from", "-7d", str(path))["matched"] == 4
    assert run_json("summary", "--from", "-2h", str(path))["matched"] == 3
    assert run_json("summary", "--from=-2h", str(path))["matched"] == 3
    assert run_json("summary", "--from", "-1w", "--to", "-1h",
                    str(path))["matched"] == 4
    assert run_json("summary", "--from", "-30m", str(path),
                    rc=1)["matched"] == 0
    # the options may come before the command too
    rc, out, _ = run("--json", "--from", "-36h", "summary", str(path))
    assert rc == 0 and json.loads(out)["matched"] == 4


# ----------------------------------------------------------------- who-can

def test_who_can(logs):
    doc = run_json("who-can", "inventory:write", logs["plain"])
    assert doc["scope"] == "inventory:write"
    assert doc["subjects"] == [
        {"sub": "sync", "seller": "s2", "class": "integration",
         "requests": 6, "allowed": 5, "denied": 1, "errors": 0,
         "first": at("03:01"), "last": at("03:10")},
        {"sub": "sync", "seller": "s1", "class": "integration",
         "requests": 2, "allowed": 2, "denied": 0, "errors": 0,
         "first": at("02:20"), "last": at("02:21")},
        {"sub": "eve", "seller": "s1", "class": "integration",
         "requests": 1, "allowed": 0, "denied": 1, "errors": 0,
         "first": at("02:10"), "last": at("02:10")},
    ]
    assert doc["classes"] == [
        {"class": "integration", "subjects": 3, "requests": 9,
         "first": at("02:10"), "last": at("03:10")}]
    assert doc["minted"] == [
        {"sub": "sync-new", "seller": "s1", "class": "integration",
         "tokens": 1, "last_minted": at("03:30"), "exp": MINTED_EXP,
         "expires": "2027-01-04T18:03:30.000Z"}]


def test_who_can_for_a_seller(logs):
    doc = run_json("who-can", "inventory:write", "--seller", "s1",
                   logs["plain"])
    assert [(s["sub"], s["seller"], s["requests"]) for s in doc["subjects"]] \
        == [("sync", "s1", 2), ("eve", "s1", 1)]
    assert [m["sub"] for m in doc["minted"]] == ["sync-new"]
    # s1's 27 lines, and the admin's line that minted a token for s1
    assert doc["matched"] == 28
    doc = run_json("who-can", "inventory:write", "--seller", "s2",
                   logs["plain"])
    assert [s["seller"] for s in doc["subjects"]] == ["s2"]
    assert doc["minted"] == []


def test_who_can_matches_scopes_exactly(logs):
    doc = run_json("who-can", "orders:write", "--class", "staff",
                   logs["plain"])
    assert [(s["sub"], s["requests"], s["allowed"], s["denied"],
             s["errors"]) for s in doc["subjects"]] \
        == [("ann", 13, 10, 3, 0), ("bob", 11, 7, 3, 1)]
    for scope in ("inventory", "inventory:*", "INVENTORY:WRITE",
                  "inventory:write "):
        assert run_json("who-can", scope, logs["plain"])["subjects"] == []
    doc = run_json("who-can", "refunds:issue", logs["plain"])
    assert [s["sub"] for s in doc["subjects"]] == ["pos-9"]


def test_who_can_table(logs):
    rc, out, _ = run("who-can", "inventory:write", "--seller", "s1",
                     logs["plain"])
    assert rc == 0
    assert "scope: inventory:write (exact match)\n" in out
    rows = out.split("tokens seen holding it:\n")[1].split("\n\n")[0]
    assert rows.splitlines()[1:] == [
        "sync     s1      integration         2        2       0       0  "
        "2026-12-05T18:02:20.000Z  2026-12-05T18:02:21.000Z",
        "eve      s1      integration         1        0       1       0  "
        "2026-12-05T18:02:10.000Z  2026-12-05T18:02:10.000Z"]


# ------------------------------------------------------------------ scopes

SCOPES_CLASSES = [
    {"class": None, "last_used": at("00:31"), "granted": [], "exercised": [],
     "unused": [], "denials": {"no_token": 4, "invalid_token": 2}},
    {"class": "default", "last_used": at("03:30"),
     "granted": ["inventory:read", "microshop:admin", "orders:write",
                 "refunds:issue"],
     "exercised": ["inventory:read", "microshop:admin"],
     "unused": ["orders:write", "refunds:issue"], "denials": {}},
    {"class": "integration", "last_used": at("03:10"),
     "granted": ["inventory:read", "inventory:write"],
     "exercised": ["inventory:read", "inventory:write"], "unused": [],
     "denials": {"revoked": 1, "seller_mismatch": 1}},
    {"class": "staff", "last_used": at("02:31"),
     "granted": ["inventory:read", "orders:write"],
     "exercised": ["inventory:read", "orders:write"], "unused": [],
     "denials": {"insufficient_scope": 3, "out_of_stock": 2,
                 "rate_limited": 1, "upstream_unavailable": 1}},
]


def subject(sub, seller, klass, requests, granted, exercised, unused, last):
    return {"sub": sub, "seller": seller, "class": klass,
            "requests": requests, "granted": granted,
            "exercised": exercised, "unused": unused, "last_used": at(last)}


RW = ["inventory:read", "inventory:write"]
RO = ["inventory:read", "orders:write"]

SCOPES_SUBJECTS = [
    subject("ann", "s1", "staff", 13, RO, ["inventory:read"],
            ["orders:write"], "02:03"),
    subject("bob", "s1", "staff", 11, RO, ["orders:write"],
            ["inventory:read"], "02:31"),
    subject("sync", "s2", "integration", 6, RW, ["inventory:write"],
            ["inventory:read"], "03:10"),
    subject("pos-9", "s2", "default", 3, RO + ["refunds:issue"],
            ["inventory:read"], ["orders:write", "refunds:issue"], "03:22"),
    subject("sync", "s1", "integration", 2, RW, ["inventory:read"],
            ["inventory:write"], "02:21"),
    subject("eve", "s1", "integration", 1, RW, [], RW, "02:10"),
    subject("ops", None, "default", 1, ["microshop:admin"],
            ["microshop:admin"], [], "03:30"),
]


def lp(unused, **who):
    return dict(who, unused=unused, why="not_exercised")


SCOPES_LEAST = [
    lp(["orders:write", "refunds:issue"], **{"class": "default"}),
    lp(["orders:write"], sub="ann", seller="s1", **{"class": "staff"}),
    lp(["inventory:read"], sub="bob", seller="s1", **{"class": "staff"}),
    lp(RW, sub="eve", seller="s1", **{"class": "integration"}),
    lp(["orders:write", "refunds:issue"], sub="pos-9", seller="s2",
       **{"class": "default"}),
    lp(["inventory:write"], sub="sync", seller="s1",
       **{"class": "integration"}),
    lp(["inventory:read"], sub="sync", seller="s2",
       **{"class": "integration"}),
]


def test_scopes_granted_exercised_unused(logs):
    doc = run_json("scopes", logs["plain"])
    assert doc["classes"] == SCOPES_CLASSES
    assert doc["subjects"] == SCOPES_SUBJECTS
    assert doc["least_privilege"] == SCOPES_LEAST
    assert doc["window"] == {"from": None, "to": None}


def test_scopes_of_one_class(logs):
    doc = run_json("scopes", "--class", "staff", logs["plain"])
    assert doc["classes"] == [SCOPES_CLASSES[3]]
    assert doc["subjects"] == SCOPES_SUBJECTS[:2]
    assert doc["least_privilege"] == SCOPES_LEAST[1:3]


def test_scopes_in_a_window(logs):
    # 18:01 and 18:02: ann only failed to write, so she exercised nothing
    doc = run_json("scopes", *WINDOW, logs["plain"])
    ann = [s for s in doc["subjects"] if s["sub"] == "ann"][0]
    assert ann == subject("ann", "s1", "staff", 3, RO, [], RO, "02:03")
    staff = [c for c in doc["classes"] if c["class"] == "staff"][0]
    assert staff["exercised"] == ["orders:write"]
    assert staff["unused"] == ["inventory:read"]
    assert {"class": "staff", "unused": ["inventory:read"],
            "why": "not_exercised"} in doc["least_privilege"]


def test_scopes_table(logs):
    rc, out, _ = run("scopes", logs["plain"])
    assert rc == 0
    least = out.split("least privilege (granted, never exercised):\n")[1]
    assert least.splitlines() == [
        "class        subject  seller  unused",
        "default      -        -       orders:write,refunds:issue",
        "staff        ann      s1      orders:write",
        "staff        bob      s1      inventory:read",
        "integration  eve      s1      inventory:read,inventory:write",
        "default      pos-9    s2      orders:write,refunds:issue",
        "integration  sync     s1      inventory:write",
        "integration  sync     s2      inventory:read"]


# ------------------------------------------------------------------ denied

def example(i, clock, method, uri, status):
    return {"request_id": rid(i), "time": at(clock), "method": method,
            "uri": uri, "status": status}


INV1 = "/v1/sellers/s1/inventory/A1"
CHECKOUT = "/v1/sellers/s1/checkout"


def test_denied_top_list_and_examples(logs):
    doc = run_json("denied", logs["plain"])
    assert doc["denied"] == 14
    assert [(r["reason"], r["count"]) for r in doc["reasons"]] == [
        ("no_token", 4), ("insufficient_scope", 3), ("invalid_token", 2),
        ("out_of_stock", 2), ("rate_limited", 1), ("revoked", 1),
        ("seller_mismatch", 1)]
    # the latest three, latest first
    assert doc["reasons"][0]["examples"] == [
        example(14, "00:23", "GET", INV1, 401),
        example(13, "00:22", "GET", INV1, 401),
        example(12, "00:21", "GET", INV1, 401)]
    assert doc["reasons"][3]["examples"] == [
        example(23, "01:11", "POST", CHECKOUT, 409),
        example(22, "01:10", "POST", CHECKOUT, 409)]
    assert [(g["reason"], g["seller"], g["subject"], g["count"])
            for g in doc["groups"]] == [
        ("no_token", None, None, 4), ("insufficient_scope", "s1", "ann", 3),
        ("invalid_token", None, None, 2), ("out_of_stock", "s1", "bob", 2),
        ("rate_limited", "s1", "bob", 1), ("revoked", "s1", "eve", 1),
        ("seller_mismatch", "s2", "sync", 1)]
    assert doc["groups"][1]["examples"] == [
        example(28, "02:03", "PUT", INV1, 403),
        example(27, "02:02", "PUT", INV1, 403),
        example(26, "02:01", "PUT", INV1, 403)]
    assert doc["groups"][6]["examples"] == [
        example(39, "03:10", "GET", INV1, 403)]


def test_denied_top_n(logs):
    doc = run_json("denied", "--top", "3", logs["plain"])
    assert [r["reason"] for r in doc["reasons"]] == [
        "no_token", "insufficient_scope", "invalid_token"]
    assert len(doc["groups"]) == 3
    rc, out, err = run("denied", "--top", "0", logs["plain"])
    assert rc == 2 and "--top" in err and out == ""


def test_denied_table(logs):
    rc, out, _ = run("denied", "--seller", "s2", logs["plain"])
    assert rc == 0
    assert "denied: 1\n" in out
    assert ("examples (latest 3 of each):\n"
            "reason           seller  subject  time                      "
            "request_id                        method  uri"
            "                          status\n"
            "seller_mismatch  s2      sync     2026-12-05T18:03:10.000Z  "
            "%s  GET     /v1/sellers/s1/inventory/A1     403\n"
            % rid(39)) in out


# -------------------------------------------------------------------- drop

DROP_CHECKOUT = {"requests": 9, "succeeded": 4, "failed": 0,
                 "out_of_stock": 2, "replays": 1, "rate_limited": 1,
                 "other_denied": 0, "errors": 1}


def test_drop(logs):
    doc = run_json("drop", "--seller", "s1", *WINDOW, logs["plain"])
    assert doc["seller"] == "s1"
    assert (doc["requests"], doc["allowed"], doc["denied"],
            doc["errors"]) == (17, 9, 7, 1)
    assert (doc["out_of_stock"], doc["rate_limited"],
            doc["replays"]) == (2, 1, 1)
    assert doc["denials"] == {"insufficient_scope": 3, "revoked": 1}
    assert doc["error_reasons"] == {"upstream_unavailable": 1}
    # the reserve location is known by its out_of_stock; the generic one
    # counts only its POSTs to a checkout or orders URI
    assert doc["checkouts"] == {
        "requests": 10, "succeeded": 5, "failed": 0, "out_of_stock": 2,
        "replays": 1, "rate_limited": 1, "other_denied": 0, "errors": 1,
        "locations": [
            {"location": GEN, "found_by": "uri", "requests": 1,
             "succeeded": 1, "failed": 0, "out_of_stock": 0, "replays": 0,
             "rate_limited": 0, "other_denied": 0, "errors": 0},
            dict({"location": CHK, "found_by": "reserve"},
                 **DROP_CHECKOUT)]}
    assert doc["timeline"] == [
        {"minute": "2026-12-05T18:01:00Z", "requests": 9, "allowed": 5,
         "out_of_stock": 2, "rate_limited": 1},
        {"minute": "2026-12-05T18:02:00Z", "requests": 8, "allowed": 4,
         "out_of_stock": 0, "rate_limited": 0}]
    assert doc["peak"] == {"minute": "2026-12-05T18:01:00Z", "requests": 9}


def test_drop_named_checkout_location(logs):
    doc = run_json("drop", "--seller", "s1", *WINDOW, "--checkout", GEN,
                   logs["plain"])
    assert doc["checkouts"]["locations"] == [
        {"location": GEN, "found_by": "named", "requests": 2,
         "succeeded": 2, "failed": 0, "out_of_stock": 0, "replays": 0,
         "rate_limited": 0, "other_denied": 0, "errors": 0}]
    doc = run_json("drop", "--seller", "s1", *WINDOW, "--checkout", GEN,
                   "--checkout", CHK, logs["plain"])
    assert doc["checkouts"]["requests"] == 11
    assert doc["checkouts"]["succeeded"] == 6


def test_drop_table(logs):
    rc, out, _ = run("drop", "--seller", "s1", *WINDOW, logs["plain"])
    assert rc == 0
    assert ("requests  allowed  denied  errors  out_of_stock  rate_limited"
            "  replays\n"
            "      17        9       7       1             2             1"
            "        1\n") in out
    assert ("per minute:\n"
            "minute                requests  allowed  out_of_stock"
            "  rate_limited\n"
            "2026-12-05T18:01:00Z         9        5             2"
            "             1\n"
            "2026-12-05T18:02:00Z         8        4             0"
            "             0\n") in out
    assert out.endswith("peak minute: 2026-12-05T18:01:00Z (9 requests)\n")


def test_drop_needs_seller_and_window(logs):
    for args in (["--seller", "s1", "--from", "2026-12-05"],
                 ["--from", "2026-12-05", "--to", "2026-12-06"],
                 ["--seller", "s1"]):
        rc, out, err = run("drop", *args, logs["plain"])
        assert rc == 2 and out == "", (args, out)
        assert "drop needs" in err, err
    rc, out, err = run("drop", "--seller", "s1", "--from", "2026-12-06",
                       "--to", "2026-12-05", logs["plain"])
    assert rc == 2 and "must be before" in err


def test_drop_with_nothing_in_the_window(logs):
    doc = run_json("drop", "--seller", "s9", *WINDOW, logs["plain"], rc=1)
    assert doc["requests"] == 0 and doc["timeline"] == []
    assert doc["peak"] is None


# ------------------------------------------------ gzip, stdin, rotated sets

COMMANDS = [["summary"], ["who-can", "inventory:write"], ["scopes"],
            ["denied"], ["drop", "--seller", "s1", *WINDOW]]


def test_gzip_stdin_and_rotated_set_give_the_same_answers(logs):
    for command in COMMANDS:
        plain = run_json(*command, logs["plain"])
        packed = run_json(*command, logs["gzip"])
        assert packed["files"] == [logs["gzip"]]
        assert without_files(packed) == without_files(plain)
        piped = run_json(*command, stdin=logs["data"])
        assert piped["files"] == ["<stdin>"]
        assert without_files(piped) == without_files(plain)
        piped = run_json(*command, "-", stdin=gzip.compress(logs["data"]))
        assert without_files(piped) == without_files(plain)
        rotated = run_json(*command, *logs["rotated"])
        # oldest first, whatever the order on the command line
        assert rotated["files"] == logs["rotated_order"], command
        assert without_files(rotated) == without_files(plain), command


def test_rotated_set_time_order(logs):
    doc = run_json("summary", *logs["rotated"])
    assert (doc["first"], doc["last"]) == (at("00:01"), at("03:30"))
    assert doc["lines"] == 43
    # rotation numbers, not names: .10 is older than .9; dated files
    # (dateext) oldest date first; the live file last
    d = logs["dir"] / "order"
    d.mkdir()
    names = ["audit.log", "audit.log.9", "audit.log.10.gz", "other.log.1",
             "other.log", "audit.log.2"]
    for n in names:
        (d / n).write_bytes(b"")
    doc = run_json("summary", *[str(d / n) for n in names], rc=1)
    assert [os.path.basename(f) for f in doc["files"]] == [
        "audit.log.10.gz", "audit.log.9", "audit.log.2", "audit.log",
        "other.log.1", "other.log"]
    dated = ["x.log", "x.log-20261205.gz", "x.log-20261203"]
    for n in dated:
        (d / n).write_bytes(b"")
    doc = run_json("summary", *[str(d / n) for n in dated], rc=1)
    assert [os.path.basename(f) for f in doc["files"]] == [
        "x.log-20261203", "x.log-20261205.gz", "x.log"]


def test_gzip_of_several_members(logs, tmp_path):
    """gzip files concatenated (as `cat a.gz b.gz` makes) are one stream."""
    lines = scenario()
    path = tmp_path / "members.gz"
    path.write_bytes(gzip.compress(encode(lines[:20]))
                     + gzip.compress(encode(lines[20:])))
    assert without_files(run_json("scopes", str(path))) \
        == without_files(run_json("scopes", logs["plain"]))


# --------------------------------------------------------------- bad input

def test_malformed_lines_are_counted_and_named(logs, tmp_path):
    lines = encode(scenario()).splitlines(keepends=True)
    bad = [b"not json\n", b"[1, 2]\n", b'{"time": 5}\n',
           b'{"time":"2026-12-05T18:00:00.000Z","seller":["s1"]}\n',
           b'{"time":"2026-12-05T18:00:00.000Z","uri":"\xff"}\n',
           b'{"time":"2026-12-05T18:00:00.000Z","decision":"allow"\n',
           b'{"time":"2026-12-05T18:00:00.000Z","scopes_granted":[1]}\n']
    data = lines[0] + bad[0] + b"\n" + b"".join(lines[1:20]) + b"".join(
        bad[1:]) + b"".join(lines[20:])
    path = tmp_path / "mixed.log"
    path.write_bytes(data)
    rc, out, err = run("summary", "--json", str(path))
    assert rc == 0
    doc = json.loads(out)
    assert doc["malformed"] == 7
    assert (doc["lines"], doc["matched"]) == (50, 43)
    plain = run_json("summary", logs["plain"])
    for key in ("decisions", "reasons", "sellers", "classes", "first",
                "last"):
        assert doc[key] == plain[key], key
    # the first five are named with file and line, then the total
    p = str(path)
    assert err.splitlines() == [
        "microshop-audit: %s:2: malformed line skipped: not JSON "
        "(Expecting value: line 1 column 1 (char 0))" % p,
        "microshop-audit: %s:23: malformed line skipped: not a JSON object"
        % p,
        "microshop-audit: %s:24: malformed line skipped: no valid time" % p,
        "microshop-audit: %s:25: malformed line skipped: seller is not a "
        "string" % p,
        "microshop-audit: %s:26: malformed line skipped: not UTF-8 "
        "('utf-8' codec can't decode byte 0xff in position 42: invalid "
        "start byte)" % p,
        "microshop-audit: 7 malformed lines skipped in all"]


def test_truncated_gzip_reads_what_is_there(logs, tmp_path):
    """A gzip file still being written: complete blocks, no trailer.  The
    first 20 lines are whole; half of the 21st arrived."""
    lines = encode(scenario()).splitlines(keepends=True)
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    data = z.compress(b"".join(lines[:20])) + z.flush(zlib.Z_SYNC_FLUSH)
    data += z.compress(lines[20][:40]) + z.flush(zlib.Z_SYNC_FLUSH)
    path = tmp_path / "audit.log.1.gz"
    path.write_bytes(data)
    rc, out, err = run("summary", "--json", str(path))
    assert rc == 0
    doc = json.loads(out)
    assert (doc["lines"], doc["matched"], doc["malformed"]) == (20, 20, 0)
    assert doc["last"] == at("01:04")
    assert "gzip file is truncated" in err and str(path) in err
    assert "incomplete last line is skipped" in err
    # cut anywhere, it never fails
    whole = gzip.compress(b"".join(lines))
    for cut in (5, 11, 30, len(whole) // 2, len(whole) - 4):
        path.write_bytes(whole[:cut])
        rc, out, err = run("summary", "--json", str(path))
        assert rc in (0, 1), (cut, err)
        assert json.loads(out)["malformed"] == 0
        assert "truncated" in err, cut


def test_corrupt_gzip_warns_and_keeps_going(logs, tmp_path):
    whole = bytearray(gzip.compress(logs["data"]))
    whole[len(whole) // 2:len(whole) // 2 + 8] = b"\xff" * 8
    path = tmp_path / "corrupt.gz"
    path.write_bytes(bytes(whole))
    rc, out, err = run("summary", "--json", str(path), logs["plain"])
    assert rc == 0
    assert "corrupt gzip data" in err and str(path) in err
    assert json.loads(out)["lines"] >= 43


def test_missing_file(logs, tmp_path):
    missing = str(tmp_path / "audit.log.3")
    rc, out, err = run("summary", logs["plain"], missing)
    assert rc == 2 and out == ""
    assert err == ("microshop-audit: error: cannot read %s: No such file "
                   "or directory\n" % missing)
    unreadable = tmp_path / "dir.log"
    unreadable.mkdir()
    rc, out, err = run("scopes", str(unreadable))
    assert rc == 2 and out == ""
    assert "cannot read %s: Is a directory" % unreadable in err


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01", "-7x",
                                   "7d", "2026-12-05T25:00:00Z", "",
                                   "-99999999d",
                                   "0001-01-01T00:00:00+01:00"])
def test_bad_times(logs, value):
    rc, out, err = run("summary", "--from", value, logs["plain"])
    assert rc == 2 and out == ""
    assert "--from: cannot read the time %r" % value in err, err


def test_usage_errors(logs):
    for args in (["nonsense"], ["who-can"], ["summary", "--bogus"], []):
        rc, out, err = run(*args)
        assert rc == 2 and out == "", args
        assert "usage: microshop-audit" in err, (args, err)
    rc, out, _ = run("who-can", "--help")
    assert rc == 0 and "SCOPE" in out and "exact" in out


def test_empty_input_matches_nothing():
    rc, out, err = run("summary", "--json", stdin=b"")
    assert rc == 1 and err == ""
    doc = json.loads(out)
    assert (doc["lines"], doc["matched"], doc["first"]) == (0, 0, None)
    rc, out, _ = run("denied", stdin=b"\n\n")
    assert rc == 1 and "denied: 0" in out


# ---------------------------------------------------------------- real run

REAL_CONF = """
    microshop_jwt_key %(ec256)s kid=ec;
    microshop_token_class default max_ttl=1h;
    microshop_token_class staff max_ttl=15m scopes=inventory:read,orders:write;
    microshop_rate_tier default rate=100r/s burst=1000;
    microshop_rate_tier tight rate=1r/m burst=2;
    microshop_audit_log logs/audit.log;

    server {
        listen 127.0.0.1:%(port)d;
        add_header X-Request-Id $request_id always;

        location ~ ^/v1/sellers/(?<seller>[^/]+)/ {
            microshop_auth on;
            microshop_require_scope GET,HEAD inventory:read;
            microshop_require_scope POST orders:write;
            microshop_seller $seller;
            microshop_rate_limit on;
            proxy_pass http://127.0.0.1:%(backend)d;
        }
    }
"""


def test_real_gateway_log(nginx, keys, backend, clean):
    n = nginx.new()
    n.start(REAL_CONF % {"ec256": keys.ec256_public_pem, "port": n.port,
                         "backend": backend.port})
    log = os.path.join(n.prefix, "logs", "audit.log")
    staff = mint(keys, kid="ec", sub="ann", seller="s1", token_class="staff",
                 scope="inventory:read orders:write", ttl=600)
    sync = mint(keys, kid="ec", sub="sync", seller="s1",
                scope="inventory:read inventory:write")
    tight = mint(keys, kid="ec", sub="pos-2", seller="s2",
                 scope="inventory:read", tier="tight")
    inv1, inv2 = "/v1/sellers/s1/inventory/A1", "/v1/sellers/s2/inventory/B1"
    body = {"items": [{"sku": "A1", "quantity": 1}]}
    made = []                   # (status, request id) in order

    def req(method, path, token=None, **kw):
        r = n.request(method, path, token=token, **kw)
        made.append((r.status_code, r.headers["X-Request-Id"]))
        return r.status_code

    before = time.time()
    assert [req("GET", inv1, staff) for _ in range(3)] == [200] * 3
    checkout = req("POST", "/v1/sellers/s1/checkout", staff, json=body)
    assert checkout < 500
    assert [req("GET", inv1, sync) for _ in range(2)] == [200] * 2
    assert [req("POST", "/v1/sellers/s1/checkout", sync, json=body)
            for _ in range(2)] == [403] * 2
    assert [req("GET", inv1) for _ in range(2)] == [401] * 2
    assert req("GET", inv1, "not.a.token") == 401
    # the backend may not know s2's item (404): the gateway allowed it
    limited = [req("GET", inv2, tight) for _ in range(4)]
    assert limited[2:] == [429, 429] and set(limited[:2]) <= {200, 404}, \
        limited
    until = datetime.datetime.fromtimestamp(time.time() + 60,
                                            datetime.timezone.utc)
    since = datetime.datetime.fromtimestamp(before - 60,
                                            datetime.timezone.utc)
    window = ["--from", since.isoformat(), "--to", until.isoformat()]

    def all_written():
        if not os.path.exists(log):
            return False
        with open(log, "rb") as f:
            return f.read().count(b"\n") >= len(made)
    wait_for(all_written, what="the audit lines of %d requests" % len(made))

    doc = run_json("summary", *window, log)
    assert (doc["lines"], doc["matched"], doc["malformed"]) == (15, 15, 0)
    assert doc["decisions"] == {"allow": 8, "deny": 7, "error": 0}
    assert {(r["decision"], r["reason"]): r["count"]
            for r in doc["reasons"]} == {
        ("allow", "ok"): 8, ("deny", "insufficient_scope"): 2,
        ("deny", "no_token"): 2, ("deny", "invalid_token"): 1,
        ("deny", "rate_limited"): 2}
    assert {c["class"]: c["requests"] for c in doc["classes"]} \
        == {"staff": 4, "default": 8, None: 3}
    assert {s["seller"]: s["requests"] for s in doc["sellers"]} \
        == {"s1": 8, "s2": 4, None: 3}

    doc = run_json("scopes", log)
    by_sub = {s["sub"]: s for s in doc["subjects"]}
    assert set(by_sub) == {"ann", "sync", "pos-2"}
    assert (by_sub["ann"]["class"], by_sub["ann"]["requests"],
            by_sub["ann"]["granted"], by_sub["ann"]["exercised"],
            by_sub["ann"]["unused"]) == (
        "staff", 4, ["inventory:read", "orders:write"],
        ["inventory:read", "orders:write"], [])
    # sync was refused its checkouts: it never exercised orders:write
    # (it has not got it) nor inventory:write (no route asked)
    assert (by_sub["sync"]["class"], by_sub["sync"]["granted"],
            by_sub["sync"]["exercised"], by_sub["sync"]["unused"]) == (
        "default", ["inventory:read", "inventory:write"],
        ["inventory:read"], ["inventory:write"])
    # the 429s passed the scope check: inventory:read is exercised
    assert by_sub["pos-2"]["exercised"] == ["inventory:read"]
    assert doc["least_privilege"] == [
        {"class": "default", "unused": ["inventory:write"],
         "why": "not_exercised"},
        {"sub": "sync", "seller": "s1", "class": "default",
         "unused": ["inventory:write"], "why": "not_exercised"}]
    classes = {c["class"]: c for c in doc["classes"]}
    assert classes[None]["denials"] == {"no_token": 2, "invalid_token": 1}
    assert classes["default"]["denials"] == {"insufficient_scope": 2,
                                             "rate_limited": 2}

    doc = run_json("who-can", "orders:write", log)
    assert [(s["sub"], s["class"], s["requests"]) for s in doc["subjects"]] \
        == [("ann", "staff", 4)]
    doc = run_json("who-can", "inventory:write", "--seller", "s1", log)
    assert [(s["sub"], s["requests"], s["allowed"], s["denied"])
            for s in doc["subjects"]] == [("sync", 4, 2, 2)]

    doc = run_json("denied", log)
    assert doc["denied"] == 7
    ins = [g for g in doc["groups"] if g["reason"] == "insufficient_scope"]
    assert [(g["seller"], g["subject"], g["count"]) for g in ins] \
        == [("s1", "sync", 2)]
    # the examples are those requests, latest first
    refused = [rid for status, rid in made if status == 403]
    assert [e["request_id"] for e in ins[0]["examples"]] \
        == list(reversed(refused))
    assert all(e["status"] == 403 and e["method"] == "POST"
               for e in ins[0]["examples"])

    doc = run_json("drop", "--seller", "s2", *window, log)
    assert (doc["requests"], doc["allowed"], doc["rate_limited"]) \
        == (4, 2, 2)
    assert sum(m["requests"] for m in doc["timeline"]) == 4
    assert sum(m["rate_limited"] for m in doc["timeline"]) == 2
    assert doc["peak"]["requests"] >= 2


# -------------------------------------------------------------------- 1 GB

def max_rss_kb(args):
    """The CLI's exit status, stdout and maximum RSS (KB), measured by GNU
    time.  (os.wait4 reports the RSS high-water mark of the exec'ing
    parent, pytest itself, for a child whose own is lower: useless here.)"""
    p = subprocess.run([GNU_TIME, "-f", "%M", CLI, *args],
                       capture_output=True, timeout=600)
    rss = int(p.stderr.decode().strip().splitlines()[-1])
    return p.returncode, p.stdout, rss


def test_one_gigabyte_with_flat_memory(tmp_path):
    if not os.access(GNU_TIME, os.X_OK):
        pytest.fail("%s is missing: install the Debian package time "
                    "(scripts/install-deps)" % GNU_TIME)
    if shutil.disk_usage(str(tmp_path)).free < 3 << 30:
        pytest.skip("less than 3 GB free in %s" % tmp_path)
    # a block of varied lines: the scenario with its subjects, sellers and
    # request ids renamed per copy, so that the keys are many but bounded
    rng = random.Random(18)
    base = scenario()
    copies = []
    for k in range(24):
        for d in base:
            d = dict(d)
            d["request_id"] = "%032x" % rng.getrandbits(128)
            if d["subject"] is not None:
                d["subject"] = "%s-%d" % (d["subject"], k % 8)
            copies.append(d)
    block = encode(copies)
    reps_small = max(1, (50 << 20) // len(block))
    reps_big = 20 * reps_small
    small, big = tmp_path / "small.log", tmp_path / "big.log"
    try:
        with open(small, "wb") as f:
            for _ in range(reps_small):
                f.write(block)
        with open(big, "wb") as f:
            for _ in range(reps_big):
                f.write(block)
        size = os.path.getsize(big)
        assert size >= 1 << 30 or size >= 1e9, size

        rc, out, rss_small = max_rss_kb(["summary", "--json", str(small)])
        assert rc == 0
        small_doc = json.loads(out)
        started = time.monotonic()
        rc, out, rss_big = max_rss_kb(["summary", "--json", str(big)])
        elapsed = time.monotonic() - started
        assert rc == 0
        big_doc = json.loads(out)
    finally:
        for path in (small, big):
            if os.path.exists(path):
                os.unlink(path)
    print("\n1 GB: %d bytes in %.1f s (%.0f MB/s); max RSS %d KB "
          "(50 MB prefix: %d KB)" % (size, elapsed, size / elapsed / 1e6,
                                     rss_big, rss_small))

    n = 24 * reps_small
    assert small_doc["lines"] == 43 * n
    assert small_doc["decisions"] == {"allow": 28 * n, "deny": 14 * n,
                                      "error": n}
    assert small_doc["reasons"] == [dict(r, count=r["count"] * n)
                                    for r in SUMMARY_REASONS]
    assert big_doc["lines"] == 20 * small_doc["lines"]
    assert big_doc["malformed"] == small_doc["malformed"] == 0
    assert big_doc["decisions"] == {k: 20 * v for k, v in
                                    small_doc["decisions"].items()}
    assert big_doc["reasons"] == [dict(r, count=20 * r["count"])
                                  for r in small_doc["reasons"]]
    for key in ("sellers", "classes"):
        assert big_doc[key] == [
            {k: (20 * v if isinstance(v, int) else v) for k, v in r.items()}
            for r in small_doc[key]]
    assert (big_doc["first"], big_doc["last"]) \
        == (small_doc["first"], small_doc["last"])
    # memory: flat, whatever the size
    assert abs(rss_big - rss_small) <= 4096, (rss_small, rss_big)
    assert rss_big < 64 * 1024, rss_big
