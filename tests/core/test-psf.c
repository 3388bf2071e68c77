/*
 * test-psf.c - the PSF fit on analytic stars (tests/support/starprofile.h): noiseless
 * Gaussian and Moffat stars, FWHM 2.5, 3.5 and 5 px, eccentricity 0, 0.3 and 0.6, each
 * pixel the profile integrated over the pixel. Known answers: the shape the star was drawn
 * with (FWHM within 1 %, eccentricity within 0.01, angle, centre, Moffat beta).
 */
#include <errno.h>
#include <stdint.h>

#include "psf.h"
#include "starprofile.h"
#include "test.h"

#define SIDE_MAX AC_PSF_MAX_SIDE

/* draw renders amp * star centred at (cx, cy) into a side x side cutout, each pixel the
 * mean of a 12 x 12 grid, plus a constant offset. */
static void draw(float *cut, int side, const ac_star_shape_t *s, double cx, double cy,
                 double amp, double offset)
{
    for (int j = 0; j < side; j++)
        for (int i = 0; i < side; i++)
            cut[j * side + i] = (float)(offset + amp * ac_star_pixel(s, i - cx, j - cy, 12));
}

static int side_for(double fwhm)
{
    return 2 * (int)ceil(2.5 * fwhm) + 1;
}

static void check_star(bool moffat, double fwhm, double ecc, double angle)
{
    static float cut[SIDE_MAX * SIDE_MAX];
    ac_star_shape_t s = {
        .moffat = moffat, .fwhm = fwhm, .ecc = ecc, .angle = angle, .beta = 3.0};
    int side = side_for(fwhm);
    double c = (side - 1) / 2.0;
    ac_psf_opts_t o;
    ac_psf_t r;

    draw(cut, side, &s, c + 0.27, c - 0.19, 5000.0, 0.0);
    ac_psf_opts_default(&o);
    o.model = moffat ? AC_PSF_MOFFAT : AC_PSF_GAUSSIAN;
    /* Start from what a moment estimate gives: 15 % narrow, centre off by 0.3 px. */
    ASSERT_OK(ac_psf_fit(cut, side, side, c, c, 0.85 * fwhm, &o, &r));
    printf("%s fwhm %.2f e %.1f: fwhm %.4f (maj %.4f min %.4f) e %.4f angle %.4f beta %.3f "
           "iters %d conv %d\n",
           moffat ? "moffat" : "gauss", fwhm, ecc, r.fwhm, r.fwhm_major, r.fwhm_minor, r.ecc,
           r.angle, r.beta, r.iters, r.converged);
    ASSERT(r.converged);
    ASSERT_NEAR(r.fwhm / fwhm, 1.0, 0.01);
    ASSERT_NEAR(r.ecc, ecc, 0.01);
    ASSERT_NEAR(r.x, c + 0.27, 0.01);
    ASSERT_NEAR(r.y, c - 0.19, 0.01);
    ASSERT_NEAR(r.amp / 5000.0, 1.0, 0.02);
    if (ecc >= 0.3) {
        double d = fabs(r.angle - angle);
        if (d > M_PI / 2)
            d = M_PI - d;
        ASSERT_NEAR(d, 0.0, 0.02);
    }
    if (moffat)
        ASSERT_NEAR(r.beta, 3.0, 0.06);
    ASSERT(r.rel_residual < 0.002);
}

TEST(psf_gaussian_known_answers)
{
    const double fwhms[] = {2.5, 3.5, 5.0}, eccs[] = {0.0, 0.3, 0.6};
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++)
            check_star(false, fwhms[i], eccs[k], 0.6);
}

TEST(psf_moffat_known_answers)
{
    const double fwhms[] = {2.5, 3.5, 5.0}, eccs[] = {0.0, 0.3, 0.6};
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++)
            check_star(true, fwhms[i], eccs[k], -1.0);
}

TEST(psf_moffat_fixed_beta_and_angle_range)
{
    static float cut[SIDE_MAX * SIDE_MAX];
    /* Major axis along +y: angle pi/2 (the range is (-pi/2, pi/2]). */
    ac_star_shape_t s = {
        .moffat = true, .fwhm = 4.0, .ecc = 0.5, .angle = M_PI / 2, .beta = 4.5};
    int side = side_for(4.0);
    double c = (side - 1) / 2.0;
    ac_psf_opts_t o;
    ac_psf_t r;

    draw(cut, side, &s, c, c, 1000.0, 0.0);
    ac_psf_opts_default(&o);
    o.model = AC_PSF_MOFFAT;
    o.fit_beta = false;
    o.beta = 4.5;
    ASSERT_OK(ac_psf_fit(cut, side, side, c, c, 4.0, &o, &r));
    ASSERT(r.converged);
    ASSERT_NEAR(r.beta, 4.5, 0);
    ASSERT_NEAR(r.fwhm, 4.0, 0.04);
    ASSERT_NEAR(r.ecc, 0.5, 0.01);
    ASSERT_NEAR(r.angle, M_PI / 2, 0.02);
    ASSERT(r.angle <= M_PI / 2 && r.angle > -M_PI / 2);
    /* Major and minor axes: FWHM (1 - e^2)^(-+1/4). */
    ASSERT_NEAR(r.fwhm_major, 4.0 / pow(0.75, 0.25), 0.04);
    ASSERT_NEAR(r.fwhm_minor, 4.0 * pow(0.75, 0.25), 0.04);
}

