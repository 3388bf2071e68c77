/*
 * importer.c - `astrocalctl import DIR`: registering the FITS files under a folder into
 * AstroFiler's catalogue (orchestration, libuv). See importer.h for what is registered
 * and how; this file holds the per-file reading (any thread), the folder walk (pool
 * thread) and the batched registration on the loop thread (uv_idle: one batch per loop
 * iteration; a uv_timer only for the delay before a failed batch is retried; a zero
 * uv_timer would not do, as libuv 1.44 runs a timer re-armed with 0 again in the same
 * iteration).
 *
 * Ownership: struct import owns the copied options, the scanned items and the result
 * lists; it is freed after the callback, once both its handles are closed.
 * Thread: items and the result are written by the pool thread during the walk and only
 * touched by the loop thread after after_work (uv_queue_work orders the hand-off). Every
 * SQLite call is on the loop thread.
 */
#include "importer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "fsutil.h"
#include "imgio.h"
#include "log.h"
#include "pyfmt.h"
#include "util.h"

#define MAX_BATCH_RETRY 3   /* a batch whose transaction fails is retried this often */
#define RETRY_DELAY_MS 1000 /* before such a retry */

void ac_import_opts_default(ac_import_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->utc_offset_h = 0;
    o->batch_rows = 200;
    o->batch_budget_ms = 25;
    o->max_errors = 100;
    o->max_skips = 100;
}

bool ac_import_is_fits_name(const char *base)
{
    static const char *const exts[] = {".fits", ".fit", ".fts"};
    size_t n = strlen(base);

    if (n > 3 && (strcasecmp(base + n - 3, ".fz") == 0 || strcasecmp(base + n - 3, ".gz") == 0))
        n -= 3;
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        size_t l = strlen(exts[i]);
        if (n > l && strncasecmp(base + n - l, exts[i], l) == 0)
            return true;
    }
    return false;
}

static bool cancelled(const ac_import_opts_t *o)
{
    return o->cancel != NULL && atomic_load(o->cancel) != 0;
}

/* ---- Reading one file (any thread) ---- */

/* String fields of an item, in the order they are packed. */
/* clang-format off */
enum { S_PATH, S_REASON, S_DATE, S_TYPE, S_OBJECT, S_EXP, S_XBIN, S_YBIN, S_TEMP, S_TEL,
       S_INS, S_FILTER, S_GAIN, S_OFFSET, S_SOBJ, S_MTYPE, S_N };
/* clang-format on */

/* An item being built: fixed fields in it, strings referenced by s[] (NULL = NULL). */
struct draft {
    ac_import_item_t it;
    const char *s[S_N];
    char v[S_N][96];
    char reason[AC_ERR_MSG_MAX];
};

/* pack copies the draft into one allocation. */
static ac_import_item_t *pack(const struct draft *d)
{
    size_t len[S_N], total = sizeof(ac_import_item_t);
    const char **dst[S_N];
    ac_import_item_t *it;
    char *p;

    for (int i = 0; i < S_N; i++) {
        len[i] = d->s[i] != NULL ? strlen(d->s[i]) + 1 : 0;
        total += len[i];
    }
    if ((it = malloc(total)) == NULL)
        return NULL;
    *it = d->it;
    dst[S_PATH] = &it->path, dst[S_REASON] = &it->reason, dst[S_DATE] = &it->date_obs;
    dst[S_TYPE] = &it->imagetyp, dst[S_OBJECT] = &it->object, dst[S_EXP] = &it->exptime;
    dst[S_XBIN] = &it->xbin, dst[S_YBIN] = &it->ybin, dst[S_TEMP] = &it->ccd_temp;
    dst[S_TEL] = &it->telescope, dst[S_INS] = &it->instrument, dst[S_FILTER] = &it->filter;
    dst[S_GAIN] = &it->gain, dst[S_OFFSET] = &it->offset, dst[S_SOBJ] = &it->session_object;
    dst[S_MTYPE] = &it->master_type;
    p = (char *)(it + 1);
    for (int i = 0; i < S_N; i++) {
        *dst[i] = NULL;
        if (d->s[i] != NULL) {
            memcpy(p, d->s[i], len[i]);
            *dst[i] = p;
            p += len[i];
        }
    }
    return it;
}

void ac_import_item_free(ac_import_item_t *it)
{
    free(it);
}

/* hv stores in d->v[slot] (and d->s[slot]) the value of the first of keys present, as
 * AstroFiler stores it (Python's str() of astropy's value); when none is present, dflt
 * (may be NULL). Returns whether a key was present. */
