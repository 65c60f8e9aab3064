/* How one event moves an order's projected status and saga steps. Pure: the same events
 * in any order across topics end in the same state (later facts are never undone by
 * earlier ones that arrive late). */
#ifndef PROJECTION_H
#define PROJECTION_H

#include <stdbool.h>

#define STEP_LEN 16

typedef struct {
    char status[STEP_LEN];    /* PENDING, CONFIRMED, CANCELLED */
    char placed[STEP_LEN];    /* PENDING, DONE */
    char inventory[STEP_LEN]; /* PENDING, RESERVED, OUT_OF_STOCK, RELEASED */
    char payment[STEP_LEN];   /* PENDING, SUCCEEDED, FAILED, REFUNDED */
    char decision[STEP_LEN];  /* PENDING, CONFIRMED, CANCELLED */
    char shipment[STEP_LEN];  /* PENDING, CREATED, NONE */
    bool shipped;
} order_view;

/* A new order nobody has heard of yet: everything pending. */
void order_view_init(order_view *v);

/* Applies event_type; returns false when the type does not concern the order's view. */
bool order_view_apply(order_view *v, const char *event_type);

#endif
