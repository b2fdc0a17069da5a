
/*
 * microshop-token: mint JWTs for ngx_microshop (operators, demo, benchmarks).
 *
 * Claims and headers are assembled with libjwt 1.10.2, which also signs the
 * token.  Two exceptions: libjwt 1.10.2 always writes "typ":"JWT" (its
 * jwt_write_head() deletes any "typ" header before encoding), so when --typ
 * is given, and libjwt leaves an ECDSA signature's S as OpenSSL made it,
 * high half of the time, which the gateway refuses (docs/http.md), so for
 * ES256/384/512, the tool serialises the same header and claims exactly as
 * libjwt would (sorted, compact JSON) and signs them itself with OpenSSL.
 *
 * Exit codes: 0 ok, 1 key or signing failure, 2 usage error.
 */

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <jwt.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>


#define MS_OK           0
#define MS_FAIL         1
#define MS_USAGE        2
#define MS_HELP         3

#define MS_KEY_MAX      (64 * 1024)
#define MS_TTL_DEFAULT  (15 * 60)
#define MS_TTL_MAX      (100L * 365 * 86400)
#define MS_JTI_BYTES    16
#define MS_RSA_MIN_BITS 2048


typedef enum {
    MS_HMAC = 0,
    MS_RSA,
    MS_EC
} ms_kty_e;


typedef struct {
    const char     *name;
    jwt_alg_t       alg;
    ms_kty_e        kty;
    const EVP_MD *(*md)(void);
    const char     *curve;      /* OpenSSL group name, EC only */
} ms_alg_t;


/* the claims whose names microshop_jwt_claims may change */
enum {
    MS_SELLER = 0,
    MS_SCOPE,
    MS_CLASS,
    MS_TIER,
    MS_NNAMES
};


typedef struct {
    const char      *key_file;
    const ms_alg_t  *alg;
    const char      *kid;
    const char      *sub;
    const char      *iss;
    const char      *jti;
    const char      *typ;
    long             ttl;

    const char     **aud;
    int              naud;
    const char     **claims;    /* "name=JSON" */
    int              nclaims;

    const char      *names[MS_NNAMES];
    const char      *values[MS_NNAMES];
} ms_opts_t;


static int ms_parse_args(int argc, char **argv, ms_opts_t *o);
static int ms_parse_claim_names(char *arg, ms_opts_t *o);
static long ms_parse_ttl(const char *s);
static int ms_read_key(const char *file, unsigned char **key, size_t *len);
static int ms_load_pkey(const unsigned char *key, size_t len,
    const ms_alg_t *alg, EVP_PKEY **pkey);
static int ms_no_passphrase(char *buf, int size, int rwflag, void *u);
static int ms_build(jwt_t *jwt, const ms_opts_t *o);
static int ms_add_claim(jwt_t *jwt, const char *arg);
static int ms_add_json(jwt_t *jwt, const char *name, json_t *value);
static char *ms_scope(const char *s);
static char *ms_encode(jwt_t *jwt, const ms_alg_t *alg,
    const unsigned char *key, size_t key_len, EVP_PKEY *pkey);
static unsigned char *ms_sign(const ms_alg_t *alg, const unsigned char *key,
    size_t key_len, EVP_PKEY *pkey, const char *in, size_t *sig_len);
static unsigned char *ms_ecdsa_raw(EVP_PKEY *pkey, const unsigned char *der,
    size_t len, size_t *raw_len);
static char *ms_b64url(const unsigned char *in, size_t len);
static void ms_ssl_error(const char *what);


static const ms_alg_t  ms_algs[] = {
    { "HS256", JWT_ALG_HS256, MS_HMAC, EVP_sha256, NULL },
    { "HS384", JWT_ALG_HS384, MS_HMAC, EVP_sha384, NULL },
    { "HS512", JWT_ALG_HS512, MS_HMAC, EVP_sha512, NULL },
    { "RS256", JWT_ALG_RS256, MS_RSA, EVP_sha256, NULL },
    { "RS384", JWT_ALG_RS384, MS_RSA, EVP_sha384, NULL },
    { "RS512", JWT_ALG_RS512, MS_RSA, EVP_sha512, NULL },
    { "ES256", JWT_ALG_ES256, MS_EC, EVP_sha256, "prime256v1" },
    { "ES384", JWT_ALG_ES384, MS_EC, EVP_sha384, "secp384r1" },
    { "ES512", JWT_ALG_ES512, MS_EC, EVP_sha512, "secp521r1" },
    { NULL, JWT_ALG_NONE, MS_HMAC, NULL, NULL }
};

