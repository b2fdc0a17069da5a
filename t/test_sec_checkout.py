"""The checkout the edge counts is the checkout the backend reads (issue 10
item 5).

A body whose meaning depends on the parser -- a member twice, "Quantity"
next to "quantity", "\\u017fku" that Go's encoding/json reads as "sku", an
item member the edge does not read, a quantity that is not a plain integer,
a body the backend would not read as JSON -- is 400 invalid-checkout: the
backend receives nothing and no stock is held (docs/inventory.md
"Checkout bodies")."""

import hashlib
import json

import pytest

from microshop import mint, problem, raw_http

CONF = """
microshop_zone name=shop size=8m;
microshop_jwt_key %(ec_pub)s kid=k1;

server {
    listen 127.0.0.1:%(port)d;

    location /admin/ { microshop_admin; }

    location ~ ^/v1/sellers/(?<seller>[^/]+)/checkout$ {
        microshop_auth on;
        microshop_seller $seller;
        microshop_require_scope POST orders:write;
        microshop_reserve on hold=30s;
        proxy_pass http://127.0.0.1:%(backend)d;
    }
}
"""

URL = "/v1/sellers/s1/checkout"
ROUTE = "POST " + URL
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def gw(nginx, keys, backend):
    n = nginx.new()
    n.start(CONF % {"port": n.port, "backend": backend.port,
                    "ec_pub": keys.ec256_public_pem})
    return n


def buyer(keys):
    return mint(keys, kid="k1", seller="s1", scope="orders:write")


def admin(keys):
    return mint(keys, kid="k1", scope="microshop:admin", seller=None)


def set_stock(gw, keys, sku, n):
    r = gw.request("PUT", "/admin/stock/s1/" + sku, token=admin(keys),
                   json={"available": n})
    assert r.status_code == 204, r.text


def stock(gw, keys, sku):
    r = gw.get("/admin/stock/s1/" + sku, token=admin(keys))
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def drop(gw, keys, clean):
    """3 units of s1/A1 and 5 of s1/B2 at the edge."""
    set_stock(gw, keys, "A1", 3)
    set_stock(gw, keys, "B2", 5)


def assert_untouched(gw, keys, backend):
    assert backend.count(ROUTE) == 0
    assert stock(gw, keys, "A1") == {"available": 3, "held": 0}
    assert stock(gw, keys, "B2") == {"available": 5, "held": 0}


def refused(r, detail):
    assert r.status_code == 400, r.text
    doc = problem(r, "invalid-checkout")
    assert detail in doc["detail"], doc
    return doc


