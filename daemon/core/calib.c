/*
 * calib.c - master preparation for the calibration (see calib.h and
 * shared/reference/calibration.md): the options, the dark-contains-bias and dark scale
 * decisions, master validation, flat calibration and normalisation (mono and per CFA
 * colour), the offset plane and hot pixel detection. The per-light half (light checks,
 * the per-pixel kernel, hot pixel replacement, dark optimisation, pedestal) is in
 * calibrun.c.
 *
 * Preparing a master set (ac_calib_prepare_take) happens once per set and dark scale; it
 * may be slow-ish (medians of a few million samples).
 *
 * Ownership: prepare takes the masters' px buffers; they become the calset's offset and
 * inverse-flat planes in place (peak memory = the masters), or are freed.
 * Thread: pure functions, any thread; a prepared calset is read-only.
 */
#include "calib.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib_int.h"
#include "stats.h"
#include "util.h"

#define ANALYSE_SAMPLES (1u << 20) /* samples for master medians and MAD */
#define HOT_SAMPLES (4u << 20)     /* samples for the dark's hot pixel threshold */
#define SCALE_SAMPLES AC_CALIB_SCALE_SAMPLES
#define SAT_FRACTION 0.98 /* an integer flat pixel at 98 % of saturation is clipped */

enum { M_BIAS, M_DARK, M_FLAT, M_FLATDARK, M_COUNT };
static const char *const mname[M_COUNT] = {"bias", "dark", "flat", "flat-dark"};

void ac_calib_opts_default(ac_calib_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->dark_k_max = 2.0;
    o->dark_optimize = false;
    o->flat_floor = 0.05;
    o->pedestal_mode = AC_PEDESTAL_NONE;
    o->pedestal = 0;
    o->pedestal_max_frac = 1e-4;
    o->dark_has_bias = AC_TRI_AUTO;
    o->flat_is_calibrated = AC_TRI_AUTO;
    o->cosmetic = false;
    o->cosmetic_sigma = 5.0;
    o->max_temp_diff = 5.0;
    o->force = false;
}

/* measure computes the median (and, when mad is not NULL, the MAD) of the finite values
 * of px[0..n) on the regular grid of ac_stats_sample (at most ANALYSE_SAMPLES values, so
 * the same as ac_stats_median_mad), NAN when there is none, selecting in its own sample
 * buffer (no second copy); with nonfinite, it also counts the non-finite pixels. 0 or
 * -ENOMEM. */
static int measure(const float *px, size_t n, double *median, double *mad, size_t *nonfinite)
{
    size_t cap = n < ANALYSE_SAMPLES ? n : ANALYSE_SAMPLES, step, m = 0;
    float *buf;
    double med;

    *median = NAN;
    if (mad != NULL)
        *mad = NAN;
    if (nonfinite != NULL)
        *nonfinite = 0;
    if (n == 0)
        return 0;
    step = (n + cap - 1) / cap;
    buf = malloc(cap * sizeof *buf);
    if (buf == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i += step)
        if (isfinite(px[i]))
            buf[m++] = px[i];
    if (nonfinite != NULL)
        *nonfinite = ac_stats_count_nonfinite(px, n);
    if (m > 0) {
        med = ac_stats_median_inplace(buf, m);
        *median = med;
        if (mad != NULL) {
            for (size_t i = 0; i < m; i++)
                buf[i] = (float)fabs((double)buf[i] - med);
            *mad = ac_stats_median_inplace(buf, m);
        }
    }
    free(buf);
    return 0;
}

/* analyse fills img's median, mad and n_nonfinite from px (img->px may be taken). */
static int analyse(ac_image_t *img, const float *px)
{
    if (px == NULL)
        return -EINVAL;
    return measure(px, (size_t)img->w * (size_t)img->h, &img->median, &img->mad,
                   &img->n_nonfinite);
}

int ac_image_analyse(ac_image_t *img)
{
    return analyse(img, img->px);
}

