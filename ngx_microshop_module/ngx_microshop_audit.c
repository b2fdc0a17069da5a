/*
 * ngx_microshop: the audit log (see the header).
 *
 * A line is built in two passes over a small table of fields: the first
 * counts the bytes, the second writes them, so a line is allocated once
 * and never cut.  Strings are escaped for JSON here rather than with
 * ngx_escape_json(), which passes bytes >= 0x80 through: a raw URI may
 * hold any byte, and the line must stay valid UTF-8 JSON whatever a client
 * sends.  Valid UTF-8 is kept as it is; every other byte >= 0x80 is
 * written as \u00XX.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_microshop_types.h"
#include "ngx_microshop_request.h"
#include "ngx_microshop_conf.h"
#include "ngx_microshop_token.h"
#include "ngx_microshop_scope.h"
#include "ngx_microshop_audit.h"


#define NGX_MICROSHOP_AUDIT_BUFFER  (64 * 1024)   /* flush= without buffer= */
#define NGX_MICROSHOP_JSON_CHAR     6             /* "\\u00XX" */


typedef enum {
    NGX_MICROSHOP_AUDIT_STR = 0,      /* a JSON string; null when no data */
    NGX_MICROSHOP_AUDIT_RAW,          /* a number, written as it is */
    NGX_MICROSHOP_AUDIT_SET,          /* scope set -> array; null: no data */
    NGX_MICROSHOP_AUDIT_OBJECT        /* JSON written as it is; the member
                                         is left out when there is none */
} ngx_microshop_audit_type_e;


typedef struct {
    ngx_str_t                    name;
    ngx_microshop_audit_type_e   type;
    ngx_str_t                    value;
} ngx_microshop_audit_field_t;


typedef enum {
    NGX_MICROSHOP_AF_TIME = 0,
    NGX_MICROSHOP_AF_REQUEST_ID,
    NGX_MICROSHOP_AF_CLIENT,
    NGX_MICROSHOP_AF_METHOD,
    NGX_MICROSHOP_AF_URI,
    NGX_MICROSHOP_AF_LOCATION,
    NGX_MICROSHOP_AF_DECISION,
    NGX_MICROSHOP_AF_REASON,
    NGX_MICROSHOP_AF_STATUS,
    NGX_MICROSHOP_AF_SELLER,
    NGX_MICROSHOP_AF_SUBJECT,
    NGX_MICROSHOP_AF_JTI,
    NGX_MICROSHOP_AF_CLASS,
    NGX_MICROSHOP_AF_KID,
    NGX_MICROSHOP_AF_ALG,
    NGX_MICROSHOP_AF_SCOPES_GRANTED,
    NGX_MICROSHOP_AF_SCOPES_REQUIRED,
    NGX_MICROSHOP_AF_RATE_REMAINING,
    NGX_MICROSHOP_AF_IDEMPOTENCY,
    NGX_MICROSHOP_AF_CACHE,
    NGX_MICROSHOP_AF_MINTED,
    NGX_MICROSHOP_AF_MAX
} ngx_microshop_audit_field_e;


/* the names, in the order of the line (docs/audit-and-policy.md) */
static ngx_str_t  ngx_microshop_audit_names[] = {
    ngx_string("time"),
    ngx_string("request_id"),
    ngx_string("client"),
    ngx_string("method"),
    ngx_string("uri"),
    ngx_string("location"),
    ngx_string("decision"),
    ngx_string("reason"),
    ngx_string("status"),
    ngx_string("seller"),
    ngx_string("subject"),
    ngx_string("jti"),
    ngx_string("class"),
    ngx_string("kid"),
    ngx_string("alg"),
    ngx_string("scopes_granted"),
    ngx_string("scopes_required"),
    ngx_string("rate_remaining"),
    ngx_string("idempotency"),
    ngx_string("cache"),
    ngx_string("minted"),
};


/* identity field of each line field from seller to alg */
static ngx_uint_t  ngx_microshop_audit_id_fields[] = {
    NGX_MICROSHOP_ID_SELLER,
    NGX_MICROSHOP_ID_SUBJECT,
    NGX_MICROSHOP_ID_JTI,
    NGX_MICROSHOP_ID_CLASS,
    NGX_MICROSHOP_ID_KID,
    NGX_MICROSHOP_ID_ALG,
};


