/*
 * plan_check.h: the memory plan of a compiled graph, checked from the
 * schedule alone (see plan_check.c).
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

#endif
