/*
 * test-stack.c - master-frame combination (daemon/core/stack.c) on hand-made cases with
 * exact numbers and counts: options and names, bad arguments, a five-sub example worked by
 * hand, medians and means, constant stacks, one and two subs; and on generated subs
 * (tests/support/stacktest.h): the noise of the result and strips against one whole call.
 * The comparisons with an independent reference are in test-stack-ref.c.
 */
#include <errno.h>
#include <stdint.h>

#include "stack.h"
#include "stacktest.h"
#include "test.h"

TEST(stack_opts_defaults_check_and_names)
{
    ac_stack_opts_t o;
    ac_err_t e = {0};

    ac_stack_opts_default(&o);
    ASSERT_EQ(o.method, AC_STACK_SIGMA_CLIP);
    ASSERT_NEAR(o.kappa_low, 3.0, 0);
    ASSERT_NEAR(o.kappa_high, 3.0, 0);
    ASSERT_EQ(o.iterations, 3);
    ASSERT_EQ(o.median_below, 6);
    ASSERT_EQ(o.sigma_estimator, AC_STACK_SIGMA_STDDEV);
    ASSERT_OK(ac_stack_opts_check(&o, &e));

    o.kappa_high = 0;
    ASSERT_EQ(ac_stack_opts_check(&o, &e), AC_ECONFIG);
    ASSERT_CONTAINS(e.msg, "kappa_high");
    ac_err_clear(&e);
    o.kappa_high = NAN;
    ASSERT_EQ(ac_stack_opts_check(&o, &e), AC_ECONFIG);
    ac_err_clear(&e);
    ac_stack_opts_default(&o);
    o.iterations = -1;
    ASSERT_EQ(ac_stack_opts_check(&o, &e), AC_ECONFIG);
    ASSERT_CONTAINS(e.msg, "iterations");
    ac_err_clear(&e);
    ac_stack_opts_default(&o);
    o.method = 7;
    ASSERT_EQ(ac_stack_opts_check(&o, &e), AC_ECONFIG);
    ASSERT_CONTAINS(e.msg, "method");
    ac_err_clear(&e);
    /* Kappas do not matter for the median. */
    o.method = AC_STACK_MEDIAN;
    o.kappa_low = 0;
    ASSERT_OK(ac_stack_opts_check(&o, &e));

    ASSERT_STR_EQ(ac_stack_method_name(AC_STACK_SIGMA_CLIP), "sigma");
    ASSERT_STR_EQ(ac_stack_method_name(AC_STACK_WINSOR), "winsor");
    ASSERT_STR_EQ(ac_stack_method_name(AC_STACK_MEDIAN), "median");
    ASSERT_STR_EQ(ac_stack_method_name(AC_STACK_MEAN), "mean");
    ASSERT_STR_EQ(ac_stack_method_name(9), "?");
    ASSERT_EQ(ac_stack_method_parse("Winsorized"), AC_STACK_WINSOR);
    ASSERT_EQ(ac_stack_method_parse("kappa-sigma"), AC_STACK_SIGMA_CLIP);
    ASSERT_EQ(ac_stack_method_parse("MEDIAN"), AC_STACK_MEDIAN);
    ASSERT_EQ(ac_stack_method_parse("average"), AC_STACK_MEAN);
    ASSERT_EQ(ac_stack_method_parse("sum"), AC_ECONFIG);
    ASSERT_EQ(ac_stack_method_parse(NULL), AC_ECONFIG);
}

TEST(stack_bad_arguments)
{
    ac_stack_opts_t o;
    ac_err_t e = {0};
    float a[3] = {1, 2, 3}, b[3] = {1, 2, 3}, out[3];
    const float *subs[2] = {a, b};
    ac_stack_work_t *w = ac_stack_work_new(3);

    ac_stack_opts_default(&o);
    ASSERT_NULL(ac_stack_work_new(0));
    ASSERT_NULL(ac_stack_work_new(AC_STACK_MAX_SUBS + 1));
    ASSERT_NOT_NULL(w);
    ASSERT_EQ(ac_stack_rows(&o, subs, 0, 3, NULL, NULL, out, NULL, NULL, &e), AC_ECONFIG);
    ac_err_clear(&e);
    ASSERT_EQ(ac_stack_rows(&o, subs, 2, 3, NULL, NULL, out, NULL, w, &e), AC_ECONFIG);
    ASSERT_CONTAINS(e.msg, "made for 3 subs");
    ac_err_clear(&e);
    o.kappa_low = -1;
    ASSERT_EQ(ac_stack_rows(&o, subs, 2, 3, NULL, NULL, out, NULL, NULL, &e), AC_ECONFIG);
    ASSERT_CONTAINS(e.msg, "kappa_low");
    /* Zero pixels is a valid, empty call. */
    ac_stack_opts_default(&o);
    ASSERT_OK(ac_stack_rows(&o, subs, 2, 0, NULL, NULL, out, NULL, NULL, NULL));
    ac_stack_work_free(w);
    ac_stack_work_free(NULL);
}

