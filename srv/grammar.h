/*
 * grammar.h: JSON (and JSON-schema) constrained sampling for the server
 * (grammar.c). A schema compiles once a request; the recognizer's state is
 * copied and fed each candidate token's bytes to see whether it may follow.
 */
#ifndef RF_SRV_GRAMMAR_H
#define RF_SRV_GRAMMAR_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define GRAMMAR_DEPTH 24 /* values nested in the reply */
#define GRAMMAR_BUF 64   /* the longest enum text or property name matched */

typedef struct gnode gnode;

typedef struct gframe {
    const gnode *node; /* NULL: any value */
    uint8_t mode;
    int16_t key;       /* an object's property being read */
    uint64_t seen;     /* an object's properties given */
} gframe;

typedef struct gstate {
    const gnode *root;
    int depth;
    char buf[GRAMMAR_BUF];
    uint8_t len, esc, num, ws, nl;
    bool started, failed;
    gframe f[GRAMMAR_DEPTH];   /* last: srv_grammar_copy copies only the frames in use */
} gstate;

/* the schema of a json_schema response_format; NULL with msg (256 bytes) set */
gnode *srv_grammar_compile(const json_t *schema, char *msg);
gnode *srv_grammar_json_object(void); /* json_object: any object */
void srv_grammar_free(gnode *n);

void srv_grammar_start(gstate *s, const gnode *root);
static inline void srv_grammar_copy(gstate *dst, const gstate *src)
{
    __builtin_memcpy(dst, src, __builtin_offsetof(gstate, f) + (size_t)src->depth * sizeof src->f[0]);
}
/* false: byte c cannot come next (the state is then failed) */
bool srv_grammar_feed(gstate *s, unsigned char c);
/* may the reply end here (a complete value)? */
bool srv_grammar_can_end(const gstate *s);

#endif
