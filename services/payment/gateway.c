/* Simulated payment gateway; see gateway.h. */
#include "gateway.h"

#include <stdio.h>

gateway_result gateway_decide(const json_t *order_placed, int64_t limit_cents, char *reason,
                              size_t n)
{
    if (json_is_true(json_object_get(order_placed, "forceException"))) {
        snprintf(reason, n, "simulated gateway exception");
        return GATEWAY_TRANSIENT;
    }
    if (json_is_true(json_object_get(order_placed, "forcePaymentFailed"))) {
        snprintf(reason, n, "payment declined: forced failure");
        return GATEWAY_DECLINED;
    }
    json_int_t total = json_integer_value(json_object_get(order_placed, "totalCents"));
    if (total > limit_cents) {
        snprintf(reason, n, "payment declined: total %lld.%02lld exceeds the limit %lld.%02lld",
                 (long long)total / 100, (long long)total % 100, (long long)limit_cents / 100,
                 (long long)limit_cents % 100);
        return GATEWAY_DECLINED;
    }
    if (reason && n)
        reason[0] = '\0';
    return GATEWAY_APPROVED;
}
