/*
 * build.c - the pool side of master building: ac_build_run (see build.h).
 *
 * A build reads nothing but its subs and prerequisite masters and writes nothing but the
 * master (and its temporary file). Memory is bounded whatever the number and size of the
 * subs (ac_build_strip_rows): one float strip per sub and per prerequisite, one output
 * strip, the readers' raw scratch for a strip, the writer's buffer, and two samples of at
 * most PILOT_MAX pixels.
 *
 * Passes:
 *   0. open every sub (ac_imgio_open) and keep those that are readable, of the unit's
 *      frame type, of the most common geometry (size, binning, CFA layout) and, for darks
 *      and flat-darks, of the median exposure (within max(exp_tol_s, exp_tol_pct %));
 *      the others are dropped with their reason (res->dropped). Fewer than
 *      max(2, min_files) left fails the build;
 *   1. pilot, on a regular sample of rows (all rows when the frame has at most PILOT_MAX
 *      pixels, else PILOT_MAX / width rows evenly spaced): for flats, each calibrated sub's
 *      median m_i (its scale L / m_i), mean (the illumination level) and raw mean; for
 *      darks and flat-darks, the sampled rows combined, whose median and MAD give the hot
 *      pixel threshold median + hot_sigma * 1.4826 MAD (at least 0.5 ADU above the median)
 *      used to count hot pixels exactly in pass 2;
 *   2. strips: the same rows of every sub, calibrated (flats: minus the flat-dark and/or
 *      bias strip; darks with dark_subtract_bias: minus the bias strip), combined
 *      (ac_stack_rows with the flat scales), measured (a regular sample for the median and
 *      the noise, hot pixels, NaN pixels) and streamed to the writer;
 *   3. the quality check (build_hdr.c); a rejected master is aborted (no file), a good
 *      one committed with its figures in the header, then hashed (MD5) for Masters.
 *
 * Thread: ac_build_run on any thread; no shared state except logging.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build_int.h"
#include "digest.h"
#include "fsutil.h"
#include "hdr.h"
#include "imgio.h"
#include "meta.h"
#include "night.h"
#include "quality.h"
#include "stack.h"
#include "stats.h"
#include "util.h"

#define PILOT_MAX (1u << 20) /* pixels in the pilot sample */
#define MAX_STRIP_ROWS 1024
#define FILE_OVERHEAD (256u << 10) /* cfitsio's buffers per open file, counted */
#define EXTRA_CARDS 12
#define HOT_FLOOR 0.5 /* ADU: the hot threshold is at least this far above the median */

static bool cancelled(const struct job *j)
{
    return j->cancel != NULL && atomic_load(j->cancel) != 0;
}

static void appendf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void appendf(char *buf, size_t size, const char *fmt, ...)
{
    size_t n = strlen(buf);
    va_list ap;

    if (n + 1 >= size)
        return;
    if (n > 0)
        n += (size_t)snprintf(buf + n, size - n, "; ");
    if (n + 1 >= size)
        return;
    va_start(ap, fmt);
    vsnprintf(buf + n, size - n, fmt, ap);
    va_end(ap);
}

static int raw_bytes(const ac_meta_t *m)
{
    return abs(m->bitpix) / 8 > 0 ? abs(m->bitpix) / 8 : 4;
}

static size_t pilot_pixels(const ac_build_opts_t *o)
{
    size_t p = o->job_memory / 32 / sizeof(float);

    return p < PILOT_MAX ? (p < 4096 ? 4096 : p) : PILOT_MAX;
}

