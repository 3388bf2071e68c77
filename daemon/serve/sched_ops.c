/*
 * sched_ops.c - the operator's requests on the queue (astrocalctl enqueue, pause, resume,
 * cancel, retry) and what `status` shows of the scheduler (see scheduler.h).
 *
 * Each request applies the queue's rule first (queue.h decides whether the change is
 * allowed and makes it in one transaction), then acts on the work: plans the session now,
 * stops its jobs, or starts what can start.
 *
 * Thread: loop thread only.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sched_int.h"
#include "util.h"

static json_t *text_or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

/* changed_row reads a session's row after a request changed it (after may be NULL). */
static int changed_row(ac_sched_t *s, const char *session_id, ac_qsession_t *after, ac_err_t *e)
{
    return after != NULL ? ac_queue_session(s->queue, session_id, after, e) : 0;
}

int ac_sched_enqueue(ac_sched_t *s, const char *session_id, const int *priority,
                     ac_qsession_t *after, ac_err_t *e)
{
    ac_err_t pe = {0};
    int rc;

    if ((rc = ac_queue_enqueue(s->queue, session_id, priority, e)) != 0)
        return rc;
    /* A session without uncalibrated lights has nothing to plan: it stays as it is. */
    rc = ac_planner_plan_session(s->planner, session_id, &pe);
    if (rc == -ENOENT) { /* or a recalibration (queue.h) */
        bool ready;
        ac_err_clear(&pe);
        rc = ac_planner_plan_recal(s->planner, session_id, &ready, &pe);
    }
    if (rc != 0 && rc != -ENOENT)
        return ac_err_set(e, rc, "%s", pe.msg);
    ac_sched_kick(s);
    return changed_row(s, session_id, after, e);
}

int ac_sched_pause_session(ac_sched_t *s, const char *session_id, bool pause,
                           ac_qsession_t *after, ac_err_t *e)
{
    bool resumed = false;
    int rc;

    if (pause)
        rc = ac_queue_pause(s->queue, session_id, "paused by astrocalctl", e);
    else
        rc = ac_queue_resume(s->queue, session_id, &resumed, e);
    if (rc != 0)
        return rc;
    if (resumed) {
        ac_err_t pe = {0};
        /* Planned again: back to waiting if a master went away meanwhile. */
        ac_planner_plan_session(s->planner, session_id, &pe);
    }
    ac_sched_kick(s);
    return changed_row(s, session_id, after, e);
}

void ac_sched_pause_queue(ac_sched_t *s, bool pause)
{
    s->paused_user = pause;
    ac_log_notice("queue %s by the operator", pause ? "paused" : "resumed");
    ac_sched_kick(s);
    ac_sched_emit(s, "queue_state",
                  json_pack("{s:s,s:o}", "state", ac_sched_state(s), "reason",
                            text_or_null(s->pause_reason)));
}

int ac_sched_cancel(ac_sched_t *s, const char *session_id, const char *file_id, int *n,
                    ac_err_t *e)
{
    bool running = false;
    int rc;

    if (file_id != NULL) {
        if ((rc = ac_queue_cancel_file(s->queue, file_id, &running, e)) != 0)
            return rc;
        if (n != NULL)
            *n = 1;
        if (running)
            ac_sched_cancel_jobs(s, NULL, file_id);
        ac_log_notice("file %s cancelled by the operator", file_id);
        ac_sched_kick(s);
        return 0;
    }
    rc = session_id != NULL ? ac_queue_cancel(s->queue, session_id, n, e)
                            : ac_queue_cancel_all(s->queue, n, e);
    if (rc != 0)
        return rc;
    ac_sched_cancel_jobs(s, session_id, NULL);
    if (session_id == NULL) {
        ac_log_notice("every unfinished session cancelled by the operator");
        return 0;
    }
    ac_log_notice("session %s cancelled by the operator", session_id);
    ac_sched_emit(s, "session_state",
                  json_pack("{s:s,s:s,s:s}", "session_id", session_id, "state", "cancelled",
                            "reason", "cancelled by astrocalctl"));
    return 0;
}

int ac_sched_retry(ac_sched_t *s, const char *file_id, const char *session_id, int *changed,
                   ac_err_t *e)
{
    int n = 0, rc;

    if ((rc = ac_queue_retry(s->queue, file_id, session_id, &n, e)) != 0)
        return rc;
    if (file_id == NULL && session_id == NULL) {
        /* Master builds that failed or were rejected get another chance too. */
        int builds = 0;
        if (ac_catalog_build_retry(s->db, NULL, &builds, NULL) == 0 && builds > 0)
            ac_log_notice("retrying %d master build%s", builds, builds == 1 ? "" : "s");
        n += builds;
    }
    if (changed != NULL)
        *changed = n;
    ac_sched_kick(s);
    return 0;
}

/* ---- status ---- */

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

void ac_sched_update_throttle(ac_sched_t *s)
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
    if (busy != s->backing_off) {
        uint64_t now = ac_now_ns();
        ac_log_notice("%s", busy ? s->throttle_reason : "machine no longer busy: full speed");
        if (!busy && s->stats.backoff_since_ns != 0)
            s->stats.backoff_s += (double)(now - s->stats.backoff_since_ns) / 1e9;
        s->stats.backoff_since_ns = busy ? now : 0;
    }
    s->backing_off = busy;
}

const char *ac_sched_state(const ac_sched_t *s)
{
    if (s->stopping || s->draining)
        return "draining";
    return s->pause_reason[0] ? "paused" : "running";
}

int ac_sched_status(const ac_sched_t *s, ac_sched_status_t *st, ac_err_t *e)
{
    ac_qsession_list_t sl = {0};
    int rc, left;

    memset(st, 0, sizeof *st);
    if ((rc = ac_queue_counts(s->queue, NULL, st->files, e)) != 0 ||
        (rc = ac_queue_sessions(s->queue, &sl, e)) != 0)
        return rc;
    for (size_t i = 0; i < sl.n; i++) {
        const char *shown = ac_queue_sess_shown(&sl.items[i]);
        if (strcmp(shown, "partial") == 0)
            st->partial++;
        else if (strcmp(shown, "failed") == 0)
            st->failed++;
        else if ((unsigned)sl.items[i].state < AC_SESS_NSTATES)
            st->sessions[sl.items[i].state]++;
    }
    ac_queue_sessions_free(&sl);
    st->state = ac_sched_state(s);
    st->pause_reason = s->pause_reason;
    st->in_flight = ac_sched_jobs(s);
    st->rate_fps = ac_sched_rate(s);
    left = st->files[AC_FILE_PENDING] + st->files[AC_FILE_RUNNING];
    /* No ETA while paused (by the operator, a full disk, memory): nothing gets done. */
    st->eta_s =
        left > 0 && st->rate_fps > 0 && s->pause_reason[0] == '\0' ? left / st->rate_fps : NAN;
    st->used_bytes = s->mc->used + (uint64_t)s->inflight * s->cfg->job_memory_mib * 1048576u;
    st->load_per_cpu = s->load_per_cpu;
    st->cpu_pressure = s->cpu_pressure;
    st->backing_off = s->backing_off;
    st->throttle_reason = s->throttle_reason;
    return 0;
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

bool ac_sched_idle(const ac_sched_t *s)
{
    return s->jobs == NULL && s->mc->loading == 0 && s->build == NULL &&
           !ac_sched_grade_busy(s);
}

void ac_sched_report_idle(ac_sched_t *s)
{
    if (ac_sched_idle(s) && s->hooks.idle != NULL)
        s->hooks.idle(s->hooks.ud);
}
