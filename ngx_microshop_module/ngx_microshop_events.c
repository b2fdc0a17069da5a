/*
 * ngx_microshop: the signed inventory webhook receiver (see the header).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_microshop_types.h"
#include "ngx_microshop_request.h"
#include "ngx_microshop_outcome.h"
#include "ngx_microshop_conf.h"
#include "ngx_microshop_events.h"
#include "ngx_microshop_order_events.h"
#include "ngx_microshop_cache.h"
#include "ngx_microshop_body.h"
#include "ngx_microshop_json.h"
#include "ngx_microshop_answer.h"
#include "microshop_events_signature.h"


#define NGX_MICROSHOP_EVENT_ID_MAX        256
#define NGX_MICROSHOP_EVENTS_TOLERANCE    300
#define NGX_MICROSHOP_EVENTS_TOLERANCE_MAX  3600


static char *ngx_microshop_events_read_secret(ngx_conf_t *cf,
    ngx_command_t *cmd, ngx_microshop_events_loc_t *ec);
static void ngx_microshop_events_cleanup(void *data);
static ngx_int_t ngx_microshop_events_handler(ngx_http_request_t *r);
static void ngx_microshop_events_decision(ngx_http_request_t *r,
    ngx_microshop_outcome_e outcome);
static void ngx_microshop_events_body(ngx_http_request_t *r);
static char *ngx_microshop_events_signature(ngx_http_request_t *r,
    ngx_microshop_events_loc_t *ec, ngx_str_t *body);
static char *ngx_microshop_events_parse(ngx_http_request_t *r,
    ngx_str_t *body, ngx_microshop_op_t *op);
static ngx_uint_t ngx_microshop_events_json_name(json_t *v);
static void ngx_microshop_events_feed(ngx_http_request_t *r,
    ngx_microshop_op_t *op);
static void ngx_microshop_events_done(ngx_http_request_t *r,
    ngx_microshop_op_t *op);


static ngx_str_t  ngx_microshop_events_json_type =
    ngx_string("application/json");


/* microshop_events secret=FILE [tolerance=T] */

