/*
 * ngx_microshop -- unit tests: Redis Cluster's key slots, its MOVED and
 * ASK redirects and Sentinel's +switch-master (microshop_redis_slot.c).
 *
 * The slots of test_slot_vectors were confirmed against a real
 * redis-server 7.0.15 in cluster mode (CLUSTER KEYSLOT), along with 3000
 * random keys, once, by a throw-away script.  Every parser reads a copy
 * of exactly len bytes, no NUL after it: a read past the end is
 * valgrind's (make valgrind).
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "microshop_redis_slot.h"


#define S(lit)  (const unsigned char *) (lit), sizeof(lit) - 1


/* a malloc()ed copy of exactly len bytes (free() it) */
static unsigned char *
copy(const char *text, size_t len)
{
    unsigned char  *p;

    p = malloc(len ? len : 1);
    assert_non_null(p);
    memcpy(p, text, len);

    return p;
}


static unsigned
slot(const char *key, size_t len)
{
    unsigned        s;
    unsigned char  *p;

    p = copy(key, len);
    s = microshop_redis_slot(p, len);
    free(p);

    assert_true(s < MICROSHOP_REDIS_SLOTS);

    return s;
}


/* the slot of a whole key, tag or not */
static unsigned
whole(const char *key)
{
    return microshop_redis_crc16((const unsigned char *) key, strlen(key))
           % MICROSHOP_REDIS_SLOTS;
}


#define SLOT(lit)  slot((lit), sizeof(lit) - 1)


static void
test_crc16(void **state)
{
    assert_int_equal(microshop_redis_crc16(S("123456789")), 0x31c3);
    assert_int_equal(microshop_redis_crc16(S("")), 0);
    assert_int_equal(microshop_redis_crc16(S("A")), 0x58e5);
    assert_int_equal(microshop_redis_crc16(S("\0")), 0);
    assert_int_equal(microshop_redis_crc16(S("\xff")), 0x1ef0);
}


static void
test_slot_vectors(void **state)
{
    size_t  i;

    /* CLUSTER KEYSLOT of redis-server 7.0.15 */
    static const struct {
        const char  *key;
        size_t       len;
        unsigned     slot;
    } vectors[] = {
#define V(lit, s)  { lit, sizeof(lit) - 1, s }
        V("foo", 12182),
        V("bar", 5061),
        V("hello", 866),
        V("123456789", 12739),
        V("{user1000}.following", 3443),
        V("user1000", 3443),
        V("foo{}{bar}", 8363),
        V("foo{{bar}}zap", 4015),
        V("{bar", 4015),
        V("foo{bar}{zap}", 5061),
        V("{}", 15257),
        V("", 0),
        V("}{", 12793),
        V("abc{def", 2899),
        V("{", 4092),
        V("}", 12090),
        V("{{}}", 4092),
        V("a{b}c{d}", 3300),
        V("{}a}", 4370),
        V("\xff\x00{\x01}", 4129),
        V("{s1}:stock:A1", 15224),
        V("ms:{acme}:order:42", 11304),
        V("{ax{::", 10171),
        V("}xbb:x}b", 16297),
        V("::{bb}bxabb}: a", 8620),
        V(" :}xx{} ab:x{{", 13389),
        V("x{x :x:} bb{:ab", 15464),
        V("   }}{bxbb b{a} aax{", 14004),
        V("a{}}{x:", 13402),
        V("\x94\x5f\x76\x4b\x73\x5f\x42\x24\x6d\x96\x0f\xdc\x40\x07\x8d\x4b",
          6550),
        V("\x3a\x20\xff\x7b\x3a", 12759),
        V("\x7d\x3a\x3a\xff\x3a\x61\x00\x7b\x62\x00", 8515),
        V("\x62\x20\x78\x00\x61\x61\x00\x00\x7b\x20\x78\x78\x78\x20\x7d\x7d"
          "\x3a\x61\xff\x78\x7b\x7b\x3a\xff\x7d\x3a\xff\x7d\x00\x7d\x3a\xff"
          "\x7d\x00\xff\x61", 6969),
#undef V
    };

    for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        if (slot(vectors[i].key, vectors[i].len) != vectors[i].slot) {
            fail_msg("vector %zu: slot %u, wanted %u", i,
                     slot(vectors[i].key, vectors[i].len), vectors[i].slot);
        }
    }
}


