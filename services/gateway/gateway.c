/*
 * gateway: small helpers on the shared gateway state (see gateway.h).
 */
#include "gateway.h"

#include <stdlib.h>
#include <string.h>

char **gateway_split_list(const char *s) {
    size_t cap = 1;
    for (const char *p = s ? s : ""; *p; p++)
        if (*p == ',') cap++;
    char **list = calloc(cap + 1, sizeof(char *));
    if (!list) return NULL;
    size_t n = 0;
    const char *p = s ? s : "";
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *end = p;
        while (*end && *end != ',')
            end++;
        const char *e = end;
        while (e > p && e[-1] == ' ')
            e--;
        if (e > p) list[n++] = strndup(p, (size_t)(e - p));
        p = end;
    }
    return list;
}

void gateway_free_list(char **list) {
    if (!list) return;
    for (char **p = list; *p; p++)
        free(*p);
    free(list);
}

int gateway_list_has(char *const *list, const char *s) {
    for (char *const *p = list; p && *p; p++)
        if (strcmp(*p, s) == 0) return 1;
    return 0;
}
