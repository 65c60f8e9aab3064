/* Projects one event into the read model's tables, inside the caller's transaction. Used by
 * the live consumer and by --rebuild, so both produce the same rows. */
#ifndef PROJECT_H
#define PROJECT_H

#include "ev/envelope.h"

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

/* Empties every projection (stock and products too: they are the sum of events) and the
 * inbox. */
int project_reset(PGconn *tx, char *err, size_t errlen);

#endif
