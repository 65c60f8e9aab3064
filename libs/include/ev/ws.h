/* One server-side WebSocket connection, over wslay, on a socket handed over by the HTTP
 * server after the upgrade (ev/http.h creates, serves and frees it; an endpoint's serve
 * function only uses the calls below, from its one thread).
 *
 * What a client can cost is bounded: data frames from the client are read and dropped as
 * they arrive, never assembled into messages (the endpoints only send), and a frame larger
 * than max_frame closes the connection (1009); pings from the client are answered; the
 * server pings every ping_interval_ms and closes a client that sent nothing (no pong
 * either) for idle_timeout_ms; outgoing messages wait in a queue of at most max_pending
 * before the socket, so the caller sees a slow reader (ev_ws_pending) and can drop for it. */
#ifndef EV_WS_H
#define EV_WS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ev_ws ev_ws;

typedef struct {
    unsigned ping_interval_ms; /* a ping this often */
    unsigned idle_timeout_ms;  /* closed after this long without a frame from the client */
    size_t max_frame;          /* largest frame accepted from the client, in bytes */
    size_t max_pending;        /* messages queued towards the socket at most */
} ev_ws_limits;

/* Waits up to timeout_ms for the client, the wake descriptor (an eventfd or pipe, -1 for
 * none) or the next ping, and does what is due: reads and discards incoming frames, answers
 * pings and closes, writes queued messages, pings, closes an idle client. Returns 1 when
 * wake_fd is readable (the caller drains it), 0 when the time ran out, -1 when the
 * connection is over (closed by either side, idle, protocol error, or the server stopping). */
int ev_ws_wait(ev_ws *ws, int wake_fd, int timeout_ms);

/* Queues a text message (copied); written by ev_ws_wait. Returns 0, or -1 when the queue is
 * full (max_pending), the connection is closing or memory ran out. */
int ev_ws_send_text(ev_ws *ws, const char *text, size_t len);

/* Messages queued but not yet written to the socket. */
size_t ev_ws_pending(const ev_ws *ws);

/* Starts a clean close with a status code (e.g. 1013 "try again later") and a short reason;
 * the next ev_ws_wait writes it and reports the end. */
void ev_ws_close(ev_ws *ws, uint16_t code, const char *reason);

/* --- for the HTTP server ------------------------------------------------------------- */

/* Takes over fd (non-blocking from here on; the caller still owns closing it) with the
 * bytes already read past the handshake. stopping is polled: when it turns true the
 * connection ends. NULL when memory ran out. */
ev_ws *ev_ws_new(int fd, const char *extra_in, size_t extra_len, const ev_ws_limits *limits,
                 const atomic_bool *stopping);

void ev_ws_free(ev_ws *ws);

/* Writes the Sec-WebSocket-Accept value for a client's Sec-WebSocket-Key into out (29
 * bytes with the NUL). Returns 0, or -1 for a key that is not 16 bytes of base64. */
int ev_ws_accept_key(const char *client_key, char out[29]);

#endif
