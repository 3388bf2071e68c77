/*
 * catalog_write.c - writing AstroFiler's catalogue as AstroFiler does: a calibrated file
 * (new fitsfile row, raw row marked), an imported file (fitsfile row and its fitssession),
 * an imported master (Masters row). See catalog.h for the contracts; what live ingest
 * reads and links is in catalog_ingest.c.
 *
 * Durability and crash safety: each function is one ac_db_transact body, so after a crash
 * at any moment either every row of the operation is in the database or none is. Recording
 * is idempotent (astrocal_record is checked first), which makes the scheduler's
 * at-least-once delivery exactly-once in the catalogue.
 *
 * Values are copied from the raw row inside SQLite (INSERT ... SELECT), so the copies keep
 * AstroFiler's text forms ('300' stays '300') and storage classes exactly.
 *
 * Thread: loop thread only (checked).
 */
#include "catalog.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "catalog_int.h"
#include "schema.h"
#include "util.h"

/* A bounded SQL text assembled from constant pieces (never from values). */
struct sqlbuf {
    char s[2048];
    size_t n;
    bool overflow;
};

static void sb_add(struct sqlbuf *b, const char *piece)
{
    size_t len = strlen(piece);

    if (b->n + len >= sizeof b->s) {
        b->overflow = true;
        return;
    }
    memcpy(b->s + b->n, piece, len + 1);
    b->n += len;
}

/* Runs a statement that returns at most one text column of one row; *found tells. */
static int query_text(ac_db_t *db, const char *sql, const char *arg, char *out, size_t size,
                      bool *found, const char *op, ac_err_t *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *found = false;
    out[0] = '\0';
    if ((rc = ac_db_prepare(db, sql, &st, e)) != 0)
        return rc;
    ac_db_bind_text(st, 1, arg);
    rc = ac_db_step(db, st, op, e);
    if (rc == AC_DB_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        ac_strlcpy(out, t != NULL ? (const char *)t : "", size);
        *found = true;
    }
    ac_db_release(db, st);
    return rc < 0 ? rc : 0;
}

/* ---- Recording a calibrated file ---- */

struct record_ctx {
    const ac_calibrated_rec_t *rec;
    bool preserve;
    const ac_schema_info_t *si;
    char out_id[AC_UUID_LEN + 1];
    char now[32];
};

/* The columns AstroFiler sets on a calibrated output row, with their values. */
static void record_insert_sql(const ac_schema_info_t *si, struct sqlbuf *b)
{
    struct sqlbuf v = {.n = 0};

    sb_add(b, "INSERT INTO fitsfile (fitsFileId, fitsFileName, fitsFileDate, "
              "fitsFileCalibrated, fitsFileType, fitsFileStacked, fitsFileObject, "
              "fitsFileExpTime, fitsFileXBinning, fitsFileYBinning, fitsFileCCDTemp, "
              "fitsFileTelescop, fitsFileInstrument, fitsFileGain, fitsFileOffset, "
              "fitsFileFilter, fitsFileHash, fitsFileSession");
    sb_add(&v, " SELECT ?1, ?2, r.fitsFileDate, 1, r.fitsFileType, r.fitsFileStacked, "
               "r.fitsFileObject, r.fitsFileExpTime, r.fitsFileXBinning, r.fitsFileYBinning, "
               "r.fitsFileCCDTemp, r.fitsFileTelescop, r.fitsFileInstrument, r.fitsFileGain, "
               "r.fitsFileOffset, r.fitsFileFilter, ?3, r.fitsFileSession");
    if (si->cols & AC_COL_FILE_CLOUD) {
        sb_add(b, ", fitsFileCloudURL");
        sb_add(&v, ", NULL");
    }
    if (si->cols & AC_COL_FILE_SOFTDELETE) {
        sb_add(b, ", fitsFileSoftDelete");
        sb_add(&v, ", 0");
    }
    if (si->cols & AC_COL_FILE_CALDATE) {
        sb_add(b, ", fitsFileCalibrationDate");
        sb_add(&v, ", ?4");
    }
    if (si->cols & AC_COL_FILE_ORIGINAL) {
        sb_add(b, ", fitsFileOriginalFile");
        sb_add(&v, ", r.fitsFileName");
    }
    if ((si->cols & AC_COL_FILE_ORIG_CLOUD) && (si->cols & AC_COL_FILE_CLOUD)) {
        sb_add(b, ", fitsFileOriginalCloudURL");
        sb_add(&v, ", r.fitsFileCloudURL");
    }
    if (si->cols & AC_COL_FILE_MASTER_BIAS) {
        sb_add(b, ", fitsFileMasterBias");
        sb_add(&v, ", ?5");
    }
    if (si->cols & AC_COL_FILE_MASTER_DARK) {
        sb_add(b, ", fitsFileMasterDark");
        sb_add(&v, ", ?6");
    }
    if (si->cols & AC_COL_FILE_MASTER_FLAT) {
        sb_add(b, ", fitsFileMasterFlat");
        sb_add(&v, ", ?7");
    }
    sb_add(b, ")");
    sb_add(b, v.s);
    sb_add(b, " FROM fitsfile AS r WHERE r.fitsFileId = ?8");
    b->overflow |= v.overflow;
}

