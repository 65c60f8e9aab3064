/* Event catalog, payload checks and upcasting; see ev/events.h.
 *
 * Version history (contracts/README.md has the full story):
 *   OrderPlaced v2        adds customerId, currency, items[].unitPriceCents, totalCents.
 *   InventoryReserved v2  adds items[] (the reserved lines) so stock can be projected.
 * ProductUpserted and StockAdjusted are keyed by SKU, not by order.
 *
 * Strict where it guards, tolerant where it reads: what a consumer uses or what could hurt it
 * is checked (types, the HTTP API's bounds, sizes, overflow-free sums); a missing field no
 * consumer needs and an unknown extra field pass, noted for a warning. */
#include "ev/events.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const char *type;
    const char *topic;
    int latest;
} event_kind;

static const event_kind kinds[] = {
    {"OrderPlaced", EV_TOPIC_ORDERS, 2},        {"InventoryReserved", EV_TOPIC_INVENTORY, 2},
    {"OutOfStock", EV_TOPIC_INVENTORY, 1},      {"InventoryReleased", EV_TOPIC_INVENTORY, 1},
    {"PaymentSucceeded", EV_TOPIC_PAYMENTS, 1}, {"PaymentFailed", EV_TOPIC_PAYMENTS, 1},
    {"PaymentRefunded", EV_TOPIC_PAYMENTS, 1},  {"OrderConfirmed", EV_TOPIC_LIFECYCLE, 1},
    {"OrderCancelled", EV_TOPIC_LIFECYCLE, 1},  {"ShipmentCreated", EV_TOPIC_SHIPPING, 1},
    {"ProductUpserted", EV_TOPIC_CATALOG, 1},   {"StockAdjusted", EV_TOPIC_INVENTORY, 1},
};

bool ev_sku_valid(const char *sku)
{
    size_t n = sku ? strlen(sku) : 0;
    if (n < 2 || n > EV_SKU_MAX || sku[0] == '-' || sku[0] == '_')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = sku[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    }
    return true;
}

bool ev_text_valid(const char *text, size_t max)
{
    size_t n = text ? strlen(text) : 0, characters = 0;
    if (n == 0 || n > EV_UTF8_BYTES(max))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        if ((c & 0xc0) != 0x80 && ++characters > max) /* not a continuation byte: a new one */
            return false;
        if (c < 0x20 || c == 0x7f)
            return false;
        /* C1 controls, U+0080..U+009F, are C2 80..C2 9F in UTF-8 (jansson checks the rest) */
        if (c == 0xc2 && i + 1 < n && (unsigned char)text[i + 1] <= 0x9f)
            return false;
        /* bidi overrides and isolates (U+202A..U+202E, U+2066..U+2069) would reorder the
         * text around a name wherever it is shown */
        if (c == 0xe2 && i + 2 < n) {
            unsigned char b1 = (unsigned char)text[i + 1], b2 = (unsigned char)text[i + 2];
            if ((b1 == 0x80 && b2 >= 0xaa && b2 <= 0xae) ||
                (b1 == 0x81 && b2 >= 0xa6 && b2 <= 0xa9))
                return false;
        }
    }
    return true;
}

bool ev_currency_valid(const char *currency)
{
    if (!currency || strlen(currency) != 3)
        return false;
    for (int i = 0; i < 3; i++)
        if (currency[i] < 'A' || currency[i] > 'Z')
            return false;
    return true;
}

static const event_kind *kind_of(const char *type)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kinds[i].type, type) == 0)
            return &kinds[i];
    return NULL;
}

const char *ev_topic_of(const char *event_type)
{
    const event_kind *k = kind_of(event_type);
    return k ? k->topic : NULL;
}

int ev_latest_version(const char *event_type)
{
    const event_kind *k = kind_of(event_type);
    return k ? k->latest : 0;
}

/* --- field checks ------------------------------------------------------------------------
 * Each returns 0 or -1 with err. A field is "needed" when some consumer reads it: then it
 * must be there. Otherwise it is checked only when present, and its absence is noted. */

typedef struct {
    ev_tolerated *notes; /* may be NULL */
    char *err;
    size_t errlen;
} check_ctx;

static void note(check_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(check_ctx *c, const char *fmt, ...)
{
    if (!c->notes)
        return;
    if (c->notes->count++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->notes->text, sizeof c->notes->text, fmt, ap);
        va_end(ap);
    }
}

/* Text of 1..max bytes without control characters (they could forge lines in logs and
 * e-mails that show it). */
/* A string of 1 to max characters (not bytes: the HTTP API counts characters too) without
 * C0 controls or DEL. jansson has checked that it is UTF-8. */
