/* Unit tests of the topology table (ev/topology.h): its lookups, the rules that keep it
 * consistent (every topic a service names exists, each DLQ belongs to one group, ports and
 * databases are unique), that infra/topology.json, which the scripts and Python tests read,
 * is exactly what the table prints, and that each service's OpenAPI document names its port. */
#include "ev/events.h"
#include "ev/topology.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void services_and_topics_are_found_by_name(void **state)
{
    (void)state;
    const ev_topology_service *payment = ev_topology_service_named("payment");
    assert_non_null(payment);
    assert_int_equal(payment->http_port, 8085);
    assert_string_equal(payment->database, "payments");
    assert_string_equal(payment->group, "payment");
    assert_string_equal(payment->dlq, "payments.dlq");
    assert_null(ev_topology_service_named("payments"));
    assert_null(ev_topology_service_named(NULL));

    const ev_topology_topic *t = ev_topology_topic_named("catalog.events");
    assert_non_null(t);
    assert_int_equal(t->kind, EV_TOPIC_KIND_EVENTS);
    assert_string_equal(t->key, "sku");
    assert_int_equal(ev_topology_topic_named("inventory.dlq")->kind, EV_TOPIC_KIND_DLQ);
    assert_null(ev_topology_topic_named("nope.events"));
    assert_int_equal(ev_topology_partitions("nope.events"), 0);
    assert_int_equal(ev_topology_partitions("orders.events"), 3);
}

static bool listed(const char *const *list, const char *name)
{
    for (size_t i = 0; i < ev_topology_count(list); i++)
        if (strcmp(list[i], name) == 0)
            return true;
    return false;
}

/* The drift that made the table: notification reads orders.events too. */
static void consumers_are_as_the_services_subscribe(void **state)
{
    (void)state;
    const ev_topology_service *n = ev_topology_service_named("notification");
    assert_int_equal(ev_topology_count(n->consumes), 3);
    assert_true(listed(n->consumes, EV_TOPIC_ORDERS));
    assert_true(listed(n->consumes, EV_TOPIC_LIFECYCLE));
    assert_true(listed(n->consumes, EV_TOPIC_SHIPPING));
    const ev_topology_service *o = ev_topology_service_named("orchestrator");
    assert_true(listed(o->consumes, EV_TOPIC_ORDERS));
    assert_false(listed(o->consumes, EV_TOPIC_LIFECYCLE));
    assert_true(listed(o->produces, EV_TOPIC_LIFECYCLE));
}

static void every_named_topic_exists_with_its_kind(void **state)
{
    (void)state;
    const ev_topology_service *s;
    for (size_t i = 0; (s = ev_topology_service_at(i)); i++) {
        assert_null(s->consumes[EV_TOPOLOGY_LIST_MAX]);
        assert_null(s->produces[EV_TOPOLOGY_LIST_MAX]);
        for (size_t t = 0; t < ev_topology_count(s->consumes); t++)
            assert_int_equal(ev_topology_topic_named(s->consumes[t])->kind, EV_TOPIC_KIND_EVENTS);
        for (size_t t = 0; t < ev_topology_count(s->produces); t++)
            assert_int_equal(ev_topology_topic_named(s->produces[t])->kind, EV_TOPIC_KIND_EVENTS);
        /* a group has a DLQ exactly when the service consumes */
        assert_int_equal(s->group != NULL, ev_topology_count(s->consumes) > 0);
        assert_int_equal(s->dlq != NULL, s->group != NULL);
        if (s->dlq)
            assert_int_equal(ev_topology_topic_named(s->dlq)->kind, EV_TOPIC_KIND_DLQ);
    }
}

