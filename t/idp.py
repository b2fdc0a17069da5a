#!/usr/bin/python3
"""A test identity provider for ngx_microshop: it publishes a JWKS document
(stdlib and python3-cryptography only).

Serve:  idp.py --port N [--host 127.0.0.1] [--path /.well-known/jwks.json]
        (prints "ready <port>")

The JWKS (every request to it is counted):
  GET  <path>                 {"keys": [...]}, application/json

Control API (never counted):
  GET    /__idp/stats         {"requests": N (to the JWKS), "others": N
                              (to any other path), "last": {"method",
                              "path", "time", "answered", "headers"} (of
                              the JWKS; times are unix times)}
  POST   /__idp/reset         no keys, normal mode, count 0
  POST   /__idp/mode          {"status": N, "body": "...", "delay": S,
                               "content_type": "...", "no_length": true};
                              {} clears.  status answers that status (with
                              the document, or body), body replaces the
                              document as it is, delay waits S seconds
                              before answering, no_length sends no
                              Content-Length (the end is the close)
  POST   /__idp/keys          {"alg": "ES256"|"ES384"|"RS256"|..., "kid":
                              "k1" (null: none), "jwk": {member: value}
                              (null deletes the member)}: a new key pair;
                              its public JWK joins the document.  Answers
                              {"kid", "alg", "private_pem", "jwk"}
  POST   /__idp/jwk           {"jwk": {...}}: a JWK joins the document as it
                              is
  DELETE /__idp/keys/<kid>    the key of that kid leaves the document
"""

import argparse
import base64
import http.server
import json
import sys
import threading
import time
import urllib.parse

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

CURVES = {"ES256": (ec.SECP256R1, "P-256", 32),
          "ES384": (ec.SECP384R1, "P-384", 48),
          "ES512": (ec.SECP521R1, "P-521", 66)}


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_uint(n, size=None):
    size = size or (n.bit_length() + 7) // 8
    return b64url(n.to_bytes(size, "big"))


def new_key(alg, kid, overrides):
    """(private PEM, public JWK) of a new key for alg."""
    if alg in CURVES:
        curve, crv, size = CURVES[alg]
        private = ec.generate_private_key(curve())
        numbers = private.public_key().public_numbers()
        jwk = {"kty": "EC", "crv": crv, "alg": alg, "use": "sig",
               "x": b64url_uint(numbers.x, size),
               "y": b64url_uint(numbers.y, size)}
    elif alg[:2] in ("RS", "PS"):
        private = rsa.generate_private_key(65537, 2048)
        numbers = private.public_key().public_numbers()
        jwk = {"kty": "RSA", "alg": alg, "use": "sig",
               "n": b64url_uint(numbers.n), "e": b64url_uint(numbers.e)}
    else:
        raise ValueError("alg %r: ES256, ES384, ES512 or RS*" % alg)
    if kid is not None:
        jwk["kid"] = kid
    for name, value in (overrides or {}).items():
        if value is None:
            jwk.pop(name, None)
        else:
            jwk[name] = value
    pem = private.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return pem, jwk


class Provider:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.keys = []
            self.mode = {}
            self.requests = 0
            self.others = 0
            self.last = {}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    provider = None
    path_jwks = "/.well-known/jwks.json"

    def log_message(self, fmt, *args):
        pass

    def send_body(self, status, body, content_type="application/json",
                  length=True):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if length:
            self.send_header("Content-Length", str(len(body)))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status, doc):
        self.send_body(status, json.dumps(doc))

    def json_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(n) if n else b""
        return json.loads(data) if data else {}

    def do_GET(self):
        self.route("GET")

    def do_HEAD(self):
        self.route("HEAD")

    def do_POST(self):
        self.route("POST")

    def do_DELETE(self):
        self.route("DELETE")

    def route(self, method):
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith("/__idp/"):
            self.control(method, path[len("/__idp/"):])
        elif path == self.path_jwks and method in ("GET", "HEAD"):
            self.jwks()
        else:
            with self.provider.lock:
                self.provider.others += 1
            self.send_json(404, {"error": "not found"})

    def jwks(self):
        p = self.provider
        with p.lock:
            p.requests += 1
            p.last = {"method": self.command, "path": self.path,
                      "time": time.time(),
                      "headers": {k.lower(): v for k, v in
                                  self.headers.items()}}
            mode = dict(p.mode)
            doc = json.dumps({"keys": list(p.keys)})
        if mode.get("delay"):
            time.sleep(mode["delay"])
        with p.lock:
            p.last["answered"] = time.time()
        body = mode.get("body", doc)
        self.send_body(mode.get("status", 200), body,
                       mode.get("content_type", "application/json"),
                       not mode.get("no_length"))

    def control(self, method, route):
        p = self.provider
        if route == "stats" and method == "GET":
            with p.lock:
                self.send_json(200, {"requests": p.requests,
                                     "others": p.others, "last": p.last})
        elif route == "reset" and method == "POST":
            p.reset()
            self.send_json(200, {})
        elif route == "mode" and method == "POST":
            mode = self.json_body()
            with p.lock:
                p.mode = mode
            self.send_json(200, mode)
        elif route == "keys" and method == "GET":
            with p.lock:
                self.send_json(200, {"keys": list(p.keys)})
        elif route == "keys" and method == "POST":
            doc = self.json_body()
            try:
                pem, jwk = new_key(doc.get("alg", "ES256"), doc.get("kid"),
                                   doc.get("jwk"))
            except ValueError as e:
                self.send_json(400, {"error": str(e)})
                return
            with p.lock:
                p.keys.append(jwk)
            self.send_json(200, {"kid": doc.get("kid"), "alg": doc.get("alg"),
                                 "private_pem": pem, "jwk": jwk})
        elif route == "jwk" and method == "POST":
            jwk = self.json_body().get("jwk")
            with p.lock:
                p.keys.append(jwk)
            self.send_json(200, {"jwk": jwk})
        elif route.startswith("keys/") and method == "DELETE":
            kid = urllib.parse.unquote(route[len("keys/"):])
            with p.lock:
                before = len(p.keys)
                p.keys = [k for k in p.keys
                          if not (isinstance(k, dict) and k.get("kid") == kid)]
                removed = before - len(p.keys)
            self.send_json(200 if removed else 404, {"removed": removed})
        else:
            self.send_json(404, {"error": "no such control"})


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--path", default="/.well-known/jwks.json")
    args = parser.parse_args(argv)
    Handler.provider = Provider()
    Handler.path_jwks = args.path
    server = http.server.ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    print("ready %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
