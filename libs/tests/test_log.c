/* Unit tests of the JSON log lines (log.c): a message longer than a line's bound is cut on a
 * character and marked, so the line is still written and still valid JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ev/log.h"
#include "ev/utf8.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* The one line ev_log wrote to f, parsed; the caller decrefs it. */
static json_t *only_line(FILE *f)
{
    char line[8192];
    rewind(f);
    assert_non_null(fgets(line, sizeof line, f));
    json_error_t error;
    json_t *j = json_loads(line, 0, &error);
    assert_non_null(j);
    return j;
}

static void a_short_message_is_written_whole(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    ev_log_setup("test", EV_LOG_INFO, f);
    ev_log(EV_LOG_INFO, NULL, NULL, "order %s cancelled: %s", "o-1", "\xe2\x82\xac");
    json_t *j = only_line(f);
    assert_string_equal(json_string_value(json_object_get(j, "message")),
                        "order o-1 cancelled: \xe2\x82\xac");
    json_decref(j);
    ev_log_setup("test", EV_LOG_INFO, NULL);
    fclose(f);
}

/* 1000 x "\u20ac" (3000 bytes) after a 2-byte prefix: the bound (2047 bytes) falls inside a
 * character, which once cost the whole line (jansson refuses invalid UTF-8). */
static void a_long_multibyte_message_is_cut_on_a_character(void **state)
{
    (void)state;
    char euros[1000 * 3 + 1];
    for (size_t i = 0; i < 1000; i++)
        memcpy(euros + 3 * i, "\xe2\x82\xac", 3);
    euros[3000] = '\0';
    FILE *f = tmpfile();
    assert_non_null(f);
    ev_log_setup("test", EV_LOG_INFO, f);
    ev_log(EV_LOG_INFO, NULL, NULL, "xy%s", euros);
    json_t *j = only_line(f);
    const char *message = json_string_value(json_object_get(j, "message"));
    size_t len = strlen(message), mark = strlen(EV_UTF8_ELLIPSIS);
    assert_true(len <= 2047);
    assert_memory_equal(message, "xy", 2);
    assert_memory_equal(message + 2, euros, len - 2 - mark);
    assert_int_equal((len - 2 - mark) % 3, 0);
    assert_string_equal(message + len - mark, EV_UTF8_ELLIPSIS);
    json_decref(j);
    ev_log_setup("test", EV_LOG_INFO, NULL);
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_short_message_is_written_whole),
        cmocka_unit_test(a_long_multibyte_message_is_cut_on_a_character),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
