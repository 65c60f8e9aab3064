/* A probe run by tests/system/test_producer_fatal.py against the real Kafka and PostgreSQL:
 * the outbox relay keeps publishing, nothing lost, after the idempotent producer hits a
 * fatal error (librdkafka 2.0.2 can raise one after broker failures; here
 * rd_kafka_test_fatal_error() raises it on demand).
 *
 *   producer-fatal-probe CONNINFO BROKERS TOPIC COUNT
 *
 * CONNINFO names a schema of its own (options=-csearch_path=...), where the probe applies
 * the runtime's migrations (outbox, inbox) and writes COUNT events for TOPIC, each with its
 * own key. Then: one relay pass publishes half of them; the producer is made fatal; the next
 * pass must deliver nothing, report every row as failed and leave a new librdkafka handle
 * behind; passes go on until every row is published. Prints one line of JSON with what
 * happened; the test compares the topic with the outbox. Exits 1 on any deviation. */
#include "ev/envelope.h"
#include "ev/kafka.h"
#include "ev/log.h"
#include "ev/metrics.h"
#include "ev/outbox.h"
#include "ev/pg.h"
#include "ev/util.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int before_fatal;    /* rows published by the pass before the fatal error */
    int at_fatal;        /* rows published by the pass that met it */
    int failed_at_fatal; /* rows that pass reported as not delivered */
    int after_fatal;     /* rows published by the passes after it */
    int passes_after;    /* how many passes that took */
    bool replaced;       /* the producer's handle changed */
} outcome;

static int fail(const char *what, const char *why)
{
    fprintf(stderr, "producer-fatal-probe: %s: %s\n", what, why);
    return 1;
}

/* COUNT events for topic in the outbox, committed, keys probe-0 ... probe-(COUNT-1). */
static int write_events(PGconn *c, const char *topic, int count, char *err, size_t errlen)
{
    if (ev_pg_exec(c, "BEGIN", 0, NULL, err, errlen))
        return -1;
    for (int i = 0; i < count; i++) {
        char key[32];
        snprintf(key, sizeof key, "probe-%d", i);
        ev_envelope e = {0};
        char correlation[EV_UUID_LEN];
        ev_uuid_new(correlation);
        json_t *payload = json_pack("{s:s, s:i}", "orderId", key, "n", i);
        if (ev_envelope_init(&e, "ProbeEvent", 1, "producer-fatal-probe", correlation, payload) ||
            ev_outbox_add(c, topic, key, &e, NULL, err, errlen)) {
            ev_envelope_clear(&e);
            PQclear(PQexec(c, "ROLLBACK"));
            return -1;
        }
        ev_envelope_clear(&e);
    }
    return ev_pg_exec(c, "COMMIT", 0, NULL, err, errlen);
}

static int run(PGconn *c, const ev_relay_config *cfg, int count, outcome *out)
{
    int failed = 0;
    bool more = false; /* the passes run until the count is reached, whatever the window */
    out->before_fatal = ev_relay_publish_once(c, cfg, &failed, &more);
    if (out->before_fatal != cfg->batch_size || failed)
        return fail("first pass", "did not publish a full batch");

    rd_kafka_t *before = ev_producer_handle(cfg->producer);
    rd_kafka_test_fatal_error(before, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                              "probe: sequence desynchronization");
    out->at_fatal = ev_relay_publish_once(c, cfg, &out->failed_at_fatal, &more);
    out->replaced = ev_producer_handle(cfg->producer) != before;

    time_t deadline = time(NULL) + 60;
    while (out->before_fatal + out->at_fatal + out->after_fatal < count) {
        if (time(NULL) > deadline)
            return fail("after the fatal error", "the outbox did not drain within 60 s");
        int n = ev_relay_publish_once(c, cfg, &failed, &more);
        if (n < 0)
            return fail("relay pass", "database error");
        out->after_fatal += n;
        out->passes_after++;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 5 || atoi(argv[4]) < 2)
        return fail("usage", "producer-fatal-probe CONNINFO BROKERS TOPIC COUNT(>=2)");
    const char *conninfo = argv[1], *brokers = argv[2], *topic = argv[3];
    int count = atoi(argv[4]);
    char err[512];

    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        int rc = fail("PostgreSQL", PQerrorMessage(c));
        PQfinish(c);
        return rc;
    }
    ev_producer *producer = ev_producer_new(brokers, "producer-fatal-probe", err, sizeof err);
    ev_metrics *metrics = ev_metrics_new("producer-fatal-probe");
    /* The runtime's tables only: an empty directory of service migrations. */
    char no_migrations[] = "/tmp/producer-fatal-probe-XXXXXX";
    bool have_dir = mkdtemp(no_migrations) != NULL;
    int rc = 1;
    outcome out = {0};
    if (!producer || !metrics || !have_dir)
        rc = fail("setup", !producer ? err : have_dir ? "out of memory" : "mkdtemp failed");
    else if (ev_pg_migrate(c, ev_runtime_migrations, ev_runtime_migration_count, no_migrations, err,
                           sizeof err) < 0 ||
             write_events(c, topic, count, err, sizeof err))
        rc = fail("outbox", err);
    else {
        ev_relay_config cfg = {.conninfo = conninfo,
                               .producer = producer,
                               .metrics = metrics,
                               .batch_size = count / 2};
        rc = run(c, &cfg, count, &out);
    }
    printf("{\"beforeFatal\": %d, \"atFatal\": %d, \"failedAtFatal\": %d, \"afterFatal\": %d,"
           " \"passesAfter\": %d, \"replaced\": %s}\n",
           out.before_fatal, out.at_fatal, out.failed_at_fatal, out.after_fatal, out.passes_after,
           out.replaced ? "true" : "false");
    if (have_dir)
        rmdir(no_migrations);
    ev_producer_free(producer);
    ev_metrics_free(metrics);
    PQfinish(c);
    return rc;
}
