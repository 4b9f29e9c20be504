/*
 * schedule.c: order the nodes so that each group's members are contiguous,
 * then renumber the groups in execution order.
 *
 * Units are the groups and the ungrouped computing nodes (views). List
 * scheduling: repeatedly emit, among the units whose operands are all
 * emitted, the one whose earliest member came first in the old order; a
 * unit's members keep their relative order. Leaves (inputs, weights) are
 * emitted just before the first unit that reads them, so a printed group
 * block holds only its own nodes and each weight stands next to its use. The fusion passes only build
 * convex groups, so this always completes; if it cannot (a broken pass),
 * that is reported, not looped on.
 */
#include <stdlib.h>
#include <string.h>

#include "ir/passes/passes.h"
#include "support/error.h"

rf_status ir_pass_schedule(ir_graph *g, rf_error *err)
{
    uint32_t n = g->n_nodes, n_units = 0;
    /* unit of each node: group g → unit index; ungrouped node → own unit */
    uint32_t *unit_of_group = malloc((g->n_groups + 1) * sizeof *unit_of_group);
    uint32_t *unit = malloc((n ? n : 1) * sizeof *unit);           /* by position */
    uint32_t *unit_by_id = malloc((g->next_id ? g->next_id : 1) * sizeof *unit_by_id);
    uint32_t *unit_first = malloc((n ? n : 1) * sizeof *unit_first); /* earliest position */
    bool *done = calloc(n ? n : 1, sizeof *done);
    ir_node **order = malloc((n ? n : 1) * sizeof *order);
    uint32_t *new_id = calloc(g->n_groups + 1, sizeof *new_id);
    rf_status s = RF_OK;
    if (!unit_of_group || !unit || !unit_by_id || !unit_first || !done || !order || !new_id) {
        s = rf_fail(err, RF_E_NOMEM, "out of memory");
        goto out;
    }
    for (uint32_t k = 0; k <= g->n_groups; k++)
        unit_of_group[k] = UINT32_MAX;
    for (uint32_t i = 0; i < n; i++) {
        ir_node *nd = g->nodes[i];
        uint32_t u;
        if (nd->group) {
            if (unit_of_group[nd->group] == UINT32_MAX) {
                unit_of_group[nd->group] = n_units;
                unit_first[n_units++] = i;
            }
            u = unit_of_group[nd->group];
        } else {
            u = n_units;
            unit_first[n_units++] = i;
        }
        unit[i] = u;
        unit_by_id[nd->id] = u;
    }
    /* units are numbered in order of their first member, so scanning unit
     * indices upward is scanning by earliest member */
    uint32_t emitted = 0, units_done = 0, next_group = 0;
    bool *unit_done = done; /* reuse: indexed by unit (n_units <= n) */
    while (units_done < n_units) {
        bool progress = false;
        for (uint32_t u = 0; u < n_units; u++) {
            if (unit_done[u] || ir_is_leaf(g->nodes[unit_first[u]]))
                continue;
            bool ready = true;
            for (uint32_t i = unit_first[u]; i < n && ready; i++) {
                if (unit[i] != u)
                    continue;
                for (uint8_t k = 0; k < g->nodes[i]->n_in && ready; k++) {
                    const ir_node *o = g->nodes[i]->in[k];
                    uint32_t du = unit_by_id[o->id];
                    ready = du == u || unit_done[du] || ir_is_leaf(o);
                }
            }
            if (!ready)
                continue;
            for (uint32_t i = unit_first[u]; i < n; i++) /* its leaves first */
                for (uint8_t k = 0; unit[i] == u && k < g->nodes[i]->n_in; k++) {
                    uint32_t lu = unit_by_id[g->nodes[i]->in[k]->id];
                    if (ir_is_leaf(g->nodes[i]->in[k]) && !unit_done[lu]) {
                        order[emitted++] = g->nodes[i]->in[k];
                        unit_done[lu] = true;
                        units_done++;
                    }
                }
            for (uint32_t i = unit_first[u]; i < n; i++)
                if (unit[i] == u)
                    order[emitted++] = g->nodes[i];
            unit_done[u] = true;
            units_done++;
            ir_node *head = g->nodes[unit_first[u]];
            if (head->group)
                new_id[head->group] = ++next_group;
            progress = true;
            break; /* restart from the earliest unit */
        }
        if (!progress) {
            s = rf_fail(err, RF_E_FORMAT, "the groups are not convex: no order executes them");
            goto out;
        }
    }
    /* renumber groups in execution order */
    ir_group *groups = malloc((g->n_groups ? g->n_groups : 1) * sizeof *groups);
    if (!groups) {
        s = rf_fail(err, RF_E_NOMEM, "out of memory");
        goto out;
    }
    for (uint32_t k = 1; k <= g->n_groups; k++) {
        groups[new_id[k] - 1] = g->groups[k - 1];
        groups[new_id[k] - 1].id = new_id[k];
    }
    memcpy(g->groups, groups, g->n_groups * sizeof *groups);
    free(groups);
    memcpy(g->nodes, order, n * sizeof *order);
    for (uint32_t i = 0; i < n; i++)
        if (g->nodes[i]->group)
            g->nodes[i]->group = new_id[g->nodes[i]->group];
out:
    free(unit_of_group);
    free(unit);
    free(unit_by_id);
    free(unit_first);
    free(done);
    free(order);
    free(new_id);
    return s;
}
