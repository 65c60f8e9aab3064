/* Grouping a fetched batch's items by key, for the set-based batch handlers (ev/worker.h):
 * each handler locks its rows in one statement, in ascending key order, so two instances of a
 * service never wait on each other in a cycle. Pure: no I/O, unit-tested. */
#ifndef EV_GROUP_H
#define EV_GROUP_H

#include <stddef.h>

/* The key of item i of items (e.g. an order id); not NULL. */
typedef const char *(*ev_group_key_fn)(const void *items, size_t i);

/* Numbers the distinct keys of items 0..n-1 (compared without regard to case: UUIDs may come
 * in either) in ascending key order: group_of[i] is item i's group, first_of[g] the smallest
 * index of group g. Both arrays have room for n and belong to the caller. Returns the number
 * of groups, or -1 when out of memory. */
long ev_group_by_key(const void *items, size_t n, ev_group_key_fn key, size_t *group_of,
                     size_t *first_of);

/* The index of the group whose key equals key (without regard to case) among count groups
 * sorted by key in ascending order, as ev_group_by_key numbers them: key_of(groups, g) is
 * group g's key. -1 when none has it. A binary search. */
long ev_group_find(const void *groups, size_t count, ev_group_key_fn key_of, const char *key);

#endif
