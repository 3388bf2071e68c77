/*
 * psf.c - Levenberg-Marquardt fit of an elliptical Gaussian or Moffat (see psf.h).
 *
 * Parameters p: B, A, x0, y0, cxx, cyy, cxy and, for a Moffat with free beta, u = 1/beta
 * (held at its bound, 0 or 1/1.05, while the step pushes past it). The
 * normal equations (J^T J, J^T r, at most 8 x 8) are accumulated pixel by pixel from the
 * analytic derivatives of the pixel-integrated model, damped as J^T J + lambda diag(J^T J)
 * and solved by Cholesky. lambda falls tenfold after an accepted step and rises tenfold
 * after a refused one; the fit has converged when a step lowers the residual by less than
 * a relative 1e-6 or moves no parameter by more than a relative 1e-8, or when no damping
 * up to 1e12 finds a lower residual (the minimum, to the precision of the residual).
 *
 * Thread: pure; all state is on the stack.
 */
#include "psf.h"

#include <errno.h>
#include <math.h>
#include <string.h>

enum { P_BG, P_A, P_X, P_Y, P_CXX, P_CYY, P_CXY, P_U, NP_MAX };

#define MIN_FWHM 0.05
#define U_MAX (1.0 / 1.05) /* beta >= 1.05 */
#define LAMBDA_MAX 1e12

struct fit {
    const float *cut;
    int w, h, np, s;
    ac_psf_model_t model;
    double u; /* 1 / beta when u is not a parameter (0: the Gaussian) */
    double off[8];
};

void ac_psf_opts_default(ac_psf_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->model = AC_PSF_GAUSSIAN;
    o->fit_beta = true;
    o->beta = 3.0;
    o->subpix = 0;
    o->max_iter = 60;
}

double ac_psf_fwhm_factor(ac_psf_model_t model, double beta)
{
    if (model == AC_PSF_MOFFAT)
        return 2.0 * sqrt(pow(2.0, 1.0 / beta) - 1.0);
    return 2.0 * sqrt(2.0 * log(2.0));
}

double ac_psf_hfr_blur(double beta)
{
    if (!(beta > 1) || !isfinite(beta) || beta > 1e6)
        return 2.0 * M_LN2;
    double s = pow(2.0, 1.0 / (beta - 1.0)) - 1.0;
    return isfinite(s) ? 2.0 * beta * s / (1.0 + s) : 2.0 * beta;
}

static double u_of(const struct fit *f, const double *p)
{
    return f->np > P_U ? p[P_U] : f->u;
}

/* halfq returns the q at which the profile is half its peak: (2^u - 1) / u, ln 2 at u = 0. */
static double halfq(double u)
{
    return u > 1e-9 ? expm1(u * M_LN2) / u : M_LN2;
}

/* model_px returns the pixel-integrated model at pixel (i, j); with g != NULL it also
 * writes the derivative by each of the f->np parameters. The profile is exp(-q) (u = 0)
 * or (1 + u q)^(-1/u), the Moffat with beta = 1 / u, alpha^2 = 1 / (u l), which tends to
 * the Gaussian as u -> 0. */
static double model_px(const struct fit *f, const double *p, int i, int j, double *g)
{
    double sum = 0, sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0, su = 0;
    double u = u_of(f, p), a = p[P_A];

    for (int v = 0; v < f->s; v++) {
        double dy = j + f->off[v] - p[P_Y];
        for (int k = 0; k < f->s; k++) {
            double dx = i + f->off[k] - p[P_X];
            double q = p[P_CXX] * dx * dx + p[P_CYY] * dy * dy + p[P_CXY] * dx * dy;
            double m, dmdq;
            if (q < 0)
                q = 0;
            if (u > 0) {
                double uq = u * q, l = log1p(uq);
                m = exp(-l / u);
                dmdq = -m / (1.0 + uq);
                if (g != NULL)
                    su += uq < 1e-3 ? m * q * q * (0.5 - 2.0 * uq / 3.0)
                                    : m * (l / (u * u) - q / (u * (1.0 + uq)));
            } else {
                m = exp(-q);
                dmdq = -m;
                su += m * q * q * 0.5;
            }
            sum += m;
            if (g == NULL)
                continue;
            sx += dmdq * (2.0 * p[P_CXX] * dx + p[P_CXY] * dy);
            sy += dmdq * (2.0 * p[P_CYY] * dy + p[P_CXY] * dx);
            sxx += dmdq * dx * dx;
            syy += dmdq * dy * dy;
            sxy += dmdq * dx * dy;
        }
    }
    double n = (double)(f->s * f->s);
    if (g != NULL) {
        g[P_BG] = 1.0;
        g[P_A] = sum / n;
        g[P_X] = -a * sx / n;
        g[P_Y] = -a * sy / n;
        g[P_CXX] = a * sxx / n;
        g[P_CYY] = a * syy / n;
        g[P_CXY] = a * sxy / n;
        if (f->np > P_U)
            g[P_U] = a * su / n;
    }
    return p[P_BG] + a * sum / n;
}

