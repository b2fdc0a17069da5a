/*
 * ngx_microshop: tokens the gateway signs itself (see the header), and the
 * directive of its signing keys, microshop_jwt_signing_key
 * (docs/directives.md, docs/tokens.md).
 *
 * Every signing key is read once, when the configuration is: its private
 * half is checked against its alg and, for the first key, kept in a signer
 * made once (microshop_token_sign.h); its public half joins the
 * verification keys with the same kid and alg, so that the gateway takes
 * the tokens it mints and the token configuration digest changes with the
 * key.  The later keys are retired ones: they verify and are published
 * (microshop_jwks) but sign nothing; their private halves are not kept.
 *
 * A token is made in the request pool and nowhere else: the claims are
 * serialized into a buffer on the stack, and the header was made once.
 * Key material is never logged.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "ngx_microshop_types.h"
#include "ngx_microshop_request.h"
#include "ngx_microshop_conf.h"
#include "ngx_microshop_json.h"
#include "ngx_microshop_mint.h"
#include "microshop_base64url.h"
#include "microshop_token_jws.h"
#include "microshop_token_sign.h"
#include "microshop_token_str.h"


/* bytes of a jti: 128 random bits */
#define NGX_MICROSHOP_JTI_BYTES  16

/* the claims of a token of at most MICROSHOP_JWT_MAX_LEN characters */
#define NGX_MICROSHOP_CLAIMS_MAX  (MICROSHOP_JWT_MAX_LEN / 4 * 3)


static ngx_int_t ngx_microshop_signing_alg(ngx_conf_t *cf, ngx_str_t *name,
    microshop_alg_t *alg);
static ngx_int_t ngx_microshop_signing_kid(ngx_conf_t *cf,
    ngx_http_microshop_main_conf_t *mmcf, ngx_str_t *kid);

/* the directive's name, which every message of it starts with */
static ngx_str_t  ngx_microshop_signing_name =
    ngx_string("microshop_jwt_signing_key");
static void ngx_microshop_signing_mode(ngx_conf_t *cf, ngx_str_t *file);
static ngx_int_t ngx_microshop_signing_header(ngx_conf_t *cf,
    ngx_microshop_mint_main_t *mint, ngx_microshop_signing_key_t *sk);
static void ngx_microshop_signer_cleanup(void *data);


ngx_uint_t
ngx_microshop_mint_enabled(ngx_http_request_t *r)
{
    return ngx_microshop_main_conf(r)->mint.signer != NULL;
}


ngx_int_t
ngx_microshop_mint(ngx_http_request_t *r, json_t *claims, ngx_str_t *token)
{
    char                        buf[NGX_MICROSHOP_CLAIMS_MAX];
    size_t                      clen, len;
    u_char                     *p;
    ngx_microshop_mint_main_t  *mint;

    mint = &ngx_microshop_main_conf(r)->mint;

    if (mint->signer == NULL) {
        return NGX_DECLINED;
    }

    if (!json_is_object(claims)) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "microshop: the claims of a token to mint are not "
                      "a JSON object");
        return NGX_ERROR;
    }

    /* a jansson object has no member twice; members in insertion order */

    clen = json_dumpb(claims, buf, sizeof(buf), JSON_COMPACT);

    if (clen == 0 || clen > sizeof(buf)) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "microshop: the claims of a token to mint %s",
                      clen ? "are too long for a token of 8 KB"
                           : "cannot be serialized");
        return NGX_ERROR;
    }

    len = microshop_jws_len(mint->signer, mint->header.len, clen);

    if (len > MICROSHOP_JWT_MAX_LEN) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "microshop: a token of %uz bytes would be minted, "
                      "over the %d a token may have", len,
                      MICROSHOP_JWT_MAX_LEN);
        return NGX_ERROR;
    }

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    token->len = microshop_jws_sign(mint->signer, (char *) mint->header.data,
                                    mint->header.len, buf, clen, (char *) p,
                                    len + 1);
    token->data = p;

    if (token->len == 0) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "microshop: signing a token failed");
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_microshop_mint_jti(ngx_http_request_t *r, ngx_str_t *jti)
{
    size_t  len;
    u_char  bytes[NGX_MICROSHOP_JTI_BYTES];

    if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
        ERR_clear_error();
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "microshop: RAND_bytes() failed for a jti");
        return NGX_ERROR;
    }

    len = MICROSHOP_B64URL_LEN(sizeof(bytes));

    jti->data = ngx_pnalloc(r->pool, len + 1);
    if (jti->data == NULL) {
        return NGX_ERROR;
    }

    (void) microshop_b64url_encode(bytes, sizeof(bytes), (char *) jti->data,
                                   len + 1);
    jti->len = len;

    return NGX_OK;
}


