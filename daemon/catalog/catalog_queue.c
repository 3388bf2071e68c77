/*
 * catalog_queue.c - the persistent queue in astrocal_session / astrocal_file, and the
 * event log in astrocal_event (see catalog.h).
 *
 * State machine of a file (astrocal_file.state):
 *   pending --claim--> running --record_calibrated--> done
 *                              --finish--> failed | skipped | cancelled | done
 *                              --defer (transient failure)--> pending (attempts+1,
 *                                                             not_before = back-off)
 *   running --recover at startup--> pending (attempts+1), or failed at max_attempts
 *   failed --retry--> pending (attempts 0);   pending --cancel_session--> cancelled
 * A session (astrocal_session.state) is waiting | queued | paused | done | cancelled; only
 * files of queued sessions are claimed, by session priority (larger first), then session
 * date, then path.
 *
 * Durability: every change is one transaction committed before the function returns
 * (synchronous=FULL), so a claim is durable before the job is submitted; after SIGKILL,
 * ac_catalog_queue_recover turns every running row back into pending (at-least-once), and
 * ac_catalog_record_calibrated's idempotence makes the catalogue exactly-once.
 *
 * Thread: loop thread only (checked).
 */
#include "catalog.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "catalog_int.h"

static const char *const sess_names[AC_SESS_NSTATES] = {"waiting", "queued", "paused", "done",
                                                        "cancelled"};
static const char *const file_names[AC_FILE_NSTATES] = {"pending", "running", "done",
                                                        "failed",  "skipped", "cancelled"};

const char *ac_catalog_sess_state_name(ac_sess_state_t s)
{
    return (unsigned)s < AC_SESS_NSTATES ? sess_names[s] : "unknown";
}

int ac_catalog_sess_state_parse(const char *name)
{
    for (int i = 0; name != NULL && i < AC_SESS_NSTATES; i++) {
        if (strcmp(name, sess_names[i]) == 0)
            return i;
    }
    return -1;
}

const char *ac_catalog_file_state_name(ac_file_state_t s)
{
    return (unsigned)s < AC_FILE_NSTATES ? file_names[s] : "unknown";
}

int ac_catalog_file_state_parse(const char *name)
{
    for (int i = 0; name != NULL && i < AC_FILE_NSTATES; i++) {
        if (strcmp(name, file_names[i]) == 0)
            return i;
    }
    return -1;
}

/* ---- Generic write steps: constant SQL plus bound parameters ---- */

enum ptype { P_NULL, P_TEXT, P_DOUBLE, P_INT };

struct param {
    enum ptype t;
    const char *s;
    double d;
    int64_t i;
};

#define TXT(x)                                                                                 \
    {                                                                                          \
        P_TEXT, (x), 0, 0                                                                      \
    }
#define DBL(x)                                                                                 \
    {                                                                                          \
        P_DOUBLE, NULL, (x), 0                                                                 \
    }
#define INT(x)                                                                                 \
    {                                                                                          \
        P_INT, NULL, 0, (x)                                                                    \
    }

struct step {
    const char *sql;
    const struct param *p;
    int np;
    const char *op;
    int changes; /* out */
};

struct steps_ctx {
    struct step *s;
    int n;
};

static int steps_txn(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct steps_ctx *cx = arg;

    for (int k = 0; k < cx->n; k++) {
        struct step *s = &cx->s[k];
        sqlite3_stmt *st = NULL;
        int rc;

        if ((rc = ac_db_prepare(db, s->sql, &st, e)) != 0)
            return rc;
        for (int i = 0; i < s->np; i++) {
            const struct param *p = &s->p[i];
            if (p->t == P_TEXT)
                ac_db_bind_text(st, i + 1, p->s);
            else if (p->t == P_DOUBLE)
                ac_db_bind_double(st, i + 1, p->d);
            else if (p->t == P_INT)
                sqlite3_bind_int64(st, i + 1, p->i);
            else
                sqlite3_bind_null(st, i + 1);
        }
        rc = ac_db_step(db, st, s->op, e);
        ac_db_release(db, st);
        if (rc < 0)
            return rc;
        s->changes = ac_db_changes(db);
    }
    return 0;
}

