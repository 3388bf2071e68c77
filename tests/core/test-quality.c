/*
 * test-quality.c - quality figures: the sampling grid, background/noise/dynamic range,
 * fractions from the row counts, and the score formula's edge cases (values worked out
 * by hand from the formula documented in quality.c).
 */
#include <errno.h>

#include "quality.h"
#include "test.h"

TEST(quality_small_frame_keeps_every_pixel)
{
    ac_quality_acc_t q;
    float a[4] = {1, 2, NAN, 4}, b[6] = {5, 6, 7, 8, 9, 10};

    ASSERT_OK(ac_quality_acc_init(&q, 10));
    ASSERT_EQ(q.stride, 1);
    ac_quality_add_rows(&q, a, 4);
    ac_quality_add_rows(&q, b, 6);
    ASSERT_EQ(q.seen, 10);
    ASSERT_EQ(q.n_samples, 9); /* the NaN is not a sample */
    ASSERT_NEAR(q.samples[2], 4, 0);
    ASSERT_NEAR(q.samples[8], 10, 0);
    ac_quality_acc_free(&q);
    ASSERT_NULL(q.samples);
}

TEST(quality_large_frame_regular_grid_across_strips)
{
    ac_quality_acc_t q;
    uint64_t npix = 3ull * AC_QUALITY_MAX_SAMPLES;
    float chunk[7];

    /* Stride 3: pixels 0, 3, 6, ... whatever the strip boundaries (odd chunks of 7). */
    ASSERT_OK(ac_quality_acc_init(&q, npix));
    ASSERT_EQ(q.stride, 3);
    for (uint64_t i = 0; i < npix;) {
        size_t n = npix - i < 7 ? (size_t)(npix - i) : 7;
        for (size_t j = 0; j < n; j++)
            chunk[j] = (float)((i + j) % 1000);
        ac_quality_add_rows(&q, chunk, n);
        i += n;
    }
    ASSERT_EQ(q.n_samples, AC_QUALITY_MAX_SAMPLES);
    for (int s = 0; s < 600; s++)
        ASSERT_NEAR(q.samples[s], (3 * s) % 1000, 0);
    ac_quality_acc_free(&q);
}

/* An even stride on an even width would sample even columns only (two of a CFA frame's
 * four colours): the stride is made odd, and every colour gets a quarter of the samples. */
TEST(quality_stride_odd_samples_every_cfa_colour)
{
    enum { QW = 1024, QH = 1024 };
    ac_quality_acc_t q;
    float *row = malloc(QW * sizeof *row);
    size_t count[4] = {0, 0, 0, 0};

    ASSERT_NOT_NULL(row);
    /* 1 M pixels / 256 K samples = stride 4, made 5: ceil(2^20 / 5) = 209716 samples. */
    ASSERT_OK(ac_quality_acc_init(&q, (uint64_t)QW * QH));
    ASSERT_EQ(q.stride, 5);
    for (int y = 0; y < QH; y++) {
        for (int x = 0; x < QW; x++)
            row[x] = (float)((x & 1) + 2 * (y & 1)); /* the CFA colour index 0..3 */
        ac_quality_add_rows(&q, row, QW);
    }
    ASSERT_EQ(q.n_samples, 209716);
    for (size_t i = 0; i < q.n_samples; i++)
        count[(int)q.samples[i]]++;
    for (int c = 0; c < 4; c++)
        ASSERT_NEAR((double)count[c] / (double)q.n_samples, 0.25, 0.001);
    ac_quality_acc_free(&q);
    free(row);
}

TEST(quality_finish_figures)
{
    ac_quality_acc_t q;
    ac_rowstats_t st;
    ac_quality_t r;
    float px[100];

    /* 980 990 1000 1010 1020, 20 of each: median 1000; deviations 0 (20), 10 (40),
     * 20 (40) -> MAD 10, noise 14.826. Max 60000: range log2(59000 / 14.826). */
    for (int i = 0; i < 100; i++)
        px[i] = 1000.0f + 10.0f * (float)(i % 5 - 2);
    ASSERT_OK(ac_quality_acc_init(&q, 100));
    ac_quality_add_rows(&q, px, 100);
    ac_rowstats_init(&st);
    st.n = 100;
    st.n_negative = 2;
    st.n_zero = 1;
    st.n_saturated_in = 3;
    st.n_dead = 4;
    st.min = -5;
    st.max = 60000;
    ASSERT_OK(ac_quality_finish(&q, &st, &r));
    ASSERT_NEAR(r.background, 1000, 0);
    ASSERT_NEAR(r.noise, 14.826, 1e-9);
    ASSERT_NEAR(r.dynamic_range, log2(59000.0 / 14.826), 1e-9);
    ASSERT_NEAR(r.min, -5, 0);
    ASSERT_NEAR(r.max, 60000, 0);
    ASSERT_NEAR(r.frac_negative, 0.02, 1e-12);
    ASSERT_NEAR(r.frac_zero, 0.01, 1e-12);
    ASSERT_NEAR(r.frac_saturated, 0.03, 1e-12);
    ASSERT_NEAR(r.frac_dead, 0.04, 1e-12);
    /* 100 - 500 * 0.03 - 1000 * 0.03 - 1000 * 0.04 = 15. */
    ASSERT_NEAR(r.score, 15, 1e-9);
    ac_quality_acc_free(&q);
}

