/*
 * calibrun.c - the per-light half of the calibration (see calib.h): checking a light
 * against a prepared set (ac_calib_check_light), the per-pixel kernel (ac_calib_rows),
 * hot pixel replacement (ac_calib_fix_hot), dark optimisation (ac_calib_optimize_k) and
 * the automatic pedestal (ac_calib_auto_pedestal). Master preparation is in calib.c.
 *
 * ac_calib_rows runs for every pixel of every light and is written for the compiler's
 * auto-vectoriser: the pixels go through fixed blocks of KBLOCK values whose counters and
 * extrema live in per-lane arrays, so each block is straight-line code that gcc -O2 turns
 * into packed SSE (its "very cheap" cost model refuses loops of unknown trip count, but
 * accepts these fixed inner loops). One pass over the strip does the arithmetic and all
 * the counts. Dead flat pixels are counted per row at preparation (dead_rows).
 *
 * Ownership: nothing here allocates beyond scratch buffers freed before returning; the
 * calset is only read.
 * Thread: pure functions, any thread; a prepared calset is read-only.
 */
#include "calib.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "calib_int.h"
#include "stats.h"

#define KBLOCK 16         /* pixels per vectorised block in ac_calib_rows */
#define KCHUNK (1u << 24) /* pixels per kernel call (bounds the lane counters) */

void ac_rowstats_init(ac_rowstats_t *s)
{
    memset(s, 0, sizeof *s);
    s->min = INFINITY;
    s->max = -INFINITY;
}

/* meta_issue reports a metadata mismatch: an error, or with force a warning. */
__attribute__((format(printf, 5, 6))) static int
meta_issue(bool force, char *warn, size_t wsize, ac_err_t *e, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (force) {
        ac_calib_appendf(warn, wsize, "%s (forced)", msg);
        return 0;
    }
    return ac_err_set(e, AC_EMETADATA, "%s", msg);
}

/* camera_check compares GAIN, OFFSET and the readout mode of the light and one master. */
static int camera_check(const ac_meta_t *l, const ac_meta_t *m, const char *lp,
                        const char *what, const char *name, const ac_calib_opts_t *o,
                        char *warn, size_t wsize, ac_err_t *e)
{
    int rc = 0;

    if (isfinite(l->gain) && isfinite(m->gain) && fabs(l->gain - m->gain) > 1e-6)
        rc = meta_issue(o->force, warn, wsize, e, "light %s: GAIN %g, master %s %s has GAIN %g",
                        lp, l->gain, what, name, m->gain);
    if (rc == 0 && isfinite(l->offset) && isfinite(m->offset) &&
        fabs(l->offset - m->offset) > 1e-6)
        rc = meta_issue(o->force, warn, wsize, e,
                        "light %s: OFFSET %g, master %s %s has OFFSET %g", lp, l->offset, what,
                        name, m->offset);
    if (rc == 0 && l->readout[0] && m->readout[0] && strcasecmp(l->readout, m->readout) != 0)
        rc = meta_issue(o->force, warn, wsize, e,
                        "light %s: readout mode '%s', master %s %s has '%s'", lp, l->readout,
                        what, name, m->readout);
    return rc;
}

