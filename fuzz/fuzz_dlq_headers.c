/* Fuzz target: decoding the headers of a dead letter, the replay decision, and building a
 * letter from any message. The input is a list of headers, each a 1-byte name length, the
 * name, a 2-byte value length (0xffff: a null value) and the value; what is left is the
 * message value. Properties: decoding never crashes; a letter built from any message is
 * bounded (key, carried headers, and a cut value when too large), decodes back to the
 * origin, size and hash it was built with, and is taken for its original (ev_letter_whole)
 * exactly when neither its key nor its value was cut. */
#include "ev/dlq_headers.h"
#include "fuzz_check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX_HEADERS = 32 };

typedef struct {
    char names[MAX_HEADERS][256];
    ev_raw_header h[MAX_HEADERS];
    size_t n;
} header_list;

/* Splits the input; returns the offset where the message value starts. */
static size_t split(const uint8_t *data, size_t size, header_list *out)
{
    size_t at = 0;
    out->n = 0;
    while (out->n < MAX_HEADERS && at < size && data[at] != 0) {
        size_t name_len = data[at];
        if (at + 1 + name_len + 2 > size)
            break;
        memcpy(out->names[out->n], data + at + 1, name_len);
        out->names[out->n][name_len] = '\0';
        at += 1 + name_len;
        size_t value_len = (size_t)data[at] << 8 | data[at + 1];
        at += 2;
        bool null_value = value_len == 0xffff;
        if (null_value)
            value_len = 0;
        if (at + value_len > size)
            break;
        out->h[out->n] =
            (ev_raw_header){out->names[out->n], null_value ? NULL : data + at, value_len};
        at += value_len;
        out->n++;
    }
    return at < size && data[at] == 0 ? at + 1 : at;
}

static void letter_roundtrip(const header_list *in, const uint8_t *value, size_t value_len)
{
    ev_letter_source src = {.origin_topic = "orders.events",
                            .origin_partition = 1,
                            .origin_offset = 77,
                            .key = value,
                            .key_len = value_len,
                            .value = value,
                            .value_len = value_len,
                            .headers = in->h,
                            .header_count = in->n,
                            .error = "fuzz",
                            .attempts = 1,
                            .consumer = "inventory",
                            .failed_at = "2026-11-25T12:00:00Z"};
    ev_letter l;
    /* a small limit makes the cut path as common as the whole one */
    FUZZ_CHECK(ev_letter_build(&src, "inventory.dlq", false, 4096, &l) == 0);
    FUZZ_CHECK(l.msg.key_len <= EV_DLQ_KEY_MAX);
    FUZZ_CHECK(l.msg.value_len <= value_len);
    FUZZ_CHECK(!l.cut || l.msg.value_len == EV_DLQ_VALUE_PREFIX);
    ev_raw_header raw[EV_LETTER_MAX_HEADERS];
    for (size_t i = 0; i < l.msg.header_count; i++) {
        FUZZ_CHECK(strlen(l.msg.headers[i].value) <= EV_DLQ_CARRIED_MAX ||
                   strcmp(l.msg.headers[i].name, EV_DLQ_ERROR) == 0);
        raw[i] = (ev_raw_header){l.msg.headers[i].name, l.msg.headers[i].value,
                                 strlen(l.msg.headers[i].value)};
    }
    ev_letter_info info;
    char err[256];
    FUZZ_CHECK(ev_letter_decode(raw, l.msg.header_count, &info, err, sizeof err) == 0);
    FUZZ_CHECK(info.original_size == (int64_t)value_len);
    FUZZ_CHECK(info.origin_offset == 77 && info.origin_partition == 1 && info.attempts == 1);
    FUZZ_CHECK(strcmp(info.sha256, l.sha256) == 0);
    /* a letter is vouched for as its original exactly when nothing of it was cut */
    bool key_cut = value_len > EV_DLQ_KEY_MAX;
    FUZZ_CHECK(info.original_key_size == (key_cut ? (int64_t)value_len : -1));
    FUZZ_CHECK(ev_letter_whole(raw, l.msg.header_count, l.msg.key_len, l.msg.value, l.msg.value_len,
                               err, sizeof err) == (!l.cut && !key_cut));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static header_list list; /* large: kept off the stack */
    size_t at = split(data, size, &list);
    ev_letter_info info;
    char err[256];
    (void)ev_letter_decode(list.h, list.n, &info, err, sizeof err);
    if (list.n > 0)
        (void)ev_replay_decide(true, list.h[0].value, list.h[0].size, "inventory");
    letter_roundtrip(&list, data + at, size - at);
    return 0;
}
