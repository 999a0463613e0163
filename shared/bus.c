/*
 * bus: nats.c wrappers shared by the daemons (see bus.h). The callbacks here
 * run on nats.c's own threads: they log and call the reconnect hook.
 */
#include "bus.h"

#include "log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The reconnect hook; held while it runs so that removing it waits. */
static pthread_mutex_t hook_lock = PTHREAD_MUTEX_INITIALIZER;
static void (*hook_fn)(void *ctx);
static void *hook_ctx;

void bus_on_reconnected(void (*fn)(void *ctx), void *ctx) {
    pthread_mutex_lock(&hook_lock);
    hook_fn = fn;
    hook_ctx = ctx;
    pthread_mutex_unlock(&hook_lock);
}

static void on_disconnected(natsConnection *nc, void *closure) {
    (void)nc;
    (void)closure;
    LOG_WARN("nats_disconnected", "");
}

static void on_reconnected(natsConnection *nc, void *closure) {
    (void)closure;
    char server[256] = "-";
    natsConnection_GetConnectedUrl(nc, server, sizeof(server));
    LOG_INFO("nats_reconnected", "url=%s", server);
    pthread_mutex_lock(&hook_lock);
    if (hook_fn) hook_fn(hook_ctx);
    pthread_mutex_unlock(&hook_lock);
}

static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure) {
    (void)nc;
    (void)sub;
    (void)closure;
    LOG_WARN("nats_error", "status=\"%s\"", natsStatus_GetText(err));
}

/* Reads the first line of `path` into buf (at most size-1 bytes, newline
 * dropped). Returns 0, or -1 when it cannot be read or is empty. */
static int read_secret(const char *path, char *buf, size_t size) {
    int rc = -1;
    FILE *f = path ? fopen(path, "re") : NULL;
    if (!f) return -1;
    if (fgets(buf, (int)size, f)) {
        buf[strcspn(buf, "\r\n")] = '\0';
        if (*buf) rc = 0;
    }
    fclose(f);
    return rc;
}

/* Splits the comma-separated `urls` (spaces around an entry ignored) into
 * at most BUS_MAX_SERVERS entries pointing into `copy`, which the caller
 * provides (a writable copy of urls) and keeps while they are used.
 * Returns how many, or -1 when there are none or too many, or one is empty. */
static int split_servers(char *copy, const char *servers[BUS_MAX_SERVERS]) {
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        size_t len = strlen(tok);
        while (len > 0 && tok[len - 1] == ' ')
            tok[--len] = '\0';
        if (len == 0 || n == BUS_MAX_SERVERS) return -1;
        servers[n++] = tok;
    }
    return n > 0 ? n : -1;
}

