/*
 * mcache.c - prepared master sets (see mcache.h).
 */
#include "mcache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "hdr.h"
#include "imgio.h"
#include "log.h"
#include "queue.h"
#include "util.h"

/* Back-off of a set whose load failed transiently: 10 s, doubled per consecutive failure,
 * at most 10 minutes. */
#define MCACHE_RETRY_FIRST_S 10.0
#define MCACHE_RETRY_CAP_S 600.0

static double mono_s(void)
{
    return (double)ac_now_ns() / 1e9;
}

/* ident_of fills *id from st. */
static void ident_of(const struct stat *st, ac_mident_t *id)
{
    id->exists = true;
    id->dev = (int64_t)st->st_dev;
    id->ino = (int64_t)st->st_ino;
    id->size = (int64_t)st->st_size;
    id->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    id->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

void ac_mcache_ident(const char *path, ac_mident_t *id)
{
    struct stat st;

    memset(id, 0, sizeof *id);
    if (path == NULL || path[0] == '\0' || stat(path, &st) != 0)
        return;
    ident_of(&st, id);
}

bool ac_mcache_ident_equal(const ac_mident_t *a, const ac_mident_t *b)
{
    if (a->exists != b->exists)
        return false;
    return !a->exists || (a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
                          a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns);
}

bool ac_mcache_transient(int code)
{
    return ac_queue_transient(code) || code == AC_ECANCELED;
}

/* resolve_key copies key into out with each master's path where its file is (a cloud copy,
 * mcache.h). */
static void resolve_key(const ac_mcache_t *mc, const ac_mkey_t *key, ac_mkey_t *out)
{
    *out = *key;
    for (int i = 0; i < AC_M_COUNT && mc->resolve != NULL; i++)
        if (key->path[i][0] != '\0' &&
            mc->resolve(mc->resolve_ud, key->path[i], out->path[i], sizeof out->path[i]) != 1)
            ac_strlcpy(out->path[i], key->path[i], sizeof out->path[i]);
}

/* key_idents records the identity of every master of key. */
static void key_idents(const ac_mkey_t *key, ac_mident_t id[AC_M_COUNT])
{
    for (int i = 0; i < AC_M_COUNT; i++)
        ac_mcache_ident(key->path[i], &id[i]);
}

/* idents_changed says whether one of the failed set's masters changed since its load. */
static bool idents_changed(const ac_mcache_t *mc, const ac_mset_t *s)
{
    ac_mident_t now[AC_M_COUNT];
    ac_mkey_t files;

    resolve_key(mc, &s->key, &files);
    key_idents(&files, now);
    for (int i = 0; i < AC_M_COUNT; i++)
        if (!ac_mcache_ident_equal(&now[i], &s->ident[i]))
            return true;
    return false;
}

void ac_mcache_init(ac_mcache_t *mc, uv_loop_t *loop, size_t budget, ac_mcache_cb on_loaded,
                    void *ud)
{
    memset(mc, 0, sizeof *mc);
    mc->loop = loop;
    mc->budget = budget;
    mc->on_loaded = on_loaded;
    mc->ud = ud;
    mc->vouch_s = AC_MCACHE_VOUCH_S;
}

void ac_mcache_vouch(ac_mcache_t *mc, const char *path, const struct stat *st, const char *md5)
{
    ac_mvouch_t *v = NULL;
    char *copy;

    if (path == NULL || path[0] == '\0' || md5 == NULL || strlen(md5) != 32)
        return;
    for (int i = 0; i < AC_MCACHE_VOUCHES && v == NULL; i++)
        if (mc->vouch[i].path != NULL && strcmp(mc->vouch[i].path, path) == 0)
            v = &mc->vouch[i]; /* the same file hashed again: the newer one counts */
    if (v == NULL) {
        if ((copy = strdup(path)) == NULL)
            return; /* no memory: the MD5 is read again, as without a vouch */
        v = &mc->vouch[mc->vouch_next];
        mc->vouch_next = (mc->vouch_next + 1) % AC_MCACHE_VOUCHES;
        free(v->path);
        v->path = copy;
    }
    ident_of(st, &v->id);
    ac_strlcpy(v->md5, md5, sizeof v->md5);
    v->at = mono_s();
}

/* vouched says whether master i of s (a LOADING set, its identities just taken) is a file
 * vouched for, unchanged since, within vouch_s, with the MD5 its key expects (or none);
 * the MD5 is then written into s->m.hashed[i]. */
static bool vouched(ac_mcache_t *mc, ac_mset_t *s, int i)
{
    for (int k = 0; k < AC_MCACHE_VOUCHES; k++) {
        const ac_mvouch_t *v = &mc->vouch[k];
        if (v->path == NULL || strcmp(v->path, s->files.path[i]) != 0)
            continue;
        if (mono_s() - v->at > mc->vouch_s || !ac_mcache_ident_equal(&v->id, &s->ident[i]) ||
            (s->key.md5[i][0] != '\0' && strcasecmp(s->key.md5[i], v->md5) != 0))
            return false;
        ac_strlcpy(s->m.hashed[i], v->md5, sizeof s->m.hashed[i]);
        mc->md5s_vouched++;
        return true;
    }
    return false;
}

static bool key_equal(const ac_mkey_t *a, const ac_mkey_t *b)
{
    if (a->k != b->k)
        return false;
    for (int i = 0; i < AC_M_COUNT; i++)
        if (strcmp(a->path[i], b->path[i]) != 0 || strcmp(a->md5[i], b->md5[i]) != 0)
            return false;
    return true;
}

size_t ac_mcache_estimate(const ac_mkey_t *key, int *bad, ac_err_t *e)
{
    size_t total = 0;

    if (bad != NULL)
        *bad = -1;
    for (int i = 0; i < AC_M_COUNT; i++) {
        ac_hdr_t h;
        ac_meta_t m;

        if (key->path[i][0] == '\0')
            continue;
        ac_hdr_init(&h);
        if (ac_imgio_read_header(key->path[i], &h, &m, e) != 0) {
            ac_hdr_free(&h);
            if (bad != NULL)
                *bad = i;
            ac_err_prefix(e, "master %s", ac_masters_kind_name(i));
            return 0;
        }
        ac_hdr_free(&h);
        total += (size_t)m.width * (size_t)m.height * sizeof(float);
    }
    return total;
}

static size_t calset_bytes(const ac_calset_t *cs)
{
    size_t plane = (size_t)cs->w * (size_t)cs->h * sizeof(float);
    size_t n = 0;

    n += cs->offset ? plane : 0;
    n += cs->bias ? plane : 0;
    n += cs->dark_c ? plane : 0;
    n += cs->inv_flat ? plane : 0;
    return n + cs->n_hot * sizeof(uint32_t);
}

static void set_free(ac_mset_t *s)
{
    if (s->state == AC_MSET_READY)
        ac_calset_free(&s->cs);
    free(s);
}

static void unlink_set(ac_mcache_t *mc, ac_mset_t *s)
{
    for (ac_mset_t **pp = &mc->sets; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            return;
        }
    }
}

