/*
 * test-calib.c - master preparation (daemon/core/calib.c) on tiny images with hand-computed
 * answers: options, image analysis, dark scale decisions, bias/dark combinations (never the
 * bias twice), master validation and geometry. Flats and the HISTORY of a full chain are in
 * test-calib-flat.c; the per-light functions (light checks, kernel counts, hot pixels, dark
 * optimisation, pedestal) in test-calibrun.c.
 */
#include <errno.h>
#include <stdint.h>

#include "calib.h"
#include "calibtest.h"
#include "test.h"

TEST(calib_opts_defaults)
{
    ac_calib_opts_t o;

    ac_calib_opts_default(&o);
    ASSERT_NEAR(o.dark_k_max, 2.0, 0);
    ASSERT_NEAR(o.flat_floor, 0.05, 0);
    ASSERT_NEAR(o.pedestal_max_frac, 1e-4, 0);
    ASSERT_NEAR(o.cosmetic_sigma, 5, 0);
    ASSERT_NEAR(o.max_temp_diff, 5, 0);
    ASSERT_EQ(o.dark_has_bias, AC_TRI_AUTO);
    ASSERT_EQ(o.flat_is_calibrated, AC_TRI_AUTO);
    ASSERT_EQ(o.pedestal_mode, AC_PEDESTAL_NONE);
    ASSERT(!o.force && !o.cosmetic && !o.dark_optimize);
}

TEST(calib_image_analyse)
{
    ac_image_t img;

    /* 1..15 and a NaN: median 8; |i - 8| sorted 0 1 1 2 2 3 3 4 ... -> MAD 4. */
    mk(&img, 4, 4, "/x/a.fits", -32, 0);
    for (int i = 0; i < 15; i++)
        img.px[i] = (float)(i + 1);
    img.px[15] = NAN;
    ASSERT_OK(ac_image_analyse(&img));
    ASSERT_NEAR(img.median, 8, 0);
    ASSERT_NEAR(img.mad, 4, 0);
    ASSERT_EQ(img.n_nonfinite, 1);
    ac_image_free(&img);
    ASSERT_NULL(img.px);
    ac_image_free(NULL);
}

/* Above 1 M pixels the median and MAD come from a regular grid of at most 1 M samples,
 * while the non-finite count covers every pixel. 1100 x 1000 pixels: step 2, so the
 * samples are the even pixels, valued (i / 2) % 100: 0..99 equally often -> median 49.5;
 * deviations 0.5, 1.5, ..., 49.5 equally often -> MAD 25 (mean of 24.5 and 25.5). The odd
 * pixels (1000, and three NaN) are never sampled. */
TEST(calib_image_analyse_samples_large_images)
{
    ac_image_t img;

    mk(&img, 1100, 1000, "/x/big.fits", -32, 0);
    for (int i = 0; i < 1100 * 1000; i++)
        img.px[i] = i % 2 ? 1000.0f : (float)((i / 2) % 100);
    img.px[1] = img.px[3] = img.px[1099999] = NAN;
    ASSERT_OK(ac_image_analyse(&img));
    ASSERT_NEAR(img.median, 49.5, 0);
    ASSERT_NEAR(img.mad, 25, 0);
    ASSERT_EQ(img.n_nonfinite, 3);
    ac_image_free(&img);
}

/* A dark scale decision: the options, the dark (metadata and path only: the decision reads
 * no pixels), and what ac_calib_dark_scale gives back (the error, k and the warning). */
struct dark_scale {
    ac_calib_opts_t o;
    ac_image_t d;
    ac_err_t e;
    double k;
    char w[256];
};

/* scale_init sets x to the default options and a dark /x/d.fits of exptime seconds. */
static void scale_init(struct dark_scale *x, double exptime)
{
    memset(x, 0, sizeof *x);
    ac_calib_opts_default(&x->o);
    x->d.meta = meta0();
    x->d.meta.exptime = exptime;
    snprintf(x->d.path, sizeof x->d.path, "/x/d.fits");
}

