/*
 * record: the shared reads of the quiz record (see record.h).
 */
#include "record.h"

#include <stdio.h>
#include <stdlib.h>

int record_counts(struct db_tx *tx, const char *sid, int idx, struct quiz_counts *c) {
    char sidx[16];
    snprintf(sidx, sizeof(sidx), "%d", idx);
    const char *p[2] = {sid, sidx};
    PGresult *r = db_tx_exec(tx, RECORD_COUNTS("$1", "$2::int"), 2, p);
    if (!r) return -1;
    for (int i = 0; i < PQntuples(r); i++)
        quiz_counts_add(c, PQgetvalue(r, i, 0), atoll(PQgetvalue(r, i, 1)));
    PQclear(r);
    return 0;
}
