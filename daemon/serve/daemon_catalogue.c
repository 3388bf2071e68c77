/*
 * daemon_catalogue.c - the daemon and its catalogue file (part of the daemon, daemon.h):
 * opening it at start-up without ever replacing the user's by an empty one, its
 * availability while serving, and what `status` and STATUS= say about it.
 *
 * Start-up. state_dir/catalogue.path (the marker) names the catalogue astrocald last
 * opened successfully. A missing catalogue is created only when the marker does not name
 * it (a first start, or a new path in the configuration) or with --create; otherwise
 * astrocald refuses to start (exit 78): the catalogue was deleted or its disk is not
 * mounted, and an empty one in its place would hide that. Before a new catalogue is
 * created, a -wal or -journal file left at its path (the old catalogue's) is moved aside
 * and its -shm removed, so that SQLite does not replay them into the new file.
 *
 * Serving. Start-up may wait for locks (ac_db_opts_default); then the connection switches
 * to short attempts (a busy timeout of SHORT_BUSY_MS, no retry loop): the loop thread never
 * waits on SQLite for longer. Every refusal makes the connection busy (db.h ac_db_state);
 * callers put their work aside, and while the catalogue is busy the scheduler starts
 * nothing and the planner does not run (ac_daemon_catalogue_ok). The catalogue timer then
 * probes the write lock with a back-off (BACKOFF_MIN_MS, doubling up to BACKOFF_MAX_MS);
 * once a probe or any other write goes through, the daemon catches up (daemon.c
 * ac_daemon_catch_up): files and master builds left running by work whose outcome could
 * not be recorded are put back (requeue_orphans), the planner runs, the scheduler starts.
 * While the catalogue is available the same timer checks its identity and probes its lock
 * every CHECK_MS, so that `status` says it is busy even while no work waits.
 * A lost catalogue (replaced or deleted) pauses the daemon until it is restarted
 * (daemon.c ac_daemon_catalogue_lost).
 *
 * Thread: loop thread only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "fsutil.h"
#include "log.h"
#include "util.h"

#define MARKER_NAME "catalogue.path"
#define SHORT_BUSY_MS 10  /* SQLite's own wait per statement while serving */
#define BACKOFF_MIN_MS 50 /* first probe of a busy catalogue */
#define BACKOFF_MAX_MS 2000
#define CHECK_MS 2000   /* identity check while available */
#define LOG_AFTER_S 1.0 /* a busy episode is logged once it lasts this long */

/* ---- start-up ---- */

static void marker_path(const ac_daemon_t *d, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", d->cfg.state_dir, MARKER_NAME);
}

/* read_marker reads the catalogue path the marker names into out ("" when none). */
static void read_marker(const char *path, char *out, size_t size)
{
    FILE *f = fopen(path, "re");

    out[0] = '\0';
    if (f == NULL)
        return;
    if (fgets(out, (int)size, f) == NULL)
        out[0] = '\0';
    out[strcspn(out, "\n")] = '\0';
    fclose(f);
}

/* move_aside moves the journal files of a catalogue that is gone out of the way of a new
 * one at the same path: SQLite would otherwise apply them to the new file. */
static void move_aside(const char *db)
{
    static const char *const journals[] = {"-wal", "-journal"};
    char from[4200], to[4300], shm[4200];

    for (size_t i = 0; i < sizeof journals / sizeof journals[0]; i++) {
        snprintf(from, sizeof from, "%s%s", db, journals[i]);
        if (access(from, F_OK) != 0)
            continue;
        snprintf(to, sizeof to, "%s.stale-%lld", from, (long long)time(NULL));
        if (rename(from, to) == 0)
            ac_log_warn("%s was left by a catalogue that is gone: moved to %s", from, to);
        else
            ac_log_err("cannot move %s aside: %s", from, strerror(errno));
    }
    snprintf(shm, sizeof shm, "%s-shm", db);
    if (unlink(shm) == 0)
        ac_log_info("removed %s, left by a catalogue that is gone", shm);
}

int ac_daemon_open_catalogue(ac_daemon_t *d, ac_err_t *e)
{
    char dir[4096], marker[4200], used[4096];
    ac_db_opts_t o;
    struct stat st;
    bool missing;

    missing = stat(d->cfg.database, &st) != 0 && errno == ENOENT;
    if (missing) {
        marker_path(d, marker, sizeof marker);
        read_marker(marker, used, sizeof used);
        if (!d->create_catalogue && strcmp(used, d->cfg.database) == 0) {
            ac_err_set(e, AC_ECATALOG,
                       "catalogue %s is missing but astrocald used it before (marker %s): "
                       "restore it, or start once with --create to make a new one",
                       d->cfg.database, marker);
            return EX_CONFIG;
        }
        move_aside(d->cfg.database);
        ac_log_notice("creating a new catalogue %s", d->cfg.database);
    }
    /* Its folder too (not before: a disk that is not mounted leaves the folder missing). */
    ac_path_dir(d->cfg.database, dir, sizeof dir);
    if (ac_fsutil_mkdirs(dir, e) != 0)
        return EX_CANTCREAT;
    ac_db_opts_default(&o);
    o.create = missing;
    d->db = ac_db_open(d->cfg.database, &o, e);
    return d->db != NULL ? 0 : EX_CANTCREAT;
}

