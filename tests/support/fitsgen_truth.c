/*
 * fitsgen_truth.c - what the model knows and the files do not show: the exact flat means
 * per colour, the flat illumination, the noiseless terms of a pixel and the ground truth
 * of a perfectly calibrated light (see fitsgen.h).
 *
 * Ownership: nothing outlives a call except the flat means cached in the ac_gen_t.
 * Thread: one thread per ac_gen_t until the flat means are cached, then read-only.
 */
#include "fitsgen_priv.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

int ac_gen_flat_mean(ac_gen_t *g, const char *filter, double m[3])
{
    const ac_gen_camera_t *c = &g->cam;
    const int w = c->width;

    if (!g->have_means) {
        float *buf = malloc(3 * (size_t)w * sizeof *buf);
        double sum[3] = {0, 0, 0}, all = 0;
        long cnt[3] = {0, 0, 0};
        if (!buf)
            return -ENOMEM;
        for (int y = 0; y < c->height; y++) {
            ac_gen__row(g, y, 0.0f, buf, buf + w, buf + 2 * w, NULL, NULL);
            for (int x = 0; x < w; x++) {
                int col = ac_gen_cfa_color(c, x, y);
                double r = buf[2 * w + x];
                sum[col < 0 ? 0 : col] += r;
                cnt[col < 0 ? 0 : col]++;
                all += r;
            }
        }
        free(buf);
        for (int k = 0; k < 3; k++)
            g->gmean[k] = cnt[k] ? sum[k] / (double)cnt[k] : g->gmean[0];
        g->gmean_all = all / ((double)w * c->height);
        g->have_means = true;
    }
    for (int k = 0; k < 3; k++) {
        int col = c->bayerpat[0] ? k : 0;
        m[k] = g->gmean[col] * ac_gen_color_response(c, filter, col);
    }
    return 0;
}

double ac_gen_flat_illumination(ac_gen_t *g, const char *filter)
{
    double m[3];

    if (ac_gen_flat_mean(g, filter, m) < 0)
        return NAN;
    return (g->cam.flat_level - g->cam.bias_level) / fmax(m[0], fmax(m[1], m[2]));
}

/* model_pixel computes the noiseless value, its noise sd (for this frame, masters
 * included) and the truth of a light from one pixel's fields. */
static void model_pixel(const ac_gen_t *g, const struct acg_fctx *c, int col, double bias,
                        double rate, double resp, double sky, const double m[3],
                        ac_gen_terms_t *t)
{
    const ac_gen_camera_t *cam = &g->cam;
    double rc = c->respc[col < 0 ? 0 : col];
    double d = rate * c->t;
    double s = resp * rc * (c->kt_sky > 0 ? sky * c->kt_sky : c->f0);
    double var = (d + s) / cam->egain + cam->read_noise * cam->read_noise;

    t->color = col;
    t->bias = bias;
    t->dark_rate = rate;
    t->response = resp * rc;
    t->sky = sky;
    t->mean = (c->cb * bias + d + s) * c->norm;
    t->sigma = sqrt(var) * c->noise * c->norm;
    t->truth = sky * c->kt_sky * m[col < 0 ? 0 : col];
}

int ac_gen_pixel_terms(ac_gen_t *g, const ac_gen_frame_t *f, int x, int y, ac_gen_terms_t *t,
                       ac_err_t *e)
{
    const int w = g->cam.width;
    struct acg_fctx c;
    float *buf = NULL;
    unsigned char *hot = NULL;
    double m[3];
    int rc;

    if (x < 0 || y < 0 || x >= w || y >= g->cam.height)
        return ac_err_set(e, -EINVAL, "fitsgen: pixel (%d, %d) outside the image", x, y);
    if ((rc = ac_gen__fctx(g, f, &c, e)) < 0)
        return rc;
    if ((rc = ac_gen_flat_mean(g, f->filter, m)) < 0)
        return ac_err_set(e, rc, "fitsgen: out of memory");
    buf = malloc(4 * (size_t)w * sizeof *buf);
    hot = malloc((size_t)w);
    if (!buf || !hot) {
        rc = ac_err_set(e, -ENOMEM, "fitsgen: out of memory");
        goto out;
    }
    ac_gen__row(g, y, c.rate_scale, buf, buf + w, buf + 2 * w, buf + 3 * w, hot);
    model_pixel(g, &c, ac_gen_cfa_color(&g->cam, x, y), buf[x], buf[w + x], buf[2 * w + x],
                buf[3 * w + x], m, t);
    t->hot = hot[x] != 0;
out:
    free(buf);
    free(hot);
    return rc;
}

int ac_gen_truth_rows(ac_gen_t *g, const ac_gen_frame_t *f, int y0, int nrows, float *truth,
                      float *sigma, ac_err_t *e)
{
    const int w = g->cam.width;
    struct acg_fctx c;
    float *buf = NULL;
    double m[3];
    int rc;

    if (f->type != AC_GEN_LIGHT || f->master != AC_GEN_RAW)
        return ac_err_set(e, -EINVAL, "fitsgen: the ground truth is for raw lights");
    if (y0 < 0 || nrows < 0 || y0 + nrows > g->cam.height)
        return ac_err_set(e, -EINVAL, "fitsgen: rows %d+%d outside 0..%d", y0, nrows,
                          g->cam.height);
    if ((rc = ac_gen__fctx(g, f, &c, e)) < 0)
        return rc;
    if ((rc = ac_gen_flat_mean(g, f->filter, m)) < 0)
        return ac_err_set(e, rc, "fitsgen: out of memory");
    buf = malloc(4 * (size_t)w * sizeof *buf);
    if (!buf)
        return ac_err_set(e, -ENOMEM, "fitsgen: out of memory");
    for (int j = 0; j < nrows; j++) {
        int y = y0 + j;
        ac_gen__row(g, y, c.rate_scale, buf, buf + w, buf + 2 * w, buf + 3 * w, NULL);
        for (int x = 0; x < w; x++) {
            ac_gen_terms_t t;
            size_t i = (size_t)j * (size_t)w + (size_t)x;
            model_pixel(g, &c, ac_gen_cfa_color(&g->cam, x, y), buf[x], buf[w + x],
                        buf[2 * w + x], buf[3 * w + x], m, &t);
            bool sat = t.mean + 5 * t.sigma > 65535.0;
            truth[i] = sat ? NAN : (float)t.truth;
            if (sigma)
                sigma[i] = (float)(t.sigma * m[t.color < 0 ? 0 : t.color] / t.response);
        }
    }
    free(buf);
    return 0;
}
