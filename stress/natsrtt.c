/*
 * qw-natsrtt: the NATS request/reply round-trip baseline for stress/bench.
 * A responder connection echoes on a private subject; a second connection
 * sends N requests one after another and prints one JSON line with the
 * round trip's p50/p99/max in ms, with nats.c's default buffering (what the
 * daemons use) and with send_asap. It publishes nothing on Quizwire's qw.*
 * subjects and never touches the stack's daemons. It connects as the NATS
 * user QW_NATS_USER (the stack's bench role) with the password on the first
 * line of QW_NATS_PASSWORD_FILE when those are set.
 */
#include <math.h>
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void on_req(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
    natsConnection_Publish(nc, natsMsg_GetReply(msg), natsMsg_GetData(msg),
                           natsMsg_GetDataLength(msg));
    natsMsg_Destroy(msg);
}

/* Sets the user and password from QW_NATS_USER and QW_NATS_PASSWORD_FILE,
 * when QW_NATS_USER is set. */
static natsStatus set_credentials(natsOptions *opts) {
    const char *user = getenv("QW_NATS_USER");
    const char *file = getenv("QW_NATS_PASSWORD_FILE");
    char pw[256] = "";
    natsStatus s = NATS_OK;
    if (!user || !*user) return NATS_OK;
    FILE *f = file ? fopen(file, "re") : NULL;
    if (!f || !fgets(pw, sizeof(pw), f)) s = NATS_INVALID_ARG;
    if (f) fclose(f);
    pw[strcspn(pw, "\r\n")] = '\0';
    if (s == NATS_OK) s = natsOptions_SetUserInfo(opts, user, pw);
    explicit_bzero(pw, sizeof(pw));
    return s;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Measures n round trips with both connections made with send_asap on or
 * off (off is nats.c's default and what shared/bus.c uses). Fills p50/p99/max;
 * returns NATS_OK or the failing status. */
static natsStatus measure(const char *url, int n, bool asap, double out[3]) {
    natsConnection *resp = NULL, *req = NULL;
    natsSubscription *sub = NULL;
    natsOptions *opts = NULL;
    double *v = calloc((size_t)n, sizeof(double));
    char subj[64];
    snprintf(subj, sizeof(subj), "bench.rtt.%d.%d", (int)getpid(), (int)asap);
    natsStatus s = v ? natsOptions_Create(&opts) : NATS_NO_MEMORY;
    if (s == NATS_OK) s = natsOptions_SetURL(opts, url);
    if (s == NATS_OK) s = natsOptions_SetSendAsap(opts, asap);
    if (s == NATS_OK) s = set_credentials(opts);
    if (s == NATS_OK) s = natsConnection_Connect(&resp, opts);
    if (s == NATS_OK) s = natsConnection_Connect(&req, opts);
    if (s == NATS_OK) s = natsConnection_Subscribe(&sub, resp, subj, on_req, NULL);
    if (s == NATS_OK) s = natsConnection_Flush(resp);
    const char *payload =
        "{\"sid\":\"s\",\"student_id\":\"x\",\"question_idx\":0,\"choice\":\"A\"}";
    for (int i = 0; s == NATS_OK && i < n + 50; i++) {
        natsMsg *reply = NULL;
        double t0 = now_ms();
        s = natsConnection_RequestString(&reply, req, subj, payload, 2000);
        if (s == NATS_OK && i >= 50) v[i - 50] = now_ms() - t0; /* the first 50 warm up */
        natsMsg_Destroy(reply);
    }
    if (s == NATS_OK) {
        qsort(v, (size_t)n, sizeof(double), cmp);
        out[0] = v[(size_t)ceil(0.5 * n) - 1];
        out[1] = v[(size_t)ceil(0.99 * n) - 1];
        out[2] = v[n - 1];
    }
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(req);
    natsConnection_Destroy(resp);
    natsOptions_Destroy(opts);
    free(v);
    return s;
}

int main(int argc, char **argv) {
    const char *url = argc > 1 ? argv[1] : "nats://127.0.0.1:4222";
    int n = argc > 2 ? atoi(argv[2]) : 2000;
    if (n < 1) n = 2000;
    double d[3], a[3];
    natsStatus s = measure(url, n, false, d);
    if (s == NATS_OK) s = measure(url, n, true, a);
    if (s != NATS_OK)
        fprintf(stderr, "qw-natsrtt: %s: %s\n", url, natsStatus_GetText(s));
    else
        printf("{\"tool\":\"qw-natsrtt\",\"requests\":%d,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_"
               "ms\":%.3f,"
               "\"send_asap\":{\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}}\n",
               n, d[0], d[1], d[2], a[0], a[1], a[2]);
    nats_Close();
    return s == NATS_OK ? 0 : 1;
}
