/*
 * sched.c - the scheduler (scheduler.h): claims pending files from the light queue, runs
 * them on the libuv pool within the worker, memory and disk budgets, and records each
 * outcome through the queue.
 *
 * The life of one file (style-anchors §9.1), every hand-off explicit:
 *  1. loop: ac_sched_kick sees a free slot (in flight < max_in_flight, or 1 while the
 *     machine is busy or a suspect is queued), claims the best pending file in one
 *     transaction (state running, committed before anything else happens, so a crash from
 *     here on is recovered at start-up: crashrec.h, queue.h "Crashes");
 *  2. loop: it checks free disk space for the output (sched_disk.c), acquires the
 *     session's prepared masters from the cache (loading them on the pool first if needed:
 *     the job waits, counted in flight), copies everything the job needs into an ac_job
 *     and calls uv_queue_work;
 *  3. pool: ac_engine_calibrate_light reads, calibrates, measures and writes the output
 *     durably (fsync of file and directory) and atomically, hashing it (SHA-256) as it
 *     writes (engine.c hash_output);
 *  4. loop: after_cb records the result in ONE transaction (ac_queue_record_calibrated:
 *     new fitsfile row, raw row marked, astrocal_record, file done); a failure is handed to
 *     ac_queue_fail, whose policy retries a transient one after a back-off, puts a file
 *     that met a full disk or catalogue back without an attempt (the queue pauses: disk
 *     full), and fails a permanent one with its reason; then the next file is claimed.
 * A crash between 3 and 4 leaves a complete output under its final name and the file
 * running in the queue: the restart calibrates it again, overwriting the identical
 * output, and records it once (ac_catalog_record_calibrated is idempotent).
 *
 * Nothing is retried without a back-off (each stated where it is defined): a file whose
 * plan is gone or whose masters failed goes back with its own put-back back-off; masters that
 * wait for memory with `mem_wait`; a transient master failure with the cache's back-off
 * (mcache.h); a full disk with sched_disk.c's; a failed file with the queue's policy.
 * A master set that fails validation is handled once per failure: the broken master (or
 * the set) is marked in the planner, which logs it once, and the session is planned again
 * from a zero-delay timer, never from inside the kick.
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

#include "crashrec.h"
#include "digest.h"
#include "fsutil.h"
#include "log.h"
#include "quality.h"
#include "sched_int.h"
#include "util.h"

#define MEM_WAIT_FIRST_S 1.0
#define MEM_WAIT_CAP_S 60.0

double ac_sched_unix_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double ac_sched_mono_now(void)
{
    return (double)ac_now_ns() / 1e9;
}

const double ac_sched_seconds_le[AC_SCHED_NBUCKETS] = {0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300};

/* stats_file counts a calibrated light for the metrics. */
static void stats_file(ac_sched_stats_t *st, const ac_light_result_t *r)
{
    int b = 0;

    while (b < AC_SCHED_NBUCKETS && r->t_total > ac_sched_seconds_le[b])
        b++;
    st->seconds_bucket[b]++;
    st->seconds_count++;
    st->seconds_sum += r->t_total;
    st->files_done++;
    st->bytes_read += r->in_bytes;
    st->bytes_written += r->out_bytes;
}

void ac_sched_emit(ac_sched_t *s, const char *event, json_t *data)
{
    if (s->hooks.event != NULL)
        s->hooks.event(s->hooks.ud, event, data);
    else
        json_decref(data);
}

void ac_sched_engine_opts(const struct ac_config *cfg, ac_engine_opts_t *o)
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

static void plan_timer_cb(uv_timer_t *t);

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
    uv_timer_init(loop, &s->plan_timer);
    uv_timer_init(loop, &s->grade_timer);
    s->kick_timer.data = s->build_timer.data = s->plan_timer.data = s->grade_timer.data = s;
    s->wbs = calloc((size_t)n, sizeof *s->wbs);
    s->free_wbs = calloc((size_t)n, sizeof *s->free_wbs);
    if (s->wbs == NULL || s->free_wbs == NULL)
        return ac_err_set(e, -ENOMEM, "out of memory");
    s->nwbs = n;
    for (int i = 0; i < n; i++)
        s->free_wbs[s->nfree++] = &s->wbs[i];
    return ac_sched_grade_init(s, e);
}

