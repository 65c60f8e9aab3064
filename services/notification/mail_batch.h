/* A batch of notification events folded over the orders they concern, for the notification
 * service's set-based batch handler (main.c). Pure: no database, unit-tested.
 *
 * The per-event path learns each order's customer from its OrderPlaced (the first one stored
 * wins) and looks it up when it renders an e-mail, so an e-mail goes to the customer stored
 * before the batch, or else to the one named by the order's first OrderPlaced that came
 * earlier in the batch, or else to no one known (the template's fallback address). Events of
 * different topics interleave in a fetched batch, so an OrderConfirmed can come before its
 * own OrderPlaced: the fold gives every event the customer it would have found handled alone,
 * in the batch's order. The orders are sorted by order id, the order in which every instance
 * writes their rows, so two instances never wait on each other in a cycle. */
#ifndef MAIL_BATCH_H
#define MAIL_BATCH_H

#include "templates.h"

#include <stdbool.h>
#include <stddef.h>

/* One event of the batch, all borrowed. */
typedef struct {
    const char *event_type;
    const char *order_id;    /* a UUID; spellings differing only in case are one order */
    const char *customer_id; /* OrderPlaced's customer (not NULL for it), else NULL */
    const char *reason;      /* OrderCancelled's reason, or NULL */
    const char *shipment_id; /* ShipmentCreated's shipment id, or NULL */
} mail_event;

typedef struct {
    const char *order_id; /* borrowed: its first event's */
    long placed;          /* index of its first OrderPlaced in the batch, or -1 */
    /* Set by the caller before rendering: whether a customer was stored for the order before
     * the batch, and which (borrowed). */
    bool stored;
    const char *stored_customer;
} mail_order;

/* The distinct orders of the n events into orders (room for n) and their number into *count,
 * sorted by order id without regard to case; order_of[i] is event i's index in orders.
 * Nothing is stored yet. Returns 0, or -1 when out of memory. */
int mail_batch_collect(const mail_event *events, size_t n, mail_order *orders, size_t *order_of,
                       size_t *count);

/* Index of the order named order_id (case ignored) among count sorted orders, or -1. */
long mail_batch_find(const mail_order *orders, size_t count, const char *order_id);

/* The customer event i's e-mail goes to, as the per-event path finds it; NULL when unknown.
 * Borrowed from the events or the stored customers. */
const char *mail_batch_customer(const mail_order *orders, const mail_event *events,
                                const size_t *order_of, size_t i);

/* Renders event i's e-mail into out, as the per-event path does (render_email: the caller
 * frees an EMAIL_RENDERED e-mail with email_free); EMAIL_NONE when the event sends none (an
 * OrderPlaced, or a type without a template). */
email_result mail_batch_render(const mail_order *orders, const mail_event *events,
                               const size_t *order_of, size_t i, email *out);

#endif
