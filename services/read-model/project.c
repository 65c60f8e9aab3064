/* Event projection into rm_* tables; see project.h. The status and step rules are the pure
 * order_view_apply (projection.c); this file only moves rows. */
#include "project.h"
#include "projection.h"

#include "ev/pg.h"
#include "ev/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Creates the order's row if this is its first event, locks it and reads its view. */
static int lock_view(PGconn *tx, const char *order_id, const char *occurred_at, order_view *v,
                     char *err, size_t errlen)
{
    const char *params[] = {order_id, occurred_at};
    PGresult *r =
        ev_pg_query(tx,
                    "INSERT INTO rm_orders (order_id, created_at, updated_at) VALUES ($1, $2, $2)"
                    " ON CONFLICT (order_id) DO UPDATE SET order_id = EXCLUDED.order_id"
                    " RETURNING status, step_placed, step_inventory, step_payment, step_decision,"
                    " step_shipment, shipped",
                    2, params, err, errlen);
    if (!r)
        return -1;
    char *fields[] = {v->status, v->placed, v->inventory, v->payment, v->decision, v->shipment};
    for (int i = 0; i < 6; i++)
        ev_strlcpy(fields[i], PQgetvalue(r, 0, i), STEP_LEN);
    v->shipped = PQgetvalue(r, 0, 6)[0] == 't';
    PQclear(r);
    return 0;
}

static int quantity_sum(const json_t *items)
{
    int n = 0;
    size_t i;
    const json_t *line;
    json_array_foreach(items, i, line) n +=
        (int)json_integer_value(json_object_get(line, "quantity"));
    return n;
}

/* Writes the view back, with what OrderPlaced and OrderCancelled add; returns the list item. */
static json_t *store_view(PGconn *tx, const ev_envelope *e, const char *order_id,
                          const order_view *v, char *err, size_t errlen)
{
    const json_t *p = e->payload;
    bool placed = strcmp(e->event_type, "OrderPlaced") == 0;
    char total[24] = "", count[16] = "";
    char *items = placed ? json_dumps(json_object_get(p, "items"), JSON_COMPACT) : NULL;
    if (placed) {
        snprintf(total, sizeof total, "%lld",
                 (long long)json_integer_value(json_object_get(p, "totalCents")));
        snprintf(count, sizeof count, "%d", quantity_sum(json_object_get(p, "items")));
    }
    const char *reason = strcmp(e->event_type, "OrderCancelled") == 0
                             ? json_string_value(json_object_get(p, "reason"))
                             : NULL;
    const char *params[] = {order_id,
                            v->status,
                            v->placed,
                            v->inventory,
                            v->payment,
                            v->decision,
                            v->shipment,
                            v->shipped ? "true" : "false",
                            e->occurred_at,
                            placed ? json_string_value(json_object_get(p, "customerId")) : NULL,
                            placed ? total : NULL,
                            placed ? json_string_value(json_object_get(p, "currency")) : NULL,
                            items,
                            placed ? count : NULL,
                            placed ? e->correlation_id : NULL,
                            reason};
    PGresult *r = ev_pg_query(
        tx,
        "UPDATE rm_orders SET status = $2, step_placed = $3, step_inventory = $4,"
        " step_payment = $5, step_decision = $6, step_shipment = $7, shipped = $8,"
        " updated_at = greatest(updated_at, $9::timestamptz),"
        " created_at = CASE WHEN $10::text IS NULL THEN least(created_at, $9::timestamptz)"
        "                   ELSE $9::timestamptz END,"
        " customer_id = coalesce($10, customer_id), total_cents = coalesce($11::bigint, "
        "total_cents),"
        " currency = coalesce($12, currency), items = coalesce($13::jsonb, items),"
        " item_count = coalesce($14::int, item_count),"
        " correlation_id = coalesce($15::uuid, correlation_id),"
        " cancel_reason = coalesce($16, cancel_reason)"
        " WHERE order_id = $1 RETURNING " ORDER_ITEM_JSON "::text",
        16, params, err, errlen);
    free(items);
    if (!r)
        return NULL;
    json_t *item = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
    PQclear(r);
    return item;
}

