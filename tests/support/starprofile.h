/*
 * starprofile.h - analytic star profiles with known answers (test support, header only so
 * that the pure core's tests can use it without linking the FITS generator).
 *
 * A star is an elliptical Gaussian or Moffat of unit peak, described the way astrocald
 * reports it: fwhm = sqrt(FWHM_major * FWHM_minor), eccentricity e = sqrt(1 - (b/a)^2), so
 *   FWHM_major = fwhm * (1 - e^2)^(-1/4),  FWHM_minor = fwhm * (1 - e^2)^(1/4),
 * and the angle phi of the major axis from +x towards +y. Along the axes the widths are
 *   Gaussian  sigma_i = FWHM_i / (2 sqrt(2 ln 2))      f = exp(-(u^2/sa^2 + v^2/sb^2) / 2)
 *   Moffat    alpha_i = FWHM_i / (2 sqrt(2^(1/beta)-1)) f = (1 + u^2/aa^2 + v^2/ab^2)^(-beta)
 * with u, v the offsets along the major and minor axis.
 *
 * A pixel's value is the profile integrated over the pixel (mean of an n x n grid of
 * points, see ac_star_pixel), as a camera records it.
 *
 * Half-flux radius in a circular aperture centred on the star (what sep_flux_radius
 * measures, before the pixel's own smoothing). In polar coordinates (r, t) the profile is
 * f(r^2 q(t)) with q(t) = cos^2(t - phi)/wa^2 + sin^2(t - phi)/wb^2, so the flux inside r
 * along direction t is (1/2q) * integral_0^(r^2 q) f(s) ds and
 *   F(r) = (1 / (2 pi wa wb)) * integral_0^(2 pi) G(r^2 q(t)) / q(t) dt,
 *   G(s) = 1 - exp(-s / 2)               (Gaussian)
 *   G(s) = 1 - (1 + s)^(1 - beta)        (Moffat, beta > 1)
 * (the 1/q weights sum to 2 pi wa wb). HFR solves F(HFR) = 1/2. Round stars have closed
 * forms:
 *   Gaussian  HFR = sigma sqrt(2 ln 2) = FWHM / 2
 *   Moffat    HFR = alpha sqrt(2^(1/(beta-1)) - 1)
 * Elliptical stars use the integral (trapezoid rule over the full period, exponentially
 * convergent for this smooth periodic integrand; 720 points give 1e-12) and bisection.
 * Total flux of a unit-peak star: Gaussian 2 pi sa sb, Moffat pi aa ab / (beta - 1).
 */
#ifndef AC_STARPROFILE_H
#define AC_STARPROFILE_H

#include <math.h>
#include <stdbool.h>

typedef struct ac_star_shape {
    bool moffat;
    double fwhm;  /* px, geometric mean of the axes */
    double ecc;   /* 0 <= e < 1 */
    double angle; /* radians */
    double beta;  /* Moffat only */
} ac_star_shape_t;

/* ac_star_width returns the Gaussian sigma or Moffat alpha along the major (minor = false)
 * or minor axis. */
static inline double ac_star_width(const ac_star_shape_t *s, bool minor)
{
    double k = pow(1.0 - s->ecc * s->ecc, 0.25);
    double f = minor ? s->fwhm * k : s->fwhm / k;
    if (s->moffat)
        return f / (2.0 * sqrt(pow(2.0, 1.0 / s->beta) - 1.0));
    return f / (2.0 * sqrt(2.0 * log(2.0)));
}

/* A shape prepared for fast evaluation: the rotation and the inverse squared widths. */
typedef struct ac_star_prep {
    bool moffat;
    double c, s, ia2, ib2, beta;
} ac_star_prep_t;

static inline ac_star_prep_t ac_star_prepare(const ac_star_shape_t *s)
{
    double wa = ac_star_width(s, false), wb = ac_star_width(s, true);
    ac_star_prep_t p = {s->moffat,       cos(s->angle),   sin(s->angle),
                        1.0 / (wa * wa), 1.0 / (wb * wb), s->beta};
    return p;
}

/* ac_star_value_p returns the unit-peak profile at offset (dx, dy) from the centre. */
static inline double ac_star_value_p(const ac_star_prep_t *p, double dx, double dy)
{
    double u = dx * p->c + dy * p->s, v = -dx * p->s + dy * p->c;
    double q = u * u * p->ia2 + v * v * p->ib2;
    return p->moffat ? exp(-p->beta * log1p(q)) : exp(-0.5 * q);
}

/* ac_star_pixel_p returns the profile integrated over the pixel whose centre is (dx, dy)
 * from the star's centre, as the mean of an n x n grid of points. */
static inline double ac_star_pixel_p(const ac_star_prep_t *p, double dx, double dy, int n)
{
    double sum = 0;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < n; i++)
            sum += ac_star_value_p(p, dx - 0.5 + (i + 0.5) / n, dy - 0.5 + (j + 0.5) / n);
    return sum / (n * n);
}

/* ac_star_pixel: ac_star_pixel_p for an unprepared shape. */
static inline double ac_star_pixel(const ac_star_shape_t *s, double dx, double dy, int n)
{
    ac_star_prep_t p = ac_star_prepare(s);
    return ac_star_pixel_p(&p, dx, dy, n);
}

/* ac_star_flux returns the total flux of the unit-peak star. */
static inline double ac_star_flux(const ac_star_shape_t *s)
{
    double wa = ac_star_width(s, false), wb = ac_star_width(s, true);
    return s->moffat ? M_PI * wa * wb / (s->beta - 1.0) : 2.0 * M_PI * wa * wb;
}

/* ac_star_enclosed returns F(r), the fraction of the flux inside radius r (see above). */
static inline double ac_star_enclosed(const ac_star_shape_t *s, double r)
{
    enum { N = 720 };
    double wa = ac_star_width(s, false), wb = ac_star_width(s, true), sum = 0;
    for (int k = 0; k < N; k++) {
        double t = 2.0 * M_PI * k / N, c = cos(t), sn = sin(t);
        double q = c * c / (wa * wa) + sn * sn / (wb * wb), x = r * r * q;
        double g = s->moffat ? 1.0 - pow(1.0 + x, 1.0 - s->beta) : 1.0 - exp(-0.5 * x);
        sum += g / q;
    }
    return sum * (2.0 * M_PI / N) / (2.0 * M_PI * wa * wb);
}

/* ac_star_hfr returns the analytic half-flux radius (px). */
static inline double ac_star_hfr(const ac_star_shape_t *s)
{
    double lo = 0, hi = 100.0 * ac_star_width(s, false);
    for (int i = 0; i < 200 && hi - lo > 1e-12; i++) {
        double mid = 0.5 * (lo + hi);
        if (ac_star_enclosed(s, mid) < 0.5)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

#endif