void ac_image_free(ac_image_t *img)
{
    if (img == NULL)
        return;
    free(img->px);
    img->px = NULL;
}

void ac_calset_free(ac_calset_t *cs)
{
    if (cs == NULL)
        return;
    free(cs->offset);
    free(cs->bias);
    free(cs->dark_c);
    free(cs->inv_flat);
    free(cs->hot);
    free(cs->dead_rows);
    memset(cs, 0, sizeof *cs);
}

void ac_calib_appendf(char *buf, size_t size, const char *fmt, ...)
{
    size_t n;
    va_list ap;

    if (buf == NULL || size == 0)
        return;
    n = strnlen(buf, size - 1);
    if (n > 0 && n + 2 < size) {
        memcpy(buf + n, "; ", 3);
        n += 2;
    }
    va_start(ap, fmt);
    vsnprintf(buf + n, size - n, fmt, ap);
    va_end(ap);
}

/* add_line formats the next of max lines of width bytes at lines (*n counts those used);
 * dropped when all are used. */
__attribute__((format(printf, 5, 6))) static void
add_line(char *lines, size_t max, size_t width, int *n, const char *fmt, ...)
{
    va_list ap;

    if (*n < 0 || (size_t)*n >= max)
        return;
    va_start(ap, fmt);
    vsnprintf(lines + (size_t)(*n)++ * width, width, fmt, ap);
    va_end(ap);
}

/* hist adds a HISTORY sentence to cs, warnf a warning (printf-like). */
#define LINES_OF(a) (a)[0], sizeof(a) / sizeof((a)[0]), sizeof((a)[0])
#define hist(cs, ...) add_line(LINES_OF((cs)->history), &(cs)->n_history, __VA_ARGS__)
#define warnf(cs, ...) add_line(LINES_OF((cs)->warnings), &(cs)->n_warnings, __VA_ARGS__)

/* median_of is the median of a master: from its pixels when it still has them, else the
 * value ac_image_analyse stored (the same samples, hence the same answer). */
static double median_of(const ac_image_t *img)
{
    double med;

    if (img->px == NULL)
        return img->median;
    if (measure(img->px, (size_t)img->w * (size_t)img->h, &med, NULL, NULL) != 0)
        return NAN;
    return med;
}

bool ac_calib_dark_bias_decision(const ac_image_t *dark, const ac_image_t *bias,
                                 const ac_calib_opts_t *o, char *why, size_t why_size)
{
    char tmp[160];
    double md, mb;

    if (why == NULL || why_size == 0) {
        why = tmp;
        why_size = sizeof tmp;
    }
    if (dark == NULL) {
        snprintf(why, why_size, "No master dark");
        return false;
    }
    if (o->dark_has_bias != AC_TRI_AUTO) {
        snprintf(why, why_size, "Dark %s (configuration)",
                 o->dark_has_bias ? "contains bias" : "is bias-free");
        return o->dark_has_bias == AC_TRI_YES;
    }
    if (dark->meta.bias_subtracted != AC_PROV_UNKNOWN) {
        bool has = dark->meta.bias_subtracted == AC_PROV_NO;
        snprintf(why, why_size, "Dark %s (provenance keyword)",
                 has ? "contains bias" : "is bias-free");
        return has;
    }
    if (bias != NULL) {
        mb = median_of(bias);
        md = median_of(dark);
        if (isfinite(mb) && isfinite(md) && mb > 0) {
            bool has = md >= 0.5 * mb;
            snprintf(why, why_size, "Dark %s (median %.1f %s half the bias median %.1f)",
                     has ? "contains bias" : "is bias-free", md, has ? ">=" : "<", mb);
            return has;
        }
    }
    snprintf(why, why_size, "Dark assumed to contain bias (no provenance keyword, %s)",
             bias ? "bias median not positive" : "no bias to compare");
    return true;
}

