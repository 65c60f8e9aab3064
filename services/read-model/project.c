/* Event projection into rm_* tables; see project.h. The status and step rules are the pure
 * order_view_apply (projection.c), folded over a batch by fold.c; this file only moves rows. */
#include "project.h"
#include "fold.h"
#include "projection.h"

#include "ev/pg.h"
#include "ev/util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The columns of an order's view that the fold starts from. */
#define VIEW_COLUMNS                                                                               \
    "status, step_placed, step_inventory, step_payment, step_decision, step_shipment, shipped"

/* Lock-or-create without writing an existing row: the rows that exist are locked (FOR UPDATE
 * writes no new row version), the missing ones inserted. `INSERT … ON CONFLICT DO UPDATE SET
 * order_id = EXCLUDED.order_id`, which did the same in one clause, wrote a new version of every
 * existing row only to lock it, before the projection's own update wrote another: two
 * versions per order per batch. The two CTEs see the statement's snapshot, so a row is in one
 * of them, never both; a row another instance inserted meanwhile is in neither, and
 * lock_view fails the event, which the worker retries. */
static const char lock_view_sql[] =
    "WITH locked AS (SELECT " VIEW_COLUMNS " FROM rm_orders WHERE order_id = $1 FOR UPDATE),"
    " created AS (INSERT INTO rm_orders (order_id, created_at, updated_at) VALUES ($1, $2, $2)"
    " ON CONFLICT (order_id) DO NOTHING RETURNING " VIEW_COLUMNS ")"
    " SELECT " VIEW_COLUMNS " FROM locked UNION ALL SELECT " VIEW_COLUMNS " FROM created";

/* Creates the order's row if this is its first event, locks it and reads its view. */
static int lock_view(PGconn *tx, const char *order_id, const char *occurred_at, order_view *v,
                     char *err, size_t errlen)
{
    const char *params[] = {order_id, occurred_at};
    PGresult *r = ev_pg_query(tx, lock_view_sql, 2, params, err, errlen);
    if (!r)
        return -1;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return ev_fail(err, errlen, "order %s neither locked nor created", order_id);
    }
    char *fields[] = {v->status, v->placed, v->inventory, v->payment, v->decision, v->shipment};
    for (int i = 0; i < 6; i++)
        ev_strlcpy(fields[i], PQgetvalue(r, 0, i), STEP_LEN);
    v->shipped = PQgetvalue(r, 0, 6)[0] == 't';
    PQclear(r);
    return 0;
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
    " created_at = CASE WHEN $10::text IS NOT NULL THEN $9::timestamptz"                           \
    "                   WHEN customer_id IS NOT NULL THEN created_at"                              \
    "                   ELSE least(created_at, $9::timestamptz) END,"                              \
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

/* Stock lines of an inventory event as two array literals, {"A","B"} and {"1","-2"}, sized to
 * the event (an order has up to 100 lines of 64-character SKUs): *skus and *qty are allocated,
 * the caller frees both. A line without a SKU is no stock line. Returns 0, or -1 when out of
 * memory (both left NULL). */
