/*
 * ngx_microshop: the Redis back end's ops over every seller with holds
 * (the global set ms:sellers:holds, docs/redis.md "Keys"): each script
 * keeps to one seller's slot, so the sweep, HOLD_LIST and SETTLE by id
 * alone (the admin API) first read the set, then send one script per
 * seller and add the replies up.
 *
 * A RESERVE that held adds its seller to the set (a command of its own
 * after the reply).  The sweep removes a seller whose holds are all gone,
 * then looks again: a RESERVE that made a hold in between is seen by that
 * second look (and the seller added back) or adds the seller itself
 * after the removal, so a seller with holds is never left out for good.
 * A posted sweep (the timer) walks NGX_MICROSHOP_REDIS_SWEEP_SELLERS
 * sellers per run with SSCAN, an exec'd one every seller.
 *
 * Under _order.c, which starts a walk (ngx_microshop_rstore_start()), and
 * ngx_microshop_store_redis.c, which adds a held RESERVE's seller; above
 * _outage.c, _reply.c and _call.c (ngx_microshop_rstore.h).
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_microshop_rstore.h"


typedef struct {
    ngx_microshop_rstore_call_t    *call;
    ngx_str_t                      seller;
} ngx_microshop_rstore_sub_t;


static ngx_int_t ngx_microshop_rstore_sellers_cmd(
    ngx_microshop_rstore_call_t *call, ngx_microshop_rstore_args_t *a,
    char *how, ngx_str_t *arg);
static ngx_int_t ngx_microshop_rstore_sellers_send(
    ngx_microshop_rstore_call_t *call, ngx_str_t *seller);
static void ngx_microshop_rstore_sub_handler(void *data, ngx_uint_t status,
    redisReply *reply);
static void ngx_microshop_rstore_sellers_listed(
    ngx_microshop_rstore_call_t *call, ngx_uint_t status, redisReply *reply);
static void ngx_microshop_rstore_seller_done(ngx_microshop_rstore_call_t *call,
    ngx_str_t *seller, ngx_uint_t status, redisReply *reply);
static void ngx_microshop_rstore_sellers_end(ngx_microshop_rstore_call_t *call);
static ngx_int_t ngx_microshop_rstore_inner_holds(
    ngx_microshop_rstore_call_t *call, ngx_microshop_op_t *op);
static void ngx_microshop_rstore_seller_gone(ngx_microshop_rstore_store_t *rs,
    ngx_str_t *seller);
static void ngx_microshop_rstore_seller_removed(
    ngx_microshop_rstore_call_t *call, ngx_uint_t status, redisReply *reply);
static void ngx_microshop_rstore_seller_looked(
    ngx_microshop_rstore_call_t *call, ngx_uint_t status, redisReply *reply);
static void ngx_microshop_rstore_ignore(ngx_microshop_rstore_call_t *call,
    ngx_uint_t status, redisReply *reply);


/* the SELLERS script on ms:sellers:holds: how "+", "-", "" or a cursor */

static ngx_int_t
ngx_microshop_rstore_sellers_cmd(ngx_microshop_rstore_call_t *call,
    ngx_microshop_rstore_args_t *a, char *how, ngx_str_t *arg)
{
    if (ngx_microshop_rstore_args_init(a, call->pool,
                                      NGX_MICROSHOP_REDIS_LUA_SELLERS, 3)
        != NGX_OK
        || ngx_microshop_rstore_arg(a, (u_char *) "ms:sellers:holds",
                                   sizeof("ms:sellers:holds") - 1)
           != NGX_OK
        || ngx_microshop_rstore_arg(a, (u_char *) how, ngx_strlen(how))
           != NGX_OK
        || ngx_microshop_rstore_arg(a, arg->data, arg->len) != NGX_OK)
    {
        return NGX_ERROR;
    }

    a->nkeys = 1;

    return NGX_OK;
}


