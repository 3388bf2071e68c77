/*
 * calibtest.h - small builders shared by the calibration unit tests (test-calib.c,
 * test-calibrun.c): empty metadata, constant masters, the HISTORY text of a calset.
 * Header-only (static functions).
 */
#ifndef AC_CALIBTEST_H
#define AC_CALIBTEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib.h"
#include "test.h"

/* A metadata block with everything missing (as read from an empty header). */
__attribute__((unused)) static ac_meta_t meta0(void)
{
    ac_hdr_t h;
    ac_meta_t m;

    ac_hdr_init(&h);
    ac_meta_from_header(&m, &h);
    ac_hdr_free(&h);
    return m;
}

/* mk makes a w x h master filled with v; bitpix > 0 gives a 16-bit saturation level. */
__attribute__((unused)) static void mk(ac_image_t *img, int w, int h, const char *path,
                                       int bitpix, float v)
{
    memset(img, 0, sizeof *img);
    img->w = w;
    img->h = h;
    img->px = malloc((size_t)w * (size_t)h * sizeof(float));
    ASSERT_NOT_NULL(img->px);
    for (int i = 0; i < w * h; i++)
        img->px[i] = v;
    img->meta = meta0();
    img->meta.width = w;
    img->meta.height = h;
    img->meta.bitpix = bitpix;
    if (bitpix > 0)
        img->meta.saturation = 65535;
    snprintf(img->path, sizeof img->path, "%s", path);
    snprintf(img->md5, sizeof img->md5, "0123456789abcdef0123456789abcdef");
}

__attribute__((unused)) static const char *joined(const char (*lines)[160], int n)
{
    static char buf[4096];

    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        strncat(buf, lines[i], sizeof buf - strlen(buf) - 4);
        strncat(buf, " | ", sizeof buf - strlen(buf) - 1);
    }
    return buf;
}
#define HIST(cs) joined((cs)->history, (cs)->n_history)

#endif
