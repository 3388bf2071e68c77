/*
 * test-schema.c - AstroFiler schema creation, astrocal migrations and variant discovery
 * (daemon/catalog/schema.c), on database files in the test's temporary directory. The expected
 * AstroFiler layout is typed here from astrofiler-db.md, independently of schema.c.
 */
#include <sqlite3.h>
#include <string.h>

#include "afdb.h"
#include "catalog.h"
#include "db.h"
#include "dbtest.h"
#include "schema.h"
#include "test.h"
#include "util.h"

/* "name TYPE notnull pk" per column, joined by ", ", from PRAGMA table_info. */
static void table_layout(sqlite3 *h, const char *table, char *out, size_t size)
{
    sqlite3_stmt *st = NULL;
    size_t n = 0;

    out[0] = '\0';
    ASSERT_EQ(
        sqlite3_prepare_v2(h, "SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1)",
                           -1, &st, NULL),
        SQLITE_OK);
    sqlite3_bind_text(st, 1, table, -1, SQLITE_TRANSIENT);
    while (sqlite3_step(st) == SQLITE_ROW) {
        n += (size_t)snprintf(out + n, size - n, "%s%s %s %d %d", n ? ", " : "",
                              (const char *)sqlite3_column_text(st, 0),
                              (const char *)sqlite3_column_text(st, 1),
                              sqlite3_column_int(st, 2), sqlite3_column_int(st, 3));
        ASSERT(n < size);
    }
    sqlite3_finalize(st);
}

/* Expected layouts, from astrofiler-db.md "Schema (migrated database ...)". */
static const char exp_migratehistory[] =
    "id INTEGER 1 1, name VARCHAR(255) 1 0, migrated_at DATETIME 1 0";
static const char exp_fitsfile[] =
    "fitsFileId TEXT 1 1, fitsFileName TEXT 0 0, fitsFileDate DATE 0 0, "
    "fitsFileCalibrated INTEGER 0 0, fitsFileType TEXT 0 0, fitsFileStacked INTEGER 0 0, "
    "fitsFileObject TEXT 0 0, fitsFileExpTime TEXT 0 0, fitsFileXBinning TEXT 0 0, "
    "fitsFileYBinning TEXT 0 0, fitsFileCCDTemp TEXT 0 0, fitsFileTelescop TEXT 0 0, "
    "fitsFileInstrument TEXT 0 0, fitsFileGain TEXT 0 0, fitsFileOffset TEXT 0 0, "
    "fitsFileFilter TEXT 0 0, fitsFileHash TEXT 0 0, fitsFileSession TEXT 0 0, "
    "fitsFileCloudURL TEXT 0 0, fitsFileSoftDelete INTEGER 0 0, "
    "fitsFileCalibrationDate DATETIME 0 0, fitsFileMasterBias TEXT 0 0, "
    "fitsFileMasterDark TEXT 0 0, fitsFileMasterFlat TEXT 0 0, fitsFileOriginalFile TEXT 0 0, "
    "fitsFileOriginalCloudURL TEXT 0 0, fitsFileObserver TEXT 0 0, fitsFileNotes TEXT 0 0, "
    "fitsFileAvgFWHMArcsec REAL 0 0, fitsFileAvgEccentricity REAL 0 0, "
    "fitsFileAvgHFRArcsec REAL 0 0, fitsFileImageSNR REAL 0 0, fitsFileStarCount INTEGER 0 0, "
    "fitsFileImageScale REAL 0 0";
