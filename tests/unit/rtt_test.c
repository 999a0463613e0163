/*
 * rtt_test: only a pong echoing an outstanding nonce is a round-trip
 * sample, once; the estimate is the minimum of the recent samples; elapsed
 * subtracts the whole round trip, capped, never going below 0; a submit's
 * elapsed counts from when question_open was written, or from opened_at for
 * a question first seen in a snapshot, and is 0 for any other question.
 */
#include "check.h"
#include "rtt.h"

#include <string.h>

static void fill(uint8_t n[RTT_NONCE_LEN], uint8_t v) {
    memset(n, v, RTT_NONCE_LEN);
}

static void only_echoed_nonces_are_samples(void) {
    struct rtt r;
    uint8_t a[RTT_NONCE_LEN], b[RTT_NONCE_LEN], forged[RTT_NONCE_LEN];
    rtt_init(&r, 1000);
    fill(a, 1);
    fill(b, 2);
    fill(forged, 3);
    rtt_sent(&r, a, 1000000);
    rtt_sent(&r, b, 1100000);
    CHECK(rtt_round_trip_us(&r) == -1);
    CHECK(rtt_pong(&r, forged, sizeof(forged), 1200000) == 0);
    CHECK(rtt_pong(&r, a, RTT_NONCE_LEN - 1, 1200000) == 0); /* a prefix is not the nonce */
    CHECK(rtt_pong(&r, NULL, 0, 1200000) == 0);              /* an empty pong */
    int64_t clock_payload = 1000000;                         /* the old scheme's payload */
    CHECK(rtt_pong(&r, (const uint8_t *)&clock_payload, sizeof(clock_payload), 1200000) == 0);
    CHECK(rtt_round_trip_us(&r) == -1);
    CHECK(rtt_silence_us(&r, 1200000) == 1200000 - 1000);
    CHECK(rtt_pong(&r, a, sizeof(a), 1300000) == 1);
    CHECK(rtt_round_trip_us(&r) == 300000);
    CHECK(rtt_silence_us(&r, 1300000) == 0);
    CHECK(rtt_pong(&r, a, sizeof(a), 1300001) == 0); /* a replay counts nothing */
    CHECK(rtt_pong(&r, b, sizeof(b), 1350000) == 1);
    CHECK(rtt_round_trip_us(&r) == 250000);
}

static void oldest_pending_ping_is_forgotten(void) {
    struct rtt r;
    uint8_t n[RTT_NONCE_LEN];
    rtt_init(&r, 0);
    for (int i = 0; i <= RTT_PENDING; i++) {
        fill(n, (uint8_t)(10 + i));
        rtt_sent(&r, n, 1000 + i);
    }
    fill(n, 10); /* the first, overwritten by the (RTT_PENDING+1)th */
    CHECK(rtt_pong(&r, n, sizeof(n), 5000) == 0);
    fill(n, 11);
    CHECK(rtt_pong(&r, n, sizeof(n), 5000) == 1);
    fill(n, (uint8_t)(10 + RTT_PENDING));
    CHECK(rtt_pong(&r, n, sizeof(n), 5000) == 1);
}

static void estimate_is_the_minimum_of_recent_samples(void) {
    const int64_t none[1] = {0};
    CHECK(rtt_estimate_us(none, 0) == -1);
    const int64_t jitter[] = {310000, 300000, 2900000, 305000};
    CHECK(rtt_estimate_us(jitter, 4) == 300000);
    /* only the last RTT_SAMPLES count: an old fast sample ages out */
    struct rtt r;
    uint8_t n[RTT_NONCE_LEN];
    rtt_init(&r, 0);
    int64_t t = 1000;
    for (int i = 0; i < RTT_SAMPLES + 1; i++) {
        fill(n, (uint8_t)(40 + i));
        rtt_sent(&r, n, t);
        t += i == 0 ? 1000 : 200000;
        CHECK(rtt_pong(&r, n, sizeof(n), t) == 1);
    }
    CHECK(rtt_round_trip_us(&r) == 200000);
}

