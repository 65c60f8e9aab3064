/* Unit tests of the notification batch fold (mail_batch.c): orders collected and sorted
 * without regard to case, each e-mail given the customer the per-event path finds (stored
 * before the batch, else an OrderPlaced earlier in the batch), and every rendered e-mail
 * equal to handling the events one after another. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mail_batch.h"

#include <string.h>
#include <strings.h>

#define A "0b7e5a9e-1f5e-4c55-9d9a-0f3c2a1b9e10"
#define A_UPPER "0B7E5A9E-1F5E-4C55-9D9A-0F3C2A1B9E10"
#define B "9d2c4a1e-0000-4c55-9d9a-0f3c2a1b9e10"
#define C "5a000000-0000-4c55-9d9a-0f3c2a1b9e10"

static mail_event placed(const char *order_id, const char *customer)
{
    return (mail_event){.event_type = "OrderPlaced", .order_id = order_id, .customer_id = customer};
}

static mail_event confirmed(const char *order_id)
{
    return (mail_event){.event_type = "OrderConfirmed", .order_id = order_id};
}

static mail_event cancelled(const char *order_id, const char *reason)
{
    return (mail_event){.event_type = "OrderCancelled", .order_id = order_id, .reason = reason};
}

static mail_event shipped(const char *order_id, const char *shipment)
{
    return (mail_event){
        .event_type = "ShipmentCreated", .order_id = order_id, .shipment_id = shipment};
}

static void orders_are_collected_sorted_and_mapped(void **state)
{
    (void)state;
    mail_event e[] = {confirmed(B), placed(A, "ann"), shipped(C, "s1"), placed(A_UPPER, "bob"),
                      placed(B, "cid")};
    mail_order orders[5];
    size_t order_of[5], count = 0;
    assert_int_equal(mail_batch_collect(e, 5, orders, order_of, &count), 0);
    assert_int_equal(count, 3); /* A and A_UPPER are one order */
    assert_string_equal(orders[0].order_id, A);
    assert_string_equal(orders[1].order_id, C);
    assert_string_equal(orders[2].order_id, B);
    size_t want[] = {2, 0, 1, 0, 2};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(order_of[i], want[i]);
    assert_int_equal(orders[0].placed, 1); /* the first OrderPlaced of A, not A_UPPER's */
    assert_int_equal(orders[1].placed, -1);
    assert_int_equal(orders[2].placed, 4);
    assert_false(orders[0].stored);
    assert_int_equal(mail_batch_find(orders, count, A_UPPER), 0);
    assert_int_equal(mail_batch_find(orders, count, B), 2);
    assert_int_equal(mail_batch_find(orders, count, C), 1);
    assert_int_equal(mail_batch_find(orders, count, "ffffffff-0000-4c55-9d9a-0f3c2a1b9e10"), -1);
}

static void the_customer_is_the_stored_one_else_an_earlier_order_placed(void **state)
{
    (void)state;
    /* B: confirmed before its OrderPlaced, then cancelled after it; C stored as "carl" */
    mail_event e[] = {confirmed(B),     placed(B, "bea"), cancelled(B, "x"),
                      placed(C, "new"), shipped(C, "s"),  confirmed(A)};
    mail_order orders[6];
    size_t order_of[6], count = 0;
    assert_int_equal(mail_batch_collect(e, 6, orders, order_of, &count), 0);
    long c = mail_batch_find(orders, count, C);
    orders[c].stored = true;
    orders[c].stored_customer = "carl";
    assert_null(mail_batch_customer(orders, e, order_of, 0));
    assert_string_equal(mail_batch_customer(orders, e, order_of, 2), "bea");
    assert_string_equal(mail_batch_customer(orders, e, order_of, 4), "carl");
    assert_null(mail_batch_customer(orders, e, order_of, 5));
    email m;
    /* OrderPlaced sends none */
    assert_int_equal(mail_batch_render(orders, e, order_of, 1, &m), EMAIL_NONE);
    assert_int_equal(mail_batch_render(orders, e, order_of, 0, &m), EMAIL_RENDERED);
    assert_string_equal(m.recipient, "customer+9d2c4a1e@customers.example.com");
    email_free(&m);
    assert_int_equal(mail_batch_render(orders, e, order_of, 2, &m), EMAIL_RENDERED);
    assert_string_equal(m.recipient, "bea@customers.example.com");
    assert_string_equal(m.subject, "Order 9d2c4a1e was cancelled");
    email_free(&m);
    assert_int_equal(mail_batch_render(orders, e, order_of, 4, &m), EMAIL_RENDERED);
    assert_string_equal(m.recipient, "carl@customers.example.com");
    email_free(&m);
}

static void a_type_without_template_sends_nothing(void **state)
{
    (void)state;
    mail_event e[] = {{.event_type = "PaymentRefunded", .order_id = A}, placed(A, "ann")};
    mail_order orders[2];
    size_t order_of[2], count = 0;
    assert_int_equal(mail_batch_collect(e, 2, orders, order_of, &count), 0);
    email m;
    assert_int_equal(mail_batch_render(orders, e, order_of, 0, &m), EMAIL_NONE);
    assert_int_equal(mail_batch_render(orders, e, order_of, 1, &m), EMAIL_NONE);
}

