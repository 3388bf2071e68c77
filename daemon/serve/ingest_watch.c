/*
 * ingest_watch.c - live ingest's watching (see ingest.h, ingest_int.h): the folders and
 * their watches (one uv_fs_event per folder, as inotify is not recursive; a folder whose
 * watch fails is polled by the scans instead), the events (a FITS name is touched, a new
 * folder watched then listed), and the scans: one at a time on the pool, listing some
 * folders or, every rescan_interval_s, all of them (ac_walk), then on the loop watching
 * the folders found, recording the files seen (ingest_settle.c) and, after a complete full
 * scan, forgetting what is gone.
 *
 * Ownership: watches belong to ing->watches until their handle is closed; a scan is owned
 * by ing->scan while it runs and freed in scan_done.
 * Thread: loop thread, except scan_work (pool): it reads the options and its own scan's
 * roots and writes only its scan.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fsutil.h"
#include "ingest_int.h"
#include "log.h"
#include "util.h"
#include "walk.h"

static void on_event(uv_fs_event_t *h, const char *name, int events, int status);
static void queue_scan(struct ac_ingest *ing, const char *dir, bool recursive);

static bool excluded(const struct ac_ingest *ing, const char *path)
{
    for (size_t i = 0; i < ing->o.n_exclude; i++) {
        size_t n = strlen(ing->excl[i]);
        if (strncmp(path, ing->excl[i], n) == 0 && (path[n] == '\0' || path[n] == '/'))
            return true;
    }
    return false;
}

static void on_watch_closed(uv_handle_t *h)
{
    struct watch *w = h->data;
    struct ac_ingest *ing = w->ing;

    free(w->path);
    free(w);
    ac_ingest_release(ing);
}

static void unwatch(struct ac_ingest *ing, struct watch *w)
{
    ing->c.polled -= w->polled;
    ac_ingest_map_del(&ing->watches, w->path);
    uv_close((uv_handle_t *)&w->h, on_watch_closed);
}

void ac_ingest_unwatch_all(struct ac_ingest *ing)
{
    for (size_t i = 0; i < ing->watches.cap; i++) {
        struct watch *w = ing->watches.v[i];
        if (w != NULL) {
            ing->watches.v[i] = NULL;
            ing->watches.n--;
            uv_close((uv_handle_t *)&w->h, on_watch_closed);
        }
    }
}

/* ac_ingest_watch_dir watches a folder (again when it is another folder by now, its watch had
 * failed, or force: it was just created, maybe reusing the inode of one deleted): 1 when a
 * watch was set up, 0 when it was already there, -1 when it failed (the folder is then
 * polled by the scans) or there was no memory. */
int ac_ingest_watch_dir(struct ac_ingest *ing, const char *path, dev_t dev, ino_t ino,
                        bool force, uint64_t now)
{
    struct watch *w = ac_ingest_map_get(&ing->watches, path);
    int rc;

    if (w != NULL && w->dev == dev && w->ino == ino && !w->polled && !force)
        return 0;
    if (w == NULL) {
        if ((w = calloc(1, sizeof *w)) == NULL || (w->path = strdup(path)) == NULL ||
            ac_ingest_map_put(&ing->watches, w) != 0) {
            if (w != NULL)
                free(w->path);
            free(w);
            return -1;
        }
        w->ing = ing;
        uv_fs_event_init(ing->loop, &w->h); /* cannot fail on Linux */
        w->h.data = w;
        ing->open++;
    } else if (w->started) {
        uv_fs_event_stop(&w->h);
        w->started = false;
    }
    w->dev = dev;
    w->ino = ino;
    w->added_ns = now;
    w->gen = ing->gen;
    rc = ac_ingest_watch_hook != NULL ? ac_ingest_watch_hook(path) : 0;
    if (rc == 0)
        rc = uv_fs_event_start(&w->h, on_event, path, 0);
    if (rc == 0) {
        if (w->polled)
            ac_log_notice("ingest: watching folder %s again", path);
        ing->c.polled -= w->polled;
        w->polled = false;
        w->started = true;
        return 1;
    }
    if (!w->polled) {
        w->polled = true;
        w->err = rc;
        ing->c.polled++;
        if (ing->warned++ < MAX_WATCH_WARNINGS)
            ac_log_warn("ingest: cannot watch folder %s (%s%s): scanning it every %g s instead",
                        path, uv_strerror(rc),
                        rc == UV_ENOSPC ? ", raise fs.inotify.max_user_watches" : "",
                        ing->o.rescan_interval_s);
        else
            ing->suppressed++;
    }
    return -1;
}

