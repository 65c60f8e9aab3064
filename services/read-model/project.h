/* Projects one event into the read model's tables, inside the caller's transaction. Used by
 * the live consumer and by --rebuild, so both produce the same rows. */
#ifndef PROJECT_H
#define PROJECT_H

#include "ev/envelope.h"
#include "ev/worker.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stdint.h>

/* The JSON of an order as /api/orders lists it, over a row of rm_orders. */
#define ORDER_ITEM_JSON                                                                            \
    "json_build_object('orderId', order_id, 'customerId', customer_id, 'status', status,"          \
    " 'shipped', shipped, 'totalCents', total_cents, 'currency', currency,"                        \
    " 'itemCount', item_count, 'createdAt', created_at, 'updatedAt', updated_at)"

/* The JSON of a product as /api/catalog lists it, over a row `s` of rm_stock. */
#define PRODUCT_ITEM_JSON                                                                          \
    "json_build_object('sku', s.sku, 'name', s.name, 'priceCents', s.price_cents,"                 \
    " 'currency', s.currency, 'revision', s.revision, 'available', s.available,"                   \
    " 'reserved', s.reserved, 'onHand', s.initial, 'updatedAt', s.updated_at)"

/* Applies e (validated and upcast) received from topic/partition/offset. When changes is
 * not NULL, appends the live-update messages ({"type":"order"…} and {"type":"event"…}, or
 * {"type":"product"…} for ProductUpserted and StockAdjusted) to it. Returns 0, or -1 with
 * err. */
int project_event(PGconn *tx, const ev_envelope *e, const char *topic, int32_t partition,
                  int64_t offset, json_t *changes, char *err, size_t errlen);

/* Projects the n deliveries of a fetched batch (validated, upcast, in the consumer's order)
 * as a set, ending in exactly the rows project_event gives them one after the other: the
 * orders' rows are locked and read in one statement (sorted by order id, so instances never
 * deadlock on them), the events folded in C (fold.h), and every table written in one more
 * statement; product events are projected one by one after them. When changes is not NULL,
 * appends the live updates: each event's {"type":"event"…}, preceded at each order's last
 * event by its {"type":"order"…} as the batch left it, then the products'. Returns 0, or -1
 * with err (roll back: the per-event path takes the events one by one). */
int project_batch(PGconn *tx, const ev_delivery *ds, size_t n, json_t *changes, char *err,
                  size_t errlen);

/* Empties every projection (stock and products too: they are the sum of events) and the
 * inbox. */
int project_reset(PGconn *tx, char *err, size_t errlen);

#endif
