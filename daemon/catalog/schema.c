/*
 * schema.c - AstroFiler's schema for new databases, astrocald's own tables and their
 * migrations, and discovery of the AstroFiler schema variant (see schema.h).
 *
 * AstroFiler's schema. When the daemon starts on a database that has none of AstroFiler's
 * tables, it creates them with the DDL that AstroFiler 1.2.3's own migrations leave behind
 * (astrofiler-db.md, copied verbatim so sqlite_master reads exactly as in a database
 * AstroFiler made), and records AstroFiler's migrations in migratehistory so that
 * AstroFiler (peewee-migrate's Router.run, which runs every migration file whose name is
 * not recorded) sees a fully migrated database and does not try to add columns that
 * already exist.
 *
 * UNCERTAINTY about the migration names: astrofiler-db.md says "all 11 AstroFiler
 * migrations" but does not list their names. The names below are the files of AstroFiler's
 * migrations/ directory (github.com/gordtulloch/astrofiler-gui) whose effects appear in
 * that schema, in peewee-migrate's (sorted) order: 001 creates fitsfile/fitssession, 002
 * adds fits*Master, 003/004 create mapping and drop its is_default, 006 adds
 * fitsFileCloudURL, 007 the calibration columns, 008 the session auto-calibration columns,
 * 009 observer/notes and the file quality metrics, 010 the Masters table and the session
 * quality metrics. The repository's history also holds compatibility shims
 * (007_create_masters_table, 008_remove_master_fields, 012_add_masters_table) and
 * 011_add_performance_indexes; the observed schema has none of 011's indexes, so it is not
 * recorded. Should a file not recorded here exist in the user's AstroFiler, AstroFiler runs
 * it: those shims are no-ops when the Masters table exists, and 011 only adds indexes
 * (CREATE INDEX IF NOT EXISTS), so a wrong guess costs an index, never a failed start.
 * The non-defensive migrations (002, 006, 009_add_quality_metrics_fields,
 * 010_add_session_quality_fields) are all recorded.
 *
 * astrocald's tables (prefix astrocal_) have their own version in astrocal_meta
 * ('schema_version'), never PRAGMA user_version, which belongs to the database's owner.
 *
 * CHECKLIST for a schema change (beanstalkd's Jobrec comment, adapted):
 *   1. add a migration at the end of `migrations` with the next version number; never
 *      edit a migration that has shipped;
 *   2. bump AC_SCHEMA_VERSION in schema.h;
 *   3. update the queries in catalog*.c, and the table description in
 *      daemon-design.md / docs;
 *   4. add a test in tests/unit/test-schema.c that opens a database at the previous
 *      version (ac_schema_migrate to it) and checks the migration keeps its rows.
 *
 * Thread: loop thread only (checked).
 */
#include "schema.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "util.h"