/* Runs the steps in one transaction. */
static int run_steps(ac_db_t *db, struct step *s, int n, ac_err_t *e)
{
    struct steps_ctx cx = {s, n};

    return ac_db_transact(db, steps_txn, &cx, e);
}

/* ---- Sessions ---- */

int ac_catalog_queue_plan_session(ac_db_t *db, const ac_qsession_plan_t *p, ac_err_t *e)
{
    char now[32];

    AC_DB_OWNER_CHECK(db);
    if (p == NULL || p->session_id == NULL || (unsigned)p->state >= AC_SESS_NSTATES)
        return ac_err_set(e, -EINVAL, "plan session: bad arguments");
    ac_db_timestamp(now, sizeof now);
    const struct param prm[] = {TXT(p->session_id),      TXT(sess_names[p->state]),
                                TXT(p->reason),          TXT(p->bias_master),
                                TXT(p->dark_master),     TXT(p->flat_master),
                                TXT(p->flatdark_master), TXT(p->plan_json),
                                TXT(p->session_date),    TXT(now)};
    struct step s = {
        "INSERT INTO astrocal_session (session_id, priority, state, reason, bias_master, "
        "dark_master, flat_master, flatdark_master, plan_json, session_date, updated_at) "
        "VALUES (?1, 0, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
        "ON CONFLICT (session_id) DO UPDATE SET "
        "state = CASE WHEN astrocal_session.state IN ('paused', 'cancelled') "
        "THEN astrocal_session.state ELSE excluded.state END, "
        "reason = CASE WHEN astrocal_session.state IN ('paused', 'cancelled') "
        "THEN astrocal_session.reason ELSE excluded.reason END, "
        "bias_master = excluded.bias_master, dark_master = excluded.dark_master, "
        "flat_master = excluded.flat_master, flatdark_master = excluded.flatdark_master, "
        "plan_json = excluded.plan_json, session_date = excluded.session_date, "
        "updated_at = excluded.updated_at",
        prm, 10, "plan a session", 0};

    return run_steps(db, &s, 1, e);
}

/* Runs one UPDATE of a session; -ENOENT when it matched nothing. */
static int update_session(ac_db_t *db, struct step *s, const char *session_id, ac_err_t *e)
{
    int rc = run_steps(db, s, 1, e);

    if (rc == 0 && s->changes == 0)
        rc = ac_err_set(e, -ENOENT, "session %s is not in the queue", session_id);
    return rc;
}

int ac_catalog_queue_set_session_state(ac_db_t *db, const char *session_id,
                                       ac_sess_state_t state, const char *reason, ac_err_t *e)
{
    char now[32];

    AC_DB_OWNER_CHECK(db);
    if (session_id == NULL || (unsigned)state >= AC_SESS_NSTATES)
        return ac_err_set(e, -EINVAL, "set session state: bad arguments");
    ac_db_timestamp(now, sizeof now);
    const struct param prm[] = {TXT(session_id), TXT(sess_names[state]), TXT(reason), TXT(now)};
    struct step s = {"UPDATE astrocal_session SET state = ?2, reason = ?3, updated_at = ?4 "
                     "WHERE session_id = ?1",
                     prm, 4, "set a session's state", 0};

    return update_session(db, &s, session_id, e);
}

int ac_catalog_queue_set_priority(ac_db_t *db, const char *session_id, int priority,
                                  ac_err_t *e)
{
    char now[32];

    AC_DB_OWNER_CHECK(db);
    ac_db_timestamp(now, sizeof now);
    const struct param prm[] = {TXT(session_id), INT(priority), TXT(now)};
    struct step s = {"UPDATE astrocal_session SET priority = ?2, updated_at = ?3 "
                     "WHERE session_id = ?1",
                     prm, 3, "set a session's priority", 0};

    return update_session(db, &s, session_id, e);
}

#define QSESS_TEXT 9

