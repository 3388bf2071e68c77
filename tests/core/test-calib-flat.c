/*
 * test-calib-flat.c - flat calibration and normalisation in master preparation
 * (daemon/core/calib.c) on tiny images with hand-computed answers: raw and calibrated flats,
 * flat-darks, per CFA colour normalisation, the flat floor, flat rejections, and the HISTORY
 * of a full chain. The rest of master preparation is in test-calib.c.
 */
#include <errno.h>
#include <stdint.h>

#include "calib.h"
#include "calibtest.h"
#include "test.h"

/* s_i of the test flat: 2000 on the first half of a 4x4 frame, 1800 on the second half;
 * its robust mean is 1900 (median 1900, MAD 100, nothing clipped). */
static float flat_s(int i)
{
    return i < 8 ? 2000.0f : 1800.0f;
}

/* Flat tests: B = 1000, s_i as flat_s, light L = 1000 + 1000 * s_i / 1900 whose
 * correct calibration is 1000 everywhere. */
static void flat_light(float *L, float bias)
{
    for (int i = 0; i < 16; i++)
        L[i] = bias + 1000.0f * flat_s(i) / 1900.0f;
}

/* flat_of makes *f the 4 x 4 master_flat.fits of bitpix with pixels base + s_i / div. */
static void flat_of(ac_image_t *f, int bitpix, float base, float div)
{
    mk(f, 4, 4, "/x/master_flat.fits", bitpix, 0);
    for (int i = 0; i < 16; i++)
        f->px[i] = base + flat_s(i) / div;
}

/* bias_and_flat makes *b the 4 x 4 16-bit master_bias.fits of 1000 and *f as flat_of. */
static void bias_and_flat(ac_image_t *b, ac_image_t *f, int bitpix, float base, float div)
{
    mk(b, 4, 4, "/x/master_bias.fits", 16, 1000);
    flat_of(f, bitpix, base, div);
}

/* assert_flat_corrected calibrates the flat light (flat_light with bias) through cs and
 * requires 1000 in every pixel. */
static void assert_flat_corrected(const ac_calset_t *cs, float bias)
{
    ac_rowstats_t st;
    float L[16], *out;

    flat_light(L, bias);
    out = calib_whole(cs, L, 1, 0, &st);
    for (int i = 0; i < 16; i++)
        ASSERT_NEAR(out[i], 1000, 1e-3);
    free(out);
}

TEST(calib_raw_flat_calibrated_by_bias)
{
    ac_calib_opts_t o;
    ac_calset_t cs;
    ac_image_t b, f;

    ac_calib_opts_default(&o);
    bias_and_flat(&b, &f, 16, 1000, 1); /* raw: bias included (AstroFiler) */
    ASSERT_OK(ac_calib_prepare_take(&cs, &b, NULL, &f, NULL, 1.0, &o, NULL));
    ASSERT(cs.has_flat && !cs.flat_was_calibrated);
    ASSERT_EQ(cs.n_flat_scales, 1);
    ASSERT_NEAR(cs.flat_scale[0], 1900, 1e-9);
    /* Without removing the flat's bias: Fn = 3000/2900 and 2800/2900 -> 1017 and 982. */
    assert_flat_corrected(&cs, 1000);
    ASSERT_CONTAINS(HIST(&cs), "Flat calibrated by bias before normalisation");
    ASSERT_CONTAINS(HIST(&cs), "Flat normalised by its robust mean 1900.00");
    ASSERT_CONTAINS(HIST(&cs), "Flat divided: master_flat.fits");
    ASSERT_EQ(cs.n_dead, 0);
    ac_calset_free(&cs);
}

TEST(calib_calibrated_flat_not_calibrated_again)
{
    ac_calib_opts_t o;
    ac_calset_t cs;
    ac_image_t b, f;

    ac_calib_opts_default(&o);
    bias_and_flat(&b, &f, 16, 0, 1);
    f.meta.bias_subtracted = AC_PROV_YES;
    ASSERT_OK(ac_calib_prepare_take(&cs, &b, NULL, &f, NULL, 1.0, &o, NULL));
    ASSERT(cs.flat_was_calibrated);
    ASSERT_NEAR(cs.flat_scale[0], 1900, 1e-9);
    /* Subtracting the bias again would give Fc = 1000 / 800: a vignetting error. */
    assert_flat_corrected(&cs, 1000);
    ASSERT_CONTAINS(HIST(&cs),
                    "Flat already calibrated (provenance keyword): not calibrated again");
    ac_calset_free(&cs);
}

TEST(calib_flat_calibrated_by_measurement)
{
    ac_calib_opts_t o;
    ac_calset_t cs;
    ac_image_t b, f;

    /* A flat whose median (190) is below the bias median (1000) has no bias in it. */
    ac_calib_opts_default(&o);
    bias_and_flat(&b, &f, -32, 0, 10);
    ASSERT_OK(ac_calib_prepare_take(&cs, &b, NULL, &f, NULL, 1.0, &o, NULL));
    ASSERT(cs.flat_was_calibrated);
    ASSERT_CONTAINS(HIST(&cs), "below the bias median");
    assert_flat_corrected(&cs, 1000);
    ac_calset_free(&cs);

    /* A float flat with median about 1 is already normalised; no bias, no warning. */
    flat_of(&f, -32, 0, 1900);
    ASSERT_OK(ac_calib_prepare_take(&cs, NULL, NULL, &f, NULL, 1.0, &o, NULL));
    ASSERT(cs.flat_was_calibrated);
    ASSERT_EQ(cs.n_warnings, 0);
    ASSERT_CONTAINS(HIST(&cs), "float flat with median 1.000");
    assert_flat_corrected(&cs, 0);
    ac_calset_free(&cs);
}

