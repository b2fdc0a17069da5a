"""microshop_audit_report: the scopes each token class and each subject
was granted, exercised and never used, as the gateway kept them
(docs/directives.md "microshop_audit_report", docs/audit-playbook.md).
Issue 18, part 1, node-local.

Every test runs tokens of several classes and subjects through a real
gateway (two workers, one zone), then reads the report and checks it names
exactly what those requests granted, exercised and left unused.
"""

import json

import pytest

from microshop import assert_conf_refused, mint, problem, wait_for

# the report waits for the store (USAGE_GET): the deferred test store
# answers it later, so the suite runs on both

HTTP_CONF = """
    microshop_jwt_key %(ec)s kid=k1;
    microshop_token_class default max_ttl=1h;
    microshop_token_class pos max_ttl=1h
        scopes=inventory:read,orders:write;
    microshop_token_class staff max_ttl=15m
        scopes=inventory:read,inventory:write,orders:write,refunds:issue;

    server {
        listen 127.0.0.1:%(port)d;

        location ~ ^/v1/sellers/(?<seller>[^/]+)/inventory/ {
            microshop_auth on;
            microshop_require_scope GET,HEAD inventory:read;
            microshop_require_scope PUT inventory:write;
            microshop_seller $seller;
            proxy_pass http://127.0.0.1:%(backend)d;
        }

        location ~ ^/v1/sellers/(?<seller>[^/]+)/fulfilments {
            microshop_auth on;
            microshop_require_scope POST orders:write;
            microshop_seller $seller;
            proxy_pass http://127.0.0.1:%(backend)d;
        }

        location = /audit {
            microshop_audit_report %(args)s;
        }

        location = /audit-top {
            microshop_audit_report subjects=%(top)d;
        }
    }
"""


def http_conf(n, keys, backend, args="", top=2):
    return HTTP_CONF % {"ec": keys.ec256_public_pem, "port": n.port,
                        "backend": backend.port, "args": args, "top": top}


def token(keys, sub, cls, scope, seller="s1"):
    return mint(keys, kid="k1", sub=sub, seller=seller, token_class=cls,
                scope=scope, ttl=600)


def admin_token(keys):
    return mint(keys, kid="k1", sub="auditor", seller=None,
                scope="microshop:admin", ttl=600)


def report(n, keys, path="/audit"):
    r = n.get(path, token=admin_token(keys))
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/json"
    return r.json()


def by_class(doc):
    return {c["class"]: c for c in doc["classes"]}


def by_sub(doc):
    return {(s["sub"], s["seller"]): s for s in doc["subjects"]}


def sets(entry):
    return (set(entry["granted"]), set(entry["exercised"]),
            set(entry["unused"]))


def run_traffic(n, keys):
    """Known traffic: what it granted and exercised is in the asserts."""
    pos1 = token(keys, "pos-1", "pos", "inventory:read orders:write")
    for _ in range(3):
        r = n.get("/v1/sellers/s1/inventory/A1", token=pos1)
        assert r.status_code == 200, r.text

    staff1 = token(keys, "staff-1", "staff",
                   "inventory:read inventory:write")
    r = n.request("PUT", "/v1/sellers/s1/inventory/A1", token=staff1,
                  json={"available": 3})
    assert r.status_code < 400, r.text

    # granted inventory:read, tried a write: exercises nothing
    pos2 = token(keys, "pos-2", "pos", "inventory:read", seller="s2")
    r = n.post("/v1/sellers/s2/fulfilments", token=pos2, json={})
    problem(r, "insufficient-scope")

    # the right scope on another seller's route: not exercised either
    r = n.get("/v1/sellers/s1/inventory/A1", token=pos2)
    problem(r, "seller-mismatch")

    # no token at all
    problem(n.get("/v1/sellers/s1/inventory/A1"), "invalid-token")
    problem(n.get("/v1/sellers/s1/inventory/A1", token="x.y.z"),
            "invalid-token")

    return 3 + 1 + 2 + 2


@pytest.fixture(scope="module")
def gateway(nginx, keys, backend):
    n = nginx.new()
    n.start(http_conf(n, keys, backend), workers=2)
    run_traffic(n, keys)
    return n


def settled(n, keys, check, path="/audit"):
    """The report once check(doc) holds: the log phase notes a request
    after its answer went out, in either worker."""
    return wait_for(lambda: (lambda d: d if check(d) else None)(
        report(n, keys, path)), timeout=10, what="the audit report")


