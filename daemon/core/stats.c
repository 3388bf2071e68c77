/*
 * stats.c - robust statistics on float arrays (see stats.h).
 *
 * Selection is Wirth's quickselect (Hoare partitioning around the middle element), which
 * leaves a[0..k-1] <= a[k] <= a[k+1..n-1]; the median of an even count uses that to find the
 * lower middle value as the largest of the left part without a second selection.
 *
 * Functions taking a const array never modify it: they copy (at most max_samples) finite
 * values into a scratch buffer first. The in-place functions move the non-finite values to
 * the end of the array before selecting, so they too ignore NaN and infinities.
 *
 * Ownership: scratch buffers are allocated and freed inside each call.
 * Thread: pure functions, any thread.
 */
#include "stats.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Arrays from this size on are selected by band_select (below, quickselect is as fast);
 * it copies the values of its band in chunks of BAND_CHUNK. */
#define BAND_MIN 65536
#define BAND_CHUNK 4096

/* DEFINE_SELECT defines the quickselect NAME on elements of type T (float and double
 * share this one algorithm). */
#define DEFINE_SELECT(NAME, T)                                                                 \
    T NAME(T *a, size_t n, size_t k)                                                           \
    {                                                                                          \
        ptrdiff_t l = 0, r = (ptrdiff_t)n - 1, kk = (ptrdiff_t)k;                              \
                                                                                               \
        while (l < r) {                                                                        \
            T x = a[kk];                                                                       \
            ptrdiff_t i = l, j = r;                                                            \
                                                                                               \
            do {                                                                               \
                while (a[i] < x)                                                               \
                    i++;                                                                       \
                while (x < a[j])                                                               \
                    j--;                                                                       \
                if (i <= j) {                                                                  \
                    T t = a[i];                                                                \
                    a[i] = a[j];                                                               \
                    a[j] = t;                                                                  \
                    i++;                                                                       \
                    j--;                                                                       \
                }                                                                              \
            } while (i <= j);                                                                  \
            if (j < kk)                                                                        \
                l = i;                                                                         \
            if (kk < i)                                                                        \
                r = j;                                                                         \
        }                                                                                      \
        return a[k];                                                                           \
    }

DEFINE_SELECT(ac_stats_select, float)
DEFINE_SELECT(ac_stats_select_d, double)

/* finite_front (and finite_front_d) move the finite values of a to its front (order not
 * kept) and return how many there are. */
#define DEFINE_FINITE_FRONT(NAME, T)                                                           \
    static size_t NAME(T *a, size_t n)                                                         \
    {                                                                                          \
        size_t m = 0;                                                                          \
                                                                                               \
        for (size_t i = 0; i < n; i++) {                                                       \
            if (isfinite(a[i])) {                                                              \
                T t = a[m];                                                                    \
                a[m++] = a[i];                                                                 \
                a[i] = t;                                                                      \
            }                                                                                  \
        }                                                                                      \
        return m;                                                                              \
    }

DEFINE_FINITE_FRONT(finite_front, float)
DEFINE_FINITE_FRONT(finite_front_d, double)

/* max_of is the largest of a[0..n-1], n > 0. */
static float max_of(const float *a, size_t n)
{
    float m = a[0];

    for (size_t i = 1; i < n; i++)
        if (a[i] > m)
            m = a[i];
    return m;
}

/* VAL is the value band_select selects on: a[i], or its absolute deviation from *c
 * (computed exactly as median_mad_finite computes the deviations). */
#define VAL(x) (c != NULL ? (float)fabs((double)(x) - *c) : (x))

/*
 * band_select finds the k-th smallest of the values VAL(a[0..n-1]) (a all finite, not
 * modified) in *hi and, when lo is not NULL, the (k-1)-th in *lo (k > 0). It returns false
 * when it cannot say (no memory, or unusual data: then the caller selects the usual way).
 * Like Floyd and Rivest's selection: s values (about n / 64, a regular grid) are copied
 * out and two of them, vlo and vhi, are selected at sample ranks ks -/+ d around the
 * k-th value's expected rank ks, with d = 3 sqrt(s), at least six standard deviations of
 * that rank. One pass over a then counts the values below vlo and copies those in
 * [vlo, vhi] (2-10 % of n) out, without branches (a branch taken at random for a few
 * percent of the values costs more than the copy); quickselect finishes in the copy. The
 * values returned are order statistics, so they are exactly quickselect's.
 */
