/* Folding a batch of order events into one row per order; see fold.h. */
#include "fold.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

int fold_item_count(const json_t *items)
{
    int n = 0;
    size_t i;
    const json_t *line;
    json_array_foreach(items, i, line) n +=
        (int)json_integer_value(json_object_get(line, "quantity"));
    return n;
}

typedef struct {
    const fold_event *events;
    size_t index;
} ranked;

/* By order id, then by position in the batch (qsort is not stable). */
static int by_order(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    int c = strcasecmp(x->events[x->index].order_id, y->events[y->index].order_id);
    if (c)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

int fold_collect(const fold_event *events, size_t n, order_fold *orders, size_t *order_of,
                 size_t *count)
{
    ranked *sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted)
        return -1;
    for (size_t i = 0; i < n; i++)
        sorted[i] = (ranked){.events = events, .index = i};
    qsort(sorted, n, sizeof *sorted, by_order);
    size_t m = 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = sorted[k].index;
        if (m == 0 || strcasecmp(orders[m - 1].order_id, events[i].order_id) != 0) {
            orders[m] =
                (order_fold){.order_id = events[i].order_id, .first_event = i, .placed_event = -1};
            order_view_init(&orders[m].view);
            m++;
        }
        orders[m - 1].last_event = i; /* indexes ascend within an order */
        order_of[i] = m - 1;
    }
    free(sorted);
    *count = m;
    return 0;
}

static void apply_placed(order_fold *o, const fold_event *e, size_t index)
{
    const json_t *p = e->payload;
    const char *customer = json_string_value(json_object_get(p, "customerId"));
    const char *currency = json_string_value(json_object_get(p, "currency"));
    const json_t *items = json_object_get(p, "items");
    if (customer) {
        o->customer_id = customer;
        o->placed_event = (long)index;
    }
    if (currency)
        o->currency = currency;
    if (items)
        o->items = items;
    o->has_totals = true;
    o->total_cents = (long long)json_integer_value(json_object_get(p, "totalCents"));
    o->item_count = fold_item_count(items);
    o->correlation_id = e->correlation_id;
}

void fold_apply(order_fold *orders, const fold_event *events, size_t n, const size_t *order_of)
{
    for (size_t i = 0; i < n; i++) {
        order_fold *o = &orders[order_of[i]];
        const fold_event *e = &events[i];
        order_view_apply(&o->view, e->event_type);
        if (strcmp(e->event_type, "OrderPlaced") == 0) {
            apply_placed(o, e, i);
        } else if (strcmp(e->event_type, "OrderCancelled") == 0) {
            const char *reason = json_string_value(json_object_get(e->payload, "reason"));
            if (reason)
                o->cancel_reason = reason;
        }
    }
}