/* --claim-names keys and the default claim names (microshop_jwt_claims) */
static const char  *ms_name_keys[MS_NNAMES] = {
    "seller", "scope", "class", "tier"
};

static const char  *ms_name_defaults[MS_NNAMES] = {
    "seller", "scope", "token_class", "tier"
};


static const char  ms_usage[] =
"usage: microshop-token --key FILE --alg ALG [options]\n"
"\n"
"Mint a signed JWT for ngx_microshop and print it on stdout.\n"
"\n"
"  --key FILE         PEM private key (RS*, ES*) or secret file (HS*;\n"
"                     trailing CR/LF are stripped, as the gateway does)\n"
"  --alg ALG          HS256 HS384 HS512 RS256 RS384 RS512 ES256 ES384 ES512\n"
"  --kid ID           \"kid\" header\n"
"  --typ TYP          \"typ\" header, e.g. at+jwt (default JWT)\n"
"  --sub S            \"sub\" claim\n"
"  --seller S         seller claim\n"
"  --scope \"A B\"      scope claim, a space-separated string\n"
"  --class NAME       token class claim\n"
"  --tier NAME        rate limit tier claim\n"
"  --ttl TIME         exp = iat + TIME: 3600, 90s, 15m, 12h, 30d, 2w, 1h30m\n"
"                     (default 15m)\n"
"  --iss I            \"iss\" claim\n"
"  --aud A            \"aud\" claim; repeat for an array\n"
"  --jti ID           \"jti\" claim (default: 16 random bytes, hex)\n"
"  --claim NAME=JSON  any claim, value in JSON (strings quoted); replaces\n"
"                     a claim set above, an empty value removes it;\n"
"                     repeatable\n"
"  --claim-names seller=X,scope=Y,class=Z,tier=W\n"
"                     claim names, as in microshop_jwt_claims (defaults\n"
"                     seller, scope, token_class, tier)\n"
"  --help             this text\n"
"\n"
"Exit status: 0 ok, 1 key or signing failure, 2 usage error.\n";


