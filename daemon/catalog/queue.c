/*
 * queue.c - the light queue's changes (see queue.h for the state machine): each public
 * function checks what its rule requires and makes its change in ONE transaction, settling
 * the session it touched in the same transaction (queue_outcome.c) and writing its history
 * row; what happened is logged and reported (on_done) only after the commit, because a
 * transaction body may run more than once.
 *
 * Thread: loop thread only (checked).
 */
#include "queue.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "log.h"
#include "queue_int.h"

/* ---- Planning ---- */

struct plan_ctx {
    ac_queue_t *q;
    const ac_queue_plan_t *p;
    int added;
    ac_qsettled_t st;
};

/* add_files queues the plan's files: the unreadable ones as failed (whatever the
 * session's state), the others as pending when the plan is ready; a file already queued
 * keeps its state. *added counts the new rows, *added_pending the new pending ones. */
static int add_files(ac_queue_t *q, const ac_queue_plan_t *p, const char *now, int *added,
                     int *added_pending, ac_err_t *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *added = *added_pending = 0;
    rc = ac_db_prepare(q->db,
                       "INSERT OR IGNORE INTO astrocal_file (file_id, session_id, path, state, "
                       "attempts, error, finished_at, updated_at) VALUES (?1, ?2, ?3, "
                       "CASE WHEN ?5 IS NULL THEN 'pending' ELSE 'failed' END, ?5 IS NOT NULL, "
                       "?5, CASE WHEN ?5 IS NULL THEN NULL ELSE ?4 END, ?4)",
                       &st, e);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < p->nfiles && rc >= 0; i++) {
        const ac_qfile_add_t *f = &p->files[i];
        int n = 0;
        if (f->error == NULL && !p->ready)
            continue;
        ac_db_bind_text(st, 1, f->file_id);
        ac_db_bind_text(st, 2, p->session_id);
        ac_db_bind_text(st, 3, f->path);
        ac_db_bind_text(st, 4, now);
        ac_db_bind_text(st, 5, f->error);
        rc = ac_db_step(q->db, st, "queue a file", e);
        if (rc >= 0)
            *added += n = ac_db_changes(q->db);
        if (f->error == NULL)
            *added_pending += n;
        sqlite3_reset(st);
        if (rc >= 0 && n > 0 && f->error != NULL)
            rc = ac_queue_file_event(q->db, f->file_id, AC_EV_UNREADABLE, NULL, now, e);
    }
    ac_db_release(q->db, st);
    return rc < 0 ? rc : 0;
}

/* The part of a session row whose change is worth a session_planned event. */
#define PLAN_SIGNATURE_SQL                                                                     \
    "SELECT state || '|' || COALESCE(reason, '') || '|' || COALESCE(bias_master, '') || '|' "  \
    "|| COALESCE(dark_master, '') || '|' || COALESCE(flat_master, '') || '|' || "              \
    "COALESCE(flatdark_master, '') || '|' || COALESCE(links_json, '') FROM astrocal_session "  \
    "WHERE session_id = ?1"

static int plan_signature(ac_db_t *db, const char *session_id, char *out, size_t size,
                          ac_err_t *e)
{
    const ac_bind_t b[] = {AC_BIND_TEXT(session_id)};
    bool found = false;

    return ac_catalog_select_text(db, PLAN_SIGNATURE_SQL, b, AC_BIND_N(b), out, size, &found,
                                  "read a session's plan", e);
}

