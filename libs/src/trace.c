/* W3C Trace Context, spans, and the OTLP/HTTP (protobuf) exporter thread; see ev/trace.h. */
#include "ev/trace.h"
#include "ev/config.h"
#include "ev/log.h"
#include "ev/otlp.h"
#include "ev/util.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <time.h>

#define STOP_FLUSH_MS 2000
#define EXPORT_TIMEOUT_MS 5000

/* --- pure: W3C Trace Context ------------------------------------------------------------- */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1; /* upper case is invalid in traceparent */
}

/* Decodes 2*n lower-case hex digits into out; false on any other character. */
static bool decode_hex(const char *text, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int hi = hex_value(text[2 * i]), lo = hex_value(text[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

static bool all_zero(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

int ev_traceparent_parse(const char *text, size_t len, ev_trace_ctx *out)
{
    /* 00-<32>-<16>-<2>: 55 bytes; dashes at 2, 35, 52 */
    if (!text || len < 55)
        return -1;
    uint8_t version, flags;
    ev_trace_ctx ctx;
    if (!decode_hex(text, &version, 1) || version == 0xff || text[2] != '-' ||
        !decode_hex(text + 3, ctx.trace_id, 16) || text[35] != '-' ||
        !decode_hex(text + 36, ctx.span_id, 8) || text[52] != '-' ||
        !decode_hex(text + 53, &flags, 1))
        return -1;
    /* version 00 is exactly this; a later version may append fields after a dash */
    if (len > 55 && (version == 0 || text[55] != '-'))
        return -1;
    if (all_zero(ctx.trace_id, 16) || all_zero(ctx.span_id, 8))
        return -1;
    ctx.sampled = flags & 1;
    *out = ctx;
    return 0;
}

static void encode_hex(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void ev_trace_id_hex(const ev_trace_ctx *ctx, char out[EV_TRACE_ID_HEX])
{
    encode_hex(ctx->trace_id, 16, out);
}

void ev_span_id_hex(const ev_trace_ctx *ctx, char out[EV_SPAN_ID_HEX])
{
    encode_hex(ctx->span_id, 8, out);
}

void ev_trace_id_uuid(const ev_trace_ctx *ctx, char out[37])
{
    char hex[EV_TRACE_ID_HEX];
    ev_trace_id_hex(ctx, hex);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

void ev_traceparent_format(const ev_trace_ctx *ctx, char out[EV_TRACEPARENT_SIZE])
{
    memcpy(out, "00-", 3); /* NOLINT(bugprone-not-null-terminated-result): ended below */
    encode_hex(ctx->trace_id, 16, out + 3);
    out[35] = '-';
    encode_hex(ctx->span_id, 8, out + 36);
    memcpy(out + 52, ctx->sampled ? "-01" : "-00", 4);
}

bool ev_trace_ctx_valid(const ev_trace_ctx *ctx)
{
    return ctx && !all_zero(ctx->trace_id, 16) && !all_zero(ctx->span_id, 8);
}

static bool key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '*' ||
           c == '/' || c == '@';
}

/* One list member "key=value" (surrounding spaces/tabs already stripped). */
static bool member_valid(const char *m, size_t n)
{
    const char *eq = memchr(m, '=', n);
    if (!eq || eq == m || eq == m + n - 1)
        return false;
    size_t klen = (size_t)(eq - m), vlen = n - klen - 1;
    if (klen > 256 || vlen > 256)
        return false;
    /* a key starts with a letter or digit; one '@' separates tenant and system */
    if (!((m[0] >= 'a' && m[0] <= 'z') || (m[0] >= '0' && m[0] <= '9')))
        return false;
    int ats = 0;
    for (size_t i = 0; i < klen; i++) {
        if (!key_char(m[i]))
            return false;
        ats += m[i] == '@';
    }
    if (ats > 1)
        return false;
    const char *v = eq + 1;
    for (size_t i = 0; i < vlen; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x20 || c > 0x7e || c == ',' || c == '=')
            return false;
    }
    return v[vlen - 1] != ' '; /* a value does not end in a space */
}

bool ev_tracestate_valid(const char *text, size_t len)
{
    if (!text || len > EV_TRACESTATE_MAX)
        return false;
    int members = 0;
    size_t start = 0;
    while (start <= len) {
        size_t end = start;
        while (end < len && text[end] != ',')
            end++;
        size_t a = start, b = end;
        while (a < b && (text[a] == ' ' || text[a] == '\t'))
            a++;
        while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\t'))
            b--;
        if (b > a) {
            if (!member_valid(text + a, b - a) || ++members > 32)
                return false;
        }
        start = end + 1;
    }
    return true;
}

bool ev_trace_sample(const uint8_t trace_id[16], double ratio)
{
    if (ratio >= 1.0)
        return true;
    if (ratio <= 0.0)
        return false;
    uint64_t low = 0;
    for (int i = 9; i < 16; i++)
        low = low << 8 | trace_id[i];
    return (double)low < ratio * (double)(UINT64_C(1) << 56);
}

/* --- ids --------------------------------------------------------------------------------- */

/* splitmix64 per thread, seeded from the kernel once: ids need uniqueness, not secrecy, and
 * a system call per span would be most of a span's cost. */
static _Thread_local uint64_t rng_state;
static _Thread_local bool rng_seeded;

static uint64_t next_random(void)
{
    if (!rng_seeded) {
        if (getrandom(&rng_state, sizeof rng_state, 0) != (ssize_t)sizeof rng_state)
            rng_state = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&rng_state;
        rng_seeded = true;
    }
    uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static void random_bytes(uint8_t *out, size_t n)
{
    while (n) {
        uint64_t r = next_random();
        size_t k = n < 8 ? n : 8;
        memcpy(out, &r, k);
        out += k;
        n -= k;
    }
}

static void new_span_id(uint8_t id[8])
{
    do
        random_bytes(id, 8);
    while (all_zero(id, 8));
}

/* --- the tracer -------------------------------------------------------------------------- */

typedef struct {
    char service[64];
    char url[512]; /* endpoint + /v1/traces; empty: nothing is exported */
    double sample_ratio;
    ev_metrics *metrics;
    size_t batch_max;
    int flush_ms;
    /* the queue: a ring of finished spans */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    ev_otlp_packed **ring; /* finished spans, packed, owned */
    size_t capacity, head, count;
    bool stopping;
    pthread_t thread;
    bool thread_started;
    bool failing; /* the last export failed (exporter thread only) */
} tracer;

static tracer *the_tracer; /* set once by ev_tracer_start, before other threads start */

int ev_tracer_config_load(ev_tracer_config *cfg, char *endpoint_buf, size_t n,
                          const char *(*getenv_fn)(const char *), char *err, size_t errlen)
{
    long queue = 0;
    if (ev_env_str(getenv_fn, "EVENTIFY_OTLP_ENDPOINT", "", endpoint_buf, n, err, errlen) != 0 ||
        ev_env_long(getenv_fn, "EVENTIFY_TRACE_QUEUE", 2048, 16, 1000000, &queue, err, errlen) != 0)
        return -1;
    if (endpoint_buf[0] && strncmp(endpoint_buf, "http://", 7) != 0 &&
        strncmp(endpoint_buf, "https://", 8) != 0)
        return ev_fail(err, errlen, "EVENTIFY_OTLP_ENDPOINT must be an http(s) URL, got %s",
                       endpoint_buf);
    double ratio = 1.0;
    const char *text = getenv_fn("EVENTIFY_TRACE_SAMPLE_RATIO");
    if (text && *text) {
        char *end = NULL;
        errno = 0;
        ratio = strtod(text, &end);
        if (errno || *end || end == text || !(ratio >= 0.0 && ratio <= 1.0))
            return ev_fail(err, errlen, "EVENTIFY_TRACE_SAMPLE_RATIO must be a number in [0, 1]");
    }
    cfg->endpoint = endpoint_buf;
    cfg->sample_ratio = ratio;
    cfg->queue_capacity = (size_t)queue;
    cfg->batch_max = 512;
    cfg->flush_ms = 500;
    return 0;
}

/* Takes up to max spans off the ring into out; the caller holds the lock. */
static size_t take(tracer *t, ev_otlp_packed **out, size_t max)
{
    size_t n = 0;
    while (n < max && t->count) {
        out[n++] = t->ring[t->head];
        t->head = (t->head + 1) % t->capacity;
        t->count--;
    }
    return n;
}

static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *user)
{
    (void)ptr;
    (void)user;
    return size * nmemb;
}

/* The exporter thread's reusable request body: one allocation, grown to the largest batch. */
typedef struct {
    uint8_t *p;
    size_t cap;
} request_body;

/* One OTLP/HTTP request with n spans (they stay the caller's). True when accepted. */
static bool export_batch(tracer *t, CURL *curl, request_body *body, ev_otlp_packed **spans,
                         size_t n)
{
    size_t len = ev_otlp_encode(t->service, spans, n, &body->p, &body->cap);
    if (len == 0)
        return false;
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/x-protobuf");
    curl_easy_setopt(curl, CURLOPT_URL, t->url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, (const char *)body->p);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)EXPORT_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_body);
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    bool ok = rc == CURLE_OK && status >= 200 && status <= 299;
    /* said once per outage, not per batch: the counter tells how much was lost */
    if (!ok && !t->failing)
        ev_warn("trace export to %s failed (%s, HTTP %ld); spans are dropped and counted in"
                " trace_spans_dropped_total until it works again",
                t->url, rc != CURLE_OK ? curl_easy_strerror(rc) : "refused", status);
    else if (ok && t->failing)
        ev_info("trace export to %s works again", t->url);
    t->failing = !ok;
    return ok;
}

static void *exporter_main(void *arg)
{
    tracer *t = arg;
    prctl(PR_SET_NAME, "ev-trace"); /* its CPU time can be told apart (bench/trace_share.py) */
    CURL *curl = curl_easy_init();
    ev_otlp_packed **batch = calloc(t->batch_max, sizeof(ev_otlp_packed *));
    request_body body = {0};
    int64_t stop_deadline = 0;
    for (;;) {
        pthread_mutex_lock(&t->lock);
        if (!t->stopping && t->count < t->batch_max) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += (long)t->flush_ms * 1000000L;
            until.tv_sec += until.tv_nsec / 1000000000L;
            until.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&t->wake, &t->lock, &until);
        }
        bool stopping = t->stopping;
        size_t n = batch ? take(t, batch, t->batch_max) : 0;
        pthread_mutex_unlock(&t->lock);
        if (stopping && !stop_deadline)
            stop_deadline = ev_monotonic_ms() + STOP_FLUSH_MS;
        if (n) {
            bool late = stop_deadline && ev_monotonic_ms() > stop_deadline;
            bool sent = curl && !late && export_batch(t, curl, &body, batch, n);
            for (size_t i = 0; i < n; i++)
                free(batch[i]);
            if (sent)
                ev_metrics_add(t->metrics, "trace_spans_exported_total", NULL, n);
            else
                ev_metrics_add(t->metrics, "trace_spans_dropped_total", "reason=\"export_failed\"",
                               n);
        }
        if (stopping && n == 0)
            break;
    }
    free(batch);
    free(body.p);
    if (curl)
        curl_easy_cleanup(curl);
    return NULL;
}

