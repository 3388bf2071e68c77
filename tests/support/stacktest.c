/*
 * stacktest.c - generated subs for the stacking tests; the contract is in stacktest.h.
 * Pure: uses libc and libm only.
 */
#include "stacktest.h"

#include <math.h>
#include <stdlib.h>

#include "test.h"

double u01(rng_t *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return ((double)(r->s >> 11) + 0.5) / 9007199254740992.0;
}

double gauss(rng_t *r)
{
    return sqrt(-2 * log(u01(r))) * cos(6.283185307179586 * u01(r));
}

float **alloc_subs(int n, size_t npix)
{
    float **s = calloc((size_t)n, sizeof *s);

    ASSERT_NOT_NULL(s);
    for (int i = 0; i < n; i++) {
        s[i] = malloc(npix * sizeof **s);
        ASSERT_NOT_NULL(s[i]);
    }
    return s;
}

void free_subs(float **s, int n)
{
    for (int i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

float **noise_subs(int n, int w, int h, double base, double sigma, uint64_t seed)
{
    float **s = alloc_subs(n, (size_t)w * h);
    rng_t r = {seed};

    for (int i = 0; i < n; i++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                s[i][(size_t)y * w + x] =
                    (float)(base + 0.5 * x + 0.25 * y + sigma * gauss(&r));
    return s;
}

float **outlier_scene(void)
{
    float **s = noise_subs(SN, SW, SH, 1000, 10, 0x9e3779b97f4a7c15ull);

    /* Cosmic rays: one huge value in one sub each. */
    s[3][AT(10, 10)] += 20000;
    s[11][AT(40, 5)] += 3000;
    s[19][AT(0, 0)] += 800;
    /* A satellite trail across sub 7: a diagonal line 1200 ADU high. */
    for (int x = 0; x < SW; x++)
        s[7][AT(x, x * (SH - 1) / (SW - 1))] += 1200;
    /* A hot pixel in every sub. */
    for (int i = 0; i < SN; i++)
        s[i][AT(30, 20)] = (float)(s[i][AT(30, 20)] + 14000);
    /* NaN pixels: one in sub 2, and a pixel that is NaN everywhere. */
    s[2][AT(5, 30)] = NAN;
    s[9][AT(6, 30)] = INFINITY;
    for (int i = 0; i < SN; i++)
        s[i][AT(60, 46)] = NAN;
    return s;
}

double scene_truth(int x, int y)
{
    return 1000 + 0.5 * x + 0.25 * y + (x == 30 && y == 20 ? 14000 : 0);
}
