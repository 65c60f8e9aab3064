/* Saga decision metrics recorded after commit; see decisions.h. */
#include "decisions.h"

#include <stdio.h>

const char *decision_outcome_label(saga_emit outcome)
{
    switch (outcome) {
    case SAGA_EMIT_CONFIRMED:
        return "confirmed";
    case SAGA_EMIT_CANCELLED:
        return "cancelled";
    case SAGA_EMIT_NOTHING:
        break;
    }
    return NULL;
}

bool decisions_note(decisions *d, saga_emit outcome, bool by_deadline, double seconds)
{
    if (d->count == DECISIONS_MAX || !decision_outcome_label(outcome))
        return false;
    d->items[d->count++] = (decision){outcome, by_deadline, seconds};
    return true;
}

void decisions_settle(decisions *d, ev_metrics *m, bool committed)
{
    for (size_t i = 0; committed && i < d->count; i++) {
        const decision *x = &d->items[i];
        char labels[48];
        snprintf(labels, sizeof labels, "outcome=\"%s\"", decision_outcome_label(x->outcome));
        ev_metrics_observe(m, "saga_duration_seconds", labels, x->seconds);
        if (x->by_deadline)
            ev_metrics_add(m, "saga_deadline_cancellations_total", NULL, 1);
    }
    d->count = 0;
}