static void ngx_microshop_audit_fields(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_microshop_audit_main_t *audit,
    ngx_microshop_audit_field_t *f, u_char *now, u_char *status,
    u_char *remaining);
static size_t ngx_microshop_audit_line_len(ngx_microshop_audit_field_t *f);
static u_char *ngx_microshop_audit_line(u_char *p,
    ngx_microshop_audit_field_t *f);
static size_t ngx_microshop_json_len(u_char *src, size_t size);
static u_char *ngx_microshop_json_cpy(u_char *dst, u_char *src, size_t size);
static size_t ngx_microshop_json_char(u_char *dst, u_char **pp, u_char *last);
static size_t ngx_microshop_utf8_seq(u_char *p, u_char *last);
static void ngx_microshop_audit_put(ngx_microshop_audit_main_t *audit,
    ngx_log_t *log, u_char *line, size_t len);
static void ngx_microshop_audit_fd_write(ngx_microshop_audit_main_t *audit,
    ngx_log_t *log, u_char *buf, size_t len);
static void ngx_microshop_audit_flush(ngx_microshop_audit_main_t *audit,
    ngx_log_t *log);
static void ngx_microshop_audit_file_flush(ngx_open_file_t *file,
    ngx_log_t *log);
static void ngx_microshop_audit_flush_handler(ngx_event_t *ev);


/* microshop_audit_log FILE|off [buffer=SIZE] [flush=TIME] */

char *
ngx_microshop_audit_log_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_microshop_main_conf_t *mmcf = conf;

    ssize_t                      size;
    ngx_int_t                    t;
    ngx_str_t                   *value, s, name;
    ngx_uint_t                   i;
    ngx_msec_t                   flush;
    ngx_event_t                 *ev;
    ngx_microshop_audit_main_t  *audit;

    audit = &mmcf->audit;

    if (audit->set) {
        return "is duplicate";
    }

    audit->set = 1;

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts > 2) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V off\" takes no parameters, "
                               "\"%V\" given", &cmd->name, &value[2]);
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (value[1].len == 0) {
        return "has an empty file name";
    }

    if (ngx_strncmp(value[1].data, "syslog:", 7) == 0) {
        return "cannot log to syslog: give a file";
    }

    size = 0;
    flush = 0;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "buffer=", 7) == 0) {
            s.data = value[i].data + 7;
            s.len = value[i].len - 7;

            size = ngx_parse_size(&s);

            if (size == NGX_ERROR || size == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"%V\": invalid buffer size \"%V\"",
                                   &cmd->name, &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "flush=", 6) == 0) {
            t = ngx_microshop_conf_time(cf, &value[i], 0, 1,
                                        NGX_MAX_INT_T_VALUE,
                                        "\"%V\": invalid flush time \"%V\"",
                                        &cmd->name, &value[i]);
            if (t == NGX_ERROR) {
                return NGX_CONF_ERROR;
            }

            flush = t;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": invalid parameter \"%V\" "
                           "(buffer=SIZE or flush=TIME)",
                           &cmd->name, &value[i]);
        return NGX_CONF_ERROR;
    }

    if (flush && size == 0) {
        size = NGX_MICROSHOP_AUDIT_BUFFER;
    }

    /* relative to the prefix, reopened on "nginx -s reopen" */
    audit->file = ngx_conf_open_file(cf->cycle, &value[1]);
    if (audit->file == NULL) {
        return NGX_CONF_ERROR;
    }

    if (size) {
        if (audit->file->flush || audit->file->data) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\": the file \"%V\" is already used by "
                               "a buffered log", &cmd->name, &value[1]);
            return NGX_CONF_ERROR;
        }

        audit->start = ngx_pnalloc(cf->pool, size);
        if (audit->start == NULL) {
            return NGX_CONF_ERROR;
        }

        audit->pos = audit->start;
        audit->last = audit->start + size;
        audit->buffer = size;

        /*
         * nginx calls file->flush before it reopens the file and when a
         * worker exits (ngx_conf_flush_files); file->data stays NULL so that
         * an access_log of the same file never takes our state for its own
         */
        audit->file->flush = ngx_microshop_audit_file_flush;

        if (flush) {
            ev = ngx_pcalloc(cf->pool, sizeof(ngx_event_t));
            if (ev == NULL) {
                return NGX_CONF_ERROR;
            }

            ev->data = audit;
            ev->handler = ngx_microshop_audit_flush_handler;
            ev->log = &cf->cycle->new_log;
            ev->cancelable = 1;

            audit->event = ev;
            audit->flush = flush;
        }
    }

    ngx_str_set(&name, "request_id");

    audit->request_id = ngx_http_get_variable_index(cf, &name);
    if (audit->request_id == NGX_ERROR) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


