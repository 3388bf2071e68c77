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

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
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

int ac_catalog_grow(void **items, size_t *cap, size_t n, size_t size)
{
    size_t ncap;
    char *p;

    if (n < *cap)
        return 0;
    ncap = *cap != 0 ? *cap * 2 : 16;
    p = realloc(*items, ncap * size);
    if (p == NULL)
        return -ENOMEM;
    memset(p + *cap * size, 0, (ncap - *cap) * size);
    *items = p;
    *cap = ncap;
    return 0;
}

int ac_catalog_dup_columns(sqlite3_stmt *st, int first, char **const fields[], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (ac_db_column_dup(st, first + (int)i, fields[i]) != 0)
            return -ENOMEM;
    }
    return 0;
}

void ac_catalog_free_fields(char **const fields[], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(*fields[i]);
        *fields[i] = NULL;
    }
}

/* ---- Light sessions and their files ---- */

/* The conditions that select uncalibrated raw lights (alias f), for the columns present. */
static void light_where(const ac_schema_info_t *si, char *buf, size_t size)
{
    snprintf(buf, size,
             "upper(f.fitsFileType) LIKE '%%LIGHT%%' AND COALESCE(f.fitsFileCalibrated, 0) = 0"
             "%s%s",
             (si->cols & AC_COL_FILE_SOFTDELETE) ? " AND COALESCE(f.fitsFileSoftDelete, 0) = 0"
                                                 : "",
             (si->cols & AC_COL_FILE_ORIGINAL) ? " AND f.fitsFileOriginalFile IS NULL" : "");
}

#define SESSION_TEXT_COLS 7

static char **const *session_fields(ac_catalog_session_t *s, char **(*f)[SESSION_TEXT_COLS])
{
    char **const v[SESSION_TEXT_COLS] = {&s->session_id, &s->first_date_obs, &s->object,
                                         &s->date,       &s->telescope,      &s->imager,
                                         &s->filter};
    memcpy(*f, v, sizeof v);
    return *f;
}

static void session_clear(ac_catalog_session_t *s)
{
    char **f[SESSION_TEXT_COLS];

    ac_catalog_free_fields(session_fields(s, &f), SESSION_TEXT_COLS);
}

void ac_catalog_sessions_free(ac_session_list_t *list)
{
    AC_CATALOG_LIST_FREE(list, session_clear);
}

int ac_catalog_light_sessions(ac_db_t *db, ac_session_list_t *out, ac_err_t *e)
{
    const ac_schema_info_t *si = NULL;
    sqlite3_stmt *st = NULL;
    char where[256], sql[1536];
    size_t cap = 0;
    int rc;

    AC_DB_OWNER_CHECK(db);
    memset(out, 0, sizeof *out);
    if ((rc = ac_schema_require(db, &si, e)) != 0)
        return rc;
    light_where(si, where, sizeof where);
    snprintf(sql, sizeof sql,
             "SELECT f.fitsFileSession, MIN(f.fitsFileDate), s.fitsSessionObjectName, "
             "s.fitsSessionDate, s.fitsSessionTelescope, s.fitsSessionImager, "
             "s.fitsSessionFilter, COUNT(*), s.fitsSessionId, s.fitsSessionExposure, "
             "s.fitsSessionCCDTemp, s.fitsSessionGain, s.fitsSessionOffset, "
             "s.fitsSessionBinningX, s.fitsSessionBinningY "
             "FROM fitsfile AS f LEFT JOIN fitssession AS s "
             "ON s.fitsSessionId = f.fitsFileSession "
             "WHERE %s AND f.fitsFileSession IS NOT NULL AND f.fitsFileSession <> '' "
             "GROUP BY f.fitsFileSession "
             "ORDER BY COALESCE(s.fitsSessionDate, MIN(f.fitsFileDate)), f.fitsFileSession",
             where);
    if ((rc = ac_db_prepare(db, sql, &st, e)) != 0)
        return rc;
    while ((rc = ac_db_step(db, st, "list light sessions", e)) == AC_DB_ROW) {
        ac_catalog_session_t *s;
        char **f[SESSION_TEXT_COLS];

        if (ac_catalog_grow((void **)&out->items, &cap, out->n, sizeof *out->items) != 0)
            goto oom;
        s = &out->items[out->n++];
        if (ac_catalog_dup_columns(st, 0, session_fields(s, &f), SESSION_TEXT_COLS) != 0)
            goto oom;
        s->n_uncalibrated = sqlite3_column_int(st, 7);
        s->has_row = sqlite3_column_type(st, 8) != SQLITE_NULL;
        s->exposure = ac_db_column_number(st, 9);
        s->ccd_temp = ac_db_column_number(st, 10);
        s->gain = ac_db_column_number(st, 11);
        s->offset = ac_db_column_number(st, 12);
        s->xbin = ac_db_column_int(st, 13, 0);
        s->ybin = ac_db_column_int(st, 14, 0);
    }
    ac_db_release(db, st);
    if (rc < 0)
        ac_catalog_sessions_free(out);
    return rc < 0 ? rc : 0;
oom:
    ac_db_release(db, st);
    ac_catalog_sessions_free(out);
    return ac_err_set(e, -ENOMEM, "out of memory listing light sessions");
}