static char **const *qsession_fields(ac_qsession_t *s, char **(*f)[QSESS_TEXT])
{
    char **const v[QSESS_TEXT] = {&s->session_id,  &s->reason,       &s->bias_master,
                                  &s->dark_master, &s->flat_master,  &s->flatdark_master,
                                  &s->plan_json,   &s->session_date, &s->updated_at};
    memcpy(*f, v, sizeof v);
    return *f;
}

void ac_catalog_qsession_clear(ac_qsession_t *s)
{
    char **f[QSESS_TEXT];

    if (s != NULL)
        ac_catalog_free_fields(qsession_fields(s, &f), QSESS_TEXT);
}

void ac_catalog_qsessions_free(ac_qsession_list_t *list)
{
    AC_CATALOG_LIST_FREE(list, ac_catalog_qsession_clear);
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
        (ac_sess_state_t)ac_catalog_sess_state_parse((const char *)sqlite3_column_text(st, 10));
    for (int i = 0; i < AC_FILE_NSTATES; i++)
        s->counts[i] = sqlite3_column_int(st, 11 + i);
    return 0;
}

int ac_catalog_queue_session(ac_db_t *db, const char *session_id, ac_qsession_t *out,
                             ac_err_t *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    AC_DB_OWNER_CHECK(db);
    memset(out, 0, sizeof *out);
    rc =
        ac_db_prepare(db, QSESS_SELECT "WHERE s.session_id = ?1 GROUP BY s.session_id", &st, e);
    if (rc != 0)
        return rc;
    ac_db_bind_text(st, 1, session_id);
    rc = ac_db_step(db, st, "read a queued session", e);
    if (rc == AC_DB_ROW) {
        if (qsession_from_row(st, out) != 0) {
            ac_catalog_qsession_clear(out);
            rc = ac_err_set(e, -ENOMEM, "out of memory reading session %s", session_id);
        } else {
            rc = 0;
        }
    } else if (rc == AC_DB_DONE) {
        rc = ac_err_set(e, -ENOENT, "session %s is not in the queue", session_id);
    }
    ac_db_release(db, st);
    return rc;
}

int ac_catalog_queue_sessions(ac_db_t *db, ac_qsession_list_t *out, ac_err_t *e)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int rc;

    AC_DB_OWNER_CHECK(db);
    memset(out, 0, sizeof *out);
    rc = ac_db_prepare(db,
                       QSESS_SELECT "GROUP BY s.session_id "
                                    "ORDER BY s.priority DESC, s.session_date DESC, "
                                    "s.session_id",
                       &st, e);
    if (rc != 0)
        return rc;
    while ((rc = ac_db_step(db, st, "list queued sessions", e)) == AC_DB_ROW) {
        if (ac_catalog_grow((void **)&out->items, &cap, out->n, sizeof *out->items) != 0 ||
            qsession_from_row(st, &out->items[out->n++]) != 0) {
            rc = ac_err_set(e, -ENOMEM, "out of memory listing queued sessions");
            break;
        }
    }
    ac_db_release(db, st);
    if (rc < 0)
        ac_catalog_qsessions_free(out);
    return rc < 0 ? rc : 0;
}

/* ---- Files ---- */

struct add_ctx {
    const char *session_id;
    const ac_qfile_add_t *files;
    size_t n;
    int added;
};

static int add_txn(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct add_ctx *ax = arg;
    sqlite3_stmt *st = NULL;
    char now[32];
    int rc = 0;

    ax->added = 0;
    ac_db_timestamp(now, sizeof now);
    rc = ac_db_prepare(db,
                       "INSERT OR IGNORE INTO astrocal_file (file_id, session_id, path, state, "
                       "attempts, updated_at) VALUES (?1, ?2, ?3, 'pending', 0, ?4)",
                       &st, e);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < ax->n && rc >= 0; i++) {
        ac_db_bind_text(st, 1, ax->files[i].file_id);
        ac_db_bind_text(st, 2, ax->session_id);
        ac_db_bind_text(st, 3, ax->files[i].path);
        ac_db_bind_text(st, 4, now);
        rc = ac_db_step(db, st, "queue a file", e);
        if (rc >= 0)
            ax->added += ac_db_changes(db);
        sqlite3_reset(st);
    }
    ac_db_release(db, st);
    return rc < 0 ? rc : 0;
}

