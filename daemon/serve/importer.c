/*
 * importer.c - `astrocalctl import DIR`: registering the FITS files under a folder into
 * AstroFiler's catalogue (orchestration, libuv). See importer.h for what is registered
 * and how; this file holds the folder walk (one pool job, through ac_walk, which only
 * lists the files), the reading of the files (one pool job per file, opts.readers of them
 * in flight) and the batched registration on the loop thread, which overlaps the reading:
 * the files are registered in the import's order (those whose names say calibration
 * first, then the others, each in the walk's order) as soon as batch_rows of them are read
 * (or every file is read, or flush_ms passed), one transaction per batch, one batch per loop
 * iteration (uv_idle; a zero uv_timer would not do, as libuv 1.44 runs a timer re-armed
 * with 0 again in the same iteration). Reading and registering one file are
 * importer_file.c's. A batch the catalogue refuses because another program holds its lock
 * waits for it, however long, with a back-off (ac_db_retry_delay_ms); one refused because
 * the catalogue was replaced or deleted ends the import (once the reads in flight end).
 *
 * Ownership: struct import owns the copied options, the walk's entries (path and item)
 * and the result lists; it is freed after the callback, once both its handles are closed
 * and no read is in flight.
 * Thread: the walk's entries are written by the pool thread during the walk and only
 * touched by the loop thread after after_walk; a read job writes only its entry's item,
 * which the loop thread reads after after_read (uv_queue_work orders both hand-offs).
 * Every SQLite call is on the loop thread.
 */
#include "importer.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fsutil.h"
#include "log.h"
#include "util.h"
#include "walk.h"

#define MAX_BATCH_RETRY 3   /* a batch whose transaction fails is retried this often */
#define RETRY_DELAY_MS 1000 /* before the first such retry, doubled for each next one */
#define BUSY_DELAY_MS 100   /* the first wait for a locked catalogue (then longer) */

void ac_import_opts_default(ac_import_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->utc_offset_h = 0;
    o->batch_rows = 200;
    o->batch_budget_ms = 25;
    o->readers = 4;
    o->max_errors = 100;
    o->max_skips = 100;
    o->type_from_path = true;
}

static bool cancelled(const ac_import_opts_t *o)
{
    return o->cancel != NULL && atomic_load(o->cancel) != 0;
}

/* ---- The import ---- */

/* One FITS-named file of the walk: item is NULL until it is read (done). */
struct entry {
    char *path;
    ac_import_item_t *item;
    bool done;
};

struct slot {
    int rc; /* 0 also for a file not registrable (settle tallies it) */
    ac_import_outcome_t o;
    ac_err_t e;
};

/* Read files wait at most flush_ms for a batch to fill, so that what is read is registered,
 * and may be planned (opts.progress), soon after: FLUSH_MS at first, then 20 times what the
 * last batch's transaction took (a commit waits for the disk), at most FLUSH_MAX_MS, so
 * that transactions cost the import no more than about 5 % of its time. */
#define FLUSH_MS 100
#define FLUSH_MAX_MS 500

enum { TIMER_NONE, TIMER_RETRY, TIMER_FLUSH };

struct import {
    uv_loop_t *loop;
    ac_db_t *db;
    ac_import_opts_t opts;
    ac_import_done_cb cb;
    void *ud;
    uv_idle_t idle;   /* one batch per loop iteration */
    uv_timer_t timer; /* the delay before a failed batch is retried, or a batch flushed */
    uv_work_t work;
    int closed; /* handles closed (2: free) */
    char *dir;
    /* The walk: what it found, in its order. */
    struct entry *entries;
    size_t n_entries, cap_entries;
    uint64_t t_start;
    /* Reading: entries [0, ready) are read; [dispatched, n_entries) are not started. */
    size_t dispatched, ready;
    int in_flight;
    /* Registering: entries [0, next) are registered or tallied. */
    size_t next;
    struct slot *slots;
    size_t batch_n;
    int retries;
    int timer_kind;
    uint64_t flush_ms; /* see FLUSH_MS */
    bool flush_due, ending;
    ac_import_result_t res;
    const char *root[1]; /* opts.roots: the folder as resolved (res.dir) */
};

/* add_entry appends {path, message} to a list capped at max entries. */
static void add_entry(ac_import_entry_t **list, size_t *n, int max, const char *path,
                      const char *message)
{
    ac_import_entry_t *p;

    if ((int)*n >= max)
        return;
    if ((p = realloc(*list, (*n + 1) * sizeof **list)) == NULL)
        return;
    *list = p;
    p[*n].path = strdup(path);
    p[*n].message = strdup(message != NULL ? message : "");
    if (p[*n].path == NULL || p[*n].message == NULL) {
        free(p[*n].path);
        free(p[*n].message);
        return;
    }
    (*n)++;
}

