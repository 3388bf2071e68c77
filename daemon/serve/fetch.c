/*
 * fetch.c - downloading cloud-only lights and masters ahead of the scheduler into an LRU
 * cache (fetch.h). Loop thread only.
 */
#include "fetch.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "backoff.h"
#include "cloud.h"
#include "fsutil.h"
#include "log.h"
#include "rrun.h"
#include "upload_queue.h"
#include "util.h"

#define TICK_MS 1000
#define LOOKAHEAD 16
#define PIN_S 60.0     /* a file used this recently is not evicted */
#define FORGET_S 600.0 /* present files are looked at again after this */
#define SHORT_WAIT_S 30.0
#define GATE_CAP_S 3600.0

enum ent_state { E_CHECKING, E_PRESENT, E_NO_URL, E_WANT, E_DOWNLOADING, E_CACHED, E_FAILED };

struct ent {
    struct ent *next;
    ac_fetcher_t *f;
    char file_id[64];
    char path[4096];
    char url[2048];
    char cache[4400]; /* <cache_dir>/<file id>/<name> */
    enum ent_state state;
    int64_t size;
    double used, seen, not_before; /* monotonic seconds */
    int attempts;
    int rounds;  /* a master's failed rounds of attempts (its back-off) */
    bool master; /* file_id is "master-<Masters.id>" */
    bool soon;   /* in the last look-ahead */
    char error[700];
    uv_fs_t st;
};

enum dl_phase { D_STAT, D_STATFS, D_COPY, D_CHECK, D_RENAME };

struct dl {
    ac_fetcher_t *f;
    struct ent *en;
    enum dl_phase phase;
    ac_rrun_t run;
    uv_fs_t fs;
    int64_t remote_size;
    char remote[5200], tmp[4500];
};

struct ac_fetcher {
    ac_cloud_env_t env;
    uv_loop_t *loop;
    ac_db_t *db;
    const struct ac_config *cfg;
    uv_timer_t timer;
    struct ent *ents;
    int checking, downloading;
    bool stopping;
    char dir[4096];
    char last_error[700];
    struct dl *dls[16];
    void (*stopped)(void *ud);
};

static struct ent *find(ac_fetcher_t *f, const char *file_id)
{
    for (struct ent *en = f->ents; en != NULL; en = en->next)
        if (strcmp(en->file_id, file_id) == 0)
            return en;
    return NULL;
}

static struct ent *add(ac_fetcher_t *f, const char *file_id)
{
    struct ent *en = calloc(1, sizeof *en);

    if (en == NULL)
        return NULL;
    ac_strlcpy(en->file_id, file_id, sizeof en->file_id);
    en->f = f;
    en->seen = en->used = ac_rrun_now();
    en->next = f->ents;
    f->ents = en;
    return en;
}

static void drop(ac_fetcher_t *f, struct ent *gone)
{
    for (struct ent **p = &f->ents; *p != NULL; p = &(*p)->next) {
        if (*p == gone) {
            *p = gone->next;
            free(gone);
            return;
        }
    }
}

static void maybe_stopped(ac_fetcher_t *f);
static void timer_cb(uv_timer_t *t);

static void soon(ac_fetcher_t *f)
{
    if (!f->stopping)
        uv_timer_start(&f->timer, timer_cb, 0, TICK_MS);
}

/* ---- eviction ---- */

static int64_t cached_bytes(const ac_fetcher_t *f)
{
    int64_t n = 0;

    for (const struct ent *en = f->ents; en != NULL; en = en->next)
        if (en->state == E_CACHED || en->state == E_DOWNLOADING)
            n += en->size;
    return n;
}

struct removal {
    uv_fs_t req;
    char dir[4400];
};

static void removed(uv_fs_t *req)
{
    uv_fs_req_cleanup(req);
    free(req->data);
}

static void unlinked(uv_fs_t *req)
{
    struct removal *r = req->data;

    uv_fs_req_cleanup(req);
    if (uv_fs_rmdir(req->loop, &r->req, r->dir, removed) != 0)
        free(r);
}

/* remove_cached deletes a cached file, then its folder (a failure leaves a file the next
 * start-up finds again). */
static void remove_cached(ac_fetcher_t *f, const char *file, const char *dir)
{
    struct removal *r = calloc(1, sizeof *r);

    if (r == NULL)
        return;
    r->req.data = r;
    ac_strlcpy(r->dir, dir, sizeof r->dir);
    if (uv_fs_unlink(f->loop, &r->req, file, unlinked) != 0)
        free(r);
}

