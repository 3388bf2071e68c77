/*
 * calibtest.c - builders shared by the calibration tests; the contract is in calibtest.h.
 * Pure: uses the core only.
 */
#include "calibtest.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

ac_meta_t meta0(void)
{
    ac_hdr_t h;
    ac_meta_t m;

    ac_hdr_init(&h);
    ac_meta_from_header(&m, &h);
    ac_hdr_free(&h);
    return m;
}

void mk(ac_image_t *img, int w, int h, const char *path, int bitpix, float v)
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

/* append adds s and " | " to the string in buf (size bytes), truncating. */
static void append(char *buf, size_t size, const char *s)
{
    strncat(buf, s, size - strlen(buf) - 4);
    strncat(buf, " | ", size - strlen(buf) - 1);
}

const char *joined(const char (*lines)[160], int n)
{
    static char buf[4096];

    buf[0] = '\0';
    for (int i = 0; i < n; i++)
        append(buf, sizeof buf, lines[i]);
    return buf;
}

const char *warnings(const ac_calset_t *cs)
{
    static char buf[4096];

    buf[0] = '\0';
    for (int i = 0; i < cs->n_warnings; i++)
        append(buf, sizeof buf, cs->warnings[i]);
    return buf;
}

float *calib_whole(const ac_calset_t *cs, const float *in, double k, float ped,
                   ac_rowstats_t *st)
{
    float *out = malloc((size_t)cs->w * (size_t)cs->h * sizeof *out);

    ASSERT_NOT_NULL(out);
    ac_rowstats_init(st);
    ac_calib_rows(cs, in, out, 0, cs->h, k, ped, NAN, st);
    return out;
}
