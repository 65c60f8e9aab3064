/* Outbox, inbox and relay; see ev/outbox.h. */
#include "ev/outbox.h"
#include "ev/events.h"
#include "ev/log.h"
#include "ev/trace.h"
#include "ev/util.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define RELAY_BACKOFF_MAX_MS 5000
#define RELAY_BACKLOG_EVERY_MS 1000
/* Under load every committed transaction wakes the relay; a pass per wake-up would cost a
 * commit (a WAL flush) and two round trips for one or two rows. Passes started by a wake-up
 * are at least this far apart, so the wake-ups of a busy moment coalesce into one batch; an
 * idle relay (passes rarer than this) adds no delay. */
#define RELAY_MIN_PASS_GAP_MS 5
/* The relay deletes a row once Kafka acknowledged it. Rows marked published_at by relays
 * before that (the column is kept for them) are deleted an hour later in small batches. */
/* The relay's session. The outbox churns: every row is deleted soon after its insert, and a
 * vacuum truncates the emptied table to no pages at all. Planned from those statistics, the
 * relay's statements (prepared, so planned once) read the whole table, which between two
 * vacuums holds thousands of dead rows, on every pass. Its indexes always find the few live
 * rows, whatever the values, so the plan made once is kept (without force_generic_plan,
 * PostgreSQL kept planning the batch query anew on a third of the passes). A statement with no
 * index to use (the backlog's count, now that the primary key is the outbox's only index) still
 * scans the table, at the cost the planner gives a disabled path; that cost is above JIT's
 * threshold, and compiling it took 30 ms a call, so the relay's session never compiles. */
#define RELAY_SESSION_SQL                                                                          \
    "SET enable_seqscan = off; SET plan_cache_mode = force_generic_plan; SET jit = off"
#define RELAY_PRUNE_EVERY_MS 60000
#define RELAY_PRUNE_SQL                                                                            \
    "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE published_at < now() - "          \
    "interval '1 hour' ORDER BY id LIMIT 5000)"

static const char runtime_sql[] =
    "CREATE TABLE outbox ("
    "  id           bigserial PRIMARY KEY,"
    "  aggregate_id text NOT NULL,"
    "  topic        text NOT NULL,"
    "  event_id     uuid NOT NULL UNIQUE,"
    "  event_type   text NOT NULL,"
    "  message      text NOT NULL," /* the serialized envelope, published byte for byte */
    "  causation_id text,"
    "  traceparent  text NOT NULL,"
    "  created_at   timestamptz NOT NULL DEFAULT now(),"
    "  published_at timestamptz);"
    "CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;"
    "CREATE INDEX outbox_unpublished_by_aggregate ON outbox (aggregate_id, id)"
    "  WHERE published_at IS NULL;"
    "CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS"
    "  $$BEGIN PERFORM pg_notify('outbox', ''); RETURN NULL; END$$;"
    "CREATE TRIGGER outbox_notify AFTER INSERT ON outbox"
    "  FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();"
    "CREATE TABLE inbox ("
    "  event_id     uuid PRIMARY KEY,"
    "  event_type   text NOT NULL,"
    "  topic        text NOT NULL,"
    "  partition    integer NOT NULL,"
    "  \"offset\"     bigint NOT NULL,"
    "  processed_at timestamptz NOT NULL DEFAULT now());";

/* The relay picks its batch from a window of the oldest rows (select_batch_sql), so the index
 * by aggregate that the former NOT EXISTS query walked only cost every outbox insert a fourth
 * index entry. */
static const char drop_aggregate_index_sql[] =
    "DROP INDEX IF EXISTS outbox_unpublished_by_aggregate;";

/* The relay is woken by its own process's writers (ev_wake), not by a NOTIFY from every
 * transaction that writes the outbox: see ev_wake in ev/outbox.h. */
static const char drop_notify_trigger_sql[] =
    "DROP TRIGGER IF EXISTS outbox_notify ON outbox; DROP FUNCTION IF EXISTS outbox_notify();";

