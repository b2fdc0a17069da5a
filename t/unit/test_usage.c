/*
 * ngx_microshop -- unit tests: scope usage (microshop_usage.c), what the
 * audit report is read from (docs/audit-playbook.md, docs/directives.md
 * "microshop_audit_report").
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "microshop_usage.h"


#define T0  1800000000u   /* a time, a multiple of 3600 */


static microshop_usage_t *
usage_new(uint32_t subjects, uint32_t hours)
{
    size_t                   size;
    microshop_usage_t       *u;
    microshop_usage_conf_t   conf;

    conf.subjects = subjects;
    conf.hours = hours;
    conf.reasons = 8;

    size = microshop_usage_size(&conf);
    assert_true(size > 0);

    u = malloc(size);
    assert_non_null(u);

    /* garbage first: init must set every byte that is read */
    memset(u, 0xa5, size);
    microshop_usage_init(u, &conf);

    assert_true(microshop_usage_same(u, &conf));

    return u;
}


static void
note(microshop_usage_t *u, const char *sub, const char *seller,
    const char *cls, const char *granted, const char *required,
    int exercised, int denied, uint32_t reason, uint32_t now)
{
    microshop_usage_note_t  n;

    memset(&n, 0, sizeof(n));

    n.verified = cls != NULL;
    n.sub = sub;
    n.sub_len = sub ? strlen(sub) : 0;
    n.seller = seller;
    n.seller_len = seller ? strlen(seller) : 0;
    n.cls = cls;
    n.cls_len = cls ? strlen(cls) : 0;
    n.granted = granted;
    n.granted_len = granted ? strlen(granted) : 0;
    n.required = required;
    n.required_len = required ? strlen(required) : 0;
    n.exercised = exercised;
    n.denied = denied;
    n.reason = reason;
    n.now = now;

    microshop_usage_note(u, &n);
}


/* the scope of an entry by name, NULL when the entry never had it */

static const microshop_usage_scope_t *
scope_of(const microshop_usage_t *u, const microshop_usage_entry_t *e,
    const char *name)
{
    size_t       len;
    uint32_t     i;
    const char  *s;

    for (i = 0; i < e->nscopes; i++) {
        s = microshop_usage_scope_name(u, e->scopes[i].scope, &len);

        if (s && len == strlen(name) && memcmp(s, name, len) == 0) {
            return &e->scopes[i];
        }
    }

    return NULL;
}


static const microshop_usage_entry_t *
subject_of(const microshop_usage_t *u, const char *sub)
{
    size_t                          len;
    uint32_t                        i;
    const char                     *s;
    const microshop_usage_entry_t  *e;

    for (i = 0; i < microshop_usage_nsubjects(u); i++) {
        e = microshop_usage_subject(u, i);
        s = microshop_usage_entry_sub(e, &len);

        if (s && len == strlen(sub) && memcmp(s, sub, len) == 0) {
            return e;
        }
    }

    return NULL;
}


static const microshop_usage_entry_t *
class_of(const microshop_usage_t *u, const char *cls)
{
    size_t                          len;
    uint32_t                        i;
    const char                     *s;
    const microshop_usage_entry_t  *e;

    for (i = 0; i < microshop_usage_nclasses(u); i++) {
        e = microshop_usage_class(u, i);
        s = microshop_usage_entry_class(e, &len);

        if (cls == NULL ? s == NULL
                        : (s && len == strlen(cls)
                           && memcmp(s, cls, len) == 0))
        {
            return e;
        }
    }

    return NULL;
}