char *
ngx_microshop_events_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_microshop_loc_conf_t *mlcf = conf;

    char                        *rv;
    ngx_int_t                    t;
    ngx_str_t                   *value;
    ngx_uint_t                   i;
    ngx_pool_cleanup_t          *cln;
    ngx_http_core_loc_conf_t    *clcf;
    ngx_microshop_events_loc_t  *ec;

    if (mlcf->events != NULL) {
        return "is duplicate";
    }

    ec = ngx_pcalloc(cf->pool, sizeof(ngx_microshop_events_loc_t));
    if (ec == NULL) {
        return NGX_CONF_ERROR;
    }

    ec->tolerance = NGX_MICROSHOP_EVENTS_TOLERANCE;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "secret=", 7) == 0) {

            if (ec->secret_file.data != NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"%V\": duplicate \"secret=\"",
                                   &cmd->name);
                return NGX_CONF_ERROR;
            }

            if (value[i].len == 7) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"%V\": \"secret=\" needs a file name",
                                   &cmd->name);
                return NGX_CONF_ERROR;
            }

            ec->secret_file.data = value[i].data + 7;
            ec->secret_file.len = value[i].len - 7;
            continue;
        }

        if (ngx_strncmp(value[i].data, "tolerance=", 10) == 0) {
            t = ngx_microshop_conf_time(cf, &value[i], 1, 1,
                                        NGX_MICROSHOP_EVENTS_TOLERANCE_MAX,
                                        "\"%V\": invalid tolerance \"%V\" "
                                        "(1s to 1h)", &cmd->name, &value[i]);
            if (t == NGX_ERROR) {
                return NGX_CONF_ERROR;
            }

            ec->tolerance = t;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": invalid parameter \"%V\"",
                           &cmd->name, &value[i]);
        return NGX_CONF_ERROR;
    }

    if (ec->secret_file.data == NULL) {
        return "requires secret=FILE (the webhook signing secret)";
    }

    if (ngx_conf_full_name(cf->cycle, &ec->secret_file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    rv = ngx_microshop_events_read_secret(cf, cmd, ec);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    /* the secret does not outlive the configuration */

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_explicit_memzero(ec->secret.data, ec->secret.len);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_microshop_events_cleanup;
    cln->data = ec;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_microshop_events_handler;

    mlcf->events = ec;

    return NGX_CONF_OK;
}


static char *
ngx_microshop_events_read_secret(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_microshop_events_loc_t *ec)
{
    off_t            size;
    u_char          *buf;
    size_t           len;
    ssize_t          n;
    ngx_file_t       file;
    ngx_file_info_t  fi;

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.name = ec->secret_file;
    file.log = cf->log;

    file.fd = ngx_open_file(file.name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN,
                            0);

    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"%V\": cannot open the secret file \"%V\"",
                           &cmd->name, &file.name);
        return NGX_CONF_ERROR;
    }

    buf = NULL;
    size = 0;

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"%V\": " ngx_fd_info_n " \"%V\" failed",
                           &cmd->name, &file.name);
        goto failed;
    }

    if (!ngx_is_file(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": the secret file \"%V\" is not a "
                           "regular file", &cmd->name, &file.name);
        goto failed;
    }

    size = ngx_file_size(&fi);

    /* room for a trailing CR LF */
    if (size > NGX_MICROSHOP_EVENTS_SECRET_MAX + 2) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": the secret in \"%V\" is too long "
                           "(at most %d bytes)", &cmd->name, &file.name,
                           NGX_MICROSHOP_EVENTS_SECRET_MAX);
        goto failed;
    }

    buf = ngx_pnalloc(cf->pool, (size_t) size + 1);
    if (buf == NULL) {
        goto failed;
    }

    n = ngx_read_file(&file, buf, (size_t) size, 0);

    if (n == NGX_ERROR) {
        goto failed;
    }

    if (n != size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": short read of the secret file \"%V\"",
                           &cmd->name, &file.name);
        goto failed;
    }

    if (ngx_close_file(file.fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, cf->log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed", &file.name);
    }

    len = (size_t) size;

    while (len && (buf[len - 1] == CR || buf[len - 1] == LF)) {
        len--;
    }

    if (len < NGX_MICROSHOP_EVENTS_SECRET_MIN) {
        ngx_explicit_memzero(buf, (size_t) size);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": the secret in \"%V\" is too short "
                           "(%uz bytes, at least %d are required)",
                           &cmd->name, &file.name, len,
                           NGX_MICROSHOP_EVENTS_SECRET_MIN);
        return NGX_CONF_ERROR;
    }

    if (len > NGX_MICROSHOP_EVENTS_SECRET_MAX) {
        ngx_explicit_memzero(buf, (size_t) size);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": the secret in \"%V\" is too long "
                           "(at most %d bytes)", &cmd->name, &file.name,
                           NGX_MICROSHOP_EVENTS_SECRET_MAX);
        return NGX_CONF_ERROR;
    }

    ec->secret.data = buf;
    ec->secret.len = len;

    return NGX_CONF_OK;

failed:

    if (buf) {
        ngx_explicit_memzero(buf, (size_t) size);
    }

    if (ngx_close_file(file.fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, cf->log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed", &file.name);
    }

    return NGX_CONF_ERROR;
}


static void
ngx_microshop_events_cleanup(void *data)
{
    ngx_microshop_events_loc_t  *ec = data;

    ngx_explicit_memzero(ec->secret.data, ec->secret.len);
}


/* names of sellers and SKUs: bytes of a key "seller\nsku", so no controls */

ngx_uint_t
ngx_microshop_events_name_valid(u_char *data, size_t len)
{
    size_t  i;

    if (len == 0 || len > NGX_MICROSHOP_SKU_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (data[i] < 0x20 || data[i] == 0x7f) {
            return 0;
        }
    }

    return 1;
}


/* webhooks are decisions too: counted and audited like requests */