/* normal builds J^T J and J^T r at p (jtj, jtr may be NULL for the residual alone) and
 * returns the sum of squared residuals. */
static double normal(const struct fit *f, const double *p, double jtj[NP_MAX][NP_MAX],
                     double *jtr)
{
    double chi2 = 0, g[NP_MAX];
    int np = f->np;

    if (jtj != NULL) {
        memset(jtj, 0, sizeof(double) * NP_MAX * NP_MAX);
        memset(jtr, 0, sizeof(double) * NP_MAX);
    }
    for (int j = 0; j < f->h; j++) {
        for (int i = 0; i < f->w; i++) {
            float d = f->cut[(size_t)j * f->w + i];
            if (!isfinite(d))
                continue;
            double r = d - model_px(f, p, i, j, jtj != NULL ? g : NULL);
            chi2 += r * r;
            if (jtj == NULL)
                continue;
            for (int k = 0; k < np; k++) {
                jtr[k] += g[k] * r;
                for (int l = 0; l <= k; l++)
                    jtj[k][l] += g[k] * g[l];
            }
        }
    }
    return chi2;
}

/* cholesky_solve solves a x = b for the symmetric n x n matrix a (lower triangle used),
 * in place in b. Returns -1 when a is not positive definite. */
static int cholesky_solve(double a[NP_MAX][NP_MAX], double *b, int n)
{
    double l[NP_MAX][NP_MAX];

    for (int i = 0; i < n; i++) {
        for (int j = 0; j <= i; j++) {
            double s = a[i][j];
            for (int k = 0; k < j; k++)
                s -= l[i][k] * l[j][k];
            if (i == j) {
                if (!(s > 0))
                    return -1;
                l[i][i] = sqrt(s);
            } else {
                l[i][j] = s / l[j][j];
            }
        }
    }
    for (int i = 0; i < n; i++) {
        double s = b[i];
        for (int k = 0; k < i; k++)
            s -= l[i][k] * b[k];
        b[i] = s / l[i][i];
    }
    for (int i = n - 1; i >= 0; i--) {
        double s = b[i];
        for (int k = i + 1; k < n; k++)
            s -= l[k][i] * b[k];
        b[i] = s / l[i][i];
    }
    return 0;
}

/* eigen2 returns the eigenvalues lo <= hi of the form [[cxx, cxy/2], [cxy/2, cyy]] and the
 * angle of the eigenvector of lo (the major axis) in (-pi/2, pi/2]. */
static void eigen2(double cxx, double cyy, double cxy, double *lo, double *hi, double *angle)
{
    double m = 0.5 * (cxx + cyy), d = hypot(0.5 * (cxx - cyy), 0.5 * cxy);
    double t = 0.5 * atan2(cxy, cxx - cyy) + M_PI / 2;

    *lo = m - d;
    *hi = m + d;
    while (t > M_PI / 2)
        t -= M_PI;
    /* (-pi/2, pi/2]: -pi/2 itself (to rounding) is pi/2. */
    if (t <= -M_PI / 2 + 1e-9)
        t += M_PI;
    if (t > M_PI / 2)
        t = M_PI / 2;
    *angle = t;
}

static bool valid(const struct fit *f, const double *p)
{
    double lo, hi, ang, hq = halfq(u_of(f, p));
    double side = f->w > f->h ? f->w : f->h;

    for (int k = 0; k < f->np; k++)
        if (!isfinite(p[k]))
            return false;
    if (!(p[P_A] > 0) || p[P_X] < -0.5 || p[P_Y] < -0.5 || p[P_X] > f->w - 0.5 ||
        p[P_Y] > f->h - 0.5)
        return false;
    if (f->np > P_U && (p[P_U] < 0 || p[P_U] > U_MAX))
        return false;
    eigen2(p[P_CXX], p[P_CYY], p[P_CXY], &lo, &hi, &ang);
    /* FWHM_i = 2 sqrt(halfq / l_i): between MIN_FWHM and twice the cutout side. */
    return lo > 0 && hi <= 4.0 * hq / (MIN_FWHM * MIN_FWHM) && lo >= hq / (side * side);
}

static int subpix_for(double fwhm0)
{
    return fwhm0 < 3 ? 4 : fwhm0 < 5 ? 3 : 2;
}

static void finish(const struct fit *f, const double *p, double chi2, int nfin, ac_psf_t *out)
{
    double lo, hi, ang, u = u_of(f, p), hq = halfq(u);
    /* The s x s grid smooths by 1/(12 s^2) px^2 less than the pixel (see psf.h); in FWHM^2
     * of a Gaussian that is 8 ln 2 / (12 s^2). */
    double corr = 8.0 * M_LN2 / (12.0 * f->s * f->s);

    eigen2(p[P_CXX], p[P_CYY], p[P_CXY], &lo, &hi, &ang);
    double fmaj = 2.0 * sqrt(hq / lo), fmin = 2.0 * sqrt(hq / hi);
    fmaj = sqrt(fmaj * fmaj > corr ? fmaj * fmaj - corr : 0);
    fmin = sqrt(fmin * fmin > corr ? fmin * fmin - corr : 0);
    out->bg = p[P_BG];
    out->amp = p[P_A];
    out->x = p[P_X];
    out->y = p[P_Y];
    out->fwhm_major = fmaj;
    out->fwhm_minor = fmin;
    out->fwhm = sqrt(fmaj * fmin);
    out->ecc = fmaj > 0 ? sqrt(fmax(0.0, 1.0 - (fmin / fmaj) * (fmin / fmaj))) : 0;
    out->angle = ang;
    out->beta = f->model == AC_PSF_MOFFAT ? (u > 0 ? 1.0 / u : INFINITY) : NAN;
    out->rms = sqrt(chi2 / nfin);
    out->rel_residual = out->rms / p[P_A];
}

