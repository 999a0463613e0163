/*
 * roles: the NATS roles table and its two printers (see roles.h). Requests
 * need publish on the request subject and subscribe on the reply inbox
 * (_INBOX.>); the responding role gets allow_responses instead of publish
 * rights on _INBOX.>, so it can answer only messages it actually received.
 */
#include "roles.h"

#include "subjects.h"

#include <ctype.h>
#include <string.h>

#define INBOX_ALL "_INBOX.>"
#define EVENT_ALL SUBJ_EVENT_PREFIX "*"
#define HEALTH_ALL "qw.health.*"

const struct role roles[] = {
    {"auth",
     "qw_auth",
     1,
     {EVENT_ALL, SUBJ_ADMIN_REVOKED, NULL},
     {SUBJ_AUTH_ALL, SUBJ_HEALTH_AUTH, NULL}},
    {"session",
     "qw_session",
     1,
     {EVENT_ALL, NULL},
     {SUBJ_SESSION_QUERY_ALL, SUBJ_SESSION_CMD_ALL, SUBJ_IMAGE_ALL, SUBJ_HEALTH_SESSION, NULL}},
    {"scoring",
     "qw_scoring",
     1,
     {EVENT_ALL, NULL},
     {SUBJ_SCORING_SUBMIT, SUBJ_SCORING_RESULTS, SUBJ_HEALTH_SCORING, NULL}},
    {"gateway",
     "qw_gateway",
     0,
     {SUBJ_AUTH_ALL, SUBJ_SESSION_QUERY_ALL, SUBJ_SESSION_CMD_ALL, SUBJ_SCORING_SUBMIT,
      SUBJ_SCORING_RESULTS, SUBJ_IMAGE_PUT, SUBJ_IMAGE_GET, HEALTH_ALL, NULL},
     {EVENT_ALL, SUBJ_ADMIN_REVOKED, INBOX_ALL, NULL}},
    /* stress/natsrtt's round-trip baseline: its own subjects, no qw.* */
    {"bench", "qw_bench", 1, {"bench.>", NULL}, {"bench.>", INBOX_ALL, NULL}},
    {NULL, NULL, 0, {NULL}, {NULL}},
};

const struct role *role_find(const char *name) {
    for (const struct role *r = roles; name && r->name; r++)
        if (strcmp(r->name, name) == 0) return r;
    return NULL;
}

static void write_list(FILE *out, const char *const *list) {
    fputc('[', out);
    for (int i = 0; list[i]; i++)
        fprintf(out, "%s\"%s\"", i ? ", " : "", list[i]);
    fputc(']', out);
}

/* Reads the first line of `path` into buf; 0, or -1 when missing, empty, too
 * long or holding a character that would need escaping in nats.conf. */
static int read_password(const char *path, char *buf, size_t size) {
    int rc = -1;
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    if (fgets(buf, (int)size, f)) {
        buf[strcspn(buf, "\r\n")] = '\0';
        rc = 0;
        if (!*buf || strlen(buf) >= size - 1) rc = -1;
        for (const char *p = buf; *p; p++)
            if (*p == '"' || *p == '\\' || *p == '$' || (unsigned char)*p < 0x21) rc = -1;
    }
    fclose(f);
    return rc;
}

int roles_write_nats_conf(FILE *out, const char *secret_dir) {
    char path[4096], pw[256];
    fprintf(out, "authorization {\n  users = [\n");
    for (const struct role *r = roles; r->name; r++) {
        if (!secret_dir) {
            fprintf(out, "    {user: \"%s\", password: $QW_NATS_", r->user);
            for (const char *c = r->name; *c; c++)
                fputc(toupper((unsigned char)*c), out);
            fprintf(out, "_PASSWORD, permissions: {\n");
        } else {
            snprintf(path, sizeof(path), "%s/nats-%s.password", secret_dir, r->name);
            if (read_password(path, pw, sizeof(pw)) != 0) {
                fprintf(stderr, "qw-nats-roles: cannot use the password in %s\n", path);
                return -1;
            }
            fprintf(out, "    {user: \"%s\", password: \"%s\", permissions: {\n", r->user, pw);
        }
        fprintf(out, "      publish: {allow: ");
        write_list(out, r->pub);
        fprintf(out, "}\n      subscribe: {allow: ");
        write_list(out, r->sub);
        fprintf(out, "}\n");
        if (r->responds) fprintf(out, "      allow_responses: true\n");
        fprintf(out, "    }}\n");
    }
    fprintf(out, "  ]\n}\n");
    memset(pw, 0, sizeof(pw));
    return 0;
}

static void write_cell(FILE *out, const char *const *list, const char *extra) {
    fputs(" |", out);
    for (int i = 0; list[i]; i++)
        fprintf(out, "%s`%s`", i ? ", " : " ", list[i]);
    if (extra) fprintf(out, "%s%s", list[0] ? ", " : " ", extra);
}

void roles_write_doc(FILE *out) {
    fprintf(out, "| Role | NATS user | May publish | May subscribe |\n");
    fprintf(out, "|---|---|---|---|\n");
    for (const struct role *r = roles; r->name; r++) {
        fprintf(out, "| %s | `%s`", r->name, r->user);
        write_cell(out, r->pub, r->responds ? "replies to requests it received" : NULL);
        write_cell(out, r->sub, NULL);
        fprintf(out, " |\n");
    }
}