/* Hands a finished span to the exporter; never waits for it. */
static void enqueue(tracer *t, ev_otlp_packed *span)
{
    bool queued = false, wake = false;
    pthread_mutex_lock(&t->lock);
    if (t->count < t->capacity && !t->stopping) {
        t->ring[(t->head + t->count) % t->capacity] = span;
        t->count++;
        queued = true;
        wake = t->count == t->batch_max;
    }
    pthread_mutex_unlock(&t->lock);
    if (wake)
        pthread_cond_signal(&t->wake);
    if (!queued) {
        free(span);
        ev_metrics_add(t->metrics, "trace_spans_dropped_total", "reason=\"queue_full\"", 1);
    }
}

int ev_tracer_start(const ev_tracer_config *cfg, char *err, size_t errlen)
{
    if (the_tracer)
        return ev_fail(err, errlen, "the tracer is already started");
    tracer *t = calloc(1, sizeof *t);
    if (!t)
        return ev_fail(err, errlen, "out of memory");
    if (!ev_strlcpy(t->service, cfg->service ? cfg->service : "unknown", sizeof t->service)) {
        free(t);
        return ev_fail(err, errlen, "service name too long for the tracer");
    }
    t->sample_ratio = cfg->sample_ratio;
    t->metrics = cfg->metrics;
    t->batch_max = cfg->batch_max ? cfg->batch_max : 512;
    t->flush_ms = cfg->flush_ms > 0 ? cfg->flush_ms : 500;
    t->capacity = cfg->queue_capacity ? cfg->queue_capacity : 4096;
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->wake, NULL);
    if (cfg->endpoint && cfg->endpoint[0]) {
        const char *base = cfg->endpoint;
        size_t len = strlen(base);
        int w = snprintf(t->url, sizeof t->url, "%.*s/v1/traces",
                         (int)(len && base[len - 1] == '/' ? len - 1 : len), base);
        t->ring = calloc(t->capacity, sizeof(ev_otlp_packed *));
        if (w < 0 || (size_t)w >= sizeof t->url || !t->ring ||
            curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            free(t->ring);
            free(t);
            return ev_fail(err, errlen, "cannot start the trace exporter for %s", base);
        }
        t->thread_started = pthread_create(&t->thread, NULL, exporter_main, t) == 0;
        if (!t->thread_started) {
            free(t->ring);
            free(t);
            return ev_fail(err, errlen, "cannot start the trace exporter thread");
        }
    }
    the_tracer = t;
    return 0;
}

