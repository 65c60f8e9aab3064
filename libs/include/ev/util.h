/* Small value helpers: UUIDs, RFC 3339 timestamps, monotonic clock, bounded string copy. */
#ifndef EV_UTIL_H
#define EV_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EV_UUID_LEN 37 /* 36 characters and the terminating NUL */
#define EV_TIME_LEN 32 /* "2026-11-24T12:00:00.123456Z" and NUL, with room */

/* Writes a new time-ordered UUID (version 7: Unix milliseconds, then 74 random bits) in
 * lower case. */
void ev_uuid_new(char out[EV_UUID_LEN]);

/* True when text is a canonical 8-4-4-4-12 hexadecimal UUID. */
bool ev_uuid_valid(const char *text);

/* Writes the current UTC time as RFC 3339 with microseconds, e.g. 2026-11-24T12:00:00.123456Z. */
void ev_time_now(char out[EV_TIME_LEN]);

/* True when text is an RFC 3339 date-time (with 'Z' or a numeric offset). */
bool ev_time_valid(const char *text);

/* Monotonic milliseconds, for deadlines and latencies. */
int64_t ev_monotonic_ms(void);

/* Copies src into dst of size n, always NUL-terminating; returns false if src was cut. */
bool ev_strlcpy(char *dst, const char *src, size_t n);

/* Formats err (size n) like snprintf and returns -1, so error paths stay one line. */
int ev_fail(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