static void
test_hash_tags(void **state)
{
    /* a tag: the keys of one tag share its slot */
    assert_int_equal(SLOT("{user1000}.following"), SLOT("user1000"));
    assert_int_equal(SLOT("{user1000}.followers"), SLOT("user1000"));
    assert_int_equal(SLOT("foo{bar}{zap}"), SLOT("bar"));
    assert_int_equal(SLOT("foo{{bar}}zap"), SLOT("{bar"));
    assert_int_equal(SLOT("x{a}"), SLOT("a"));
    assert_int_equal(SLOT("x}{a}"), SLOT("a"));

    /* no tag: the whole key */
    assert_int_equal(SLOT("foo{}{bar}"), whole("foo{}{bar}"));
    assert_int_equal(SLOT("{}"), whole("{}"));
    assert_int_equal(SLOT("}{"), whole("}{"));
    assert_int_equal(SLOT("abc{def"), whole("abc{def"));
    assert_int_equal(SLOT("abc}def{"), whole("abc}def{"));
    assert_int_equal(SLOT("{"), whole("{"));
    assert_int_equal(SLOT(""), 0);

    /* len bounds the key: the '}' past it does not close the tag */
    assert_int_equal(microshop_redis_slot(S("{a}") - 1), whole("{a"));
    assert_int_equal(microshop_redis_slot(S("ab") - 1), whole("a"));
}


/* parses a copy of text, host copied out as a string */
static microshop_redis_redirect_e
redirect(const char *text, size_t len, microshop_redis_redirect_t *r,
    char *host)
{
    unsigned char               *p;
    microshop_redis_redirect_e   kind;

    p = copy(text, len);

    kind = microshop_redis_redirect_parse(p, len, r);
    assert_int_equal(kind, r->kind);

    host[0] = '\0';

    if (r->host != NULL) {
        assert_true(r->host >= p && r->host + r->host_len <= p + len);
        memcpy(host, r->host, r->host_len);
        host[r->host_len] = '\0';
    }

    free(p);

    return kind;
}


#define REDIRECT(lit, r, host)  redirect((lit), sizeof(lit) - 1, (r), (host))


static void
assert_moved(const char *text, microshop_redis_redirect_e kind,
    unsigned slot, const char *host, unsigned port)
{
    char                         h[256];
    microshop_redis_redirect_t   r;

    assert_int_equal(redirect(text, strlen(text), &r, h), kind);
    assert_int_equal(r.slot, slot);
    assert_non_null(r.host);
    assert_string_equal(h, host);
    assert_int_equal(r.host_len, strlen(host));
    assert_int_equal(r.port, port);
}


static void
test_redirect(void **state)
{
    char                         h[256];
    microshop_redis_redirect_t   r;

    assert_moved("MOVED 3999 127.0.0.1:6381", MICROSHOP_REDIS_REDIRECT_MOVED,
                 3999, "127.0.0.1", 6381);
    assert_moved("ASK 3999 127.0.0.1:6381", MICROSHOP_REDIS_REDIRECT_ASK,
                 3999, "127.0.0.1", 6381);
    assert_moved("MOVED 0 redis-7.example:1", MICROSHOP_REDIS_REDIRECT_MOVED,
                 0, "redis-7.example", 1);
    assert_moved("ASK 16383 h:65535", MICROSHOP_REDIS_REDIRECT_ASK, 16383,
                 "h", 65535);

    /* IPv6, unbracketed: the host is all before the last ':' */
    assert_moved("MOVED 1 ::1:7000", MICROSHOP_REDIS_REDIRECT_MOVED, 1,
                 "::1", 7000);
    assert_moved("MOVED 2 fe80::1:2:7001", MICROSHOP_REDIS_REDIRECT_MOVED, 2,
                 "fe80::1:2", 7001);

    /* an empty host: the endpoint asked */
    assert_moved("MOVED 5 :7000", MICROSHOP_REDIS_REDIRECT_MOVED, 5, "",
                 7000);
    assert_moved("ASK 5 :7000", MICROSHOP_REDIS_REDIRECT_ASK, 5, "", 7000);

    /* an IPv6 address without its port is read as host and port (Redis
     * always writes the port) */
    assert_moved("MOVED 1 ::1", MICROSHOP_REDIS_REDIRECT_MOVED, 1, ":", 1);

    /* len bounds the text: the bytes after it are not the port's */
    assert_int_equal(redirect("MOVED 3999 127.0.0.1:63819", 25, &r, h),
                     MICROSHOP_REDIS_REDIRECT_MOVED);
    assert_int_equal(r.port, 6381);
    assert_string_equal(h, "127.0.0.1");
    assert_int_equal(redirect("MOVED 39 h:1", 8, &r, h),
                     MICROSHOP_REDIS_REDIRECT_NONE);
}


