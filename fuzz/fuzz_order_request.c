/* Fuzz target: the POST /orders body parser (services/order/order_request.c) on any bytes
 * that are JSON. Properties: no crash, leak or undefined behaviour; an accepted request stays
 * within its bounds, and the OrderPlaced event made of it passes the consumers' checks (what
 * the API accepts, every consumer accepts). */
#include "ev/envelope.h"
#include "ev/events.h"
#include "fuzz_check.h"
#include "order_request.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OID "5bb4b8cc-484b-4df0-a941-fa37ae96b12b"
#define CID "0148c2c0-a1bb-41e1-8aa8-8c03ebc7140a"

static const catalog_entry entries[] = {
    /* sorted by sku */
    {"SKU-BLUE-CAP", 1250, "EUR"},
    {"SKU-GREEN-HOODIE", 4900, "EUR"},
    {"SKU-RED-TSHIRT", 1999, "EUR"},
};
static const catalog shop = {entries, 3};

/* The consumers refuse control characters in a customer id (they reach e-mails and logs);
 * the HTTP edge is being tightened to the same rule, so such ids are not cross-checked. */
static bool has_controls(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!body)
        return 0;
    order_request req;
    order_error oerr;
    if (order_request_parse(body, &shop, true, &req, &oerr) == 0) {
        FUZZ_CHECK(req.line_count >= 1 && req.line_count <= ORDER_MAX_LINES);
        FUZZ_CHECK(req.total_cents >= 0);
        char *fingerprint = order_request_fingerprint(&req);
        FUZZ_CHECK(fingerprint != NULL);
        free(fingerprint);
        ev_envelope e;
        FUZZ_CHECK(ev_envelope_init(&e, "OrderPlaced", 2, "order", CID,
                                    order_placed_payload(&req, OID)) == 0);
        char err[512];
        if (!has_controls(req.customer_id))
            FUZZ_CHECK(ev_upcast(&e, err, sizeof err) == EV_UPCAST_OK);
        ev_envelope_clear(&e);
    } else {
        FUZZ_CHECK(oerr.status == 400 || oerr.status == 422);
        FUZZ_CHECK(oerr.code != NULL && oerr.message[0] != '\0');
    }
    json_decref(body);
    return 0;
}
