/*
 * sched.c - the scheduler (scheduler.h): claims pending files from the light queue, runs
 * them on the libuv pool within the worker, memory and disk budgets, and records each
 * outcome through the queue.
 *
 * The life of one file (style-anchors §9.1), every hand-off explicit:
 *  1. loop: ac_sched_kick sees a free slot (in flight < max_in_flight, or 1 while the
 *     machine is busy), claims the best pending file in one transaction (state running,
 *     committed before anything else happens, so a crash from here on is recovered at
 *     start-up: running -> pending, attempts + 1);
 *  2. loop: it checks free disk space for the output, acquires the session's prepared
 *     masters from the cache (loading them on the pool first if needed: the job waits,
 *     counted in flight), copies everything the job needs into an ac_job and calls
 *     uv_queue_work;
 *  3. pool: ac_engine_calibrate_light reads, calibrates, measures and writes the output
 *     durably (fsync of file and directory) and atomically, hashing it (SHA-256) as it
 *     writes (engine.c hash_output);
 *  4. loop: after_work records the result in ONE transaction (ac_queue_record_calibrated:
 *     new fitsfile row, raw row marked, astrocal_record, file done); a failure is handed to
 *     ac_queue_fail, whose policy retries a transient one after a back-off and fails a
 *     permanent one with its reason; then the next file is claimed.
 * A crash between 3 and 4 leaves a complete output under its final name and the file
 * running in the queue: the restart calibrates it again, overwriting the identical
 * output, and records it once (ac_catalog_record_calibrated is idempotent).
 *
 * Thread: loop thread, except work_cb, which touches only its job.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "scheduler.h"
#include "digest.h"
#include "fsutil.h"
#include "imgio.h"
#include "log.h"
#include "quality.h"
#include "util.h"

struct ac_job {
    uv_work_t req;
    ac_sched_t *s;
    ac_job_t *next;
    char file_id[64], session_id[64], path[4096];
    int attempts;
    ac_mkey_t key;
    ac_mset_t *set; /* acquired (READY) once submitted */
    bool submitted; /* on the pool */
    bool user_cancel;
    ac_engine_opts_t eng;
    ac_engine_ctl_t ctl; /* shared with the pool thread (atomics) */
    ac_workbuf_t *wb;
    ac_light_result_t res; /* written by the pool thread, read after completion */
    char sha256[65];
    bool own_subdir; /* output_dir/<file_id>/: another queued light has its name */
    uint64_t started_ns;
};

static double unix_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void ac_sched_emit(ac_sched_t *s, const char *event, json_t *data)
{
    if (s->hooks.event != NULL)
        s->hooks.event(s->hooks.ud, event, data);
    else
        json_decref(data);
}

/* engine_opts fills a light job's engine options from the configuration. */
static void engine_opts(const struct ac_config *cfg, ac_engine_opts_t *o)
{
    ac_engine_opts_default(o);
    ac_config_to_calib_opts(cfg, &o->calib);
    ac_strlcpy(o->output_dir, cfg->output_dir, sizeof o->output_dir);
    ac_strlcpy(o->suffix, cfg->calibration_output_suffix, sizeof o->suffix);
    o->out.durable = true; /* the daemon always: a file counts only once it is on disk */
    o->out.compress = cfg->compress;
    o->out.quantize_level = (float)cfg->quantize;
    o->job_memory = (size_t)cfg->job_memory_mib * 1048576u;
    o->hash_output = true; /* fitsFileHash, computed while writing (no re-read) */
}

