/* Unit tests of the consumer's pure checks (ev/kafka.h): whether a partition holds messages
 * after where its consumer stands (ev_partition_behind, the stall check's arithmetic), and
 * whether a commit left offsets uncommitted (ev_commit_incomplete, which makes the next flush
 * try again). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ev/kafka.h"

static void behind_when_the_log_goes_past_the_position(void **state)
{
    (void)state;
    assert_true(ev_partition_behind(90, 0, 100));
    assert_true(ev_partition_behind(99, 50, 100));
}

static void not_behind_at_the_end_of_the_log(void **state)
{
    (void)state;
    assert_false(ev_partition_behind(100, 0, 100));
    /* a watermark older than the position (cached, or a leader just changed) */
    assert_false(ev_partition_behind(120, 0, 100));
}

static void without_a_position_it_reads_from_the_start(void **state)
{
    (void)state;
    /* librdkafka's unset offset (-1001) and "end" (-1): auto.offset.reset=earliest */
    assert_true(ev_partition_behind(-1001, 0, 1));
    assert_true(ev_partition_behind(-1, 40, 41));
    assert_false(ev_partition_behind(-1001, 0, 0));     /* an empty partition */
    assert_false(ev_partition_behind(-1001, 500, 500)); /* every message deleted by retention */
}

static void a_commit_that_failed_is_incomplete(void **state)
{
    (void)state;
    assert_true(ev_commit_incomplete(RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, NULL));
    assert_true(ev_commit_incomplete(RD_KAFKA_RESP_ERR__TRANSPORT, NULL));
}

static void nothing_stored_is_not_a_failure(void **state)
{
    (void)state;
    assert_false(ev_commit_incomplete(RD_KAFKA_RESP_ERR__NO_OFFSET, NULL));
    assert_false(ev_commit_incomplete(RD_KAFKA_RESP_ERR_NO_ERROR, NULL));
}

static void one_partition_refused_makes_it_incomplete(void **state)
{
    (void)state;
    rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(offsets, "orders.events", 0)->offset = 10;
    rd_kafka_topic_partition_list_add(offsets, "orders.events", 1)->offset = 20;
    assert_false(ev_commit_incomplete(RD_KAFKA_RESP_ERR_NO_ERROR, offsets));
    offsets->elems[1].err = RD_KAFKA_RESP_ERR_NOT_COORDINATOR;
    assert_true(ev_commit_incomplete(RD_KAFKA_RESP_ERR_NO_ERROR, offsets));
    rd_kafka_topic_partition_list_destroy(offsets);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(behind_when_the_log_goes_past_the_position),
        cmocka_unit_test(not_behind_at_the_end_of_the_log),
        cmocka_unit_test(without_a_position_it_reads_from_the_start),
        cmocka_unit_test(a_commit_that_failed_is_incomplete),
        cmocka_unit_test(nothing_stored_is_not_a_failure),
        cmocka_unit_test(one_partition_refused_makes_it_incomplete),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
