/* Fuzz target: payload checks and upcasting of every event type and version. The first byte
 * picks the event type, the second the version (1 to 3); the rest is the payload JSON.
 * Properties: what is accepted is within the bounds of the HTTP API (lines, quantities, money
 * without overflow), and upcasting what was accepted again changes nothing. */
#include "ev/envelope.h"
#include "ev/events.h"
#include "fuzz_check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const types[] = {"OrderPlaced",       "InventoryReserved", "OutOfStock",
                                    "InventoryReleased", "PaymentSucceeded",  "PaymentFailed",
                                    "PaymentRefunded",   "OrderConfirmed",    "OrderCancelled",
                                    "ShipmentCreated",   "SomethingNew"};
enum { TYPE_COUNT = sizeof types / sizeof types[0] };

#define CID "0148c2c0-a1bb-41e1-8aa8-8c03ebc7140a"

static void check_order_placed(const json_t *p)
{
    const json_t *items = json_object_get(p, "items");
    FUZZ_CHECK(json_array_size(items) >= 1 && json_array_size(items) <= EV_ORDER_MAX_LINES);
    json_int_t total = json_integer_value(json_object_get(p, "totalCents"));
    FUZZ_CHECK(total >= 0 && total <= EV_TOTAL_MAX_CENTS);
    size_t i;
    const json_t *line;
    json_array_foreach(items, i, line)
    {
        json_int_t q = json_integer_value(json_object_get(line, "quantity"));
        json_int_t price = json_integer_value(json_object_get(line, "unitPriceCents"));
        FUZZ_CHECK(q >= 1 && q <= EV_ORDER_MAX_QUANTITY);
        FUZZ_CHECK(price >= 0 && price <= EV_PRICE_MAX_CENTS);
    }
    FUZZ_CHECK(json_is_string(json_object_get(p, "customerId")));
    FUZZ_CHECK(json_is_string(json_object_get(p, "currency")));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    const char *type = types[data[0] % TYPE_COUNT];
    int version = 1 + data[1] % 3;
    json_t *payload = json_loadb((const char *)data + 2, size - 2, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(payload)) {
        json_decref(payload);
        return 0;
    }
    ev_envelope e;
    FUZZ_CHECK(ev_envelope_init(&e, type, version, "fuzz", CID, payload) == 0);
    char err[512];
    ev_tolerated notes;
    ev_upcast_result r = ev_upcast_tolerant(&e, &notes, err, sizeof err);
    FUZZ_CHECK(r == EV_UPCAST_OK || err[0] != '\0');
    if (r == EV_UPCAST_OK) {
        FUZZ_CHECK(e.version == ev_latest_version(type));
        if (strcmp(type, "OrderPlaced") == 0)
            check_order_placed(e.payload);
        char *before = json_dumps(e.payload, JSON_SORT_KEYS);
        FUZZ_CHECK(ev_upcast_tolerant(&e, &notes, err, sizeof err) == EV_UPCAST_OK);
        char *after = json_dumps(e.payload, JSON_SORT_KEYS);
        FUZZ_CHECK(before && after && strcmp(before, after) == 0);
        free(before);
        free(after);
    }
    ev_envelope_clear(&e);
    return 0;
}
