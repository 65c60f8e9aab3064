/* The event envelope: exactly eventId, eventType, occurredAt, correlationId,
 * producer, version and payload. Further metadata (causation id, W3C traceparent) travels
 * in Kafka headers, built here too so every producer writes the same ones. */
#ifndef EV_ENVELOPE_H
#define EV_ENVELOPE_H

#include "ev/util.h"

#include <jansson.h>
#include <stddef.h>

#define EV_TYPE_LEN 64
#define EV_PRODUCER_LEN 64
#define EV_OCCURRED_LEN 48
#define EV_TRACEPARENT_LEN 56 /* "00-" 32 hex "-" 16 hex "-01" and NUL */
/* The largest event a consumer parses. Our largest (an order of 100 lines) is about 10 KB;
 * anything near Kafka's 1 MB limit is refused before any JSON is built from it. */
#define EV_ENVELOPE_MAX_BYTES 262144 /* 256 KiB */

typedef struct {
    char event_id[EV_UUID_LEN];
    char event_type[EV_TYPE_LEN];
    char occurred_at[EV_OCCURRED_LEN];
    char correlation_id[EV_UUID_LEN];
    char producer[EV_PRODUCER_LEN];
    int version;
    json_t *payload; /* owned reference; released by ev_envelope_clear() */
} ev_envelope;

/* Starts a new event now with a fresh eventId. Takes ownership of payload (a JSON object)
 * even on failure. Returns 0, or -1 when an argument does not fit. */
int ev_envelope_init(ev_envelope *e, const char *event_type, int version, const char *producer,
                     const char *correlation_id, json_t *payload);

/* Serializes to compact JSON with the fields in envelope order. The caller frees the
 * string with free(). NULL on allocation failure. */
char *ev_envelope_serialize(const ev_envelope *e);

/* Parses and validates bytes from Kafka: at most EV_ENVELOPE_MAX_BYTES of a JSON object with
 * exactly the seven fields, UUIDs,
 * an RFC 3339 time, an integer version >= 1 and an object payload. On success out owns a
 * payload reference; on failure out is left cleared and err says what is wrong. */
int ev_envelope_parse(const char *data, size_t len, ev_envelope *out, char *err, size_t errlen);

/* Releases the payload; the envelope may be reused. */
void ev_envelope_clear(ev_envelope *e);

/* W3C traceparent whose trace id is the correlation id (dashes removed) and whose span id
 * is random, so one flow shares a trace across services. */
void ev_traceparent_new(const char *correlation_id, char out[EV_TRACEPARENT_LEN]);

#endif