static int max_in_flight(const ac_sched_t *s)
{
    int m = s->cfg->max_in_flight > 0 ? s->cfg->max_in_flight : s->cfg->workers;

    if (m > s->cfg->workers)
        m = s->cfg->workers;
    return (s->backing_off || s->suspects > 0) && m > 1 ? 1 : m;
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

void ac_sched_plan_soon(ac_sched_t *s)
{
    if (!s->stopping && !uv_is_active((uv_handle_t *)&s->plan_timer))
        uv_timer_start(&s->plan_timer, plan_timer_cb, 0, 0);
}

static void plan_timer_cb(uv_timer_t *t)
{
    ac_sched_t *s = t->data;

    if (s->stopping)
        return;
    if (ac_planner_wake(s->planner) && s->hooks.plan_due != NULL)
        s->hooks.plan_due(s->hooks.ud);
}

static void work_cb(uv_work_t *req)
{
    ac_job_t *job = req->data;
    ac_err_t e = {0};
    char out[4096];

    ac_crashrec_thread(job->crash_slot);
    if (job->recal) {
        ac_sched_recal_work(job);
        ac_crashrec_thread(-1);
        return;
    }
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
    if (job->res.status == 0 && job->res.sha256[0] != '\0')
        ac_strlcpy(job->sha256, job->res.sha256, sizeof job->sha256);
    else if (job->res.status == 0 && ac_digest_file(job->res.out_path, AC_DIGEST_SHA256,
                                                    job->sha256, sizeof job->sha256, &e) != 0) {
        job->res.status = e.code;
        job->res.err = e;
    }
    ac_crashrec_thread(-1);
}

static void after_cb(uv_work_t *req, int status);
static void kick_timer_cb(uv_timer_t *t);
static void finish_failure(ac_sched_t *s, ac_job_t *job, int code, const char *msg,
                           bool catalogue);

/* A light being downloaded is looked at again after this many seconds. */
#define LOCATE_WAIT_S 2.0

void ac_sched_not_alone(ac_sched_t *s)
{
    if (s->alone[0] != '\0')
        ac_crashrec_alone(NULL);
    s->alone[0] = '\0';
}

/* mark_alone names job in the crash marker when it is calibrated alone and was
 * interrupted before: a death now would be blamed on it (queue.h, Crashes). */
static void mark_alone(ac_sched_t *s, const ac_job_t *job)
{
    if (job->interrupted < 1 || s->build != NULL || s->jobs != job || job->next != NULL)
        return;
    ac_strlcpy(s->alone, job->file_id, sizeof s->alone);
    ac_crashrec_alone(s->alone);
}

static void submit(ac_sched_t *s, ac_job_t *job)
{
    job->wb = s->free_wbs[--s->nfree];
    job->submitted = true;
    job->started_ns = ac_now_ns();
    s->inflight++;
    ac_sched_forget_putback(s, job->file_id);
    ac_sched_engine_opts(s->cfg, &job->eng);
    ac_strlcpy(job->eng.input_path, job->input_path, sizeof job->eng.input_path);
    if (job->recal)
        ac_sched_recal_submit(job);
    else if (job->own_subdir) {
        size_t n = strlen(job->eng.output_dir);
        snprintf(job->eng.output_dir + n, sizeof job->eng.output_dir - n, "/%s", job->file_id);
    }
    job->crash_slot = ac_crashrec_enter(job->file_id);
    mark_alone(s, job);
    job->req.data = job;
    uv_queue_work(s->loop, &job->req, work_cb, after_cb);
    ac_sched_emit(s, "file_started",
                  json_pack("{s:s,s:s,s:s}", "file_id", job->file_id, "path", job->path,
                            "session_id", job->session_id));
}

/* master_failure handles a set that failed, once per failure: a broken master, or a set
 * unusable together, is marked in the planner (logged there, once) and the sessions are
 * planned again soon; a transient failure waits for the cache's back-off (logged once per
 * failed load). */
static void master_failure(ac_sched_t *s, ac_mset_t *set, bool fresh)
{
    bool marked = false;

    if (set->transient) {
        if (fresh)
            ac_log_warn("masters: %s (trying again in %.0f s)", set->err.msg,
                        set->retry.delay_s);
        return;
    }
    if (set->bad_master >= 0)
        marked = ac_planner_mark_bad_master(s->planner, set->key.path[set->bad_master],
                                            set->err.msg);
    else
        marked = ac_planner_mark_bad_set(s->planner, &set->key, set->err.msg);
    if (marked || fresh) {
        ac_planner_request(s->planner, true);
        ac_sched_plan_soon(s);
    }
}

/* put_back_for_masters puts a file whose masters failed back in the queue: after the
 * set's back-off when the failure is transient, else with its put-back back-off (its
 * session is planned again meanwhile). */
static void put_back_for_masters(ac_sched_t *s, ac_mset_t *set, const char *file_id)
{
    if (set != NULL && set->transient) {
        double d = set->retry.until - ac_sched_mono_now();
        ac_sched_release(s, file_id, d > 0 ? d : 0);
    } else {
        ac_sched_put_back_later(s, file_id);
    }
}

void ac_sched_on_master_loaded(void *ud, ac_mset_t *set)
{
    ac_sched_t *s = ud;
    ac_job_t *j = s->jobs, *next;

    if (set->state == AC_MSET_FAILED && !s->stopping)
        master_failure(s, set, true);
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
                put_back_for_masters(s, set, j->file_id);
            else
                ac_sched_release(s, j->file_id, 0);
            job_unlink(s, j);
            free(j);
        }
    }
    ac_sched_kick(s);
    ac_sched_report_idle(s);
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