static int plan_txn(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct plan_ctx *cx = arg;
    const ac_queue_plan_t *p = cx->p;
    char now[32];
    int rc;

    ac_db_timestamp(now, sizeof now);
    const ac_bind_t prm[] = {
        AC_BIND_TEXT(p->session_id),      AC_BIND_TEXT(p->ready ? "queued" : "waiting"),
        AC_BIND_TEXT(p->reason),          AC_BIND_TEXT(p->bias_master),
        AC_BIND_TEXT(p->dark_master),     AC_BIND_TEXT(p->flat_master),
        AC_BIND_TEXT(p->flatdark_master), AC_BIND_TEXT(p->plan_json),
        AC_BIND_TEXT(p->session_date),    AC_BIND_TEXT(now)};
    ac_qstep_t s[] = {
        {"INSERT INTO astrocal_session (session_id, priority, state, reason, bias_master, "
         "dark_master, flat_master, flatdark_master, plan_json, session_date, updated_at) "
         "VALUES (?1, 0, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
         "ON CONFLICT (session_id) DO UPDATE SET "
         "state = CASE WHEN astrocal_session.state IN ('paused', 'cancelled', 'done') "
         "THEN astrocal_session.state ELSE excluded.state END, "
         "reason = CASE WHEN astrocal_session.state IN ('paused', 'cancelled', 'done') "
         "THEN astrocal_session.reason ELSE excluded.reason END, "
         "bias_master = excluded.bias_master, dark_master = excluded.dark_master, "
         "flat_master = excluded.flat_master, flatdark_master = excluded.flatdark_master, "
         "plan_json = excluded.plan_json, session_date = excluded.session_date, "
         "updated_at = excluded.updated_at",
         "plan a session", 0},
        {"UPDATE astrocal_session SET state = 'queued', reason = NULL, updated_at = ?10 "
         "WHERE session_id = ?1",
         "queue a session on request", 0},
        {"UPDATE astrocal_session SET state = 'queued', reason = NULL, outcome = NULL, "
         "outcome_reason = NULL, updated_at = ?10 WHERE session_id = ?1 AND state = 'done'",
         "queue a done session's new lights", 0},
    };

    char before[8192], after[8192];
    int pending = 0;

    cx->added = 0;
    if ((rc = plan_signature(db, p->session_id, before, sizeof before, e)) != 0)
        return rc;
    rc = ac_queue_steps(db, s, p->force && p->ready ? 2 : 1, prm, AC_BIND_N(prm), e);
    if (rc == 0)
        rc = add_files(cx->q, p, now, &cx->added, &pending, e);
    /* A done session stays done, unless this plan brought new lights to calibrate. */
    if (rc == 0 && pending > 0)
        rc = ac_queue_steps(db, &s[2], 1, prm, AC_BIND_N(prm), e);
    if (rc == 0 && p->ready && p->has_links)
        rc = ac_catalog_session_links(db, p->session_id, p->links, e);
    if (rc == 0)
        rc = plan_signature(db, p->session_id, after, sizeof after, e);
    if (rc == 0 && strcmp(before, after) != 0)
        rc = ac_queue_session_event(db, p->session_id, AC_EV_SESSION_PLANNED, NULL, now, e);
    if (rc == 0 && p->ready)
        rc = ac_queue_settle(cx->q, p->session_id, false, now, &cx->st, e);
    return rc;
}

int ac_queue_plan(ac_queue_t *q, const ac_queue_plan_t *p, int *added, ac_err_t *e)
{
    struct plan_ctx cx = {q, p, 0, {0}};
    int rc;

    AC_DB_OWNER_CHECK(q->db);
    if (p == NULL || p->session_id == NULL || (p->nfiles > 0 && p->files == NULL))
        return ac_err_set(e, -EINVAL, "plan a session: bad arguments");
    for (size_t i = 0; i < p->nfiles; i++) {
        if (p->files[i].file_id == NULL || p->files[i].path == NULL)
            return ac_err_set(e, -EINVAL, "plan session %s: file %zu has no id or path",
                              p->session_id, i);
    }
    rc = ac_db_transact(q->db, plan_txn, &cx, e);
    if (added != NULL)
        *added = rc == 0 ? cx.added : 0;
    if (rc == 0)
        ac_queue_report(q, &cx.st);
    ac_queue_settled_reset(&cx.st);
    return rc;
}

/* ---- The operator's requests ---- */

enum op { OP_ENQUEUE, OP_PAUSE, OP_RESUME, OP_CANCEL, OP_RETRY, OP_CANCEL_FILE, OP_CANCEL_ALL };

struct op_ctx {
    ac_queue_t *q;
    enum op op;
    const char *session_id, *file_id;
    const int *priority;
    const char *reason;
    int n;     /* out: files changed */
    bool flag; /* out: resumed; cancel_file: the file is running */
    ac_qsettled_t st;
};

/* check reads the session (or file) an operator's request names and refuses the
 * request when the state forbids it. */