def test_classes_granted_exercised_unused(gateway, keys):
    doc = settled(gateway, keys,
                  lambda d: by_class(d).get("pos", {}).get("denials", {})
                  .get("seller_mismatch"))
    assert doc["window"] == 7 * 86400
    classes = by_class(doc)

    assert sets(classes["pos"]) == ({"inventory:read", "orders:write"},
                                    {"inventory:read"}, {"orders:write"})
    assert classes["pos"]["denials"] == {"insufficient_scope": 1,
                                         "seller_mismatch": 1}

    assert sets(classes["staff"]) == ({"inventory:read", "inventory:write"},
                                      {"inventory:write"},
                                      {"inventory:read"})
    assert classes["staff"]["denials"] == {}

    # no verified token: a class of its own, named null, with no scopes
    assert sets(classes[None]) == (set(), set(), set())
    assert classes[None]["denials"] == {"no_token": 1, "invalid_token": 1}


def test_subjects(gateway, keys):
    doc = settled(gateway, keys,
                  lambda d: ("pos-2", "s2") in by_sub(d))
    subs = by_sub(doc)

    s = subs[("pos-1", "s1")]
    assert s["class"] == "pos"
    assert sets(s) == ({"inventory:read", "orders:write"},
                       {"inventory:read"}, {"orders:write"})
    assert s["last_used"].endswith("Z")

    assert sets(subs[("staff-1", "s1")]) == (
        {"inventory:read", "inventory:write"}, {"inventory:write"},
        {"inventory:read"})
    assert sets(subs[("pos-2", "s2")]) == ({"inventory:read"}, set(),
                                           {"inventory:read"})

    # the most traffic first: pos-1 made three requests
    assert s["requests"] == 3
    assert doc["subjects"][0]["sub"] == "pos-1"


def test_least_privilege_names_exactly_the_unused(gateway, keys):
    doc = settled(gateway, keys,
                  lambda d: ("pos-2", "s2") in by_sub(d)
                  and ("auditor", None) in by_sub(d))
    got = sorted(json.dumps(e, sort_keys=True)
                 for e in doc["least_privilege"])
    want = sorted(json.dumps(e, sort_keys=True) for e in [
        {"class": "pos", "unused": ["orders:write"], "why": "not_exercised"},
        {"class": "staff", "unused": ["inventory:read"],
         "why": "not_exercised"},
        {"sub": "pos-1", "seller": "s1", "class": "pos",
         "unused": ["orders:write"], "why": "not_exercised"},
        {"sub": "staff-1", "seller": "s1", "class": "staff",
         "unused": ["inventory:read"], "why": "not_exercised"},
        {"sub": "pos-2", "seller": "s2", "class": "pos",
         "unused": ["inventory:read"], "why": "not_exercised"},
        # the staff ceiling allows refunds:issue; no route requires it
        {"class": "staff", "unused": ["refunds:issue"],
         "why": "no_route_requires"},
    ])
    assert got == want

    # the auditor's own token used its one scope on the report
    auditor = by_sub(doc)[("auditor", None)]
    assert auditor["class"] == "default"
    assert sets(auditor) == ({"microshop:admin"}, {"microshop:admin"},
                             set())


def test_one_node_on_its_own(gateway, keys):
    """No microshop_redis: the report is this node's, and says so."""
    doc = report(gateway, keys)
    assert doc["nodes"] == {"merged": 1, "skipped": 0, "shared": False}


def test_counts_are_summed_over_workers(gateway, keys):
    """Many requests on fresh connections reach both workers: every
    denial and every request is counted once, in the one zone."""
    t = token(keys, "counter", "pos", "orders:write")
    before = by_class(report(gateway, keys))["pos"]["denials"] \
        .get("insufficient_scope", 0)
    for _ in range(40):
        problem(gateway.get("/v1/sellers/s1/inventory/A1", token=t),
                "insufficient-scope")
    doc = settled(gateway, keys,
                  lambda d: by_class(d)["pos"]["denials"]
                  .get("insufficient_scope", 0) >= before + 40)
    assert by_class(doc)["pos"]["denials"]["insufficient_scope"] \
        == before + 40
    assert by_sub(doc)[("counter", "s1")]["requests"] == 40