static void each_event_topic_has_one_producer_and_is_projected(void **state)
{
    (void)state;
    const ev_topology_service *rm = ev_topology_service_named("read-model");
    const ev_topology_topic *t;
    for (size_t i = 0; (t = ev_topology_topic_at(i)); i++) {
        assert_true(t->partitions >= 1 && t->partitions <= ev_topology_max_partitions());
        if (t->kind != EV_TOPIC_KIND_EVENTS)
            continue;
        int producers = 0;
        const ev_topology_service *s;
        for (size_t j = 0; (s = ev_topology_service_at(j)); j++)
            producers += listed(s->produces, t->name);
        assert_int_equal(producers, 1);
        assert_true(listed(rm->consumes, t->name));
    }
    /* the event catalog puts every event type on a topic of the table */
    const char *types[] = {"OrderPlaced",    "InventoryReserved", "PaymentRefunded",
                           "OrderCancelled", "ShipmentCreated",   "ProductUpserted"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        assert_non_null(ev_topology_topic_named(ev_topic_of(types[i])));
}

static void names_ports_databases_and_dlqs_are_unique(void **state)
{
    (void)state;
    const ev_topology_service *a, *b;
    for (size_t i = 0; (a = ev_topology_service_at(i)); i++)
        for (size_t j = i + 1; (b = ev_topology_service_at(j)); j++) {
            assert_string_not_equal(a->name, b->name);
            assert_int_not_equal(a->http_port, b->http_port);
            assert_string_not_equal(a->database, b->database);
            if (a->dlq && b->dlq)
                assert_string_not_equal(a->dlq, b->dlq);
        }
    /* every DLQ topic of the table is some group's, listed in service order */
    size_t dlqs = 0;
    const ev_topology_topic *t;
    for (size_t i = 0; (t = ev_topology_topic_at(i)); i++)
        dlqs += t->kind == EV_TOPIC_KIND_DLQ;
    size_t n = 0;
    while (ev_topology_dlq_at(n))
        n++;
    assert_int_equal(n, dlqs);
    assert_string_equal(ev_topology_dlq_at(0), "order.dlq");
}

/* infra/topology.json is what `eventifyctl topology` prints: regenerate it with
 * `make topology` after editing the table. */
static void the_committed_json_is_the_table(void **state)
{
    (void)state;
    json_error_t error;
    const char *path = EVENTIFY_SOURCE_DIR "/infra/topology.json";
    json_t *committed = json_load_file(path, 0, &error);
    if (!committed)
        fail_msg("%s: %s (line %d)", path, error.text, error.line);
    json_t *table = ev_topology_json();
    assert_non_null(table);
    if (!json_equal(committed, table))
        fail_msg("%s differs from libs/src/topology.c: run `make topology` and commit it", path);
    json_t *rm = json_array_get(json_object_get(table, "services"), 5);
    assert_string_equal(json_string_value(json_object_get(rm, "name")), "read-model");
    assert_int_equal(json_array_size(json_object_get(rm, "produces")), 0);
    json_decref(committed);
    json_decref(table);
}

/* The first server of contracts/openapi/<service>.json is the service's default address. */
static void openapi_documents_name_the_tables_ports(void **state)
{
    (void)state;
    const ev_topology_service *s;
    for (size_t i = 0; (s = ev_topology_service_at(i)); i++) {
        char path[512], want[64];
        assert_true((size_t)snprintf(path, sizeof path, "%s/contracts/openapi/%s.json",
                                     EVENTIFY_SOURCE_DIR, s->name) < sizeof path);
        snprintf(want, sizeof want, "http://localhost:%d", s->http_port);
        json_error_t error;
        json_t *doc = json_load_file(path, 0, &error);
        if (!doc)
            fail_msg("%s: %s", path, error.text);
        const char *url = json_string_value(
            json_object_get(json_array_get(json_object_get(doc, "servers"), 0), "url"));
        if (!url || strcmp(url, want) != 0)
            fail_msg("%s: servers[0].url is %s, the topology table says %s", path,
                     url ? url : "missing", want);
        json_decref(doc);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(services_and_topics_are_found_by_name),
        cmocka_unit_test(consumers_are_as_the_services_subscribe),
        cmocka_unit_test(every_named_topic_exists_with_its_kind),
        cmocka_unit_test(each_event_topic_has_one_producer_and_is_projected),
        cmocka_unit_test(names_ports_databases_and_dlqs_are_unique),
        cmocka_unit_test(the_committed_json_is_the_table),
        cmocka_unit_test(openapi_documents_name_the_tables_ports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
