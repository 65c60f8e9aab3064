/* Validation and pricing of POST /orders; see order_request.h. */
#include "order_request.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unictype.h>
#include <unistr.h>

#define STR(x) #x
#define XSTR(x) STR(x)
#define FIELD_NAME_SHOWN 64 /* bytes of an unknown field's name quoted in the error */

/* The fields the API knows; anything else is a 400 naming it. Adding a field is one line. */
static const char *const request_fields[] = {"customerId", "items", "forcePaymentFailed",
                                             "forceException", NULL};
static const char *const item_fields[] = {"sku", "quantity", NULL};

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

static bool known_field(const char *const *fields, const char *name)
{
    for (size_t i = 0; fields[i]; i++)
        if (strcmp(fields[i], name) == 0)
            return true;
    return false;
}

/* name cut to at most FIELD_NAME_SHOWN bytes on a character boundary, marked when cut, so an
 * error message quoting a client's field name stays short and valid UTF-8. */
static void shown_name(const char *name, char out[FIELD_NAME_SHOWN + 4])
{
    const uint8_t *s = (const uint8_t *)name;
    size_t len = strlen(name), used = 0;
    while (used < len) {
        ucs4_t uc;
        int n = u8_mbtouc(&uc, s + used, len - used);
        if (n <= 0 || used + (size_t)n > FIELD_NAME_SHOWN)
            break;
        used += (size_t)n;
    }
    memcpy(out, name, used);
    memcpy(out + used, used < len ? "\xE2\x80\xA6" : "", used < len ? 4 : 1); /* an ellipsis */
}

/* The first key of object not in fields, or NULL. */
static const char *unknown_field(const json_t *object, const char *const *fields)
{
    const char *name;
    const json_t *value;
    json_object_foreach((json_t *)object, name, value)
    {
        (void)value;
        if (!known_field(fields, name))
            return name;
    }
    return NULL;
}

const char *order_customer_id_problem(const char *text, size_t len)
{
    const uint8_t *s = (const uint8_t *)text;
    if (len == 0)
        return "must not be empty";
    if (u8_check(s, len) != NULL)
        return "must be valid UTF-8";
    if (u8_mbsnlen(s, len) > ORDER_CUSTOMER_MAX)
        return "is longer than " XSTR(ORDER_CUSTOMER_MAX) " characters";
    /* Control, format (bidi overrides, zero-width, BOM, soft hyphen), separator, private use,
     * surrogate and unassigned code points: invisible or misleading in logs and e-mails. */
    uint32_t refused = UC_CATEGORY_MASK_Cc | UC_CATEGORY_MASK_Cf | UC_CATEGORY_MASK_Cs |
                       UC_CATEGORY_MASK_Co | UC_CATEGORY_MASK_Cn | UC_CATEGORY_MASK_Zl |
                       UC_CATEGORY_MASK_Zp;
    for (size_t i = 0; i < len;) {
        ucs4_t uc;
        int n = u8_mbtouc(&uc, s + i, len - i);
        if (n <= 0)
            return "must be valid UTF-8";
        if (uc_is_general_category_withtable(uc, refused))
            return "must contain only printable characters (no control, format or bidi "
                   "characters)";
        i += (size_t)n;
    }
    return NULL;
}

static int by_sku(const void *key, const void *entry)
{
    return strcmp(key, ((const catalog_entry *)entry)->sku);
}

/* JSON has one number type: 2 and 2.0 are the same integer (as JSON Schema says too), so a
 * client's serializer may write either. Fractions and values beyond +-2^53 are refused. */
static bool whole_number(const json_t *v, json_int_t *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    double d = json_real_value(v);
    if (!json_is_real(v) || d != floor(d) || fabs(d) > 9007199254740992.0)
        return false;
    *out = (json_int_t)d;
    return true;
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
    const char *extra = unknown_field(item, item_fields);
    if (extra) {
        char name[FIELD_NAME_SHOWN + 4];
        shown_name(extra, name);
        return reject(err, 400, "unknown_field", "items[%zu].%s is not a known field", index, name);
    }
    const json_t *sku = json_object_get(item, "sku");
    const json_t *quantity = json_object_get(item, "quantity");
    if (!json_is_string(sku) || json_string_length(sku) == 0 ||
        json_string_length(sku) > ORDER_SKU_MAX)
        return reject(err, 400, "validation_error", "items[%zu].sku must be a non-empty string",
                      index);
    json_int_t q;
    if (!whole_number(quantity, &q))
        return reject(err, 400, "validation_error", "items[%zu].quantity must be an integer",
                      index);
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
    const char *extra = unknown_field(body, request_fields);
    if (extra) {
        char name[FIELD_NAME_SHOWN + 4];
        shown_name(extra, name);
        return reject(err, 400, "unknown_field", "%s is not a known field", name);
    }
    if (demo_flag(body, "forcePaymentFailed", allow_demo, &out->force_payment_failed, err) ||
        demo_flag(body, "forceException", allow_demo, &out->force_exception, err))
        return -1;
    const json_t *customer = json_object_get(body, "customerId");
    if (!json_is_string(customer) || json_string_length(customer) == 0)
        return reject(err, 400, "validation_error", "customerId must be a non-empty string");
    if (json_string_length(customer) > ORDER_CUSTOMER_MAX_BYTES)
        return reject(err, 400, "validation_error", "customerId is longer than %d characters",
                      ORDER_CUSTOMER_MAX);
    const char *problem =
        order_customer_id_problem(json_string_value(customer), json_string_length(customer));
    if (problem)
        return reject(err, 400, "validation_error", "customerId %s", problem);
    const json_t *items = json_object_get(body, "items");
    if (!json_is_array(items))
        return reject(err, 400, "validation_error", "items must be an array");
    if (json_array_size(items) == 0)
        return reject(err, 400, "validation_error", "items must not be empty");
    if (json_array_size(items) > ORDER_MAX_LINES)
        return reject(err, 400, "too_many_items", "at most %d items per order", ORDER_MAX_LINES);

    memcpy(out->customer_id, json_string_value(customer), json_string_length(customer) + 1);
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
