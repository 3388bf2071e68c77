/*
 * ingest_settle.c - live ingest's settling (see ingest.h, ingest_int.h): the table of files
 * and their states, and the probes. A file is PENDING until its size and time have not
 * changed for settle_s (measured on the monotonic clock from when they were first seen),
 * then PROBING: a probe on the pool stats a few due files and reads those that settled
 * (ac_import_scan_file); on the loop, probe_done registers what was read
 * (ingest_register.c) and moves each file on: DONE, REJECTED or INCOMPLETE (read again only
 * after a change: recheck), PENDING again when it changed, or dropped when it is gone.
 *
 * Ownership: files belong to ing->files (and ing->pend while pending); a probe to
 * ing->probes until probe_done frees it with its items.
 * Thread: loop thread, except probe_work (pool): it reads the options and the paths of its
 * own files (constant while PROBING) and writes only its probe's slots.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ingest_int.h"
#include "log.h"
#include "util.h"

void ac_ingest_set_pending(struct ac_ingest *ing, struct file *f, uint64_t due)
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

struct file *ac_ingest_get_file(struct ac_ingest *ing, const char *path, bool create)
{
    struct file *f = ac_ingest_map_get(&ing->files, path);

    if (f != NULL || !create)
        return f;
    if ((f = calloc(1, sizeof *f)) == NULL || (f->path = strdup(path)) == NULL ||
        ac_ingest_map_put(&ing->files, f) != 0) {
        if (f != NULL)
            free(f->path);
        free(f);
        return NULL;
    }
    f->pidx = -1;
    f->st = F_REJECTED; /* the caller sets the real state */
    return f;
}

void ac_ingest_drop_file(struct ac_ingest *ing, struct file *f)
{
    unpend(ing, f);
    ac_ingest_map_del(&ing->files, f->path);
    free(f->path);
    free(f);
}

void ac_ingest_recheck(struct ac_ingest *ing, struct file *f, uint64_t now)
{
    f->prev = f->st;
    f->recheck = true;
    ac_ingest_set_pending(ing, f, now);
}

void ac_ingest_observe(struct ac_ingest *ing, const struct obs *o, uint64_t now)
{
    struct file *f = ac_ingest_get_file(ing, o->path, true);
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
        ac_ingest_set_pending(ing, f, now + ing->settle_ns);
    }
}

void ac_ingest_touch(struct ac_ingest *ing, const char *path, uint64_t now)
{
    struct file *f = ac_ingest_get_file(ing, path, true);

    if (f == NULL)
        return;
    f->touched_ns = now;
    if (f->st == F_PROBING)
        f->dirty = true;
    else if (f->st == F_REJECTED || f->st == F_INCOMPLETE)
        ac_ingest_recheck(ing, f, now);
    else if (f->st == F_PENDING && !f->have_obs)
        f->due_ns = now;
}

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
        s->changed =
            !s->have_obs || st.st_size != s->size || ac_ingest_mtime_ns(&st) != s->mtime_ns;
        s->size = st.st_size;
        s->mtime_ns = ac_ingest_mtime_ns(&st);
        if (s->changed || !s->want_scan)
            continue;
        if (ac_import_scan_file(path, io, &s->item) != 0) {
            s->rc = -ENOMEM;
            continue;
        }
        /* Incomplete because it is being written again: then it is not settled. */
        if (s->item->kind == AC_IMPORT_SKIPPED && s->item->skip == AC_IMPORT_SKIP_INCOMPLETE &&
            stat(path, &st) == 0 &&
            (st.st_size != s->size || ac_ingest_mtime_ns(&st) != s->mtime_ns)) {
            ac_import_item_free(s->item);
            s->item = NULL;
            s->changed = true;
            s->at = ac_now_ns();
            s->size = st.st_size;
            s->mtime_ns = ac_ingest_mtime_ns(&st);
        }
    }
}

static void probe_done(uv_work_t *w, int status)
{
    struct probe *p = w->data, **pp;
    struct ac_ingest *ing = p->ing;
    uint64_t now = ac_now_ns();
    char *since = ing->link_since;
    int txn_rc = 0, n_new = 0;

    for (pp = &ing->probes; *pp != p; pp = &(*pp)->next)
        ;
    *pp = p->next;
    ing->inflight--;
    ing->open--;
    if (!ing->stopping && status == 0)
        txn_rc = ac_ingest_register_probe(ing, p);
    for (size_t i = 0; i < p->n && !ing->stopping && status == 0; i++) {
        struct slot *s = &p->s[i];
        struct file *f = s->f;
        if (s->rc == -ENOENT) {
            ac_ingest_drop_file(ing, f);
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
            ac_ingest_set_pending(ing, f, s->at + ing->settle_ns);
        } else if (s->item == NULL) {
            /* Unchanged: a recheck returns to where it was; else it is not settled yet. */
            if (f->recheck)
                f->st = f->prev;
            else
                ac_ingest_set_pending(ing, f, f->obs_ns + ing->settle_ns);
            f->recheck = false;
        } else {
            ac_ingest_settle_read(ing, s, txn_rc, now);
            if (f->st == F_DONE) {
                n_new++;
                if (s->out.session_created && s->item->night[0] != '\0' &&
                    (since[0] == '\0' || strcmp(s->item->night, since) < 0))
                    ac_strlcpy(since, s->item->night, sizeof ing->link_since);
            }
        }
        if (f->dirty && (f->st == F_REJECTED || f->st == F_INCOMPLETE))
            ac_ingest_recheck(ing, f, now);
        f->dirty = false;
    }
    for (size_t i = 0; i < p->n; i++)
        ac_import_item_free(p->s[i].item);
    free(p);
    if (ing->stopping || status != 0) {
        ac_ingest_maybe_finish(ing);
        return;
    }
    ac_ingest_link_sessions(ing, now);
    if (n_new > 0 && ing->on_registered != NULL)
        ing->on_registered(ing->ud, n_new);
    ac_ingest_launch_probes(ing, now);
}

void ac_ingest_launch_probes(struct ac_ingest *ing, uint64_t now)
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
                ac_ingest_set_pending(ing, p->s[i].f, ac_ingest_retry_ns(ing, now));
            free(p);
            return;
        }
        p->next = ing->probes;
        ing->probes = p;
        ing->inflight++;
        ing->open++;
    }
}
