/*
 * ngx_microshop -- scope usage across nodes (pure logic):
 * microshop_usage_wire.h, the format in its header.
 *
 * The writer counts what it would write past the end, so the size of an
 * export is an export into no buffer.  The reader runs twice over an
 * export: once to check all of it, once to add it into the block; the
 * first finds every fault, so the second never stops half way.
 */

#include <string.h>

#include "microshop_usage_int.h"
#include "microshop_usage_wire.h"


#define MICROSHOP_USAGE_WIRE_MAGIC    "MSUW"
#define MICROSHOP_USAGE_WIRE_VERSION  1


typedef struct {
    uint8_t   *p;
    uint8_t   *end;
    size_t     len;      /* what was written, or would have been */
} microshop_usage_writer_t;


typedef struct {
    const uint8_t  *p;
    const uint8_t  *end;
    int             bad;
} microshop_usage_reader_t;


/* what an export names, while it is read */
typedef struct {
    uint16_t                  nnames;
    const uint8_t            *names[MICROSHOP_USAGE_SCOPES];
    uint8_t                   lens[MICROSHOP_USAGE_SCOPES];
    uint8_t                   nclasses;
    uint8_t                   nread;     /* classes read so far */
    microshop_usage_entry_t  *classes[MICROSHOP_USAGE_CLASSES];
} microshop_usage_wire_t;


static void microshop_usage_put(microshop_usage_writer_t *w, uint64_t v,
    int bytes);
static void microshop_usage_put_bytes(microshop_usage_writer_t *w,
    const void *p, size_t n);
static void microshop_usage_put_entry(microshop_usage_writer_t *w,
    const microshop_usage_entry_t *e);
static size_t microshop_usage_write(const microshop_usage_t *u,
    microshop_usage_writer_t *w);
static uint64_t microshop_usage_get(microshop_usage_reader_t *r, int bytes);
static const uint8_t *microshop_usage_get_bytes(microshop_usage_reader_t *r,
    size_t n);
static int microshop_usage_read(microshop_usage_t *u, const uint8_t *buf,
    size_t len, int apply);
static int microshop_usage_read_entry(microshop_usage_t *u,
    microshop_usage_reader_t *r, microshop_usage_wire_t *wire, int kind,
    int apply);
static void microshop_usage_add(microshop_usage_t *u,
    microshop_usage_entry_t *e, const microshop_usage_entry_t *from,
    const microshop_usage_wire_t *wire, const uint8_t *scopes);
static void microshop_usage_add_denials(microshop_usage_t *u, uint32_t i,
    uint32_t hour, uint32_t reason, uint32_t count);


#define MICROSHOP_USAGE_KIND_CLASS    0
#define MICROSHOP_USAGE_KIND_OTHERS   1
#define MICROSHOP_USAGE_KIND_SUBJECT  2


size_t
microshop_usage_export_size(const microshop_usage_t *u)
{
    microshop_usage_writer_t  w;

    w.p = NULL;
    w.end = NULL;
    w.len = 0;

    return microshop_usage_write(u, &w);
}


size_t
microshop_usage_export(const microshop_usage_t *u, uint8_t *buf, size_t size)
{
    size_t                    len;
    microshop_usage_writer_t  w;

    w.p = buf;
    w.end = buf + size;
    w.len = 0;

    len = microshop_usage_write(u, &w);

    return len <= size ? len : 0;
}


int
microshop_usage_merge(microshop_usage_t *u, const uint8_t *buf, size_t len)
{
    if (buf == NULL || microshop_usage_read(u, buf, len, 0) != 0) {
        return -1;
    }

    return microshop_usage_read(u, buf, len, 1);
}


/* writing */

static void
microshop_usage_put(microshop_usage_writer_t *w, uint64_t v, int bytes)
{
    int  i;

    for (i = 0; i < bytes; i++) {
        if (w->p && w->p < w->end) {
            *w->p++ = (uint8_t) (v >> (8 * i));
        }

        w->len++;
    }
}


static void
microshop_usage_put_bytes(microshop_usage_writer_t *w, const void *p,
    size_t n)
{
    if (w->p && (size_t) (w->end - w->p) >= n) {
        memcpy(w->p, p, n);
        w->p += n;

    } else {
        w->p = w->end;
    }

    w->len += n;
}