/* The per-event path over a table of customers: an OrderPlaced stores its customer unless
 * the order has one; any other event looks it up and renders. */
typedef struct {
    const char *order[16], *customer[16];
    size_t n;
} customer_table;

static const char *lookup(const customer_table *t, const char *order_id)
{
    for (size_t k = 0; k < t->n; k++)
        if (strcasecmp(t->order[k], order_id) == 0)
            return t->customer[k];
    return NULL;
}

static void assert_batch_equals_one_by_one(const mail_event *e, size_t n, customer_table stored)
{
    mail_order orders[16];
    size_t order_of[16], count = 0;
    assert_true(n <= 16);
    assert_int_equal(mail_batch_collect(e, n, orders, order_of, &count), 0);
    for (size_t k = 0; k < count; k++) {
        const char *c = lookup(&stored, orders[k].order_id);
        orders[k].stored = c != NULL;
        orders[k].stored_customer = c;
    }
    customer_table t = stored;
    for (size_t i = 0; i < n; i++) {
        email one, batch;
        email_result sends = mail_batch_render(orders, e, order_of, i, &batch);
        if (strcmp(e[i].event_type, "OrderPlaced") == 0) {
            assert_int_equal(sends, EMAIL_NONE);
            if (!lookup(&t, e[i].order_id)) {
                t.order[t.n] = e[i].order_id;
                t.customer[t.n++] = e[i].customer_id;
            }
            continue;
        }
        email_result want = render_email(e[i].event_type, e[i].order_id, lookup(&t, e[i].order_id),
                                         e[i].reason, e[i].shipment_id, &one);
        assert_int_equal(sends, want);
        if (want != EMAIL_RENDERED)
            continue;
        assert_string_equal(batch.recipient, one.recipient);
        assert_string_equal(batch.subject, one.subject);
        assert_string_equal(batch.body, one.body);
        email_free(&one);
        email_free(&batch);
    }
}

static void every_email_equals_the_per_event_path(void **state)
{
    (void)state;
    mail_event interleaved[] = {confirmed(A),       placed(B, "bea"),    placed(A, "ann"),
                                shipped(A, "s-a"),  confirmed(B),        placed(A_UPPER, "x"),
                                cancelled(C, "no"), placed(C, "cid"),    cancelled(C, "again"),
                                shipped(B, "s-b"),  placed(B, "second"), confirmed(A_UPPER)};
    customer_table none = {.n = 0};
    assert_batch_equals_one_by_one(interleaved, 12, none);
    customer_table some = {.order = {A_UPPER, C}, .customer = {"stored", ""}, .n = 2};
    assert_batch_equals_one_by_one(interleaved, 12, some);
    mail_event only_placed[] = {placed(A, "ann"), placed(B, "bea")};
    assert_batch_equals_one_by_one(only_placed, 2, some);
}

/* 64 x "\u00e9" (128 bytes), the longest customer id the order service accepts, learnt from an
 * OrderPlaced earlier in the batch or stored before it, and a long multibyte reason: every
 * e-mail of the batch has the whole recipient and the whole reason. */
static void the_longest_customer_id_and_a_long_reason_are_kept_whole(void **state)
{
    (void)state;
    char customer[64 * 2 + 1], reason[300 * 3 + 1];
    for (size_t i = 0; i < 64; i++)
        memcpy(customer + 2 * i, "\u00e9", 2);
    customer[128] = '\0';
    for (size_t i = 0; i < 300; i++)
        memcpy(reason + 3 * i, "\u20ac", 3);
    reason[900] = '\0';
    char recipient[sizeof customer + sizeof "@customers.example.com"];
    memcpy(recipient, customer, 128);
    memcpy(recipient + 128, "@customers.example.com", sizeof "@customers.example.com");

    mail_event e[] = {placed(A, customer), cancelled(A, reason), shipped(B, "s"), confirmed(B)};
    mail_order orders[4];
    size_t order_of[4], count = 0;
    assert_int_equal(mail_batch_collect(e, 4, orders, order_of, &count), 0);
    long b = mail_batch_find(orders, count, B);
    orders[b].stored = true;
    orders[b].stored_customer = customer;
    for (size_t i = 1; i < 4; i++) {
        email m;
        assert_int_equal(mail_batch_render(orders, e, order_of, i, &m), EMAIL_RENDERED);
        assert_string_equal(m.recipient, recipient);
        if (i == 1)
            assert_non_null(strstr(m.body, reason));
        email_free(&m);
    }
    customer_table none = {.n = 0};
    assert_batch_equals_one_by_one(e, 4, none);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(orders_are_collected_sorted_and_mapped),
        cmocka_unit_test(the_customer_is_the_stored_one_else_an_earlier_order_placed),
        cmocka_unit_test(a_type_without_template_sends_nothing),
        cmocka_unit_test(every_email_equals_the_per_event_path),
        cmocka_unit_test(the_longest_customer_id_and_a_long_reason_are_kept_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
