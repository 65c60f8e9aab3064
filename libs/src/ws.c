/* Server-side WebSocket connection over wslay's event API; see ev/ws.h. wslay does the
 * framing (masking, control frames, close handshake, limits); this file does the I/O on a
 * non-blocking socket, the ping and idle timers and the bounds on what is queued. */
#include "ev/ws.h"
#include "ev/util.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <wslay/wslay.h>

/* After a close frame is sent, the peer's answer is awaited at most this long. */
#define CLOSE_WAIT_MS 1000
/* Upper bound of one poll, so a stopping server is noticed promptly. */
#define STOP_CHECK_MS 500

struct ev_ws {
    int fd;
    wslay_event_context_ptr ctx;
    ev_ws_limits limits;
    const atomic_bool *stopping;
    char *extra; /* bytes read by the HTTP server past the handshake, served first */
    size_t extra_len, extra_off;
    int64_t last_rx_ms;   /* last byte from the client */
    int64_t next_ping_ms; /* when the next ping is due */
    int64_t close_sent_ms;
    bool broken; /* the socket failed or the peer went away */
};

static ssize_t on_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
    (void)flags;
    ev_ws *ws = user;
    if (ws->extra_off < ws->extra_len) {
        size_t n = ws->extra_len - ws->extra_off;
        if (n > len)
            n = len;
        memcpy(buf, ws->extra + ws->extra_off, n);
        ws->extra_off += n;
        ws->last_rx_ms = ev_monotonic_ms();
        return (ssize_t)n;
    }
    ssize_t n = recv(ws->fd, buf, len, 0);
    if (n > 0) {
        ws->last_rx_ms = ev_monotonic_ms();
        return n;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    ws->broken = true; /* 0: the peer closed; < 0: the socket failed */
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static ssize_t on_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user)
{
    ev_ws *ws = user;
    ssize_t n = send(ws->fd, data, len, MSG_NOSIGNAL | ((flags & WSLAY_MSG_MORE) ? MSG_MORE : 0));
    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    ws->broken = true;
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

/* Data frames are dropped chunk by chunk (no-buffering mode): nothing to do with them. */
static void on_chunk(wslay_event_context_ptr ctx,
                     const struct wslay_event_on_frame_recv_chunk_arg *arg, void *user)
{
    (void)ctx;
    (void)arg;
    (void)user;
}

ev_ws *ev_ws_new(int fd, const char *extra_in, size_t extra_len, const ev_ws_limits *limits,
                 const atomic_bool *stopping)
{
    static const struct wslay_event_callbacks callbacks = {
        .recv_callback = on_recv,
        .send_callback = on_send,
        .on_frame_recv_chunk_callback = on_chunk,
    };
    ev_ws *ws = calloc(1, sizeof *ws);
    if (!ws)
        return NULL;
    ws->fd = fd;
    ws->limits = *limits;
    ws->stopping = stopping;
    if (extra_len > 0) {
        if (!(ws->extra = malloc(extra_len))) {
            free(ws);
            return NULL;
        }
        memcpy(ws->extra, extra_in, extra_len);
        ws->extra_len = extra_len;
    }
    if (wslay_event_context_server_init(&ws->ctx, &callbacks, ws) != 0) {
        free(ws->extra);
        free(ws);
        return NULL;
    }
    wslay_event_config_set_no_buffering(ws->ctx, 1);
    wslay_event_config_set_max_recv_msg_length(ws->ctx, limits->max_frame);
    int flags = fcntl(fd, F_GETFL, 0);
    if (flags >= 0)
        fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    ws->last_rx_ms = ev_monotonic_ms();
    ws->next_ping_ms = ws->last_rx_ms + limits->ping_interval_ms;
    return ws;
}

void ev_ws_free(ev_ws *ws)
{
    if (!ws)
        return;
    wslay_event_context_free(ws->ctx);
    free(ws->extra);
    free(ws);
}

int ev_ws_send_text(ev_ws *ws, const char *text, size_t len)
{
    if (ws->broken || wslay_event_get_close_sent(ws->ctx) ||
        wslay_event_get_queued_msg_count(ws->ctx) >= ws->limits.max_pending)
        return -1;
    struct wslay_event_msg msg = {WSLAY_TEXT_FRAME, (const uint8_t *)text, len};
    return wslay_event_queue_msg(ws->ctx, &msg) == 0 ? 0 : -1;
}

size_t ev_ws_pending(const ev_ws *ws)
{
    return wslay_event_get_queued_msg_count(ws->ctx);
}

void ev_ws_close(ev_ws *ws, uint16_t code, const char *reason)
{
    if (!wslay_event_get_close_sent(ws->ctx))
        wslay_event_queue_close(ws->ctx, code, (const uint8_t *)reason,
                                reason ? strlen(reason) : 0);
}

/* Sends a ping when one is due; tells whether the client has been silent too long. */
static bool keep_alive(ev_ws *ws, int64_t now)
{
    if (now - ws->last_rx_ms >= ws->limits.idle_timeout_ms)
        return false;
    if (now >= ws->next_ping_ms) {
        struct wslay_event_msg ping = {WSLAY_PING, NULL, 0};
        wslay_event_queue_msg(ws->ctx, &ping);
        ws->next_ping_ms = now + ws->limits.ping_interval_ms;
    }
    return true;
}

static bool finished(ev_ws *ws, int64_t now)
{
    if (ws->broken || atomic_load(ws->stopping))
        return true;
    if (!wslay_event_want_read(ws->ctx) && !wslay_event_want_write(ws->ctx))
        return true;
    if (wslay_event_get_close_sent(ws->ctx)) {
        if (!ws->close_sent_ms)
            ws->close_sent_ms = now;
        return !wslay_event_want_write(ws->ctx) && now - ws->close_sent_ms >= CLOSE_WAIT_MS;
    }
    return false;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

int ev_ws_wait(ev_ws *ws, int wake_fd, int timeout_ms)
{
    int64_t deadline = ev_monotonic_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        int64_t now = ev_monotonic_ms();
        if (finished(ws, now))
            return -1;
        if (!wslay_event_get_close_sent(ws->ctx) && !keep_alive(ws, now)) {
            ev_ws_close(ws, 1001, "idle");
            wslay_event_send(ws->ctx); /* best effort: the client is silent anyway */
            return -1;
        }
        /* Bytes handed over with the handshake are parsed before any poll. */
        if (ws->extra_off < ws->extra_len && wslay_event_recv(ws->ctx) != 0)
            return -1;
        int64_t wait = min64(deadline, ws->next_ping_ms);
        wait = min64(wait, ws->last_rx_ms + ws->limits.idle_timeout_ms) - now;
        wait = wait < 0 ? 0 : min64(wait, STOP_CHECK_MS);
        struct pollfd fds[2] = {
            {.fd = ws->fd,
             .events = (short)((wslay_event_want_read(ws->ctx) ? POLLIN : 0) |
                               (wslay_event_want_write(ws->ctx) ? POLLOUT : 0))},
            {.fd = wake_fd, .events = POLLIN},
        };
        int ready = poll(fds, wake_fd >= 0 ? 2 : 1, (int)wait);
        if (ready < 0 && errno != EINTR)
            return -1;
        if (ready > 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) &&
            wslay_event_recv(ws->ctx) != 0)
            return -1;
        if (wslay_event_want_write(ws->ctx) && wslay_event_send(ws->ctx) != 0)
            return -1;
        if (ready > 0 && wake_fd >= 0 && (fds[1].revents & POLLIN))
            return 1;
        if (ev_monotonic_ms() >= deadline)
            return 0;
    }
}

int ev_ws_accept_key(const char *client_key, char out[29])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    gnutls_datum_t encoded = {(unsigned char *)client_key, 0}, raw = {NULL, 0};
    encoded.size = client_key ? (unsigned)strlen(client_key) : 0;
    if (encoded.size != 24 || gnutls_base64_decode2(&encoded, &raw) != 0)
        return -1;
    size_t raw_size = raw.size;
    gnutls_free(raw.data);
    if (raw_size != 16)
        return -1;
    char joined[24 + sizeof guid];
    memcpy(joined, client_key, 24);
    memcpy(joined + 24, guid, sizeof guid);
    unsigned char digest[20];
    if (gnutls_hash_fast(GNUTLS_DIG_SHA1, joined, 24 + sizeof guid - 1, digest) != 0)
        return -1;
    gnutls_datum_t plain = {digest, sizeof digest}, b64 = {NULL, 0};
    if (gnutls_base64_encode2(&plain, &b64) != 0)
        return -1;
    int rc = -1;
    if (b64.size == 28) {
        memcpy(out, b64.data, 28);
        out[28] = '\0';
        rc = 0;
    }
    gnutls_free(b64.data);
    return rc;
}