static void
microshop_usage_put_entry(microshop_usage_writer_t *w,
    const microshop_usage_entry_t *e)
{
    uint32_t  i;

    microshop_usage_put(w, e->has, 1);
    microshop_usage_put(w, e->sub_len, 1);
    microshop_usage_put(w, e->seller_len, 1);
    microshop_usage_put(w, e->class_len, 1);
    microshop_usage_put(w, e->lost ? 1 : 0, 1);
    microshop_usage_put(w, e->nscopes, 1);
    microshop_usage_put(w, e->count, 8);
    microshop_usage_put(w, e->requests, 8);
    microshop_usage_put(w, e->first_seen, 4);
    microshop_usage_put(w, e->last_used, 4);
    microshop_usage_put_bytes(w, e->name, (size_t) e->sub_len
                                          + e->seller_len + e->class_len);

    for (i = 0; i < e->nscopes; i++) {
        microshop_usage_put(w, e->scopes[i].scope, 2);
        microshop_usage_put(w, e->scopes[i].granted, 4);
        microshop_usage_put(w, e->scopes[i].exercised, 4);
    }
}


static size_t
microshop_usage_write(const microshop_usage_t *u, microshop_usage_writer_t *w)
{
    uint32_t   i, h, k, n, *stamps, *counts, *c;

    microshop_usage_put_bytes(w, MICROSHOP_USAGE_WIRE_MAGIC, 4);
    microshop_usage_put(w, MICROSHOP_USAGE_WIRE_VERSION, 1);
    microshop_usage_put_bytes(w, u->id, MICROSHOP_USAGE_ID_LEN);
    microshop_usage_put(w, u->conf.reasons, 4);
    microshop_usage_put(w, u->folded, 8);
    microshop_usage_put(w, u->classes_folded, 8);
    microshop_usage_put(w, u->scopes_lost, 8);

    microshop_usage_put(w, u->nscopes, 2);

    for (i = 0; i < u->nscopes; i++) {
        microshop_usage_put(w, u->names[i].len, 1);
        microshop_usage_put_bytes(w, u->names[i].name, u->names[i].len);
    }

    microshop_usage_put(w, u->nclasses, 1);

    for (i = 0; i < u->nclasses; i++) {
        microshop_usage_put_entry(w, &u->classes[i]);
    }

    microshop_usage_put_entry(w, &u->others);

    microshop_usage_put(w, u->nsubjects, 4);

    for (i = 0; i < u->nsubjects; i++) {
        microshop_usage_put_entry(w, &microshop_usage_subjects(u)[i]);
    }

    stamps = microshop_usage_stamps(u);
    counts = microshop_usage_counts(u);

    /* the denials: counted first, then written */
    for (n = 0, i = 0; i < u->nclasses; i++) {
        for (h = 0; h < u->conf.hours; h++) {
            c = counts + ((size_t) i * u->conf.hours + h) * u->conf.reasons;

            for (k = 0; stamps[(size_t) i * u->conf.hours + h] && k
                        < u->conf.reasons; k++)
            {
                n += (c[k] != 0);
            }
        }
    }

    microshop_usage_put(w, n, 4);

    for (i = 0; i < u->nclasses; i++) {
        for (h = 0; h < u->conf.hours; h++) {
            c = counts + ((size_t) i * u->conf.hours + h) * u->conf.reasons;

            for (k = 0; stamps[(size_t) i * u->conf.hours + h] && k
                        < u->conf.reasons; k++)
            {
                if (c[k] == 0) {
                    continue;
                }

                microshop_usage_put(w, i, 1);
                microshop_usage_put(w, stamps[(size_t) i * u->conf.hours + h],
                                    4);
                microshop_usage_put(w, k, 1);
                microshop_usage_put(w, c[k], 4);
            }
        }
    }

    return w->len;
}


/* reading */

static uint64_t
microshop_usage_get(microshop_usage_reader_t *r, int bytes)
{
    int       i;
    uint64_t  v;

    if (r->bad || r->end - r->p < bytes) {
        r->bad = 1;
        return 0;
    }

    for (v = 0, i = 0; i < bytes; i++) {
        v |= (uint64_t) r->p[i] << (8 * i);
    }

    r->p += bytes;

    return v;
}


static const uint8_t *
microshop_usage_get_bytes(microshop_usage_reader_t *r, size_t n)
{
    const uint8_t  *p;

    if (r->bad || (size_t) (r->end - r->p) < n) {
        r->bad = 1;
        return NULL;
    }

    p = r->p;
    r->p += n;

    return p;
}