# (body, a part of the detail): every spelling of every attack class
ONE = '{"sku":"A1","quantity":1}'
ATTACKS = [
    # the headline: 120 units through for a stock of 3
    ('{"items":[{"sku":"A1","quantity":1,"Quantity":120}]}',
     'spells "sku" or "quantity"'),
    ('{"items":[{"sku":"A1","quantity":1}],'
     '"Items":[{"sku":"A1","quantity":120}]}', 'spells "items"'),
    ('{"items":[{"sku":"B2","quantity":1,"SKU":"A1","Quantity":120}]}',
     'spells "sku" or "quantity"'),

    # a member twice, however it is written
    ('{"items":[%s],"items":[{"sku":"A1","quantity":120}]}' % ONE, "twice"),
    ('{"items":[%s],"it\\u0065ms":[{"sku":"A1","quantity":120}]}' % ONE,
     "twice"),
    ('{"items":[{"sku":"A1","quantity":1,"quantity":120}]}', "twice"),
    ('{"items":[{"sku":"A1","quantity":1,"quantit\\u0079":120}]}', "twice"),
    ('{"items":[{"sku":"B2","s\\u006bu":"A1","quantity":1}]}', "twice"),
    ('{"items":[%s],"note":"a","note":"b"}' % ONE, "twice"),
    ('{"items":[%s],"customer":{"id":1,"id":2}}' % ONE, "twice"),

    # "items" in another spelling
    ('{"Items":[%s]}' % ONE, 'spells "items"'),
    ('{"ITEMS":[%s]}' % ONE, 'spells "items"'),
    ('{"iTEMs":[],"items":[%s]}' % ONE, 'spells "items"'),
    ('{"items":[%s],"item\\u017f":[]}' % ONE, 'spells "items"'),
    ('{"items":[%s],"item\u017f":[]}' % ONE, 'spells "items"'),
    ('{"items":[%s],"\\u0131tems":[]}' % ONE, 'spells "items"'),
    ('{"items":[%s],"\\u0130TEMS":[]}' % ONE, 'spells "items"'),
    ('{"items":[%s],"_items":[]}' % ONE, 'spells "items"'),
    ('{"items":[%s],"it-ems":[]}' % ONE, 'spells "items"'),

    # "sku" and "quantity" in another spelling
    ('{"items":[{"sku":"A1","QUANTITY":120}]}', 'spells "sku" or "quantity"'),
    ('{"items":[{"sku":"A1","quantity":1,"quant\\u0131ty":120}]}',
     'spells "sku" or "quantity"'),
    ('{"items":[{"sku":"A1","quantity":1,"quantity_":120}]}',
     'spells "sku" or "quantity"'),
    ('{"items":[{"sku":"B2","Sku":"A1","quantity":1}]}',
     'spells "sku" or "quantity"'),
    ('{"items":[{"sku":"B2","\\u017fku":"A1","quantity":1}]}',
     'spells "sku" or "quantity"'),
    ('{"items":[{"sku":"B2","\u017fku":"A1","quantity":1}]}',
     'spells "sku" or "quantity"'),
    ('{"items":[{"sku":"B2","s\\u212au":"A1","quantity":1}]}',
     'spells "sku" or "quantity"'),
    ('{"items":[{"sku":"B2","s\u212au":"A1","quantity":1}]}',
     'spells "sku" or "quantity"'),
    ('{"items":[{"s_k_u":"A1","quantity":1}]}', 'spells "sku" or "quantity"'),

    # an item holds "sku" and "quantity" and nothing else
    ('{"items":[{"sku":"A1","quantity":1,"qty":120}]}',
     'only "sku" and "quantity"'),
    ('{"items":[{"sku":"A1","quantity":1,"count":120}]}',
     'only "sku" and "quantity"'),
    ('{"items":[{"sku":"A1","quantity":1,"price":0}]}',
     'only "sku" and "quantity"'),
    ('{"items":[{"sku":"A1","quantity":1,"note":"gift"}]}',
     'only "sku" and "quantity"'),

    # a quantity is a plain positive integer
    ('{"items":[{"sku":"A1","quantity":3.0}]}', 'integer "quantity"'),
    ('{"items":[{"sku":"A1","quantity":3e0}]}', 'integer "quantity"'),
    ('{"items":[{"sku":"A1","quantity":1E2}]}', 'integer "quantity"'),
    ('{"items":[{"sku":"A1","quantity":"3"}]}', 'integer "quantity"'),
    ('{"items":[{"sku":"A1","quantity":true}]}', 'integer "quantity"'),
    ('{"items":[{"sku":"A1","quantity":null}]}', 'integer "quantity"'),
    ('{"items":[{"sku":"A1","quantity":[3]}]}', 'integer "quantity"'),
    ('{"items":[{"sku":"A1","quantity":0}]}', "positive"),
    ('{"items":[{"sku":"A1","quantity":-0}]}', "positive"),
    ('{"items":[{"sku":"A1","quantity":-3}]}', "positive"),
    ('{"items":[{"sku":"A1","quantity":9223372036854775807}]}', "positive"),
    ('{"items":[{"sku":"A1","quantity":600000},'
     '{"sku":"A1","quantity":600000}]}', "positive"),
    ('{"items":[{"sku":"A1","quantity":18446744073709551736}]}',
     "not valid JSON"),
    ('{"items":[{"sku":"A1","quantity":1e400}]}', "not valid JSON"),
    ('{"items":[{"sku":"A1","quantity":03}]}', "not valid JSON"),
    ('{"items":[{"sku":"A1","quantity":+3}]}', "not valid JSON"),
    ('{"items":[{"sku":"A1","quantity":0x3}]}', "not valid JSON"),
    ('{"items":[{"sku":"A1","quantity":NaN}]}', "not valid JSON"),

    # a sku is text without control characters
    ('{"items":[{"sku":"A1\\t","quantity":1}]}', "control"),
    ('{"items":[{"sku":"A1\\u007f","quantity":1}]}', "control"),
    ('{"items":[{"sku":"","quantity":1}]}', "control"),
    ('{"items":[{"sku":"A1\\u0000","quantity":1}]}', "not valid JSON"),
    ('{"items":[{"sku":["A1"],"quantity":1}]}', '"sku" string'),

    # items, and the document itself
    ('{"items":[[%s]]}' % ONE, "must be an object"),
    ('{"items":[%s,"A1"]}' % ONE, "must be an object"),
    ('{"items":{"sku":"A1","quantity":1}}', '"items" must be'),
    ('[{"items":[%s]}]' % ONE, "not a JSON object"),
    ('{"items":[%s]}{"items":[%s]}' % (ONE, ONE), "not valid JSON"),
    ('\ufeff{"items":[%s]}' % ONE, "not valid JSON"),
    ('{"items":[{"sku":"A1\\ud800","quantity":1}]}', "not valid JSON"),
]


@pytest.mark.parametrize("body,detail", ATTACKS,
                         ids=["%02d" % i for i in range(len(ATTACKS))])
def test_attack_body_is_refused(gw, keys, backend, drop, body, detail):
    r = gw.post(URL, token=buyer(keys), data=body.encode(), headers=JSON)
    refused(r, detail)
    assert_untouched(gw, keys, backend)


def test_invalid_utf8_is_refused(gw, keys, backend, drop):
    for body in (b'{"items":[{"sku":"A1\xff","quantity":1}]}',
                 b'{"items":[{"sku":"A1","quantity":1}],"n\xc0\xaf":1}',
                 b'{"items":[{"sku":"A1","quantity":1}],"\xed\xa0\x80":1}'):
        r = gw.post(URL, token=buyer(keys), data=body, headers=JSON)
        refused(r, "not valid JSON")
    assert_untouched(gw, keys, backend)


