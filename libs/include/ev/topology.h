/* The topology of the system in one table: every service (its default HTTP port, its
 * database, its consumer group, the topics it reads and writes, its DLQ) and every topic
 * (partitions, key, kind). Services read their defaults from it (ev_service_open), workers
 * their subscriptions, the read model its lag and topic listings, eventifyctl its DLQs and
 * URLs; `eventifyctl topology` prints it as JSON, committed as infra/topology.json for the
 * scripts and tests that are not C (a unit test keeps the two equal).
 *
 * Adding a service or a topic is one edit of libs/src/topology.c, then regenerating the
 * JSON (`make topology`). Everything here is static and constant: nothing to free. */
#ifndef EV_TOPOLOGY_H
#define EV_TOPOLOGY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Most topics one service reads or writes; lists below are NULL-terminated within it. */
#define EV_TOPOLOGY_LIST_MAX 8

typedef enum {
    EV_TOPIC_KIND_EVENTS, /* domain events, written through an outbox */
    EV_TOPIC_KIND_DLQ,    /* dead letters of one consumer group */
} ev_topic_kind;

typedef struct {
    const char *name;
    ev_topic_kind kind;
    int partitions;  /* created so by the stack; readers handle exactly these */
    const char *key; /* what the message key is, for people and the docs */
} ev_topology_topic;

typedef struct {
    const char *name;     /* program eventify-<name>, log and metrics name */
    int http_port;        /* default; EVENTIFY_HTTP_PORT overrides, the stack adds its offset */
    const char *database; /* its own PostgreSQL database, and the role owning it */
    const char *group;    /* its Kafka consumer group; NULL when it consumes nothing */
    const char *dlq;      /* where its consumer dead-letters; NULL when it consumes nothing */
    const char *consumes[EV_TOPOLOGY_LIST_MAX + 1]; /* NULL-terminated */
    const char *produces[EV_TOPOLOGY_LIST_MAX + 1]; /* NULL-terminated, through its outbox */
} ev_topology_service;

/* The i-th service (in port order) or topic (events first, then DLQs in service order);
 * NULL past the end. */
const ev_topology_service *ev_topology_service_at(size_t i);
const ev_topology_topic *ev_topology_topic_at(size_t i);

/* Lookups by name; NULL when unknown. */
const ev_topology_service *ev_topology_service_named(const char *name);
const ev_topology_topic *ev_topology_topic_named(const char *name);

/* The i-th DLQ in listing order (service order); NULL past the end. */
const char *ev_topology_dlq_at(size_t i);

/* Partitions of a topic of the table, or 0 when the topic is unknown. */
int ev_topology_partitions(const char *topic);

/* The most partitions any topic has: a bound for readers that take a partition number. */
int ev_topology_max_partitions(void);

/* Entries of a NULL-terminated list of the table (consumes, produces). */
size_t ev_topology_count(const char *const *list);

/* The whole table as JSON {"services": [...], "topics": [...]}: a new reference the caller
 * owns, or NULL when out of memory. The shape is documented in docs/topology.md. */
json_t *ev_topology_json(void);

#endif
