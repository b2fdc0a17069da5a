"""`nginx -t` on microshop_redis (docs/redis.md "URL forms"): the forms it
takes, and every bad one refused with a message naming the directive, the
file and the line, and never showing the password.

No Redis is needed: nginx -t resolves names (at configuration time) but
connects nowhere."""

import pytest

import microshop

from microshop import assert_conf_refused

SERVER = """
server {
    listen 127.0.0.1:%d;
    location / { return 204; }
}
"""

PASSWORD = "Sup3r-s3cret"


@pytest.fixture(scope="module")
def conf_test(nginx):
    n = nginx.new()

    def check(directives, marker="microshop_redis"):
        return n.test_config_at(directives + SERVER % n.port, marker)

    return check


@pytest.mark.parametrize("directive", [
    "microshop_redis redis://127.0.0.1:6379;",
    pytest.param("microshop_redis redis://localhost;",
                 marks=microshop.NEEDS_LOCALHOST),
    "microshop_redis redis://:%s@127.0.0.1:6380/15;" % PASSWORD,
    "microshop_redis redis://[::1]:6379/2147483647;",
    "microshop_redis unix:/run/redis/redis.sock;",
    "microshop_redis unix:/tmp/r.sock?db=3 timeout=50ms;",
    "microshop_redis redis://127.0.0.1:6379 timeout=1s connect_timeout=250ms"
    " on_error=closed;",
    "microshop_redis redis://127.0.0.1:6379 on_error=open;",
    "microshop_redis redis://127.0.0.1:6379 on_error=local timeout=1;",
    # a cluster's seeds, a sentinel set (docs/redis.md "Redis Cluster",
    # "Sentinel"): the same options
    "microshop_redis redis+cluster://:%s@10.0.0.1:7000,10.0.0.2:7001;"
    % PASSWORD,
    "microshop_redis redis+cluster://127.0.0.1:7000 timeout=50ms"
    " on_error=closed;",
    "microshop_redis redis+sentinel://10.0.0.1:26379/mymaster;",
    "microshop_redis redis+sentinel://:%s@10.0.0.1,10.0.0.2:26380/mymaster/3"
    " connect_timeout=300ms;" % PASSWORD,
])
def test_accepted(conf_test, directive):
    rc, err, _ = conf_test(directive)
    assert rc == 0, err
    assert PASSWORD not in err


@pytest.mark.parametrize("directive,needles", [
    ("microshop_redis http://127.0.0.1:6379;", ["unknown scheme"]),
    ("microshop_redis redis://:6379;", ["empty host"]),
    ("microshop_redis redis://127.0.0.1:0;", ["invalid port"]),
    ("microshop_redis redis://127.0.0.1:65536;", ["invalid port"]),
    ("microshop_redis redis://127.0.0.1:6379/x;",
     ["missing database number"]),
    ("microshop_redis redis://127.0.0.1:6379/2147483648;",
     ["invalid database number"]),
    ("microshop_redis redis://127.0.0.1:6379/1junk;",
     ["trailing characters"]),
    ("microshop_redis redis://user:%s@127.0.0.1;" % PASSWORD,
     ["user name", "redis://***@127.0.0.1"]),
    ("microshop_redis redis://:%s/x@127.0.0.1;" % PASSWORD,
     ["invalid character in the password", "redis://***@127.0.0.1"]),
    ("microshop_redis unix:relative.sock;", ["absolute"]),
    ("microshop_redis unix:/tmp/r.sock?db=x;", ["missing database number"]),
    ("microshop_redis redis+cluster://:%s@10.0.0.1:7000,10.0.0.2:7001/1;"
     % PASSWORD, ["a cluster has no database number"]),
    ("microshop_redis redis+cluster://10.0.0.1:7000,no-such-host.invalid;",
     ["host not found", "no-such-host.invalid:6379"]),
    ("microshop_redis redis+sentinel://10.0.0.1:26379/mymaster pool=2;",
     ["invalid parameter", "pool=2"]),
    ("microshop_redis redis+sentinel://10.0.0.1:26379;",
     ["missing master name"]),
    ("microshop_redis redis://no-such-host.invalid:6379;",
     ["host not found", "no-such-host.invalid:6379"]),
    ("microshop_redis redis://:%s@no-such-host.invalid;" % PASSWORD,
     ["host not found", "redis://***@no-such-host.invalid"]),
    ("microshop_redis redis://127.0.0.1 timeout=0;", ["invalid time"]),
    ("microshop_redis redis://127.0.0.1 timeout=2h;", ["invalid time"]),
    ("microshop_redis redis://127.0.0.1 connect_timeout=soon;",
     ["invalid time"]),
    ("microshop_redis redis://127.0.0.1 on_error=maybe;",
     ["invalid parameter", "on_error=maybe"]),
    ("microshop_redis redis://127.0.0.1 pool=4;",
     ["invalid parameter", "pool=4"]),
    ("microshop_redis;", ["invalid number of arguments"]),
])
def test_refused(conf_test, directive, needles):
    rc, err, line = conf_test(directive)
    assert_conf_refused(rc, err, line, '"microshop_redis"', *needles)
    assert PASSWORD not in err


def test_duplicate(conf_test):
    rc, err, line = conf_test(
        "microshop_redis redis://:%s@127.0.0.1:6379;\n"
        "microshop_redis redis://127.0.0.1:6380; # again" % PASSWORD,
        "# again")
    assert_conf_refused(rc, err, line, '"microshop_redis" directive is '
                        'duplicate')
    assert PASSWORD not in err


def test_not_in_location(conf_test):
    rc, err, line = conf_test(
        "server {\n    listen 127.0.0.1:1;\n"
        "    location / { microshop_redis redis://127.0.0.1; }\n}\n")
    assert_conf_refused(rc, err, line, '"microshop_redis" directive is not '
                        'allowed here')
