/* Mock e-mail rendering; see templates.h. */
#include "templates.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first block of the order id, as people quote it ("Order 5bb4b8cc"): "%.8s" of the order
 * id, a UUID (events.c checks it), so eight ASCII characters and never a cut character. */
#define SHORT_ID "%.8s"

/* The text fmt makes, in a string allocated to its size that the caller frees; NULL when out
 * of memory (or fmt cannot be formatted). */
__attribute__((format(printf, 1, 2))) static char *format(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n < 0 ? NULL : malloc((size_t)n + 1);
    if (!s)
        return NULL;
    va_start(ap, fmt);
    int written = vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    if (written != n) {
        free(s);
        return NULL;
    }
    return s;
}

static char *recipient_of(const char *order_id, const char *customer_id)
{
    if (customer_id && *customer_id)
        return format("%s@customers.example.com", customer_id);
    return format("customer+" SHORT_ID "@customers.example.com", order_id);
}

/* Subject and body of the event type's template into out; false when the type has none. */
static bool fill_template(const char *event_type, const char *order_id, const char *reason,
                          const char *shipment_id, email *out)
{
    if (strcmp(event_type, "OrderConfirmed") == 0) {
        out->subject = format("Order " SHORT_ID " is confirmed", order_id);
        out->body = format("Good news: your order %s is confirmed. Your items are reserved and "
                           "your payment went through. We will tell you as soon as it ships.",
                           order_id);
    } else if (strcmp(event_type, "OrderCancelled") == 0) {
        out->subject = format("Order " SHORT_ID " was cancelled", order_id);
        out->body = format("We are sorry: your order %s was cancelled (%s). Nothing is charged: "
                           "any payment is refunded and any reserved items are released.",
                           order_id, reason && *reason ? reason : "no reason given");
    } else if (strcmp(event_type, "ShipmentCreated") == 0) {
        out->subject = format("Order " SHORT_ID " has shipped", order_id);
        out->body = format("Your order %s is on its way. Shipment reference: %s.", order_id,
                           shipment_id && *shipment_id ? shipment_id : "pending");
    } else {
        return false;
    }
    return true;
}

email_result render_email(const char *event_type, const char *order_id, const char *customer_id,
                          const char *reason, const char *shipment_id, email *out)
{
    email e = {0};
    if (!fill_template(event_type, order_id, reason, shipment_id, &e))
        return EMAIL_NONE;
    e.recipient = recipient_of(order_id, customer_id);
    if (!e.recipient || !e.subject || !e.body) {
        email_free(&e);
        return EMAIL_FAILED;
    }
    *out = e;
    return EMAIL_RENDERED;
}

void email_free(email *e)
{
    free(e->recipient);
    free(e->subject);
    free(e->body);
    *e = (email){0};
}
