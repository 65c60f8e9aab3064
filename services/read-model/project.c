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

/* The per-type side effect, as a data-modifying CTE run in the same statement as the order
 * update and the timeline insert ($17.. are its parameters): one round trip per event. */
static const char *facts_cte(const char *type)
{
    if (strcmp(type, "InventoryReserved") == 0 || strcmp(type, "InventoryReleased") == 0)
        /* $17 skus, $18 quantities (signed: + reserves, - releases). The row may not exist
         * yet (its product's events can come later): it is made, and named when they do. */
        return ", m AS (SELECT sku, sum(q)::int AS q FROM unnest($17::text[], $18::int[])"
               " AS x(sku, q) GROUP BY sku),"
               " f AS (INSERT INTO rm_stock AS s (sku, available, reserved)"
               " SELECT sku, -q, q FROM m ON CONFLICT (sku) DO UPDATE SET"
               " available = s.available + EXCLUDED.available,"
               " reserved = s.reserved + EXCLUDED.reserved),"
               " g AS (INSERT INTO rm_stock_movements (event_id, sku, kind, delta, order_id,"
               " occurred_at) SELECT $19, sku, CASE WHEN q > 0 THEN 'RESERVED' ELSE 'RELEASED'"
               " END, q, $1, $9 FROM m ON CONFLICT DO NOTHING)";
    if (strcmp(type, "ShipmentCreated") == 0) /* $17 shipmentId, $18 status */
        return ", f AS (INSERT INTO rm_shipments (order_id, shipment_id, status, created_at)"
               " VALUES ($1, $17::uuid, $18, $9) ON CONFLICT (order_id) DO NOTHING)";
    if (strcmp(type, "OrderPlaced") == 0)
        return ", f AS (INSERT INTO rm_placed_per_minute (minute, count)"
               " VALUES (date_trunc('minute', $9::timestamptz), 1) ON CONFLICT (minute)"
               " DO UPDATE SET count = rm_placed_per_minute.count + 1),"
               " unused AS (SELECT $17::text, $18::text)"; /* every parameter needs a type */
    return ", unused AS (SELECT $17::text, $18::text)";
}

#define UPDATE_ORDER_SQL                                                                           \
    "WITH o AS (UPDATE rm_orders SET status = $2, step_placed = $3, step_inventory = $4,"          \
    " step_payment = $5, step_decision = $6, step_shipment = $7, shipped = $8,"                    \
    " updated_at = greatest(updated_at, $9::timestamptz),"                                         \
    " created_at = CASE WHEN $10::text IS NULL THEN least(created_at, $9::timestamptz)"            \
    "                   ELSE $9::timestamptz END,"                                                 \
    " customer_id = coalesce($10, customer_id), total_cents = coalesce($11::bigint, total_cents)," \
    " currency = coalesce($12, currency), items = coalesce($13::jsonb, items),"                    \
    " item_count = coalesce($14::int, item_count),"                                                \
    " correlation_id = coalesce($15::uuid, correlation_id),"                                       \
    " cancel_reason = coalesce($16, cancel_reason)"                                                \
    " WHERE order_id = $1 RETURNING " ORDER_ITEM_JSON " AS item),"                                 \
    " t AS (INSERT INTO rm_timeline (event_id, order_id, event_type, version, producer,"           \
    " occurred_at, correlation_id, topic, partition, \"offset\", payload)"                         \
    " VALUES ($19, $1, $20, $21, $22, $9, $23, $24, $25, $26, $27::jsonb)"                         \
    " ON CONFLICT (event_id) DO NOTHING)"

/* Stock lines of an inventory event as two array literals: "{a,b}" and "{1,-2}". */
static void stock_arrays(const json_t *items, int sign, char *skus, size_t skus_n, char *qty,
                         size_t qty_n)
{
    size_t us = 0, uq = 0, i, written = 0;
    const json_t *line;
    us += (size_t)snprintf(skus, skus_n, "{");
    uq += (size_t)snprintf(qty, qty_n, "{");
    json_array_foreach(items, i, line)
    {
        const char *sku = json_string_value(json_object_get(line, "sku"));
        long long q = sign * json_integer_value(json_object_get(line, "quantity"));
        if (!sku || strpbrk(sku, "\",{}\\ ") || us + strlen(sku) + 4 >= skus_n || uq + 24 >= qty_n)
            continue; /* not a SKU the read model lists */
        us += (size_t)snprintf(skus + us, skus_n - us, "%s%s", written ? "," : "", sku);
        uq += (size_t)snprintf(qty + uq, qty_n - uq, "%s%lld", written++ ? "," : "", q);
    }
    snprintf(skus + us, skus_n - us, "}");
    snprintf(qty + uq, qty_n - uq, "}");
}

