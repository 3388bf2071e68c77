/*
 * build_hdr.c - the master's header, its quality figures and the quality check (see
 * build.h for what each kind of master records, build.c for the passes).
 *
 * Header: the first sub's cards are kept except those the master writes itself (frame
 * type, NCOMBINE, exposure, temperature, binning, camera settings and filter under every
 * alias, other tools' provenance keywords, the sub's HISTORY); then IMAGETYP 'Master ...',
 * NCOMBINE, DATE-OBS of the earliest sub, EXPTIME, mean CCD-TEMP, SET-TEMP, binning, GAIN
 * and OFFSET as numbers, FILTER (flats), the provenance (DARKBIAS/BIASSUB/DARKSUB/FLATNORM/
 * FLATSCAL, BIASMAST/FDRKMAST), the combination (COMBINE, CLIPSIG, KAPPALO/KAPPAHI,
 * CLIPITER), CALSOFT, DATE and HISTORY lines; at commit the figures (QMEDIAN, QNOISE,
 * HOTPIX/HOTFRAC, FLATLEVL, REJLOW/REJHIGH, NANPIX, QSCORE), then imgout's DATASUM and
 * CHECKSUM. The HISTORY wording avoids the phrases ac_meta_from_header reads as
 * provenance except where they are true ("Master bias subtracted", "Flat-dark
 * subtracted").
 *
 * Quality score (0-100): 100, minus up to 30 for rejected values (linearly up to 10 % of
 * the values), minus up to 40 for hot pixels (darks: linearly up to max_hot_fraction),
 * minus up to 40 for a dim flat (linearly from twice min_flat_level down to it).
 *
 * Thread: the build's pool thread; no shared state.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build_int.h"
#include "stats.h"
#include "util.h"
#include "pyfmt.h"
#include "version.h"

/* Keywords of the subs that the master writes itself (besides ac_hdr_is_output_excluded):
 * frame type, counts, exposure, temperature, binning, camera settings and filter under
 * every alias, other tools' provenance, and HISTORY (it describes one sub). */
static bool rewritten(const char *key)
{
    static const char *const keys[] = {
        "IMAGETYP", "FRAME",    "FRAMETYP", "NCOMBINE", "NIMAGES",  "DATE-OBS", "EXPTIME",
        "EXPOSURE", "CCD-TEMP", "CCD_TEMP", "CCDTEMP",  "TEMPERAT", "SET-TEMP", "SET_TEMP",
        "XBINNING", "YBINNING", "BINX",     "BINY",     "GAIN",     "OFFSET",   "BLKLEVEL",
        "FILTER",   "SUBBIAS",  "SUBDARK",  "FLATCOR",  "FLATNORM", "BIAS-SUB", "DARK-SUB",
        "HISTORY",  "DATE",     "COMBINE",  "CLIPSIG",  "KAPPALO",  "KAPPAHI",  "CLIPITER",
        "MEDBELOW", "BIASMAST", "FDRKMAST", "FLATSCAL", "NDROPPED",
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(key, keys[i]) == 0)
            return true;
    return ac_hdr_is_output_excluded(key);
}

double ac_build_median_exptime(const struct sub *subs, int nsubs)
{
    double *ex = malloc((size_t)(nsubs > 0 ? nsubs : 1) * sizeof *ex), med;
    size_t n = 0;

    if (ex == NULL)
        return NAN;
    for (int i = 0; i < nsubs; i++)
        if (subs[i].used)
            ex[n++] = subs[i].m->exptime;
    med = ac_stats_median_high_d(ex, n);
    free(ex);
    return med;
}

/* A camera setting: an integer card when whole, else real. */
static int add_number(ac_hdr_t *h, const char *key, double v, const char *comment, char *text,
                      size_t size)
{
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(text, size, "%lld", (long long)v);
        return ac_hdr_add_int(h, key, (long long)v, comment);
    }
    ac_pyfmt_float(v, text, size);
    return ac_hdr_add_double(h, key, v, comment);
}

static const char *const type_words[AC_CAL_NKINDS] = {"Bias", "Dark", "Flat", "Flat Dark"};