int ac_calib_dark_scale(double t_light, const ac_image_t *dark, bool bias_available,
                        bool dark_has_bias, const ac_calib_opts_t *o, double *k, char *warn,
                        size_t warn_size, ac_err_t *e)
{
    double td, ratio;
    char why[160];

    *k = 1.0;
    if (warn != NULL && warn_size > 0)
        warn[0] = '\0';
    if (dark == NULL)
        return 0;
    td = dark->meta.exptime;
    if (!(t_light >= 0) || !(td >= 0)) {
        /* Never silently wrong: without both exposures k = 1 would be a guess (a 15 s
         * DWARF light with a 30 s dark came out with negative hot pixels that way). */
        char keys[64];
        ac_meta_keys_text(AC_FACT_EXPTIME, keys, sizeof keys);
        if (o->force) {
            ac_calib_appendf(warn, warn_size,
                             "%s exposure unknown (no %s): dark %s not scaled (k=1, forced)",
                             t_light >= 0 ? "dark" : "light", keys, ac_path_base(dark->path));
            return 0;
        }
        return ac_err_set(e, AC_EMETADATA,
                          "%s has no exposure (%s tried): cannot tell whether dark %s must "
                          "be scaled",
                          t_light >= 0 ? "the dark" : "the light", keys, dark->path);
    }
    if (fabs(t_light - td) <= fmax(0.5, 0.01 * td))
        return 0;
    ratio = td > 0 ? t_light / td : INFINITY;
    if (dark_has_bias && !bias_available) {
        snprintf(why, sizeof why,
                 "the dark contains the bias and no master bias is given, "
                 "so it cannot be scaled");
    } else if (!(ratio <= o->dark_k_max)) {
        snprintf(why, sizeof why, "scale k=%.3f exceeds dark_k_max %.3f", ratio, o->dark_k_max);
    } else {
        *k = ratio;
        ac_calib_appendf(warn, warn_size,
                         "light EXPTIME %g s vs dark EXPTIME %g s: bias-free dark "
                         "scaled by k=%.3f",
                         t_light, td, ratio);
        return 0;
    }
    if (o->force) {
        ac_calib_appendf(warn, warn_size,
                         "light EXPTIME %g s vs dark EXPTIME %g s: %s; forced k=1", t_light, td,
                         why);
        return 0;
    }
    return ac_err_set(e, AC_EMETADATA, "light EXPTIME %g s vs dark EXPTIME %g s: %s (dark %s)",
                      t_light, td, why, dark->path);
}

const char *ac_calib_cfa_desc(const ac_meta_t *m, char *buf, size_t size)
{
    if (m->bayerpat[0] == '\0')
        snprintf(buf, size, "mono");
    else
        snprintf(buf, size, "%s (XBAYROFF %d, YBAYROFF %d, ROWORDER %s)", m->bayerpat,
                 m->xbayroff, m->ybayroff, m->roworder_bottom_up ? "BOTTOM-UP" : "TOP-DOWN");
    return buf;
}

bool ac_calib_bin_differs(const ac_meta_t *a, const ac_meta_t *b)
{
    return (a->xbin > 0 && b->xbin > 0 && a->xbin != b->xbin) ||
           (a->ybin > 0 && b->ybin > 0 && a->ybin != b->ybin);
}

/* check_masters: all given masters have the size, binning and CFA layout of the first. */
static int check_masters(ac_image_t *const img[M_COUNT], ac_err_t *e)
{
    const ac_image_t *r = NULL;
    int ri = 0;
    char d1[96], d2[96];

    for (int i = 0; i < M_COUNT; i++) {
        const ac_image_t *a = img[i];

        if (a == NULL)
            continue;
        if (r == NULL) {
            r = a;
            ri = i;
            continue;
        }
        if (a->w != r->w || a->h != r->h)
            return ac_err_set(e, AC_EGEOMETRY, "%s %s is %dx%d but %s %s is %dx%d", mname[i],
                              a->path, a->w, a->h, mname[ri], r->path, r->w, r->h);
        if (ac_calib_bin_differs(&a->meta, &r->meta))
            return ac_err_set(e, AC_EGEOMETRY, "%s %s has binning %dx%d but %s %s has %dx%d",
                              mname[i], a->path, a->meta.xbin, a->meta.ybin, mname[ri], r->path,
                              r->meta.xbin, r->meta.ybin);
        if (!ac_meta_cfa_equal(&a->meta, &r->meta))
            return ac_err_set(e, AC_EGEOMETRY, "%s %s has CFA layout %s but %s %s has %s",
                              mname[i], a->path, ac_calib_cfa_desc(&a->meta, d1, sizeof d1),
                              mname[ri], r->path, ac_calib_cfa_desc(&r->meta, d2, sizeof d2));
    }
    return 0;
}