static void add_error(struct import *im, const char *path, const char *message)
{
    im->res.errors++;
    add_entry(&im->res.error_list, &im->res.n_error_list, im->opts.max_errors, path, message);
}

static bool registrable(const ac_import_item_t *it)
{
    return it != NULL && (it->kind == AC_IMPORT_FRAME || it->kind == AC_IMPORT_MASTER);
}

/* tally counts an entry that will not be registered (skipped or failed). */
static void tally(struct import *im, const struct entry *en)
{
    const ac_import_item_t *it = en->item;
    ac_import_result_t *r = &im->res;

    if (it == NULL) {
        add_error(im, en->path, "no memory to read it");
        return;
    }
    if (it->kind == AC_IMPORT_FAILED) {
        add_error(im, it->path, it->reason);
        return;
    }
    r->skipped++;
    r->skipped_incomplete += it->skip == AC_IMPORT_SKIP_INCOMPLETE;
    r->skipped_settling += it->skip == AC_IMPORT_SKIP_SETTLING;
    r->skipped_temporary += it->skip == AC_IMPORT_SKIP_TEMPORARY;
    r->skipped_unsupported += it->skip == AC_IMPORT_SKIP_UNSUPPORTED;
    r->skipped_untyped += it->skip == AC_IMPORT_SKIP_UNTYPED;
    add_entry(&r->skip_list, &r->n_skip_list, im->opts.max_skips, it->path, it->reason);
}

/* walk_one records one FITS-named file of the walk (read later, on the pool). */
static void walk_one(struct import *im, const char *path, const char *base)
{
    char *copy;

    im->res.files++;
    if (ac_fsutil_is_tmpname(base)) {
        im->res.skipped++;
        im->res.skipped_temporary++;
        add_entry(&im->res.skip_list, &im->res.n_skip_list, im->opts.max_skips, path,
                  "temporary file of astrocald");
        return;
    }
    if ((copy = strdup(path)) == NULL || ac_grow((void **)&im->entries, &im->cap_entries,
                                                 im->n_entries, sizeof *im->entries) != 0) {
        free(copy);
        add_error(im, path, "no memory to keep its record");
        return;
    }
    im->entries[im->n_entries++] = (struct entry){copy, NULL, false};
}

/* The walk (walk.h): FITS-named regular files (or links to them) and astrocald's
 * temporary files are scanned; every sub-folder is entered, links to folders are not. */
static bool walk_wants(void *ud, const char *name)
{
    (void)ud;
    return ac_fsutil_is_tmpname(name) || ac_import_is_fits_name(name);
}

static int walk_visit(void *ud, const ac_walk_entry_t *e)
{
    struct import *im = ud;

    if (cancelled(&im->opts))
        return AC_WALK_STOP;
    if (!e->is_dir)
        walk_one(im, e->path, e->name);
    return AC_WALK_NEXT;
}

static void walk_error(void *ud, const char *dir, int err)
{
    char msg[600];

    snprintf(msg, sizeof msg, "cannot list the folder: %s", strerror(err));
    add_error(ud, dir, msg);
}

/* names_calibration says whether the names of path or of its folders (below the imported
 * folder) say bias, dark, flat or flat-dark: a calibration frame or master, most likely. */
static bool names_calibration(const struct import *im, const char *path)
{
    ac_frame_type_t t = ac_meta_type_from_path(path, im->res.dir, 3, NULL, 0);

    return t != AC_FRAME_UNKNOWN && t != AC_FRAME_LIGHT;
}

/* calibration_first puts the files whose names say calibration before the others, each
 * group in the walk's order (a stable partition): their masters, or the frames masters are
 * built from, are then registered before the lights that need them, so that calibration
 * can start while the lights are still being read (opts.progress). */
static void calibration_first(struct import *im)
{
    struct entry *tmp;
    size_t k = 0;

    if (im->n_entries < 2 || (tmp = malloc(im->n_entries * sizeof *tmp)) == NULL)
        return; /* no memory: the walk's order, which is as correct */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < im->n_entries; i++)
            if (names_calibration(im, im->entries[i].path) == (pass == 0))
                tmp[k++] = im->entries[i];
    memcpy(im->entries, tmp, im->n_entries * sizeof *tmp);
    free(tmp);
}