int ac_build_strip_rows(const ac_build_opts_t *o, int nsubs, int nprereq, int w)
{
    /* Counted as 16-bit raw data plus our float copy; wider data fits through the slack
     * of the fixed part (samples are counted twice: their sorting copies). */
    size_t files = (size_t)nsubs + (size_t)nprereq;
    size_t fixed = ac_imgout_buffer_bytes(&o->out) + files * FILE_OVERHEAD +
                   2 * (AC_QUALITY_MAX_SAMPLES + 3 * pilot_pixels(o)) * sizeof(float) +
                   (size_t)nsubs * 512;
    size_t per_row = (size_t)w * (files * (sizeof(float) + 2) + sizeof(float));
    size_t avail = o->job_memory > fixed ? o->job_memory - fixed : 0;
    size_t rows = per_row > 0 ? avail / per_row : 1;

    if (rows > MAX_STRIP_ROWS)
        rows = MAX_STRIP_ROWS;
    return rows < 1 ? 1 : (int)rows;
}

/* ---- Pass 0: the subs and the prerequisites ---- */

static ac_frame_type_t kind_frame(ac_cal_kind_t k)
{
    static const ac_frame_type_t t[AC_CAL_NKINDS] = {AC_FRAME_BIAS, AC_FRAME_DARK,
                                                     AC_FRAME_FLAT, AC_FRAME_FLATDARK};
    return t[k];
}

static bool same_geometry(const ac_meta_t *a, const ac_meta_t *b)
{
    return a->width == b->width && a->height == b->height && a->xbin == b->xbin &&
           a->ybin == b->ybin && ac_meta_cfa_equal(a, b);
}

