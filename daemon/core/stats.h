/*
 * stats.h - robust statistics on float arrays (pure): median, MAD, quantiles, sigma-clipped
 * mean, with NaN/inf ignored. Used by calibration (master analysis, flat normalisation,
 * hot pixels, pedestal, dark optimisation), quality figures and master building; the
 * double variants (_d) serve small lists of header values (the median exposure of a
 * session or of a master's subs). This is the one selection of the tree: other modules
 * call it rather than sorting for a median.
 *
 * Thread: pure functions, any thread. Functions that need scratch memory allocate it
 * (bounded by the number of samples they are given) and return -ENOMEM on failure.
 */
#ifndef AC_STATS_H
#define AC_STATS_H

#include <stddef.h>

/* ac_stats_select returns the k-th smallest (0-based) of a[0..n-1], reordering a in place
 * (quickselect, expected O(n)). n must be > 0 and k < n; a must hold no NaN. */
float ac_stats_select(float *a, size_t n, size_t k);

/* ac_stats_select_d is ac_stats_select on doubles (the same algorithm). */
double ac_stats_select_d(double *a, size_t n, size_t k);

/* ac_stats_median_high_d returns the median of the finite values of a[0..n-1] as one of
 * those values: the middle one for an odd count, the higher of the two middle ones for an
 * even count (so the median of exposures 60, 120 is 120, an exposure that occurs). Any
 * number of values; NAN when none is finite (or n == 0). Reorders a. */
double ac_stats_median_high_d(double *a, size_t n);

/* ac_stats_median_inplace returns the median of a[0..n-1] (mean of the two middle values
 * for even n), reordering a. NAN when n == 0. a must hold no NaN. */
double ac_stats_median_inplace(float *a, size_t n);

/* ac_stats_quantile_inplace returns the q-quantile (0 <= q <= 1, nearest rank) of a,
 * reordering a. NAN when n == 0. */
double ac_stats_quantile_inplace(float *a, size_t n, double q);

/* ac_stats_sample copies at most max_samples finite values of a[0..n-1] into out, taking
 * every ceil(n / max_samples)-th element (a regular grid, deterministic). Returns how many
 * were copied. */
size_t ac_stats_sample(const float *a, size_t n, float *out, size_t max_samples);

/* ac_stats_median_mad computes the median and the median absolute deviation of the finite
 * values of a (not modified), on at most max_samples regularly spaced samples (0 means all
 * values). *mad is the raw MAD; multiply by 1.4826 for a Gaussian sigma. Returns 0,
 * -ENOMEM, or -ERANGE when a has no finite value. */
int ac_stats_median_mad(const float *a, size_t n, size_t max_samples, double *median,
                        double *mad);

/* ac_stats_clipped_mean returns in *mean the mean of the finite values of a within
 * kappa * 1.4826 * MAD of the median, iterated up to iters times around the new mean
 * (a robust mean). Uses at most max_samples regularly spaced samples (0: all). Returns
 * 0, -ENOMEM, or -ERANGE when nothing is left. */
int ac_stats_clipped_mean(const float *a, size_t n, size_t max_samples, double kappa, int iters,
                          double *mean);

/* ac_stats_count_nonfinite returns how many values of a are NaN or infinite. */
size_t ac_stats_count_nonfinite(const float *a, size_t n);

#endif