/* scale decides k for a light of t_light seconds against x's dark (the error into x->e
 * when with_err). */
static int scale(struct dark_scale *x, double t_light, bool bias_available, bool dark_has_bias,
                 bool with_err)
{
    return ac_calib_dark_scale(t_light, &x->d, bias_available, dark_has_bias, &x->o, &x->k,
                               x->w, sizeof x->w, with_err ? &x->e : NULL);
}

TEST(calib_dark_scale_equal_within_tolerance)
{
    struct dark_scale x;

    scale_init(&x, 302); /* tolerance max(0.5, 3.02) */
    ASSERT_OK(scale(&x, 300, true, true, false));
    ASSERT_NEAR(x.k, 1, 0);
    ASSERT_STR_EQ(x.w, "");
    x.d.meta.exptime = 10.4; /* tolerance 0.5 */
    ASSERT_OK(scale(&x, 10, false, true, false));
    ASSERT_NEAR(x.k, 1, 0);
    ASSERT_OK(ac_calib_dark_scale(10, NULL, false, true, &x.o, &x.k, x.w, sizeof x.w, NULL));
    ASSERT_NEAR(x.k, 1, 0);
}

TEST(calib_dark_scale_scaling_rules)
{
    struct dark_scale x;

    scale_init(&x, 200);
    /* A bias-free dark scales, with or without a bias: 300 / 200. */
    ASSERT_OK(scale(&x, 300, false, false, true));
    ASSERT_NEAR(x.k, 1.5, 1e-12);
    ASSERT_CONTAINS(x.w, "k=1.500");
    /* A dark with its bias scales when the bias is given (prepare removes it first). */
    ASSERT_OK(scale(&x, 300, true, true, true));
    ASSERT_NEAR(x.k, 1.5, 1e-12);
    /* ... and not without it. */
    ASSERT_EQ(scale(&x, 300, false, true, true), AC_EMETADATA);
    ASSERT_CONTAINS(x.e.msg, "light EXPTIME 300 s vs dark EXPTIME 200 s: ");
    ASSERT_CONTAINS(x.e.msg, "cannot be scaled");
    ASSERT_NEAR(x.k, 1, 0);
    /* k = 2 exactly is allowed. */
    x.d.meta.exptime = 120;
    ASSERT_OK(scale(&x, 240, true, true, false));
    ASSERT_NEAR(x.k, 2, 1e-12);
}

TEST(calib_dark_scale_cap_rejected_or_forced)
{
    struct dark_scale x;

    scale_init(&x, 120);
    ASSERT_EQ(scale(&x, 300, true, false, true), AC_EMETADATA);
    ASSERT_CONTAINS(x.e.msg, "light EXPTIME 300 s vs dark EXPTIME 120 s: ");
    ASSERT_CONTAINS(x.e.msg, "k=2.500 exceeds dark_k_max 2.000");
    ASSERT_CONTAINS(x.e.msg, "/x/d.fits");
    x.o.force = true;
    ASSERT_OK(scale(&x, 300, true, false, false));
    ASSERT_NEAR(x.k, 1, 0);
    ASSERT_CONTAINS(x.w, "light EXPTIME 300 s vs dark EXPTIME 120 s");
    ASSERT_CONTAINS(x.w, "forced k=1");
    x.o.force = false;
    x.o.dark_k_max = 3;
    ASSERT_OK(scale(&x, 300, true, false, false));
    ASSERT_NEAR(x.k, 2.5, 1e-12);
}