int ac_sched_init(ac_sched_t *s, uv_loop_t *loop, ac_db_t *db, ac_queue_t *queue,
                  ac_planner_t *planner, ac_mcache_t *mc, const struct ac_config *cfg,
                  const ac_sched_hooks_t *hooks, ac_err_t *e)
{
    int n = cfg->workers;

    memset(s, 0, sizeof *s);
    s->loop = loop;
    s->db = db;
    s->queue = queue;
    s->planner = planner;
    s->mc = mc;
    s->cfg = cfg;
    if (hooks != NULL)
        s->hooks = *hooks;
    s->started_ns = ac_now_ns();
    uv_timer_init(loop, &s->kick_timer);
    uv_timer_init(loop, &s->build_timer);
    s->kick_timer.data = s->build_timer.data = s;
    s->wbs = calloc((size_t)n, sizeof *s->wbs);
    s->free_wbs = calloc((size_t)n, sizeof *s->free_wbs);
    if (s->wbs == NULL || s->free_wbs == NULL)
        return ac_err_set(e, -ENOMEM, "out of memory");
    s->nwbs = n;
    for (int i = 0; i < n; i++)
        s->free_wbs[s->nfree++] = &s->wbs[i];
    return 0;
}

static int max_in_flight(const ac_sched_t *s)
{
    int m = s->cfg->max_in_flight > 0 ? s->cfg->max_in_flight : s->cfg->workers;

    if (m > s->cfg->workers)
        m = s->cfg->workers;
    return s->backing_off && m > 1 ? 1 : m;
}

int ac_sched_jobs(const ac_sched_t *s)
{
    int n = 0;

    for (const ac_job_t *j = s->jobs; j != NULL; j = j->next)
        n++;
    return n;
}

static void job_unlink(ac_sched_t *s, ac_job_t *job)
{
    for (ac_job_t **pp = &s->jobs; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == job) {
            *pp = job->next;
            return;
        }
    }
}

/* read_cpu_pressure returns /proc/pressure/cpu "some avg10", or NAN. */
static double read_cpu_pressure(void)
{
    FILE *f = fopen("/proc/pressure/cpu", "r");
    double v = NAN;

    if (f == NULL)
        return NAN;
    if (fscanf(f, "some avg10=%lf", &v) != 1)
        v = NAN;
    fclose(f);
    return v;
}

/* update_throttle decides whether the machine is busy: load average per CPU or CPU
 * pressure above their limits. While busy, at most one file runs. */
static void update_throttle(ac_sched_t *s)
{
    double load[1] = {0};
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    bool busy = false;

    if (getloadavg(load, 1) == 1 && ncpu > 0)
        s->load_per_cpu = load[0] / (double)ncpu;
    s->cpu_pressure = read_cpu_pressure();
    s->throttle_reason[0] = '\0';
    if (s->cfg->max_load_per_cpu > 0 && s->load_per_cpu > s->cfg->max_load_per_cpu) {
        busy = true;
        snprintf(s->throttle_reason, sizeof s->throttle_reason, "load %.2f per CPU above %.2f",
                 s->load_per_cpu, s->cfg->max_load_per_cpu);
    } else if (s->cfg->cpu_pressure_limit > 0 && isfinite(s->cpu_pressure) &&
               s->cpu_pressure > s->cfg->cpu_pressure_limit) {
        busy = true;
        snprintf(s->throttle_reason, sizeof s->throttle_reason,
                 "CPU pressure %.1f%% above %.1f%%", s->cpu_pressure,
                 s->cfg->cpu_pressure_limit);
    }
    if (busy != s->backing_off)
        ac_log_notice("%s", busy ? s->throttle_reason : "machine no longer busy: full speed");
    s->backing_off = busy;
}

/* release_file puts a claimed file back to pending without counting an attempt. */
static void release_file(ac_sched_t *s, const char *file_id, double delay_s)
{
    ac_err_t e = {0};

    if (ac_queue_release(s->queue, file_id, unix_now() + delay_s, &e) != 0 &&
        !ac_db_unavailable(e.code)) /* else left running: the daemon requeues it */
        ac_log_err("cannot put %s back in the queue: %s", file_id, e.msg);
}

