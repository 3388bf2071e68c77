/*
 * scheduler.h - the scheduler (sched.c, sched_ops.c, sched_build.c; not "sched.h", which
 * would hide the system's <sched.h>): runs the light queue. It claims pending files
 * (ac_queue_claim), runs each on the libuv pool with its session's prepared masters within the
 * worker, memory and disk budgets, records the outcome through the queue, and runs the master
 * builds (sched_build.c) in one of the same slots. The operator's requests on the queue
 * (sched_ops.c: enqueue, pause, resume, cancel, retry) come here because each ends by
 * starting or stopping work: the queue decides what may change, the scheduler acts on it.
 *
 * Below it: the queue (queue.h), the planner (planner.h: a session's masters, broken
 * masters, requests for a planning pass) and the master cache (mcache.h). Above it: its
 * owner (daemon.c), which it reaches only through the hooks.
 *
 * Pauses and back-offs (sched.c, sched_disk.c): the queue pauses by itself for a full
 * disk or catalogue (re-checked with a back-off, resumed by itself; no file counts an
 * attempt for it) and for memory; while a suspect is queued (queue.h, "Crashes") one job
 * runs at a time; a master set that fails is handled once (the planner marks it) and the
 * files wait for a back-off, never in a loop; `status` shows no ETA while paused. The
 * crash record (crashrec.h) knows which files are on the pool and which one runs alone.
 *
 * Ownership: the owner embeds an ac_sched_t, sets it up with ac_sched_init, closes its
 * handles with ac_sched_close at shutdown and frees it with ac_sched_free after the loop
 * ended; everything passed to ac_sched_init is borrowed and outlives it (cfg may change in
 * place on reload). JSON returned is owned by the caller.
 * Thread: loop thread only; a pool thread sees only its own job (sched.c) or build
 * (sched_build.c), never this struct.
 */
#ifndef AC_SCHEDULER_H
#define AC_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "backoff.h"
#include "build.h"
#include "config.h"
#include "db.h"
#include "engine.h"
#include "err.h"
#include "mcache.h"
#include "planner.h"
#include "queue.h"

/* Reports from the scheduler to its owner, on the loop thread. */
typedef struct ac_sched_hooks {
    /* event: an event for watchers (file_*, queue_state, session_state, master_new); data
     * is taken. */
    void (*event)(void *ud, const char *event, json_t *data);
    /* plan_due: run the planning pass requested from the planner (ac_planner_request), if
     * any, now: a master build ended, or a calibration session settled. */
    void (*plan_due)(void *ud);
    /* master_built: a master build registered its Masters row (the owner records it as
     * seen, so that it is not announced again as another program's). */
    void (*master_built)(void *ud);
    /* idle: the last running job, master load or master build just ended (the owner can
     * tell --drain that the work is done without waiting for a timer). */
    void (*idle)(void *ud);
    /* failed (may be NULL): a light failed for good (what "file": its session, file id and
     * path) or a master build failed (what: the master's kind, "bias"...; session_id: the
     * build key; path: the master it was to write, may be NULL), with the reason. */
    void (*failed)(void *ud, const char *what, const char *session_id, const char *file_id,
                   const char *path, const char *reason);
    /* locate (may be NULL): where a claimed light's pixels are (cloud sync, fetch.h): 0 at
     * its path; 1 in a downloaded copy written to input; -EAGAIN not known yet or being
     * downloaded (the file waits a little); -ENOENT missing and not to be had, why set. */
    int (*locate)(void *ud, const char *file_id, const char *path, char *input, size_t isize,
                  char *why, size_t wsize);
    void *ud;
} ac_sched_hooks_t;

typedef struct ac_job ac_job_t;
struct ac_build_job;

/* A full disk or catalogue: the queue pauses until space returns (sched_disk.c). */
typedef struct ac_sched_full {
    bool active;
    bool catalogue;     /* SQLite's "database or disk is full" on the catalogue */
    char dir[4096];     /* the folder whose filesystem is full */
    uint64_t job_bytes; /* the output that did not fit (0 for the catalogue) */
    ac_backoff_t retry; /* re-checks (monotonic seconds): 5 s doubled, at most 5 minutes; reset
                         * only once a file is calibrated again */
    char reason[768];
} ac_sched_full_t;

