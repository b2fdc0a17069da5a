"""Helpers for the ngx_microshop integration tests.

Processes under test: the reference backend (t/backend/backend.py),
redis-server and the real nginx with build/ngx_http_microshop_module.so.
Ports, processes and the nginx instance itself are in t/harness.py (shared
with bench/run); this module adds HTTP, tokens, the backend and redis.
The pytest fixtures around them live in t/conftest.py.
"""

import base64
import hashlib
import hmac
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import time
import uuid

import jwt
import pytest
import redis
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

import harness
# re-exported: the tests import them from here
from harness import (MODULE_SO, SLOW, T_DIR, bad_log_lines,  # noqa: F401
                     free_port, port_open, stop_process, wait_for,
                     world_readable_dir)

PYTHON = "/usr/bin/python3"
BACKEND_PY = os.path.join(T_DIR, "backend", "backend.py")
IDP_PY = os.path.join(T_DIR, "idp.py")


def resolves(host):
    """Whether this machine resolves host (as nginx -t will)."""
    try:
        return bool(socket.getaddrinfo(host, None))
    except socket.gaierror:
        return False


# a configuration naming "localhost" is read only where it resolves: a
# minimal root (debootstrap --variant=minbase) has no /etc/hosts
NEEDS_LOCALHOST = pytest.mark.skipif(
    not resolves("localhost"),
    reason="localhost does not resolve here (no /etc/hosts)")