/* disk_ok checks free space in the output directory for this light. */
static bool disk_ok(ac_sched_t *s, const ac_job_t *job)
{
    char dir[4096];
    ac_hdr_t h;
    ac_meta_t m;
    ac_err_t e = {0};
    uint64_t free_bytes = 0, need;

    if (s->cfg->output_dir[0] != '\0')
        ac_strlcpy(dir, s->cfg->output_dir, sizeof dir);
    else
        ac_path_dir(job->path, dir, sizeof dir);
    ac_hdr_init(&h);
    if (ac_imgio_read_header(job->path, &h, &m, &e) != 0) {
        ac_hdr_free(&h);
        return true; /* the job itself will fail with the reason */
    }
    ac_hdr_free(&h);
    if (ac_fsutil_free_bytes(dir, &free_bytes, &e) != 0)
        return true;
    need = (uint64_t)m.width * (uint64_t)m.height * 4u + (1u << 20) +
           s->cfg->free_disk_reserve_mib * 1048576u;
    if (free_bytes >= need) {
        if (s->disk_paused) {
            s->disk_paused = false;
            ac_log_notice("free disk space is back in %s: queue resumed", dir);
        }
        return true;
    }
    snprintf(s->pause_reason, sizeof s->pause_reason,
             "not enough free disk space in %s: %llu MiB free, need %llu MiB (output plus "
             "free_disk_reserve_mib)",
             dir, (unsigned long long)(free_bytes >> 20), (unsigned long long)(need >> 20));
    if (!s->disk_paused) {
        s->disk_paused = true;
        ac_log_warn("queue paused: %s", s->pause_reason);
        ac_sched_emit(s, "queue_state",
                      json_pack("{s:s,s:s}", "state", "paused", "reason", s->pause_reason));
    }
    return false;
}

static void work_cb(uv_work_t *req)
{
    ac_job_t *job = req->data;
    ac_err_t e = {0};
    char out[4096];

    if (job->own_subdir)
        ac_fsutil_mkdirs(job->eng.output_dir, NULL);
    /* A crash during an earlier attempt may have left this output's temporary file. */
    if (ac_engine_output_path(job->path, &job->eng, out, sizeof out) == 0)
        ac_fsutil_clean_stale_for(out, NULL);
    /* With hash_output (engine_opts) the engine hashes the output as it writes it
     * (or, for compressed files, reads it back before the rename); hashing the file here is
     * only a safety net should it ever return no hash. */
    ac_engine_calibrate_light(&job->set->cs, job->path, &job->eng, job->wb, &job->ctl,
                              &job->res);
    if (job->res.status != 0)
        return;
    if (job->res.sha256[0] != '\0')
        ac_strlcpy(job->sha256, job->res.sha256, sizeof job->sha256);
    else if (ac_digest_file(job->res.out_path, AC_DIGEST_SHA256, job->sha256,
                            sizeof job->sha256, &e) != 0) {
        job->res.status = e.code;
        job->res.err = e;
    }
}

static void after_cb(uv_work_t *req, int status);
static void kick_timer_cb(uv_timer_t *t);

static void submit(ac_sched_t *s, ac_job_t *job)
{
    job->wb = s->free_wbs[--s->nfree];
    job->submitted = true;
    job->started_ns = ac_now_ns();
    s->inflight++;
    engine_opts(s->cfg, &job->eng);
    if (job->own_subdir) {
        size_t n = strlen(job->eng.output_dir);
        snprintf(job->eng.output_dir + n, sizeof job->eng.output_dir - n, "/%s", job->file_id);
    }
    job->req.data = job;
    uv_queue_work(s->loop, &job->req, work_cb, after_cb);
    ac_sched_emit(s, "file_started",
                  json_pack("{s:s,s:s,s:s}", "file_id", job->file_id, "path", job->path,
                            "session_id", job->session_id));
}

/* master_failure handles a set that could not be loaded: the broken master is kept out
 * of matching, the session is planned again (next candidate), and the file goes back. */
static void master_failure(ac_sched_t *s, ac_mset_t *set, ac_job_t *job)
{
    if (set != NULL && set->bad_master >= 0)
        ac_planner_mark_bad_master(s->planner, set->key.path[set->bad_master], set->err.msg);
    ac_log_warn("%s: masters unusable (%s); planning again", job->path,
                set != NULL ? set->err.msg : "?");
    release_file(s, job->file_id, 0);
    ac_planner_request(s->planner, true);
}

