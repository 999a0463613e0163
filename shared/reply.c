/*
 * reply: builds and reads the common reply envelope (see reply.h).
 */
#include "reply.h"

#include <stdarg.h>
#include <stdio.h>

json_t *reply_ok(void) {
    return json_pack("{s:b}", "ok", 1);
}

json_t *reply_error(int status, const char *code, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return json_pack("{s:b,s:i,s:s,s:s}", "ok", 0, "status", status, "error", code, "message", msg);
}

int reply_is_ok(const json_t *r) {
    return r && json_is_true(json_object_get(r, "ok"));
}

int reply_status(const json_t *r) {
    json_t *s = json_object_get(r, "status");
    return json_is_integer(s) ? (int)json_integer_value(s) : 500;
}