static bool hv(struct draft *d, int slot, const ac_hdr_t *h, const char *const *keys,
               const char *dflt)
{
    char raw[AC_CARD_LEN + 1];

    for (; *keys != NULL; keys++) {
        int i = ac_hdr_find(h, *keys);
        if (i < 0 || !ac_hdr_get_value(h, *keys, raw, sizeof raw))
            continue;
        const char *v = h->cards[i] + 10; /* after "KEYWORD = " */
        while (*v == ' ')
            v++;
        if (ac_pyfmt_text(raw, *v == '\'', d->v[slot], sizeof d->v[slot]) != 0)
            ac_strlcpy(d->v[slot], raw, sizeof d->v[slot]);
        d->s[slot] = d->v[slot];
        return true;
    }
    d->s[slot] = dflt;
    return false;
}

static void fail(struct draft *d, int code, const char *message)
{
    d->it.kind = AC_IMPORT_FAILED;
    d->it.code = code;
    ac_strlcpy(d->reason, message, sizeof d->reason);
    d->s[S_REASON] = d->reason;
}

static void set(struct draft *d, int slot, const char *text)
{
    ac_strlcpy(d->v[slot], text, sizeof d->v[slot]);
    d->s[slot] = d->v[slot];
}

__attribute__((format(printf, 3, 4))) static void skip(struct draft *d, ac_import_skip_t why,
                                                       const char *fmt, ...)
{
    va_list ap;

    d->it.kind = AC_IMPORT_SKIPPED;
    d->it.skip = why;
    va_start(ap, fmt);
    vsnprintf(d->reason, sizeof d->reason, fmt, ap);
    va_end(ap);
    d->s[S_REASON] = d->reason;
}

/* header_incomplete says whether a file is still being started: empty, or a FITS file
 * (it starts with "SIMPLE  =") whose primary header has no END card before EOF. */
static bool header_incomplete(const char *path)
{
    char *blk = NULL;
    bool incomplete = false, fits = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return false;
    if ((blk = malloc(2880)) == NULL)
        goto out;
    for (int b = 0; b < 1000; b++) {
        ssize_t n = pread(fd, blk, 2880, (off_t)b * 2880);
        if (n < 0)
            break;
        if (b == 0 && n == 0) {
            incomplete = true; /* an empty file: just created */
            break;
        }
        if (b == 0 && n < 9) {
            incomplete = memcmp(blk, "SIMPLE  =", (size_t)n) == 0; /* its first bytes */
            break;
        }
        if (b == 0)
            fits = memcmp(blk, "SIMPLE  =", 9) == 0;
        if (!fits)
            break;
        for (ssize_t c = 0; c + 80 <= n; c += 80) {
            if (memcmp(blk + c, "END     ", 8) == 0)
                goto out; /* complete header */
        }
        if (n < 2880) {
            incomplete = true; /* EOF inside the header */
            break;
        }
    }
out:
    free(blk);
    close(fd);
    return incomplete;
}

/* hash_file computes SHA-256 (and MD5 when md5 is not NULL) of path and its size;
 * *changed says whether size or mtime changed while it was read (still being written). */
static int hash_file(const char *path, char sha[65], char *md5, int64_t *size, bool *changed,
                     ac_err_t *e)
{
    struct stat a, b;
    int rc;

    if (stat(path, &a) != 0)
        return ac_err_set(e, -errno, "%s: cannot stat: %s", path, strerror(errno));
    if ((rc = ac_digest_file(path, AC_DIGEST_SHA256, sha, 65, e)) != 0 ||
        (md5 != NULL && (rc = ac_digest_file(path, AC_DIGEST_MD5, md5, 33, e)) != 0))
        return rc;
    if (stat(path, &b) != 0)
        return ac_err_set(e, -errno, "%s: cannot stat: %s", path, strerror(errno));
    *changed = a.st_size != b.st_size || a.st_mtim.tv_sec != b.st_mtim.tv_sec ||
               a.st_mtim.tv_nsec != b.st_mtim.tv_nsec;
    *size = (int64_t)b.st_size;
    return 0;
}

static bool contains_ci(const char *s, const char *sub)
{
    return s != NULL && strcasestr(s, sub) != NULL;
}

