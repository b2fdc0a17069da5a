/*
 * ngx_microshop -- unit tests: scope usage across nodes
 * (microshop_usage_wire.c): an export merged into another block is what
 * the node saw, two nodes add up, and an export that is cut, padded or
 * garbled is refused whole (docs/audit-playbook.md "Several nodes").
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
#include "microshop_usage_wire.h"


#define T0  1800000000u   /* a time, a multiple of 3600 */


static size_t  block_size;


static microshop_usage_t *
block(uint32_t subjects)
{
    microshop_usage_t       *u;
    microshop_usage_conf_t   conf;

    conf.subjects = subjects;
    conf.hours = 4;
    conf.reasons = 8;

    block_size = microshop_usage_size(&conf);
    u = malloc(block_size);
    assert_non_null(u);
    microshop_usage_init(u, &conf);

    return u;
}


static void
req(microshop_usage_t *u, const char *sub, const char *cls,
    const char *granted, const char *required, int exercised, int denied,
    uint32_t now)
{
    microshop_usage_note_t  n;

    memset(&n, 0, sizeof(n));
    n.verified = cls != NULL;
    n.sub = sub;
    n.sub_len = sub ? strlen(sub) : 0;
    n.seller = "s1";
    n.seller_len = 2;
    n.cls = cls;
    n.cls_len = cls ? strlen(cls) : 0;
    n.granted = granted;
    n.granted_len = granted ? strlen(granted) : 0;
    n.required = required;
    n.required_len = required ? strlen(required) : 0;
    n.exercised = exercised;
    n.denied = denied;
    n.reason = denied ? 3 : 0;
    n.now = now;

    microshop_usage_note(u, &n);
}


static uint8_t *
export(const microshop_usage_t *u, size_t *len)
{
    size_t    size;
    uint8_t  *buf;

    size = microshop_usage_export_size(u);
    buf = malloc(size);
    assert_non_null(buf);
    *len = microshop_usage_export(u, buf, size);
    assert_int_equal(*len, size);

    return buf;
}


static const microshop_usage_entry_t *
subject(const microshop_usage_t *u, const char *sub)
{
    size_t       len;
    uint32_t     i;
    const char  *s;

    for (i = 0; i < microshop_usage_nsubjects(u); i++) {
        s = microshop_usage_entry_sub(microshop_usage_subject(u, i), &len);

        if (s && len == strlen(sub) && memcmp(s, sub, len) == 0) {
            return microshop_usage_subject(u, i);
        }
    }

    return NULL;
}


/* the time a scope of an entry was exercised, 0: never */
static uint32_t
exercised(const microshop_usage_t *u, const microshop_usage_entry_t *e,
    const char *scope)
{
    size_t       len;
    uint32_t     i;
    const char  *name;

    for (i = 0; i < e->nscopes; i++) {
        name = microshop_usage_scope_name(u, e->scopes[i].scope, &len);

        if (len == strlen(scope) && memcmp(name, scope, len) == 0) {
            return e->scopes[i].exercised;
        }
    }

    return 0;
}


static void
traffic_a(microshop_usage_t *u)
{
    req(u, "staff-1", "staff", "inventory:read inventory:write",
        "inventory:read", 1, 0, T0 + 10);
    req(u, "staff-1", "staff", "inventory:read inventory:write",
        "inventory:read", 1, 0, T0 + 20);
    req(u, NULL, NULL, NULL, "inventory:read", 0, 1, T0 + 30);
}


static void
traffic_b(microshop_usage_t *u)
{
    /* another order of names: B numbers its scopes its own way */
    req(u, "pos-9", "pos", "orders:write", "orders:write", 1, 0, T0 + 5);
    req(u, "staff-1", "staff", "inventory:read inventory:write",
        "inventory:write", 1, 0, T0 + 40);
    req(u, "staff-1", "staff", "inventory:read inventory:write",
        "refunds:issue", 0, 1, T0 + 50);
}


static void
test_round_trip(void **state)
{
    size_t                          len;
    uint8_t                        *buf;
    microshop_usage_t              *a, *c;
    const microshop_usage_entry_t  *s;
    uint8_t                         id[MICROSHOP_USAGE_ID_LEN];

    a = block(8);
    memset(id, 7, sizeof(id));
    microshop_usage_set_id(a, id);
    traffic_a(a);

    buf = export(a, &len);
    assert_memory_equal(buf, "MSUW", 4);

    c = block(8);
    assert_int_equal(microshop_usage_merge(c, buf, len), 0);

    assert_int_equal(microshop_usage_nclasses(c), microshop_usage_nclasses(a));
    assert_int_equal(microshop_usage_nsubjects(c), 1);
    s = subject(c, "staff-1");
    assert_non_null(s);
    assert_int_equal(s->requests, 2);
    assert_int_equal(s->last_used, T0 + 20);
    assert_int_equal(exercised(c, s, "inventory:read"), T0 + 20);
    assert_int_equal(exercised(c, s, "inventory:write"), 0);
    assert_int_equal(microshop_usage_denials(c, 1, 3, T0 / 3600, T0 + 60), 1);
    assert_int_equal(microshop_usage_denials(a, 1, 3, T0 / 3600, T0 + 60), 1);

    /* the export of the merged block is the same but for the id */
    free(buf);
    buf = export(c, &len);
    free(buf);

    free(a);
    free(c);
}


