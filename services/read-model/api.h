/* The read model's HTTP API: queries over the projections (/api/orders, /api/orders/{id},
 * /api/catalog, /api/stats, /api/events), Kafka's own state (/api/topics), the dead letters
 * (/api/dlq paged, /api/dlq/{topic}/{partition}/{offset} with its value, /api/dlq/replays)
 * and the one admin action, POST /api/dlq/replay, which needs the admin token and is
 * recorded in the dlq_replays table. The Kafka UI's routes (/api/kafka/...) are kafka_api.h. */
#ifndef API_H
#define API_H

#include "kafka_admin.h"

#include "ev/dlq.h"
#include "ev/service.h"

typedef struct {
    ev_service *service; /* not owned */
    ev_dlq_reader *dlq;  /* owned: the one Kafka reader of every DLQ request */
    kafka_admin *kafka;  /* owned: the Kafka UI's admin client and browsing consumer */
} api;

/* Creates the DLQ reader, the Kafka UI's clients, and registers every /api route on service->http.
 * Returns 0, or -1 with err (nothing left open). */
int api_open(api *a, ev_service *service, char *err, size_t errlen);

/* Frees what api_open made. Call after the HTTP server has stopped. */
void api_close(api *a);

/* --- shared by the route files ---------------------------------------------------------- */

/* Routes that take only ?limit=1..500 (default 50): runs sql on a pooled connection with the
 * limit as its user argument (a decimal string), or answers 400. */
void api_with_limit(api *a, const struct _u_request *req, struct _u_response *resp,
                    ev_with_conn_fn sql);

/* The tool a request says it comes from, as the admin actions record it: the UI and
 * eventifyctl say so in X-Eventify-Client; anything else is "api". */
const char *api_client_tool(const struct _u_request *req);

/* True when the JSON object body has a member not named in fields (NULL-terminated). */
bool api_has_unknown_field(const json_t *body, const char *const *fields);

#endif
