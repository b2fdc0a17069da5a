/*
 * ngx_microshop -- scope usage across nodes (pure logic, no nginx
 * headers): the export of a usage block and the merge of another node's
 * export into a block (docs/audit-playbook.md "Several nodes").
 *
 * An export comes back from a shared store (Redis): it is untrusted.
 * microshop_usage_merge() reads the whole of it before it changes
 * anything, and refuses what is not one whole export of this version.
 *
 * The format, every number little-endian:
 *
 *   "MSUW" u8 version (1) | id[16] | u32 reasons | u64 folded
 *   | u64 classes_folded | u64 scopes_lost
 *   | u16 names, each: u8 len (1..63), the name
 *   | u8 classes, each an entry | the others' entry
 *   | u32 subjects, each an entry
 *   | u32 denials, each: u8 class (its index above), u32 hour (unix s /
 *     3600), u8 reason, u32 count
 *
 *   an entry: u8 has, u8 sub_len, u8 seller_len, u8 class_len, u8 lost,
 *   u8 scopes, u64 count, u64 requests, u32 first_seen, u32 last_used,
 *   the names (sub, seller, class: at most 255 bytes), then each scope:
 *   u16 name (its index above), u32 granted, u32 exercised
 */

#ifndef MICROSHOP_USAGE_WIRE_H
#define MICROSHOP_USAGE_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "microshop_usage.h"


/* the bytes microshop_usage_export() writes for u as it is now */
size_t microshop_usage_export_size(const microshop_usage_t *u);

/* u's export at buf (size bytes); its length, 0: it did not fit */
size_t microshop_usage_export(const microshop_usage_t *u, uint8_t *buf,
    size_t size);

/* adds another node's export into u: 0; -1 when buf is not one whole
 * export of this version (u is then unchanged) */
int microshop_usage_merge(microshop_usage_t *u, const uint8_t *buf,
    size_t len);


#endif /* MICROSHOP_USAGE_WIRE_H */
