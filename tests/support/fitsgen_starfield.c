/*
 * fitsgen_starfield.c - synthetic star fields with a known PSF (see starfield.h). Lives in
 * the generator library (the fitsgen*.c files) but uses no cfitsio.
 *
 * Randomness is counter-based: every draw is ac_gen__mix(stream key ^ counter), so the same
 * spec always gives the same frame. Stars are placed by rejection sampling (at most 200
 * tries each; a star that finds no place is dropped, which the truth then reflects).
 *
 * Thread: pure.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fitsgen_priv.h"
#include "starfield.h"

#define EDGE 24
#define TRAIL_CLEAR 30.0
#define DETECT_SNR 20.0
#define DRIFT_STEPS 24

typedef struct {
    uint64_t key, n;
} draw_t;

static double unif(draw_t *d)
{
    uint64_t z = ac_gen__mix(d->key ^ (++d->n * 0xD6E8FEB86659FD93ull));
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

static double gauss(draw_t *d)
{
    double u = unif(d), v = unif(d);
    return sqrt(-2.0 * log(u > 0 ? u : 1e-300)) * cos(2.0 * M_PI * v);
}

void ac_starfield_spec_default(ac_starfield_spec_t *s, uint64_t seed)
{
    memset(s, 0, sizeof *s);
    s->width = 1280;
    s->height = 1024;
    s->seed = seed;
    s->shape = (ac_star_shape_t){.moffat = false, .fwhm = 3.5, .ecc = 0, .angle = 0, .beta = 3};
    s->nstars = 300;
    s->nsaturated = 8;
    s->nhot = 40;
    s->ncosmic = 6;
    s->trail = true;
    s->sky = 1000;
    s->gain = 1;
    s->read_noise = 5;
    s->saturation = 65535;
    s->peak_max_snr = 400;
}

void ac_starfield_free(ac_starfield_t *f)
{
    free(f->px);
    free(f->stars);
    memset(f, 0, sizeof *f);
}

/* The trail runs from (0, 0.3 h) to (w, 0.8 h); dist_trail is a point's distance to it. */
static double dist_trail(const ac_starfield_spec_t *s, double x, double y)
{
    double x0 = 0, y0 = 0.3 * s->height, dx = s->width, dy = 0.5 * s->height;
    return fabs(dy * (x - x0) - dx * (y - y0)) / hypot(dx, dy);
}

/* add_star adds peak * profile centred at (cx, cy) to img, trailed by the spec's drift. */
static void add_star(const ac_starfield_spec_t *s, float *img, double cx, double cy,
                     double peak)
{
    ac_star_prep_t p = ac_star_prepare(&s->shape);
    double fmaj = ac_star_width(&s->shape, false) *
                  (s->shape.moffat ? 2.0 * sqrt(pow(2.0, 1.0 / s->shape.beta) - 1.0)
                                   : 2.0 * sqrt(2.0 * M_LN2));
    double reach = (s->shape.moffat ? 6.0 : 3.5) * fmaj + 2, inner = 1.5 * fmaj;
    int nsteps = s->drift > 0 ? DRIFT_STEPS : 1;
    double ux = cos(s->drift_angle), uy = sin(s->drift_angle);
    int x0 = (int)floor(cx - reach - s->drift / 2), x1 = (int)ceil(cx + reach + s->drift / 2);
    int y0 = (int)floor(cy - reach - s->drift / 2), y1 = (int)ceil(cy + reach + s->drift / 2);

    x0 = x0 < 0 ? 0 : x0;
    y0 = y0 < 0 ? 0 : y0;
    x1 = x1 >= s->width ? s->width - 1 : x1;
    y1 = y1 >= s->height ? s->height - 1 : y1;
    for (int k = 0; k < nsteps; k++) {
        double t = nsteps > 1 ? (double)k / (nsteps - 1) - 0.5 : 0;
        double sx = cx + t * s->drift * ux, sy = cy + t * s->drift * uy;
        for (int y = y0; y <= y1; y++) {
            for (int x = x0; x <= x1; x++) {
                double r = hypot(x - sx, y - sy);
                if (r > reach)
                    continue;
                double v = ac_star_pixel_p(&p, x - sx, y - sy, r < inner ? 6 : 2);
                img[(size_t)y * s->width + x] += (float)(peak * v / nsteps);
            }
        }
    }
}

static bool place(const ac_starfield_spec_t *s, const ac_starfield_star_t *st,
                  const double *rex, int n, double x, double y, double r)
{
    if (s->trail && dist_trail(s, x, y) < TRAIL_CLEAR + r)
        return false;
    for (int i = 0; i < n; i++)
        if (hypot(st[i].x - x, st[i].y - y) < rex[i] + r)
            return false;
    return true;
}

static double response(const ac_starfield_spec_t *s, int x, int y)
{
    static const double resp[3] = {0.6, 1.0, 0.5};
    char c = s->bayerpat[(y & 1) * 2 + (x & 1)];
    return c == 'R' ? resp[0] : c == 'G' ? resp[1] : resp[2];
}

