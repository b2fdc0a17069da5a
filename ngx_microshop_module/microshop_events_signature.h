/*
 * Signed webhooks: the Microshop-Signature header.  Pure logic, no nginx.
 *
 *   Microshop-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]
 *
 * v1 is the lower- or upper-case hex of HMAC-SHA256(secret, t "." body),
 * where t is the timestamp exactly as it appears in the header.  Several
 * v1 elements may be sent while a secret is being rotated (one per
 * secret); the header is valid when any of them matches.  Elements of
 * other schemes (v0=..., future versions) are ignored.
 */

#ifndef _MICROSHOP_EVENTS_SIGNATURE_H_INCLUDED_
#define _MICROSHOP_EVENTS_SIGNATURE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define MICROSHOP_SIG_MAC_LEN     32      /* SHA-256 */
#define MICROSHOP_SIG_MAX_V1      8       /* signatures in one header */
#define MICROSHOP_SIG_HEADER_MAX  2048    /* bytes of the header value */
#define MICROSHOP_SIG_T_MAX       15      /* digits of the timestamp */


typedef enum {
    MICROSHOP_SIG_OK = 0,
    MICROSHOP_SIG_MALFORMED,      /* not t=...,v1=... as specified */
    MICROSHOP_SIG_STALE,          /* t older than now - tolerance */
    MICROSHOP_SIG_FUTURE,         /* t later than now + tolerance */
    MICROSHOP_SIG_MISMATCH,       /* no v1 matches the body */
    MICROSHOP_SIG_ERROR           /* the HMAC could not be computed */
} microshop_sig_result_e;


typedef struct {
    const unsigned char  *t;      /* the timestamp as sent (signed text) */
    size_t                t_len;
    int64_t               timestamp;
    size_t                nv1;
    unsigned char         v1[MICROSHOP_SIG_MAX_V1][MICROSHOP_SIG_MAC_LEN];
} microshop_sig_header_t;


/*
 * Parses a header value.  Elements are separated by ',' and may be
 * surrounded by spaces or tabs; each is name=value with a non-empty name.
 * Exactly one t (1 to 15 decimal digits), 1 to 8 v1 (64 hex digits each);
 * an empty element, a second t, or a bad t or v1 value is malformed.
 * Returns 0, or -1 when malformed.  h->t points into in.
 */
int microshop_sig_parse(const unsigned char *in, size_t len,
    microshop_sig_header_t *h);

/*
 * HMAC-SHA256(secret, t "." body) into mac (32 bytes).  Returns 0 or -1.
 */
int microshop_sig_compute(const unsigned char *secret, size_t secret_len,
    const unsigned char *t, size_t t_len, const unsigned char *body,
    size_t body_len, unsigned char *mac);

/*
 * Verifies a header value against the body: parse, then the time window
 * |now - t| <= tolerance (seconds), then every v1 in constant time.
 */
microshop_sig_result_e microshop_sig_verify(const unsigned char *header,
    size_t header_len, const unsigned char *secret, size_t secret_len,
    const unsigned char *body, size_t body_len, int64_t now,
    int64_t tolerance);

/* a short description of a result, for logs and problem details */
const char *microshop_sig_result_text(microshop_sig_result_e rc);


#endif /* _MICROSHOP_EVENTS_SIGNATURE_H_INCLUDED_ */
