/*
 * daemon.h - the astrocald server object: everything the daemon's loop thread owns.
 *
 * One struct ac_daemon holds the configuration, the read-write catalogue connection, the
 * control server, the master cache, the light queue, the planner and the scheduler, and
 * wires them together (redis's `server` struct, beanstalkd's `Server`). Modules, each
 * with its own header, lowest first:
 *   queue.h    (catalog layer) the light queue: its state machine, rules and SQL
 *   planner.h  sessions -> master matching -> the queue
 *   scheduler.h runs the queue: claims files, runs them on the pool, records the outcome;
 *              master builds; the operator's requests on the queue
 *   daemon.c   start-up order, timers, signals, watching the catalogue, shutdown; fills in
 *              the hooks through which the modules below report to it
 *   daemon_catalogue.c  the catalogue file at start-up (never replaced by an empty one)
 *              and its availability while serving: busy (another program holds its lock:
 *              work waits, with a back-off), lost (replaced or deleted: paused)
 *   ctlcmd.c   control commands: decode a request, call one function, encode the reply
 * A module calls only the ones listed before it; upward it reports through the hooks (the
 * queue's on_done, the planner's and the scheduler's hooks) that daemon.c fills in.
 *
 * Thread: everything here belongs to the loop thread. Pool threads see only their job
 * (sched.c) and a master set (mcache.h), never this struct.
 */
#ifndef AC_DAEMON_H
#define AC_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "ctlsrv.h"
#include "db.h"
#include "err.h"
#include "history.h"
#include "mcache.h"
#include "metrics.h"
#include "notify.h"
#include "planner.h"
#include "queue.h"
#include "scheduler.h"

struct ac_ingest;
struct ac_uploader;
struct ac_fetcher;

struct ac_daemon {
    uv_loop_t *loop;
    char config_path[4096];
    struct ac_config cfg;
    ac_db_t *db;
    ac_ctlsrv_t *srv;
    ac_mcache_t mc;
    ac_queue_t queue;
    ac_planner_t planner;
    ac_sched_t sched;
    ac_metrics_t metrics; /* [METRICS] textfile */
    ac_notify_t notify;   /* [NOTIFY] programs */
    int lock_fd;
    int log_level_override; /* --log-level, kept across reloads; -1 when not given */
    uint64_t started_ns;
    int64_t data_version; /* PRAGMA data_version last seen (other processes' commits) */
    /* data_version at the last periodic scan, to skip scans of a catalogue no other
     * process changed while nothing waits. */
    int64_t scan_version;
    bool scan_seen;

    /* Live ingest (ingest.c): NULL when [INGEST] watch_dirs is empty. */
    struct ac_ingest *ingest;
    bool ingest_stopping;

    /* Cloud sync (daemon_cloud.c: upload.c, fetch.c): NULL when [CLOUD] enabled is False,
     * and once stopped. */
    struct ac_uploader *uploader;
    struct ac_fetcher *fetcher;

    /* The catalogue (daemon_catalogue.c). */
    bool create_catalogue; /* --create: make a new one even where one was used before */
    bool catalogue_lost;   /* replaced or deleted: paused until restarted (logged once) */
    bool catch_up;         /* available again: deferred work is due */
    bool relink;           /* sessions to link after an import, refused while busy */
    /* `astrocalctl import`s under way (ctlcmd.c): what each batch registers is planned at
     * once, but master builds and --drain's exit wait until none is left. */
    int imports;
    /* The last planning pass (daemon_plan.c): when it ended, and how long it held the loop
     * (a batch of an import is planned only when at least 10 times that has passed since:
     * planning takes at most a tenth of the loop during an import). */
    uint64_t plan_end_ns, plan_loop_ns;
    double busy_since;   /* unix seconds: the current (or last) busy episode began */
    bool busy_logged;    /* that episode was logged (it lasted long enough) */
    unsigned backoff_ms; /* the next probe of a busy catalogue */
    uv_timer_t catalogue_timer;
    /* What was last read from the catalogue for `status` and STATUS=, shown while it
     * cannot be read (a rollback-journal catalogue locked by another program). */
    ac_sched_status_t last_status;
    bool have_last_status;
    int last_counts[AC_FILE_NSTATES];
    char last_session[160]; /* the last session that finished, with its outcome ("" none) */

