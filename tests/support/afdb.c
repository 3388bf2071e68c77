/*
 * afdb.c - lays out an AstroFiler database exactly as AstroFiler does and inserts rows; the
 * contract is in afdb.h. Raw SQLite calls and DDL typed from astrofiler-db.md and AstroFiler
 * 1.2's peewee models, independent of daemon/catalog/schema.c.
 */
#include "afdb.h"

#include <stdio.h>
#include <stdlib.h>

void afdb_exec(sqlite3 *h, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "afdb: %s\nin: %s\n", msg != NULL ? msg : "?", sql);
        abort();
    }
}

static void afdb_check(sqlite3 *h, int rc, const char *what)
{
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        fprintf(stderr, "afdb: %s: %s\n", what, sqlite3_errmsg(h));
        abort();
    }
}

/* The Masters table (migration 010 and the model agree) and its unique index. */
#define AFDB_MASTERS_DDL                                                                       \
    "CREATE TABLE \"Masters\" (\"id\" INTEGER NOT NULL PRIMARY KEY, \"master_id\" TEXT NOT "   \
    "NULL, \"master_type\" TEXT NOT NULL, \"master_path\" TEXT NOT NULL, \"creation_date\" "   \
    "DATETIME NOT NULL, \"telescope\" TEXT, \"instrument\" TEXT, \"exposure_time\" TEXT, "     \
    "\"binning_x\" TEXT, \"binning_y\" TEXT, \"ccd_temp\" TEXT, \"gain\" TEXT, \"offset\" "    \
    "TEXT, \"filter_name\" TEXT, \"source_session_id\" TEXT, \"file_count\" INTEGER NOT "      \
    "NULL, \"quality_score\" REAL, \"file_size\" INTEGER, \"hash_value\" TEXT, \"cloud_url\" " \
    "TEXT, \"is_validated\" INTEGER NOT NULL, \"validation_date\" DATETIME, \"notes\" TEXT, "  \
    "\"soft_delete\" INTEGER NOT NULL);"                                                       \
    "CREATE UNIQUE INDEX \"masters_master_id\" ON \"Masters\" (\"master_id\");"

