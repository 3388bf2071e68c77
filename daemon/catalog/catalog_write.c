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

/* ---- Recording a calibrated file ---- */

struct record_ctx {
    const ac_calibrated_rec_t *rec;
    bool preserve;
    const ac_schema_info_t *si;
    char out_id[AC_UUID_LEN + 1];
    char now[32];
};

/* The optional fitsfile columns AstroFiler sets on a calibrated output row (parameters:
 * ?4 the time, ?5..?7 the masters, ?8 the raw light's id; alias r: the raw light's row).
 * value: what a new row gets; reuse: what an existing row is set to (NULL: left alone). */
static const struct out_col {
    unsigned need; /* the AC_COL_FILE_* bits the column needs */
    const char *name, *value, *reuse;
} out_cols[] = {
    {AC_COL_FILE_CLOUD, "fitsFileCloudURL", "NULL", NULL},
    {AC_COL_FILE_SOFTDELETE, "fitsFileSoftDelete", "0", "0"},
    {AC_COL_FILE_CALDATE, "fitsFileCalibrationDate", "?4", "?4"},
    {AC_COL_FILE_ORIGINAL, "fitsFileOriginalFile", "r.fitsFileName",
     "(SELECT r.fitsFileName FROM fitsfile AS r WHERE r.fitsFileId = ?8)"},
    {AC_COL_FILE_ORIG_CLOUD | AC_COL_FILE_CLOUD, "fitsFileOriginalCloudURL",
     "r.fitsFileCloudURL", NULL},
    {AC_COL_FILE_MASTER_BIAS, "fitsFileMasterBias", "?5", "?5"},
    {AC_COL_FILE_MASTER_DARK, "fitsFileMasterDark", "?6", "?6"},
    {AC_COL_FILE_MASTER_FLAT, "fitsFileMasterFlat", "?7", "?7"},
};

/* The row of a calibrated output, copied from the raw light's row. */
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
    for (size_t i = 0; i < sizeof out_cols / sizeof out_cols[0]; i++) {
        if ((si->cols & out_cols[i].need) != out_cols[i].need)
            continue;
        sb_add(b, ", ");
        sb_add(b, out_cols[i].name);
        sb_add(&v, ", ");
        sb_add(&v, out_cols[i].value);
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
    for (size_t i = 0; i < sizeof out_cols / sizeof out_cols[0]; i++) {
        if ((si->cols & out_cols[i].need) != out_cols[i].need || out_cols[i].reuse == NULL)
            continue;
        sb_add(b, ", ");
        sb_add(b, out_cols[i].name);
        sb_add(b, " = ");
        sb_add(b, out_cols[i].reuse);
    }
    sb_add(b, " WHERE fitsFileId = ?1");
}

static int write_output_row(ac_db_t *db, struct record_ctx *rx, bool reuse, ac_err_t *e)
{
    const ac_calibrated_rec_t *r = rx->rec;
    struct sqlbuf b = {.n = 0};
    int changes = 0, rc;

    if (reuse)
        record_reuse_sql(rx->si, &b);
    else
        record_insert_sql(rx->si, &b);
    if (b.overflow)
        return ac_err_set(e, AC_ESQLITE, "record: statement too long");
    const ac_bind_t v[] = {
        AC_BIND_TEXT(rx->out_id),       AC_BIND_TEXT(r->output_path),
        AC_BIND_TEXT(r->output_sha256), AC_BIND_TEXT(rx->now),
        AC_BIND_TEXT(r->bias_path),     AC_BIND_TEXT(r->dark_path),
        AC_BIND_TEXT(r->flat_path),     AC_BIND_TEXT(r->raw_file_id),
    };
    rc = ac_catalog_exec(db, b.s, v, AC_BIND_N(v),
                         reuse ? "mark the existing output row" : "insert the output row",
                         &changes, e);
    if (rc != 0)
        return rc;
    if (changes != 1)
        return ac_err_set(e, AC_ESQLITE, "%s: recording %s changed %d rows, expected 1",
                          ac_db_path(db), r->raw_file_id, changes);
    return 0;
}

