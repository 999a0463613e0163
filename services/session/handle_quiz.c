/*
 * handle_quiz: placeholder until the HTTP API issue lands pools.
 */
#include "reply.h"
#include "session.h"

json_t *handle_quiz_create(void *ctx, struct db *db, json_t *req) {
    return reply_error(503, "not_implemented", "pools are not implemented yet");
}
json_t *handle_quiz_list(void *ctx, struct db *db, json_t *req) {
    return reply_error(503, "not_implemented", "pools are not implemented yet");
}
