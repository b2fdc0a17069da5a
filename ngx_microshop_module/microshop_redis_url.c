/*
 * ngx_microshop -- the URL of microshop_redis (pure logic, no nginx
 * headers): see microshop_redis_url.h.
 */

#include <string.h>

#include "microshop_redis_url.h"


typedef struct {
    const unsigned char  *start;
    const unsigned char  *p;
    const unsigned char  *end;
} microshop_redis_cursor_t;


static const char *microshop_redis_url_hosts(microshop_redis_cursor_t *c,
    microshop_redis_url_t *out, unsigned port, int many);
static const char *microshop_redis_url_host(microshop_redis_cursor_t *c,
    microshop_redis_url_host_t *h, unsigned port);
static const char *microshop_redis_url_password(microshop_redis_cursor_t *c,
    microshop_redis_url_t *out);
static const char *microshop_redis_url_db(microshop_redis_cursor_t *c,
    unsigned long *db);
static const char *microshop_redis_url_number(microshop_redis_cursor_t *c,
    unsigned long *db);
static const char *microshop_redis_url_unix(microshop_redis_cursor_t *c,
    microshop_redis_url_t *out);
static int microshop_redis_url_prefix(microshop_redis_cursor_t *c,
    const char *prefix);


const char *
microshop_redis_url_parse(const unsigned char *url, size_t len,
    microshop_redis_url_t *out)
{
    const char                *err;
    const unsigned char       *m;
    microshop_redis_cursor_t   c;

    memset(out, 0, sizeof(*out));

    c.start = url;
    c.p = url;
    c.end = url + len;

    if (microshop_redis_url_prefix(&c, "unix:")) {
        out->kind = MICROSHOP_REDIS_URL_UNIX;
        return microshop_redis_url_unix(&c, out);
    }

    if (microshop_redis_url_prefix(&c, "redis://")) {
        out->kind = MICROSHOP_REDIS_URL_TCP;

        err = microshop_redis_url_hosts(&c, out, MICROSHOP_REDIS_URL_PORT, 0);

        if (err == NULL && c.p < c.end) {
            err = microshop_redis_url_db(&c, &out->db);
        }

        return err;
    }

    if (microshop_redis_url_prefix(&c, "redis+cluster://")) {
        out->kind = MICROSHOP_REDIS_URL_CLUSTER;

        err = microshop_redis_url_hosts(&c, out, MICROSHOP_REDIS_URL_PORT, 1);

        if (err == NULL && c.p < c.end) {
            err = (*c.p == '/') ? "a cluster has no database number"
                                : "trailing characters after the addresses";
        }

        return err;
    }

    if (microshop_redis_url_prefix(&c, "redis+sentinel://")) {
        out->kind = MICROSHOP_REDIS_URL_SENTINEL;

        err = microshop_redis_url_hosts(&c, out,
                                        MICROSHOP_REDIS_URL_SENTINEL_PORT, 1);

        if (err != NULL) {
            return err;
        }

        if (c.p == c.end || *c.p != '/') {
            return "missing master name (redis+sentinel://host:port/master)";
        }

        m = ++c.p;

        while (c.p < c.end
               && ((*c.p >= 'a' && *c.p <= 'z') || (*c.p >= 'A' && *c.p <= 'Z')
                   || (*c.p >= '0' && *c.p <= '9')
                   || *c.p == '.' || *c.p == '_' || *c.p == '-'))
        {
            c.p++;
        }

        if (c.p == m) {
            return "missing master name (redis+sentinel://host:port/master)";
        }

        if (c.p < c.end && *c.p != '/') {
            return "invalid master name (letters, digits, '.', '_', '-')";
        }

        out->master.off = m - url;
        out->master.len = c.p - m;

        if (c.p < c.end) {
            return microshop_redis_url_db(&c, &out->db);
        }

        return NULL;
    }

    return "unknown scheme (redis://, unix:, redis+cluster://, "
           "redis+sentinel://)";
}


static int
microshop_redis_url_prefix(microshop_redis_cursor_t *c, const char *prefix)
{
    size_t  n;

    n = strlen(prefix);

    if ((size_t) (c->end - c->p) < n || memcmp(c->p, prefix, n) != 0) {
        return 0;
    }

    c->p += n;

    return 1;
}


/* [:password@], the '@' being the first one after "://" */
static const char *
microshop_redis_url_password(microshop_redis_cursor_t *c,
    microshop_redis_url_t *out)
{
    const unsigned char  *at, *q;

    at = memchr(c->p, '@', c->end - c->p);

    if (at == NULL) {
        return NULL;
    }

    if (*c->p != ':') {
        return "a user name is not supported (redis://:password@host)";
    }

    for (q = c->p + 1; q < at; q++) {
        if (*q <= 0x20 || *q >= 0x7f || *q == ':' || *q == '/') {
            return "invalid character in the password (no ':', '/', "
                   "spaces or control characters)";
        }
    }

    if (at == c->p + 1) {
        return "empty password";
    }

    if (memchr(at + 1, '@', c->end - at - 1) != NULL) {
        return "invalid character in the password (no '@')";
    }

    out->password.off = c->p + 1 - c->start;
    out->password.len = at - c->p - 1;

    c->p = at + 1;

    return NULL;
}


