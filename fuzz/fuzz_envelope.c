/* Fuzz target: the envelope parser on raw Kafka values, then the payload checks and upcasting
 * of whatever parses. Properties: no crash, leak or undefined behaviour; an event that was
 * accepted and upcast serializes to an envelope that parses again and passes again. */
#include "ev/envelope.h"
#include "ev/events.h"
#include "fuzz_check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    ev_envelope e;
    if (ev_envelope_parse((const char *)data, size, &e, err, sizeof err) != 0) {
        FUZZ_CHECK(e.payload == NULL && err[0] != '\0');
        return 0;
    }
    ev_tolerated notes;
    if (ev_upcast_tolerant(&e, &notes, err, sizeof err) == EV_UPCAST_OK) {
        char *text = ev_envelope_serialize(&e);
        FUZZ_CHECK(text != NULL);
        ev_envelope again;
        FUZZ_CHECK(ev_envelope_parse(text, strlen(text), &again, err, sizeof err) == 0);
        FUZZ_CHECK(ev_upcast_tolerant(&again, &notes, err, sizeof err) == EV_UPCAST_OK);
        FUZZ_CHECK(again.version == e.version);
        ev_envelope_clear(&again);
        free(text);
    }
    ev_envelope_clear(&e);
    return 0;
}