int ac_psf_fit(const float *cut, int w, int h, double x0, double y0, double fwhm0,
               const ac_psf_opts_t *o, ac_psf_t *out)
{
    struct fit f = {.cut = cut, .w = w, .h = h, .model = o->model};
    double p[NP_MAX], pn[NP_MAX], jtj[NP_MAX][NP_MAX], jtr[NP_MAX], a[NP_MAX][NP_MAX];
    double chi2, lambda = 1e-3, peak = -INFINITY;
    int nfin = 0, it = 0;
    bool converged = false;

    memset(out, 0, sizeof *out);
    if (w < 3 || h < 3 || w > AC_PSF_MAX_SIDE || h > AC_PSF_MAX_SIDE || !(fwhm0 > 0) ||
        !isfinite(x0) || !isfinite(y0) || (o->model == AC_PSF_MOFFAT && !(o->beta > 1)))
        return -EINVAL;
    f.u = o->model == AC_PSF_MOFFAT ? 1.0 / o->beta : 0.0;
    f.np = o->model == AC_PSF_MOFFAT && o->fit_beta ? P_U + 1 : P_U;
    f.s = o->subpix > 0 ? (o->subpix > 8 ? 8 : o->subpix) : subpix_for(fwhm0);
    for (int k = 0; k < f.s; k++)
        f.off[k] = -0.5 + (k + 0.5) / f.s;
    for (int k = 0; k < w * h; k++) {
        if (isfinite(cut[k])) {
            nfin++;
            if (cut[k] > peak)
                peak = cut[k];
        }
    }
    if (nfin < 2 * f.np)
        return -EINVAL;

    p[P_BG] = 0;
    p[P_A] = peak > 0 ? peak : 1e-6;
    p[P_X] = x0;
    p[P_Y] = y0;
    p[P_CXX] = p[P_CYY] = 4.0 * halfq(f.u) / (fwhm0 * fwhm0);
    p[P_CXY] = 0;
    p[P_U] = f.u;
    if (!valid(&f, p))
        return -EINVAL;

    chi2 = normal(&f, p, jtj, jtr);
    while (it < o->max_iter) {
        double step = 0;
        it++;
        memcpy(a, jtj, sizeof a);
        for (int k = 0; k < f.np; k++)
            a[k][k] *= 1.0 + lambda;
        memcpy(pn, jtr, sizeof pn);
        int rc = cholesky_solve(a, pn, f.np);
        /* Active bound: beta at infinity (u = 0) or at 1.05 with the step pushing past it is
         * held there and the others solved without it, rather than projected afterwards
         * (which zigzags). */
        if (rc == 0 && f.np > P_U &&
            ((p[P_U] <= 0 && pn[P_U] < 0) || (p[P_U] >= U_MAX && pn[P_U] > 0))) {
            memcpy(a, jtj, sizeof a);
            for (int k = 0; k < P_U; k++)
                a[k][k] *= 1.0 + lambda;
            memcpy(pn, jtr, sizeof pn);
            rc = cholesky_solve(a, pn, P_U);
            pn[P_U] = 0;
        }
        if (rc == 0) {
            for (int k = 0; k < f.np; k++)
                pn[k] += p[k];
            for (int k = f.np; k < NP_MAX; k++)
                pn[k] = p[k];
            /* Projected step: beta stays within [1.05, infinity] (infinity: the Gaussian). */
            if (f.np > P_U)
                pn[P_U] = pn[P_U] < 0 ? 0 : pn[P_U] > U_MAX ? U_MAX : pn[P_U];
            for (int k = 0; k < f.np; k++)
                step = fmax(step, fabs(pn[k] - p[k]) / (fabs(p[k]) + 1e-6));
            double c2 = valid(&f, pn) ? normal(&f, pn, NULL, NULL) : INFINITY;
            if (c2 < chi2) {
                double rel = (chi2 - c2) / chi2;
                memcpy(p, pn, sizeof p);
                lambda = fmax(lambda / 10, 1e-9);
                chi2 = normal(&f, p, jtj, jtr);
                if (rel < 1e-6 || step < 1e-8) {
                    converged = true;
                    break;
                }
                continue;
            }
        }
        lambda *= 10;
        if (lambda > LAMBDA_MAX) {
            converged = true;
            break;
        }
    }
    finish(&f, p, chi2, nfin, out);
    out->iters = it;
    out->converged = converged;
    return 0;
}
