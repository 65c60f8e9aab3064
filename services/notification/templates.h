/* Mock e-mail templates, one per event the notification service reacts to. Pure. */
#ifndef TEMPLATES_H
#define TEMPLATES_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char recipient[128];
    char subject[160];
    char body[1024];
} email;

/* Renders the e-mail for event_type about order_id. customer_id may be NULL (unknown);
 * reason is OrderCancelled's reason, shipment_id ShipmentCreated's. Returns false for event
 * types that send nothing. */
bool render_email(const char *event_type, const char *order_id, const char *customer_id,
                  const char *reason, const char *shipment_id, email *out);

#endif
