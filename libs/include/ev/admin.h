/* The admin token: the one credential that guards every endpoint which writes to Kafka or
 * changes state outside the customer API (DLQ replay, catalog and stock writes, ...).
 *
 * The token is read once at start from the file named by EVENTIFY_ADMIN_TOKEN_FILE (the
 * local stack generates .run/secrets/admin-token, readable by its owner only) or, for
 * containers, from EVENTIFY_ADMIN_TOKEN. Without either, every admin request is refused:
 * the service fails closed, never open. Clients send `Authorization: Bearer <token>`. */
#ifndef EV_ADMIN_H
#define EV_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <ulfius.h>

#define EV_ADMIN_TOKEN_MAX 256

typedef struct {
    char token[EV_ADMIN_TOKEN_MAX]; /* empty: no token configured, admin requests refused */
} ev_admin;

/* Loads the token from the environment (see above). An unreadable file, an empty one or a
 * token longer than EV_ADMIN_TOKEN_MAX - 1 is an error naming the variable. Neither
 * variable set is not an error: admin stays closed. Returns 0 or -1 with err. */
int ev_admin_load(ev_admin *a, const char *(*getenv_fn)(const char *), char *err, size_t errlen);

/* True when header (the Authorization header's value, may be NULL) carries the token.
 * Compares in constant time. Pure, unit-tested. */
bool ev_admin_token_matches(const ev_admin *a, const char *header);

/* For a route handler: true when req carries the token; otherwise answers 401 (no or bad
 * credential, with WWW-Authenticate) or 503 (no token configured) and returns false. */
bool ev_admin_authorize(const ev_admin *a, const struct _u_request *req, struct _u_response *resp);

#endif
