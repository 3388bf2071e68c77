/*
 * fitsgen_priv.h - internals shared by the fitsgen*.c files (the model, the per-frame
 * context, strip generation). Not for use outside tests/support/fitsgen*.c.
 *
 * Thread: as fitsgen.h (one thread per ac_gen_t).
 */
#ifndef AC_FITSGEN_PRIV_H
#define AC_FITSGEN_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "fitsgen.h"

struct acg_star {
    float x, y, peak, inv2s2; /* centre, peak ADU in sky_t_ref, 1 / (2 sigma^2) */
    int x0, x1, y0, y1;       /* bounding box (inclusive), clipped to the image */
    size_t goff;              /* offset of its x profile in ac_gen.gx */
};

struct acg_dust {
    float cx, cy, rout, rin, depth;
    int x0, x1, y0, y1;
};

struct ac_gen {
    ac_gen_camera_t cam;
    uint64_t key_fixed; /* per-pixel fixed pattern stream */
    float *col;         /* column pattern, width values */
    struct acg_star *stars;
    int n_stars;
    float *gx; /* star x profiles (peak included) */
    struct acg_dust *dust;
    int n_dust;
    float vcx, vcy, vk, inv_rh; /* vignetting centre, k, 1 / half diagonal */
    bool have_means;
    double gmean[3];  /* mean of V * Dust * (1 + p) per colour (mono: [0]) */
    double gmean_all; /* over all pixels */
};

/* Per-frame constants derived from an ac_gen_frame_t. */
struct acg_fctx {
    ac_gen_frame_t f; /* the frame, defaults resolved (strings borrowed) */
    double temp;      /* effective CCD temperature, C */
    float rate_scale; /* dc_base * 2^((temp - dc_t_ref) / dc_doubling) */
    float t;          /* exposure, s */
    float cb;         /* 1 when the bias is part of the value, else 0 */
    float kt_sky;     /* lights: t / sky_t_ref, else 0 */
    float f0;         /* flats: the illumination, else 0 */
    float respc[3];   /* colour response for the filter */
    float noise;      /* noise multiplier: 1, or 1 / sqrt(ncombine) */
    float norm;       /* output multiplier (normalised float flats), else 1 */
    bool integer;     /* round and clip to 0..65535 */
    uint64_t nkey;    /* noise stream */
};

/* ac_gen__mix is the splitmix64 finaliser of x + the golden-ratio increment. */
static inline uint64_t ac_gen__mix(uint64_t x)
{
    uint64_t z = x + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* ac_gen__fctx resolves the defaults of f and derives its constants into c. */
int ac_gen__fctx(ac_gen_t *g, const ac_gen_frame_t *f, struct acg_fctx *c, ac_err_t *e);

/* ac_gen__row fills the noiseless fields of row y: bias, dark rate (times rate_scale),
 * geometric response (V * Dust * (1 + p), without the colour response) and, when sky is
 * not NULL, the sky S. hot (may be NULL) receives 1 for hot pixels. */
void ac_gen__row(const ac_gen_t *g, int y, float rate_scale, float *bias, float *rate,
                 float *resp, float *sky, unsigned char *hot);

/* ac_gen__strip generates rows [y0, y0 + n) of the frame into out. scratch holds at least
 * 4 * width floats. */
void ac_gen__strip(const ac_gen_t *g, const struct acg_fctx *c, int y0, int n, float *out,
                   float *scratch);

#endif
