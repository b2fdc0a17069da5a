/*
 * ngx_microshop -- scope usage (pure logic): microshop_usage.h.
 *
 * The block: a head, the scope names and their hash, the classes, the
 * "others" entry, then (sized by the configuration) the subjects' hash
 * heads, the subjects, and the classes' rings of denials per hour.
 */

#include <string.h>

#include "microshop_usage_int.h"


static uint32_t microshop_usage_buckets(uint32_t subjects);
static uint32_t microshop_usage_hash(const uint8_t *p, size_t len,
    uint32_t h);
static int microshop_usage_name(microshop_usage_entry_t *e,
    const microshop_usage_note_t *n, int with_sub);
static void microshop_usage_unlink(microshop_usage_t *u,
    microshop_usage_entry_t *e);
static void microshop_usage_fold(microshop_usage_t *u,
    const microshop_usage_entry_t *e);
static void microshop_usage_deny(microshop_usage_t *u, uint32_t i,
    uint32_t reason, uint32_t now);
static void microshop_usage_scopes(microshop_usage_t *u,
    microshop_usage_entry_t *c, microshop_usage_entry_t *s,
    const microshop_usage_note_t *n);


size_t
microshop_usage_size(const microshop_usage_conf_t *conf)
{
    size_t  size;

    if (conf->subjects == 0 || conf->subjects > MICROSHOP_USAGE_SUBJECTS_MAX
        || conf->hours == 0 || conf->hours > MICROSHOP_USAGE_HOURS_MAX
        || conf->reasons == 0 || conf->reasons > MICROSHOP_USAGE_REASONS_MAX)
    {
        return 0;
    }

    size = sizeof(microshop_usage_t);
    size += sizeof(int32_t) * microshop_usage_buckets(conf->subjects);
    size += sizeof(microshop_usage_entry_t) * conf->subjects;
    size += sizeof(uint32_t) * MICROSHOP_USAGE_CLASSES * conf->hours
            * (1 + conf->reasons);

    return size;
}


void
microshop_usage_init(microshop_usage_t *u, const microshop_usage_conf_t *conf)
{
    uint32_t  i;
    int32_t  *heads;

    memset(u, 0, microshop_usage_size(conf));

    u->magic = MICROSHOP_USAGE_MAGIC;
    u->version = MICROSHOP_USAGE_VERSION;
    u->conf = *conf;
    u->buckets = microshop_usage_buckets(conf->subjects);

    heads = microshop_usage_heads(u);

    for (i = 0; i < u->buckets; i++) {
        heads[i] = -1;
    }
}


int
microshop_usage_same(const microshop_usage_t *u,
    const microshop_usage_conf_t *conf)
{
    return u->magic == MICROSHOP_USAGE_MAGIC
           && u->version == MICROSHOP_USAGE_VERSION
           && u->conf.subjects == conf->subjects
           && u->conf.hours == conf->hours
           && u->conf.reasons == conf->reasons;
}


void
microshop_usage_set_id(microshop_usage_t *u,
    const uint8_t id[MICROSHOP_USAGE_ID_LEN])
{
    memcpy(u->id, id, MICROSHOP_USAGE_ID_LEN);
}


const uint8_t *
microshop_usage_id(const microshop_usage_t *u)
{
    return u->id;
}


int
microshop_usage_scope_add(microshop_usage_t *u, const char *name, size_t len)
{
    return microshop_usage_scope(u, name, len, 1);
}


void
microshop_usage_note(microshop_usage_t *u, const microshop_usage_note_t *n)
{
    microshop_usage_entry_t  *c, *s;

    c = microshop_usage_class_entry(u, n);

    if (c) {
        c->count++;
        c->requests++;
        c->last_used = n->now;

        if (n->denied && n->reason < u->conf.reasons) {
            microshop_usage_deny(u, (uint32_t) (c - u->classes), n->reason,
                                 n->now);
        }

    } else {
        u->classes_folded++;
    }

    if (!n->verified) {
        /* no verified token: nothing was granted */
        return;
    }

    s = microshop_usage_subject_entry(u, n);

    s->count++;
    s->requests++;
    s->last_used = n->now;

    microshop_usage_scopes(u, c, s, n);
}


uint32_t
microshop_usage_nclasses(const microshop_usage_t *u)
{
    return u->nclasses;
}


const microshop_usage_entry_t *
microshop_usage_class(const microshop_usage_t *u, uint32_t i)
{
    return i < u->nclasses ? &u->classes[i] : NULL;
}


uint32_t
microshop_usage_nsubjects(const microshop_usage_t *u)
{
    return u->nsubjects;
}


const microshop_usage_entry_t *
microshop_usage_subject(const microshop_usage_t *u, uint32_t i)
{
    return i < u->nsubjects ? &microshop_usage_subjects(u)[i] : NULL;
}


