/* Unit tests of utf8.c: cuts by characters and by bytes, never inside a character, marked
 * with an ellipsis when cut, whole when the text fits; and ev_utf8_scrub's repair of bytes
 * that start no character. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ev/utf8.h"

#include <jansson.h>
#include <stdio.h>

#include <string.h>

#define EURO "\xe2\x82\xac"     /* U+20AC: 3 bytes */
#define GRIN "\xf0\x9f\x98\x80" /* U+1F600: 4 bytes */

static void a_prefix_ends_where_a_character_ends(void **state)
{
    (void)state;
    assert_int_equal(ev_utf8_prefix("abc", 2, 10), 2);
    assert_int_equal(ev_utf8_prefix("abc", 10, 2), 2);
    assert_int_equal(ev_utf8_prefix("abc", 10, 10), 3);
    assert_int_equal(ev_utf8_prefix("", 10, 10), 0);
    assert_int_equal(ev_utf8_prefix("abc", 0, 10), 0);
    /* by bytes: a character that does not fit whole is left out whole */
    assert_int_equal(ev_utf8_prefix(EURO EURO EURO, 10, 4), 3);
    assert_int_equal(ev_utf8_prefix(EURO EURO EURO, 10, 5), 3);
    assert_int_equal(ev_utf8_prefix(EURO EURO EURO, 10, 6), 6);
    assert_int_equal(ev_utf8_prefix(GRIN "a", 10, 3), 0);
    /* by characters, whatever their width */
    assert_int_equal(ev_utf8_prefix(EURO GRIN "a" EURO, 3, 100), 8);
    /* stray continuation bytes start no character: never cut before one */
    assert_int_equal(ev_utf8_prefix("a\x80\x80"
                                    "b",
                                    1, 100),
                     3);
}

static void characters_are_counted_not_bytes(void **state)
{
    (void)state;
    assert_int_equal(ev_utf8_chars(""), 0);
    assert_int_equal(ev_utf8_chars("abc"), 3);
    assert_int_equal(ev_utf8_chars("a" EURO GRIN "\xc3\xa9"), 4);
}

static void a_text_that_fits_is_copied_whole(void **state)
{
    (void)state;
    char dst[16];
    assert_true(ev_utf8_clip(dst, sizeof dst, EURO EURO "x", 3));
    assert_string_equal(dst, EURO EURO "x");
    assert_true(ev_utf8_clip(dst, sizeof dst, "", 0));
    assert_string_equal(dst, "");
    assert_true(ev_utf8_clip(dst, 8, GRIN "abc", 4)); /* exactly the room and the characters */
    assert_string_equal(dst, GRIN "abc");
}

static void a_long_text_is_cut_on_a_character_and_marked(void **state)
{
    (void)state;
    char dst[64];
    /* too many characters: max_chars - 1 kept, then the mark */
    assert_false(ev_utf8_clip(dst, sizeof dst, EURO EURO EURO EURO, 3));
    assert_string_equal(dst, EURO EURO EV_UTF8_ELLIPSIS);
    assert_int_equal(ev_utf8_chars(dst), 3);
    /* too many bytes: what fits beside the mark, never half a character */
    assert_false(ev_utf8_clip(dst, 10, GRIN GRIN GRIN, 100));
    assert_string_equal(dst, GRIN EV_UTF8_ELLIPSIS);
    assert_false(ev_utf8_clip(dst, 9, "ab" EURO EURO "c", 100)); /* 9 bytes, room for 8 */
    assert_string_equal(dst, "ab" EURO EV_UTF8_ELLIPSIS);
}

static void no_room_for_the_mark_leaves_the_cut_unmarked(void **state)
{
    (void)state;
    char dst[8];
    assert_false(ev_utf8_clip(dst, sizeof dst, "abc", 0));
    assert_string_equal(dst, "");
    assert_false(ev_utf8_clip(dst, 3, "abc", 10));
    assert_string_equal(dst, "ab");
    assert_false(ev_utf8_clip(dst, 3, EURO, 10));
    assert_string_equal(dst, "");
    assert_false(ev_utf8_clip(dst, 1, "a", 10));
    assert_string_equal(dst, "");
    /* room for the mark alone */
    assert_false(ev_utf8_clip(dst, 4, "abcd", 10));
    assert_string_equal(dst, EV_UTF8_ELLIPSIS);
}

/* ev_utf8_scrub: text that is to become a JSON string made valid UTF-8 in place. */

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
        cmocka_unit_test(a_prefix_ends_where_a_character_ends),
        cmocka_unit_test(characters_are_counted_not_bytes),
        cmocka_unit_test(a_text_that_fits_is_copied_whole),
        cmocka_unit_test(a_long_text_is_cut_on_a_character_and_marked),
        cmocka_unit_test(no_room_for_the_mark_leaves_the_cut_unmarked),
        cmocka_unit_test(valid_text_is_left_alone),
        cmocka_unit_test(a_character_cut_at_the_end_becomes_question_marks),
        cmocka_unit_test(stray_overlong_and_surrogate_bytes_become_question_marks),
        cmocka_unit_test(the_result_is_a_json_string),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