/* evict_for frees unused ready sets, least recently used first, until need bytes fit. */
static bool evict_for(ac_mcache_t *mc, size_t need)
{
    while (mc->used + need > mc->budget) {
        ac_mset_t *victim = NULL;
        for (ac_mset_t *s = mc->sets; s != NULL; s = s->next)
            if (s->state == AC_MSET_READY && s->refs == 0 &&
                (victim == NULL || s->last_used_ns < victim->last_used_ns))
                victim = s;
        if (victim == NULL)
            return false;
        ac_log_info("master cache: evicting set (dark %s, flat %s), %zu MiB",
                    victim->key.path[AC_M_DARK], victim->key.path[AC_M_FLAT],
                    victim->bytes >> 20);
        mc->used -= victim->bytes;
        unlink_set(mc, victim);
        set_free(victim);
    }
    return true;
}

/* part_work runs on a pool thread: part i < AC_M_COUNT reads master i's pixels
 * (ac_masters_load_one, touching only img[i] and loaded[i]), part AC_M_COUNT + i hashes its
 * file (ac_masters_hash_one, only hashed[i]). Apart, so that the MD5s (the slower half)
 * run beside the reads on as many threads as the pool has. */
static void part_work(uv_work_t *req)
{
    ac_mset_t *s = req->data;
    int p = (int)(req - s->part);

    s->part_rc[p] = p < AC_M_COUNT
                        ? ac_masters_load_one(&s->m, p, AC_MASTERS_HASH_APART, &s->part_err[p])
                        : ac_masters_hash_one(&s->m, p - AC_M_COUNT, &s->part_err[p]);
}

