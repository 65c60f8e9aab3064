/* The saga transition function; see saga.h. */
#include "saga.h"

#include "ev/utf8.h"

#include <string.h>

static const char *const state_names[SAGA_STATE_COUNT] = {
    "STARTED", "INVENTORY_RESERVED", "PAYMENT_SUCCEEDED", "CONFIRMED", "CANCELLED"};

static saga_step_result stay(saga_state s)
{
    return (saga_step_result){.state = s, .emit = SAGA_EMIT_NOTHING};
}

/* "what: detail", cut to EV_REASON_MAX characters on a character if need be (saga.h). what is
 * one of this file's short ASCII phrases, so it fits whole and each of its bytes is one
 * character: the detail gets what is left of the bound. */
static saga_step_result cancel(const char *what, const char *detail)
{
    saga_step_result r = {.state = SAGA_CANCELLED, .emit = SAGA_EMIT_CANCELLED};
    size_t used = strlen(what);
    memcpy(r.reason, what, used);
    if (detail && *detail) {
        memcpy(r.reason + used, ": ", 2);
        used += 2;
        ev_utf8_clip(r.reason + used, sizeof r.reason - used, detail, EV_REASON_MAX - used);
    }
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
