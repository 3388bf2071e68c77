/*
 * ingest.c - live ingest of FITS files landing in watched folders (orchestration, libuv).
 * See ingest.h for the behaviour; this file holds its machinery:
 *   - a table of files (path -> state) and one of folders (path -> watch), both string
 *     hash tables; files waiting to settle are also in a `pend` array, so the tick looks
 *     at them only;
 *   - one repeating timer (the tick, about settle_s / 4): it starts the full scan when due,
 *     the folder scans that are asked for, and pool work for the files that are due;
 *   - scans (one at a time, on the pool) list folders (recursively or not) and report
 *     every FITS file with its size and time and every folder; the loop watches folders it
 *     did not watch yet and scans each of them once more after its watch is set, so a file
 *     created between the listing and the watch is not missed;
 *   - probes (at most max_inflight, on the pool) stat a few files and read the settled
 *     ones (ac_import_scan_file); the loop registers what they read in one transaction.
 * File states: PENDING (waiting to settle) -> PROBING (on the pool) -> DONE (registered,
 * never read again) | REJECTED (duplicate, unsupported, unreadable) | INCOMPLETE; the last
 * two go back to PENDING, with `recheck`, on an event or a scan that shows a change.
 *
 * Ownership: struct ac_ingest owns every file, watch, scan and probe; watches are freed once
 * their handle is closed, the ingest once every handle is closed and every work returned.
 * Thread: the tables are touched only on the loop thread. A pool thread reads the ingest's
 * options (constant after ac_ingest_new) and the paths of the files it was given (constant
 * while they are PROBING), and writes only its own work struct; uv_queue_work orders the
 * hand-offs.
 */
#include "ingest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog.h"
#include "fsutil.h"
#include "importer.h"
#include "log.h"
#include "util.h"

int (*ac_ingest_watch_hook)(const char *dir) = NULL;

#define MAX_WATCH_WARNINGS 10  /* per scan; then one summary line */
#define RETRY_NS 1000000000ull /* a batch the database refused is read again after this */
#define LINK_MAX_DELAY_NS 5000000000ull /* sessions are linked at least this often */

/* ---- A string-keyed hash table of objects whose first member is their key ---- */

struct map {
    void **v;
    size_t cap, n;
};

static const char *key_of(const void *item)
{
    return *(char *const *)item;
}

static size_t map_find(const struct map *m, const char *key)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    size_t mask = m->cap - 1, i;

    for (const char *c = key; *c != '\0'; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211ull;
    for (i = h & mask; m->v[i] != NULL && strcmp(key_of(m->v[i]), key) != 0; i = (i + 1) & mask)
        ;
    return i;
}

static void *map_get(const struct map *m, const char *key)
{
    return m->cap > 0 ? m->v[map_find(m, key)] : NULL;
}

/* map_put adds item, whose key is not in the table. 0 or -ENOMEM. */
static int map_put(struct map *m, void *item)
{
    if ((m->n + 1) * 4 > m->cap * 3) {
        struct map big = {NULL, m->cap > 0 ? m->cap * 2 : 64, 0};
        if ((big.v = calloc(big.cap, sizeof *big.v)) == NULL)
            return -ENOMEM;
        for (size_t i = 0; i < m->cap; i++)
            if (m->v[i] != NULL)
                big.v[map_find(&big, key_of(m->v[i]))] = m->v[i];
        big.n = m->n;
        free(m->v);
        *m = big;
    }
    m->v[map_find(m, key_of(item))] = item;
    m->n++;
    return 0;
}

/* map_del removes key (linear probing: the rest of its cluster is put back, so lookups
 * never stop early at the hole). */
static void map_del(struct map *m, const char *key)
{
    size_t mask = m->cap - 1, i;

    if (m->cap == 0 || m->v[i = map_find(m, key)] == NULL)
        return;
    m->v[i] = NULL;
    m->n--;
    for (i = (i + 1) & mask; m->v[i] != NULL; i = (i + 1) & mask) {
        void *x = m->v[i];
        m->v[i] = NULL;
        m->v[map_find(m, key_of(x))] = x;
    }
}