static int check(struct op_ctx *cx, ac_qsession_t *s, ac_err_t *e)
{
    const char *sid = cx->session_id;
    int rc;

    if (cx->file_id != NULL) { /* retry or cancel of one file */
        ac_qfile_t f = {0};
        if ((rc = ac_queue_file(cx->q, cx->file_id, &f, e)) != 0)
            return rc;
        if (cx->op == OP_RETRY && f.state != AC_FILE_FAILED)
            rc = ac_err_set(e, -EEXIST, "file '%s' is %s, not failed", cx->file_id,
                            ac_queue_file_state_name(f.state));
        if (cx->op == OP_CANCEL_FILE && f.state != AC_FILE_PENDING &&
            f.state != AC_FILE_RUNNING)
            rc = ac_err_set(e, -EEXIST, "file '%s' is %s, not pending or running", cx->file_id,
                            ac_queue_file_state_name(f.state));
        cx->flag = f.state == AC_FILE_RUNNING;
        ac_queue_file_clear(&f);
        return rc;
    }
    if (sid == NULL)
        return 0; /* retry of every failed file */
    if ((rc = ac_queue_session(cx->q, sid, s, e)) != 0)
        return rc;
    if (cx->op == OP_ENQUEUE && s->state == AC_SESS_DONE)
        return ac_err_set(e, -EEXIST, "session '%s' is done (use retry for failed files)", sid);
    if (cx->op == OP_CANCEL && s->state == AC_SESS_DONE)
        return ac_err_set(e, -EEXIST, "session '%s' is done", sid);
    if (cx->op == OP_PAUSE && (s->state == AC_SESS_DONE || s->state == AC_SESS_CANCELLED))
        return ac_err_set(e, -EEXIST, "session '%s' is %s", sid,
                          ac_queue_sess_state_name(s->state));
    return 0;
}

/* op_history writes the history rows of an operator's request: the session's, and one per
 * file it changed (their updated_at is now). */
static int op_history(struct op_ctx *cx, const char *now, bool resumed, ac_err_t *e)
{
    ac_db_t *db = cx->q->db;
    const char *sid = cx->session_id;

    switch (cx->op) {
    case OP_ENQUEUE: {
        int rc = ac_queue_session_event(db, sid, AC_EV_OPERATOR, "enqueued", now, e);
        return rc ? rc
                  : ac_queue_changed_event(db, now, "pending", AC_EV_OPERATOR, "enqueued", e);
    }
    case OP_PAUSE:
        return ac_queue_session_event(db, sid, AC_EV_OPERATOR, "paused", now, e);
    case OP_RESUME:
        return resumed ? ac_queue_session_event(db, sid, AC_EV_OPERATOR, "resumed", now, e) : 0;
    case OP_CANCEL: {
        int rc = ac_queue_session_event(db, sid, AC_EV_CANCELLED, "cancelled by the operator",
                                        now, e);
        return rc ? rc
                  : ac_queue_changed_event(db, now, "cancelled", AC_EV_CANCELLED,
                                           "cancelled by the operator", e);
    }
    case OP_RETRY:
        return ac_queue_changed_event(db, now, "pending", AC_EV_OPERATOR, "retried", e);
    case OP_CANCEL_FILE:
    case OP_CANCEL_ALL:
        return ac_queue_changed_event(db, now, "cancelled", AC_EV_CANCELLED,
                                      "cancelled by the operator", e);
    }
    return 0;
}

