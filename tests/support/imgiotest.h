/*
 * imgiotest.h - inputs for the FITS reading tests (tests/unit/test-imgio*.c): tiny images
 * written with cfitsio directly, and a whole-image read through imgio. Built once into the
 * ac_testunit library (imgiotest.c). Failures fail the test. Thread: the test's thread.
 */
#ifndef AC_IMGIOTEST_H
#define AC_IMGIOTEST_H

#include <fitsio.h>

#include "imgio.h"

/* The size of every test image, and its pixel count. */
#define IMGIOTEST_W 16
#define IMGIOTEST_H 12
#define IMGIOTEST_N (IMGIOTEST_W * IMGIOTEST_H)

/* mkfits writes a one-image FITS file of IMGIOTEST_W x IMGIOTEST_H (x n3 when naxis is 3;
 * naxis 0 writes no data). name may carry cfitsio's "[compress X]" suffix; any other name is
 * taken as it is (brackets are part of it). cards are raw header records written before the
 * data (e.g. BZERO), NULL-terminated (or NULL); data (dtype, a cfitsio type code; NULL: none)
 * are the stored values as given (cfitsio's own scaling is turned off while writing). */
void mkfits(const char *name, int bitpix, int naxis, long n3, const char *const *cards,
            int dtype, const void *data);

/* readall opens path with imgio, checks its size is IMGIOTEST_W x IMGIOTEST_H and reads the
 * whole image into a new float array, owned by the caller (free). With inp, *inp receives
 * the open reader (ac_imgio_close it); without, the reader is closed. */
float *readall(const char *path, ac_imgin_t **inp);

#endif
