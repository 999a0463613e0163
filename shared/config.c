/*
 * config: reads the setting table (config_table.c) from the environment.
 * Values are copied once at load; lookups afterwards are read-only, so any
 * thread may call config_str/config_int.
 */
#include "config.h"

#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

extern const struct config_def config_table[];

#define CONFIG_MAX 64
static const char *values[CONFIG_MAX]; /* parallel to config_table */
static long ints[CONFIG_MAX];

int config_parse_long(const char *s, long min, long max, long *out) {
    if (!s || !*s) return -1;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end != '\0' || v < min || v > max) return -1;
    *out = v;
    return 0;
}

char **config_list(const char *csv) {
    const char *s = csv ? csv : "";
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        if (*p == ',') cap++;
    char **list = calloc(cap + 1, sizeof(char *));
    if (!list) return NULL;
    size_t n = 0;
    for (const char *p = s; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *end = p;
        while (*end && *end != ',')
            end++;
        const char *e = end;
        while (e > p && e[-1] == ' ')
            e--;
        if (e > p && !(list[n++] = strndup(p, (size_t)(e - p)))) {
            config_list_free(list);
            return NULL;
        }
        p = end;
    }
    return list;
}

void config_list_free(char **list) {
    if (!list) return;
    for (char **p = list; *p; p++)
        free(*p);
    free(list);
}

static int find(const char *name) {
    for (int i = 0; config_table[i].name; i++)
        if (strcmp(config_table[i].name, name) == 0) return i;
    return -1;
}

int config_load(unsigned daemon) {
    for (int i = 0; config_table[i].name && i < CONFIG_MAX; i++) {
        const struct config_def *d = &config_table[i];
        if (!(d->daemons & daemon)) continue;
        const char *v = getenv(d->name);
        if (v && !*v && d->kind == CFG_INT) v = NULL;
        if (!v) v = d->def;
        free((void *)values[i]);
        values[i] = v ? strdup(v) : NULL;
        if (d->kind == CFG_INT) {
            if (config_parse_long(values[i], d->min, d->max, &ints[i]) != 0) {
                LOG_ERROR("config_invalid", "var=%s reason=\"not a whole number in %ld..%ld\"",
                          d->name, d->min, d->max);
                return -1;
            }
        }
    }
    return 0;
}

const char *config_str(const char *name) {
    int i = find(name);
    return i < 0 ? NULL : values[i];
}

long config_int(const char *name) {
    int i = find(name);
    return i < 0 ? 0 : ints[i];
}

static const char *daemon_list(unsigned m, char *buf, size_t n) {
    static const char *names[] = {"auth", "session", "scoring", "gateway", "migrate"};
    buf[0] = '\0';
    if ((m & CFG_ALL) == CFG_ALL) {
        snprintf(buf, n, "all");
        if (m & CFG_MIGRATE) strncat(buf, ", migrate", n - strlen(buf) - 1);
        return buf;
    }
    for (int b = 0; b < 5; b++) {
        if (!(m & (1u << b))) continue;
        if (buf[0]) strncat(buf, ", ", n - strlen(buf) - 1);
        strncat(buf, names[b], n - strlen(buf) - 1);
    }
    return buf;
}

void config_write_doc(FILE *out) {
    fprintf(out, "# Configuration\n\n"
                 "Every daemon takes its settings from environment variables. This table is\n"
                 "generated from `shared/config_table.c` by `qw-config-doc`; a test fails when\n"
                 "it differs from the code. A bad value stops the daemon at start with one log\n"
                 "line `event=config_invalid var=NAME`.\n\n"
                 "| variable | daemons | default | meaning |\n| --- | --- | --- | --- |\n");
    for (int i = 0; config_table[i].name; i++) {
        const struct config_def *d = &config_table[i];
        char who[96], range[64] = "";
        if (d->kind == CFG_INT) snprintf(range, sizeof(range), " (%ld..%ld)", d->min, d->max);
        char def[160];
        if (!d->def)
            snprintf(def, sizeof(def), "(unset)");
        else if (!*d->def)
            snprintf(def, sizeof(def), "(empty)");
        else
            snprintf(def, sizeof(def), "`%s`", d->def);
        fprintf(out, "| `%s` | %s | %s | %s%s |\n", d->name,
                daemon_list(d->daemons, who, sizeof(who)), def, d->help, range);
    }
}
