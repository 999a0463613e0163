/*
 * image: what a question's picture IS, as pure functions: its type read
 * from its content (PNG, JPEG or WebP: magic bytes plus a walk of the
 * structure, so a PNG signature on garbage is refused), its width and
 * height from the header (absurd sizes refused), and its id, the SHA-256
 * of its bytes in lowercase hex (content-addressed: the same bytes are the
 * same picture, and a stored picture never changes). Never trusts a file
 * name or a Content-Type; does no I/O. tests/unit/image_test.c.
 */
#ifndef QW_IMAGE_H
#define QW_IMAGE_H

#include <stddef.h>

#define IMAGE_ID_LEN 64            /* hex digits of an id */
#define IMAGE_MAX_SIDE 16384       /* widest and tallest picture taken, px */
#define IMAGE_MAX_PIXELS 40000000L /* most pixels: a browser decodes them all */

struct image_info {
    const char *mime;    /* "image/png", "image/jpeg", "image/webp" (static) */
    unsigned width;      /* px, 1..IMAGE_MAX_SIDE */
    unsigned height;     /* px, 1..IMAGE_MAX_SIDE */
    const char *problem; /* on refusal: why, one static sentence */
};

/* Reads the type and size of the n bytes at p. Returns 0 and fills *out,
 * or -1 with out->problem set when they are no PNG, JPEG or WebP, are cut
 * short or malformed, or the size is 0 or absurd. */
int image_sniff(const unsigned char *p, size_t n, struct image_info *out);

/* The id of the n bytes at p into out (IMAGE_ID_LEN + 1 bytes). Returns 0,
 * or -1 when hashing failed. */
int image_id(const unsigned char *p, size_t n, char *out);

/* True when s (NULL allowed) has the form of an id: 64 lowercase hex. */
int image_id_valid(const char *s);

/* True when mime (NULL allowed) is one of the three types taken. */
int image_mime_known(const char *mime);

/* Base64 (standard alphabet, padded; how a picture crosses NATS inside
 * JSON). Encode returns a NUL-terminated string, decode the bytes with
 * their count in *out_len (or NULL when s is not base64, or s is longer
 * than max_len bytes once decoded); the caller frees either. */
char *image_base64_encode(const unsigned char *p, size_t n);
unsigned char *image_base64_decode(const char *s, size_t max_len, size_t *out_len);

#endif
