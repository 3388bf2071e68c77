/*
 * queue_read.c - the light queue's rows and reads (see queue.h): state names, row
 * mapping, sessions and files with their counts, the next retry time; and the statement
 * runner the changes in queue.c share (queue_int.h).
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

static const char *const sess_names[AC_SESS_NSTATES] = {"waiting", "queued", "paused", "done",
                                                        "cancelled"};
static const char *const file_names[AC_FILE_NSTATES] = {"pending", "running", "done",
                                                        "failed",  "skipped", "cancelled"};

const char *ac_queue_sess_state_name(ac_sess_state_t s)
{
    return (unsigned)s < AC_SESS_NSTATES ? sess_names[s] : "unknown";
}

int ac_queue_sess_state_parse(const char *name)
{
    for (int i = 0; name != NULL && i < AC_SESS_NSTATES; i++) {
        if (strcmp(name, sess_names[i]) == 0)
            return i;
    }
    return -1;
}

const char *ac_queue_file_state_name(ac_file_state_t s)
{
    return (unsigned)s < AC_FILE_NSTATES ? file_names[s] : "unknown";
}

int ac_queue_file_state_parse(const char *name)
{
    for (int i = 0; name != NULL && i < AC_FILE_NSTATES; i++) {
        if (strcmp(name, file_names[i]) == 0)
            return i;
    }
    return -1;
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

/* ---- Statements with bound parameters (queue_int.h) ---- */

int ac_queue_steps(ac_db_t *db, ac_qstep_t *s, int n, ac_err_t *e)
{
    for (int k = 0; k < n; k++) {
        sqlite3_stmt *st = NULL;
        int rc;

        if ((rc = ac_db_prepare(db, s[k].sql, &st, e)) != 0)
            return rc;
        for (int i = 0; i < s[k].np; i++) {
            const ac_qparam_t *p = &s[k].p[i];
            if (p->t == AC_QP_TEXT)
                ac_db_bind_text(st, i + 1, p->s);
            else if (p->t == AC_QP_DOUBLE)
                ac_db_bind_double(st, i + 1, p->d);
            else if (p->t == AC_QP_INT)
                sqlite3_bind_int64(st, i + 1, p->i);
            else
                sqlite3_bind_null(st, i + 1);
        }
        rc = ac_db_step(db, st, s[k].op, e);
        ac_db_release(db, st);
        if (rc < 0)
            return rc;
        s[k].changes = ac_db_changes(db);
    }
    return 0;
}

struct steps_ctx {
    ac_qstep_t *s;
    int n;
};

static int steps_txn(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct steps_ctx *cx = arg;

    return ac_queue_steps(db, cx->s, cx->n, e);
}

int ac_queue_exec(ac_db_t *db, ac_qstep_t *s, int n, ac_err_t *e)
{
    struct steps_ctx cx = {s, n};

    return ac_db_transact(db, steps_txn, &cx, e);
}

/* ---- Sessions ---- */

#define QSESS_TEXT 9

static char **const *qsession_fields(ac_qsession_t *s, char **(*f)[QSESS_TEXT])
{
    char **const v[QSESS_TEXT] = {&s->session_id,  &s->reason,       &s->bias_master,
                                  &s->dark_master, &s->flat_master,  &s->flatdark_master,
                                  &s->plan_json,   &s->session_date, &s->updated_at};
    memcpy(*f, v, sizeof v);
    return *f;
}

void ac_queue_session_clear(ac_qsession_t *s)
{
    char **f[QSESS_TEXT];

    if (s != NULL)
        ac_catalog_free_fields(qsession_fields(s, &f), QSESS_TEXT);
}

void ac_queue_sessions_free(ac_qsession_list_t *list)
{
    AC_CATALOG_LIST_FREE(list, ac_queue_session_clear);
}

#define QSESS_SELECT                                                                           \
    "SELECT s.session_id, s.reason, s.bias_master, s.dark_master, s.flat_master, "             \
    "s.flatdark_master, s.plan_json, s.session_date, s.updated_at, s.priority, s.state, "      \
    "SUM(f.state = 'pending'), SUM(f.state = 'running'), SUM(f.state = 'done'), "              \
    "SUM(f.state = 'failed'), SUM(f.state = 'skipped'), SUM(f.state = 'cancelled') "           \
    "FROM astrocal_session AS s LEFT JOIN astrocal_file AS f ON f.session_id = s.session_id "

