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

#include "meta.h"

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
