/* Unit tests of the inventory's batch fold (stock_fold.c): orders collected and sorted without
 * regard to case, the SKUs to lock, and the fold's decisions, rows and stock equal to handling
 * the events one after another as the per-event handler does (stock contention decided in
 * delivery order, releases giving stock back to later orders, cancels before placement,
 * duplicates). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "stock_fold.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define A "0b7e5a9e-1f5e-4c55-9d9a-0f3c2a1b9e10"
#define A_UPPER "0B7E5A9E-1F5E-4C55-9D9A-0F3C2A1B9E10"
#define B "9d2c4a1e-0000-4c55-9d9a-0f3c2a1b9e10"
#define C "5a000000-0000-4c55-9d9a-0f3c2a1b9e10"

static void set_from(const char *json, line_set *set)
{
    json_t *items = json_loads(json, 0, NULL);
    assert_int_equal(line_set_from_items(items, set), 0);
    json_decref(items);
}

static void state_names_round_trip(void **state)
{
    (void)state;
    for (int s = RESERVATION_HELD; s <= RESERVATION_VOID; s++)
        assert_int_equal(reservation_state_parse(reservation_state_name((reservation_state)s)), s);
    assert_null(reservation_state_name(RESERVATION_NONE));
    assert_int_equal(reservation_state_parse("held"), -1);
    assert_int_equal(reservation_state_parse(NULL), -1);
}

static void orders_are_collected_sorted_and_mapped(void **state)
{
    (void)state;
    line_set one;
    set_from("[{\"sku\":\"X\",\"quantity\":1}]", &one);
    stock_fold_event e[] = {{B, STOCK_FOLD_PLACED, &one},
                            {A, STOCK_FOLD_PLACED, &one},
                            {C, STOCK_FOLD_CONFIRMED, NULL},
                            {A_UPPER, STOCK_FOLD_CANCELLED, NULL},
                            {B, STOCK_FOLD_CONFIRMED, NULL}};
    stock_fold_order orders[5];
    size_t order_of[5], count = 0;
    assert_int_equal(stock_fold_collect(e, 5, orders, order_of, &count), 0);
    assert_int_equal(count, 3); /* A and A_UPPER are one order */
    assert_string_equal(orders[0].order_id, A);
    assert_string_equal(orders[1].order_id, C);
    assert_string_equal(orders[2].order_id, B);
    size_t want[] = {2, 0, 1, 0, 2};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(order_of[i], want[i]);
    assert_true(orders[0].cancelled);
    assert_false(orders[1].cancelled);
    assert_false(orders[2].cancelled);
    assert_int_equal(orders[2].stored, RESERVATION_NONE);
    assert_int_equal(stock_fold_find_order(orders, count, A_UPPER), 0);
    assert_int_equal(stock_fold_find_order(orders, count, B), 2);
    assert_int_equal(stock_fold_find_order(orders, count, "ffffffff-0000-4c55-9d9a-0f3c2a1b9e10"),
                     -1);
}

