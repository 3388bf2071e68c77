/*
 * stack.c - per-pixel combination of sub-frames into a master frame (see stack.h).
 *
 * Pixels are processed in blocks of BLK. The values of a block are gathered into a
 * sub-major buffer (value i of pixel p at blk[i * BLK + p]), normalised on the way, with
 * every non-finite value replaced by +inf and the finite ones counted per pixel. A sorting
 * network (Batcher's merge exchange, Knuth 5.2.2 algorithm M, valid for any n) then sorts
 * every pixel's column at once: each comparator is a branch-free min/max over BLK floats,
 * which the compiler vectorises. After the sort, the finite values of pixel p are the first
 * cnt[p] entries of its column, in increasing order, and the +inf placeholders follow.
 *
 * On a sorted column the kept set of a clipping method is always a contiguous range [lo, hi)
 * (rejection cuts values below one bound and above another), so a pass costs the median in
 * O(1), the mean and standard deviation in O(n), and moving the two ends. No pass allocates.
 *
 * Ownership: ac_stack_work_t owns its buffers; ac_stack_rows borrows everything else.
 * Thread: pure and reentrant; one ac_stack_work_t per thread.
 */
#include "stack.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "util.h"

/* Pixels per block: a multiple of every vector width, small enough that a block of 20 subs
 * (5 KiB) stays in the L1 cache. */
#define BLK 64

/* Winsorisation (stack.h): clamp at 1.5 sigma, 1.134 restores a Gaussian sigma, stop when
 * sigma changes by at most 0.05 %, after at most 50 rounds. */
#define WINSOR_CLAMP 1.5
#define WINSOR_GAIN 1.134
#define WINSOR_TOL 5e-4
#define WINSOR_ROUNDS 50
#define MAD_TO_SIGMA 1.4826

struct ac_stack_work {
    int nsubs;
    int npairs;
    int *pairs;   /* comparator (i, j) as the block offsets i * BLK, j * BLK, i < j */
    float *blk;   /* nsubs * BLK values, sub-major */
    float *col;   /* nsubs: one pixel's sorted finite values */
    double *pre;  /* 2 * (nsubs + 1): prefix sums for the winsorisation */
    int cnt[BLK]; /* finite values per pixel of the block */
    double mean[BLK], sd[BLK]; /* of the finite values per pixel (block_moments) */
};

void ac_stack_opts_default(ac_stack_opts_t *o)
{
    o->method = AC_STACK_SIGMA_CLIP;
    o->kappa_low = 3.0;
    o->kappa_high = 3.0;
    o->iterations = 3;
    o->median_below = 6;
    o->sigma_estimator = AC_STACK_SIGMA_STDDEV;
}

int ac_stack_opts_check(const ac_stack_opts_t *o, ac_err_t *e)
{
    if (o->method < AC_STACK_SIGMA_CLIP || o->method > AC_STACK_MEAN)
        return ac_err_set(e, AC_ECONFIG, "stack: unknown method %d (expected 0..3)", o->method);
    if (o->method == AC_STACK_MEDIAN || o->method == AC_STACK_MEAN)
        return 0;
    if (!(o->kappa_low > 0 && o->kappa_low < 1e6))
        return ac_err_set(e, AC_ECONFIG, "stack: kappa_low %g must be > 0", o->kappa_low);
    if (!(o->kappa_high > 0 && o->kappa_high < 1e6))
        return ac_err_set(e, AC_ECONFIG, "stack: kappa_high %g must be > 0", o->kappa_high);
    if (o->iterations < 0 || o->iterations > 1000)
        return ac_err_set(e, AC_ECONFIG, "stack: iterations %d must be within 0..1000",
                          o->iterations);
    if (o->median_below < 0 || o->median_below > AC_STACK_MAX_SUBS + 1)
        return ac_err_set(e, AC_ECONFIG, "stack: median_below %d must be within 0..%d",
                          o->median_below, AC_STACK_MAX_SUBS + 1);
    if (o->sigma_estimator != AC_STACK_SIGMA_STDDEV && o->sigma_estimator != AC_STACK_SIGMA_MAD)
        return ac_err_set(e, AC_ECONFIG, "stack: unknown sigma estimator %d (expected 0 or 1)",
                          o->sigma_estimator);
    return 0;
}