static bool band_select(const float *a, size_t n, size_t k, const double *c, float *lo,
                        float *hi)
{
    size_t s = n >> 6, step, ks, d, below = 0, m = 0, cap = n / 4 + BAND_CHUNK, r;
    float vlo = -INFINITY, vhi = INFINITY, *t;
    bool ok = false;

    if (s < 1024)
        s = 1024;
    if (s > 65536)
        s = 65536;
    t = malloc(cap * sizeof *t);
    if (t == NULL)
        return false;
    step = n / s;
    for (size_t j = 0; j < s; j++)
        t[j] = VAL(a[j * step]);
    ks = (size_t)((double)k * (double)s / (double)n);
    d = (size_t)(3.0 * sqrt((double)s)) + 8;
    if (ks >= d + 1)
        vlo = ac_stats_select(t, s, ks - d - 1);
    if (ks + d < s)
        vhi = ac_stats_select(t, s, ks + d);
    for (size_t i0 = 0; i0 < n; i0 += BAND_CHUNK) {
        size_t i1 = n - i0 < BAND_CHUNK ? n : i0 + BAND_CHUNK;

        if (m + BAND_CHUNK > cap)
            goto out; /* far more values in the band than expected */
        for (size_t i = i0; i < i1; i++) {
            float x = VAL(a[i]);
            below += x < vlo;
            t[m] = x;
            m += (size_t)((x >= vlo) & (x <= vhi));
        }
    }
    /* The band holds ranks [below, below + m): k (and k - 1) must be inside. */
    if (k < below + (lo != NULL) || k >= below + m)
        goto out;
    r = k - below;
    *hi = ac_stats_select(t, m, r);
    if (lo != NULL)
        *lo = max_of(t, r);
    ok = true;
out:
    free(t);
    return ok;
}

/* median_finite is the median of a[0..n-1], all finite, n > 0; may reorder a. Large
 * arrays go through band_select (one pass over the data instead of quickselect's
 * several). */
static double median_finite(float *a, size_t n)
{
    size_t h = n / 2;
    double hi;
    float lo, vhi;

    if (n >= BAND_MIN && band_select(a, n, h, NULL, n % 2 ? NULL : &lo, &vhi))
        return n % 2 ? (double)vhi : 0.5 * ((double)lo + vhi);
    hi = ac_stats_select(a, n, h);
    if (n % 2)
        return hi;
    lo = max_of(a, h);
    return 0.5 * ((double)lo + hi);
}

double ac_stats_median_inplace(float *a, size_t n)
{
    n = finite_front(a, n);
    return n ? median_finite(a, n) : NAN;
}

double ac_stats_median_high_d(double *a, size_t n)
{
    size_t m = finite_front_d(a, n);

    return m ? ac_stats_select_d(a, m, m / 2) : NAN;
}

double ac_stats_quantile_inplace(float *a, size_t n, double q)
{
    double r;
    size_t k;

    n = finite_front(a, n);
    if (n == 0)
        return NAN;
    /* Nearest rank: the smallest value with at least q * n values at or below it. */
    r = ceil(q * (double)n);
    k = r < 1 ? 0 : (size_t)r - 1;
    if (k >= n)
        k = n - 1;
    return ac_stats_select(a, n, k);
}

size_t ac_stats_sample(const float *a, size_t n, float *out, size_t max_samples)
{
    size_t step, m = 0;

    if (max_samples == 0 || n == 0)
        return 0;
    step = (n + max_samples - 1) / max_samples;
    for (size_t i = 0; i < n && m < max_samples; i += step)
        if (isfinite(a[i]))
            out[m++] = a[i];
    return m;
}

/* take_samples allocates a buffer and fills it with the finite samples of a (all of them
 * when max_samples is 0). Returns the buffer (owned) or NULL, with the count in *m. */
static float *take_samples(const float *a, size_t n, size_t max_samples, size_t *m)
{
    size_t cap = (max_samples == 0 || max_samples > n) ? n : max_samples;
    float *buf = malloc((cap ? cap : 1) * sizeof *buf);

    *m = 0;
    if (buf)
        *m = ac_stats_sample(a, n, buf, cap);
    return buf;
}