/* The placed lines and the held items of cancelled orders only, distinct, in strcmp order. */
static void skus_to_lock_are_distinct_and_sorted(void **state)
{
    (void)state;
    line_set p1, p2, held_cancelled, held_confirmed;
    set_from("[{\"sku\":\"b-2\",\"quantity\":1},{\"sku\":\"B-1\",\"quantity\":1}]", &p1);
    set_from("[{\"sku\":\"B-1\",\"quantity\":3}]", &p2);
    set_from("[{\"sku\":\"A-9\",\"quantity\":2},{\"sku\":\"B-1\",\"quantity\":1}]",
             &held_cancelled);
    set_from("[{\"sku\":\"Z-0\",\"quantity\":2}]", &held_confirmed);
    stock_fold_event e[] = {{A, STOCK_FOLD_PLACED, &p1},
                            {B, STOCK_FOLD_CANCELLED, NULL},
                            {C, STOCK_FOLD_CONFIRMED, NULL},
                            {A, STOCK_FOLD_PLACED, &p2}};
    stock_fold_order orders[4];
    size_t order_of[4], count = 0, sku_count = 0;
    assert_int_equal(stock_fold_collect(e, 4, orders, order_of, &count), 0);
    orders[order_of[1]].stored = orders[order_of[1]].status = RESERVATION_HELD;
    orders[order_of[1]].items = &held_cancelled;
    orders[order_of[2]].stored = orders[order_of[2]].status = RESERVATION_HELD;
    orders[order_of[2]].items = &held_confirmed; /* confirmed, not released: not locked */
    stock_fold_sku *skus = stock_fold_skus(e, 4, orders, count, &sku_count);
    assert_non_null(skus);
    const char *want[] = {"A-9", "B-1", "b-2"}; /* strcmp: capitals first */
    assert_int_equal(sku_count, 3);
    for (size_t j = 0; j < 3; j++) {
        assert_string_equal(skus[j].sku, want[j]);
        assert_int_equal(skus[j].available, -1);
        assert_int_equal(skus[j].reserved, 0);
        assert_int_equal(stock_fold_find_sku(skus, sku_count, want[j]), (long)j);
    }
    assert_int_equal(stock_fold_find_sku(skus, sku_count, "a-9"), -1);
    free(skus);

    size_t none = 7;
    skus = stock_fold_skus(e + 2, 1, orders, 0, &none);
    assert_non_null(skus);
    assert_int_equal(none, 0);
    free(skus);
}

/* --- the fold against the events handled one by one -------------------------------------- */

#define MAX_ORDERS 4
#define MAX_SKUS 3

static const char *const order_ids[MAX_ORDERS] = {A, B, C, "11111111-0000-4c55-9d9a-0f3c2a1b9e10"};
static const char *const sku_names[MAX_SKUS] = {"SKU-A", "SKU-B", "SKU-C"};

/* What the per-event handler keeps: each order's reservation and each SKU's stock row. */
typedef struct {
    reservation_state status[MAX_ORDERS];
    const line_set *items[MAX_ORDERS];
    int available[MAX_SKUS]; /* -1: no stock row */
    int reserved[MAX_SKUS];
} world;

static int sku_index(const char *sku)
{
    for (int j = 0; j < MAX_SKUS; j++)
        if (strcmp(sku_names[j], sku) == 0)
            return j;
    return -1;
}

/* One event as on_order_placed, on_order_cancelled and on_order_confirmed handle it. */
static stock_step_kind handle_one(world *w, int order, const stock_fold_event *e, char *reason)
{
    reason[0] = '\0';
    if (e->kind == STOCK_FOLD_PLACED) {
        if (w->status[order] != RESERVATION_NONE)
            return STOCK_STEP_NOTHING;
        int available[RESERVATION_MAX_LINES];
        for (size_t l = 0; l < e->lines->count; l++) {
            int j = sku_index(e->lines->lines[l].sku);
            available[l] = j < 0 ? -1 : w->available[j];
        }
        w->items[order] = e->lines;
        if (!reservation_decide(e->lines, available, reason, 256)) {
            w->status[order] = RESERVATION_REJECTED;
            return STOCK_STEP_OUT_OF_STOCK;
        }
        for (size_t l = 0; l < e->lines->count; l++) {
            int j = sku_index(e->lines->lines[l].sku);
            w->available[j] -= e->lines->lines[l].quantity;
            w->reserved[j] += e->lines->lines[l].quantity;
        }
        w->status[order] = RESERVATION_HELD;
        return STOCK_STEP_RESERVED;
    }
    if (e->kind == STOCK_FOLD_CANCELLED) {
        if (w->status[order] == RESERVATION_NONE) {
            w->status[order] = RESERVATION_VOID;
            w->items[order] = NULL;
            return STOCK_STEP_VOIDED;
        }
        if (w->status[order] != RESERVATION_HELD)
            return STOCK_STEP_NOTHING;
        for (size_t l = 0; l < w->items[order]->count; l++) {
            int j = sku_index(w->items[order]->lines[l].sku);
            if (j >= 0 && w->available[j] >= 0) {
                w->available[j] += w->items[order]->lines[l].quantity;
                w->reserved[j] -= w->items[order]->lines[l].quantity;
            }
        }
        w->status[order] = RESERVATION_RELEASED;
        return STOCK_STEP_RELEASED;
    }
    if (w->status[order] != RESERVATION_HELD)
        return STOCK_STEP_NOTHING;
    w->status[order] = RESERVATION_COMMITTED;
    return STOCK_STEP_COMMITTED;
}

