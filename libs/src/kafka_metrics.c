/* Consumer lag and DLQ size gauges; see ev/kafka_metrics.h. */
#include "ev/kafka_metrics.h"
#include "ev/log.h"
#include "ev/topology.h"

#include <stdio.h>
#include <string.h>

int64_t ev_consumer_lag_of(int64_t high, int64_t position)
{
    if (high == 0)
        return 0; /* the partition never held a message */
    if (high < 0 || position < 0)
        return -1;
    return high > position ? high - position : 0;
}

static void set_lag(ev_metrics *m, const char *group, const char *topic, int32_t partition,
                    int64_t lag)
{
    char labels[160];
    int n = snprintf(labels, sizeof labels, "group=\"%s\",topic=\"%s\",partition=\"%d\"", group,
                     topic, (int)partition);
    if (n < 0 || (size_t)n >= sizeof labels) {
        ev_warn("metrics: labels of %s[%d] too long for kafka_consumer_lag", topic, (int)partition);
        return;
    }
    ev_metrics_set(m, "kafka_consumer_lag", labels, lag);
}

/* The lag of each assigned partition in list (offsets already filled by position or committed);
 * partitions whose lag is unknown are left in place with offset -1 for the caller. */
static void set_known_lags(rd_kafka_t *rk, ev_metrics *m, const char *group,
                           rd_kafka_topic_partition_list_t *list)
{
    for (int i = 0; i < list->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &list->elems[i];
        int64_t low = RD_KAFKA_OFFSET_INVALID, high = RD_KAFKA_OFFSET_INVALID;
        rd_kafka_get_watermark_offsets(rk, tp->topic, tp->partition, &low, &high);
        int64_t lag = ev_consumer_lag_of(high, tp->offset);
        if (lag >= 0)
            set_lag(m, group, tp->topic, tp->partition, lag);
        else
            tp->offset = -1;
    }
}

void ev_report_consumer_lag(rd_kafka_t *rk, ev_metrics *m, const char *group,
                            const char *const *topics, size_t topic_count, int timeout_ms)
{
    if (!m)
        return;
    rd_kafka_topic_partition_list_t *assigned = NULL;
    if (rd_kafka_assignment(rk, &assigned) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    /* Partitions of the group this member does not hold: their lag is another member's. */
    for (size_t t = 0; t < topic_count; t++)
        for (int32_t p = 0; p < ev_topology_partitions(topics[t]); p++)
            if (!rd_kafka_topic_partition_list_find(assigned, topics[t], p))
                set_lag(m, group, topics[t], p, 0);
    if (assigned->cnt > 0 && rd_kafka_position(rk, assigned) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        set_known_lags(rk, m, group, assigned);
        /* Nothing consumed yet since the assignment: measure from the committed offset. */
        rd_kafka_topic_partition_list_t *unknown = rd_kafka_topic_partition_list_new(0);
        for (int i = 0; i < assigned->cnt; i++)
            if (assigned->elems[i].offset < 0)
                rd_kafka_topic_partition_list_add(unknown, assigned->elems[i].topic,
                                                  assigned->elems[i].partition);
        if (unknown->cnt > 0 &&
            rd_kafka_committed(rk, unknown, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR)
            set_known_lags(rk, m, group, unknown);
        rd_kafka_topic_partition_list_destroy(unknown);
    }
    rd_kafka_topic_partition_list_destroy(assigned);
}

void ev_report_dlq_size(rd_kafka_t *rk, ev_metrics *m, const char *dlq_topic, int timeout_ms)
{
    if (!m)
        return;
    int64_t total = 0;
    for (int32_t p = 0; p < ev_topology_partitions(dlq_topic); p++) {
        int64_t low = 0, high = 0;
        if (rd_kafka_query_watermark_offsets(rk, dlq_topic, p, &low, &high, timeout_ms) !=
            RD_KAFKA_RESP_ERR_NO_ERROR)
            return;
        total += high > low ? high - low : 0;
    }
    char labels[160];
    int n = snprintf(labels, sizeof labels, "topic=\"%s\"", dlq_topic);
    if (n < 0 || (size_t)n >= sizeof labels) {
        ev_warn("metrics: DLQ topic name %s too long for a label", dlq_topic);
        return;
    }
    ev_metrics_set(m, "kafka_dlq_messages", labels, total);
}
