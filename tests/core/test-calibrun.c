/*
 * test-calibrun.c - the per-light half of the calibration (daemon/core/calibrun.c) on tiny
 * images with hand-computed answers: light checks (geometry never forced, filter,
 * temperature, gain/offset), the per-row kernel and its counts, hot pixel replacement
 * (mono and same CFA colour), dark optimisation and the automatic pedestal.
 */
#include <errno.h>
#include <stdint.h>

#include "calib.h"
#include "calibtest.h"
#include "test.h"

/* A calset built by hand for ac_calib_check_light (it only reads the metadata). */
static void check_set(ac_calset_t *cs, int w, int h)
{
    memset(cs, 0, sizeof *cs);
    cs->w = w;
    cs->h = h;
    cs->geometry = meta0();
    cs->geometry.width = w;
    cs->geometry.height = h;
    cs->geometry.xbin = cs->geometry.ybin = 1;
    cs->bias_meta = cs->dark_meta = cs->flat_meta = meta0();
    snprintf(cs->bias_name, sizeof cs->bias_name, "b.fits");
    snprintf(cs->dark_name, sizeof cs->dark_name, "d.fits");
    snprintf(cs->flat_name, sizeof cs->flat_name, "f.fits");
}

static ac_meta_t light_meta(int w, int h)
{
    ac_meta_t m = meta0();

    m.width = w;
    m.height = h;
    m.xbin = m.ybin = 1;
    return m;
}

/* A light check: options, a calset built by check_set, the light's metadata, the error and
 * the warnings of ac_calib_check_light. */
struct light_check {
    ac_calib_opts_t o;
    ac_calset_t cs;
    ac_meta_t l;
    ac_err_t e;
    char w[256];
};

/* check_init sets k to the default options and w x h masters and light. */
static void check_init(struct light_check *k, int w, int h)
{
    memset(k, 0, sizeof *k);
    ac_calib_opts_default(&k->o);
    check_set(&k->cs, w, h);
    k->l = light_meta(w, h);
}

/* check checks the light "/x/l.fits" of k (the error into k->e when with_err). */
static int check(struct light_check *k, bool with_err)
{
    return ac_calib_check_light(&k->cs, &k->l, "/x/l.fits", &k->o, k->w, sizeof k->w,
                                with_err ? &k->e : NULL);
}

TEST(calib_check_light_geometry_never_forced)
{
    struct light_check k;

    check_init(&k, 1548, 1040);
    k.o.force = true;
    k.l = light_meta(1544, 1040);
    k.l.xbin = k.l.ybin = 2;
    ASSERT_EQ(check(&k, true), AC_EGEOMETRY);
    ASSERT_STR_EQ(k.e.msg,
                  "light /x/l.fits: NAXIS1 x NAXIS2 = 1544x1040, masters are 1548x1040 "
                  "(binning 2x2 vs 1x1)");
    ac_err_clear(&k.e);
    k.l = light_meta(1548, 1040);
    k.l.xbin = k.l.ybin = 2;
    ASSERT_EQ(check(&k, true), AC_EGEOMETRY);
    ASSERT_STR_EQ(k.e.msg, "light /x/l.fits: binning 2x2, masters are 1x1");
    ac_err_clear(&k.e);
    k.l = light_meta(1548, 1040);
    snprintf(k.l.bayerpat, sizeof k.l.bayerpat, "RGGB");
    ASSERT_EQ(check(&k, true), AC_EGEOMETRY);
    ASSERT_CONTAINS(k.e.msg, "CFA layout RGGB");
    k.l = light_meta(1548, 1040);
    ASSERT_OK(check(&k, false));
    ASSERT_STR_EQ(k.w, "");
}

TEST(calib_check_light_filter)
{
    struct light_check k;

    check_init(&k, 8, 8);
    k.cs.has_flat = true;
    snprintf(k.cs.flat_meta.filter, sizeof k.cs.flat_meta.filter, "Ha ");
    snprintf(k.l.filter, sizeof k.l.filter, " ha");
    ASSERT_OK(check(&k, false));
    snprintf(k.l.filter, sizeof k.l.filter, "OIII");
    ASSERT_EQ(check(&k, true), AC_EMETADATA);
    ASSERT_STR_EQ(k.e.msg,
                  "light /x/l.fits: FILTER 'OIII', master flat f.fits has FILTER 'Ha '");
    k.o.force = true;
    ASSERT_OK(check(&k, false));
    ASSERT_CONTAINS(k.w, "FILTER 'OIII'");
    ASSERT_CONTAINS(k.w, "(forced)");
    k.o.force = false;
    k.l.filter[0] = '\0';
    ASSERT_OK(check(&k, false));
    ASSERT_CONTAINS(k.w, "FILTER not compared");
}

