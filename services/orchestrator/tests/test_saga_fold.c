/* Unit tests of the batch fold (saga_fold.c): sagas collected and sorted without regard to
 * case, each event mapped to its saga, and the steps the fold gives equal to handling the
 * events one after another with saga_step. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "saga_fold.h"

#include <string.h>

#define A "0b7e5a9e-1f5e-4c55-9d9a-0f3c2a1b9e10"
#define A_UPPER "0B7E5A9E-1F5E-4C55-9D9A-0F3C2A1B9E10"
#define B "9d2c4a1e-0000-4c55-9d9a-0f3c2a1b9e10"
#define C "5a000000-0000-4c55-9d9a-0f3c2a1b9e10"

static void sagas_are_collected_sorted_and_mapped(void **state)
{
    (void)state;
    saga_fold_event e[] = {{B, "cb", SAGA_ORDER_PLACED, NULL},
                           {A, "ca", SAGA_INVENTORY_OK, NULL},
                           {C, "cc", SAGA_PAYMENT_OK, NULL},
                           {A_UPPER, "ca2", SAGA_PAYMENT_OK, NULL},
                           {B, "cb", SAGA_INVENTORY_OK, NULL}};
    saga_fold_saga sagas[5];
    size_t saga_of[5], count = 0;
    assert_int_equal(saga_fold_collect(e, 5, sagas, saga_of, &count), 0);
    assert_int_equal(count, 3); /* A and A_UPPER are one saga */
    assert_string_equal(sagas[0].order_id, A);
    assert_string_equal(sagas[1].order_id, C);
    assert_string_equal(sagas[2].order_id, B);
    size_t want[] = {2, 0, 1, 0, 2};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(saga_of[i], want[i]);
    assert_int_equal(sagas[0].first_event, 1); /* created with its first event's correlation */
    assert_int_equal(sagas[2].first_event, 0);
    assert_int_equal(sagas[1].state, SAGA_STARTED);
    assert_int_equal(saga_fold_find(sagas, count, A_UPPER), 0);
    assert_int_equal(saga_fold_find(sagas, count, B), 2);
    assert_int_equal(saga_fold_find(sagas, count, C), 1);
    assert_int_equal(saga_fold_find(sagas, count, "ffffffff-0000-4c55-9d9a-0f3c2a1b9e10"), -1);
}

/* Steps every event one after another with saga_step from the stored states, as the
 * per-event path does, and compares with the fold's steps and final states. */
static void assert_fold_equals_one_by_one(const saga_fold_event *e, size_t n,
                                          const saga_state *stored)
{
    saga_fold_saga sagas[16];
    size_t saga_of[16], count = 0;
    saga_fold_step steps[16];
    assert_true(n <= 16);
    assert_int_equal(saga_fold_collect(e, n, sagas, saga_of, &count), 0);
    for (size_t k = 0; k < count; k++)
        sagas[k].state = stored[k];
    saga_fold_apply(sagas, e, n, saga_of, steps);

    saga_state current[16];
    const char *reason[16] = {0};
    memcpy(current, stored, count * sizeof *current);
    for (size_t i = 0; i < n; i++) {
        size_t k = saga_of[i];
        saga_step_result alone = saga_step(current[k], e[i].event, e[i].detail);
        assert_int_equal(steps[i].from, current[k]);
        assert_int_equal(steps[i].step.state, alone.state);
        assert_int_equal(steps[i].step.emit, alone.emit);
        assert_string_equal(steps[i].step.reason, alone.reason);
        current[k] = alone.state;
        if (alone.emit == SAGA_EMIT_CANCELLED)
            reason[k] = steps[i].step.reason;
    }
    for (size_t k = 0; k < count; k++) {
        assert_int_equal(sagas[k].state, current[k]);
        assert_ptr_equal(sagas[k].reason, reason[k]);
    }
}

