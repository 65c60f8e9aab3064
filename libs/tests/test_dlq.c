/* Unit tests of the DLQ page cursor (ev_dlq_cursor_parse): the one piece of DLQ reading that
 * is pure; reading and replay run against Kafka in tests/security. */
#include "ev/dlq.h"
#include "ev/topology.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static void a_cursor_names_a_dlq_partition_and_offset(void **state)
{
    (void)state;
    int topic = -1;
    int32_t partition = -1;
    int64_t offset = -1;
    assert_true(ev_dlq_cursor_parse("inventory.dlq:2:15", &topic, &partition, &offset));
    assert_string_equal(ev_topology_dlq_at((size_t)topic), "inventory.dlq");
    assert_int_equal(partition, 2);
    assert_int_equal(offset, 15);
    assert_true(ev_dlq_cursor_parse("read-model.dlq:0:0", &topic, &partition, &offset));
    assert_string_equal(ev_topology_dlq_at((size_t)topic), "read-model.dlq");
    assert_int_equal(offset, 0);
}

static void malformed_cursors_are_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "nope",
        "inventory.dlq",
        "inventory.dlq:1",
        ":1:2",
        "orders.events:0:1", /* not a DLQ */
        "inventory.dl:0:1",
        "inventory.dlq:-1:1",
        "inventory.dlq:+1:1",
        "inventory.dlq: 1:1",
        "inventory.dlq:1:-5",
        "inventory.dlq:1:",
        "inventory.dlq::1",
        "inventory.dlq:3:1", /* beyond the topic's partitions in the topology table */
        "inventory.dlq:64:1",
        "inventory.dlq:1:2x",
        "inventory.dlq:1:99999999999999999999", /* overflows int64 */
        "x:inventory.dlq:1:2",
    };
    int topic;
    int32_t partition;
    int64_t offset;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (ev_dlq_cursor_parse(bad[i], &topic, &partition, &offset))
            fail_msg("accepted cursor '%s'", bad[i]);
}

static void known_topics(void **state)
{
    (void)state;
    assert_true(ev_dlq_known("payments.dlq"));
    assert_false(ev_dlq_known("payment.dlq"));
    assert_false(ev_dlq_known("orders.events"));
    assert_false(ev_dlq_known(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_cursor_names_a_dlq_partition_and_offset),
        cmocka_unit_test(malformed_cursors_are_refused),
        cmocka_unit_test(known_topics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
