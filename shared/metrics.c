/*
 * metrics: the registry and the Prometheus text renderer (see metrics.h).
 */
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define METRICS_MAX 64
static struct metric *registry[METRICS_MAX];
static _Atomic int registered;

void metrics_register(struct metric *m) {
    int i = atomic_fetch_add(&registered, 1);
    if (i < METRICS_MAX) registry[i] = m;
}

long long metrics_rss_bytes(void) {
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
    fclose(f);
    return (long long)rss * sysconf(_SC_PAGESIZE);
}

char *metrics_render(const char *daemon) {
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    if (!out) return NULL;
    int n = atomic_load(&registered);
    if (n > METRICS_MAX) n = METRICS_MAX;
    for (int i = 0; i < n; i++) {
        struct metric *m = registry[i];
        fprintf(out, "# HELP %s %s\n# TYPE %s %s\n%s{daemon=\"%s\"} %lld\n", m->name, m->help,
                m->name, m->gauge ? "gauge" : "counter", m->name, daemon,
                (long long)atomic_load(&m->value));
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    fprintf(out,
            "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
            "# TYPE process_resident_memory_bytes gauge\n"
            "process_resident_memory_bytes{daemon=\"%s\"} %lld\n"
            "# HELP process_cpu_seconds_total User and system CPU time spent in seconds.\n"
            "# TYPE process_cpu_seconds_total counter\n"
            "process_cpu_seconds_total{daemon=\"%s\"} %.3f\n",
            daemon, metrics_rss_bytes(), daemon, cpu);
    fclose(out);
    return buf;
}
