/*
 * text: what the contract calls "printable characters" of a name or a
 * student id. Lengths are counted in Unicode code points, never bytes, so
 * auth's join and the gateway's socket check agree on every id (a 64-code-
 * point id may take up to 256 bytes). Pure: no I/O, no allocation.
 */
#ifndef QW_TEXT_H
#define QW_TEXT_H

/* Longest student id in code points, and in bytes of UTF-8 (4 a code point). */
#define TEXT_ID_MAX_CHARS 64
#define TEXT_ID_MAX_BYTES (4 * TEXT_ID_MAX_CHARS)

/* The number of code points of `s` when it is valid UTF-8 (no overlong
 * forms, no surrogates) without control characters (C0, DEL, C1); -1
 * otherwise, and for NULL. */
long text_codepoints(const char *s);

#endif
