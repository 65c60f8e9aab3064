/* Building and decoding the headers of dead letters, and the replay target check; see
 * ev/dlq_headers.h. SHA-256 comes from OpenSSL's libcrypto. */
#include "ev/dlq_headers.h"
#include "ev/util.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

/* librdkafka's per-message framing and per-header overhead, rounded up generously. */
#define WIRE_OVERHEAD 128
#define WIRE_HEADER_OVERHEAD 16

static const char *const carried_names[] = {"traceparent", "causationId", "eventType"};
enum { CARRIED_COUNT = sizeof carried_names / sizeof carried_names[0] };

int ev_sha256_hex(const void *data, size_t len, char out[EV_SHA256_HEX_LEN])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    out[0] = '\0';
    if (EVP_Digest(data ? data : "", len, md, &md_len, EVP_sha256(), NULL) != 1 || md_len != 32)
        return -1;
    for (unsigned int i = 0; i < md_len; i++)
        snprintf(out + (size_t)2 * i, 3, "%02x", md[i]);
    return 0;
}

size_t ev_message_wire_size(const ev_message *m)
{
    size_t size = WIRE_OVERHEAD + m->value_len;
    if (m->key)
        size += m->key_len ? m->key_len : strlen(m->key);
    for (size_t i = 0; i < m->header_count; i++)
        size += WIRE_HEADER_OVERHEAD + strlen(m->headers[i].name) + strlen(m->headers[i].value);
    return size;
}

static const ev_raw_header *find_header(const ev_raw_header *h, size_t n, const char *name)
{
    const ev_raw_header *last = NULL;
    for (size_t i = 0; i < n; i++)
        if (h[i].name && strcmp(h[i].name, name) == 0)
            last = &h[i];
    return last;
}

/* Copies the trace headers that fit (no NUL inside, at most EV_DLQ_CARRIED_MAX bytes) and
 * names the ones that do not in out->dropped. */
static void carry_headers(const ev_letter_source *src, ev_letter *out)
{
    size_t used = 0;
    out->dropped[0] = '\0';
    for (size_t i = 0; i < CARRIED_COUNT; i++) {
        const ev_raw_header *h = find_header(src->headers, src->header_count, carried_names[i]);
        if (!h || !h->value)
            continue;
        if (h->size <= EV_DLQ_CARRIED_MAX && !memchr(h->value, '\0', h->size)) {
            memcpy(out->carried[i], h->value, h->size);
            out->carried[i][h->size] = '\0';
            out->headers[out->msg.header_count++] = (ev_header){carried_names[i], out->carried[i]};
            continue;
        }
        int n = snprintf(out->dropped + used, sizeof out->dropped - used, "%s%s", used ? "," : "",
                         carried_names[i]);
        used += n > 0 ? (size_t)n : 0; /* the three names always fit */
    }
    if (used)
        out->headers[out->msg.header_count++] = (ev_header){EV_DLQ_HEADERS_DROPPED, out->dropped};
}

static void set_key(const ev_letter_source *src, ev_letter *out)
{
    if (!src->key || src->key_len == 0)
        return;
    size_t n = src->key_len;
    if (n > EV_DLQ_KEY_MAX) {
        n = EV_DLQ_KEY_MAX;
        snprintf(out->key_size, sizeof out->key_size, "%zu", src->key_len);
        out->headers[out->msg.header_count++] =
            (ev_header){EV_DLQ_ORIGINAL_KEY_SIZE, out->key_size};
    }
    memcpy(out->key, src->key, n);
    out->msg.key = out->key;
    out->msg.key_len = n;
}

int ev_letter_build(const ev_letter_source *src, const char *dlq_topic, bool cut, size_t max_bytes,
                    ev_letter *out)
{
    memset(out, 0, sizeof *out);
    if (ev_sha256_hex(src->value, src->value_len, out->sha256) != 0)
        return -1;
    snprintf(out->partition, sizeof out->partition, "%" PRId32, src->origin_partition);
    snprintf(out->offset, sizeof out->offset, "%" PRId64, src->origin_offset);
    snprintf(out->attempts, sizeof out->attempts, "%d", src->attempts);
    snprintf(out->original_size, sizeof out->original_size, "%zu", src->value_len);
    const ev_header fixed[] = {
        {EV_DLQ_ORIGIN_TOPIC, src->origin_topic}, {EV_DLQ_ORIGIN_PARTITION, out->partition},
        {EV_DLQ_ORIGIN_OFFSET, out->offset},      {EV_DLQ_ERROR, src->error},
        {EV_DLQ_ATTEMPTS, out->attempts},         {EV_DLQ_FAILED_AT, src->failed_at},
        {EV_DLQ_CONSUMER, src->consumer},         {EV_DLQ_ORIGINAL_SIZE, out->original_size},
        {EV_DLQ_ORIGINAL_SHA256, out->sha256},
    };
    out->msg.topic = dlq_topic;
    out->msg.headers = out->headers;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        out->headers[out->msg.header_count++] = fixed[i];
    carry_headers(src, out);
    set_key(src, out);
    out->msg.value = src->value;
    out->msg.value_len = src->value_len;
    if (cut || ev_message_wire_size(&out->msg) > max_bytes) {
        out->cut = src->value_len > EV_DLQ_VALUE_PREFIX;
        if (out->cut)
            out->msg.value_len = EV_DLQ_VALUE_PREFIX;
    }
    return 0;
}

bool ev_parse_int(const void *text, size_t len, int64_t min, int64_t max, int64_t *out)
{
    const char *s = text;
    if (!s || len == 0 || len > 20)
        return false;
    size_t i = 0;
    bool negative = s[0] == '-';
    if (negative && len == 1)
        return false;
    i += negative;
    int64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        int digit = s[i] - '0';
        if (__builtin_mul_overflow(v, 10, &v) ||
            __builtin_add_overflow(v, negative ? -digit : digit, &v))
            return false;
    }
    if (v < min || v > max)
        return false;
    *out = v;
    return true;
}

