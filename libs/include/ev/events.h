/* The event catalog of SPEC.md: which topic each event type lives on, the newest version of
 * each, payload checks, and the one place where older versions are upcast to the newest
 * (tolerant reader). Also the seeded product catalog, whose prices the upcaster needs. */
#ifndef EV_EVENTS_H
#define EV_EVENTS_H

#include "ev/envelope.h"

#include <stdint.h>

#define EV_TOPIC_ORDERS "orders.events"
#define EV_TOPIC_INVENTORY "inventory.events"
#define EV_TOPIC_PAYMENTS "payments.events"
#define EV_TOPIC_LIFECYCLE "order.lifecycle.events"
#define EV_TOPIC_SHIPPING "shipping.events"

#define EV_CURRENCY "EUR"

typedef struct {
    const char *sku;
    const char *name;
    int64_t price_cents;
    int initial_stock;
} ev_product;

/* The seeded catalog, or NULL for an unknown SKU. */
const ev_product *ev_catalog_find(const char *sku);

/* All products in catalog order; *count receives their number. */
const ev_product *ev_catalog_all(size_t *count);

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

/* Checks the payload against its version and upgrades it in place (payload and version) to
 * the newest version. err says why when the result is not EV_UPCAST_OK. */
ev_upcast_result ev_upcast(ev_envelope *e, char *err, size_t errlen);

#endif