static const ac_name_value_t method_names[] = {
    {"sigma", AC_STACK_SIGMA_CLIP},      {"winsor", AC_STACK_WINSOR},
    {"median", AC_STACK_MEDIAN},         {"mean", AC_STACK_MEAN},
    {"sigma-clip", AC_STACK_SIGMA_CLIP}, {"kappa-sigma", AC_STACK_SIGMA_CLIP},
    {"winsorized", AC_STACK_WINSOR},     {"winsorised", AC_STACK_WINSOR},
    {"average", AC_STACK_MEAN},
};

const char *ac_stack_method_name(int method)
{
    /* The first four entries are the canonical names, in method order. */
    if (method < AC_STACK_SIGMA_CLIP || method > AC_STACK_MEAN)
        return "?";
    return method_names[method].name;
}

int ac_stack_method_parse(const char *name)
{
    return ac_name_value(method_names, sizeof method_names / sizeof method_names[0], name, true,
                         AC_ECONFIG);
}

/* merge_exchange lists the comparators of Batcher's merge-exchange network for n values
 * into pairs (as block offsets) when pairs is not NULL, and returns their number. */
static int merge_exchange(int n, int *pairs)
{
    int t = 0, count = 0;

    if (n < 2)
        return 0;
    while ((1 << t) < n)
        t++;
    for (int p = 1 << (t - 1); p > 0; p >>= 1) {
        int q = 1 << (t - 1), r = 0, d = p;

        for (;;) {
            for (int i = 0; i < n - d; i++) {
                if ((i & p) != r)
                    continue;
                if (pairs) {
                    pairs[2 * count] = i * BLK;
                    pairs[2 * count + 1] = (i + d) * BLK;
                }
                count++;
            }
            if (q == p)
                break;
            d = q - p;
            q >>= 1;
            r = p;
        }
    }
    return count;
}

ac_stack_work_t *ac_stack_work_new(int nsubs)
{
    ac_stack_work_t *w = NULL;

    if (nsubs < 1 || nsubs > AC_STACK_MAX_SUBS)
        return NULL;
    w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->nsubs = nsubs;
    w->npairs = merge_exchange(nsubs, NULL);
    w->pairs = malloc(2 * sizeof *w->pairs * (size_t)(w->npairs > 0 ? w->npairs : 1));
    /* nsubs * BLK * sizeof(float) is a multiple of 64, as aligned_alloc requires. */
    w->blk = aligned_alloc(64, (size_t)nsubs * BLK * sizeof *w->blk);
    w->col = malloc((size_t)nsubs * sizeof *w->col);
    w->pre = malloc(2 * ((size_t)nsubs + 1) * sizeof *w->pre);
    if (!w->pairs || !w->blk || !w->col || !w->pre)
        goto fail;
    merge_exchange(nsubs, w->pairs);
    return w;
fail:
    ac_stack_work_free(w);
    return NULL;
}

void ac_stack_work_free(ac_stack_work_t *w)
{
    if (!w)
        return;
    free(w->pairs);
    free(w->blk);
    free(w->col);
    free(w->pre);
    free(w);
}

void ac_stack_stats_add(ac_stack_stats_t *dst, const ac_stack_stats_t *src)
{
    dst->pixels += src->pixels;
    dst->values += src->values;
    dst->ignored += src->ignored;
    dst->rejected_low += src->rejected_low;
    dst->rejected_high += src->rejected_high;
    dst->all_rejected += src->all_rejected;
    dst->median_pixels += src->median_pixels;
    dst->empty += src->empty;
}

