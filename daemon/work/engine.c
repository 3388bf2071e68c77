/*
 * engine.c - calibrate one light end to end (see engine.h).
 *
 * The flow of one job, every step bounded in memory:
 *  1. open the light (imgio), validate it against the prepared masters (calib);
 *  2. with dark optimisation or an automatic pedestal, read a sample of 32 rows spread over
 *     the frame and choose k and/or the pedestal from them;
 *  3. open the output (imgout) with the complete header except the quality figures;
 *  4. for each strip: read rows (+2 context rows for cosmetic correction), calibrate in
 *     place, fix hot pixels, feed the quality accumulator, write;
 *  5. finish the quality figures, commit (checksums, fsync, rename).
 * With hash_output (engine.h), steps 3-5 become two passes: pass 1 runs step 4 without a
 * writer, adding each strip to the DATASUM (ac_imgout_datasum_update) instead of writing
 * it; the quality cards then complete the header; pass 2 opens the writer in its
 * sequential mode with the final header and that DATASUM and runs step 4 again, writing
 * only (no quality, no counts); commit checks the sum and returns the SHA-256.
 * Any failure aborts the writer, which removes its temporary file: nothing half-written
 * ever carries the final name.
 */
#include "engine.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "grade.h"
#include "hdr.h"
#include "imgio.h"
#include "log.h"
#include "util.h"
#include "version.h"

#define SAMPLE_ROWS 32
#define MAX_STRIP_ROWS 256
#define HALO 2
#define QUALITY_CARDS 8

void ac_engine_opts_default(ac_engine_opts_t *o)
{
    memset(o, 0, sizeof *o);
    ac_calib_opts_default(&o->calib);
    ac_imgout_opts_default(&o->out);
    o->out.reserve_cards = AC_GRADE_CARDS; /* room for the grading stage's cards */
    ac_strlcpy(o->suffix, "_calibrated", sizeof o->suffix);
    o->job_memory = 32u << 20;
}

void ac_workbuf_free(ac_workbuf_t *wb)
{
    if (wb == NULL)
        return;
    free(wb->strip);
    wb->strip = NULL;
    wb->cap = 0;
}

static int workbuf_reserve(ac_workbuf_t *wb, size_t floats)
{
    float *p;

    if (floats <= wb->cap)
        return 0;
    p = realloc(wb->strip, floats * sizeof(float));
    if (p == NULL)
        return -ENOMEM;
    wb->strip = p;
    wb->cap = floats;
    return 0;
}

int ac_engine_output_path(const char *light_path, const ac_engine_opts_t *o, char *out,
                          size_t size)
{
    char stem[1024], dir[4096];
    int n;

    if (o->out_path[0] != '\0')
        return ac_strlcpy(out, o->out_path, size) < size ? 0 : -ENAMETOOLONG;
    ac_path_stem(light_path, stem, sizeof stem);
    if (o->output_dir[0] != '\0')
        ac_strlcpy(dir, o->output_dir, sizeof dir);
    else
        ac_path_dir(light_path, dir, sizeof dir);
    n = snprintf(out, size, "%s/%s%s%s", dir, stem, o->suffix,
                 o->out.compress ? ".fits.fz" : ".fits");
    return (n < 0 || (size_t)n >= size) ? -ENAMETOOLONG : 0;
}

/* fixed_bytes: the writer's buffer and the quality samples (and their sorting copy). */
static size_t fixed_bytes(const ac_engine_opts_t *o)
{
    return ac_imgout_buffer_bytes(&o->out) + 2 * AC_QUALITY_MAX_SAMPLES * sizeof(float);
}

int ac_engine_strip_rows(const ac_engine_opts_t *o, int w, int raw_bytes)
{
    size_t writer = fixed_bytes(o);
    size_t per_row = (size_t)w * (sizeof(float) + (size_t)raw_bytes);
    size_t avail = o->job_memory > writer ? o->job_memory - writer : 0;
    size_t rows = per_row > 0 ? avail / per_row : 1;

    /* The context rows for cosmetic correction come out of the same budget. */
    rows = rows > 2 * HALO ? rows - 2 * HALO : 1;
    if (rows > MAX_STRIP_ROWS)
        rows = MAX_STRIP_ROWS;
    return rows < 1 ? 1 : (int)rows;
}