void ac_daemon_mark_catalogue(ac_daemon_t *d)
{
    char marker[4200], tmp[4300], used[4096];
    int fd;
    bool ok;

    marker_path(d, marker, sizeof marker);
    read_marker(marker, used, sizeof used);
    if (strcmp(used, d->cfg.database) == 0)
        return;
    snprintf(tmp, sizeof tmp, "%s.tmp", marker);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    ok = fd >= 0 && dprintf(fd, "%s\n", d->cfg.database) > 0;
    ok = fd >= 0 && fsync(fd) == 0 && ok;
    if (fd >= 0)
        close(fd);
    if (!ok || rename(tmp, marker) != 0) {
        ac_log_warn("cannot record the catalogue's path in %s: %s", marker, strerror(errno));
        unlink(tmp);
    }
}

/* ---- serving ---- */

static double unix_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* hhmmss formats a unix time as local HH:MM:SS. */
static const char *hhmmss(double t, char *buf, size_t size)
{
    time_t s = (time_t)t;
    struct tm tm;

    if (localtime_r(&s, &tm) == NULL || strftime(buf, size, "%H:%M:%S", &tm) == 0)
        ac_strlcpy(buf, "?", size);
    return buf;
}

static void catalogue_timer_cb(uv_timer_t *t);

static void arm(ac_daemon_t *d, uint64_t ms)
{
    uv_timer_start(&d->catalogue_timer, catalogue_timer_cb, ms, 0);
}

/* state_changed is the connection's hook: note, log, and let the timer act (the hook runs
 * inside whatever work met the change). */
static void state_changed(void *ud, ac_db_state_t st)
{
    ac_daemon_t *d = ud;

    if (st == AC_DB_BUSY) {
        d->busy_since = ac_db_busy_since(d->db);
        d->busy_logged = false;
        d->backoff_ms = BACKOFF_MIN_MS;
        arm(d, BACKOFF_MIN_MS);
    } else if (st == AC_DB_OK) {
        double s = unix_now() - d->busy_since;
        if (d->busy_logged)
            ac_log_notice("catalogue available again after %.1f s", s);
        else /* a short collision with another writer: not worth a notice */
            ac_log_debug("catalogue available again after %.3f s", s);
        d->catch_up = true;
        arm(d, 1);
    } else {
        arm(d, 1);
    }
}

/* log_busy logs a busy episode once it has lasted LOG_AFTER_S. */
static void log_busy(ac_daemon_t *d)
{
    char buf[16];

    if (d->busy_logged || unix_now() - d->busy_since < LOG_AFTER_S)
        return;
    d->busy_logged = true;
    ac_log_notice("catalogue busy since %s: another program holds its lock; astrocald waits "
                  "for it",
                  hhmmss(d->busy_since, buf, sizeof buf));
}

/* catalogue_timer_cb probes the catalogue (its identity, then its write lock, taken and
 * released at once): every CHECK_MS while it is available, so that a lock held by another
 * program shows in `status` even while nothing waits; with the back-off while busy. */
static void catalogue_timer_cb(uv_timer_t *t)
{
    ac_daemon_t *d = t->data;
    bool was_busy = ac_db_state(d->db) == AC_DB_BUSY;
    ac_err_t e = {0};

    if (d->stopping)
        return;
    if (ac_db_probe(d->db, &e) != 0 && !ac_db_unavailable(e.code))
        ac_log_debug("probing the catalogue: %s", e.msg);
    switch (ac_db_state(d->db)) {
    case AC_DB_LOST:
        ac_daemon_catalogue_lost(d);
        return;
    case AC_DB_BUSY:
        log_busy(d);
        if (was_busy)
            d->backoff_ms =
                d->backoff_ms * 2 < BACKOFF_MAX_MS ? d->backoff_ms * 2 : BACKOFF_MAX_MS;
        arm(d, d->backoff_ms);
        return;
    case AC_DB_OK:
        break;
    }
    if (d->catch_up) {
        d->catch_up = false;
        ac_daemon_catch_up(d);
    }
    arm(d, CHECK_MS);
}