static int mark_raw(ac_db_t *db, struct record_ctx *rx, ac_err_t *e)
{
    struct sqlbuf b = {.n = 0};
    const ac_bind_t v[] = {AC_BIND_TEXT(rx->rec->raw_file_id), AC_BIND_TEXT(rx->now)};

    sb_add(&b, "UPDATE fitsfile SET fitsFileCalibrated = 1");
    if (rx->si->cols & AC_COL_FILE_CALDATE)
        sb_add(&b, ", fitsFileCalibrationDate = ?2");
    if (!rx->preserve && (rx->si->cols & AC_COL_FILE_SOFTDELETE))
        sb_add(&b, ", fitsFileSoftDelete = 1");
    sb_add(&b, " WHERE fitsFileId = ?1");
    return ac_catalog_exec(db, b.s, v, AC_BIND_N(v), "mark the raw light calibrated", NULL, e);
}

static int upsert_record(ac_db_t *db, struct record_ctx *rx, ac_err_t *e)
{
    const ac_calibrated_rec_t *r = rx->rec;
    const ac_bind_t v[] = {
        AC_BIND_TEXT(r->raw_file_id),  AC_BIND_TEXT(rx->out_id),
        AC_BIND_TEXT(r->output_path),  AC_BIND_TEXT(r->bias_path),
        AC_BIND_TEXT(r->bias_md5),     AC_BIND_TEXT(r->dark_path),
        AC_BIND_TEXT(r->dark_md5),     AC_BIND_TEXT(r->flat_path),
        AC_BIND_TEXT(r->flat_md5),     AC_BIND_TEXT(r->flatdark_path),
        AC_BIND_TEXT(r->flatdark_md5), AC_BIND_TEXT(r->steps),
        AC_BIND_NUMBER(r->dark_scale), AC_BIND_NUMBER(r->pedestal),
        AC_BIND_TEXT(r->quality_json), AC_BIND_NUMBER(r->t_read),
        AC_BIND_NUMBER(r->t_calib),    AC_BIND_NUMBER(r->t_write),
        AC_BIND_NUMBER(r->t_total),    AC_BIND_TEXT(rx->now),
    };

    return ac_catalog_exec(db,
                           "INSERT OR REPLACE INTO astrocal_record (file_id, output_file_id, "
                           "output_path, bias_path, bias_md5, dark_path, dark_md5, flat_path, "
                           "flat_md5, flatdark_path, flatdark_md5, steps, dark_scale, "
                           "pedestal, quality_json, t_read, t_calib, t_write, t_total, "
                           "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
                           "?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
                           v, AC_BIND_N(v), "write the calibration record", NULL, e);
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
    const ac_bind_t raw[] = {AC_BIND_TEXT(r->raw_file_id)};
    rc = ac_catalog_select_text(
        db, "SELECT output_file_id, output_path FROM astrocal_record WHERE file_id = ?1", raw,
        1, rx->out_id, sizeof rx->out_id, &found, "look up the calibration record", e);
    if (rc != 0)
        return rc;
    if (found)
        return 0;
    rc = ac_catalog_select_text(db, "SELECT fitsFileName FROM fitsfile WHERE fitsFileId = ?1",
                                raw, 1, path, sizeof path, &found, "read the raw light", e);
    if (rc != 0)
        return rc;
    if (!found)
        return ac_err_set(e, -ENOENT, "%s: no fitsfile row for raw light %s", ac_db_path(db),
                          r->raw_file_id);
    /* The same output already registered (e.g. imported by AstroFiler): reuse its row.
     * fitsFileName has no index and AstroFiler's tables get none from astrocald, so the
     * row is looked for through the indexed hash (the same content) and the raw light's
     * session: a search, not a scan of every row of a catalogue of years. */
    const ac_bind_t same[] = {AC_BIND_TEXT(r->output_path), AC_BIND_TEXT(r->output_sha256),
                              AC_BIND_TEXT(r->raw_file_id)};
    rc = ac_catalog_select_text(
        db,
        "SELECT fitsFileId FROM fitsfile WHERE fitsFileName = ?1 AND (fitsFileHash = ?2 OR "
        "fitsFileSession = (SELECT r.fitsFileSession FROM fitsfile AS r "
        "WHERE r.fitsFileId = ?3)) ORDER BY rowid LIMIT 1",
        same, 3, rx->out_id, sizeof rx->out_id, &found, "look for an existing output row", e);
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

/* A session with the file's object name and date: the file's when its values match
 * (then AC_CATALOG_STOP). */
static int match_session(sqlite3_stmt *st, void *arg, ac_err_t *e)
{
    struct register_ctx *cx = arg;
    const ac_register_rec_t *r = cx->rec;
    const char *c[9];

    (void)e;
    for (int i = 0; i < 9; i++)
        c[i] = (const char *)sqlite3_column_text(st, i);
    if (c[0] == NULL || !ac_catalog_same_text(c[1], r->telescope) ||
        !ac_catalog_same_text(c[2], r->instrument) || !ac_catalog_same_number(c[4], r->xbin) ||
        !ac_catalog_same_number(c[5], r->ybin) ||
        !ac_catalog_same_number(c[6], r->session_gain) ||
        !ac_catalog_same_number(c[7], r->session_offset))
        return 0;
    if (r->session_by_exposure && !ac_catalog_same_number(c[3], r->exptime))
        return 0;
    if (r->session_by_filter && !ac_catalog_same_text(c[8], r->filter))
        return 0;
    ac_strlcpy(cx->res->session_id, c[0], sizeof cx->res->session_id);
    return AC_CATALOG_STOP;
}

/* Finds the session of rec among those with its object name and date. */
static int find_session(ac_db_t *db, struct register_ctx *cx, ac_err_t *e)
{
    const ac_bind_t v[] = {AC_BIND_TEXT(cx->rec->session_object),
                           AC_BIND_TEXT(cx->rec->session_date)};

    return ac_catalog_run(db,
                          "SELECT fitsSessionId, fitsSessionTelescope, fitsSessionImager, "
                          "fitsSessionExposure, fitsSessionBinningX, fitsSessionBinningY, "
                          "fitsSessionGain, fitsSessionOffset, fitsSessionFilter FROM "
                          "fitssession WHERE fitsSessionObjectName = ?1 AND fitsSessionDate IS "
                          "?2 ORDER BY rowid",
                          v, AC_BIND_N(v), "look for the file's session", match_session, cx, e);
}

/* A new fitssession row (?1..?12, no links); the schema may add is_auto_calibration. */
#define SESSION_INSERT(extra_col, extra_value)                                                 \
    "INSERT INTO fitssession (fitsSessionId, fitsSessionObjectName, fitsSessionDate, "         \
    "fitsSessionTelescope, fitsSessionImager, fitsSessionExposure, fitsSessionBinningX, "      \
    "fitsSessionBinningY, fitsSessionCCDTemp, fitsSessionGain, fitsSessionOffset, "            \
    "fitsSessionFilter, fitsBiasSession, fitsDarkSession, fitsFlatSession" extra_col           \
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, NULL, NULL, "                \
    "NULL" extra_value ")"

