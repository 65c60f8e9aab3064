/* Unit tests of the Prometheus text rendering (types, labels, histogram buckets) and of the
 * consumer lag arithmetic behind kafka_consumer_lag. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ev/kafka_metrics.h"
#include "ev/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void counters_and_gauges_carry_the_service_label(void **state)
{
    (void)state;
    ev_metrics *m = ev_metrics_new("order");
    ev_metrics_add(m, "http_requests_total", "method=\"GET\",route=\"/x\",status=\"200\"", 2);
    ev_metrics_add(m, "http_requests_total", "method=\"GET\",route=\"/x\",status=\"200\"", 1);
    ev_metrics_set(m, "kafka_consumer_lag", "group=\"order\",topic=\"t\",partition=\"0\"", 5);
    ev_metrics_set(m, "kafka_consumer_lag", "group=\"order\",topic=\"t\",partition=\"0\"", 3);
    ev_metrics_set(m, "outbox_backlog", NULL, 0);
    char *text = ev_metrics_render(m);
    assert_non_null(text);
    assert_non_null(strstr(text, "# TYPE http_requests_total counter\n"
                                 "http_requests_total{service=\"order\",method=\"GET\","
                                 "route=\"/x\",status=\"200\"} 3\n"));
    assert_non_null(strstr(text, "# HELP kafka_consumer_lag Messages a consumer group is behind"));
    assert_non_null(strstr(text, "# TYPE kafka_consumer_lag gauge\n"
                                 "kafka_consumer_lag{service=\"order\",group=\"order\","
                                 "topic=\"t\",partition=\"0\"} 3\n"));
    assert_non_null(strstr(text, "outbox_backlog{service=\"order\"} 0\n"));
    free(text);
    ev_metrics_free(m);
}

static void histograms_are_cumulative_with_sum_and_count(void **state)
{
    (void)state;
    ev_metrics *m = ev_metrics_new("orchestrator");
    ev_metrics_observe(m, "saga_duration_seconds", "outcome=\"confirmed\"", 0.2);
    ev_metrics_observe(m, "saga_duration_seconds", "outcome=\"confirmed\"", 45);
    ev_metrics_observe(m, "saga_duration_seconds", "outcome=\"confirmed\"", 120);
    char *text = ev_metrics_render(m);
    assert_non_null(text);
    const char *p = "saga_duration_seconds_bucket{service=\"orchestrator\",outcome=\"confirmed\",";
    char line[160];
    static const struct {
        const char *le;
        int count;
    } expected[] = {{"0.1", 0}, {"0.25", 1}, {"30", 1}, {"60", 2}, {"+Inf", 3}};
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        snprintf(line, sizeof line, "%sle=\"%s\"} %d\n", p, expected[i].le, expected[i].count);
        assert_non_null(strstr(text, line));
    }
    assert_non_null(strstr(
        text, "saga_duration_seconds_sum{service=\"orchestrator\",outcome=\"confirmed\"} 165.2"));
    assert_non_null(strstr(
        text, "saga_duration_seconds_count{service=\"orchestrator\",outcome=\"confirmed\"} 3\n"));
    free(text);
    ev_metrics_free(m);
}

static void series_past_the_limit_are_counted_not_lost_silently(void **state)
{
    (void)state;
    ev_metrics *m = ev_metrics_new("read-model");
    char labels[32];
    for (int i = 0; i < 600; i++) {
        snprintf(labels, sizeof labels, "n=\"%d\"", i);
        ev_metrics_add(m, "many_total", labels, 1);
    }
    char *text = ev_metrics_render(m);
    assert_non_null(text);
    assert_non_null(strstr(text, "many_total{service=\"read-model\",n=\"511\"} 1\n"));
    assert_null(strstr(text, "n=\"512\""));
    assert_non_null(strstr(text, "metrics_series_dropped_total{service=\"read-model\"} 88\n"));
    free(text);
    ev_metrics_free(m);
}

static void lag_is_the_distance_to_the_high_watermark(void **state)
{
    (void)state;
    assert_int_equal(ev_consumer_lag_of(100, 90), 10);
    assert_int_equal(ev_consumer_lag_of(100, 100), 0);
    assert_int_equal(ev_consumer_lag_of(100, 120), 0); /* a stale watermark never gives < 0 */
    assert_int_equal(ev_consumer_lag_of(0, RD_KAFKA_OFFSET_INVALID), 0);
    assert_int_equal(ev_consumer_lag_of(100, RD_KAFKA_OFFSET_INVALID), -1);
    assert_int_equal(ev_consumer_lag_of(RD_KAFKA_OFFSET_INVALID, 5), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counters_and_gauges_carry_the_service_label),
        cmocka_unit_test(histograms_are_cumulative_with_sum_and_count),
        cmocka_unit_test(series_past_the_limit_are_counted_not_lost_silently),
        cmocka_unit_test(lag_is_the_distance_to_the_high_watermark),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
