/* Envelope construction, serialization and strict parsing; see ev/envelope.h. */
#include "ev/envelope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

static const char *const envelope_fields[] = {
    "eventId", "eventType", "occurredAt", "correlationId", "producer", "version", "payload"};
enum { ENVELOPE_FIELD_COUNT = sizeof envelope_fields / sizeof envelope_fields[0] };

int ev_envelope_init(ev_envelope *e, const char *event_type, int version, const char *producer,
                     const char *correlation_id, json_t *payload)
{
    memset(e, 0, sizeof *e);
    e->payload = payload;
    if (!json_is_object(payload) || version < 1 || !ev_uuid_valid(correlation_id) ||
        !ev_strlcpy(e->event_type, event_type, sizeof e->event_type) ||
        !ev_strlcpy(e->producer, producer, sizeof e->producer)) {
        ev_envelope_clear(e);
        return -1;
    }
    ev_uuid_new(e->event_id);
    ev_time_now(e->occurred_at);
    ev_strlcpy(e->correlation_id, correlation_id, sizeof e->correlation_id);
    e->version = version;
    return 0;
}

char *ev_envelope_serialize(const ev_envelope *e)
{
    json_t *root =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:O}", "eventId", e->event_id, "eventType",
                  e->event_type, "occurredAt", e->occurred_at, "correlationId", e->correlation_id,
                  "producer", e->producer, "version", e->version, "payload", e->payload);
    if (!root)
        return NULL;
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    return text;
}

static int copy_string_field(json_t *root, const char *name, char *dst, size_t n, char *err,
                             size_t errlen)
{
    json_t *v = json_object_get(root, name);
    if (!json_is_string(v))
        return ev_fail(err, errlen, "envelope field %s must be a string", name);
    const char *s = json_string_value(v);
    if (!*s)
        return ev_fail(err, errlen, "envelope field %s is empty", name);
    if (!ev_strlcpy(dst, s, n))
        return ev_fail(err, errlen, "envelope field %s is too long", name);
    return 0;
}

static int check_fields(json_t *root, char *err, size_t errlen)
{
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value)
    {
        (void)value;
        bool known = false;
        for (int i = 0; i < ENVELOPE_FIELD_COUNT && !known; i++)
            known = strcmp(key, envelope_fields[i]) == 0;
        if (!known)
            return ev_fail(err, errlen, "unexpected envelope field %s", key);
    }
    for (int i = 0; i < ENVELOPE_FIELD_COUNT; i++)
        if (!json_object_get(root, envelope_fields[i]))
            return ev_fail(err, errlen, "missing envelope field %s", envelope_fields[i]);
    return 0;
}

static int parse_root(json_t *root, ev_envelope *out, char *err, size_t errlen)
{
    if (!json_is_object(root))
        return ev_fail(err, errlen, "envelope is not a JSON object");
    if (check_fields(root, err, errlen) ||
        copy_string_field(root, "eventId", out->event_id, sizeof out->event_id, err, errlen) ||
        copy_string_field(root, "eventType", out->event_type, sizeof out->event_type, err,
                          errlen) ||
        copy_string_field(root, "occurredAt", out->occurred_at, sizeof out->occurred_at, err,
                          errlen) ||
        copy_string_field(root, "correlationId", out->correlation_id, sizeof out->correlation_id,
                          err, errlen) ||
        copy_string_field(root, "producer", out->producer, sizeof out->producer, err, errlen))
        return -1;
    if (!ev_uuid_valid(out->event_id))
        return ev_fail(err, errlen, "eventId is not a UUID");
    if (!ev_uuid_valid(out->correlation_id))
        return ev_fail(err, errlen, "correlationId is not a UUID");
    if (!ev_time_valid(out->occurred_at))
        return ev_fail(err, errlen, "occurredAt is not an RFC 3339 date-time");
    json_t *version = json_object_get(root, "version");
    if (!json_is_integer(version) || json_integer_value(version) < 1 ||
        json_integer_value(version) > 1000000)
        return ev_fail(err, errlen, "version must be an integer >= 1");
    out->version = (int)json_integer_value(version);
    json_t *payload = json_object_get(root, "payload");
    if (!json_is_object(payload))
        return ev_fail(err, errlen, "payload must be a JSON object");
    out->payload = json_incref(payload);
    return 0;
}

int ev_envelope_parse(const char *data, size_t len, ev_envelope *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!data || len == 0)
        return ev_fail(err, errlen, "empty message");
    if (len > EV_ENVELOPE_MAX_BYTES)
        return ev_fail(err, errlen, "message of %zu bytes is larger than an event may be (%d)", len,
                       EV_ENVELOPE_MAX_BYTES);
    json_error_t jerr;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return ev_fail(err, errlen, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
                       jerr.text);
    int rc = parse_root(root, out, err, errlen);
    json_decref(root);
    if (rc != 0)
        ev_envelope_clear(out);
    return rc;
}

void ev_envelope_clear(ev_envelope *e)
{
    json_decref(e->payload);
    memset(e, 0, sizeof *e);
}

void ev_traceparent_new(const char *correlation_id, char out[EV_TRACEPARENT_LEN])
{
    char trace[33];
    size_t t = 0;
    for (const char *p = correlation_id; *p && t < 32; p++)
        if (*p != '-')
            trace[t++] = *p;
    while (t < 32)
        trace[t++] = '0';
    trace[32] = '\0';
    uuid_t span;
    uuid_generate_random(span);
    snprintf(out, EV_TRACEPARENT_LEN, "00-%s-%02x%02x%02x%02x%02x%02x%02x%02x-01", trace, span[0],
             span[1], span[2], span[3], span[4], span[5], span[6], span[7]);
}
