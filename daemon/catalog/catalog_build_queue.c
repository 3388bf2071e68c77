/*
 * catalog_build_queue.c - the master build queue in astrocal_build, and registering a
 * built master (see catalog.h, "Master builds"; build units are read by catalog_build.c).
 *
 * Every change is one short transaction (ac_db_transact); registering a built master joins
 * the Masters insert (ac_catalog_register_master, run as a savepoint) and the build row's
 * 'done' in the same transaction, so a crash leaves either both or neither.
 *
 * Ownership: rows returned are owned by the caller (ac_catalog_build_row_clear /
 * ac_catalog_build_rows_free). Thread: loop thread only (checked).
 */
#include "catalog.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "catalog_int.h"

/* ---- The build queue ---- */

#define ROW_COLS                                                                               \
    "session_id, error, master_path, quality_json, started_at, finished_at, updated_at, "      \
    "type, state, attempts, not_before, master_rowid"
/* Claim order: prerequisites first, then queue order. */
#define KIND_RANK                                                                              \
    "CASE type WHEN 'bias' THEN 0 WHEN 'flatdark' THEN 1 WHEN 'dark' THEN 2 ELSE 3 END"

/* The columns of a build row, in the order of ROW_COLS. */
/* clang-format off */
static const ac_row_col_t row_cols[] = {
    AC_ROW(ac_build_row_t, key, TEXT),
    AC_ROW(ac_build_row_t, error, TEXT),
    AC_ROW(ac_build_row_t, master_path, TEXT),
    AC_ROW(ac_build_row_t, quality_json, TEXT),
    AC_ROW(ac_build_row_t, started_at, TEXT),
    AC_ROW(ac_build_row_t, finished_at, TEXT),
    AC_ROW(ac_build_row_t, updated_at, TEXT),
    AC_ROW_PARSE(ac_build_row_t, kind, ac_catalog_cal_kind_parse),
    AC_ROW_PARSE(ac_build_row_t, state, ac_catalog_build_state_parse),
    AC_ROW(ac_build_row_t, attempts, INT),
    AC_ROW(ac_build_row_t, not_before, NUMBER),
    AC_ROW(ac_build_row_t, master_rowid, INT64),
};
/* clang-format on */

void ac_catalog_build_row_clear(ac_build_row_t *r)
{
    ac_catalog_row_clear(row_cols, AC_ROW_N(row_cols), r);
}

void ac_catalog_build_rows_free(ac_build_row_list_t *list)
{
    AC_CATALOG_ROWS_FREE(list, row_cols);
}

int ac_catalog_build_enqueue(ac_db_t *db, const char *key, ac_cal_kind_t kind, bool *added,
                             ac_err_t *e)
{
    char now[32];
    int n = 0, rc;

    AC_DB_OWNER_CHECK(db);
    if (added != NULL)
        *added = false;
    if (key == NULL || (unsigned)kind >= AC_CAL_NKINDS)
        return ac_err_set(e, -EINVAL, "enqueue build: bad arguments");
    ac_db_timestamp(now, sizeof now);
    const ac_bind_t v[] = {AC_BIND_TEXT(key), AC_BIND_TEXT(ac_catalog_cal_kind_name(kind)),
                           AC_BIND_TEXT(now)};
    rc = ac_catalog_exec_txn(db,
                             "INSERT OR IGNORE INTO astrocal_build (session_id, type, state, "
                             "attempts, updated_at) VALUES (?1, ?2, 'pending', 0, ?3)",
                             v, AC_BIND_N(v), "queue a master build", &n, e);
    if (added != NULL)
        *added = rc == 0 && n > 0;
    return rc;
}

int ac_catalog_build_claim(ac_db_t *db, double now, ac_build_row_t *out, bool *found,
                           ac_err_t *e)
{
    AC_DB_OWNER_CHECK(db);
    return ac_catalog_claim(db,
                            "UPDATE astrocal_build SET state = 'running', started_at = ?1, "
                            "finished_at = NULL, updated_at = ?1 WHERE session_id = "
                            "(SELECT session_id FROM astrocal_build WHERE state = "
                            "'pending' AND (not_before IS NULL OR not_before <= ?2) ORDER "
                            "BY " KIND_RANK ", rowid LIMIT 1) RETURNING " ROW_COLS,
                            now, row_cols, AC_ROW_N(row_cols), out, sizeof *out, found,
                            "claim the next master build", e);
}

