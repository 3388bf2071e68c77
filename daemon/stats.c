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
#include <stdlib.h>

float ac_stats_select(float *a, size_t n, size_t k)
{
    ptrdiff_t l = 0, r = (ptrdiff_t)n - 1, kk = (ptrdiff_t)k;

    while (l < r) {
        float x = a[kk];
        ptrdiff_t i = l, j = r;

        do {
            while (a[i] < x)
                i++;
            while (x < a[j])
                j--;
            if (i <= j) {
                float t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                j--;
            }
        } while (i <= j);
        if (j < kk)
            l = i;
        if (kk < i)
            r = j;
    }
    return a[k];
}

/* finite_front moves the finite values of a to its front (order not kept) and returns
 * how many there are. */
static size_t finite_front(float *a, size_t n)
{
    size_t m = 0;

    for (size_t i = 0; i < n; i++) {
        if (isfinite(a[i])) {
            float t = a[m];
            a[m++] = a[i];
            a[i] = t;
        }
    }
    return m;
}

/* median_finite is the median of a[0..n-1], all finite, n > 0; reorders a. */
static double median_finite(float *a, size_t n)
{
    size_t h = n / 2;
    double hi = ac_stats_select(a, n, h);
    float lo;

    if (n % 2)
        return hi;
    lo = a[0];
    for (size_t i = 1; i < h; i++)
        if (a[i] > lo)
            lo = a[i];
    return 0.5 * ((double)lo + hi);
}

double ac_stats_median_inplace(float *a, size_t n)
{
    n = finite_front(a, n);
    return n ? median_finite(a, n) : NAN;
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
    float *work = NULL;

    if (!buf)
        return -ENOMEM;
    if (m == 0) {
        free(buf);
        return -ERANGE;
    }
    work = malloc(m * sizeof *work);
    if (!work) {
        free(buf);
        return -ENOMEM;
    }
    for (size_t i = 0; i < m; i++)
        work[i] = buf[i];
    median_mad_finite(work, m, &centre, &mad);
    free(work);
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

size_t ac_stats_count_nonfinite(const float *a, size_t n)
{
    size_t c = 0;

    for (size_t i = 0; i < n; i++)
        c += !isfinite(a[i]);
    return c;
}
