/* Unit tests of the event catalog: topics, payload checks and upcasting to the newest
 * version (the tolerant reader). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ev/events.h"

#include <stdio.h>
#include <string.h>

#define OID "5bb4b8cc-484b-4df0-a941-fa37ae96b12b"
#define CID "0148c2c0-a1bb-41e1-8aa8-8c03ebc7140a"

static ev_upcast_result upcast(const char *type, int version, const char *payload, ev_envelope *e,
                               char *err)
{
    assert_int_equal(ev_envelope_init(e, type, version, "t", CID, json_loads(payload, 0, NULL)), 0);
    return ev_upcast(e, err, 256);
}

static void topics_follow_the_spec(void **state)
{
    (void)state;
    assert_string_equal(ev_topic_of("OrderPlaced"), "orders.events");
    assert_string_equal(ev_topic_of("OutOfStock"), "inventory.events");
    assert_string_equal(ev_topic_of("InventoryReleased"), "inventory.events");
    assert_string_equal(ev_topic_of("PaymentRefunded"), "payments.events");
    assert_string_equal(ev_topic_of("OrderCancelled"), "order.lifecycle.events");
    assert_string_equal(ev_topic_of("ShipmentCreated"), "shipping.events");
    assert_null(ev_topic_of("Nope"));
    assert_int_equal(ev_latest_version("OrderPlaced"), 2);
    assert_int_equal(ev_latest_version("Nope"), 0);
}

static void order_placed_v1_is_upcast_unpriced(void **state)
{
    (void)state;
    ev_envelope e;
    char err[256];
    assert_int_equal(upcast("OrderPlaced", 1,
                            "{\"orderId\":\"" OID "\",\"items\":[{\"sku\":\"SKU-RED-TSHIRT\","
                            "\"quantity\":2},{\"sku\":\"SKU-BLUE-CAP\",\"quantity\":1}]}",
                            &e, err),
                     EV_UPCAST_OK);
    assert_int_equal(e.version, 2);
    assert_int_equal(json_integer_value(json_object_get(e.payload, "totalCents")), 0);
    assert_string_equal(json_string_value(json_object_get(e.payload, "currency")), "EUR");
    assert_string_equal(json_string_value(json_object_get(e.payload, "customerId")), "unknown");
    json_t *line = json_array_get(json_object_get(e.payload, "items"), 1);
    assert_int_equal(json_integer_value(json_object_get(line, "unitPriceCents")), 0);
    ev_envelope_clear(&e);
}

static void product_events_are_keyed_by_sku_and_checked(void **state)
{
    (void)state;
    ev_envelope e;
    char err[256];
    assert_string_equal(ev_topic_of("ProductUpserted"), "catalog.events");
    assert_string_equal(ev_topic_of("StockAdjusted"), "inventory.events");
    assert_int_equal(upcast("ProductUpserted", 1,
                            "{\"sku\":\"SKU-X\",\"name\":\"X\",\"priceCents\":100,"
                            "\"currency\":\"EUR\",\"revision\":1}",
                            &e, err),
                     EV_UPCAST_OK);
    ev_envelope_clear(&e);
    assert_int_equal(upcast("StockAdjusted", 1,
                            "{\"sku\":\"SKU-X\",\"adjustmentId\":\"" OID "\",\"delta\":-3,"
                            "\"reason\":\"damaged\"}",
                            &e, err),
                     EV_UPCAST_OK);
    ev_envelope_clear(&e);
    const char *bad[][2] = {
        {"ProductUpserted", "{\"sku\":\"sku-x\",\"name\":\"X\",\"priceCents\":1,"
                            "\"currency\":\"EUR\",\"revision\":1}"},
        {"ProductUpserted", "{\"sku\":\"SKU-X\",\"name\":\"\",\"priceCents\":1,"
                            "\"currency\":\"EUR\",\"revision\":1}"},
        {"ProductUpserted", "{\"sku\":\"SKU-X\",\"name\":\"X\",\"priceCents\":-1,"
                            "\"currency\":\"EUR\",\"revision\":1}"},
        {"ProductUpserted", "{\"sku\":\"SKU-X\",\"name\":\"X\",\"priceCents\":1,"
                            "\"currency\":\"eur\",\"revision\":1}"},
        {"StockAdjusted", "{\"sku\":\"SKU-X\",\"adjustmentId\":\"" OID "\",\"delta\":0,"
                          "\"reason\":\"r\"}"},
        {"StockAdjusted", "{\"sku\":\"SKU-X\",\"adjustmentId\":\"x\",\"delta\":1,"
                          "\"reason\":\"r\"}"},
        {"StockAdjusted", "{\"sku\":\"SKU-X\",\"adjustmentId\":\"" OID "\",\"delta\":1,"
                          "\"reason\":\"a\\nb\"}"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(upcast(bad[i][0], 1, bad[i][1], &e, err), EV_UPCAST_INVALID);
        ev_envelope_clear(&e);
    }
}

static void product_fields_are_bounded(void **state)
{
    (void)state;
    assert_true(ev_sku_valid("SKU-RED-TSHIRT"));
    assert_true(ev_sku_valid("A1"));
    assert_false(ev_sku_valid("A"));
    assert_false(ev_sku_valid("-AB"));
    assert_false(ev_sku_valid("SKU red"));
    assert_false(ev_sku_valid(NULL));
    char long_sku[EV_SKU_MAX + 2];
    memset(long_sku, 'A', sizeof long_sku - 1);
    long_sku[EV_SKU_MAX + 1] = '\0';
    assert_false(ev_sku_valid(long_sku));
    long_sku[EV_SKU_MAX] = '\0';
    assert_true(ev_sku_valid(long_sku));
    assert_true(ev_text_valid("Grüner Hoodie", 100));
    assert_false(ev_text_valid("a\x7f", 100));
    assert_false(ev_text_valid("a\xc2\x85"
                               "b",
                               100));
    assert_false(ev_text_valid("", 100));
    assert_false(ev_text_valid("evil\xe2\x80\xaeshirt", 100)); /* U+202E */
    assert_false(ev_text_valid("a\xe2\x81\xa6"
                               "b",
                               100));                            /* U+2066 */
    assert_true(ev_text_valid("caf\xc3\xa9 \xe2\x82\xac", 100)); /* é € */
    assert_false(ev_text_valid("abc", 2));
    /* characters, not bytes: two of two bytes each fit a limit of 2 */
    assert_true(ev_text_valid("\xc3\xa9\xc3\xa9", 2));
    assert_false(ev_text_valid("\xc3\xa9\xc3\xa9\xc3\xa9", 2));
    assert_true(ev_currency_valid("EUR"));
    assert_false(ev_currency_valid("EU"));
    assert_false(ev_currency_valid("eur"));
}