def test_top_subjects_and_the_rest_folded(nginx, keys, backend):
    """subjects=2 everywhere: the zone keeps two subjects; a new one takes
    the place of the one with the least traffic, whose use is folded into
    "others".  One worker, so that each request is noted before the next
    is read: the order of the notes is the order of the requests."""
    n = nginx.new()
    n.start(http_conf(n, keys, backend, args="subjects=2", top=2))
    a = token(keys, "a", "pos", "inventory:read")
    b = token(keys, "b", "pos", "inventory:read orders:write")
    c = token(keys, "c", "pos", "orders:write")
    for _ in range(5):
        assert n.get("/v1/sellers/s1/inventory/A1", token=a).status_code == 200
    for _ in range(3):
        assert n.get("/v1/sellers/s1/inventory/A1", token=b).status_code == 200

    doc = report(n, keys)
    assert [(s["sub"], s["requests"]) for s in doc["subjects"]] \
        == [("a", 5), ("b", 3)]
    assert doc["kept"]["subjects_folded"] == 0

    # the auditor's read took b's place (3 < 5); c takes the auditor's
    assert n.post("/v1/sellers/s1/fulfilments", token=c, json={}).status_code \
        < 400

    doc = report(n, keys)
    assert {s["sub"] for s in doc["subjects"]} == {"a", "c"}
    assert by_sub(doc)[("c", "s1")]["requests"] == 1
    assert doc["kept"]["subjects_folded"] == 2
    assert sets(doc["others"]) == (
        {"inventory:read", "orders:write", "microshop:admin"},
        {"inventory:read", "microshop:admin"}, {"orders:write"})
    # the class still sums everyone
    pos = by_class(doc)["pos"]
    assert sets(pos) == ({"inventory:read", "orders:write"},
                         {"inventory:read", "orders:write"}, set())
    # b's unused orders:write is not lost for the class: c used it
    assert {"class": "pos", "unused": ["orders:write"],
            "why": "not_exercised"} not in doc["least_privilege"]


def test_top_n_of_a_location(gateway, keys):
    """A location's subjects= limits its answer, not what is kept."""
    doc = settled(gateway, keys, lambda d: len(d["subjects"]) >= 4)
    top = report(gateway, keys, "/audit-top")
    assert len(top["subjects"]) == 2
    assert [s["sub"] for s in top["subjects"]] \
        == [s["sub"] for s in doc["subjects"][:2]]


def test_who_may_read_it(gateway, keys):
    problem(gateway.get("/audit"), "invalid-token")
    t = token(keys, "pos-1", "pos", "inventory:read")
    problem(gateway.get("/audit", token=t), "insufficient-scope")
    r = gateway.post("/audit", token=admin_token(keys), json={})
    problem(r, "method-not-allowed")
    assert r.headers["Allow"] == "GET, HEAD"
    r = gateway.request("HEAD", "/audit", token=admin_token(keys))
    assert r.status_code == 200 and r.content == b""


def test_report_survives_a_reload(nginx, keys, backend):
    n = nginx.new()
    conf = http_conf(n, keys, backend)
    n.start(conf)
    t = token(keys, "kept", "pos", "inventory:read")
    assert n.get("/v1/sellers/s1/inventory/A1", token=t).status_code == 200
    settled(n, keys, lambda d: ("kept", "s1") in by_sub(d))
    n.reload(conf)
    assert ("kept", "s1") in by_sub(report(n, keys))
    # fewer subjects kept: another layout, made afresh
    n.reload(http_conf(n, keys, backend, args="subjects=5"))
    wait_for(lambda: ("kept", "s1") not in by_sub(report(n, keys)),
             what="the zone made afresh")


@pytest.mark.parametrize("args,needle", [
    ("window=abc", 'invalid "window=abc": a time from 1m to 31d'),
    ("window=32d", 'invalid "window=32d"'),
    ("window=10s", 'invalid "window=10s"'),
    ("subjects=0", 'invalid "subjects=0"'),
    ("subjects=100001", 'invalid "subjects=100001"'),
    ("top=3", 'invalid parameter "top=3"'),
])
def test_bad_arguments_refused(nginx, keys, backend, args, needle):
    n = nginx.new()
    rc, err, line = n.test_config_at(http_conf(n, keys, backend, args=args),
                                     "microshop_audit_report " + args)
    assert_conf_refused(rc, err, line, '"microshop_audit_report"', needle)


@pytest.mark.parametrize("body,needle", [
    ("microshop_auth off;\n microshop_audit_report;",
     'cannot be used with "microshop_auth off"'),
    ("microshop_require_scope GET x;\n microshop_audit_report;",
     'must come before "microshop_require_scope"'),
    ("microshop_audit_report;\n microshop_audit_report;", "is duplicate"),
    ("microshop_policy;\n microshop_audit_report;",
     "conflicts with another content handler"),
])
def test_bad_places_refused(nginx, keys, backend, body, needle):
    n = nginx.new()
    conf = ("microshop_jwt_key %s kid=k1;\nserver {\n listen 127.0.0.1:%d;\n"
            " location = /a {\n %s\n }\n}\n"
            % (keys.ec256_public_pem, n.port, body))
    rc, err, line = n.test_config_at(conf, "microshop_audit_report;")
    if "duplicate" in needle:
        line = None
    assert_conf_refused(rc, err, line, '"microshop_audit_report"', needle)
