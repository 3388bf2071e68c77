/*
 * stack.h - per-pixel combination of N sub-frames into a master frame, strip by strip (pure).
 *
 * The caller reads the same rows [y0, y0 + nrows) of every sub into N float buffers and calls
 * ac_stack_rows() with npix = nrows * width; the result for those rows is written to out.
 * Nothing here knows about files, rows or the image width: any run of pixels works, so the
 * caller may cut a frame into strips of any height and give strips to different threads.
 *
 * Per pixel, the values x_i of the subs are first normalised, v_i = x_i * scale[i] +
 * offset[i] (each array optional: NULL means 1 and 0). For flats, the caller measures each
 * sub's median m_i (ac_stats_median_mad) and passes scale[i] = 1 / m_i (or ref / m_i to keep
 * the ADU level); an additive offset serves for bias-level equalisation (Siril's "additive
 * with scaling" is both). Non-finite values (NaN, +-inf, before or after normalisation) are
 * ignored for that pixel; n below is the count of the finite ones.
 *
 * Methods (every one exact, every one the same whatever the order of the subs):
 *   AC_STACK_SIGMA_CLIP  iterated sigma clipping. Each pass: centre c = median of the kept
 *       values, sigma s = the sample standard deviation of the kept values (around their
 *       mean, denominator n - 1, as Siril) or, with sigma_estimator AC_STACK_SIGMA_MAD,
 *       1.4826 * their median absolute deviation from c. Values strictly below
 *       c - kappa_low * s or strictly above c + kappa_high * s are rejected. Passes repeat
 *       until one rejects nothing, `iterations` passes were made, or fewer than 2 values
 *       remain. Result: the mean of the kept values. (The MAD is 0 when most values are
 *       equal, as in integer data with noise below about 1 ADU: every other value is then
 *       rejected. Use the standard deviation for such data.)
 *       Note: with the standard deviation, a lone outlier is at most sqrt(n) standard
 *       deviations from the median of n values, so it cannot be rejected when
 *       sqrt(n) <= kappa_high (n <= 9 at kappa 3). Hence the median below 6 values by
 *       default, and the MAD estimator for sets of 6-10 values that must lose outliers.
 *   AC_STACK_WINSOR  winsorised sigma clipping (Siril / PixInsight): as above, but in each
 *       pass s starts as the standard deviation of the kept values and is refined: the kept
 *       values are winsorised (clamped) to [c - 1.5 s, c + 1.5 s] and s becomes 1.134 times
 *       the sample standard deviation of the clamped values (1.134 undoes the shrinking that
 *       clamping at 1.5 sigma causes on Gaussian noise), repeated until s changes by at
 *       most 0.05 % (at most 50 rounds). The clamping always starts from the kept values
 *       themselves (Siril clamps its clamped copy again, which differs only when s grows).
 *       The rejection then uses c +- kappa * s; the result is the mean of the kept
 *       (unclamped) values. sigma_estimator is ignored.
 *   AC_STACK_MEDIAN  the exact median (the mean of the two middle values for even n).
 *   AC_STACK_MEAN    the plain mean.
 * For the two clipping methods, a pixel with fewer than median_below finite values gets their
 * median (for 1 or 2 values the median is the mean, so median_below <= 3 changes nothing
 * there). A pass that would reject every value (possible only with kappas below about 1)
 * is not applied: the pixel gets the median of all its values and is counted in
 * all_rejected, with none of its values counted as rejected. A pixel with no finite value is
 * NaN in the output and counted in `empty`. A constant stack has s = 0: nothing is strictly
 * outside [c, c], so nothing is rejected.
 *
 * Means and standard deviations are computed in double; values are sorted as float once
 * per pixel (a sorting network run across 64 pixels at a time, no per-pixel allocation).
 *
 * Ownership: ac_stack_work_t is owned by its creator (ac_stack_work_free); ac_stack_rows
 * borrows every buffer it is given.
 * Thread: pure and reentrant; use one ac_stack_work_t per thread (or NULL: the call then
 * allocates its own for its duration).
 */
