/* A notification batch folded over its orders; see mail_batch.h. */
#include "mail_batch.h"

#include "ev/group.h"

#include <stdlib.h>
#include <string.h>

static const char *event_order_id(const void *items, size_t i)
{
    return ((const mail_event *)items)[i].order_id;
}

static bool is_placed(const mail_event *e)
{
    return strcmp(e->event_type, "OrderPlaced") == 0;
}

int mail_batch_collect(const mail_event *events, size_t n, mail_order *orders, size_t *order_of,
                       size_t *count)
{
    size_t *first = malloc((n ? n : 1) * sizeof *first);
    long m = first ? ev_group_by_key(events, n, event_order_id, order_of, first) : -1;
    for (long g = 0; g < m; g++)
        orders[g] = (mail_order){.order_id = events[first[g]].order_id, .placed = -1};
    free(first);
    if (m < 0)
        return -1;
    for (size_t i = n; i-- > 0;) /* backwards: the first OrderPlaced is the last one noted */
        if (is_placed(&events[i]))
            orders[order_of[i]].placed = (long)i;
    *count = (size_t)m;
    return 0;
}

static const char *mail_batch_find_key(const void *items, size_t i)
{
    return ((const mail_order *)items)[i].order_id;
}

long mail_batch_find(const mail_order *orders, size_t count, const char *order_id)
{
    return ev_group_find(orders, count, mail_batch_find_key, order_id);
}

const char *mail_batch_customer(const mail_order *orders, const mail_event *events,
                                const size_t *order_of, size_t i)
{
    const mail_order *o = &orders[order_of[i]];
    if (o->stored)
        return o->stored_customer;
    if (o->placed >= 0 && (size_t)o->placed < i)
        return events[o->placed].customer_id;
    return NULL;
}

email_result mail_batch_render(const mail_order *orders, const mail_event *events,
                               const size_t *order_of, size_t i, email *out)
{
    const mail_event *e = &events[i];
    if (is_placed(e))
        return EMAIL_NONE;
    return render_email(e->event_type, e->order_id,
                        mail_batch_customer(orders, events, order_of, i), e->reason, e->shipment_id,
                        out);
}