/* Runs an UPDATE of the build row key (in its own transaction); -ENOENT, naming what the
 * row was not, when it matched nothing. */
static int update_row(ac_db_t *db, const char *key, const char *sql, const ac_bind_t *v,
                      size_t nv, const char *op, const char *what, ac_err_t *e)
{
    int changes = 0;
    int rc = ac_catalog_exec_txn(db, sql, v, nv, op, &changes, e);

    if (rc == 0 && changes == 0)
        rc = ac_err_set(e, -ENOENT, "build %s: %s", key != NULL ? key : "(null)", what);
    return rc;
}

int ac_catalog_build_set_path(ac_db_t *db, const char *key, const char *path, ac_err_t *e)
{
    char now[32];

    AC_DB_OWNER_CHECK(db);
    ac_db_timestamp(now, sizeof now);
    const ac_bind_t v[] = {AC_BIND_TEXT(key), AC_BIND_TEXT(path), AC_BIND_TEXT(now)};
    return update_row(db, key,
                      "UPDATE astrocal_build SET master_path = ?2, updated_at = ?3 "
                      "WHERE session_id = ?1",
                      v, AC_BIND_N(v), "record a build's output path", "not in the queue", e);
}

int ac_catalog_build_defer(ac_db_t *db, const char *key, const char *error, double not_before,
                           bool count_attempt, ac_err_t *e)
{
    char now[32];

    AC_DB_OWNER_CHECK(db);
    ac_db_timestamp(now, sizeof now);
    const ac_bind_t v[] = {AC_BIND_TEXT(key), AC_BIND_TEXT(error),
                           AC_BIND_INT(count_attempt ? 1 : 0), AC_BIND_NUMBER(not_before),
                           AC_BIND_TEXT(now)};
    return update_row(db, key,
                      "UPDATE astrocal_build SET state = 'pending', attempts = attempts + ?3, "
                      "error = ?2, not_before = ?4, started_at = NULL, updated_at = ?5 "
                      "WHERE session_id = ?1 AND state = 'running'",
                      v, AC_BIND_N(v), "defer a master build", "not running", e);
}

int ac_catalog_build_wake(ac_db_t *db, ac_err_t *e)
{
    AC_DB_OWNER_CHECK(db);
    return ac_catalog_exec_txn(db,
                               "UPDATE astrocal_build SET not_before = NULL WHERE state = "
                               "'pending' AND not_before IS NOT NULL",
                               NULL, 0, "wake pending master builds", NULL, e);
}

int ac_catalog_build_finish(ac_db_t *db, const char *key, ac_build_state_t state,
                            const char *error, const char *quality_json, ac_err_t *e)
{
    char now[32];

    AC_DB_OWNER_CHECK(db);
    if (state != AC_BUILD_DONE && state != AC_BUILD_FAILED && state != AC_BUILD_REJECTED)
        return ac_err_set(e, -EINVAL, "finish build %s: state %s is not final",
                          key != NULL ? key : "(null)", ac_catalog_build_state_name(state));
    ac_db_timestamp(now, sizeof now);
    const ac_bind_t v[] = {AC_BIND_TEXT(key), AC_BIND_TEXT(ac_catalog_build_state_name(state)),
                           AC_BIND_TEXT(error), AC_BIND_TEXT(quality_json), AC_BIND_TEXT(now)};
    return update_row(
        db, key,
        "UPDATE astrocal_build SET state = ?2, error = ?3, "
        "quality_json = COALESCE(?4, quality_json), not_before = NULL, "
        "attempts = attempts + (?2 = 'failed'), finished_at = ?5, updated_at = ?5 "
        "WHERE session_id = ?1",
        v, AC_BIND_N(v), "finish a master build", "not in the queue", e);
}

struct recover_ctx {
    int max_attempts, failed, requeued;
    const char *now;
};