/* AstroFiler 1.2.3's migrated schema, from astrofiler-db.md. */
static const char astrofiler_ddl[] =
    "CREATE TABLE \"migratehistory\" (\"id\" INTEGER NOT NULL PRIMARY KEY, \"name\" "
    "VARCHAR(255) NOT NULL, \"migrated_at\" DATETIME NOT NULL);\n"
    "CREATE TABLE \"fitsfile\" (\n"
    "  \"fitsFileId\" TEXT NOT NULL PRIMARY KEY, \"fitsFileName\" TEXT, \"fitsFileDate\" "
    "DATE,\n"
    "  \"fitsFileCalibrated\" INTEGER, \"fitsFileType\" TEXT, \"fitsFileStacked\" INTEGER,\n"
    "  \"fitsFileObject\" TEXT, \"fitsFileExpTime\" TEXT, \"fitsFileXBinning\" TEXT, "
    "\"fitsFileYBinning\" TEXT,\n"
    "  \"fitsFileCCDTemp\" TEXT, \"fitsFileTelescop\" TEXT, \"fitsFileInstrument\" TEXT,\n"
    "  \"fitsFileGain\" TEXT, \"fitsFileOffset\" TEXT, \"fitsFileFilter\" TEXT, "
    "\"fitsFileHash\" TEXT,\n"
    "  \"fitsFileSession\" TEXT, \"fitsFileCloudURL\" TEXT, \"fitsFileSoftDelete\" INTEGER,\n"
    "  \"fitsFileCalibrationDate\" DATETIME,\n"
    "  \"fitsFileMasterBias\" TEXT, \"fitsFileMasterDark\" TEXT, \"fitsFileMasterFlat\" TEXT,\n"
    "  \"fitsFileOriginalFile\" TEXT, \"fitsFileOriginalCloudURL\" TEXT,\n"
    "  \"fitsFileObserver\" TEXT, \"fitsFileNotes\" TEXT,\n"
    "  \"fitsFileAvgFWHMArcsec\" REAL, \"fitsFileAvgEccentricity\" REAL, "
    "\"fitsFileAvgHFRArcsec\" REAL,\n"
    "  \"fitsFileImageSNR\" REAL, \"fitsFileStarCount\" INTEGER, \"fitsFileImageScale\" "
    "REAL);\n"
    "CREATE TABLE \"fitssession\" (\n"
    "  \"fitsSessionId\" TEXT NOT NULL PRIMARY KEY, \"fitsSessionObjectName\" TEXT, "
    "\"fitsSessionDate\" DATE,\n"
    "  \"fitsSessionTelescope\" TEXT, \"fitsSessionImager\" TEXT, \"fitsSessionExposure\" "
    "TEXT,\n"
    "  \"fitsSessionBinningX\" TEXT, \"fitsSessionBinningY\" TEXT, \"fitsSessionCCDTemp\" "
    "TEXT,\n"
    "  \"fitsSessionGain\" TEXT, \"fitsSessionOffset\" TEXT, \"fitsSessionFilter\" TEXT,\n"
    "  \"fitsBiasSession\" TEXT, \"fitsDarkSession\" TEXT, \"fitsFlatSession\" TEXT,\n"
    "  \"fitsBiasMaster\" TEXT, \"fitsDarkMaster\" TEXT, \"fitsFlatMaster\" TEXT,\n"
    "  \"is_auto_calibration\" INTEGER, \"auto_calibration_dark_session_id\" TEXT,\n"
    "  \"auto_calibration_flat_session_id\" TEXT, \"auto_calibration_bias_session_id\" TEXT,\n"
    "  \"master_dark_created\" INTEGER, \"master_flat_created\" INTEGER, "
    "\"master_bias_created\" INTEGER,\n"
    "  \"fitsSessionAvgFWHMArcsec\" REAL, \"fitsSessionAvgEccentricity\" REAL, "
    "\"fitsSessionAvgHFRArcsec\" REAL,\n"
    "  \"fitsSessionImageSNR\" REAL, \"fitsSessionStarCount\" INTEGER, "
    "\"fitsSessionImageScale\" REAL);\n"
    "CREATE TABLE mapping (id INTEGER PRIMARY KEY AUTOINCREMENT, card VARCHAR(20), current "
    "VARCHAR(255), replace VARCHAR(255));\n"
    "CREATE TABLE \"Masters\" (\n"
    "  \"id\" INTEGER NOT NULL PRIMARY KEY, \"master_id\" TEXT NOT NULL, \"master_type\" TEXT "
    "NOT NULL,\n"
    "  \"master_path\" TEXT NOT NULL, \"creation_date\" DATETIME NOT NULL, \"telescope\" "
    "TEXT, \"instrument\" TEXT,\n"
    "  \"exposure_time\" TEXT, \"binning_x\" TEXT, \"binning_y\" TEXT, \"ccd_temp\" TEXT, "
    "\"gain\" TEXT,\n"
    "  \"offset\" TEXT, \"filter_name\" TEXT, \"source_session_id\" TEXT, \"file_count\" "
    "INTEGER NOT NULL,\n"
    "  \"quality_score\" REAL, \"file_size\" INTEGER, \"hash_value\" TEXT, \"cloud_url\" "
    "TEXT,\n"
    "  \"is_validated\" INTEGER NOT NULL, \"validation_date\" DATETIME, \"notes\" TEXT, "
    "\"soft_delete\" INTEGER NOT NULL);\n"
    "CREATE UNIQUE INDEX \"masters_master_id\" ON \"Masters\" (\"master_id\");\n"
    "CREATE INDEX \"fitsfile_fitsFileHash\" ON \"fitsfile\" (\"fitsFileHash\");\n"
    "CREATE INDEX \"fitsfile_fitsFileSession\" ON \"fitsfile\" (\"fitsFileSession\");\n"
    "CREATE INDEX \"fitsfile_fitsFileType\" ON \"fitsfile\" (\"fitsFileType\");\n"
    "CREATE INDEX \"fitssession_fitsSessionDate\" ON \"fitssession\" (\"fitsSessionDate\");\n"
    "CREATE INDEX \"fitssession_fitsSessionObjectName\" ON \"fitssession\" "
    "(\"fitsSessionObjectName\");\n";

