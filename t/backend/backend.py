#!/usr/bin/python3
"""Reference backend for the ngx_microshop integration tests (stdlib only).

Serve:  backend.py --port N [--host 127.0.0.1]   (prints "ready <port>")
Sign:   backend.py sign --secret-file F --body-file B [--timestamp T]

Shop API (every request is recorded and counted):
  GET|HEAD|PUT|PATCH /v1/sellers/{seller}/inventory/{sku}
  POST               /v1/sellers/{seller}/checkout
  GET|HEAD           /v1/sellers/{seller}/orders/{id}
  POST               /v1/sellers/{seller}/fulfilments
  any                /v1/echo/...          describes the request it received
  GET|HEAD           /v1/big?size=N        a JSON body of exactly N bytes

Control API (never recorded):
  GET  /__backend/stats                 {"requests_total", "by_route"}
  GET  /__backend/requests?limit=N      most recent records, newest last
  POST /__backend/reset                 forget records, restore the seed
  POST /__backend/mode                  {"status", "delay", "down",
                                         "path_prefix"}; {} clears
  GET|PUT /__backend/inventory/{seller}/{sku}
  POST /__backend/send-webhook          {"url", "secret_file", "event",
                                         "timestamp"?, "signature"?, "body"?}
"""

import argparse
import copy
import hashlib
import hmac
import http.server
import json
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

SEED = [
    {"seller": "s1", "sku": "A1", "name": "Alpha tee", "available": 10,
     "price": 1999},
    {"seller": "s1", "sku": "B2", "name": "Beta mug", "available": 5,
     "price": 899},
    {"seller": "s1", "sku": "C3", "name": "Gamma cap", "available": 0,
     "price": 1499},
    {"seller": "s2", "sku": "A1", "name": "Other tee", "available": 7,
     "price": 2099},
    {"seller": "s2", "sku": "D4", "name": "Delta socks", "available": 3,
     "price": 499},
    {"seller": "drop1", "sku": "X1", "name": "Limited sneaker",
     "available": 100, "price": 17900},
    {"seller": "drop1", "sku": "Y2", "name": "Limited hoodie",
     "available": 20, "price": 8900},
]

MAX_RECORDS = 10000


def sign(secret, body, t):
    """Microshop-Signature header value for body (bytes) at unix time t."""
    mac = hmac.new(secret, str(t).encode() + b"." + body, hashlib.sha256)
    return "t=%d,v1=%s" % (t, mac.hexdigest())


def read_secret(path):
    """A secret file's bytes, without trailing CR/LF."""
    with open(path, "rb") as f:
        return f.read().rstrip(b"\r\n")


def send_webhook(url, secret_file, event, timestamp=None, signature=None,
                 body=None):
    """POST a signed event to url; returns {"status", "body", "signature"}.

    signature=None signs the body, a string is sent as is, "" sends no
    Microshop-Signature header.  body (a string) replaces the JSON event.
    """
    if body is None:
        data = json.dumps(event, separators=(",", ":")).encode()
    else:
        data = body.encode()
    if signature is None:
        t = int(time.time()) if timestamp is None else int(timestamp)
        signature = sign(read_secret(secret_file), data, t)
    headers = {"Content-Type": "application/json"}
    if signature:
        headers["Microshop-Signature"] = signature
    request = urllib.request.Request(url, data=data, headers=headers,
                                     method="POST")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as resp:
            status, text = resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode("utf-8", "replace")
    return {"status": status, "body": text, "signature": signature}


