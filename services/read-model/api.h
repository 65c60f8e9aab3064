/* The read model's HTTP API: queries over the projections (/api/orders, /api/orders/{id},
 * /api/catalog, /api/stats, /api/events), Kafka's own state (/api/topics), the dead letters
 * (/api/dlq paged, /api/dlq/{topic}/{partition}/{offset} with its value, /api/dlq/replays)
 * and the one admin action, POST /api/dlq/replay, which needs the admin token and is
 * recorded in the dlq_replays table. */
#ifndef API_H
#define API_H

#include "ev/dlq.h"
#include "ev/service.h"

typedef struct {
    ev_service *service; /* not owned */
    ev_dlq_reader *dlq;  /* owned: the one Kafka reader of every DLQ request */
} api;

/* Creates the DLQ reader and registers every /api route on service->http. Returns 0, or -1
 * with err (nothing left open). */
int api_open(api *a, ev_service *service, char *err, size_t errlen);

/* Frees what api_open made. Call after the HTTP server has stopped. */
void api_close(api *a);

#endif
