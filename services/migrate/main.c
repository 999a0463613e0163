/*
 * qw-migrate: applies the numbered SQL files of QW_MIGRATIONS_DIR to the
 * database at QW_DB_URL, each once, in order, then exits. Safe to run from
 * several places at once (an advisory lock serialises them).
 */
#include "config.h"
#include "db.h"
#include "log.h"

int main(void) {
    log_init("migrate", LOG_LEVEL_INFO);
    if (config_load(CFG_MIGRATE) != 0) return 2;
    struct db *db = db_open(config_str("QW_DB_URL"));
    if (!db) return 1;
    int rc = db_migrate(db, config_str("QW_MIGRATIONS_DIR"));
    db_free(db);
    if (rc == 0) LOG_INFO("migrations_done", "");
    return rc == 0 ? 0 : 1;
}
