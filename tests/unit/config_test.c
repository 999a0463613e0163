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

static void doc_lists_every_setting(void) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    config_write_doc(f);
    fclose(f);
    CHECK(strstr(buf, "| `QW_HTTP_PORT` | gateway | `8080` |") != NULL);
    CHECK(strstr(buf, "| `QUIZ_POOL_PATH` | session | (unset) |") != NULL);
    free(buf);
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
