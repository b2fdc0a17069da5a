"""Helpers for the ngx_microshop integration tests.

Processes under test: the reference backend (t/backend/backend.py),
redis-server and the real nginx with build/ngx_http_microshop_module.so.
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
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import jwt
import redis
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

T_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(T_DIR)
MODULE_SO = os.path.join(REPO, "build", "ngx_http_microshop_module.so")
NGINX_BIN = "/usr/sbin/nginx"

# MICROSHOP_VALGRIND=1 runs every nginx of the suite under valgrind (see
# scripts/valgrind-suite); waits are stretched to match.
VALGRIND = os.environ.get("MICROSHOP_VALGRIND") == "1"
SLOW = 15 if VALGRIND else 1
PYTHON = "/usr/bin/python3"
BACKEND_PY = os.path.join(T_DIR, "backend", "backend.py")

# lines that fail a test module unless the instance allows them
BAD_LOG_LINE = re.compile(r"\[(alert|emerg|crit)\]|exited on signal"
                          r"|AddressSanitizer|LeakSanitizer")


def _load_backend_module():
    spec = importlib.util.spec_from_file_location("microshop_backend",
                                                  BACKEND_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# sign_webhook(secret_bytes, body_bytes, t) -> "t=<t>,v1=<hex>"
sign_webhook = _load_backend_module().sign


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=10.0, interval=0.02, what="condition"):
    """Poll predicate() until it returns a true value, which is returned."""
    deadline = time.monotonic() + timeout * SLOW
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("timed out waiting for " + what)
        time.sleep(interval)


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def world_readable_dir(prefix):
    """A new directory under /tmp that nginx workers (nobody) can read."""
    path = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(path, 0o755)
    return path


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


# ---------------------------------------------------------------- tokens

def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_uint(n):
    return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


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
        self.hs256_secret = os.urandom(32)
        self.hs256_file = self._write("hs256.secret", self.hs256_secret)
        self.hs512_secret = os.urandom(64)
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
    return jwt.encode(payload, key, algorithm=alg, headers=header)


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
    return signing_input + "." + b64url(signature)


# --------------------------------------------------------------- backend

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
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
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
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


# ----------------------------------------------------------------- nginx

CONF_TEMPLATE = """\
load_module {module};
worker_processes {workers};
daemon on;
master_process on;
pid {prefix}/logs/nginx.pid;
error_log {prefix}/logs/error.log info;
{main_conf}

events {{
    worker_connections 1024;
{events_conf}
}}

