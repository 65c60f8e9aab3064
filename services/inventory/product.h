/* Product and stock-adjustment requests of the inventory API: strict parsing of the JSON
 * bodies (unknown fields are refused, naming the field) and the write-off rule. Pure: no
 * I/O; main.c reads and writes the rows and the outbox.
 *
 *   PUT  /products/{sku}                    {"name", "priceCents", "currency"?}
 *   POST /products/{sku}/stock-adjustments  {"delta", "reason"} */
#ifndef PRODUCT_H
#define PRODUCT_H

#include "ev/events.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* On-hand units of one SKU are capped so sums never overflow the integer columns. */
#define PRODUCT_MAX_ON_HAND 1000000000

typedef struct {
    int status;        /* HTTP status: 400, 404 or 409 */
    const char *code;  /* machine-readable */
    char message[256]; /* for people */
} product_error;

typedef struct {
    char name[EV_UTF8_BYTES(EV_PRODUCT_NAME_MAX) + 1];
    int64_t price_cents;
    char currency[4];
} product_input;

typedef struct {
    int delta;
    char reason[EV_UTF8_BYTES(EV_STOCK_REASON_MAX) + 1];
} adjustment_input;

typedef struct {
    int on_hand; /* available + reserved */
    int available;
    int reserved;
} stock_level;

/* Checks the SKU of the path. Returns 0, or -1 with a 400. */
int product_check_sku(const char *sku, product_error *err);

/* Parses a PUT body; currency defaults to EUR. Returns 0, or -1 with a 400. */
int product_parse(const json_t *body, product_input *out, product_error *err);

/* Parses an entry of the seed catalog, {"sku", "name", "priceCents", "currency"?, "stock"}:
 * the product as PUT /products takes it, and its opening stock (0 to EV_STOCK_DELTA_MAX).
 * Returns 0, or -1 with err naming what is wrong. */
int seed_entry_parse(const json_t *entry, product_input *out, int *stock, product_error *err);

/* Parses a stock-adjustment body. Returns 0, or -1 with a 400. */
int adjustment_parse(const json_t *body, adjustment_input *out, product_error *err);

/* Whether delta can be applied to level: a write-off never takes units that are reserved
 * (409), and on-hand stays within PRODUCT_MAX_ON_HAND (409). Returns 0 or -1 with err. */
int adjustment_decide(const stock_level *level, int delta, const char *sku, product_error *err);

/* The normalized request stored with an Idempotency-Key, to tell a retry from a reuse of
 * the key for another adjustment. The caller frees it. */
char *adjustment_fingerprint(const char *sku, const adjustment_input *in);

#endif
