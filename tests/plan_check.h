/*
 * plan_check.h: checks of a graph from outside the compiler: its memory
 * plan, worked out again from the schedule alone (see plan_check.c), and
 * its text form's round trip.
 */
#ifndef RF_TEST_PLAN_CHECK_H
#define RF_TEST_PLAN_CHECK_H

#include "ir/ir.h"

/* Checks g's memory plan (after ir_run_pipeline): every value the workspace
 * holds has a 64-byte aligned offset with its bytes inside the workspace,
 * every view has its root's offset, inputs, weights and cache stores have
 * none, and any two values whose live ranges intersect occupy disjoint
 * bytes. Returns the number of violations; the first few are printed to
 * stderr, prefixed with `what`. */
int test_check_memplan(const ir_graph *g, const char *what);

/* g printed, parsed back and printed again gives the same text; returns 1
 * if so, else 0 with the parse error or the first differing line on
 * stderr, prefixed with `what`. */
int test_check_round_trip(const ir_graph *g, const char *what);

#endif
