/* The headers of a dead letter, written by the consumer loop and read back by the DLQ tools,
 * in one place: their names, how a letter is built from the message that failed, how its
 * headers are decoded, and whom a replayed message is meant for. Pure: no Kafka, no I/O.
 *
 * A letter is bounded whatever came in: its key is cut to EV_DLQ_KEY_MAX bytes, carried
 * trace headers longer than EV_DLQ_CARRIED_MAX are dropped (and named in x-headers-dropped),
 * and a value that would make the letter larger than the producer's limit is cut to its
 * first EV_DLQ_VALUE_PREFIX bytes. Every letter says how long its original value was and
 * gives its SHA-256, so a cut letter can still be matched with its original, and is never
 * taken for it: a letter whose key or value is not the original's is not replayed
 * (ev_letter_whole). */
#ifndef EV_DLQ_HEADERS_H
#define EV_DLQ_HEADERS_H

#include "ev/kafka.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EV_DLQ_ORIGIN_TOPIC "x-origin-topic"
#define EV_DLQ_ORIGIN_PARTITION "x-origin-partition"
#define EV_DLQ_ORIGIN_OFFSET "x-origin-offset"
#define EV_DLQ_ERROR "x-error"
#define EV_DLQ_ATTEMPTS "x-attempts"
#define EV_DLQ_FAILED_AT "x-failed-at"
#define EV_DLQ_CONSUMER "x-consumer"
#define EV_DLQ_ORIGINAL_SIZE "x-original-size"         /* bytes of the original value */
#define EV_DLQ_ORIGINAL_SHA256 "x-original-sha256"     /* 64 lower-case hex digits */
#define EV_DLQ_ORIGINAL_KEY_SIZE "x-original-key-size" /* only when the key was cut */
#define EV_DLQ_HEADERS_DROPPED "x-headers-dropped"     /* carried headers too long to keep */
/* On a replayed message: the consumer group (x-consumer of the letter) it is meant for. */
#define EV_REPLAY_FOR "x-replay-for"

#define EV_DLQ_VALUE_PREFIX 65536 /* 64 KiB: what is kept of a value too large for the DLQ */
#define EV_DLQ_KEY_MAX 1024
#define EV_DLQ_CARRIED_MAX 256
#define EV_DLQ_TEXT_MAX 1024 /* longest x-error, x-consumer, x-origin-topic decoded */
#define EV_SHA256_HEX_LEN 65 /* 64 hex digits and NUL */

/* A header of a Kafka message as raw bytes (value NULL for a null header). */
typedef struct {
    const char *name;
    const void *value;
    size_t size;
} ev_raw_header;

/* What failed and why: everything a letter is made of. Borrowed pointers. */
typedef struct {
    const char *origin_topic;
    int32_t origin_partition;
    int64_t origin_offset;
    const void *key; /* may be NULL */
    size_t key_len;
    const void *value; /* may be NULL */
    size_t value_len;
    const ev_raw_header *headers; /* of the original message; the trace ones are carried */
    size_t header_count;
    const char *error;
    int attempts;
    const char *consumer;  /* the consumer group that dead-letters it */
    const char *failed_at; /* RFC 3339 */
} ev_letter_source;

enum { EV_LETTER_MAX_HEADERS = 16 };

/* A letter ready to send: msg points into this struct and into the source's value, so both
 * must outlive the send. */
typedef struct {
    ev_message msg;
    bool cut; /* the value is a prefix of the original */
    ev_header headers[EV_LETTER_MAX_HEADERS];
    char partition[16], offset[24], attempts[16], original_size[24], key_size[24];
    char sha256[EV_SHA256_HEX_LEN];
    char carried[3][EV_DLQ_CARRIED_MAX + 1];
    char dropped[64];
    char key[EV_DLQ_KEY_MAX];
} ev_letter;

/* Builds the letter of src for dlq_topic. The value is kept whole unless cut is true or the
 * whole letter would exceed max_bytes (e.g. EV_KAFKA_MESSAGE_MAX); then it is cut to
 * EV_DLQ_VALUE_PREFIX bytes. Returns 0, or -1 when SHA-256 is unavailable. */
int ev_letter_build(const ev_letter_source *src, const char *dlq_topic, bool cut, size_t max_bytes,
                    ev_letter *out);

/* Upper bound of the bytes a message takes on the wire for librdkafka's size check. */
size_t ev_message_wire_size(const ev_message *m);

/* Writes the SHA-256 of data as lower-case hex. Returns 0, or -1 if libcrypto failed. */
int ev_sha256_hex(const void *data, size_t len, char out[EV_SHA256_HEX_LEN]);

/* A letter's headers, decoded. Absent or malformed numbers are -1; absent texts are "". */
typedef struct {
    char origin_topic[EV_DLQ_TEXT_MAX];
    char error[EV_DLQ_TEXT_MAX];
    char consumer[EV_DLQ_TEXT_MAX];
    char failed_at[64];
    char sha256[EV_SHA256_HEX_LEN];
    int64_t origin_partition;
    int64_t origin_offset;
    int64_t attempts;
    int64_t original_size;
    int64_t original_key_size; /* -1 unless the key was cut */
} ev_letter_info;

/* Decodes the headers of a letter. Unknown headers are ignored; the last of a repeated one
 * counts. Returns 0 when every known header present is well formed, else -1 with err
 * naming the first bad one (the others are still decoded). */
int ev_letter_decode(const ev_raw_header *headers, size_t n, ev_letter_info *out, char *err,
                     size_t errlen);

/* True when a letter's key (key_len bytes) and value are those of the message that failed, as
 * its headers tell: x-original-key-size absent (or equal to key_len), and x-original-size and
 * x-original-sha256 agreeing with the value. Else false, with why saying what differs ("was
 * cut: ..."), or which of these headers is malformed: then nothing can be vouched for. A
 * letter without these headers (one written by hand) is taken as whole. Hashes the value. */
bool ev_letter_whole(const ev_raw_header *headers, size_t n, size_t key_len, const void *value,
                     size_t value_len, char *why, size_t whylen);

/* Parses a decimal integer in [min, max] that fills the whole of text[0..len). */
bool ev_parse_int(const void *text, size_t len, int64_t min, int64_t max, int64_t *out);

typedef enum {
    EV_REPLAY_HANDLE, /* not a replay, or a replay for this consumer group: handle it */
    EV_REPLAY_SKIP,   /* a replay meant for another group: commit it, do nothing */
} ev_replay_action;

/* What a consumer in group does with a message whose x-replay-for header is value (size
 * bytes); present is false when the message has no such header. A header present but empty
 * or null names no group, so nobody handles it. */
ev_replay_action ev_replay_decide(bool present, const void *value, size_t size, const char *group);

#endif