/* ---- State ---- */

enum fstate { F_PENDING, F_PROBING, F_INCOMPLETE, F_DONE, F_REJECTED };

struct file {
    char *path;           /* the key */
    enum fstate st, prev; /* prev: the state a recheck returns to when nothing changed */
    bool have_obs, recheck, dirty;
    int64_t size, mtime_ns;
    uint64_t obs_ns;     /* when (size, mtime) were first seen */
    uint64_t due_ns;     /* PENDING: when to look again */
    uint64_t touched_ns; /* last event or observation */
    long pidx;           /* index in ing->pend, or -1 */
};

struct ac_ingest;

struct watch {
    char *path; /* the key */
    struct ac_ingest *ing;
    uv_fs_event_t h;
    bool started, polled;
    int err;
    dev_t dev;
    ino_t ino;
    uint64_t gen, added_ns; /* the last full scan that saw it; when it was (re)watched */
};

struct obs {
    char *path;
    bool dir;
    int64_t size, mtime_ns;
    dev_t dev;
    ino_t ino;
};

struct scan {
    uv_work_t w;
    struct ac_ingest *ing;
    char **roots;
    bool *recursive;
    size_t nroots;
    bool full;
    struct obs *o;
    size_t n, cap;
    int errors;
    char err[600];
    uint64_t t0, t1;
};

struct slot {
    struct file *f;
    bool have_obs, want_scan; /* in */
    int64_t size, mtime_ns;   /* in: the last observation; out: this one */
    int rc;                   /* out: stat's error */
    bool changed;             /* out */
    uint64_t at;              /* out: when it was stat'ed */
    ac_import_item_t *item;   /* out: what reading found */
    int reg_rc;               /* registering */
    ac_import_outcome_t out;
    ac_err_t e;
};

struct probe {
    uv_work_t w;
    struct ac_ingest *ing;
    struct probe *next;
    size_t n;
    struct slot s[];
};

struct ac_ingest {
    uv_loop_t *loop;
    ac_db_t *db;
    ac_ingest_opts_t o;
    char **dirs, **excl, **real; /* owned copies; real: the resolved folders (or NULL) */
    ac_import_opts_t iopts;
    ac_ingest_registered_cb on_registered;
    ac_ingest_stopped_cb on_stopped;
    void *ud;
    uv_timer_t tick;
    struct map files, watches;
    struct file **pend;
    size_t npend, cappend;
    struct probe *probes;
    struct scan *scan;
    char **extra; /* folders to scan next, with extra_rec[i] */
    bool *extra_rec;
    size_t nextra, capextra;
    bool want_full, stopping;
    int open; /* handles open and work in flight */
    int inflight, warned, suppressed, missing;
    uint64_t settle_ns, next_full_ns, gen;
    char link_since[16];  /* the earliest night whose new sessions are still to link */
    uint64_t linked_ns;   /* when sessions were last linked */
    ac_ingest_status_t c; /* counters */
};

void ac_ingest_opts_default(ac_ingest_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->settle_s = 5.0;
    o->rescan_interval_s = 60;
    o->files_per_work = 4;
    o->max_inflight = 2;
}

