/*
 * daemon.c - the astrocald server: start-up order, watching the catalogue, timers,
 * signals, systemd notifications and shutdown.
 *
 * Start-up (all before READY=1): configuration (main.c), nice and I/O priority, pool
 * size, single-instance lock in state_dir, catalogue open (created with AstroFiler's
 * schema when missing) and astrocald's migrations, queue recovery and the crash handler
 * (crashrec.h: running -> pending, no attempt counted), stale temporary outputs removed,
 * first planning pass, control socket.
 *
 * The catalogue's availability (daemon_catalogue.c): while it is busy (another program
 * holds its lock) the planner and the scheduler wait and a back-off timer probes it; once
 * it is available again the daemon catches up (ac_daemon_catch_up). Lost (replaced or
 * deleted), it pauses the daemon until a restart (ac_daemon_catalogue_lost).
 *
 * Watching: PRAGMA data_version on a timer (watch_interval_ms) plus a file watch on the
 * database's -wal file, which wakes us as soon as another process commits; a change
 * triggers a planning pass for new sessions and files, and a full pass when new Masters
 * rows appear and auto_calibrate_on_master_creation is on. Every scan_interval_s a full
 * pass runs anyway (waiting sessions whose masters arrived, files changed on disk).
 *
 * Shutdown (SIGTERM/SIGINT): STOPPING=1, nothing new starts, running files get up to
 * drain_timeout_s to finish, then are cancelled at their next strip and put back in the
 * queue (no attempt counted), so the next start resumes them. --drain exits 0 once no
 * queued session has a file left to run and no `astrocalctl import` is under way (paused
 * and waiting sessions are not drained).
 *
 * Wiring: the daemon owns the light queue, the planner and the scheduler and fills in the
 * hooks through which they report upward: the queue's on_done (a session is done) and
 * the planner's and scheduler's event hooks become events for `watch` clients; the
 * scheduler's plan_due runs a planning pass requested from the planner, and master_built
 * records a master it built as seen. A planning pass (daemon_plan.c) is the planner's, then
 * the master builds' scan.
 *
 * Thread: loop thread only.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sysexits.h>
#include <unistd.h>

#include "buildplan.h"
#include "conffile.h"
#include "crashrec.h"
#include "daemon.h"
#include "fsutil.h"
#include "ingest.h"
#include "log.h"
#include "masters.h"
#include "poolsetup.h"
#include "schema.h"
#include "sdnotify.h"
#include "util.h"
#include "version.h"

/* ---- small pieces ---- */

/* broadcast sends an event to watchers (data is taken): the hook through which the
 * planner and the scheduler report events. */
static void broadcast(void *ud, const char *event, json_t *data)
{
    ac_daemon_t *d = ud;

    if (strcmp(event, "file_done") == 0 || strcmp(event, "master_new") == 0)
        ac_daemon_cloud_kick(d); /* back it up */
    if (d->srv == NULL || ac_ctlsrv_nwatchers(d->srv) == 0) {
        json_decref(data);
        return;
    }
    ac_ctlsrv_broadcast_event(d->srv, event, data);
}

static void status_update(ac_daemon_t *d);

/* session_done is the queue's on_done hook: a queued session has no file left to run. It
 * tells watchers the session's outcome (session_state, then session_done with the counts)
 * and keeps it for `status` and STATUS=. */
static void session_done(void *ud, const ac_queue_done_t *dn)
{
    ac_daemon_t *d = ud;
    const int *c = dn->counts;

    snprintf(d->last_session, sizeof d->last_session,
             "session %.40s %s (%d calibrated, %d failed)", dn->session_id, dn->state,
             c[AC_FILE_DONE], c[AC_FILE_FAILED]);
    broadcast(ud, "session_state",
              json_pack("{s:s,s:s,s:s?}", "session_id", dn->session_id, "state", dn->state,
                        "reason", dn->reason));
    broadcast(ud, "session_done",
              json_pack("{s:s,s:s,s:i,s:i,s:i,s:i,s:i,s:s?}", "session_id", dn->session_id,
                        "state", dn->state, "calibrated", c[AC_FILE_DONE], "failed",
                        c[AC_FILE_FAILED], "skipped", c[AC_FILE_SKIPPED], "cancelled",
                        c[AC_FILE_CANCELLED], "rejected", dn->rejected, "reason", dn->reason));
    ac_daemon_notify_session(d, dn);
    status_update(d);
}