int
main(int argc, char **argv)
{
    int             rc;
    char           *token;
    size_t          key_len;
    jwt_t          *jwt;
    EVP_PKEY       *pkey;
    ms_opts_t       opts;
    unsigned char  *key;

    key = NULL;
    key_len = 0;
    jwt = NULL;
    pkey = NULL;
    token = NULL;

    memset(&opts, 0, sizeof(ms_opts_t));

    opts.aud = calloc(argc, sizeof(char *));
    opts.claims = calloc(argc, sizeof(char *));

    if (opts.aud == NULL || opts.claims == NULL) {
        fprintf(stderr, "microshop-token: out of memory\n");
        rc = MS_FAIL;
        goto done;
    }

    rc = ms_parse_args(argc, argv, &opts);

    if (rc == MS_HELP) {
        fputs(ms_usage, stdout);
        rc = MS_OK;
        goto done;
    }

    if (rc != MS_OK) {
        fprintf(stderr, "Try 'microshop-token --help'.\n");
        goto done;
    }

    rc = ms_read_key(opts.key_file, &key, &key_len);
    if (rc != MS_OK) {
        goto done;
    }

    if (opts.alg->kty == MS_HMAC) {

        while (key_len > 0
               && (key[key_len - 1] == '\n' || key[key_len - 1] == '\r'))
        {
            key_len--;
        }

        if (key_len == 0) {
            fprintf(stderr, "microshop-token: secret file \"%s\" is empty\n",
                    opts.key_file);
            rc = MS_FAIL;
            goto done;
        }

        if (key_len < (size_t) EVP_MD_get_size(opts.alg->md())) {
            fprintf(stderr, "microshop-token: warning: %s secret is %zu "
                    "bytes, RFC 7518 wants at least %d\n", opts.alg->name,
                    key_len, EVP_MD_get_size(opts.alg->md()));
        }

        if (key_len >= 10 && memcmp(key, "-----BEGIN", 10) == 0) {
            fprintf(stderr, "microshop-token: warning: the %s secret is a "
                    "PEM file\n", opts.alg->name);
        }

    } else {
        rc = ms_load_pkey(key, key_len, opts.alg, &pkey);
        if (rc != MS_OK) {
            goto done;
        }
    }

    if (jwt_new(&jwt) != 0) {
        fprintf(stderr, "microshop-token: jwt_new() failed\n");
        jwt = NULL;
        rc = MS_FAIL;
        goto done;
    }

    if (opts.alg->kty == MS_EC && opts.typ == NULL) {
        /* signed by ms_encode(), with the "typ" libjwt would write */
        opts.typ = "JWT";
    }

    rc = ms_build(jwt, &opts);
    if (rc != MS_OK) {
        goto done;
    }

    if (jwt_set_alg(jwt, opts.alg->alg, key, (int) key_len) != 0) {
        fprintf(stderr, "microshop-token: jwt_set_alg(%s) failed\n",
                opts.alg->name);
        rc = MS_FAIL;
        goto done;
    }

    if (opts.typ == NULL) {
        token = jwt_encode_str(jwt);
        if (token == NULL) {
            fprintf(stderr, "microshop-token: jwt_encode_str() failed: %s\n",
                    strerror(errno));
        }

    } else {
        token = ms_encode(jwt, opts.alg, key, key_len, pkey);
    }

    if (token == NULL) {
        rc = MS_FAIL;
        goto done;
    }

    if (printf("%s\n", token) < 0 || fflush(stdout) != 0) {
        fprintf(stderr, "microshop-token: writing the token failed: %s\n",
                strerror(errno));
        rc = MS_FAIL;
        goto done;
    }

    rc = MS_OK;

done:

    free(token);
    jwt_free(jwt);
    EVP_PKEY_free(pkey);

    if (key != NULL) {
        OPENSSL_cleanse(key, MS_KEY_MAX + 1);
        free(key);
    }

    free(opts.aud);
    free(opts.claims);

    return rc;
}


static int
ms_parse_args(int argc, char **argv, ms_opts_t *o)
{
    int              c, i;
    const ms_alg_t  *a;

    enum {
        OPT_KEY = 256, OPT_ALG, OPT_KID, OPT_SUB, OPT_SELLER, OPT_SCOPE,
        OPT_CLASS, OPT_TIER, OPT_TTL, OPT_ISS, OPT_AUD, OPT_JTI, OPT_TYP,
        OPT_CLAIM, OPT_CLAIM_NAMES, OPT_HELP
    };

    static const struct option  longopts[] = {
        { "key", required_argument, NULL, OPT_KEY },
        { "alg", required_argument, NULL, OPT_ALG },
        { "kid", required_argument, NULL, OPT_KID },
        { "sub", required_argument, NULL, OPT_SUB },
        { "seller", required_argument, NULL, OPT_SELLER },
        { "scope", required_argument, NULL, OPT_SCOPE },
        { "class", required_argument, NULL, OPT_CLASS },
        { "tier", required_argument, NULL, OPT_TIER },
        { "ttl", required_argument, NULL, OPT_TTL },
        { "iss", required_argument, NULL, OPT_ISS },
        { "aud", required_argument, NULL, OPT_AUD },
        { "jti", required_argument, NULL, OPT_JTI },
        { "typ", required_argument, NULL, OPT_TYP },
        { "claim", required_argument, NULL, OPT_CLAIM },
        { "claim-names", required_argument, NULL, OPT_CLAIM_NAMES },
        { "help", no_argument, NULL, OPT_HELP },
        { NULL, 0, NULL, 0 }
    };

    o->ttl = MS_TTL_DEFAULT;

    for (i = 0; i < MS_NNAMES; i++) {
        o->names[i] = ms_name_defaults[i];
    }

    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {

        switch (c) {

        case OPT_KEY:
            o->key_file = optarg;
            break;

        case OPT_ALG:
            for (a = ms_algs; a->name; a++) {
                if (strcmp(a->name, optarg) == 0) {
                    break;
                }
            }

            if (a->name == NULL) {
                fprintf(stderr, "microshop-token: unsupported --alg \"%s\" "
                        "(HS256 HS384 HS512 RS256 RS384 RS512 ES256 ES384 "
                        "ES512; never none)\n", optarg);
                return MS_USAGE;
            }

            o->alg = a;
            break;

        case OPT_KID:
            o->kid = optarg;
            break;

        case OPT_SUB:
            o->sub = optarg;
            break;

        case OPT_SELLER:
            o->values[MS_SELLER] = optarg;
            break;

        case OPT_SCOPE:
            o->values[MS_SCOPE] = optarg;
            break;

        case OPT_CLASS:
            o->values[MS_CLASS] = optarg;
            break;

        case OPT_TIER:
            o->values[MS_TIER] = optarg;
            break;

        case OPT_TTL:
            o->ttl = ms_parse_ttl(optarg);
            if (o->ttl < 0) {
                fprintf(stderr, "microshop-token: invalid --ttl \"%s\" "
                        "(e.g. 3600, 90s, 15m, 12h, 30d, 2w)\n", optarg);
                return MS_USAGE;
            }
            break;

        case OPT_ISS:
            o->iss = optarg;
            break;

        case OPT_AUD:
            o->aud[o->naud++] = optarg;
            break;

        case OPT_JTI:
            o->jti = optarg;
            break;

        case OPT_TYP:
            o->typ = optarg;
            break;

        case OPT_CLAIM:
            o->claims[o->nclaims++] = optarg;
            break;

        case OPT_CLAIM_NAMES:
            if (ms_parse_claim_names(optarg, o) != MS_OK) {
                return MS_USAGE;
            }
            break;

        case OPT_HELP:
            return MS_HELP;

        default:
            /* getopt_long() has already said what is wrong */
            return MS_USAGE;
        }
    }

    if (optind < argc) {
        fprintf(stderr, "microshop-token: unexpected argument \"%s\"\n",
                argv[optind]);
        return MS_USAGE;
    }

    if (o->key_file == NULL || o->alg == NULL) {
        fprintf(stderr, "microshop-token: --key and --alg are required\n");
        return MS_USAGE;
    }

    return MS_OK;
}


