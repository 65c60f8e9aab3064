/* Metric registry and Prometheus text rendering; see ev/metrics.h. */
#include "ev/metrics.h"
#include "ev/util.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Label sets per registry: routes x statuses x 2 (counter, histogram), consumer lag per
 * partition, ... A series past the limit is not recorded but counted
 * (metrics_series_dropped_total), never lost silently. */
#define MAX_SERIES 512
#define NAME_LEN 64
#define LABELS_LEN 160

typedef enum { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM } metric_kind;

/* Up to a minute: saga durations run to their deadline (30 s by default). */
static const double bucket_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                       0.25,   0.5,   1,      2.5,   5,    10,    30,   60};
enum { BUCKETS = sizeof bucket_bounds / sizeof bucket_bounds[0] };

typedef struct {
    char name[NAME_LEN];
    char labels[LABELS_LEN];
    metric_kind kind;
    int64_t value; /* counter or gauge */
    uint64_t buckets[BUCKETS];
    uint64_t count;
    double sum;
} series;

struct ev_metrics {
    char service[32];
    pthread_mutex_t lock;
    size_t count;
    uint64_t dropped; /* updates of series that did not fit */
    series all[MAX_SERIES];
};

/* Help texts of the metrics the runtime itself records. */
static const struct {
    const char *name;
    const char *help;
} known_help[] = {
    {"http_requests_total", "HTTP requests served, by route and status"},
    {"http_request_duration_seconds", "HTTP request latency"},
    {"events_consumed_total", "Events handled and committed, by topic"},
    {"events_duplicate_total", "Redelivered events skipped by the inbox"},
    {"events_batch_handled_total", "Events handled by a service's batch handler, by topic"},
    {"events_published_total", "Outbox rows published to Kafka, by topic"},
    {"event_handle_duration_seconds", "Time to handle one event, transaction included"},
    {"consumer_retries_total", "Transient failures retried with backoff"},
    {"consumer_restarts_total", "Consumers replaced because they stopped receiving messages"},
    {"dlq_messages_total", "Messages sent to the dead-letter topic"},
    {"outbox_backlog", "Outbox rows not yet published"},
    {"outbox_publish_latency_seconds", "From an outbox row's insert to the broker's ack, by topic"},
    {"kafka_consumer_lag", "Messages a consumer group is behind, by topic and partition"},
    {"kafka_dlq_messages", "Messages held by a consumer group's dead-letter topic"},
    {"saga_duration_seconds", "From a saga's start to its decision, by outcome"},
    {"saga_deadline_cancellations_total", "Sagas cancelled because their deadline passed"},
    {"order_backlog_age_ms", "Age of the PENDING order admission control weighs"},
};

ev_metrics *ev_metrics_new(const char *service)
{
    ev_metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    ev_strlcpy(m->service, service, sizeof m->service);
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

void ev_metrics_free(ev_metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* Finds or creates a series; the caller holds the lock. NULL when the registry is full. */
static series *find(ev_metrics *m, const char *name, const char *labels, metric_kind kind)
{
    if (!labels)
        labels = "";
    for (size_t i = 0; i < m->count; i++)
        if (strcmp(m->all[i].name, name) == 0 && strcmp(m->all[i].labels, labels) == 0)
            return &m->all[i];
    if (m->count == MAX_SERIES) {
        m->dropped++;
        return NULL;
    }
    series *s = &m->all[m->count++];
    memset(s, 0, sizeof *s);
    ev_strlcpy(s->name, name, sizeof s->name);
    ev_strlcpy(s->labels, labels, sizeof s->labels);
    s->kind = kind;
    return s;
}

void ev_metrics_add(ev_metrics *m, const char *name, const char *labels, uint64_t n)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    series *s = find(m, name, labels, KIND_COUNTER);
    if (s)
        s->value += (int64_t)n;
    pthread_mutex_unlock(&m->lock);
}

void ev_metrics_set(ev_metrics *m, const char *name, const char *labels, int64_t value)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    series *s = find(m, name, labels, KIND_GAUGE);
    if (s)
        s->value = value;
    pthread_mutex_unlock(&m->lock);
}

