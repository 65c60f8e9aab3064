/* Unit tests of tracing: W3C traceparent/tracestate parsing (hostile input included),
 * sampling, span contexts and the current context, and the OTLP/HTTP exporter against a
 * one-request HTTP listener on the loopback, plus drop counting when it cannot export. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ev/metrics.h"
#include "ev/trace.h"

#include <arpa/inet.h>
#include "otlp_trace.pb-c.h"
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static int parse(const char *text, ev_trace_ctx *out)
{
    return ev_traceparent_parse(text, strlen(text), out);
}

static void a_valid_traceparent_round_trips(void **state)
{
    (void)state;
    ev_trace_ctx ctx;
    assert_int_equal(parse(TP, &ctx), 0);
    assert_true(ctx.sampled);
    char back[EV_TRACEPARENT_SIZE], trace[EV_TRACE_ID_HEX], span[EV_SPAN_ID_HEX];
    ev_traceparent_format(&ctx, back);
    assert_string_equal(back, TP);
    ev_trace_id_hex(&ctx, trace);
    ev_span_id_hex(&ctx, span);
    assert_string_equal(trace, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(span, "00f067aa0ba902b7");
    char uuid[37];
    ev_trace_id_uuid(&ctx, uuid);
    assert_string_equal(uuid, "4bf92f35-77b3-4da6-a3ce-929d0e0e4736");

    assert_int_equal(parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", &ctx), 0);
    assert_false(ctx.sampled);
    ev_traceparent_format(&ctx, back);
    assert_string_equal(back + 52, "-00");
    /* other flag bits are kept out of the sampled decision */
    assert_int_equal(parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02", &ctx), 0);
    assert_false(ctx.sampled);
}

static void a_future_version_may_append_fields(void **state)
{
    (void)state;
    ev_trace_ctx ctx;
    assert_int_equal(
        parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-ever", &ctx), 0);
    assert_int_equal(parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &ctx), 0);
    /* but not glued on without a dash, and version 00 never has more */
    assert_int_equal(parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", &ctx), -1);
    assert_int_equal(parse(TP "-x", &ctx), -1);
}

static void hostile_traceparents_are_refused_whole(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "00",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",  /* short */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", /* upper case */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", /* forbidden version */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01", /* zero trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", /* zero span id */
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", /* separators */
        "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01", /* not hex */
        "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz",
        " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", /* shifted */
        "00-4bf92f3577b34da6a3ce929d0e0e47-3600f067aa0ba902b7-01",
        "00--4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
    };
    ev_trace_ctx ctx = {.sampled = true, .trace_id = {7}, .span_id = {7}};
    ev_trace_ctx before = ctx;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse(bad[i], &ctx), -1);
        assert_memory_equal(&ctx, &before, sizeof ctx); /* untouched */
    }
    /* a NUL inside, bytes after the end, NULL */
    char with_nul[] = TP;
    with_nul[20] = '\0';
    assert_int_equal(ev_traceparent_parse(with_nul, sizeof with_nul - 1, &ctx), -1);
    assert_int_equal(ev_traceparent_parse(NULL, 55, &ctx), -1);
    assert_int_equal(ev_traceparent_parse(TP, 54, &ctx), -1); /* length says shorter */
    /* every single-byte corruption of a valid header is refused or still parses to a
     * context that formats back to canonical text (never a half-read one) */
    for (size_t at = 0; at < 55; at++) {
        for (int c = 0; c < 256; c++) {
            char text[56];
            memcpy(text, TP, 56);
            text[at] = (char)c;
            ev_trace_ctx got;
            if (ev_traceparent_parse(text, 55, &got) == 0) {
                char back[EV_TRACEPARENT_SIZE];
                ev_traceparent_format(&got, back);
                assert_memory_equal(back + 3, text + 3, 49); /* ids as given */
            }
        }
    }
}