int ac_catalog_count_unsessioned_lights(ac_db_t *db, int *count, ac_err_t *e)
{
    const ac_schema_info_t *si = NULL;
    sqlite3_stmt *st = NULL;
    char where[256], sql[512];
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
    if ((rc = ac_db_prepare(db, sql, &st, e)) != 0)
        return rc;
    rc = ac_db_step(db, st, "count lights without a session", e);
    if (rc == AC_DB_ROW)
        *count = sqlite3_column_int(st, 0);
    ac_db_release(db, st);
    return rc < 0 ? rc : 0;
}

/* The columns of a file row, in the order file_from_row reads them. */
static void file_select(const ac_schema_info_t *si, char *buf, size_t size)
{
    snprintf(buf, size,
             "SELECT f.fitsFileId, f.fitsFileName, f.fitsFileSession, f.fitsFileDate, "
             "f.fitsFileType, f.fitsFileObject, f.fitsFileFilter, f.fitsFileTelescop, "
             "f.fitsFileInstrument, f.fitsFileHash, %s, "
             "f.fitsFileExpTime, f.fitsFileCCDTemp, f.fitsFileGain, f.fitsFileOffset, "
             "f.fitsFileXBinning, f.fitsFileYBinning, f.fitsFileCalibrated, %s "
             "FROM fitsfile AS f",
             (si->cols & AC_COL_FILE_ORIGINAL) ? "f.fitsFileOriginalFile" : "NULL",
             (si->cols & AC_COL_FILE_SOFTDELETE) ? "f.fitsFileSoftDelete" : "NULL");
}

#define FILE_TEXT_COLS 11

static char **const *file_fields(ac_catalog_file_t *x, char **(*f)[FILE_TEXT_COLS])
{
    char **const v[FILE_TEXT_COLS] = {
        &x->file_id, &x->path,      &x->session_id, &x->date_obs, &x->type,         &x->object,
        &x->filter,  &x->telescope, &x->instrument, &x->hash,     &x->original_file};
    memcpy(*f, v, sizeof v);
    return *f;
}

void ac_catalog_file_clear(ac_catalog_file_t *x)
{
    char **f[FILE_TEXT_COLS];

    if (x == NULL)
        return;
    ac_catalog_free_fields(file_fields(x, &f), FILE_TEXT_COLS);
}

static int file_from_row(sqlite3_stmt *st, ac_catalog_file_t *x)
{
    char **f[FILE_TEXT_COLS];

    if (ac_catalog_dup_columns(st, 0, file_fields(x, &f), FILE_TEXT_COLS) != 0)
        return -ENOMEM;
    x->exposure = ac_db_column_number(st, 11);
    x->ccd_temp = ac_db_column_number(st, 12);
    x->gain = ac_db_column_number(st, 13);
    x->offset = ac_db_column_number(st, 14);
    x->xbin = ac_db_column_int(st, 15, 0);
    x->ybin = ac_db_column_int(st, 16, 0);
    x->calibrated = ac_db_column_int(st, 17, 0) != 0;
    x->soft_deleted = ac_db_column_int(st, 18, 0) != 0;
    return 0;
}

void ac_catalog_files_free(ac_file_list_t *list)
{
    AC_CATALOG_LIST_FREE(list, ac_catalog_file_clear);
}

