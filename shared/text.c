/*
 * text: code-point lengths of printable UTF-8 text (see text.h). Decodes
 * one sequence at a time and refuses at the first byte that breaks UTF-8
 * or names a control character.
 */
#include "text.h"

#include <stddef.h>

long text_codepoints(const char *s) {
    static const unsigned min[] = {0, 0x80, 0x800, 0x10000}; /* shortest form per length */
    const unsigned char *p = (const unsigned char *)s;
    long n = 0;
    if (!s) return -1;
    while (*p) {
        unsigned c = *p;
        int extra;
        unsigned cp;
        if (c < 0x80)
            extra = 0, cp = c;
        else if ((c & 0xe0) == 0xc0)
            extra = 1, cp = c & 0x1f;
        else if ((c & 0xf0) == 0xe0)
            extra = 2, cp = c & 0x0f;
        else if ((c & 0xf8) == 0xf0)
            extra = 3, cp = c & 0x07;
        else
            return -1;
        p++;
        for (int i = 0; i < extra; i++, p++) {
            if ((*p & 0xc0) != 0x80) return -1;
            cp = cp << 6 | (*p & 0x3f);
        }
        if (cp < min[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return -1;
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) return -1;
        n++;
    }
    return n;
}