/* prepare_work runs on a pool thread once every master is read (their MD5s may still be
 * under way: they touch only hashed[i] and their own part's result): the set for its k. */
static void prepare_work(uv_work_t *req)
{
    ac_mset_t *s = req->data;
    int rc = ac_masters_prepare(&s->m, s->key.k, &s->opts, false, &s->cs, &s->err);

    if (rc != 0) {
        s->bad_master = s->cs.bad_master; /* same order as AC_M_* */
        if (s->err.code == 0)
            ac_err_set(&s->err, rc, "preparing masters: %s", ac_strerror(rc));
    }
    ac_masters_free(&s->m);
    /* Published to the loop thread by load_done: until then the set stays LOADING for
     * everyone else (the loop must not see a result before the work has ended). */
    s->outcome = rc == 0 ? AC_MSET_READY : AC_MSET_FAILED;
}

static void load_done(uv_work_t *req, int status);

/* part_failed returns the first part (of those ended) that failed, loads before MD5s, each
 * in the order bias, dark, flat, flat-dark, or -1. */
static int part_failed(const ac_mset_t *s, int upto)
{
    for (int p = 0; p < upto; p++)
        if (ac_masters_given(&s->m, p % AC_M_COUNT) && s->part_rc[p] != 0)
            return p;
    return -1;
}

/* finish (loop thread) ends a load once every part and the preparation, if it started,
 * have ended: cancelled; failed with the first master that could not be read or whose MD5
 * does not match the catalogue's (a set prepared meanwhile is dropped); or ready, its
 * masters' MD5s written into it as their provenance. */
static void finish(ac_mset_t *s)
{
    int p = part_failed(s, 2 * AC_M_COUNT);
    bool prepared = s->prep_done && s->outcome == AC_MSET_READY;

    if (s->part_cancelled || s->mc->closing || p >= 0) {
        if (prepared)
            ac_calset_free(&s->cs);
        ac_masters_free(&s->m);
        if (s->part_cancelled || s->mc->closing) {
            load_done(&s->req, UV_ECANCELED);
            return;
        }
        s->err = s->part_err[p];
        if (s->err.code == 0)
            ac_err_set(&s->err, s->part_rc[p], "master %s: %s",
                       ac_masters_kind_name(p % AC_M_COUNT), ac_strerror(s->part_rc[p]));
        s->bad_master = p % AC_M_COUNT;
        s->outcome = AC_MSET_FAILED;
        load_done(&s->req, 0);
        return;
    }
    if (prepared)
        ac_masters_set_md5s(&s->m, &s->cs, 1); /* checked: the set's provenance */
    ac_masters_free(&s->m);
    load_done(&s->req, 0);
}

/* prep_done (loop thread): the preparation ended (prepare_work set the outcome, unless
 * cancelled); the load ends when the MD5s have too. */
static void prep_done(uv_work_t *req, int status)
{
    ac_mset_t *s = req->data;

    if (status != 0)
        s->part_cancelled = true;
    s->prep_done = true;
    if (s->hashes_left == 0)
        finish(s);
}

/* part_done (loop thread) counts the parts. Once every master is read, the set is
 * prepared (unless a read failed) while the MD5s go on; the load ends when both have. */
static void part_done(uv_work_t *req, int status)
{
    ac_mset_t *s = req->data;

    if (status != 0)
        s->part_cancelled = true;
    if (req - s->part < AC_M_COUNT)
        s->loads_left--;
    else
        s->hashes_left--;
    if (s->loads_left == 0 && !s->prep_started && !s->part_cancelled && !s->mc->closing &&
        part_failed(s, AC_M_COUNT) < 0) {
        s->prep_started = true;
        uv_queue_work(s->mc->loop, &s->req, prepare_work, prep_done);
    }
    if (s->loads_left == 0 && s->hashes_left == 0 && (!s->prep_started || s->prep_done))
        finish(s);
}

/* queued says whether part p of s is a pool work: a master given, and for its MD5 one not
 * vouched for. */
static bool queued(const ac_mset_t *s, int p)
{
    return ac_masters_given(&s->m, p % AC_M_COUNT) &&
           (p < AC_M_COUNT || !s->md5_vouched[p - AC_M_COUNT]);
}

