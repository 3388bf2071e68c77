/*
 * daemon.h - the astrocald server object: everything the daemon's loop thread owns.
 *
 * One struct ac_daemon holds the configuration, the read-write catalogue connection, the
 * control server, the master cache, the planner's view of the sessions and the
 * scheduler's jobs (redis's `server` struct, beanstalkd's `Server`). Modules:
 *   daemon.c   start-up order, timers, signals, watching the catalogue, shutdown
 *   planner.c  sessions -> master matching -> queue rows (astrocal_session/astrocal_file)
 *   sched.c    claims pending files, runs them on the pool within budgets, records results
 *   ctlcmd.c   control commands
 *
 * Thread: everything here belongs to the loop thread. Pool threads see only their job
 * struct (sched.c) and a master set (mcache.h), never this struct.
 */
#ifndef AC_DAEMON_H
#define AC_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "catalog.h"
#include "config.h"
#include "ctlsrv.h"
#include "db.h"
#include "engine.h"
#include "err.h"
#include "match.h"
#include "mcache.h"

struct ac_build_opts;
struct ac_build_job;
struct ac_ingest;

/* What the planner decided for a session (kept in memory; the durable copy is the
 * astrocal_session row). */
typedef struct ac_plan {
    char session_id[64];
    int status;    /* AC_MATCH_READY / AC_MATCH_WAITING */
    ac_mkey_t key; /* masters (paths, expected MD5) and dark scale */
    char reason[512];
    char light_filter[72], object[128], date[40];
} ac_plan_t;

/* A master the loader found broken; matching skips it until its file changes. */
typedef struct ac_bad_master {
    char path[4096];
    char reason[256];
    int64_t mtime;
} ac_bad_master_t;

/* Cached header facts of a FITS file, keyed by path and modification time. */
typedef struct ac_hcache_entry {
    char *path;
    int64_t mtime, size;
    bool ok;
    ac_meta_t meta;
    char error[256];
} ac_hcache_entry_t;

typedef struct ac_job ac_job_t;

struct ac_daemon {
    uv_loop_t *loop;
    char config_path[4096];
    struct ac_config cfg;
    ac_db_t *db;
    ac_ctlsrv_t *srv;
    ac_mcache_t mc;
    int lock_fd;
    int log_level_override; /* --log-level, kept across reloads; -1 when not given */
    uint64_t started_ns;

    /* Planner. */
    ac_plan_t *plans;
    size_t nplans, capplans;
    ac_bad_master_t *bad;
    size_t nbad, capbad;
    ac_hcache_entry_t *hc;
    size_t nhc, caphc;
    int64_t data_version;
    int64_t masters_seen_rowid;
    bool replan_pending, replan_all;

    /* Master builds (sched_build.c) and live ingest (ingest.c). */
    struct ac_build_job *build; /* the build running, or NULL */
    struct ac_ingest *ingest;   /* NULL when [INGEST] watch_dirs is empty */
    bool ingest_stopping;

    /* Scheduler. */
    ac_job_t *jobs; /* in flight: waiting for masters, running, or recording */
    int inflight;   /* jobs submitted to the pool */
    ac_workbuf_t *wbs;
    ac_workbuf_t **free_wbs;
    int nwbs, nfree;
    bool paused_user;       /* astrocalctl pause */
    char pause_reason[256]; /* why nothing starts ("" when running) */
    bool backing_off;
    bool disk_paused; /* logged once per episode */
    char throttle_reason[128];
    double load_per_cpu, cpu_pressure;
    uint64_t done_times[256]; /* completion times (ns) for the rate, ring buffer */
    unsigned ndone_times;
    uint64_t files_done, files_failed;

    /* Life cycle. */
    bool drain_mode; /* --drain: exit once nothing is left to do */
    bool stopping;
    uint64_t stop_deadline_ns;
    int exit_code;

    /* Handles. */
    uv_timer_t watch_timer, scan_timer, kick_timer, watchdog_timer, status_timer, stop_timer,
        build_timer;
    uv_fs_event_t wal_watch;
    bool wal_watch_active;
    uv_signal_t sigterm, sigint, sighup;
    uint64_t watchdog_usec;
};

typedef struct ac_daemon ac_daemon_t;

/* daemon.c */
/* ac_daemon_init performs the whole start-up before READY=1: config already loaded into
 * d->cfg; lock, database, schema, recovery, cache, control socket. On failure returns a
 * sysexits-style exit status (>0) with the reason in e. */
