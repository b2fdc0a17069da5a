
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
 * "microshop-token exchange" asks a gateway's token exchange location
 * (microshop_token_exchange, RFC 8693) for a token minted from a subject
 * token, over plain HTTP (docs/token-tool.md).
 *
 * Exit codes: 0 ok, 1 key or signing failure (exchange: the gateway
 * refused, or could not be reached), 2 usage error.
 */

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>

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

#define MS_ANSWER_MAX   (1024 * 1024)
#define MS_TIMEOUT      30              /* seconds per read or write */

#define MS_GRANT_EXCHANGE                                                     \
    "urn:ietf:params:oauth:grant-type:token-exchange"
#define MS_TOKEN_TYPE_ACCESS                                                  \
    "urn:ietf:params:oauth:token-type:access_token"


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
static int ms_read_file(const char *file, const char *what,
    unsigned char **data, size_t *len);
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

static int ms_args_left(int argc, char **argv);
static int ms_print_token(const char *token);
static int ms_exchange(int argc, char **argv);
static int ms_exchange_args(int argc, char **argv, const char **url,
    char **token, const char **scope, const char **actor);
static int ms_url(const char *url, char **host, char **port, char **path);
static int ms_form_add(char **body, size_t *len, const char *name,
    const char *value);
static int ms_http_post(const char *host, const char *port,
    const char *path, const char *body, size_t body_len, char **answer,
    size_t *answer_len);
static int ms_http_answer(char *answer, size_t len, int *status,
    char **body, size_t *body_len);
static size_t ms_dechunk(char *p, size_t len);


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
"Exit status: 0 ok, 1 key or signing failure, 2 usage error.\n"
"\n"
"microshop-token exchange --help: a token from the gateway's token\n"
"exchange (RFC 8693).\n";


static const char  ms_exchange_usage[] =
"usage: microshop-token exchange --url URL\n"
"           (--subject-token TOKEN | --subject-token-file FILE)\n"
"           [--scope \"A B\"] [--actor NAME]\n"
"\n"
"POST a token exchange (RFC 8693) to a gateway location with\n"
"microshop_token_exchange and print the minted access token on stdout.\n"
"\n"
"  --url URL                  http://host[:port]/path of the location\n"
"                             (plain HTTP; for https:// use curl, see\n"
"                             docs/token-tool.md)\n"
"  --subject-token TOKEN      the token to exchange (a staff lead's)\n"
"  --subject-token-file FILE  the same, read from FILE (\"-\": stdin)\n"
"  --scope \"A B\"              the scopes asked for (default: all the\n"
"                             gateway may grant)\n"
"  --actor NAME               the staff member, the minted token's sub\n"
"  --help                     this text\n"
"\n"
"Exit status: 0 ok, 1 the gateway refused (its JSON error on stderr) or\n"
"could not be reached, 2 usage error.\n";


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

    if (argc > 1 && strcmp(argv[1], "exchange") == 0) {
        return ms_exchange(argc - 1, argv + 1);
    }

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

    rc = ms_print_token(token);

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

    if (ms_args_left(argc, argv) != MS_OK) {
        return MS_USAGE;
    }

    if (o->key_file == NULL || o->alg == NULL) {
        fprintf(stderr, "microshop-token: --key and --alg are required\n");
        return MS_USAGE;
    }

    return MS_OK;
}


/* MS_OK when getopt_long() left no argument over */

static int
ms_args_left(int argc, char **argv)
{
    if (optind < argc) {
        fprintf(stderr, "microshop-token: unexpected argument \"%s\"\n",
                argv[optind]);
        return MS_USAGE;
    }

    return MS_OK;
}


/* the token and a newline on stdout */

