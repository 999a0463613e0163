/*
 * clock: the two clocks Quizwire reads. Wall time (ms since the epoch) is
 * what deadlines are stored in, so that any daemon on any machine can judge
 * them; monotonic time (ms) measures intervals on one host.
 */
#ifndef QW_CLOCK_H
#define QW_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t clock_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t clock_mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t clock_mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#endif
