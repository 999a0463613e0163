/*
 * rtt: fair timing of one WebSocket, the one home of its state and rules.
 * It owns the pings a socket has outstanding (each with an unguessable
 * nonce and its send time), the recent round-trip samples, the question
 * the socket was shown (and when it left for the socket), and the rule
 * that turns a raw time on the gateway into the `elapsed` that scoring
 * turns into points. No other file touches these fields. Only a pong echoing an outstanding nonce
 * is a sample; anything else a client says about time is ignored. No I/O, no clock of its own (the
 * caller passes the time), except rtt_nonce's randomness.
 */
#ifndef QW_RTT_H
#define QW_RTT_H

#include <stddef.h>
#include <stdint.h>

#define RTT_NONCE_LEN 16  /* ping payload: random bytes, nothing else */
#define RTT_PENDING 8     /* pings awaiting their pong; the oldest is forgotten */
#define RTT_SAMPLES 8     /* most recent round trips the estimate looks at */
#define RTT_QUICK_PINGS 3 /* pings after the connect one, RTT_QUICK_MS apart */
#define RTT_QUICK_MS 250

struct rtt_ping {
    uint8_t nonce[RTT_NONCE_LEN];
    int64_t sent_us; /* monotonic; 0 = free slot */
};

struct rtt {
    struct rtt_ping pending[RTT_PENDING];
    int64_t samples_us[RTT_SAMPLES]; /* ring of the last samples */
    int n_samples;                   /* samples taken in all (ring index = n % RTT_SAMPLES) */
    int pings_sent;
    int64_t heard_us; /* last matching pong, or rtt_init's time */
    /* the question the socket was shown and when */
    long long q_idx;        /* -1 none */
    int q_from_snapshot;    /* shown in a snapshot: count from q_opened_at_ms */
    int64_t q_opened_at_ms; /* session clock (wall) */
    int64_t q_written_us;   /* monotonic: when question_open left for the socket */
    int q_write_pending;    /* question_open queued, not yet written */
};

/* Starts the state of a new socket at `now_us` (monotonic): no samples,
 * no question shown. */
void rtt_init(struct rtt *r, int64_t now_us);

/* Fills `out` with RTT_NONCE_LEN random bytes (getrandom). Returns 0 or -1. */
int rtt_nonce(uint8_t out[RTT_NONCE_LEN]);

/* Records a ping carrying `nonce` sent at `now_us`; when RTT_PENDING pings
 * are outstanding, the oldest one is forgotten (its pong will not count). */
void rtt_sent(struct rtt *r, const uint8_t nonce[RTT_NONCE_LEN], int64_t now_us);

/* A pong read at `now_us` with `payload` (borrowed). Returns 1 when it
 * echoed an outstanding nonce (the ping is consumed, its round trip becomes
 * a sample), 0 when it is ignored (unsolicited, forged, replayed). */
int rtt_pong(struct rtt *r, const uint8_t *payload, size_t len, int64_t now_us);

/* Milliseconds from the ping just sent to the next: quick for the first
 * RTT_QUICK_PINGS after the connect one (a socket needs samples before its
 * first question), then `interval_ms`. */
int64_t rtt_next_ping_ms(const struct rtt *r, int64_t interval_ms);

/* Microseconds since the last matching pong (or rtt_init). */
int64_t rtt_silence_us(const struct rtt *r, int64_t now_us);

/* The socket's round trip: the minimum of the last samples (jitter and a
 * slow pong never inflate it), -1 while there is none. Pure. */
int64_t rtt_estimate_us(const int64_t *samples_us, int n);

/* rtt_estimate_us of the state `r`. */
int64_t rtt_round_trip_us(const struct rtt *r);

/* The fair-points rule: `elapsed` in ms from `raw_us` (question written to
 * the socket -> submit read) less the round trip `rtt_us` (-1 unknown:
 * nothing subtracted) capped at `cap_us`; never below 0. Pure. */
int64_t rtt_elapsed_ms(int64_t raw_us, int64_t rtt_us, int64_t cap_us);

/* question_open of question `idx` (opened at `opened_at_ms`, session
 * clock) was queued for the socket: its time counts from when it is
 * written (rtt_question_written). */
void rtt_question_queued(struct rtt *r, long long idx, int64_t opened_at_ms);

/* A snapshot showed question `idx` open (opened at `opened_at_ms`). A
 * question the socket was shown already keeps its timing; one it learns
 * of here counts from `opened_at_ms`, so reconnecting never earns time. */
void rtt_question_snapshot(struct rtt *r, long long idx, int64_t opened_at_ms);

/* 1 while a queued question_open has not left for the socket yet. */
int rtt_question_unwritten(const struct rtt *r);

/* The socket's queue is empty at `now_us` (monotonic): a question_open
 * queued before has been written now. */
void rtt_question_written(struct rtt *r, int64_t now_us);

/* The `elapsed` (ms, at least 0) of a submit for question `qidx` read at
 * `now_us` (monotonic) and `wall_ms` (session clock), the round trip capped
 * at `cap_us`; 0 for a question the socket was not shown (scoring refuses
 * it) or one whose question_open has not been written yet. See
 * docs/ARCHITECTURE.md "Fair points". */
int64_t rtt_submit_elapsed_ms(const struct rtt *r, long long qidx, int64_t now_us, int64_t wall_ms,
                              int64_t cap_us);

#endif