static void
ngx_microshop_events_decision(ngx_http_request_t *r,
    ngx_microshop_outcome_e outcome)
{
    ngx_http_microshop_ctx_t  *ctx;

    ctx = ngx_microshop_request_ctx(r);

    if (ctx) {
        ngx_microshop_outcome(r, ctx, outcome);
    }
}


static ngx_int_t
ngx_microshop_events_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    if (r->method != NGX_HTTP_POST) {
        return ngx_microshop_not_allowed(r, "POST",
                                         "Events are delivered with POST.");
    }

    rc = ngx_http_read_client_request_body(r, ngx_microshop_events_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_microshop_events_body(ngx_http_request_t *r)
{
    char                            *detail;
    ngx_int_t                        rc;
    ngx_str_t                        body, challenge;
    ngx_microshop_op_t              *op;
    ngx_microshop_events_loc_t      *ec;
    ngx_http_microshop_loc_conf_t   *mlcf;

    mlcf = ngx_microshop_loc_conf(r);
    ec = mlcf->events;

    rc = ngx_microshop_body_get(r, NGX_MICROSHOP_EVENTS_BODY_MAX, &body);

    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (rc == NGX_DECLINED) {
        ngx_http_finalize_request(r,
            ngx_microshop_problem_text(r,
                              NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                              "event-too-large", "Event too large",
                              "An event body may have at most 1 MB."));
        return;
    }

    detail = ngx_microshop_events_signature(r, ec, &body);

    if (detail == NGX_CONF_ERROR) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (detail != NULL) {
        ngx_microshop_events_decision(r,
                                      NGX_MICROSHOP_OUT_EVENT_SIGNATURE_INVALID);

        ngx_str_set(&challenge, "Microshop-Signature realm=\"microshop\"");

        if (ngx_microshop_header_add(r, "WWW-Authenticate", &challenge)
            != NGX_OK)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_http_finalize_request(r,
            ngx_microshop_problem_text(r, NGX_HTTP_UNAUTHORIZED,
                                         "invalid-signature",
                                         "Invalid signature", detail));
        return;
    }

    op = ngx_pcalloc(r->pool, sizeof(ngx_microshop_op_t));
    if (op == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    detail = ngx_microshop_events_parse(r, &body, op);

    if (detail == NGX_CONF_ERROR) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (detail != NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "microshop: webhook event refused: %s", detail);

        ngx_http_finalize_request(r,
            ngx_microshop_problem_text(r, NGX_HTTP_BAD_REQUEST,
                                         "invalid-event", "Invalid event",
                                         detail));
        return;
    }

    op->type = NGX_MICROSHOP_OP_EVENT;
    op->pool = r->pool;

    switch (ngx_microshop_request_exec(r, op, ngx_microshop_events_done)) {

    case NGX_OK:
        ngx_microshop_events_done(r, op);
        break;

    case NGX_AGAIN:
        /* ngx_microshop_events_done() runs when the store answers */
        break;

    default:
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }
}


/*
 * NULL when the body is signed with the secret, else the detail of the
 * 401 answer (NGX_CONF_ERROR: an internal failure).  The detail never
 * shows the secret or the expected signature.
 */

static char *
ngx_microshop_events_signature(ngx_http_request_t *r,
    ngx_microshop_events_loc_t *ec, ngx_str_t *body)
{
    char                    *detail;
    ngx_uint_t               count;
    ngx_table_elt_t         *sig;
    microshop_sig_result_e   rc;

    static ngx_str_t  name = ngx_string("Microshop-Signature");

    sig = ngx_microshop_header_in(r, &name, &count);

    if (sig == NULL) {
        rc = MICROSHOP_SIG_MALFORMED;
        detail = "The request has no Microshop-Signature header.";

    } else if (count > 1) {
        rc = MICROSHOP_SIG_MALFORMED;
        detail = "The request has more than one Microshop-Signature "
                 "header.";

    } else {
        rc = microshop_sig_verify(sig->value.data, sig->value.len,
                                  ec->secret.data, ec->secret.len,
                                  body->data, body->len, ngx_time(),
                                  ec->tolerance);

        switch (rc) {

        case MICROSHOP_SIG_OK:
            return NULL;

        case MICROSHOP_SIG_MALFORMED:
            detail = "The Microshop-Signature header is malformed: "
                     "expected t=<unix time>,v1=<hex HMAC-SHA256>.";
            break;

        case MICROSHOP_SIG_STALE:
            detail = "The signature is stale: its timestamp is older than "
                     "the tolerance allows.";
            break;

        case MICROSHOP_SIG_FUTURE:
            detail = "The signature timestamp is too far in the future.";
            break;

        case MICROSHOP_SIG_MISMATCH:
            detail = "The signature does not match the body.";
            break;

        default:
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "microshop: webhook signature could not be "
                          "computed");
            return NGX_CONF_ERROR;
        }
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "microshop: webhook refused: %s",
                  sig == NULL ? "no Microshop-Signature header"
                              : microshop_sig_result_text(rc));

    return detail;
}