static const char *const astrofiler_migrations[] = {
    "001_initial_schema",
    "002_add_master_calibration_fields",
    "003_add_mapping_table",
    "004_remove_is_default_from_mapping",
    "006_add_cloud_url_field",
    "007_add_calibration_fields",
    "008_add_session_autocal_fields",
    "009_add_observer_notes_fields",
    "009_add_quality_metrics_fields",
    "010_add_masters_table",
    "010_add_session_quality_fields",
};

const char *const *ac_schema_astrofiler_migrations(size_t *n)
{
    *n = sizeof astrofiler_migrations / sizeof astrofiler_migrations[0];
    return astrofiler_migrations;
}

/* astrocald's migrations, in order; migrations[i] brings the schema to version i + 1. */
static const char *const migrations[] = {
    /* 1: the queue, checkpoints, calibration records, events, seen masters. */
    "CREATE TABLE astrocal_meta (key TEXT PRIMARY KEY, value TEXT);\n"
    "CREATE TABLE astrocal_session (\n"
    "  session_id TEXT PRIMARY KEY,\n"
    "  priority INTEGER NOT NULL DEFAULT 0,\n"
    "  state TEXT NOT NULL CHECK (state IN "
    "('waiting','queued','paused','done','cancelled')),\n"
    "  reason TEXT,\n"
    "  bias_master TEXT, dark_master TEXT, flat_master TEXT, flatdark_master TEXT,\n"
    "  plan_json TEXT, session_date TEXT, updated_at TEXT);\n"
    "CREATE TABLE astrocal_file (\n"
    "  file_id TEXT PRIMARY KEY,\n"
    "  session_id TEXT NOT NULL,\n"
    "  path TEXT NOT NULL,\n"
    "  state TEXT NOT NULL CHECK (state IN "
    "('pending','running','done','failed','skipped','cancelled')),\n"
    "  attempts INTEGER NOT NULL DEFAULT 0,\n"
    "  not_before REAL, error TEXT, output_path TEXT, output_file_id TEXT,\n"
    "  started_at TEXT, finished_at TEXT, seconds REAL, updated_at TEXT);\n"
    "CREATE INDEX astrocal_file_state_session ON astrocal_file (state, session_id);\n"
    "CREATE INDEX astrocal_file_session ON astrocal_file (session_id);\n"
    "CREATE TABLE astrocal_record (\n"
    "  file_id TEXT PRIMARY KEY, output_file_id TEXT, output_path TEXT,\n"
    "  bias_path TEXT, bias_md5 TEXT, dark_path TEXT, dark_md5 TEXT,\n"
    "  flat_path TEXT, flat_md5 TEXT, flatdark_path TEXT, flatdark_md5 TEXT,\n"
    "  steps TEXT, dark_scale REAL, pedestal REAL, quality_json TEXT,\n"
    "  t_read REAL, t_calib REAL, t_write REAL, t_total REAL, created_at TEXT);\n"
    "CREATE TABLE astrocal_event (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT, kind TEXT,\n"
    "  session_id TEXT, file_id TEXT, message TEXT);\n"
    "CREATE TABLE astrocal_master_seen (master_rowid INTEGER PRIMARY KEY);\n",
    /* 2: the master build queue (catalog_build.c); session_id is the build key: the
     * calibration session's id, with ":flatdark" appended for its flat-darks. */
    "CREATE TABLE astrocal_build (\n"
    "  session_id TEXT PRIMARY KEY,\n"
    "  type TEXT NOT NULL CHECK (type IN ('bias','dark','flat','flatdark')),\n"
    "  state TEXT NOT NULL CHECK (state IN "
    "('pending','running','done','failed','rejected')),\n"
    "  attempts INTEGER NOT NULL DEFAULT 0,\n"
    "  not_before REAL, error TEXT, master_path TEXT, master_rowid INTEGER,\n"
    "  quality_json TEXT, started_at TEXT, finished_at TEXT, updated_at TEXT);\n"
    "CREATE INDEX astrocal_build_state ON astrocal_build (state);\n",
    /* 3: crashes of the daemon while a file ran (queue.h, "Crashes"): interrupted counts
     * the deaths while it was running, crashes those blamed on it (it ran alone, or a
     * crash handler named it). */
    "ALTER TABLE astrocal_file ADD COLUMN interrupted INTEGER NOT NULL DEFAULT 0;\n"
    "ALTER TABLE astrocal_file ADD COLUMN crashes INTEGER NOT NULL DEFAULT 0;\n",
    /* 4: the observing night of a Masters row that has no source session, read by
     * astrocald from the master's DATE-OBS (buildplan.h: a master that would match a
     * calibration session of the same night means that session is not built again). */
    "CREATE TABLE astrocal_master_night (\n"
    "  master_rowid INTEGER PRIMARY KEY, night TEXT NOT NULL, date_obs TEXT,\n"
    "  recorded_at TEXT);\n"
    /* ... and the calibration sessions of past nights whose every build unit is decided
     * (a master, or a build done, failed or rejected): planning passes no longer read
     * their frames (catalog_build.c), so a catalogue of years costs what its open
     * sessions cost. `astrocalctl retry` of a build takes its session out again. */
    "CREATE TABLE astrocal_unit_done (session_id TEXT PRIMARY KEY, decided_at TEXT);\n",
    /* 5: session history and honest session states (event.h, queue.h "Outcome"): the
     * event's JSON detail and indexes to read a session's or a file's history; a finished
     * session's outcome (state stays 'done': done, partial or failed) with the count and
     * most common reason, and where its masters came from for AstroFiler's session fields
     * (links_json: per kind the source calibration session, or why there is none). */
    "ALTER TABLE astrocal_event ADD COLUMN detail TEXT;\n"
    "CREATE INDEX astrocal_event_session ON astrocal_event (session_id);\n"
    "CREATE INDEX astrocal_event_file ON astrocal_event (file_id);\n"
    "CREATE INDEX astrocal_event_at ON astrocal_event (at);\n"
    "ALTER TABLE astrocal_session ADD COLUMN outcome TEXT CHECK (outcome IN "
    "('done','partial','failed'));\n"
    "ALTER TABLE astrocal_session ADD COLUMN outcome_reason TEXT;\n"
    "ALTER TABLE astrocal_session ADD COLUMN links_json TEXT;\n",
    /* 6 (issue 9, frame type from the path): frames registered without a frame type in
     * their header, with the type inferred from their file or folder names and why. */
    "CREATE TABLE astrocal_inferred (\n"
    "  file_id TEXT PRIMARY KEY,\n"
    "  path TEXT NOT NULL,\n"
    "  frame_type TEXT NOT NULL,\n"
    "  reason TEXT NOT NULL,\n"
    "  recorded_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))\n"
    ");\n"
    "CREATE INDEX astrocal_inferred_path ON astrocal_inferred (path);\n",
    /* 7: manual masters and recalibration (pin-recal). astrocal_pin: the master the
     * operator chose for a session and type (astrocalctl use), or a calibration session
     * the user linked in AstroFiler's fitsBias/Dark/FlatSession (source 'astrofiler',
     * cal_session_id); forced says --force accepted the mismatches in override.
     * astrocal_link: AstroFiler's three links as astrocald last saw or wrote them, so a
     * change made afterwards is recognised as the user's. astrocal_file.recal_output: the
     * output a recalibration of the file is replacing (NULL when none is under way);
     * recal_backup: the old output kept until the new one is recorded (recal.c). */
    "CREATE TABLE astrocal_pin (\n"
    "  session_id TEXT NOT NULL,\n"
    "  type TEXT NOT NULL CHECK (type IN ('bias','dark','flat')),\n"
    "  source TEXT NOT NULL CHECK (source IN ('astrocalctl','astrofiler')),\n"
    "  master_rowid INTEGER, master_path TEXT, cal_session_id TEXT,\n"
    "  forced INTEGER NOT NULL DEFAULT 0, override TEXT, created_at TEXT,\n"
    "  PRIMARY KEY (session_id, type));\n"
    "CREATE TABLE astrocal_link (session_id TEXT PRIMARY KEY, bias TEXT, dark TEXT, flat "
    "TEXT);\n"
    "ALTER TABLE astrocal_file ADD COLUMN recal_output TEXT;\n"
    "ALTER TABLE astrocal_file ADD COLUMN recal_backup TEXT;\n",
    /* 8: cloud uploads (issue 14, catalog_upload.c): one row per calibrated frame (kind
     * 'file', ref = its fitsFileId) or built master (kind 'master', ref = Masters.id) to
     * back up; UNIQUE (kind, ref) so nothing is queued, nor recorded, twice. */
    "CREATE TABLE astrocal_upload (\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  kind TEXT NOT NULL CHECK (kind IN ('file','master')),\n"
    "  ref TEXT NOT NULL,\n"
    "  path TEXT NOT NULL, hash TEXT,\n"
    "  state TEXT NOT NULL CHECK (state IN ('pending','running','done','failed')),\n"
    "  attempts INTEGER NOT NULL DEFAULT 0,\n"
    "  not_before REAL, error TEXT, url TEXT, bytes INTEGER, seconds REAL,\n"
    "  created_at TEXT, started_at TEXT, finished_at TEXT,\n"
    "  UNIQUE (kind, ref));\n"
    "CREATE INDEX astrocal_upload_state ON astrocal_upload (state);\n",
    /* 9: cluster hand-outs (handout.h, docs/cluster.md): lights exported to a batch
     * cluster, not calibrated by the daemon until expires_at (unix seconds) or until their
     * results are imported. */
    "CREATE TABLE astrocal_handout (\n"
    "  file_id TEXT PRIMARY KEY, session_id TEXT NOT NULL, export_id TEXT NOT NULL,\n"
    "  expires_at REAL NOT NULL, created_at TEXT);\n",
    /* 10: frame grading (issue 11, catalog_grade.c): one row per calibrated light once the
     * grading stage measured it (state 'measured') or could not ('failed', error); the
     * star figures; verdict 'accepted' / 'rejected' (NULL: not judged, as with
     * calibration_quality_check False) with every failed rule and value in reasons; the
     * operator's override ('accepted' / 'rejected', NULL: none); header_reasons: the
     * QREJECT value written into the output's header (NULL: no card). */
    "CREATE TABLE astrocal_grade (\n"
    "  file_id TEXT PRIMARY KEY, session_id TEXT NOT NULL, output_file_id TEXT,\n"
    "  output_path TEXT,\n"
    "  state TEXT NOT NULL CHECK (state IN ('measured','failed')), error TEXT,\n"
    "  fwhm REAL, hfr REAL, ecc REAL, stars INTEGER, snr REAL, scale REAL,\n"
    "  fwhm_arcsec REAL, hfr_arcsec REAL, nonfinite REAL, flat_residual REAL,\n"
    "  score REAL, verdict TEXT CHECK (verdict IN ('accepted','rejected')), reasons TEXT,\n"
    "  override TEXT CHECK (override IN ('accepted','rejected')), header_reasons TEXT,\n"
    "  seconds REAL, measured_at TEXT, judged_at TEXT, updated_at TEXT);\n"
    "CREATE INDEX astrocal_grade_session ON astrocal_grade (session_id);\n"
    "CREATE INDEX astrocal_file_state_finished ON astrocal_file (state, finished_at);\n"
    /* Lights calibrated before grading existed are not measured behind the user's back
     * (their headers and hashes would change): `astrocalctl regrade SESSION --all` does. */
    "INSERT INTO astrocal_grade (file_id, session_id, output_file_id, output_path, state, "
    "error) SELECT file_id, session_id, output_file_id, output_path, 'failed', "
    "'calibrated before grading existed' FROM astrocal_file WHERE state = 'done' AND "
    "output_path IS NOT NULL;\n",
};