static void drop(struct job *j, struct sub *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void drop(struct job *j, struct sub *s, const char *fmt, ...)
{
    char why[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    s->used = false;
    appendf(j->res->dropped, sizeof j->res->dropped, "%s: %s", ac_path_base(s->path), why);
}

/* median_of_used returns the median of field (CCD-TEMP or SET-TEMP) over the used subs
 * that have it, NAN when none has. */
static double median_of_used(const struct job *j, bool set_point)
{
    double v[AC_STACK_MAX_SUBS];
    int n = 0;

    for (int i = 0; i < j->nsubs && n < AC_STACK_MAX_SUBS; i++) {
        double t = set_point ? j->subs[i].m->set_temp : j->subs[i].m->ccd_temp;
        if (j->subs[i].used && isfinite(t))
            v[n++] = t;
    }
    for (int a = 1; a < n; a++) /* insertion sort: a few hundred values at most */
        for (int b = a; b > 0 && v[b - 1] > v[b]; b--) {
            double x = v[b];
            v[b] = v[b - 1];
            v[b - 1] = x;
        }
    return n == 0 ? NAN : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* drop_by_temperature drops the darks (flat-darks) whose temperature does not suit the
 * others', by the temperature rule of meta.h against the subs' median temperatures. */
static void drop_by_temperature(struct job *j)
{
    double mc = median_of_used(j, false), ms = median_of_used(j, true);

    for (int i = 0; i < j->nsubs; i++) {
        struct sub *s = &j->subs[i];
        ac_temp_cmp_t tc;
        if (!s->used)
            continue;
        ac_temp_compare(mc, ms, s->m->ccd_temp, s->m->set_temp, j->o->max_temp_diff,
                        "others' median", "frame", &tc);
        if (ac_temp_refused(tc.verdict))
            drop(j, s, "%s", tc.text);
    }
}

static int open_subs(struct job *j)
{
    const ac_build_spec_t *sp = j->sp;
    ac_frame_type_t want = kind_frame(sp->kind);
    struct sub *ref = NULL;
    int best = -1, need;

    for (int i = 0; i < j->nsubs; i++) {
        struct sub *s = &j->subs[i];
        ac_err_t oe = {0};
        s->path = sp->subs[i];
        if (ac_imgio_open(s->path, &s->in, &oe) != 0) {
            drop(j, s, "unreadable: %s", oe.msg);
            continue;
        }
        s->m = ac_imgio_meta(s->in);
        s->used = true;
        /* A frame whose header names no type was typed at registration from its path
         * (issue 9): the catalogue put it in this unit, so it is taken as it is. */
        if ((s->m->type != want && !(s->m->type == AC_FRAME_UNKNOWN && !s->m->imagetyp[0])) ||
            s->m->is_master)
            drop(j, s, "IMAGETYP '%s' is not a raw %s frame", s->m->imagetyp,
                 ac_meta_type_name(want));
    }
    /* The reference geometry is the most common one. */
    for (int i = 0; i < j->nsubs; i++) {
        int c = 0;
        if (!j->subs[i].used)
            continue;
        for (int k = 0; k < j->nsubs; k++)
            c += j->subs[k].used && same_geometry(j->subs[i].m, j->subs[k].m);
        if (c > best) {
            best = c;
            ref = &j->subs[i];
        }
    }
    for (int i = 0; ref != NULL && i < j->nsubs; i++) {
        struct sub *s = &j->subs[i];
        if (s->used && !same_geometry(s->m, ref->m))
            drop(j, s, "%dx%d binning %dx%d CFA '%s' differs from the others' %dx%d %dx%d '%s'",
                 s->m->width, s->m->height, s->m->xbin, s->m->ybin, s->m->bayerpat,
                 ref->m->width, ref->m->height, ref->m->xbin, ref->m->ybin, ref->m->bayerpat);
    }
    if (ref != NULL && (sp->kind == AC_CAL_DARK || sp->kind == AC_CAL_FLATDARK)) {
        double med = ac_build_median_exptime(j->subs, j->nsubs);
        for (int i = 0; isfinite(med) && i < j->nsubs; i++) {
            struct sub *s = &j->subs[i];
            double tol = fmax(j->o->exp_tol_s, j->o->exp_tol_pct / 100.0 * med);
            if (s->used && isfinite(s->m->exptime) && fabs(s->m->exptime - med) > tol)
                drop(j, s, "EXPTIME %g s differs from the others' %g s", s->m->exptime, med);
        }
        drop_by_temperature(j);
    }
    j->used = calloc((size_t)(j->nsubs > 0 ? j->nsubs : 1), sizeof *j->used);
    if (j->used == NULL)
        return ac_err_set(j->e, -ENOMEM, "out of memory");
    for (int i = 0; i < j->nsubs; i++)
        if (j->subs[i].used)
            j->used[j->nused++] = &j->subs[i];
    need = j->o->min_files > 2 ? j->o->min_files : 2;
    if (j->nused < need)
        return ac_err_set(j->e, AC_EFORMAT,
                          "master %s: only %d of %d frames usable, %d needed (dropped: %s)",
                          ac_path_base(sp->output_path), j->nused, j->nsubs, need,
                          j->res->dropped[0] ? j->res->dropped : "none");
    if (j->nused > AC_STACK_MAX_SUBS)
        return ac_err_set(j->e, -EINVAL, "master %s: %d frames, at most %d are combined",
                          ac_path_base(sp->output_path), j->nused, AC_STACK_MAX_SUBS);
    j->w = j->used[0]->m->width;
    j->h = j->used[0]->m->height;
    return 0;
}

/* Opens a prerequisite master and checks it against the subs. */
static int open_prereq(struct job *j, const char *path, const char *what, ac_imgin_t **out)
{
    const ac_meta_t *m, *r = j->used[0]->m;
    int rc;

    if ((rc = ac_imgio_open(path, out, j->e)) != 0) {
        ac_err_prefix(j->e, "%s master", what);
        return rc;
    }
    m = ac_imgio_meta(*out);
    if (m->width != j->w || m->height != j->h ||
        (m->bayerpat[0] != '\0' && r->bayerpat[0] != '\0' && !ac_meta_cfa_equal(m, r)))
        return ac_err_set(j->e, AC_EGEOMETRY,
                          "%s master %s is %dx%d CFA '%s'; the frames are %dx%d CFA '%s'", what,
                          path, m->width, m->height, m->bayerpat, j->w, j->h, r->bayerpat);
    return 0;
}

static int open_prereqs(struct job *j)
{
    const ac_build_spec_t *sp = j->sp;
    ac_build_result_t *res = j->res;
    int rc;

    if (sp->kind == AC_CAL_FLAT) {
        if (sp->flatdark_path != NULL &&
            (rc = open_prereq(j, sp->flatdark_path, "flat-dark", &j->fd)) != 0)
            return rc;
        if (sp->bias_path != NULL &&
            (rc = open_prereq(j, sp->bias_path, "bias", &j->bias)) != 0)
            return rc;
        j->sub_fd = j->fd != NULL;
        if (j->fd != NULL && ac_imgio_meta(j->fd)->bias_subtracted != AC_PROV_YES) {
            j->sub_bias = false; /* the flat-dark carries the bias and takes it out */
        } else {
            j->sub_bias = j->bias != NULL;
            if (j->fd != NULL && j->bias == NULL)
                appendf(res->warning, sizeof res->warning,
                        "flat-dark %s is bias-free and no bias master matches: the flats keep "
                        "their bias",
                        ac_path_base(sp->flatdark_path));
        }
        if (j->fd == NULL && j->bias == NULL)
            appendf(res->warning, sizeof res->warning,
                    "no flat-dark or bias master: flats combined raw (calibrated later)");
    } else if (sp->kind == AC_CAL_DARK && sp->opts.dark_subtract_bias) {
        if (sp->bias_path != NULL &&
            (rc = open_prereq(j, sp->bias_path, "bias", &j->bias)) != 0)
            return rc;
        j->sub_bias = j->bias != NULL;
        if (j->bias == NULL)
            appendf(res->warning, sizeof res->warning,
                    "dark_subtract_bias is set but no bias master matches: bias kept");
    }
    /* A flat-dark that carries the bias takes it out with it. */
    res->bias_subtracted =
        j->sub_bias || (j->sub_fd && ac_imgio_meta(j->fd)->bias_subtracted != AC_PROV_YES);
    res->flatdark_subtracted = j->sub_fd;
    return 0;
}

/* ---- Reading calibrated strips ---- */

static int alloc_strips(struct job *j)
{
    size_t n = (size_t)j->rows * (size_t)j->w;

    j->strip = calloc((size_t)j->nused, sizeof *j->strip);
    j->out = malloc(n * sizeof(float));
    if (j->strip == NULL || j->out == NULL)
        return ac_err_set(j->e, -ENOMEM, "out of memory for strips of %d rows", j->rows);
    for (int i = 0; i < j->nused; i++)
        if ((j->strip[i] = malloc(n * sizeof(float))) == NULL)
            return ac_err_set(j->e, -ENOMEM, "out of memory for strips of %d rows", j->rows);
    if ((j->bias != NULL && (j->bias_strip = malloc(n * sizeof(float))) == NULL) ||
        (j->fd != NULL && (j->fd_strip = malloc(n * sizeof(float))) == NULL))
        return ac_err_set(j->e, -ENOMEM, "out of memory for strips of %d rows", j->rows);
    return 0;
}

/* Subtracts the prerequisites' rows (already in their strips) from buf. */
static void calibrate(const struct job *j, float *buf, size_t n)
{
    if (j->sub_fd)
        for (size_t p = 0; p < n; p++)
            buf[p] -= j->fd_strip[p];
    if (j->sub_bias)
        for (size_t p = 0; p < n; p++)
            buf[p] -= j->bias_strip[p];
}

static int read_prereq_rows(struct job *j, int y0, int nrows)
{
    int rc = 0;

    if (j->sub_fd)
        rc = ac_imgio_read_rows(j->fd, y0, nrows, j->fd_strip, j->e);
    if (rc == 0 && j->sub_bias)
        rc = ac_imgio_read_rows(j->bias, y0, nrows, j->bias_strip, j->e);
    return rc;
}

/* Reads rows [y0, y0 + nrows) of every used sub into the strips, calibrated. */
static int read_rows(struct job *j, int y0, int nrows)
{
    size_t n = (size_t)nrows * (size_t)j->w;
    uint64_t t = ac_now_ns();
    int rc;

    if ((rc = read_prereq_rows(j, y0, nrows)) != 0)
        return rc;
    for (int i = 0; i < j->nused; i++) {
        if ((rc = ac_imgio_read_rows(j->used[i]->in, y0, nrows, j->strip[i], j->e)) != 0)
            return rc;
        calibrate(j, j->strip[i], n);
    }
    j->res->in_bytes += (uint64_t)n * (uint64_t)j->nused * (uint64_t)raw_bytes(j->used[0]->m);
    j->res->t_read += (double)(ac_now_ns() - t) / 1e9;
    return 0;
}

static int combine(struct job *j, size_t n, float *out)
{
    uint64_t t = ac_now_ns();
    int rc = ac_stack_rows(&j->so, (const float *const *)j->strip, j->nused, n, j->scale, NULL,
                           out, &j->st, j->work, j->e);

    j->res->t_combine += (double)(ac_now_ns() - t) / 1e9;
    return rc;
}

/* ---- Pass 1: the pilot ---- */

/* The sampled rows come in runs [y, y + len) of consecutive rows, at most j->rows long. */
struct runs {
    int y[64], len[64];
    int n;
};

/* Fills the k-th group of runs; returns false when all rows were given. Rows: all when the
 * frame is small, else every step-th row. */
static bool next_runs(const struct job *j, size_t pilot, int *cursor, struct runs *r)
{
    int step = (size_t)j->w * (size_t)j->h <= pilot
                   ? 1
                   : (int)(((size_t)j->w * (size_t)j->h + pilot - 1) / pilot);

    r->n = 0;
    while (*cursor < j->h && r->n < 64) {
        int y = *cursor;
        int len = step == 1 ? (j->h - y < j->rows ? j->h - y : j->rows) : 1;
        r->y[r->n] = y;
        r->len[r->n++] = len;
        *cursor = y + (step == 1 ? len : step);
    }
    return r->n > 0;
}

/* Flats: the median, mean and raw mean of each calibrated sub over the sampled rows, and
 * the scales L / m_i. */
static int pilot_flats(struct job *j, size_t pilot)
{
    size_t cap = pilot + (size_t)j->w * (size_t)j->rows;
    float *smp = malloc(cap * sizeof(float));
    double lsum = 0, rsum = 0, msum = 0, mad;
    int rc = 0;

    j->scale = calloc((size_t)j->nused, sizeof *j->scale);
    if (smp == NULL || j->scale == NULL) {
        free(smp);
        return ac_err_set(j->e, -ENOMEM, "out of memory for the flat samples");
    }
    for (int i = 0; i < j->nused && rc == 0; i++) {
        struct sub *s = j->used[i];
        double raw = 0, cal = 0;
        size_t n = 0;
        int cursor = 0;
        struct runs r;
        while (rc == 0 && next_runs(j, pilot, &cursor, &r)) {
            for (int k = 0; k < r.n && rc == 0; k++) {
                size_t m = (size_t)r.len[k] * (size_t)j->w;
                float *dst = smp + n;
                if (n + m > cap)
                    break;
                if ((rc = ac_imgio_read_rows(s->in, r.y[k], r.len[k], dst, j->e)) != 0 ||
                    (rc = read_prereq_rows(j, r.y[k], r.len[k])) != 0)
                    break;
                for (size_t p = 0; p < m; p++)
                    raw += dst[p];
                calibrate(j, dst, m);
                for (size_t p = 0; p < m; p++)
                    cal += dst[p];
                n += m;
            }
        }
        if (rc != 0)
            break;
        if (cancelled(j)) {
            rc = ac_err_set(j->e, AC_ECANCELED, "cancelled while measuring the flats");
            break;
        }
        s->raw_mean = raw / (double)n;
        s->mean = cal / (double)n;
        if (ac_stats_median_mad(smp, n, 0, &s->median, &mad) != 0 || !(s->median > 0)) {
            rc = ac_err_set(j->e, AC_EMASTER,
                            "flat %s: median level %.1f ADU after calibration is not positive",
                            s->path, s->median);
            break;
        }
        lsum += s->mean;
        rsum += s->raw_mean;
        msum += s->median;
    }
    free(smp);
    if (rc != 0)
        return rc;
    j->res->flat_level = lsum / j->nused;
    j->res->flat_raw_level = rsum / j->nused;
    j->res->flat_scale = msum / j->nused;
    for (int i = 0; i < j->nused; i++)
        j->scale[i] = j->res->flat_scale / j->used[i]->median;
    return 0;
}

/* Darks and flat-darks: the sampled rows combined give the hot pixel threshold. */
static int pilot_darks(struct job *j, size_t pilot)
{
    size_t cap = pilot + (size_t)j->w * (size_t)j->rows, n = 0;
    float *smp = malloc(cap * sizeof(float));
    ac_stack_stats_t keep = j->st;
    double med = NAN, mad = NAN;
    int cursor = 0, rc = 0;
    struct runs r;

    if (smp == NULL)
        return ac_err_set(j->e, -ENOMEM, "out of memory for the dark samples");
    while (rc == 0 && next_runs(j, pilot, &cursor, &r)) {
        for (int k = 0; k < r.n && rc == 0; k++) {
            size_t m = (size_t)r.len[k] * (size_t)j->w;
            if (n + m > cap)
                break;
            if ((rc = read_rows(j, r.y[k], r.len[k])) == 0)
                rc = combine(j, m, smp + n);
            n += m;
        }
        if (rc == 0 && cancelled(j))
            rc = ac_err_set(j->e, AC_ECANCELED, "cancelled while measuring the darks");
    }
    j->st = keep; /* the pilot's rejections are not the master's */
    if (rc == 0 && ac_stats_median_mad(smp, n, 0, &med, &mad) != 0)
        med = NAN;
    free(smp);
    if (rc != 0)
        return rc;
    j->hot_thr =
        isfinite(med) ? med + fmax(j->o->hot_sigma * 1.4826 * mad, HOT_FLOOR) : INFINITY;
    return 0;
}

/* ---- Pass 2 ---- */

static int stream(struct job *j, ac_imgout_t *out, ac_quality_acc_t *q, uint64_t *hot,
                  uint64_t *nan_px)
{
    for (int y0 = 0; y0 < j->h; y0 += j->rows) {
        int nrows = y0 + j->rows <= j->h ? j->rows : j->h - y0;
        size_t n = (size_t)nrows * (size_t)j->w;
        uint64_t t;
        int rc;

        if (cancelled(j))
            return ac_err_set(j->e, AC_ECANCELED, "%s: cancelled at row %d of %d",
                              j->sp->output_path, y0, j->h);
        if ((rc = read_rows(j, y0, nrows)) != 0 || (rc = combine(j, n, j->out)) != 0)
            return rc;
        for (size_t p = 0; p < n; p++) {
            float v = j->out[p];
            if (!isfinite(v))
                (*nan_px)++;
            else if (v > j->hot_thr)
                (*hot)++;
        }
        ac_quality_add_rows(q, j->out, n);
        t = ac_now_ns();
        rc = ac_imgout_write_rows(out, j->out, nrows, j->e);
        j->res->t_write += (double)(ac_now_ns() - t) / 1e9;
        if (rc != 0)
            return rc;
    }
    return 0;
}

static void job_free(struct job *j)
{
    for (int i = 0; i < j->nsubs; i++)
        ac_imgio_close(j->subs[i].in);
    for (int i = 0; j->strip != NULL && i < j->nused; i++)
        free(j->strip[i]);
    ac_imgio_close(j->bias);
    ac_imgio_close(j->fd);
    ac_stack_work_free(j->work);
    free(j->strip);
    free(j->bias_strip);
    free(j->fd_strip);
    free(j->out);
    free(j->scale);
    free(j->used);
    free(j->subs);
}

static int setup(struct job *j)
{
    const ac_build_opts_t *o = j->o;
    ac_build_result_t *res = j->res;
    int rc;

    if ((rc = open_subs(j)) != 0 || (rc = open_prereqs(j)) != 0)
        return rc;
    ac_stack_opts_default(&j->so);
    j->so.method = o->combine;
    j->so.kappa_low = o->kappa_low;
    j->so.kappa_high = o->kappa_high;
    j->so.iterations = o->iterations;
    j->so.sigma_estimator = j->nused <= 10 ? AC_STACK_SIGMA_MAD : AC_STACK_SIGMA_STDDEV;
    if ((rc = ac_stack_opts_check(&j->so, j->e)) != 0)
        return rc;
    res->method = j->so.method;
    if ((res->method == AC_STACK_SIGMA_CLIP || res->method == AC_STACK_WINSOR) &&
        j->nused < j->so.median_below)
        res->method = AC_STACK_MEDIAN;
    res->sigma_estimator = j->so.sigma_estimator;
    res->nused = j->nused;
    j->rows = ac_build_strip_rows(o, j->nused, (j->bias != NULL) + (j->fd != NULL), j->w);
    if (j->rows > j->h)
        j->rows = j->h;
    res->strip_rows = (size_t)j->rows;
    if ((j->work = ac_stack_work_new(j->nused)) == NULL)
        return ac_err_set(j->e, -ENOMEM, "out of memory for the stacking work area");
    if ((rc = alloc_strips(j)) != 0)
        return rc;
    ac_build_header_facts(j);
    j->hot_thr = INFINITY;
    if (j->sp->kind == AC_CAL_FLAT)
        return pilot_flats(j, pilot_pixels(o));
    if (j->sp->kind == AC_CAL_DARK || j->sp->kind == AC_CAL_FLATDARK)
        return pilot_darks(j, pilot_pixels(o));
    return 0;
}

/* probe reads the observing night of every candidate master (spec->probe_*) from its
 * DATE-OBS (and SITELONG), and returns true when one is of the unit's night. A master
 * whose header cannot be read or has no date is left "" (it does not stop the build). */
static bool probe(const ac_build_spec_t *spec, ac_build_result_t *res)
{
    bool found = false;

    for (int i = 0; i < spec->nprobe && i < AC_BUILD_MAX_PROBE; i++) {
        ac_hdr_t h;
        ac_meta_t m;
        ac_err_t pe = {0};
        ac_hdr_init(&h);
        if (ac_imgio_read_header(spec->probe_path[i], &h, &m, &pe) == 0 &&
            m.date_obs[0] != '\0' &&
            ac_night_of(m.date_obs, ac_night_site_offset(spec->opts.utc_offset_h, m.sitelong),
                        res->probe_night[i]) == 0) {
            ac_strlcpy(res->probe_date_obs[i], m.date_obs, sizeof res->probe_date_obs[i]);
            if (!found && spec->night[0] != '\0' &&
                strcmp(res->probe_night[i], spec->night) == 0) {
                res->exists_rowid = spec->probe_rowid[i];
                found = true;
            }
        }
        ac_hdr_free(&h);
    }
    return found;
}

void ac_build_run(const ac_build_spec_t *spec, ac_build_result_t *res, atomic_int *cancel)
{
    struct job j;
    ac_imgout_t *out = NULL;
    ac_quality_acc_t q = {0};
    ac_hdr_t hdr, extra;
    uint64_t t0 = ac_now_ns(), hot = 0, nan_px = 0, t;
    size_t bytes = 0;
    bool q_ready = false;
    char why[512], *dir = NULL;
    int rc;

    memset(res, 0, sizeof *res);
    memset(&j, 0, sizeof j);
    ac_hdr_init(&hdr);
    ac_hdr_init(&extra);
    j.sp = spec;
    j.o = &spec->opts;
    j.res = res;
    j.cancel = cancel;
    j.e = &res->err;
    j.nsubs = spec->nsubs;
    res->nsubs = spec->nsubs;
    res->exptime = res->ccd_temp = res->set_temp = res->gain = res->offset = NAN;
    res->flat_level = res->flat_raw_level = res->flat_scale = res->saturation = NAN;
    res->median = res->noise = NAN;
    ac_strlcpy(res->output_path, spec->output_path != NULL ? spec->output_path : "",
               sizeof res->output_path);
    if (probe(spec, res)) {
        res->status = AC_BUILD_EXISTS;
        res->t_total = (double)(ac_now_ns() - t0) / 1e9;
        return;
    }
    if (spec->output_path == NULL || spec->nsubs < 1 || (unsigned)spec->kind >= AC_CAL_NKINDS) {
        rc = ac_err_set(j.e, -EINVAL, "build: no output path, frames or kind");
        goto out;
    }
    if ((j.subs = calloc((size_t)spec->nsubs, sizeof *j.subs)) == NULL ||
        (dir = malloc(4096)) == NULL) {
        rc = ac_err_set(j.e, -ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = setup(&j)) != 0 || (rc = ac_build_header(&j, &hdr)) != 0)
        goto out;
    ac_path_dir(spec->output_path, dir, 4096);
    if ((rc = ac_fsutil_mkdirs(dir, j.e)) != 0)
        goto out;
    if ((rc = ac_imgout_open(spec->output_path, j.w, j.h, &hdr, EXTRA_CARDS, &j.o->out, &out,
                             j.e)) != 0)
        goto out;
    if ((rc = ac_quality_acc_init(&q, (uint64_t)j.w * (uint64_t)j.h)) != 0) {
        ac_err_set(j.e, rc, "out of memory for the quality samples");
        goto out;
    }
    q_ready = true;
    if ((rc = stream(&j, out, &q, &hot, &nan_px)) != 0)
        goto out;
    ac_build_judge(&j, &q, hot, nan_px, why, sizeof why);
    if (why[0] != '\0') {
        ac_strlcpy(res->reason, why, sizeof res->reason);
        res->status = AC_BUILD_REJECT;
        goto out; /* the writer is aborted below: a rejected master never gets its name */
    }
    if ((rc = ac_build_quality_cards(&j, &extra)) != 0) {
        ac_err_set(j.e, rc, "%s: quality figures not representable", spec->output_path);
        goto out;
    }
    t = ac_now_ns();
    rc = ac_imgout_commit(out, &extra, &bytes, j.e);
    out = NULL; /* commit frees the writer, also on failure */
    res->t_write += (double)(ac_now_ns() - t) / 1e9;
    if (rc != 0)
        goto out;
    res->file_size = (int64_t)bytes;
    {
        const ac_digest_alg_t alg = AC_DIGEST_MD5;
        const size_t size = sizeof res->md5;
        char *hex = res->md5;
        struct stat before;
        rc = ac_digest_file_stat(spec->output_path, 1, &alg, &hex, &size, &before, &res->st,
                                 j.e);
        res->same_file = rc == 0 && ac_digest_unchanged(&before, &res->st);
    }
out:
    if (out != NULL)
        ac_imgout_abort(out);
    if (q_ready)
        ac_quality_acc_free(&q);
    job_free(&j);
    free(dir);
    ac_hdr_free(&hdr);
    ac_hdr_free(&extra);
    if (res->status != AC_BUILD_REJECT && res->status != AC_BUILD_EXISTS && rc != 0) {
        res->status = AC_BUILD_ERROR;
        if (res->err.msg[0] == '\0')
            ac_err_set(&res->err, rc, "%s: %s", res->output_path, ac_strerror(rc));
        res->err.code = rc;
    }
    res->t_total = (double)(ac_now_ns() - t0) / 1e9;
}