    /* Life cycle. */
    bool drain_mode; /* --drain: exit once nothing is left to do */
    bool stopping;
    bool plan_reading; /* a planning pass's catalogue read runs on the pool (daemon_plan.c) */
    uint64_t stop_deadline_ns;
    int exit_code;

    /* Handles (the scheduler owns its own). */
    uv_timer_t watch_timer, scan_timer, watchdog_timer, status_timer, stop_timer;
    ac_history_t history; /* prunes astrocal_event (history.h) */
    uv_fs_event_t wal_watch;
    bool wal_watch_active;
    uv_signal_t sigterm, sigint, sighup;
    uint64_t watchdog_usec;
};

typedef struct ac_daemon ac_daemon_t;

/* daemon.c */
/* ac_daemon_init performs the whole start-up before READY=1: config already loaded into
 * d->cfg (and d->create_catalogue set); lock, database, schema, recovery, cache, control
 * socket. On failure returns a sysexits-style exit status (>0) with the reason in e. */
int ac_daemon_init(ac_daemon_t *d, uv_loop_t *loop, const char *config_path, bool drain,
                   ac_err_t *e);
/* ac_daemon_free releases what init acquired (after run returned). */
void ac_daemon_free(ac_daemon_t *d);
/* ac_daemon_run runs the loop until the daemon stops; returns the exit status. */
int ac_daemon_run(ac_daemon_t *d);
/* ac_daemon_reload re-reads the configuration file and applies the reloadable keys. */
int ac_daemon_reload(ac_daemon_t *d, char *changed, size_t changed_size, char *ignored,
                     size_t ignored_size, ac_err_t *e);
/* ac_daemon_imported follows an import (astrocalctl import; d->imports already counts it
 * out): the masters it registered are not news, the light sessions are linked to their
 * calibration sessions, and the new frames are planned now, master builds too. */
void ac_daemon_imported(ac_daemon_t *d);

/* ac_daemon_catch_up runs what waited for the catalogue once it can be written again:
 * work left unrecorded goes back to the queue, the planner runs, the scheduler starts. */
void ac_daemon_catch_up(ac_daemon_t *d);
/* ac_daemon_catalogue_lost pauses the daemon for good once the catalogue was replaced or
 * deleted (once: the error is logged, running files are stopped, ingest stops). */
void ac_daemon_catalogue_lost(ac_daemon_t *d);

/* daemon_catalogue.c */
/* ac_daemon_open_catalogue opens the configured catalogue into d->db (creating it when
 * allowed, see the file's comment): 0, or an exit status (EX_CONFIG: missing but used
 * before; EX_CANTCREAT) with the reason in e. */
int ac_daemon_open_catalogue(ac_daemon_t *d, ac_err_t *e);
/* ac_daemon_mark_catalogue records in state_dir that this catalogue is in use. */
void ac_daemon_mark_catalogue(ac_daemon_t *d);
/* ac_daemon_catalogue_serve switches the connection to short attempts and starts watching
 * its availability (d->catalogue_timer initialised by the caller). */
void ac_daemon_catalogue_serve(ac_daemon_t *d);
/* ac_daemon_catalogue_ok says whether work that writes may start now (not busy, not lost). */
bool ac_daemon_catalogue_ok(ac_daemon_t *d);
/* ac_daemon_catalogue_note writes "catalogue busy since HH:MM:SS", or the reason a lost
 * catalogue paused the queue, or "" into buf; returns buf. */
const char *ac_daemon_catalogue_note(ac_daemon_t *d, char *buf, size_t size);
/* ac_daemon_catalogue_json describes it for `status` (owned): state, busy_since,
 * busy_seconds, message. */
json_t *ac_daemon_catalogue_json(ac_daemon_t *d);
/* ac_daemon_requeue_orphans puts back files and master builds the catalogue has running
 * but nothing runs: their outcome could not be recorded (it was busy). */
void ac_daemon_requeue_orphans(ac_daemon_t *d);

/* ac_daemon_maybe_finish_drain exits --drain mode once nothing is pending, running or
 * loading (daemon.c). */
