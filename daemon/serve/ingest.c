/*
 * ingest.c - live ingest of FITS files landing in watched folders (orchestration, libuv):
 * its life cycle (ac_ingest_new, _start, _rescan, _stop), the tick and the status. See
 * ingest.h for the behaviour and ingest_int.h for the parts:
 *   - a table of files (path -> state) and one of folders (path -> watch), both string
 *     hash tables (ingest_map.c); files waiting to settle are also in a `pend` array, so
 *     the tick looks at them only;
 *   - one repeating timer (the tick, about settle_s / 4, here): it starts the full scan
 *     when due, the folder scans that are asked for, and pool work for the files that are
 *     due;
 *   - scans (one at a time, on the pool) list folders (recursively or not) and report
 *     every FITS file with its size and time and every folder; the loop watches folders it
 *     did not watch yet and scans each of them once more after its watch is set, so a file
 *     created between the listing and the watch is not missed (ingest_watch.c);
 *   - probes (at most max_inflight, on the pool) stat a few files and read the settled
 *     ones (ac_import_scan_file, ingest_settle.c); the loop registers what they read in
 *     one transaction (ingest_register.c).
 * File states: PENDING (waiting to settle) -> PROBING (on the pool) -> DONE (registered,
 * never read again) | REJECTED (duplicate, unsupported, unreadable) | INCOMPLETE; the last
 * two go back to PENDING, with a recheck, on an event or a scan that shows a change.
 *
 * Ownership: struct ac_ingest owns every file, watch, scan and probe; it is freed once every
 * handle is closed and every work returned (ac_ingest_maybe_finish).
 * Thread: loop thread (see ingest_int.h for what pool threads touch).
 */
#include "ingest.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "ingest_int.h"
#include "log.h"
#include "util.h"

int (*ac_ingest_watch_hook)(const char *dir) = NULL;

void ac_ingest_opts_default(ac_ingest_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->settle_s = 5.0;
    o->rescan_interval_s = 60;
    o->files_per_work = 4;
    o->max_inflight = 2;
    o->type_from_path = true;
}

void ac_ingest_set_type_from_path(ac_ingest_t *ing, bool on)
{
    ing->iopts.type_from_path = on;
}

static void on_tick(uv_timer_t *t)
{
    struct ac_ingest *ing = t->data;
    uint64_t now = ac_now_ns();

    if (now >= ing->next_full_ns)
        ing->want_full = true;
    ac_ingest_start_scan(ing, now);
    ac_ingest_link_sessions(ing, now);
    ac_ingest_launch_probes(ing, now);
}

static char **copy_strings(const char *const *v, size_t n)
{
    char **out = calloc(n + 1, sizeof *out);

    for (size_t i = 0; out != NULL && i < n; i++) {
        if (v[i] == NULL || (out[i] = strdup(v[i])) == NULL) {
            for (size_t k = 0; k < i; k++)
                free(out[k]);
            free(out);
            return NULL;
        }
        /* "/a/b/" and "/a/b" are the same folder. */
        for (size_t l = strlen(out[i]); l > 1 && out[i][l - 1] == '/'; l--)
            out[i][l - 1] = '\0';
    }
    return out;
}

static void free_strings(char **v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        free(v[i]);
    free(v);
}

static void free_all(struct ac_ingest *ing)
{
    for (size_t i = 0; i < ing->files.cap; i++) {
        struct file *f = ing->files.v[i];
        if (f != NULL) {
            free(f->path);
            free(f);
        }
    }
    for (size_t i = 0; i < ing->watches.cap; i++) {
        struct watch *w = ing->watches.v[i];
        if (w != NULL) {
            free(w->path);
            free(w);
        }
    }
    free(ing->files.v);
    free(ing->watches.v);
    free(ing->pend);
    free_strings(ing->extra, ing->nextra);
    free(ing->extra_rec);
    free_strings(ing->dirs, ing->o.n_dirs);
    free_strings(ing->excl, ing->o.n_exclude);
    free_strings(ing->real, ing->o.n_dirs);
    free(ing);
}