static void work_walk(uv_work_t *w)
{
    struct import *im = w->data;
    char real[PATH_MAX];
    struct stat st;

    if (realpath(im->dir, real) == NULL) {
        im->res.code = -errno;
        snprintf(im->res.message, sizeof im->res.message, "%s: cannot import: %s", im->dir,
                 strerror(errno));
        return;
    }
    ac_strlcpy(im->res.dir, real, sizeof im->res.dir);
    if (stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
        im->res.code = -ENOTDIR;
        snprintf(im->res.message, sizeof im->res.message, "%s: cannot import: not a folder",
                 real);
        return;
    }
    im->root[0] = im->res.dir;
    im->opts.roots = im->root;
    im->opts.n_roots = 1;
    {
        static const ac_walk_ops_t ops = {true, walk_wants, walk_visit, walk_error};
        ac_walk(real, &ops, im);
    }
    calibration_first(im);
}

static void on_closed(uv_handle_t *h)
{
    struct import *im = h->data;
    ac_import_result_t *r = &im->res;

    if (++im->closed < 2)
        return;
    if (im->cb != NULL)
        im->cb(im->ud, r);
    for (size_t i = 0; i < r->n_error_list; i++) {
        free(r->error_list[i].path);
        free(r->error_list[i].message);
    }
    for (size_t i = 0; i < r->n_skip_list; i++) {
        free(r->skip_list[i].path);
        free(r->skip_list[i].message);
    }
    free(r->error_list);
    free(r->skip_list);
    for (size_t i = 0; i < im->n_entries; i++) {
        free(im->entries[i].path);
        ac_import_item_free(im->entries[i].item);
    }
    free(im->entries);
    free(im->slots);
    free(im->dir);
    free(im);
}

static double since_start(const struct import *im)
{
    return (double)(ac_now_ns() - im->t_start) / 1e9;
}

/* finish ends the import: no read is started any more, and once the reads in flight have
 * ended both handles are closed and the callback runs. */
static void finish(struct import *im, int code, const char *message)
{
    ac_import_result_t *r = &im->res;

    if (r->code == 0 && code != 0) {
        r->code = code;
        ac_strlcpy(r->message, message, sizeof r->message);
    }
    if (r->code == 0 && cancelled(&im->opts)) {
        r->code = AC_ECANCELED;
        ac_strlcpy(r->message, "import cancelled", sizeof r->message);
    }
    uv_idle_stop(&im->idle);
    uv_timer_stop(&im->timer);
    im->timer_kind = TIMER_NONE;
    if (im->ending)
        return;
    im->ending = true;
    if (im->in_flight > 0)
        return; /* after_read finishes the import when the last read ends */
    if (r->scan_seconds == 0)
        r->scan_seconds = since_start(im);
    r->register_seconds = since_start(im) - r->scan_seconds;
    uv_close((uv_handle_t *)&im->idle, on_closed);
    uv_close((uv_handle_t *)&im->timer, on_closed);
}

struct reader {
    uv_work_t w;
    struct import *im;
    size_t idx;
};

static void work_read(uv_work_t *w)
{
    struct reader *rd = w->data;
    struct entry *en = &rd->im->entries[rd->idx];

    if (!cancelled(&rd->im->opts) &&
        ac_import_scan_file(en->path, &rd->im->opts, &en->item) != 0)
        en->item = NULL;
}

static void pump(struct import *im);
static void after_read(uv_work_t *w, int status);

/* advance_ready moves ready past the entries whose read has ended (or could not start),
 * in the import's order, and notes when every file has been read. */
static void advance_ready(struct import *im)
{
    while (im->ready < im->n_entries && im->entries[im->ready].done)
        im->ready++;
    if (im->ready == im->n_entries && im->res.scan_seconds == 0)
        im->res.scan_seconds = since_start(im);
}

/* dispatch keeps opts.readers reads in flight while files are left to read. A read that
 * cannot start (no memory) counts as ended at once, so the import never waits for it. */
static void dispatch(struct import *im)
{
    while (!im->ending && !cancelled(&im->opts) && im->in_flight < im->opts.readers &&
           im->dispatched < im->n_entries) {
        struct reader *rd = malloc(sizeof *rd);
        size_t i = im->dispatched++;
        if (rd != NULL) {
            rd->im = im;
            rd->idx = i;
            rd->w.data = rd;
            if (uv_queue_work(im->loop, &rd->w, work_read, after_read) == 0) {
                im->in_flight++;
                continue;
            }
            free(rd);
        }
        im->entries[i].done = true; /* item NULL: reported as an error */
    }
    advance_ready(im);
}

