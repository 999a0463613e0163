/*
 * handle_image: the pictures of questions (qw.image.put, qw.image.get).
 * The session daemon keeps them because it keeps the quizzes that name
 * them; the gateways have no database and fetch a picture here once, then
 * cache it (its id is the hash of its bytes, so it never changes).
 * A put is judged on the bytes alone (shared/image: type, size, id); the
 * declared type must agree with them. It is idempotent: the same bytes
 * are the same row. Runs on the session daemon's image workers; never
 * changes a session, never logs a picture's bytes.
 */
#include "config.h"
#include "image.h"
#include "log.h"
#include "reply.h"
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *handle_image_put(void *ctx, struct db *db, json_t *req) {
    (void)ctx;
    json_t *reply = NULL;
    PGresult *r = NULL;
    unsigned char *bytes = NULL;
    size_t n = 0, max = (size_t)config_int("QW_IMAGE_MAX_BYTES");
    const char *data = json_string_value(json_object_get(req, "data"));
    const char *declared = json_string_value(json_object_get(req, "mime"));
    struct image_info info;
    char id[IMAGE_ID_LEN + 1], w[16], h[16];
    if (!data || !image_mime_known(declared)) {
        reply = reply_error(400, "bad_field", "data (base64) and mime (an image type) are needed");
        goto cleanup;
    }
    if (strlen(data) / 4 * 3 > max + 2) {
        reply = reply_error(413, "too_large", "the picture is over %zu bytes", max);
        goto cleanup;
    }
    bytes = image_base64_decode(data, max, &n);
    if (!bytes) {
        reply = reply_error(400, "bad_field", "data must be the picture in base64");
        goto cleanup;
    }
    if (image_sniff(bytes, n, &info) != 0) {
        reply = reply_error(400, "not_an_image", "%s", info.problem);
        goto cleanup;
    }
    if (strcmp(info.mime, declared) != 0) {
        reply = reply_error(400, "type_mismatch", "the body is %s, not %s as its Content-Type says",
                            info.mime, declared);
        goto cleanup;
    }
    if (image_id(bytes, n, id) != 0) goto cleanup;
    snprintf(w, sizeof(w), "%u", info.width);
    snprintf(h, sizeof(h), "%u", info.height);
    const char *p[] = {id, info.mime, data, w, h};
    r = db_exec(db,
                "INSERT INTO images (id, mime, bytes, width, height)"
                " VALUES ($1, $2, decode($3, 'base64'), $4::int, $5::int)"
                " ON CONFLICT (id) DO NOTHING RETURNING id",
                5, p);
    if (!r) {
        reply = reply_error(503, "db_unavailable", "the picture could not be stored; try again");
        goto cleanup;
    }
    LOG_INFO("image_stored", "image=%s mime=%s bytes=%zu width=%u height=%u new=%d", id, info.mime,
             n, info.width, info.height, PQntuples(r) == 1);
    reply = json_pack("{s:b,s:s,s:s,s:i,s:i}", "ok", 1, "image", id, "mime", info.mime, "width",
                      (int)info.width, "height", (int)info.height);
cleanup:
    PQclear(r);
    free(bytes);
    return reply;
}

json_t *handle_image_get(void *ctx, struct db *db, json_t *req) {
    (void)ctx;
    const char *id = json_string_value(json_object_get(req, "image"));
    if (!image_id_valid(id))
        return reply_error(400, "bad_field", "image must be a picture id (64 lowercase hex)");
    const char *p[] = {id};
    PGresult *r =
        db_exec(db,
                "SELECT mime, width, height, translate(encode(bytes, 'base64'), E'\\n', '')"
                " FROM images WHERE id = $1",
                1, p);
    if (!r) return reply_error(503, "db_unavailable", "the picture could not be read; try again");
    json_t *reply = NULL;
    if (PQntuples(r) != 1)
        reply = reply_error(404, "unknown_image", "no such picture");
    else
        reply = json_pack("{s:b,s:s,s:s,s:i,s:i,s:s}", "ok", 1, "image", id, "mime",
                          db_val(r, 0, 0), "width", atoi(db_val(r, 0, 1)), "height",
                          atoi(db_val(r, 0, 2)), "data", db_val(r, 0, 3));
    PQclear(r);
    return reply;
}

void question_image_add(json_t *obj, const char *image, const char *image_alt) {
    if (!obj || !image) return;
    json_object_set_new(obj, "image", json_string(image));
    if (image_alt) json_object_set_new(obj, "image_alt", json_string(image_alt));
}