static int64_t mtime_ns(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

static bool excluded(const struct ac_ingest *ing, const char *path)
{
    for (size_t i = 0; i < ing->o.n_exclude; i++) {
        size_t n = strlen(ing->excl[i]);
        if (strncmp(path, ing->excl[i], n) == 0 && (path[n] == '\0' || path[n] == '/'))
            return true;
    }
    return false;
}

static void set_pending(struct ac_ingest *ing, struct file *f, uint64_t due)
{
    f->st = F_PENDING;
    f->due_ns = due;
    if (f->pidx >= 0)
        return;
    if (ing->npend == ing->cappend) {
        size_t cap = ing->cappend ? ing->cappend * 2 : 64;
        struct file **p = realloc(ing->pend, cap * sizeof *p);
        if (p == NULL) {
            f->st = F_REJECTED; /* found again when it changes */
            return;
        }
        ing->pend = p;
        ing->cappend = cap;
    }
    f->pidx = (long)ing->npend;
    ing->pend[ing->npend++] = f;
}

static void unpend(struct ac_ingest *ing, struct file *f)
{
    if (f->pidx < 0)
        return;
    ing->pend[f->pidx] = ing->pend[--ing->npend];
    ing->pend[f->pidx]->pidx = f->pidx;
    f->pidx = -1;
}

static struct file *get_file(struct ac_ingest *ing, const char *path, bool create)
{
    struct file *f = map_get(&ing->files, path);

    if (f != NULL || !create)
        return f;
    if ((f = calloc(1, sizeof *f)) == NULL || (f->path = strdup(path)) == NULL ||
        map_put(&ing->files, f) != 0) {
        if (f != NULL)
            free(f->path);
        free(f);
        return NULL;
    }
    f->pidx = -1;
    f->st = F_REJECTED; /* the caller sets the real state */
    return f;
}

static void drop_file(struct ac_ingest *ing, struct file *f)
{
    unpend(ing, f);
    map_del(&ing->files, f->path);
    free(f->path);
    free(f);
}

/* recheck makes an incomplete or rejected file pending: it is read again if it changed. */
static void recheck(struct ac_ingest *ing, struct file *f, uint64_t now)
{
    f->prev = f->st;
    f->recheck = true;
    set_pending(ing, f, now);
}

/* observe records a scan's sighting of a file. */
static void observe(struct ac_ingest *ing, const struct obs *o, uint64_t now)
{
    struct file *f = get_file(ing, o->path, true);
    bool same;

    if (f == NULL)
        return;
    same = f->have_obs && f->size == o->size && f->mtime_ns == o->mtime_ns;
    f->touched_ns = now;
    if (f->st == F_DONE || (same && f->st != F_PENDING))
        return;
    if (f->st == F_PROBING) {
        f->dirty = true;
        return;
    }
    if (!same) {
        f->have_obs = true;
        f->size = o->size;
        f->mtime_ns = o->mtime_ns;
        f->obs_ns = now;
        f->recheck = false;
        set_pending(ing, f, now + ing->settle_ns);
    }
}

/* touch records a file system event on a FITS-named file. */
static void touch(struct ac_ingest *ing, const char *path, uint64_t now)
{
    struct file *f = get_file(ing, path, true);

    if (f == NULL)
        return;
    f->touched_ns = now;
    if (f->st == F_PROBING)
        f->dirty = true;
    else if (f->st == F_REJECTED || f->st == F_INCOMPLETE)
        recheck(ing, f, now);
    else if (f->st == F_PENDING && !f->have_obs)
        f->due_ns = now;
}

/* ---- Folders ---- */

static void on_event(uv_fs_event_t *h, const char *name, int events, int status);
static void queue_scan(struct ac_ingest *ing, const char *dir, bool recursive);
static void start_scan(struct ac_ingest *ing, uint64_t now);

static void release(struct ac_ingest *ing);

static void on_watch_closed(uv_handle_t *h)
{
    struct watch *w = h->data;
    struct ac_ingest *ing = w->ing;

    free(w->path);
    free(w);
    release(ing);
}

static void unwatch(struct ac_ingest *ing, struct watch *w)
{
    ing->c.polled -= w->polled;
    map_del(&ing->watches, w->path);
    uv_close((uv_handle_t *)&w->h, on_watch_closed);
}

/* watch_dir watches a folder (again when it is another folder by now, its watch had
 * failed, or force: it was just created, maybe reusing the inode of one deleted): 1 when a
 * watch was set up, 0 when it was already there, -1 when it failed (the folder is then
 * polled by the scans) or there was no memory. */
static int watch_dir(struct ac_ingest *ing, const char *path, dev_t dev, ino_t ino, bool force,
                     uint64_t now)
{
    struct watch *w = map_get(&ing->watches, path);
    int rc;

    if (w != NULL && w->dev == dev && w->ino == ino && !w->polled && !force)
        return 0;
    if (w == NULL) {
        if ((w = calloc(1, sizeof *w)) == NULL || (w->path = strdup(path)) == NULL ||
            map_put(&ing->watches, w) != 0) {
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
        touch(ing, path, now);
    } else if ((events & UV_RENAME) && lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        /* A new folder: watch it first, then list it (what was created before the watch
         * is found by the listing, what comes after by the watch). */
        if (watch_dir(ing, path, st.st_dev, st.st_ino, true, now) > 0) {
            queue_scan(ing, path, true);
            start_scan(ing, now);
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
        watch_dir(ing, real, st.st_dev, st.st_ino, false, now);
    }
}

/* ---- Scans (pool) ---- */

static void add_obs(struct scan *sc, const char *path, const struct stat *st, bool dir)
{
    struct obs *o;

    if (sc->n == sc->cap) {
        size_t cap = sc->cap ? sc->cap * 2 : 256;
        if ((o = realloc(sc->o, cap * sizeof *o)) == NULL)
            goto nomem;
        sc->o = o;
        sc->cap = cap;
    }
    o = &sc->o[sc->n];
    if ((o->path = strdup(path)) == NULL)
        goto nomem;
    o->dir = dir;
    o->size = st->st_size;
    o->mtime_ns = mtime_ns(st);
    o->dev = st->st_dev;
    o->ino = st->st_ino;
    sc->n++;
    return;
nomem:
    sc->errors++;
    snprintf(sc->err, sizeof sc->err, "%s: no memory", path);
}

/* walk lists dir: FITS-named regular files (or links to them) and folders (not links to
 * folders, so no loops), entering the folders when recursive. */
static void walk(struct scan *sc, const char *dir, bool recursive)
{
    DIR *d = opendir(dir);
    struct dirent *de;

    if (d == NULL) {
        if (errno != ENOENT) {
            sc->errors++;
            snprintf(sc->err, sizeof sc->err, "%s: %s", dir, strerror(errno));
        }
        return;
    }
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        bool fits = ac_import_is_fits_name(name);
        struct stat st;
        char *path;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || ac_fsutil_is_tmpname(name) ||
            fstatat(dirfd(d), name, &st, fits ? 0 : AT_SYMLINK_NOFOLLOW) != 0 ||
            (fits ? !S_ISREG(st.st_mode) : !S_ISDIR(st.st_mode)) ||
            (path = ac_asprintf("%s/%s", dir, name)) == NULL)
            continue;
        if (!excluded(sc->ing, path)) {
            add_obs(sc, path, &st, !fits);
            if (!fits && recursive)
                walk(sc, path, true);
        }
        free(path);
    }
    closedir(d);
}

static void scan_work(uv_work_t *w)
{
    struct scan *sc = w->data;
    struct stat st;

    sc->t0 = ac_now_ns();
    for (size_t i = 0; i < sc->nroots; i++) {
        if (stat(sc->roots[i], &st) != 0 || !S_ISDIR(st.st_mode))
            continue;
        add_obs(sc, sc->roots[i], &st, true);
        walk(sc, sc->roots[i], sc->recursive[i]);
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

static void maybe_finish(struct ac_ingest *ing);
static void launch_probes(struct ac_ingest *ing, uint64_t now);

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
        drop_file(ing, gone[i]);
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
        maybe_finish(ing);
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
            observe(ing, o, now);
            continue;
        }
        /* A folder watched only now was listed before its watch: list it once more. */
        if (watch_dir(ing, o->path, o->dev, o->ino, false, now) > 0)
            queue_scan(ing, o->path, false);
        if (sc->full && (wt = map_get(&ing->watches, o->path)) != NULL)
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
    start_scan(ing, now);
    launch_probes(ing, now);
}

/* start_scan starts the full scan when it is due, else a scan of the folders asked for. */
static void start_scan(struct ac_ingest *ing, uint64_t now)
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

/* ---- Probes: stat, read when settled (pool), register (loop) ---- */

static void probe_work(uv_work_t *w)
{
    struct probe *p = w->data;
    const ac_import_opts_t *io = &p->ing->iopts;

    for (size_t i = 0; i < p->n; i++) {
        struct slot *s = &p->s[i];
        const char *path = s->f->path;
        struct stat st;
        s->at = ac_now_ns();
        if (stat(path, &st) != 0) {
            s->rc = -errno;
            continue;
        }
        if (!S_ISREG(st.st_mode)) {
            s->rc = -EINVAL; /* e.g. a folder with a FITS name */
            continue;
        }
        s->changed = !s->have_obs || st.st_size != s->size || mtime_ns(&st) != s->mtime_ns;
        s->size = st.st_size;
        s->mtime_ns = mtime_ns(&st);
        if (s->changed || !s->want_scan)
            continue;
        if (ac_import_scan_file(path, io, &s->item) != 0) {
            s->rc = -ENOMEM;
            continue;
        }
        /* Incomplete because it is being written again: then it is not settled. */
        if (s->item->kind == AC_IMPORT_SKIPPED && s->item->skip == AC_IMPORT_SKIP_INCOMPLETE &&
            stat(path, &st) == 0 && (st.st_size != s->size || mtime_ns(&st) != s->mtime_ns)) {
            ac_import_item_free(s->item);
            s->item = NULL;
            s->changed = true;
            s->at = ac_now_ns();
            s->size = st.st_size;
            s->mtime_ns = mtime_ns(&st);
        }
    }
}

static bool registrable(const ac_import_item_t *it)
{
    return it != NULL && (it->kind == AC_IMPORT_FRAME || it->kind == AC_IMPORT_MASTER);
}

static int batch_txn(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct probe *p = arg;

    for (size_t i = 0; i < p->n; i++) {
        struct slot *s = &p->s[i];
        s->reg_rc = 0;
        memset(&s->e, 0, sizeof s->e);
        if (!registrable(s->item))
            continue;
        s->reg_rc = ac_import_register_item(db, s->item, &s->out, &s->e);
        if (s->reg_rc == AC_EBUSY) /* the whole batch is retried */
            return ac_err_set(e, AC_EBUSY, "%s", s->e.msg);
    }
    return 0;
}

/* settle_read sets the state of a file from what reading it found. */
static void settle_read(struct ac_ingest *ing, struct slot *s, int txn_rc, uint64_t now)
{
    struct file *f = s->f;
    const ac_import_item_t *it = s->item;

    if (registrable(it) && txn_rc != 0) {
        set_pending(ing, f, now + RETRY_NS); /* the database refused: read it again later */
        return;
    }
    if (registrable(it) && s->reg_rc == 0 && !s->out.duplicate) {
        f->st = F_DONE;
        if (it->kind == AC_IMPORT_MASTER)
            ing->c.masters++;
        else
            ing->c.registered++;
        ing->c.sessions_created += s->out.session_created;
        ac_log_info("ingest: registered %s%s", f->path,
                    it->kind == AC_IMPORT_MASTER ? " (master)" : "");
        return;
    }
    if (registrable(it) && s->reg_rc == 0) {
        ing->c.duplicates++;
        ac_log_info("ingest: %s is already in the catalogue (same content)", f->path);
    } else if (registrable(it)) {
        ing->c.rejected++;
        ac_log_warn("ingest: cannot register %s: %s", f->path, s->e.msg);
    } else if (it->kind == AC_IMPORT_SKIPPED && it->skip == AC_IMPORT_SKIP_INCOMPLETE) {
        f->st = F_INCOMPLETE;
        ac_log_debug("ingest: %s: %s", f->path, it->reason);
        return;
    } else {
        ing->c.rejected++;
        if (it->kind == AC_IMPORT_FAILED)
            ac_log_warn("ingest: cannot read %s: %s", f->path, it->reason);
        else
            ac_log_info("ingest: not registering %s: %s", f->path, it->reason);
    }
    f->st = F_REJECTED;
}

/* link_sessions links light sessions to calibration sessions once a burst of files is
 * registered (nothing on the pool), or every LINK_MAX_DELAY_NS during a long one: a pass
 * reads every session, so it does not run after every batch. */
static void link_sessions(struct ac_ingest *ing, uint64_t now)
{
    ac_err_t e = {0};
    int n = 0;

    if (ing->link_since[0] == '\0' ||
        (ing->inflight > 0 && now - ing->linked_ns < LINK_MAX_DELAY_NS))
        return;
    ing->linked_ns = now;
    if (ac_catalog_link_sessions(ing->db, ing->link_since, &n, &e) != 0) {
        ac_log_warn("ingest: linking sessions failed (trying again later): %s", e.msg);
        return;
    }
    ing->c.sessions_linked += (uint64_t)n;
    ing->link_since[0] = '\0';
}

static void probe_done(uv_work_t *w, int status)
{
    struct probe *p = w->data, **pp;
    struct ac_ingest *ing = p->ing;
    uint64_t now = ac_now_ns();
    char *since = ing->link_since;
    ac_err_t e = {0};
    int txn_rc = 0, n_new = 0;
    bool any = false;

    for (pp = &ing->probes; *pp != p; pp = &(*pp)->next)
        ;
    *pp = p->next;
    ing->inflight--;
    ing->open--;
    for (size_t i = 0; i < p->n; i++)
        any = any || registrable(p->s[i].item);
    if (!ing->stopping && status == 0 && any &&
        (txn_rc = ac_db_transact(ing->db, batch_txn, p, &e)) != 0)
        ac_log_warn("ingest: registering a batch failed (trying again): %s", e.msg);
    for (size_t i = 0; i < p->n && !ing->stopping && status == 0; i++) {
        struct slot *s = &p->s[i];
        struct file *f = s->f;
        if (s->rc == -ENOENT) {
            drop_file(ing, f);
            continue;
        }
        if (s->rc != 0) {
            ac_log_warn("ingest: cannot read %s: %s", f->path, ac_strerror(s->rc));
            f->st = F_REJECTED;
            ing->c.rejected++;
        } else if (s->changed) {
            f->have_obs = true;
            f->size = s->size;
            f->mtime_ns = s->mtime_ns;
            f->obs_ns = s->at;
            f->recheck = false;
            set_pending(ing, f, s->at + ing->settle_ns);
        } else if (s->item == NULL) {
            /* Unchanged: a recheck returns to where it was; else it is not settled yet. */
            if (f->recheck)
                f->st = f->prev;
            else
                set_pending(ing, f, f->obs_ns + ing->settle_ns);
            f->recheck = false;
        } else {
            settle_read(ing, s, txn_rc, now);
            if (f->st == F_DONE) {
                n_new++;
                if (s->out.session_created && s->item->night[0] != '\0' &&
                    (since[0] == '\0' || strcmp(s->item->night, since) < 0))
                    ac_strlcpy(since, s->item->night, sizeof ing->link_since);
            }
        }
        if (f->dirty && (f->st == F_REJECTED || f->st == F_INCOMPLETE))
            recheck(ing, f, now);
        f->dirty = false;
    }
    for (size_t i = 0; i < p->n; i++)
        ac_import_item_free(p->s[i].item);
    free(p);
    if (ing->stopping || status != 0) {
        maybe_finish(ing);
        return;
    }
    link_sessions(ing, now);
    if (n_new > 0 && ing->on_registered != NULL)
        ing->on_registered(ing->ud, n_new);
    launch_probes(ing, now);
}

/* launch_probes hands the files that are due to the pool, a few per work item. */
static void launch_probes(struct ac_ingest *ing, uint64_t now)
{
    size_t per = (size_t)ing->o.files_per_work;

    while (!ing->stopping && ing->inflight < ing->o.max_inflight) {
        struct probe *p = NULL;
        for (size_t i = 0; i < ing->npend;) {
            struct file *f = ing->pend[i];
            struct slot *s;
            if (f->due_ns > now) {
                i++;
                continue;
            }
            if (p == NULL && (p = calloc(1, sizeof *p + per * sizeof p->s[0])) == NULL)
                return;
            s = &p->s[p->n++];
            s->f = f;
            s->have_obs = f->have_obs;
            s->size = f->size;
            s->mtime_ns = f->mtime_ns;
            s->want_scan = f->have_obs && !f->recheck && now >= f->obs_ns + ing->settle_ns;
            unpend(ing, f); /* the last one moves to i */
            f->st = F_PROBING;
            f->dirty = false;
            if (p->n == per)
                break;
        }
        if (p == NULL)
            return;
        p->ing = ing;
        p->w.data = p;
        if (uv_queue_work(ing->loop, &p->w, probe_work, probe_done) != 0) {
            for (size_t i = 0; i < p->n; i++)
                set_pending(ing, p->s[i].f, now + RETRY_NS);
            free(p);
            return;
        }
        p->next = ing->probes;
        ing->probes = p;
        ing->inflight++;
        ing->open++;
    }
}

static void on_tick(uv_timer_t *t)
{
    struct ac_ingest *ing = t->data;
    uint64_t now = ac_now_ns();

    if (now >= ing->next_full_ns)
        ing->want_full = true;
    start_scan(ing, now);
    link_sessions(ing, now);
    launch_probes(ing, now);
}

/* ---- Life cycle ---- */

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
            struct file *f = get_file(ing, l.items[k], true);
            if (f != NULL) {
                f->st = F_DONE;
                f->touched_ns = now;
            }
        }
        ac_catalog_paths_free(&l);
    }
    ing->want_full = true;
    start_scan(ing, now);
    tick_ms = tick_ms < 25 ? 25 : tick_ms > 1000 ? 1000 : tick_ms;
    uv_timer_start(&ing->tick, on_tick, (uint64_t)tick_ms, (uint64_t)tick_ms);
    return 0;
}

