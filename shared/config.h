/*
 * config: every setting of every Quizwire daemon, in one table.
 *
 * Each row names an environment variable, the daemons that read it, its
 * default, its bounds and one line of help. The same table reads the
 * environment at start-up and prints docs/CONFIG.md (qw-config-doc), so the
 * document cannot drift from the code. A bad value stops the daemon with one
 * log line naming the variable; nothing here ever aborts on its own.
 */
#ifndef QW_CONFIG_H
#define QW_CONFIG_H

#include <stdio.h>

/* Which daemons read a setting (bitmask). */
enum config_daemon {
    CFG_AUTH = 1 << 0,
    CFG_SESSION = 1 << 1,
    CFG_SCORING = 1 << 2,
    CFG_GATEWAY = 1 << 3,
    CFG_MIGRATE = 1 << 4,
    CFG_ALL = CFG_AUTH | CFG_SESSION | CFG_SCORING | CFG_GATEWAY,
};

enum config_kind { CFG_STR, CFG_INT, CFG_SECRET };

struct config_def {
    const char *name; /* environment variable */
    unsigned daemons; /* bitmask of enum config_daemon */
    enum config_kind kind;
    const char *def;  /* default as text; NULL means unset */
    long min, max;    /* bounds for CFG_INT */
    const char *help; /* one line for docs/CONFIG.md */
};

/* Reads every setting of `daemon` from the environment and checks it.
 * Returns 0, or -1 after logging `event=config_invalid var=NAME`. */
int config_load(unsigned daemon);

/* The value of a setting as text, or NULL when unset with no default.
 * The pointer stays valid for the life of the process. */
const char *config_str(const char *name);

/* The value of a CFG_INT setting (checked by config_load). */
long config_int(const char *name);

/* Writes the Markdown table of all settings to `out`. */
void config_write_doc(FILE *out);

/* Splits a comma separated setting into a NULL-terminated array of
 * trimmed, non-empty strings (an empty array for NULL or ""). The caller
 * frees it with config_list_free(). Returns NULL only when out of memory. */
char **config_list(const char *csv);
void config_list_free(char **list); /* accepts NULL */

/* Parses a whole decimal number in [min,max]; returns 0 or -1. */
int config_parse_long(const char *s, long min, long max, long *out);

#endif
