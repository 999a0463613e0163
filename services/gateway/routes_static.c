/*
 * routes_static: the built web pages from QW_STATIC_DIR. `/` is the student
 * page, `/host` the instructor console, `/assets/<name>` their scripts,
 * styles and images. Only plain file names are served (no path walking).
 * Every page carries a strict Content-Security-Policy: nothing is loaded
 * from another host, no inline script runs.
 */
#include "http.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CSP                                                                                        \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "                  \
    "form-action 'self'; frame-ancestors 'none'"

static const char *content_type(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot) return "application/octet-stream";
    if (!strcmp(dot, ".html")) return "text/html; charset=utf-8";
    if (!strcmp(dot, ".js") || !strcmp(dot, ".mjs")) return "text/javascript; charset=utf-8";
    if (!strcmp(dot, ".css")) return "text/css; charset=utf-8";
    if (!strcmp(dot, ".csv")) return "text/csv; charset=utf-8";
    if (!strcmp(dot, ".svg")) return "image/svg+xml";
    if (!strcmp(dot, ".png")) return "image/png";
    if (!strcmp(dot, ".ico")) return "image/x-icon";
    if (!strcmp(dot, ".json") || !strcmp(dot, ".webmanifest")) return "application/json";
    return "application/octet-stream";
}

static int safe_name(const char *s) {
    if (!*s || *s == '.') return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '-' || *s == '_'))
            return 0;
    return 1;
}

static enum MHD_Result serve_file(struct http_req *r, const char *rel, int is_page) {
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", r->gw->static_dir, rel);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0) close(fd);
        return http_error(r, 404, "not_found", "no such file");
    }
    struct MHD_Response *resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
    if (!resp) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", content_type(rel));
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    if (is_page) {
        MHD_add_response_header(resp, "Content-Security-Policy", CSP);
        MHD_add_response_header(resp, "X-Frame-Options", "DENY");
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
    } else {
        MHD_add_response_header(resp, "Cache-Control", "public, max-age=300");
    }
    enum MHD_Result ret = MHD_queue_response(r->conn, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result get_student_page(struct http_req *r) {
    return serve_file(r, "index.html", 1);
}
static enum MHD_Result get_host_page(struct http_req *r) {
    return serve_file(r, "host.html", 1);
}

static enum MHD_Result get_asset(struct http_req *r) {
    if (!safe_name(r->params[0])) return http_error(r, 404, "not_found", "no such file");
    char rel[300];
    snprintf(rel, sizeof(rel), "assets/%s", r->params[0]);
    return serve_file(r, rel, 0);
}

const struct http_route routes_static[] = {
    {"GET", "/", 0, get_student_page},
    {"GET", "/index.html", 0, get_student_page},
    {"GET", "/host", 0, get_host_page},
    {"GET", "/assets/*", 0, get_asset},
    {NULL, NULL, 0, NULL},
};