const microshop_key_t *
ngx_microshop_mint_public_key(ngx_http_microshop_main_conf_t *mmcf,
    ngx_uint_t i)
{
    ngx_microshop_signing_key_t  *sk;

    if (i >= mmcf->mint.keys.nelts) {
        return NULL;
    }

    sk = mmcf->mint.keys.elts;

    return microshop_keyset_find_kid(&mmcf->token.keys,
                                     (char *) sk[i].kid.data, sk[i].kid.len);
}


/* microshop_jwt_signing_key FILE kid=ID [alg=ES256|ES384|RS256] */

char *
ngx_microshop_jwt_signing_key_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_microshop_main_conf_t *mmcf = conf;

    int                           len;
    char                          why[256];
    u_char                       *der;
    EVP_PKEY                     *priv, *pub;
    ngx_str_t                    *value, v;
    ngx_uint_t                    i;
    microshop_alg_t               alg;
    const unsigned char          *p;
    ngx_pool_cleanup_t           *cln;
    microshop_signer_t           *signer;
    ngx_microshop_mint_main_t    *mint;
    ngx_microshop_signing_key_t  *sk;

    mint = &mmcf->mint;

    if (mint->keys.elts == NULL
        && ngx_array_init(&mint->keys, cf->pool, 2,
                          sizeof(ngx_microshop_signing_key_t))
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    sk = ngx_array_push(&mint->keys);
    if (sk == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(sk, sizeof(ngx_microshop_signing_key_t));
    sk->alg = MICROSHOP_ALG_ES256;
    sk->line = cf->conf_file->line;

    value = cf->args->elts;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_microshop_conf_value(&value[i], "kid=", &v)) {
            sk->kid = v;
            continue;
        }

        if (ngx_microshop_conf_value(&value[i], "alg=", &v)) {
            if (ngx_microshop_signing_alg(cf, &v, &sk->alg) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        return ngx_microshop_conf_invalid(cf, &value[i]);
    }

    if (sk->kid.len == 0) {
        return "needs kid=ID: the kid of the tokens it signs, which "
               "backends look up in the JWKS";
    }

    if (ngx_microshop_signing_kid(cf, mmcf, &sk->kid) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    sk->file = value[1];

    if (ngx_conf_full_name(cf->cycle, &sk->file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_microshop_signing_mode(cf, &sk->file);

    alg = sk->alg;
    why[0] = '\0';
    signer = NULL;
    pub = NULL;

    priv = microshop_private_key_read((char *) sk->file.data, why,
                                      sizeof(why));
    if (priv != NULL) {
        signer = microshop_signer_create(priv, alg, why, sizeof(why));
    }

    if (signer != NULL) {
        /* the public half, alone, for the verification keys */
        der = NULL;
        len = i2d_PUBKEY(priv, &der);

        if (len > 0) {
            p = der;
            pub = d2i_PUBKEY(NULL, &p, len);
            OPENSSL_free(der);
        }

        if (pub == NULL) {
            microshop_err(why, sizeof(why), "no public key");
        }
    }

    EVP_PKEY_free(priv);
    ERR_clear_error();

    if (pub == NULL) {
        microshop_signer_free(signer);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\": key file \"%V\": %s",
                           &ngx_microshop_signing_name, &sk->file, why);
        return NGX_CONF_ERROR;
    }

    /* retired keys only verify: their private half goes now */

    if (mint->keys.nelts > 1) {
        microshop_signer_free(signer);
        signer = NULL;
    }

    if (signer != NULL) {
        cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            microshop_signer_free(signer);
            EVP_PKEY_free(pub);
            return NGX_CONF_ERROR;
        }

        cln->handler = ngx_microshop_signer_cleanup;
        cln->data = signer;
        mint->signer = signer;

        if (ngx_microshop_signing_header(cf, mint, sk) != NGX_OK) {
            EVP_PKEY_free(pub);
            return NGX_CONF_ERROR;
        }
    }

    /* the kid is NUL-terminated: ngx_microshop_signing_kid() copied it */

    if (microshop_keyset_push(&mmcf->token.keys, (char *) sk->kid.data, alg,
                              pub, NULL, 0, (char *) sk->file.data, why,
                              sizeof(why))
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\": key file \"%V\": %s",
                           &ngx_microshop_signing_name, &sk->file, why);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_microshop_signing_alg(ngx_conf_t *cf, ngx_str_t *name,
    microshop_alg_t *alg)
{
    microshop_alg_t  a;

    a = microshop_alg_from_name((char *) name->data, name->len);

    if (a == MICROSHOP_ALG_ES256 || a == MICROSHOP_ALG_ES384
        || a == MICROSHOP_ALG_RS256)
    {
        *alg = a;
        return NGX_OK;
    }

    if (name->len > 2 && ngx_strncmp(name->data, "HS", 2) == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": alg=%V is refused: a backend verifies the "
                           "gateway's tokens with its public key, and an "
                           "HMAC secret cannot be published (ES256, ES384 "
                           "or RS256)", &ngx_microshop_signing_name, name);
        return NGX_ERROR;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"%V\": unknown alg \"%V\" (ES256, ES384 or RS256)",
                       &ngx_microshop_signing_name, name);

    return NGX_ERROR;
}


/*
 * A kid is text a JWKS and a JOSE header can carry, and no other key of
 * the gateway's has it.  kid becomes a NUL-terminated copy.
 */
static ngx_int_t
ngx_microshop_signing_kid(ngx_conf_t *cf,
    ngx_http_microshop_main_conf_t *mmcf, ngx_str_t *kid)
{
    u_char                       *s;
    json_t                       *j;
    ngx_uint_t                    i;
    ngx_microshop_signing_key_t  *sk;

    j = json_stringn((char *) kid->data, kid->len);
    json_decref(j);

    if (j == NULL || !microshop_text_is_clean((char *) kid->data, kid->len)
        || ngx_strlchr(kid->data, kid->data + kid->len, '\0') != NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": kid=%V: a kid is UTF-8 text without "
                           "control characters", &ngx_microshop_signing_name,
                           kid);
        return NGX_ERROR;
    }

    sk = mmcf->mint.keys.elts;

    for (i = 0; i + 1 < mmcf->mint.keys.nelts; i++) {
        if (sk[i].kid.len == kid->len
            && ngx_strncmp(sk[i].kid.data, kid->data, kid->len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\": kid \"%V\" is already the kid of "
                               "the signing key of line %ui",
                               &ngx_microshop_signing_name, kid, sk[i].line);
            return NGX_ERROR;
        }
    }

    if (microshop_keyset_find_kid(&mmcf->token.keys, (char *) kid->data,
                                  kid->len))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": kid \"%V\" is already the kid of a "
                           "verification key (microshop_jwt_key or "
                           "microshop_jwt_jwks): backends could not tell the "
                           "keys apart", &ngx_microshop_signing_name, kid);
        return NGX_ERROR;
    }

    s = ngx_pnalloc(cf->pool, kid->len + 1);
    if (s == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(s, kid->data, kid->len);
    s[kid->len] = '\0';
    kid->data = s;

    return NGX_OK;
}


