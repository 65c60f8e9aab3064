/* Unit tests of POST /orders validation and pricing (order_request.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "order_request.h"

#include <stdlib.h>
#include <string.h>

static const catalog_entry entries[] = {
    /* sorted by sku */
    {"SKU-BLUE-CAP", 1250, "EUR"},
    {"SKU-RED-TSHIRT", 1999, "EUR"},
    {"SKU-US-MUG", 800, "USD"},
};
static const catalog cat = {entries, 3};

static int parse_mode(const char *text, bool demo, order_request *out, order_error *err)
{
    json_t *body = json_loads(text, 0, NULL);
    assert_non_null(body);
    int rc = order_request_parse(body, &cat, demo, out, err);
    json_decref(body);
    return rc;
}

static int parse(const char *text, order_request *out, order_error *err)
{
    json_t *body = json_loads(text, 0, NULL);
    assert_non_null(body);
    int rc = order_request_parse(body, &cat, true, out, err);
    json_decref(body);
    return rc;
}

static void expect_rejected(const char *text, int status, const char *code)
{
    order_request req;
    order_error err;
    assert_int_equal(parse(text, &req, &err), -1);
    assert_int_equal(err.status, status);
    assert_string_equal(err.code, code);
    assert_true(strlen(err.message) > 0);
}

static void prices_come_from_the_catalog(void **state)
{
    (void)state;
    order_request req;
    order_error err;
    assert_int_equal(parse("{\"customerId\":\"c-1001\",\"items\":["
                           "{\"sku\":\"SKU-RED-TSHIRT\",\"quantity\":2},"
                           "{\"sku\":\"SKU-BLUE-CAP\",\"quantity\":1}]}",
                           &req, &err),
                     0);
    assert_string_equal(req.customer_id, "c-1001");
    assert_int_equal(req.line_count, 2);
    assert_int_equal(req.lines[0].unit_price_cents, 1999);
    assert_int_equal(req.total_cents, 2 * 1999 + 1250);
    assert_string_equal(req.currency, "EUR");
}

static void shape_errors_are_400(void **state)
{
    (void)state;
    expect_rejected("{}", 400, "validation_error");
    expect_rejected("{\"customerId\":5,\"items\":[]}", 400, "validation_error");
    expect_rejected("{\"customerId\":\"\",\"items\":[{\"sku\":\"SKU-BLUE-CAP\",\"quantity\":1}]}",
                    400, "validation_error");
    expect_rejected("{\"customerId\":\"c\"}", 400, "validation_error");
    expect_rejected("{\"customerId\":\"c\",\"items\":{}}", 400, "validation_error");
    expect_rejected("{\"customerId\":\"c\",\"items\":[]}", 400, "validation_error");
    expect_rejected("{\"customerId\":\"c\",\"items\":[5]}", 400, "validation_error");
    expect_rejected(
        "{\"customerId\":\"c\",\"items\":[{\"sku\":\"SKU-BLUE-CAP\",\"quantity\":\"1\"}]}", 400,
        "validation_error");
    expect_rejected(
        "{\"customerId\":\"c\",\"items\":[{\"sku\":\"SKU-BLUE-CAP\",\"quantity\":1.5}]}", 400,
        "validation_error");
}

static void expect_message(const char *text, const char *code, const char *needle)
{
    order_request req;
    order_error err;
    assert_int_equal(parse(text, &req, &err), -1);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.code, code);
    if (!strstr(err.message, needle))
        fail_msg("message '%s' does not name '%s'", err.message, needle);
}

static void unknown_fields_are_400_naming_them(void **state)
{
    (void)state;
    expect_message("{\"customerId\":\"c\",\"items\":[{\"sku\":\"SKU-BLUE-CAP\",\"quantity\":1}],"
                   "\"extra\":true}",
                   "unknown_field", "extra is not a known field");
    expect_message("{\"customerID\":\"c\",\"items\":[{\"sku\":\"SKU-BLUE-CAP\",\"quantity\":1}]}",
                   "unknown_field", "customerID");
    /* a price from the client is refused, not silently replaced by the catalog's */
    expect_message("{\"customerId\":\"c\",\"items\":[{\"sku\":\"SKU-BLUE-CAP\",\"quantity\":1},"
                   "{\"sku\":\"SKU-RED-TSHIRT\",\"quantity\":2,\"unitPriceCents\":1}]}",
                   "unknown_field", "items[1].unitPriceCents");
    expect_message("{\"customerId\":\"c\",\"items\":[{\"sku\":\"SKU-BLUE-CAP\",\"qty\":1}]}",
                   "unknown_field", "items[0].qty");
    /* a long or multi-byte name is quoted cut on a character boundary, as valid UTF-8 */
    char text[512];
    snprintf(
        text, sizeof text,
        "{\"customerId\":\"c\",\"items\":[{\"sku\":\"SKU-BLUE-CAP\",\"quantity\":1}],"
        "\"%s\":1}",
        "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"
        "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"
        "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9");
    order_request req;
    order_error err;
    assert_int_equal(parse(text, &req, &err), -1);
    assert_string_equal(err.code, "unknown_field");
    json_t *as_json = json_string(err.message); /* NULL if not valid UTF-8 */
    assert_non_null(as_json);
    json_decref(as_json);
    assert_non_null(strstr(err.message, "\xE2\x80\xA6 is not a known field"));
}