/* "seller=X,scope=Y,class=Z,tier=W", any subset; parsed in place */

static int
ms_parse_claim_names(char *arg, ms_opts_t *o)
{
    int    i;
    char  *item, *next, *eq;

    for (item = arg; item != NULL; item = next) {

        next = strchr(item, ',');
        if (next != NULL) {
            *next++ = '\0';
        }

        eq = strchr(item, '=');
        if (eq == NULL || eq[1] == '\0') {
            fprintf(stderr, "microshop-token: invalid --claim-names item "
                    "\"%s\" (expected KEY=NAME)\n", item);
            return MS_USAGE;
        }

        *eq = '\0';

        for (i = 0; i < MS_NNAMES; i++) {
            if (strcmp(item, ms_name_keys[i]) == 0) {
                break;
            }
        }

        if (i == MS_NNAMES) {
            fprintf(stderr, "microshop-token: unknown --claim-names key "
                    "\"%s\" (seller, scope, class, tier)\n", item);
            return MS_USAGE;
        }

        o->names[i] = eq + 1;
    }

    return MS_OK;
}


/* "3600", "90s", "15m", "12h", "30d", "2w", "1h30m"; -1 if invalid */

static long
ms_parse_ttl(const char *s)
{
    long  total, n, scale;

    if (*s == '\0') {
        return -1;
    }

    total = 0;

    while (*s != '\0') {

        if (!isdigit((unsigned char) *s)) {
            return -1;
        }

        for (n = 0; isdigit((unsigned char) *s); s++) {
            n = n * 10 + (*s - '0');

            if (n > MS_TTL_MAX) {
                return -1;
            }
        }

        switch (*s) {
        case '\0':
            scale = 1;
            break;
        case 's':
            scale = 1;
            s++;
            break;
        case 'm':
            scale = 60;
            s++;
            break;
        case 'h':
            scale = 3600;
            s++;
            break;
        case 'd':
            scale = 86400;
            s++;
            break;
        case 'w':
            scale = 7 * 86400;
            s++;
            break;
        default:
            return -1;
        }

        if (n > (MS_TTL_MAX - total) / scale) {
            return -1;
        }

        total += n * scale;
    }

    return total;
}


