/*
 * queue_recover.c - the light queue after the daemon died (queue.h, "Crashes"): files that
 * were running go back to pending without an attempt, deaths are blamed only on a file a
 * crash handler named or that was being calibrated alone, and suspects are counted for
 * the scheduler.
 *
 * Thread: loop thread only (checked).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "event.h"
#include "queue_int.h"

static const char *signal_name(int sig, char *buf, size_t size)
{
    static const struct {
        int sig;
        const char *name;
    } names[] = {{SIGSEGV, "SIGSEGV"}, {SIGBUS, "SIGBUS"}, {SIGFPE, "SIGFPE"},
                 {SIGABRT, "SIGABRT"}, {SIGILL, "SIGILL"}, {SIGKILL, "SIGKILL"},
                 {SIGTERM, "SIGTERM"}, {SIGSYS, "SIGSYS"}, {SIGTRAP, "SIGTRAP"}};

    if (sig <= 0)
        return NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].sig == sig)
            return names[i].name;
    snprintf(buf, size, "signal %d", sig);
    return buf;
}

struct recover_ctx {
    ac_queue_t *q;
    const ac_queue_crash_t *crash;
    ac_queue_recovery_t *out;
};

static int count(ac_db_t *db, const char *sql, int *n, ac_err_t *e)
{
    sqlite3_stmt *st = NULL;
    int rc = ac_db_prepare(db, sql, &st, e);

    *n = 0;
    if (rc != 0)
        return rc;
    rc = ac_db_step(db, st, "count running work", e);
    if (rc == AC_DB_ROW)
        *n = sqlite3_column_int(st, 0);
    ac_db_release(db, st);
    return rc < 0 ? rc : 0;
}

static int recover_txn(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct recover_ctx *cx = arg;
    ac_queue_recovery_t *out = cx->out;
    const char *culprit = cx->crash != NULL ? cx->crash->culprit : NULL;
    const char *alone = cx->crash != NULL ? cx->crash->alone : NULL;
    char now[32], sigbuf[32];
    int rc;

    ac_queue_files_free(&out->interrupted);
    memset(out, 0, sizeof *out);
    ac_db_timestamp(now, sizeof now);
    if ((rc = ac_queue_files_in_state(cx->q, AC_FILE_RUNNING, &out->interrupted, e)) != 0)
        return rc;
    if (culprit != NULL && culprit[0] == '\0')
        culprit = NULL;
    if (alone != NULL && alone[0] == '\0')
        alone = NULL;
    for (size_t i = 0; i < out->interrupted.n; i++) {
        const ac_qfile_t *f = &out->interrupted.items[i];
        if (culprit != NULL
                ? strcmp(f->file_id, culprit) == 0
                : alone != NULL && strcmp(f->file_id, alone) == 0 && f->interrupted >= 1)
            out->blamed++;
    }
    const ac_bind_t prm[] = {
        AC_BIND_TEXT(culprit), AC_BIND_TEXT(alone),
        AC_BIND_INT(cx->q->policy.crash_limit < 1 ? 1 : cx->q->policy.crash_limit),
        AC_BIND_TEXT(
            signal_name(cx->crash != NULL ? cx->crash->signal : 0, sigbuf, sizeof sigbuf)),
        AC_BIND_TEXT(now)};
    ac_qstep_t s[] = {
        /* Every expression sees the row as it was (SQLite evaluates SET on the old row). */
        {"UPDATE astrocal_file SET "
         "interrupted = interrupted + (?1 IS NULL OR file_id = ?1), "
         "crashes = crashes + (file_id IS ?1 OR (?1 IS NULL AND file_id IS ?2 AND "
         "interrupted >= 1)) WHERE state = 'running'",
         "count the interruptions", 0},
        {"UPDATE astrocal_file SET state = 'failed', finished_at = ?5, updated_at = ?5, "
         "not_before = NULL, error = CASE WHEN ?4 IS NULL THEN 'crashes the daemon (' || "
         "crashes || ' deaths while it ran alone; signal unknown)' ELSE "
         "'crashes the daemon (' || ?4 || '; ' || crashes || ' crashes)' END "
         "WHERE state = 'running' AND crashes >= ?3",
         "fail files that crash the daemon", 0},
        {"UPDATE astrocal_file SET state = 'pending', started_at = NULL, not_before = NULL, "
         "updated_at = ?5 WHERE state = 'running'",
         "requeue interrupted files", 0},
    };

    if ((rc = ac_queue_steps(db, s, 3, prm, AC_BIND_N(prm), e)) != 0)
        return rc;
    rc = ac_queue_changed_event(db, now, "failed", AC_EV_FAILED, NULL, e);
    if (rc == 0)
        rc = ac_queue_changed_event(db, now, "pending", AC_EV_INTERRUPTED,
                                    "running when the daemon stopped: queued again", e);
    if (rc != 0)
        return rc;
    out->failed = s[1].changes;
    out->requeued = s[2].changes;
    return 0;
}

int ac_queue_recover(ac_queue_t *q, const ac_queue_crash_t *crash, ac_queue_recovery_t *out,
                     ac_err_t *e)
{
    ac_queue_recovery_t local = {0};
    struct recover_ctx cx = {q, crash, out != NULL ? out : &local};
    int rc;

    AC_DB_OWNER_CHECK(q->db);
    memset(cx.out, 0, sizeof *cx.out);
    rc = ac_db_transact(q->db, recover_txn, &cx, e);
    if (rc != 0 || out == NULL)
        ac_queue_recovery_clear(cx.out);
    return rc;
}

void ac_queue_recovery_clear(ac_queue_recovery_t *r)
{
    if (r == NULL)
        return;
    ac_queue_files_free(&r->interrupted);
    memset(r, 0, sizeof *r);
}

int ac_queue_suspects(ac_queue_t *q, int *n, ac_err_t *e)
{
    AC_DB_OWNER_CHECK(q->db);
    return count(q->db,
                 "SELECT count(*) FROM astrocal_file AS f JOIN astrocal_session AS s ON "
                 "s.session_id = f.session_id WHERE " AC_QSUSPECT_SQL(
                     "f") " AND (f.state = "
                          "'running' OR (f.state = 'pending' AND s.state = 'queued'))",
                 n, e);
}