static void customer_id_is_printable_and_bounded(void **state)
{
    (void)state;
    static const char *const refused[] = {
        "c\\r\\nBcc: x@example.com", /* CR/LF: header injection in e-mails */
        "c\\u0007",                  /* BEL */
        "c\\u007f",                  /* DEL */
        "c\\u0085",                  /* C1 next line */
        "c\\u202egnp.exe",           /* right-to-left override */
        "c\\u2066x\\u2069",          /* isolates */
        "c\\u200e",                  /* left-to-right mark */
        "c\\u200b",                  /* zero-width space */
        "\\ufeffc",                  /* BOM */
        "c\\u2028",                  /* line separator */
        "c\\ue000",                  /* private use */
    };
    char text[256];
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        snprintf(text, sizeof text,
                 "{\"customerId\":\"%s\",\"items\":[{\"sku\":\"SKU-BLUE-CAP\",\"quantity\":1}]}",
                 refused[i]);
        expect_message(text, "validation_error", "customerId");
    }
    /* 64 characters of 2 bytes each are accepted, 65 are not */
    char name[2 * 65 + 1] = "";
    for (int i = 0; i < 64; i++)
        strcat(name, "\xC3\xA9");
    order_request req;
    order_error err;
    json_t *body = json_pack("{s:s, s:[{s:s, s:i}]}", "customerId", name, "items", "sku",
                             "SKU-BLUE-CAP", "quantity", 1);
    assert_int_equal(order_request_parse(body, &cat, true, &req, &err), 0);
    assert_string_equal(req.customer_id, name);
    json_decref(body);
    strcat(name, "\xC3\xA9");
    body = json_pack("{s:s, s:[{s:s, s:i}]}", "customerId", name, "items", "sku", "SKU-BLUE-CAP",
                     "quantity", 1);
    assert_int_equal(order_request_parse(body, &cat, true, &req, &err), -1);
    assert_string_equal(err.code, "validation_error");
    assert_non_null(strstr(err.message, "64 characters"));
    json_decref(body);
    /* printable letters of any script, spaces and punctuation are fine */
    assert_null(order_customer_id_problem("Zo\xC3\xAB M\xC3\xBCller-\xE6\x9D\x8E #7", 19));
    assert_non_null(order_customer_id_problem("\xC3", 1));     /* truncated UTF-8 */
    assert_non_null(order_customer_id_problem("\xC0\xAF", 2)); /* overlong */
    assert_non_null(order_customer_id_problem("", 0));
}

static void quantities_are_bounded(void **state)
{
    (void)state;
    expect_rejected("{\"customerId\":\"c\",\"items\":[{\"sku\":\"SKU-BLUE-CAP\",\"quantity\":0}]}",
                    400, "invalid_quantity");
    expect_rejected("{\"customerId\":\"c\",\"items\":[{\"sku\":\"SKU-BLUE-CAP\",\"quantity\":-1}]}",
                    400, "invalid_quantity");
    expect_rejected(
        "{\"customerId\":\"c\",\"items\":[{\"sku\":\"SKU-BLUE-CAP\",\"quantity\":1001}]}", 400,
        "invalid_quantity");
}

/* JSON (and the OpenAPI document's "integer") does not tell 2 from 2.0. */
static void whole_quantities_may_be_written_as_reals(void **state)
{
    (void)state;
    order_request req;
    order_error err;
    assert_int_equal(
        parse("{\"customerId\":\"c\",\"items\":[{\"sku\":\"SKU-BLUE-CAP\",\"quantity\":3.0}]}",
              &req, &err),
        0);
    assert_int_equal(req.lines[0].quantity, 3);
    expect_rejected(
        "{\"customerId\":\"c\",\"items\":[{\"sku\":\"SKU-BLUE-CAP\",\"quantity\":1e300}]}", 400,
        "validation_error");
    expect_rejected(
        "{\"customerId\":\"c\",\"items\":[{\"sku\":\"SKU-BLUE-CAP\",\"quantity\":1001.0}]}", 400,
        "invalid_quantity");
}

static void unknown_sku_is_422(void **state)
{
    (void)state;
    expect_rejected("{\"customerId\":\"c\",\"items\":[{\"sku\":\"SKU-NOPE\",\"quantity\":1}]}", 422,
                    "unknown_sku");
}

