/* A batch of saga events folded over the sagas they concern, for the orchestrator's
 * set-based batch handler (main.c). Pure: no database, unit-tested.
 *
 * What the per-event path does saga by saga, event after event (lock, saga_step, store), the
 * fold does for the whole batch at once with the same result: each event steps its saga from
 * the state the previous event of that saga left, in the batch's order, so every event gets
 * the same from-state, step and decision as when handled alone. The sagas are sorted by
 * order id, the order in which every orchestrator instance locks their rows, so two
 * instances never wait on each other in a cycle. */
#ifndef SAGA_FOLD_H
#define SAGA_FOLD_H

#include "saga.h"

#include <stdbool.h>
#include <stddef.h>

/* One saga event of the batch, all borrowed. */
typedef struct {
    const char *order_id; /* a UUID; spellings differing only in case are one saga */
    const char *correlation_id;
    saga_event event;
    const char *detail; /* the failing event's reason, or NULL */
} saga_fold_event;

typedef struct {
    const char *order_id; /* borrowed: its first event's */
    size_t first_event;   /* index of its first event (whose correlation id creates it) */
    saga_state state;     /* the stored state, set before saga_fold_apply; then the last */
    const char *reason;   /* the last cancellation's reason of the batch (in a step), or NULL */
} saga_fold_saga;

/* What event i did to its saga. */
typedef struct {
    saga_state from;
    saga_step_result step;
} saga_fold_step;

/* The distinct sagas of the n events into sagas (room for n) and their number into *count,
 * sorted by order id without regard to case; saga_of[i] is event i's index in sagas. States
 * start as SAGA_STARTED (a saga not stored yet). Returns 0, or -1 when out of memory. */
int saga_fold_collect(const saga_fold_event *events, size_t n, saga_fold_saga *sagas,
                      size_t *saga_of, size_t *count);

/* Index of the saga named order_id (case ignored) among count sorted sagas, or -1. */
long saga_fold_find(const saga_fold_saga *sagas, size_t count, const char *order_id);

/* Steps every event, in the batch's order, from its saga's current state; steps[i] is event
 * i's (room for n). Each saga's state and reason end as the last step left them; a reason
 * points into steps, which must outlive its use. */
void saga_fold_apply(saga_fold_saga *sagas, const saga_fold_event *events, size_t n,
                     const size_t *saga_of, saga_fold_step *steps);

#endif
