/* Event catalog, payload checks and upcasting; see ev/events.h.
 *
 * Version history (contracts/README.md has the full story):
 *   OrderPlaced v2        adds customerId, currency, items[].unitPriceCents, totalCents.
 *   InventoryReserved v2  adds items[] (the reserved lines) so stock can be projected.
 * ProductUpserted and StockAdjusted are keyed by SKU, not by order. */
#include "ev/events.h"

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
    size_t n = text ? strlen(text) : 0;
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
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

static int need_string(json_t *payload, const char *field, char *err, size_t errlen)
{
    json_t *v = json_object_get(payload, field);
    if (!json_is_string(v) || !*json_string_value(v))
        return ev_fail(err, errlen, "payload.%s must be a non-empty string", field);
    return 0;
}

static int need_uuid(json_t *payload, const char *field, char *err, size_t errlen)
{
    if (need_string(payload, field, err, errlen))
        return -1;
    if (!ev_uuid_valid(json_string_value(json_object_get(payload, field))))
        return ev_fail(err, errlen, "payload.%s must be a UUID", field);
    return 0;
}

/* items: a non-empty array of {sku: string, quantity: integer >= 1}. */
static int need_items(json_t *payload, bool required, char *err, size_t errlen)
{
    json_t *items = json_object_get(payload, "items");
    if (!items && !required)
        return 0;
    if (!json_is_array(items) || json_array_size(items) == 0)
        return ev_fail(err, errlen, "payload.items must be a non-empty array");
    size_t i;
    json_t *line;
    json_array_foreach(items, i, line)
    {
        json_t *sku = json_object_get(line, "sku");
        json_t *qty = json_object_get(line, "quantity");
        if (!json_is_object(line) || !json_is_string(sku) || !json_is_integer(qty) ||
            json_integer_value(qty) < 1)
            return ev_fail(err, errlen, "payload.items[%zu] needs sku and quantity >= 1", i);
    }
    return 0;
}

/* OrderPlaced v1 carries no prices, and prices are data a reader of orders.events does not
 * hold: a v1 order is upcast as unpriced (every unitPriceCents and totalCents 0) so every
 * reader sees the v2 shape. The order service never publishes v1. */
static int upcast_order_placed_v1(json_t *payload, char *err, size_t errlen)
{
    size_t i;
    json_t *line;
    json_array_foreach(json_object_get(payload, "items"), i, line)
    {
        if (json_object_set_new(line, "unitPriceCents", json_integer(0)))
            return ev_fail(err, errlen, "out of memory");
    }
    if (!json_object_get(payload, "customerId"))
        json_object_set_new(payload, "customerId", json_string("unknown"));
    json_object_set_new(payload, "currency", json_string(EV_CURRENCY));
    json_object_set_new(payload, "totalCents", json_integer(0));
    return 0;
}

static int check_order_placed_v2(json_t *payload, char *err, size_t errlen)
{
    if (need_string(payload, "customerId", err, errlen) ||
        need_string(payload, "currency", err, errlen))
        return -1;
    json_t *total = json_object_get(payload, "totalCents");
    if (!json_is_integer(total) || json_integer_value(total) < 0)
        return ev_fail(err, errlen, "payload.totalCents must be an integer >= 0");
    size_t i;
    json_t *line;
    json_array_foreach(json_object_get(payload, "items"), i, line)
    {
        json_t *price = json_object_get(line, "unitPriceCents");
        if (!json_is_integer(price) || json_integer_value(price) < 0)
            return ev_fail(err, errlen, "payload.items[%zu].unitPriceCents must be >= 0", i);
    }
    return 0;
}

static int need_integer(json_t *payload, const char *field, json_int_t min, json_int_t max,
                        char *err, size_t errlen)
{
    json_t *v = json_object_get(payload, field);
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return ev_fail(err, errlen, "payload.%s must be an integer from %lld to %lld", field,
                       (long long)min, (long long)max);
    return 0;
}