/* Header facts for the result, from the used subs. */
void ac_build_header_facts(struct job *j)
{
    ac_build_result_t *res = j->res;
    const ac_meta_t *m = j->used[0]->m;
    double tsum = 0;
    int tn = 0;

    res->width = j->w;
    res->height = j->h;
    res->xbin = m->xbin;
    res->ybin = m->ybin;
    ac_strlcpy(res->telescope, m->telescop, sizeof res->telescope);
    ac_strlcpy(res->instrument, m->instrume, sizeof res->instrument);
    ac_strlcpy(res->filter, j->sp->kind == AC_CAL_FLAT ? m->filter : "", sizeof res->filter);
    ac_strlcpy(res->bayerpat, m->bayerpat, sizeof res->bayerpat);
    res->date_obs[0] = '\0';
    for (int i = 0; i < j->nused; i++) {
        const ac_meta_t *s = j->used[i]->m;
        if (s->date_obs[0] != '\0' &&
            (res->date_obs[0] == '\0' || strcmp(s->date_obs, res->date_obs) < 0))
            ac_strlcpy(res->date_obs, s->date_obs, sizeof res->date_obs);
        if (isfinite(s->ccd_temp)) {
            tsum += s->ccd_temp;
            tn++;
        }
    }
    res->exptime = ac_build_median_exptime(j->subs, j->nsubs);
    res->ccd_temp = tn > 0 ? round(tsum / tn * 100.0) / 100.0 : NAN;
    res->set_temp = m->set_temp;
    res->gain = m->gain;
    res->offset = m->offset;
    res->saturation = m->saturation;
    if (isfinite(res->exptime))
        ac_pyfmt_float(res->exptime, res->exptime_text, sizeof res->exptime_text);
    if (isfinite(res->ccd_temp))
        ac_pyfmt_float(res->ccd_temp, res->ccd_temp_text, sizeof res->ccd_temp_text);
}