#ifndef AC_STACK_H
#define AC_STACK_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum {
    AC_STACK_SIGMA_CLIP = 0,
    AC_STACK_WINSOR = 1,
    AC_STACK_MEDIAN = 2,
    AC_STACK_MEAN = 3,
};

enum {
    AC_STACK_SIGMA_STDDEV = 0, /* sample standard deviation of the kept values (Siril) */
    AC_STACK_SIGMA_MAD = 1,    /* 1.4826 * median absolute deviation from the median */
};

/* The largest number of subs one call combines. */
#define AC_STACK_MAX_SUBS 4096

typedef struct ac_stack_opts {
    int method;          /* AC_STACK_*; default AC_STACK_SIGMA_CLIP */
    double kappa_low;    /* > 0; default 3.0 */
    double kappa_high;   /* > 0; default 3.0 */
    int iterations;      /* rejection passes, 0..1000 (0: no rejection); default 3 */
    int median_below;    /* clipping methods: the median when n < this; default 6 */
    int sigma_estimator; /* AC_STACK_SIGMA_*, AC_STACK_SIGMA_CLIP only; default STDDEV */
} ac_stack_opts_t;

/* Counts accumulated by ac_stack_rows (added to, never reset: zero it first). The rejection
 * percentages for a header are rejected_low / values and rejected_high / values. */
typedef struct ac_stack_stats {
    uint64_t pixels;        /* output pixels computed */
    uint64_t values;        /* finite input values offered */
    uint64_t ignored;       /* non-finite input values ignored */
    uint64_t rejected_low;  /* values rejected below the centre */
    uint64_t rejected_high; /* values rejected above the centre */
    uint64_t all_rejected;  /* pixels where a pass rejected everything: median used */
    uint64_t median_pixels; /* clipping methods: pixels with n < median_below: median used */
    uint64_t empty;         /* pixels without any finite value: output NaN */
} ac_stack_stats_t;

/* Per-thread working memory: the sorting network for nsubs values and a block buffer. */
typedef struct ac_stack_work ac_stack_work_t;

/* ac_stack_opts_default fills o with the defaults above. */
void ac_stack_opts_default(ac_stack_opts_t *o);

/* ac_stack_opts_check validates o: 0 or AC_ECONFIG with the offending field named in e. */
int ac_stack_opts_check(const ac_stack_opts_t *o, ac_err_t *e);

/* ac_stack_method_name returns "sigma", "winsor", "median" or "mean" (static string; "?"
 * for an unknown method), the names ac_stack_method_parse accepts (case-insensitive; also
 * "sigma-clip", "kappa-sigma", "winsorized", "winsorised", "average"). Parse returns the
 * method or AC_ECONFIG. */
const char *ac_stack_method_name(int method);
int ac_stack_method_parse(const char *name);

/* ac_stack_work_new returns working memory for combining nsubs subs (1..AC_STACK_MAX_SUBS),
 * about 280 * nsubs bytes plus 8 per comparator of the network (6.4 KiB in all for 20 subs),
 * or NULL (bad nsubs or no memory). */
ac_stack_work_t *ac_stack_work_new(int nsubs);
void ac_stack_work_free(ac_stack_work_t *w);

/* ac_stack_stats_add adds the counts of src to dst (merging per-thread statistics). */
void ac_stack_stats_add(ac_stack_stats_t *dst, const ac_stack_stats_t *src);

/*
 * ac_stack_rows combines pixel p of subs[0][p] .. subs[nsubs-1][p] into out[p] for p < npix,
 * with the normalisation, method and rules above. scale and offset (nsubs values each) may
 * be NULL; st may be NULL; w may be NULL (allocated for this call) or must have been made
 * for the same nsubs. out must not overlap a sub. Returns 0, AC_ECONFIG (bad options or
 * nsubs, or w made for another nsubs) or -ENOMEM; on error out is unspecified.
 */
int ac_stack_rows(const ac_stack_opts_t *o, const float *const *subs, int nsubs, size_t npix,
                  const double *scale, const double *offset, float *out, ac_stack_stats_t *st,
                  ac_stack_work_t *w, ac_err_t *e);

#endif
