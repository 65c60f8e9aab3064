/* Unit tests of the Kafka UI's pure rules (kafka_admin.c): the search over a message's
 * bytes, where a browse starts, and which topic names can exist. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kafka_admin.h"

#include <string.h>

static void search_finds_text_anywhere_in_the_bytes(void **state)
{
    (void)state;
    const char value[] = "{\"orderId\":\"abc\",\"sku\":\"SKU-RED\"}";
    assert_true(kafka_bytes_contain(value, strlen(value), "SKU-RED"));
    assert_true(kafka_bytes_contain(value, strlen(value), "{"));
    assert_true(kafka_bytes_contain(value, strlen(value), "\"}"));
    assert_false(kafka_bytes_contain(value, strlen(value), "sku-red")); /* case-sensitive */
    /* bytes, not a C string: a NUL before the text does not hide it, and the end is n */
    const char bytes[] = {'a', '\0', 'n', 'e', 'e', 'd', 'l', 'e'};
    assert_true(kafka_bytes_contain(bytes, sizeof bytes, "needle"));
    assert_false(kafka_bytes_contain(bytes, sizeof bytes - 1, "needle"));
}

static void search_of_nothing_matches_nothing(void **state)
{
    (void)state;
    assert_false(kafka_bytes_contain(NULL, 0, "x"));
    assert_false(kafka_bytes_contain("abc", 3, ""));
    assert_false(kafka_bytes_contain("ab", 2, "abc"));
    assert_true(kafka_bytes_contain("abc", 3, "abc"));
    assert_true(kafka_bytes_contain("aab", 3, "ab")); /* a partial match before the real one */
}

static void browse_starts_at_the_offset_clamped_or_the_latest(void **state)
{
    (void)state;
    assert_int_equal(kafka_browse_start(10, 100, 50, 20), 50);
    assert_int_equal(kafka_browse_start(10, 100, 3, 20), 10);    /* deleted already */
    assert_int_equal(kafka_browse_start(10, 100, 500, 20), 100); /* past the end: nothing */
    assert_int_equal(kafka_browse_start(10, 100, -1, 20), 80);   /* the latest 20 */
    assert_int_equal(kafka_browse_start(10, 25, -1, 20), 10);    /* fewer than 20 there */
    assert_int_equal(kafka_browse_start(0, 0, -1, 20), 0);       /* empty partition */
}

static void topic_names_are_those_kafka_allows(void **state)
{
    (void)state;
    assert_true(kafka_topic_name_valid("orders.events"));
    assert_true(kafka_topic_name_valid("__consumer_offsets"));
    assert_true(kafka_topic_name_valid("read-model.dlq"));
    assert_false(kafka_topic_name_valid(NULL));
    assert_false(kafka_topic_name_valid(""));
    assert_false(kafka_topic_name_valid("."));
    assert_false(kafka_topic_name_valid(".."));
    assert_false(kafka_topic_name_valid("bad name"));
    assert_false(kafka_topic_name_valid("a/b"));
    char longest[251];
    memset(longest, 'a', 250);
    longest[250] = '\0';
    assert_false(kafka_topic_name_valid(longest));
    longest[249] = '\0';
    assert_true(kafka_topic_name_valid(longest));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(search_finds_text_anywhere_in_the_bytes),
        cmocka_unit_test(search_of_nothing_matches_nothing),
        cmocka_unit_test(browse_starts_at_the_offset_clamped_or_the_latest),
        cmocka_unit_test(topic_names_are_those_kafka_allows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
