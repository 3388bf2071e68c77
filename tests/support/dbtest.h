/*
 * dbtest.h - catalogues for the tests that check what astrocald's code reads and writes:
 * databases laid out by afdb.h opened with the daemon's connection (ac_db_t), fitsfile rows
 * at predictable paths, one-value queries (through afdb.h's raw SQLite reads), and the light
 * catalogue with the quirks of astrofiler-db.md that the catalogue tests (test-catalog*.c)
 * share. Built once into the ac_testunit library (dbtest.c).
 *
 * Every function aborts the test (the forked child) on failure. Ownership: an ac_db_t
 * returned is the test's (ac_db_close). Thread: the test's thread.
 */
#ifndef AC_DBTEST_H
#define AC_DBTEST_H

#include <sqlite3.h>

#include "afdb.h"
#include "db.h"

/* q_int returns column 0 of the first row of sql (?1 = arg, may be NULL) as an integer,
 * -999 when there is none or it is NULL. */
long long q_int(ac_db_t *db, const char *sql, const char *arg);

/* q_text returns column 0 of the first row of sql (?1 = arg, may be NULL) as text, or NULL,
 * in one of 8 static buffers used in turn (so a few results may be compared). */
const char *q_text(ac_db_t *db, const char *sql, const char *arg);

/* dbtest_create lays out the AstroFiler variant v at path and opens it with the daemon's
 * connection, astrocald's schema not prepared (for the migration tests). */
ac_db_t *dbtest_create(const char *path, afdb_variant_t v);

/* dbtest_open closes h (the afdb handle that laid out path; NULL: none), opens path with
 * the daemon's connection and prepares astrocald's schema. */
ac_db_t *dbtest_open(sqlite3 *h, const char *path);

/* dbtest_add_file inserts f with fitsFileName "<dir>/<id>.fits". */
void dbtest_add_file(sqlite3 *h, const char *dir, afdb_file_t f);

/*
 * lights_db lays out the variant v in cat-migrated.db or cat-models.db and opens it
 * (dbtest_open). Sessions S1 'M 31' 2024-10-04, S2 'M 42', S3 'NGC 7000' (dated earlier),
 * SD 'Dark'. Lights (/data/lights/<id>.fits) of S1: L1, L2 ('LIGHT', NULL booleans,
 * '300.0'), L3 ('Light Frame'), L4 (calibrated), L5 (soft-deleted), C1 (a calibrated output
 * of L0); L6 of S3; M2L of S2 (calibrated); U1 without a session; L7 of S9 (no fitssession
 * row); and the dark D1 (/data/darks/D1.fits) in S1.
 */
ac_db_t *lights_db(afdb_variant_t v);

#endif
