/*
 * afdb.h - test helper: lays out an AstroFiler database exactly as AstroFiler does,
 * independently of daemon/catalog/schema.c (raw SQLite calls, DDL typed from
 * astrofiler-db.md and from AstroFiler 1.2's peewee models), and inserts realistic rows.
 * Built once into the ac_testsupport library (afdb.c).
 *
 * Variants:
 *   AFDB_MIGRATED - what AstroFiler's 11 migrations leave: tables fitsfile, fitssession,
 *                   mapping, Masters, migratehistory (11 rows), peewee's indexes;
 *   AFDB_MODELS   - created from the models alone: tables "fitsFile", "fitsSession",
 *                   "Mapping", "Masters", no fitsFileMaster*, fits*Master,
 *                   master_*_created columns, no non-unique indexes, no migratehistory.
 * Both are in WAL mode, as AstroFiler keeps its database.
 *
 * Value conventions of the rows (AstroFiler's importer): fitsFileType is the raw IMAGETYP
 * upper-cased ('LIGHT FRAME', 'LIGHT'); numbers are TEXT ('300' or '300.0', '-10.1');
 * gain and offset NULL; booleans 0/1 or NULL (AFDB_NULL).
 *
 * Every function aborts the test (the forked child) on failure. Strings passed in are
 * borrowed for the call. Thread: the test's thread.
 */
#ifndef AC_TEST_AFDB_H
#define AC_TEST_AFDB_H

#include <sqlite3.h>
#include <stddef.h>

typedef enum { AFDB_MIGRATED, AFDB_MODELS } afdb_variant_t;

/* An integer column value meaning SQL NULL. */
#define AFDB_NULL (-1)

/* A fitsfile row. NULL strings and AFDB_NULL integers are stored as NULL. */
typedef struct afdb_file {
    const char *id, *name, *date, *type, *object, *exptime, *xbin, *ybin, *ccdtemp;
    const char *telescop, *instrument, *gain, *offset, *filter, *hash, *session;
    const char *original, *cloud;
    int calibrated, softdelete, stacked;
} afdb_file_t;

/* A Masters row; every NOT NULL column is written (file_count, is_validated, soft_delete
 * default to 0 when zero-initialised). */
typedef struct afdb_master {
    const char *master_id, *type, *path, *creation_date, *telescope, *instrument;
    const char *exposure, *xbin, *ybin, *ccd_temp, *gain, *offset, *filter, *source_session;
    const char *hash;
    int file_count, is_validated, soft_delete;
    long long file_size; /* 0: NULL */
} afdb_master_t;

/* afdb_exec runs sql (one or more statements) on h. */
void afdb_exec(sqlite3 *h, const char *sql);

/* afdb_create makes a new database at path in the given variant (WAL, busy_timeout 5000
 * as AstroFiler) and returns an open handle, owned by the caller (sqlite3_close it). */
sqlite3 *afdb_create(const char *path, afdb_variant_t v);

/* afdb_add_file inserts f (columns common to both variants). */
void afdb_add_file(sqlite3 *h, const afdb_file_t *f);

/* afdb_light fills a light as AstroFiler's importer writes it (calibrated 0, soft delete
 * 0, gain/offset NULL, 'LIGHT FRAME', C14 / ASI294MM, 1x1, hash = id); callers change
 * fields. The strings are borrowed: they must outlive the row's use. */
afdb_file_t afdb_light(const char *id, const char *session, const char *path, const char *date,
                       const char *exptime);

/* afdb_add_session inserts a fitssession row as AstroFiler's createLightSessions does
 * (C14 / ASI294MM, 1x1; gain/offset copied from the files: NULL). */
void afdb_add_session(sqlite3 *h, const char *id, const char *object, const char *date,
                      const char *exposure, const char *temp, const char *filter);

/* afdb_add_master inserts m into Masters (creation_date defaults to a fixed time) and
 * returns its rowid. */
long long afdb_add_master(sqlite3 *h, const afdb_master_t *m);

/* afdb_text returns column 0 of the first row of sql (with one optional text parameter)
 * copied into buf (size bytes), or NULL when there is no row or the value is NULL. */
const char *afdb_text(sqlite3 *h, const char *sql, const char *arg, char *buf, size_t size);

/* afdb_int returns column 0 of the first row of sql as an integer (def when none/NULL). */
long long afdb_int(sqlite3 *h, const char *sql, const char *arg, long long def);

#endif
