/* POST /orders input: validation against the catalog and pricing. Pure: no I/O.
 *
 * A request is {"customerId": string, "items": [{"sku": string, "quantity": int}]}, plus
 * the demo controls "forcePaymentFailed" and "forceException" (booleans, carried in
 * OrderPlaced; refused unless demo mode allows them). A field the API does not know (a
 * client's typo, or a price) is a 400 naming it, never silently dropped; prices always come
 * from the catalog (the service's projection of catalog.events), never from the client.
 * customerId is 1 to ORDER_CUSTOMER_MAX printable characters (UTF-8): no control, format or
 * bidi characters, since it reaches logs and e-mails. */
#ifndef ORDER_REQUEST_H
#define ORDER_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ORDER_MAX_LINES 100
#define ORDER_MAX_QUANTITY 1000
#define ORDER_CUSTOMER_MAX 64 /* characters (code points), not bytes */
/* UTF-8: at most 4 bytes a character */
#define ORDER_CUSTOMER_MAX_BYTES ((size_t)4 * ORDER_CUSTOMER_MAX)
#define ORDER_SKU_MAX 64

typedef struct {
    char sku[ORDER_SKU_MAX + 1];
    int64_t price_cents;
    char currency[4];
} catalog_entry;

typedef struct {
    const catalog_entry *entries; /* sorted by sku; not owned */
    size_t count;
} catalog;

typedef struct {
    char sku[ORDER_SKU_MAX + 1];
    int quantity;
    int64_t unit_price_cents;
} order_line;

typedef struct {
    char customer_id[ORDER_CUSTOMER_MAX_BYTES + 1];
    size_t line_count;
    order_line lines[ORDER_MAX_LINES];
    int64_t total_cents;
    char currency[4];          /* every line's: one order, one currency */
    bool force_payment_failed; /* demo controls, carried in OrderPlaced */
    bool force_exception;
} order_request;

typedef struct {
    int status;        /* HTTP status: 400 or 422 */
    const char *code;  /* machine-readable error code */
    char message[256]; /* for people */
} order_error;

/* Validates body and prices it from cat. allow_demo false refuses the demo controls (400).
 * Returns 0, or -1 with err filled. */
int order_request_parse(const json_t *body, const catalog *cat, bool allow_demo, order_request *out,
                        order_error *err);

/* Checks a customerId of len bytes: valid UTF-8, 1..ORDER_CUSTOMER_MAX code points, none of
 * them a control (C0, DEL, C1), format/bidi (e.g. U+200E, U+202E, U+2066, U+FEFF) or
 * line/paragraph separator. Returns NULL when acceptable, else why (a static string). */
const char *order_customer_id_problem(const char *text, size_t len);

/* The entry of sku in cat (sorted), or NULL. */
const catalog_entry *catalog_find(const catalog *cat, const char *sku);

/* The OrderPlaced v2 payload for the order. New reference. */
json_t *order_placed_payload(const order_request *req, const char *order_id);

/* The normalized request text stored with an Idempotency-Key. The caller frees it. */
char *order_request_fingerprint(const order_request *req);

#endif