# Content-Type values a backend would not read as JSON
MEDIA_TYPES = [
    None,
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "text/plain",
    "text/json",
    "application/json5",
    "application/jsonl",
    "application/problem+json",
    "application/json, text/plain",
]


@pytest.mark.parametrize("media_type", MEDIA_TYPES)
def test_body_not_sent_as_json_is_refused(gw, keys, backend, drop,
                                          media_type):
    # a valid JSON checkout that also reads as a form: items[0][quantity]=120
    body = ('{"items":[%s],"x":"&items[0][sku]=A1&items[0][quantity]=120'
            '&z="}' % ONE)
    headers = {} if media_type is None else {"Content-Type": media_type}
    r = gw.post(URL, token=buyer(keys), data=body.encode(), headers=headers)
    refused(r, "Content-Type")
    assert_untouched(gw, keys, backend)


def raw_checkout(gw, keys, headers, body):
    head = ("POST %s HTTP/1.1\r\nHost: localhost\r\n"
            "Authorization: Bearer %s\r\nContent-Length: %d\r\n%s"
            "Connection: close\r\n\r\n" % (URL, buyer(keys), len(body),
                                           "".join(h + "\r\n"
                                                   for h in headers)))
    return raw_http(gw, head.encode() + body)


def test_two_content_types_or_an_encoding_are_refused(gw, keys, backend,
                                                      drop):
    body = ('{"items":[%s]}' % ONE).encode()
    for headers in (["Content-Type: application/json",
                     "Content-Type: application/x-www-form-urlencoded"],
                    ["Content-Type: application/x-www-form-urlencoded",
                     "Content-Type: application/json"],
                    ["Content-Type: application/json",
                     "Content-Type: application/json"],
                    ["Content-Type: application/json",
                     "Content-Encoding: gzip"],
                    ["Content-Type: application/json",
                     "Content-Encoding: identity"]):
        answer = raw_checkout(gw, keys, headers, body)
        head, _, payload = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 "), (headers, answer)
        assert b"application/problem+json" in head, answer
        doc = json.loads(payload)
        assert doc["type"] == "urn:problem:microshop:invalid-checkout", doc
        assert "Content-" in doc["detail"], doc
    assert_untouched(gw, keys, backend)


# legitimate checkouts: the same rules let them through, byte for byte
LEGIT = [
    ('{"items":[{"sku":"A1","quantity":3}]}', {"A1": 3}),
    ('{"items":[{"quantity":2,"sku":"A1"},{"sku":"B2","quantity":5}]}',
     {"A1": 2, "B2": 5}),
    # lines of one SKU add up, however the SKU is escaped
    ('{"items":[{"sku":"A1","quantity":1},{"sku":"A\\u0031","quantity":2}]}',
     {"A1": 3}),
    # other top-level members reach the backend unread
    ('{"items":[{"sku":"A1","quantity":1}],"note":"ring twice",'
     '"customer":{"Items":[{"sku":"A1","quantity":120}]},"items2":[],'
     '"shipping":{"city":"Ko\u0142obrzeg"}}', {"A1": 1}),
    (' \n{ "items" : [ { "sku" : "B2" , "quantity" : 4 } ] }\n ', {"B2": 4}),
]


@pytest.mark.parametrize("body,held", LEGIT,
                         ids=["%d" % i for i in range(len(LEGIT))])
@pytest.mark.parametrize("media_type", ["application/json",
                                        "Application/JSON; charset=utf-8"])
def test_legit_checkout_passes(gw, keys, backend, drop, body, held,
                               media_type):
    data = body.encode()
    r = gw.post(URL, token=buyer(keys), data=data,
                headers={"Content-Type": media_type})
    assert r.status_code == 201, r.text
    assert backend.count(ROUTE) == 1
    sent = backend.requests(1)[-1]
    assert sent["body_sha256"] == hashlib.sha256(data).hexdigest()
    for sku, start in (("A1", 3), ("B2", 5)):
        assert stock(gw, keys, sku) == {"available": start
                                        - held.get(sku, 0), "held": 0}


def test_stock_of_three_lets_three_through(gw, keys, backend, drop):
    t = buyer(keys)
    r = gw.post(URL, token=t, headers=JSON,
                data=b'{"items":[{"sku":"A1","quantity":1,"Quantity":120}]}')
    refused(r, '"quantity"')
    for _ in range(3):
        r = gw.post(URL, token=t, json={"items": [{"sku": "A1",
                                                   "quantity": 1}]})
        assert r.status_code == 201, r.text
    r = gw.post(URL, token=t, json={"items": [{"sku": "A1", "quantity": 1}]})
    assert r.status_code == 409
    assert problem(r, "out-of-stock")["skus"] == ["A1"]
    assert backend.count(ROUTE) == 3
    assert stock(gw, keys, "A1") == {"available": 0, "held": 0}
