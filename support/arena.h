/*
 * arena.h: lifetime arenas. A model, a compile or a request owns one; what is
 * allocated from it is freed all at once by arena_free(). Allocation failure
 * returns NULL (callers turn that into RF_E_NOMEM); nothing is freed singly.
 */
#ifndef RF_SUPPORT_ARENA_H
#define RF_SUPPORT_ARENA_H

#include <stddef.h>

typedef struct arena_chunk arena_chunk;
typedef struct arena {
    arena_chunk *head;
    size_t used;       /* bytes handed out, for statistics */
} arena;

void arena_init(arena *a);
void *arena_alloc(arena *a, size_t size);              /* 16-byte aligned, uninitialised */
void *arena_calloc(arena *a, size_t n, size_t size);   /* zeroed; NULL on n*size overflow */
char *arena_strndup(arena *a, const char *s, size_t n);/* NUL-terminated copy */
void arena_free(arena *a);

#endif