/* queue_policy gives the queue the [QUEUE] rules of the configuration. */
static void queue_policy(ac_daemon_t *d)
{
    d->queue.policy.max_attempts = d->cfg.max_attempts;
    d->queue.policy.retry_backoff_s = d->cfg.retry_backoff_s;
    d->queue.policy.newest_first = d->cfg.order == AC_ORDER_NEWEST_FIRST;
}

static size_t cache_budget(const ac_daemon_t *d)
{
    uint64_t total = d->cfg.memory_budget_mib * 1048576u;
    /* Every worker's strips, plus one master build (four times a frame's share). */
    uint64_t jobs = (uint64_t)(d->cfg.workers + 4) * d->cfg.job_memory_mib * 1048576u;

    return total > jobs ? (size_t)(total - jobs) : 0;
}

/* set_priorities lowers CPU and I/O priority so capture software is never disturbed.
 * Called before any thread exists, so the pool threads inherit both. */
static void set_priorities(const ac_daemon_t *d)
{
    if (d->cfg.nice > 0 && setpriority(PRIO_PROCESS, 0, d->cfg.nice) != 0)
        ac_log_warn("setpriority(%d): %s", d->cfg.nice, strerror(errno));
    if (d->cfg.io_class != AC_IO_NONE) {
        /* ioprio_set(IOPRIO_WHO_PROCESS, 0, class << 13 | level): class 3 idle, 2
         * best-effort at the lowest level 7. */
        int prio = d->cfg.io_class == AC_IO_IDLE ? (3 << 13) : ((2 << 13) | 7);
        if (syscall(SYS_ioprio_set, 1, 0, prio) != 0)
            ac_log_warn("ioprio_set: %s", strerror(errno));
    }
}

/* status_update sends STATUS= to systemd: the queue's state and counts (the last read
 * while the catalogue cannot be read), and the catalogue's when it is not available. */
static void status_update(ac_daemon_t *d)
{
    int now[AC_FILE_NSTATES], *counts = d->last_counts;
    char note[1200], rate[96] = "", eta[32];
    double fps = ac_sched_rate(&d->sched);
    int left;
    ac_err_t e = {0};
    const char *why;

    ac_daemon_catalogue_note(d, note, sizeof note);
    why = d->catalogue_lost ? note : d->sched.pause_reason;
    if (ac_queue_counts(&d->queue, NULL, now, &e) == 0)
        memcpy(counts, now, sizeof now);
    /* The rate over the last minute and, while running, the time left at that rate. */
    left = counts[AC_FILE_PENDING] + counts[AC_FILE_RUNNING];
    if (fps > 0)
        snprintf(rate, sizeof rate, ", %.1f frames/s%s%s", fps,
                 left > 0 && !why[0] && !d->stopping ? ", ETA " : "",
                 left > 0 && !why[0] && !d->stopping
                     ? ac_format_clock(eta, sizeof eta, left / fps)
                     : "");
    ac_sd_status("%s: %d pending, %d running, %d done, %d failed%s%s%s%s%s%s%s",
                 d->stopping ? "stopping"
                 : why[0]    ? "paused"
                             : "running",
                 counts[AC_FILE_PENDING], counts[AC_FILE_RUNNING], counts[AC_FILE_DONE],
                 counts[AC_FILE_FAILED], rate, why[0] ? "; " : "", why,
                 !d->catalogue_lost && note[0] ? "; " : "", d->catalogue_lost ? "" : note,
                 d->last_session[0] ? "; last " : "", d->last_session);
}

static void begin_stop(ac_daemon_t *d, const char *why);

