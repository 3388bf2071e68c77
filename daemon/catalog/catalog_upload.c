/*
 * catalog_upload.c - the cloud upload queue, astrocal_upload (upload_queue.h). Every change
 * is one short transaction. Loop thread (the connection's owner).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "catalog_int.h"
#include "upload_queue.h"
#include "util.h"

static const char *const state_names[] = {"pending", "running", "done", "failed"};

const char *ac_upq_state_name(ac_up_state_t s)
{
    return s >= 0 && s < AC_UP_NSTATES ? state_names[s] : "?";
}

static int parse_state(const char *name)
{
    for (int i = 0; i < AC_UP_NSTATES; i++)
        if (name != NULL && strcmp(name, state_names[i]) == 0)
            return i;
    return -1;
}

#define ROW_COLS                                                                               \
    "id, kind, ref, path, hash, state, attempts, not_before, error, url, bytes, seconds, "     \
    "finished_at"

static const ac_row_col_t row_cols[] = {
    AC_ROW(ac_up_row_t, id, INT64),         AC_ROW(ac_up_row_t, kind, TEXT),
    AC_ROW(ac_up_row_t, ref, TEXT),         AC_ROW(ac_up_row_t, path, TEXT),
    AC_ROW(ac_up_row_t, hash, TEXT),        AC_ROW_PARSE(ac_up_row_t, state, parse_state),
    AC_ROW(ac_up_row_t, attempts, INT),     AC_ROW(ac_up_row_t, not_before, NUMBER),
    AC_ROW(ac_up_row_t, error, TEXT),       AC_ROW(ac_up_row_t, url, TEXT),
    AC_ROW(ac_up_row_t, bytes, SIZE),       AC_ROW(ac_up_row_t, seconds, NUMBER),
    AC_ROW(ac_up_row_t, finished_at, TEXT),
};

void ac_upq_row_clear(ac_up_row_t *r)
{
    ac_catalog_row_clear(row_cols, AC_ROW_N(row_cols), r);
}

void ac_upq_list_free(ac_up_list_t *l)
{
    AC_CATALOG_ROWS_FREE(l, row_cols);
}

struct collect_ctx {
    bool files;
    int added;
};

static int collect_body(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct collect_ctx *cx = arg;
    char ts[32];
    int n = 0, rc = 0;

    ac_db_timestamp(ts, sizeof ts);
    const ac_bind_t v[] = {AC_BIND_TEXT(ts)};
    cx->added = 0;
    if (cx->files) {
        rc = ac_catalog_exec(
            db,
            "INSERT OR IGNORE INTO astrocal_upload (kind, ref, path, hash, state, created_at) "
            "SELECT 'file', r.output_file_id, f.fitsFileName, f.fitsFileHash, 'pending', ?1 "
            "FROM "
            "astrocal_record r JOIN fitsfile f ON f.fitsFileId = r.output_file_id WHERE "
            "coalesce(f.fitsFileCloudURL, '') = '' AND f.fitsFileName IS NOT NULL AND NOT "
            "EXISTS (SELECT 1 FROM astrocal_upload u WHERE u.kind = 'file' AND u.ref = "
            "r.output_file_id)",
            v, AC_BIND_N(v), "queue calibrated frames for upload", &n, e);
        cx->added += n;
    }
    if (rc == 0) {
        rc = ac_catalog_exec(
            db,
            "INSERT OR IGNORE INTO astrocal_upload (kind, ref, path, hash, state, created_at) "
            "SELECT 'master', CAST(m.id AS TEXT), m.master_path, m.hash_value, 'pending', ?1 "
            "FROM "
            "astrocal_build b JOIN Masters m ON m.id = b.master_rowid WHERE b.state = 'done' "
            "AND coalesce(m.cloud_url, '') = '' AND NOT EXISTS (SELECT 1 FROM "
            "astrocal_upload u WHERE u.kind = 'master' AND u.ref = CAST(m.id AS TEXT))",
            v, AC_BIND_N(v), "queue built masters for upload", &n, e);
        cx->added += n;
    }
    return rc;
}

int ac_upq_collect(ac_db_t *db, int *added, ac_err_t *e)
{
    const ac_schema_info_t *si = NULL;
    struct collect_ctx cx = {false, 0};
    int rc;

    AC_DB_OWNER_CHECK(db);
    if (added != NULL)
        *added = 0;
    if ((rc = ac_schema_require(db, &si, e)) != 0)
        return rc;
    /* Without AstroFiler's fitsFileCloudURL there is nowhere to record a frame's URL. */
    cx.files = (si->cols & AC_COL_FILE_CLOUD) != 0;
    rc = ac_db_transact(db, collect_body, &cx, e);
    if (rc == 0 && added != NULL)
        *added = cx.added;
    return rc;
}