static int
ms_read_key(const char *file, unsigned char **key, size_t *len)
{
    int             rc;
    FILE           *f;
    size_t          n;
    unsigned char  *buf;

    f = fopen(file, "rb");
    if (f == NULL) {
        fprintf(stderr, "microshop-token: cannot open key \"%s\": %s\n",
                file, strerror(errno));
        return MS_FAIL;
    }

    /* one byte more than allowed, to tell "too large" from "just fits" */
    buf = malloc(MS_KEY_MAX + 1);
    if (buf == NULL) {
        fprintf(stderr, "microshop-token: out of memory\n");
        fclose(f);
        return MS_FAIL;
    }

    n = fread(buf, 1, MS_KEY_MAX + 1, f);
    rc = ferror(f);
    fclose(f);

    if (rc) {
        fprintf(stderr, "microshop-token: cannot read key \"%s\"\n", file);
        goto failed;
    }

    if (n > MS_KEY_MAX) {
        fprintf(stderr, "microshop-token: key \"%s\" is larger than %d "
                "bytes\n", file, MS_KEY_MAX);
        goto failed;
    }

    *key = buf;
    *len = n;

    return MS_OK;

failed:

    OPENSSL_cleanse(buf, MS_KEY_MAX + 1);
    free(buf);

    return MS_FAIL;
}


/*
 * Load the PEM private key and check that it fits the alg: libjwt 1.10.2
 * checks RSA vs EC only, and would happily sign ES256 with a P-384 key.
 */

static int
ms_load_pkey(const unsigned char *key, size_t len, const ms_alg_t *alg,
    EVP_PKEY **pkey)
{
    BIO       *bio;
    char       curve[64];
    EVP_PKEY  *k;

    bio = BIO_new_mem_buf(key, (int) len);
    if (bio == NULL) {
        ms_ssl_error("BIO_new_mem_buf() failed");
        return MS_FAIL;
    }

    k = PEM_read_bio_PrivateKey(bio, NULL, ms_no_passphrase, NULL);
    BIO_free(bio);

    if (k == NULL) {
        ms_ssl_error("--key is not an unencrypted PEM private key");
        return MS_FAIL;
    }

    if (alg->kty == MS_RSA) {

        if (EVP_PKEY_get_id(k) != EVP_PKEY_RSA) {
            fprintf(stderr, "microshop-token: %s needs an RSA private key\n",
                    alg->name);
            goto failed;
        }

        if (EVP_PKEY_get_bits(k) < MS_RSA_MIN_BITS) {
            fprintf(stderr, "microshop-token: warning: RSA key has %d bits, "
                    "RFC 7518 wants at least %d\n", EVP_PKEY_get_bits(k),
                    MS_RSA_MIN_BITS);
        }

    } else {

        if (EVP_PKEY_get_id(k) != EVP_PKEY_EC
            || EVP_PKEY_get_group_name(k, curve, sizeof(curve), NULL) != 1
            || strcmp(curve, alg->curve) != 0)
        {
            fprintf(stderr, "microshop-token: %s needs an EC private key on "
                    "curve %s\n", alg->name, alg->curve);
            goto failed;
        }
    }

    *pkey = k;

    return MS_OK;

failed:

    EVP_PKEY_free(k);

    return MS_FAIL;
}


/* keeps OpenSSL from prompting on the terminal for an encrypted key */

static int
ms_no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void) buf;
    (void) size;
    (void) rwflag;
    (void) u;

    return -1;
}