/* validate refuses NaN-filled and all-zero masters and, except in the flat (where they
 * become dead pixels), replaces a few non-finite pixels by the plane median. */
static int validate(ac_calset_t *cs, const ac_image_t *img, float *px, int which, ac_err_t *e)
{
    size_t n = (size_t)img->w * (size_t)img->h, i;

    if (img->n_nonfinite * 100 > n)
        return ac_err_set(
            e, AC_EMASTER,
            "%s %s is NaN-filled: %zu of %zu pixels are not finite (more than 1 %%)",
            mname[which], img->path, img->n_nonfinite, n);
    for (i = 0; i < n; i++)
        if (px[i] != 0 && isfinite(px[i]))
            break;
    if (i == n)
        return ac_err_set(e, AC_EMASTER, "%s %s is all zero", mname[which], img->path);
    if (img->n_nonfinite > 0 && which != M_FLAT) {
        float med = (float)img->median;
        for (i = 0; i < n; i++)
            if (!isfinite(px[i]))
                px[i] = med;
        cs->n_master_nonfinite += img->n_nonfinite;
    }
    return 0;
}

/* flat_raw_decision says whether the flat still carries its offset (raw), with the
 * reason in why. */
static bool flat_is_raw(const ac_image_t *f, const ac_image_t *b, const ac_calib_opts_t *o,
                        char *why, size_t size)
{
    const ac_meta_t *m = &f->meta;

    if (o->flat_is_calibrated != AC_TRI_AUTO) {
        snprintf(why, size, "configuration");
        return o->flat_is_calibrated != AC_TRI_YES;
    }
    if (m->bias_subtracted == AC_PROV_YES || m->dark_subtracted == AC_PROV_YES ||
        m->flat_normalised == AC_PROV_YES) {
        snprintf(why, size, "provenance keyword");
        return false;
    }
    if (m->bias_subtracted == AC_PROV_NO) {
        snprintf(why, size, "provenance keyword");
        return true;
    }
    if (b != NULL && isfinite(b->median) && f->median < b->median) {
        snprintf(why, size, "median %.1f below the bias median %.1f", f->median, b->median);
        return false;
    }
    if (m->bitpix < 0 && f->median > 0.5 && f->median < 2.0) {
        snprintf(why, size, "float flat with median %.3f", f->median);
        return false;
    }
    snprintf(why, size, "assumed raw: no provenance keyword");
    return true;
}

/* cfa_scales computes the robust mean of each CFA colour of F (class_means). */
static int cfa_scales(ac_calset_t *cs, const float *F, const int col[2][2])
{
    cs->n_flat_scales = 3;
    return ac_calib_class_means(cs, F, col, 3, cs->flat_scale);
}

/* prepare_flat calibrates the flat in place when raw, normalises it, checks it and turns
 * it into the inverse-flat plane (taken into cs). Frees the flat-dark. */