static void
test_redirect_other(void **state)
{
    char                         h[256];
    microshop_redis_redirect_t   r;

    assert_int_equal(REDIRECT("TRYAGAIN Multiple keys request during "
                              "rehashing of slot", &r, h),
                     MICROSHOP_REDIS_REDIRECT_TRYAGAIN);
    assert_null(r.host);
    assert_int_equal(REDIRECT("TRYAGAIN", &r, h),
                     MICROSHOP_REDIS_REDIRECT_TRYAGAIN);
    assert_int_equal(REDIRECT("CLUSTERDOWN The cluster is down", &r, h),
                     MICROSHOP_REDIS_REDIRECT_CLUSTERDOWN);
    assert_null(r.host);
    assert_int_equal(REDIRECT("CLUSTERDOWN Hash slot not served", &r, h),
                     MICROSHOP_REDIS_REDIRECT_CLUSTERDOWN);
    assert_int_equal(REDIRECT("CLUSTERDOWN", &r, h),
                     MICROSHOP_REDIS_REDIRECT_CLUSTERDOWN);
}


static void
assert_none(const char *text)
{
    char                         h[256];
    microshop_redis_redirect_t   r;

    if (redirect(text, strlen(text), &r, h) != MICROSHOP_REDIS_REDIRECT_NONE) {
        fail_msg("\"%s\": kind %d, wanted NONE", text, (int) r.kind);
    }

    /* nothing half-parsed is left behind */
    assert_null(r.host);
    assert_int_equal(r.host_len, 0);
    assert_int_equal(r.slot, 0);
    assert_int_equal(r.port, 0);
}


static void
test_redirect_malformed(void **state)
{
    assert_none("");
    assert_none("ERR unknown command 'FOO'");
    assert_none("NOSCRIPT No matching script. Please use EVAL.");
    assert_none("WRONGTYPE Operation against a key holding the wrong kind");
    assert_none("MOVEDX 1 h:1");
    assert_none("ASKING 1 h:1");
    assert_none("moved 1 h:1");
    assert_none("-MOVED 1 h:1");
    assert_none(" MOVED 1 h:1");
    assert_none("TRYAGAINX");
    assert_none("CLUSTERDOWNX The cluster is down");
    assert_none("MOVED");
    assert_none("MOVED ");
    assert_none("ASK ");
    assert_none("MOVED 1");
    assert_none("MOVED 1 ");

    /* the slot */
    assert_none("MOVED 16384 h:1");
    assert_none("ASK 16384 h:1");
    assert_none("MOVED 99999999999999999999999 h:1");
    assert_none("MOVED -1 h:1");
    assert_none("MOVED +1 h:1");
    assert_none("MOVED 1x h:1");
    assert_none("MOVED x h:1");
    assert_none("MOVED  1 h:1");
    assert_none("MOVED 1  h:1");

    /* the port */
    assert_none("MOVED 1 h");
    assert_none("MOVED 1 h:");
    assert_none("MOVED 1 :");
    assert_none("MOVED 1 h:0");
    assert_none("MOVED 1 h:65536");
    assert_none("MOVED 1 h:99999999999999999999");
    assert_none("MOVED 1 h:-1");
    assert_none("MOVED 1 h:1:");

    /* trailing bytes, a host with spaces or control bytes */
    assert_none("MOVED 1 h:1 ");
    assert_none("MOVED 1 h:1x");
    assert_none("MOVED 1 h:1 extra");
    assert_none("MOVED 1 h:1\r\n");
    assert_none("MOVED 1 a b:1");
    assert_none("MOVED 1 a\tb:1");
    assert_none("ASK 1 h\x7f:1");
}


