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
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "catalog_int.h"

/* ---- The build queue ---- */

/*
 * exec_txn runs one statement in its own transaction. types names the parameters in
 * order: 't' text (const char *, NULL binds NULL), 'd' double (NAN binds NULL), 'i'
 * int64_t. *changes (may be NULL) receives the rows changed.
 */
struct exec_ctx {
    const char *sql, *op, *types;
    const char *txt[12];
    double dbl[12];
    int64_t i64[12];
    int changes;
};

static int exec_body(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct exec_ctx *x = arg;
    sqlite3_stmt *st = NULL;
    int rc;

    if ((rc = ac_db_prepare(db, x->sql, &st, e)) != 0)
        return rc;
    for (int i = 0; x->types[i] != '\0'; i++) {
        if (x->types[i] == 't')
            ac_db_bind_text(st, i + 1, x->txt[i]);
        else if (x->types[i] == 'd')
            ac_db_bind_double(st, i + 1, x->dbl[i]);
        else
            sqlite3_bind_int64(st, i + 1, x->i64[i]);
    }
    rc = ac_db_step(db, st, x->op, e);
    ac_db_release(db, st);
    if (rc < 0)
        return rc;
    x->changes = ac_db_changes(db);
    return 0;
}

static int exec_txn(ac_db_t *db, const char *sql, const char *op, int *changes, ac_err_t *e,
                    const char *types, ...)
{
    struct exec_ctx x;
    va_list ap;
    int rc;

    memset(&x, 0, sizeof x);
    x.sql = sql;
    x.op = op;
    x.types = types;
    va_start(ap, types);
    for (int i = 0; types[i] != '\0' && i < 12; i++) {
        if (types[i] == 't')
            x.txt[i] = va_arg(ap, const char *);
        else if (types[i] == 'd')
            x.dbl[i] = va_arg(ap, double);
        else
            x.i64[i] = va_arg(ap, int64_t);
    }
    va_end(ap);
    rc = ac_db_transact(db, exec_body, &x, e);
    if (changes != NULL)
        *changes = rc == 0 ? x.changes : 0;
    return rc;
}

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

static int row_from(sqlite3_stmt *st, ac_build_row_t *r)
{
    return ac_catalog_row_read(st, 0, row_cols, AC_ROW_N(row_cols), r);
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
    rc = exec_txn(db,
                  "INSERT OR IGNORE INTO astrocal_build (session_id, type, state, attempts, "
                  "updated_at) VALUES (?1, ?2, 'pending', 0, ?3)",
                  "queue a master build", &n, e, "ttt", key, ac_catalog_cal_kind_name(kind),
                  now);
    if (added != NULL)
        *added = rc == 0 && n > 0;
    return rc;
}

struct claim_ctx {
    double now;
    ac_build_row_t *out;
    bool found;
};

static int claim_body(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct claim_ctx *cx = arg;
    sqlite3_stmt *st = NULL;
    char ts[32];
    int rc;

    ac_catalog_build_row_clear(cx->out);
    memset(cx->out, 0, sizeof *cx->out);
    cx->found = false;
    ac_db_timestamp(ts, sizeof ts);
    rc = ac_db_prepare(db,
                       "UPDATE astrocal_build SET state = 'running', started_at = ?1, "
                       "finished_at = NULL, updated_at = ?1 WHERE session_id = (SELECT "
                       "session_id FROM astrocal_build WHERE state = 'pending' AND "
                       "(not_before IS NULL OR not_before <= ?2) ORDER BY " KIND_RANK
                       ", rowid LIMIT 1) RETURNING " ROW_COLS,
                       &st, e);
    if (rc != 0)
        return rc;
    ac_db_bind_text(st, 1, ts);
    sqlite3_bind_double(st, 2, cx->now);
    while ((rc = ac_db_step(db, st, "claim the next master build", e)) == AC_DB_ROW) {
        if (row_from(st, cx->out) != 0) {
            rc = ac_err_set(e, -ENOMEM, "out of memory claiming a build");
            break;
        }
        cx->found = true;
    }
    ac_db_release(db, st);
    if (rc < 0) {
        ac_catalog_build_row_clear(cx->out);
        cx->found = false;
    }
    return rc < 0 ? rc : 0;
}

int ac_catalog_build_claim(ac_db_t *db, double now, ac_build_row_t *out, bool *found,
                           ac_err_t *e)
{
    struct claim_ctx cx = {now, out, false};
    int rc;

    AC_DB_OWNER_CHECK(db);
    memset(out, 0, sizeof *out);
    rc = ac_db_transact(db, claim_body, &cx, e);
    *found = rc == 0 && cx.found;
    return rc;
}

/* Runs an UPDATE of one build row; -ENOENT when it matched nothing. */
static int update_row(ac_db_t *db, const char *key, const char *what, int rc, int changes,
                      ac_err_t *e)
{
    if (rc == 0 && changes == 0)
        rc = ac_err_set(e, -ENOENT, "build %s: %s", key != NULL ? key : "(null)", what);
    return rc;
}