/* Marks an existing row (the same output registered by someone else) as our output. */
static void record_reuse_sql(const ac_schema_info_t *si, struct sqlbuf *b)
{
    sb_add(b, "UPDATE fitsfile SET fitsFileCalibrated = 1, fitsFileHash = COALESCE(?3, "
              "fitsFileHash)");
    if (si->cols & AC_COL_FILE_SOFTDELETE)
        sb_add(b, ", fitsFileSoftDelete = 0");
    if (si->cols & AC_COL_FILE_CALDATE)
        sb_add(b, ", fitsFileCalibrationDate = ?4");
    if (si->cols & AC_COL_FILE_ORIGINAL)
        sb_add(b, ", fitsFileOriginalFile = (SELECT r.fitsFileName FROM fitsfile AS r "
                  "WHERE r.fitsFileId = ?8)");
    if (si->cols & AC_COL_FILE_MASTER_BIAS)
        sb_add(b, ", fitsFileMasterBias = ?5");
    if (si->cols & AC_COL_FILE_MASTER_DARK)
        sb_add(b, ", fitsFileMasterDark = ?6");
    if (si->cols & AC_COL_FILE_MASTER_FLAT)
        sb_add(b, ", fitsFileMasterFlat = ?7");
    sb_add(b, " WHERE fitsFileId = ?1");
}

static int write_output_row(ac_db_t *db, struct record_ctx *rx, bool reuse, ac_err_t *e)
{
    const ac_calibrated_rec_t *r = rx->rec;
    struct sqlbuf b = {.n = 0};
    sqlite3_stmt *st = NULL;
    int rc;

    if (reuse)
        record_reuse_sql(rx->si, &b);
    else
        record_insert_sql(rx->si, &b);
    if (b.overflow)
        return ac_err_set(e, AC_ESQLITE, "record: statement too long");
    if ((rc = ac_db_prepare(db, b.s, &st, e)) != 0)
        return rc;
    ac_db_bind_text(st, 1, rx->out_id);
    ac_db_bind_text(st, 2, r->output_path);
    ac_db_bind_text(st, 3, r->output_sha256);
    ac_db_bind_text(st, 4, rx->now);
    ac_db_bind_text(st, 5, r->bias_path);
    ac_db_bind_text(st, 6, r->dark_path);
    ac_db_bind_text(st, 7, r->flat_path);
    ac_db_bind_text(st, 8, r->raw_file_id);
    rc =
        ac_db_step(db, st, reuse ? "mark the existing output row" : "insert the output row", e);
    ac_db_release(db, st);
    if (rc < 0)
        return rc;
    if (ac_db_changes(db) != 1)
        return ac_err_set(e, AC_ESQLITE, "%s: recording %s changed %d rows, expected 1",
                          ac_db_path(db), r->raw_file_id, ac_db_changes(db));
    return 0;
}