/* claim takes the next file and makes its job; NULL when nothing can start now (*more
 * false) or when the file was dealt with otherwise (*more true: try the next one). */
static ac_job_t *claim(ac_sched_t *s, bool *more)
{
    ac_qfile_t f = {0};
    ac_err_t e = {0};
    const ac_plan_t *plan;
    ac_job_t *job;
    bool found = false;
    int rc;

    *more = false;
    rc = ac_queue_claim(s->queue, ac_sched_unix_now(), NULL, &f, &found, &e);
    if (rc != 0) {
        if (!ac_db_unavailable(rc)) /* busy or lost: the daemon says so, once */
            ac_log_warn("claiming the next file: %s", e.msg);
        if (ac_queue_full(rc))
            ac_sched_disk_full(s, NULL, true);
        return NULL;
    }
    if (!found)
        return NULL;
    if (ac_queue_suspect(&f) && (ac_sched_jobs(s) > 0 || s->build != NULL)) {
        ac_sched_release(s, f.file_id, 0); /* a suspect runs alone: after the others */
        ac_queue_file_clear(&f);
        return NULL;
    }
    if (f.recal_output == NULL && calibrated_elsewhere(s, f.file_id)) {
        ac_log_info("%s was calibrated by another tool meanwhile: skipped", f.path);
        ac_queue_finish(s->queue, f.file_id, AC_FILE_SKIPPED,
                        "already calibrated (fitsFileCalibrated = 1)", NAN, &e);
        ac_queue_file_clear(&f);
        *more = true;
        return NULL;
    }
    plan = ac_planner_find(s->planner, f.session_id);
    if (plan == NULL || plan->status != AC_MATCH_READY) {
        /* Queued by an earlier run but not planned yet in this one, or set aside because
         * a master was found broken: planned again, the file back after a back-off. */
        ac_sched_put_back_later(s, f.file_id);
        ac_queue_file_clear(&f);
        ac_planner_request(s->planner, true);
        ac_sched_plan_soon(s);
        return NULL;
    }
    job = calloc(1, sizeof *job);
    if (job == NULL) {
        ac_sched_put_back_later(s, f.file_id);
        ac_queue_file_clear(&f);
        return NULL;
    }
    job->s = s;
    job->crash_slot = -1;
    job->out_dev = -1;
    ac_strlcpy(job->file_id, f.file_id, sizeof job->file_id);
    ac_strlcpy(job->session_id, f.session_id, sizeof job->session_id);
    ac_strlcpy(job->path, f.path, sizeof job->path);
    job->attempts = f.attempts;
    job->interrupted = f.interrupted;
    job->suspect = ac_queue_suspect(&f);
    job->key = plan->key;
    job->recal = f.recal_output != NULL;
    if (job->recal)
        ac_strlcpy(job->recal_output, f.recal_output, sizeof job->recal_output);
    ac_queue_file_clear(&f);
    if (s->hooks.locate != NULL) {
        char why[1200] = "";
        int where = s->hooks.locate(s->hooks.ud, job->file_id, job->path, job->input_path,
                                    sizeof job->input_path, why, sizeof why);
        if (where < 0) {
            if (where == -EAGAIN) /* being downloaded: the next file meanwhile */
                ac_sched_release(s, job->file_id, LOCATE_WAIT_S);
            else
                finish_failure(s, job, where, why, false);
            free(job);
            *more = true;
            return NULL;
        }
    }
    if (s->cfg->output_dir[0] != '\0' && !job->recal) {
        int same = 0;
        ac_queue_same_name(s->queue, job->file_id, ac_path_base(job->path), &same, &e);
        job->own_subdir = same > 0;
    }
    return job;
}

