"""The reference backend itself: shop API, control API, webhook signing."""

import hashlib
import http.server
import json
import subprocess
import threading
import time

import pytest

from microshop import (BACKEND_PY, PYTHON, free_port, http_session,
                       sign_webhook)


@pytest.fixture
def shop(backend):
    backend.reset()
    with http_session() as session:
        yield backend, session
    backend.reset()


def test_inventory_get_put_patch(shop):
    backend, http = shop
    url = backend.url("/v1/sellers/s1/inventory/A1")
    r = http.get(url)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["ETag"] == '"v1"'
    assert r.json() == {"seller": "s1", "sku": "A1", "name": "Alpha tee",
                        "available": 10, "price": 1999, "version": 1}
    assert http.get(url, headers={"If-None-Match": '"v1"'}).status_code == 304

    r = http.patch(url, json={"available": 4})
    assert r.status_code == 200 and r.headers["ETag"] == '"v2"'
    assert r.json()["name"] == "Alpha tee" and r.json()["available"] == 4

    r = http.put(url, json={"name": "New tee", "available": 1})
    assert r.json() == {"seller": "s1", "sku": "A1", "name": "New tee",
                        "available": 1, "price": 0, "version": 3}

    r = http.put(backend.url("/v1/sellers/s1/inventory/NEW"),
                 json={"available": 2})
    assert r.status_code == 201 and r.json()["version"] == 1
    assert http.get(backend.url("/v1/sellers/s9/inventory/A1")) \
        .status_code == 404
    assert http.patch(backend.url("/v1/sellers/s9/inventory/A1"),
                      json={}).status_code == 404
    assert http.put(url, json={"available": -1}).status_code == 400


def test_checkout_decrements_and_refuses_oversell(shop):
    backend, http = shop
    url = backend.url("/v1/sellers/s1/checkout")
    r = http.post(url, json={"items": [{"sku": "A1", "quantity": 2},
                                       {"sku": "B2", "quantity": 5}]})
    assert r.status_code == 201
    order = r.json()
    assert order["status"] == "created" and order["seller"] == "s1"
    assert r.headers["Location"] == \
        "/v1/sellers/s1/orders/" + order["order_id"]
    assert backend.item("s1", "A1")["available"] == 8
    assert backend.item("s1", "B2")["available"] == 0
    assert http.get(backend.url(r.headers["Location"])).json() == order

    r = http.post(url, json={"items": [{"sku": "A1", "quantity": 1},
                                       {"sku": "B2", "quantity": 1}]})
    assert r.status_code == 409
    assert [i["sku"] for i in r.json()["items"]] == ["B2"]
    assert backend.item("s1", "A1")["available"] == 8  # all or nothing

    for body in ({"items": []}, {"items": [{"sku": "A1", "quantity": 0}]},
                 {"items": [{"sku": "A1", "quantity": "1"}]}, {}):
        assert http.post(url, json=body).status_code == 400
    assert http.post(url, data=b"not json").status_code == 400


