/*
 * qw-gateway: wiring only. Starts the daemon frame (settings, logging, NATS,
 * ops listener), the WebSocket loop and the public HTTP listener; on
 * SIGTERM/SIGINT stops taking connections, closes sockets, drains NATS.
 */
#include "gateway.h"
#include "http.h"
#include "log.h"
#include "netaddr.h"
#include "ws.h"

#include <malloc.h>
#include <microhttpd.h>
#include <stdlib.h>

int gateway_health(void *ctx, json_t *detail);

int main(void) {
    static struct gateway gw;
    int rc = 1;
    /* One malloc arena per core instead of 8 per core: libmicrohttpd's pool
     * threads allocate each connection and the loop frees it, so per-thread
     * arenas kept freed socket memory stranded (gateway RSS per socket). */
    mallopt(M_ARENA_MAX, 2);
    if (daemon_start(&gw.d, "gateway", CFG_GATEWAY, NULL, 0) != 0) goto out;
    gw.d.extra_health = gateway_health;
    gw.d.extra_ctx = &gw;
    gw.static_dir = config_str("QW_STATIC_DIR");
    gw.port = (int)config_int("QW_HTTP_PORT");
    gw.allowed_origins = config_list(config_str("QW_ALLOWED_ORIGINS"));
    char bad[64] = "";
    gw.trusted_proxies = netaddr_list_parse(config_str("QW_TRUSTED_PROXIES"), bad, sizeof(bad));
    if (!gw.trusted_proxies) {
        LOG_ERROR("config_invalid", "name=QW_TRUSTED_PROXIES entry=\"%s\" want=\"IP or IP/prefix\"",
                  bad);
        goto out;
    }
    /* before the loop whose tick sweeps it, freed after HTTP stopped */
    gw.head_timeout_ms = config_int("QW_HTTP_HEAD_TIMEOUT_MS");
    gw.heads = http_heads_new(gw.head_timeout_ms);
    if (!gw.heads) goto out;
    if (routes_images_start(&gw) != 0) goto out;
    if (ws_server_start(&gw) != 0) goto out;
    if (http_start(&gw) != 0) goto out;
    if (daemon_ready(&gw.d) != 0) goto out;
    rc = 0;
    daemon_wait(&gw.d);
out:
    ws_server_stop(&gw); /* closes every socket with 1001 before HTTP stops */
    http_stop(&gw);
    ws_server_free(&gw);
    http_heads_free(gw.heads);
    routes_images_stop(&gw);
    daemon_finish(&gw.d);
    config_list_free(gw.allowed_origins);
    netaddr_list_free(gw.trusted_proxies);
    return rc;
}
