/*
 * ngx_microshop -- the URL of microshop_redis (pure logic, no nginx
 * headers; docs/redis.md "URL forms").
 *
 *   redis://[:password@]host[:port][/db]
 *   unix:/path[?db=N]
 *   redis+cluster://[:password@]host[:port],host[:port],...
 *   redis+sentinel://[:password@]host[:port],.../master[/db]
 *
 * host is a name, an IPv4 address or a bracketed IPv6 address ([::1]);
 * the port defaults to 6379 (26379 for a sentinel).  The password is
 * literal: any printable byte but ':' '@' '/'.  db is 0 .. 2^31-1.
 * Nothing is resolved here: the parser only cuts the text, every piece is
 * an offset into the input.
 */

#ifndef _MICROSHOP_REDIS_URL_H_INCLUDED_
#define _MICROSHOP_REDIS_URL_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


typedef enum {
    MICROSHOP_REDIS_URL_TCP = 0,      /* redis:// */
    MICROSHOP_REDIS_URL_UNIX,         /* unix: */
    MICROSHOP_REDIS_URL_CLUSTER,      /* redis+cluster:// */
    MICROSHOP_REDIS_URL_SENTINEL      /* redis+sentinel:// */
} microshop_redis_url_kind_e;


#define MICROSHOP_REDIS_URL_HOSTS_MAX   16
#define MICROSHOP_REDIS_URL_PATH_MAX    107     /* sun_path, NUL excluded */
#define MICROSHOP_REDIS_URL_DB_MAX      2147483647
#define MICROSHOP_REDIS_URL_PORT        6379
#define MICROSHOP_REDIS_URL_SENTINEL_PORT  26379


/* a piece of the input: off bytes in, len long (len 0: absent) */
typedef struct {
    size_t                       off;
    size_t                       len;
} microshop_redis_span_t;


typedef struct {
    microshop_redis_span_t       host;   /* without brackets, or the path */
    unsigned                     port;   /* 0: a unix socket */
    unsigned                     ipv6;   /* host was bracketed */
} microshop_redis_url_host_t;


typedef struct {
    microshop_redis_url_kind_e   kind;
    size_t                       nhosts;
    microshop_redis_url_host_t   hosts[MICROSHOP_REDIS_URL_HOSTS_MAX];
    microshop_redis_span_t       password;   /* len 0: no AUTH */
    microshop_redis_span_t       master;     /* sentinel only */
    unsigned long                db;
} microshop_redis_url_t;


/*
 * Cuts url (len bytes, no NUL needed) into *out.  NULL on success, or what
 * is wrong with it (a static string that never quotes the input).
 */
const char *microshop_redis_url_parse(const unsigned char *url, size_t len,
    microshop_redis_url_t *out);

/*
 * The URL for messages and logs: everything between "://" and the last
 * '@' (the password, whatever the rest says) becomes "***".  It works on
 * any text, parsed or not.  out holds at least len + 4 bytes; returns the
 * length written (no NUL).
 */
#define MICROSHOP_REDIS_URL_MASK_EXTRA  4
size_t microshop_redis_url_mask(const unsigned char *url, size_t len,
    unsigned char *out);


#endif /* _MICROSHOP_REDIS_URL_H_INCLUDED_ */
