/* Folding a batch of order events over reservations and stock; see stock_fold.h. */
#include "stock_fold.h"

#include "ev/group.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const status_names[] = {
    [RESERVATION_HELD] = "HELD",         [RESERVATION_COMMITTED] = "COMMITTED",
    [RESERVATION_RELEASED] = "RELEASED", [RESERVATION_REJECTED] = "REJECTED",
    [RESERVATION_VOID] = "VOID",
};

const char *reservation_state_name(reservation_state status)
{
    return status > RESERVATION_NONE && status <= RESERVATION_VOID ? status_names[status] : NULL;
}

int reservation_state_parse(const char *name)
{
    for (int s = RESERVATION_HELD; name && s <= RESERVATION_VOID; s++)
        if (strcmp(status_names[s], name) == 0)
            return s;
    return -1;
}

static const char *event_order_id(const void *events, size_t i)
{
    return ((const stock_fold_event *)events)[i].order_id;
}

int stock_fold_collect(const stock_fold_event *events, size_t n, stock_fold_order *orders,
                       size_t *order_of, size_t *count)
{
    size_t *first = malloc((n ? n : 1) * sizeof *first);
    long m = first ? ev_group_by_key(events, n, event_order_id, order_of, first) : -1;
    for (long g = 0; g < m; g++)
        orders[g] = (stock_fold_order){.order_id = events[first[g]].order_id};
    free(first);
    if (m < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (events[i].kind == STOCK_FOLD_CANCELLED)
            orders[order_of[i]].cancelled = true;
    *count = (size_t)m;
    return 0;
}

static const char *stock_fold_find_order_key(const void *items, size_t i)
{
    return ((const stock_fold_order *)items)[i].order_id;
}

long stock_fold_find_order(const stock_fold_order *orders, size_t count, const char *order_id)
{
    return ev_group_find(orders, count, stock_fold_find_order_key, order_id);
}

static int by_sku(const void *a, const void *b)
{
    return strcmp(((const stock_fold_sku *)a)->sku, ((const stock_fold_sku *)b)->sku);
}

/* Appends the lines of set to skus (room checked by the caller). */
static void add_lines(stock_fold_sku *skus, size_t *count, const line_set *set)
{
    for (size_t l = 0; set && l < set->count; l++)
        skus[(*count)++] = (stock_fold_sku){.sku = set->lines[l].sku, .available = -1};
}

stock_fold_sku *stock_fold_skus(const stock_fold_event *events, size_t n,
                                const stock_fold_order *orders, size_t order_count, size_t *count)
{
    size_t room = 1;
    for (size_t i = 0; i < n; i++)
        room += events[i].lines ? events[i].lines->count : 0;
    for (size_t k = 0; k < order_count; k++)
        if (orders[k].cancelled && orders[k].stored == RESERVATION_HELD && orders[k].items)
            room += orders[k].items->count;
    stock_fold_sku *skus = malloc(room * sizeof *skus);
    if (!skus)
        return NULL;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        add_lines(skus, &m, events[i].lines);
    for (size_t k = 0; k < order_count; k++)
        if (orders[k].cancelled && orders[k].stored == RESERVATION_HELD)
            add_lines(skus, &m, orders[k].items);
    qsort(skus, m, sizeof *skus, by_sku);
    size_t distinct = 0;
    for (size_t j = 0; j < m; j++)
        if (distinct == 0 || strcmp(skus[distinct - 1].sku, skus[j].sku) != 0)
            skus[distinct++] = skus[j];
    *count = distinct;
    return skus;
}

long stock_fold_find_sku(const stock_fold_sku *skus, size_t count, const char *sku)
{
    stock_fold_sku key = {.sku = sku};
    const stock_fold_sku *found = count ? bsearch(&key, skus, count, sizeof *skus, by_sku) : NULL;
    return found ? found - skus : -1;
}

/* Moves units of every line of set between available and reserved: sign +1 reserves, -1
 * releases. A SKU without a stock row stays as it is (the per-event UPDATE finds no row). */
static void move(stock_fold_sku *skus, size_t sku_count, const line_set *set, int sign)
{
    for (size_t l = 0; set && l < set->count; l++) {
        long j = stock_fold_find_sku(skus, sku_count, set->lines[l].sku);
        if (j < 0 || skus[j].available < 0)
            continue;
        skus[j].available -= sign * set->lines[l].quantity;
        skus[j].reserved += sign * set->lines[l].quantity;
    }
}

static void place(stock_fold_order *o, stock_fold_sku *skus, size_t sku_count,
                  const line_set *lines, stock_fold_step *step)
{
    int available[RESERVATION_MAX_LINES];
    if (o->status != RESERVATION_NONE) /* decided before, or cancelled before it was placed */
        return;
    for (size_t l = 0; l < lines->count; l++) {
        long j = stock_fold_find_sku(skus, sku_count, lines->lines[l].sku);
        available[l] = j < 0 ? -1 : skus[j].available;
    }
    o->items = lines;
    if (reservation_decide(lines, available, step->reason, sizeof step->reason)) {
        move(skus, sku_count, lines, +1);
        o->status = RESERVATION_HELD;
        step->kind = STOCK_STEP_RESERVED;
    } else {
        o->status = RESERVATION_REJECTED;
        o->reason = step->reason;
        step->kind = STOCK_STEP_OUT_OF_STOCK;
    }
}

static void cancel(stock_fold_order *o, stock_fold_sku *skus, size_t sku_count,
                   stock_fold_step *step)
{
    if (o->status == RESERVATION_NONE) { /* cancel before placement: never reserve later */
        o->status = RESERVATION_VOID;
        o->items = NULL;
        o->reason = STOCK_FOLD_VOID_REASON;
        step->kind = STOCK_STEP_VOIDED;
    } else if (o->status == RESERVATION_HELD) {
        move(skus, sku_count, o->items, -1);
        o->status = RESERVATION_RELEASED;
        step->kind = STOCK_STEP_RELEASED;
    }
}

void stock_fold_apply(stock_fold_order *orders, stock_fold_sku *skus, size_t sku_count,
                      const stock_fold_event *events, size_t n, const size_t *order_of,
                      stock_fold_step *steps)
{
    for (size_t i = 0; i < n; i++) {
        stock_fold_order *o = &orders[order_of[i]];
        stock_fold_step *step = &steps[i];
        *step = (stock_fold_step){.kind = STOCK_STEP_NOTHING};
        switch (events[i].kind) {
        case STOCK_FOLD_PLACED:
            place(o, skus, sku_count, events[i].lines, step);
            break;
        case STOCK_FOLD_CANCELLED:
            cancel(o, skus, sku_count, step);
            break;
        case STOCK_FOLD_CONFIRMED:
            if (o->status == RESERVATION_HELD) {
                o->status = RESERVATION_COMMITTED;
                step->kind = STOCK_STEP_COMMITTED;
            }
            break;
        }
    }
}