#define NMIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

_Static_assert(sizeof migrations / sizeof migrations[0] == AC_SCHEMA_VERSION,
               "every schema version needs its migration");

/* Looks up the stored name of a table, case-insensitively; "" when absent. */
static int table_name(ac_db_t *db, const char *lower, char *out, size_t size, ac_err_t *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    out[0] = '\0';
    rc = ac_db_prepare(db,
                       "SELECT name FROM sqlite_master WHERE type = 'table' AND "
                       "lower(name) = ?1 ORDER BY name LIMIT 1",
                       &st, e);
    if (rc != 0)
        return rc;
    ac_db_bind_text(st, 1, lower);
    rc = ac_db_step(db, st, "look up a table", e);
    if (rc == AC_DB_ROW)
        ac_strlcpy(out, (const char *)sqlite3_column_text(st, 0), size);
    ac_db_release(db, st);
    return rc < 0 ? rc : 0;
}

struct colbit {
    const char *table, *column;
    unsigned bit;
};

static const struct colbit optional_cols[] = {
    {"fitsfile", "fitsFileMasterBias", AC_COL_FILE_MASTER_BIAS},
    {"fitsfile", "fitsFileMasterDark", AC_COL_FILE_MASTER_DARK},
    {"fitsfile", "fitsFileMasterFlat", AC_COL_FILE_MASTER_FLAT},
    {"fitssession", "fitsBiasMaster", AC_COL_SESS_MASTERS},
    {"fitssession", "master_dark_created", AC_COL_SESS_CREATED},
    {"fitsfile", "fitsFileSoftDelete", AC_COL_FILE_SOFTDELETE},
    {"fitsfile", "fitsFileCalibrationDate", AC_COL_FILE_CALDATE},
    {"fitsfile", "fitsFileOriginalFile", AC_COL_FILE_ORIGINAL},
    {"fitsfile", "fitsFileOriginalCloudURL", AC_COL_FILE_ORIG_CLOUD},
    {"fitsfile", "fitsFileCloudURL", AC_COL_FILE_CLOUD},
    {"fitsfile", "fitsFileObserver", AC_COL_FILE_OBSERVER},
    {"fitssession", "is_auto_calibration", AC_COL_SESS_AUTOCAL},
    {"fitsfile", "fitsFileAvgFWHMArcsec", AC_COL_FILE_QUALITY},
    {"fitssession", "fitsSessionAvgFWHMArcsec", AC_COL_SESS_QUALITY},
};