static int prepare_flat(ac_calset_t *cs, ac_image_t *const img[M_COUNT], float *px[M_COUNT],
                        const ac_calib_opts_t *o, ac_err_t *e)
{
    const ac_image_t *f = img[M_FLAT], *fd = img[M_FLATDARK];
    float *F = px[M_FLAT], *B = px[M_BIAS], *FD = px[M_FLATDARK];
    size_t w = (size_t)cs->w, h = (size_t)cs->h, n = w * h;
    double sat = f->meta.saturation;
    bool sat_known = f->meta.bitpix > 0 && isfinite(sat) && sat > 0; /* integer flat */
    int col[2][2] = {{0, 0}, {0, 0}};
    char why[128];
    float fmin = (float)o->flat_floor;
    int rc = 0;

    if (!(o->flat_floor > 0 && o->flat_floor < 1))
        return ac_err_set(e, -EINVAL, "flat floor %g is not in (0, 1)", o->flat_floor);
    if (sat_known) {
        size_t ns = 0;
        float lim = (float)(SAT_FRACTION * sat);
        for (size_t i = 0; i < n; i++)
            ns += F[i] >= lim;
        if (ns * 10 > n)
            return ac_err_set(e, AC_EMASTER,
                              "flat %s is saturated: %.1f %% of its pixels are "
                              "at or above %.0f (98 %% of its saturation level %.0f)",
                              f->path, 100.0 * (double)ns / (double)n, (double)lim, sat);
    }
    if (!flat_is_raw(f, img[M_BIAS], o, why, sizeof why)) {
        cs->flat_was_calibrated = true;
        hist(cs, "Flat already calibrated (%s): not calibrated again", why);
        if (fd != NULL)
            warnf(cs, "flat-dark %s not applied: master flat %s is already calibrated (%s)",
                  fd->path, f->path, why);
    } else if (FD != NULL) {
        bool fd_free = fd->meta.bias_subtracted == AC_PROV_YES && B != NULL;
        for (size_t i = 0; i < n; i++)
            F[i] -= FD[i];
        if (fd_free)
            for (size_t i = 0; i < n; i++)
                F[i] -= B[i];
        cs->has_flatdark = true;
        ac_strlcpy(cs->flatdark_name, ac_path_base(fd->path), sizeof cs->flatdark_name);
        ac_strlcpy(cs->flatdark_md5, fd->md5, sizeof cs->flatdark_md5);
        hist(cs, "Flat calibrated by flat-dark%s before normalisation: %s (raw flat: %s)",
             fd_free ? " and bias" : "", cs->flatdark_name, why);
    } else if (B != NULL) {
        for (size_t i = 0; i < n; i++)
            F[i] -= B[i];
        hist(cs, "Flat calibrated by bias before normalisation (raw flat: %s)", why);
    } else {
        warnf(cs,
              "master flat %s is raw (%s) and no bias or flat-dark is given: its offset "
              "stays and distorts the flat field",
              f->path, why);
        hist(cs, "Flat used raw: no bias or flat-dark to remove its offset");
    }
    free(px[M_FLATDARK]);
    px[M_FLATDARK] = NULL;

    if (f->meta.bayerpat[0] != '\0') {
        for (int y = 0; y < 2; y++)
            for (int x = 0; x < 2; x++)
                col[y][x] = ac_meta_cfa_color(&f->meta, x, y);
        if (col[0][0] < 0)
            return ac_err_set(e, AC_EMASTER,
                              "flat %s: Bayer pattern '%s' cannot be "
                              "normalised per colour",
                              f->path, f->meta.bayerpat);
        rc = cfa_scales(cs, F, (const int(*)[2])col);
    } else {
        if ((rc = ac_calib_check_mono_flat(cs, f, F, e)) != 0)
            return rc;
        cs->n_flat_scales = 1;
        rc = ac_stats_clipped_mean(F, n, SCALE_SAMPLES, 3.0, 3, &cs->flat_scale[0]);
        if (rc == -ERANGE) {
            cs->flat_scale[0] = NAN;
            rc = 0;
        }
    }
    if (rc != 0)
        return ac_err_set(e, rc, "flat %s: no memory for its scale", f->path);
    for (int c = 0; c < cs->n_flat_scales; c++) {
        static const char *const cname[3] = {"red ", "green ", "blue "};
        const char *cn = cs->n_flat_scales == 3 ? cname[c] : "";
        double s = cs->flat_scale[c];

        if (!(s > 0))
            return ac_err_set(e, AC_EMASTER, "flat %s has a non-positive %sscale %g%s", f->path,
                              cn, s,
                              cs->flat_was_calibrated ? "" : " after removing its offset");
        if (sat_known && s < 0.01 * sat)
            return ac_err_set(e, AC_EMASTER,
                              "flat %s is nearly empty: %sscale %.1f is below "
                              "1 %% of its saturation level %.0f",
                              f->path, cn, s, sat);
    }
    if (cs->n_flat_scales == 3)
        hist(cs, "Flat normalised per CFA colour: R=%.2f, G=%.2f, B=%.2f", cs->flat_scale[0],
             cs->flat_scale[1], cs->flat_scale[2]);
    else
        hist(cs, "Flat normalised by its robust mean %.2f", cs->flat_scale[0]);

    /* 1 / max(Fc / s, f_min) = s / Fc, or 1 / f_min for dead pixels (Fc / s <= f_min,
     * zero, negative or NaN). */
    cs->dead_rows = calloc(h ? h : 1, sizeof *cs->dead_rows);
    if (cs->dead_rows == NULL)
        return ac_err_set(e, -ENOMEM, "flat %s: no memory", f->path);
    for (size_t y = 0; y < h; y++) {
        float s[2], thr[2], inv_min = 1.0f / fmin;
        uint32_t dead = 0;
        float *row = F + y * w;

        for (int x = 0; x < 2; x++) {
            s[x] = (float)cs->flat_scale[cs->n_flat_scales == 3 ? col[y & 1][x] : 0];
            thr[x] = fmin * s[x];
        }
        for (size_t x = 0; x < w; x++) {
            float v = row[x];
            int d = !(v > thr[x & 1]);
            dead += (uint32_t)d;
            row[x] = d ? inv_min : s[x & 1] / v;
        }
        cs->dead_rows[y] = dead;
        cs->n_dead += dead;
    }
    if (cs->n_dead > 0)
        hist(cs, "%zu dead flat pixels floored at %g", cs->n_dead, o->flat_floor);
    cs->inv_flat = F; /* taken: the flat's buffer is now the inverse flat */
    px[M_FLAT] = NULL;
    cs->has_flat = true;
    ac_strlcpy(cs->flat_name, ac_path_base(f->path), sizeof cs->flat_name);
    ac_strlcpy(cs->flat_md5, f->md5, sizeof cs->flat_md5);
    hist(cs, "Flat divided: %s", cs->flat_name);
    return 0;
}

