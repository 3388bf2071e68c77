/*
 * imgiotest.c - inputs for the FITS reading tests; the contract is in imgiotest.h.
 */
#include "imgiotest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

#define W IMGIOTEST_W
#define H IMGIOTEST_H
#define N IMGIOTEST_N

void mkfits(const char *name, int bitpix, int naxis, long n3, const char *const *cards,
            int dtype, const void *data)
{
    fitsfile *f = NULL;
    long naxes[3] = {W, H, n3};
    char full[512];
    int st = 0;

    if (strchr(name, '[') != NULL && strstr(name, "[compress") != NULL) {
        snprintf(full, sizeof full, "!%s", name);
        fits_create_file(&f, full, &st);
    } else {
        /* A plain name (brackets are part of it): no extended syntax. */
        unlink(name);
        fits_create_diskfile(&f, name, &st);
    }
    fits_create_img(f, bitpix, naxis, naxes, &st);
    for (; cards != NULL && *cards != NULL; cards++)
        fits_write_record(f, *cards, &st);
    fits_set_hdustruc(f, &st);
    if (naxis > 0) /* cfitsio 4.2 crashes in fits_set_bscale on a NAXIS = 0 HDU */
        fits_set_bscale(f, 1.0, 0.0, &st);
    if (data != NULL)
        fits_write_img(f, dtype, 1, (LONGLONG)N * (naxis == 3 ? n3 : 1), (void *)data, &st);
    fits_close_file(f, &st);
    if (st != 0) {
        char t[FLEN_STATUS];
        fits_get_errstatus(st, t);
        AC_TEST_FAIL("cfitsio writing %s: %d %s", name, st, t);
    }
}

float *readall(const char *path, ac_imgin_t **inp)
{
    ac_imgin_t *in = NULL;
    ac_err_t e = {0};
    float *px = malloc(N * sizeof *px);

    ASSERT_NOT_NULL(px);
    if (ac_imgio_open(path, &in, &e) != 0)
        AC_TEST_FAIL("open %s: %s", path, e.msg);
    ASSERT_EQ(ac_imgio_meta(in)->width, W);
    ASSERT_EQ(ac_imgio_meta(in)->height, H);
    if (ac_imgio_read_rows(in, 0, H, px, &e) != 0)
        AC_TEST_FAIL("read %s: %s", path, e.msg);
    if (inp != NULL)
        *inp = in;
    else
        ac_imgio_close(in);
    return px;
}
