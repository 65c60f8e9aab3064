/* Unit tests of the saga decision metrics: only committed decisions are counted, by outcome,
 * and deadline cancellations on their own counter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "decisions.h"

#include <stdlib.h>
#include <string.h>

static char *rendered(ev_metrics *m)
{
    char *text = ev_metrics_render(m);
    assert_non_null(text);
    return text;
}

static void committed_decisions_are_observed_by_outcome(void **state)
{
    (void)state;
    ev_metrics *m = ev_metrics_new("orchestrator");
    decisions d = {0};
    assert_true(decisions_note(&d, SAGA_EMIT_CONFIRMED, false, 0.3));
    assert_true(decisions_note(&d, SAGA_EMIT_CANCELLED, true, 7.0));
    decisions_settle(&d, m, true);
    assert_int_equal(d.count, 0);
    char *text = rendered(m);
    assert_non_null(strstr(text, "# TYPE saga_duration_seconds histogram\n"));
    assert_non_null(strstr(
        text, "saga_duration_seconds_count{service=\"orchestrator\",outcome=\"confirmed\"} 1\n"));
    assert_non_null(strstr(text, "saga_duration_seconds_bucket{service=\"orchestrator\",outcome="
                                 "\"confirmed\",le=\"0.5\"} 1\n"));
    assert_non_null(strstr(text, "saga_duration_seconds_bucket{service=\"orchestrator\",outcome="
                                 "\"cancelled\",le=\"5\"} 0\n"));
    assert_non_null(strstr(text, "saga_duration_seconds_bucket{service=\"orchestrator\",outcome="
                                 "\"cancelled\",le=\"10\"} 1\n"));
    assert_non_null(
        strstr(text, "saga_deadline_cancellations_total{service=\"orchestrator\"} 1\n"));
    free(text);
    ev_metrics_free(m);
}

static void rolled_back_decisions_are_dropped(void **state)
{
    (void)state;
    ev_metrics *m = ev_metrics_new("orchestrator");
    decisions d = {0};
    assert_true(decisions_note(&d, SAGA_EMIT_CONFIRMED, false, 0.3));
    decisions_settle(&d, m, false);
    assert_int_equal(d.count, 0);
    char *text = rendered(m);
    assert_null(strstr(text, "saga_duration_seconds"));
    free(text);
    ev_metrics_free(m);
}

static void a_full_buffer_and_no_decision_are_refused(void **state)
{
    (void)state;
    decisions d = {0};
    assert_false(decisions_note(&d, SAGA_EMIT_NOTHING, false, 1));
    for (int i = 0; i < DECISIONS_MAX; i++)
        assert_true(decisions_note(&d, SAGA_EMIT_CONFIRMED, false, 1));
    assert_false(decisions_note(&d, SAGA_EMIT_CONFIRMED, false, 1));
    assert_int_equal(d.count, DECISIONS_MAX);
    assert_string_equal(decision_outcome_label(SAGA_EMIT_CANCELLED), "cancelled");
    assert_null(decision_outcome_label(SAGA_EMIT_NOTHING));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(committed_decisions_are_observed_by_outcome),
        cmocka_unit_test(rolled_back_decisions_are_dropped),
        cmocka_unit_test(a_full_buffer_and_no_decision_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