/* find_hot lists the pixels of the bias-free dark (D - B when B is given) above
 * median + sigma * 1.4826 * MAD. */
static int find_hot(ac_calset_t *cs, const float *D, const float *B, const ac_calib_opts_t *o)
{
    size_t n = (size_t)cs->w * (size_t)cs->h, cap = n < HOT_SAMPLES ? n : HOT_SAMPLES;
    size_t step = (n + cap - 1) / cap, m = 0, cnt = 0, j = 0;
    float *buf;
    double med, mad, thr;

    if (n == 0 || n > UINT32_MAX)
        return 0;
    buf = malloc(cap * sizeof *buf);
    if (buf == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n && m < cap; i += step) {
        float v = B ? D[i] - B[i] : D[i];
        if (isfinite(v))
            buf[m++] = v;
    }
    med = ac_stats_median_inplace(buf, m);
    for (size_t i = 0; i < m; i++)
        buf[i] = fabsf(buf[i] - (float)med);
    mad = ac_stats_median_inplace(buf, m);
    free(buf);
    thr = med + o->cosmetic_sigma * 1.4826 * mad;
    if (!isfinite(thr))
        return 0;
    for (size_t i = 0; i < n; i++)
        cnt += (B ? D[i] - B[i] : D[i]) > thr;
    if (cnt * 100 > n && cnt > 64) {
        warnf(cs, "cosmetic correction skipped: %zu dark pixels above %.1f (more than 1 %%)",
              cnt, thr);
        return 0;
    }
    if (cnt > 0 && (cs->hot = malloc(cnt * sizeof *cs->hot)) == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n && j < cnt; i++)
        if ((B ? D[i] - B[i] : D[i]) > thr)
            cs->hot[j++] = (uint32_t)i;
    cs->n_hot = cnt;
    hist(cs, "%zu hot pixels found in the dark (above %.1f = median + %g x 1.4826 MAD)", cnt,
         thr, o->cosmetic_sigma);
    return 0;
}