static int create_session(ac_db_t *db, struct register_ctx *cx, ac_err_t *e)
{
    const ac_register_rec_t *r = cx->rec;
    const ac_bind_t v[] = {
        AC_BIND_TEXT(cx->res->session_id),
        AC_BIND_TEXT(r->session_object),
        AC_BIND_TEXT(r->session_date),
        AC_BIND_TEXT(r->telescope),
        AC_BIND_TEXT(r->instrument),
        AC_BIND_TEXT(r->exptime),
        AC_BIND_TEXT(r->xbin),
        AC_BIND_TEXT(r->ybin),
        AC_BIND_TEXT(r->ccd_temp),
        AC_BIND_TEXT(r->session_gain),
        AC_BIND_TEXT(r->session_offset),
        AC_BIND_TEXT(r->filter),
    };
    bool autocal = (cx->si->cols & AC_COL_SESS_AUTOCAL) != 0;
    int rc;

    if ((rc = ac_catalog_uuid4(cx->res->session_id)) != 0)
        return ac_err_set(e, rc, "register: cannot make a UUID: %s", ac_strerror(rc));
    rc = ac_catalog_exec(
        db, autocal ? SESSION_INSERT(", is_auto_calibration", ", 0") : SESSION_INSERT("", ""),
        v, AC_BIND_N(v), "create a session", NULL, e);
    if (rc == 0)
        cx->res->session_created = true;
    return rc;
}