/* Counters since start for the metrics (serve/metrics.h); loop thread. */
#define AC_SCHED_NBUCKETS 10
/* Upper bounds of the seconds-per-file histogram buckets (+Inf is implicit). */
extern const double ac_sched_seconds_le[AC_SCHED_NBUCKETS];
typedef struct ac_sched_stats {
    uint64_t files_done, files_failed, files_retried, files_cancelled;
    uint64_t bytes_read, bytes_written;             /* of calibrated lights */
    uint64_t seconds_bucket[AC_SCHED_NBUCKETS + 1]; /* per bucket, not cumulative; last +Inf */
    uint64_t seconds_count;
    double seconds_sum;
    uint64_t masters_built, masters_rejected;
    double backoff_s;          /* seconds spent backing off (throttle), ended spells */
    uint64_t backoff_since_ns; /* start of the current spell, 0 when not backing off */
} ac_sched_stats_t;

typedef struct ac_sched {
    /* Borrowed (ac_sched_init). */
    uv_loop_t *loop;
    ac_db_t *db;
    ac_queue_t *queue;
    ac_planner_t *planner;
    ac_mcache_t *mc;
    const struct ac_config *cfg;
    ac_sched_hooks_t hooks;

    ac_job_t *jobs; /* in flight: waiting for masters, running, or recording */
    int inflight;   /* work submitted to the pool: light jobs and the build */
    ac_workbuf_t *wbs;
    ac_workbuf_t **free_wbs;
    int nwbs, nfree;
    struct ac_build_job *build; /* the master build running, or NULL */
    struct ac_grader *grader;   /* the grading stage's thread (sched_grade.c) */
    struct ac_grade_unrecorded *grade_unrecorded; /* a result the catalogue refused */
    double grade_busy_at; /* monotonic s when calibration or a build last ran (grading waits
                             AC_GRADE_QUIET_S after it) */

    bool paused_user;            /* astrocalctl pause */
    char pause_reason[768];      /* why nothing starts ("" when running) */
    bool backing_off;            /* the machine is busy: one file at a time */
    ac_sched_full_t full;        /* a full disk or catalogue */
    ac_backoff_table_t putbacks; /* files put back for their masters or plan, each with its
                                  * back-off (monotonic s): 1 s doubled, at most 5 minutes;
                                  * forgotten when the file starts */
    ac_backoff_t mem_wait;       /* masters waiting for memory: 1 s doubled, at most 1 minute */
    int suspects;                /* ac_queue_suspects at the last kick: one job at a time */
    char alone[64];              /* the file in the crash marker (crashrec.h), "" when none */
    ac_backoff_table_t build_waits; /* builds deferred, each with its back-off */
    char (*unreleased)[64]; /* running rows the catalogue refused to put back: retried */
    int nunreleased, capunreleased;
    char throttle_reason[128];
    double load_per_cpu, cpu_pressure;
    bool stopping; /* ac_sched_stop: nothing new starts */
    bool draining; /* the owner exits once the queue is empty (--drain): state "draining" */
    uint64_t started_ns;
    uint64_t done_times[256]; /* completion times (ns) for the rate, ring buffer */
    unsigned ndone_times;
    ac_sched_stats_t stats;
    uv_timer_t kick_timer, build_timer, plan_timer, grade_timer;
} ac_sched_t;

/* ac_sched_init sets up s (zeroed by the caller or not) with one strip buffer per worker
 * and its timers. 0 or -ENOMEM. */
int ac_sched_init(ac_sched_t *s, uv_loop_t *loop, ac_db_t *db, ac_queue_t *queue,
                  ac_planner_t *planner, ac_mcache_t *mc, const struct ac_config *cfg,
                  const ac_sched_hooks_t *hooks, ac_err_t *e);
/* ac_sched_close closes the scheduler's handles (shutdown, once nothing is in flight). */
void ac_sched_close(ac_sched_t *s);
void ac_sched_free(ac_sched_t *s);

/* ac_sched_kick starts what can start now: a master build first, then files, while slots
 * are free (max_in_flight, or one while the machine is busy), and arms a timer for the
 * next retry or re-check. */
void ac_sched_kick(ac_sched_t *s);