int ac_daemon_init(ac_daemon_t *d, uv_loop_t *loop, const char *config_path, bool drain,
                   ac_err_t *e);
/* ac_daemon_free releases what init acquired (after run returned). */
void ac_daemon_free(ac_daemon_t *d);
/* ac_daemon_run runs the loop until the daemon stops; returns the exit status. */
int ac_daemon_run(ac_daemon_t *d);
/* ac_daemon_reload re-reads the configuration file and applies the reloadable keys. */
int ac_daemon_reload(ac_daemon_t *d, char *changed, size_t changed_size, char *ignored,
                     size_t ignored_size, ac_err_t *e);
/* ac_daemon_request_replan asks for a planning pass soon (all: every session). */
void ac_daemon_request_replan(ac_daemon_t *d, bool all);
/* ac_daemon_event broadcasts an event to watchers (data is taken). */
void ac_daemon_event(ac_daemon_t *d, const char *event, json_t *data);
/* ac_daemon_mark_masters_seen records every current Masters row as seen, so masters
 * astrocald registered itself are not announced as new when another process commits. */
void ac_daemon_mark_masters_seen(ac_daemon_t *d);
/* ac_daemon_kick_planner runs a planning pass now if one was requested. */
void ac_daemon_kick_planner(ac_daemon_t *d);
/* ac_daemon_engine_opts builds the engine options from the configuration. */
void ac_daemon_engine_opts(const ac_daemon_t *d, ac_engine_opts_t *o);

/* planner.c */
int ac_planner_run(ac_daemon_t *d, bool all, ac_err_t *e);
/* ac_planner_plan_json builds the `plan` result for one session (NULL: all). */
json_t *ac_planner_explain(ac_daemon_t *d, const char *session_id, ac_err_t *e);
/* ac_planner_enqueue plans one session now and queues it when its masters are ready,
 * whatever enable_light_calibration says (astrocalctl enqueue). -ENOENT when the session
 * has no uncalibrated lights. */
int ac_planner_enqueue(ac_daemon_t *d, const char *session_id, ac_err_t *e);
const ac_plan_t *ac_planner_find(const ac_daemon_t *d, const char *session_id);
void ac_planner_mark_bad_master(ac_daemon_t *d, const char *path, const char *reason);
json_t *ac_planner_masters_json(ac_daemon_t *d, ac_err_t *e);
void ac_planner_free(ac_daemon_t *d);

/* sched.c */
int ac_sched_init(ac_daemon_t *d, ac_err_t *e);
void ac_sched_kick(ac_daemon_t *d);
void ac_sched_cancel_session(ac_daemon_t *d, const char *session_id);
/* ac_sched_stop_all puts jobs waiting for masters back in the queue and, with
 * cancel_running, asks running jobs to stop at their next strip. */
void ac_sched_stop_all(ac_daemon_t *d, bool cancel_running);
bool ac_sched_idle(const ac_daemon_t *d); /* nothing in flight */
/* ac_sched_session_progress marks a queued session done when none of its files is pending
 * or running (also called by the planner, whose passes may find only failed files). */
void ac_sched_session_progress(ac_daemon_t *d, const char *session_id);
/* ac_sched_jobs counts jobs in flight: running, or waiting for their masters to load. */
int ac_sched_jobs(const ac_daemon_t *d);
json_t *ac_sched_running_json(const ac_daemon_t *d);
double ac_sched_rate(const ac_daemon_t *d); /* frames per second over the last minute */
void ac_sched_free(ac_daemon_t *d);
void ac_sched_on_master_loaded(void *ud, ac_mset_t *set);

/* sched_build.c */
/* ac_daemon_build_opts builds the master builder's options from the configuration. */
void ac_daemon_build_opts(const ac_daemon_t *d, struct ac_build_opts *o);
/* ac_sched_scan_builds queues the master builds the catalogue calls for. */
int ac_sched_scan_builds(ac_daemon_t *d, ac_err_t *e);
/* ac_sched_start_build claims and starts one build; false when none could start. */
bool ac_sched_start_build(ac_daemon_t *d);
void ac_sched_stop_build(ac_daemon_t *d);
json_t *ac_sched_build_json(const ac_daemon_t *d);

/* ctlcmd.c */
void ac_ctlcmd_handle(ac_ctlsrv_client_t *c, json_t *id, const char *cmd, json_t *args,
                      void *ud);

#endif
