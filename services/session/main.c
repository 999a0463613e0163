/*
 * qw-session: wiring only. Starts the daemon frame, the lifecycle thread
 * (commands and timers of the sessions of the shards this instance holds,
 * lease.c), the query workers (any instance answers them) and the picture
 * workers, then answers health (ready); stops cleanly on SIGTERM/SIGINT.
 * The lifecycle comes first: a restart takes its shards and re-arms their
 * timers before the workers' Postgres logins (six by default, over a
 * second on a loaded machine), so a question open across a crash closes
 * sooner.
 */
#include "service.h"
#include "session.h"
#include "subjects.h"

static const struct service_route query_routes[] = {
    {SUBJ_QUIZ_CREATE, handle_quiz_create},
    {SUBJ_QUIZ_LIST, handle_quiz_list},
    {SUBJ_QUIZ_GET, handle_quiz_get},
    {SUBJ_QUIZ_PUT, handle_quiz_put},
    {SUBJ_QUIZ_DUPLICATE, handle_quiz_duplicate},
    {SUBJ_QUIZ_DELETE, handle_quiz_delete},
    {SUBJ_QUIZ_VALIDATE, handle_quiz_validate},
    {SUBJ_SESSION_CREATE, handle_session_create},
    {SUBJ_SESSION_LIST, handle_session_list},
    {SUBJ_SESSION_GET, handle_session_get},
    {SUBJ_SESSION_SNAPSHOT, handle_snapshot},
    {SUBJ_LOBBY_LOCK, handle_lobby_lock},
    {SUBJ_LOBBY_TWO_STEP, handle_lobby_two_step},
    {SUBJ_LOBBY_SHAPES, handle_lobby_shapes},
    {SUBJ_LOBBY_REMOVE, handle_lobby_remove},
    {SUBJ_TIME_FACTOR, handle_time_factor},
    {NULL, NULL},
};

/* Pictures have workers (and Postgres connections) of their own: an upload
 * of half a megabyte, or a gateway's first fetch, never waits behind the
 * session queries nor holds them up. Two: pictures are cached by every
 * gateway, so they are asked for about once per picture per gateway. */
#define IMAGE_WORKERS 2

static const struct service_route image_routes[] = {
    {SUBJ_IMAGE_PUT, handle_image_put},
    {SUBJ_IMAGE_GET, handle_image_get},
    {NULL, NULL},
};

int main(void) {
    static struct session_daemon sd;
    struct service *queries = NULL, *images = NULL;
    int rc = 1;
    if (daemon_start(&sd.d, "session", CFG_SESSION, SUBJ_HEALTH_SESSION, 1) != 0) goto out;
    sd.db_url = config_str("QW_DB_URL");
    if (!(sd.lc = lifecycle_start(&sd))) goto out;
    queries = service_start(sd.d.nc, SUBJ_SESSION_QUERY_ALL, QUEUE_SESSION_QUERY, query_routes,
                            (int)config_int("QW_WORKERS"), sd.db_url, &sd);
    if (!queries) goto out;
    images = service_start(sd.d.nc, SUBJ_IMAGE_ALL, QUEUE_IMAGE, image_routes, IMAGE_WORKERS,
                           sd.db_url, &sd);
    if (!images) goto out;
    if (daemon_ready(&sd.d) != 0) goto out;
    rc = 0;
    daemon_wait(&sd.d);
out:
    lifecycle_stop(sd.lc);
    service_stop(images);
    service_stop(queries);
    daemon_finish(&sd.d);
    return rc;
}
