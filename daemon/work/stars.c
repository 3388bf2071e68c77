/*
 * stars.c - star metrics of one frame with SEP and the PSF fit (see stars.h).
 *
 * Order: working image (copy or 2 x 2 mean), SEP background subtracted in place,
 * non-finite pixels set to 0 (the background), extraction, objects sorted by flux
 * (brightest first), SEP-level rejection, then per accepted star the aperture flux, HFR and,
 * for the first max_fit, the PSF fit, then the medians.
 *
 * Thread: see stars.h; everything is on the stack or owned by the call.
 */
#include "stars.h"

#include <errno.h>
#include <math.h>
#include <stddef.h> /* before sep.h, which uses size_t without including it */
#include <sep.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grade.h"
#include "stats.h"

#define BKG_MESH 64
#define SUBPIX 5
#define MAX_RETRIES 3
#define SHAPE_SNR_CAP 1000.0

/* Ratio of the HFR to sigma for a Gaussian, squared: (sqrt(2 ln 2))^2. */
#define HFR2_PER_VAR (2.0 * M_LN2)

static const char *const reject_names[AC_STAR_NREASONS] = {
    "ok", "blended", "edge", "saturated", "sharp", "elongated", "nofit"};

const char *ac_star_reject_name(ac_star_reject_t r)
{
    return (unsigned)r < AC_STAR_NREASONS ? reject_names[r] : "?";
}

void ac_stars_opts_default(ac_stars_opts_t *o)
{
    memset(o, 0, sizeof *o);
    ac_psf_opts_default(&o->psf);
    o->psf.model = AC_PSF_MOFFAT;
    o->thresh = 5.0;
    o->minarea = 5;
    o->saturation = NAN;
    o->max_fit = 500;
    o->min_fwhm = 1.0;
    o->max_elong = 4.0;
    o->max_work_bytes = (size_t)64 << 20;
    o->pixscale = NAN;
    o->focallen_mm = NAN;
    o->xpixsz_um = NAN;
    o->xbin = 1;
    o->xpixsz_binned = true;
}

static bool is_cfa(const ac_stars_image_t *img)
{
    return img->bayerpat != NULL && img->bayerpat[0] != '\0';
}

int ac_stars_bin_for(const ac_stars_image_t *img, const ac_stars_opts_t *o)
{
    if (is_cfa(img))
        return 2;
    if (o->bin == 1 || o->bin == 2)
        return o->bin;
    return (size_t)img->width * (size_t)img->height * sizeof(float) > o->max_work_bytes ? 2 : 1;
}

size_t ac_stars_work_bytes(const ac_stars_image_t *img, const ac_stars_opts_t *o)
{
    int b = ac_stars_bin_for(img, o);
    return (size_t)(img->width / b) * (size_t)(img->height / b) * sizeof(float);
}

double ac_stars_image_scale(const ac_stars_opts_t *o)
{
    if (isfinite(o->pixscale) && o->pixscale > 0)
        return o->pixscale;
    if (isfinite(o->focallen_mm) && o->focallen_mm > 0 && isfinite(o->xpixsz_um) &&
        o->xpixsz_um > 0) {
        double px = o->xpixsz_um * (o->xpixsz_binned || o->xbin < 1 ? 1 : o->xbin);
        return 206.264806 * px / o->focallen_mm;
    }
    return NAN;
}

