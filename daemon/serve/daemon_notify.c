/*
 * daemon_notify.c - the facts of a settled session or a failure, for the [NOTIFY]
 * programs (notify.h): read from the queue, the plan and the catalogue on the loop thread
 * (each read tries briefly, never waits; what cannot be read is left out of the facts).
 *
 * Thread: loop thread only.
 */
#include <math.h>
#include <string.h>

#include "catalog_grade.h"
#include "daemon.h"
#include "log.h"
#include "util.h"

void ac_daemon_notify_session(ac_daemon_t *d, const ac_queue_done_t *dn)
{
    const char *session_id = dn->session_id;
    const ac_plan_t *p = ac_planner_find(&d->planner, session_id);
    ac_qfile_list_t fl = {0};
    ac_catalog_file_t cf = {0};
    ac_notify_facts_t f;
    char outdir[4096] = "";
    ac_err_t e = {0};

    if (d->cfg.on_session_done[0] == '\0')
        return;
    ac_notify_facts_init(&f);
    f.event = "session_done";
    f.session_id = session_id;
    f.state = dn->state; /* done, partial or failed */
    f.reason = dn->reason;
    f.calibrated = dn->counts[AC_FILE_DONE];
    f.failed = dn->counts[AC_FILE_FAILED];
    f.cancelled = dn->counts[AC_FILE_CANCELLED];
    f.total = 0;
    for (int i = 0; i < AC_FILE_NSTATES; i++)
        f.total += dn->counts[i];
    if (ac_queue_files(&d->queue, session_id, &fl, &e) == 0) {
        for (size_t i = 0; i < fl.n && outdir[0] == '\0'; i++)
            if (fl.items[i].output_path != NULL)
                ac_path_dir(fl.items[i].output_path, outdir, sizeof outdir);
        if (outdir[0] != '\0')
            f.output_dir = outdir;
    }
    if (p != NULL && p->object[0] != '\0')
        f.object = p->object;
    else if (fl.n > 0 && ac_catalog_file_get(d->db, fl.items[0].file_id, &cf, &e) == 0)
        f.object = cf.object;
    /* The median FWHM when grading measured the session's lights already (grading runs at
     * low priority after calibration: often not yet when the session settles). */
    {
        ac_grade_rows_t gr = {0};
        ac_grade_summary_t sum;
        if (ac_catalog_grade_rows(d->db, session_id, &gr, &e) == 0 && gr.n > 0) {
            ac_grade_summarise(&gr, &sum);
            if (sum.measured > 0)
                f.fwhm_median = sum.median.fwhm;
        }
        ac_catalog_grade_rows_free(&gr);
    }
    ac_notify_session_done(&d->notify, &f);
    ac_catalog_file_clear(&cf);
    ac_queue_files_free(&fl);
}

void ac_daemon_notify_failure(void *ud, const char *what, const char *session_id,
                              const char *file_id, const char *path, const char *reason)
{
    ac_daemon_t *d = ud;
    ac_notify_facts_t f;
    bool file = strcmp(what, "file") == 0;

    ac_notify_facts_init(&f);
    f.event = file ? "file_failed" : "master_failed";
    f.state = "failed";
    f.session_id = session_id;
    f.file_id = file_id;
    f.path = path;
    f.reason = reason;
    f.kind = file ? NULL : what;
    ac_notify_failure(&d->notify, &f);
}
