/* Live updates: a broadcast hub for WebSocket clients. The consumer thread publishes text
 * messages; each client has a bounded queue, drained by the thread serving its WebSocket.
 * A client too slow to keep up (its queue full) loses what was queued and is told to
 * resynchronise ({"type":"resync"}: refetch, then follow the stream again), so a slow
 * client never slows the projection down nor grows the service. Slots are bounded too. */
#ifndef HUB_H
#define HUB_H

#include "ev/ws.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct hub hub;

#define HUB_RESYNC "{\"type\":\"resync\"}"

/* A hub for at most max_clients clients of queue_max messages each. NULL on failure. */
hub *hub_new(int max_clients, size_t queue_max);

/* Frees the hub; every client has left (stop the HTTP server first). */
void hub_free(hub *h);

/* Queues a copy of text for every client; a full queue is dropped and marked for resync. */
void hub_publish(hub *h, const char *text);

/* True when a client could join now. */
bool hub_has_room(hub *h);

/* Takes a slot: its id, or -1 when every slot is taken (or no descriptor is left). */
int hub_join(hub *h);

/* The client's wake descriptor: readable when something was published for it. */
int hub_wake_fd(hub *h, int id);

/* The next message for client id, owned by the caller (free it); NULL when none. After an
 * overflow the first one is HUB_RESYNC. */
char *hub_take(hub *h, int id);

/* Gives the slot back, dropping what was queued. */
void hub_leave(hub *h, int id);

/* Number of connected clients. */
int hub_clients(hub *h);

/* Serves one WebSocket client until it goes away (an ev_http_ws_serve; user is the hub).
 * Without a free slot it closes with 1013 (try again later). */
void hub_serve(ev_ws *ws, void *user);

/* True when origin is one of the comma-separated origins of allowed (spaces around entries
 * ignored, compared without regard to case). */
bool hub_origin_allowed(const char *allowed, const char *origin);

#endif
