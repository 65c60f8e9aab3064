/* Unit tests of the HTTP edge's pure decisions: how a body is judged on its headers, how
 * paths match route patterns, and the WebSocket accept key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ev/http.h"
#include "ev/ws.h"

#include <string.h>

#define LIMIT ((size_t)64 * 1024)

static void no_body_needs_no_type(void **state)
{
    (void)state;
    assert_int_equal(ev_http_body_verdict(NULL, NULL, NULL, LIMIT), EV_BODY_NONE);
    assert_int_equal(ev_http_body_verdict("0", NULL, "text/plain", LIMIT), EV_BODY_NONE);
}

static void json_within_the_limit_is_accepted(void **state)
{
    (void)state;
    assert_int_equal(ev_http_body_verdict("10", NULL, "application/json", LIMIT), EV_BODY_ACCEPT);
    assert_int_equal(ev_http_body_verdict("65536", NULL, "application/json; charset=utf-8", LIMIT),
                     EV_BODY_ACCEPT);
    assert_int_equal(ev_http_body_verdict(NULL, "chunked", "APPLICATION/JSON", LIMIT),
                     EV_BODY_ACCEPT);
}

static void an_announced_size_over_the_limit_is_too_large_whatever_the_type(void **state)
{
    (void)state;
    const char *types[] = {"application/json", "application/x-www-form-urlencoded",
                           "multipart/form-data; boundary=x", "text/plain", NULL};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        assert_int_equal(ev_http_body_verdict("65537", NULL, types[i], LIMIT), EV_BODY_TOO_LARGE);
        assert_int_equal(ev_http_body_verdict("1000000000", NULL, types[i], LIMIT),
                         EV_BODY_TOO_LARGE);
        assert_int_equal(ev_http_body_verdict("99999999999999999999999", NULL, types[i], LIMIT),
                         EV_BODY_TOO_LARGE);
    }
}

static void any_other_type_is_refused_before_reading(void **state)
{
    (void)state;
    assert_int_equal(ev_http_body_verdict("5", NULL, "application/x-www-form-urlencoded", LIMIT),
                     EV_BODY_WRONG_TYPE);
    assert_int_equal(
        ev_http_body_verdict(NULL, "chunked", "multipart/form-data; boundary=x", LIMIT),
        EV_BODY_WRONG_TYPE);
    assert_int_equal(ev_http_body_verdict("5", NULL, NULL, LIMIT), EV_BODY_WRONG_TYPE);
    assert_int_equal(ev_http_body_verdict("5", NULL, "application/jsonp", LIMIT),
                     EV_BODY_WRONG_TYPE);
    assert_int_equal(ev_http_body_verdict("5", NULL, "text/application/json", LIMIT),
                     EV_BODY_WRONG_TYPE);
}

static void json_type_accepts_parameters_only(void **state)
{
    (void)state;
    assert_true(ev_http_is_json("application/json"));
    assert_true(ev_http_is_json("Application/JSON;charset=utf-8"));
    assert_false(ev_http_is_json("application/json-seq"));
    assert_false(ev_http_is_json(""));
    assert_false(ev_http_is_json(NULL));
}

static void literal_paths_match_exactly(void **state)
{
    (void)state;
    assert_int_equal(ev_http_path_match("/orders", "/orders", NULL), 0);
    assert_int_equal(ev_http_path_match("/orders", "/orders/", NULL), 0);
    assert_int_equal(ev_http_path_match("/orders", "//orders", NULL), 0);
    assert_int_equal(ev_http_path_match("/orders", "/orderss", NULL), -1);
    assert_int_equal(ev_http_path_match("/orders", "/orders/x", NULL), -1);
    assert_int_equal(ev_http_path_match("/api/dlq/replay", "/api/dlq", NULL), -1);
    assert_int_equal(ev_http_path_match("/", "/", NULL), 0);
}

static void parameters_are_captured(void **state)
{
    (void)state;
    struct _u_map params;
    u_map_init(&params);
    assert_int_equal(ev_http_path_match("/sagas/:orderId", "/sagas/abc-1", &params), 1);
    assert_string_equal(u_map_get(&params, "orderId"), "abc-1");
    assert_int_equal(ev_http_path_match("/sagas/:orderId", "/sagas", &params), -1);
    assert_int_equal(ev_http_path_match("/sagas/:orderId", "/sagas/a/b", &params), -1);
    u_map_clean(&params);
}

static void an_overlong_parameter_does_not_match(void **state)
{
    (void)state;
    struct _u_map params;
    u_map_init(&params);
    char path[600] = "/orders/";
    memset(path + 8, 'x', 500);
    assert_int_equal(ev_http_path_match("/orders/:id", path, &params), -1);
    assert_int_equal(ev_http_path_match("/orders/:id", path, NULL), 1); /* routing only */
    u_map_clean(&params);
}

static void websocket_accept_key_follows_rfc_6455(void **state)
{
    (void)state;
    char accept[29];
    assert_int_equal(ev_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", accept), 0);
    assert_string_equal(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_int_equal(ev_ws_accept_key(NULL, accept), -1);
    assert_int_equal(ev_ws_accept_key("short", accept), -1);
    assert_int_equal(ev_ws_accept_key("!!!!!!!!!!!!!!!!!!!!!!!!", accept), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_body_needs_no_type),
        cmocka_unit_test(json_within_the_limit_is_accepted),
        cmocka_unit_test(an_announced_size_over_the_limit_is_too_large_whatever_the_type),
        cmocka_unit_test(any_other_type_is_refused_before_reading),
        cmocka_unit_test(json_type_accepts_parameters_only),
        cmocka_unit_test(literal_paths_match_exactly),
        cmocka_unit_test(parameters_are_captured),
        cmocka_unit_test(an_overlong_parameter_does_not_match),
        cmocka_unit_test(websocket_accept_key_follows_rfc_6455),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