/* Sets the bits of the optional columns that table has. */
static int table_columns(ac_db_t *db, const char *table, unsigned *cols, ac_err_t *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = ac_db_prepare(db, "SELECT name FROM pragma_table_info(?1)", &st, e);
    if (rc != 0)
        return rc;
    ac_db_bind_text(st, 1, table);
    while ((rc = ac_db_step(db, st, "read table columns", e)) == AC_DB_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        for (size_t i = 0; i < sizeof optional_cols / sizeof optional_cols[0]; i++) {
            if (strcmp(optional_cols[i].table, table) == 0 && name != NULL &&
                strcasecmp(optional_cols[i].column, name) == 0)
                *cols |= optional_cols[i].bit;
        }
    }
    ac_db_release(db, st);
    return rc < 0 ? rc : 0;
}

int ac_schema_version(ac_db_t *db, int *out, ac_err_t *e)
{
    sqlite3_stmt *st = NULL;
    char name[64];
    int rc;

    AC_DB_OWNER_CHECK(db);
    *out = 0;
    if ((rc = table_name(db, "astrocal_meta", name, sizeof name, e)) != 0)
        return rc;
    if (name[0] == '\0')
        return 0;
    rc = ac_db_prepare(db, "SELECT value FROM astrocal_meta WHERE key = 'schema_version'", &st,
                       e);
    if (rc != 0)
        return rc;
    rc = ac_db_step(db, st, "read the astrocal schema version", e);
    if (rc == AC_DB_ROW) {
        int v = ac_db_column_int(st, 0, -1);
        if (v < 0)
            rc = ac_err_set(e, AC_ESQLITE, "%s: astrocal_meta schema_version is not a number",
                            ac_db_path(db));
        else
            *out = v;
    }
    ac_db_release(db, st);
    return rc < 0 ? rc : 0;
}

