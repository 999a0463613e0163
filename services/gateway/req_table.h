/*
 * req_table: the requests a loop has in flight, found by id in O(1). Every
 * entry is in three intrusive lists at once: its hash bucket (a reply finds
 * it by id), the deadline queue (all requests share one timeout, so the
 * queue is in deadline order and a tick only looks at its head), and its
 * owner's list (a socket that goes away lets go of its own requests only).
 * Pure bookkeeping: no I/O, no clock, no allocation of entries (the caller
 * embeds a req_entry and owns it); only the bucket array is allocated.
 * One thread.
 */
#ifndef QW_REQ_TABLE_H
#define QW_REQ_TABLE_H

#include <stddef.h>
#include <stdint.h>

struct req_entry {
    uint64_t id;                     /* set by the caller (req_table_new_id) */
    int64_t deadline_ms;             /* set by the caller; monotonic */
    struct req_entry **owner;        /* head of the owner's list, NULL none */
    struct req_entry *hnext;         /* bucket chain */
    struct req_entry *qprev, *qnext; /* deadline queue */
    struct req_entry *oprev, *onext; /* the owner's list */
};

struct req_table {
    struct req_entry **buckets; /* owned array, nbuckets (a power of 2) long */
    size_t nbuckets;
    size_t count;                   /* entries in the table */
    struct req_entry *first, *last; /* deadline queue, earliest first */
    uint64_t last_id;
};

/* An empty table. Returns 0 or -1 (out of memory). */
int req_table_init(struct req_table *t);

/* Frees the bucket array; the entries still in it stay the caller's (take
 * them first with req_table_take_expired(t, INT64_MAX)). Accepts NULL. */
void req_table_free(struct req_table *t);

/* A fresh id, never 0 and never one used before in `t`. */
uint64_t req_table_new_id(struct req_table *t);

/* Adds `e` (borrowed until taken; e->id and e->deadline_ms set, id not in
 * the table) to the table and, when `owner` is not NULL, to the front of
 * the owner's list whose head is *owner. The bucket array grows with the
 * count; when it cannot, lookups only get slower. */
void req_table_add(struct req_table *t, struct req_entry *e, struct req_entry **owner);

/* Takes the entry with `id` out of every list and returns it (the caller's
 * again), or NULL when there is none (answered already, timed out, never
 * sent). */
struct req_entry *req_table_take(struct req_table *t, uint64_t id);

/* Takes the earliest entry whose deadline is <= now_ms, or returns NULL;
 * call it until NULL at each tick. */
struct req_entry *req_table_take_expired(struct req_table *t, int64_t now_ms);

/* The owner whose list head is *owner goes away: its entries stay in the
 * table (their replies are still awaited) but belong to no owner; *owner
 * becomes NULL. Call `each` on every entry first (may be NULL). */
void req_table_disown(struct req_entry **owner, void (*each)(struct req_entry *e));

#endif
