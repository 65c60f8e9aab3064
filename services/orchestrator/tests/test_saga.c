/* Unit tests of the saga transition function over every state x event (saga.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "saga.h"

#include <string.h>

typedef struct {
    saga_state from;
    saga_event event;
    saga_state to;
    saga_emit emit;
} row;

/* The whole table: 5 states x 6 events. */
static const row table[] = {
    {SAGA_STARTED, SAGA_ORDER_PLACED, SAGA_STARTED, SAGA_EMIT_NOTHING},
    {SAGA_STARTED, SAGA_INVENTORY_OK, SAGA_INVENTORY_RESERVED, SAGA_EMIT_NOTHING},
    {SAGA_STARTED, SAGA_INVENTORY_FAIL, SAGA_CANCELLED, SAGA_EMIT_CANCELLED},
    {SAGA_STARTED, SAGA_PAYMENT_OK, SAGA_PAYMENT_SUCCEEDED, SAGA_EMIT_NOTHING},
    {SAGA_STARTED, SAGA_PAYMENT_FAIL, SAGA_CANCELLED, SAGA_EMIT_CANCELLED},
    {SAGA_STARTED, SAGA_DEADLINE, SAGA_CANCELLED, SAGA_EMIT_CANCELLED},

    {SAGA_INVENTORY_RESERVED, SAGA_ORDER_PLACED, SAGA_INVENTORY_RESERVED, SAGA_EMIT_NOTHING},
    {SAGA_INVENTORY_RESERVED, SAGA_INVENTORY_OK, SAGA_INVENTORY_RESERVED, SAGA_EMIT_NOTHING},
    {SAGA_INVENTORY_RESERVED, SAGA_INVENTORY_FAIL, SAGA_CANCELLED, SAGA_EMIT_CANCELLED},
    {SAGA_INVENTORY_RESERVED, SAGA_PAYMENT_OK, SAGA_CONFIRMED, SAGA_EMIT_CONFIRMED},
    {SAGA_INVENTORY_RESERVED, SAGA_PAYMENT_FAIL, SAGA_CANCELLED, SAGA_EMIT_CANCELLED},
    {SAGA_INVENTORY_RESERVED, SAGA_DEADLINE, SAGA_CANCELLED, SAGA_EMIT_CANCELLED},

    {SAGA_PAYMENT_SUCCEEDED, SAGA_ORDER_PLACED, SAGA_PAYMENT_SUCCEEDED, SAGA_EMIT_NOTHING},
    {SAGA_PAYMENT_SUCCEEDED, SAGA_INVENTORY_OK, SAGA_CONFIRMED, SAGA_EMIT_CONFIRMED},
    {SAGA_PAYMENT_SUCCEEDED, SAGA_INVENTORY_FAIL, SAGA_CANCELLED, SAGA_EMIT_CANCELLED},
    {SAGA_PAYMENT_SUCCEEDED, SAGA_PAYMENT_OK, SAGA_PAYMENT_SUCCEEDED, SAGA_EMIT_NOTHING},
    {SAGA_PAYMENT_SUCCEEDED, SAGA_PAYMENT_FAIL, SAGA_CANCELLED, SAGA_EMIT_CANCELLED},
    {SAGA_PAYMENT_SUCCEEDED, SAGA_DEADLINE, SAGA_CANCELLED, SAGA_EMIT_CANCELLED},
};

static void every_open_state_and_event(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        saga_step_result r = saga_step(table[i].from, table[i].event, "why");
        assert_int_equal(r.state, table[i].to);
        assert_int_equal(r.emit, table[i].emit);
        if (r.emit == SAGA_EMIT_CANCELLED)
            assert_true(strlen(r.reason) > 0);
    }
}

static void final_states_ignore_everything(void **state)
{
    (void)state;
    for (int s = SAGA_CONFIRMED; s <= SAGA_CANCELLED; s++)
        for (int e = 0; e < SAGA_EVENT_COUNT; e++) {
            saga_step_result r = saga_step((saga_state)s, (saga_event)e, "late");
            assert_int_equal(r.state, s);
            assert_int_equal(r.emit, SAGA_EMIT_NOTHING);
        }
}

static void reasons_name_the_cause(void **state)
{
    (void)state;
    assert_string_equal(saga_step(SAGA_STARTED, SAGA_INVENTORY_FAIL, "insufficient stock").reason,
                        "out of stock: insufficient stock");
    assert_string_equal(saga_step(SAGA_STARTED, SAGA_PAYMENT_FAIL, "declined").reason,
                        "payment failed: declined");
    assert_string_equal(saga_step(SAGA_STARTED, SAGA_PAYMENT_FAIL, NULL).reason, "payment failed");
    assert_string_equal(saga_step(SAGA_INVENTORY_RESERVED, SAGA_DEADLINE, NULL).reason, "timeout");
}

static void names_round_trip(void **state)
{
    (void)state;
    for (int s = 0; s < SAGA_STATE_COUNT; s++)
        assert_int_equal(saga_state_parse(saga_state_name((saga_state)s)), s);
    assert_int_equal(saga_state_parse("NOPE"), -1);
    assert_int_equal(saga_event_of("PaymentSucceeded"), SAGA_PAYMENT_OK);
    assert_int_equal(saga_event_of("InventoryReleased"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_open_state_and_event),
        cmocka_unit_test(final_states_ignore_everything),
        cmocka_unit_test(reasons_name_the_cause),
        cmocka_unit_test(names_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
