/* Unit tests of the shipping batch plan (shipment_batch.c): one shipment tried per confirmed
 * order, for its first OrderConfirmed, sorted by order id without regard to case; and the
 * events that emit ShipmentCreated equal to handling the events one after another. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "shipment_batch.h"

#include <string.h>
#include <strings.h>

#define A "0b7e5a9e-1f5e-4c55-9d9a-0f3c2a1b9e10"
#define A_UPPER "0B7E5A9E-1F5E-4C55-9D9A-0F3C2A1B9E10"
#define B "9d2c4a1e-0000-4c55-9d9a-0f3c2a1b9e10"
#define C "5a000000-0000-4c55-9d9a-0f3c2a1b9e10"

static void one_try_per_confirmed_order_sorted(void **state)
{
    (void)state;
    const char *types[] = {"OrderConfirmed", "OrderCancelled", "OrderConfirmed",
                           "OrderConfirmed", "OrderConfirmed", "OrderConfirmed"};
    const char *ids[] = {B, C, A_UPPER, A, NULL, B};
    types[4] = "OrderCancelled"; /* an event other than OrderConfirmed may name no order */
    shipment_try tries[6];
    size_t count = 0;
    assert_int_equal(shipment_batch_plan(types, ids, 6, tries, &count), 0);
    assert_int_equal(count, 2); /* C is only cancelled; A and A_UPPER are one order */
    assert_string_equal(tries[0].order_id, A_UPPER);
    assert_int_equal(tries[0].event, 2);
    assert_string_equal(tries[1].order_id, B);
    assert_int_equal(tries[1].event, 0);
    assert_false(tries[0].created);
    assert_int_equal(shipment_batch_find(tries, count, A), 0);
    assert_int_equal(shipment_batch_find(tries, count, B), 1);
    assert_int_equal(shipment_batch_find(tries, count, C), -1);
}

static void a_batch_without_confirmations_tries_nothing(void **state)
{
    (void)state;
    const char *types[] = {"OrderCancelled"};
    const char *ids[] = {A};
    shipment_try tries[1];
    size_t count = 7;
    assert_int_equal(shipment_batch_plan(types, ids, 1, tries, &count), 0);
    assert_int_equal(count, 0);
}

/* The per-event path over a set of orders with a shipment: each OrderConfirmed creates one
 * (and emits) unless its order has one. The database creates every try whose order has none:
 * the batch's emitting events must be the same. */
static void emitters_equal_the_per_event_path(void **state)
{
    (void)state;
    const char *types[] = {"OrderConfirmed", "OrderConfirmed", "OrderCancelled", "OrderConfirmed",
                           "OrderConfirmed", "OrderConfirmed", "OrderConfirmed"};
    const char *ids[] = {B, A, C, A_UPPER, C, B, "ffffffff-0000-4c55-9d9a-0f3c2a1b9e10"};
    const char *existing[] = {C};
    size_t n = 7;
    shipment_try tries[7];
    size_t count = 0;
    assert_int_equal(shipment_batch_plan(types, ids, n, tries, &count), 0);
    for (size_t k = 0; k < count; k++)
        tries[k].created = strcasecmp(tries[k].order_id, existing[0]) != 0;
    bool creates[7];
    shipment_batch_creators(tries, count, n, creates);

    const char *shipped[8] = {existing[0]};
    size_t shipped_count = 1;
    for (size_t i = 0; i < n; i++) {
        bool want = false;
        if (strcmp(types[i], "OrderConfirmed") == 0) {
            want = true;
            for (size_t s = 0; s < shipped_count; s++)
                want = want && strcasecmp(shipped[s], ids[i]) != 0;
            if (want)
                shipped[shipped_count++] = ids[i];
        }
        assert_int_equal(creates[i], want);
    }
    assert_int_equal(shipped_count, 4); /* B, A, ffffffff and the stored C */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_try_per_confirmed_order_sorted),
        cmocka_unit_test(a_batch_without_confirmations_tries_nothing),
        cmocka_unit_test(emitters_equal_the_per_event_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
