/*
 * calib_int.h - helpers shared by calib.c (master preparation) and calibrun.c (per-light
 * checks and kernel) only; not part of the calibration contract (see calib.h).
 *
 * Thread: pure functions, any thread.
 */
#ifndef AC_CALIB_INT_H
#define AC_CALIB_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "calib.h"
#include "err.h"
#include "meta.h"

#define AC_CALIB_SCALE_SAMPLES (4u << 20) /* samples for each flat scale */

/* ac_calib_class_means computes the robust mean of each class col[y & 1][x & 1] (0 to
 * ncls - 1, ncls at most 4) of F on a grid of whole 2x2 cells; a class without finite
 * values gets NAN. 0 or -ENOMEM. */
int ac_calib_class_means(const ac_calset_t *cs, const float *F, const int col[2][2], int ncls,
                         double *out);

/* ac_calib_check_mono_flat refuses (AC_EMASTER) a flat without a Bayer pattern whose four
 * 2x2 positions differ like a colour sensor's (largest / smallest robust mean above 1.25):
 * normalising it by one level would leave the colours' flat levels in the lights, and
 * per-colour normalisation needs the pattern. 0 otherwise. */
int ac_calib_check_mono_flat(const ac_calset_t *cs, const ac_image_t *f, const float *F,
                             ac_err_t *e);

/* ac_calib_appendf appends a formatted note to buf (size bytes, NUL-terminated),
 * separated from what is already there by "; ". NULL-safe. */
__attribute__((format(printf, 3, 4))) void ac_calib_appendf(char *buf, size_t size,
                                                            const char *fmt, ...);

/* ac_calib_cfa_desc writes a description of m's CFA layout for messages into buf ("mono",
 * or "RGGB (XBAYROFF 0, YBAYROFF 0, ROWORDER TOP-DOWN)") and returns buf. */
const char *ac_calib_cfa_desc(const ac_meta_t *m, char *buf, size_t size);

/* ac_calib_bin_differs says whether a and b have different binning on an axis where both
 * have one. */
bool ac_calib_bin_differs(const ac_meta_t *a, const ac_meta_t *b);

#endif
