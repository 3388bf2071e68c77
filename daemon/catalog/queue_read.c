/*
 * queue_read.c - the light queue's rows and reads (see queue.h): state names, row
 * tables, sessions and files with their counts, the next retry time (all through the
 * catalog's statement functions, catalog_int.h); and the list of statements the changes
 * in queue.c share (queue_int.h).
 *
 * Thread: loop thread only (checked); the names are pure.
 */
#include "queue.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "catalog_int.h"
#include "queue_int.h"
#include "util.h"

static const char *const sess_names[AC_SESS_NSTATES] = {"waiting", "queued", "paused", "done",
                                                        "cancelled"};
static const char *const file_names[AC_FILE_NSTATES] = {"pending", "running", "done",
                                                        "failed",  "skipped", "cancelled"};

const char *ac_queue_sess_state_name(ac_sess_state_t s)
{
    return ac_name_of(sess_names, AC_SESS_NSTATES, (int)s);
}

int ac_queue_sess_state_parse(const char *name)
{
    return ac_name_find(sess_names, AC_SESS_NSTATES, name);
}

const char *ac_queue_file_state_name(ac_file_state_t s)
{
    return ac_name_of(file_names, AC_FILE_NSTATES, (int)s);
}

int ac_queue_file_state_parse(const char *name)
{
    return ac_name_find(file_names, AC_FILE_NSTATES, name);
}

void ac_queue_init(ac_queue_t *q, ac_db_t *db)
{
    memset(q, 0, sizeof *q);
    q->db = db;
    q->policy.max_attempts = 3;
    q->policy.retry_backoff_s = 30;
    q->policy.newest_first = true;
    q->policy.crash_limit = 3;
}

bool ac_queue_suspect(const ac_qfile_t *f)
{
    return f->interrupted >= 2 || f->crashes > 0; /* as AC_QSUSPECT_SQL */
}

/* ---- Statements (queue_int.h) ---- */

int ac_queue_steps(ac_db_t *db, ac_qstep_t *s, int n, const ac_bind_t *b, size_t nb,
                   ac_err_t *e)
{
    int rc = 0;

    for (int k = 0; k < n && rc == 0; k++)
        rc = ac_catalog_exec(db, s[k].sql, b, nb, s[k].op, &s[k].changes, e);
    return rc;
}

/* read_one reads the row of sql (?1 = id) into *out (zeroed first) through cols; -ENOENT
 * "no <what> '<id>'" when there is none. */
static int read_one(ac_queue_t *q, const char *sql, const char *id, const ac_row_col_t *cols,
                    size_t ncols, void *out, size_t size, const char *what, const char *op,
                    ac_err_t *e)
{
    const ac_bind_t b[] = {AC_BIND_TEXT(id)};
    bool found = false;
    int rc;

    AC_DB_OWNER_CHECK(q->db);
    memset(out, 0, size);
    rc = ac_catalog_select_row(q->db, sql, b, AC_BIND_N(b), cols, ncols, out, &found, op, e);
    if (rc == 0 && !found)
        rc = ac_err_set(e, -ENOENT, "no %s '%s'", what, id);
    return rc;
}

/* ---- Sessions ---- */

/* The columns of QSESS_SELECT, in order. */
/* clang-format off */
static const ac_row_col_t qsession_cols[] = {
    AC_ROW(ac_qsession_t, session_id, TEXT),
    AC_ROW(ac_qsession_t, reason, TEXT),
    AC_ROW(ac_qsession_t, bias_master, TEXT),
    AC_ROW(ac_qsession_t, dark_master, TEXT),
    AC_ROW(ac_qsession_t, flat_master, TEXT),
    AC_ROW(ac_qsession_t, flatdark_master, TEXT),
    AC_ROW(ac_qsession_t, plan_json, TEXT),
    AC_ROW(ac_qsession_t, session_date, TEXT),
    AC_ROW(ac_qsession_t, updated_at, TEXT),
    AC_ROW(ac_qsession_t, priority, INT),
    AC_ROW_PARSE(ac_qsession_t, state, ac_queue_sess_state_parse),
    AC_ROW(ac_qsession_t, counts[AC_FILE_PENDING], INT),
    AC_ROW(ac_qsession_t, counts[AC_FILE_RUNNING], INT),
    AC_ROW(ac_qsession_t, counts[AC_FILE_DONE], INT),
    AC_ROW(ac_qsession_t, counts[AC_FILE_FAILED], INT),
    AC_ROW(ac_qsession_t, counts[AC_FILE_SKIPPED], INT),
    AC_ROW(ac_qsession_t, counts[AC_FILE_CANCELLED], INT),
    AC_ROW(ac_qsession_t, outcome, TEXT),
    AC_ROW(ac_qsession_t, outcome_reason, TEXT),
    AC_ROW(ac_qsession_t, links_json, TEXT),
    AC_ROW(ac_qsession_t, avg_seconds, NUMBER),
};
/* clang-format on */