/* The relay deletes what Kafka acknowledged, so every row of the outbox is unpublished and the
 * partial index by id was a second copy of the primary key. The event id is minted with the
 * row (ev_envelope_init) and nothing looks a row up by it; consumers deduplicate by it in
 * their inbox. Each index cost every outbox insert (five per order) an entry, the event id's
 * one at a random leaf page. */
static const char lean_outbox_sql[] =
    "DROP INDEX IF EXISTS outbox_unpublished;"
    " ALTER TABLE outbox DROP CONSTRAINT IF EXISTS outbox_event_id_key;";

const ev_migration ev_runtime_migrations[] = {
    {"000_eventify_runtime", runtime_sql},
    {"001_outbox_without_aggregate_index", drop_aggregate_index_sql},
    {"002_outbox_without_notify", drop_notify_trigger_sql},
    {"003_outbox_primary_key_only", lean_outbox_sql},
};
const size_t ev_runtime_migration_count =
    sizeof ev_runtime_migrations / sizeof *ev_runtime_migrations;

/* The row's columns, as the outbox INSERT takes them; message and traceparent are written
 * into the caller's buffers (message allocated, the caller frees it). */
static int outbox_row(const char *topic, const char *aggregate_id, const ev_envelope *e,
                      const char *causation_id, char **message,
                      char traceparent[EV_TRACEPARENT_SIZE], const char *row[EV_OUTBOX_COLUMNS],
                      char *err, size_t errlen)
{
    *message = ev_envelope_serialize(e);
    if (!*message)
        return ev_fail(err, errlen, "cannot serialize %s", e->event_type);
    ev_outbox_traceparent(e->correlation_id, traceparent);
    const char *values[EV_OUTBOX_COLUMNS] = {aggregate_id, topic,        e->event_id, e->event_type,
                                             *message,     causation_id, traceparent};
    memcpy(row, values, sizeof values);
    return 0;
}

