/*
 * test-calib.c - master preparation (daemon/core/calib.c) on tiny images with hand-computed
 * answers: options, dark scale decisions, bias/dark combinations (never the bias twice),
 * flat calibration and normalisation (mono and per CFA colour), flat floor, master
 * validation and geometry, and the HISTORY of a full chain. The per-light functions
 * (light checks, kernel counts, hot pixels, dark optimisation, pedestal) are tested in
 * test-calibrun.c.
 */
#include <errno.h>
#include <stdint.h>

#include "calib.h"
#include "calibtest.h"
#include "test.h"

static const char *warnings(const ac_calset_t *cs)
{
    static char buf[4096];

    buf[0] = '\0';
    for (int i = 0; i < cs->n_warnings; i++) {
        strncat(buf, cs->warnings[i], sizeof buf - strlen(buf) - 4);
        strncat(buf, " | ", sizeof buf - strlen(buf) - 1);
    }
    return buf;
}

/* run calibrates a whole prepared image into a new buffer. */
static float *run(const ac_calset_t *cs, const float *in, double k, float ped,
                  ac_rowstats_t *st)
{
    float *out = malloc((size_t)cs->w * (size_t)cs->h * sizeof *out);

    ASSERT_NOT_NULL(out);
    ac_rowstats_init(st);
    ac_calib_rows(cs, in, out, 0, cs->h, k, ped, NAN, st);
    return out;
}

/* s_i of the test flat: 2000 on the first half of a 4x4 frame, 1800 on the second half;
 * its robust mean is 1900 (median 1900, MAD 100, nothing clipped). */
static float flat_s(int i)
{
    return i < 8 ? 2000.0f : 1800.0f;
}

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

TEST(calib_dark_scale_equal_within_tolerance)
{
    ac_calib_opts_t o;
    ac_image_t d;
    double k = 0;
    char w[256];

    ac_calib_opts_default(&o);
    mk(&d, 2, 2, "/x/d.fits", 16, 10);
    d.meta.exptime = 302; /* tolerance max(0.5, 3.02) */
    ASSERT_OK(ac_calib_dark_scale(300, &d, true, true, &o, &k, w, sizeof w, NULL));
    ASSERT_NEAR(k, 1, 0);
    ASSERT_STR_EQ(w, "");
    d.meta.exptime = 10.4; /* tolerance 0.5 */
    ASSERT_OK(ac_calib_dark_scale(10, &d, false, true, &o, &k, w, sizeof w, NULL));
    ASSERT_NEAR(k, 1, 0);
    ASSERT_OK(ac_calib_dark_scale(10, NULL, false, true, &o, &k, w, sizeof w, NULL));
    ASSERT_NEAR(k, 1, 0);
    ac_image_free(&d);
}

TEST(calib_dark_scale_scaling_rules)
{
    ac_calib_opts_t o;
    ac_image_t d;
    ac_err_t e = {0};
    double k = 0;
    char w[256];

    ac_calib_opts_default(&o);
    mk(&d, 2, 2, "/x/d.fits", 16, 10);
    d.meta.exptime = 200;
    /* A bias-free dark scales, with or without a bias: 300 / 200. */
    ASSERT_OK(ac_calib_dark_scale(300, &d, false, false, &o, &k, w, sizeof w, &e));
    ASSERT_NEAR(k, 1.5, 1e-12);
    ASSERT_CONTAINS(w, "k=1.500");
    /* A dark with its bias scales when the bias is given (prepare removes it first). */
    ASSERT_OK(ac_calib_dark_scale(300, &d, true, true, &o, &k, w, sizeof w, &e));
    ASSERT_NEAR(k, 1.5, 1e-12);
    /* ... and not without it. */
    ASSERT_EQ(ac_calib_dark_scale(300, &d, false, true, &o, &k, w, sizeof w, &e), AC_EMETADATA);
    ASSERT_CONTAINS(e.msg, "light EXPTIME 300 s vs dark EXPTIME 200 s: ");
    ASSERT_CONTAINS(e.msg, "cannot be scaled");
    ASSERT_NEAR(k, 1, 0);
    /* k = 2 exactly is allowed. */
    d.meta.exptime = 120;
    ASSERT_OK(ac_calib_dark_scale(240, &d, true, true, &o, &k, w, sizeof w, NULL));
    ASSERT_NEAR(k, 2, 1e-12);
    ac_image_free(&d);
}