static int op_txn(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct op_ctx *cx = arg;
    ac_qsession_t s = {0};
    char now[32];
    int rc, first = 0, n = 0;

    cx->n = 0;
    cx->flag = false;
    ac_db_timestamp(now, sizeof now);
    rc = check(cx, &s, e);
    const ac_bind_t prm[] = {
        AC_BIND_TEXT(cx->session_id), AC_BIND_TEXT(now), AC_BIND_TEXT(cx->file_id),
        AC_BIND_INT(cx->priority ? *cx->priority : 0), AC_BIND_TEXT(cx->reason)};
    ac_qstep_t steps[] = {
        /* 0, 1: enqueue (2 to 4 with a priority) */
        {"UPDATE astrocal_session SET priority = ?4, updated_at = ?2 WHERE session_id = ?1",
         "set a session's priority", 0},
        {"UPDATE astrocal_file SET state = 'pending', attempts = 0, interrupted = 0, "
         "error = NULL, not_before = NULL, finished_at = NULL, updated_at = ?2 "
         "WHERE session_id = ?1 AND state IN ('cancelled', 'failed')",
         "reopen a session's files", 0},
        {"UPDATE astrocal_session SET state = 'queued', reason = NULL, outcome = NULL, "
         "outcome_reason = NULL, updated_at = ?2 WHERE session_id = ?1 AND state IN "
         "('cancelled', 'done')",
         "reopen a session", 0},
        /* 3: pause */
        {"UPDATE astrocal_session SET state = 'paused', reason = ?5, updated_at = ?2 "
         "WHERE session_id = ?1",
         "pause a session", 0},
        /* 4: resume */
        {"UPDATE astrocal_session SET state = 'queued', reason = NULL, updated_at = ?2 "
         "WHERE session_id = ?1 AND state = 'paused'",
         "resume a session", 0},
        /* 5, 6: cancel */
        {"UPDATE astrocal_file SET state = 'cancelled', finished_at = ?2, updated_at = ?2 "
         "WHERE session_id = ?1 AND state = 'pending'",
         "cancel a session's pending files", 0},
        {"UPDATE astrocal_session SET state = 'cancelled', reason = 'cancelled', "
         "updated_at = ?2 WHERE session_id = ?1",
         "cancel a session", 0},
        /* 7, 8: retry */
        {"UPDATE astrocal_file SET state = 'pending', attempts = 0, interrupted = 0, "
         "error = NULL, not_before = NULL, updated_at = ?2 WHERE state = 'failed' "
         "AND (?3 IS NULL OR file_id = ?3) AND (?1 IS NULL OR session_id = ?1)",
         "retry failed files", 0},
        {"UPDATE astrocal_session SET state = 'queued', outcome = NULL, outcome_reason = "
         "NULL, updated_at = ?2 WHERE state = 'done' AND EXISTS (SELECT 1 FROM astrocal_file "
         "AS f WHERE f.session_id = astrocal_session.session_id AND f.state = 'pending')",
         "requeue sessions of retried files", 0},
        /* 9: cancel one file */
        {"UPDATE astrocal_file SET state = 'cancelled', finished_at = ?2, updated_at = ?2 "
         "WHERE file_id = ?3 AND state = 'pending'",
         "cancel a file", 0},
        /* 10, 11: cancel everything not finished */
        {"UPDATE astrocal_file SET state = 'cancelled', finished_at = ?2, updated_at = ?2 "
         "WHERE state = 'pending' AND session_id IN (SELECT session_id FROM astrocal_session "
         "WHERE state IN ('waiting', 'queued', 'paused'))",
         "cancel every pending file", 0},
        {"UPDATE astrocal_session SET state = 'cancelled', reason = 'cancelled', "
         "updated_at = ?2 WHERE state IN ('waiting', 'queued', 'paused')",
         "cancel every session", 0},
    };

    /* The steps of each op: first, count (enqueue: one more first with a priority). */
    static const int range[][2] = {
        [OP_ENQUEUE] = {1, 2},     [OP_PAUSE] = {3, 1}, [OP_RESUME] = {4, 1},
        [OP_CANCEL] = {5, 2},      [OP_RETRY] = {7, 2}, [OP_CANCEL_FILE] = {9, 1},
        [OP_CANCEL_ALL] = {10, 2},
    };

    if (rc == 0) {
        first = range[cx->op][0];
        n = range[cx->op][1];
        if (cx->op == OP_ENQUEUE && cx->priority != NULL)
            first--, n++;
        rc = ac_queue_steps(db, steps + first, n, prm, AC_BIND_N(prm), e);
    }
    if (rc == 0)
        rc = op_history(cx, now, steps[4].changes > 0, e);
    if (rc == 0 && cx->op == OP_CANCEL)
        cx->n = steps[5].changes + s.counts[AC_FILE_RUNNING];
    else if (rc == 0 && cx->op == OP_RETRY)
        cx->n = steps[7].changes;
    else if (rc == 0 && cx->op == OP_CANCEL_FILE) {
        cx->n = 1;
        rc = ac_queue_settle(cx->q, cx->file_id, true, now, &cx->st, e);
    } else if (rc == 0 && cx->op == OP_CANCEL_ALL) {
        int counts[AC_FILE_NSTATES];
        rc = ac_queue_counts(cx->q, NULL, counts, e);
        cx->n = steps[10].changes + counts[AC_FILE_RUNNING];
    }
    if (cx->op == OP_RESUME)
        cx->flag = rc == 0 && steps[4].changes > 0;
    ac_queue_session_clear(&s);
    return rc;
}