static int decode_text(const ev_raw_header *h, char *dst, size_t n, char *err, size_t errlen)
{
    if (!h->value || h->size >= n || memchr(h->value, '\0', h->size))
        return ev_fail(err, errlen, "header %s is null, too long or not text", h->name);
    memcpy(dst, h->value, h->size);
    dst[h->size] = '\0';
    return 0;
}

static int decode_int(const ev_raw_header *h, int64_t min, int64_t max, int64_t *dst, char *err,
                      size_t errlen)
{
    if (!ev_parse_int(h->value, h->size, min, max, dst)) {
        *dst = -1;
        return ev_fail(err, errlen, "header %s is not an integer in [%" PRId64 ", %" PRId64 "]",
                       h->name, min, max);
    }
    return 0;
}

static bool hex_digits(const char *s)
{
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

int ev_letter_decode(const ev_raw_header *headers, size_t n, ev_letter_info *out, char *err,
                     size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->origin_partition = out->origin_offset = out->attempts = out->original_size =
        out->original_key_size = -1;
    struct {
        const char *name;
        char *text;
        size_t size;
        int64_t *number;
        int64_t max;
    } fields[] = {
        {EV_DLQ_ORIGIN_TOPIC, out->origin_topic, sizeof out->origin_topic, NULL, 0},
        {EV_DLQ_ERROR, out->error, sizeof out->error, NULL, 0},
        {EV_DLQ_CONSUMER, out->consumer, sizeof out->consumer, NULL, 0},
        {EV_DLQ_FAILED_AT, out->failed_at, sizeof out->failed_at, NULL, 0},
        {EV_DLQ_ORIGINAL_SHA256, out->sha256, sizeof out->sha256, NULL, 0},
        {EV_DLQ_ORIGIN_PARTITION, NULL, 0, &out->origin_partition, INT32_MAX},
        {EV_DLQ_ORIGIN_OFFSET, NULL, 0, &out->origin_offset, INT64_MAX},
        {EV_DLQ_ATTEMPTS, NULL, 0, &out->attempts, INT32_MAX},
        {EV_DLQ_ORIGINAL_SIZE, NULL, 0, &out->original_size, INT64_MAX},
        {EV_DLQ_ORIGINAL_KEY_SIZE, NULL, 0, &out->original_key_size, INT64_MAX},
    };
    int rc = 0;
    char why[256];
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const ev_raw_header *h = find_header(headers, n, fields[i].name);
        if (!h)
            continue;
        int bad = fields[i].text
                      ? decode_text(h, fields[i].text, fields[i].size, why, sizeof why)
                      : decode_int(h, 0, fields[i].max, fields[i].number, why, sizeof why);
        if (!bad && fields[i].text == out->sha256 &&
            (strlen(out->sha256) != 64 || !hex_digits(out->sha256))) {
            bad = ev_fail(why, sizeof why, "header %s is not 64 hex digits", h->name);
            out->sha256[0] = '\0';
        }
        if (bad && rc == 0)
            rc = ev_fail(err, errlen, "%s", why);
    }
    return rc;
}

/* A size header present: false with why when malformed. */
static bool size_header(const ev_raw_header *h, int64_t *size, char *why, size_t whylen)
{
    if (ev_parse_int(h->value, h->size, 0, INT64_MAX, size))
        return true;
    ev_fail(why, whylen, "cannot be checked: its header %s is not a size", h->name);
    return false;
}

bool ev_letter_whole(const ev_raw_header *headers, size_t n, size_t key_len, const void *value,
                     size_t value_len, char *why, size_t whylen)
{
    const ev_raw_header *key_size = find_header(headers, n, EV_DLQ_ORIGINAL_KEY_SIZE);
    const ev_raw_header *size = find_header(headers, n, EV_DLQ_ORIGINAL_SIZE);
    const ev_raw_header *sha = find_header(headers, n, EV_DLQ_ORIGINAL_SHA256);
    int64_t original;
    if (key_size && !size_header(key_size, &original, why, whylen))
        return false;
    if (key_size && (uint64_t)original != key_len) {
        ev_fail(why, whylen, "was cut: its key is %zu of the original's %" PRId64 " bytes", key_len,
                original);
        return false;
    }
    if (size && !size_header(size, &original, why, whylen))
        return false;
    if (size && (uint64_t)original != value_len) {
        ev_fail(why, whylen, "was cut: its value is %zu of the original's %" PRId64 " bytes",
                value_len, original);
        return false;
    }
    if (!sha)
        return true;
    char hex[EV_SHA256_HEX_LEN];
    if (!sha->value || sha->size != 64) {
        ev_fail(why, whylen, "cannot be checked: its header %s is not 64 hex digits", sha->name);
        return false;
    }
    if (ev_sha256_hex(value, value_len, hex) != 0) {
        ev_fail(why, whylen, "cannot be checked: SHA-256 is unavailable");
        return false;
    }
    /* hex is lower case, as ev_letter_build writes it */
    if (memcmp(sha->value, hex, 64) != 0) {
        ev_fail(why, whylen, "was cut or altered: its value does not have the original's %s",
                EV_DLQ_ORIGINAL_SHA256);
        return false;
    }
    return true;
}

ev_replay_action ev_replay_decide(bool present, const void *value, size_t size, const char *group)
{
    if (!present)
        return EV_REPLAY_HANDLE;
    size_t len = strlen(group);
    if (value && size == len && len > 0 && memcmp(value, group, len) == 0)
        return EV_REPLAY_HANDLE;
    return EV_REPLAY_SKIP;
}
