/*
 * stacktest.h - generated subs for the stacking tests (tests/core/test-stack*.c): a
 * deterministic random generator, subs with a gradient and Gaussian noise, and the outlier
 * scene (cosmic rays, a satellite trail, a hot pixel in every sub, NaN and infinity) with its
 * noise-free truth. Built once into the ac_testcore library (stacktest.c), linked with the
 * pure core only. Allocation failures abort the test. Thread: the test's thread.
 */
#ifndef AC_STACKTEST_H
#define AC_STACKTEST_H

#include <stddef.h>
#include <stdint.h>

/* A xorshift64 generator; seed s with any non-zero value. */
typedef struct rng {
    uint64_t s;
} rng_t;

/* u01 returns the next uniform value in (0, 1). */
double u01(rng_t *r);

/* gauss returns the next standard normal value (Box-Muller). */
double gauss(rng_t *r);

/* alloc_subs returns n uninitialised subs of npix floats, owned by the caller
 * (free_subs). */
float **alloc_subs(int n, size_t npix);

/* free_subs frees the n subs s and the array itself. */
void free_subs(float **s, int n);

/* noise_subs returns n subs of w x h: base + 0.5 x + 0.25 y + Gaussian noise of sigma, from
 * seed (the same seed gives the same subs). Owned by the caller (free_subs). */
float **noise_subs(int n, int w, int h, double base, double sigma, uint64_t seed);

/* The outlier scene: SN subs of SW x SH (not a multiple of the 64-pixel block), sigma 10
 * around 1000; AT(x, y) is the index of a pixel. */
enum { SW = 61, SH = 47, SN = 20 };
#define SPIX ((size_t)SW * SH)
#define AT(x, y) ((size_t)(y)*SW + (x))

/* outlier_scene returns the scene's subs (free_subs(s, SN)): cosmic rays at (10, 10) in sub
 * 3 (+20000), (40, 5) in sub 11 (+3000) and (0, 0) in sub 19 (+800); a diagonal satellite
 * trail of +1200 across sub 7; a hot pixel (+14000) at (30, 20) in every sub; NaN at (5, 30)
 * in sub 2, infinity at (6, 30) in sub 9, and (60, 46) NaN in every sub. */
float **outlier_scene(void);

/* scene_truth returns the noise-free level of the scene at (x, y), the hot pixel
 * included. */
double scene_truth(int x, int y);

#endif