ngx_int_t
ngx_microshop_rstore_sellers_start(ngx_microshop_rstore_call_t *call)
{
    u_char                         n[NGX_INT_T_LEN];
    ngx_str_t                      count;
    ngx_microshop_op_t            *op;
    ngx_microshop_rstore_args_t    a;
    ngx_microshop_rstore_store_t  *rs;

    rs = call->rs;
    op = call->copy;

    call->step = ngx_microshop_rstore_sellers_listed;

    if (op->type == NGX_MICROSHOP_OP_HOLD_LIST) {
        if (ngx_microshop_rstore_inner_holds(call, op) != NGX_OK) {
            return NGX_ERROR;
        }

        if (op->u.reserve.seller.len) {
            /* one seller: no walk */
            return ngx_microshop_rstore_sellers_send(call,
                                                    &op->u.reserve.seller);
        }
    }

    if (op->type == NGX_MICROSHOP_OP_SWEEP && call->post) {
        count.data = n;
        count.len = ngx_sprintf(n, "%ui", NGX_MICROSHOP_REDIS_SWEEP_SELLERS)
                    - n;

        if (rs->cursor_len == 0) {
            rs->cursor[0] = '0';
            rs->cursor_len = 1;
        }

        if (ngx_microshop_rstore_sellers_cmd(call, &a,
                                            (char *) "", &count) != NGX_OK)
        {
            return NGX_ERROR;
        }

        /* SSCAN from this worker's cursor */
        a.argv[1].data = rs->cursor;
        a.argv[1].len = rs->cursor_len;

    } else {
        ngx_str_set(&count, "0");

        if (ngx_microshop_rstore_sellers_cmd(call, &a, (char *) "", &count)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_microshop_rstore_send(call, &a);
}


/* the holds of this node's zone (those that fell back) come first */

static ngx_int_t
ngx_microshop_rstore_inner_holds(ngx_microshop_rstore_call_t *call,
    ngx_microshop_op_t *op)
{
    ngx_uint_t             i;
    ngx_microshop_op_t     list;
    ngx_microshop_hold_t  *h;

    list = *op;
    list.pool = call->pool;

    (void) ngx_microshop_store_exec(&call->rs->inner, &list);

    if (list.rc != NGX_OK) {
        return NGX_ERROR;
    }

    call->total += list.u.reserve.total;

    for (i = 0; i < list.u.reserve.nholds; i++) {
        h = ngx_array_push(&call->holds);
        if (h == NULL) {
            return NGX_ERROR;
        }

        *h = list.u.reserve.holds[i];
    }

    return NGX_OK;
}


/* one seller's script, its reply to ngx_microshop_rstore_seller_done() */

static ngx_int_t
ngx_microshop_rstore_sellers_send(ngx_microshop_rstore_call_t *call,
    ngx_str_t *seller)
{
    ngx_int_t                    rc;
    ngx_microshop_rstore_sub_t  *sub;
    ngx_microshop_rstore_args_t  a;

    sub = ngx_palloc(call->pool, sizeof(ngx_microshop_rstore_sub_t));
    if (sub == NULL) {
        return NGX_ERROR;
    }

    sub->call = call;
    sub->seller = *seller;

    if (ngx_microshop_rstore_cmd_seller(call->pool, call->copy, seller, &a)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (call->rs->rd == NULL) {
        return NGX_DECLINED;
    }

    rc = ngx_microshop_redis_eval(call->rs->rd, a.script, a.nkeys, a.argc,
                                  a.argv, ngx_microshop_rstore_sub_handler,
                                  sub, NULL);
    if (rc == NGX_OK) {
        call->waiting++;
    }

    return rc;
}


static void
ngx_microshop_rstore_sub_handler(void *data, ngx_uint_t status,
    redisReply *reply)
{
    ngx_microshop_rstore_sub_t   *sub = data;
    ngx_microshop_rstore_call_t  *call;

    call = sub->call;
    call->waiting--;

    if (!call->rs->exiting) {
        ngx_microshop_rstore_seller_done(call, &sub->seller, status, reply);
    }

    if (call->waiting == 0) {
        ngx_microshop_rstore_sellers_end(call);
    }
}


/* the set's members (and the SSCAN cursor): one script each */

static void
ngx_microshop_rstore_sellers_listed(ngx_microshop_rstore_call_t *call,
    ngx_uint_t status, redisReply *reply)
{
    size_t                         len;
    ngx_int_t                      rc;
    ngx_str_t                      seller;
    ngx_uint_t                     i;
    redisReply                    *cursor, *members, *m;
    ngx_microshop_rstore_store_t  *rs;

    rs = call->rs;

    if (status != NGX_MICROSHOP_REDIS_REPLY
        || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_ARRAY)
    {
        call->status = NGX_MICROSHOP_REDIS_CLOSED;
        ngx_microshop_rstore_sellers_end(call);
        return;
    }

    cursor = reply->element[0];
    members = reply->element[1];

    if (call->copy->type == NGX_MICROSHOP_OP_SWEEP && call->post) {
        len = ngx_min(cursor->len, sizeof(rs->cursor));
        ngx_memcpy(rs->cursor, cursor->str, len);
        rs->cursor_len = len;
    }

    for (i = 0; i < members->elements; i++) {
        m = members->element[i];

        if (m->type != REDIS_REPLY_STRING) {
            continue;
        }

        if (ngx_microshop_rstore_dup(call->pool, &seller, m) != NGX_OK) {
            call->status = NGX_MICROSHOP_REDIS_CLOSED;
            break;
        }

        rc = ngx_microshop_rstore_sellers_send(call, &seller);

        if (rc != NGX_OK) {
            call->status = NGX_MICROSHOP_REDIS_CLOSED;
            break;
        }
    }

    if (call->waiting == 0) {
        ngx_microshop_rstore_sellers_end(call);
    }
}


static void
ngx_microshop_rstore_seller_done(ngx_microshop_rstore_call_t *call,
    ngx_str_t *seller, ngx_uint_t status, redisReply *reply)
{
    int64_t                done, left;
    ngx_microshop_zone_t  *zone;

    if (status != NGX_MICROSHOP_REDIS_REPLY
        || reply->type == REDIS_REPLY_ERROR)
    {
        call->status = NGX_MICROSHOP_REDIS_CLOSED;
        return;
    }

    zone = call->rs->store->local;

    switch (call->copy->type) {

    case NGX_MICROSHOP_OP_HOLD_LIST:
        if (ngx_microshop_rstore_reply_holds(call, seller, reply) != NGX_OK) {
            call->status = NGX_MICROSHOP_REDIS_CLOSED;
        }

        return;

    case NGX_MICROSHOP_OP_SETTLE:
        ngx_microshop_rstore_effects(call, reply);

        if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
            && ngx_microshop_rstore_int(reply->element[0], &done) == NGX_OK
            && done == 1)
        {
            /* the hold's seller, for a caller that did not know it */
            call->rc = NGX_OK;
            call->seller = *seller;
        }

        return;

    default: /* NGX_MICROSHOP_OP_SWEEP */
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
            || ngx_microshop_rstore_int(reply->element[0], &done) != NGX_OK
            || ngx_microshop_rstore_int(reply->element[1], &left) != NGX_OK)
        {
            call->status = NGX_MICROSHOP_REDIS_CLOSED;
            return;
        }

        if (done > 0) {
            ngx_microshop_zone_count(zone,
                                     NGX_MICROSHOP_COUNTER_RESERVE_PENDING,
                                     (ngx_atomic_int_t) done);
            ngx_microshop_zone_count(zone, NGX_MICROSHOP_COUNTER_HOLDS_PENDING,
                                     (ngx_atomic_int_t) done);
        }

        if (left == 0) {
            ngx_microshop_rstore_seller_gone(call->rs, seller);
        }

        return;
    }
}


/* every seller answered: the op is */

static void
ngx_microshop_rstore_sellers_end(ngx_microshop_rstore_call_t *call)
{
    u_char              *p;
    ngx_uint_t           status;
    ngx_microshop_op_t  *op;

    status = call->status ? call->status : NGX_MICROSHOP_REDIS_REPLY;

    op = ngx_microshop_rstore_call_op(call);

    if (op == NULL || call->rs->exiting) {
        ngx_microshop_rstore_finish(call, status);
        return;
    }

    switch (op->type) {

    case NGX_MICROSHOP_OP_HOLD_LIST:
        if (call->status
            || ngx_microshop_rstore_deliver_holds(call, op) != NGX_OK)
        {
            ngx_microshop_rstore_outage(call->rs, op);

        } else {
            op->rc = NGX_OK;
        }

        break;

    case NGX_MICROSHOP_OP_SETTLE:
        if (call->rc == NGX_OK || !call->status) {
            op->rc = call->rc;

            if (call->rc == NGX_OK && op->u.reserve.seller.len == 0
                && call->seller.len && op->pool)
            {
                /* the hold's seller; out of memory, only it is not told */
                p = ngx_pstrdup(op->pool, &call->seller);

                if (p) {
                    op->u.reserve.seller.data = p;
                    op->u.reserve.seller.len = call->seller.len;
                }
            }

        } else {
            ngx_microshop_rstore_outage(call->rs, op);
        }

        break;

    default:
        op->rc = NGX_OK;
    }

    ngx_microshop_rstore_finish(call, status);
}


/* a RESERVE held: its seller's holds are walked from now on */

void
ngx_microshop_rstore_sellers_add(ngx_microshop_rstore_store_t *rs,
    ngx_str_t *seller)
{
    ngx_microshop_rstore_args_t   a;
    ngx_microshop_rstore_call_t  *call;

    call = ngx_microshop_rstore_call_bare(rs, ngx_microshop_rstore_ignore);
    if (call == NULL) {
        return;
    }

    if (ngx_microshop_rstore_sellers_cmd(call, &a, "+", seller) != NGX_OK
        || ngx_microshop_rstore_send(call, &a) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "microshop redis: seller \"%V\" not added to "
                      "ms:sellers:holds", seller);
        ngx_destroy_pool(call->pool);
    }
}


