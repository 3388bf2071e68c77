/*
 * catalog.c - reading AstroFiler's catalogue: light sessions with uncalibrated lights,
 * their files, masters and master creation events; value helpers (see catalog.h).
 *
 * Queries name tables in lower case ("fitsfile", "fitssession", "Masters"): SQLite
 * compares table names case-insensitively, so the same text serves the migrated variant
 * and the models-only one ("fitsFile", "fitsSession"). Optional columns (schema.c) choose
 * between fixed SQL variants assembled from constant pieces; values are always bound.
 *
 * Ownership: every list is owned by the caller (free functions below). Thread: loop
 * thread for everything that takes an ac_db_t; the helpers are pure.
 */
#include "catalog.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "catalog_int.h"
#include "schema.h"
#include "util.h"

/* ---- Helpers ---- */

double ac_catalog_parse_number(const char *s)
{
    return ac_db_parse_number(s);
}

int ac_catalog_uuid4(char out[AC_UUID_LEN + 1])
{
    unsigned char b[16];
    size_t got = 0;

    while (got < sizeof b) {
        ssize_t n = getrandom(b + got, sizeof b - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        got += (size_t)n;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, AC_UUID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
    return 0;
}

bool ac_catalog_same_text(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

bool ac_catalog_same_number(const char *a, const char *b)
{
    double x = ac_db_parse_number(a), y = ac_db_parse_number(b);

    if (isnan(x) || isnan(y))
        return ac_catalog_same_text(a, b);
    return fabs(x - y) <= 1e-9 * fmax(1.0, fabs(x));
}

/* ---- Light sessions and their files ---- */

/* The conditions that select raw lights (alias f), for the columns present: only the
 * uncalibrated ones (not soft-deleted either) unless all. */
static void lights_where(const ac_schema_info_t *si, bool all, char *buf, size_t size)
{
    snprintf(buf, size, "upper(f.fitsFileType) LIKE '%%LIGHT%%'%s%s%s",
             all ? "" : " AND COALESCE(f.fitsFileCalibrated, 0) = 0",
             (si->cols & AC_COL_FILE_SOFTDELETE) && !all
                 ? " AND COALESCE(f.fitsFileSoftDelete, 0) = 0"
                 : "",
             (si->cols & AC_COL_FILE_ORIGINAL) ? " AND f.fitsFileOriginalFile IS NULL" : "");
}

static void light_where(const ac_schema_info_t *si, char *buf, size_t size)
{
    lights_where(si, false, buf, size);
}

/* The columns of a light session row, in the order of ac_catalog_light_sessions' query. */
/* clang-format off */
static const ac_row_col_t session_cols[] = {
    AC_ROW(ac_catalog_session_t, session_id, TEXT),
    AC_ROW(ac_catalog_session_t, first_date_obs, TEXT),
    AC_ROW(ac_catalog_session_t, object, TEXT),
    AC_ROW(ac_catalog_session_t, date, TEXT),
    AC_ROW(ac_catalog_session_t, telescope, TEXT),
    AC_ROW(ac_catalog_session_t, imager, TEXT),
    AC_ROW(ac_catalog_session_t, filter, TEXT),
    AC_ROW(ac_catalog_session_t, n_uncalibrated, INT),
    AC_ROW(ac_catalog_session_t, has_row, PRESENT),
    AC_ROW_SETTINGS(ac_catalog_session_t),
};
/* clang-format on */

void ac_catalog_sessions_free(ac_session_list_t *list)
{
    AC_CATALOG_ROWS_FREE(list, session_cols);
}

/* sessions_query lists light sessions: those with uncalibrated lights, or (all) the one
 * session_id with any raw light. */
static int sessions_query(ac_db_t *db, const char *session_id, ac_session_list_t *out,
                          ac_err_t *e)
{
    const ac_schema_info_t *si = NULL;
    char where[256], sql[1600];
    int rc;

    AC_DB_OWNER_CHECK(db);
    memset(out, 0, sizeof *out);
    if ((rc = ac_schema_require(db, &si, e)) != 0)
        return rc;
    lights_where(si, session_id != NULL, where, sizeof where);
    snprintf(sql, sizeof sql,
             "SELECT f.fitsFileSession, MIN(f.fitsFileDate), s.fitsSessionObjectName, "
             "s.fitsSessionDate, s.fitsSessionTelescope, s.fitsSessionImager, "
             "s.fitsSessionFilter, COUNT(*), s.fitsSessionId, s.fitsSessionExposure, "
             "s.fitsSessionCCDTemp, s.fitsSessionGain, s.fitsSessionOffset, "
             "s.fitsSessionBinningX, s.fitsSessionBinningY "
             "FROM fitsfile AS f LEFT JOIN fitssession AS s "
             "ON s.fitsSessionId = f.fitsFileSession "
             "WHERE %s AND f.fitsFileSession IS NOT NULL AND f.fitsFileSession <> '' %s"
             "GROUP BY f.fitsFileSession "
             "ORDER BY COALESCE(s.fitsSessionDate, MIN(f.fitsFileDate)), f.fitsFileSession",
             where, session_id != NULL ? "AND f.fitsFileSession = ?1 " : "");
    const ac_bind_t b[] = {AC_BIND_TEXT(session_id)};
    return AC_CATALOG_SELECT_ROWS(db, sql, b, session_id != NULL ? 1 : 0, session_cols, out,
                                  "list light sessions", e);
}

int ac_catalog_light_sessions(ac_db_t *db, ac_session_list_t *out, ac_err_t *e)
{
    return sessions_query(db, NULL, out, e);
}

int ac_catalog_session_any(ac_db_t *db, const char *session_id, ac_session_list_t *out,
                           ac_err_t *e)
{
    if (session_id == NULL)
        return ac_err_set(e, -EINVAL, "session: no session id");
    return sessions_query(db, session_id, out, e);
}

int ac_catalog_count_unsessioned_lights(ac_db_t *db, int *count, ac_err_t *e)
{
    static const ac_row_col_t count_col[] = {AC_ROW_VALUE(INT)}; /* into *count */
    const ac_schema_info_t *si = NULL;
    char where[256], sql[512];
    bool found;
    int rc;

    AC_DB_OWNER_CHECK(db);
    *count = 0;
    if ((rc = ac_schema_require(db, &si, e)) != 0)
        return rc;
    light_where(si, where, sizeof where);
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM fitsfile AS f WHERE %s AND "
             "(f.fitsFileSession IS NULL OR f.fitsFileSession = '')",
             where);
    return ac_catalog_select_row(db, sql, NULL, 0, count_col, 1, count, &found,
                                 "count lights without a session", e);
}

/* The columns of a file row, in the order of ac_catalog_file_columns. */
/* clang-format off */
const ac_row_col_t ac_catalog_file_cols[AC_CATALOG_FILE_NCOLS] = {
    AC_ROW(ac_catalog_file_t, file_id, TEXT),
    AC_ROW(ac_catalog_file_t, path, TEXT),
    AC_ROW(ac_catalog_file_t, session_id, TEXT),
    AC_ROW(ac_catalog_file_t, date_obs, TEXT),
    AC_ROW(ac_catalog_file_t, type, TEXT),
    AC_ROW(ac_catalog_file_t, object, TEXT),
    AC_ROW(ac_catalog_file_t, filter, TEXT),
    AC_ROW(ac_catalog_file_t, telescope, TEXT),
    AC_ROW(ac_catalog_file_t, instrument, TEXT),
    AC_ROW(ac_catalog_file_t, hash, TEXT),
    AC_ROW(ac_catalog_file_t, original_file, TEXT),
    AC_ROW_SETTINGS(ac_catalog_file_t),
    AC_ROW(ac_catalog_file_t, calibrated, BOOL),
    AC_ROW(ac_catalog_file_t, soft_deleted, BOOL),
};
/* clang-format on */

void ac_catalog_file_columns(const ac_schema_info_t *si, char *buf, size_t size)
{
    snprintf(buf, size,
             "f.fitsFileId, f.fitsFileName, f.fitsFileSession, f.fitsFileDate, "
             "f.fitsFileType, f.fitsFileObject, f.fitsFileFilter, f.fitsFileTelescop, "
             "f.fitsFileInstrument, f.fitsFileHash, %s, "
             "f.fitsFileExpTime, f.fitsFileCCDTemp, f.fitsFileGain, f.fitsFileOffset, "
             "f.fitsFileXBinning, f.fitsFileYBinning, f.fitsFileCalibrated, %s",
             (si->cols & AC_COL_FILE_ORIGINAL) ? "f.fitsFileOriginalFile" : "NULL",
             (si->cols & AC_COL_FILE_SOFTDELETE) ? "f.fitsFileSoftDelete" : "NULL");
}

void ac_catalog_file_clear(ac_catalog_file_t *x)
{
    ac_catalog_row_clear(ac_catalog_file_cols, AC_CATALOG_FILE_NCOLS, x);
}

/* The SELECT of file rows (alias f) for the columns present. */
static void file_select(const ac_schema_info_t *si, char *buf, size_t size)
{
    char cols[1024];

    ac_catalog_file_columns(si, cols, sizeof cols);
    snprintf(buf, size, "SELECT %s FROM fitsfile AS f", cols);
}

void ac_catalog_files_free(ac_file_list_t *list)
{
    AC_CATALOG_ROWS_FREE(list, ac_catalog_file_cols);
}

static int files_query(ac_db_t *db, const char *session_id, bool all, ac_file_list_t *out,
                       ac_err_t *e)
{
    const ac_schema_info_t *si = NULL;
    char sel[1024], where[256], sql[1536];
    int rc;

    AC_DB_OWNER_CHECK(db);
    memset(out, 0, sizeof *out);
    if (session_id == NULL)
        return ac_err_set(e, -EINVAL, "session files: no session id");
    if ((rc = ac_schema_require(db, &si, e)) != 0)
        return rc;
    file_select(si, sel, sizeof sel);
    lights_where(si, all, where, sizeof where);
    snprintf(sql, sizeof sql,
             "%s WHERE f.fitsFileSession = ?1 AND %s ORDER BY f.fitsFileDate, f.fitsFileId",
             sel, where);
    const ac_bind_t b[] = {AC_BIND_TEXT(session_id)};
    return AC_CATALOG_SELECT_ROWS(db, sql, b, 1, ac_catalog_file_cols, out,
                                  "list the lights of a session", e);
}

int ac_catalog_session_files(ac_db_t *db, const char *session_id, ac_file_list_t *out,
                             ac_err_t *e)
{
    return files_query(db, session_id, false, out, e);
}

int ac_catalog_session_raw_lights(ac_db_t *db, const char *session_id, ac_file_list_t *out,
                                  ac_err_t *e)
{
    return files_query(db, session_id, true, out, e);
}

/* file_get_by reads the fitsfile row whose column (fitsFileId or fitsFileName) is key. */
static int file_get_by(ac_db_t *db, const char *column, const char *key, ac_catalog_file_t *out,
                       ac_err_t *e)
{
    const ac_schema_info_t *si = NULL;
    char sel[1024], sql[1200];
    bool found;
    int rc;

    AC_DB_OWNER_CHECK(db);
    memset(out, 0, sizeof *out);
    if ((rc = ac_schema_require(db, &si, e)) != 0)
        return rc;
    file_select(si, sel, sizeof sel);
    snprintf(sql, sizeof sql, "%s WHERE f.%s = ?1 ORDER BY f.rowid LIMIT 1", sel, column);
    const ac_bind_t b[] = {AC_BIND_TEXT(key)};
    rc = ac_catalog_select_row(db, sql, b, 1, ac_catalog_file_cols, AC_CATALOG_FILE_NCOLS, out,
                               &found, "read a fitsfile row", e);
    if (rc == 0 && !found)
        rc = ac_err_set(e, -ENOENT, "%s: no fitsfile row with %s %s", ac_db_path(db),
                        strcmp(column, "fitsFileId") == 0 ? "id" : "path", key);
    return rc;
}

int ac_catalog_file_get(ac_db_t *db, const char *file_id, ac_catalog_file_t *out, ac_err_t *e)
{
    return file_get_by(db, "fitsFileId", file_id, out, e);
}

int ac_catalog_file_by_path(ac_db_t *db, const char *path, ac_catalog_file_t *out, ac_err_t *e)
{
    return file_get_by(db, "fitsFileName", path, out, e);
}

/* ---- Masters ---- */

/* The columns of a Masters row, in the order of list_masters' queries. */
/* clang-format off */
static const ac_row_col_t master_cols[] = {
    AC_ROW(ac_catalog_master_t, master_id, TEXT),
    AC_ROW(ac_catalog_master_t, type, TEXT),
    AC_ROW(ac_catalog_master_t, path, TEXT),
    AC_ROW(ac_catalog_master_t, telescope, TEXT),
    AC_ROW(ac_catalog_master_t, instrument, TEXT),
    AC_ROW(ac_catalog_master_t, filter, TEXT),
    AC_ROW(ac_catalog_master_t, source_session_id, TEXT),
    AC_ROW(ac_catalog_master_t, source_session_date, TEXT),
    AC_ROW(ac_catalog_master_t, creation_date, TEXT),
    AC_ROW(ac_catalog_master_t, hash_md5, TEXT),
    AC_ROW(ac_catalog_master_t, rowid, INT64),
    AC_ROW_SETTINGS(ac_catalog_master_t),
    AC_ROW(ac_catalog_master_t, file_count, INT),
    AC_ROW(ac_catalog_master_t, file_size, SIZE),
    AC_ROW(ac_catalog_master_t, quality, NUMBER),
    AC_ROW(ac_catalog_master_t, validated, BOOL),
    AC_ROW(ac_catalog_master_t, night, TEXT),
    AC_ROW(ac_catalog_master_t, cloud_url, TEXT),
};
/* clang-format on */

void ac_catalog_masters_free(ac_master_list_t *list)
{
    AC_CATALOG_ROWS_FREE(list, master_cols);
}

/* The live masters with rowid > ?1, in the order of master_cols. */
#define MASTERS_SELECT                                                                         \
    "SELECT m.master_id, m.master_type, m.master_path, m.telescope, m.instrument, "            \
    "m.filter_name, m.source_session_id, s.fitsSessionDate, m.creation_date, m.hash_value, "   \
    "m.id, m.exposure_time, m.ccd_temp, m.gain, m.\"offset\", m.binning_x, m.binning_y, "      \
    "m.file_count, m.file_size, m.quality_score, m.is_validated, n.night, "                    \
    "nullif(m.cloud_url, '') "                                                                 \
    "FROM Masters AS m LEFT JOIN fitssession AS s ON s.fitsSessionId = m.source_session_id "   \
    "LEFT JOIN astrocal_master_night AS n ON n.master_rowid = m.id "                           \
    "WHERE COALESCE(m.soft_delete, 0) = 0 AND m.id > ?1 "

/* Lists live masters with rowid > after; only those not in astrocal_master_seen when
 * unseen_only. */
static int list_masters(ac_db_t *db, int64_t after, bool unseen_only, ac_master_list_t *out,
                        ac_err_t *e)
{
    const ac_schema_info_t *si = NULL;
    int rc;
    const char *sql_all = MASTERS_SELECT "ORDER BY m.id";
    const char *sql_unseen = MASTERS_SELECT
        "AND NOT EXISTS (SELECT 1 FROM astrocal_master_seen AS z WHERE z.master_rowid = m.id) "
        "ORDER BY m.id";

    AC_DB_OWNER_CHECK(db);
    memset(out, 0, sizeof *out);
    if ((rc = ac_schema_require(db, &si, e)) != 0)
        return rc;
    if (si->masters[0] == '\0')
        return 0; /* an AstroFiler older than the Masters table */
    const ac_bind_t b[] = {AC_BIND_INT(after)};
    return AC_CATALOG_SELECT_ROWS(db, unseen_only ? sql_unseen : sql_all, b, 1, master_cols,
                                  out, "list masters", e);
}

int ac_catalog_masters(ac_db_t *db, ac_master_list_t *out, ac_err_t *e)
{
    return list_masters(db, INT64_MIN, false, out, e);
}

int ac_catalog_new_masters(ac_db_t *db, int64_t after_rowid, ac_master_list_t *out, ac_err_t *e)
{
    return list_masters(db, after_rowid, false, out, e);
}

int ac_catalog_unseen_masters(ac_db_t *db, ac_master_list_t *out, ac_err_t *e)
{
    return list_masters(db, INT64_MIN, true, out, e);
}

int ac_catalog_master_set_night(ac_db_t *db, int64_t rowid, const char *night,
                                const char *date_obs, ac_err_t *e)
{
    char ts[32];

    AC_DB_OWNER_CHECK(db);
    ac_db_timestamp(ts, sizeof ts);
    const ac_bind_t b[] = {AC_BIND_INT(rowid), AC_BIND_TEXT(night), AC_BIND_TEXT(date_obs),
                           AC_BIND_TEXT(ts)};
    return ac_catalog_exec(db,
                           "INSERT OR REPLACE INTO astrocal_master_night (master_rowid, night, "
                           "date_obs, recorded_at) VALUES (?1, ?2, ?3, ?4)",
                           b, 4, "record a master's night", NULL, e);
}

struct seen_ctx {
    const int64_t *rowids;
    size_t n;
};

static int mark_seen_txn(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct seen_ctx *sx = arg;
    int rc = 0;

    for (size_t i = 0; i < sx->n && rc == 0; i++) {
        const ac_bind_t v[] = {AC_BIND_INT(sx->rowids[i])};
        rc = ac_catalog_exec(db,
                             "INSERT OR IGNORE INTO astrocal_master_seen (master_rowid) VALUES "
                             "(?1)",
                             v, 1, "mark a master seen", NULL, e);
    }
    return rc;
}

int ac_catalog_mark_masters_seen(ac_db_t *db, const int64_t *rowids, size_t n, ac_err_t *e)
{
    struct seen_ctx sx = {rowids, n};

    AC_DB_OWNER_CHECK(db);
    if (n == 0)
        return 0;
    return ac_db_transact(db, mark_seen_txn, &sx, e);
}
