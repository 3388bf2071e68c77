/*
 * sched.c - the scheduler: claims pending files from the persistent queue, runs them on
 * the libuv pool within the worker, memory and disk budgets, and records each outcome.
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
 *  4. loop: after_work records the result in ONE transaction (new fitsfile row, raw row
 *     marked, astrocal_record, file done); a transient failure goes back to pending with
 *     back-off, a permanent one is failed with its reason; then the next file is claimed.
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

#include "daemon.h"
#include "digest.h"
#include "fsutil.h"
#include "imgio.h"
#include "log.h"
#include "quality.h"
#include "util.h"

struct ac_job {
    uv_work_t req;
    ac_daemon_t *d;
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

int ac_sched_init(ac_daemon_t *d, ac_err_t *e)
{
    int n = d->cfg.workers;

    d->wbs = calloc((size_t)n, sizeof *d->wbs);
    d->free_wbs = calloc((size_t)n, sizeof *d->free_wbs);
    if (d->wbs == NULL || d->free_wbs == NULL)
        return ac_err_set(e, -ENOMEM, "out of memory");
    d->nwbs = n;
    for (int i = 0; i < n; i++)
        d->free_wbs[d->nfree++] = &d->wbs[i];
    return 0;
}

static int max_in_flight(const ac_daemon_t *d)
{
    int m = d->cfg.max_in_flight > 0 ? d->cfg.max_in_flight : d->cfg.workers;

    if (m > d->cfg.workers)
        m = d->cfg.workers;
    return d->backing_off && m > 1 ? 1 : m;
}

int ac_sched_jobs(const ac_daemon_t *d)
{
    int n = 0;

    for (const ac_job_t *j = d->jobs; j != NULL; j = j->next)
        n++;
    return n;
}

static void job_unlink(ac_daemon_t *d, ac_job_t *job)
{
    for (ac_job_t **pp = &d->jobs; *pp != NULL; pp = &(*pp)->next) {
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
static void update_throttle(ac_daemon_t *d)
{
    double load[1] = {0};
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    bool busy = false;

    if (getloadavg(load, 1) == 1 && ncpu > 0)
        d->load_per_cpu = load[0] / (double)ncpu;
    d->cpu_pressure = read_cpu_pressure();
    d->throttle_reason[0] = '\0';
    if (d->cfg.max_load_per_cpu > 0 && d->load_per_cpu > d->cfg.max_load_per_cpu) {
        busy = true;
        snprintf(d->throttle_reason, sizeof d->throttle_reason, "load %.2f per CPU above %.2f",
                 d->load_per_cpu, d->cfg.max_load_per_cpu);
    } else if (d->cfg.cpu_pressure_limit > 0 && isfinite(d->cpu_pressure) &&
               d->cpu_pressure > d->cfg.cpu_pressure_limit) {
        busy = true;
        snprintf(d->throttle_reason, sizeof d->throttle_reason,
                 "CPU pressure %.1f%% above %.1f%%", d->cpu_pressure,
                 d->cfg.cpu_pressure_limit);
    }
    if (busy != d->backing_off)
        ac_log_notice("%s", busy ? d->throttle_reason : "machine no longer busy: full speed");
    d->backing_off = busy;
}

/* release_file puts a claimed file back to pending without counting an attempt. */
static void release_file(ac_daemon_t *d, const char *file_id, double delay_s)
{
    ac_err_t e = {0};

    if (ac_catalog_queue_release(d->db, file_id, unix_now() + delay_s, &e) != 0)
        ac_log_err("cannot put %s back in the queue: %s", file_id, e.msg);
}

