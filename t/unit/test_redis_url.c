/*
 * ngx_microshop -- unit tests: the URL of microshop_redis
 * (microshop_redis_url.c).
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "microshop_redis_url.h"


static const char *
parse(const char *text, microshop_redis_url_t *url)
{
    return microshop_redis_url_parse((const unsigned char *) text,
                                     strlen(text), url);
}


static void
assert_span(const char *text, microshop_redis_span_t span, const char *want)
{
    assert_int_equal(span.len, strlen(want));
    assert_memory_equal(text + span.off, want, span.len);
}


static void
assert_refused(const char *text, const char *needle)
{
    const char             *err;
    microshop_redis_url_t   url;

    err = parse(text, &url);

    if (err == NULL || strstr(err, needle) == NULL) {
        fail_msg("%s: \"%s\", wanted \"%s\"", text, err ? err : "accepted",
                 needle);
    }
}


static void
test_tcp(void **state)
{
    const char             *s;
    microshop_redis_url_t   url;

    s = "redis://127.0.0.1:6380";
    assert_null(parse(s, &url));
    assert_int_equal(url.kind, MICROSHOP_REDIS_URL_TCP);
    assert_int_equal(url.nhosts, 1);
    assert_span(s, url.hosts[0].host, "127.0.0.1");
    assert_int_equal(url.hosts[0].port, 6380);
    assert_int_equal(url.hosts[0].ipv6, 0);
    assert_int_equal(url.password.len, 0);
    assert_int_equal(url.db, 0);

    s = "redis://redis.example";
    assert_null(parse(s, &url));
    assert_span(s, url.hosts[0].host, "redis.example");
    assert_int_equal(url.hosts[0].port, 6379);

    s = "redis://:s3cr#t!@localhost:1/15";
    assert_null(parse(s, &url));
    assert_span(s, url.password, "s3cr#t!");
    assert_span(s, url.hosts[0].host, "localhost");
    assert_int_equal(url.hosts[0].port, 1);
    assert_int_equal(url.db, 15);

    s = "redis://[::1]:65535/2147483647";
    assert_null(parse(s, &url));
    assert_span(s, url.hosts[0].host, "::1");
    assert_int_equal(url.hosts[0].ipv6, 1);
    assert_int_equal(url.hosts[0].port, 65535);
    assert_int_equal(url.db, 2147483647);

    s = "redis://h/0";
    assert_null(parse(s, &url));
    assert_int_equal(url.db, 0);
    assert_int_equal(url.hosts[0].port, 6379);
}


static void
test_tcp_refused(void **state)
{
    assert_refused("", "unknown scheme");
    assert_refused("http://h:1", "unknown scheme");
    assert_refused("REDIS://h:1", "unknown scheme");
    assert_refused("redis://", "empty host");
    assert_refused("redis://:6379", "empty host");
    assert_refused("redis://:pw@", "empty host");
    assert_refused("redis://:pw@:1", "empty host");
    assert_refused("redis://h:", "missing port");
    assert_refused("redis://h:0", "invalid port");
    assert_refused("redis://h:65536", "invalid port");
    assert_refused("redis://h:99999999999999999999", "invalid port");
    assert_refused("redis://h:1x", "trailing characters");
    assert_refused("redis://h:1/", "missing database number");
    assert_refused("redis://h:1/-1", "missing database number");
    assert_refused("redis://h:1/2147483648", "invalid database number");
    assert_refused("redis://h:1/99999999999999999999999",
                   "invalid database number");
    assert_refused("redis://h:1/1/", "trailing characters");
    assert_refused("redis://h:1/1x", "trailing characters");
    assert_refused("redis://h:1?db=1", "trailing characters");
    assert_refused("redis://h h:1", "trailing characters");
    assert_refused("redis://h:1,h:2", "one address only");
    assert_refused("redis://user:pw@h:1", "user name");
    assert_refused("redis://:@h:1", "empty password");
    assert_refused("redis://:p:w@h:1", "invalid character in the password");
    assert_refused("redis://:p/w@h:1", "invalid character in the password");
    assert_refused("redis://:p w@h:1", "invalid character in the password");
    assert_refused("redis://:p@w@h:1", "invalid character in the password");
    assert_refused("redis://[::1:1", "invalid IPv6");
    assert_refused("redis://[]:1", "empty host");
    assert_refused("redis://[::1]x", "trailing characters");
}


static void
test_unix(void **state)
{
    const char             *s;
    microshop_redis_url_t   url;
    char                    path[200];

    s = "unix:/run/redis/redis.sock";
    assert_null(parse(s, &url));
    assert_int_equal(url.kind, MICROSHOP_REDIS_URL_UNIX);
    assert_int_equal(url.nhosts, 1);
    assert_span(s, url.hosts[0].host, "/run/redis/redis.sock");
    assert_int_equal(url.hosts[0].port, 0);
    assert_int_equal(url.db, 0);

    s = "unix:/tmp/r.sock?db=3";
    assert_null(parse(s, &url));
    assert_span(s, url.hosts[0].host, "/tmp/r.sock");
    assert_int_equal(url.db, 3);

    assert_refused("unix:", "absolute");
    assert_refused("unix:run/r.sock", "absolute");
    assert_refused("unix:/", "empty socket path");
    assert_refused("unix:/?db=1", "empty socket path");
    assert_refused("unix:/r.sock?db=", "missing database number");
    assert_refused("unix:/r.sock?db=1x", "trailing characters");
    assert_refused("unix:/r.sock?db=2147483648", "invalid database number");
    assert_refused("unix:/r.sock?x=1", "unknown query");
    assert_refused("unix:/r\x01.sock", "invalid character");

    /* 107 bytes fit in sun_path with its NUL, 108 do not */
    memset(path, 'a', sizeof(path));
    memcpy(path, "unix:/", 6);
    path[5 + 107] = '\0';
    assert_null(parse(path, &url));
    assert_int_equal(url.hosts[0].host.len, 107);
    path[5 + 107] = 'a';
    path[5 + 108] = '\0';
    assert_refused(path, "too long");
}


