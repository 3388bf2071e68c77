/*
 * sched_disk.c - disk space for the scheduler's outputs (see sched_int.h).
 *
 * Before a file starts, its output (width x height as float32) plus 1 MiB, the bytes
 * that outputs in flight on the same filesystem still have to write, and
 * free_disk_reserve_mib must fit in the free space of its output folder. When they do not,
 * or when a write meets ENOSPC, or SQLite answers "database or disk is full", the queue
 * pauses with the reason ("disk full: N MiB free on /x, need M MiB ...") and no file
 * counts an attempt (queue.h: ac_queue_full). The pause is re-checked at every kick (a
 * statvfs) and, by itself, on a timer with an exponential back-off: 5 s doubled per
 * re-check that still finds too little space, at most 5 minutes (FULL_RETRY_*); the
 * back-off starts over only once a file was calibrated again, so a disk that fills
 * again at once is looked at ever more rarely.
 *
 * Thread: loop thread only.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fsutil.h"
#include "hdr.h"
#include "imgio.h"
#include "log.h"
#include "sched_int.h"
#include "util.h"

#define FULL_RETRY_FIRST_S 5.0
#define FULL_RETRY_CAP_S 300.0
#define CATALOGUE_MARGIN (16ull << 20) /* free space the catalogue needs to resume */
#define OUTPUT_MARGIN (1ull << 20)     /* beside an output (its header, the folder) */
#define MIB(x) ((unsigned long long)((x) >> 20))

static int64_t dir_dev(const char *dir)
{
    struct stat st;

    return stat(dir, &st) == 0 ? (int64_t)st.st_dev : -1;
}

/* output_dir writes the folder job's output goes to. */
static void output_dir(const ac_sched_t *s, const ac_job_t *job, char *dir, size_t size)
{
    if (job->recal) /* beside the output it replaces */
        ac_path_dir(job->recal_output, dir, size);
    else if (s->cfg->output_dir[0] != '\0')
        ac_strlcpy(dir, s->cfg->output_dir, size);
    else
        ac_path_dir(job->path, dir, size);
}

/* bytes_left estimates what job still has to write: all of it until its writing pass,
 * then the rows not written yet, nothing once it commits. With hashing (two passes,
 * rows_total = 2 x rows) the first pass writes nothing. */
static uint64_t bytes_left(const ac_job_t *j)
{
    int step, done, total;
    double written;

    if (!j->submitted || j->out_rows <= 0)
        return j->out_bytes;
    step = atomic_load(&j->ctl.step);
    if (step >= AC_STEP_COMMITTING)
        return 0;
    done = atomic_load(&j->ctl.rows_done);
    total = atomic_load(&j->ctl.rows_total);
    written = total == 2 * j->out_rows ? done - j->out_rows : done;
    if (written <= 0)
        return j->out_bytes;
    if (written >= j->out_rows)
        return 0;
    return (uint64_t)((double)j->out_bytes * (1.0 - written / j->out_rows));
}

/* in_flight sums what the jobs other than except write on filesystem dev. */
static uint64_t in_flight(const ac_sched_t *s, int64_t dev, const ac_job_t *except)
{
    uint64_t n = 0;

    for (const ac_job_t *j = s->jobs; j != NULL; j = j->next)
        if (j != except && dev >= 0 && j->out_dev == dev)
            n += bytes_left(j);
    return n;
}

/* check computes what the pause's folder needs and whether it has it; the reason is
 * written into full.reason. */