/* The header keywords, AstroFiler's first, then the aliases of meta.h. */
static const char *const K_DATE[] = {"DATE-OBS", NULL};
static const char *const K_EXP[] = {"EXPTIME", "EXPOSURE", NULL};
static const char *const K_XBIN[] = {"XBINNING", "BINX", NULL};
static const char *const K_YBIN[] = {"YBINNING", "BINY", NULL};
static const char *const K_TEMP[] = {"CCD-TEMP", "CCD_TEMP", "CCDTEMP", "TEMPERAT", NULL};
static const char *const K_TEL[] = {"TELESCOP", NULL};
static const char *const K_INS[] = {"INSTRUME", NULL};
static const char *const K_FILTER[] = {"FILTER", NULL};
static const char *const K_GAIN[] = {"GAIN", NULL};
static const char *const K_OFFSET[] = {"OFFSET", "BLKLEVEL", NULL};
static const char *const K_OBJECT[] = {"OBJECT", NULL};

/* describe_master fills the Masters values (AstroFiler's registerMasters). */
static void describe_master(struct draft *d, const ac_hdr_t *h, const ac_meta_t *m)
{
    ac_frame_type_t t = m->type;
    double n;

    d->it.kind = AC_IMPORT_MASTER;
    set(d, S_MTYPE, t == AC_FRAME_BIAS ? "bias" : t == AC_FRAME_FLAT ? "flat" : "dark");
    hv(d, S_TEL, h, K_TEL, "Unknown");
    hv(d, S_INS, h, K_INS, "Unknown");
    hv(d, S_XBIN, h, K_XBIN, "1");
    hv(d, S_YBIN, h, K_YBIN, "1");
    hv(d, S_TEMP, h, K_TEMP, "");
    hv(d, S_GAIN, h, K_GAIN, "");
    hv(d, S_OFFSET, h, K_OFFSET, "");
    if (t == AC_FRAME_DARK || t == AC_FRAME_FLATDARK)
        hv(d, S_EXP, h, K_EXP, "");
    if (t == AC_FRAME_FLAT)
        hv(d, S_FILTER, h, K_FILTER, "");
    if (ac_hdr_get_double(h, "NCOMBINE", &n) || ac_hdr_get_double(h, "NIMAGES", &n))
        d->it.file_count = isfinite(n) && n >= 0 && n < INT_MAX ? (int)n : 0;
}

/* describe_frame fills the fitsfile values (AstroFiler's importer); may turn the draft
 * into a skip. */
static void describe_frame(struct draft *d, const ac_hdr_t *h, const ac_meta_t *m)
{
    static const char *const tokens[] = {"LIGHT", "DARK", "FLAT", "BIAS"};
    ac_frame_type_t t = m->type;
    bool known = false;

    d->it.kind = AC_IMPORT_FRAME;
    for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++)
        known = known || contains_ci(m->imagetyp, tokens[i]);
    set(d, S_TYPE, known ? m->imagetyp : t == AC_FRAME_LIGHT ? "LIGHT" : "BIAS");
    if (!hv(d, S_EXP, h, K_EXP, NULL) && t != AC_FRAME_BIAS) {
        skip(d, AC_IMPORT_SKIP_UNSUPPORTED, "no EXPTIME or EXPOSURE in a %s frame",
             ac_meta_type_name(t));
        return;
    }
    if (t == AC_FRAME_LIGHT) {
        if (!hv(d, S_OBJECT, h, K_OBJECT, NULL) || d->v[S_OBJECT][0] == '\0') {
            skip(d, AC_IMPORT_SKIP_UNSUPPORTED, "%s", "a light frame without OBJECT");
            return;
        }
    } else {
        set(d, S_OBJECT, t == AC_FRAME_BIAS ? "Bias" : t == AC_FRAME_FLAT ? "Flat" : "Dark");
    }
    d->s[S_SOBJ] = d->s[S_OBJECT];
    hv(d, S_XBIN, h, K_XBIN, "1");
    hv(d, S_YBIN, h, K_YBIN, "1");
    hv(d, S_TEMP, h, K_TEMP, "0");
    hv(d, S_TEL, h, K_TEL, "Unknown");
    hv(d, S_INS, h, K_INS, "Unknown");
    if (t == AC_FRAME_LIGHT || t == AC_FRAME_FLAT)
        hv(d, S_FILTER, h, K_FILTER, NULL);
    hv(d, S_GAIN, h, K_GAIN, NULL);
    hv(d, S_OFFSET, h, K_OFFSET, NULL);
    /* AstroFiler's rule for pre-calibrated sources, then what the header itself says. */
    if (contains_ci(d->s[S_TEL], "itelescope") || contains_ci(d->s[S_INS], "seestar"))
        d->it.calibrated = 1;
    if (t == AC_FRAME_LIGHT &&
        (m->is_master || m->ncombine > 1 || m->bias_subtracted == AC_PROV_YES ||
         m->dark_subtracted == AC_PROV_YES || m->flat_normalised == AC_PROV_YES))
        d->it.calibrated = 1;
}

