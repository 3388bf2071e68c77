/*
 * queue_outcome.c - how a queued session ends (queue.h, "Settling" and "Outcome") and the
 * queue's history rows (queue.h, "History"; event.h): shared by the changes in queue.c
 * and the recovery in queue_recover.c through queue_int.h.
 *
 * Thread: loop thread only (the owner of the ac_db_t); ac_queue_outcome and
 * ac_queue_sess_shown are pure.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "log.h"
#include "queue_int.h"
#include "util.h"

const char *ac_queue_outcome(const int counts[AC_FILE_NSTATES], int rejected)
{
    /* AC_QUEUE_REJECTED_HOOK: grading (another feature) will count its rejected lights in
     * `rejected`; they end a session as well as calibrated ones do. */
    int ok = counts[AC_FILE_DONE] + counts[AC_FILE_SKIPPED] + rejected;
    int bad = counts[AC_FILE_FAILED] + counts[AC_FILE_CANCELLED];

    if (bad == 0)
        return "done";
    return ok == 0 ? "failed" : "partial";
}

const char *ac_queue_sess_shown(const ac_qsession_t *s)
{
    if (s->state == AC_SESS_DONE && s->outcome != NULL && s->outcome[0] != '\0')
        return s->outcome;
    return ac_queue_sess_state_name(s->state);
}

void ac_queue_settled_reset(ac_qsettled_t *st)
{
    free(st->session_id);
    free(st->reason);
    memset(st, 0, sizeof *st);
}

/* outcome_reason writes why a session is not simply done: the failed lights with their
 * most common error, and the cancelled ones. */
static int outcome_reason(ac_queue_t *q, ac_qsettled_t *st, ac_err_t *e)
{
    int *c = st->counts, total = 0, nfailed = c[AC_FILE_FAILED];
    char err[600] = "", buf[900];
    size_t len = 0;
    int top = 0, rc;

    for (int i = 0; i < AC_FILE_NSTATES; i++)
        total += c[i];
    if (nfailed > 0) {
        static const ac_row_col_t cols[] = {AC_ROW_VALUE(INT)};
        const ac_bind_t b[] = {AC_BIND_TEXT(st->session_id)};
        bool found = false;
        rc = ac_catalog_select_text(q->db,
                                    "SELECT COALESCE(error, 'no reason recorded') FROM "
                                    "astrocal_file WHERE session_id = ?1 AND state = 'failed' "
                                    "GROUP BY error ORDER BY count(*) DESC, error LIMIT 1",
                                    b, AC_BIND_N(b), err, sizeof err, &found,
                                    "find the most common error", e);
        if (rc == 0)
            rc = ac_catalog_select_row(q->db,
                                       "SELECT count(*) FROM astrocal_file WHERE session_id = "
                                       "?1 AND state = 'failed' GROUP BY error ORDER BY "
                                       "count(*) DESC, error LIMIT 1",
                                       b, AC_BIND_N(b), cols, AC_ROW_N(cols), &top, &found,
                                       "count the most common error", e);
        if (rc != 0)
            return rc;
        len = (size_t)snprintf(buf, sizeof buf, "%d of %d light%s failed, most often (%d): %s",
                               nfailed, total, total == 1 ? "" : "s", top, err);
    }
    if (c[AC_FILE_CANCELLED] > 0 && len < sizeof buf)
        snprintf(buf + len, sizeof buf - len, "%s%d of %d cancelled", len ? "; " : "",
                 c[AC_FILE_CANCELLED], total);
    st->reason = strdup(buf);
    return st->reason == NULL ? ac_err_set(e, -ENOMEM, "out of memory settling a session") : 0;
}

