/* HTTP edge of every service, on libmicrohttpd: JSON in and out, the error shape
 * {"error":{"code","message"}}, per-route request metrics, the /health, /ready and /metrics
 * endpoints every service answers, and WebSocket endpoints (ev/ws.h).
 *
 * Requests reach handlers as ulfius `struct _u_request` / `struct _u_response` values (their
 * maps and body helpers), but no ulfius or libmicrohttpd body parser ever runs: the body is
 * judged on the request headers alone and refused before a byte of it is read when it
 * announces more than the limit (413) or a media type other than JSON (415); a chunked body
 * is counted as it arrives and refused as soon as it passes the limit. Unknown paths answer
 * 404 at once, body unread. So a request never costs more memory than the body limit.
 *
 * Slow and idle clients: one event loop (epoll) per pool thread serves every connection, so
 * idle sockets cost a file descriptor and a small buffer, not a thread; a connection silent
 * for read_timeout_s is closed, a body not complete within body_timeout_ms answers 408, and
 * connections beyond max_connections are refused at accept. */
#ifndef EV_HTTP_H
#define EV_HTTP_H

#include "ev/metrics.h"
#include "ev/ws.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <ulfius.h>

typedef struct ev_http ev_http;

/* Where and how the server listens; every field must be set (ev_config gives defaults). */
typedef struct {
    const char *bind;         /* numeric IPv4 or IPv6 address, e.g. "127.0.0.1" */
    int port;                 /* TCP port */
    size_t max_body;          /* request body limit in bytes */
    unsigned max_connections; /* open connections, WebSockets included */
    unsigned threads;         /* event-loop threads that also run the handlers */
    unsigned read_timeout_s;  /* a connection silent this long while reading is closed */
    unsigned body_timeout_ms; /* a body must arrive within this after its headers */
} ev_http_limits;

/* A route handler answers through resp and returns nothing; user is the pointer given to
 * ev_http_route. */
typedef void (*ev_http_handler)(const struct _u_request *req, struct _u_response *resp, void *user);

/* Readiness probe: true when the service can do its work. On false it writes into why a
 * short reason code for clients (e.g. "database_unavailable"); details go to the log. */
typedef bool (*ev_http_ready_fn)(void *user, char *why, size_t whylen);

/* Decides on a WebSocket handshake before the upgrade: true accepts; false refuses with the
 * answer it set in resp (e.g. 403 for a foreign Origin, 503 when every slot is taken). */
typedef bool (*ev_http_ws_admit)(const struct _u_request *req, struct _u_response *resp,
                                 void *user);

/* Serves one upgraded connection on a thread of its own; the connection closes when it
 * returns. It must return soon after ev_ws_wait reports the end (the server stopping
 * included). */
typedef void (*ev_http_ws_serve)(ev_ws *ws, void *user);

/* Creates a server (not yet listening); limits is copied (bind too). NULL on failure. */
ev_http *ev_http_new(const ev_http_limits *limits, ev_metrics *metrics, ev_http_ready_fn ready,
                     void *ready_user);

/* Adds a route; pattern segments starting with ':' capture a path parameter into
 * req->map_url ("/orders/:id"). A literal segment wins over a parameter. Returns 0 or -1. */
int ev_http_route(ev_http *h, const char *method, const char *pattern, ev_http_handler handler,
                  void *user);

/* Adds a WebSocket endpoint at path (GET). admit runs on the handshake; serve on the
 * upgraded connection with the given limits (copied). Returns 0 or -1. */
int ev_http_websocket(ev_http *h, const char *path, const ev_ws_limits *limits,
                      ev_http_ws_admit admit, ev_http_ws_serve serve, void *user);

/* Starts listening (threads owned by libmicrohttpd). Returns 0 or -1. */
int ev_http_start(ev_http *h);

/* Stops (if started): ends every WebSocket (their serve functions return), then the server;
 * then frees. */
void ev_http_free(ev_http *h);

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
 * list the route's path parameters too: they share the map), answers 400
 * naming it and returns false. A client's typo gets an error, not a silently ignored filter. */
bool ev_http_only_params(const struct _u_request *req, struct _u_response *resp,
                         const char *const *allowed);

/* --- pure decisions, exposed for unit tests ------------------------------------------- */

/* What the headers of a request say about its body. */
typedef enum {
    EV_BODY_NONE,       /* no body: no Content-Length (or 0) and not chunked */
    EV_BODY_ACCEPT,     /* a JSON body within the limit (or chunked: counted as it arrives) */
    EV_BODY_TOO_LARGE,  /* Content-Length over the limit: 413 */
    EV_BODY_WRONG_TYPE, /* a body that is not application/json: 415 */
} ev_body_verdict;

/* Judges a request body from its Content-Length, Transfer-Encoding and Content-Type headers
 * (each NULL when absent); max_body is the limit in bytes. */
ev_body_verdict ev_http_body_verdict(const char *content_length, const char *transfer_encoding,
                                     const char *content_type, size_t max_body);

/* True for "application/json", alone or with parameters ("; charset=utf-8"), any case. */
bool ev_http_is_json(const char *content_type);

/* Matches path against a route pattern; on a match returns the number of parameter
 * segments (>= 0) and, when params is not NULL, puts each captured segment in it. -1 when
 * the path does not match. Empty segments (double or trailing slashes) are ignored. */
int ev_http_path_match(const char *pattern, const char *path, struct _u_map *params);

#endif
