/* Reservation arithmetic: all lines of an order or none. Pure: the caller reads the stock
 * rows (locked), asks reservation_decide, and writes what it says. */
#ifndef RESERVATION_H
#define RESERVATION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define RESERVATION_MAX_LINES 100
#define RESERVATION_SKU_MAX 64

typedef struct {
    char sku[RESERVATION_SKU_MAX + 1];
    int quantity;
} stock_line;

typedef struct {
    size_t count;
    stock_line lines[RESERVATION_MAX_LINES]; /* sorted by sku, one line per sku */
} line_set;

/* Builds the set from an event's items ([{sku, quantity}]): repeated SKUs are summed and
 * lines sorted by SKU, the order in which rows are locked (no deadlocks). Returns 0, or -1
 * when items is malformed or too long. */
int line_set_from_items(const json_t *items, line_set *out);

/* Decides against available stock: available[i] is the stock of set->lines[i].sku, or -1
 * when the SKU is unknown. Returns true when every line fits; otherwise false with a
 * reason naming the first line that does not. */
bool reservation_decide(const line_set *set, const int *available, char *reason, size_t n);

/* The set as a JSON array [{sku, quantity}]. New reference. */
json_t *line_set_json(const line_set *set);

#endif
