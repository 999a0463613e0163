/*
 * jscan: reads a few top-level fields of one JSON object without building a
 * tree, for the messages every student receives (question_open, submit_ack,
 * question_closed ...), so that the load generator's parsing costs little of
 * the two cores it shares with the stack it measures. It answers only when it
 * is sure: anything it does not decode itself (an escape in a field it is
 * asked for, a byte outside printable ASCII, a duplicate wanted key, deep
 * nesting) makes it say so, and the caller then reads the same fields from
 * jansson's tree (jscan_from_tree), so no message is judged differently.
 */
#ifndef QW_STRESS_JSCAN_H
#define QW_STRESS_JSCAN_H

#include <jansson.h>
#include <stddef.h>

enum jscan_kind { JS_ABSENT, JS_STRING, JS_INT, JS_ARRAY, JS_OTHER };

struct jscan_field {
    const char *key;      /* in: a top-level key (plain ASCII, no escapes) */
    enum jscan_kind kind; /* out: what its value is (JS_OTHER: real, object, bool, null) */
    const char *str;      /* JS_STRING: the text, borrowed from the message or the tree */
    size_t len;           /* JS_STRING: its length in bytes; JS_ARRAY: its element count */
    long long num;        /* JS_INT: the value */
};

/* Walks `len` bytes that must be exactly one JSON object (white space around
 * it allowed) and fills the `n` fields asked for. Returns 0 when the whole
 * text is well-formed and every field is read; -1 when the text is not JSON
 * or the scanner is not sure: then read it with jansson instead. Strings in
 * the fields point into `s`. */
int jscan_object(const char *s, size_t len, struct jscan_field *f, int n);

/* Fills the same fields from a parsed object (NULL or not an object: every
 * field absent). Strings point into the tree: valid until it is freed. */
void jscan_from_tree(const json_t *obj, struct jscan_field *f, int n);

/* Reads the fields of the JSON object in msg[0..len): by jscan_object, else
 * by jansson, whose tree is then returned in *tree (the caller frees it with
 * json_decref after its last use of the fields; NULL when not needed).
 * Returns 0, or -1 (every field absent) when the text is not a JSON object. */
int jscan_read(const char *msg, size_t len, struct jscan_field *f, int n, json_t **tree);

/* 1 when the field is the string `lit`, else 0. */
int jscan_is(const struct jscan_field *f, const char *lit);

/* The field as an int, 0 when it is not an integer (json_integer_value's rule). */
int jscan_int(const struct jscan_field *f);

#endif
