/*
 * metrics.h - the Prometheus text file for node_exporter's textfile collector
 * ([METRICS] textfile, every interval_s; docs/user-guide.md "Metrics").
 *
 * Every interval_s the loop thread gathers a snapshot (the scheduler's counters, the queue's
 * counts as last read, live ingest's counters) and formats it (a few KB, no I/O); a pool
 * thread writes it to "<textfile>.actmp-<pid>" and renames it over textfile, so the
 * collector never reads half a file. One write at a time: a tick that finds the last write
 * still queued behind long frames on the pool skips its turn. At a clean stop the loop
 * writes the file once more synchronously with astrocald_up 0.
 *
 * Ownership: ac_metrics_t is owned by the daemon; the snapshot is a plain value.
 * Thread: loop thread, except ac_metrics_format (pure, any thread).
 */
#ifndef AC_METRICS_H
#define AC_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "queue.h"
#include "scheduler.h"

/* What one write says. */
typedef struct ac_metrics_snap {
    int up; /* 1 running, 0 stopped */
    const char *version;
    double start_time_s; /* Unix time the daemon started */
    ac_sched_stats_t st;
    double backoff_s; /* st.backoff_s plus the current spell */
    bool have_counts; /* files/sessions read at least once */
    int files[AC_FILE_NSTATES];
    int sessions[AC_SESS_NSTATES];
    double rate_fps;
    int in_flight;
    bool ingest; /* live ingest on */
    double ingest_registered, ingest_duplicates;
} ac_metrics_snap_t;

/* ac_metrics_format returns the Prometheus text exposition (format 0.0.4) of s, malloc'd
 * (*len bytes), or NULL when out of memory. Names follow Prometheus conventions
 * (astrocald_..._total counters, seconds and bytes). */
char *ac_metrics_format(const ac_metrics_snap_t *s, size_t *len);

struct ac_daemon;
typedef struct ac_metrics {
    struct ac_daemon *d;
    uv_timer_t timer;
    uv_work_t work;
    bool writing; /* a write is on the pool */
    bool closing;
    char *text; /* the text being written (owned while writing) */
    size_t len;
    char path[4096];
    int rc; /* of the last write: 0 or -errno */
    int last_logged_rc;
} ac_metrics_t;

/* ac_metrics_start starts the timer (every [METRICS] interval_s; a tick with textfile
 * empty does nothing, so a reload can turn it on or off). 0 or a libuv error. */
int ac_metrics_start(ac_metrics_t *m, struct ac_daemon *d);

/* ac_metrics_stop writes the file a last time with astrocald_up 0 (synchronously: the loop
 * is ending) and closes the timer. */
void ac_metrics_stop(ac_metrics_t *m);

#endif
