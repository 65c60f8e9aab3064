/* The shipments of a batch of OrderConfirmed events; see shipment_batch.h. */
#include "shipment_batch.h"

#include "ev/group.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *const *order_ids;
    const size_t *index; /* of the confirmations among the events */
} confirmations;

static const char *confirmation_order_id(const void *items, size_t i)
{
    const confirmations *c = items;
    return c->order_ids[c->index[i]];
}

int shipment_batch_plan(const char *const *event_types, const char *const *order_ids, size_t n,
                        shipment_try *tries, size_t *count)
{
    size_t room = n ? n : 1;
    size_t *index = malloc(room * sizeof *index), *group_of = malloc(room * sizeof *group_of),
           *first = malloc(room * sizeof *first);
    long m = -1;
    if (index && group_of && first) {
        size_t confirmed = 0;
        for (size_t i = 0; i < n; i++)
            if (strcmp(event_types[i], "OrderConfirmed") == 0)
                index[confirmed++] = i;
        confirmations c = {.order_ids = order_ids, .index = index};
        m = ev_group_by_key(&c, confirmed, confirmation_order_id, group_of, first);
        for (long g = 0; g < m; g++)
            tries[g] =
                (shipment_try){.order_id = order_ids[index[first[g]]], .event = index[first[g]]};
    }
    free(index);
    free(group_of);
    free(first);
    if (m < 0)
        return -1;
    *count = (size_t)m;
    return 0;
}

static const char *shipment_batch_find_key(const void *items, size_t i)
{
    return ((const shipment_try *)items)[i].order_id;
}

long shipment_batch_find(const shipment_try *tries, size_t count, const char *order_id)
{
    return ev_group_find(tries, count, shipment_batch_find_key, order_id);
}

void shipment_batch_creators(const shipment_try *tries, size_t count, size_t n, bool *creates)
{
    memset(creates, 0, n * sizeof *creates);
    for (size_t k = 0; k < count; k++)
        if (tries[k].created && tries[k].event < n)
            creates[tries[k].event] = true;
}