void ac_daemon_maybe_finish_drain(ac_daemon_t *d)
{
    int counts[AC_FILE_NSTATES] = {0};
    ac_qsession_list_t sl = {0};
    ac_err_t e = {0};
    int runnable = 0;

    if (!d->drain_mode || d->stopping || d->planner.pending || d->plan_reading ||
        d->imports > 0 || !ac_sched_idle(&d->sched) || !ac_daemon_cloud_idle(d))
        return;
    if (ac_queue_counts(&d->queue, NULL, counts, &e) != 0 ||
        ac_queue_sessions(&d->queue, &sl, &e) != 0)
        return;
    /* Files that can still run: pending in queued sessions (also those waiting for a retry
     * back-off). Paused and waiting sessions are not drained. */
    for (size_t i = 0; i < sl.n; i++)
        if (sl.items[i].state == AC_SESS_QUEUED)
            runnable +=
                sl.items[i].counts[AC_FILE_PENDING] + sl.items[i].counts[AC_FILE_RUNNING];
    ac_queue_sessions_free(&sl);
    if (runnable > 0)
        return;
    ac_log_notice("drain: every queued file is done (%d calibrated, %d failed)",
                  counts[AC_FILE_DONE], counts[AC_FILE_FAILED]);
    d->exit_code = 0;
    begin_stop(d, "drain complete");
}

/* mark_masters_seen records every current Masters row as seen, so masters astrocald
 * registered itself are not announced as new when another process commits. */
static void mark_masters_seen(ac_daemon_t *d)
{
    ac_master_list_t ml = {0};

    if (ac_catalog_unseen_masters(d->db, &ml, NULL) == 0 && ml.n > 0) {
        int64_t *ids = calloc(ml.n, sizeof *ids);
        for (size_t i = 0; ids != NULL && i < ml.n; i++)
            ids[i] = ml.items[i].rowid;
        if (ids != NULL)
            ac_catalog_mark_masters_seen(d->db, ids, ml.n, NULL);
        free(ids);
    }
    ac_catalog_masters_free(&ml);
}

/* The scheduler's hooks: a built master is ours; a requested planning pass is due. */
static void master_built(void *ud)
{
    mark_masters_seen(ud);
}

/* planner_failed: a light unreadable at planning joined the queue as failed. */
static void planner_failed(void *ud, const char *session_id, const char *file_id,
                           const char *path, const char *reason)
{
    ac_daemon_notify_failure(ud, "file", session_id, file_id, path, reason);
}

/* sched_idle: the last job ended; --drain may be complete (no timer on that path). */
static void sched_idle(void *ud)
{
    ac_daemon_maybe_finish_drain(ud);
}

static void plan_due(void *ud)
{
    ac_daemon_t *d = ud;

    if (d->planner.pending && !d->stopping)
        ac_daemon_run_planner(d);
}

/* check_catalogue notices commits by other processes (not while the catalogue is busy:
 * ac_daemon_catch_up looks once it is available). */
static void check_catalogue(ac_daemon_t *d)
{
    int64_t v = 0;
    ac_err_t e = {0};

    if (!ac_daemon_catalogue_ok(d) || ac_db_data_version(d->db, &v, &e) != 0)
        return;
    if (v != d->data_version) {
        ac_master_list_t ml = {0};
        d->data_version = v;
        ac_planner_request(&d->planner, false);
        if (ac_catalog_unseen_masters(d->db, &ml, &e) == 0 && ml.n > 0) {
            int64_t *ids = calloc(ml.n, sizeof *ids);
            for (size_t i = 0; i < ml.n; i++) {
                ac_log_info("new master #%lld (%s): %s", (long long)ml.items[i].rowid,
                            ml.items[i].type ? ml.items[i].type : "?",
                            ml.items[i].path ? ml.items[i].path : "?");
                broadcast(d, "master_new",
                          json_pack("{s:I,s:s?,s:s?}", "id", (json_int_t)ml.items[i].rowid,
                                    "type", ml.items[i].type, "path", ml.items[i].path));
                if (ids != NULL)
                    ids[i] = ml.items[i].rowid;
            }
            if (ids != NULL)
                ac_catalog_mark_masters_seen(d->db, ids, ml.n, &e);
            free(ids);
            ac_mcache_forget_failures(&d->mc);
            if (d->cfg.auto_calibrate_on_master_creation)
                ac_planner_request(&d->planner, true);
        }
        ac_catalog_masters_free(&ml);
    }
    if (d->planner.pending)
        ac_daemon_run_planner(d);
}

