/* Structured JSON logging; see ev/log.h. jansson does the string escaping. */
#include "ev/log.h"
#include "ev/trace.h"
#include "ev/utf8.h"
#include "ev/util.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>

static struct {
    char service[64];
    ev_log_level min_level;
    FILE *out;
    pthread_mutex_t lock;
} logger = {"eventify", EV_LOG_INFO, NULL, PTHREAD_MUTEX_INITIALIZER};

static const char *level_names[] = {"debug", "info", "warn", "error"};

void ev_log_setup(const char *service, ev_log_level min_level, FILE *out)
{
    pthread_mutex_lock(&logger.lock);
    snprintf(logger.service, sizeof logger.service, "%s", service);
    logger.min_level = min_level;
    logger.out = out;
    pthread_mutex_unlock(&logger.lock);
}

int ev_log_level_parse(const char *text, ev_log_level *out)
{
    for (int i = 0; i <= EV_LOG_ERROR; i++) {
        if (strcmp(text, level_names[i]) == 0) {
            *out = (ev_log_level)i;
            return 0;
        }
    }
    return -1;
}

void ev_log(ev_log_level level, const char *correlation_id, const char *event_id, const char *fmt,
            ...)
{
    if (level < logger.min_level)
        return;

    char message[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof message) {
        /* A line stays bounded, so a longer message is cut, but on purpose: vsnprintf may have
         * cut a character in two, which jansson would refuse and the line be lost. Cut on a
         * character, marked with an ellipsis. */
        size_t mark = strlen(EV_UTF8_ELLIPSIS);
        size_t keep = ev_utf8_prefix(message, sizeof message, sizeof message - 1 - mark);
        memcpy(message + keep, EV_UTF8_ELLIPSIS, mark + 1);
    }
    /* and a message may quote bytes from outside that are not UTF-8: shown as '?' */
    ev_utf8_scrub(message);

    char now[EV_TIME_LEN];
    ev_time_now(now);
    json_t *line = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s}", "time", now, "level",
                             level_names[level], "service", logger.service, "correlationId",
                             correlation_id, "eventId", event_id, "message", message);
    if (!line)
        return;
    const ev_trace_ctx *trace = ev_trace_current();
    if (ev_trace_ctx_valid(trace)) {
        char trace_id[EV_TRACE_ID_HEX], span_id[EV_SPAN_ID_HEX];
        ev_trace_id_hex(trace, trace_id);
        ev_span_id_hex(trace, span_id);
        json_object_set_new(line, "traceId", json_string(trace_id));
        json_object_set_new(line, "spanId", json_string(span_id));
    }
    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(line);
    if (!text)
        return;

    pthread_mutex_lock(&logger.lock);
    FILE *out = logger.out ? logger.out : stderr;
    fputs(text, out);
    fputc('\n', out);
    fflush(out);
    pthread_mutex_unlock(&logger.lock);
    free(text);
}