static const char exp_fitssession[] =
    "fitsSessionId TEXT 1 1, fitsSessionObjectName TEXT 0 0, fitsSessionDate DATE 0 0, "
    "fitsSessionTelescope TEXT 0 0, fitsSessionImager TEXT 0 0, fitsSessionExposure TEXT 0 0, "
    "fitsSessionBinningX TEXT 0 0, fitsSessionBinningY TEXT 0 0, fitsSessionCCDTemp TEXT 0 0, "
    "fitsSessionGain TEXT 0 0, fitsSessionOffset TEXT 0 0, fitsSessionFilter TEXT 0 0, "
    "fitsBiasSession TEXT 0 0, fitsDarkSession TEXT 0 0, fitsFlatSession TEXT 0 0, "
    "fitsBiasMaster TEXT 0 0, fitsDarkMaster TEXT 0 0, fitsFlatMaster TEXT 0 0, "
    "is_auto_calibration INTEGER 0 0, auto_calibration_dark_session_id TEXT 0 0, "
    "auto_calibration_flat_session_id TEXT 0 0, auto_calibration_bias_session_id TEXT 0 0, "
    "master_dark_created INTEGER 0 0, master_flat_created INTEGER 0 0, "
    "master_bias_created INTEGER 0 0, fitsSessionAvgFWHMArcsec REAL 0 0, "
    "fitsSessionAvgEccentricity REAL 0 0, fitsSessionAvgHFRArcsec REAL 0 0, "
    "fitsSessionImageSNR REAL 0 0, fitsSessionStarCount INTEGER 0 0, "
    "fitsSessionImageScale REAL 0 0";
static const char exp_mapping[] =
    "id INTEGER 0 1, card VARCHAR(20) 0 0, current VARCHAR(255) 0 0, "
    "replace VARCHAR(255) 0 0";
static const char exp_masters[] =
    "id INTEGER 1 1, master_id TEXT 1 0, master_type TEXT 1 0, master_path TEXT 1 0, "
    "creation_date DATETIME 1 0, telescope TEXT 0 0, instrument TEXT 0 0, "
    "exposure_time TEXT 0 0, binning_x TEXT 0 0, binning_y TEXT 0 0, ccd_temp TEXT 0 0, "
    "gain TEXT 0 0, offset TEXT 0 0, filter_name TEXT 0 0, source_session_id TEXT 0 0, "
    "file_count INTEGER 1 0, quality_score REAL 0 0, file_size INTEGER 0 0, "
    "hash_value TEXT 0 0, cloud_url TEXT 0 0, is_validated INTEGER 1 0, "
    "validation_date DATETIME 0 0, notes TEXT 0 0, soft_delete INTEGER 1 0";

/* "index unique: columns; ..." of the AstroFiler tables' explicit indexes, sorted. */
static void index_layout(sqlite3 *h, char *out, size_t size)
{
    sqlite3_stmt *st = NULL;
    size_t n = 0;
    const char *sql =
        "SELECT m.name || ' ' || il.\"unique\" || ': ' || (SELECT group_concat(ii.name, ',') "
        "FROM pragma_index_info(il.name) AS ii) FROM sqlite_master AS m, "
        "pragma_index_list(m.name) AS il WHERE m.type = 'table' AND m.name NOT LIKE "
        "'astrocal%' "
        "AND il.origin = 'c' ORDER BY 1";

    out[0] = '\0';
    ASSERT_EQ(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        n += (size_t)snprintf(out + n, size - n, "%s%s", n ? "; " : "",
                              (const char *)sqlite3_column_text(st, 0));
        ASSERT(n < size);
    }
    sqlite3_finalize(st);
}

static const char exp_indexes[] =
    "Masters 1: master_id; fitsfile 0: fitsFileHash; fitsfile 0: fitsFileSession; "
    "fitsfile 0: fitsFileType; fitssession 0: fitsSessionDate; "
    "fitssession 0: fitsSessionObjectName";

static ac_db_t *open_prepared(const char *path, ac_schema_info_t *si)
{
    ac_err_t e = {0};
    ac_db_t *db = ac_db_open(path, NULL, &e);

    if (db == NULL)
        AC_TEST_FAIL("open: %s", e.msg);
    if (ac_schema_prepare(db, si, &e) != 0)
        AC_TEST_FAIL("prepare: %s", e.msg);
    return db;
}