static void watch_timer_cb(uv_timer_t *t)
{
    ac_daemon_t *d = t->data;

    check_catalogue(d);
    ac_daemon_maybe_finish_drain(d);
}

static void wal_event_cb(uv_fs_event_t *h, const char *filename, int events, int status)
{
    ac_daemon_t *d = h->data;

    if (status == 0 && !d->stopping)
        check_catalogue(d);
}

/* nothing_waits says whether no session is planned as waiting (a waiting session may
 * depend on time: a back-off, a master file replaced on disk). */
static bool nothing_waits(const ac_daemon_t *d)
{
    for (size_t i = 0; i < d->planner.nplans; i++)
        if (d->planner.plans[i].status != AC_MATCH_READY)
            return false;
    return true;
}

/* scan_timer_cb runs the periodic full planning pass, unless no other process committed
 * to the catalogue since the last one and no session waits: astrocald's own writes are
 * planned by the events that make them (import, ingest, a file or master done), so the
 * pass would find what the last one found. */
static void scan_timer_cb(uv_timer_t *t)
{
    ac_daemon_t *d = t->data;
    int64_t v = 0;
    ac_err_t e = {0};

    if (!ac_daemon_catalogue_ok(d))
        return;
    if (ac_db_data_version(d->db, &v, &e) == 0 && d->scan_seen && v == d->scan_version &&
        nothing_waits(d) && !d->planner.pending) {
        ac_log_debug("periodic scan skipped: the catalogue did not change");
        return;
    }
    ac_planner_request(&d->planner, true);
    ac_daemon_run_planner(d);
    if (ac_db_data_version(d->db, &v, &e) == 0) {
        d->scan_version = v;
        d->scan_seen = true;
    }
}

static void watchdog_timer_cb(uv_timer_t *t)
{
    ac_sd_watchdog_ping();
    (void)t;
}

static void status_timer_cb(uv_timer_t *t)
{
    ac_daemon_t *d = t->data;

    status_update(d);
    /* Progress of running files for `watch` clients, about once a second. */
    if (d->srv != NULL && ac_ctlsrv_nwatchers(d->srv) > 0 && ac_sched_jobs(&d->sched) > 0) {
        json_t *running = ac_sched_running_json(&d->sched), *r;
        size_t i;
        json_array_foreach(running, i, r)
        {
            broadcast(d, "file_progress",
                      json_pack("{s:O,s:O,s:O}", "file_id", json_object_get(r, "file_id"),
                                "step", json_object_get(r, "step"), "progress",
                                json_object_get(r, "progress")));
        }
        json_decref(running);
    }
}

/* ---- shutdown ---- */

static void close_cb(uv_handle_t *h)
{
    (void)h;
}

static void close_handles(ac_daemon_t *d)
{
    uv_handle_t *hs[] = {(uv_handle_t *)&d->watch_timer,     (uv_handle_t *)&d->scan_timer,
                         (uv_handle_t *)&d->watchdog_timer,  (uv_handle_t *)&d->status_timer,
                         (uv_handle_t *)&d->stop_timer,      (uv_handle_t *)&d->sigterm,
                         (uv_handle_t *)&d->sigint,          (uv_handle_t *)&d->sighup,
                         (uv_handle_t *)&d->catalogue_timer, (uv_handle_t *)&d->history.timer};

    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
        if (!uv_is_closing(hs[i]))
            uv_close(hs[i], close_cb);
    ac_metrics_stop(&d->metrics);
    ac_sched_close(&d->sched);
    ac_notify_close(&d->notify);
    if (d->wal_watch_active && !uv_is_closing((uv_handle_t *)&d->wal_watch))
        uv_close((uv_handle_t *)&d->wal_watch, close_cb);
    if (d->srv != NULL) {
        ac_ctlsrv_close(d->srv, NULL);
        d->srv = NULL;
    }
}