/* load_start reads and hashes every master of s, each part on its own pool thread. */
static void load_start(ac_mcache_t *mc, ac_mset_t *s)
{
    memset(&s->m, 0, sizeof s->m);
    s->load_ns = ac_now_ns();
    s->loads_left = s->hashes_left = 0;
    s->prep_started = s->prep_done = false;
    s->part_cancelled = false;
    for (int i = 0; i < AC_M_COUNT; i++) {
        s->m.path[i] = s->files.path[i];
        s->m.md5[i] = s->key.md5[i];
    }
    for (int i = 0; i < AC_M_COUNT; i++)
        s->md5_vouched[i] = ac_masters_given(&s->m, i) && vouched(mc, s, i);
    for (int p = 0; p < 2 * AC_M_COUNT; p++) {
        s->part_rc[p] = 0;
        memset(&s->part_err[p], 0, sizeof s->part_err[p]);
        *(p < AC_M_COUNT ? &s->loads_left : &s->hashes_left) += queued(s, p);
    }
    if (s->loads_left == 0) { /* nothing to read: prepare at once */
        s->prep_started = true;
        uv_queue_work(mc->loop, &s->req, prepare_work, prep_done);
        return;
    }
    for (int p = 0; p < 2 * AC_M_COUNT; p++) {
        if (!queued(s, p))
            continue;
        s->part[p].data = s;
        uv_queue_work(mc->loop, &s->part[p], part_work, part_done);
    }
}

/* log_ready says which masters a set holds, how long it took, and how many MD5s were
 * read (the others were vouched for). */
static void log_ready(const ac_mset_t *s)
{
    char names[64] = "";
    int given = 0, known = 0;

    for (int i = 0; i < AC_M_COUNT; i++) {
        if (s->key.path[i][0] == '\0')
            continue;
        given++;
        known += s->md5_vouched[i];
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
                 given > 1 ? ", " : "", ac_masters_kind_name(i));
    }
    ac_log_info("masters ready (%s) in %.2f s, %zu MiB: %d MD5%s read, %d known from this "
                "process's own hashing",
                names, (double)(ac_now_ns() - s->load_ns) / 1e9, s->bytes >> 20, given - known,
                given - known == 1 ? "" : "s", known);
}

static void load_done(uv_work_t *req, int status)
{
    ac_mset_t *s = req->data;
    ac_mcache_t *mc = s->mc;

    mc->loading--;
    s->state = status == 0 ? s->outcome : AC_MSET_FAILED;
    if (status != 0) {
        ac_err_set(&s->err, AC_ECANCELED, "master load cancelled");
    }
    mc->used -= s->bytes;
    if (s->state == AC_MSET_READY) {
        s->bytes = calset_bytes(&s->cs);
        mc->used += s->bytes;
        s->last_used_ns = ac_now_ns();
        for (int i = 0; i < s->cs.n_warnings; i++)
            ac_log_warn("masters: %s", s->cs.warnings[i]);
        log_ready(s);
        ac_backoff_reset(&s->retry);
    } else {
        /* Logged once by whoever handles the failure (the scheduler). */
        s->bytes = 0;
        s->transient = ac_mcache_transient(s->err.code);
        ac_backoff_fail(&s->retry, mono_s(), MCACHE_RETRY_FIRST_S, MCACHE_RETRY_CAP_S);
        ac_log_debug("masters: %s", s->err.msg);
    }
    if (mc->closing) {
        unlink_set(mc, s);
        if (s->state == AC_MSET_READY)
            mc->used -= s->bytes;
        set_free(s);
        return;
    }
    if (mc->on_loaded != NULL)
        mc->on_loaded(mc->ud, s);
}

/* fail_now records a failure found before any load (a master's header unreadable) in s,
 * a new or reused set, and returns its code. */
static int fail_now(ac_mcache_t *mc, ac_mset_t *s, int bad, const ac_err_t *why, ac_err_t *e)
{
    s->state = AC_MSET_FAILED;
    s->err = *why;
    if (s->err.code == 0)
        ac_err_set(&s->err, AC_EMASTER, "a master is unreadable");
    s->bad_master = bad;
    s->transient = ac_mcache_transient(s->err.code);
    key_idents(&s->files, s->ident);
    ac_backoff_fail(&s->retry, mono_s(), MCACHE_RETRY_FIRST_S, MCACHE_RETRY_CAP_S);
    if (s->mc == NULL) {
        s->mc = mc;
        s->next = mc->sets;
        mc->sets = s;
    }
    return ac_err_set(e, s->err.code, "%s", s->err.msg);
}