/*
 * Fills op->key and op->u.event from the body.  Returns NULL, the detail
 * of a 400 answer, or NGX_CONF_ERROR on an internal failure.
 */

static char *
ngx_microshop_events_parse(ngx_http_request_t *r, ngx_str_t *body,
    ngx_microshop_op_t *op)
{
    char          *detail, *dump;
    json_t        *doc, *id, *seller, *sku, *version, *available, *item,
                  *type;
    ngx_str_t      s_seller, s_sku;
    json_error_t   err;

    if (body->len == 0) {
        return "The body is empty: an event is a JSON object.";
    }

    doc = json_loadb((char *) body->data, body->len, JSON_REJECT_DUPLICATES,
                     &err);

    if (doc == NULL) {
        return "The body is not valid JSON (or repeats a member).";
    }

    detail = NULL;

    if (!json_is_object(doc)) {
        detail = "The event must be a JSON object.";
        goto done;
    }

    id = json_object_get(doc, "id");
    seller = json_object_get(doc, "seller");
    sku = json_object_get(doc, "sku");
    version = json_object_get(doc, "version");
    available = json_object_get(doc, "available");
    item = json_object_get(doc, "item");
    type = json_object_get(doc, "type");

    if (!ngx_microshop_events_json_name(id)
        || json_string_length(id) > NGX_MICROSHOP_EVENT_ID_MAX)
    {
        detail = "\"id\" must be a string of 1 to 256 bytes without "
                 "control characters.";
        goto done;
    }

    if (!ngx_microshop_events_json_name(seller)) {
        detail = "\"seller\" must be a string of 1 to 256 bytes without "
                 "control characters.";
        goto done;
    }

    if (!ngx_microshop_events_json_name(sku)) {
        detail = "\"sku\" must be a string of 1 to 256 bytes without "
                 "control characters.";
        goto done;
    }

    if (!json_is_integer(version) || json_integer_value(version) < 0) {
        detail = "\"version\" must be an integer >= 0.";
        goto done;
    }

    if (available != NULL
        && (!json_is_integer(available) || json_integer_value(available) < 0))
    {
        detail = "\"available\" must be an integer >= 0.";
        goto done;
    }

    if (item != NULL && !json_is_object(item)) {
        detail = "\"item\" must be a JSON object.";
        goto done;
    }

    if (type != NULL && !json_is_string(type)) {
        detail = "\"type\" must be a string.";
        goto done;
    }

    /* the op, in the request pool */

    if (ngx_microshop_json_copy(r->pool, id, &op->u.event.id) != NGX_OK
        || ngx_microshop_json_copy(r->pool, seller, &s_seller) != NGX_OK
        || ngx_microshop_json_copy(r->pool, sku, &s_sku) != NGX_OK)
    {
        detail = NGX_CONF_ERROR;
        goto done;
    }

    if (ngx_microshop_store_key(r->pool, &s_seller, s_sku.data, s_sku.len,
                                &op->key)
        != NGX_OK)
    {
        detail = NGX_CONF_ERROR;
        goto done;
    }

    op->u.event.version = json_integer_value(version);

    if (available != NULL) {
        op->u.event.has_available = 1;
        op->u.event.available = json_integer_value(available);
    }

    if (item != NULL) {
        dump = json_dumps(item, JSON_COMPACT);
        if (dump == NULL) {
            detail = NGX_CONF_ERROR;
            goto done;
        }

        op->u.event.item.len = ngx_strlen(dump);
        op->u.event.item.data = ngx_pnalloc(r->pool, op->u.event.item.len);

        if (op->u.event.item.data == NULL) {
            free(dump);
            detail = NGX_CONF_ERROR;
            goto done;
        }

        ngx_memcpy(op->u.event.item.data, dump, op->u.event.item.len);
        free(dump);

        if (ngx_microshop_cache_etag(r->pool, &op->u.event.item,
                                     &op->u.event.etag)
            != NGX_OK)
        {
            detail = NGX_CONF_ERROR;
            goto done;
        }

        op->u.event.has_item = 1;
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "microshop: event \"%V\" for \"%V\" \"%V\" version %L",
                   &op->u.event.id, &s_seller, &s_sku,
                   op->u.event.version);

done:

    json_decref(doc);

    return detail;
}


