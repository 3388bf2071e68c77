/*
 * grade.c - judging calibrated lights by their star metrics (see grade.h).
 */
#include "grade.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

void ac_grade_rules_default(ac_grade_rules_t *r)
{
    r->fwhm_mad_k = 3.0;
    r->fwhm_min_excess = 0.10;
    r->min_star_fraction = 0.75;
    r->max_eccentricity = 0.6;
    r->min_snr_fraction = 0.7;
    r->max_nonfinite = 0.01;
    r->max_flat_residual = 0.05;
    r->min_session_frames = 3;
}

/* median_of returns the median (and, when mad is not NULL, the raw MAD) of the finite
 * values of field off in figs; NAN when there is none. */
static double median_of(const ac_grade_fig_t *figs, size_t n, size_t off, double *mad)
{
    float *v = malloc((n ? n : 1) * sizeof *v);
    double med = NAN, m = NAN;

    if (v != NULL) {
        for (size_t i = 0; i < n; i++) {
            const char *p = (const char *)&figs[i] + off;
            v[i] = off == offsetof(ac_grade_fig_t, stars) ? (float)*(const int *)p
                                                          : (float)*(const double *)p;
        }
        if (ac_stats_median_mad(v, n, 0, &med, &m) != 0)
            med = m = NAN;
        free(v);
    }
    if (mad != NULL)
        *mad = m;
    return med;
}

void ac_grade_reference(const ac_grade_fig_t *figs, size_t n, ac_grade_ref_t *ref)
{
    memset(ref, 0, sizeof *ref);
    ref->n = (int)n;
    ref->fwhm = median_of(figs, n, offsetof(ac_grade_fig_t, fwhm), &ref->fwhm_mad);
    ref->hfr = median_of(figs, n, offsetof(ac_grade_fig_t, hfr), NULL);
    ref->ecc = median_of(figs, n, offsetof(ac_grade_fig_t, ecc), NULL);
    ref->stars = median_of(figs, n, offsetof(ac_grade_fig_t, stars), NULL);
    ref->snr = median_of(figs, n, offsetof(ac_grade_fig_t, snr), NULL);
}

/* add_reason appends "; text" (or text) to v->reasons and marks the light rejected. */
__attribute__((format(printf, 2, 3))) static void add_reason(ac_grade_verdict_t *v,
                                                             const char *fmt, ...)
{
    size_t len = strlen(v->reasons);
    va_list ap;

    if (len > 0 && len + 2 < sizeof v->reasons) {
        memcpy(v->reasons + len, "; ", 3);
        len += 2;
    }
    va_start(ap, fmt);
    vsnprintf(v->reasons + len, sizeof v->reasons - len, fmt, ap);
    va_end(ap);
    v->rejected = true;
}

static double ratio1(double a, double b)
{
    if (!(a > 0) || !(b > 0))
        return 1;
    return a < b ? a / b : 1;
}

int ac_grade_judge(const ac_grade_fig_t *figs, size_t n, const ac_grade_rules_t *r,
                   ac_grade_verdict_t *out)
{
    ac_grade_ref_t ref;
    bool relative = (int)n >= r->min_session_frames;
    double fwhm_lim;

    ac_grade_reference(figs, n, &ref);
    fwhm_lim =
        ref.fwhm + fmax(r->fwhm_mad_k * 1.4826 * ref.fwhm_mad, r->fwhm_min_excess * ref.fwhm);
    for (size_t i = 0; i < n; i++) {
        const ac_grade_fig_t *f = &figs[i];
        ac_grade_verdict_t *v = &out[i];

        memset(v, 0, sizeof *v);
        if (f->nonfinite > r->max_nonfinite)
            add_reason(v, "nonfinite %.4f > %.4f", f->nonfinite, r->max_nonfinite);
        if (isfinite(f->flat_residual) && fabs(f->flat_residual) > r->max_flat_residual)
            add_reason(v, "flat %+.3f beyond %.3f", f->flat_residual, r->max_flat_residual);
        if (f->stars <= 0) {
            add_reason(v, "nostars");
        } else {
            if (isfinite(f->ecc) && f->ecc > r->max_eccentricity)
                add_reason(v, "eccentricity %.2f > %.2f", f->ecc, r->max_eccentricity);
            if (relative && isfinite(f->fwhm) && isfinite(fwhm_lim) && f->fwhm > fwhm_lim)
                add_reason(v, "fwhm %.2f > %.2f (median %.2f)", f->fwhm, fwhm_lim, ref.fwhm);
            if (relative && ref.stars > 0 && f->stars < r->min_star_fraction * ref.stars)
                add_reason(v, "stars %d < %.2f x %.0f", f->stars, r->min_star_fraction,
                           ref.stars);
            if (relative && ref.snr > 0 && isfinite(f->snr) &&
                f->snr < r->min_snr_fraction * ref.snr)
                add_reason(v, "snr %.1f < %.2f x %.1f", f->snr, r->min_snr_fraction, ref.snr);
        }
        /* Score: 100 at the session's medians or better, the product of the ratios below. */
        v->score = f->stars <= 0 ? 0
                                 : 100 * ratio1(ref.fwhm, f->fwhm) *
                                       ratio1(f->stars, ref.stars) * ratio1(f->snr, ref.snr) *
                                       (isfinite(f->ecc) ? 1 - fmax(0, f->ecc - 0.2) : 1);
    }
    return 0;
}

