/*
 * ngx_microshop -- scope usage (pure logic, no nginx headers): what the
 * tokens a gateway verified were granted and what they exercised, per
 * token class and per subject, in one flat block of shared memory
 * (docs/audit-playbook.md, docs/directives.md "microshop_audit_report").
 *
 * The block is bounded: at most MICROSHOP_USAGE_CLASSES classes, the top
 * `subjects` subjects by traffic (space-saving: a new subject takes the
 * place of the one with the least traffic, whose use is folded into the
 * "others" entry), MICROSHOP_USAGE_SCOPES distinct scope names (a scope
 * past them is counted as lost, not kept), MICROSHOP_USAGE_ENTRY_SCOPES
 * scopes per entry.  Times are unix seconds; for each scope of an entry
 * the last time it was granted and the last time it was exercised are
 * kept, so a report over any window up to the ring of denials needs no
 * buckets for them.  Denials are counted per class and per hour in a ring
 * of `hours` hours.
 *
 * The caller serializes access (the zone's lock); every function here only
 * reads and writes the block.
 */

#ifndef MICROSHOP_USAGE_H
#define MICROSHOP_USAGE_H

#include <stddef.h>
#include <stdint.h>


#define MICROSHOP_USAGE_CLASSES        16
#define MICROSHOP_USAGE_SCOPES         256
#define MICROSHOP_USAGE_SCOPE_LEN      63
#define MICROSHOP_USAGE_ENTRY_SCOPES   32
#define MICROSHOP_USAGE_NAME_MAX       255   /* sub + seller + class */
#define MICROSHOP_USAGE_REASONS_MAX    64
#define MICROSHOP_USAGE_HOURS_MAX      (31 * 24 + 1)
#define MICROSHOP_USAGE_SUBJECTS_MAX   100000
#define MICROSHOP_USAGE_ID_LEN         16

/* a name that is absent (no seller claim, no verified token) */
#define MICROSHOP_USAGE_HAS_SUB        0x01
#define MICROSHOP_USAGE_HAS_SELLER     0x02
#define MICROSHOP_USAGE_HAS_CLASS      0x04


typedef struct {
    uint32_t  subjects;      /* the top N subjects kept */
    uint32_t  hours;         /* the ring of denials, in hours */
    uint32_t  reasons;       /* reason codes 0 .. reasons - 1 */
} microshop_usage_conf_t;


typedef struct {
    uint16_t  scope;         /* index of its name */
    uint16_t  pad;
    uint32_t  granted;       /* last time granted, 0: never */
    uint32_t  exercised;     /* last time exercised, 0: never */
} microshop_usage_scope_t;


typedef struct {
    uint64_t  count;         /* traffic, with what it inherited (top N) */
    uint64_t  requests;      /* requests since the entry was made */
    uint32_t  first_seen;
    uint32_t  last_used;
    uint32_t  hash;
    int32_t   next;          /* the hash chain, -1: the end */
    uint8_t   sub_len;
    uint8_t   seller_len;
    uint8_t   class_len;
    uint8_t   nscopes;
    uint8_t   has;           /* MICROSHOP_USAGE_HAS_* */
    uint8_t   lost;          /* a scope did not fit */
    uint8_t   pad[2];
    uint8_t   name[MICROSHOP_USAGE_NAME_MAX + 1];  /* sub seller class */
    microshop_usage_scope_t  scopes[MICROSHOP_USAGE_ENTRY_SCOPES];
} microshop_usage_entry_t;


typedef struct microshop_usage_s  microshop_usage_t;


/* one request, as the log phase saw it */
typedef struct {
    int          verified;   /* a valid token was passed */
    const char  *sub;        /* NULL: no sub claim */
    size_t       sub_len;
    const char  *seller;     /* NULL: no seller claim */
    size_t       seller_len;
    const char  *cls;        /* the token's class */
    size_t       cls_len;
    const char  *granted;    /* normalized scope set (microshop_scope.h) */
    size_t       granted_len;
    const char  *required;   /* the route's scopes for the method */
    size_t       required_len;
    int          exercised;  /* the scope check passed */
    int          denied;     /* reason is a denial or an error */
    uint32_t     reason;
    uint32_t     now;
} microshop_usage_note_t;


/* the bytes a block of this configuration takes, 0: out of bounds */
size_t microshop_usage_size(const microshop_usage_conf_t *conf);

void microshop_usage_init(microshop_usage_t *u,
    const microshop_usage_conf_t *conf);

/* 1 when u was made with conf (it is kept over a reload), else 0 */
int microshop_usage_same(const microshop_usage_t *u,
    const microshop_usage_conf_t *conf);

/* the block's id, drawn by the caller when the block is made: a node's
 * name among others (docs/audit-playbook.md "Several nodes") */
void microshop_usage_set_id(microshop_usage_t *u,
    const uint8_t id[MICROSHOP_USAGE_ID_LEN]);
const uint8_t *microshop_usage_id(const microshop_usage_t *u);

/* a scope name known in advance (a route's or a ceiling's): always kept */
int microshop_usage_scope_add(microshop_usage_t *u, const char *name,
    size_t len);

void microshop_usage_note(microshop_usage_t *u,
    const microshop_usage_note_t *n);


/* reading, for the report (on a copy of the block, or under the lock) */

uint32_t microshop_usage_nclasses(const microshop_usage_t *u);
const microshop_usage_entry_t *microshop_usage_class(
    const microshop_usage_t *u, uint32_t i);
uint32_t microshop_usage_nsubjects(const microshop_usage_t *u);
const microshop_usage_entry_t *microshop_usage_subject(
    const microshop_usage_t *u, uint32_t i);

/* what was folded: evicted subjects, subjects whose names do not fit */
const microshop_usage_entry_t *microshop_usage_others(
    const microshop_usage_t *u);
uint64_t microshop_usage_folded(const microshop_usage_t *u);
/* requests of classes past MICROSHOP_USAGE_CLASSES */
uint64_t microshop_usage_classes_folded(const microshop_usage_t *u);
/* scopes that found no room (per entry or in the names) */
uint64_t microshop_usage_scopes_lost(const microshop_usage_t *u);

const char *microshop_usage_scope_name(const microshop_usage_t *u,
    uint32_t scope, size_t *len);

/* the denials for reason of class i from hour `since` (unix s / 3600) to
 * the hour of now, within the ring */
uint64_t microshop_usage_denials(const microshop_usage_t *u, uint32_t i,
    uint32_t reason, uint32_t since, uint32_t now);

/* the names of an entry */
const char *microshop_usage_entry_sub(const microshop_usage_entry_t *e,
    size_t *len);
const char *microshop_usage_entry_seller(const microshop_usage_entry_t *e,
    size_t *len);
const char *microshop_usage_entry_class(const microshop_usage_entry_t *e,
    size_t *len);


#endif /* MICROSHOP_USAGE_H */