/*
 * Five subs, kappa 1.5, 3 iterations, no median fallback (median_below 0). Worked by hand:
 * A {10,10,10,10,10}: constant, sigma 0, nothing rejected -> 10.
 * B {10,11,12,13,100}: mean 29.2, sd sqrt(6270.8/4) = 39.59, median 12, high bound 71.4:
 *   100 rejected; then {10..13}: mean 11.5, sd 1.291, bounds 11.5 -+ 1.94 keep all -> 11.5.
 * C {-50,20,21,22,23}: mean 7.2, sd sqrt(4094.8/4) = 31.99, median 21, low bound -26.99:
 *   -50 rejected; then {20..23} -> 21.5.
 * D {NaN,5,6,7,8}: NaN ignored; mean 6.5, sd 1.291, bounds 6.5 -+ 1.94 keep all -> 6.5.
 * E {NaN x 5}: no value -> NaN, empty.
 * G {0,100,101,102,1000}: mean 260.6, sd 415.6, median 101, bounds 101 -+ 623.5: 1000
 *   rejected; {0,100,101,102}: mean 75.75, sd 50.51, median 100.5, low bound 24.74: 0
 *   rejected; {100,101,102}: mean 101, sd 1, median 101: kept -> 101. With a single
 *   iteration G stops after the first pass at 75.75.
 */
TEST(stack_hand_example_five_subs_exact_stats)
{
    static const float px[6][5] = {
        {10, 10, 10, 10, 10}, {10, 11, 12, 13, 100},     {-50, 20, 21, 22, 23},
        {NAN, 5, 6, 7, 8},    {NAN, NAN, NAN, NAN, NAN}, {0, 100, 101, 102, 1000},
    };
    float sub[5][6], out[6];
    const float *subs[5];
    ac_stack_opts_t o;
    ac_stack_stats_t st = {0};

    for (int i = 0; i < 5; i++) {
        for (int p = 0; p < 6; p++)
            sub[i][p] = px[p][(i + p) % 5]; /* order within a pixel must not matter */
        subs[i] = sub[i];
    }
    ac_stack_opts_default(&o);
    o.kappa_low = o.kappa_high = 1.5;
    o.median_below = 0;
    ASSERT_OK(ac_stack_rows(&o, subs, 5, 6, NULL, NULL, out, &st, NULL, NULL));
    ASSERT_NEAR(out[0], 10, 0);
    ASSERT_NEAR(out[1], 11.5, 1e-6);
    ASSERT_NEAR(out[2], 21.5, 1e-6);
    ASSERT_NEAR(out[3], 6.5, 1e-6);
    ASSERT(isnan(out[4]));
    ASSERT_NEAR(out[5], 101, 1e-5);
    ASSERT_EQ(st.pixels, 6);
    ASSERT_EQ(st.values, 24);
    ASSERT_EQ(st.ignored, 6);
    ASSERT_EQ(st.rejected_low, 2);
    ASSERT_EQ(st.rejected_high, 2);
    ASSERT_EQ(st.all_rejected, 0);
    ASSERT_EQ(st.median_pixels, 0);
    ASSERT_EQ(st.empty, 1);

    /* One pass only: G keeps its low outlier. Stats accumulate onto what st holds. */
    o.iterations = 1;
    ASSERT_OK(ac_stack_rows(&o, subs, 5, 6, NULL, NULL, out, &st, NULL, NULL));
    ASSERT_NEAR(out[5], 75.75, 1e-5);
    ASSERT_NEAR(out[1], 11.5, 1e-6);
    ASSERT_EQ(st.pixels, 12);
    ASSERT_EQ(st.rejected_low, 2 + 1);
    ASSERT_EQ(st.rejected_high, 2 + 2);

    /* The default median_below (6) takes the median of these 5-value pixels. */
    ac_stack_opts_default(&o);
    memset(&st, 0, sizeof st);
    ASSERT_OK(ac_stack_rows(&o, subs, 5, 6, NULL, NULL, out, &st, NULL, NULL));
    ASSERT_NEAR(out[1], 12, 0);
    ASSERT_NEAR(out[2], 21, 0);
    ASSERT_NEAR(out[3], 6.5, 0);
    ASSERT_NEAR(out[5], 101, 0);
    ASSERT_EQ(st.median_pixels, 5);
    ASSERT_EQ(st.rejected_low + st.rejected_high, 0);

    /* median_below 5: the 5-value pixels are clipped, only D (4 values) takes the median. */
    o.kappa_low = o.kappa_high = 1.5;
    o.median_below = 5;
    memset(&st, 0, sizeof st);
    ASSERT_OK(ac_stack_rows(&o, subs, 5, 6, NULL, NULL, out, &st, NULL, NULL));
    ASSERT_NEAR(out[1], 11.5, 1e-6);
    ASSERT_NEAR(out[3], 6.5, 0);
    ASSERT_EQ(st.median_pixels, 1);
    ASSERT_EQ(st.rejected_low, 2);

    /* All rejected: {1,2,3,4,NaN} at kappa 0.3: median 2.5, sd 1.291, bounds 2.5 -+ 0.387
     * exclude every value -> the median 2.5, counted, with no value counted as rejected. */
    {
        float h[5] = {1, 2, 3, 4, NAN};
        const float *hs[5] = {&h[0], &h[1], &h[2], &h[3], &h[4]};

        o.kappa_low = o.kappa_high = 0.3;
        o.median_below = 0;
        memset(&st, 0, sizeof st);
        ASSERT_OK(ac_stack_rows(&o, hs, 5, 1, NULL, NULL, out, &st, NULL, NULL));
        ASSERT_NEAR(out[0], 2.5, 0);
        ASSERT_EQ(st.all_rejected, 1);
        ASSERT_EQ(st.rejected_low + st.rejected_high, 0);
        ASSERT_EQ(st.ignored, 1);
    }
}