int ac_upq_recover(ac_db_t *db, int *n, ac_err_t *e)
{
    AC_DB_OWNER_CHECK(db);
    return ac_catalog_exec_txn(db,
                               "UPDATE astrocal_upload SET state = 'pending', not_before = "
                               "NULL, error = 'interrupted: uploaded again' WHERE state = "
                               "'running'",
                               NULL, 0, "recover interrupted uploads", n, e);
}

int ac_upq_claim(ac_db_t *db, double now, ac_up_row_t *out, bool *found, ac_err_t *e)
{
    AC_DB_OWNER_CHECK(db);
    return ac_catalog_claim(
        db,
        "UPDATE astrocal_upload SET state = 'running', attempts = attempts + 1, "
        "started_at = ?1 WHERE id = (SELECT id FROM astrocal_upload WHERE state = 'pending' "
        "AND (not_before IS NULL OR not_before <= ?2) ORDER BY id LIMIT 1) RETURNING " ROW_COLS,
        now, row_cols, AC_ROW_N(row_cols), out, sizeof *out, found, "claim the next upload", e);
}

struct done_ctx {
    int64_t id;
    const char *url;
    int64_t bytes;
    double seconds;
};

static int done_body(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct done_ctx *dx = arg;
    char kind[16] = "", ref[128] = "", ts[32];
    bool found = false;
    int n = 0, rc;

    const ac_bind_t id[] = {AC_BIND_INT(dx->id)};
    rc = ac_catalog_select_text(db,
                                "SELECT kind || ' ' || ref FROM astrocal_upload WHERE id = ?1 "
                                "AND state = 'running'",
                                id, 1, ref, sizeof ref, &found, "read an upload", e);
    if (rc != 0)
        return rc;
    if (!found)
        return ac_err_set(e, -ENOENT, "upload %lld is not running (recorded already?)",
                          (long long)dx->id);
    {
        char *sp = strchr(ref, ' ');
        if (sp == NULL)
            return ac_err_set(e, -EINVAL, "upload %lld: bad row", (long long)dx->id);
        *sp = '\0';
        ac_strlcpy(kind, ref, sizeof kind);
        memmove(ref, sp + 1, strlen(sp + 1) + 1);
    }
    const ac_bind_t cv[] = {AC_BIND_TEXT(ref), AC_BIND_TEXT(dx->url)};
    if (strcmp(kind, "file") == 0)
        rc = ac_catalog_exec(db,
                             "UPDATE fitsfile SET fitsFileCloudURL = ?2 WHERE fitsFileId = ?1",
                             cv, 2, "set a frame's cloud URL", &n, e);
    else
        rc = ac_catalog_exec(db,
                             "UPDATE Masters SET cloud_url = ?2 WHERE id = CAST(?1 AS INTEGER)",
                             cv, 2, "set a master's cloud URL", &n, e);
    if (rc == 0 && n != 1)
        rc = ac_err_set(e, -ENOENT, "upload %lld: the %s row %s is gone from the catalogue",
                        (long long)dx->id, kind, ref);
    if (rc != 0)
        return rc;
    ac_db_timestamp(ts, sizeof ts);
    const ac_bind_t uv[] = {AC_BIND_INT(dx->id), AC_BIND_TEXT(dx->url),
                            dx->bytes >= 0 ? AC_BIND_INT(dx->bytes) : AC_BIND_NULL,
                            AC_BIND_NUMBER(dx->seconds), AC_BIND_TEXT(ts)};
    return ac_catalog_exec(db,
                           "UPDATE astrocal_upload SET state = 'done', url = ?2, bytes = ?3, "
                           "seconds = ?4, finished_at = ?5, error = NULL, not_before = NULL "
                           "WHERE id = ?1",
                           uv, AC_BIND_N(uv), "record an upload", NULL, e);
}

int ac_upq_done(ac_db_t *db, int64_t id, const char *url, int64_t bytes, double seconds,
                ac_err_t *e)
{
    struct done_ctx dx = {id, url, bytes, seconds};

    AC_DB_OWNER_CHECK(db);
    return ac_db_transact(db, done_body, &dx, e);
}