static void tracestate_follows_the_list_rules(void **state)
{
    (void)state;
    static const char *const good[] = {
        "rojo=00f067aa0ba902b7",
        "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
        "a=1 , b=2",
        "tenant@vendor=x",
        "",
        "a=1,,b=2",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(ev_tracestate_valid(good[i], strlen(good[i])));
    static const char *const bad[] = {
        "Rojo=1", "=1", "a=", "a", "a=1=2", "a=b,c", "a@b@c=1", "a=x\x01", "-a=1", "a=\xff",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(ev_tracestate_valid(bad[i], strlen(bad[i])));
    char many[400] = "";
    for (int i = 0; i < 33; i++) {
        char member[16];
        snprintf(member, sizeof member, "%sk%d=v", i ? "," : "", i);
        strcat(many, member);
    }
    assert_false(ev_tracestate_valid(many, strlen(many))); /* 33 members */
    char *last = strrchr(many, ',');
    *last = '\0';
    assert_true(ev_tracestate_valid(many, strlen(many))); /* 32 */
    char huge[EV_TRACESTATE_MAX + 2];
    memset(huge, 'a', sizeof huge);
    huge[1] = '=';
    huge[sizeof huge - 1] = '\0';
    assert_false(ev_tracestate_valid(huge, strlen(huge)));
    assert_false(ev_tracestate_valid(NULL, 0));
}

static void sampling_decides_by_the_trace_id(void **state)
{
    (void)state;
    uint8_t low[16] = {0}, high[16];
    memset(high, 0xff, sizeof high);
    assert_true(ev_trace_sample(low, 1.0));
    assert_false(ev_trace_sample(high, 0.0));
    assert_false(ev_trace_sample(low, 0.0));
    assert_true(ev_trace_sample(low, 0.5));
    assert_false(ev_trace_sample(high, 0.5));
    assert_true(ev_trace_sample(high, 1.0));
}

static void children_keep_the_trace_and_the_flag(void **state)
{
    (void)state;
    ev_trace_ctx parent;
    assert_int_equal(parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", &parent), 0);
    ev_span *child = ev_span_start("child", EV_SPAN_CONSUMER, &parent);
    const ev_trace_ctx *c = ev_span_context(child);
    assert_memory_equal(c->trace_id, parent.trace_id, 16);
    assert_memory_not_equal(c->span_id, parent.span_id, 8);
    assert_false(c->sampled);               /* parent-based */
    assert_false(ev_span_recording(child)); /* no tracer: contexts only */
    ev_span_end(child);

    ev_span *a = ev_span_start("a", EV_SPAN_SERVER, NULL), *b = ev_span_start("b", 1, NULL);
    assert_true(ev_trace_ctx_valid(ev_span_context(a)));
    assert_memory_not_equal(ev_span_context(a)->trace_id, ev_span_context(b)->trace_id, 16);
    assert_true(ev_span_context(a)->sampled); /* default: every new trace */
    ev_span *quiet = ev_span_start_quiet("probe", EV_SPAN_SERVER, NULL);
    assert_false(ev_span_context(quiet)->sampled);
    ev_span_end(quiet);
    ev_span_end(a);
    ev_span_end(b);
}

static void entered_spans_nest_as_the_current_context(void **state)
{
    (void)state;
    char tp[EV_TRACEPARENT_SIZE];
    assert_null(ev_trace_current());
    assert_false(ev_trace_current_traceparent(tp));
    ev_span *outer = ev_span_start("outer", EV_SPAN_SERVER, NULL);
    ev_span_enter(outer);
    assert_ptr_equal(ev_trace_current(), ev_span_context(outer));
    ev_span *inner = ev_span_start("inner", EV_SPAN_CLIENT, ev_trace_current());
    ev_span_enter(inner);
    assert_true(ev_trace_current_traceparent(tp));
    char expected[EV_TRACEPARENT_SIZE];
    ev_traceparent_format(ev_span_context(inner), expected);
    assert_string_equal(tp, expected);
    ev_span_end(inner);
    assert_ptr_equal(ev_trace_current(), ev_span_context(outer));
    ev_span_leave(outer);
    assert_null(ev_trace_current());
    ev_span_end(outer);
    assert_null(ev_trace_current());
}

/* The environment the tracer's configuration is read from, in config tests. */
static const char *env_values[3];

static const char *fake_getenv(const char *name)
{
    if (strcmp(name, "EVENTIFY_OTLP_ENDPOINT") == 0)
        return env_values[0];
    if (strcmp(name, "EVENTIFY_TRACE_SAMPLE_RATIO") == 0)
        return env_values[1];
    if (strcmp(name, "EVENTIFY_TRACE_QUEUE") == 0)
        return env_values[2];
    return NULL;
}

static int load(ev_tracer_config *cfg, char *endpoint, char *err)
{
    return ev_tracer_config_load(cfg, endpoint, 128, fake_getenv, err, 256);
}

static void config_reads_the_environment(void **state)
{
    (void)state;
    ev_tracer_config cfg;
    char endpoint[128], err[256];
    env_values[0] = "http://localhost:4718";
    env_values[1] = "0.25";
    env_values[2] = "100";
    assert_int_equal(load(&cfg, endpoint, err), 0);
    assert_string_equal(cfg.endpoint, "http://localhost:4718");
    assert_true(cfg.sample_ratio == 0.25);
    assert_int_equal(cfg.queue_capacity, 100);
    env_values[1] = "1.5";
    assert_int_equal(load(&cfg, endpoint, err), -1);
    assert_non_null(strstr(err, "EVENTIFY_TRACE_SAMPLE_RATIO"));
    env_values[1] = "0.5x";
    assert_int_equal(load(&cfg, endpoint, err), -1);
    env_values[1] = "";
    env_values[0] = "localhost:4318";
    assert_int_equal(load(&cfg, endpoint, err), -1);
    assert_non_null(strstr(err, "EVENTIFY_OTLP_ENDPOINT"));
    env_values[0] = NULL;
    env_values[2] = "3";
    assert_int_equal(load(&cfg, endpoint, err), -1);
    assert_non_null(strstr(err, "EVENTIFY_TRACE_QUEUE"));
    env_values[2] = NULL;
    assert_int_equal(load(&cfg, endpoint, err), 0);
    assert_string_equal(cfg.endpoint, "");
    assert_true(cfg.sample_ratio == 1.0);
}

/* --- the exporter against a real socket -------------------------------------------------- */

typedef struct {
    int listener;
    uint8_t *body; /* the one request's body, owned */
    size_t body_len;
    char content_type[64];
} collector;

/* Accepts one connection, reads one request with a Content-Length body, answers 200. */
static void *collect_one(void *arg)
{
    collector *c = arg;
    int fd = accept(c->listener, NULL, NULL);
    if (fd < 0)
        return NULL;
    size_t cap = 1 << 20, len = 0;
    char *buf = calloc(1, cap + 1);
    long want = -1;
    char *body = NULL;
    while (len < cap) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end && want < 0) {
            char *cl = strstr(buf, "Content-Length:");
            want = cl ? strtol(cl + 15, NULL, 10) : 0;
            body = end + 4;
        }
        if (body && (long)(len - (size_t)(body - buf)) >= want)
            break;
    }
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\n"
                             "Content-Length: 0\r\nConnection: close\r\n\r\n";
    if (write(fd, ok, sizeof ok - 1) < 0)
        perror("write");
    close(fd);
    if (body && want >= 0 && (c->body = malloc((size_t)want + 1))) {
        memcpy(c->body, body, (size_t)want);
        c->body_len = (size_t)want;
    }
    const char *type = strstr(buf, "Content-Type: ");
    if (type)
        sscanf(type + 14, "%63[^\r]", c->content_type);
    free(buf);
    return NULL;
}

static int listen_loopback(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    *port = ntohs(addr.sin_port);
    return fd;
}

static const Eventify__Otlp__AnyValue *attribute_value(Eventify__Otlp__KeyValue *const *attrs,
                                                       size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(attrs[i]->key, key) == 0)
            return attrs[i]->value;
    return NULL;
}