void ac_queue_session_clear(ac_qsession_t *s)
{
    ac_catalog_row_clear(qsession_cols, AC_ROW_N(qsession_cols), s);
}

void ac_queue_sessions_free(ac_qsession_list_t *list)
{
    AC_CATALOG_ROWS_FREE(list, qsession_cols);
}

#define QSESS_SELECT                                                                           \
    "SELECT s.session_id, s.reason, s.bias_master, s.dark_master, s.flat_master, "             \
    "s.flatdark_master, s.plan_json, s.session_date, s.updated_at, s.priority, s.state, "      \
    "SUM(f.state = 'pending'), SUM(f.state = 'running'), SUM(f.state = 'done'), "              \
    "SUM(f.state = 'failed'), SUM(f.state = 'skipped'), SUM(f.state = 'cancelled'), "          \
    "s.outcome, s.outcome_reason, s.links_json, AVG(CASE WHEN f.state = 'done' THEN "          \
    "f.seconds "                                                                               \
    "END) "                                                                                    \
    "FROM astrocal_session AS s LEFT JOIN astrocal_file AS f ON f.session_id = s.session_id "

int ac_queue_session(ac_queue_t *q, const char *session_id, ac_qsession_t *out, ac_err_t *e)
{
    return read_one(q, QSESS_SELECT "WHERE s.session_id = ?1 GROUP BY s.session_id", session_id,
                    qsession_cols, AC_ROW_N(qsession_cols), out, sizeof *out, "session",
                    "read a queued session", e);
}

int ac_queue_sessions(ac_queue_t *q, ac_qsession_list_t *out, ac_err_t *e)
{
    AC_DB_OWNER_CHECK(q->db);
    return AC_CATALOG_SELECT_ROWS(q->db,
                                  QSESS_SELECT "GROUP BY s.session_id "
                                               "ORDER BY s.priority DESC, s.session_date DESC, "
                                               "s.session_id",
                                  NULL, 0, qsession_cols, out, "list queued sessions", e);
}

/* ---- Files ---- */

/* The columns of AC_QFILE_COLS, in order. */
/* clang-format off */
const ac_row_col_t ac_queue_file_cols[AC_QFILE_NCOLS] = {
    AC_ROW(ac_qfile_t, file_id, TEXT),
    AC_ROW(ac_qfile_t, session_id, TEXT),
    AC_ROW(ac_qfile_t, path, TEXT),
    AC_ROW(ac_qfile_t, error, TEXT),
    AC_ROW(ac_qfile_t, output_path, TEXT),
    AC_ROW(ac_qfile_t, output_file_id, TEXT),
    AC_ROW(ac_qfile_t, started_at, TEXT),
    AC_ROW(ac_qfile_t, finished_at, TEXT),
    AC_ROW_PARSE(ac_qfile_t, state, ac_queue_file_state_parse),
    AC_ROW(ac_qfile_t, attempts, INT),
    AC_ROW(ac_qfile_t, not_before, NUMBER),
    AC_ROW(ac_qfile_t, seconds, NUMBER),
    AC_ROW(ac_qfile_t, interrupted, INT),
    AC_ROW(ac_qfile_t, crashes, INT),
    AC_ROW(ac_qfile_t, recal_output, TEXT),
    AC_ROW(ac_qfile_t, recal_backup, TEXT),
};
/* clang-format on */

void ac_queue_file_clear(ac_qfile_t *x)
{
    ac_catalog_row_clear(ac_queue_file_cols, AC_QFILE_NCOLS, x);
}

void ac_queue_files_free(ac_qfile_list_t *list)
{
    AC_CATALOG_ROWS_FREE(list, ac_queue_file_cols);
}