/* A residual background offset is absorbed by the free B. */
TEST(psf_offset_absorbed)
{
    static float cut[SIDE_MAX * SIDE_MAX];
    ac_star_shape_t s = {.moffat = false, .fwhm = 3.0, .ecc = 0.0};
    int side = side_for(3.0);
    double c = (side - 1) / 2.0;
    ac_psf_opts_t o;
    ac_psf_t r;

    draw(cut, side, &s, c, c, 800.0, 37.0);
    ac_psf_opts_default(&o);
    ASSERT_OK(ac_psf_fit(cut, side, side, c, c, 3.0, &o, &r));
    ASSERT_NEAR(r.bg, 37.0, 0.1);
    ASSERT_NEAR(r.fwhm, 3.0, 0.03);
}

/* With noise (seeded, sd 1 % of the peak) the fit stays within 3 %. */
TEST(psf_noisy_star)
{
    static float cut[SIDE_MAX * SIDE_MAX];
    ac_star_shape_t s = {.moffat = false, .fwhm = 3.5, .ecc = 0.3, .angle = 0.2};
    int side = side_for(3.5);
    double c = (side - 1) / 2.0;
    uint64_t st = 0x9e3779b97f4a7c15ull;
    ac_psf_opts_t o;
    ac_psf_t r;

    draw(cut, side, &s, c, c, 1000.0, 0.0);
    for (int k = 0; k < side * side; k++) {
        double u = 0;
        for (int i = 0; i < 12; i++) { /* Irwin-Hall: sd 1 */
            st ^= st << 13, st ^= st >> 7, st ^= st << 17;
            u += (double)(st >> 11) / 9007199254740992.0;
        }
        cut[k] += (float)(10.0 * (u - 6.0));
    }
    ac_psf_opts_default(&o);
    ASSERT_OK(ac_psf_fit(cut, side, side, c, c, 3.0, &o, &r));
    ASSERT(r.converged);
    ASSERT_NEAR(r.fwhm / 3.5, 1.0, 0.03);
    ASSERT_NEAR(r.ecc, 0.3, 0.05);
    ASSERT_NEAR(r.rms, 10.0, 1.0);
}

/* A hot pixel (one bright pixel) fits far narrower than any star. */
TEST(psf_hot_pixel_is_sharp)
{
    float cut[9 * 9] = {0};
    ac_psf_opts_t o;
    ac_psf_t r;

    cut[4 * 9 + 4] = 3000.0f;
    ac_psf_opts_default(&o);
    ASSERT_OK(ac_psf_fit(cut, 9, 9, 4.0, 4.0, 2.0, &o, &r));
    ASSERT(r.fwhm < 0.8);
}

TEST(psf_fwhm_factor_and_bad_input)
{
    float cut[5 * 5] = {0};
    ac_psf_opts_t o;
    ac_psf_t r;

    ASSERT_NEAR(ac_psf_fwhm_factor(AC_PSF_GAUSSIAN, 0), 2.3548200450309493, 1e-12);
    /* beta 1: the Lorentzian, FWHM = 2 alpha. */
    ASSERT_NEAR(ac_psf_fwhm_factor(AC_PSF_MOFFAT, 1.0), 2.0, 1e-12);
    ac_psf_opts_default(&o);
    ASSERT_EQ(ac_psf_fit(cut, 2, 2, 1, 1, 2.0, &o, &r), -EINVAL);
    ASSERT_EQ(ac_psf_fit(cut, 5, 5, 2, 2, 0.0, &o, &r), -EINVAL);
    ASSERT_EQ(ac_psf_fit(cut, 5, 5, NAN, 2, 2.0, &o, &r), -EINVAL);
    ASSERT_EQ(ac_psf_fit(cut, AC_PSF_MAX_SIDE + 1, 5, 2, 2, 2.0, &o, &r), -EINVAL);
    for (int k = 0; k < 25; k++)
        cut[k] = NAN;
    ASSERT_EQ(ac_psf_fit(cut, 5, 5, 2, 2, 2.0, &o, &r), -EINVAL);
}

/* The analytic half-flux radius of round stars has closed forms (starprofile.h); the
 * numerical integral used for elliptical stars must reproduce them. */
TEST(psf_analytic_hfr_closed_forms)
{
    ac_star_shape_t g = {.moffat = false, .fwhm = 3.0};
    ac_star_shape_t m = {.moffat = true, .fwhm = 3.0, .beta = 3.0};
    double alpha = 3.0 / (2.0 * sqrt(pow(2.0, 1.0 / 3.0) - 1.0));

    ASSERT_NEAR(ac_star_hfr(&g), 1.5, 1e-9);
    ASSERT_NEAR(ac_star_hfr(&m), alpha * sqrt(pow(2.0, 0.5) - 1.0), 1e-9);
    /* Elliptical: F(HFR) = 1/2 and the HFR lies between the axes' round-star values. */
    g.ecc = 0.6;
    double h = ac_star_hfr(&g);
    ASSERT(h > 1.5 * pow(0.64, 0.25) && h < 1.5 / pow(0.64, 0.25));
    ASSERT_NEAR(ac_star_enclosed(&g, h), 0.5, 1e-9);
}