static int mark_raw(ac_db_t *db, struct record_ctx *rx, ac_err_t *e)
{
    struct sqlbuf b = {.n = 0};
    sqlite3_stmt *st = NULL;
    int rc;

    sb_add(&b, "UPDATE fitsfile SET fitsFileCalibrated = 1");
    if (rx->si->cols & AC_COL_FILE_CALDATE)
        sb_add(&b, ", fitsFileCalibrationDate = ?2");
    if (!rx->preserve && (rx->si->cols & AC_COL_FILE_SOFTDELETE))
        sb_add(&b, ", fitsFileSoftDelete = 1");
    sb_add(&b, " WHERE fitsFileId = ?1");
    if ((rc = ac_db_prepare(db, b.s, &st, e)) != 0)
        return rc;
    ac_db_bind_text(st, 1, rx->rec->raw_file_id);
    ac_db_bind_text(st, 2, rx->now);
    rc = ac_db_step(db, st, "mark the raw light calibrated", e);
    ac_db_release(db, st);
    return rc < 0 ? rc : 0;
}

static int upsert_record(ac_db_t *db, struct record_ctx *rx, ac_err_t *e)
{
    const ac_calibrated_rec_t *r = rx->rec;
    sqlite3_stmt *st = NULL;
    int rc;

    rc = ac_db_prepare(db,
                       "INSERT OR REPLACE INTO astrocal_record (file_id, output_file_id, "
                       "output_path, bias_path, bias_md5, dark_path, dark_md5, flat_path, "
                       "flat_md5, flatdark_path, flatdark_md5, steps, dark_scale, pedestal, "
                       "quality_json, t_read, t_calib, t_write, t_total, created_at) VALUES "
                       "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
                       "?16, ?17, ?18, ?19, ?20)",
                       &st, e);
    if (rc != 0)
        return rc;
    ac_db_bind_text(st, 1, r->raw_file_id);
    ac_db_bind_text(st, 2, rx->out_id);
    ac_db_bind_text(st, 3, r->output_path);
    ac_db_bind_text(st, 4, r->bias_path);
    ac_db_bind_text(st, 5, r->bias_md5);
    ac_db_bind_text(st, 6, r->dark_path);
    ac_db_bind_text(st, 7, r->dark_md5);
    ac_db_bind_text(st, 8, r->flat_path);
    ac_db_bind_text(st, 9, r->flat_md5);
    ac_db_bind_text(st, 10, r->flatdark_path);
    ac_db_bind_text(st, 11, r->flatdark_md5);
    ac_db_bind_text(st, 12, r->steps);
    ac_db_bind_double(st, 13, r->dark_scale);
    ac_db_bind_double(st, 14, r->pedestal);
    ac_db_bind_text(st, 15, r->quality_json);
    ac_db_bind_double(st, 16, r->t_read);
    ac_db_bind_double(st, 17, r->t_calib);
    ac_db_bind_double(st, 18, r->t_write);
    ac_db_bind_double(st, 19, r->t_total);
    ac_db_bind_text(st, 20, rx->now);
    rc = ac_db_step(db, st, "write the calibration record", e);
    ac_db_release(db, st);
    return rc < 0 ? rc : 0;
}

static int record_txn(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct record_ctx *rx = arg;
    const ac_calibrated_rec_t *r = rx->rec;
    char path[4096];
    bool found;
    int rc;

    ac_db_timestamp(rx->now, sizeof rx->now);
    /* Already recorded (a re-run after a crash between commit and acknowledgement)? */
    rc = query_text(
        db, "SELECT output_file_id, output_path FROM astrocal_record WHERE file_id = ?1",
        r->raw_file_id, rx->out_id, sizeof rx->out_id, &found, "look up the calibration record",
        e);
    if (rc != 0)
        return rc;
    if (found)
        return 0;
    rc = query_text(db, "SELECT fitsFileName FROM fitsfile WHERE fitsFileId = ?1",
                    r->raw_file_id, path, sizeof path, &found, "read the raw light", e);
    if (rc != 0)
        return rc;
    if (!found)
        return ac_err_set(e, -ENOENT, "%s: no fitsfile row for raw light %s", ac_db_path(db),
                          r->raw_file_id);
    /* The same output already registered (e.g. imported by AstroFiler): reuse its row. */
    rc = query_text(db,
                    "SELECT fitsFileId FROM fitsfile WHERE fitsFileName = ?1 "
                    "ORDER BY rowid LIMIT 1",
                    r->output_path, rx->out_id, sizeof rx->out_id, &found,
                    "look for an existing output row", e);
    if (rc != 0)
        return rc;
    if (found && strcmp(rx->out_id, r->raw_file_id) == 0)
        return ac_err_set(e, -EINVAL, "record: output path %s is the raw light itself",
                          r->output_path);
    if (!found && (rc = ac_catalog_uuid4(rx->out_id)) != 0)
        return ac_err_set(e, rc, "record: cannot make a UUID: %s", ac_strerror(rc));
    if ((rc = write_output_row(db, rx, found, e)) != 0)
        return rc;
    if ((rc = mark_raw(db, rx, e)) != 0)
        return rc;
    if ((rc = upsert_record(db, rx, e)) != 0)
        return rc;
    return 0;
}

