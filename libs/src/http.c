/* HTTP edge on libmicrohttpd; see ev/http.h.
 *
 * Why not ulfius's own server loop: ulfius (2.7) gives libmicrohttpd its access handler
 * and, for every form or multipart Content-Type, creates a libmicrohttpd post processor
 * that copies the whole body into a map before any endpoint runs; max_post_body_size only
 * caps the raw copy, and the handler is static, so no option stops the parsing or lets a
 * request be refused on its headers. Its WebSocket keeps whole messages in memory, however
 * large. So this file drives libmicrohttpd itself (one access handler that judges the body
 * on its headers), keeps ulfius's request and response structures for the handlers, and
 * serves WebSockets with wslay (ws.c). */
#define _GNU_SOURCE /* strcasestr */
#include "ev/http.h"
#include "ev/log.h"
#include "ev/trace.h"
#include "ev/utf8.h"
#include "ev/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define MAX_ROUTES 32
/* Request line and headers of one request, in a per-connection buffer. Over 32 KiB
 * libmicrohttpd maps it (mmap) instead of taking it from the heap: the pages an idle
 * connection never touches cost nothing, and all of it goes back to the system when the
 * connection closes, so a flood of connections leaves no lasting growth. */
#define MAX_HEADER_BYTES (36 * 1024)
#define LISTEN_BACKLOG 1024

typedef struct {
    ev_http *http;
    char method[8];
    char pattern[96];
    ev_http_handler handler;
    /* WebSocket endpoints: admit and serve instead of handler */
    ev_http_ws_admit admit;
    ev_http_ws_serve serve;
    ev_ws_limits ws_limits;
    void *user;
    char label[160]; /* metric labels: method and route pattern */
} route;

struct ev_http {
    struct MHD_Daemon *daemon;
    ev_http_limits limits;
    char bind[64];
    ev_metrics *metrics;
    ev_http_ready_fn ready;
    void *ready_user;
    size_t route_count;
    route routes[MAX_ROUTES];
    /* WebSocket threads: counted so ev_http_free can wait for them */
    atomic_bool stopping;
    pthread_mutex_t lock;
    pthread_cond_t ws_done;
    int ws_active;
};

/* One request, from its headers to its answer (libmicrohttpd's con_cls). */
typedef struct {
    struct _u_request req;
    const route *route;
    char *body;
    size_t body_len;
    int64_t started_ms;
    bool answered; /* a response is queued: the rest of the body is not read */
    ev_span *span; /* the server span, from the headers until the connection is done */
} request_state;

/* One upgraded connection, handed to its thread. */
typedef struct {
    const route *route;
    ev_ws *ws;
    struct MHD_UpgradeResponseHandle *urh;
} ws_session;

/* --- replies ------------------------------------------------------------------------- */

void ev_http_reply_json(struct _u_response *resp, unsigned status, json_t *body)
{
    if (!body)
        body = json_object();
    char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(body);
    u_map_put(resp->map_header, "Content-Type", "application/json");
    ulfius_set_string_body_response(resp, status, text ? text : "{}");
    free(text);
}

void ev_http_reply_error(struct _u_response *resp, unsigned status, const char *code,
                         const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    /* a message may quote a client's bytes, or end in a character the bound cut */
    ev_utf8_scrub(message);
    ev_http_reply_json(resp, status,
                       json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message));
}

const char *ev_http_header(const struct _u_request *req, const char *name)
{
    return u_map_get_case(req->map_header, name);
}

bool ev_http_only_params(const struct _u_request *req, struct _u_response *resp,
                         const char *const *allowed)
{
    const char **keys = u_map_enum_keys(req->map_url);
    for (size_t i = 0; keys && keys[i]; i++) {
        bool known = false;
        for (size_t j = 0; allowed[j] && !known; j++)
            known = strcmp(keys[i], allowed[j]) == 0;
        if (!known) {
            /* Quoted only when short and plain ASCII: the message must stay valid UTF-8. */
            bool plain = strlen(keys[i]) <= 64;
            for (const char *c = keys[i]; plain && *c; c++)
                plain = *c > ' ' && *c < 0x7f;
            ev_http_reply_error(resp, 400, "unknown_parameter", "%s is not a known parameter",
                                plain ? keys[i] : "a query parameter");
            return false;
        }
    }
    return true;
}

