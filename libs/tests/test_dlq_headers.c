/* Unit tests of what the consumer loop decides without Kafka: how a dead letter is built and
 * bounded (cut value with size and SHA-256, cut key, dropped headers), how its headers decode,
 * whom a replay is for, which produce errors are final, and the warn-once set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ev/dlq_headers.h"
#include "ev/kafka.h"
#include "ev/once.h"

#include <stdlib.h>
#include <string.h>

static ev_letter_source source(const void *value, size_t len)
{
    return (ev_letter_source){.origin_topic = "orders.events",
                              .origin_partition = 2,
                              .origin_offset = 41,
                              .key = "k-1",
                              .key_len = 3,
                              .value = value,
                              .value_len = len,
                              .error = "invalid JSON",
                              .attempts = 1,
                              .consumer = "inventory",
                              .failed_at = "2026-11-25T12:00:00Z"};
}

static const char *header(const ev_letter *l, const char *name)
{
    for (size_t i = 0; i < l->msg.header_count; i++)
        if (strcmp(l->msg.headers[i].name, name) == 0)
            return l->msg.headers[i].value;
    return NULL;
}

static void sha256_is_the_standard_one(void **state)
{
    (void)state;
    char hex[EV_SHA256_HEX_LEN];
    assert_int_equal(ev_sha256_hex("abc", 3, hex), 0);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(ev_sha256_hex(NULL, 0, hex), 0);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void a_small_letter_is_whole_with_its_size_and_hash(void **state)
{
    (void)state;
    ev_letter_source src = source("abc", 3);
    ev_letter l;
    assert_int_equal(ev_letter_build(&src, "inventory.dlq", false, EV_KAFKA_MESSAGE_MAX, &l), 0);
    assert_false(l.cut);
    assert_int_equal(l.msg.value_len, 3);
    assert_string_equal(l.msg.topic, "inventory.dlq");
    assert_string_equal(header(&l, "x-origin-topic"), "orders.events");
    assert_string_equal(header(&l, "x-origin-partition"), "2");
    assert_string_equal(header(&l, "x-origin-offset"), "41");
    assert_string_equal(header(&l, "x-consumer"), "inventory");
    assert_string_equal(header(&l, "x-original-size"), "3");
    assert_string_equal(header(&l, "x-original-sha256"),
                        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_null(header(&l, "x-original-key-size"));
    assert_null(header(&l, "x-headers-dropped"));
    assert_int_equal(l.msg.key_len, 3);
}

/* The reported case: 999,850 bytes fit the broker but not a letter with its headers. */
static void a_value_too_large_for_the_dlq_is_cut_to_a_prefix(void **state)
{
    (void)state;
    size_t n = 999850;
    char *value = malloc(n);
    memset(value, 'x', n);
    ev_letter_source src = source(value, n);
    ev_letter l;
    assert_int_equal(ev_letter_build(&src, "inventory.dlq", false, EV_KAFKA_MESSAGE_MAX, &l), 0);
    assert_true(l.cut);
    assert_int_equal(l.msg.value_len, EV_DLQ_VALUE_PREFIX);
    assert_ptr_equal(l.msg.value, value);
    assert_string_equal(header(&l, "x-original-size"), "999850");
    assert_true(ev_message_wire_size(&l.msg) < EV_KAFKA_MESSAGE_MAX);
    /* asked to cut (the broker refused the whole letter): cut even below our own limit */
    src.value_len = 100000;
    assert_int_equal(ev_letter_build(&src, "inventory.dlq", true, EV_KAFKA_MESSAGE_MAX, &l), 0);
    assert_true(l.cut);
    assert_int_equal(l.msg.value_len, EV_DLQ_VALUE_PREFIX);
    /* nothing to cut in a value already shorter than the prefix */
    src.value_len = 10;
    assert_int_equal(ev_letter_build(&src, "inventory.dlq", true, EV_KAFKA_MESSAGE_MAX, &l), 0);
    assert_false(l.cut);
    assert_int_equal(l.msg.value_len, 10);
    free(value);
}

static void large_keys_and_trace_headers_are_bounded(void **state)
{
    (void)state;
    size_t big = 300000;
    char *filler = malloc(big);
    memset(filler, 't', big);
    ev_raw_header headers[] = {{"traceparent", filler, big},
                               {"causationId", "c-1", 3},
                               {"eventType", "Bad\0Type", 8},
                               {"x-other", filler, big}};
    ev_letter_source src = source("v", 1);
    src.headers = headers;
    src.header_count = 4;
    src.key = filler;
    src.key_len = big;
    ev_letter l;
    assert_int_equal(ev_letter_build(&src, "inventory.dlq", false, EV_KAFKA_MESSAGE_MAX, &l), 0);
    assert_string_equal(header(&l, "causationId"), "c-1");
    assert_null(header(&l, "traceparent"));
    assert_null(header(&l, "eventType"));
    assert_null(header(&l, "x-other"));
    assert_string_equal(header(&l, "x-headers-dropped"), "traceparent,eventType");
    assert_int_equal(l.msg.key_len, EV_DLQ_KEY_MAX);
    assert_string_equal(header(&l, "x-original-key-size"), "300000");
    assert_false(l.cut);
    free(filler);
}