void ac_sched_on_master_loaded(void *ud, ac_mset_t *set)
{
    ac_sched_t *s = ud;
    ac_job_t *j = s->jobs, *next;

    for (; j != NULL; j = next) {
        next = j->next;
        if (j->submitted || memcmp(&j->key, &set->key, sizeof set->key) != 0)
            continue;
        if (set->state == AC_MSET_READY && !s->stopping) {
            set->refs++;
            j->set = set;
            submit(s, j);
        } else {
            if (set->state == AC_MSET_FAILED)
                master_failure(s, set, j);
            else
                release_file(s, j->file_id, 0);
            job_unlink(s, j);
            free(j);
        }
    }
    ac_sched_kick(s);
}

/* calibrated_elsewhere says whether the raw row was marked calibrated after it was queued
 * (AstroFiler or another tool did it): then there is nothing to do. */
static bool calibrated_elsewhere(ac_sched_t *s, const char *file_id)
{
    ac_catalog_file_t f = {0};
    ac_err_t e = {0};
    bool done;

    if (ac_catalog_file_get(s->db, file_id, &f, &e) != 0)
        return false;
    done = f.calibrated;
    ac_catalog_file_clear(&f);
    return done;
}

/* start_one claims a file and starts (or stages) its job. Returns false when nothing more
 * can start now. */
static bool start_one(ac_sched_t *s)
{
    ac_qfile_t f = {0};
    ac_err_t e = {0};
    ac_calib_opts_t co;
    const ac_plan_t *plan;
    ac_job_t *job;
    bool found = false;
    int rc;

    rc = ac_queue_claim(s->queue, unix_now(), NULL, &f, &found, &e);
    if (rc != 0) {
        if (!ac_db_unavailable(rc)) /* busy or lost: the daemon says so, once */
            ac_log_warn("claiming the next file: %s", e.msg);
        return false;
    }
    if (!found)
        return false;
    plan = ac_planner_find(s->planner, f.session_id);
    if (plan == NULL || plan->status != AC_MATCH_READY) {
        /* Queued by an earlier run but not planned yet in this one. */
        release_file(s, f.file_id, 1);
        ac_queue_file_clear(&f);
        ac_planner_request(s->planner, true);
        return false;
    }
    job = calloc(1, sizeof *job);
    if (job == NULL) {
        release_file(s, f.file_id, 5);
        ac_queue_file_clear(&f);
        return false;
    }
    job->s = s;
    ac_strlcpy(job->file_id, f.file_id, sizeof job->file_id);
    ac_strlcpy(job->session_id, f.session_id, sizeof job->session_id);
    ac_strlcpy(job->path, f.path, sizeof job->path);
    job->attempts = f.attempts;
    job->key = plan->key;
    ac_queue_file_clear(&f);
    if (s->cfg->output_dir[0] != '\0') {
        int same = 0;
        ac_queue_same_name(s->queue, job->file_id, ac_path_base(job->path), &same, &e);
        job->own_subdir = same > 0;
    }
    if (calibrated_elsewhere(s, job->file_id)) {
        ac_log_info("%s was calibrated by another tool meanwhile: skipped", job->path);
        ac_queue_finish(s->queue, job->file_id, AC_FILE_SKIPPED,
                        "already calibrated (fitsFileCalibrated = 1)", NAN, &e);
        free(job);
        return true;
    }
    if (!disk_ok(s, job)) {
        release_file(s, job->file_id, 0);
        free(job);
        return false;
    }
    ac_config_to_calib_opts(s->cfg, &co);
    /* The strip buffers of running jobs are already outside the cache's budget. */
    rc = ac_mcache_acquire(s->mc, &job->key, &co, 0, &job->set, &e);
    if (rc == 0) {
        job->next = s->jobs;
        s->jobs = job;
        submit(s, job);
        return true;
    }
    if (rc == AC_EBUSY) {
        job->set = NULL; /* not ours until it is ready */
        job->next = s->jobs;
        s->jobs = job;
        ac_sched_emit(s, "file_progress",
                      json_pack("{s:s,s:s,s:f}", "file_id", job->file_id, "step",
                                "loading masters", "progress", 0.0));
        return true;
    }
    if (rc == -ENOMEM) {
        snprintf(s->pause_reason, sizeof s->pause_reason, "%s",
                 e.msg[0] ? e.msg : "waiting for memory: masters in use by running files");
        release_file(s, job->file_id, e.msg[0] ? 30 : 0);
        free(job);
        return false;
    }
    master_failure(s, job->set, job);
    free(job);
    return false;
}