int ac_import_scan_file(const char *path, const ac_import_opts_t *opts, ac_import_item_t **out)
{
    ac_import_opts_t defaults;
    struct draft *d = NULL;
    ac_hdr_t hdr;
    ac_meta_t meta;
    ac_err_t e = {0};
    struct stat st;
    bool changed = false;
    int rc;

    *out = NULL;
    if (opts == NULL) {
        ac_import_opts_default(&defaults);
        opts = &defaults;
    }
    ac_hdr_init(&hdr);
    if ((d = calloc(1, sizeof *d)) == NULL)
        return -ENOMEM;
    d->s[S_PATH] = path;
    if (stat(path, &st) != 0) {
        rc = -errno;
        ac_err_set(&e, rc, "%s: cannot stat: %s", path, strerror(-rc));
        fail(d, rc, e.msg);
        goto done;
    }
    if (opts->settle_s > 0 && difftime(time(NULL), st.st_mtime) < opts->settle_s) {
        skip(d, AC_IMPORT_SKIP_SETTLING, "%s", "modified too recently (settling)");
        goto done;
    }
    rc = ac_imgio_read_header(path, &hdr, &meta, &e);
    if (rc != 0) {
        if ((rc == AC_EFITS && strstr(e.msg, ": truncated: ") != NULL) ||
            header_incomplete(path)) {
            skip(d, AC_IMPORT_SKIP_INCOMPLETE, "incomplete (still being written?): %s",
                 e.msg[0] != '\0' ? e.msg : "header not finished");
        } else {
            fail(d, rc, e.msg[0] != '\0' ? e.msg : ac_strerror(rc));
        }
        goto done;
    }
    d->it.type = meta.type;
    if (meta.imagetyp[0] == '\0') {
        skip(d, AC_IMPORT_SKIP_UNSUPPORTED, "%s", "no IMAGETYP, FRAME or FRAMETYP keyword");
        goto done;
    }
    if (meta.type == AC_FRAME_UNKNOWN) {
        skip(d, AC_IMPORT_SKIP_UNSUPPORTED, "frame type '%s' is not light, dark, flat or bias",
             meta.imagetyp);
        goto done;
    }
    /* The night is computed for masters too (for information), required for frames. */
    if (hv(d, S_DATE, &hdr, K_DATE, NULL) &&
        ac_night_of(d->v[S_DATE], ac_night_site_offset(opts->utc_offset_h, meta.sitelong),
                    d->it.night) != 0 &&
        !(meta.is_master && meta.type != AC_FRAME_LIGHT)) {
        skip(d, AC_IMPORT_SKIP_UNSUPPORTED, "DATE-OBS '%s' is not an ISO date", d->v[S_DATE]);
        goto done;
    }
    if (meta.is_master && meta.type != AC_FRAME_LIGHT) {
        describe_master(d, &hdr, &meta);
    } else if (d->s[S_DATE] == NULL) {
        skip(d, AC_IMPORT_SKIP_UNSUPPORTED, "%s", "no DATE-OBS keyword");
        goto done;
    } else {
        describe_frame(d, &hdr, &meta);
        if (d->it.kind != AC_IMPORT_FRAME)
            goto done;
    }
    rc = hash_file(path, d->it.sha256, d->it.kind == AC_IMPORT_MASTER ? d->it.md5 : NULL,
                   &d->it.size, &changed, &e);
    if (rc != 0)
        fail(d, rc, e.msg);
    else if (changed)
        skip(d, AC_IMPORT_SKIP_INCOMPLETE, "%s",
             "incomplete (still being written?): it changed while it was read");
done:
    if (d->it.kind == AC_IMPORT_SKIPPED || d->it.kind == AC_IMPORT_FAILED) {
        /* Only the path and the reason matter then. */
        for (int i = S_DATE; i < S_N; i++)
            d->s[i] = NULL;
    }
    ac_hdr_free(&hdr);
    *out = pack(d);
    free(d);
    return *out != NULL ? 0 : -ENOMEM;
}

