/* HTTP glue over ulfius; see ev/http.h. */
#include "ev/http.h"
#include "ev/log.h"
#include "ev/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_ROUTES 32

typedef struct {
    ev_http *http;
    ev_http_handler handler;
    void *user;
    char label[96]; /* metric labels: method and route pattern */
} route;

struct ev_http {
    struct _u_instance instance;
    size_t max_body;
    ev_metrics *metrics;
    ev_http_ready_fn ready;
    void *ready_user;
    bool started;
    size_t route_count;
    route routes[MAX_ROUTES];
};

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

json_t *ev_http_json_body(const ev_http *h, const struct _u_request *req, struct _u_response *resp)
{
    if (req->binary_body_length > h->max_body) {
        ev_http_reply_error(resp, 413, "payload_too_large", "request body exceeds %zu bytes",
                            h->max_body);
        return NULL;
    }
    const char *type = ev_http_header(req, "Content-Type");
    size_t json_len = strlen("application/json");
    if (!type || strncasecmp(type, "application/json", json_len) != 0 ||
        (type[json_len] != '\0' && type[json_len] != ';')) {
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

static int dispatch(const struct _u_request *req, struct _u_response *resp, void *user_data)
{
    route *r = user_data;
    int64_t start = ev_monotonic_ms();
    r->handler(req, resp, r->user);
    char labels[160];
    snprintf(labels, sizeof labels, "%s,status=\"%ld\"", r->label, resp->status);
    ev_metrics_add(r->http->metrics, "http_requests_total", labels, 1);
    ev_metrics_observe(r->http->metrics, "http_request_duration_seconds", r->label,
                       (double)(ev_monotonic_ms() - start) / 1000.0);
    return U_CALLBACK_COMPLETE;
}

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
    char why[256] = "";
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

static int not_found(const struct _u_request *req, struct _u_response *resp, void *user_data)
{
    (void)user_data;
    ev_http_reply_error(resp, 404, "not_found", "no route for %s %s", req->http_verb,
                        req->url_path);
    return U_CALLBACK_COMPLETE;
}

ev_http *ev_http_new(int port, size_t max_body, ev_metrics *m, ev_http_ready_fn ready_fn,
                     void *ready_user)
{
    ev_http *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    if (ulfius_init_instance(&h->instance, (unsigned)port, NULL, NULL) != U_OK) {
        free(h);
        return NULL;
    }
    /* One byte more than allowed lets ev_http_json_body tell "too large" from "exactly". */
    h->instance.max_post_body_size = max_body + 1;
    /* Bodies are parsed by ev_http_json_body alone: the library's own form parsers would
     * buffer form fields for us and drop the connection without an answer on a malformed
     * multipart Content-Type, even on a GET. */
    h->instance.allowed_post_processor = U_POST_PROCESS_NONE;
    h->max_body = max_body;
    h->metrics = m;
    h->ready = ready_fn;
    h->ready_user = ready_user;
    ulfius_set_default_endpoint(&h->instance, not_found, NULL);
    if (ev_http_route(h, "GET", "/health", health, h) ||
        ev_http_route(h, "GET", "/ready", ready, h) ||
        ev_http_route(h, "GET", "/metrics", metrics, h)) {
        ev_http_free(h);
        return NULL;
    }
    return h;
}

int ev_http_route(ev_http *h, const char *method, const char *pattern, ev_http_handler handler,
                  void *user)
{
    if (h->route_count == MAX_ROUTES)
        return -1;
    route *r = &h->routes[h->route_count++];
    *r = (route){.http = h, .handler = handler, .user = user};
    snprintf(r->label, sizeof r->label, "method=\"%s\",route=\"%s\"", method, pattern);
    return ulfius_add_endpoint_by_val(&h->instance, method, NULL, pattern, 0, dispatch, r) == U_OK
               ? 0
               : -1;
}

int ev_http_start(ev_http *h)
{
    if (ulfius_start_framework(&h->instance) != U_OK)
        return -1;
    h->started = true;
    return 0;
}

struct _u_instance *ev_http_instance(ev_http *h)
{
    return &h->instance;
}

void ev_http_free(ev_http *h)
{
    if (!h)
        return;
    if (h->started)
        ulfius_stop_framework(&h->instance);
    ulfius_clean_instance(&h->instance);
    free(h);
}
