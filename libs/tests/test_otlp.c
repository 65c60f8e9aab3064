/* Unit tests for ev/otlp.h: span records, packed and framed as a request, decoded back with
 * the generated unpacker (what a receiver reads). No network, no tracer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ev/otlp.h"

#include "otlp_trace.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t TRACE[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                                  0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
static const uint8_t SPAN[8] = {1, 2, 3, 4, 5, 6, 7, 8};
static const uint8_t PARENT[8] = {0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};

typedef Eventify__Otlp__ExportTraceServiceRequest request;

static request *decode(const uint8_t *buf, size_t len)
{
    request *r = eventify__otlp__export_trace_service_request__unpack(NULL, len, buf);
    assert_non_null(r);
    assert_int_equal(r->n_resource_spans, 1);
    assert_int_equal(r->resource_spans[0]->n_scope_spans, 1);
    return r;
}

/* The request's bytes must be what protobuf-c itself packs for what they decode to: the
 * framing around the packed spans writes the same fields, in the same order, with the same
 * lengths. */
static void assert_repacks_the_same(request *r, const uint8_t *buf, size_t len)
{
    size_t repacked_len = eventify__otlp__export_trace_service_request__get_packed_size(r);
    assert_int_equal(repacked_len, len);
    uint8_t *repacked = malloc(repacked_len);
    assert_non_null(repacked);
    eventify__otlp__export_trace_service_request__pack(r, repacked);
    assert_memory_equal(repacked, buf, len);
    free(repacked);
}

/* Packs s and frames it alone as a request in *buf. */
static size_t encode_one(const char *service, const ev_otlp_span *s, uint8_t **buf, size_t *cap)
{
    ev_otlp_packed *packed = ev_otlp_span_pack(s);
    assert_non_null(packed);
    size_t len = ev_otlp_encode(service, &packed, 1, buf, cap);
    free(packed);
    return len;
}

static Eventify__Otlp__Span *span_at(request *r, size_t i)
{
    Eventify__Otlp__ScopeSpans *ss = r->resource_spans[0]->scope_spans[0];
    assert_true(i < ss->n_spans);
    return ss->spans[i];
}

static void a_root_span_has_no_parent_and_keeps_its_times(void **state)
{
    (void)state;
    ev_otlp_span *s = ev_otlp_span_new(TRACE, SPAN, NULL, "POST /orders", 2, 1000);
    assert_non_null(s);
    ev_otlp_span_end(s, 2500);
    uint8_t *buf = NULL;
    size_t cap = 0;
    size_t len = encode_one("order", s, &buf, &cap);
    assert_true(len > 0 && len <= cap);
    request *r = decode(buf, len);
    Eventify__Otlp__KeyValue *service = r->resource_spans[0]->resource->attributes[0];
    assert_string_equal(service->key, "service.name");
    assert_string_equal(service->value->string_value, "order");
    Eventify__Otlp__Span *pb = span_at(r, 0);
    assert_int_equal(pb->parent_span_id.len, 0);
    assert_int_equal(pb->trace_id.len, 16);
    assert_memory_equal(pb->trace_id.data, TRACE, 16);
    assert_memory_equal(pb->span_id.data, SPAN, 8);
    assert_int_equal(pb->kind, EVENTIFY__OTLP__SPAN__SPAN_KIND__SPAN_KIND_SERVER);
    assert_int_equal(pb->start_time_unix_nano, 1000);
    assert_int_equal(pb->end_time_unix_nano, 2500);
    assert_null(pb->status);
    assert_repacks_the_same(r, buf, len);
    eventify__otlp__export_trace_service_request__free_unpacked(r, NULL);
    ev_otlp_span_free(s);
    free(buf);
}

static void what_exceeds_the_limits_is_counted_not_lost_silently(void **state)
{
    (void)state;
    ev_otlp_span *s = ev_otlp_span_new(TRACE, SPAN, PARENT, "batch", 1, 1);
    for (int i = 0; i < EV_OTLP_ATTRIBUTES_MAX + 3; i++) {
        char key[32];
        snprintf(key, sizeof key, "k%d", i);
        ev_otlp_span_attr_int(s, key, i);
    }
    for (int i = 0; i < EV_OTLP_LINKS_MAX + 5; i++)
        ev_otlp_span_link(s, TRACE, SPAN);
    for (int i = 0; i < EV_OTLP_EVENTS_MAX + 1; i++)
        ev_otlp_span_event(s, 5, "retry", NULL, NULL, "eventify.attempt", i);
    assert_true(ev_otlp_span_ok(s));
    uint8_t *buf = NULL;
    size_t cap = 0;
    size_t len = encode_one("orchestrator", s, &buf, &cap);
    request *r = decode(buf, len);
    Eventify__Otlp__Span *pb = span_at(r, 0);
    assert_int_equal(pb->n_attributes, EV_OTLP_ATTRIBUTES_MAX);
    assert_int_equal(pb->dropped_attributes_count, 3);
    assert_string_equal(pb->attributes[63]->key, "k63");
    assert_int_equal(pb->attributes[63]->value->int_value, 63);
    assert_int_equal(pb->n_links, EV_OTLP_LINKS_MAX);
    assert_int_equal(pb->dropped_links_count, 5);
    assert_repacks_the_same(r, buf, len); /* a span of kilobytes: two-byte lengths */
    assert_int_equal(pb->n_events, EV_OTLP_EVENTS_MAX);
    assert_int_equal(pb->dropped_events_count, 1);
    assert_int_equal(pb->events[31]->attributes[0]->value->int_value, 31);
    eventify__otlp__export_trace_service_request__free_unpacked(r, NULL);
    ev_otlp_span_free(s);
    free(buf);
}