int ac_build_header(struct job *j, ac_hdr_t *h)
{
    const ac_build_spec_t *sp = j->sp;
    const ac_build_opts_t *o = j->o;
    ac_build_result_t *res = j->res;
    const ac_hdr_t *src = ac_imgio_header(j->used[0]->in);
    char key[9], text[512], now[32], imagetyp[32];
    bool clip = res->method == AC_STACK_SIGMA_CLIP || res->method == AC_STACK_WINSOR;
    int rc = 0;

    for (size_t i = 0; i < src->n; i++) {
        ac_hdr_card_key(src, i, key);
        if (!rewritten(key))
            rc |= ac_hdr_append_raw(h, src->cards[i]);
    }
    snprintf(imagetyp, sizeof imagetyp, "Master %s", type_words[sp->kind]);
    rc |= ac_hdr_add_str(h, "IMAGETYP", imagetyp, "type of image");
    rc |= ac_hdr_add_int(h, "NCOMBINE", j->nused, "frames combined");
    if (res->date_obs[0] != '\0')
        rc |= ac_hdr_add_str(h, "DATE-OBS", res->date_obs, "start of the first frame (UTC)");
    if (isfinite(res->exptime))
        rc |= ac_hdr_add_double(h, "EXPTIME", res->exptime, "exposure of the frames, s");
    if (isfinite(res->ccd_temp))
        rc |= ac_hdr_add_double(h, "CCD-TEMP", res->ccd_temp, "mean sensor temperature, C");
    if (isfinite(res->set_temp))
        rc |= ac_hdr_add_double(h, "SET-TEMP", res->set_temp, "sensor set point, C");
    if (res->xbin > 0 && res->ybin > 0) {
        rc |= ac_hdr_add_int(h, "XBINNING", res->xbin, "binning along x");
        rc |= ac_hdr_add_int(h, "YBINNING", res->ybin, "binning along y");
    }
    if (isfinite(res->gain))
        rc |= add_number(h, "GAIN", res->gain, "camera gain setting", res->gain_text,
                         sizeof res->gain_text);
    if (isfinite(res->offset))
        rc |= add_number(h, "OFFSET", res->offset, "camera offset setting", res->offset_text,
                         sizeof res->offset_text);
    if (sp->kind == AC_CAL_FLAT && res->filter[0] != '\0')
        rc |= ac_hdr_add_str(h, "FILTER", res->filter, "filter");
    if (sp->kind == AC_CAL_DARK || sp->kind == AC_CAL_FLATDARK) {
        rc |=
            ac_hdr_add_bool(h, "DARKBIAS", !j->sub_bias, "the master still contains the bias");
        if (j->sub_bias)
            rc |= ac_hdr_add_bool(h, "BIASSUB", true, "bias subtracted from every frame");
    } else if (sp->kind == AC_CAL_FLAT) {
        rc |=
            ac_hdr_add_bool(h, "BIASSUB", res->bias_subtracted, "bias removed from each flat");
        rc |= ac_hdr_add_bool(h, "DARKSUB", j->sub_fd, "flat-dark removed from each flat");
        rc |= ac_hdr_add_bool(h, "FLATNORM", false, "not normalised to 1 (ADU kept)");
        rc |= ac_hdr_add_double(h, "FLATSCAL", res->flat_scale,
                                "common level each flat was scaled to, ADU");
    }
    if (j->sub_bias)
        rc |= ac_hdr_add_str(h, "BIASMAST", ac_path_base(sp->bias_path), "master bias used");
    if (j->sub_fd)
        rc |= ac_hdr_add_str(h, "FDRKMAST", ac_path_base(sp->flatdark_path),
                             "master flat-dark used");
    rc |= ac_hdr_add_str(h, "COMBINE", ac_stack_method_name(res->method), "combination method");
    if (clip) {
        if (res->method == AC_STACK_SIGMA_CLIP)
            rc |= ac_hdr_add_str(h, "CLIPSIG",
                                 res->sigma_estimator == AC_STACK_SIGMA_MAD ? "MAD" : "STDDEV",
                                 "dispersion estimator of the clipping");
        rc |= ac_hdr_add_double(h, "KAPPALO", o->kappa_low, "low rejection, sigmas");
        rc |= ac_hdr_add_double(h, "KAPPAHI", o->kappa_high, "high rejection, sigmas");
        rc |= ac_hdr_add_int(h, "CLIPITER", o->iterations, "rejection passes, at most");
    }
    if (res->nused < res->nsubs)
        rc |= ac_hdr_add_int(h, "NDROPPED", res->nsubs - res->nused, "frames left out");
    rc |= ac_hdr_add_str(h, "CALSOFT", AC_SOFTWARE, "software that made the master");
    ac_now_utc_iso(now, sizeof now, 0);
    rc |= ac_hdr_add_str(h, "DATE", now, "file written (UTC)");
    snprintf(text, sizeof text, "Master %s made by %s on %s from %d of %d frames: %s",
             type_words[sp->kind], AC_SOFTWARE, now, j->nused, res->nsubs,
             ac_stack_method_name(res->method));
    rc |= ac_hdr_add_history(h, text);
    if (clip) {
        snprintf(text, sizeof text, "Rejection kappa %g/%g, %d passes, %s", o->kappa_low,
                 o->kappa_high, o->iterations,
                 res->method == AC_STACK_WINSOR               ? "winsorised sigma"
                 : res->sigma_estimator == AC_STACK_SIGMA_MAD ? "sigma = 1.4826 MAD"
                                                              : "sigma = standard deviation");
        rc |= ac_hdr_add_history(h, text);
    }
    if (sp->kind == AC_CAL_DARK || sp->kind == AC_CAL_FLATDARK) {
        if (j->sub_bias)
            snprintf(text, sizeof text, "Master bias subtracted from each frame: %s",
                     ac_path_base(sp->bias_path));
        else
            snprintf(text, sizeof text, "The bias is kept in this master (DARKBIAS = T)");
        rc |= ac_hdr_add_history(h, text);
    } else if (sp->kind == AC_CAL_FLAT) {
        if (j->sub_fd) {
            snprintf(text, sizeof text, "Flat-dark subtracted from each flat: %s",
                     ac_path_base(sp->flatdark_path));
            rc |= ac_hdr_add_history(h, text);
        }
        if (j->sub_bias) {
            snprintf(text, sizeof text, "Master bias subtracted from each flat: %s",
                     ac_path_base(sp->bias_path));
            rc |= ac_hdr_add_history(h, text);
        }
        snprintf(text, sizeof text,
                 "Each flat multiplied by %.1f / its own median before combining (ADU kept)",
                 res->flat_scale);
        rc |= ac_hdr_add_history(h, text);
    }
    if (res->dropped[0] != '\0') {
        snprintf(text, sizeof text, "Left out: %s", res->dropped);
        rc |= ac_hdr_add_history(h, text);
    }
    return rc == 0
               ? 0
               : ac_err_set(j->e, -ENOMEM, "cannot build the header of %s", sp->output_path);
}

