/*
 * handle_snapshot: placeholder until the live-session issue lands.
 */
#include "reply.h"
#include "session.h"

json_t *handle_snapshot(void *ctx, struct db *db, json_t *req) {
    return reply_error(503, "not_implemented", "snapshots are not implemented yet");
}
