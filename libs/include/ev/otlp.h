/* OTLP span records and their encoding as OTLP/HTTP protobuf.
 *
 * A span being traced keeps an ev_otlp_span: compact records (ids, times, attributes,
 * events, links, status) whose strings sit in one pool owned by the record. Building one
 * is a few appends, cheap enough for the threads that handle orders. A finished record is
 * packed at once as its OTLP Span message (libs/proto/otlp_trace.proto, with protobuf-c):
 * the bytes are what waits for the exporter: 584 bytes for a consumer span and 264 for a
 * transaction's, against 1,352 for any record, and thousands wait whenever the trace
 * backend answers slowly. The exporter thread frames a batch of packed spans as one
 * ExportTraceServiceRequest; the binary form costs the trace backend about a quarter less
 * CPU per span than OTLP's JSON form, and is half the bytes.
 *
 * Ownership: ev_otlp_span_new returns a record its caller owns; ev_otlp_span_free frees it
 * and everything in it. ev_otlp_span_pack returns one block the caller frees with free().
 * Every string handed to a record is copied; bytes that are not UTF-8 become '?', because a
 * protobuf string must be UTF-8 and a receiver refuses the whole request otherwise.
 *
 * Limits: a record keeps at most EV_OTLP_ATTRIBUTES_MAX attributes, EV_OTLP_EVENTS_MAX events
 * and EV_OTLP_LINKS_MAX links; what comes beyond is counted in the span's dropped_*_count
 * fields, as OTLP provides, so the backend shows that something was left out.
 *
 * Errors: an allocation that fails marks the record failed (ev_otlp_span_ok is then false);
 * the functions that add to a failed record do nothing, and a failed record is dropped, not
 * packed. */
#ifndef EV_OTLP_H
#define EV_OTLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EV_OTLP_ATTRIBUTES_MAX 64
#define EV_OTLP_EVENTS_MAX 32
#define EV_OTLP_LINKS_MAX 256

typedef struct ev_otlp_span ev_otlp_span;

/* A record started at start_ns (Unix nanoseconds); parent_span_id NULL for a root span.
 * kind is OTLP's SpanKind (ev_span_kind has the same values). NULL when out of memory. */
ev_otlp_span *ev_otlp_span_new(const uint8_t trace_id[16], const uint8_t span_id[8],
                               const uint8_t *parent_span_id, const char *name, int kind,
                               uint64_t start_ns);

void ev_otlp_span_attr_str(ev_otlp_span *s, const char *key, const char *value);
void ev_otlp_span_attr_int(ev_otlp_span *s, const char *key, int64_t value);

/* An event with an optional string attribute and an optional integer attribute (a NULL key
 * leaves it out). */
void ev_otlp_span_event(ev_otlp_span *s, uint64_t time_ns, const char *name, const char *str_key,
                        const char *str_value, const char *int_key, int64_t int_value);

void ev_otlp_span_link(ev_otlp_span *s, const uint8_t trace_id[16], const uint8_t span_id[8]);

/* Sets the status to error with message; the last call counts. */
void ev_otlp_span_error(ev_otlp_span *s, const char *message);

void ev_otlp_span_end(ev_otlp_span *s, uint64_t end_ns);

bool ev_otlp_span_ok(const ev_otlp_span *s);

void ev_otlp_span_free(ev_otlp_span *s);

/* A finished span as the bytes of its OTLP Span message. */
typedef struct {
    size_t len;
    uint8_t bytes[];
} ev_otlp_packed;

/* Packs s (ok and ended). NULL when out of memory. */
ev_otlp_packed *ev_otlp_span_pack(const ev_otlp_span *s);

/* Encodes spans[0..n) as one ExportTraceServiceRequest whose resource is the service. The
 * bytes go to *buf, grown with realloc when *cap is too small: the caller owns *buf (NULL at
 * first) and may pass it again for the next request. Returns the encoded length, 0 when out
 * of memory. */
size_t ev_otlp_encode(const char *service, ev_otlp_packed *const *spans, size_t n, uint8_t **buf,
                      size_t *cap);

#endif
