/*
 * token_test: tokens verify only with the right key, untouched, before
 * their expiry; base64url round-trips and refuses what is not base64url.
 */
#include "check.h"
#include "token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char key[32] = "0123456789abcdef0123456789abcdef";
static const unsigned char other[32] = "0123456789abcdef0123456789abcdeX";

static void b64url_round_trip(void) {
    unsigned char in[256], back[256];
    char enc[400];
    for (int i = 0; i < 256; i++)
        in[i] = (unsigned char)(255 - i);
    for (size_t n = 0; n <= 40; n++) {
        long e = token_b64url_encode(in, n, enc, sizeof(enc));
        CHECK(e >= 0 && (size_t)e == strlen(enc));
        CHECK(strchr(enc, '=') == NULL && strchr(enc, '+') == NULL && strchr(enc, '/') == NULL);
        long d = token_b64url_decode(enc, (size_t)e, back, sizeof(back));
        CHECK(d == (long)n && memcmp(in, back, n) == 0);
    }
    CHECK(token_b64url_decode("ab=c", 4, back, sizeof(back)) == -1);
    CHECK(token_b64url_decode("abcde", 5, back, sizeof(back)) == -1);
    CHECK(token_b64url_decode("ab+/", 4, back, sizeof(back)) == -1);
    char small[4];
    CHECK(token_b64url_encode(in, 10, small, sizeof(small)) == -1);
}

static void signed_token_verifies(void) {
    json_t *c = json_pack("{s:s,s:s,s:I}", "k", "a", "u", "admin", "exp", (json_int_t)2000);
    char *t = token_sign(key, sizeof(key), c);
    CHECK(t != NULL);
    json_t *got = token_verify(key, sizeof(key), t, 1000);
    CHECK(got && json_equal(got, c));
    json_decref(got);
    free(t);
    json_decref(c);
}

static void expired_token_is_refused(void) {
    json_t *c = json_pack("{s:s,s:I}", "k", "a", "exp", (json_int_t)1000);
    char *t = token_sign(key, sizeof(key), c);
    json_t *before = token_verify(key, sizeof(key), t, 999);
    CHECK(before != NULL);
    json_decref(before);
    json_t *at = token_verify(key, sizeof(key), t, 1000);
    CHECK(at == NULL);
    CHECK(token_verify(key, sizeof(key), t, 5000) == NULL);
    json_decref(at);
    free(t);
    json_decref(c);
    /* no exp: refused at signing */
    json_t *noexp = json_pack("{s:s}", "k", "a");
    CHECK(token_sign(key, sizeof(key), noexp) == NULL);
    json_decref(noexp);
}

static void forged_or_tampered_token_is_refused(void) {
    json_t *c = json_pack("{s:s,s:s,s:I}", "k", "s", "sid", "abc", "exp", (json_int_t)2000);
    char *t = token_sign(key, sizeof(key), c);
    CHECK(token_verify(other, sizeof(other), t, 1000) == NULL);
    /* flip one character of the payload and of the signature */
    char *p = strdup(t);
    p[3] = p[3] == 'A' ? 'B' : 'A';
    CHECK(token_verify(key, sizeof(key), p, 1000) == NULL);
    strcpy(p, t);
    size_t n = strlen(p);
    p[n - 2] = p[n - 2] == 'A' ? 'B' : 'A';
    CHECK(token_verify(key, sizeof(key), p, 1000) == NULL);
    /* a payload re-signed with another key */
    char *forged = token_sign(other, sizeof(other), c);
    CHECK(token_verify(key, sizeof(key), forged, 1000) == NULL);
    /* junk */
    CHECK(token_verify(key, sizeof(key), "", 1000) == NULL);
    CHECK(token_verify(key, sizeof(key), "abc", 1000) == NULL);
    CHECK(token_verify(key, sizeof(key), "abc.def", 1000) == NULL);
    CHECK(token_verify(key, sizeof(key), NULL, 1000) == NULL);
    free(forged);
    free(p);
    free(t);
    json_decref(c);
}

int main(void) {
    b64url_round_trip();
    signed_token_verifies();
    expired_token_is_refused();
    forged_or_tampered_token_is_refused();
    return check_result("token_test");
}
