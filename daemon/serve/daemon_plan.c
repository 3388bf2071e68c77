/*
 * daemon_plan.c - the daemon's planning passes (daemon.h): the planner's pass over the
 * light sessions, then the master builds' scan, then the scheduler is kicked.
 *
 * A pass starts with one read of the whole catalogue (the light sessions with uncalibrated
 * lights, which scans every fitsfile row, and the masters): 60 ms on a catalogue of
 * 200,000 rows when its pages are cached, seconds when they are not. On a WAL catalogue
 * that read runs on a pool thread, on a read-only connection of its own opened for the
 * pass, and the loop applies what it read (matching, the queue's rows: loop-side work that
 * touches only the sessions to plan), so `status` and every other request is answered
 * while the catalogue is read. A rollback-journal catalogue is read on the loop as before
 * (there a reader would hold off the daemon's own writes). Requests made while a read
 * runs are remembered by the planner (ac_planner_request) and run once it is applied.
 *
 * Thread: loop thread, except read_work (a pool thread: only its own connection and the
 * copies in its request).
 */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "ingest.h"
#include "log.h"
#include "planner_int.h"
#include "util.h"

struct plan_read {
    uv_work_t req;
    ac_daemon_t *d;
    char path[4096];
    bool all, build_masters;
    struct ac_planner_inputs in;
    ac_err_t e;
    int rc;
    uint64_t t0, t_read;
};

/* frames_settling says whether live ingest still has frames settling or being read, or an
 * import is under way: their series is not complete yet (a master may come in a later
 * batch), so master builds wait. */
static bool frames_settling(ac_daemon_t *d)
{
    ac_ingest_status_t is;

    if (d->imports > 0)
        return true;
    if (d->ingest == NULL)
        return false;
    ac_ingest_status(d->ingest, &is);
    return is.pending > 0 || is.scanning || is.in_flight > 0;
}

int ac_daemon_plan_pass(ac_daemon_t *d, bool all, struct ac_planner_inputs *in, ac_err_t *e)
{
    ac_err_t be = {0};
    uint64_t t0 = ac_now_ns(), t1;
    int rc;

    rc = in != NULL ? ac_planner_apply(&d->planner, all, true, in, e)
                    : ac_planner_run(&d->planner, all, e);
    if (rc != 0)
        return rc;
    t1 = ac_now_ns();
    if ((rc = ac_sched_scan_builds(&d->sched, frames_settling(d), &be)) != 0 &&
        !ac_db_unavailable(rc))
        ac_log_warn("planning master builds: %s", be.msg);
    ac_log_debug("planning pass%s: %.1f ms (light sessions %.1f ms, master builds %.1f ms)",
                 all ? " (all)" : "", (double)(ac_now_ns() - t0) / 1e6, (double)(t1 - t0) / 1e6,
                 (double)(ac_now_ns() - t1) / 1e6);
    d->plan_end_ns = ac_now_ns();
    d->plan_loop_ns = d->plan_end_ns - t0;
    return 0;
}

/* pass_failed handles a pass's error as the loop always did: busy catalogue, try again
 * once it is free; lost catalogue, nothing; else a warning (the planner backs off). */
static void pass_failed(ac_daemon_t *d, bool all, const ac_err_t *e)
{
    if (e->code == AC_EBUSY)
        ac_planner_request(&d->planner, all); /* once the catalogue is free */
    else if (e->code != AC_ECATALOG)
        ac_log_warn("planning: %s (trying again later)", e->msg);
}

static void read_work(uv_work_t *req)
{
    struct plan_read *r = req->data;
    ac_db_opts_t o;
    ac_db_t *db;

    ac_db_opts_default(&o);
    o.create = false;
    o.read_only = true;
    o.busy_timeout_ms = 1000;
    if ((db = ac_db_open(r->path, &o, &r->e)) == NULL) {
        r->rc = r->e.code != 0 ? r->e.code : AC_ESQLITE;
        return;
    }
    r->rc = ac_planner_read(db, r->build_masters, &r->in, &r->e);
    ac_db_close(db);
    r->t_read = ac_now_ns();
}

static void read_done(uv_work_t *req, int status)
{
    struct plan_read *r = req->data;
    ac_daemon_t *d = r->d;
    ac_err_t e = {0};

    d->plan_reading = false;
    if (status != 0 || d->stopping || !ac_daemon_catalogue_ok(d)) {
        if (r->rc == 0)
            ac_planner_inputs_free(&r->in);
        if (!d->stopping)
            ac_planner_request(&d->planner, r->all); /* once the catalogue is free */
        free(r);
        return;
    }
    if (r->rc != 0) {
        e = r->e;
        e.code = r->rc;
        ac_planner_failed(&d->planner, &e);
        pass_failed(d, r->all, &e);
    } else {
        ac_log_debug("planning read on a pool thread: %.1f ms",
                     (double)(r->t_read - r->t0) / 1e6);
        if (ac_daemon_plan_pass(d, r->all, &r->in, &e) != 0)
            pass_failed(d, r->all, &e);
    }
    free(r);
    ac_sched_kick(&d->sched);
    if (d->planner.pending)
        ac_daemon_run_planner(d); /* asked for meanwhile */
    ac_daemon_maybe_finish_drain(d);
}

/* start_read starts the pass's read on the pool; false when it cannot (the caller plans
 * on the loop). */
static bool start_read(ac_daemon_t *d, bool all)
{
    struct plan_read *r = calloc(1, sizeof *r);

    if (r == NULL)
        return false;
    r->d = d;
    r->all = all;
    r->build_masters = d->cfg.build_masters;
    r->t0 = ac_now_ns();
    ac_strlcpy(r->path, d->cfg.database, sizeof r->path);
    r->req.data = r;
    if (uv_queue_work(d->loop, &r->req, read_work, read_done) != 0) {
        free(r);
        return false;
    }
    d->plan_reading = true;
    return true;
}

void ac_daemon_run_planner(ac_daemon_t *d)
{
    ac_err_t e = {0};
    bool all = false;

    if (d->plan_reading || !ac_daemon_catalogue_ok(d))
        return; /* the running read takes the request after it; or catch-up does */
    ac_planner_take_request(&d->planner, &all);
    if (ac_db_is_wal(d->db) && !d->stopping &&
        ac_backoff_due(&d->planner.retry, ac_planner_mono_s()) && start_read(d, all))
        return;
    if (ac_daemon_plan_pass(d, all, NULL, &e) != 0)
        pass_failed(d, all, &e);
    ac_sched_kick(&d->sched);
    ac_daemon_maybe_finish_drain(d);
}
