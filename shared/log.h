/*
 * log: the one logging entry point of every Quizwire daemon.
 *
 * One line per event on stderr: ISO-8601 UTC time, daemon name, level,
 * `event=<name>`, then key=value fields. The LOG_* macros test the level
 * before any formatting is done. Secrets (passwords, tokens, keys) are never
 * passed to this module.
 */
#ifndef QW_LOG_H
#define QW_LOG_H

#include <stdarg.h>

enum log_level { LOG_LEVEL_DEBUG = 0, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

extern int log_threshold; /* events below this level are dropped */

/* Names the daemon in every line; `name` must outlive the process (a literal). */
void log_init(const char *name, enum log_level threshold);

/* Parses "debug", "info", "warn" or "error"; returns -1 for anything else. */
int log_level_parse(const char *s);

/* Writes one line: `fmt` formats the key=value fields (may be "" or NULL). */
void log_event(enum log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define LOG_AT(lvl, event, ...)                                                                    \
    do {                                                                                           \
        if ((lvl) >= log_threshold) log_event((lvl), (event), __VA_ARGS__);                        \
    } while (0)
#define LOG_DEBUG(event, ...) LOG_AT(LOG_LEVEL_DEBUG, event, __VA_ARGS__)
#define LOG_INFO(event, ...) LOG_AT(LOG_LEVEL_INFO, event, __VA_ARGS__)
#define LOG_WARN(event, ...) LOG_AT(LOG_LEVEL_WARN, event, __VA_ARGS__)
#define LOG_ERROR(event, ...) LOG_AT(LOG_LEVEL_ERROR, event, __VA_ARGS__)

#endif