/* stop_timer_cb polls until running jobs are gone, cancelling them at the deadline. */
static void stop_timer_cb(uv_timer_t *t)
{
    ac_daemon_t *d = t->data;

    int inflight = d->sched.inflight;

    if (inflight > 0 && ac_now_ns() >= d->stop_deadline_ns) {
        ac_log_notice("drain timeout: cancelling %d running job%s (resumed at next start)",
                      inflight, inflight == 1 ? "" : "s");
        ac_sched_cancel_running(&d->sched);
        d->stop_deadline_ns = UINT64_MAX;
    }
    if (inflight == 0 && d->mc.loading == 0 && d->ingest == NULL &&
        ac_daemon_cloud_stopped(d) && !d->plan_reading) {
        uv_timer_stop(t);
        close_handles(d);
    }
}

/* frames_registered plans new frames now (live ingest or an import registered them); the
 * master files registered with them are ours, not news. */
void ac_daemon_frames_registered(ac_daemon_t *d)
{
    mark_masters_seen(d);
    ac_planner_request(&d->planner, true);
    ac_daemon_run_planner(d);
}

static void begin_stop(ac_daemon_t *d, const char *why)
{
    if (d->stopping)
        return;
    d->stopping = true;
    ac_sd_stopping();
    ac_log_notice("stopping (%s): %d file%s running", why, d->sched.inflight,
                  d->sched.inflight == 1 ? "" : "s");
    uv_timer_stop(&d->watch_timer);
    uv_timer_stop(&d->scan_timer);
    uv_timer_stop(&d->status_timer);
    uv_timer_stop(&d->catalogue_timer);
    ac_metrics_stop(&d->metrics);
    ac_history_stop(&d->history);
    /* Nothing new starts; jobs still waiting for masters never started: back they go. */
    ac_sched_stop(&d->sched);
    ac_daemon_cloud_stop(d);
    if (d->ingest != NULL && !d->ingest_stopping) {
        d->ingest_stopping = true;
        ac_ingest_stop(d->ingest, ac_daemon_ingest_stopped);
    }
    d->stop_deadline_ns = ac_now_ns() + (uint64_t)d->cfg.drain_timeout_s * 1000000000ull;
    uv_timer_start(&d->stop_timer, stop_timer_cb, 0, 100);
}