static void on_event(uv_fs_event_t *h, const char *name, int events, int status)
{
    struct watch *w = h->data;
    struct ac_ingest *ing = w->ing;
    uint64_t now = ac_now_ns();
    struct stat st;
    char *path = NULL;

    if (ing->stopping)
        return;
    ing->c.events++;
    if (status < 0 || name == NULL || name[0] == '\0') {
        queue_scan(ing, w->path, false);
        return;
    }
    if (ac_fsutil_is_tmpname(name) || (path = ac_asprintf("%s/%s", w->path, name)) == NULL ||
        excluded(ing, path)) {
        free(path);
        return;
    }
    if (ac_import_is_fits_name(name)) {
        ac_ingest_touch(ing, path, now);
    } else if ((events & UV_RENAME) && lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        /* A new folder: watch it first, then list it (what was created before the watch
         * is found by the listing, what comes after by the watch). */
        if (ac_ingest_watch_dir(ing, path, st.st_dev, st.st_ino, true, now) > 0) {
            queue_scan(ing, path, true);
            ac_ingest_start_scan(ing, now);
        }
    }
    free(path);
}

/* resolve_roots finds the configured folders (they may appear, or be links) and watches
 * them before they are listed. */
static void resolve_roots(struct ac_ingest *ing, uint64_t now)
{
    char real[PATH_MAX];
    struct stat st;

    ing->missing = 0;
    for (size_t i = 0; i < ing->o.n_dirs; i++) {
        bool ok = realpath(ing->dirs[i], real) != NULL && stat(real, &st) == 0;
        if (ok && !S_ISDIR(st.st_mode)) {
            ok = false;
            errno = ENOTDIR;
        }
        if (!ok) {
            if (ing->real[i] != NULL || ing->c.full_scans == 0)
                ac_log_warn("ingest: folder %s is missing (%s): looking for it every %g s",
                            ing->dirs[i], strerror(errno), ing->o.rescan_interval_s);
            free(ing->real[i]);
            ing->real[i] = NULL;
            ing->missing++;
            continue;
        }
        if (ing->real[i] == NULL || strcmp(ing->real[i], real) != 0) {
            if (ing->c.full_scans > 0)
                ac_log_notice("ingest: folder %s is there now", ing->dirs[i]);
            free(ing->real[i]);
            ing->real[i] = strdup(real);
        }
        ac_ingest_watch_dir(ing, real, st.st_dev, st.st_ino, false, now);
    }
}

static void add_obs(struct scan *sc, const char *path, const struct stat *st, bool dir)
{
    struct obs *o;

    if (ac_grow((void **)&sc->o, &sc->cap, sc->n, sizeof *sc->o) != 0)
        goto nomem;
    o = &sc->o[sc->n];
    if ((o->path = strdup(path)) == NULL)
        goto nomem;
    o->dir = dir;
    o->size = st->st_size;
    o->mtime_ns = ac_ingest_mtime_ns(st);
    o->dev = st->st_dev;
    o->ino = st->st_ino;
    sc->n++;
    return;
nomem:
    sc->errors++;
    snprintf(sc->err, sizeof sc->err, "%s: no memory", path);
}

/* The walk (walk.h) reports FITS-named regular files (or links to them), astrocald's
 * temporary files left out, and folders (not links to folders, so no loops); excluded
 * folders are neither reported nor entered. A folder that vanished is not an error. */
