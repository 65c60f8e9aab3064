/* The admin token check; see ev/admin.h. */
#include "ev/admin.h"
#include "ev/http.h"
#include "ev/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int load_file(ev_admin *a, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return ev_fail(err, errlen, "EVENTIFY_ADMIN_TOKEN_FILE=%s: %s", path, strerror(errno));
    size_t n = fread(a->token, 1, sizeof a->token, f);
    bool error = ferror(f) != 0;
    fclose(f);
    if (error || n == sizeof a->token) {
        a->token[0] = '\0';
        return ev_fail(err, errlen,
                       "EVENTIFY_ADMIN_TOKEN_FILE=%s: unreadable or longer than %d bytes", path,
                       EV_ADMIN_TOKEN_MAX - 1);
    }
    while (n > 0 && (a->token[n - 1] == '\n' || a->token[n - 1] == '\r' || a->token[n - 1] == ' '))
        n--;
    a->token[n] = '\0';
    if (n == 0)
        return ev_fail(err, errlen, "EVENTIFY_ADMIN_TOKEN_FILE=%s is empty", path);
    return 0;
}

int ev_admin_load(ev_admin *a, const char *(*getenv_fn)(const char *), char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    const char *path = getenv_fn("EVENTIFY_ADMIN_TOKEN_FILE");
    if (path && *path)
        return load_file(a, path, err, errlen);
    const char *token = getenv_fn("EVENTIFY_ADMIN_TOKEN");
    if (token && *token && !ev_strlcpy(a->token, token, sizeof a->token)) {
        a->token[0] = '\0';
        return ev_fail(err, errlen, "EVENTIFY_ADMIN_TOKEN is longer than %d bytes",
                       EV_ADMIN_TOKEN_MAX - 1);
    }
    return 0;
}

bool ev_admin_token_matches(const ev_admin *a, const char *header)
{
    static const char scheme[] = "Bearer ";
    if (!a->token[0] || !header || strncasecmp(header, scheme, sizeof scheme - 1) != 0)
        return false;
    const char *given = header + sizeof scheme - 1;
    size_t want_len = strlen(a->token), given_len = strlen(given);
    /* Every byte of the token is compared whatever the input, so timing tells nothing. */
    unsigned char diff = (unsigned char)(want_len != given_len);
    for (size_t i = 0; i < want_len; i++)
        diff |= (unsigned char)(a->token[i] ^ (i < given_len ? given[i] : 0));
    return diff == 0;
}

bool ev_admin_authorize(const ev_admin *a, const struct _u_request *req, struct _u_response *resp)
{
    if (!a->token[0]) {
        ev_http_reply_error(resp, 503, "admin_disabled",
                            "no admin token is configured on this service");
        return false;
    }
    if (!ev_admin_token_matches(a, ev_http_header(req, "Authorization"))) {
        u_map_put(resp->map_header, "WWW-Authenticate", "Bearer realm=\"eventify-admin\"");
        ev_http_reply_error(
            resp, 401, "unauthorized",
            "this endpoint needs the admin token as 'Authorization: Bearer <token>'");
        return false;
    }
    return true;
}
