/*
 * log: formats one event line and writes it with a single write(2) so that
 * lines from different threads never interleave. Owns nothing but the
 * daemon name pointer handed to log_init().
 */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int log_threshold = LOG_LEVEL_INFO;
static const char *log_name = "quizwire";
static const char *level_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *name, enum log_level threshold) {
    log_name = name;
    log_threshold = threshold;
}

int log_level_parse(const char *s) {
    for (int i = 0; i < 4; i++)
        if (s && strcasecmp(s, level_names[i]) == 0) return i;
    return -1;
}

void log_event(enum log_level level, const char *event, const char *fmt, ...) {
    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s event=%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (long)(tv.tv_usec / 1000), log_name,
                     level_names[level < 0 || level > 3 ? 1 : level], event);
    if (n < 0) return;
    if ((size_t)n >= sizeof(line) - 2) n = (int)sizeof(line) - 2;
    if (fmt && *fmt && (size_t)n < sizeof(line) - 3) {
        line[n++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
        va_end(ap);
        if (m > 0) n += m;
        if ((size_t)n > sizeof(line) - 2) n = (int)sizeof(line) - 2;
    }
    /* A field value must never break the one-line-per-event rule. */
    for (int i = 0; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r') line[i] = ' ';
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}
