/* The admission decision of POST /orders; see admission.h. */
#include "admission.h"

admission_verdict admission_decide(const admission_policy *p, const admission_signal *s,
                                   int64_t now_ms)
{
    admission_verdict admit = {.admit = true, .retry_after_s = 0};
    if (p->max_delay_ms <= 0 || !s->measured || now_ms - s->measured_at_ms > p->stale_after_ms)
        return admit;
    int64_t excess_ms = s->backlog_age_ms - p->max_delay_ms;
    if (excess_ms <= 0)
        return admit;
    int64_t seconds = (excess_ms + 999) / 1000;
    if (seconds > ADMISSION_RETRY_AFTER_MAX_S)
        seconds = ADMISSION_RETRY_AFTER_MAX_S;
    return (admission_verdict){.admit = false, .retry_after_s = (int)seconds};
}