int ac_catalog_session_files(ac_db_t *db, const char *session_id, ac_file_list_t *out,
                             ac_err_t *e)
{
    const ac_schema_info_t *si = NULL;
    sqlite3_stmt *st = NULL;
    char sel[1024], where[256], sql[1536];
    size_t cap = 0;
    int rc;

    AC_DB_OWNER_CHECK(db);
    memset(out, 0, sizeof *out);
    if (session_id == NULL)
        return ac_err_set(e, -EINVAL, "session files: no session id");
    if ((rc = ac_schema_require(db, &si, e)) != 0)
        return rc;
    file_select(si, sel, sizeof sel);
    light_where(si, where, sizeof where);
    snprintf(sql, sizeof sql,
             "%s WHERE f.fitsFileSession = ?1 AND %s ORDER BY f.fitsFileDate, f.fitsFileId",
             sel, where);
    if ((rc = ac_db_prepare(db, sql, &st, e)) != 0)
        return rc;
    ac_db_bind_text(st, 1, session_id);
    while ((rc = ac_db_step(db, st, "list the lights of a session", e)) == AC_DB_ROW) {
        if (ac_catalog_grow((void **)&out->items, &cap, out->n, sizeof *out->items) != 0 ||
            file_from_row(st, &out->items[out->n++]) != 0) {
            ac_db_release(db, st);
            ac_catalog_files_free(out);
            return ac_err_set(e, -ENOMEM, "out of memory listing session %s", session_id);
        }
    }
    ac_db_release(db, st);
    if (rc < 0)
        ac_catalog_files_free(out);
    return rc < 0 ? rc : 0;
}

int ac_catalog_file_get(ac_db_t *db, const char *file_id, ac_catalog_file_t *out, ac_err_t *e)
{
    const ac_schema_info_t *si = NULL;
    sqlite3_stmt *st = NULL;
    char sel[1024], sql[1200];
    int rc;

    AC_DB_OWNER_CHECK(db);
    memset(out, 0, sizeof *out);
    if ((rc = ac_schema_require(db, &si, e)) != 0)
        return rc;
    file_select(si, sel, sizeof sel);
    snprintf(sql, sizeof sql, "%s WHERE f.fitsFileId = ?1", sel);
    if ((rc = ac_db_prepare(db, sql, &st, e)) != 0)
        return rc;
    ac_db_bind_text(st, 1, file_id);
    rc = ac_db_step(db, st, "read a fitsfile row", e);
    if (rc == AC_DB_ROW) {
        rc = file_from_row(st, out);
        if (rc != 0) {
            ac_catalog_file_clear(out);
            rc = ac_err_set(e, rc, "out of memory reading file %s", file_id);
        }
    } else if (rc == AC_DB_DONE) {
        rc = ac_err_set(e, -ENOENT, "%s: no fitsfile row with id %s", ac_db_path(db), file_id);
    }
    ac_db_release(db, st);
    return rc;
}

/* ---- Masters ---- */

#define MASTER_TEXT_COLS 10

static char **const *master_fields(ac_catalog_master_t *m, char **(*f)[MASTER_TEXT_COLS])
{
    char **const v[MASTER_TEXT_COLS] = {&m->master_id,
                                        &m->type,
                                        &m->path,
                                        &m->telescope,
                                        &m->instrument,
                                        &m->filter,
                                        &m->source_session_id,
                                        &m->source_session_date,
                                        &m->creation_date,
                                        &m->hash_md5};
    memcpy(*f, v, sizeof v);
    return *f;
}

static void master_clear(ac_catalog_master_t *m)
{
    char **f[MASTER_TEXT_COLS];

    ac_catalog_free_fields(master_fields(m, &f), MASTER_TEXT_COLS);
}

void ac_catalog_masters_free(ac_master_list_t *list)
{
    AC_CATALOG_LIST_FREE(list, master_clear);
}

/* Lists live masters with rowid > after; only those not in astrocal_master_seen when
 * unseen_only. */