int ac_calib_check_light(const ac_calset_t *cs, const ac_meta_t *light, const char *light_path,
                         const ac_calib_opts_t *o, char *warn, size_t warn_size, ac_err_t *e)
{
    const ac_meta_t *g = &cs->geometry, *dm = &cs->dark_meta;
    const char *lp = light_path ? light_path : "(light)";
    char d1[96], d2[96];
    int rc = 0;

    if (warn != NULL && warn_size > 0)
        warn[0] = '\0';
    if (light->width != cs->w || light->height != cs->h) {
        char bin[64] = "";
        if (ac_calib_bin_differs(light, g))
            snprintf(bin, sizeof bin, " (binning %dx%d vs %dx%d)", light->xbin, light->ybin,
                     g->xbin, g->ybin);
        return ac_err_set(e, AC_EGEOMETRY,
                          "light %s: NAXIS1 x NAXIS2 = %dx%d, masters are %dx%d%s", lp,
                          light->width, light->height, cs->w, cs->h, bin);
    }
    if (ac_calib_bin_differs(light, g))
        return ac_err_set(e, AC_EGEOMETRY, "light %s: binning %dx%d, masters are %dx%d", lp,
                          light->xbin, light->ybin, g->xbin, g->ybin);
    if (!ac_meta_cfa_equal(light, g))
        return ac_err_set(e, AC_EGEOMETRY, "light %s: CFA layout %s, masters are %s", lp,
                          ac_calib_cfa_desc(light, d1, sizeof d1),
                          ac_calib_cfa_desc(g, d2, sizeof d2));
    if (cs->has_flat) {
        const char *fl = cs->flat_meta.filter;
        if (light->filter[0] && fl[0] && !ac_meta_filter_equal(light->filter, fl))
            rc = meta_issue(o->force, warn, warn_size, e,
                            "light %s: FILTER '%s', master flat %s has FILTER '%s'", lp,
                            light->filter, cs->flat_name, fl);
        else if (!light->filter[0] != !fl[0])
            ac_calib_appendf(warn, warn_size,
                             "FILTER not compared: light '%s', master flat %s '%s'",
                             light->filter, cs->flat_name, fl);
    }
    if (rc == 0 && cs->has_dark) {
        /* The temperature rule of meta.h, the one the planner applied. */
        ac_temp_cmp_t tc;
        char mw[300];
        snprintf(mw, sizeof mw, "master dark %s", cs->dark_name);
        ac_temp_compare(light->ccd_temp, light->set_temp, dm->ccd_temp, dm->set_temp,
                        o->max_temp_diff, "light", mw, &tc);
        if (ac_temp_refused(tc.verdict))
            rc = meta_issue(o->force, warn, warn_size, e, "light %s: %s", lp, tc.text);
        else if (tc.verdict == AC_TEMP_NONE)
            ac_calib_appendf(warn, warn_size, "%s", tc.text);
    }
    if (rc == 0 && cs->has_bias)
        rc = camera_check(light, &cs->bias_meta, lp, "bias", cs->bias_name, o, warn, warn_size,
                          e);
    if (rc == 0 && cs->has_dark)
        rc = camera_check(light, dm, lp, "dark", cs->dark_name, o, warn, warn_size, e);
    if (rc == 0 && cs->has_flat)
        rc = camera_check(light, &cs->flat_meta, lp, "flat", cs->flat_name, o, warn, warn_size,
                          e);
    return rc;
}

/* Which planes a kernel instance reads (compile-time constants after inlining). */
enum { K_OFF = 1, K_INV = 2, K_BIAS = 4, K_DC = 8 };

struct lanes {
    int32_t neg[KBLOCK], zero[KBLOCK], sat[KBLOCK];
    float lo[KBLOCK], hi[KBLOCK];
};

/* kernel calibrates n pixels. in and out may be the same buffer: each block is copied
 * to a local array before anything is written. The planes never alias out. */
static inline __attribute__((always_inline)) void
kernel(const int mode, const float *in, float *out, const float *restrict off,
       const float *restrict b, const float *restrict dc, const float *restrict inv, float k,
       float p, float sat, size_t n, struct lanes *restrict L)
{
    size_t i = 0;

    for (; i + KBLOCK <= n; i += KBLOCK) {
        float x[KBLOCK];
        for (int j = 0; j < KBLOCK; j++)
            x[j] = in[i + j];
        for (int j = 0; j < KBLOCK; j++) {
            float v = x[j];
            if (mode & K_OFF)
                v -= off[i + j];
            if (mode & K_BIAS)
                v -= b[i + j];
            if (mode & K_DC)
                v -= k * dc[i + j];
            if (mode & K_INV)
                v *= inv[i + j];
            v += p;
            L->sat[j] -= -(x[j] >= sat);
            L->neg[j] -= -(v < 0.0f);
            L->zero[j] -= -(v == 0.0f);
            L->lo[j] = v < L->lo[j] ? v : L->lo[j];
            L->hi[j] = v > L->hi[j] ? v : L->hi[j];
            out[i + j] = v;
        }
    }
    for (int j = 0; i < n; i++, j++) {
        float v = in[i];
        L->sat[j] -= -(v >= sat);
        if (mode & K_OFF)
            v -= off[i];
        if (mode & K_BIAS)
            v -= b[i];
        if (mode & K_DC)
            v -= k * dc[i];
        if (mode & K_INV)
            v *= inv[i];
        v += p;
        L->neg[j] -= -(v < 0.0f);
        L->zero[j] -= -(v == 0.0f);
        L->lo[j] = v < L->lo[j] ? v : L->lo[j];
        L->hi[j] = v > L->hi[j] ? v : L->hi[j];
        out[i] = v;
    }
}

