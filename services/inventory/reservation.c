/* All-or-nothing reservation arithmetic; see reservation.h. */
#include "reservation.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int by_sku(const void *a, const void *b)
{
    return strcmp(((const stock_line *)a)->sku, ((const stock_line *)b)->sku);
}

int line_set_from_items(const json_t *items, line_set *out)
{
    memset(out, 0, sizeof *out);
    if (!json_is_array(items))
        return -1;
    size_t i;
    const json_t *item;
    json_array_foreach(items, i, item)
    {
        const char *sku = json_string_value(json_object_get(item, "sku"));
        json_int_t q = json_integer_value(json_object_get(item, "quantity"));
        if (!sku || strlen(sku) > RESERVATION_SKU_MAX || q < 1 || q > 1000000)
            return -1;
        size_t j = 0;
        while (j < out->count && strcmp(out->lines[j].sku, sku) != 0)
            j++;
        if (j == out->count) {
            if (out->count == RESERVATION_MAX_LINES)
                return -1;
            snprintf(out->lines[j].sku, sizeof out->lines[j].sku, "%s", sku);
            out->count++;
        }
        if (out->lines[j].quantity > 1000000 - q)
            return -1;
        out->lines[j].quantity += (int)q;
    }
    qsort(out->lines, out->count, sizeof out->lines[0], by_sku);
    return 0;
}

bool reservation_decide(const line_set *set, const int *available, char *reason, size_t n)
{
    for (size_t i = 0; i < set->count; i++) {
        const stock_line *l = &set->lines[i];
        if (available[i] < 0) {
            snprintf(reason, n, "unknown SKU %s", l->sku);
            return false;
        }
        if (available[i] < l->quantity) {
            snprintf(reason, n, "insufficient stock for %s: requested %d, available %d", l->sku,
                     l->quantity, available[i]);
            return false;
        }
    }
    return true;
}

json_t *line_set_json(const line_set *set)
{
    json_t *items = json_array();
    for (size_t i = 0; i < set->count; i++)
        json_array_append_new(items, json_pack("{s:s, s:i}", "sku", set->lines[i].sku, "quantity",
                                               set->lines[i].quantity));
    return items;
}
