/*
 * image_cache: pictures kept by one gateway (see image_cache.h). A doubly
 * linked list in least-recently-used order holds the kept pictures and the
 * ones being fetched; a lookup walks it (a quiz has tens of pictures, and a
 * kept one moves to the front, so the walk is short). A picture is freed
 * when it has left the list and its last holder released it, so an
 * eviction never pulls bytes from under a reply being written. Ids found
 * missing sit in a small ring (the oldest overwritten), each until its
 * time is up.
 */
#include "image_cache.h"

#include "clock.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { BLOB_PENDING, BLOB_READY, BLOB_GONE };

#define MISS_SLOTS 256 /* ids remembered as missing */

struct miss {
    char id[65];
    long long until_ms; /* monotonic; 0 = free */
};

struct image_cache {
    pthread_mutex_t lock;
    pthread_cond_t done; /* a fetch finished */
    struct image_blob *head, *tail;
    size_t bytes, count, max_bytes;
    long long miss_ttl_ms;
    struct miss misses[MISS_SLOTS];
    unsigned next_miss; /* the ring's slot written next */
    image_fetch_fn fetch;
    void *ctx;
};

struct image_cache *image_cache_new(size_t max_bytes, long long miss_ttl_ms, image_fetch_fn fetch,
                                    void *ctx) {
    struct image_cache *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->done, NULL);
    c->max_bytes = max_bytes;
    c->miss_ttl_ms = miss_ttl_ms;
    c->fetch = fetch;
    c->ctx = ctx;
    return c;
}

static void blob_free(struct image_blob *b) {
    if (!b) return;
    free(b->bytes);
    free(b);
}

static void unlink_blob(struct image_cache *c, struct image_blob *b) {
    if (b->prev)
        b->prev->next = b->next;
    else
        c->head = b->next;
    if (b->next)
        b->next->prev = b->prev;
    else
        c->tail = b->prev;
    b->prev = b->next = NULL;
    if (b->state == BLOB_READY) c->bytes -= b->len;
    c->count--;
    b->state = BLOB_GONE;
}

static void push_front(struct image_cache *c, struct image_blob *b) {
    b->prev = NULL;
    b->next = c->head;
    if (c->head) c->head->prev = b;
    c->head = b;
    if (!c->tail) c->tail = b;
    c->count++;
}

/* Drops the least recently used kept pictures until the bound holds;
 * pictures being fetched stay. Under the lock. */
static void evict(struct image_cache *c) {
    struct image_blob *b = c->tail;
    while (c->bytes > c->max_bytes && b) {
        struct image_blob *prev = b->prev;
        if (b->state == BLOB_READY) {
            unlink_blob(c, b);
            if (b->refs == 0) blob_free(b);
        }
        b = prev;
    }
}

/* True when `id` was found missing less than miss_ttl_ms ago. Under the
 * lock. */
static int known_missing(struct image_cache *c, const char *id, long long now) {
    for (int i = 0; i < MISS_SLOTS; i++)
        if (c->misses[i].until_ms > now && strcmp(c->misses[i].id, id) == 0) return 1;
    return 0;
}

static void remember_missing(struct image_cache *c, const char *id, long long now) {
    struct miss *m = &c->misses[c->next_miss++ % MISS_SLOTS];
    snprintf(m->id, sizeof(m->id), "%s", id);
    m->until_ms = now + c->miss_ttl_ms;
}

void image_cache_free(struct image_cache *c) {
    if (!c) return;
    while (c->head) {
        struct image_blob *b = c->head;
        unlink_blob(c, b);
        if (b->refs == 0) blob_free(b);
    }
    pthread_cond_destroy(&c->done);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

enum image_fetch_result image_cache_get(struct image_cache *c, const char *id,
                                        struct image_blob **out, int *fetched) {
    enum image_fetch_result res;
    struct image_blob *b;
    *out = NULL;
    *fetched = 0;
    pthread_mutex_lock(&c->lock);
    for (b = c->head; b && strcmp(b->id, id) != 0; b = b->next)
        ;
    if (b) {
        b->refs++;
        while (b->state == BLOB_PENDING)
            pthread_cond_wait(&c->done, &c->lock);
        if (b->state == BLOB_READY) { /* the most recently used moves to the front */
            unlink_blob(c, b);
            b->state = BLOB_READY;
            c->bytes += b->len;
            push_front(c, b);
        }
        res = b->result;
        goto done;
    }
    if (known_missing(c, id, clock_mono_ms())) { /* nothing fetched, nothing held */
        pthread_mutex_unlock(&c->lock);
        return IMAGE_NOT_FOUND;
    }
    b = calloc(1, sizeof(*b));
    if (!b) {
        pthread_mutex_unlock(&c->lock);
        return IMAGE_UNAVAILABLE;
    }
    strncpy(b->id, id, sizeof(b->id) - 1);
    b->refs = 1;
    b->state = BLOB_PENDING;
    push_front(c, b);
    pthread_mutex_unlock(&c->lock);
    *fetched = 1;
    res = c->fetch(c->ctx, id, b); /* without the lock: the others wait on `done` */
    pthread_mutex_lock(&c->lock);
    b->result = (int)res;
    if (res == IMAGE_FOUND) {
        b->state = BLOB_READY;
        c->bytes += b->len;
        evict(c);
    } else { /* not kept: the next request asks again, or, when it was
              * not found, the first after miss_ttl_ms does */
        unlink_blob(c, b);
        if (res == IMAGE_NOT_FOUND) remember_missing(c, id, clock_mono_ms());
    }
    pthread_cond_broadcast(&c->done);
done:
    if (res == IMAGE_FOUND) {
        *out = b;
    } else if (--b->refs == 0 && b->state == BLOB_GONE) {
        blob_free(b);
    }
    pthread_mutex_unlock(&c->lock);
    return res;
}

void image_cache_release(struct image_cache *c, struct image_blob *b) {
    if (!b) return;
    pthread_mutex_lock(&c->lock);
    int last = --b->refs == 0 && b->state == BLOB_GONE;
    pthread_mutex_unlock(&c->lock);
    if (last) blob_free(b);
}

size_t image_cache_bytes(struct image_cache *c) {
    pthread_mutex_lock(&c->lock);
    size_t n = c->bytes;
    pthread_mutex_unlock(&c->lock);
    return n;
}

size_t image_cache_count(struct image_cache *c) {
    pthread_mutex_lock(&c->lock);
    size_t n = c->count;
    pthread_mutex_unlock(&c->lock);
    return n;
}