/* evict makes room for need more bytes within cache_max_gib, least recently used first. */
static void evict(ac_fetcher_t *f, int64_t need)
{
    int64_t max = (int64_t)(f->cfg->cache_max_gib * 1073741824.0);
    double now = ac_rrun_now();

    while (cached_bytes(f) + need > max) {
        struct ent *lru = NULL;
        char dir[4400];
        for (struct ent *en = f->ents; en != NULL; en = en->next)
            if (en->state == E_CACHED && !en->soon && now - en->used > PIN_S &&
                (lru == NULL || en->used < lru->used))
                lru = en;
        if (lru == NULL)
            return; /* everything is in use: the cache is over its size for a while */
        ac_log_info("cloud: cache: evicting %s (%lld bytes)", lru->cache, (long long)lru->size);
        ac_path_dir(lru->cache, dir, sizeof dir);
        remove_cached(f, lru->cache, dir);
        drop(f, lru);
    }
}

/* ---- one download ---- */

static void dl_end(struct dl *d, const char *error, bool final)
{
    ac_fetcher_t *f = d->f;
    struct ent *en = d->en;

    for (size_t i = 0; i < sizeof f->dls / sizeof f->dls[0]; i++)
        if (f->dls[i] == d)
            f->dls[i] = NULL;
    f->downloading--;
    if (error == NULL) {
        en->state = E_CACHED;
        en->used = ac_rrun_now();
        en->attempts = 0;
        ac_log_info("cloud: fetched %s -> %s (%lld bytes, %.1f s)", en->url, en->cache,
                    (long long)en->size, d->run.seconds);
        if (f->env.fetched != NULL)
            f->env.fetched(f->env.ud);
    } else {
        ac_strlcpy(en->error, error, sizeof en->error);
        ac_strlcpy(f->last_error, error, sizeof f->last_error);
        en->size = 0;
        if (final || ++en->attempts >= f->cfg->max_attempts) {
            en->state = E_FAILED;
            /* A master is asked for again by the planner: not before its back-off. */
            en->not_before =
                ac_rrun_now() + ac_backoff_delay(SHORT_WAIT_S, GATE_CAP_S, en->rounds++);
            ac_log_err("cloud: cannot fetch %s: %s", en->path, error);
            if (en->master && f->env.fetched != NULL) /* its sessions say why they wait */
                f->env.fetched(f->env.ud);
        } else {
            double w = ac_backoff_delay(f->cfg->retry_backoff_s, GATE_CAP_S, en->attempts - 1);
            en->state = E_WANT;
            en->not_before = ac_rrun_now() + w;
            ac_log_warn("cloud: fetching %s: %s; again in %.0f s", en->path, error, w);
        }
    }
    free(d);
    if (f->stopping)
        maybe_stopped(f);
    else
        soon(f);
}

static void dl_fs_cb(uv_fs_t *req);

static void dl_run_cb(ac_rrun_t *run)
{
    struct dl *d = run->data;
    ac_fetcher_t *f = d->f;
    char why[1200], last[900];

    if (f->stopping) {
        d->en->state = E_WANT;
        dl_end(d, "stopped", false);
        return;
    }
    if (run->status != 0) {
        ac_cloud_fault_t ft = run->status == 124 ? AC_CLOUD_FAULT_TIMEOUT
                                                 : ac_cloud_classify(run->status, run->err);
        ac_cloud_last_error(run->err, last, sizeof last);
        snprintf(why, sizeof why, "%s: %s: %s", d->en->url, ac_cloud_fault_text(ft),
                 last[0] ? last : "no message");
        dl_end(d, why, ft == AC_CLOUD_FAULT_NOT_FOUND);
        return;
    }
    if (d->phase == D_STAT) {
        json_t *o = json_loads(run->out, 0, NULL);
        d->remote_size = json_integer_value(json_object_get(o, "Size"));
        json_decref(o);
        if (d->remote_size <= 0) {
            snprintf(why, sizeof why, "%s: rclone lsjson gave no size", d->en->url);
            dl_end(d, why, false);
            return;
        }
        d->en->size = d->remote_size; /* counted in the cache from now on */
        d->phase = D_STATFS;
        d->fs.data = d;
        if (uv_fs_statfs(f->loop, &d->fs, f->dir, dl_fs_cb) != 0)
            dl_end(d, "cannot read the cache's free space", false);
        return;
    }
    /* D_COPY done: check what arrived. */
    d->phase = D_CHECK;
    d->fs.data = d;
    if (uv_fs_stat(f->loop, &d->fs, d->tmp, dl_fs_cb) != 0)
        dl_end(d, "cannot look at the download", false);
}