static void
test_granted_and_exercised(void **state)
{
    microshop_usage_t              *u;
    const microshop_usage_entry_t  *s, *c;
    const microshop_usage_scope_t  *sc;
    size_t                          len;
    const char                     *p;

    u = usage_new(10, 24);

    /* pos-1 reads inventory: inventory:read exercised, orders:write not */
    note(u, "pos-1", "s1", "pos", "inventory:read orders:write",
         "inventory:read", 1, 0, 0, T0 + 10);
    /* a route it may not use: granted, nothing exercised */
    note(u, "pos-1", "s1", "pos", "inventory:read orders:write",
         "admin", 0, 1, 3, T0 + 20);
    /* "inventory" is not "inventory:read": whole words only */
    note(u, "pos-2", "s1", "pos", "inventory", "inventory:read", 1, 0, 0,
         T0 + 30);

    s = subject_of(u, "pos-1");
    assert_non_null(s);
    assert_int_equal(s->requests, 2);
    assert_int_equal(s->first_seen, T0 + 10);
    assert_int_equal(s->last_used, T0 + 20);

    p = microshop_usage_entry_seller(s, &len);
    assert_non_null(p);
    assert_memory_equal(p, "s1", 2);
    p = microshop_usage_entry_class(s, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(p, "pos", 3);

    sc = scope_of(u, s, "inventory:read");
    assert_non_null(sc);
    assert_int_equal(sc->granted, T0 + 20);
    assert_int_equal(sc->exercised, T0 + 10);

    sc = scope_of(u, s, "orders:write");
    assert_non_null(sc);
    assert_int_equal(sc->granted, T0 + 20);
    assert_int_equal(sc->exercised, 0);

    /* a required scope that was not granted is never in the entry */
    assert_null(scope_of(u, s, "admin"));

    s = subject_of(u, "pos-2");
    assert_non_null(s);
    sc = scope_of(u, s, "inventory");
    assert_non_null(sc);
    assert_int_equal(sc->exercised, 0);

    /* the class sums its subjects */
    c = class_of(u, "pos");
    assert_non_null(c);
    assert_int_equal(c->requests, 3);
    assert_int_equal(scope_of(u, c, "inventory:read")->exercised, T0 + 10);
    assert_int_equal(scope_of(u, c, "orders:write")->exercised, 0);

    /* the denial of reason 3, in its hour */
    assert_int_equal(microshop_usage_denials(u, (uint32_t) (c - 
                         microshop_usage_class(u, 0)), 3, T0 / 3600,
                         T0 + 100), 1);

    free(u);
}


static void
test_no_token_has_no_subject(void **state)
{
    microshop_usage_t              *u;
    const microshop_usage_entry_t  *c;

    u = usage_new(10, 24);

    note(u, NULL, NULL, NULL, NULL, "inventory:read", 0, 1, 1, T0);
    note(u, NULL, NULL, NULL, NULL, "inventory:read", 0, 1, 1, T0 + 1);
    note(u, NULL, NULL, NULL, NULL, "inventory:read", 0, 1, 2, T0 + 2);

    assert_int_equal(microshop_usage_nsubjects(u), 0);
    assert_int_equal(microshop_usage_nclasses(u), 1);

    c = class_of(u, NULL);
    assert_non_null(c);
    assert_int_equal(c->requests, 3);
    assert_int_equal(c->nscopes, 0);
    assert_int_equal(microshop_usage_denials(u, 0, 1, 0, T0 + 10), 2);
    assert_int_equal(microshop_usage_denials(u, 0, 2, 0, T0 + 10), 1);

    /* a verified token without a sub claim: a subject named null */
    note(u, NULL, "s1", "default", "a", "a", 1, 0, 0, T0 + 3);
    assert_int_equal(microshop_usage_nsubjects(u), 1);
    assert_int_equal(microshop_usage_nclasses(u), 2);

    free(u);
}


static void
test_top_n_folds_the_rest(void **state)
{
    int                             i;
    char                            sub[16];
    microshop_usage_t              *u;
    const microshop_usage_entry_t  *o;

    u = usage_new(4, 24);

    /* three heavy subjects */
    for (i = 0; i < 200; i++) {
        note(u, "heavy-a", "s1", "pos", "a", "a", 1, 0, 0, T0 + i);
        note(u, "heavy-b", "s1", "pos", "a b", "a", 1, 0, 0, T0 + i);
        note(u, "heavy-c", "s2", "pos", "a", "a", 1, 0, 0, T0 + i);
    }

    /* a hundred one-off subjects: they take turns in the fourth place,
     * each taking over the traffic of the one before (space-saving) */
    for (i = 0; i < 100; i++) {
        snprintf(sub, sizeof(sub), "once-%d", i);
        note(u, sub, "s3", "integration", "c", NULL, 0, 0, 0, T0 + 300 + i);
    }

    assert_int_equal(microshop_usage_nsubjects(u), 4);
    assert_non_null(subject_of(u, "heavy-a"));
    assert_non_null(subject_of(u, "heavy-b"));
    assert_non_null(subject_of(u, "heavy-c"));
    assert_non_null(subject_of(u, "once-99"));
    assert_null(subject_of(u, "once-98"));
    assert_int_equal(subject_of(u, "once-99")->requests, 1);
    assert_int_equal(subject_of(u, "once-99")->count, 100);
    assert_int_equal(subject_of(u, "heavy-b")->requests, 200);

    /* the 99 that left are in the others' entry */
    o = microshop_usage_others(u);
    assert_int_equal(microshop_usage_folded(u), 99);
    assert_int_equal(o->requests, 99);
    assert_non_null(scope_of(u, o, "c"));
    assert_int_equal(scope_of(u, o, "c")->granted, T0 + 300 + 98);
    assert_int_equal(scope_of(u, o, "c")->exercised, 0);
    assert_null(scope_of(u, o, "a"));

    /* the last one-off is found again, not made twice */
    note(u, "once-99", "s3", "integration", "c", NULL, 0, 0, 0, T0 + 500);
    assert_int_equal(subject_of(u, "once-99")->requests, 2);
    assert_int_equal(microshop_usage_folded(u), 99);

    /* the same sub for another seller is another subject: it takes the
     * place with the least traffic, once-99's */
    note(u, "heavy-a", "s9", "pos", "a", "a", 1, 0, 0, T0 + 501);
    assert_int_equal(microshop_usage_folded(u), 100);
    assert_null(subject_of(u, "once-99"));
    assert_int_equal(o->requests, 101);
    assert_int_equal(subject_of(u, "heavy-a")->requests, 200);

    free(u);
}


static void
test_bounds(void **state)
{
    int                             i;
    char                            name[80], set[8192];
    size_t                          n;
    microshop_usage_t              *u;
    microshop_usage_conf_t          conf;
    const microshop_usage_entry_t  *s;

    conf.subjects = 0;
    conf.hours = 24;
    conf.reasons = 8;
    assert_int_equal(microshop_usage_size(&conf), 0);
    conf.subjects = 1;
    conf.hours = MICROSHOP_USAGE_HOURS_MAX + 1;
    assert_int_equal(microshop_usage_size(&conf), 0);
    conf.hours = 1;
    conf.reasons = MICROSHOP_USAGE_REASONS_MAX + 1;
    assert_int_equal(microshop_usage_size(&conf), 0);

    u = usage_new(4, 24);

    /* more scopes than an entry keeps: the rest are counted as lost */
    n = 0;
    for (i = 0; i < MICROSHOP_USAGE_ENTRY_SCOPES + 5; i++) {
        n += (size_t) snprintf(set + n, sizeof(set) - n, "%ss%d",
                               i ? " " : "", i);
    }

    note(u, "wide", "s1", "staff", set, NULL, 0, 0, 0, T0);
    s = subject_of(u, "wide");
    assert_non_null(s);
    assert_int_equal(s->nscopes, MICROSHOP_USAGE_ENTRY_SCOPES);
    assert_true(s->lost);
    assert_int_equal(microshop_usage_scopes_lost(u), 2 * 5);

    /* a scope name longer than is kept: lost, not cut */
    memset(name, 'x', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    note(u, "long", "s1", "staff", name, NULL, 0, 0, 0, T0);
    s = subject_of(u, "long");
    assert_int_equal(s->nscopes, 0);
    assert_true(s->lost);

    /* names that do not fit: folded, never cut */
    memset(set, 'y', 300);
    set[300] = '\0';
    note(u, set, "s1", "staff", "a", NULL, 0, 0, 0, T0);
    assert_null(subject_of(u, set));
    assert_int_equal(microshop_usage_folded(u), 1);
    assert_int_equal(microshop_usage_others(u)->requests, 1);

    /* more classes than kept: counted */
    for (i = 0; i < MICROSHOP_USAGE_CLASSES + 3; i++) {
        snprintf(name, sizeof(name), "class-%d", i);
        note(u, "c", "s1", name, "a", NULL, 0, 0, 0, T0);
    }

    assert_int_equal(microshop_usage_nclasses(u), MICROSHOP_USAGE_CLASSES);
    /* "staff" took one place: 3 + 1 past the end */
    assert_int_equal(microshop_usage_classes_folded(u), 4);

    free(u);
}


static void
test_denials_ring(void **state)
{
    uint32_t            h;
    microshop_usage_t  *u;

    u = usage_new(4, 24);

    /* one denial per hour for 30 hours: the ring keeps the last 24 */
    for (h = 0; h < 30; h++) {
        note(u, "a", "s1", "pos", "x", "y", 0, 1, 5, T0 + h * 3600 + 7);
    }

    note(u, "a", "s1", "pos", "x", "y", 0, 1, 5, T0 + 29 * 3600 + 8);

    h = T0 / 3600;

    /* the last hour holds 2 */
    assert_int_equal(microshop_usage_denials(u, 0, 5, h + 29,
                                             T0 + 29 * 3600 + 9), 2);
    /* the window of the last 10 hours: 9 + 2 */
    assert_int_equal(microshop_usage_denials(u, 0, 5, h + 20,
                                             T0 + 29 * 3600 + 9), 11);
    /* more than the ring: what the ring holds, 23 + 2 */
    assert_int_equal(microshop_usage_denials(u, 0, 5, 0,
                                             T0 + 29 * 3600 + 9), 25);
    /* another reason: none */
    assert_int_equal(microshop_usage_denials(u, 0, 4, 0,
                                             T0 + 29 * 3600 + 9), 0);
    /* a day later nothing is in the window of the last hour */
    assert_int_equal(microshop_usage_denials(u, 0, 5, h + 53,
                                             T0 + 53 * 3600), 0);
    /* nor anything older than the ring, as seen from then */
    assert_int_equal(microshop_usage_denials(u, 0, 5, 0,
                                             T0 + 60 * 3600), 0);

    free(u);
}


static void
test_known_scopes_and_reload(void **state)
{
    int                      i;
    char                     name[16];
    microshop_usage_t       *u;
    microshop_usage_conf_t   conf;

    u = usage_new(4, 24);

    assert_int_equal(microshop_usage_scope_add(u, "inventory:write", 15), 0);
    assert_int_equal(microshop_usage_scope_add(u, "inventory:write", 15), 0);
    assert_int_equal(microshop_usage_scope_add(u, "orders:read", 11), 1);

    /* the names fill up: a token's new scope is then lost */
    for (i = 2; i < MICROSHOP_USAGE_SCOPES; i++) {
        snprintf(name, sizeof(name), "n%d", i);
        assert_int_equal(microshop_usage_scope_add(u, name, strlen(name)),
                         i);
    }

    assert_int_equal(microshop_usage_scope_add(u, "full", 4), -1);
    /* a known one is still found */
    assert_int_equal(microshop_usage_scope_add(u, "orders:read", 11), 1);

    note(u, "a", "s1", "pos", "orders:read brand-new", "orders:read", 1, 0,
         0, T0);
    assert_non_null(scope_of(u, subject_of(u, "a"), "orders:read"));
    assert_true(subject_of(u, "a")->lost);

    conf.subjects = 5;
    conf.hours = 24;
    conf.reasons = 8;
    assert_false(microshop_usage_same(u, &conf));

    free(u);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_granted_and_exercised),
        cmocka_unit_test(test_no_token_has_no_subject),
        cmocka_unit_test(test_top_n_folds_the_rest),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_denials_ring),
        cmocka_unit_test(test_known_scopes_and_reload),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