/* start_one claims a file and starts (or stages) its job. Returns false when nothing more
 * can start now. */
static bool start_one(ac_sched_t *s)
{
    ac_err_t e = {0};
    ac_calib_opts_t co;
    ac_job_t *job;
    bool more;
    int rc;

    if ((job = claim(s, &more)) == NULL)
        return more;
    if (!ac_sched_disk_ok(s, job)) {
        ac_sched_release(s, job->file_id, 0); /* the queue is paused until space returns */
        free(job);
        return false;
    }
    ac_config_to_calib_opts(s->cfg, &co);
    /* The strip buffers of running jobs are already outside the cache's budget. */
    rc = ac_mcache_acquire(s->mc, &job->key, &co, 0, &job->set, &e);
    if (rc == 0 || rc == AC_EBUSY) {
        ac_sched_not_alone(s); /* whoever ran alone has company now */
        job->next = s->jobs;
        s->jobs = job;
        if (rc == 0) {
            ac_backoff_reset(&s->mem_wait);
            submit(s, job);
        } else {
            job->set = NULL; /* not ours until it is ready */
            ac_sched_emit(s, "file_progress",
                          json_pack("{s:s,s:s,s:f}", "file_id", job->file_id, "step",
                                    "loading masters", "progress", 0.0));
        }
        return !job->suspect;
    }
    if (rc == -ENOMEM) {
        /* Masters in use by running files, or bigger than the budget: wait for memory. */
        double d = ac_backoff_fail(&s->mem_wait, ac_sched_mono_now(), MEM_WAIT_FIRST_S,
                                   MEM_WAIT_CAP_S);
        snprintf(s->pause_reason, sizeof s->pause_reason, "%s",
                 e.msg[0] ? e.msg : "waiting for memory: masters in use by running files");
        ac_sched_release(s, job->file_id, d);
        free(job);
        return false;
    }
    if (job->set != NULL)
        master_failure(s, job->set, false);
    put_back_for_masters(s, job->set, job->file_id);
    free(job);
    return false;
}

