/*
 * image_test: a picture's type comes from its content, never its name: a
 * real PNG, JPEG and WebP are read with their sizes; a PNG signature on
 * garbage, a broken checksum, a file cut short, a zero or absurd size and
 * text are refused; ids are the SHA-256 hex of the bytes.
 */
#include "check.h"
#include "image.h"

#include <stdlib.h>
#include <string.h>

/* a 1x1 RGBA PNG (IHDR, IDAT, IEND with their CRCs) */
static const unsigned char png1[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48,
    0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00,
    0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78,
    0x9c, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00,
    0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};

/* SOI, SOF0 of 300x200 with one component, SOS, two bytes of data, EOI */
static const unsigned char jpeg1[] = {0xff, 0xd8, 0xff, 0xc0, 0x00, 0x0b, 0x08, 0x00, 0xc8, 0x01,
                                      0x2c, 0x01, 0x01, 0x11, 0x00, 0xff, 0xda, 0x00, 0x08, 0x01,
                                      0x01, 0x00, 0x00, 0x3f, 0x00, 0x12, 0x34, 0xff, 0xd9};

/* RIFF/WEBP with a VP8L chunk of a 3x2 picture */
static const unsigned char webp1[] = {'R',  'I',  'F',  'F',  0x16, 0x00, 0x00, 0x00, 'W',  'E',
                                      'B',  'P',  'V',  'P',  '8',  'L',  0x0a, 0x00, 0x00, 0x00,
                                      0x2f, 0x02, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};

static void reads_real_pictures(void) {
    struct image_info info;
    CHECK(image_sniff(png1, sizeof(png1), &info) == 0);
    CHECK(info.mime && strcmp(info.mime, "image/png") == 0);
    CHECK(info.width == 1 && info.height == 1);
    CHECK(image_sniff(jpeg1, sizeof(jpeg1), &info) == 0);
    CHECK(info.mime && strcmp(info.mime, "image/jpeg") == 0);
    CHECK(info.width == 300 && info.height == 200);
    CHECK(image_sniff(webp1, sizeof(webp1), &info) == 0);
    CHECK(info.mime && strcmp(info.mime, "image/webp") == 0);
    CHECK(info.width == 3 && info.height == 2);
}

static void refuses_what_is_not_a_picture(void) {
    struct image_info info;
    unsigned char buf[256];
    const char *text = "hello, I am a text file named picture.png\n";
    CHECK(image_sniff((const unsigned char *)text, strlen(text), &info) == -1 && info.problem);
    CHECK(image_sniff(NULL, 0, &info) == -1);
    CHECK(image_sniff(png1, 0, &info) == -1);
    /* a PNG signature followed by garbage */
    memcpy(buf, png1, 8);
    for (int i = 8; i < 200; i++)
        buf[i] = (unsigned char)(i * 37);
    CHECK(image_sniff(buf, 200, &info) == -1);
    /* a PNG cut short, and one with a flipped bit in its header */
    CHECK(image_sniff(png1, sizeof(png1) - 12, &info) == -1);
    memcpy(buf, png1, sizeof(png1));
    buf[20] ^= 1;
    CHECK(image_sniff(buf, sizeof(png1), &info) == -1);
    /* the JPEG with no frame header, and cut before its data */
    CHECK(image_sniff(jpeg1, 12, &info) == -1);
    memcpy(buf, jpeg1, sizeof(jpeg1));
    buf[3] = 0xe0; /* the SOF0 becomes an APP0 */
    CHECK(image_sniff(buf, sizeof(jpeg1), &info) == -1);
    /* a WebP whose RIFF size is not the file's */
    CHECK(image_sniff(webp1, sizeof(webp1) - 1, &info) == -1);
}

static void refuses_absurd_sizes(void) {
    struct image_info info;
    unsigned char buf[sizeof(jpeg1)];
    memcpy(buf, jpeg1, sizeof(jpeg1));
    buf[7] = 0, buf[8] = 0; /* height 0 */
    CHECK(image_sniff(buf, sizeof(buf), &info) == -1);
    buf[7] = 0xff, buf[8] = 0xff, buf[9] = 0xff, buf[10] = 0xff; /* 65535 x 65535 */
    CHECK(image_sniff(buf, sizeof(buf), &info) == -1);
    buf[7] = 0x40, buf[8] = 0x00, buf[9] = 0x40, buf[10] = 0x00; /* 16384 x 16384: 268 Mpx */
    CHECK(image_sniff(buf, sizeof(buf), &info) == -1);
    buf[7] = 0x10, buf[8] = 0x00, buf[9] = 0x10, buf[10] = 0x00; /* 4096 x 4096 */
    CHECK(image_sniff(buf, sizeof(buf), &info) == 0 && info.width == 4096);
}

static void ids_are_sha256_hex(void) {
    char id[IMAGE_ID_LEN + 1];
    CHECK(image_id((const unsigned char *)"abc", 3, id) == 0);
    CHECK(strcmp(id, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
    CHECK(image_id_valid(id));
    CHECK(!image_id_valid(NULL));
    CHECK(!image_id_valid("ba7816bf"));
    id[3] = 'A';
    CHECK(!image_id_valid(id)); /* uppercase is another string, so not an id */
    CHECK(!image_id_valid("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0"));
    CHECK(image_mime_known("image/png") && image_mime_known("image/webp"));
    CHECK(!image_mime_known("image/svg+xml") && !image_mime_known(NULL));
}

static void base64_round_trips_and_bounds(void) {
    size_t n = 0;
    char *text = image_base64_encode(png1, sizeof(png1));
    CHECK(text != NULL);
    unsigned char *back = image_base64_decode(text, sizeof(png1), &n);
    CHECK(back && n == sizeof(png1) && memcmp(back, png1, n) == 0);
    free(back);
    CHECK(image_base64_decode(text, sizeof(png1) - 1, &n) == NULL); /* over the bound */
    free(text);
    back = image_base64_decode("YWI=", 10, &n);
    CHECK(back && n == 2 && memcmp(back, "ab", 2) == 0);
    free(back);
    CHECK(image_base64_decode("YW=I", 10, &n) == NULL); /* padding inside */
    CHECK(image_base64_decode("YWI", 10, &n) == NULL);  /* not a multiple of 4 */
    CHECK(image_base64_decode("YW!I", 10, &n) == NULL); /* not the alphabet */
    CHECK(image_base64_decode("", 10, &n) == NULL);
    CHECK(image_base64_decode(NULL, 10, &n) == NULL);
}

int main(void) {
    base64_round_trips_and_bounds();
    reads_real_pictures();
    refuses_what_is_not_a_picture();
    refuses_absurd_sizes();
    ids_are_sha256_hex();
    return check_result("image_test");
}
