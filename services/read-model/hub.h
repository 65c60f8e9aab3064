/* Live updates: a broadcast hub for WebSocket clients. The consumer thread publishes text
 * messages; each client has a bounded queue drained by its own ulfius manager thread, so a
 * slow client loses its oldest updates instead of slowing the projection down. */
#ifndef HUB_H
#define HUB_H

#include <ulfius.h>

typedef struct hub hub;

hub *hub_new(void);

/* Closes every client (their manager threads return) and frees the hub. */
void hub_free(hub *h);

/* Queues a copy of text for every connected client. */
void hub_publish(hub *h, const char *text);

/* Runs in a WebSocket manager callback: serves one client until it goes away. */
void hub_serve(hub *h, struct _websocket_manager *manager);

/* Number of connected clients. */
int hub_clients(hub *h);

#endif