int ac_catalog_queue_add_files(ac_db_t *db, const char *session_id, const ac_qfile_add_t *files,
                               size_t n, int *added, ac_err_t *e)
{
    struct add_ctx ax = {session_id, files, n, 0};
    int rc;

    AC_DB_OWNER_CHECK(db);
    if (session_id == NULL || (n > 0 && files == NULL))
        return ac_err_set(e, -EINVAL, "queue files: bad arguments");
    for (size_t i = 0; i < n; i++) {
        if (files[i].file_id == NULL || files[i].path == NULL)
            return ac_err_set(e, -EINVAL, "queue files: file %zu has no id or path", i);
    }
    rc = n > 0 ? ac_db_transact(db, add_txn, &ax, e) : 0;
    if (added != NULL)
        *added = rc == 0 ? ax.added : 0;
    return rc;
}

#define QFILE_TEXT 8
#define QFILE_COLS                                                                             \
    "file_id, session_id, path, error, output_path, output_file_id, started_at, finished_at, " \
    "state, attempts, not_before, seconds"

static char **const *qfile_fields(ac_qfile_t *x, char **(*f)[QFILE_TEXT])
{
    char **const v[QFILE_TEXT] = {&x->file_id,    &x->session_id,  &x->path,
                                  &x->error,      &x->output_path, &x->output_file_id,
                                  &x->started_at, &x->finished_at};
    memcpy(*f, v, sizeof v);
    return *f;
}

void ac_catalog_qfile_clear(ac_qfile_t *x)
{
    char **f[QFILE_TEXT];

    if (x != NULL)
        ac_catalog_free_fields(qfile_fields(x, &f), QFILE_TEXT);
}

void ac_catalog_qfiles_free(ac_qfile_list_t *list)
{
    AC_CATALOG_LIST_FREE(list, ac_catalog_qfile_clear);
}

static int qfile_from_row(sqlite3_stmt *st, ac_qfile_t *x)
{
    char **f[QFILE_TEXT];

    if (ac_catalog_dup_columns(st, 0, qfile_fields(x, &f), QFILE_TEXT) != 0)
        return -ENOMEM;
    x->state =
        (ac_file_state_t)ac_catalog_file_state_parse((const char *)sqlite3_column_text(st, 8));
    x->attempts = sqlite3_column_int(st, 9);
    x->not_before = ac_db_column_number(st, 10);
    x->seconds = ac_db_column_number(st, 11);
    return 0;
}

struct claim_ctx {
    bool newest_first;
    double now;
    const char *only_session;
    ac_qfile_t *out;
    bool found;
};

static int claim_txn(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct claim_ctx *cx = arg;
    sqlite3_stmt *st = NULL;
    char ts[32];
    int rc;
#define CLAIM_SQL(order)                                                                       \
    "UPDATE astrocal_file SET state = 'running', started_at = ?1, finished_at = NULL, "        \
    "updated_at = ?1 WHERE file_id = (SELECT f.file_id FROM astrocal_file AS f "               \
    "JOIN astrocal_session AS s ON s.session_id = f.session_id "                               \
    "WHERE f.state = 'pending' AND s.state = 'queued' "                                        \
    "AND (f.not_before IS NULL OR f.not_before <= ?2) "                                        \
    "AND (?3 IS NULL OR f.session_id = ?3) "                                                   \
    "ORDER BY s.priority DESC, s.session_date " order ", f.session_id, f.path, f.file_id "     \
    "LIMIT 1) RETURNING " QFILE_COLS

    ac_catalog_qfile_clear(cx->out);
    memset(cx->out, 0, sizeof *cx->out);
    cx->found = false;
    ac_db_timestamp(ts, sizeof ts);
    rc = ac_db_prepare(db, cx->newest_first ? CLAIM_SQL("DESC") : CLAIM_SQL("ASC"), &st, e);
    if (rc != 0)
        return rc;
    ac_db_bind_text(st, 1, ts);
    sqlite3_bind_double(st, 2, cx->now);
    ac_db_bind_text(st, 3, cx->only_session);
    while ((rc = ac_db_step(db, st, "claim the next file", e)) == AC_DB_ROW) {
        if (qfile_from_row(st, cx->out) != 0) {
            rc = ac_err_set(e, -ENOMEM, "out of memory claiming a file");
            break;
        }
        cx->found = true;
    }
    ac_db_release(db, st);
    if (rc < 0) {
        ac_catalog_qfile_clear(cx->out);
        cx->found = false;
    }
    return rc < 0 ? rc : 0;
#undef CLAIM_SQL
}

