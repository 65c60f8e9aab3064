/* A batch of order events folded into one row per order, for the read model's set-based
 * projection (project_batch, project.h). Pure: no database, unit-tested.
 *
 * What the per-event path does to an order's row event after event, the fold does at once,
 * with the same result: the status and steps are order_view_apply over the events in their
 * order; each column an event may set (customer, total, currency, items, item count,
 * correlation id, cancel reason) ends with the last value an event of the batch set, or the
 * row keeps its own; created_at restarts at the last OrderPlaced that names a customer. The
 * times themselves are compared in SQL, from the indexes recorded here. */
#ifndef FOLD_H
#define FOLD_H

#include "projection.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* One event of an order, all borrowed. */
typedef struct {
    const char *order_id; /* a UUID; spellings differing only in case are one order */
    const char *event_type;
    const char *correlation_id;
    const json_t *payload;
} fold_event;

typedef struct {
    const char *order_id; /* borrowed: its first event's */
    size_t last_event;    /* index of its last event in the batch */
    long placed_event;    /* its last OrderPlaced naming a customer, or -1 */
    order_view view;      /* the row's, set before fold_apply; then every event applied */
    /* The last value an event set, all borrowed from the events; NULL (has_totals false):
     * none did, the row keeps its own. */
    const char *customer_id, *currency, *correlation_id, *cancel_reason;
    const json_t *items;
    bool has_totals; /* total_cents and item_count were set (by an OrderPlaced) */
    long long total_cents;
    int item_count;
} order_fold;

/* The distinct orders of the n events into orders (room for n) and their number into
 * *count, sorted by order id without regard to case: the order in which every read-model
 * instance locks their rows, so two instances never wait on each other in a cycle.
 * order_of[i] is event i's index in orders. Views are set to order_view_init. Returns 0, or
 * -1 when out of memory. */
int fold_collect(const fold_event *events, size_t n, order_fold *orders, size_t *order_of,
                 size_t *count);

/* Applies every event, in their order, to its order's view and columns. */
void fold_apply(order_fold *orders, const fold_event *events, size_t n, const size_t *order_of);

/* The units of an OrderPlaced's lines: the sum of their quantities. */
int fold_item_count(const json_t *items);

#endif
