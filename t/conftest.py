"""pytest fixtures for the ngx_microshop integration tests.

The processes and helpers themselves are in t/microshop.py.
"""

import os
import shutil

import pytest

import microshop


@pytest.fixture(scope="session")
def module_so():
    """Path of the built module; stops the whole run when it is missing."""
    if not os.path.exists(microshop.MODULE_SO):
        pytest.exit("%s is missing: run make build" % microshop.MODULE_SO,
                    returncode=1)
    return microshop.MODULE_SO


@pytest.fixture(scope="session")
def keys():
    """Keys and secrets (microshop.Keys) in a directory nginx can read."""
    path = microshop.world_readable_dir("microshop-keys-")
    yield microshop.Keys(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def backend(tmp_path_factory):
    """The reference backend; tests call backend.reset() themselves."""
    server = microshop.Backend(str(tmp_path_factory.mktemp("backend")
                                   / "backend.log"))
    yield server
    server.stop()


@pytest.fixture
def clean(backend):
    """The backend reset and in its normal mode for the test, and back in
    its normal mode after it."""
    backend.reset()
    backend.mode()
    yield
    backend.mode()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A redis-server of our own on a free port."""
    server = microshop.RedisServer(str(tmp_path_factory.mktemp("redis")
                                       / "redis.log"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def module_redis(tmp_path_factory):
    """A redis-server of the test module's own, which it may stop, start
    again (same port) or flush as it likes."""
    server = microshop.RedisServer(str(tmp_path_factory.mktemp("redis")
                                       / "redis.log"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def nginx(module_so):
    """Factory of nginx instances: n = nginx.new(); n.start(conf).

    When the test module is done every instance is stopped, and the module
    fails if an error log holds an [alert], [emerg], [crit], a worker that
    exited on a signal or a sanitizer report that the instance did not
    allow (start(..., allow_log=[regex])).  The logs are then kept.
    """
    factory = microshop.NginxFactory()
    yield factory
    bad = factory.finish()
    if bad:
        pytest.fail("unexpected lines in nginx error logs (kept):\n"
                    + "\n".join("%s:\n  %s" % (path, "\n  ".join(lines))
                                 for path, lines in bad.items()))