int ac_mcache_acquire(ac_mcache_t *mc, const ac_mkey_t *key, const ac_calib_opts_t *opts,
                      size_t extra_reserved, ac_mset_t **out, ac_err_t *e)
{
    ac_mset_t *s;
    ac_err_t ee = {0};
    ac_mkey_t files;
    size_t need;
    uint64_t now = ac_now_ns();
    int bad = -1;

    *out = NULL;
    for (s = mc->sets; s != NULL; s = s->next)
        if (key_equal(&s->key, key))
            break;
    if (s != NULL && s->state == AC_MSET_LOADING) {
        *out = s;
        return AC_EBUSY;
    }
    if (s != NULL && s->state == AC_MSET_READY) {
        *out = s;
        s->refs++;
        s->last_used_ns = now;
        return 0;
    }
    if (s != NULL) { /* FAILED: again only after a change, or a transient one's back-off */
        bool changed = idents_changed(mc, s);
        if (!changed && !(s->transient && ac_backoff_due(&s->retry, mono_s()))) {
            *out = s;
            return ac_err_set(e, s->err.code, "%s", s->err.msg);
        }
        if (changed)
            ac_backoff_reset(&s->retry);
    }
    resolve_key(mc, key, &files);
    need = ac_mcache_estimate(&files, &bad, &ee);
    if (need == 0) {
        ac_mset_t *f = s != NULL ? s : calloc(1, sizeof *f);
        if (f == NULL)
            return ac_err_set(e, -ENOMEM, "out of memory");
        if (s == NULL)
            f->key = *key;
        f->files = files;
        *out = f;
        return fail_now(mc, f, bad, &ee, e);
    }
    if (need + extra_reserved > mc->budget) {
        return ac_err_set(e, -ENOMEM,
                          "masters need %zu MiB but the memory budget is %zu MiB "
                          "(raise [WORKERS] memory_budget_mib)",
                          (need + extra_reserved) >> 20, mc->budget >> 20);
    }
    if (!evict_for(mc, need + extra_reserved))
        return -ENOMEM; /* in use by running jobs: try again when they finish */
    if (s == NULL) {
        s = calloc(1, sizeof *s);
        if (s == NULL)
            return ac_err_set(e, -ENOMEM, "out of memory");
        s->key = *key;
        s->mc = mc;
        s->next = mc->sets;
        mc->sets = s;
    }
    memset(&s->err, 0, sizeof s->err);
    s->opts = *opts;
    s->state = AC_MSET_LOADING;
    s->bad_master = -1;
    s->bytes = need;
    s->req.data = s;
    s->files = files;
    key_idents(&files, s->ident);
    mc->used += need;
    mc->loading++;
    *out = s;
    load_start(mc, s);
    return AC_EBUSY;
}

void ac_mcache_release(ac_mcache_t *mc, ac_mset_t *set)
{
    if (set == NULL)
        return;
    set->refs--;
    set->last_used_ns = ac_now_ns();
    (void)mc;
}

void ac_mcache_forget_failures(ac_mcache_t *mc)
{
    ac_mset_t **pp = &mc->sets;

    while (*pp != NULL) {
        ac_mset_t *s = *pp;
        if (s->state == AC_MSET_FAILED) {
            *pp = s->next;
            set_free(s);
        } else {
            pp = &s->next;
        }
    }
}

void ac_mcache_trim(ac_mcache_t *mc)
{
    ac_mset_t **pp = &mc->sets;

    while (*pp != NULL) {
        ac_mset_t *s = *pp;
        if (s->state == AC_MSET_READY && s->refs == 0) {
            *pp = s->next;
            mc->used -= s->bytes;
            set_free(s);
        } else {
            pp = &s->next;
        }
    }
}

int ac_mcache_close(ac_mcache_t *mc)
{
    int busy = 0;

    mc->closing = true;
    for (int i = 0; i < AC_MCACHE_VOUCHES; i++) {
        free(mc->vouch[i].path);
        mc->vouch[i].path = NULL;
    }
    ac_mcache_forget_failures(mc);
    ac_mcache_trim(mc);
    for (ac_mset_t *s = mc->sets; s != NULL; s = s->next)
        busy++;
    return busy;
}