TEST(calib_dark_scale_cap_rejected_or_forced)
{
    ac_calib_opts_t o;
    ac_image_t d;
    ac_err_t e = {0};
    double k = 0;
    char w[256];

    ac_calib_opts_default(&o);
    mk(&d, 2, 2, "/x/d.fits", 16, 10);
    d.meta.exptime = 120;
    ASSERT_EQ(ac_calib_dark_scale(300, &d, true, false, &o, &k, w, sizeof w, &e), AC_EMETADATA);
    ASSERT_CONTAINS(e.msg, "light EXPTIME 300 s vs dark EXPTIME 120 s: ");
    ASSERT_CONTAINS(e.msg, "k=2.500 exceeds dark_k_max 2.000");
    ASSERT_CONTAINS(e.msg, "/x/d.fits");
    o.force = true;
    ASSERT_OK(ac_calib_dark_scale(300, &d, true, false, &o, &k, w, sizeof w, NULL));
    ASSERT_NEAR(k, 1, 0);
    ASSERT_CONTAINS(w, "light EXPTIME 300 s vs dark EXPTIME 120 s");
    ASSERT_CONTAINS(w, "forced k=1");
    o.force = false;
    o.dark_k_max = 3;
    ASSERT_OK(ac_calib_dark_scale(300, &d, true, false, &o, &k, w, sizeof w, NULL));
    ASSERT_NEAR(k, 2.5, 1e-12);
    ac_image_free(&d);
}

