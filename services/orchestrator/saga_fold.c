/* Folding a batch of saga events over their sagas; see saga_fold.h. */
#include "saga_fold.h"

#include "ev/group.h"

#include <stdlib.h>

static const char *event_order_id(const void *events, size_t i)
{
    return ((const saga_fold_event *)events)[i].order_id;
}

int saga_fold_collect(const saga_fold_event *events, size_t n, saga_fold_saga *sagas,
                      size_t *saga_of, size_t *count)
{
    size_t *first = malloc((n ? n : 1) * sizeof *first);
    long m = first ? ev_group_by_key(events, n, event_order_id, saga_of, first) : -1;
    for (long g = 0; g < m; g++)
        sagas[g] = (saga_fold_saga){
            .order_id = events[first[g]].order_id, .first_event = first[g], .state = SAGA_STARTED};
    free(first);
    if (m < 0)
        return -1;
    *count = (size_t)m;
    return 0;
}

static const char *saga_fold_find_key(const void *items, size_t i)
{
    return ((const saga_fold_saga *)items)[i].order_id;
}

long saga_fold_find(const saga_fold_saga *sagas, size_t count, const char *order_id)
{
    return ev_group_find(sagas, count, saga_fold_find_key, order_id);
}

void saga_fold_apply(saga_fold_saga *sagas, const saga_fold_event *events, size_t n,
                     const size_t *saga_of, saga_fold_step *steps)
{
    for (size_t i = 0; i < n; i++) {
        saga_fold_saga *s = &sagas[saga_of[i]];
        steps[i].from = s->state;
        steps[i].step = saga_step(s->state, events[i].event, events[i].detail);
        s->state = steps[i].step.state;
        if (steps[i].step.emit == SAGA_EMIT_CANCELLED)
            s->reason = steps[i].step.reason;
    }
}