static void signal_cb(uv_signal_t *h, int signum)
{
    ac_daemon_t *d = h->data;

    if (signum == SIGHUP) {
        char changed[1024], ignored[1024];
        ac_err_t e = {0};
        if (ac_daemon_reload(d, changed, sizeof changed, ignored, sizeof ignored, &e) != 0)
            ac_log_err("reload failed, keeping the running configuration: %s", e.msg);
        return;
    }
    if (d->stopping && signum == SIGINT) {
        ac_log_notice("second interrupt: cancelling running files now");
        d->stop_deadline_ns = 0;
        return;
    }
    d->exit_code = 0;
    begin_stop(d, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

int ac_daemon_reload(ac_daemon_t *d, char *changed, size_t changed_size, char *ignored,
                     size_t ignored_size, ac_err_t *e)
{
    struct ac_config fresh;
    int n;

    ac_sd_reloading();
    ac_config_default(&fresh);
    if (ac_config_load(&fresh, d->config_path, e) != 0) {
        ac_sd_ready(NULL);
        return e->code ? e->code : AC_ECONFIG;
    }
    n = ac_config_apply_reload(&d->cfg, &fresh, changed, changed_size, ignored, ignored_size);
    if (d->log_level_override >= 0)
        d->cfg.log_level = d->log_level_override; /* --log-level outranks the file */
    ac_log_set_level(d->cfg.log_level);
    if (d->srv != NULL &&
        ac_ctlsrv_configure(d->srv, d->cfg.reader_group, d->cfg.admin_group,
                            (unsigned)d->cfg.socket_idle_timeout_s * 1000u, e) != 0) {
        ac_log_err("%s: the control socket keeps its previous groups", e->msg);
        ac_err_clear(e);
    }
    d->mc.budget = cache_budget(d);
    queue_policy(d);
    if (d->ingest != NULL)
        ac_ingest_set_type_from_path(d->ingest, d->cfg.type_from_path);
    if (d->cfg.output_dir[0] != '\0' && ac_fsutil_mkdirs(d->cfg.output_dir, e) != 0)
        ac_log_err("%s", e->msg);
    if (!d->stopping) {
        uv_timer_start(&d->watch_timer, watch_timer_cb, (uint64_t)d->cfg.watch_interval_ms,
                       (uint64_t)d->cfg.watch_interval_ms);
        uv_timer_start(&d->scan_timer, scan_timer_cb, (uint64_t)d->cfg.scan_interval_s * 1000u,
                       (uint64_t)d->cfg.scan_interval_s * 1000u);
    }
    ac_log_notice("configuration reloaded: %d key%s changed%s%s%s%s", n, n == 1 ? "" : "s",
                  n ? " (" : "", n ? changed : "", n ? ")" : "",
                  ignored[0] ? "; restart needed for the others" : "");
    if (ignored[0] != '\0')
        ac_log_warn("not applied until restart: %s", ignored);
    ac_mcache_forget_failures(&d->mc);
    ac_planner_request(&d->planner, true);
    ac_daemon_run_planner(d);
    ac_sd_ready(NULL);
    return 0;
}

/* ---- start-up ---- */

static int start_timer(uv_loop_t *loop, uv_timer_t *t, ac_daemon_t *d)
{
    int rc = uv_timer_init(loop, t);
    t->data = d;
    return rc;
}

int ac_daemon_init(ac_daemon_t *d, uv_loop_t *loop, const char *config_path, bool drain,
                   ac_err_t *e)
{
    char lock_path[4200], wal[4200];
    int n_requeued = 0, n_failed = 0, rc;
    ac_schema_info_t info;

    d->loop = loop;
    d->drain_mode = drain;
    d->lock_fd = -1;
    d->started_ns = ac_now_ns();
    ac_strlcpy(d->config_path, config_path, sizeof d->config_path);
    ac_log_set_level(d->cfg.log_level);
    set_priorities(d);
    /* The pool size is read once, at the pool's first use (style-anchors §9.2-1). At most
     * `workers` calibrations and master builds run at a time (the scheduler's limit); the
     * pool has room beside them for a master set's reads and MD5s (two per master, all at
     * once) and for the reads that would otherwise wait for a calibration to end: headers,
     * the planner's catalogue read, registration (an import's readers, 4 at a time, share
     * these threads with a master set's works; neither holds them for long). */
    ac_pool_setup(d->cfg.workers + 2 * AC_M_COUNT, d->cfg.workers);

    if (ac_fsutil_mkdirs(d->cfg.state_dir, e) != 0)
        return EX_CANTCREAT;
    snprintf(lock_path, sizeof lock_path, "%s/astrocald.lock", d->cfg.state_dir);
    d->lock_fd = ac_fsutil_lock(lock_path, e);
    if (d->lock_fd < 0) {
        if (d->lock_fd == -EWOULDBLOCK)
            ac_err_prefix(e, "another astrocald is running on %s", d->cfg.state_dir);
        return EX_TEMPFAIL;
    }
    if ((rc = ac_daemon_open_catalogue(d, e)) != 0)
        return rc;
    rc = ac_schema_prepare(d->db, &info, e);
    if (rc != 0)
        return rc == AC_EBUSY ? EX_TEMPFAIL : EX_DATAERR;
    ac_daemon_mark_catalogue(d);
    ac_queue_init(&d->queue, d->db);
    ac_notify_init(&d->notify, loop, &d->cfg);
    queue_policy(d);
    d->queue.on_done = session_done;
    d->queue.ud = d;
    /* Files interrupted by the last death, its crash record, the crash handler. */
    if ((rc = ac_crashrec_recover(&d->queue, &d->cfg, e)) != 0)
        return rc == AC_EBUSY ? EX_TEMPFAIL : EX_DATAERR;
    if (ac_catalog_build_recover(d->db, d->cfg.max_attempts, &n_requeued, &n_failed, e) != 0)
        return EX_DATAERR;
    if (n_requeued + n_failed > 0)
        ac_log_notice("recovered %d interrupted master build%s", n_requeued + n_failed,
                      n_requeued + n_failed == 1 ? "" : "s");
    if (d->cfg.output_dir[0] != '\0') {
        if (ac_fsutil_mkdirs(d->cfg.output_dir, e) != 0)
            return EX_CANTCREAT;
        ac_fsutil_clean_stale(d->cfg.output_dir, NULL);
    }
    ac_db_data_version(d->db, &d->data_version, NULL);
    mark_masters_seen(d); /* masters present at start-up are not "new" */
    {
        /* Temporary files of master builds interrupted by a crash. */
        ac_build_opts_t bo;
        ac_sched_build_opts(&d->cfg, &bo);
        ac_fsutil_clean_stale(bo.masters_dir, NULL);
    }
    ac_planner_init(&d->planner, d->db, &d->queue, &d->cfg,
                    &(ac_planner_hooks_t){.event = broadcast,
                                          .failed = planner_failed,
                                          .fetch = ac_daemon_cloud_fetch,
                                          .fetch_master = ac_daemon_cloud_master,
                                          .ud = d});
    ac_mcache_init(&d->mc, loop, cache_budget(d), ac_sched_on_master_loaded, &d->sched);
    d->mc.resolve = ac_daemon_cloud_master_copy; /* masters fetched from the cloud */
    d->mc.resolve_ud = d;
    if (ac_sched_init(&d->sched, loop, d->db, &d->queue, &d->planner, &d->mc, &d->cfg,
                      &(ac_sched_hooks_t){.event = broadcast,
                                          .plan_due = plan_due,
                                          .master_built = master_built,
                                          .idle = sched_idle,
                                          .failed = ac_daemon_notify_failure,
                                          .locate = ac_daemon_cloud_locate,
                                          .ud = d},
                      e) != 0)
        return EX_OSERR;
    d->sched.draining = drain;
    start_timer(loop, &d->watch_timer, d);
    start_timer(loop, &d->scan_timer, d);
    start_timer(loop, &d->watchdog_timer, d);
    start_timer(loop, &d->status_timer, d);
    start_timer(loop, &d->stop_timer, d);
    start_timer(loop, &d->catalogue_timer, d);
    ac_history_init(&d->history, loop, d->db, &d->cfg);
    uv_signal_init(loop, &d->sigterm);
    uv_signal_init(loop, &d->sigint);
    uv_signal_init(loop, &d->sighup);
    d->sigterm.data = d->sigint.data = d->sighup.data = d;
    uv_signal_start(&d->sigterm, signal_cb, SIGTERM);
    uv_signal_start(&d->sigint, signal_cb, SIGINT);
    uv_signal_start(&d->sighup, signal_cb, SIGHUP);

    /* The control socket: from systemd when socket-activated, else our own. */
    d->srv = ac_ctlsrv_new(loop, ac_ctlcmd_handle, d);
    if (d->srv == NULL)
        return ac_err_set(e, -ENOMEM, "out of memory"), EX_OSERR;
    if (ac_ctlsrv_configure(d->srv, d->cfg.reader_group, d->cfg.admin_group,
                            (unsigned)d->cfg.socket_idle_timeout_s * 1000u, e) != 0)
        return EX_CONFIG;
    {
        int fd = -1;
        if (ac_sd_listen_fd(&fd) > 0) {
            ac_log_notice("socket activation: serving fd %d ([DAEMON] socket %s ignored)", fd,
                          d->cfg.socket);
            rc = ac_ctlsrv_open_fd(d->srv, fd, e);
        } else {
            char sockdir[4096];
            ac_path_dir(d->cfg.socket, sockdir, sizeof sockdir);
            ac_fsutil_mkdirs(sockdir, NULL);
            rc = ac_ctlsrv_listen(d->srv, d->cfg.socket, (unsigned)d->cfg.socket_mode, e);
        }
        if (rc != 0)
            return EX_CANTCREAT;
    }
    /* First planning pass before READY, so `status` is meaningful at once. */
    {
        ac_err_t pe = {0};
        if (ac_daemon_plan_pass(d, true, NULL, &pe) != 0) {
            ac_log_warn("first planning pass: %s", pe.msg);
            ac_planner_request(&d->planner, true);
        }
    }
    if (ac_daemon_start_ingest(d, e) != 0)
        return e->code == AC_ECONFIG ? EX_CONFIG : EX_CANTCREAT;
    if (ac_daemon_cloud_start(d, e) != 0)
        return EX_CANTCREAT;
    snprintf(wal, sizeof wal, "%s-wal", d->cfg.database);
    if (uv_fs_event_init(loop, &d->wal_watch) == 0) {
        d->wal_watch.data = d;
        d->wal_watch_active = uv_fs_event_start(&d->wal_watch, wal_event_cb, wal, 0) == 0;
        if (!d->wal_watch_active)
            uv_close((uv_handle_t *)&d->wal_watch, NULL);
    }
    if (!d->wal_watch_active)
        ac_log_info("no file watch on %s: relying on the %d ms poll", wal,
                    d->cfg.watch_interval_ms);
    d->wal_watch_active = d->wal_watch_active || false;
    uv_timer_start(&d->watch_timer, watch_timer_cb, (uint64_t)d->cfg.watch_interval_ms,
                   (uint64_t)d->cfg.watch_interval_ms);
    uv_timer_start(&d->scan_timer, scan_timer_cb, (uint64_t)d->cfg.scan_interval_s * 1000u,
                   (uint64_t)d->cfg.scan_interval_s * 1000u);
    uv_timer_start(&d->status_timer, status_timer_cb, 1000, 1000);
    if (ac_sd_watchdog_usec(&d->watchdog_usec) > 0 && d->watchdog_usec > 0) {
        uint64_t ms = d->watchdog_usec / 2000u;
        uv_timer_start(&d->watchdog_timer, watchdog_timer_cb, ms ? ms : 1, ms ? ms : 1);
    }
    ac_daemon_catalogue_serve(d); /* from here on, the loop thread never waits on SQLite */
    ac_history_start(&d->history, 3000); /* then daily */
    ac_log_notice("%s ready: database %s, socket %s, %d worker%s", AC_SOFTWARE, d->cfg.database,
                  d->cfg.socket, d->cfg.workers, d->cfg.workers == 1 ? "" : "s");
    status_update(d);
    if (ac_metrics_start(&d->metrics, d) != 0) /* [METRICS] textfile, when set */
        ac_log_warn("metrics: cannot start the timer");
    ac_sd_ready(NULL);
    ac_sched_kick(&d->sched);
    ac_daemon_maybe_finish_drain(d);
    return 0;
}

void ac_daemon_catch_up(ac_daemon_t *d)
{
    if (d->stopping || !ac_daemon_catalogue_ok(d))
        return;
    ac_daemon_requeue_orphans(d);
    if (d->relink)
        ac_daemon_imported(d);
    check_catalogue(d); /* commits of others meanwhile; a planning pass when one is due */
    if (d->planner.pending)
        ac_daemon_run_planner(d);
    ac_sched_kick(&d->sched);
    ac_daemon_maybe_finish_drain(d);
    status_update(d);
}

void ac_daemon_catalogue_lost(ac_daemon_t *d)
{
    char note[1200];

    if (d->catalogue_lost || d->stopping)
        return;
    d->catalogue_lost = true;
    ac_log_err("%s", ac_daemon_catalogue_note(d, note, sizeof note));
    broadcast(d, "queue_state", json_pack("{s:s,s:s}", "state", "paused", "reason", note));
    /* Nothing can be recorded any more: running files stop (their outputs would have no
     * row), ingest stops; the control socket keeps answering. */
    ac_sched_cancel_running(&d->sched);
    if (d->ingest != NULL && !d->ingest_stopping) {
        d->ingest_stopping = true;
        ac_ingest_stop(d->ingest, ac_daemon_ingest_stopped);
    }
    status_update(d);
}

int ac_daemon_run(ac_daemon_t *d)
{
    uv_run(d->loop, UV_RUN_DEFAULT);
    return d->exit_code;
}

void ac_daemon_free(ac_daemon_t *d)
{
    ac_sched_free(&d->sched);
    ac_mcache_close(&d->mc);
    ac_planner_free(&d->planner);
    ac_db_close(d->db);
    d->db = NULL;
    if (d->lock_fd >= 0)
        close(d->lock_fd);
}