int ac_catalog_record_calibrated(ac_db_t *db, const ac_calibrated_rec_t *rec,
                                 bool preserve_original, char out_file_id[AC_UUID_LEN + 1],
                                 ac_err_t *e)
{
    struct record_ctx rx;
    int rc;

    AC_DB_OWNER_CHECK(db);
    memset(&rx, 0, sizeof rx);
    if (rec == NULL || rec->raw_file_id == NULL || rec->output_path == NULL)
        return ac_err_set(e, -EINVAL, "record: raw file id and output path are required");
    rx.rec = rec;
    rx.preserve = preserve_original;
    if ((rc = ac_schema_require(db, &rx.si, e)) != 0)
        return rc;
    if ((rc = ac_db_transact(db, record_txn, &rx, e)) != 0)
        return rc;
    if (out_file_id != NULL)
        memcpy(out_file_id, rx.out_id, sizeof rx.out_id);
    return 0;
}

/* ---- Registering an imported file ---- */

struct register_ctx {
    const ac_register_rec_t *rec;
    const ac_schema_info_t *si;
    ac_register_result_t *res;
};

/* Finds the session of rec among those with its object name and date. */
static int find_session(ac_db_t *db, struct register_ctx *cx, ac_err_t *e)
{
    const ac_register_rec_t *r = cx->rec;
    sqlite3_stmt *st = NULL;
    int rc;

    rc = ac_db_prepare(db,
                       "SELECT fitsSessionId, fitsSessionTelescope, fitsSessionImager, "
                       "fitsSessionExposure, fitsSessionBinningX, fitsSessionBinningY, "
                       "fitsSessionGain, fitsSessionOffset, fitsSessionFilter FROM fitssession "
                       "WHERE fitsSessionObjectName = ?1 AND fitsSessionDate IS ?2 "
                       "ORDER BY rowid",
                       &st, e);
    if (rc != 0)
        return rc;
    ac_db_bind_text(st, 1, r->session_object);
    ac_db_bind_text(st, 2, r->session_date);
    while ((rc = ac_db_step(db, st, "look for the file's session", e)) == AC_DB_ROW) {
        const char *c[9];
        for (int i = 0; i < 9; i++)
            c[i] = (const char *)sqlite3_column_text(st, i);
        if (c[0] == NULL || !ac_catalog_same_text(c[1], r->telescope) ||
            !ac_catalog_same_text(c[2], r->instrument) ||
            !ac_catalog_same_number(c[4], r->xbin) || !ac_catalog_same_number(c[5], r->ybin) ||
            !ac_catalog_same_number(c[6], r->session_gain) ||
            !ac_catalog_same_number(c[7], r->session_offset))
            continue;
        if (r->session_by_exposure && !ac_catalog_same_number(c[3], r->exptime))
            continue;
        if (r->session_by_filter && !ac_catalog_same_text(c[8], r->filter))
            continue;
        ac_strlcpy(cx->res->session_id, c[0], sizeof cx->res->session_id);
        break;
    }
    ac_db_release(db, st);
    return rc < 0 ? rc : 0;
}