int ac_upq_url_owner(ac_db_t *db, int64_t id, const char *url, char *owner, size_t size,
                     ac_err_t *e)
{
    const ac_schema_info_t *si = NULL;
    bool found = false;
    int rc;

    AC_DB_OWNER_CHECK(db);
    owner[0] = '\0';
    if ((rc = ac_schema_require(db, &si, e)) != 0)
        return rc;
    const ac_bind_t v[] = {AC_BIND_INT(id), AC_BIND_TEXT(url)};
    return ac_catalog_select_text(
        db,
        (si->cols & AC_COL_FILE_CLOUD) != 0
            ? "WITH me AS (SELECT kind, ref FROM astrocal_upload WHERE id = ?1) "
              "SELECT path FROM astrocal_upload WHERE url = ?2 AND id <> ?1 UNION ALL "
              "SELECT fitsFileName FROM fitsfile WHERE fitsFileCloudURL = ?2 AND NOT EXISTS "
              "(SELECT 1 FROM me WHERE kind = 'file' AND ref = fitsFileId) UNION ALL "
              "SELECT master_path FROM Masters WHERE cloud_url = ?2 AND NOT EXISTS (SELECT 1 "
              "FROM me WHERE kind = 'master' AND ref = CAST(Masters.id AS TEXT)) LIMIT 1"
            : "SELECT path FROM astrocal_upload WHERE url = ?2 AND id <> ?1 LIMIT 1",
        v, AC_BIND_N(v), owner, size, &found, "look for another file with this cloud URL", e);
}

/* set_state changes a running row; -ENOENT when it is not running. */
static int set_state(ac_db_t *db, int64_t id, const char *sql, const char *error, double nb,
                     const char *op, ac_err_t *e)
{
    char ts[32];
    int n = 0, rc;

    ac_db_timestamp(ts, sizeof ts);
    const ac_bind_t v[] = {AC_BIND_INT(id), AC_BIND_TEXT(error), AC_BIND_NUMBER(nb),
                           AC_BIND_TEXT(ts)};
    rc = ac_catalog_exec_txn(db, sql, v, AC_BIND_N(v), op, &n, e);
    if (rc == 0 && n == 0)
        rc = ac_err_set(e, -ENOENT, "upload %lld is not running", (long long)id);
    return rc;
}

int ac_upq_defer(ac_db_t *db, int64_t id, const char *error, double not_before, ac_err_t *e)
{
    AC_DB_OWNER_CHECK(db);
    return set_state(db, id,
                     "UPDATE astrocal_upload SET state = 'pending', error = ?2, not_before = "
                     "?3, finished_at = ?4 WHERE id = ?1 AND state = 'running'",
                     error, not_before, "defer an upload", e);
}

int ac_upq_fail(ac_db_t *db, int64_t id, const char *error, ac_err_t *e)
{
    AC_DB_OWNER_CHECK(db);
    return set_state(db, id,
                     "UPDATE astrocal_upload SET state = 'failed', error = ?2, not_before = "
                     "?3, finished_at = ?4 WHERE id = ?1 AND state = 'running'",
                     error, NAN, "fail an upload", e);
}

int ac_upq_release(ac_db_t *db, int64_t id, double not_before, ac_err_t *e)
{
    AC_DB_OWNER_CHECK(db);
    return set_state(db, id,
                     "UPDATE astrocal_upload SET state = 'pending', attempts = max(attempts "
                     "- 1, 0), error = coalesce(?2, error), not_before = ?3, finished_at = ?4 "
                     "WHERE id = ?1 AND state = 'running'",
                     NULL, not_before, "put an upload back", e);
}

int ac_upq_retry_failed(ac_db_t *db, int *n, ac_err_t *e)
{
    AC_DB_OWNER_CHECK(db);
    return ac_catalog_exec_txn(db,
                               "UPDATE astrocal_upload SET state = 'pending', attempts = 0, "
                               "not_before = NULL WHERE state = 'failed'",
                               NULL, 0, "retry failed uploads", n, e);
}

static int count_row(sqlite3_stmt *st, void *arg, ac_err_t *e)
{
    int *counts = arg;
    int s = parse_state((const char *)sqlite3_column_text(st, 0));

    (void)e;
    if (s >= 0)
        counts[s] = sqlite3_column_int(st, 1);
    return 0;
}

