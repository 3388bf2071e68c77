/*
 * grading.c - the grading stage's pool work on one calibrated output (see grading.h).
 */
#include "grading.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "calib.h"
#include "hdrupdate.h"
#include "imgio.h"
#include "stars.h"
#include "stats.h"
#include "util.h"

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double cpu_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double hdr_double(const ac_hdr_t *h, const char *key)
{
    double v;

    return ac_hdr_get_double(h, key, &v) ? v : NAN;
}

/* stars_opts fills o from the output's header and metadata. */
static void stars_opts(const ac_hdr_t *h, const ac_meta_t *m, ac_stars_opts_t *o)
{
    ac_stars_opts_default(o);
    o->saturation = m->saturation;
    o->gain = hdr_double(h, "EGAIN");
    if (!(o->gain > 0))
        o->gain = 0;
    o->pixscale = hdr_double(h, "PIXSCALE");
    o->focallen_mm = hdr_double(h, "FOCALLEN");
    o->xpixsz_um = hdr_double(h, "XPIXSZ");
    o->xbin = m->xbin > 0 ? m->xbin : 1;
}

int ac_grading_measure(const char *path, const char *expect_sha256, bool write_header,
                       ac_grading_res_t *r, ac_err_t *e)
{
    ac_image_t img;
    ac_hdr_t hdr, cards;
    ac_meta_t meta;
    ac_stars_opts_t o;
    ac_stars_result_t sr = {0};
    ac_stars_image_t si;
    double t0 = now_s(), c0 = cpu_s();
    bool had_scale;
    int rc;

    memset(r, 0, sizeof *r);
    memset(&img, 0, sizeof img);
    ac_hdr_init(&hdr);
    ac_hdr_init(&cards);
    rc = ac_imgio_read_header(path, &hdr, &meta, e);
    if (rc != 0)
        goto out;
    rc = ac_imgio_load_pixels(path, &img, e);
    if (rc != 0)
        goto out;
    stars_opts(&hdr, &meta, &o);
    had_scale = isfinite(o.pixscale) && o.pixscale > 0;
    si = (ac_stars_image_t){.px = img.px,
                            .width = img.w,
                            .height = img.h,
                            .bayerpat = meta.bayerpat,
                            .xbayroff = meta.xbayroff,
                            .ybayroff = meta.ybayroff};
    rc = ac_stars_measure(&si, &o, &sr, e);
    if (rc != 0)
        goto out;
    r->fig = (ac_grade_fig_t){
        .fwhm = sr.fwhm,
        .hfr = sr.hfr,
        .ecc = sr.ecc,
        .stars = sr.nstars,
        .snr = sr.snr,
        .scale = sr.scale,
        .nonfinite = (double)ac_stats_count_nonfinite(img.px, (size_t)img.w * (size_t)img.h) /
                     ((double)img.w * (double)img.h),
        .flat_residual = sr.flat_residual,
    };
    r->fwhm_arcsec = sr.fwhm_arcsec;
    r->hfr_arcsec = sr.hfr_arcsec;
    r->t_measure = now_s() - t0;
    ac_image_free(&img);
    if (!write_header)
        goto out;
    rc = ac_grade_cards(&cards, &r->fig, !had_scale);
    if (rc != 0) {
        ac_err_set(e, rc, "%s: no memory for the grading cards", path);
        goto out;
    }
    rc = ac_hdrupdate_file(path, &cards, NULL, expect_sha256, r->sha256, sizeof r->sha256, e);
out:
    r->t_total = now_s() - t0;
    r->t_cpu = cpu_s() - c0;
    ac_image_free(&img);
    ac_stars_result_free(&sr);
    ac_hdr_free(&hdr);
    ac_hdr_free(&cards);
    return rc;
}

int ac_grading_mark(const char *path, const char *reasons, const char *expect_sha256,
                    char *sha256, size_t size, ac_err_t *e)
{
    static const char *const del[] = {"QREJECT", NULL};
    ac_hdr_t cards;
    char v[80];
    int rc;

    ac_hdr_init(&cards);
    if (reasons == NULL)
        return ac_hdrupdate_file(path, NULL, del, expect_sha256, sha256, size, e);
    ac_grade_qreject_value(reasons[0] ? reasons : "rejected", v, sizeof v);
    rc = ac_hdr_add_str(&cards, "QREJECT", v, NULL);
    if (rc == 0)
        rc = ac_hdrupdate_file(path, &cards, NULL, expect_sha256, sha256, size, e);
    else
        ac_err_set(e, rc, "%s: cannot format QREJECT", path);
    ac_hdr_free(&cards);
    return rc;
}
