/* Distributed tracing: W3C Trace Context and OpenTelemetry spans exported over OTLP/HTTP.
 *
 * A trace context (ev_trace_ctx) is a trace id, a span id and the sampled flag; it travels in
 * the `traceparent` HTTP and Kafka header ("00-<32 hex>-<16 hex>-<2 hex>"). Parsing and
 * formatting are pure and accept any bytes: malformed input is refused, never half-used.
 *
 * A span (ev_span) is started as the child of a context (or as the root of a new trace),
 * gets attributes, events and links, and is ended once; ending hands it to the exporter.
 * Attribute names follow OpenTelemetry's semantic conventions (http.*, messaging.*, db.*).
 *
 * Process-wide state, like the logger's: one tracer per process (ev_tracer_start), holding
 * the service name, the sampler and the exporter. A recording span keeps an OTLP record
 * (ev/otlp.h); the exporter is a background thread that sends the finished ones as OTLP/HTTP
 * protobuf, with a bounded queue: ev_span_end never waits for the network; when the queue is full
 * the span is dropped and counted in trace_spans_dropped_total (so are the spans of a batch the
 * backend refused). Without a started tracer, or when a trace is not sampled, spans still have
 * contexts (propagation works) but record nothing.
 *
 * Each thread has a current context (thread-local): ev_span_enter makes a span current
 * until it ends, so code that writes events (ev_outbox_add) and log lines (ev/log.h) pick
 * it up without it being passed down through every call. Enter and end nest in LIFO order.
 *
 * Sampling is parent-based: a child follows its parent's sampled flag; a new root trace is
 * sampled with probability EVENTIFY_TRACE_SAMPLE_RATIO (default 1: every order). */
#ifndef EV_TRACE_H
#define EV_TRACE_H

#include "ev/metrics.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EV_TRACE_ID_HEX 33     /* 32 hex digits and NUL */
#define EV_SPAN_ID_HEX 17      /* 16 hex digits and NUL */
#define EV_TRACEPARENT_SIZE 56 /* "00-" 32 "-" 16 "-" 2 and NUL */
#define EV_TRACESTATE_MAX 512  /* W3C: a vendor may cut a longer tracestate; we refuse it */

typedef struct {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    bool sampled;
} ev_trace_ctx;

/* --- pure: W3C Trace Context ------------------------------------------------------------- */

/* Parses a traceparent of len bytes (not necessarily NUL-terminated). Version 00 must be
 * exactly 55 characters; a higher version may carry more after a '-' (W3C forward
 * compatibility); version ff, upper-case hex, an all-zero trace or span id are refused.
 * Returns 0 with *out set, or -1 leaving *out untouched. */
int ev_traceparent_parse(const char *text, size_t len, ev_trace_ctx *out);

/* Formats version 00: "00-<trace>-<span>-01" (or -00 when not sampled). */
void ev_traceparent_format(const ev_trace_ctx *ctx, char out[EV_TRACEPARENT_SIZE]);

/* True when text (len bytes) is a W3C tracestate: at most 32 comma-separated key=value
 * members, keys lower-case [a-z0-9_-*\/@], values printable ASCII without ',' and '=',
 * at most EV_TRACESTATE_MAX bytes in all. Empty members (",,") are allowed. */
bool ev_tracestate_valid(const char *text, size_t len);

/* A valid context has a non-zero trace id and span id. */
bool ev_trace_ctx_valid(const ev_trace_ctx *ctx);

/* Lower-case hex of the ids (out sizes EV_TRACE_ID_HEX, EV_SPAN_ID_HEX). */
void ev_trace_id_hex(const ev_trace_ctx *ctx, char out[EV_TRACE_ID_HEX]);
void ev_span_id_hex(const ev_trace_ctx *ctx, char out[EV_SPAN_ID_HEX]);

/* The trace id as a UUID-shaped string (8-4-4-4-12 lower-case hex; out has 37 bytes), so a
 * correlation id can be the trace id. */
void ev_trace_id_uuid(const ev_trace_ctx *ctx, char out[37]);

/* The sampler's decision for a new root trace: ratio in [0, 1] compared with the trace id's
 * low 56 bits, so every service decides the same for the same id. */
bool ev_trace_sample(const uint8_t trace_id[16], double ratio);

