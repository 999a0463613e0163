/*
 * password: the instructor's password as a salted slow hash (yescrypt,
 * libxcrypt's crypt_r). The password itself is never stored or logged;
 * the comparison of hashes is constant-time.
 */
#include "auth.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int password_hash(const char *password, char *out, size_t n) {
    int rc = -1;
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    struct crypt_data *cd = calloc(1, sizeof(*cd)); /* ~32 KiB: not on the stack */
    if (!cd) return -1;
    if (!crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt))) goto cleanup;
    const char *h = crypt_r(password, salt, cd);
    if (!h || h[0] != '$' || strlen(h) >= n) goto cleanup;
    snprintf(out, n, "%s", h);
    rc = 0;
cleanup:
    explicit_bzero(cd, sizeof(*cd));
    free(cd);
    return rc;
}

int password_check(const char *password, const char *hash) {
    int rc = -1;
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    if (!cd) return -1;
    const char *h = crypt_r(password, hash, cd);
    /* crypt_r answers "*0"/"*1" for a bad setting: never equal to a hash */
    if (h && h[0] == '$' && strlen(h) == strlen(hash) && CRYPTO_memcmp(h, hash, strlen(hash)) == 0)
        rc = 0;
    explicit_bzero(cd, sizeof(*cd));
    free(cd);
    return rc;
}