TEST(calib_dark_scale_missing_exposure)
{
    struct dark_scale x;

    /* Never k = 1 by default: the light or the dark without exposure is refused, naming the
     * keywords tried (the DWARF's EXP is one of them). */
    scale_init(&x, 120);
    ASSERT_EQ(scale(&x, NAN, true, false, true), AC_EMETADATA);
    ASSERT_CONTAINS(x.e.msg, "the light has no exposure (EXPTIME, EXPOSURE or EXP tried)");
    x.d.meta.exptime = NAN;
    ac_err_clear(&x.e);
    ASSERT_EQ(scale(&x, 300, true, false, true), AC_EMETADATA);
    ASSERT_CONTAINS(x.e.msg, "the dark has no exposure");
    /* --force: k = 1, said in the warning. */
    x.o.force = true;
    ASSERT_OK(scale(&x, 300, true, false, false));
    ASSERT_NEAR(x.k, 1, 0);
    ASSERT_CONTAINS(x.w, "dark exposure unknown");
    ASSERT_CONTAINS(x.w, "forced");
}

TEST(calib_dark_bias_decision_sources)
{
    ac_calib_opts_t o;
    ac_image_t d, b;
    char why[160];

    ac_calib_opts_default(&o);
    mk(&b, 4, 4, "/x/b.fits", 16, 1000);
    mk(&d, 4, 4, "/x/d.fits", 16, 1010);
    /* Measured: median 1010 >= 0.5 * 1000. */
    ASSERT(ac_calib_dark_bias_decision(&d, &b, &o, why, sizeof why));
    ASSERT_CONTAINS(why, "Dark contains bias (median 1010.0");
    for (int i = 0; i < 16; i++)
        d.px[i] = 5;
    ASSERT(!ac_calib_dark_bias_decision(&d, &b, &o, why, sizeof why));
    ASSERT_CONTAINS(why, "Dark is bias-free");
    /* Without a bias and without provenance: assume the bias is inside. */
    ASSERT(ac_calib_dark_bias_decision(&d, NULL, &o, why, sizeof why));
    ASSERT_CONTAINS(why, "assumed");
    /* Provenance beats the measurement. */
    d.meta.bias_subtracted = AC_PROV_NO;
    ASSERT(ac_calib_dark_bias_decision(&d, &b, &o, why, sizeof why));
    ASSERT_STR_EQ(why, "Dark contains bias (provenance keyword)");
    d.meta.bias_subtracted = AC_PROV_YES;
    ASSERT(!ac_calib_dark_bias_decision(&d, &b, &o, NULL, 0));
    /* The option beats the provenance. */
    o.dark_has_bias = AC_TRI_YES;
    ASSERT(ac_calib_dark_bias_decision(&d, &b, &o, why, sizeof why));
    ASSERT_STR_EQ(why, "Dark contains bias (configuration)");
    ac_image_free(&b);
    ac_image_free(&d);
}

TEST(calib_prepare_measures_dark_bias)
{
    ac_calib_opts_t o;
    ac_calset_t cs;
    ac_image_t b, d;

    /* No provenance: inside prepare the decision uses the analysed medians. */
    ac_calib_opts_default(&o);
    mk(&b, 4, 4, "/x/b.fits", 16, 1000);
    mk(&d, 4, 4, "/x/d.fits", 16, 1010);
    ASSERT_OK(ac_calib_prepare_take(&cs, &b, &d, NULL, NULL, 1.0, &o, NULL));
    ASSERT(cs.dark_has_bias);
    ASSERT_NEAR(cs.offset[0], 1010, 0); /* the dark alone, bias inside */
    ac_calset_free(&cs);
    mk(&b, 4, 4, "/x/b.fits", 16, 1000);
    mk(&d, 4, 4, "/x/d.fits", -32, 10);
    ASSERT_OK(ac_calib_prepare_take(&cs, &b, &d, NULL, NULL, 1.0, &o, NULL));
    ASSERT(!cs.dark_has_bias);
    ASSERT_NEAR(cs.offset[0], 1010, 0); /* bias + bias-free dark */
    ASSERT_CONTAINS(HIST(&cs), "Dark is bias-free (median 10.0 < half the bias median 1000.0)");
    ac_calset_free(&cs);
}

/* The bias and dark/bias cases share B = 1000 + i and L = 1500 + 2i. */
static void bias_light(ac_image_t *b, float *L)
{
    mk(b, 4, 4, "/x/master_bias.fits", 16, 0);
    for (int i = 0; i < 16; i++) {
        b->px[i] = 1000.0f + (float)i;
        L[i] = 1500.0f + 2.0f * (float)i;
    }
}

