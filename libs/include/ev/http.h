/* HTTP glue over ulfius: JSON in and out, the error shape {"error":{"code","message"}},
 * a body size limit, per-route request metrics, and the /health, /ready and /metrics
 * endpoints every service answers. */
#ifndef EV_HTTP_H
#define EV_HTTP_H

#include "ev/metrics.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <ulfius.h>

typedef struct ev_http ev_http;

/* A route handler answers through resp and returns nothing; user is the pointer given to
 * ev_http_route. */
typedef void (*ev_http_handler)(const struct _u_request *req, struct _u_response *resp, void *user);

/* Readiness probe: true when the service can do its work; why explains a false. */
typedef bool (*ev_http_ready_fn)(void *user, char *why, size_t whylen);

/* Creates a server for port (not yet listening). max_body is the request body limit in
 * bytes; larger bodies answer 413. NULL on failure. */
ev_http *ev_http_new(int port, size_t max_body, ev_metrics *metrics, ev_http_ready_fn ready,
                     void *ready_user);

/* Adds a route; pattern uses ulfius syntax ("/orders/:id"). Returns 0 or -1. */
int ev_http_route(ev_http *h, const char *method, const char *pattern, ev_http_handler handler,
                  void *user);

/* Starts listening (threads owned by libmicrohttpd). Returns 0 or -1. */
int ev_http_start(ev_http *h);

/* Stops (if started) and frees. */
void ev_http_free(ev_http *h);

/* The underlying instance, for WebSocket endpoints. */
struct _u_instance *ev_http_instance(ev_http *h);

/* Answers status with body (a reference is stolen; NULL answers an empty object). */
void ev_http_reply_json(struct _u_response *resp, unsigned status, json_t *body);

/* Answers status with {"error":{"code":code,"message":message}}. */
void ev_http_reply_error(struct _u_response *resp, unsigned status, const char *code,
                         const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Parses a JSON object request body. On failure answers 413, 415 or 400 itself and returns
 * NULL; on success the caller owns the returned reference. */
json_t *ev_http_json_body(const ev_http *h, const struct _u_request *req, struct _u_response *resp);

/* A request header (case-insensitive name) or NULL. */
const char *ev_http_header(const struct _u_request *req, const char *name);

/* Parses a decimal query parameter in [min, max], def when absent; -1 when malformed
 * (empty, not only digits with an optional minus, or out of range). */
int ev_http_query_long(const struct _u_request *req, const char *name, long def, long min, long max,
                       long *out);

/* Strict query strings: when req carries a query parameter not in allowed (NULL-terminated;
 * list the route's path parameters too, ulfius keeps them in the same map), answers 400
 * naming it and returns false. A client's typo gets an error, not a silently ignored filter. */
bool ev_http_only_params(const struct _u_request *req, struct _u_response *resp,
                         const char *const *allowed);

#endif