static void after_read(uv_work_t *w, int status)
{
    struct reader *rd = w->data;
    struct import *im = rd->im;

    (void)status; /* a cancelled read left its item NULL */
    im->entries[rd->idx].done = true;
    im->in_flight--;
    free(rd);
    if (im->ending) {
        if (im->in_flight == 0) {
            im->ending = false;
            finish(im, 0, "");
        }
        return;
    }
    dispatch(im);
    pump(im);
}

static int batch_txn(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct import *im = arg;
    uint64_t t0 = ac_now_ns(), budget = (uint64_t)im->opts.batch_budget_ms * 1000000u;

    im->batch_n = 0;
    for (size_t i = im->next; i < im->ready && im->batch_n < (size_t)im->opts.batch_rows; i++) {
        struct slot *s = &im->slots[im->batch_n];
        if (im->batch_n > 0 && ac_now_ns() - t0 > budget)
            break;
        im->batch_n++;
        memset(s, 0, sizeof *s);
        if (!registrable(im->entries[i].item))
            continue;
        s->rc = ac_import_register_item(db, im->entries[i].item, &s->o, &s->e);
        if (s->rc == AC_EBUSY) /* the whole batch is retried */
            return ac_err_set(e, AC_EBUSY, "%s", s->e.msg);
    }
    return 0;
}

static void register_step(uv_idle_t *h);

static void on_timer(uv_timer_t *t)
{
    struct import *im = t->data;
    int kind = im->timer_kind;

    im->timer_kind = TIMER_NONE;
    if (kind == TIMER_FLUSH)
        im->flush_due = true;
    if (kind == TIMER_RETRY) {
        uv_idle_start(&im->idle, register_step);
        return;
    }
    pump(im);
}

static void start_timer(struct import *im, int kind, uint64_t ms)
{
    im->timer_kind = kind;
    uv_timer_start(&im->timer, on_timer, ms, 0);
}

/* batch_due says whether the files read and not yet registered are worth a transaction:
 * batch_rows of them (in order), every file read, or read files waiting for flush_ms. */
static bool batch_due(const struct import *im)
{
    size_t pending = im->ready - im->next;

    return pending > 0 && (pending >= (size_t)im->opts.batch_rows ||
                           im->ready == im->n_entries || im->flush_due);
}

/* pump starts registering when a batch is due; ends the import when every file is
 * registered or it was cancelled. */
static void pump(struct import *im)
{
    if (uv_is_active((uv_handle_t *)&im->idle) || im->timer_kind == TIMER_RETRY || im->ending)
        return;
    if (cancelled(&im->opts) || im->next >= im->n_entries) {
        finish(im, 0, "");
        return;
    }
    if (batch_due(im)) {
        if (im->timer_kind == TIMER_FLUSH)
            uv_timer_stop(&im->timer);
        im->timer_kind = TIMER_NONE;
        uv_idle_start(&im->idle, register_step);
    } else if (im->ready > im->next && im->timer_kind == TIMER_NONE) {
        start_timer(im, TIMER_FLUSH, im->flush_ms);
    }
}

/* settle accounts for the batch just committed (or given up: failed, with why). */
static void settle(struct import *im, size_t n, const char *failed)
{
    for (size_t k = 0; k < n; k++, im->next++) {
        const struct slot *s = &im->slots[k];
        const struct entry *en = &im->entries[im->next];
        const ac_import_item_t *it = en->item;
        if (!registrable(it)) {
            tally(im, en);
        } else if (failed != NULL || s->rc != 0) {
            add_error(im, it->path, failed != NULL ? failed : s->e.msg);
        } else {
            if (it->kind == AC_IMPORT_MASTER && it->same_file && im->opts.master_hashed != NULL)
                im->opts.master_hashed(im->opts.hooks_ud, it);
            if (s->o.duplicate)
                im->res.duplicates++;
            else if (it->kind == AC_IMPORT_MASTER)
                im->res.masters++;
            else
                im->res.registered++;
            im->res.inferred += !s->o.duplicate && it->type_why != NULL;
            im->res.sessions_created += s->o.session_created;
        }
    }
}

/* register_step registers one batch of the files read; it runs once per loop iteration
 * while the idle handle is active. */