static void dl_fs_cb(uv_fs_t *req)
{
    struct dl *d = req->data;
    ac_fetcher_t *f = d->f;
    const char *argv[AC_CLOUD_ARGV_MAX];
    char why[1200];
    int res = (int)req->result;

    if (f->stopping) {
        uv_fs_req_cleanup(req);
        dl_end(d, "stopped", false);
        return;
    }
    if (d->phase == D_STATFS) {
        uint64_t free_b =
            res == 0 ? ((uv_statfs_t *)req->ptr)->f_bavail * ((uv_statfs_t *)req->ptr)->f_bsize
                     : 0;
        uint64_t need = (uint64_t)d->remote_size + f->cfg->free_disk_reserve_mib * 1048576u;
        uv_fs_req_cleanup(req);
        if (res != 0 || free_b < need) {
            snprintf(why, sizeof why,
                     "%s: %llu MiB free for the cache, need %llu MiB (the file and "
                     "free_disk_reserve_mib)",
                     f->dir, (unsigned long long)(free_b >> 20),
                     (unsigned long long)(need >> 20));
            d->en->attempts--; /* waiting for space is no attempt */
            dl_end(d, why, false);
            return;
        }
        evict(f, 0);
        d->phase = D_COPY;
        d->run.data = d;
        ac_cloud_argv(f->cfg, AC_CLOUD_COPYTO, d->remote, d->tmp, argv);
        ac_rrun_start(&d->run, f->loop, argv, f->cfg->transfer_timeout_s, dl_run_cb);
        return;
    }
    if (d->phase == D_CHECK) {
        int64_t got = res == 0 ? (int64_t)req->statbuf.st_size : -1;
        uv_fs_req_cleanup(req);
        if (got != d->remote_size) {
            snprintf(why, sizeof why, "%s: downloaded %lld bytes, the remote has %lld",
                     d->en->url, (long long)got, (long long)d->remote_size);
            dl_end(d, why, false);
            return;
        }
        d->phase = D_RENAME;
        if (uv_fs_rename(f->loop, &d->fs, d->tmp, d->en->cache, dl_fs_cb) != 0)
            dl_end(d, "cannot rename the download", false);
        return;
    }
    uv_fs_req_cleanup(req); /* D_RENAME */
    dl_end(d, res == 0 ? NULL : "cannot rename the download into the cache", false);
}

static void dl_start(ac_fetcher_t *f, struct ent *en)
{
    const char *argv[AC_CLOUD_ARGV_MAX];
    struct dl *d = calloc(1, sizeof *d);
    ac_err_t e = {0};
    size_t slot = 0;

    while (slot < sizeof f->dls / sizeof f->dls[0] && f->dls[slot] != NULL)
        slot++;
    if (d == NULL || slot == sizeof f->dls / sizeof f->dls[0]) {
        free(d);
        return;
    }
    d->f = f;
    d->en = en;
    if (ac_cloud_url_to_remote(f->cfg, en->url, d->remote, sizeof d->remote, &e) != 0) {
        en->state = E_FAILED;
        en->not_before = ac_rrun_now() + GATE_CAP_S; /* a master's: the URL will not change */
        ac_strlcpy(en->error, e.msg, sizeof en->error);
        ac_log_err("cloud: cannot fetch %s: %s", en->path, e.msg);
        free(d);
        return;
    }
    snprintf(en->cache, sizeof en->cache, "%s/%s/%s", f->dir, en->file_id,
             ac_path_base(en->path));
    snprintf(d->tmp, sizeof d->tmp, "%s.part", en->cache);
    f->dls[slot] = d;
    f->downloading++;
    en->state = E_DOWNLOADING;
    d->phase = D_STAT;
    d->run.data = d;
    ac_cloud_argv(f->cfg, AC_CLOUD_STAT, d->remote, NULL, argv);
    ac_rrun_start(&d->run, f->loop, argv, f->cfg->transfer_timeout_s, dl_run_cb);
}

/* ---- looking ahead ---- */