void ac_engine_steps_string(const ac_calset_t *cs, double k, char *out, size_t size)
{
    size_t n = 0;

    out[0] = '\0';
#define APPEND(...)                                                                            \
    do {                                                                                       \
        if (n < size)                                                                          \
            n += (size_t)snprintf(out + n, size - n, __VA_ARGS__);                             \
    } while (0)
    if (cs->has_bias)
        APPEND("%sbias", n ? "," : "");
    if (cs->has_dark)
        APPEND("%sdark(k=%.3f)", n ? "," : "", k);
    if (cs->has_flat)
        APPEND("%sflat", n ? "," : "");
    if (cs->n_hot > 0)
        APPEND("%scosmetic", n ? "," : "");
#undef APPEND
}

static int raw_bytes_of(int bitpix)
{
    return abs(bitpix) / 8;
}

/* budget_for_input sets *ob to o with the job's memory less what the reader holds (a
 * compressed XISF block, xisf.h), or refuses the light when that block alone is larger than
 * the job's memory. */
static int budget_for_input(const ac_engine_opts_t *o, ac_imgin_t *in, ac_engine_opts_t *ob,
                            ac_err_t *e)
{
    size_t held = ac_imgio_held_bytes(in);

    *ob = *o;
    if (held == 0)
        return 0;
    if (held > o->job_memory)
        return ac_err_set(
            e, AC_EFORMAT,
            "%s: a compressed XISF image is decompressed whole: it needs %zu MiB, "
            "more than the job's memory (%zu MiB; job_memory_mib, or "
            "--job-memory)",
            ac_imgio_path(in), (held + 1048575) >> 20, o->job_memory >> 20);
    ob->job_memory = o->job_memory - held;
    return 0;
}

static void add_warning(ac_light_result_t *res, const char *text)
{
    size_t n = strlen(res->warning);

    if (text == NULL || text[0] == '\0')
        return;
    snprintf(res->warning + n, sizeof res->warning - n, "%s%s", n ? "; " : "", text);
}

/* choose_from_samples reads SAMPLE_ROWS rows spread over the frame and, as asked, picks the
 * dark scale (optimisation) and the pedestal (automatic). */
static int choose_from_samples(const ac_calset_t *cs, ac_imgin_t *in, const ac_engine_opts_t *o,
                               ac_workbuf_t *wb, ac_light_result_t *res, ac_err_t *e)
{
    const ac_meta_t *m = ac_imgio_meta(in);
    int n = m->height < SAMPLE_ROWS ? m->height : SAMPLE_ROWS;
    size_t w = (size_t)m->width;
    int ys[SAMPLE_ROWS];
    int rc;

    rc = workbuf_reserve(wb, 2 * (size_t)n * w);
    if (rc != 0)
        return ac_err_set(e, rc, "%s: no memory for sample rows", res->light_path);
    for (int i = 0; i < n; i++) {
        ys[i] = (int)(((double)i + 0.5) * m->height / n);
        rc = ac_imgio_read_rows(in, ys[i], 1, wb->strip + (size_t)i * w, e);
        if (rc != 0)
            return rc;
    }
    if (o->calib.dark_optimize && cs->dark_c != NULL) {
        rc = ac_calib_optimize_k(cs, wb->strip, ys, n, &o->calib, &res->k);
        if (rc != 0)
            return ac_err_set(e, rc, "%s: dark optimisation failed", res->light_path);
    }
    if (o->calib.pedestal_mode == AC_PEDESTAL_AUTO) {
        float *cal = wb->strip + (size_t)n * w;
        ac_rowstats_t st;

        ac_rowstats_init(&st);
        for (int i = 0; i < n; i++)
            ac_calib_rows(cs, wb->strip + (size_t)i * w, cal + (size_t)i * w, ys[i], 1, res->k,
                          0.0f, NAN, &st);
        rc = ac_calib_auto_pedestal(cal, (size_t)n * w, &o->calib, &res->pedestal);
        if (rc != 0)
            return ac_err_set(e, rc, "%s: automatic pedestal failed", res->light_path);
    }
    return 0;
}