int ac_catalog_build_set_path(ac_db_t *db, const char *key, const char *path, ac_err_t *e)
{
    char now[32];
    int n = 0, rc;

    AC_DB_OWNER_CHECK(db);
    ac_db_timestamp(now, sizeof now);
    rc = exec_txn(db,
                  "UPDATE astrocal_build SET master_path = ?2, updated_at = ?3 "
                  "WHERE session_id = ?1",
                  "record a build's output path", &n, e, "ttt", key, path, now);
    return update_row(db, key, "not in the queue", rc, n, e);
}

int ac_catalog_build_defer(ac_db_t *db, const char *key, const char *error, double not_before,
                           bool count_attempt, ac_err_t *e)
{
    char now[32];
    int n = 0, rc;

    AC_DB_OWNER_CHECK(db);
    ac_db_timestamp(now, sizeof now);
    rc = exec_txn(db,
                  "UPDATE astrocal_build SET state = 'pending', attempts = attempts + ?3, "
                  "error = ?2, not_before = ?4, started_at = NULL, updated_at = ?5 "
                  "WHERE session_id = ?1 AND state = 'running'",
                  "defer a master build", &n, e, "ttidt", key, error,
                  (int64_t)(count_attempt ? 1 : 0), not_before, now);
    return update_row(db, key, "not running", rc, n, e);
}

int ac_catalog_build_wake(ac_db_t *db, ac_err_t *e)
{
    int n = 0;

    AC_DB_OWNER_CHECK(db);
    return exec_txn(db,
                    "UPDATE astrocal_build SET not_before = NULL WHERE state = 'pending' AND "
                    "not_before IS NOT NULL",
                    "wake pending master builds", &n, e, "");
}

int ac_catalog_build_finish(ac_db_t *db, const char *key, ac_build_state_t state,
                            const char *error, const char *quality_json, ac_err_t *e)
{
    char now[32];
    int n = 0, rc;

    AC_DB_OWNER_CHECK(db);
    if (state != AC_BUILD_DONE && state != AC_BUILD_FAILED && state != AC_BUILD_REJECTED)
        return ac_err_set(e, -EINVAL, "finish build %s: state %s is not final",
                          key != NULL ? key : "(null)", ac_catalog_build_state_name(state));
    ac_db_timestamp(now, sizeof now);
    rc = exec_txn(db,
                  "UPDATE astrocal_build SET state = ?2, error = ?3, "
                  "quality_json = COALESCE(?4, quality_json), not_before = NULL, "
                  "attempts = attempts + (?2 = 'failed'), finished_at = ?5, updated_at = ?5 "
                  "WHERE session_id = ?1",
                  "finish a master build", &n, e, "ttttt", key,
                  ac_catalog_build_state_name(state), error, quality_json, now);
    return update_row(db, key, "not in the queue", rc, n, e);
}

struct recover_ctx {
    int max_attempts, failed, requeued;
    const char *now;
};

static int recover_body(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct recover_ctx *rx = arg;
    sqlite3_stmt *st = NULL;
    const char *sql[2] = {
        "UPDATE astrocal_build SET state = 'failed', attempts = attempts + 1, "
        "error = 'interrupted ' || (attempts + 1) || ' times', finished_at = ?2, "
        "updated_at = ?2 WHERE state = 'running' AND attempts + 1 >= ?1",
        "UPDATE astrocal_build SET state = 'pending', attempts = attempts + 1, "
        "started_at = NULL, updated_at = ?2 WHERE state = 'running'"};
    int rc = 0, *count[2] = {&rx->failed, &rx->requeued};

    for (int k = 0; k < 2; k++) {
        if ((rc = ac_db_prepare(db, sql[k], &st, e)) != 0)
            return rc;
        sqlite3_bind_int(st, 1, rx->max_attempts);
        ac_db_bind_text(st, 2, rx->now);
        rc = ac_db_step(db, st, "recover interrupted master builds", e);
        ac_db_release(db, st);
        if (rc < 0)
            return rc;
        *count[k] = ac_db_changes(db);
    }
    return 0;
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
    return exec_txn(db,
                    "UPDATE astrocal_build SET state = 'pending', attempts = 0, error = NULL, "
                    "not_before = NULL, started_at = NULL, finished_at = NULL, updated_at = ?2 "
                    "WHERE state IN ('failed', 'rejected') AND (?1 IS NULL OR session_id = ?1)",
                    "retry master builds", changed, e, "tt", key, now);
}

int ac_catalog_build_get(ac_db_t *db, const char *key, ac_build_row_t *out, ac_err_t *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    AC_DB_OWNER_CHECK(db);
    memset(out, 0, sizeof *out);
    rc = ac_db_prepare(db, "SELECT " ROW_COLS " FROM astrocal_build WHERE session_id = ?1", &st,
                       e);
    if (rc != 0)
        return rc;
    ac_db_bind_text(st, 1, key);
    rc = ac_db_step(db, st, "read a master build", e);
    if (rc == AC_DB_ROW) {
        rc = row_from(st, out) != 0 ? ac_err_set(e, -ENOMEM, "out of memory reading a build")
                                    : 0;
        if (rc != 0)
            ac_catalog_build_row_clear(out);
    } else if (rc == AC_DB_DONE) {
        rc = ac_err_set(e, -ENOENT, "build %s is not in the queue", key != NULL ? key : "");
    }
    ac_db_release(db, st);
    return rc;
}