static void whole_sagas_in_one_batch_decide_once(void **state)
{
    (void)state;
    /* A is confirmed, B declined by payment, C waits for its payment */
    saga_fold_event e[] = {
        {A, "ca", SAGA_ORDER_PLACED, NULL}, {B, "cb", SAGA_ORDER_PLACED, NULL},
        {A, "ca", SAGA_INVENTORY_OK, NULL}, {C, "cc", SAGA_INVENTORY_OK, NULL},
        {B, "cb", SAGA_INVENTORY_OK, NULL}, {B, "cb", SAGA_PAYMENT_FAIL, "card declined"},
        {A, "ca", SAGA_PAYMENT_OK, NULL}};
    saga_state stored[] = {SAGA_STARTED, SAGA_STARTED, SAGA_STARTED}; /* A, C, B */
    assert_fold_equals_one_by_one(e, 7, stored);

    saga_fold_saga sagas[7];
    size_t saga_of[7], count;
    saga_fold_step steps[7];
    assert_int_equal(saga_fold_collect(e, 7, sagas, saga_of, &count), 0);
    saga_fold_apply(sagas, e, 7, saga_of, steps);
    assert_int_equal(sagas[0].state, SAGA_CONFIRMED);
    assert_int_equal(sagas[1].state, SAGA_INVENTORY_RESERVED);
    assert_int_equal(sagas[2].state, SAGA_CANCELLED);
    assert_string_equal(sagas[2].reason, "payment failed: card declined");
    assert_null(sagas[0].reason);
    int decisions = 0;
    for (size_t i = 0; i < 7; i++)
        decisions += steps[i].step.emit != SAGA_EMIT_NOTHING;
    assert_int_equal(decisions, 2);
    assert_int_equal(steps[6].from, SAGA_INVENTORY_RESERVED);
    assert_int_equal(steps[6].step.emit, SAGA_EMIT_CONFIRMED);
}

static void stored_states_are_continued_and_final_ones_kept(void **state)
{
    (void)state;
    /* A was waiting for its inventory, B already cancelled by its deadline, C paid */
    saga_fold_event e[] = {
        {B, "cb", SAGA_INVENTORY_OK, NULL},    {A, "ca", SAGA_INVENTORY_OK, NULL},
        {C, "cc", SAGA_INVENTORY_FAIL, "S-1"}, {B, "cb", SAGA_PAYMENT_OK, NULL},
        {C, "cc", SAGA_INVENTORY_OK, NULL},    {A_UPPER, "ca", SAGA_PAYMENT_FAIL, "late"}};
    saga_state stored[] = {SAGA_PAYMENT_SUCCEEDED, SAGA_PAYMENT_SUCCEEDED, SAGA_CANCELLED};
    assert_fold_equals_one_by_one(e, 6, stored);
}

/* A batch carrying 100 x "\u20ac" as a PaymentFailed reason (300 bytes, more than the old
 * 256-byte step buffer): the saga's reason, which store_sagas writes and emit_decisions
 * publishes, is the whole text, as the per-event path gives it. */
static void a_long_multibyte_reason_reaches_the_saga_whole(void **state)
{
    (void)state;
    char euros[100 * 3 + 1];
    for (size_t i = 0; i < 100; i++)
        memcpy(euros + 3 * i, "\u20ac", 3);
    euros[300] = '\0';
    saga_fold_event e[] = {{A, "ca", SAGA_INVENTORY_OK, NULL}, {A, "ca", SAGA_PAYMENT_FAIL, euros}};
    saga_state stored[] = {SAGA_STARTED};
    assert_fold_equals_one_by_one(e, 2, stored);

    saga_fold_saga sagas[2];
    size_t saga_of[2], count;
    saga_fold_step steps[2];
    assert_int_equal(saga_fold_collect(e, 2, sagas, saga_of, &count), 0);
    saga_fold_apply(sagas, e, 2, saga_of, steps);
    assert_int_equal(sagas[0].state, SAGA_CANCELLED);
    assert_memory_equal(sagas[0].reason, "payment failed: ", 16);
    assert_string_equal(sagas[0].reason + 16, euros);
}

static void every_pair_of_events_from_every_state(void **state)
{
    (void)state;
    for (int s = 0; s < SAGA_STATE_COUNT; s++)
        for (int x = 0; x < SAGA_DEADLINE; x++)
            for (int y = 0; y < SAGA_DEADLINE; y++) {
                saga_fold_event e[] = {{A, "ca", (saga_event)x, "first"},
                                       {B, "cb", (saga_event)y, NULL},
                                       {A_UPPER, "ca", (saga_event)y, "second"}};
                saga_state stored[] = {(saga_state)s, (saga_state)s};
                assert_fold_equals_one_by_one(e, 3, stored);
            }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sagas_are_collected_sorted_and_mapped),
        cmocka_unit_test(whole_sagas_in_one_batch_decide_once),
        cmocka_unit_test(stored_states_are_continued_and_final_ones_kept),
        cmocka_unit_test(a_long_multibyte_reason_reaches_the_saga_whole),
        cmocka_unit_test(every_pair_of_events_from_every_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
