/* A probe run by tests/system/test_consumer_stall.py against the real Kafka: the stall check
 * the worker relies on (ev_consumer_stalled) tells a stuck partition from a quiet one, also
 * while the consumer's other partition keeps delivering, and a new consumer in the stuck
 * one's place delivers what was waiting.
 *
 *   consumer-stall-probe BROKERS TOPIC GROUP COUNT IDLE_MS
 *
 * TOPIC is new and has two partitions; GROUP is new. The probe joins the group, sends COUNT
 * messages (keys spread over both partitions) and consumes them, then stays quiet for longer
 * than twice IDLE_MS, asking the check every 500 ms (it must never say stalled: nothing
 * waits).
 * Then it sends 4 messages and sleeps for one and a half IDLE_MS without polling (as a worker
 * busy with one batch does): the first check after that must not say stalled either, since
 * the consumer had no chance to deliver them. Then it sends 4 more and runs the check every
 * 100 ms for a little over half of IDLE_MS before polling them: one answer "messages wait" is
 * not enough either. Then it pauses partition 0 (librdkafka stops
 * fetching it, as a stuck client does) and, for
 * as long again, sends a message every 100 ms while consuming and asking: partition 1 keeps
 * delivering, partition 0 fills up, and the check must name partition 0. Last, it closes that
 * consumer, starts a new one in the same group and consumes until every message sent arrived.
 * Prints one line of JSON with what happened; exits 1 when something could not be done. */
#include "ev/kafka.h"
#include "ev/util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEADLINE_MS 60000
#define CHECK_EVERY_MS 500
#define MAX_MESSAGES 4096

typedef struct {
    bool quiet_stalled;  /* the check said stalled while nothing waited */
    bool busy_stalled;   /* the check said stalled right after a time without polling */
    bool late_stalled;   /* ... while messages that had just arrived were not yet polled */
    bool paused_stalled; /* the check said stalled while partition 0 was paused */
    char paused_what[256];
    int sent;
    int delivered_while_paused; /* messages of partition 1 that arrived meanwhile */
    int first;                  /* messages the first consumer delivered */
    int after_replace;          /* messages the new consumer delivered */
    int duplicates;
    unsigned char seen[MAX_MESSAGES];
} outcome;

static int fail(const char *what, const char *why)
{
    fprintf(stderr, "consumer-stall-probe: %s: %s\n", what, why);
    return 1;
}

/* Message number o->sent, key k<number mod 16>: the keys land on both partitions. */
static int send_one(ev_producer *p, const char *topic, outcome *o)
{
    if (o->sent >= MAX_MESSAGES)
        return -1;
    char key[16], value[16];
    snprintf(key, sizeof key, "k%d", o->sent % 16);
    snprintf(value, sizeof value, "%d", o->sent);
    ev_message m = {.topic = topic, .key = key, .value = value, .value_len = strlen(value)};
    bool delivered = false;
    if (ev_producer_send(p, &m, 1, &delivered) != 1)
        return -1;
    o->sent++;
    return 0;
}

/* One poll; notes the message, marks it done. Returns 1 if one arrived, else 0. */
static int take(ev_consumer *c, int timeout_ms, outcome *o)
{
    rd_kafka_message_t *msg = ev_consumer_poll(c, timeout_ms);
    if (!msg)
        return 0;
    char value[16] = "";
    if (msg->payload)
        memcpy(value, msg->payload, msg->len < sizeof value - 1 ? msg->len : sizeof value - 1);
    int number = atoi(value);
    if (number >= 0 && number < MAX_MESSAGES && o->seen[number]++)
        o->duplicates++;
    ev_consumer_commit(c, msg);
    rd_kafka_message_destroy(msg);
    return 1;
}

/* Polls until `want` messages arrived or the deadline. Returns how many arrived. */
static int consume(ev_consumer *c, int want, outcome *o)
{
    int got = 0;
    for (int64_t end = ev_monotonic_ms() + DEADLINE_MS; got < want && ev_monotonic_ms() < end;)
        got += take(c, 100, o);
    return got;
}

/* For a little longer than twice idle_ms (the longest the check takes to find a stuck
 * partition): polls, asks the check every CHECK_EVERY_MS, and, if p is
 * given, sends a message every 100 ms. Returns the messages that arrived; *stalled turns true
 * if the check ever said so. */
static int watch(ev_consumer *c, int idle_ms, ev_producer *p, const char *topic, outcome *o,
                 bool *stalled, char *what, size_t n)
{
    int got = 0;
    int64_t next_check = 0;
    for (int64_t end = ev_monotonic_ms() + 2 * idle_ms + 2 * CHECK_EVERY_MS;
         ev_monotonic_ms() < end;) {
        if (p && send_one(p, topic, o) != 0)
            return -1;
        got += take(c, 100, o);
        if (ev_monotonic_ms() >= next_check) {
            next_check = ev_monotonic_ms() + CHECK_EVERY_MS;
            if (!*stalled && ev_consumer_stalled(c, idle_ms, 1000, what, n))
                *stalled = true;
        }
    }
    return got;
}

