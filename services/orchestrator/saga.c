/* The saga transition function; see saga.h. */
#include "saga.h"

#include <stdio.h>
#include <string.h>

static const char *const state_names[SAGA_STATE_COUNT] = {
    "STARTED", "INVENTORY_RESERVED", "PAYMENT_SUCCEEDED", "CONFIRMED", "CANCELLED"};

static saga_step_result stay(saga_state s)
{
    return (saga_step_result){.state = s, .emit = SAGA_EMIT_NOTHING};
}

static saga_step_result cancel(const char *what, const char *detail)
{
    saga_step_result r = {.state = SAGA_CANCELLED, .emit = SAGA_EMIT_CANCELLED};
    if (detail && *detail)
        snprintf(r.reason, sizeof r.reason, "%s: %s", what, detail);
    else
        snprintf(r.reason, sizeof r.reason, "%s", what);
    return r;
}

saga_step_result saga_step(saga_state state, saga_event event, const char *detail)
{
    if (state == SAGA_CONFIRMED || state == SAGA_CANCELLED)
        return stay(state);
    switch (event) {
    case SAGA_ORDER_PLACED:
        return stay(state);
    case SAGA_INVENTORY_FAIL:
        return cancel("out of stock", detail);
    case SAGA_PAYMENT_FAIL:
        return cancel("payment failed", detail);
    case SAGA_DEADLINE:
        return cancel("timeout", NULL);
    case SAGA_INVENTORY_OK:
        if (state == SAGA_PAYMENT_SUCCEEDED)
            return (saga_step_result){.state = SAGA_CONFIRMED, .emit = SAGA_EMIT_CONFIRMED};
        return stay(SAGA_INVENTORY_RESERVED);
    case SAGA_PAYMENT_OK:
        if (state == SAGA_INVENTORY_RESERVED)
            return (saga_step_result){.state = SAGA_CONFIRMED, .emit = SAGA_EMIT_CONFIRMED};
        return stay(SAGA_PAYMENT_SUCCEEDED);
    case SAGA_EVENT_COUNT:
        break;
    }
    return stay(state);
}

int saga_event_of(const char *event_type)
{
    static const struct {
        const char *type;
        saga_event event;
    } map[] = {
        {"OrderPlaced", SAGA_ORDER_PLACED},   {"InventoryReserved", SAGA_INVENTORY_OK},
        {"OutOfStock", SAGA_INVENTORY_FAIL},  {"PaymentSucceeded", SAGA_PAYMENT_OK},
        {"PaymentFailed", SAGA_PAYMENT_FAIL},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i].type, event_type) == 0)
            return (int)map[i].event;
    return -1;
}

const char *saga_state_name(saga_state s)
{
    return s < SAGA_STATE_COUNT ? state_names[s] : "UNKNOWN";
}

int saga_state_parse(const char *name)
{
    for (int i = 0; i < SAGA_STATE_COUNT; i++)
        if (strcmp(state_names[i], name) == 0)
            return i;
    return -1;
}