void ac_calib_rows(const ac_calset_t *cs, const float *in, float *out, int y0, int nrows,
                   double k, float pedestal, double sat_level, ac_rowstats_t *st)
{
    size_t w = (size_t)cs->w, base = (size_t)y0 * w, total = (size_t)nrows * w;
    const float *off = cs->offset, *b = cs->bias, *dc = cs->dark_c, *inv = cs->inv_flat;
    float kf = (float)k, sat = (float)sat_level;
    int mode = (off ? K_OFF : 0) | (inv ? K_INV : 0);
    struct lanes L;

    if (off == NULL && dc != NULL)
        mode |= K_DC | (b ? K_BIAS : 0);
    for (size_t done = 0; done < total;) {
        size_t n = total - done < KCHUNK ? total - done : KCHUNK, o = base + done;
        const float *pin = in + done, *po = off ? off + o : NULL, *pb = b ? b + o : NULL;
        const float *pd = dc ? dc + o : NULL, *pi = inv ? inv + o : NULL;
        float *pout = out + done;

        memset(&L, 0, sizeof L);
        for (int j = 0; j < KBLOCK; j++) {
            L.lo[j] = INFINITY;
            L.hi[j] = -INFINITY;
        }
        /* One instance per plane combination, so each inner loop is straight-line. */
#define RUN(m) kernel(m, pin, pout, po, pb, pd, pi, kf, pedestal, sat, n, &L)
        switch (mode) {
        case 0:
            RUN(0);
            break;
        case K_OFF:
            RUN(K_OFF);
            break;
        case K_INV:
            RUN(K_INV);
            break;
        case K_OFF | K_INV:
            RUN(K_OFF | K_INV);
            break;
        case K_DC:
            RUN(K_DC);
            break;
        case K_DC | K_INV:
            RUN(K_DC | K_INV);
            break;
        case K_DC | K_BIAS:
            RUN(K_DC | K_BIAS);
            break;
        default:
            RUN(K_DC | K_BIAS | K_INV);
            break;
        }
#undef RUN
        for (int j = 0; j < KBLOCK; j++) {
            st->n_negative += (uint64_t)L.neg[j];
            st->n_zero += (uint64_t)L.zero[j];
            st->n_saturated_in += (uint64_t)L.sat[j];
            if (L.lo[j] < st->min)
                st->min = L.lo[j];
            if (L.hi[j] > st->max)
                st->max = L.hi[j];
        }
        done += n;
    }
    st->n += total;
    if (cs->dead_rows != NULL)
        for (int y = y0; y < y0 + nrows; y++)
            st->n_dead += cs->dead_rows[y];
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static bool is_hot(const ac_calset_t *cs, size_t idx)
{
    size_t lo = 0, hi = cs->n_hot;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cs->hot[mid] < idx)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < cs->n_hot && cs->hot[lo] == idx;
}

size_t ac_calib_fix_hot(const ac_calset_t *cs, float *buf, int buf_y0, int buf_rows, int y0,
                        int nrows)
{
    size_t w = (size_t)cs->w, first = (size_t)y0 * w, end = (size_t)(y0 + nrows) * w;
    size_t lo = 0, hi = cs->n_hot, fixed = 0;
    int d = cs->geometry.bayerpat[0] ? 2 : 1;

    while (lo < hi) { /* first hot pixel at or after row y0 */
        size_t mid = lo + (hi - lo) / 2;
        if (cs->hot[mid] < first)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t h = lo; h < cs->n_hot && cs->hot[h] < end; h++) {
        int x = (int)(cs->hot[h] % w), y = (int)(cs->hot[h] / w);
        float v[8];
        int m = 0;

        for (int dy = -d; dy <= d; dy += d)
            for (int dx = -d; dx <= d; dx += d) {
                int nx = x + dx, ny = y + dy;
                float val;
                if ((dx == 0 && dy == 0) || nx < 0 || nx >= cs->w || ny < 0 || ny >= cs->h ||
                    ny < buf_y0 || ny >= buf_y0 + buf_rows)
                    continue;
                if (is_hot(cs, (size_t)ny * w + (size_t)nx))
                    continue;
                val = buf[(size_t)(ny - buf_y0) * w + (size_t)nx];
                if (isfinite(val))
                    v[m++] = val;
            }
        if (m == 0)
            continue;
        qsort(v, (size_t)m, sizeof v[0], cmp_float);
        buf[(size_t)(y - buf_y0) * w + (size_t)x] =
            m % 2 ? v[m / 2] : 0.5f * (v[m / 2 - 1] + v[m / 2]);
        fixed++;
    }
    return fixed;
}