static void
test_two_nodes_add_up(void **state)
{
    size_t                          la, lb;
    uint8_t                        *ba, *bb;
    microshop_usage_t              *a, *b, *c;
    const microshop_usage_entry_t  *s;

    a = block(8);
    b = block(8);
    traffic_a(a);
    traffic_b(b);
    ba = export(a, &la);
    bb = export(b, &lb);

    /* A's block with B's export: what a report on A reads */
    c = block(8);
    assert_int_equal(microshop_usage_merge(c, ba, la), 0);
    assert_int_equal(microshop_usage_merge(c, bb, lb), 0);

    s = subject(c, "staff-1");
    assert_non_null(s);
    assert_int_equal(s->requests, 4);
    assert_int_equal(s->last_used, T0 + 50);
    assert_int_equal(exercised(c, s, "inventory:read"), T0 + 20);
    assert_int_equal(exercised(c, s, "inventory:write"), T0 + 40);
    assert_non_null(subject(c, "pos-9"));
    /* staff (class 0 in both) was refused once on B */
    assert_int_equal(microshop_usage_nclasses(c), 3);
    assert_int_equal(microshop_usage_class(c, 0)->requests, 4);
    assert_int_equal(microshop_usage_denials(c, 0, 3, T0 / 3600, T0 + 60),
                     1);

    free(ba);
    free(bb);
    free(a);
    free(b);
    free(c);
}


static void
test_top_n_over_nodes(void **state)
{
    char                name[16];
    size_t              len;
    uint8_t            *buf;
    uint32_t            i;
    uint64_t            total;
    microshop_usage_t  *a, *c;

    a = block(16);

    for (i = 0; i < 16; i++) {
        snprintf(name, sizeof(name), "sub-%u", i);
        req(a, name, "pos", "orders:write", "orders:write", 1, 0, T0 + i);
    }

    buf = export(a, &len);

    /* a block of 4: 12 subjects folded, no request lost */
    c = block(4);
    assert_int_equal(microshop_usage_merge(c, buf, len), 0);
    assert_int_equal(microshop_usage_nsubjects(c), 4);

    for (total = 0, i = 0; i < 4; i++) {
        total += microshop_usage_subject(c, i)->requests;
    }

    total += microshop_usage_others(c)->requests;
    assert_int_equal(total, 16);
    assert_int_equal(microshop_usage_folded(c), 12);

    free(buf);
    free(a);
    free(c);
}


static void
test_cut_padded_garbled_refused(void **state)
{
    size_t              len, i;
    uint8_t            *buf, *bad, *before;
    microshop_usage_t  *a, *c;

    a = block(8);
    traffic_a(a);
    traffic_b(a);
    buf = export(a, &len);

    c = block(8);
    traffic_b(c);
    before = malloc(block_size);
    memcpy(before, c, block_size);

    /* every cut */
    for (i = 0; i < len; i++) {
        assert_int_equal(microshop_usage_merge(c, buf, i), -1);
    }

    assert_memory_equal(before, c, block_size);

    /* a byte too many */
    bad = malloc(len + 1);
    memcpy(bad, buf, len);
    bad[len] = 0;
    assert_int_equal(microshop_usage_merge(c, bad, len + 1), -1);
    assert_memory_equal(before, c, block_size);
    assert_int_equal(microshop_usage_merge(c, NULL, 0), -1);

    /* garbled: refused, or taken as another valid export; never a crash
     * (run under valgrind and ASan) */
    srand(18);

    for (i = 0; i < 2000; i++) {
        memcpy(bad, buf, len);
        bad[rand() % len] ^= (uint8_t) (1 + rand() % 255);
        bad[rand() % len] = (uint8_t) rand();
        (void) microshop_usage_merge(c, bad, len);
    }

    free(bad);
    free(before);
    free(buf);
    free(a);
    free(c);
}


static void
test_empty_block(void **state)
{
    size_t              len;
    uint8_t            *buf;
    microshop_usage_t  *a, *c;

    a = block(8);
    buf = export(a, &len);
    assert_int_equal(microshop_usage_export(a, buf, len - 1), 0);

    c = block(8);
    assert_int_equal(microshop_usage_merge(c, buf, len), 0);
    assert_int_equal(microshop_usage_nsubjects(c), 0);
    assert_int_equal(microshop_usage_nclasses(c), 0);

    free(buf);
    free(a);
    free(c);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_two_nodes_add_up),
        cmocka_unit_test(test_top_n_over_nodes),
        cmocka_unit_test(test_cut_padded_garbled_refused),
        cmocka_unit_test(test_empty_block),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