const microshop_usage_entry_t *
microshop_usage_others(const microshop_usage_t *u)
{
    return &u->others;
}


uint64_t
microshop_usage_folded(const microshop_usage_t *u)
{
    return u->folded;
}


uint64_t
microshop_usage_classes_folded(const microshop_usage_t *u)
{
    return u->classes_folded;
}


uint64_t
microshop_usage_scopes_lost(const microshop_usage_t *u)
{
    return u->scopes_lost;
}


const char *
microshop_usage_scope_name(const microshop_usage_t *u, uint32_t scope,
    size_t *len)
{
    if (scope >= u->nscopes) {
        *len = 0;
        return NULL;
    }

    *len = u->names[scope].len;
    return u->names[scope].name;
}


uint64_t
microshop_usage_denials(const microshop_usage_t *u, uint32_t i,
    uint32_t reason, uint32_t since, uint32_t now)
{
    uint32_t   h, hour, stamp, *stamps, *counts;
    uint64_t   n;

    if (i >= u->nclasses || reason >= u->conf.reasons) {
        return 0;
    }

    stamps = microshop_usage_stamps(u) + (size_t) i * u->conf.hours;
    counts = microshop_usage_counts(u)
             + (size_t) i * u->conf.hours * u->conf.reasons;
    hour = now / 3600;
    n = 0;

    for (h = 0; h < u->conf.hours; h++) {
        stamp = stamps[h];

        if (stamp >= since && stamp <= hour
            && hour - stamp < u->conf.hours)
        {
            n += counts[(size_t) h * u->conf.reasons + reason];
        }
    }

    return n;
}


const char *
microshop_usage_entry_sub(const microshop_usage_entry_t *e, size_t *len)
{
    *len = e->sub_len;
    return (e->has & MICROSHOP_USAGE_HAS_SUB) ? (const char *) e->name : NULL;
}


const char *
microshop_usage_entry_seller(const microshop_usage_entry_t *e, size_t *len)
{
    *len = e->seller_len;
    return (e->has & MICROSHOP_USAGE_HAS_SELLER)
           ? (const char *) e->name + e->sub_len : NULL;
}


const char *
microshop_usage_entry_class(const microshop_usage_entry_t *e, size_t *len)
{
    *len = e->class_len;
    return (e->has & MICROSHOP_USAGE_HAS_CLASS)
           ? (const char *) e->name + e->sub_len + e->seller_len : NULL;
}


static uint32_t
microshop_usage_buckets(uint32_t subjects)
{
    uint32_t  b;

    for (b = 2; b < 2 * subjects; b <<= 1) { /* void */ }

    return b;
}


int32_t *
microshop_usage_heads(const microshop_usage_t *u)
{
    return (int32_t *) ((uint8_t *) u + sizeof(microshop_usage_t));
}


microshop_usage_entry_t *
microshop_usage_subjects(const microshop_usage_t *u)
{
    return (microshop_usage_entry_t *) (microshop_usage_heads(u)
                                        + u->buckets);
}


uint32_t *
microshop_usage_stamps(const microshop_usage_t *u)
{
    return (uint32_t *) (microshop_usage_subjects(u) + u->conf.subjects);
}


uint32_t *
microshop_usage_counts(const microshop_usage_t *u)
{
    return microshop_usage_stamps(u)
           + (size_t) MICROSHOP_USAGE_CLASSES * u->conf.hours;
}


/* FNV-1a */

static uint32_t
microshop_usage_hash(const uint8_t *p, size_t len, uint32_t h)
{
    while (len--) {
        h ^= *p++;
        h *= 16777619u;
    }

    return h;
}


/* the index of a scope's name, -1: unknown and not added (or no room) */

int
microshop_usage_scope(microshop_usage_t *u, const char *name, size_t len,
    int add)
{
    uint32_t                 h, i, k;
    microshop_usage_name_t  *nm;

    if (len == 0 || len > MICROSHOP_USAGE_SCOPE_LEN) {
        return -1;
    }

    h = microshop_usage_hash((const uint8_t *) name, len, 2166136261u);

    for (k = 0; k < MICROSHOP_USAGE_HASH; k++) {
        i = (h + k) % MICROSHOP_USAGE_HASH;

        if (u->scope_hash[i] == 0) {
            if (!add || u->nscopes == MICROSHOP_USAGE_SCOPES) {
                return -1;
            }

            nm = &u->names[u->nscopes];
            nm->len = (uint8_t) len;
            memcpy(nm->name, name, len);

            u->scope_hash[i] = (uint16_t) (u->nscopes + 1);

            return (int) u->nscopes++;
        }

        nm = &u->names[u->scope_hash[i] - 1];

        if (nm->len == len && memcmp(nm->name, name, len) == 0) {
            return u->scope_hash[i] - 1;
        }
    }

    return -1;
}