/* Writes the view back with what the event adds, its timeline entry and its side effect,
 * in one statement. Returns the order's list item. */
static json_t *store(PGconn *tx, const ev_envelope *e, const char *order_id, const order_view *v,
                     const char *topic, int32_t partition, int64_t offset, char *err, size_t errlen)
{
    const json_t *p = e->payload;
    const char *t = e->event_type;
    bool placed = strcmp(t, "OrderPlaced") == 0;
    char total[24] = "", count[16] = "", version[16], part[16], off[24];
    char skus[2048] = "{}", qty[1024] = "{}";
    char *items = placed ? json_dumps(json_object_get(p, "items"), JSON_COMPACT) : NULL;
    char *payload = json_dumps(p, JSON_COMPACT);
    if (placed) {
        snprintf(total, sizeof total, "%lld",
                 (long long)json_integer_value(json_object_get(p, "totalCents")));
        snprintf(count, sizeof count, "%d", quantity_sum(json_object_get(p, "items")));
    }
    snprintf(version, sizeof version, "%d", e->version);
    snprintf(part, sizeof part, "%d", partition);
    snprintf(off, sizeof off, "%lld", (long long)offset);
    const char *fact1 = NULL, *fact2 = NULL;
    int nparams = 27;
    if (strcmp(t, "InventoryReserved") == 0 || strcmp(t, "InventoryReleased") == 0) {
        stock_arrays(json_object_get(p, "items"), strcmp(t, "InventoryReserved") == 0 ? 1 : -1,
                     skus, sizeof skus, qty, sizeof qty);
        fact1 = skus;
        fact2 = qty;
    } else if (strcmp(t, "ShipmentCreated") == 0) {
        fact1 = json_string_value(json_object_get(p, "shipmentId"));
        fact2 = json_string_value(json_object_get(p, "status"));
    }
    const char *reason =
        strcmp(t, "OrderCancelled") == 0 ? json_string_value(json_object_get(p, "reason")) : NULL;
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
                            reason,
                            fact1,
                            fact2,
                            e->event_id,
                            t,
                            version,
                            e->producer,
                            e->correlation_id,
                            topic,
                            part,
                            off,
                            payload};
    char sql[4096];
    snprintf(sql, sizeof sql, "%s%s SELECT item::text FROM o", UPDATE_ORDER_SQL, facts_cte(t));
    PGresult *r = ev_pg_query(tx, sql, nparams, params, err, errlen);
    free(items);
    free(payload);
    if (!r)
        return NULL;
    json_t *item = PQntuples(r) ? json_loads(PQgetvalue(r, 0, 0), 0, NULL) : NULL;
    PQclear(r);
    if (!item)
        ev_fail(err, errlen, "order %s vanished", order_id);
    return item;
}

static json_t *timeline_entry(const ev_envelope *e, const char *order_id, const char *topic,
                              int32_t partition, int64_t offset)
{
    return json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:i, s:I, s:O}", "orderId", order_id,
                     "eventId", e->event_id, "eventType", e->event_type, "version", e->version,
                     "producer", e->producer, "occurredAt", e->occurred_at, "correlationId",
                     e->correlation_id, "topic", topic, "partition", partition, "offset",
                     (json_int_t)offset, "payload", e->payload);
}

/* Whether the ProductUpserted being applied (EXCLUDED) is newer than what row s shows:
 * higher revision, or the same revision and later. Events of one product can reach the read
 * model in any order (a replay, another producer): the newest wins whatever the order, so a
 * rebuild from the log ends in the same row. */
#define NEWER_PRODUCT                                                                              \
    "(s.revision, coalesce(s.upserted_at, '-infinity'))"                                           \
    " < (EXCLUDED.revision, EXCLUDED.upserted_at)"
#define IF_NEWER(column)                                                                           \
    column " = CASE WHEN " NEWER_PRODUCT " THEN EXCLUDED." column " ELSE s." column " END"

#define SET_PRODUCT_IF_NEWER                                                                       \
    IF_NEWER("name")                                                                               \
    ", " IF_NEWER("price_cents") ", " IF_NEWER("currency") ", " IF_NEWER(                          \
        "revision") ", " IF_NEWER("upserted_at")

/* ProductUpserted: name and price of the newest, and a line of price history for every
 * event (a set: the same whatever the order). */