/* The masters' MD5 cards, in the order bias, dark, flat, flat-dark. */
static const char *const md5_key[4] = {"BIASMD5", "DARKMD5", "FLATMD5", "FDRKMD5"};
static const char *const md5_comment[4] = {
    "MD5 of the master bias file", "MD5 of the master dark file", "MD5 of the master flat file",
    "MD5 of the flat-dark file"};

/* md5_card adds the MD5 card of master i (AC_M_* order) with value md5. */
static int md5_card(ac_hdr_t *h, int i, const char *md5)
{
    return ac_hdr_add_str(h, md5_key[i], md5, md5_comment[i]);
}

/* late_md5_cards makes cards the MD5 cards of the masters cs applies, their values from
 * o->late_md5s (which may wait for them); none when the set's own MD5s are final. */
static int late_md5_cards(const ac_calset_t *cs, const ac_engine_opts_t *o, ac_hdr_t *cards,
                          ac_light_result_t *res)
{
    const bool applied[4] = {cs->has_bias, cs->has_dark, cs->has_flat,
                             cs->has_flat && cs->has_flatdark};
    char md5[4][33] = {"", "", "", ""};
    int rc;

    if (o->late_md5s == NULL)
        return 0;
    rc = o->late_md5s(o->late_md5s_ud, md5, &res->err);
    if (rc != 0) {
        ac_err_prefix(&res->err, "%s", res->light_path);
        return rc;
    }
    for (int i = 0; i < 4; i++)
        if (applied[i] && (rc = md5_card(cards, i, md5[i])) != 0)
            return ac_err_set(&res->err, rc, "%s: no memory for the masters' MD5s",
                              res->light_path);
    return 0;
}

/* build_header copies the light's cards and adds the calibration record (everything known
 * before the data; the quality figures follow at commit). */