TEST(schema_new_database_matches_astrofiler_reference)
{
    static char got[4096];
    ac_schema_info_t si;
    ac_db_t *db = open_prepared("astrofiler.db", &si);
    sqlite3 *h = ac_db_handle(db);
    sqlite3_stmt *st = NULL;
    size_t n = 0;
    const char *const *names = ac_schema_astrofiler_migrations(&n);
    const char *expected_names[] = {"001_initial_schema",
                                    "002_add_master_calibration_fields",
                                    "003_add_mapping_table",
                                    "004_remove_is_default_from_mapping",
                                    "006_add_cloud_url_field",
                                    "007_add_calibration_fields",
                                    "008_add_session_autocal_fields",
                                    "009_add_observer_notes_fields",
                                    "009_add_quality_metrics_fields",
                                    "010_add_masters_table",
                                    "010_add_session_quality_fields"};
    int i = 0;

    ASSERT(si.created);
    ASSERT(si.migrated);
    ASSERT_EQ(si.astrocal_version, AC_SCHEMA_VERSION);
    ASSERT_STR_EQ(si.fitsfile, "fitsfile");
    ASSERT_STR_EQ(si.fitssession, "fitssession");
    ASSERT_STR_EQ(si.masters, "Masters");
    ASSERT_STR_EQ(si.mapping, "mapping");
    ASSERT_STR_EQ(si.migratehistory, "migratehistory");
    table_layout(h, "migratehistory", got, sizeof got);
    ASSERT_STR_EQ(got, exp_migratehistory);
    table_layout(h, "fitsfile", got, sizeof got);
    ASSERT_STR_EQ(got, exp_fitsfile);
    table_layout(h, "fitssession", got, sizeof got);
    ASSERT_STR_EQ(got, exp_fitssession);
    table_layout(h, "mapping", got, sizeof got);
    ASSERT_STR_EQ(got, exp_mapping);
    table_layout(h, "Masters", got, sizeof got);
    ASSERT_STR_EQ(got, exp_masters);
    index_layout(h, got, sizeof got);
    ASSERT_STR_EQ(got, exp_indexes);
    /* Eleven migrations recorded, in order, with AstroFiler's timestamp format. */
    ASSERT_EQ(n, 11);
    ASSERT_EQ(sqlite3_prepare_v2(h,
                                 "SELECT id, name, migrated_at FROM migratehistory ORDER BY id",
                                 -1, &st, NULL),
              SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        ASSERT(i < 11);
        ASSERT_EQ(sqlite3_column_int(st, 0), i + 1);
        ASSERT_STR_EQ((const char *)sqlite3_column_text(st, 1), expected_names[i]);
        ASSERT_STR_EQ(names[i], expected_names[i]);
        ASSERT_EQ(strlen((const char *)sqlite3_column_text(st, 2)), 26);
        i++;
    }
    sqlite3_finalize(st);
    ASSERT_EQ(i, 11);
    ac_db_close(db);
}

TEST(schema_new_database_equals_helper_layout)
{
    static char ours[4096], theirs[4096];
    const char *tables[] = {"migratehistory", "fitsfile", "fitssession", "mapping", "Masters"};
    ac_db_t *db = open_prepared("ours.db", NULL);
    sqlite3 *ref = afdb_create("ref.db", AFDB_MIGRATED);

    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        table_layout(ac_db_handle(db), tables[i], ours, sizeof ours);
        table_layout(ref, tables[i], theirs, sizeof theirs);
        ASSERT_STR_EQ(ours, theirs);
    }
    index_layout(ac_db_handle(db), ours, sizeof ours);
    index_layout(ref, theirs, sizeof theirs);
    ASSERT_STR_EQ(ours, theirs);
    sqlite3_close(ref);
    ac_db_close(db);
}

/* Concatenated sql of AstroFiler's objects and its migratehistory rows. */
static void astrofiler_snapshot(sqlite3 *h, char *out, size_t size)
{
    sqlite3_stmt *st = NULL;
    size_t n = 0;
    /* sqlite_sequence is SQLite's own (astrocal_event uses AUTOINCREMENT). */
    const char *sql = "SELECT sql FROM sqlite_master WHERE name NOT LIKE 'astrocal%' AND name "
                      "NOT LIKE 'sqlite_%' AND sql IS NOT NULL UNION ALL SELECT name || "
                      "migrated_at FROM migratehistory";

    out[0] = '\0';
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK) /* models: no history */
        sql = "SELECT sql FROM sqlite_master WHERE name NOT LIKE 'astrocal%' AND name NOT "
              "LIKE 'sqlite_%' AND sql IS NOT NULL";
    sqlite3_finalize(st);
    ASSERT_EQ(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        n += (size_t)snprintf(out + n, size - n, "%s\n",
                              (const char *)sqlite3_column_text(st, 0));
        ASSERT(n < size);
    }
    sqlite3_finalize(st);
}

