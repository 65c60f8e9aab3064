/* Order projection rules; see projection.h. */
#include "projection.h"

#include <stdio.h>
#include <string.h>

static void set(char *field, const char *value)
{
    snprintf(field, STEP_LEN, "%s", value);
}

static bool is(const char *field, const char *value)
{
    return strcmp(field, value) == 0;
}

void order_view_init(order_view *v)
{
    memset(v, 0, sizeof *v);
    set(v->status, "PENDING");
    set(v->placed, "PENDING");
    set(v->inventory, "PENDING");
    set(v->payment, "PENDING");
    set(v->decision, "PENDING");
    set(v->shipment, "PENDING");
    v->shipped = false;
}

bool order_view_apply(order_view *v, const char *t)
{
    if (is(t, "OrderPlaced")) {
        set(v->placed, "DONE");
    } else if (is(t, "InventoryReserved")) {
        if (!is(v->inventory, "RELEASED")) /* a release is always later */
            set(v->inventory, "RESERVED");
    } else if (is(t, "OutOfStock")) {
        set(v->inventory, "OUT_OF_STOCK");
    } else if (is(t, "InventoryReleased")) {
        set(v->inventory, "RELEASED");
    } else if (is(t, "PaymentSucceeded")) {
        if (!is(v->payment, "REFUNDED")) /* a refund is always later */
            set(v->payment, "SUCCEEDED");
    } else if (is(t, "PaymentFailed")) {
        set(v->payment, "FAILED");
    } else if (is(t, "PaymentRefunded")) {
        set(v->payment, "REFUNDED");
    } else if (is(t, "OrderConfirmed")) {
        set(v->decision, "CONFIRMED");
        set(v->status, "CONFIRMED");
    } else if (is(t, "OrderCancelled")) {
        set(v->decision, "CANCELLED");
        set(v->status, "CANCELLED");
        set(v->shipment, "NONE");
    } else if (is(t, "ShipmentCreated")) {
        set(v->shipment, "CREATED");
        v->shipped = true;
    } else {
        return false;
    }
    return true;
}