/* Turns a built letter's headers into raw ones, as a consumer of the DLQ sees them. */
static size_t raw_of(const ev_letter *l, ev_raw_header *out)
{
    for (size_t i = 0; i < l->msg.header_count; i++)
        out[i] = (ev_raw_header){l->msg.headers[i].name, l->msg.headers[i].value,
                                 strlen(l->msg.headers[i].value)};
    return l->msg.header_count;
}

static void a_built_letter_decodes_back(void **state)
{
    (void)state;
    ev_letter_source src = source("abc", 3);
    ev_letter l;
    assert_int_equal(ev_letter_build(&src, "inventory.dlq", false, EV_KAFKA_MESSAGE_MAX, &l), 0);
    ev_raw_header raw[EV_LETTER_MAX_HEADERS];
    size_t n = raw_of(&l, raw);
    ev_letter_info info;
    char err[256];
    assert_int_equal(ev_letter_decode(raw, n, &info, err, sizeof err), 0);
    assert_string_equal(info.origin_topic, "orders.events");
    assert_int_equal(info.origin_partition, 2);
    assert_int_equal(info.origin_offset, 41);
    assert_int_equal(info.attempts, 1);
    assert_int_equal(info.original_size, 3);
    assert_int_equal(info.original_key_size, -1);
    assert_string_equal(info.consumer, "inventory");
    assert_string_equal(info.error, "invalid JSON");
    assert_string_equal(info.sha256, l.sha256);
}

/* A letter is whole only when its headers vouch for its key and value: a cut one is never
 * replayed as if it were the message that failed. */
static void only_a_letter_its_headers_vouch_for_is_whole(void **state)
{
    (void)state;
    ev_letter l;
    ev_raw_header raw[EV_LETTER_MAX_HEADERS];
    char why[256];
    ev_letter_source src = source("abc", 3);
    assert_int_equal(ev_letter_build(&src, "inventory.dlq", false, EV_KAFKA_MESSAGE_MAX, &l), 0);
    size_t n = raw_of(&l, raw);
    assert_true(
        ev_letter_whole(raw, n, l.msg.key_len, l.msg.value, l.msg.value_len, why, sizeof why));
    /* the same headers over another value of the same size: not the original */
    assert_false(ev_letter_whole(raw, n, l.msg.key_len, "abd", 3, why, sizeof why));
    assert_non_null(strstr(why, "x-original-sha256"));

    size_t big = 100000;
    char *value = calloc(1, big);
    src = source(value, big);
    assert_int_equal(ev_letter_build(&src, "inventory.dlq", true, EV_KAFKA_MESSAGE_MAX, &l), 0);
    n = raw_of(&l, raw);
    assert_false(
        ev_letter_whole(raw, n, l.msg.key_len, l.msg.value, l.msg.value_len, why, sizeof why));
    assert_string_equal(why, "was cut: its value is 65536 of the original's 100000 bytes");

    src = source("v", 1);
    src.key = value;
    src.key_len = 5000;
    assert_int_equal(ev_letter_build(&src, "inventory.dlq", false, EV_KAFKA_MESSAGE_MAX, &l), 0);
    n = raw_of(&l, raw);
    assert_false(
        ev_letter_whole(raw, n, l.msg.key_len, l.msg.value, l.msg.value_len, why, sizeof why));
    assert_string_equal(why, "was cut: its key is 1024 of the original's 5000 bytes");
    free(value);

    /* headers that cannot vouch for anything refuse rather than guess */
    ev_raw_header bad_size[] = {{"x-original-size", "3x", 2}};
    assert_false(ev_letter_whole(bad_size, 1, 0, "abc", 3, why, sizeof why));
    assert_non_null(strstr(why, "cannot be checked"));
    ev_raw_header null_hash[] = {{"x-original-sha256", NULL, 0}};
    assert_false(ev_letter_whole(null_hash, 1, 0, "abc", 3, why, sizeof why));
    ev_raw_header bad_key_size[] = {{"x-original-key-size", "", 0}};
    assert_false(ev_letter_whole(bad_key_size, 1, 0, "abc", 3, why, sizeof why));
    /* a letter written by hand says nothing of an original: taken as whole */
    assert_true(ev_letter_whole(NULL, 0, 0, "abc", 3, why, sizeof why));
}

