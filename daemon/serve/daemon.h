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
#include "mcache.h"
#include "planner.h"
#include "queue.h"
#include "scheduler.h"

struct ac_ingest;

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
    int lock_fd;
    int log_level_override; /* --log-level, kept across reloads; -1 when not given */
    uint64_t started_ns;
    int64_t data_version; /* PRAGMA data_version last seen (other processes' commits) */

    /* Live ingest (ingest.c): NULL when [INGEST] watch_dirs is empty. */
    struct ac_ingest *ingest;
    bool ingest_stopping;

    /* Life cycle. */
    bool drain_mode; /* --drain: exit once nothing is left to do */
    bool stopping;
    uint64_t stop_deadline_ns;
    int exit_code;

    /* Handles (the scheduler owns its own). */
    uv_timer_t watch_timer, scan_timer, watchdog_timer, status_timer, stop_timer;
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
/* ac_daemon_imported follows an import (astrocalctl import): the masters it registered are
 * not news, the light sessions are linked to their calibration sessions, and the new
 * frames are planned now. */
void ac_daemon_imported(ac_daemon_t *d);

/* ctlcmd.c: the control server's request handler (ud = the daemon). */
void ac_ctlcmd_handle(ac_ctlsrv_client_t *c, json_t *id, const char *cmd, json_t *args,
                      void *ud);

#endif