/* prepare_dark_with_bias fills L as bias_light and prepares cs, with the default options and
 * dark scale k, from the 16-bit master_dark.fits D = B + 50 = 1050 + i whose provenance says
 * it still contains the bias, and from the bias_light bias when with_bias. */
static void prepare_dark_with_bias(ac_calset_t *cs, float *L, double k, bool with_bias)
{
    ac_calib_opts_t o;
    ac_image_t b, d;

    ac_calib_opts_default(&o);
    bias_light(&b, L);
    if (!with_bias)
        ac_image_free(&b);
    mk(&d, 4, 4, "/x/master_dark.fits", 16, 0);
    d.meta.bias_subtracted = AC_PROV_NO;
    for (int i = 0; i < 16; i++)
        d.px[i] = 1050.0f + (float)i;
    ASSERT_OK(ac_calib_prepare_take(cs, with_bias ? &b : NULL, &d, NULL, NULL, k, &o, NULL));
}

TEST(calib_bias_only)
{
    ac_calib_opts_t o;
    ac_calset_t cs;
    ac_rowstats_t st;
    ac_image_t b;
    float L[16], *out;

    ac_calib_opts_default(&o);
    bias_light(&b, L);
    ASSERT_OK(ac_calib_prepare_take(&cs, &b, NULL, NULL, NULL, 1.0, &o, NULL));
    ASSERT_NULL(b.px); /* taken */
    ASSERT(cs.has_bias && !cs.has_dark && !cs.has_flat);
    ASSERT_NULL(cs.inv_flat);
    out = calib_whole(&cs, L, 1, 0, &st);
    for (int i = 0; i < 16; i++)
        ASSERT_NEAR(out[i], 500 + i, 0);
    ASSERT_STR_EQ(cs.bias_name, "master_bias.fits");
    ASSERT_STR_EQ(cs.bias_md5, "0123456789abcdef0123456789abcdef");
    ASSERT_CONTAINS(HIST(&cs), "Bias subtracted: master_bias.fits");
    ASSERT_EQ(cs.geometry.width, 4);
    free(out);
    ac_calset_free(&cs);
}

TEST(calib_dark_with_bias_never_subtracts_bias_twice)
{
    ac_calset_t cs;
    ac_rowstats_t st;
    float L[16], *out;

    prepare_dark_with_bias(&cs, L, 1.0, true);
    ASSERT(cs.dark_has_bias && !cs.dark_scaled);
    out = calib_whole(&cs, L, 1, 0, &st);
    /* L - D = 450 + i (the bias once); L - D - B would be -550. */
    for (int i = 0; i < 16; i++)
        ASSERT_NEAR(out[i], 450 + i, 0);
    ASSERT_CONTAINS(HIST(&cs), "Bias subtracted: master_bias.fits");
    ASSERT_CONTAINS(
        HIST(&cs),
        "Dark contains bias (provenance keyword): bias-free dark computed as dark - bias");
    ASSERT_CONTAINS(HIST(&cs), "Dark subtracted: master_dark.fits");
    free(out);
    ac_calset_free(&cs);
}

TEST(calib_dark_with_bias_scaled_through_bias_free_dark)
{
    ac_calset_t cs;
    ac_rowstats_t st;
    float L[16], *out;

    prepare_dark_with_bias(&cs, L, 1.5, true);
    ASSERT(cs.dark_scaled);
    ASSERT_NEAR(cs.k, 1.5, 0);
    out = calib_whole(&cs, L, 1.5, 0, &st);
    /* offset = B + 1.5 * (D - B) = 1075 + i; L - offset = 425 + i. */
    for (int i = 0; i < 16; i++)
        ASSERT_NEAR(out[i], 425 + i, 0);
    ASSERT_CONTAINS(HIST(&cs), "Dark scaled by k=1.500 (bias-free dark)");
    free(out);
    ac_calset_free(&cs);
}

