/*
 * ngx_microshop -- scope usage, the block's layout (pure logic): shared
 * by microshop_usage.c, which keeps it, and microshop_usage_wire.c, which
 * exports it and merges another node's export into it
 * (docs/audit-playbook.md "Several nodes").  Not for the glue.
 */

#ifndef MICROSHOP_USAGE_INT_H
#define MICROSHOP_USAGE_INT_H

#include "microshop_usage.h"


#define MICROSHOP_USAGE_MAGIC    0x6d737567  /* "msug" */
#define MICROSHOP_USAGE_VERSION  2
#define MICROSHOP_USAGE_HASH     (2 * MICROSHOP_USAGE_SCOPES)


typedef struct {
    uint8_t   len;
    char      name[MICROSHOP_USAGE_SCOPE_LEN];
} microshop_usage_name_t;


struct microshop_usage_s {
    uint32_t                 magic;
    uint32_t                 version;
    microshop_usage_conf_t   conf;
    uint32_t                 buckets;       /* a power of two */
    uint32_t                 nclasses;
    uint32_t                 nsubjects;
    uint32_t                 nscopes;
    uint64_t                 folded;
    uint64_t                 classes_folded;
    uint64_t                 scopes_lost;
    uint8_t                  id[MICROSHOP_USAGE_ID_LEN];
    uint16_t                 scope_hash[MICROSHOP_USAGE_HASH]; /* i + 1 */
    microshop_usage_name_t   names[MICROSHOP_USAGE_SCOPES];
    microshop_usage_entry_t  classes[MICROSHOP_USAGE_CLASSES];
    microshop_usage_entry_t  others;
    /* int32_t heads[buckets]; entry subjects[subjects];
     * uint32_t stamps[CLASSES][hours]; uint32_t counts[CLASSES][hours]
     * [reasons] */
};



int32_t *microshop_usage_heads(const microshop_usage_t *u);
microshop_usage_entry_t *microshop_usage_subjects(const microshop_usage_t *u);
uint32_t *microshop_usage_stamps(const microshop_usage_t *u);
uint32_t *microshop_usage_counts(const microshop_usage_t *u);

/* the index of a scope's name (added when add), -1: none, or no room */
int microshop_usage_scope(microshop_usage_t *u, const char *name,
    size_t len, int add);

/* a scope of an entry granted or exercised at these times (0: not); a
 * scope < 0 is counted as lost */
void microshop_usage_touch(microshop_usage_t *u, microshop_usage_entry_t *e,
    int scope, uint32_t granted, uint32_t exercised);

/* the entry of the note's class (NULL: no room), of its subject (made in
 * place of the one with the least traffic when full; the others' entry
 * for names that do not fit) */
microshop_usage_entry_t *microshop_usage_class_entry(microshop_usage_t *u,
    const microshop_usage_note_t *n);
microshop_usage_entry_t *microshop_usage_subject_entry(microshop_usage_t *u,
    const microshop_usage_note_t *n);


#endif /* MICROSHOP_USAGE_INT_H */