static int run_op(struct op_ctx *cx, ac_err_t *e)
{
    int rc;

    AC_DB_OWNER_CHECK(cx->q->db);
    rc = ac_db_transact(cx->q->db, op_txn, cx, e);
    if (rc == 0)
        ac_queue_report(cx->q, &cx->st);
    ac_queue_settled_reset(&cx->st);
    return rc;
}

int ac_queue_enqueue(ac_queue_t *q, const char *session_id, const int *priority, ac_err_t *e)
{
    struct op_ctx cx = {
        .q = q, .op = OP_ENQUEUE, .session_id = session_id, .priority = priority};

    return run_op(&cx, e);
}

int ac_queue_pause(ac_queue_t *q, const char *session_id, const char *reason, ac_err_t *e)
{
    struct op_ctx cx = {.q = q, .op = OP_PAUSE, .session_id = session_id, .reason = reason};

    return run_op(&cx, e);
}

int ac_queue_resume(ac_queue_t *q, const char *session_id, bool *resumed, ac_err_t *e)
{
    struct op_ctx cx = {.q = q, .op = OP_RESUME, .session_id = session_id};
    int rc = run_op(&cx, e);

    if (resumed != NULL)
        *resumed = rc == 0 && cx.flag;
    return rc;
}

int ac_queue_cancel(ac_queue_t *q, const char *session_id, int *n, ac_err_t *e)
{
    struct op_ctx cx = {.q = q, .op = OP_CANCEL, .session_id = session_id};
    int rc = run_op(&cx, e);

    if (n != NULL)
        *n = rc == 0 ? cx.n : 0;
    return rc;
}

int ac_queue_cancel_file(ac_queue_t *q, const char *file_id, bool *running, ac_err_t *e)
{
    struct op_ctx cx = {.q = q, .op = OP_CANCEL_FILE, .file_id = file_id};
    int rc = run_op(&cx, e);

    if (running != NULL)
        *running = rc == 0 && cx.flag;
    return rc;
}

int ac_queue_cancel_all(ac_queue_t *q, int *n, ac_err_t *e)
{
    struct op_ctx cx = {.q = q, .op = OP_CANCEL_ALL};
    int rc = run_op(&cx, e);

    if (n != NULL)
        *n = rc == 0 ? cx.n : 0;
    return rc;
}

int ac_queue_retry(ac_queue_t *q, const char *file_id, const char *session_id, int *changed,
                   ac_err_t *e)
{
    struct op_ctx cx = {.q = q, .op = OP_RETRY, .session_id = session_id, .file_id = file_id};
    int rc = run_op(&cx, e);

    if (changed != NULL)
        *changed = rc == 0 ? cx.n : 0;
    return rc;
}

/* ---- The scheduler's changes ---- */

struct claim_ctx {
    ac_queue_t *q;
    double now;
    const char *only_session;
    ac_qfile_t *out;
    bool found;
};