static bool walk_wants(void *ud, const char *name)
{
    (void)ud;
    return ac_import_is_fits_name(name) && !ac_fsutil_is_tmpname(name);
}

static int walk_visit(void *ud, const ac_walk_entry_t *e)
{
    struct scan *sc = ud;

    if (excluded(sc->ing, e->path))
        return AC_WALK_SKIP;
    add_obs(sc, e->path, &e->st, e->is_dir);
    return AC_WALK_NEXT;
}

static void walk_error(void *ud, const char *dir, int err)
{
    struct scan *sc = ud;

    if (err == ENOENT)
        return;
    sc->errors++;
    snprintf(sc->err, sizeof sc->err, "%s: %s", dir, strerror(err));
}

static void scan_work(uv_work_t *w)
{
    struct scan *sc = w->data;
    struct stat st;

    sc->t0 = ac_now_ns();
    for (size_t i = 0; i < sc->nroots; i++) {
        if (stat(sc->roots[i], &st) != 0 || !S_ISDIR(st.st_mode))
            continue;
        static const ac_walk_ops_t deep = {true, walk_wants, walk_visit, walk_error};
        static const ac_walk_ops_t flat = {false, walk_wants, walk_visit, walk_error};
        add_obs(sc, sc->roots[i], &st, true);
        ac_walk(sc->roots[i], sc->recursive[i] ? &deep : &flat, sc);
    }
    sc->t1 = ac_now_ns();
}

static void scan_free(struct scan *sc)
{
    for (size_t i = 0; i < sc->n; i++)
        free(sc->o[i].path);
    for (size_t i = 0; i < sc->nroots; i++)
        free(sc->roots[i]);
    free(sc->o);
    free(sc->roots);
    free(sc->recursive);
    free(sc);
}

/* sweep forgets, after a complete full scan, the folders and files it did not see that
 * nothing mentioned since it started (deleted or moved away). */
static void sweep(struct ac_ingest *ing, const struct scan *sc)
{
    void **gone = calloc(ing->watches.n + ing->files.n + 1, sizeof *gone);
    size_t n = 0;

    if (gone == NULL)
        return;
    for (size_t i = 0; i < ing->watches.cap; i++) {
        struct watch *w = ing->watches.v[i];
        if (w != NULL && w->gen != ing->gen && w->added_ns < sc->t0)
            gone[n++] = w;
    }
    for (size_t i = 0; i < n; i++)
        unwatch(ing, gone[i]);
    n = 0;
    /* Files under a folder that is missing for now (unmounted?) are kept: registered ones
     * need not be read again when it comes back. */
    for (size_t i = 0; ing->missing == 0 && i < ing->files.cap; i++) {
        struct file *f = ing->files.v[i];
        if (f != NULL && f->st != F_PROBING && f->touched_ns < sc->t0)
            gone[n++] = f;
    }
    for (size_t i = 0; i < n; i++)
        ac_ingest_drop_file(ing, gone[i]);
    free(gone);
}