def _load_backend_module():
    spec = importlib.util.spec_from_file_location("microshop_backend",
                                                  BACKEND_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# sign_webhook(secret_bytes, body_bytes, t) -> "t=<t>,v1=<hex>"
sign_webhook = _load_backend_module().sign


def http_session():
    """A requests session that never uses proxies from the environment."""
    session = requests.Session()
    session.trust_env = False
    return session


def problem(resp, name=None):
    """Assert resp is an RFC 9457 problem from the gateway; return its dict.

    With name, also assert its type is urn:problem:microshop:<name>.
    """
    content_type = resp.headers.get("Content-Type", "")
    assert content_type.split(";")[0].strip() == "application/problem+json", \
        "Content-Type %r, body %r" % (content_type, resp.text[:300])
    doc = resp.json()
    assert doc.get("status") == resp.status_code, doc
    assert doc.get("type", "").startswith("urn:problem:microshop:"), doc
    assert "title" in doc and "detail" in doc, doc
    if name is not None:
        assert doc["type"] == "urn:problem:microshop:" + name, doc
    return doc


def assert_conf_refused(rc, err, line, *needles):
    """`nginx -t` (rc, stderr) refused the config with an [emerg] that
    names nginx.conf:line (any line when line is None) and holds every
    needle."""
    assert rc != 0, err
    assert "[emerg]" in err, err
    if line is None:
        assert "-t/conf/nginx.conf:" in err, err
    else:
        assert re.search(r"-t/conf/nginx\.conf:%d\b" % line, err), \
            "the message does not name nginx.conf:%d: %s" % (line, err)
    for needle in needles:
        assert needle in err, (needle, err)


# ---------------------------------------------------------------- tokens

def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# the orders of the ES256, ES384 and ES512 curves, and a coordinate's size
EC_ORDERS = {
    "ES256": (0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
              32),
    "ES384": (int("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
                  "C7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973", 16), 48),
    "ES512": (int("01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
                  "FFFFFFFFFFFFFFFFFFFFFFFA51868783BF2F966B7FCC"
                  "0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409", 16), 66),
}


def ec_signature(alg, signature, high=False):
    """A raw R || S signature with S in its low (canonical, s <= n/2: the
    only one the gateway takes, docs/http.md) or, with high, its high
    form; both verify mathematically.  PyJWT and OpenSSL make either."""
    n, size = EC_ORDERS[alg]
    r, s = signature[:size], int.from_bytes(signature[size:], "big")
    if (s > n // 2) != high:
        s = n - s
    return r + s.to_bytes(size, "big")


def ec_token(token, high=False):
    """The ES* token with its S in low (or high) form."""
    alg = json.loads(b64url_decode(token.split(".")[0]))["alg"]
    head, sig = token.rsplit(".", 1)
    return head + "." + b64url(ec_signature(alg, b64url_decode(sig), high))


def _b64url_uint(n):
    return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def raw_http(n, data):
    """Send the bytes of a request as they are (duplicate headers, odd
    spellings) with Connection: close; returns the whole raw answer."""
    with socket.create_connection(("127.0.0.1", n.port), timeout=10) as s:
        s.sendall(data)
        answer = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


def secret_bytes(n):
    """n random bytes for a secret file.  The module drops a file's trailing
    CR/LF (docs/directives.md, microshop_jwt_key), so a secret that ends in
    one would be a byte short and fail by chance: none does here."""
    while True:
        b = os.urandom(n)
        if b[-1:] not in (b"\r", b"\n"):
            return b


class Keys:
    """Key material written to dir; private keys kept for signing tokens."""

    def __init__(self, dir):
        self.dir = dir
        self.rsa_private = rsa.generate_private_key(65537, 2048)
        self.rsa_private_pem, self.rsa_public_pem = \
            self._write_pair("rsa", self.rsa_private)
        self.ec256_private = ec.generate_private_key(ec.SECP256R1())
        self.ec256_private_pem, self.ec256_public_pem = \
            self._write_pair("ec256", self.ec256_private)
        self.ec384_private = ec.generate_private_key(ec.SECP384R1())
        self.ec384_private_pem, self.ec384_public_pem = \
            self._write_pair("ec384", self.ec384_private)
        self.hs256_secret = secret_bytes(32)
        self.hs256_file = self._write("hs256.secret", self.hs256_secret)
        self.hs512_secret = secret_bytes(64)
        self.hs512_file = self._write("hs512.secret", self.hs512_secret)
        self.jwks_oct_secret = os.urandom(32)
        rsa_numbers = self.rsa_private.public_key().public_numbers()
        ec_numbers = self.ec256_private.public_key().public_numbers()
        self.jwks = {"keys": [
            {"kty": "RSA", "kid": "rsa-jwks", "alg": "RS256", "use": "sig",
             "n": _b64url_uint(rsa_numbers.n),
             "e": _b64url_uint(rsa_numbers.e)},
            {"kty": "EC", "kid": "ec-jwks", "alg": "ES256", "use": "sig",
             "crv": "P-256",
             "x": b64url(ec_numbers.x.to_bytes(32, "big")),
             "y": b64url(ec_numbers.y.to_bytes(32, "big"))},
            {"kty": "oct", "kid": "oct-jwks", "alg": "HS256",
             "k": b64url(self.jwks_oct_secret)},
        ]}
        self.jwks_file = self._write("jwks.json",
                                     json.dumps(self.jwks).encode())

    def _write(self, name, data):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, 0o644)
        return path

    def _write_pair(self, name, private):
        private_pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())
        public_pem = private.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo)
        return (self._write(name + ".key", private_pem),
                self._write(name + ".pub", public_pem))

    def signing_key(self, alg):
        """The default private key / secret for alg."""
        keys = {"RS256": self.rsa_private, "RS384": self.rsa_private,
                "RS512": self.rsa_private, "ES256": self.ec256_private,
                "ES384": self.ec384_private, "HS256": self.hs256_secret,
                "HS512": self.hs512_secret}
        if alg not in keys:
            raise ValueError("no default key for %s: pass key=" % alg)
        return keys[alg]


DEFAULT_SCOPE = "inventory:read inventory:write orders:write"


def mint(keys, alg="ES256", kid=None, ttl=300, headers=None, key=None,
         **claims):
    """A signed JWT (PyJWT) with default claims; a claim given as None is
    left out.  headers are merged into the JOSE header (typ=None drops typ).
    """
    now = int(time.time())
    payload = {"sub": "user-1", "seller": "s1", "scope": DEFAULT_SCOPE,
               "iat": now, "exp": now + ttl, "jti": uuid.uuid4().hex}
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    header = dict(headers or {})
    if kid is not None:
        header["kid"] = kid
    if key is None:
        key = keys.signing_key(alg)
    token = jwt.encode(payload, key, algorithm=alg, headers=header)
    return ec_token(token) if alg in EC_ORDERS else token


def _json_bytes(part):
    if isinstance(part, dict):
        return json.dumps(part, separators=(",", ":")).encode()
    if isinstance(part, str):
        return part.encode()
    return part


