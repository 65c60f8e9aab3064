/* Unit tests of the outbox rows a batch handler gathers (ev_outbox_rows_emit, outbox.c): each
 * row is what ev_emit inserts (the topic from the catalog, keyed by the order, caused by the
 * cause and in its correlation, the envelope serialized) and keeps the trace context current
 * when it was added; a bad event is refused and adds nothing. No database: writing is the
 * system tests' (tests/system/test_saga_batch.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ev/outbox.h"

#include <string.h>

#define ORDER "0b7e5a9e-1f5e-4c55-9d9a-0f3c2a1b9e10"
#define OTHER "9d2c4a1e-0000-4c55-9d9a-0f3c2a1b9e10"
#define CORRELATION "5a000000-0000-4c55-9d9a-0f3c2a1b9e10"

enum { AGGREGATE, TOPIC, EVENT_ID, EVENT_TYPE, MESSAGE, CAUSATION, TRACEPARENT };

static const char *cell(const ev_outbox_rows *rows, size_t row, int column)
{
    return rows->cells[row * EV_OUTBOX_COLUMNS + (size_t)column];
}

static void rows_are_what_ev_emit_inserts(void **state)
{
    (void)state;
    ev_envelope cause;
    assert_int_equal(ev_envelope_init(&cause, "PaymentSucceeded", 1, "payment", CORRELATION,
                                      json_pack("{s:s}", "orderId", ORDER)),
                     0);
    ev_outbox_rows rows = {0};
    char err[256];
    ev_span *span = ev_span_start("consume", EV_SPAN_CONSUMER, NULL);
    ev_span_enter(span);
    assert_int_equal(ev_outbox_rows_emit(&rows, "orchestrator", &cause, "OrderConfirmed", 1,
                                         json_pack("{s:s}", "orderId", ORDER), err, sizeof err),
                     0);
    ev_span_leave(span);
    for (int i = 0; i < 9; i++) /* beyond the first allocation */
        assert_int_equal(ev_outbox_rows_emit(&rows, "orchestrator", &cause, "OrderCancelled", 1,
                                             json_pack("{s:s, s:s}", "orderId", OTHER, "reason",
                                                       "payment \"failed\""),
                                             err, sizeof err),
                         0);
    assert_int_equal(rows.count, 10);

    assert_string_equal(cell(&rows, 0, AGGREGATE), ORDER);
    assert_string_equal(cell(&rows, 0, TOPIC), "order.lifecycle.events");
    assert_string_equal(cell(&rows, 0, EVENT_TYPE), "OrderConfirmed");
    assert_string_equal(cell(&rows, 0, CAUSATION), cause.event_id);
    char traceparent[EV_TRACEPARENT_SIZE];
    ev_traceparent_format(ev_span_context(span), traceparent);
    assert_memory_equal(cell(&rows, 0, TRACEPARENT), traceparent, 3 + 32); /* same trace */
    assert_string_not_equal(cell(&rows, 1, TRACEPARENT), traceparent);

    ev_envelope e;
    const char *message = cell(&rows, 9, MESSAGE);
    assert_int_equal(ev_envelope_parse(message, strlen(message), &e, err, sizeof err), 0);
    assert_string_equal(e.event_type, "OrderCancelled");
    assert_string_equal(e.event_id, cell(&rows, 9, EVENT_ID));
    assert_string_equal(e.correlation_id, cause.correlation_id);
    assert_string_equal(e.producer, "orchestrator");
    assert_string_equal(json_string_value(json_object_get(e.payload, "reason")),
                        "payment \"failed\"");
    assert_string_not_equal(cell(&rows, 8, EVENT_ID), cell(&rows, 9, EVENT_ID));
    ev_envelope_clear(&e);
    ev_span_end(span);
    ev_outbox_rows_free(&rows);
    assert_int_equal(rows.count, 0);
    ev_envelope_clear(&cause);
}

static void a_bad_event_adds_no_row(void **state)
{
    (void)state;
    ev_envelope cause;
    assert_int_equal(ev_envelope_init(&cause, "OutOfStock", 1, "inventory", CORRELATION,
                                      json_pack("{s:s}", "orderId", ORDER)),
                     0);
    ev_outbox_rows rows = {0};
    char err[256];
    assert_int_equal(ev_outbox_rows_emit(&rows, "orchestrator", &cause, "NoSuchEvent", 1,
                                         json_pack("{s:s}", "orderId", ORDER), err, sizeof err),
                     -1);
    assert_int_equal(ev_outbox_rows_emit(&rows, "orchestrator", &cause, "OrderCancelled", 1,
                                         json_pack("{s:s}", "reason", "no order"), err, sizeof err),
                     -1);
    assert_int_equal(rows.count, 0);
    ev_outbox_rows_free(&rows);
    ev_envelope_clear(&cause);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rows_are_what_ev_emit_inserts),
        cmocka_unit_test(a_bad_event_adds_no_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
