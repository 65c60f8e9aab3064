/* Unit tests of the saga transition function over every state x event (saga.c), and of the
 * cancellation reason: the failing event's reason kept whole when it fits OrderCancelled's
 * bound, else cut on a character with an ellipsis, never inside one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "saga.h"

#include "ev/events.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    saga_state from;
    saga_event event;
    saga_state to;
    saga_emit emit;
} row;

/* The whole table: 5 states x 6 events. */
static const row table[] = {
    {SAGA_STARTED, SAGA_ORDER_PLACED, SAGA_STARTED, SAGA_EMIT_NOTHING},
    {SAGA_STARTED, SAGA_INVENTORY_OK, SAGA_INVENTORY_RESERVED, SAGA_EMIT_NOTHING},
    {SAGA_STARTED, SAGA_INVENTORY_FAIL, SAGA_CANCELLED, SAGA_EMIT_CANCELLED},
    {SAGA_STARTED, SAGA_PAYMENT_OK, SAGA_PAYMENT_SUCCEEDED, SAGA_EMIT_NOTHING},
    {SAGA_STARTED, SAGA_PAYMENT_FAIL, SAGA_CANCELLED, SAGA_EMIT_CANCELLED},
    {SAGA_STARTED, SAGA_DEADLINE, SAGA_CANCELLED, SAGA_EMIT_CANCELLED},

    {SAGA_INVENTORY_RESERVED, SAGA_ORDER_PLACED, SAGA_INVENTORY_RESERVED, SAGA_EMIT_NOTHING},
    {SAGA_INVENTORY_RESERVED, SAGA_INVENTORY_OK, SAGA_INVENTORY_RESERVED, SAGA_EMIT_NOTHING},
    {SAGA_INVENTORY_RESERVED, SAGA_INVENTORY_FAIL, SAGA_CANCELLED, SAGA_EMIT_CANCELLED},
    {SAGA_INVENTORY_RESERVED, SAGA_PAYMENT_OK, SAGA_CONFIRMED, SAGA_EMIT_CONFIRMED},
    {SAGA_INVENTORY_RESERVED, SAGA_PAYMENT_FAIL, SAGA_CANCELLED, SAGA_EMIT_CANCELLED},
    {SAGA_INVENTORY_RESERVED, SAGA_DEADLINE, SAGA_CANCELLED, SAGA_EMIT_CANCELLED},

    {SAGA_PAYMENT_SUCCEEDED, SAGA_ORDER_PLACED, SAGA_PAYMENT_SUCCEEDED, SAGA_EMIT_NOTHING},
    {SAGA_PAYMENT_SUCCEEDED, SAGA_INVENTORY_OK, SAGA_CONFIRMED, SAGA_EMIT_CONFIRMED},
    {SAGA_PAYMENT_SUCCEEDED, SAGA_INVENTORY_FAIL, SAGA_CANCELLED, SAGA_EMIT_CANCELLED},
    {SAGA_PAYMENT_SUCCEEDED, SAGA_PAYMENT_OK, SAGA_PAYMENT_SUCCEEDED, SAGA_EMIT_NOTHING},
    {SAGA_PAYMENT_SUCCEEDED, SAGA_PAYMENT_FAIL, SAGA_CANCELLED, SAGA_EMIT_CANCELLED},
    {SAGA_PAYMENT_SUCCEEDED, SAGA_DEADLINE, SAGA_CANCELLED, SAGA_EMIT_CANCELLED},
};

static void every_open_state_and_event(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        saga_step_result r = saga_step(table[i].from, table[i].event, "why");
        assert_int_equal(r.state, table[i].to);
        assert_int_equal(r.emit, table[i].emit);
        if (r.emit == SAGA_EMIT_CANCELLED)
            assert_true(strlen(r.reason) > 0);
    }
}

static void final_states_ignore_everything(void **state)
{
    (void)state;
    for (int s = SAGA_CONFIRMED; s <= SAGA_CANCELLED; s++)
        for (int e = 0; e < SAGA_EVENT_COUNT; e++) {
            saga_step_result r = saga_step((saga_state)s, (saga_event)e, "late");
            assert_int_equal(r.state, s);
            assert_int_equal(r.emit, SAGA_EMIT_NOTHING);
        }
}

static void reasons_name_the_cause(void **state)
{
    (void)state;
    assert_string_equal(saga_step(SAGA_STARTED, SAGA_INVENTORY_FAIL, "insufficient stock").reason,
                        "out of stock: insufficient stock");
    assert_string_equal(saga_step(SAGA_STARTED, SAGA_PAYMENT_FAIL, "declined").reason,
                        "payment failed: declined");
    assert_string_equal(saga_step(SAGA_STARTED, SAGA_PAYMENT_FAIL, NULL).reason, "payment failed");
    assert_string_equal(saga_step(SAGA_INVENTORY_RESERVED, SAGA_DEADLINE, NULL).reason, "timeout");
}

/* Strict UTF-8 (RFC 3629): shortest forms only, no surrogates, nothing above U+10FFFF, as
 * PostgreSQL and jansson take it; checked apart from the code under test. */