void ev_metrics_observe(ev_metrics *m, const char *name, const char *labels, double seconds)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    series *s = find(m, name, labels, KIND_HISTOGRAM);
    if (s) {
        for (int b = 0; b < BUCKETS; b++)
            if (seconds <= bucket_bounds[b])
                s->buckets[b]++;
        s->count++;
        s->sum += seconds;
    }
    pthread_mutex_unlock(&m->lock);
}

void ev_metrics_count_event(ev_metrics *m, const char *name, const char *topic)
{
    char labels[LABELS_LEN];
    snprintf(labels, sizeof labels, "topic=\"%s\"", topic);
    ev_metrics_add(m, name, labels, 1);
}

/* A growable string for rendering. */
typedef struct {
    char *buf;
    size_t len, cap;
    int failed;
} text;

static void appendf(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void appendf(text *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (w < 0) {
            t->failed = 1;
            return;
        }
        if ((size_t)w < t->cap - t->len) {
            t->len += (size_t)w;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)w;
        char *bigger = realloc(t->buf, cap);
        if (!bigger) {
            t->failed = 1;
            return;
        }
        t->buf = bigger;
        t->cap = cap;
    }
}

static const char *help_of(const char *name)
{
    for (size_t i = 0; i < sizeof known_help / sizeof known_help[0]; i++)
        if (strcmp(known_help[i].name, name) == 0)
            return known_help[i].help;
    return name;
}

static bool seen_before(const ev_metrics *m, size_t index)
{
    for (size_t i = 0; i < index; i++)
        if (strcmp(m->all[i].name, m->all[index].name) == 0)
            return true;
    return false;
}

static void render_series(text *t, const ev_metrics *m, const series *s)
{
    char labels[LABELS_LEN + 64];
    snprintf(labels, sizeof labels, "service=\"%s\"%s%s", m->service, s->labels[0] ? "," : "",
             s->labels);
    if (s->kind != KIND_HISTOGRAM) {
        appendf(t, "%s{%s} %lld\n", s->name, labels, (long long)s->value);
        return;
    }
    for (int b = 0; b < BUCKETS; b++)
        appendf(t, "%s_bucket{%s,le=\"%g\"} %llu\n", s->name, labels, bucket_bounds[b],
                (unsigned long long)s->buckets[b]);
    appendf(t, "%s_bucket{%s,le=\"+Inf\"} %llu\n", s->name, labels, (unsigned long long)s->count);
    appendf(t, "%s_sum{%s} %.6f\n", s->name, labels, s->sum);
    appendf(t, "%s_count{%s} %llu\n", s->name, labels, (unsigned long long)s->count);
}

char *ev_metrics_render(ev_metrics *m)
{
    static const char *kind_names[] = {"counter", "gauge", "histogram"};
    text t = {.buf = malloc(4096), .cap = 4096};
    if (!t.buf)
        return NULL;
    t.buf[0] = '\0';
    pthread_mutex_lock(&m->lock);
    /* Group series by name: TYPE and HELP once, then every label set of that name. */
    for (size_t i = 0; i < m->count; i++) {
        if (seen_before(m, i))
            continue;
        const series *first = &m->all[i];
        appendf(&t, "# HELP %s %s\n# TYPE %s %s\n", first->name, help_of(first->name), first->name,
                kind_names[first->kind]);
        for (size_t j = i; j < m->count; j++)
            if (strcmp(m->all[j].name, first->name) == 0)
                render_series(&t, m, &m->all[j]);
    }
    appendf(&t,
            "# HELP metrics_series_dropped_total Updates lost because the registry was full\n"
            "# TYPE metrics_series_dropped_total counter\n"
            "metrics_series_dropped_total{service=\"%s\"} %llu\n",
            m->service, (unsigned long long)m->dropped);
    pthread_mutex_unlock(&m->lock);
    if (t.failed) {
        free(t.buf);
        return NULL;
    }
    return t.buf;
}
