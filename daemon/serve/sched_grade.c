/*
 * sched_grade.c - the grading stage (issue 11, docs/grading.md): after calibration, at low
 * priority, each calibrated light is measured (its stars, work/grading.h) on the grader's
 * own idle-class thread (grader.h), its figures written to its header, to astrocal_grade
 * and to AstroFiler's quality columns (catalog_grade.h); once a session's lights are all
 * measured the session is judged (calibration_quality_check) and its averages written, and
 * the QREJECT cards follow the verdicts and the operator's overrides.
 *
 * When: a task starts only when no light is in flight or waiting for its masters, no
 * master build runs, none did for AC_GRADE_QUIET_S (lights arriving one after the other,
 * as an import or a capture registers them, are calibrated without grading in between),
 * and the queue is neither paused nor stopping (ac_sched_grade_kick, at the end of every
 * kick; a timer kicks again when the quiet time ends): calibration always comes first, and a
 * running task (about a second) is the most a newly claimed light competes with, on a thread
 * the kernel runs only when a CPU is otherwise idle. Newest outputs first, while they are in
 * the page cache.
 *
 * Thread: loop thread only.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "grader.h"
#include "log.h"
#include "sched_int.h"
#include "util.h"

static json_t *num_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* judge_if_ready judges session_id when its lights are all measured. */
static void judge_if_ready(ac_sched_t *s, const char *session_id)
{
    ac_grade_rules_t rules;
    ac_err_t e = {0};
    bool ready = false;
    int rejected = 0;

    if (ac_catalog_grade_session_ready(s->db, session_id, &ready, &e) != 0) {
        ac_log_warn("grading: %s", e.msg);
        return;
    }
    if (!ready)
        return;
    ac_config_to_grade_rules(s->cfg, &rules);
    if (ac_catalog_grade_judge(s->db, session_id, s->cfg->calibration_quality_check, &rules,
                               &rejected, &e) != 0) {
        ac_log_warn("grading: judging session %s: %s", session_id, e.msg);
        return;
    }
    if (rejected > 0)
        ac_log_notice("session %s graded: %d light%s rejected (astrocalctl session %s)",
                      session_id, rejected, rejected == 1 ? "" : "s", session_id);
    else
        ac_log_info("session %s graded", session_id);
    ac_sched_emit(s, "session_graded",
                  json_pack("{s:s,s:i,s:b}", "session_id", session_id, "rejected", rejected,
                            "judged", s->cfg->calibration_quality_check));
}

/* A result the catalogue refused for now (busy, full, lost): the file already carries it
 * (header, hash), so it is kept and recorded before any new task starts. */
struct ac_grade_unrecorded {
    ac_grade_task_t t;
    ac_grading_res_t r;
    int rc;
    ac_err_t err;
};

/* record records a task's outcome; returns 0 or the catalogue's error. */
static int record(ac_sched_t *s, const ac_grade_task_t *t, const ac_grading_res_t *r, int rc,
                  const ac_err_t *err, bool first);

static void grade_done(void *ud, const ac_grade_task_t *t, const ac_grading_res_t *r, int rc,
                       const ac_err_t *err)
{
    ac_sched_t *s = ud;
    int wrc = record(s, t, r, rc, err, true);

    if (ac_db_unavailable(wrc) && s->grade_unrecorded == NULL &&
        (s->grade_unrecorded = malloc(sizeof *s->grade_unrecorded)) != NULL)
        *s->grade_unrecorded = (struct ac_grade_unrecorded){*t, *r, rc, *err};
    if (!s->stopping)
        ac_sched_kick(s);
    ac_sched_report_idle(s); /* --drain: the grader was the last one busy */
}

