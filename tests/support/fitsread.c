/*
 * fitsread.c - read FITS files in tests with cfitsio directly; the contract is in
 * fitsread.h.
 */
#include "fitsread.h"

#include <stdlib.h>

#include "test.h"

fitsfile *ac_fitsread_open(const char *path)
{
    fitsfile *f = NULL;
    int st = 0, naxis = 0, hdutype;

    if (fits_open_diskfile(&f, path, READONLY, &st))
        AC_TEST_FAIL("cfitsio cannot open %s: status %d", path, st);
    fits_get_img_dim(f, &naxis, &st);
    if (st == 0 && naxis == 0)
        fits_movabs_hdu(f, 2, &hdutype, &st);
    if (st != 0)
        AC_TEST_FAIL("%s: no image HDU (cfitsio status %d)", path, st);
    return f;
}

double *ac_fitsread_image(const char *path, ac_fitsread_info_t *info)
{
    fitsfile *f = ac_fitsread_open(path);
    ac_fitsread_info_t in = {0};
    long nax[3] = {0, 0, 0}, fp[3] = {1, 1, 1};
    int st = 0;
    double *px;

    fits_get_img_param(f, 3, &in.bitpix, &in.naxis, nax, &st);
    ASSERT_EQ(st, 0);
    in.w = (int)nax[0];
    in.h = (int)nax[1];
    px = malloc(sizeof *px * (size_t)nax[0] * (size_t)nax[1]);
    ASSERT_NOT_NULL(px);
    fits_read_pix(f, TDOUBLE, fp, nax[0] * nax[1], NULL, px, NULL, &st);
    ASSERT_EQ(st, 0);
    fits_close_file(f, &st);
    if (info != NULL)
        *info = in;
    return px;
}

bool ac_fitsread_card(const char *path, const char *key, char *value)
{
    fitsfile *f = ac_fitsread_open(path);
    int st = 0;
    bool found;

    value[0] = '\0';
    found = fits_read_keyword(f, key, value, NULL, &st) == 0;
    if (!found)
        value[0] = '\0';
    st = 0;
    fits_close_file(f, &st);
    return found;
}

const char *ac_fitsread_string(const char *path, const char *key)
{
    static char buf[FLEN_VALUE];
    fitsfile *f = ac_fitsread_open(path);
    int st = 0;
    bool found;

    found = fits_read_key(f, TSTRING, key, buf, NULL, &st) == 0;
    st = 0;
    fits_close_file(f, &st);
    return found ? buf : NULL;
}

double ac_fitsread_double(const char *path, const char *key)
{
    fitsfile *f = ac_fitsread_open(path);
    int st = 0;
    double v = 0;

    fits_read_key(f, TDOUBLE, key, &v, NULL, &st);
    if (st != 0)
        AC_TEST_FAIL("%s: keyword %s not readable as a number (status %d)", path, key, st);
    fits_close_file(f, &st);
    return v;
}