/* disk_ok checks free space in the output directory for this light. */
static bool disk_ok(ac_daemon_t *d, const ac_job_t *job)
{
    char dir[4096];
    ac_hdr_t h;
    ac_meta_t m;
    ac_err_t e = {0};
    uint64_t free_bytes = 0, need;

    if (d->cfg.output_dir[0] != '\0')
        ac_strlcpy(dir, d->cfg.output_dir, sizeof dir);
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
           d->cfg.free_disk_reserve_mib * 1048576u;
    if (free_bytes >= need) {
        if (d->disk_paused) {
            d->disk_paused = false;
            ac_log_notice("free disk space is back in %s: queue resumed", dir);
        }
        return true;
    }
    snprintf(d->pause_reason, sizeof d->pause_reason,
             "not enough free disk space in %s: %llu MiB free, need %llu MiB (output plus "
             "free_disk_reserve_mib)",
             dir, (unsigned long long)(free_bytes >> 20), (unsigned long long)(need >> 20));
    if (!d->disk_paused) {
        d->disk_paused = true;
        ac_log_warn("queue paused: %s", d->pause_reason);
        ac_daemon_event(d, "queue_state",
                        json_pack("{s:s,s:s}", "state", "paused", "reason", d->pause_reason));
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
    /* With hash_output (ac_daemon_engine_opts) the engine hashes the output as it writes it
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

static void submit(ac_daemon_t *d, ac_job_t *job)
{
    job->wb = d->free_wbs[--d->nfree];
    job->submitted = true;
    job->started_ns = ac_now_ns();
    d->inflight++;
    ac_daemon_engine_opts(d, &job->eng);
    if (job->own_subdir) {
        size_t n = strlen(job->eng.output_dir);
        snprintf(job->eng.output_dir + n, sizeof job->eng.output_dir - n, "/%s", job->file_id);
    }
    job->req.data = job;
    uv_queue_work(d->loop, &job->req, work_cb, after_cb);
    ac_daemon_event(d, "file_started",
                    json_pack("{s:s,s:s,s:s}", "file_id", job->file_id, "path", job->path,
                              "session_id", job->session_id));
}

/* master_failure handles a set that could not be loaded: the broken master is kept out
 * of matching, the session is planned again (next candidate), and the file goes back. */
static void master_failure(ac_daemon_t *d, ac_mset_t *set, ac_job_t *job)
{
    if (set != NULL && set->bad_master >= 0)
        ac_planner_mark_bad_master(d, set->key.path[set->bad_master], set->err.msg);
    ac_log_warn("%s: masters unusable (%s); planning again", job->path,
                set != NULL ? set->err.msg : "?");
    release_file(d, job->file_id, 0);
    ac_daemon_request_replan(d, true);
}

void ac_sched_on_master_loaded(void *ud, ac_mset_t *set)
{
    ac_daemon_t *d = ud;
    ac_job_t *j = d->jobs, *next;

    for (; j != NULL; j = next) {
        next = j->next;
        if (j->submitted || memcmp(&j->key, &set->key, sizeof set->key) != 0)
            continue;
        if (set->state == AC_MSET_READY && !d->stopping) {
            set->refs++;
            j->set = set;
            submit(d, j);
        } else {
            if (set->state == AC_MSET_FAILED)
                master_failure(d, set, j);
            else
                release_file(d, j->file_id, 0);
            job_unlink(d, j);
            free(j);
        }
    }
    ac_sched_kick(d);
}

/* calibrated_elsewhere says whether the raw row was marked calibrated after it was queued
 * (AstroFiler or another tool did it): then there is nothing to do. */
static bool calibrated_elsewhere(ac_daemon_t *d, const char *file_id)
{
    ac_catalog_file_t f = {0};
    ac_err_t e = {0};
    bool done;

    if (ac_catalog_file_get(d->db, file_id, &f, &e) != 0)
        return false;
    done = f.calibrated;
    ac_catalog_file_clear(&f);
    return done;
}

/* start_one claims a file and starts (or stages) its job. Returns false when nothing more
 * can start now. */
static bool start_one(ac_daemon_t *d)
{
    ac_qfile_t f = {0};
    ac_err_t e = {0};
    ac_calib_opts_t co;
    const ac_plan_t *plan;
    ac_job_t *job;
    bool found = false;
    int rc;

    rc = ac_catalog_queue_claim(d->db, d->cfg.order == AC_ORDER_NEWEST_FIRST, unix_now(), NULL,
                                &f, &found, &e);
    if (rc != 0) {
        ac_log_warn("claiming the next file: %s", e.msg);
        return false;
    }
    if (!found)
        return false;
    plan = ac_planner_find(d, f.session_id);
    if (plan == NULL || plan->status != AC_MATCH_READY) {
        /* Queued by an earlier run but not planned yet in this one. */
        release_file(d, f.file_id, 1);
        ac_catalog_qfile_clear(&f);
        ac_daemon_request_replan(d, true);
        return false;
    }
    job = calloc(1, sizeof *job);
    if (job == NULL) {
        release_file(d, f.file_id, 5);
        ac_catalog_qfile_clear(&f);
        return false;
    }
    job->d = d;
    ac_strlcpy(job->file_id, f.file_id, sizeof job->file_id);
    ac_strlcpy(job->session_id, f.session_id, sizeof job->session_id);
    ac_strlcpy(job->path, f.path, sizeof job->path);
    job->attempts = f.attempts;
    job->key = plan->key;
    ac_catalog_qfile_clear(&f);
    if (d->cfg.output_dir[0] != '\0') {
        int same = 0;
        ac_catalog_queue_same_name(d->db, job->file_id, ac_path_base(job->path), &same, &e);
        job->own_subdir = same > 0;
    }
    if (calibrated_elsewhere(d, job->file_id)) {
        ac_log_info("%s was calibrated by another tool meanwhile: skipped", job->path);
        ac_catalog_queue_finish(d->db, job->file_id, AC_FILE_SKIPPED,
                                "already calibrated (fitsFileCalibrated = 1)", NAN, &e);
        ac_sched_session_progress(d, job->session_id);
        free(job);
        return true;
    }
    if (!disk_ok(d, job)) {
        release_file(d, job->file_id, 0);
        free(job);
        return false;
    }
    ac_config_to_calib_opts(&d->cfg, &co);
    /* The strip buffers of running jobs are already outside the cache's budget. */
    rc = ac_mcache_acquire(&d->mc, &job->key, &co, 0, &job->set, &e);
    if (rc == 0) {
        job->next = d->jobs;
        d->jobs = job;
        submit(d, job);
        return true;
    }
    if (rc == AC_EBUSY) {
        job->set = NULL; /* not ours until it is ready */
        job->next = d->jobs;
        d->jobs = job;
        ac_daemon_event(d, "file_progress",
                        json_pack("{s:s,s:s,s:f}", "file_id", job->file_id, "step",
                                  "loading masters", "progress", 0.0));
        return true;
    }
    if (rc == -ENOMEM) {
        snprintf(d->pause_reason, sizeof d->pause_reason, "%s",
                 e.msg[0] ? e.msg : "waiting for memory: masters in use by running files");
        release_file(d, job->file_id, e.msg[0] ? 30 : 0);
        free(job);
        return false;
    }
    master_failure(d, job->set, job);
    free(job);
    return false;
}

void ac_sched_kick(ac_daemon_t *d)
{
    if (d->stopping)
        return;
    d->pause_reason[0] = '\0';
    if (d->paused_user) {
        ac_strlcpy(d->pause_reason, "paused by the operator; astrocalctl resume continues",
                   sizeof d->pause_reason);
        return;
    }
    update_throttle(d);
    /* Masters first: a build releases whole sessions. It takes one slot. */
    while (ac_sched_jobs(d) + (d->build != NULL) < max_in_flight(d) && d->build == NULL)
        if (!ac_sched_start_build(d))
            break;
    while (ac_sched_jobs(d) + (d->build != NULL) < max_in_flight(d) && d->nfree > 0) {
        if (!start_one(d))
            break;
    }
    /* Come back for retries whose back-off ends, and to re-check disk space. */
    {
        double when = 0;
        bool any = false;
        ac_err_t e = {0};
        uint64_t ms = 0;

        if (d->pause_reason[0] != '\0')
            ms = 10000;
        else if (ac_catalog_queue_next_retry(d->db, unix_now(), &when, &any, &e) == 0 && any)
            ms = (uint64_t)fmax(100.0, (when - unix_now()) * 1000.0 + 50.0);
        else if (d->backing_off)
            ms = 5000;
        if (ms > 0)
            uv_timer_start(&d->kick_timer, kick_timer_cb, ms, 0);
    }
}

static void kick_timer_cb(uv_timer_t *t)
{
    ac_sched_kick(t->data);
}

/* transient says whether an error may go away by itself (retry with back-off). */
static bool transient(int code)
{
    return code == AC_EBUSY || code == -ENOSPC || code == AC_ENOSPACE || code == -EIO ||
           code == -EAGAIN || code == -ENOMEM || code == -EINTR || code == -EDQUOT;
}

static json_t *quality_json(const ac_quality_t *q)
{
    return json_pack("{s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f}", "background", q->background, "noise",
                     q->noise, "dynamic_range", q->dynamic_range, "negative_fraction",
                     q->frac_negative, "zero_fraction", q->frac_zero, "saturated_fraction",
                     q->frac_saturated, "dead_fraction", q->frac_dead, "score", q->score);
}

/* record_success writes the result in the catalogue (one transaction). */
static int record_success(ac_daemon_t *d, ac_job_t *job, ac_err_t *e)
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
    rc = ac_catalog_record_calibrated(d->db, &rec, d->cfg.preserve_original_files, out_id, e);
    free(qtext);
    json_decref(q);
    return rc;
}

/* session_progress marks a session done when none of its files is left to run. */
void ac_sched_session_progress(ac_daemon_t *d, const char *session_id)
{
    int counts[AC_FILE_NSTATES];
    ac_qsession_t s = {0};
    ac_err_t e = {0};

    if (ac_catalog_queue_counts(d->db, session_id, counts, &e) != 0)
        return;
    if (counts[AC_FILE_PENDING] + counts[AC_FILE_RUNNING] > 0)
        return;
    if (ac_catalog_queue_session(d->db, session_id, &s, &e) != 0)
        return;
    if (s.state == AC_SESS_QUEUED) {
        ac_catalog_queue_set_session_state(d->db, session_id, AC_SESS_DONE, NULL, &e);
        ac_log_info("session %s done: %d calibrated, %d failed", session_id,
                    counts[AC_FILE_DONE], counts[AC_FILE_FAILED]);
        ac_daemon_event(
            d, "session_state",
            json_pack("{s:s,s:s,s:n}", "session_id", session_id, "state", "done", "reason"));
    }
    ac_catalog_qsession_clear(&s);
}

static void finish_failure(ac_daemon_t *d, ac_job_t *job, int code, const char *msg)
{
    ac_err_t e = {0};
    int attempts = job->attempts + 1;
    bool retry = transient(code) && attempts < d->cfg.max_attempts;

    if (retry) {
        double backoff = (double)d->cfg.retry_backoff_s * pow(2.0, (double)job->attempts);
        if (backoff > 3600)
            backoff = 3600;
        ac_log_warn("%s (attempt %d of %d, retrying in %.0f s)", msg, attempts,
                    d->cfg.max_attempts, backoff);
        ac_catalog_queue_defer(d->db, job->file_id, msg, unix_now() + backoff, &e);
    } else {
        ac_log_err("%s", msg);
        ac_catalog_queue_finish(d->db, job->file_id, AC_FILE_FAILED, msg, job->res.t_total, &e);
        d->files_failed++;
    }
    if (e.code != 0)
        ac_log_err("recording the failure of %s: %s", job->path, e.msg);
    ac_daemon_event(d, "file_failed",
                    json_pack("{s:s,s:s,s:s,s:i,s:b}", "file_id", job->file_id, "path",
                              job->path, "error", msg, "attempts", attempts, "will_retry",
                              retry));
}

static void after_cb(uv_work_t *req, int status)
{
    ac_job_t *job = req->data;
    ac_daemon_t *d = job->d;
    ac_light_result_t *r = &job->res;
    ac_err_t e = {0};

    d->inflight--;
    d->free_wbs[d->nfree++] = job->wb;
    if (status == UV_ECANCELED && r->status == 0)
        r->status = AC_ECANCELED;
    if (r->status == AC_ECANCELED) {
        if (job->user_cancel) {
            ac_catalog_queue_finish(d->db, job->file_id, AC_FILE_CANCELLED, "cancelled",
                                    r->t_total, &e);
        } else {
            /* Shut down or put back: not the file's fault, so no attempt is counted. */
            release_file(d, job->file_id, 0);
        }
    } else if (r->status == 0) {
        int rc = record_success(d, job, &e);
        if (rc == 0) {
            d->files_done++;
            d->done_times[d->ndone_times++ % 256] = ac_now_ns();
            ac_log_info("%s -> %s [%s] score %.0f, %.2f s", job->path, r->out_path, r->steps,
                        r->quality.score, r->t_total);
            if (d->cfg.calibration_quality_check && r->quality.score < 50)
                ac_log_warn("%s: low quality score %.0f (negative %.3f%%, saturated %.3f%%, "
                            "dead %.4f%%)",
                            r->out_path, r->quality.score, 100 * r->quality.frac_negative,
                            100 * r->quality.frac_saturated, 100 * r->quality.frac_dead);
            ac_daemon_event(d, "file_done",
                            json_pack("{s:s,s:s,s:s,s:f,s:o}", "file_id", job->file_id, "path",
                                      job->path, "output_path", r->out_path, "seconds",
                                      r->t_total, "quality", quality_json(&r->quality)));
        } else {
            char msg[1200];
            snprintf(msg, sizeof msg, "%s: calibrated to %s but not recorded: %s", job->path,
                     r->out_path, e.msg);
            finish_failure(d, job, rc, msg);
        }
    } else {
        finish_failure(d, job, r->status, r->err.msg[0] ? r->err.msg : ac_strerror(r->status));
    }
    ac_sched_session_progress(d, job->session_id);
    ac_mcache_release(&d->mc, job->set);
    job_unlink(d, job);
    free(job);
    if (!d->stopping)
        ac_sched_kick(d);
}

void ac_sched_cancel_session(ac_daemon_t *d, const char *session_id)
{
    ac_job_t *j = d->jobs, *next;

    for (; j != NULL; j = next) {
        next = j->next;
        if (strcmp(j->session_id, session_id) != 0)
            continue;
        if (j->submitted) {
            j->user_cancel = true;
            atomic_store(&j->ctl.cancel, 1);
        } else {
            ac_err_t e = {0};
            ac_catalog_queue_finish(d->db, j->file_id, AC_FILE_CANCELLED, "cancelled", NAN, &e);
            job_unlink(d, j);
            free(j);
        }
    }
}

void ac_sched_stop_all(ac_daemon_t *d, bool cancel_running)
{
    ac_job_t *j = d->jobs, *next;

    for (; j != NULL; j = next) {
        next = j->next;
        if (j->submitted) {
            if (cancel_running)
                atomic_store(&j->ctl.cancel, 1);
        } else {
            release_file(d, j->file_id, 0);
            job_unlink(d, j);
            free(j);
        }
    }
}

bool ac_sched_idle(const ac_daemon_t *d)
{
    return d->jobs == NULL && d->mc.loading == 0 && d->build == NULL;
}

double ac_sched_rate(const ac_daemon_t *d)
{
    uint64_t now = ac_now_ns(), window = 60ull * 1000000000ull, oldest = now;
    unsigned n = 0, total = d->ndone_times < 256 ? d->ndone_times : 256;
    double span;

    for (unsigned i = 0; i < total; i++) {
        uint64_t t = d->done_times[i];
        if (now - t <= window) {
            n++;
            if (t < oldest)
                oldest = t;
        }
    }
    if (n == 0)
        return 0;
    span = (double)(now - d->started_ns) / 1e9;
    if (span > 60)
        span = 60;
    if (span < 1)
        span = 1;
    return (double)n / span;
}

json_t *ac_sched_running_json(const ac_daemon_t *d)
{
    static const char *const steps[] = {"queued", "reading", "calibrating", "writing",
                                        "recording"};
    json_t *arr = json_array();

    for (const ac_job_t *j = d->jobs; j != NULL; j = j->next) {
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

void ac_sched_free(ac_daemon_t *d)
{
    ac_job_t *j = d->jobs, *next;

    for (; j != NULL; j = next) {
        next = j->next;
        free(j);
    }
    d->jobs = NULL;
    for (int i = 0; i < d->nwbs; i++)
        ac_workbuf_free(&d->wbs[i]);
    free(d->wbs);
    free(d->free_wbs);
    d->wbs = NULL;
    d->free_wbs = NULL;
}
