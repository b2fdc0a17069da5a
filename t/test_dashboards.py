"""The Grafana dashboard and the Prometheus alerts (issue 17 part 3):
docs/grafana/microshop.json and docs/prometheus/alerts.yml
(docs/operations.md "Dashboards and alerts").

  - promtool (Debian's prometheus package) checks the rules, runs their
    unit tests (docs/prometheus/alerts_test.yml: each alert fires on the
    series it should, and not on the others) and parses every panel's
    query as a rule;
  - the dashboard is one Grafana imports: a schemaVersion, a datasource
    variable every panel reads through, a query in every panel;
  - every metric name, and every label value a query matches, is on the
    status page of a real gateway with everything that has metrics turned
    on (rate limits, idempotency, the inventory cache, reservations, the
    token cache, webhooks, microshop_events_out and microshop_feed,
    microshop_redis on a redis-server of its own), after a few requests;
  - the dashboard covers what an operator watches during a drop, and the
    alerts are the ones the issue asks for.
"""

import json
import os
import re
import shutil
import subprocess
import time
import uuid

import pytest
import yaml

import redisnodes
from microshop import mint, set_stock, sign_webhook, wait_for

pytestmark = redisnodes.skip_under_deferred()

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DASHBOARD = os.path.join(TOP, "docs", "grafana", "microshop.json")
ALERTS = os.path.join(TOP, "docs", "prometheus", "alerts.yml")
ALERTS_TEST = os.path.join(TOP, "docs", "prometheus", "alerts_test.yml")
OPERATIONS = os.path.join(TOP, "docs", "operations.md")
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

SECRET = b"whsec_dash_" + b"0123456789abcdef" * 2

CONF = """
microshop_zone name=dash size=4m;
microshop_jwt_key %(ec_pub)s kid=k1;
microshop_events_out size=256k;
%(redis)s

microshop_rate_tier default rate=100r/s burst=2;

server {
    listen 127.0.0.1:%(port)d;

    location = /status { microshop_status; }

    location /admin/ { microshop_admin; }

    location = /events { microshop_events secret=%(secret)s; }

    location ~ ^/v1/sellers/(?<seller>[^/]+)/feed$ {
        microshop_seller $seller;
        microshop_feed heartbeat=1s;
    }

    location ~ ^/v1/sellers/(?<seller>[^/]+)/checkout$ {
        microshop_auth on;
        microshop_seller $seller;
        microshop_rate_limit on;
        microshop_idempotency on;
        microshop_reserve on hold=30s;
        proxy_pass http://127.0.0.1:%(backend)d;
    }

    location ~ ^/v1/sellers/(?<seller>[^/]+)/inventory/(?<sku>[^/]+)$ {
        microshop_auth on;
        microshop_seller $seller;
        microshop_rate_limit on;
        microshop_inventory_cache sku=$sku ttl=60s;
        proxy_pass http://127.0.0.1:%(backend)d;
    }
}
"""

METRIC = re.compile(r"\bmicroshop_[a-z0-9_]+")
SAMPLE = re.compile(r"^(microshop_[a-z0-9_]+)(?:\{([^}]*)\})? \S+$", re.M)
LABEL = re.compile(r'([a-z_]+)="((?:[^"\\]|\\.)*)"')
# a selector of a query: a metric and its matchers
SELECTOR = re.compile(r"\b(microshop_[a-z0-9_]+)\{([^}]*)\}")
MATCHER = re.compile(r'\s*([a-z_]+)\s*(=~|!~|!=|=)\s*"([^"]*)"\s*')

# Grafana's variables, as a query sent to Prometheus has them
GRAFANA_VARS = (("$__rate_interval", "1m"), ("$instance", ".*"))


def load_dashboard():
    with open(DASHBOARD) as f:
        return json.load(f)


def load_rules():
    with open(ALERTS) as f:
        doc = yaml.safe_load(f)
    return [rule for group in doc["groups"] for rule in group["rules"]]


def panels(dash):
    """The panels that query (every panel but the rows)."""
    for p in dash["panels"]:
        if p["type"] == "row":
            yield from p.get("panels", [])
        else:
            yield p


def panel_exprs(dash):
    return [t["expr"] for p in panels(dash) for t in p["targets"]]


def alert_exprs():
    return [rule["expr"] for rule in load_rules()]


def promtool(*args):
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True,
                          timeout=60)


def slugs(markdown_path):
    """The anchors of a Markdown file's headings, as GitHub makes them."""
    with open(markdown_path) as f:
        heads = re.findall(r"^#+ (.+)$", f.read(), re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-")
            for h in heads}


# ------------------------------------------------------------ promtool

def test_promtool_checks_the_rules():
    r = promtool("check", "rules", ALERTS)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS: %d rules found" % len(load_rules()) in r.stdout, \
        r.stdout
    assert "WARNING" not in r.stdout + r.stderr, r.stdout + r.stderr


