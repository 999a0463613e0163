/*
 * config_test: the settings table reads, checks and documents settings.
 */
#include "check.h"
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void parse_long_bounds(void) {
    long v = 0;
    CHECK(config_parse_long("8080", 1, 65535, &v) == 0 && v == 8080);
    CHECK(config_parse_long("0", 1, 65535, &v) == -1);
    CHECK(config_parse_long("65536", 1, 65535, &v) == -1);
    CHECK(config_parse_long("80x", 1, 65535, &v) == -1);
    CHECK(config_parse_long("", 1, 65535, &v) == -1);
    CHECK(config_parse_long(NULL, 1, 65535, &v) == -1);
    CHECK(config_parse_long("99999999999999999999", 0, 10, &v) == -1);
}

static void load_defaults_and_overrides(void) {
    setenv("QW_HTTP_PORT", "8181", 1);
    unsetenv("QW_HTTP_THREADS");
    CHECK(config_load(CFG_GATEWAY) == 0);
    CHECK(config_int("QW_HTTP_PORT") == 8181);
    CHECK(config_int("QW_HTTP_THREADS") == 8);
    CHECK(strcmp(config_str("QW_NATS_URL"), "nats://127.0.0.1:4222") == 0);
}

static void rejects_bad_number(void) {
    setenv("QW_HTTP_PORT", "eighty", 1);
    CHECK(config_load(CFG_GATEWAY) == -1);
    setenv("QW_HTTP_PORT", "8080", 1);
}

extern const struct config_def config_table[];

/* Every row of the table: help text, a default within its bounds, and its
 * generated line both in the generated doc and, to the letter, in the
 * checked-in docs/CONFIG.md, which has no row the table lacks. */
static void doc_lists_every_setting(void) {
    char *buf = NULL, *checked_in = NULL;
    size_t len = 0, cilen = 0;
    FILE *f = open_memstream(&buf, &len);
    config_write_doc(f);
    fclose(f);
    FILE *ci = fopen(QW_SOURCE_DIR "/docs/CONFIG.md", "r");
    CHECK(ci != NULL);
    if (ci) {
        char chunk[4096];
        size_t n;
        FILE *m = open_memstream(&checked_in, &cilen);
        while ((n = fread(chunk, 1, sizeof(chunk), ci)) > 0)
            fwrite(chunk, 1, n, m);
        fclose(m);
        fclose(ci);
    }
    int rows = 0;
    for (const struct config_def *d = config_table; d->name; d++, rows++) {
        char head[96];
        snprintf(head, sizeof(head), "\n| `%s` |", d->name);
        const char *at = strstr(buf, head);
        CHECK(at != NULL);
        CHECK(d->help && strlen(d->help) > 10);
        if (d->kind == CFG_INT) {
            long v = 0;
            CHECK(d->def && config_parse_long(d->def, d->min, d->max, &v) == 0);
        }
        if (!at) continue;
        const char *end = strchr(at + 1, '\n');
        size_t linelen = end ? (size_t)(end - at) + 1 : strlen(at);
        char *line = strndup(at, linelen); /* "\n| `NAME` | ... |\n" */
        if (!strstr(line, d->help)) fprintf(stderr, "help of %s not in its row\n", d->name);
        CHECK(line && strstr(line, d->help) != NULL);
        if (checked_in && line && !strstr(checked_in, line))
            fprintf(stderr, "docs/CONFIG.md lacks or differs for %s: run make config-doc\n",
                    d->name);
        CHECK(checked_in && line && strstr(checked_in, line) != NULL);
        free(line);
    }
    int documented = 0;
    for (const char *p = checked_in; p && (p = strstr(p, "\n| `")); p++)
        documented++;
    CHECK(rows > 20 && documented == rows);
    CHECK(strstr(buf, "| `QW_HTTP_PORT` | gateway | `8080` |") != NULL);
    CHECK(strstr(buf, "| `QUIZ_POOL_PATH` | session | (unset) |") != NULL);
    free(buf);
    free(checked_in);
}

static void splits_lists(void) {
    char **l = config_list(" a, b ,,c ,");
    CHECK(l && l[0] && strcmp(l[0], "a") == 0);
    CHECK(l && l[1] && strcmp(l[1], "b") == 0);
    CHECK(l && l[2] && strcmp(l[2], "c") == 0);
    CHECK(l && l[3] == NULL);
    config_list_free(l);
    char **empty = config_list(NULL);
    CHECK(empty && empty[0] == NULL);
    config_list_free(empty);
    config_list_free(NULL);
}

int main(void) {
    parse_long_bounds();
    load_defaults_and_overrides();
    rejects_bad_number();
    doc_lists_every_setting();
    splits_lists();
    return check_result("config_test");
}