void ac_daemon_catalogue_serve(ac_daemon_t *d)
{
    ac_db_opts_t o;

    ac_db_opts_default(&o);
    o.busy_timeout_ms = SHORT_BUSY_MS;
    o.retry_budget_ms = 0;
    ac_db_set_opts(d->db, &o);
    ac_db_set_state_hook(d->db, state_changed, d);
    d->backoff_ms = BACKOFF_MIN_MS;
    d->busy_since = ac_db_busy_since(d->db);
    d->catch_up = ac_db_state(d->db) != AC_DB_OK;
    arm(d, ac_db_state(d->db) == AC_DB_OK ? CHECK_MS : BACKOFF_MIN_MS);
}

bool ac_daemon_catalogue_ok(ac_daemon_t *d)
{
    return ac_db_state(d->db) == AC_DB_OK;
}

const char *ac_daemon_catalogue_note(ac_daemon_t *d, char *buf, size_t size)
{
    char t[16];

    buf[0] = '\0';
    if (ac_db_state(d->db) == AC_DB_BUSY)
        snprintf(buf, size, "catalogue busy since %s", hhmmss(d->busy_since, t, sizeof t));
    else if (ac_db_state(d->db) == AC_DB_LOST)
        snprintf(buf, size,
                 "%s; the queue is paused: restart astrocald once the catalogue is back",
                 ac_db_lost_reason(d->db));
    return buf;
}

json_t *ac_daemon_catalogue_json(ac_daemon_t *d)
{
    static const char *const names[] = {"ok", "busy", "lost"};
    ac_db_state_t st = ac_db_state(d->db);
    char note[1200], t[16];

    ac_daemon_catalogue_note(d, note, sizeof note);
    return json_pack("{s:s,s:s?,s:o,s:s?}", "state", names[st], "busy_since",
                     st == AC_DB_BUSY ? hhmmss(d->busy_since, t, sizeof t) : NULL,
                     "busy_seconds",
                     st == AC_DB_BUSY ? json_real(unix_now() - d->busy_since) : json_null(),
                     "message", note[0] ? note : NULL);
}

/* ---- work whose outcome could not be recorded ---- */

/* in_flight says whether the scheduler runs file_id (running holds its running files). */
static bool in_flight(json_t *running, const char *file_id)
{
    size_t i;
    json_t *r;

    json_array_foreach(running, i, r)
    {
        if (strcmp(json_string_value(json_object_get(r, "file_id")), file_id) == 0)
            return true;
    }
    return false;
}

static void requeue_files(ac_daemon_t *d)
{
    int counts[AC_FILE_NSTATES] = {0};
    ac_qsession_list_t sl = {0};
    json_t *running;
    ac_err_t e = {0};

    if (ac_queue_counts(&d->queue, NULL, counts, &e) != 0 ||
        counts[AC_FILE_RUNNING] <= ac_sched_jobs(&d->sched) ||
        ac_queue_sessions(&d->queue, &sl, &e) != 0)
        return;
    running = ac_sched_running_json(&d->sched);
    for (size_t i = 0; i < sl.n; i++) {
        ac_qfile_list_t fl = {0};
        if (sl.items[i].counts[AC_FILE_RUNNING] == 0 ||
            ac_queue_files(&d->queue, sl.items[i].session_id, &fl, &e) != 0)
            continue;
        for (size_t k = 0; k < fl.n; k++) {
            const ac_qfile_t *f = &fl.items[k];
            if (f->state != AC_FILE_RUNNING || in_flight(running, f->file_id))
                continue;
            if (ac_queue_release(&d->queue, f->file_id, 0, &e) == 0)
                ac_log_notice("%s: its outcome could not be recorded while the catalogue was "
                              "busy: queued again",
                              f->path);
        }
        ac_queue_files_free(&fl);
    }
    json_decref(running);
    ac_queue_sessions_free(&sl);
}

static void requeue_builds(ac_daemon_t *d)
{
    ac_build_row_list_t bl = {0};
    json_t *b = ac_sched_build_json(&d->sched);
    const char *key = json_string_value(json_object_get(b, "key"));
    ac_err_t e = {0};

    if (ac_catalog_build_list(d->db, &bl, &e) == 0) {
        for (size_t i = 0; i < bl.n; i++) {
            const ac_build_row_t *r = &bl.items[i];
            if (r->state != AC_BUILD_RUNNING || (key != NULL && strcmp(key, r->key) == 0))
                continue;
            if (ac_catalog_build_defer(d->db, r->key,
                                       "its outcome could not be recorded (catalogue busy)", 0,
                                       false, &e) == 0)
                ac_log_notice("master build %s: its outcome could not be recorded while the "
                              "catalogue was busy: queued again",
                              r->key);
        }
    }
    ac_catalog_build_rows_free(&bl);
    json_decref(b);
}

void ac_daemon_requeue_orphans(ac_daemon_t *d)
{
    requeue_files(d);
    requeue_builds(d);
}