static const char afdb_migrated_ddl[] =
    "CREATE TABLE \"migratehistory\" (\"id\" INTEGER NOT NULL PRIMARY KEY, \"name\" "
    "VARCHAR(255) NOT NULL, \"migrated_at\" DATETIME NOT NULL);"
    "CREATE TABLE \"fitsfile\" (\"fitsFileId\" TEXT NOT NULL PRIMARY KEY, \"fitsFileName\" "
    "TEXT, \"fitsFileDate\" DATE, \"fitsFileCalibrated\" INTEGER, \"fitsFileType\" TEXT, "
    "\"fitsFileStacked\" INTEGER, \"fitsFileObject\" TEXT, \"fitsFileExpTime\" TEXT, "
    "\"fitsFileXBinning\" TEXT, \"fitsFileYBinning\" TEXT, \"fitsFileCCDTemp\" TEXT, "
    "\"fitsFileTelescop\" TEXT, \"fitsFileInstrument\" TEXT, \"fitsFileGain\" TEXT, "
    "\"fitsFileOffset\" TEXT, \"fitsFileFilter\" TEXT, \"fitsFileHash\" TEXT, "
    "\"fitsFileSession\" TEXT, \"fitsFileCloudURL\" TEXT, \"fitsFileSoftDelete\" INTEGER, "
    "\"fitsFileCalibrationDate\" DATETIME, \"fitsFileMasterBias\" TEXT, "
    "\"fitsFileMasterDark\" TEXT, \"fitsFileMasterFlat\" TEXT, \"fitsFileOriginalFile\" TEXT, "
    "\"fitsFileOriginalCloudURL\" TEXT, \"fitsFileObserver\" TEXT, \"fitsFileNotes\" TEXT, "
    "\"fitsFileAvgFWHMArcsec\" REAL, \"fitsFileAvgEccentricity\" REAL, "
    "\"fitsFileAvgHFRArcsec\" REAL, \"fitsFileImageSNR\" REAL, \"fitsFileStarCount\" INTEGER, "
    "\"fitsFileImageScale\" REAL);"
    "CREATE TABLE \"fitssession\" (\"fitsSessionId\" TEXT NOT NULL PRIMARY KEY, "
    "\"fitsSessionObjectName\" TEXT, \"fitsSessionDate\" DATE, \"fitsSessionTelescope\" TEXT, "
    "\"fitsSessionImager\" TEXT, \"fitsSessionExposure\" TEXT, \"fitsSessionBinningX\" TEXT, "
    "\"fitsSessionBinningY\" TEXT, \"fitsSessionCCDTemp\" TEXT, \"fitsSessionGain\" TEXT, "
    "\"fitsSessionOffset\" TEXT, \"fitsSessionFilter\" TEXT, \"fitsBiasSession\" TEXT, "
    "\"fitsDarkSession\" TEXT, \"fitsFlatSession\" TEXT, \"fitsBiasMaster\" TEXT, "
    "\"fitsDarkMaster\" TEXT, \"fitsFlatMaster\" TEXT, \"is_auto_calibration\" INTEGER, "
    "\"auto_calibration_dark_session_id\" TEXT, \"auto_calibration_flat_session_id\" TEXT, "
    "\"auto_calibration_bias_session_id\" TEXT, \"master_dark_created\" INTEGER, "
    "\"master_flat_created\" INTEGER, \"master_bias_created\" INTEGER, "
    "\"fitsSessionAvgFWHMArcsec\" REAL, \"fitsSessionAvgEccentricity\" REAL, "
    "\"fitsSessionAvgHFRArcsec\" REAL, \"fitsSessionImageSNR\" REAL, \"fitsSessionStarCount\" "
    "INTEGER, \"fitsSessionImageScale\" REAL);"
    "CREATE TABLE mapping (id INTEGER PRIMARY KEY AUTOINCREMENT, card VARCHAR(20), current "
    "VARCHAR(255), replace VARCHAR(255));" AFDB_MASTERS_DDL
    "CREATE INDEX \"fitsfile_fitsFileHash\" ON \"fitsfile\" (\"fitsFileHash\");"
    "CREATE INDEX \"fitsfile_fitsFileSession\" ON \"fitsfile\" (\"fitsFileSession\");"
    "CREATE INDEX \"fitsfile_fitsFileType\" ON \"fitsfile\" (\"fitsFileType\");"
    "CREATE INDEX \"fitssession_fitsSessionDate\" ON \"fitssession\" (\"fitsSessionDate\");"
    "CREATE INDEX \"fitssession_fitsSessionObjectName\" ON \"fitssession\" "
    "(\"fitsSessionObjectName\");"
    "INSERT INTO migratehistory (name, migrated_at) VALUES "
    "('001_initial_schema', '2025-11-02 21:14:05.118264'),"
    "('002_add_master_calibration_fields', '2025-11-02 21:14:05.131377'),"
    "('003_add_mapping_table', '2025-11-02 21:14:05.140012'),"
    "('004_remove_is_default_from_mapping', '2025-11-02 21:14:05.151987'),"
    "('006_add_cloud_url_field', '2025-11-02 21:14:05.160154'),"
    "('007_add_calibration_fields', '2025-11-02 21:14:05.171520'),"
    "('008_add_session_autocal_fields', '2025-11-02 21:14:05.180936'),"
    "('009_add_observer_notes_fields', '2025-11-02 21:14:05.190016'),"
    "('009_add_quality_metrics_fields', '2025-11-02 21:14:05.201457'),"
    "('010_add_masters_table', '2025-11-02 21:14:05.212391'),"
    "('010_add_session_quality_fields', '2025-11-02 21:14:05.220874');";

/* peewee's CREATE TABLE for AstroFiler 1.2's models (field order of the model classes). */
static const char afdb_models_ddl[] =
    "CREATE TABLE \"fitsFile\" (\"fitsFileId\" TEXT NOT NULL PRIMARY KEY, \"fitsFileName\" "
    "TEXT, \"fitsFileDate\" DATE, \"fitsFileCalibrated\" INTEGER, \"fitsFileType\" TEXT, "
    "\"fitsFileStacked\" INTEGER, \"fitsFileObject\" TEXT, \"fitsFileExpTime\" TEXT, "
    "\"fitsFileXBinning\" TEXT, \"fitsFileYBinning\" TEXT, \"fitsFileCCDTemp\" TEXT, "
    "\"fitsFileTelescop\" TEXT, \"fitsFileInstrument\" TEXT, \"fitsFileGain\" TEXT, "
    "\"fitsFileOffset\" TEXT, \"fitsFileFilter\" TEXT, \"fitsFileObserver\" TEXT, "
    "\"fitsFileNotes\" TEXT, \"fitsFileHash\" TEXT, \"fitsFileSession\" TEXT, "
    "\"fitsFileCloudURL\" TEXT, \"fitsFileSoftDelete\" INTEGER, \"fitsFileCalibrationDate\" "
    "DATETIME, \"fitsFileOriginalFile\" TEXT, \"fitsFileOriginalCloudURL\" TEXT, "
    "\"fitsFileAvgFWHMArcsec\" REAL, \"fitsFileAvgEccentricity\" REAL, "
    "\"fitsFileAvgHFRArcsec\" REAL, \"fitsFileImageSNR\" REAL, \"fitsFileStarCount\" INTEGER, "
    "\"fitsFileImageScale\" REAL);"
    "CREATE TABLE \"fitsSession\" (\"fitsSessionId\" TEXT NOT NULL PRIMARY KEY, "
    "\"fitsSessionObjectName\" TEXT, \"fitsSessionDate\" DATE, \"fitsSessionTelescope\" TEXT, "
    "\"fitsSessionImager\" TEXT, \"fitsSessionExposure\" TEXT, \"fitsSessionBinningX\" TEXT, "
    "\"fitsSessionBinningY\" TEXT, \"fitsSessionCCDTemp\" TEXT, \"fitsSessionGain\" TEXT, "
    "\"fitsSessionOffset\" TEXT, \"fitsSessionFilter\" TEXT, \"fitsBiasSession\" TEXT, "
    "\"fitsDarkSession\" TEXT, \"fitsFlatSession\" TEXT, \"is_auto_calibration\" INTEGER, "
    "\"auto_calibration_dark_session_id\" TEXT, \"auto_calibration_flat_session_id\" TEXT, "
    "\"auto_calibration_bias_session_id\" TEXT, \"fitsSessionAvgFWHMArcsec\" REAL, "
    "\"fitsSessionAvgEccentricity\" REAL, \"fitsSessionAvgHFRArcsec\" REAL, "
    "\"fitsSessionImageSNR\" REAL, \"fitsSessionStarCount\" INTEGER, \"fitsSessionImageScale\" "
    "REAL);"
    "CREATE TABLE \"Mapping\" (\"id\" INTEGER NOT NULL PRIMARY KEY, \"card\" VARCHAR(20) NOT "
    "NULL, \"current\" VARCHAR(255), \"replace\" VARCHAR(255));" AFDB_MASTERS_DDL;

