/* The one table of services and topics; see ev/topology.h. This file is the place to add a
 * service or a topic; regenerate infra/topology.json afterwards (`make topology`). */
#include "ev/topology.h"
#include "ev/events.h"

#include <string.h>

/* Every topic is created with this many partitions: the unit of parallelism of a consumer
 * group (at most this many replicas of one service share the work). */
#define PARTITIONS 3

#define ORDER_KEY "orderId"
#define LETTER_KEY "the key of the dead-lettered message"

static const ev_topology_topic topics[] = {
    {EV_TOPIC_ORDERS, EV_TOPIC_KIND_EVENTS, PARTITIONS, ORDER_KEY},
    {EV_TOPIC_INVENTORY, EV_TOPIC_KIND_EVENTS, PARTITIONS, "orderId; sku for StockAdjusted"},
    {EV_TOPIC_PAYMENTS, EV_TOPIC_KIND_EVENTS, PARTITIONS, ORDER_KEY},
    {EV_TOPIC_LIFECYCLE, EV_TOPIC_KIND_EVENTS, PARTITIONS, ORDER_KEY},
    {EV_TOPIC_SHIPPING, EV_TOPIC_KIND_EVENTS, PARTITIONS, ORDER_KEY},
    {EV_TOPIC_CATALOG, EV_TOPIC_KIND_EVENTS, PARTITIONS, "sku"},
    {"order.dlq", EV_TOPIC_KIND_DLQ, PARTITIONS, LETTER_KEY},
    {"orchestrator.dlq", EV_TOPIC_KIND_DLQ, PARTITIONS, LETTER_KEY},
    {"inventory.dlq", EV_TOPIC_KIND_DLQ, PARTITIONS, LETTER_KEY},
    {"shipping.dlq", EV_TOPIC_KIND_DLQ, PARTITIONS, LETTER_KEY},
    {"payments.dlq", EV_TOPIC_KIND_DLQ, PARTITIONS, LETTER_KEY},
    {"read-model.dlq", EV_TOPIC_KIND_DLQ, PARTITIONS, LETTER_KEY},
    {"notification.dlq", EV_TOPIC_KIND_DLQ, PARTITIONS, LETTER_KEY},
};

/* In port order. The orchestrator reads orders.events only to start each saga's deadline
 * clock; the order service reads the saga's outcome and the catalog's prices. The payment
 * service's DLQ is named after its topic (payments.dlq), the others after the service. */
static const ev_topology_service services[] = {
    {"order",
     8081,
     "orders",
     "order",
     "order.dlq",
     {EV_TOPIC_LIFECYCLE, EV_TOPIC_CATALOG},
     {EV_TOPIC_ORDERS}},
    {"orchestrator",
     8082,
     "orchestrator",
     "orchestrator",
     "orchestrator.dlq",
     {EV_TOPIC_ORDERS, EV_TOPIC_INVENTORY, EV_TOPIC_PAYMENTS},
     {EV_TOPIC_LIFECYCLE}},
    {"inventory",
     8083,
     "inventory",
     "inventory",
     "inventory.dlq",
     {EV_TOPIC_ORDERS, EV_TOPIC_LIFECYCLE},
     {EV_TOPIC_INVENTORY, EV_TOPIC_CATALOG}},
    {"shipping",
     8084,
     "shipping",
     "shipping",
     "shipping.dlq",
     {EV_TOPIC_LIFECYCLE},
     {EV_TOPIC_SHIPPING}},
    {"payment",
     8085,
     "payments",
     "payment",
     "payments.dlq",
     {EV_TOPIC_ORDERS, EV_TOPIC_LIFECYCLE},
     {EV_TOPIC_PAYMENTS}},
    {"read-model",
     8086,
     "readmodel",
     "read-model",
     "read-model.dlq",
     {EV_TOPIC_ORDERS, EV_TOPIC_INVENTORY, EV_TOPIC_PAYMENTS, EV_TOPIC_LIFECYCLE, EV_TOPIC_SHIPPING,
      EV_TOPIC_CATALOG},
     {NULL}},
    {"notification",
     8087,
     "notifications",
     "notification",
     "notification.dlq",
     {EV_TOPIC_ORDERS, EV_TOPIC_LIFECYCLE, EV_TOPIC_SHIPPING},
     {NULL}},
};

#define TOPIC_COUNT (sizeof topics / sizeof topics[0])
#define SERVICE_COUNT (sizeof services / sizeof services[0])

const ev_topology_service *ev_topology_service_at(size_t i)
{
    return i < SERVICE_COUNT ? &services[i] : NULL;
}

const ev_topology_topic *ev_topology_topic_at(size_t i)
{
    return i < TOPIC_COUNT ? &topics[i] : NULL;
}

const ev_topology_service *ev_topology_service_named(const char *name)
{
    for (size_t i = 0; name && i < SERVICE_COUNT; i++)
        if (strcmp(services[i].name, name) == 0)
            return &services[i];
    return NULL;
}

const ev_topology_topic *ev_topology_topic_named(const char *name)
{
    for (size_t i = 0; name && i < TOPIC_COUNT; i++)
        if (strcmp(topics[i].name, name) == 0)
            return &topics[i];
    return NULL;
}

const char *ev_topology_dlq_at(size_t i)
{
    for (size_t s = 0; s < SERVICE_COUNT; s++)
        if (services[s].dlq && i-- == 0)
            return services[s].dlq;
    return NULL;
}

int ev_topology_partitions(const char *topic)
{
    const ev_topology_topic *t = ev_topology_topic_named(topic);
    return t ? t->partitions : 0;
}

int ev_topology_max_partitions(void)
{
    int most = 0;
    for (size_t i = 0; i < TOPIC_COUNT; i++)
        if (topics[i].partitions > most)
            most = topics[i].partitions;
    return most;
}

size_t ev_topology_count(const char *const *list)
{
    size_t n = 0;
    while (n < EV_TOPOLOGY_LIST_MAX && list[n])
        n++;
    return n;
}

static json_t *string_list(const char *const *list)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < ev_topology_count(list); i++)
        if (json_array_append_new(a, json_string(list[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static json_t *service_json(const ev_topology_service *s)
{
    return json_pack("{s:s, s:i, s:s, s:s?, s:s?, s:o?, s:o?}", "name", s->name, "httpPort",
                     s->http_port, "database", s->database, "group", s->group, "dlq", s->dlq,
                     "consumes", string_list(s->consumes), "produces", string_list(s->produces));
}

static json_t *topic_json(const ev_topology_topic *t)
{
    return json_pack("{s:s, s:s, s:i, s:s}", "name", t->name, "kind",
                     t->kind == EV_TOPIC_KIND_DLQ ? "dlq" : "events", "partitions", t->partitions,
                     "key", t->key);
}

json_t *ev_topology_json(void)
{
    json_t *svc = json_array(), *top = json_array();
    bool ok = svc && top;
    for (size_t i = 0; ok && i < SERVICE_COUNT; i++)
        ok = json_array_append_new(svc, service_json(&services[i])) == 0;
    for (size_t i = 0; ok && i < TOPIC_COUNT; i++)
        ok = json_array_append_new(top, topic_json(&topics[i])) == 0;
    if (!ok) {
        json_decref(svc);
        json_decref(top);
        return NULL;
    }
    return json_pack("{s:o, s:o}", "services", svc, "topics", top);
}