void ac_daemon_maybe_finish_drain(ac_daemon_t *d);

/* daemon_plan.c */
struct ac_planner_inputs;
/* ac_daemon_plan_pass plans the light sessions (all: every one) from in (read on another
 * connection, consumed) or, when in is NULL, from a read made now; then the master
 * builds. 0 or the planner's error. */
int ac_daemon_plan_pass(ac_daemon_t *d, bool all, struct ac_planner_inputs *in, ac_err_t *e);
/* ac_daemon_run_planner performs a requested planning pass, then kicks the scheduler. On
 * a WAL catalogue the pass's catalogue read runs on a pool thread with a connection of its
 * own, so the loop answers `status` meanwhile; requests made during it run afterwards.
 * While the catalogue is busy the request waits for ac_daemon_catch_up. */
void ac_daemon_run_planner(ac_daemon_t *d);

/* ac_daemon_frames_registered plans what live ingest or an import registered (daemon.c):
 * also after each batch of an import under way (ctlcmd.c). */
void ac_daemon_frames_registered(ac_daemon_t *d);

/* daemon_ingest.c */
/* ac_daemon_start_ingest watches [INGEST] watch_dirs (none: nothing to do); 0 or an error. */
int ac_daemon_start_ingest(ac_daemon_t *d, ac_err_t *e);
/* ac_daemon_ingest_stopped is ac_ingest_stop's callback: the ingest is gone. */
void ac_daemon_ingest_stopped(void *ud);

/* daemon_notify.c */
/* ac_daemon_notify_session runs [NOTIFY] on_session_done for a settled session, with its
 * state, counts, object and output folder. */
void ac_daemon_notify_session(ac_daemon_t *d, const ac_queue_done_t *dn);
/* ac_daemon_notify_failure is the scheduler's failed hook (scheduler.h): [NOTIFY]
 * on_failure for a light that failed for good (what "file") or a failed master build
 * (what: the master's kind). */
void ac_daemon_notify_failure(void *ud, const char *what, const char *session_id,
                              const char *file_id, const char *path, const char *reason);

/* ctlcmd_preview.c: the `preview` command (asynchronous: replies from a pool job). */
void ac_ctlcmd_preview(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args);

/* daemon_cloud.c: cloud sync through rclone ([CLOUD]). */
/* ac_daemon_cloud_start starts the uploader and the fetcher when [CLOUD] enabled. */
int ac_daemon_cloud_start(ac_daemon_t *d, ac_err_t *e);
/* ac_daemon_cloud_kick: something was made (a frame recorded, a master built). */
void ac_daemon_cloud_kick(ac_daemon_t *d);
/* ac_daemon_cloud_idle: no upload running or due (for --drain). */
bool ac_daemon_cloud_idle(ac_daemon_t *d);
/* ac_daemon_cloud_stop stops both; ac_daemon_cloud_stopped says when they are gone. */
void ac_daemon_cloud_stop(ac_daemon_t *d);
bool ac_daemon_cloud_stopped(const ac_daemon_t *d);
/* ac_daemon_cloud_fetch is the planner's hooks.fetch (ud = the daemon). */
int ac_daemon_cloud_fetch(void *ud, const char *file_id, const char *path, char *out,
                          size_t size);
/* ac_daemon_cloud_master is the planner's hooks.fetch_master, ac_daemon_cloud_master_copy
 * the master cache's resolve (ud = the daemon). */
int ac_daemon_cloud_master(void *ud, int64_t rowid, const char *path, const char *url,
                           bool want, char *out, size_t osize, char *why, size_t wsize);
int ac_daemon_cloud_master_copy(void *ud, const char *path, char *out, size_t size);
/* ac_daemon_cloud_locate is the scheduler's hooks.locate (ud = the daemon). */
int ac_daemon_cloud_locate(void *ud, const char *file_id, const char *path, char *input,
                           size_t isize, char *why, size_t wsize);

/* ctlcmd.c: the control server's request handler (ud = the daemon). */
void ac_ctlcmd_handle(ac_ctlsrv_client_t *c, json_t *id, const char *cmd, json_t *args,
                      void *ud);

#endif
