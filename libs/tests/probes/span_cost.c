/* A probe run by bench/trace_share.py: what recording one span costs the thread that handles
 * the message, the part of tracing that runs on the event path (the exporter thread and the
 * trace backend are measured in the stack). It records COUNT spans shaped as the worker's
 * consumer span (parent context, ten attributes, entered and ended) under a tracer whose
 * exporter sends to ENDPOINT, and prints that thread's CPU time per span:
 *
 *   span-cost-probe ENDPOINT COUNT
 *
 * Prints one line of JSON ({"spans":N,"cpuNsPerSpan":X,"queueFull":false}); exits 1 when the
 * tracer cannot start. The queue holds every span, so that none is freed on the calling
 * thread as a drop, which would not happen in a stack whose exporter keeps up (queueFull says
 * whether one was). ENDPOINT may refuse connections: the exporter thread's work is not what
 * is measured. */
#include "ev/metrics.h"
#include "ev/trace.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The worker's consumer span for one message (libs/src/worker.c): same names, same sizes. */
static void one_span(const ev_trace_ctx *parent, long i)
{
    char name[96], partition[24], key[64], id[64];
    snprintf(name, sizeof name, "process %s", "orders.events");
    ev_span *span = ev_span_start(name, EV_SPAN_CONSUMER, parent);
    if (ev_span_recording(span)) {
        snprintf(partition, sizeof partition, "%ld", i % 3);
        snprintf(key, sizeof key, "01a21c60-4181-7294-99df-%012ld", i);
        snprintf(id, sizeof id, "01a21c60-4181-7aae-bc47-%012ld", i);
        ev_span_attr_str(span, "messaging.system", "kafka");
        ev_span_attr_str(span, "messaging.operation.type", "process");
        ev_span_attr_str(span, "messaging.destination.name", "orders.events");
        ev_span_attr_str(span, "messaging.destination.partition.id", partition);
        ev_span_attr_int(span, "messaging.kafka.offset", i);
        ev_span_attr_str(span, "messaging.consumer.group.name", "payment");
        ev_span_attr_str(span, "messaging.kafka.message.key", key);
        ev_span_attr_str(span, "messaging.message.id", id);
        ev_span_attr_str(span, "eventify.event.type", "OrderPlaced");
        ev_span_attr_str(span, "eventify.correlation_id", key);
    }
    ev_span_enter(span);
    ev_span_leave(span);
    ev_span_end(span);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: span-cost-probe ENDPOINT COUNT\n");
        return 2;
    }
    long count = strtol(argv[2], NULL, 10);
    if (count <= 0)
        return 2;
    ev_metrics *m = ev_metrics_new("span-cost-probe");
    ev_tracer_config cfg = {.service = "span-cost-probe",
                            .endpoint = argv[1],
                            .sample_ratio = 1.0,
                            .queue_capacity = (size_t)count + 1,
                            .batch_max = 512,
                            .flush_ms = 500,
                            .metrics = m};
    char err[256];
    if (!m || ev_tracer_start(&cfg, err, sizeof err) != 0) {
        fprintf(stderr, "span-cost-probe: %s\n", m ? err : "out of memory");
        return 1;
    }
    static const char traceparent[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    ev_trace_ctx parent;
    if (ev_traceparent_parse(traceparent, sizeof traceparent - 1, &parent) != 0) {
        fprintf(stderr, "span-cost-probe: the parent context does not parse\n");
        ev_tracer_stop();
        ev_metrics_free(m);
        return 1;
    }
    for (long i = 0; i < count / 10; i++) /* warm: caches, the allocator's free lists */
        one_span(&parent, i);
    int64_t start = thread_cpu_ns();
    for (long i = 0; i < count; i++)
        one_span(&parent, i);
    int64_t used = thread_cpu_ns() - start;
    ev_tracer_stop();
    char *text = ev_metrics_render(m);
    bool queue_full = text && strstr(text, "reason=\"queue_full\"");
    printf("{\"spans\":%ld,\"cpuNsPerSpan\":%.1f,\"queueFull\":%s}\n", count,
           (double)used / (double)count, queue_full ? "true" : "false");
    free(text);
    ev_metrics_free(m);
    return 0;
}