void ac_stars_result_free(ac_stars_result_t *r)
{
    free(r->stars);
    r->stars = NULL;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The working image and how it maps to the input. */
struct work {
    float *px;
    int w, h, bin, x0, y0; /* input pixel of working pixel (i, j): x0 + bin i, y0 + bin j */
    const ac_stars_image_t *img;
    double saturation;
    sep_image im;
};

/* cfa_balance writes in scale[dy * 2 + dx] the factor that brings the CFA position
 * (x0 + dx, y0 + dy) of every cell to the mean of the four positions' sky levels (medians
 * of at most 65536 cells each): the superpixel then weighs its four pixels evenly for a star
 * of the sky's colour, not along one diagonal (R and B) more than the other (G, G), which
 * would elongate every star. Factors of 1 when a level is not positive. */
static int cfa_balance(const ac_stars_image_t *img, int x0, int y0, int cw, int ch,
                       double scale[4])
{
    size_t cells = (size_t)cw * ch, step = cells / 65536 + 1, n = 0;
    float *buf = malloc(sizeof(float) * (cells / step + 1));
    double lvl[4], mean = 0;

    for (int p = 0; p < 4; p++)
        scale[p] = 1.0;
    if (buf == NULL)
        return -ENOMEM;
    for (int p = 0; p < 4; p++) {
        n = 0;
        for (size_t c = 0; c < cells; c += step) {
            size_t i = c % cw, j = c / cw;
            float v = img->px[(size_t)(y0 + 2 * j + p / 2) * img->width + x0 + 2 * i + p % 2];
            if (isfinite(v))
                buf[n++] = v;
        }
        lvl[p] = n > 0 ? ac_stats_median_inplace(buf, n) : NAN;
        mean += lvl[p] / 4;
    }
    free(buf);
    for (int p = 0; p < 4; p++)
        if (!(lvl[p] > 0) || !(mean > 0))
            return 0;
    for (int p = 0; p < 4; p++)
        scale[p] = mean / lvl[p];
    return 0;
}

static int make_work(struct work *wk, const ac_stars_image_t *img, int bin)
{
    const float *in = img->px;
    int W = img->width;
    double sc[4] = {1, 1, 1, 1};

    wk->bin = bin;
    wk->x0 = is_cfa(img) ? (img->xbayroff & 1) : 0;
    wk->y0 = is_cfa(img) ? (img->ybayroff & 1) : 0;
    wk->w = (img->width - wk->x0) / bin;
    wk->h = (img->height - wk->y0) / bin;
    if (wk->w < 16 || wk->h < 16)
        return -EINVAL;
    if (is_cfa(img) && cfa_balance(img, wk->x0, wk->y0, wk->w, wk->h, sc) != 0)
        return -ENOMEM;
    wk->px = malloc((size_t)wk->w * (size_t)wk->h * sizeof(float));
    if (wk->px == NULL)
        return -ENOMEM;
    float s00 = (float)(0.25 * sc[0]), s01 = (float)(0.25 * sc[1]);
    float s10 = (float)(0.25 * sc[2]), s11 = (float)(0.25 * sc[3]);
    for (int j = 0; j < wk->h; j++) {
        float *o = wk->px + (size_t)j * wk->w;
        if (bin == 1) {
            memcpy(o, in + (size_t)j * W, (size_t)wk->w * sizeof(float));
            continue;
        }
        const float *r0 = in + (size_t)(wk->y0 + 2 * j) * W + wk->x0, *r1 = r0 + W;
        for (int i = 0; i < wk->w; i++)
            o[i] = (s00 * r0[2 * i] + s01 * r0[2 * i + 1]) +
                   (s10 * r1[2 * i] + s11 * r1[2 * i + 1]);
    }
    return 0;
}

/* saturated says whether any input pixel under the object's working pixels reaches the
 * saturation level. */
static bool saturated(const struct work *wk, const sep_catalog *c, int k)
{
    const float *in = wk->img->px;
    int W = wk->img->width;

    if (!isfinite(wk->saturation))
        return false;
    for (int n = 0; n < c->npix[k]; n++) {
        int idx = c->pix[k][n], i = idx % wk->w, j = idx / wk->w;
        for (int dy = 0; dy < wk->bin; dy++)
            for (int dx = 0; dx < wk->bin; dx++) {
                size_t p = (size_t)(wk->y0 + wk->bin * j + dy) * W + wk->x0 + wk->bin * i + dx;
                if (in[p] >= wk->saturation)
                    return true;
            }
    }
    return false;
}

static int extract(struct work *wk, const ac_stars_opts_t *o, sep_catalog **cat,
                   double *thresh_used, ac_err_t *e)
{
    static const float conv[9] = {1, 2, 1, 2, 4, 2, 1, 2, 1};
    double t = o->thresh;
    int st = 0;
    char msg[61], detail[513];

    for (int attempt = 0; attempt <= MAX_RETRIES; attempt++, t *= 2) {
        st = sep_extract(&wk->im, (float)t, SEP_THRESH_REL, o->minarea, conv, 3, 3,
                         SEP_FILTER_CONV, 32, 0.005, 1, 1.0, cat);
        if (st == 0) {
            *thresh_used = t;
            return 0;
        }
        if (st == 1) /* SEP's MEMORY_ALLOC_ERROR */
            return ac_err_set(e, -ENOMEM, "stars: SEP extraction out of memory");
        if (st != 2 && st != 7) /* only "pixel buffer full" and "deblending overflow" */
            break;              /* get better at a higher threshold */
    }
    sep_get_errmsg(st, msg);
    sep_get_errdetail(detail);
    return ac_err_set(e, AC_EFORMAT, "stars: SEP extraction failed: %s %s", msg, detail);
}

static int cmp_flux_desc(const void *a, const void *b, void *arg)
{
    const float *f = arg;
    float x = f[*(const int *)a], y = f[*(const int *)b];
    return (x < y) - (x > y);
}

static double half_max_fwhm(const struct work *wk, const sep_catalog *c, int k);

/* reject_sep applies the SEP-level rules to object k. */
static ac_star_reject_t reject_sep(const struct work *wk, const sep_catalog *c, int k,
                                   const ac_stars_opts_t *o)
{
    double a = c->a[k], b = c->b[k], r = ceil(2.0 * half_max_fwhm(wk, c, k)) + 1;

    if (c->flag[k] & SEP_OBJ_MERGED)
        return AC_STAR_BLENDED;
    if ((c->flag[k] & SEP_OBJ_TRUNC) || c->x[k] - r < 0 || c->y[k] - r < 0 ||
        c->x[k] + r > wk->w - 1 || c->y[k] + r > wk->h - 1)
        return AC_STAR_EDGE;
    if (saturated(wk, c, k))
        return AC_STAR_SATURATED;
    if (!(b >= 0.3) || c->peak[k] > 0.5 * c->flux[k])
        return AC_STAR_SHARP;
    if (a > o->max_elong * b)
        return AC_STAR_ELONGATED;
    return AC_STAR_OK;
}

/* half_max_fwhm estimates the FWHM (working px) of object k from the area of its pixels
 * above half its peak: 2 sqrt(area / pi). */
static double half_max_fwhm(const struct work *wk, const sep_catalog *c, int k)
{
    int n = 0;

    for (int i = 0; i < c->npix[k]; i++)
        n += wk->px[c->pix[k][i]] >= 0.5f * c->peak[k];
    double f = 2.0 * sqrt((n > 0 ? n : 1) / M_PI);
    return f < 1.0 ? 1.0 : f > 30.0 ? 30.0 : f;
}

/* measure_star fills flux, SNR, HFR and (when fit) the PSF of the accepted star s whose
 * SEP object is k; may reject it (too sharp or elongated after the fit). */
static void measure_star(const struct work *wk, const sep_catalog *c, int k,
                         const ac_stars_opts_t *o, bool fit, ac_star_t *s)
{
    float box[AC_PSF_MAX_SIDE * AC_PSF_MAX_SIDE];
    double fw_est = half_max_fwhm(wk, c, k), b2 = (double)wk->bin * wk->bin;
    double cx = c->x[k], cy = c->y[k], blur = ac_psf_hfr_blur(NAN);
    int r = (int)ceil(2.0 * fw_est) + 1;
    double rmax, sum, err, area, frac = 0.5, hr;
    short flag;

    if (r > (AC_PSF_MAX_SIDE - 1) / 2)
        r = (AC_PSF_MAX_SIDE - 1) / 2;
    if (fit) {
        int ix = (int)lround(cx), iy = (int)lround(cy), side = 2 * r + 1, n = 0;
        for (int j = iy - r; j <= iy + r; j++)
            for (int i = ix - r; i <= ix + r; i++)
                box[n++] = (i >= 0 && j >= 0 && i < wk->w && j < wk->h)
                               ? wk->px[(size_t)j * wk->w + i]
                               : NAN;
        /* A fit that did not converge still tells a streak or a hot pixel (it collapses
         * an axis); only converged fits enter the medians. */
        if (ac_psf_fit(box, side, side, cx - (ix - r), cy - (iy - r), fw_est, &o->psf,
                       &s->psf) == 0) {
            double fmaj = s->psf.fwhm_major * wk->bin, fmin = s->psf.fwhm_minor * wk->bin;
            if (sqrt(fmaj * fmin) < o->min_fwhm || fmin < 0.7 * o->min_fwhm)
                s->reject = AC_STAR_SHARP;
            else if (fmaj > o->max_elong * fmin)
                s->reject = AC_STAR_ELONGATED;
        } else {
            s->reject = AC_STAR_NOFIT;
        }
        if (s->reject == AC_STAR_OK && !s->psf.converged)
            s->reject = AC_STAR_NOFIT;
        if (s->reject == AC_STAR_OK) {
            s->fitted = true;
            s->fwhm = s->psf.fwhm * wk->bin;
            s->fwhm_major = s->psf.fwhm_major * wk->bin;
            s->fwhm_minor = s->psf.fwhm_minor * wk->bin;
            s->ecc = s->psf.ecc;
            s->angle = s->psf.angle;
            cx = s->psf.x + (ix - r);
            cy = s->psf.y + (iy - r);
            s->x = wk->x0 + wk->bin * cx + 0.5 * (wk->bin - 1);
            s->y = wk->y0 + wk->bin * cy + 0.5 * (wk->bin - 1);
            blur = ac_psf_hfr_blur(s->psf.beta);
        }
    }
    /* Aperture: 4 FWHM (major axis) holds all but a few tenths of a percent of a Moffat
     * with beta 3 and all of a Gaussian. */
    rmax = 4.0 * (s->fitted ? s->psf.fwhm_major : fw_est);
    if (rmax < 4)
        rmax = 4;
    if (sep_sum_circle(&wk->im, cx, cy, rmax, 0, SUBPIX, 0, &sum, &err, &area, &flag) == 0) {
        s->flux = sum * b2;
        s->snr = err > 0 ? sum / err : 0;
    }
    if (sep_flux_radius(&wk->im, cx, cy, rmax, 0, SUBPIX, 0, NULL, &frac, 1, &hr, &flag) == 0 &&
        hr > 0) {
        /* In input pixels, without the working pixel's smoothing: its box (variance
         * bin^2 / 12 per axis) and again SEP's spreading of each pixel's value evenly over
         * the pixel when it cuts the aperture (another box): blur * 2 bin^2 / 12. */
        double h2 = hr * hr * b2 - blur * b2 / 6.0;
        s->hfr = h2 > 0 ? sqrt(h2) : 0;
    }
}

static double median_of(float *v, int n)
{
    return n > 0 ? ac_stats_median_inplace(v, (size_t)n) : NAN;
}

struct wv {
    double v, w;
};

static int cmp_wv(const void *a, const void *b)
{
    double x = ((const struct wv *)a)->v, y = ((const struct wv *)b)->v;
    return (x > y) - (x < y);
}

/* star_shape writes the shape tensor (xx, yy, xy) of an accepted, fitted star (see
 * frame_ecc); false for any other star. */
static bool star_shape(const ac_star_t *s, double t[3])
{
    if (s->reject != AC_STAR_OK || !s->fitted || !(s->fwhm_minor > 0) || !(s->snr > 0))
        return false;
    double q = s->fwhm_major / s->fwhm_minor, c = cos(s->angle), sn = sin(s->angle);
    t[0] = q * c * c + sn * sn / q;
    t[1] = q * sn * sn + c * c / q;
    t[2] = (q - 1.0 / q) * c * sn;
    return true;
}

/* shape_weight: a star's shape is known to about 1 / (peak / residual rms), the fit's own
 * peak signal-to-noise; weight by its square, capped at SHAPE_SNR_CAP (beyond it the pixel
 * grid, not the noise, limits a shape). */
static double shape_weight(const ac_star_t *s)
{
    double q = s->psf.rms > 0 ? fmin(s->psf.amp / s->psf.rms, SHAPE_SNR_CAP) : SHAPE_SNR_CAP;
    return q * q;
}

/* wmedian returns the weighted median of the n pairs (sorted in place). */
static double wmedian(struct wv *a, int n)
{
    double tot = 0, acc = 0;

    qsort(a, (size_t)n, sizeof *a, cmp_wv);
    for (int i = 0; i < n; i++)
        tot += a[i].w;
    for (int i = 0; i < n; i++) {
        acc += a[i].w;
        if (acc >= 0.5 * tot)
            return a[i].v;
    }
    return n > 0 ? a[n - 1].v : NAN;
}

/* frame_ecc: the eccentricity of the mean star shape. Each fitted star's shape is the
 * tensor R diag(a/b, b/a) R^T (determinant 1, size removed, a/b its axis ratio, R its
 * angle). The mean over the stars, weighted by shape_weight, of the stars whose
 * components lie within 0.15 of the weighted medians (no outliers: a blend, a galaxy), has
 * eigenvalues l1 >= l2, and e = sqrt(1 - l2/l1). Noise scatters the shapes of round stars
 * symmetrically, so this stays near 0 where the median of per-star eccentricities (always
 * positive) does not. */
static double frame_ecc(const ac_stars_result_t *r, struct wv *buf)
{
    double med[3], sum[3] = {0, 0, 0}, wsum = 0;
    int n = 0;

    for (int m = 0; m < 3; m++) {
        n = 0;
        for (int k = 0; k < r->nobjects; k++) {
            const ac_star_t *s = &r->stars[k];
            double t[3];
            if (!star_shape(s, t))
                continue;
            buf[n].v = t[m];
            buf[n].w = shape_weight(s);
            n++;
        }
        if (n == 0)
            return NAN;
        med[m] = wmedian(buf, n);
    }
    for (int k = 0; k < r->nobjects; k++) {
        const ac_star_t *s = &r->stars[k];
        double t[3], w = shape_weight(s);
        if (!star_shape(s, t) || fabs(t[0] - med[0]) > 0.15 || fabs(t[1] - med[1]) > 0.15 ||
            fabs(t[2] - med[2]) > 0.15)
            continue;
        for (int m = 0; m < 3; m++)
            sum[m] += w * t[m];
        wsum += w;
    }
    if (!(wsum > 0))
        return NAN;
    double t0 = sum[0] / wsum, t1 = sum[1] / wsum, t2 = sum[2] / wsum;
    double mean = 0.5 * (t0 + t1), d = hypot(0.5 * (t0 - t1), t2);
    double l1 = mean + d, l2 = mean - d;
    return l1 > 0 && l2 > 0 ? sqrt(fmax(0.0, 1.0 - l2 / l1)) : NAN;
}

static int summarise(ac_stars_result_t *r, double scale)
{
    size_t cap = (size_t)(r->nobjects > 0 ? r->nobjects : 1);
    float *v = malloc(sizeof(float) * cap);
    struct wv *wv = malloc(sizeof(struct wv) * cap);
    double fsum = 0, vsum = 0;
    int n = 0;

    if (v == NULL || wv == NULL) {
        free(v);
        free(wv);
        return -ENOMEM;
    }
    double *const outs[5] = {&r->fwhm, &r->hfr, &r->ecc_star, &r->fwhm_major, &r->fwhm_minor};
    for (int m = 0; m < 5; m++) {
        n = 0;
        for (int k = 0; k < r->nobjects; k++) {
            const ac_star_t *s = &r->stars[k];
            if (s->reject != AC_STAR_OK || !s->fitted)
                continue;
            double x = m == 0   ? s->fwhm
                       : m == 1 ? s->hfr
                       : m == 2 ? s->ecc
                       : m == 3 ? s->fwhm_major
                                : s->fwhm_minor;
            if (isfinite(x))
                v[n++] = (float)x;
        }
        *outs[m] = median_of(v, n);
    }
    r->nfitted = n;
    r->ecc = frame_ecc(r, wv);
    for (int k = 0; k < r->nobjects; k++) {
        const ac_star_t *s = &r->stars[k];
        if (s->reject != AC_STAR_OK || !(s->snr > 0))
            continue;
        fsum += s->flux;
        vsum += (s->flux / s->snr) * (s->flux / s->snr);
    }
    free(v);
    free(wv);
    r->snr = vsum > 0 ? fsum / sqrt(vsum) : 0;
    r->scale = scale;
    r->fwhm_arcsec = r->fwhm * scale;
    r->hfr_arcsec = r->hfr * scale;
    return 0;
}

int ac_stars_measure(const ac_stars_image_t *img, const ac_stars_opts_t *o_in,
                     ac_stars_result_t *r, ac_err_t *e)
{
    ac_stars_opts_t def;
    const ac_stars_opts_t *o = o_in;
    struct work wk = {0};
    sep_bkg *bkg = NULL;
    sep_catalog *cat = NULL;
    int *order = NULL, rc, fits = 0;
    double t0 = now_s(), gain_w;

    memset(r, 0, sizeof *r);
    if (o == NULL) {
        ac_stars_opts_default(&def);
        o = &def;
    }
    if (img == NULL || img->px == NULL || img->width <= 0 || img->height <= 0 ||
        !(o->thresh > 0) || o->minarea < 1 || !(o->max_elong > 1))
        return ac_err_set(e, -EINVAL, "stars: bad image or options");
    if (is_cfa(img)) {
        if (strlen(img->bayerpat) != 4 || strspn(img->bayerpat, "RGBrgb") != 4)
            return ac_err_set(e, -EINVAL, "stars: unknown Bayer pattern \"%s\"", img->bayerpat);
    }
    wk.img = img;
    wk.saturation = o->saturation;
    rc = make_work(&wk, img, ac_stars_bin_for(img, o));
    if (rc != 0) {
        ac_err_set(e, rc,
                   rc == -ENOMEM ? "stars: no memory for the working image"
                                 : "stars: image too small (%d x %d)",
                   img->width, img->height);
        goto out;
    }
    r->bin = wk.bin;
    wk.im = (sep_image){.data = wk.px, .dtype = SEP_TFLOAT, .w = wk.w, .h = wk.h};
    rc = sep_background(&wk.im, BKG_MESH, BKG_MESH, 3, 3, 0.0, &bkg);
    if (rc == 0)
        rc = sep_bkg_subarray(bkg, wk.px, SEP_TFLOAT);
    if (rc != 0) {
        char msg[61];
        sep_get_errmsg(rc, msg);
        rc = ac_err_set(e, rc == 1 ? -ENOMEM : AC_EFORMAT, "stars: SEP background: %s", msg);
        goto out;
    }
    r->bkg = sep_bkg_global(bkg);
    r->bkg_rms = sep_bkg_globalrms(bkg);
    /* The mesh nodes are working-image means: the level is that of the input. */
    r->flat_residual = ac_grade_flat_residual(bkg->back, bkg->nx, bkg->ny, bkg->bw, bkg->bh,
                                              wk.w, wk.h, r->bkg_rms);
    for (size_t p = 0; p < (size_t)wk.w * wk.h; p++)
        if (!isfinite(wk.px[p]))
            wk.px[p] = 0;
    wk.im.noiseval = r->bkg_rms > 0 ? r->bkg_rms : 1e-30;
    wk.im.noise_type = SEP_NOISE_STDDEV;
    /* A working pixel of a binned image is the mean of bin^2 input pixels. */
    gain_w = o->gain > 0 ? o->gain * wk.bin * wk.bin : 0;
    wk.im.gain = gain_w;
    rc = extract(&wk, o, &cat, &r->thresh_used, e);
    if (rc != 0)
        goto out;
    r->t_sep = now_s() - t0;
    if (wk.bin == 2) {   /* the global figures in input ADU: the mean keeps the level */
        r->bkg_rms *= 2; /* ... and halves the noise of independent pixels */
    }

    r->nobjects = cat->nobj;
    r->stars = calloc((size_t)(cat->nobj > 0 ? cat->nobj : 1), sizeof *r->stars);
    order = malloc(sizeof(int) * (size_t)(cat->nobj > 0 ? cat->nobj : 1));
    if (r->stars == NULL || order == NULL) {
        rc = ac_err_set(e, -ENOMEM, "stars: no memory for %d objects", cat->nobj);
        goto out;
    }
    for (int k = 0; k < cat->nobj; k++)
        order[k] = k;
    qsort_r(order, (size_t)cat->nobj, sizeof *order, cmp_flux_desc, cat->flux);
    for (int n = 0; n < cat->nobj; n++) {
        int k = order[n];
        ac_star_t *s = &r->stars[n];
        /* Working pixel i covers input pixels x0 + bin i .. x0 + bin i + bin - 1. */
        s->x = wk.x0 + wk.bin * cat->x[k] + 0.5 * (wk.bin - 1);
        s->y = wk.y0 + wk.bin * cat->y[k] + 0.5 * (wk.bin - 1);
        s->fwhm = s->fwhm_major = s->fwhm_minor = s->ecc = s->angle = NAN;
        s->hfr = s->flux = NAN;
        s->snr = 0;
        s->peak = cat->peak[k];
        s->reject = reject_sep(&wk, cat, k, o);
        if (s->reject == AC_STAR_OK) {
            bool fit = fits < o->max_fit;
            measure_star(&wk, cat, k, o, fit, s);
            fits += fit;
        }
        r->nrejected[s->reject]++;
    }
    r->nstars = r->nrejected[AC_STAR_OK];
    r->nrejected[AC_STAR_OK] = 0;
    rc = summarise(r, ac_stars_image_scale(o));
    if (rc != 0)
        ac_err_set(e, rc, "stars: no memory for the medians");
    r->t_fit = now_s() - t0 - r->t_sep;
out:
    free(order);
    if (cat != NULL)
        sep_catalog_free(cat);
    if (bkg != NULL)
        sep_bkg_free(bkg);
    free(wk.px);
    if (rc != 0)
        ac_stars_result_free(r);
    return rc;
}
