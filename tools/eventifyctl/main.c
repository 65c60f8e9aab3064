/* eventifyctl: operator commands for the running stack.
 *
 *   eventifyctl dlq list [DLQ_TOPIC...]              dead letters with origin and reason
 *   eventifyctl dlq show DLQ_TOPIC PARTITION OFFSET  one letter, headers and value
 *   eventifyctl dlq replay DLQ_TOPIC PARTITION OFFSET
 *   eventifyctl dlq replay DLQ_TOPIC --all           back to their origin topics
 *
 * Kafka is reached at EVENTIFY_KAFKA_BROKERS (localhost:9092). */
#include "ev/config.h"
#include "ev/dlq.h"
#include "ev/kafka.h"
#include "ev/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
    fputs("usage: eventifyctl dlq list [DLQ_TOPIC...]\n"
          "       eventifyctl dlq show DLQ_TOPIC PARTITION OFFSET\n"
          "       eventifyctl dlq replay DLQ_TOPIC (PARTITION OFFSET | --all)\n",
          stderr);
    return 2;
}

static int print_row(json_t *l, void *user)
{
    (void)user;
    const char *error = json_string_value(json_object_get(l, "error"));
    printf("%-18s %3lld %8lld  %-24s %3lld  %s\n", json_string_value(json_object_get(l, "topic")),
           (long long)json_integer_value(json_object_get(l, "partition")),
           (long long)json_integer_value(json_object_get(l, "offset")),
           json_string_value(json_object_get(l, "originTopic"))
               ? json_string_value(json_object_get(l, "originTopic"))
               : "?",
           (long long)json_integer_value(json_object_get(l, "attempts")), error ? error : "");
    json_decref(l);
    return 0;
}

static int list(const char *brokers, int argc, char **argv)
{
    printf("%-18s %3s %8s  %-24s %3s  %s\n", "DLQ", "P", "OFFSET", "ORIGIN", "TRY", "ERROR");
    int total = 0;
    for (int i = 0; argc ? i < argc : ev_dlq_topics[i] != NULL; i++) {
        const char *topic = argc ? argv[i] : ev_dlq_topics[i];
        char err[512];
        int n = ev_dlq_scan(brokers, topic, print_row, NULL, err, sizeof err);
        if (n < 0) {
            fprintf(stderr, "eventifyctl: %s\n", err);
            return 1;
        }
        total += n;
    }
    printf("%d dead letter(s)\n", total);
    return 0;
}

typedef struct {
    long partition;
    long long offset;
    int found;
} show_ctx;

static int print_letter(json_t *l, void *user)
{
    show_ctx *s = user;
    if (json_integer_value(json_object_get(l, "partition")) == s->partition &&
        json_integer_value(json_object_get(l, "offset")) == s->offset) {
        char *text = json_dumps(l, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        puts(text ? text : "{}");
        free(text);
        s->found = 1;
    }
    json_decref(l);
    return 0;
}

static int parse_position(const char *p, const char *o, long *partition, long long *offset)
{
    char *end1, *end2;
    *partition = strtol(p, &end1, 10);
    *offset = strtoll(o, &end2, 10);
    return (*end1 || *end2 || *partition < 0 || *offset < 0) ? -1 : 0;
}

static int show(const char *brokers, int argc, char **argv)
{
    show_ctx s = {0};
    char err[512];
    if (argc != 3 || parse_position(argv[1], argv[2], &s.partition, &s.offset) != 0)
        return usage();
    if (ev_dlq_scan(brokers, argv[0], print_letter, &s, err, sizeof err) < 0) {
        fprintf(stderr, "eventifyctl: %s\n", err);
        return 1;
    }
    if (!s.found)
        fprintf(stderr, "eventifyctl: no letter at %s[%ld]@%lld\n", argv[0], s.partition, s.offset);
    return s.found ? 0 : 1;
}

static int replay(const char *brokers, int argc, char **argv)
{
    long partition = 0;
    long long offset = -1;
    bool all = argc == 2 && strcmp(argv[1], "--all") == 0;
    if (!all && (argc != 3 || parse_position(argv[1], argv[2], &partition, &offset) != 0))
        return usage();
    char err[512];
    ev_producer *p = ev_producer_new(brokers, "eventifyctl", err, sizeof err);
    if (!p) {
        fprintf(stderr, "eventifyctl: %s\n", err);
        return 1;
    }
    int n =
        ev_dlq_replay(brokers, p, argv[0], (int32_t)partition, all ? -1 : offset, err, sizeof err);
    ev_producer_free(p);
    if (n < 0) {
        fprintf(stderr, "eventifyctl: %s\n", err);
        return 1;
    }
    printf("replayed %d letter(s) from %s\n", n, argv[0]);
    return 0;
}

int main(int argc, char **argv)
{
    ev_log_setup("eventifyctl", EV_LOG_WARN, NULL);
    const char *brokers = getenv("EVENTIFY_KAFKA_BROKERS");
    if (!brokers || !*brokers)
        brokers = "localhost:9092";
    if (argc < 3 || strcmp(argv[1], "dlq") != 0)
        return usage();
    if (strcmp(argv[2], "list") == 0)
        return list(brokers, argc - 3, argv + 3);
    if (strcmp(argv[2], "show") == 0)
        return show(brokers, argc - 3, argv + 3);
    if (strcmp(argv[2], "replay") == 0)
        return replay(brokers, argc - 3, argv + 3);
    return usage();
}