/* a private key others can read is worth a warning, not a refusal */

static void
ngx_microshop_signing_mode(ngx_conf_t *cf, ngx_str_t *file)
{
    ngx_file_info_t  fi;

    if (ngx_file_info(file->data, &fi) == NGX_FILE_ERROR) {
        return;                 /* reading it says what is wrong */
    }

    if (ngx_file_access(&fi) & 0007) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"%V\": the private key \"%V\" can be read by "
                           "every user of the machine: chmod 600 it",
                           &ngx_microshop_signing_name, file);
    }
}


/* {"alg":...,"kid":...,"typ":"at+jwt"}, once */

static ngx_int_t
ngx_microshop_signing_header(ngx_conf_t *cf, ngx_microshop_mint_main_t *mint,
    ngx_microshop_signing_key_t *sk)
{
    json_t     *hdr;
    ngx_int_t   rc;

    hdr = json_pack("{s:s, s:s%, s:s}",
                    "alg", microshop_alg_name(sk->alg),
                    "kid", (char *) sk->kid.data, sk->kid.len,
                    "typ", "at+jwt");
    if (hdr == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_microshop_json_dump(cf->pool, hdr, &mint->header);
    json_decref(hdr);

    return rc;
}


static void
ngx_microshop_signer_cleanup(void *data)
{
    microshop_signer_free(data);
}
