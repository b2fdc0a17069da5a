/*
 * ngx_microshop: the names of the Redis back end's keys and messages
 * (docs/redis.md "Keys").  Pure logic, no nginx.
 *
 * Every key of a seller is ms:{<seller>}:<kind>[:<name>], seller and name
 * encoded: bytes outside [A-Za-z0-9._~-] become %XX (uppercase hex), so
 * '{', '}', ':' and '%' never appear raw, a key reads back unambiguously
 * and the hash tag (what Redis Cluster hashes) is the whole seller: every
 * key of one seller lives on one slot.
 *
 * The store's keys are "seller\nname" (ngx_microshop_store_key()); a
 * client's key "\x01addr\nname" has the seller "\x01addr", %01addr once
 * encoded.  A rate key "s:<seller>" is its seller's ("ms:{<seller>}:rate");
 * any other one ("k:<value>", "a:<addr>", the digests "S:..." and "K:...")
 * is a tag of its own, the whole key encoded, with a name that a seller's
 * bucket never has ("ms:{k%3A<value>}:rate:bucket"): a seller called
 * "k:<value>" has a bucket of its own.
 */

#ifndef _MICROSHOP_REDIS_KEY_H_INCLUDED_
#define _MICROSHOP_REDIS_KEY_H_INCLUDED_


#include <stddef.h>


/* room for the key of a seller of slen bytes, a kind of klen bytes and a
 * name of nlen bytes: "ms:{" + 3 slen + "}:" + kind + ":" + 3 nlen */
#define MICROSHOP_REDIS_KEY_LEN(slen, klen, nlen)                             \
    (sizeof("ms:{}::") - 1 + 3 * (slen) + (klen) + 3 * (nlen))

/* room for an encoded message of the channel ms:inv */
#define MICROSHOP_REDIS_INV_MSG_LEN(slen, nlen)  (3 * (slen) + 1 + 3 * (nlen))


/* the encoding of src at dst (room for 3 len bytes); returns its length */
size_t microshop_redis_key_encode(unsigned char *dst,
    const unsigned char *src, size_t len);

/*
 * The bytes of an encoded src at dst (room for len bytes); returns their
 * length, or (size_t) -1 when src is not an encoding (a bad %XX, a byte
 * that is never raw).
 */
size_t microshop_redis_key_decode(unsigned char *dst,
    const unsigned char *src, size_t len);

/*
 * ms:{<seller>}:<kind>:<name> at dst, or without ":<name>" when name is
 * NULL; returns its length.
 */
size_t microshop_redis_key_make(unsigned char *dst,
    const unsigned char *seller, size_t slen, const char *kind,
    const unsigned char *name, size_t nlen);

/*
 * The seller and the name of a store key "seller\nname" (the first '\n');
 * -1 when it has none.
 */
int microshop_redis_key_split(const unsigned char *key, size_t len,
    const unsigned char **seller, size_t *slen, const unsigned char **name,
    size_t *nlen);

/*
 * The Redis key of a store key of a seller: ms:{<seller>}:<kind>:<name>;
 * a key without '\n' is a seller of its own without a name
 * (ms:{<key>}:<kind>, which no "seller\nname" key ever gives: those end in
 * ':' and a name).  Room: MICROSHOP_REDIS_KEY_LEN(len, strlen(kind), len).
 */
size_t microshop_redis_key_store(unsigned char *dst, const char *kind,
    const unsigned char *key, size_t len);

/* the Redis key of a rate key; room: MICROSHOP_REDIS_KEY_LEN(len, 4, 6) */
size_t microshop_redis_key_rate(unsigned char *dst, const unsigned char *key,
    size_t len);

/* the message of ms:inv for a store key "seller\nsku": both encoded,
 * joined by '\n'; (size_t) -1 when key has no '\n' */
size_t microshop_redis_key_inv_message(unsigned char *dst,
    const unsigned char *key, size_t len);

/* the store key "seller\nsku" of a message of ms:inv at dst (room for len
 * bytes); (size_t) -1 when it is not one */
size_t microshop_redis_key_inv_parse(unsigned char *dst,
    const unsigned char *msg, size_t len);


#endif /* _MICROSHOP_REDIS_KEY_H_INCLUDED_ */
