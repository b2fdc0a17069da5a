"""Zone usage (issue 17 part 4): microshop_zone_size_bytes{zone} and
microshop_zone_used_bytes{zone,kind} on the status page, for the
microshop_zone and the feeds' zone of microshop_events_out
(docs/operations.md "Metrics"), so that the zone-nearly-full alert of
docs/prometheus/alerts.yml has a ratio to read.

  gw        1 worker, microshop_zone name=shop size=2m and
            microshop_events_out size=128k
  (own)     1 worker, the implicit zone and no feed; a zone whose name
            needs escaping
"""

import re

import pytest

from microshop import mint, set_stock, wait_for

CONF = """
%(zone)s
microshop_jwt_key %(ec_pub)s kid=k1;
%(events_out)s

server {
    listen 127.0.0.1:%(port)d;

    location = /status { microshop_status; }

    location /admin/ { microshop_admin; }

    location /protected/ {
        microshop_auth on;
        alias %(prefix)s/html/;
    }
}
"""

KINDS = ("token", "rate", "inventory", "event", "revoked", "idempotency",
         "stock", "hold", "tenant", "watermark", "offline", "feed",
         "feed_event")

SAMPLE = re.compile(r"^([a-z_]+(?:\{[^}]*\})?) (\S+)$", re.M)


def start(nginx, keys, zone="microshop_zone name=shop size=2m;",
          events_out="microshop_events_out size=128k;"):
    n = nginx.new()
    n.write_file("html/a.txt", "a\n")
    n.start(CONF % {"zone": zone, "events_out": events_out,
                    "port": n.port, "prefix": n.prefix,
                    "ec_pub": keys.ec256_public_pem})
    return n


def scrape(n):
    r = n.get("/status")
    assert r.status_code == 200, r.text
    return r.text, {k: float(v) for k, v in SAMPLE.findall(r.text)}


def used(zone, kind):
    return 'microshop_zone_used_bytes{zone="%s",kind="%s"}' % (zone, kind)


@pytest.fixture(scope="module")
def gw(nginx, keys):
    return start(nginx, keys)


def test_size_of_each_zone(gw):
    text, m = scrape(gw)
    assert m['microshop_zone_size_bytes{zone="shop"}'] == 2 * 1024 * 1024
    assert m['microshop_zone_size_bytes{zone="microshop_events"}'] \
        == 128 * 1024
    # one family each, typed, the lines right under their TYPE
    assert text.count("# TYPE microshop_zone_size_bytes gauge\n") == 1
    assert text.count("# TYPE microshop_zone_used_bytes gauge\n") == 1
    assert re.search(r"# TYPE microshop_zone_size_bytes gauge\n"
                     r'microshop_zone_size_bytes\{zone="shop"\} \d+\n'
                     r'microshop_zone_size_bytes\{zone="microshop_events"\}'
                     r" \d+\n# TYPE microshop_zone_used_bytes gauge\n", text)


def test_used_bytes_per_kind_are_the_zone_bytes(gw, keys):
    t = mint(keys, kid="k1")
    assert gw.get("/protected/a.txt", token=t).status_code == 200
    set_stock(gw, keys, "use1", "A1", 5)
    _, m = scrape(gw)
    for kind in KINDS:
        # the microshop_zone's lines are microshop_zone_bytes{kind} again
        assert m[used("shop", kind)] \
            == m['microshop_zone_bytes{kind="%s"}' % kind], kind
        assert used("microshop_events", kind) in m, kind
    assert m[used("shop", "token")] > 0
    assert m[used("shop", "stock")] > 0
    # the usage never goes past the size: the index takes some of it
    for zone in ("shop", "microshop_events"):
        total = sum(m[used(zone, k)] for k in KINDS)
        assert total < m['microshop_zone_size_bytes{zone="%s"}' % zone]


def test_feed_records_are_in_the_feeds_zone(gw, keys):
    before = scrape(gw)[1]
    set_stock(gw, keys, "use2", "A1", 3)

    def grew():
        m = scrape(gw)[1]
        return m[used("microshop_events", "feed_event")] \
            > before[used("microshop_events", "feed_event")]

    wait_for(grew, what="a feed event in the feeds' zone")
    m = scrape(gw)[1]
    assert m[used("microshop_events", "feed")] > 0
    # the microshop_zone holds none of the feeds' records
    assert m[used("shop", "feed")] == m[used("shop", "feed_event")] == 0
    for kind in KINDS:
        if kind not in ("feed", "feed_event"):
            assert m[used("microshop_events", kind)] == 0, kind


def test_implicit_zone_without_feed(nginx, keys):
    n = start(nginx, keys, zone="", events_out="")
    text, m = scrape(n)
    assert m['microshop_zone_size_bytes{zone="microshop"}'] \
        == 10 * 1024 * 1024
    assert "microshop_events" not in text
    assert sorted(k for k in m if k.startswith("microshop_zone_used_bytes")) \
        == sorted(used("microshop", k) for k in KINDS)


def test_zone_name_is_escaped(nginx, keys):
    n = start(nginx, keys, zone='microshop_zone "name=we\\"ird\\\\" '
                                'size=1m;', events_out="")
    text, _ = scrape(n)
    assert 'microshop_zone_size_bytes{zone="we\\"ird\\\\"} 1048576\n' \
        in text
    assert 'microshop_zone_used_bytes{zone="we\\"ird\\\\",kind="token"} ' \
        in text