static int build_header(ac_hdr_t *h, const ac_hdr_t *src, const ac_calset_t *cs,
                        const ac_engine_opts_t *o, const ac_light_result_t *res)
{
    char now[40], text[200];
    int rc = 0;

    ac_now_utc_iso(now, sizeof now, 0);
    rc |= ac_hdr_keep_for_output(h, src);
    rc |= ac_hdr_add_bool(h, "CALIBRAT", true, "calibrated frame");
    rc |= ac_hdr_add_str(h, "CALDATE", now, "calibration date (UTC)");
    rc |= ac_hdr_add_str(h, "CALSOFT", AC_SOFTWARE, "calibration software");
    if (cs->has_bias) {
        rc |= ac_hdr_add_str(h, "BIASMAST", cs->bias_name, "master bias applied");
        rc |= md5_card(h, 0, cs->bias_md5);
    }
    if (cs->has_dark) {
        rc |= ac_hdr_add_str(h, "DARKMAST", cs->dark_name, "master dark applied");
        rc |= md5_card(h, 1, cs->dark_md5);
        rc |= ac_hdr_add_double(h, "DARKSCAL", res->k, "dark scale factor k");
        if (o->calib.dark_optimize && cs->dark_c != NULL)
            rc |= ac_hdr_add_bool(h, "DARKOPT", true, "k chosen by dark optimisation");
    }
    if (cs->has_flat) {
        rc |= ac_hdr_add_str(h, "FLATMAST", cs->flat_name, "master flat applied");
        rc |= md5_card(h, 2, cs->flat_md5);
        if (cs->has_flatdark) {
            rc |= ac_hdr_add_str(h, "FDRKMAST", cs->flatdark_name, "flat-dark for the flat");
            rc |= md5_card(h, 3, cs->flatdark_md5);
        }
        if (cs->n_flat_scales == 3) {
            rc |= ac_hdr_add_double(h, "FLATSCLR", cs->flat_scale[0], "flat scale, red");
            rc |= ac_hdr_add_double(h, "FLATSCLG", cs->flat_scale[1], "flat scale, green");
            rc |= ac_hdr_add_double(h, "FLATSCLB", cs->flat_scale[2], "flat scale, blue");
        } else if (cs->n_flat_scales == 1) {
            rc |=
                ac_hdr_add_double(h, "FLATSCAL", cs->flat_scale[0], "flat scale (robust mean)");
        }
        rc |= ac_hdr_add_double(h, "FLATFLOR", cs->flat_floor, "normalised flat floor");
        rc |= ac_hdr_add_int(h, "DEADPIX", (long long)cs->n_dead, "flat pixels at the floor");
    }
    rc |= ac_hdr_add_double(h, "PEDESTAL", res->pedestal, "ADU added to every pixel");
    if (cs->n_hot > 0)
        rc |= ac_hdr_add_int(h, "HOTPIX", (long long)cs->n_hot, "hot pixels replaced");
    snprintf(text, sizeof text, "Calibrated by %s on %s", AC_SOFTWARE, now);
    rc |= ac_hdr_add_history(h, text);
    for (int i = 0; i < cs->n_history; i++)
        rc |= ac_hdr_add_history(h, cs->history[i]);
    if (cs->has_dark) {
        /* Which keywords gave the light's exposure and the temperatures compared (meta.h's
         * one rule): recorded with the result. */
        ac_meta_t lm;
        ac_temp_cmp_t tc;
        ac_meta_from_header(&lm, src);
        if (lm.exp_key[0] != '\0') {
            snprintf(text, sizeof text, "Light exposure %g s from %s", lm.exptime, lm.exp_key);
            rc |= ac_hdr_add_history(h, text);
        }
        ac_temp_compare(lm.ccd_temp, lm.set_temp, cs->dark_meta.ccd_temp,
                        cs->dark_meta.set_temp, o->calib.max_temp_diff, "light", "master dark",
                        &tc);
        snprintf(text, sizeof text, "Dark temperature: %s", tc.text);
        rc |= ac_hdr_add_history(h, text);
    }
    if (o->calib.dark_optimize && cs->dark_c != NULL) {
        snprintf(text, sizeof text, "Dark optimisation chose k=%.4f", res->k);
        rc |= ac_hdr_add_history(h, text);
    }
    if (res->pedestal != 0) {
        snprintf(text, sizeof text, "Pedestal of %.1f ADU added (%s)", res->pedestal,
                 o->calib.pedestal_mode == AC_PEDESTAL_AUTO ? "automatic" : "fixed");
        rc |= ac_hdr_add_history(h, text);
    } else {
        rc |= ac_hdr_add_history(h, "Negative values kept as float (no pedestal)");
    }
    return rc == 0 ? 0 : -ENOMEM;
}

static int quality_cards(ac_hdr_t *h, const ac_quality_t *q)
{
    int rc = 0;

    rc |= ac_hdr_add_double(h, "QBACKGND", q->background, "background (median), ADU");
    rc |= ac_hdr_add_double(h, "QNOISE", q->noise, "noise (1.4826 MAD), ADU");
    rc |= ac_hdr_add_double(h, "QDYNRNG", q->dynamic_range, "dynamic range, bits");
    rc |= ac_hdr_add_double(h, "QNEGFRAC", q->frac_negative, "fraction of negative pixels");
    rc |= ac_hdr_add_double(h, "QZERFRAC", q->frac_zero, "fraction of zero pixels");
    rc |= ac_hdr_add_double(h, "QSATFRAC", q->frac_saturated, "fraction saturated in input");
    rc |= ac_hdr_add_double(h, "QDEADFRC", q->frac_dead, "fraction of dead flat pixels");
    rc |= ac_hdr_add_double(h, "QSCORE", q->score, "quality score 0-100");
    return rc == 0 ? 0 : -EINVAL;
}

/* input_compressed says whether the light's file is smaller than its pixel data, i.e.
 * tile-compressed or gzip: decoding it a second time would cost more CPU than reading the
 * output back costs disk time. */
