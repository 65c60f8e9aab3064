/* The simulated payment gateway's decision. Pure. */
#ifndef GATEWAY_H
#define GATEWAY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    GATEWAY_APPROVED,
    GATEWAY_DECLINED,  /* final: PaymentFailed */
    GATEWAY_TRANSIENT, /* the gateway "threw": retry, then dead-letter */
} gateway_result;

/* Decides on an upcast OrderPlaced payload: "forceException": true → transient,
 * "forcePaymentFailed": true or totalCents above limit_cents → declined with a reason. */
gateway_result gateway_decide(const json_t *order_placed, int64_t limit_cents, char *reason,
                              size_t n);

#endif
