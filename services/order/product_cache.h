/* The order service's prices in memory: a copy of its `products` table (its projection of
 * catalog.events), so pricing an order costs no database round trip. HTTP threads read it;
 * the consumer thread changes it after each committed ProductUpserted and reloads the table
 * every second (another instance may have projected a change). A price is the one
 * known when the order is accepted; the order keeps it.
 *
 * The cache owns its entries; product_cache_free releases them. */
#ifndef PRODUCT_CACHE_H
#define PRODUCT_CACHE_H

#include "order_request.h"

#include <pthread.h>

typedef struct {
    pthread_rwlock_t lock;
    catalog_entry *entries; /* sorted by sku */
    size_t count, cap;
} product_cache;

int product_cache_init(product_cache *c);
void product_cache_free(product_cache *c);

/* Adds or replaces the price of sku. Returns 0, or -1 when sku is too long or out of memory. */
int product_cache_put(product_cache *c, const char *sku, int64_t price_cents, const char *currency);

/* order_request_parse against the cache, under its read lock. */
int product_cache_price(product_cache *c, const json_t *body, bool allow_demo, order_request *out,
                        order_error *err);

#endif
