/*
 * image_cache: the pictures one gateway keeps in memory for GET /img/{id}.
 * A picture's id is the hash of its bytes, so a kept copy is never stale:
 * it is fetched once over NATS and kept until memory runs short (least
 * recently used dropped first, bounded by QW_IMAGE_CACHE_MB). Concurrent
 * misses of one id share one fetch: the first asks, the others wait for
 * its answer. An id found missing is remembered for a while, so a script
 * asking for it again and again costs no fetch. Any HTTP pool thread may
 * call it; one lock guards it.
 */
#ifndef QW_IMAGE_CACHE_H
#define QW_IMAGE_CACHE_H

#include <stddef.h>

struct image_cache;

/* One kept picture; read-only once handed out, valid until released. */
struct image_blob {
    char id[65];
    char mime[16];
    unsigned char *bytes;
    size_t len;
    int refs;                       /* under the cache's lock */
    int state;                      /* under the cache's lock: pending, ready, or gone */
    int result;                     /* of the fetch, for those who waited on it */
    struct image_blob *prev, *next; /* LRU list, most recent first */
};

/* What a fetch found. */
enum image_fetch_result { IMAGE_FOUND, IMAGE_NOT_FOUND, IMAGE_UNAVAILABLE };

/* Fetches picture `id` (its owner fills blob->mime, blob->bytes (malloc'd,
 * the blob owns them) and blob->len). Runs without the cache's lock. */
typedef enum image_fetch_result (*image_fetch_fn)(void *ctx, const char *id,
                                                  struct image_blob *blob);

/* A cache of at most max_bytes of pictures that remembers an id found
 * missing for miss_ttl_ms; NULL when out of memory. */
struct image_cache *image_cache_new(size_t max_bytes, long long miss_ttl_ms, image_fetch_fn fetch,
                                    void *ctx);

/* Frees the cache and every picture no one holds. Accepts NULL. Call it
 * after every user stopped. */
void image_cache_free(struct image_cache *c);

/* The picture `id` (a valid id): kept, or fetched now (once for all who ask
 * at the same time). Returns IMAGE_FOUND and *out (caller releases it with
 * image_cache_release), or what the fetch found (IMAGE_NOT_FOUND also,
 * without a fetch, for an id found missing less than miss_ttl_ms ago).
 * *fetched is set to 1 when this call made the fetch. */
enum image_fetch_result image_cache_get(struct image_cache *c, const char *id,
                                        struct image_blob **out, int *fetched);

/* Gives back a picture from image_cache_get. Accepts NULL. */
void image_cache_release(struct image_cache *c, struct image_blob *b);

/* Bytes and pictures kept now. */
size_t image_cache_bytes(struct image_cache *c);
size_t image_cache_count(struct image_cache *c);

#endif