static int
ms_print_token(const char *token)
{
    if (printf("%s\n", token) < 0 || fflush(stdout) != 0) {
        fprintf(stderr, "microshop-token: writing the token failed: %s\n",
                strerror(errno));
        return MS_FAIL;
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
    return ms_read_file(file, "key", key, len);
}


/* the whole file ("-": stdin) into *data (malloc'ed, MS_KEY_MAX + 1 bytes) */

static int
ms_read_file(const char *file, const char *what, unsigned char **data,
    size_t *len)
{
    int             rc;
    FILE           *f;
    size_t          n;
    unsigned char  *buf;

    f = (strcmp(file, "-") == 0) ? stdin : fopen(file, "rb");
    if (f == NULL) {
        fprintf(stderr, "microshop-token: cannot open %s \"%s\": %s\n",
                what, file, strerror(errno));
        return MS_FAIL;
    }

    /* one byte more than allowed, to tell "too large" from "just fits" */
    buf = malloc(MS_KEY_MAX + 1);
    if (buf == NULL) {
        fprintf(stderr, "microshop-token: out of memory\n");
        if (f != stdin) {
            fclose(f);
        }
        return MS_FAIL;
    }

    n = fread(buf, 1, MS_KEY_MAX + 1, f);
    rc = ferror(f);

    if (f != stdin) {
        fclose(f);
    }

    if (rc) {
        fprintf(stderr, "microshop-token: cannot read %s \"%s\"\n", what,
                file);
        goto failed;
    }

    if (n > MS_KEY_MAX) {
        fprintf(stderr, "microshop-token: %s \"%s\" is larger than %d "
                "bytes\n", what, file, MS_KEY_MAX);
        goto failed;
    }

    *data = buf;
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


/* ------------------------------------------------------------ exchange */

/*
 * microshop-token exchange: the form of RFC 8693 2.1 POSTed to the
 * location, the answer's access_token on stdout (RFC 8693 2.2.1), or the
 * gateway's error (RFC 6749 5.2) on stderr.  One blocking connection:
 * this is a command line tool.
 */

static int
ms_exchange(int argc, char **argv)
{
    int          rc, status;
    char        *token, *host, *port, *path, *body, *answer, *content;
    size_t       len, answer_len, content_len;
    json_t      *doc, *v;
    const char  *url, *scope, *actor;

    token = host = port = path = body = answer = NULL;
    doc = NULL;
    len = 0;

    rc = ms_exchange_args(argc, argv, &url, &token, &scope, &actor);

    if (rc == MS_HELP) {
        fputs(ms_exchange_usage, stdout);
        rc = MS_OK;
        goto done;
    }

    if (rc != MS_OK) {
        if (rc == MS_USAGE) {
            fprintf(stderr, "Try 'microshop-token exchange --help'.\n");
        }
        goto done;
    }

    rc = ms_url(url, &host, &port, &path);
    if (rc != MS_OK) {
        goto done;
    }

    if (ms_form_add(&body, &len, "grant_type", MS_GRANT_EXCHANGE) != MS_OK
        || ms_form_add(&body, &len, "subject_token", token) != MS_OK
        || ms_form_add(&body, &len, "subject_token_type",
                       MS_TOKEN_TYPE_ACCESS) != MS_OK
        || (scope && ms_form_add(&body, &len, "scope", scope) != MS_OK)
        || (actor && ms_form_add(&body, &len, "actor", actor) != MS_OK))
    {
        fprintf(stderr, "microshop-token: out of memory\n");
        rc = MS_FAIL;
        goto done;
    }

    rc = ms_http_post(host, port, path, body, len, &answer, &answer_len);
    if (rc != MS_OK) {
        goto done;
    }

    rc = ms_http_answer(answer, answer_len, &status, &content, &content_len);
    if (rc != MS_OK) {
        fprintf(stderr, "microshop-token: %s:%s answered something that is "
                "not HTTP/1.x\n", host, port);
        goto done;
    }

    if (status != 200) {
        /* the gateway's RFC 6749 error as it came */
        if (content_len) {
            fwrite(content, 1, content_len, stderr);
            if (content[content_len - 1] != '\n') {
                fputc('\n', stderr);
            }

        } else {
            fprintf(stderr, "microshop-token: the gateway answered %d\n",
                    status);
        }

        rc = MS_FAIL;
        goto done;
    }

    doc = json_loadb(content, content_len, 0, NULL);
    v = json_object_get(doc, "access_token");

    if (!json_is_string(v) || json_string_length(v) == 0) {
        fprintf(stderr, "microshop-token: the answer (200) has no "
                "access_token\n");
        rc = MS_FAIL;
        goto done;
    }

    rc = ms_print_token(json_string_value(v));

done:

    json_decref(doc);

    if (token != NULL) {
        OPENSSL_cleanse(token, strlen(token));
    }

    if (body != NULL) {
        OPENSSL_cleanse(body, len);
    }

    free(token);
    free(host);
    free(port);
    free(path);
    free(body);
    free(answer);

    return rc;
}


static int
ms_exchange_args(int argc, char **argv, const char **url, char **token,
    const char **scope, const char **actor)
{
    int             c;
    size_t          n;
    const char     *file, *given;
    unsigned char  *data;

    enum {
        OPT_URL = 256, OPT_TOKEN, OPT_TOKEN_FILE, OPT_SCOPE, OPT_ACTOR,
        OPT_HELP
    };

    static const struct option  longopts[] = {
        { "url", required_argument, NULL, OPT_URL },
        { "subject-token", required_argument, NULL, OPT_TOKEN },
        { "subject-token-file", required_argument, NULL, OPT_TOKEN_FILE },
        { "scope", required_argument, NULL, OPT_SCOPE },
        { "actor", required_argument, NULL, OPT_ACTOR },
        { "help", no_argument, NULL, OPT_HELP },
        { NULL, 0, NULL, 0 }
    };

    *url = *scope = *actor = NULL;
    file = given = NULL;

    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {

        switch (c) {

        case OPT_URL:
            *url = optarg;
            break;

        case OPT_TOKEN:
            given = optarg;
            break;

        case OPT_TOKEN_FILE:
            file = optarg;
            break;

        case OPT_SCOPE:
            *scope = optarg;
            break;

        case OPT_ACTOR:
            *actor = optarg;
            break;

        case OPT_HELP:
            return MS_HELP;

        default:
            return MS_USAGE;
        }
    }

    if (ms_args_left(argc, argv) != MS_OK) {
        return MS_USAGE;
    }

    if (*url == NULL || (given == NULL) == (file == NULL)) {
        fprintf(stderr, "microshop-token: exchange needs --url and one of "
                "--subject-token and --subject-token-file\n");
        return MS_USAGE;
    }

    if (given != NULL) {
        *token = strdup(given);
        if (*token == NULL) {
            fprintf(stderr, "microshop-token: out of memory\n");
            return MS_FAIL;
        }

    } else {
        if (ms_read_file(file, "subject token file", &data, &n) != MS_OK) {
            return MS_FAIL;
        }

        /* the token, without the line end or blanks around it */
        while (n > 0 && isspace(data[n - 1])) {
            n--;
        }

        data[n] = '\0';
        *token = (char *) data;

        while (isspace((unsigned char) **token)) {
            memmove(*token, *token + 1, n--);
        }
    }

    if (**token == '\0') {
        fprintf(stderr, "microshop-token: the subject token is empty\n");
        return MS_USAGE;
    }

    return MS_OK;
}


/* http://host[:port][/path]; host may be [IPv6] */

static int
ms_url(const char *url, char **host, char **port, char **path)
{
    size_t       n;
    const char  *p, *end, *colon, *slash;

    if (strncmp(url, "https://", 8) == 0) {
        fprintf(stderr, "microshop-token: https:// is not supported: send "
                "the exchange with curl (docs/token-tool.md)\n");
        return MS_USAGE;
    }

    if (strncmp(url, "http://", 7) != 0) {
        fprintf(stderr, "microshop-token: --url must be "
                "http://host[:port]/path\n");
        return MS_USAGE;
    }

    p = url + 7;
    slash = strchr(p, '/');
    end = slash ? slash : p + strlen(p);

    if (*p == '[') {
        colon = memchr(p, ']', end - p);
        if (colon == NULL) {
            goto invalid;
        }

        *host = strndup(p + 1, colon - p - 1);
        colon++;

        if (colon < end && *colon != ':') {
            goto invalid;
        }

    } else {
        colon = memchr(p, ':', end - p);
        *host = strndup(p, (colon ? colon : end) - p);
    }

    if (colon != NULL && colon < end) {
        n = end - colon - 1;
        *port = strndup(colon + 1, n);

        if (*port != NULL && (n == 0 || strspn(*port, "0123456789") != n)) {
            goto invalid;
        }

    } else {
        *port = strdup("80");
    }

    *path = strdup(slash ? slash : "/");

    if (*host == NULL || *port == NULL || *path == NULL) {
        fprintf(stderr, "microshop-token: out of memory\n");
        return MS_FAIL;
    }

    if (**host == '\0' || strpbrk(*path, " \r\n") != NULL) {
        goto invalid;
    }

    return MS_OK;

invalid:

    fprintf(stderr, "microshop-token: invalid --url \"%s\"\n", url);

    return MS_USAGE;
}


/* &name=value, percent-encoded (application/x-www-form-urlencoded) */

static int
ms_form_add(char **body, size_t *len, const char *name, const char *value)
{
    char          *b, *p;
    size_t         need;
    const char    *s;
    unsigned char  c;

    static const char  hex[] = "0123456789ABCDEF";

    need = *len + 1 + strlen(name) + 1 + 3 * strlen(value) + 1;

    b = realloc(*body, need);
    if (b == NULL) {
        return MS_FAIL;
    }

    p = b + *len;

    if (*len) {
        *p++ = '&';
    }

    for (s = name; *s; s++) {
        *p++ = *s;
    }

    *p++ = '=';

    for (s = value; *s; s++) {
        c = (unsigned char) *s;

        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            *p++ = c;

        } else if (c == ' ') {
            *p++ = '+';

        } else {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0xf];
        }
    }

    *p = '\0';

    *body = b;
    *len = p - b;

    return MS_OK;
}


