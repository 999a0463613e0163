/*
 * handle_sessions: placeholder until the HTTP API issue lands sessions.
 */
#include "reply.h"
#include "session.h"

json_t *handle_session_create(void *ctx, struct db *db, json_t *req) {
    return reply_error(503, "not_implemented", "sessions are not implemented yet");
}
json_t *handle_session_list(void *ctx, struct db *db, json_t *req) {
    return reply_error(503, "not_implemented", "sessions are not implemented yet");
}
json_t *handle_session_get(void *ctx, struct db *db, json_t *req) {
    return reply_error(503, "not_implemented", "sessions are not implemented yet");
}