/* arm_timer comes back for retries whose back-off ends, a full disk's re-check (at
 * full_when, monotonic, when > 0), a deferred planning pass, and a busy machine. */
static void arm_timer(ac_sched_t *s, double full_when)
{
    double when = 0, now = ac_sched_mono_now(), pw = 0;
    bool any = false;
    ac_err_t e = {0};
    uint64_t ms = 0;

    if (full_when > 0)
        ms = (uint64_t)fmax(100.0, (full_when - now) * 1000.0 + 50.0);
    else if (s->pause_reason[0] != '\0')
        ms = (uint64_t)(ac_backoff_delay(MEM_WAIT_FIRST_S, MEM_WAIT_CAP_S,
                                         s->mem_wait.failures - 1) *
                        1000.0);
    else if (ac_queue_next_retry(s->queue, ac_sched_unix_now(), &when, &any, &e) == 0 && any)
        ms = (uint64_t)fmax(100.0, (when - ac_sched_unix_now()) * 1000.0 + 50.0);
    else if (s->backing_off || s->suspects > 0)
        ms = 5000;
    if (ms > 0)
        uv_timer_start(&s->kick_timer, kick_timer_cb, ms, 0);
    if (ac_planner_deferred(s->planner, &pw) && !uv_is_active((uv_handle_t *)&s->plan_timer))
        uv_timer_start(&s->plan_timer, plan_timer_cb,
                       (uint64_t)fmax(0.0, (pw - now) * 1000.0 + 50.0), 0);
}

void ac_sched_kick(ac_sched_t *s)
{
    double full_when = 0;
    ac_err_t e = {0};

    if (s->stopping)
        return;
    ac_sched_retry_unreleased(s);
    s->pause_reason[0] = '\0';
    if (s->paused_user) {
        ac_strlcpy(s->pause_reason, "paused by the operator; astrocalctl resume continues",
                   sizeof s->pause_reason);
        return;
    }
    if (ac_db_state(s->db) != AC_DB_OK) /* busy or lost: the daemon kicks once it is OK */
        return;
    if (ac_sched_disk_paused(s, &full_when)) {
        arm_timer(s, full_when);
        return;
    }
    ac_sched_update_throttle(s);
    if (ac_queue_suspects(s->queue, &s->suspects, &e) != 0)
        s->suspects = 0;
    /* Masters first: a build releases whole sessions. It takes one slot. */
    while (ac_sched_jobs(s) + (s->build != NULL) < max_in_flight(s) && s->build == NULL)
        if (!ac_sched_start_build(s))
            break;
    while (ac_sched_jobs(s) + (s->build != NULL) < max_in_flight(s) && s->nfree > 0 &&
           !s->full.active) {
        if (!start_one(s))
            break;
    }
    arm_timer(s, s->full.active ? s->full.retry.until : 0);
    ac_sched_grade_kick(s); /* only when nothing else runs */
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
    rc = job->recal ? ac_sched_recal_record(s, job, &rec, e)
                    : ac_queue_record_calibrated(s->queue, &rec,
                                                 s->cfg->preserve_original_files, out_id, e);
    free(qtext);
    json_decref(q);
    return rc;
}

/* finish_failure records a failed attempt: retried after a back-off or failed for good, as
 * the queue's policy decides; a full disk or catalogue puts the file back without an
 * attempt and pauses the queue (catalogue: the code came from recording it). */