/* A new fitsfile row (?1..?17); the schema may add fitsFileSoftDelete. */
#define FILE_INSERT(extra_col, extra_value)                                                    \
    "INSERT INTO fitsfile (fitsFileId, fitsFileName, fitsFileDate, fitsFileCalibrated, "       \
    "fitsFileType, fitsFileObject, fitsFileExpTime, fitsFileXBinning, fitsFileYBinning, "      \
    "fitsFileCCDTemp, fitsFileTelescop, fitsFileInstrument, fitsFileGain, fitsFileOffset, "    \
    "fitsFileFilter, fitsFileHash, fitsFileSession" extra_col ") VALUES (?1, ?2, ?3, ?4, "     \
    "?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17" extra_value ")"

static int insert_file(ac_db_t *db, struct register_ctx *cx, ac_err_t *e)
{
    const ac_register_rec_t *r = cx->rec;
    const char *session = cx->res->session_id[0] != '\0' ? cx->res->session_id : NULL;
    char type[128];
    const ac_bind_t v[] = {
        AC_BIND_TEXT(cx->res->file_id),
        AC_BIND_TEXT(r->path),
        AC_BIND_TEXT(r->date_obs),
        AC_BIND_INT(r->calibrated),
        AC_BIND_TEXT(r->imagetyp != NULL ? type : NULL),
        AC_BIND_TEXT(r->object),
        AC_BIND_TEXT(r->exptime),
        AC_BIND_TEXT(r->xbin),
        AC_BIND_TEXT(r->ybin),
        AC_BIND_TEXT(r->ccd_temp),
        AC_BIND_TEXT(r->telescope),
        AC_BIND_TEXT(r->instrument),
        AC_BIND_TEXT(r->gain),
        AC_BIND_TEXT(r->offset),
        AC_BIND_TEXT(r->filter),
        AC_BIND_TEXT(r->sha256),
        AC_BIND_TEXT(session),
    };
    bool softdelete = (cx->si->cols & AC_COL_FILE_SOFTDELETE) != 0;
    int rc;

    if ((rc = ac_catalog_uuid4(cx->res->file_id)) != 0)
        return ac_err_set(e, rc, "register: cannot make a UUID: %s", ac_strerror(rc));
    /* Python's str.upper() on the raw IMAGETYP (FITS headers are ASCII). */
    ac_strlcpy(type, r->imagetyp != NULL ? r->imagetyp : "", sizeof type);
    for (char *c = type; *c != '\0'; c++)
        *c = (char)toupper((unsigned char)*c);
    return ac_catalog_exec(
        db, softdelete ? FILE_INSERT(", fitsFileSoftDelete", ", 0") : FILE_INSERT("", ""), v,
        AC_BIND_N(v), "insert a fitsfile row", NULL, e);
}

/* The row of an earlier import of the same file (AC_CATALOG_STOP). */
static int read_duplicate(sqlite3_stmt *st, void *arg, ac_err_t *e)
{
    ac_register_result_t *res = arg;

    (void)e;
    ac_catalog_column_copy(st, 0, res->file_id, sizeof res->file_id);
    ac_catalog_column_copy(st, 1, res->session_id, sizeof res->session_id);
    res->duplicate = true;
    return AC_CATALOG_STOP;
}