TEST(calib_check_light_temperature)
{
    struct light_check k;

    /* The rule of meta.h (ac_temp_compare), the one the planner applies: the issue's
     * night, dark at -12 C, lights at -10 C, tolerance 5, must calibrate. */
    check_init(&k, 8, 8);
    k.cs.has_dark = true;
    k.cs.dark_meta.set_temp = -12;
    k.cs.dark_meta.ccd_temp = NAN;
    k.l.set_temp = -10;
    k.l.ccd_temp = NAN;
    ASSERT_OK(check(&k, false));
    /* 7 C apart: refused, naming both values. */
    k.l.set_temp = -5;
    ASSERT_EQ(check(&k, true), AC_EMETADATA);
    ASSERT_CONTAINS(k.e.msg, "light SET-TEMP -5.0 C vs master dark d.fits SET-TEMP -12.0 C: "
                             "7.0 C apart (> 5.0)");
    k.o.max_temp_diff = 10;
    ASSERT_OK(check(&k, false));
    k.o.max_temp_diff = 5;
    /* Sensor temperatures on both sides decide before the set points. */
    k.cs.dark_meta.set_temp = k.l.set_temp = -10;
    k.cs.dark_meta.ccd_temp = -10;
    k.l.ccd_temp = -2; /* the cooler did not reach its set point: 8 C warmer */
    ac_err_clear(&k.e);
    ASSERT_EQ(check(&k, true), AC_EMETADATA);
    ASSERT_CONTAINS(k.e.msg, "light CCD-TEMP -2.0 C vs master dark d.fits CCD-TEMP -10.0 C");
    k.l.ccd_temp = -14;
    ASSERT_OK(check(&k, false));
    /* A sensor temperature on one side, a set point only on the other: those two. */
    k.l.set_temp = NAN;
    k.cs.dark_meta.ccd_temp = NAN;
    k.cs.dark_meta.set_temp = -10;
    ASSERT_OK(check(&k, false));
    /* The master without temperature: the tolerance cannot be checked, refused. */
    k.cs.dark_meta.set_temp = NAN;
    ac_err_clear(&k.e);
    ASSERT_EQ(check(&k, true), AC_EMETADATA);
    ASSERT_CONTAINS(k.e.msg, "has no temperature");
    ASSERT_CONTAINS(k.e.msg, "CAMTEMP");
    k.o.force = true;
    ASSERT_OK(check(&k, false));
    ASSERT_CONTAINS(k.w, "(forced)");
    k.o.force = false;
    /* Neither side with a temperature (an uncooled camera): accepted with a note. */
    k.l.ccd_temp = NAN;
    ASSERT_OK(check(&k, false));
    ASSERT_CONTAINS(k.w, "uncooled camera");
}

TEST(calib_check_light_gain_offset)
{
    struct light_check k;

    check_init(&k, 8, 8);
    k.cs.has_bias = true;
    k.cs.bias_meta.gain = 100;
    k.cs.bias_meta.offset = 50;
    ASSERT_OK(check(&k, false)); /* missing */
    k.l.gain = 100;
    k.l.offset = 50;
    ASSERT_OK(check(&k, false));
    k.l.gain = 200;
    ASSERT_EQ(check(&k, true), AC_EMETADATA);
    ASSERT_STR_EQ(k.e.msg, "light /x/l.fits: GAIN 200, master bias b.fits has GAIN 100");
    k.l.gain = 100;
    k.l.offset = 60;
    ac_err_clear(&k.e);
    ASSERT_EQ(check(&k, true), AC_EMETADATA);
    ASSERT_CONTAINS(k.e.msg, "OFFSET 60");
    k.o.force = true;
    ASSERT_OK(check(&k, false));
    ASSERT_CONTAINS(k.w, "OFFSET 60");
}

