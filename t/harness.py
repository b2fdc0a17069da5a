"""Ports, processes and nginx instances: what the pytest suite
(t/microshop.py, t/conftest.py) and bench/run share.

Python standard library only, so that bench/run needs nothing else.
"""

import os
import re
import signal
import socket
import subprocess
import tempfile
import time

T_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(T_DIR)
# MICROSHOP_MODULE_SO and MICROSHOP_NGINX point the suite at another build
# of the module (scripts/asan-suite: build-asan/) or another nginx binary
MODULE_SO = os.environ.get("MICROSHOP_MODULE_SO") or os.path.join(
    REPO, "build", "ngx_http_microshop_module.so")
NGINX_BIN = os.environ.get("MICROSHOP_NGINX") or "/usr/sbin/nginx"

# MICROSHOP_VALGRIND=1 runs every nginx of the suite under valgrind (see
# scripts/valgrind-suite); waits are stretched to match.
VALGRIND = os.environ.get("MICROSHOP_VALGRIND") == "1"
# MICROSHOP_SANITIZE=1: the module is built with ASan and UBSan
# (scripts/asan-suite); nginx runs with MICROSHOP_SANITIZE_PRELOAD (the
# ASan runtime) preloaded, and the reports go to logs/sanitizer/ of the
# prefix
SANITIZE = os.environ.get("MICROSHOP_SANITIZE") == "1"
SLOW = 15 if VALGRIND else 3 if SANITIZE else 1

# lines that fail a test module (or a bench run) unless allowed
BAD_LOG_LINE = re.compile(r"\[(alert|emerg|crit)\]|exited on signal"
                          r"|AddressSanitizer|LeakSanitizer"
                          r"|: runtime error: ")


# ------------------------------------------------------ ports and waiting

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=10.0, interval=0.02, what="condition"):
    """Poll predicate() until it returns a true value, which is returned;
    TimeoutError after timeout seconds (stretched under valgrind)."""
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


def world_readable_dir(prefix, dir="/tmp"):
    """A new directory (under /tmp unless dir says otherwise; None: the
    default temporary directory) that nginx workers (nobody) can read."""
    path = tempfile.mkdtemp(prefix=prefix, dir=dir)
    os.chmod(path, 0o755)
    return path


# --------------------------------------------------------------- processes

def children(pid):
    """{child pid: command line} of a process, from /proc (no zombies)."""
    found = {}
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
            found[int(entry)] = cmdline
    return found