static int need_sku(json_t *payload, char *err, size_t errlen)
{
    if (!ev_sku_valid(json_string_value(json_object_get(payload, "sku"))))
        return ev_fail(err, errlen, "payload.sku must be a SKU (A-Z, 0-9, '-', '_'; 2 to %d)",
                       EV_SKU_MAX);
    return 0;
}

/* ProductUpserted v1: {sku, name, priceCents, currency, revision}. */
static int check_product_upserted(json_t *p, char *err, size_t errlen)
{
    if (need_sku(p, err, errlen) ||
        need_integer(p, "priceCents", 0, EV_PRICE_MAX_CENTS, err, errlen) ||
        need_integer(p, "revision", 1, INT64_MAX, err, errlen))
        return -1;
    if (!ev_text_valid(json_string_value(json_object_get(p, "name")), EV_PRODUCT_NAME_MAX))
        return ev_fail(err, errlen, "payload.name must be 1 to %d characters, no controls",
                       EV_PRODUCT_NAME_MAX);
    if (!ev_currency_valid(json_string_value(json_object_get(p, "currency"))))
        return ev_fail(err, errlen, "payload.currency must be three upper-case letters");
    return 0;
}

/* StockAdjusted v1: {sku, adjustmentId, delta (non-zero), reason}. */
static int check_stock_adjusted(json_t *p, char *err, size_t errlen)
{
    if (need_sku(p, err, errlen) || need_uuid(p, "adjustmentId", err, errlen) ||
        need_integer(p, "delta", -EV_STOCK_DELTA_MAX, EV_STOCK_DELTA_MAX, err, errlen))
        return -1;
    if (json_integer_value(json_object_get(p, "delta")) == 0)
        return ev_fail(err, errlen, "payload.delta must not be 0");
    if (!ev_text_valid(json_string_value(json_object_get(p, "reason")), EV_REASON_MAX))
        return ev_fail(err, errlen, "payload.reason must be 1 to %d characters, no controls",
                       EV_REASON_MAX);
    return 0;
}

static int check_and_upcast(ev_envelope *e, char *err, size_t errlen)
{
    json_t *p = e->payload;
    const char *t = e->event_type;
    if (strcmp(t, "ProductUpserted") == 0)
        return check_product_upserted(p, err, errlen);
    if (strcmp(t, "StockAdjusted") == 0)
        return check_stock_adjusted(p, err, errlen);
    if (need_uuid(p, "orderId", err, errlen))
        return -1;
    if (strcmp(t, "OrderPlaced") == 0) {
        if (need_items(p, true, err, errlen))
            return -1;
        if (e->version == 1)
            return upcast_order_placed_v1(p, err, errlen);
        return check_order_placed_v2(p, err, errlen);
    }
    if (strcmp(t, "InventoryReserved") == 0) {
        if (need_string(p, "reservationId", err, errlen) || need_items(p, false, err, errlen))
            return -1;
        if (e->version == 1 && !json_object_get(p, "items"))
            json_object_set_new(p, "items", json_array());
        return 0;
    }
    if (strcmp(t, "InventoryReleased") == 0)
        return need_string(p, "reservationId", err, errlen);
    if (strcmp(t, "OutOfStock") == 0 || strcmp(t, "PaymentFailed") == 0 ||
        strcmp(t, "OrderCancelled") == 0)
        return need_string(p, "reason", err, errlen);
    if (strcmp(t, "PaymentSucceeded") == 0 || strcmp(t, "PaymentRefunded") == 0)
        return need_string(p, "paymentId", err, errlen);
    if (strcmp(t, "ShipmentCreated") == 0)
        return need_string(p, "shipmentId", err, errlen);
    return 0; /* OrderConfirmed: orderId only */
}

ev_upcast_result ev_upcast(ev_envelope *e, char *err, size_t errlen)
{
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
    if (check_and_upcast(e, err, errlen) != 0)
        return EV_UPCAST_INVALID;
    e->version = k->latest;
    return EV_UPCAST_OK;
}