void ac_sched_kick(ac_sched_t *s)
{
    if (s->stopping)
        return;
    s->pause_reason[0] = '\0';
    if (s->paused_user) {
        ac_strlcpy(s->pause_reason, "paused by the operator; astrocalctl resume continues",
                   sizeof s->pause_reason);
        return;
    }
    if (ac_db_state(s->db) != AC_DB_OK) /* busy or lost: the daemon kicks once it is OK */
        return;
    update_throttle(s);
    /* Masters first: a build releases whole sessions. It takes one slot. */
    while (ac_sched_jobs(s) + (s->build != NULL) < max_in_flight(s) && s->build == NULL)
        if (!ac_sched_start_build(s))
            break;
    while (ac_sched_jobs(s) + (s->build != NULL) < max_in_flight(s) && s->nfree > 0) {
        if (!start_one(s))
            break;
    }
    /* Come back for retries whose back-off ends, and to re-check disk space. */
    {
        double when = 0;
        bool any = false;
        ac_err_t e = {0};
        uint64_t ms = 0;

        if (s->pause_reason[0] != '\0')
            ms = 10000;
        else if (ac_queue_next_retry(s->queue, unix_now(), &when, &any, &e) == 0 && any)
            ms = (uint64_t)fmax(100.0, (when - unix_now()) * 1000.0 + 50.0);
        else if (s->backing_off)
            ms = 5000;
        if (ms > 0)
            uv_timer_start(&s->kick_timer, kick_timer_cb, ms, 0);
    }
}

static void kick_timer_cb(uv_timer_t *t)
{
    ac_sched_kick(t->data);
}

static json_t *quality_json(const ac_quality_t *q)
{
    return json_pack("{s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f}", "background", q->background, "noise",
                     q->noise, "dynamic_range", q->dynamic_range, "negative_fraction",
                     q->frac_negative, "zero_fraction", q->frac_zero, "saturated_fraction",
                     q->frac_saturated, "dead_fraction", q->frac_dead, "score", q->score);
}

/* record_success records the output in the catalogue and the file done (one
 * transaction). */
static int record_success(ac_sched_t *s, ac_job_t *job, ac_err_t *e)
{
    const ac_calset_t *cs = &job->set->cs;
    const ac_light_result_t *r = &job->res;
    ac_calibrated_rec_t rec;
    json_t *q = quality_json(&r->quality);
    char *qtext = q ? json_dumps(q, JSON_COMPACT) : NULL;
    char out_id[AC_UUID_LEN + 1] = "";
    int rc;

    memset(&rec, 0, sizeof rec);
    rec.raw_file_id = job->file_id;
    rec.output_path = r->out_path;
    rec.output_sha256 = job->sha256;
    if (cs->has_bias) {
        rec.bias_path = job->key.path[AC_M_BIAS];
        rec.bias_md5 = cs->bias_md5;
    }
    if (cs->has_dark) {
        rec.dark_path = job->key.path[AC_M_DARK];
        rec.dark_md5 = cs->dark_md5;
    }
    if (cs->has_flat) {
        rec.flat_path = job->key.path[AC_M_FLAT];
        rec.flat_md5 = cs->flat_md5;
    }
    if (cs->has_flatdark) {
        rec.flatdark_path = job->key.path[AC_M_FLATDARK];
        rec.flatdark_md5 = cs->flatdark_md5;
    }
    rec.steps = r->steps;
    rec.dark_scale = r->k;
    rec.pedestal = r->pedestal;
    rec.quality_json = qtext;
    rec.t_read = r->t_read;
    rec.t_calib = r->t_calib;
    rec.t_write = r->t_write;
    rec.t_total = r->t_total;
    rc = ac_queue_record_calibrated(s->queue, &rec, s->cfg->preserve_original_files, out_id, e);
    free(qtext);
    json_decref(q);
    return rc;
}

