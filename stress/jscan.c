/*
 * jscan: a one-pass walk over a JSON object that checks the grammar of the
 * whole text (RFC 8259: strings, numbers, literals, nesting) and records the
 * values of a few top-level keys. It allocates nothing and copies nothing.
 * Where jansson could read a text differently from a plain walk (escapes in a
 * wanted key or value, non-ASCII bytes, integers near the 64-bit limit, a key
 * given twice) it gives up with -1 and the caller parses the text with jansson.
 */
#include "jscan.h"

#include <string.h>

#define JSCAN_DEPTH 32 /* deeper nesting: let jansson judge it */

struct cur {
    const char *p, *end;
};

static void skip_ws(struct cur *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

/* A string at c->p (its opening quote): sets *s and *n to the bytes between the
 * quotes and *esc when it holds an escape. -1 when malformed or not plain
 * ASCII (jansson checks UTF-8; we let it). */
static int scan_string(struct cur *c, const char **s, size_t *n, int *esc) {
    if (c->p >= c->end || *c->p != '"') return -1;
    const char *start = ++c->p;
    *esc = 0;
    while (c->p < c->end) {
        unsigned char ch = (unsigned char)*c->p;
        if (ch == '"') {
            *s = start;
            *n = (size_t)(c->p - start);
            c->p++;
            return 0;
        }
        if (ch < 0x20 || ch >= 0x80) return -1;
        if (ch == '\\') {
            *esc = 1;
            if (++c->p >= c->end) return -1;
            char e = *c->p;
            /* \u: jansson refuses \u0000 and lone surrogates; let it judge */
            if (e == 'u' || e == '\0' || !strchr("\"\\/bfnrt", e)) return -1;
        }
        c->p++;
    }
    return -1;
}

static int scan_digits(struct cur *c) {
    const char *s = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
        c->p++;
    return (int)(c->p - s);
}

/* A number: *is_int and *v when it has neither fraction nor exponent. */
static int scan_number(struct cur *c, int *is_int, long long *v) {
    int neg = 0;
    if (c->p < c->end && *c->p == '-') {
        neg = 1;
        c->p++;
    }
    const char *d = c->p;
    int nd = scan_digits(c);
    if (nd == 0 || (nd > 1 && *d == '0')) return -1;
    *is_int = 1;
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        if (scan_digits(c) == 0) return -1;
        *is_int = 0;
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-')) c->p++;
        if (scan_digits(c) == 0) return -1;
        *is_int = 0;
    }
    if (*is_int) {
        if (nd > 18) return -1; /* jansson refuses what overflows: let it decide */
        long long x = 0;
        for (int k = 0; k < nd; k++)
            x = x * 10 + (d[k] - '0');
        *v = neg ? -x : x;
    }
    return 0;
}

static int scan_value(struct cur *c, int depth, struct jscan_field *out);

static int scan_literal(struct cur *c, const char *lit) {
    size_t n = strlen(lit);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0) return -1;
    c->p += n;
    return 0;
}

/* Object members from after '{'; `f`/`n` are the wanted keys (top level only). */
static int scan_members(struct cur *c, int depth, struct jscan_field *f, int n) {
    skip_ws(c);
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        return 0;
    }
    for (;;) {
        const char *k;
        size_t kn;
        int esc;
        skip_ws(c);
        if (scan_string(c, &k, &kn, &esc) != 0) return -1;
        skip_ws(c);
        if (c->p >= c->end || *c->p != ':') return -1;
        c->p++;
        skip_ws(c);
        struct jscan_field *want = NULL;
        if (esc && f) return -1; /* an escaped key could spell a wanted one */
        for (int i = 0; f && i < n; i++)
            if (strlen(f[i].key) == kn && memcmp(f[i].key, k, kn) == 0) want = &f[i];
        if (want && want->kind != JS_ABSENT) return -1; /* given twice: jansson keeps the last */
        if (scan_value(c, depth + 1, want) != 0) return -1;
        skip_ws(c);
        if (c->p >= c->end) return -1;
        if (*c->p == '}') {
            c->p++;
            return 0;
        }
        if (*c->p != ',') return -1;
        c->p++;
    }
}