ac_ingest_t *ac_ingest_new(uv_loop_t *loop, ac_db_t *db, const ac_ingest_opts_t *opts,
                           ac_ingest_registered_cb on_registered, void *ud, ac_err_t *e)
{
    struct ac_ingest *ing = NULL;

    AC_DB_OWNER_CHECK(db);
    if (loop == NULL || opts == NULL || opts->n_dirs == 0 || opts->dirs == NULL ||
        (opts->n_exclude > 0 && opts->exclude == NULL) || !(opts->settle_s >= 0) ||
        !(opts->rescan_interval_s > 0)) {
        ac_err_set(e, -EINVAL,
                   "ingest: need at least one folder, settle_s >= 0 and "
                   "rescan_interval_s > 0");
        return NULL;
    }
    for (size_t i = 0; i < opts->n_dirs + opts->n_exclude; i++) {
        const char *d = i < opts->n_dirs ? opts->dirs[i] : opts->exclude[i - opts->n_dirs];
        if (d == NULL || d[0] != '/') {
            ac_err_set(e, -EINVAL, "ingest: folder '%s' is not an absolute path",
                       d != NULL ? d : "(null)");
            return NULL;
        }
    }
    if ((ing = calloc(1, sizeof *ing)) == NULL ||
        (ing->dirs = copy_strings(opts->dirs, opts->n_dirs)) == NULL ||
        (ing->real = calloc(opts->n_dirs + 1, sizeof *ing->real)) == NULL ||
        (ing->excl = copy_strings(opts->exclude, opts->n_exclude)) == NULL) {
        if (ing != NULL) {
            free_strings(ing->dirs, opts->n_dirs);
            free(ing->real);
        }
        free(ing);
        ac_err_set(e, -ENOMEM, "ingest: no memory");
        return NULL;
    }
    ing->o = *opts;
    ing->o.dirs = (const char *const *)ing->dirs;
    ing->o.exclude = (const char *const *)ing->excl;
    if (ing->o.files_per_work < 1)
        ing->o.files_per_work = 1;
    if (ing->o.max_inflight < 1)
        ing->o.max_inflight = 1;
    ing->loop = loop;
    ing->db = db;
    ing->on_registered = on_registered;
    ing->ud = ud;
    ing->settle_ns = (uint64_t)(opts->settle_s * 1e9);
    ac_import_opts_default(&ing->iopts);
    ing->iopts.utc_offset_h = opts->utc_offset_h;
    ing->iopts.settle_s = 0; /* settling is decided here, to the nanosecond */
    ing->iopts.type_from_path = opts->type_from_path;
    ing->iopts.roots = ing->o.dirs;
    ing->iopts.n_roots = ing->o.n_dirs;
    ing->c.last_scan_s = -1;
    uv_timer_init(loop, &ing->tick); /* cannot fail on Linux */
    ing->tick.data = ing;
    ing->open = 1;
    return ing;
}

int ac_ingest_start(ac_ingest_t *ing, ac_err_t *e)
{
    uint64_t now = ac_now_ns();
    double tick_ms = ing->o.settle_s * 250.0;
    int rc;

    /* Paths the catalogue already has are never read (under the folders as configured
     * and as resolved, which differ when a folder is a link). */
    for (size_t i = 0; i < 2 * ing->o.n_dirs; i++) {
        char real[PATH_MAX];
        const char *dir = ing->dirs[i / 2];
        ac_path_list_t l = {0};
        if (i % 2 == 1 && (realpath(dir, real) == NULL || strcmp(real, dir) == 0))
            continue;
        if ((rc = ac_catalog_registered_paths(ing->db, i % 2 ? real : dir, &l, e)) != 0)
            return rc;
        for (size_t k = 0; k < l.n; k++) {
            struct file *f = ac_ingest_get_file(ing, l.items[k], true);
            if (f != NULL) {
                f->st = F_DONE;
                f->touched_ns = now;
            }
        }
        ac_catalog_paths_free(&l);
    }
    ing->want_full = true;
    ac_ingest_start_scan(ing, now);
    tick_ms = tick_ms < 25 ? 25 : tick_ms > 1000 ? 1000 : tick_ms;
    uv_timer_start(&ing->tick, on_tick, (uint64_t)tick_ms, (uint64_t)tick_ms);
    return 0;
}