/* a seller without holds leaves the set, then is looked at again */

static void
ngx_microshop_rstore_seller_gone(ngx_microshop_rstore_store_t *rs,
    ngx_str_t *seller)
{
    ngx_microshop_rstore_args_t   a;
    ngx_microshop_rstore_call_t  *call;

    call = ngx_microshop_rstore_call_bare(rs,
                                         ngx_microshop_rstore_seller_removed);
    if (call == NULL) {
        return;
    }

    call->seller.data = ngx_pnalloc(call->pool, seller->len + 1);
    if (call->seller.data == NULL) {
        ngx_destroy_pool(call->pool);
        return;
    }

    call->seller.len = seller->len;
    ngx_memcpy(call->seller.data, seller->data, seller->len);

    if (ngx_microshop_rstore_sellers_cmd(call, &a, "-", &call->seller)
        != NGX_OK
        || ngx_microshop_rstore_send(call, &a) != NGX_OK)
    {
        ngx_destroy_pool(call->pool);
    }
}


static void
ngx_microshop_rstore_seller_removed(ngx_microshop_rstore_call_t *call,
    ngx_uint_t status, redisReply *reply)
{
    ngx_microshop_op_t           op;
    ngx_microshop_rstore_args_t  a;

    if (status == NGX_MICROSHOP_REDIS_REPLY
        && reply->type != REDIS_REPLY_ERROR)
    {
        /* the second look: a sweep of the seller, which counts its holds */
        ngx_memzero(&op, sizeof(ngx_microshop_op_t));
        op.type = NGX_MICROSHOP_OP_SWEEP;

        call->step = ngx_microshop_rstore_seller_looked;

        if (ngx_microshop_rstore_cmd_seller(call->pool, &op, &call->seller,
                                           &a)
            == NGX_OK
            && ngx_microshop_rstore_send(call, &a) == NGX_OK)
        {
            return;
        }

        /* the seller is added back: the set may hold one too many */
        ngx_microshop_rstore_sellers_add(call->rs, &call->seller);
    }

    ngx_microshop_rstore_finish(call, status);
}


