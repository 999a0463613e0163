/*
 * metrics: counters and gauges rendered in Prometheus text format.
 *
 * A daemon declares its metrics as static `struct metric` values and
 * registers them once at start-up; any thread may then add to them (atomic).
 * The rendering adds process RSS and CPU seconds read from /proc.
 */
#ifndef QW_METRICS_H
#define QW_METRICS_H

#include <stdatomic.h>

struct metric {
    const char *name; /* e.g. "qw_submits_total" */
    const char *help; /* one line */
    int gauge;        /* 0 counter, 1 gauge */
    _Atomic long long value;
};

/* Registers `m` (borrowed for the life of the process). At most 64. */
void metrics_register(struct metric *m);

static inline void metric_add(struct metric *m, long long d) {
    atomic_fetch_add(&m->value, d);
}
static inline void metric_set(struct metric *m, long long v) {
    atomic_store(&m->value, v);
}

/* Renders every metric. Returns a malloc'd string the caller frees. */
char *metrics_render(const char *daemon);

/* Resident set size of this process in bytes (0 when unknown). */
long long metrics_rss_bytes(void);

#endif