int ac_schema_discover(ac_db_t *db, ac_schema_info_t *out, ac_err_t *e)
{
    ac_schema_info_t si;
    const ac_schema_info_t *old;
    int rc;

    AC_DB_OWNER_CHECK(db);
    memset(&si, 0, sizeof si);
    old = ac_db_schema(db);
    if (old != NULL)
        si.created = old->created;
    if ((rc = table_name(db, "fitsfile", si.fitsfile, sizeof si.fitsfile, e)) != 0 ||
        (rc = table_name(db, "fitssession", si.fitssession, sizeof si.fitssession, e)) != 0 ||
        (rc = table_name(db, "masters", si.masters, sizeof si.masters, e)) != 0 ||
        (rc = table_name(db, "mapping", si.mapping, sizeof si.mapping, e)) != 0 ||
        (rc = table_name(db, "migratehistory", si.migratehistory, sizeof si.migratehistory,
                         e)) != 0)
        return rc;
    if (si.fitsfile[0] != '\0' && (rc = table_columns(db, "fitsfile", &si.cols, e)) != 0)
        return rc;
    if (si.fitssession[0] != '\0' && (rc = table_columns(db, "fitssession", &si.cols, e)) != 0)
        return rc;
    si.migrated = (si.cols & AC_COL_FILE_MASTER_BIAS) != 0;
    if ((rc = ac_schema_version(db, &si.astrocal_version, e)) != 0)
        return rc;
    if (ac_db_set_schema(db, &si) != 0)
        return ac_err_set(e, -ENOMEM, "out of memory");
    if (out != NULL)
        *out = si;
    return 0;
}

