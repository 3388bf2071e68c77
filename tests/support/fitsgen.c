/*
 * fitsgen.c - the synthetic camera model: fixed patterns, stars, dust, the per-row fields,
 * the per-frame constants and frame strips with noise (see fitsgen.h).
 *
 * Randomness is counter-based per row: each row of the fixed fields draws from a
 * xoshiro256++ stream seeded by splitmix64 from (camera seed, row), one 64-bit draw per
 * pixel whose four 16-bit quarters give the fixed pattern, the dark current variation, the
 * PRNU and the hot pixel lottery; each row of a frame's noise draws from a stream seeded
 * from (frame key, row), the four quarters summed into an Irwin-Hall Gaussian (exact mean
 * and variance, tails cut at 3.46 sigma). Any strip of rows is generated on its own and
 * equal seeds give equal bytes. Loops are split so that the float arithmetic vectorises.
 *
 * Ownership: ac_gen_t owns its column pattern, star and dust tables.
 * Thread: one thread per ac_gen_t.
 */
#include "fitsgen_priv.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

#define SQRT12 3.4641016151377544

/* Stream keys, so the streams of one seed never overlap. */
enum {
    KEY_FIXED = 0x51,
    KEY_COL = 0x52,
    KEY_STARS = 0x53,
    KEY_DUST = 0x54,
    KEY_NOISE = 0x55,
    KEY_TEMP = 0x56,
    KEY_VIGN = 0x57,
};

static uint64_t stream_key(uint64_t seed, uint64_t key)
{
    return ac_gen__mix(seed * 0xD1B54A32D192ED03ull ^ (key << 56));
}

/* A sequential generator for the tables built once (stars, dust). */
typedef struct {
    uint64_t s;
} seq_t;

static double seq_u(seq_t *q)
{
    q->s += 0x9E3779B97F4A7C15ull;
    return (double)(ac_gen__mix(q->s) >> 11) * (1.0 / 9007199254740992.0);
}

/* A per-row xoshiro256++ stream: rows are independent, pixels within a row sequential. */
typedef struct {
    uint64_t s[4];
} row_rng_t;

