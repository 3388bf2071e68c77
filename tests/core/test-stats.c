/*
 * test-stats.c - robust statistics: selection, median/MAD, quantiles, sampling, clipped
 * mean, with NaN and infinities ignored. Expected values are worked out by hand in the
 * comments (or, for the large case, by sorting with qsort).
 */
#include <errno.h>
#include <stdint.h>

#include "stats.h"
#include "test.h"

TEST(stats_select_kth_smallest)
{
    float a[] = {5, 1, 4, 2, 3};

    ASSERT_NEAR(ac_stats_select(a, 5, 0), 1, 0);
    ASSERT_NEAR(ac_stats_select(a, 5, 4), 5, 0);
    ASSERT_NEAR(ac_stats_select(a, 5, 2), 3, 0);
    /* Partitioned around k = 2: everything left is <= 3, everything right >= 3. */
    ASSERT(a[0] <= 3 && a[1] <= 3 && a[3] >= 3 && a[4] >= 3);
}

TEST(stats_select_duplicates_and_single)
{
    float a[] = {7, 7, 7, 7};
    float b[] = {-2};
    float c[] = {2, 2, 1, 1, 2, 1};

    ASSERT_NEAR(ac_stats_select(a, 4, 3), 7, 0);
    ASSERT_NEAR(ac_stats_select(b, 1, 0), -2, 0);
    ASSERT_NEAR(ac_stats_select(c, 6, 2), 1, 0); /* sorted: 1 1 1 2 2 2 */
    ASSERT_NEAR(ac_stats_select(c, 6, 3), 2, 0);
}

static int cmpf(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

TEST(stats_select_matches_sorting)
{
    enum { N = 1001 };
    float *a = malloc(N * sizeof *a), *s = malloc(N * sizeof *s);
    uint32_t r = 12345;

    for (int i = 0; i < N; i++) {
        r = r * 1103515245u + 12345u;
        a[i] = s[i] = (float)((r >> 8) % 5000) - 2500.0f;
    }
    qsort(s, N, sizeof *s, cmpf);
    for (size_t k = 0; k < N; k += 97) {
        float *c = malloc(N * sizeof *c);
        memcpy(c, a, N * sizeof *c);
        ASSERT_NEAR(ac_stats_select(c, N, k), s[k], 0);
        free(c);
    }
    ASSERT_NEAR(ac_stats_median_inplace(a, N), s[500], 0);
    free(a);
    free(s);
}

/* sorted_median is the median of a sorted copy (the independent answer). */
static double sorted_median(const float *a, size_t n)
{
    float *s = malloc(n * sizeof *s);
    double m;

    ASSERT_NOT_NULL(s);
    memcpy(s, a, n * sizeof *s);
    qsort(s, n, sizeof *s, cmpf);
    m = n % 2 ? s[n / 2] : 0.5 * ((double)s[n / 2 - 1] + s[n / 2]);
    free(s);
    return m;
}

/* sorted_mad is the median absolute deviation of a from centre, by sorting. */
static double sorted_mad(const float *a, size_t n, double centre)
{
    float *d = malloc(n * sizeof *d);
    double m;

    ASSERT_NOT_NULL(d);
    for (size_t i = 0; i < n; i++)
        d[i] = (float)fabs((double)a[i] - centre);
    m = sorted_median(d, n);
    free(d);
    return m;
}

/* Large arrays take another selection path (a sampled band, with a fallback for data that
 * defeats the sample): every shape must still give the sorted answer, the MAD too. */
TEST(stats_median_large_arrays_match_sorting)
{
    static const size_t sizes[] = {65536, 100001, 262144};
    uint32_t r = 777;

    for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
        size_t n = sizes[z];
        float *a = malloc(n * sizeof *a), *c = malloc(n * sizeof *c);

        ASSERT_NOT_NULL(a);
        ASSERT_NOT_NULL(c);
        for (int shape = 0; shape < 7; shape++) {
            double med, mad, want;

            for (size_t i = 0; i < n; i++) {
                r = r * 1103515245u + 12345u;
                switch (shape) {
                case 0: /* spread, with duplicates */
                    a[i] = (float)((r >> 8) % 50000) * 0.25f - 3000.0f;
                    break;
                case 1: /* a few integer levels */
                    a[i] = (float)(1000 + (int)((r >> 8) % 7));
                    break;
                case 2: /* all equal: the band holds everything */
                    a[i] = 5.0f;
                    break;
                case 3:
                    a[i] = (float)i;
                    break;
                case 4:
                    a[i] = (float)(n - i);
                    break;
                case 5: /* two values: the middle pair straddles them for even n */
                    a[i] = i < n / 2 ? 0.0f : 1.0f;
                    break;
                default: /* every 64th value huge: the sample grid sees only those */
                    a[i] = i % 64 == 0 ? 1e6f : (float)((r >> 8) % 1000);
                    break;
                }
            }
            want = sorted_median(a, n);
            memcpy(c, a, n * sizeof *c);
            if (ac_stats_median_inplace(c, n) != want)
                AC_TEST_FAIL("n %zu shape %d: median %.9g, sorting gives %.9g", n, shape,
                             ac_stats_median_inplace(c, n), want);
            ASSERT_OK(ac_stats_median_mad(a, n, 0, &med, &mad));
            ASSERT_NEAR(med, want, 0);
            ASSERT_NEAR(mad, sorted_mad(a, n, want), 0);
        }
        free(a);
        free(c);
    }
}

