/* Mock e-mail rendering; see templates.h. */
#include "templates.h"

#include <stdio.h>
#include <string.h>

/* The first block of the order id, as people quote it: "Order 5bb4b8cc". */
static void short_id(const char *order_id, char out[9])
{
    snprintf(out, 9, "%.8s", order_id);
}

bool render_email(const char *event_type, const char *order_id, const char *customer_id,
                  const char *reason, const char *shipment_id, email *out)
{
    char id[9];
    short_id(order_id, id);
    if (customer_id && *customer_id)
        snprintf(out->recipient, sizeof out->recipient, "%s@customers.example.com", customer_id);
    else
        snprintf(out->recipient, sizeof out->recipient, "customer+%s@customers.example.com", id);
    if (strcmp(event_type, "OrderConfirmed") == 0) {
        snprintf(out->subject, sizeof out->subject, "Order %s is confirmed", id);
        snprintf(out->body, sizeof out->body,
                 "Good news: your order %s is confirmed. Your items are reserved and your payment "
                 "went through. We will tell you as soon as it ships.",
                 order_id);
    } else if (strcmp(event_type, "OrderCancelled") == 0) {
        snprintf(out->subject, sizeof out->subject, "Order %s was cancelled", id);
        snprintf(out->body, sizeof out->body,
                 "We are sorry: your order %s was cancelled (%s). Nothing is charged: any payment "
                 "is refunded and any reserved items are released.",
                 order_id, reason && *reason ? reason : "no reason given");
    } else if (strcmp(event_type, "ShipmentCreated") == 0) {
        snprintf(out->subject, sizeof out->subject, "Order %s has shipped", id);
        snprintf(out->body, sizeof out->body,
                 "Your order %s is on its way. Shipment reference: %s.", order_id,
                 shipment_id && *shipment_id ? shipment_id : "pending");
    } else {
        return false;
    }
    return true;
}