static int
ms_build(jwt_t *jwt, const ms_opts_t *o)
{
    int             i, rc;
    char           *scope;
    char            jti[2 * MS_JTI_BYTES + 1];
    time_t          now;
    json_t         *aud;
    unsigned char   rnd[MS_JTI_BYTES];

    /*
     * libjwt replaces "alg" (and "typ") when it encodes; both are set here
     * too so that ms_encode() finds the complete header.
     */

    if (jwt_add_header(jwt, "alg", o->alg->name) != 0
        || (o->kid && jwt_add_header(jwt, "kid", o->kid) != 0)
        || (o->typ && jwt_add_header(jwt, "typ", o->typ) != 0))
    {
        fprintf(stderr, "microshop-token: invalid --kid or --typ "
                "(must be UTF-8)\n");
        return MS_USAGE;
    }

    if (o->jti == NULL) {
        if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
            ms_ssl_error("RAND_bytes() failed");
            return MS_FAIL;
        }

        for (i = 0; i < MS_JTI_BYTES; i++) {
            snprintf(&jti[2 * i], 3, "%02x", rnd[i]);
        }
    }

    now = time(NULL);

    if ((o->iss && jwt_add_grant(jwt, "iss", o->iss) != 0)
        || (o->sub && jwt_add_grant(jwt, "sub", o->sub) != 0)
        || (o->naud == 1 && jwt_add_grant(jwt, "aud", o->aud[0]) != 0)
        || jwt_add_grant_int(jwt, "iat", (long) now) != 0
        || jwt_add_grant_int(jwt, "exp", (long) now + o->ttl) != 0
        || jwt_add_grant(jwt, "jti", o->jti ? o->jti : jti) != 0)
    {
        fprintf(stderr, "microshop-token: invalid --iss, --sub, --aud or "
                "--jti (must be UTF-8)\n");
        return MS_USAGE;
    }

    if (o->naud > 1) {
        aud = json_array();
        if (aud == NULL) {
            fprintf(stderr, "microshop-token: out of memory\n");
            return MS_FAIL;
        }

        for (i = 0; i < o->naud; i++) {
            if (json_array_append_new(aud, json_string(o->aud[i])) != 0) {
                fprintf(stderr, "microshop-token: invalid --aud \"%s\" "
                        "(must be UTF-8)\n", o->aud[i]);
                json_decref(aud);
                return MS_USAGE;
            }
        }

        rc = ms_add_json(jwt, "aud", aud);
        if (rc != MS_OK) {
            return rc;
        }
    }

    for (i = 0; i < MS_NNAMES; i++) {

        if (o->values[i] == NULL) {
            continue;
        }

        scope = NULL;

        if (i == MS_SCOPE) {
            scope = ms_scope(o->values[i]);
            if (scope == NULL) {
                fprintf(stderr, "microshop-token: out of memory\n");
                return MS_FAIL;
            }
        }

        rc = jwt_add_grant(jwt, o->names[i], scope ? scope : o->values[i]);
        free(scope);

        if (rc == EEXIST) {
            fprintf(stderr, "microshop-token: claim \"%s\" is set twice "
                    "(check --claim-names)\n", o->names[i]);
            return MS_USAGE;
        }

        if (rc != 0) {
            fprintf(stderr, "microshop-token: invalid --%s \"%s\" "
                    "(must be UTF-8)\n", ms_name_keys[i], o->values[i]);
            return MS_USAGE;
        }
    }

    for (i = 0; i < o->nclaims; i++) {
        rc = ms_add_claim(jwt, o->claims[i]);
        if (rc != MS_OK) {
            return rc;
        }
    }

    return MS_OK;
}


/* --claim NAME=JSON: add or replace a claim; NAME= removes it */

static int
ms_add_claim(jwt_t *jwt, const char *arg)
{
    int            rc;
    char          *name;
    json_t        *value;
    const char    *eq;
    json_error_t   err;

    eq = strchr(arg, '=');
    if (eq == NULL || eq == arg) {
        fprintf(stderr, "microshop-token: invalid --claim \"%s\" "
                "(expected NAME=JSON)\n", arg);
        return MS_USAGE;
    }

    name = strndup(arg, eq - arg);
    if (name == NULL) {
        fprintf(stderr, "microshop-token: out of memory\n");
        return MS_FAIL;
    }

    if (eq[1] == '\0') {
        jwt_del_grants(jwt, name);
        free(name);
        return MS_OK;
    }

    value = json_loads(eq + 1, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
                       &err);
    if (value == NULL) {
        /* a bare word is most likely a string without its quotes */
        fprintf(stderr, "microshop-token: --claim %s: value is not JSON: "
                "%s%s\n", name, err.text,
                isalpha((unsigned char) eq[1])
                ? " (quote strings: --claim 'NAME=\"text\"')" : "");
        free(name);
        return MS_USAGE;
    }

    rc = ms_add_json(jwt, name, value);
    free(name);

    return rc;
}


/* adds {name: value} with jwt_add_grants_json(); takes the value reference */