static void hex_of(const ProtobufCBinaryData *b, char *out)
{
    for (size_t i = 0; i < b->len; i++)
        snprintf(out + 2 * i, 3, "%02x", b->data[i]);
    out[2 * b->len] = '\0';
}

static void spans_are_exported_as_otlp_protobuf(void **state)
{
    (void)state;
    collector c = {0};
    int port;
    c.listener = listen_loopback(&port);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, collect_one, &c), 0);
    char endpoint[64], err[256];
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d/", port);
    ev_metrics *m = ev_metrics_new("test");
    ev_tracer_config cfg = {.service = "inventory",
                            .endpoint = endpoint,
                            .sample_ratio = 1.0,
                            .queue_capacity = 64,
                            .batch_max = 64,
                            .flush_ms = 50,
                            .metrics = m};
    assert_int_equal(ev_tracer_start(&cfg, err, sizeof err), 0);

    ev_trace_ctx parent, linked;
    assert_int_equal(parse(TP, &parent), 0);
    assert_int_equal(parse("00-11111111111111111111111111111111-2222222222222222-01", &linked), 0);
    ev_span *s = ev_span_start("process orders.events", EV_SPAN_CONSUMER, &parent);
    assert_true(ev_span_recording(s));
    ev_span_attr_str(s, "messaging.destination.name", "orders.events");
    ev_span_attr_int(s, "messaging.kafka.offset", 42);
    ev_span_attr_str(s, "user_agent.original", "q\"b\\s\n\x01 caf\xc3\xa9 \xff\xc3");
    ev_span_event(s, "retry", "error.message", "deadlock", "eventify.attempt", 1);
    ev_span_link(s, &linked);
    ev_span_error(s, "gave up");
    char span_id[EV_SPAN_ID_HEX];
    ev_span_id_hex(ev_span_context(s), span_id);
    ev_span_end(s);
    pthread_join(thread, NULL); /* the exporter's request has arrived */
    ev_tracer_stop();
    close(c.listener);

    assert_non_null(c.body);
    assert_string_equal(c.content_type, "application/x-protobuf");
    Eventify__Otlp__ExportTraceServiceRequest *req =
        eventify__otlp__export_trace_service_request__unpack(NULL, c.body_len, c.body);
    assert_non_null(req);
    assert_int_equal(req->n_resource_spans, 1);
    Eventify__Otlp__ResourceSpans *rs = req->resource_spans[0];
    const Eventify__Otlp__AnyValue *service =
        attribute_value(rs->resource->attributes, rs->resource->n_attributes, "service.name");
    assert_string_equal(service->string_value, "inventory");
    assert_int_equal(rs->n_scope_spans, 1);
    assert_string_equal(rs->scope_spans[0]->scope->name, "eventify");
    assert_int_equal(rs->scope_spans[0]->n_spans, 1);
    const Eventify__Otlp__Span *span = rs->scope_spans[0]->spans[0];
    char hex[33];
    hex_of(&span->trace_id, hex);
    assert_string_equal(hex, "4bf92f3577b34da6a3ce929d0e0e4736");
    hex_of(&span->parent_span_id, hex);
    assert_string_equal(hex, "00f067aa0ba902b7");
    hex_of(&span->span_id, hex);
    assert_string_equal(hex, span_id);
    assert_string_equal(span->name, "process orders.events");
    assert_int_equal(span->kind, EV_SPAN_CONSUMER);
    const Eventify__Otlp__AnyValue *offset =
        attribute_value(span->attributes, span->n_attributes, "messaging.kafka.offset");
    assert_int_equal(offset->value_case, EVENTIFY__OTLP__ANY_VALUE__VALUE_INT_VALUE);
    assert_int_equal(offset->int_value, 42);
    /* UTF-8 kept, bytes that are not UTF-8 replaced: a receiver takes the batch */
    const Eventify__Otlp__AnyValue *agent =
        attribute_value(span->attributes, span->n_attributes, "user_agent.original");
    assert_string_equal(agent->string_value, "q\"b\\s\n\x01 caf\xc3\xa9 ??");
    assert_int_equal(span->n_events, 1);
    assert_string_equal(span->events[0]->name, "retry");
    assert_int_equal(span->events[0]->n_attributes, 2);
    assert_string_equal(span->events[0]->attributes[0]->value->string_value, "deadlock");
    assert_int_equal(span->events[0]->attributes[1]->value->int_value, 1);
    assert_int_equal(span->n_links, 1);
    hex_of(&span->links[0]->span_id, hex);
    assert_string_equal(hex, "2222222222222222");
    assert_non_null(span->status);
    assert_int_equal(span->status->code, EVENTIFY__OTLP__STATUS__STATUS_CODE__STATUS_CODE_ERROR);
    assert_string_equal(span->status->message, "gave up");
    assert_true(span->start_time_unix_nano > UINT64_C(1600000000) * 1000000000u);
    assert_true(span->start_time_unix_nano <= span->end_time_unix_nano);
    eventify__otlp__export_trace_service_request__free_unpacked(req, NULL);
    free(c.body);

    char *text = ev_metrics_render(m);
    assert_non_null(strstr(text, "trace_spans_exported_total{service=\"test\"} 1"));
    free(text);
    ev_metrics_free(m);
}