/* node_pos returns the centre of mesh cell i (of size cell, the last one cut at n) in
 * -1..1 over n pixels. */
static double node_pos(int i, int cell, int n)
{
    double lo = (double)i * cell, hi = fmin((double)(i + 1) * cell, n);

    return (lo + hi) / n - 1;
}

double ac_grade_flat_residual(const float *mesh, int nx, int ny, int cell_w, int cell_h,
                              int width, int height, double rms)
{
    double c[4] = {0}, res_sd = 0, xs[4096], ys[4096];
    bool keep_all = true;

    if (mesh == NULL || nx < 3 || ny < 3 || nx > 4096 || ny > 4096 || cell_w < 1 ||
        cell_h < 1 || width < 1 || height < 1)
        return NAN;
    for (int i = 0; i < nx; i++)
        xs[i] = node_pos(i, cell_w, width);
    for (int j = 0; j < ny; j++)
        ys[j] = node_pos(j, cell_h, height);
    for (int pass = 0; pass < 2; pass++) {
        double a[4][5] = {{0}}, ss = 0;
        int used = 0;
        for (int j = 0; j < ny; j++) {
            for (int i = 0; i < nx; i++) {
                double x = xs[i], y = ys[j];
                double b[4] = {1, x, y, (x * x + y * y) / 2}, z = mesh[j * nx + i];
                if (!isfinite(z))
                    continue;
                if (!keep_all) {
                    double m = c[0] + c[1] * x + c[2] * y + c[3] * b[3];
                    if (fabs(z - m) > 3 * res_sd)
                        continue;
                }
                for (int p = 0; p < 4; p++) {
                    for (int q = 0; q < 4; q++)
                        a[p][q] += b[p] * b[q];
                    a[p][4] += b[p] * z;
                }
                used++;
            }
        }
        if (used < 5)
            return NAN;
        /* Gauss-Jordan with partial pivoting on the 4 x 4 normal equations. */
        for (int p = 0; p < 4; p++) {
            int piv = p;
            for (int q = p + 1; q < 4; q++)
                if (fabs(a[q][p]) > fabs(a[piv][p]))
                    piv = q;
            if (fabs(a[piv][p]) < 1e-12)
                return NAN;
            for (int k = 0; k < 5; k++) {
                double t = a[p][k];
                a[p][k] = a[piv][k];
                a[piv][k] = t;
            }
            for (int q = 0; q < 4; q++) {
                if (q == p)
                    continue;
                double f = a[q][p] / a[p][p];
                for (int k = p; k < 5; k++)
                    a[q][k] -= f * a[p][k];
            }
        }
        for (int p = 0; p < 4; p++)
            c[p] = a[p][4] / a[p][p];
        for (int j = 0; j < ny; j++) {
            for (int i = 0; i < nx; i++) {
                double x = xs[i], y = ys[j];
                double d = mesh[j * nx + i] -
                           (c[0] + c[1] * x + c[2] * y + c[3] * (x * x + y * y) / 2);
                if (isfinite(d))
                    ss += d * d;
            }
        }
        res_sd = sqrt(ss / used) + 1e-12;
        keep_all = false;
    }
    if (!(c[0] > 5 * rms) || !(c[0] > 0))
        return NAN;
    return c[3] / c[0];
}

int ac_grade_cards(ac_hdr_t *h, const ac_grade_fig_t *f, bool with_scale)
{
    int rc = 0;

    if (isfinite(f->fwhm))
        rc = ac_hdr_add_double(h, "FWHM", f->fwhm, "[px] median star FWHM (PSF fit)");
    if (rc == 0 && isfinite(f->hfr))
        rc = ac_hdr_add_double(h, "HFR", f->hfr, "[px] median half-flux radius");
    if (rc == 0 && isfinite(f->ecc))
        rc = ac_hdr_add_double(h, "ECCENTR", f->ecc, "eccentricity of the mean star shape");
    if (rc == 0)
        rc = ac_hdr_add_int(h, "STARCNT", f->stars, "stars measured by astrocald");
    if (rc == 0 && isfinite(f->snr))
        rc = ac_hdr_add_double(h, "IMGSNR", f->snr, "image SNR of all stars' flux");
    if (rc == 0 && isfinite(f->flat_residual))
        rc = ac_hdr_add_double(h, "FLATRES", f->flat_residual,
                               "corner/centre background residual after flat");
    if (rc == 0 && with_scale && isfinite(f->scale) && f->scale > 0)
        rc = ac_hdr_add_double(h, "PIXSCALE", f->scale, "[arcsec/px] image scale");
    return rc;
}

void ac_grade_qreject_value(const char *reasons, char *out, size_t size)
{
    const size_t max = 68 < size - 1 ? 68 : size - 1;
    size_t len = strlen(reasons);

    if (len <= max) {
        snprintf(out, size, "%s", reasons);
        return;
    }
    /* Cut at the last rule boundary that leaves room for "...". */
    size_t cut = 0;
    for (const char *p = reasons; (p = strstr(p, "; ")) != NULL; p += 2)
        if ((size_t)(p - reasons) + 3 <= max)
            cut = (size_t)(p - reasons);
    if (cut == 0)
        cut = max - 3;
    snprintf(out, size, "%.*s...", (int)cut, reasons);
}
