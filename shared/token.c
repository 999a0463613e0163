/*
 * token: HMAC-SHA256 signed tokens (see token.h). Pure functions over the
 * key they are given; OpenSSL's libcrypto does the hashing and the
 * constant-time compare.
 */
#include "token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

long token_b64url_encode(const unsigned char *in, size_t n, char *out, size_t outsz) {
    size_t need = (n / 3) * 4 + (n % 3 ? n % 3 + 1 : 0);
    if (outsz < need + 1) return -1;
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
        out[o++] = b64url[v >> 6 & 63];
        out[o++] = b64url[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
        out[o++] = b64url[v >> 6 & 63];
    }
    out[o] = '\0';
    return (long)o;
}

static int b64val(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

long token_b64url_decode(const char *in, size_t n, unsigned char *out, size_t outsz) {
    if (n % 4 == 1) return -1;
    size_t need = (n / 4) * 3 + (n % 4 ? n % 4 - 1 : 0);
    if (outsz < need) return -1;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val(in[i]);
        if (v < 0) return -1;
        acc = (acc << 6 | (unsigned)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits & 0xff);
        }
    }
    /* the leftover bits of a canonical encoding are zero */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return -1;
    return (long)o;
}

static int mac(const unsigned char *key, size_t keylen, const char *data, size_t n,
               unsigned char out[32]) {
    unsigned int len = 0;
    if (!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)data, n, out, &len)) return -1;
    return len == 32 ? 0 : -1;
}

char *token_sign(const unsigned char *key, size_t keylen, const json_t *claims) {
    char *token = NULL;
    char *text = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text || !json_is_integer(json_object_get(claims, "exp"))) goto cleanup;
    size_t n = strlen(text);
    size_t cap = n / 3 * 4 + 4 + 1 + 44 + 1;
    token = malloc(cap);
    if (!token) goto cleanup;
    long p = token_b64url_encode((const unsigned char *)text, n, token, cap);
    unsigned char sig[32];
    if (p < 0 || mac(key, keylen, token, (size_t)p, sig) != 0) goto fail;
    token[p] = '.';
    if (token_b64url_encode(sig, sizeof(sig), token + p + 1, cap - (size_t)p - 1) < 0) goto fail;
    goto cleanup;
fail:
    free(token);
    token = NULL;
cleanup:
    free(text);
    return token;
}

json_t *token_verify(const unsigned char *key, size_t keylen, const char *token, long long now_s) {
    json_t *claims = NULL;
    unsigned char *payload = NULL;
    if (!token) return NULL;
    size_t len = strnlen(token, TOKEN_MAX_LEN + 1);
    if (len == 0 || len > TOKEN_MAX_LEN) return NULL;
    const char *dot = memchr(token, '.', len);
    if (!dot) return NULL;
    size_t plen = (size_t)(dot - token);
    unsigned char given[33], want[32];
    if (token_b64url_decode(dot + 1, len - plen - 1, given, sizeof(given)) != 32) return NULL;
    if (mac(key, keylen, token, plen, want) != 0) return NULL;
    if (CRYPTO_memcmp(given, want, 32) != 0) return NULL;
    payload = malloc(plen + 1);
    if (!payload) return NULL;
    long n = token_b64url_decode(token, plen, payload, plen + 1);
    if (n <= 0) goto cleanup;
    claims = json_loadb((const char *)payload, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
    json_t *exp = json_object_get(claims, "exp");
    if (!json_is_object(claims) || !json_is_integer(exp) || json_integer_value(exp) <= now_s) {
        json_decref(claims);
        claims = NULL;
    }
cleanup:
    free(payload);
    return claims;
}