static bool plain_text(const json_t *v, size_t max)
{
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        json_string_length(v) > EV_UTF8_BYTES(max))
        return false;
    const unsigned char *s = (const unsigned char *)json_string_value(v);
    size_t characters = 0;
    for (size_t i = 0; i < json_string_length(v); i++) {
        if ((s[i] & 0xc0) != 0x80 && ++characters > max) /* not a continuation byte: a new one */
            return false;
        if (s[i] < 0x20 || s[i] == 0x7f)
            return false;
    }
    return true;
}

static int check_text(check_ctx *c, json_t *obj, const char *field, size_t max, bool needed)
{
    json_t *v = json_object_get(obj, field);
    if (!v && !needed) {
        note(c, "payload.%s missing", field);
        return 0;
    }
    if (!plain_text(v, max))
        return ev_fail(c->err, c->errlen,
                       "payload.%s must be a string of 1 to %zu characters without controls", field,
                       max);
    return 0;
}

static int check_uuid(check_ctx *c, json_t *obj, const char *field)
{
    json_t *v = json_object_get(obj, field);
    if (!json_is_string(v) || !ev_uuid_valid(json_string_value(v)))
        return ev_fail(c->err, c->errlen, "payload.%s must be a UUID", field);
    return 0;
}

static int check_int(check_ctx *c, json_t *obj, const char *what, const char *field, json_int_t min,
                     json_int_t max)
{
    json_t *v = json_object_get(obj, field);
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return ev_fail(c->err, c->errlen, "%s%s must be an integer from %lld to %lld", what, field,
                       (long long)min, (long long)max);
    return 0;
}

/* Notes every member of obj not in known (NULL-terminated). */
static void note_unknown(check_ctx *c, json_t *obj, const char *where, const char *const *known)
{
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value)
    {
        (void)value;
        bool found = false;
        for (const char *const *k = known; *k && !found; k++)
            found = strcmp(*k, key) == 0;
        if (!found)
            note(c, "%s.%s is not known", where, key);
    }
}

/* items: min_lines..EV_ORDER_MAX_LINES objects with a sku and a quantity in the HTTP API's
 * bounds, and unitPriceCents within bounds when with_prices. */
static int check_items(check_ctx *c, json_t *payload, size_t min_lines, bool with_prices)
{
    json_t *items = json_object_get(payload, "items");
    if (!json_is_array(items) || json_array_size(items) < min_lines ||
        json_array_size(items) > EV_ORDER_MAX_LINES)
        return ev_fail(c->err, c->errlen, "payload.items must be an array of %zu to %d lines",
                       min_lines, EV_ORDER_MAX_LINES);
    static const char *const priced[] = {"sku", "quantity", "unitPriceCents", NULL};
    static const char *const unpriced[] = {"sku", "quantity", NULL};
    size_t i;
    json_t *line;
    json_array_foreach(json_object_get(payload, "items"), i, line)
    {
        char where[48];
        snprintf(where, sizeof where, "payload.items[%zu].", i);
        if (!json_is_object(line))
            return ev_fail(c->err, c->errlen, "payload.items[%zu] must be an object", i);
        if (!plain_text(json_object_get(line, "sku"), EV_SKU_MAX))
            return ev_fail(c->err, c->errlen,
                           "payload.items[%zu].sku must be a string of 1 to %d characters", i,
                           EV_SKU_MAX);
        if (check_int(c, line, where, "quantity", 1, EV_ORDER_MAX_QUANTITY))
            return -1;
        if (with_prices && json_object_get(line, "unitPriceCents") &&
            check_int(c, line, where, "unitPriceCents", 0, EV_PRICE_MAX_CENTS))
            return -1;
        where[strlen(where) - 1] = '\0';
        note_unknown(c, line, where, with_prices ? priced : unpriced);
    }
    return 0;
}

/* Prices are data a reader of orders.events does not hold: a missing unit price (every one
 * of a v1 order, which carries none) is 0, an unpriced line, so every reader sees the v2
 * shape. Returns the overflow-checked total. Bounds were checked by check_items. */
static int price_lines(check_ctx *c, json_t *items, bool unpriced, int64_t *total)
{
    *total = 0;
    size_t i;
    json_t *line;
    json_array_foreach(items, i, line)
    {
        json_t *given = json_object_get(line, "unitPriceCents");
        int64_t price = given ? (int64_t)json_integer_value(given) : 0;
        if (unpriced || !given) {
            price = 0;
            if (!unpriced)
                note(c, "payload.items[%zu].unitPriceCents missing", i);
            if (json_object_set_new(line, "unitPriceCents", json_integer(price)))
                return ev_fail(c->err, c->errlen, "out of memory");
        }
        int64_t amount;
        if (__builtin_mul_overflow(
                price, (int64_t)json_integer_value(json_object_get(line, "quantity")), &amount) ||
            __builtin_add_overflow(*total, amount, total) || *total > EV_TOTAL_MAX_CENTS)
            return ev_fail(c->err, c->errlen, "payload.items: the total is out of bounds");
    }
    return 0;
}