int ev_http_query_long(const struct _u_request *req, const char *name, long def, long min, long max,
                       long *out)
{
    const char *text = u_map_get(req->map_url, name);
    if (!text) {
        *out = def;
        return 0;
    }
    /* Digits with an optional minus, nothing else: strtol alone would take "", " 5" and "+5". */
    if (!isdigit((unsigned char)text[text[0] == '-']))
        return -1;
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (*end || errno || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* --- pure decisions ------------------------------------------------------------------ */

bool ev_http_is_json(const char *type)
{
    size_t n = strlen("application/json");
    if (!type || strncasecmp(type, "application/json", n) != 0)
        return false;
    return type[n] == '\0' || type[n] == ';';
}

ev_body_verdict ev_http_body_verdict(const char *content_length, const char *transfer_encoding,
                                     const char *content_type, size_t max_body)
{
    bool chunked = transfer_encoding && strcasestr(transfer_encoding, "chunked");
    uintmax_t length = 0;
    if (content_length) {
        char *end;
        errno = 0;
        length = strtoumax(content_length, &end, 10);
        if (errno == ERANGE)
            length = UINTMAX_MAX; /* absurdly long: too large, not malformed */
    }
    if (!chunked && length == 0)
        return EV_BODY_NONE;
    if (!chunked && length > max_body)
        return EV_BODY_TOO_LARGE;
    return ev_http_is_json(content_type) ? EV_BODY_ACCEPT : EV_BODY_WRONG_TYPE;
}

/* Next non-empty segment of a path: its start and length; NULL at the end. */
static const char *next_segment(const char *p, size_t *len)
{
    while (*p == '/')
        p++;
    if (!*p)
        return NULL;
    *len = strcspn(p, "/");
    return p;
}

int ev_http_path_match(const char *pattern, const char *path, struct _u_map *params)
{
    int captured = 0;
    size_t plen = 0, slen = 0;
    const char *p = next_segment(pattern, &plen), *s = next_segment(path, &slen);
    for (; p && s; p = next_segment(p + plen, &plen), s = next_segment(s + slen, &slen)) {
        if (*p == ':') {
            captured++;
            if (params) {
                char name[64], value[256];
                if (plen - 1 >= sizeof name || slen >= sizeof value)
                    return -1; /* a segment this long is no id of ours */
                memcpy(name, p + 1, plen - 1);
                name[plen - 1] = '\0';
                memcpy(value, s, slen);
                value[slen] = '\0';
                u_map_put(params, name, value);
            }
        } else if (plen != slen || memcmp(p, s, plen) != 0) {
            return -1;
        }
    }
    return p || s ? -1 : captured;
}

/* --- routing ------------------------------------------------------------------------- */

/* The route for method and path, preferring the fewest parameter segments; NULL if none. */
static const route *find_route(const ev_http *h, const char *method, const char *path)
{
    const route *best = NULL;
    int best_params = 0;
    for (size_t i = 0; i < h->route_count; i++) {
        const route *r = &h->routes[i];
        if (strcmp(r->method, method) != 0)
            continue;
        int params = ev_http_path_match(r->pattern, path, NULL);
        if (params >= 0 && (!best || params < best_params)) {
            best = r;
            best_params = params;
        }
    }
    return best;
}

static int add_route(ev_http *h, const route *r)
{
    if (h->route_count == MAX_ROUTES)
        return -1;
    route *slot = &h->routes[h->route_count];
    *slot = *r;
    slot->http = h;
    snprintf(slot->label, sizeof slot->label, "method=\"%s\",route=\"%s\"", r->method, r->pattern);
    h->route_count++;
    return 0;
}

int ev_http_route(ev_http *h, const char *method, const char *pattern, ev_http_handler handler,
                  void *user)
{
    route r = {.handler = handler, .user = user};
    if (!ev_strlcpy(r.method, method, sizeof r.method) ||
        !ev_strlcpy(r.pattern, pattern, sizeof r.pattern))
        return -1;
    return add_route(h, &r);
}

int ev_http_websocket(ev_http *h, const char *path, const ev_ws_limits *limits,
                      ev_http_ws_admit admit, ev_http_ws_serve serve, void *user)
{
    route r = {.admit = admit, .serve = serve, .ws_limits = *limits, .user = user};
    if (!ev_strlcpy(r.method, "GET", sizeof r.method) ||
        !ev_strlcpy(r.pattern, path, sizeof r.pattern))
        return -1;
    return add_route(h, &r);
}

/* --- built-in endpoints -------------------------------------------------------------- */

static void health(const struct _u_request *req, struct _u_response *resp, void *user)
{
    (void)req;
    (void)user;
    ev_http_reply_json(resp, 200, json_pack("{s:s}", "status", "ok"));
}

static void ready(const struct _u_request *req, struct _u_response *resp, void *user)
{
    (void)req;
    ev_http *h = user;
    char why[64] = "";
    if (h->ready && !h->ready(h->ready_user, why, sizeof why)) {
        ev_http_reply_json(resp, 503,
                           json_pack("{s:s, s:s}", "status", "not ready", "reason", why));
        return;
    }
    ev_http_reply_json(resp, 200, json_pack("{s:s}", "status", "ready"));
}

static void metrics(const struct _u_request *req, struct _u_response *resp, void *user)
{
    (void)req;
    ev_http *h = user;
    char *text = ev_metrics_render(h->metrics);
    u_map_put(resp->map_header, "Content-Type", "text/plain; version=0.0.4");
    ulfius_set_string_body_response(resp, text ? 200 : 500, text ? text : "out of memory\n");
    free(text);
}

/* --- libmicrohttpd glue -------------------------------------------------------------- */

/* The headers a request may carry once: the services read one value of each, and a second
 * one would be dropped without a word (an idempotency key or a correlation id chosen by
 * chance). Headers that are lists, or only informative, may repeat. */
static const char *const single_headers[] = {"Authorization",
                                             "Content-Type",
                                             "Idempotency-Key",
                                             "X-Correlation-Id",
                                             "Origin",
                                             "X-Eventify-Client",
                                             "Sec-WebSocket-Version",
                                             "Sec-WebSocket-Key",
                                             NULL};

/* What copy_value gathers into map, one value per name, and the first name that came twice
 * where only one value would have been kept (a query parameter, or a header of
 * single_headers); repeated is allocated, freed by values_copy_clear. */
typedef struct {
    struct _u_map *map;
    bool headers;
    char *repeated;
} values_copy;

static bool single_header(const char *name)
{
    for (size_t i = 0; single_headers[i]; i++)
        if (strcasecmp(single_headers[i], name) == 0)
            return true;
    return false;
}

static enum MHD_Result copy_value(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    values_copy *c = cls;
    bool seen = c->headers ? single_header(key) && u_map_has_key_case(c->map, key)
                           : u_map_has_key(c->map, key);
    if (seen && !c->repeated)
        c->repeated = strdup(key);
    u_map_put(c->map, key, value ? value : "");
    return MHD_YES;
}

/* Copies the connection's values of kind into map; returns the first repeated name (the
 * caller frees it) or NULL. */
static char *copy_values(struct MHD_Connection *conn, enum MHD_ValueKind kind, struct _u_map *map)
{
    values_copy c = {.map = map, .headers = kind == MHD_HEADER_KIND};
    MHD_get_connection_values(conn, kind, copy_value, &c);
    return c.repeated;
}

/* Queues resp (status, headers, body) on the connection. */
static enum MHD_Result queue(struct MHD_Connection *conn, const struct _u_response *resp)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        resp->binary_body_length, resp->binary_body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    const char **keys = u_map_enum_keys(resp->map_header);
    for (size_t i = 0; keys && keys[i]; i++)
        MHD_add_response_header(r, keys[i], u_map_get(resp->map_header, keys[i]));
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    return rc;
}

/* --- tracing ------------------------------------------------------------------------------
 * Every request gets a server span, the child of its traceparent header when that is valid
 * (a malformed one is ignored: a new trace starts). Probes and scrapes start no trace of
 * their own. The answer carries the span's traceparent and the request's tracestate. */

/* Probes, scrapes, the document and unknown paths (scanners) start no trace. */
static bool quiet_route(const route *r)
{
    return !r ||
           (strcmp(r->method, "GET") == 0 &&
            (strcmp(r->pattern, "/health") == 0 || strcmp(r->pattern, "/ready") == 0 ||
             strcmp(r->pattern, "/metrics") == 0 || strcmp(r->pattern, "/openapi.json") == 0));
}

static void start_span(request_state *st, const char *method, const char *url)
{
    const char *header = ev_http_header(&st->req, "traceparent");
    ev_trace_ctx parent;
    bool has_parent = header && ev_traceparent_parse(header, strlen(header), &parent) == 0;
    char name[120];
    snprintf(name, sizeof name, "%s %s", st->route ? st->route->method : "HTTP",
             st->route ? st->route->pattern : "");
    st->span = quiet_route(st->route)
                   ? ev_span_start_quiet(name, EV_SPAN_SERVER, has_parent ? &parent : NULL)
                   : ev_span_start(name, EV_SPAN_SERVER, has_parent ? &parent : NULL);
    ev_span_attr_str(st->span, "http.request.method", method);
    ev_span_attr_str(st->span, "url.path", url);
    ev_span_attr_str(st->span, "url.scheme", "http");
    if (st->route)
        ev_span_attr_str(st->span, "http.route", st->route->pattern);
    const char *agent = ev_http_header(&st->req, "User-Agent");
    if (agent)
        ev_span_attr_str(st->span, "user_agent.original", agent);
}

/* Puts traceparent (and a valid tracestate) on an answer and its status on the span. */
static void answer_trace(request_state *st, struct _u_response *resp, unsigned status)
{
    char traceparent[EV_TRACEPARENT_SIZE];
    ev_traceparent_format(ev_span_context(st->span), traceparent);
    u_map_put(resp->map_header, "traceparent", traceparent);
    const char *state = ev_http_header(&st->req, "tracestate");
    if (state && ev_tracestate_valid(state, strlen(state)))
        u_map_put(resp->map_header, "tracestate", state);
    ev_span_attr_int(st->span, "http.response.status_code", status);
    if (status >= 500)
        ev_span_error(st->span, "server error");
}

/* Answers an error at once; an unread body is then skipped by closing the connection. */
static enum MHD_Result refuse(struct MHD_Connection *conn, request_state *st, unsigned status,
                              const char *code, const char *message)
{
    struct _u_response resp;
    if (ulfius_init_response(&resp) != U_OK)
        return MHD_NO;
    ev_http_reply_error(&resp, status, code, "%s", message);
    st->answered = true;
    answer_trace(st, &resp, status);
    if (st->route) {
        char labels[200];
        snprintf(labels, sizeof labels, "%s,status=\"%u\"", st->route->label, status);
        ev_metrics_add(st->route->http->metrics, "http_requests_total", labels, 1);
    }
    enum MHD_Result rc = queue(conn, &resp);
    ulfius_clean_response(&resp);
    return rc;
}

static void *ws_thread(void *arg)
{
    ws_session *s = arg;
    ev_http *h = s->route->http;
    s->route->serve(s->ws, s->route->user);
    ev_ws_free(s->ws);
    MHD_upgrade_action(s->urh, MHD_UPGRADE_ACTION_CLOSE);
    free(s);
    pthread_mutex_lock(&h->lock);
    h->ws_active--;
    pthread_cond_broadcast(&h->ws_done);
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

static void on_upgraded(void *cls, struct MHD_Connection *conn, void *con_cls, const char *extra_in,
                        size_t extra_in_size, MHD_socket sock,
                        struct MHD_UpgradeResponseHandle *urh)
{
    (void)conn;
    (void)con_cls;
    const route *r = cls;
    ev_http *h = r->http;
    ws_session *s = malloc(sizeof *s);
    ev_ws *ws = ev_ws_new(sock, extra_in, extra_in_size, &r->ws_limits, &h->stopping);
    pthread_t thread;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_mutex_lock(&h->lock);
    h->ws_active++;
    pthread_mutex_unlock(&h->lock);
    if (s && ws) {
        *s = (ws_session){.route = r, .ws = ws, .urh = urh};
        if (pthread_create(&thread, &attr, ws_thread, s) == 0) {
            pthread_attr_destroy(&attr);
            return;
        }
    }
    pthread_attr_destroy(&attr);
    ev_warn("cannot serve a WebSocket: out of memory or threads");
    ev_ws_free(ws);
    free(s);
    MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
    pthread_mutex_lock(&h->lock);
    h->ws_active--;
    pthread_cond_broadcast(&h->ws_done);
    pthread_mutex_unlock(&h->lock);
}

static bool header_has_token(const struct _u_request *req, const char *name, const char *token)
{
    const char *value = ev_http_header(req, name);
    return value && strcasestr(value, token);
}

/* A WebSocket handshake: checked, admitted by the endpoint, then upgraded. */
static enum MHD_Result upgrade(struct MHD_Connection *conn, request_state *st)
{
    const route *r = st->route;
    char accept[29];
    const char *version = ev_http_header(&st->req, "Sec-WebSocket-Version");
    if (!header_has_token(&st->req, "Upgrade", "websocket") ||
        !header_has_token(&st->req, "Connection", "upgrade") || !version ||
        strcmp(version, "13") != 0 ||
        ev_ws_accept_key(ev_http_header(&st->req, "Sec-WebSocket-Key"), accept) != 0)
        return refuse(conn, st, 400, "websocket_required",
                      "this path upgrades to a WebSocket (version 13)");
    struct _u_response resp;
    if (ulfius_init_response(&resp) != U_OK)
        return MHD_NO;
    enum MHD_Result rc;
    st->answered = true;
    if (!r->admit || r->admit(&st->req, &resp, r->user)) {
        struct MHD_Response *up = MHD_create_response_for_upgrade(on_upgraded, (void *)r);
        rc = MHD_NO;
        if (up) {
            MHD_add_response_header(up, MHD_HTTP_HEADER_UPGRADE, "websocket");
            MHD_add_response_header(up, "Sec-WebSocket-Accept", accept);
            char traceparent[EV_TRACEPARENT_SIZE];
            ev_traceparent_format(ev_span_context(st->span), traceparent);
            MHD_add_response_header(up, "traceparent", traceparent);
            ev_span_attr_int(st->span, "http.response.status_code", 101);
            rc = MHD_queue_response(conn, MHD_HTTP_SWITCHING_PROTOCOLS, up);
            MHD_destroy_response(up);
        }
    } else {
        answer_trace(st, &resp, (unsigned)resp.status);
        rc = queue(conn, &resp);
    }
    ulfius_clean_response(&resp);
    return rc;
}

/* Headers are in: route, judge the body, refuse at once when it is not wanted. */
static enum MHD_Result begin(ev_http *h, struct MHD_Connection *conn, request_state *st,
                             const char *url, const char *method)
{
    st->started_ms = ev_monotonic_ms();
    st->req.http_verb = strdup(method);
    st->req.http_url = strdup(url);
    st->req.url_path = strdup(url);
    if (!st->req.http_verb || !st->req.http_url || !st->req.url_path)
        return MHD_NO;
    char *repeated_header = copy_values(conn, MHD_HEADER_KIND, st->req.map_header);
    char *repeated_param = copy_values(conn, MHD_GET_ARGUMENT_KIND, st->req.map_url);
    st->route = find_route(h, method, url);
    start_span(st, method, url);
    if (!st->route) {
        free(repeated_header);
        free(repeated_param);
        char message[160];
        snprintf(message, sizeof message, "no route for %.8s %.120s", method, url);
        return refuse(conn, st, 404, "not_found", message);
    }
    if (repeated_header || repeated_param) {
        char message[160];
        snprintf(message, sizeof message, "the %s %.80s is given more than once; give it once",
                 repeated_header ? "header" : "query parameter",
                 repeated_header ? repeated_header : repeated_param);
        free(repeated_header);
        free(repeated_param);
        return refuse(conn, st, 400, "repeated_parameter", message);
    }
    ev_http_path_match(st->route->pattern, url, st->req.map_url);
    switch (ev_http_body_verdict(ev_http_header(&st->req, "Content-Length"),
                                 ev_http_header(&st->req, "Transfer-Encoding"),
                                 ev_http_header(&st->req, "Content-Type"), h->limits.max_body)) {
    case EV_BODY_TOO_LARGE: {
        char message[64];
        snprintf(message, sizeof message, "request body exceeds %zu bytes", h->limits.max_body);
        return refuse(conn, st, 413, "payload_too_large", message);
    }
    case EV_BODY_WRONG_TYPE:
        return refuse(conn, st, 415, "unsupported_media_type",
                      "Content-Type must be application/json");
    case EV_BODY_NONE:
    case EV_BODY_ACCEPT:
        break;
    }
    if (st->route->serve)
        return upgrade(conn, st);
    return MHD_YES;
}

/* Refuses a request whose body is being received. libmicrohttpd queues responses only right
 * after the headers or after the whole body, and reading the rest of a body that is refused
 * anyway is what must not happen: so the answer is written on the socket directly (nothing
 * else is being written on it: earlier responses are complete, a 100 Continue is final) and
 * the connection is closed. */
static enum MHD_Result refuse_mid_body(struct MHD_Connection *conn, request_state *st,
                                       unsigned status, const char *code, const char *message)
{
    struct _u_response resp;
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    st->answered = true;
    if (!info || ulfius_init_response(&resp) != U_OK)
        return MHD_NO;
    ev_http_reply_error(&resp, status, code, "%s", message);
    char head[160];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %u %s\r\nContent-Type: application/json\r\nContent-Length: "
                     "%zu\r\nConnection: close\r\n\r\n",
                     status, MHD_get_reason_phrase_for(status), resp.binary_body_length);
    if (n > 0 && (size_t)n < sizeof head &&
        send(info->connect_fd, head, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT | MSG_MORE) == n)
        send(info->connect_fd, resp.binary_body, resp.binary_body_length,
             MSG_NOSIGNAL | MSG_DONTWAIT);
    char labels[200];
    snprintf(labels, sizeof labels, "%s,status=\"%u\"", st->route->label, status);
    ev_metrics_add(st->route->http->metrics, "http_requests_total", labels, 1);
    ev_span_attr_int(st->span, "http.response.status_code", status);
    ulfius_clean_response(&resp);
    return MHD_NO; /* closes the connection, the rest of the body unread */
}

/* A piece of the body: kept while within the limit and the time allowed. */
static enum MHD_Result receive(ev_http *h, struct MHD_Connection *conn, request_state *st,
                               const char *data, size_t *size)
{
    size_t n = *size;
    *size = 0;
    if (st->answered)
        return MHD_NO;
    if (ev_monotonic_ms() - st->started_ms > h->limits.body_timeout_ms)
        return refuse_mid_body(conn, st, 408, "request_timeout",
                               "the request body came too slowly");
    if (n > h->limits.max_body - st->body_len) {
        char message[64];
        snprintf(message, sizeof message, "request body exceeds %zu bytes", h->limits.max_body);
        return refuse_mid_body(conn, st, 413, "payload_too_large", message);
    }
    char *grown = realloc(st->body, st->body_len + n + 1);
    if (!grown)
        return refuse_mid_body(conn, st, 503, "unavailable", "out of memory");
    memcpy(grown + st->body_len, data, n);
    st->body = grown;
    st->body_len += n;
    st->body[st->body_len] = '\0';
    return MHD_YES;
}

/* The whole request is in: run the handler and answer. */
static enum MHD_Result finish(struct MHD_Connection *conn, request_state *st)
{
    const route *r = st->route;
    st->req.binary_body = st->body;
    st->req.binary_body_length = st->body_len;
    st->body = NULL; /* now owned by req */
    st->answered = true;
    struct _u_response resp;
    if (ulfius_init_response(&resp) != U_OK)
        return MHD_NO;
    int64_t start = ev_monotonic_ms();
    ev_span_enter(st->span); /* what the handler writes and logs joins the request's trace */
    r->handler(&st->req, &resp, r->user);
    ev_span_leave(st->span);
    answer_trace(st, &resp, (unsigned)resp.status);
    char labels[200];
    snprintf(labels, sizeof labels, "%s,status=\"%ld\"", r->label, resp.status);
    ev_metrics_add(r->http->metrics, "http_requests_total", labels, 1);
    ev_metrics_observe(r->http->metrics, "http_request_duration_seconds", labels,
                       (double)(ev_monotonic_ms() - start) / 1000.0);
    enum MHD_Result rc = queue(conn, &resp);
    ulfius_clean_response(&resp);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **con_cls)
{
    (void)version;
    ev_http *h = cls;
    request_state *st = *con_cls;
    if (!st) {
        if (!(st = calloc(1, sizeof *st)) || ulfius_init_request(&st->req) != U_OK) {
            free(st);
            return MHD_NO;
        }
        *con_cls = st;
        return begin(h, conn, st, url, method);
    }
    if (*size > 0)
        return receive(h, conn, st, data, size);
    if (st->answered)
        return MHD_YES;
    return finish(conn, st);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode why)
{
    (void)cls;
    (void)conn;
    (void)why;
    request_state *st = *con_cls;
    if (!st)
        return;
    ev_span_end(st->span);
    ulfius_clean_request(&st->req);
    free(st->body);
    free(st);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char text[256];
    vsnprintf(text, sizeof text, fmt, ap);
    text[strcspn(text, "\n")] = '\0';
    /* Debug only: clients can make it talk (each refused body is an "internal error"). */
    ev_debug("HTTP server: %s", text);
}

/* --- lifecycle ----------------------------------------------------------------------- */

ev_http *ev_http_new(const ev_http_limits *limits, ev_metrics *m, ev_http_ready_fn ready_fn,
                     void *ready_user)
{
    ev_http *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->limits = *limits;
    if (!ev_strlcpy(h->bind, limits->bind, sizeof h->bind)) {
        free(h);
        return NULL;
    }
    h->limits.bind = h->bind;
    h->metrics = m;
    h->ready = ready_fn;
    h->ready_user = ready_user;
    atomic_init(&h->stopping, false);
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->ws_done, NULL);
    if (ev_http_route(h, "GET", "/health", health, h) ||
        ev_http_route(h, "GET", "/ready", ready, h) ||
        ev_http_route(h, "GET", "/metrics", metrics, h)) {
        ev_http_free(h);
        return NULL;
    }
    return h;
}