TEST(calib_dark_scale_missing_exposure)
{
    ac_calib_opts_t o;
    ac_image_t d;
    double k = 0;
    char w[256];

    ac_calib_opts_default(&o);
    mk(&d, 2, 2, "/x/d.fits", 16, 10);
    d.meta.exptime = 120;
    ASSERT_OK(ac_calib_dark_scale(NAN, &d, true, false, &o, &k, w, sizeof w, NULL));
    ASSERT_NEAR(k, 1, 0);
    ASSERT_CONTAINS(w, "light EXPTIME missing");
    d.meta.exptime = NAN;
    ASSERT_OK(ac_calib_dark_scale(300, &d, true, false, &o, &k, w, sizeof w, NULL));
    ASSERT_NEAR(k, 1, 0);
    ASSERT_CONTAINS(w, "dark EXPTIME missing");
    ac_image_free(&d);
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

TEST(calib_bias_only)
{
    ac_calib_opts_t o;
    ac_calset_t cs;
    ac_rowstats_t st;
    ac_image_t b;
    float L[16], *out;

    ac_calib_opts_default(&o);
    mk(&b, 4, 4, "/x/master_bias.fits", 16, 0);
    for (int i = 0; i < 16; i++) {
        b.px[i] = 1000.0f + (float)i;
        L[i] = 1500.0f + 2.0f * (float)i;
    }
    ASSERT_OK(ac_calib_prepare_take(&cs, &b, NULL, NULL, NULL, 1.0, &o, NULL));
    ASSERT_NULL(b.px); /* taken */
    ASSERT(cs.has_bias && !cs.has_dark && !cs.has_flat);
    ASSERT_NULL(cs.inv_flat);
    out = run(&cs, L, 1, 0, &st);
    for (int i = 0; i < 16; i++)
        ASSERT_NEAR(out[i], 500 + i, 0);
    ASSERT_STR_EQ(cs.bias_name, "master_bias.fits");
    ASSERT_STR_EQ(cs.bias_md5, "0123456789abcdef0123456789abcdef");
    ASSERT_CONTAINS(HIST(&cs), "Bias subtracted: master_bias.fits");
    ASSERT_EQ(cs.geometry.width, 4);
    free(out);
    ac_calset_free(&cs);
}

/* The dark/bias cases share B = 1000 + i and L = 1500 + 2i. */
static void bias_light(ac_image_t *b, float *L)
{
    mk(b, 4, 4, "/x/master_bias.fits", 16, 0);
    for (int i = 0; i < 16; i++) {
        b->px[i] = 1000.0f + (float)i;
        L[i] = 1500.0f + 2.0f * (float)i;
    }
}

TEST(calib_dark_with_bias_never_subtracts_bias_twice)
{
    ac_calib_opts_t o;
    ac_calset_t cs;
    ac_rowstats_t st;
    ac_image_t b, d;
    float L[16], *out;

    ac_calib_opts_default(&o);
    bias_light(&b, L);
    mk(&d, 4, 4, "/x/master_dark.fits", 16, 0);
    d.meta.bias_subtracted = AC_PROV_NO;
    for (int i = 0; i < 16; i++)
        d.px[i] = 1050.0f + (float)i; /* bias + 50 */
    ASSERT_OK(ac_calib_prepare_take(&cs, &b, &d, NULL, NULL, 1.0, &o, NULL));
    ASSERT(cs.dark_has_bias && !cs.dark_scaled);
    out = run(&cs, L, 1, 0, &st);
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
    ac_calib_opts_t o;
    ac_calset_t cs;
    ac_rowstats_t st;
    ac_image_t b, d;
    float L[16], *out;

    ac_calib_opts_default(&o);
    bias_light(&b, L);
    mk(&d, 4, 4, "/x/master_dark.fits", 16, 0);
    d.meta.bias_subtracted = AC_PROV_NO;
    for (int i = 0; i < 16; i++)
        d.px[i] = 1050.0f + (float)i;
    ASSERT_OK(ac_calib_prepare_take(&cs, &b, &d, NULL, NULL, 1.5, &o, NULL));
    ASSERT(cs.dark_scaled);
    ASSERT_NEAR(cs.k, 1.5, 0);
    out = run(&cs, L, 1.5, 0, &st);
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
    ac_image_t b, d;
    ac_err_t e = {0};
    float L[16], *out;

    ac_calib_opts_default(&o);
    bias_light(&b, L);
    ac_image_free(&b);
    mk(&d, 4, 4, "/x/master_dark.fits", 16, 0);
    d.meta.bias_subtracted = AC_PROV_NO;
    for (int i = 0; i < 16; i++)
        d.px[i] = 1050.0f + (float)i;
    ASSERT_OK(ac_calib_prepare_take(&cs, NULL, &d, NULL, NULL, 1.0, &o, NULL));
    out = run(&cs, L, 1, 0, &st);
    for (int i = 0; i < 16; i++)
        ASSERT_NEAR(out[i], 450 + i, 0);
    ASSERT(!cs.has_bias);
    ASSERT_CONTAINS(
        HIST(&cs), "Dark contains bias (provenance keyword): subtracted without separate bias");
    free(out);
    ac_calset_free(&cs);

    /* Never scale a dark that still contains the bias. */
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
    out = run(&cs, L, 2, 0, &st);
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
    out = run(&cs, L, 0.5, 0, &st);
    for (int i = 0; i < 16; i++)
        ASSERT_NEAR(out[i], 500.0, 0);
    ASSERT_CONTAINS(warnings(&cs), "the bias stays in the light");
    free(out);
    ac_calset_free(&cs);
}

/* Flat tests: B = 1000, s_i as flat_s, light L = 1000 + 1000 * s_i / 1900 whose
 * correct calibration is 1000 everywhere. */
static void flat_light(float *L, float bias)
{
    for (int i = 0; i < 16; i++)
        L[i] = bias + 1000.0f * flat_s(i) / 1900.0f;
}

TEST(calib_raw_flat_calibrated_by_bias)
{
    ac_calib_opts_t o;
    ac_calset_t cs;
    ac_rowstats_t st;
    ac_image_t b, f;
    float L[16], *out;

    ac_calib_opts_default(&o);
    mk(&b, 4, 4, "/x/master_bias.fits", 16, 1000);
    mk(&f, 4, 4, "/x/master_flat.fits", 16, 0);
    for (int i = 0; i < 16; i++)
        f.px[i] = 1000.0f + flat_s(i); /* raw: bias included (AstroFiler) */
    flat_light(L, 1000);
    ASSERT_OK(ac_calib_prepare_take(&cs, &b, NULL, &f, NULL, 1.0, &o, NULL));
    ASSERT(cs.has_flat && !cs.flat_was_calibrated);
    ASSERT_EQ(cs.n_flat_scales, 1);
    ASSERT_NEAR(cs.flat_scale[0], 1900, 1e-9);
    out = run(&cs, L, 1, 0, &st);
    /* Without removing the flat's bias: Fn = 3000/2900 and 2800/2900 -> 1017 and 982. */
    for (int i = 0; i < 16; i++)
        ASSERT_NEAR(out[i], 1000, 1e-3);
    ASSERT_CONTAINS(HIST(&cs), "Flat calibrated by bias before normalisation");
    ASSERT_CONTAINS(HIST(&cs), "Flat normalised by its robust mean 1900.00");
    ASSERT_CONTAINS(HIST(&cs), "Flat divided: master_flat.fits");
    ASSERT_EQ(cs.n_dead, 0);
    free(out);
    ac_calset_free(&cs);
}

TEST(calib_calibrated_flat_not_calibrated_again)
{
    ac_calib_opts_t o;
    ac_calset_t cs;
    ac_rowstats_t st;
    ac_image_t b, f;
    float L[16], *out;

    ac_calib_opts_default(&o);
    mk(&b, 4, 4, "/x/master_bias.fits", 16, 1000);
    mk(&f, 4, 4, "/x/master_flat.fits", 16, 0);
    f.meta.bias_subtracted = AC_PROV_YES;
    for (int i = 0; i < 16; i++)
        f.px[i] = flat_s(i);
    flat_light(L, 1000);
    ASSERT_OK(ac_calib_prepare_take(&cs, &b, NULL, &f, NULL, 1.0, &o, NULL));
    ASSERT(cs.flat_was_calibrated);
    ASSERT_NEAR(cs.flat_scale[0], 1900, 1e-9);
    out = run(&cs, L, 1, 0, &st);
    /* Subtracting the bias again would give Fc = 1000 / 800: a vignetting error. */
    for (int i = 0; i < 16; i++)
        ASSERT_NEAR(out[i], 1000, 1e-3);
    ASSERT_CONTAINS(HIST(&cs),
                    "Flat already calibrated (provenance keyword): not calibrated again");
    free(out);
    ac_calset_free(&cs);
}

TEST(calib_flat_calibrated_by_measurement)
{
    ac_calib_opts_t o;
    ac_calset_t cs;
    ac_rowstats_t st;
    ac_image_t b, f;
    float L[16], *out;

    /* A flat whose median (190) is below the bias median (1000) has no bias in it. */
    ac_calib_opts_default(&o);
    mk(&b, 4, 4, "/x/master_bias.fits", 16, 1000);
    mk(&f, 4, 4, "/x/master_flat.fits", -32, 0);
    for (int i = 0; i < 16; i++)
        f.px[i] = flat_s(i) / 10.0f;
    flat_light(L, 1000);
    ASSERT_OK(ac_calib_prepare_take(&cs, &b, NULL, &f, NULL, 1.0, &o, NULL));
    ASSERT(cs.flat_was_calibrated);
    ASSERT_CONTAINS(HIST(&cs), "below the bias median");
    out = run(&cs, L, 1, 0, &st);
    for (int i = 0; i < 16; i++)
        ASSERT_NEAR(out[i], 1000, 1e-3);
    free(out);
    ac_calset_free(&cs);

    /* A float flat with median about 1 is already normalised; no bias, no warning. */
    mk(&f, 4, 4, "/x/master_flat.fits", -32, 0);
    for (int i = 0; i < 16; i++)
        f.px[i] = flat_s(i) / 1900.0f;
    flat_light(L, 0);
    ASSERT_OK(ac_calib_prepare_take(&cs, NULL, NULL, &f, NULL, 1.0, &o, NULL));
    ASSERT(cs.flat_was_calibrated);
    ASSERT_EQ(cs.n_warnings, 0);
    ASSERT_CONTAINS(HIST(&cs), "float flat with median 1.000");
    out = run(&cs, L, 1, 0, &st);
    for (int i = 0; i < 16; i++)
        ASSERT_NEAR(out[i], 1000, 1e-3);
    free(out);
    ac_calset_free(&cs);
}

TEST(calib_flat_option_overrides_provenance)
{
    ac_calib_opts_t o;
    ac_calset_t cs;
    ac_image_t b, f;

    ac_calib_opts_default(&o);
    o.flat_is_calibrated = AC_TRI_NO;
    mk(&b, 4, 4, "/x/master_bias.fits", 16, 1000);
    mk(&f, 4, 4, "/x/master_flat.fits", 16, 0);
    f.meta.bias_subtracted = AC_PROV_YES;
    for (int i = 0; i < 16; i++)
        f.px[i] = 1000.0f + flat_s(i);
    ASSERT_OK(ac_calib_prepare_take(&cs, &b, NULL, &f, NULL, 1.0, &o, NULL));
    ASSERT(!cs.flat_was_calibrated);
    ASSERT_NEAR(cs.flat_scale[0], 1900, 1e-9); /* the bias was removed */
    ASSERT_CONTAINS(HIST(&cs), "(raw flat: configuration)");
    ac_calset_free(&cs);
}

TEST(calib_flat_dark_applied_to_raw_flat)
{
    ac_calib_opts_t o;
    ac_calset_t cs;
    ac_rowstats_t st;
    ac_image_t b, f, fd;
    float L[16], *out;

    ac_calib_opts_default(&o);
    mk(&b, 4, 4, "/x/master_bias.fits", 16, 1000);
    mk(&f, 4, 4, "/x/master_flat.fits", 16, 0);
    mk(&fd, 4, 4, "/x/master_flatdark.fits", 16, 1200); /* bias + 200 of dark current */
    for (int i = 0; i < 16; i++)
        f.px[i] = 1200.0f + flat_s(i);
    flat_light(L, 1000);
    ASSERT_OK(ac_calib_prepare_take(&cs, &b, NULL, &f, &fd, 1.0, &o, NULL));
    ASSERT_NULL(fd.px);
    ASSERT(cs.has_flatdark);
    ASSERT_STR_EQ(cs.flatdark_name, "master_flatdark.fits");
    ASSERT_NEAR(cs.flat_scale[0], 1900, 1e-9); /* F - FD, not F - B (2100) */
    out = run(&cs, L, 1, 0, &st);
    for (int i = 0; i < 16; i++)
        ASSERT_NEAR(out[i], 1000, 1e-3);
    ASSERT_CONTAINS(HIST(&cs),
                    "Flat calibrated by flat-dark before normalisation: master_flatdark.fits");
    free(out);
    ac_calset_free(&cs);

    /* A bias-free flat-dark needs the bias too: F - FD - B. */
    mk(&b, 4, 4, "/x/master_bias.fits", 16, 1000);
    mk(&f, 4, 4, "/x/master_flat.fits", 16, 0);
    mk(&fd, 4, 4, "/x/master_flatdark.fits", -32, 200);
    fd.meta.bias_subtracted = AC_PROV_YES;
    for (int i = 0; i < 16; i++)
        f.px[i] = 1200.0f + flat_s(i);
    ASSERT_OK(ac_calib_prepare_take(&cs, &b, NULL, &f, &fd, 1.0, &o, NULL));
    ASSERT_NEAR(cs.flat_scale[0], 1900, 1e-9);
    ASSERT_CONTAINS(HIST(&cs), "Flat calibrated by flat-dark and bias");
    ac_calset_free(&cs);
}

TEST(calib_raw_flat_without_offset_warns)
{
    ac_calib_opts_t o;
    ac_calset_t cs;
    ac_image_t f;

    ac_calib_opts_default(&o);
    mk(&f, 4, 4, "/x/master_flat.fits", 16, 0);
    for (int i = 0; i < 16; i++)
        f.px[i] = 1000.0f + flat_s(i);
    ASSERT_OK(ac_calib_prepare_take(&cs, NULL, NULL, &f, NULL, 1.0, &o, NULL));
    ASSERT_NEAR(cs.flat_scale[0], 2900, 1e-9); /* mean of 3000 and 2800 */
    ASSERT_NULL(cs.offset);
    ASSERT_CONTAINS(warnings(&cs), "no bias or flat-dark is given");
    ASSERT_CONTAINS(HIST(&cs), "Flat used raw");
    ac_calset_free(&cs);
}

/* cfa_case builds a 4x4 calibrated flat whose colours follow col[y & 1][x & 1] (0 R,
 * 1 G, 2 B): R around 4000 (3900, 4100, 4000, 4000), G 2000, B 1000; the light is the
 * flat response times R 400, G 300, B 200, so the calibrated light must be exactly
 * those values. */
static void cfa_case(const char *pat, int xoff, const int col[2][2])
{
    static const float target[3] = {400, 300, 200}, level[3] = {4000, 2000, 1000};
    ac_calib_opts_t o;
    ac_calset_t cs;
    ac_rowstats_t st;
    ac_image_t f;
    float L[16], *out;
    int nr = 0;

    ac_calib_opts_default(&o);
    mk(&f, 4, 4, "/x/master_flat.fits", -32, 0);
    snprintf(f.meta.bayerpat, sizeof f.meta.bayerpat, "%s", pat);
    f.meta.xbayroff = xoff;
    f.meta.bias_subtracted = AC_PROV_YES;
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++) {
            int c = col[y & 1][x & 1], i = y * 4 + x;
            float v = level[c];
            if (c == 0 && nr < 2)
                v += nr++ == 0 ? -100.0f : 100.0f;
            f.px[i] = v;
            L[i] = target[c] * v / level[c];
        }
    ASSERT_OK(ac_calib_prepare_take(&cs, NULL, NULL, &f, NULL, 1.0, &o, NULL));
    ASSERT_EQ(cs.n_flat_scales, 3);
    ASSERT_NEAR(cs.flat_scale[0], 4000, 1e-9);
    ASSERT_NEAR(cs.flat_scale[1], 2000, 1e-9);
    ASSERT_NEAR(cs.flat_scale[2], 1000, 1e-9);
    ASSERT_CONTAINS(HIST(&cs),
                    "Flat normalised per CFA colour: R=4000.00, G=2000.00, B=1000.00");
    out = run(&cs, L, 1, 0, &st);
    /* One mono scale (2250) would give R 400 * 2250 / 4000 = 225: a colour shift. */
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++)
            ASSERT_NEAR(out[y * 4 + x], target[col[y & 1][x & 1]], 1e-3);
    free(out);
    ac_calset_free(&cs);
}

