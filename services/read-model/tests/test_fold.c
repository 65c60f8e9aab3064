/* Unit tests of the batch fold (fold.c): orders collected and sorted without regard to case,
 * each event mapped to its order, and several events of an order folded into the view and
 * columns that applying them one after another gives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fold.h"

#include <string.h>

#define A "0b7e5a9e-1f5e-4c55-9d9a-0f3c2a1b9e10"
#define A_UPPER "0B7E5A9E-1F5E-4C55-9D9A-0F3C2A1B9E10"
#define B "9d2c4a1e-0000-4c55-9d9a-0f3c2a1b9e10"

static json_t *placed_payload(const char *customer, long long total, int q1, int q2)
{
    return json_pack("{s:s, s:I, s:s, s:[{s:s, s:i}, {s:s, s:i}]}", "customerId", customer,
                     "totalCents", (json_int_t)total, "currency", "EUR", "items", "sku", "S-1",
                     "quantity", q1, "sku", "S-2", "quantity", q2);
}

static void orders_are_collected_sorted_and_mapped(void **state)
{
    (void)state;
    json_t *p = json_object();
    fold_event e[] = {{B, "OrderPlaced", "c", p},
                      {A, "OrderPlaced", "c", p},
                      {B, "InventoryReserved", "c", p},
                      {A_UPPER, "PaymentSucceeded", "c", p}};
    order_fold orders[4];
    size_t order_of[4], count = 0;
    assert_int_equal(fold_collect(e, 4, orders, order_of, &count), 0);
    assert_int_equal(count, 2); /* A and A_UPPER are one order */
    assert_string_equal(orders[0].order_id, A);
    assert_string_equal(orders[1].order_id, B);
    assert_int_equal(order_of[0], 1);
    assert_int_equal(order_of[1], 0);
    assert_int_equal(order_of[2], 1);
    assert_int_equal(order_of[3], 0);
    assert_ptr_equal(orders[0].order_id, e[1].order_id); /* its first event's */
    assert_int_equal(orders[0].last_event, 3);
    assert_ptr_equal(orders[1].order_id, e[0].order_id);
    assert_int_equal(orders[1].last_event, 2);
    assert_int_equal(orders[0].placed_event, -1);
    assert_string_equal(orders[0].view.status, "PENDING");
    json_decref(p);
}

/* The view applying the events one by one gives, from a row's view. */
static order_view one_by_one(order_view v, const fold_event *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        order_view_apply(&v, e[i].event_type);
    return v;
}

static void a_whole_saga_folds_into_one_row(void **state)
{
    (void)state;
    json_t *placed = placed_payload("c-1", 3998, 1, 2), *empty = json_object();
    fold_event e[] = {{A, "OrderPlaced", "corr-1", placed},
                      {A, "InventoryReserved", "corr-1", empty},
                      {A, "PaymentSucceeded", "corr-1", empty},
                      {A, "OrderConfirmed", "corr-1", empty},
                      {A, "ShipmentCreated", "corr-1", empty}};
    order_fold o[5];
    size_t order_of[5], count = 0;
    assert_int_equal(fold_collect(e, 5, o, order_of, &count), 0);
    assert_int_equal(count, 1);
    order_view start = o[0].view;
    fold_apply(o, e, 5, order_of);
    order_view want = one_by_one(start, e, 5);
    assert_memory_equal(&o[0].view, &want, sizeof want);
    assert_string_equal(o[0].view.status, "CONFIRMED");
    assert_true(o[0].view.shipped);
    assert_string_equal(o[0].customer_id, "c-1");
    assert_string_equal(o[0].currency, "EUR");
    assert_string_equal(o[0].correlation_id, "corr-1");
    assert_true(o[0].has_totals);
    assert_int_equal(o[0].total_cents, 3998);
    assert_int_equal(o[0].item_count, 3);
    assert_ptr_equal(o[0].items, json_object_get(placed, "items"));
    assert_int_equal(o[0].placed_event, 0);
    assert_null(o[0].cancel_reason);
    json_decref(placed);
    json_decref(empty);
}