TEST(calib_rows_counts_pedestal_and_in_place)
{
    ac_calib_opts_t o;
    ac_calset_t cs;
    ac_rowstats_t st;
    ac_image_t b;
    float L[24], buf[24], *out;

    /* 6x4 = 24 pixels: one block of 16 and a tail of 8. Bias 100. */
    ac_calib_opts_default(&o);
    mk(&b, 6, 4, "/x/b.fits", 16, 100);
    for (int i = 0; i < 24; i++)
        L[i] = i < 3 ? 50.0f : i == 3 ? 100.0f : (i == 4 || i == 20) ? 65535.0f : 200.0f;
    ASSERT_OK(ac_calib_prepare_take(&cs, &b, NULL, NULL, NULL, 1.0, &o, NULL));
    ac_rowstats_init(&st);
    out = malloc(sizeof L);
    ac_calib_rows(&cs, L, out, 0, 4, 1, 0, 65535, &st);
    ASSERT_EQ(st.n, 24);
    ASSERT_EQ(st.n_negative, 3); /* 50 - 100 */
    ASSERT_EQ(st.n_zero, 1);
    ASSERT_EQ(st.n_saturated_in, 2);
    ASSERT_EQ(st.n_dead, 0);
    ASSERT_NEAR(st.min, -50, 0);
    ASSERT_NEAR(st.max, 65435, 0);
    ASSERT_NEAR(out[0], -50, 0);
    ASSERT_NEAR(out[23], 100, 0);
    /* In place, with a pedestal of 50 and no saturation level: counts accumulate. */
    memcpy(buf, L, sizeof buf);
    ac_rowstats_init(&st);
    ac_calib_rows(&cs, buf, buf, 0, 4, 1, 50, NAN, &st);
    ASSERT_EQ(st.n_negative, 0);
    ASSERT_EQ(st.n_zero, 3);
    ASSERT_EQ(st.n_saturated_in, 0);
    ASSERT_NEAR(st.min, 0, 0);
    ASSERT_NEAR(buf[3], 50, 0);
    ASSERT_NEAR(buf[23], 150, 0);
    /* Rows 2..3 only: the planes are read at row 2. */
    ac_rowstats_init(&st);
    ac_calib_rows(&cs, L + 12, out, 2, 2, 1, 0, 65535, &st);
    ASSERT_EQ(st.n, 12);
    ASSERT_EQ(st.n_saturated_in, 1);
    ASSERT_NEAR(out[8], 65435, 0); /* pixel 20 */
    free(out);
    ac_calset_free(&cs);
}

/* hot_dark sets *o to the default options with the cosmetic correction and makes *d an 8 x 8
 * bias-free float dark 10, 11, 12 repeating (median 11, MAD 1: threshold 11 + 5 * 1.4826)
 * with CFA layout bayerpat ("": mono). */
static void hot_dark(ac_calib_opts_t *o, ac_image_t *d, const char *bayerpat)
{
    ac_calib_opts_default(o);
    o->cosmetic = true;
    mk(d, 8, 8, "/x/d.fits", -32, 0);
    snprintf(d->meta.bayerpat, sizeof d->meta.bayerpat, "%s", bayerpat);
    d->meta.bias_subtracted = AC_PROV_YES;
    for (int i = 0; i < 64; i++)
        d->px[i] = 10.0f + (float)(i % 3);
}

TEST(calib_hot_pixel_mono_neighbours)
{
    ac_calib_opts_t o;
    ac_calset_t cs;
    ac_image_t d;
    float buf[64];

    /* The hot_dark pattern and one hot pixel at (3, 3). */
    hot_dark(&o, &d, "");
    d.px[27] = 5000;
    ASSERT_OK(ac_calib_prepare_take(&cs, NULL, &d, NULL, NULL, 1.0, &o, NULL));
    ASSERT_EQ(cs.n_hot, 1);
    ASSERT_EQ(cs.hot[0], 27);
    ASSERT_CONTAINS(HIST(&cs), "1 hot pixels found in the dark");
    for (int i = 0; i < 64; i++)
        buf[i] = (float)i;
    buf[27] = 99999;
    ASSERT_EQ(ac_calib_fix_hot(&cs, buf, 0, 8, 4, 4), 0); /* not in rows 4..7 */
    ASSERT_NEAR(buf[27], 99999, 0);
    /* Neighbours 18 19 20 26 28 34 35 36: median (26 + 28) / 2. */
    ASSERT_EQ(ac_calib_fix_hot(&cs, buf, 0, 8, 0, 8), 1);
    ASSERT_NEAR(buf[27], 27, 0);
    ac_calset_free(&cs);
}

TEST(calib_hot_pixel_cfa_same_colour)
{
    ac_calib_opts_t o;
    ac_calset_t cs;
    ac_image_t d;
    float buf[64], part[40];

    hot_dark(&o, &d, "RGGB");
    d.px[36] = 5000; /* (4, 4), a red pixel */
    ASSERT_OK(ac_calib_prepare_take(&cs, NULL, &d, NULL, NULL, 1.0, &o, NULL));
    ASSERT_EQ(cs.n_hot, 1);
    ASSERT_EQ(cs.hot[0], 36);
    /* Red pixels 100 + x + 10y, other colours 9999 (must never be used). */
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 8; x++)
            buf[y * 8 + x] =
                (x % 2 == 0 && y % 2 == 0) ? 100.0f + (float)x + 10.0f * (float)y : 9999.0f;
    buf[36] = 77777;
    memcpy(part, buf + 24, sizeof part); /* rows 3..7 */
    /* Red neighbours at distance 2: 122 124 126 142 146 162 164 166 -> (142 + 146) / 2. */
    ASSERT_EQ(ac_calib_fix_hot(&cs, buf, 0, 8, 4, 1), 1);
    ASSERT_NEAR(buf[36], 144, 0);
    /* With only rows 3..7 buffered: 142 146 162 164 166 -> 162. */
    ASSERT_EQ(ac_calib_fix_hot(&cs, part, 3, 5, 4, 1), 1);
    ASSERT_NEAR(part[12], 162, 0);
    ac_calset_free(&cs);
}

