/* The change feed that makes every read-model instance's WebSocket clients see every change.
 *
 * With N instances in one consumer group each projects only its partitions, so a change is
 * committed by one instance while clients may be connected to any. The projecting transaction
 * therefore announces each change with NOTIFY on the shared readmodel database (delivered
 * only if, and once, it commits), and every instance LISTENs on its own connection and hands
 * what it hears to its hub. While PostgreSQL is down the feed reconnects every second;
 * changes committed in that gap are not pushed (clients re-read the API after a reconnect). */
#ifndef LIVE_FEED_H
#define LIVE_FEED_H

#include "hub.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>

/* Announces every change of `changes` (a JSON array, borrowed) inside transaction tx.
 * Returns 0 or -1 with err filled (the caller retries the event). */
int live_feed_announce(PGconn *tx, const json_t *changes, char *err, size_t errlen);

typedef struct live_feed live_feed;

/* Starts the listening thread on its own connection (conninfo is copied); the hub is
 * borrowed and must outlive live_feed_stop. NULL with err filled when the thread cannot
 * start (an unreachable database is not an error: the thread keeps retrying). */
live_feed *live_feed_start(const char *conninfo, hub *h, char *err, size_t errlen);

/* Stops the thread (within about a second), closes its connection, frees the feed. */
void live_feed_stop(live_feed *f);

#endif