TEST(schema_existing_databases_are_not_altered)
{
    static char before[32768], after[32768];

    for (int v = AFDB_MIGRATED; v <= AFDB_MODELS; v++) {
        const char *path = v == AFDB_MIGRATED ? "migrated.db" : "models.db";
        sqlite3 *h = afdb_create(path, (afdb_variant_t)v);
        afdb_file_t f =
            afdb_light("f1", "s1", "/data/m31_001.fits", "2024-10-05T02:10:07.25", "300");
        ac_schema_info_t si;
        ac_db_t *db;

        afdb_add_file(h, &f);
        astrofiler_snapshot(h, before, sizeof before);
        sqlite3_close(h);
        db = open_prepared(path, &si);
        ASSERT(!si.created);
        ASSERT_EQ(si.astrocal_version, AC_SCHEMA_VERSION);
        astrofiler_snapshot(ac_db_handle(db), after, sizeof after);
        ASSERT_STR_EQ(after, before);
        ASSERT_EQ(afdb_int(ac_db_handle(db), "SELECT COUNT(*) FROM fitsfile", NULL, -1), 1);
        ac_db_close(db);
    }
}

TEST(schema_discovers_models_only_variant)
{
    sqlite3 *h = afdb_create("models.db", AFDB_MODELS);
    ac_schema_info_t si;
    ac_db_t *db;

    sqlite3_close(h);
    db = open_prepared("models.db", &si);
    ASSERT(!si.migrated);
    ASSERT_STR_EQ(si.fitsfile, "fitsFile");
    ASSERT_STR_EQ(si.fitssession, "fitsSession");
    ASSERT_STR_EQ(si.mapping, "Mapping");
    ASSERT_STR_EQ(si.masters, "Masters");
    ASSERT_STR_EQ(si.migratehistory, ""); /* and none was created */
    ASSERT_EQ(si.cols & (AC_COL_FILE_MASTER_BIAS | AC_COL_FILE_MASTER_DARK |
                         AC_COL_FILE_MASTER_FLAT | AC_COL_SESS_MASTERS | AC_COL_SESS_CREATED),
              0);
    ASSERT(si.cols & AC_COL_FILE_SOFTDELETE);
    ASSERT(si.cols & AC_COL_FILE_ORIGINAL);
    ASSERT(si.cols & AC_COL_FILE_CALDATE);
    ASSERT(si.cols & AC_COL_SESS_AUTOCAL);
    ac_db_close(db);
}

static const char *const astrocal_tables[] = {"astrocal_meta",  "astrocal_session",
                                              "astrocal_file",  "astrocal_record",
                                              "astrocal_event", "astrocal_master_seen"};

TEST(schema_migrates_from_empty_astrocal_and_reopens_idempotently)
{
    ac_db_t *db = dbtest_create("af.db", AFDB_MIGRATED);
    ac_err_t e = {0};
    int v = -1;

    ASSERT_OK(ac_schema_version(db, &v, &e));
    ASSERT_EQ(v, 0);
    ASSERT_OK(ac_schema_migrate(db, 1, &e));
    ASSERT_OK(ac_schema_version(db, &v, &e));
    ASSERT_EQ(v, 1);
    for (size_t i = 0; i < sizeof astrocal_tables / sizeof astrocal_tables[0]; i++)
        ASSERT_EQ(afdb_int(ac_db_handle(db),
                           "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND "
                           "name = ?1",
                           astrocal_tables[i], -1),
                  1);
    ASSERT_STR_EQ(afdb_text(ac_db_handle(db),
                            "SELECT value FROM astrocal_meta WHERE key = 'schema_version'",
                            NULL, (char[16]){0}, 16),
                  "1");
    /* A row survives re-opening and re-preparing. */
    ASSERT_OK(ac_db_exec(
        db, "INSERT INTO astrocal_session (session_id, state) VALUES ('s', 'queued')", &e));
    ac_db_close(db);
    for (int k = 0; k < 2; k++) {
        long long objects;
        db = open_prepared("af.db", NULL);
        objects = afdb_int(ac_db_handle(db), "SELECT COUNT(*) FROM sqlite_master", NULL, -1);
        ASSERT_EQ(afdb_int(ac_db_handle(db), "SELECT COUNT(*) FROM astrocal_session", NULL, -1),
                  1);
        ASSERT_EQ(afdb_int(ac_db_handle(db), "SELECT COUNT(*) FROM migratehistory", NULL, -1),
                  11);
        ac_db_close(db);
        db = open_prepared("af.db", NULL);
        ASSERT_EQ(afdb_int(ac_db_handle(db), "SELECT COUNT(*) FROM sqlite_master", NULL, -1),
                  objects);
        ac_db_close(db);
    }
}