/* The clipped mean of a large array (its median and MAD come from the sampled band, or
 * its fallback) against the documented algorithm written out with sorting. */
TEST(stats_clipped_mean_large_arrays_match_reference)
{
    static const size_t sizes[] = {100001, 262144};
    uint32_t r = 4242;

    for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
        size_t n = sizes[z];
        float *a = malloc(n * sizeof *a);

        ASSERT_NOT_NULL(a);
        for (int shape = 0; shape < 3; shape++) {
            double centre, mad, half, want = NAN, got;

            for (size_t i = 0; i < n; i++) {
                r = r * 1103515245u + 12345u;
                a[i] = shape == 0   ? 1000.0f + (float)((r >> 8) % 2001) * 0.01f
                       : shape == 1 ? (float)(500 + (int)((r >> 8) % 5))
                                    : 7.0f;
                if (shape == 0 && i % 1000 == 0)
                    a[i] = 60000.0f; /* outliers */
            }
            centre = sorted_median(a, n);
            mad = sorted_mad(a, n, centre);
            half = 3.0 * 1.4826 * mad;
            for (int it = 0; it < 3; it++) {
                double sum = 0;
                size_t kept = 0;
                for (size_t i = 0; i < n; i++) {
                    if (fabs((double)a[i] - centre) <= half) {
                        sum += a[i];
                        kept++;
                    }
                }
                want = sum / (double)kept;
                if (want == centre)
                    break;
                centre = want;
            }
            ASSERT_OK(ac_stats_clipped_mean(a, n, 0, 3.0, 3, &got));
            if (got != want)
                AC_TEST_FAIL("n %zu shape %d: clipped mean %.17g, reference %.17g", n, shape,
                             got, want);
        }
        free(a);
    }
}

TEST(stats_median_odd_even_nonfinite)
{
    float odd[] = {3, 1, 2};
    float even[] = {4, 1, 3, 2};
    float mixed[] = {1, NAN, 3, INFINITY, 2, -INFINITY};
    float none[] = {NAN, NAN};

    ASSERT_NEAR(ac_stats_median_inplace(odd, 3), 2, 0);
    ASSERT_NEAR(ac_stats_median_inplace(even, 4), 2.5, 0); /* (2 + 3) / 2 */
    ASSERT_NEAR(ac_stats_median_inplace(mixed, 6), 2, 0);  /* of 1, 2, 3 */
    ASSERT(isnan(ac_stats_median_inplace(none, 2)));
    ASSERT(isnan(ac_stats_median_inplace(odd, 0)));
}

TEST(stats_quantile_nearest_rank)
{
    const float v[] = {50, 10, 40, 20, 30};
    float a[5];

    /* Nearest rank: index ceil(q * n) - 1 of the sorted values 10 20 30 40 50. */
    memcpy(a, v, sizeof a);
    ASSERT_NEAR(ac_stats_quantile_inplace(a, 5, 0.0), 10, 0);
    memcpy(a, v, sizeof a);
    ASSERT_NEAR(ac_stats_quantile_inplace(a, 5, 0.2), 10, 0); /* ceil(1) - 1 = 0 */
    memcpy(a, v, sizeof a);
    ASSERT_NEAR(ac_stats_quantile_inplace(a, 5, 0.21), 20, 0); /* ceil(1.05) - 1 = 1 */
    memcpy(a, v, sizeof a);
    ASSERT_NEAR(ac_stats_quantile_inplace(a, 5, 0.5), 30, 0); /* ceil(2.5) - 1 = 2 */
    memcpy(a, v, sizeof a);
    ASSERT_NEAR(ac_stats_quantile_inplace(a, 5, 1.0), 50, 0);
    ASSERT(isnan(ac_stats_quantile_inplace(a, 0, 0.5)));
}

TEST(stats_sample_regular_grid_finite_only)
{
    float a[10], out[10];

    for (int i = 0; i < 10; i++)
        a[i] = (float)i;
    /* Step ceil(10 / 4) = 3: elements 0, 3, 6, 9. */
    ASSERT_EQ(ac_stats_sample(a, 10, out, 4), 4);
    ASSERT_NEAR(out[0], 0, 0);
    ASSERT_NEAR(out[1], 3, 0);
    ASSERT_NEAR(out[2], 6, 0);
    ASSERT_NEAR(out[3], 9, 0);
    a[3] = NAN;
    ASSERT_EQ(ac_stats_sample(a, 10, out, 4), 3);
    ASSERT_NEAR(out[1], 6, 0);
    ASSERT_EQ(ac_stats_sample(a, 10, out, 0), 0);
    ASSERT_EQ(ac_stats_sample(a, 10, out, 10), 9); /* all but the NaN */
}

