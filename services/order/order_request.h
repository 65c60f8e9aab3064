/* POST /orders input: validation against the catalog and pricing. Pure: no I/O.
 *
 * A request is {"customerId": string, "items": [{"sku": string, "quantity": int}]}; unknown
 * fields are ignored and prices always come from the catalog, never from the client. */
#ifndef ORDER_REQUEST_H
#define ORDER_REQUEST_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define ORDER_MAX_LINES 100
#define ORDER_MAX_QUANTITY 1000
#define ORDER_CUSTOMER_MAX 64
#define ORDER_SKU_MAX 64

typedef struct {
    const char *sku;
    const char *name;
    int64_t price_cents;
} catalog_entry;

typedef struct {
    const catalog_entry *entries; /* not owned */
    size_t count;
    const char *currency;
} catalog;

typedef struct {
    char sku[ORDER_SKU_MAX + 1];
    int quantity;
    int64_t unit_price_cents;
} order_line;

typedef struct {
    char customer_id[ORDER_CUSTOMER_MAX + 1];
    size_t line_count;
    order_line lines[ORDER_MAX_LINES];
    int64_t total_cents;
    const char *currency;
} order_request;

typedef struct {
    int status;        /* HTTP status: 400 or 422 */
    const char *code;  /* machine-readable error code */
    char message[256]; /* for people */
} order_error;

/* Validates body and prices it from cat. Returns 0, or -1 with err filled. */
int order_request_parse(const json_t *body, const catalog *cat, order_request *out,
                        order_error *err);

/* The OrderPlaced v2 payload for the order. New reference. */
json_t *order_placed_payload(const order_request *req, const char *order_id);

/* The normalized request text stored with an Idempotency-Key. The caller frees it. */
char *order_request_fingerprint(const order_request *req);

#endif
