/* Folding a batch of order events over their payments; see charge_fold.h. */
#include "charge_fold.h"

#include "gateway.h"

#include "ev/group.h"

#include <stdlib.h>
#include <string.h>

static const char *const state_names[] = {
    [PAYMENT_SUCCEEDED] = "SUCCEEDED",
    [PAYMENT_FAILED] = "FAILED",
    [PAYMENT_REFUNDED] = "REFUNDED",
    [PAYMENT_VOID] = "VOID",
};

const char *payment_state_name(payment_state state)
{
    return state > PAYMENT_NONE && state <= PAYMENT_VOID ? state_names[state] : NULL;
}

int payment_state_parse(const char *name)
{
    for (int s = PAYMENT_SUCCEEDED; name && s <= PAYMENT_VOID; s++)
        if (strcmp(state_names[s], name) == 0)
            return s;
    return -1;
}

static const char *event_order_id(const void *events, size_t i)
{
    return ((const charge_fold_event *)events)[i].order_id;
}

int charge_fold_collect(const charge_fold_event *events, size_t n, charge_fold_order *orders,
                        size_t *order_of, size_t *count)
{
    size_t *first = malloc((n ? n : 1) * sizeof *first);
    long m = first ? ev_group_by_key(events, n, event_order_id, order_of, first) : -1;
    for (long g = 0; g < m; g++)
        orders[g] = (charge_fold_order){.order_id = events[first[g]].order_id};
    free(first);
    if (m < 0)
        return -1;
    *count = (size_t)m;
    return 0;
}

static const char *charge_fold_find_key(const void *items, size_t i)
{
    return ((const charge_fold_order *)items)[i].order_id;
}

long charge_fold_find(const charge_fold_order *orders, size_t count, const char *order_id)
{
    return ev_group_find(orders, count, charge_fold_find_key, order_id);
}

/* An OrderPlaced as on_order_placed handles it. */
static void charge(charge_fold_order *o, const json_t *order_placed, int64_t limit_cents,
                   charge_fold_step *step)
{
    if (o->state != PAYMENT_NONE) /* decided before, or cancelled before it was placed */
        return;
    gateway_result decision =
        gateway_decide(order_placed, limit_cents, step->reason, sizeof step->reason);
    if (decision == GATEWAY_TRANSIENT) {
        step->kind = CHARGE_STEP_TRANSIENT;
    } else if (decision == GATEWAY_APPROVED) {
        o->state = PAYMENT_SUCCEEDED;
        o->amount_cents = json_integer_value(json_object_get(order_placed, "totalCents"));
        step->kind = CHARGE_STEP_CHARGED;
    } else {
        o->state = PAYMENT_FAILED;
        o->amount_cents = 0;
        o->reason = step->reason;
        step->kind = CHARGE_STEP_DECLINED;
    }
}

/* An OrderCancelled as on_order_cancelled handles it. */
static void cancel(charge_fold_order *o, charge_fold_step *step)
{
    if (o->state == PAYMENT_NONE) { /* cancel before placement: never charge later */
        o->state = PAYMENT_VOID;
        o->amount_cents = 0;
        o->reason = CHARGE_FOLD_VOID_REASON;
        step->kind = CHARGE_STEP_VOIDED;
    } else if (o->state == PAYMENT_SUCCEEDED) {
        o->state = PAYMENT_REFUNDED;
        step->kind = CHARGE_STEP_REFUNDED;
    }
}

bool charge_fold_apply(charge_fold_order *orders, const charge_fold_event *events, size_t n,
                       const size_t *order_of, int64_t limit_cents, charge_fold_step *steps)
{
    for (size_t i = 0; i < n; i++) {
        charge_fold_order *o = &orders[order_of[i]];
        steps[i] = (charge_fold_step){.kind = CHARGE_STEP_NOTHING};
        if (events[i].kind == CHARGE_FOLD_PLACED)
            charge(o, events[i].order_placed, limit_cents, &steps[i]);
        else
            cancel(o, &steps[i]);
        if (steps[i].kind == CHARGE_STEP_TRANSIENT)
            return false;
    }
    return true;
}