int bus_connect(const char *url, const char *name, const char *user, const char *password_file,
                const char *ca_file, natsConnection **out) {
    char password[256] = "";
    const char *failed_var = "QW_NATS_URL";
    const char *servers[BUS_MAX_SERVERS];
    char *copy = strdup(url ? url : "");
    int nservers = copy ? split_servers(copy, servers) : -1;
    natsOptions *opts = NULL;
    natsStatus s = nservers > 0 ? natsOptions_Create(&opts) : NATS_INVALID_ARG;
    /* every server of the list, tried in the order given (no shuffling: an
     * operator lists the nearest first), and only those: servers the
     * cluster announces may be addresses only reachable inside it */
    if (s == NATS_OK) s = natsOptions_SetServers(opts, servers, nservers);
    if (s == NATS_OK) s = natsOptions_SetNoRandomize(opts, true);
    if (s == NATS_OK) s = natsOptions_SetIgnoreDiscoveredServers(opts, true);
    if (s == NATS_OK && user && *user) {
        if (read_secret(password_file, password, sizeof(password)) != 0) {
            failed_var = "QW_NATS_PASSWORD_FILE";
            s = NATS_INVALID_ARG;
        } else {
            s = natsOptions_SetUserInfo(opts, user, password);
        }
        explicit_bzero(password, sizeof(password));
    }
    if (s == NATS_OK && ca_file && *ca_file) {
        s = natsOptions_SetSecure(opts, true);
        if (s == NATS_OK) s = natsOptions_LoadCATrustedCertificates(opts, ca_file);
        if (s != NATS_OK) failed_var = "QW_NATS_CA_FILE";
    }
    if (s == NATS_OK) s = natsOptions_SetName(opts, name);
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, 250);
    if (s == NATS_OK) s = natsOptions_SetReconnectJitter(opts, 100, 100);
    if (s == NATS_OK) s = natsOptions_SetReconnectBufSize(opts, 32 * 1024 * 1024);
    if (s == NATS_OK) s = natsOptions_SetPingInterval(opts, 2000);
    if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(opts, 2);
    if (s == NATS_OK) s = natsOptions_SetTimeout(opts, 2000);
    if (s == NATS_OK) s = natsOptions_SetMaxPendingMsgs(opts, 1000000);
    /* write each publish at once instead of waiting for nats.c's flusher:
     * ~0.7 ms less per request/reply hop (docs/BENCHMARKS.md) */
    if (s == NATS_OK) s = natsOptions_SetSendAsap(opts, true);
    if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(opts, on_disconnected, NULL);
    if (s == NATS_OK) s = natsOptions_SetReconnectedCB(opts, on_reconnected, NULL);
    if (s == NATS_OK) s = natsOptions_SetErrorHandler(opts, on_error, NULL);
    if (s == NATS_OK) s = natsConnection_Connect(out, opts);
    natsOptions_Destroy(opts);
    free(copy);
    if (s != NATS_OK) {
        LOG_ERROR("nats_connect_failed", "var=%s url=%s user=%s tls=%d status=\"%s\"", failed_var,
                  url, user && *user ? user : "-", ca_file && *ca_file, natsStatus_GetText(s));
        *out = NULL;
        return -1;
    }
    char server[256] = "-";
    natsConnection_GetConnectedUrl(*out, server, sizeof(server));
    LOG_INFO("nats_connected", "url=%s servers=%d user=%s tls=%d", server, nservers,
             user && *user ? user : "-", ca_file && *ca_file);
    return 0;
}

void bus_close(natsConnection *nc) {
    if (!nc) return;
    if (natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED)
        natsConnection_DrainTimeout(nc, 2000);
    natsConnection_Close(nc);
    natsConnection_Destroy(nc);
}

int bus_connected(natsConnection *nc) {
    return nc && natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED;
}

json_t *bus_parse(natsMsg *msg) {
    json_error_t err;
    const char *data = natsMsg_GetData(msg);
    int len = natsMsg_GetDataLength(msg);
    if (!data || len <= 0) return NULL;
    json_t *j = json_loadb(data, (size_t)len, JSON_REJECT_DUPLICATES, &err);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

json_t *bus_request(natsConnection *nc, const char *subject, const json_t *req, int timeout_ms) {
    char *body = json_dumps(req, JSON_COMPACT);
    if (!body) return NULL;
    natsMsg *reply = NULL;
    natsStatus s = natsConnection_Request(&reply, nc, subject, body, (int)strlen(body), timeout_ms);
    free(body);
    if (s != NATS_OK) {
        LOG_DEBUG("bus_request_failed", "subject=%s status=\"%s\"", subject, natsStatus_GetText(s));
        return NULL;
    }
    json_t *j = bus_parse(reply);
    natsMsg_Destroy(reply);
    return j;
}

int bus_publish(natsConnection *nc, const char *subject, const json_t *obj) {
    char *body = json_dumps(obj, JSON_COMPACT);
    if (!body) return -1;
    natsStatus s = natsConnection_Publish(nc, subject, body, (int)strlen(body));
    free(body);
    return s == NATS_OK ? 0 : -1;
}

int bus_respond(natsConnection *nc, natsMsg *msg, const json_t *reply) {
    const char *to = natsMsg_GetReply(msg);
    if (!to || !*to) return 0;
    char *body = json_dumps(reply, JSON_COMPACT);
    if (!body) return -1;
    natsStatus s = natsConnection_Publish(nc, to, body, (int)strlen(body));
    free(body);
    return s == NATS_OK ? 0 : -1;
}
