/* Structured logging: one JSON object per line on stderr (or a chosen stream).
 *
 * Every line carries time, level, service, correlationId and eventId (null when not
 * known), and message; and traceId and spanId when the thread has a current trace context
 * (ev/trace.h), so a trace leads to its log lines and back. The service name and minimum
 * level are set once at start-up by ev_log_setup(); the logger is process-wide state of the
 * runtime (as is the tracer, ev/trace.h) and is written under a mutex so lines from
 * different threads never interleave. */
#ifndef EV_LOG_H
#define EV_LOG_H

#include <stdio.h>

typedef enum { EV_LOG_DEBUG = 0, EV_LOG_INFO, EV_LOG_WARN, EV_LOG_ERROR } ev_log_level;

/* Sets the service name (copied) and the minimum level; out NULL means stderr. */
void ev_log_setup(const char *service, ev_log_level min_level, FILE *out);

/* Parses "debug", "info", "warn", "error". Returns 0 on success, -1 otherwise. */
int ev_log_level_parse(const char *text, ev_log_level *out);

/* Writes one line. correlation_id and event_id may be NULL. */
void ev_log(ev_log_level level, const char *correlation_id, const char *event_id, const char *fmt,
            ...) __attribute__((format(printf, 4, 5)));

#define ev_info(...) ev_log(EV_LOG_INFO, NULL, NULL, __VA_ARGS__)
#define ev_warn(...) ev_log(EV_LOG_WARN, NULL, NULL, __VA_ARGS__)
#define ev_error(...) ev_log(EV_LOG_ERROR, NULL, NULL, __VA_ARGS__)
#define ev_debug(...) ev_log(EV_LOG_DEBUG, NULL, NULL, __VA_ARGS__)

#endif