/* finish_failure records a failed attempt: retried after a back-off or failed for good, as
 * the queue's policy decides. */
static void finish_failure(ac_sched_t *s, ac_job_t *job, int code, const char *msg)
{
    ac_queue_verdict_t v = {false, job->attempts + 1, 0};
    ac_err_t e = {0};

    if (ac_queue_fail(s->queue, job->file_id, code, msg, job->res.t_total, unix_now(), &v,
                      &e) != 0)
        ac_log_err("%s; recording the failure of %s: %s", msg, job->path, e.msg);
    else if (v.retry)
        ac_log_warn("%s (attempt %d of %d, retrying in %.0f s)", msg, v.attempts,
                    s->queue->policy.max_attempts, v.backoff_s);
    else
        ac_log_err("%s", msg);
    ac_sched_emit(s, "file_failed",
                  json_pack("{s:s,s:s,s:s,s:i,s:b}", "file_id", job->file_id, "path", job->path,
                            "error", msg, "attempts", v.attempts, "will_retry", v.retry));
}

static void after_cb(uv_work_t *req, int status)
{
    ac_job_t *job = req->data;
    ac_sched_t *s = job->s;
    ac_light_result_t *r = &job->res;
    ac_err_t e = {0};

    s->inflight--;
    s->free_wbs[s->nfree++] = job->wb;
    if (status == UV_ECANCELED && r->status == 0)
        r->status = AC_ECANCELED;
    if (r->status == AC_ECANCELED) {
        if (job->user_cancel) {
            ac_queue_finish(s->queue, job->file_id, AC_FILE_CANCELLED, "cancelled", r->t_total,
                            &e);
        } else {
            /* Shut down or put back: not the file's fault, so no attempt is counted. */
            release_file(s, job->file_id, 0);
        }
    } else if (r->status == 0) {
        int rc = record_success(s, job, &e);
        if (rc == 0) {
            s->done_times[s->ndone_times++ % 256] = ac_now_ns();
            ac_log_info("%s -> %s [%s] score %.0f, %.2f s", job->path, r->out_path, r->steps,
                        r->quality.score, r->t_total);
            if (s->cfg->calibration_quality_check && r->quality.score < 50)
                ac_log_warn("%s: low quality score %.0f (negative %.3f%%, saturated %.3f%%, "
                            "dead %.4f%%)",
                            r->out_path, r->quality.score, 100 * r->quality.frac_negative,
                            100 * r->quality.frac_saturated, 100 * r->quality.frac_dead);
            ac_sched_emit(s, "file_done",
                          json_pack("{s:s,s:s,s:s,s:f,s:o}", "file_id", job->file_id, "path",
                                    job->path, "output_path", r->out_path, "seconds",
                                    r->t_total, "quality", quality_json(&r->quality)));
        } else if (!ac_db_unavailable(rc)) { /* else left running: the daemon requeues it */
            char msg[1200];
            snprintf(msg, sizeof msg, "%s: calibrated to %s but not recorded: %s", job->path,
                     r->out_path, e.msg);
            finish_failure(s, job, rc, msg);
        }
    } else {
        finish_failure(s, job, r->status, r->err.msg[0] ? r->err.msg : ac_strerror(r->status));
    }
    ac_mcache_release(s->mc, job->set);
    job_unlink(s, job);
    free(job);
    if (!s->stopping)
        ac_sched_kick(s);
}

/* put_back puts the jobs still waiting for masters back in the queue and, with
 * cancel_running, asks running ones to stop at their next strip. */
