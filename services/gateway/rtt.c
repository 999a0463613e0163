/*
 * rtt: the fair-timing state of one socket and its rules (see rtt.h and
 * docs/ARCHITECTURE.md "Fair points"). A ping's payload is a fresh random
 * nonce, so a client cannot learn the server's clock from it nor make up a
 * pong in advance; a nonce is compared in constant time and counts once.
 * The question a socket was shown is kept here too, so the submit rule
 * reads one struct. Loop thread only (one struct per socket); never blocks.
 */
#include "rtt.h"

#include <string.h>
#include <sys/random.h>

void rtt_init(struct rtt *r, int64_t now_us) {
    memset(r, 0, sizeof(*r));
    r->heard_us = now_us;
    r->q_idx = -1;
}

int rtt_nonce(uint8_t out[RTT_NONCE_LEN]) {
    size_t got = 0;
    while (got < RTT_NONCE_LEN) {
        ssize_t n = getrandom(out + got, RTT_NONCE_LEN - got, 0);
        if (n <= 0) return -1;
        got += (size_t)n;
    }
    return 0;
}

void rtt_sent(struct rtt *r, const uint8_t nonce[RTT_NONCE_LEN], int64_t now_us) {
    int slot = 0;
    for (int i = 0; i < RTT_PENDING; i++) {
        if (r->pending[i].sent_us == 0) {
            slot = i;
            break;
        }
        if (r->pending[i].sent_us < r->pending[slot].sent_us) slot = i;
    }
    memcpy(r->pending[slot].nonce, nonce, RTT_NONCE_LEN);
    r->pending[slot].sent_us = now_us > 0 ? now_us : 1;
    r->pings_sent++;
}

/* 1 when a and b (RTT_NONCE_LEN bytes) are equal, in constant time. */
static int nonce_equal(const uint8_t *a, const uint8_t *b) {
    uint8_t diff = 0;
    for (int i = 0; i < RTT_NONCE_LEN; i++)
        diff |= (uint8_t)(a[i] ^ b[i]);
    return diff == 0;
}

int rtt_pong(struct rtt *r, const uint8_t *payload, size_t len, int64_t now_us) {
    if (len != RTT_NONCE_LEN) return 0;
    int found = -1;
    for (int i = 0; i < RTT_PENDING; i++)
        if (r->pending[i].sent_us != 0 && nonce_equal(r->pending[i].nonce, payload)) found = i;
    if (found < 0) return 0;
    int64_t rtt = now_us - r->pending[found].sent_us;
    memset(&r->pending[found], 0, sizeof(r->pending[found]));
    if (rtt < 0) rtt = 0;
    r->samples_us[r->n_samples % RTT_SAMPLES] = rtt;
    r->n_samples++;
    r->heard_us = now_us;
    return 1;
}

int64_t rtt_next_ping_ms(const struct rtt *r, int64_t interval_ms) {
    if (r->pings_sent <= RTT_QUICK_PINGS && RTT_QUICK_MS < interval_ms) return RTT_QUICK_MS;
    return interval_ms;
}

int64_t rtt_silence_us(const struct rtt *r, int64_t now_us) {
    return now_us - r->heard_us;
}

int64_t rtt_estimate_us(const int64_t *samples_us, int n) {
    int64_t best = -1;
    for (int i = 0; i < n; i++)
        if (samples_us[i] >= 0 && (best < 0 || samples_us[i] < best)) best = samples_us[i];
    return best;
}

int64_t rtt_round_trip_us(const struct rtt *r) {
    int n = r->n_samples < RTT_SAMPLES ? r->n_samples : RTT_SAMPLES;
    return rtt_estimate_us(r->samples_us, n);
}

int64_t rtt_elapsed_ms(int64_t raw_us, int64_t rtt_us, int64_t cap_us) {
    int64_t minus = rtt_us < 0 ? 0 : rtt_us;
    if (cap_us >= 0 && minus > cap_us) minus = cap_us;
    int64_t e = raw_us - minus;
    return e < 0 ? 0 : e / 1000;
}

void rtt_question_queued(struct rtt *r, long long idx, int64_t opened_at_ms) {
    r->q_idx = idx;
    r->q_from_snapshot = 0;
    r->q_opened_at_ms = opened_at_ms;
    r->q_write_pending = 1;
    r->q_written_us = 0;
}

void rtt_question_snapshot(struct rtt *r, long long idx, int64_t opened_at_ms) {
    if (r->q_idx == idx) return;
    r->q_idx = idx;
    r->q_from_snapshot = 1;
    r->q_opened_at_ms = opened_at_ms;
}

int rtt_question_unwritten(const struct rtt *r) {
    return r->q_write_pending;
}

void rtt_question_written(struct rtt *r, int64_t now_us) {
    if (!r->q_write_pending) return;
    r->q_written_us = now_us;
    r->q_write_pending = 0;
}

int64_t rtt_submit_elapsed_ms(const struct rtt *r, long long qidx, int64_t now_us, int64_t wall_ms,
                              int64_t cap_us) {
    int64_t e = 0;
    if (r->q_idx != qidx) return 0;
    if (r->q_from_snapshot)
        e = wall_ms - r->q_opened_at_ms;
    else if (!r->q_write_pending && r->q_written_us)
        e = rtt_elapsed_ms(now_us - r->q_written_us, rtt_round_trip_us(r), cap_us);
    return e < 0 ? 0 : e;
}