static int
ms_add_json(jwt_t *jwt, const char *name, json_t *value)
{
    int      rc;
    char    *s;
    json_t  *obj;

    obj = json_object();
    if (obj == NULL) {
        json_decref(value);
        fprintf(stderr, "microshop-token: out of memory\n");
        return MS_FAIL;
    }

    if (json_object_set_new(obj, name, value) != 0) {
        json_decref(obj);
        fprintf(stderr, "microshop-token: invalid claim name \"%s\" "
                "(must be UTF-8)\n", name);
        return MS_USAGE;
    }

    s = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);

    if (s == NULL) {
        fprintf(stderr, "microshop-token: cannot serialise claim \"%s\"\n",
                name);
        return MS_FAIL;
    }

    rc = jwt_add_grants_json(jwt, s);
    free(s);

    if (rc != 0) {
        fprintf(stderr, "microshop-token: jwt_add_grants_json(\"%s\") "
                "failed\n", name);
        return MS_FAIL;
    }

    return MS_OK;
}


/* collapses runs of blanks: " a  b " -> "a b" (RFC 6749 scope syntax) */

static char *
ms_scope(const char *s)
{
    char  *out, *p;

    out = malloc(strlen(s) + 1);
    if (out == NULL) {
        return NULL;
    }

    p = out;

    while (*s != '\0') {

        if (*s == ' ' || *s == '\t') {
            s++;
            continue;
        }

        if (p != out) {
            *p++ = ' ';
        }

        while (*s != '\0' && *s != ' ' && *s != '\t') {
            *p++ = *s++;
        }
    }

    *p = '\0';

    return out;
}


/*
 * The libjwt 1.10.2 encoding (base64url of the sorted, compact header and
 * claims JSON), but with the header as given, "typ" included.
 */

static char *
ms_encode(jwt_t *jwt, const ms_alg_t *alg, const unsigned char *key,
    size_t key_len, EVP_PKEY *pkey)
{
    char           *head, *body, *head64, *body64, *sig64, *in, *token;
    size_t          len, sig_len;
    unsigned char  *sig;

    token = NULL;
    in = NULL;
    sig = NULL;
    sig64 = NULL;
    head64 = NULL;
    body64 = NULL;

    head = jwt_get_headers_json(jwt, NULL);
    body = jwt_get_grants_json(jwt, NULL);

    if (head == NULL || body == NULL) {
        fprintf(stderr, "microshop-token: cannot serialise the token\n");
        goto done;
    }

    head64 = ms_b64url((unsigned char *) head, strlen(head));
    body64 = ms_b64url((unsigned char *) body, strlen(body));

    if (head64 == NULL || body64 == NULL) {
        goto done;
    }

    len = strlen(head64) + 1 + strlen(body64);

    in = malloc(len + 1);
    if (in == NULL) {
        fprintf(stderr, "microshop-token: out of memory\n");
        goto done;
    }

    snprintf(in, len + 1, "%s.%s", head64, body64);

    sig = ms_sign(alg, key, key_len, pkey, in, &sig_len);
    if (sig == NULL) {
        goto done;
    }

    sig64 = ms_b64url(sig, sig_len);
    if (sig64 == NULL) {
        goto done;
    }

    len += 1 + strlen(sig64);

    token = malloc(len + 1);
    if (token == NULL) {
        fprintf(stderr, "microshop-token: out of memory\n");
        goto done;
    }

    snprintf(token, len + 1, "%s.%s", in, sig64);

done:

    free(head);
    free(body);
    free(head64);
    free(body64);
    free(in);
    free(sig);
    free(sig64);

    return token;
}


/* JWS signature (RFC 7518 section 3); ECDSA as raw R || S, not DER */