void ev_tracer_stop(void)
{
    tracer *t = the_tracer;
    if (!t)
        return;
    if (t->thread_started) {
        pthread_mutex_lock(&t->lock);
        t->stopping = true;
        pthread_mutex_unlock(&t->lock);
        pthread_cond_signal(&t->wake);
        pthread_join(t->thread, NULL);
        curl_global_cleanup();
    }
    the_tracer = NULL;
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->wake);
    free(t->ring);
    free(t);
}

/* --- spans ------------------------------------------------------------------------------- */

static _Thread_local const ev_trace_ctx *current;

struct ev_span {
    ev_trace_ctx ctx;
    const ev_trace_ctx *previous; /* the current context before ev_span_enter */
    bool entered;
    bool is_static;
    bool recording;     /* sampled, and a tracer exports */
    ev_otlp_span *otlp; /* what is exported of it, while recording; owned */
};

static ev_span fallback_span; /* returned when a span cannot be allocated: records nothing */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static ev_span *span_start(const char *name, ev_span_kind kind, const ev_trace_ctx *parent,
                           bool sample_roots)
{
    ev_span *s = calloc(1, sizeof *s);
    if (!s) {
        fallback_span.is_static = true;
        return &fallback_span;
    }
    bool child = ev_trace_ctx_valid(parent);
    if (child) {
        memcpy(s->ctx.trace_id, parent->trace_id, 16);
        s->ctx.sampled = parent->sampled;
    } else {
        do
            random_bytes(s->ctx.trace_id, 16);
        while (all_zero(s->ctx.trace_id, 16));
        s->ctx.sampled =
            sample_roots &&
            ev_trace_sample(s->ctx.trace_id, the_tracer ? the_tracer->sample_ratio : 1.0);
    }
    new_span_id(s->ctx.span_id);
    s->recording = s->ctx.sampled && the_tracer && the_tracer->thread_started;
    if (s->recording) {
        s->otlp = ev_otlp_span_new(s->ctx.trace_id, s->ctx.span_id, child ? parent->span_id : NULL,
                                   name, (int)kind, now_ns());
        if (!s->otlp) {
            s->recording = false;
            ev_metrics_add(the_tracer->metrics, "trace_spans_dropped_total",
                           "reason=\"out_of_memory\"", 1);
        }
    }
    return s;
}