static void strings_are_copied_and_made_utf8(void **state)
{
    (void)state;
    char value[] = "caf\xc3\xa9 \xff\xc3 ok";
    ev_otlp_span *s = ev_otlp_span_new(TRACE, SPAN, PARENT, "n\xe9", 5, 1);
    ev_otlp_span_attr_str(s, "user_agent.original", value);
    ev_otlp_span_attr_str(s, "empty", NULL);
    memset(value, 'x', sizeof value - 1); /* the record keeps its own copy */
    ev_otlp_span_error(s, "first");
    ev_otlp_span_error(s, "second");
    uint8_t *buf = NULL;
    size_t cap = 0;
    size_t len = encode_one("payment", s, &buf, &cap);
    request *r = decode(buf, len);
    Eventify__Otlp__Span *pb = span_at(r, 0);
    assert_string_equal(pb->name, "n?");
    assert_string_equal(pb->attributes[0]->value->string_value, "caf\xc3\xa9 ?? ok");
    assert_string_equal(pb->attributes[1]->value->string_value, "");
    assert_string_equal(pb->status->message, "second");
    eventify__otlp__export_trace_service_request__free_unpacked(r, NULL);
    ev_otlp_span_free(s);
    free(buf);
}

static void an_empty_batch_is_a_request_with_no_spans(void **state)
{
    (void)state;
    uint8_t *buf = NULL;
    size_t cap = 0;
    size_t len = ev_otlp_encode("shipping", NULL, 0, &buf, &cap);
    request *r = decode(buf, len);
    assert_int_equal(r->resource_spans[0]->scope_spans[0]->n_spans, 0);
    assert_string_equal(r->resource_spans[0]->scope_spans[0]->scope->name, "eventify");
    assert_repacks_the_same(r, buf, len);
    eventify__otlp__export_trace_service_request__free_unpacked(r, NULL);
    free(buf);
}

static void a_batch_keeps_its_order_and_the_buffer_is_reused(void **state)
{
    (void)state;
    enum { N = 300 };
    ev_otlp_packed *spans[N];
    for (int i = 0; i < N; i++) {
        ev_otlp_span *s =
            ev_otlp_span_new(TRACE, SPAN, PARENT, "process orders.events", 5, (uint64_t)i);
        ev_otlp_span_attr_int(s, "messaging.kafka.offset", i);
        ev_otlp_span_attr_str(s, "messaging.destination.name", "orders.events");
        ev_otlp_span_end(s, (uint64_t)i + 1);
        spans[i] = ev_otlp_span_pack(s);
        assert_non_null(spans[i]);
        ev_otlp_span_free(s); /* the packed bytes stand alone */
    }
    uint8_t *buf = NULL;
    size_t cap = 0;
    size_t len = ev_otlp_encode("read-model", spans, N, &buf, &cap);
    uint8_t *first = buf;
    size_t first_cap = cap;
    request *r = decode(buf, len);
    assert_int_equal(r->resource_spans[0]->scope_spans[0]->n_spans, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(span_at(r, (size_t)i)->attributes[0]->value->int_value, i);
    assert_repacks_the_same(r, buf, len);
    eventify__otlp__export_trace_service_request__free_unpacked(r, NULL);

    len = ev_otlp_encode("read-model", spans + 10, 5, &buf, &cap);
    assert_ptr_equal(buf, first); /* a smaller request fits the same buffer */
    assert_int_equal(cap, first_cap);
    r = decode(buf, len);
    assert_int_equal(span_at(r, 0)->start_time_unix_nano, 10);
    eventify__otlp__export_trace_service_request__free_unpacked(r, NULL);
    for (int i = 0; i < N; i++)
        free(spans[i]);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_root_span_has_no_parent_and_keeps_its_times),
        cmocka_unit_test(what_exceeds_the_limits_is_counted_not_lost_silently),
        cmocka_unit_test(strings_are_copied_and_made_utf8),
        cmocka_unit_test(an_empty_batch_is_a_request_with_no_spans),
        cmocka_unit_test(a_batch_keeps_its_order_and_the_buffer_is_reused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
