/* Unit tests of the payment service's batch fold (charge_fold.c): orders collected and sorted
 * without regard to case, and the fold's decisions, rows and amounts equal to handling the
 * events one after another as the per-event handler does (charges, declines, refunds, cancels
 * before placement, duplicates), and a transient gateway error giving the batch up. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "charge_fold.h"
#include "gateway.h"

#include <string.h>
#include <strings.h>

#define A "0b7e5a9e-1f5e-4c55-9d9a-0f3c2a1b9e10"
#define A_UPPER "0B7E5A9E-1F5E-4C55-9D9A-0F3C2A1B9E10"
#define B "9d2c4a1e-0000-4c55-9d9a-0f3c2a1b9e10"
#define C "5a000000-0000-4c55-9d9a-0f3c2a1b9e10"
#define LIMIT 100000

static void state_names_round_trip(void **state)
{
    (void)state;
    for (int s = PAYMENT_SUCCEEDED; s <= PAYMENT_VOID; s++)
        assert_int_equal(payment_state_parse(payment_state_name((payment_state)s)), s);
    assert_null(payment_state_name(PAYMENT_NONE));
    assert_int_equal(payment_state_parse("succeeded"), -1);
    assert_int_equal(payment_state_parse(NULL), -1);
}

static void orders_are_collected_sorted_and_mapped(void **state)
{
    (void)state;
    json_t *placed = json_pack("{s:I}", "totalCents", (json_int_t)100);
    charge_fold_event e[] = {{B, CHARGE_FOLD_PLACED, placed},
                             {A, CHARGE_FOLD_PLACED, placed},
                             {C, CHARGE_FOLD_CANCELLED, NULL},
                             {A_UPPER, CHARGE_FOLD_CANCELLED, NULL}};
    charge_fold_order orders[4];
    size_t order_of[4], count = 0;
    assert_int_equal(charge_fold_collect(e, 4, orders, order_of, &count), 0);
    assert_int_equal(count, 3);
    assert_string_equal(orders[0].order_id, A);
    assert_string_equal(orders[1].order_id, C);
    assert_string_equal(orders[2].order_id, B);
    size_t want[] = {2, 0, 1, 0};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(order_of[i], want[i]);
    assert_int_equal(orders[1].stored, PAYMENT_NONE);
    assert_int_equal(charge_fold_find(orders, count, A_UPPER), 0);
    assert_int_equal(charge_fold_find(orders, count, C), 1);
    assert_int_equal(charge_fold_find(orders, count, "ffffffff-0000-4c55-9d9a-0f3c2a1b9e10"), -1);
    json_decref(placed);
}

/* --- the fold against the events handled one by one -------------------------------------- */

#define ORDERS 3
static const char *const order_ids[ORDERS] = {A, B, C};

/* What the per-event handler keeps: each order's payment. */
typedef struct {
    payment_state state[ORDERS];
    int64_t amount[ORDERS];
} world;

static int order_index(const char *id)
{
    for (int k = 0; k < ORDERS; k++)
        if (strcasecmp(order_ids[k], id) == 0)
            return k;
    return -1;
}

/* One event as on_order_placed and on_order_cancelled handle it. */
static charge_step_kind handle_one(world *w, int k, const charge_fold_event *e, char *reason)
{
    reason[0] = '\0';
    if (e->kind == CHARGE_FOLD_PLACED) {
        if (w->state[k] != PAYMENT_NONE)
            return CHARGE_STEP_NOTHING;
        gateway_result g = gateway_decide(e->order_placed, LIMIT, reason, 256);
        if (g == GATEWAY_TRANSIENT)
            return CHARGE_STEP_TRANSIENT;
        if (g == GATEWAY_APPROVED) {
            w->state[k] = PAYMENT_SUCCEEDED;
            w->amount[k] = json_integer_value(json_object_get(e->order_placed, "totalCents"));
            return CHARGE_STEP_CHARGED;
        }
        w->state[k] = PAYMENT_FAILED;
        w->amount[k] = 0;
        return CHARGE_STEP_DECLINED;
    }
    if (w->state[k] == PAYMENT_NONE) {
        w->state[k] = PAYMENT_VOID;
        w->amount[k] = 0;
        return CHARGE_STEP_VOIDED;
    }
    if (w->state[k] != PAYMENT_SUCCEEDED)
        return CHARGE_STEP_NOTHING;
    w->state[k] = PAYMENT_REFUNDED;
    return CHARGE_STEP_REFUNDED;
}