static void scan_done(uv_work_t *w, int status)
{
    struct scan *sc = w->data;
    struct ac_ingest *ing = sc->ing;
    uint64_t now = ac_now_ns();

    ing->scan = NULL;
    ing->open--;
    if (ing->stopping || status != 0) {
        scan_free(sc);
        ac_ingest_maybe_finish(ing);
        return;
    }
    ing->c.scans++;
    ing->warned = ing->suppressed = 0;
    if (sc->full) {
        ing->gen++;
        ing->c.full_scans++;
        ing->c.last_scan_s = (double)(sc->t1 - sc->t0) / 1e9;
    }
    if (sc->errors > 0)
        ac_log_warn("ingest: %d folder%s could not be listed, e.g. %s", sc->errors,
                    sc->errors == 1 ? "" : "s", sc->err);
    for (size_t i = 0; i < sc->n; i++) {
        const struct obs *o = &sc->o[i];
        struct watch *wt;
        if (!o->dir) {
            ac_ingest_observe(ing, o, now);
            continue;
        }
        /* A folder watched only now was listed before its watch: list it once more. */
        if (ac_ingest_watch_dir(ing, o->path, o->dev, o->ino, false, now) > 0)
            queue_scan(ing, o->path, false);
        if (sc->full && (wt = ac_ingest_map_get(&ing->watches, o->path)) != NULL)
            wt->gen = ing->gen;
    }
    if (ing->suppressed > 0)
        ac_log_warn("ingest: %d more folders cannot be watched: scanning them every %g s",
                    ing->suppressed, ing->o.rescan_interval_s);
    if (sc->full && sc->errors == 0)
        sweep(ing, sc);
    if (sc->full && ing->c.full_scans == 1)
        ac_log_notice("ingest: watching %d folder%s (%d scanned instead), %zu file%s to "
                      "register",
                      (int)ing->watches.n - ing->c.polled, ing->watches.n == 1 ? "" : "s",
                      ing->c.polled, ing->npend, ing->npend == 1 ? "" : "s");
    scan_free(sc);
    ac_ingest_start_scan(ing, now);
    ac_ingest_launch_probes(ing, now);
}

/* ac_ingest_start_scan starts the full scan when it is due, else a scan of the folders asked
 * for. */
void ac_ingest_start_scan(struct ac_ingest *ing, uint64_t now)
{
    struct scan *sc;

    if (ing->scan != NULL || ing->stopping || (!ing->want_full && ing->nextra == 0))
        return;
    if ((sc = calloc(1, sizeof *sc)) == NULL)
        return;
    sc->ing = ing;
    sc->w.data = sc;
    if (ing->want_full) {
        resolve_roots(ing, now);
        sc->full = true;
        sc->roots = calloc(ing->o.n_dirs + 1, sizeof *sc->roots);
        sc->recursive = calloc(ing->o.n_dirs + 1, sizeof *sc->recursive);
        for (size_t i = 0; sc->roots != NULL && sc->recursive != NULL && i < ing->o.n_dirs;
             i++) {
            if (ing->real[i] == NULL)
                continue;
            if ((sc->roots[sc->nroots] = strdup(ing->real[i])) == NULL)
                break;
            sc->recursive[sc->nroots++] = true;
        }
        if (sc->nroots < ing->o.n_dirs - (size_t)ing->missing) { /* no memory */
            scan_free(sc);
            return;
        }
        for (size_t i = 0; i < ing->nextra; i++) /* a full scan covers them */
            free(ing->extra[i]);
        ing->nextra = 0;
        ing->want_full = false;
        ing->next_full_ns = now + (uint64_t)(ing->o.rescan_interval_s * 1e9);
    } else {
        sc->roots = ing->extra;
        sc->recursive = ing->extra_rec;
        sc->nroots = ing->nextra;
        ing->extra = NULL;
        ing->extra_rec = NULL;
        ing->nextra = ing->capextra = 0;
    }
    if (uv_queue_work(ing->loop, &sc->w, scan_work, scan_done) != 0) {
        scan_free(sc);
        ing->want_full = true;
        return;
    }
    ing->scan = sc;
    ing->open++;
}

/* queue_scan asks for a scan of dir (a folder listed twice costs only time). */
static void queue_scan(struct ac_ingest *ing, const char *dir, bool recursive)
{
    if (ing->nextra == ing->capextra) {
        size_t cap = ing->capextra ? ing->capextra * 2 : 16;
        char **p = realloc(ing->extra, cap * sizeof *p);
        bool *r;
        if (p != NULL)
            ing->extra = p;
        if (p == NULL || (r = realloc(ing->extra_rec, cap * sizeof *r)) == NULL) {
            ing->want_full = true; /* no memory: a full scan finds it too */
            return;
        }
        ing->extra_rec = r;
        ing->capextra = cap;
    }
    if ((ing->extra[ing->nextra] = strdup(dir)) == NULL) {
        ing->want_full = true;
        return;
    }
    ing->extra_rec[ing->nextra++] = recursive;
}