/* Polls until the group has given this consumer both partitions. */
static bool await_assignment(ev_consumer *c, outcome *o)
{
    for (int64_t end = ev_monotonic_ms() + DEADLINE_MS; ev_monotonic_ms() < end;) {
        take(c, 100, o);
        rd_kafka_topic_partition_list_t *assigned = NULL;
        bool both =
            rd_kafka_assignment(ev_consumer_handle(c), &assigned) == 0 && assigned->cnt == 2;
        if (assigned)
            rd_kafka_topic_partition_list_destroy(assigned);
        if (both)
            return true;
    }
    return false;
}

static int pause_partition_0(ev_consumer *c, const char *topic)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, topic, 0);
    rd_kafka_resp_err_t rc = rd_kafka_pause_partitions(ev_consumer_handle(c), list);
    rd_kafka_topic_partition_list_destroy(list);
    return rc == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : -1;
}

static int run(const char *brokers, const char *topic, const char *group, int count, int idle_ms,
               outcome *o)
{
    char err[512], ignored[256];
    const char *topics[] = {topic};
    ev_producer *p = ev_producer_new(brokers, "consumer-stall-probe", err, sizeof err);
    ev_consumer *c = p ? ev_consumer_new(brokers, group, topics, 1, err, sizeof err) : NULL;
    int rc = 0;
    if (!c || !await_assignment(c, o)) {
        rc = fail("joining the group", c ? "not given both partitions" : err);
        goto done;
    }
    for (int i = 0; i < count; i++)
        if (send_one(p, topic, o) != 0) {
            rc = fail("sending", "not delivered");
            goto done;
        }
    o->first = consume(c, count, o);
    o->first += watch(c, idle_ms, NULL, topic, o, &o->quiet_stalled, ignored, sizeof ignored);
    for (int i = 0; i < 4; i++)
        if (send_one(p, topic, o) != 0) {
            rc = fail("sending", "not delivered");
            goto done;
        }
    nanosleep(&(struct timespec){.tv_sec = idle_ms * 3 / 2 / 1000,
                                 .tv_nsec = (long)(idle_ms * 3 / 2 % 1000) * 1000000L},
              NULL);
    o->busy_stalled = ev_consumer_stalled(c, idle_ms, 1000, ignored, sizeof ignored);
    o->first += consume(c, 4, o);
    /* Still and caught up for long, then 4 messages arrive and the check runs, every 100 ms,
     * for a little over half of idle_ms before they are polled: the broker says "behind" at
     * least once, but not for idle_ms. */
    for (int i = 0; i < 4; i++)
        if (send_one(p, topic, o) != 0) {
            rc = fail("sending", "not delivered");
            goto done;
        }
    for (int64_t end = ev_monotonic_ms() + idle_ms / 2 + 200; ev_monotonic_ms() < end;) {
        nanosleep(&(struct timespec){.tv_nsec = 100 * 1000000L}, NULL);
        o->late_stalled |= ev_consumer_stalled(c, idle_ms, 1000, ignored, sizeof ignored);
    }
    o->first += consume(c, 4, o);
    if (pause_partition_0(c, topic) != 0) {
        rc = fail("pausing partition 0", "refused");
        goto done;
    }
    int got =
        watch(c, idle_ms, p, topic, o, &o->paused_stalled, o->paused_what, sizeof o->paused_what);
    if (got < 0) {
        rc = fail("sending while paused", "not delivered");
        goto done;
    }
    o->delivered_while_paused = got;
    o->first += got;
    ev_consumer_close(c);
    if (!(c = ev_consumer_new(brokers, group, topics, 1, err, sizeof err))) {
        rc = fail("a new consumer", err);
        goto done;
    }
    o->after_replace = consume(c, o->sent - o->first, o);
done:
    ev_consumer_close(c);
    if (p)
        ev_producer_free(p);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 6)
        return fail("usage", "consumer-stall-probe BROKERS TOPIC GROUP COUNT IDLE_MS");
    outcome *o = calloc(1, sizeof *o);
    if (!o)
        return fail("starting", "out of memory");
    if (run(argv[1], argv[2], argv[3], atoi(argv[4]), atoi(argv[5]), o) != 0) {
        free(o);
        return 1;
    }
    int missing = 0;
    for (int i = 0; i < o->sent; i++)
        missing += !o->seen[i];
    json_t *out = json_pack("{s:b, s:b, s:b, s:b, s:s, s:i, s:i, s:i, s:i, s:i, s:i}",
                            "quietStalled", o->quiet_stalled, "busyStalled", o->busy_stalled,
                            "lateStalled", o->late_stalled, "pausedStalled", o->paused_stalled,
                            "pausedWhat", o->paused_what, "sent", o->sent, "deliveredWhilePaused",
                            o->delivered_while_paused, "first", o->first, "afterReplace",
                            o->after_replace, "missing", missing, "duplicates", o->duplicates);
    free(o);
    bool printed = out && json_dumpf(out, stdout, JSON_COMPACT) == 0;
    json_decref(out);
    if (!printed)
        return fail("printing", "out of memory");
    putchar('\n');
    return 0;
}