static unsigned char *
ms_sign(const ms_alg_t *alg, const unsigned char *key, size_t key_len,
    EVP_PKEY *pkey, const char *in, size_t *sig_len)
{
    size_t          len;
    EVP_MD_CTX     *ctx;
    unsigned char  *sig, *raw;
    unsigned int    md_len;

    if (alg->kty == MS_HMAC) {
        sig = malloc(EVP_MAX_MD_SIZE);
        if (sig == NULL) {
            fprintf(stderr, "microshop-token: out of memory\n");
            return NULL;
        }

        if (HMAC(alg->md(), key, (int) key_len, (unsigned char *) in,
                 strlen(in), sig, &md_len)
            == NULL)
        {
            ms_ssl_error("HMAC() failed");
            free(sig);
            return NULL;
        }

        *sig_len = md_len;
        return sig;
    }

    sig = NULL;

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        ms_ssl_error("EVP_MD_CTX_new() failed");
        return NULL;
    }

    /* RSA keys default to RSASSA-PKCS1-v1_5, as RS256 wants */

    if (EVP_DigestSignInit(ctx, NULL, alg->md(), NULL, pkey) != 1
        || EVP_DigestSignUpdate(ctx, in, strlen(in)) != 1
        || EVP_DigestSignFinal(ctx, NULL, &len) != 1)
    {
        ms_ssl_error("signing failed");
        goto done;
    }

    sig = malloc(len);
    if (sig == NULL) {
        fprintf(stderr, "microshop-token: out of memory\n");
        goto done;
    }

    if (EVP_DigestSignFinal(ctx, sig, &len) != 1) {
        ms_ssl_error("signing failed");
        free(sig);
        sig = NULL;
        goto done;
    }

    *sig_len = len;

    if (alg->kty == MS_EC) {
        raw = ms_ecdsa_raw(pkey, sig, len, sig_len);
        free(sig);
        sig = raw;
    }

done:

    EVP_MD_CTX_free(ctx);

    return sig;
}


/*
 * DER ECDSA-Sig-Value (SEQUENCE of r and s) to R || S, each zero-padded,
 * with S in its low form (s <= order / 2; (r, order - s) is the same
 * signature), the only one the gateway takes
 */

static unsigned char *
ms_ecdsa_raw(EVP_PKEY *pkey, const unsigned char *der, size_t len,
    size_t *raw_len)
{
    int             n;
    BIGNUM         *order, *low;
    ECDSA_SIG      *es;
    const BIGNUM   *r, *s;
    unsigned char  *raw;

    n = (EVP_PKEY_get_bits(pkey) + 7) / 8;

    order = NULL;
    low = NULL;
    es = d2i_ECDSA_SIG(NULL, &der, (long) len);
    raw = malloc(2 * n);

    if (es == NULL || raw == NULL
        || EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_ORDER, &order) != 1
        || (low = BN_new()) == NULL)
    {
        goto failed;
    }

    ECDSA_SIG_get0(es, &r, &s);

    if (BN_rshift1(low, order) != 1) {
        goto failed;
    }

    if (BN_cmp(s, low) > 0) {
        if (BN_sub(low, order, s) != 1) {
            goto failed;
        }

        s = low;
    }

    if (BN_bn2binpad(r, raw, n) != n || BN_bn2binpad(s, raw + n, n) != n) {
        goto failed;
    }

    BN_free(order);
    BN_free(low);
    ECDSA_SIG_free(es);

    *raw_len = 2 * n;

    return raw;

failed:

    ms_ssl_error("cannot convert the ECDSA signature");
    BN_free(order);
    BN_free(low);
    ECDSA_SIG_free(es);
    free(raw);

    return NULL;
}


/* base64url without padding (RFC 7515 section 2) */

static char *
ms_b64url(const unsigned char *in, size_t len)
{
    int    n, i;
    char  *out;

    out = malloc(4 * ((len + 2) / 3) + 1);
    if (out == NULL) {
        fprintf(stderr, "microshop-token: out of memory\n");
        return NULL;
    }

    n = EVP_EncodeBlock((unsigned char *) out, in, (int) len);

    while (n > 0 && out[n - 1] == '=') {
        n--;
    }

    out[n] = '\0';

    for (i = 0; i < n; i++) {
        if (out[i] == '+') {
            out[i] = '-';

        } else if (out[i] == '/') {
            out[i] = '_';
        }
    }

    return out;
}


static void
ms_ssl_error(const char *what)
{
    unsigned long  e;
    char           buf[256];

    e = ERR_peek_last_error();

    if (e == 0) {
        fprintf(stderr, "microshop-token: %s\n", what);

    } else {
        ERR_error_string_n(e, buf, sizeof(buf));
        fprintf(stderr, "microshop-token: %s (%s)\n", what, buf);
    }

    ERR_clear_error();
}
