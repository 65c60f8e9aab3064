/* The shipments a fetched batch of OrderConfirmed events may create, for the shipping
 * service's set-based batch handler (main.c). Pure: no database, unit-tested.
 *
 * The per-event path tries to insert one shipment per OrderConfirmed: the first for an order
 * creates it and emits ShipmentCreated, every later one finds the row and emits nothing. So a
 * batch tries one shipment per order, for the order's first OrderConfirmed in the batch; the
 * ones the database took emit their events in the batch's order. The orders are sorted by
 * order id, the order in which every instance inserts their rows, so two instances never
 * wait on each other in a cycle. */
#ifndef SHIPMENT_BATCH_H
#define SHIPMENT_BATCH_H

#include <stdbool.h>
#include <stddef.h>

/* One shipment to try, all borrowed. */
typedef struct {
    const char *order_id; /* its event's: a UUID, spellings differing only in case are one */
    size_t event;         /* index of the order's first OrderConfirmed in the batch */
    bool created;         /* set by the caller once the row was inserted */
} shipment_try;

/* The shipments to try for the n events (event_types[i], order_ids[i]; an order id is not
 * NULL for an OrderConfirmed) into tries (room for n) and their number into *count, one per
 * order confirmed in the batch, sorted by order id without regard to case. Other events are
 * left out. Returns 0, or -1 when out of memory. */
int shipment_batch_plan(const char *const *event_types, const char *const *order_ids, size_t n,
                        shipment_try *tries, size_t *count);

/* Index of the try for order_id (case ignored) among count sorted tries, or -1. */
long shipment_batch_find(const shipment_try *tries, size_t count, const char *order_id);

/* Which events emit ShipmentCreated: creates[i] (room for n) is true for event i when it is
 * a try's event and the try created its shipment. */
void shipment_batch_creators(const shipment_try *tries, size_t count, size_t n, bool *creates);

#endif