TEST(stack_median_odd_even_and_mean)
{
    /* Per pixel (5 subs): {3,1,2,5,4} -> 3; {7,NaN,1,5,3} -> 4 (even); {NaN x 4, 9} -> 9;
     * {2,2,8,8,NaN} -> 5. Means: 3, 4, 9, 5. */
    float v[5][4] = {
        {3, 7, NAN, 2}, {1, NAN, NAN, 2}, {2, 1, NAN, 8}, {5, 5, NAN, 8}, {4, 3, 9, NAN}};
    const float *subs[5] = {v[0], v[1], v[2], v[3], v[4]};
    float out[4];
    ac_stack_opts_t o;
    ac_stack_stats_t st = {0};

    ac_stack_opts_default(&o);
    o.method = AC_STACK_MEDIAN;
    ASSERT_OK(ac_stack_rows(&o, subs, 5, 4, NULL, NULL, out, &st, NULL, NULL));
    ASSERT_NEAR(out[0], 3, 0);
    ASSERT_NEAR(out[1], 4, 0);
    ASSERT_NEAR(out[2], 9, 0);
    ASSERT_NEAR(out[3], 5, 0);
    ASSERT_EQ(st.median_pixels, 0); /* counted only as a fallback of the clipping methods */
    ASSERT_EQ(st.ignored, 6);
    o.method = AC_STACK_MEAN;
    ASSERT_OK(ac_stack_rows(&o, subs, 5, 4, NULL, NULL, out, NULL, NULL, NULL));
    ASSERT_NEAR(out[0], 3, 1e-6);
    ASSERT_NEAR(out[1], 4, 1e-6);
    ASSERT_NEAR(out[2], 9, 1e-6);
    ASSERT_NEAR(out[3], 5, 1e-6);
}

TEST(stack_constant_stack_no_rejection)
{
    enum { N = 12, NP = 100 };
    float **s = alloc_subs(N, NP), out[NP];
    static const int methods[] = {AC_STACK_SIGMA_CLIP, AC_STACK_WINSOR, AC_STACK_SIGMA_CLIP};

    for (int i = 0; i < N; i++)
        for (int p = 0; p < NP; p++)
            s[i][p] = 1234.567f + (float)p;
    for (int m = 0; m < 3; m++) {
        ac_stack_opts_t o;
        ac_stack_stats_t st = {0};

        ac_stack_opts_default(&o);
        o.method = methods[m];
        o.sigma_estimator = m == 2 ? AC_STACK_SIGMA_MAD : AC_STACK_SIGMA_STDDEV;
        ASSERT_OK(ac_stack_rows(&o, (const float *const *)s, N, NP, NULL, NULL, out, &st, NULL,
                                NULL));
        for (int p = 0; p < NP; p++)
            ASSERT_NEAR(out[p], 1234.567f + (float)p, 0);
        ASSERT_EQ(st.rejected_low + st.rejected_high + st.all_rejected, 0);
    }
    free_subs(s, N);
}