static int qsession_from_row(sqlite3_stmt *st, ac_qsession_t *s)
{
    char **f[QSESS_TEXT];

    if (ac_catalog_dup_columns(st, 0, qsession_fields(s, &f), QSESS_TEXT) != 0)
        return -ENOMEM;
    s->priority = sqlite3_column_int(st, 9);
    s->state =
        (ac_sess_state_t)ac_queue_sess_state_parse((const char *)sqlite3_column_text(st, 10));
    for (int i = 0; i < AC_FILE_NSTATES; i++)
        s->counts[i] = sqlite3_column_int(st, 11 + i);
    return 0;
}

int ac_queue_session(ac_queue_t *q, const char *session_id, ac_qsession_t *out, ac_err_t *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    AC_DB_OWNER_CHECK(q->db);
    memset(out, 0, sizeof *out);
    rc = ac_db_prepare(q->db, QSESS_SELECT "WHERE s.session_id = ?1 GROUP BY s.session_id", &st,
                       e);
    if (rc != 0)
        return rc;
    ac_db_bind_text(st, 1, session_id);
    rc = ac_db_step(q->db, st, "read a queued session", e);
    if (rc == AC_DB_ROW) {
        if (qsession_from_row(st, out) != 0) {
            ac_queue_session_clear(out);
            rc = ac_err_set(e, -ENOMEM, "out of memory reading session %s", session_id);
        } else {
            rc = 0;
        }
    } else if (rc == AC_DB_DONE) {
        rc = ac_err_set(e, -ENOENT, "no session '%s'", session_id);
    }
    ac_db_release(q->db, st);
    return rc;
}

int ac_queue_sessions(ac_queue_t *q, ac_qsession_list_t *out, ac_err_t *e)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int rc;

    AC_DB_OWNER_CHECK(q->db);
    memset(out, 0, sizeof *out);
    rc = ac_db_prepare(q->db,
                       QSESS_SELECT "GROUP BY s.session_id "
                                    "ORDER BY s.priority DESC, s.session_date DESC, "
                                    "s.session_id",
                       &st, e);
    if (rc != 0)
        return rc;
    while ((rc = ac_db_step(q->db, st, "list queued sessions", e)) == AC_DB_ROW) {
        if (ac_catalog_grow((void **)&out->items, &cap, out->n, sizeof *out->items) != 0 ||
            qsession_from_row(st, &out->items[out->n++]) != 0) {
            rc = ac_err_set(e, -ENOMEM, "out of memory listing queued sessions");
            break;
        }
    }
    ac_db_release(q->db, st);
    if (rc < 0)
        ac_queue_sessions_free(out);
    return rc < 0 ? rc : 0;
}

/* ---- Files ---- */

#define QFILE_TEXT 8

static char **const *qfile_fields(ac_qfile_t *x, char **(*f)[QFILE_TEXT])
{
    char **const v[QFILE_TEXT] = {&x->file_id,    &x->session_id,  &x->path,
                                  &x->error,      &x->output_path, &x->output_file_id,
                                  &x->started_at, &x->finished_at};
    memcpy(*f, v, sizeof v);
    return *f;
}

void ac_queue_file_clear(ac_qfile_t *x)
{
    char **f[QFILE_TEXT];

    if (x != NULL)
        ac_catalog_free_fields(qfile_fields(x, &f), QFILE_TEXT);
}

void ac_queue_files_free(ac_qfile_list_t *list)
{
    AC_CATALOG_LIST_FREE(list, ac_queue_file_clear);
}

int ac_queue_file_from_row(sqlite3_stmt *st, ac_qfile_t *x)
{
    char **f[QFILE_TEXT];

    if (ac_catalog_dup_columns(st, 0, qfile_fields(x, &f), QFILE_TEXT) != 0)
        return -ENOMEM;
    x->state =
        (ac_file_state_t)ac_queue_file_state_parse((const char *)sqlite3_column_text(st, 8));
    x->attempts = sqlite3_column_int(st, 9);
    x->not_before = ac_db_column_number(st, 10);
    x->seconds = ac_db_column_number(st, 11);
    x->interrupted = sqlite3_column_int(st, 12);
    x->crashes = sqlite3_column_int(st, 13);
    return 0;
}

int ac_queue_file(ac_queue_t *q, const char *file_id, ac_qfile_t *out, ac_err_t *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    AC_DB_OWNER_CHECK(q->db);
    memset(out, 0, sizeof *out);
    rc = ac_db_prepare(q->db, "SELECT " AC_QFILE_COLS " FROM astrocal_file WHERE file_id = ?1",
                       &st, e);
    if (rc != 0)
        return rc;
    ac_db_bind_text(st, 1, file_id);
    rc = ac_db_step(q->db, st, "read a queued file", e);
    if (rc == AC_DB_ROW) {
        rc = ac_queue_file_from_row(st, out);
        if (rc != 0) {
            ac_queue_file_clear(out);
            rc = ac_err_set(e, rc, "out of memory reading file %s", file_id);
        }
    } else if (rc == AC_DB_DONE) {
        rc = ac_err_set(e, -ENOENT, "no file '%s'", file_id);
    }
    ac_db_release(q->db, st);
    return rc;
}

