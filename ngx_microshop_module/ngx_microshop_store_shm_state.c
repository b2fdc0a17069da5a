/*
 * ngx_microshop: what the embedded store keeps across a restart
 * (docs/events.md "Across a restart"): the feeds and the offline orders,
 * written to microshop_events_out state=FILE by the master as nginx stops
 * and read back by the next master as it starts, before any worker runs.
 *
 * The file is JSON, a line per record, oldest event first:
 *
 *   {"event":{"seller":"s1","id":"1796..-0","type":"order.pending","data":{}}}
 *   {"order":{"id":"..","seller":"s1","created":ms,"deadline":ms,
 *             "lines":[{"sku":"A1","quantity":1}]}}
 *
 * Once read, the file is renamed FILE.loaded: a master that dies without
 * writing it again (a crash, kill -9) never brings back orders that were
 * settled since.  With microshop_redis there is nothing to do: Redis
 * keeps them.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <jansson.h>

#include "ngx_microshop_store.h"
#include "ngx_microshop_store_shm.h"


#define NGX_MICROSHOP_STATE_LINE_MAX  (1024 * 1024)


typedef struct {
    FILE                        *f;
    ngx_uint_t                   n;
} ngx_microshop_state_t;


static ngx_int_t ngx_microshop_state_event(void *data, ngx_str_t *seller,
    ngx_microshop_feed_event_t *ev);
static ngx_int_t ngx_microshop_state_events(ngx_microshop_store_t *store,
    FILE *f, ngx_uint_t *n);
static ngx_int_t ngx_microshop_state_orders(ngx_microshop_store_t *store,
    ngx_pool_t *pool, FILE *f, ngx_uint_t *n);
static ngx_int_t ngx_microshop_state_line(ngx_microshop_store_t *store,
    ngx_pool_t *pool, json_t *doc, ngx_uint_t *events, ngx_uint_t *orders);
static ngx_int_t ngx_microshop_state_put(FILE *f, json_t *doc);


void
ngx_microshop_store_state_save(ngx_cycle_t *cycle,
    ngx_microshop_store_t *store, ngx_str_t *path)
{
    FILE        *f;
    u_char      *tmp;
    ngx_uint_t   events, orders;
    ngx_pool_t  *pool;

    if (store->redis || store->feed == NULL || path->len == 0) {
        return;
    }

    pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, cycle->log);
    if (pool == NULL) {
        return;
    }

    tmp = ngx_pnalloc(pool, path->len + sizeof(".tmp"));
    if (tmp == NULL) {
        ngx_destroy_pool(pool);
        return;
    }

    (void) ngx_sprintf(tmp, "%V.tmp%Z", path);

    f = fopen((char *) tmp, "w");
    if (f == NULL) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno,
                      "microshop: the feeds and offline orders could not "
                      "be saved: fopen(\"%s\") failed", tmp);
        ngx_destroy_pool(pool);
        return;
    }

    events = 0;
    orders = 0;

    if (ngx_microshop_state_events(store, f, &events) != NGX_OK
        || ngx_microshop_state_orders(store, pool, f, &orders) != NGX_OK
        || fflush(f) != 0 || fsync(fileno(f)) != 0)
    {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno,
                      "microshop: the feeds and offline orders could not "
                      "be saved to \"%s\"", tmp);
        (void) fclose(f);
        ngx_destroy_pool(pool);
        return;
    }

    if (fclose(f) != 0 || ngx_rename_file(tmp, path->data) == -1) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno,
                      "microshop: the feeds and offline orders could not "
                      "be saved to \"%V\"", path);
        ngx_destroy_pool(pool);
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                  "microshop: %ui events and %ui offline orders saved to "
                  "\"%V\"", events, orders, path);

    ngx_destroy_pool(pool);
}


/* every event of every feed, the zone's oldest first */

static ngx_int_t
ngx_microshop_state_event(void *data, ngx_str_t *seller,
    ngx_microshop_feed_event_t *ev)
{
    ngx_microshop_state_t *st = data;

    char          idbuf[MICROSHOP_EVENT_ID_LEN];
    json_t       *doc, *d;
    const char   *name;
    json_error_t  err;

    (void) microshop_event_id_format(&ev->id, idbuf);
    name = microshop_event_type_name(ev->type);

    d = json_loadb((char *) ev->data.data, ev->data.len, 0, &err);

    if (name == NULL || d == NULL) {
        json_decref(d);
        return NGX_OK;
    }

    /* json_pack() releases d when it fails: a seller not UTF-8 */
    doc = json_pack("{s:{s:s%,s:s,s:s,s:o}}", "event",
                    "seller", (char *) seller->data, seller->len,
                    "id", idbuf, "type", name, "data", d);
    if (doc == NULL) {
        return NGX_OK;
    }

    st->n++;

    return ngx_microshop_state_put(st->f, doc);
}