/* A row that already has events: the fold starts from its view, and what the batch does not
 * set stays NULL (the row keeps its own columns). */
static void later_events_start_from_the_rows_view(void **state)
{
    (void)state;
    json_t *cancelled = json_pack("{s:s}", "reason", "payment declined"), *empty = json_object();
    fold_event e[] = {{B, "PaymentFailed", "c", empty},
                      {B, "OrderCancelled", "c", cancelled},
                      {B, "InventoryReleased", "c", empty}};
    order_fold o[3];
    size_t order_of[3], count = 0;
    assert_int_equal(fold_collect(e, 3, o, order_of, &count), 0);
    order_view_apply(&o[0].view, "OrderPlaced"); /* as read from the row */
    order_view_apply(&o[0].view, "InventoryReserved");
    order_view start = o[0].view;
    fold_apply(o, e, 3, order_of);
    order_view want = one_by_one(start, e, 3);
    assert_memory_equal(&o[0].view, &want, sizeof want);
    assert_string_equal(o[0].view.status, "CANCELLED");
    assert_string_equal(o[0].view.inventory, "RELEASED");
    assert_string_equal(o[0].cancel_reason, "payment declined");
    assert_null(o[0].customer_id);
    assert_null(o[0].items);
    assert_false(o[0].has_totals);
    assert_int_equal(o[0].placed_event, -1);
    json_decref(cancelled);
    json_decref(empty);
}

/* Two OrderPlaced of one order (a producer's retry under a new eventId): the last one's
 * columns win, as the second UPDATE would have written them over the first's; one without
 * a customer sets no customer and does not move created_at. */
static void the_last_value_of_each_column_wins(void **state)
{
    (void)state;
    json_t *first = placed_payload("c-1", 100, 1, 1), *second = placed_payload("c-2", 200, 2, 2);
    json_t *anonymous = json_pack("{s:I}", "totalCents", (json_int_t)300);
    json_t *r1 = json_pack("{s:s}", "reason", "first"), *r2 = json_object();
    fold_event e[] = {{A, "OrderPlaced", "k1", first},
                      {A, "OrderCancelled", "c", r1},
                      {A, "OrderPlaced", "k2", second},
                      {A, "OrderCancelled", "c", r2},
                      {A, "OrderPlaced", "k3", anonymous}};
    order_fold o[5];
    size_t order_of[5], count = 0;
    assert_int_equal(fold_collect(e, 5, o, order_of, &count), 0);
    fold_apply(o, e, 5, order_of);
    assert_string_equal(o[0].customer_id, "c-2");
    assert_int_equal(o[0].placed_event, 2);
    assert_string_equal(o[0].currency, "EUR");
    assert_ptr_equal(o[0].items, json_object_get(second, "items"));
    assert_int_equal(o[0].total_cents, 300); /* always written by an OrderPlaced */
    assert_int_equal(o[0].item_count, 0);
    assert_string_equal(o[0].correlation_id, "k3");
    assert_string_equal(o[0].cancel_reason, "first"); /* a cancel without reason keeps it */
    json_decref(first);
    json_decref(second);
    json_decref(anonymous);
    json_decref(r1);
    json_decref(r2);
}

static void item_count_sums_quantities(void **state)
{
    (void)state;
    json_t *p = placed_payload("c", 1, 2, 5);
    assert_int_equal(fold_item_count(json_object_get(p, "items")), 7);
    assert_int_equal(fold_item_count(NULL), 0);
    json_decref(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(orders_are_collected_sorted_and_mapped),
        cmocka_unit_test(a_whole_saga_folds_into_one_row),
        cmocka_unit_test(later_events_start_from_the_rows_view),
        cmocka_unit_test(the_last_value_of_each_column_wins),
        cmocka_unit_test(item_count_sums_quantities),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