int ac_starfield_make(const ac_starfield_spec_t *s, ac_starfield_t *f)
{
    draw_t d = {ac_gen__mix(s->seed ^ 0x5354415253ull), 0};
    double noise = sqrt(s->sky / s->gain + s->read_noise * s->read_noise);
    double fmaj = s->shape.fwhm / pow(1.0 - s->shape.ecc * s->shape.ecc, 0.25) + s->drift;
    double *rex = NULL;
    size_t npx = (size_t)s->width * (size_t)s->height;
    bool cfa = strlen(s->bayerpat) == 4;

    memset(f, 0, sizeof *f);
    if (s->width < 2 * EDGE + 8 || s->height < 2 * EDGE + 8 || s->nstars < 0 ||
        !(s->gain > 0) || !(s->shape.fwhm > 0))
        return -EINVAL;
    f->px = malloc(npx * sizeof *f->px);
    f->stars = calloc((size_t)s->nstars + 1, sizeof *f->stars);
    rex = calloc((size_t)s->nstars + 1, sizeof *rex);
    if (f->px == NULL || f->stars == NULL || rex == NULL) {
        free(rex);
        ac_starfield_free(f);
        return -ENOMEM;
    }
    f->width = s->width;
    f->height = s->height;
    f->noise = noise;
    for (size_t i = 0; i < npx; i++)
        f->px[i] = (float)s->sky;

    for (int k = 0; k < s->nstars; k++) {
        ac_starfield_star_t *st = &f->stars[f->nstars];
        bool sat = k < s->nsaturated, faint = !sat && k % 8 == 7;
        double r = sat ? 8.0 * fmaj : 3.0 * fmaj + 3.0, x = 0, y = 0;
        bool ok = false;
        for (int tries = 0; tries < 200 && !ok; tries++) {
            x = EDGE + r / 2 + unif(&d) * (s->width - 2 * EDGE - r);
            y = EDGE + r / 2 + unif(&d) * (s->height - 2 * EDGE - r);
            ok = place(s, f->stars, rex, f->nstars, x, y, r);
        }
        if (!ok)
            continue;
        st->x = x;
        st->y = y;
        if (sat) {
            st->peak = s->saturation * (2.0 + 8.0 * unif(&d));
            st->cls = AC_SF_SATURATED;
        } else if (faint) {
            st->peak = noise * (0.3 + 1.2 * unif(&d));
            st->cls = AC_SF_FAINT;
        } else {
            st->peak = noise * DETECT_SNR * exp(unif(&d) * log(s->peak_max_snr / DETECT_SNR));
            st->cls = AC_SF_DETECTABLE;
        }
        if (s->cloud > 0 && f->nstars % 2 == 1)
            st->peak *= s->cloud;
        if (st->cls == AC_SF_DETECTABLE && st->peak >= DETECT_SNR * noise)
            f->ndetectable++;
        rex[f->nstars] = r;
        f->nstars++;
        add_star(s, f->px, x, y, st->peak);
    }

    if (s->trail) {
        for (int y = 0; y < s->height; y++)
            for (int x = 0; x < s->width; x++) {
                double t = dist_trail(s, x, y);
                if (t < 6)
                    f->px[(size_t)y * s->width + x] +=
                        (float)(12.0 * noise * exp(-0.5 * t * t));
            }
    }
    for (int k = 0; k < s->ncosmic; k++) {
        int len = 3 + (int)(unif(&d) * 5), x = EDGE + (int)(unif(&d) * (s->width - 2 * EDGE));
        int y = EDGE + (int)(unif(&d) * (s->height - 2 * EDGE)), dir = (int)(unif(&d) * 4);
        static const int ddx[4] = {1, 0, 1, 1}, ddy[4] = {0, 1, 1, -1};
        for (int i = 0; i < len; i++)
            f->px[(size_t)(y + i * ddy[dir]) * s->width + x + i * ddx[dir]] += 3000.0f;
    }
    if (cfa)
        for (int y = 0; y < s->height; y++)
            for (int x = 0; x < s->width; x++)
                f->px[(size_t)y * s->width + x] *= (float)response(s, x, y);
    for (size_t i = 0; i < npx; i++) {
        double v = f->px[i];
        v += gauss(&d) * sqrt(fmax(v, 0) / s->gain + s->read_noise * s->read_noise);
        f->px[i] = (float)(v > s->saturation ? s->saturation : v);
    }
    /* Hot pixels last: they are defects of the sensor, on top of everything. */
    for (int k = 0; k < s->nhot; k++) {
        size_t x = (size_t)(unif(&d) * s->width), y = (size_t)(unif(&d) * s->height);
        float v = f->px[y * s->width + x] + (float)(2000.0 + 18000.0 * unif(&d));
        f->px[y * s->width + x] = v > s->saturation ? (float)s->saturation : v;
    }
    free(rex);
    return 0;
}