http {{
    access_log {prefix}/logs/access.log;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;

{http_conf}
}}
"""


def bad_log_lines(text, allow=()):
    """Lines of an error log that must fail a test, minus allowed ones."""
    return [line for line in text.splitlines()
            if BAD_LOG_LINE.search(line)
            and not any(re.search(pattern, line) for pattern in allow)]


def valgrind_errors(log_dir):
    """valgrind's reports (memory errors, definite leaks) whose stack
    passes through the module; nginx's and OpenSSL's own are not ours."""
    found = []
    if not os.path.isdir(log_dir):
        return found
    for name in sorted(os.listdir(log_dir)):
        if not name.startswith("valgrind."):
            continue
        with open(os.path.join(log_dir, name)) as f:
            records = re.split(r"\n==\d+== ?\n", f.read())
        for record in records:
            if "microshop" in record and re.search(
                    r"definitely lost|Invalid (read|write|free)|"
                    r"uninitialised|Mismatched|overlap", record):
                found.append("%s: %s" % (name, record.strip()[:2000]))
    return found


def _children(pid):
    """{child pid: command line} of a process, from /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            children[int(entry)] = cmdline
    return children


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _signal(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _make_prefix(prefix):
    for sub in ("conf", "logs", "html", "tmp"):
        os.makedirs(os.path.join(prefix, sub), exist_ok=True)
    for path in (prefix, os.path.join(prefix, "html")):
        os.chmod(path, 0o755)


class Nginx:
    """One nginx instance in its own prefix; port is chosen up front so the
    test can put it in its config: n.start(CONF % {"port": n.port})."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.port = free_port()
        self.allow_log = []
        self.master_pid = None
        self.workers = 1
        self.main_conf = self.events_conf = ""
        _make_prefix(prefix)

    @property
    def conf_path(self):
        return os.path.join(self.prefix, "conf", "nginx.conf")

    @property
    def error_log_path(self):
        return os.path.join(self.prefix, "logs", "error.log")

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

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

    def write_file(self, relpath, data):
        """Write a file under the prefix, readable by the workers."""
        path = os.path.join(self.prefix, relpath)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)
        os.chmod(path, 0o644)
        return path

    def _render(self, prefix, http_conf, workers, main_conf, events_conf):
        return CONF_TEMPLATE.format(
            module=MODULE_SO, prefix=prefix, workers=workers,
            main_conf=main_conf, events_conf=events_conf, http_conf=http_conf)

    def _write_conf(self, http_conf):
        with open(self.conf_path, "w") as f:
            f.write(self._render(self.prefix, http_conf, self.workers,
                                 self.main_conf, self.events_conf))

    def _nginx(self, prefix, *args):
        wrapper = []
        if VALGRIND and not args:
            wrapper = ["valgrind", "--quiet", "--leak-check=full",
                       "--show-leak-kinds=definite",
                       "--log-file=%s/logs/valgrind.%%p.log" % prefix]
        return subprocess.run(
            wrapper + [NGINX_BIN, "-p", prefix + "/", "-e", "logs/error.log",
                       "-c", "conf/nginx.conf", *args],
            capture_output=True, text=True, timeout=30 * SLOW)

    def start(self, http_conf, workers=1, main_conf="", events_conf="",
              allow_log=()):
        """Write the config and start nginx; returns when every worker is up
        and the port accepts.  allow_log: regexes of bad log lines that this
        test expects."""
        self.workers = workers
        self.main_conf, self.events_conf = main_conf, events_conf
        self.allow_log.extend(allow_log)
        self._write_conf(http_conf)
        result = self._nginx(self.prefix)
        if result.returncode != 0:
            raise RuntimeError("nginx did not start:\n" + result.stderr)
        pid_file = os.path.join(self.prefix, "logs", "nginx.pid")
        wait_for(lambda: os.path.exists(pid_file), what="nginx pid file")
        with open(pid_file) as f:
            self.master_pid = int(f.read())
        wait_for(self._workers_up, what="%d nginx workers" % workers)
        wait_for(lambda: port_open(self.port),
                 what="nginx on port %d" % self.port)

    def _workers_up(self):
        if not _alive(self.master_pid):
            raise RuntimeError("nginx master exited:\n" + self.error_log())
        return len(self.worker_pids()) == self.workers

    def worker_pids(self):
        """Pids of the current generation of workers (not shutting down)."""
        # under valgrind nginx cannot retitle its processes: every child
        # is taken for a worker
        return sorted(pid for pid, cmd in _children(self.master_pid).items()
                      if cmd == "nginx: worker process" or VALGRIND)

    def error_log(self):
        with open(self.error_log_path, errors="replace") as f:
            return f.read()

    def reload(self, http_conf=None):
        """Reload (with a new http_conf if given); returns when the new
        generation of workers runs and the old one has stopped accepting.
        Raises if nginx refused the config (which it then keeps running)."""
        if http_conf is not None:
            self._write_conf(http_conf)
        old = set(self.worker_pids())
        log_offset = os.path.getsize(self.error_log_path)
        os.kill(self.master_pid, signal.SIGHUP)

        def new_workers_up():
            with open(self.error_log_path, errors="replace") as f:
                f.seek(log_offset)
                emerg = re.search(r".*\[emerg\].*", f.read())
            if emerg:
                raise RuntimeError("reload failed: " + emerg.group(0))
            current = set(self.worker_pids())
            return not current & old and len(current) >= self.workers

        wait_for(new_workers_up, what="new nginx workers after reload")

    def stop(self):
        """Graceful quit; kill after a timeout.  Safe to call twice."""
        if self.master_pid is None:
            return
        pids = [self.master_pid, *_children(self.master_pid)]
        _signal(self.master_pid, signal.SIGQUIT)
        try:
            wait_for(lambda: not any(map(_alive, pids)), timeout=10,
                     what="nginx to quit")
        except TimeoutError:
            for pid in pids:
                _signal(pid, signal.SIGKILL)
            wait_for(lambda: not any(map(_alive, pids)), timeout=5,
                     what="nginx to die")
        self.master_pid = None

    def test_config(self, http_conf, workers=1, main_conf="",
                    events_conf=""):
        """Run `nginx -t` on a config in a separate prefix; returns
        (returncode, stderr text)."""
        prefix = self.prefix + "-t"
        _make_prefix(prefix)
        with open(os.path.join(prefix, "conf", "nginx.conf"), "w") as f:
            f.write(self._render(prefix, http_conf, workers, main_conf,
                                 events_conf))
        result = self._nginx(prefix, "-t")
        return result.returncode, result.stderr

    def bad_log_lines(self):
        return (bad_log_lines(self.error_log(), self.allow_log)
                + valgrind_errors(os.path.join(self.prefix, "logs")))


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