/* Folds the events over `start` as the batch handler does and compares every step, state,
 * amount and reason with handling them one by one; returns what the fold returned. */
static bool assert_fold_equals_one_by_one(const charge_fold_event *e, size_t n, const world *start)
{
    charge_fold_order orders[16];
    size_t order_of[16], count = 0;
    charge_fold_step steps[16];
    assert_true(n <= 16);
    assert_int_equal(charge_fold_collect(e, n, orders, order_of, &count), 0);
    for (size_t k = 0; k < count; k++) {
        int o = order_index(orders[k].order_id);
        orders[k].stored = orders[k].state = start->state[o];
        orders[k].amount_cents = start->amount[o];
    }
    bool decided = charge_fold_apply(orders, e, n, order_of, LIMIT, steps);

    world w = *start;
    char reason[256];
    for (size_t i = 0; i < n; i++) {
        charge_step_kind want = handle_one(&w, order_index(e[i].order_id), &e[i], reason);
        assert_int_equal(steps[i].kind, want);
        if (want == CHARGE_STEP_DECLINED || want == CHARGE_STEP_TRANSIENT)
            assert_string_equal(steps[i].reason, reason);
        if (want == CHARGE_STEP_TRANSIENT) {
            assert_false(decided);
            return false;
        }
        if (want == CHARGE_STEP_DECLINED)
            assert_string_equal(orders[order_of[i]].reason, steps[i].reason);
        if (want == CHARGE_STEP_VOIDED)
            assert_string_equal(orders[order_of[i]].reason, CHARGE_FOLD_VOID_REASON);
    }
    assert_true(decided);
    for (size_t k = 0; k < count; k++) {
        int o = order_index(orders[k].order_id);
        assert_int_equal(orders[k].state, w.state[o]);
        assert_int_equal(orders[k].amount_cents, w.amount[o]);
    }
    return true;
}

/* A charge, a decline over the limit and a forced decline; a refund of a charge made in the
 * same batch refunds its amount; a cancel first voids the order for good. */
static void charges_declines_refunds_and_voids(void **state)
{
    (void)state;
    json_t *ok = json_pack("{s:I}", "totalCents", (json_int_t)2599);
    json_t *too_much = json_pack("{s:I}", "totalCents", (json_int_t)LIMIT + 1);
    json_t *forced = json_pack("{s:I, s:b}", "totalCents", (json_int_t)10, "forcePaymentFailed", 1);
    world start = {.state = {PAYMENT_NONE}};
    charge_fold_event e[] = {
        {A, CHARGE_FOLD_PLACED, ok},      {B, CHARGE_FOLD_PLACED, too_much},
        {C, CHARGE_FOLD_CANCELLED, NULL}, {C, CHARGE_FOLD_PLACED, ok},
        {A, CHARGE_FOLD_CANCELLED, NULL}, {A, CHARGE_FOLD_PLACED, ok},
        {B, CHARGE_FOLD_CANCELLED, NULL}, {A_UPPER, CHARGE_FOLD_CANCELLED, NULL}};
    assert_true(assert_fold_equals_one_by_one(e, 8, &start));

    charge_fold_order orders[8];
    size_t order_of[8], count = 0;
    charge_fold_step steps[8];
    assert_int_equal(charge_fold_collect(e, 8, orders, order_of, &count), 0);
    assert_true(charge_fold_apply(orders, e, 8, order_of, LIMIT, steps));
    charge_step_kind want[] = {CHARGE_STEP_CHARGED, CHARGE_STEP_DECLINED, CHARGE_STEP_VOIDED,
                               CHARGE_STEP_NOTHING, CHARGE_STEP_REFUNDED, CHARGE_STEP_NOTHING,
                               CHARGE_STEP_NOTHING, CHARGE_STEP_NOTHING};
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(steps[i].kind, want[i]);
    long a = charge_fold_find(orders, count, A);
    assert_int_equal(orders[a].state, PAYMENT_REFUNDED);
    assert_int_equal(orders[a].amount_cents, 2599);
    assert_null(orders[a].reason);
    long b = charge_fold_find(orders, count, B);
    assert_int_equal(orders[b].state, PAYMENT_FAILED);
    assert_int_equal(orders[b].amount_cents, 0);
    assert_string_equal(orders[b].reason,
                        "payment declined: total 1000.01 exceeds the limit 1000.00");

    charge_fold_event f[] = {{B, CHARGE_FOLD_PLACED, forced}};
    assert_true(assert_fold_equals_one_by_one(f, 1, &start));
    json_decref(ok);
    json_decref(too_much);
    json_decref(forced);
}

