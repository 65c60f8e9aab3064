/* The read model's query API: /api/orders, /api/orders/{id}, /api/catalog, /api/stats,
 * /api/topics, /api/events, /api/dlq, POST /api/dlq/replay. */
#ifndef API_H
#define API_H

#include "ev/service.h"

/* Registers every /api route on s->http. Returns 0 or -1. */
int api_register(ev_service *s);

#endif