static bool input_compressed(const char *path, const ac_meta_t *m)
{
    struct stat sb;
    uint64_t data =
        (uint64_t)m->width * (uint64_t)m->height * (uint64_t)raw_bytes_of(m->bitpix);

    return stat(path, &sb) == 0 && (uint64_t)sb.st_size < data;
}

/* What one pass over the light does with each calibrated strip (see the file comment). */
typedef struct pass {
    ac_quality_acc_t *qacc; /* measure: quality samples, counts in st, hot pixels counted */
    ac_rowstats_t *st;      /* with qacc */
    ac_imgout_sum_t *sum;   /* add the strip to the DATASUM (NULL: no) */
    ac_imgout_t *out;       /* write the strip (NULL: no) */
    int rows_before;        /* progress reported by the earlier pass */
    ac_engine_rows_fn rows; /* shown each strip, raw then calibrated (NULL: no) */
    void *ud;
} pass_t;

/* run_pass streams the light through calibration in strips of rows (plus halo context
 * rows for cosmetic correction) and does with each strip what p asks. */
static int run_pass(const ac_calset_t *cs, ac_imgin_t *in, ac_workbuf_t *wb, int rows, int halo,
                    const pass_t *p, ac_engine_ctl_t *ctl, ac_light_result_t *res, ac_err_t *e)
{
    const ac_meta_t *m = ac_imgio_meta(in);
    int w = m->width, h = m->height, rc;
    float ped = (float)res->pedestal;
    ac_rowstats_t scratch;
    uint64_t t;

    for (int y0 = 0; y0 < h; y0 += rows) {
        int n = y0 + rows <= h ? rows : h - y0;
        int b0 = y0 - halo < 0 ? 0 : y0 - halo;
        int b1 = y0 + n + halo > h ? h : y0 + n + halo;
        float *strip = wb->strip;
        float *first = strip + (size_t)(y0 - b0) * (size_t)w;
        float *after = first + (size_t)n * (size_t)w;

        if (ctl != NULL && atomic_load(&ctl->cancel))
            return ac_err_set(e, AC_ECANCELED, "%s: cancelled at row %d of %d", res->light_path,
                              y0, h);
        t = ac_now_ns();
        rc = ac_imgio_read_rows(in, b0, b1 - b0, strip, e);
        if (rc != 0)
            return rc;
        res->t_read += (double)(ac_now_ns() - t) / 1e9;
        if (p->rows != NULL)
            p->rows(p->ud, false, first, y0, n);
        t = ac_now_ns();
        /* Context rows are calibrated too (not counted), then hot pixels are fixed from
         * calibrated neighbours. */
        ac_rowstats_init(&scratch);
        if (b0 < y0)
            ac_calib_rows(cs, strip, strip, b0, y0 - b0, res->k, ped, NAN, &scratch);
        if (b1 > y0 + n)
            ac_calib_rows(cs, after, after, y0 + n, b1 - y0 - n, res->k, ped, NAN, &scratch);
        ac_calib_rows(cs, first, first, y0, n, res->k, ped, m->saturation,
                      p->qacc != NULL ? p->st : &scratch);
        if (halo > 0) {
            size_t fixed = ac_calib_fix_hot(cs, strip, b0, b1 - b0, y0, n);
            if (p->qacc != NULL)
                res->hot_fixed += fixed;
        }
        if (p->qacc != NULL)
            ac_quality_add_rows(p->qacc, first, (size_t)n * (size_t)w);
        if (p->rows != NULL)
            p->rows(p->ud, true, first, y0, n);
        if (p->sum != NULL)
            ac_imgout_datasum_update(p->sum, first, (size_t)n * (size_t)w);
        res->t_calib += (double)(ac_now_ns() - t) / 1e9;
        if (p->out != NULL) {
            t = ac_now_ns();
            rc = ac_imgout_write_rows(p->out, first, n, e);
            if (rc != 0)
                return rc;
            res->t_write += (double)(ac_now_ns() - t) / 1e9;
        }
        if (ctl != NULL)
            atomic_store(&ctl->rows_done, p->rows_before + y0 + n);
    }
    return 0;
}