/* noise_at returns the MAD of L - B - k*Dc over the sample rows (scratch: buf). */
static double noise_at(const ac_calset_t *cs, const float *rows, const int *ys, int nr,
                       double k, float *buf)
{
    size_t w = (size_t)cs->w, m = 0;
    float kf = (float)k;
    double med;

    for (int r = 0; r < nr; r++) {
        const float *l = rows + (size_t)r * w, *dc = cs->dark_c + (size_t)ys[r] * w;
        const float *b = cs->bias ? cs->bias + (size_t)ys[r] * w : NULL;
        for (size_t x = 0; x < w; x++) {
            float v = l[x] - (b ? b[x] : 0.0f) - kf * dc[x];
            if (isfinite(v))
                buf[m++] = v;
        }
    }
    if (m == 0)
        return INFINITY;
    med = ac_stats_median_inplace(buf, m);
    for (size_t i = 0; i < m; i++)
        buf[i] = fabsf(buf[i] - (float)med);
    return ac_stats_median_inplace(buf, m);
}

int ac_calib_optimize_k(const ac_calset_t *cs, const float *rows, const int *ys,
                        int sample_rows, const ac_calib_opts_t *o, double *k)
{
    const double gr = 0.6180339887498949;
    double kmax = o->dark_k_max, step = kmax / 20, best = 0, bestn = INFINITY, a, b, c, d;
    double fc, fd;
    float *buf;

    if (cs->dark_c == NULL || rows == NULL || ys == NULL || sample_rows <= 0 || !(kmax > 0))
        return -EINVAL;
    for (int r = 0; r < sample_rows; r++)
        if (ys[r] < 0 || ys[r] >= cs->h)
            return -EINVAL;
    buf = malloc((size_t)sample_rows * (size_t)cs->w * sizeof *buf);
    if (buf == NULL)
        return -ENOMEM;
    /* Coarse scan, then golden-section search around the best grid point. */
    for (int i = 0; i <= 20; i++) {
        double kk = i * step, nz = noise_at(cs, rows, ys, sample_rows, kk, buf);
        if (nz < bestn) {
            bestn = nz;
            best = kk;
        }
    }
    a = fmax(0, best - step);
    b = fmin(kmax, best + step);
    c = b - gr * (b - a);
    d = a + gr * (b - a);
    fc = noise_at(cs, rows, ys, sample_rows, c, buf);
    fd = noise_at(cs, rows, ys, sample_rows, d, buf);
    while (b - a > 1e-4 * kmax) {
        if (fc <= fd) {
            b = d;
            d = c;
            fd = fc;
            c = b - gr * (b - a);
            fc = noise_at(cs, rows, ys, sample_rows, c, buf);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + gr * (b - a);
            fd = noise_at(cs, rows, ys, sample_rows, d, buf);
        }
    }
    free(buf);
    if (fmin(fc, fd) <= bestn)
        best = fc <= fd ? c : d;
    *k = best;
    return 0;
}

int ac_calib_auto_pedestal(const float *calibrated, size_t n, const ac_calib_opts_t *o,
                           double *p)
{
    float *buf;
    size_t m, allowed;
    double v;

    *p = 0;
    if (n == 0)
        return 0;
    buf = malloc(n * sizeof *buf);
    if (buf == NULL)
        return -ENOMEM;
    m = ac_stats_sample(calibrated, n, buf, n);
    allowed = (size_t)floor(o->pedestal_max_frac * (double)m);
    if (m > 0 && allowed < m) {
        /* The allowed-th smallest value (0-based) and everything above must end > 0. */
        v = ac_stats_select(buf, m, allowed);
        if (v <= 0)
            *p = floor(-v) + 1.0;
    }
    free(buf);
    return 0;
}
