/*
 * sched_build.c - master builds as scheduler jobs: the second kind of work on the pool.
 *
 * A build is claimed from astrocal_build (prerequisites first: bias, flat-dark, dark,
 * flat), prepared on the loop thread (ac_build_prepare: frames, prerequisite masters,
 * output name), run on a pool thread (ac_build_run: read the subs in strips, combine,
 * write the master atomically and durably) and recorded on the loop thread in one
 * transaction (ac_build_record: the Masters row, the master creation event, and the build
 * row done; or rejected / failed / deferred). A registered master forgets cached load
 * failures and triggers a full planning pass, which releases the light sessions waiting
 * for it. A crash in the middle leaves the row running: start-up puts it back to pending
 * and the build runs again into the same file name (exactly one Masters row).
 *
 * At most one build runs at a time: a build holds job_memory_mib x 4 (every sub's strip),
 * which the master cache's budget leaves room for (daemon.c cache_budget).
 *
 * Thread: loop thread, except build_work, which touches only its job.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buildplan.h"
#include "daemon.h"
#include "ingest.h"
#include "log.h"
#include "stack.h"
#include "util.h"

struct ac_build_job {
    uv_work_t req;
    ac_daemon_t *d;
    ac_build_spec_t spec;
    ac_build_result_t res;
    atomic_int cancel;
    uint64_t started_ns;
};

static double unix_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void ac_daemon_build_opts(const ac_daemon_t *d, ac_build_opts_t *o)
{
    static const int methods[] = {AC_STACK_SIGMA_CLIP, AC_STACK_WINSOR, AC_STACK_MEDIAN,
                                  AC_STACK_MEAN};

    ac_build_opts_default(o);
    if (d->cfg.masters_dir[0] != '\0')
        ac_strlcpy(o->masters_dir, d->cfg.masters_dir, sizeof o->masters_dir);
    else if (d->cfg.repository_dir[0] != '\0')
        snprintf(o->masters_dir, sizeof o->masters_dir, "%s/Masters", d->cfg.repository_dir);
    else
        snprintf(o->masters_dir, sizeof o->masters_dir, "%s/Masters", d->cfg.state_dir);
    o->min_files = d->cfg.min_files_per_master;
    o->settle_s = d->cfg.build_settle_s;
    o->combine = methods[d->cfg.combine >= 0 && d->cfg.combine < 4 ? d->cfg.combine : 0];
    o->kappa_low = d->cfg.kappa_low;
    o->kappa_high = d->cfg.kappa_high;
    o->iterations = d->cfg.iterations;
    o->dark_subtract_bias = d->cfg.dark_subtract_bias;
    o->max_hot_fraction = d->cfg.max_hot_fraction;
    o->min_flat_level = d->cfg.min_flat_level;
    o->max_flat_level = d->cfg.max_flat_level;
    o->exp_tol_s = d->cfg.exposure_tolerance_s;
    o->exp_tol_pct = d->cfg.exposure_tolerance_pct;
    o->job_memory = (size_t)d->cfg.job_memory_mib * 4u * 1048576u;
    o->out.durable = true;
}

static void build_timer_cb(uv_timer_t *t)
{
    ac_daemon_t *d = t->data;

    ac_daemon_request_replan(d, false);
    ac_daemon_kick_planner(d);
}

int ac_sched_scan_builds(ac_daemon_t *d, ac_err_t *e)
{
    ac_build_opts_t o;
    int queued = 0, rc;

    if (!d->cfg.build_masters)
        return 0;
    if (d->ingest != NULL) {
        /* Frames still settling or being read: their series is not complete yet. */
        ac_ingest_status_t is;
        ac_ingest_status(d->ingest, &is);
        if (is.pending > 0 || is.scanning || is.in_flight > 0) {
            if (!d->stopping)
                uv_timer_start(&d->build_timer, build_timer_cb, 2000, 0);
            return 0;
        }
    }
    ac_daemon_build_opts(d, &o);
    rc = ac_build_scan(d->db, &o, &queued, e);
    if (rc == 0 && queued > 0)
        ac_log_info("%d master build%s queued", queued, queued == 1 ? "" : "s");
    /* A calibration session still receiving frames: look again when it has settled. */
    if (rc == 0 && o.retry_in_s > 0 && !d->stopping)
        uv_timer_start(&d->build_timer, build_timer_cb, (uint64_t)(o.retry_in_s * 1000.0) + 100,
                       0);
    return rc;
}

static void build_work(uv_work_t *req)
{
    struct ac_build_job *j = req->data;

    ac_build_run(&j->spec, &j->res, &j->cancel);
}

