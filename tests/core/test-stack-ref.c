/*
 * test-stack-ref.c - master-frame combination (daemon/core/stack.c) against an independent
 * reference written here: per pixel, the finite values in double, a keep-flag per value,
 * qsort for every median, two-pass means and deviations, winsorisation by clamping copies.
 * Generated subs (tests/support/stacktest.h) carry known noise and outliers (cosmic rays, a
 * satellite trail, a hot pixel present in every sub, NaN). The hand-made cases are in
 * test-stack.c.
 */
#include <errno.h>
#include <stdint.h>

#include "stack.h"
#include "stacktest.h"
#include "test.h"

/* ---- reference ---------------------------------------------------------------------- */

typedef struct ref_counts {
    uint64_t values, ignored, low, high, all, median_pixels, empty;
} ref_counts_t;

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ref_median sorts a copy of v (n >= 1) and returns its middle (or middle pair's mean). */
static double ref_median(const double *v, int n)
{
    double *t = malloc((size_t)n * sizeof *t), m;

    memcpy(t, v, (size_t)n * sizeof *t);
    qsort(t, (size_t)n, sizeof *t, cmpd);
    m = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
    free(t);
    return m;
}

static double ref_mean(const double *v, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += v[i];
    return s / n;
}

static double ref_sd(const double *v, int n)
{
    double m = ref_mean(v, n), s = 0;
    for (int i = 0; i < n; i++)
        s += (v[i] - m) * (v[i] - m);
    return sqrt(s / (n - 1));
}

/* ref_pixel combines the nsub values x (NaN/inf ignored) as stack.h specifies. */
static double ref_pixel(const ac_stack_opts_t *o, const double *x, int nsub, ref_counts_t *rc)
{
    double v[512], k[512], t[512];
    int keep[512], n = 0;

    for (int i = 0; i < nsub; i++) {
        if (isfinite(x[i]))
            v[n++] = x[i];
        else
            rc->ignored++;
    }
    rc->values += (uint64_t)n;
    if (n == 0) {
        rc->empty++;
        return NAN;
    }
    if (o->method == AC_STACK_MEAN)
        return ref_mean(v, n);
    if (o->method == AC_STACK_MEDIAN)
        return ref_median(v, n);
    if (n < o->median_below) {
        rc->median_pixels++;
        return ref_median(v, n);
    }
    for (int i = 0; i < n; i++)
        keep[i] = 1;
    for (int it = 0; it < o->iterations; it++) {
        int m = 0, nlow = 0, nhigh = 0;
        double c, s;

        for (int i = 0; i < n; i++)
            if (keep[i] == 1)
                k[m++] = v[i];
        if (m < 2)
            break;
        c = ref_median(k, m);
        s = ref_sd(k, m);
        if (o->method == AC_STACK_SIGMA_CLIP && o->sigma_estimator == AC_STACK_SIGMA_MAD) {
            for (int i = 0; i < m; i++)
                t[i] = fabs(k[i] - c);
            s = 1.4826 * ref_median(t, m);
        }
        if (o->method == AC_STACK_WINSOR) {
            for (int r = 0; r < 50; r++) {
                double ns;
                int done;

                for (int i = 0; i < m; i++)
                    t[i] = fmin(fmax(k[i], c - 1.5 * s), c + 1.5 * s);
                ns = 1.134 * ref_sd(t, m);
                done = fabs(ns - s) <= 5e-4 * s;
                s = ns;
                if (done)
                    break;
            }
        }
        for (int i = 0; i < n; i++) {
            if (keep[i] != 1)
                continue;
            if (v[i] < c - o->kappa_low * s)
                keep[i] = -1, nlow++;
            else if (v[i] > c + o->kappa_high * s)
                keep[i] = -2, nhigh++;
        }
        if (nlow + nhigh == 0)
            break;
        if (nlow + nhigh == m) {
            rc->all++; /* values rejected by earlier passes are not counted either */
            return ref_median(v, n);
        }
        for (int i = 0; i < n; i++)
            if (keep[i] == -1 || keep[i] == -2)
                keep[i] -= 10; /* -11 low, -12 high: out from now on */
    }
    {
        int m = 0;
        for (int i = 0; i < n; i++) {
            if (keep[i] == 1)
                k[m++] = v[i];
            rc->low += keep[i] == -11;
            rc->high += keep[i] == -12;
        }
        return ref_mean(k, m);
    }
}

static void ref_stack(const ac_stack_opts_t *o, float *const *subs, int nsubs, size_t npix,
                      const double *scale, const double *offset, double *out, ref_counts_t *rc)
{
    double x[512];

    memset(rc, 0, sizeof *rc);
    for (size_t p = 0; p < npix; p++) {
        for (int i = 0; i < nsubs; i++)
            x[i] = subs[i][p] * (scale ? scale[i] : 1.0) + (offset ? offset[i] : 0.0);
        out[p] = ref_pixel(o, x, nsubs, rc);
    }
}

/* run_and_compare combines with the library, checks against the reference value by value
 * (relative 1e-6) and count by count, and returns the library's output (caller frees). */
static float *run_and_compare(const ac_stack_opts_t *o, float **subs, int n, size_t npix,
                              const double *scale, const double *offset, ac_stack_stats_t *st)
{
    float *out = malloc(npix * sizeof *out);
    double *ref = malloc(npix * sizeof *ref);
    ref_counts_t rc;
    ac_err_t e = {0};

    memset(st, 0, sizeof *st);
    ASSERT_OK(ac_stack_rows(o, (const float *const *)subs, n, npix, scale, offset, out, st,
                            NULL, &e));
    ref_stack(o, subs, n, npix, scale, offset, ref, &rc);
    for (size_t p = 0; p < npix; p++) {
        if (isnan(ref[p])) {
            ASSERT(isnan(out[p]));
            continue;
        }
        if (!(fabs(out[p] - ref[p]) <= 1e-6 * fmax(fabs(ref[p]), 1.0)))
            AC_TEST_FAIL("pixel %zu: %.9g, reference %.9g", p, out[p], ref[p]);
    }
    ASSERT_EQ(st->pixels, npix);
    ASSERT_EQ(st->values, rc.values);
    ASSERT_EQ(st->ignored, rc.ignored);
    ASSERT_EQ(st->rejected_low, rc.low);
    ASSERT_EQ(st->rejected_high, rc.high);
    ASSERT_EQ(st->all_rejected, rc.all);
    ASSERT_EQ(st->median_pixels, rc.median_pixels);
    ASSERT_EQ(st->empty, rc.empty);
    free(ref);
    return out;
}

/* ---- tests -------------------------------------------------------------------------- */

TEST(stack_sigma_clip_outliers_match_reference)
{
    float **s = outlier_scene();
    ac_stack_opts_t o;
    ac_stack_stats_t st;
    float *out;

    ac_stack_opts_default(&o);
    out = run_and_compare(&o, s, SN, SPIX, NULL, NULL, &st);
    /* Every outlier is gone: each output pixel is within 5 sigma/sqrt(N) of the truth
     * (sigma/sqrt(19) = 2.3), the hot pixel included (it is in every sub: kept). */
    for (int y = 0; y < SH; y++)
        for (int x = 0; x < SW; x++)
            if (!(x == 60 && y == 46))
                ASSERT_NEAR(out[AT(x, y)], scene_truth(x, y), 5 * 10 / sqrt(19.0));
    ASSERT(isnan(out[AT(60, 46)]));
    ASSERT_EQ(st.empty, 1);
    ASSERT_EQ(st.ignored, 2 + SN);
    /* The 3 cosmic rays and the 60 trail pixels (61 less the all-NaN one) were rejected,
     * and little else: about 0.1-0.3 % of Gaussian values fall beyond 3 sigma of 20 noisy
     * samples. */
    ASSERT(st.rejected_high >= 3 + SW - 1);
    ASSERT(st.rejected_high < 3 + SW + SPIX * SN / 200);
    ASSERT(st.rejected_low < SPIX * SN / 200);
    free(out);

    /* The hot pixel alone: nothing rejected. */
    {
        const float *hp[SN];
        float v;
        ac_stack_stats_t h = {0};

        for (int i = 0; i < SN; i++)
            hp[i] = &s[i][AT(30, 20)];
        ASSERT_OK(ac_stack_rows(&o, hp, SN, 1, NULL, NULL, &v, &h, NULL, NULL));
        ASSERT_EQ(h.rejected_low + h.rejected_high, 0);
        ASSERT(v > 14900);
    }
    free_subs(s, SN);
}

TEST(stack_winsor_and_mad_match_reference)
{
    float **s = outlier_scene();
    ac_stack_opts_t o;
    ac_stack_stats_t st_w, st_m;
    float *out;

    ac_stack_opts_default(&o);
    o.method = AC_STACK_WINSOR;
    out = run_and_compare(&o, s, SN, SPIX, NULL, NULL, &st_w);
    for (int y = 0; y < SH; y++)
        for (int x = 0; x < SW; x++)
            if (!(x == 60 && y == 46))
                ASSERT_NEAR(out[AT(x, y)], scene_truth(x, y), 5 * 10 / sqrt(19.0));
    ASSERT(st_w.rejected_high >= 3 + SW - 1);
    free(out);

    ac_stack_opts_default(&o);
    o.sigma_estimator = AC_STACK_SIGMA_MAD;
    out = run_and_compare(&o, s, SN, SPIX, NULL, NULL, &st_m);
    ASSERT(st_m.rejected_high >= 3 + SW - 1);
    free(out);
    free_subs(s, SN);
}

/* Three cosmic rays of +500 in the same pixel of 20 subs (sigma 10): the plain standard
 * deviation is inflated to about 0.37 * 500, so the hits sit only 2.7 "sigma" high and stay;
 * the winsorised sigma stays near 10 and they go. Small kappas / many values flip that, so
 * this is a property of the estimator, checked against the reference too. */
TEST(stack_winsor_versus_plain_on_clustered_outliers)
{
    enum { N = 20, W = 64, H = 4 };
    float **s = noise_subs(N, W, H, 500, 10, 42);
    ac_stack_opts_t o;
    ac_stack_stats_t sp, sw;
    float *plain, *wins;

    for (int x = 0; x < W; x++)
        for (int i = 0; i < 3; i++)
            s[(x + 7 * i) % N][x] += 500; /* row 0: three hits per pixel */
    ac_stack_opts_default(&o);
    plain = run_and_compare(&o, s, N, (size_t)W * H, NULL, NULL, &sp);
    o.method = AC_STACK_WINSOR;
    wins = run_and_compare(&o, s, N, (size_t)W * H, NULL, NULL, &sw);
    for (int x = 0; x < W; x++) {
        double truth = 500 + 0.5 * x;

        ASSERT_NEAR(plain[x], truth + 3 * 500.0 / N, 15); /* hits kept: +75 */
        ASSERT_NEAR(wins[x], truth, 10);                  /* hits gone */
    }
    ASSERT(sw.rejected_high >= 3 * W);
    ASSERT(sp.rejected_high < 3 * W / 4);
    free(plain);
    free(wins);
    free_subs(s, N);
}

/* With 8 values the standard deviation cannot reject a lone outlier at kappa 3 (it is at
 * most sqrt(8) = 2.83 deviations away); the MAD can. */
TEST(stack_mad_rejects_lone_outlier_in_small_stack)
{
    enum { N = 8, W = 64 };
    float **s = noise_subs(N, W, 1, 100, 2, 7);
    ac_stack_opts_t o;
    ac_stack_stats_t sd, mad;
    float *a, *b;

    for (int x = 0; x < W; x++)
        s[x % N][x] += 5000;
    ac_stack_opts_default(&o);
    o.median_below = 0;
    a = run_and_compare(&o, s, N, W, NULL, NULL, &sd);
    o.sigma_estimator = AC_STACK_SIGMA_MAD;
    b = run_and_compare(&o, s, N, W, NULL, NULL, &mad);
    ASSERT_EQ(sd.rejected_high, 0);
    ASSERT(mad.rejected_high >= W);
    for (int x = 0; x < W; x++) {
        ASSERT_NEAR(a[x], 100 + 0.5 * x + 5000.0 / N, 5);
        ASSERT_NEAR(b[x], 100 + 0.5 * x, 4);
    }
    free(a);
    free(b);
    free_subs(s, N);
}

/* The sorting network for every count 1..70 and a few larger ones (beyond one block and
 * beyond 64): the median of random values against qsort, NaN sprinkled in. */
TEST(stack_median_any_count_matches_sorting)
{
    static const int extra[] = {100, 127, 128, 129, 257};
    ac_stack_opts_t o;

    ac_stack_opts_default(&o);
    o.method = AC_STACK_MEDIAN;
    for (int k = 0; k < 70 + 5; k++) {
        int n = k < 70 ? k + 1 : extra[k - 70];
        size_t npix = 150;
        float **s = alloc_subs(n, npix);
        rng_t r = {1000u + (uint64_t)n};
        ac_stack_stats_t st;
        float *out;

        for (int i = 0; i < n; i++)
            for (size_t p = 0; p < npix; p++)
                s[i][p] = u01(&r) < 0.05 ? NAN : (float)floor(200 * u01(&r)); /* ties too */
        out = run_and_compare(&o, s, n, npix, NULL, NULL, &st);
        free(out);
        free_subs(s, n);
    }
}

/* Flat normalisation: 15 subs of the same vignetting pattern at very different levels (and
 * noise proportional to the level), each multiplied by 1 / its own median (computed here
 * with qsort), combine to the pattern divided by its median; a cosmic ray in the brightest
 * sub is still rejected. Also an additive offset per sub. */
TEST(stack_flat_scales_and_offsets)
{
    enum { N = 15, W = 40, H = 30 };
    size_t np = (size_t)W * H;
    float **s = alloc_subs(N, np);
    double scale[N], offset[N], *tmp = malloc(np * sizeof *tmp), pmed;
    double *pattern = malloc(np * sizeof *pattern);
    rng_t r = {77};
    ac_stack_opts_t o;
    ac_stack_stats_t st;
    float *out;

    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            double dx = (x - W / 2.0) / W, dy = (y - H / 2.0) / H;
            pattern[y * W + x] = 1.0 - 0.6 * (dx * dx + dy * dy);
        }
    memcpy(tmp, pattern, np * sizeof *tmp);
    pmed = ref_median(tmp, (int)np);
    for (int i = 0; i < N; i++) {
        double level = 3000.0 + 2500.0 * i;

        for (size_t p = 0; p < np; p++)
            s[i][p] = (float)(level * pattern[p] * (1 + 0.002 * gauss(&r)));
        for (size_t p = 0; p < np; p++)
            tmp[p] = s[i][p];
        scale[i] = 1.0 / ref_median(tmp, (int)np);
        offset[i] = 0.001 * (i - 7);
    }
    s[N - 1][123] *= 1.5f;
    ac_stack_opts_default(&o);
    out = run_and_compare(&o, s, N, np, scale, NULL, &st);
    for (size_t p = 0; p < np; p++)
        ASSERT_NEAR(out[p], pattern[p] / pmed, 0.003);
    ASSERT(st.rejected_high >= 1);
    free(out);
    /* With offsets (centred on 0), the result is the same pattern within the noise. */
    o.method = AC_STACK_WINSOR;
    out = run_and_compare(&o, s, N, np, scale, offset, &st);
    for (size_t p = 0; p < np; p++)
        ASSERT_NEAR(out[p], pattern[p] / pmed, 0.003);
    free(out);
    free(tmp);
    free(pattern);
    free_subs(s, N);
}

