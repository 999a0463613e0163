/*
 * roles: who may use which NATS subject, in one table.
 *
 * Every daemon connects to NATS as the user of its role (QW_NATS_USER with
 * the password in QW_NATS_PASSWORD_FILE). The table below is the only place
 * that says which subjects a role may publish and subscribe; qw-nats-roles
 * prints from it both the authorization block of nats-server's
 * configuration and the table in docs/ARCHITECTURE.md, so the two cannot
 * drift from each other or from subjects.h.
 */
#ifndef QW_ROLES_H
#define QW_ROLES_H

#include <stdio.h>

#define ROLE_MAX_SUBJECTS 12

struct role {
    const char *name;                   /* role, e.g. "auth" */
    const char *user;                   /* NATS user name, e.g. "qw_auth" */
    int responds;                       /* may answer requests it received (allow_responses) */
    const char *pub[ROLE_MAX_SUBJECTS]; /* NULL-terminated */
    const char *sub[ROLE_MAX_SUBJECTS]; /* NULL-terminated */
};

/* The roles, ended by a row with name NULL. */
extern const struct role roles[];

/* The role named `name`, or NULL. */
const struct role *role_find(const char *name);

/* Writes the `authorization { users = [...] }` block of nats.conf. Each
 * user's password is read from `secret_dir`/nats-<role>.password (first
 * line), or, when secret_dir is NULL, named as the environment variable
 * $QW_NATS_<ROLE>_PASSWORD that nats-server reads at start (compose).
 * Returns 0, or -1 (with a message on stderr) when a file cannot be read or
 * holds a character nats.conf would not quote safely. */
int roles_write_nats_conf(FILE *out, const char *secret_dir);

/* Writes the Markdown table of roles x subjects for docs/ARCHITECTURE.md. */
void roles_write_doc(FILE *out);

#endif