/* gather copies pixels [p0, p0 + bn) of every sub into w->blk, normalised, non-finite values
 * replaced by +inf, and counts the finite values per pixel. Columns bn..BLK-1 are +inf. */
static void gather(ac_stack_work_t *w, const float *const *subs, size_t p0, size_t bn,
                   const double *scale, const double *offset)
{
    int *restrict cnt = w->cnt;

    for (int p = 0; p < BLK; p++)
        cnt[p] = 0;
    for (int i = 0; i < w->nsubs; i++) {
        const float *restrict s = subs[i] + p0;
        float *restrict d = w->blk + (size_t)i * BLK;

        if (scale || offset) {
            double sc = scale ? scale[i] : 1.0, of = offset ? offset[i] : 0.0;

            for (size_t p = 0; p < bn; p++) {
                float v = (float)(s[p] * sc + of);
                int fin = fabsf(v) <= FLT_MAX;

                d[p] = fin ? v : INFINITY;
                cnt[p] += fin;
            }
        } else {
            for (size_t p = 0; p < bn; p++) {
                float v = s[p];
                int fin = fabsf(v) <= FLT_MAX;

                d[p] = fin ? v : INFINITY;
                cnt[p] += fin;
            }
        }
        for (size_t p = bn; p < BLK; p++)
            d[p] = INFINITY;
    }
}

/* cmpx orders two rows of the block element-wise: x gets the minima, y the maxima. The
 * rows hold no NaN, so min/max are exact. GCC does not vectorise the plain C form (it keeps
 * the branches), hence SSE where the target has it (every x86-64), plain C elsewhere. */
#if defined(__SSE2__)
static inline void cmpx(float *restrict x, float *restrict y)
{
    for (int p = 0; p < BLK; p += 4) {
        __m128 a = _mm_load_ps(x + p), b = _mm_load_ps(y + p);

        _mm_store_ps(x + p, _mm_min_ps(a, b));
        _mm_store_ps(y + p, _mm_max_ps(a, b));
    }
}
#else
static inline void cmpx(float *restrict x, float *restrict y)
{
    for (int p = 0; p < BLK; p++) {
        float a = x[p], b = y[p];

        x[p] = a < b ? a : b;
        y[p] = a < b ? b : a;
    }
}
#endif

static void sort_block(ac_stack_work_t *w)
{
    const int *pr = w->pairs;

    for (int k = 0; k < w->npairs; k++)
        cmpx(w->blk + pr[2 * k], w->blk + pr[2 * k + 1]);
}

/* sorted_median returns the median of the sorted a[0..n-1], n >= 1. */
static double sorted_median(const float *a, int n)
{
    return (n & 1) ? (double)a[n / 2] : 0.5 * ((double)a[n / 2 - 1] + (double)a[n / 2]);
}

static double range_mean(const float *a, int lo, int hi)
{
    double s = 0;

    for (int j = lo; j < hi; j++)
        s += a[j];
    return s / (hi - lo);
}

/* range_sd returns the sample standard deviation of a[lo..hi-1] (hi - lo >= 2). */
static double range_sd(const float *a, int lo, int hi, double mean)
{
    double ss = 0;

    for (int j = lo; j < hi; j++) {
        double d = a[j] - mean;

        ss += d * d;
    }
    return sqrt(ss / (hi - lo - 1));
}

/* mad_sigma returns 1.4826 times the median of |b[j] - c| for the sorted b[0..n-1] whose
 * median is c: the deviations left of the middle and right of it are two increasing
 * sequences, merged until the middle one (or two) is reached. */
static double mad_sigma(const float *b, int n, double c)
{
    int l = (n - 1) / 2, r = l + 1, k0 = (n - 1) / 2, k1 = n / 2;
    double d0 = 0, d1 = 0;

    for (int i = 0; i <= k1; i++) {
        double d;

        if (l >= 0 && (r >= n || c - b[l] <= b[r] - c))
            d = c - b[l--];
        else
            d = b[r++] - c;
        if (i == k0)
            d0 = d;
        d1 = d;
    }
    return MAD_TO_SIGMA * 0.5 * (d0 + d1);
}

