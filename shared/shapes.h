/*
 * shapes: the two-step join's sequence of answer shapes.
 *
 * A session with two-step join shows on the projector a short sequence of
 * the four answer shapes that changes every SHAPES_WINDOW_MS; a join must
 * carry it. The sequence is HMAC-SHA256(session secret, window number), so
 * only who holds the secret (the session and auth daemons, never a
 * student) can compute it, and it cannot be predicted from earlier ones.
 * Pure functions; OpenSSL does the hashing and the constant-time compare.
 */
#ifndef QW_SHAPES_H
#define QW_SHAPES_H

#include <jansson.h>

#define SHAPES_LEN 6           /* 4^6 = 4096 sequences */
#define SHAPES_WINDOW_MS 20000 /* a sequence is shown this long */

/* The sequence of window `window` (now_ms / SHAPES_WINDOW_MS) under
 * `secret` into out[0..SHAPES_LEN-1], each 0..3 (triangle, diamond,
 * circle, square: the shapes of answers A..D). Returns 0 or -1. */
int shapes_at(const char *secret, long long window, int out[SHAPES_LEN]);

/* Reads a client's sequence: a JSON array (borrowed) of exactly
 * SHAPES_LEN shape names. Returns 0 and fills out, or -1. */
int shapes_parse(const json_t *given, int out[SHAPES_LEN]);

/* True (1) when `given` is the sequence of the window of now_ms or of the
 * window before it (typing takes time); 0 otherwise. Both are compared in
 * full, in constant time. */
int shapes_match(const char *secret, const int given[SHAPES_LEN], long long now_ms);

/* The sequence as a new JSON array of names (caller owns it). */
json_t *shapes_json(const int s[SHAPES_LEN]);

/* The name of shape i (0..3), e.g. "triangle". */
const char *shapes_name(int i);

#endif
