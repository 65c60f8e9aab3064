/* Unit tests of the live-update hub without sockets: bounded slots, the per-client queue that
 * turns into one resync message when a client falls behind, and the Origin allow-list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hub.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void expect_take(hub *h, int id, const char *want)
{
    char *got = hub_take(h, id);
    if (!want) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void messages_arrive_in_order_and_wake_the_client(void **state)
{
    (void)state;
    hub *h = hub_new(2, 4);
    int id = hub_join(h);
    assert_true(id >= 0);
    struct pollfd wake = {.fd = hub_wake_fd(h, id), .events = POLLIN};
    assert_int_equal(poll(&wake, 1, 0), 0);
    hub_publish(h, "a");
    hub_publish(h, "b");
    assert_int_equal(poll(&wake, 1, 0), 1);
    expect_take(h, id, "a");
    expect_take(h, id, "b");
    expect_take(h, id, NULL);
    hub_leave(h, id);
    hub_free(h);
}

static void a_client_that_falls_behind_gets_one_resync(void **state)
{
    (void)state;
    hub *h = hub_new(2, 3);
    int slow = hub_join(h), fast = hub_join(h);
    char text[16];
    for (int i = 0; i < 3; i++) {
        snprintf(text, sizeof text, "m%d", i);
        hub_publish(h, text);
    }
    expect_take(h, fast, "m0");
    expect_take(h, fast, "m1");
    expect_take(h, fast, "m2");
    hub_publish(h, "m3"); /* slow's queue is full: dropped, resync instead */
    hub_publish(h, "m4");
    expect_take(h, slow, HUB_RESYNC);
    expect_take(h, slow, "m4");
    expect_take(h, slow, NULL);
    expect_take(h, fast, "m3"); /* the others lose nothing */
    expect_take(h, fast, "m4");
    hub_leave(h, slow);
    hub_leave(h, fast);
    hub_free(h);
}

static void slots_are_bounded_and_given_back(void **state)
{
    (void)state;
    hub *h = hub_new(2, 4);
    assert_true(hub_has_room(h));
    int a = hub_join(h), b = hub_join(h);
    assert_true(a >= 0 && b >= 0 && a != b);
    assert_false(hub_has_room(h));
    assert_int_equal(hub_join(h), -1);
    assert_int_equal(hub_clients(h), 2);
    hub_publish(h, "queued, then dropped on leave");
    hub_leave(h, a);
    assert_true(hub_has_room(h));
    int c = hub_join(h);
    assert_int_equal(c, a);
    expect_take(h, c, NULL); /* a new client starts empty */
    hub_leave(h, b);
    hub_leave(h, c);
    hub_free(h);
}

static void origins_match_the_list_exactly(void **state)
{
    (void)state;
    const char *allowed = "http://localhost:3000, http://127.0.0.1:3000 ,https://shop.example";
    assert_true(hub_origin_allowed(allowed, "http://localhost:3000"));
    assert_true(hub_origin_allowed(allowed, "http://127.0.0.1:3000"));
    assert_true(hub_origin_allowed(allowed, "HTTPS://SHOP.EXAMPLE"));
    assert_false(hub_origin_allowed(allowed, "http://localhost:3001"));
    assert_false(hub_origin_allowed(allowed, "http://localhost:300"));
    assert_false(hub_origin_allowed(allowed, "http://localhost:3000.evil.example"));
    assert_false(hub_origin_allowed(allowed, "null"));
    assert_false(hub_origin_allowed(allowed, ""));
    assert_false(hub_origin_allowed("", "http://localhost:3000"));
    assert_false(hub_origin_allowed(" , ,", "http://localhost:3000"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(messages_arrive_in_order_and_wake_the_client),
        cmocka_unit_test(a_client_that_falls_behind_gets_one_resync),
        cmocka_unit_test(slots_are_bounded_and_given_back),
        cmocka_unit_test(origins_match_the_list_exactly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