void
ngx_microshop_audit_write(ngx_http_request_t *r, ngx_http_microshop_ctx_t *ctx)
{
    u_char                           *line, *p;
    u_char                            now[sizeof("1970-01-01T00:00:00.000Z")];
    u_char                            status[NGX_INT_T_LEN];
    u_char                            remaining[NGX_INT_T_LEN];
    size_t                            len;
    ngx_microshop_audit_main_t       *audit;
    ngx_microshop_audit_field_t       f[NGX_MICROSHOP_AF_MAX];
    ngx_http_microshop_main_conf_t   *mmcf;

    mmcf = ngx_microshop_main_conf(r);
    audit = &mmcf->audit;

    if (audit->file == NULL) {
        return;
    }

    ngx_microshop_audit_fields(r, ctx, audit, f, now, status, remaining);

    len = ngx_microshop_audit_line_len(f);

    line = ngx_pnalloc(r->pool, len);
    if (line == NULL) {
        return;
    }

    p = ngx_microshop_audit_line(line, f);

    ngx_microshop_audit_put(audit, r->connection->log, line, p - line);
}


static void
ngx_microshop_audit_fields(ngx_http_request_t *r,
    ngx_http_microshop_ctx_t *ctx, ngx_microshop_audit_main_t *audit,
    ngx_microshop_audit_field_t *f, u_char *now, u_char *status,
    u_char *remaining)
{
    u_char                         *p;
    ngx_tm_t                        tm;
    ngx_str_t                      *v;
    ngx_uint_t                      i, code;
    ngx_time_t                     *tp;
    const char                     *s;
    ngx_microshop_identity_t       *id;
    ngx_http_variable_value_t      *vv;
    ngx_http_core_loc_conf_t       *clcf;
    ngx_http_microshop_loc_conf_t  *mlcf;

    for (i = 0; i < NGX_MICROSHOP_AF_MAX; i++) {
        f[i].name = ngx_microshop_audit_names[i];
        f[i].type = NGX_MICROSHOP_AUDIT_STR;
        ngx_str_null(&f[i].value);
    }

    /* time: the moment the line is written, UTC, milliseconds */

    tp = ngx_timeofday();
    ngx_gmtime(tp->sec, &tm);

    f[NGX_MICROSHOP_AF_TIME].value.data = now;
    f[NGX_MICROSHOP_AF_TIME].value.len =
        ngx_sprintf(now, "%4d-%02d-%02dT%02d:%02d:%02d.%03MZ",
                    tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                    tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec, tp->msec)
        - now;

    vv = ngx_http_get_indexed_variable(r, audit->request_id);

    if (vv && !vv->not_found && vv->len) {
        f[NGX_MICROSHOP_AF_REQUEST_ID].value.data = vv->data;
        f[NGX_MICROSHOP_AF_REQUEST_ID].value.len = vv->len;
    }

    f[NGX_MICROSHOP_AF_CLIENT].value = r->connection->addr_text;
    f[NGX_MICROSHOP_AF_METHOD].value = r->method_name;

    /* the path as the client sent it; the query may carry credentials */

    v = &f[NGX_MICROSHOP_AF_URI].value;

    if (r->unparsed_uri.len) {
        *v = r->unparsed_uri;

        p = ngx_strlchr(v->data, v->data + v->len, '?');
        if (p) {
            v->len = p - v->data;
        }

    } else {
        *v = r->uri;
    }

    if (v->data == NULL) {
        ngx_str_set(v, "");
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    f[NGX_MICROSHOP_AF_LOCATION].value = clcf->name;

    if (f[NGX_MICROSHOP_AF_LOCATION].value.data == NULL) {
        ngx_str_set(&f[NGX_MICROSHOP_AF_LOCATION].value, "");
    }

    s = ngx_microshop_reason_decision(ctx->reason);
    f[NGX_MICROSHOP_AF_DECISION].value.data = (u_char *) s;
    f[NGX_MICROSHOP_AF_DECISION].value.len = ngx_strlen(s);

    s = ngx_microshop_reason_name(ctx->reason);
    f[NGX_MICROSHOP_AF_REASON].value.data = (u_char *) s;
    f[NGX_MICROSHOP_AF_REASON].value.len = ngx_strlen(s);

    /* the final status, as $status has it */

    if (r->err_status) {
        code = r->err_status;

    } else {
        code = r->headers_out.status;
    }

    f[NGX_MICROSHOP_AF_STATUS].type = NGX_MICROSHOP_AUDIT_RAW;

    if (code) {
        f[NGX_MICROSHOP_AF_STATUS].value.data = status;
        f[NGX_MICROSHOP_AF_STATUS].value.len = ngx_sprintf(status, "%ui", code)
                                               - status;
    }

    /* the identity: null when no token passed, or the claim is absent */

    id = ngx_microshop_token_identity(r);

    f[NGX_MICROSHOP_AF_SCOPES_GRANTED].type = NGX_MICROSHOP_AUDIT_SET;

    if (id) {
        for (i = 0; i < sizeof(ngx_microshop_audit_id_fields)
                        / sizeof(ngx_uint_t); i++)
        {
            v = &id->f[ngx_microshop_audit_id_fields[i]];

            if (v->len) {
                f[NGX_MICROSHOP_AF_SELLER + i].value = *v;
            }
        }

        v = &f[NGX_MICROSHOP_AF_SCOPES_GRANTED].value;
        *v = id->f[NGX_MICROSHOP_ID_SCOPES];

        if (v->data == NULL) {
            /* a token without scopes: the empty set, not null */
            ngx_str_set(v, "");
        }
    }

    /* the scopes the route needs, also when the token never got there */

    f[NGX_MICROSHOP_AF_SCOPES_REQUIRED].type = NGX_MICROSHOP_AUDIT_SET;
    v = &f[NGX_MICROSHOP_AF_SCOPES_REQUIRED].value;

    if (ctx->scopes_required.len) {
        *v = ctx->scopes_required;

    } else {
        mlcf = ngx_microshop_loc_conf(r);

        *v = *ngx_microshop_scope_required(r, &mlcf->scope);

        if (v->len == 0) {
            ngx_str_null(v);
        }
    }

    f[NGX_MICROSHOP_AF_RATE_REMAINING].type = NGX_MICROSHOP_AUDIT_RAW;

    if (ctx->rate_remaining >= 0) {
        f[NGX_MICROSHOP_AF_RATE_REMAINING].value.data = remaining;
        f[NGX_MICROSHOP_AF_RATE_REMAINING].value.len =
                          ngx_sprintf(remaining, "%i", ctx->rate_remaining)
                          - remaining;
    }

    if (ctx->idempotency.len) {
        f[NGX_MICROSHOP_AF_IDEMPOTENCY].value = ctx->idempotency;
    }

    if (ctx->cache.len) {
        f[NGX_MICROSHOP_AF_CACHE].value = ctx->cache;
    }

    /* the token the gateway minted (docs/tokens.md): only then */
    f[NGX_MICROSHOP_AF_MINTED].type = NGX_MICROSHOP_AUDIT_OBJECT;

    if (ctx->minted.len) {
        f[NGX_MICROSHOP_AF_MINTED].value = ctx->minted;
    }
}


static size_t
ngx_microshop_audit_line_len(ngx_microshop_audit_field_t *f)
{
    u_char      *p, *last, *e;
    size_t       len;
    ngx_uint_t   i;

    len = sizeof("{}\n") - 1;

    for (i = 0; i < NGX_MICROSHOP_AF_MAX; i++) {

        if (f[i].type == NGX_MICROSHOP_AUDIT_OBJECT
            && f[i].value.data == NULL)
        {
            continue;
        }

        /* ,"name": */
        len += sizeof(",\"\":") - 1 + f[i].name.len;

        if (f[i].value.data == NULL) {
            len += sizeof("null") - 1;
            continue;
        }

        switch (f[i].type) {

        case NGX_MICROSHOP_AUDIT_RAW:
        case NGX_MICROSHOP_AUDIT_OBJECT:
            len += f[i].value.len;
            break;

        case NGX_MICROSHOP_AUDIT_SET:
            len += sizeof("[]") - 1;

            p = f[i].value.data;
            last = p + f[i].value.len;

            while (p < last) {
                e = ngx_strlchr(p, last, ' ');
                if (e == NULL) {
                    e = last;
                }

                if (e > p) {
                    len += sizeof("\"\",") - 1 + ngx_microshop_json_len(p,
                                                                       e - p);
                }

                p = e + 1;
            }

            break;

        default: /* NGX_MICROSHOP_AUDIT_STR */
            len += sizeof("\"\"") - 1
                   + ngx_microshop_json_len(f[i].value.data, f[i].value.len);
        }
    }

    return len;
}


static u_char *
ngx_microshop_audit_line(u_char *p, ngx_microshop_audit_field_t *f)
{
    u_char      *s, *last, *e;
    ngx_uint_t   i, n;

    *p++ = '{';

    for (i = 0; i < NGX_MICROSHOP_AF_MAX; i++) {

        if (f[i].type == NGX_MICROSHOP_AUDIT_OBJECT
            && f[i].value.data == NULL)
        {
            continue;
        }

        if (i) {
            *p++ = ',';
        }

        *p++ = '"';
        p = ngx_cpymem(p, f[i].name.data, f[i].name.len);
        *p++ = '"';
        *p++ = ':';

        if (f[i].value.data == NULL) {
            p = ngx_cpymem(p, "null", sizeof("null") - 1);
            continue;
        }

        switch (f[i].type) {

        case NGX_MICROSHOP_AUDIT_RAW:
        case NGX_MICROSHOP_AUDIT_OBJECT:
            p = ngx_cpymem(p, f[i].value.data, f[i].value.len);
            break;

        case NGX_MICROSHOP_AUDIT_SET:
            *p++ = '[';

            s = f[i].value.data;
            last = s + f[i].value.len;
            n = 0;

            while (s < last) {
                e = ngx_strlchr(s, last, ' ');
                if (e == NULL) {
                    e = last;
                }

                if (e > s) {
                    if (n++) {
                        *p++ = ',';
                    }

                    *p++ = '"';
                    p = ngx_microshop_json_cpy(p, s, e - s);
                    *p++ = '"';
                }

                s = e + 1;
            }

            *p++ = ']';
            break;

        default: /* NGX_MICROSHOP_AUDIT_STR */
            *p++ = '"';
            p = ngx_microshop_json_cpy(p, f[i].value.data, f[i].value.len);
            *p++ = '"';
        }
    }

    *p++ = '}';
    *p++ = LF;

    return p;
}


/* bytes of src escaped as the inside of a JSON string */

static size_t
ngx_microshop_json_len(u_char *src, size_t size)
{
    u_char  *p, *last, buf[NGX_MICROSHOP_JSON_CHAR];
    size_t   len;

    len = 0;
    p = src;
    last = src + size;

    while (p < last) {
        len += ngx_microshop_json_char(buf, &p, last);
    }

    return len;
}


static u_char *
ngx_microshop_json_cpy(u_char *dst, u_char *src, size_t size)
{
    u_char  *p, *last;

    p = src;
    last = src + size;

    while (p < last) {
        dst += ngx_microshop_json_char(dst, &p, last);
    }

    return dst;
}


/*
 * The character at *p escaped into dst (NGX_MICROSHOP_JSON_CHAR bytes at
 * most): a well-formed UTF-8 sequence as it is, the short escapes, \u00XX
 * for other controls and for bytes of no sequence; *p moves past it.
 * Returns the bytes written.
 */

static size_t
ngx_microshop_json_char(u_char *dst, u_char **pp, u_char *last)
{
    u_char          c, e;
    size_t          n;
    static u_char   hex[] = "0123456789abcdef";

    c = **pp;

    if (c >= 0x80) {
        n = ngx_microshop_utf8_seq(*pp, last);

        if (n) {
            ngx_memcpy(dst, *pp, n);
            *pp += n;
            return n;
        }
    }

    (*pp)++;

    switch (c) {
    case '"':  e = '"';  break;
    case '\\': e = '\\'; break;
    case '\n': e = 'n';  break;
    case '\r': e = 'r';  break;
    case '\t': e = 't';  break;
    case '\b': e = 'b';  break;
    case '\f': e = 'f';  break;
    default:   e = 0;
    }

    if (e) {
        dst[0] = '\\';
        dst[1] = e;
        return 2;
    }

    if (c >= 0x20 && c < 0x7f) {
        dst[0] = c;
        return 1;
    }

    dst[0] = '\\';
    dst[1] = 'u';
    dst[2] = '0';
    dst[3] = '0';
    dst[4] = hex[c >> 4];
    dst[5] = hex[c & 0xf];

    return NGX_MICROSHOP_JSON_CHAR;
}


/*
 * The length of the well-formed UTF-8 sequence at p (2..4), or 0: no
 * overlong forms, no surrogates, nothing above U+10FFFF (RFC 3629).
 */

static size_t
ngx_microshop_utf8_seq(u_char *p, u_char *last)
{
    size_t    n, i;
    uint32_t  u, min;

    if (*p >= 0xc2 && *p <= 0xdf) {
        n = 2;
        u = *p & 0x1f;
        min = 0x80;

    } else if (*p >= 0xe0 && *p <= 0xef) {
        n = 3;
        u = *p & 0x0f;
        min = 0x800;

    } else if (*p >= 0xf0 && *p <= 0xf4) {
        n = 4;
        u = *p & 0x07;
        min = 0x10000;

    } else {
        return 0;
    }

    if ((size_t) (last - p) < n) {
        return 0;
    }

    for (i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }

        u = (u << 6) | (p[i] & 0x3f);
    }

    if (u < min || u > 0x10ffff || (u >= 0xd800 && u <= 0xdfff)) {
        return 0;
    }

    return n;
}