static int list_masters(ac_db_t *db, int64_t after, bool unseen_only, ac_master_list_t *out,
                        ac_err_t *e)
{
    const ac_schema_info_t *si = NULL;
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int rc;
    const char *sql_all =
        "SELECT m.master_id, m.master_type, m.master_path, m.telescope, m.instrument, "
        "m.filter_name, m.source_session_id, s.fitsSessionDate, m.creation_date, "
        "m.hash_value, m.id, m.exposure_time, m.ccd_temp, m.gain, m.\"offset\", "
        "m.binning_x, m.binning_y, m.file_count, m.file_size, m.quality_score, "
        "m.is_validated "
        "FROM Masters AS m LEFT JOIN fitssession AS s ON s.fitsSessionId = "
        "m.source_session_id "
        "WHERE COALESCE(m.soft_delete, 0) = 0 AND m.id > ?1 ORDER BY m.id";
    const char *sql_unseen =
        "SELECT m.master_id, m.master_type, m.master_path, m.telescope, m.instrument, "
        "m.filter_name, m.source_session_id, s.fitsSessionDate, m.creation_date, "
        "m.hash_value, m.id, m.exposure_time, m.ccd_temp, m.gain, m.\"offset\", "
        "m.binning_x, m.binning_y, m.file_count, m.file_size, m.quality_score, "
        "m.is_validated "
        "FROM Masters AS m LEFT JOIN fitssession AS s ON s.fitsSessionId = "
        "m.source_session_id "
        "WHERE COALESCE(m.soft_delete, 0) = 0 AND m.id > ?1 AND NOT EXISTS "
        "(SELECT 1 FROM astrocal_master_seen AS z WHERE z.master_rowid = m.id) "
        "ORDER BY m.id";

    AC_DB_OWNER_CHECK(db);
    memset(out, 0, sizeof *out);
    if ((rc = ac_schema_require(db, &si, e)) != 0)
        return rc;
    if (si->masters[0] == '\0')
        return 0; /* an AstroFiler older than the Masters table */
    if ((rc = ac_db_prepare(db, unseen_only ? sql_unseen : sql_all, &st, e)) != 0)
        return rc;
    sqlite3_bind_int64(st, 1, after);
    while ((rc = ac_db_step(db, st, "list masters", e)) == AC_DB_ROW) {
        ac_catalog_master_t *m;
        char **f[MASTER_TEXT_COLS];

        if (ac_catalog_grow((void **)&out->items, &cap, out->n, sizeof *out->items) != 0)
            goto oom;
        m = &out->items[out->n++];
        if (ac_catalog_dup_columns(st, 0, master_fields(m, &f), MASTER_TEXT_COLS) != 0)
            goto oom;
        m->rowid = sqlite3_column_int64(st, 10);
        m->exposure = ac_db_column_number(st, 11);
        m->ccd_temp = ac_db_column_number(st, 12);
        m->gain = ac_db_column_number(st, 13);
        m->offset = ac_db_column_number(st, 14);
        m->xbin = ac_db_column_int(st, 15, 0);
        m->ybin = ac_db_column_int(st, 16, 0);
        m->file_count = ac_db_column_int(st, 17, 0);
        m->file_size =
            sqlite3_column_type(st, 18) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 18);
        m->quality = ac_db_column_number(st, 19);
        m->validated = ac_db_column_int(st, 20, 0) != 0;
    }
    ac_db_release(db, st);
    if (rc < 0)
        ac_catalog_masters_free(out);
    return rc < 0 ? rc : 0;
oom:
    ac_db_release(db, st);
    ac_catalog_masters_free(out);
    return ac_err_set(e, -ENOMEM, "out of memory listing masters");
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

struct seen_ctx {
    const int64_t *rowids;
    size_t n;
};

static int mark_seen_txn(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct seen_ctx *sx = arg;
    sqlite3_stmt *st = NULL;
    int rc = 0;

    rc = ac_db_prepare(
        db, "INSERT OR IGNORE INTO astrocal_master_seen (master_rowid) VALUES (?1)", &st, e);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < sx->n && rc >= 0; i++) {
        sqlite3_bind_int64(st, 1, sx->rowids[i]);
        rc = ac_db_step(db, st, "mark a master seen", e);
        sqlite3_reset(st);
    }
    ac_db_release(db, st);
    return rc < 0 ? rc : 0;
}

int ac_catalog_mark_masters_seen(ac_db_t *db, const int64_t *rowids, size_t n, ac_err_t *e)
{
    struct seen_ctx sx = {rowids, n};

    AC_DB_OWNER_CHECK(db);
    if (n == 0)
        return 0;
    return ac_db_transact(db, mark_seen_txn, &sx, e);
}