TEST(calib_dark_with_bias_without_bias)
{
    ac_calib_opts_t o;
    ac_calset_t cs;
    ac_rowstats_t st;
    ac_image_t d;
    ac_err_t e = {0};
    float L[16], *out;

    prepare_dark_with_bias(&cs, L, 1.0, false);
    out = calib_whole(&cs, L, 1, 0, &st);
    for (int i = 0; i < 16; i++)
        ASSERT_NEAR(out[i], 450 + i, 0);
    ASSERT(!cs.has_bias);
    ASSERT_CONTAINS(
        HIST(&cs), "Dark contains bias (provenance keyword): subtracted without separate bias");
    free(out);
    ac_calset_free(&cs);

    /* Never scale a dark that still contains the bias. */
    ac_calib_opts_default(&o);
    mk(&d, 4, 4, "/x/master_dark.fits", 16, 1050);
    d.meta.bias_subtracted = AC_PROV_NO;
    ASSERT_EQ(ac_calib_prepare_take(&cs, NULL, &d, NULL, NULL, 1.5, &o, &e), AC_EMETADATA);
    ASSERT_CONTAINS(e.msg, "contains the bias");
    ASSERT_NULL(d.px); /* released even on failure */
    ASSERT_NULL(cs.offset);
}

TEST(calib_bias_free_dark_with_bias_scaled)
{
    ac_calib_opts_t o;
    ac_calset_t cs;
    ac_rowstats_t st;
    ac_image_t b, d;
    float L[16], *out;

    ac_calib_opts_default(&o);
    bias_light(&b, L);
    mk(&d, 4, 4, "/x/master_dark.fits", -32, 0);
    d.meta.bias_subtracted = AC_PROV_YES;
    for (int i = 0; i < 16; i++)
        d.px[i] = 50.0f + (float)i;
    ASSERT_OK(ac_calib_prepare_take(&cs, &b, &d, NULL, NULL, 2.0, &o, NULL));
    ASSERT(!cs.dark_has_bias);
    out = calib_whole(&cs, L, 2, 0, &st);
    /* offset = B + 2 * D = 1100 + 3i; L - offset = 400 - i. */
    for (int i = 0; i < 16; i++)
        ASSERT_NEAR(out[i], 400 - i, 0);
    ASSERT_CONTAINS(HIST(&cs),
                    "Dark is bias-free (provenance keyword): subtracted after the bias");
    ASSERT_CONTAINS(HIST(&cs), "Dark scaled by k=2.000");
    free(out);
    ac_calset_free(&cs);
}

TEST(calib_bias_free_dark_without_bias_scaled_in_float)
{
    ac_calib_opts_t o;
    ac_calset_t cs;
    ac_rowstats_t st;
    ac_image_t d;
    float L[16], *out;

    /* An integer-valued master scaled by 0.5: 1001 -> 500.5, not 500. */
    ac_calib_opts_default(&o);
    mk(&d, 4, 4, "/x/master_dark.fits", 16, 1001);
    d.meta.bias_subtracted = AC_PROV_YES;
    for (int i = 0; i < 16; i++)
        L[i] = 1000.5f;
    ASSERT_OK(ac_calib_prepare_take(&cs, NULL, &d, NULL, NULL, 0.5, &o, NULL));
    ASSERT_NEAR(cs.offset[0], 500.5, 0);
    out = calib_whole(&cs, L, 0.5, 0, &st);
    for (int i = 0; i < 16; i++)
        ASSERT_NEAR(out[i], 500.0, 0);
    ASSERT_CONTAINS(warnings(&cs), "the bias stays in the light");
    free(out);
    ac_calset_free(&cs);
}