static int order_index(const char *id)
{
    for (int k = 0; k < MAX_ORDERS; k++)
        if (strcasecmp(order_ids[k], id) == 0)
            return k;
    return -1;
}

/* Folds the events over `start` as the batch handler does (stored rows and locked stock set
 * from start) and compares every step, every order's final reservation and every SKU's final
 * stock with handling them one by one. */
static void assert_fold_equals_one_by_one(const stock_fold_event *e, size_t n, const world *start)
{
    stock_fold_order orders[32];
    size_t order_of[32], count = 0, sku_count = 0;
    stock_fold_step steps[32];
    assert_true(n <= 32);
    assert_int_equal(stock_fold_collect(e, n, orders, order_of, &count), 0);
    for (size_t k = 0; k < count; k++) {
        int o = order_index(orders[k].order_id);
        orders[k].stored = orders[k].status = start->status[o];
        if (start->status[o] == RESERVATION_HELD)
            orders[k].items = start->items[o];
    }
    stock_fold_sku *skus = stock_fold_skus(e, n, orders, count, &sku_count);
    assert_non_null(skus);
    for (size_t j = 0; j < sku_count; j++) { /* a SKU the world does not know has no row */
        int s = sku_index(skus[j].sku);
        skus[j].available = s < 0 ? -1 : start->available[s];
    }
    stock_fold_apply(orders, skus, sku_count, e, n, order_of, steps);

    world w = *start;
    char reason[256];
    for (size_t i = 0; i < n; i++) {
        stock_step_kind want = handle_one(&w, order_index(e[i].order_id), &e[i], reason);
        assert_int_equal(steps[i].kind, want);
        if (want == STOCK_STEP_OUT_OF_STOCK)
            assert_string_equal(steps[i].reason, reason);
    }
    for (size_t k = 0; k < count; k++) {
        int o = order_index(orders[k].order_id);
        assert_int_equal(orders[k].status, w.status[o]);
        if (orders[k].stored == RESERVATION_NONE && w.status[o] != RESERVATION_NONE)
            assert_ptr_equal(orders[k].items, w.items[o]); /* the new row's items */
    }
    for (size_t j = 0; j < sku_count; j++) {
        int s = sku_index(skus[j].sku);
        assert_int_equal(skus[j].available, s < 0 ? -1 : w.available[s]);
        if (s >= 0 && w.available[s] >= 0)
            assert_int_equal(start->reserved[s] + skus[j].reserved, w.reserved[s]);
    }
    free(skus);
}

/* Three orders want 2 of 3 units: the first two delivered get them, the third is out of
 * stock, whatever their order ids' order; a release makes room for a later order only. */
static void contention_is_decided_in_delivery_order(void **state)
{
    (void)state;
    line_set two;
    set_from("[{\"sku\":\"SKU-A\",\"quantity\":2}]", &two);
    world start = {.available = {3, 10, -1}};
    stock_fold_event e[] = {
        {C, STOCK_FOLD_PLACED, &two}, {A, STOCK_FOLD_PLACED, &two}, {B, STOCK_FOLD_PLACED, &two}};
    assert_fold_equals_one_by_one(e, 3, &start);

    stock_fold_order orders[3];
    size_t order_of[3], count = 0, sku_count = 0;
    stock_fold_step steps[3];
    assert_int_equal(stock_fold_collect(e, 3, orders, order_of, &count), 0);
    stock_fold_sku *skus = stock_fold_skus(e, 3, orders, count, &sku_count);
    assert_non_null(skus);
    skus[0].available = 3;
    stock_fold_apply(orders, skus, sku_count, e, 3, order_of, steps);
    assert_int_equal(steps[0].kind, STOCK_STEP_RESERVED);
    assert_int_equal(steps[1].kind, STOCK_STEP_OUT_OF_STOCK);
    assert_string_equal(steps[1].reason, "insufficient stock for SKU-A: requested 2, available 1");
    assert_int_equal(steps[2].kind, STOCK_STEP_OUT_OF_STOCK);
    assert_int_equal(orders[order_of[1]].status, RESERVATION_REJECTED);
    assert_string_equal(orders[order_of[1]].reason, steps[1].reason);
    assert_int_equal(skus[0].available, 1);
    assert_int_equal(skus[0].reserved, 2);
    free(skus);

    /* C cancelled between A and B: B gets C's units back */
    stock_fold_event released[] = {{C, STOCK_FOLD_PLACED, &two},
                                   {A, STOCK_FOLD_PLACED, &two},
                                   {C, STOCK_FOLD_CANCELLED, NULL},
                                   {B, STOCK_FOLD_PLACED, &two}};
    assert_fold_equals_one_by_one(released, 4, &start);
}