static int create_session(ac_db_t *db, struct register_ctx *cx, ac_err_t *e)
{
    const ac_register_rec_t *r = cx->rec;
    sqlite3_stmt *st = NULL;
    const char *sql_autocal =
        "INSERT INTO fitssession (fitsSessionId, fitsSessionObjectName, fitsSessionDate, "
        "fitsSessionTelescope, fitsSessionImager, fitsSessionExposure, fitsSessionBinningX, "
        "fitsSessionBinningY, fitsSessionCCDTemp, fitsSessionGain, fitsSessionOffset, "
        "fitsSessionFilter, fitsBiasSession, fitsDarkSession, fitsFlatSession, "
        "is_auto_calibration) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
        "NULL, NULL, NULL, 0)";
    const char *sql_plain =
        "INSERT INTO fitssession (fitsSessionId, fitsSessionObjectName, fitsSessionDate, "
        "fitsSessionTelescope, fitsSessionImager, fitsSessionExposure, fitsSessionBinningX, "
        "fitsSessionBinningY, fitsSessionCCDTemp, fitsSessionGain, fitsSessionOffset, "
        "fitsSessionFilter, fitsBiasSession, fitsDarkSession, fitsFlatSession) VALUES "
        "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, NULL, NULL, NULL)";
    int rc;

    if ((rc = ac_catalog_uuid4(cx->res->session_id)) != 0)
        return ac_err_set(e, rc, "register: cannot make a UUID: %s", ac_strerror(rc));
    rc = ac_db_prepare(db, (cx->si->cols & AC_COL_SESS_AUTOCAL) ? sql_autocal : sql_plain, &st,
                       e);
    if (rc != 0)
        return rc;
    ac_db_bind_text(st, 1, cx->res->session_id);
    ac_db_bind_text(st, 2, r->session_object);
    ac_db_bind_text(st, 3, r->session_date);
    ac_db_bind_text(st, 4, r->telescope);
    ac_db_bind_text(st, 5, r->instrument);
    ac_db_bind_text(st, 6, r->exptime);
    ac_db_bind_text(st, 7, r->xbin);
    ac_db_bind_text(st, 8, r->ybin);
    ac_db_bind_text(st, 9, r->ccd_temp);
    ac_db_bind_text(st, 10, r->session_gain);
    ac_db_bind_text(st, 11, r->session_offset);
    ac_db_bind_text(st, 12, r->filter);
    rc = ac_db_step(db, st, "create a session", e);
    ac_db_release(db, st);
    if (rc < 0)
        return rc;
    cx->res->session_created = true;
    return 0;
}

static int insert_file(ac_db_t *db, struct register_ctx *cx, ac_err_t *e)
{
    const ac_register_rec_t *r = cx->rec;
    sqlite3_stmt *st = NULL;
    char type[128];
    const char *sql_sd =
        "INSERT INTO fitsfile (fitsFileId, fitsFileName, fitsFileDate, fitsFileCalibrated, "
        "fitsFileType, fitsFileObject, fitsFileExpTime, fitsFileXBinning, fitsFileYBinning, "
        "fitsFileCCDTemp, fitsFileTelescop, fitsFileInstrument, fitsFileGain, fitsFileOffset, "
        "fitsFileFilter, fitsFileHash, fitsFileSession, fitsFileSoftDelete) VALUES (?1, ?2, "
        "?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, 0)";
    const char *sql_plain =
        "INSERT INTO fitsfile (fitsFileId, fitsFileName, fitsFileDate, fitsFileCalibrated, "
        "fitsFileType, fitsFileObject, fitsFileExpTime, fitsFileXBinning, fitsFileYBinning, "
        "fitsFileCCDTemp, fitsFileTelescop, fitsFileInstrument, fitsFileGain, fitsFileOffset, "
        "fitsFileFilter, fitsFileHash, fitsFileSession) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
        "?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)";
    int rc;

    if ((rc = ac_catalog_uuid4(cx->res->file_id)) != 0)
        return ac_err_set(e, rc, "register: cannot make a UUID: %s", ac_strerror(rc));
    /* Python's str.upper() on the raw IMAGETYP (FITS headers are ASCII). */
    ac_strlcpy(type, r->imagetyp != NULL ? r->imagetyp : "", sizeof type);
    for (char *c = type; *c != '\0'; c++)
        *c = (char)toupper((unsigned char)*c);
    rc =
        ac_db_prepare(db, (cx->si->cols & AC_COL_FILE_SOFTDELETE) ? sql_sd : sql_plain, &st, e);
    if (rc != 0)
        return rc;
    ac_db_bind_text(st, 1, cx->res->file_id);
    ac_db_bind_text(st, 2, r->path);
    ac_db_bind_text(st, 3, r->date_obs);
    sqlite3_bind_int(st, 4, r->calibrated);
    ac_db_bind_text(st, 5, r->imagetyp != NULL ? type : NULL);
    ac_db_bind_text(st, 6, r->object);
    ac_db_bind_text(st, 7, r->exptime);
    ac_db_bind_text(st, 8, r->xbin);
    ac_db_bind_text(st, 9, r->ybin);
    ac_db_bind_text(st, 10, r->ccd_temp);
    ac_db_bind_text(st, 11, r->telescope);
    ac_db_bind_text(st, 12, r->instrument);
    ac_db_bind_text(st, 13, r->gain);
    ac_db_bind_text(st, 14, r->offset);
    ac_db_bind_text(st, 15, r->filter);
    ac_db_bind_text(st, 16, r->sha256);
    ac_db_bind_text(st, 17, cx->res->session_id[0] != '\0' ? cx->res->session_id : NULL);
    rc = ac_db_step(db, st, "insert a fitsfile row", e);
    ac_db_release(db, st);
    return rc < 0 ? rc : 0;
}