int ac_schema_require(ac_db_t *db, const ac_schema_info_t **out, ac_err_t *e)
{
    int rc;

    AC_DB_OWNER_CHECK(db);
    *out = ac_db_schema(db);
    if (*out != NULL)
        return 0;
    if ((rc = ac_schema_discover(db, NULL, e)) != 0)
        return rc;
    *out = ac_db_schema(db);
    return 0;
}

struct create_ctx {
    bool created;
};

/* Transaction body: creates AstroFiler's schema when none of its tables exist. The check
 * is inside the transaction so that two processes starting together cannot both create. */
static int create_astrofiler_txn(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct create_ctx *cx = arg;
    const char *core[] = {"fitsfile", "fitssession"};
    const char *all[] = {"fitsfile", "fitssession", "masters", "mapping", "migratehistory"};
    char name[64], ts[32];
    sqlite3_stmt *st = NULL;
    int present = 0, rc;

    cx->created = false;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if ((rc = table_name(db, all[i], name, sizeof name, e)) != 0)
            return rc;
        present += name[0] != '\0';
    }
    if (present > 0) {
        for (size_t i = 0; i < sizeof core / sizeof core[0]; i++) {
            if ((rc = table_name(db, core[i], name, sizeof name, e)) != 0)
                return rc;
            if (name[0] == '\0')
                return ac_err_set(e, AC_ESQLITE,
                                  "%s: not an AstroFiler database: table %s is missing while "
                                  "other AstroFiler tables exist",
                                  ac_db_path(db), core[i]);
        }
        return 0;
    }
    if ((rc = ac_db_exec(db, astrofiler_ddl, e)) != 0)
        return rc;
    rc = ac_db_prepare(db, "INSERT INTO migratehistory (name, migrated_at) VALUES (?1, ?2)",
                       &st, e);
    if (rc != 0)
        return rc;
    ac_db_timestamp(ts, sizeof ts);
    for (size_t i = 0; i < sizeof astrofiler_migrations / sizeof astrofiler_migrations[0];
         i++) {
        ac_db_bind_text(st, 1, astrofiler_migrations[i]);
        ac_db_bind_text(st, 2, ts);
        rc = ac_db_step(db, st, "record AstroFiler's migrations", e);
        sqlite3_reset(st);
        if (rc < 0)
            break;
    }
    ac_db_release(db, st);
    if (rc < 0)
        return rc;
    cx->created = true;
    return 0;
}