TEST(calib_bad_masters_refused)
{
    ac_calib_opts_t o;
    ac_calset_t cs;
    ac_image_t b, d;
    ac_err_t e = {0};

    ac_calib_opts_default(&o);
    mk(&b, 4, 4, "/x/b.fits", 16, 1000);
    mk(&d, 4, 4, "/x/d.fits", -32, NAN);
    ASSERT_EQ(ac_calib_prepare_take(&cs, &b, &d, NULL, NULL, 1.0, &o, &e), AC_EMASTER);
    ASSERT_CONTAINS(e.msg, "dark /x/d.fits is NaN-filled: 16 of 16 pixels");
    ASSERT_NULL(b.px);
    ASSERT_NULL(d.px);
    ac_err_clear(&e);
    mk(&b, 4, 4, "/x/b.fits", 16, 0);
    ASSERT_EQ(ac_calib_prepare_take(&cs, &b, NULL, NULL, NULL, 1.0, &o, &e), AC_EMASTER);
    ASSERT_STR_EQ(e.msg, "bias /x/b.fits is all zero");
    ac_err_clear(&e);
    ASSERT_EQ(ac_calib_prepare_take(&cs, NULL, NULL, NULL, NULL, 1.0, &o, &e), -EINVAL);
}

TEST(calib_few_nonfinite_master_pixels_replaced)
{
    ac_calib_opts_t o;
    ac_calset_t cs;
    ac_rowstats_t st;
    ac_image_t b;
    float L[256], *out;

    ac_calib_opts_default(&o);
    mk(&b, 16, 16, "/x/b.fits", 16, 1000);
    b.px[7] = NAN; /* 1 of 256: under 1 % */
    for (int i = 0; i < 256; i++)
        L[i] = 1500;
    ASSERT_OK(ac_calib_prepare_take(&cs, &b, NULL, NULL, NULL, 1.0, &o, NULL));
    ASSERT_EQ(cs.n_master_nonfinite, 1);
    ASSERT_CONTAINS(HIST(&cs), "1 non-finite master pixels replaced by the plane median");
    out = calib_whole(&cs, L, 1, 0, &st);
    ASSERT_NEAR(out[7], 500, 0);
    free(out);
    ac_calset_free(&cs);
}

TEST(calib_master_geometry_mismatch)
{
    ac_calib_opts_t o;
    ac_calset_t cs;
    ac_image_t b, d, f;
    ac_err_t e = {0};

    ac_calib_opts_default(&o);
    mk(&b, 4, 4, "/x/b.fits", 16, 1000);
    mk(&f, 6, 4, "/x/f.fits", 16, 3000);
    ASSERT_EQ(ac_calib_prepare_take(&cs, &b, NULL, &f, NULL, 1.0, &o, &e), AC_EGEOMETRY);
    ASSERT_STR_EQ(e.msg, "flat /x/f.fits is 6x4 but bias /x/b.fits is 4x4");
    ASSERT_NULL(f.px);

    ac_err_clear(&e);
    mk(&b, 4, 4, "/x/b.fits", 16, 1000);
    mk(&d, 4, 4, "/x/d.fits", 16, 1100);
    b.meta.xbin = b.meta.ybin = 1;
    d.meta.xbin = d.meta.ybin = 2;
    ASSERT_EQ(ac_calib_prepare_take(&cs, &b, &d, NULL, NULL, 1.0, &o, &e), AC_EGEOMETRY);
    ASSERT_STR_EQ(e.msg, "dark /x/d.fits has binning 2x2 but bias /x/b.fits has 1x1");

    ac_err_clear(&e);
    mk(&b, 4, 4, "/x/b.fits", 16, 1000);
    mk(&f, 4, 4, "/x/f.fits", 16, 3000);
    snprintf(f.meta.bayerpat, sizeof f.meta.bayerpat, "RGGB");
    ASSERT_EQ(ac_calib_prepare_take(&cs, &b, NULL, &f, NULL, 1.0, &o, &e), AC_EGEOMETRY);
    ASSERT_CONTAINS(e.msg, "flat /x/f.fits has CFA layout RGGB");
    ASSERT_CONTAINS(e.msg, "bias /x/b.fits has mono");
}