static void check_cb(uv_fs_t *req)
{
    struct ent *en = req->data;
    ac_fetcher_t *f = en->f;
    int res = (int)req->result;

    uv_fs_req_cleanup(req);
    f->checking--;
    en->state = res == 0 ? E_PRESENT : en->url[0] == '\0' ? E_NO_URL : E_WANT;
    if (en->state == E_WANT)
        ac_log_info("cloud: %s is missing: fetching %s", en->path, en->url);
    if (f->stopping)
        maybe_stopped(f);
    else
        soon(f);
}

/* check looks whether a light's file is there (off the loop thread). */
static void check(ac_fetcher_t *f, struct ent *en, const char *path, const char *url)
{
    ac_strlcpy(en->path, path, sizeof en->path);
    ac_strlcpy(en->url, url != NULL ? url : "", sizeof en->url);
    en->state = E_CHECKING;
    en->st.data = en;
    if (uv_fs_stat(f->loop, &en->st, en->path, check_cb) == 0)
        f->checking++;
    else
        en->state = en->url[0] == '\0' ? E_NO_URL : E_WANT;
}

/* ahead marks a light or master of the look-ahead as wanted soon, looking at its file the
 * first time. */
static void ahead(ac_fetcher_t *f, const ac_dl_row_t *r, bool master)
{
    struct ent *en = find(f, r->file_id);

    if (en == NULL && (en = add(f, r->file_id)) != NULL) {
        en->master = master;
        check(f, en, r->path ? r->path : "", r->url);
    } else if (en != NULL && en->path[0] == '\0') { /* found in the cache at start-up */
        ac_strlcpy(en->path, r->path ? r->path : "", sizeof en->path);
        ac_strlcpy(en->url, r->url ? r->url : "", sizeof en->url);
    }
    if (en == NULL)
        return;
    en->soon = true;
    /* A failed master still wanted is not forgotten (FORGET_S): its back-off keeps
     * growing to the hour fetch.h promises instead of starting again at 30 s. */
    if (master && en->state == E_FAILED)
        en->seen = ac_rrun_now();
}

/* look_ahead checks the next pending lights and forgets old answers about present files. */
static void look_ahead(ac_fetcher_t *f)
{
    ac_dl_list_t l = {0}, ml = {0};
    ac_err_t e = {0};
    double now = ac_rrun_now();

    if (ac_upq_lookahead(f->db, LOOKAHEAD, &l, &ml, &e) != 0) {
        if (!ac_db_unavailable(e.code))
            ac_log_warn("cloud: looking at the next lights: %s", e.msg);
        return;
    }
    for (struct ent *en = f->ents, *next; en != NULL; en = next) {
        next = en->next;
        en->soon = false;
        if ((en->state == E_PRESENT || en->state == E_NO_URL || en->state == E_FAILED) &&
            now - en->seen > FORGET_S)
            drop(f, en);
    }
    for (size_t i = 0; i < l.n; i++)
        ahead(f, &l.items[i], false);
    /* The masters of sessions with lights to go: fetched ahead, kept in the cache. */
    for (size_t i = 0; i < ml.n; i++)
        ahead(f, &ml.items[i], true);
    ac_upq_dl_list_free(&l);
    ac_upq_dl_list_free(&ml);
}

static void timer_cb(uv_timer_t *t)
{
    ac_fetcher_t *f = t->data;
    double now = ac_rrun_now();

    if (f->stopping || !f->env.ok(f->env.ud) || !f->cfg->download_missing)
        return;
    look_ahead(f);
    for (struct ent *en = f->ents; en != NULL; en = en->next) {
        if (en->master && en->state == E_FAILED && en->not_before <= now) {
            en->state = E_WANT; /* a master failed: again after its back-off */
            en->attempts = 0;
        }
    }
    for (struct ent *en = f->ents; en != NULL && f->downloading < f->cfg->transfers;
         en = en->next)
        if (en->state == E_WANT && en->not_before <= now)
            dl_start(f, en);
}

/* ---- public ---- */

/* scan_cache reads what an earlier run downloaded: <dir>/<file id>/<name>; leftover
 * ".part" files are removed. Start-up only (blocking). */
