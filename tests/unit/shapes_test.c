/*
 * shapes_test: a two-step sequence is the same for one secret and window,
 * differs between secrets and windows, is accepted in its own window and
 * the next one only, and a client's sequence is read strictly.
 */
#include "check.h"
#include "shapes.h"

#include <string.h>

static const char secret[] = "0123456789abcdef0123456789abcdef";

static void same_window_same_sequence(void) {
    int a[SHAPES_LEN], b[SHAPES_LEN], c[SHAPES_LEN];
    CHECK(shapes_at(secret, 42, a) == 0);
    CHECK(shapes_at(secret, 42, b) == 0);
    CHECK(memcmp(a, b, sizeof(a)) == 0);
    for (int i = 0; i < SHAPES_LEN; i++)
        CHECK(a[i] >= 0 && a[i] <= 3);
    CHECK(shapes_at("", 42, c) == -1);
    CHECK(shapes_at(NULL, 42, c) == -1);
}

static void sequences_change(void) {
    int a[SHAPES_LEN], b[SHAPES_LEN];
    int differ_window = 0, differ_secret = 0;
    for (long long w = 0; w < 50; w++) {
        shapes_at(secret, w, a);
        shapes_at(secret, w + 1, b);
        differ_window += memcmp(a, b, sizeof(a)) != 0;
        shapes_at("another secret of the same kind", w, b);
        differ_secret += memcmp(a, b, sizeof(a)) != 0;
    }
    /* 4096 sequences: two equal ones in 50 draws are rare, never most */
    CHECK(differ_window >= 45);
    CHECK(differ_secret >= 45);
}

static void current_and_previous_window_match(void) {
    long long now = 1000LL * SHAPES_WINDOW_MS + 5;
    int cur[SHAPES_LEN], prev[SHAPES_LEN], old[SHAPES_LEN], next[SHAPES_LEN];
    shapes_at(secret, 1000, cur);
    shapes_at(secret, 999, prev);
    shapes_at(secret, 998, old);
    shapes_at(secret, 1001, next);
    CHECK(shapes_match(secret, cur, now) == 1);
    CHECK(shapes_match(secret, prev, now) == 1);
    CHECK(memcmp(old, cur, sizeof(old)) == 0 || memcmp(old, prev, sizeof(old)) == 0 ||
          shapes_match(secret, old, now) == 0);
    CHECK(memcmp(next, cur, sizeof(next)) == 0 || memcmp(next, prev, sizeof(next)) == 0 ||
          shapes_match(secret, next, now) == 0);
    int wrong[SHAPES_LEN];
    memcpy(wrong, cur, sizeof(wrong));
    wrong[SHAPES_LEN - 1] = (wrong[SHAPES_LEN - 1] + 1) % 4;
    CHECK(memcmp(wrong, prev, sizeof(wrong)) == 0 || shapes_match(secret, wrong, now) == 0);
}

static void parse_is_strict(void) {
    int s[SHAPES_LEN];
    json_t *ok =
        json_pack("[s,s,s,s,s,s]", "triangle", "diamond", "circle", "square", "circle", "triangle");
    CHECK(shapes_parse(ok, s) == 0);
    CHECK(s[0] == 0 && s[1] == 1 && s[2] == 2 && s[3] == 3 && s[4] == 2 && s[5] == 0);
    json_t *round = shapes_json(s);
    CHECK(json_equal(round, ok));
    json_t *bad[] = {
        json_pack("[s,s,s,s,s]", "triangle", "diamond", "circle", "square", "circle"),
        json_pack("[s,s,s,s,s,s,s]", "triangle", "diamond", "circle", "square", "circle", "square",
                  "square"),
        json_pack("[s,s,s,s,s,s]", "triangle", "diamond", "circle", "square", "circle", "Square"),
        json_pack("[s,s,s,s,s,i]", "triangle", "diamond", "circle", "square", "circle", 1),
        json_string("triangle"),
        NULL,
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK(shapes_parse(bad[i], s) == -1);
        json_decref(bad[i]);
    }
    json_decref(round);
    json_decref(ok);
}

int main(void) {
    same_window_same_sequence();
    sequences_change();
    current_and_previous_window_match();
    parse_is_strict();
    return check_result("shapes_test");
}