struct migrate_ctx {
    int target;
    int from;
};

/* Transaction body: one migration step, from the version read inside the transaction. */
static int migrate_step_txn(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct migrate_ctx *mx = arg;
    sqlite3_stmt *st = NULL;
    char num[16];
    int v, rc;

    if ((rc = ac_schema_version(db, &v, e)) != 0)
        return rc;
    mx->from = v;
    if (v >= mx->target)
        return 0;
    if ((rc = ac_db_exec(db, migrations[v], e)) != 0) {
        ac_err_prefix(e, "astrocal migration to version %d", v + 1);
        return rc;
    }
    rc = ac_db_prepare(db,
                       "INSERT OR REPLACE INTO astrocal_meta (key, value) "
                       "VALUES ('schema_version', ?1)",
                       &st, e);
    if (rc != 0)
        return rc;
    snprintf(num, sizeof num, "%d", v + 1);
    ac_db_bind_text(st, 1, num);
    rc = ac_db_step(db, st, "write the astrocal schema version", e);
    ac_db_release(db, st);
    return rc < 0 ? rc : 0;
}

/* known_version reads the astrocal schema version into *v (ac_schema_version); AC_ESQLITE
 * when it is newer than this astrocald knows. */
static int known_version(ac_db_t *db, int *v, ac_err_t *e)
{
    int rc;

    if ((rc = ac_schema_version(db, v, e)) != 0)
        return rc;
    if (*v > NMIGRATIONS)
        return ac_err_set(e, AC_ESQLITE,
                          "%s: astrocal schema version %d is newer than this astrocald "
                          "knows (%d); use a newer astrocald",
                          ac_db_path(db), *v, NMIGRATIONS);
    return 0;
}

int ac_schema_migrate(ac_db_t *db, int target, ac_err_t *e)
{
    struct migrate_ctx mx = {target, 0};
    int v, rc;

    AC_DB_OWNER_CHECK(db);
    if (target < 1 || target > NMIGRATIONS)
        return ac_err_set(e, -EINVAL, "astrocal schema version %d is not between 1 and %d",
                          target, NMIGRATIONS);
    if ((rc = known_version(db, &v, e)) != 0)
        return rc;
    while (v < target) {
        if ((rc = ac_db_transact(db, migrate_step_txn, &mx, e)) != 0)
            return rc;
        if ((rc = ac_schema_version(db, &v, e)) != 0)
            return rc;
        if (v <= mx.from)
            return ac_err_set(e, AC_ESQLITE, "%s: astrocal migration from %d did not advance",
                              ac_db_path(db), mx.from);
        ac_log_info("%s: astrocal schema migrated to version %d", ac_db_path(db), v);
    }
    return 0;
}

int ac_schema_prepare(ac_db_t *db, ac_schema_info_t *out, ac_err_t *e)
{
    struct create_ctx cx = {false};
    ac_schema_info_t si;
    int v, rc;

    AC_DB_OWNER_CHECK(db);
    if ((rc = ac_db_transact(db, create_astrofiler_txn, &cx, e)) != 0)
        return rc;
    if (cx.created)
        ac_log_notice("%s: created AstroFiler's schema in a new database", ac_db_path(db));
    if ((rc = known_version(db, &v, e)) != 0)
        return rc;
    if (v < AC_SCHEMA_VERSION && (rc = ac_schema_migrate(db, AC_SCHEMA_VERSION, e)) != 0)
        return rc;
    if ((rc = ac_schema_discover(db, &si, e)) != 0)
        return rc;
    si.created = cx.created || si.created;
    if (ac_db_set_schema(db, &si) != 0)
        return ac_err_set(e, -ENOMEM, "out of memory");
    if (out != NULL)
        *out = si;
    return 0;
}