int ac_queue_file(ac_queue_t *q, const char *file_id, ac_qfile_t *out, ac_err_t *e)
{
    return read_one(q, "SELECT " AC_QFILE_COLS " FROM astrocal_file WHERE file_id = ?1",
                    file_id, ac_queue_file_cols, AC_QFILE_NCOLS, out, sizeof *out, "file",
                    "read a queued file", e);
}

/* list_files lists the files of a session (by_state false) or in a state (key = its name),
 * by path. */
static int list_files(ac_queue_t *q, bool by_state, const char *key, ac_qfile_list_t *out,
                      ac_err_t *e)
{
    const ac_bind_t b[] = {AC_BIND_TEXT(key)};

    AC_DB_OWNER_CHECK(q->db);
    return AC_CATALOG_SELECT_ROWS(
        q->db,
        by_state ? "SELECT " AC_QFILE_COLS " FROM astrocal_file WHERE state = ?1 "
                   "ORDER BY path, file_id"
                 : "SELECT " AC_QFILE_COLS " FROM astrocal_file WHERE "
                   "session_id = ?1 ORDER BY path, file_id",
        b, AC_BIND_N(b), ac_queue_file_cols, out, "list files", e);
}

int ac_queue_files(ac_queue_t *q, const char *session_id, ac_qfile_list_t *out, ac_err_t *e)
{
    return list_files(q, false, session_id, out, e);
}

int ac_queue_files_in_state(ac_queue_t *q, ac_file_state_t state, ac_qfile_list_t *out,
                            ac_err_t *e)
{
    return list_files(q, true, ac_queue_file_state_name(state), out, e);
}

static int count_row(sqlite3_stmt *st, void *arg, ac_err_t *e)
{
    int *counts = arg;
    int s = ac_queue_file_state_parse((const char *)sqlite3_column_text(st, 0));

    (void)e;
    if (s >= 0)
        counts[s] = sqlite3_column_int(st, 1);
    return 0;
}

int ac_queue_counts(ac_queue_t *q, const char *session_id, int counts[AC_FILE_NSTATES],
                    ac_err_t *e)
{
    const ac_bind_t b[] = {AC_BIND_TEXT(session_id)};

    AC_DB_OWNER_CHECK(q->db);
    memset(counts, 0, AC_FILE_NSTATES * sizeof counts[0]);
    return ac_catalog_run(q->db,
                          "SELECT state, COUNT(*) FROM astrocal_file WHERE (?1 IS NULL OR "
                          "session_id = ?1) GROUP BY state",
                          b, AC_BIND_N(b), "count files per state", count_row, counts, e);
}

int ac_queue_next_retry(ac_queue_t *q, double now, double *when, bool *any, ac_err_t *e)
{
    static const ac_row_col_t col[] = {AC_ROW_VALUE(NUMBER)};
    const ac_bind_t b[] = {AC_BIND_NUMBER(now)};
    bool found = false;
    int rc;

    AC_DB_OWNER_CHECK(q->db);
    *when = NAN;
    rc = ac_catalog_select_row(
        q->db,
        "SELECT MIN(t) FROM (SELECT f.not_before AS t FROM astrocal_file "
        "AS f JOIN astrocal_session AS s ON s.session_id = f.session_id "
        "WHERE f.state = 'pending' AND s.state = 'queued' AND "
        "f.not_before > ?1 UNION ALL SELECT not_before FROM "
        "astrocal_build WHERE state = 'pending' AND not_before > ?1)",
        b, AC_BIND_N(b), col, AC_ROW_N(col), when, &found, "find the next retry time", e);
    *any = rc == 0 && !isnan(*when);
    return rc;
}

int ac_queue_same_name(ac_queue_t *q, const char *file_id, const char *base, int *n,
                       ac_err_t *e)
{
    static const ac_row_col_t col[] = {AC_ROW_VALUE(INT)};
    const ac_bind_t b[] = {AC_BIND_TEXT(file_id), AC_BIND_TEXT(base)};
    bool found = false;

    AC_DB_OWNER_CHECK(q->db);
    *n = 0;
    return ac_catalog_select_row(q->db,
                                 "SELECT count(*) FROM astrocal_file WHERE file_id != ?1 AND "
                                 "(path = ?2 OR substr(path, -length(?2) - 1) = '/' || ?2)",
                                 b, AC_BIND_N(b), col, AC_ROW_N(col), n, &found,
                                 "count files of the same name", e);
}
