/*
 * importer.c - `astrocalctl import DIR`: registering the FITS files under a folder into
 * AstroFiler's catalogue (orchestration, libuv). See importer.h for what is registered
 * and how; this file holds the folder walk (pool thread, through ac_walk) and the batched
 * registration on the loop thread (uv_idle: one batch per loop iteration; a uv_timer only
 * for the delay before a failed batch is retried; a zero uv_timer would not do, as libuv
 * 1.44 runs a timer re-armed with 0 again in the same iteration). Reading and registering
 * one file are importer_file.c's. A batch the catalogue refuses because another program
 * holds its lock waits for it, however long, with a back-off (ac_db_retry_delay_ms); one
 * refused because the catalogue was replaced or deleted ends the import.
 *
 * Ownership: struct import owns the copied options, the scanned items and the result
 * lists; it is freed after the callback, once both its handles are closed.
 * Thread: items and the result are written by the pool thread during the walk and only
 * touched by the loop thread after after_work (uv_queue_work orders the hand-off). Every
 * SQLite call is on the loop thread.
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
    o->max_errors = 100;
    o->max_skips = 100;
    o->type_from_path = true;
}

static bool cancelled(const ac_import_opts_t *o)
{
    return o->cancel != NULL && atomic_load(o->cancel) != 0;
}

/* ---- The import ---- */

struct slot {
    int rc;
    ac_import_outcome_t o;
    ac_err_t e;
};

