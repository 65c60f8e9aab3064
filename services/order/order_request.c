/* Validation and pricing of POST /orders; see order_request.h. */
#include "order_request.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int reject(order_error *err, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int reject(order_error *err, int status, const char *code, const char *fmt, ...)
{
    err->status = status;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

static int by_sku(const void *key, const void *entry)
{
    return strcmp(key, ((const catalog_entry *)entry)->sku);
}

const catalog_entry *catalog_find(const catalog *cat, const char *sku)
{
    if (!cat->count)
        return NULL;
    return bsearch(sku, cat->entries, cat->count, sizeof cat->entries[0], by_sku);
}

/* Parses items[index] into line; *product receives its catalog entry. */
static int parse_line(const json_t *item, size_t index, const catalog *cat, order_line *line,
                      const catalog_entry **product, order_error *err)
{
    if (!json_is_object(item))
        return reject(err, 400, "validation_error", "items[%zu] must be an object", index);
    const json_t *sku = json_object_get(item, "sku");
    const json_t *quantity = json_object_get(item, "quantity");
    if (!json_is_string(sku) || json_string_length(sku) == 0 ||
        json_string_length(sku) > ORDER_SKU_MAX)
        return reject(err, 400, "validation_error", "items[%zu].sku must be a non-empty string",
                      index);
    if (!json_is_integer(quantity))
        return reject(err, 400, "validation_error", "items[%zu].quantity must be an integer",
                      index);
    json_int_t q = json_integer_value(quantity);
    if (q < 1 || q > ORDER_MAX_QUANTITY)
        return reject(err, 400, "invalid_quantity", "items[%zu].quantity must be between 1 and %d",
                      index, ORDER_MAX_QUANTITY);
    *product = catalog_find(cat, json_string_value(sku));
    if (!*product)
        return reject(err, 422, "unknown_sku",
                      "items[%zu].sku: there is no product %.64s (a product added moments ago"
                      " can take a moment to reach the order service: retry shortly)",
                      index, json_string_value(sku));
    snprintf(line->sku, sizeof line->sku, "%s", (*product)->sku);
    line->quantity = (int)q;
    line->unit_price_cents = (*product)->price_cents;
    return 0;
}

/* A demo control: absent is false; when present a boolean, and true only in demo mode. */
static int demo_flag(const json_t *body, const char *name, bool allow_demo, bool *out,
                     order_error *err)
{
    const json_t *v = json_object_get(body, name);
    if (v && !json_is_boolean(v))
        return reject(err, 400, "validation_error", "%s must be true or false", name);
    *out = json_is_true(v);
    if (*out && !allow_demo)
        return reject(err, 400, "demo_controls_disabled",
                      "%s is a demo control; it is refused when the shop runs in production"
                      " mode (EVENTIFY_MODE=production)",
                      name);
    return 0;
}

int order_request_parse(const json_t *body, const catalog *cat, bool allow_demo, order_request *out,
                        order_error *err)
{
    memset(out, 0, sizeof *out);
    if (demo_flag(body, "forcePaymentFailed", allow_demo, &out->force_payment_failed, err) ||
        demo_flag(body, "forceException", allow_demo, &out->force_exception, err))
        return -1;
    const json_t *customer = json_object_get(body, "customerId");
    if (!json_is_string(customer) || json_string_length(customer) == 0)
        return reject(err, 400, "validation_error", "customerId must be a non-empty string");
    if (json_string_length(customer) > ORDER_CUSTOMER_MAX)
        return reject(err, 400, "validation_error", "customerId is longer than %d characters",
                      ORDER_CUSTOMER_MAX);
    const json_t *items = json_object_get(body, "items");
    if (!json_is_array(items))
        return reject(err, 400, "validation_error", "items must be an array");
    if (json_array_size(items) == 0)
        return reject(err, 400, "validation_error", "items must not be empty");
    if (json_array_size(items) > ORDER_MAX_LINES)
        return reject(err, 400, "too_many_items", "at most %d items per order", ORDER_MAX_LINES);

    snprintf(out->customer_id, sizeof out->customer_id, "%s", json_string_value(customer));
    size_t i;
    const json_t *item;
    json_array_foreach(items, i, item)
    {
        const catalog_entry *product = NULL;
        if (parse_line(item, i, cat, &out->lines[i], &product, err) != 0 || !product)
            return -1;
        if (i == 0)
            snprintf(out->currency, sizeof out->currency, "%s", product->currency);
        else if (strcmp(out->currency, product->currency) != 0)
            return reject(err, 422, "mixed_currency",
                          "items[%zu].sku %s is priced in %s, the order in %s: one order, one"
                          " currency",
                          i, product->sku, product->currency, out->currency);
        out->total_cents += out->lines[i].unit_price_cents * out->lines[i].quantity;
    }
    out->line_count = json_array_size(items);
    return 0;
}

static json_t *lines_json(const order_request *req, int with_prices)
{
    json_t *items = json_array();
    for (size_t i = 0; i < req->line_count; i++) {
        const order_line *l = &req->lines[i];
        json_t *line = json_pack("{s:s, s:i}", "sku", l->sku, "quantity", l->quantity);
        if (with_prices)
            json_object_set_new(line, "unitPriceCents", json_integer(l->unit_price_cents));
        json_array_append_new(items, line);
    }
    return items;
}

/* The demo controls that are set, into j (absent ones stay absent, as in the contract). */
static json_t *with_demo_flags(json_t *j, const order_request *req)
{
    if (j && req->force_payment_failed)
        json_object_set_new(j, "forcePaymentFailed", json_true());
    if (j && req->force_exception)
        json_object_set_new(j, "forceException", json_true());
    return j;
}

json_t *order_placed_payload(const order_request *req, const char *order_id)
{
    return with_demo_flags(json_pack("{s:s, s:s, s:s, s:o, s:I}", "orderId", order_id, "customerId",
                                     req->customer_id, "currency", req->currency, "items",
                                     lines_json(req, 1), "totalCents",
                                     (json_int_t)req->total_cents),
                           req);
}

char *order_request_fingerprint(const order_request *req)
{
    json_t *j = with_demo_flags(
        json_pack("{s:s, s:o}", "customerId", req->customer_id, "items", lines_json(req, 0)), req);
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    return text;
}
