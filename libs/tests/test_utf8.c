/* ev_utf8_scrub: text that is to become a JSON string made valid UTF-8 in place, every byte
 * that starts no valid character replaced by '?', valid text left as it is. */
#include "ev/util.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

static void valid_text_is_left_alone(void **state)
{
    (void)state;
    char text[] = "plain, \xc3\xa9t\xc3\xa9, \xe2\x82\xac 5, \xf0\x9f\x93\xa6";
    char before[sizeof text];
    memcpy(before, text, sizeof text);
    assert_int_equal(ev_utf8_scrub(text), 0);
    assert_string_equal(text, before);
}

static void a_character_cut_at_the_end_becomes_question_marks(void **state)
{
    (void)state;
    /* "€€" cut after 4 of its 6 bytes, as snprintf into a 5-byte buffer would leave it */
    const char *euros = "\xe2\x82\xac\xe2\x82\xac";
    char text[5];
    memcpy(text, euros, 4);
    text[4] = '\0';
    assert_int_equal(ev_utf8_scrub(text), 1);
    assert_string_equal(text, "\xe2\x82\xac?");
}

static void stray_overlong_and_surrogate_bytes_become_question_marks(void **state)
{
    (void)state;
    char text[] = "a\xff"
                  "b\xc0\xaf"
                  "c\xed\xa0\x80"
                  "d\xf4\x90\x80\x80"
                  "e\x80";
    assert_int_equal(ev_utf8_scrub(text), 1 + 2 + 3 + 4 + 1);
    assert_string_equal(text, "a?b??c???d????e?");
}

static void the_result_is_a_json_string(void **state)
{
    (void)state;
    char text[] = "x\xe2\x82"
                  "y\xc3\xa9";
    assert_null(json_string(text));
    ev_utf8_scrub(text);
    json_t *s = json_string(text);
    assert_non_null(s);
    assert_string_equal(json_string_value(s), "x??y\xc3\xa9");
    json_decref(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_text_is_left_alone),
        cmocka_unit_test(a_character_cut_at_the_end_becomes_question_marks),
        cmocka_unit_test(stray_overlong_and_surrogate_bytes_become_question_marks),
        cmocka_unit_test(the_result_is_a_json_string),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
