/*
 * routes_ws: placeholder table; the routes of this family land with their
 * issue. An empty table answers 404 for every path of the family.
 */
#include "http.h"

const struct http_route routes_ws[] = {
    {NULL, NULL, 0, NULL},
};