def raw_token(header, payload, key=None, alg=None, signature=None):
    """A JWT built by hand, for attack tests.

    header and payload are dicts, or str/bytes used verbatim (duplicate
    members, bad UTF-8, ...).  The signature is `signature` (bytes) when
    given, else made with key and alg (HS*: key is the raw secret, whatever
    it is, e.g. an RSA public PEM; RS*/ES*: a private key object), else
    empty.
    """
    signing_input = (b64url(_json_bytes(header)) + "."
                     + b64url(_json_bytes(payload)))
    if signature is None:
        signature = b""
        if alg and alg.startswith("HS"):
            digest = getattr(hashlib, "sha" + alg[2:])
            signature = hmac.new(key, signing_input.encode(), digest).digest()
        elif alg:
            algorithm = jwt.algorithms.get_default_algorithms()[alg]
            signature = algorithm.sign(signing_input.encode(), key)
            if alg in EC_ORDERS:
                signature = ec_signature(alg, signature)
    return signing_input + "." + b64url(signature)


# ------------------------------------------------- stock at the edge

def admin(keys):
    """A token for microshop_admin (kid k1)."""
    return mint(keys, kid="k1", scope="microshop:admin", seller=None)


def set_stock(gw, keys, seller, sku, n):
    """PUT the stock of (seller, sku) through the admin API at /admin/."""
    r = gw.request("PUT", "/admin/stock/%s/%s" % (seller, sku),
                   token=admin(keys), json={"available": n})
    assert r.status_code == 204, r.text


def stock(gw, keys, seller, sku):
    """{"available": N, "held": M} of (seller, sku), from /admin/."""
    r = gw.get("/admin/stock/%s/%s" % (seller, sku), token=admin(keys))
    assert r.status_code == 200, r.text
    return r.json()


# --------------------------------------------------------------- backend

class Blackhole:
    """A listener whose accept queue is full: further SYNs are dropped, so
    a connect to it times out."""

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(0)
        self.port = self.server.getsockname()[1]
        self.fillers = []
        for _ in range(2):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", self.port))
            except BlockingIOError:
                pass
            self.fillers.append(s)

    def close(self):
        for s in self.fillers:
            s.close()
        self.server.close()



class Backend:
    """The reference backend (t/backend/backend.py) as a child process."""

    def __init__(self, log_path):
        self.port = free_port()
        self.http = http_session()
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [PYTHON, BACKEND_PY, "--port", str(self.port)],
            stdout=subprocess.PIPE, stderr=self.log)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("ready"):
            self.stop()
            raise RuntimeError("backend did not start, see " + log_path)

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def _control(self, method, path, **kw):
        resp = self.http.request(method, self.url("/__backend/" + path),
                                 timeout=30 * SLOW, **kw)
        resp.raise_for_status()
        return resp.json()

    def stats(self):
        """{"requests_total": N, "by_route": {"METHOD /path": n}}"""
        return self._control("GET", "stats")

    def count(self, route):
        """How many requests hit route, e.g. "POST /v1/sellers/s1/checkout"."""
        return self.stats()["by_route"].get(route, 0)

    def requests(self, limit=100):
        """The most recent recorded requests, newest last."""
        return self._control("GET", "requests", params={"limit": limit})

    def reset(self):
        self._control("POST", "reset")

    def mode(self, **kw):
        """status=, delay=, down=, path_prefix=; mode() clears."""
        return self._control("POST", "mode", json=kw)

    def item(self, seller, sku):
        """An inventory item, read without being recorded."""
        return self._control("GET", "inventory/%s/%s" % (seller, sku))

    def set_item(self, seller, sku, **fields):
        return self._control("PUT", "inventory/%s/%s" % (seller, sku),
                             json=fields)

    def send_webhook(self, url, secret_file, event, timestamp=None,
                     signature=None, body=None):
        """Have the backend POST a signed event; returns {"status", "body",
        "signature"}.  signature="" sends none; body replaces the JSON."""
        doc = {"url": url, "secret_file": secret_file, "event": event,
               "timestamp": timestamp, "signature": signature, "body": body}
        return self._control("POST", "send-webhook", json=doc)

    def stop(self):
        self.http.close()
        stop_process(self.proc)
        self.proc.stdout.close()
        self.log.close()


# ----------------------------------------------------- identity provider