static const char upsert_product_sql[] =
    "WITH h AS (INSERT INTO rm_price_history (event_id, sku, name, price_cents, currency,"
    " revision, occurred_at) VALUES ($6, $1, $2, $3, $4, $5, $7) ON CONFLICT DO NOTHING)"
    " INSERT INTO rm_stock AS s (sku, name, price_cents, currency, revision, upserted_at,"
    " updated_at) VALUES ($1, $2, $3, $4, $5, $7, $7)"
    " ON CONFLICT (sku) DO UPDATE SET " SET_PRODUCT_IF_NEWER ","
    " updated_at = greatest(s.updated_at, EXCLUDED.updated_at)"
    " RETURNING " PRODUCT_ITEM_JSON "::text";

/* StockAdjusted: on hand and available move by delta; a line of stock history. */
static const char adjust_stock_sql[] =
    "WITH m AS (INSERT INTO rm_stock_movements (event_id, sku, kind, delta, reason, occurred_at)"
    " VALUES ($4, $1, CASE WHEN $2::int > 0 THEN 'RECEIVED' ELSE 'WRITTEN_OFF' END, $2, $3, $5)"
    " ON CONFLICT DO NOTHING)"
    " INSERT INTO rm_stock AS s (sku, initial, available, updated_at) VALUES ($1, $2, $2, $5)"
    " ON CONFLICT (sku) DO UPDATE SET initial = s.initial + EXCLUDED.initial,"
    " available = s.available + EXCLUDED.available,"
    " updated_at = greatest(s.updated_at, EXCLUDED.updated_at)"
    " RETURNING " PRODUCT_ITEM_JSON "::text";

static int project_product(PGconn *tx, const ev_envelope *e, json_t *changes, char *err,
                           size_t errlen)
{
    const json_t *p = e->payload;
    char number[24], revision[24];
    PGresult *r;
    if (strcmp(e->event_type, "ProductUpserted") == 0) {
        snprintf(number, sizeof number, "%lld",
                 (long long)json_integer_value(json_object_get(p, "priceCents")));
        snprintf(revision, sizeof revision, "%lld",
                 (long long)json_integer_value(json_object_get(p, "revision")));
        const char *params[] = {json_string_value(json_object_get(p, "sku")),
                                json_string_value(json_object_get(p, "name")),
                                number,
                                json_string_value(json_object_get(p, "currency")),
                                revision,
                                e->event_id,
                                e->occurred_at};
        r = ev_pg_query(tx, upsert_product_sql, 7, params, err, errlen);
    } else {
        snprintf(number, sizeof number, "%lld",
                 (long long)json_integer_value(json_object_get(p, "delta")));
        const char *params[] = {json_string_value(json_object_get(p, "sku")), number,
                                json_string_value(json_object_get(p, "reason")), e->event_id,
                                e->occurred_at};
        r = ev_pg_query(tx, adjust_stock_sql, 5, params, err, errlen);
    }
    if (!r)
        return -1;
    json_t *product = PQntuples(r) ? json_loads(PQgetvalue(r, 0, 0), 0, NULL) : NULL;
    PQclear(r);
    if (changes && product)
        json_array_append_new(changes,
                              json_pack("{s:s, s:o}", "type", "product", "product", product));
    else
        json_decref(product);
    return 0;
}

int project_event(PGconn *tx, const ev_envelope *e, const char *topic, int32_t partition,
                  int64_t offset, json_t *changes, char *err, size_t errlen)
{
    if (strcmp(e->event_type, "ProductUpserted") == 0 ||
        strcmp(e->event_type, "StockAdjusted") == 0)
        return project_product(tx, e, changes, err, errlen);
    const char *order_id = json_string_value(json_object_get(e->payload, "orderId"));
    order_view v;
    if (lock_view(tx, order_id, e->occurred_at, &v, err, errlen) != 0)
        return -1;
    order_view_apply(&v, e->event_type);
    json_t *item = store(tx, e, order_id, &v, topic, partition, offset, err, errlen);
    if (!item)
        return -1;
    if (changes) {
        json_array_append_new(changes, json_pack("{s:s, s:o}", "type", "order", "order", item));
        json_array_append_new(changes,
                              json_pack("{s:s, s:o}", "type", "event", "event",
                                        timeline_entry(e, order_id, topic, partition, offset)));
    } else {
        json_decref(item);
    }
    return 0;
}

int project_reset(PGconn *tx, char *err, size_t errlen)
{
    return ev_pg_exec(tx,
                      "TRUNCATE rm_orders, rm_timeline, rm_shipments, rm_placed_per_minute,"
                      " rm_stock, rm_stock_movements, rm_price_history, inbox",
                      0, NULL, err, errlen);
}