void ac_ingest_rescan(ac_ingest_t *ing)
{
    if (ing != NULL && !ing->stopping)
        ing->want_full = true;
}

void ac_ingest_release(struct ac_ingest *ing)
{
    ing->open--;
    ac_ingest_maybe_finish(ing);
}

static void on_closed(uv_handle_t *h)
{
    ac_ingest_release(h->data);
}

void ac_ingest_maybe_finish(struct ac_ingest *ing)
{
    if (!ing->stopping || ing->open > 0)
        return;
    if (ing->on_stopped != NULL)
        ing->on_stopped(ing->ud);
    free_all(ing);
}

void ac_ingest_stop(ac_ingest_t *ing, ac_ingest_stopped_cb done)
{
    if (ing == NULL || ing->stopping)
        return;
    ing->stopping = true;
    ing->on_stopped = done;
    uv_timer_stop(&ing->tick);
    uv_close((uv_handle_t *)&ing->tick, on_closed);
    ac_ingest_unwatch_all(ing);
    for (struct probe *p = ing->probes; p != NULL; p = p->next)
        uv_cancel((uv_req_t *)&p->w);
    if (ing->scan != NULL)
        uv_cancel((uv_req_t *)&ing->scan->w);
}

void ac_ingest_status(const ac_ingest_t *ing, ac_ingest_status_t *out)
{
    uint64_t now = ac_now_ns();

    *out = ing->c;
    out->dirs = (int)ing->o.n_dirs;
    out->dirs_missing = ing->missing;
    out->watched = 0;
    for (size_t i = 0; i < ing->watches.cap; i++) {
        const struct watch *w = ing->watches.v[i];
        out->watched += w != NULL && w->started;
    }
    out->fallback = out->polled > 0;
    out->pending = out->incomplete = 0;
    for (size_t i = 0; i < ing->files.cap; i++) {
        const struct file *f = ing->files.v[i];
        out->pending += f != NULL && (f->st == F_PENDING || f->st == F_PROBING);
        out->incomplete += f != NULL && f->st == F_INCOMPLETE;
    }
    out->in_flight = ing->inflight + (ing->scan != NULL);
    out->scanning = ing->scan != NULL;
    out->next_scan_in = ing->want_full || ing->next_full_ns <= now
                            ? 0
                            : (double)(ing->next_full_ns - now) / 1e9;
}

json_t *ac_ingest_status_json(const ac_ingest_t *ing)
{
    ac_ingest_status_t s;
    json_t *o, *polled = json_array(), *dirs = json_array();

    ac_ingest_status(ing, &s);
    for (size_t i = 0; i < ing->watches.cap && json_array_size(polled) < 20; i++) {
        const struct watch *w = ing->watches.v[i];
        if (w != NULL && w->polled)
            json_array_append_new(
                polled, json_pack("{s:s,s:s}", "path", w->path, "error", uv_strerror(w->err)));
    }
    for (size_t i = 0; i < ing->o.n_dirs; i++)
        json_array_append_new(dirs, json_string(ing->dirs[i]));
    o = json_pack("{s:o,s:i,s:i,s:i,s:b,s:o,s:i,s:i,s:i,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,"
                  "s:I,s:I,s:I,s:f,s:f}",
                  "dirs", dirs, "dirs_missing", s.dirs_missing, "watched", s.watched, "polled",
                  s.polled, "fallback", s.fallback, "polled_dirs", polled, "pending", s.pending,
                  "incomplete", s.incomplete, "in_flight", s.in_flight, "scanning", s.scanning,
                  "events", (json_int_t)s.events, "full_scans", (json_int_t)s.full_scans,
                  "scans", (json_int_t)s.scans, "registered", (json_int_t)s.registered,
                  "masters", (json_int_t)s.masters, "duplicates", (json_int_t)s.duplicates,
                  "rejected", (json_int_t)s.rejected, "untyped", (json_int_t)s.untyped,
                  "inferred", (json_int_t)s.inferred, "sessions_created",
                  (json_int_t)s.sessions_created, "sessions_linked",
                  (json_int_t)s.sessions_linked, "last_scan_s", s.last_scan_s, "next_scan_in",
                  s.next_scan_in);
    return o;
}