static void elapsed_subtracts_the_whole_capped_round_trip(void) {
    const struct {
        int64_t raw_us, rtt_us, cap_us, want_ms;
    } cases[] = {
        {2300000, 300000, 1000000, 2000},  /* whole round trip, not half */
        {2150000, 150000, 1000000, 2000},  /* 150 ms */
        {2000000, -1, 1000000, 2000},      /* no sample yet: nothing subtracted */
        {5000000, 3000000, 1000000, 4000}, /* delayed pongs gain at most the cap */
        {200000, 300000, 1000000, 0},      /* never below 0 */
        {2300000, 300000, 0, 2300},        /* cap 0 turns compensation off */
        {999, 0, 1000000, 0},              /* whole milliseconds, rounded down */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK(rtt_elapsed_ms(cases[i].raw_us, cases[i].rtt_us, cases[i].cap_us) ==
              cases[i].want_ms);
}

static void quick_pings_first_then_the_interval(void) {
    struct rtt r;
    uint8_t n[RTT_NONCE_LEN];
    rtt_init(&r, 0);
    for (int i = 1; i <= RTT_QUICK_PINGS + 2; i++) {
        CHECK(rtt_nonce(n) == 0);
        rtt_sent(&r, n, i);
        CHECK(rtt_next_ping_ms(&r, 20000) == (i <= RTT_QUICK_PINGS ? RTT_QUICK_MS : 20000));
    }
    CHECK(rtt_next_ping_ms(&r, 100) == 100);
    uint8_t m[RTT_NONCE_LEN];
    CHECK(rtt_nonce(m) == 0);
    CHECK(memcmp(n, m, RTT_NONCE_LEN) != 0); /* fresh randomness each time */
}

static void submit_elapsed_follows_the_question_shown(void) {
    struct rtt r;
    uint8_t n[RTT_NONCE_LEN];
    const int64_t cap = 1000000;
    rtt_init(&r, 0);
    CHECK(rtt_submit_elapsed_ms(&r, 0, 5000000, 90000, cap) == 0); /* nothing shown */
    CHECK(rtt_question_unwritten(&r) == 0);
    /* shown live: counts from the write, less the round trip */
    fill(n, 7);
    rtt_sent(&r, n, 1000000);
    CHECK(rtt_pong(&r, n, sizeof(n), 1200000) == 1); /* 200 ms */
    rtt_question_queued(&r, 2, 80000);
    CHECK(rtt_question_unwritten(&r) == 1);
    CHECK(rtt_submit_elapsed_ms(&r, 2, 3000000, 90000, cap) == 0); /* not written yet */
    rtt_question_written(&r, 2000000);
    CHECK(rtt_question_unwritten(&r) == 0);
    rtt_question_written(&r, 2500000); /* the first write counts, once */
    CHECK(rtt_submit_elapsed_ms(&r, 2, 5200000, 99999, cap) == 3000);
    CHECK(rtt_submit_elapsed_ms(&r, 2, 5200000, 99999, 100000) == 3100); /* capped */
    CHECK(rtt_submit_elapsed_ms(&r, 2, 2100000, 99999, cap) == 0);       /* never below 0 */
    CHECK(rtt_submit_elapsed_ms(&r, 1, 5200000, 99999, cap) == 0);       /* another question */
    CHECK(rtt_submit_elapsed_ms(&r, 3, 5200000, 99999, cap) == 0);
    /* a snapshot of the same question keeps its live timing */
    rtt_question_snapshot(&r, 2, 70000);
    CHECK(rtt_submit_elapsed_ms(&r, 2, 5200000, 99999, cap) == 3000);
    /* a question first seen in a snapshot counts from opened_at */
    rtt_question_snapshot(&r, 3, 100000);
    CHECK(rtt_question_unwritten(&r) == 0);
    CHECK(rtt_submit_elapsed_ms(&r, 3, 1, 104500, cap) == 4500);
    CHECK(rtt_submit_elapsed_ms(&r, 3, 1, 99000, cap) == 0); /* a clock behind: 0 */
    rtt_question_snapshot(&r, 3, 50000); /* seen again: the first opened_at stays */
    CHECK(rtt_submit_elapsed_ms(&r, 3, 1, 104500, cap) == 4500);
    /* its question_open after all: live timing again */
    rtt_question_queued(&r, 4, 110000);
    rtt_question_written(&r, 6000000);
    CHECK(rtt_submit_elapsed_ms(&r, 4, 7200000, 999999, cap) == 1000);
}

int main(void) {
    only_echoed_nonces_are_samples();
    oldest_pending_ping_is_forgotten();
    estimate_is_the_minimum_of_recent_samples();
    elapsed_subtracts_the_whole_capped_round_trip();
    quick_pings_first_then_the_interval();
    submit_elapsed_follows_the_question_shown();
    return check_result("rtt_test");
}
