/*
 * test-stars.c - star metrics (work/stars.h) on synthetic star fields with a known PSF
 * (tests/support/starfield.h). Known answers:
 *  - FWHM: the PSF's, sqrt(FWHM_major * FWHM_minor) as drawn;
 *  - HFR: the analytic half-flux radius of the PSF in a circular aperture (starprofile.h):
 *      round Gaussian  HFR = sigma sqrt(2 ln 2) = FWHM / 2
 *      round Moffat    HFR = alpha sqrt(2^(1/(beta-1)) - 1),  alpha = FWHM / (2 sqrt(2^(1/beta)-1))
 *      elliptical      F(HFR) = 1/2 with F(r) = (1/(2 pi wa wb)) int_0^2pi G(r^2 q(t)) / q(t) dt,
 *                      q(t) = cos^2 t / wa^2 + sin^2 t / wb^2, G(s) = 1 - exp(-s/2) (Gaussian)
 *                      or 1 - (1 + s)^(1 - beta) (Moffat), wa, wb the axes' sigma or alpha;
 *  - eccentricity: as drawn; star count: the generator's detectable stars (peak >= 20 x the
 *    sky noise, not saturated), none of the saturated stars, hot pixels, cosmic rays or the
 *    trail counted.
 * Tolerances (issue 11): median FWHM and HFR within 5 %, eccentricity within 0.05, count
 * within 10 %.
 */
#include <errno.h>
#include <pthread.h>

#include "starfield.h"
#include "stars.h"
#include "test.h"

static void measure(const ac_starfield_spec_t *sp, ac_starfield_t *f, ac_stars_result_t *r)
{
    ac_stars_opts_t o;
    ac_err_t e = {0};
    ac_stars_image_t img;

    ASSERT_OK(ac_starfield_make(sp, f));
    ac_stars_opts_default(&o);
    o.saturation = sp->saturation;
    o.gain = sp->gain;
    img = (ac_stars_image_t){.px = f->px, .width = f->width, .height = f->height,
                             .bayerpat = sp->bayerpat};
    if (ac_stars_measure(&img, &o, r, &e) != 0)
        AC_TEST_FAIL("measure: %s", e.msg);
}

/* check_field measures one frame and holds it to the known answers. */
static void check_field(bool moffat, double fwhm, double ecc, const char *bayer)
{
    ac_starfield_spec_t sp;
    ac_starfield_t f;
    ac_stars_result_t r;

    ac_starfield_spec_default(&sp, 1000 + (uint64_t)(fwhm * 10) + (uint64_t)(ecc * 100));
    sp.shape = (ac_star_shape_t){.moffat = moffat, .fwhm = fwhm, .ecc = ecc, .angle = 0.7,
                                 .beta = 3.0};
    snprintf(sp.bayerpat, sizeof sp.bayerpat, "%s", bayer);
    measure(&sp, &f, &r);
    double hfr = ac_star_hfr(&sp.shape);
    fprintf(stderr, "%s%s fwhm %.1f e %.1f: stars %d (truth %d) fitted %d fwhm %.3f (%+.2f%%) hfr %.3f "
           "(truth %.3f, %+.2f%%) ecc %.3f (star median %.3f) snr %.0f rejected: blended %d edge %d sat %d sharp "
           "%d elong %d; sep %.3f s fit %.3f s\n",
           moffat ? "moffat" : "gauss", bayer[0] ? " cfa" : "", fwhm, ecc, r.nstars,
           f.ndetectable, r.nfitted, r.fwhm, 100 * (r.fwhm / fwhm - 1), r.hfr, hfr,
           100 * (r.hfr / hfr - 1), r.ecc, r.ecc_star, r.snr, r.nrejected[AC_STAR_BLENDED],
           r.nrejected[AC_STAR_EDGE], r.nrejected[AC_STAR_SATURATED],
           r.nrejected[AC_STAR_SHARP], r.nrejected[AC_STAR_ELONGATED], r.t_sep, r.t_fit);
    ASSERT_NEAR(r.fwhm / fwhm, 1.0, 0.05);
    ASSERT_NEAR(r.hfr / hfr, 1.0, 0.05);
    ASSERT_NEAR(r.ecc, ecc, 0.05);
    ASSERT_NEAR((double)r.nstars / f.ndetectable, 1.0, 0.10);
    /* Every saturated star was seen and refused as such. */
    ASSERT(r.nrejected[AC_STAR_SATURATED] >= sp.nsaturated);
    /* No accepted star sits on a hot pixel, a cosmic ray or the trail: each lies within
     * 2 px of a star of the truth. */
    for (int k = 0; k < r.nobjects; k++) {
        const ac_star_t *s = &r.stars[k];
        bool near = false;
        if (s->reject != AC_STAR_OK)
            continue;
        for (int i = 0; i < f.nstars && !near; i++)
            near = hypot(f.stars[i].x - s->x, f.stars[i].y - s->y) < 2.0 &&
                   f.stars[i].cls != AC_SF_SATURATED;
        if (!near)
            AC_TEST_FAIL("accepted object at (%.1f, %.1f) is no star: fitted %d, FWHM %.2f "
                         "(%.2f / %.2f), peak %.0f, flux %.0f",
                         s->x, s->y, s->fitted, s->fwhm, s->fwhm_major, s->fwhm_minor, s->peak,
                         s->flux);
    }
    ac_stars_result_free(&r);
    ac_starfield_free(&f);
}

TEST_TIMEOUT(stars_gaussian_fwhm_2_5, 120)
{
    for (int k = 0; k < 3; k++)
        check_field(false, 2.5, 0.3 * k, "");
}

TEST_TIMEOUT(stars_gaussian_fwhm_3_5, 120)
{
    for (int k = 0; k < 3; k++)
        check_field(false, 3.5, 0.3 * k, "");
}

TEST_TIMEOUT(stars_gaussian_fwhm_5, 120)
{
    for (int k = 0; k < 3; k++)
        check_field(false, 5.0, 0.3 * k, "");
}

TEST_TIMEOUT(stars_moffat_fwhm_2_5, 120)
{
    for (int k = 0; k < 3; k++)
        check_field(true, 2.5, 0.3 * k, "");
}

TEST_TIMEOUT(stars_moffat_fwhm_3_5, 120)
{
    for (int k = 0; k < 3; k++)
        check_field(true, 3.5, 0.3 * k, "");
}

TEST_TIMEOUT(stars_moffat_fwhm_5, 120)
{
    for (int k = 0; k < 3; k++)
        check_field(true, 5.0, 0.3 * k, "");
}

/* OSC: the same truths measured on the 2 x 2 superpixel luminance of a CFA frame. */
TEST_TIMEOUT(stars_cfa_superpixel, 120)
{
    check_field(true, 3.5, 0.3, "RGGB");
    check_field(false, 5.0, 0.0, "GBRG");
}