typedef int (*sentinel_parse_pt)(const unsigned char *msg, size_t len,
    microshop_redis_switch_t *out);


/* parses a copy of text, the pieces copied out as strings */
static int
sentinel_message(sentinel_parse_pt parse, const char *text, char *name,
    char *host, unsigned *port)
{
    int                        rc;
    size_t                     len;
    unsigned char             *p;
    microshop_redis_switch_t   sw;

    len = strlen(text);
    p = copy(text, len);

    rc = parse(p, len, &sw);

    if (rc == 0) {
        assert_true(sw.name >= p && sw.name + sw.name_len <= p + len);
        assert_true(sw.host >= p && sw.host + sw.host_len <= p + len);
        memcpy(name, sw.name, sw.name_len);
        name[sw.name_len] = '\0';
        memcpy(host, sw.host, sw.host_len);
        host[sw.host_len] = '\0';
        *port = sw.port;
    }

    free(p);

    return rc;
}


#define switch_master(text, name, host, port)                                 \
    sentinel_message(microshop_redis_switch_parse, text, name, host, port)
#define promoted(text, name, host, port)                                      \
    sentinel_message(microshop_redis_promoted_parse, text, name, host, port)


static void
test_switch(void **state)
{
    char      name[64], host[64];
    unsigned  port;

    assert_int_equal(switch_master("mymaster 127.0.0.1 6379 127.0.0.1 6380",
                                   name, host, &port), 0);
    assert_string_equal(name, "mymaster");
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 6380);

    assert_int_equal(switch_master("m-1.x_y ::1 1 fe80::2 65535", name, host,
                                   &port), 0);
    assert_string_equal(name, "m-1.x_y");
    assert_string_equal(host, "fe80::2");
    assert_int_equal(port, 65535);

    assert_int_equal(switch_master("m 10.0.0.1 6379 10.0.0.2 6379", name,
                                   host, &port), 0);
    assert_string_equal(host, "10.0.0.2");
    assert_int_equal(port, 6379);
}


static void
test_switch_malformed(void **state)
{
    size_t       i;
    char         name[64], host[64];
    unsigned     port;

    static const char  *bad[] = {
        "",
        " ",
        "mymaster",
        "mymaster 127.0.0.1 6379 127.0.0.1",            /* 4 fields */
        "mymaster 127.0.0.1 6379 127.0.0.1 6380 x",     /* 6 fields */
        "mymaster 127.0.0.1 6379 127.0.0.1 6380 ",
        " mymaster 127.0.0.1 6379 127.0.0.1 6380",
        "mymaster  127.0.0.1 6379 127.0.0.1 6380",
        "mymaster 127.0.0.1 6379  127.0.0.1 6380",
        "mymaster 127.0.0.1 6379 127.0.0.1 6380\r\n",
        "mymaster 127.0.0.1 6379 127.0.0.1 0",
        "mymaster 127.0.0.1 6379 127.0.0.1 65536",
        "mymaster 127.0.0.1 6379 127.0.0.1 99999999999999999999",
        "mymaster 127.0.0.1 6379 127.0.0.1 63x0",
        "mymaster 127.0.0.1 6379 127.0.0.1 -1",
        "mymaster 127.0.0.1 0 127.0.0.1 6380",
        "mymaster 127.0.0.1 x 127.0.0.1 6380",
        "mymaster 127.0.0.1 65536 127.0.0.1 6380",
        "mymaster 127.0.0.1 6379 127.0\t.0.1 6380",
        "my\x01master 127.0.0.1 6379 127.0.0.1 6380",
    };

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (switch_master(bad[i], name, host, &port) != -1) {
            fail_msg("\"%s\": accepted", bad[i]);
        }
    }
}