struct import {
    uv_loop_t *loop;
    ac_db_t *db;
    ac_import_opts_t opts;
    ac_import_done_cb cb;
    void *ud;
    uv_idle_t idle;   /* one batch per loop iteration */
    uv_timer_t timer; /* the delay before a failed batch is retried */
    uv_work_t work;
    int closed; /* handles closed (2: free) */
    char *dir;
    /* The scan: what the walk found. */
    ac_import_item_t **items;
    size_t n_items, cap_items;
    uint64_t t_start;
    /* Registering. */
    size_t next;
    struct slot *slots;
    size_t batch_n;
    int retries;
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

/* tally counts an item that will not be registered (skipped or failed). */
static void tally(struct import *im, const ac_import_item_t *it)
{
    ac_import_result_t *r = &im->res;

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

/* scan_one handles one FITS-named file of the walk. */
static void scan_one(struct import *im, const char *path, const char *base)
{
    ac_import_item_t *it = NULL;

    im->res.files++;
    if (ac_fsutil_is_tmpname(base)) {
        im->res.skipped++;
        im->res.skipped_temporary++;
        add_entry(&im->res.skip_list, &im->res.n_skip_list, im->opts.max_skips, path,
                  "temporary file of astrocald");
        return;
    }
    if (ac_import_scan_file(path, &im->opts, &it) != 0) {
        add_error(im, path, "no memory to read it");
        return;
    }
    if (it->kind == AC_IMPORT_FRAME || it->kind == AC_IMPORT_MASTER) {
        if (ac_grow((void **)&im->items, &im->cap_items, im->n_items, sizeof *im->items) == 0) {
            im->items[im->n_items++] = it;
            return;
        }
        add_error(im, path, "no memory to keep its record");
    } else {
        tally(im, it);
    }
    ac_import_item_free(it);
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
        scan_one(im, e->path, e->name);
    return AC_WALK_NEXT;
}

static void walk_error(void *ud, const char *dir, int err)
{
    char msg[600];

    snprintf(msg, sizeof msg, "cannot list the folder: %s", strerror(err));
    add_error(ud, dir, msg);
}

static void work_scan(uv_work_t *w)
{
    struct import *im = w->data;
    uint64_t t0 = ac_now_ns();
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
    im->res.scan_seconds = (double)(ac_now_ns() - t0) / 1e9;
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
    for (size_t i = 0; i < im->n_items; i++)
        ac_import_item_free(im->items[i]);
    free(im->items);
    free(im->slots);
    free(im->dir);
    free(im);
}

/* finish ends the import: the callback runs once both handles are closed. */
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
    r->register_seconds = (double)(ac_now_ns() - im->t_start) / 1e9 - r->scan_seconds;
    uv_idle_stop(&im->idle);
    uv_timer_stop(&im->timer);
    uv_close((uv_handle_t *)&im->idle, on_closed);
    uv_close((uv_handle_t *)&im->timer, on_closed);
}

static int batch_txn(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct import *im = arg;
    uint64_t t0 = ac_now_ns(), budget = (uint64_t)im->opts.batch_budget_ms * 1000000u;

    im->batch_n = 0;
    for (size_t i = im->next; i < im->n_items && im->batch_n < (size_t)im->opts.batch_rows;
         i++) {
        struct slot *s = &im->slots[im->batch_n];
        if (im->batch_n > 0 && ac_now_ns() - t0 > budget)
            break;
        im->batch_n++;
        memset(s, 0, sizeof *s);
        s->rc = ac_import_register_item(db, im->items[i], &s->o, &s->e);
        if (s->rc == AC_EBUSY) /* the whole batch is retried */
            return ac_err_set(e, AC_EBUSY, "%s", s->e.msg);
    }
    return 0;
}

static void register_step(uv_idle_t *h);

static void on_retry(uv_timer_t *t)
{
    struct import *im = t->data;

    uv_idle_start(&im->idle, register_step);
}

/* register_step registers one batch; it runs once per loop iteration while the idle
 * handle is active. */
static void register_step(uv_idle_t *h)
{
    struct import *im = h->data;
    ac_err_t e = {0};
    int rc;

    if (cancelled(&im->opts) || im->next >= im->n_items) {
        finish(im, 0, "");
        return;
    }
    rc = ac_db_transact(im->db, batch_txn, im, &e);
    if (rc == AC_ECATALOG) {
        finish(im, rc, e.msg);
        return;
    }
    if (rc == AC_EBUSY) {
        ac_log_debug("import %s: the catalogue is locked, waiting: %s", im->res.dir, e.msg);
        uv_idle_stop(&im->idle);
        uv_timer_start(&im->timer, on_retry, ac_db_retry_delay_ms(im->db, BUSY_DELAY_MS), 0);
        return;
    }
    if (rc != 0 && im->retries < MAX_BATCH_RETRY) {
        im->retries++;
        ac_log_warn("import %s: a batch failed, retrying: %s", im->res.dir, e.msg);
        uv_idle_stop(&im->idle);
        uv_timer_start(&im->timer, on_retry, (uint64_t)RETRY_DELAY_MS << (im->retries - 1), 0);
        return;
    }
    if (rc != 0) { /* give up on this batch's files, go on with the rest */
        size_t end = im->next + (size_t)im->opts.batch_rows;
        for (; im->next < im->n_items && im->next < end; im->next++)
            add_error(im, im->items[im->next]->path, e.msg);
    } else {
        for (size_t k = 0; k < im->batch_n; k++, im->next++) {
            const struct slot *s = &im->slots[k];
            const ac_import_item_t *it = im->items[im->next];
            if (s->rc != 0)
                add_error(im, it->path, s->e.msg);
            else if (s->o.duplicate)
                im->res.duplicates++;
            else if (it->kind == AC_IMPORT_MASTER)
                im->res.masters++;
            else
                im->res.registered++;
            im->res.inferred += s->rc == 0 && !s->o.duplicate && it->type_why != NULL;
            im->res.sessions_created += s->rc == 0 && s->o.session_created;
        }
    }
    im->retries = 0;
}

static void after_scan(uv_work_t *w, int status)
{
    struct import *im = w->data;

    if (status == UV_ECANCELED) {
        finish(im, AC_ECANCELED, "import cancelled");
        return;
    }
    if (im->res.code != 0 || cancelled(&im->opts)) { /* the folder could not be read */
        finish(im, 0, "");
        return;
    }
    im->slots = calloc((size_t)im->opts.batch_rows, sizeof *im->slots);
    if (im->slots == NULL) {
        finish(im, -ENOMEM, "no memory to register the files");
        return;
    }
    uv_idle_start(&im->idle, register_step);
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
    im->loop = loop;
    im->db = db;
    im->cb = cb;
    im->ud = ud;
    im->t_start = ac_now_ns();
    ac_strlcpy(im->res.dir, dir, sizeof im->res.dir);
    /* Neither init can fail on Linux (no allocation, no system call). */
    uv_idle_init(loop, &im->idle);
    uv_timer_init(loop, &im->timer);
    im->idle.data = im->timer.data = im;
    im->work.data = im;
    if ((rc = uv_queue_work(loop, &im->work, work_scan, after_scan)) != 0) {
        im->cb = NULL; /* freed without a callback */
        uv_close((uv_handle_t *)&im->idle, on_closed);
        uv_close((uv_handle_t *)&im->timer, on_closed);
        return ac_err_set(e, rc, "import %s: %s", dir, uv_strerror(rc));
    }
    return 0;
}
