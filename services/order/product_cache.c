/* Prices in memory for POST /orders; see product_cache.h. */
#include "product_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int product_cache_init(product_cache *c)
{
    memset(c, 0, sizeof *c);
    return pthread_rwlock_init(&c->lock, NULL) == 0 ? 0 : -1;
}

void product_cache_free(product_cache *c)
{
    pthread_rwlock_destroy(&c->lock);
    free(c->entries);
    memset(c, 0, sizeof *c);
}

/* Index of sku, or of where it would go (binary search over the sorted entries). */
static size_t position(const product_cache *c, const char *sku, bool *found)
{
    size_t lo = 0, hi = c->count;
    *found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(c->entries[mid].sku, sku);
        if (cmp == 0) {
            *found = true;
            return mid;
        }
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int product_cache_put(product_cache *c, const char *sku, int64_t price_cents, const char *currency)
{
    catalog_entry entry = {.price_cents = price_cents};
    if (strlen(sku) >= sizeof entry.sku || strlen(currency) >= sizeof entry.currency)
        return -1;
    memcpy(entry.sku, sku, strlen(sku) + 1);
    memcpy(entry.currency, currency, strlen(currency) + 1);
    int rc = 0;
    pthread_rwlock_wrlock(&c->lock);
    bool found;
    size_t at = position(c, sku, &found);
    if (!found && c->count == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        catalog_entry *grown = realloc(c->entries, cap * sizeof *grown);
        if (grown) {
            c->entries = grown;
            c->cap = cap;
        } else {
            rc = -1;
        }
    }
    if (rc == 0 && !found) {
        memmove(&c->entries[at + 1], &c->entries[at], (c->count - at) * sizeof entry);
        c->count++;
    }
    if (rc == 0)
        c->entries[at] = entry;
    pthread_rwlock_unlock(&c->lock);
    return rc;
}

int product_cache_price(product_cache *c, const json_t *body, bool allow_demo, order_request *out,
                        order_error *err)
{
    pthread_rwlock_rdlock(&c->lock);
    catalog view = {c->entries, c->count};
    int rc = order_request_parse(body, &view, allow_demo, out, err);
    pthread_rwlock_unlock(&c->lock);
    return rc;
}
