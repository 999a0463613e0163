/*
 * shapes: the two-step join's shape sequence (see shapes.h). The one home
 * of the rule, used by the session daemon (what the console shows) and
 * the auth daemon (what a join must carry).
 */
#include "shapes.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

static const char *const names[4] = {"triangle", "diamond", "circle", "square"};

const char *shapes_name(int i) {
    return i >= 0 && i < 4 ? names[i] : "";
}

int shapes_at(const char *secret, long long window, int out[SHAPES_LEN]) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    char msg[48];
    int n = snprintf(msg, sizeof(msg), "two-step:%lld", window);
    if (!secret || !*secret || n < 0) return -1;
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg, (size_t)n, mac,
              &maclen) ||
        maclen < SHAPES_LEN)
        return -1;
    for (int i = 0; i < SHAPES_LEN; i++)
        out[i] = mac[i] & 3; /* two uniform bits of each byte */
    return 0;
}

int shapes_parse(const json_t *given, int out[SHAPES_LEN]) {
    if (!json_is_array(given) || json_array_size(given) != SHAPES_LEN) return -1;
    for (size_t i = 0; i < SHAPES_LEN; i++) {
        const char *s = json_string_value(json_array_get(given, i));
        out[i] = -1;
        for (int k = 0; s && k < 4; k++)
            if (strcmp(s, names[k]) == 0) out[i] = k;
        if (out[i] < 0) return -1;
    }
    return 0;
}

int shapes_match(const char *secret, const int given[SHAPES_LEN], long long now_ms) {
    long long w = now_ms / SHAPES_WINDOW_MS;
    unsigned char want[2][SHAPES_LEN], got[SHAPES_LEN];
    int s[SHAPES_LEN];
    for (int k = 0; k < 2; k++) {
        if (shapes_at(secret, w - k, s) != 0) return 0;
        for (int i = 0; i < SHAPES_LEN; i++)
            want[k][i] = (unsigned char)s[i];
    }
    for (int i = 0; i < SHAPES_LEN; i++)
        got[i] = (unsigned char)(given[i] & 0xff);
    int now = CRYPTO_memcmp(want[0], got, SHAPES_LEN) == 0;
    int before = CRYPTO_memcmp(want[1], got, SHAPES_LEN) == 0;
    return now | before;
}

json_t *shapes_json(const int s[SHAPES_LEN]) {
    json_t *a = json_array();
    for (int i = 0; a && i < SHAPES_LEN; i++)
        json_array_append_new(a, json_string(shapes_name(s[i])));
    return a;
}