/* list_files lists the files of a session (by_state false) or in a state (key = its name),
 * by path. */
static int list_files(ac_queue_t *q, bool by_state, const char *key, ac_qfile_list_t *out,
                      ac_err_t *e)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int rc;

    AC_DB_OWNER_CHECK(q->db);
    memset(out, 0, sizeof *out);
    rc =
        ac_db_prepare(q->db,
                      by_state ? "SELECT " AC_QFILE_COLS " FROM astrocal_file WHERE state = ?1 "
                                 "ORDER BY path, file_id"
                               : "SELECT " AC_QFILE_COLS " FROM astrocal_file WHERE "
                                 "session_id = ?1 ORDER BY path, file_id",
                      &st, e);
    if (rc != 0)
        return rc;
    ac_db_bind_text(st, 1, key);
    while ((rc = ac_db_step(q->db, st, "list files", e)) == AC_DB_ROW) {
        if (ac_catalog_grow((void **)&out->items, &cap, out->n, sizeof *out->items) != 0 ||
            ac_queue_file_from_row(st, &out->items[out->n++]) != 0) {
            rc = ac_err_set(e, -ENOMEM, "out of memory listing files");
            break;
        }
    }
    ac_db_release(q->db, st);
    if (rc < 0)
        ac_queue_files_free(out);
    return rc < 0 ? rc : 0;
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

int ac_queue_counts(ac_queue_t *q, const char *session_id, int counts[AC_FILE_NSTATES],
                    ac_err_t *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    AC_DB_OWNER_CHECK(q->db);
    memset(counts, 0, AC_FILE_NSTATES * sizeof counts[0]);
    rc = ac_db_prepare(q->db,
                       "SELECT state, COUNT(*) FROM astrocal_file WHERE (?1 IS NULL OR "
                       "session_id = ?1) GROUP BY state",
                       &st, e);
    if (rc != 0)
        return rc;
    ac_db_bind_text(st, 1, session_id);
    while ((rc = ac_db_step(q->db, st, "count files per state", e)) == AC_DB_ROW) {
        int s = ac_queue_file_state_parse((const char *)sqlite3_column_text(st, 0));
        if (s >= 0)
            counts[s] = sqlite3_column_int(st, 1);
    }
    ac_db_release(q->db, st);
    return rc < 0 ? rc : 0;
}

int ac_queue_next_retry(ac_queue_t *q, double now, double *when, bool *any, ac_err_t *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    AC_DB_OWNER_CHECK(q->db);
    *any = false;
    *when = NAN;
    rc = ac_db_prepare(q->db,
                       "SELECT MIN(t) FROM (SELECT f.not_before AS t FROM astrocal_file AS f "
                       "JOIN astrocal_session AS s ON s.session_id = f.session_id WHERE "
                       "f.state = 'pending' AND s.state = 'queued' AND f.not_before > ?1 "
                       "UNION ALL SELECT not_before FROM astrocal_build WHERE state = "
                       "'pending' AND not_before > ?1)",
                       &st, e);
    if (rc != 0)
        return rc;
    sqlite3_bind_double(st, 1, now);
    rc = ac_db_step(q->db, st, "find the next retry time", e);
    if (rc == AC_DB_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        *when = sqlite3_column_double(st, 0);
        *any = true;
    }
    ac_db_release(q->db, st);
    return rc < 0 ? rc : 0;
}

int ac_queue_same_name(ac_queue_t *q, const char *file_id, const char *base, int *n,
                       ac_err_t *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    AC_DB_OWNER_CHECK(q->db);
    *n = 0;
    rc = ac_db_prepare(q->db,
                       "SELECT count(*) FROM astrocal_file WHERE file_id != ?1 AND "
                       "(path = ?2 OR substr(path, -length(?2) - 1) = '/' || ?2)",
                       &st, e);
    if (rc != 0)
        return rc;
    ac_db_bind_text(st, 1, file_id);
    ac_db_bind_text(st, 2, base);
    rc = ac_db_step(q->db, st, "count files of the same name", e);
    if (rc == AC_DB_ROW)
        *n = sqlite3_column_int(st, 0);
    ac_db_release(q->db, st);
    return rc < 0 ? rc : 0;
}
