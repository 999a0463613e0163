/*
 * ops: a tiny libmicrohttpd server for /healthz and /metrics (see ops.h).
 */
#include "ops.h"

#include "log.h"
#include "metrics.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

struct ops {
    struct MHD_Daemon *mhd;
    const char *daemon; /* literal name */
    ops_health_fn fn;
    void *ctx;
};

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, char *body,
                                 const char *type) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls) {
    (void)version;
    (void)upload;
    struct ops *ops = cls;
    if (*req_cls == NULL) { /* first call: headers only */
        *req_cls = ops;
        return MHD_YES;
    }
    if (*upload_size) { /* ops routes take no body */
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0) {
        return send_text(c, 405,
                         strdup("{\"error\":\"method_not_allowed\",\"message\":\"GET only\"}"),
                         "application/json");
    }
    if (strcmp(url, "/livez") == 0) { /* liveness: this process answers */
        json_t *live = json_pack("{s:s,s:b}", "daemon", ops->daemon, "ok", 1);
        char *body = json_dumps(live, JSON_COMPACT);
        json_decref(live);
        return send_text(c, 200, body, "application/json");
    }
    if (strcmp(url, "/healthz") == 0) {
        json_t *detail = json_object();
        json_object_set_new(detail, "daemon", json_string(ops->daemon));
        int ok = ops->fn ? ops->fn(ops->ctx, detail) : 1;
        json_object_set_new(detail, "ok", json_boolean(ok));
        char *body = json_dumps(detail, JSON_COMPACT);
        json_decref(detail);
        return send_text(c, ok ? 200 : 503, body, "application/json");
    }
    if (strcmp(url, "/metrics") == 0)
        return send_text(c, 200, metrics_render(ops->daemon), "text/plain; version=0.0.4");
    return send_text(c, 404, strdup("{\"error\":\"not_found\",\"message\":\"no such route\"}"),
                     "application/json");
}

struct ops *ops_start(const char *daemon, const char *addr, int port, ops_health_fn fn, void *ctx,
                      int *failed) {
    *failed = 0;
    if (port == 0) return NULL;
    struct ops *ops = calloc(1, sizeof(*ops));
    if (!ops) goto err;
    ops->daemon = daemon;
    ops->fn = fn;
    ops->ctx = ctx;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
        LOG_ERROR("config_invalid", "var=QW_OPS_ADDR reason=\"not an IPv4 address\"");
        goto err;
    }
    ops->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port,
                                NULL, NULL, on_request, ops, MHD_OPTION_SOCK_ADDR, &sa,
                                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (!ops->mhd) {
        LOG_ERROR("ops_listen_failed", "var=QW_OPS_PORT port=%d", port);
        goto err;
    }
    LOG_INFO("ops_listening", "addr=%s port=%d", addr, port);
    return ops;
err:
    free(ops);
    *failed = 1;
    return NULL;
}

void ops_stop(struct ops *ops) {
    if (!ops) return;
    if (ops->mhd) MHD_stop_daemon(ops->mhd);
    free(ops);
}