static void too_many_lines(void **state)
{
    (void)state;
    json_t *items = json_array();
    for (int i = 0; i < ORDER_MAX_LINES + 1; i++)
        json_array_append_new(items, json_pack("{s:s, s:i}", "sku", "SKU-BLUE-CAP", "quantity", 1));
    json_t *body = json_pack("{s:s, s:o}", "customerId", "c", "items", items);
    order_request req;
    order_error err;
    assert_int_equal(order_request_parse(body, &cat, true, &req, &err), -1);
    assert_string_equal(err.code, "too_many_items");
    json_array_remove(items, 0);
    assert_int_equal(order_request_parse(body, &cat, true, &req, &err), 0);
    assert_int_equal(req.total_cents, ORDER_MAX_LINES * 1250);
    json_decref(body);
}

static void payload_and_fingerprint(void **state)
{
    (void)state;
    order_request req;
    order_error err;
    assert_int_equal(parse("{\"customerId\":\"c-1\",\"items\":[{\"sku\":\"SKU-BLUE-CAP\","
                           "\"quantity\":3}]}",
                           &req, &err),
                     0);
    json_t *p = order_placed_payload(&req, "6f1c8f64-9b53-4c43-9d7e-1c1bbf6b1a11");
    assert_string_equal(json_string_value(json_object_get(p, "orderId")),
                        "6f1c8f64-9b53-4c43-9d7e-1c1bbf6b1a11");
    assert_int_equal(json_integer_value(json_object_get(p, "totalCents")), 3750);
    json_t *line = json_array_get(json_object_get(p, "items"), 0);
    assert_int_equal(json_integer_value(json_object_get(line, "unitPriceCents")), 1250);
    json_decref(p);
    char *f = order_request_fingerprint(&req);
    assert_string_equal(f, "{\"customerId\":\"c-1\",\"items\":[{\"sku\":\"SKU-BLUE-CAP\","
                           "\"quantity\":3}]}");
    free(f);
}

static void one_order_one_currency(void **state)
{
    (void)state;
    expect_rejected("{\"customerId\":\"c\",\"items\":[{\"sku\":\"SKU-BLUE-CAP\",\"quantity\":1},"
                    "{\"sku\":\"SKU-US-MUG\",\"quantity\":1}]}",
                    422, "mixed_currency");
    order_request req;
    order_error err;
    assert_int_equal(parse("{\"customerId\":\"c\",\"items\":[{\"sku\":\"SKU-US-MUG\","
                           "\"quantity\":2}]}",
                           &req, &err),
                     0);
    assert_string_equal(req.currency, "USD");
    assert_int_equal(req.total_cents, 1600);
}

static void demo_controls_are_carried_in_demo_mode_only(void **state)
{
    (void)state;
    const char *forced = "{\"customerId\":\"c\",\"forcePaymentFailed\":true,"
                         "\"items\":[{\"sku\":\"SKU-BLUE-CAP\",\"quantity\":1}]}";
    order_request req;
    order_error err;
    assert_int_equal(parse_mode(forced, true, &req, &err), 0);
    json_t *p = order_placed_payload(&req, "6f1c8f64-9b53-4c43-9d7e-1c1bbf6b1a11");
    assert_true(json_is_true(json_object_get(p, "forcePaymentFailed")));
    assert_null(json_object_get(p, "forceException"));
    json_decref(p);
    char *f = order_request_fingerprint(&req);
    assert_non_null(strstr(f, "forcePaymentFailed"));
    free(f);
    assert_int_equal(parse_mode(forced, false, &req, &err), -1);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.code, "demo_controls_disabled");
    /* false is no control at all: accepted in production too */
    assert_int_equal(parse_mode("{\"customerId\":\"c\",\"forceException\":false,"
                                "\"items\":[{\"sku\":\"SKU-BLUE-CAP\",\"quantity\":1}]}",
                                false, &req, &err),
                     0);
    expect_rejected("{\"customerId\":\"c\",\"forceException\":1,"
                    "\"items\":[{\"sku\":\"SKU-BLUE-CAP\",\"quantity\":1}]}",
                    400, "validation_error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(prices_come_from_the_catalog),
        cmocka_unit_test(shape_errors_are_400),
        cmocka_unit_test(unknown_fields_are_400_naming_them),
        cmocka_unit_test(customer_id_is_printable_and_bounded),
        cmocka_unit_test(quantities_are_bounded),
        cmocka_unit_test(whole_quantities_may_be_written_as_reals),
        cmocka_unit_test(unknown_sku_is_422),
        cmocka_unit_test(too_many_lines),
        cmocka_unit_test(payload_and_fingerprint),
        cmocka_unit_test(one_order_one_currency),
        cmocka_unit_test(demo_controls_are_carried_in_demo_mode_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
