/*
 * image_cache_test: the gateway's picture cache fetches a picture once
 * while it is kept, even when many threads miss it at the same moment; a
 * picture that was not found is not kept, but its id is answered 404
 * without a fetch until its time is up; the least recently used picture
 * is dropped first when the bound is reached, and one still held by a
 * reply stays readable until released (ASan checks the frees).
 */
#include "check.h"
#include "image_cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static atomic_int fetches;

/* Pictures "a..." exist with 60 bytes each; anything else is not found.
 * Each fetch takes 100 ms, so concurrent misses overlap it. */
static enum image_fetch_result fake_fetch(void *ctx, const char *id, struct image_blob *b) {
    (void)ctx;
    atomic_fetch_add(&fetches, 1);
    nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    if (id[0] != 'a') return IMAGE_NOT_FOUND;
    b->bytes = malloc(60);
    memset(b->bytes, id[1], 60);
    b->len = 60;
    strcpy(b->mime, "image/png");
    return IMAGE_FOUND;
}

struct asker {
    struct image_cache *c;
    enum image_fetch_result res;
    struct image_blob *blob;
};

static void *ask(void *arg) {
    struct asker *a = arg;
    int fetched;
    a->res = image_cache_get(a->c, "a1", &a->blob, &fetched);
    return NULL;
}

static void concurrent_misses_share_one_fetch(void) {
    struct image_cache *c = image_cache_new(1000, 10000, fake_fetch, NULL);
    struct asker askers[8];
    pthread_t t[8];
    atomic_store(&fetches, 0);
    for (int i = 0; i < 8; i++) {
        askers[i] = (struct asker){c, IMAGE_UNAVAILABLE, NULL};
        pthread_create(&t[i], NULL, ask, &askers[i]);
    }
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    CHECK(atomic_load(&fetches) == 1);
    for (int i = 0; i < 8; i++) {
        CHECK(askers[i].res == IMAGE_FOUND);
        CHECK(askers[i].blob == askers[0].blob);
        image_cache_release(c, askers[i].blob);
    }
    int fetched = 1;
    struct image_blob *b = NULL;
    CHECK(image_cache_get(c, "a1", &b, &fetched) == IMAGE_FOUND && fetched == 0);
    CHECK(b && b->len == 60 && b->bytes[0] == '1' && strcmp(b->mime, "image/png") == 0);
    image_cache_release(c, b);
    CHECK(atomic_load(&fetches) == 1);
    image_cache_free(c);
}

static void not_found_is_not_kept_but_remembered(void) {
    struct image_cache *c = image_cache_new(1000, 300, fake_fetch, NULL);
    struct image_blob *b = NULL;
    int fetched = 0;
    atomic_store(&fetches, 0);
    CHECK(image_cache_get(c, "zz", &b, &fetched) == IMAGE_NOT_FOUND && b == NULL && fetched);
    CHECK(image_cache_get(c, "zz", &b, &fetched) == IMAGE_NOT_FOUND && b == NULL && !fetched);
    CHECK(image_cache_get(c, "zy", &b, &fetched) == IMAGE_NOT_FOUND && fetched);
    CHECK(atomic_load(&fetches) == 2);
    CHECK(image_cache_count(c) == 0 && image_cache_bytes(c) == 0);
    nanosleep(&(struct timespec){0, 350 * 1000 * 1000}, NULL); /* past miss_ttl_ms */
    CHECK(image_cache_get(c, "zz", &b, &fetched) == IMAGE_NOT_FOUND && fetched);
    CHECK(atomic_load(&fetches) == 3);
    image_cache_free(c);
}

static void least_recently_used_goes_first(void) {
    struct image_cache *c = image_cache_new(130, 10000, fake_fetch, NULL); /* room for two */
    struct image_blob *a1, *a2, *a3, *held;
    int fetched;
    atomic_store(&fetches, 0);
    image_cache_get(c, "a1", &a1, &fetched);
    image_cache_get(c, "a2", &a2, &fetched);
    image_cache_release(c, a2);
    image_cache_release(c, a1);
    image_cache_get(c, "a1", &held, &fetched); /* a1 is now the most recent, and held */
    CHECK(!fetched);
    image_cache_get(c, "a3", &a3, &fetched); /* a2 goes */
    image_cache_release(c, a3);
    CHECK(image_cache_count(c) == 2 && image_cache_bytes(c) == 120);
    image_cache_get(c, "a2", &a2, &fetched); /* fetched again; a1 goes, though held */
    CHECK(fetched);
    image_cache_release(c, a2);
    CHECK(held->bytes[59] == '1'); /* still readable */
    image_cache_release(c, held);
    CHECK(image_cache_count(c) == 2);
    CHECK(atomic_load(&fetches) == 4);
    image_cache_free(c);
}

int main(void) {
    concurrent_misses_share_one_fetch();
    not_found_is_not_kept_but_remembered();
    least_recently_used_goes_first();
    return check_result("image_cache_test");
}