/* Stored rows: a stored charge is refunded with its stored amount, a stored decision is never
 * charged again, a stored refund or void changes nothing. */
static void stored_payments_are_kept(void **state)
{
    (void)state;
    json_t *ok = json_pack("{s:I}", "totalCents", (json_int_t)500);
    world start = {{PAYMENT_SUCCEEDED, PAYMENT_VOID, PAYMENT_FAILED}, {1234, 0, 0}};
    charge_fold_event e[] = {{A, CHARGE_FOLD_PLACED, ok},      {B, CHARGE_FOLD_PLACED, ok},
                             {C, CHARGE_FOLD_PLACED, ok},      {C, CHARGE_FOLD_CANCELLED, NULL},
                             {A, CHARGE_FOLD_CANCELLED, NULL}, {B, CHARGE_FOLD_CANCELLED, NULL}};
    assert_true(assert_fold_equals_one_by_one(e, 6, &start));
    json_decref(ok);
}

/* A transient gateway error gives the batch up, but only where handling alone would meet it:
 * a duplicate placement of a decided order never asks the gateway. */
static void a_transient_gateway_error_gives_the_batch_up(void **state)
{
    (void)state;
    json_t *ok = json_pack("{s:I}", "totalCents", (json_int_t)500);
    json_t *throws = json_pack("{s:I, s:b}", "totalCents", (json_int_t)500, "forceException", 1);
    world start = {.state = {PAYMENT_NONE}};
    charge_fold_event e[] = {{A, CHARGE_FOLD_PLACED, ok}, {B, CHARGE_FOLD_PLACED, throws}};
    assert_false(assert_fold_equals_one_by_one(e, 2, &start));

    charge_fold_event decided[] = {{A, CHARGE_FOLD_PLACED, ok}, {A, CHARGE_FOLD_PLACED, throws}};
    assert_true(assert_fold_equals_one_by_one(decided, 2, &start));
    json_decref(ok);
    json_decref(throws);
}

/* Every sequence of up to five events over two orders (placements charged, declined or
 * throwing, cancels) from every mix of stored states: fold = one by one. */
static void every_short_sequence_folds_like_one_by_one(void **state)
{
    (void)state;
    json_t *payloads[] = {
        json_pack("{s:I}", "totalCents", (json_int_t)700),
        json_pack("{s:I}", "totalCents", (json_int_t)LIMIT * 2),
        json_pack("{s:I, s:b}", "totalCents", (json_int_t)1, "forceException", 1),
    };
    enum { CHOICES = 2 * 4 }; /* order × (three placements, cancel) */
    size_t runs = 0;
    for (int s0 = PAYMENT_NONE; s0 <= PAYMENT_VOID; s0++)
        for (int s1 = PAYMENT_NONE; s1 <= PAYMENT_VOID; s1++)
            for (size_t len = 1; len <= 5; len++) {
                size_t total = 1;
                for (size_t l = 0; l < len; l++)
                    total *= CHOICES;
                for (size_t code = 0; code < total; code++) {
                    world start = {{(payment_state)s0, (payment_state)s1}, {300, 400}};
                    charge_fold_event e[5];
                    size_t c = code;
                    for (size_t i = 0; i < len; i++, c /= CHOICES) {
                        size_t what = c % 4;
                        e[i] = (charge_fold_event){
                            .order_id = order_ids[(c % CHOICES) / 4],
                            .kind = what < 3 ? CHARGE_FOLD_PLACED : CHARGE_FOLD_CANCELLED,
                            .order_placed = what < 3 ? payloads[what] : NULL};
                    }
                    assert_fold_equals_one_by_one(e, len, &start);
                    runs++;
                }
            }
    assert_true(runs > 100000);
    for (size_t p = 0; p < 3; p++)
        json_decref(payloads[p]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(state_names_round_trip),
        cmocka_unit_test(orders_are_collected_sorted_and_mapped),
        cmocka_unit_test(charges_declines_refunds_and_voids),
        cmocka_unit_test(stored_payments_are_kept),
        cmocka_unit_test(a_transient_gateway_error_gives_the_batch_up),
        cmocka_unit_test(every_short_sequence_folds_like_one_by_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
