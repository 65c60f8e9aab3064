/* The order saga as a pure state machine: (state, event) -> (new state, what to emit).
 *
 *   STARTED --InventoryReserved--> INVENTORY_RESERVED --PaymentSucceeded--> CONFIRMED
 *   STARTED --PaymentSucceeded---> PAYMENT_SUCCEEDED  --InventoryReserved--> CONFIRMED
 *   any open state --OutOfStock | PaymentFailed | deadline--> CANCELLED
 *
 * CONFIRMED and CANCELLED are final: anything arriving later changes nothing. The
 * orchestrator decides on results alone; OrderPlaced only starts the clock.
 *
 * A cancellation's reason is the saga's words and the failing event's own reason, which may
 * itself be EV_REASON_MAX characters long. OrderCancelled is held to EV_REASON_MAX characters
 * by every consumer, so a longer reason is cut on purpose, on a character, and ends in "…":
 * never inside a character, which PostgreSQL and every JSON reader would refuse. */
#ifndef SAGA_H
#define SAGA_H

#include "ev/events.h"

#include <stddef.h>

typedef enum {
    SAGA_STARTED,
    SAGA_INVENTORY_RESERVED,
    SAGA_PAYMENT_SUCCEEDED,
    SAGA_CONFIRMED,
    SAGA_CANCELLED,
    SAGA_STATE_COUNT
} saga_state;

typedef enum {
    SAGA_ORDER_PLACED,
    SAGA_INVENTORY_OK,   /* InventoryReserved */
    SAGA_INVENTORY_FAIL, /* OutOfStock */
    SAGA_PAYMENT_OK,     /* PaymentSucceeded */
    SAGA_PAYMENT_FAIL,   /* PaymentFailed */
    SAGA_DEADLINE,       /* nothing decisive in time */
    SAGA_EVENT_COUNT
} saga_event;

typedef enum { SAGA_EMIT_NOTHING, SAGA_EMIT_CONFIRMED, SAGA_EMIT_CANCELLED } saga_emit;

typedef struct {
    saga_state state;
    saga_emit emit;
    /* OrderCancelled's reason when emit is SAGA_EMIT_CANCELLED: at most EV_REASON_MAX
     * characters of UTF-8, so room for as many of the widest */
    char reason[EV_UTF8_BYTES(EV_REASON_MAX) + 1];
} saga_step_result;

/* detail is the failing event's own reason (OutOfStock, PaymentFailed; UTF-8), or NULL. */
saga_step_result saga_step(saga_state state, saga_event event, const char *detail);

/* Maps an event type to a saga event; -1 for types the saga does not react to. */
int saga_event_of(const char *event_type);

const char *saga_state_name(saga_state s);

/* Parses a stored state name; -1 when unknown. */
int saga_state_parse(const char *name);

#endif