/* Any value; fills `out` (may be NULL) with its kind and content. */
static int scan_value(struct cur *c, int depth, struct jscan_field *out) {
    struct jscan_field tmp;
    if (!out) out = &tmp;
    if (depth > JSCAN_DEPTH || c->p >= c->end) return -1;
    char ch = *c->p;
    if (ch == '"') {
        int esc;
        if (scan_string(c, &out->str, &out->len, &esc) != 0) return -1;
        if (esc && out != &tmp) return -1; /* a wanted value with escapes: jansson decodes it */
        out->kind = JS_STRING;
        return 0;
    }
    if (ch == '{') {
        c->p++;
        out->kind = JS_OTHER;
        return scan_members(c, depth, NULL, 0);
    }
    if (ch == '[') {
        c->p++;
        out->kind = JS_ARRAY;
        out->len = 0;
        skip_ws(c);
        if (c->p < c->end && *c->p == ']') {
            c->p++;
            return 0;
        }
        for (;;) {
            skip_ws(c);
            if (scan_value(c, depth + 1, NULL) != 0) return -1;
            out->len++;
            skip_ws(c);
            if (c->p >= c->end) return -1;
            if (*c->p == ']') {
                c->p++;
                return 0;
            }
            if (*c->p != ',') return -1;
            c->p++;
        }
    }
    out->kind = JS_OTHER;
    if (ch == 't') return scan_literal(c, "true");
    if (ch == 'f') return scan_literal(c, "false");
    if (ch == 'n') return scan_literal(c, "null");
    int is_int;
    if (scan_number(c, &is_int, &out->num) != 0) return -1;
    if (is_int) out->kind = JS_INT;
    return 0;
}

int jscan_object(const char *s, size_t len, struct jscan_field *f, int n) {
    struct cur c = {s, s + len};
    for (int i = 0; i < n; i++)
        f[i].kind = JS_ABSENT;
    skip_ws(&c);
    if (c.p >= c.end || *c.p != '{') return -1;
    c.p++;
    if (scan_members(&c, 0, f, n) != 0) return -1;
    skip_ws(&c);
    return c.p == c.end ? 0 : -1;
}

void jscan_from_tree(const json_t *obj, struct jscan_field *f, int n) {
    for (int i = 0; i < n; i++) {
        json_t *v = json_is_object(obj) ? json_object_get(obj, f[i].key) : NULL;
        f[i].kind = JS_ABSENT;
        if (!v) continue;
        if (json_is_string(v)) {
            f[i].kind = JS_STRING;
            f[i].str = json_string_value(v);
            f[i].len = json_string_length(v);
        } else if (json_is_integer(v)) {
            f[i].kind = JS_INT;
            f[i].num = (long long)json_integer_value(v);
        } else if (json_is_array(v)) {
            f[i].kind = JS_ARRAY;
            f[i].len = json_array_size(v);
        } else {
            f[i].kind = JS_OTHER;
        }
    }
}

int jscan_read(const char *msg, size_t len, struct jscan_field *f, int n, json_t **tree) {
    *tree = NULL;
    if (jscan_object(msg, len, f, n) == 0) return 0;
    json_error_t jerr;
    *tree = json_loadb(msg, len, 0, &jerr);
    jscan_from_tree(*tree, f, n);
    return json_is_object(*tree) ? 0 : -1;
}

int jscan_is(const struct jscan_field *f, const char *lit) {
    size_t n = strlen(lit);
    return f->kind == JS_STRING && f->len == n && memcmp(f->str, lit, n) == 0;
}

int jscan_int(const struct jscan_field *f) {
    return f->kind == JS_INT ? (int)f->num : 0;
}
