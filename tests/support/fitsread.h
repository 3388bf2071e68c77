/*
 * fitsread.h - read FITS files in tests with cfitsio directly, independently of astrocald's
 * own reader (daemon/io/imgio.c), to check what the code under test wrote. Paths are plain
 * file names (no cfitsio extended syntax); the image is the first HDU with NAXIS > 0, so a
 * tile-compressed file's empty primary is passed over. Built once into the ac_testsupport
 * library (fitsread.c). A cfitsio failure fails the test. Thread: the test's thread.
 */
#ifndef AC_FITSREAD_H
#define AC_FITSREAD_H

#include <fitsio.h>
#include <stdbool.h>

/* What ac_fitsread_image found. */
typedef struct ac_fitsread_info {
    int w, h;   /* NAXIS1, NAXIS2 */
    int naxis;  /* NAXIS */
    int bitpix; /* BITPIX as stored (16 for BZERO-scaled unsigned) */
} ac_fitsread_info_t;

/* ac_fitsread_open opens path read-only at its image HDU; the caller owns the handle
 * (fits_close_file). */
fitsfile *ac_fitsread_open(const char *path);

/* ac_fitsread_image reads the first plane of path's image as doubles (BZERO/BSCALE applied),
 * owned by the caller (free); *info (may be NULL) receives its size and type. */
double *ac_fitsread_image(const char *path, ac_fitsread_info_t *info);

/* ac_fitsread_card copies the raw value field of keyword key of path's image HDU (quotes
 * kept) into value (FLEN_VALUE bytes) and returns true; false, with "" in value, when the
 * keyword is absent. */
bool ac_fitsread_card(const char *path, const char *key, char *value);

/* ac_fitsread_string returns the value of keyword key as a string (unquoted, trailing
 * blanks removed by cfitsio; a number as written) in a static buffer overwritten by the next
 * call, or NULL when the keyword is absent. */
const char *ac_fitsread_string(const char *path, const char *key);

/* ac_fitsread_double returns the numeric value of keyword key; an absent or non-numeric
 * keyword fails the test. */
double ac_fitsread_double(const char *path, const char *key);

#endif