static int register_txn(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct register_ctx *cx = arg;
    sqlite3_stmt *st = NULL;
    int rc;

    memset(cx->res, 0, sizeof *cx->res);
    rc = ac_db_prepare(
        db,
        "SELECT fitsFileId, fitsFileSession FROM fitsfile WHERE fitsFileHash = ?1 "
        "ORDER BY rowid LIMIT 1",
        &st, e);
    if (rc != 0)
        return rc;
    ac_db_bind_text(st, 1, cx->rec->sha256);
    rc = ac_db_step(db, st, "look for a duplicate by hash", e);
    if (rc == AC_DB_ROW) {
        const unsigned char *id = sqlite3_column_text(st, 0);
        const unsigned char *sess = sqlite3_column_text(st, 1);
        ac_strlcpy(cx->res->file_id, id != NULL ? (const char *)id : "",
                   sizeof cx->res->file_id);
        ac_strlcpy(cx->res->session_id, sess != NULL ? (const char *)sess : "",
                   sizeof cx->res->session_id);
        cx->res->duplicate = true;
    }
    ac_db_release(db, st);
    if (rc < 0 || cx->res->duplicate)
        return rc < 0 ? rc : 0;
    if (cx->rec->session_object != NULL) {
        if ((rc = find_session(db, cx, e)) != 0)
            return rc;
        if (cx->res->session_id[0] == '\0' && (rc = create_session(db, cx, e)) != 0)
            return rc;
    }
    return insert_file(db, cx, e);
}

int ac_catalog_register_file(ac_db_t *db, const ac_register_rec_t *rec,
                             ac_register_result_t *res, ac_err_t *e)
{
    struct register_ctx cx = {rec, NULL, res};
    int rc;

    AC_DB_OWNER_CHECK(db);
    if (rec == NULL || res == NULL || rec->path == NULL || rec->sha256 == NULL)
        return ac_err_set(e, -EINVAL, "register: path and hash are required");
    if ((rc = ac_schema_require(db, &cx.si, e)) != 0)
        return rc;
    rc = ac_db_transact(db, register_txn, &cx, e);
    if (rc != 0)
        ac_err_prefix(e, "register %s", rec->path);
    return rc;
}

/* ---- Registering a master ---- */

struct master_ctx {
    const ac_master_rec_t *rec;
    int64_t rowid;
    bool duplicate;
};