ev_span *ev_span_start(const char *name, ev_span_kind kind, const ev_trace_ctx *parent)
{
    return span_start(name, kind, parent, true);
}

ev_span *ev_span_start_quiet(const char *name, ev_span_kind kind, const ev_trace_ctx *parent)
{
    return span_start(name, kind, parent, false);
}

const ev_trace_ctx *ev_span_context(const ev_span *s)
{
    return &s->ctx;
}

bool ev_span_recording(const ev_span *s)
{
    return s && s->recording;
}

void ev_span_attr_str(ev_span *s, const char *key, const char *value)
{
    if (ev_span_recording(s))
        ev_otlp_span_attr_str(s->otlp, key, value);
}

void ev_span_attr_int(ev_span *s, const char *key, int64_t value)
{
    if (ev_span_recording(s))
        ev_otlp_span_attr_int(s->otlp, key, value);
}

void ev_span_event(ev_span *s, const char *name, const char *str_key, const char *str_value,
                   const char *int_key, int64_t int_value)
{
    if (ev_span_recording(s))
        ev_otlp_span_event(s->otlp, now_ns(), name, str_key, str_value, int_key, int_value);
}

void ev_span_link(ev_span *s, const ev_trace_ctx *ctx)
{
    if (ev_span_recording(s) && ev_trace_ctx_valid(ctx))
        ev_otlp_span_link(s->otlp, ctx->trace_id, ctx->span_id);
}

void ev_span_error(ev_span *s, const char *message)
{
    if (ev_span_recording(s))
        ev_otlp_span_error(s->otlp, message);
}

void ev_span_enter(ev_span *s)
{
    if (s->is_static || s->entered)
        return;
    s->previous = current;
    current = &s->ctx;
    s->entered = true;
}

void ev_span_leave(ev_span *s)
{
    if (!s || !s->entered)
        return;
    if (current == &s->ctx)
        current = s->previous;
    s->entered = false;
}

void ev_span_end(ev_span *s)
{
    if (!s || s->is_static)
        return;
    ev_span_leave(s);
    if (s->recording) {
        ev_otlp_span_end(s->otlp, now_ns());
        tracer *t = the_tracer;
        bool started = t && t->thread_started;
        /* packed now, so what waits for the exporter is the bytes, not the record */
        ev_otlp_packed *packed =
            started && ev_otlp_span_ok(s->otlp) ? ev_otlp_span_pack(s->otlp) : NULL;
        ev_otlp_span_free(s->otlp);
        if (packed)
            enqueue(t, packed); /* takes it */
        else if (t)
            ev_metrics_add(t->metrics, "trace_spans_dropped_total",
                           started ? "reason=\"out_of_memory\"" : "reason=\"exporter_not_started\"",
                           1);
    }
    free(s);
}

const ev_trace_ctx *ev_trace_current(void)
{
    return current;
}

bool ev_trace_current_traceparent(char out[EV_TRACEPARENT_SIZE])
{
    if (!ev_trace_ctx_valid(current))
        return false;
    ev_traceparent_format(current, out);
    return true;
}