/* a scope of an entry granted or exercised at these times (0: not) */

void
microshop_usage_touch(microshop_usage_t *u, microshop_usage_entry_t *e,
    int scope, uint32_t granted, uint32_t exercised)
{
    uint32_t                  i;
    microshop_usage_scope_t  *sc;

    if (scope < 0) {
        if (!e->lost) {
            e->lost = 1;
        }

        u->scopes_lost++;
        return;
    }

    for (i = 0; i < e->nscopes; i++) {
        if (e->scopes[i].scope == scope) {
            break;
        }
    }

    if (i == e->nscopes) {
        if (e->nscopes == MICROSHOP_USAGE_ENTRY_SCOPES) {
            e->lost = 1;
            u->scopes_lost++;
            return;
        }

        e->nscopes++;
        sc = &e->scopes[i];
        sc->scope = (uint16_t) scope;
        sc->granted = 0;
        sc->exercised = 0;
    }

    sc = &e->scopes[i];

    if (granted > sc->granted) {
        sc->granted = granted;
    }

    if (exercised > sc->exercised) {
        sc->exercised = exercised;
    }
}


/* the names of an entry: the class only, or sub, seller and class; 0 when
 * they do not fit */

static int
microshop_usage_name(microshop_usage_entry_t *e,
    const microshop_usage_note_t *n, int with_sub)
{
    size_t    sub, seller, cls;
    uint8_t  *p;

    sub = with_sub && n->sub ? n->sub_len : 0;
    seller = with_sub && n->seller ? n->seller_len : 0;
    cls = n->cls ? n->cls_len : 0;

    if (sub + seller + cls > MICROSHOP_USAGE_NAME_MAX) {
        return 0;
    }

    e->has = 0;
    p = e->name;

    if (with_sub && n->sub) {
        e->has |= MICROSHOP_USAGE_HAS_SUB;
        memcpy(p, n->sub, sub);
        p += sub;
    }

    if (with_sub && n->seller) {
        e->has |= MICROSHOP_USAGE_HAS_SELLER;
        memcpy(p, n->seller, seller);
        p += seller;
    }

    if (n->cls) {
        e->has |= MICROSHOP_USAGE_HAS_CLASS;
        memcpy(p, n->cls, cls);
    }

    e->sub_len = (uint8_t) sub;
    e->seller_len = (uint8_t) seller;
    e->class_len = (uint8_t) cls;

    return 1;
}


/* a class's entry; the one without a class is for requests without a
 * verified token.  NULL: no room, or a name that does not fit */

microshop_usage_entry_t *
microshop_usage_class_entry(microshop_usage_t *u,
    const microshop_usage_note_t *n)
{
    uint8_t                   has;
    uint32_t                  i;
    const char               *cls;
    size_t                    len;
    microshop_usage_entry_t  *e;
    microshop_usage_note_t    k;

    /* the classless entry is for requests without a verified token: the
     * caller names a verified token's class ("default" when implied) */
    k = *n;

    if (!n->verified) {
        k.cls = NULL;
    }

    cls = k.cls;
    len = cls ? k.cls_len : 0;
    has = cls ? MICROSHOP_USAGE_HAS_CLASS : 0;

    for (i = 0; i < u->nclasses; i++) {
        e = &u->classes[i];

        if (e->has == has && e->class_len == len
            && (len == 0 || memcmp(e->name, cls, len) == 0))
        {
            return e;
        }
    }

    if (u->nclasses == MICROSHOP_USAGE_CLASSES) {
        return NULL;
    }

    e = &u->classes[u->nclasses];
    memset(e, 0, sizeof(microshop_usage_entry_t));

    if (!microshop_usage_name(e, &k, 0)) {
        return NULL;
    }

    e->first_seen = n->now;
    e->next = -1;
    u->nclasses++;

    return e;
}


/* a subject's entry: found, made, or made in place of the one with the
 * least traffic; the others' entry for names that do not fit */