def test_concurrent_checkouts_never_oversell(shop):
    backend, _ = shop
    statuses = []

    def buy():
        with http_session() as http:
            r = http.post(backend.url("/v1/sellers/s2/checkout"),
                          json={"items": [{"sku": "D4", "quantity": 1}]})
            statuses.append(r.status_code)

    threads = [threading.Thread(target=buy) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses.count(201) == 3 and statuses.count(409) == 9
    assert backend.item("s2", "D4")["available"] == 0


def test_fulfilment_echo_and_big(shop):
    backend, http = shop
    r = http.post(backend.url("/v1/sellers/s1/fulfilments"), json={})
    assert r.status_code == 201 and r.json()["id"].startswith("ful_")

    body = b"x" * 1000
    r = http.post(backend.url("/v1/echo/a/b?q=1"), data=body,
                  headers={"X-Test": "yes"})
    echo = r.json()
    assert echo["method"] == "POST" and echo["path"] == "/v1/echo/a/b"
    assert echo["query"] == "q=1" and echo["headers"]["x-test"] == "yes"
    assert echo["body_len"] == 1000
    assert echo["body_sha256"] == hashlib.sha256(body).hexdigest()

    r = http.get(backend.url("/v1/big?size=200000"))
    assert len(r.content) == 200000 and r.json()["data"].startswith("xxx")


def test_stats_and_records(shop):
    backend, http = shop
    http.get(backend.url("/v1/sellers/s1/inventory/A1?x=1"))
    http.get(backend.url("/v1/sellers/s1/inventory/A1"))
    http.post(backend.url("/v1/echo/z"), data=b"abc",
              headers={"Idempotency-Key": "k1"})
    stats = backend.stats()
    assert stats["requests_total"] == 3
    assert stats["by_route"] == {"GET /v1/sellers/s1/inventory/A1": 2,
                                 "POST /v1/echo/z": 1}
    assert backend.count("GET /v1/sellers/s1/inventory/A1") == 2

    records = backend.requests(limit=2)
    assert [r["path"] for r in records] == ["/v1/sellers/s1/inventory/A1",
                                            "/v1/echo/z"]
    last = records[-1]
    assert last["method"] == "POST" and last["body_len"] == 3
    assert last["headers"]["idempotency-key"] == "k1"
    assert last["body_sha256"] == hashlib.sha256(b"abc").hexdigest()

    backend.reset()
    assert backend.stats() == {"requests_total": 0, "by_route": {}}


def test_mode_status_down_delay(shop):
    backend, http = shop
    backend.mode(status=503, path_prefix="/v1/sellers/s1/checkout")
    r = http.post(backend.url("/v1/sellers/s1/checkout"),
                  json={"items": [{"sku": "A1", "quantity": 1}]})
    assert r.status_code == 503
    assert backend.item("s1", "A1")["available"] == 10
    assert http.get(backend.url("/v1/sellers/s1/inventory/A1")) \
        .status_code == 200  # outside path_prefix

    backend.mode(down=True)
    with pytest.raises(Exception):
        http.get(backend.url("/v1/echo/"))
    assert backend.count("GET /v1/echo/") == 1  # recorded all the same

    backend.mode(delay=0.3)
    start = time.monotonic()
    assert http.get(backend.url("/v1/echo/")).status_code == 200
    assert time.monotonic() - start >= 0.3

    backend.mode()
    start = time.monotonic()
    assert http.get(backend.url("/v1/echo/")).status_code == 200
    assert time.monotonic() - start < 0.3


class Receiver(http.server.ThreadingHTTPServer):
    """A tiny webhook receiver remembering what it got."""

    def __init__(self):
        self.received = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                self.send_response(202)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", free_port()), Handler)


@pytest.fixture
def receiver():
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    yield server
    server.shutdown()
    thread.join()
    server.server_close()


def test_webhook_signing_round_trip(backend, receiver, tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_bytes(b"s3cret\r\n")  # trailing CR/LF is not secret
    url = "http://127.0.0.1:%d/events" % receiver.server_address[1]
    event = {"id": "evt_1", "type": "inventory.updated", "seller": "s1",
             "sku": "A1", "available": 3, "version": 9}

    result = backend.send_webhook(url, str(secret_file), event)
    assert result["status"] == 202 and result["body"] == "ok"
    headers, body = receiver.received[-1]
    assert json.loads(body) == event
    header = headers["Microshop-Signature"]
    t = int(header.split(",")[0][2:])
    assert abs(t - time.time()) < 5
    assert header == sign_webhook(b"s3cret", body, t) == result["signature"]

    backend.send_webhook(url, str(secret_file), event, timestamp=1000)
    headers, body = receiver.received[-1]
    assert headers["Microshop-Signature"] == sign_webhook(b"s3cret", body,
                                                          1000)

    backend.send_webhook(url, str(secret_file), event, signature="",
                         body="{bad")
    headers, body = receiver.received[-1]
    assert "Microshop-Signature" not in headers and body == b"{bad"

    body_file = tmp_path / "body"
    body_file.write_bytes(b'{"id":"evt_2"}')
    cli = subprocess.run(
        [PYTHON, BACKEND_PY, "sign", "--secret-file", str(secret_file),
         "--body-file", str(body_file), "--timestamp", "1700000000"],
        capture_output=True, text=True, check=True)
    assert cli.stdout.strip() == sign_webhook(b"s3cret", b'{"id":"evt_2"}',
                                              1700000000)