class Shop:
    """Inventory, orders, request records and failure mode, under one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.items = {(i["seller"], i["sku"]): dict(i, version=1)
                          for i in SEED}
            self.orders = {}
            self.next_order = 1
            self.next_fulfilment = 1
            self.records = []
            self.requests_total = 0
            self.by_route = {}
            self.mode = {}

    def record(self, entry):
        with self.lock:
            self.records.append(entry)
            del self.records[:-MAX_RECORDS]
            self.requests_total += 1
            route = entry["method"] + " " + entry["path"]
            self.by_route[route] = self.by_route.get(route, 0) + 1

    def mode_for(self, path):
        with self.lock:
            prefix = self.mode.get("path_prefix")
            if prefix and not path.startswith(prefix):
                return {}
            return dict(self.mode)

    def get_item(self, seller, sku):
        with self.lock:
            item = self.items.get((seller, sku))
            return copy.deepcopy(item)

    def put_item(self, seller, sku, fields, merge):
        """Replace (merge=False) or merge into an item; version + 1.

        Returns (item, created), or (None, False) when merging an unknown item.
        """
        with self.lock:
            old = self.items.get((seller, sku))
            if old is None and merge:
                return None, False
            item = dict(old) if merge else {"name": "", "available": 0,
                                            "price": 0}
            item.update(fields)
            item["seller"], item["sku"] = seller, sku
            item["version"] = (old["version"] if old else 0) + 1
            self.items[(seller, sku)] = item
            return copy.deepcopy(item), old is None

    def set_item(self, seller, sku, fields):
        """Control API: set an item directly (version given, or old + 1)."""
        with self.lock:
            old = self.items.get((seller, sku))
            item = dict(old) if old else {"name": "", "available": 0,
                                          "price": 0}
            item.update(fields)
            item["seller"], item["sku"] = seller, sku
            if "version" not in fields:
                item["version"] = (old["version"] if old else 0) + 1
            self.items[(seller, sku)] = item
            return copy.deepcopy(item)

    def checkout(self, seller, lines):
        """Decrement stock for every line or none; returns (order, short)."""
        wanted = {}
        for line in lines:
            wanted[line["sku"]] = wanted.get(line["sku"], 0) + line["quantity"]
        with self.lock:
            short = []
            for sku, qty in wanted.items():
                item = self.items.get((seller, sku))
                available = item["available"] if item else 0
                if available < qty:
                    short.append({"sku": sku, "requested": qty,
                                  "available": available})
            if short:
                return None, short
            for sku, qty in wanted.items():
                item = self.items[(seller, sku)]
                item["available"] -= qty
                item["version"] += 1
            order = {"order_id": "ord_%d" % self.next_order, "seller": seller,
                     "items": [{"sku": s, "quantity": q}
                               for s, q in wanted.items()],
                     "status": "created"}
            self.next_order += 1
            self.orders[(seller, order["order_id"])] = order
            return copy.deepcopy(order), []

    def get_order(self, seller, order_id):
        with self.lock:
            return copy.deepcopy(self.orders.get((seller, order_id)))

    def fulfilment(self, seller):
        with self.lock:
            fid = "ful_%d" % self.next_fulfilment
            self.next_fulfilment += 1
            return {"id": fid, "seller": seller, "status": "accepted"}

    def stats(self):
        with self.lock:
            return {"requests_total": self.requests_total,
                    "by_route": dict(self.by_route)}

    def recent(self, limit):
        with self.lock:
            return copy.deepcopy(self.records[-limit:]) if limit > 0 else []


def valid_checkout(doc):
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
        return False
    if not doc["items"]:
        return False
    for line in doc["items"]:
        if (not isinstance(line, dict) or not isinstance(line.get("sku"), str)
                or not line["sku"]
                or type(line.get("quantity")) is not int
                or line["quantity"] <= 0):
            return False
    return True


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "microshop-backend/1"
    shop = None  # set by serve()

    def log_message(self, format, *args):
        pass

    def do_any(self):
        url = urllib.parse.urlsplit(self.path)
        self.url_path, self.query = url.path, url.query
        self.body = self.read_body()
        if self.url_path.startswith("/__backend/"):
            self.control()
            return
        self.shop.record({
            "method": self.command, "path": self.url_path,
            "query": self.query,
            "headers": self.lower_headers(),
            "body_len": len(self.body),
            "body_sha256": hashlib.sha256(self.body).hexdigest(),
            "time": time.time()})
        mode = self.shop.mode_for(self.url_path)
        if mode.get("delay"):
            time.sleep(float(mode["delay"]))
        if mode.get("down"):
            self.close_connection = True
            return
        if mode.get("status"):
            self.send_json(int(mode["status"]),
                           {"error": "injected", "status": mode["status"]})
            return
        self.shop_api()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_any
    do_OPTIONS = do_any

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def lower_headers(self):
        headers = {}
        for name, value in self.headers.items():
            name = name.lower()
            headers[name] = (headers[name] + ", " + value
                             if name in headers else value)
        return headers

    def json_body(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def send_json(self, status, doc, headers=()):
        data = json.dumps(doc, separators=(",", ":")).encode()
        self.send_bytes(status, data, headers)

    def send_bytes(self, status, data, headers=(),
                   content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(data)

    def not_found(self):
        self.send_json(404, {"error": "not_found", "path": self.url_path})

    def not_allowed(self, allow):
        self.send_json(405, {"error": "method_not_allowed"},
                       [("Allow", allow)])

    def shop_api(self):
        parts = self.url_path.strip("/").split("/")
        method = "GET" if self.command == "HEAD" else self.command
        if parts[:2] == ["v1", "echo"]:
            self.echo()
        elif parts == ["v1", "big"]:
            self.big() if method == "GET" else self.not_allowed("GET, HEAD")
        elif len(parts) < 4 or parts[:2] != ["v1", "sellers"]:
            self.not_found()
        elif len(parts) == 5 and parts[3] == "inventory":
            self.inventory(method, parts[2], parts[4])
        elif len(parts) == 4 and parts[3] == "checkout":
            if method != "POST":
                self.not_allowed("POST")
            else:
                self.checkout(parts[2])
        elif len(parts) == 5 and parts[3] == "orders":
            if method != "GET":
                self.not_allowed("GET, HEAD")
            else:
                self.order(parts[2], parts[4])
        elif len(parts) == 4 and parts[3] == "fulfilments":
            if method != "POST":
                self.not_allowed("POST")
            else:
                self.fulfilment(parts[2])
        else:
            self.not_found()

    def inventory(self, method, seller, sku):
        if method == "GET":
            item = self.shop.get_item(seller, sku)
            if item is None:
                self.not_found()
                return
            etag = '"v%d"' % item["version"]
            if etag in self.headers.get("If-None-Match", ""):
                self.send_bytes(304, b"", [("ETag", etag)])
            else:
                self.send_json(200, item, [("ETag", etag)])
            return
        if method not in ("PUT", "PATCH"):
            self.not_allowed("GET, HEAD, PUT, PATCH")
            return
        fields = self.json_body()
        if not isinstance(fields, dict) or (
                "available" in fields
                and (type(fields["available"]) is not int
                     or fields["available"] < 0)):
            self.send_json(400, {"error": "invalid_item"})
            return
        fields.pop("version", None)
        item, created = self.shop.put_item(seller, sku, fields,
                                           merge=(method == "PATCH"))
        if item is None:
            self.not_found()
            return
        self.send_json(201 if created else 200, item,
                       [("ETag", '"v%d"' % item["version"])])

    def checkout(self, seller):
        doc = self.json_body()
        if not valid_checkout(doc):
            self.send_json(400, {"error": "invalid_checkout"})
            return
        order, short = self.shop.checkout(seller, doc["items"])
        if order is None:
            self.send_json(409, {"error": "out_of_stock", "items": short})
            return
        location = "/v1/sellers/%s/orders/%s" % (seller, order["order_id"])
        self.send_json(201, order, [("Location", location)])

    def order(self, seller, order_id):
        order = self.shop.get_order(seller, order_id)
        if order is None:
            self.not_found()
        else:
            self.send_json(200, order)

    def fulfilment(self, seller):
        doc = self.shop.fulfilment(seller)
        location = "/v1/sellers/%s/fulfilments/%s" % (seller, doc["id"])
        self.send_json(201, doc, [("Location", location)])

    def echo(self):
        self.send_json(200, {
            "method": self.command, "path": self.url_path,
            "query": self.query, "headers": self.lower_headers(),
            "body_len": len(self.body),
            "body_sha256": hashlib.sha256(self.body).hexdigest()})

    def big(self):
        query = urllib.parse.parse_qs(self.query)
        size = max(int(query.get("size", ["1024"])[0]), 11)
        # {"data":"xxx...x"} is 11 bytes of JSON around the padding
        self.send_bytes(200, b'{"data":"' + b"x" * (size - 11) + b'"}')

    def control(self):
        parts = self.url_path.strip("/").split("/")[1:]
        method = self.command
        if parts == ["stats"] and method == "GET":
            self.send_json(200, self.shop.stats())
        elif parts == ["requests"] and method == "GET":
            query = urllib.parse.parse_qs(self.query)
            limit = int(query.get("limit", ["100"])[0])
            self.send_json(200, self.shop.recent(limit))
        elif parts == ["reset"] and method == "POST":
            self.shop.reset()
            self.send_json(200, {"reset": True})
        elif parts == ["mode"] and method == "POST":
            mode = self.json_body()
            if not isinstance(mode, dict):
                self.send_json(400, {"error": "mode must be an object"})
                return
            with self.shop.lock:
                self.shop.mode = {k: v for k, v in mode.items()
                                  if v is not None}
            self.send_json(200, mode)
        elif len(parts) == 3 and parts[0] == "inventory":
            if method == "GET":
                item = self.shop.get_item(parts[1], parts[2])
                if item is None:
                    self.not_found()
                else:
                    self.send_json(200, item)
            elif method == "PUT" and isinstance(self.json_body(), dict):
                item = self.shop.set_item(parts[1], parts[2],
                                          self.json_body())
                self.send_json(200, item)
            else:
                self.send_json(400, {"error": "GET, or PUT an object"})
        elif parts == ["send-webhook"] and method == "POST":
            doc = self.json_body()
            try:
                result = send_webhook(
                    doc["url"], doc["secret_file"], doc.get("event"),
                    doc.get("timestamp"), doc.get("signature"),
                    doc.get("body"))
            except (OSError, KeyError, TypeError) as e:
                self.send_json(502, {"error": repr(e)})
                return
            self.send_json(200, result)
        else:
            self.not_found()


def serve(host, port):
    Handler.shop = Shop()
    server = http.server.ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    print("ready %d" % server.server_address[1], flush=True)
    server.serve_forever()


def main(argv):
    if argv[:1] == ["sign"]:
        parser = argparse.ArgumentParser(prog="backend.py sign")
        parser.add_argument("--secret-file", required=True)
        parser.add_argument("--body-file", required=True)
        parser.add_argument("--timestamp", type=int)
        args = parser.parse_args(argv[1:])
        with open(args.body_file, "rb") as f:
            body = f.read()
        t = int(time.time()) if args.timestamp is None else args.timestamp
        print(sign(read_secret(args.secret_file), body, t))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    serve(args.host, args.port)


if __name__ == "__main__":
    main(sys.argv[1:])