/* open_light opens the light and checks it against cs: a light frame, geometry and
 * metadata (warnings into res), not calibrated already. */
static int open_light(const ac_calset_t *cs, const char *light_path, const ac_engine_opts_t *o,
                      ac_imgin_t **in, ac_light_result_t *res)
{
    ac_err_t *e = &res->err;
    const ac_meta_t *m;
    char warn[512] = "";
    int rc;

    /* The pixels from the downloaded copy when there is one (cloud sync); the names and
     * messages stay the catalogue's path. */
    rc = ac_imgio_open(o->input_path[0] != '\0' ? o->input_path : light_path, in, e);
    if (rc != 0)
        return rc;
    m = ac_imgio_meta(*in);
    if (m->type != AC_FRAME_LIGHT && m->type != AC_FRAME_UNKNOWN)
        return ac_err_set(e, AC_EMETADATA,
                          "%s: IMAGETYP is '%s' (a %s frame), expected a light", light_path,
                          m->imagetyp, ac_meta_type_name(m->type));
    rc = ac_calib_check_light(cs, m, light_path, &o->calib, warn, sizeof warn, e);
    if (rc != 0)
        return rc;
    add_warning(res, warn);
    if (m->bias_subtracted == AC_PROV_YES && !o->calib.force)
        return ac_err_set(
            e, AC_EMETADATA,
            "%s: already calibrated (CALIBRAT = T or a bias-subtraction record in "
            "its header); calibrating it again would subtract the bias twice",
            light_path);
    return 0;
}

/* choose_k_pedestal picks the dark scale and the pedestal where they depend on the light
 * (dark optimisation, automatic pedestal) and describes the steps. */
static int choose_k_pedestal(const ac_calset_t *cs, ac_imgin_t *in, const ac_engine_opts_t *o,
                             ac_workbuf_t *wb, ac_light_result_t *res)
{
    if (o->calib.pedestal_mode == AC_PEDESTAL_AUTO || (o->calib.dark_optimize && cs->dark_c)) {
        int rc = choose_from_samples(cs, in, o, wb, res, &res->err);
        if (rc != 0)
            return rc;
    }
    ac_engine_steps_string(cs, res->k, res->steps, sizeof res->steps);
    return 0;
}

/* result_init starts res for light_path with cs's dark scale and the fixed pedestal. */
static void result_init(ac_light_result_t *res, const ac_calset_t *cs, const char *light_path,
                        const ac_engine_opts_t *o)
{
    memset(res, 0, sizeof *res);
    ac_strlcpy(res->light_path, light_path, sizeof res->light_path);
    res->k = cs->k;
    res->pedestal = o->calib.pedestal_mode == AC_PEDESTAL_FIXED ? o->calib.pedestal : 0.0;
}

/* pass_setup prepares a measuring pass over a light: the quality accumulator (freed again
 * on failure) and counts, the context rows for cosmetic correction, and the strips sized
 * for the light and reserved. Tile-compressed input is decoded through an 8-byte buffer per
 * pixel: the larger of the two counts, so any input fits the budget; a compressed XISF
 * block, held whole by the reader, comes out of the budget first. */
static int pass_setup(const ac_calset_t *cs, const ac_engine_opts_t *o, ac_imgin_t *in,
                      ac_workbuf_t *wb, ac_quality_acc_t *qacc, ac_rowstats_t *st, int *halo,
                      int *rows, ac_light_result_t *res)
{
    const ac_meta_t *m = ac_imgio_meta(in);
    ac_engine_opts_t ob;
    int rc = budget_for_input(o, in, &ob, &res->err);

    if (rc != 0)
        return rc;
    rc = ac_quality_acc_init(qacc, (uint64_t)m->width * (uint64_t)m->height);
    if (rc != 0)
        return ac_err_set(&res->err, rc, "%s: no memory for quality samples", res->light_path);
    ac_rowstats_init(st);
    *halo = cs->n_hot > 0 ? HALO : 0;
    *rows = ac_engine_strip_rows(&ob, m->width,
                                 raw_bytes_of(m->bitpix) > 8 ? raw_bytes_of(m->bitpix) : 8);
    rc = workbuf_reserve(wb, (size_t)(*rows + 2 * *halo) * (size_t)m->width);
    if (rc != 0) {
        ac_quality_acc_free(qacc);
        return ac_err_set(&res->err, rc, "%s: no memory for a strip of %d rows",
                          res->light_path, *rows);
    }
    return 0;
}

