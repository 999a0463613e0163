/*
 * routes_health: GET /healthz on the public port. 200 only when this
 * gateway's NATS connection is up and auth, session and scoring each
 * answered a health request within a short deadline; else 503 naming what
 * is down. The same check backs the ops port's /healthz.
 */
#include "bus.h"
#include "http.h"
#include "reply.h"
#include "subjects.h"

#define HEALTH_DEADLINE_MS 500

int gateway_health(void *ctx, json_t *detail) {
    struct gateway *gw = ctx;
    static const char *const names[] = {"auth", "session", "scoring"};
    static const char *const subjects[] = {SUBJ_HEALTH_AUTH, SUBJ_HEALTH_SESSION,
                                           SUBJ_HEALTH_SCORING};
    int nats = bus_connected(gw->d.nc);
    int ok = nats;
    json_object_set_new(detail, "nats", json_boolean(nats));
    json_t *down = json_array();
    if (!nats) json_array_append_new(down, json_string("nats"));
    json_t *probe = json_object();
    for (int i = 0; i < 3; i++) {
        json_t *reply = nats ? bus_request(gw->d.nc, subjects[i], probe, HEALTH_DEADLINE_MS) : NULL;
        int up = reply_is_ok(reply);
        json_decref(reply);
        json_object_set_new(detail, names[i], json_boolean(up));
        if (!up) {
            ok = 0;
            json_array_append_new(down, json_string(names[i]));
        }
    }
    json_decref(probe);
    json_object_set_new(detail, "instance", json_string(gw->d.instance));
    if (json_array_size(down))
        json_object_set_new(detail, "down", down);
    else
        json_decref(down);
    return ok;
}

static enum MHD_Result get_healthz(struct http_req *r) {
    json_t *detail = json_object();
    int ok = gateway_health(r->gw, detail);
    json_object_set_new(detail, "ok", json_boolean(ok));
    return http_json(r, ok ? 200 : 503, detail);
}

const struct http_route routes_health[] = {
    {"GET", "/healthz", 0, get_healthz},
    {NULL, NULL, 0, NULL},
};
