/* Unit tests of one WebSocket connection (ws.c) over a socketpair: the test plays the
 * client, writing masked frames and reading what the server side sends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ev/ws.h"

#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
    int server, client;
    atomic_bool stopping;
    ev_ws *ws;
} pair;

static void open_pair(pair *p, const ev_ws_limits *limits, const char *extra, size_t extra_len)
{
    int fds[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    p->server = fds[0];
    p->client = fds[1];
    atomic_init(&p->stopping, false);
    p->ws = ev_ws_new(p->server, extra, extra_len, limits, &p->stopping);
    assert_non_null(p->ws);
}

static void close_pair(pair *p)
{
    ev_ws_free(p->ws);
    close(p->server);
    close(p->client);
}

/* A client frame with an all-zero mask, so the payload goes out as it is. */
static size_t client_frame(uint8_t *out, uint8_t opcode, const char *payload, size_t len)
{
    out[0] = (uint8_t)(0x80 | opcode);
    out[1] = (uint8_t)(0x80 | len); /* len < 126 here */
    memset(out + 2, 0, 4);
    memcpy(out + 6, payload, len);
    return 6 + len;
}

/* Reads one server frame (unmasked, short) within a second: its opcode, payload in out. */
static int server_frame(int fd, uint8_t *out, size_t *len)
{
    uint8_t head[2];
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (poll(&pfd, 1, 1000) != 1 || read(fd, head, 2) != 2)
        return -1;
    *len = head[1] & 0x7F;
    if (*len && read(fd, out, *len) != (ssize_t)*len)
        return -1;
    return head[0] & 0x0F;
}

static const ev_ws_limits limits = {
    .ping_interval_ms = 10000, .idle_timeout_ms = 20000, .max_frame = 1024, .max_pending = 2};

static void pings_are_answered_and_data_dropped(void **state)
{
    (void)state;
    pair p;
    open_pair(&p, &limits, NULL, 0);
    uint8_t buf[64], got[128];
    size_t n = client_frame(buf, 0x1, "ignored", 7);
    n += client_frame(buf + n, 0x9, "hi", 2);
    assert_int_equal(write(p.client, buf, n), (ssize_t)n);
    assert_int_equal(ev_ws_wait(p.ws, -1, 100), 0);
    size_t len;
    assert_int_equal(server_frame(p.client, got, &len), 0xA); /* pong, nothing else */
    assert_int_equal(len, 2);
    assert_memory_equal(got, "hi", 2);
    close_pair(&p);
}

static void bytes_read_with_the_handshake_come_first(void **state)
{
    (void)state;
    uint8_t extra[32], got[128];
    size_t n = client_frame(extra, 0x9, "x", 1);
    pair p;
    open_pair(&p, &limits, (const char *)extra, n);
    assert_int_equal(ev_ws_wait(p.ws, -1, 100), 0);
    size_t len;
    assert_int_equal(server_frame(p.client, got, &len), 0xA);
    close_pair(&p);
}

static void a_frame_over_the_limit_closes_with_1009(void **state)
{
    (void)state;
    pair p;
    open_pair(&p, &limits, NULL, 0);
    /* 2048 bytes announced, the first 8 sent: the limit is checked at the first payload byte */
    uint8_t head[16] = {0x81, 0x80 | 126, 0x08, 0x00, 0, 0, 0, 0, 'A', 'A', 'A', 'A'};
    assert_int_equal(write(p.client, head, sizeof head), (ssize_t)sizeof head);
    int rc = 0;
    for (int i = 0; i < 20 && rc >= 0; i++)
        rc = ev_ws_wait(p.ws, -1, 100);
    assert_int_equal(rc, -1);
    uint8_t got[128];
    size_t len;
    assert_int_equal(server_frame(p.client, got, &len), 0x8);
    assert_true(len >= 2);
    assert_int_equal((got[0] << 8) | got[1], 1009);
    close_pair(&p);
}

static void a_silent_client_is_pinged_then_closed(void **state)
{
    (void)state;
    const ev_ws_limits quick = {
        .ping_interval_ms = 20, .idle_timeout_ms = 100, .max_frame = 1024, .max_pending = 2};
    pair p;
    open_pair(&p, &quick, NULL, 0);
    int rc = 0;
    for (int i = 0; i < 50 && rc >= 0; i++)
        rc = ev_ws_wait(p.ws, -1, 50);
    assert_int_equal(rc, -1);
    uint8_t got[128];
    size_t len;
    int opcode, last = -1, pings = 0;
    while ((opcode = server_frame(p.client, got, &len)) >= 0) {
        pings += opcode == 0x9;
        last = opcode;
        if (opcode == 0x8)
            break;
    }
    assert_true(pings >= 1);
    assert_int_equal(last, 0x8);
    assert_int_equal((got[0] << 8) | got[1], 1001);
    close_pair(&p);
}

static void the_outgoing_queue_is_bounded(void **state)
{
    (void)state;
    pair p;
    open_pair(&p, &limits, NULL, 0);
    assert_int_equal(ev_ws_send_text(p.ws, "one", 3), 0);
    assert_int_equal(ev_ws_send_text(p.ws, "two", 3), 0);
    assert_int_equal(ev_ws_pending(p.ws), 2);
    assert_int_equal(ev_ws_send_text(p.ws, "three", 5), -1);
    assert_int_equal(ev_ws_wait(p.ws, -1, 50), 0);
    assert_int_equal(ev_ws_pending(p.ws), 0);
    uint8_t got[128];
    size_t len;
    assert_int_equal(server_frame(p.client, got, &len), 0x1);
    assert_memory_equal(got, "one", 3);
    assert_int_equal(server_frame(p.client, got, &len), 0x1);
    assert_memory_equal(got, "two", 3);
    close_pair(&p);
}

static void the_end_is_reported_when_the_server_stops_or_the_peer_goes(void **state)
{
    (void)state;
    pair p;
    open_pair(&p, &limits, NULL, 0);
    atomic_store(&p.stopping, true);
    assert_int_equal(ev_ws_wait(p.ws, -1, 1000), -1);
    close_pair(&p);
    open_pair(&p, &limits, NULL, 0);
    shutdown(p.client, SHUT_RDWR);
    assert_int_equal(ev_ws_wait(p.ws, -1, 1000), -1);
    close_pair(&p);
}

static void the_wake_descriptor_interrupts_the_wait(void **state)
{
    (void)state;
    pair p;
    open_pair(&p, &limits, NULL, 0);
    int wake[2];
    assert_int_equal(pipe(wake), 0);
    assert_int_equal(write(wake[1], "x", 1), 1);
    assert_int_equal(ev_ws_wait(p.ws, wake[0], 1000), 1);
    close(wake[0]);
    close(wake[1]);
    close_pair(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pings_are_answered_and_data_dropped),
        cmocka_unit_test(bytes_read_with_the_handshake_come_first),
        cmocka_unit_test(a_frame_over_the_limit_closes_with_1009),
        cmocka_unit_test(a_silent_client_is_pinged_then_closed),
        cmocka_unit_test(the_outgoing_queue_is_bounded),
        cmocka_unit_test(the_end_is_reported_when_the_server_stops_or_the_peer_goes),
        cmocka_unit_test(the_wake_descriptor_interrupts_the_wait),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
