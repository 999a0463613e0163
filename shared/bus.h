/*
 * bus: the NATS side of every daemon (nats.c).
 *
 * Connects with reconnect-forever options so that a restarted nats-server is
 * picked up without a hand on it; sends JSON requests with a deadline; sends
 * JSON replies and events. Never blocks longer than the deadline it is given.
 * Thread-safe as nats.c is: any thread may call any function here.
 */
#ifndef QW_BUS_H
#define QW_BUS_H

#include <jansson.h>
#include <nats/nats.h>

#define BUS_MAX_SERVERS 16 /* most NATS URLs in one QW_NATS_URL */

/* Connects to `url`, a comma separated list of servers (at most
 * BUS_MAX_SERVERS) tried in the order given, as client `name`, as
 * NATS user `user` with the password on the first line of `password_file`
 * when user is set (all borrowed; the password is never logged and is
 * wiped from memory once nats.c holds it). With `ca_file` set the
 * connection must be TLS, the server's certificate signed by that CA.
 * When the server in use is lost it reconnects to any of the list (the
 * others first), for ever; publishes meanwhile wait in nats.c's buffer
 * and go out once, after the reconnect (a reply buffered so may reach a
 * requester that gave up: it is dropped there, never acted on twice).
 * Returns 0 and sets *out, or -1 after logging. The caller owns *out and
 * releases it with bus_close(). */
int bus_connect(const char *url, const char *name, const char *user, const char *password_file,
                const char *ca_file, natsConnection **out);

/* Sets the one process-wide hook called (on a nats.c thread) each time a
 * connection made by bus_connect() is back after a reconnect, its
 * subscriptions already resent; fn NULL removes it. After this returns no
 * call of the previous hook is running, so its ctx may be freed. The hook
 * must not block and must not call bus_on_reconnected(). */
void bus_on_reconnected(void (*fn)(void *ctx), void *ctx);

/* Drains subscriptions (bounded), closes and destroys the connection.
 * Accepts NULL. */
void bus_close(natsConnection *nc);

/* True while the connection is up (not reconnecting or closed). */
int bus_connected(natsConnection *nc);

/* Sends `req` (borrowed) to `subject` and waits at most timeout_ms.
 * Returns the parsed reply (caller owns it), or NULL when no answer came in
 * time, no one listens, or the reply is not a JSON object. */
json_t *bus_request(natsConnection *nc, const char *subject, const json_t *req, int timeout_ms);

/* Publishes `obj` (borrowed) as JSON to `subject`. Returns 0 or -1. */
int bus_publish(natsConnection *nc, const char *subject, const json_t *obj);

/* Answers `msg` with `reply` (borrowed). Returns 0 or -1. Does nothing
 * when the message has no reply subject. */
int bus_respond(natsConnection *nc, natsMsg *msg, const json_t *reply);

/* Parses a message body as a JSON object. Returns a new reference or NULL. */
json_t *bus_parse(natsMsg *msg);

#endif