static int claim_txn(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct claim_ctx *cx = arg;
    char ts[32];
#define CLAIM_SQL(order)                                                                       \
    "UPDATE astrocal_file SET state = 'running', started_at = ?1, finished_at = NULL, "        \
    "updated_at = ?1 WHERE file_id = (SELECT f.file_id FROM astrocal_file AS f "               \
    "JOIN astrocal_session AS s ON s.session_id = f.session_id "                               \
    "WHERE f.state = 'pending' AND s.state = 'queued' "                                        \
    "AND (f.not_before IS NULL OR f.not_before <= ?2) "                                        \
    "AND (?3 IS NULL OR f.session_id = ?3) "                                                   \
    "ORDER BY " AC_QSUSPECT_SQL("f") " DESC, f.crashes, s.priority DESC, "                     \
                                     "s.session_date " order                                   \
                                     ", f.session_id, f.path, f.file_id "                      \
                                     "LIMIT 1) RETURNING " AC_QFILE_COLS

    ac_queue_file_clear(cx->out);
    memset(cx->out, 0, sizeof *cx->out);
    ac_db_timestamp(ts, sizeof ts);
    const ac_bind_t b[] = {AC_BIND_TEXT(ts), AC_BIND_NUMBER(cx->now),
                           AC_BIND_TEXT(cx->only_session)};
    int rc = ac_catalog_select_row(
        db, cx->q->policy.newest_first ? CLAIM_SQL("DESC") : CLAIM_SQL("ASC"), b, AC_BIND_N(b),
        ac_queue_file_cols, AC_QFILE_NCOLS, cx->out, &cx->found, "claim the next file", e);
    if (rc == 0 && cx->found) {
        char msg[32];
        snprintf(msg, sizeof msg, "attempt %d", cx->out->attempts + 1);
        rc = ac_queue_file_event(db, cx->out->file_id, AC_EV_ATTEMPT, msg, ts, e);
    }
    return rc;
#undef CLAIM_SQL
}

int ac_queue_claim(ac_queue_t *q, double now, const char *only_session, ac_qfile_t *out,
                   bool *found, ac_err_t *e)
{
    struct claim_ctx cx = {q, now, only_session, out, false};
    int rc;

    AC_DB_OWNER_CHECK(q->db);
    memset(out, 0, sizeof *out);
    rc = ac_db_transact(q->db, claim_txn, &cx, e);
    *found = rc == 0 && cx.found;
    return rc;
}

bool ac_queue_transient(int code)
{
    return code == AC_EBUSY || ac_queue_full(code) || code == -EIO || code == -EAGAIN ||
           code == -ENOMEM || code == -EINTR || code == -EMFILE || code == -ENFILE;
}

bool ac_queue_full(int code)
{
    return code == -ENOSPC || code == -EDQUOT || code == AC_ENOSPACE;
}

/* One change of a file: which, with its values. */
enum fop { FOP_RELEASE, FOP_DONE, FOP_FAIL, FOP_FINISH, FOP_RECAL };

struct file_ctx {
    ac_queue_t *q;
    enum fop op;
    const char *file_id;
    ac_file_state_t state; /* FOP_FINISH */
    const char *error;
    double seconds, now, not_before;
    int code;                       /* FOP_FAIL */
    const ac_calibrated_rec_t *rec; /* FOP_DONE */
    bool preserve;                  /* FOP_DONE */
    const char *backup;             /* FOP_RECAL */
    bool recal;                     /* FOP_FAIL: the file was being recalibrated */
    char out_id[AC_UUID_LEN + 1];   /* FOP_DONE, out */
    ac_queue_verdict_t v;           /* FOP_FAIL, out */
    ac_qsettled_t st;
};

/* decide applies the retry policy to a failed attempt of a file with `attempts` so far. */
static void decide(const ac_queue_t *q, int code, int attempts, ac_queue_verdict_t *v)
{
    v->full = ac_queue_full(code);
    if (v->full) { /* not the file's fault: no attempt, no back-off (the queue pauses) */
        v->retry = true;
        v->attempts = attempts;
        v->backoff_s = 0;
        return;
    }
    v->attempts = attempts + 1;
    v->retry = ac_queue_transient(code) && v->attempts < q->policy.max_attempts;
    v->backoff_s = 0;
    if (v->retry)
        v->backoff_s =
            fmin((double)q->policy.retry_backoff_s * pow(2.0, (double)attempts), 3600.0);
}