int ac_upq_counts(ac_db_t *db, int *counts, ac_err_t *e)
{
    AC_DB_OWNER_CHECK(db);
    memset(counts, 0, AC_UP_NSTATES * sizeof *counts);
    return ac_catalog_run(db, "SELECT state, count(*) FROM astrocal_upload GROUP BY state",
                          NULL, 0, "count uploads", count_row, counts, e);
}

int ac_upq_list(ac_db_t *db, int limit, ac_up_list_t *out, ac_err_t *e)
{
    AC_DB_OWNER_CHECK(db);
    memset(out, 0, sizeof *out);
    const ac_bind_t v[] = {AC_BIND_INT(limit)};
    return AC_CATALOG_SELECT_ROWS(
        db,
        "SELECT " ROW_COLS " FROM astrocal_upload ORDER BY state = 'done', CASE WHEN state = "
        "'done' THEN -id ELSE id END LIMIT ?1",
        v, AC_BIND_N(v), row_cols, out, "list uploads", e);
}

/* ---- Downloads ---- */

static const ac_row_col_t dl_cols[] = {
    AC_ROW(ac_dl_row_t, file_id, TEXT),
    AC_ROW(ac_dl_row_t, path, TEXT),
    AC_ROW(ac_dl_row_t, url, TEXT),
};

void ac_upq_dl_list_free(ac_dl_list_t *l)
{
    AC_CATALOG_ROWS_FREE(l, dl_cols);
}

int ac_upq_lookahead(ac_db_t *db, int limit, ac_dl_list_t *out, ac_dl_list_t *masters,
                     ac_err_t *e)
{
    const ac_schema_info_t *si = NULL;
    int rc;

    AC_DB_OWNER_CHECK(db);
    memset(out, 0, sizeof *out);
    if (masters != NULL)
        memset(masters, 0, sizeof *masters);
    if ((rc = ac_schema_require(db, &si, e)) != 0)
        return rc;
    const ac_bind_t v[] = {AC_BIND_INT(limit)};
    rc = AC_CATALOG_SELECT_ROWS(
        db,
        (si->cols & AC_COL_FILE_CLOUD) != 0
            ? "SELECT a.file_id, a.path, nullif(f.fitsFileCloudURL, '') FROM astrocal_file a "
              "JOIN astrocal_session s ON s.session_id = a.session_id LEFT JOIN fitsfile f ON "
              "f.fitsFileId = a.file_id WHERE a.state = 'pending' AND s.state = 'queued' "
              "ORDER BY s.priority DESC, a.rowid LIMIT ?1"
            : "SELECT a.file_id, a.path, NULL FROM astrocal_file a JOIN astrocal_session s ON "
              "s.session_id = a.session_id WHERE a.state = 'pending' AND s.state = 'queued' "
              "ORDER BY s.priority DESC, a.rowid LIMIT ?1",
        v, AC_BIND_N(v), dl_cols, out, "list the next lights", e);
    if (rc != 0 || masters == NULL)
        return rc;
    rc = AC_CATALOG_SELECT_ROWS(
        db,
        "SELECT 'master-' || m.id, m.master_path, m.cloud_url FROM Masters m WHERE "
        "coalesce(m.cloud_url, '') <> '' AND EXISTS (SELECT 1 FROM astrocal_session s WHERE "
        "s.state = 'queued' AND m.master_path IN (s.bias_master, s.dark_master, "
        "s.flat_master, s.flatdark_master) AND EXISTS (SELECT 1 FROM astrocal_file a WHERE "
        "a.session_id = s.session_id AND a.state IN ('pending', 'running')))",
        NULL, 0, dl_cols, masters, "list the masters of queued sessions", e);
    if (rc != 0)
        ac_upq_dl_list_free(out);
    return rc;
}

int ac_upq_file_url(ac_db_t *db, const char *file_id, char *out, size_t size, ac_err_t *e)
{
    const ac_schema_info_t *si = NULL;
    bool found = false;
    int rc;

    AC_DB_OWNER_CHECK(db);
    out[0] = '\0';
    if ((rc = ac_schema_require(db, &si, e)) != 0 || (si->cols & AC_COL_FILE_CLOUD) == 0)
        return rc;
    const ac_bind_t v[] = {AC_BIND_TEXT(file_id)};
    return ac_catalog_select_text(
        db, "SELECT coalesce(fitsFileCloudURL, '') FROM fitsfile WHERE fitsFileId = ?1", v,
        AC_BIND_N(v), out, size, &found, "read a light's cloud URL", e);
}