microshop_usage_entry_t *
microshop_usage_subject_entry(microshop_usage_t *u,
    const microshop_usage_note_t *n)
{
    int32_t                  *heads, i;
    uint32_t                  h, k;
    uint64_t                  count;
    microshop_usage_entry_t  *subjects, *e, *min, key;

    memset(&key, 0, sizeof(microshop_usage_entry_t));

    if (!microshop_usage_name(&key, n, 1)) {
        u->folded++;
        return &u->others;
    }

    h = microshop_usage_hash(key.name, (size_t) key.sub_len + key.seller_len
                             + key.class_len, 2166136261u);
    h = microshop_usage_hash(&key.has, 1, h);
    h = microshop_usage_hash(&key.sub_len, 1, h);
    h = microshop_usage_hash(&key.seller_len, 1, h);

    heads = microshop_usage_heads(u);
    subjects = microshop_usage_subjects(u);

    for (i = heads[h & (u->buckets - 1)]; i >= 0; i = subjects[i].next) {
        e = &subjects[i];

        if (e->hash == h && e->has == key.has && e->sub_len == key.sub_len
            && e->seller_len == key.seller_len
            && e->class_len == key.class_len
            && memcmp(e->name, key.name, (size_t) e->sub_len + e->seller_len
                                         + e->class_len) == 0)
        {
            return e;
        }
    }

    count = 0;

    if (u->nsubjects < u->conf.subjects) {
        e = &subjects[u->nsubjects++];

    } else {
        /* space-saving: the one with the least traffic makes room */
        min = &subjects[0];

        for (k = 1; k < u->nsubjects; k++) {
            if (subjects[k].count < min->count) {
                min = &subjects[k];
            }
        }

        e = min;
        count = e->count;

        microshop_usage_unlink(u, e);
        microshop_usage_fold(u, e);
        u->folded++;
    }

    *e = key;
    e->count = count;
    e->requests = 0;
    e->first_seen = n->now;
    e->hash = h;
    e->next = heads[h & (u->buckets - 1)];
    heads[h & (u->buckets - 1)] = (int32_t) (e - subjects);

    return e;
}


static void
microshop_usage_unlink(microshop_usage_t *u, microshop_usage_entry_t *e)
{
    int32_t                  *link, idx;
    microshop_usage_entry_t  *subjects;

    subjects = microshop_usage_subjects(u);
    idx = (int32_t) (e - subjects);
    link = &microshop_usage_heads(u)[e->hash & (u->buckets - 1)];

    while (*link >= 0) {
        if (*link == idx) {
            *link = e->next;
            return;
        }

        link = &subjects[*link].next;
    }
}


/* an evicted subject's use goes to the others' entry */

static void
microshop_usage_fold(microshop_usage_t *u, const microshop_usage_entry_t *e)
{
    uint32_t                  i;
    microshop_usage_entry_t  *o;

    o = &u->others;

    o->requests += e->requests;
    o->count += e->requests;

    if (e->last_used > o->last_used) {
        o->last_used = e->last_used;
    }

    if (o->first_seen == 0 || e->first_seen < o->first_seen) {
        o->first_seen = e->first_seen;
    }

    if (e->lost) {
        o->lost = 1;
    }

    for (i = 0; i < e->nscopes; i++) {
        microshop_usage_touch(u, o, e->scopes[i].scope, e->scopes[i].granted,
                              e->scopes[i].exercised);
    }
}


static void
microshop_usage_deny(microshop_usage_t *u, uint32_t i, uint32_t reason,
    uint32_t now)
{
    uint32_t   hour, slot, *stamp, *counts;

    hour = now / 3600;
    slot = hour % u->conf.hours;

    stamp = microshop_usage_stamps(u) + (size_t) i * u->conf.hours + slot;
    counts = microshop_usage_counts(u)
             + ((size_t) i * u->conf.hours + slot) * u->conf.reasons;

    if (*stamp != hour) {
        memset(counts, 0, sizeof(uint32_t) * u->conf.reasons);
        *stamp = hour;
    }

    counts[reason]++;
}


/* the granted scopes of the note, and those of the route it exercised */

static void
microshop_usage_scopes(microshop_usage_t *u, microshop_usage_entry_t *c,
    microshop_usage_entry_t *s, const microshop_usage_note_t *n)
{
    int          scope;
    size_t       len;
    uint32_t     exercised;
    const char  *p, *end, *q, *r, *rend;

    p = n->granted;
    end = p ? p + n->granted_len : p;

    while (p && p < end) {
        q = memchr(p, ' ', (size_t) (end - p));
        len = (size_t) ((q ? q : end) - p);

        exercised = 0;

        if (n->exercised && n->required) {
            /* a scope of the route's, in a scope set: the whole word */
            r = n->required;
            rend = r + n->required_len;

            while (r < rend) {
                q = memchr(r, ' ', (size_t) (rend - r));

                if ((size_t) ((q ? q : rend) - r) == len
                    && memcmp(r, p, len) == 0)
                {
                    exercised = n->now;
                    break;
                }

                r = q ? q + 1 : rend;
            }
        }

        if (len) {
            scope = microshop_usage_scope(u, p, len, 1);

            if (c) {
                microshop_usage_touch(u, c, scope, n->now, exercised);
            }

            microshop_usage_touch(u, s, scope, n->now, exercised);
        }

        q = memchr(p, ' ', (size_t) (end - p));
        p = q ? q + 1 : end;
    }
}