static int file_txn(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct file_ctx *cx = arg;
    char now[32];
    int rc = 0, k;

    ac_db_timestamp(now, sizeof now);
    ac_queue_settled_reset(&cx->st);
    if (cx->op == FOP_DONE)
        rc = ac_catalog_record_calibrated(db, cx->rec, cx->preserve, cx->out_id, e);
    if (cx->op == FOP_RECAL)
        rc = ac_catalog_record_recalibrated(db, cx->rec, cx->out_id, e);
    if (rc == 0 && cx->op == FOP_FAIL) {
        ac_qfile_t f = {0};
        if ((rc = ac_queue_file(cx->q, cx->file_id, &f, e)) != 0)
            return rc;
        decide(cx->q, cx->code, f.attempts, &cx->v);
        cx->recal = f.recal_output != NULL;
        ac_queue_file_clear(&f);
        if (!cx->v.retry)
            cx->state = AC_FILE_FAILED;
        cx->not_before = cx->now + cx->v.backoff_s;
    }
    if (rc != 0)
        return rc;
    const ac_bind_t prm[] = {AC_BIND_TEXT(cx->file_id),
                             AC_BIND_TEXT(ac_queue_file_state_name(cx->state)),
                             AC_BIND_TEXT(cx->error),
                             AC_BIND_NUMBER(cx->seconds),
                             AC_BIND_TEXT(now),
                             AC_BIND_NUMBER(cx->not_before),
                             AC_BIND_TEXT(cx->op == FOP_DONE ? cx->rec->output_path : NULL),
                             AC_BIND_TEXT(cx->out_id),
                             AC_BIND_TEXT(cx->backup)};
    ac_qstep_t s[] = {
        {"UPDATE astrocal_file SET state = 'pending', not_before = ?6, started_at = NULL, "
         "updated_at = ?5 WHERE file_id = ?1 AND state = 'running'",
         "release a file", 0},
        {"UPDATE astrocal_file SET state = 'done', output_path = ?7, output_file_id = ?8, "
         "finished_at = ?5, seconds = COALESCE(?4, seconds), error = NULL, not_before = NULL, "
         "updated_at = ?5 WHERE file_id = ?1",
         "mark the queued file done", 0},
        {"UPDATE astrocal_file SET state = 'pending', attempts = attempts + 1, error = ?3, "
         "not_before = ?6, updated_at = ?5 WHERE file_id = ?1",
         "defer a file", 0},
        {"UPDATE astrocal_file SET state = ?2, error = ?3, seconds = COALESCE(?4, seconds), "
         "finished_at = ?5, updated_at = ?5, not_before = NULL, "
         "attempts = attempts + (?2 = 'failed') WHERE file_id = ?1",
         "finish a file", 0},
        {"UPDATE astrocal_file SET state = 'pending', error = ?3, not_before = NULL, "
         "started_at = NULL, updated_at = ?5 WHERE file_id = ?1",
         "put a file back (disk full)", 0},
        {"UPDATE astrocal_file SET state = 'done', recal_output = NULL, recal_backup = ?9, "
         "finished_at = ?5, seconds = COALESCE(?4, seconds), error = NULL, not_before = NULL, "
         "updated_at = ?5 WHERE file_id = ?1",
         "mark the recalibrated file done", 0},
        {"UPDATE astrocal_file SET state = 'done', recal_output = NULL, attempts = attempts "
         "+ 1, error = 'recalibration failed, the previous calibration is kept: ' || ?3, "
         "finished_at = ?5, not_before = NULL, updated_at = ?5 WHERE file_id = ?1",
         "end a failed recalibration", 0},
    };

    k = cx->op == FOP_FAIL    ? (cx->v.full    ? 4
                                 : cx->v.retry ? 2
                                 : cx->recal   ? 6
                                               : 3)
        : cx->op == FOP_RECAL ? 5
                              : (int)cx->op;
    if ((rc = ac_queue_steps(db, &s[k], 1, prm, AC_BIND_N(prm), e)) != 0)
        return rc;
    if (s[k].changes == 0 && cx->op != FOP_DONE)
        return ac_err_set(e, -ENOENT, "file %s is not in the queue%s", cx->file_id,
                          cx->op == FOP_RELEASE ? " as running" : "");
    if (s[k].changes > 0) {
        /* The history row of this end of an attempt (see event.h for the kinds). */
        static const char *const kind_of_step[] = {
            AC_EV_RELEASED, AC_EV_CALIBRATED,  AC_EV_RETRY, NULL,
            AC_EV_RETRY,    AC_EV_RECALIBRATE, AC_EV_FAILED};
        const char *kind = kind_of_step[k], *msg = NULL;
        if (k == 3)
            kind = cx->state == AC_FILE_FAILED    ? AC_EV_FAILED
                   : cx->state == AC_FILE_SKIPPED ? AC_EV_SKIPPED
                                                  : AC_EV_CANCELLED;
        if (k == 1 || k == 5)
            msg = cx->rec->output_path;
        else if (k == 6)
            msg = "recalibration failed: the previous calibration is kept";
        else if (k == 0)
            msg = "given back without counting an attempt";
        else if (k == 4)
            msg = "disk or catalogue full: tried again when space returns";
        if ((rc = ac_queue_file_event(db, cx->file_id, kind, msg, now, e)) != 0)
            return rc;
    }
    if (k == 1 || k == 3 || k == 5 || k == 6)
        rc = ac_queue_settle(cx->q, cx->file_id, true, now, &cx->st, e);
    return rc;
}

