/* eventifyctl: operator commands for the running stack.
 *
 *   eventifyctl dlq list [DLQ_TOPIC...]              dead letters with origin and reason
 *   eventifyctl dlq show DLQ_TOPIC PARTITION OFFSET  one letter, headers and value
 *   eventifyctl dlq replay DLQ_TOPIC PARTITION OFFSET
 *   eventifyctl dlq replay DLQ_TOPIC --all           back to the consumer that failed them
 *   eventifyctl topology                             the topology table as JSON
 *
 * topology prints the services and topics of libs/src/topology.c; its output is committed
 * as infra/topology.json (`make topology`), which the scripts and Python tests read.
 * list and show read Kafka at EVENTIFY_KAFKA_BROKERS (localhost:9092 + EVENTIFY_PORT_OFFSET).
 * replay changes state, so it goes through the read model's POST /api/dlq/replay at
 * EVENTIFY_READ_MODEL_URL (http://localhost:<the read model's port> + offset) with the admin token
 * read from EVENTIFY_ADMIN_TOKEN_FILE (default .run/secrets/admin-token, or under
 * EVENTIFY_RUN_DIR): the read model checks the token, scopes the replay and records it. */
#include "ev/admin.h"
#include "ev/dlq.h"
#include "ev/log.h"
#include "ev/topology.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ulfius.h>

#define REPLAY_TIMEOUT_S 120

static int usage(void)
{
    fputs("usage: eventifyctl dlq list [DLQ_TOPIC...]\n"
          "       eventifyctl dlq show DLQ_TOPIC PARTITION OFFSET\n"
          "       eventifyctl dlq replay DLQ_TOPIC (PARTITION OFFSET | --all)\n"
          "       eventifyctl topology\n",
          stderr);
    return 2;
}

/* EVENTIFY_PORT_OFFSET as the stack reads it; 0 when unset or not a number in range. */
static int port_offset(void)
{
    const char *text = getenv("EVENTIFY_PORT_OFFSET");
    char *end;
    long v = text ? strtol(text, &end, 10) : 0;
    return text && *text && !*end && v >= 0 && v < 50000 ? (int)v : 0;
}

static void print_row(const json_t *l)
{
    const char *error = json_string_value(json_object_get(l, "error"));
    const char *origin = json_string_value(json_object_get(l, "originTopic"));
    /* a cut letter is not the message that failed: replay refuses it, so say so up front */
    bool cut = json_is_true(json_object_get(l, "cut"));
    printf("%-18s %3lld %8lld  %-24s %3lld  %s%s\n", json_string_value(json_object_get(l, "topic")),
           (long long)json_integer_value(json_object_get(l, "partition")),
           (long long)json_integer_value(json_object_get(l, "offset")), origin ? origin : "?",
           (long long)json_integer_value(json_object_get(l, "attempts")),
           cut ? "[cut, not replayable] " : "", error ? error : "");
}

/* Prints every letter of topic (NULL: every DLQ) a page at a time; returns the count or -1. */
static int list_topic(ev_dlq_reader *r, const char *topic)
{
    char cursor[EV_DLQ_CURSOR_LEN] = "", next[EV_DLQ_CURSOR_LEN], err[512];
    int total = 0;
    do {
        bool bad_input = false;
        json_t *page =
            ev_dlq_page(r, topic, cursor, EV_DLQ_PAGE_MAX, next, &bad_input, err, sizeof err);
        if (!page) {
            fprintf(stderr, "eventifyctl: %s\n", err);
            return -1;
        }
        for (size_t i = 0; i < json_array_size(page); i++)
            print_row(json_array_get(page, i));
        total += (int)json_array_size(page);
        json_decref(page);
        memcpy(cursor, next, sizeof cursor);
    } while (cursor[0]);
    return total;
}