/* ---- Registering one item (loop thread) ---- */

int ac_import_register_item(ac_db_t *db, const ac_import_item_t *it, ac_import_outcome_t *out,
                            ac_err_t *e)
{
    ac_frame_type_t t = it->type;
    int rc;

    memset(out, 0, sizeof *out);
    /* clang-format off */
    if (it->kind == AC_IMPORT_FRAME) {
        ac_register_rec_t r = {
            .path = it->path, .sha256 = it->sha256, .date_obs = it->date_obs,
            .imagetyp = it->imagetyp, .object = it->object, .exptime = it->exptime,
            .xbin = it->xbin, .ybin = it->ybin, .ccd_temp = it->ccd_temp,
            .telescope = it->telescope, .instrument = it->instrument, .filter = it->filter,
            .calibrated = it->calibrated, .session_object = it->session_object,
            .session_date = it->night, .session_gain = it->gain, .session_offset = it->offset,
            .session_by_exposure =
                t == AC_FRAME_LIGHT || t == AC_FRAME_DARK || t == AC_FRAME_FLATDARK,
            .session_by_filter = t == AC_FRAME_LIGHT || t == AC_FRAME_FLAT};
        ac_register_result_t res;
        if ((rc = ac_catalog_register_file(db, &r, &res, e)) != 0)
            return rc;
        out->duplicate = res.duplicate;
        out->session_created = res.session_created;
        memcpy(out->id, res.file_id, sizeof out->id);
        return 0;
    }
    if (it->kind == AC_IMPORT_MASTER) {
        ac_master_rec_t m = {
            .type = it->master_type, .path = it->path, .md5 = it->md5,
            .file_size = it->size, .file_count = it->file_count, .telescope = it->telescope,
            .instrument = it->instrument, .exposure = it->exptime, .xbin = it->xbin,
            .ybin = it->ybin, .ccd_temp = it->ccd_temp, .gain = it->gain,
            .offset = it->offset, .filter = it->filter, .quality = NAN};
        return ac_catalog_register_master(db, &m, &out->master_rowid, &out->duplicate, e);
    }
    /* clang-format on */
    return ac_err_set(e, -EINVAL, "%s: nothing to register (%s)", it->path,
                      it->reason != NULL ? it->reason : "not a frame or master");
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
};

static int grow(void **arr, size_t *cap, size_t n, size_t size)
{
    size_t ncap;
    void *p;

    if (n < *cap)
        return 0;
    ncap = *cap != 0 ? *cap * 2 : 64;
    if ((p = realloc(*arr, ncap * size)) == NULL)
        return -ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

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
        if (grow((void **)&im->items, &im->cap_items, im->n_items, sizeof *im->items) == 0) {
            im->items[im->n_items++] = it;
            return;
        }
        add_error(im, path, "no memory to keep its record");
    } else {
        tally(im, it);
    }
    ac_import_item_free(it);
}

/* walk visits dir recursively in name order: FITS-named regular files (or links to them)
 * and astrocald's temporary files are scanned; sub-folders are entered, links to folders
 * are not (no loops, as os.walk). The depth is bounded by PATH_MAX. */
static void walk(struct import *im, const char *dir)
{
    struct dirent **v = NULL;
    int n = scandir(dir, &v, NULL, alphasort);

    if (n < 0) {
        char msg[600];
        snprintf(msg, sizeof msg, "cannot list the folder: %s", strerror(errno));
        add_error(im, dir, msg);
        return;
    }
    for (int i = 0; i < n; i++) {
        const char *name = v[i]->d_name;
        char *path = NULL;
        struct stat st;
        if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0 && !cancelled(&im->opts) &&
            (path = ac_asprintf("%s/%s", dir, name)) != NULL && lstat(path, &st) == 0) {
            if (S_ISDIR(st.st_mode))
                walk(im, path);
            else if (ac_fsutil_is_tmpname(name) ||
                     (ac_import_is_fits_name(name) && stat(path, &st) == 0 &&
                      S_ISREG(st.st_mode)))
                scan_one(im, path, name);
        }
        free(path);
        free(v[i]);
    }
    free(v);
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
    walk(im, real);
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
    if (rc != 0 && im->retries < MAX_BATCH_RETRY) {
        im->retries++;
        ac_log_warn("import %s: a batch failed, retrying: %s", im->res.dir, e.msg);
        uv_idle_stop(&im->idle);
        uv_timer_start(&im->timer, on_retry, RETRY_DELAY_MS, 0);
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