/* kappa_low 5, kappa_high 2 on pure noise: about 2.3 % of the values go high (beyond
 * 2 sigma), almost none low (beyond 5 sigma). */
TEST(stack_asymmetric_kappas)
{
    enum { N = 20, W = 64, H = 32 };
    size_t np = (size_t)W * H;
    float **s = noise_subs(N, W, H, 200, 5, 2024);
    ac_stack_opts_t o;
    ac_stack_stats_t st;
    float *out;

    ac_stack_opts_default(&o);
    o.kappa_low = 5;
    o.kappa_high = 2;
    for (int m = 0; m < 2; m++) {
        o.method = m == 0 ? AC_STACK_SIGMA_CLIP : AC_STACK_WINSOR;
        out = run_and_compare(&o, s, N, np, NULL, NULL, &st);
        ASSERT(st.rejected_high > st.values / 100);
        ASSERT(st.rejected_low < st.values / 2000);
        free(out);
    }
    free_subs(s, N);
}

/* Small kappas on few values: passes reject a lot and, now and then, a later pass would
 * reject everything left; the result is then the median of all the pixel's values (not of
 * the survivors), which the reference checks. */
TEST(stack_small_kappas_all_rejected_matches_reference)
{
    enum { N = 6, W = 64, H = 16 };
    size_t np = (size_t)W * H;
    float **s = noise_subs(N, W, H, 50, 3, 5150);
    ac_stack_opts_t o;
    ac_stack_stats_t st;
    float *out;

    ac_stack_opts_default(&o);
    o.kappa_low = 0.6;
    o.kappa_high = 0.7;
    o.iterations = 6;
    o.median_below = 0;
    for (int m = 0; m < 3; m++) {
        o.method = m == 1 ? AC_STACK_WINSOR : AC_STACK_SIGMA_CLIP;
        o.sigma_estimator = m == 2 ? AC_STACK_SIGMA_MAD : AC_STACK_SIGMA_STDDEV;
        out = run_and_compare(&o, s, N, np, NULL, NULL, &st);
        if (m == 0)
            ASSERT(st.all_rejected > 10);
        free(out);
    }
    free_subs(s, N);
}