int ac_engine_calibrate_light(const ac_calset_t *cs, const char *light_path,
                              const ac_engine_opts_t *o, ac_workbuf_t *wb, ac_engine_ctl_t *ctl,
                              ac_light_result_t *res)
{
    ac_imgin_t *in = NULL;
    ac_imgout_t *out = NULL;
    ac_quality_acc_t qacc = {0};
    ac_imgout_sum_t sum = {0};
    ac_hdr_t hdr, extra, md5s;
    ac_rowstats_t st;
    const ac_meta_t *m;
    uint64_t t0 = ac_now_ns(), t;
    int rc, rows, halo, w, h;
    bool qacc_ready = false, two_pass;
    ac_err_t *e = &res->err;

    result_init(res, cs, light_path, o);
    ac_hdr_init(&hdr);
    ac_hdr_init(&extra);
    ac_hdr_init(&md5s);

    if (ctl != NULL)
        atomic_store(&ctl->step, AC_STEP_READING);
    rc = open_light(cs, light_path, o, &in, res);
    if (rc != 0)
        goto out;
    m = ac_imgio_meta(in);
    w = m->width;
    h = m->height;
    rc = ac_engine_output_path(light_path, o, res->out_path, sizeof res->out_path);
    if (rc != 0) {
        ac_err_set(e, rc, "%s: output path too long", light_path);
        goto out;
    }
    if (strcmp(res->out_path, light_path) == 0) {
        rc = ac_err_set(e, -EINVAL,
                        "%s: the output would replace the light itself (empty "
                        "suffix and no output directory)",
                        light_path);
        goto out;
    }
    rc = choose_k_pedestal(cs, in, o, wb, res);
    if (rc != 0)
        goto out;

    rc = build_header(&hdr, ac_imgio_header(in), cs, o, res);
    if (rc != 0) {
        ac_err_set(e, rc, "%s: cannot build the output header", light_path);
        goto out;
    }
    /* Two passes only where hashing while writing is cheaper than reading back. */
    two_pass = o->hash_output && !o->out.compress &&
               !input_compressed(o->input_path[0] != '\0' ? o->input_path : light_path, m);
    if (!two_pass) {
        rc = ac_imgout_open(res->out_path, w, h, &hdr, QUALITY_CARDS, &o->out, &out, e);
        if (rc != 0)
            goto out;
    }

    rc = pass_setup(cs, o, in, wb, &qacc, &st, &halo, &rows, res);
    if (rc != 0)
        goto out;
    qacc_ready = true;
    if (ctl != NULL) {
        atomic_store(&ctl->rows_total, two_pass ? 2 * h : h);
        atomic_store(&ctl->step, AC_STEP_CALIBRATING);
    }
    rc = run_pass(cs, in, wb, rows, halo,
                  &(pass_t){&qacc, &st, two_pass ? &sum : NULL, out, 0, NULL, NULL}, ctl, res,
                  e);
    if (rc != 0)
        goto out;
    res->in_bytes = (uint64_t)w * (uint64_t)h * (uint64_t)raw_bytes_of(m->bitpix);
    rc = ac_quality_finish(&qacc, &st, &res->quality);
    if (rc != 0) {
        ac_err_set(e, AC_EFORMAT, "%s: the calibrated frame has no finite pixel", light_path);
        goto out;
    }
    rc = quality_cards(two_pass ? &hdr : &extra, &res->quality);
    if (rc != 0) {
        ac_err_set(e, rc, "%s: quality figures not representable", light_path);
        goto out;
    }
    rc = late_md5_cards(cs, o, &md5s, res);
    if (rc != 0)
        goto out;
    if (two_pass) {
        /* The header is final: write it first, then the light calibrated again. */
        rc = ac_hdr_replace(&hdr, &md5s);
        if (rc != 0) {
            ac_err_set(e, rc, "%s: no MD5 card to fill in the header", light_path);
            goto out;
        }
        rc = ac_imgout_open_final(res->out_path, w, h, &hdr, ac_imgout_datasum_value(&sum),
                                  &o->out, &out, e);
        if (rc != 0)
            goto out;
        rc = run_pass(cs, in, wb, rows, halo, &(pass_t){NULL, NULL, NULL, out, h, NULL, NULL},
                      ctl, res, e);
        if (rc != 0)
            goto out;
    }
    if (!two_pass && md5s.n > 0 && (rc = ac_imgout_update_cards(out, &md5s, e)) != 0)
        goto out;
    if (ctl != NULL)
        atomic_store(&ctl->step, AC_STEP_COMMITTING);
    t = ac_now_ns();
    if (o->hash_output)
        rc = ac_imgout_commit_hashed(out, &extra, &res->out_bytes, res->sha256,
                                     sizeof res->sha256, e);
    else
        rc = ac_imgout_commit(out, &extra, &res->out_bytes, e);
    out = NULL; /* commit frees the writer, also on failure */
    res->t_write += (double)(ac_now_ns() - t) / 1e9;
out:
    if (rc != 0 && e->msg[0] == '\0')
        ac_err_set(e, rc, "%s: %s", light_path, ac_strerror(rc));
    if (rc != 0)
        res->sha256[0] = '\0';
    if (out != NULL)
        ac_imgout_abort(out);
    if (qacc_ready)
        ac_quality_acc_free(&qacc);
    ac_imgio_close(in);
    ac_hdr_free(&hdr);
    ac_hdr_free(&extra);
    ac_hdr_free(&md5s);
    if (ctl != NULL)
        atomic_store(&ctl->step, AC_STEP_DONE);
    res->status = rc;
    res->t_total = (double)(ac_now_ns() - t0) / 1e9;
    return rc;
}