static int register_txn(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct register_ctx *cx = arg;
    const ac_bind_t v[] = {AC_BIND_TEXT(cx->rec->sha256)};
    int rc;

    memset(cx->res, 0, sizeof *cx->res);
    rc = ac_catalog_run(db,
                        "SELECT fitsFileId, fitsFileSession FROM fitsfile WHERE fitsFileHash = "
                        "?1 ORDER BY rowid LIMIT 1",
                        v, 1, "look for a duplicate by hash", read_duplicate, cx->res, e);
    if (rc != 0 || cx->res->duplicate)
        return rc;
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

/* Makes master_id as AstroFiler does (type_telescope_stamp), then unique (two in one
 * second collide) with _2, _3, ... */
static int make_master_id(ac_db_t *db, const ac_master_rec_t *r, char *id, size_t size,
                          ac_err_t *e)
{
    char base[200], scratch[32], stamp[32];
    time_t t = time(NULL);
    struct tm tm;
    bool taken = true;
    int rc;

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
            ac_strlcpy(id, base, size);
        else
            snprintf(id, size, "%s_%d", base, n);
        const ac_bind_t v[] = {AC_BIND_TEXT(id)};
        rc = ac_catalog_select_text(db, "SELECT id FROM Masters WHERE master_id = ?1", v, 1,
                                    scratch, sizeof scratch, &taken, "check a master id", e);
        if (rc != 0)
            return rc;
    }
    if (taken)
        return ac_err_set(e, AC_ESQLITE, "register master: no free master_id for %s", base);
    return 0;
}

static int master_txn(ac_db_t *db, void *arg, ac_err_t *e)
{
    static const ac_row_col_t id_col[] = {AC_ROW_VALUE(INT64)}; /* into mx->rowid */
    struct master_ctx *mx = arg;
    const ac_master_rec_t *r = mx->rec;
    char id[232], now[32];
    const ac_bind_t dup[] = {AC_BIND_TEXT(r->path), AC_BIND_TEXT(r->md5)};
    int rc;

    rc = ac_catalog_select_row(db,
                               "SELECT id FROM Masters WHERE COALESCE(soft_delete, 0) = 0 AND "
                               "(master_path = ?1 OR (?2 IS NOT NULL AND hash_value = ?2)) "
                               "ORDER BY id LIMIT 1",
                               dup, AC_BIND_N(dup), id_col, 1, &mx->rowid, &mx->duplicate,
                               "look for a duplicate master", e);
    if (rc != 0 || mx->duplicate)
        return rc;
    if ((rc = make_master_id(db, r, id, sizeof id, e)) != 0)
        return rc;
    ac_db_timestamp(now, sizeof now);
    const ac_bind_t v[] = {
        AC_BIND_TEXT(id),
        AC_BIND_TEXT(r->type),
        AC_BIND_TEXT(r->path),
        AC_BIND_TEXT(now),
        AC_BIND_TEXT(r->telescope),
        AC_BIND_TEXT(r->instrument),
        AC_BIND_TEXT(r->exposure),
        AC_BIND_TEXT(r->xbin),
        AC_BIND_TEXT(r->ybin),
        AC_BIND_TEXT(r->ccd_temp),
        AC_BIND_TEXT(r->gain),
        AC_BIND_TEXT(r->offset),
        AC_BIND_TEXT(r->filter),
        AC_BIND_TEXT(r->source_session_id),
        AC_BIND_INT(r->file_count),
        AC_BIND_NUMBER(r->quality),
        r->file_size >= 0 ? AC_BIND_INT(r->file_size) : AC_BIND_NULL,
        AC_BIND_TEXT(r->md5),
        AC_BIND_INT(r->validated ? 1 : 0),
        AC_BIND_TEXT(r->validated ? now : NULL),
        AC_BIND_TEXT(r->notes),
    };
    rc = ac_catalog_exec(db,
                         "INSERT INTO Masters (master_id, master_type, master_path, "
                         "creation_date, telescope, instrument, exposure_time, binning_x, "
                         "binning_y, ccd_temp, gain, \"offset\", filter_name, "
                         "source_session_id, file_count, quality_score, file_size, hash_value, "
                         "cloud_url, is_validated, validation_date, notes, soft_delete) VALUES "
                         "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
                         "?16, ?17, ?18, NULL, ?19, ?20, ?21, 0)",
                         v, AC_BIND_N(v), "insert a Masters row", NULL, e);
    if (rc == 0)
        mx->rowid = sqlite3_last_insert_rowid(ac_db_handle(db));
    return rc;
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
