/* The OpenAPI 3.1 document of a service, served at GET /openapi.json.
 *
 * Each service's document lives in contracts/openapi/<service>.json. The build turns it into
 * a generated source that defines ev_openapi_document (a NUL-terminated copy of the file,
 * static storage, never freed) and links it into that service's executable only; the shared
 * service setup (ev_service_open) registers the route. A program that links the runtime but
 * not the service setup (the CLI, unit tests) needs no document. */
#ifndef EV_OPENAPI_H
#define EV_OPENAPI_H

#include "ev/http.h"

/* Defined by the generated source of each service executable. */
extern const char ev_openapi_document[];

/* Adds GET /openapi.json to h, answering 200 with json (application/json). json is not
 * copied: it must outlive h (the embedded document does). Returns 0 or -1. */
int ev_openapi_route(ev_http *h, const char *json);

#endif