static bool utf8_valid(const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    while (*s) {
        unsigned char c = *s;
        size_t more;
        unsigned lo = 0x80, hi = 0xbf; /* the second byte's range */
        if (c < 0x80)
            more = 0;
        else if (c >= 0xc2 && c <= 0xdf)
            more = 1;
        else if (c >= 0xe0 && c <= 0xef) {
            more = 2;
            lo = c == 0xe0 ? 0xa0 : 0x80; /* no overlong form */
            hi = c == 0xed ? 0x9f : 0xbf; /* no surrogate */
        } else if (c >= 0xf0 && c <= 0xf4) {
            more = 3;
            lo = c == 0xf0 ? 0x90 : 0x80; /* no overlong form */
            hi = c == 0xf4 ? 0x8f : 0xbf; /* nothing above U+10FFFF */
        } else {
            return false;
        }
        for (size_t k = 1; k <= more; k++)
            if (s[k] < (k == 1 ? lo : 0x80) || s[k] > (k == 1 ? hi : 0xbf))
                return false;
        s += 1 + more;
    }
    return true;
}

/* Characters (code points) of valid UTF-8, as JSON Schema's maxLength counts them. */
static size_t characters(const char *text)
{
    size_t n = 0;
    for (const unsigned char *s = (const unsigned char *)text; *s; s++)
        n += (*s & 0xc0) != 0x80;
    return n;
}

/* times copies of unit, NUL-terminated; the caller frees it. */
static char *repeat(const char *unit, size_t times)
{
    size_t len = strlen(unit);
    char *s = malloc(len * times + 1);
    assert_non_null(s);
    for (size_t i = 0; i < times; i++)
        memcpy(s + i * len, unit, len);
    s[len * times] = '\0';
    return s;
}

/* 100 x "€" (300 bytes): the old 256-byte buffer cut it inside a character, so the UPDATE and
 * the JSON of OrderCancelled failed and the saga waited for its deadline. It fits: kept. */
static void a_multibyte_reason_is_kept_whole(void **state)
{
    (void)state;
    char *euros = repeat("\u20ac", 100);
    char *want = repeat("\u20ac", 100);
    saga_step_result r = saga_step(SAGA_STARTED, SAGA_PAYMENT_FAIL, euros);
    assert_int_equal(r.emit, SAGA_EMIT_CANCELLED);
    assert_true(utf8_valid(r.reason));
    assert_true(characters(r.reason) <= EV_REASON_MAX);
    assert_memory_equal(r.reason, "payment failed: ", 16);
    assert_string_equal(r.reason + 16, want);
    free(euros);
    free(want);
}

/* The longest reason an OutOfStock or PaymentFailed may carry (EV_REASON_MAX characters) and
 * the saga's own words before it would be too long for OrderCancelled, which every consumer
 * holds to EV_REASON_MAX: cut on a character, marked with an ellipsis, the start kept. */
static void the_longest_reason_is_cut_on_a_character_with_an_ellipsis(void **state)
{
    (void)state;
    const char *units[] = {"x", "\u00e9", "\u20ac", "\U0001F600"}; /* 1 to 4 bytes each */
    for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
        char *detail = repeat(units[u], EV_REASON_MAX);
        saga_step_result r = saga_step(SAGA_INVENTORY_RESERVED, SAGA_INVENTORY_FAIL, detail);
        assert_int_equal(r.emit, SAGA_EMIT_CANCELLED);
        assert_true(utf8_valid(r.reason));
        assert_int_equal(characters(r.reason), EV_REASON_MAX);
        size_t prefix = strlen("out of stock: ");
        assert_memory_equal(r.reason, "out of stock: ", prefix);
        size_t kept = strlen(r.reason) - prefix - strlen("\u2026");
        assert_memory_equal(r.reason + prefix, detail, kept);
        assert_int_equal(kept, (EV_REASON_MAX - prefix - 1) * strlen(units[u]));
        assert_string_equal(r.reason + prefix + kept, "\u2026");
        free(detail);
    }
}

/* One character less than would need a cut: the whole reason, no ellipsis. */
static void a_reason_just_within_the_bound_is_kept_whole(void **state)
{
    (void)state;
    size_t prefix = strlen("payment failed: ");
    char *detail = repeat("\u20ac", EV_REASON_MAX - prefix);
    saga_step_result r = saga_step(SAGA_STARTED, SAGA_PAYMENT_FAIL, detail);
    assert_int_equal(characters(r.reason), EV_REASON_MAX);
    assert_string_equal(r.reason + prefix, detail);
    free(detail);
}

static void names_round_trip(void **state)
{
    (void)state;
    for (int s = 0; s < SAGA_STATE_COUNT; s++)
        assert_int_equal(saga_state_parse(saga_state_name((saga_state)s)), s);
    assert_int_equal(saga_state_parse("NOPE"), -1);
    assert_int_equal(saga_event_of("PaymentSucceeded"), SAGA_PAYMENT_OK);
    assert_int_equal(saga_event_of("InventoryReleased"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_open_state_and_event),
        cmocka_unit_test(final_states_ignore_everything),
        cmocka_unit_test(reasons_name_the_cause),
        cmocka_unit_test(a_multibyte_reason_is_kept_whole),
        cmocka_unit_test(the_longest_reason_is_cut_on_a_character_with_an_ellipsis),
        cmocka_unit_test(a_reason_just_within_the_bound_is_kept_whole),
        cmocka_unit_test(names_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