TEST(schema_refuses_a_newer_astrocal_version)
{
    ac_db_t *db = open_prepared("n.db", NULL);
    ac_err_t e = {0};

    ASSERT_OK(ac_db_exec(db,
                         "UPDATE astrocal_meta SET value = '99' WHERE key = "
                         "'schema_version'",
                         NULL));
    ac_db_close(db);
    db = ac_db_open("n.db", NULL, NULL);
    ASSERT_EQ(ac_schema_prepare(db, NULL, &e), AC_ESQLITE);
    ASSERT_CONTAINS(e.msg, "newer");
    ASSERT_CONTAINS(e.msg, "99");
    ac_db_close(db);
}

TEST(schema_refuses_a_partial_astrofiler_database)
{
    ac_db_t *db = ac_db_open("p.db", NULL, NULL);
    ac_err_t e = {0};

    ASSERT_OK(ac_db_exec(db, "CREATE TABLE \"Masters\" (id INTEGER PRIMARY KEY)", NULL));
    ASSERT_EQ(ac_schema_prepare(db, NULL, &e), AC_ESQLITE);
    ASSERT_CONTAINS(e.msg, "not an AstroFiler database");
    ASSERT_CONTAINS(e.msg, "fitsfile");
    ASSERT_EQ(afdb_int(ac_db_handle(db), "SELECT COUNT(*) FROM sqlite_master", NULL, -1), 1);
    ac_db_close(db);
}

TEST(schema_tolerates_astrofiler_without_masters_table)
{
    ac_db_t *db = ac_db_open("old.db", NULL, NULL);
    ac_master_list_t ml = {0};
    ac_schema_info_t si;
    ac_err_t e = {0};

    /* AstroFiler's first migration only (001_initial_schema). */
    ASSERT_OK(
        ac_db_exec(db,
                   "CREATE TABLE fitsfile (fitsFileId TEXT NOT NULL PRIMARY KEY, "
                   "fitsFileName TEXT, fitsFileDate DATE, fitsFileCalibrated INTEGER, "
                   "fitsFileType TEXT, fitsFileStacked INTEGER, fitsFileObject TEXT, "
                   "fitsFileExpTime TEXT, fitsFileXBinning TEXT, fitsFileYBinning TEXT, "
                   "fitsFileCCDTemp TEXT, fitsFileTelescop TEXT, fitsFileInstrument TEXT, "
                   "fitsFileGain TEXT, fitsFileOffset TEXT, fitsFileFilter TEXT, "
                   "fitsFileHash TEXT, fitsFileSession TEXT);"
                   "CREATE TABLE fitssession (fitsSessionId TEXT NOT NULL PRIMARY KEY, "
                   "fitsSessionObjectName TEXT, fitsSessionDate DATE, "
                   "fitsSessionTelescope TEXT, fitsSessionImager TEXT, "
                   "fitsSessionExposure TEXT, fitsSessionBinningX TEXT, "
                   "fitsSessionBinningY TEXT, fitsSessionCCDTemp TEXT, fitsSessionGain "
                   "TEXT, fitsSessionOffset TEXT, fitsSessionFilter TEXT, "
                   "fitsBiasSession TEXT, fitsDarkSession TEXT, fitsFlatSession TEXT)",
                   NULL));
    ASSERT_OK(ac_schema_prepare(db, &si, &e));
    ASSERT_STR_EQ(si.masters, "");
    ASSERT_EQ(si.cols, 0);
    ASSERT_OK(ac_catalog_masters(db, &ml, &e));
    ASSERT_EQ(ml.n, 0);
    ac_catalog_masters_free(&ml);
    ac_db_close(db);
}
