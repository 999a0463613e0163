/*
 * qw-natsrtt: the NATS request/reply round-trip baseline for stress/bench.
 * A responder connection echoes on a private subject; a second connection
 * sends N requests one after another and prints one JSON line with the
 * round trip's p50/p99/max in ms. It publishes nothing on Quizwire's qw.*
 * subjects and never touches the stack's daemons.
 */
#include <math.h>
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void on_req(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    natsConnection_Publish(nc, natsMsg_GetReply(msg), natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
    natsMsg_Destroy(msg);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : "nats://127.0.0.1:4222";
    int n = argc > 2 ? atoi(argv[2]) : 2000;
    if (n < 1) n = 2000;
    natsConnection *resp = NULL, *req = NULL;
    natsSubscription *sub = NULL;
    double *v = calloc((size_t)n, sizeof(double));
    char subj[64];
    int rc = 1;
    snprintf(subj, sizeof(subj), "bench.rtt.%d", (int)getpid());
    natsStatus s = natsConnection_ConnectTo(&resp, url);
    if (s == NATS_OK) s = natsConnection_ConnectTo(&req, url);
    if (s == NATS_OK) s = natsConnection_Subscribe(&sub, resp, subj, on_req, NULL);
    if (s == NATS_OK) s = natsConnection_Flush(resp);
    const char *payload = "{\"sid\":\"s\",\"student_id\":\"x\",\"question_idx\":0,\"choice\":\"A\"}";
    for (int i = 0; s == NATS_OK && i < n + 50; i++) {
        natsMsg *reply = NULL;
        double t0 = now_ms();
        s = natsConnection_RequestString(&reply, req, subj, payload, 2000);
        if (s == NATS_OK && i >= 50) v[i - 50] = now_ms() - t0; /* the first 50 warm up */
        natsMsg_Destroy(reply);
    }
    if (s != NATS_OK) {
        fprintf(stderr, "qw-natsrtt: %s: %s\n", url, natsStatus_GetText(s));
        goto cleanup;
    }
    qsort(v, (size_t)n, sizeof(double), cmp);
    printf("{\"tool\":\"qw-natsrtt\",\"requests\":%d,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}\n", n,
           v[(size_t)ceil(0.5 * n) - 1], v[(size_t)ceil(0.99 * n) - 1], v[n - 1]);
    rc = 0;
cleanup:
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(req);
    natsConnection_Destroy(resp);
    nats_Close();
    free(v);
    return rc;
}
