/* The bounded warn-once set; see ev/once.h. A linear scan: at most EV_ONCE_CAPACITY pairs,
 * looked up only for messages a tolerant read noted. */
#include "ev/once.h"
#include "ev/util.h"

#include <string.h>

void ev_once_init(ev_once_set *s)
{
    s->count = 0;
}

ev_once_result ev_once_check(ev_once_set *s, const char *producer, const char *event_type)
{
    ev_once_pair key;
    ev_strlcpy(key.producer, producer, sizeof key.producer);
    ev_strlcpy(key.event_type, event_type, sizeof key.event_type);
    for (size_t i = 0; i < s->count; i++)
        if (strcmp(s->seen[i].producer, key.producer) == 0 &&
            strcmp(s->seen[i].event_type, key.event_type) == 0)
            return EV_ONCE_SEEN;
    if (s->count == EV_ONCE_CAPACITY)
        return EV_ONCE_FULL;
    s->seen[s->count++] = key;
    return EV_ONCE_FIRST;
}
