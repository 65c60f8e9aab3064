/* GET /openapi.json: answers the service's embedded OpenAPI document; see ev/openapi.h. */
#include "ev/openapi.h"

static void serve_document(const struct _u_request *req, struct _u_response *resp, void *user)
{
    (void)req;
    u_map_put(resp->map_header, "Content-Type", "application/json");
    ulfius_set_string_body_response(resp, 200, user);
}

int ev_openapi_route(ev_http *h, const char *json)
{
    /* The route keeps a non-const user pointer; the handler only reads through it. */
    return ev_http_route(h, "GET", "/openapi.json", serve_document, (void *)json);
}