TEST(calib_flat_option_overrides_provenance)
{
    ac_calib_opts_t o;
    ac_calset_t cs;
    ac_image_t b, f;

    ac_calib_opts_default(&o);
    o.flat_is_calibrated = AC_TRI_NO;
    bias_and_flat(&b, &f, 16, 1000, 1);
    f.meta.bias_subtracted = AC_PROV_YES;
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
    ac_image_t b, f, fd;

    ac_calib_opts_default(&o);
    bias_and_flat(&b, &f, 16, 1200, 1);
    mk(&fd, 4, 4, "/x/master_flatdark.fits", 16, 1200); /* bias + 200 of dark current */
    ASSERT_OK(ac_calib_prepare_take(&cs, &b, NULL, &f, &fd, 1.0, &o, NULL));
    ASSERT_NULL(fd.px);
    ASSERT(cs.has_flatdark);
    ASSERT_STR_EQ(cs.flatdark_name, "master_flatdark.fits");
    ASSERT_NEAR(cs.flat_scale[0], 1900, 1e-9); /* F - FD, not F - B (2100) */
    assert_flat_corrected(&cs, 1000);
    ASSERT_CONTAINS(HIST(&cs),
                    "Flat calibrated by flat-dark before normalisation: master_flatdark.fits");
    ac_calset_free(&cs);

    /* A bias-free flat-dark needs the bias too: F - FD - B. */
    bias_and_flat(&b, &f, 16, 1200, 1);
    mk(&fd, 4, 4, "/x/master_flatdark.fits", -32, 200);
    fd.meta.bias_subtracted = AC_PROV_YES;
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
    flat_of(&f, 16, 1000, 1);
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
    out = calib_whole(&cs, L, 1, 0, &st);
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

TEST(calib_colour_flat_without_bayer_pattern_refused)
{
    static const int rggb[2][2] = {{0, 1}, {1, 2}};
    static const float level[3] = {4000, 2000, 1000};
    ac_calib_opts_t o;
    ac_calset_t cs;
    ac_image_t f;
    ac_err_t e = {0};

    /* A colour sensor's flat (R 4000, G 2000, B 1000) that says nothing of its pattern:
     * one level would leave the colours' ratios in every light (issue 9). */
    ac_calib_opts_default(&o);
    mk(&f, 4, 4, "/x/master_flat.fits", -32, 0);
    f.meta.bias_subtracted = AC_PROV_YES;
    for (int i = 0; i < 16; i++)
        f.px[i] = level[rggb[(i / 4) & 1][i & 1]];
    ASSERT_EQ(ac_calib_prepare_take(&cs, NULL, NULL, &f, NULL, 1.0, &o, &e), AC_EMASTER);
    ASSERT_CONTAINS(e.msg, "flat /x/master_flat.fits has no Bayer pattern");
    ASSERT_CONTAINS(e.msg, "ratio 4.00 > 1.25");
    /* A mono flat whose neighbours differ by 20 % (below 1.25) is normalised as before. */
    mk(&f, 4, 4, "/x/master_flat.fits", -32, 0);
    f.meta.bias_subtracted = AC_PROV_YES;
    for (int i = 0; i < 16; i++)
        f.px[i] = (i & 1) ? 1200.0f : 1000.0f;
    ASSERT_OK(ac_calib_prepare_take(&cs, NULL, NULL, &f, NULL, 1.0, &o, NULL));
    ASSERT_EQ(cs.n_flat_scales, 1);
    ac_calset_free(&cs);
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
    out = calib_whole(&cs, L, 1, 0, &st);
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

/* saturated_flat makes *f the calibrated 16 x 16 flat /x/sat.fits of 30000 with its first
 * n pixels at 65000. */
static void saturated_flat(ac_image_t *f, int n)
{
    mk(f, 16, 16, "/x/sat.fits", 16, 30000);
    f->meta.bias_subtracted = AC_PROV_YES;
    for (int i = 0; i < n; i++)
        f->px[i] = 65000;
}

TEST(calib_flat_rejections)
{
    ac_calib_opts_t o;
    ac_calset_t cs;
    ac_image_t f, b;
    ac_err_t e = {0};

    ac_calib_opts_default(&o);
    /* 30 of 256 pixels (11.7 %) at or above 98 % of 65535. */
    saturated_flat(&f, 30);
    ASSERT_EQ(ac_calib_prepare_take(&cs, NULL, NULL, &f, NULL, 1.0, &o, &e), AC_EMASTER);
    ASSERT_CONTAINS(e.msg, "flat /x/sat.fits is saturated");
    /* 20 pixels (7.8 %) is acceptable. */
    saturated_flat(&f, 20);
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
    flat_of(&f, 16, 1000, 1);
    d.meta.exptime = 200;
    d.meta.bias_subtracted = AC_PROV_NO;
    for (int i = 0; i < 16; i++)
        L[i] = 1150.0f + 500.0f * flat_s(i) / 1900.0f;
    ASSERT_OK(ac_calib_prepare_take(&cs, &b, &d, &f, NULL, 1.5, &o, NULL));
    ASSERT_NEAR(cs.dark_exptime, 200, 0);
    out = calib_whole(&cs, L, 1.5, 100, &st);
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
