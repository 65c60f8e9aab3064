/* Mock e-mail templates, one per event the notification service reacts to. Pure.
 *
 * Every part of an e-mail is allocated to its exact size: the customer id (up to
 * EV_CUSTOMER_ID_MAX characters, 256 bytes of UTF-8) and a cancellation's reason (up to
 * EV_REASON_MAX characters) always go in whole, never cut into a fixed buffer, where a cut
 * could lose the address's domain or split a character the database then refuses. */
#ifndef TEMPLATES_H
#define TEMPLATES_H

#include <stdbool.h>
#include <stddef.h>

/* A rendered e-mail. Its three strings are owned by it: email_free releases them. */
typedef struct {
    char *recipient;
    char *subject;
    char *body;
} email;

typedef enum {
    EMAIL_NONE,     /* the event type sends no e-mail: *out untouched */
    EMAIL_RENDERED, /* *out holds the e-mail, which the caller frees with email_free */
    EMAIL_FAILED,   /* out of memory: *out holds nothing to free */
} email_result;

/* Renders the e-mail for event_type about order_id. customer_id may be NULL or empty
 * (unknown: the order's fallback address); reason is OrderCancelled's, shipment_id
 * ShipmentCreated's (either may be NULL). All borrowed; nothing is kept. */
email_result render_email(const char *event_type, const char *order_id, const char *customer_id,
                          const char *reason, const char *shipment_id, email *out);

/* Frees what e holds and empties it; a zeroed or emptied e is left alone. */
void email_free(email *e);

#endif
