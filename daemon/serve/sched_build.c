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
 * A build that cannot start yet (a prerequisite master missing, no memory) is deferred
 * with a back-off of its own, kept in memory: 60 s doubled per deferral, at most an hour
 * (BUILD_WAIT_*); a registered master wakes the waiting builds at once
 * (ac_catalog_build_wake), and a build that starts forgets its back-off. A failed build is
 * retried by buildplan.c's policy (retry_backoff_s doubled per attempt, at most an hour).
 *
 * Thread: loop thread, except build_work, which touches only its job.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buildplan.h"
#include "sched_int.h"
#include "log.h"
#include "stack.h"
#include "util.h"

#define BUILD_WAIT_FIRST_S 60.0
#define BUILD_WAIT_CAP_S 3600.0

struct ac_build_job {
    uv_work_t req;
    ac_sched_t *s;
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

/* defer_until returns when build key, deferred once more, is looked at again. */
static double defer_until(ac_sched_t *s, const char *key)
{
    ac_backoff_t *b = ac_backoff_table_get(&s->build_waits, key, true);
    double now = unix_now();

    if (b == NULL)
        return now + BUILD_WAIT_CAP_S;
    return now + ac_backoff_fail(b, now, BUILD_WAIT_FIRST_S, BUILD_WAIT_CAP_S);
}

void ac_sched_build_opts(const struct ac_config *cfg, ac_build_opts_t *o)
{
    static const int methods[] = {AC_STACK_SIGMA_CLIP, AC_STACK_WINSOR, AC_STACK_MEDIAN,
                                  AC_STACK_MEAN};

    ac_build_opts_default(o);
    if (cfg->masters_dir[0] != '\0')
        ac_strlcpy(o->masters_dir, cfg->masters_dir, sizeof o->masters_dir);
    else if (cfg->repository_dir[0] != '\0')
        snprintf(o->masters_dir, sizeof o->masters_dir, "%s/Masters", cfg->repository_dir);
    else
        snprintf(o->masters_dir, sizeof o->masters_dir, "%s/Masters", cfg->state_dir);
    o->min_files = cfg->min_files_per_master;
    o->settle_s = cfg->build_settle_s;
    o->combine = methods[cfg->combine >= 0 && cfg->combine < 4 ? cfg->combine : 0];
    o->kappa_low = cfg->kappa_low;
    o->kappa_high = cfg->kappa_high;
    o->iterations = cfg->iterations;
    o->dark_subtract_bias = cfg->dark_subtract_bias;
    o->max_hot_fraction = cfg->max_hot_fraction;
    o->min_flat_level = cfg->min_flat_level;
    o->max_flat_level = cfg->max_flat_level;
    o->exp_tol_s = cfg->exposure_tolerance_s;
    o->exp_tol_pct = cfg->exposure_tolerance_pct;
    o->job_memory = (size_t)cfg->job_memory_mib * 4u * 1048576u;
    o->max_temp_diff = cfg->max_temperature_difference;
    o->utc_offset_h = cfg->site_utc_offset_h;
    o->out.durable = true;
}

/* plan_due asks the owner to run the requested planning pass now. */
static void plan_due(ac_sched_t *s)
{
    if (s->hooks.plan_due != NULL)
        s->hooks.plan_due(s->hooks.ud);
}

/* build_timer_cb looks again at the builds once frames have settled: a planning pass,
 * whose owner scans the builds after it. */
static void build_timer_cb(uv_timer_t *t)
{
    ac_sched_t *s = t->data;

    ac_planner_request(s->planner, false);
    plan_due(s);
}

int ac_sched_scan_builds(ac_sched_t *s, bool frames_settling, ac_err_t *e)
{
    ac_build_opts_t o;
    int queued = 0, rc;

    if (!s->cfg->build_masters)
        return 0;
    if (frames_settling) {
        /* Frames still settling or being read: their series is not complete yet. */
        if (!s->stopping)
            uv_timer_start(&s->build_timer, build_timer_cb, 2000, 0);
        return 0;
    }
    ac_sched_build_opts(s->cfg, &o);
    rc = ac_build_scan(s->db, &o, &queued, e);
    if (rc == 0 && queued > 0)
        ac_log_info("%d master build%s queued", queued, queued == 1 ? "" : "s");
    /* A calibration session still receiving frames: look again when it has settled. */
    if (rc == 0 && o.retry_in_s > 0 && !s->stopping)
        uv_timer_start(&s->build_timer, build_timer_cb, (uint64_t)(o.retry_in_s * 1000.0) + 100,
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
    ac_sched_t *s = j->s;
    ac_err_t e = {0};
    int what = -1;

    s->inflight--;
    s->build = NULL;
    if (status == UV_ECANCELED && j->res.status == AC_BUILT) {
        j->res.status = AC_BUILD_ERROR;
        ac_err_set(&j->res.err, AC_ECANCELED, "cancelled");
    }
    if (ac_build_record(s->db, &j->spec, &j->res, s->cfg->max_attempts,
                        (double)s->cfg->retry_backoff_s, &what, &e) != 0) {
        if (!ac_db_unavailable(e.code)) /* else left running: the daemon requeues it */
            ac_log_err("recording the master build %s: %s", j->spec.key, e.msg);
    } else if (what == AC_BUILD_REGISTERED) {
        s->stats.masters_built++;
        ac_log_notice("master built: %s (%d of %d frames, %.1f s, score %.0f)",
                      j->res.output_path, j->res.nused, j->res.nsubs, j->res.t_total,
                      j->res.score);
        if (j->res.warning[0] != '\0')
            ac_log_warn("%s: %s", j->res.output_path, j->res.warning);
        ac_sched_emit(s, "master_new",
                      json_pack("{s:s,s:s,s:s,s:s}", "key", j->spec.key, "type",
                                ac_catalog_cal_kind_name(j->spec.kind), "path",
                                j->res.output_path, "source", "built"));
        if (s->hooks.master_built != NULL)
            s->hooks.master_built(s->hooks.ud); /* ours: not announced again as new */
        ac_mcache_forget_failures(s->mc);
        if (j->res.same_file) /* its MD5 is fresh: not read again when it is used */
            ac_mcache_vouch(s->mc, j->res.output_path, &j->res.st, j->res.md5);
        ac_catalog_build_wake(s->db, NULL); /* builds waiting for this prerequisite */
        ac_planner_request(s->planner, true);
    } else if (what == AC_BUILD_EXISTING_ROW) {
        ac_log_notice("master build %s not needed: master #%lld is of the same night",
                      j->spec.key, (long long)j->res.exists_rowid);
    } else if (what == AC_BUILD_REJECTED_ROW) {
        s->stats.masters_rejected++;
        ac_log_warn("master build %s rejected: %s", j->spec.key, j->res.reason);
    } else if (what == AC_BUILD_FAILED_ROW) {
        const char *why = j->res.err.msg[0] ? j->res.err.msg : "not built";
        ac_log_event(AC_LOG_ERR, AC_MSGID_MASTER_FAILED, j->spec.key, NULL,
                     "master build %s failed: %s", j->spec.key, why);
        if (s->hooks.failed != NULL)
            s->hooks.failed(s->hooks.ud, ac_catalog_cal_kind_name(j->spec.kind), j->spec.key,
                            NULL, j->res.output_path[0] ? j->res.output_path : NULL, why);
    } else {
        ac_log_warn("master build %s: %s", j->spec.key,
                    j->res.err.msg[0] ? j->res.err.msg : "not built");
    }
    ac_build_spec_clear(&j->spec);
    free(j);
    s->grade_busy_at = ac_sched_mono_now(); /* grading waits AC_GRADE_QUIET_S after this */
    if (!s->stopping) {
        plan_due(s);
        ac_sched_kick(s);
    }
    ac_sched_report_idle(s);
}

bool ac_sched_start_build(ac_sched_t *s)
{
    struct ac_build_job *j;
    ac_build_row_t row = {0};
    ac_build_opts_t o;
    ac_err_t e = {0};
    char why[512] = "";
    bool found = false;
    int rc;

    if (!s->cfg->build_masters || s->build != NULL || s->stopping)
        return false;
    if (ac_catalog_build_claim(s->db, unix_now(), &row, &found, &e) != 0) {
        if (!ac_db_unavailable(e.code)) /* busy or lost: the daemon says so, once */
            ac_log_warn("claiming a master build: %s", e.msg);
        return false;
    }
    if (!found)
        return false;
    j = calloc(1, sizeof *j);
    if (j == NULL) {
        ac_catalog_build_defer(s->db, row.key, "out of memory", defer_until(s, row.key), false,
                               &e);
        ac_catalog_build_row_clear(&row);
        return false;
    }
    ac_sched_build_opts(s->cfg, &o);
    rc = ac_build_prepare(s->db, row.key, &o, &j->spec, why, sizeof why, &e);
    if (rc != AC_BUILD_PLAN_READY) {
        /* Waiting for a prerequisite master, or nothing to do any more. */
        if (rc == AC_BUILD_PLAN_WAIT) {
            ac_catalog_build_defer(s->db, row.key, why, defer_until(s, row.key), false, &e);
        } else {
            ac_backoff_table_drop(&s->build_waits, row.key);
            if (rc == AC_BUILD_PLAN_SKIP)
                ac_catalog_build_finish(s->db, row.key, AC_BUILD_DONE, why, NULL, &e);
            else
                ac_catalog_build_finish(s->db, row.key, AC_BUILD_FAILED, e.msg[0] ? e.msg : why,
                                        NULL, &e);
        }
        ac_build_spec_clear(&j->spec);
        free(j);
        ac_catalog_build_row_clear(&row);
        return true; /* the slot is still free: try the next one */
    }
    ac_backoff_table_drop(&s->build_waits, row.key);
    ac_catalog_build_row_clear(&row);
    ac_sched_not_alone(s); /* a light being calibrated alone has company now */
    j->s = s;
    j->req.data = j;
    j->started_ns = ac_now_ns();
    s->build = j;
    s->inflight++;
    if (j->spec.nprobe > 0)
        ac_log_info("master build %s: reading the night of %d matching master%s first, then "
                    "building %s from %d frames unless one is of the same night",
                    j->spec.key, j->spec.nprobe, j->spec.nprobe == 1 ? "" : "s",
                    j->spec.output_path, j->spec.nsubs);
    else
        ac_log_info("building master %s from %d frames", j->spec.output_path, j->spec.nsubs);
    uv_queue_work(s->loop, &j->req, build_work, build_done);
    return true;
}

void ac_sched_stop_build(ac_sched_t *s)
{
    if (s->build != NULL)
        atomic_store(&s->build->cancel, 1);
}

json_t *ac_sched_build_json(const ac_sched_t *s)
{
    if (s->build == NULL)
        return json_null();
    return json_pack("{s:s,s:s,s:i,s:f}", "key", s->build->spec.key, "output_path",
                     s->build->spec.output_path, "frames", s->build->spec.nsubs, "seconds",
                     (double)(ac_now_ns() - s->build->started_ns) / 1e9);
}
