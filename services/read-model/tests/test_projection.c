/* Unit tests of the order projection rules (projection.c): every event type, and the same
 * events in different orders ending in the same view. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "projection.h"

#include <string.h>

static order_view after(const char *const *events, size_t n)
{
    order_view v;
    order_view_init(&v);
    for (size_t i = 0; i < n; i++)
        order_view_apply(&v, events[i]);
    return v;
}

static void nothing_known_is_all_pending(void **state)
{
    (void)state;
    order_view v;
    order_view_init(&v);
    assert_string_equal(v.status, "PENDING");
    assert_string_equal(v.inventory, "PENDING");
    assert_false(v.shipped);
    assert_false(order_view_apply(&v, "SomethingElse"));
}

static void happy_path(void **state)
{
    (void)state;
    const char *e[] = {"OrderPlaced", "InventoryReserved", "PaymentSucceeded", "OrderConfirmed",
                       "ShipmentCreated"};
    order_view v = after(e, 5);
    assert_string_equal(v.status, "CONFIRMED");
    assert_string_equal(v.placed, "DONE");
    assert_string_equal(v.inventory, "RESERVED");
    assert_string_equal(v.payment, "SUCCEEDED");
    assert_string_equal(v.decision, "CONFIRMED");
    assert_string_equal(v.shipment, "CREATED");
    assert_true(v.shipped);
}

static void cancellation_with_compensation(void **state)
{
    (void)state;
    const char *e[] = {"OrderPlaced", "PaymentSucceeded", "OutOfStock", "OrderCancelled",
                       "PaymentRefunded"};
    order_view v = after(e, 5);
    assert_string_equal(v.status, "CANCELLED");
    assert_string_equal(v.inventory, "OUT_OF_STOCK");
    assert_string_equal(v.payment, "REFUNDED");
    assert_string_equal(v.shipment, "NONE");
    assert_false(v.shipped);
}

static void order_of_arrival_does_not_matter(void **state)
{
    (void)state;
    const char *a[] = {"OrderPlaced", "InventoryReserved", "PaymentFailed", "OrderCancelled",
                       "InventoryReleased"};
    const char *b[] = {"InventoryReleased", "OrderCancelled", "PaymentFailed", "InventoryReserved",
                       "OrderPlaced"};
    order_view va = after(a, 5), vb = after(b, 5);
    assert_memory_equal(&va, &vb, sizeof va);
    assert_string_equal(vb.inventory, "RELEASED");
    const char *c[] = {"PaymentRefunded", "PaymentSucceeded"};
    assert_string_equal(after(c, 2).payment, "REFUNDED");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nothing_known_is_all_pending),
        cmocka_unit_test(happy_path),
        cmocka_unit_test(cancellation_with_compensation),
        cmocka_unit_test(order_of_arrival_does_not_matter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