/* A cancel first voids the order for good; a duplicate placement and a confirmation of what
 * is not held change nothing; a stored HELD reservation is released with its stored items. */
static void cancels_duplicates_and_stored_rows(void **state)
{
    (void)state;
    line_set one, held;
    set_from("[{\"sku\":\"SKU-B\",\"quantity\":1},{\"sku\":\"SKU-A\",\"quantity\":1}]", &one);
    set_from("[{\"sku\":\"SKU-C\",\"quantity\":4}]", &held);
    world start = {.status = {RESERVATION_NONE, RESERVATION_HELD, RESERVATION_COMMITTED},
                   .items = {NULL, &held, NULL},
                   .available = {5, 5, 0},
                   .reserved = {0, 0, 4}};
    stock_fold_event e[] = {
        {A, STOCK_FOLD_CANCELLED, NULL},        {A, STOCK_FOLD_PLACED, &one},
        {B, STOCK_FOLD_CANCELLED, NULL},        {B, STOCK_FOLD_CANCELLED, NULL},
        {C, STOCK_FOLD_CANCELLED, NULL},        {C, STOCK_FOLD_CONFIRMED, NULL},
        {B, STOCK_FOLD_CONFIRMED, NULL},        {order_ids[3], STOCK_FOLD_PLACED, &one},
        {order_ids[3], STOCK_FOLD_PLACED, &one}};
    assert_fold_equals_one_by_one(e, 9, &start);

    stock_fold_order orders[9];
    size_t order_of[9], count = 0, sku_count = 0;
    stock_fold_step steps[9];
    assert_int_equal(stock_fold_collect(e, 9, orders, order_of, &count), 0);
    long b = stock_fold_find_order(orders, count, B);
    orders[b].stored = orders[b].status = RESERVATION_HELD;
    orders[b].items = &held;
    stock_fold_sku *skus = stock_fold_skus(e, 9, orders, count, &sku_count);
    assert_non_null(skus);
    for (size_t j = 0; j < sku_count; j++)
        skus[j].available = start.available[sku_index(skus[j].sku)];
    stock_fold_apply(orders, skus, sku_count, e, 9, order_of, steps);
    stock_step_kind want[] = {STOCK_STEP_VOIDED,  STOCK_STEP_NOTHING,  STOCK_STEP_RELEASED,
                              STOCK_STEP_NOTHING, STOCK_STEP_VOIDED,   STOCK_STEP_NOTHING,
                              STOCK_STEP_NOTHING, STOCK_STEP_RESERVED, STOCK_STEP_NOTHING};
    for (size_t i = 0; i < 9; i++)
        assert_int_equal(steps[i].kind, want[i]);
    long a = stock_fold_find_order(orders, count, A);
    assert_int_equal(orders[a].status, RESERVATION_VOID);
    assert_null(orders[a].items);
    assert_string_equal(orders[a].reason, STOCK_FOLD_VOID_REASON);
    assert_int_equal(skus[stock_fold_find_sku(skus, sku_count, "SKU-C")].available, 4);
    assert_int_equal(skus[stock_fold_find_sku(skus, sku_count, "SKU-C")].reserved, -4);
    free(skus);
}

/* An unknown SKU rejects the order and no stock row moves; a release of a SKU without a row
 * moves nothing either (the per-event UPDATE finds no row). */