/* ac_sched_on_master_loaded is the master cache's callback (ud = the scheduler): jobs
 * waiting for the set start, or go back to the queue when it failed. */
void ac_sched_on_master_loaded(void *ud, ac_mset_t *set);

/* ac_sched_stop makes the scheduler start nothing new and puts jobs still waiting for
 * masters back in the queue; running work goes on. */
void ac_sched_stop(ac_sched_t *s);

/* ac_sched_cancel_running asks running files and the build to stop at their next strip;
 * the files go back to the queue without an attempt counted. */
void ac_sched_cancel_running(ac_sched_t *s);

bool ac_sched_idle(const ac_sched_t *s); /* nothing in flight (grading included), no master
                                            set loading */
/* ac_sched_report_idle calls the idle hook when the scheduler is idle (completion paths). */
void ac_sched_report_idle(ac_sched_t *s);
int ac_sched_jobs(const ac_sched_t *s); /* light jobs running or loading masters */

/* What `status` shows of the queue and the scheduler. Strings borrowed from s. */
typedef struct ac_sched_status {
    const char *state;        /* "running", "paused" or "draining" */
    const char *pause_reason; /* "" when running */
    int in_flight;            /* ac_sched_jobs */
    int files[AC_FILE_NSTATES];
    int sessions[AC_SESS_NSTATES]; /* done: those whose outcome is done */
    int partial, failed;           /* done sessions whose outcome is partial, failed */
    double rate_fps;               /* files per second over the last minute */
    double eta_s;        /* pending and running files at that rate; NAN when unknown */
    uint64_t used_bytes; /* master cache plus the strips of running work */
    double load_per_cpu, cpu_pressure; /* cpu_pressure NAN when unknown */
    bool backing_off;
    const char *throttle_reason; /* "" when not busy */
} ac_sched_status_t;

int ac_sched_status(const ac_sched_t *s, ac_sched_status_t *st, ac_err_t *e);
const char *ac_sched_state(const ac_sched_t *s); /* as ac_sched_status_t.state */

/* ac_sched_running_json lists the light jobs in flight (file, step, progress, seconds);
 * ac_sched_build_json describes the master build running (null when none). */
json_t *ac_sched_running_json(const ac_sched_t *s);
json_t *ac_sched_build_json(const ac_sched_t *s);

/* ---- The operator's requests (sched_ops.c) ----
 * Each applies the queue's rule (queue.h: -ENOENT, -EEXIST when the state forbids it),
 * then acts: plans, stops jobs, starts work. *after (may be NULL) receives the session's
 * row once changed (the caller clears it). */

/* ac_sched_enqueue queues a session again (priority when not NULL) and plans it now,
 * whatever enable_light_calibration says. */
int ac_sched_enqueue(ac_sched_t *s, const char *session_id, const int *priority,
                     ac_qsession_t *after, ac_err_t *e);

/* ac_sched_pause_session pauses a session, or resumes it (then plans it again: back to
 * waiting if a master went away). */
int ac_sched_pause_session(ac_sched_t *s, const char *session_id, bool pause,
                           ac_qsession_t *after, ac_err_t *e);

/* ac_sched_pause_queue pauses or resumes the whole queue (running files finish). */
void ac_sched_pause_queue(ac_sched_t *s, bool pause);

/* ac_sched_cancel cancels a session (session_id), one file (file_id), or everything not
 * finished (both NULL): pending files at once, running ones at their next strip. *n (may
 * be NULL) counts both. */
int ac_sched_cancel(ac_sched_t *s, const char *session_id, const char *file_id, int *n,
                    ac_err_t *e);

/* ac_sched_retry retries failed files: the one file, or a session's, or (both NULL) every
 * failed file and every failed or rejected master build. *changed counts files and builds. */
int ac_sched_retry(ac_sched_t *s, const char *file_id, const char *session_id, int *changed,
                   ac_err_t *e);

/* ---- Master builds (sched_build.c) ---- */

/* ac_sched_engine_opts fills a light job's engine options from the configuration (output
 * folder, suffix, compression...). */
void ac_sched_engine_opts(const struct ac_config *cfg, ac_engine_opts_t *o);

/* ac_sched_build_opts fills the master builder's options from the configuration. */
void ac_sched_build_opts(const struct ac_config *cfg, ac_build_opts_t *o);

