/*
 * sched_recal.c - running a recalibration (queue.h "Recalibration", recalfile.h): the
 * job writes the new output under a staged name beside the old one, swaps it in under
 * the old name keeping the old file as a backup, the catalogue is updated in one
 * transaction, and only then is the backup removed. Recovery at start-up
 * (ac_sched_recal_recover) puts back the old output of every file whose new one was not
 * recorded and removes the backups of those that were, so that after a crash at any
 * moment each light has its old calibration (file and rows) or its new one.
 *
 * Thread: loop thread, except ac_sched_recal_work (the job's pool thread, its job only).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "recalfile.h"
#include "sched_int.h"
#include "util.h"

void ac_sched_recal_submit(ac_job_t *job)
{
    char backup[4096];
    size_t n = strlen(job->recal_output);

    ac_recalfile_names(job->recal_output, job->eng.out_path, backup, sizeof backup);
    /* The new output is stored as the old one was (a .fz stays compressed). */
    job->eng.out.compress = n > 3 && strcmp(job->recal_output + n - 3, ".fz") == 0;
}

void ac_sched_recal_work(ac_job_t *job)
{
    ac_err_t e = {0};
    bool restored = false;

    /* An earlier attempt that was not recorded may have swapped already: old back first. */
    if (ac_recalfile_restore(job->recal_output, &restored, &e) != 0) {
        job->res.status = e.code;
        job->res.err = e;
        return;
    }
    ac_engine_calibrate_light(&job->set->cs, job->path, &job->eng, job->wb, &job->ctl,
                              &job->res);
    if (job->res.status != 0)
        return;
    ac_strlcpy(job->sha256, job->res.sha256, sizeof job->sha256);
    if (job->sha256[0] == '\0') { /* the engine always hashes in the daemon */
        job->res.status = ac_err_set(&job->res.err, -EINVAL, "%s: no hash of the new output",
                                     job->eng.out_path);
        return;
    }
    if (ac_recalfile_swap(job->recal_output, &job->kept_backup, &e) != 0) {
        job->res.status = e.code;
        job->res.err = e;
        return;
    }
    ac_strlcpy(job->res.out_path, job->recal_output, sizeof job->res.out_path);
}

/* The removal of a backup once the new output is recorded (loop thread; the unlink runs
 * on the pool). */
struct backup_rm {
    uv_work_t req;
    ac_sched_t *s;
    char file_id[64], final[4096];
    int rc;
    ac_err_t e;
};

static void backup_rm_work(uv_work_t *req)
{
    struct backup_rm *b = req->data;

    b->rc = ac_recalfile_remove(b->final, &b->e);
}

static void backup_rm_after(uv_work_t *req, int status)
{
    struct backup_rm *b = req->data;
    ac_err_t e = {0};

    (void)status;
    if (b->rc != 0)
        ac_log_warn("%s (removed at the next start)", b->e.msg);
    else if (ac_queue_recal_backup_gone(b->s->queue, b->file_id, &e) != 0)
        ac_log_warn("%s", e.msg); /* the next start removes it again: harmless */
    free(b);
}

void ac_sched_recal_drop_backup(ac_sched_t *s, const char *file_id, const char *final)
{
    struct backup_rm *b = calloc(1, sizeof *b);

    ac_log_info("%s recalibrated in place (the previous output is removed)", final);
    if (b == NULL)
        return; /* removed at the next start */
    b->s = s;
    b->req.data = b;
    ac_strlcpy(b->file_id, file_id, sizeof b->file_id);
    ac_strlcpy(b->final, final, sizeof b->final);
    if (uv_queue_work(s->loop, &b->req, backup_rm_work, backup_rm_after) != 0)
        free(b);
}

int ac_sched_recal_record(ac_sched_t *s, ac_job_t *job, const ac_calibrated_rec_t *rec,
                          ac_err_t *e)
{
    char staged[4096], backup[4096];
    int rc;

    ac_recalfile_names(job->recal_output, staged, backup, sizeof staged);
    rc = ac_queue_record_recalibrated(s->queue, rec, job->kept_backup ? backup : NULL, e);
    if (rc == 0 && job->kept_backup)
        ac_sched_recal_drop_backup(s, job->file_id, job->recal_output);
    return rc;
}

