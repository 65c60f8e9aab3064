/* Unit tests of the mock e-mail templates (templates.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "templates.h"

#include <string.h>

#define OID "5bb4b8cc-484b-4df0-a941-fa37ae96b12b"

static void confirmation(void **state)
{
    (void)state;
    email m;
    assert_true(render_email("OrderConfirmed", OID, "c-1001", NULL, NULL, &m));
    assert_string_equal(m.recipient, "c-1001@customers.example.com");
    assert_string_equal(m.subject, "Order 5bb4b8cc is confirmed");
    assert_non_null(strstr(m.body, OID));
}

static void cancellation_carries_the_reason(void **state)
{
    (void)state;
    email m;
    assert_true(
        render_email("OrderCancelled", OID, NULL, "out of stock: SKU-GREEN-HOODIE", NULL, &m));
    assert_string_equal(m.recipient, "customer+5bb4b8cc@customers.example.com");
    assert_string_equal(m.subject, "Order 5bb4b8cc was cancelled");
    assert_non_null(strstr(m.body, "(out of stock: SKU-GREEN-HOODIE)"));
    assert_true(render_email("OrderCancelled", OID, "", NULL, NULL, &m));
    assert_non_null(strstr(m.body, "no reason given"));
}

static void shipment_names_the_reference(void **state)
{
    (void)state;
    email m;
    assert_true(render_email("ShipmentCreated", OID, "c-1", NULL, "d4463c0c-05d2", &m));
    assert_string_equal(m.subject, "Order 5bb4b8cc has shipped");
    assert_non_null(strstr(m.body, "d4463c0c-05d2"));
}

static void other_events_send_nothing(void **state)
{
    (void)state;
    email m;
    assert_false(render_email("PaymentSucceeded", OID, "c-1", NULL, NULL, &m));
    assert_false(render_email("OrderPlaced", OID, "c-1", NULL, NULL, &m));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(confirmation),
        cmocka_unit_test(cancellation_carries_the_reason),
        cmocka_unit_test(shipment_names_the_reference),
        cmocka_unit_test(other_events_send_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
