/* A batch of order events folded over the reservations and stock rows they concern, for the
 * inventory's set-based batch handler (main.c). Pure: no database, unit-tested.
 *
 * What the per-event path does event after event (lock the order's reservation, lock its
 * SKUs' stock, reservation_decide, write), the fold does for the whole batch at once with the
 * same result: each event acts on its reservation as the previous event of that order left
 * it, and on the stock as every earlier event of the batch left it, in the batch's order, so
 * competing orders for one SKU get stock in delivery order, exactly as when handled alone.
 * Orders are sorted by order id and SKUs in strcmp order (the per-event path's), the orders in
 * which every instance locks their rows, so two instances never wait on each other in a
 * cycle. */
#ifndef STOCK_FOLD_H
#define STOCK_FOLD_H

#include "reservation.h"

#include <stdbool.h>
#include <stddef.h>

/* A reservation's status; RESERVATION_NONE: no row (yet). */
typedef enum {
    RESERVATION_NONE = 0,
    RESERVATION_HELD,
    RESERVATION_COMMITTED,
    RESERVATION_RELEASED,
    RESERVATION_REJECTED,
    RESERVATION_VOID,
} reservation_state;

/* The stored spelling of status ("HELD" ...); NULL for RESERVATION_NONE. */
const char *reservation_state_name(reservation_state status);

/* The status a stored spelling names, or -1 when it is none of them. */
int reservation_state_parse(const char *name);

typedef enum {
    STOCK_FOLD_PLACED,    /* OrderPlaced: reserve every line or none */
    STOCK_FOLD_CANCELLED, /* OrderCancelled: release what is held, or void the order */
    STOCK_FOLD_CONFIRMED, /* OrderConfirmed: what is held is committed */
} stock_fold_kind;

/* One order event of the batch, all borrowed. */
typedef struct {
    const char *order_id; /* a UUID; spellings differing only in case are one order */
    stock_fold_kind kind;
    const line_set *lines; /* STOCK_FOLD_PLACED: the order's items; otherwise NULL */
} stock_fold_event;

typedef struct {
    const char *order_id;     /* borrowed: its first event's */
    reservation_state stored; /* as locked, set before stock_fold_apply */
    reservation_state status; /* = stored before stock_fold_apply; then as its last event left it */
    /* The reservation's items: set with a stored HELD row's before stock_fold_apply (borrowed);
     * a row the fold creates gets its placing event's lines (NULL for a VOID row: none). */
    const line_set *items;
    const char *reason; /* a row the fold creates: why it was rejected or voided, else NULL */
    bool cancelled;     /* one of its events is a cancellation (its held SKUs are locked) */
} stock_fold_order;

/* One SKU the batch reserves or may release. */
typedef struct {
    const char *sku; /* borrowed */
    int available;   /* locked: set before stock_fold_apply, -1 when there is no such row */
    int reserved;    /* units the batch moved from available to reserved (negative: back) */
} stock_fold_sku;

typedef enum {
    STOCK_STEP_NOTHING,      /* decided before, or nothing held: no row, no event */
    STOCK_STEP_RESERVED,     /* HELD row, InventoryReserved */
    STOCK_STEP_OUT_OF_STOCK, /* REJECTED row, OutOfStock with the reason */
    STOCK_STEP_RELEASED,     /* HELD to RELEASED, InventoryReleased */
    STOCK_STEP_VOIDED,       /* VOID row: the cancel came first, never reserve */
    STOCK_STEP_COMMITTED,    /* HELD to COMMITTED */
} stock_step_kind;

typedef struct {
    stock_step_kind kind;
    char reason[256]; /* STOCK_STEP_OUT_OF_STOCK: reservation_decide's reason */
} stock_fold_step;

/* The reason a VOID row records. */
#define STOCK_FOLD_VOID_REASON "cancelled before placed"

/* The distinct orders of the n events into orders (room for n) and their number into *count,
 * sorted by order id without regard to case; order_of[i] is event i's index in orders. Each
 * order starts with no row (RESERVATION_NONE) and cancelled set when one of its events is a
 * cancellation. Returns 0, or -1 when out of memory. */
int stock_fold_collect(const stock_fold_event *events, size_t n, stock_fold_order *orders,
                       size_t *order_of, size_t *count);

/* Index of the order named order_id (case ignored) among count sorted orders, or -1. */
long stock_fold_find_order(const stock_fold_order *orders, size_t count, const char *order_id);

/* The SKUs to lock once the orders' stored rows are known: every line of the placed events,
 * and every item of a stored HELD reservation whose order is cancelled in the batch; distinct,
 * in strcmp order, available -1 and nothing reserved. Returns a new array (the caller frees
 * it) with their number in *count, or NULL when out of memory. */
stock_fold_sku *stock_fold_skus(const stock_fold_event *events, size_t n,
                                const stock_fold_order *orders, size_t order_count, size_t *count);

/* Index of sku among count sorted SKUs, or -1. */
long stock_fold_find_sku(const stock_fold_sku *skus, size_t count, const char *sku);

/* Applies every event, in the batch's order, to its order's reservation as the previous
 * events left it and to the SKUs' stock as all previous events left it; steps[i] is event i's
 * (room for n). Orders and SKUs end as the batch leaves them. */
void stock_fold_apply(stock_fold_order *orders, stock_fold_sku *skus, size_t sku_count,
                      const stock_fold_event *events, size_t n, const size_t *order_of,
                      stock_fold_step *steps);

#endif