static int
microshop_usage_read(microshop_usage_t *u, const uint8_t *buf, size_t len,
    int apply)
{
    uint32_t                  i, n, reasons, cls, hour, reason, count;
    uint64_t                  folded, classes_folded, scopes_lost;
    const uint8_t            *magic;
    microshop_usage_reader_t  r;
    microshop_usage_wire_t    wire;

    r.p = buf;
    r.end = buf + len;
    r.bad = 0;

    magic = microshop_usage_get_bytes(&r, 4);

    if (magic == NULL || memcmp(magic, MICROSHOP_USAGE_WIRE_MAGIC, 4) != 0
        || microshop_usage_get(&r, 1) != MICROSHOP_USAGE_WIRE_VERSION)
    {
        return -1;
    }

    (void) microshop_usage_get_bytes(&r, MICROSHOP_USAGE_ID_LEN);
    reasons = (uint32_t) microshop_usage_get(&r, 4);
    folded = microshop_usage_get(&r, 8);
    classes_folded = microshop_usage_get(&r, 8);
    scopes_lost = microshop_usage_get(&r, 8);

    if (reasons > MICROSHOP_USAGE_REASONS_MAX) {
        return -1;
    }

    wire.nnames = (uint16_t) microshop_usage_get(&r, 2);

    if (wire.nnames > MICROSHOP_USAGE_SCOPES) {
        return -1;
    }

    for (i = 0; i < wire.nnames; i++) {
        wire.lens[i] = (uint8_t) microshop_usage_get(&r, 1);

        if (wire.lens[i] == 0 || wire.lens[i] > MICROSHOP_USAGE_SCOPE_LEN) {
            return -1;
        }

        wire.names[i] = microshop_usage_get_bytes(&r, wire.lens[i]);
    }

    wire.nclasses = (uint8_t) microshop_usage_get(&r, 1);
    wire.nread = 0;

    if (r.bad || wire.nclasses > MICROSHOP_USAGE_CLASSES) {
        return -1;
    }

    for (i = 0; i < wire.nclasses; i++) {
        wire.classes[i] = NULL;

        if (microshop_usage_read_entry(u, &r, &wire, MICROSHOP_USAGE_KIND_CLASS,
                                       apply) != 0)
        {
            return -1;
        }
    }

    if (microshop_usage_read_entry(u, &r, &wire, MICROSHOP_USAGE_KIND_OTHERS,
                                   apply) != 0)
    {
        return -1;
    }

    n = (uint32_t) microshop_usage_get(&r, 4);

    if (r.bad || n > MICROSHOP_USAGE_SUBJECTS_MAX) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        if (microshop_usage_read_entry(u, &r, &wire,
                                       MICROSHOP_USAGE_KIND_SUBJECT, apply)
            != 0)
        {
            return -1;
        }
    }

    n = (uint32_t) microshop_usage_get(&r, 4);

    /* each record is 10 bytes: no count larger than what is left */
    if (r.bad || (size_t) (r.end - r.p) != (size_t) n * 10) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        cls = (uint32_t) microshop_usage_get(&r, 1);
        hour = (uint32_t) microshop_usage_get(&r, 4);
        reason = (uint32_t) microshop_usage_get(&r, 1);
        count = (uint32_t) microshop_usage_get(&r, 4);

        if (cls >= wire.nclasses || reason >= reasons) {
            return -1;
        }

        if (apply && wire.classes[cls]) {
            microshop_usage_add_denials(u,
                                 (uint32_t) (wire.classes[cls] - u->classes),
                                 hour, reason, count);
        }
    }

    if (r.bad || r.p != r.end) {
        return -1;
    }

    if (apply) {
        u->folded += folded;
        u->classes_folded += classes_folded;
        u->scopes_lost += scopes_lost;
    }

    return 0;
}


