/* Folding a batch of order events into one row per order; see fold.h. */
#include "fold.h"

#include "ev/group.h"

#include <stdlib.h>
#include <string.h>

int fold_item_count(const json_t *items)
{
    int n = 0;
    size_t i;
    const json_t *line;
    json_array_foreach(items, i, line) n +=
        (int)json_integer_value(json_object_get(line, "quantity"));
    return n;
}

static const char *event_order_id(const void *events, size_t i)
{
    return ((const fold_event *)events)[i].order_id;
}

int fold_collect(const fold_event *events, size_t n, order_fold *orders, size_t *order_of,
                 size_t *count)
{
    size_t *first = malloc((n ? n : 1) * sizeof *first);
    long m = first ? ev_group_by_key(events, n, event_order_id, order_of, first) : -1;
    for (long g = 0; g < m; g++) {
        orders[g] = (order_fold){.order_id = events[first[g]].order_id, .placed_event = -1};
        order_view_init(&orders[g].view);
    }
    for (size_t i = 0; m >= 0 && i < n; i++)
        orders[order_of[i]].last_event = i; /* indexes ascend: the last one stays */
    free(first);
    if (m < 0)
        return -1;
    *count = (size_t)m;
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