/* winsor_sigma refines s (the standard deviation of a[lo..hi-1]) by winsorisation around
 * the median c, as stack.h describes. On the sorted values the clamped set is: i0 values
 * raised to m0, the values [i0, i1) as they are, the rest lowered to m1; with prefix sums of
 * the deviations from c (pre, 2 * (n + 1) doubles) a round costs O(1) plus the moves of i0
 * and i1. Deviations from c keep the one-pass variance free of cancellation. */
static double winsor_sigma(const float *a, int lo, int hi, double c, double s, double *pre)
{
    int n = hi - lo, i0 = 0, i1 = n;
    const float *b = a + lo;
    double *p1 = pre, *p2 = pre + n + 1, r1 = 0, r2 = 0, inv_n = 1.0 / n,
           inv_n1 = 1.0 / (n - 1);

    p1[0] = p2[0] = 0;
    for (int j = 0; j < n; j++) {
        double d = b[j] - c;

        p1[j + 1] = r1 += d;
        p2[j + 1] = r2 += d * d;
    }
    for (int round = 0; round < WINSOR_ROUNDS; round++) {
        double m0 = -WINSOR_CLAMP * s, m1 = WINSOR_CLAMP * s, sum, sq, var, ns;
        int done;

        /* i0: the values below c + m0; i1: the values at most c + m1. */
        while (i0 < n && b[i0] - c < m0)
            i0++;
        while (i0 > 0 && b[i0 - 1] - c >= m0)
            i0--;
        while (i1 < n && b[i1] - c <= m1)
            i1++;
        while (i1 > 0 && b[i1 - 1] - c > m1)
            i1--;
        sum = i0 * m0 + (p1[i1] - p1[i0]) + (n - i1) * m1;
        sq = i0 * m0 * m0 + (p2[i1] - p2[i0]) + (n - i1) * m1 * m1;
        var = (sq - sum * sum * inv_n) * inv_n1;
        ns = WINSOR_GAIN * sqrt(var > 0 ? var : 0);
        done = fabs(ns - s) <= WINSOR_TOL * s;
        s = ns;
        if (done)
            break;
    }
    return s;
}

/* clip_sorted combines the sorted a[0..n-1] (n >= 2) by sigma clipping or winsorised sigma
 * clipping, starting from their mean and standard deviation, and reports the values it
 * rejected below and above, or sets *all when a pass would have rejected every value (the
 * result is then the median of all). pre: 2 * (n + 1) doubles of scratch. */
static double clip_sorted(const ac_stack_opts_t *o, const float *a, int n, double mean,
                          double sd, double *pre, int *rej_lo, int *rej_hi, int *all)
{
    int lo = 0, hi = n;

    *rej_lo = *rej_hi = *all = 0;
    for (int it = 0; it < o->iterations && hi - lo >= 2; it++) {
        double c = sorted_median(a + lo, hi - lo), s, lb, hb;
        int nlo = lo, nhi = hi;

        if (it > 0)
            sd = range_sd(a, lo, hi, mean);
        s = sd;
        if (o->method == AC_STACK_SIGMA_CLIP && o->sigma_estimator == AC_STACK_SIGMA_MAD)
            s = mad_sigma(a + lo, hi - lo, c);
        else if (o->method == AC_STACK_WINSOR)
            s = winsor_sigma(a, lo, hi, c, s, pre);
        lb = c - o->kappa_low * s;
        hb = c + o->kappa_high * s;
        while (nlo < hi && a[nlo] < lb)
            nlo++;
        while (nhi > nlo && a[nhi - 1] > hb)
            nhi--;
        if (nlo == lo && nhi == hi)
            break;
        if (nlo == nhi) {
            *all = 1;
            return sorted_median(a, n);
        }
        lo = nlo;
        hi = nhi;
        mean = range_mean(a, lo, hi);
    }
    *rej_lo = lo;
    *rej_hi = n - hi;
    return mean;
}