int ev_outbox_add(PGconn *tx, const char *topic, const char *aggregate_id, const ev_envelope *e,
                  const char *causation_id, char *err, size_t errlen)
{
    char *message;
    char traceparent[EV_TRACEPARENT_SIZE];
    const char *params[EV_OUTBOX_COLUMNS];
    if (outbox_row(topic, aggregate_id, e, causation_id, &message, traceparent, params, err,
                   errlen) != 0)
        return -1;
    int rc = ev_pg_exec(tx,
                        "INSERT INTO outbox (aggregate_id, topic, event_id, event_type, message,"
                        " causation_id, traceparent) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        EV_OUTBOX_COLUMNS, params, err, errlen);
    free(message);
    return rc;
}

/* The event ev_emit writes: its topic and key from the catalog and payload.orderId, its
 * envelope built. Takes ownership of payload; on success e is to be cleared by the caller. */
static int build_event(const char *producer, const char *correlation_id, const char *event_type,
                       int version, json_t *payload, ev_envelope *e, const char **topic,
                       const char **order_id, char *err, size_t errlen)
{
    *topic = ev_topic_of(event_type);
    *order_id = json_string_value(json_object_get(payload, "orderId"));
    if (!*topic || !*order_id) {
        json_decref(payload);
        return ev_fail(err, errlen, "cannot emit %s: unknown type or no orderId", event_type);
    }
    if (ev_envelope_init(e, event_type, version, producer, correlation_id, payload) != 0)
        return ev_fail(err, errlen, "cannot build %s", event_type);
    return 0;
}

static int emit(PGconn *tx, const char *producer, const char *correlation_id,
                const char *causation_id, const char *event_type, int version, json_t *payload,
                char *err, size_t errlen)
{
    ev_envelope e;
    const char *topic, *order_id;
    if (build_event(producer, correlation_id, event_type, version, payload, &e, &topic, &order_id,
                    err, errlen) != 0)
        return -1;
    int rc = ev_outbox_add(tx, topic, order_id, &e, causation_id, err, errlen);
    ev_envelope_clear(&e);
    return rc;
}

int ev_outbox_rows_emit(ev_outbox_rows *rows, const char *producer, const ev_envelope *cause,
                        const char *event_type, int version, json_t *payload, char *err,
                        size_t errlen)
{
    if (rows->count == rows->capacity) {
        size_t capacity = rows->capacity ? 2 * rows->capacity : 8;
        char **cells = realloc(rows->cells, capacity * EV_OUTBOX_COLUMNS * sizeof *cells);
        if (!cells) {
            json_decref(payload);
            return ev_fail(err, errlen, "out of memory");
        }
        rows->cells = cells;
        rows->capacity = capacity;
    }
    ev_envelope e;
    const char *topic, *order_id;
    if (build_event(producer, cause->correlation_id, event_type, version, payload, &e, &topic,
                    &order_id, err, errlen) != 0)
        return -1;
    char *message = NULL;
    char traceparent[EV_TRACEPARENT_SIZE];
    const char *row[EV_OUTBOX_COLUMNS] = {0};
    int rc =
        outbox_row(topic, order_id, &e, cause->event_id, &message, traceparent, row, err, errlen);
    char **cells = rows->cells + rows->count * EV_OUTBOX_COLUMNS;
    bool copied = rc == 0;
    for (size_t c = 0; c < EV_OUTBOX_COLUMNS; c++) {
        cells[c] = copied && row[c] ? strdup(row[c]) : NULL;
        copied = copied && (cells[c] || !row[c]);
    }
    free(message);
    ev_envelope_clear(&e);
    if (rc == 0 && !copied) {
        for (size_t c = 0; c < EV_OUTBOX_COLUMNS; c++)
            free(cells[c]);
        rc = ev_fail(err, errlen, "out of memory");
    }
    if (rc == 0)
        rows->count++;
    return rc;
}

int ev_outbox_rows_write(PGconn *tx, const ev_outbox_rows *rows, char *err, size_t errlen)
{
    if (rows->count == 0)
        return 0;
    char *params[EV_OUTBOX_COLUMNS] = {0};
    const char **column = malloc(rows->count * sizeof *column);
    if (!column)
        return ev_fail(err, errlen, "out of memory");
    int rc = 0;
    for (size_t c = 0; rc == 0 && c < EV_OUTBOX_COLUMNS; c++) {
        for (size_t r = 0; r < rows->count; r++)
            column[r] = rows->cells[r * EV_OUTBOX_COLUMNS + c];
        if (!(params[c] = ev_pg_array_literal(column, rows->count)))
            rc = ev_fail(err, errlen, "out of memory");
    }
    /* ORDER BY ordinality: ids in the order the rows were added, as one ev_emit after
     * another gives them */
    if (rc == 0)
        rc = ev_pg_exec(tx,
                        "INSERT INTO outbox (aggregate_id, topic, event_id, event_type, message,"
                        " causation_id, traceparent)"
                        " SELECT a, t, e, y, m, c, p FROM unnest($1::text[], $2::text[],"
                        " $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[])"
                        " WITH ORDINALITY AS x(a, t, e, y, m, c, p, i) ORDER BY i",
                        EV_OUTBOX_COLUMNS, (const char *const *)params, err, errlen);
    for (size_t c = 0; c < EV_OUTBOX_COLUMNS; c++)
        free(params[c]);
    free(column);
    return rc;
}

void ev_outbox_rows_free(ev_outbox_rows *rows)
{
    for (size_t i = 0; i < rows->count * EV_OUTBOX_COLUMNS; i++)
        free(rows->cells[i]);
    free(rows->cells);
    *rows = (ev_outbox_rows){0};
}

void ev_outbox_traceparent(const char *correlation_id, char out[EV_TRACEPARENT_SIZE])
{
    if (!ev_trace_current_traceparent(out))
        ev_traceparent_new(correlation_id, out);
}

int ev_emit(PGconn *tx, const char *producer, const ev_envelope *cause, const char *event_type,
            int version, json_t *payload, char *err, size_t errlen)
{
    return emit(tx, producer, cause->correlation_id, cause->event_id, event_type, version, payload,
                err, errlen);
}

int ev_emit_uncaused(PGconn *tx, const char *producer, const char *correlation_id,
                     const char *event_type, int version, json_t *payload, char *err, size_t errlen)
{
    return emit(tx, producer, correlation_id, NULL, event_type, version, payload, err, errlen);
}

/* ev_pg_query, or ev_pg_begin_query for a claim that opens its transaction. */
typedef PGresult *(*query_fn)(PGconn *c, const char *sql, int nparams, const char *const *params,
                              char *err, size_t errlen);

static int claim_one(query_fn query, PGconn *tx, const ev_envelope *e, const char *topic,
                     int32_t partition, int64_t offset, char *err, size_t errlen)
{
    char part[16], off[32];
    snprintf(part, sizeof part, "%" PRId32, partition);
    snprintf(off, sizeof off, "%" PRId64, offset);
    const char *params[] = {e->event_id, e->event_type, topic, part, off};
    PGresult *r = query(tx,
                        "INSERT INTO inbox (event_id, event_type, topic, partition, \"offset\")"
                        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING",
                        5, params, err, errlen);
    if (!r)
        return -1;
    int fresh = ev_pg_affected(r) == 1;
    PQclear(r);
    return fresh;
}

int ev_inbox_claim(PGconn *tx, const ev_envelope *e, const char *topic, int32_t partition,
                   int64_t offset, char *err, size_t errlen)
{
    return claim_one(ev_pg_query, tx, e, topic, partition, offset, err, errlen);
}

int ev_inbox_begin_claim(PGconn *c, const ev_envelope *e, const char *topic, int32_t partition,
                         int64_t offset, char *err, size_t errlen)
{
    return claim_one(ev_pg_begin_query, c, e, topic, partition, offset, err, errlen);
}

static const char claim_batch_sql[] =
    "INSERT INTO inbox (event_id, event_type, topic, partition, \"offset\")"
    " SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[], $5::bigint[])"
    " ON CONFLICT (event_id) DO NOTHING RETURNING event_id::text";

/* Marks fresh the first not yet fresh entry whose eventId is id (PostgreSQL's lower case). */
static void mark_fresh(const ev_inbox_entry *entries, size_t n, bool *fresh, const char *id)
{
    for (size_t i = 0; i < n; i++) {
        if (!fresh[i] && strcasecmp(entries[i].event_id, id) == 0) {
            fresh[i] = true;
            return;
        }
    }
}

/* The five column arrays of the claim as literals; the numbers are written into numbers (two
 * per entry). Returns 0, or -1 when out of memory (then no literal is left allocated). */
static int claim_arrays(const ev_inbox_entry *entries, size_t n, char (*numbers)[24],
                        char *literals[5])
{
    const char **columns = calloc(5 * n + 1, sizeof *columns); /* column k at columns + k * n */
    if (!columns)
        return -1;
    for (size_t i = 0; i < n; i++) {
        snprintf(numbers[2 * i], sizeof numbers[0], "%" PRId32, entries[i].partition);
        snprintf(numbers[2 * i + 1], sizeof numbers[0], "%" PRId64, entries[i].offset);
        columns[i] = entries[i].event_id;
        columns[n + i] = entries[i].event_type;
        columns[2 * n + i] = entries[i].topic;
        columns[3 * n + i] = numbers[2 * i];
        columns[4 * n + i] = numbers[2 * i + 1];
    }
    bool ok = true;
    for (size_t k = 0; k < 5; k++)
        ok = (literals[k] = ev_pg_array_literal(columns + k * n, n)) != NULL && ok;
    free(columns);
    if (!ok)
        for (size_t k = 0; k < 5; k++) {
            free(literals[k]);
            literals[k] = NULL;
        }
    return ok ? 0 : -1;
}

static int claim_many(query_fn query, PGconn *tx, const ev_inbox_entry *entries, size_t n,
                      bool *fresh, char *err, size_t errlen)
{
    char(*numbers)[24] = calloc(2 * n + 1, sizeof *numbers);
    char *literals[5] = {0};
    if (!numbers || claim_arrays(entries, n, numbers, literals) != 0) {
        free(numbers);
        return ev_fail(err, errlen, "inbox: out of memory");
    }
    const char *params[5] = {literals[0], literals[1], literals[2], literals[3], literals[4]};
    PGresult *r = query(tx, claim_batch_sql, 5, params, err, errlen);
    for (int k = 0; k < 5; k++)
        free(literals[k]);
    free(numbers);
    if (!r)
        return -1;
    memset(fresh, 0, n * sizeof *fresh);
    for (int row = 0; row < PQntuples(r); row++)
        mark_fresh(entries, n, fresh, PQgetvalue(r, row, 0));
    PQclear(r);
    return 0;
}

int ev_inbox_claim_batch(PGconn *tx, const ev_inbox_entry *entries, size_t n, bool *fresh,
                         char *err, size_t errlen)
{
    return claim_many(ev_pg_query, tx, entries, n, fresh, err, errlen);
}

int ev_inbox_begin_claim_batch(PGconn *c, const ev_inbox_entry *entries, size_t n, bool *fresh,
                               char *err, size_t errlen)
{
    return claim_many(ev_pg_begin_query, c, entries, n, fresh, err, errlen);
}

/* --- pure policy ------------------------------------------------------------------------- */

int ev_relay_ids_literal(const int64_t *ids, const bool *delivered, size_t count, char *out,
                         size_t n)
{
    size_t used = 0;
    int written = 0;
    if (n < 3)
        return -1;
    out[used++] = '{';
    for (size_t i = 0; i < count; i++) {
        if (!delivered[i])
            continue;
        int w = snprintf(out + used, n - used, "%s%" PRId64, written ? "," : "", ids[i]);
        if (w < 0 || (size_t)w >= n - used)
            return -1;
        used += (size_t)w;
        written++;
    }
    if (used + 2 > n)
        return -1;
    out[used++] = '}';
    out[used] = '\0';
    return written;
}

int ev_relay_gather_ms(int64_t since_last_pass_ms, int min_gap_ms)
{
    if (since_last_pass_ms < 0 || since_last_pass_ms >= min_gap_ms)
        return 0;
    return min_gap_ms - (int)since_last_pass_ms;
}

int ev_relay_wait_ms(bool more, int failed, int consecutive_failures, int idle_ms)
{
    if (failed > 0) {
        int wait = 100;
        for (int i = 1; i < consecutive_failures && wait < RELAY_BACKOFF_MAX_MS; i++)
            wait *= 2;
        return wait < RELAY_BACKOFF_MAX_MS ? wait : RELAY_BACKOFF_MAX_MS;
    }
    return more ? 0 : idle_ms;
}

/* --- wake-ups ---------------------------------------------------------------------------- */

int ev_wake_open(ev_wake *w)
{
    w->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return w->fd < 0 ? -1 : 0;
}

void ev_wake_signal(const ev_wake *w)
{
    uint64_t one = 1;
    /* a full counter (EAGAIN) already means "wake up" */
    if (w && w->fd >= 0 && write(w->fd, &one, sizeof one) < 0 && errno != EAGAIN)
        ev_warn("relay wake-up: %s", strerror(errno));
}

bool ev_wake_wait(const ev_wake *w, int timeout_ms)
{
    if (!w || w->fd < 0) {
        poll(NULL, 0, timeout_ms);
        return false;
    }
    struct pollfd pfd = {.fd = w->fd, .events = POLLIN};
    if (poll(&pfd, 1, timeout_ms) <= 0)
        return false;
    uint64_t count;
    return read(w->fd, &count, sizeof count) == (ssize_t)sizeof count;
}

void ev_wake_close(ev_wake *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
}

/* --- relay ------------------------------------------------------------------------------- */

enum {
    COL_ID,
    COL_TOPIC,
    COL_KEY,
    COL_MESSAGE,
    COL_CAUSATION,
    COL_TRACEPARENT,
    COL_TYPE,
    COL_EVENT_ID,
    COL_WINDOW,
    COL_AGE
};

/* The oldest batch_size unpublished rows form the window; of those, a row goes out only when
 * no older row of its aggregate is in the window. Every older unpublished row of an aggregate
 * has a smaller id, so it is in the window whenever the row is: the check is exact, and its
 * cost depends on the batch size alone, not on how long the backlog is (the former NOT EXISTS
 * over the whole table took seconds per batch with 43,000 rows waiting). Rows another relay
 * holds are skipped; their successors wait for them because they are still in the window.
 * COL_AGE: seconds since the row was written, for outbox_publish_latency_seconds. */
static const char select_batch_sql[] =
    "WITH head AS MATERIALIZED ("
    "  SELECT id, aggregate_id FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1),"
    " first AS ("
    "  SELECT min(id) AS id FROM head GROUP BY aggregate_id)"
    "SELECT o.id, o.topic, o.aggregate_id, o.message, o.causation_id, o.traceparent,"
    "       o.event_type, o.event_id, (SELECT count(*) FROM head) AS window_rows,"
    "       extract(epoch FROM clock_timestamp() - o.created_at)"
    "  FROM outbox o JOIN first f ON f.id = o.id"
    " WHERE o.published_at IS NULL"
    " ORDER BY o.id FOR UPDATE OF o SKIP LOCKED";

/* From the row's insert to the broker's acknowledgement, by topic. */
static void observe_publish_latency(ev_metrics *m, const char *topic, double seconds)
{
    char labels[160];
    int n = snprintf(labels, sizeof labels, "topic=\"%s\"", topic);
    if (n > 0 && (size_t)n < sizeof labels)
        ev_metrics_observe(m, "outbox_publish_latency_seconds", labels, seconds);
}

/* The publish span of row i: the child of the context the row was written under, so the
 * trace goes on from the request or handler through the outbox; its context is what the
 * message's traceparent header carries to the consumers. */
static ev_span *start_publish_span(PGresult *rows, int i)
{
    const char *stored = PQgetvalue(rows, i, COL_TRACEPARENT);
    const char *topic = PQgetvalue(rows, i, COL_TOPIC);
    ev_trace_ctx parent;
    bool has_parent = ev_traceparent_parse(stored, strlen(stored), &parent) == 0;
    char name[96];
    snprintf(name, sizeof name, "publish %s", topic);
    ev_span *span = ev_span_start(name, EV_SPAN_PRODUCER, has_parent ? &parent : NULL);
    if (ev_span_recording(span)) {
        ev_span_attr_str(span, "messaging.system", "kafka");
        ev_span_attr_str(span, "messaging.operation.type", "send");
        ev_span_attr_str(span, "messaging.destination.name", topic);
        ev_span_attr_str(span, "messaging.message.id", PQgetvalue(rows, i, COL_EVENT_ID));
        ev_span_attr_str(span, "messaging.kafka.message.key", PQgetvalue(rows, i, COL_KEY));
        ev_span_attr_str(span, "eventify.event.type", PQgetvalue(rows, i, COL_TYPE));
        ev_span_attr_int(span, "eventify.outbox.id",
                         strtoll(PQgetvalue(rows, i, COL_ID), NULL, 10));
    }
    return span;
}

/* Sends the selected rows; fills ids and delivered. Returns the number delivered. */
static size_t send_rows(PGresult *rows, const ev_relay_config *cfg, int64_t *ids, bool *delivered)
{
    int n = PQntuples(rows);
    ev_message *msgs = calloc((size_t)n, sizeof *msgs);
    ev_header(*headers)[4] = calloc((size_t)n, sizeof *headers);
    char(*traceparents)[EV_TRACEPARENT_SIZE] = calloc((size_t)n, sizeof *traceparents);
    ev_span **spans = calloc((size_t)n, sizeof(ev_span *));
    size_t ok = 0;
    if (msgs && headers && traceparents && spans) {
        for (int i = 0; i < n; i++) {
            ids[i] = strtoll(PQgetvalue(rows, i, COL_ID), NULL, 10);
            spans[i] = start_publish_span(rows, i);
            ev_traceparent_format(ev_span_context(spans[i]), traceparents[i]);
            size_t h = 0;
            headers[i][h++] = (ev_header){"traceparent", traceparents[i]};
            headers[i][h++] = (ev_header){"contentType", "application/json"};
            headers[i][h++] = (ev_header){"eventType", PQgetvalue(rows, i, COL_TYPE)};
            if (!PQgetisnull(rows, i, COL_CAUSATION))
                headers[i][h++] = (ev_header){"causationId", PQgetvalue(rows, i, COL_CAUSATION)};
            msgs[i] = (ev_message){
                .topic = PQgetvalue(rows, i, COL_TOPIC),
                .key = PQgetvalue(rows, i, COL_KEY),
                .value = PQgetvalue(rows, i, COL_MESSAGE),
                .value_len = (size_t)PQgetlength(rows, i, COL_MESSAGE),
                .headers = headers[i],
                .header_count = h,
            };
        }
        int64_t sent_at = ev_monotonic_ms();
        ok = ev_producer_send(cfg->producer, msgs, (size_t)n, delivered);
        double sending = (double)(ev_monotonic_ms() - sent_at) / 1000.0;
        for (int i = 0; i < n; i++) {
            if (delivered[i]) {
                ev_metrics_count_event(cfg->metrics, "events_published_total", msgs[i].topic);
                observe_publish_latency(cfg->metrics, msgs[i].topic,
                                        strtod(PQgetvalue(rows, i, COL_AGE), NULL) + sending);
            } else {
                ev_span_error(spans[i], "not acknowledged by Kafka: published again later");
            }
            ev_span_end(spans[i]);
        }
    } else {
        memset(delivered, 0, (size_t)n * sizeof *delivered);
    }
    free(msgs);
    free(headers);
    free(traceparents);
    free(spans);
    return ok;
}

/* One pass is two round trips: BEGIN with the SELECT that locks the batch, and the DELETE of
 * what Kafka acknowledged with the COMMIT (libpq pipelines). */
int ev_relay_publish_once(PGconn *c, const ev_relay_config *cfg, int *failed, bool *more)
{
    char err[512], limit[16];
    snprintf(limit, sizeof limit, "%d", cfg->batch_size);
    const char *params[] = {limit};
    *failed = 0;
    *more = false;
    PGresult *rows = ev_pg_begin_query(c, select_batch_sql, 1, params, err, sizeof err);
    if (!rows) {
        ev_error("relay: %s", err);
        PQclear(PQexec(c, "ROLLBACK"));
        return -1;
    }
    int n = PQntuples(rows);
    *more = n > 0 && strtol(PQgetvalue(rows, 0, COL_WINDOW), NULL, 10) >= cfg->batch_size;
    int published = 0;
    int64_t *ids = calloc((size_t)n + 1, sizeof *ids);
    bool *delivered = calloc((size_t)n + 1, sizeof *delivered);
    size_t literal_size = (size_t)n * 21 + 3;
    char *literal = malloc(literal_size);
    if (!ids || !delivered || !literal) {
        published = -1;
    } else if (n > 0) {
        published = (int)send_rows(rows, cfg, ids, delivered);
        *failed = n - published;
        ev_relay_ids_literal(ids, delivered, (size_t)n, literal, literal_size);
    }
    PQclear(rows);
    /* Rows sent but not deleted (a failed DELETE) go out again: consumers dedupe by eventId. */
    const char *sent[] = {literal};
    int rc = published < 0 ? -1
             : published > 0
                 ? ev_pg_exec_commit(c, "DELETE FROM outbox WHERE id = ANY($1::bigint[])", 1, sent,
                                     err, sizeof err)
                 : ev_pg_exec(c, "COMMIT", 0, NULL, err, sizeof err);
    free(ids);
    free(delivered);
    free(literal);
    if (rc != 0) {
        if (published >= 0)
            ev_error("relay: %s", err);
        PQclear(PQexec(c, "ROLLBACK"));
        return -1;
    }
    return published;
}

/* Waits for a writer's wake-up, at most timeout_ms, in slices so a stop request is seen. */
static void wait_for_wake(const ev_wake *wake, int timeout_ms, const atomic_bool *stop)
{
    int64_t deadline = ev_monotonic_ms() + timeout_ms;
    while (!atomic_load(stop)) {
        int64_t left = deadline - ev_monotonic_ms();
        if (left <= 0 || ev_wake_wait(wake, left < 200 ? (int)left : 200))
            return;
    }
}

static void update_backlog(PGconn *c, const ev_relay_config *cfg)
{
    char err[256];
    PGresult *r = ev_pg_query(c, "SELECT count(*) FROM outbox WHERE published_at IS NULL", 0, NULL,
                              err, sizeof err);
    if (r) {
        ev_metrics_set(cfg->metrics, "outbox_backlog", NULL,
                       strtoll(PQgetvalue(r, 0, 0), NULL, 10));
        PQclear(r);
    }
}

static void prune_published(PGconn *c)
{
    char err[256];
    PGresult *r = ev_pg_query(c, RELAY_PRUNE_SQL, 0, NULL, err, sizeof err);
    if (!r)
        ev_warn("relay: pruning published rows: %s", err);
    else if (ev_pg_affected(r) > 0)
        ev_debug("relay: pruned %ld published rows", ev_pg_affected(r));
    PQclear(r);
}

static void sleep_unless_stopped(int ms, const atomic_bool *stop)
{
    int64_t deadline = ev_monotonic_ms() + ms;
    while (!atomic_load(stop) && ev_monotonic_ms() < deadline)
        poll(NULL, 0, 50);
}

int ev_relay_run(const ev_relay_config *cfg, const atomic_bool *stop)
{
    PGconn *c = NULL;
    int consecutive_failures = 0;
    int64_t last_pass = 0;
    int64_t next_backlog = 0, next_prune = ev_monotonic_ms() + RELAY_PRUNE_EVERY_MS;
    char err[512];
    while (!atomic_load(stop)) {
        if (ev_pg_broken(c)) {
            PQfinish(c);
            c = ev_pg_connect(cfg->conninfo, err, sizeof err);
            if (!c || ev_pg_exec(c, RELAY_SESSION_SQL, 0, NULL, err, sizeof err) != 0) {
                ev_warn("relay: %s; retrying", err);
                sleep_unless_stopped(1000, stop);
                continue;
            }
        }
        int gather = ev_relay_gather_ms(ev_monotonic_ms() - last_pass, RELAY_MIN_PASS_GAP_MS);
        if (gather > 0)
            poll(NULL, 0, gather);
        last_pass = ev_monotonic_ms();
        int failed = 0;
        bool more = false;
        int published = ev_relay_publish_once(c, cfg, &failed, &more);
        if (published < 0) {
            sleep_unless_stopped(500, stop);
            continue;
        }
        consecutive_failures = failed ? consecutive_failures + 1 : 0;
        if (ev_monotonic_ms() >= next_backlog) {
            update_backlog(c, cfg);
            next_backlog = ev_monotonic_ms() + RELAY_BACKLOG_EVERY_MS;
        }
        if (ev_monotonic_ms() >= next_prune) {
            prune_published(c);
            next_prune = ev_monotonic_ms() + RELAY_PRUNE_EVERY_MS;
        }
        int wait = ev_relay_wait_ms(more, failed, consecutive_failures, cfg->idle_poll_ms);
        if (failed)
            sleep_unless_stopped(wait, stop);
        else if (wait > 0)
            wait_for_wake(cfg->wake, wait, stop);
    }
    PQfinish(c);
    return 0;
}