int ac_queue_settle(ac_queue_t *q, const char *key, bool by_file, const char *now,
                    ac_qsettled_t *st, ac_err_t *e)
{
#define SETTLE_SQL(which)                                                                      \
    "UPDATE astrocal_session SET state = 'done', reason = NULL, updated_at = ?2 "              \
    "WHERE state = 'queued' AND session_id = " which " AND NOT EXISTS (SELECT 1 FROM "         \
    "astrocal_file AS f WHERE f.session_id = astrocal_session.session_id AND f.state IN "      \
    "('pending', 'running')) RETURNING session_id"
    sqlite3_stmt *stmt = NULL;
    int rc;

    ac_queue_settled_reset(st);
    rc = ac_db_prepare(q->db,
                       by_file ? SETTLE_SQL("(SELECT session_id FROM astrocal_file "
                                            "WHERE file_id = ?1)")
                               : SETTLE_SQL("?1"),
                       &stmt, e);
    if (rc != 0)
        return rc;
    ac_db_bind_text(stmt, 1, key);
    ac_db_bind_text(stmt, 2, now);
    while ((rc = ac_db_step(q->db, stmt, "mark a session done", e)) == AC_DB_ROW) {
        if (st->session_id == NULL && ac_db_column_dup(stmt, 0, &st->session_id) != 0) {
            rc = ac_err_set(e, -ENOMEM, "out of memory settling a session");
            break;
        }
    }
    ac_db_release(q->db, stmt);
    if (rc < 0 || st->session_id == NULL)
        return rc < 0 ? rc : 0;
#undef SETTLE_SQL
    if ((rc = ac_queue_counts(q, st->session_id, st->counts, e)) != 0)
        return rc;
    st->outcome = ac_queue_outcome(st->counts, st->rejected);
    if (strcmp(st->outcome, "done") != 0 && (rc = outcome_reason(q, st, e)) != 0)
        return rc;
    const int *c = st->counts;
    const ac_bind_t v[] = {AC_BIND_TEXT(st->session_id),    AC_BIND_TEXT(st->outcome),
                           AC_BIND_TEXT(st->reason),        AC_BIND_TEXT(now),
                           AC_BIND_INT(c[AC_FILE_DONE]),    AC_BIND_INT(c[AC_FILE_FAILED]),
                           AC_BIND_INT(c[AC_FILE_SKIPPED]), AC_BIND_INT(c[AC_FILE_CANCELLED]),
                           AC_BIND_INT(st->rejected)};
    ac_qstep_t s[] = {
        {"UPDATE astrocal_session SET outcome = ?2, outcome_reason = ?3 WHERE session_id = ?1",
         "record a session's outcome", 0},
        {"INSERT INTO astrocal_event (at, kind, session_id, message, detail) VALUES (?4, "
         "'" AC_EV_SESSION_DONE "', ?1, COALESCE(?3, ?2), json_object('state', ?2, "
         "'calibrated', ?5, 'failed', ?6, 'skipped', ?7, 'cancelled', ?8, 'rejected', ?9, "
         "'reason', ?3))",
         "record a session's end", 0},
    };
    rc = ac_queue_steps(q->db, s, 2, v, AC_BIND_N(v), e);
    if (rc == 0 && c[AC_FILE_DONE] > 0)
        rc = ac_catalog_session_autocal(q->db, st->session_id, e);
    return rc;
}

void ac_queue_report(ac_queue_t *q, ac_qsettled_t *st)
{
    if (st->session_id != NULL) {
        const int *c = st->counts;
        ac_queue_done_t d = {st->session_id, st->outcome, {0}, st->rejected, st->reason};
        memcpy(d.counts, c, sizeof d.counts);
        if (st->reason == NULL)
            ac_log_info("session %s %s: %d calibrated, %d failed", st->session_id, st->outcome,
                        c[AC_FILE_DONE], c[AC_FILE_FAILED]);
        else
            ac_log_notice("session %s %s: %d calibrated, %d failed (%s)", st->session_id,
                          st->outcome, c[AC_FILE_DONE], c[AC_FILE_FAILED], st->reason);
        if (q->on_done != NULL)
            q->on_done(q->ud, &d);
    }
    ac_queue_settled_reset(st);
}

/* event_exec runs one of the INSERT ... SELECT statements below: ?1 now, ?2 kind, ?3 the
 * row's key (a file id, a session id, or a state), ?4 the message. */
static int event_exec(ac_db_t *db, const char *sql, const char *now, const char *kind,
                      const char *key, const char *message, const char *op, ac_err_t *e)
{
    const ac_bind_t v[] = {AC_BIND_TEXT(now), AC_BIND_TEXT(kind), AC_BIND_TEXT(key),
                           AC_BIND_TEXT(message)};

    return ac_catalog_exec(db, sql, v, AC_BIND_N(v), op, NULL, e);
}

int ac_queue_file_event(ac_db_t *db, const char *file_id, const char *kind, const char *message,
                        const char *now, ac_err_t *e)
{
    return event_exec(db,
                      "INSERT INTO astrocal_event (at, kind, session_id, file_id, message, "
                      "detail) SELECT ?1, ?2, session_id, file_id, COALESCE(?4, error), "
                      "json_object('state', state, 'attempts', attempts, 'path', path, "
                      "'error', error, 'output', output_path, 'output_file_id', "
                      "output_file_id, 'seconds', seconds, 'retry_at', not_before) FROM "
                      "astrocal_file WHERE file_id = ?3",
                      now, kind, file_id, message, "record a file's event", e);
}

int ac_queue_session_event(ac_db_t *db, const char *session_id, const char *kind,
                           const char *message, const char *now, ac_err_t *e)
{
    return event_exec(db,
                      "INSERT INTO astrocal_event (at, kind, session_id, message, detail) "
                      "SELECT ?1, ?2, session_id, COALESCE(?4, reason), json_object('state', "
                      "state, 'priority', priority, 'reason', reason, 'bias', bias_master, "
                      "'dark', dark_master, 'flat', flat_master, 'flatdark', flatdark_master, "
                      "'links', json(links_json)) FROM astrocal_session WHERE session_id = ?3",
                      now, kind, session_id, message, "record a session's event", e);
}

int ac_queue_changed_event(ac_db_t *db, const char *now, const char *state, const char *kind,
                           const char *message, ac_err_t *e)
{
    return event_exec(db,
                      "INSERT INTO astrocal_event (at, kind, session_id, file_id, message, "
                      "detail) SELECT ?1, ?2, session_id, file_id, COALESCE(?4, error), "
                      "json_object('state', state, 'attempts', attempts, 'path', path, "
                      "'error', error) FROM astrocal_file WHERE updated_at = ?1 AND state = ?3 "
                      "ORDER BY path",
                      now, kind, state, message, "record the files an operator changed", e);
}