/* median_mad_finite computes the median and MAD of buf[0..m-1] (finite, m > 0), reusing
 * buf for the deviations. */
static void median_mad_finite(float *buf, size_t m, double *median, double *mad)
{
    double med = median_finite(buf, m);

    for (size_t i = 0; i < m; i++)
        buf[i] = (float)fabs((double)buf[i] - med);
    *median = med;
    *mad = median_finite(buf, m);
}

/* median_mad_const is median_mad_finite without modifying a: through band_select when it
 * can (no copy), else on a copy. 0 or -ENOMEM. */
static int median_mad_const(const float *a, size_t m, double *median, double *mad)
{
    float lo, hi, *work;
    double med;

    if (m >= BAND_MIN && band_select(a, m, m / 2, NULL, m % 2 ? NULL : &lo, &hi)) {
        med = m % 2 ? (double)hi : 0.5 * ((double)lo + hi);
        if (band_select(a, m, m / 2, &med, m % 2 ? NULL : &lo, &hi)) {
            *median = med;
            *mad = m % 2 ? (double)hi : 0.5 * ((double)lo + hi);
            return 0;
        }
    }
    work = malloc(m * sizeof *work);
    if (work == NULL)
        return -ENOMEM;
    memcpy(work, a, m * sizeof *work);
    median_mad_finite(work, m, median, mad);
    free(work);
    return 0;
}

int ac_stats_median_mad(const float *a, size_t n, size_t max_samples, double *median,
                        double *mad)
{
    size_t m;
    float *buf = take_samples(a, n, max_samples, &m);

    if (!buf)
        return -ENOMEM;
    if (m == 0) {
        free(buf);
        return -ERANGE;
    }
    median_mad_finite(buf, m, median, mad);
    free(buf);
    return 0;
}

/*
 * ac_stats_clipped_mean: the window is centre +- kappa * 1.4826 * MAD, where the MAD is
 * that of all the samples around their median (computed once: a robust sigma that the
 * clipping cannot shrink). The first centre is the median; each further iteration
 * centres the window on the previous mean and stops early when the mean no longer
 * changes. With a MAD of zero the window keeps the values equal to the median.
 */
int ac_stats_clipped_mean(const float *a, size_t n, size_t max_samples, double kappa, int iters,
                          double *mean)
{
    size_t m;
    double centre, mad, half, result = NAN;
    float *buf = take_samples(a, n, max_samples, &m);

    if (!buf)
        return -ENOMEM;
    if (m == 0 || median_mad_const(buf, m, &centre, &mad) != 0) {
        free(buf);
        return m == 0 ? -ERANGE : -ENOMEM;
    }
    half = kappa * 1.4826 * mad;
    if (iters < 1)
        iters = 1;
    for (int it = 0; it < iters; it++) {
        double sum = 0;
        size_t kept = 0;

        for (size_t i = 0; i < m; i++) {
            if (fabs((double)buf[i] - centre) <= half) {
                sum += buf[i];
                kept++;
            }
        }
        if (kept == 0)
            break;
        result = sum / (double)kept;
        if (result == centre)
            break;
        centre = result;
    }
    free(buf);
    if (isnan(result))
        return -ERANGE;
    *mean = result;
    return 0;
}

/* nonfinite_bits is 1 when the float with bits u is NaN or infinite (exponent all ones):
 * an integer test, which compilers vectorise where isfinite() stays scalar. */
static inline unsigned nonfinite_bits(const float *p)
{
    uint32_t u;

    memcpy(&u, p, sizeof u);
    return (u & 0x7f800000u) == 0x7f800000u;
}

size_t ac_stats_count_nonfinite(const float *a, size_t n)
{
    size_t c = 0, i = 0;

    /* Blocks of a fixed size let -O2 vectorise the inner loop. */
    for (; i + 64 <= n; i += 64) {
        unsigned k = 0;
        for (size_t j = 0; j < 64; j++)
            k += nonfinite_bits(a + i + j);
        c += k;
    }
    for (; i < n; i++)
        c += nonfinite_bits(a + i);
    return c;
}
