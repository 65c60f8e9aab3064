/* Grouping a batch's items by key; see ev/group.h. */
#include "ev/group.h"

#include <stdlib.h>
#include <strings.h>

typedef struct {
    const void *items;
    ev_group_key_fn key;
} keyed;

typedef struct {
    const keyed *by;
    size_t index;
} ranked;

/* By key, then by index (qsort is not stable). */
static int by_key(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    int c = strcasecmp(x->by->key(x->by->items, x->index), y->by->key(y->by->items, y->index));
    if (c)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

long ev_group_by_key(const void *items, size_t n, ev_group_key_fn key, size_t *group_of,
                     size_t *first_of)
{
    keyed by = {.items = items, .key = key};
    ranked *sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted)
        return -1;
    for (size_t i = 0; i < n; i++)
        sorted[i] = (ranked){.by = &by, .index = i};
    qsort(sorted, n, sizeof *sorted, by_key);
    size_t groups = 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = sorted[k].index;
        if (groups == 0 || strcasecmp(key(items, first_of[groups - 1]), key(items, i)) != 0)
            first_of[groups++] = i; /* the first of its group: indexes ascend within a key */
        group_of[i] = groups - 1;
    }
    free(sorted);
    return (long)groups;
}

long ev_group_find(const void *groups, size_t count, ev_group_key_fn key_of, const char *key)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcasecmp(key_of(groups, mid), key);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}
