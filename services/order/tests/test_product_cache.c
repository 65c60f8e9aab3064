/* Unit tests of the order service's price cache: sorted inserts, replacement, pricing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "product_cache.h"

#include <stdio.h>
#include <string.h>

static void entries_stay_sorted_and_are_replaced(void **state)
{
    (void)state;
    product_cache c;
    assert_int_equal(product_cache_init(&c), 0);
    const char *skus[] = {"SKU-M", "SKU-A", "SKU-Z", "SKU-C"};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(product_cache_put(&c, skus[i], 100 + (int64_t)i, "EUR"), 0);
    for (int i = 0; i < 200; i++) { /* grows past the first allocation */
        char sku[16];
        snprintf(sku, sizeof sku, "SKU-N%03d", i);
        assert_int_equal(product_cache_put(&c, sku, i, "EUR"), 0);
    }
    assert_int_equal(c.count, 204);
    for (size_t i = 1; i < c.count; i++)
        assert_true(strcmp(c.entries[i - 1].sku, c.entries[i].sku) < 0);
    assert_int_equal(product_cache_put(&c, "SKU-A", 555, "EUR"), 0);
    assert_int_equal(c.count, 204);
    json_t *body = json_loads(
        "{\"customerId\":\"c\",\"items\":[{\"sku\":\"SKU-A\",\"quantity\":2}]}", 0, NULL);
    order_request req;
    order_error err;
    assert_int_equal(product_cache_price(&c, body, true, &req, &err), 0);
    assert_int_equal(req.total_cents, 1110);
    json_decref(body);
    char too_long[80];
    memset(too_long, 'A', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    assert_int_equal(product_cache_put(&c, too_long, 1, "EUR"), -1);
    product_cache_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(entries_stay_sorted_and_are_replaced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