/* Sums every series of name in a Prometheus text rendering. */
static long long total_of(const char *text, const char *name)
{
    long long sum = 0;
    for (const char *p = strstr(text, name); p; p = strstr(p + 1, name)) {
        const char *space = strchr(p, ' ');
        if (space && (p == text || p[-1] == '\n'))
            sum += strtoll(space + 1, NULL, 10);
    }
    return sum;
}

static void spans_that_cannot_leave_are_dropped_and_counted(void **state)
{
    (void)state;
    int port;
    int fd = listen_loopback(&port);
    close(fd); /* nothing listens there now: every export fails at once */
    char endpoint[64], err[256];
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", port);
    ev_metrics *m = ev_metrics_new("test");
    ev_tracer_config cfg = {.service = "order",
                            .endpoint = endpoint,
                            .sample_ratio = 1.0,
                            .queue_capacity = 16,
                            .batch_max = 8,
                            .flush_ms = 1000,
                            .metrics = m};
    assert_int_equal(ev_tracer_start(&cfg, err, sizeof err), 0);
    for (int i = 0; i < 100; i++) /* never waits, whatever the exporter does */
        ev_span_end(ev_span_start("s", EV_SPAN_INTERNAL, NULL));
    ev_tracer_stop();
    char *text = ev_metrics_render(m);
    assert_int_equal(total_of(text, "trace_spans_dropped_total"), 100);
    assert_non_null(strstr(text, "reason=\"queue_full\""));
    assert_null(strstr(text, "trace_spans_exported_total"));
    free(text);
    ev_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_valid_traceparent_round_trips),
        cmocka_unit_test(a_future_version_may_append_fields),
        cmocka_unit_test(hostile_traceparents_are_refused_whole),
        cmocka_unit_test(tracestate_follows_the_list_rules),
        cmocka_unit_test(sampling_decides_by_the_trace_id),
        cmocka_unit_test(children_keep_the_trace_and_the_flag),
        cmocka_unit_test(entered_spans_nest_as_the_current_context),
        cmocka_unit_test(config_reads_the_environment),
        cmocka_unit_test(spans_are_exported_as_otlp_protobuf),
        cmocka_unit_test(spans_that_cannot_leave_are_dropped_and_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