/* Fills addr for the numeric bind address and port; returns its length or 0 if invalid. */
static socklen_t bind_address(const ev_http *h, struct sockaddr_storage *addr)
{
    memset(addr, 0, sizeof *addr);
    struct sockaddr_in *v4 = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)addr;
    if (inet_pton(AF_INET, h->bind, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)h->limits.port);
        return sizeof *v4;
    }
    if (inet_pton(AF_INET6, h->bind, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)h->limits.port);
        return sizeof *v6;
    }
    return 0;
}

int ev_http_start(ev_http *h)
{
    struct sockaddr_storage addr;
    socklen_t len = bind_address(h, &addr);
    if (!len) {
        ev_error("HTTP bind address %s is not a numeric IPv4 or IPv6 address", h->bind);
        return -1;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_UPGRADE |
                     MHD_USE_ERROR_LOG | (addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    h->daemon = MHD_start_daemon(
        flags, (uint16_t)h->limits.port, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER,
        on_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, h->limits.threads, MHD_OPTION_CONNECTION_LIMIT,
        h->limits.max_connections, MHD_OPTION_CONNECTION_TIMEOUT, h->limits.read_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)MAX_HEADER_BYTES,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, LISTEN_BACKLOG, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        NULL, MHD_OPTION_END);
    return h->daemon ? 0 : -1;
}

void ev_http_free(ev_http *h)
{
    if (!h)
        return;
    /* WebSocket threads see `stopping` within half a second and return; the server stops
     * after them, since it cannot close upgraded connections itself. */
    atomic_store(&h->stopping, true);
    pthread_mutex_lock(&h->lock);
    while (h->ws_active > 0)
        pthread_cond_wait(&h->ws_done, &h->lock);
    pthread_mutex_unlock(&h->lock);
    if (h->daemon)
        MHD_stop_daemon(h->daemon);
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->ws_done);
    free(h);
}

json_t *ev_http_json_body(const ev_http *h, const struct _u_request *req, struct _u_response *resp)
{
    if (req->binary_body_length > h->limits.max_body) {
        ev_http_reply_error(resp, 413, "payload_too_large", "request body exceeds %zu bytes",
                            h->limits.max_body);
        return NULL;
    }
    if (!ev_http_is_json(ev_http_header(req, "Content-Type"))) {
        ev_http_reply_error(resp, 415, "unsupported_media_type",
                            "Content-Type must be application/json");
        return NULL;
    }
    json_error_t jerr;
    json_t *body =
        json_loadb(req->binary_body, req->binary_body_length, JSON_REJECT_DUPLICATES, &jerr);
    if (!body) {
        ev_http_reply_error(resp, 400, "malformed_json", "malformed JSON at line %d column %d: %s",
                            jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(body)) {
        json_decref(body);
        ev_http_reply_error(resp, 400, "invalid_body", "the body must be a JSON object");
        return NULL;
    }
    return body;
}