static int
ms_http_post(const char *host, const char *port, const char *path,
    const char *body, size_t body_len, char **answer, size_t *answer_len)
{
    int               fd, rc, n, head_len;
    char             *buf, head[2048];
    size_t            len, sent, total;
    ssize_t           k;
    struct timeval    tv;
    struct addrinfo   hints, *res, *ai;

    memset(&hints, 0, sizeof(struct addrinfo));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;

    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "microshop-token: cannot resolve \"%s\": %s\n", host,
                gai_strerror(rc));
        return MS_FAIL;
    }

    fd = -1;
    tv.tv_sec = MS_TIMEOUT;
    tv.tv_usec = 0;

    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd == -1) {
            continue;
        }

        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            break;
        }

        rc = errno;
        close(fd);
        fd = -1;
        errno = rc;
    }

    freeaddrinfo(res);

    if (fd == -1) {
        fprintf(stderr, "microshop-token: cannot connect to %s:%s: %s\n",
                host, port, strerror(errno));
        return MS_FAIL;
    }

    head_len = snprintf(head, sizeof(head),
                        "POST %s HTTP/1.1\r\n"
                        "Host: %s%s%s%s%s\r\n"
                        "Content-Type: application/x-www-form-urlencoded\r\n"
                        "Content-Length: %zu\r\n"
                        "Accept: application/json\r\n"
                        "User-Agent: microshop-token\r\n"
                        "Connection: close\r\n\r\n",
                        path, strchr(host, ':') ? "[" : "", host,
                        strchr(host, ':') ? "]" : "",
                        strcmp(port, "80") ? ":" : "",
                        strcmp(port, "80") ? port : "", body_len);

    if (head_len < 0 || (size_t) head_len >= sizeof(head)) {
        fprintf(stderr, "microshop-token: --url is too long\n");
        close(fd);
        return MS_USAGE;
    }

    for (n = 0; n < 2; n++) {
        buf = n ? (char *) body : head;
        len = n ? body_len : (size_t) head_len;

        for (sent = 0; sent < len; sent += k) {
            k = send(fd, buf + sent, len - sent, MSG_NOSIGNAL);

            if (k <= 0) {
                fprintf(stderr, "microshop-token: sending to %s:%s failed: "
                        "%s\n", host, port, k ? strerror(errno) : "closed");
                close(fd);
                return MS_FAIL;
            }
        }
    }

    buf = malloc(MS_ANSWER_MAX + 1);
    if (buf == NULL) {
        fprintf(stderr, "microshop-token: out of memory\n");
        close(fd);
        return MS_FAIL;
    }

    total = 0;

    for ( ;; ) {
        k = recv(fd, buf + total, MS_ANSWER_MAX - total, 0);

        if (k == 0) {
            break;
        }

        if (k < 0) {
            if (errno == EINTR) {
                continue;
            }

            fprintf(stderr, "microshop-token: reading from %s:%s failed: "
                    "%s\n", host, port, strerror(errno));
            goto failed;
        }

        total += k;

        if (total == MS_ANSWER_MAX) {
            fprintf(stderr, "microshop-token: the answer of %s:%s is larger "
                    "than %d bytes\n", host, port, MS_ANSWER_MAX);
            goto failed;
        }
    }

    close(fd);

    buf[total] = '\0';
    *answer = buf;
    *answer_len = total;

    return MS_OK;

