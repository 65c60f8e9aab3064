/* WebSocket broadcast hub; see hub.h. */
#include "hub.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* Messages handed to the socket layer ahead of the client's queue; beyond that they wait
 * here, where overflow is noticed. */
#define WS_IN_FLIGHT 16
#define WAIT_MS 1000

typedef struct {
    bool used;
    bool resync; /* the queue overflowed: send HUB_RESYNC before anything else */
    int wake_fd;
    char **queue; /* ring of owned strings, queue_max long */
    size_t head, count;
} client;

struct hub {
    pthread_mutex_t lock;
    int max_clients;
    size_t queue_max;
    client *clients;
};

hub *hub_new(int max_clients, size_t queue_max)
{
    hub *h = calloc(1, sizeof *h);
    if (!h || !(h->clients = calloc((size_t)max_clients, sizeof *h->clients))) {
        free(h);
        return NULL;
    }
    h->max_clients = max_clients;
    h->queue_max = queue_max;
    pthread_mutex_init(&h->lock, NULL);
    for (int i = 0; i < max_clients; i++) {
        h->clients[i].wake_fd = -1;
        if (!(h->clients[i].queue = calloc(queue_max, sizeof(char *)))) {
            hub_free(h);
            return NULL;
        }
    }
    return h;
}

static void drop_queue(hub *h, client *c)
{
    for (; c->count > 0; c->count--) {
        free(c->queue[c->head]);
        c->head = (c->head + 1) % h->queue_max;
    }
    c->head = 0;
}

void hub_free(hub *h)
{
    if (!h)
        return;
    for (int i = 0; i < h->max_clients; i++) {
        if (h->clients[i].queue)
            drop_queue(h, &h->clients[i]);
        free(h->clients[i].queue);
        if (h->clients[i].wake_fd >= 0)
            close(h->clients[i].wake_fd);
    }
    pthread_mutex_destroy(&h->lock);
    free(h->clients);
    free(h);
}

static void wake(const client *c)
{
    uint64_t one = 1;
    ssize_t rc = write(c->wake_fd, &one, sizeof one);
    (void)rc; /* an eventfd only refuses when its counter is huge: it is readable anyway */
}

void hub_publish(hub *h, const char *text)
{
    pthread_mutex_lock(&h->lock);
    for (int i = 0; i < h->max_clients; i++) {
        client *c = &h->clients[i];
        if (!c->used)
            continue;
        if (c->count == h->queue_max) {
            /* Too slow: what it has not read is stale anyway, it refetches instead. */
            drop_queue(h, c);
            c->resync = true;
        } else {
            char *copy = strdup(text);
            if (copy)
                c->queue[(c->head + c->count++) % h->queue_max] = copy;
            else
                c->resync = true; /* lost an update: the client must refetch */
        }
        wake(c);
    }
    pthread_mutex_unlock(&h->lock);
}

bool hub_has_room(hub *h)
{
    return hub_clients(h) < h->max_clients;
}

int hub_join(hub *h)
{
    pthread_mutex_lock(&h->lock);
    int id = -1;
    for (int i = 0; i < h->max_clients && id < 0; i++)
        if (!h->clients[i].used)
            id = i;
    if (id >= 0) {
        client *c = &h->clients[id];
        c->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (c->wake_fd < 0) {
            id = -1;
        } else {
            c->used = true;
            c->resync = false;
            c->head = c->count = 0;
        }
    }
    pthread_mutex_unlock(&h->lock);
    return id;
}

int hub_wake_fd(hub *h, int id)
{
    return h->clients[id].wake_fd; /* set at join, constant until leave: no lock needed */
}

char *hub_take(hub *h, int id)
{
    pthread_mutex_lock(&h->lock);
    client *c = &h->clients[id];
    char *text = NULL;
    if (c->resync) {
        if ((text = strdup(HUB_RESYNC)))
            c->resync = false;
    } else if (c->count > 0) {
        text = c->queue[c->head];
        c->head = (c->head + 1) % h->queue_max;
        c->count--;
    }
    pthread_mutex_unlock(&h->lock);
    return text;
}

void hub_leave(hub *h, int id)
{
    pthread_mutex_lock(&h->lock);
    client *c = &h->clients[id];
    drop_queue(h, c);
    close(c->wake_fd);
    c->wake_fd = -1;
    c->used = false;
    pthread_mutex_unlock(&h->lock);
}

int hub_clients(hub *h)
{
    pthread_mutex_lock(&h->lock);
    int n = 0;
    for (int i = 0; i < h->max_clients; i++)
        n += h->clients[i].used;
    pthread_mutex_unlock(&h->lock);
    return n;
}

/* Moves queued messages to the socket layer while it has room for them. */
static void forward(hub *h, int id, ev_ws *ws)
{
    while (ev_ws_pending(ws) < WS_IN_FLIGHT) {
        char *text = hub_take(h, id);
        if (!text)
            return;
        ev_ws_send_text(ws, text, strlen(text));
        free(text);
    }
}

void hub_serve(ev_ws *ws, void *user)
{
    hub *h = user;
    int id = hub_join(h);
    if (id < 0) { /* taken between the handshake and now */
        ev_ws_close(ws, 1013, "try again later");
        while (ev_ws_wait(ws, -1, WAIT_MS) >= 0)
            ;
        return;
    }
    int wake_fd = hub_wake_fd(h, id);
    for (;;) {
        forward(h, id, ws);
        int rc = ev_ws_wait(ws, wake_fd, WAIT_MS);
        if (rc < 0)
            break;
        uint64_t count;
        if (rc == 1 && read(wake_fd, &count, sizeof count) < 0)
            continue; /* already drained: nothing lost, the queue is read next */
    }
    hub_leave(h, id);
}

bool hub_origin_allowed(const char *allowed, const char *origin)
{
    if (!allowed || !origin || !*origin)
        return false;
    size_t olen = strlen(origin);
    for (const char *p = allowed; *p;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, ",");
        size_t trimmed = len;
        while (trimmed > 0 && (p[trimmed - 1] == ' ' || p[trimmed - 1] == '\t'))
            trimmed--;
        if (trimmed > 0 && trimmed == olen && strncasecmp(p, origin, olen) == 0)
            return true;
        p += len;
    }
    return false;
}