static ngx_int_t
ngx_microshop_state_events(ngx_microshop_store_t *store, FILE *f,
    ngx_uint_t *n)
{
    ngx_int_t              rc;
    ngx_microshop_state_t  st;

    st.f = f;
    st.n = 0;

    rc = ngx_microshop_shm_feed_each(store, ngx_microshop_state_event, &st);

    *n = st.n;

    return rc;
}


/* every offline order, oldest first */

static ngx_int_t
ngx_microshop_state_orders(ngx_microshop_store_t *store, ngx_pool_t *pool,
    FILE *f, ngx_uint_t *n)
{
    json_t                *doc, *lines;
    ngx_uint_t             i, k;
    ngx_microshop_op_t     op;
    ngx_microshop_hold_t  *h;

    ngx_memzero(&op, sizeof(ngx_microshop_op_t));
    op.type = NGX_MICROSHOP_OP_HOLD_LIST;
    op.pool = pool;
    op.u.reserve.all = 1;
    op.u.reserve.limit = (ngx_uint_t) -1;

    ngx_microshop_zone_lock(store->local);
    op.rc = ngx_microshop_shm_hold_list(store->local, &op,
                                        ngx_microshop_now_ms());
    ngx_microshop_zone_unlock(store->local);

    if (op.rc != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0; i < op.u.reserve.nholds; i++) {
        h = &op.u.reserve.holds[i];

        if (h->why != NGX_MICROSHOP_WHY_OFFLINE) {
            continue;
        }

        lines = json_array();

        for (k = 0; lines && k < h->nlines; k++) {
            (void) json_array_append_new(lines,
                       json_pack("{s:s%,s:I}", "sku",
                                 (char *) h->lines[k].sku.data,
                                 h->lines[k].sku.len,
                                 "quantity",
                                 (json_int_t) h->lines[k].quantity));
        }

        doc = lines ? json_pack("{s:{s:s%,s:s%,s:I,s:I,s:o}}", "order",
                                "id", (char *) h->id.data, h->id.len,
                                "seller", (char *) h->seller.data,
                                h->seller.len,
                                "created", (json_int_t) h->created,
                                "deadline", (json_int_t) h->deadline,
                                "lines", lines)
                    : NULL;

        if (doc == NULL) {
            continue;
        }

        if (ngx_microshop_state_put(f, doc) != NGX_OK) {
            return NGX_ERROR;
        }

        (*n)++;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_state_put(FILE *f, json_t *doc)
{
    int  rc;

    rc = json_dumpf(doc, f, JSON_COMPACT);
    json_decref(doc);

    if (rc != 0 || fputc('\n', f) == EOF) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_microshop_store_state_load(ngx_cycle_t *cycle,
    ngx_microshop_store_t *store, ngx_str_t *path)
{
    FILE          *f;
    char          *line;
    u_char        *loaded;
    size_t         cap;
    json_t        *doc;
    ssize_t        len;
    ngx_uint_t     events, orders, bad, no;
    ngx_pool_t    *pool;
    json_error_t   err;

    if (store->redis || store->feed == NULL || path->len == 0) {
        return NGX_OK;
    }

    f = fopen((char *) path->data, "r");
    if (f == NULL) {
        if (ngx_errno != NGX_ENOENT) {
            ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno,
                          "microshop: fopen(\"%V\") failed: the feeds and "
                          "offline orders of the last run are not read",
                          path);
        }

        return NGX_OK;
    }

    pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, cycle->log);
    if (pool == NULL) {
        (void) fclose(f);
        return NGX_ERROR;
    }

    line = NULL;
    cap = 0;
    events = 0;
    orders = 0;
    bad = 0;
    no = 0;

    while ((len = getline(&line, &cap, f)) != -1) {
        no++;

        if (len == 0 || line[0] == '\n') {
            continue;
        }

        doc = (len <= NGX_MICROSHOP_STATE_LINE_MAX)
              ? json_loadb(line, len, 0, &err) : NULL;

        if (doc == NULL
            || ngx_microshop_state_line(store, pool, doc, &events, &orders)
               != NGX_OK)
        {
            bad++;
            ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                          "microshop: line %ui of \"%V\" is not a record "
                          "it can read back; skipped", no, path);
        }

        json_decref(doc);
        ngx_reset_pool(pool);
    }

    free(line);
    (void) fclose(f);
    ngx_destroy_pool(pool);

    ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                  "microshop: %ui events and %ui offline orders read back "
                  "from \"%V\"%s", events, orders, path,
                  bad ? ", some lines skipped" : "");

    /* read once: a run that ends without writing it never replays it */

    loaded = ngx_alloc(path->len + sizeof(".loaded"), cycle->log);
    if (loaded == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_sprintf(loaded, "%V.loaded%Z", path);

    if (ngx_rename_file(path->data, loaded) == -1) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno,
                      "microshop: rename(\"%V\", \"%s\") failed", path,
                      loaded);
    }

    ngx_free(loaded);

    return NGX_OK;
}