static void
test_promoted(void **state)
{
    size_t    i;
    char      name[64], host[64];
    unsigned  port;

    static const char  *bad[] = {
        "",
        "slave 127.0.0.1:7202 127.0.0.1 7202 @ mymaster 127.0.0.1",
        "slave 127.0.0.1:7202 127.0.0.1 7202 @ mymaster 127.0.0.1 7201 x",
        "master 127.0.0.1:7202 127.0.0.1 7202 @ mymaster 127.0.0.1 7201",
        "sentinel 127.0.0.1:7202 127.0.0.1 7202 @ mymaster 127.0.0.1 7201",
        "slave 127.0.0.1:7202 127.0.0.1 7202 # mymaster 127.0.0.1 7201",
        "slave 127.0.0.1:7202 127.0.0.1 0 @ mymaster 127.0.0.1 7201",
        "slave 127.0.0.1:7202 127.0.0.1 7202 @ mymaster 127.0.0.1 65536",
        "slave 127.0.0.1:7202 127.0.0.1 7202 @@ mymaster 127.0.0.1 7201",
        "slave  127.0.0.1:7202 127.0.0.1 7202 @ mymaster 127.0.0.1 7201",
        "slave 127.0.0.1:7202 127.0.0.1 7202 @ mymaster 127.0.0.1 7201\n",
        /* +switch-master's form is not this one */
        "mymaster 127.0.0.1 6379 127.0.0.1 6380",
    };

    /* as Redis 7.0's sentinel.c writes it: "%@" of the promoted replica */
    assert_int_equal(promoted("slave 127.0.0.1:7202 127.0.0.1 7202 @ "
                              "mymaster 127.0.0.1 7201", name, host, &port),
                     0);
    assert_string_equal(name, "mymaster");
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 7202);

    assert_int_equal(promoted("replica [::1]:1 ::1 1 @ m-2 ::2 65535", name,
                              host, &port), 0);
    assert_string_equal(name, "m-2");
    assert_string_equal(host, "::1");
    assert_int_equal(port, 1);

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (promoted(bad[i], name, host, &port) != -1) {
            fail_msg("\"%s\": accepted", bad[i]);
        }
    }
}


static void
test_event_master(void **state)
{
    size_t                i;
    size_t                n;
    const unsigned char  *name;

    static const struct {
        const char       *text;
        const char       *name;
    } good[] = {
        { "master mymaster 127.0.0.1 7211", "mymaster" },
        { "slave 127.0.0.1:7212 127.0.0.1 7212 @ shop 127.0.0.1 7211",
          "shop" },
        { "sentinel 0123abcd 127.0.0.1 26379 @ m-1 ::1 7211", "m-1" },
    };

    static const char  *bad[] = {
        "",
        "master mymaster 127.0.0.1",
        "slave mymaster 127.0.0.1 7211",
        "slave 127.0.0.1:7212 127.0.0.1 7212 # shop 127.0.0.1 7211",
        "slave 127.0.0.1:7212 127.0.0.1 7212 @ shop 127.0.0.1",
        "master  mymaster 127.0.0.1 7211",
    };

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        unsigned char  *p = copy(good[i].text, strlen(good[i].text));

        assert_int_equal(microshop_redis_event_master(p, strlen(good[i].text),
                                                      &name, &n), 0);
        assert_int_equal(n, strlen(good[i].name));
        assert_memory_equal(name, good[i].name, n);
        free(p);
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unsigned char  *p = copy(bad[i], strlen(bad[i]));

        if (microshop_redis_event_master(p, strlen(bad[i]), &name, &n) != -1) {
            fail_msg("\"%s\": accepted", bad[i]);
        }

        free(p);
    }
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc16),
        cmocka_unit_test(test_slot_vectors),
        cmocka_unit_test(test_hash_tags),
        cmocka_unit_test(test_redirect),
        cmocka_unit_test(test_redirect_other),
        cmocka_unit_test(test_redirect_malformed),
        cmocka_unit_test(test_switch),
        cmocka_unit_test(test_switch_malformed),
        cmocka_unit_test(test_promoted),
        cmocka_unit_test(test_event_master),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