static void register_step(uv_idle_t *h)
{
    struct import *im = h->data;
    ac_err_t e = {0};
    bool news = false;
    uint64_t t0;
    int rc;

    if (cancelled(&im->opts) || im->next >= im->n_entries) {
        finish(im, 0, "");
        return;
    }
    /* pump and the retry timer start this only with files read and not registered. */
    t0 = ac_now_ns();
    rc = ac_db_transact(im->db, batch_txn, im, &e);
    im->flush_ms = (ac_now_ns() - t0) * 20 / 1000000;
    if (im->flush_ms < FLUSH_MS)
        im->flush_ms = FLUSH_MS;
    if (im->flush_ms > FLUSH_MAX_MS)
        im->flush_ms = FLUSH_MAX_MS;
    if (rc == AC_ECATALOG) {
        finish(im, rc, e.msg);
        return;
    }
    if (rc == AC_EBUSY) {
        ac_log_debug("import %s: the catalogue is locked, waiting: %s", im->res.dir, e.msg);
        uv_idle_stop(&im->idle);
        start_timer(im, TIMER_RETRY, ac_db_retry_delay_ms(im->db, BUSY_DELAY_MS));
        return;
    }
    if (rc != 0 && im->retries < MAX_BATCH_RETRY) {
        im->retries++;
        ac_log_warn("import %s: a batch failed, retrying: %s", im->res.dir, e.msg);
        uv_idle_stop(&im->idle);
        start_timer(im, TIMER_RETRY, (uint64_t)RETRY_DELAY_MS << (im->retries - 1));
        return;
    }
    if (rc != 0) { /* give up on this batch's files, go on with the rest */
        size_t n = im->ready - im->next;
        settle(im, n < (size_t)im->opts.batch_rows ? n : (size_t)im->opts.batch_rows, e.msg);
    } else {
        int before = im->res.registered + im->res.masters;
        settle(im, im->batch_n, NULL);
        news = im->res.registered + im->res.masters > before;
    }
    im->retries = 0;
    if (news && im->next < im->n_entries && im->opts.progress != NULL)
        im->opts.progress(im->opts.hooks_ud);
    if (im->next >= im->n_entries) {
        finish(im, 0, "");
    } else if (!batch_due(im)) {
        uv_idle_stop(&im->idle); /* wait for more files to be read */
        im->flush_due = false;
        pump(im);
    }
}

static void after_walk(uv_work_t *w, int status)
{
    struct import *im = w->data;

    if (status == UV_ECANCELED) {
        finish(im, AC_ECANCELED, "import cancelled");
        return;
    }
    if (im->res.code != 0 || cancelled(&im->opts) || im->n_entries == 0) {
        finish(im, 0, ""); /* the folder could not be read, or holds nothing to read */
        return;
    }
    im->slots = calloc((size_t)im->opts.batch_rows, sizeof *im->slots);
    if (im->slots == NULL) {
        finish(im, -ENOMEM, "no memory to register the files");
        return;
    }
    dispatch(im);
    pump(im);
}

int ac_import_start(uv_loop_t *loop, ac_db_t *db, const char *dir, const ac_import_opts_t *opts,
                    ac_import_done_cb cb, void *ud, ac_err_t *e)
{
    struct import *im = NULL;
    int rc;

    AC_DB_OWNER_CHECK(db);
    if (loop == NULL || cb == NULL || dir == NULL || dir[0] != '/')
        return ac_err_set(e, -EINVAL, "import: '%s' is not an absolute folder path",
                          dir != NULL ? dir : "(null)");
    if ((im = calloc(1, sizeof *im)) == NULL || (im->dir = strdup(dir)) == NULL) {
        free(im);
        return ac_err_set(e, -ENOMEM, "import %s: no memory", dir);
    }
    if (opts != NULL)
        im->opts = *opts;
    else
        ac_import_opts_default(&im->opts);
    if (im->opts.batch_rows < 1)
        im->opts.batch_rows = 1;
    if (im->opts.batch_budget_ms < 1)
        im->opts.batch_budget_ms = 1;
    if (im->opts.readers < 1)
        im->opts.readers = 1;
    im->loop = loop;
    im->db = db;
    im->cb = cb;
    im->ud = ud;
    im->t_start = ac_now_ns();
    im->flush_ms = FLUSH_MS;
    ac_strlcpy(im->res.dir, dir, sizeof im->res.dir);
    /* Neither init can fail on Linux (no allocation, no system call). */
    uv_idle_init(loop, &im->idle);
    uv_timer_init(loop, &im->timer);
    im->idle.data = im->timer.data = im;
    im->work.data = im;
    if ((rc = uv_queue_work(loop, &im->work, work_walk, after_walk)) != 0) {
        im->cb = NULL; /* freed without a callback */
        uv_close((uv_handle_t *)&im->idle, on_closed);
        uv_close((uv_handle_t *)&im->timer, on_closed);
        return ac_err_set(e, rc, "import %s: %s", dir, uv_strerror(rc));
    }
    return 0;
}
