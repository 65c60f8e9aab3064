/* UTF-8 text cut on a character boundary; see ev/utf8.h. */
#include "ev/utf8.h"

#include <string.h>

/* A byte that continues a character (10xxxxxx) rather than starting one. */
static bool continues(unsigned char c)
{
    return (c & 0xc0) == 0x80;
}

size_t ev_utf8_prefix(const char *text, size_t max_chars, size_t max_bytes)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t end = 0, chars = 0;
    /* Each boundary i (a character's first byte, or the NUL) ends a prefix of chars
     * characters: the last one within both limits is the answer. */
    for (size_t i = 0;; i++) {
        if (s[i] != '\0' && continues(s[i]))
            continue;
        if (i > max_bytes)
            break;
        end = i;
        if (s[i] == '\0' || chars == max_chars)
            break;
        chars++;
    }
    return end;
}

size_t ev_utf8_chars(const char *text)
{
    size_t chars = 0;
    for (const unsigned char *s = (const unsigned char *)text; *s; s++)
        chars += !continues(*s);
    return chars;
}

bool ev_utf8_clip(char *dst, size_t dstlen, const char *text, size_t max_chars)
{
    size_t room = dstlen - 1; /* the NUL's byte aside */
    size_t keep = ev_utf8_prefix(text, max_chars, room);
    bool whole = text[keep] == '\0';
    size_t mark = strlen(EV_UTF8_ELLIPSIS);
    bool marked = !whole && max_chars >= 1 && room >= mark;
    if (marked) /* room for the mark, one character and its bytes, taken from the text's */
        keep = ev_utf8_prefix(text, max_chars - 1, room - mark);
    memcpy(dst, text, keep);
    if (marked)
        memcpy(dst + keep, EV_UTF8_ELLIPSIS, mark);
    dst[keep + (marked ? mark : 0)] = '\0';
    return whole;
}

size_t ev_utf8_char_len(const char *text, size_t n)
{
    const unsigned char *s = (const unsigned char *)text;
    unsigned char lowest = 0x80, highest = 0xBF;
    size_t len;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        len = 2;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3;
        lowest = s[0] == 0xE0 ? 0xA0 : lowest;
        highest = s[0] == 0xED ? 0x9F : highest;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4;
        lowest = s[0] == 0xF0 ? 0x90 : lowest;
        highest = s[0] == 0xF4 ? 0x8F : highest;
    } else {
        return 0;
    }
    if (n < len || s[1] < lowest || s[1] > highest)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

size_t ev_utf8_scrub(char *text)
{
    unsigned char *s = (unsigned char *)text;
    size_t n = strlen(text), replaced = 0;
    for (size_t i = 0; i < n;) {
        size_t len = ev_utf8_char_len(text + i, n - i);
        if (len) {
            i += len;
        } else {
            s[i++] = '?';
            replaced++;
        }
    }
    return replaced;
}