/* Sets field to a default the consumers can read when it is missing; notes it when the
 * version should have carried it. */
static int fill_missing(check_ctx *c, json_t *payload, const char *field, json_t *value,
                        bool expected)
{
    if (json_object_get(payload, field)) {
        json_decref(value);
        return 0;
    }
    if (expected)
        note(c, "payload.%s missing", field);
    if (json_object_set_new(payload, field, value))
        return ev_fail(c->err, c->errlen, "out of memory");
    return 0;
}

/* OrderPlaced v1 carries no prices: it is upcast as an unpriced order (unit prices and total
 * 0). v2 carries them; a missing one is filled in the same way, so every reader sees the v2
 * shape. */
static int check_order_placed(check_ctx *c, json_t *p, int version)
{
    static const char *const known[] = {
        "orderId",    "items",          "customerId",         "currency",
        "totalCents", "forceException", "forcePaymentFailed", NULL};
    bool v1 = version == 1;
    if (check_items(c, p, 1, !v1))
        return -1;
    json_t *customer = json_object_get(p, "customerId");
    if (customer && !plain_text(customer, EV_CUSTOMER_ID_MAX))
        return ev_fail(c->err, c->errlen,
                       "payload.customerId must be a string of 1 to %d characters without controls",
                       EV_CUSTOMER_ID_MAX);
    json_t *currency = json_object_get(p, "currency");
    if (currency && !plain_text(currency, 8))
        return ev_fail(c->err, c->errlen, "payload.currency must be a short code");
    if (!v1 && json_object_get(p, "totalCents") &&
        check_int(c, p, "payload.", "totalCents", 0, EV_TOTAL_MAX_CENTS))
        return -1;
    note_unknown(c, p, "payload", known);
    int64_t total;
    if (price_lines(c, json_object_get(p, "items"), v1, &total))
        return -1;
    if (v1) { /* v1 has no money fields: whatever is there is not trusted */
        json_object_del(p, "currency");
        json_object_del(p, "totalCents");
    }
    return fill_missing(c, p, "customerId", json_string("unknown"), !v1) ||
                   fill_missing(c, p, "currency", json_string(EV_CURRENCY), !v1) ||
                   fill_missing(c, p, "totalCents", json_integer(total), !v1)
               ? -1
               : 0;
}

static int check_reservation(check_ctx *c, json_t *p, bool items_expected)
{
    static const char *const known[] = {"orderId", "reservationId", "items", NULL};
    if (check_text(c, p, "reservationId", EV_ID_MAX, false))
        return -1;
    if (json_object_get(p, "items")) { /* empty once upcast from v1, which has no lines */
        if (check_items(c, p, 0, false))
            return -1;
    } else if (fill_missing(c, p, "items", json_array(), items_expected)) {
        return -1;
    }
    note_unknown(c, p, "payload", known);
    return 0;
}

static int check_with_text(check_ctx *c, json_t *p, const char *field, size_t max)
{
    const char *const known[] = {"orderId", field, NULL};
    if (check_text(c, p, field, max, false))
        return -1;
    note_unknown(c, p, "payload", known);
    return 0;
}

static int check_payment_refunded(check_ctx *c, json_t *p)
{
    static const char *const known[] = {"orderId", "paymentId", "amountCents", NULL};
    if (check_text(c, p, "paymentId", EV_ID_MAX, false))
        return -1;
    if (!json_object_get(p, "amountCents"))
        note(c, "payload.amountCents missing");
    else if (check_int(c, p, "payload.", "amountCents", 0, EV_TOTAL_MAX_CENTS))
        return -1;
    note_unknown(c, p, "payload", known);
    return 0;
}

/* The read model stores shipmentId as a UUID and shows the status: both needed. */
static int check_shipment(check_ctx *c, json_t *p)
{
    static const char *const known[] = {"orderId", "shipmentId", "status", NULL};
    if (check_uuid(c, p, "shipmentId") || check_text(c, p, "status", 32, true))
        return -1;
    note_unknown(c, p, "payload", known);
    return 0;
}

static int check_sku(check_ctx *c, json_t *p)
{
    if (!ev_sku_valid(json_string_value(json_object_get(p, "sku"))))
        return ev_fail(c->err, c->errlen, "payload.sku must be a SKU (A-Z, 0-9, '-', '_'; 2 to %d)",
                       EV_SKU_MAX);
    return 0;
}