/* opt_case: bias 1000 + i % 7, bias-free dark 20 + 13 * ((7919 i) % 17), light = bias
 * + 0.7 * dark + 500; the optimiser must find k = 0.7 and the output 500. */
static void opt_case(bool dark_has_bias)
{
    enum { W = 16, H = 8, N = W * H };
    ac_calib_opts_t o;
    ac_calset_t cs;
    ac_rowstats_t st;
    ac_image_t b, d;
    float L[N], dc[N], out[N];
    int ys[H];
    double k = -1;

    ac_calib_opts_default(&o);
    o.dark_optimize = true;
    mk(&b, W, H, "/x/b.fits", 16, 0);
    mk(&d, W, H, "/x/d.fits", -32, 0);
    d.meta.bias_subtracted = dark_has_bias ? AC_PROV_NO : AC_PROV_YES;
    for (int i = 0; i < N; i++) {
        b.px[i] = 1000.0f + (float)(i % 7);
        dc[i] = 20.0f + 13.0f * (float)((i * 7919) % 17);
        d.px[i] = dark_has_bias ? b.px[i] + dc[i] : dc[i];
        L[i] = b.px[i] + 0.7f * dc[i] + 500.0f;
    }
    for (int y = 0; y < H; y++)
        ys[y] = y;
    ASSERT_OK(ac_calib_prepare_take(&cs, &b, &d, NULL, NULL, 1.0, &o, NULL));
    ASSERT_NULL(cs.offset);
    ASSERT_NOT_NULL(cs.dark_c);
    ASSERT_NOT_NULL(cs.bias);
    ASSERT_NEAR(cs.dark_c[5], dc[5], 0);
    ASSERT_CONTAINS(HIST(&cs), "noise optimisation");
    ASSERT_OK(ac_calib_optimize_k(&cs, L, ys, H, &o, &k));
    ASSERT_NEAR(k, 0.7, 2e-3);
    ac_rowstats_init(&st);
    ac_calib_rows(&cs, L, out, 0, H, 0.7, 0, NAN, &st);
    for (int i = 0; i < N; i++)
        ASSERT_NEAR(out[i], 500, 1e-3);
    ac_calset_free(&cs);
}

TEST(calib_dark_optimisation_finds_k)
{
    opt_case(false);
    opt_case(true);
}

TEST(calib_auto_pedestal)
{
    const float v[10] = {-10.5f, -3, 0, 1, 2, 3, 4, 5, 6, NAN};
    const float w[4] = {-5, 1, 2, 3};
    const float pos[3] = {1, 2, 3};
    ac_calib_opts_t o;
    double p;

    /* 9 finite values sorted -10.5 -3 0 1 2 ...; allowed = floor(frac * 9) at <= 0. */
    ac_calib_opts_default(&o);
    o.pedestal_max_frac = 0;
    ASSERT_OK(ac_calib_auto_pedestal(v, 10, &o, &p));
    ASSERT_NEAR(p, 11, 0);      /* -10.5 + 11 > 0 */
    o.pedestal_max_frac = 0.12; /* 1 allowed: -3 must end > 0 */
    ASSERT_OK(ac_calib_auto_pedestal(v, 10, &o, &p));
    ASSERT_NEAR(p, 4, 0);
    o.pedestal_max_frac = 0.25; /* 2 allowed: 0 must end > 0 */
    ASSERT_OK(ac_calib_auto_pedestal(v, 10, &o, &p));
    ASSERT_NEAR(p, 1, 0);
    o.pedestal_max_frac = 0.34; /* 3 allowed: 1 is already positive */
    ASSERT_OK(ac_calib_auto_pedestal(v, 10, &o, &p));
    ASSERT_NEAR(p, 0, 0);
    o.pedestal_max_frac = 0;
    ASSERT_OK(ac_calib_auto_pedestal(w, 4, &o, &p));
    ASSERT_NEAR(p, 6, 0); /* -5 + 5 = 0 is still <= 0 */
    ASSERT_OK(ac_calib_auto_pedestal(pos, 3, &o, &p));
    ASSERT_NEAR(p, 0, 0);
}
