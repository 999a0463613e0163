/*
 * image: type, size and id of a picture from its bytes (see image.h). Each
 * format has one reader that walks just enough of the structure to be sure
 * of what it is: PNG every chunk and its CRC up to IEND, JPEG the marker
 * segments up to the start of scan (a frame header before it), WebP the
 * RIFF container and its first image chunk. Nothing is decoded further.
 */
#include "image.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static unsigned be16(const unsigned char *p) {
    return (unsigned)p[0] << 8 | p[1];
}
static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}
static uint32_t le24(const unsigned char *p) {
    return (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* CRC-32 as PNG computes it (ISO 3309, reflected 0xedb88320). */
static uint32_t crc32_of(const unsigned char *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return c ^ 0xffffffffu;
}

static int refuse(struct image_info *out, const char *why) {
    out->problem = why;
    return -1;
}

static int set_size(struct image_info *out, uint32_t w, uint32_t h) {
    if (w == 0 || h == 0) return refuse(out, "the picture's width or height is 0");
    if (w > IMAGE_MAX_SIDE || h > IMAGE_MAX_SIDE || (long)w * (long)h > IMAGE_MAX_PIXELS)
        return refuse(out, "the picture is too large in pixels (at most 16384 a side, 40 "
                           "megapixels)");
    out->width = w;
    out->height = h;
    return 0;
}

/* PNG: signature, IHDR first, then every chunk whole with a right CRC, at
 * least one IDAT, ending with IEND. */
static int read_png(const unsigned char *p, size_t n, struct image_info *out) {
    size_t at = 8;
    int chunks = 0, idat = 0;
    out->mime = "image/png";
    while (at + 12 <= n) {
        uint32_t len = be32(p + at);
        const unsigned char *type = p + at + 4;
        if (len > n - at - 12) return refuse(out, "a PNG chunk runs past the end of the file");
        if (crc32_of(type, 4 + (size_t)len) != be32(type + 4 + len))
            return refuse(out, "a PNG chunk has a wrong checksum");
        if (chunks == 0) {
            if (memcmp(type, "IHDR", 4) != 0 || len != 13)
                return refuse(out, "a PNG must start with its IHDR header");
            const unsigned char *h = type + 4;
            unsigned depth = h[8], color = h[9];
            int ok = (color == 0 &&
                      (depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16)) ||
                     (color == 3 && (depth == 1 || depth == 2 || depth == 4 || depth == 8)) ||
                     ((color == 2 || color == 4 || color == 6) && (depth == 8 || depth == 16));
            if (!ok || h[10] != 0 || h[11] != 0 || h[12] > 1)
                return refuse(out, "the PNG header has an impossible format");
            if (set_size(out, be32(h), be32(h + 4)) != 0) return -1;
        }
        chunks++;
        if (memcmp(type, "IDAT", 4) == 0) idat = 1;
        at += 12 + (size_t)len;
        if (memcmp(type, "IEND", 4) == 0) {
            if (!idat) return refuse(out, "the PNG has no image data");
            return 0;
        }
    }
    return refuse(out, "the PNG is cut short (no IEND chunk)");
}

/* JPEG: SOI, then marker segments, each whole; a frame header (SOFn) with
 * the size must come before the start of scan. */
static int read_jpeg(const unsigned char *p, size_t n, struct image_info *out) {
    size_t at = 2;
    int frame = 0;
    out->mime = "image/jpeg";
    while (at + 4 <= n) {
        if (p[at] != 0xff) return refuse(out, "the JPEG has a broken marker");
        unsigned m = p[at + 1];
        if (m == 0xff) { /* fill byte */
            at++;
            continue;
        }
        if (m == 0x01 || (m >= 0xd0 && m <= 0xd7)) { /* markers without a length */
            at += 2;
            continue;
        }
        if (m == 0xd8 || m == 0xd9 || m == 0x00)
            return refuse(out, "the JPEG ends or restarts before its image data");
        unsigned len = be16(p + at + 2);
        if (len < 2 || len > n - at - 2)
            return refuse(out, "a JPEG segment runs past the end of the file");
        int sof = m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc;
        if (sof) {
            if (len < 8) return refuse(out, "the JPEG frame header is too short");
            if (set_size(out, be16(p + at + 7), be16(p + at + 5)) != 0) return -1;
            frame = 1;
        }
        if (m == 0xda) {
            if (!frame) return refuse(out, "the JPEG has no frame header before its image data");
            if (at + 2 + len >= n) return refuse(out, "the JPEG has no image data");
            return 0;
        }
        at += 2 + len;
    }
    return refuse(out, "the JPEG is cut short (no image data)");
}

/* WebP: a RIFF container whose size is the file's, its chunks whole, and
 * the first image chunk (VP8, VP8L, or VP8X's canvas) giving the size. */
static int read_webp(const unsigned char *p, size_t n, struct image_info *out) {
    out->mime = "image/webp";
    uint32_t riff = le32(p + 4);
    if (riff < 4 || (size_t)riff + 8 != n) return refuse(out, "the WebP size field is wrong");
    size_t at = 12;
    while (at + 8 <= n) {
        const unsigned char *type = p + at, *d = p + at + 8;
        uint32_t len = le32(p + at + 4);
        if (len > n - at - 8) return refuse(out, "a WebP chunk runs past the end of the file");
        if (memcmp(type, "VP8 ", 4) == 0) {
            if (len < 10 || d[3] != 0x9d || d[4] != 0x01 || d[5] != 0x2a)
                return refuse(out, "the WebP (VP8) frame header is broken");
            return set_size(out, (d[6] | (unsigned)d[7] << 8) & 0x3fff,
                            (d[8] | (unsigned)d[9] << 8) & 0x3fff);
        }
        if (memcmp(type, "VP8L", 4) == 0) {
            if (len < 5 || d[0] != 0x2f) return refuse(out, "the WebP (VP8L) header is broken");
            uint32_t bits = le32(d + 1);
            return set_size(out, (bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1);
        }
        if (memcmp(type, "VP8X", 4) == 0) {
            if (len < 10) return refuse(out, "the WebP (VP8X) header is too short");
            return set_size(out, le24(d + 4) + 1, le24(d + 7) + 1);
        }
        at += 8 + (size_t)len + (len & 1u);
    }
    return refuse(out, "the WebP has no image chunk");
}

int image_sniff(const unsigned char *p, size_t n, struct image_info *out) {
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memset(out, 0, sizeof(*out));
    if (!p) return refuse(out, "the picture is empty");
    if (n >= 8 && memcmp(p, png, 8) == 0) return read_png(p, n, out);
    if (n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) return read_jpeg(p, n, out);
    if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
        return read_webp(p, n, out);
    return refuse(out, "the body is not a PNG, JPEG or WebP picture");
}

int image_id(const unsigned char *p, size_t n, char *out) {
    static const char hex[] = "0123456789abcdef";
    unsigned char md[SHA256_DIGEST_LENGTH];
    if (!SHA256(p ? p : (const unsigned char *)"", n, md)) return -1;
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[IMAGE_ID_LEN] = '\0';
    return 0;
}

int image_id_valid(const char *s) {
    if (!s) return 0;
    for (int i = 0; i < IMAGE_ID_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return s[IMAGE_ID_LEN] == '\0';
}

int image_mime_known(const char *mime) {
    return mime && (strcmp(mime, "image/png") == 0 || strcmp(mime, "image/jpeg") == 0 ||
                    strcmp(mime, "image/webp") == 0);
}

char *image_base64_encode(const unsigned char *p, size_t n) {
    if (n > (size_t)INT32_MAX / 2) return NULL;
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    if (out) EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    return out;
}

unsigned char *image_base64_decode(const char *s, size_t max_len, size_t *out_len) {
    size_t len = s ? strlen(s) : 0;
    *out_len = 0;
    if (len == 0 || len % 4 != 0 || len / 4 * 3 > max_len + 2) return NULL;
    unsigned char *out = malloc(len / 4 * 3 + 1);
    if (!out) return NULL;
    /* EVP_DecodeBlock counts the padding as zero bytes and takes no '=' in
     * the middle only loosely: the padding is counted here, and checked */
    size_t pad = (s[len - 1] == '=') + (s[len - 2] == '=');
    int n = EVP_DecodeBlock(out, (const unsigned char *)s, (int)len);
    if (n < 0 || (size_t)n < pad || memchr(s, '=', len - pad) || (size_t)n - pad > max_len) {
        free(out);
        return NULL;
    }
    *out_len = (size_t)n - pad;
    return out;
}