failed:

    close(fd);
    free(buf);

    return MS_FAIL;
}


/* the status and the body (Content-Length, chunked, or up to the end) */

static int
ms_http_answer(char *answer, size_t len, int *status, char **body,
    size_t *body_len)
{
    char    *p, *end, *line, *eol;
    long     clen;
    size_t   n;
    int      chunked;

    if (len < 12 || strncmp(answer, "HTTP/1.", 7) != 0
        || !isdigit((unsigned char) answer[9]))
    {
        return MS_FAIL;
    }

    *status = atoi(answer + 9);

    end = strstr(answer, "\r\n\r\n");
    if (end == NULL) {
        return MS_FAIL;
    }

    *body = end + 4;
    n = answer + len - *body;

    chunked = 0;
    clen = -1;

    for (line = strstr(answer, "\r\n") + 2; line < end; line = eol + 2) {
        eol = strstr(line, "\r\n");

        if (strncasecmp(line, "Content-Length:", 15) == 0) {
            clen = strtol(line + 15, NULL, 10);

        } else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0) {
            for (p = line + 18; p < eol; p++) {
                if (strncasecmp(p, "chunked", 7) == 0) {
                    chunked = 1;
                }
            }
        }
    }

    if (chunked) {
        n = ms_dechunk(*body, n);

    } else if (clen >= 0 && (size_t) clen < n) {
        n = clen;
    }

    *body_len = n;

    return MS_OK;
}


/* a chunked body decoded in place: its length */

static size_t
ms_dechunk(char *p, size_t len)
{
    char    *in, *last, *out, *next;
    size_t   size;

    in = p;
    out = p;
    last = p + len;

    while (in < last) {
        size = strtoul(in, &next, 16);
        in = strstr(next, "\r\n");

        if (in == NULL || size == 0) {
            break;
        }

        in += 2;

        if (size > (size_t) (last - in)) {
            size = last - in;
        }

        memmove(out, in, size);
        out += size;
        in += size + 2;
    }

    return out - p;
}