static bool check(ac_sched_t *s)
{
    ac_sched_full_t *f = &s->full;
    uint64_t free_bytes = 0, reserve = s->cfg->free_disk_reserve_mib * 1048576ull, need, fly;
    ac_err_t e = {0};

    fly = in_flight(s, dir_dev(f->dir), NULL);
    need = (f->catalogue ? CATALOGUE_MARGIN : f->job_bytes + OUTPUT_MARGIN) + fly + reserve;
    if (ac_fsutil_free_bytes(f->dir, &free_bytes, &e) != 0)
        return true; /* cannot tell: let the next write say */
    snprintf(f->reason, sizeof f->reason,
             "disk full: %llu MiB free on %s, need %llu MiB (%s %llu MiB, outputs in flight "
             "%llu MiB, free_disk_reserve_mib %llu); calibration resumes by itself when "
             "there is free disk space",
             MIB(free_bytes), f->dir, MIB(need),
             f->catalogue ? "catalogue" : "output and margin",
             MIB(f->catalogue ? CATALOGUE_MARGIN : f->job_bytes + OUTPUT_MARGIN), MIB(fly),
             MIB(reserve));
    return free_bytes >= need;
}

static void enter(ac_sched_t *s)
{
    ac_sched_full_t *f = &s->full;
    bool was = f->active;

    f->active = true;
    check(s);
    ac_strlcpy(s->pause_reason, f->reason, sizeof s->pause_reason);
    if (ac_backoff_due(&f->retry, ac_sched_mono_now()))
        ac_backoff_fail(&f->retry, ac_sched_mono_now(), FULL_RETRY_FIRST_S, FULL_RETRY_CAP_S);
    if (was)
        return;
    ac_log_warn("queue paused: %s", f->reason);
    ac_sched_emit(s, "queue_state",
                  json_pack("{s:s,s:s}", "state", "paused", "reason", s->pause_reason));
}

bool ac_sched_disk_ok(ac_sched_t *s, ac_job_t *job)
{
    ac_sched_full_t *f = &s->full;
    char dir[4096];
    ac_hdr_t h;
    ac_meta_t m;
    ac_err_t e = {0};
    int64_t dev;
    uint64_t free_bytes = 0, need;

    output_dir(s, job, dir, sizeof dir);
    job->out_dev = dev = dir_dev(dir);
    ac_hdr_init(&h);
    if (ac_imgio_read_header(job->path, &h, &m, &e) != 0) {
        ac_hdr_free(&h);
        return true; /* the job itself will fail with the reason */
    }
    ac_hdr_free(&h);
    job->out_rows = m.height;
    job->out_bytes = (uint64_t)m.width * (uint64_t)m.height * 4u;
    if (ac_fsutil_free_bytes(dir, &free_bytes, &e) != 0)
        return true;
    need = job->out_bytes + OUTPUT_MARGIN + in_flight(s, dev, job) +
           s->cfg->free_disk_reserve_mib * 1048576ull;
    if (free_bytes >= need)
        return true;
    f->catalogue = false;
    ac_strlcpy(f->dir, dir, sizeof f->dir);
    f->job_bytes = job->out_bytes;
    enter(s);
    return false;
}

void ac_sched_disk_full(ac_sched_t *s, const ac_job_t *job, bool catalogue)
{
    ac_sched_full_t *f = &s->full;

    f->catalogue = catalogue || job == NULL;
    if (f->catalogue) {
        ac_path_dir(s->cfg->database, f->dir, sizeof f->dir);
        f->job_bytes = 0;
    } else {
        output_dir(s, job, f->dir, sizeof f->dir);
        f->job_bytes = job->out_bytes;
    }
    enter(s);
}

bool ac_sched_disk_paused(ac_sched_t *s, double *when)
{
    ac_sched_full_t *f = &s->full;
    double now = ac_sched_mono_now();

    if (!f->active)
        return false;
    if (check(s)) {
        f->active = false;
        ac_log_notice("free disk space is back on %s: queue resumed", f->dir);
        ac_sched_emit(s, "queue_state", json_pack("{s:s,s:n}", "state", "running", "reason"));
        return false;
    }
    if (ac_backoff_due(&f->retry, now))
        ac_backoff_fail(&f->retry, now, FULL_RETRY_FIRST_S, FULL_RETRY_CAP_S);
    ac_strlcpy(s->pause_reason, f->reason, sizeof s->pause_reason);
    *when = f->retry.until;
    return true;
}
