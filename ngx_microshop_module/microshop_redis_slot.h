/*
 * ngx_microshop -- Redis Cluster's key slots and the replies that move
 * them (pure logic, no nginx headers; docs/redis.md "Redis Cluster").
 *
 * The slot of a key is CRC16 (XMODEM: polynomial 0x1021, init 0, no
 * reflection, no final xor) of its hash tag, modulo 16384.  The hash tag
 * is what lies between the first '{' and the first '}' after it, when
 * that is at least one byte; otherwise (no '{', no '}' after it, or "{}"
 * first) the whole key is hashed.  "{user1000}.following" and
 * "{user1000}.followers" share a slot; "foo{}{bar}" hashes all of itself.
 */

#ifndef _MICROSHOP_REDIS_SLOT_H_INCLUDED_
#define _MICROSHOP_REDIS_SLOT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define MICROSHOP_REDIS_SLOTS  16384


uint16_t microshop_redis_crc16(const unsigned char *p, size_t len);

/* 0 .. MICROSHOP_REDIS_SLOTS - 1 */
unsigned microshop_redis_slot(const unsigned char *key, size_t len);


/*
 * An error reply that sends a command elsewhere:
 *
 *   "MOVED <slot> <host>:<port>"   the slot lives there now
 *   "ASK <slot> <host>:<port>"     this once: ASKING, then the command
 *
 * host is everything before the last ':' (an IPv6 address has colons of
 * its own, unbracketed as Redis writes it: "MOVED 1 ::1:7000"); it may be
 * empty, which means "the endpoint you asked" (a node whose
 * cluster-preferred-endpoint-type is unknown-endpoint).  slot is below
 * MICROSHOP_REDIS_SLOTS, port 1 .. 65535.
 */
typedef enum {
    MICROSHOP_REDIS_REDIRECT_NONE = 0,   /* not a redirect */
    MICROSHOP_REDIS_REDIRECT_MOVED,
    MICROSHOP_REDIS_REDIRECT_ASK,
    MICROSHOP_REDIS_REDIRECT_TRYAGAIN,   /* "TRYAGAIN ..." */
    MICROSHOP_REDIS_REDIRECT_CLUSTERDOWN /* "CLUSTERDOWN ..." */
} microshop_redis_redirect_e;

typedef struct {
    microshop_redis_redirect_e   kind;
    unsigned                     slot;        /* MOVED, ASK */
    const unsigned char         *host;        /* into the input */
    size_t                       host_len;
    unsigned                     port;
} microshop_redis_redirect_t;

/*
 * Reads an error reply's text (len bytes, no NUL needed).  Returns
 * out->kind; a MOVED or an ASK that is malformed (a slot out of range,
 * no ':' or a bad port, trailing bytes) is MICROSHOP_REDIS_REDIRECT_NONE,
 * so it reaches the caller as the error it is.
 */
microshop_redis_redirect_e microshop_redis_redirect_parse(
    const unsigned char *err, size_t len, microshop_redis_redirect_t *out);


/*
 * A Sentinel's +switch-master message:
 *   "<master-name> <old-ip> <old-port> <new-ip> <new-port>"
 * Returns 0 and the pieces (into the input) when it is well formed, -1
 * otherwise.  Ports 1 .. 65535.
 */
typedef struct {
    const unsigned char         *name;
    size_t                       name_len;
    const unsigned char         *host;        /* the new primary */
    size_t                       host_len;
    unsigned                     port;
} microshop_redis_switch_t;

int microshop_redis_switch_parse(const unsigned char *msg, size_t len,
    microshop_redis_switch_t *out);

/*
 * A Sentinel's +promoted-slave message, sent when the replica chosen by a
 * failover answers as a primary (before +switch-master, which waits for
 * the other replicas):
 *   "slave <name> <ip> <port> @ <master-name> <master-ip> <master-port>"
 * ("replica" is taken for "slave").  out->name is the master's name,
 * out->host and out->port the promoted replica's.  0, or -1 when it is
 * not well formed.
 */
int microshop_redis_promoted_parse(const unsigned char *msg, size_t len,
    microshop_redis_switch_t *out);

/*
 * The master a Sentinel event is about, from its "%@" instance details:
 *   "master <name> <ip> <port>"                          (the master)
 *   "<type> <name> <ip> <port> @ <master> <ip> <port>"   (a replica, a
 *                                                         sentinel)
 * *name points into msg.  0, or -1 when it is neither form.
 */
int microshop_redis_event_master(const unsigned char *msg, size_t len,
    const unsigned char **name, size_t *name_len);


#endif /* _MICROSHOP_REDIS_SLOT_H_INCLUDED_ */