static void row_rng_seed(row_rng_t *r, uint64_t key, int y)
{
    uint64_t z = ac_gen__mix(key ^ ((uint64_t)(uint32_t)y * 0xA0761D6478BD642Full));
    for (int i = 0; i < 4; i++) {
        z += 0x9E3779B97F4A7C15ull;
        r->s[i] = ac_gen__mix(z);
    }
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t row_rng_next(row_rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[0] + s[3], 23) + s[0], t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

void ac_gen_camera_default(ac_gen_camera_t *cam, uint64_t seed)
{
    memset(cam, 0, sizeof *cam);
    cam->width = 640;
    cam->height = 480;
    cam->xbin = cam->ybin = 1;
    cam->bias_level = 1000;
    cam->bias_col_sd = 2.0;
    cam->bias_fpn_sd = 0.5;
    cam->read_noise = 5.0;
    cam->egain = 1.0;
    cam->dc_base = 0.02;
    cam->dc_t_ref = -10;
    cam->dc_doubling = 6.3;
    cam->dc_var = 0.1;
    cam->hot_fraction = 1e-4;
    cam->hot_min = 50;
    cam->hot_max = 500;
    cam->set_temp = -10;
    cam->temp_jitter = 0.1;
    cam->gain = 100;
    cam->offset = 50;
    cam->vignette_min = 0.6;
    cam->n_dust = 4;
    cam->prnu = 0.01;
    cam->flat_level = 25000;
    cam->sky_level = 200;
    cam->sky_t_ref = 300;
    cam->sky_gradient = 0.05;
    cam->n_stars = -1;
    cam->star_fwhm = 3.0;
    ac_strlcpy(cam->telescop, "SimScope 80/480", sizeof cam->telescop);
    ac_strlcpy(cam->instrume, "SimCam 640M", sizeof cam->instrume);
    ac_strlcpy(cam->swcreate, "acgen (astrocald synthetic data)", sizeof cam->swcreate);
    ac_strlcpy(cam->observer, "Synthetic Observer", sizeof cam->observer);
    cam->sitelat = 48.0;
    cam->sitelong = 11.0;
    cam->seed = seed;
}

void ac_gen_camera_sized(ac_gen_camera_t *cam, uint64_t seed, int width, int height)
{
    ac_gen_camera_default(cam, seed);
    cam->width = width;
    cam->height = height;
}

void ac_gen_camera_color(ac_gen_camera_t *cam, const char *pattern)
{
    ac_strlcpy(cam->bayerpat, pattern ? pattern : "RGGB", sizeof cam->bayerpat);
    ac_strlcpy(cam->instrume, "SimCam 640MC", sizeof cam->instrume);
}

int ac_gen_cfa_color(const ac_gen_camera_t *cam, int x, int y)
{
    if (cam->bayerpat[0] == '\0')
        return -1;
    char ch = cam->bayerpat[2 * ((y + cam->ybayroff) & 1) + ((x + cam->xbayroff) & 1)];
    return ch == 'R' ? 0 : ch == 'G' ? 1 : ch == 'B' ? 2 : -1;
}

static bool filter_is(const char *f, const char *name)
{
    return strcasecmp(f, name) == 0;
}

double ac_gen_color_response(const ac_gen_camera_t *cam, const char *filter, int c)
{
    static const double broad[3] = {0.6, 1.0, 0.5}, duo[3] = {0.55, 0.25, 0.2};
    const char *f = filter ? filter : "";

    if (c < 0 || c > 2)
        c = 0;
    if (cam->bayerpat[0] != '\0') {
        if (filter_is(f, "Ha") || filter_is(f, "HaOIII") || filter_is(f, "L-eXtreme") ||
            filter_is(f, "Duo") || filter_is(f, "L-eNhance"))
            return duo[c];
        return broad[c];
    }
    if (f[0] == '\0' || filter_is(f, "L") || filter_is(f, "Lum"))
        return 1.0;
    if (filter_is(f, "R"))
        return 0.75;
    if (filter_is(f, "G"))
        return 0.8;
    if (filter_is(f, "B"))
        return 0.7;
    if (filter_is(f, "Ha"))
        return 0.35;
    if (filter_is(f, "OIII"))
        return 0.4;
    if (filter_is(f, "SII"))
        return 0.3;
    return 0.6;
}

static int check_camera(const ac_gen_camera_t *c, ac_err_t *e)
{
    if (c->width < 2 || c->height < 2 || c->width > 65536 || c->height > 65536)
        return ac_err_set(e, -EINVAL, "fitsgen: camera size %dx%d out of range", c->width,
                          c->height);
    if (c->bayerpat[0] != '\0') {
        if (strlen(c->bayerpat) != 4 || strspn(c->bayerpat, "RGB") != 4)
            return ac_err_set(e, -EINVAL, "fitsgen: BAYERPAT '%s' is not a 2x2 RGB pattern",
                              c->bayerpat);
    }
    if (!(c->egain > 0) || !(c->sky_t_ref > 0) || !(c->dc_doubling > 0) ||
        !(c->read_noise >= 0) || !(c->vignette_min > 0) || !(c->hot_min > 0) ||
        !(c->hot_max >= c->hot_min) || c->n_dust < 0 || c->n_dust > 1000 ||
        c->n_stars > 1000000 || c->xbin < 1 || c->ybin < 1)
        return ac_err_set(e, -EINVAL,
                          "fitsgen: camera parameters out of range (egain, "
                          "sky_t_ref, dc_doubling, read_noise, vignette_min, hot "
                          "multipliers, n_dust, n_stars or binning)");
    return 0;
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* make_stars places the stars: positions uniform, FWHM within 15 % of star_fwhm, one in 40
 * (at least one) bright enough to saturate (peak 1.5-6 x 65535 in sky_t_ref), the others
 * log-uniform between 0.3 and 150 times the sky level. */
static int make_stars(ac_gen_t *g)
{
    const ac_gen_camera_t *c = &g->cam;
    seq_t q = {stream_key(c->seed, KEY_STARS)};
    long area = (long)c->width * c->height;
    int n = c->n_stars >= 0 ? c->n_stars : (int)fmin(5000, 20 + area / 1500);
    int n_bright = n > 0 ? (n / 40 > 1 ? n / 40 : 1) : 0;
    size_t total = 0;

    g->n_stars = n;
    if (n <= 0)
        return 0;
    g->stars = calloc((size_t)n, sizeof *g->stars);
    if (!g->stars)
        return -ENOMEM;
    for (int i = 0; i < n; i++) {
        struct acg_star *s = &g->stars[i];
        double sig = c->star_fwhm * (0.85 + 0.3 * seq_u(&q)) / 2.3548200450309493;
        double peak;
        s->x = (float)(seq_u(&q) * c->width - 0.5);
        s->y = (float)(seq_u(&q) * c->height - 0.5);
        if (i < n_bright)
            peak = 65535.0 * (1.5 + 4.5 * seq_u(&q));
        else
            peak = c->sky_level * 0.3 * exp(seq_u(&q) * log(150 / 0.3));
        s->peak = (float)peak;
        s->inv2s2 = (float)(1.0 / (2 * sig * sig));
        /* Contributions below 0.01 ADU are dropped. */
        double r = peak > 0.01 ? sig * sqrt(2 * log(peak / 0.01)) : 0;
        int ir = (int)ceil(r);
        s->x0 = clampi((int)floor(s->x) - ir, 0, c->width - 1);
        s->x1 = clampi((int)ceil(s->x) + ir, 0, c->width - 1);
        s->y0 = clampi((int)floor(s->y) - ir, 0, c->height - 1);
        s->y1 = clampi((int)ceil(s->y) + ir, 0, c->height - 1);
        s->goff = total;
        total += (size_t)(s->x1 - s->x0 + 1);
    }
    g->gx = malloc(total * sizeof *g->gx);
    if (!g->gx)
        return -ENOMEM;
    for (int i = 0; i < n; i++) {
        struct acg_star *s = &g->stars[i];
        for (int x = s->x0; x <= s->x1; x++) {
            float dx = (float)x - s->x;
            g->gx[s->goff + (size_t)(x - s->x0)] = s->peak * expf(-dx * dx * s->inv2s2);
        }
    }
    return 0;
}

/* make_dust places the donut shadows: outer radius 2-5 % of the short side, hole 45-65 %
 * of it, depth 5-20 %. */
static int make_dust(ac_gen_t *g)
{
    const ac_gen_camera_t *c = &g->cam;
    seq_t q = {stream_key(c->seed, KEY_DUST)};
    double side = fmin(c->width, c->height);

    g->n_dust = c->n_dust;
    if (c->n_dust == 0)
        return 0;
    g->dust = calloc((size_t)c->n_dust, sizeof *g->dust);
    if (!g->dust)
        return -ENOMEM;
    for (int i = 0; i < c->n_dust; i++) {
        struct acg_dust *d = &g->dust[i];
        double rout = fmax(2.0, side * (0.02 + 0.03 * seq_u(&q)));
        d->rout = (float)rout;
        d->rin = (float)(rout * (0.45 + 0.2 * seq_u(&q)));
        d->depth = (float)(0.05 + 0.15 * seq_u(&q));
        d->cx = (float)(seq_u(&q) * (c->width - 1));
        d->cy = (float)(seq_u(&q) * (c->height - 1));
        int ir = (int)ceil(rout + 2);
        d->x0 = clampi((int)d->cx - ir, 0, c->width - 1);
        d->x1 = clampi((int)d->cx + ir, 0, c->width - 1);
        d->y0 = clampi((int)d->cy - ir, 0, c->height - 1);
        d->y1 = clampi((int)d->cy + ir, 0, c->height - 1);
    }
    return 0;
}

ac_gen_t *ac_gen_new(const ac_gen_camera_t *cam, ac_err_t *e)
{
    ac_gen_t *g = NULL;
    int rc;

    if (check_camera(cam, e) < 0)
        return NULL;
    g = calloc(1, sizeof *g);
    if (!g)
        goto nomem;
    g->cam = *cam;
    g->key_fixed = stream_key(cam->seed, KEY_FIXED);
    g->col = malloc((size_t)cam->width * sizeof *g->col);
    if (!g->col)
        goto nomem;
    uint64_t kc = stream_key(cam->seed, KEY_COL);
    for (int x = 0; x < cam->width; x++) {
        double u = (double)(ac_gen__mix(kc + (uint64_t)x) >> 11) * (1.0 / 9007199254740992.0);
        g->col[x] = (float)((u - 0.5) * SQRT12 * cam->bias_col_sd);
    }
    seq_t q = {stream_key(cam->seed, KEY_VIGN)};
    g->vcx = (float)((cam->width - 1) / 2.0 + (2 * seq_u(&q) - 1) * 0.03 * cam->width);
    g->vcy = (float)((cam->height - 1) / 2.0 + (2 * seq_u(&q) - 1) * 0.03 * cam->height);
    g->vk = cam->vignette_min >= 1 ? 0.0f : (float)(sqrt(1.0 / cam->vignette_min) - 1);
    g->inv_rh = (float)(2.0 / hypot(cam->width, cam->height));
    if ((rc = make_stars(g)) < 0 || (rc = make_dust(g)) < 0)
        goto nomem;
    return g;
nomem:
    ac_err_set(e, -ENOMEM, "fitsgen: out of memory building the %dx%d model", cam->width,
               cam->height);
    ac_gen_free(g);
    return NULL;
}

void ac_gen_free(ac_gen_t *g)
{
    if (!g)
        return;
    free(g->col);
    free(g->stars);
    free(g->gx);
    free(g->dust);
    free(g);
}

const ac_gen_camera_t *ac_gen_camera(const ac_gen_t *g)
{
    return &g->cam;
}

void ac_gen_optical_centre(const ac_gen_t *g, double *cx, double *cy)
{
    *cx = g->vcx;
    *cy = g->vcy;
}

void ac_gen__row(const ac_gen_t *g, int y, float rate_scale, float *bias, float *rate,
                 float *resp, float *sky, unsigned char *hot)
{
    const ac_gen_camera_t *c = &g->cam;
    const int w = c->width;
    const float bl = (float)c->bias_level, fpn = (float)(SQRT12 * c->bias_fpn_sd / 65536.0);
    const float dv = (float)(2 * c->dc_var / 65536.0),
                prnu = (float)(SQRT12 * c->prnu / 65536.0);
    const uint64_t hot_thr = (uint64_t)llround(c->hot_fraction * 65536.0);
    const float dy = ((float)y - g->vcy) * g->inv_rh, dy2 = dy * dy, vk = g->vk;
    const float vcx = g->vcx, inv_rh = g->inv_rh;
    const float *col = g->col;
    row_rng_t rng;

    /* The fixed fields come from the four 16-bit quarters of one draw per pixel: fixed
     * pattern, dark current variation, PRNU and the hot pixel lottery. */
    row_rng_seed(&rng, g->key_fixed, y);
    for (int x = 0; x < w; x++) {
        uint64_t h = row_rng_next(&rng);
        bias[x] = bl + col[x] + ((float)(int32_t)(h & 0xffff) - 32767.5f) * fpn;
        rate[x] = rate_scale * (1.0f + ((float)(int32_t)((h >> 16) & 0xffff) - 32767.5f) * dv);
        resp[x] = 1.0f + ((float)(int32_t)((h >> 32) & 0xffff) - 32767.5f) * prnu;
        if (hot)
            hot[x] = 0;
        if ((h >> 48) < hot_thr) {
            double u = (double)(ac_gen__mix(h) >> 11) * (1.0 / 9007199254740992.0);
            rate[x] *= (float)(c->hot_min * pow(c->hot_max / c->hot_min, u));
            if (hot)
                hot[x] = 1;
        }
    }
    /* Vignetting, in its own loop so that it vectorises. */
    for (int x = 0; x < w; x++) {
        float dx = ((float)x - vcx) * inv_rh;
        float q = 1.0f + vk * (dx * dx + dy2);
        resp[x] /= q * q;
    }
    for (int i = 0; i < g->n_dust; i++) {
        const struct acg_dust *d = &g->dust[i];
        if (y < d->y0 || y > d->y1)
            continue;
        float ddy = (float)y - d->cy;
        for (int x = d->x0; x <= d->x1; x++) {
            float ddx = (float)x - d->cx, r = sqrtf(ddx * ddx + ddy * ddy);
            float fo = (d->rout - r) * 0.5f + 0.5f, fi = (d->rin - r) * 0.5f + 0.5f;
            fo = fo < 0.0f ? 0.0f : fo > 1.0f ? 1.0f : fo;
            fi = fi < 0.0f ? 0.0f : fi > 1.0f ? 1.0f : fi;
            resp[x] *= 1.0f - d->depth * (fo - fi * (2.0f / 3.0f));
        }
    }
    if (!sky)
        return;
    const float s0 = (float)c->sky_level, gr = (float)(c->sky_gradient * c->sky_level);
    const float ky = ((float)y - 0.5f * (float)c->height) / (2.0f * (float)c->height);
    const float invw = 1.0f / (float)w, hw = 0.5f * (float)w;
    for (int x = 0; x < w; x++)
        sky[x] = s0 + gr * (((float)x - hw) * invw + ky);
    for (int i = 0; i < g->n_stars; i++) {
        const struct acg_star *s = &g->stars[i];
        if (y < s->y0 || y > s->y1)
            continue;
        float ddy = (float)y - s->y, gy = expf(-ddy * ddy * s->inv2s2);
        const float *gx = g->gx + s->goff;
        for (int x = s->x0; x <= s->x1; x++)
            sky[x] += gy * gx[x - s->x0];
    }
}

void ac_gen__strip(const ac_gen_t *g, const struct acg_fctx *c, int y0, int n, float *out,
                   float *scratch)
{
    const ac_gen_camera_t *cam = &g->cam;
    const int w = cam->width;
    float *bias = scratch, *rate = scratch + w, *resp = scratch + 2 * w, *sky = scratch + 3 * w;
    const float inv_egain = (float)(1.0 / cam->egain);
    const float rn2 = (float)(cam->read_noise * cam->read_noise);
    const float zs = (float)(SQRT12 / 2.0 / 65535.0) * c->noise; /* sd of 4 uniforms */
    const bool want_sky = c->kt_sky > 0;
    const float t = c->t, kt = c->kt_sky, f0 = c->f0, cb = c->cb, norm = c->norm;
    const bool integer = c->integer;

    if (!want_sky)
        memset(sky, 0, (size_t)w * sizeof *sky);
    for (int j = 0; j < n; j++) {
        int y = y0 + j;
        float *o = out + (size_t)j * (size_t)w;
        float rc[2];
        row_rng_t rng;
        ac_gen__row(g, y, c->rate_scale, bias, rate, resp, want_sky ? sky : NULL, NULL);
        for (int k = 0; k < 2; k++) {
            int col = ac_gen_cfa_color(cam, k, y);
            rc[k] = c->respc[col < 0 ? 0 : col];
        }
        /* The noiseless value and its variance (vectorisable)... */
        for (int x = 0; x < w; x++) {
            float d = rate[x] * t;
            float s = resp[x] * rc[x & 1] * (sky[x] * kt + f0);
            o[x] = cb * bias[x] + d + s;
            resp[x] = sqrtf((d + s) * inv_egain + rn2) * zs;
        }
        /* ...then the noise, a sum of four uniforms per pixel. */
        row_rng_seed(&rng, c->nkey, y);
        for (int x = 0; x < w; x++) {
            uint64_t h = row_rng_next(&rng);
            /* (int32_t): converting a uint64_t to float is slow on x86-64. */
            float z = (float)(int32_t)((h & 0xffff) + ((h >> 16) & 0xffff) +
                                       ((h >> 32) & 0xffff) + (h >> 48)) -
                      131070.0f;
            o[x] = (o[x] + resp[x] * z) * norm;
        }
        if (integer) {
            for (int x = 0; x < w; x++) {
                float v = o[x] + 0.5f;
                v = v < 0.0f ? 0.0f : v > 65535.0f ? 65535.0f : v;
                o[x] = (float)(int)v;
            }
        }
    }
}

int ac_gen__fctx(ac_gen_t *g, const ac_gen_frame_t *f, struct acg_fctx *c, ac_err_t *e)
{
    const ac_gen_camera_t *cam = &g->cam;
    bool flt = f->master == AC_GEN_MASTER_FLOAT;

    memset(c, 0, sizeof *c);
    c->f = *f;
    if ((unsigned)f->type > AC_GEN_FLATDARK || f->master < 0 || f->master > 2 ||
        !(f->exptime >= 0) ||
        (f->bitpix != 0 && f->bitpix != 16 && f->bitpix != 32 && f->bitpix != -32))
        return ac_err_set(e, -EINVAL,
                          "fitsgen: bad frame (type %d, master %d, exptime %g, "
                          "bitpix %d)",
                          (int)f->type, f->master, f->exptime, f->bitpix);
    if (f->type == AC_GEN_LIGHT && f->master != AC_GEN_RAW)
        return ac_err_set(e, -EINVAL, "fitsgen: there is no master light");
    if (c->f.bitpix == 0)
        c->f.bitpix = flt ? -32 : 16;
    if (c->f.ncombine < 1)
        c->f.ncombine = 1;
    if (!isnan(f->ccd_temp)) {
        c->temp = f->ccd_temp;
    } else if (f->master != AC_GEN_RAW) {
        c->temp = cam->set_temp;
    } else {
        uint64_t h = ac_gen__mix(stream_key(cam->seed, KEY_TEMP) + ((uint64_t)f->type << 40) +
                                 (uint64_t)(uint32_t)f->index);
        double u = (double)(h >> 11) * (1.0 / 9007199254740992.0);
        c->temp = round((cam->set_temp + (2 * u - 1) * cam->temp_jitter) * 10) / 10;
    }
    c->t = (float)f->exptime;
    c->rate_scale = (float)(cam->dc_base * exp2((c->temp - cam->dc_t_ref) / cam->dc_doubling));
    c->cb = 1.0f;
    c->norm = 1.0f;
    c->noise = f->master == AC_GEN_RAW ? 1.0f : (float)(1.0 / sqrt((double)c->f.ncombine));
    c->integer = !flt;
    for (int k = 0; k < 3; k++)
        c->respc[k] = (float)ac_gen_color_response(cam, f->filter, k);
    if (f->type == AC_GEN_LIGHT)
        c->kt_sky = (float)(f->exptime / cam->sky_t_ref);
    if (f->type == AC_GEN_FLAT) {
        double f0 = ac_gen_flat_illumination(g, f->filter);
        if (isnan(f0))
            return ac_err_set(e, -ENOMEM, "fitsgen: out of memory computing flat means");
        c->f0 = (float)f0;
    }
    if (flt && f->type != AC_GEN_BIAS) {
        /* Float masters: the dark and flat-dark without bias; the flat without its
         * flat-dark (bias and dark current), optionally normalised to a mean of 1. */
        c->cb = 0.0f;
        if (f->type == AC_GEN_FLAT) {
            c->t = 0.0f;
            if (f->flat_normalised) {
                double m[3];
                ac_gen_flat_mean(g, f->filter, m);
                double mean_resp = g->gmean_all;
                if (cam->bayerpat[0]) {
                    /* Weighted by the number of pixels of each colour (2x2 pattern). */
                    double s = 0;
                    for (int k = 0; k < 4; k++) {
                        int col = ac_gen_cfa_color(cam, k & 1, k >> 1);
                        s += g->gmean[col] * c->respc[col];
                    }
                    mean_resp = s / 4;
                } else {
                    mean_resp *= c->respc[0];
                }
                c->norm = (float)(1.0 / (c->f0 * mean_resp));
            }
        }
    }
    /* The noise stream depends on everything that makes two frames different frames. */
    uint64_t texp, hf = 0;
    memcpy(&texp, &f->exptime, sizeof texp);
    for (const char *p = f->filter ? f->filter : ""; *p; p++)
        hf = ac_gen__mix(hf ^ (unsigned char)tolower((unsigned char)*p));
    c->nkey = stream_key(cam->seed, KEY_NOISE) ^
              ac_gen__mix(((uint64_t)f->type << 48) ^ ((uint64_t)f->master << 44) ^
                          (uint64_t)(uint32_t)f->index ^ ac_gen__mix(texp ^ hf));
    return 0;
}

void ac_gen_frame_default(ac_gen_frame_t *f, ac_gen_type_t type)
{
    memset(f, 0, sizeof *f);
    f->type = type;
    f->ccd_temp = NAN;
    f->ncombine = 20;
    switch (type) {
    case AC_GEN_LIGHT:
        f->exptime = 300;
        f->object = "M 31";
        f->filter = "L";
        break;
    case AC_GEN_DARK:
        f->exptime = 300;
        break;
    case AC_GEN_FLAT:
        f->exptime = 2;
        f->filter = "L";
        break;
    case AC_GEN_FLATDARK:
        f->exptime = 2;
        break;
    case AC_GEN_BIAS:
        f->exptime = 0;
        break;
    }
}

int ac_gen_frame_rows(ac_gen_t *g, const ac_gen_frame_t *f, int y0, int nrows, float *out,
                      ac_err_t *e)
{
    struct acg_fctx c;
    float *scratch = NULL;
    int rc;

    if (y0 < 0 || nrows < 0 || y0 + nrows > g->cam.height)
        return ac_err_set(e, -EINVAL, "fitsgen: rows %d+%d outside 0..%d", y0, nrows,
                          g->cam.height);
    if ((rc = ac_gen__fctx(g, f, &c, e)) < 0)
        return rc;
    scratch = malloc(4 * (size_t)g->cam.width * sizeof *scratch);
    if (!scratch)
        return ac_err_set(e, -ENOMEM, "fitsgen: out of memory");
    ac_gen__strip(g, &c, y0, nrows, out, scratch);
    free(scratch);
    return 0;
}