sqlite3 *afdb_create(const char *path, afdb_variant_t v)
{
    sqlite3 *h = NULL;

    if (sqlite3_open(path, &h) != SQLITE_OK) {
        fprintf(stderr, "afdb: open %s failed\n", path);
        abort();
    }
    sqlite3_busy_timeout(h, 5000);
    afdb_exec(h, "PRAGMA journal_mode=WAL");
    afdb_exec(h, "BEGIN");
    afdb_exec(h, v == AFDB_MIGRATED ? afdb_migrated_ddl : afdb_models_ddl);
    afdb_exec(h, "COMMIT");
    return h;
}

static void afdb_bind_int(sqlite3_stmt *st, int i, int v)
{
    if (v == AFDB_NULL)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_int(st, i, v);
}

static void afdb_bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s == NULL)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

void afdb_add_file(sqlite3 *h, const afdb_file_t *f)
{
    sqlite3_stmt *st = NULL;
    const char *sql =
        "INSERT INTO fitsfile (fitsFileId, fitsFileName, fitsFileDate, fitsFileCalibrated, "
        "fitsFileType, fitsFileStacked, fitsFileObject, fitsFileExpTime, fitsFileXBinning, "
        "fitsFileYBinning, fitsFileCCDTemp, fitsFileTelescop, fitsFileInstrument, "
        "fitsFileGain, fitsFileOffset, fitsFileFilter, fitsFileHash, fitsFileSession, "
        "fitsFileSoftDelete, fitsFileOriginalFile, fitsFileCloudURL) VALUES (?1, ?2, ?3, ?4, "
        "?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)";

    afdb_check(h, sqlite3_prepare_v2(h, sql, -1, &st, NULL), "prepare fitsfile insert");
    afdb_bind_text(st, 1, f->id);
    afdb_bind_text(st, 2, f->name);
    afdb_bind_text(st, 3, f->date);
    afdb_bind_int(st, 4, f->calibrated);
    afdb_bind_text(st, 5, f->type);
    afdb_bind_int(st, 6, f->stacked);
    afdb_bind_text(st, 7, f->object);
    afdb_bind_text(st, 8, f->exptime);
    afdb_bind_text(st, 9, f->xbin);
    afdb_bind_text(st, 10, f->ybin);
    afdb_bind_text(st, 11, f->ccdtemp);
    afdb_bind_text(st, 12, f->telescop);
    afdb_bind_text(st, 13, f->instrument);
    afdb_bind_text(st, 14, f->gain);
    afdb_bind_text(st, 15, f->offset);
    afdb_bind_text(st, 16, f->filter);
    afdb_bind_text(st, 17, f->hash);
    afdb_bind_text(st, 18, f->session);
    afdb_bind_int(st, 19, f->softdelete);
    afdb_bind_text(st, 20, f->original);
    afdb_bind_text(st, 21, f->cloud);
    afdb_check(h, sqlite3_step(st), "insert fitsfile");
    sqlite3_finalize(st);
}

