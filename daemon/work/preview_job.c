/*
 * preview_job.c - one calibration preview (see preview_job.h).
 */
#include "preview_job.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hdr.h"
#include "imgio.h"
#include "pngout.h"
#include "util.h"
#include "version.h"

struct bins {
    ac_preview_bin_t raw, cal;
};

static void show_rows(void *ud, bool calibrated, const float *rows, int y0, int n)
{
    struct bins *b = ud;

    ac_preview_bin_rows(calibrated ? &b->cal : &b->raw, rows, y0, n);
}

/* load_masters reads every master given and checks its type and MD5. */
static int load_masters(ac_preview_job_t *j, ac_masters_t *ms)
{
    int rc;

    memset(ms, 0, sizeof *ms);
    for (int i = 0; i < AC_M_COUNT; i++) {
        ms->path[i] = j->master[i];
        ms->md5[i] = j->md5[i];
    }
    for (int i = 0; i < AC_M_COUNT; i++) {
        if (!ac_masters_given(ms, i))
            continue;
        if ((rc = ac_masters_load_one(ms, i, 0, &j->err)) != 0 ||
            (rc = ac_masters_check_type(ms, i, j->eng.calib.force, &j->err)) != 0)
            return rc;
    }
    return 0;
}

/* decide_k: the plan's k, or the one the light's exposure asks of the dark. */
static int decide_k(ac_preview_job_t *j, ac_masters_t *ms, double *k)
{
    ac_image_t *dark = ac_masters_image(ms, AC_M_DARK), *bias = ac_masters_image(ms, AC_M_BIAS);
    ac_hdr_t hdr;
    ac_meta_t meta;
    char warn[256] = "";
    int rc;

    *k = 1.0;
    if (j->have_k) {
        *k = j->k;
        return 0;
    }
    if (dark == NULL || j->eng.calib.dark_optimize)
        return 0;
    ac_hdr_init(&hdr);
    rc = ac_imgio_read_header(j->light, &hdr, &meta, &j->err);
    ac_hdr_free(&hdr);
    if (rc != 0)
        return rc;
    return ac_calib_dark_scale(meta.exptime, dark, bias != NULL,
                               ac_calib_dark_bias_decision(dark, bias, &j->eng.calib, NULL, 0),
                               &j->eng.calib, k, warn, sizeof warn, &j->err);
}

static const char *name_of(const char *path)
{
    return path[0] != '\0' ? ac_path_base(path) : "none";
}

static void make_caption(ac_preview_job_t *j)
{
    const ac_quality_t *q = &j->res.quality;
    char dark[400];

    if (j->master[AC_M_DARK][0] != '\0')
        snprintf(dark, sizeof dark, "%s (k=%.3f)", ac_path_base(j->master[AC_M_DARK]),
                 j->res.k);
    else
        snprintf(dark, sizeof dark, "none");
    snprintf(j->caption, sizeof j->caption,
             "%s: raw (left), calibrated (right)\n"
             "bias %s  dark %s  flat %s%s%s\n"
             "pedestal %.1f ADU  background %.1f  noise %.2f  score %.0f  negative %.3f%%  "
             "dead %.4f%%\n"
             "auto stretch per half%s (median - 2.8 MADN, background 0.25); %dx%d binned%s",
             ac_path_base(j->light), name_of(j->master[AC_M_BIAS]), dark,
             name_of(j->master[AC_M_FLAT]), j->master[AC_M_FLATDARK][0] ? "  flat-dark " : "",
             j->master[AC_M_FLATDARK][0] ? ac_path_base(j->master[AC_M_FLATDARK]) : "",
             j->res.pedestal, q->background, q->noise, q->score, 100 * q->frac_negative,
             100 * q->frac_dead, j->colour ? " and colour" : "", j->bin, j->bin,
             j->colour ? ", superpixel debayer" : "");
}

int ac_preview_job_run(ac_preview_job_t *j)
{
    ac_masters_t ms;
    ac_calset_t cs = {0};
    struct bins b = {0};
    ac_workbuf_t wb = {0};
    ac_picture_t pic = {0};
    ac_hdr_t hdr;
    ac_meta_t meta;
    float *raw = NULL, *cal = NULL;
    bool prepared = false;
    double k = 1.0;
    int rc;

    j->png = NULL;
    ac_hdr_init(&hdr);
    if ((rc = load_masters(j, &ms)) != 0 || (rc = decide_k(j, &ms, &k)) != 0)
        goto out;
    rc = ac_masters_prepare(&ms, k, &j->eng.calib, false, &cs, &j->err);
    if (rc != 0)
        goto out;
    prepared = true;
    if ((rc = ac_imgio_read_header(j->light, &hdr, &meta, &j->err)) != 0)
        goto out;
    if (ac_preview_bin_init(&b.raw, &meta, j->max_w, j->max_h) != 0 ||
        ac_preview_bin_init(&b.cal, &meta, j->max_w, j->max_h) != 0) {
        rc = ac_err_set(&j->err, -ENOMEM, "%s: no memory for the preview (%dx%d)", j->light,
                        meta.width, meta.height);
        goto out;
    }
    j->bin = b.raw.cell;
    j->colour = b.raw.ch == 3;
    rc = ac_engine_preview_light(&cs, j->light, &j->eng, &wb, NULL, show_rows, &b, &j->res);
    if (rc != 0) {
        j->err = j->res.err;
        goto out;
    }
    raw = ac_preview_bin_image(&b.raw);
    cal = ac_preview_bin_image(&b.cal);
    if (raw == NULL || cal == NULL) {
        rc = ac_err_set(&j->err, -ENOMEM, "out of memory");
        goto out;
    }
    make_caption(j);
    rc = ac_preview_compose(raw, cal, b.raw.w, b.raw.h, b.raw.ch, j->caption, &pic, j->stf_raw,
                            j->stf_cal);
    if (rc != 0) {
        ac_err_set(&j->err, rc, "%s: %s", j->light,
                   rc == -ERANGE ? "no finite pixel to show" : "out of memory");
        goto out;
    }
    {
        const char *text[] = {"Software", AC_SOFTWARE, "Title", ac_path_base(j->light),
                              "Comment",  j->caption,  NULL};
        rc = ac_png_encode(&pic, text, &j->png, &j->png_len, &j->err);
    }
    j->width = pic.w;
    j->height = pic.h;
out:
    if (rc != 0 && j->err.msg[0] == '\0')
        ac_err_set(&j->err, rc, "%s: %s", j->light, ac_strerror(rc));
    free(pic.rgb);
    free(raw);
    free(cal);
    ac_preview_bin_free(&b.raw);
    ac_preview_bin_free(&b.cal);
    ac_workbuf_free(&wb);
    ac_hdr_free(&hdr);
    if (prepared)
        ac_calset_free(&cs);
    ac_masters_free(&ms);
    j->status = rc;
    return rc;
}

void ac_preview_job_clear(ac_preview_job_t *j)
{
    free(j->png);
    j->png = NULL;
    j->png_len = 0;
}
