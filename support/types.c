/*
 * types.c: the one table of tensor element types.
 *
 * The table is generated from GGML_TYPE_LIST (types.h), so an id's name,
 * block size and block bytes live in exactly one place. Ids that were
 * assigned once and removed from the format are kept by name here so that a
 * file using one is refused with a message that says so, rather than as an
 * unknown number.
 */
#include "support/types.h"

#include <ctype.h>
#include <stddef.h>

static const ggml_type_traits type_table[GGML_TYPE_COUNT] = {
#define X(NAME, ID, STR, BLK, BYTES) [ID] = {STR, BLK, BYTES},
    GGML_TYPE_LIST(X)
#undef X
};

#define X(NAME, ID, STR, BLK, BYTES) _Static_assert(ID < GGML_TYPE_COUNT && BLK > 0 && BYTES > 0, #NAME);
GGML_TYPE_LIST(X)
#undef X

const ggml_type_traits *ggml_type_get(uint32_t id)
{
    if (id >= GGML_TYPE_COUNT || !type_table[id].name)
        return NULL;
    return &type_table[id];
}

int ggml_type_from_name(const char *name)
{
    for (uint32_t i = 0; i < GGML_TYPE_COUNT; i++) {
        const char *t = type_table[i].name;
        if (!t)
            continue;
        size_t j = 0;
        while (t[j] && name[j] && tolower((unsigned char)name[j]) == t[j])
            j++;
        if (!t[j] && !name[j])
            return (int)i;
    }
    return -1;
}

const char *ggml_type_removed_name(uint32_t id)
{
    switch (id) {
    case 4: return "q4_2";
    case 5: return "q4_3";
    case 31: return "q4_0_4_4";
    case 32: return "q4_0_4_8";
    case 33: return "q4_0_8_8";
    case 36: return "iq4_nl_4_4";
    case 37: return "iq4_nl_4_8";
    case 38: return "iq4_nl_8_8";
    default: return NULL;
    }
}