void ac_ingest_rescan(ac_ingest_t *ing)
{
    if (ing != NULL && !ing->stopping)
        ing->want_full = true;
}

static void release(struct ac_ingest *ing)
{
    ing->open--;
    maybe_finish(ing);
}

static void on_closed(uv_handle_t *h)
{
    release(h->data);
}

static void maybe_finish(struct ac_ingest *ing)
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
    for (size_t i = 0; i < ing->watches.cap; i++) {
        struct watch *w = ing->watches.v[i];
        if (w != NULL) {
            ing->watches.v[i] = NULL;
            ing->watches.n--;
            uv_close((uv_handle_t *)&w->h, on_watch_closed);
        }
    }
    for (struct probe *p = ing->probes; p != NULL; p = p->next)
        uv_cancel((uv_req_t *)&p->w);
    if (ing->scan != NULL)
        uv_cancel((uv_req_t *)&ing->scan->w);
}

/* ---- Status ---- */

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
                  "s:I,s:f,s:f}",
                  "dirs", dirs, "dirs_missing", s.dirs_missing, "watched", s.watched, "polled",
                  s.polled, "fallback", s.fallback, "polled_dirs", polled, "pending", s.pending,
                  "incomplete", s.incomplete, "in_flight", s.in_flight, "scanning", s.scanning,
                  "events", (json_int_t)s.events, "full_scans", (json_int_t)s.full_scans,
                  "scans", (json_int_t)s.scans, "registered", (json_int_t)s.registered,
                  "masters", (json_int_t)s.masters, "duplicates", (json_int_t)s.duplicates,
                  "rejected", (json_int_t)s.rejected, "sessions_created",
                  (json_int_t)s.sessions_created, "sessions_linked",
                  (json_int_t)s.sessions_linked, "last_scan_s", s.last_scan_s, "next_scan_in",
                  s.next_scan_in);
    return o;
}