static int stock_arrays(const json_t *items, int sign, char **skus, char **qty)
{
    size_t n = json_array_size(items), count = 0, i;
    const char **sku = calloc(n + 1, sizeof *sku), **quantity = calloc(n + 1, sizeof *quantity);
    char(*number)[24] = calloc(n + 1, sizeof *number);
    const json_t *line;
    *skus = *qty = NULL;
    if (sku && quantity && number) {
        json_array_foreach(items, i, line)
        {
            const char *s = json_string_value(json_object_get(line, "sku"));
            if (!s)
                continue;
            long long q = json_integer_value(json_object_get(line, "quantity"));
            snprintf(number[count], sizeof number[count], "%lld",
                     sign < 0 && q != LLONG_MIN ? -q : q);
            quantity[count] = number[count];
            sku[count++] = s;
        }
        *skus = ev_pg_array_literal(sku, count);
        *qty = ev_pg_array_literal(quantity, count);
    }
    free(sku);
    free(quantity);
    free(number);
    if (*skus && *qty)
        return 0;
    free(*skus);
    free(*qty);
    *skus = *qty = NULL;
    return -1;
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
    char *skus = NULL, *qty = NULL;
    char *items = placed ? json_dumps(json_object_get(p, "items"), JSON_COMPACT) : NULL;
    char *payload = json_dumps(p, JSON_COMPACT);
    if (placed) {
        snprintf(total, sizeof total, "%lld",
                 (long long)json_integer_value(json_object_get(p, "totalCents")));
        snprintf(count, sizeof count, "%d", fold_item_count(json_object_get(p, "items")));
    }
    snprintf(version, sizeof version, "%d", e->version);
    snprintf(part, sizeof part, "%d", partition);
    snprintf(off, sizeof off, "%lld", (long long)offset);
    const char *fact1 = NULL, *fact2 = NULL;
    int nparams = 27;
    if (strcmp(t, "InventoryReserved") == 0 || strcmp(t, "InventoryReleased") == 0) {
        if (stock_arrays(json_object_get(p, "items"), strcmp(t, "InventoryReserved") == 0 ? 1 : -1,
                         &skus, &qty) != 0) {
            free(items);
            free(payload);
            ev_fail(err, errlen, "out of memory");
            return NULL;
        }
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
    free(skus);
    free(qty);
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

/* --- the batch path -------------------------------------------------------------------------
 * A fetched batch's order events projected as a set: one statement locks the rows of the
 * orders that have one, the pure fold (fold.h) applies the events in C, one statement writes
 * it all back (updating the rows that exist, inserting the new orders' rows). Product events
 * go through project_product one by one (they are few), after the orders, so every instance
 * takes its row locks in the same order: orders by id, then stock by SKU. */

static bool is_product_event(const ev_envelope *e)
{
    return strcmp(e->event_type, "ProductUpserted") == 0 ||
           strcmp(e->event_type, "StockAdjusted") == 0;
}

/* The order events of a batch, their fold and the text of their parameters. */
typedef struct {
    const ev_delivery **events; /* n, in the batch's order */
    fold_event *fold;           /* n */
    size_t *order_of;           /* n */
    size_t n;
    order_fold *orders; /* count, sorted by order id */
    size_t count;
} order_batch;

static void order_batch_free(order_batch *b)
{
    free(b->events);
    free(b->fold);
    free(b->order_of);
    free(b->orders);
}

/* Picks the order events out of the n deliveries and folds them into orders. Returns 0, or
 * -1 with err (an order event without an order id is left to the per-event path). */
static int order_batch_make(order_batch *b, const ev_delivery *ds, size_t n, char *err,
                            size_t errlen)
{
    size_t room = n ? n : 1;
    *b = (order_batch){0};
    b->events = calloc(room, sizeof(const ev_delivery *));
    b->fold = calloc(room, sizeof *b->fold);
    b->order_of = calloc(room, sizeof *b->order_of);
    b->orders = calloc(room, sizeof *b->orders);
    if (!b->events || !b->fold || !b->order_of || !b->orders)
        return ev_fail(err, errlen, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const ev_envelope *e = ds[i].event;
        if (is_product_event(e))
            continue;
        const char *order_id = json_string_value(json_object_get(e->payload, "orderId"));
        if (!order_id)
            return ev_fail(err, errlen, "%s %s has no orderId", e->event_type, e->event_id);
        b->events[b->n] = &ds[i];
        b->fold[b->n++] = (fold_event){.order_id = order_id,
                                       .event_type = e->event_type,
                                       .correlation_id = e->correlation_id,
                                       .payload = e->payload};
    }
    size_t count = 0;
    if (fold_collect(b->fold, b->n, b->orders, b->order_of, &count) != 0)
        return ev_fail(err, errlen, "out of memory");
    b->count = count;
    return 0;
}

/* The order of the batch whose id is id (any case), or NULL. */
static order_fold *order_named(order_batch *b, const char *id)
{
    for (size_t k = 0; k < b->count; k++)
        if (strcasecmp(b->orders[k].order_id, id) == 0)
            return &b->orders[k];
    return NULL;
}

/* Arrays of text parameters: `columns` columns of `rows` values, each value borrowed or kept
 * (freed with the table). */
typedef struct {
    const char **value; /* columns * rows, column after column */
    char **kept;        /* what is freed: up to columns * rows */
    size_t rows, columns, kept_count;
} text_table;

static int text_table_init(text_table *t, size_t columns, size_t rows)
{
    size_t cells = columns * (rows ? rows : 1);
    *t = (text_table){.value = calloc(cells, sizeof *t->value),
                      .kept = calloc(cells, sizeof *t->kept),
                      .rows = rows,
                      .columns = columns};
    return t->value && t->kept ? 0 : -1;
}

static void text_table_free(text_table *t)
{
    for (size_t i = 0; i < t->kept_count; i++)
        free(t->kept[i]);
    free(t->kept);
    free(t->value);
}

static void cell(text_table *t, size_t column, size_t row, const char *v)
{
    t->value[column * t->rows + row] = v;
}

/* Sets a cell to an allocated string the table frees; false when it is NULL (out of memory). */
static bool cell_kept(text_table *t, size_t column, size_t row, char *v)
{
    if (!v)
        return false;
    t->kept[t->kept_count++] = v;
    cell(t, column, row, v);
    return true;
}

static bool cell_number(text_table *t, size_t column, size_t row, long long v)
{
    char number[24];
    snprintf(number, sizeof number, "%lld", v);
    return cell_kept(t, column, row, strdup(number));
}

/* Each column as an array literal into params (the caller frees them). */
static int text_table_literals(const text_table *t, char **params)
{
    for (size_t c = 0; c < t->columns; c++)
        if (!(params[c] = ev_pg_array_literal(t->value + c * t->rows, t->rows)))
            return -1;
    return 0;
}

/* Locks the rows of a batch's orders that exist ($1 ids), in the batch's sorted order, and
 * reads their views. Unlike the per-event lock_view it creates no row: store_batch_sql
 * inserts a new order's row once, whole, where a blank row made here would have been written
 * again at once by the projection's update (a second row version and, as the update changes
 * indexed columns, a second entry in each of the table's four indexes). */
static const char lock_views_sql[] =
    "SELECT o.order_id::text, " VIEW_COLUMNS
    " FROM unnest($1::uuid[]) WITH ORDINALITY AS x(id, i) JOIN rm_orders o ON o.order_id = x.id"
    " ORDER BY x.i FOR UPDATE OF o";

/* Locks the rows of the batch's orders that exist and sets their views from them; an order
 * without a row keeps the view of a new order (fold_collect's order_view_init). */
static int lock_views(PGconn *tx, order_batch *b, char *err, size_t errlen)
{
    text_table t;
    char *params[1] = {NULL};
    int rc = text_table_init(&t, 1, b->count);
    for (size_t k = 0; rc == 0 && k < b->count; k++)
        cell(&t, 0, k, b->orders[k].order_id);
    if (rc != 0 || text_table_literals(&t, params) != 0) {
        rc = ev_fail(err, errlen, "out of memory");
        goto done;
    }
    PGresult *r = ev_pg_query(tx, lock_views_sql, 1, (const char *const *)params, err, errlen);
    if (!r) {
        rc = -1;
        goto done;
    }
    for (int row = 0; row < PQntuples(r); row++) {
        order_fold *o = order_named(b, PQgetvalue(r, row, 0));
        if (!o)
            continue;
        char *fields[] = {o->view.status,  o->view.placed,   o->view.inventory,
                          o->view.payment, o->view.decision, o->view.shipment};
        for (int i = 0; i < 6; i++)
            ev_strlcpy(fields[i], PQgetvalue(r, row, i + 1), STEP_LEN);
        o->view.shipped = PQgetvalue(r, row, 7)[0] == 't';
    }
    PQclear(r);
done:
    free(params[0]);
    text_table_free(&t);
    return rc;
}

/* The batch's events ($1..$13, with ordinality i), its orders' new columns ($14..$29: the
 * fold; placed_i is the ordinality of the OrderPlaced created_at restarts at), and from them
 * every write of the per-event statement (UPDATE_ORDER_SQL and facts_cte) done once for the
 * set: the same columns, the same conflicts, the same sums. Rows are taken in a stable order
 * (stock by SKU). */
static const char store_batch_sql[] =
    "WITH e AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::int[], $5::text[],"
    " $6::timestamptz[], $7::uuid[], $8::text[], $9::int[], $10::bigint[], $11::jsonb[],"
    " $12::text[], $13::text[]) WITH ORDINALITY AS e(event_id, ord, event_type, version,"
    " producer, at, correlation_id, topic, part, off, payload, fact1, fact2, i)),"
    " u AS (SELECT * FROM unnest($14::uuid[], $15::text[], $16::text[], $17::text[],"
    " $18::text[], $19::text[], $20::text[], $21::boolean[], $22::text[], $23::bigint[],"
    " $24::text[], $25::jsonb[], $26::int[], $27::uuid[], $28::text[], $29::bigint[])"
    " AS u(ord, n_status, n_placed, n_inventory, n_payment, n_decision, n_shipment, n_shipped,"
    " n_customer, n_total, n_currency, n_items, n_count, n_correlation, n_reason, placed_i)),"
    " times AS (SELECT u.ord, max(e.at) AS latest, min(e.at) AS earliest,"
    " min(e.at) FILTER (WHERE e.i = u.placed_i) AS placed"
    " FROM u JOIN e ON e.ord = u.ord GROUP BY u.ord),"
    " o AS (UPDATE rm_orders SET status = u.n_status, step_placed = u.n_placed,"
    " step_inventory = u.n_inventory, step_payment = u.n_payment,"
    " step_decision = u.n_decision, step_shipment = u.n_shipment, shipped = u.n_shipped,"
    " updated_at = greatest(updated_at, times.latest),"
    " created_at = CASE WHEN u.placed_i IS NOT NULL THEN times.placed"
    "                   WHEN customer_id IS NOT NULL THEN created_at"
    "                   ELSE least(created_at, times.earliest) END,"
    " customer_id = coalesce(u.n_customer, customer_id),"
    " total_cents = coalesce(u.n_total, total_cents), currency = coalesce(u.n_currency, currency),"
    " items = coalesce(u.n_items, items), item_count = coalesce(u.n_count, item_count),"
    " correlation_id = coalesce(u.n_correlation, correlation_id),"
    " cancel_reason = coalesce(u.n_reason, cancel_reason)"
    " FROM u JOIN times ON times.ord = u.ord WHERE order_id = u.ord"
    " RETURNING order_id::text AS id, " ORDER_ITEM_JSON " AS item),"
    /* A new order's row, whole: what the update above makes of a row with the columns'
     * defaults ('[]' items, 0 items counted). A row another instance inserted since this
     * statement's snapshot is a conflict, left alone and missing from the result, which
     * fails the batch (store_batch's check) for the per-event path to redo. */
    " n AS (INSERT INTO rm_orders (order_id, status, step_placed, step_inventory, step_payment,"
    " step_decision, step_shipment, shipped, updated_at, created_at, customer_id, total_cents,"
    " currency, items, item_count, correlation_id, cancel_reason)"
    " SELECT u.ord, u.n_status, u.n_placed, u.n_inventory, u.n_payment, u.n_decision,"
    " u.n_shipment, u.n_shipped, times.latest,"
    " CASE WHEN u.placed_i IS NOT NULL THEN times.placed ELSE times.earliest END,"
    " u.n_customer, u.n_total, u.n_currency, coalesce(u.n_items, '[]'), coalesce(u.n_count, 0),"
    " u.n_correlation, u.n_reason"
    " FROM u JOIN times ON times.ord = u.ord"
    " WHERE NOT EXISTS (SELECT FROM rm_orders r WHERE r.order_id = u.ord) ORDER BY u.ord"
    " ON CONFLICT (order_id) DO NOTHING"
    " RETURNING order_id::text AS id, " ORDER_ITEM_JSON " AS item),"
    " t AS (INSERT INTO rm_timeline (event_id, order_id, event_type, version, producer,"
    " occurred_at, correlation_id, topic, partition, \"offset\", payload)"
    " SELECT event_id, ord, event_type, version, producer, at, correlation_id, topic, part, off,"
    " payload FROM e ORDER BY i ON CONFLICT (event_id) DO NOTHING),"
    " l AS (SELECT e.event_id, e.ord, e.at, x.sku, sum(x.q)::int AS q FROM e,"
    " unnest(CASE WHEN e.event_type IN ('InventoryReserved', 'InventoryReleased')"
    "        THEN e.fact1::text[] END,"
    "        CASE WHEN e.event_type IN ('InventoryReserved', 'InventoryReleased')"
    "        THEN e.fact2::int[] END) AS x(sku, q)"
    " GROUP BY e.event_id, e.ord, e.at, x.sku),"
    " f AS (INSERT INTO rm_stock AS s (sku, available, reserved)"
    " SELECT sku, -sum(q), sum(q) FROM l GROUP BY sku ORDER BY sku ON CONFLICT (sku) DO UPDATE"
    " SET available = s.available + EXCLUDED.available,"
    " reserved = s.reserved + EXCLUDED.reserved),"
    " g AS (INSERT INTO rm_stock_movements (event_id, sku, kind, delta, order_id, occurred_at)"
    " SELECT event_id, sku, CASE WHEN q > 0 THEN 'RESERVED' ELSE 'RELEASED' END, q, ord, at"
    " FROM l ON CONFLICT DO NOTHING),"
    " h AS (INSERT INTO rm_shipments (order_id, shipment_id, status, created_at)"
    " SELECT ord, fact1::uuid, fact2, at FROM e WHERE event_type = 'ShipmentCreated'"
    " ORDER BY i ON CONFLICT (order_id) DO NOTHING),"
    " m AS (INSERT INTO rm_placed_per_minute AS pm (minute, count)"
    " SELECT date_trunc('minute', at), count(*) FROM e WHERE event_type = 'OrderPlaced'"
    " GROUP BY 1 ORDER BY 1 ON CONFLICT (minute) DO UPDATE SET count = pm.count + EXCLUDED.count)"
    " SELECT id, item::text FROM o UNION ALL SELECT id, item::text FROM n";

enum { EVENT_COLUMNS = 13, ORDER_COLUMNS = 16 };

/* Event i's columns ($1..$13): what store() passes for it, as text. */
static bool event_cells(text_table *t, const order_batch *b, size_t i)
{
    const ev_delivery *d = b->events[i];
    const ev_envelope *e = d->event;
    const json_t *p = e->payload;
    const char *type = e->event_type;
    const char *values[] = {e->event_id,    b->fold[i].order_id, type,    NULL, e->producer,
                            e->occurred_at, e->correlation_id,   d->topic};
    for (size_t c = 0; c < sizeof values / sizeof values[0]; c++)
        if (values[c])
            cell(t, c, i, values[c]);
    if (!cell_number(t, 3, i, e->version) || !cell_number(t, 8, i, d->partition) ||
        !cell_number(t, 9, i, d->offset) || !cell_kept(t, 10, i, json_dumps(p, JSON_COMPACT)))
        return false;
    if (strcmp(type, "InventoryReserved") == 0 || strcmp(type, "InventoryReleased") == 0) {
        char *skus, *qty;
        if (stock_arrays(json_object_get(p, "items"),
                         strcmp(type, "InventoryReserved") == 0 ? 1 : -1, &skus, &qty) != 0)
            return false;
        return cell_kept(t, 11, i, skus) && cell_kept(t, 12, i, qty);
    }
    if (strcmp(type, "ShipmentCreated") == 0) {
        cell(t, 11, i, json_string_value(json_object_get(p, "shipmentId")));
        cell(t, 12, i, json_string_value(json_object_get(p, "status")));
    }
    return true;
}

/* Order k's columns ($14..$29): its fold. */
static bool order_cells(text_table *t, const order_batch *b, size_t k)
{
    const order_fold *o = &b->orders[k];
    const char *values[] = {o->order_id,      o->view.status,
                            o->view.placed,   o->view.inventory,
                            o->view.payment,  o->view.decision,
                            o->view.shipment, o->view.shipped ? "true" : "false",
                            o->customer_id,   NULL,
                            o->currency};
    for (size_t c = 0; c < sizeof values / sizeof values[0]; c++)
        if (values[c])
            cell(t, c, k, values[c]);
    cell(t, 13, k, o->correlation_id);
    cell(t, 14, k, o->cancel_reason);
    if (o->has_totals &&
        (!cell_number(t, 9, k, o->total_cents) || !cell_number(t, 12, k, o->item_count)))
        return false;
    if (o->items && !cell_kept(t, 11, k, json_dumps(o->items, JSON_COMPACT)))
        return false;
    /* 1-based, as the events' ordinality */
    return o->placed_event < 0 || cell_number(t, 15, k, o->placed_event + 1);
}

/* Announces, in the batch's order, each event's timeline entry, preceded at its order's last
 * event by the order's list item as the batch left it. items[k] is order k's (borrowed). */
static void announce_orders(const order_batch *b, json_t *const *items, json_t *changes)
{
    for (size_t i = 0; i < b->n; i++) {
        const ev_delivery *d = b->events[i];
        size_t k = b->order_of[i];
        if (b->orders[k].last_event == i)
            json_array_append_new(changes,
                                  json_pack("{s:s, s:O}", "type", "order", "order", items[k]));
        json_array_append_new(changes,
                              json_pack("{s:s, s:o}", "type", "event", "event",
                                        timeline_entry(d->event, b->fold[i].order_id, d->topic,
                                                       d->partition, d->offset)));
    }
}

/* Writes the fold back with store_batch_sql; announces into changes when not NULL. */
static int store_batch(PGconn *tx, order_batch *b, json_t *changes, char *err, size_t errlen)
{
    text_table events, orders;
    char *params[EVENT_COLUMNS + ORDER_COLUMNS] = {0};
    json_t **items = calloc(b->count ? b->count : 1, sizeof(json_t *));
    int rc = -1;
    bool made = text_table_init(&events, EVENT_COLUMNS, b->n) == 0;
    made = text_table_init(&orders, ORDER_COLUMNS, b->count) == 0 && made;
    for (size_t i = 0; made && i < b->n; i++)
        made = event_cells(&events, b, i);
    for (size_t k = 0; made && k < b->count; k++)
        made = order_cells(&orders, b, k);
    if (!made || !items || text_table_literals(&events, params) != 0 ||
        text_table_literals(&orders, params + EVENT_COLUMNS) != 0) {
        ev_fail(err, errlen, "out of memory");
        goto done;
    }
    PGresult *r = ev_pg_query(tx, store_batch_sql, EVENT_COLUMNS + ORDER_COLUMNS,
                              (const char *const *)params, err, errlen);
    if (!r)
        goto done;
    for (int row = 0; row < PQntuples(r); row++) {
        order_fold *o = order_named(b, PQgetvalue(r, row, 0));
        if (o && !items[o - b->orders])
            items[o - b->orders] = json_loads(PQgetvalue(r, row, 1), 0, NULL);
    }
    PQclear(r);
    for (size_t k = 0; k < b->count; k++)
        if (!items[k]) {
            ev_fail(err, errlen, "order %s vanished", b->orders[k].order_id);
            goto done;
        }
    if (changes)
        announce_orders(b, items, changes);
    rc = 0;
done:
    for (size_t c = 0; c < EVENT_COLUMNS + ORDER_COLUMNS; c++)
        free(params[c]);
    for (size_t k = 0; items && k < b->count; k++)
        json_decref(items[k]);
    free(items);
    text_table_free(&events);
    text_table_free(&orders);
    return rc;
}

int project_batch(PGconn *tx, const ev_delivery *ds, size_t n, json_t *changes, char *err,
                  size_t errlen)
{
    order_batch b;
    int rc = order_batch_make(&b, ds, n, err, errlen);
    if (rc == 0 && b.n > 0) {
        rc = lock_views(tx, &b, err, errlen);
        if (rc == 0) {
            fold_apply(b.orders, b.fold, b.n, b.order_of);
            rc = store_batch(tx, &b, changes, err, errlen);
        }
    }
    order_batch_free(&b);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (is_product_event(ds[i].event))
            rc = project_product(tx, ds[i].event, changes, err, errlen);
    return rc;
}

int project_reset(PGconn *tx, char *err, size_t errlen)
{
    return ev_pg_exec(tx,
                      "TRUNCATE rm_orders, rm_timeline, rm_shipments, rm_placed_per_minute,"
                      " rm_stock, rm_stock_movements, rm_price_history, inbox",
                      0, NULL, err, errlen);
}
