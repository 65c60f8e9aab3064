/* Unit tests of UTF-8 cuts (utf8.c): by characters and by bytes, never inside a character,
 * marked with an ellipsis when cut, whole when the text fits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ev/utf8.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_prefix_ends_where_a_character_ends),
        cmocka_unit_test(characters_are_counted_not_bytes),
        cmocka_unit_test(a_text_that_fits_is_copied_whole),
        cmocka_unit_test(a_long_text_is_cut_on_a_character_and_marked),
        cmocka_unit_test(no_room_for_the_mark_leaves_the_cut_unmarked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