/* ProductUpserted v1: {sku, name, priceCents, currency, revision}. */
static int check_product_upserted(check_ctx *c, json_t *p)
{
    static const char *const known[] = {"sku", "name", "priceCents", "currency", "revision", NULL};
    if (check_sku(c, p) || check_int(c, p, "payload.", "priceCents", 0, EV_PRICE_MAX_CENTS) ||
        check_int(c, p, "payload.", "revision", 1, INT64_MAX))
        return -1;
    if (!ev_text_valid(json_string_value(json_object_get(p, "name")), EV_PRODUCT_NAME_MAX))
        return ev_fail(c->err, c->errlen, "payload.name must be 1 to %d characters, no controls",
                       EV_PRODUCT_NAME_MAX);
    if (!ev_currency_valid(json_string_value(json_object_get(p, "currency"))))
        return ev_fail(c->err, c->errlen, "payload.currency must be three upper-case letters");
    note_unknown(c, p, "payload", known);
    return 0;
}

/* StockAdjusted v1: {sku, adjustmentId, delta (non-zero), reason}. */
static int check_stock_adjusted(check_ctx *c, json_t *p)
{
    static const char *const known[] = {"sku", "adjustmentId", "delta", "reason", NULL};
    if (check_sku(c, p) || check_uuid(c, p, "adjustmentId") ||
        check_int(c, p, "payload.", "delta", -EV_STOCK_DELTA_MAX, EV_STOCK_DELTA_MAX))
        return -1;
    if (json_integer_value(json_object_get(p, "delta")) == 0)
        return ev_fail(c->err, c->errlen, "payload.delta must not be 0");
    if (!ev_text_valid(json_string_value(json_object_get(p, "reason")), EV_STOCK_REASON_MAX))
        return ev_fail(c->err, c->errlen, "payload.reason must be 1 to %d characters, no controls",
                       EV_STOCK_REASON_MAX);
    note_unknown(c, p, "payload", known);
    return 0;
}

static int check_and_upcast(ev_envelope *e, check_ctx *c)
{
    json_t *p = e->payload;
    const char *t = e->event_type;
    if (strcmp(t, "ProductUpserted") == 0)
        return check_product_upserted(c, p);
    if (strcmp(t, "StockAdjusted") == 0)
        return check_stock_adjusted(c, p);
    if (check_uuid(c, p, "orderId"))
        return -1;
    if (strcmp(t, "OrderPlaced") == 0)
        return check_order_placed(c, p, e->version);
    if (strcmp(t, "InventoryReserved") == 0)
        return check_reservation(c, p, e->version >= 2);
    if (strcmp(t, "InventoryReleased") == 0)
        return check_reservation(c, p, true);
    if (strcmp(t, "OutOfStock") == 0 || strcmp(t, "PaymentFailed") == 0 ||
        strcmp(t, "OrderCancelled") == 0)
        return check_with_text(c, p, "reason", EV_REASON_MAX);
    if (strcmp(t, "PaymentSucceeded") == 0)
        return check_with_text(c, p, "paymentId", EV_ID_MAX);
    if (strcmp(t, "PaymentRefunded") == 0)
        return check_payment_refunded(c, p);
    if (strcmp(t, "ShipmentCreated") == 0)
        return check_shipment(c, p);
    static const char *const only_order[] = {"orderId", NULL}; /* OrderConfirmed */
    note_unknown(c, p, "payload", only_order);
    return 0;
}

ev_upcast_result ev_upcast_tolerant(ev_envelope *e, ev_tolerated *tolerated, char *err,
                                    size_t errlen)
{
    if (tolerated)
        *tolerated = (ev_tolerated){0};
    const event_kind *k = kind_of(e->event_type);
    if (!k) {
        ev_fail(err, errlen, "unknown event type %s", e->event_type);
        return EV_UPCAST_UNKNOWN_TYPE;
    }
    if (e->version > k->latest) {
        ev_fail(err, errlen, "unsupported version %d of %s (newest known: %d)", e->version,
                e->event_type, k->latest);
        return EV_UPCAST_FUTURE_VERSION;
    }
    check_ctx c = {tolerated, err, errlen};
    if (check_and_upcast(e, &c) != 0)
        return EV_UPCAST_INVALID;
    e->version = k->latest;
    return EV_UPCAST_OK;
}

ev_upcast_result ev_upcast(ev_envelope *e, char *err, size_t errlen)
{
    return ev_upcast_tolerant(e, NULL, err, errlen);
}