static void v2_passes_and_future_versions_do_not(void **state)
{
    (void)state;
    ev_envelope e;
    char err[256];
    const char *v2 = "{\"orderId\":\"" OID "\",\"customerId\":\"c\",\"currency\":\"EUR\","
                     "\"totalCents\":1999,\"items\":[{\"sku\":\"S\",\"quantity\":1,"
                     "\"unitPriceCents\":1999}]}";
    assert_int_equal(upcast("OrderPlaced", 2, v2, &e, err), EV_UPCAST_OK);
    ev_envelope_clear(&e);
    assert_int_equal(upcast("OrderPlaced", 3, v2, &e, err), EV_UPCAST_FUTURE_VERSION);
    assert_non_null(strstr(err, "unsupported version 3"));
    ev_envelope_clear(&e);
    assert_int_equal(upcast("Nope", 1, "{}", &e, err), EV_UPCAST_UNKNOWN_TYPE);
    ev_envelope_clear(&e);
}

static void payloads_that_break_their_schema_are_invalid(void **state)
{
    (void)state;
    ev_envelope e;
    char err[256];
    const char *bad[][2] = {
        {"OrderPlaced", "{\"items\":[{\"sku\":\"S\",\"quantity\":1}]}"},
        {"OrderPlaced", "{\"orderId\":\"x\",\"items\":[{\"sku\":\"S\",\"quantity\":1}]}"},
        {"OrderPlaced", "{\"orderId\":\"" OID "\",\"items\":[]}"},
        {"OrderPlaced", "{\"orderId\":\"" OID "\",\"items\":[{\"sku\":\"S\",\"quantity\":0}]}"},
        {"PaymentFailed", "{\"orderId\":\"" OID "\",\"reason\":5}"},
        {"InventoryReserved", "{\"orderId\":\"" OID "\",\"reservationId\":7}"},
        {"ShipmentCreated", "{\"orderId\":\"" OID "\"}"},
        {"ShipmentCreated", "{\"orderId\":\"" OID "\",\"shipmentId\":\"s\",\"status\":\"C\"}"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(upcast(bad[i][0], 1, bad[i][1], &e, err), EV_UPCAST_INVALID);
        ev_envelope_clear(&e);
    }
}

static void inventory_reserved_v1_gets_empty_items(void **state)
{
    (void)state;
    ev_envelope e;
    char err[256];
    assert_int_equal(upcast("InventoryReserved", 1,
                            "{\"orderId\":\"" OID "\",\"reservationId\":\"r\"}", &e, err),
                     EV_UPCAST_OK);
    assert_int_equal(e.version, 2);
    assert_int_equal(json_array_size(json_object_get(e.payload, "items")), 0);
    ev_envelope_clear(&e);
}

#define LINE(sku, q) "{\"sku\":\"" sku "\",\"quantity\":" q "}"

static ev_upcast_result upcast_noting(const char *type, int version, const char *payload,
                                      ev_envelope *e, ev_tolerated *notes, char *err)
{
    assert_int_equal(ev_envelope_init(e, type, version, "t", CID, json_loads(payload, 0, NULL)), 0);
    return ev_upcast_tolerant(e, notes, err, 256);
}

static void expect_invalid(const char *type, int version, const char *payload, const char *why)
{
    ev_envelope e;
    char err[256] = "";
    assert_int_equal(upcast(type, version, payload, &e, err), EV_UPCAST_INVALID);
    if (!strstr(err, why))
        fail_msg("error \"%s\" does not say \"%s\"", err, why);
    ev_envelope_clear(&e);
}

/* Finding: a v1 quantity of 2^62 overflowed price x quantity into a negative total. */
/* Found by fuzz/fuzz_envelope: a v1 InventoryReserved upcast to v2 (items: []) failed the
 * checks of v2 when read again, e.g. by a rebuild or a second consumer of the same event. */
static void an_upcast_event_passes_its_new_versions_checks(void **state)
{
    (void)state;
    ev_envelope e;
    char err[256];
    assert_int_equal(upcast("InventoryReserved", 1, "{\"orderId\":\"" OID "\"}", &e, err),
                     EV_UPCAST_OK);
    assert_int_equal(e.version, 2);
    assert_int_equal(ev_upcast(&e, err, sizeof err), EV_UPCAST_OK);
    assert_int_equal(json_array_size(json_object_get(e.payload, "items")), 0);
    ev_envelope_clear(&e);
}

static void quantities_outside_the_api_bounds_are_invalid(void **state)
{
    (void)state;
    expect_invalid("OrderPlaced", 1,
                   "{\"orderId\":\"" OID
                   "\",\"items\":[" LINE("SKU-RED-TSHIRT", "4611686018427387904") "]}",
                   "quantity must be an integer from 1 to 1000");
    expect_invalid("OrderPlaced", 1,
                   "{\"orderId\":\"" OID "\",\"items\":[" LINE("SKU-RED-TSHIRT", "1001") "]}",
                   "quantity must be an integer from 1 to 1000");
    expect_invalid("OrderPlaced", 2,
                   "{\"orderId\":\"" OID "\",\"items\":[" LINE("SKU-RED-TSHIRT", "-1") "]}",
                   "quantity");
    expect_invalid("InventoryReserved", 2,
                   "{\"orderId\":\"" OID "\",\"items\":[" LINE("S", "9223372036854775807") "]}",
                   "quantity");
}

/* An OrderPlaced payload with count copies of line; fails the test rather than cut. */
static void order_with_lines(char *out, size_t n, const char *line, int count)
{
    size_t used = (size_t)snprintf(out, n, "{\"orderId\":\"" OID "\",\"items\":[");
    for (int i = 0; i < count && used < n; i++)
        used += (size_t)snprintf(out + used, n - used, "%s%s", i ? "," : "", line);
    if (used < n)
        used += (size_t)snprintf(out + used, n - used, "]}");
    assert_true(used < n);
}

static void lines_skus_and_customer_ids_are_bounded(void **state)
{
    (void)state;
    char many[4096];
    order_with_lines(many, sizeof many, LINE("S", "1"), 101);
    expect_invalid("OrderPlaced", 1, many, "array of 1 to 100 lines");
    expect_invalid(
        "OrderPlaced", 1,
        "{\"orderId\":\"" OID "\",\"items\":[" LINE(
            "SSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSS", "1") "]}",
        "sku must be a string of 1 to 64");
    expect_invalid("OrderPlaced", 1,
                   "{\"orderId\":\"" OID
                   "\",\"customerId\":\"a\\r\\nBcc: x\",\"items\":[" LINE("S", "1") "]}",
                   "customerId");
    expect_invalid("OrderPlaced", 2,
                   "{\"orderId\":\"" OID "\",\"customerId\":\"ccccccccccccccccccccccccccccccccccc"
                   "cccccccccccccccccccccccccccccc\",\"items\":[" LINE("S", "1") "]}",
                   "customerId");
}

static void money_is_bounded_and_never_overflows(void **state)
{
    (void)state;
    expect_invalid("OrderPlaced", 2,
                   "{\"orderId\":\"" OID "\",\"items\":[{\"sku\":\"S\",\"quantity\":1000,"
                   "\"unitPriceCents\":9223372036854775807}]}",
                   "unitPriceCents must be an integer from 0 to 100000000");
    expect_invalid("OrderPlaced", 2,
                   "{\"orderId\":\"" OID "\",\"totalCents\":-5,\"items\":[" LINE("S", "1") "]}",
                   "totalCents");
    expect_invalid("OrderPlaced", 2,
                   "{\"orderId\":\"" OID
                   "\",\"totalCents\":10000000000001,\"items\":[" LINE("S", "1") "]}",
                   "totalCents");
    /* the largest order the bounds allow still has an exact total */
    char big[8192];
    order_with_lines(big, sizeof big,
                     "{\"sku\":\"S\",\"quantity\":1000,\"unitPriceCents\":100000000}", 100);
    ev_envelope e;
    char err[256];
    assert_int_equal(upcast("OrderPlaced", 2, big, &e, err), EV_UPCAST_OK);
    assert_int_equal(json_integer_value(json_object_get(e.payload, "totalCents")),
                     10000000000000LL);
    ev_envelope_clear(&e);
}

static void a_v1_total_is_never_trusted(void **state)
{
    (void)state;
    ev_envelope e;
    char err[256];
    assert_int_equal(upcast("OrderPlaced", 1,
                            "{\"orderId\":\"" OID "\",\"totalCents\":1,\"currency\":\"XXX\","
                            "\"items\":[{\"sku\":\"SKU-BLUE-CAP\",\"quantity\":2,"
                            "\"unitPriceCents\":1}]}",
                            &e, err),
                     EV_UPCAST_OK);
    /* v1 carries no prices: whatever money it holds is dropped, the order is unpriced */
    assert_int_equal(json_integer_value(json_object_get(e.payload, "totalCents")), 0);
    json_t *line = json_array_get(json_object_get(e.payload, "items"), 0);
    assert_int_equal(json_integer_value(json_object_get(line, "unitPriceCents")), 0);
    assert_string_equal(json_string_value(json_object_get(e.payload, "currency")), "EUR");
    ev_envelope_clear(&e);
}

/* The brief's reference inventory service sends InventoryReserved without reservationId. */
static void a_missing_field_nobody_needs_is_tolerated_and_noted(void **state)
{
    (void)state;
    ev_envelope e;
    ev_tolerated notes;
    char err[256];
    assert_int_equal(
        upcast_noting("InventoryReserved", 1, "{\"orderId\":\"" OID "\"}", &e, &notes, err),
        EV_UPCAST_OK);
    assert_int_equal(notes.count, 1);
    assert_string_equal(notes.text, "payload.reservationId missing");
    assert_int_equal(e.version, 2);
    assert_int_equal(json_array_size(json_object_get(e.payload, "items")), 0);
    ev_envelope_clear(&e);

    assert_int_equal(
        upcast_noting("PaymentFailed", 1, "{\"orderId\":\"" OID "\"}", &e, &notes, err),
        EV_UPCAST_OK);
    assert_string_equal(notes.text, "payload.reason missing");
    ev_envelope_clear(&e);
}

static void unknown_fields_are_tolerated_and_noted(void **state)
{
    (void)state;
    ev_envelope e;
    ev_tolerated notes;
    char err[256];
    assert_int_equal(upcast_noting("OrderConfirmed", 1,
                                   "{\"orderId\":\"" OID "\",\"confirmedBy\":\"x\"}", &e, &notes,
                                   err),
                     EV_UPCAST_OK);
    assert_int_equal(notes.count, 1);
    assert_string_equal(notes.text, "payload.confirmedBy is not known");
    ev_envelope_clear(&e);
    assert_int_equal(upcast_noting("OrderPlaced", 1,
                                   "{\"orderId\":\"" OID "\",\"forceException\":true,\"items\":["
                                   "{\"sku\":\"S\",\"quantity\":1,\"colour\":\"red\"}]}",
                                   &e, &notes, err),
                     EV_UPCAST_OK);
    assert_int_equal(notes.count, 1);
    assert_string_equal(notes.text, "payload.items[0].colour is not known");
    ev_envelope_clear(&e);
}

static void a_v2_order_placed_missing_money_fields_is_filled_like_v1(void **state)
{
    (void)state;
    ev_envelope e;
    ev_tolerated notes;
    char err[256];
    assert_int_equal(upcast_noting("OrderPlaced", 2,
                                   "{\"orderId\":\"" OID
                                   "\",\"items\":[" LINE("SKU-RED-TSHIRT", "2") "]}",
                                   &e, &notes, err),
                     EV_UPCAST_OK);
    assert_int_equal(notes.count, 4); /* unit price, customerId, currency, totalCents */
    /* a missing unit price is an unpriced line: readers of events hold no prices */
    assert_int_equal(json_integer_value(json_object_get(e.payload, "totalCents")), 0);
    assert_string_equal(json_string_value(json_object_get(e.payload, "customerId")), "unknown");
    ev_envelope_clear(&e);
    /* a plain v1 event is the old contract, not a deviation */
    assert_int_equal(upcast_noting("OrderPlaced", 1,
                                   "{\"orderId\":\"" OID
                                   "\",\"items\":[" LINE("SKU-RED-TSHIRT", "2") "]}",
                                   &e, &notes, err),
                     EV_UPCAST_OK);
    assert_int_equal(notes.count, 0);
    ev_envelope_clear(&e);
}

/* Found by the order_request fuzz target: the API allows 64 characters in a customer id, so
 * the event check must count characters too, not bytes (U+059C is two bytes). */
static void a_customer_id_is_bounded_in_characters_not_bytes(void **state)
{
    (void)state;
    char name[2 * 65 + 1] = "";
    for (int i = 0; i < 64; i++)
        snprintf(name + 2 * i, sizeof name - 2 * (size_t)i, "%s", "\xD6\x9C");
    char payload[512];
    snprintf(payload, sizeof payload,
             "{\"orderId\":\"" OID "\",\"customerId\":\"%s\",\"currency\":\"EUR\","
             "\"totalCents\":0,\"items\":[" LINE("SKU-RED-TSHIRT", "1") "]}",
             name);
    ev_envelope e;
    char err[256];
    assert_int_equal(upcast("OrderPlaced", 2, payload, &e, err), EV_UPCAST_OK);
    ev_envelope_clear(&e);
    snprintf(name + 128, sizeof name - 128, "%s", "\xD6\x9C"); /* 65 characters */
    snprintf(payload, sizeof payload,
             "{\"orderId\":\"" OID "\",\"customerId\":\"%s\",\"currency\":\"EUR\","
             "\"totalCents\":0,\"items\":[" LINE("SKU-RED-TSHIRT", "1") "]}",
             name);
    assert_int_equal(upcast("OrderPlaced", 2, payload, &e, err), EV_UPCAST_INVALID);
    ev_envelope_clear(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(topics_follow_the_spec),
        cmocka_unit_test(a_customer_id_is_bounded_in_characters_not_bytes),
        cmocka_unit_test(order_placed_v1_is_upcast_unpriced),
        cmocka_unit_test(product_events_are_keyed_by_sku_and_checked),
        cmocka_unit_test(product_fields_are_bounded),
        cmocka_unit_test(v2_passes_and_future_versions_do_not),
        cmocka_unit_test(payloads_that_break_their_schema_are_invalid),
        cmocka_unit_test(inventory_reserved_v1_gets_empty_items),
        cmocka_unit_test(an_upcast_event_passes_its_new_versions_checks),
        cmocka_unit_test(quantities_outside_the_api_bounds_are_invalid),
        cmocka_unit_test(lines_skus_and_customer_ids_are_bounded),
        cmocka_unit_test(money_is_bounded_and_never_overflows),
        cmocka_unit_test(a_v1_total_is_never_trusted),
        cmocka_unit_test(a_missing_field_nobody_needs_is_tolerated_and_noted),
        cmocka_unit_test(unknown_fields_are_tolerated_and_noted),
        cmocka_unit_test(a_v2_order_placed_missing_money_fields_is_filled_like_v1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