static int recover_body(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct recover_ctx *rx = arg;
    const ac_bind_t v[] = {AC_BIND_INT(rx->max_attempts), AC_BIND_TEXT(rx->now)};
    const char *sql[2] = {
        "UPDATE astrocal_build SET state = 'failed', attempts = attempts + 1, "
        "error = 'interrupted ' || (attempts + 1) || ' times', finished_at = ?2, "
        "updated_at = ?2 WHERE state = 'running' AND attempts + 1 >= ?1",
        "UPDATE astrocal_build SET state = 'pending', attempts = attempts + 1, "
        "started_at = NULL, updated_at = ?2 WHERE state = 'running'"};
    int rc = 0, *count[2] = {&rx->failed, &rx->requeued};

    for (int k = 0; k < 2 && rc == 0; k++)
        rc = ac_catalog_exec(db, sql[k], v, AC_BIND_N(v), "recover interrupted master builds",
                             count[k], e);
    return rc;
}

int ac_catalog_build_recover(ac_db_t *db, int max_attempts, int *n_requeued, int *n_failed,
                             ac_err_t *e)
{
    char now[32];
    struct recover_ctx rx = {max_attempts < 1 ? 1 : max_attempts, 0, 0, now};
    int rc;

    AC_DB_OWNER_CHECK(db);
    ac_db_timestamp(now, sizeof now);
    rc = ac_db_transact(db, recover_body, &rx, e);
    if (n_requeued != NULL)
        *n_requeued = rc == 0 ? rx.requeued : 0;
    if (n_failed != NULL)
        *n_failed = rc == 0 ? rx.failed : 0;
    return rc;
}

int ac_catalog_build_retry(ac_db_t *db, const char *key, int *changed, ac_err_t *e)
{
    char now[32];

    AC_DB_OWNER_CHECK(db);
    ac_db_timestamp(now, sizeof now);
    const ac_bind_t v[] = {AC_BIND_TEXT(key), AC_BIND_TEXT(now)};
    const ac_bind_t k[] = {AC_BIND_TEXT(key)};
    int rc = ac_catalog_exec_txn(db,
                                 "DELETE FROM astrocal_unit_done WHERE ?1 IS NULL OR "
                                 "?1 = session_id OR ?1 = session_id || ':flatdark'",
                                 k, 1, "reopen calibration sessions", NULL, e);
    if (rc != 0)
        return rc;
    return ac_catalog_exec_txn(
        db,
        "UPDATE astrocal_build SET state = 'pending', attempts = 0, error = NULL, "
        "not_before = NULL, started_at = NULL, finished_at = NULL, updated_at = ?2 "
        "WHERE state IN ('failed', 'rejected') AND (?1 IS NULL OR session_id = ?1)",
        v, AC_BIND_N(v), "retry master builds", changed, e);
}

int ac_catalog_build_get(ac_db_t *db, const char *key, ac_build_row_t *out, ac_err_t *e)
{
    const ac_bind_t v[] = {AC_BIND_TEXT(key)};
    bool found;
    int rc;

    AC_DB_OWNER_CHECK(db);
    memset(out, 0, sizeof *out);
    rc = ac_catalog_select_row(
        db, "SELECT " ROW_COLS " FROM astrocal_build WHERE session_id = ?1", v, 1, row_cols,
        AC_ROW_N(row_cols), out, &found, "read a master build", e);
    if (rc == 0 && !found)
        rc = ac_err_set(e, -ENOENT, "build %s is not in the queue", key != NULL ? key : "");
    return rc;
}

int ac_catalog_build_list(ac_db_t *db, ac_build_row_list_t *out, ac_err_t *e)
{
    AC_DB_OWNER_CHECK(db);
    return AC_CATALOG_SELECT_ROWS(
        db,
        "SELECT " ROW_COLS " FROM astrocal_build ORDER BY "
        "CASE state WHEN 'running' THEN 0 WHEN 'pending' THEN 1 ELSE 2 END, "
        "CASE WHEN state IN ('running', 'pending') THEN " KIND_RANK " ELSE 0 END, "
        "CASE WHEN state IN ('running', 'pending') THEN rowid ELSE -rowid END",
        NULL, 0, row_cols, out, "list master builds", e);
}