static int record(ac_sched_t *s, const ac_grade_task_t *t, const ac_grading_res_t *r, int rc,
                  const ac_err_t *err, bool first)
{
    ac_err_t e = {0};
    int wrc;

    if (rc != 0) {
        if (first)
            ac_log_warn("grading %s: %s", t->output_path,
                        err->msg[0] ? err->msg : ac_strerror(rc));
        wrc = ac_catalog_grade_failed(s->db, t, err->msg[0] ? err->msg : ac_strerror(rc), &e);
        ac_sched_emit(s, "file_graded",
                      json_pack("{s:s,s:s,s:s}", "file_id", t->file_id, "output_path",
                                t->output_path, "error", err->msg));
    } else if (t->kind == AC_GRADE_TASK_MEASURE) {
        const ac_grade_fig_t *f = &r->fig;
        wrc = ac_catalog_grade_measured(s->db, t, f, r->fwhm_arcsec, r->hfr_arcsec, r->sha256,
                                        r->t_total, &e);
        ac_log_info("%s: FWHM %.2f px, HFR %.2f px, eccentricity %.2f, %d stars, SNR %.0f "
                    "(%.2f s, %.2f s CPU)",
                    t->output_path, f->fwhm, f->hfr, f->ecc, f->stars, f->snr, r->t_total,
                    r->t_cpu);
        ac_sched_emit(s, "file_graded",
                      json_pack("{s:s,s:s,s:o,s:o,s:o,s:i,s:o,s:o,s:o}", "file_id", t->file_id,
                                "output_path", t->output_path, "fwhm", num_or_null(f->fwhm),
                                "hfr", num_or_null(f->hfr), "eccentricity", num_or_null(f->ecc),
                                "stars", f->stars, "snr", num_or_null(f->snr), "fwhm_arcsec",
                                num_or_null(r->fwhm_arcsec), "seconds",
                                num_or_null(r->t_total)));
    } else {
        wrc = ac_catalog_grade_marked(s->db, t, t->reject ? t->reasons : NULL, r->sha256, &e);
        if (t->reject)
            ac_log_notice("%s rejected: %s", t->output_path, t->reasons);
        ac_sched_emit(s, "file_verdict",
                      json_pack("{s:s,s:s,s:s,s:o}", "file_id", t->file_id, "output_path",
                                t->output_path, "verdict", t->reject ? "rejected" : "accepted",
                                "reasons", t->reject ? json_string(t->reasons) : json_null()));
    }
    if (wrc != 0)
        ac_log_warn("grading %s: not recorded%s: %s", t->output_path,
                    ac_db_unavailable(wrc) ? " yet (kept, recorded once the catalogue is back)"
                                           : "",
                    e.msg);
    else if (t->kind == AC_GRADE_TASK_MEASURE)
        judge_if_ready(s, t->session_id);
    return wrc;
}

int ac_sched_grade_init(ac_sched_t *s, ac_err_t *e)
{
    return ac_grader_new(s->loop, grade_done, s, &s->grader, e);
}

void ac_sched_grade_close(ac_sched_t *s)
{
    struct ac_grade_unrecorded *u = s->grade_unrecorded;

    ac_grader_close(s->grader);
    s->grader = NULL;
    /* A last try; a result still refused is lost: the next start measures the light again,
     * and since its header (and hash) already changed, its grade then says the file changed
     * since it was calibrated (docs/grading.md). */
    if (u != NULL && ac_db_state(s->db) == AC_DB_OK)
        record(s, &u->t, &u->r, u->rc, &u->err, false);
    free(u);
    s->grade_unrecorded = NULL;
}

bool ac_sched_grade_busy(const ac_sched_t *s)
{
    return ac_grader_busy(s->grader);
}

static void grade_timer_cb(uv_timer_t *t)
{
    ac_sched_t *s = t->data;

    if (!s->stopping)
        ac_sched_kick(s);
}

void ac_sched_grade_kick(ac_sched_t *s)
{
    ac_grade_task_t t;
    ac_err_t e = {0};
    double now = ac_sched_mono_now();
    bool found = false;

    if (s->jobs != NULL || s->build != NULL || s->mc->loading > 0)
        s->grade_busy_at = now;
    if (s->grader == NULL || !s->cfg->grading || ac_grader_busy(s->grader) || s->stopping ||
        s->paused_user || s->jobs != NULL || s->build != NULL || s->mc->loading > 0 ||
        s->full.active || ac_db_state(s->db) != AC_DB_OK)
        return;
    if (s->grade_busy_at > 0 && now < s->grade_busy_at + AC_GRADE_QUIET_S) {
        uv_timer_start(&s->grade_timer, grade_timer_cb,
                       (uint64_t)((s->grade_busy_at + AC_GRADE_QUIET_S - now) * 1000) + 10, 0);
        return;
    }
    if (s->grade_unrecorded != NULL) {
        struct ac_grade_unrecorded *u = s->grade_unrecorded;
        if (ac_db_unavailable(record(s, &u->t, &u->r, u->rc, &u->err, false)))
            return; /* the next kick tries again */
        s->grade_unrecorded = NULL;
        free(u);
    }
    if (ac_catalog_grade_next(s->db, &t, &found, &e) != 0) {
        ac_log_debug("grading: %s", e.msg);
        return;
    }
    if (!found)
        return;
    if (ac_grader_submit(s->grader, &t, &e) != 0)
        ac_log_warn("%s", e.msg);
}

int ac_sched_grade_override(ac_sched_t *s, const char *file, const char *verdict, char *session,
                            ac_err_t *e)
{
    int rc = ac_catalog_grade_override(s->db, file, verdict, session, e);

    if (rc != 0)
        return rc;
    judge_if_ready(s, session); /* the session's averages leave rejected lights out */
    ac_sched_kick(s);
    return 0;
}

int ac_sched_grade_again(ac_sched_t *s, const char *session_id, bool failed_only, int *n,
                         ac_err_t *e)
{
    int rc = ac_catalog_grade_forget(s->db, session_id, failed_only, n, e);

    if (rc == 0)
        ac_sched_kick(s);
    return rc;
}