static void
test_cluster(void **state)
{
    const char             *s;
    microshop_redis_url_t   url;
    char                    many[400];
    int                     i;

    s = "redis+cluster://10.0.0.1:7000,10.0.0.2,[::1]:7002";
    assert_null(parse(s, &url));
    assert_int_equal(url.kind, MICROSHOP_REDIS_URL_CLUSTER);
    assert_int_equal(url.nhosts, 3);
    assert_span(s, url.hosts[0].host, "10.0.0.1");
    assert_int_equal(url.hosts[0].port, 7000);
    assert_span(s, url.hosts[1].host, "10.0.0.2");
    assert_int_equal(url.hosts[1].port, 6379);
    assert_span(s, url.hosts[2].host, "::1");
    assert_int_equal(url.hosts[2].port, 7002);

    s = "redis+cluster://:pw@h:1";
    assert_null(parse(s, &url));
    assert_span(s, url.password, "pw");
    assert_int_equal(url.nhosts, 1);

    assert_refused("redis+cluster://", "empty host");
    assert_refused("redis+cluster://h:1,", "empty host");
    assert_refused("redis+cluster://h:1,,h:2", "empty host");
    assert_refused("redis+cluster://h:1/0", "no database number");
    assert_refused("redis+cluster://h:1;h:2", "trailing characters");

    strcpy(many, "redis+cluster://");
    for (i = 0; i < 17; i++) {
        strcat(many, i ? ",h:1" : "h:1");
    }
    assert_refused(many, "too many addresses");
}


static void
test_sentinel(void **state)
{
    const char             *s;
    microshop_redis_url_t   url;

    s = "redis+sentinel://:pw@s1:26380,s2/mymaster/4";
    assert_null(parse(s, &url));
    assert_int_equal(url.kind, MICROSHOP_REDIS_URL_SENTINEL);
    assert_int_equal(url.nhosts, 2);
    assert_span(s, url.password, "pw");
    assert_span(s, url.hosts[0].host, "s1");
    assert_int_equal(url.hosts[0].port, 26380);
    assert_span(s, url.hosts[1].host, "s2");
    assert_int_equal(url.hosts[1].port, 26379);
    assert_span(s, url.master, "mymaster");
    assert_int_equal(url.db, 4);

    s = "redis+sentinel://s1/m-1.x_y";
    assert_null(parse(s, &url));
    assert_span(s, url.master, "m-1.x_y");
    assert_int_equal(url.db, 0);

    assert_refused("redis+sentinel://s1:1", "missing master");
    assert_refused("redis+sentinel://s1:1/", "missing master");
    assert_refused("redis+sentinel://s1:1//1", "missing master");
    assert_refused("redis+sentinel://s1:1/m$", "invalid master");
    assert_refused("redis+sentinel://s1:1/m/", "missing database number");
    assert_refused("redis+sentinel://s1:1/m/1/2", "trailing characters");
}


static void
assert_masked(const char *text, const char *want)
{
    unsigned char  out[256];
    size_t         n;

    n = microshop_redis_url_mask((const unsigned char *) text, strlen(text),
                                 out);
    assert_true(n <= strlen(text) + MICROSHOP_REDIS_URL_MASK_EXTRA);
    out[n] = '\0';
    assert_string_equal((char *) out, want);
}


static void
test_mask(void **state)
{
    assert_masked("redis://:secret@h:1/2", "redis://***@h:1/2");
    assert_masked("redis://h:1/2", "redis://h:1/2");
    assert_masked("redis://@h", "redis://***@h");
    assert_masked("unix:/tmp/a@b", "unix:/tmp/a@b");
    assert_masked("", "");

    /* whatever a broken URL holds before its last '@' is hidden */
    assert_masked("redis://user:p/a:s@s@h:1", "redis://***@h:1");
    assert_masked("redis+sentinel://:pw@s1,s2/m",
                  "redis+sentinel://***@s1,s2/m");
    assert_masked("x://a@", "x://***@");
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp),
        cmocka_unit_test(test_tcp_refused),
        cmocka_unit_test(test_unix),
        cmocka_unit_test(test_cluster),
        cmocka_unit_test(test_sentinel),
        cmocka_unit_test(test_mask),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