class Idp:
    """The test identity provider (t/idp.py) as a child process: it
    publishes a JWKS at path, keys added and removed by the test."""

    def __init__(self, log_path, path="/.well-known/jwks.json"):
        self.port = free_port()
        self.path = path
        self.http = http_session()
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [PYTHON, IDP_PY, "--port", str(self.port), "--path", path],
            stdout=subprocess.PIPE, stderr=self.log)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("ready"):
            self.stop()
            raise RuntimeError("idp did not start, see " + log_path)
        self.private = {}

    def url(self, path=None):
        return "http://127.0.0.1:%d%s" % (self.port, path or self.path)

    def _control(self, method, path, **kw):
        resp = self.http.request(method, self.url("/__idp/" + path),
                                 timeout=30 * SLOW, **kw)
        resp.raise_for_status()
        return resp.json()

    def stats(self):
        """{"requests": N, "others": N, "last": {...}}"""
        return self._control("GET", "stats")

    def requests(self):
        """How many times the JWKS was asked for."""
        return self.stats()["requests"]

    def stats_keys(self):
        """The JWKs published now."""
        return self._control("GET", "keys")["keys"]

    def reset(self):
        self.private = {}
        self._control("POST", "reset")

    def mode(self, **kw):
        """status=, body=, delay=, content_type=; mode() clears."""
        return self._control("POST", "mode", json=kw)

    def add_key(self, kid, alg="ES256", jwk=None):
        """A new key pair published under kid; jwk members override the
        public JWK's (None deletes one).  Returns the private key."""
        doc = self._control("POST", "keys",
                            json={"kid": kid, "alg": alg, "jwk": jwk or {}})
        key = serialization.load_pem_private_key(
            doc["private_pem"].encode(), None)
        self.private[kid] = key
        return key

    def add_jwk(self, jwk):
        """A JWK published as it is."""
        return self._control("POST", "jwk", json={"jwk": jwk})

    def remove_key(self, kid):
        resp = self.http.delete(self.url("/__idp/keys/" + kid),
                                timeout=30 * SLOW)
        assert resp.status_code == 200, resp.text

    def token(self, kid, alg="ES256", **claims):
        """A token signed by the published key of kid."""
        return mint(None, alg, kid=kid, key=self.private[kid], **claims)

    def stop(self):
        self.http.close()
        stop_process(self.proc)
        self.proc.stdout.close()
        self.log.close()


# ----------------------------------------------------------------- redis

class RedisServer:
    """A throw-away redis-server on a free port; stop() / start() again to
    simulate an outage (same port)."""

    def __init__(self, log_path):
        self.port = free_port()
        self.url = "redis://127.0.0.1:%d" % self.port
        self.log_path = log_path
        self.proc = None
        self.start()

    def start(self):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port),
                 "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--daemonize", "no", "--enable-debug-command", "local"],
                stdout=log, stderr=subprocess.STDOUT)
        wait_for(self._ping, what="redis-server on port %d" % self.port)

    def _ping(self):
        try:
            return self.client().ping()
        except redis.ConnectionError:
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited, see "
                                   + self.log_path)
            return False

    def client(self, **kw):
        return redis.Redis(host="127.0.0.1", port=self.port, **kw)

    def stop(self):
        if self.proc is None:
            return
        stop_process(self.proc)
        self.proc = None


# ----------------------------------------------------------------- nginx

class Nginx(harness.Nginx):
    """harness.Nginx with requests for the tests."""

    def request(self, method, path, token=None, **kw):
        """One request on a fresh connection; token adds a Bearer header."""
        headers = dict(kw.pop("headers", None) or {})
        if token is not None:
            headers["Authorization"] = "Bearer " + token
        kw.setdefault("timeout", 30 * SLOW)
        with http_session() as session:
            return session.request(method, self.url(path), headers=headers,
                                   **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)


class NginxFactory:
    """Hands out Nginx instances under one base directory; finish() stops
    them all and returns {error log path: bad lines}.  The directory is
    removed unless there are bad lines."""

    def __init__(self):
        self.base = world_readable_dir("microshop-nginx-")
        self.instances = []

    def new(self):
        n = Nginx(os.path.join(self.base, "n%d" % len(self.instances)))
        self.instances.append(n)
        return n

    def finish(self):
        bad = {}
        for n in self.instances:
            n.stop()
            if os.path.exists(n.error_log_path):
                lines = n.bad_log_lines()
                if lines:
                    bad[n.error_log_path] = lines
        if not bad:
            shutil.rmtree(self.base, ignore_errors=True)
        return bad
