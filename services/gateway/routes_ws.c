/*
 * routes_ws: the WebSocket upgrade routes, GET /ws (students) and
 * GET /admin/ws?sid=S (instructor). The checks and the upgrade itself are
 * in ws_upgrade.c; the sockets then live on the WebSocket loop.
 */
#include "http.h"
#include "ws.h"

const struct http_route routes_ws[] = {
    {"GET", "/ws", 0, ws_upgrade_student},
    {"GET", "/admin/ws", 0, ws_upgrade_admin},
    {NULL, NULL, 0, NULL},
};