int ac_catalog_queue_claim(ac_db_t *db, bool newest_first, double now, const char *only_session,
                           ac_qfile_t *out, bool *found, ac_err_t *e)
{
    struct claim_ctx cx = {newest_first, now, only_session, out, false};
    int rc;

    AC_DB_OWNER_CHECK(db);
    memset(out, 0, sizeof *out);
    rc = ac_db_transact(db, claim_txn, &cx, e);
    *found = rc == 0 && cx.found;
    return rc;
}

int ac_catalog_queue_next_retry(ac_db_t *db, double now, double *when, bool *any, ac_err_t *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    AC_DB_OWNER_CHECK(db);
    *any = false;
    *when = NAN;
    rc = ac_db_prepare(db,
                       "SELECT MIN(t) FROM (SELECT f.not_before AS t FROM astrocal_file AS f "
                       "JOIN astrocal_session AS s ON s.session_id = f.session_id WHERE "
                       "f.state = 'pending' AND s.state = 'queued' AND f.not_before > ?1 "
                       "UNION ALL SELECT not_before FROM astrocal_build WHERE state = "
                       "'pending' AND not_before > ?1)",
                       &st, e);
    if (rc != 0)
        return rc;
    sqlite3_bind_double(st, 1, now);
    rc = ac_db_step(db, st, "find the next retry time", e);
    if (rc == AC_DB_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        *when = sqlite3_column_double(st, 0);
        *any = true;
    }
    ac_db_release(db, st);
    return rc < 0 ? rc : 0;
}

/* Runs one UPDATE of a file; -ENOENT when it matched nothing. */
static int update_file(ac_db_t *db, struct step *s, const char *file_id, ac_err_t *e)
{
    int rc = run_steps(db, s, 1, e);

    if (rc == 0 && s->changes == 0)
        rc = ac_err_set(e, -ENOENT, "file %s is not in the queue", file_id);
    return rc;
}

int ac_catalog_queue_defer(ac_db_t *db, const char *file_id, const char *error,
                           double not_before, ac_err_t *e)
{
    char now[32];

    AC_DB_OWNER_CHECK(db);
    ac_db_timestamp(now, sizeof now);
    const struct param prm[] = {TXT(file_id), TXT(error), DBL(not_before), TXT(now)};
    struct step s = {"UPDATE astrocal_file SET state = 'pending', attempts = attempts + 1, "
                     "error = ?2, not_before = ?3, updated_at = ?4 WHERE file_id = ?1",
                     prm, 4, "defer a file", 0};

    return update_file(db, &s, file_id, e);
}

int ac_catalog_queue_release(ac_db_t *db, const char *file_id, double not_before, ac_err_t *e)
{
    char now[32];

    AC_DB_OWNER_CHECK(db);
    ac_db_timestamp(now, sizeof now);
    const struct param prm[] = {TXT(file_id), DBL(not_before), TXT(now)};
    struct step s = {
        "UPDATE astrocal_file SET state = 'pending', not_before = ?2, "
        "started_at = NULL, updated_at = ?3 WHERE file_id = ?1 AND state = 'running'",
        prm, 3, "release a file", 0};

    return update_file(db, &s, file_id, e);
}