static int list(ev_dlq_reader *r, int argc, char **argv)
{
    printf("%-18s %3s %8s  %-24s %3s  %s\n", "DLQ", "P", "OFFSET", "ORIGIN", "TRY", "ERROR");
    int total = 0;
    for (int i = 0; i < (argc ? argc : 1); i++) {
        int n = list_topic(r, argc ? argv[i] : NULL);
        if (n < 0)
            return 1;
        total += n;
    }
    printf("%d dead letter(s)\n", total);
    return 0;
}

static int parse_position(const char *p, const char *o, long *partition, long long *offset)
{
    char *end1, *end2;
    *partition = strtol(p, &end1, 10);
    *offset = strtoll(o, &end2, 10);
    return (!*p || !*o || *end1 || *end2 || *partition < 0 ||
            *partition >= ev_topology_max_partitions() || *offset < 0)
               ? -1
               : 0;
}

static int show(ev_dlq_reader *r, int argc, char **argv)
{
    long partition;
    long long offset;
    char err[512];
    bool missing = false;
    if (argc != 3 || parse_position(argv[1], argv[2], &partition, &offset) != 0)
        return usage();
    if (!ev_dlq_known(argv[0])) {
        fprintf(stderr, "eventifyctl: %s is not a DLQ topic\n", argv[0]);
        return 1;
    }
    json_t *letter = ev_dlq_get(r, argv[0], (int32_t)partition, offset, &missing, err, sizeof err);
    if (!letter) {
        fprintf(stderr, "eventifyctl: %s\n", err);
        return 1;
    }
    char *text = json_dumps(letter, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    puts(text ? text : "{}");
    free(text);
    json_decref(letter);
    return 0;
}

/* ev_admin_load's view of the environment: the token file defaults to the run folder's. */
static const char *token_env(const char *name)
{
    static char default_file[4096];
    const char *value = getenv(name);
    if (value && *value)
        return value;
    if (strcmp(name, "EVENTIFY_ADMIN_TOKEN_FILE") != 0 || getenv("EVENTIFY_ADMIN_TOKEN"))
        return NULL;
    const char *run = getenv("EVENTIFY_RUN_DIR");
    int n = snprintf(default_file, sizeof default_file, "%s/secrets/admin-token",
                     run && *run ? run : ".run");
    return n > 0 && (size_t)n < sizeof default_file ? default_file : NULL;
}

/* POSTs body to the read model with the token; prints the outcome. Returns the exit code. */
static int post_replay(const char *base_url, const ev_admin *admin, json_t *body)
{
    char url[1024], bearer[EV_ADMIN_TOKEN_MAX + 16];
    if ((size_t)snprintf(url, sizeof url, "%s/api/dlq/replay", base_url) >= sizeof url) {
        fputs("eventifyctl: EVENTIFY_READ_MODEL_URL is too long\n", stderr);
        return 1;
    }
    snprintf(bearer, sizeof bearer, "Bearer %s", admin->token);
    struct _u_request req;
    struct _u_response resp;
    ulfius_init_request(&req);
    ulfius_init_response(&resp);
    ulfius_set_request_properties(&req, U_OPT_HTTP_VERB, "POST", U_OPT_HTTP_URL, url, U_OPT_TIMEOUT,
                                  (unsigned long)REPLAY_TIMEOUT_S, U_OPT_HEADER_PARAMETER,
                                  "Authorization", bearer, U_OPT_HEADER_PARAMETER,
                                  "X-Eventify-Client", "eventifyctl", U_OPT_HEADER_PARAMETER,
                                  "User-Agent", "eventifyctl/1", U_OPT_JSON_BODY, body, U_OPT_NONE);
    int rc = 1;
    if (ulfius_send_http_request(&req, &resp) != U_OK) {
        fprintf(stderr, "eventifyctl: the read model at %s cannot be reached\n", base_url);
    } else {
        json_t *answer = ulfius_get_json_body_response(&resp, NULL);
        const char *message =
            json_string_value(json_object_get(json_object_get(answer, "error"), "message"));
        if (resp.status == 200) {
            json_int_t skipped = json_integer_value(json_object_get(answer, "notReplayable"));
            const char *reason = json_string_value(json_object_get(answer, "reason"));
            printf("replayed %lld letter(s) from %s\n",
                   (long long)json_integer_value(json_object_get(answer, "replayed")),
                   json_string_value(json_object_get(body, "topic")));
            if (skipped > 0) /* still a success: they can never be replayed as they are */
                fprintf(
                    stderr,
                    "eventifyctl: %lld letter(s) cannot be replayed as they are (the first %s)\n",
                    (long long)skipped, reason ? reason : "no reason given");
            rc = 0;
        } else {
            fprintf(stderr, "eventifyctl: replay refused (HTTP %ld): %s\n", resp.status,
                    message ? message : "no reason given");
        }
        json_decref(answer);
    }
    ulfius_clean_request(&req);
    ulfius_clean_response(&resp);
    return rc;
}

static int replay(int argc, char **argv)
{
    long partition = 0;
    long long offset = -1;
    bool all = argc == 2 && strcmp(argv[1], "--all") == 0;
    if (!all && (argc != 3 || parse_position(argv[1], argv[2], &partition, &offset) != 0))
        return usage();
    ev_admin admin;
    char err[512], default_url[64];
    if (ev_admin_load(&admin, token_env, err, sizeof err) != 0) {
        fprintf(stderr, "eventifyctl: %s\n", err);
        return 1;
    }
    const char *base_url = getenv("EVENTIFY_READ_MODEL_URL");
    if (!base_url || !*base_url) {
        snprintf(default_url, sizeof default_url, "http://localhost:%d",
                 ev_topology_service_named("read-model")->http_port + port_offset());
        base_url = default_url;
    }
    json_t *body = all ? json_pack("{s:s, s:b}", "topic", argv[0], "all", 1)
                       : json_pack("{s:s, s:I, s:I}", "topic", argv[0], "partition",
                                   (json_int_t)partition, "offset", (json_int_t)offset);
    int rc = post_replay(base_url, &admin, body);
    json_decref(body);
    return rc;
}

/* Prints the topology table as JSON, keys in the table's order, ending with a newline. */
static int topology(void)
{
    json_t *table = ev_topology_json();
    char *text = table ? json_dumps(table, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(table);
    if (!text) {
        fputs("eventifyctl: out of memory\n", stderr);
        return 1;
    }
    int rc = printf("%s\n", text) < 0 || fflush(stdout) != 0 ? 1 : 0;
    free(text);
    return rc;
}

int main(int argc, char **argv)
{
    ev_log_setup("eventifyctl", EV_LOG_WARN, NULL);
    if (argc == 2 && strcmp(argv[1], "topology") == 0)
        return topology();
    char default_brokers[64];
    const char *brokers = getenv("EVENTIFY_KAFKA_BROKERS");
    if (!brokers || !*brokers) {
        snprintf(default_brokers, sizeof default_brokers, "localhost:%d", 9092 + port_offset());
        brokers = default_brokers;
    }
    if (argc < 3 || strcmp(argv[1], "dlq") != 0)
        return usage();
    if (strcmp(argv[2], "replay") == 0)
        return replay(argc - 3, argv + 3);
    if (strcmp(argv[2], "list") != 0 && strcmp(argv[2], "show") != 0)
        return usage();
    char err[512];
    ev_dlq_reader *r = ev_dlq_reader_new(brokers, err, sizeof err);
    if (!r) {
        fprintf(stderr, "eventifyctl: %s\n", err);
        return 1;
    }
    int rc =
        strcmp(argv[2], "list") == 0 ? list(r, argc - 3, argv + 3) : show(r, argc - 3, argv + 3);
    ev_dlq_reader_free(r);
    return rc;
}
