/*
 * req_table: a chained hash of in-flight requests by id, plus the deadline
 * queue and per-owner lists (see req_table.h). Ids are handed out in order,
 * so the low bits of an id spread entries evenly over a power-of-2 bucket
 * array; it doubles when entries outnumber buckets. Never blocks.
 */
#include "req_table.h"

#include <stdlib.h>

#define REQ_TABLE_MIN_BUCKETS 64

int req_table_init(struct req_table *t) {
    *t = (struct req_table){0};
    t->buckets = calloc(REQ_TABLE_MIN_BUCKETS, sizeof(*t->buckets));
    if (!t->buckets) return -1;
    t->nbuckets = REQ_TABLE_MIN_BUCKETS;
    return 0;
}

void req_table_free(struct req_table *t) {
    if (!t) return;
    free(t->buckets);
    t->buckets = NULL;
    t->nbuckets = 0;
}

uint64_t req_table_new_id(struct req_table *t) {
    return ++t->last_id;
}

static struct req_entry **bucket(const struct req_table *t, uint64_t id) {
    return &t->buckets[id & (t->nbuckets - 1)];
}

/* Doubles the bucket array; keeps the old one when memory is short. */
static void grow(struct req_table *t) {
    size_t n = t->nbuckets * 2;
    struct req_entry **nb = calloc(n, sizeof(*nb));
    if (!nb) return;
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct req_entry *e = t->buckets[i];
        while (e) {
            struct req_entry *next = e->hnext;
            e->hnext = nb[e->id & (n - 1)];
            nb[e->id & (n - 1)] = e;
            e = next;
        }
    }
    free(t->buckets);
    t->buckets = nb;
    t->nbuckets = n;
}

void req_table_add(struct req_table *t, struct req_entry *e, struct req_entry **owner) {
    if (t->count >= t->nbuckets) grow(t);
    struct req_entry **b = bucket(t, e->id);
    e->hnext = *b;
    *b = e;
    t->count++;
    /* one timeout for all: a new deadline is the latest, unless the clock
     * stood still or the timeout changed, then it walks back a little */
    struct req_entry *after = t->last;
    while (after && after->deadline_ms > e->deadline_ms)
        after = after->qprev;
    e->qprev = after;
    e->qnext = after ? after->qnext : t->first;
    if (e->qnext)
        e->qnext->qprev = e;
    else
        t->last = e;
    if (after)
        after->qnext = e;
    else
        t->first = e;
    e->owner = owner;
    e->oprev = NULL;
    e->onext = owner ? *owner : NULL;
    if (owner) {
        if (*owner) (*owner)->oprev = e;
        *owner = e;
    }
}

/* Unlinks `e` (in the table) from the queue and its owner's list. */
static void unlink_lists(struct req_table *t, struct req_entry *e) {
    if (e->qprev)
        e->qprev->qnext = e->qnext;
    else
        t->first = e->qnext;
    if (e->qnext)
        e->qnext->qprev = e->qprev;
    else
        t->last = e->qprev;
    if (e->owner) {
        if (e->oprev)
            e->oprev->onext = e->onext;
        else
            *e->owner = e->onext;
        if (e->onext) e->onext->oprev = e->oprev;
    }
    e->qprev = e->qnext = e->oprev = e->onext = e->hnext = NULL;
    e->owner = NULL;
    t->count--;
}

struct req_entry *req_table_take(struct req_table *t, uint64_t id) {
    struct req_entry **pp = bucket(t, id);
    while (*pp && (*pp)->id != id)
        pp = &(*pp)->hnext;
    struct req_entry *e = *pp;
    if (!e) return NULL;
    *pp = e->hnext;
    unlink_lists(t, e);
    return e;
}

struct req_entry *req_table_take_expired(struct req_table *t, int64_t now_ms) {
    struct req_entry *e = t->first;
    if (!e || e->deadline_ms > now_ms) return NULL;
    return req_table_take(t, e->id);
}

void req_table_disown(struct req_entry **owner, void (*each)(struct req_entry *e)) {
    struct req_entry *e = *owner;
    while (e) {
        struct req_entry *next = e->onext;
        if (each) each(e);
        e->owner = NULL;
        e->oprev = e->onext = NULL;
        e = next;
    }
    *owner = NULL;
}