static void scan_cache(ac_fetcher_t *f)
{
    DIR *top = opendir(f->dir), *sub;
    struct dirent *a, *b;

    while (top != NULL && (a = readdir(top)) != NULL) {
        char d[4400];
        if (a->d_name[0] == '.')
            continue;
        snprintf(d, sizeof d, "%s/%s", f->dir, a->d_name);
        if ((sub = opendir(d)) == NULL)
            continue;
        while ((b = readdir(sub)) != NULL) {
            char p[4400];
            struct stat st;
            struct ent *en;
            size_t n = strlen(b->d_name);
            if (b->d_name[0] == '.' ||
                snprintf(p, sizeof p, "%s/%s", d, b->d_name) >= (int)sizeof p ||
                stat(p, &st) != 0 || !S_ISREG(st.st_mode))
                continue;
            if (n > 5 && strcmp(b->d_name + n - 5, ".part") == 0) {
                unlink(p);
                continue;
            }
            if ((en = add(f, a->d_name)) == NULL)
                break;
            en->state = E_CACHED;
            en->master = strncmp(a->d_name, "master-", 7) == 0;
            en->size = (int64_t)st.st_size;
            /* Older than anything used from now on, in the order they were downloaded. */
            en->used = ac_rrun_now() - PIN_S - 1 - fmax(0, (double)(time(NULL) - st.st_mtime));
            ac_strlcpy(en->cache, p, sizeof en->cache);
        }
        closedir(sub);
    }
    if (top != NULL)
        closedir(top);
}

ac_fetcher_t *ac_fetcher_new(const ac_cloud_env_t *env, ac_err_t *e)
{
    ac_fetcher_t *f = calloc(1, sizeof *f);
    const struct ac_config *cfg = env->cfg;

    if (f == NULL) {
        ac_err_set(e, -ENOMEM, "out of memory");
        return NULL;
    }
    f->env = *env;
    f->loop = env->loop;
    f->db = env->db;
    f->cfg = cfg;
    if (cfg->cache_dir[0] != '\0')
        ac_strlcpy(f->dir, cfg->cache_dir, sizeof f->dir);
    else
        snprintf(f->dir, sizeof f->dir, "%s/cloud-cache", cfg->state_dir);
    if (ac_fsutil_mkdirs(f->dir, e) != 0) {
        free(f);
        return NULL;
    }
    scan_cache(f);
    uv_timer_init(f->loop, &f->timer);
    f->timer.data = f;
    uv_timer_start(&f->timer, timer_cb, TICK_MS, TICK_MS);
    return f;
}

/* known returns the entry of file_id; NULL after starting to look at the file (its state
 * is known later), or when cloud sync cannot help. */
static struct ent *known(ac_fetcher_t *f, const char *file_id, const char *path)
{
    struct ent *en;
    char url[2048];
    ac_err_t e = {0};

    if (f == NULL || f->stopping || !f->cfg->download_missing)
        return NULL;
    if ((en = find(f, file_id)) != NULL) {
        en->seen = ac_rrun_now();
        return en;
    }
    if (ac_upq_file_url(f->db, file_id, url, sizeof url, &e) == 0 &&
        (en = add(f, file_id)) != NULL)
        check(f, en, path, url);
    return NULL;
}

int ac_fetcher_locate(ac_fetcher_t *f, const char *file_id, const char *path, char *input,
                      size_t isize, char *why, size_t wsize)
{
    struct ent *en = known(f, file_id, path);

    if (en == NULL)
        return f == NULL || f->stopping || !f->cfg->download_missing ? 0 : -EAGAIN;
    switch (en->state) {
    case E_PRESENT:
        return 0;
    case E_CACHED:
        en->used = ac_rrun_now();
        ac_strlcpy(input, en->cache, isize);
        return 1;
    case E_NO_URL:
        snprintf(why, wsize,
                 "%s: the file is missing and the catalogue has no cloud URL "
                 "(fitsFileCloudURL) to fetch it from",
                 path);
        return -ENOENT;
    case E_FAILED:
        snprintf(why, wsize, "%s: the file is missing and could not be fetched: %s", path,
                 en->error);
        drop(f, en); /* a retry of the file tries again */
        return -ENOENT;
    default:
        return -EAGAIN;
    }
}

int ac_fetcher_want(ac_fetcher_t *f, const char *file_id, const char *path, char *out,
                    size_t size)
{
    struct ent *en = known(f, file_id, path);

    if (en == NULL || en->state != E_CACHED)
        return 0;
    en->used = ac_rrun_now();
    ac_strlcpy(out, en->cache, size);
    return 1;
}