int ac_engine_preview_light(const ac_calset_t *cs, const char *light_path,
                            const ac_engine_opts_t *o, ac_workbuf_t *wb, ac_engine_ctl_t *ctl,
                            ac_engine_rows_fn rows_fn, void *ud, ac_light_result_t *res)
{
    ac_imgin_t *in = NULL;
    ac_quality_acc_t qacc = {0};
    ac_rowstats_t st;
    const ac_meta_t *m;
    uint64_t t0 = ac_now_ns();
    int rc, rows, halo;
    bool qacc_ready = false;

    result_init(res, cs, light_path, o);
    rc = open_light(cs, light_path, o, &in, res);
    if (rc != 0)
        goto out;
    m = ac_imgio_meta(in);
    rc = choose_k_pedestal(cs, in, o, wb, res);
    if (rc != 0)
        goto out;
    rc = pass_setup(cs, o, in, wb, &qacc, &st, &halo, &rows, res);
    if (rc != 0)
        goto out;
    qacc_ready = true;
    rc = run_pass(cs, in, wb, rows, halo, &(pass_t){&qacc, &st, NULL, NULL, 0, rows_fn, ud},
                  ctl, res, &res->err);
    if (rc != 0)
        goto out;
    res->in_bytes =
        (uint64_t)m->width * (uint64_t)m->height * (uint64_t)raw_bytes_of(m->bitpix);
    rc = ac_quality_finish(&qacc, &st, &res->quality);
    if (rc != 0)
        ac_err_set(&res->err, AC_EFORMAT, "%s: the calibrated frame has no finite pixel",
                   light_path);
out:
    if (rc != 0 && res->err.msg[0] == '\0')
        ac_err_set(&res->err, rc, "%s: %s", light_path, ac_strerror(rc));
    if (qacc_ready)
        ac_quality_acc_free(&qacc);
    ac_imgio_close(in);
    res->status = rc;
    res->t_total = (double)(ac_now_ns() - t0) / 1e9;
    return rc;
}