static int
microshop_usage_read_entry(microshop_usage_t *u, microshop_usage_reader_t *r,
    microshop_usage_wire_t *wire, int kind, int apply)
{
    uint32_t                  i, names;
    const uint8_t            *name, *scopes;
    microshop_usage_entry_t   from, *e;
    microshop_usage_note_t    n;

    memset(&from, 0, sizeof(microshop_usage_entry_t));

    from.has = (uint8_t) microshop_usage_get(r, 1);
    from.sub_len = (uint8_t) microshop_usage_get(r, 1);
    from.seller_len = (uint8_t) microshop_usage_get(r, 1);
    from.class_len = (uint8_t) microshop_usage_get(r, 1);
    from.lost = (uint8_t) microshop_usage_get(r, 1);
    from.nscopes = (uint8_t) microshop_usage_get(r, 1);
    from.count = microshop_usage_get(r, 8);
    from.requests = microshop_usage_get(r, 8);
    from.first_seen = (uint32_t) microshop_usage_get(r, 4);
    from.last_used = (uint32_t) microshop_usage_get(r, 4);

    names = (uint32_t) from.sub_len + from.seller_len + from.class_len;

    if (r->bad
        || (from.has & ~(MICROSHOP_USAGE_HAS_SUB | MICROSHOP_USAGE_HAS_SELLER
                         | MICROSHOP_USAGE_HAS_CLASS))
        || names > MICROSHOP_USAGE_NAME_MAX
        || (!(from.has & MICROSHOP_USAGE_HAS_SUB) && from.sub_len)
        || (!(from.has & MICROSHOP_USAGE_HAS_SELLER) && from.seller_len)
        || (!(from.has & MICROSHOP_USAGE_HAS_CLASS) && from.class_len)
        || (kind != MICROSHOP_USAGE_KIND_SUBJECT
            && (from.has & (MICROSHOP_USAGE_HAS_SUB
                            | MICROSHOP_USAGE_HAS_SELLER)))
        || from.nscopes > MICROSHOP_USAGE_ENTRY_SCOPES)
    {
        return -1;
    }

    name = microshop_usage_get_bytes(r, names);
    scopes = microshop_usage_get_bytes(r, (size_t) from.nscopes * 10);

    if (name == NULL || scopes == NULL) {
        return -1;
    }

    memcpy(from.name, name, names);

    for (i = 0; i < from.nscopes; i++) {
        if ((uint32_t) (scopes[10 * i] | scopes[10 * i + 1] << 8)
            >= wire->nnames)
        {
            return -1;
        }
    }

    if (!apply) {
        return 0;
    }

    /* the entry's names as a note: found or made as a request's are */
    memset(&n, 0, sizeof(microshop_usage_note_t));
    n.now = from.first_seen;

    if (from.has & MICROSHOP_USAGE_HAS_SUB) {
        n.sub = (const char *) from.name;
        n.sub_len = from.sub_len;
    }

    if (from.has & MICROSHOP_USAGE_HAS_SELLER) {
        n.seller = (const char *) from.name + from.sub_len;
        n.seller_len = from.seller_len;
    }

    if (from.has & MICROSHOP_USAGE_HAS_CLASS) {
        n.cls = (const char *) from.name + from.sub_len + from.seller_len;
        n.cls_len = from.class_len;
    }

    switch (kind) {

    case MICROSHOP_USAGE_KIND_CLASS:
        /* the classless entry: requests without a verified token */
        n.verified = (from.has & MICROSHOP_USAGE_HAS_CLASS) ? 1 : 0;

        e = microshop_usage_class_entry(u, &n);
        wire->classes[wire->nread++] = e;

        if (e == NULL) {
            u->classes_folded += from.requests;
            return 0;
        }

        break;

    case MICROSHOP_USAGE_KIND_OTHERS:
        e = &u->others;
        break;

    default:
        n.verified = 1;
        e = microshop_usage_subject_entry(u, &n);
        break;
    }

    microshop_usage_add(u, e, &from, wire, scopes);

    return 0;
}


/* what another node's entry had, added into one of u */

static void
microshop_usage_add(microshop_usage_t *u, microshop_usage_entry_t *e,
    const microshop_usage_entry_t *from, const microshop_usage_wire_t *wire,
    const uint8_t *scopes)
{
    int             scope;
    uint32_t        i, k, granted, exercised;
    const uint8_t  *p;

    e->count += from->count;
    e->requests += from->requests;

    if (from->first_seen
        && (e->first_seen == 0 || from->first_seen < e->first_seen))
    {
        e->first_seen = from->first_seen;
    }

    if (from->last_used > e->last_used) {
        e->last_used = from->last_used;
    }

    if (from->lost) {
        e->lost = 1;
    }

    for (i = 0; i < from->nscopes; i++) {
        p = scopes + 10 * i;
        k = (uint32_t) (p[0] | p[1] << 8);
        granted = (uint32_t) p[2] | (uint32_t) p[3] << 8
                  | (uint32_t) p[4] << 16 | (uint32_t) p[5] << 24;
        exercised = (uint32_t) p[6] | (uint32_t) p[7] << 8
                    | (uint32_t) p[8] << 16 | (uint32_t) p[9] << 24;

        /* matched by name: the nodes number their names each their way */
        scope = microshop_usage_scope(u, (const char *) wire->names[k],
                                      wire->lens[k], 1);

        microshop_usage_touch(u, e, scope, granted, exercised);
    }
}


/* denials of class i in an hour: added to its slot of the ring unless the
 * slot holds a later hour */

static void
microshop_usage_add_denials(microshop_usage_t *u, uint32_t i, uint32_t hour,
    uint32_t reason, uint32_t count)
{
    uint32_t  slot, *stamp, *counts;

    if (reason >= u->conf.reasons || hour == 0) {
        return;
    }

    slot = hour % u->conf.hours;
    stamp = microshop_usage_stamps(u) + (size_t) i * u->conf.hours + slot;
    counts = microshop_usage_counts(u)
             + ((size_t) i * u->conf.hours + slot) * u->conf.reasons;

    if (*stamp > hour) {
        return;
    }

    if (*stamp != hour) {
        memset(counts, 0, sizeof(uint32_t) * u->conf.reasons);
        *stamp = hour;
    }

    counts[reason] += count;
}
