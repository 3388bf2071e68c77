/*
 * schema.h - the database layout (adapter): AstroFiler's schema created when the daemon
 * starts on a database that does not exist yet, astrocald's own astrocal_* tables with
 * ordered migrations and a schema version, and discovery of which AstroFiler schema
 * variant (migrated, or created from the models alone) an existing database has.
 *
 * AstroFiler's tables and its migratehistory are never altered in an existing database.
 *
 * Ownership: ac_schema_info_t is a plain value. Thread: loop thread only (the owner of the
 * ac_db_t); every function checks it.
 */
#ifndef AC_SCHEMA_H
#define AC_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

#include "db.h"
#include "err.h"

/* The astrocal_* schema version this build writes (astrocal_meta 'schema_version'). */
#define AC_SCHEMA_VERSION 10
/* The version that added astrocal_pin and astrocal_link (manual masters, pin.h). */
#define AC_SCHEMA_PIN 7

/* Optional AstroFiler columns, as bits of ac_schema_info.cols. The first group exists only
 * in migrated databases; the rest exist in both variants of AstroFiler 1.2 but are
 * discovered too, so a database from an older AstroFiler still works. */
enum {
    AC_COL_FILE_MASTER_BIAS = 1u << 0, /* fitsfile.fitsFileMasterBias */
    AC_COL_FILE_MASTER_DARK = 1u << 1, /* fitsfile.fitsFileMasterDark */
    AC_COL_FILE_MASTER_FLAT = 1u << 2, /* fitsfile.fitsFileMasterFlat */
    AC_COL_SESS_MASTERS = 1u << 3,     /* fitssession.fitsBiasMaster/DarkMaster/FlatMaster */
    AC_COL_SESS_CREATED = 1u << 4,     /* fitssession.master_dark/flat/bias_created */
    AC_COL_FILE_SOFTDELETE = 1u << 5,  /* fitsfile.fitsFileSoftDelete */
    AC_COL_FILE_CALDATE = 1u << 6,     /* fitsfile.fitsFileCalibrationDate */
    AC_COL_FILE_ORIGINAL = 1u << 7,    /* fitsfile.fitsFileOriginalFile */
    AC_COL_FILE_ORIG_CLOUD = 1u << 8,  /* fitsfile.fitsFileOriginalCloudURL */
    AC_COL_FILE_CLOUD = 1u << 9,       /* fitsfile.fitsFileCloudURL */
    AC_COL_FILE_OBSERVER = 1u << 10,   /* fitsfile.fitsFileObserver and fitsFileNotes */
    AC_COL_SESS_AUTOCAL = 1u << 11,    /* fitssession.is_auto_calibration */
    AC_COL_FILE_QUALITY = 1u << 12,    /* fitsfile.fitsFileAvgFWHMArcsec ... (migration 009) */
    AC_COL_SESS_QUALITY = 1u << 13,    /* fitssession.fitsSessionAvgFWHMArcsec ... (010) */
};

typedef struct ac_schema_info {
    /* Table names as stored (SQLite compares them case-insensitively, so queries use
     * fixed lower-case names; these are for messages). "" when the table is absent. */
    char fitsfile[64], fitssession[64], masters[64], mapping[64], migratehistory[64];
    unsigned cols;        /* AC_COL_* present */
    bool migrated;        /* fitsFileMaster* present: the migrated variant */
    bool created;         /* ac_schema_prepare created AstroFiler's schema at this open */
    int astrocal_version; /* astrocal schema version after ac_schema_prepare */
} ac_schema_info_t;

/*
 * ac_schema_prepare readies an open database: on a database with none of AstroFiler's
 * tables it creates AstroFiler's migrated schema (the DDL observed from AstroFiler 1.2.3)
 * and records AstroFiler's migrations in migratehistory, in one transaction; it refuses a
 * database that has only some of AstroFiler's core tables (fitsfile, fitssession). Then it
 * runs astrocald's migrations up to AC_SCHEMA_VERSION (each in its own transaction),
 * refusing a database whose astrocal version is newer than this build knows, discovers
 * the variant, stores the result in db (ac_db_schema) and copies it to out (may be NULL).
 * Idempotent. 0, AC_ESQLITE, AC_EBUSY or -ENOMEM.
 */
int ac_schema_prepare(ac_db_t *db, ac_schema_info_t *out, ac_err_t *e);

/* ac_schema_discover re-reads table names and optional columns (call it again when
 * AstroFiler may have migrated its schema meanwhile), stores the result in db and copies
 * it to out (may be NULL). */
int ac_schema_discover(ac_db_t *db, ac_schema_info_t *out, ac_err_t *e);

/* ac_schema_require sets *out to the description stored in db, discovering it first when
 * none is stored. The pointer is borrowed (see ac_db_schema). */
int ac_schema_require(ac_db_t *db, const ac_schema_info_t **out, ac_err_t *e);

/* ac_schema_version reads the astrocal schema version (0 when astrocal_meta is absent). */
int ac_schema_version(ac_db_t *db, int *out, ac_err_t *e);

/* ac_schema_migrate runs astrocald's migrations from the current version up to target
 * (1..AC_SCHEMA_VERSION); used by ac_schema_prepare, and by tests to build a database at
 * an earlier version. */
int ac_schema_migrate(ac_db_t *db, int target, ac_err_t *e);

/* ac_schema_astrofiler_migrations returns the migration names recorded in migratehistory
 * when astrocald creates AstroFiler's schema (static array, *n entries). */
const char *const *ac_schema_astrofiler_migrations(size_t *n);

#endif