/* prepare_offset builds the offset plane (or, for dark optimisation, the bias and the
 * bias-free dark) from the bias and dark buffers, taking them into cs. */
static int prepare_offset(ac_calset_t *cs, ac_image_t *const img[M_COUNT], float *px[M_COUNT],
                          double k, const char *why, const ac_calib_opts_t *o, ac_err_t *e)
{
    float *B = px[M_BIAS], *D = px[M_DARK];
    const ac_image_t *dark = img[M_DARK];
    size_t n = (size_t)cs->w * (size_t)cs->h;
    bool dhb = cs->dark_has_bias;
    int rc;

    if (B != NULL)
        hist(cs, "Bias subtracted: %s", cs->bias_name);
    if (D == NULL) {
        cs->offset = B; /* taken: the bias alone is the offset */
        px[M_BIAS] = NULL;
        return 0;
    }
    if (o->cosmetic && (rc = find_hot(cs, D, dhb ? B : NULL, o)) != 0)
        return ac_err_set(e, rc, "dark %s: no memory for hot pixels", dark->path);
    if (dhb && B == NULL && k != 1.0 && !o->dark_optimize)
        return ac_err_set(e, AC_EMETADATA,
                          "dark %s contains the bias and no master bias is "
                          "given: it cannot be scaled by k=%.3f",
                          dark->path, k);
    if (o->dark_optimize && (!dhb || B != NULL)) {
        if (dhb)
            for (size_t i = 0; i < n; i++)
                D[i] -= B[i];
        cs->bias = B; /* taken: kept apart, k is chosen per light */
        cs->dark_c = D;
        px[M_BIAS] = px[M_DARK] = NULL;
        hist(cs, "%s: %s", why, dhb ? "bias-free dark computed as dark - bias" : "used as is");
        hist(cs, "Dark subtracted: %s, scaled per light by noise optimisation (k in [0, %.2f])",
             cs->dark_name, o->dark_k_max);
        return 0;
    }
    if (o->dark_optimize)
        warnf(cs,
              "dark optimisation needs a bias-free dark: %s contains the bias and no "
              "master bias is given, so k stays 1",
              dark->path);
    if (dhb && B != NULL) {
        if (k != 1.0)
            for (size_t i = 0; i < n; i++)
                D[i] = (float)(B[i] + k * ((double)D[i] - B[i]));
        hist(cs, "%s: bias-free dark computed as dark - bias", why);
    } else if (dhb) {
        k = 1.0;
        hist(cs, "%s: subtracted without separate bias", why);
    } else {
        if (B != NULL || k != 1.0)
            for (size_t i = 0; i < n; i++)
                D[i] = (float)((B ? (double)B[i] : 0.0) + k * D[i]);
        if (B == NULL)
            warnf(cs,
                  "master dark %s is bias-free and no master bias is given: the bias "
                  "stays in the light",
                  dark->path);
        hist(cs, "%s: %s", why,
             B ? "subtracted after the bias" : "the bias stays in the light");
    }
    cs->offset = D; /* taken: the dark's buffer is now the offset plane */
    px[M_DARK] = NULL;
    free(px[M_BIAS]);
    px[M_BIAS] = NULL;
    cs->k = k;
    cs->dark_scaled = k != 1.0;
    hist(cs, "Dark subtracted: %s", cs->dark_name);
    if (k != 1.0)
        hist(cs, "Dark scaled by k=%.3f (bias-free dark)", k);
    return 0;
}