int ac_catalog_build_list(ac_db_t *db, ac_build_row_list_t *out, ac_err_t *e)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int rc;

    AC_DB_OWNER_CHECK(db);
    memset(out, 0, sizeof *out);
    rc = ac_db_prepare(db,
                       "SELECT " ROW_COLS " FROM astrocal_build ORDER BY "
                       "CASE state WHEN 'running' THEN 0 WHEN 'pending' THEN 1 ELSE 2 END, "
                       "CASE WHEN state IN ('running', 'pending') THEN " KIND_RANK
                       " ELSE 0 END, "
                       "CASE WHEN state IN ('running', 'pending') THEN rowid ELSE -rowid END",
                       &st, e);
    if (rc != 0)
        return rc;
    while ((rc = ac_db_step(db, st, "list master builds", e)) == AC_DB_ROW) {
        if (ac_catalog_row_append(st, 0, row_cols, AC_ROW_N(row_cols), (void **)&out->items,
                                  &out->n, &cap, sizeof *out->items) != 0) {
            rc = ac_err_set(e, -ENOMEM, "out of memory listing master builds");
            break;
        }
    }
    ac_db_release(db, st);
    if (rc < 0)
        ac_catalog_build_rows_free(out);
    return rc < 0 ? rc : 0;
}

/* ---- Registering a built master ---- */

struct register_ctx {
    const char *key, *quality_json;
    const ac_master_rec_t *rec;
    int64_t rowid;
    bool duplicate;
};

static int register_body(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct register_ctx *rx = arg;
    const ac_master_rec_t *r = rx->rec;
    sqlite3_stmt *st = NULL;
    char now[32];
    bool stale = false;
    int rc;

    rx->rowid = 0;
    rx->duplicate = false;
    rc = ac_db_prepare(
        db, "SELECT state, master_rowid FROM astrocal_build WHERE session_id = ?1", &st, e);
    if (rc != 0)
        return rc;
    ac_db_bind_text(st, 1, rx->key);
    rc = ac_db_step(db, st, "read a master build", e);
    if (rc == AC_DB_ROW) {
        const char *state = (const char *)sqlite3_column_text(st, 0);
        if (state != NULL && strcmp(state, "done") == 0 && sqlite3_column_int64(st, 1) > 0) {
            rx->rowid = sqlite3_column_int64(st, 1);
            rx->duplicate = true;
        }
    } else if (rc == AC_DB_DONE) {
        rc = ac_err_set(e, -ENOENT, "build %s is not in the queue", rx->key);
    }
    ac_db_release(db, st);
    if (rc < 0 || rx->duplicate)
        return rc < 0 ? rc : 0;

    /* A live row for this path with another file's MD5 is stale: refuse to adopt it. */
    rc = ac_db_prepare(db,
                       "SELECT hash_value FROM Masters WHERE COALESCE(soft_delete, 0) = 0 AND "
                       "master_path = ?1 ORDER BY id LIMIT 1",
                       &st, e);
    if (rc != 0)
        return rc;
    ac_db_bind_text(st, 1, r->path);
    rc = ac_db_step(db, st, "look for a master with the same path", e);
    if (rc == AC_DB_ROW) {
        const char *h = (const char *)sqlite3_column_text(st, 0);
        stale = h != NULL && r->md5 != NULL && strcasecmp(h, r->md5) != 0;
    }
    ac_db_release(db, st);
    if (rc < 0)
        return rc;
    if (stale)
        return ac_err_set(e, -EEXIST,
                          "%s: a Masters row already names %s with another MD5 (a stale row "
                          "for an older file)",
                          ac_db_path(db), r->path);

    if ((rc = ac_catalog_register_master(db, r, &rx->rowid, &rx->duplicate, e)) != 0)
        return rc;
    ac_db_timestamp(now, sizeof now);
    rc = ac_db_prepare(db,
                       "UPDATE astrocal_build SET state = 'done', master_rowid = ?2, "
                       "master_path = ?3, quality_json = COALESCE(?4, quality_json), "
                       "error = NULL, not_before = NULL, finished_at = ?5, updated_at = ?5 "
                       "WHERE session_id = ?1",
                       &st, e);
    if (rc != 0)
        return rc;
    ac_db_bind_text(st, 1, rx->key);
    sqlite3_bind_int64(st, 2, rx->rowid);
    ac_db_bind_text(st, 3, r->path);
    ac_db_bind_text(st, 4, rx->quality_json);
    ac_db_bind_text(st, 5, now);
    rc = ac_db_step(db, st, "mark a master build done", e);
    ac_db_release(db, st);
    return rc < 0 ? rc : 0;
}

int ac_catalog_build_register(ac_db_t *db, const char *key, const ac_master_rec_t *rec,
                              const char *quality_json, int64_t *rowid, bool *duplicate,
                              ac_err_t *e)
{
    struct register_ctx rx = {key, quality_json, rec, 0, false};
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