/* --- the tracer -------------------------------------------------------------------------- */

typedef struct {
    const char *service;   /* resource service.name; copied */
    const char *endpoint;  /* OTLP/HTTP base URL ("http://host:4318"); NULL or "" exports nothing */
    double sample_ratio;   /* for root traces, [0, 1] */
    size_t queue_capacity; /* spans waiting for export at most; more are dropped */
    size_t batch_max;      /* spans per export request */
    int flush_ms;          /* a partial batch leaves after this long */
    ev_metrics *metrics;   /* shared, not owned; counts exported and dropped spans */
} ev_tracer_config;

/* Reads EVENTIFY_OTLP_ENDPOINT, EVENTIFY_TRACE_SAMPLE_RATIO, EVENTIFY_TRACE_QUEUE into cfg
 * (service and metrics are left to the caller); endpoint_buf (size n) holds the endpoint.
 * Returns 0, or -1 with err naming the bad variable. */
int ev_tracer_config_load(ev_tracer_config *cfg, char *endpoint_buf, size_t n,
                          const char *(*getenv_fn)(const char *), char *err, size_t errlen);

/* Starts the process's tracer and, with an endpoint, its exporter thread. Call once, from
 * the main thread, before other threads start spans. Returns 0 or -1 with err. */
int ev_tracer_start(const ev_tracer_config *cfg, char *err, size_t errlen);

/* Exports what is queued (waiting at most about two seconds), stops the thread, frees. */
void ev_tracer_stop(void);

/* --- spans ------------------------------------------------------------------------------- */

typedef enum {
    EV_SPAN_INTERNAL = 1,
    EV_SPAN_SERVER = 2,
    EV_SPAN_CLIENT = 3,
    EV_SPAN_PRODUCER = 4,
    EV_SPAN_CONSUMER = 5,
} ev_span_kind;

typedef struct ev_span ev_span;

/* Starts a span named name (copied). parent NULL or invalid starts a new trace (the root
 * sampler decides); otherwise the span is parent's child and follows its flag. Never NULL:
 * on allocation failure a static, non-recording span is returned that is safe to use and
 * to end. The span is owned by the caller until ev_span_end. */
ev_span *ev_span_start(const char *name, ev_span_kind kind, const ev_trace_ctx *parent);

/* Like ev_span_start, but a new trace (no valid parent) is not sampled: for health probes
 * and metric scrapes, which would bury the orders in the backend. A sampled parent still
 * gets a recorded child. */
ev_span *ev_span_start_quiet(const char *name, ev_span_kind kind, const ev_trace_ctx *parent);

/* The span's context, valid until ev_span_end. */
const ev_trace_ctx *ev_span_context(const ev_span *s);

/* True when the span records (sampled and a tracer exports): then attributes are kept. */
bool ev_span_recording(const ev_span *s);

/* Attributes (keys and string values copied); no-ops on a span that does not record. */
void ev_span_attr_str(ev_span *s, const char *key, const char *value);
void ev_span_attr_int(ev_span *s, const char *key, int64_t value);

/* A timestamped event with up to one string and one integer attribute (each key may be NULL). */
void ev_span_event(ev_span *s, const char *name, const char *str_key, const char *str_value,
                   const char *int_key, int64_t int_value);

/* Links the span to another context (batches, DLQ replays); an invalid ctx is ignored. */
void ev_span_link(ev_span *s, const ev_trace_ctx *ctx);

/* Marks the span failed (status ERROR) with a message. */
void ev_span_error(ev_span *s, const char *message);

/* Makes s this thread's current context until ev_span_end(s). */
void ev_span_enter(ev_span *s);

/* Restores the current context that ev_span_enter(s) replaced, without ending s (a span
 * that outlives the code running under it, e.g. an HTTP request until its answer is sent). */
void ev_span_leave(ev_span *s);

/* Ends s now (restoring the previous current context when s was entered), queues it for
 * export when it records, and frees it. s NULL does nothing. */
void ev_span_end(ev_span *s);

/* This thread's current context, or NULL when none. */
const ev_trace_ctx *ev_trace_current(void);

/* The current context as a traceparent in out; false (out untouched) when none. */
bool ev_trace_current_traceparent(char out[EV_TRACEPARENT_SIZE]);

#endif
