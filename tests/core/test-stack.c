/*
 * test-stack.c - master-frame combination (daemon/core/stack.c) against an independent
 * reference written here: per pixel, the finite values in double, a keep-flag per value,
 * qsort for every median, two-pass means and deviations, winsorisation by clamping copies.
 * Generated subs carry known noise and outliers (cosmic rays, a satellite trail, a hot pixel
 * present in every sub, NaN); hand-made cases check exact numbers and counts.
 */
#include <errno.h>
#include <stdint.h>

#include "stack.h"
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

/* ---- data --------------------------------------------------------------------------- */

typedef struct rng {
    uint64_t s;
} rng_t;

static double u01(rng_t *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return ((double)(r->s >> 11) + 0.5) / 9007199254740992.0;
}

static double gauss(rng_t *r)
{
    return sqrt(-2 * log(u01(r))) * cos(6.283185307179586 * u01(r));
}

static float **alloc_subs(int n, size_t npix)
{
    float **s = calloc((size_t)n, sizeof *s);
    for (int i = 0; i < n; i++)
        s[i] = malloc(npix * sizeof **s);
    return s;
}

static void free_subs(float **s, int n)
{
    for (int i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

/* noise_subs: base + a gentle gradient + Gaussian noise of sigma. */
static float **noise_subs(int n, int w, int h, double base, double sigma, uint64_t seed)
{
    float **s = alloc_subs(n, (size_t)w * h);
    rng_t r = {seed};

    for (int i = 0; i < n; i++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                s[i][(size_t)y * w + x] =
                    (float)(base + 0.5 * x + 0.25 * y + sigma * gauss(&r));
    return s;
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

/* The outlier scene: 20 subs of 61 x 47 (not a multiple of the 64-pixel block), sigma 10
 * around 1000. */
enum { SW = 61, SH = 47, SN = 20 };
#define SPIX ((size_t)SW * SH)
#define AT(x, y) ((size_t)(y)*SW + (x))

static float **outlier_scene(void)
{
    float **s = noise_subs(SN, SW, SH, 1000, 10, 0x9e3779b97f4a7c15ull);

    /* Cosmic rays: one huge value in one sub each. */
    s[3][AT(10, 10)] += 20000;
    s[11][AT(40, 5)] += 3000;
    s[19][AT(0, 0)] += 800;
    /* A satellite trail across sub 7: a diagonal line 1200 ADU high. */
    for (int x = 0; x < SW; x++)
        s[7][AT(x, x * (SH - 1) / (SW - 1))] += 1200;
    /* A hot pixel in every sub. */
    for (int i = 0; i < SN; i++)
        s[i][AT(30, 20)] = (float)(s[i][AT(30, 20)] + 14000);
    /* NaN pixels: one in sub 2, and a pixel that is NaN everywhere. */
    s[2][AT(5, 30)] = NAN;
    s[9][AT(6, 30)] = INFINITY;
    for (int i = 0; i < SN; i++)
        s[i][AT(60, 46)] = NAN;
    return s;
}

/* truth of the scene at (x, y): the noise-free level. */
static double scene_truth(int x, int y)
{
    return 1000 + 0.5 * x + 0.25 * y + (x == 30 && y == 20 ? 14000 : 0);
}

/* ---- tests -------------------------------------------------------------------------- */

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
    out = run_and_compare(&o, s, N, np, NULL, NULL, &st);
    ASSERT(st.rejected_high > st.values / 100);
    ASSERT(st.rejected_low < st.values / 2000);
    free(out);
    o.method = AC_STACK_WINSOR;
    out = run_and_compare(&o, s, N, np, NULL, NULL, &st);
    ASSERT(st.rejected_high > st.values / 100);
    ASSERT(st.rejected_low < st.values / 2000);
    free(out);
    free_subs(s, N);
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
