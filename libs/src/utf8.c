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
