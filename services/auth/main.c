/*
 * qw-auth: wiring only. Starts the shared daemon frame (settings, logging,
 * NATS, ops listener), settles the token key and the admin password with
 * Postgres, starts the worker pool on qw.auth.* (queue "auth"), and only
 * then answers health (ready); waits for SIGTERM/SIGINT and stops cleanly.
 */
#include "auth.h"
#include "service.h"
#include "subjects.h"

#include <string.h>

static const struct service_route routes[] = {
    {SUBJ_AUTH_LOGIN, handle_login},
    {SUBJ_AUTH_LOGOUT, handle_logout},
    {SUBJ_AUTH_VERIFY, handle_verify},
    {SUBJ_AUTH_JOIN, handle_join},
    {NULL, NULL},
};

int main(void) {
    static struct auth a;
    struct service *svc = NULL;
    struct db *db = NULL;
    int rc = 1;
    if (daemon_start(&a.d, "auth", CFG_AUTH, SUBJ_HEALTH_AUTH, 1) != 0) goto out;
    a.admin_user = config_str("QW_ADMIN_USER");
    a.admin_ttl_s = config_int("QW_ADMIN_TOKEN_TTL_S");
    a.student_ttl_s = config_int("QW_STUDENT_TOKEN_TTL_S");
    a.login_limit = config_int("QW_LOGIN_LIMIT");
    a.max_students = config_int("QW_MAX_STUDENTS");
    a.join_fail_limit = config_int("QW_JOIN_FAIL_LIMIT");
    if (join_flush_init(&a.jf) != 0) goto out;
    if (!(db = db_open(config_str("QW_DB_URL")))) goto out;
    if (auth_load_key(&a, db) != 0 || auth_init_admin(&a, db) != 0) goto out;
    db_free(db);
    db = NULL;
    svc = service_start(a.d.nc, SUBJ_AUTH_ALL, QUEUE_AUTH, routes, (int)config_int("QW_WORKERS"),
                        config_str("QW_DB_URL"), &a);
    if (!svc || daemon_ready(&a.d) != 0) goto out;
    rc = 0;
    daemon_wait(&a.d);
out:
    service_stop(svc);
    join_flush_destroy(&a.jf);
    db_free(db);
    daemon_finish(&a.d);
    explicit_bzero(a.key, sizeof(a.key));
    return rc;
}
