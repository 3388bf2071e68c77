/*
 * gentest.c - helpers of the generator tests; the contract is in gentest.h.
 */
#include "gentest.h"

#include <stdlib.h>
#include <string.h>

#define W GENTEST_W
#define H GENTEST_H

int img_w, img_h, img_bitpix;

void small_cam(ac_gen_camera_t *cam, uint64_t seed)
{
    ac_gen_camera_sized(cam, seed, W, H);
}

void plain_cam(ac_gen_camera_t *cam)
{
    small_cam(cam, 11);
    cam->bias_col_sd = 0;
    cam->bias_fpn_sd = 0;
    cam->dc_var = 0;
    cam->hot_fraction = 0;
    cam->n_stars = 0;
    cam->n_dust = 0;
    cam->prnu = 0;
    cam->sky_gradient = 0;
    cam->temp_jitter = 0;
}

ac_gen_t *gen_new(const ac_gen_camera_t *cam)
{
    ac_err_t e = {0};
    ac_gen_t *g = ac_gen_new(cam, &e);
    if (!g)
        AC_TEST_FAIL("ac_gen_new: %s", e.msg);
    return g;
}

ac_gen_t *small_gen(ac_gen_camera_t *cam, uint64_t seed)
{
    small_cam(cam, seed);
    return gen_new(cam);
}

void write_frame(ac_gen_t *g, const ac_gen_frame_t *f, const char *path)
{
    ac_err_t e = {0};
    if (ac_gen_write_frame(g, f, path, &e) != 0)
        AC_TEST_FAIL("ac_gen_write_frame %s: %s", path, e.msg);
}

double *read_image(const char *path)
{
    ac_fitsread_info_t info;
    double *px = ac_fitsread_image(path, &info);

    img_w = info.w;
    img_h = info.h;
    img_bitpix = info.bitpix;
    return px;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double median(const double *v, size_t n)
{
    double *c = malloc(n * sizeof *c), m;
    memcpy(c, v, n * sizeof *c);
    qsort(c, n, sizeof *c, cmp_double);
    m = n % 2 ? c[n / 2] : 0.5 * (c[n / 2 - 1] + c[n / 2]);
    free(c);
    return m;
}