TEST(stack_one_and_two_subs)
{
    float a[4] = {1, 2, NAN, 4}, b[4] = {3, 100, 5, NAN}, out[4];
    const float *one[1] = {a}, *two[2] = {a, b};
    ac_stack_opts_t o;
    ac_stack_stats_t st = {0};

    for (int m = AC_STACK_SIGMA_CLIP; m <= AC_STACK_MEAN; m++) {
        ac_stack_opts_default(&o);
        o.method = m;
        o.median_below = 0; /* clipping proper: it cannot reject from 1 or 2 values */
        ASSERT_OK(ac_stack_rows(&o, one, 1, 4, NULL, NULL, out, NULL, NULL, NULL));
        ASSERT_NEAR(out[0], 1, 0);
        ASSERT_NEAR(out[1], 2, 0);
        ASSERT(isnan(out[2]));
        ASSERT_NEAR(out[3], 4, 0);
        memset(&st, 0, sizeof st);
        ASSERT_OK(ac_stack_rows(&o, two, 2, 4, NULL, NULL, out, &st, NULL, NULL));
        ASSERT_NEAR(out[0], 2, 0);
        ASSERT_NEAR(out[1], 51, 0);
        ASSERT_NEAR(out[2], 5, 0);
        ASSERT_NEAR(out[3], 4, 0);
        ASSERT_EQ(st.rejected_low + st.rejected_high + st.all_rejected + st.empty, 0);
        ASSERT_EQ(st.values, 6);
    }
}

/* The noise of the result on pure Gaussian subs: sigma / sqrt(N) within a few percent for
 * the mean and both clipping methods (clipping at 3 sigma costs under 2 % of efficiency).
 * 12288 pixels measure a standard deviation to about 0.7 %. */
TEST(stack_noise_is_sigma_over_sqrt_n)
{
    enum { N = 20, W = 128, H = 96 };
    size_t np = (size_t)W * H;
    float **s = noise_subs(N, W, H, 1000, 10, 99);
    static const int methods[] = {AC_STACK_MEAN, AC_STACK_SIGMA_CLIP, AC_STACK_WINSOR};
    float *out = malloc(np * sizeof *out);

    for (int m = 0; m < 3; m++) {
        ac_stack_opts_t o;
        double sum = 0, ss = 0, sd, expect = 10 / sqrt((double)N);

        ac_stack_opts_default(&o);
        o.method = methods[m];
        ASSERT_OK(ac_stack_rows(&o, (const float *const *)s, N, np, NULL, NULL, out, NULL, NULL,
                                NULL));
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                double d = out[y * W + x] - (1000 + 0.5 * x + 0.25 * y);
                sum += d;
                ss += d * d;
            }
        sd = sqrt(ss / np - (sum / np) * (sum / np));
        if (!(fabs(sd / expect - 1) < 0.04))
            AC_TEST_FAIL("method %d: noise %.4f, expected %.4f", methods[m], sd, expect);
        ASSERT_NEAR(sum / np, 0, 0.1); /* no bias */
    }
    free(out);
    free_subs(s, N);
}

/* Strips of any height, one working memory reused or one per "thread": the same bytes and
 * the same counts as one call over the whole frame. */
TEST(stack_strips_equal_whole_frame)
{
    float **s = outlier_scene();
    float *whole = malloc(SPIX * sizeof *whole), *strips = malloc(SPIX * sizeof *strips);
    ac_stack_opts_t o;
    ac_stack_stats_t a = {0}, b = {0}, part = {0};
    ac_stack_work_t *w = ac_stack_work_new(SN);
    const float *sp[SN];

    ac_stack_opts_default(&o);
    o.method = AC_STACK_WINSOR;
    ASSERT_OK(
        ac_stack_rows(&o, (const float *const *)s, SN, SPIX, NULL, NULL, whole, &a, w, NULL));
    for (int y0 = 0; y0 < SH; y0 += 7) {
        int rows = SH - y0 < 7 ? SH - y0 : 7;

        for (int i = 0; i < SN; i++)
            sp[i] = s[i] + (size_t)y0 * SW;
        memset(&part, 0, sizeof part);
        ASSERT_OK(ac_stack_rows(&o, sp, SN, (size_t)rows * SW, NULL, NULL,
                                strips + (size_t)y0 * SW, &part, y0 % 2 ? w : NULL, NULL));
        ac_stack_stats_add(&b, &part);
    }
    ASSERT_EQ(memcmp(whole, strips, SPIX * sizeof *whole), 0);
    ASSERT_EQ(memcmp(&a, &b, sizeof a), 0);
    ac_stack_work_free(w);
    free(whole);
    free(strips);
    free_subs(s, SN);
}