/* output */

static void
ngx_microshop_audit_put(ngx_microshop_audit_main_t *audit, ngx_log_t *log,
    u_char *line, size_t len)
{
    /*
     * buffered, unless an access_log of the same file took the flush
     * callback over after us: then write at once, which is always safe
     */

    if (audit->start
        && audit->file->flush == ngx_microshop_audit_file_flush)
    {
        if (len > (size_t) (audit->last - audit->pos)) {
            ngx_microshop_audit_flush(audit, log);
        }

        if (len <= (size_t) (audit->last - audit->pos)) {

            if (audit->event && audit->pos == audit->start) {
                ngx_add_timer(audit->event, audit->flush);
            }

            audit->pos = ngx_cpymem(audit->pos, line, len);
            return;
        }

        /* a line larger than the buffer: the buffer is empty by now */
    }

    ngx_microshop_audit_fd_write(audit, log, line, len);
}


/* one write(): the file is opened with O_APPEND, lines never mix */

static void
ngx_microshop_audit_fd_write(ngx_microshop_audit_main_t *audit,
    ngx_log_t *log, u_char *buf, size_t len)
{
    time_t     now;
    ssize_t    n;
    ngx_err_t  err;

    n = ngx_write_fd(audit->file->fd, buf, len);

    if (n == (ssize_t) len) {
        return;
    }

    err = (n == -1) ? ngx_errno : 0;

    /* at most one message a minute per worker */

    now = ngx_time();

    if (now - audit->error_log_time < 60) {
        return;
    }

    audit->error_log_time = now;

    if (n == -1) {
        ngx_log_error(NGX_LOG_ALERT, log, err,
                      "microshop_audit_log: " ngx_write_fd_n " to \"%V\" "
                      "failed", &audit->file->name);
        return;
    }

    ngx_log_error(NGX_LOG_ALERT, log, 0,
                  "microshop_audit_log: " ngx_write_fd_n " to \"%V\" was "
                  "incomplete: %z of %uz", &audit->file->name, n, len);
}


static void
ngx_microshop_audit_flush(ngx_microshop_audit_main_t *audit, ngx_log_t *log)
{
    size_t  len;

    len = audit->pos - audit->start;

    if (len) {
        audit->pos = audit->start;
        ngx_microshop_audit_fd_write(audit, log, audit->start, len);
    }

    if (audit->event && audit->event->timer_set) {
        ngx_del_timer(audit->event);
    }
}


/* before "nginx -s reopen" reopens the file, and when a worker exits */

static void
ngx_microshop_audit_file_flush(ngx_open_file_t *file, ngx_log_t *log)
{
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_microshop_cycle_main_conf(ngx_cycle);

    if (mmcf == NULL || mmcf->audit.file != file || mmcf->audit.start == NULL)
    {
        return;
    }

    ngx_microshop_audit_flush(&mmcf->audit, log);
}


static void
ngx_microshop_audit_flush_handler(ngx_event_t *ev)
{
    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "microshop audit log flush");

    ngx_microshop_audit_flush(ev->data, ev->log);
}