/* An even number of samples in no particular order, without row counts: median 2.5 (mean
 * of 2 and 3), deviations 1.5 0.5 0.5 7.5 -> MAD 1.0; min and max from the samples. */
TEST(quality_finish_even_count_without_counts)
{
    ac_quality_acc_t q;
    ac_quality_t r;
    float px[4] = {10, 2, 1, 3};

    ASSERT_OK(ac_quality_acc_init(&q, 4));
    ac_quality_add_rows(&q, px, 4);
    ASSERT_OK(ac_quality_finish(&q, NULL, &r));
    ASSERT_NEAR(r.background, 2.5, 0);
    ASSERT_NEAR(r.noise, 1.4826, 1e-12);
    ASSERT_NEAR(r.min, 1, 0);
    ASSERT_NEAR(r.max, 10, 0);
    ASSERT_NEAR(r.dynamic_range, log2(7.5 / 1.4826), 1e-12);
    ASSERT_NEAR(r.frac_negative, 0, 0);
    ac_quality_acc_free(&q);
}

TEST(quality_finish_no_samples)
{
    ac_quality_acc_t q;
    ac_rowstats_t st;
    ac_quality_t r;
    float px[3] = {NAN, NAN, INFINITY};

    ASSERT_OK(ac_quality_acc_init(&q, 3));
    ac_quality_add_rows(&q, px, 3);
    ac_rowstats_init(&st);
    ASSERT_EQ(ac_quality_finish(&q, &st, &r), -ERANGE);
    ac_quality_acc_free(&q);
}

static ac_quality_t fig(double neg, double zero, double sat, double dead, double noise,
                        double dr)
{
    ac_quality_t q;

    memset(&q, 0, sizeof q);
    q.frac_negative = neg;
    q.frac_zero = zero;
    q.frac_saturated = sat;
    q.frac_dead = dead;
    q.noise = noise;
    q.dynamic_range = dr;
    return q;
}

TEST(quality_score_edge_cases)
{
    ac_quality_t q;

    q = fig(0, 0, 0, 0, 10, 12); /* a good frame */
    ASSERT_NEAR(ac_quality_score(&q), 100, 0);
    q = fig(1, 0, 0, 0, 10, 12); /* all negative */
    ASSERT_NEAR(ac_quality_score(&q), 0, 0);
    q = fig(0.01, 0, 0, 0, 10, 12); /* 100 - 5 */
    ASSERT_NEAR(ac_quality_score(&q), 95, 1e-9);
    q = fig(0, 0.01, 0, 0, 10, 12);
    ASSERT_NEAR(ac_quality_score(&q), 95, 1e-9);
    q = fig(0, 0, 0.01, 0, 10, 12); /* 100 - 10 */
    ASSERT_NEAR(ac_quality_score(&q), 90, 1e-9);
    q = fig(0, 0, 0, 0.005, 10, 12); /* 100 - 5 */
    ASSERT_NEAR(ac_quality_score(&q), 95, 1e-9);
    q = fig(0, 0, 0, 0, 10, 6); /* 2 bits short: 100 - 10 */
    ASSERT_NEAR(ac_quality_score(&q), 90, 1e-9);
    q = fig(0, 0, 0, 0, 0, 0); /* no measurable noise: no range penalty */
    ASSERT_NEAR(ac_quality_score(&q), 100, 0);
    q = fig(0, 0, 0, 0, 10, 0); /* 100 - 40 */
    ASSERT_NEAR(ac_quality_score(&q), 60, 1e-9);
    q = fig(0.5, 0.5, 1, 1, 10, 0); /* clamped */
    ASSERT_NEAR(ac_quality_score(&q), 0, 0);
    q = fig(NAN, 0, 0, 0, 10, 12);
    ASSERT_NEAR(ac_quality_score(&q), 0, 0);
}

TEST(quality_score_monotone)
{
    double prev = 101;

    for (int i = 0; i <= 100; i++) {
        ac_quality_t q = fig(i / 100.0, 0, i / 1000.0, 0, 10, 12 - i / 10.0);
        double s = ac_quality_score(&q);
        ASSERT(s <= prev);
        ASSERT(s >= 0 && s <= 100);
        prev = s;
    }
}