int ac_catalog_queue_finish(ac_db_t *db, const char *file_id, ac_file_state_t state,
                            const char *error, double seconds, ac_err_t *e)
{
    char now[32];

    AC_DB_OWNER_CHECK(db);
    if ((unsigned)state >= AC_FILE_NSTATES || state == AC_FILE_PENDING ||
        state == AC_FILE_RUNNING)
        return ac_err_set(e, -EINVAL, "finish file %s: state %s is not final", file_id,
                          ac_catalog_file_state_name(state));
    ac_db_timestamp(now, sizeof now);
    const struct param prm[] = {TXT(file_id), TXT(file_names[state]), TXT(error), DBL(seconds),
                                TXT(now)};
    struct step s = {"UPDATE astrocal_file SET state = ?2, error = ?3, "
                     "seconds = COALESCE(?4, seconds), finished_at = ?5, updated_at = ?5, "
                     "not_before = NULL, attempts = attempts + (?2 = 'failed') "
                     "WHERE file_id = ?1",
                     prm, 5, "finish a file", 0};

    return update_file(db, &s, file_id, e);
}

int ac_catalog_queue_recover(ac_db_t *db, int max_attempts, int *n_requeued, int *n_failed,
                             ac_err_t *e)
{
    char now[32];
    int rc;

    AC_DB_OWNER_CHECK(db);
    if (max_attempts < 1)
        max_attempts = 1;
    ac_db_timestamp(now, sizeof now);
    const struct param prm[] = {INT(max_attempts), TXT(now)};
    struct step s[] = {
        {"UPDATE astrocal_file SET state = 'failed', attempts = attempts + 1, "
         "error = 'interrupted ' || (attempts + 1) || ' times', finished_at = ?2, "
         "updated_at = ?2 WHERE state = 'running' AND attempts + 1 >= ?1",
         prm, 2, "fail files interrupted too often", 0},
        {"UPDATE astrocal_file SET state = 'pending', attempts = attempts + 1, "
         "updated_at = ?2 WHERE state = 'running'",
         prm, 2, "requeue interrupted files", 0},
    };

    rc = run_steps(db, s, 2, e);
    if (n_failed != NULL)
        *n_failed = rc == 0 ? s[0].changes : 0;
    if (n_requeued != NULL)
        *n_requeued = rc == 0 ? s[1].changes : 0;
    return rc;
}

int ac_catalog_queue_retry(ac_db_t *db, const char *file_id, const char *session_id,
                           int *changed, ac_err_t *e)
{
    char now[32];
    int rc;

    AC_DB_OWNER_CHECK(db);
    ac_db_timestamp(now, sizeof now);
    const struct param prm[] = {TXT(file_id), TXT(session_id), TXT(now)};
    struct step s[] = {
        {"UPDATE astrocal_file SET state = 'pending', attempts = 0, error = NULL, "
         "not_before = NULL, updated_at = ?3 WHERE state = 'failed' "
         "AND (?1 IS NULL OR file_id = ?1) AND (?2 IS NULL OR session_id = ?2)",
         prm, 3, "retry failed files", 0},
        {"UPDATE astrocal_session SET state = 'queued', updated_at = ?3 WHERE state = 'done' "
         "AND EXISTS (SELECT 1 FROM astrocal_file AS f "
         "WHERE f.session_id = astrocal_session.session_id AND f.state = 'pending')",
         prm, 3, "requeue sessions of retried files", 0},
    };

    rc = run_steps(db, s, 2, e);
    if (changed != NULL)
        *changed = rc == 0 ? s[0].changes : 0;
    return rc;
}

int ac_catalog_queue_same_name(ac_db_t *db, const char *file_id, const char *base, int *n,
                               ac_err_t *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    AC_DB_OWNER_CHECK(db);
    *n = 0;
    rc = ac_db_prepare(db,
                       "SELECT count(*) FROM astrocal_file WHERE file_id != ?1 AND "
                       "(path = ?2 OR substr(path, -length(?2) - 1) = '/' || ?2)",
                       &st, e);
    if (rc != 0)
        return rc;
    ac_db_bind_text(st, 1, file_id);
    ac_db_bind_text(st, 2, base);
    rc = ac_db_step(db, st, "count files of the same name", e);
    if (rc == AC_DB_ROW)
        *n = sqlite3_column_int(st, 0);
    ac_db_release(db, st);
    return rc < 0 ? rc : 0;
}