def alive(pid):
    """The process exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def send_signal(pid, sig):
    """os.kill that does not mind a process already gone."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def stop_process(proc, timeout=5):
    """Terminate a subprocess.Popen child; kill it after timeout seconds."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -------------------------------------------------------------- error logs

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


def sanitizer_env(prefix):
    """The environment of an nginx under ASan/UBSan: the runtime preloaded,
    each report in a file of prefix/logs/sanitizer/ (writable by the
    workers, which run as nobody), after the options the caller set."""
    path = os.path.join(prefix, "logs", "sanitizer")
    os.makedirs(path, exist_ok=True)
    os.chmod(path, 0o777)
    env = dict(os.environ)
    if env.get("MICROSHOP_SANITIZE_PRELOAD"):
        env["LD_PRELOAD"] = env["MICROSHOP_SANITIZE_PRELOAD"]
    # ASan's reports; UBSan, when it starts, sets ASan's path from its own
    # log_path, so both say the same.  UBSan writes its reports to
    # MICROSHOP_UBSAN_LOG (t/asan/preload.c).
    for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
        env[name] = ":".join(filter(None, [
            env.get(name), "log_path=%s/asan" % path]))
    env["MICROSHOP_UBSAN_LOG"] = "%s/ubsan" % path
    return env


SANITIZER_RECORD = re.compile(r"^(?:==\d+==ERROR: |==\d+==.*fatal error"
                              r"|(?:Direct|Indirect) leak of "
                              r"|\S+: runtime error: )", re.M)
# a frame or a file of the module (the checkout's own path may hold the name)
SANITIZER_OURS = re.compile(r" in (?:ngx_http_|ngx_)?microshop_"
                            r"|ngx_microshop_module/")


def sanitizer_errors(log_dir, notes=None):
    """ASan and UBSan reports in log_dir/sanitizer/ that fail a test: every
    memory error (and a sanitizer that could not run), and the leaks and
    undefined behaviour whose stack passes through the module; nginx's own
    are not ours.  The first line of each other record is appended to the
    file notes, when given."""
    found = []
    path = os.path.join(log_dir, "sanitizer")
    if not os.path.isdir(path):
        return found
    for name in sorted(os.listdir(path)):
        with open(os.path.join(path, name), errors="replace") as f:
            text = f.read()
        starts = [m.start() for m in SANITIZER_RECORD.finditer(text)]
        for a, b in zip(starts, starts[1:] + [len(text)]):
            record = text[a:b].strip()
            first = record.split("\n", 1)[0]
            if "ERROR: LeakSanitizer" in first:
                continue                    # the head of its leak records
            ours = SANITIZER_OURS.search(record)
            if ("ERROR: " in first or "fatal error" in first
                    or (ours and ("leak of" in first
                                  or "runtime error:" in first))):
                found.append("%s: %s" % (name, record[:3000]))
            elif notes:
                with open(notes, "a") as f:
                    f.write("%s: %s\n" % (name, first))
    return found


# ------------------------------------------------------------------- nginx

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


def make_prefix(prefix):
    """conf/ logs/ html/ tmp/ under prefix; prefix and html/ world-readable."""
    for sub in ("conf", "logs", "html", "tmp"):
        os.makedirs(os.path.join(prefix, sub), exist_ok=True)
    for path in (prefix, os.path.join(prefix, "html")):
        os.chmod(path, 0o755)


def run_nginx(prefix, *args, conf="conf/nginx.conf",
              error_log="logs/error.log", valgrind=False, timeout=30 * SLOW):
    """/usr/sbin/nginx -p prefix/ -e error_log -c conf args...: the
    CompletedProcess (text output).  valgrind: run it under valgrind, its
    reports in logs/valgrind.<pid>.log."""
    wrapper = []
    if valgrind:
        wrapper = ["valgrind", "--quiet", "--leak-check=full",
                   "--keep-debuginfo=yes",
                   "--show-leak-kinds=definite",
                   "--log-file=%s/logs/valgrind.%%p.log" % prefix]
    return subprocess.run(
        wrapper + [NGINX_BIN, "-p", prefix + "/", "-e", error_log,
                   "-c", conf, *args],
        capture_output=True, text=True, timeout=timeout,
        env=sanitizer_env(prefix) if SANITIZE else None)


class Nginx:
    """One nginx instance in its own prefix; port is chosen up front so the
    caller can put it in its config: n.start(CONF % {"port": n.port}).

    start() wraps an http {} body in CONF_TEMPLATE; launch() starts nginx
    on whatever config is already at conf_path."""

    valgrind = VALGRIND            # run the instance under valgrind

    def __init__(self, prefix):
        self.prefix = prefix
        self.port = free_port()
        self.allow_log = []
        self.master_pid = None
        self.workers = 1
        self.main_conf = self.events_conf = ""
        self.log_offset = 0
        make_prefix(prefix)

    @property
    def conf_path(self):
        return os.path.join(self.prefix, "conf", "nginx.conf")

    @property
    def error_log_path(self):
        return os.path.join(self.prefix, "logs", "error.log")

    @property
    def pid_path(self):
        return os.path.join(self.prefix, "logs", "nginx.pid")

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

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

    def start(self, http_conf, workers=1, main_conf="", events_conf="",
              allow_log=()):
        """Write the config and start nginx; returns when every worker is up
        and the port accepts.  allow_log: regexes of bad log lines that this
        test expects."""
        self.workers = workers
        self.main_conf, self.events_conf = main_conf, events_conf
        self.allow_log.extend(allow_log)
        self._write_conf(http_conf)
        self.launch()

    def launch(self):
        """Start nginx on the config at conf_path (self.workers workers);
        returns when every worker is up and the port accepts.  RuntimeError
        when nginx refuses to start, TimeoutError when it does not come up.
        log_offset is where the error log stood before."""
        path = self.error_log_path
        self.log_offset = os.path.getsize(path) if os.path.exists(path) else 0
        result = run_nginx(self.prefix, valgrind=self.valgrind)
        if result.returncode != 0:
            raise RuntimeError("nginx did not start:\n" + result.stderr)
        wait_for(lambda: os.path.exists(self.pid_path)
                 and os.path.getsize(self.pid_path) > 0,
                 what="nginx pid file")
        with open(self.pid_path) as f:
            self.master_pid = int(f.read())
        wait_for(self._workers_up, what="%d nginx workers" % self.workers)
        wait_for(lambda: port_open(self.port),
                 what="nginx on port %d" % self.port)

    def _workers_up(self):
        if not alive(self.master_pid):
            raise RuntimeError("nginx master exited:\n" + self.error_log())
        return len(self.worker_pids()) == self.workers

    def worker_pids(self):
        """Pids of the current generation of workers (not shutting down)."""
        # under valgrind nginx cannot retitle its processes: every child
        # is taken for a worker
        return sorted(pid for pid, cmd in children(self.master_pid).items()
                      if cmd == "nginx: worker process" or self.valgrind)

    def error_log(self, offset=0):
        """The error log (from byte offset on)."""
        with open(self.error_log_path, errors="replace") as f:
            f.seek(offset)
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
            emerg = re.search(r".*\[emerg\].*", self.error_log(log_offset))
            if emerg:
                raise RuntimeError("reload failed: " + emerg.group(0))
            current = set(self.worker_pids())
            return not current & old and len(current) >= self.workers

        wait_for(new_workers_up, what="new nginx workers after reload")

    def stop(self):
        """Graceful quit; kill after a timeout.  Safe to call twice."""
        if self.master_pid is None:
            return
        pids = [self.master_pid, *children(self.master_pid)]
        send_signal(self.master_pid, signal.SIGQUIT)
        try:
            wait_for(lambda: not any(map(alive, pids)), timeout=10,
                     what="nginx to quit")
        except TimeoutError:
            for pid in pids:
                send_signal(pid, signal.SIGKILL)
            wait_for(lambda: not any(map(alive, pids)), timeout=5,
                     what="nginx to die")
        self.master_pid = None

    def test_config(self, http_conf, workers=1, main_conf="",
                    events_conf=""):
        """Run `nginx -t` on a config in a separate prefix; returns
        (returncode, stderr text)."""
        prefix = self.prefix + "-t"
        make_prefix(prefix)
        with open(os.path.join(prefix, "conf", "nginx.conf"), "w") as f:
            f.write(self._render(prefix, http_conf, workers, main_conf,
                                 events_conf))
        result = run_nginx(prefix, "-t")
        return result.returncode, result.stderr

    def test_config_at(self, http_conf, marker=None, **kw):
        """test_config() plus the number of the first line of the tested
        nginx.conf that holds marker: (returncode, stderr, line); line is
        None without a marker."""
        rc, err = self.test_config(http_conf, **kw)
        if marker is None:
            return rc, err, None
        with open(os.path.join(self.prefix + "-t", "conf", "nginx.conf")) \
                as f:
            for number, text in enumerate(f, 1):
                if marker in text:
                    return rc, err, number
        raise AssertionError("no line of the config holds %r" % marker)

    def bad_log_lines(self):
        notes = os.environ.get("MICROSHOP_SANITIZER_NOTES")
        return (bad_log_lines(self.error_log(), self.allow_log)
                + valgrind_errors(os.path.join(self.prefix, "logs"))
                + [line for prefix in (self.prefix, self.prefix + "-t")
                   for line in sanitizer_errors(
                       os.path.join(prefix, "logs"), notes)])
