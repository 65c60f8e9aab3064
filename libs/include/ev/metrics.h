/* Prometheus metrics: counters, gauges and latency histograms identified by a name and an
 * optional label set, rendered in the text exposition format for GET /metrics.
 * Thread-safe; a series is created on first use. */
#ifndef EV_METRICS_H
#define EV_METRICS_H

#include <stdint.h>

typedef struct ev_metrics ev_metrics;

/* service becomes a label of every series. NULL on allocation failure. */
ev_metrics *ev_metrics_new(const char *service);
void ev_metrics_free(ev_metrics *m);

/* labels is preformatted Prometheus label text without braces, e.g. "topic=\"x\"", or NULL.
 * All calls accept m == NULL and then do nothing, so tests can pass no registry. */
void ev_metrics_add(ev_metrics *m, const char *name, const char *labels, uint64_t n);
void ev_metrics_set(ev_metrics *m, const char *name, const char *labels, int64_t value);
void ev_metrics_observe(ev_metrics *m, const char *name, const char *labels, double seconds);

/* Counts one event on topic: ev_metrics_add(m, name, "topic=\"<topic>\"", 1). */
void ev_metrics_count_event(ev_metrics *m, const char *name, const char *topic);

/* The whole registry in text format. The caller frees the string. */
char *ev_metrics_render(ev_metrics *m);

#endif
