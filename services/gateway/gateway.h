/*
 * gateway: the state one gateway process shares between its HTTP threads
 * (libmicrohttpd's pool), its WebSocket loop and its NATS callbacks.
 *
 * The gateway holds no state another gateway needs: everything durable is
 * behind NATS. It never decides a score; it only measures time.
 */
#ifndef QW_GATEWAY_H
#define QW_GATEWAY_H

#include "daemon.h"
#include "netaddr.h"

struct ws_server;
struct http_heads;
struct image_cache;

struct gateway {
    struct daemon d;                       /* NATS connection, ops listener, instance name */
    struct MHD_Daemon *mhd;                /* public HTTP listener */
    struct ws_server *ws;                  /* WebSocket sockets and their event loop */
    const char *static_dir;                /* QW_STATIC_DIR */
    int port;                              /* QW_HTTP_PORT */
    char **allowed_origins;                /* NULL-terminated; QW_ALLOWED_ORIGINS */
    struct netaddr_range *trusted_proxies; /* QW_TRUSTED_PROXIES: IPs and CIDR ranges */
    struct http_heads *heads;              /* request-head deadlines (http_heads.c) */
    long long head_timeout_ms;             /* QW_HTTP_HEAD_TIMEOUT_MS */
    size_t image_max_bytes;                /* QW_IMAGE_MAX_BYTES */
    struct image_cache *images;            /* pictures kept for GET /img (routes_images.c) */
};

/* True when `s` is in `list`. */
int gateway_list_has(char *const *list, const char *s);

#endif