static int run_file(struct file_ctx *cx, ac_err_t *e)
{
    int rc;

    AC_DB_OWNER_CHECK(cx->q->db);
    rc = ac_db_transact(cx->q->db, file_txn, cx, e);
    if (rc == 0)
        ac_queue_report(cx->q, &cx->st);
    ac_queue_settled_reset(&cx->st);
    return rc;
}

int ac_queue_release(ac_queue_t *q, const char *file_id, double not_before, ac_err_t *e)
{
    struct file_ctx cx = {
        .q = q, .op = FOP_RELEASE, .file_id = file_id, .not_before = not_before};

    return run_file(&cx, e);
}

int ac_queue_record_calibrated(ac_queue_t *q, const ac_calibrated_rec_t *rec,
                               bool preserve_original, char out_file_id[AC_UUID_LEN + 1],
                               ac_err_t *e)
{
    struct file_ctx cx = {.q = q, .op = FOP_DONE, .rec = rec, .preserve = preserve_original};
    int rc;

    if (rec == NULL || rec->raw_file_id == NULL || rec->output_path == NULL)
        return ac_err_set(e, -EINVAL, "record: raw file id and output path are required");
    cx.file_id = rec->raw_file_id;
    cx.seconds = rec->t_total;
    rc = run_file(&cx, e);
    if (rc == 0 && out_file_id != NULL)
        memcpy(out_file_id, cx.out_id, sizeof cx.out_id);
    return rc;
}

int ac_queue_record_recalibrated(ac_queue_t *q, const ac_calibrated_rec_t *rec,
                                 const char *backup, ac_err_t *e)
{
    struct file_ctx cx = {.q = q, .op = FOP_RECAL, .rec = rec, .backup = backup};

    if (rec == NULL || rec->raw_file_id == NULL || rec->output_path == NULL)
        return ac_err_set(e, -EINVAL, "record: raw file id and output path are required");
    cx.file_id = rec->raw_file_id;
    cx.seconds = rec->t_total;
    return run_file(&cx, e);
}

int ac_queue_fail(ac_queue_t *q, const char *file_id, int code, const char *error,
                  double seconds, double now, ac_queue_verdict_t *v, ac_err_t *e)
{
    struct file_ctx cx = {.q = q,
                          .op = FOP_FAIL,
                          .file_id = file_id,
                          .state = AC_FILE_PENDING,
                          .error = error,
                          .seconds = seconds,
                          .now = now,
                          .code = code};
    int rc = run_file(&cx, e);

    if (v != NULL)
        *v = cx.v;
    return rc;
}

int ac_queue_finish(ac_queue_t *q, const char *file_id, ac_file_state_t state,
                    const char *error, double seconds, ac_err_t *e)
{
    struct file_ctx cx = {.q = q,
                          .op = FOP_FINISH,
                          .file_id = file_id,
                          .state = state,
                          .error = error,
                          .seconds = seconds};

    if (state != AC_FILE_FAILED && state != AC_FILE_SKIPPED && state != AC_FILE_CANCELLED)
        return ac_err_set(e, -EINVAL,
                          "finish file %s: state %s is not failed, skipped or "
                          "cancelled",
                          file_id, ac_queue_file_state_name(state));
    return run_file(&cx, e);
}