/* block_moments computes w->mean[p] and w->sd[p] (sample standard deviation, 0 below two
 * values) of the finite values of every pixel of the gathered block, in double. The +inf
 * placeholders are masked out. Vectorised across pixels: a per-pixel loop would be one long
 * chain of dependent additions. */
static void block_moments(ac_stack_work_t *w)
{
    double *restrict mean = w->mean, *restrict ss = w->sd;

    for (int p = 0; p < BLK; p++)
        mean[p] = ss[p] = 0;
#if defined(__SSE2__)
    const __m128 inf = _mm_set1_ps(INFINITY);

    for (int i = 0; i < w->nsubs; i++) {
        const float *v = w->blk + (size_t)i * BLK;

        for (int p = 0; p < BLK; p += 4) {
            __m128 x = _mm_load_ps(v + p);

            x = _mm_and_ps(x, _mm_cmplt_ps(x, inf));
            _mm_storeu_pd(mean + p, _mm_add_pd(_mm_loadu_pd(mean + p), _mm_cvtps_pd(x)));
            _mm_storeu_pd(mean + p + 2, _mm_add_pd(_mm_loadu_pd(mean + p + 2),
                                                   _mm_cvtps_pd(_mm_movehl_ps(x, x))));
        }
    }
    for (int p = 0; p < BLK; p++)
        mean[p] = w->cnt[p] ? mean[p] / w->cnt[p] : 0;
    for (int i = 0; i < w->nsubs; i++) {
        const float *v = w->blk + (size_t)i * BLK;

        for (int p = 0; p < BLK; p += 4) {
            __m128 x = _mm_load_ps(v + p);
            __m128d lo = _mm_cvtps_pd(x), hi = _mm_cvtps_pd(_mm_movehl_ps(x, x));
            __m128d dlo = _mm_sub_pd(lo, _mm_loadu_pd(mean + p));
            __m128d dhi = _mm_sub_pd(hi, _mm_loadu_pd(mean + p + 2));

            dlo = _mm_and_pd(dlo, _mm_cmplt_pd(lo, _mm_set1_pd(INFINITY)));
            dhi = _mm_and_pd(dhi, _mm_cmplt_pd(hi, _mm_set1_pd(INFINITY)));
            _mm_storeu_pd(ss + p, _mm_add_pd(_mm_loadu_pd(ss + p), _mm_mul_pd(dlo, dlo)));
            _mm_storeu_pd(ss + p + 2,
                          _mm_add_pd(_mm_loadu_pd(ss + p + 2), _mm_mul_pd(dhi, dhi)));
        }
    }
#else
    for (int i = 0; i < w->nsubs; i++) {
        const float *v = w->blk + (size_t)i * BLK;

        for (int p = 0; p < BLK; p++)
            mean[p] += v[p] < INFINITY ? v[p] : 0.0f;
    }
    for (int p = 0; p < BLK; p++)
        mean[p] = w->cnt[p] ? mean[p] / w->cnt[p] : 0;
    for (int i = 0; i < w->nsubs; i++) {
        const float *v = w->blk + (size_t)i * BLK;

        for (int p = 0; p < BLK; p++) {
            double d = v[p] < INFINITY ? v[p] - mean[p] : 0.0;

            ss[p] += d * d;
        }
    }
#endif
    for (int p = 0; p < BLK; p++)
        ss[p] = w->cnt[p] >= 2 ? sqrt(ss[p] / (w->cnt[p] - 1)) : 0;
}

/* combine_block writes every pixel of the gathered block (sorted unless the method is the
 * mean). A pixel whose first pass of plain sigma clipping rejects nothing (most of them)
 * is decided from the block moments and its two extreme values alone. */
