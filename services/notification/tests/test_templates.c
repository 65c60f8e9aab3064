/* Unit tests of the mock e-mail templates (templates.c): every part of an e-mail whole, even
 * for the longest customer id and reason the events may carry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "templates.h"

#include "ev/events.h"

#include <stdlib.h>
#include <string.h>

#define OID "5bb4b8cc-484b-4df0-a941-fa37ae96b12b"

static void confirmation(void **state)
{
    (void)state;
    email m;
    assert_int_equal(render_email("OrderConfirmed", OID, "c-1001", NULL, NULL, &m), EMAIL_RENDERED);
    assert_string_equal(m.recipient, "c-1001@customers.example.com");
    assert_string_equal(m.subject, "Order 5bb4b8cc is confirmed");
    assert_non_null(strstr(m.body, OID));
    email_free(&m);
    assert_null(m.recipient); /* emptied: a second email_free is harmless */
    email_free(&m);
}

static void cancellation_carries_the_reason(void **state)
{
    (void)state;
    email m;
    assert_int_equal(
        render_email("OrderCancelled", OID, NULL, "out of stock: SKU-GREEN-HOODIE", NULL, &m),
        EMAIL_RENDERED);
    assert_string_equal(m.recipient, "customer+5bb4b8cc@customers.example.com");
    assert_string_equal(m.subject, "Order 5bb4b8cc was cancelled");
    assert_non_null(strstr(m.body, "(out of stock: SKU-GREEN-HOODIE)"));
    email_free(&m);
    assert_int_equal(render_email("OrderCancelled", OID, "", NULL, NULL, &m), EMAIL_RENDERED);
    assert_string_equal(m.recipient, "customer+5bb4b8cc@customers.example.com");
    assert_non_null(strstr(m.body, "no reason given"));
    email_free(&m);
}

static void shipment_names_the_reference(void **state)
{
    (void)state;
    email m;
    assert_int_equal(render_email("ShipmentCreated", OID, "c-1", NULL, "d4463c0c-05d2", &m),
                     EMAIL_RENDERED);
    assert_string_equal(m.subject, "Order 5bb4b8cc has shipped");
    assert_non_null(strstr(m.body, "d4463c0c-05d2"));
    email_free(&m);
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

/* 64 x "\u00e9" (128 bytes), the longest customer id the order service accepts: the old
 * 128-byte recipient lost its domain, then cut the last "\u00e9" in two. */
static void the_longest_customer_id_is_the_whole_recipient(void **state)
{
    (void)state;
    char *customer = repeat("\u00e9", EV_CUSTOMER_ID_MAX);
    char *widest = repeat("\U0001F600", EV_CUSTOMER_ID_MAX); /* 256 bytes */
    const char *types[] = {"OrderConfirmed", "OrderCancelled", "ShipmentCreated"};
    for (size_t t = 0; t < 3; t++) {
        for (const char *c = customer; c; c = c == customer ? widest : NULL) {
            email m;
            assert_int_equal(render_email(types[t], OID, c, "why", "s-1", &m), EMAIL_RENDERED);
            assert_int_equal(strlen(m.recipient), strlen(c) + strlen("@customers.example.com"));
            assert_memory_equal(m.recipient, c, strlen(c));
            assert_string_equal(m.recipient + strlen(c), "@customers.example.com");
            email_free(&m);
        }
    }
    free(customer);
    free(widest);
}

/* The longest reason an OrderCancelled may carry (EV_REASON_MAX characters of 4 bytes) is in
 * the body whole, between its parentheses. */
static void the_longest_reason_is_in_the_body_whole(void **state)
{
    (void)state;
    char *reason = repeat("\U0001F600", EV_REASON_MAX);
    size_t len = strlen(reason);
    char *quoted = malloc(len + 3);
    assert_non_null(quoted);
    quoted[0] = '(';
    memcpy(quoted + 1, reason, len);
    memcpy(quoted + 1 + len, ")", 2);
    email m;
    assert_int_equal(render_email("OrderCancelled", OID, "c-1", reason, NULL, &m), EMAIL_RENDERED);
    assert_non_null(strstr(m.body, quoted));
    email_free(&m);
    free(quoted);
    free(reason);
}

static void other_events_send_nothing(void **state)
{
    (void)state;
    email m = {0};
    assert_int_equal(render_email("PaymentSucceeded", OID, "c-1", NULL, NULL, &m), EMAIL_NONE);
    assert_int_equal(render_email("OrderPlaced", OID, "c-1", NULL, NULL, &m), EMAIL_NONE);
    assert_null(m.recipient); /* untouched */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(confirmation),
        cmocka_unit_test(cancellation_carries_the_reason),
        cmocka_unit_test(shipment_names_the_reference),
        cmocka_unit_test(the_longest_customer_id_is_the_whole_recipient),
        cmocka_unit_test(the_longest_reason_is_in_the_body_whole),
        cmocka_unit_test(other_events_send_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
