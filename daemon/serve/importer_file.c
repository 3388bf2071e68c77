/*
 * importer_file.c - the per-file steps of an import (see importer.h for what is registered
 * and how): reading one file into an item (ac_import_scan_file: header, metadata, the
 * checks that skip a file, SHA-256 and for masters MD5, no SQLite), registering one item
 * (ac_import_register_item: one catalogue call) and the FITS name test. `astrocalctl
 * import` (importer.c) and live ingest (ingest_*.c) both go through these.
 *
 * Ownership: an item is one allocation owned by the caller of ac_import_scan_file
 * (ac_import_item_free); its strings point into it.
 * Thread: ac_import_scan_file and ac_import_is_fits_name on any thread (file I/O only);
 * ac_import_register_item on the loop thread, the owner of db.
 */
#include "importer.h"

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
#include "imgio.h"
#include "isodate.h"
#include "log.h"
#include "pyfmt.h"
#include "unpack.h"
#include "util.h"

static bool ends_ci(const char *s, const char *tail)
{
    size_t n = strlen(s), l = strlen(tail);

    return n > l && strcasecmp(s + n - l, tail) == 0;
}

bool ac_import_is_fits_name(const char *base)
{
    static const char *const exts[] = {".fits", ".fit", ".fts"};
    size_t n = strlen(base);

    if (ends_ci(base, ".xisf") || ends_ci(base, ".zip"))
        return true;

    if (n > 3 && (strcasecmp(base + n - 3, ".fz") == 0 || strcasecmp(base + n - 3, ".gz") == 0))
        n -= 3;
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        size_t l = strlen(exts[i]);
        if (n > l && strncasecmp(base + n - l, exts[i], l) == 0)
            return true;
    }
    return false;
}

/* ---- Reading one file (any thread) ---- */

/* String fields of an item, in the order they are packed. */
/* clang-format off */
enum { S_PATH, S_REASON, S_DATE, S_TYPE, S_OBJECT, S_EXP, S_XBIN, S_YBIN, S_TEMP, S_TEL,
       S_INS, S_FILTER, S_GAIN, S_OFFSET, S_SOBJ, S_MTYPE, S_WHY, S_N };
/* clang-format on */

/* An item being built: fixed fields in it, strings referenced by s[] (NULL = NULL). */
struct draft {
    ac_import_item_t it;
    const char *s[S_N];
    char v[S_N][256];
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
    dst[S_MTYPE] = &it->master_type, dst[S_WHY] = &it->type_why;
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

/* hash_file computes SHA-256 (and MD5 when md5 is not NULL) of path and its size, both
 * from one read of the file; *changed says whether size or mtime changed while it was read
 * (still being written); *st is the file after the read and *same whether it is the same
 * file, unchanged (device, inode, size, modification and change times), as before it. */
static int hash_file(const char *path, char sha[65], char *md5, int64_t *size, bool *changed,
                     struct stat *st, bool *same, ac_err_t *e)
{
    const ac_digest_alg_t algs[2] = {AC_DIGEST_SHA256, AC_DIGEST_MD5};
    char *hex[2] = {sha, md5};
    const size_t sizes[2] = {65, 33};
    struct stat a, b;
    int rc;

