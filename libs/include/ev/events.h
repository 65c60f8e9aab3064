/* The event catalog: which topic each event type lives on, the newest version of each,
 * payload checks, and the one place where older versions are upcast to the newest (tolerant
 * reader). Products are not here: they are data owned by the inventory service and travel as
 * ProductUpserted on catalog.events. */
#ifndef EV_EVENTS_H
#define EV_EVENTS_H

#include "ev/envelope.h"

#include <stdbool.h>
#include <stdint.h>

#define EV_TOPIC_ORDERS "orders.events"
#define EV_TOPIC_INVENTORY "inventory.events"
#define EV_TOPIC_PAYMENTS "payments.events"
#define EV_TOPIC_LIFECYCLE "order.lifecycle.events"
#define EV_TOPIC_SHIPPING "shipping.events"
#define EV_TOPIC_CATALOG "catalog.events"

#define EV_CURRENCY "EUR"

/* Bounds every event is held to, the same as the HTTP APIs accept: an event is no more
 * trusted than a request. Money stays far from int64 limits, and sums are overflow-checked. */
#define EV_ORDER_MAX_LINES 100
#define EV_ORDER_MAX_QUANTITY 1000
#define EV_CUSTOMER_ID_MAX 64
#define EV_SKU_MAX 64
#define EV_ID_MAX 64                        /* reservationId, paymentId: opaque ids */
#define EV_REASON_MAX 1024                  /* reason texts of saga events */
#define EV_PRICE_MAX_CENTS 100000000LL      /* 1,000,000.00 per unit */
#define EV_TOTAL_MAX_CENTS 10000000000000LL /* lines x quantity x unit price, at most */
#define EV_PRODUCT_NAME_MAX 100 /* characters (code points), as the contracts' maxLength */
#define EV_STOCK_DELTA_MAX 1000000
#define EV_STOCK_REASON_MAX 200 /* characters: the reason of a stock adjustment */
/* Bytes a text of n characters may take in UTF-8 (buffer sizes, without the NUL). */
#define EV_UTF8_BYTES(n) (4 * (n))

/* A SKU: 2 to EV_SKU_MAX characters of A-Z, 0-9, '-' and '_', starting with a letter or digit. */
bool ev_sku_valid(const char *sku);

/* Text meant for people (product names, reasons): 1 to max characters (code points, as JSON
 * Schema's maxLength counts them; at most EV_UTF8_BYTES(max) bytes) without control
 * characters (C0, DEL, C1) or bidi overrides and isolates. The caller's JSON parser checked
 * UTF-8. */
bool ev_text_valid(const char *text, size_t max);

/* An ISO 4217-shaped currency code: three upper-case letters. */
bool ev_currency_valid(const char *currency);

/* Topic of an event type, or NULL when the type is not in the catalog. */
const char *ev_topic_of(const char *event_type);

/* Newest version of an event type, or 0 when the type is unknown. */
int ev_latest_version(const char *event_type);

typedef enum {
    EV_UPCAST_OK = 0,         /* payload valid and now at the newest version */
    EV_UPCAST_UNKNOWN_TYPE,   /* not ours: a tolerant reader skips it */
    EV_UPCAST_FUTURE_VERSION, /* newer than this build knows: dead-letter it */
    EV_UPCAST_INVALID,        /* payload breaks its schema: dead-letter it */
} ev_upcast_result;

/* What a tolerant read let pass: a field missing that no consumer needs, or a field this
 * build does not know. text names the first one; count says how many there were. */
typedef struct {
    unsigned count;
    char text[160];
} ev_tolerated;

/* Checks the payload against its version and upgrades it in place (payload and version) to
 * the newest version. Strict on what consumers use or what could hurt them (types, bounds,
 * sizes: a failure is EV_UPCAST_INVALID); tolerant of a missing field nobody needs and of
 * unknown extra fields, which are noted in *tolerated (may be NULL). A missing field the
 * newest version has and consumers read is filled in as the v1 upcaster would (customerId
 * "unknown", currency, catalog prices, the total). err says why when the result is not
 * EV_UPCAST_OK. */
ev_upcast_result ev_upcast_tolerant(ev_envelope *e, ev_tolerated *tolerated, char *err,
                                    size_t errlen);

/* ev_upcast_tolerant without the notes. */
ev_upcast_result ev_upcast(ev_envelope *e, char *err, size_t errlen);

#endif