int ac_calib_prepare_take(ac_calset_t *cs, ac_image_t *bias, ac_image_t *dark, ac_image_t *flat,
                          ac_image_t *flatdark, double k, const ac_calib_opts_t *o, ac_err_t *e)
{
    ac_image_t *img[M_COUNT] = {bias, dark, flat, flatdark};
    float *px[M_COUNT] = {NULL, NULL, NULL, NULL};
    ac_image_t *ref = NULL;
    char why[160] = "";
    int rc = 0, blame = -1;

    memset(cs, 0, sizeof *cs);
    cs->k = 1.0;
    cs->dark_exptime = NAN;
    cs->flat_floor = o->flat_floor;
    for (int i = 0; i < M_COUNT; i++) {
        if (img[i] == NULL)
            continue;
        px[i] = img[i]->px; /* taken: freed below or owned by cs */
        img[i]->px = NULL;
        if (ref == NULL)
            ref = img[i];
    }
    if (ref == NULL) {
        rc = ac_err_set(e, -EINVAL, "no master frame given");
        goto fail;
    }
    if (!(k >= 0) || !isfinite(k)) {
        rc = ac_err_set(e, -EINVAL, "dark scale k=%g is not a non-negative number", k);
        goto fail;
    }
    if ((rc = check_masters(img, e)) != 0)
        goto fail;
    for (int i = 0; i < M_COUNT; i++) {
        if (img[i] == NULL)
            continue;
        if (px[i] == NULL) {
            rc = ac_err_set(e, -EINVAL, "%s %s has no pixel data", mname[i], img[i]->path);
            blame = i;
            goto fail;
        }
        if ((rc = analyse(img[i], px[i])) != 0) {
            ac_err_set(e, rc, "%s %s: no memory to analyse it", mname[i], img[i]->path);
            goto fail;
        }
        if ((rc = validate(cs, img[i], px[i], i, e)) != 0) {
            blame = i;
            goto fail;
        }
    }
    cs->w = ref->w;
    cs->h = ref->h;
    cs->geometry = ref->meta;
    cs->geometry.width = ref->w;
    cs->geometry.height = ref->h;
    if (bias) {
        cs->has_bias = true;
        cs->bias_meta = bias->meta;
        ac_strlcpy(cs->bias_name, ac_path_base(bias->path), sizeof cs->bias_name);
        ac_strlcpy(cs->bias_md5, bias->md5, sizeof cs->bias_md5);
    }
    if (dark) {
        cs->has_dark = true;
        cs->dark_meta = dark->meta;
        cs->dark_exptime = dark->meta.exptime;
        cs->dark_has_bias = ac_calib_dark_bias_decision(dark, bias, o, why, sizeof why);
        ac_strlcpy(cs->dark_name, ac_path_base(dark->path), sizeof cs->dark_name);
        ac_strlcpy(cs->dark_md5, dark->md5, sizeof cs->dark_md5);
    }
    if (cs->n_master_nonfinite > 0)
        hist(cs, "%zu non-finite master pixels replaced by the plane median",
             cs->n_master_nonfinite);
    if (flat) {
        cs->flat_meta = flat->meta;
        if ((rc = prepare_flat(cs, img, px, o, e)) != 0) {
            blame = rc == AC_EMASTER ? M_FLAT : -1;
            goto fail;
        }
    }
    if ((rc = prepare_offset(cs, img, px, k, why, o, e)) != 0)
        goto fail;
    if (flatdark != NULL && flat == NULL)
        warnf(cs, "flat-dark %s ignored: no master flat", flatdark->path);
    for (int i = 0; i < M_COUNT; i++)
        free(px[i]); /* whatever prepare did not take (a flat-dark without flat) */
    return 0;
fail:
    for (int i = 0; i < M_COUNT; i++)
        free(px[i]);
    ac_calset_free(cs);
    cs->bad_master = blame;
    return rc;
}
