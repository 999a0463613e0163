/*
 * req_table_test: the gateway's table of requests in flight. A reply finds
 * its request by id once (a second reply or an unknown id finds nothing);
 * deadlines come out earliest first and only when due; a socket that goes
 * away lets go of its own requests only, which stay awaited; the table
 * keeps all of this true while it grows.
 */
#include "check.h"
#include "req_table.h"

#include <stdint.h>
#include <stdlib.h>

#define MANY 5000

static struct req_entry *entry(struct req_table *t, int64_t deadline_ms) {
    struct req_entry *e = calloc(1, sizeof(*e));
    if (!e) abort();
    e->id = req_table_new_id(t);
    e->deadline_ms = deadline_ms;
    return e;
}

static void a_reply_takes_its_request_once(void) {
    struct req_table t;
    CHECK(req_table_init(&t) == 0);
    struct req_entry *a = entry(&t, 100), *b = entry(&t, 200);
    CHECK(a->id != 0 && b->id != a->id);
    req_table_add(&t, a, NULL);
    req_table_add(&t, b, NULL);
    CHECK(t.count == 2);
    CHECK(req_table_take(&t, b->id) == b);
    CHECK(req_table_take(&t, b->id) == NULL); /* a replayed reply */
    CHECK(req_table_take(&t, 0) == NULL);
    CHECK(req_table_take(&t, UINT64_MAX) == NULL); /* a forged id */
    CHECK(req_table_take(&t, a->id + 64) == NULL); /* same bucket, not ours */
    CHECK(t.count == 1);
    CHECK(req_table_take_expired(&t, 1000) == a);
    CHECK(req_table_take_expired(&t, 1000) == NULL);
    CHECK(t.count == 0 && t.first == NULL && t.last == NULL);
    free(a);
    free(b);
    req_table_free(&t);
    req_table_free(NULL);
}

static void deadlines_come_out_earliest_first(void) {
    struct req_table t;
    CHECK(req_table_init(&t) == 0);
    struct req_entry *e1 = entry(&t, 100), *e2 = entry(&t, 100), *e3 = entry(&t, 300);
    struct req_entry *early = entry(&t, 50); /* the clock moved back: still in order */
    req_table_add(&t, e1, NULL);
    req_table_add(&t, e2, NULL);
    req_table_add(&t, e3, NULL);
    req_table_add(&t, early, NULL);
    CHECK(req_table_take_expired(&t, 49) == NULL);
    CHECK(req_table_take_expired(&t, 100) == early);
    CHECK(req_table_take(&t, e2->id) == e2); /* answered in the middle */
    CHECK(req_table_take_expired(&t, 100) == e1);
    CHECK(req_table_take_expired(&t, 299) == NULL);
    CHECK(req_table_take_expired(&t, 300) == e3);
    CHECK(t.count == 0);
    free(e1);
    free(e2);
    free(e3);
    free(early);
    req_table_free(&t);
}

static int disowned;
static void count_disowned(struct req_entry *e) {
    (void)e;
    disowned++;
}

static void a_socket_lets_go_of_its_own_requests_only(void) {
    struct req_table t;
    CHECK(req_table_init(&t) == 0);
    struct req_entry *mine = NULL, *other = NULL;
    struct req_entry *a = entry(&t, 10), *b = entry(&t, 20), *c = entry(&t, 30), *d = entry(&t, 40);
    req_table_add(&t, a, &mine);
    req_table_add(&t, b, &other);
    req_table_add(&t, c, &mine);
    req_table_add(&t, d, &mine);
    CHECK(req_table_take(&t, c->id) == c); /* out of the middle of mine */
    CHECK(c->owner == NULL);
    req_table_disown(&mine, count_disowned);
    CHECK(disowned == 2 && mine == NULL);
    CHECK(a->owner == NULL && d->owner == NULL && b->owner == &other);
    CHECK(t.count == 3); /* still awaited */
    CHECK(req_table_take(&t, d->id) == d);
    CHECK(req_table_take_expired(&t, 100) == a);
    CHECK(other == b);
    CHECK(req_table_take_expired(&t, 100) == b);
    CHECK(other == NULL);
    req_table_disown(&other, NULL); /* nothing left: fine */
    free(a);
    free(b);
    free(c);
    free(d);
    req_table_free(&t);
}

static void many_requests_grow_the_table(void) {
    struct req_table t;
    CHECK(req_table_init(&t) == 0);
    static struct req_entry *e[MANY];
    struct req_entry *owner = NULL;
    for (int i = 0; i < MANY; i++) {
        e[i] = entry(&t, 1000 + i);
        req_table_add(&t, e[i], i % 2 ? &owner : NULL);
    }
    CHECK(t.count == MANY && t.nbuckets >= MANY);
    for (int i = 0; i < MANY; i += 3)
        CHECK(req_table_take(&t, e[i]->id) == e[i]);
    req_table_disown(&owner, NULL);
    int out = 0, ordered = 1;
    int64_t last = 0;
    struct req_entry *x;
    while ((x = req_table_take_expired(&t, INT64_MAX)) != NULL) {
        if (x->deadline_ms < last) ordered = 0;
        last = x->deadline_ms;
        out++;
    }
    CHECK(out == MANY - (MANY + 2) / 3);
    CHECK(ordered);
    CHECK(t.count == 0);
    for (int i = 0; i < MANY; i++)
        free(e[i]);
    req_table_free(&t);
}

int main(void) {
    a_reply_takes_its_request_once();
    deadlines_come_out_earliest_first();
    a_socket_lets_go_of_its_own_requests_only();
    many_requests_grow_the_table();
    return check_result("req_table_test");
}
