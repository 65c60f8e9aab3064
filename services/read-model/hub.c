/* WebSocket broadcast hub; see hub.h. */
#include "hub.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QUEUE_MAX 256
#define MAX_CLIENTS 64

typedef struct {
    bool used;
    char *queue[QUEUE_MAX]; /* ring of owned strings */
    int head, count;
} client;

struct hub {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    bool closing;
    int active; /* manager threads inside hub_serve */
    client clients[MAX_CLIENTS];
};

hub *hub_new(void)
{
    hub *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->changed, NULL);
    return h;
}

static void drop_queue(client *c)
{
    for (; c->count > 0; c->count--) {
        free(c->queue[c->head]);
        c->head = (c->head + 1) % QUEUE_MAX;
    }
}

void hub_free(hub *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    h->closing = true;
    pthread_cond_broadcast(&h->changed);
    while (h->active > 0) /* managers see `closing` within a second */
        pthread_cond_wait(&h->changed, &h->lock);
    pthread_mutex_unlock(&h->lock);
    for (int i = 0; i < MAX_CLIENTS; i++)
        drop_queue(&h->clients[i]);
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->changed);
    free(h);
}

void hub_publish(hub *h, const char *text)
{
    pthread_mutex_lock(&h->lock);
    for (int i = 0; i < MAX_CLIENTS; i++) {
        client *c = &h->clients[i];
        if (!c->used)
            continue;
        if (c->count == QUEUE_MAX) { /* slow client: forget its oldest update */
            free(c->queue[c->head]);
            c->head = (c->head + 1) % QUEUE_MAX;
            c->count--;
        }
        char *copy = strdup(text);
        if (copy)
            c->queue[(c->head + c->count++) % QUEUE_MAX] = copy;
    }
    pthread_cond_broadcast(&h->changed);
    pthread_mutex_unlock(&h->lock);
}

int hub_clients(hub *h)
{
    pthread_mutex_lock(&h->lock);
    int n = 0;
    for (int i = 0; i < MAX_CLIENTS; i++)
        n += h->clients[i].used;
    pthread_mutex_unlock(&h->lock);
    return n;
}

void hub_serve(hub *h, struct _websocket_manager *manager)
{
    pthread_mutex_lock(&h->lock);
    int slot = -1;
    for (int i = 0; i < MAX_CLIENTS && slot < 0; i++)
        if (!h->clients[i].used)
            slot = i;
    if (slot < 0 || h->closing) {
        pthread_mutex_unlock(&h->lock);
        return; /* full: returning closes the connection */
    }
    client *c = &h->clients[slot];
    memset(c, 0, sizeof *c);
    c->used = true;
    h->active++;
    while (!h->closing && ulfius_websocket_status(manager) == U_WEBSOCKET_STATUS_OPEN) {
        if (c->count == 0) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 1; /* also notice a client that went away */
            pthread_cond_timedwait(&h->changed, &h->lock, &until);
            continue;
        }
        char *text = c->queue[c->head];
        c->head = (c->head + 1) % QUEUE_MAX;
        c->count--;
        pthread_mutex_unlock(&h->lock); /* never send while holding the lock */
        ulfius_websocket_send_message(manager, U_WEBSOCKET_OPCODE_TEXT, strlen(text), text);
        free(text);
        pthread_mutex_lock(&h->lock);
    }
    drop_queue(c);
    c->used = false;
    h->active--;
    pthread_cond_broadcast(&h->changed);
    pthread_mutex_unlock(&h->lock);
}