/* [:password@]host[:port], or a list of hosts separated by ',' when many */
static const char *
microshop_redis_url_hosts(microshop_redis_cursor_t *c,
    microshop_redis_url_t *out, unsigned port, int many)
{
    const char  *err;

    err = microshop_redis_url_password(c, out);
    if (err != NULL) {
        return err;
    }

    for ( ;; ) {
        if (out->nhosts == MICROSHOP_REDIS_URL_HOSTS_MAX) {
            return "too many addresses (at most 16)";
        }

        err = microshop_redis_url_host(c, &out->hosts[out->nhosts], port);
        if (err != NULL) {
            return err;
        }

        out->nhosts++;

        if (c->p == c->end || *c->p != ',') {
            break;
        }

        if (!many) {
            return "one address only (redis+cluster:// takes a list)";
        }

        c->p++;
    }

    if (c->p < c->end && *c->p != '/') {
        return "trailing characters after the address";
    }

    return NULL;
}


static const char *
microshop_redis_url_host(microshop_redis_cursor_t *c,
    microshop_redis_url_host_t *h, unsigned port)
{
    unsigned long         n;
    const unsigned char  *s, *d;

    s = c->p;

    if (s < c->end && *s == '[') {
        s++;
        c->p++;

        while (c->p < c->end
               && ((*c->p >= '0' && *c->p <= '9')
                   || (*c->p >= 'a' && *c->p <= 'f')
                   || (*c->p >= 'A' && *c->p <= 'F')
                   || *c->p == ':' || *c->p == '.'))
        {
            c->p++;
        }

        if (c->p == c->end || *c->p != ']') {
            return "invalid IPv6 address (e.g. [::1]:6379)";
        }

        if (c->p == s) {
            return "empty host";
        }

        h->ipv6 = 1;
        h->host.off = s - c->start;
        h->host.len = c->p - s;
        c->p++;

    } else {
        while (c->p < c->end
               && ((*c->p >= 'a' && *c->p <= 'z')
                   || (*c->p >= 'A' && *c->p <= 'Z')
                   || (*c->p >= '0' && *c->p <= '9')
                   || *c->p == '.' || *c->p == '-' || *c->p == '_'))
        {
            c->p++;
        }

        if (c->p == s) {
            return "empty host";
        }

        h->host.off = s - c->start;
        h->host.len = c->p - s;
    }

    h->port = port;

    if (c->p == c->end || *c->p != ':') {
        return NULL;
    }

    d = ++c->p;
    n = 0;

    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        if (n <= 65535) {
            n = n * 10 + (*c->p - '0');
        }

        c->p++;
    }

    if (c->p == d) {
        return "missing port after ':'";
    }

    if (n == 0 || n > 65535) {
        return "invalid port (1 .. 65535)";
    }

    h->port = (unsigned) n;

    return NULL;
}


/* "/N" at the end */
static const char *
microshop_redis_url_db(microshop_redis_cursor_t *c, unsigned long *db)
{
    if (*c->p != '/') {
        return "trailing characters after the address";
    }

    c->p++;

    return microshop_redis_url_number(c, db);
}


/* the database number, up to the end */
static const char *
microshop_redis_url_number(microshop_redis_cursor_t *c, unsigned long *db)
{
    unsigned long         n;
    const unsigned char  *d;

    d = c->p;
    n = 0;

    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        if (n <= MICROSHOP_REDIS_URL_DB_MAX) {
            n = n * 10 + (*c->p - '0');
        }

        c->p++;
    }

    if (c->p == d) {
        return "missing database number";
    }

    if (n > MICROSHOP_REDIS_URL_DB_MAX) {
        return "invalid database number (0 .. 2147483647)";
    }

    if (c->p < c->end) {
        return "trailing characters after the database number";
    }

    *db = n;

    return NULL;
}


/* unix:/path[?db=N] */
static const char *
microshop_redis_url_unix(microshop_redis_cursor_t *c,
    microshop_redis_url_t *out)
{
    const unsigned char  *s, *q;

    s = c->p;

    if (s == c->end || *s != '/') {
        return "the socket path must be absolute (unix:/path)";
    }

    q = memchr(s, '?', c->end - s);
    if (q == NULL) {
        q = c->end;
    }

    if (q - s == 1) {
        return "empty socket path";
    }

    if (q - s > MICROSHOP_REDIS_URL_PATH_MAX) {
        return "socket path too long (at most 107 bytes)";
    }

    for (c->p = s; c->p < q; c->p++) {
        if (*c->p < 0x20 || *c->p == 0x7f) {
            return "invalid character in the socket path";
        }
    }

    out->nhosts = 1;
    out->hosts[0].host.off = s - c->start;
    out->hosts[0].host.len = q - s;
    out->hosts[0].port = 0;

    if (q == c->end) {
        return NULL;
    }

    c->p = q + 1;

    if (!microshop_redis_url_prefix(c, "db=")) {
        return "unknown query (unix:/path?db=N)";
    }

    return microshop_redis_url_number(c, &out->db);
}


size_t
microshop_redis_url_mask(const unsigned char *url, size_t len,
    unsigned char *out)
{
    size_t                n;
    const unsigned char  *s, *at, *p;

    s = NULL;

    for (p = url; p + 3 <= url + len; p++) {
        if (p[0] == ':' && p[1] == '/' && p[2] == '/') {
            s = p + 3;
            break;
        }
    }

    at = NULL;

    if (s != NULL) {
        for (p = url + len; p > s; p--) {
            if (p[-1] == '@') {
                at = p - 1;
                break;
            }
        }
    }

    if (at == NULL) {
        memcpy(out, url, len);
        return len;
    }

    n = s - url;
    memcpy(out, url, n);
    memcpy(out + n, "***", 3);
    n += 3;
    memcpy(out + n, at, url + len - at);

    return n + (url + len - at);
}