static int master_txn(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct master_ctx *mx = arg;
    const ac_master_rec_t *r = mx->rec;
    sqlite3_stmt *st = NULL;
    char base[200], id[232], now[32], stamp[32];
    time_t t = time(NULL);
    struct tm tm;
    bool taken = true;
    int rc;

    mx->duplicate = false;
    rc = ac_db_prepare(db,
                       "SELECT id FROM Masters WHERE COALESCE(soft_delete, 0) = 0 AND "
                       "(master_path = ?1 OR (?2 IS NOT NULL AND hash_value = ?2)) "
                       "ORDER BY id LIMIT 1",
                       &st, e);
    if (rc != 0)
        return rc;
    ac_db_bind_text(st, 1, r->path);
    ac_db_bind_text(st, 2, r->md5);
    rc = ac_db_step(db, st, "look for a duplicate master", e);
    if (rc == AC_DB_ROW) {
        mx->rowid = sqlite3_column_int64(st, 0);
        mx->duplicate = true;
    }
    ac_db_release(db, st);
    if (rc < 0 || mx->duplicate)
        return rc < 0 ? rc : 0;
    /* master_id as AstroFiler makes it, then made unique (two in one second collide). */
    localtime_r(&t, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%d_%H%M%S", &tm);
    snprintf(base, sizeof base, "%s_%.120s_%s", r->type,
             r->telescope != NULL ? r->telescope : "unknown", stamp);
    for (char *c = base; *c != '\0'; c++) {
        if (*c == ' ')
            *c = '_';
    }
    for (int n = 1; taken && n <= 1000; n++) {
        if (n == 1)
            ac_strlcpy(id, base, sizeof id);
        else
            snprintf(id, sizeof id, "%s_%d", base, n);
        rc = query_text(db, "SELECT id FROM Masters WHERE master_id = ?1", id, now, sizeof now,
                        &taken, "check a master id", e);
        if (rc != 0)
            return rc;
    }
    if (taken)
        return ac_err_set(e, AC_ESQLITE, "register master: no free master_id for %s", base);
    ac_db_timestamp(now, sizeof now);
    rc = ac_db_prepare(db,
                       "INSERT INTO Masters (master_id, master_type, master_path, "
                       "creation_date, telescope, instrument, exposure_time, binning_x, "
                       "binning_y, ccd_temp, gain, \"offset\", filter_name, source_session_id, "
                       "file_count, quality_score, file_size, hash_value, cloud_url, "
                       "is_validated, validation_date, notes, soft_delete) VALUES (?1, ?2, "
                       "?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, "
                       "?18, NULL, ?19, ?20, ?21, 0)",
                       &st, e);
    if (rc != 0)
        return rc;
    ac_db_bind_text(st, 1, id);
    ac_db_bind_text(st, 2, r->type);
    ac_db_bind_text(st, 3, r->path);
    ac_db_bind_text(st, 4, now);
    ac_db_bind_text(st, 5, r->telescope);
    ac_db_bind_text(st, 6, r->instrument);
    ac_db_bind_text(st, 7, r->exposure);
    ac_db_bind_text(st, 8, r->xbin);
    ac_db_bind_text(st, 9, r->ybin);
    ac_db_bind_text(st, 10, r->ccd_temp);
    ac_db_bind_text(st, 11, r->gain);
    ac_db_bind_text(st, 12, r->offset);
    ac_db_bind_text(st, 13, r->filter);
    ac_db_bind_text(st, 14, r->source_session_id);
    sqlite3_bind_int(st, 15, r->file_count);
    ac_db_bind_double(st, 16, r->quality);
    if (r->file_size >= 0)
        sqlite3_bind_int64(st, 17, r->file_size);
    else
        sqlite3_bind_null(st, 17);
    ac_db_bind_text(st, 18, r->md5);
    sqlite3_bind_int(st, 19, r->validated ? 1 : 0);
    ac_db_bind_text(st, 20, r->validated ? now : NULL);
    ac_db_bind_text(st, 21, r->notes);
    rc = ac_db_step(db, st, "insert a Masters row", e);
    if (rc >= 0)
        mx->rowid = sqlite3_last_insert_rowid(sqlite3_db_handle(st));
    ac_db_release(db, st);
    return rc < 0 ? rc : 0;
}

int ac_catalog_register_master(ac_db_t *db, const ac_master_rec_t *rec, int64_t *rowid,
                               bool *duplicate, ac_err_t *e)
{
    const ac_schema_info_t *si = NULL;
    struct master_ctx mx = {rec, 0, false};
    int rc;

    AC_DB_OWNER_CHECK(db);
    if (rec == NULL || rec->type == NULL || rec->path == NULL)
        return ac_err_set(e, -EINVAL, "register master: type and path are required");
    if ((rc = ac_schema_require(db, &si, e)) != 0)
        return rc;
    if (si->masters[0] == '\0')
        return ac_err_set(e, -ENOENT, "%s: no Masters table (AstroFiler older than 1.2)",
                          ac_db_path(db));
    if ((rc = ac_db_transact(db, master_txn, &mx, e)) != 0) {
        ac_err_prefix(e, "register master %s", rec->path);
        return rc;
    }
    if (rowid != NULL)
        *rowid = mx.rowid;
    if (duplicate != NULL)
        *duplicate = mx.duplicate;
    return 0;
}
