/*
 * token: signed, expiring tokens for instructors and students.
 *
 * A token is base64url(claims JSON) "." base64url(HMAC-SHA256(key, first
 * part)). The claims carry "exp" (seconds since the epoch). Verification
 * compares signatures in constant time and checks expiry; what the claims
 * mean (kind, login, session, epoch) is the auth daemon's business. This
 * module never logs and never sees a password.
 */
#ifndef QW_TOKEN_H
#define QW_TOKEN_H

#include <jansson.h>
#include <stddef.h>

#define TOKEN_MAX_LEN 4096 /* longer tokens are refused unread */

/* Signs `claims` (borrowed; must hold an integer "exp") with `key`.
 * Returns a malloc'd NUL-terminated token the caller frees, or NULL. */
char *token_sign(const unsigned char *key, size_t keylen, const json_t *claims);

/* Checks the signature of `token` and that its "exp" is after `now_s`.
 * Returns the claims (a new reference the caller owns) or NULL for a
 * malformed, forged, tampered or expired token. */
json_t *token_verify(const unsigned char *key, size_t keylen, const char *token, long long now_s);

/* base64url without padding. Encode writes at most outsz bytes including
 * the NUL and returns the length, or -1 when out is too small. Decode
 * returns the decoded length, or -1 on a bad character, a bad length or
 * too small an `out`. */
long token_b64url_encode(const unsigned char *in, size_t n, char *out, size_t outsz);
long token_b64url_decode(const char *in, size_t n, unsigned char *out, size_t outsz);

#endif
