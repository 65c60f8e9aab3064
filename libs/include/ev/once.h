/* A bounded "seen before?" set of (producer, event type) pairs, so a warning about what a
 * tolerant reader let pass is logged once per pair, not once per message. Its memory is
 * fixed: once EV_ONCE_CAPACITY pairs are in, new pairs are reported as EV_ONCE_FULL and the
 * caller only counts them. Not thread-safe: one per consumer loop. */
#ifndef EV_ONCE_H
#define EV_ONCE_H

#include "ev/envelope.h"

#include <stddef.h>

#define EV_ONCE_CAPACITY 128

typedef struct {
    char producer[EV_PRODUCER_LEN];
    char event_type[EV_TYPE_LEN];
} ev_once_pair;

typedef struct {
    size_t count;
    ev_once_pair seen[EV_ONCE_CAPACITY];
} ev_once_set;

typedef enum {
    EV_ONCE_FIRST, /* new pair, now remembered: warn */
    EV_ONCE_SEEN,  /* warned before */
    EV_ONCE_FULL,  /* new pair but no room left: do not warn again */
} ev_once_result;

/* Starts empty. */
void ev_once_init(ev_once_set *s);

/* Looks the pair up and remembers it when new and there is room. Longer strings than the
 * envelope allows are compared on their first EV_PRODUCER_LEN-1 / EV_TYPE_LEN-1 bytes. */
ev_once_result ev_once_check(ev_once_set *s, const char *producer, const char *event_type);

#endif
