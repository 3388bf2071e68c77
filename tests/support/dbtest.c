/*
 * dbtest.c - one-value queries on a catalogue opened by astrocald; the contract is in
 * dbtest.h.
 */
#include "dbtest.h"

#include "afdb.h"

long long q_int(ac_db_t *db, const char *sql, const char *arg)
{
    return afdb_int(ac_db_handle(db), sql, arg, -999);
}

const char *q_text(ac_db_t *db, const char *sql, const char *arg)
{
    static char buf[8][512];
    static int k;

    k = (k + 1) % 8;
    return afdb_text(ac_db_handle(db), sql, arg, buf[k], sizeof buf[k]);
}