int ac_fetcher_master(ac_fetcher_t *f, int64_t rowid, const char *path, const char *url,
                      bool want, char *out, size_t osize, char *why, size_t wsize)
{
    char id[64];
    struct ent *en;
    double now = ac_rrun_now();

    if (url == NULL || url[0] == '\0') {
        snprintf(why, wsize, "Masters.cloud_url is empty: no cloud copy");
        return -ENOENT;
    }
    if (f == NULL || f->stopping || !f->cfg->download_missing) {
        snprintf(why, wsize, "its cloud copy %s is not fetched (%s)", url,
                 f == NULL ? "[CLOUD] enabled = False" : "[CLOUD] download_missing = False");
        return -ENOENT;
    }
    snprintf(id, sizeof id, "master-%lld", (long long)rowid);
    if ((en = find(f, id)) == NULL) {
        if (!want || (en = add(f, id)) == NULL) {
            snprintf(why, wsize, "only in the cloud (%s), not fetched yet", url);
            return 0;
        }
        en->master = true;
        en->state = E_PRESENT; /* made wanted below */
    }
    en->seen = now;
    if (en->path[0] == '\0' || strcmp(en->path, path) != 0 || strcmp(en->url, url) != 0) {
        ac_strlcpy(en->path, path, sizeof en->path);
        ac_strlcpy(en->url, url, sizeof en->url);
    }
    if (en->state == E_CACHED) {
        en->used = now;
        ac_strlcpy(out, en->cache, osize);
        return 1;
    }
    if (en->state == E_FAILED && (!want || now < en->not_before)) {
        snprintf(why, wsize, "could not be fetched from the cloud: %s; trying again in %.0f s",
                 en->error, fmax(0.0, en->not_before - now));
        return -EAGAIN;
    }
    if (want && (en->state == E_FAILED || en->state == E_PRESENT || en->state == E_NO_URL)) {
        /* Missing (the planner looked), or failed and its back-off passed. */
        en->state = E_WANT;
        en->attempts = 0;
        en->not_before = 0;
        ac_log_info("cloud: master %s is missing: fetching %s", path, url);
        soon(f);
    }
    if (en->state == E_PRESENT || en->state == E_NO_URL) {
        snprintf(why, wsize, "only in the cloud (%s), not fetched yet", url);
        return 0;
    }
    snprintf(why, wsize, "being fetched from the cloud (%s)", url);
    return 0;
}

int ac_fetcher_master_copy(ac_fetcher_t *f, const char *path, char *out, size_t size)
{
    if (f == NULL || path == NULL || path[0] == '\0')
        return 0;
    for (struct ent *en = f->ents; en != NULL; en = en->next) {
        if (en->master && en->state == E_CACHED && strcmp(en->path, path) == 0) {
            en->used = ac_rrun_now();
            ac_strlcpy(out, en->cache, size);
            return 1;
        }
    }
    return 0;
}

json_t *ac_fetcher_status_json(const ac_fetcher_t *f)
{
    int want = 0, cached = 0, failed = 0;

    if (f == NULL)
        return json_null();
    for (const struct ent *en = f->ents; en != NULL; en = en->next) {
        want += en->state == E_WANT;
        cached += en->state == E_CACHED;
        failed += en->state == E_FAILED;
    }
    return json_pack("{s:i,s:i,s:i,s:i,s:I,s:I,s:o}", "queued", want, "running", f->downloading,
                     "failed", failed, "cached", cached, "cached_bytes",
                     (json_int_t)cached_bytes(f), "max_bytes",
                     (json_int_t)(f->cfg->cache_max_gib * 1073741824.0), "last_error",
                     f->last_error[0] ? json_string(f->last_error) : json_null());
}

static void timer_closed(uv_handle_t *h)
{
    ac_fetcher_t *f = h->data;
    void (*stopped)(void *) = f->stopped;
    void *ud = f->env.ud;

    while (f->ents != NULL)
        drop(f, f->ents);
    free(f);
    if (stopped != NULL)
        stopped(ud);
}

static void maybe_stopped(ac_fetcher_t *f)
{
    if (f->downloading > 0 || f->checking > 0 || uv_is_closing((uv_handle_t *)&f->timer))
        return;
    uv_close((uv_handle_t *)&f->timer, timer_closed);
}

void ac_fetcher_stop(ac_fetcher_t *f, void (*stopped)(void *ud))
{
    f->stopped = stopped;
    if (!f->stopping) {
        f->stopping = true;
        uv_timer_stop(&f->timer);
        for (size_t i = 0; i < sizeof f->dls / sizeof f->dls[0]; i++)
            if (f->dls[i] != NULL && ac_rrun_running(&f->dls[i]->run))
                ac_rrun_kill(&f->dls[i]->run);
    }
    maybe_stopped(f);
}