TEST(calib_cfa_flat_normalised_per_colour)
{
    static const int rggb[2][2] = {{0, 1}, {1, 2}};
    static const int shifted[2][2] = {{1, 0}, {2, 1}}; /* RGGB with XBAYROFF 1 */

    cfa_case("RGGB", 0, rggb);
    cfa_case("RGGB", 1, shifted);
}

TEST(calib_flat_floor_dead_pixels_never_inf)
{
    ac_calib_opts_t o;
    ac_calset_t cs;
    ac_rowstats_t st;
    ac_image_t f;
    float L[256], *out;

    ac_calib_opts_default(&o);
    mk(&f, 16, 16, "/x/master_flat.fits", -32, 1000);
    f.meta.bias_subtracted = AC_PROV_YES;
    f.px[0] = 0;
    f.px[1] = -5;
    f.px[2] = NAN;
    f.px[3] = 10; /* Fn 0.01 */
    f.px[4] = 50; /* Fn 0.05: at the floor counts as dead */
    f.px[5] = 60; /* Fn 0.06: alive */
    for (int i = 0; i < 256; i++)
        L[i] = 1100;
    ASSERT_OK(ac_calib_prepare_take(&cs, NULL, NULL, &f, NULL, 1.0, &o, NULL));
    /* Scale: median 1000 and MAD 0 keep the 250 pixels at 1000. */
    ASSERT_NEAR(cs.flat_scale[0], 1000, 0);
    ASSERT_EQ(cs.n_dead, 5);
    ASSERT_CONTAINS(HIST(&cs), "5 dead flat pixels floored at 0.05");
    out = run(&cs, L, 1, 0, &st);
    for (int i = 0; i < 5; i++)
        ASSERT_NEAR(out[i], 22000, 1e-2); /* 1100 / 0.05 */
    ASSERT_NEAR(out[5], 1100.0 * 1000.0 / 60.0, 1e-2);
    for (int i = 6; i < 256; i++)
        ASSERT_NEAR(out[i], 1100, 0);
    for (int i = 0; i < 256; i++)
        ASSERT(isfinite(out[i]));
    ASSERT_EQ(st.n_dead, 5);
    ASSERT_NEAR(st.max, 22000, 1e-2);
    free(out);
    ac_calset_free(&cs);
}