/* ac_sched_scan_builds queues the master builds the catalogue calls for; while live ingest
 * still has frames settling (frames_settling) it only looks again later. */
int ac_sched_scan_builds(ac_sched_t *s, bool frames_settling, ac_err_t *e);

/* ---- Shared by the scheduler's files ---- */

/* ---- grading (sched_grade.c, docs/grading.md) ---- */

/* Seconds without calibration or a master build before grading starts. */
#define AC_GRADE_QUIET_S 5.0

/* ac_sched_grade_kick starts the next grading task when nothing else runs (called at the
 * end of every kick). */
void ac_sched_grade_kick(ac_sched_t *s);
bool ac_sched_grade_busy(const ac_sched_t *s);

/* ac_sched_grade_override sets (verdict "accepted" / "rejected") or clears (NULL) the
 * operator's verdict of a graded light (file: its raw or calibrated path or id); the
 * QREJECT card follows. *session (64 bytes) receives its session. -ENOENT when unknown. */
int ac_sched_grade_override(ac_sched_t *s, const char *file, const char *verdict, char *session,
                            ac_err_t *e);

/* ac_sched_grade_again forgets session_id's grades (failed_only: only the failed ones, as
 * those calibrated before grading existed) so that they are measured again; *n receives
 * how many. */
int ac_sched_grade_again(ac_sched_t *s, const char *session_id, bool failed_only, int *n,
                         ac_err_t *e);

/* ac_sched_emit hands an event to the owner's hook (data taken, also without a hook). */
void ac_sched_emit(ac_sched_t *s, const char *event, json_t *data);

/* ac_sched_recal_drop_backup removes, on the pool, the old output kept as BACKUP beside
 * final (recalfile.h) once file_id's recalibration is recorded with it as recal_backup,
 * then forgets it (ac_queue_recal_backup_gone); the next start removes it if this fails
 * (sched_recal.c; used by import_results.c as well). */
void ac_sched_recal_drop_backup(ac_sched_t *s, const char *file_id, const char *final);

/* ac_sched_recal_recover runs at start-up, before any file runs (sched_recal.c): each
 * file whose recalibration was not recorded gets its old output back (*restored), and
 * the old outputs of recorded ones are removed (*removed). */
int ac_sched_recal_recover(ac_queue_t *q, int *restored, int *removed, ac_err_t *e);

/* ac_sched_use pins masters for a session, or with u->spec all NULL and unpin removes its
 * pins (astrocalctl use; planner.h ac_planner_use / ac_planner_unpin), then plans the
 * session again and starts what can start. *out receives the reply (owned). */
int ac_sched_use(ac_sched_t *s, const ac_planner_use_t *u, bool unpin, json_t **out,
                 ac_err_t *e);

/* ac_sched_recalibrate recalibrates a done session (astrocalctl recalibrate): pins the
 * masters given in u (as ac_sched_use; u->spec all NULL: none), queues its done files
 * again (ac_queue_recalibrate), plans it and starts. *out receives the reply (owned). */
int ac_sched_recalibrate(ac_sched_t *s, const ac_planner_use_t *u, json_t **out, ac_err_t *e);

/* ac_sched_cancel_jobs stops the jobs of a session, or of one file, or (both NULL) every
 * job: running ones at their next strip (they end cancelled), those waiting for masters at
 * once. */
void ac_sched_cancel_jobs(ac_sched_t *s, const char *session_id, const char *file_id);

/* ac_sched_rate gives the files calibrated per second over the last minute. */
double ac_sched_rate(const ac_sched_t *s);

/* ac_sched_not_alone removes the crash marker (crashrec.h): another job or a build joins
 * the file that was being calibrated alone. */
void ac_sched_not_alone(ac_sched_t *s);

/* ac_sched_plan_soon runs the requested planning pass (plan_due) from a zero-delay timer:
 * after the current callback, never inside the kick. */
void ac_sched_plan_soon(ac_sched_t *s);

/* ac_sched_start_build claims and starts one build (false when none could
 * start); ac_sched_stop_build asks the running build to stop. */
bool ac_sched_start_build(ac_sched_t *s);
void ac_sched_stop_build(ac_sched_t *s);

#endif
