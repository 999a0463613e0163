/*
 * gateway: small helpers on the shared gateway state (see gateway.h).
 */
#include "gateway.h"

#include <stdlib.h>
#include <string.h>

int gateway_list_has(char *const *list, const char *s) {
    for (char *const *p = list; p && *p; p++)
        if (strcmp(*p, s) == 0) return 1;
    return 0;
}
