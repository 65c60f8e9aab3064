/* A batch of order events folded over the payments they concern, for the payment service's
 * set-based batch handler (main.c). Pure: no database, unit-tested.
 *
 * What the per-event path does event after event (lock the order's payment, gateway_decide,
 * write), the fold does for the whole batch at once with the same result: each event acts on
 * its order's payment as the previous event of that order left it, in the batch's order. The
 * orders are sorted by order id, the order in which every instance locks their rows, so two
 * instances never wait on each other in a cycle. */
#ifndef CHARGE_FOLD_H
#define CHARGE_FOLD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A payment's status; PAYMENT_NONE: no row (yet). */
typedef enum {
    PAYMENT_NONE = 0,
    PAYMENT_SUCCEEDED,
    PAYMENT_FAILED,
    PAYMENT_REFUNDED,
    PAYMENT_VOID,
} payment_state;

/* The stored spelling of state ("SUCCEEDED" ...); NULL for PAYMENT_NONE. */
const char *payment_state_name(payment_state state);

/* The state a stored spelling names, or -1 when it is none of them. */
int payment_state_parse(const char *name);

typedef enum {
    CHARGE_FOLD_PLACED,    /* OrderPlaced: charge through the gateway */
    CHARGE_FOLD_CANCELLED, /* OrderCancelled: refund a charge, or void the order */
} charge_fold_kind;

/* One order event of the batch, all borrowed. */
typedef struct {
    const char *order_id; /* a UUID; spellings differing only in case are one order */
    charge_fold_kind kind;
    const json_t *order_placed; /* CHARGE_FOLD_PLACED: the upcast payload; otherwise NULL */
} charge_fold_event;

typedef struct {
    const char *order_id; /* borrowed: its first event's */
    payment_state stored; /* as locked, set before charge_fold_apply */
    payment_state state;  /* = stored before charge_fold_apply; then as its last event left it */
    int64_t amount_cents; /* the stored row's, set before charge_fold_apply; a new row's */
    const char *reason;   /* a row the fold creates: why it failed or was voided, else NULL */
} charge_fold_order;

typedef enum {
    CHARGE_STEP_NOTHING,   /* decided before, or nothing charged: no row, no event */
    CHARGE_STEP_CHARGED,   /* SUCCEEDED row, PaymentSucceeded */
    CHARGE_STEP_DECLINED,  /* FAILED row, PaymentFailed with the reason */
    CHARGE_STEP_REFUNDED,  /* SUCCEEDED to REFUNDED, PaymentRefunded */
    CHARGE_STEP_VOIDED,    /* VOID row: the cancel came first, never charge */
    CHARGE_STEP_TRANSIENT, /* the gateway "threw": the batch cannot be decided (give up) */
} charge_step_kind;

typedef struct {
    charge_step_kind kind;
    char reason[256]; /* CHARGE_STEP_DECLINED and _TRANSIENT: gateway_decide's reason */
} charge_fold_step;

/* The reason a VOID row records. */
#define CHARGE_FOLD_VOID_REASON "cancelled before placed"

/* The distinct orders of the n events into orders (room for n) and their number into *count,
 * sorted by order id without regard to case; order_of[i] is event i's index in orders. Each
 * order starts with no row (PAYMENT_NONE). Returns 0, or -1 when out of memory. */
int charge_fold_collect(const charge_fold_event *events, size_t n, charge_fold_order *orders,
                        size_t *order_of, size_t *count);

/* Index of the order named order_id (case ignored) among count sorted orders, or -1. */
long charge_fold_find(const charge_fold_order *orders, size_t count, const char *order_id);

/* Applies every event, in the batch's order, to its order's payment as the previous events
 * left it, charging through gateway_decide with limit_cents; steps[i] is event i's (room for
 * n). Returns true, or false at the first charge the gateway answers with a transient error
 * (that step says CHARGE_STEP_TRANSIENT and why; the rest is undefined): handled alone it is
 * retried, so the batch gives up. */
bool charge_fold_apply(charge_fold_order *orders, const charge_fold_event *events, size_t n,
                       const size_t *order_of, int64_t limit_cents, charge_fold_step *steps);

#endif
