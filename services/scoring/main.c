/*
 * qw-scoring: wiring only. Starts the daemon frame, the submit batcher
 * (group commit of qw.scoring.submit) and the results workers, and only
 * then answers health (ready); stops them in reverse order on
 * SIGTERM/SIGINT.
 */
#include "scoring.h"
#include "service.h"
#include "subjects.h"

static const struct service_route query_routes[] = {
    {SUBJ_SCORING_RESULTS, handle_results},
    {NULL, NULL},
};

int main(void) {
    static struct scoring sc;
    struct service *queries = NULL;
    struct batcher *batcher = NULL;
    int rc = 1;
    if (daemon_start(&sc.d, "scoring", CFG_SCORING, SUBJ_HEALTH_SCORING, 1) != 0) goto out;
    sc.db_url = config_str("QW_DB_URL");
    sc.batch_max = (int)config_int("QW_BATCH_MAX");
    sc.batch_wait_ms = (int)config_int("QW_BATCH_WAIT_MS");
    sc.batch_retry_ms = (int)config_int("QW_BATCH_RETRY_MS");
    sc.stats_interval_ms = (int)config_int("QW_STATS_INTERVAL_MS");
    submit_metrics_register();
    queries = service_start(sc.d.nc, SUBJ_SCORING_RESULTS, QUEUE_SCORING_QUERY, query_routes,
                            (int)config_int("QW_WORKERS"), sc.db_url, &sc);
    if (!queries) goto out;
    if (!(batcher = submit_start(&sc))) goto out;
    if (daemon_ready(&sc.d) != 0) goto out;
    rc = 0;
    daemon_wait(&sc.d);
out:
    submit_stop(batcher);
    service_stop(queries);
    daemon_finish(&sc.d);
    return rc;
}