afdb_file_t afdb_light(const char *id, const char *session, const char *path, const char *date,
                       const char *exptime)
{
    afdb_file_t f = {0};

    f.id = id;
    f.session = session;
    f.name = path;
    f.date = date;
    f.type = "LIGHT FRAME";
    f.object = "M 31";
    f.exptime = exptime;
    f.xbin = "1";
    f.ybin = "1";
    f.ccdtemp = "-10.1";
    f.telescop = "C14";
    f.instrument = "ZWO ASI294MM Pro";
    f.filter = "Ha";
    f.hash = id; /* unique enough for tests */
    f.calibrated = 0;
    f.softdelete = 0;
    f.stacked = AFDB_NULL;
    return f;
}

void afdb_add_session(sqlite3 *h, const char *id, const char *object, const char *date,
                      const char *exposure, const char *temp, const char *filter)
{
    sqlite3_stmt *st = NULL;
    const char *sql = "INSERT INTO fitssession (fitsSessionId, fitsSessionObjectName, "
                      "fitsSessionDate, fitsSessionTelescope, fitsSessionImager, "
                      "fitsSessionExposure, fitsSessionBinningX, fitsSessionBinningY, "
                      "fitsSessionCCDTemp, fitsSessionGain, fitsSessionOffset, "
                      "fitsSessionFilter, fitsBiasSession, fitsDarkSession, fitsFlatSession, "
                      "is_auto_calibration) VALUES (?1, ?2, ?3, 'C14', 'ZWO ASI294MM Pro', ?4, "
                      "'1', '1', ?5, NULL, NULL, ?6, NULL, NULL, NULL, 0)";

    afdb_check(h, sqlite3_prepare_v2(h, sql, -1, &st, NULL), "prepare fitssession insert");
    afdb_bind_text(st, 1, id);
    afdb_bind_text(st, 2, object);
    afdb_bind_text(st, 3, date);
    afdb_bind_text(st, 4, exposure);
    afdb_bind_text(st, 5, temp);
    afdb_bind_text(st, 6, filter);
    afdb_check(h, sqlite3_step(st), "insert fitssession");
    sqlite3_finalize(st);
}

long long afdb_add_master(sqlite3 *h, const afdb_master_t *m)
{
    sqlite3_stmt *st = NULL;
    const char *sql =
        "INSERT INTO Masters (master_id, master_type, master_path, creation_date, "
        "telescope, instrument, exposure_time, binning_x, binning_y, ccd_temp, "
        "gain, \"offset\", filter_name, source_session_id, file_count, "
        "quality_score, file_size, hash_value, cloud_url, is_validated, "
        "validation_date, notes, soft_delete) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
        "?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, NULL, ?16, ?17, NULL, ?18, "
        "NULL, NULL, ?19)";

    afdb_check(h, sqlite3_prepare_v2(h, sql, -1, &st, NULL), "prepare Masters insert");
    afdb_bind_text(st, 1, m->master_id);
    afdb_bind_text(st, 2, m->type);
    afdb_bind_text(st, 3, m->path);
    afdb_bind_text(st, 4,
                   m->creation_date != NULL ? m->creation_date : "2024-10-06 09:12:44.512093");
    afdb_bind_text(st, 5, m->telescope);
    afdb_bind_text(st, 6, m->instrument);
    afdb_bind_text(st, 7, m->exposure);
    afdb_bind_text(st, 8, m->xbin);
    afdb_bind_text(st, 9, m->ybin);
    afdb_bind_text(st, 10, m->ccd_temp);
    afdb_bind_text(st, 11, m->gain);
    afdb_bind_text(st, 12, m->offset);
    afdb_bind_text(st, 13, m->filter);
    afdb_bind_text(st, 14, m->source_session);
    sqlite3_bind_int(st, 15, m->file_count);
    if (m->file_size != 0)
        sqlite3_bind_int64(st, 16, m->file_size);
    else
        sqlite3_bind_null(st, 16);
    afdb_bind_text(st, 17, m->hash);
    sqlite3_bind_int(st, 18, m->is_validated);
    sqlite3_bind_int(st, 19, m->soft_delete);
    afdb_check(h, sqlite3_step(st), "insert Masters");
    sqlite3_finalize(st);
    return sqlite3_last_insert_rowid(h);
}

const char *afdb_text(sqlite3 *h, const char *sql, const char *arg, char *buf, size_t size)
{
    sqlite3_stmt *st = NULL;
    const char *res = NULL;

    afdb_check(h, sqlite3_prepare_v2(h, sql, -1, &st, NULL), sql);
    if (arg != NULL)
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        snprintf(buf, size, "%s", (const char *)sqlite3_column_text(st, 0));
        res = buf;
    }
    sqlite3_finalize(st);
    return res;
}

long long afdb_int(sqlite3 *h, const char *sql, const char *arg, long long def)
{
    sqlite3_stmt *st = NULL;
    long long v = def;

    afdb_check(h, sqlite3_prepare_v2(h, sql, -1, &st, NULL), sql);
    if (arg != NULL)
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}