static void
ngx_microshop_rstore_seller_looked(ngx_microshop_rstore_call_t *call,
    ngx_uint_t status, redisReply *reply)
{
    int64_t                done, left;
    ngx_microshop_zone_t  *zone;

    zone = call->rs->store->local;

    if (status != NGX_MICROSHOP_REDIS_REPLY
        || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || ngx_microshop_rstore_int(reply->element[0], &done) != NGX_OK
        || ngx_microshop_rstore_int(reply->element[1], &left) != NGX_OK)
    {
        /* not known: added back */
        ngx_microshop_rstore_sellers_add(call->rs, &call->seller);
        ngx_microshop_rstore_finish(call, status);
        return;
    }

    if (done > 0) {
        ngx_microshop_zone_count(zone, NGX_MICROSHOP_COUNTER_RESERVE_PENDING,
                                 (ngx_atomic_int_t) done);
        ngx_microshop_zone_count(zone, NGX_MICROSHOP_COUNTER_HOLDS_PENDING,
                                 (ngx_atomic_int_t) done);
    }

    if (left > 0) {
        ngx_microshop_rstore_sellers_add(call->rs, &call->seller);
    }

    ngx_microshop_rstore_finish(call, status);
}


static void
ngx_microshop_rstore_ignore(ngx_microshop_rstore_call_t *call,
    ngx_uint_t status, redisReply *reply)
{
    ngx_microshop_rstore_finish(call, status);
}