static void build_done(uv_work_t *req, int status)
{
    struct ac_build_job *j = req->data;
    ac_daemon_t *d = j->d;
    ac_err_t e = {0};
    int what = -1;

    d->inflight--;
    d->build = NULL;
    if (status == UV_ECANCELED && j->res.status == AC_BUILT) {
        j->res.status = AC_BUILD_ERROR;
        ac_err_set(&j->res.err, AC_ECANCELED, "cancelled");
    }
    if (ac_build_record(d->db, &j->spec, &j->res, d->cfg.max_attempts,
                        (double)d->cfg.retry_backoff_s, &what, &e) != 0) {
        ac_log_err("recording the master build %s: %s", j->spec.key, e.msg);
    } else if (what == AC_BUILD_REGISTERED) {
        ac_log_notice("master built: %s (%d of %d frames, %.1f s, score %.0f)",
                      j->res.output_path, j->res.nused, j->res.nsubs, j->res.t_total,
                      j->res.score);
        if (j->res.warning[0] != '\0')
            ac_log_warn("%s: %s", j->res.output_path, j->res.warning);
        ac_daemon_event(d, "master_new",
                        json_pack("{s:s,s:s,s:s,s:s}", "key", j->spec.key, "type",
                                  ac_catalog_cal_kind_name(j->spec.kind), "path",
                                  j->res.output_path, "source", "built"));
        ac_daemon_mark_masters_seen(d); /* ours: not announced again as new */
        ac_mcache_forget_failures(&d->mc);
        ac_catalog_build_wake(d->db, NULL); /* builds waiting for this prerequisite */
        ac_daemon_request_replan(d, true);
    } else if (what == AC_BUILD_REJECTED_ROW) {
        ac_log_warn("master build %s rejected: %s", j->spec.key, j->res.reason);
    } else {
        ac_log_warn("master build %s: %s", j->spec.key,
                    j->res.err.msg[0] ? j->res.err.msg : "not built");
    }
    ac_build_spec_clear(&j->spec);
    free(j);
    if (!d->stopping) {
        ac_daemon_kick_planner(d);
        ac_sched_kick(d);
    }
}

bool ac_sched_start_build(ac_daemon_t *d)
{
    struct ac_build_job *j;
    ac_build_row_t row = {0};
    ac_build_opts_t o;
    ac_err_t e = {0};
    char why[512] = "";
    bool found = false;
    int rc;

    if (!d->cfg.build_masters || d->build != NULL || d->stopping)
        return false;
    if (ac_catalog_build_claim(d->db, unix_now(), &row, &found, &e) != 0) {
        ac_log_warn("claiming a master build: %s", e.msg);
        return false;
    }
    if (!found)
        return false;
    j = calloc(1, sizeof *j);
    if (j == NULL) {
        ac_catalog_build_defer(d->db, row.key, "out of memory", unix_now() + 30, false, &e);
        ac_catalog_build_row_clear(&row);
        return false;
    }
    ac_daemon_build_opts(d, &o);
    rc = ac_build_prepare(d->db, row.key, &o, &j->spec, why, sizeof why, &e);
    if (rc != AC_BUILD_PLAN_READY) {
        /* Waiting for a prerequisite master, or nothing to do any more. */
        if (rc == AC_BUILD_PLAN_WAIT)
            ac_catalog_build_defer(d->db, row.key, why, unix_now() + 60, false, &e);
        else if (rc == AC_BUILD_PLAN_SKIP)
            ac_catalog_build_finish(d->db, row.key, AC_BUILD_DONE, why, NULL, &e);
        else
            ac_catalog_build_finish(d->db, row.key, AC_BUILD_FAILED, e.msg[0] ? e.msg : why,
                                    NULL, &e);
        ac_build_spec_clear(&j->spec);
        free(j);
        ac_catalog_build_row_clear(&row);
        return true; /* the slot is still free: try the next one */
    }
    ac_catalog_build_row_clear(&row);
    j->d = d;
    j->req.data = j;
    j->started_ns = ac_now_ns();
    d->build = j;
    d->inflight++;
    ac_log_info("building master %s from %d frames", j->spec.output_path, j->spec.nsubs);
    uv_queue_work(d->loop, &j->req, build_work, build_done);
    return true;
}

void ac_sched_stop_build(ac_daemon_t *d)
{
    if (d->build != NULL)
        atomic_store(&d->build->cancel, 1);
}

json_t *ac_sched_build_json(const ac_daemon_t *d)
{
    if (d->build == NULL)
        return json_null();
    return json_pack("{s:s,s:s,s:i,s:f}", "key", d->build->spec.key, "output_path",
                     d->build->spec.output_path, "frames", d->build->spec.nsubs, "seconds",
                     (double)(ac_now_ns() - d->build->started_ns) / 1e9);
}