TEST(stats_median_mad_const_input)
{
    const float a[] = {1, 100, 3, 2, 4};
    double med, mad;

    /* Median 3; deviations 2 97 0 1 1 -> sorted 0 1 1 2 97 -> MAD 1. */
    ASSERT_OK(ac_stats_median_mad(a, 5, 0, &med, &mad));
    ASSERT_NEAR(med, 3, 0);
    ASSERT_NEAR(mad, 1, 0);
    ASSERT_NEAR(a[1], 100, 0); /* not reordered */
    ASSERT_NEAR(a[2], 3, 0);
}

TEST(stats_median_mad_sampled_and_empty)
{
    const float a[] = {10, 999, 20, 999, 30, 999, 40, 999};
    const float bad[] = {NAN, INFINITY};
    double med, mad;

    /* max_samples 4 takes every 2nd value: 10 20 30 40 -> median 25, deviations
     * 15 5 5 15 -> MAD 10. */
    ASSERT_OK(ac_stats_median_mad(a, 8, 4, &med, &mad));
    ASSERT_NEAR(med, 25, 0);
    ASSERT_NEAR(mad, 10, 0);
    ASSERT_EQ(ac_stats_median_mad(bad, 2, 0, &med, &mad), -ERANGE);
}

TEST(stats_clipped_mean_rejects_outlier)
{
    const float a[] = {8, 9, 10, 11, 12, 100};
    double m;

    /* Median 10.5; deviations 2.5 1.5 .5 .5 1.5 89.5 -> MAD 1.5; window 3 * 1.4826 * 1.5
     * = 6.67 around 10.5 keeps 8..12 -> mean 10; around 10 the same set -> 10. */
    ASSERT_OK(ac_stats_clipped_mean(a, 6, 0, 3.0, 3, &m));
    ASSERT_NEAR(m, 10, 1e-12);
    /* A huge kappa keeps everything: (8+9+10+11+12+100) / 6 = 25. */
    ASSERT_OK(ac_stats_clipped_mean(a, 6, 0, 1000.0, 3, &m));
    ASSERT_NEAR(m, 25, 1e-12);
}

TEST(stats_clipped_mean_nan_and_constant)
{
    const float a[] = {NAN, 5, 5, INFINITY, 5, 6};
    const float none[] = {NAN};
    double m;

    /* Finite 5 5 5 6: median 5, MAD 0 -> only values equal to 5 are kept. */
    ASSERT_OK(ac_stats_clipped_mean(a, 6, 0, 3.0, 3, &m));
    ASSERT_NEAR(m, 5, 0);
    ASSERT_EQ(ac_stats_clipped_mean(none, 1, 0, 3.0, 3, &m), -ERANGE);
}

TEST(stats_count_nonfinite)
{
    const float a[] = {1, NAN, INFINITY, -INFINITY, 0, -0.0f};

    ASSERT_EQ(ac_stats_count_nonfinite(a, 6), 3);
    ASSERT_EQ(ac_stats_count_nonfinite(a, 0), 0);
}

TEST(stats_select_d_kth_smallest)
{
    double a[] = {0.5, 0.1, 0.4, 0.2, 0.3};

    ASSERT_NEAR(ac_stats_select_d(a, 5, 0), 0.1, 0);
    ASSERT_NEAR(ac_stats_select_d(a, 5, 4), 0.5, 0);
    ASSERT_NEAR(ac_stats_select_d(a, 5, 2), 0.3, 0); /* exact: no float rounding */
    ASSERT(a[0] <= 0.3 && a[1] <= 0.3 && a[3] >= 0.3 && a[4] >= 0.3);
}

TEST(stats_median_high_d_is_one_of_the_values)
{
    double two[] = {120, 60};
    double odd[] = {300, 60, 120};
    double even[] = {4, 1, 3, 2};
    double mixed[] = {300, NAN, 60, INFINITY, 120, -INFINITY};
    double none[] = {NAN, INFINITY};
    double *many = malloc(150 * sizeof *many);

    ASSERT_NEAR(ac_stats_median_high_d(two, 2), 120, 0); /* higher middle, not 90 */
    ASSERT_NEAR(ac_stats_median_high_d(odd, 3), 120, 0);
    ASSERT_NEAR(ac_stats_median_high_d(even, 4), 3, 0);    /* sorted 1 2 3 4: index 2 */
    ASSERT_NEAR(ac_stats_median_high_d(mixed, 6), 120, 0); /* of 60, 120, 300 */
    ASSERT(isnan(ac_stats_median_high_d(none, 2)));
    ASSERT(isnan(ac_stats_median_high_d(odd, 0)));
    /* Any number of values: 70 of 60 s then 80 of 300 s; the sorted index 75 is 300. */
    ASSERT(many != NULL);
    for (int i = 0; i < 150; i++)
        many[i] = i < 70 ? 60 : 300;
    ASSERT_NEAR(ac_stats_median_high_d(many, 150), 300, 0);
    free(many);
}
