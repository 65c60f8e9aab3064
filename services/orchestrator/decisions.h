/* Saga decisions noted inside a transaction and turned into metrics only once it committed:
 * saga_duration_seconds{outcome} (from the saga's start to its decision) and
 * saga_deadline_cancellations_total. A rolled-back transaction's notes are dropped, so a
 * retried batch never counts a saga twice. Used by one thread (the worker's); no allocation. */
#ifndef ORCHESTRATOR_DECISIONS_H
#define ORCHESTRATOR_DECISIONS_H

#include "saga.h"

#include "ev/metrics.h"

#include <stdbool.h>
#include <stddef.h>

/* A worker transaction handles at most 128 events; a deadline pass decides at most 100. */
#define DECISIONS_MAX 128

typedef struct {
    saga_emit outcome; /* SAGA_EMIT_CONFIRMED or SAGA_EMIT_CANCELLED */
    bool by_deadline;
    double seconds;
} decision;

typedef struct {
    decision items[DECISIONS_MAX];
    size_t count;
} decisions;

/* The outcome label: "confirmed", "cancelled", or NULL for SAGA_EMIT_NOTHING. Pure. */
const char *decision_outcome_label(saga_emit outcome);

/* Notes one decision; false (nothing noted) when the buffer is full or outcome is
 * SAGA_EMIT_NOTHING. */
bool decisions_note(decisions *d, saga_emit outcome, bool by_deadline, double seconds);

/* After the transaction: committed records every note in m, otherwise drops them. Either way
 * the buffer is empty afterwards. */
void decisions_settle(decisions *d, ev_metrics *m, bool committed);

#endif
