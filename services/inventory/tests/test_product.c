/* Unit tests of the inventory's product and stock-adjustment requests: strict bodies with
 * clear errors, and the write-off rule (never below what is reserved). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "product.h"

#include <stdlib.h>
#include <string.h>

static json_t *body(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    return j;
}

static void a_product_body_is_parsed_with_eur_by_default(void **state)
{
    (void)state;
    product_input in;
    product_error err;
    json_t *b = body("{\"name\":\"Red T-shirt\",\"priceCents\":1999}");
    assert_int_equal(product_parse(b, &in, &err), 0);
    assert_string_equal(in.name, "Red T-shirt");
    assert_int_equal(in.price_cents, 1999);
    assert_string_equal(in.currency, "EUR");
    json_decref(b);
    /* 1999.0 is the same JSON number (JSON Schema's integer too); a name counts characters */
    b = body("{\"name\":\"\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"
             "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"
             "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"
             "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"
             "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\",\"priceCents\":"
             "1999.0}");
    assert_int_equal(product_parse(b, &in, &err), 0); /* 60 characters, 120 bytes */
    assert_int_equal(in.price_cents, 1999);
    assert_int_equal(strlen(in.name), 120);
    json_decref(b);
}

static void bad_product_bodies_are_400_naming_the_problem(void **state)
{
    (void)state;
    const char *cases[][2] = {
        {"{\"name\":\"X\",\"priceCents\":1,\"colour\":\"red\"}", "colour"},
        {"{\"priceCents\":1}", "name"},
        {"{\"name\":\"\",\"priceCents\":1}", "name"},
        {"{\"name\":\"a\\u0007b\",\"priceCents\":1}", "name"},
        {"{\"name\":\"X\",\"priceCents\":-1}", "priceCents"},
        {"{\"name\":\"X\",\"priceCents\":1.5}", "priceCents"},
        {"{\"name\":\"X\",\"priceCents\":100000001}", "priceCents"},
        {"{\"name\":\"X\",\"priceCents\":1,\"currency\":\"euro\"}", "currency"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        product_input in;
        product_error err;
        json_t *b = body(cases[i][0]);
        assert_int_equal(product_parse(b, &in, &err), -1);
        assert_int_equal(err.status, 400);
        assert_non_null(strstr(err.message, cases[i][1]));
        json_decref(b);
    }
    product_error err;
    assert_int_equal(product_check_sku("sku lower", &err), -1);
    assert_int_equal(err.status, 400);
    assert_int_equal(product_check_sku("SKU-OK", &err), 0);
}

static void adjustment_bodies_are_strict(void **state)
{
    (void)state;
    adjustment_input in;
    product_error err;
    json_t *ok = body("{\"delta\":-3,\"reason\":\"damaged in transit\"}");
    assert_int_equal(adjustment_parse(ok, &in, &err), 0);
    assert_int_equal(in.delta, -3);
    json_decref(ok);
    ok = body("{\"delta\":4.0,\"reason\":\"counted\"}");
    assert_int_equal(adjustment_parse(ok, &in, &err), 0);
    assert_int_equal(in.delta, 4);
    json_decref(ok);
    const char *bad[][2] = {
        {"{\"delta\":0,\"reason\":\"r\"}", "delta"},
        {"{\"delta\":1000001,\"reason\":\"r\"}", "delta"},
        {"{\"delta\":\"5\",\"reason\":\"r\"}", "delta"},
        {"{\"delta\":2.5,\"reason\":\"r\"}", "delta"},
        {"{\"delta\":5}", "reason"},
        {"{\"delta\":5,\"reason\":\"r\",\"sku\":\"X\"}", "sku"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *b = body(bad[i][0]);
        assert_int_equal(adjustment_parse(b, &in, &err), -1);
        assert_int_equal(err.status, 400);
        assert_non_null(strstr(err.message, bad[i][1]));
        json_decref(b);
    }
}

static void a_write_off_never_takes_reserved_units(void **state)
{
    (void)state;
    product_error err;
    stock_level level = {.on_hand = 10, .available = 4, .reserved = 6};
    assert_int_equal(adjustment_decide(&level, -4, "SKU-X", &err), 0);
    assert_int_equal(adjustment_decide(&level, -5, "SKU-X", &err), -1);
    assert_int_equal(err.status, 409);
    assert_non_null(strstr(err.message, "6 reserved"));
    assert_int_equal(adjustment_decide(&level, 5, "SKU-X", &err), 0);
    stock_level full = {.on_hand = PRODUCT_MAX_ON_HAND, .available = PRODUCT_MAX_ON_HAND};
    assert_int_equal(adjustment_decide(&full, 1, "SKU-X", &err), -1);
    assert_int_equal(err.status, 409);
}

static void the_fingerprint_tells_adjustments_apart(void **state)
{
    (void)state;
    adjustment_input a = {.delta = 5, .reason = "restock"}, b = {.delta = 6, .reason = "restock"};
    char *fa = adjustment_fingerprint("SKU-X", &a), *fa2 = adjustment_fingerprint("SKU-X", &a),
         *fb = adjustment_fingerprint("SKU-X", &b);
    assert_string_equal(fa, fa2);
    assert_string_not_equal(fa, fb);
    free(fa);
    free(fa2);
    free(fb);
}

/* The seed catalog read at first start: every error names its cause (a stock out of range
 * once printed an uninitialised message). */
static void seed_entries_are_checked_like_the_api(void **state)
{
    (void)state;
    product_input in;
    product_error err;
    int stock = -1;
    json_t *b = body("{\"sku\":\"SKU-SEED-1\",\"name\":\"Seed\",\"priceCents\":500,\"stock\":40}");
    assert_int_equal(seed_entry_parse(b, &in, &stock, &err), 0);
    assert_string_equal(in.name, "Seed");
    assert_int_equal(stock, 40);
    json_decref(b);
    const char *bad[][2] = {
        {"{\"sku\":\"SKU-SEED-1\",\"name\":\"Seed\",\"priceCents\":500,\"stock\":99999999999}",
         "stock must be an integer from 0 to 1000000"},
        {"{\"sku\":\"SKU-SEED-1\",\"name\":\"Seed\",\"priceCents\":500,\"stock\":-1}",
         "stock must be"},
        {"{\"sku\":\"SKU-SEED-1\",\"name\":\"Seed\",\"priceCents\":500,\"stock\":\"9\"}",
         "stock must be"},
        {"{\"sku\":\"SKU-SEED-1\",\"name\":\"Seed\",\"priceCents\":500}", "stock must be"},
        {"{\"sku\":\"bad sku\",\"name\":\"Seed\",\"priceCents\":500,\"stock\":1}", "SKU"},
        {"{\"sku\":\"SKU-SEED-1\",\"priceCents\":500,\"stock\":1}", "name"},
        {"{\"sku\":\"SKU-SEED-1\",\"name\":\"Seed\",\"priceCents\":500,\"stock\":1,\"x\":1}", "x"},
        {"[1]", "object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        b = body(bad[i][0]);
        memset(err.message, 0x7f, sizeof err.message); /* what was there before: not a message */
        assert_int_equal(seed_entry_parse(b, &in, &stock, &err), -1);
        assert_non_null(memchr(err.message, '\0', sizeof err.message));
        assert_non_null(strstr(err.message, bad[i][1]));
        json_decref(b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_product_body_is_parsed_with_eur_by_default),
        cmocka_unit_test(bad_product_bodies_are_400_naming_the_problem),
        cmocka_unit_test(adjustment_bodies_are_strict),
        cmocka_unit_test(a_write_off_never_takes_reserved_units),
        cmocka_unit_test(the_fingerprint_tells_adjustments_apart),
        cmocka_unit_test(seed_entries_are_checked_like_the_api),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
