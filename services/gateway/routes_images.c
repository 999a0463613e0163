/*
 * routes_images: the pictures of questions. POST /admin/api/images takes
 * a picture from the instructor (the body is the picture; its type and
 * size are judged from its bytes by the session daemon, which stores it)
 * and GET /img/{id} serves one to anyone: the id is the SHA-256 of the
 * bytes, unguessable and immutable, so the answer may be cached for ever
 * (Cache-Control immutable, ETag = id, 304 on If-None-Match) and each
 * gateway asks NATS for a picture once while it keeps it (image_cache.c).
 * Ids are never listed. Runs on libmicrohttpd's pool threads.
 */
#include "http.h"

#include "bus.h"
#include "image.h"
#include "image_cache.h"
#include "reply.h"
#include "subjects.h"

#include <stdlib.h>
#include <string.h>

/* How long an id found missing is answered 404 without asking again: an
 * id names bytes, so one missing now appears only when someone uploads
 * exactly those bytes, and a request for it made before the upload is
 * remembered this long at most. */
#define IMAGE_MISS_TTL_MS 10000

struct metric image_metric_fetches = {
    "qw_image_fetches_total", "Pictures fetched over NATS for GET /img (cache misses)", 0, 0};
struct metric image_metric_requests = {"qw_image_requests_total", "GET /img requests answered", 0,
                                       0};
struct metric image_metric_not_modified = {
    "qw_image_not_modified_total", "GET /img answered 304 (the browser had the picture)", 0, 0};
struct metric image_metric_cache_bytes = {"qw_image_cache_bytes",
                                          "Bytes of pictures this gateway keeps", 1, 0};

/* image_fetch_fn: asks the session daemon for picture `id` (ctx: the
 * gateway). Stored pictures may be up to the highest QW_IMAGE_MAX_BYTES. */
static enum image_fetch_result fetch_image(void *ctx, const char *id, struct image_blob *blob) {
    struct gateway *gw = ctx;
    metric_add(&image_metric_fetches, 1);
    json_t *req = json_pack("{s:s}", "image", id);
    json_t *reply = bus_request(gw->d.nc, SUBJ_IMAGE_GET, req, gw->d.timeout_ms);
    json_decref(req);
    enum image_fetch_result res = IMAGE_UNAVAILABLE;
    if (!reply_is_ok(reply)) {
        if (reply && reply_status(reply) == 404) res = IMAGE_NOT_FOUND;
        goto cleanup;
    }
    const char *mime = json_string_value(json_object_get(reply, "mime"));
    if (!image_mime_known(mime)) goto cleanup;
    blob->bytes = image_base64_decode(json_string_value(json_object_get(reply, "data")),
                                      4 * 1024 * 1024, &blob->len);
    if (!blob->bytes) goto cleanup;
    strncpy(blob->mime, mime, sizeof(blob->mime) - 1);
    res = IMAGE_FOUND;
cleanup:
    json_decref(reply);
    return res;
}

int routes_images_start(struct gateway *gw) {
    metrics_register(&image_metric_fetches);
    metrics_register(&image_metric_requests);
    metrics_register(&image_metric_not_modified);
    metrics_register(&image_metric_cache_bytes);
    gw->image_max_bytes = (size_t)config_int("QW_IMAGE_MAX_BYTES");
    gw->images = image_cache_new((size_t)config_int("QW_IMAGE_CACHE_MB") * 1024 * 1024,
                                 IMAGE_MISS_TTL_MS, fetch_image, gw);
    return gw->images ? 0 : -1;
}

void routes_images_stop(struct gateway *gw) {
    image_cache_free(gw->images);
    gw->images = NULL;
}

static enum MHD_Result upload(struct http_req *r) {
    enum MHD_Result ret;
    json_t *claims = http_require_admin(r, &ret);
    if (!claims) return ret;
    json_decref(claims);
    if (r->body_len == 0) return http_error(r, 400, "not_an_image", "the body is empty");
    char type[64];
    char *data = image_base64_encode((const unsigned char *)r->body, r->body_len);
    if (!data) return http_error(r, 500, "internal", "out of memory");
    json_t *req =
        json_pack("{s:s,s:s}", "mime", http_body_type(r, type, sizeof(type)), "data", data);
    free(data);
    json_t *reply = req ? http_bus(r, SUBJ_IMAGE_PUT, req) : NULL;
    json_decref(req);
    ret = http_from_reply(r, reply, 200);
    json_decref(reply);
    return ret;
}

/* True when If-None-Match (NULL allowed) lists the strong or weak tag of
 * `id`, or is "*". */
static int etag_listed(const char *inm, const char *id) {
    size_t idlen = strlen(id);
    while (inm && *inm) {
        while (*inm == ' ' || *inm == '\t' || *inm == ',')
            inm++;
        size_t len = strcspn(inm, ",");
        const char *tag = inm;
        size_t tlen = len;
        while (tlen && (tag[tlen - 1] == ' ' || tag[tlen - 1] == '\t'))
            tlen--;
        if (tlen == 1 && tag[0] == '*') return 1;
        if (tlen >= 2 && tag[0] == 'W' && tag[1] == '/') tag += 2, tlen -= 2;
        if (tlen == idlen + 2 && tag[0] == '"' && memcmp(tag + 1, id, idlen) == 0) return 1;
        inm += len;
    }
    return 0;
}

static enum MHD_Result serve(struct http_req *r) {
    const char *id = r->params[0];
    if (!image_id_valid(id))
        return http_error(r, 400, "bad_image_id", "a picture id is 64 lowercase hex digits");
    struct image_blob *b = NULL;
    int fetched = 0;
    enum image_fetch_result res = image_cache_get(r->gw->images, id, &b, &fetched);
    if (fetched) metric_set(&image_metric_cache_bytes, (long long)image_cache_bytes(r->gw->images));
    if (res == IMAGE_NOT_FOUND) return http_error(r, 404, "unknown_image", "no such picture");
    if (res != IMAGE_FOUND)
        return http_error(r, 503, "backend_unavailable", "the picture could not be had; try again");
    metric_add(&image_metric_requests, 1);
    char etag[IMAGE_ID_LEN + 3] = "\"";
    strcat(etag, id);
    strcat(etag, "\"");
    http_add_header(r, "ETag", etag);
    http_add_header(r, "Cache-Control", "public, max-age=31536000, immutable");
    /* the picture is not a page: it runs nothing, and other sites may not
     * embed it */
    http_add_header(r, "Content-Security-Policy", "default-src 'none'; sandbox");
    http_add_header(r, "Cross-Origin-Resource-Policy", "same-origin");
    enum MHD_Result ret;
    if (etag_listed(http_header(r, "If-None-Match"), id)) {
        metric_add(&image_metric_not_modified, 1);
        ret = http_bytes(r, 304, b->mime, "", 0);
    } else {
        ret = http_bytes(r, 200, b->mime, b->bytes, b->len);
    }
    image_cache_release(r->gw->images, b);
    return ret;
}

const struct http_route routes_images[] = {
    {"POST", "/admin/api/images", HTTP_IMAGE_BODY, upload},
    {"GET", "/img/*", 0, serve},
    {NULL, NULL, 0, NULL},
};