int ac_sched_recal_recover(ac_queue_t *q, int *restored, int *removed, ac_err_t *e)
{
    ac_qfile_list_t fl = {0};
    int rc;

    *restored = *removed = 0;
    if ((rc = ac_queue_recal_files(q, &fl, e)) != 0)
        return rc;
    for (size_t i = 0; i < fl.n; i++) {
        const ac_qfile_t *f = &fl.items[i];
        ac_err_t fe = {0};
        bool back = false;

        if (f->recal_output != NULL) { /* not recorded: the old output stays */
            if (ac_recalfile_restore(f->recal_output, &back, &fe) != 0)
                ac_log_err("recalibration of %s: %s", f->path, fe.msg);
            *restored += back;
        }
        if (f->recal_backup != NULL) { /* recorded: the old output goes */
            const char *final = f->output_path != NULL ? f->output_path : "";
            if (ac_recalfile_remove(final, &fe) == 0 &&
                ac_queue_recal_backup_gone(q, f->file_id, &fe) == 0)
                (*removed)++;
            else
                ac_log_warn("recalibration of %s: %s", f->path, fe.msg);
        }
    }
    ac_queue_files_free(&fl);
    return 0;
}

/* ---- the operator's requests ---- */

int ac_sched_use(ac_sched_t *s, const ac_planner_use_t *u, bool unpin, json_t **out,
                 ac_err_t *e)
{
    ac_err_t pe = {0};
    json_t *pins = NULL;
    int rc, n = 0;

    *out = NULL;
    if (unpin)
        rc = ac_planner_unpin(s->planner, u->session_id, &n, e);
    else
        rc = ac_planner_use(s->planner, u, &pins, e);
    if (rc != 0)
        return rc;
    /* Planned again at once: the files not started yet use the new choice. */
    rc = ac_planner_replan_session(s->planner, u->session_id, &pe);
    if (rc != 0 && rc != -ENOENT)
        ac_log_warn("planning session %s after its masters changed: %s", u->session_id, pe.msg);
    if (rc == -ENOENT) { /* a recalibration under way is planned by the next pass */
        ac_planner_request(s->planner, true);
        ac_sched_plan_soon(s);
    }
    ac_sched_kick(s);
    *out = json_pack("{s:s,s:o,s:i}", "session", u->session_id, "pinned",
                     pins != NULL ? pins : json_array(), "removed", n);
    ac_sched_emit(s, "session_masters",
                  json_pack("{s:s,s:s}", "session_id", u->session_id, "change",
                            unpin ? "automatic" : "pinned"));
    return 0;
}

int ac_sched_recalibrate(ac_sched_t *s, const ac_planner_use_t *u, json_t **out, ac_err_t *e)
{
    json_t *pins = NULL;
    bool ready = false;
    int rc, n = 0;

    *out = NULL;
    if (u->spec[0] != NULL || u->spec[1] != NULL || u->spec[2] != NULL) {
        ac_qsession_t qs = {0};
        /* Refuse before pinning anything when the session cannot be recalibrated. */
        if ((rc = ac_queue_session(s->queue, u->session_id, &qs, e)) != 0)
            return rc;
        rc = qs.state == AC_SESS_DONE
                 ? 0
                 : ac_err_set(e, -EEXIST,
                              "session '%s' is %s: only a done session is "
                              "recalibrated",
                              u->session_id, ac_queue_sess_state_name(qs.state));
        ac_queue_session_clear(&qs);
        if (rc == 0)
            rc = ac_planner_use(s->planner, u, &pins, e);
        if (rc != 0)
            return rc;
    }
    if ((rc = ac_queue_recalibrate(s->queue, u->session_id, &n, e)) != 0) {
        json_decref(pins);
        return rc;
    }
    ac_log_notice("session %s: recalibrating %d file%s", u->session_id, n, n == 1 ? "" : "s");
    if ((rc = ac_planner_plan_recal(s->planner, u->session_id, &ready, e)) != 0)
        ac_log_warn("planning the recalibration of session %s: %s (planned again later)",
                    u->session_id, e->msg);
    ac_err_clear(e);
    ac_sched_kick(s);
    *out = json_pack("{s:s,s:i,s:b,s:o}", "session", u->session_id, "files", n, "ready", ready,
                     "pinned", pins != NULL ? pins : json_array());
    ac_sched_emit(s, "session_recalibrate",
                  json_pack("{s:s,s:i}", "session_id", u->session_id, "files", n));
    return 0;
}