int ac_build_quality_cards(const struct job *j, ac_hdr_t *h)
{
    const ac_build_result_t *res = j->res;
    int rc = 0;

    if (isfinite(res->median))
        rc |= ac_hdr_add_double(h, "QMEDIAN", res->median, "median of the master, ADU");
    if (isfinite(res->noise))
        rc |= ac_hdr_add_double(h, "QNOISE", res->noise, "noise (1.4826 MAD), ADU");
    if (j->sp->kind == AC_CAL_DARK || j->sp->kind == AC_CAL_FLATDARK) {
        rc |= ac_hdr_add_int(h, "HOTPIX", (long long)res->hot_pixels, "hot pixels found");
        rc |= ac_hdr_add_double(h, "HOTFRAC", res->hot_fraction, "fraction of hot pixels");
    }
    if (j->sp->kind == AC_CAL_FLAT && isfinite(res->flat_level))
        rc |= ac_hdr_add_double(h, "FLATLEVL", res->flat_level,
                                "mean calibrated flat level, ADU");
    rc |= ac_hdr_add_double(h, "REJLOW", res->rej_low, "fraction of values rejected low");
    rc |= ac_hdr_add_double(h, "REJHIGH", res->rej_high, "fraction of values rejected high");
    rc |= ac_hdr_add_int(h, "NANPIX", (long long)res->nan_pixels, "pixels without a value");
    rc |= ac_hdr_add_double(h, "QSCORE", res->score, "quality score 0-100");
    return rc == 0 ? 0 : -EINVAL;
}

static double clamp01(double x)
{
    return x < 0 ? 0 : x > 1 ? 1 : x;
}

/* Fills the figures from the counts and samples; returns the rejection reason in why ("" for
 * a good master). */
void ac_build_judge(struct job *j, ac_quality_acc_t *q, uint64_t hot, uint64_t nan_px,
                    char *why, size_t size)
{
    ac_build_result_t *res = j->res;
    const ac_build_opts_t *o = j->o;
    double npx = (double)j->w * (double)j->h, mad = NAN, rej, s = 100;

    why[0] = '\0';
    res->median = NAN;
    if (ac_stats_median_mad(q->samples, q->n_samples, 0, &res->median, &mad) != 0)
        res->median = mad = NAN;
    res->noise = 1.4826 * mad;
    res->hot_pixels = hot;
    res->hot_fraction = (double)hot / npx;
    res->nan_pixels = nan_px;
    res->rej_low = j->st.values ? (double)j->st.rejected_low / (double)j->st.values : 0;
    res->rej_high = j->st.values ? (double)j->st.rejected_high / (double)j->st.values : 0;
    rej = res->rej_low + res->rej_high;
    s -= 30 * clamp01(rej / 0.10);
    if (j->sp->kind == AC_CAL_DARK && o->max_hot_fraction > 0)
        s -= 40 * clamp01(res->hot_fraction / o->max_hot_fraction);
    if (j->sp->kind == AC_CAL_FLAT && o->min_flat_level > 0)
        s -= 40 * clamp01((2 * o->min_flat_level - res->flat_level) / o->min_flat_level);
    res->score = s < 0 ? 0 : s;

    if ((double)nan_px > 0.01 * npx)
        snprintf(why, size,
                 "%llu pixels (%.1f %%) have no value (NaN): the frames are empty there",
                 (unsigned long long)nan_px, 100.0 * (double)nan_px / npx);
    else if (!isfinite(res->noise))
        snprintf(why, size, "the noise of the master is not finite");
    else if (j->sp->kind == AC_CAL_DARK && res->hot_fraction > o->max_hot_fraction)
        snprintf(why, size,
                 "%llu hot pixels (%.3f %%, above %.1f ADU = median + %g x 1.4826 MAD) exceed "
                 "max_hot_fraction %.3f %%",
                 (unsigned long long)hot, 100.0 * res->hot_fraction, j->hot_thr, o->hot_sigma,
                 100.0 * o->max_hot_fraction);
    else if (j->sp->kind == AC_CAL_FLAT && !(res->flat_level >= o->min_flat_level))
        snprintf(why, size,
                 "flat level %.1f ADU (mean after calibration) is below min_flat_level "
                 "%.1f ADU",
                 res->flat_level, o->min_flat_level);
    else if (j->sp->kind == AC_CAL_FLAT && isfinite(res->saturation) &&
             res->flat_raw_level > o->max_flat_level * res->saturation)
        snprintf(why, size,
                 "flat raw level %.1f ADU exceeds max_flat_level %.2f x saturation %.0f ADU",
                 res->flat_raw_level, o->max_flat_level, res->saturation);
}