int ac_catalog_queue_reopen_session(ac_db_t *db, const char *session_id, int *n, ac_err_t *e)
{
    char now[32];
    int rc;

    AC_DB_OWNER_CHECK(db);
    ac_db_timestamp(now, sizeof now);
    const struct param prm[] = {TXT(session_id), TXT(now)};
    struct step s[] = {
        {"UPDATE astrocal_file SET state = 'pending', attempts = 0, error = NULL, "
         "not_before = NULL, finished_at = NULL, updated_at = ?2 "
         "WHERE session_id = ?1 AND state IN ('cancelled', 'failed')",
         prm, 2, "reopen a session's files", 0},
        {"UPDATE astrocal_session SET state = 'queued', reason = NULL, updated_at = ?2 "
         "WHERE session_id = ?1 AND state IN ('cancelled', 'done')",
         prm, 2, "reopen a session", 0},
    };

    rc = run_steps(db, s, 2, e);
    if (n != NULL)
        *n = rc == 0 ? s[0].changes : 0;
    return rc;
}

int ac_catalog_queue_cancel_session(ac_db_t *db, const char *session_id, int *n, ac_err_t *e)
{
    char now[32];
    int rc;

    AC_DB_OWNER_CHECK(db);
    ac_db_timestamp(now, sizeof now);
    const struct param prm[] = {TXT(session_id), TXT(now)};
    struct step s[] = {
        {"UPDATE astrocal_session SET state = 'cancelled', reason = 'cancelled', "
         "updated_at = ?2 WHERE session_id = ?1",
         prm, 2, "cancel a session", 0},
        {"UPDATE astrocal_file SET state = 'cancelled', finished_at = ?2, updated_at = ?2 "
         "WHERE session_id = ?1 AND state = 'pending'",
         prm, 2, "cancel a session's pending files", 0},
    };

    rc = run_steps(db, s, 2, e);
    if (rc == 0 && s[0].changes == 0)
        rc = ac_err_set(e, -ENOENT, "session %s is not in the queue", session_id);
    if (n != NULL)
        *n = rc == 0 ? s[1].changes : 0;
    return rc;
}

int ac_catalog_queue_counts(ac_db_t *db, const char *session_id, int counts[AC_FILE_NSTATES],
                            ac_err_t *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    AC_DB_OWNER_CHECK(db);
    memset(counts, 0, AC_FILE_NSTATES * sizeof counts[0]);
    rc = ac_db_prepare(db,
                       "SELECT state, COUNT(*) FROM astrocal_file WHERE (?1 IS NULL OR "
                       "session_id = ?1) GROUP BY state",
                       &st, e);
    if (rc != 0)
        return rc;
    ac_db_bind_text(st, 1, session_id);
    while ((rc = ac_db_step(db, st, "count files per state", e)) == AC_DB_ROW) {
        int s = ac_catalog_file_state_parse((const char *)sqlite3_column_text(st, 0));
        if (s >= 0)
            counts[s] = sqlite3_column_int(st, 1);
    }
    ac_db_release(db, st);
    return rc < 0 ? rc : 0;
}

int ac_catalog_queue_files(ac_db_t *db, const char *session_id, ac_qfile_list_t *out,
                           ac_err_t *e)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int rc;

    AC_DB_OWNER_CHECK(db);
    memset(out, 0, sizeof *out);
    rc = ac_db_prepare(db,
                       "SELECT " QFILE_COLS " FROM astrocal_file WHERE session_id = ?1 "
                       "ORDER BY path, file_id",
                       &st, e);
    if (rc != 0)
        return rc;
    ac_db_bind_text(st, 1, session_id);
    while ((rc = ac_db_step(db, st, "list a session's files", e)) == AC_DB_ROW) {
        if (ac_catalog_grow((void **)&out->items, &cap, out->n, sizeof *out->items) != 0 ||
            qfile_from_row(st, &out->items[out->n++]) != 0) {
            rc = ac_err_set(e, -ENOMEM, "out of memory listing files");
            break;
        }
    }
    ac_db_release(db, st);
    if (rc < 0)
        ac_catalog_qfiles_free(out);
    return rc < 0 ? rc : 0;
}

