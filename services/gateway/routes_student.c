/*
 * routes_student: POST /api/join. Passes the join to the auth daemon
 * (which checks the id and name, the session and the cap, and signs the
 * token), with this browser's own qw_student cookie so the same browser
 * may join again, and its join_key (the same browser's retried join whose
 * answer was lost; auth checks and hashes it, nothing here logs it), and
 * the client IP (auth limits failed tries per IP; successful joins are not
 * limited: a class shares one NAT address), and sets the cookie from the
 * answer. Runs on libmicrohttpd's pool threads.
 */
#include "http.h"

#include "reply.h"
#include "subjects.h"

#include <stdio.h>

static enum MHD_Result join(struct http_req *r) {
    enum MHD_Result ret;
    json_t *body = http_body_json(r, &ret);
    if (!body) return ret;
    json_t *req = json_object();
    static const char *const fields[] = {"student_id", "name",   "sid",
                                         "join_code",  "shapes", "join_key"};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        json_t *v = json_object_get(body, fields[i]);
        if (v) json_object_set(req, fields[i], v);
    }
    json_decref(body);
    char ip[64];
    http_client_ip(r, ip, sizeof(ip));
    json_object_set_new(req, "ip", json_string(ip)); /* failed tries are limited per IP */
    const char *mine = http_cookie(r, "qw_student");
    if (mine && *mine) json_object_set_new(req, "token", json_string(mine));
    json_t *reply = http_bus(r, SUBJ_AUTH_JOIN, req);
    json_decref(req);
    if (reply_is_ok(reply) && json_is_string(json_object_get(reply, "token"))) {
        http_set_cookie(r, "qw_student", json_string_value(json_object_get(reply, "token")), "Lax",
                        (long long)json_integer_value(json_object_get(reply, "max_age_s")));
    }
    ret = http_from_reply(r, reply, 200);
    json_decref(reply);
    return ret;
}

const struct http_route routes_student[] = {
    {"POST", "/api/join", 0, join},
    {NULL, NULL, 0, NULL},
};
