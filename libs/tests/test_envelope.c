/* Unit tests of the event envelope: build, serialize, strict parse, traceparent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ev/envelope.h"

#include <stdlib.h>
#include <string.h>

#define CID "0148c2c0-a1bb-41e1-8aa8-8c03ebc7140a"

static void round_trip_keeps_all_seven_fields_in_order(void **state)
{
    (void)state;
    ev_envelope e, back;
    char err[256];
    assert_int_equal(
        ev_envelope_init(&e, "OrderPlaced", 2, "order", CID, json_pack("{s:s}", "orderId", "x")),
        0);
    assert_true(ev_uuid_valid(e.event_id));
    assert_true(ev_time_valid(e.occurred_at));
    char *text = ev_envelope_serialize(&e);
    assert_non_null(text);
    assert_non_null(strstr(text, "{\"eventId\":"));
    assert_true(strstr(text, "\"eventType\"") < strstr(text, "\"occurredAt\""));
    assert_true(strstr(text, "\"version\"") < strstr(text, "\"payload\""));
    assert_int_equal(ev_envelope_parse(text, strlen(text), &back, err, sizeof err), 0);
    assert_string_equal(back.event_id, e.event_id);
    assert_string_equal(back.event_type, "OrderPlaced");
    assert_string_equal(back.correlation_id, CID);
    assert_string_equal(back.producer, "order");
    assert_int_equal(back.version, 2);
    assert_true(json_equal(back.payload, e.payload));
    free(text);
    ev_envelope_clear(&e);
    ev_envelope_clear(&back);
}

static const char *valid =
    "{\"eventId\":\"2f0a3c1e-9a43-4a8e-8d8f-3b7f6d0c1a22\",\"eventType\":\"OrderConfirmed\","
    "\"occurredAt\":\"2026-11-24T12:00:00Z\",\"correlationId\":\"" CID "\","
    "\"producer\":\"orchestrator\",\"version\":1,\"payload\":{}}";

static void expect_rejected(const char *text, const char *why)
{
    ev_envelope e;
    char err[256] = "";
    assert_int_equal(ev_envelope_parse(text, strlen(text), &e, err, sizeof err), -1);
    if (!strstr(err, why))
        fail_msg("error \"%s\" does not mention \"%s\" for %s", err, why, text);
    assert_null(e.payload);
}

/* valid with `from` replaced by `to`. */
static char *variant(const char *from, const char *to)
{
    static char buf[1024];
    const char *at = strstr(valid, from);
    assert_non_null(at);
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - valid), valid, to, at + strlen(from));
    return buf;
}

static void parse_accepts_a_valid_envelope(void **state)
{
    (void)state;
    ev_envelope e;
    char err[256];
    assert_int_equal(ev_envelope_parse(valid, strlen(valid), &e, err, sizeof err), 0);
    ev_envelope_clear(&e);
}

/* A value near Kafka's size limit is refused before jansson builds anything from it. */
static void parse_refuses_an_event_larger_than_the_bound(void **state)
{
    (void)state;
    size_t n = EV_ENVELOPE_MAX_BYTES + 1;
    char *big = malloc(n);
    memset(big, ' ', n);
    memcpy(big, valid, strlen(valid)); /* a valid event padded with whitespace */
    ev_envelope e;
    char err[256];
    assert_int_equal(ev_envelope_parse(big, n, &e, err, sizeof err), -1);
    assert_non_null(strstr(err, "larger than an event may be"));
    assert_null(e.payload);
    assert_int_equal(ev_envelope_parse(big, n - 1, &e, err, sizeof err), 0);
    ev_envelope_clear(&e);
    free(big);
}

static void parse_rejects_what_breaks_the_contract(void **state)
{
    (void)state;
    expect_rejected("not json", "invalid JSON");
    expect_rejected("[1,2]", "not a JSON object");
    expect_rejected("", "empty");
    expect_rejected(variant("\"producer\":\"orchestrator\",", ""),
                    "missing envelope field producer");
    expect_rejected(variant("{\"eventId\"", "{\"extra\":1,\"eventId\""),
                    "unexpected envelope field");
    expect_rejected(variant("\"version\":1", "\"version\":1,\"version\":2"), "invalid JSON");
    expect_rejected(variant("2f0a3c1e-9a43", "zz0a3c1e-9a43"), "eventId is not a UUID");
    expect_rejected(variant("\"" CID "\"", "\"abc\""), "correlationId is not a UUID");
    expect_rejected(variant("2026-11-24T12:00:00Z", "yesterday"), "occurredAt");
    expect_rejected(variant("\"version\":1", "\"version\":0"), "version");
    expect_rejected(variant("\"version\":1", "\"version\":\"1\""), "version");
    expect_rejected(variant("\"version\":1", "\"version\":1.5"), "version");
    expect_rejected(variant("\"payload\":{}", "\"payload\":[]"), "payload");
    expect_rejected(variant("\"OrderConfirmed\"", "\"\""), "eventType is empty");
}

static void init_refuses_bad_arguments_and_owns_the_payload(void **state)
{
    (void)state;
    ev_envelope e;
    assert_int_equal(ev_envelope_init(&e, "X", 1, "p", "not-a-uuid", json_object()), -1);
    assert_int_equal(ev_envelope_init(&e, "X", 0, "p", CID, json_object()), -1);
    assert_int_equal(ev_envelope_init(&e, "X", 1, "p", CID, json_array()), -1);
    assert_null(e.payload); /* released on failure: ASan would report a leak otherwise */
}

static void traceparent_carries_the_correlation_id(void **state)
{
    (void)state;
    char tp[EV_TRACEPARENT_LEN], again[EV_TRACEPARENT_LEN];
    ev_traceparent_new(CID, tp);
    ev_traceparent_new(CID, again);
    assert_int_equal(strlen(tp), 55);
    assert_memory_equal(tp, "00-0148c2c0a1bb41e18aa88c03ebc7140a-", 36);
    assert_string_equal(tp + 52, "-01");
    assert_memory_not_equal(tp + 36, again + 36, 16); /* a new span each time */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_keeps_all_seven_fields_in_order),
        cmocka_unit_test(parse_accepts_a_valid_envelope),
        cmocka_unit_test(parse_rejects_what_breaks_the_contract),
        cmocka_unit_test(parse_refuses_an_event_larger_than_the_bound),
        cmocka_unit_test(init_refuses_bad_arguments_and_owns_the_payload),
        cmocka_unit_test(traceparent_carries_the_correlation_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
