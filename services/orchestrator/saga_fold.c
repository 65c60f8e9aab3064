/* Folding a batch of saga events over their sagas; see saga_fold.h. */
#include "saga_fold.h"

#include <stdlib.h>
#include <strings.h>

typedef struct {
    const saga_fold_event *events;
    size_t index;
} ranked;

/* By order id, then by position in the batch (qsort is not stable). */
static int by_order(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    int c = strcasecmp(x->events[x->index].order_id, y->events[y->index].order_id);
    if (c)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

int saga_fold_collect(const saga_fold_event *events, size_t n, saga_fold_saga *sagas,
                      size_t *saga_of, size_t *count)
{
    ranked *sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted)
        return -1;
    for (size_t i = 0; i < n; i++)
        sorted[i] = (ranked){.events = events, .index = i};
    qsort(sorted, n, sizeof *sorted, by_order);
    size_t m = 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = sorted[k].index;
        if (m == 0 || strcasecmp(sagas[m - 1].order_id, events[i].order_id) != 0)
            sagas[m++] = (saga_fold_saga){
                .order_id = events[i].order_id, .first_event = i, .state = SAGA_STARTED};
        saga_of[i] = m - 1;
    }
    free(sorted);
    *count = m;
    return 0;
}

long saga_fold_find(const saga_fold_saga *sagas, size_t count, const char *order_id)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcasecmp(sagas[mid].order_id, order_id);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
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