static void malformed_letter_headers_are_reported_not_guessed(void **state)
{
    (void)state;
    ev_letter_info info;
    char err[256];
    ev_raw_header bad_number[] = {{"x-origin-offset", "12abc", 5}, {"x-attempts", "3", 1}};
    assert_int_equal(ev_letter_decode(bad_number, 2, &info, err, sizeof err), -1);
    assert_non_null(strstr(err, "x-origin-offset"));
    assert_int_equal(info.origin_offset, -1);
    assert_int_equal(info.attempts, 3);
    ev_raw_header overflow[] = {{"x-origin-partition", "2147483648", 10}};
    assert_int_equal(ev_letter_decode(overflow, 1, &info, err, sizeof err), -1);
    ev_raw_header huge[] = {{"x-original-size", "99999999999999999999", 20}};
    assert_int_equal(ev_letter_decode(huge, 1, &info, err, sizeof err), -1);
    ev_raw_header null_text[] = {{"x-error", NULL, 0}};
    assert_int_equal(ev_letter_decode(null_text, 1, &info, err, sizeof err), -1);
    ev_raw_header bad_hash[] = {{"x-original-sha256", "ABC", 3}};
    assert_int_equal(ev_letter_decode(bad_hash, 1, &info, err, sizeof err), -1);
    assert_string_equal(info.sha256, "");
    int64_t v;
    assert_true(ev_parse_int("-9223372036854775808", 20, INT64_MIN, INT64_MAX, &v));
    assert_true(v == INT64_MIN);
    assert_false(ev_parse_int("-", 1, INT64_MIN, INT64_MAX, &v));
    assert_false(ev_parse_int("", 0, 0, 10, &v));
    assert_false(ev_parse_int("11", 2, 0, 10, &v));
}

static void a_replay_is_handled_only_by_the_group_it_names(void **state)
{
    (void)state;
    assert_int_equal(ev_replay_decide(false, NULL, 0, "inventory"), EV_REPLAY_HANDLE);
    assert_int_equal(ev_replay_decide(true, "inventory", 9, "inventory"), EV_REPLAY_HANDLE);
    assert_int_equal(ev_replay_decide(true, "inventory", 9, "payment"), EV_REPLAY_SKIP);
    assert_int_equal(ev_replay_decide(true, "inventoryX", 10, "inventory"), EV_REPLAY_SKIP);
    assert_int_equal(ev_replay_decide(true, "invent", 6, "inventory"), EV_REPLAY_SKIP);
    assert_int_equal(ev_replay_decide(true, "", 0, "inventory"), EV_REPLAY_SKIP);
    assert_int_equal(ev_replay_decide(true, NULL, 0, "inventory"), EV_REPLAY_SKIP);
}

static void permanent_produce_errors_are_told_from_transient_ones(void **state)
{
    (void)state;
    const rd_kafka_resp_err_t permanent[] = {
        RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE,
        RD_KAFKA_RESP_ERR_INVALID_MSG, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        RD_KAFKA_RESP_ERR_INVALID_RECORD};
    const rd_kafka_resp_err_t transient[] = {
        RD_KAFKA_RESP_ERR__MSG_TIMED_OUT,           RD_KAFKA_RESP_ERR__TRANSPORT,
        RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN,
        RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,    RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT};
    for (size_t i = 0; i < sizeof permanent / sizeof permanent[0]; i++)
        assert_true(ev_kafka_error_permanent(permanent[i]));
    for (size_t i = 0; i < sizeof transient / sizeof transient[0]; i++)
        assert_false(ev_kafka_error_permanent(transient[i]));
    assert_true(ev_kafka_error_too_large(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE));
    assert_false(ev_kafka_error_too_large(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED));
}

static void warnings_are_once_per_producer_and_type_in_bounded_memory(void **state)
{
    (void)state;
    ev_once_set *s = malloc(sizeof *s);
    ev_once_init(s);
    assert_int_equal(ev_once_check(s, "inventory-ref", "InventoryReserved"), EV_ONCE_FIRST);
    assert_int_equal(ev_once_check(s, "inventory-ref", "InventoryReserved"), EV_ONCE_SEEN);
    assert_int_equal(ev_once_check(s, "inventory-ref", "OutOfStock"), EV_ONCE_FIRST);
    assert_int_equal(ev_once_check(s, "other", "InventoryReserved"), EV_ONCE_FIRST);
    char name[32];
    for (int i = 0; s->count < EV_ONCE_CAPACITY; i++) {
        snprintf(name, sizeof name, "p-%d", i);
        assert_int_equal(ev_once_check(s, name, "T"), EV_ONCE_FIRST);
    }
    assert_int_equal(ev_once_check(s, "one-too-many", "T"), EV_ONCE_FULL);
    assert_int_equal(ev_once_check(s, "inventory-ref", "OutOfStock"), EV_ONCE_SEEN);
    assert_int_equal(s->count, EV_ONCE_CAPACITY);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sha256_is_the_standard_one),
        cmocka_unit_test(a_small_letter_is_whole_with_its_size_and_hash),
        cmocka_unit_test(a_value_too_large_for_the_dlq_is_cut_to_a_prefix),
        cmocka_unit_test(large_keys_and_trace_headers_are_bounded),
        cmocka_unit_test(a_built_letter_decodes_back),
        cmocka_unit_test(only_a_letter_its_headers_vouch_for_is_whole),
        cmocka_unit_test(malformed_letter_headers_are_reported_not_guessed),
        cmocka_unit_test(a_replay_is_handled_only_by_the_group_it_names),
        cmocka_unit_test(permanent_produce_errors_are_told_from_transient_ones),
        cmocka_unit_test(warnings_are_once_per_producer_and_type_in_bounded_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
