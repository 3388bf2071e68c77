/*
 * dbtest.h - one-value queries on a catalogue opened by astrocald (ac_db_t), for tests that
 * check what the daemon's code wrote (through afdb.h's raw SQLite reads). Built once into
 * the ac_testunit library (dbtest.c). Failures abort the test. Thread: the test's thread.
 */
#ifndef AC_DBTEST_H
#define AC_DBTEST_H

#include "db.h"

/* q_int returns column 0 of the first row of sql (?1 = arg, may be NULL) as an integer,
 * -999 when there is none or it is NULL. */
long long q_int(ac_db_t *db, const char *sql, const char *arg);

/* q_text returns column 0 of the first row of sql (?1 = arg, may be NULL) as text, or NULL,
 * in one of 8 static buffers used in turn (so a few results may be compared). */
const char *q_text(ac_db_t *db, const char *sql, const char *arg);

#endif
