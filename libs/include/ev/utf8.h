/* UTF-8 text cut on purpose: to a number of characters and bytes, never inside a character;
 * and text from outside made valid UTF-8 (ev_utf8_scrub). Pure (no allocation, no state), so pure
 * modules such as the saga may link utf8.c alone.
 *
 * A character is counted as ev_text_valid and JSON Schema's maxLength count them: every byte
 * that is not a continuation byte (10xxxxxx) starts one. A cut never falls before a
 * continuation byte, so valid UTF-8 stays valid UTF-8 once cut. */
#ifndef EV_UTF8_H
#define EV_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* "…" (U+2026), the mark ev_utf8_clip leaves where it cut: one character, three bytes. */
#define EV_UTF8_ELLIPSIS "\xe2\x80\xa6"

/* Length in bytes of the longest prefix of the NUL-terminated text that holds at most
 * max_chars characters and max_bytes bytes and ends where a character ends. */
size_t ev_utf8_prefix(const char *text, size_t max_chars, size_t max_bytes);

/* Characters of the NUL-terminated text. */
size_t ev_utf8_chars(const char *text);

/* Copies text into dst (room for dstlen bytes, NUL included; dstlen > 0), whole when it has
 * at most max_chars characters and fits. Otherwise cuts it where a character ends and puts
 * EV_UTF8_ELLIPSIS after what is kept, so that the result, mark included, still has at most
 * max_chars characters and fits; when not even the mark fits (max_chars 0 or dstlen under 4)
 * the cut is left unmarked. dst is always NUL-terminated. Returns true when text was copied
 * whole, false when it was cut. dst and text must not overlap. */
bool ev_utf8_clip(char *dst, size_t dstlen, const char *text, size_t max_chars);

/* The length in bytes of the valid UTF-8 character at text (n > 0 bytes left), or 0 when none
 * starts there: no overlong forms, no surrogates, nothing above U+10FFFF (RFC 3629). */
size_t ev_utf8_char_len(const char *text, size_t n);

/* Makes text valid UTF-8 in place, keeping its length: every byte that starts no valid
 * character (one of a client's stray bytes, or a character that a bounded snprintf cut at the
 * end) becomes '?'. For text that must become a JSON string, which cannot hold invalid UTF-8.
 * Returns how many bytes were replaced. */
size_t ev_utf8_scrub(char *text);

#endif
