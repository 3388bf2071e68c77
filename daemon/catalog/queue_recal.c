/*
 * queue_recal.c - the queue's side of recalibration (queue.h, "Recalibration"): a done
 * session's files back to pending with the output they replace, the backups of old
 * outputs, and the list recovery works from. Recording a recalibrated file is
 * ac_queue_record_recalibrated (queue.c), with the other ends of a file.
 *
 * Thread: loop thread only (checked).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "event.h"
#include "queue_int.h"

struct recal_ctx {
    ac_queue_t *q;
    const char *session_id;
    int n;
};

static int recal_txn(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct recal_ctx *cx = arg;
    ac_qsession_t s = {0};
    char now[32];
    int rc;

    if ((rc = ac_queue_session(cx->q, cx->session_id, &s, e)) != 0)
        return rc;
    if (s.state != AC_SESS_DONE) {
        rc = ac_err_set(e, -EEXIST,
                        "session '%s' is %s: only a done session is recalibrated (a session "
                        "still running uses a new pin for the files it has not started)",
                        cx->session_id, ac_queue_sess_state_name(s.state));
        ac_queue_session_clear(&s);
        return rc;
    }
    ac_queue_session_clear(&s);
    ac_db_timestamp(now, sizeof now);
    const ac_bind_t b[] = {AC_BIND_TEXT(cx->session_id), AC_BIND_TEXT(now)};
    ac_qstep_t st[] = {
        {"UPDATE astrocal_file SET state = 'pending', recal_output = output_path, attempts = "
         "0, interrupted = 0, error = NULL, not_before = NULL, started_at = NULL, updated_at = "
         "?2 WHERE session_id = ?1 AND state = 'done' AND output_path IS NOT NULL AND "
         "recal_output IS NULL", /* not one a cluster's import is swapping in now */
         "queue the files of a session for recalibration", 0},
        {"UPDATE astrocal_session SET state = 'queued', reason = NULL, updated_at = ?2 WHERE "
         "session_id = ?1",
         "queue a session for recalibration", 0},
    };
    if ((rc = ac_queue_steps(db, st, 1, b, AC_BIND_N(b), e)) != 0)
        return rc;
    if (st[0].changes == 0)
        return ac_err_set(e, -EEXIST, "session '%s' has no calibrated file to recalibrate",
                          cx->session_id);
    cx->n = st[0].changes;
    if ((rc = ac_queue_steps(db, st + 1, 1, b, AC_BIND_N(b), e)) != 0)
        return rc;
    {
        char msg[96];
        snprintf(msg, sizeof msg, "recalibration requested: %d file%s", cx->n,
                 cx->n == 1 ? "" : "s");
        return ac_event_add_msg(db, cx->session_id, NULL, AC_EV_RECALIBRATE, msg, NULL, NULL,
                                e);
    }
}

int ac_queue_recalibrate(ac_queue_t *q, const char *session_id, int *n, ac_err_t *e)
{
    struct recal_ctx cx = {q, session_id, 0};
    int rc;

    AC_DB_OWNER_CHECK(q->db);
    if (session_id == NULL)
        return ac_err_set(e, -EINVAL, "recalibrate: no session");
    rc = ac_db_transact(q->db, recal_txn, &cx, e);
    if (n != NULL)
        *n = rc == 0 ? cx.n : 0;
    return rc;
}

int ac_queue_recal_backup_gone(ac_queue_t *q, const char *file_id, ac_err_t *e)
{
    const ac_bind_t b[] = {AC_BIND_TEXT(file_id)};

    AC_DB_OWNER_CHECK(q->db);
    return ac_catalog_exec_txn(
        q->db, "UPDATE astrocal_file SET recal_backup = NULL WHERE file_id = ?1", b, 1,
        "forget a removed old output", NULL, e);
}

int ac_queue_recal_files(ac_queue_t *q, ac_qfile_list_t *out, ac_err_t *e)
{
    AC_DB_OWNER_CHECK(q->db);
    memset(out, 0, sizeof *out);
    return AC_CATALOG_SELECT_ROWS(q->db,
                                  "SELECT " AC_QFILE_COLS " FROM astrocal_file WHERE "
                                  "recal_output IS NOT NULL OR recal_backup IS NOT NULL ORDER "
                                  "BY path",
                                  NULL, 0, ac_queue_file_cols, out,
                                  "list the files being recalibrated", e);
}

int ac_queue_calibrated_with(ac_queue_t *q, const char *master_path, ac_qfile_list_t *out,
                             ac_err_t *e)
{
    const ac_bind_t b[] = {AC_BIND_TEXT(master_path)};

    AC_DB_OWNER_CHECK(q->db);
    memset(out, 0, sizeof *out);
    return AC_CATALOG_SELECT_ROWS(
        q->db,
        "SELECT " AC_QFILE_COLS " FROM astrocal_file WHERE state = 'done' AND output_path IS "
        "NOT NULL AND recal_output IS NULL AND file_id IN (SELECT file_id FROM "
        "astrocal_record WHERE ?1 IN (bias_path, dark_path, flat_path, flatdark_path)) AND "
        "file_id NOT IN (SELECT file_id FROM astrocal_handout) ORDER BY session_id, path",
        b, AC_BIND_N(b), ac_queue_file_cols, out, "list the lights calibrated with a master",
        e);
}

int ac_queue_recal_mark(ac_queue_t *q, const char *file_id, const char *output, bool on,
                        ac_err_t *e)
{
    const ac_bind_t b[] = {AC_BIND_TEXT(file_id), AC_BIND_TEXT(output), AC_BIND_INT(on)};
    int changes = 0, rc;

    AC_DB_OWNER_CHECK(q->db);
    rc = ac_catalog_exec_txn(q->db,
                             "UPDATE astrocal_file SET recal_output = CASE WHEN ?3 THEN "
                             "output_path END WHERE file_id = ?1 AND state = 'done' AND "
                             "output_path = ?2 AND (NOT ?3 OR recal_output IS NULL)",
                             b, AC_BIND_N(b), "mark an output being replaced", &changes, e);
    if (rc == 0 && changes != 1)
        rc = ac_err_set(e, -ENOENT,
                        on ? "file %s is not done with the output %s, or an earlier import "
                             "is replacing it (a restart of astrocald ends that)"
                           : "file %s is not done with the output %s",
                        file_id, output);
    return rc;
}
