/*
 * sched_int.h - what the scheduler's files share (see scheduler.h for the behaviour); not
 * part of the scheduler's contract. The files:
 *   sched.c        claiming, starting, finishing light jobs; the kick; master failures;
 *   sched_disk.c   disk space: the reserve check before a file starts (counting the bytes
 *                  still to be written by outputs in flight) and the pause of a full disk
 *                  or catalogue, re-checked with a back-off;
 *   sched_build.c  master builds;
 *   sched_ops.c    the operator's requests, status, rate, running jobs.
 *
 * Thread: loop thread, except that a pool thread writes its job's res and ctl.
 */
#ifndef AC_SCHED_INT_H
#define AC_SCHED_INT_H

#include "scheduler.h"

struct ac_job {
    uv_work_t req;
    ac_sched_t *s;
    ac_job_t *next;
    char file_id[64], session_id[64], path[4096];
    char input_path[4096]; /* "" or a downloaded copy of the light (hooks.locate) */
    int attempts;
    int interrupted; /* deaths of the daemon while it ran (queue.h, Crashes) */
    bool suspect;    /* runs alone (queue.h, Crashes) */
    int crash_slot;  /* its slot in the crash record (crashrec.h), -1 when none */
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
    uint64_t out_bytes;      /* the output's pixels as float32 (0 when unknown) */
    int out_rows;            /* the light's height */
    int64_t out_dev;         /* st_dev of the output's folder (-1 when unknown) */
    bool recal;              /* a recalibration (queue.h): replaces recal_output */
    char recal_output[4096]; /* the output it replaces (same path) */
    bool kept_backup;        /* pool: the old output was kept as the backup */
};

/* ac_sched_unix_now returns the wall clock in seconds (the queue's not_before). */
double ac_sched_unix_now(void);

/* ac_sched_mono_now returns the monotonic clock in seconds (back-offs). */
double ac_sched_mono_now(void);

/* ---- sched_recal.c ---- */

/* ac_sched_recal_submit points a recalibration job's engine at its staged file (submit). */
void ac_sched_recal_submit(ac_job_t *job);

/* ac_sched_recal_work runs a recalibration job on the pool: the old output back if an
 * earlier attempt left it aside, the new output written to the staged name, then swapped
 * in under the old name (recalfile.h); job->res.out_path is then that name. */
void ac_sched_recal_work(ac_job_t *job);

/* ac_sched_recal_record records a recalibrated file (ac_queue_record_recalibrated) and
 * then removes the old output; rec is filled as for a first calibration. */
int ac_sched_recal_record(ac_sched_t *s, ac_job_t *job, const ac_calibrated_rec_t *rec,
                          ac_err_t *e);

/* ---- sched_release.c ---- */

/* ac_sched_release puts a claimed file back to pending without counting an attempt,
 * eligible again after delay_s; a row the catalogue refuses is remembered (and a full
 * catalogue pauses the queue). */
void ac_sched_release(ac_sched_t *s, const char *file_id, double delay_s);

/* ac_sched_remember keeps a running row the catalogue refused to put back;
 * ac_sched_retry_unreleased puts the remembered rows back (each kick). */
void ac_sched_remember(ac_sched_t *s, const char *file_id);
void ac_sched_retry_unreleased(ac_sched_t *s);

/* ac_sched_put_back_later releases a file for its plan or masters after its own back-off;
 * ac_sched_forget_putback forgets that back-off (the file starts). */
void ac_sched_put_back_later(ac_sched_t *s, const char *file_id);
void ac_sched_forget_putback(ac_sched_t *s, const char *file_id);

/* ac_sched_release_free frees the bookkeeping above (ac_sched_free). */
void ac_sched_release_free(ac_sched_t *s);

/* ac_sched_update_throttle decides whether the machine is busy (sched_ops.c): load
 * average per CPU or CPU pressure above their limits. While busy, at most one file runs. */
void ac_sched_update_throttle(ac_sched_t *s);

/* ---- sched_grade.c ---- */

/* ac_sched_grade_init makes the grader (ac_sched_init); ac_sched_grade_close stops its
 * thread and closes its handle (ac_sched_close). */
int ac_sched_grade_init(ac_sched_t *s, ac_err_t *e);
void ac_sched_grade_close(ac_sched_t *s);

/* ---- sched_disk.c ---- */

/* ac_sched_disk_ok checks free space for job's output (sizes it first: out_bytes,
 * out_rows, out_dev): the output, what outputs in flight on the same filesystem still have
 * to write, and free_disk_reserve_mib. When short, the queue pauses (disk full) and false
 * is returned. */
bool ac_sched_disk_ok(ac_sched_t *s, ac_job_t *job);

/* ac_sched_disk_full pauses the queue after a full disk: job's output folder (job may be
 * NULL: then the catalogue's folder, catalogue true). */
void ac_sched_disk_full(ac_sched_t *s, const ac_job_t *job, bool catalogue);

/* ac_sched_disk_paused re-checks a full-disk pause: true (pause_reason set) while space is
 * still short, false once it resumed or when there is none. *when receives the next
 * re-check (monotonic seconds) while paused. */
bool ac_sched_disk_paused(ac_sched_t *s, double *when);

#endif
