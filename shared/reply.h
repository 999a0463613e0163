/*
 * reply: the shape of every NATS reply between daemons.
 *
 * Success is {"ok":true,...}; failure is {"ok":false,"status":N,
 * "error":"code","message":"text"} where N is the HTTP status the gateway
 * passes on. All functions return a new reference the caller owns.
 */
#ifndef QW_REPLY_H
#define QW_REPLY_H

#include <jansson.h>

/* {"ok":true} */
json_t *reply_ok(void);

/* {"ok":false,"status":status,"error":code,"message":<formatted>} */
json_t *reply_error(int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* True when `r` is a reply with "ok":true. */
int reply_is_ok(const json_t *r);

/* The "status" of a failed reply (500 when absent or not a number). */
int reply_status(const json_t *r);

#endif