int ac_catalog_queue_file(ac_db_t *db, const char *file_id, ac_qfile_t *out, ac_err_t *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    AC_DB_OWNER_CHECK(db);
    memset(out, 0, sizeof *out);
    rc = ac_db_prepare(db, "SELECT " QFILE_COLS " FROM astrocal_file WHERE file_id = ?1", &st,
                       e);
    if (rc != 0)
        return rc;
    ac_db_bind_text(st, 1, file_id);
    rc = ac_db_step(db, st, "read a queued file", e);
    if (rc == AC_DB_ROW) {
        rc = qfile_from_row(st, out);
        if (rc != 0) {
            ac_catalog_qfile_clear(out);
            rc = ac_err_set(e, rc, "out of memory reading file %s", file_id);
        }
    } else if (rc == AC_DB_DONE) {
        rc = ac_err_set(e, -ENOENT, "file %s is not in the queue", file_id);
    }
    ac_db_release(db, st);
    return rc;
}

/* ---- Events ---- */

int ac_catalog_event_add(ac_db_t *db, const char *kind, const char *session_id,
                         const char *file_id, const char *message, int64_t *id, ac_err_t *e)
{
    char now[32];
    int rc;

    AC_DB_OWNER_CHECK(db);
    ac_db_timestamp(now, sizeof now);
    const struct param prm[] = {TXT(now), TXT(kind), TXT(session_id), TXT(file_id),
                                TXT(message)};
    struct step s[] = {
        {"INSERT INTO astrocal_event (at, kind, session_id, file_id, message) "
         "VALUES (?1, ?2, ?3, ?4, ?5)",
         prm, 5, "add an event", 0},
    };

    rc = run_steps(db, s, 1, e);
    if (rc == 0 && id != NULL)
        *id = sqlite3_last_insert_rowid(ac_db_handle(db));
    return rc;
}

void ac_catalog_events_free(ac_event_list_t *list)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < list->n; i++) {
        ac_event_t *v = &list->items[i];
        char **const f[] = {&v->at, &v->kind, &v->session_id, &v->file_id, &v->message};
        ac_catalog_free_fields(f, 5);
    }
    free(list->items);
    list->items = NULL;
    list->n = 0;
}

int ac_catalog_events(ac_db_t *db, int64_t after_id, int limit, ac_event_list_t *out,
                      ac_err_t *e)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int rc;

    AC_DB_OWNER_CHECK(db);
    memset(out, 0, sizeof *out);
    rc = ac_db_prepare(db,
                       "SELECT at, kind, session_id, file_id, message, id FROM astrocal_event "
                       "WHERE id > ?1 ORDER BY id LIMIT ?2",
                       &st, e);
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(st, 1, after_id);
    sqlite3_bind_int(st, 2, limit);
    while ((rc = ac_db_step(db, st, "list events", e)) == AC_DB_ROW) {
        ac_event_t *v;
        if (ac_catalog_grow((void **)&out->items, &cap, out->n, sizeof *out->items) != 0) {
            rc = ac_err_set(e, -ENOMEM, "out of memory listing events");
            break;
        }
        v = &out->items[out->n++];
        char **const f[] = {&v->at, &v->kind, &v->session_id, &v->file_id, &v->message};
        if (ac_catalog_dup_columns(st, 0, f, 5) != 0) {
            rc = ac_err_set(e, -ENOMEM, "out of memory listing events");
            break;
        }
        v->id = sqlite3_column_int64(st, 5);
    }
    ac_db_release(db, st);
    if (rc < 0)
        ac_catalog_events_free(out);
    return rc < 0 ? rc : 0;
}

int ac_catalog_events_prune(ac_db_t *db, int keep, ac_err_t *e)
{
    AC_DB_OWNER_CHECK(db);
    const struct param prm[] = {INT(keep < 0 ? 0 : keep)};
    struct step s = {"DELETE FROM astrocal_event WHERE id <= (SELECT id FROM astrocal_event "
                     "ORDER BY id DESC LIMIT 1 OFFSET ?1)",
                     prm, 1, "prune events", 0};

    return run_steps(db, &s, 1, e);
}