/* a JSON string that is a valid name of a seller, a SKU or an event */

static ngx_uint_t
ngx_microshop_events_json_name(json_t *v)
{
    return json_is_string(v)
           && ngx_microshop_events_name_valid((u_char *) json_string_value(v),
                                              json_string_length(v));
}


/* an accepted event in the seller's feed (docs/events.md) */

static void
ngx_microshop_events_feed(ngx_http_request_t *r, ngx_microshop_op_t *op)
{
    ngx_str_t                        seller, sku;
    ngx_http_microshop_main_conf_t  *mmcf;

    mmcf = ngx_microshop_main_conf(r);

    if (ngx_microshop_store_key_seller(&op->key, &seller) != NGX_OK) {
        return;
    }

    sku.data = op->key.data + seller.len + 1;
    sku.len = op->key.len - seller.len - 1;

    ngx_microshop_inventory_event(mmcf, &seller, &sku, &op->u.event.id,
                                  op->u.event.version, op->u.event.has_item);

    if (op->u.event.has_available) {
        ngx_microshop_stock_event(mmcf, &seller, &sku, op->u.event.available,
                                  -1, NGX_MICROSHOP_BY_INVENTORY, NULL);
    }
}


static void
ngx_microshop_events_done(ngx_http_request_t *r, ngx_microshop_op_t *op)
{
    ngx_str_t  body, result;

    if (op->rc == NGX_BUSY) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "microshop: webhook event \"%V\" refused: its seller "
                      "is over its quota of event records", &op->u.event.id);

        ngx_microshop_events_decision(r, NGX_MICROSHOP_OUT_QUOTA_EXCEEDED);
        ngx_http_finalize_request(r, ngx_microshop_quota_exceeded(r));
        return;
    }

    if (op->rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "microshop: webhook event \"%V\" could not be stored",
                      &op->u.event.id);

        ngx_http_finalize_request(r,
            ngx_microshop_store_unavailable(r,
                              "The event could not be stored; retry later."));
        return;
    }

    switch (op->u.event.result) {

    case NGX_MICROSHOP_EVENT_ACCEPTED:
        ngx_str_set(&body, "{\"status\":\"accepted\"}\n");
        ngx_str_set(&result, "accepted");
        ngx_microshop_events_feed(r, op);
        break;

    case NGX_MICROSHOP_EVENT_DUPLICATE:
        ngx_str_set(&body, "{\"status\":\"duplicate\"}\n");
        ngx_str_set(&result, "duplicate");
        break;

    default: /* NGX_MICROSHOP_EVENT_STALE */
        ngx_str_set(&body, "{\"status\":\"stale\"}\n");
        ngx_str_set(&result, "stale");
        break;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "microshop: webhook event \"%V\" version %L: %V",
                  &op->u.event.id, op->u.event.version, &result);

    ngx_microshop_events_decision(r, NGX_MICROSHOP_OUT_EVENT_ANSWERED);

    ngx_http_finalize_request(r,
        ngx_microshop_send_body(r, NGX_HTTP_OK,
                                &ngx_microshop_events_json_type, &body));
}

