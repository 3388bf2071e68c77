/*
 * test-stars.c - star metrics (work/stars.h) on synthetic star fields with a known PSF
 * (tests/support/starfield.h). Known answers:
 *  - FWHM: the PSF's, sqrt(FWHM_major * FWHM_minor) as drawn;
 *  - HFR: the analytic half-flux radius of the PSF in a circular aperture (starprofile.h):
 *      round Gaussian  HFR = sigma sqrt(2 ln 2) = FWHM / 2
 *      round Moffat    HFR = alpha sqrt(2^(1/(beta-1)) - 1),  alpha = FWHM / (2
 * sqrt(2^(1/beta)-1)) elliptical      F(HFR) = 1/2 with F(r) = (1/(2 pi wa wb)) int_0^2pi G(r^2
 * q(t)) / q(t) dt, q(t) = cos^2 t / wa^2 + sin^2 t / wb^2, G(s) = 1 - exp(-s/2) (Gaussian) or 1
 * - (1 + s)^(1 - beta) (Moffat), wa, wb the axes' sigma or alpha;
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
    img = (ac_stars_image_t){
        .px = f->px, .width = f->width, .height = f->height, .bayerpat = sp->bayerpat};
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
    sp.shape = (ac_star_shape_t){
        .moffat = moffat, .fwhm = fwhm, .ecc = ecc, .angle = 0.7, .beta = 3.0};
    snprintf(sp.bayerpat, sizeof sp.bayerpat, "%s", bayer);
    measure(&sp, &f, &r);
    double hfr = ac_star_hfr(&sp.shape);
    fprintf(stderr,
            "%s%s fwhm %.1f e %.1f: stars %d (truth %d) fitted %d fwhm %.3f (%+.2f%%) hfr %.3f "
            "(truth %.3f, %+.2f%%) ecc %.3f (star median %.3f) snr %.0f rejected: blended %d "
            "edge %d sat %d sharp "
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

/* A mono frame measured on its 2 x 2-binned copy (what large mono frames get) keeps the
 * same known answers. */
TEST_TIMEOUT(stars_mono_binned, 120)
{
    ac_starfield_spec_t sp;
    ac_starfield_t f;
    ac_stars_result_t r;
    ac_stars_opts_t o;
    ac_err_t e = {0};

    ac_starfield_spec_default(&sp, 77);
    sp.shape =
        (ac_star_shape_t){.moffat = true, .fwhm = 3.5, .ecc = 0.3, .angle = 0.4, .beta = 3.0};
    ASSERT_OK(ac_starfield_make(&sp, &f));
    ac_stars_opts_default(&o);
    o.saturation = sp.saturation;
    o.bin = 2;
    ac_stars_image_t img = {.px = f.px, .width = f.width, .height = f.height};
    ASSERT_EQ(ac_stars_bin_for(&img, &o), 2);
    ASSERT_EQ(ac_stars_work_bytes(&img, &o), (size_t)640 * 512 * 4);
    ASSERT_OK(ac_stars_measure(&img, &o, &r, &e));
    ASSERT_EQ(r.bin, 2);
    fprintf(stderr, "binned: stars %d/%d fwhm %.3f hfr %.3f (truth %.3f) ecc %.3f\n", r.nstars,
            f.ndetectable, r.fwhm, r.hfr, ac_star_hfr(&sp.shape), r.ecc);
    ASSERT_NEAR(r.fwhm / 3.5, 1.0, 0.05);
    ASSERT_NEAR(r.hfr / ac_star_hfr(&sp.shape), 1.0, 0.05);
    ASSERT_NEAR(r.ecc, 0.3, 0.05);
    ASSERT_NEAR((double)r.nstars / f.ndetectable, 1.0, 0.10);
    ac_stars_result_free(&r);
    /* Automatic: binned only when the full-resolution copy exceeds max_work_bytes. */
    o.bin = 0;
    ASSERT_EQ(ac_stars_bin_for(&img, &o), 1);
    o.max_work_bytes = (size_t)f.width * f.height * 4 - 1;
    ASSERT_EQ(ac_stars_bin_for(&img, &o), 2);
    ac_starfield_free(&f);
}

/* Clouds (half the stars dimmed 30 x) cost stars and SNR; trailing makes every star
 * elongated along the drift. */
TEST_TIMEOUT(stars_cloud_and_trailed_frames, 120)
{
    ac_starfield_spec_t sp;
    ac_starfield_t f;
    ac_stars_result_t clear, cloud, trailed;

    ac_starfield_spec_default(&sp, 4242);
    sp.shape = (ac_star_shape_t){.moffat = true, .fwhm = 3.5, .beta = 3.0};
    measure(&sp, &f, &clear);
    ac_starfield_free(&f);
    sp.cloud = 1.0 / 30;
    measure(&sp, &f, &cloud);
    ac_starfield_free(&f);
    sp.cloud = 0;
    sp.drift = 10;
    sp.drift_angle = 0.5;
    measure(&sp, &f, &trailed);
    int trailed_truth = f.ndetectable; /* fewer: trailed stars need more room */
    ac_starfield_free(&f);
    fprintf(stderr,
            "clear: %d stars snr %.0f ecc %.3f; cloud: %d stars snr %.0f; trailed: %d "
            "stars ecc %.3f fwhm %.2f/%.2f\n",
            clear.nstars, clear.snr, clear.ecc, cloud.nstars, cloud.snr, trailed.nstars,
            trailed.ecc, trailed.fwhm_major, trailed.fwhm_minor);
    ASSERT(cloud.nstars < 0.7 * clear.nstars);
    ASSERT(cloud.snr < 0.8 * clear.snr);
    ASSERT(clear.ecc < 0.1);
    /* A 10 px drift on a 3.5 px star: sigma^2 + L^2/12 along, sigma^2 across, e ~ 0.89. */
    ASSERT(trailed.ecc > 0.8);
    ASSERT_NEAR((double)trailed.nstars / trailed_truth, 1.0, 0.10);
    ac_stars_result_free(&clear);
    ac_stars_result_free(&cloud);
    ac_stars_result_free(&trailed);
}