TEST(calib_flat_rejections)
{
    ac_calib_opts_t o;
    ac_calset_t cs;
    ac_image_t f, b;
    ac_err_t e = {0};

    ac_calib_opts_default(&o);
    /* 30 of 256 pixels (11.7 %) at or above 98 % of 65535. */
    mk(&f, 16, 16, "/x/sat.fits", 16, 30000);
    f.meta.bias_subtracted = AC_PROV_YES;
    for (int i = 0; i < 30; i++)
        f.px[i] = 65000;
    ASSERT_EQ(ac_calib_prepare_take(&cs, NULL, NULL, &f, NULL, 1.0, &o, &e), AC_EMASTER);
    ASSERT_CONTAINS(e.msg, "flat /x/sat.fits is saturated");
    /* 20 pixels (7.8 %) is acceptable. */
    mk(&f, 16, 16, "/x/sat.fits", 16, 30000);
    f.meta.bias_subtracted = AC_PROV_YES;
    for (int i = 0; i < 20; i++)
        f.px[i] = 65000;
    ASSERT_OK(ac_calib_prepare_take(&cs, NULL, NULL, &f, NULL, 1.0, &o, NULL));
    ac_calset_free(&cs);
    /* Scale 300 is below 1 % of 65535. */
    ac_err_clear(&e);
    mk(&f, 4, 4, "/x/empty.fits", 16, 300);
    f.meta.bias_subtracted = AC_PROV_YES;
    ASSERT_EQ(ac_calib_prepare_take(&cs, NULL, NULL, &f, NULL, 1.0, &o, &e), AC_EMASTER);
    ASSERT_CONTAINS(e.msg, "flat /x/empty.fits is nearly empty");
    /* A raw flat below its bias has a negative scale. */
    ac_err_clear(&e);
    o.flat_is_calibrated = AC_TRI_NO;
    mk(&b, 4, 4, "/x/b.fits", 16, 1000);
    mk(&f, 4, 4, "/x/neg.fits", 16, 900);
    ASSERT_EQ(ac_calib_prepare_take(&cs, &b, NULL, &f, NULL, 1.0, &o, &e), AC_EMASTER);
    ASSERT_CONTAINS(e.msg, "flat /x/neg.fits has a non-positive scale -100");
    ASSERT_NULL(b.px);
    ASSERT_NULL(f.px);
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
    out = run(&cs, L, 1, 0, &st);
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

TEST(calib_full_chain_and_history)
{
    ac_calib_opts_t o;
    ac_calset_t cs;
    ac_rowstats_t st;
    ac_image_t b, d, f;
    float L[16], *out;
    const char *h;

    /* B 1000, D 1100 with bias, k 1.5: offset 1150. Raw flat 1000 + s_i: scale 1900.
     * L = 1150 + 500 s_i / 1900 -> out = 500 + pedestal 100. */
    ac_calib_opts_default(&o);
    mk(&b, 4, 4, "/x/master_bias.fits", 16, 1000);
    mk(&d, 4, 4, "/x/master_dark.fits", 16, 1100);
    mk(&f, 4, 4, "/x/master_flat.fits", 16, 0);
    d.meta.exptime = 200;
    d.meta.bias_subtracted = AC_PROV_NO;
    for (int i = 0; i < 16; i++) {
        f.px[i] = 1000.0f + flat_s(i);
        L[i] = 1150.0f + 500.0f * flat_s(i) / 1900.0f;
    }
    ASSERT_OK(ac_calib_prepare_take(&cs, &b, &d, &f, NULL, 1.5, &o, NULL));
    ASSERT_NEAR(cs.dark_exptime, 200, 0);
    out = run(&cs, L, 1.5, 100, &st);
    for (int i = 0; i < 16; i++)
        ASSERT_NEAR(out[i], 600, 1e-3);
    ASSERT_EQ(st.n_negative, 0);
    h = HIST(&cs);
    ASSERT_CONTAINS(h, "Bias subtracted: master_bias.fits");
    ASSERT_CONTAINS(h, "Dark contains bias (provenance keyword)");
    ASSERT_CONTAINS(h, "Dark subtracted: master_dark.fits");
    ASSERT_CONTAINS(h, "Dark scaled by k=1.500 (bias-free dark)");
    ASSERT_CONTAINS(h, "Flat calibrated by bias before normalisation");
    ASSERT_CONTAINS(h, "Flat normalised by its robust mean 1900.00");
    ASSERT_CONTAINS(h, "Flat divided: master_flat.fits");
    ASSERT_STR_EQ(cs.dark_name, "master_dark.fits");
    ASSERT_STR_EQ(cs.flat_name, "master_flat.fits");
    free(out);
    ac_calset_free(&cs);
    ASSERT_NULL(cs.offset);
}