static json_t *store_timeline(PGconn *tx, const ev_envelope *e, const char *order_id,
                              const char *topic, int32_t partition, int64_t offset, char *err,
                              size_t errlen)
{
    char version[16], part[16], off[24];
    snprintf(version, sizeof version, "%d", e->version);
    snprintf(part, sizeof part, "%d", partition);
    snprintf(off, sizeof off, "%lld", (long long)offset);
    char *payload = json_dumps(e->payload, JSON_COMPACT);
    const char *params[] = {e->event_id,    order_id,          e->event_type, version, e->producer,
                            e->occurred_at, e->correlation_id, topic,         part,    off,
                            payload};
    PGresult *r = ev_pg_query(
        tx,
        "INSERT INTO rm_timeline (event_id, order_id, event_type, version, producer, occurred_at,"
        " correlation_id, topic, partition, \"offset\", payload)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb)"
        " ON CONFLICT (event_id) DO NOTHING",
        11, params, err, errlen);
    free(payload);
    if (!r)
        return NULL;
    PQclear(r);
    return json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:i, s:I, s:O}", "orderId", order_id,
                     "eventId", e->event_id, "eventType", e->event_type, "version", e->version,
                     "producer", e->producer, "occurredAt", e->occurred_at, "correlationId",
                     e->correlation_id, "topic", topic, "partition", partition, "offset",
                     (json_int_t)offset, "payload", e->payload);
}

/* Stock moves with reservations: sign +1 takes units, -1 gives them back. SKUs the read
 * model does not list (not in the seeded catalog) are ignored. */
static int move_stock(PGconn *tx, const json_t *items, int sign, char *err, size_t errlen)
{
    size_t i;
    const json_t *line;
    json_array_foreach(items, i, line)
    {
        char q[16];
        snprintf(q, sizeof q, "%lld",
                 (long long)(sign * json_integer_value(json_object_get(line, "quantity"))));
        const char *params[] = {json_string_value(json_object_get(line, "sku")), q};
        if (!params[0] || ev_pg_exec(tx,
                                     "UPDATE rm_stock SET available = available - $2::int,"
                                     " reserved = reserved + $2::int WHERE sku = $1",
                                     2, params, err, errlen) != 0)
            return -1;
    }
    return 0;
}

static int project_facts(PGconn *tx, const ev_envelope *e, const char *order_id, char *err,
                         size_t errlen)
{
    const json_t *p = e->payload;
    const char *t = e->event_type;
    if (strcmp(t, "InventoryReserved") == 0)
        return move_stock(tx, json_object_get(p, "items"), +1, err, errlen);
    if (strcmp(t, "InventoryReleased") == 0)
        return move_stock(tx, json_object_get(p, "items"), -1, err, errlen);
    if (strcmp(t, "ShipmentCreated") == 0) {
        const char *params[] = {order_id, json_string_value(json_object_get(p, "shipmentId")),
                                json_string_value(json_object_get(p, "status")), e->occurred_at};
        return ev_pg_exec(tx,
                          "INSERT INTO rm_shipments (order_id, shipment_id, status, created_at)"
                          " VALUES ($1, $2, $3, $4) ON CONFLICT (order_id) DO NOTHING",
                          4, params, err, errlen);
    }
    if (strcmp(t, "OrderPlaced") == 0) {
        const char *params[] = {e->occurred_at};
        return ev_pg_exec(
            tx,
            "INSERT INTO rm_placed_per_minute (minute, count)"
            " VALUES (date_trunc('minute', $1::timestamptz), 1)"
            " ON CONFLICT (minute) DO UPDATE SET count = rm_placed_per_minute.count + 1",
            1, params, err, errlen);
    }
    return 0;
}

int project_event(PGconn *tx, const ev_envelope *e, const char *topic, int32_t partition,
                  int64_t offset, json_t *changes, char *err, size_t errlen)
{
    const char *order_id = json_string_value(json_object_get(e->payload, "orderId"));
    order_view v;
    if (lock_view(tx, order_id, e->occurred_at, &v, err, errlen) != 0)
        return -1;
    order_view_apply(&v, e->event_type);
    json_t *item = store_view(tx, e, order_id, &v, err, errlen);
    json_t *entry =
        item ? store_timeline(tx, e, order_id, topic, partition, offset, err, errlen) : NULL;
    int rc = entry && project_facts(tx, e, order_id, err, errlen) == 0 ? 0 : -1;
    if (rc == 0 && changes) {
        json_array_append_new(changes, json_pack("{s:s, s:O}", "type", "order", "order", item));
        json_array_append_new(changes, json_pack("{s:s, s:O}", "type", "event", "event", entry));
    }
    json_decref(item);
    json_decref(entry);
    return rc;
}

int project_reset(PGconn *tx, char *err, size_t errlen)
{
    return ev_pg_exec(tx,
                      "TRUNCATE rm_orders, rm_timeline, rm_shipments, rm_placed_per_minute, inbox;"
                      " UPDATE rm_stock SET available = initial, reserved = 0",
                      0, NULL, err, errlen);
}