static void put_back(ac_sched_t *s, bool cancel_running)
{
    ac_job_t *j = s->jobs, *next;

    for (; j != NULL; j = next) {
        next = j->next;
        if (j->submitted) {
            if (cancel_running)
                atomic_store(&j->ctl.cancel, 1);
        } else {
            release_file(s, j->file_id, 0);
            job_unlink(s, j);
            free(j);
        }
    }
}

void ac_sched_stop(ac_sched_t *s)
{
    s->stopping = true;
    uv_timer_stop(&s->kick_timer);
    uv_timer_stop(&s->build_timer);
    put_back(s, false);
}

void ac_sched_cancel_running(ac_sched_t *s)
{
    put_back(s, true);
    ac_sched_stop_build(s);
}

void ac_sched_cancel_jobs(ac_sched_t *s, const char *session_id)
{
    ac_job_t *j = s->jobs, *next;

    for (; j != NULL; j = next) {
        next = j->next;
        if (strcmp(j->session_id, session_id) != 0)
            continue;
        if (j->submitted) {
            j->user_cancel = true;
            atomic_store(&j->ctl.cancel, 1);
        } else {
            ac_err_t e = {0};
            ac_queue_finish(s->queue, j->file_id, AC_FILE_CANCELLED, "cancelled", NAN, &e);
            job_unlink(s, j);
            free(j);
        }
    }
}

bool ac_sched_idle(const ac_sched_t *s)
{
    return s->jobs == NULL && s->mc->loading == 0 && s->build == NULL;
}

double ac_sched_rate(const ac_sched_t *s)
{
    uint64_t now = ac_now_ns(), window = 60ull * 1000000000ull;
    unsigned n = 0, total = s->ndone_times < 256 ? s->ndone_times : 256;
    double span;

    for (unsigned i = 0; i < total; i++) {
        if (now - s->done_times[i] <= window)
            n++;
    }
    if (n == 0)
        return 0;
    span = (double)(now - s->started_ns) / 1e9;
    if (span > 60)
        span = 60;
    if (span < 1)
        span = 1;
    return (double)n / span;
}

json_t *ac_sched_running_json(const ac_sched_t *s)
{
    static const char *const steps[] = {"queued", "reading", "calibrating", "writing",
                                        "recording"};
    json_t *arr = json_array();

    for (const ac_job_t *j = s->jobs; j != NULL; j = j->next) {
        int step = atomic_load(&j->ctl.step);
        int done = atomic_load(&j->ctl.rows_done), total = atomic_load(&j->ctl.rows_total);
        const char *name = !j->submitted           ? "loading masters"
                           : step >= 0 && step < 5 ? steps[step]
                                                   : "calibrating";
        double progress = total > 0 ? (double)done / total : 0.0;
        double secs = j->submitted ? (double)(ac_now_ns() - j->started_ns) / 1e9 : 0.0;

        json_array_append_new(arr,
                              json_pack("{s:s,s:s,s:s,s:s,s:f,s:f}", "file_id", j->file_id,
                                        "path", j->path, "session_id", j->session_id, "step",
                                        name, "progress", progress, "seconds", secs));
    }
    return arr;
}

void ac_sched_close(ac_sched_t *s)
{
    if (!uv_is_closing((uv_handle_t *)&s->kick_timer))
        uv_close((uv_handle_t *)&s->kick_timer, NULL);
    if (!uv_is_closing((uv_handle_t *)&s->build_timer))
        uv_close((uv_handle_t *)&s->build_timer, NULL);
}

void ac_sched_free(ac_sched_t *s)
{
    ac_job_t *j = s->jobs, *next;

    for (; j != NULL; j = next) {
        next = j->next;
        free(j);
    }
    s->jobs = NULL;
    for (int i = 0; i < s->nwbs; i++)
        ac_workbuf_free(&s->wbs[i]);
    free(s->wbs);
    free(s->free_wbs);
    s->wbs = NULL;
    s->free_wbs = NULL;
}