/* ---- Registering a built master ---- */

struct register_ctx {
    const char *key, *quality_json;
    const ac_master_rec_t *rec;
    int64_t rowid;
    bool duplicate, stale;
};

/* The live Masters row for the path: stale when it has another file's MD5. */
static int read_stale(sqlite3_stmt *st, void *arg, ac_err_t *e)
{
    struct register_ctx *rx = arg;
    const char *h = (const char *)sqlite3_column_text(st, 0);

    (void)e;
    rx->stale = h != NULL && rx->rec->md5 != NULL && strcasecmp(h, rx->rec->md5) != 0;
    return AC_CATALOG_STOP;
}

static int register_body(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct register_ctx *rx = arg;
    const ac_master_rec_t *r = rx->rec;
    ac_build_row_t row;
    char now[32];
    int rc;

    rx->rowid = 0;
    rx->duplicate = rx->stale = false;
    if ((rc = ac_catalog_build_get(db, rx->key, &row, e)) != 0)
        return rc;
    if (row.state == AC_BUILD_DONE && row.master_rowid > 0) {
        rx->rowid = row.master_rowid;
        rx->duplicate = true;
    }
    ac_catalog_build_row_clear(&row);
    if (rx->duplicate)
        return 0;

    /* A live row for this path with another file's MD5 is stale: refuse to adopt it. */
    const ac_bind_t p[] = {AC_BIND_TEXT(r->path)};
    rc = ac_catalog_run(db,
                        "SELECT hash_value FROM Masters WHERE COALESCE(soft_delete, 0) = 0 AND "
                        "master_path = ?1 ORDER BY id LIMIT 1",
                        p, 1, "look for a master with the same path", read_stale, rx, e);
    if (rc != 0)
        return rc;
    if (rx->stale)
        return ac_err_set(e, -EEXIST,
                          "%s: a Masters row already names %s with another MD5 (a stale row "
                          "for an older file)",
                          ac_db_path(db), r->path);

    if ((rc = ac_catalog_register_master(db, r, &rx->rowid, &rx->duplicate, e)) != 0)
        return rc;
    ac_db_timestamp(now, sizeof now);
    const ac_bind_t v[] = {AC_BIND_TEXT(rx->key), AC_BIND_INT(rx->rowid), AC_BIND_TEXT(r->path),
                           AC_BIND_TEXT(rx->quality_json), AC_BIND_TEXT(now)};
    rc = ac_catalog_exec(db,
                         "UPDATE astrocal_build SET state = 'done', master_rowid = ?2, "
                         "master_path = ?3, quality_json = COALESCE(?4, quality_json), "
                         "error = NULL, not_before = NULL, finished_at = ?5, updated_at = ?5 "
                         "WHERE session_id = ?1",
                         v, AC_BIND_N(v), "mark a master build done", NULL, e);
    /* AstroFiler's flag on the calibration session (it has none for flat-darks). */
    if (rc == 0 && strstr(rx->key, AC_BUILD_FLATDARK_SUFFIX) == NULL)
        rc = ac_catalog_master_created(db, r->source_session_id, r->type, e);
    return rc;
}

int ac_catalog_build_register(ac_db_t *db, const char *key, const ac_master_rec_t *rec,
                              const char *quality_json, int64_t *rowid, bool *duplicate,
                              ac_err_t *e)
{
    struct register_ctx rx = {key, quality_json, rec, 0, false, false};
    int rc;

    AC_DB_OWNER_CHECK(db);
    if (key == NULL || rec == NULL || rec->type == NULL || rec->path == NULL)
        return ac_err_set(e, -EINVAL, "register build: key, type and path are required");
    rc = ac_db_transact(db, register_body, &rx, e);
    if (rc != 0)
        ac_err_prefix(e, "register master for build %s", key);
    if (rowid != NULL)
        *rowid = rc == 0 ? rx.rowid : 0;
    if (duplicate != NULL)
        *duplicate = rc == 0 && rx.duplicate;
    return rc;
}