static ngx_int_t
ngx_microshop_state_line(ngx_microshop_store_t *store, ngx_pool_t *pool,
    json_t *doc, ngx_uint_t *events, ngx_uint_t *orders)
{
    int                          type;
    size_t                       id_len, type_len;
    json_t                      *o, *data, *lines, *line;
    ngx_int_t                    rc;
    ngx_str_t                    seller;
    ngx_uint_t                   i;
    const char                  *id, *tname;
    json_int_t                   created, deadline, quantity;
    ngx_microshop_hold_t         h;
    ngx_microshop_feed_event_t   ev;

    o = json_object_get(doc, "event");

    if (o) {
        data = NULL;

        if (json_unpack(o, "{s:s%,s:s%,s:s%,s:o}",
                        "seller", &seller.data, &seller.len,
                        "id", &id, &id_len, "type", &tname, &type_len,
                        "data", &data)
            != 0
            || !json_is_object(data)
            || microshop_event_id_parse(id, id_len, &ev.id) != 0
            || (type = microshop_event_type_find(tname, type_len)) < 0)
        {
            return NGX_ERROR;
        }

        ev.type = (ngx_uint_t) type;
        ev.data.data = (u_char *) json_dumps(data, JSON_COMPACT);

        if (ev.data.data == NULL) {
            return NGX_ERROR;
        }

        ev.data.len = ngx_strlen(ev.data.data);

        rc = ngx_microshop_shm_feed_restore(store, &seller, &ev,
                                            ngx_microshop_now_ms());
        free(ev.data.data);

        if (rc == NGX_OK) {
            (*events)++;
        }

        return (rc == NGX_ERROR) ? NGX_ERROR : NGX_OK;
    }

    o = json_object_get(doc, "order");

    lines = NULL;
    ngx_memzero(&h, sizeof(ngx_microshop_hold_t));

    if (o == NULL
        || json_unpack(o, "{s:s%,s:s%,s:I,s:I,s:o}",
                       "id", &h.id.data, &h.id.len,
                       "seller", &h.seller.data, &h.seller.len,
                       "created", &created, "deadline", &deadline,
                       "lines", &lines)
           != 0
        || !json_is_array(lines) || json_array_size(lines) == 0
        || h.id.len == 0)
    {
        return NGX_ERROR;
    }

    h.nlines = json_array_size(lines);
    h.lines = ngx_pcalloc(pool, h.nlines * sizeof(ngx_microshop_line_t));
    if (h.lines == NULL) {
        return NGX_ERROR;
    }

    json_array_foreach(lines, i, line) {
        if (json_unpack(line, "{s:s%,s:I}", "sku", &h.lines[i].sku.data,
                        &h.lines[i].sku.len, "quantity", &quantity)
            != 0
            || quantity < 1 || h.lines[i].sku.len == 0)
        {
            return NGX_ERROR;
        }

        h.lines[i].quantity = quantity;
    }

    h.created = created;
    h.deadline = deadline;

    ngx_microshop_zone_lock(store->local);
    rc = ngx_microshop_shm_hold_restore(store->local, &h,
                                        ngx_microshop_now_ms());
    ngx_microshop_zone_unlock(store->local);

    if (rc == NGX_OK) {
        (*orders)++;
    }

    return (rc == NGX_ERROR) ? NGX_ERROR : NGX_OK;
}
