/* Product and stock-adjustment requests; see product.h. */
#include "product.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int reject(product_error *err, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int reject(product_error *err, int status, const char *code, const char *fmt, ...)
{
    err->status = status;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

/* Refuses a field that is not in allowed (NULL-terminated): a client's typo must not be
 * silently dropped. */
static int only_fields(const json_t *body, const char *const *allowed, product_error *err)
{
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)body, key, value)
    {
        (void)value;
        bool known = false;
        for (size_t i = 0; allowed[i] && !known; i++)
            known = strcmp(key, allowed[i]) == 0;
        if (!known)
            return reject(err, 400, "unknown_field", "unknown field \"%.64s\"", key);
    }
    return 0;
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

int product_check_sku(const char *sku, product_error *err)
{
    if (!ev_sku_valid(sku))
        return reject(err, 400, "invalid_sku",
                      "the SKU must be 2 to %d characters of A-Z, 0-9, '-' and '_', starting"
                      " with a letter or digit",
                      EV_SKU_MAX);
    return 0;
}

int product_parse(const json_t *body, product_input *out, product_error *err)
{
    static const char *const allowed[] = {"name", "priceCents", "currency", NULL};
    memset(out, 0, sizeof *out);
    if (only_fields(body, allowed, err))
        return -1;
    const json_t *name = json_object_get(body, "name");
    const json_t *price = json_object_get(body, "priceCents");
    const json_t *currency = json_object_get(body, "currency");
    if (!json_is_string(name) || !ev_text_valid(json_string_value(name), EV_PRODUCT_NAME_MAX))
        return reject(err, 400, "invalid_name",
                      "name must be a string of 1 to %d characters without control characters",
                      EV_PRODUCT_NAME_MAX);
    json_int_t price_cents;
    if (!whole_number(price, &price_cents) || price_cents < 0 || price_cents > EV_PRICE_MAX_CENTS)
        return reject(err, 400, "invalid_price",
                      "priceCents must be an integer from 0 to %lld (minor units, e.g. 1999)",
                      (long long)EV_PRICE_MAX_CENTS);
    if (currency && (!json_is_string(currency) || !ev_currency_valid(json_string_value(currency))))
        return reject(err, 400, "invalid_currency",
                      "currency must be three upper-case letters, e.g. EUR");
    snprintf(out->name, sizeof out->name, "%s", json_string_value(name));
    out->price_cents = price_cents;
    snprintf(out->currency, sizeof out->currency, "%s",
             currency ? json_string_value(currency) : EV_CURRENCY);
    return 0;
}

int seed_entry_parse(const json_t *entry, product_input *out, int *stock, product_error *err)
{
    if (!json_is_object(entry))
        return reject(err, 400, "invalid_seed", "a seed entry must be an object");
    const json_t *units = json_object_get(entry, "stock");
    json_t *fields = json_deep_copy(entry);
    if (!fields)
        return reject(err, 400, "invalid_seed", "out of memory");
    json_object_del(fields, "sku");
    json_object_del(fields, "stock");
    int rc = product_check_sku(json_string_value(json_object_get(entry, "sku")), err) ||
             product_parse(fields, out, err);
    json_decref(fields);
    if (rc)
        return -1;
    json_int_t n;
    if (!whole_number(units, &n) || n < 0 || n > EV_STOCK_DELTA_MAX)
        return reject(err, 400, "invalid_stock", "stock must be an integer from 0 to %d",
                      EV_STOCK_DELTA_MAX);
    *stock = (int)n;
    return 0;
}

int adjustment_parse(const json_t *body, adjustment_input *out, product_error *err)
{
    static const char *const allowed[] = {"delta", "reason", NULL};
    memset(out, 0, sizeof *out);
    if (only_fields(body, allowed, err))
        return -1;
    const json_t *delta = json_object_get(body, "delta");
    const json_t *reason = json_object_get(body, "reason");
    json_int_t units;
    if (!whole_number(delta, &units) || units == 0 || units < -EV_STOCK_DELTA_MAX ||
        units > EV_STOCK_DELTA_MAX)
        return reject(err, 400, "invalid_delta",
                      "delta must be a non-zero integer from -%d to %d (units received > 0,"
                      " written off < 0)",
                      EV_STOCK_DELTA_MAX, EV_STOCK_DELTA_MAX);
    if (!json_is_string(reason) || !ev_text_valid(json_string_value(reason), EV_STOCK_REASON_MAX))
        return reject(err, 400, "invalid_reason",
                      "reason must be a string of 1 to %d characters without control characters",
                      EV_STOCK_REASON_MAX);
    out->delta = (int)units;
    snprintf(out->reason, sizeof out->reason, "%s", json_string_value(reason));
    return 0;
}

int adjustment_decide(const stock_level *level, int delta, const char *sku, product_error *err)
{
    if (delta < 0 && level->available + delta < 0)
        return reject(err, 409, "below_reserved",
                      "cannot write off %d of %s: %d on hand, %d reserved for orders, so at most"
                      " %d can be written off",
                      -delta, sku, level->on_hand, level->reserved, level->available);
    if (delta > 0 && level->on_hand > PRODUCT_MAX_ON_HAND - delta)
        return reject(err, 409, "too_much_stock", "%s would hold more than %d units", sku,
                      PRODUCT_MAX_ON_HAND);
    return 0;
}

char *adjustment_fingerprint(const char *sku, const adjustment_input *in)
{
    json_t *j = json_pack("{s:s, s:i, s:s}", "sku", sku, "delta", in->delta, "reason", in->reason);
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    return text;
}