def test_promtool_unit_tests_of_the_alerts():
    r = promtool("test", "rules", ALERTS_TEST)
    assert r.returncode == 0, r.stdout + r.stderr
    with open(ALERTS_TEST) as f:
        tested = {t["alertname"] for test in yaml.safe_load(f)["tests"]
                  for t in test["alert_rule_test"] if t["exp_alerts"]}
    # every alert is shown to fire
    assert tested == {rule["alert"] for rule in load_rules()}


def test_every_panel_query_parses(tmp_path):
    """Each panel's query, with Grafana's variables filled in, is a rule
    promtool accepts."""
    rules = []
    for i, expr in enumerate(panel_exprs(load_dashboard())):
        for var, value in GRAFANA_VARS:
            expr = expr.replace(var, value)
        assert "$" not in expr, expr
        rules.append({"record": "dashboard:panel_%d" % i, "expr": expr})
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard",
                                                "rules": rules}]}))
    r = promtool("check", "rules", str(path))
    assert r.returncode == 0, r.stdout + r.stderr


# ------------------------------------------------------------ shapes

def test_alerts_have_for_severity_and_a_runbook():
    anchors = slugs(OPERATIONS)
    names = set()
    for rule in load_rules():
        name = rule["alert"]
        assert name not in names, name
        names.add(name)
        assert re.fullmatch(r"\d+[smh]", rule.get("for", "")), name
        assert rule["labels"]["severity"] in ("critical", "warning",
                                              "info"), name
        notes = rule["annotations"]
        assert notes["summary"] and notes["description"], name
        doc, _, anchor = notes["runbook"].partition("#")
        assert doc == "docs/operations.md", name
        # the runbook is a heading of its own in docs/operations.md
        assert anchor == name.lower() and anchor in anchors, (name, anchor)


def test_dashboard_is_importable():
    dash = load_dashboard()
    assert isinstance(dash["schemaVersion"], int) and \
        dash["schemaVersion"] >= 30
    assert dash["title"] and dash["uid"]
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["instance"]["datasource"]["uid"] == "${datasource}"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    for p in dash["panels"]:
        grid = p["gridPos"]
        assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0, p["title"]
    found = list(panels(dash))
    assert len(found) > 30
    for p in found:
        assert p["title"], p
        assert p["datasource"] == {"type": "prometheus",
                                   "uid": "${datasource}"}, p["title"]
        assert p["targets"], p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), p["title"]
        for t in p["targets"]:
            assert METRIC.search(t["expr"]), (p["title"], t["expr"])
            # one gateway or all of them
            assert 'instance=~"$instance"' in t["expr"], (p["title"],
                                                          t["expr"])


ROWS = ["Traffic & decisions", "Sellers", "Idempotency", "Inventory cache",
        "Reservations", "Tokens", "Webhooks", "Events feed",
        "Redis and the store", "Zone"]

# the issue's list: what an operator watches during a drop, as the row
# that shows it and a query of that row
COVERS = [
    ("Traffic & decisions", r"microshop_requests_total\{.*\}.*by \(reason\)"
     r"|by \(reason\) \(rate\(microshop_requests_total"),
    ("Sellers", r"microshop_rate_limited_total"),
    ("Sellers", r"topk\("),
    ("Idempotency", r"microshop_idempotency_total"),
    ("Inventory cache", r'microshop_inventory_cache_total\{result=~"hit\|'
     r'stale"'),
    ("Reservations", r'by \(result\) \(rate\(microshop_reservations_total'),
    ("Reservations", r"microshop_reservations_pending"),
    ("Reservations", r"microshop_offline_orders_total"),
    ("Tokens", r"microshop_token_verifications_total"),
    ("Tokens", r"microshop_token_cache_hits_total"),
    ("Webhooks", r'reason="invalid_signature"'),
    ("Events feed", r"microshop_feed_events_total"),
    ("Events feed", r"microshop_feed_dropped_total"),
    ("Events feed", r"microshop_feed_cut_off_total"),
    ("Events feed", r"microshop_feed_subscribers"),
    ("Redis and the store", r"microshop_redis_up"),
    ("Redis and the store", r"histogram_quantile\(0\.99, sum by \(le\) "
     r"\(rate\(microshop_redis_latency_seconds_bucket"),
    ("Redis and the store", r"microshop_redis_errors_total"),
    ("Zone", r"microshop_zone_used_bytes.*/.*microshop_zone_size_bytes"),
    ("Zone", r"by \(instance, zone, kind\) \(microshop_zone_used_bytes"),
    ("Zone", r"microshop_zone_full_total"),
    ("Zone", r"microshop_zone_evictions_total"),
]


def rows_and_exprs(dash):
    """{row title: [the queries of its panels]}, in dashboard order."""
    rows, current = {}, None
    for p in dash["panels"]:
        if p["type"] == "row":
            current = p["title"]
            rows[current] = [t["expr"] for q in p.get("panels", [])
                             for t in q["targets"]]
        else:
            rows[current].extend(t["expr"] for t in p["targets"])
    return rows