static void unknown_skus_reject_and_move_nothing(void **state)
{
    (void)state;
    line_set with_unknown, known;
    set_from("[{\"sku\":\"SKU-A\",\"quantity\":1},{\"sku\":\"SKU-GONE\",\"quantity\":1}]",
             &with_unknown);
    set_from("[{\"sku\":\"SKU-C\",\"quantity\":1}]", &known);
    world start = {.available = {2, 2, -1}};
    stock_fold_event e[] = {{A, STOCK_FOLD_PLACED, &with_unknown}, {B, STOCK_FOLD_PLACED, &known}};
    assert_fold_equals_one_by_one(e, 2, &start);

    stock_fold_order orders[2];
    size_t order_of[2], count = 0, sku_count = 0;
    stock_fold_step steps[2];
    assert_int_equal(stock_fold_collect(e, 2, orders, order_of, &count), 0);
    stock_fold_sku *skus = stock_fold_skus(e, 2, orders, count, &sku_count);
    assert_non_null(skus);
    skus[stock_fold_find_sku(skus, sku_count, "SKU-A")].available = 2; /* SKU-C, -GONE: no row */
    stock_fold_apply(orders, skus, sku_count, e, 2, order_of, steps);
    assert_int_equal(steps[0].kind, STOCK_STEP_OUT_OF_STOCK);
    assert_string_equal(steps[0].reason, "unknown SKU SKU-GONE");
    assert_int_equal(steps[1].kind, STOCK_STEP_OUT_OF_STOCK);
    for (size_t j = 0; j < sku_count; j++)
        assert_int_equal(skus[j].reserved, 0);
    free(skus);
}

/* Every sequence of up to four events over two orders and two SKUs (placements of one or two
 * lines, cancels, confirmations), from every mix of stored rows: fold = one by one. */
static void every_short_sequence_folds_like_one_by_one(void **state)
{
    (void)state;
    line_set sets[3];
    set_from("[{\"sku\":\"SKU-A\",\"quantity\":2}]", &sets[0]);
    set_from("[{\"sku\":\"SKU-B\",\"quantity\":1},{\"sku\":\"SKU-A\",\"quantity\":1}]", &sets[1]);
    set_from("[{\"sku\":\"SKU-B\",\"quantity\":3}]", &sets[2]);
    enum { CHOICES = 2 * 5 }; /* order × (three placements, cancel, confirm) */
    reservation_state stored[] = {RESERVATION_NONE, RESERVATION_HELD, RESERVATION_REJECTED,
                                  RESERVATION_COMMITTED};
    size_t runs = 0;
    for (size_t s0 = 0; s0 < 4; s0++)
        for (size_t s1 = 0; s1 < 4; s1++)
            for (size_t len = 1; len <= 4; len++) {
                size_t total = 1;
                for (size_t l = 0; l < len; l++)
                    total *= CHOICES;
                for (size_t code = 0; code < total; code++) {
                    world start = {.status = {stored[s0], stored[s1]},
                                   .items = {&sets[1], &sets[0]},
                                   .available = {3, 2, -1},
                                   .reserved = {3, 1, 0}};
                    stock_fold_event e[4];
                    size_t c = code;
                    for (size_t i = 0; i < len; i++, c /= CHOICES) {
                        size_t what = c % 5;
                        e[i] = (stock_fold_event){.order_id = order_ids[(c % CHOICES) / 5],
                                                  .kind = what < 3    ? STOCK_FOLD_PLACED
                                                          : what == 3 ? STOCK_FOLD_CANCELLED
                                                                      : STOCK_FOLD_CONFIRMED,
                                                  .lines = what < 3 ? &sets[what] : NULL};
                    }
                    assert_fold_equals_one_by_one(e, len, &start);
                    runs++;
                }
            }
    assert_true(runs > 100000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(state_names_round_trip),
        cmocka_unit_test(orders_are_collected_sorted_and_mapped),
        cmocka_unit_test(skus_to_lock_are_distinct_and_sorted),
        cmocka_unit_test(contention_is_decided_in_delivery_order),
        cmocka_unit_test(cancels_duplicates_and_stored_rows),
        cmocka_unit_test(unknown_skus_reject_and_move_nothing),
        cmocka_unit_test(every_short_sequence_folds_like_one_by_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