    rc = ac_digest_file_stat(path, md5 != NULL ? 2 : 1, algs, hex, sizes, &a, &b, e);
    if (rc != 0)
        return rc;
    *changed = a.st_size != b.st_size || a.st_mtim.tv_sec != b.st_mtim.tv_sec ||
               a.st_mtim.tv_nsec != b.st_mtim.tv_nsec;
    *same = ac_digest_unchanged(&a, &b);
    *st = b;
    *size = (int64_t)b.st_size;
    return 0;
}

static bool contains_ci(const char *s, const char *sub)
{
    return s != NULL && strcasestr(s, sub) != NULL;
}

/* The header keywords: core's one table (meta.h), AstroFiler's keyword first. */
#define K_EXP ac_meta_keys(AC_FACT_EXPTIME)
#define K_XBIN ac_meta_keys(AC_FACT_XBIN)
#define K_YBIN ac_meta_keys(AC_FACT_YBIN)
#define K_TEMP ac_meta_keys(AC_FACT_CCD_TEMP)
#define K_TEL ac_meta_keys(AC_FACT_TELESCOP)
#define K_INS ac_meta_keys(AC_FACT_INSTRUME)
#define K_FILTER ac_meta_keys(AC_FACT_FILTER)
#define K_GAIN ac_meta_keys(AC_FACT_GAIN)
#define K_OFFSET ac_meta_keys(AC_FACT_OFFSET)
#define K_OBJECT ac_meta_keys(AC_FACT_OBJECT)

/* binning stores the binning as AstroFiler does (XBINNING/YBINNING as written, '1' when
 * absent), or from BINNING = '2*2' when only that is written (the DWARF). */
static void binning(struct draft *d, const ac_hdr_t *h, const ac_meta_t *m)
{
    bool x = hv(d, S_XBIN, h, K_XBIN, "1"), y = hv(d, S_YBIN, h, K_YBIN, "1");

    if (!x && !y && strcmp(m->bin_key, "BINNING") == 0) {
        snprintf(d->v[S_XBIN], sizeof d->v[S_XBIN], "%d", m->xbin);
        snprintf(d->v[S_YBIN], sizeof d->v[S_YBIN], "%d", m->ybin);
        d->s[S_XBIN] = d->v[S_XBIN];
        d->s[S_YBIN] = d->v[S_YBIN];
    }
}

/* describe_master fills the Masters values (AstroFiler's registerMasters). */
static void describe_master(struct draft *d, const ac_hdr_t *h, const ac_meta_t *m)
{
    ac_frame_type_t t = m->type;
    double n;

    d->it.kind = AC_IMPORT_MASTER;
    set(d, S_MTYPE, t == AC_FRAME_BIAS ? "bias" : t == AC_FRAME_FLAT ? "flat" : "dark");
    hv(d, S_TEL, h, K_TEL, "Unknown");
    hv(d, S_INS, h, K_INS, "Unknown");
    binning(d, h, m);
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
        char keys[64];
        skip(d, AC_IMPORT_SKIP_UNSUPPORTED, "no exposure (%s) in a %s frame",
             ac_meta_keys_text(AC_FACT_EXPTIME, keys, sizeof keys), ac_meta_type_name(t));
        return;
    }
    if (t == AC_FRAME_LIGHT) {
        bool have = hv(d, S_OBJECT, h, K_OBJECT, NULL) && d->v[S_OBJECT][0] != '\0';
        /* A DWARF light typed from its DWARF_RAW_<object>_EXP_... folder: the folder names
         * the object its header leaves blank (issue 9). */
        if (!have && d->s[S_WHY] != NULL &&
            ac_meta_object_from_path(d->s[S_PATH], d->v[S_OBJECT], sizeof d->v[S_OBJECT])) {
            d->s[S_OBJECT] = d->v[S_OBJECT];
            have = true;
            snprintf(d->v[S_WHY] + strlen(d->v[S_WHY]),
                     sizeof d->v[S_WHY] - strlen(d->v[S_WHY]), "; OBJECT '%s' from the folder",
                     d->v[S_OBJECT]);
        }
        if (!have) {
            skip(d, AC_IMPORT_SKIP_UNSUPPORTED, "%s", "a light frame without OBJECT");
            return;
        }
    } else {
        set(d, S_OBJECT, t == AC_FRAME_BIAS ? "Bias" : t == AC_FRAME_FLAT ? "Flat" : "Dark");
    }
    d->s[S_SOBJ] = d->s[S_OBJECT];
    binning(d, h, m);
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

/* type_from_path gives a header without IMAGETYP/FRAME/FRAMETYP its type from the path
 * (opts->type_from_path); false, with the draft turned into a skip, when it cannot. */
static bool infer_type(struct draft *d, const char *path, const ac_import_opts_t *opts,
                       ac_meta_t *m)
{
    static const char *const stored[] = {
        [AC_FRAME_LIGHT] = "LIGHT", [AC_FRAME_DARK] = "DARK",         [AC_FRAME_FLAT] = "FLAT",
        [AC_FRAME_BIAS] = "BIAS",   [AC_FRAME_FLATDARK] = "DARKFLAT",
    };
    const char *root = NULL;
    size_t best = 0;
    char why[600];
    ac_frame_type_t t;

    if (!opts->type_from_path) {
        skip(d, AC_IMPORT_SKIP_UNTYPED, "%s",
             "no IMAGETYP, FRAME or FRAMETYP keyword (type_from_path is off)");
        return false;
    }
    for (size_t i = 0; i < opts->n_roots; i++) {
        size_t n = strlen(opts->roots[i]);
        if (n > best && strncmp(path, opts->roots[i], n) == 0 && path[n] == '/') {
            root = opts->roots[i];
            best = n;
        }
    }
    t = ac_meta_type_from_path(path, root, 3, why, sizeof why);
    if (t == AC_FRAME_UNKNOWN) {
        skip(d, AC_IMPORT_SKIP_UNTYPED, "no IMAGETYP, FRAME or FRAMETYP keyword, and %s", why);
        return false;
    }
    ac_strlcpy(m->imagetyp, stored[t], sizeof m->imagetyp);
    m->type = t;
    d->it.type = t;
    snprintf(d->v[S_WHY], sizeof d->v[S_WHY], "no IMAGETYP, FRAME or FRAMETYP; %s", why);
    d->s[S_WHY] = d->v[S_WHY];
    return true;
}

/* observation_date stores DATE-OBS as written when it is an ISO date with a time (as
 * AstroFiler), else the date meta built from a legacy form (DATE-OBS or DATE 'dd/mm/yy'
 * with TIME-OBS/UT, or an ISO date with TIME-OBS: AstroFiler refuses those). */
static bool observation_date(struct draft *d, const ac_hdr_t *h, const ac_meta_t *m)
{
    static const char *const k_date[] = {"DATE-OBS", NULL};
    double t;
    bool has_time = false;

    if (hv(d, S_DATE, h, k_date, NULL) &&
        ac_isodate_parse_unix(d->v[S_DATE], &t, &has_time) == 0 && has_time)
        return true;
    if (m->date_obs[0] != '\0' && ac_isodate_parse_unix(m->date_obs, &t, &has_time) == 0 &&
        has_time) {
        set(d, S_DATE, m->date_obs);
        return true;
    }
    return d->s[S_DATE] != NULL;
}

/* unpack turns an XISF image or a .fit(s).zip archive into the FITS file AstroFiler would
 * register (unpack.h) and points *path at it; other names are left alone. false (with
 * the draft skipped or failed) when there is nothing to register. */
static bool unpack(struct draft *d, const char **path, char *conv, size_t size)
{
    ac_err_t e = {0};
    bool reused = false;
    int rc, n_fits = 0;

    if (ends_ci(*path, ".xisf")) {
        rc = ac_unpack_xisf(*path, conv, size, &reused, &e);
    } else if (ends_ci(*path, ".fit.zip") || ends_ci(*path, ".fits.zip")) {
        rc = ac_unpack_zip(*path, conv, size, &n_fits, &reused, &e);
        if (rc == 0 && n_fits > 1)
            ac_log_warn("%s: %d FITS files in the archive: only the first, %s, is imported "
                        "(as AstroFiler does)",
                        *path, n_fits, ac_path_base(conv));
    } else if (ends_ci(*path, ".zip")) {
        skip(d, AC_IMPORT_SKIP_UNSUPPORTED, "%s",
             "a .zip archive not named *.fit.zip or *.fits.zip (AstroFiler opens only those)");
        return false;
    } else {
        return true;
    }
    if (rc == AC_EFITS && strstr(e.msg, ": truncated: ") != NULL)
        skip(d, AC_IMPORT_SKIP_INCOMPLETE, "incomplete (still being written?): %s", e.msg);
    else if (rc == AC_EFORMAT)
        skip(d, AC_IMPORT_SKIP_UNSUPPORTED, "%s", e.msg);
    else if (rc != 0)
        fail(d, rc, e.msg);
    if (rc != 0)
        return false;
    if (!reused)
        ac_log_info("%s: %s %s", *path, n_fits > 0 ? "extracted" : "converted to", conv);
    *path = conv;
    d->s[S_PATH] = conv;
    return true;
}

int ac_import_scan_file(const char *path, const ac_import_opts_t *opts, ac_import_item_t **out)
{
    char conv[PATH_MAX];
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
    const char *given = path; /* its names give a type (an unpacked copy's may not) */
    if (!unpack(d, &path, conv, sizeof conv))
        goto done;
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
    if (meta.imagetyp[0] == '\0' && !infer_type(d, given, opts, &meta))
        goto done;
    if (meta.type == AC_FRAME_UNKNOWN) {
        skip(d, AC_IMPORT_SKIP_UNSUPPORTED, "frame type '%s' is not light, dark, flat or bias",
             meta.imagetyp);
        goto done;
    }
    /* The night is computed for masters too (for information), required for frames. */
    if (observation_date(d, &hdr, &meta) &&
        ac_night_of(d->v[S_DATE], ac_night_site_offset(opts->utc_offset_h, meta.sitelong),
                    d->it.night) != 0 &&
        !(meta.is_master && meta.type != AC_FRAME_LIGHT)) {
        skip(d, AC_IMPORT_SKIP_UNSUPPORTED, "DATE-OBS '%s' is not an ISO date", d->v[S_DATE]);
        goto done;
    }
    if (meta.is_master && meta.type != AC_FRAME_LIGHT) {
        describe_master(d, &hdr, &meta);
    } else if (d->s[S_DATE] == NULL) {
        skip(d, AC_IMPORT_SKIP_UNSUPPORTED, "%s",
             "no DATE-OBS keyword (nor a legacy DATE = 'dd/mm/yy' with TIME-OBS or UT)");
        goto done;
    } else {
        describe_frame(d, &hdr, &meta);
        if (d->it.kind != AC_IMPORT_FRAME)
            goto done;
    }
    rc = hash_file(path, d->it.sha256, d->it.kind == AC_IMPORT_MASTER ? d->it.md5 : NULL,
                   &d->it.size, &changed, &d->it.st, &d->it.same_file, &e);
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
        if (it->type_why != NULL && !res.duplicate)
            return ac_catalog_record_inferred(db, res.file_id, it->path,
                                              ac_meta_type_name(t), it->type_why, e);
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