def test_dashboard_covers_a_live_drop():
    rows = rows_and_exprs(load_dashboard())
    assert list(rows) == ROWS
    for row, pattern in COVERS:
        assert any(re.search(pattern, e) for e in rows[row]), (row, pattern)
    # verifications and cache hits side by side, in one panel
    dash = load_dashboard()
    assert any(len(p["targets"]) >= 2
               and "microshop_token_verifications_total" in
               p["targets"][0]["expr"]
               and "microshop_token_cache_hits_total" in
               p["targets"][1]["expr"] for p in panels(dash))


ISSUE_ALERTS = {
    # the issue's alerts, and a metric each must read
    "MicroshopDenySpike": 'microshop_requests_total{decision="deny"}',
    "MicroshopZoneNearlyFull": "microshop_zone_size_bytes",
    "MicroshopZoneFull": "microshop_zone_full_total",
    "MicroshopRedisDown": "microshop_redis_up",
    "MicroshopWebhookSignatureFailures": 'reason="invalid_signature"',
    "MicroshopColdTokenStorm": "microshop_token_cache_hits_total",
}


def test_alerts_cover_the_issue():
    rules = {rule["alert"]: rule for rule in load_rules()}
    for name, needle in ISSUE_ALERTS.items():
        assert needle in rules[name]["expr"], name


# ------------------------------------------------------------ a real scrape

@pytest.fixture(scope="module")
def gw(nginx, keys, backend, module_redis):
    n = nginx.new()
    secret = n.write_file("conf/webhook.secret", SECRET + b"\n")
    n.start(CONF % {"port": n.port, "ec_pub": keys.ec256_public_pem,
                    "secret": secret, "backend": backend.port,
                    "redis": redisnodes.directive(module_redis.url)},
            allow_log=[r"microshop redis: "])
    redisnodes.wait_redis_up(n)
    return n


def drive(gw, keys, backend):
    """A few requests of each kind, so that the lines with labels have
    moved."""
    backend.reset()
    seller = "dash-" + uuid.uuid4().hex[:8]
    t = mint(keys, kid="k1", seller=seller, scope="orders:write "
             "inventory:read events:read")
    set_stock(gw, keys, seller, "A1", 1)
    for i in range(2):
        r = gw.post("/v1/sellers/%s/checkout" % seller, token=t,
                    json={"items": [{"sku": "A1", "qty": 1}]},
                    headers={"Idempotency-Key": "k%d-%s" % (i, seller)})
        assert r.status_code < 500, r.text
    for _ in range(4):
        gw.get("/v1/sellers/s1/inventory/A1",
               token=mint(keys, kid="k1", seller="s1"))
    assert gw.get("/v1/sellers/%s/feed" % seller,
                  token=t).status_code == 200
    body = json.dumps({"id": "evt_" + uuid.uuid4().hex,
                       "type": "inventory.updated", "seller": seller,
                       "sku": "B2", "version": 1, "available": 3}).encode()
    for signature in (sign_webhook(SECRET, body, int(time.time())),
                      "t=1,v1=00"):
        gw.post("/events", data=body,
                headers={"Content-Type": "application/json",
                         "Microshop-Signature": signature})


def scrape(gw):
    """{metric name: [{label: value}]} of every sample on the page."""
    r = gw.get("/status")
    assert r.status_code == 200, r.text
    found = {}
    for name, labels in SAMPLE.findall(r.text):
        found.setdefault(name, []).append(dict(LABEL.findall(labels)))
    return found


def used_names():
    return {name for expr in panel_exprs(load_dashboard()) + alert_exprs()
            for name in METRIC.findall(expr)}


def test_every_metric_is_exported(gw, keys, backend):
    drive(gw, keys, backend)
    wait_for(lambda: "microshop_redis_node_up" in scrape(gw),
             what="the per-node lines")
    found = scrape(gw)
    missing = sorted(used_names() - set(found))
    assert not missing, "not on a gateway's /status: %s" % missing


def test_every_matched_label_value_is_exported(gw):
    """A matcher such as reason="invalid_signature" or kind!~"token|..."
    names label values the gateway really prints (or it never matches)."""
    found = scrape(gw)
    for expr in panel_exprs(load_dashboard()) + alert_exprs():
        for name, matchers in SELECTOR.findall(expr):
            for label, op, value in MATCHER.findall(matchers):
                if label == "instance":
                    continue
                seen = {s.get(label) for s in found[name]}
                wanted = value.split("|") if "~" in op else [value]
                for v in wanted:
                    assert v in seen, (expr, name, label, v, seen)


def test_the_zone_ratio_is_on_the_page(gw):
    """What the dashboard and MicroshopZoneNearlyFull divide: a size for
    every zone whose records are counted."""
    found = scrape(gw)
    sizes = {s["zone"] for s in found["microshop_zone_size_bytes"]}
    used = {s["zone"] for s in found["microshop_zone_used_bytes"]}
    assert sizes == used == {"dash", "microshop_events"}