static void combine_block(const ac_stack_opts_t *o, ac_stack_work_t *w, size_t bn, float *out,
                          ac_stack_stats_t *acc)
{
    const float *blk = w->blk;
    int quick = o->method == AC_STACK_SIGMA_CLIP && o->sigma_estimator == AC_STACK_SIGMA_STDDEV;

    for (size_t p = 0; p < bn; p++) {
        int n = w->cnt[p], rl, rh, all;
        double m;

        if (n == 0) {
            out[p] = NAN;
            acc->empty++;
            continue;
        }
        if (o->method == AC_STACK_MEAN) {
            out[p] = (float)w->mean[p];
            continue;
        }
        if (o->method == AC_STACK_MEDIAN || n < o->median_below) {
            m = blk[(size_t)(n / 2) * BLK + p];
            if (!(n & 1))
                m = 0.5 * (m + blk[(size_t)(n / 2 - 1) * BLK + p]);
            out[p] = (float)m;
            if (o->method != AC_STACK_MEDIAN)
                acc->median_pixels++;
            continue;
        }
        if (n < 2 || o->iterations == 0) {
            out[p] = (float)w->mean[p];
            continue;
        }
        if (quick) {
            m = blk[(size_t)(n / 2) * BLK + p];
            if (!(n & 1))
                m = 0.5 * (m + blk[(size_t)(n / 2 - 1) * BLK + p]);
            if (blk[p] >= m - o->kappa_low * w->sd[p] &&
                blk[(size_t)(n - 1) * BLK + p] <= m + o->kappa_high * w->sd[p]) {
                out[p] = (float)w->mean[p];
                continue;
            }
        }
        for (int i = 0; i < n; i++)
            w->col[i] = blk[(size_t)i * BLK + p];
        out[p] = (float)clip_sorted(o, w->col, n, w->mean[p], w->sd[p], w->pre, &rl, &rh, &all);
        acc->rejected_low += (uint64_t)rl;
        acc->rejected_high += (uint64_t)rh;
        acc->all_rejected += (uint64_t)all;
    }
}

int ac_stack_rows(const ac_stack_opts_t *o, const float *const *subs, int nsubs, size_t npix,
                  const double *scale, const double *offset, float *out, ac_stack_stats_t *st,
                  ac_stack_work_t *w, ac_err_t *e)
{
    ac_stack_work_t *own = NULL;
    ac_stack_stats_t acc = {0};
    int rc;

    if (!o || !subs || (npix > 0 && !out))
        return ac_err_set(e, AC_ECONFIG, "stack: missing options, subs or output buffer");
    if (nsubs < 1 || nsubs > AC_STACK_MAX_SUBS)
        return ac_err_set(e, AC_ECONFIG, "stack: %d subs (expected 1..%d)", nsubs,
                          AC_STACK_MAX_SUBS);
    rc = ac_stack_opts_check(o, e);
    if (rc < 0)
        return rc;
    if (w && w->nsubs != nsubs)
        return ac_err_set(e, AC_ECONFIG, "stack: working memory made for %d subs, not %d",
                          w->nsubs, nsubs);
    if (!w) {
        own = w = ac_stack_work_new(nsubs);
        if (!w)
            return ac_err_set(e, -ENOMEM, "stack: no memory for %d subs", nsubs);
    }
    for (size_t p0 = 0; p0 < npix; p0 += BLK) {
        size_t bn = npix - p0 < BLK ? npix - p0 : BLK;

        gather(w, subs, p0, bn, scale, offset);
        for (size_t p = 0; p < bn; p++) {
            acc.values += (uint64_t)w->cnt[p];
            acc.ignored += (uint64_t)(nsubs - w->cnt[p]);
        }
        if (o->method != AC_STACK_MEAN)
            sort_block(w);
        if (o->method != AC_STACK_MEDIAN)
            block_moments(w);
        combine_block(o, w, bn, out + p0, &acc);
    }
    acc.pixels = npix;
    if (st)
        ac_stack_stats_add(st, &acc);
    ac_stack_work_free(own);
    return 0;
}