static void finish_failure(ac_sched_t *s, ac_job_t *job, int code, const char *msg,
                           bool catalogue)
{
    ac_queue_verdict_t v = {.attempts = job->attempts + 1};
    ac_err_t e = {0};
    int rc = ac_queue_fail(s->queue, job->file_id, code, msg, job->res.t_total,
                           ac_sched_unix_now(), &v, &e);

    if (rc != 0) {
        ac_log_err("%s; recording the failure of %s: %s", msg, job->path, e.msg);
        ac_sched_remember(s, job->file_id);
        if (ac_queue_full(rc))
            ac_sched_disk_full(s, NULL, true);
    } else if (v.full) {
        ac_log_warn("%s (back in the queue, no attempt counted)", msg);
    } else if (v.retry) {
        ac_log_warn("%s (attempt %d of %d, retrying in %.0f s)", msg, v.attempts,
                    s->queue->policy.max_attempts, v.backoff_s);
    } else {
        ac_log_event(AC_LOG_ERR, AC_MSGID_FILE_FAILED, job->session_id, job->file_id, "%s",
                     msg);
        if (s->hooks.failed != NULL)
            s->hooks.failed(s->hooks.ud, "file", job->session_id, job->file_id, job->path, msg);
    }
    if (v.retry)
        s->stats.files_retried++;
    else if (rc == 0 && !v.full)
        s->stats.files_failed++;
    if (ac_queue_full(code))
        ac_sched_disk_full(s, catalogue ? NULL : job, catalogue);
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
    s->grade_busy_at = ac_sched_mono_now(); /* grading waits AC_GRADE_QUIET_S after this */
    s->free_wbs[s->nfree++] = job->wb;
    ac_crashrec_leave(job->crash_slot);
    if (strcmp(s->alone, job->file_id) == 0)
        ac_sched_not_alone(s);
    if (status == UV_ECANCELED && r->status == 0)
        r->status = AC_ECANCELED;
    if (r->status == AC_ECANCELED) {
        if (job->user_cancel) {
            s->stats.files_cancelled++;
            ac_queue_finish(s->queue, job->file_id, AC_FILE_CANCELLED, "cancelled", r->t_total,
                            &e);
        } else {
            /* Shut down or put back: not the file's fault, so no attempt is counted. */
            ac_sched_release(s, job->file_id, 0);
        }
    } else if (r->status == 0) {
        int rc = record_success(s, job, &e);
        if (rc == 0) {
            s->done_times[s->ndone_times++ % 256] = ac_now_ns();
            stats_file(&s->stats, r);
            ac_backoff_reset(&s->full.retry);
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
            finish_failure(s, job, rc, msg, true);
        }
    } else {
        finish_failure(s, job, r->status, r->err.msg[0] ? r->err.msg : ac_strerror(r->status),
                       false);
    }
    ac_mcache_release(s->mc, job->set);
    job_unlink(s, job);
    free(job);
    if (!s->stopping)
        ac_sched_kick(s);
    ac_sched_report_idle(s);
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
            ac_sched_release(s, j->file_id, 0);
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
    uv_timer_stop(&s->plan_timer);
    uv_timer_stop(&s->grade_timer);
    put_back(s, false);
}

void ac_sched_cancel_running(ac_sched_t *s)
{
    put_back(s, true);
    ac_sched_stop_build(s);
}

void ac_sched_cancel_jobs(ac_sched_t *s, const char *session_id, const char *file_id)
{
    ac_job_t *j = s->jobs, *next;

    for (; j != NULL; j = next) {
        next = j->next;
        if ((session_id != NULL && strcmp(j->session_id, session_id) != 0) ||
            (file_id != NULL && strcmp(j->file_id, file_id) != 0))
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

void ac_sched_close(ac_sched_t *s)
{
    ac_sched_grade_close(s);
    if (!uv_is_closing((uv_handle_t *)&s->kick_timer))
        uv_close((uv_handle_t *)&s->kick_timer, NULL);
    if (!uv_is_closing((uv_handle_t *)&s->build_timer))
        uv_close((uv_handle_t *)&s->build_timer, NULL);
    if (!uv_is_closing((uv_handle_t *)&s->plan_timer))
        uv_close((uv_handle_t *)&s->plan_timer, NULL);
    if (!uv_is_closing((uv_handle_t *)&s->grade_timer))
        uv_close((uv_handle_t *)&s->grade_timer, NULL);
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
    ac_sched_release_free(s);
    s->wbs = NULL;
    s->free_wbs = NULL;
}
