/* Shipping service: one shipment per OrderConfirmed (ShipmentCreated). The shipment row and
 * the event are written together; a second OrderConfirmed for the same order finds the row
 * and emits nothing. GET /shipments/{orderId}. */
#include "ev/events.h"
#include "ev/log.h"
#include "ev/outbox.h"
#include "ev/service.h"

#include <stdlib.h>
#include <string.h>

#define SERVICE "shipping"

static ev_outcome handle(ev_delivery *d, void *user)
{
    (void)user;
    const ev_envelope *e = d->event;
    if (strcmp(e->event_type, "OrderConfirmed") != 0)
        return EV_HANDLED;
    const char *order_id = json_string_value(json_object_get(e->payload, "orderId"));
    char shipment_id[EV_UUID_LEN], err[512];
    ev_uuid_new(shipment_id);
    const char *params[] = {order_id, shipment_id};
    PGresult *r = ev_pg_query(d->tx,
                              "INSERT INTO shipments (order_id, shipment_id) VALUES ($1, $2)"
                              " ON CONFLICT (order_id) DO NOTHING",
                              2, params, err, sizeof err);
    int created = r ? (int)ev_pg_affected(r) : -1;
    PQclear(r);
    if (created == 1 && ev_emit(d->tx, SERVICE, e, "ShipmentCreated", 1,
                                json_pack("{s:s, s:s, s:s}", "orderId", order_id, "shipmentId",
                                          shipment_id, "status", "CREATED"),
                                err, sizeof err) != 0)
        created = -1;
    if (created < 0) {
        ev_fail(d->reason, sizeof d->reason, "%s", err);
        return EV_RETRY;
    }
    if (created == 1)
        ev_log(EV_LOG_INFO, e->correlation_id, e->event_id, "order %s: shipment %s created",
               order_id, shipment_id);
    return EV_HANDLED;
}

static void get_shipment(const struct _u_request *req, struct _u_response *resp, void *user)
{
    ev_service_reply_by_id(user, req, resp, "orderId",
                           "SELECT json_build_object('orderId', order_id, 'shipmentId',"
                           " shipment_id, 'status', status, 'createdAt', created_at)::text"
                           " FROM shipments WHERE order_id = $1",
                           "shipment for order");
}

int main(void)
{
    static ev_service s;
    char err[512];
    if (ev_service_open(&s, SERVICE, EVENTIFY_DEFAULT_MIGRATIONS_DIR, err, sizeof err) != 0) {
        ev_error("cannot start: %s", err);
        return 1;
    }
    ev_worker worker = ev_service_worker(&s, handle, NULL);
    int rc = 1;
    if (ev_http_route(s.http, "GET", "/shipments/:orderId", get_shipment, &s) != 0)
        ev_error("cannot register routes");
    else
        rc = ev_service_run(&s, &worker, true) == 0 ? 0 : 1;
    ev_service_close(&s);
    return rc;
}