TEST(stars_image_scale_and_arcsec)
{
    ac_stars_opts_t o;

    ac_stars_opts_default(&o);
    ASSERT(isnan(ac_stars_image_scale(&o)));
    o.focallen_mm = 530;
    o.xpixsz_um = 3.76; /* 206.264806 * 3.76 / 530 */
    ASSERT_NEAR(ac_stars_image_scale(&o), 1.463313, 1e-6);
    o.xbin = 2; /* XPIXSZ already binned (default): unchanged */
    ASSERT_NEAR(ac_stars_image_scale(&o), 1.463313, 1e-6);
    o.xpixsz_binned = false;
    ASSERT_NEAR(ac_stars_image_scale(&o), 2.926626, 1e-6);
    o.pixscale = 0.95; /* PIXSCALE wins */
    ASSERT_NEAR(ac_stars_image_scale(&o), 0.95, 0);

    ac_starfield_spec_t sp;
    ac_starfield_t f;
    ac_stars_result_t r;
    ac_err_t e = {0};
    ac_starfield_spec_default(&sp, 5);
    sp.nstars = 60;
    ASSERT_OK(ac_starfield_make(&sp, &f));
    ac_stars_image_t img = {.px = f.px, .width = f.width, .height = f.height};
    o.saturation = sp.saturation;
    ASSERT_OK(ac_stars_measure(&img, &o, &r, &e));
    ASSERT_NEAR(r.scale, 0.95, 0);
    ASSERT_NEAR(r.fwhm_arcsec, r.fwhm * 0.95, 1e-9);
    ASSERT_NEAR(r.hfr_arcsec, r.hfr * 0.95, 1e-9);
    ac_stars_result_free(&r);
    ac_starfield_free(&f);
}

TEST(stars_bad_input_and_empty_frame)
{
    float *px = calloc(200 * 100, sizeof *px);
    ac_stars_result_t r;
    ac_err_t e = {0};
    ac_stars_image_t img = {.px = px, .width = 200, .height = 100, .bayerpat = "RGXB"};

    ASSERT_EQ(ac_stars_measure(&img, NULL, &r, &e), -EINVAL);
    ASSERT_CONTAINS(e.msg, "Bayer");
    img.bayerpat = NULL;
    img.width = 10;
    ASSERT_EQ(ac_stars_measure(&img, NULL, &r, &e), -EINVAL);
    /* A flat, noiseless frame: no stars, no error. */
    img.width = 200;
    for (int i = 0; i < 200 * 100; i++)
        px[i] = 500.0f;
    ASSERT_OK(ac_stars_measure(&img, NULL, &r, &e));
    ASSERT_EQ(r.nstars, 0);
    ASSERT(isnan(r.fwhm) && isnan(r.hfr) && isnan(r.ecc));
    ASSERT_NEAR(r.snr, 0, 0);
    ASSERT_NEAR(r.bkg, 500, 0.5);
    ac_stars_result_free(&r);
    free(px);
}

/* Two threads measuring at once get what one thread gets (SEP 1.2 keeps its state in
 * thread-local storage; ThreadSanitizer checks our side in the TSan build). */
struct thr {
    const ac_starfield_t *f;
    ac_stars_result_t r;
    int rc;
};

static void *thr_run(void *arg)
{
    struct thr *t = arg;
    ac_stars_image_t img = {.px = t->f->px, .width = t->f->width, .height = t->f->height};
    ac_stars_opts_t o;
    ac_stars_opts_default(&o);
    o.saturation = 65535;
    t->rc = ac_stars_measure(&img, &o, &t->r, NULL);
    return NULL;
}

TEST_TIMEOUT(stars_concurrent_measurements_agree, 120)
{
    ac_starfield_spec_t sp;
    ac_starfield_t f;
    struct thr t[3];
    pthread_t th[2];

    ac_starfield_spec_default(&sp, 99);
    sp.nstars = 120;
    ASSERT_OK(ac_starfield_make(&sp, &f));
    for (int i = 0; i < 3; i++)
        t[i] = (struct thr){.f = &f};
    thr_run(&t[0]);
    for (int i = 0; i < 2; i++)
        ASSERT_OK(pthread_create(&th[i], NULL, thr_run, &t[i + 1]));
    for (int i = 0; i < 2; i++)
        ASSERT_OK(pthread_join(th[i], NULL));
    for (int i = 0; i < 3; i++)
        ASSERT_OK(t[i].rc);
    for (int i = 1; i < 3; i++) {
        ASSERT_EQ(t[i].r.nstars, t[0].r.nstars);
        ASSERT_NEAR(t[i].r.fwhm, t[0].r.fwhm, 0);
        ASSERT_NEAR(t[i].r.hfr, t[0].r.hfr, 0);
        ASSERT_NEAR(t[i].r.snr, t[0].r.snr, 0);
    }
    ASSERT(t[0].r.nstars > 80);
    for (int i = 0; i < 3; i++)
        ac_stars_result_free(&t[i].r);
    ac_starfield_free(&f);
}
