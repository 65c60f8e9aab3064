/* Admission control for POST /orders: whether a new order may still finish within the saga
 * deadline, decided from one measured signal, the backlog age (docs/overload.md).
 *
 * The backlog age is the age of the min_backlog-th oldest order of this service that is
 * still PENDING: how long the orders ahead of a new one have already waited for their
 * outcome. Taking the min_backlog-th rather than the oldest ignores a handful of stragglers
 * (an order whose payment was dead-lettered waits for its deadline however idle the stack
 * is); a real backlog is thousands of orders. The order service measures it from its own
 * database on a timer (services/order/main.c); this module only decides, with no I/O, no
 * clock and no allocation, so every case is a unit test. */
#ifndef ADMISSION_H
#define ADMISSION_H

#include <stdbool.h>
#include <stdint.h>

/* The longest Retry-After we ever announce, in seconds: past it a client should simply
 * come back later, and a stopped stack is not helped by clients sleeping for minutes. */
#define ADMISSION_RETRY_AFTER_MAX_S 30

typedef struct {
    int64_t max_delay_ms;   /* refuse while the backlog age is above this; 0 never refuses */
    int64_t stale_after_ms; /* a measurement older than this says nothing: admit */
} admission_policy;

typedef struct {
    bool measured;          /* false until the first measurement */
    int64_t measured_at_ms; /* monotonic time of the measurement */
    int64_t backlog_age_ms; /* 0 when fewer than min_backlog orders are PENDING */
} admission_signal;

typedef struct {
    bool admit;
    int retry_after_s; /* when refused: seconds for the Retry-After header, 1..MAX */
} admission_verdict;

/* Admits unless the policy is on, the signal is fresh at now_ms and the backlog age exceeds
 * max_delay_ms. A refusal's Retry-After is the excess, rounded up to whole seconds and kept
 * within 1..ADMISSION_RETRY_AFTER_MAX_S: when the backlog drains no faster than it ages,
 * the excess is the least time before the answer can change. */
admission_verdict admission_decide(const admission_policy *p, const admission_signal *s,
                                   int64_t now_ms);

#endif
